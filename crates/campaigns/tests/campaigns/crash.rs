//! The crash window: a worker that dies (or stalls past its lease) after claiming recipients.
//! Nothing it claimed is ever resent; it is charged as unconfirmed and resolved by a person or
//! by the stalled worker's own late settlement.

use std::{collections::HashSet, sync::Arc, time::Duration as StdDuration};

use campaigns::{BatchReport, CampaignStatus, RecipientStatus, Resolution};
use chrono::Duration;
use tokio::sync::Notify;

use crate::common::{FakeTwilio, World, api_error, usd};

/// Waits (bounded) until `twilio` has seen `count` sends.
async fn sends(twilio: &FakeTwilio, count: usize) {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while twilio.sent().len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} sends",
            twilio.sent().len()
        );
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_batch_causes_no_resend() {
    let world = World::new(10_000).await;
    let id = world.started(25, 5).await;
    let dying = FakeTwilio::default();
    let hang = Arc::new(Notify::new());
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let (hang, seen) = (hang.clone(), seen.clone());
        dying.on_send(move |_| {
            let (hang, seen) = (hang.clone(), seen.clone());
            async move {
                // The third call never returns: the worker is killed during it.
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2 {
                    hang.notified().await;
                }
            }
        });
    }
    let dispatcher = world.dispatcher(dying.clone(), 10);
    let task = tokio::spawn(async move { dispatcher.dispatch_batch(id).await });
    sends(&dying, 3).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let claimed: HashSet<String> = {
        let mut conn = world.conn().await;
        world
            .campaigns
            .recipients(
                &mut conn,
                world.organization,
                id,
                Some(RecipientStatus::Sending),
                None,
                100,
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.phone)
            .collect()
    };
    assert_eq!(claimed.len(), 10, "the dead worker's claim stays in place");

    // Another worker, within the lease: it sends the rest, never the claimed ones.
    let healthy = FakeTwilio::default();
    let other = world.dispatcher(healthy.clone(), 10);
    assert!(matches!(
        other.dispatch_batch(id).await.unwrap(),
        BatchReport::Sent(_)
    ));
    assert!(matches!(
        other.dispatch_batch(id).await.unwrap(),
        BatchReport::Sent(_)
    ));
    assert_eq!(
        other.dispatch_batch(id).await.unwrap(),
        BatchReport::Idle,
        "waits for the lease"
    );
    assert_eq!(
        world.summary(id).await.campaign.status,
        CampaignStatus::Running
    );

    // The lease runs out: the claim is recovered as unconfirmed, charged, not resent.
    world.clock.advance(Duration::minutes(6));
    let report = other.run_once().await.unwrap();
    assert_eq!(report.recovered, 10);
    let resent: Vec<_> = healthy
        .recipients()
        .into_iter()
        .filter(|to| claimed.contains(to))
        .collect();
    assert!(resent.is_empty(), "resent {resent:?}");
    assert_eq!(healthy.recipients().len(), 15);
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(
        (summary.recipients.sent, summary.recipients.unconfirmed),
        (15, 10)
    );
    assert_eq!((summary.captured, summary.released), (usd(125), usd(0)));
    world.assert_books(id, 0).await;

    // A person resolves them: two were not sent (refunded), one was.
    let mut conn = world.conn().await;
    let unconfirmed = world
        .campaigns
        .recipients(
            &mut conn,
            world.organization,
            id,
            Some(RecipientStatus::Unconfirmed),
            None,
            100,
        )
        .await
        .unwrap();
    let organization = world.organization;
    for recipient in &unconfirmed[..2] {
        let resolved = world
            .campaigns
            .resolve_unconfirmed(
                &mut conn,
                organization,
                id,
                recipient.id,
                &Resolution::NotSent,
            )
            .await
            .unwrap();
        assert_eq!(
            (resolved.status, resolved.charged),
            (RecipientStatus::Failed, usd(0))
        );
    }
    let sid = "SM0123456789abcdef0123456789abcdef".to_owned();
    let confirmed = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            organization,
            id,
            unconfirmed[2].id,
            &Resolution::Sent {
                twilio_sid: Some(sid.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(confirmed.status, RecipientStatus::Sent);
    assert_eq!(
        (confirmed.charged, confirmed.twilio_sid),
        (usd(5), Some(sid))
    );
    let twice = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            organization,
            id,
            unconfirmed[0].id,
            &Resolution::NotSent,
        )
        .await
        .unwrap_err();
    assert_eq!(twice.code(), "RECIPIENT_NOT_UNCONFIRMED");
    let bad_sid = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            organization,
            id,
            unconfirmed[3].id,
            &Resolution::Sent {
                twilio_sid: Some("SM'; DROP".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad_sid.code(), "VALIDATION_FAILED");
    assert_eq!(world.wallet().await.balance, usd(10_000 - 125 + 10));
    // Refunds are credits beside the captures: the recipients' charges fall by what was refunded.
    world.assert_books(id, -10).await;
}

#[tokio::test]
async fn a_stalled_worker_settling_after_recovery_resolves_what_it_saw() {
    let world = World::new(10_000).await;
    let id = world.started(4, 5).await;
    let slow = FakeTwilio::default();
    let release = Arc::new(Notify::new());
    {
        let release = release.clone();
        slow.on_send(move |_| {
            let release = release.clone();
            async move { release.notified().await }
        });
    }
    // Sent, refused, maybe sent, sent.
    slow.script([
        Ok(()),
        Err(api_error(400, Some(21610))),
        Err(api_error(500, None)),
        Ok(()),
    ]);
    let stalled = world.dispatcher_with(slow.clone(), 10, 1);
    let task = tokio::spawn(async move { stalled.dispatch_batch(id).await });
    sends(&slow, 1).await;

    // Meanwhile the lease runs out and another worker recovers the claim.
    world.clock.advance(Duration::minutes(6));
    let other = world.dispatcher(FakeTwilio::default(), 10);
    assert_eq!(other.run_once().await.unwrap().recovered, 4);
    assert_eq!(world.summary(id).await.recipients.unconfirmed, 4);
    assert_eq!(world.summary(id).await.captured, usd(20));

    // The stalled worker comes back: one send at a time (the 500 stops the batch).
    for _ in 0..3 {
        release.notify_one();
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    let report = task.await.unwrap().unwrap();
    assert!(matches!(report, BatchReport::Sent(_)), "{report:?}");
    let summary = world.summary(id).await;
    // Sent stays charged; refused is refunded; maybe-sent stays unconfirmed; the fourth was never
    // attempted by the stalled worker after the 500, so it is refunded and failed too.
    assert_eq!(summary.recipients.sent, 1);
    assert_eq!(summary.recipients.failed, 2);
    assert_eq!(summary.recipients.unconfirmed, 1);
    assert_eq!(slow.sent().len(), 3);
    assert_eq!(world.wallet().await.balance, usd(10_000 - 10));
    world.assert_books(id, -10).await;
}
