//! The REST client against a wiremock Twilio on loopback: exact requests, retry rules, typed
//! errors, and no request at all for invalid input.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on setup errors")]

use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::SecretString;
use twilio::{
    AccountStatus, MessageSender, MessageStatus, RetryPolicy, SendMessage, Sender,
    SubaccountControl, SubaccountStatus, TwilioClient, TwilioConfig, TwilioError,
};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PARENT: &str = "AC00000000000000000000000000000000";
const SUB: &str = "ACabcdef0123456789abcdef0123456789";
const SERVICE: &str = "MG11111111111111111111111111111111";
const TOKEN: &str = "tok-super-secret-1234";

fn config(server: &MockServer) -> TwilioConfig {
    let mut config = TwilioConfig::new(PARENT, SecretString::from(TOKEN.to_owned()));
    config.base_url = server.uri();
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(2),
    };
    config
}

fn client(server: &MockServer) -> TwilioClient {
    TwilioClient::new(config(server)).unwrap()
}

fn basic_auth() -> String {
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{PARENT}:{TOKEN}"));
    format!("Basic {credentials}")
}

fn account_json(sid: &str, status: &str) -> serde_json::Value {
    serde_json::json!({"sid": sid, "friendly_name": "Brand 7", "status": status, "type": "Full"})
}

fn account_path(sid: &str) -> String {
    format!("/2010-04-01/Accounts/{sid}.json")
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{PARENT}/Messages.json")
}

/// The form fields of every request the server received, in order.
async fn forms(server: &MockServer) -> Vec<Vec<(String, String)>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            url::form_urlencoded::parse(&request.body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .collect()
}

fn field(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn message(from: Sender) -> SendMessage {
    SendMessage {
        account_sid: None,
        to: "+14155550100".into(),
        from,
        body: "Sale: 20% off + free shipping & more".into(),
        status_callback: Some(
            "https://hooks.example.com/twilio/status?brand=7"
                .parse()
                .unwrap(),
        ),
    }
}

fn message_json(price: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "sid": "SM0123456789abcdef0123456789abcdef",
        "status": "queued",
        "price": price,
        "price_unit": "USD",
        "num_segments": "1"
    })
}

fn assert_no_token(error: &TwilioError) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[tokio::test]
async fn fetch_account_sends_basic_auth_get_and_parses_the_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, "suspended")))
        // fetch_account, then fetch_status through the trait.
        .expect(2)
        .mount(&server)
        .await;
    let account = client(&server).fetch_account(SUB).await.unwrap();
    assert_eq!(account.sid, SUB);
    assert_eq!(account.friendly_name.as_deref(), Some("Brand 7"));
    assert_eq!(account.status, AccountStatus::Suspended);
    assert_eq!(
        client(&server).fetch_status(SUB).await.unwrap(),
        AccountStatus::Suspended
    );
}

#[tokio::test]
async fn unknown_account_status_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, "frozen")))
        .mount(&server)
        .await;
    let account = client(&server).fetch_account(SUB).await.unwrap();
    assert_eq!(account.status, AccountStatus::Unknown("frozen".into()));
}

#[tokio::test]
async fn suspend_and_activate_post_exactly_the_status_form() {
    for (status, wire, reported) in [
        (
            SubaccountStatus::Suspended,
            "suspended",
            AccountStatus::Suspended,
        ),
        (SubaccountStatus::Active, "active", AccountStatus::Active),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(account_path(SUB)))
            .and(header("authorization", basic_auth().as_str()))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, wire)))
            .expect(1)
            .mount(&server)
            .await;
        let account = client(&server)
            .set_subaccount_status(SUB, status)
            .await
            .unwrap();
        assert_eq!(account.status, reported);
        assert_eq!(forms(&server).await, [vec![field("Status", wire)]]);
    }
}

#[tokio::test]
async fn status_change_is_retried_through_503s() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(account_path(SUB)))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(account_path(SUB)))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, "suspended")))
        .mount(&server)
        .await;
    let status = client(&server)
        .set_status(SUB, SubaccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(status, AccountStatus::Suspended);
    let forms = forms(&server).await;
    assert_eq!(forms.len(), 3);
    assert!(
        forms
            .iter()
            .all(|form| form == &[field("Status", "suspended")])
    );
}

