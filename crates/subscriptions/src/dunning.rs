//! The dunning schedule: what happens on which day after the first failed payment.
//!
//! It is configuration (`BILLING_DUNNING_SCHEDULE`), written as comma-separated steps
//! `<day>:<action>[+<notice>]`; the default is
//! `3:retry,5:retry+warning,7:retry+final_warning,10:suspend`.
//! A step's notice is sent when that step's retry fails (a success sends `restored` instead).

use primitives::config::Variable;
use std::{fmt, str::FromStr};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::{NotificationKind, state::DunningEpisode};

/// Longest schedule accepted: a dunning run longer than a year is a typo, not a policy.
const MAX_DAY: u32 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// Ask the provider to collect the outstanding payment again.
    Retry,
    /// Manual intervention: retries stop and the subscription is suspended.
    Suspend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DunningStep {
    /// Days after the first failure of the episode.
    pub day: u32,
    pub action: StepAction,
    /// Sent when this step's retry fails.
    pub notice: Option<NotificationKind>,
}

/// A validated schedule: days strictly increase, every step but the last retries, the last one
/// suspends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DunningSchedule {
    steps: Vec<DunningStep>,
}

/// What the schedule asks for next in an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Retry { attempt: u32, at: DateTime<Utc> },
    Suspend { at: DateTime<Utc> },
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("the dunning schedule is empty")]
    Empty,
    #[error("dunning step `{0}` is not `<day>:<retry|suspend>[+warning|+final_warning]`")]
    Malformed(String),
    #[error("dunning days must be between 1 and {MAX_DAY} and strictly increase (step `{0}`)")]
    BadDay(String),
    #[error("only the last dunning step may suspend, and the last step must suspend")]
    SuspendNotLast,
    #[error("the grace period must end before the first dunning step (day {first_day})")]
    GraceTooLong { first_day: u32 },
    #[error(
        "the renewal grace must be between 0 and the first dunning step (day {first_day}): \
         dunning days count from the end of the unpaid period"
    )]
    RenewalGraceTooLong { first_day: u32 },
    #[error("the trial-ending notice must be between 0 and {MAX_DAY} days before the trial's end")]
    TrialNoticeTooLong,
}

impl DunningSchedule {
    pub fn new(steps: Vec<DunningStep>) -> Result<Self, ScheduleError> {
        let Some(last) = steps.last() else {
            return Err(ScheduleError::Empty);
        };
        if last.action != StepAction::Suspend
            || steps[..steps.len() - 1]
                .iter()
                .any(|step| step.action == StepAction::Suspend)
        {
            return Err(ScheduleError::SuspendNotLast);
        }
        let mut previous = 0;
        for step in &steps {
            if step.day <= previous || step.day > MAX_DAY {
                return Err(ScheduleError::BadDay(step.to_string()));
            }
            previous = step.day;
        }
        Ok(Self { steps })
    }

    pub fn steps(&self) -> &[DunningStep] {
        &self.steps
    }

    /// How many retries the schedule makes before suspending.
    pub fn retries(&self) -> u32 {
        u32::try_from(self.steps.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// The step after `retries_failed` failed retries of the episode.
    pub fn next_step(&self, episode: &DunningEpisode) -> NextStep {
        let index = usize::try_from(episode.retries_failed).unwrap_or(usize::MAX);
        let step = self
            .steps
            .get(index)
            .or(self.steps.last())
            .copied()
            .unwrap_or(DEFAULT_STEPS[3]);
        let at = episode.started_at + Duration::days(i64::from(step.day));
        match step.action {
            StepAction::Retry => NextStep::Retry {
                attempt: episode.retries_failed + 1,
                at,
            },
            StepAction::Suspend => NextStep::Suspend { at },
        }
    }

    /// When the episode reaches the manual-intervention step, however many retries were made:
    /// a provider that never answers must not keep a subscription out of `suspended` forever.
    pub fn suspension_at(&self, episode: &DunningEpisode) -> DateTime<Utc> {
        let last_day = self.steps.last().map_or(0, |step| step.day);
        episode.started_at + Duration::days(i64::from(last_day))
    }

    /// The notice for a failed retry `attempt` (1-based), if its step has one.
    pub fn notice_after_failed_retry(&self, attempt: u32) -> Option<NotificationKind> {
        let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
        self.steps.get(index).and_then(|step| step.notice)
    }

    pub fn first_day(&self) -> u32 {
        self.steps.first().map_or(0, |step| step.day)
    }
}

const DEFAULT_STEPS: [DunningStep; 4] = [
    DunningStep {
        day: 3,
        action: StepAction::Retry,
        notice: None,
    },
    DunningStep {
        day: 5,
        action: StepAction::Retry,
        notice: Some(NotificationKind::PaymentWarning),
    },
    DunningStep {
        day: 7,
        action: StepAction::Retry,
        notice: Some(NotificationKind::FinalWarning),
    },
    DunningStep {
        day: 10,
        action: StepAction::Suspend,
        notice: None,
    },
];

impl Default for DunningSchedule {
    /// Day 3 retry; day 5 retry and warning; day 7 retry and final warning; day 10 suspension.
    fn default() -> Self {
        Self {
            steps: DEFAULT_STEPS.to_vec(),
        }
    }
}

impl fmt::Display for DunningStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            StepAction::Retry => "retry",
            StepAction::Suspend => "suspend",
        };
        write!(f, "{}:{action}", self.day)?;
        match self.notice {
            Some(NotificationKind::PaymentWarning) => f.write_str("+warning"),
            Some(NotificationKind::FinalWarning) => f.write_str("+final_warning"),
            Some(other) => write!(f, "+{}", other.as_str()),
            None => Ok(()),
        }
    }
}

