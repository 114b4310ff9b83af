//! The dispatcher through the real Twilio client against wiremock: the exact requests, and
//! what each kind of answer does to the recipient and the money.

use std::{collections::BTreeMap, time::Duration as StdDuration};

use campaigns::{BatchReport, CampaignStatus, DispatchConfig, Dispatcher, RecipientStatus};
use secrecy::SecretString;
use twilio::{RetryPolicy as HttpRetry, TwilioClient, TwilioConfig};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_string_contains, header, method, path},
};

use crate::common::{PARENT, SID, TOKEN, World, basic_auth, usd};

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

fn client(server: &MockServer) -> TwilioClient {
    crate::common::twilio_client(&server.uri())
}

fn created(n: u32) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(serde_json::json!({
        "sid": format!("SM{n:032x}"),
        "status": "queued",
        "price": null,
        "price_unit": "USD",
        "num_segments": "1"
    }))
}

fn form(request: &Request) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn dispatcher(world: &World, server: &MockServer) -> Dispatcher<TwilioClient> {
    let config = DispatchConfig {
        batch_size: 10,
        concurrency: 1,
        status_callback: Some("https://hooks.example.com/twilio/status".parse().unwrap()),
        ..DispatchConfig::default()
    };
    Dispatcher::new(
        world.pool.clone(),
        world.campaigns.clone(),
        client(server),
        config,
    )
}

#[tokio::test]
async fn each_message_is_posted_to_the_brands_subaccount_exactly_as_twilio_expects() {
    let world = World::new(10_000).await;
    let server = MockServer::start().await;
    let auth = basic_auth();
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(header("authorization", auth.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(created(1))
        .expect(3)
        .mount(&server)
        .await;
    let id = world.started(3, 5).await;
    let dispatcher = dispatcher(&world, &server);
    let report = dispatcher.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.sent == 3 && c.completed),
        "{report:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let mut conn = world.conn().await;
    let recipients = world
        .campaigns
        .recipients(&mut conn, world.organization, id, None, None, 10)
        .await
        .unwrap();
    for (request, recipient) in requests.iter().zip(&recipients) {
        let callback = format!(
            "https://hooks.example.com/twilio/status?campaign={id}&recipient={}",
            recipient.id
        );
        let expected: BTreeMap<String, String> = [
            ("To", recipient.phone.as_str()),
            ("From", "+14155550199"),
            ("Body", "Spring sale: 20% off today"),
            ("StatusCallback", callback.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(form(request), expected);
        assert_eq!(recipient.status, RecipientStatus::Sent);
        assert_eq!(
            recipient.twilio_sid.as_deref(),
            Some(format!("SM{:032x}", 1).as_str())
        );
        assert_eq!(
            recipient.twilio_price, None,
            "Twilio often has no price yet"
        );
    }
    assert_eq!(
        dispatcher.dispatch_batch(id).await.unwrap(),
        BatchReport::Idle
    );
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn refusals_are_free_maybe_sent_is_charged_and_never_resent() {
    let world = World::new(10_000).await;
    let server = MockServer::start().await;
    let id = world.started(4, 5).await;
    let mut conn = world.conn().await;
    let phones: Vec<String> = world
        .campaigns
        .recipients(&mut conn, world.organization, id, None, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.phone)
        .collect();
    let to = |i: usize| body_string_contains(format!("To=%2B{}", &phones[i][1..]));
    // 0: invalid number (21211); 1: accepted; 2: Twilio 500; 3: accepted on the next batch.
    Mock::given(method("POST"))
        .and(to(0))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "code": 21211, "message": "The 'To' number is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(to(1))
        .respond_with(created(2))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(to(2))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(to(3))
        .respond_with(created(4))
        .expect(1)
        .mount(&server)
        .await;

    let dispatcher = dispatcher(&world, &server);
    match dispatcher.dispatch_batch(id).await.unwrap() {
        BatchReport::Sent(counts) => {
            assert_eq!(
                (
                    counts.failed,
                    counts.sent,
                    counts.unconfirmed,
                    counts.returned
                ),
                (1, 1, 1, 1)
            );
        }
        other => panic!("{other:?}"),
    }
    world.clock.advance(chrono::Duration::seconds(31));
    let last = dispatcher.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(last, BatchReport::Sent(c) if c.completed && c.sent == 1),
        "{last:?}"
    );

    let recipients = world
        .campaigns
        .recipients(&mut conn, world.organization, id, None, None, 10)
        .await
        .unwrap();
    let statuses: Vec<_> = recipients.iter().map(|r| (r.status, r.charged)).collect();
    assert_eq!(
        statuses,
        [
            (RecipientStatus::Failed, usd(0)),
            (RecipientStatus::Sent, usd(5)),
            (RecipientStatus::Unconfirmed, usd(5)),
            (RecipientStatus::Sent, usd(5)),
        ]
    );
    assert_eq!(recipients[0].error_code, Some(21211));
    assert!(
        recipients[2]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("500"))
    );
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!((summary.captured, summary.released), (usd(15), usd(5)));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_timeout_is_maybe_sent_and_a_refused_connection_is_retried_later() {
    let world = World::new(10_000).await;
    let id = world.started(2, 5).await;
    // Nothing listens here: the connection is refused, so Twilio never saw the request.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        port
    };
    let mut config = TwilioConfig::new(PARENT, SecretString::from(TOKEN.to_owned()));
    config.base_url = format!("http://127.0.0.1:{closed}");
    config.retry = HttpRetry {
        max_attempts: 1,
        ..HttpRetry::DEFAULT
    };
    let refused = Dispatcher::new(
        world.pool.clone(),
        world.campaigns.clone(),
        TwilioClient::new(config).unwrap(),
        DispatchConfig {
            batch_size: 10,
            concurrency: 1,
            ..DispatchConfig::default()
        },
    );
    match refused.dispatch_batch(id).await.unwrap() {
        BatchReport::Sent(counts) => assert_eq!((counts.returned, counts.charged), (2, 0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        world.summary(id).await.recipients.pending,
        2,
        "never reached Twilio: pending"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(created(9).set_delay(StdDuration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    world.clock.advance(chrono::Duration::seconds(31));
    match dispatcher(&world, &server)
        .dispatch_batch(id)
        .await
        .unwrap()
    {
        BatchReport::Sent(counts) => assert_eq!((counts.unconfirmed, counts.returned), (1, 1)),
        other => panic!("{other:?}"),
    }
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.recipients.unconfirmed, summary.recipients.pending),
        (1, 1)
    );
    assert_eq!(summary.captured, usd(5));
    world.assert_books(id, 0).await;
}
