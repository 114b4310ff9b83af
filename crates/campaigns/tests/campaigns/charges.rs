//! A settled batch's charge is booked after the settlement's commit, through the ledger's
//! batching writer: a worker that dies (or stalls) in between leaves it due, and it is booked
//! exactly once, by the worker or by recovery; the hold waits for it; a freeze in between
//! does not stop its capture; a resolution in between books it first; money moved after the
//! charge was recorded as uncharged is given back.

use std::time::Duration as StdDuration;

use campaigns::{
    BatchReport, CampaignId, CampaignStatus, DispatchConfig, Dispatcher, RecipientStatus,
    Resolution,
};
use chrono::Duration;
use db::schema::{campaign_batches, ledger_entries};
use diesel::{ExpressionMethods, QueryDsl, TextExpressionMethods};
use diesel_async::RunQueryDsl;
use ledger::{Actor, FreezeSource, Reference, ReleaseRequest};

use crate::common::{FakeTwilio, World, api_error, charged_total, usd};

/// A batch's charge as stored: its state, what is due, what was booked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Charge {
    state: Option<String>,
    due: i64,
    captured: i64,
}

async fn charges(world: &World, id: CampaignId) -> Vec<Charge> {
    let mut conn = world.conn().await;
    campaign_batches::table
        .filter(campaign_batches::campaign_id.eq(id.as_uuid()))
        .order(campaign_batches::claimed_at.asc())
        .select((
            campaign_batches::charge_state,
            campaign_batches::charge_due,
            campaign_batches::captured,
        ))
        .load::<(Option<String>, i64, i64)>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(state, due, captured)| Charge {
            state,
            due,
            captured,
        })
        .collect()
}

async fn charged(world: &World, id: CampaignId) -> i64 {
    let mut conn = world.conn().await;
    charged_total(&mut conn, id).await
}

fn charge(state: &str, due: i64, captured: i64) -> Charge {
    Charge {
        state: Some(state.to_owned()),
        due,
        captured,
    }
}

/// The ledger entries of the campaign's batches (`campaign:{id}:batch:...`): the reference's
/// suffix after the batch id (`""`, `":void"`), the kind and the amount, in ledger order.
async fn batch_entries(world: &World, id: CampaignId) -> Vec<(String, String, i64)> {
    let mut conn = world.conn().await;
    let prefix = format!("campaign:{id}:batch:");
    ledger_entries::table
        .filter(ledger_entries::reference.like(format!("{prefix}%")))
        .order(ledger_entries::seq.asc())
        .select((
            ledger_entries::reference,
            ledger_entries::kind,
            ledger_entries::amount,
        ))
        .load::<(String, String, i64)>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(reference, kind, amount)| {
            // `campaign:{id}:batch:{uuid}` then the suffix; a uuid is 36 characters.
            let suffix = reference[prefix.len() + 36..].to_owned();
            (suffix, kind, amount)
        })
        .collect()
}

fn entry(suffix: &str, kind: &str, amount: i64) -> (String, String, i64) {
    (suffix.to_owned(), kind.to_owned(), amount)
}

/// How many entries the campaign's hold releases wrote.
async fn releases(world: &World, id: CampaignId) -> usize {
    let mut conn = world.conn().await;
    ledger_entries::table
        .filter(ledger_entries::reference.like(format!("campaign:{id}:release:%")))
        .select(ledger_entries::id)
        .load::<uuid::Uuid>(&mut conn)
        .await
        .unwrap()
        .len()
}

/// Waits (bounded) until `check` holds.
async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

/// Waits until the campaign's (first) batch is settled with its charge due.
async fn settled_with_charge_due(world: &World, id: CampaignId) {
    until("a charge due", || async {
        charges(world, id)
            .await
            .iter()
            .any(|c| c.state.as_deref() == Some("due"))
    })
    .await;
}

