//! Provider events in (docs/webhooks.md; docs/guarantees.md: G3, G8, G9, G10).
//!
//! - [`inbox`]: the durable inbox. A verified delivery is stored (unique per provider and
//!   delivery id, raw body, normalized events) before the provider is answered.
//! - [`decide`]: what each normalized event means, as pure functions (the mapping table of
//!   docs/webhooks.md).
//! - [`Intake`]: stores a delivery and applies it at once; a background pass retries what could
//!   not be applied (with backoff, then dead-lettered with an alert), re-tries unmatched
//!   deliveries until their subscription exists, and prunes old bodies. Subscription events go
//!   through [`enforcement::Enforcer`], money through the ledger.
//!
//! The crate serves no HTTP: the webhook receiver verifies deliveries and calls
//! [`Intake::receive`]; the worker jobs call [`Intake::run_due`] and [`Intake::prune`].

pub mod decide;
mod error;
pub mod event;
pub mod inbox;
mod intake;
pub mod locate;
pub mod metrics;
mod money;
mod policy;

pub use error::IntakeError;
pub use intake::{Attempt, Intake, ProviderQuestion, Received, RunReport, precision};
pub use policy::{ConfigError, IntakePolicy};
