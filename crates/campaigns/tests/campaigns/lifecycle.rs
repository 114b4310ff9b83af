//! Creating, starting, pausing, resuming and canceling, and what each does to the wallet.

use campaigns::{
    CampaignName, CampaignStatus, CampaignsError, MessageBody, NewCampaign, PauseReason,
    RecipientStatus, Sender, eligibility::Blocker,
};
use ledger::FreezeSource;
use primitives::{Currency, Money, OrganizationId};

use crate::common::{FakeTwilio, World, numbers, usd};

#[tokio::test]
async fn start_reserves_recipients_times_cost_and_replays_with_the_same_key() {
    let world = World::new(10_000).await;
    let id = world.campaign(10, 5).await;
    let mut conn = world.conn().await;
    let started = world
        .campaigns
        .start(&mut conn, world.organization, id, "key-1")
        .await
        .unwrap();
    assert!(!started.replayed);
    assert_eq!(started.value.status, CampaignStatus::Running);
    assert_eq!(started.value.start_key.as_deref(), Some("key-1"));
    let wallet = world.wallet().await;
    assert_eq!((wallet.balance, wallet.held), (usd(10_000), usd(50)));

    let again = world
        .campaigns
        .start(&mut conn, world.organization, id, "key-1")
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value.hold_id, started.value.hold_id);
    let other = world
        .campaigns
        .start(&mut conn, world.organization, id, "key-2")
        .await
        .unwrap_err();
    assert_eq!(other.code(), "CAMPAIGN_STATE_CONFLICT");
    assert_eq!(
        world.wallet().await.held,
        usd(50),
        "a retry never holds twice"
    );
    let summary = world.summary(id).await;
    assert_eq!((summary.held, summary.reserved), (usd(50), usd(50)));
    assert_eq!(summary.recipients.pending, 10);
}

#[tokio::test]
async fn insufficient_funds_at_start_sends_nothing_and_changes_nothing() {
    let world = World::new(49).await;
    let id = world.campaign(10, 5).await;
    let error = world.start(id).await.unwrap_err();
    assert_eq!(error.code(), "INSUFFICIENT_FUNDS");
    match error {
        CampaignsError::NotEligible(blockers) => assert_eq!(
            blockers,
            [Blocker::InsufficientFunds {
                available: usd(49),
                required: usd(50)
            }]
        ),
        other => panic!("{other:?}"),
    }
    let summary = world.summary(id).await;
    assert_eq!(summary.campaign.status, CampaignStatus::Draft);
    assert_eq!((summary.held, summary.campaign.hold_id), (usd(0), None));
    assert_eq!(world.wallet().await.held, usd(0));

    let twilio = FakeTwilio::default();
    let report = world
        .dispatcher(twilio.clone(), 10)
        .run_once()
        .await
        .unwrap();
    assert!(!report.did_work());
    assert!(twilio.sent().is_empty());
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_frozen_wallet_refuses_the_start() {
    let world = World::new(10_000).await;
    let id = world.campaign(3, 5).await;
    world.set_frozen(FreezeSource::Admin, true).await;
    let error = world.start(id).await.unwrap_err();
    assert_eq!(error.code(), "FROZEN_WALLET");
    assert_eq!(
        world.summary(id).await.campaign.status,
        CampaignStatus::Draft
    );
    assert_eq!(world.wallet().await.held, usd(0));
}

#[tokio::test]
async fn bodies_cost_their_segments() {
    let world = World::new(10_000).await;
    // 81 euro signs: 162 GSM-7 units, two parts.
    let id = world.campaign_with(4, 3, &"€".repeat(81)).await;
    let campaign = world.summary(id).await.campaign;
    assert_eq!(campaign.segments, 2);
    assert_eq!(campaign.cost_per_message, usd(6));
    world.start(id).await.unwrap();
    assert_eq!(world.wallet().await.held, usd(24));
    let emoji = world.campaign_with(1, 3, &"😀".repeat(36)).await;
    let emoji = world.summary(emoji).await.campaign;
    assert_eq!((emoji.encoding.as_str(), emoji.segments), ("ucs2", 2));
}

#[tokio::test]
async fn recipients_are_validated_all_or_nothing_and_deduplicated() {
    let world = World::new(10_000).await;
    let id = world.campaign(0, 5).await;
    let mut conn = world.conn().await;
    let organization = world.organization;
    let bad = vec![
        "+14155550100".to_owned(),
        "4155550101".to_owned(),
        "+1 415 555 0102".to_owned(),
    ];
    let error = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &bad)
        .await
        .unwrap_err();
    match &error {
        CampaignsError::InvalidPhoneNumbers { count, invalid } => {
            assert_eq!(*count, 2);
            assert_eq!(invalid[0].index, 1);
            assert_eq!(invalid[1].value, "+1 415 555 0102");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.code(), "INVALID_PHONE_NUMBER");
    assert_eq!(
        world.summary(id).await.recipients.total(),
        0,
        "nothing added"
    );

    let repeated = vec![
        "+14155550100".to_owned(),
        " +14155550100 ".to_owned(),
        "+14155550101".to_owned(),
    ];
    let added = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &repeated)
        .await
        .unwrap();
    assert_eq!((added.added, added.duplicates), (2, 1));
    let again = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &repeated[..1])
        .await
        .unwrap();
    assert_eq!((again.added, again.duplicates), (0, 1));

    let too_many = numbers(campaigns::MAX_RECIPIENTS_PER_CALL + 1);
    let error = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &too_many)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "TOO_MANY_RECIPIENTS");
    let empty = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &[])
        .await
        .unwrap_err();
    assert_eq!(empty.code(), "VALIDATION_FAILED");

    world.start(id).await.unwrap();
    let late = world
        .campaigns
        .add_recipients(&mut conn, organization, id, &numbers(1))
        .await
        .unwrap_err();
    assert_eq!(late.code(), "CAMPAIGN_STATE_CONFLICT");
    assert_eq!(world.summary(id).await.recipients.total(), 2);
}

