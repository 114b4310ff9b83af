use billing::{ProviderSubscription, ProviderSubscriptionStatus as PS};
use chrono::{DateTime, Duration, TimeZone, Utc};
use primitives::{Currency, Money, OrganizationId, SubscriptionId};
use subscriptions::{
    CancelMode, DunningEpisode, SubscriptionEvent as E, SubscriptionState, SubscriptionStatus as S,
};

use super::*;
use crate::sync::SyncPolicy;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, day, 12, 0, 0).unwrap()
}

/// When the provider was asked.
fn now() -> DateTime<Utc> {
    at(10)
}

fn organization() -> OrganizationId {
    OrganizationId::from_uuid(Uuid::from_u128(7))
}

/// A representative state per status: paid until before now, a dunning episode while past due.
fn state(status: S) -> SubscriptionState {
    SubscriptionState {
        status,
        current_period_end: Some(at(9)),
        trial_end: (status == S::Trialing).then(|| at(9)),
        dunning: (status == S::PastDue).then_some(DunningEpisode {
            started_at: at(9),
            retries_failed: 0,
        }),
        ..SubscriptionState::new()
    }
}

fn view(status: PS) -> ProviderSubscription {
    ProviderSubscription {
        provider_subscription_id: "I-1".into(),
        status,
        provider_status: format!("{status:?}").to_uppercase(),
        current_period_end: Some(at(20)),
        organization_ref: None,
        outstanding: None,
    }
}

fn plan(state: &SubscriptionState, view: &ProviderSubscription) -> SyncPlan {
    let stored = Stored {
        organization: organization(),
        state,
        command_pending: false,
    };
    decide(&stored, view, now())
}

/// The plan's kind and, when it applies, the event's kind, for the table below.
fn shape(plan: &SyncPlan) -> String {
    match plan {
        SyncPlan::Apply(event) => event.kind().to_string(),
        SyncPlan::Nothing(_) => "-".into(),
        SyncPlan::Hold(_) => "HOLD".into(),
    }
}

#[test]
fn every_provider_status_against_every_status_of_ours() {
    use PS as P;
    let providers = [
        P::Pending,
        P::Trialing,
        P::Active,
        P::PastDue,
        P::Paused,
        P::Suspended,
        P::Canceled,
        P::Expired,
    ];
    // Rows: ours; columns: the provider's, in the order above.
    let expected: [(S, [&str; 8]); 8] = [
        (
            S::Pending,
            [
                "-",
                "trial_started",
                "activated",
                "payment_failed",
                "-",
                "suspended_by_provider",
                "canceled_immediately",
                "expired",
            ],
        ),
        (
            S::Trialing,
            [
                "HOLD",
                "-",
                "activated",
                "payment_failed",
                "paused",
                "suspended_by_provider",
                "canceled_immediately",
                "expired",
            ],
        ),
        (
            S::Active,
            [
                "HOLD",
                "-",
                "-",
                "payment_failed",
                "paused",
                "suspended_by_provider",
                "canceled_immediately",
                "expired",
            ],
        ),
        (
            S::PastDue,
            [
                "HOLD",
                "-",
                "reinstated",
                "-",
                "-",
                "suspended_by_provider",
                "canceled_immediately",
                "expired",
            ],
        ),
        (
            S::Paused,
            [
                "HOLD",
                "HOLD",
                "HOLD",
                "HOLD",
                "-",
                "-",
                "canceled_immediately",
                "expired",
            ],
        ),
        (
            S::Suspended,
            [
                "HOLD",
                "-",
                "reinstated",
                "-",
                "-",
                "-",
                "canceled_immediately",
                "expired",
            ],
        ),
        (S::Canceled, ["-"; 8]),
        (S::Expired, ["-"; 8]),
    ];
    for (ours, row) in expected {
        for (theirs, want) in providers.into_iter().zip(row) {
            let got = plan(&state(ours), &view(theirs));
            assert_eq!(shape(&got), want, "{ours} here, {theirs:?} there: {got:?}");
        }
    }
}

