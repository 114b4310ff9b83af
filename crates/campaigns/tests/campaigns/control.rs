//! Enforcement end to end: a failed payment pauses campaigns and suspends the Twilio
//! subaccount through the outbox; a payment restores both, resuming only billing pauses.
//! Twilio is the real client against wiremock, with assertions on every request.

use std::time::Duration as StdDuration;

use campaigns::{
    BrandName, CampaignControlHandler, CampaignStatus, ControlHandler, MessagingStatus,
    PauseReason, SubaccountHandler, SubaccountSid, brands,
};
use chrono::Duration;
use ledger::{Actor, Counterparty, DebitRequest, Reference};
use outbox::{Handler, Outbox, Redelivery};
use subscriptions::{FailureReason, SubscriptionEvent, SubscriptionStatus, lookup};
use twilio::TwilioClient;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_string, header, method, path},
};

use crate::{
    common::{FakeTwilio, SID, TOKEN, World, basic_auth, usd},
    dispatch::drain,
};

fn client(server: &MockServer) -> TwilioClient {
    crate::common::twilio_client(&server.uri())
}

fn account(status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "sid": SID, "friendly_name": "Acme Shop", "status": status, "type": "Full"
    }))
}

fn status_mock(status: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .and(header("authorization", basic_auth().as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(format!("Status={status}")))
}

struct Pump {
    outbox: Outbox,
    campaigns: CampaignControlHandler,
    control: ControlHandler,
    subaccount: SubaccountHandler<TwilioClient>,
}

impl Pump {
    fn new(world: &World, server: &MockServer) -> Self {
        let clock = std::sync::Arc::new(world.clock.clone());
        Self {
            outbox: Outbox::new(clock.clone(), Redelivery::default()),
            campaigns: CampaignControlHandler::new(world.pool.clone(), world.campaigns.clone()),
            control: ControlHandler::new(world.pool.clone()),
            subaccount: SubaccountHandler::new(world.pool.clone(), client(server), clock),
        }
    }

    async fn run<H: Handler>(&self, world: &World, handler: &H) -> outbox::DeliveryReport {
        outbox::deliver_batch(&world.pool, &self.outbox, handler, 10)
            .await
            .unwrap()
    }
}

fn failed(world: &World) -> SubscriptionEvent {
    SubscriptionEvent::PaymentFailed {
        reason: FailureReason::new("card_declined"),
        at: world.now(),
    }
}

async fn brand_status(world: &World) -> MessagingStatus {
    let mut conn = world.conn().await;
    brands::get(&mut conn, world.brand.id)
        .await
        .unwrap()
        .messaging_status
}

async fn subscription_status(world: &World) -> SubscriptionStatus {
    let mut conn = world.conn().await;
    lookup::get(&mut conn, world.subscription)
        .await
        .unwrap()
        .state
        .status
}

#[tokio::test]
async fn a_failed_payment_pauses_and_suspends_and_a_payment_restores_only_billing_pauses() {
    let world = World::new(10_000).await;
    let server = MockServer::start().await;
    status_mock("suspended")
        .respond_with(account("suspended"))
        .expect(1)
        .mount(&server)
        .await;
    status_mock("active")
        .respond_with(account("active"))
        .expect(1)
        .mount(&server)
        .await;
    let pump = Pump::new(&world, &server);
    let twilio = FakeTwilio::default();
    let dispatcher = world.dispatcher(twilio.clone(), 10);

    let running = world.started(20, 5).await;
    dispatcher.dispatch_batch(running).await.unwrap();
    let manual = world.started(3, 5).await;
    {
        let mut conn = world.conn().await;
        world
            .campaigns
            .pause(&mut conn, world.organization, manual)
            .await
            .unwrap();
    }

    world.deliver(failed(&world)).await;
    assert_eq!(
        subscription_status(&world).await,
        SubscriptionStatus::PastDue
    );
    assert_eq!(pump.run(&world, &pump.campaigns).await.delivered, 1);
    let paused = world.summary(running).await;
    assert_eq!(paused.campaign.status, CampaignStatus::Paused);
    assert_eq!(
        paused.campaign.pause_reason,
        Some(PauseReason::SubscriptionInactive)
    );
    assert_eq!(
        world.wallet().await.held,
        usd(0),
        "the paused campaign's hold is released"
    );
    assert_eq!(pump.run(&world, &pump.control).await.delivered, 1);
    assert_eq!(brand_status(&world).await, MessagingStatus::Suspending);
    assert_eq!(pump.run(&world, &pump.subaccount).await.delivered, 1);
    assert_eq!(brand_status(&world).await, MessagingStatus::Suspended);

    assert!(!dispatcher.run_once().await.unwrap().did_work());
    assert_eq!(twilio.sent().len(), 10, "nothing sent while unpaid");
    let mut conn = world.conn().await;
    let (_, blockers) = world
        .campaigns
        .eligibility(&mut conn, world.organization, None)
        .await
        .unwrap();
    let reasons: Vec<_> = blockers.iter().map(|b| b.reason()).collect();
    assert_eq!(
        reasons,
        [
            PauseReason::SubscriptionInactive,
            PauseReason::WalletFrozen,
            PauseReason::MessagingSuspended
        ]
    );
    // A resume request while still unpaid changes nothing.
    assert_eq!(
        world
            .campaigns
            .resume_if_eligible(&mut conn, world.organization)
            .await
            .unwrap(),
        0
    );
    drop(conn);

    world.deliver(crate::common::paid()).await;
    assert_eq!(
        subscription_status(&world).await,
        SubscriptionStatus::Active
    );
    // Campaign control first: Twilio is still suspended, so the campaign waits, now for that.
    assert_eq!(pump.run(&world, &pump.campaigns).await.delivered, 1);
    let waiting = world.summary(running).await.campaign;
    assert_eq!(waiting.status, CampaignStatus::Paused);
    assert_eq!(waiting.pause_reason, Some(PauseReason::MessagingSuspended));
    assert_eq!(pump.run(&world, &pump.control).await.delivered, 1);
    assert_eq!(brand_status(&world).await, MessagingStatus::Reactivating);
    assert_eq!(pump.run(&world, &pump.subaccount).await.delivered, 1);
    assert_eq!(brand_status(&world).await, MessagingStatus::Active);
    // The confirmed reactivation asks for the resume itself.
    assert_eq!(pump.run(&world, &pump.campaigns).await.delivered, 1);
    assert_eq!(
        world.summary(running).await.campaign.status,
        CampaignStatus::Running
    );
    let still_manual = world.summary(manual).await.campaign;
    assert_eq!(
        still_manual.pause_reason,
        Some(PauseReason::Manual),
        "never resumes a person's pause"
    );

    drain(&dispatcher, running).await;
    let done = world.summary(running).await;
    assert_eq!(done.campaign.status, CampaignStatus::Completed);
    assert_eq!(twilio.recipients().len(), 20);
    world.assert_books(running, 0).await;
    world.assert_books(manual, 0).await;
}

#[tokio::test]
async fn twilio_down_then_back_is_retried_and_billing_state_is_untouched() {
    let world = World::new(10_000).await;
    let server = MockServer::start().await;
    // A 500, then an answer too slow for the client's timeout, then success.
    status_mock("suspended")
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    status_mock("suspended")
        .respond_with(account("suspended").set_delay(StdDuration::from_secs(2)))
        .up_to_n_times(1)
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    status_mock("suspended")
        .respond_with(account("suspended"))
        .with_priority(3)
        .expect(1)
        .mount(&server)
        .await;
    let pump = Pump::new(&world, &server);
    let running = world.started(5, 5).await;
    world.deliver(failed(&world)).await;
    pump.run(&world, &pump.campaigns).await;
    pump.run(&world, &pump.control).await;

    for expected in ["Twilio answered 500", "Twilio unreachable"] {
        let report = pump.run(&world, &pump.subaccount).await;
        assert_eq!(report.retried, 1, "{report:?}");
        let mut conn = world.conn().await;
        let brand = brands::get(&mut conn, world.brand.id).await.unwrap();
        assert_eq!(brand.messaging_status, MessagingStatus::Suspending);
        assert!(
            brand
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(expected)),
            "{brand:?}"
        );
        assert!(!brand.last_error.unwrap_or_default().contains(TOKEN));
        // Billing state is exactly as enforcement left it.
        assert_eq!(
            subscription_status(&world).await,
            SubscriptionStatus::PastDue
        );
        assert_eq!(world.wallet().await.freezes.len(), 1);
        assert_eq!(
            world.summary(running).await.campaign.status,
            CampaignStatus::Paused
        );
        world.clock.advance(Duration::minutes(2));
    }
    assert_eq!(pump.run(&world, &pump.subaccount).await.delivered, 1);
    let mut conn = world.conn().await;
    let brand = brands::get(&mut conn, world.brand.id).await.unwrap();
    assert_eq!(
        (brand.messaging_status, brand.last_error),
        (MessagingStatus::Suspended, None)
    );
    world.assert_books(running, 0).await;
}

