//! Money a provider takes back never makes a balance negative (G1): what the wallet cannot
//! cover freezes it for an operator. Disputes freeze while open, lift when won (unless another
//! case still needs the freeze), take the money back when lost.

use billing::BillingEventKind as K;
use intake::inbox::InboxStatus;
use ledger::FreezeSource;
use primitives::{Currency, Money, ProviderName};

use crate::support::{Org, World, usd, with};

fn money_event(
    world: &World,
    org: &Org,
    kind: K,
    amount: Money,
    payment: &str,
) -> billing::BillingEvent {
    with(world.event(ProviderName::Stripe, kind), |e| {
        e.organization_ref = org.reference();
        e.amount = Some(amount);
        e.payment_reference = Some(payment.into());
    })
}

/// Credits a top-up of `amount` through the intake, as the provider would report it.
async fn top_up(world: &World, org: &Org, amount: i64, payment: &str) {
    let event = money_event(world, org, K::WalletTopUpCompleted, usd(amount), payment);
    assert_eq!(world.deliver_one(event).await.status, InboxStatus::Applied);
}

/// Spends from the wallet, as message charges do.
async fn spend(world: &World, org: &Org, amount: i64) {
    let mut conn = world.pool.get().await.unwrap();
    let request = ledger::DebitRequest {
        wallet_id: world.balance(org).await.wallet_id,
        amount: usd(amount),
        counterparty: ledger::Counterparty::parse("revenue:messages").unwrap(),
        reference: ledger::Reference::parse(format!("spend-{amount}")).unwrap(),
        actor: ledger::Actor::admin(),
    };
    world.ledger.debit(&mut conn, request).await.unwrap();
}

#[tokio::test]
async fn a_refund_the_wallet_cannot_cover_takes_what_is_there_and_freezes_it() {
    let world = World::new().await;
    let org = world.organization(0).await;
    top_up(&world, &org, 1000, "pi_1").await;
    spend(&world, &org, 700).await;
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(1000), "pi_1");
    let received = world.deliver_one(refund).await;
    assert_eq!(received.status, InboxStatus::Applied);
    let wallet = world.balance(&org).await;
    assert_eq!(wallet.balance, usd(0));
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
    assert_eq!(
        world.risk_cases(&org).await,
        [("shortfall".to_owned(), "recorded".to_owned(), 700)]
    );
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert!(outcome.detail.contains("7.00 USD short"), "{outcome:?}");
    assert_eq!(
        world.outbox(&org, "notification", "kind").await,
        ["payment_reversed"]
    );
    // Money arriving later is not taken by the same refund again.
    top_up(&world, &org, 5000, "pi_2").await;
    assert_eq!(world.balance(&org).await.balance, usd(5000));
}

#[tokio::test]
async fn a_refund_with_nothing_available_is_all_shortfall_and_writes_no_entry() {
    let world = World::new().await;
    let org = world.organization(0).await;
    top_up(&world, &org, 1000, "pi_1").await;
    spend(&world, &org, 1000).await;
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(1000), "pi_1");
    assert_eq!(world.deliver_one(refund).await.status, InboxStatus::Applied);
    assert!(world.entries(&org, "reversal").await.is_empty());
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
    assert_eq!(world.risk_cases(&org).await[0].2, 1000);
}

#[tokio::test]
async fn a_refund_delivered_before_its_top_up_waits_for_it() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(400), "pi_1");
    let early = world.deliver_one(refund).await;
    assert_eq!(early.status, InboxStatus::Unmatched);
    assert!(world.frozen_by(&org).await.is_empty());
    top_up(&world, &org, 1000, "pi_1").await;
    world.advance(chrono::Duration::minutes(2));
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().applied,
        1
    );
    assert_eq!(world.balance(&org).await.balance, usd(600));
    assert!(world.frozen_by(&org).await.is_empty());
}