#[test]
fn a_lost_suspension_or_cancellation_is_the_event_the_webhook_would_have_been() {
    assert_eq!(
        plan(&state(S::Active), &view(PS::Suspended)),
        SyncPlan::Apply(E::SuspendedByProvider)
    );
    assert_eq!(
        plan(&state(S::PastDue), &view(PS::Canceled)),
        SyncPlan::Apply(E::Canceled {
            mode: CancelMode::Immediately
        })
    );
}

#[test]
fn a_lost_payment_restores_only_when_the_provider_says_it_is_paid_up() {
    let paid = view(PS::Active);
    for ours in [S::PastDue, S::Suspended] {
        assert_eq!(
            plan(&state(ours), &paid),
            SyncPlan::Apply(E::Reinstated { period_end: at(20) })
        );
    }
    let owing = ProviderSubscription {
        outstanding: Some(Money::from_minor(2900, Currency::USD)),
        ..view(PS::Active)
    };
    let SyncPlan::Nothing(reason) = plan(&state(S::Suspended), &owing) else {
        panic!("restored while payment is owed");
    };
    assert!(reason.contains("29.00 USD outstanding"), "{reason}");
    let no_period = ProviderSubscription {
        current_period_end: None,
        ..view(PS::Active)
    };
    assert!(matches!(
        plan(&state(S::PastDue), &no_period),
        SyncPlan::Nothing(_)
    ));
    // In the grace after a failure (active, episode open), a paid-up provider clears it.
    let grace = SubscriptionState {
        dunning: Some(DunningEpisode {
            started_at: at(9),
            retries_failed: 0,
        }),
        ..state(S::Active)
    };
    assert_eq!(
        plan(&grace, &paid),
        SyncPlan::Apply(E::Reinstated { period_end: at(20) })
    );
    assert!(matches!(
        plan(&grace, &view(PS::PastDue)),
        SyncPlan::Nothing(_)
    ));
}

#[test]
fn a_lost_failure_dates_from_the_fetch_and_says_why() {
    let SyncPlan::Apply(E::PaymentFailed { reason, at }) =
        plan(&state(S::Active), &view(PS::PastDue))
    else {
        panic!("not a failure");
    };
    assert_eq!(at, now());
    assert!(reason.as_str().contains("PASTDUE"), "{reason}");
}

#[test]
fn paid_beyond_now_here_but_past_due_there_is_for_a_person() {
    let paid_ahead = SubscriptionState {
        current_period_end: Some(now() + Duration::days(20)),
        ..state(S::Active)
    };
    assert!(matches!(
        plan(&paid_ahead, &view(PS::PastDue)),
        SyncPlan::Hold(_)
    ));
    // A trial that has not ended yet is paid through its end.
    let trial = SubscriptionState {
        trial_end: Some(now() + Duration::days(3)),
        ..state(S::Trialing)
    };
    assert!(matches!(
        plan(&trial, &view(PS::PastDue)),
        SyncPlan::Hold(_)
    ));
}

#[test]
fn a_cancellation_scheduled_here_for_the_period_end_is_left_to_the_period_end() {
    let scheduled = SubscriptionState {
        cancel_at_period_end: true,
        current_period_end: Some(now() + Duration::days(5)),
        ..state(S::Active)
    };
    let SyncPlan::Nothing(reason) = plan(&scheduled, &view(PS::Canceled)) else {
        panic!("canceled before the period's end");
    };
    assert!(reason.contains("scheduled"), "{reason}");
    // Expired is final whatever was scheduled.
    assert_eq!(
        plan(&scheduled, &view(PS::Expired)),
        SyncPlan::Apply(E::Expired)
    );
}

#[test]
fn a_command_of_ours_on_its_way_to_the_provider_means_its_view_is_not_final() {
    let stored = Stored {
        organization: organization(),
        state: &state(S::Paused),
        command_pending: true,
    };
    // The customer paused; the provider has not heard yet and still says active.
    assert!(matches!(
        decide(&stored, &view(PS::Active), now()),
        SyncPlan::Nothing(reason) if reason.contains("outbox")
    ));
}

