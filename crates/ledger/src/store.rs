//! SQL for the ledger: row types and the queries the operations need. Nothing here decides
//! anything; `decide` does. `batch` holds the batching writer's set-at-a-time statements.

pub(crate) mod batch;

use chrono::{DateTime, Utc};
use db::schema::{holds, ledger_entries, wallet_freeze_events, wallets};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use primitives::{Currency, EntryId, HoldId, Money, OrganizationId, WalletId, parse_currency};
use uuid::Uuid;

use crate::{
    decide::{HoldChange, HoldState, Movement, WalletState},
    error::LedgerError,
    input::{Actor, Counterparty, Reason, Reference},
    model::{Entry, EntryKind, Freeze, FreezeSource, Hold, HoldStatus},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wallets, check_for_backend(diesel::pg::Pg))]
pub(crate) struct WalletRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub currency: String,
    pub balance: i64,
    pub held: i64,
    pub frozen_by: Vec<String>,
}

impl WalletRow {
    pub fn currency(&self) -> Result<Currency, LedgerError> {
        parse_currency(&self.currency)
            .map_err(|e| LedgerError::Corrupt(format!("wallet {}: {e}", self.id)))
    }

    pub fn frozen_by(&self) -> Result<Vec<FreezeSource>, LedgerError> {
        let mut sources = self
            .frozen_by
            .iter()
            .map(|source| parse_source(source))
            .collect::<Result<Vec<_>, _>>()?;
        sources.sort();
        Ok(sources)
    }

