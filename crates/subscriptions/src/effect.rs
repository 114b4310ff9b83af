//! Effects: what must happen in the world because of a transition, as data. The enforcement
//! layer carries them out in the transaction that stores the transition (external calls through
//! the outbox), so the state machine itself stays pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{BlockSource, NotificationKind};

/// One consequence of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Record an access block for this source.
    Block {
        source: BlockSource,
    },
    /// Lift this source's access block (never another source's).
    Unblock {
        source: BlockSource,
    },
    /// Freeze the organization's wallet with the billing source.
    FreezeWallet,
    /// Lift the billing source's wallet freeze (an admin or risk freeze stays).
    UnfreezeWallet,
    /// Pause running campaigns for a billing reason.
    PauseCampaigns,
    /// Resume campaigns paused for billing reasons (never those a person paused).
    ResumeCampaigns,
    /// Suspend the Twilio subaccounts so no messaging charges accrue.
    SuspendMessaging,
    ReactivateMessaging,
    /// Tell the customer. The field keeps its stored name (`notice`) in the transition history.
    Notify {
        notice: NotificationKind,
    },
    ScheduleRetry {
        attempt: u32,
        at: DateTime<Utc>,
    },
    ScheduleGraceEnd {
        at: DateTime<Utc>,
    },
    /// The manual-intervention step: the subscription is suspended at this time.
    ScheduleSuspension {
        at: DateTime<Utc>,
    },
    /// The dunning episode is over: no further retries.
    ClearRetries,
    ExtendPeriod {
        to: DateTime<Utc>,
    },
}

impl Effect {
    /// The effect's name without its data, for tables and logs.
    pub fn name(&self) -> String {
        match self {
            Self::Block { source } => format!("block({})", source.as_str()),
            Self::Unblock { source } => format!("unblock({})", source.as_str()),
            Self::FreezeWallet => "freeze_wallet".to_owned(),
            Self::UnfreezeWallet => "unfreeze_wallet".to_owned(),
            Self::PauseCampaigns => "pause_campaigns".to_owned(),
            Self::ResumeCampaigns => "resume_campaigns".to_owned(),
            Self::SuspendMessaging => "suspend_messaging".to_owned(),
            Self::ReactivateMessaging => "reactivate_messaging".to_owned(),
            Self::Notify { notice } => format!("notify({})", notice.as_str()),
            Self::ScheduleRetry { attempt, .. } => format!("schedule_retry({attempt})"),
            Self::ScheduleGraceEnd { .. } => "schedule_grace_end".to_owned(),
            Self::ScheduleSuspension { .. } => "schedule_suspension".to_owned(),
            Self::ClearRetries => "clear_retries".to_owned(),
            Self::ExtendPeriod { .. } => "extend_period".to_owned(),
        }
    }
}
