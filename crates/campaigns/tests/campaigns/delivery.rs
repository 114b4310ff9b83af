//! Delivery reports (status callbacks, already verified): the status only moves forward, late
//! and repeated reports change nothing, an unconfirmed recipient is resolved by the first report
//! (a refund at most once), refusals change nothing, and the summary counts deliveries.

use campaigns::{
    Change, Delivery, DeliveryError, DeliveryReport, DeliveryStatus, Recipient, RecipientStatus,
    Resolution,
};

use crate::common::{FakeTwilio, SID, World, api_error};

pub const COST: i64 = 5;

/// A started campaign of `count` recipients dispatched through a fake Twilio that answers each
/// send with `answers` in order (then success).
pub async fn dispatched(
    world: &World,
    count: usize,
    answers: Vec<Result<(), twilio::TwilioError>>,
) -> campaigns::CampaignId {
    let id = world.started(count, COST).await;
    let twilio = FakeTwilio::default();
    twilio.script(answers);
    let dispatcher = world.dispatcher_with(twilio, count, 1);
    while !matches!(
        dispatcher.dispatch_batch(id).await.unwrap(),
        campaigns::BatchReport::Idle
    ) {}
    id
}

pub async fn recipients(world: &World, id: campaigns::CampaignId) -> Vec<Recipient> {
    let mut conn = world.conn().await;
    world
        .campaigns
        .recipients(&mut conn, world.organization, id, None, None, 100)
        .await
        .unwrap()
}

pub async fn recipient(world: &World, id: campaigns::CampaignId, n: usize) -> Recipient {
    recipients(world, id).await.swap_remove(n)
}

/// A report about `recipient` as its brand's subaccount would send it.
pub fn report(
    recipient: &Recipient,
    status: DeliveryStatus,
    error_code: Option<i32>,
) -> DeliveryReport {
    DeliveryReport {
        recipient: recipient.id,
        campaign: Some(recipient.campaign_id),
        account_sid: SID.into(),
        message_sid: recipient
            .twilio_sid
            .clone()
            .unwrap_or_else(|| "SM0123456789abcdef0123456789abcdef".into()),
        to: Some(recipient.phone.clone()),
        delivery: Delivery { status, error_code },
    }
}

async fn record(
    world: &World,
    report: &DeliveryReport,
) -> Result<campaigns::Recorded, DeliveryError> {
    let mut conn = world.conn().await;
    world.campaigns.record_delivery(&mut conn, report).await
}

