//! The background jobs: what each one does per run ([`plan`]), how often ([`JobsConfig`]), the
//! loop that runs it ([`periodic`]), and the worker service that runs them all with its probes
//! ([`Worker`]).
//!
//! Every job is safe in several workers at once: each claims its work with a lease or under a
//! row lock, and the domain crates make a second run of the same step a no-op
//! (`docs/guarantees.md`), so no coordination between workers is needed.

pub mod config;
pub mod periodic;
pub mod plan;
pub mod sweeper;
mod worker;

pub use config::{DispatchSettings, Intervals, JobsConfig};
pub use plan::{Jobs, JobsError, Running};
pub use worker::{Worker, WorkerError};
