//! The generic delivery loop with a scripted handler.

use std::sync::{Arc, Mutex};

use crate::common::*;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use outbox::{ClaimedMessage, DeliveryReport, Handler, HandlerError, Status};

/// Succeeds, retries or refuses according to the payload's key, and records what it saw.
#[derive(Default)]
struct Scripted {
    seen: Mutex<Vec<(String, u32)>>,
}

impl Handler for Scripted {
    type Message = Mail;

    async fn handle(&self, message: &ClaimedMessage, mail: Mail) -> Result<(), HandlerError> {
        assert_eq!(mail.key, message.dedupe_key.as_str());
        let key = mail.key;
        self.seen
            .lock()
            .unwrap()
            .push((key.clone(), message.attempt));
        match key.split(':').next() {
            Some("ok") => Ok(()),
            Some("retry") => Err(HandlerError::retryable("connection refused")),
            _ => Err(HandlerError::permanent("550 no such user")),
        }
    }
}

#[tokio::test]
async fn a_batch_delivers_retries_and_dead_letters_and_leaves_other_topics_alone() {
    let f = Fixture::new().await;
    let ok = f.enqueue(&MAIL, "ok:1").await;
    let retry = f.enqueue(&MAIL, "retry:1").await;
    let dead = f.enqueue(&MAIL, "dead:1").await;
    let sms = f.enqueue(&SMS, "ok:sms").await;
    let handler = Scripted::default();

    let report = outbox::deliver_batch(&f.pool, &f.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!(
        report,
        DeliveryReport {
            claimed: 3,
            delivered: 1,
            retried: 1,
            dead: 1,
            lost_claims: 0,
            unsettled: 0,
        }
    );
    let mut seen = handler.seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("dead:1".to_owned(), 1),
            ("ok:1".to_owned(), 1),
            ("retry:1".to_owned(), 1)
        ]
    );
    assert_eq!(f.get(ok).await.status, Status::Delivered);
    assert_eq!(f.get(dead).await.status, Status::Dead);
    let retrying = f.get(retry).await;
    assert_eq!(retrying.status, Status::Pending);
    assert_eq!(retrying.last_error.as_deref(), Some("connection refused"));
    assert_eq!(f.get(sms).await.status, Status::Pending);

    // Nothing is due until the backoff has passed.
    let idle = outbox::deliver_batch(&f.pool, &f.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!(idle, DeliveryReport::default());
    f.clock.set(retrying.next_attempt_at);
    let report = outbox::deliver_batch(&f.pool, &f.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!((report.claimed, report.retried), (1, 1));
    assert_eq!(f.get(retry).await.attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_on_a_spawned_task() {
    let f = Arc::new(Fixture::new().await);
    for i in 0..5 {
        f.enqueue(&MAIL, &format!("ok:{i}")).await;
    }
    let handler = Arc::new(Scripted::default());
    let task = {
        let (f, handler) = (Arc::clone(&f), Arc::clone(&handler));
        tokio::spawn(async move { outbox::deliver_batch(&f.pool, &f.outbox, &*handler, 2).await })
    };
    let report = task.await.unwrap().unwrap();
    assert_eq!((report.claimed, report.delivered), (2, 2));
}

#[tokio::test]
async fn a_payload_that_does_not_decode_dies_at_once_without_reaching_the_handler() {
    let f = Fixture::new().await;
    let ok = f.enqueue(&MAIL, "ok:1").await;
    let bad = f.enqueue(&MAIL, "ok:bad").await;
    {
        use db::schema::outbox_messages::dsl as m;
        let mut conn = f.conn().await;
        diesel::update(m::outbox_messages.find(bad.as_uuid()))
            .set(m::payload.eq(serde_json::json!({ "key": 42 })))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let handler = Scripted::default();
    let report = outbox::deliver_batch(&f.pool, &f.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!((report.claimed, report.delivered, report.dead), (2, 1, 1));
    assert_eq!(*handler.seen.lock().unwrap(), [("ok:1".to_owned(), 1)]);
    assert_eq!(f.get(ok).await.status, Status::Delivered);
    let dead = f.get(bad).await;
    assert_eq!((dead.status, dead.attempts), (Status::Dead, 1));
    let error = dead.last_error.unwrap();
    assert!(
        error.starts_with("undecodable mail payload: invalid type: integer `42`"),
        "{error}"
    );
}
