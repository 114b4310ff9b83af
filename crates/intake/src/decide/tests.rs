use billing::{
    BillingEventKind as K, ProviderName, ProviderSubscription, ProviderSubscriptionStatus as PS,
};
use chrono::{DateTime, TimeZone, Utc};
use primitives::{Currency, Money};
use subscriptions::{
    CancelMode, DunningEpisode, SubscriptionEvent as E, SubscriptionState, SubscriptionStatus as S,
};

use super::*;
use crate::event::StoredEvent;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 12, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn event(kind: K) -> StoredEvent {
    StoredEvent {
        provider_event_id: "evt_1".into(),
        kind,
        occurred_at: at(1),
        organization_ref: None,
        provider_subscription_id: Some("sub_1".into()),
        amount: None,
        payment_reference: None,
        period_end: None,
        subscription_status: None,
        trial_end: None,
        failure_reason: None,
        order_reference: None,
        checkout_reference: None,
        provider_event_type: "test".into(),
    }
}

fn with(kind: K, change: impl FnOnce(&mut StoredEvent)) -> StoredEvent {
    let mut event = event(kind);
    change(&mut event);
    event
}

fn state(status: S) -> SubscriptionState {
    SubscriptionState {
        status,
        current_period_end: Some(at(1)),
        dunning: (status == S::PastDue).then_some(DunningEpisode {
            started_at: at(1),
            retries_failed: 0,
        }),
        ..SubscriptionState::new()
    }
}

fn view(
    status: PS,
    outstanding: Option<Money>,
    period_end: Option<DateTime<Utc>>,
) -> ProviderSubscription {
    ProviderSubscription {
        provider_subscription_id: "sub_1".into(),
        status,
        provider_status: "ACTIVE".into(),
        current_period_end: period_end,
        organization_ref: None,
        outstanding,
    }
}

#[test]
fn kinds_route_to_the_part_of_the_system_they_concern() {
    let subscription = [
        K::SubscriptionCreated,
        K::SubscriptionActivated,
        K::SubscriptionUpdated,
        K::TrialWillEnd,
        K::PaymentSucceeded,
        K::PaymentFailed,
        K::SubscriptionPaused,
        K::SubscriptionResumed,
        K::SubscriptionSuspended,
        K::SubscriptionCanceled,
        K::SubscriptionExpired,
    ];
    for kind in subscription {
        assert_eq!(route(&event(kind)), Route::Subscription, "{kind:?}");
    }
    assert_eq!(route(&event(K::WalletTopUpCompleted)), Route::TopUp);
    assert_eq!(
        route(&event(K::TopUpRefunded)),
        Route::Reversal(ReversalCause::Refund)
    );
    assert_eq!(
        route(&event(K::Chargeback)),
        Route::Reversal(ReversalCause::Chargeback)
    );
    assert_eq!(
        route(&event(K::DisputeOpened)),
        Route::Dispute(DisputeStep::Opened)
    );
    assert_eq!(
        route(&event(K::DisputeWon)),
        Route::Dispute(DisputeStep::Won)
    );
    assert_eq!(
        route(&event(K::DisputeLost)),
        Route::Dispute(DisputeStep::Lost)
    );
    assert!(matches!(
        route(&event(K::PaymentActionRequired)),
        Route::Ignore(_)
    ));
    // A failed top-up (PayPal PAYMENT.CAPTURE.DENIED) names no subscription: no money moved.
    let failed_top_up = with(K::PaymentFailed, |e| e.provider_subscription_id = None);
    assert!(matches!(route(&failed_top_up), Route::Ignore(_)));
}

#[test]
fn provider_lifecycle_events_map_to_their_transitions() {
    let cases = [
        (K::SubscriptionPaused, E::Paused),
        (K::SubscriptionResumed, E::Resumed),
        (K::SubscriptionSuspended, E::SuspendedByProvider),
        (
            K::SubscriptionCanceled,
            E::Canceled {
                mode: CancelMode::Immediately,
            },
        ),
        (K::SubscriptionExpired, E::Expired),
    ];
    for (kind, expected) in cases {
        for status in [S::Active, S::PastDue, S::Suspended] {
            assert_eq!(
                subscription_plan(&event(kind), &state(status), None),
                SubscriptionPlan::Apply(expected.clone()),
                "{kind:?} on {status:?}"
            );
        }
    }
}

