//! Injected faults: database connections killed in the middle of an operation, and workers
//! stopped mid-batch (their futures dropped).
//!
//! The code under test runs on pools whose `application_name` names them (`sim-victim`, a pool
//! made for the one step; `sim-api-writer`; `sim-dispatch-writer`), so the sim terminates
//! exactly their sessions with `pg_terminate_backend`, as an operator's kill or a crashed
//! PostgreSQL backend would. Two ways:
//!
//! - **while locked**: the sim first takes, on a connection of its own, the row the operation
//!   must lock first (a wallet, a subscription, a campaign); the operation's session is killed
//!   while it waits for that lock. Deterministic: nothing of the operation was written.
//! - **random**: the operation's sessions are killed as soon as they have been seen busy
//!   `after + 1` times; where that lands (before a write, between writes, during the commit)
//!   depends on timing, so the outcome is unknown, which is the point: the model accepts
//!   "applied once or not at all" and the plan's retry must settle it.

use std::{future::Future, time::Duration};

use db::AsyncPgConnection;
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use tokio::task::JoinHandle;

/// The longest a fault waits for the operation to reach the point where it is killed.
const REACH_DEADLINE: Duration = Duration::from_secs(30);

/// The application name of the pools the sim builds for one faulty step.
pub const VICTIM: &str = "sim-victim";
pub const API_WRITER: &str = "sim-api-writer";
pub const DISPATCH_WRITER: &str = "sim-dispatch-writer";

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The sim's own sessions: one that looks at `pg_stat_activity` and terminates backends, one
/// that holds the locks operations are made to wait on.
pub struct Control {
    watcher: AsyncPgConnection,
    locker: AsyncPgConnection,
    locked: bool,
    /// A second lock holder, for faults that must let go of one lock before another.
    second: AsyncPgConnection,
    second_locked: bool,
}

/// How a faulty operation ended.
#[derive(Debug)]
pub struct Faulted<T> {
    pub result: T,
    /// Whether a session was killed (the operation may also have finished first).
    pub killed: bool,
}

impl Control {
    pub fn new(
        watcher: AsyncPgConnection,
        locker: AsyncPgConnection,
        second: AsyncPgConnection,
    ) -> Self {
        Self {
            watcher,
            locker,
            locked: false,
            second,
            second_locked: false,
        }
    }

    /// Like [`Control::lock`], on the second lock holder.
    pub async fn lock_second(&mut self, select_for_update: &str) {
        self.second
            .batch_execute(&format!("BEGIN; {select_for_update}"))
            .await
            .unwrap_or_else(|e| panic!("sim: lock {select_for_update}: {e}"));
        self.second_locked = true;
    }

    pub async fn unlock_second(&mut self) {
        if self.second_locked {
            self.second
                .batch_execute("ROLLBACK")
                .await
                .unwrap_or_else(|e| panic!("sim: unlock: {e}"));
            self.second_locked = false;
        }
    }

