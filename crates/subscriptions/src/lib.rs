//! The subscription lifecycle (docs/guarantees.md: G6 and G8).
//!
//! - [`transition::decide`]: the pure, total state machine; effects are data.
//! - [`entitlements`]: which features each status allows, access blocks per source.
//! - [`dunning`]: the configurable retry schedule; [`schedule::next_due`]: what a subscription
//!   waits for next.

pub mod dunning;
mod effect;
pub mod entitlements;
mod event;
mod notification;
pub mod posture;
pub mod schedule;
mod state;
mod status;
pub mod transition;

pub use dunning::{DunningSchedule, LifecyclePolicy, PolicyConfigError, ScheduleError};
pub use effect::Effect;
pub use entitlements::{AccessBlock, AccessDecision, BlockSource, DenialReason, Feature};
pub use event::{CancelMode, EventKind, FailureReason, SubscriptionEvent};
pub use notification::{NotificationKind, UnknownNotificationKind};
pub use schedule::{DueAction, due_now, next_due};
pub use state::{DunningEpisode, SubscriptionState};
pub use status::SubscriptionStatus;
pub use transition::{Context, Decision, IgnoreReason, Transition, decide};

pub mod access;
mod apply;
pub mod due;
mod envelope;
mod error;
pub mod history;
pub mod lookup;
mod model;
mod store;

pub use apply::{Applied, NewSubscription, Outcome, Subscriptions};
pub use envelope::{EventEnvelope, EventId, EventSource, TimePrecision};
pub use error::SubscriptionError;
pub use model::{PlanCode, ProviderRef, Subscription};
