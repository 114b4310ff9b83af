//! The batching writer (group commit): concurrent money movements written by one transaction,
//! and one durable commit, per batch.
//!
//! Each request waits in its wallet's shard queue. A shard writes one batch at a time: it takes
//! everything queued (up to `max_batch`), and while that batch commits the next one queues.
//! There is no waiting window: a lone request is written at once, a busy wallet gets bigger
//! batches. Inside a batch each request is decided in arrival order by the same rules as alone
//! (`decide`), so it sees the balance its predecessors left; a refusal answers only its own
//! request. Nothing is answered before the batch's commit returned.
//!
//! A wallet always maps to the same shard, so its requests keep their arrival order and two
//! shards of one process never wait on each other's locks. Writers of other processes on the
//! same wallets serialize on the wallets' row locks, taken in id order.
//!
//! `Ledger`'s methods that take a connection stay for callers that need a movement inside their
//! own transaction.

mod batch;

use std::{ops::RangeInclusive, sync::Arc};

use db::DbPool;
use primitives::{
    WalletId,
    config::{ConfigError, Env, Variable},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    error::LedgerError,
    ledger::Ledger,
    model::{Entry, Hold, HoldReceipt, Outcome},
    request::{
        CaptureRequest, CorrectionRequest, CreditRequest, DebitRequest, HoldRequest, MovementCall,
        ReleaseRequest, ReversalRequest,
    },
};

/// How the writer batches.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The most requests one transaction writes (`LEDGER_WRITER_MAX_BATCH`).
    pub max_batch: usize,
    /// Batches in flight at once, each on its own connection, each for its own wallets
    /// (`LEDGER_WRITER_SHARDS`). One hot wallet is always one shard.
    pub shards: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            shards: 2,
        }
    }
}

impl WriterConfig {
    /// `LEDGER_WRITER_MAX_BATCH`'s range.
    pub const MAX_BATCH: RangeInclusive<usize> = 1..=10_000;
    /// `LEDGER_WRITER_SHARDS`'s range.
    pub const SHARDS: RangeInclusive<usize> = 1..=64;

    /// Read by every process that runs a writer: the api (wallet routes) and the worker (the
    /// dispatcher's charges).
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "LEDGER_WRITER_MAX_BATCH",
            default: "256",
            meaning: "the most requests (debits, credits, corrections, holds, captures, releases) the ledger's batching writer writes in one transaction, 1 to 10000",
        },
        Variable {
            name: "LEDGER_WRITER_SHARDS",
            default: "2",
            meaning: "how many batches the ledger writer writes at once, 1 to 64; each holds a connection of the pool (`DATABASE_POOL_SIZE`) while it is written, and a wallet's requests always go to the same one",
        },
    ];

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            max_batch: env.number(
                "LEDGER_WRITER_MAX_BATCH",
                Self::MAX_BATCH,
                default.max_batch,
            )?,
            shards: env.number("LEDGER_WRITER_SHARDS", Self::SHARDS, default.shards)?,
        })
    }

    /// Settings made in code are held to the environment's ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let within = |name, value: usize, range: RangeInclusive<usize>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::new(
                    name,
                    format!("expected {} to {}, got {value}", range.start(), range.end()),
                ))
            }
        };
        within("LEDGER_WRITER_MAX_BATCH", self.max_batch, Self::MAX_BATCH)?;
        within("LEDGER_WRITER_SHARDS", self.shards, Self::SHARDS)
    }
}

/// Requests waiting per shard before callers wait to enqueue (back pressure).
const QUEUE_PER_SHARD: usize = 4096;

/// The writer's handle. Cheap to clone; the shard tasks stop when every handle is dropped and
/// what was queued is written.
#[derive(Debug, Clone)]
pub struct LedgerWriter {
    shards: Arc<[mpsc::Sender<Job>]>,
}

/// One queued request and where its answer goes.
struct Job {
    call: MovementCall,
    reply: oneshot::Sender<Result<Answer, LedgerError>>,
}

/// What the batch answers a request with.
#[derive(Debug)]
struct Answer {
    entry: Entry,
    /// For hold requests: the hold as the request left it.
    hold: Option<Hold>,
    replayed: bool,
}

impl LedgerWriter {
    /// Starts the shard tasks on the current tokio runtime. Each batch takes a connection from
    /// `pool` for its transaction.
    pub fn start(pool: DbPool, ledger: Ledger, config: WriterConfig) -> Self {
        let max_batch = config.max_batch.max(1);
        let shards = (0..config.shards.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE_PER_SHARD);
                tokio::spawn(batch::run_shard(
                    pool.clone(),
                    ledger.clone(),
                    receiver,
                    max_batch,
                ));
                sender
            })
            .collect();
        Self { shards }
    }

    pub async fn debit(&self, request: DebitRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    pub async fn credit(&self, request: CreditRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    pub async fn correct(&self, request: CorrectionRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    /// As [`Ledger::reverse`]: at most what is available, also on a frozen wallet.
    pub async fn reverse(&self, request: ReversalRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    pub async fn hold(&self, request: HoldRequest) -> Result<Outcome<HoldReceipt>, LedgerError> {
        let answer = self.submit(request.into()).await?;
        let hold = answer
            .hold
            .ok_or_else(|| LedgerError::Corrupt("hold answered without its hold".into()))?;
        let receipt = HoldReceipt {
            hold,
            entry: answer.entry,
        };
        Ok(outcome(receipt, answer.replayed))
    }

    pub async fn capture(&self, request: CaptureRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    pub async fn release(&self, request: ReleaseRequest) -> Result<Outcome<Entry>, LedgerError> {
        self.entry(request.into()).await
    }

    async fn entry(&self, call: MovementCall) -> Result<Outcome<Entry>, LedgerError> {
        let answer = self.submit(call).await?;
        Ok(outcome(answer.entry, answer.replayed))
    }

    async fn submit(&self, call: MovementCall) -> Result<Answer, LedgerError> {
        let shard = &self.shards[shard_of(call.wallet_id, self.shards.len())];
        let (reply, answer) = oneshot::channel();
        shard
            .send(Job { call, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn outcome<T>(value: T, replayed: bool) -> Outcome<T> {
    if replayed {
        Outcome::replayed(value)
    } else {
        Outcome::applied(value)
    }
}

fn stopped() -> LedgerError {
    LedgerError::Unavailable {
        cause: "the ledger writer has stopped".into(),
    }
}

/// Wallet ids are random (v4) or end in random bits (v7), so their low bits spread evenly.
fn shard_of(wallet_id: WalletId, shards: usize) -> usize {
    let low = wallet_id.as_uuid().as_u128() as u64;
    // `shards` is at least 1 and small, so the remainder fits in usize.
    (low % shards as u64) as usize
}
