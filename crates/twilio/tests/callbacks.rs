//! Status callbacks and the keys they are verified with, against a wiremock Twilio: the official
//! signature vectors through [`CallbackKeys`], subaccount tokens read once with the parent's
//! credentials and cached, read again after a rotation (but not at a forger's pace), no call to
//! Twilio for a missing or malformed signature or the parent's own callbacks, the token in no
//! error or `Debug`; and the message list's exact requests and paging.
#![expect(clippy::unwrap_used, reason = "tests fail loudly on setup errors")]

use std::{sync::Arc, time::Duration};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use twilio::{
    AuthTokenSource, MessageQuery, MessageStatus, RetryPolicy, TwilioClient, TwilioConfig,
    TwilioError,
    callback::{CallbackKeys, KeyError, KeyPolicy},
    signature::{SignatureError, SignatureValidator},
};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

const PARENT: &str = "AC00000000000000000000000000000000";
const PARENT_TOKEN: &str = "parent-token-secret";
const SUB: &str = "ACabcdef0123456789abcdef0123456789";
const SUB_TOKEN: &str = "sub-token-secret-1";
const ROTATED: &str = "sub-token-secret-2";
const URL: &str = "https://hooks.example.com/webhooks/twilio/messages?recipient=7";

fn client(server: &MockServer) -> TwilioClient {
    let mut config = TwilioConfig::new(PARENT, SecretString::from(PARENT_TOKEN.to_owned()));
    config.base_url = server.uri();
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::DEFAULT
    };
    TwilioClient::new(config).unwrap()
}

fn basic_auth() -> String {
    let raw = format!("{PARENT}:{PARENT_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn keys(server: &MockServer, policy: KeyPolicy) -> CallbackKeys<Arc<dyn AuthTokenSource>> {
    let source: Arc<dyn AuthTokenSource> = Arc::new(client(server));
    CallbackKeys::new(
        source,
        PARENT,
        SecretString::from(PARENT_TOKEN.to_owned()),
        policy,
    )
}

fn no_refetch_gap() -> KeyPolicy {
    KeyPolicy {
        ttl: Duration::from_secs(600),
        refetch_gap: Duration::ZERO,
    }
}

fn account_path(sid: &str) -> String {
    format!("/2010-04-01/Accounts/{sid}.json")
}

/// Twilio's account answer, as the parent sees a subaccount (with its token).
fn account(sid: &str, token: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "sid": sid, "owner_account_sid": PARENT, "friendly_name": "Brand 7",
        "status": "active", "type": "Full", "auth_token": token
    }))
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn callback(account: &str) -> Vec<u8> {
    form(&[
        ("AccountSid", account),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", "delivered"),
    ])
}

fn sign(token: &str, url: &str, body: &[u8]) -> String {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    SignatureValidator::new(SecretString::from(token.to_owned())).sign(url, &borrowed)
}