#[tokio::test]
async fn the_delivery_status_only_moves_forward_and_money_never_moves() {
    let world = World::new(10_000).await;
    let id = dispatched(&world, 2, vec![]).await;
    let first = recipient(&world, id, 0).await;
    // The send's answer (`queued`) is the first status.
    assert_eq!(first.delivery_status, Some(DeliveryStatus::Queued));
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.deliveries.queued, summary.deliveries.total()),
        (2, 2)
    );
    let balance = world.wallet().await.balance;

    let steps = [
        (
            DeliveryStatus::Sent,
            None,
            Change::Recorded,
            DeliveryStatus::Sent,
        ),
        (
            DeliveryStatus::Sent,
            None,
            Change::Duplicate,
            DeliveryStatus::Sent,
        ),
        (
            DeliveryStatus::Queued,
            None,
            Change::Stale,
            DeliveryStatus::Sent,
        ),
        (
            DeliveryStatus::Delivered,
            None,
            Change::Recorded,
            DeliveryStatus::Delivered,
        ),
        (
            DeliveryStatus::Sending,
            None,
            Change::Stale,
            DeliveryStatus::Delivered,
        ),
        // Another final word after the first: ignored.
        (
            DeliveryStatus::Undelivered,
            Some(30003),
            Change::Stale,
            DeliveryStatus::Delivered,
        ),
        (
            DeliveryStatus::Delivered,
            None,
            Change::Duplicate,
            DeliveryStatus::Delivered,
        ),
    ];
    for (status, code, change, stored) in steps {
        let recorded = record(&world, &report(&first, status, code)).await.unwrap();
        assert_eq!(
            (recorded.change, recorded.delivery_status),
            (change, stored),
            "{status}"
        );
        assert_eq!(recorded.recipient_status, RecipientStatus::Sent);
        assert!(!recorded.resolved);
    }
    let after = recipient(&world, id, 0).await;
    assert_eq!(after.delivery_status, Some(DeliveryStatus::Delivered));
    assert_eq!(after.delivery_error_code, None);
    assert_eq!(after.twilio_sid, first.twilio_sid);
    assert_eq!(after.charged, first.charged);

    // The other one is undelivered, with Twilio's code: still sent and paid for.
    let second = recipient(&world, id, 1).await;
    record(
        &world,
        &report(&second, DeliveryStatus::Undelivered, Some(30003)),
    )
    .await
    .unwrap();
    let second = recipient(&world, id, 1).await;
    assert_eq!(
        (
            second.status,
            second.delivery_status,
            second.delivery_error_code
        ),
        (
            RecipientStatus::Sent,
            Some(DeliveryStatus::Undelivered),
            Some(30003)
        )
    );
    let summary = world.summary(id).await;
    assert_eq!(
        (
            summary.deliveries.delivered,
            summary.deliveries.undelivered,
            summary.deliveries.queued
        ),
        (1, 1, 0)
    );
    assert_eq!(summary.recipients.sent, 2);
    assert_eq!(world.wallet().await.balance, balance);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_callback_resolves_an_unconfirmed_recipient_as_sent_and_it_stays_charged() {
    let world = World::new(10_000).await;
    // A 500: Twilio may have the message; charged, unconfirmed, no SID.
    let id = dispatched(&world, 1, vec![Err(api_error(500, None))]).await;
    let unconfirmed = recipient(&world, id, 0).await;
    assert_eq!(unconfirmed.status, RecipientStatus::Unconfirmed);
    assert_eq!(
        (
            unconfirmed.twilio_sid.as_deref(),
            unconfirmed.charged.minor()
        ),
        (None, COST)
    );
    assert!(unconfirmed.unconfirmed_at.is_some());
    let balance = world.wallet().await.balance;

    let sid = "SMfeedfacefeedfacefeedfacefeedface";
    let mut sent = report(&unconfirmed, DeliveryStatus::Sent, None);
    sent.message_sid = sid.into();
    let recorded = record(&world, &sent).await.unwrap();
    assert!(recorded.resolved);
    assert_eq!(recorded.recipient_status, RecipientStatus::Sent);
    let now = recipient(&world, id, 0).await;
    assert_eq!(now.status, RecipientStatus::Sent);
    assert_eq!(now.twilio_sid.as_deref(), Some(sid));
    assert_eq!(now.delivery_status, Some(DeliveryStatus::Sent));
    assert_eq!(now.charged.minor(), COST);
    assert_eq!(
        world.wallet().await.balance,
        balance,
        "the charge stands, once"
    );

    // Later callbacks only move the status; another SID for it is refused.
    let mut delivered = sent.clone();
    delivered.delivery.status = DeliveryStatus::Delivered;
    let recorded = record(&world, &delivered).await.unwrap();
    assert!(!recorded.resolved);
    assert_eq!(recorded.delivery_status, DeliveryStatus::Delivered);
    let mut other = delivered.clone();
    other.message_sid = "SM00000000000000000000000000000bad".into();
    assert!(matches!(
        record(&world, &other).await,
        Err(DeliveryError::MessageMismatch {
            field: "MessageSid"
        })
    ));
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.recipients.unconfirmed, summary.deliveries.delivered),
        (0, 1)
    );
    assert_eq!(world.wallet().await.balance, balance);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_failed_callback_refunds_an_unconfirmed_recipient_exactly_once() {
    let world = World::new(10_000).await;
    let id = dispatched(&world, 1, vec![Err(api_error(503, None))]).await;
    let unconfirmed = recipient(&world, id, 0).await;
    assert_eq!(unconfirmed.status, RecipientStatus::Unconfirmed);
    let balance = world.wallet().await.balance.minor();

    let failed = report(&unconfirmed, DeliveryStatus::Failed, Some(30008));
    let recorded = record(&world, &failed).await.unwrap();
    assert!(recorded.resolved);
    assert_eq!(recorded.recipient_status, RecipientStatus::Failed);
    assert_eq!(world.wallet().await.balance.minor(), balance + COST);
    // Again, and a person trying too: nothing more.
    let again = record(&world, &failed).await.unwrap();
    assert_eq!((again.change, again.resolved), (Change::Duplicate, false));
    let mut conn = world.conn().await;
    let by_hand = world
        .campaigns
        .resolve_unconfirmed(
            &mut conn,
            world.organization,
            id,
            unconfirmed.id,
            &Resolution::NotSent,
        )
        .await;
    assert!(matches!(
        by_hand,
        Err(campaigns::CampaignsError::NotUnconfirmed { .. })
    ));
    drop(conn);
    assert_eq!(world.wallet().await.balance.minor(), balance + COST);
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (
            now.status,
            now.charged.minor(),
            now.delivery_status,
            now.delivery_error_code
        ),
        (
            RecipientStatus::Failed,
            0,
            Some(DeliveryStatus::Failed),
            Some(30008)
        )
    );
    // The recipient's charge was captured from the hold, then credited back.
    world.assert_books(id, -COST).await;
}

