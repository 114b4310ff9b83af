//! Wallet history: entries newest first, cursor-paginated, optionally filtered by kind.

use std::{fmt, str::FromStr};

use db::schema::ledger_entries;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use primitives::WalletId;

use crate::{
    Ledger,
    error::LedgerError,
    input::InputError,
    model::{Entry, EntryKind},
    store::{self, EntryRow},
};

/// An opaque position in a wallet's history; pass it back to get the next (older) page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('e')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n > 0)
            .map(Self)
            .ok_or_else(|| InputError {
                code: "INVALID_CURSOR",
                field: "cursor",
                message: "is not a cursor returned by this API".into(),
            })
    }
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Only these kinds; empty means all.
    pub kinds: Vec<EntryKind>,
    /// Entries strictly older than this cursor.
    pub before: Option<Cursor>,
    /// Page size, 1..=`HistoryQuery::MAX_LIMIT`.
    pub limit: i64,
}

impl HistoryQuery {
    pub const MAX_LIMIT: i64 = 200;
    pub const DEFAULT_LIMIT: i64 = 50;
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self {
            kinds: Vec::new(),
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub entries: Vec<Entry>,
    /// Present when older entries may exist.
    pub next_cursor: Option<Cursor>,
}

impl Ledger {
    pub async fn history(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        query: HistoryQuery,
    ) -> Result<HistoryPage, LedgerError> {
        if !(1..=HistoryQuery::MAX_LIMIT).contains(&query.limit) {
            return Err(InputError {
                code: "INVALID_LIMIT",
                field: "limit",
                message: format!("must be between 1 and {}", HistoryQuery::MAX_LIMIT),
            }
            .into());
        }
        let currency = store::wallet_row(conn, wallet_id).await?.currency()?;
        let mut sql = ledger_entries::table
            .filter(ledger_entries::wallet_id.eq(wallet_id.as_uuid()))
            .select(EntryRow::as_select())
            .order(ledger_entries::seq.desc())
            // One extra row tells whether another page exists.
            .limit(query.limit + 1)
            .into_boxed();
        if let Some(Cursor(seq)) = query.before {
            sql = sql.filter(ledger_entries::seq.lt(seq));
        }
        if !query.kinds.is_empty() {
            let kinds: Vec<&str> = query.kinds.iter().map(|kind| kind.as_str()).collect();
            sql = sql.filter(ledger_entries::kind.eq_any(kinds));
        }
        let mut rows: Vec<EntryRow> = sql.load(conn).await?;
        let more = rows.len() as i64 > query.limit;
        rows.truncate(usize::try_from(query.limit).unwrap_or(0));
        let entries = rows
            .into_iter()
            .map(|row| row.into_entry(currency))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            entries.last().map(|entry| Cursor(entry.seq))
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            next_cursor,
        })
    }
}
