//! The ledger against real PostgreSQL: rules, races and a model-based property test.
//! One test binary, so the shared fixture compiles once.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

mod common;
mod hardening;
mod model;
mod operations;
mod paths;
mod reversals;
mod writer;
mod writer_faults;
mod writer_model;
mod writer_schema;