#[tokio::test]
async fn reports_that_do_not_match_the_recipient_change_nothing() {
    let world = World::new(10_000).await;
    // One sent, one unconfirmed, one still pending (the 500 stopped the batch before it).
    let id = world.started(3, COST).await;
    let twilio = FakeTwilio::default();
    twilio.script([Ok(()), Err(api_error(500, None))]);
    world
        .dispatcher_with(twilio, 3, 1)
        .dispatch_batch(id)
        .await
        .unwrap();
    let before = recipients(&world, id).await;
    let statuses: Vec<RecipientStatus> = before.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Sent,
            RecipientStatus::Unconfirmed,
            RecipientStatus::Pending
        ]
    );
    let balance = world.wallet().await.balance;
    let (sent, unconfirmed, pending) = (&before[0], &before[1], &before[2]);
    let other_campaign = world.started(1, COST).await;
    let delivered = |r: &Recipient| report(r, DeliveryStatus::Delivered, None);
    let cases: Vec<(DeliveryReport, &str)> = vec![
        (
            DeliveryReport {
                recipient: 999_999,
                ..delivered(sent)
            },
            "DELIVERY_RECIPIENT_NOT_FOUND",
        ),
        (
            DeliveryReport {
                campaign: Some(other_campaign),
                ..delivered(sent)
            },
            "DELIVERY_RECIPIENT_NOT_FOUND",
        ),
        // Signed by another account than the brand's subaccount.
        (
            DeliveryReport {
                account_sid: "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into(),
                ..delivered(unconfirmed)
            },
            "DELIVERY_RECIPIENT_NOT_FOUND",
        ),
        (
            DeliveryReport {
                message_sid: "SM00000000000000000000000000000bad".into(),
                ..delivered(sent)
            },
            "DELIVERY_MESSAGE_MISMATCH",
        ),
        (
            DeliveryReport {
                to: Some("+14150009999".into()),
                ..delivered(unconfirmed)
            },
            "DELIVERY_MESSAGE_MISMATCH",
        ),
        (delivered(pending), "DELIVERY_RECIPIENT_NOT_SENT"),
    ];
    for (report, code) in cases {
        let refused = record(&world, &report).await.unwrap_err();
        assert_eq!(refused.code(), code, "{report:?}");
    }
    assert_eq!(recipients(&world, id).await, before);
    assert_eq!(world.wallet().await.balance, balance);
}

#[tokio::test]
async fn a_callback_before_the_settlement_is_kept_and_resolves_the_recipient_later() {
    let world = World::new(10_000).await;
    let id = world.started(1, COST).await;
    let target = recipient(&world, id, 0).await;
    let sid = "SMabcdefabcdefabcdefabcdefabcdefab";
    // Twilio's callback arrives while our send is still waiting for its answer, which then
    // times out: the recipient is unconfirmed, but Twilio has told us the message exists.
    let twilio = FakeTwilio::default();
    twilio.script([Err(twilio::TwilioError::Transport {
        message: "timed out".into(),
        connect: false,
    })]);
    {
        let (pool, campaigns) = (world.pool.clone(), world.campaigns.clone());
        let mut early = report(&target, DeliveryStatus::Delivered, None);
        early.message_sid = sid.into();
        twilio.on_send(move |_| {
            let (pool, campaigns, early) = (pool.clone(), campaigns.clone(), early.clone());
            async move {
                let mut conn = pool.get().await.unwrap();
                let recorded = campaigns.record_delivery(&mut conn, &early).await.unwrap();
                assert_eq!(recorded.recipient_status, RecipientStatus::Sending);
                assert!(!recorded.resolved);
            }
        });
    }
    world
        .dispatcher_with(twilio, 1, 1)
        .dispatch_batch(id)
        .await
        .unwrap();
    let now = recipient(&world, id, 0).await;
    assert_eq!(now.status, RecipientStatus::Unconfirmed);
    assert_eq!(now.delivery_status, Some(DeliveryStatus::Delivered));
    assert_eq!(
        now.twilio_sid.as_deref(),
        Some(sid),
        "the settlement kept the SID"
    );

    // The lookup job resolves it from what Twilio told, without asking Twilio again.
    world.clock.advance(chrono::Duration::minutes(11));
    let log = crate::lookup::NoCalls::default();
    let lookup = campaigns::Lookup::new(
        world.pool.clone(),
        world.campaigns.clone(),
        log.clone(),
        campaigns::LookupConfig::default(),
    );
    let report = lookup.run_once().await.unwrap();
    assert_eq!((report.claimed, report.from_callbacks), (1, 1));
    assert_eq!(log.calls(), 0);
    let now = recipient(&world, id, 0).await;
    assert_eq!(
        (now.status, now.charged.minor()),
        (RecipientStatus::Sent, COST)
    );
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_send_twilio_refused_created_no_message_and_has_no_delivery() {
    let world = World::new(10_000).await;
    let id = dispatched(&world, 2, vec![Err(api_error(400, Some(21211)))]).await;
    let summary = world.summary(id).await;
    // The 400 created no message: no delivery. The other was accepted.
    assert_eq!((summary.recipients.failed, summary.recipients.sent), (1, 1));
    assert_eq!(
        (summary.deliveries.queued, summary.deliveries.failed),
        (1, 0)
    );
}
