//! Reconciliation: the stored wallet figures must equal what the entries say (G4).
//!
//! Three independent checks per wallet: the stored balance equals the sum of balance changes, the
//! stored held amount equals both the sum of held changes and what open holds still reserve, and
//! every entry's `*_after` figures follow from the previous entry's (the chain is unbroken).

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bpchar, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use primitives::{Money, WalletId, parse_currency};
use serde::Serialize;
use uuid::Uuid;

use crate::{Ledger, error::LedgerError};

/// The figures of one wallet's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub wallet_id: WalletId,
    pub stored_balance: Money,
    pub entries_balance: Money,
    pub stored_held: Money,
    pub entries_held: Money,
    pub open_holds_held: Money,
    /// Entries whose figures do not follow from the entry before them.
    pub chain_breaks: i64,
}

/// A wallet whose reconciliation is not clean.
pub type Drift = Reconciliation;

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.stored_balance == self.entries_balance
            && self.stored_held == self.entries_held
            && self.stored_held == self.open_holds_held
            && self.chain_breaks == 0
    }
}

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    wallet_id: Uuid,
    #[diesel(sql_type = Bpchar)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    stored_balance: i64,
    #[diesel(sql_type = BigInt)]
    entries_balance: i64,
    #[diesel(sql_type = BigInt)]
    stored_held: i64,
    #[diesel(sql_type = BigInt)]
    entries_held: i64,
    #[diesel(sql_type = BigInt)]
    open_holds_held: i64,
    #[diesel(sql_type = BigInt)]
    chain_breaks: i64,
}

const RECONCILE_SQL: &str = "
SELECT w.id AS wallet_id, w.currency, w.balance AS stored_balance, w.held AS stored_held,
       COALESCE(e.balance, 0)::bigint AS entries_balance,
       COALESCE(e.held, 0)::bigint AS entries_held,
       COALESCE(h.held, 0)::bigint AS open_holds_held,
       COALESCE(c.breaks, 0)::bigint AS chain_breaks
FROM wallets w
LEFT JOIN LATERAL (
    SELECT sum(balance_change) AS balance, sum(held_change) AS held
    FROM ledger_entries WHERE wallet_id = w.id
) e ON true
LEFT JOIN LATERAL (
    SELECT sum(amount - captured - released) AS held
    FROM holds WHERE wallet_id = w.id AND status = 'open'
) h ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS breaks FROM (
        SELECT balance_after - balance_change
                   <> COALESCE(lag(balance_after) OVER (ORDER BY seq), 0)
            OR held_after - held_change
                   <> COALESCE(lag(held_after) OVER (ORDER BY seq), 0) AS broken
        FROM ledger_entries WHERE wallet_id = w.id
    ) chain WHERE broken
) c ON true";

impl Row {
    fn into_reconciliation(self) -> Result<Reconciliation, LedgerError> {
        let currency = parse_currency(&self.currency)
            .map_err(|e| LedgerError::Corrupt(format!("wallet {}: {e}", self.wallet_id)))?;
        let money = |minor| Money::from_minor(minor, currency);
        Ok(Reconciliation {
            wallet_id: WalletId::from_uuid(self.wallet_id),
            stored_balance: money(self.stored_balance),
            entries_balance: money(self.entries_balance),
            stored_held: money(self.stored_held),
            entries_held: money(self.entries_held),
            open_holds_held: money(self.open_holds_held),
            chain_breaks: self.chain_breaks,
        })
    }
}

impl Ledger {
    /// Reconciles one wallet.
    pub async fn reconcile(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
    ) -> Result<Reconciliation, LedgerError> {
        let rows: Vec<Row> = diesel::sql_query(format!("{RECONCILE_SQL} WHERE w.id = $1"))
            .bind::<SqlUuid, _>(wallet_id.as_uuid())
            .load(conn)
            .await?;
        rows.into_iter()
            .next()
            .ok_or(LedgerError::WalletNotFound)?
            .into_reconciliation()
    }

    /// Reconciles every wallet and returns only those that drifted, with their figures.
    pub async fn reconcile_all(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Vec<Drift>, LedgerError> {
        let rows: Vec<Row> = diesel::sql_query(RECONCILE_SQL).load(conn).await?;
        let mut drifts = Vec::new();
        for row in rows {
            let reconciliation = row.into_reconciliation()?;
            if !reconciliation.is_clean() {
                tracing::error!(?reconciliation, "wallet reconciliation drift");
                drifts.push(reconciliation);
            }
        }
        Ok(drifts)
    }
}
