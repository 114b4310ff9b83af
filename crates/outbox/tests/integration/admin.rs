//! Operator tools: listing with filters and pages, counts per topic and status.

use crate::common::*;
use outbox::{HandlerError, ListFilter, NewMessage, Status, StatusCount, Topic};

#[tokio::test]
async fn lists_filter_by_status_topic_and_organization_newest_first_in_pages() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    let a = f.enqueue(&MAIL, "a").await;
    let b = f.enqueue(&MAIL, "b").await;
    let with_org = NewMessage {
        organization_id: Some(f.org),
        ..message(&SMS, "c", f.clock_now())
    };
    let c = outbox::enqueue_raw(&mut conn, with_org).await.unwrap().id();
    let claimed = f.claim(&MAIL, 10).await;
    let doomed = claimed.iter().find(|m| m.id == a).unwrap();
    f.outbox
        .fail(&mut conn, doomed, &HandlerError::permanent("550"))
        .await
        .unwrap();

    let ids = |messages: Vec<outbox::OutboxMessage>| {
        messages.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    let all = outbox::list(&mut conn, &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(ids(all), [c, b, a]);
    let dead = outbox::list(&mut conn, &ListFilter::dead_letters(10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].status), (a, Status::Dead));
    assert_eq!(dead[0].last_error.as_deref(), Some("550"));
    let mail = ListFilter {
        topic: Some(MAIL),
        ..ListFilter::default()
    };
    assert_eq!(ids(outbox::list(&mut conn, &mail).await.unwrap()), [b, a]);
    let pending_mail = ListFilter {
        status: Some(Status::Pending),
        ..mail.clone()
    };
    let pending = outbox::list(&mut conn, &pending_mail).await.unwrap();
    assert_eq!(ids(pending.clone()), [b]);
    assert_eq!(pending[0].claimed_until, Some(f.clock_now() + secs(60)));
    let of_org = ListFilter {
        organization_id: Some(f.org),
        ..ListFilter::default()
    };
    assert_eq!(ids(outbox::list(&mut conn, &of_org).await.unwrap()), [c]);

    let first_page = outbox::list(&mut conn, &ListFilter::default().with_limit(2))
        .await
        .unwrap();
    assert_eq!(ids(first_page), [c, b]);
    let next = ListFilter {
        before: Some(b),
        ..ListFilter::default().with_limit(2)
    };
    assert_eq!(ids(outbox::list(&mut conn, &next).await.unwrap()), [a]);
}

#[tokio::test]
async fn counts_group_by_topic_and_status() {
    let f = Fixture::new().await;
    let mut conn = f.conn().await;
    for key in ["1", "2", "3"] {
        f.enqueue(&MAIL, key).await;
    }
    f.enqueue(&SMS, "1").await;
    let claimed = f.claim(&MAIL, 2).await;
    f.outbox.complete(&mut conn, &claimed[0]).await.unwrap();
    f.outbox
        .fail(&mut conn, &claimed[1], &HandlerError::permanent("no"))
        .await
        .unwrap();
    let count = |topic: &Topic, status, count| StatusCount {
        topic: topic.clone(),
        status,
        count,
    };
    assert_eq!(
        outbox::counts(&mut conn).await.unwrap(),
        [
            count(&MAIL, Status::Dead, 1),
            count(&MAIL, Status::Delivered, 1),
            count(&MAIL, Status::Pending, 1),
            count(&SMS, Status::Pending, 1),
        ]
    );
}
