//! One shard's loop and one batch's transaction: lock, load, decide, write, commit, answer.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use db::{AsyncPgConnection, DbPool};
use diesel_async::AsyncConnection;
use primitives::{HoldId, WalletId};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Answer, Job};
use crate::{
    decide::batch::{BatchHold, Loaded, Plan, Verdict, plan},
    error::LedgerError,
    ledger::{Ledger, log_movement},
    model::Entry,
    request::MovementCall,
    store::{self, batch as sql},
};

/// Writes batches until every handle is dropped and the queue is empty.
pub(super) async fn run_shard(
    pool: DbPool,
    ledger: Ledger,
    mut queue: mpsc::Receiver<Job>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        write_batch(&pool, &ledger, std::mem::take(&mut jobs)).await;
        jobs.reserve(max_batch);
    }
}

async fn write_batch(pool: &DbPool, ledger: &Ledger, jobs: Vec<Job>) {
    let size = jobs.len();
    let (calls, replies): (Vec<MovementCall>, Vec<_>) =
        jobs.into_iter().map(|job| (job.call, job.reply)).unzip();
    metrics::histogram!("ledger_writer_batch_size").record(size as f64);
    match commit_batch(pool, ledger, &calls).await {
        Ok(answers) => {
            metrics::counter!("ledger_writer_batches_total", "result" => "committed").increment(1);
            for (reply, answer) in replies.into_iter().zip(answers) {
                // The caller may have gone (a dropped request); its movement stands all the same.
                let _ = reply.send(answer);
            }
        }
        Err(failure) => {
            metrics::counter!("ledger_writer_batches_total", "result" => "failed").increment(1);
            tracing::warn!(error = %failure, size, "ledger batch failed; nothing of it was applied");
            for reply in replies {
                let _ = reply.send(Err(failure.for_caller()));
            }
        }
    }
}

/// Why a whole batch failed. Every caller of the batch gets the same answer.
#[derive(Debug, thiserror::Error)]
enum BatchFailure {
    /// The database failed under the batch (connection lost, lock timeout, a statement
    /// refused): the transaction rolled back, so retrying each request is safe.
    #[error("{0}")]
    Unavailable(String),
    /// Stored data breaks an invariant: retrying will not help.
    #[error("{0}")]
    Corrupt(String),
}

impl BatchFailure {
    fn for_caller(&self) -> LedgerError {
        match self {
            Self::Unavailable(cause) => LedgerError::Unavailable {
                cause: cause.clone(),
            },
            Self::Corrupt(cause) => LedgerError::Corrupt(cause.clone()),
        }
    }
}