#[tokio::test]
async fn status_change_honours_retry_after_on_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, "active")))
        .mount(&server)
        .await;
    let started = Instant::now();
    let account = client(&server)
        .set_subaccount_status(SUB, SubaccountStatus::Active)
        .await
        .unwrap();
    assert_eq!(account.status, AccountStatus::Active);
    // The policy's own backoff is at most 5 ms: only Retry-After explains a 1 s wait.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn status_change_gives_up_after_max_attempts_with_the_last_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let error = client(&server)
        .set_subaccount_status(SUB, SubaccountStatus::Suspended)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Api {
                status: 500,
                code: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[tokio::test]
async fn send_posts_exactly_the_message_form_and_parses_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_json("-0.00750".into())))
        .expect(1)
        .mount(&server)
        .await;
    let sent = client(&server)
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap();
    assert_eq!(sent.sid, "SM0123456789abcdef0123456789abcdef");
    assert_eq!(sent.status, MessageStatus::Queued);
    assert_eq!(sent.price.as_deref(), Some("-0.00750"));
    assert_eq!(sent.price_unit.as_deref(), Some("USD"));
    assert_eq!(
        forms(&server).await,
        [vec![
            field("To", "+14155550100"),
            field("From", "+14155550199"),
            field("Body", "Sale: 20% off + free shipping & more"),
            field(
                "StatusCallback",
                "https://hooks.example.com/twilio/status?brand=7"
            ),
        ]]
    );
}

#[tokio::test]
async fn send_from_a_subaccount_uses_its_messages_resource_with_the_parent_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SUB}/Messages.json")))
        .and(header("authorization", basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_json("-0.00790".into())))
        .expect(1)
        .mount(&server)
        .await;
    let msg = SendMessage {
        account_sid: Some(SUB.into()),
        ..message(Sender::From("+14155550199".into()))
    };
    let sent = client(&server).send(&msg).await.unwrap();
    assert_eq!(sent.price.as_deref(), Some("-0.00790"));
    assert_eq!(forms(&server).await[0][0], field("To", "+14155550100"));
}

#[tokio::test]
async fn send_through_a_messaging_service_with_a_null_price() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(message_json(serde_json::Value::Null)),
        )
        .mount(&server)
        .await;
    let mut msg = message(Sender::MessagingService(SERVICE.into()));
    msg.status_callback = None;
    let sent = client(&server).send_message(&msg).await.unwrap();
    assert_eq!(sent.price, None);
    assert_eq!(
        forms(&server).await,
        [vec![
            field("To", "+14155550100"),
            field("MessagingServiceSid", SERVICE),
            field("Body", "Sale: 20% off + free shipping & more"),
        ]]
    );
}

#[tokio::test]
async fn send_is_never_retried_on_500() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500
        })))
        .mount(&server)
        .await;
    let error = client(&server)
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Api {
                status: 500,
                code: Some(20500),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn send_is_never_retried_after_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(message_json("-0.0075".into()))
                .set_delay(Duration::from_millis(600)),
        )
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.timeout = Duration::from_millis(200);
    let error = TwilioClient::new(config)
        .unwrap()
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Transport { connect: false, .. }),
        "{error:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_no_token(&error);
}

#[tokio::test]
async fn send_is_retried_after_429() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_json("-0.0075".into())))
        .mount(&server)
        .await;
    let sent = client(&server)
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap();
    assert_eq!(sent.status, MessageStatus::Queued);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn send_connect_error_is_typed_as_never_sent() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = TwilioConfig::new(PARENT, SecretString::from(TOKEN.to_owned()));
    config.base_url = format!("http://127.0.0.1:{port}");
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let error = TwilioClient::new(config)
        .unwrap()
        .send(&message(Sender::From("+1415".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::Transport { connect: true, .. }),
        "{error:?}"
    );
    assert_no_token(&error);
}

