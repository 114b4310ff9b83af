//! Claiming: only due messages, oldest first, only the asked topics, under a lease that hands a
//! dead worker's message to the next claimant without letting the old one settle it.

use crate::common::*;
use outbox::{HandlerError, MessageId, NewMessage, Settlement, Status};

fn ids(claimed: &[outbox::ClaimedMessage]) -> Vec<MessageId> {
    claimed.iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn claims_due_messages_oldest_first_within_the_limit_and_topics() {
    let f = Fixture::new().await;
    let now = f.clock_now();
    let later = f.enqueue_at(&MAIL, "later", now + secs(10)).await;
    let due_now = f.enqueue_at(&MAIL, "now", now).await;
    let overdue = f.enqueue_at(&MAIL, "overdue", now - secs(5)).await;
    let due_now_too = f.enqueue_at(&MAIL, "now-too", now).await;
    let other_topic = f.enqueue_at(&SMS, "sms", now - secs(60)).await;

    let first = f.claim(&MAIL, 2).await;
    assert_eq!(ids(&first), [overdue, due_now]);
    assert!(first.iter().all(|m| m.attempt == 1 && m.max_attempts == 12));
    assert!(first.iter().all(|m| m.lease_until == now + secs(60)));
    assert_eq!(ids(&f.claim(&MAIL, 10).await), [due_now_too]);
    // Everything due is leased now; the future message is not due yet.
    assert!(f.claim(&MAIL, 10).await.is_empty());

    f.clock.advance(secs(10));
    assert_eq!(ids(&f.claim(&MAIL, 10).await), [later]);
    let stored = f.get(later).await;
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.next_attempt_at, now + secs(70));
    assert_eq!(stored.claimed_until, Some(now + secs(70)));

    let both = {
        let mut conn = f.conn().await;
        f.outbox.claim(&mut conn, &[MAIL, SMS], 10).await.unwrap()
    };
    assert_eq!(ids(&both), [other_topic]);
    assert!(f.claim(&MAIL, 0).await.is_empty());
}

#[tokio::test]
async fn a_dead_workers_message_is_claimed_again_after_the_lease_and_the_old_claim_is_lost() {
    let f = Fixture::new().await;
    let id = f.enqueue(&MAIL, "crash").await;
    let first = f.claim_one(&MAIL).await;
    // The first worker dies without settling. Until the lease ends nobody else gets it.
    f.clock.advance(secs(59));
    assert!(f.claim(&MAIL, 10).await.is_empty());
    f.clock.advance(secs(1));
    let second = f.claim_one(&MAIL).await;
    assert_eq!((second.id, second.attempt), (id, 2));

    // The first worker wakes up late: whatever it reports changes nothing.
    let mut conn = f.conn().await;
    let late = f.outbox.complete(&mut conn, &first).await.unwrap();
    assert_eq!(late, Settlement::ClaimLost);
    let late_failure = f
        .outbox
        .fail(&mut conn, &first, &HandlerError::permanent("late"))
        .await
        .unwrap();
    assert_eq!(late_failure, Settlement::ClaimLost);
    let stored = f.get(id).await;
    assert_eq!((stored.status, stored.attempts), (Status::Pending, 2));
    assert_eq!(stored.last_error, None);

    assert_eq!(
        f.outbox.complete(&mut conn, &second).await.unwrap(),
        Settlement::Delivered
    );
    let stored = f.get(id).await;
    assert_eq!(stored.status, Status::Delivered);
    assert_eq!(stored.delivered_at, Some(f.clock_now()));
    assert_eq!(stored.claimed_until, None);
    // Settling twice is as harmless as settling late.
    assert_eq!(
        f.outbox.complete(&mut conn, &second).await.unwrap(),
        Settlement::ClaimLost
    );
    assert_eq!(
        f.outbox
            .fail(&mut conn, &second, &HandlerError::retryable("again"))
            .await
            .unwrap(),
        Settlement::ClaimLost
    );
    assert_eq!(f.get(id).await.status, Status::Delivered);
}

#[tokio::test]
async fn a_message_whose_worker_died_on_the_final_attempt_is_dead_lettered_at_the_next_claim() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let new = NewMessage {
        max_attempts: 1.try_into().unwrap(),
        ..message(&MAIL, "last-chance", f.clock_now())
    };
    let id = outbox::enqueue_raw(&mut conn, new).await.unwrap().id();
    let only = f.claim_one(&MAIL).await;
    assert_eq!((only.attempt, only.max_attempts), (1, 1));
    f.clock.advance(secs(60));
    assert!(f.claim(&MAIL, 10).await.is_empty());
    let stored = f.get(id).await;
    assert_eq!((stored.status, stored.attempts), (Status::Dead, 1));
    assert!(
        stored.last_error.unwrap().contains("lease"),
        "the dead letter says why"
    );
    assert_eq!(
        f.outbox.complete(&mut conn, &only).await.unwrap(),
        Settlement::ClaimLost
    );
    assert_eq!(f.get(id).await.status, Status::Dead);
}

#[tokio::test]
async fn a_claim_over_several_topics_takes_the_oldest_of_all_within_the_limit() {
    let f = Fixture::new().await;
    let now = f.clock_now();
    let mail_old = f.enqueue_at(&MAIL, "m1", now - secs(3)).await;
    let sms = f.enqueue_at(&SMS, "s1", now - secs(2)).await;
    let mail_new = f.enqueue_at(&MAIL, "m2", now - secs(1)).await;
    let mut conn = f.conn().await;
    // Repeating a topic changes nothing.
    let topics = [SMS, MAIL, MAIL];
    let first = f.outbox.claim(&mut conn, &topics, 2).await.unwrap();
    assert_eq!(ids(&first), [mail_old, sms]);
    let rest = f.outbox.claim(&mut conn, &topics, 10).await.unwrap();
    assert_eq!(ids(&rest), [mail_new]);
    assert!(f.outbox.claim(&mut conn, &[], 10).await.unwrap().is_empty());
}
