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
//! - [`sync`]: the provider sync. A background job re-fetches from the provider the
//!   subscriptions whose state could be stale and applies any difference as an event of source
//!   `sync`, through the same enforcer, so a lost webhook heals by itself.
//!
//! The crate serves no HTTP: the webhook receiver verifies deliveries and calls
//! [`Intake::receive`]; the worker jobs call [`Intake::run_due`], [`Intake::prune`] and
//! [`sync::ProviderSync::run_once`] (from [`Intake::provider_sync`]).

mod capture;
pub mod decide;
mod error;
pub mod event;
pub mod inbox;
mod intake;
pub mod locate;
pub mod metrics;
mod money;
mod policy;
pub mod sync;

pub use error::IntakeError;
pub use intake::{Attempt, Intake, ProviderQuestion, Received, RunReport, precision};
pub use policy::{ConfigError, IntakePolicy};
