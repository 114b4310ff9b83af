//! The payment-safety policy (DESIGN.md section 4): applies subscription events and carries out
//! their effects in the same transaction, so billing state and its consequences commit together.
//!
//! - [`Enforcer::apply`]: one event in, state + history + access blocks + wallet freeze +
//!   notifications + outbox messages out, atomically.
//! - [`DunningRunner`]: turns due scheduled actions into events, calling the provider through
//!   [`PaymentRetrier`] for retries.
//!
//! Campaign and messaging effects go to the outbox (topics [`effects::CAMPAIGNS_TOPIC`] and
//! [`effects::MESSAGING_TOPIC`]) for the campaign and Twilio handlers to carry out.

pub mod effects;
mod enforcer;
mod error;
mod failure;
mod provider_retrier;
mod runner;

pub use enforcer::Enforcer;
pub use error::EnforcementError;
pub use provider_retrier::ProviderRetrier;
pub use runner::{DunningRunner, PaymentRetrier, RetryError, RetryRequest, RetryResult, RunReport};
