//! Real races: several workers on their own connections claim from one outbox at once.

use std::{collections::HashSet, sync::Arc};

use crate::common::*;
use db::schema::outbox_messages;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use outbox::{MessageId, Settlement};
use tokio::sync::Barrier;

const MESSAGES: usize = 200;
const WORKERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_workers_never_share_a_message_and_deliver_each_exactly_once() {
    let f = Arc::new(Fixture::new().await);
    for i in 0..MESSAGES {
        f.enqueue(&MAIL, &format!("race-{i}")).await;
    }
    let start = Arc::new(Barrier::new(WORKERS));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let f = Arc::clone(&f);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                let mut conn = f.conn().await;
                let mut delivered: Vec<MessageId> = Vec::new();
                start.wait().await;
                loop {
                    let batch = f
                        .outbox
                        .claim(&mut conn, std::slice::from_ref(&MAIL), 7)
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return delivered;
                    }
                    for message in batch {
                        let settled = f.outbox.complete(&mut conn, &message).await.unwrap();
                        assert_eq!(settled, Settlement::Delivered, "{}", message.id);
                        delivered.push(message.id);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), MESSAGES, "every message delivered once");
    assert_eq!(distinct.len(), MESSAGES, "no message delivered twice");

    let mut conn = f.conn().await;
    let rows: Vec<(String, i32)> = outbox_messages::table
        .select((outbox_messages::status, outbox_messages::attempts))
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), MESSAGES);
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "delivered" && *attempts == 1)
    );
}
