//! Reading the database the way an auditor would: plain SQL over the tables, independent of the
//! crates' own queries, so a bug in a crate's reads cannot hide a bug in its writes.

use db::AsyncPgConnection;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The `n` column (bigint) of every row.
pub async fn numbers(conn: &mut AsyncPgConnection, sql: &str) -> Vec<i64> {
    let rows: Vec<Number> = diesel::sql_query(sql)
        .load(conn)
        .await
        .unwrap_or_else(|e| panic!("sim: {sql}: {e}"));
    rows.into_iter().map(|row| row.n).collect()
}

/// The `n` column of the one row.
pub async fn number(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    numbers(conn, sql)
        .await
        .as_slice()
        .first()
        .copied()
        .unwrap_or(0)
}

/// A wallet as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct WalletRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub balance: i64,
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    /// The freeze sources, comma-separated ('' when not frozen).
    #[diesel(sql_type = Text)]
    pub frozen: String,
}

impl WalletRow {
    pub fn available(&self) -> i64 {
        self.balance - self.held
    }

    pub fn is_frozen(&self) -> bool {
        !self.frozen.is_empty()
    }

    pub fn frozen_by(&self, source: &str) -> bool {
        self.frozen.split(',').any(|s| s == source)
    }
}

/// What an organization may do, from the sources of truth, as the guarantees define it: send
/// when the subscription is trialing or active with no access block, the wallet is not frozen
/// and the brand's subaccount is active.
#[derive(Debug, Clone, QueryableByName)]
pub struct Standing {
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Bool)]
    pub subscription_ok: bool,
    #[diesel(sql_type = Bool)]
    pub billing_block: bool,
    #[diesel(sql_type = Bool)]
    pub customer_block: bool,
    #[diesel(sql_type = Text)]
    pub frozen: String,
    #[diesel(sql_type = Text)]
    pub brand_status: String,
    #[diesel(sql_type = BigInt)]
    pub available: i64,
}

impl Standing {
    pub fn may_send(&self) -> bool {
        self.subscription_ok && self.frozen.is_empty() && self.brand_status == "active"
    }
}

pub async fn standings(conn: &mut AsyncPgConnection) -> Vec<Standing> {
    diesel::sql_query(
        "SELECT o.id AS organization_id, s.status, \
           (s.status IN ('trialing', 'active') AND NOT EXISTS \
              (SELECT 1 FROM access_blocks b WHERE b.organization_id = o.id)) AS subscription_ok, \
           EXISTS (SELECT 1 FROM access_blocks b WHERE b.organization_id = o.id \
                   AND b.source = 'billing') AS billing_block, \
           EXISTS (SELECT 1 FROM access_blocks b WHERE b.organization_id = o.id \
                   AND b.source = 'customer') AS customer_block, \
           array_to_string(w.frozen_by, ',') AS frozen, \
           coalesce((SELECT string_agg(messaging_status, ',') FROM brands br \
                     WHERE br.organization_id = o.id), '') AS brand_status, \
           w.balance - w.held AS available \
         FROM organizations o \
         JOIN wallets w ON w.organization_id = o.id \
         JOIN subscriptions s ON s.organization_id = o.id \
         ORDER BY o.id",
    )
    .load(conn)
    .await
    .unwrap_or_else(|e| panic!("sim: standings: {e}"))
}

/// One ledger entry, for the running sums.
#[derive(Debug, Clone, QueryableByName)]
pub struct EntryRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = SqlUuid)]
    pub wallet_id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub amount: i64,
    #[diesel(sql_type = BigInt)]
    pub balance_change: i64,
    #[diesel(sql_type = BigInt)]
    pub held_change: i64,
    #[diesel(sql_type = BigInt)]
    pub balance_after: i64,
    #[diesel(sql_type = BigInt)]
    pub held_after: i64,
    #[diesel(sql_type = Text)]
    pub reference: String,
}

/// The entries of `reference` on `wallet`.
pub async fn entries_of(
    conn: &mut AsyncPgConnection,
    wallet: Uuid,
    reference: &str,
) -> Vec<EntryRow> {
    diesel::sql_query(
        "SELECT seq, wallet_id, kind, amount, balance_change, held_change, balance_after, \
                held_after, reference \
         FROM ledger_entries WHERE wallet_id = $1 AND reference = $2",
    )
    .bind::<SqlUuid, _>(wallet)
    .bind::<Text, _>(reference)
    .load(conn)
    .await
    .unwrap_or_else(|e| panic!("sim: entries of {reference}: {e}"))
}

/// A campaign as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct CampaignRow {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub organization_id: Uuid,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub pause_reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub cost_per_message: i64,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub sending: i64,
}

const CAMPAIGN_ROW: &str = "\
    SELECT c.id, c.organization_id, c.status, c.pause_reason, c.cost_per_message, \
      (SELECT count(*) FROM campaign_recipients r \
       WHERE r.campaign_id = c.id AND r.status = 'pending') AS pending, \
      (SELECT count(*) FROM campaign_recipients r \
       WHERE r.campaign_id = c.id AND r.status = 'sending') AS sending \
    FROM campaigns c";

pub async fn campaigns(conn: &mut AsyncPgConnection) -> Vec<CampaignRow> {
    diesel::sql_query(format!("{CAMPAIGN_ROW} ORDER BY c.created_at, c.id"))
        .load(conn)
        .await
        .unwrap_or_else(|e| panic!("sim: campaigns: {e}"))
}

pub async fn campaign(conn: &mut AsyncPgConnection, id: Uuid) -> Option<CampaignRow> {
    diesel::sql_query(format!("{CAMPAIGN_ROW} WHERE c.id = $1"))
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await
        .unwrap_or_else(|e| panic!("sim: campaign: {e}"))
        .into_iter()
        .next()
}

/// The current time of the database rows' clock: the sim's, passed in.
#[derive(Debug, Clone, QueryableByName)]
pub struct TimeRow {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn time(
    conn: &mut AsyncPgConnection,
    sql: &str,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let rows: Vec<TimeRow> = diesel::sql_query(sql)
        .load(conn)
        .await
        .unwrap_or_else(|e| panic!("sim: {sql}: {e}"));
    rows.into_iter().next().and_then(|row| row.at)
}

/// Quotes a timestamp for SQL text.
pub fn at(time: chrono::DateTime<chrono::Utc>) -> String {
    format!("'{}'::timestamptz", time.to_rfc3339())
}
