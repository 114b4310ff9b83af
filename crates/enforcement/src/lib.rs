//! The payment-safety policy (docs/guarantees.md): applies subscription events and carries out
//! their effects in the same transaction, so billing state and its consequences commit together.
//!
//! - [`Enforcer::apply`]: one event in, state + history + access blocks + wallet freeze +
//!   notifications + outbox messages out, atomically.
//! - [`DunningRunner`]: turns due scheduled actions into events, calling the provider through
//!   [`PaymentRetrier`] for retries.
//!
//! - [`CustomerActions`]: the customer's own billing actions (start, cancel, pause, resume, a
//!   payment-method link, wallet top-ups), each idempotent and all-or-nothing; the provider
//!   learns of changes through the outbox ([`ProviderCommand`], delivered by
//!   [`ProviderCommandHandler`]).
//!
//! Campaign and messaging effects go to the outbox as the messages campaigns defines
//! ([`campaigns::CampaignControl`], [`campaigns::MessagingControl`]) for its handlers to carry
//! out; notifications as [`notifications::Notification`]s.

pub mod customer;
mod effects;
mod enforcer;
mod error;
mod failure;
mod provider_commands;
mod provider_retrier;
mod runner;
mod topics;

pub use customer::{CustomerActions, CustomerConfig, CustomerError};
pub use enforcer::Enforcer;
pub use error::EnforcementError;
pub use provider_commands::ProviderCommandHandler;
pub use provider_retrier::ProviderRetrier;
pub use runner::{DunningRunner, PaymentRetrier, RetryError, RetryRequest, RetryResult, RunReport};
pub use topics::{ProviderAction, ProviderCommand};