    /// Waits until a session of one of `apps` waits for a lock (the sim's); which app, or
    /// `None` when `task` finished first.
    pub async fn lock_waiter<T>(&mut self, apps: &[&str], task: &JoinHandle<T>) -> Option<String> {
        let deadline = tokio::time::Instant::now() + REACH_DEADLINE;
        while !task.is_finished() {
            for app in apps {
                if !self
                    .sessions(app, "wait_event_type = 'Lock'")
                    .await
                    .is_empty()
                {
                    return Some((*app).to_owned());
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sim: the operation never waited for the sim's lock"
            );
            tokio::task::yield_now().await;
        }
        None
    }

    /// The pids of `app`'s sessions matching `condition`.
    pub async fn sessions(&mut self, app: &str, condition: &str) -> Vec<i64> {
        let sql = format!(
            "SELECT pid::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND application_name = '{app}' AND ({condition})"
        );
        let rows: Vec<Number> = diesel::sql_query(sql)
            .load(&mut self.watcher)
            .await
            .unwrap_or_else(|e| panic!("sim: pg_stat_activity: {e}"));
        rows.into_iter().map(|row| row.n).collect()
    }

    pub async fn terminate(&mut self, pids: &[i64]) {
        for pid in pids {
            let _ = diesel::sql_query(format!(
                "SELECT pg_terminate_backend({pid})::int::bigint AS n"
            ))
            .load::<Number>(&mut self.watcher)
            .await;
        }
    }

    /// Waits until none of `app`'s sessions is left (terminated backends take a moment to go,
    /// and hold their locks until they have).
    pub async fn wait_gone(&mut self, app: &str) {
        let deadline = tokio::time::Instant::now() + REACH_DEADLINE;
        while !self.sessions(app, "true").await.is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "sim: {app}'s sessions did not go away"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits until the killed `pids` are gone.
    async fn wait_pids_gone(&mut self, pids: &[i64]) {
        if pids.is_empty() {
            return;
        }
        let list = pids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let deadline = tokio::time::Instant::now() + REACH_DEADLINE;
        loop {
            let sql =
                format!("SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE pid IN ({list})");
            let left: Vec<Number> = diesel::sql_query(sql)
                .load(&mut self.watcher)
                .await
                .unwrap_or_else(|e| panic!("sim: pg_stat_activity: {e}"));
            if left.as_slice().first().is_none_or(|row| row.n == 0) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sim: killed sessions {list} did not go away"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Takes the rows `select_for_update` locks, in a transaction left open until
    /// [`Control::unlock`].
    pub async fn lock(&mut self, select_for_update: &str) {
        self.locker
            .batch_execute(&format!("BEGIN; {select_for_update}"))
            .await
            .unwrap_or_else(|e| panic!("sim: lock {select_for_update}: {e}"));
        self.locked = true;
    }

    pub async fn unlock(&mut self) {
        if self.locked {
            self.locker
                .batch_execute("ROLLBACK")
                .await
                .unwrap_or_else(|e| panic!("sim: unlock: {e}"));
            self.locked = false;
        }
    }

    /// Runs `operation` with the rows of `select_for_update` locked by the sim, and kills the
    /// first session of `app` seen waiting for a lock. Nothing of the operation was written
    /// when it is killed.
    pub async fn kill_while_locked<T: Send + 'static>(
        &mut self,
        app: &str,
        select_for_update: &str,
        operation: impl Future<Output = T> + Send + 'static,
    ) -> Faulted<T> {
        self.lock(select_for_update).await;
        let task = tokio::spawn(operation);
        let deadline = tokio::time::Instant::now() + REACH_DEADLINE;
        let mut killed = Vec::new();
        while !task.is_finished() {
            let waiting = self.sessions(app, "wait_event_type = 'Lock'").await;
            if !waiting.is_empty() {
                self.terminate(&waiting).await;
                killed = waiting;
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sim: the operation never waited for the lock `{select_for_update}`"
            );
            tokio::task::yield_now().await;
        }
        self.wait_pids_gone(&killed).await;
        self.unlock().await;
        let result = join(task).await;
        Faulted {
            result,
            killed: !killed.is_empty(),
        }
    }

    /// Kills the first session of `app` seen waiting for a lock (one the sim holds), unless
    /// `task` finishes first. Whether one was killed; its backend is gone when this returns.
    pub async fn kill_lock_waiter<T>(&mut self, app: &str, task: &JoinHandle<T>) -> bool {
        let deadline = tokio::time::Instant::now() + REACH_DEADLINE;
        while !task.is_finished() {
            let waiting = self.sessions(app, "wait_event_type = 'Lock'").await;
            if !waiting.is_empty() {
                self.terminate(&waiting).await;
                self.wait_pids_gone(&waiting).await;
                return true;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sim: the operation never waited for the sim's lock"
            );
            tokio::task::yield_now().await;
        }
        false
    }

    /// Runs `operation` and kills `app`'s sessions once they have been seen busy `after + 1`
    /// times (or never, if it finishes first).
    pub async fn kill_randomly<T: Send + 'static>(
        &mut self,
        app: &str,
        after: u8,
        operation: impl Future<Output = T> + Send + 'static,
    ) -> Faulted<T> {
        let task = tokio::spawn(operation);
        let mut seen = 0;
        let mut killed = Vec::new();
        while !task.is_finished() {
            let busy = self.sessions(app, "state <> 'idle'").await;
            if !busy.is_empty() {
                if seen >= after {
                    self.terminate(&busy).await;
                    killed = busy;
                    break;
                }
                seen += 1;
            }
            tokio::task::yield_now().await;
        }
        self.wait_pids_gone(&killed).await;
        let result = join(task).await;
        Faulted {
            result,
            killed: !killed.is_empty(),
        }
    }
}

/// A task's result; its panic is re-raised here, with its message.
pub async fn join<T>(task: JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("sim: task failed: {error}"),
    }
}

/// Drops `task` (a worker stopped) once `reached` resolves: the point where its external call
/// hangs. `None` when it finished first (nothing hung). Waits for the abort to take effect.
pub async fn abandon_when<T: Send + 'static>(
    task: JoinHandle<T>,
    reached: impl Future<Output = ()>,
) -> Option<T> {
    let mut task = task;
    tokio::select! {
        biased;
        () = reached => {
            task.abort();
            let _ = task.await;
            None
        }
        finished = &mut task => match finished {
            Ok(value) => Some(value),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("sim: task failed: {error}"),
        },
    }
}