impl fmt::Display for DunningSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, step) in self.steps.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            step.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for DunningStep {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || ScheduleError::Malformed(text.chars().take(40).collect());
        let (day, rest) = text.trim().split_once(':').ok_or_else(malformed)?;
        let day: u32 = day
            .trim()
            .parse()
            .map_err(|_| ScheduleError::BadDay(text.chars().take(40).collect()))?;
        let (action, notice) = match rest.trim().split_once('+') {
            Some((action, notice)) => (action, Some(notice)),
            None => (rest.trim(), None),
        };
        let action = match action.trim() {
            "retry" => StepAction::Retry,
            "suspend" => StepAction::Suspend,
            _ => return Err(malformed()),
        };
        let notice = match notice.map(str::trim) {
            None => None,
            Some("warning") => Some(NotificationKind::PaymentWarning),
            Some("final_warning") => Some(NotificationKind::FinalWarning),
            Some(_) => return Err(malformed()),
        };
        Ok(Self {
            day,
            action,
            notice,
        })
    }
}

impl FromStr for DunningSchedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Err(ScheduleError::Empty);
        }
        let steps = text
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<DunningStep>, _>>()?;
        Self::new(steps)
    }
}

/// How long an active subscription's period may stay unpaid past its end before it goes past
/// due, unless configured otherwise: a renewal's event arriving a little late is normal.
pub const DEFAULT_RENEWAL_GRACE: Duration = Duration::hours(24);
/// How long before a trial's end the customer is told, unless configured otherwise.
pub const DEFAULT_TRIAL_NOTICE: Duration = Duration::days(3);

/// Everything configurable about the lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    dunning: DunningSchedule,
    grace: Duration,
    renewal_grace: Duration,
    trial_notice: Duration,
}

impl LifecyclePolicy {
    /// `grace` is how long access survives a failed payment; it must end before the first
    /// dunning step so a retry never runs while access is still granted. The renewal grace and
    /// the trial notice take their defaults ([`DEFAULT_RENEWAL_GRACE`], [`DEFAULT_TRIAL_NOTICE`]).
    pub fn new(dunning: DunningSchedule, grace: Duration) -> Result<Self, ScheduleError> {
        let first_day = dunning.first_day();
        if grace < Duration::zero() || grace >= Duration::days(i64::from(first_day)) {
            return Err(ScheduleError::GraceTooLong { first_day });
        }
        Ok(Self {
            dunning,
            grace,
            renewal_grace: DEFAULT_RENEWAL_GRACE,
            trial_notice: DEFAULT_TRIAL_NOTICE,
        })
    }

    /// How long past the end of an unpaid period an active subscription keeps access before it
    /// goes past due (zero: at once). The dunning episode it opens counts its days from the
    /// period's end, so the grace may not outlast the first dunning step (the first retry would
    /// be overdue the moment dunning starts).
    pub fn with_renewal_grace(self, renewal_grace: Duration) -> Result<Self, ScheduleError> {
        let first_day = self.dunning.first_day();
        if renewal_grace < Duration::zero() || renewal_grace > Duration::days(i64::from(first_day))
        {
            return Err(ScheduleError::RenewalGraceTooLong { first_day });
        }
        Ok(Self {
            renewal_grace,
            ..self
        })
    }

