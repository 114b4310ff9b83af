//! Failed attempts: backoff within exact bounds, capped; dead after the last attempt or a
//! permanent error; requeued by an operator.

use std::time::Duration;

use crate::common::*;
use outbox::{HandlerError, NewMessage, OutboxError, Redelivery, Settlement, Status};

#[tokio::test]
async fn retries_back_off_within_bounds_until_the_last_attempt_then_die_and_can_be_requeued() {
    let f = Fixture::new().await;
    let policy = *f.outbox.policy();
    let id = f.enqueue(&MAIL, "flaky").await;
    let mut conn = f.conn().await;
    let mut ceilings = Vec::new();
    for attempt in 1..=11u32 {
        let claimed = f.claim_one(&MAIL).await;
        assert_eq!((claimed.id, claimed.attempt), (id, attempt));
        let now = f.clock_now();
        let error = HandlerError::retryable(format!("451 try later ({attempt})"));
        let settled = f.outbox.fail(&mut conn, &claimed, &error).await.unwrap();
        let Settlement::Retrying { next_attempt_at } = settled else {
            panic!("attempt {attempt}: expected a retry, got {settled:?}");
        };
        let ceiling = chrono::TimeDelta::from_std(policy.ceiling(attempt)).unwrap();
        assert!(
            next_attempt_at >= now + ceiling / 2 && next_attempt_at <= now + ceiling,
            "attempt {attempt}: {next_attempt_at} outside [{}, {}]",
            now + ceiling / 2,
            now + ceiling
        );
        ceilings.push(ceiling.num_seconds());
        let stored = f.get(id).await;
        assert_eq!(stored.status, Status::Pending);
        assert_eq!(stored.next_attempt_at, next_attempt_at);
        assert_eq!(
            stored.last_error.as_deref(),
            Some(format!("451 try later ({attempt})").as_str())
        );
        assert_eq!(stored.claimed_until, None);
        // Not a moment before it is due.
        f.clock
            .set(next_attempt_at - chrono::TimeDelta::milliseconds(1));
        assert!(f.claim(&MAIL, 10).await.is_empty());
        f.clock.set(next_attempt_at);
    }
    assert_eq!(
        ceilings,
        [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    );

    let last = f.claim_one(&MAIL).await;
    assert_eq!((last.attempt, last.max_attempts), (12, 12));
    assert_eq!(last.last_error.as_deref(), Some("451 try later (11)"));
    let settled = f
        .outbox
        .fail(&mut conn, &last, &HandlerError::retryable("451 still"))
        .await
        .unwrap();
    assert_eq!(settled, Settlement::Dead);
    let dead = f.get(id).await;
    assert_eq!((dead.status, dead.attempts), (Status::Dead, 12));
    assert_eq!(dead.last_error.as_deref(), Some("451 still"));
    f.clock.advance(secs(24 * 3600));
    assert!(f.claim(&MAIL, 10).await.is_empty());

    let requeued = f.outbox.retry_dead_now(&mut conn, id).await.unwrap();
    assert_eq!((requeued.status, requeued.attempts), (Status::Pending, 0));
    assert_eq!(requeued.next_attempt_at, f.clock_now());
    let again = f.claim_one(&MAIL).await;
    assert_eq!((again.id, again.attempt), (id, 1));
    assert_eq!(
        f.outbox.complete(&mut conn, &again).await.unwrap(),
        Settlement::Delivered
    );
    assert!(matches!(
        f.outbox.retry_dead_now(&mut conn, id).await,
        Err(OutboxError::NotDead {
            status: Status::Delivered,
            ..
        })
    ));
    assert!(matches!(
        f.outbox
            .retry_dead_now(&mut conn, outbox::MessageId::new())
            .await,
        Err(OutboxError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_delay_stops_growing_at_the_cap() {
    let policy = Redelivery::new(
        Duration::from_secs(1),
        Duration::from_secs(4),
        Duration::from_secs(30),
    )
    .unwrap();
    let f = Fixture::with_policy(policy).await;
    let mut conn = f.conn().await;
    let new = NewMessage {
        max_attempts: 6.try_into().unwrap(),
        ..message(&MAIL, "capped", f.clock_now())
    };
    outbox::enqueue_raw(&mut conn, new).await.unwrap();
    let mut upper = Vec::new();
    for attempt in 1..=5 {
        let claimed = f.claim_one(&MAIL).await;
        assert_eq!(claimed.lease_until, f.clock_now() + secs(30));
        let now = f.clock_now();
        let Settlement::Retrying { next_attempt_at } = f
            .outbox
            .fail(&mut conn, &claimed, &HandlerError::retryable("busy"))
            .await
            .unwrap()
        else {
            panic!("attempt {attempt} should be retried");
        };
        let delay = next_attempt_at - now;
        assert!(delay <= secs(4), "attempt {attempt}: {delay} above the cap");
        upper.push(policy.ceiling(attempt).as_secs());
        assert!(delay * 2 >= chrono::TimeDelta::from_std(policy.ceiling(attempt)).unwrap());
        f.clock.set(next_attempt_at);
    }
    assert_eq!(upper, [1, 2, 4, 4, 4]);
}

#[tokio::test]
async fn a_permanent_error_kills_the_message_at_once() {
    let f = Fixture::new().await;
    let id = f.enqueue(&MAIL, "rejected").await;
    let claimed = f.claim_one(&MAIL).await;
    let mut conn = f.conn().await;
    let settled = f
        .outbox
        .fail(
            &mut conn,
            &claimed,
            &HandlerError::permanent("550 mailbox unavailable\r\nsecond line"),
        )
        .await
        .unwrap();
    assert_eq!(settled, Settlement::Dead);
    let dead = f.get(id).await;
    assert_eq!((dead.status, dead.attempts), (Status::Dead, 1));
    assert_eq!(
        dead.last_error.as_deref(),
        Some("550 mailbox unavailable  second line")
    );
    assert_eq!(dead.claimed_until, None);
    f.clock.advance(secs(3600));
    assert!(f.claim(&MAIL, 10).await.is_empty());
}

#[tokio::test]
async fn long_errors_are_cut_to_fit() {
    let f = Fixture::new().await;
    let id = f.enqueue(&MAIL, "long").await;
    let claimed = f.claim_one(&MAIL).await;
    let mut conn = f.conn().await;
    let long = "x".repeat(5000);
    f.outbox
        .fail(&mut conn, &claimed, &HandlerError::retryable(long))
        .await
        .unwrap();
    let stored = f.get(id).await.last_error.unwrap();
    assert_eq!(stored.chars().count(), outbox::MAX_ERROR_CHARS);
}