async fn fetches(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn the_official_vectors_verify_through_the_keys_of_either_account() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/vectors.json")).unwrap();
    let token = fixture["auth_token"].as_str().unwrap();
    let params: Vec<(String, String)> = fixture["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
        .into_bytes();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(account(SUB, token))
        .expect(1)
        .mount(&server)
        .await;
    // The vectors' token as the parent's own, and as a subaccount's read from Twilio.
    let source: Arc<dyn AuthTokenSource> = Arc::new(client(&server));
    let as_parent = CallbackKeys::new(
        source,
        PARENT,
        SecretString::from(token.to_owned()),
        KeyPolicy::default(),
    );
    let as_sub = keys(&server, KeyPolicy::default());
    for case in fixture["cases"].as_array().unwrap() {
        if case.get("json_body").is_some() || case.get("params_override").is_some() {
            continue;
        }
        let url = case["url"].as_str().unwrap();
        let signature = case["signature"].as_str();
        as_parent
            .verify_form(PARENT, url, &body, signature)
            .await
            .unwrap();
        as_sub
            .verify_form(SUB, url, &body, signature)
            .await
            .unwrap();
        // One byte of the URL changed: refused by both.
        let tampered = url.replace("foo=1", "foo=2");
        for (keys, account) in [(&as_parent, PARENT), (&as_sub, SUB)] {
            let refused = keys.verify_form(account, &tampered, &body, signature).await;
            assert!(
                matches!(
                    refused,
                    Err(KeyError::Signature(SignatureError::BadSignature))
                ),
                "{refused:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_subaccount_token_is_read_once_with_the_parent_credentials_and_cached() {
    let server = MockServer::start().await;
    let auth = basic_auth();
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .and(header("authorization", auth.as_str()))
        .respond_with(account(SUB, SUB_TOKEN))
        .expect(1)
        .mount(&server)
        .await;
    let keys = keys(&server, KeyPolicy::default());
    let body = callback(SUB);
    let signature = sign(SUB_TOKEN, URL, &body);
    for _ in 0..3 {
        keys.verify_form(SUB, URL, &body, Some(&signature))
            .await
            .unwrap();
    }
    assert_eq!(fetches(&server).await, 1);
    // The parent's own callbacks use the configured token: no call.
    let parent_body = callback(PARENT);
    let parent_signature = sign(PARENT_TOKEN, URL, &parent_body);
    keys.verify_form(PARENT, URL, &parent_body, Some(&parent_signature))
        .await
        .unwrap();
    assert_eq!(fetches(&server).await, 1);
    // Nothing shows a token.
    let shown = format!("{keys:?}");
    assert!(
        !shown.contains(SUB_TOKEN) && !shown.contains(PARENT_TOKEN),
        "{shown}"
    );
}

#[tokio::test]
async fn missing_or_malformed_signatures_cost_no_call_to_twilio() {
    let server = MockServer::start().await;
    let keys = keys(&server, KeyPolicy::default());
    let body = callback(SUB);
    for (signature, expected) in [
        (None, SignatureError::MissingSignature),
        (Some(""), SignatureError::MissingSignature),
        (Some("not base64!"), SignatureError::MalformedSignature),
        (Some("AAAA"), SignatureError::MalformedSignature),
    ] {
        let refused = keys.verify_form(SUB, URL, &body, signature).await;
        assert!(
            matches!(refused, Err(KeyError::Signature(error)) if error == expected),
            "{signature:?}: {refused:?}"
        );
    }
    assert_eq!(fetches(&server).await, 0);
}

#[tokio::test]
async fn a_rotated_token_is_read_again_once_and_forgeries_do_not_make_us_call_twilio() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(account(SUB, SUB_TOKEN))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(account(SUB, ROTATED))
        .mount(&server)
        .await;
    let keys = keys(&server, no_refetch_gap());
    let body = callback(SUB);
    keys.verify_form(SUB, URL, &body, Some(&sign(SUB_TOKEN, URL, &body)))
        .await
        .unwrap();
    // Rotated on Twilio's side: the cached token no longer matches, the fresh one does.
    keys.verify_form(SUB, URL, &body, Some(&sign(ROTATED, URL, &body)))
        .await
        .unwrap();
    assert_eq!(fetches(&server).await, 2);
    keys.verify_form(SUB, URL, &body, Some(&sign(ROTATED, URL, &body)))
        .await
        .unwrap();
    assert_eq!(fetches(&server).await, 2, "the new token is cached");

    // With the default gap, forgeries right after a read cost no further call.
    let guarded = self::keys(&server, KeyPolicy::default());
    guarded
        .verify_form(SUB, URL, &body, Some(&sign(ROTATED, URL, &body)))
        .await
        .unwrap();
    let before = fetches(&server).await;
    for n in 0..5 {
        let forged = sign(&format!("forger-{n}"), URL, &body);
        let refused = guarded.verify_form(SUB, URL, &body, Some(&forged)).await;
        assert!(
            matches!(
                refused,
                Err(KeyError::Signature(SignatureError::BadSignature))
            ),
            "{refused:?}"
        );
    }
    assert_eq!(fetches(&server).await, before);
    // Signed by another subaccount's token for this account: refused the same way.
    let other = sign("another-subaccounts-token", URL, &body);
    assert!(
        guarded
            .verify_form(SUB, URL, &body, Some(&other))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_token_twilio_will_not_give_is_unavailable_and_never_shown() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let keys = keys(&server, KeyPolicy::default());
    let body = callback(SUB);
    let refused = keys
        .verify_form(SUB, URL, &body, Some(&sign(SUB_TOKEN, URL, &body)))
        .await;
    assert!(
        matches!(refused, Err(KeyError::Unavailable(ref error)) if error.is_transient()),
        "{refused:?}"
    );
    let shown = format!("{refused:?} {}", refused.as_ref().unwrap_err());
    assert!(!shown.contains(PARENT_TOKEN), "{shown}");

    // An answer about another account, or without a token, is not a token.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(account(PARENT, SUB_TOKEN))
        .mount(&server)
        .await;
    let error = client(&server).fetch_auth_token(SUB).await.unwrap_err();
    assert!(matches!(error, TwilioError::Decode { .. }), "{error:?}");
    assert!(!format!("{error:?} {error}").contains(SUB_TOKEN));
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": SUB})))
        .mount(&server)
        .await;
    let error = client(&server).fetch_auth_token(SUB).await.unwrap_err();
    assert!(matches!(error, TwilioError::Decode { .. }), "{error:?}");
    // A good answer gives the token.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(account_path(SUB)))
        .respond_with(account(SUB, SUB_TOKEN))
        .mount(&server)
        .await;
    let token = client(&server).fetch_auth_token(SUB).await.unwrap();
    assert_eq!(token.expose_secret(), SUB_TOKEN);
    // A malformed SID makes no request.
    let error = client(&server)
        .fetch_auth_token("AC../x")
        .await
        .unwrap_err();
    assert!(
        matches!(error, TwilioError::InvalidInput { .. }),
        "{error:?}"
    );
    assert_eq!(fetches(&server).await, 1);
}

fn listed(sid: u32, to: &str) -> Value {
    json!({
        "sid": format!("SM{sid:032x}"), "account_sid": SUB, "to": to, "from": "+14155550199",
        "body": "Spring sale", "status": "delivered", "direction": "outbound-api",
        "messaging_service_sid": null, "error_code": null,
        "date_created": "Thu, 30 Jul 2026 20:12:31 +0000", "date_sent": null,
        "price": "-0.00750", "num_segments": "1"
    })
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SUB}/Messages.json")
}

#[tokio::test]
async fn the_message_list_is_read_page_by_page_with_the_exact_filter() {
    let server = MockServer::start().await;
    let auth = basic_auth();
    let to = "+14150000001";
    let next = format!(
        "{}?To=%2B14150000001&From=%2B14155550199&PageSize=100&Page=1&PageToken=PA1",
        messages_path()
    );
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .and(query_param("To", to))
        .and(query_param("From", "+14155550199"))
        .and(query_param("PageSize", "100"))
        .and(query_param("PageToken", "PA1"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [listed(2, to)], "next_page_uri": null, "page": 1, "page_size": 100
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .and(query_param("To", to))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [listed(1, to)], "next_page_uri": next, "page": 0, "page_size": 100
        })))
        .expect(1)
        .mount(&server)
        .await;
    let query = MessageQuery {
        account_sid: SUB.into(),
        to: to.into(),
        from: Some("+14155550199".into()),
    };
    let listing = client(&server).list_messages(&query).await.unwrap();
    assert!(listing.complete);
    let sids: Vec<&str> = listing.messages.iter().map(|m| m.sid.as_str()).collect();
    assert_eq!(sids, [format!("SM{:032x}", 1), format!("SM{:032x}", 2)]);
    let first = &listing.messages[0];
    assert_eq!(first.status, MessageStatus::Delivered);
    assert_eq!(first.direction.as_deref(), Some("outbound-api"));
    assert_eq!(
        first.date_created.map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-07-30T20:12:31+00:00")
    );
    assert_eq!(first.date_sent, None);
    let shown = format!("{query:?} {first:?}");
    assert!(
        !shown.contains("4150000001") && !shown.contains("Spring sale"),
        "{shown}"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].url.query(),
        Some("To=%2B14150000001&From=%2B14155550199&PageSize=100")
    );
}

