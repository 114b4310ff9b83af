//! The ledger against real PostgreSQL: rules, races and a model-based property test.
//! One test binary, so the shared fixture compiles once.

mod common;
mod concurrency;
mod model;
mod operations;