    /// How long before a trial's end the customer is told (zero: never, by us; a provider's
    /// notice still goes out).
    pub fn with_trial_notice(self, trial_notice: Duration) -> Result<Self, ScheduleError> {
        if trial_notice < Duration::zero() || trial_notice > Duration::days(i64::from(MAX_DAY)) {
            return Err(ScheduleError::TrialNoticeTooLong);
        }
        Ok(Self {
            trial_notice,
            ..self
        })
    }

    pub fn dunning(&self) -> &DunningSchedule {
        &self.dunning
    }

    pub fn grace(&self) -> Duration {
        self.grace
    }

    pub fn renewal_grace(&self) -> Duration {
        self.renewal_grace
    }

    /// Zero when our schedule sends no trial-ending notice.
    pub fn trial_notice(&self) -> Duration {
        self.trial_notice
    }
}

/// A lifecycle setting that cannot work, naming its variable.
pub use primitives::config::ConfigError as PolicyConfigError;

impl LifecyclePolicy {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "BILLING_DUNNING_SCHEDULE",
            default: "3:retry,5:retry+warning,7:retry+final_warning,10:suspend",
            meaning: "the dunning steps `<day>:<retry|suspend>[+warning|+final_warning]`, days after the first failed payment, strictly increasing, only the last one `suspend`",
        },
        Variable {
            name: "BILLING_GRACE_PERIOD_HOURS",
            default: "0",
            meaning: "how long access survives a failed payment; `0` blocks at once; must end before the schedule's first day",
        },
        Variable {
            name: "BILLING_RENEWAL_GRACE_HOURS",
            default: "24",
            meaning: "how long an active subscription's period may stay unpaid past its end before it goes `past_due` and dunning starts (counted from the period's end); at most the schedule's first day",
        },
        Variable {
            name: "BILLING_TRIAL_NOTICE_DAYS",
            default: "3",
            meaning: "how many days before a trial's end the customer is told (once, whether by this schedule or the provider's notice); `0` sends none of ours; at most 366",
        },
    ];

    /// The policy from its [`Self::VARIABLES`], read by every service that applies events (the
    /// api, the webhook receiver, the worker), which must agree.
    ///
    /// A grace that does not fit the schedule is blamed on the grace's variable: the schedule
    /// is valid on its own. Blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, PolicyConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let dunning = match get("BILLING_DUNNING_SCHEDULE") {
            Some(text) => {
                text.trim()
                    .parse()
                    .map_err(|error: ScheduleError| PolicyConfigError {
                        variable: "BILLING_DUNNING_SCHEDULE",
                        message: error.to_string(),
                    })?
            }
            None => DunningSchedule::default(),
        };
        let number = |variable: &'static str, default: u32| -> Result<i64, PolicyConfigError> {
            match get(variable) {
                None => Ok(i64::from(default)),
                Some(raw) => {
                    raw.trim()
                        .parse::<u32>()
                        .map(i64::from)
                        .map_err(|_| PolicyConfigError {
                            variable,
                            message: format!("expected a whole number, got {raw:?}"),
                        })
                }
            }
        };
        let blame = |variable: &'static str| {
            move |error: ScheduleError| PolicyConfigError {
                variable,
                message: error.to_string(),
            }
        };
        let grace = number("BILLING_GRACE_PERIOD_HOURS", 0)?;
        let renewal = number(
            "BILLING_RENEWAL_GRACE_HOURS",
            u32::try_from(DEFAULT_RENEWAL_GRACE.num_hours()).unwrap_or(24),
        )?;
        let notice = number(
            "BILLING_TRIAL_NOTICE_DAYS",
            u32::try_from(DEFAULT_TRIAL_NOTICE.num_days()).unwrap_or(3),
        )?;
        Self::new(dunning, Duration::hours(grace))
            .map_err(blame("BILLING_GRACE_PERIOD_HOURS"))?
            .with_renewal_grace(Duration::hours(renewal))
            .map_err(blame("BILLING_RENEWAL_GRACE_HOURS"))?
            .with_trial_notice(Duration::days(notice))
            .map_err(blame("BILLING_TRIAL_NOTICE_DAYS"))
    }
}