#[test]
fn a_payment_restores_and_extends_to_the_providers_period_end() {
    let paid = with(K::PaymentSucceeded, |e| {
        e.amount = Some(usd(1500).into());
        e.period_end = Some(at(31));
    });
    for status in [S::Pending, S::Active, S::PastDue, S::Suspended, S::Paused] {
        assert_eq!(
            subscription_plan(&paid, &state(status), None),
            SubscriptionPlan::Apply(E::PaymentSucceeded {
                amount: usd(1500),
                period_end: at(31),
            }),
            "{status:?}"
        );
    }
}

#[test]
fn a_payment_without_its_period_asks_the_provider_then_uses_its_answer() {
    let sale = with(K::PaymentSucceeded, |e| e.amount = Some(usd(1500).into()));
    let past_due = state(S::PastDue);
    assert_eq!(
        subscription_plan(&sale, &past_due, None),
        SubscriptionPlan::Ask(Question::PeriodEnd)
    );
    let answer = view(PS::Active, None, Some(at(30)));
    assert_eq!(
        subscription_plan(&sale, &past_due, Some(&answer)),
        SubscriptionPlan::Apply(E::PaymentSucceeded {
            amount: usd(1500),
            period_end: at(30),
        })
    );
    let silent = view(PS::Active, None, None);
    assert!(matches!(
        subscription_plan(&sale, &past_due, Some(&silent)),
        SubscriptionPlan::Hold(_)
    ));
    let no_amount = with(K::PaymentSucceeded, |e| e.period_end = Some(at(30)));
    assert!(matches!(
        subscription_plan(&no_amount, &past_due, None),
        SubscriptionPlan::Hold(_)
    ));
}

#[test]
fn a_zero_invoice_during_a_trial_does_not_end_it() {
    let zero = with(K::PaymentSucceeded, |e| {
        e.amount = Some(usd(0).into());
        e.period_end = Some(at(14));
    });
    assert!(matches!(
        subscription_plan(&zero, &state(S::Trialing), None),
        SubscriptionPlan::Ignore(_)
    ));
}

#[test]
fn a_failed_payment_carries_the_providers_reason_and_time() {
    let failed = with(K::PaymentFailed, |e| {
        e.failure_reason = Some("card_declined".into());
        e.occurred_at = at(3);
    });
    assert_eq!(
        subscription_plan(&failed, &state(S::Active), None),
        SubscriptionPlan::Apply(E::PaymentFailed {
            reason: FailureReason::new("card_declined"),
            at: at(3),
        })
    );
    let silent = event(K::PaymentFailed);
    let SubscriptionPlan::Apply(E::PaymentFailed { reason, .. }) =
        subscription_plan(&silent, &state(S::Active), None)
    else {
        panic!("a failure must apply");
    };
    assert!(!reason.as_str().is_empty());
}

#[test]
fn an_activation_while_payment_is_owed_is_confirmed_with_the_provider() {
    let activated = with(K::SubscriptionActivated, |e| e.period_end = Some(at(31)));
    for status in [S::PastDue, S::Suspended] {
        let owed = state(status);
        assert_eq!(
            subscription_plan(&activated, &owed, None),
            SubscriptionPlan::Ask(Question::IsPaidUp),
            "{status:?}"
        );
        let paid_up = view(PS::Active, Some(usd(0)), Some(at(30)));
        assert_eq!(
            subscription_plan(&activated, &owed, Some(&paid_up)),
            SubscriptionPlan::Apply(E::Reinstated { period_end: at(30) })
        );
        let no_figure = view(PS::Active, None, Some(at(30)));
        assert_eq!(
            subscription_plan(&activated, &owed, Some(&no_figure)),
            SubscriptionPlan::Apply(E::Reinstated { period_end: at(30) })
        );
        for refused in [
            view(PS::Active, Some(usd(1500)), Some(at(30))),
            view(PS::Suspended, None, Some(at(30))),
            view(PS::PastDue, Some(usd(1)), Some(at(30))),
            view(PS::Active, None, None),
        ] {
            assert!(
                matches!(
                    subscription_plan(&activated, &owed, Some(&refused)),
                    SubscriptionPlan::Ignore(_)
                ),
                "{refused:?}"
            );
        }
    }
    // Stripe says it with `customer.subscription.updated` to `active`.
    let updated = with(K::SubscriptionUpdated, |e| {
        e.subscription_status = Some(PS::Active);
    });
    assert_eq!(
        subscription_plan(&updated, &state(S::PastDue), None),
        SubscriptionPlan::Ask(Question::IsPaidUp)
    );
    // An update to past_due on a past-due subscription asks nothing.
    let past_due = with(K::SubscriptionUpdated, |e| {
        e.subscription_status = Some(PS::PastDue)
    });
    assert!(matches!(
        subscription_plan(&past_due, &state(S::PastDue), None),
        SubscriptionPlan::Ignore(_)
    ));
}