/// An operator closes the campaign's hold with the ledger directly, behind the dispatcher's
/// back (the api refuses to).
async fn release_behind_the_back(world: &World, id: CampaignId) {
    let hold_id = world.summary(id).await.campaign.hold_id.unwrap();
    let mut conn = world.conn().await;
    let wallet_id = world.wallet_id(&mut conn).await;
    world
        .ledger
        .release(
            &mut conn,
            ReleaseRequest {
                wallet_id,
                hold_id,
                reference: Reference::parse("operator-release").unwrap(),
                actor: Actor::admin(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_charge_left_due_by_a_crash_is_booked_once_by_recovery() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let twilio = FakeTwilio::default();
    // The second number is refused (free): 9 x 5 is charged, 5 of the 50 held is given back.
    twilio.script([Ok(()), Err(api_error(400, Some(21211)))]);
    // The worker's booking never happens: as if it died right after the settlement's commit.
    let crashed = world
        .dispatcher(twilio.clone(), 10)
        .with_writer(world.broken_writer());
    let report = crashed.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c)
            if c.sent == 9 && c.failed == 1 && c.charged == 0 && c.charge_due == 45 && !c.completed),
        "{report:?}"
    );
    // Nothing is left to send, but it completes (and gives its hold back) only once charged.
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Running);
    assert_eq!(summary.recipients.pending + summary.recipients.sending, 0);
    assert!(
        summary.campaign.hold_id.is_some(),
        "the hold waits for the charge"
    );
    assert_eq!((summary.captured, summary.reserved), (usd(0), usd(50)));
    // Durable: the recipients' charges are in the books as due.
    assert_eq!(charged(&world, id).await, 45);
    assert_eq!(charges(&world, id).await, vec![charge("due", 45, 0)]);
    assert!(batch_entries(&world, id).await.is_empty());

    // Recovery leaves it to its worker for the grace period, then books it, once.
    let recovery = world.dispatcher(FakeTwilio::default(), 10);
    assert_eq!(recovery.run_once().await.unwrap().charges, 0);
    assert_eq!(charges(&world, id).await, vec![charge("due", 45, 0)]);
    world.clock.advance(Duration::seconds(6));
    assert_eq!(recovery.run_once().await.unwrap().charges, 1);
    world.clock.advance(Duration::seconds(6));
    assert_eq!(recovery.run_once().await.unwrap().charges, 0);
    assert_eq!(
        world
            .dispatcher(FakeTwilio::default(), 10)
            .run_once()
            .await
            .unwrap()
            .charges,
        0
    );

    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 45)]
    );
    assert_eq!(charges(&world, id).await, vec![charge("captured", 0, 45)]);
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(45), usd(5), usd(0))
    );
    assert_eq!(summary.campaign.hold_id, None);
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!(world.wallet().await.balance, usd(10_000 - 45));
    assert_eq!(twilio.sent().len(), 10, "nothing resent");
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_capture_applied_just_before_the_crash_is_replayed_not_taken_twice() {
    let world = World::new(10_000).await;
    let id = world.started(20, 5).await;
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher(FakeTwilio::default(), 10)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;
    // The capture is on its way to the ledger when the worker dies: the ledger applies it, the
    // worker never records it.
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    stalled.resume();
    until("the capture applied", || async {
        !batch_entries(&world, id).await.is_empty()
    })
    .await;
    assert_eq!(charges(&world, id).await, vec![charge("due", 50, 0)]);

    // Meanwhile the campaign goes on: the hold still covers the next batch (the charge due is
    // already taken from it, and must not count twice).
    let other = world.dispatcher(FakeTwilio::default(), 10);
    let next = other.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(next, BatchReport::Sent(c) if c.sent == 10 && c.charged == 50 && !c.completed),
        "{next:?}"
    );

    world.clock.advance(Duration::seconds(6));
    let recovery = world.dispatcher(FakeTwilio::default(), 10);
    assert_eq!(recovery.run_once().await.unwrap().charges, 1);
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 50), entry("", "capture", 50)],
        "the recovery's capture is a replay"
    );
    assert_eq!(
        charges(&world, id).await,
        vec![charge("captured", 0, 50), charge("captured", 0, 50)]
    );
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    assert_eq!((summary.captured, summary.reserved), (usd(100), usd(0)));
    assert_eq!(world.wallet().await.balance, usd(10_000 - 100));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_stalled_worker_and_recovery_booking_one_charge_at_once_book_it_once() {
    let world = World::new(10_000).await;
    // The worker comes back with recovery already under way, at once, or after it: who books
    // first varies, each round books once.
    let mut recovery_first = 0;
    for (round, delay) in [0u64, 2, 5, 20, 100].into_iter().enumerate() {
        let id = world.started(10, 5).await;
        let twilio = FakeTwilio::default();
        twilio.script([Ok(()), Err(api_error(400, Some(21211)))]);
        let stalled = world.stalled_writer().await;
        let worker = world
            .dispatcher(twilio, 10)
            .with_writer(stalled.writer.clone());
        let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
        settled_with_charge_due(&world, id).await;
        // The worker stalls past the grace period: recovery takes the charge over, and the
        // worker comes back meanwhile. Both book it, on two connections, for real.
        world.clock.advance(Duration::seconds(6));
        let recoveries: Vec<_> = (0..3)
            .map(|_| world.dispatcher(FakeTwilio::default(), 10))
            .collect();
        let (reports, ()) = tokio::join!(
            futures::future::join_all(recoveries.iter().map(|r| r.run_once())),
            async {
                tokio::time::sleep(StdDuration::from_millis(delay)).await;
                stalled.resume();
            }
        );
        let booked: usize = reports.into_iter().map(|r| r.unwrap().charges).sum();
        assert!(
            booked <= 1,
            "round {round}: recorded {booked} times by recovery"
        );
        recovery_first += booked;
        let report = task.await.unwrap().unwrap();
        // Whoever recorded it, both saw it paid.
        assert!(
            matches!(report, BatchReport::Sent(c) if c.charged == 45 && c.charge_due == 0),
            "round {round}: {report:?}"
        );

        assert_eq!(
            batch_entries(&world, id).await,
            vec![entry("", "capture", 45)],
            "round {round}"
        );
        assert_eq!(
            charges(&world, id).await,
            vec![charge("captured", 0, 45)],
            "round {round}"
        );
        assert_eq!(releases(&world, id).await, 1, "round {round}");
        let summary = world.summary(id).await;
        assert_eq!(
            (summary.captured, summary.released, summary.reserved),
            (usd(45), usd(5), usd(0)),
            "round {round}"
        );
        world.assert_books(id, 0).await;
    }
    assert_eq!(world.wallet().await.balance, usd(10_000 - 5 * 45));
    eprintln!("recovery recorded first in {recovery_first} of 5 rounds");
}

