//! The prepaid wallet ledger (docs/guarantees.md: G1-G5).
//!
//! Every operation takes a `&mut AsyncPgConnection` that may already be inside a transaction
//! (the operation then runs in a savepoint), so callers can combine ledger writes atomically with
//! their own. The wallet row lock is the single serialization point for everything that touches
//! a wallet: balance, held amount, holds, freezes and the idempotency check.
//!
//! Layout: `model`, `input` and `request` hold the domain vocabulary, `decide` the pure rules
//! (no I/O), `store` the SQL, and `ledger` (money movements), `freeze`, `expiry`, `history` and
//! `reconcile` the operations that join the two. `writer` is the batching writer (group commit)
//! over the same rules, for callers that do not need their own transaction.

mod decide;
mod error;
mod expiry;
mod freeze;
mod history;
mod input;
mod ledger;
mod model;
mod reconcile;
mod request;
mod store;
mod writer;

pub use decide::MAX_HOLD_TTL;
pub use error::LedgerError;
pub use expiry::HoldSweep;
pub use history::{Cursor, HistoryPage, HistoryQuery};
pub use input::{Actor, Counterparty, InputError, Reason, Reference};
pub use ledger::Ledger;
pub use model::{
    Entry, EntryKind, Freeze, FreezeOutcome, FreezeSource, Hold, HoldReceipt, HoldStatus, Outcome,
    WalletBalance,
};
pub use reconcile::{Drift, Reconciliation};
pub use request::{
    CaptureRequest, CorrectionRequest, CreditRequest, DebitRequest, FreezeRequest, HoldRequest,
    ReleaseRequest, ReversalRequest, UnfreezeRequest,
};
pub use writer::{LedgerWriter, WriterConfig};
