//! Waiting for what background jobs do. Effects of the outbox, the dispatcher and the inbox job
//! arrive on their own ticks, so a test polls for them until a generous deadline; the deadline is
//! never the assertion, the awaited state is.

use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Polls `check` until it returns `Ok`, and returns that value. `Err` carries what was seen,
/// shown in the panic when `deadline` passes first.
pub async fn eventually<T>(
    what: &str,
    deadline: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let until = Instant::now() + deadline;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= until => {
                panic!("timed out after {deadline:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

/// Whether `condition` holds, as an [`eventually`] result showing `seen` otherwise.
pub fn holds(condition: bool, seen: impl std::fmt::Debug) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!("{seen:?}"))
    }
}