impl Default for LifecyclePolicy {
    /// The default schedule, no grace after a failed payment (access is blocked at the first
    /// failure), a day's renewal grace and a trial notice three days ahead.
    fn default() -> Self {
        Self {
            dunning: DunningSchedule::default(),
            grace: Duration::zero(),
            renewal_grace: DEFAULT_RENEWAL_GRACE,
            trial_notice: DEFAULT_TRIAL_NOTICE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn episode(retries_failed: u32) -> DunningEpisode {
        DunningEpisode {
            started_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            retries_failed,
        }
    }

    #[test]
    fn default_schedule_round_trips_through_its_text_form() {
        let text = "3:retry,5:retry+warning,7:retry+final_warning,10:suspend";
        assert_eq!(DunningSchedule::default().to_string(), text);
        assert_eq!(
            text.parse::<DunningSchedule>(),
            Ok(DunningSchedule::default())
        );
        assert_eq!(DunningSchedule::default().retries(), 3);
    }

    #[test]
    fn steps_are_anchored_to_the_first_failure() {
        let schedule = DunningSchedule::default();
        let start = episode(0).started_at;
        assert_eq!(
            schedule.next_step(&episode(0)),
            NextStep::Retry {
                attempt: 1,
                at: start + Duration::days(3)
            }
        );
        assert_eq!(
            schedule.next_step(&episode(2)),
            NextStep::Retry {
                attempt: 3,
                at: start + Duration::days(7)
            }
        );
        assert_eq!(
            schedule.next_step(&episode(3)),
            NextStep::Suspend {
                at: start + Duration::days(10)
            }
        );
        // Past the end (cannot happen through the state machine) still means suspension.
        assert!(matches!(
            schedule.next_step(&episode(9)),
            NextStep::Suspend { .. }
        ));
        assert_eq!(schedule.notice_after_failed_retry(1), None);
        assert_eq!(
            schedule.notice_after_failed_retry(2),
            Some(NotificationKind::PaymentWarning)
        );
        assert_eq!(
            schedule.notice_after_failed_retry(3),
            Some(NotificationKind::FinalWarning)
        );
        assert_eq!(schedule.notice_after_failed_retry(0), None);
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        for (text, expected) in [
            ("", ScheduleError::Empty),
            ("  ", ScheduleError::Empty),
            ("3:retry", ScheduleError::SuspendNotLast),
            ("3:suspend,5:retry,7:suspend", ScheduleError::SuspendNotLast),
            (
                "5:retry,3:suspend",
                ScheduleError::BadDay("3:suspend".into()),
            ),
            (
                "3:retry,3:suspend",
                ScheduleError::BadDay("3:suspend".into()),
            ),
            ("0:suspend", ScheduleError::BadDay("0:suspend".into())),
            ("400:suspend", ScheduleError::BadDay("400:suspend".into())),
            ("-1:suspend", ScheduleError::BadDay("-1:suspend".into())),
            ("x:suspend", ScheduleError::BadDay("x:suspend".into())),
            ("3:email", ScheduleError::Malformed("3:email".into())),
            (
                "3:retry+sms,4:suspend",
                ScheduleError::Malformed("3:retry+sms".into()),
            ),
            ("3", ScheduleError::Malformed("3".into())),
            ("3:retry,,5:suspend", ScheduleError::Malformed("".into())),
        ] {
            assert_eq!(text.parse::<DunningSchedule>(), Err(expected), "{text:?}");
        }
        assert_eq!(
            " 1:retry , 2:suspend "
                .parse::<DunningSchedule>()
                .map(|s| s.to_string()),
            Ok("1:retry,2:suspend".to_owned())
        );
    }

    #[test]
    fn a_schedule_keeps_its_steps_in_order() {
        let schedule: DunningSchedule = "2:retry+warning,4:suspend".parse().unwrap();
        assert_eq!(
            schedule.steps(),
            [
                DunningStep {
                    day: 2,
                    action: StepAction::Retry,
                    notice: Some(NotificationKind::PaymentWarning),
                },
                DunningStep {
                    day: 4,
                    action: StepAction::Suspend,
                    notice: None,
                },
            ]
        );
        assert_eq!(schedule.first_day(), 2);
        assert_eq!(schedule.retries(), 1);
    }

    #[test]
    fn a_policy_applies_the_schedule_and_grace_it_was_given() {
        let schedule: DunningSchedule = "5:retry,9:suspend".parse().unwrap();
        let policy = LifecyclePolicy::new(schedule.clone(), Duration::hours(30)).unwrap();
        assert_eq!(policy.dunning(), &schedule);
        assert_eq!(policy.grace(), Duration::hours(30));
    }

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<LifecyclePolicy, PolicyConfigError> {
        LifecyclePolicy::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn the_policy_is_read_from_its_variables_and_blank_ones_count_as_unset() {
        assert_eq!(from_pairs(&[]), Ok(LifecyclePolicy::default()));
        let blank = [
            ("BILLING_DUNNING_SCHEDULE", " "),
            ("BILLING_GRACE_PERIOD_HOURS", ""),
            ("BILLING_RENEWAL_GRACE_HOURS", "  "),
            ("BILLING_TRIAL_NOTICE_DAYS", ""),
        ];
        assert_eq!(from_pairs(&blank), Ok(LifecyclePolicy::default()));
        let policy = from_pairs(&[
            ("BILLING_DUNNING_SCHEDULE", " 4:retry+warning,8:suspend "),
            ("BILLING_GRACE_PERIOD_HOURS", "12"),
            ("BILLING_RENEWAL_GRACE_HOURS", " 6 "),
            ("BILLING_TRIAL_NOTICE_DAYS", "1"),
        ])
        .unwrap();
        assert_eq!(policy.dunning().to_string(), "4:retry+warning,8:suspend");
        assert_eq!(policy.grace(), Duration::hours(12));
        assert_eq!(policy.renewal_grace(), Duration::hours(6));
        assert_eq!(policy.trial_notice(), Duration::days(1));
    }

    #[test]
    fn a_setting_that_cannot_work_names_its_variable() {
        let blamed = |pairs: &[(&str, &str)]| from_pairs(pairs).map_err(|error| error.variable);
        assert_eq!(
            blamed(&[("BILLING_DUNNING_SCHEDULE", "3:retry")]),
            Err("BILLING_DUNNING_SCHEDULE")
        );
        // The schedule is valid alone; the grace does not fit it.
        assert_eq!(
            blamed(&[
                ("BILLING_DUNNING_SCHEDULE", "2:retry,4:suspend"),
                ("BILLING_GRACE_PERIOD_HOURS", "48"),
            ]),
            Err("BILLING_GRACE_PERIOD_HOURS")
        );
        assert_eq!(
            blamed(&[("BILLING_GRACE_PERIOD_HOURS", "-1")]),
            Err("BILLING_GRACE_PERIOD_HOURS")
        );
        assert_eq!(
            blamed(&[("BILLING_RENEWAL_GRACE_HOURS", "73")]),
            Err("BILLING_RENEWAL_GRACE_HOURS")
        );
        assert_eq!(
            blamed(&[("BILLING_TRIAL_NOTICE_DAYS", "367")]),
            Err("BILLING_TRIAL_NOTICE_DAYS")
        );
        let message = from_pairs(&[("BILLING_TRIAL_NOTICE_DAYS", "soon")])
            .unwrap_err()
            .message;
        assert_eq!(message, "expected a whole number, got \"soon\"");
    }

    #[test]
    fn grace_must_end_before_the_first_retry() {
        let schedule = DunningSchedule::default();
        assert!(LifecyclePolicy::new(schedule.clone(), Duration::zero()).is_ok());
        assert!(LifecyclePolicy::new(schedule.clone(), Duration::hours(71)).is_ok());
        assert_eq!(
            LifecyclePolicy::new(schedule.clone(), Duration::days(3)),
            Err(ScheduleError::GraceTooLong { first_day: 3 })
        );
        assert!(LifecyclePolicy::new(schedule, Duration::seconds(-1)).is_err());
    }

    #[test]
    fn renewal_grace_and_trial_notice_have_defaults_and_bounds() {
        let policy = LifecyclePolicy::default();
        assert_eq!(policy.renewal_grace(), Duration::hours(24));
        assert_eq!(policy.trial_notice(), Duration::days(3));
        let built = LifecyclePolicy::new(DunningSchedule::default(), Duration::zero()).unwrap();
        assert_eq!(built, policy);

        assert_eq!(
            policy
                .clone()
                .with_renewal_grace(Duration::zero())
                .map(|p| p.renewal_grace()),
            Ok(Duration::zero())
        );
        assert!(policy.clone().with_renewal_grace(Duration::days(3)).is_ok());
        assert_eq!(
            policy
                .clone()
                .with_renewal_grace(Duration::days(3) + Duration::seconds(1)),
            Err(ScheduleError::RenewalGraceTooLong { first_day: 3 })
        );
        assert!(
            policy
                .clone()
                .with_renewal_grace(Duration::hours(-1))
                .is_err()
        );

        assert_eq!(
            policy
                .clone()
                .with_trial_notice(Duration::zero())
                .map(|p| p.trial_notice()),
            Ok(Duration::zero())
        );
        assert!(
            policy
                .clone()
                .with_trial_notice(Duration::days(366))
                .is_ok()
        );
        assert_eq!(
            policy.clone().with_trial_notice(Duration::days(367)),
            Err(ScheduleError::TrialNoticeTooLong)
        );
        assert!(policy.with_trial_notice(Duration::days(-1)).is_err());
    }
}