#[tokio::test]
async fn a_campaign_whose_last_charge_is_due_completes_and_releases_its_hold_once_captured() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let twilio = FakeTwilio::default();
    twilio.script([Ok(()), Err(api_error(400, Some(21211)))]);
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher(twilio, 10)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;

    // Everything was sent, but the hold still pays for the charge due: the campaign is not
    // completed yet (a completed campaign holds nothing) and keeps its hold.
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Running);
    assert_eq!(summary.recipients.pending + summary.recipients.sending, 0);
    assert!(summary.campaign.hold_id.is_some());
    assert_eq!((summary.captured, summary.reserved), (usd(0), usd(50)));
    // Another worker meanwhile (within the grace period) completes and releases nothing.
    let other = world.dispatcher(FakeTwilio::default(), 10);
    other.run_once().await.unwrap();
    assert_eq!(other.dispatch_batch(id).await.unwrap(), BatchReport::Idle);
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Running);
    assert_eq!(summary.reserved, usd(50));
    assert_eq!(releases(&world, id).await, 0);

    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.charged == 45 && c.completed),
        "{report:?}"
    );
    // Captured from the hold (not a fallback debit), then the rest released.
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 45)]
    );
    assert_eq!(releases(&world, id).await, 1);
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(45), usd(5), usd(0))
    );
    assert_eq!(summary.campaign.hold_id, None);
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_campaign_canceled_while_its_charge_is_due_releases_its_hold_once_captured() {
    let world = World::new(10_000).await;
    let id = world.started(20, 5).await;
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher(FakeTwilio::default(), 10)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;

    // Canceled at once, but the hold still has to pay for the charge due.
    let mut conn = world.conn().await;
    let canceled = world
        .campaigns
        .cancel(&mut conn, world.organization, id)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(canceled.status, CampaignStatus::Canceled);
    let summary = world.summary(id).await;
    assert_eq!(summary.recipients.canceled, 10);
    assert!(summary.campaign.hold_id.is_some());
    assert_eq!((summary.captured, summary.reserved), (usd(0), usd(100)));
    assert_eq!(releases(&world, id).await, 0);

    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.charged == 50),
        "{report:?}"
    );
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 50)]
    );
    assert_eq!(releases(&world, id).await, 1);
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(50), usd(50), usd(0))
    );
    assert_eq!(summary.campaign.hold_id, None);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_wallet_frozen_between_the_settlement_and_the_booking_still_captures() {
    let world = World::new(10_000).await;
    let id = world.started(20, 5).await;
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher(FakeTwilio::default(), 10)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;
    world.set_frozen(FreezeSource::Admin, true).await;

    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.sent == 10 && c.charged == 50),
        "{report:?}"
    );
    // The money was reserved before the freeze for messages already sent: captured.
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 50)]
    );
    assert_eq!(charges(&world, id).await, vec![charge("captured", 0, 50)]);
    let wallet = world.wallet().await;
    assert!(wallet.frozen);
    assert_eq!((wallet.balance, wallet.held), (usd(10_000 - 50), usd(50)));
    assert_eq!(charged(&world, id).await, 50);
    world.assert_books(id, 0).await;

    // The freeze stops what comes next, and the hold is released: nothing is due any more.
    let next = world
        .dispatcher(FakeTwilio::default(), 10)
        .dispatch_batch(id)
        .await
        .unwrap();
    assert!(matches!(next, BatchReport::Paused(_)), "{next:?}");
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(50), usd(50), usd(0))
    );
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_resolution_while_the_charge_is_due_books_it_first_and_refunds_only_what_was_taken() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let twilio = FakeTwilio::default();
    // Sent, then maybe sent (500: the batch stops, the rest go back to pending): 10 due.
    twilio.script([Ok(()), Err(api_error(500, None))]);
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher_with(twilio, 10, 1)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;
    assert_eq!(charges(&world, id).await, vec![charge("due", 10, 0)]);

    // Behind the dispatcher's back the hold is closed and the wallet frozen: nothing can pay.
    release_behind_the_back(&world, id).await;
    world.set_frozen(FreezeSource::Admin, true).await;
    // A person resolves the maybe-sent one as not sent, before the worker booked the charge.
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
    let resolved = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            world.organization,
            id,
            unconfirmed[0].id,
            &Resolution::NotSent,
        )
        .await
        .unwrap();
    drop(conn);
    // The resolution booked the charge first: nothing could pay, so there is nothing to refund.
    assert_eq!(
        (resolved.status, resolved.charged),
        (RecipientStatus::Failed, usd(0))
    );
    assert_eq!(charges(&world, id).await, vec![charge("uncharged", 0, 0)]);

    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.charged == 0 && c.charge_due == 0),
        "{report:?}"
    );
    assert!(batch_entries(&world, id).await.is_empty());
    assert_eq!(charges(&world, id).await, vec![charge("uncharged", 0, 0)]);
    // No money moved: neither a charge nor a refund of money never taken.
    assert_eq!(world.wallet().await.balance, usd(10_000));
    assert_eq!(charged(&world, id).await, 0);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn money_moved_after_the_charge_was_recorded_uncharged_is_given_back() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let stalled = world.stalled_writer().await;
    let worker = world
        .dispatcher(FakeTwilio::default(), 10)
        .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;

    // Nothing can pay: the hold closed behind the dispatcher's back, the wallet frozen.
    // Recovery takes the stalled worker's charge over and records it as uncharged.
    release_behind_the_back(&world, id).await;
    world.set_frozen(FreezeSource::Admin, true).await;
    world.clock.advance(Duration::seconds(6));
    let recovery = world.dispatcher(FakeTwilio::default(), 10);
    assert_eq!(recovery.run_once().await.unwrap().charges, 1);
    assert_eq!(charges(&world, id).await, vec![charge("uncharged", 0, 0)]);
    assert_eq!(charged(&world, id).await, 0);

    // The wallet is unfrozen, and the stalled worker's own booking goes through as a debit.
    world.set_frozen(FreezeSource::Admin, false).await;
    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.charged == 0),
        "{report:?}"
    );
    // What was recorded stands: the debit is given back.
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "debit", 50), entry(":void", "credit", 50)]
    );
    assert_eq!(charges(&world, id).await, vec![charge("uncharged", 0, 0)]);
    assert_eq!(world.wallet().await.balance, usd(10_000));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_hold_is_not_renewed_while_a_charge_on_it_is_due() {
    let world = World::new(10_000).await;
    let id = world.started(20, 5).await;
    let first_hold = world.summary(id).await.campaign.hold_id;
    let stalled = world.stalled_writer().await;
    // A settling worker that recovery leaves its charge to for long (a long grace).
    let config = DispatchConfig {
        batch_size: 10,
        charge_grace: Duration::days(30),
        ..DispatchConfig::default()
    };
    let worker = Dispatcher::new(
        world.pool.clone(),
        world.campaigns.clone(),
        FakeTwilio::default(),
        config,
    )
    .with_writer(stalled.writer.clone());
    let task = tokio::spawn(async move { worker.dispatch_batch(id).await });
    settled_with_charge_due(&world, id).await;

    // The hold comes within a day of its deadline: the next claim would renew it, releasing
    // it. With a charge due on it, the claim waits instead.
    world.clock.advance(Duration::days(6) + Duration::hours(1));
    let other = world.dispatcher(FakeTwilio::default(), 10);
    assert_eq!(other.dispatch_batch(id).await.unwrap(), BatchReport::Idle);
    assert_eq!(world.summary(id).await.campaign.hold_id, first_hold);
    assert_eq!(releases(&world, id).await, 0);

    stalled.resume();
    let report = task.await.unwrap().unwrap();
    assert!(
        matches!(report, BatchReport::Sent(c) if c.charged == 50),
        "{report:?}"
    );
    // Now it renews and sends the rest.
    let next = other.dispatch_batch(id).await.unwrap();
    assert!(
        matches!(next, BatchReport::Sent(c) if c.sent == 10 && c.completed),
        "{next:?}"
    );
    let summary = world.summary(id).await;
    assert_ne!(summary.campaign.hold_id, first_hold);
    assert_eq!(summary.campaign.status, CampaignStatus::Completed);
    // Both batches captured from their holds: the first one's charge was not pushed to a
    // fallback debit by a renewal.
    assert_eq!(
        batch_entries(&world, id).await,
        vec![entry("", "capture", 50), entry("", "capture", 50)]
    );
    assert_eq!(
        (summary.captured, summary.released, summary.reserved),
        (usd(100), usd(50), usd(0))
    );
    world.assert_books(id, 0).await;
}