#[tokio::test]
async fn a_resume_without_funds_waits_for_a_top_up() {
    let world = World::new(1_000).await;
    let id = world.started(100, 5).await;
    let mut conn = world.conn().await;
    let organization = world.organization;
    assert_eq!(
        world
            .campaigns
            .pause_all(&mut conn, organization, PauseReason::SubscriptionInactive)
            .await
            .unwrap(),
        1
    );
    // The money is spent elsewhere while the campaign waits.
    let wallet_id = world
        .ledger
        .wallet_for_organization(&mut conn, organization)
        .await
        .unwrap();
    world
        .ledger
        .debit(
            &mut conn,
            DebitRequest {
                wallet_id,
                amount: usd(700),
                counterparty: Counterparty::parse("revenue:other").unwrap(),
                reference: Reference::parse("other-spend").unwrap(),
                actor: Actor::system("test"),
            },
        )
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
    let campaign = world.summary(id).await.campaign;
    assert_eq!(campaign.pause_reason, Some(PauseReason::InsufficientFunds));
    drop(conn);
    world.credit(200).await;
    let mut conn = world.conn().await;
    assert_eq!(
        campaigns::organizations_with_billing_pauses(&mut conn)
            .await
            .unwrap(),
        [organization]
    );
    assert_eq!(
        world
            .campaigns
            .resume_if_eligible(&mut conn, organization)
            .await
            .unwrap(),
        1
    );
    assert_eq!(world.wallet().await.held, usd(500));
    world.assert_books(id, 0).await;
}

#[tokio::test]
async fn a_brand_created_while_unpaid_starts_suspending() {
    let world = World::new(0).await;
    world.deliver(failed(&world)).await;
    let mut conn = world.conn().await;
    let brand = brands::create(
        &mut conn,
        world.organization,
        &BrandName::parse("Second brand").unwrap(),
        &SubaccountSid::parse("ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap(),
        world.now(),
    )
    .await
    .unwrap();
    assert_eq!(brand.messaging_status, MessagingStatus::Suspending);
    let queued = outbox::list(
        &mut conn,
        &outbox::ListFilter {
            status: Some(outbox::Status::Pending),
            topic: Some(<campaigns::SubaccountCall as outbox::Message>::TOPIC),
            ..outbox::ListFilter::default()
        }
        .with_limit(10),
    )
    .await
    .unwrap();
    let for_brand: Vec<_> = queued
        .iter()
        .filter(|m| m.payload["brand_id"] == serde_json::json!(brand.id.as_uuid()))
        .collect();
    assert_eq!(for_brand.len(), 1, "its suspension is on its way to Twilio");
}
