//! Reconciliation: the stored wallet figures must equal what the entries say (G4).
//!
//! Three independent checks per wallet: the stored balance equals the sum of balance changes, the
//! stored held amount equals both the sum of held changes and what open holds still reserve, and
//! every entry's `*_after` figures follow from the previous entry's (the chain is unbroken).

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bpchar, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use primitives::{Currency, WalletId};
use uuid::Uuid;

use crate::{Ledger, error::LedgerError};

/// The figures of one wallet's reconciliation, in minor units.
///
/// Sums are computed in `numeric` and carried as `i128`, so a wallet whose entries add up beyond
/// `i64` (which only corruption can cause) is reported with its figures instead of failing the
/// whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub wallet_id: WalletId,
    /// The stored currency code; `None` when it is not a currency the ledger can hold.
    pub currency: Option<Currency>,
    pub stored_balance: i128,
    pub entries_balance: i128,
    pub stored_held: i128,
    pub entries_held: i128,
    pub open_holds_held: i128,
    /// Entries whose figures do not follow from the entry before them.
    pub chain_breaks: i64,
}

/// A wallet whose reconciliation is not clean.
pub type Drift = Reconciliation;

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.currency.is_some()
            && self.stored_balance == self.entries_balance
            && self.stored_held == self.entries_held
            && self.stored_held == self.open_holds_held
            && self.chain_breaks == 0
    }

    /// A figure as an exact decimal string in the wallet's currency ("12.34"); minor units when
    /// the currency is unknown.
    pub fn decimal(&self, minor: i128) -> String {
        let exponent = self
            .currency
            .and_then(|currency| currency.exponent())
            .map_or(0, u32::from);
        if exponent == 0 {
            return minor.to_string();
        }
        let scale = 10u128.pow(exponent);
        let magnitude = minor.unsigned_abs();
        let sign = if minor < 0 { "-" } else { "" };
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
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
    stored_held: i64,
    #[diesel(sql_type = Text)]
    entries_balance: String,
    #[diesel(sql_type = Text)]
    entries_held: String,
    #[diesel(sql_type = Text)]
    open_holds_held: String,
    #[diesel(sql_type = BigInt)]
    chain_breaks: i64,
}

const RECONCILE_SQL: &str = "
SELECT w.id AS wallet_id, w.currency, w.balance AS stored_balance, w.held AS stored_held,
       COALESCE(e.balance, 0)::text AS entries_balance,
       COALESCE(e.held, 0)::text AS entries_held,
       COALESCE(h.held, 0)::text AS open_holds_held,
       COALESCE(c.breaks, 0)::bigint AS chain_breaks
FROM wallets w
LEFT JOIN LATERAL (
    SELECT sum(balance_change) AS balance, sum(held_change) AS held
    FROM ledger_entries WHERE wallet_id = w.id
) e ON true
LEFT JOIN LATERAL (
    SELECT sum(amount::numeric - captured - released) AS held
    FROM holds WHERE wallet_id = w.id AND status = 'open'
) h ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS breaks FROM (
        SELECT balance_after::numeric - balance_change
                   <> COALESCE(lag(balance_after) OVER (ORDER BY seq), 0)
            OR held_after::numeric - held_change
                   <> COALESCE(lag(held_after) OVER (ORDER BY seq), 0) AS broken
        FROM ledger_entries WHERE wallet_id = w.id
    ) chain WHERE broken
) c ON true";

impl Row {
    fn into_reconciliation(self) -> Reconciliation {
        // A sum that does not even fit i128 is reported as the largest figure: still a drift.
        let figure = |text: &str| text.parse::<i128>().unwrap_or(i128::MAX);
        Reconciliation {
            wallet_id: WalletId::from_uuid(self.wallet_id),
            currency: primitives::parse_currency(&self.currency).ok(),
            stored_balance: i128::from(self.stored_balance),
            entries_balance: figure(&self.entries_balance),
            stored_held: i128::from(self.stored_held),
            entries_held: figure(&self.entries_held),
            open_holds_held: figure(&self.open_holds_held),
            chain_breaks: self.chain_breaks,
        }
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
            .map(Row::into_reconciliation)
            .ok_or(LedgerError::WalletNotFound)
    }

    /// Reconciles every wallet and returns only those that drifted, with their figures.
    pub async fn reconcile_all(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Vec<Drift>, LedgerError> {
        let rows: Vec<Row> = diesel::sql_query(RECONCILE_SQL).load(conn).await?;
        let drifts: Vec<Drift> = rows
            .into_iter()
            .map(Row::into_reconciliation)
            .filter(|reconciliation| !reconciliation.is_clean())
            .collect();
        for drift in &drifts {
            tracing::error!(?drift, "wallet reconciliation drift");
        }
        Ok(drifts)
    }
}
