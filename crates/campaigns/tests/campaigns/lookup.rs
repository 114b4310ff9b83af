//! The lookup job against a wiremock Twilio (the real client, exact requests): one matching
//! message resolves an unconfirmed recipient as sent; no message resolves it as not sent and
//! refunds it, only after the safe delay and exactly once; an ambiguous list or a Twilio that
//! keeps failing leaves it to a person, unchanged.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use campaigns::{
    CampaignId, DeliveryStatus, Lookup, LookupConfig, LookupReport, RecipientStatus, Resolution,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;
use twilio::{MessageListing, MessageLog, MessageQuery, TwilioClient, TwilioError};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, query_param},
};

use crate::{
    common::{FakeTwilio, SID, World, api_error, basic_auth, twilio_client},
    delivery::{COST, dispatched, recipient},
};

const BODY: &str = "Spring sale: 20% off today";
const FROM: &str = "+14155550199";

/// A message log that must not be asked.
#[derive(Clone, Default)]
pub struct NoCalls(Arc<AtomicUsize>);

impl NoCalls {
    pub fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl MessageLog for NoCalls {
    async fn list_messages(&self, _: &MessageQuery) -> Result<MessageListing, TwilioError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(TwilioError::Config("this test asks Twilio nothing".into()))
    }
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

fn rfc2822(at: DateTime<Utc>) -> String {
    at.to_rfc2822()
}

fn listed(n: u32, to: &str, body: &str, created: DateTime<Utc>) -> Value {
    json!({
        "sid": format!("SM{n:032x}"), "account_sid": SID, "to": to, "from": FROM, "body": body,
        "status": "delivered", "direction": "outbound-api", "messaging_service_sid": null,
        "error_code": null, "date_created": rfc2822(created), "date_sent": rfc2822(created),
        "price": "-0.00790", "price_unit": "USD"
    })
}

/// Twilio's list of messages to `to` from the campaign's number, with the parent's credentials.
async fn answer_list(server: &MockServer, to: &str, messages: Vec<Value>) {
    let auth = basic_auth();
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .and(query_param("To", to))
        .and(query_param("From", FROM))
        .and(query_param("PageSize", "100"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": messages, "next_page_uri": null, "page": 0, "page_size": 100
        })))
        .mount(server)
        .await;
}

fn lookup(world: &World, server: &MockServer) -> Lookup<TwilioClient> {
    Lookup::new(
        world.pool.clone(),
        world.campaigns.clone(),
        twilio_client(&server.uri()),
        LookupConfig {
            max_attempts: 2,
            ..LookupConfig::default()
        },
    )
}