#[test]
fn creations_and_activations_start_the_subscription() {
    let activated = with(K::SubscriptionActivated, |e| e.period_end = Some(at(31)));
    for status in [S::Pending, S::Trialing, S::Active, S::Paused] {
        assert_eq!(
            subscription_plan(&activated, &state(status), None),
            SubscriptionPlan::Apply(E::Activated { period_end: at(31) }),
            "{status:?}"
        );
    }
    let trialing = with(K::SubscriptionCreated, |e| {
        e.subscription_status = Some(PS::Trialing);
        e.trial_end = Some(at(15));
    });
    assert_eq!(
        subscription_plan(&trialing, &state(S::Pending), None),
        SubscriptionPlan::Apply(E::TrialStarted { trial_end: at(15) })
    );
    let created_pending = with(K::SubscriptionCreated, |e| {
        e.subscription_status = Some(PS::Pending)
    });
    assert!(matches!(
        subscription_plan(&created_pending, &state(S::Pending), None),
        SubscriptionPlan::Ignore(_)
    ));
    // PayPal's activation without a period: the provider says until when.
    let bare = event(K::SubscriptionActivated);
    assert_eq!(
        subscription_plan(&bare, &state(S::Pending), None),
        SubscriptionPlan::Ask(Question::PeriodEnd)
    );
}

#[test]
fn the_providers_trial_notice_carries_the_trial_end() {
    let notice = with(K::TrialWillEnd, |e| e.trial_end = Some(at(15)));
    assert_eq!(
        subscription_plan(&notice, &state(S::Trialing), None),
        SubscriptionPlan::Apply(E::TrialEndingSoon { trial_end: at(15) })
    );
    assert!(matches!(
        subscription_plan(&event(K::TrialWillEnd), &state(S::Trialing), None),
        SubscriptionPlan::Ignore(_)
    ));
}

#[test]
fn a_top_up_credits_once_per_payment_in_the_wallets_currency_only() {
    let top_up = with(K::WalletTopUpCompleted, |e| {
        e.amount = Some(usd(2500).into());
        e.payment_reference = Some("pi_123".into());
    });
    assert_eq!(
        top_up_plan(ProviderName::Stripe, &top_up, Currency::USD),
        TopUpPlan::Credit {
            amount: usd(2500),
            reference: "topup:stripe:pi_123".into(),
        }
    );
    // A second event about the same payment (another event type, another id) credits under
    // the same reference.
    let again = with(K::WalletTopUpCompleted, |e| {
        e.provider_event_id = "evt_2".into();
        e.amount = Some(usd(2500).into());
        e.payment_reference = Some("pi_123".into());
    });
    assert_eq!(
        top_up_plan(ProviderName::Stripe, &again, Currency::USD),
        top_up_plan(ProviderName::Stripe, &top_up, Currency::USD)
    );
    let TopUpPlan::Hold(reason) = top_up_plan(ProviderName::Stripe, &top_up, Currency::EUR) else {
        panic!("a currency mismatch is held");
    };
    assert!(reason.starts_with("CURRENCY_MISMATCH"), "{reason}");
    for broken in [
        with(K::WalletTopUpCompleted, |e| {
            e.payment_reference = Some("pi_1".into())
        }),
        with(K::WalletTopUpCompleted, |e| e.amount = Some(usd(10).into())),
        with(K::WalletTopUpCompleted, |e| {
            e.amount = Some(usd(0).into());
            e.payment_reference = Some("pi_1".into());
        }),
    ] {
        assert!(matches!(
            top_up_plan(ProviderName::Stripe, &broken, Currency::USD),
            TopUpPlan::Hold(_)
        ));
    }
}

