//! The payment-safety policy (docs/guarantees.md): applies subscription events and carries out
//! their effects in the same transaction, so billing state and its consequences commit together.
//!
//! - [`Enforcer::apply`]: one event in, state + history + access blocks + wallet freeze +
//!   notifications + outbox messages out, atomically.
//! - [`DunningRunner`]: turns due scheduled actions into events, calling the provider through
//!   [`PaymentRetrier`] for retries.
//!
//! Campaign and messaging effects go to the outbox as the messages campaigns defines
//! ([`campaigns::CampaignControl`], [`campaigns::MessagingControl`]) for its handlers to carry
//! out; notifications as [`notifications::Notification`]s.

mod effects;
mod enforcer;
mod error;
mod failure;
mod provider_retrier;
mod runner;
mod topics;

pub use enforcer::Enforcer;
pub use error::EnforcementError;
pub use provider_retrier::ProviderRetrier;
pub use topics::{ProviderAction, ProviderCommand};
pub use runner::{DunningRunner, PaymentRetrier, RetryError, RetryRequest, RetryResult, RunReport};