#[tokio::test]
async fn a_refund_is_taken_from_a_wallet_frozen_for_billing() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    top_up(&world, &org, 5000, "pi_1").await;
    world
        .deliver_one(world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentFailed))
        .await;
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(1000), "pi_1");
    world.deliver_one(refund).await;
    assert_eq!(world.balance(&org).await.balance, usd(4000));
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Billing]);
}

#[tokio::test]
async fn a_top_up_in_another_currency_is_held_never_converted() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let euros = Money::from_minor(2500, Currency::EUR);
    let top_up = money_event(&world, &org, K::WalletTopUpCompleted, euros, "pi_1");
    let received = world.deliver_one(top_up).await;
    assert_eq!(received.status, InboxStatus::Held);
    assert!(world.entries(&org, "credit").await.is_empty());
    let outcome = &world.delivery(received.inbox_id).await.outcomes[0];
    assert!(
        outcome.detail.starts_with("CURRENCY_MISMATCH"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_chargeback_takes_the_payment_back_once_and_freezes_the_wallet() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let captured = with(
        world.event(ProviderName::Paypal, K::WalletTopUpCompleted),
        |e| {
            e.organization_ref = org.reference();
            e.amount = Some(usd(5000));
            e.payment_reference = Some("CAP-1".into());
        },
    );
    world.deliver_one(captured).await;
    let chargeback = with(world.event(ProviderName::Paypal, K::Chargeback), |e| {
        e.organization_ref = org.reference();
        e.amount = Some(usd(2000));
        e.payment_reference = Some("CAP-1".into());
    });
    world.deliver_one(chargeback.clone()).await;
    // The same reversal reported again under another event id moves no more money.
    world
        .deliver_one(with(chargeback, |e| {
            e.provider_event_id = "WH-other".into()
        }))
        .await;
    assert_eq!(
        world.entries(&org, "reversal").await,
        [(2000, "takeback:paypal:CAP-1".to_owned())]
    );
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
}

#[tokio::test]
async fn a_dispute_freezes_while_open_and_a_win_lifts_it() {
    let world = World::new().await;
    let org = world.organization(5000).await;
    world
        .deliver_one(money_event(
            &world,
            &org,
            K::DisputeOpened,
            usd(2000),
            "pi_1",
        ))
        .await;
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
    world
        .deliver_one(money_event(&world, &org, K::DisputeWon, usd(2000), "pi_1"))
        .await;
    assert!(world.frozen_by(&org).await.is_empty());
    assert_eq!(world.balance(&org).await.balance, usd(5000));
    assert_eq!(
        world.outbox(&org, "notification", "kind").await,
        ["dispute_opened", "dispute_won"]
    );
}

#[tokio::test]
async fn a_won_dispute_leaves_the_freeze_another_open_dispute_needs() {
    let world = World::new().await;
    let org = world.organization(5000).await;
    for payment in ["pi_1", "pi_2"] {
        world
            .deliver_one(money_event(
                &world,
                &org,
                K::DisputeOpened,
                usd(1000),
                payment,
            ))
            .await;
    }
    world
        .deliver_one(money_event(&world, &org, K::DisputeWon, usd(1000), "pi_1"))
        .await;
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
    world
        .deliver_one(money_event(&world, &org, K::DisputeWon, usd(1000), "pi_2"))
        .await;
    assert!(world.frozen_by(&org).await.is_empty());
}

#[tokio::test]
async fn a_lost_dispute_takes_the_money_back_and_stays_frozen_whatever_the_order() {
    let world = World::new().await;
    let org = world.organization(0).await;
    top_up(&world, &org, 5000, "pi_1").await;
    // The resolution arrives before the opening.
    world
        .deliver_one(money_event(&world, &org, K::DisputeLost, usd(2000), "pi_1"))
        .await;
    let late_opening = world
        .deliver_one(money_event(
            &world,
            &org,
            K::DisputeOpened,
            usd(2000),
            "pi_1",
        ))
        .await;
    assert_eq!(late_opening.status, InboxStatus::Ignored);
    assert_eq!(
        world.entries(&org, "reversal").await,
        [(2000, "takeback:stripe:pi_1".to_owned())]
    );
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
    assert_eq!(
        world.risk_cases(&org).await,
        [("dispute".to_owned(), "lost".to_owned(), 2000)]
    );
    // Told won after lost: a person decides.
    let won = world
        .deliver_one(money_event(&world, &org, K::DisputeWon, usd(2000), "pi_1"))
        .await;
    assert_eq!(won.status, InboxStatus::Held);
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
}

#[tokio::test]
async fn a_refund_without_the_organization_is_attributed_through_its_payment() {
    let world = World::new().await;
    let org = world.organization(0).await;
    top_up(&world, &org, 3000, "CAP-9").await;
    let refund = with(world.event(ProviderName::Stripe, K::TopUpRefunded), |e| {
        e.amount = Some(usd(1000));
        e.payment_reference = Some("CAP-9".into());
    });
    assert_eq!(world.deliver_one(refund).await.status, InboxStatus::Applied);
    assert_eq!(world.balance(&org).await.balance, usd(2000));
    // Naming another organization than the payment's is a conflict for a person.
    let other = world.organization(0).await;
    let forged = money_event(&world, &other, K::TopUpRefunded, usd(10), "CAP-9");
    assert_eq!(world.deliver_one(forged).await.status, InboxStatus::Held);
    assert_eq!(world.balance(&org).await.balance, usd(2000));
}

#[tokio::test]
async fn a_chargeback_of_a_subscription_payment_freezes_but_takes_nothing_from_the_wallet() {
    let world = World::new().await;
    let org = world.subscribed(ProviderName::Stripe, "sub_1", 0).await;
    top_up(&world, &org, 2000, "pi_top").await;
    let paid = with(
        world.about(&org, ProviderName::Stripe, "sub_1", K::PaymentSucceeded),
        |e| {
            e.amount = Some(usd(2900));
            e.period_end = Some(world.now() + chrono::Duration::days(30));
            e.payment_reference = Some("pi_sub".into());
        },
    );
    world.deliver_one(paid).await;
    let chargeback = money_event(&world, &org, K::Chargeback, usd(2900), "pi_sub");
    assert_eq!(
        world.deliver_one(chargeback).await.status,
        InboxStatus::Applied
    );
    assert_eq!(world.balance(&org).await.balance, usd(2000));
    assert_eq!(world.frozen_by(&org).await, vec![FreezeSource::Risk]);
}

#[tokio::test]
async fn a_refund_waiting_for_its_top_up_is_woken_when_the_top_up_is_credited() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(400), "pi_1");
    let early = world.deliver_one(refund.clone()).await;
    assert_eq!(early.status, InboxStatus::Unmatched);
    top_up(&world, &org, 1000, "pi_1").await;
    // Due at once, without waiting for the unmatched schedule.
    assert_eq!(
        world.intake.run_due(&world.pool, 10).await.unwrap().applied,
        1
    );
    assert_eq!(world.balance(&org).await.balance, usd(600));
    // Its repeat finds it applied.
    let again = world.deliver_one(refund).await;
    assert_eq!(
        (again.duplicate, again.status),
        (true, InboxStatus::Applied)
    );
}

#[tokio::test]
async fn a_repeat_of_a_waiting_delivery_applies_it_now_and_says_how_it_stands() {
    let world = World::new().await;
    let org = world.organization(0).await;
    let refund = money_event(&world, &org, K::TopUpRefunded, usd(400), "pi_1");
    assert_eq!(
        world.deliver_one(refund.clone()).await.status,
        InboxStatus::Unmatched
    );
    let waiting = world.deliver_one(refund.clone()).await;
    assert_eq!(
        (waiting.duplicate, waiting.status),
        (true, InboxStatus::Unmatched)
    );
    // Once its top-up is credited, the next repeat applies it, before any job runs.
    top_up(&world, &org, 1000, "pi_1").await;
    let applied = world.deliver_one(refund).await;
    assert_eq!(
        (applied.duplicate, applied.status),
        (true, InboxStatus::Applied)
    );
    assert_eq!(world.balance(&org).await.balance, usd(600));
}