#[tokio::test]
async fn an_empty_campaign_cannot_start() {
    let world = World::new(10_000).await;
    let id = world.campaign(0, 5).await;
    assert_eq!(world.start(id).await.unwrap_err().code(), "NO_RECIPIENTS");
}

#[tokio::test]
async fn creation_refuses_foreign_brands_other_currencies_and_zero_prices() {
    let world = World::new(10_000).await;
    let other = World::new(0).await;
    let mut conn = world.conn().await;
    let new = |brand, price| NewCampaign {
        brand_id: brand,
        name: CampaignName::parse("x").unwrap(),
        body: MessageBody::parse("hi").unwrap(),
        sender: Sender::from_number("ACME").unwrap(),
        price_per_segment: price,
    };
    let foreign = world
        .campaigns
        .create(&mut conn, world.organization, new(other.brand.id, usd(1)))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), "BRAND_NOT_FOUND");
    let euros = Money::from_minor(1, Currency::EUR);
    let mismatch = world
        .campaigns
        .create(&mut conn, world.organization, new(world.brand.id, euros))
        .await
        .unwrap_err();
    assert_eq!(mismatch.code(), "CURRENCY_MISMATCH");
    let free = world
        .campaigns
        .create(&mut conn, world.organization, new(world.brand.id, usd(0)))
        .await
        .unwrap_err();
    assert_eq!(free.code(), "VALIDATION_FAILED");
    let huge = world
        .campaigns
        .create(
            &mut conn,
            world.organization,
            NewCampaign {
                body: MessageBody::parse(&"x".repeat(1600)).unwrap(),
                ..new(world.brand.id, usd(i64::MAX / 2))
            },
        )
        .await
        .unwrap_err();
    assert_eq!(huge.code(), "INVALID_AMOUNT");

    // Another organization sees nothing of this one's campaigns.
    let id = world.campaign(1, 5).await;
    for error in [
        world
            .campaigns
            .get(&mut conn, other.organization, id)
            .await
            .unwrap_err(),
        world
            .campaigns
            .start(&mut conn, other.organization, id, "k")
            .await
            .unwrap_err(),
        world
            .campaigns
            .pause(&mut conn, OrganizationId::new(), id)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), "CAMPAIGN_NOT_FOUND");
    }
}