impl From<LedgerError> for BatchFailure {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Corrupt(cause) => Self::Corrupt(cause),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for BatchFailure {
    fn from(error: diesel::result::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

type Answers = Vec<Result<Answer, LedgerError>>;

/// The batch's transaction. Answers are built only from a committed plan.
async fn commit_batch(
    pool: &DbPool,
    ledger: &Ledger,
    calls: &[MovementCall],
) -> Result<Answers, BatchFailure> {
    let mut conn = pool
        .get()
        .await
        .map_err(|error| BatchFailure::Unavailable(format!("no database connection: {error}")))?;
    let committed = conn
        .transaction(async |conn| {
            let (plan, now) = decide_locked(conn, ledger, calls).await?;
            let seqs = if plan.writes.is_empty() {
                HashMap::new()
            } else {
                sql::write(conn, &plan, now)
                    .await?
                    .into_iter()
                    .collect::<HashMap<Uuid, i64>>()
            };
            Ok::<_, BatchFailure>((plan, seqs))
        })
        .await;
    let (plan, seqs) = match committed {
        Ok(committed) => committed,
        Err(failure) => {
            // A commit the server never answered does not mark the connection broken, and the
            // pool's quick recycling check would hand it to the next batch: never reuse it.
            drop(db::pool::PooledConnection::take(conn));
            return Err(failure);
        }
    };
    answers(plan, calls, &seqs)
}

/// Locks the batch's wallets, then reads the clock (a capture that waited past its hold's
/// deadline must see that it did), the references and the holds, and decides every request.
async fn decide_locked(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    calls: &[MovementCall],
) -> Result<(Plan, DateTime<Utc>), BatchFailure> {
    let mut wallet_ids: Vec<Uuid> = calls.iter().map(|call| call.wallet_id.as_uuid()).collect();
    wallet_ids.sort_unstable();
    wallet_ids.dedup();
    let locked = sql::lock_wallets(conn, &wallet_ids).await?;
    // PostgreSQL keeps microseconds: the answers must equal what a replay or the history reads.
    let now = ledger.now().trunc_subsecs(6);
    let mut loaded = Loaded::default();
    for row in &locked {
        loaded
            .wallets
            .insert(WalletId::from_uuid(row.id), row.state()?);
    }
    let named_holds: Vec<Uuid> = calls
        .iter()
        .filter_map(|call| call.hold_id.map(|id| id.as_uuid()))
        .collect();
    let (entries, holds) = futures::try_join!(
        sql::find_entries(
            &*conn,
            calls.iter().map(|call| call.wallet_id.as_uuid()).collect(),
            calls.iter().map(|call| call.reference.as_str()).collect(),
        ),
        sql::find_holds(&*conn, named_holds),
    )?;
    for row in holds {
        loaded
            .holds
            .insert(HoldId::from_uuid(row.id), batch_hold(&row)?);
    }
    // A replayed hold request answers with its hold, which no request named.
    let reserved: Vec<Uuid> = entries
        .iter()
        .filter_map(|row| row.hold_id)
        .filter(|id| !loaded.holds.contains_key(&HoldId::from_uuid(*id)))
        .collect();
    for row in sql::find_holds(&*conn, reserved).await? {
        loaded
            .holds
            .insert(HoldId::from_uuid(row.id), batch_hold(&row)?);
    }
    for row in entries {
        let wallet_id = WalletId::from_uuid(row.wallet_id);
        let Some(wallet) = loaded.wallets.get(&wallet_id) else {
            continue;
        };
        let entry = row.into_entry(wallet.currency)?;
        loaded
            .entries
            .insert((wallet_id, entry.reference.clone()), entry);
    }
    let calls: Vec<&MovementCall> = calls.iter().collect();
    Ok((plan(loaded, &calls, now), now))
}

fn batch_hold(row: &store::HoldRow) -> Result<BatchHold, LedgerError> {
    Ok(BatchHold {
        state: row.state()?,
        wallet_id: WalletId::from_uuid(row.wallet_id),
        created_at: row.created_at,
        closed_at: row.closed_at,
    })
}

/// Each request's answer from the committed plan, with the entries' `seq` filled in.
fn answers(
    plan: Plan,
    calls: &[MovementCall],
    seqs: &HashMap<Uuid, i64>,
) -> Result<Answers, BatchFailure> {
    let mut entries: Vec<Entry> = Vec::with_capacity(plan.writes.len());
    for write in plan.writes {
        let mut entry = write.entry;
        entry.seq = *seqs
            .get(&entry.id.as_uuid())
            .ok_or_else(|| BatchFailure::Corrupt(format!("entry {} was not written", entry.id)))?;
        entries.push(entry);
    }
    let wallets: HashMap<WalletId, _> = plan
        .wallets
        .iter()
        .map(|wallet| (wallet.id, wallet))
        .collect();
    let answers = plan
        .verdicts
        .into_iter()
        .zip(calls)
        .map(|(verdict, call)| match verdict {
            Verdict::Applied { write, hold } => {
                let entry = entries[write].clone();
                if let Some(wallet) = wallets.get(&call.wallet_id) {
                    log_movement(wallet, &entry, call);
                }
                Ok(Answer {
                    entry,
                    hold,
                    replayed: false,
                })
            }
            Verdict::ReplayedInBatch { write, hold } => Ok(Answer {
                entry: entries[write].clone(),
                hold,
                replayed: true,
            }),
            Verdict::Replayed { entry, hold } => Ok(Answer {
                entry: *entry,
                hold,
                replayed: true,
            }),
            Verdict::Refused(error) => Err(error),
        })
        .collect();
    Ok(answers)
}