/// A campaign whose one recipient is unconfirmed after a 500.
async fn unconfirmed(world: &World) -> CampaignId {
    let id = dispatched(world, 1, vec![Err(api_error(500, None))]).await;
    assert_eq!(
        recipient(world, id, 0).await.status,
        RecipientStatus::Unconfirmed
    );
    id
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn one_matching_message_resolves_the_recipient_as_sent() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let target = recipient(&world, id, 0).await;
    let sent_at = world.now();
    let balance = world.wallet().await.balance;
    let server = MockServer::start().await;
    answer_list(
        &server,
        &target.phone,
        vec![
            listed(7, &target.phone, BODY, sent_at),
            // Another campaign's message to the same number, long before: not a candidate.
            listed(8, &target.phone, BODY, sent_at - Duration::days(3)),
        ],
    )
    .await;
    let lookup = lookup(&world, &server);

    // Not before it has been unconfirmed for `after`: callbacks get their chance first.
    assert_eq!(lookup.run_once().await.unwrap(), LookupReport::default());
    assert_eq!(requests(&server).await, 0);
    world.clock.advance(Duration::minutes(10));
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");
    assert_eq!(requests(&server).await, 1);
    let now = recipient(&world, id, 0).await;
    assert_eq!(now.status, RecipientStatus::Sent);
    assert_eq!(now.twilio_sid, Some(format!("SM{:032x}", 7)));
    assert_eq!(now.delivery_status, Some(DeliveryStatus::Delivered));
    assert_eq!(now.charged.minor(), COST);
    assert!(now.lookup_note.is_some_and(|note| note.contains("found")));
    assert_eq!(world.wallet().await.balance, balance);
    // Nothing is left to look up.
    world.clock.advance(Duration::hours(2));
    assert_eq!(lookup.run_once().await.unwrap().claimed, 0);
    assert_eq!(requests(&server).await, 1);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn no_message_is_not_sent_only_after_the_safe_delay_and_is_refunded_once() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let target = recipient(&world, id, 0).await;
    let balance = world.wallet().await.balance.minor();
    let server = MockServer::start().await;
    answer_list(&server, &target.phone, vec![]).await;
    let lookup = lookup(&world, &server);

    // Ten minutes on, the list is empty, but it may lag: look again at the hour.
    world.clock.advance(Duration::minutes(10));
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.waiting), (1, 1), "{report:?}");
    let waiting = recipient(&world, id, 0).await;
    assert_eq!(waiting.status, RecipientStatus::Unconfirmed);
    assert_eq!(world.wallet().await.balance.minor(), balance);
    world.clock.advance(Duration::minutes(49));
    assert_eq!(
        lookup.run_once().await.unwrap().claimed,
        0,
        "not due before the hour"
    );

    world.clock.advance(Duration::minutes(1));
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.not_sent), (1, 1), "{report:?}");
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (now.status, now.charged.minor()),
        (RecipientStatus::Failed, 0)
    );
    assert_eq!(world.wallet().await.balance.minor(), balance + COST);
    assert_eq!(requests(&server).await, 2);

    // Never again: not by the job, not by a person, not by a late callback.
    world.clock.advance(Duration::hours(5));
    assert_eq!(lookup.run_once().await.unwrap().claimed, 0);
    let mut conn = world.conn().await;
    let by_hand = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            world.organization,
            id,
            target.id,
            &Resolution::NotSent,
        )
        .await;
    assert!(by_hand.is_err());
    drop(conn);
    assert_eq!(world.wallet().await.balance.minor(), balance + COST);
    assert_eq!(requests(&server).await, 2);
    world.assert_books(id, -COST).await;
}

#[tokio::test]
async fn an_ambiguous_list_leaves_the_recipient_to_a_person_unchanged() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let target = recipient(&world, id, 0).await;
    let at = world.now();
    let balance = world.wallet().await.balance;
    let server = MockServer::start().await;
    // Two messages with the campaign's text since the claim (another campaign of the brand
    // with the same text, or a resend): which one is ours?
    answer_list(
        &server,
        &target.phone,
        vec![
            listed(1, &target.phone, BODY, at),
            listed(2, &target.phone, BODY, at),
        ],
    )
    .await;
    let lookup = lookup(&world, &server);
    world.clock.advance(Duration::hours(2));
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.ambiguous), (1, 1), "{report:?}");
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (now.status, now.charged.minor()),
        (RecipientStatus::Unconfirmed, COST)
    );
    assert_eq!(now.twilio_sid, None);
    assert!(
        now.lookup_note
            .as_deref()
            .is_some_and(|note| note.contains("left to a person") && note.contains("SM")),
        "{:?}",
        now.lookup_note
    );
    assert_eq!(world.wallet().await.balance, balance);
    // Given up on: the job does not ask again; a person still can resolve it.
    world.clock.advance(Duration::days(1));
    assert_eq!(lookup.run_once().await.unwrap().claimed, 0);
    assert_eq!(requests(&server).await, 1);
    let mut conn = world.conn().await;
    world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            world.organization,
            id,
            target.id,
            &Resolution::Sent {
                twilio_sid: Some(format!("SM{:032x}", 1)),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_message_with_another_text_is_ambiguous_not_missing() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let target = recipient(&world, id, 0).await;
    let server = MockServer::start().await;
    // A redacted body (accounts may redact them) cannot be told apart from ours.
    answer_list(
        &server,
        &target.phone,
        vec![listed(1, &target.phone, "", world.now())],
    )
    .await;
    world.clock.advance(Duration::hours(2));
    let report = lookup(&world, &server).run_once().await.unwrap();
    assert_eq!(report.ambiguous, 1, "{report:?}");
    assert_eq!(
        recipient(&world, id, 0).await.status,
        RecipientStatus::Unconfirmed
    );
}

