use std::fmt::Write as _;

use chrono::Duration;
use primitives::{Currency, Money};

use super::*;
use crate::{EventKind, FailureReason};

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap() // 2027-01-01T00:00:00Z
}

/// A representative state for each status.
pub(super) fn canonical_state(status: SubscriptionStatus) -> SubscriptionState {
    use SubscriptionStatus as S;
    let mut state = SubscriptionState {
        status,
        ..SubscriptionState::new()
    };
    match status {
        S::Pending => {}
        S::Trialing => state.trial_end = Some(t0() + Duration::days(14)),
        S::Active | S::Paused => state.current_period_end = Some(t0() + Duration::days(30)),
        S::PastDue => {
            state.current_period_end = Some(t0());
            state.dunning = Some(DunningEpisode {
                started_at: t0(),
                retries_failed: 0,
            });
        }
        S::Suspended | S::Canceled | S::Expired => state.current_period_end = Some(t0()),
    }
    state
}

/// A representative event of each kind, happening one day after `t0`.
pub(super) fn canonical_event(kind: EventKind) -> SubscriptionEvent {
    use SubscriptionEvent as E;
    let amount = Money::from_minor(2_900, Currency::USD);
    let period_end = t0() + Duration::days(60);
    match kind {
        EventKind::Created => E::Created,
        EventKind::TrialStarted => E::TrialStarted {
            trial_end: t0() + Duration::days(15),
        },
        EventKind::TrialEndingSoon => E::TrialEndingSoon {
            trial_end: t0() + Duration::days(14),
        },
        EventKind::TrialEnded => E::TrialEnded,
        EventKind::Activated => E::Activated { period_end },
        EventKind::Reinstated => E::Reinstated { period_end },
        EventKind::PaymentSucceeded => E::PaymentSucceeded { amount, period_end },
        EventKind::PaymentFailed => E::PaymentFailed {
            reason: FailureReason::new("card declined"),
            at: occurred_at(),
        },
        // The period the canonical active subscription is in, found unpaid.
        EventKind::RenewalMissed => E::RenewalMissed {
            period_end: t0() + Duration::days(30),
        },
        EventKind::RetryFailed => E::RetryFailed {
            attempt: 1,
            reason: FailureReason::new("insufficient funds"),
        },
        EventKind::GracePeriodEnded => E::GracePeriodEnded,
        EventKind::DunningExhausted => E::DunningExhausted,
        EventKind::Paused => E::Paused,
        EventKind::Resumed => E::Resumed,
        EventKind::SuspendedByProvider => E::SuspendedByProvider,
        EventKind::CanceledImmediately => E::Canceled {
            mode: CancelMode::Immediately,
        },
        EventKind::CanceledAtPeriodEnd => E::Canceled {
            mode: CancelMode::AtPeriodEnd,
        },
        EventKind::PeriodEnded => E::PeriodEnded,
        EventKind::Expired => E::Expired,
        EventKind::ManualPaymentReceived => E::ManualPaymentReceived { amount, period_end },
    }
}

pub(super) fn occurred_at() -> DateTime<Utc> {
    t0() + Duration::days(1)
}

/// One cell of the table: `to_status: effect, effect` or `ignored: reason`.
fn outcome(status: SubscriptionStatus, kind: EventKind) -> String {
    let policy = LifecyclePolicy::default();
    let context = Context {
        occurred_at: occurred_at(),
        policy: &policy,
    };
    match decide(&canonical_state(status), &canonical_event(kind), &context) {
        Decision::Transition(transition) => {
            let effects: Vec<String> = transition.effects.iter().map(Effect::name).collect();
            if effects.is_empty() {
                format!("{}: (none)", transition.to)
            } else {
                format!("{}: {}", transition.to, effects.join(", "))
            }
        }
        Decision::Ignored { reason } => format!("ignored: {}", reason.as_str()),
    }
}

/// The table as it appears in the docs: one row per (status, event) pair.
pub(super) fn render_markdown() -> String {
    let mut out = String::from("| from | event | to | effects |\n|---|---|---|---|\n");
    for status in SubscriptionStatus::ALL {
        for kind in EventKind::ALL {
            let cell = outcome(status, kind);
            let (to, effects) = cell.split_once(": ").unwrap_or((cell.as_str(), ""));
            let (to, effects) = if to == "ignored" {
                ("*ignored*".to_owned(), format!("*{effects}*"))
            } else {
                (format!("`{to}`"), effects.to_owned())
            };
            writeln!(out, "| `{status}` | `{kind}` | {to} | {effects} |").unwrap();
        }
    }
    out
}

const EXPECTED: &str = include_str!("expected_table.txt");

#[test]
fn every_status_event_pair_has_the_specified_outcome() {
    let mut expected = std::collections::BTreeMap::new();
    for line in EXPECTED.lines().filter(|line| !line.trim().is_empty()) {
        let mut parts = line.splitn(3, " | ");
        let (status, kind, cell) = (
            parts.next().unwrap().trim(),
            parts.next().unwrap().trim(),
            parts.next().unwrap().trim(),
        );
        let previous = expected.insert((status.to_owned(), kind.to_owned()), cell.to_owned());
        assert!(previous.is_none(), "pair listed twice: {status} {kind}");
    }
    let mut actual_table = String::new();
    let mut mismatches = Vec::new();
    for status in SubscriptionStatus::ALL {
        for kind in EventKind::ALL {
            let actual = outcome(status, kind);
            writeln!(actual_table, "{status} | {kind} | {actual}").unwrap();
            match expected.remove(&(status.to_string(), kind.to_string())) {
                Some(cell) if cell == actual => {}
                Some(cell) => {
                    mismatches.push(format!("{status} {kind}: want `{cell}`, got `{actual}`"));
                }
                None => mismatches.push(format!("{status} {kind}: missing from the table")),
            }
        }
    }
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/transition/tests/expected_table.txt"
        );
        std::fs::write(path, actual_table).unwrap();
        return;
    }
    assert!(
        expected.is_empty(),
        "unknown pairs in the table: {expected:?}"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_docs_show_the_table_the_code_enforces() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/subscriptions.md");
    let docs = std::fs::read_to_string(path).unwrap_or_default();
    let (begin, end) = (
        "<!-- transition-table:begin -->\n",
        "<!-- transition-table:end -->",
    );
    let table = render_markdown();
    let start = docs.find(begin).map(|at| at + begin.len());
    let stop = docs.find(end);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        if let (Some(start), Some(stop)) = (start, stop) {
            let updated = format!("{}{table}{}", &docs[..start], &docs[stop..]);
            std::fs::write(path, updated).unwrap();
        }
        return;
    }
    let (Some(start), Some(stop)) = (start, stop) else {
        panic!("docs/subscriptions.md lacks the transition-table markers");
    };
    assert_eq!(
        &docs[start..stop],
        table,
        "docs/subscriptions.md is out of date: run UPDATE_SNAPSHOTS=1 cargo test -p subscriptions"
    );
}
