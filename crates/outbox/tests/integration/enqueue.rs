//! Enqueueing: atomic with the caller's transaction, idempotent per (topic, dedupe key), and
//! the table refuses what the types refuse.

use crate::common::*;
use db::schema::outbox_messages;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use outbox::{DedupeKey, Enqueued, Envelope, NewMessage, Status};
use serde_json::json;

async fn count(f: &Fixture) -> i64 {
    let mut conn = f.conn().await;
    outbox_messages::table
        .count()
        .get_result(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_message_and_a_committed_one_does() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let now = f.clock_now();
    let result: Result<(), diesel::result::Error> = conn
        .transaction(async move |conn| {
            outbox::enqueue_raw(conn, message(&MAIL, "rolled-back", now))
                .await
                .unwrap();
            // The state change failed after the message was written.
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(result.is_err());
    assert_eq!(count(&f).await, 0);
    assert!(f.claim(&MAIL, 10).await.is_empty());

    conn.transaction(async move |conn| {
        outbox::enqueue_raw(conn, message(&MAIL, "committed", now))
            .await
            .unwrap();
        Ok::<_, diesel::result::Error>(())
    })
    .await
    .unwrap();
    assert_eq!(count(&f).await, 1);
    assert_eq!(f.claim(&MAIL, 10).await.len(), 1);
}

#[tokio::test]
async fn a_duplicate_changes_nothing_and_keeps_the_callers_transaction_usable() {
    let f = Fixture::new().await;
    let first = f.enqueue(&MAIL, "payment_failed:sub-1:1").await;
    let mut conn = f.conn().await;
    let now = f.clock_now();
    let again = conn
        .transaction(async move |conn| {
            let mut changed = message(&MAIL, "payment_failed:sub-1:1", now + secs(99));
            changed.payload = json!({ "different": true });
            let again = outbox::enqueue_raw(conn, changed).await.unwrap();
            // Still usable: a unique violation would have aborted the transaction.
            let other = outbox::enqueue_raw(conn, message(&MAIL, "other", now))
                .await
                .unwrap();
            assert!(matches!(other, Enqueued::New(_)));
            Ok::<_, diesel::result::Error>(again)
        })
        .await
        .unwrap();
    assert_eq!(again, Enqueued::Duplicate(first));
    assert_eq!(again.id(), first);
    let stored = f.get(first).await;
    assert_eq!(stored.payload, json!({ "key": "payment_failed:sub-1:1" }));
    assert_eq!(stored.next_attempt_at, now);
    assert_eq!(count(&f).await, 2);

    // The same key under another topic is another message.
    let sms = f.enqueue(&SMS, "payment_failed:sub-1:1").await;
    assert_ne!(sms, first);
}

#[tokio::test]
async fn a_delivered_message_is_not_enqueued_again() {
    let f = Fixture::new().await;
    let id = f.enqueue(&MAIL, "once").await;
    let claimed = f.claim_one(&MAIL).await;
    let mut conn = f.conn().await;
    f.outbox.complete(&mut conn, &claimed).await.unwrap();
    let again = outbox::enqueue_raw(&mut conn, message(&MAIL, "once", f.clock_now()))
        .await
        .unwrap();
    assert_eq!(again, Enqueued::Duplicate(id));
    assert_eq!(f.get(id).await.status, Status::Delivered);
    assert!(f.claim(&MAIL, 10).await.is_empty());
}

#[tokio::test]
async fn enqueued_messages_carry_what_was_given() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let at = f.clock_now() + secs(30);
    let new = NewMessage {
        organization_id: Some(f.org),
        max_attempts: 3.try_into().unwrap(),
        ..NewMessage::new(
            SMS,
            DedupeKey::parse("suspend:org-1").unwrap(),
            json!({ "action": "suspend" }),
            at,
        )
    };
    let id = outbox::enqueue_raw(&mut conn, new).await.unwrap().id();
    assert_eq!(id.as_uuid().get_version_num(), 7);
    let stored = f.get(id).await;
    assert_eq!(stored.topic, SMS);
    assert_eq!(stored.dedupe_key.as_str(), "suspend:org-1");
    assert_eq!(stored.organization_id, Some(f.org));
    assert_eq!(stored.payload, json!({ "action": "suspend" }));
    assert_eq!(stored.status, Status::Pending);
    assert_eq!((stored.attempts, stored.max_attempts), (0, 3));
    assert_eq!(stored.next_attempt_at, at);
    assert_eq!(
        (stored.last_error, stored.claimed_until, stored.delivered_at),
        (None, None, None)
    );
}

#[tokio::test]
async fn a_typed_message_is_stored_under_its_type_s_topic() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let at = f.clock_now();
    let mail = Mail {
        key: "typed".to_owned(),
    };
    let envelope = Envelope::new(DedupeKey::parse("typed:1").unwrap(), at).for_organization(f.org);
    let id = outbox::enqueue(&mut conn, &mail, envelope.clone())
        .await
        .unwrap();
    let Enqueued::New(id) = id else {
        panic!("{id:?} should be new");
    };
    let stored = f.get(id).await;
    assert_eq!(stored.topic, MAIL);
    assert_eq!(stored.dedupe_key.as_str(), "typed:1");
    assert_eq!(stored.organization_id, Some(f.org));
    assert_eq!(stored.payload, json!({ "key": "typed" }));
    assert_eq!(stored.max_attempts, 12);
    assert_eq!(
        outbox::enqueue(&mut conn, &mail, envelope).await.unwrap(),
        Enqueued::Duplicate(id)
    );
}

#[tokio::test]
async fn the_table_refuses_rows_the_types_would_refuse() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let valid = "INSERT INTO outbox_messages (id, topic, dedupe_key, payload, status, attempts, \
                 max_attempts, next_attempt_at, delivered_at, claim_token, claimed_until) VALUES \
                 (gen_random_uuid(), 'mail', 'k', '{}', 'pending', 0, 12, now(), NULL, NULL, NULL)";
    diesel::sql_query(valid).execute(&mut conn).await.unwrap();
    let broken = [
        ("'mail'", "'Mail'"),
        ("'mail'", "'mail.'"),
        ("'k'", "''"),
        ("'k'", "'has space'"),
        ("'pending'", "'sent'"),
        ("0, 12", "-1, 12"),
        ("0, 12", "13, 12"),
        ("0, 12", "0, 0"),
        // Delivered needs a delivery time, and a delivery time needs delivered.
        ("'pending', 0", "'delivered', 1"),
        ("NULL, NULL, NULL", "now(), NULL, NULL"),
        // A claim token needs its lease, and the lease is the next attempt time.
        ("NULL, NULL, NULL", "NULL, gen_random_uuid(), NULL"),
        (
            "NULL, NULL, NULL",
            "NULL, gen_random_uuid(), now() + interval '1 minute'",
        ),
        // Only pending messages are claimed.
        ("'pending', 0", "'dead', 1"),
    ];
    for (i, (from, to)) in broken.iter().enumerate() {
        let mut sql = valid
            .replacen(from, to, 1)
            .replace("'k'", &format!("'k{i}'"));
        if i == broken.len() - 1 {
            sql = sql.replace("NULL, NULL)", "gen_random_uuid(), now())");
        }
        assert_ne!(sql, valid, "case {i} changed nothing");
        let result = diesel::sql_query(&sql).execute(&mut conn).await;
        assert!(result.is_err(), "case {i} was accepted: {sql}");
    }
    let unknown_org = format!(
        "INSERT INTO outbox_messages (id, topic, dedupe_key, organization_id, payload, status, \
         max_attempts, next_attempt_at) VALUES (gen_random_uuid(), 'mail', 'o', '{}', '{{}}', \
         'pending', 12, now())",
        uuid::Uuid::now_v7()
    );
    assert!(
        diesel::sql_query(unknown_org)
            .execute(&mut conn)
            .await
            .is_err()
    );
}
