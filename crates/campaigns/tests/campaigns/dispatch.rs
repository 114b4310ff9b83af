//! The dispatcher: every recipient at most once, charged only for what Twilio accepted, pauses
//! effective within one batch, two workers on one campaign.

use std::{collections::HashSet, sync::Arc};

use campaigns::{
    BatchReport, CampaignId, CampaignStatus, Dispatcher, PauseReason, RecipientStatus,
};
use chrono::Duration;
use db::schema::campaign_batches;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use ledger::FreezeSource;
use twilio::{MessageSender, Sender};

use crate::common::{FakeTwilio, SID, World, api_error, usd};

/// Dispatches batches until the campaign stops producing them.
pub async fn drain<S: MessageSender>(
    dispatcher: &Dispatcher<S>,
    id: CampaignId,
) -> Vec<BatchReport> {
    let mut reports = Vec::new();
    loop {
        let report = dispatcher.dispatch_batch(id).await.unwrap();
        let more = matches!(report, BatchReport::Sent(_));
        reports.push(report);
        if !more {
            return reports;
        }
    }
}

#[tokio::test]
async fn a_campaign_is_sent_once_per_recipient_and_charged_for_what_was_accepted() {
    let world = World::new(10_000).await;
    let id = world.started(25, 5).await;
    let twilio = FakeTwilio::default();
    // The third message is refused by Twilio (invalid number): failed, free.
    twilio.script([Ok(()), Ok(()), Err(api_error(400, Some(21211)))]);
    let dispatcher = world.dispatcher(twilio.clone(), 10);
    let reports = drain(&dispatcher, id).await;
    assert_eq!(reports.len(), 4, "3 batches of at most 10, then nothing");
    assert!(
        matches!(reports[2], BatchReport::Sent(c) if c.completed && c.sent == 5),
        "{reports:?}"
    );
    assert_eq!(reports[3], BatchReport::Idle);

    let sent = twilio.sent();
    assert_eq!(sent.len(), 25);
    let distinct: HashSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(distinct.len(), 25);
    for message in &sent {
        assert_eq!(
            message.account_sid.as_deref(),
            Some(SID),
            "sent through the brand's subaccount"
        );
        assert_eq!(message.from, Sender::From("+14155550199".into()));
        assert_eq!(message.body, "Spring sale: 20% off today");
    }
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(
        (summary.recipients.sent, summary.recipients.failed),
        (24, 1)
    );
    assert_eq!(summary.held, usd(125));
    assert_eq!(summary.captured, usd(120));
    assert_eq!(summary.released, usd(5));
    let wallet = world.wallet().await;
    assert_eq!((wallet.balance, wallet.held), (usd(9_880), usd(0)));
    world.assert_books(id, 0).await;

    let mut conn = world.conn().await;
    let failed = world
        .campaigns
        .recipients(
            &mut conn,
            world.organization,
            id,
            Some(RecipientStatus::Failed),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].error_code, failed[0].charged),
        (Some(21211), usd(0))
    );
    let sent = world
        .campaigns
        .recipients(
            &mut conn,
            world.organization,
            id,
            Some(RecipientStatus::Sent),
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(sent[0].charged, usd(5));
    assert_eq!(
        sent[0].twilio_price.as_deref(),
        Some("-0.00790"),
        "Twilio's price beside ours"
    );
    assert!(
        sent[0]
            .twilio_sid
            .as_deref()
            .is_some_and(|sid| sid.starts_with("SM"))
    );
    // Nothing is left for a later run.
    assert!(!dispatcher.run_once().await.unwrap().did_work());
    assert_eq!(twilio.sent().len(), 25);
}

