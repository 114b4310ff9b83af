//! The hold-expiry sweep: wallet holds whose deadline has passed are expired, every
//! `HOLD_EXPIRY_INTERVAL_SECS`.
//!
//! Several workers may sweep at once: the ledger makes a second expiry of the same hold a
//! no-op (its reference is `expiry:<hold id>`), so no coordination is needed.

use db::DbPool;
use ledger::Ledger;

/// Holds expired per sweep at most; the rest wait for the next tick.
pub const SWEEP_LIMIT: i64 = 1000;

/// One sweep. Errors are logged and the next tick tries again: a database outage must not
/// kill the sweeper.
pub async fn sweep(pool: &DbPool, ledger: &Ledger) {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "hold-expiry sweep skipped: no database connection");
            return;
        }
    };
    match ledger.expire_due_holds(&mut conn, SWEEP_LIMIT).await {
        Ok(sweep) if sweep.expired.is_empty() && sweep.failed.is_empty() => {}
        Ok(sweep) => tracing::info!(
            expired = sweep.expired.len(),
            failed = sweep.failed.len(),
            "holds expired"
        ),
        Err(error) => tracing::error!(%error, "hold-expiry sweep failed"),
    }
}