    pub fn state(&self) -> Result<WalletState, LedgerError> {
        Ok(WalletState {
            id: WalletId::from_uuid(self.id),
            currency: self.currency()?,
            balance: self.balance,
            held: self.held,
            frozen_by: self.frozen_by()?,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wallet_freeze_events, check_for_backend(diesel::pg::Pg))]
struct FreezeEventRow {
    source: String,
    reason: String,
    actor: String,
    created_at: DateTime<Utc>,
}

fn parse_source(value: &str) -> Result<FreezeSource, LedgerError> {
    FreezeSource::parse(value)
        .ok_or_else(|| LedgerError::Corrupt(format!("unknown freeze source {value:?}")))
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = holds, check_for_backend(diesel::pg::Pg))]
pub(crate) struct HoldRow {
    pub id: Uuid,
    pub wallet_id: Uuid,
    pub amount: i64,
    pub captured: i64,
    pub released: i64,
    pub status: String,
    pub counterparty: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl HoldRow {
    fn status(&self) -> Result<HoldStatus, LedgerError> {
        HoldStatus::parse(&self.status)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown hold status {:?}", self.status)))
    }

    pub fn state(&self) -> Result<HoldState, LedgerError> {
        Ok(HoldState {
            id: HoldId::from_uuid(self.id),
            amount: self.amount,
            captured: self.captured,
            released: self.released,
            status: self.status()?,
            counterparty: Counterparty::from_trusted(self.counterparty.clone()),
            expires_at: self.expires_at,
        })
    }

    pub fn into_hold(self, currency: Currency) -> Result<Hold, LedgerError> {
        let money = |minor| Money::from_minor(minor, currency);
        Ok(Hold {
            id: HoldId::from_uuid(self.id),
            wallet_id: WalletId::from_uuid(self.wallet_id),
            amount: money(self.amount),
            captured: money(self.captured),
            released: money(self.released),
            remaining: money(self.amount - self.captured - self.released),
            status: self.status()?,
            counterparty: Counterparty::from_trusted(self.counterparty),
            expires_at: self.expires_at,
            created_at: self.created_at,
            closed_at: self.closed_at,
        })
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = ledger_entries, check_for_backend(diesel::pg::Pg))]
pub(crate) struct EntryRow {
    pub id: Uuid,
    pub seq: i64,
    pub wallet_id: Uuid,
    pub kind: String,
    pub amount: i64,
    pub balance_change: i64,
    pub held_change: i64,
    pub balance_after: i64,
    pub held_after: i64,
    pub counterparty: String,
    pub reference: String,
    pub hold_id: Option<Uuid>,
    pub reason: Option<String>,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl EntryRow {
    pub fn into_entry(self, currency: Currency) -> Result<Entry, LedgerError> {
        let money = |minor| Money::from_minor(minor, currency);
        let kind = EntryKind::parse(&self.kind)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown entry kind {:?}", self.kind)))?;
        Ok(Entry {
            id: EntryId::from_uuid(self.id),
            wallet_id: WalletId::from_uuid(self.wallet_id),
            kind,
            amount: money(self.amount),
            balance_change: money(self.balance_change),
            held_change: money(self.held_change),
            balance_after: money(self.balance_after),
            held_after: money(self.held_after),
            counterparty: Counterparty::from_trusted(self.counterparty),
            reference: Reference::from_trusted(self.reference),
            hold_id: self.hold_id.map(HoldId::from_uuid),
            reason: self.reason.map(Reason::from_trusted),
            actor: Actor::from_trusted(self.actor),
            created_at: self.created_at,
            seq: self.seq,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = ledger_entries)]
struct NewEntry<'a> {
    id: Uuid,
    wallet_id: Uuid,
    kind: &'a str,
    amount: i64,
    balance_change: i64,
    held_change: i64,
    balance_after: i64,
    held_after: i64,
    counterparty: &'a str,
    reference: &'a str,
    hold_id: Option<Uuid>,
    reason: Option<&'a str>,
    actor: &'a str,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = holds)]
struct NewHold<'a> {
    id: Uuid,
    wallet_id: Uuid,
    amount: i64,
    status: &'a str,
    counterparty: &'a str,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

/// The wallet, locked for the rest of the transaction: the one serialization point of
/// everything that touches it.
pub(crate) async fn lock_wallet(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
) -> Result<WalletState, LedgerError> {
    wallets::table
        .find(wallet_id.as_uuid())
        .for_update()
        .select(WalletRow::as_select())
        .get_result(conn)
        .await
        .optional()?
        .ok_or(LedgerError::WalletNotFound)?
        .state()
}

/// The entry already recorded under `reference`. Called with the wallet locked: under READ
/// COMMITTED each statement sees what was committed before it started, so this sees the entry of
/// any operation that held the lock before us. (Sent in one pipeline with the lock it would
/// depend on the driver's send order; as a subquery of the locking statement it would use the
/// snapshot from before the lock wait.)
pub(crate) async fn find_entry(
    conn: &mut AsyncPgConnection,
    wallet: &WalletState,
    reference: &Reference,
) -> Result<Option<Entry>, LedgerError> {
    ledger_entries::table
        .filter(ledger_entries::wallet_id.eq(wallet.id.as_uuid()))
        .filter(ledger_entries::reference.eq(reference.as_str()))
        .select(EntryRow::as_select())
        .get_result(conn)
        .await
        .optional()?
        .map(|entry| entry.into_entry(wallet.currency))
        .transpose()
}

pub(crate) async fn find_hold(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
    hold_id: HoldId,
) -> Result<Option<HoldRow>, LedgerError> {
    Ok(holds::table
        .find(hold_id.as_uuid())
        .filter(holds::wallet_id.eq(wallet_id.as_uuid()))
        .select(HoldRow::as_select())
        .get_result(conn)
        .await
        .optional()?)
}

/// Appends the entry and applies the movement to the wallet (and hold) row. The writes are
/// pipelined; the caller's transaction makes them atomic.
///
/// Returns `None`, having written the wallet row, when the reference already has an entry: the
/// caller must then roll its transaction back (and answer with a replay or a conflict).
pub(crate) async fn apply(
    conn: &mut AsyncPgConnection,
    wallet: &WalletState,
    movement: &Movement,
    reference: &Reference,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Option<Entry>, LedgerError> {
    let wallet_id = wallet.id.as_uuid();
    // The hold row must exist before the entry that references it.
    if let Some(HoldChange::Create { id, expires_at }) = &movement.hold {
        diesel::insert_into(holds::table)
            .values(NewHold {
                id: id.as_uuid(),
                wallet_id,
                amount: movement.amount,
                status: HoldStatus::Open.as_str(),
                counterparty: movement.counterparty.as_str(),
                expires_at: *expires_at,
                created_at: now,
            })
            .execute(conn)
            .await?;
    }
    let update_wallet = diesel::update(wallets::table.find(wallet_id))
        .set((
            wallets::balance.eq(movement.balance_after),
            wallets::held.eq(movement.held_after),
        ))
        .execute(&mut &*conn);
    let update_hold = update_hold(conn, movement.hold.as_ref(), now);
    let insert_entry = diesel::insert_into(ledger_entries::table)
        .values(NewEntry {
            id: EntryId::new().as_uuid(),
            wallet_id,
            kind: movement.kind.as_str(),
            amount: movement.amount,
            balance_change: movement.balance_change,
            held_change: movement.held_change,
            balance_after: movement.balance_after,
            held_after: movement.held_after,
            counterparty: movement.counterparty.as_str(),
            reference: reference.as_str(),
            hold_id: movement.hold_id().map(|id| id.as_uuid()),
            reason: movement.reason.as_ref().map(Reason::as_str),
            actor: actor.as_str(),
            created_at: now,
        })
        .on_conflict((ledger_entries::wallet_id, ledger_entries::reference))
        .do_nothing()
        .returning(EntryRow::as_returning())
        .get_result(&mut &*conn);
    let (updated, hold_updated, entry) = futures::join!(update_wallet, update_hold, insert_entry);
    if updated? != 1 {
        return Err(LedgerError::Corrupt("locked wallet row vanished".into()));
    }
    hold_updated?;
    entry
        .optional()?
        .map(|row| row.into_entry(wallet.currency))
        .transpose()
}

async fn update_hold(
    mut conn: &AsyncPgConnection,
    change: Option<&HoldChange>,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let Some(HoldChange::Update {
        id,
        captured,
        released,
        status,
    }) = change
    else {
        return Ok(());
    };
    let closed_at = (*status != HoldStatus::Open).then_some(now);
    let updated = diesel::update(holds::table.find(id.as_uuid()))
        .set((
            holds::captured.eq(captured),
            holds::released.eq(released),
            holds::status.eq(status.as_str()),
            holds::closed_at.eq(closed_at),
        ))
        .execute(&mut conn)
        .await?;
    if updated == 1 {
        Ok(())
    } else {
        Err(LedgerError::Corrupt(format!("hold {id} vanished")))
    }
}

pub(crate) async fn wallet_row(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
) -> Result<WalletRow, LedgerError> {
    wallets::table
        .find(wallet_id.as_uuid())
        .select(WalletRow::as_select())
        .get_result(conn)
        .await
        .optional()?
        .ok_or(LedgerError::WalletNotFound)
}

pub(crate) async fn wallet_row_for_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Option<WalletRow>, LedgerError> {
    Ok(wallets::table
        .filter(wallets::organization_id.eq(organization_id.as_uuid()))
        .select(WalletRow::as_select())
        .get_result(conn)
        .await
        .optional()?)
}

pub(crate) async fn insert_wallet(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
    organization_id: OrganizationId,
    currency: Currency,
    now: DateTime<Utc>,
) -> Result<usize, LedgerError> {
    let inserted = diesel::insert_into(wallets::table)
        .values((
            wallets::id.eq(wallet_id.as_uuid()),
            wallets::organization_id.eq(organization_id.as_uuid()),
            wallets::currency.eq(currency.code()),
            wallets::created_at.eq(now),
        ))
        .on_conflict(wallets::organization_id)
        .do_nothing()
        .execute(conn)
        .await;
    match inserted {
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Err(LedgerError::OrganizationNotFound),
        other => Ok(other?),
    }
}

/// Details of the given active freezes: the latest `freeze` event of each source.
pub(crate) async fn freeze_details(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
    sources: &[FreezeSource],
) -> Result<Vec<Freeze>, LedgerError> {
    if sources.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = sources.iter().map(|source| source.as_str()).collect();
    let rows: Vec<FreezeEventRow> = wallet_freeze_events::table
        .filter(wallet_freeze_events::wallet_id.eq(wallet_id.as_uuid()))
        .filter(wallet_freeze_events::action.eq("freeze"))
        .filter(wallet_freeze_events::source.eq_any(names))
        .distinct_on(wallet_freeze_events::source)
        .order((
            wallet_freeze_events::source,
            wallet_freeze_events::created_at.desc(),
            wallet_freeze_events::id.desc(),
        ))
        .select(FreezeEventRow::as_select())
        .load(conn)
        .await?;
    let mut freezes = rows
        .into_iter()
        .map(|row| {
            Ok(Freeze {
                source: parse_source(&row.source)?,
                reason: Reason::from_trusted(row.reason),
                actor: Actor::from_trusted(row.actor),
                frozen_at: row.created_at,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    freezes.sort_by_key(|freeze| freeze.frozen_at);
    Ok(freezes)
}

/// Sets the wallet's frozen sources (the caller holds the wallet lock and decided the change)
/// and appends the audit event.
pub(crate) async fn record_freeze_change(
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
    frozen_by: &[FreezeSource],
    event: (&str, FreezeSource),
    reason: &Reason,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let wallet = wallet_id.as_uuid();
    let names: Vec<&str> = frozen_by.iter().map(|source| source.as_str()).collect();
    let (action, source) = event;
    diesel::update(wallets::table.find(wallet))
        .set(wallets::frozen_by.eq(names))
        .execute(conn)
        .await?;
    diesel::insert_into(wallet_freeze_events::table)
        .values((
            wallet_freeze_events::id.eq(Uuid::now_v7()),
            wallet_freeze_events::wallet_id.eq(wallet),
            wallet_freeze_events::action.eq(action),
            wallet_freeze_events::source.eq(source.as_str()),
            wallet_freeze_events::reason.eq(reason.as_str()),
            wallet_freeze_events::actor.eq(actor.as_str()),
            wallet_freeze_events::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Open holds past their deadline, oldest deadline first, with their wallets.
pub(crate) async fn due_holds(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(HoldId, WalletId)>, LedgerError> {
    let rows: Vec<(Uuid, Uuid)> = holds::table
        .filter(holds::status.eq(HoldStatus::Open.as_str()))
        .filter(holds::expires_at.le(now))
        .order(holds::expires_at)
        .limit(limit)
        .select((holds::id, holds::wallet_id))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(hold, wallet)| (HoldId::from_uuid(hold), WalletId::from_uuid(wallet)))
        .collect())
}
