//! Provider sync (docs/subscriptions.md, "Provider sync"): a background job re-fetches from the
//! provider the subscriptions whose state could be stale (past due or suspended, pending for
//! long, quiet for long) and applies any difference as an event of source `sync`, so a lost
//! webhook heals by itself.
//!
//! - [`due_reason`]: which subscriptions are looked at (pure; the claim's SQL says the same).
//! - [`decide`]: what the provider's view means for ours (pure), as an event the existing
//!   lifecycle knows; it goes through [`enforcement::Enforcer::apply`], so its effects are
//!   those of the webhook it replaces.
//! - [`TokenBucket`]: the per-provider request budget (pure, on the clock it is given).
//! - [`ProviderSync`]: one round: claim under a lease (`FOR UPDATE SKIP LOCKED`), ask each
//!   provider within its budget and outside any transaction, apply what differs.

mod bucket;
mod decide;
mod policy;
mod run;
mod store;

pub use bucket::{Rate, TokenBucket};
pub use decide::{Candidate, DueReason, Stored, SyncPlan, decide, due_reason, event_id};
pub use policy::SyncPolicy;
pub use run::{ProviderSync, SyncOutcome, SyncReport};