#[tokio::test]
async fn a_list_longer_than_the_pages_read_or_pointing_elsewhere_is_incomplete() {
    let server = MockServer::start().await;
    let to = "+14150000001";
    // Every page points at another one.
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [listed(1, to)],
            "next_page_uri": format!("{}?To=%2B14150000001&PageSize=100&Page=9", messages_path())
        })))
        .mount(&server)
        .await;
    let query = MessageQuery {
        account_sid: SUB.into(),
        to: to.into(),
        from: None,
    };
    let listing = client(&server).list_messages(&query).await.unwrap();
    assert!(!listing.complete);
    assert_eq!(listing.messages.len(), twilio::MAX_LIST_PAGES);
    assert_eq!(fetches(&server).await, twilio::MAX_LIST_PAGES);
    assert_eq!(
        server.received_requests().await.unwrap()[0].url.query(),
        Some("To=%2B14150000001&PageSize=100")
    );

    // A next page on another account (or host) is not followed: our credentials stay here.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [],
            "next_page_uri": format!("/2010-04-01/Accounts/{PARENT}/Messages.json?Page=1")
        })))
        .mount(&server)
        .await;
    let listing = client(&server).list_messages(&query).await.unwrap();
    assert!(!listing.complete);
    assert_eq!(fetches(&server).await, 1);

    // Twilio's error is typed; bad input makes no request.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 20404, "message": "not found", "status": 404
        })))
        .mount(&server)
        .await;
    let error = client(&server).list_messages(&query).await.unwrap_err();
    assert!(
        matches!(
            error,
            TwilioError::Api {
                status: 404,
                code: Some(20404),
                ..
            }
        ),
        "{error:?}"
    );
    for bad in [
        MessageQuery {
            account_sid: "AC/../x".into(),
            ..query.clone()
        },
        MessageQuery {
            to: " ".into(),
            ..query.clone()
        },
    ] {
        let error = client(&server).list_messages(&bad).await.unwrap_err();
        assert!(
            matches!(error, TwilioError::InvalidInput { .. }),
            "{error:?}"
        );
    }
    assert_eq!(fetches(&server).await, 1);
}