#[test]
fn refunds_are_taken_once_each_and_chargebacks_once_per_payment_with_a_freeze() {
    let refund = |id: &str| {
        with(K::TopUpRefunded, |e| {
            e.provider_event_id = id.into();
            e.amount = Some(usd(500).into());
            e.payment_reference = Some("pi_123".into());
        })
    };
    let first = reversal_plan(
        ProviderName::Stripe,
        &refund("evt_a"),
        ReversalCause::Refund,
        Currency::USD,
    );
    let second = reversal_plan(
        ProviderName::Stripe,
        &refund("evt_b"),
        ReversalCause::Refund,
        Currency::USD,
    );
    assert_eq!(
        first,
        ReversalPlan::Take {
            amount: usd(500),
            reference: "refund:stripe:evt_a".into(),
            freeze: false,
        }
    );
    assert_ne!(
        first, second,
        "two partial refunds of one payment are two movements"
    );
    let chargeback = with(K::Chargeback, |e| {
        e.amount = Some(usd(2500).into());
        e.payment_reference = Some("CAP-1".into());
    });
    assert_eq!(
        reversal_plan(
            ProviderName::Paypal,
            &chargeback,
            ReversalCause::Chargeback,
            Currency::USD
        ),
        ReversalPlan::Take {
            amount: usd(2500),
            reference: taken_back_reference(ProviderName::Paypal, "CAP-1"),
            freeze: true,
        }
    );
    assert!(matches!(
        reversal_plan(
            ProviderName::Paypal,
            &chargeback,
            ReversalCause::Chargeback,
            Currency::EUR
        ),
        ReversalPlan::Hold(_)
    ));
}

#[test]
fn dispute_steps_in_any_order_end_in_the_first_final_word() {
    use CaseStatus as C;
    use DisputeStep as D;
    assert_eq!(dispute_plan(D::Opened, None), DisputePlan::Open);
    assert_eq!(dispute_plan(D::Won, Some(C::Open)), DisputePlan::Win);
    assert_eq!(dispute_plan(D::Lost, Some(C::Open)), DisputePlan::Lose);
    // Out of order: the resolution before the opening.
    assert_eq!(dispute_plan(D::Won, None), DisputePlan::Win);
    assert_eq!(dispute_plan(D::Lost, None), DisputePlan::Lose);
    assert_eq!(dispute_plan(D::Lost, Some(C::Lost)), DisputePlan::Lose);
    for (step, case) in [
        (D::Opened, Some(C::Open)),
        (D::Opened, Some(C::Won)),
        (D::Opened, Some(C::Lost)),
        (D::Won, Some(C::Won)),
    ] {
        assert!(
            matches!(dispute_plan(step, case), DisputePlan::Ignore(_)),
            "{step:?} {case:?}"
        );
    }
    assert!(matches!(
        dispute_plan(D::Won, Some(C::Lost)),
        DisputePlan::Hold(_)
    ));
    assert!(matches!(
        dispute_plan(D::Lost, Some(C::Won)),
        DisputePlan::Hold(_)
    ));
}

#[test]
fn references_stay_valid_and_stable_whatever_the_provider_id() {
    assert_eq!(
        ledger_reference("topup", ProviderName::Paypal, "8MC585209K746392H"),
        "topup:paypal:8MC585209K746392H"
    );
    let long = "x".repeat(300);
    let hashed = ledger_reference("topup", ProviderName::Paypal, &long);
    assert!(hashed.starts_with("topup:paypal:sha256:"));
    assert!(hashed.len() <= 200);
    assert_eq!(
        hashed,
        ledger_reference("topup", ProviderName::Paypal, &long)
    );
    assert_ne!(
        ledger_reference("topup", ProviderName::Paypal, "a b"),
        ledger_reference("topup", ProviderName::Paypal, "a_b")
    );
}
