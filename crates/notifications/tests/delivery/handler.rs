//! Enqueue, deliver through the outbox, and what the customer receives.

use crate::common::*;
use db::schema::outbox_messages;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use notifications::{
    LogNotifier, Notification, NotificationError, NotificationHandler, NotificationKind,
    NotificationMessage,
};
use outbox::Message;
use outbox::{Enqueued, Status};
use serde_json::json;

#[tokio::test]
async fn an_enqueued_notification_reaches_the_billing_email_once() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let id = f
        .enqueue(&f.payment_failed(), "evt-1:payment_failed")
        .await
        .id();
    let report = f.deliver().await;
    assert_eq!((report.claimed, report.delivered), (1, 1));

    let received = f.sink.messages();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    let expected = notifications::render(&f.payment_failed(), "Acme Ltd");
    assert_eq!(mail.recipients, ["ap@acme.example"]);
    assert_eq!(mail.from, "billing@example.com");
    assert_eq!(mail.header("Subject"), Some(expected.subject));
    assert_eq!(mail.body(), expected.text.replace('\n', "\r\n"));
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{id}@example.com>"))
    );
    assert!(mail.body().contains("2027-01-18 08:00 UTC (attempt 2)"));

    let stored = f.message(id).await;
    assert_eq!(stored.status, Status::Delivered);
    assert_eq!(stored.topic, NotificationMessage::TOPIC);
    assert_eq!(stored.organization_id, Some(f.org));
    assert_eq!(stored.payload["kind"], "payment_failed");
    assert_eq!(stored.payload["facts"]["reason"], "card declined");
    // Nothing left to do.
    assert_eq!(f.deliver().await.claimed, 0);
    assert_eq!(f.sink.messages().len(), 1);
}

#[tokio::test]
async fn a_transient_refusal_is_retried_after_the_backoff_then_delivered() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let id = f
        .enqueue(&f.payment_failed(), "evt-2:payment_failed")
        .await
        .id();
    f.sink.fail_next(1, 451);
    let first = f.deliver().await;
    assert_eq!((first.claimed, first.retried), (1, 1));
    let waiting = f.message(id).await;
    assert_eq!((waiting.status, waiting.attempts), (Status::Pending, 1));
    assert!(waiting.last_error.as_deref().unwrap().contains("451"));
    let delay = waiting.next_attempt_at - f.now();
    assert!(
        delay >= chrono::TimeDelta::milliseconds(2500) && delay <= chrono::TimeDelta::seconds(5),
        "{delay}"
    );
    assert!(f.sink.messages().is_empty());

    // Not before the backoff has passed.
    assert_eq!(f.deliver().await.claimed, 0);
    f.clock.set(waiting.next_attempt_at);
    let second = f.deliver().await;
    assert_eq!((second.claimed, second.delivered), (1, 1));
    assert_eq!(f.sink.refused(), 1);
    assert_eq!(f.sink.messages().len(), 1);
    let delivered = f.message(id).await;
    assert_eq!(
        (delivered.status, delivered.attempts),
        (Status::Delivered, 2)
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_a_dead_letter() {
    let f = Fixture::new(Some("gone@acme.example")).await;
    let id = f
        .enqueue(&f.payment_failed(), "evt-3:payment_failed")
        .await
        .id();
    f.sink.fail_next(1, 550);
    let report = f.deliver().await;
    assert_eq!((report.claimed, report.dead), (1, 1));
    let dead = f.message(id).await;
    assert_eq!((dead.status, dead.attempts), (Status::Dead, 1));
    assert!(dead.last_error.as_deref().unwrap().contains("550"));
    f.clock.advance(chrono::TimeDelta::days(1));
    assert_eq!(f.deliver().await.claimed, 0);
    assert!(f.sink.messages().is_empty());
}

#[tokio::test]
async fn an_organization_without_billing_email_gets_nothing_and_the_message_is_settled() {
    let f = Fixture::new(None).await;
    let id = f
        .enqueue(&f.payment_failed(), "evt-4:payment_failed")
        .await
        .id();
    let report = f.deliver().await;
    assert_eq!((report.claimed, report.delivered), (1, 1));
    assert!(f.sink.messages().is_empty());
    assert_eq!(f.message(id).await.status, Status::Delivered);
}

#[tokio::test]
async fn a_duplicate_dedupe_key_sends_one_email() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let first = f.enqueue(&f.payment_failed(), "evt-5:payment_failed").await;
    let again = f.enqueue(&f.payment_failed(), "evt-5:payment_failed").await;
    assert_eq!(again, Enqueued::Duplicate(first.id()));
    f.deliver().await;
    // Enqueued again after delivery (a replayed event): still one email.
    let late = f.enqueue(&f.payment_failed(), "evt-5:payment_failed").await;
    assert_eq!(late, Enqueued::Duplicate(first.id()));
    f.clock.advance(chrono::TimeDelta::hours(1));
    f.deliver().await;
    assert_eq!(f.sink.messages().len(), 1);
}