#[tokio::test]
async fn twilio_error_body_becomes_a_typed_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "code": 21211,
            "message": "The 'To' number +1415 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        })))
        .mount(&server)
        .await;
    let error = client(&server)
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap_err();
    match &error {
        TwilioError::Api {
            status,
            code,
            message,
            more_info,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*code, Some(21211));
            assert!(message.contains("not a valid phone number"));
            assert_eq!(
                more_info.as_deref(),
                Some("https://www.twilio.com/docs/errors/21211")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_transient());
    assert_no_token(&error);
}

#[tokio::test]
async fn unauthorized_is_typed_and_names_no_secret() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_string("<html>nope</html>"))
        .mount(&server)
        .await;
    let error = client(&server).fetch_account(SUB).await.unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Api {
                status: 401,
                code: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert_no_token(&error);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn success_with_an_unexpected_body_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let error = client(&server).fetch_account(SUB).await.unwrap_err();
    assert!(
        matches!(error, TwilioError::Decode { status: 200, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn invalid_input_makes_no_request() {
    let server = MockServer::start().await;
    let client = client(&server);
    for sid in [
        "",
        "AC123",
        "MG11111111111111111111111111111111",
        "AC0000000000000000000000000000000g",
        "AC../../Accounts/AC000000000000000000",
    ] {
        assert!(
            matches!(
                client.fetch_account(sid).await,
                Err(TwilioError::InvalidInput { .. })
            ),
            "{sid}"
        );
        assert!(
            matches!(
                client
                    .set_subaccount_status(sid, SubaccountStatus::Suspended)
                    .await,
                Err(TwilioError::InvalidInput { .. })
            ),
            "{sid}"
        );
    }
    let bad_messages = [
        message(Sender::MessagingService(SUB.into())),
        message(Sender::From(String::new())),
        SendMessage {
            to: " ".into(),
            ..message(Sender::From("+1".into()))
        },
        SendMessage {
            body: String::new(),
            ..message(Sender::From("+1".into()))
        },
        SendMessage {
            body: "x".repeat(1601),
            ..message(Sender::From("+1".into()))
        },
        SendMessage {
            account_sid: Some("AC../Messages".into()),
            ..message(Sender::From("+1".into()))
        },
    ];
    for msg in &bad_messages {
        assert!(
            matches!(
                client.send(msg).await,
                Err(TwilioError::InvalidInput { .. })
            ),
            "{msg:?}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    let mut bad_parent = config(&server);
    bad_parent.account_sid = "AC1".into();
    assert!(matches!(
        TwilioClient::new(bad_parent),
        Err(TwilioError::InvalidInput { .. })
    ));
    let mut bad_base = config(&server);
    bad_base.base_url = "ftp://example.com".into();
    assert!(matches!(
        TwilioClient::new(bad_base),
        Err(TwilioError::Config(_))
    ));
}

#[tokio::test]
async fn debug_output_never_shows_the_auth_token() {
    let server = MockServer::start().await;
    let config = config(&server);
    let config_debug = format!("{config:?}");
    assert!(!config_debug.contains(TOKEN), "{config_debug}");
    let client_debug = format!("{:?}", TwilioClient::new(config).unwrap());
    assert!(!client_debug.contains(TOKEN), "{client_debug}");
    assert!(client_debug.contains(PARENT));
}

#[tokio::test]
async fn the_client_works_behind_trait_objects() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_json("-0.0075".into())))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_json(SUB, "suspended")))
        .mount(&server)
        .await;
    let shared = std::sync::Arc::new(client(&server));
    let sender: std::sync::Arc<dyn MessageSender> = shared.clone();
    let control: std::sync::Arc<dyn SubaccountControl> = shared;
    let sent = sender
        .send(&message(Sender::From("+14155550199".into())))
        .await
        .unwrap();
    assert_eq!(sent.status, MessageStatus::Queued);
    // An Arc of a trait object is itself a sender and a control, for generic callers.
    async fn fetch(control: impl SubaccountControl) -> AccountStatus {
        control.fetch_status(SUB).await.unwrap()
    }
    assert_eq!(fetch(control).await, AccountStatus::Suspended);
}
