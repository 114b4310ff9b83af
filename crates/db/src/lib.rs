//! PostgreSQL for the billing crates: the diesel schema, a deadpool connection pool, the embedded
//! migrations and the private development cluster used when no `DATABASE_URL` is configured.
//!
//! Domain crates take a `&mut AsyncPgConnection` (possibly already inside a transaction) and never
//! a pool, so callers decide the transaction boundaries.

pub mod embedded;
mod failure;
pub mod migrations;
pub mod pool;
pub mod readiness;
pub mod schema;
pub mod settings;

pub use diesel_async::AsyncPgConnection;
pub use failure::{connection_lost, error_class};
pub use pool::{DbConfig, DbPool, PoolError, connect_pool};
pub use settings::{Database, DatabaseSettings, DatabaseSource, OpenError};