#[tokio::test]
async fn the_log_notifier_settles_without_sending() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let restored = Notification {
        kind: NotificationKind::Restored,
        organization_id: f.org,
        payload: json!({ "amount": "49.00 USD" }),
    };
    let id = f.enqueue(&restored, "evt-6:restored").await.id();
    let handler = NotificationHandler::new(f.pool.clone(), std::sync::Arc::new(LogNotifier));
    let report = outbox::deliver_batch(&f.pool, &f.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(f.message(id).await.status, Status::Delivered);
    assert!(f.sink.messages().is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let mut conn = f.pool.get().await.unwrap();
    let not_an_object = Notification {
        payload: json!(["facts"]),
        ..f.payment_failed()
    };
    let refused = notifications::enqueue(&mut conn, &not_an_object, "k", f.now()).await;
    assert!(matches!(
        refused,
        Err(NotificationError::PayloadNotAnObject)
    ));
    let bad_key =
        notifications::enqueue(&mut conn, &f.payment_failed(), "has space", f.now()).await;
    assert!(matches!(
        bad_key,
        Err(NotificationError::InvalidDedupeKey(_))
    ));
    let count: i64 = outbox_messages::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn an_undecodable_message_is_a_dead_letter() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let mut conn = f.pool.get().await.unwrap();
    let message = outbox::NewMessage {
        organization_id: Some(f.org),
        ..outbox::NewMessage::new(
            NotificationMessage::TOPIC,
            outbox::DedupeKey::parse("garbage").unwrap(),
            json!({ "kind": "bankrupt" }),
            f.now(),
        )
    };
    let id = outbox::enqueue_raw(&mut conn, message).await.unwrap().id();
    assert_eq!(f.deliver().await.dead, 1);
    let dead = f.message(id).await;
    assert_eq!(dead.status, Status::Dead);
    let error = dead.last_error.unwrap();
    assert!(
        error.starts_with("undecodable notification payload: unknown variant `bankrupt`"),
        "{error}"
    );
    assert!(f.sink.messages().is_empty());
}

#[tokio::test]
async fn money_taken_back_and_dispute_notices_are_stored_by_name_and_delivered_as_rendered() {
    let f = Fixture::new(Some("ap@acme.example")).await;
    let kinds = [
        (NotificationKind::DisputeOpened, "dispute_opened"),
        (NotificationKind::DisputeWon, "dispute_won"),
        (NotificationKind::DisputeLost, "dispute_lost"),
        (NotificationKind::PaymentReversed, "payment_reversed"),
    ];
    let mut expected = Vec::new();
    for (kind, name) in kinds {
        let notification = Notification {
            kind,
            organization_id: f.org,
            payload: json!({
                "amount": "49.00 USD",
                "payment_reference": "ch_3NaB7x",
                "provider": "stripe",
                "shortfall": "5.00 USD",
            }),
        };
        let id = f.enqueue(&notification, &format!("dp_1:{name}")).await.id();
        let stored = f.message(id).await;
        assert_eq!(stored.payload["kind"], name);
        assert_eq!(stored.payload["facts"]["payment_reference"], "ch_3NaB7x");
        expected.push(notifications::render(&notification, "Acme Ltd"));
    }
    let report = f.deliver().await;
    assert_eq!((report.claimed, report.delivered), (4, 4));
    let mut received: Vec<(String, String)> = f
        .sink
        .messages()
        .iter()
        .map(|mail| (mail.header("Subject").unwrap(), mail.body().to_owned()))
        .collect();
    let mut expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|email| (email.subject, email.text.replace('\n', "\r\n")))
        .collect();
    received.sort();
    expected.sort();
    assert_eq!(received, expected);
}
