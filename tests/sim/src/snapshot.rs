//! The state the per-step checks read, in one round trip: wallets, the ledger entries written
//! since the last look, freeze events, what open holds reserve, each organization's standing,
//! the campaigns a person paused, the running campaigns, the outbox's size.
//!
//! Nothing moves between two steps, so the snapshot taken after one step is also the state
//! before the next: the steps read their "before" figures from it instead of asking again.

use std::collections::HashMap;

use diesel::{
    QueryableByName,
    sql_types::{Array, BigInt, Text, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use uuid::Uuid;

use crate::sql::{EntryRow, Standing, WalletRow};

/// One look at the database.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Snapshot {
    pub wallets: Vec<WalletDoc>,
    /// Entries after the `seq` asked for, in order.
    pub entries: Vec<EntryDoc>,
    /// Freeze and unfreeze events per wallet.
    pub freeze_events: HashMap<Uuid, i64>,
    /// What open holds still reserve, per wallet.
    pub reserved: HashMap<Uuid, i64>,
    pub standings: Vec<StandingDoc>,
    /// The campaigns asked about (those a person paused).
    pub paused: Vec<CampaignDoc>,
    pub running: Vec<Uuid>,
    pub outbox_rows: i64,
    pub outbox_odd: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WalletDoc {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub balance: i64,
    pub held: i64,
    pub frozen: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EntryDoc {
    pub seq: i64,
    pub wallet_id: Uuid,
    pub kind: String,
    pub amount: i64,
    pub balance_change: i64,
    pub held_change: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub reference: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StandingDoc {
    pub organization_id: Uuid,
    pub status: String,
    pub subscription_ok: bool,
    pub billing_block: bool,
    pub customer_block: bool,
    pub frozen: String,
    pub brand_status: String,
    pub available: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CampaignDoc {
    pub id: Uuid,
    pub status: String,
    pub pause_reason: Option<String>,
}

impl From<&WalletDoc> for WalletRow {
    fn from(doc: &WalletDoc) -> Self {
        Self {
            id: doc.id,
            organization_id: doc.organization_id,
            balance: doc.balance,
            held: doc.held,
            frozen: doc.frozen.clone(),
        }
    }
}

impl From<&StandingDoc> for Standing {
    fn from(doc: &StandingDoc) -> Self {
        Self {
            organization_id: doc.organization_id,
            status: doc.status.clone(),
            subscription_ok: doc.subscription_ok,
            billing_block: doc.billing_block,
            customer_block: doc.customer_block,
            frozen: doc.frozen.clone(),
            brand_status: doc.brand_status.clone(),
            available: doc.available,
        }
    }
}

impl From<&EntryDoc> for EntryRow {
    fn from(doc: &EntryDoc) -> Self {
        Self {
            seq: doc.seq,
            wallet_id: doc.wallet_id,
            kind: doc.kind.clone(),
            amount: doc.amount,
            balance_change: doc.balance_change,
            held_change: doc.held_change,
            balance_after: doc.balance_after,
            held_after: doc.held_after,
            reference: doc.reference.clone(),
        }
    }
}

impl Snapshot {
    pub fn wallet(&self, id: Uuid) -> Option<WalletRow> {
        self.wallets
            .iter()
            .find(|w| w.id == id)
            .map(WalletRow::from)
    }

    pub fn standing(&self, organization: Uuid) -> Option<Standing> {
        self.standings
            .iter()
            .find(|s| s.organization_id == organization)
            .map(Standing::from)
    }
}

const SNAPSHOT: &str = "\
SELECT json_build_object(
  'wallets', (SELECT coalesce(json_agg(json_build_object(
      'id', id, 'organization_id', organization_id, 'balance', balance, 'held', held,
      'frozen', array_to_string(frozen_by, ',')) ORDER BY id), '[]') FROM wallets),
  'entries', (SELECT coalesce(json_agg(json_build_object(
      'seq', e.seq, 'wallet_id', e.wallet_id, 'kind', e.kind, 'amount', e.amount,
      'balance_change', e.balance_change, 'held_change', e.held_change,
      'balance_after', e.balance_after, 'held_after', e.held_after, 'reference', e.reference)
      ORDER BY e.seq), '[]')
      -- Per wallet, through the (wallet_id, seq) index: seq alone has none.
      FROM wallets w CROSS JOIN LATERAL (
          SELECT * FROM ledger_entries e WHERE e.wallet_id = w.id AND e.seq > $1) e),
  'freeze_events', (SELECT coalesce(json_object_agg(wallet_id, n), '{}') FROM (
      SELECT wallet_id, count(*) AS n FROM wallet_freeze_events GROUP BY wallet_id) f),
  'reserved', (SELECT coalesce(json_object_agg(wallet_id, n), '{}') FROM (
      SELECT wallet_id, sum(amount - captured - released) AS n FROM holds
      WHERE status = 'open' GROUP BY wallet_id) h),
  'standings', (SELECT coalesce(json_agg(json_build_object(
      'organization_id', o.id, 'status', s.status,
      'subscription_ok', s.status IN ('trialing', 'active') AND NOT EXISTS (
          SELECT 1 FROM access_blocks b WHERE b.organization_id = o.id),
      'billing_block', EXISTS (SELECT 1 FROM access_blocks b
          WHERE b.organization_id = o.id AND b.source = 'billing'),
      'customer_block', EXISTS (SELECT 1 FROM access_blocks b
          WHERE b.organization_id = o.id AND b.source = 'customer'),
      'frozen', array_to_string(w.frozen_by, ','),
      'brand_status', coalesce((SELECT string_agg(messaging_status, ',') FROM brands br
          WHERE br.organization_id = o.id), ''),
      'available', w.balance - w.held) ORDER BY o.id), '[]')
      FROM organizations o JOIN wallets w ON w.organization_id = o.id
      JOIN subscriptions s ON s.organization_id = o.id),
  'paused', (SELECT coalesce(json_agg(json_build_object(
      'id', id, 'status', status, 'pause_reason', pause_reason)), '[]')
      FROM campaigns WHERE id = ANY($2)),
  'running', (SELECT coalesce(json_agg(id), '[]') FROM campaigns WHERE status = 'running'),
  'outbox_rows', (SELECT count(*) FROM outbox_messages),
  'outbox_odd', (SELECT count(*) FROM outbox_messages
      WHERE status NOT IN ('pending', 'delivered', 'dead'))
)::text AS doc";

#[derive(QueryableByName)]
struct Doc {
    #[diesel(sql_type = Text)]
    doc: String,
}

/// The database now: entries after `seq`, and the campaigns of `paused`.
pub async fn take(conn: &mut db::AsyncPgConnection, seq: i64, paused: &[Uuid]) -> Snapshot {
    let doc: Doc = diesel::sql_query(SNAPSHOT)
        .bind::<BigInt, _>(seq)
        .bind::<Array<SqlUuid>, _>(paused)
        .get_result(conn)
        .await
        .unwrap_or_else(|e| panic!("sim: snapshot: {e}"));
    serde_json::from_str(&doc.doc).unwrap_or_else(|e| panic!("sim: snapshot {}: {e}", doc.doc))
}