#[tokio::test]
async fn a_pause_mid_dispatch_stops_within_one_batch_and_nothing_unsent_is_charged() {
    let world = World::new(10_000).await;
    let id = world.started(50, 5).await;
    let twilio = FakeTwilio::default();
    let (pool, campaigns, organization) = (
        world.pool.clone(),
        world.campaigns.clone(),
        world.organization,
    );
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    twilio.on_send(move |_| {
        let (pool, campaigns, count) = (pool.clone(), campaigns.clone(), count.clone());
        async move {
            // A person pauses while the first batch is in flight.
            if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 4 {
                let mut conn = pool.get().await.unwrap();
                campaigns.pause(&mut conn, organization, id).await.unwrap();
            }
        }
    });
    let dispatcher = world.dispatcher(twilio.clone(), 10);
    let first = dispatcher.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(first, BatchReport::Sent(c) if c.sent == 10),
        "{first:?}"
    );
    assert_eq!(
        dispatcher.dispatch_batch(id).await.unwrap(),
        BatchReport::Idle
    );
    assert!(!dispatcher.run_once().await.unwrap().did_work());
    assert_eq!(
        twilio.sent().len(),
        10,
        "stopped within the batch in flight"
    );

    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.pause_reason, Some(PauseReason::Manual));
    assert_eq!(
        (summary.recipients.sent, summary.recipients.pending),
        (10, 40)
    );
    assert_eq!(summary.captured, usd(50));
    assert_eq!(
        summary.released,
        usd(200),
        "released once the in-flight batch settled"
    );
    assert_eq!(world.wallet().await.held, usd(0));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn two_workers_on_one_campaign_send_each_recipient_once() {
    let world = World::new(100_000).await;
    let id = world.started(300, 3).await;
    let twilio = FakeTwilio::default();
    // Slow sends let the two workers' batches overlap.
    twilio.on_send(|_| tokio::time::sleep(std::time::Duration::from_millis(2)));
    let worker = |name: &str| {
        let mut dispatcher = world.dispatcher(twilio.clone(), 10);
        let mut config = dispatcher.config().clone();
        config.worker = name.to_owned();
        dispatcher = Dispatcher::new(
            world.pool.clone(),
            world.campaigns.clone(),
            twilio.clone(),
            config,
        );
        dispatcher
    };
    let (a, b) = (worker("worker-a"), worker("worker-b"));
    let (ra, rb) = tokio::join!(drain(&a, id), drain(&b, id));
    assert!(ra.len() > 1 && rb.len() > 1, "both workers dispatched");

    let sent = twilio.recipients();
    assert_eq!(sent.len(), 300);
    let distinct: HashSet<&String> = sent.iter().collect();
    assert_eq!(distinct.len(), 300, "no recipient sent twice");
    let mut conn = world.conn().await;
    let workers: Vec<String> = campaign_batches::table
        .filter(campaign_batches::campaign_id.eq(id.as_uuid()))
        .select(campaign_batches::worker)
        .distinct()
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(workers.len(), 2, "both claimed batches: {workers:?}");
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(summary.recipients.sent, 300);
    assert_eq!((summary.captured, summary.released), (usd(900), usd(0)));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_frozen_wallet_pauses_the_running_campaign_at_the_next_batch_and_unfreezing_resumes() {
    let world = World::new(10_000).await;
    let id = world.started(30, 5).await;
    let twilio = FakeTwilio::default();
    let dispatcher = world.dispatcher(twilio.clone(), 10);
    dispatcher.dispatch_batch(id).await.unwrap();
    world.set_frozen(FreezeSource::Admin, true).await;
    match dispatcher.dispatch_batch(id).await.unwrap() {
        BatchReport::Paused(blockers) => {
            assert_eq!(blockers.len(), 1);
            assert_eq!(blockers[0].reason(), PauseReason::WalletFrozen);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(twilio.sent().len(), 10);
    let summary = world.summary(id).await;
    assert_eq!(
        summary.campaign.pause_reason,
        Some(PauseReason::WalletFrozen)
    );
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(50), usd(100), usd(0))
    );
    world.assert_books(id, 0).await;

    let mut conn = world.conn().await;
    assert_eq!(
        world
            .campaigns
            .resume_if_eligible(&mut conn, world.organization)
            .await
            .unwrap(),
        0,
        "still frozen"
    );
    world.set_frozen(FreezeSource::Admin, false).await;
    // Nothing announces an unfreeze: the periodic sweep finds the campaign.
    assert_eq!(
        campaigns::organizations_with_billing_pauses(&mut conn)
            .await
            .unwrap(),
        [world.organization]
    );
    assert_eq!(
        world
            .campaigns
            .resume_if_eligible(&mut conn, world.organization)
            .await
            .unwrap(),
        1
    );
    drain(&dispatcher, id).await;
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(summary.recipients.sent, 30);
    assert_eq!(twilio.recipients().len(), 30);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_long_campaign_renews_its_hold_between_batches() {
    // Exactly the campaign's cost: the renewal must count the old hold's money as available.
    let world = World::new(100).await;
    let id = world.started(20, 5).await;
    let twilio = FakeTwilio::default();
    let dispatcher = world.dispatcher(twilio.clone(), 10);
    dispatcher.dispatch_batch(id).await.unwrap();
    let first_hold = world.summary(id).await.campaign.hold_id;
    // Within a day of the 7-day hold's deadline: renewed before the next batch.
    world.clock.advance(Duration::days(6) + Duration::hours(1));
    dispatcher.dispatch_batch(id).await.unwrap();
    let summary = world.summary(id).await;
    assert_ne!(summary.campaign.hold_id, first_hold);
    assert_eq!(summary.campaign.hold_seq, 2);
    drain(&dispatcher, id).await;
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(
        (summary.held, summary.captured, summary.released),
        (usd(150), usd(100), usd(50))
    );
    assert_eq!(twilio.recipients().len(), 20);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn trouble_at_twilio_stops_the_batch_and_the_campaign_waits() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let twilio = FakeTwilio::default();
    // Sent, then rate limited (never processed), then a 503 (maybe processed).
    twilio.script([Ok(()), Err(api_error(429, Some(20429)))]);
    let dispatcher = world.dispatcher_with(twilio.clone(), 10, 1);
    match dispatcher.dispatch_batch(id).await.unwrap() {
        BatchReport::Sent(counts) => {
            assert_eq!(
                (counts.sent, counts.returned, counts.unconfirmed),
                (1, 9, 0)
            );
            assert_eq!(counts.charged, 5);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        twilio.sent().len(),
        2,
        "the rest of the batch was not attempted"
    );
    assert_eq!(
        dispatcher.dispatch_batch(id).await.unwrap(),
        BatchReport::Idle,
        "backing off"
    );

    world.clock.advance(Duration::seconds(31));
    twilio.script([Err(api_error(503, None))]);
    match dispatcher.dispatch_batch(id).await.unwrap() {
        BatchReport::Sent(counts) => assert_eq!((counts.unconfirmed, counts.returned), (1, 8)),
        other => panic!("{other:?}"),
    }
    world.clock.advance(Duration::seconds(31));
    drain(&dispatcher, id).await;
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(
        (summary.recipients.sent, summary.recipients.unconfirmed),
        (9, 1)
    );
    // The rate-limited recipient was tried again (Twilio never processed the 429) and got the
    // 503; after that it is never tried again, and nobody else is tried twice.
    let sent = twilio.sent();
    assert_eq!(sent.len(), 11);
    let retried = &sent[1].to;
    assert_eq!(&sent[2].to, retried);
    assert_eq!(sent.iter().filter(|m| &m.to == retried).count(), 2);
    let distinct: HashSet<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(distinct.len(), 10);
    let mut conn = world.conn().await;
    let unconfirmed = world
        .campaigns
        .recipients(
            &mut conn,
            world.organization,
            id,
            Some(RecipientStatus::Unconfirmed),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(unconfirmed.len(), 1);
    assert_eq!(
        (&unconfirmed[0].phone, unconfirmed[0].attempts),
        (retried, 2)
    );
    assert_eq!(unconfirmed[0].charged, usd(5));
    assert_eq!(
        summary.captured,
        usd(50),
        "nine sent and one maybe sent are charged"
    );
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_cancel_during_a_batch_leaves_nothing_pending() {
    let world = World::new(10_000).await;
    let id = world.started(6, 5).await;
    let twilio = FakeTwilio::default();
    let (pool, campaigns, organization) = (
        world.pool.clone(),
        world.campaigns.clone(),
        world.organization,
    );
    twilio.on_send(move |message| {
        let (pool, campaigns) = (pool.clone(), campaigns.clone());
        let first = message.to.ends_with("0000000");
        async move {
            if first {
                let mut conn = pool.get().await.unwrap();
                campaigns.cancel(&mut conn, organization, id).await.unwrap();
            }
        }
    });
    // The second send is rate limited: it stops the batch and would go back to pending.
    twilio.script([Ok(()), Err(api_error(429, None))]);
    let dispatcher = world.dispatcher_with(twilio.clone(), 10, 1);
    dispatcher.dispatch_batch(id).await.unwrap();
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Canceled);
    assert_eq!(
        (summary.recipients.sent, summary.recipients.canceled),
        (1, 5)
    );
    assert_eq!(summary.recipients.pending, 0);
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(5), usd(25), usd(0))
    );
    assert_eq!(world.wallet().await.held, usd(0));
    world.assert_books(id, 0).await;
}
