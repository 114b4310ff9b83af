//! End-to-end tests live in `tests/`: they run the `migrator`, `api` and `webhook-receiver`
//! binaries that `cargo test --workspace` builds, as an operator would, against a fresh database.
//!
//! This library is their harness:
//! - [`process`]: finding the built binaries, running them on free ports with their output in a
//!   log file (shown when a test fails), killed on drop; `migrator up`.
//! - [`fakes`]: Twilio, PayPal's REST API and Stripe's API on loopback (wiremock), recording
//!   every request so tests assert on exactly what the binaries sent.
//! - [`events`]: provider event bodies (PayPal, Stripe, PayHere) in the shape of the providers'
//!   documented payloads (see `crates/billing/tests/fixtures`), built per event type.
//! - [`keys`]: the test's provider credentials and the signing of deliveries exactly as each
//!   provider signs them (`testkit::signing`).
//! - [`api`]: calls to one api process (and creating an organization with its key), shared by
//!   the stack and the failover test's services.
//! - [`stack`]: one test's world: a database, the fakes, the receiver and the api, with the
//!   HTTP calls the tests make.
//! - [`poll`]: waiting for background effects with a deadline (never a sleep as an assertion).
//! - [`tool`]: the local `webhook-tool` as a process, as a developer runs it.
//! - [`secrets`]: what each stack knows must never be logged, and the scan of every process's
//!   log for it when a passing test drops its stack.
//! - [`proxy`], [`load`], [`sql`]: for the fault tests: a proxy that holds an exchange with the
//!   receiver (answer withheld, connection dropped), client load that remembers what each
//!   client was told, the test's own database session (reading the books, ending the
//!   services' sessions).
//! - [`browser`]: headless Chromium through WebDriver, for the console's pages: a user's clicks,
//!   typing and keys, what the page shows, its cookies, screenshots for review.
//! - [`failover`]: a pg_auto_failover cluster (a monitor and two nodes) and the services
//!   against its multi-host URL, for the PostgreSQL failover test.
//!
//! Everything panics instead of returning errors: a panic is how a test reports failure.

pub mod api;
pub mod browser;
pub mod events;
pub mod failover;
pub mod fakes;
pub mod keys;
pub mod load;
pub mod poll;
pub mod process;
pub mod proxy;
pub mod secrets;
pub mod sql;
pub mod stack;
pub mod tool;

pub use api::{Api, Org};
pub use poll::eventually;
pub use stack::{Stack, StackOptions};