#[test]
fn a_view_naming_another_organization_is_held() {
    let other = ProviderSubscription {
        organization_ref: Some(Uuid::from_u128(8).to_string()),
        ..view(PS::Canceled)
    };
    assert!(matches!(
        plan(&state(S::Active), &other),
        SyncPlan::Hold(reason) if reason.contains("belongs to organization")
    ));
    let same = ProviderSubscription {
        organization_ref: Some(organization().to_string()),
        ..view(PS::Canceled)
    };
    assert!(matches!(plan(&state(S::Active), &same), SyncPlan::Apply(_)));
    // A reference that is not one of our ids (another system's custom id) names nobody.
    let foreign = ProviderSubscription {
        organization_ref: Some("acme-42".into()),
        ..view(PS::Canceled)
    };
    assert!(matches!(
        plan(&state(S::Active), &foreign),
        SyncPlan::Apply(_)
    ));
}

#[test]
fn the_event_id_names_the_subscription_the_provider_status_and_its_period() {
    let subscription = SubscriptionId::from_uuid(Uuid::from_u128(1));
    let id = event_id(subscription, &view(PS::Suspended));
    assert_eq!(
        id,
        format!("sync:{subscription}:suspended:2027-01-20T12:00:00Z")
    );
    assert_eq!(event_id(subscription, &view(PS::Suspended)), id);
    assert_ne!(event_id(subscription, &view(PS::Canceled)), id);
    let next_period = ProviderSubscription {
        current_period_end: Some(at(21)),
        ..view(PS::Suspended)
    };
    assert_ne!(event_id(subscription, &next_period), id);
    let no_period = ProviderSubscription {
        current_period_end: None,
        ..view(PS::Suspended)
    };
    assert!(event_id(subscription, &no_period).ends_with(":suspended:none"));
    let other = SubscriptionId::from_uuid(Uuid::from_u128(2));
    assert_ne!(event_id(other, &view(PS::Suspended)), id);
    assert!(subscriptions::EventId::parse(&id).is_ok());
}

fn candidate(status: S) -> Candidate {
    Candidate {
        status,
        created_at: now() - Duration::days(5),
        last_event_at: Some(now() - Duration::hours(2)),
        last_synced_at: None,
    }
}

#[test]
fn owed_subscriptions_are_due_every_recheck_others_when_pending_or_quiet_for_long() {
    let policy = SyncPolicy::default();
    let due = |candidate: Candidate| due_reason(&candidate, &policy, now());
    assert_eq!(due(candidate(S::PastDue)), Some(DueReason::Owed));
    assert_eq!(due(candidate(S::Suspended)), Some(DueReason::Owed));
    // Synced half an hour ago: not yet (recheck 60 min); 61 minutes ago: again.
    let recent = |minutes| Candidate {
        last_synced_at: Some(now() - Duration::minutes(minutes)),
        ..candidate(S::PastDue)
    };
    assert_eq!(due(recent(30)), None);
    assert_eq!(due(recent(61)), Some(DueReason::Owed));
    // Pending: after an hour from its creation.
    let pending = |minutes| Candidate {
        created_at: now() - Duration::minutes(minutes),
        last_event_at: Some(now() - Duration::minutes(minutes)),
        ..candidate(S::Pending)
    };
    assert_eq!(due(pending(59)), None);
    assert_eq!(due(pending(60)), Some(DueReason::PendingTooLong));
    // Active: only once nothing was heard for a day, by an event or by a sync.
    assert_eq!(due(candidate(S::Active)), None);
    let quiet = Candidate {
        last_event_at: Some(now() - Duration::hours(25)),
        ..candidate(S::Active)
    };
    assert_eq!(due(quiet), Some(DueReason::Quiet));
    let synced_lately = Candidate {
        last_synced_at: Some(now() - Duration::hours(2)),
        ..quiet
    };
    assert_eq!(due(synced_lately), None);
    let never_heard = Candidate {
        last_event_at: None,
        ..candidate(S::Paused)
    };
    assert_eq!(due(never_heard), Some(DueReason::Quiet));
    for ended in [S::Canceled, S::Expired] {
        let long_quiet = Candidate {
            last_event_at: None,
            ..candidate(ended)
        };
        assert_eq!(due(long_quiet), None);
    }
}