#[tokio::test]
async fn a_manual_pause_releases_the_hold_and_survives_resume_if_eligible() {
    let world = World::new(10_000).await;
    let id = world.started(10, 5).await;
    let mut conn = world.conn().await;
    let paused = world
        .campaigns
        .pause(&mut conn, world.organization, id)
        .await
        .unwrap();
    assert_eq!(paused.status, CampaignStatus::Paused);
    assert_eq!(paused.pause_reason, Some(PauseReason::Manual));
    assert_eq!(paused.hold_id, None);
    assert_eq!(world.wallet().await.held, usd(0));
    world.assert_books(id, 0).await;

    let resumed = world
        .campaigns
        .resume_if_eligible(&mut conn, world.organization)
        .await
        .unwrap();
    assert_eq!(resumed, 0);
    let still = world.summary(id).await.campaign;
    assert_eq!(still.pause_reason, Some(PauseReason::Manual));
    let twilio = FakeTwilio::default();
    world
        .dispatcher(twilio.clone(), 10)
        .run_once()
        .await
        .unwrap();
    assert!(twilio.sent().is_empty(), "a paused campaign sends nothing");

    // A person resumes it: a new hold for what is pending.
    let running = world
        .campaigns
        .resume(&mut conn, world.organization, id)
        .await
        .unwrap();
    assert_eq!(running.status, CampaignStatus::Running);
    assert_eq!(running.hold_seq, 2);
    assert_eq!(world.wallet().await.held, usd(50));
    let summary = world.summary(id).await;
    assert_eq!((summary.held, summary.released), (usd(100), usd(50)));
}

#[tokio::test]
async fn a_billing_pause_turned_manual_waits_for_a_person() {
    let world = World::new(10_000).await;
    let id = world.started(2, 5).await;
    let mut conn = world.conn().await;
    let organization = world.organization;
    let paused = world
        .campaigns
        .pause_all(&mut conn, organization, PauseReason::SubscriptionInactive)
        .await
        .unwrap();
    assert_eq!(paused, 1);
    world
        .campaigns
        .pause(&mut conn, organization, id)
        .await
        .unwrap();
    assert_eq!(
        world
            .campaigns
            .resume_if_eligible(&mut conn, organization)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        world.summary(id).await.campaign.pause_reason,
        Some(PauseReason::Manual)
    );
}

#[tokio::test]
async fn resume_refuses_with_every_reason_and_changes_nothing() {
    let world = World::new(10_000).await;
    let id = world.started(3, 5).await;
    let mut conn = world.conn().await;
    world
        .campaigns
        .pause(&mut conn, world.organization, id)
        .await
        .unwrap();
    world.set_frozen(FreezeSource::Admin, true).await;
    let error = world
        .campaigns
        .resume(&mut conn, world.organization, id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "FROZEN_WALLET");
    let campaign = world.summary(id).await.campaign;
    assert_eq!(campaign.status, CampaignStatus::Paused);
    assert_eq!(campaign.pause_reason, Some(PauseReason::Manual));
    assert_eq!(world.wallet().await.held, usd(0));
}

#[tokio::test]
async fn cancel_releases_the_hold_and_cancels_pending_recipients() {
    let world = World::new(10_000).await;
    let id = world.started(4, 5).await;
    let mut conn = world.conn().await;
    let canceled = world
        .campaigns
        .cancel(&mut conn, world.organization, id)
        .await
        .unwrap();
    assert_eq!(canceled.status, CampaignStatus::Canceled);
    assert!(canceled.finished_at.is_some());
    let summary = world.summary(id).await;
    assert_eq!(
        (summary.recipients.canceled, summary.recipients.pending),
        (4, 0)
    );
    assert_eq!((summary.released, summary.reserved), (usd(20), usd(0)));
    assert_eq!(world.wallet().await.held, usd(0));
    // Again: nothing changes. Resuming or pausing it is refused.
    world
        .campaigns
        .cancel(&mut conn, world.organization, id)
        .await
        .unwrap();
    for error in [
        world
            .campaigns
            .resume(&mut conn, world.organization, id)
            .await
            .unwrap_err(),
        world
            .campaigns
            .pause(&mut conn, world.organization, id)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(error.code(), "CAMPAIGN_STATE_CONFLICT");
    }
    let recipients = world
        .campaigns
        .recipients(
            &mut conn,
            world.organization,
            id,
            Some(RecipientStatus::Canceled),
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(recipients.len(), 4);
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_draft_can_be_canceled_and_never_starts() {
    let world = World::new(10_000).await;
    let id = world.campaign(3, 5).await;
    let mut conn = world.conn().await;
    let canceled = world
        .campaigns
        .cancel(&mut conn, world.organization, id)
        .await
        .unwrap();
    assert_eq!(canceled.status, CampaignStatus::Canceled);
    assert_eq!((canceled.started_at, canceled.start_key), (None, None));
    assert_eq!(world.summary(id).await.recipients.canceled, 3);
    let error = world.start(id).await.unwrap_err();
    assert_eq!(error.code(), "CAMPAIGN_STATE_CONFLICT");
    assert_eq!(world.wallet().await.held, usd(0));
}
