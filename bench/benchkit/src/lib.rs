//! What `ledger-bench`, `campaign-bench` and `webhook-bench` share: one version of the machinery
//! each of them needs and that is the same in all of them.
//!
//! - [`server`]: the PostgreSQL server under test (`BENCH_DATABASE_URL`, else `DATABASE_URL`,
//!   else the embedded development cluster), refused without fsync, and the bench's own
//!   throwaway database on it.
//! - [`machine`]: what the machine is and how busy it was.
//! - [`stats`]: nearest-rank percentiles, medians and latency summaries.
//! - [`usage`]: CPU time from `/proc` and WAL written by the server.
//! - [`args`]: the flag parsing helpers.
//! - [`sql`]: short names for the statements a trace sees.
//! - [`url`]: pointing a `postgres://` URL at another database.
//! - [`output`]: JSON lines on stdout, progress on stderr (`output::progress`), the exit code.
//!
//! What differs from bench to bench (the flags, the figures, the checks) stays in the bench.

pub mod args;
pub mod machine;
pub mod output;
mod progress;
pub mod server;
pub mod sql;
pub mod stats;
pub mod url;
pub mod usage;