#[tokio::test]
async fn twilio_failing_is_tried_again_then_left_to_a_person() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let balance = world.wallet().await.balance;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(messages_path()))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let lookup = lookup(&world, &server);
    world.clock.advance(Duration::hours(2));
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.errors), (1, 1), "{report:?}");
    assert_eq!(lookup.run_once().await.unwrap().claimed, 0, "backing off");
    world.clock.advance(Duration::minutes(1));
    assert_eq!(lookup.run_once().await.unwrap().errors, 1);
    // `max_attempts` (2) reached: left to a person.
    world.clock.advance(Duration::hours(1));
    assert_eq!(lookup.run_once().await.unwrap().claimed, 0);
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (now.status, now.charged.minor()),
        (RecipientStatus::Unconfirmed, COST)
    );
    assert!(
        now.lookup_note
            .as_deref()
            .is_some_and(|note| note.contains("2 times")),
        "{:?}",
        now.lookup_note
    );
    assert_eq!(world.wallet().await.balance, balance);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_crashed_workers_recipient_is_found_by_the_lookup() {
    let world = World::new(10_000).await;
    let id = world.started(1, COST).await;
    let target = recipient(&world, id, 0).await;
    // The worker dies during the send: the claim stays, then its lease runs out.
    let dying = FakeTwilio::default();
    let hang = Arc::new(Notify::new());
    {
        let hang = hang.clone();
        dying.on_send(move |_| {
            let hang = hang.clone();
            async move { hang.notified().await }
        });
    }
    let dispatcher = world.dispatcher(dying.clone(), 1);
    let task = tokio::spawn(async move { dispatcher.dispatch_batch(id).await });
    while dying.sent().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    task.abort();
    let _ = task.await;
    let sent_at = world.now();
    world.clock.advance(Duration::minutes(6));
    world
        .dispatcher(FakeTwilio::default(), 1)
        .run_once()
        .await
        .unwrap();
    let recovered = recipient(&world, id, 0).await;
    assert_eq!(recovered.status, RecipientStatus::Unconfirmed);
    assert_eq!(recovered.unconfirmed_at, Some(world.now()));

    let server = MockServer::start().await;
    answer_list(
        &server,
        &target.phone,
        vec![listed(3, &target.phone, BODY, sent_at)],
    )
    .await;
    world.clock.advance(Duration::minutes(10));
    let report = lookup(&world, &server).run_once().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let now = recipient(&world, id, 0).await;
    assert_eq!(now.status, RecipientStatus::Sent);
    assert_eq!(now.twilio_sid, Some(format!("SM{:032x}", 3)));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_message_twilio_failed_to_send_is_not_sent_and_refunded() {
    let world = World::new(10_000).await;
    let id = unconfirmed(&world).await;
    let target = recipient(&world, id, 0).await;
    let balance = world.wallet().await.balance.minor();
    let mut failed = listed(4, &target.phone, BODY, world.now());
    failed["status"] = json!("failed");
    failed["error_code"] = json!(30008);
    let server = MockServer::start().await;
    answer_list(&server, &target.phone, vec![failed]).await;
    world.clock.advance(Duration::minutes(10));
    let report = lookup(&world, &server).run_once().await.unwrap();
    assert_eq!((report.claimed, report.not_sent), (1, 1), "{report:?}");
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (now.status, now.charged.minor()),
        (RecipientStatus::Failed, 0)
    );
    assert_eq!(now.twilio_sid, Some(format!("SM{:032x}", 4)));
    assert_eq!(
        (now.delivery_status, now.delivery_error_code),
        (Some(DeliveryStatus::Failed), Some(30008))
    );
    assert_eq!(world.wallet().await.balance.minor(), balance + COST);
    world.assert_books(id, -COST).await;
}
