//! The ledger operations: lock, decide, write, inside one transaction (a savepoint when the caller
//! already opened one).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use primitives::{Clock, Currency, HoldId, Money, OrganizationId, WalletId};

use crate::{
    decide::{Decision, Request, decide},
    error::LedgerError,
    model::{Entry, HoldReceipt, Outcome, WalletBalance},
    request::{
        CaptureRequest, CorrectionRequest, CreditRequest, DebitRequest, HoldRequest, MovementCall,
        ReleaseRequest,
    },
    store,
};

/// The wallet ledger. Cheap to clone; holds only the clock.
#[derive(Debug, Clone)]
pub struct Ledger {
    clock: Arc<dyn Clock>,
}

impl Ledger {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Opens the organization's wallet. Opening it again in the same currency returns the existing
    /// wallet; in another currency it is `WALLET_ALREADY_EXISTS`.
    pub async fn open_wallet(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        currency: Currency,
    ) -> Result<Outcome<WalletBalance>, LedgerError> {
        primitives::currency_exponent(currency).map_err(|_| LedgerError::UnsupportedCurrency {
            code: currency.code().to_owned(),
        })?;
        let now = self.now();
        let inserted =
            store::insert_wallet(conn, WalletId::new(), organization_id, currency, now).await?;
        let row = store::wallet_row_for_organization(conn, organization_id)
            .await?
            .ok_or(LedgerError::WalletNotFound)?;
        if row.currency()? != currency {
            return Err(LedgerError::WalletAlreadyExists {
                organization_id,
                currency: row.currency()?,
            });
        }
        let balance = self.balance(conn, WalletId::from_uuid(row.id)).await?;
        Ok(if inserted == 1 {
            Outcome::applied(balance)
        } else {
            Outcome::replayed(balance)
        })
    }

    /// The wallet of an organization, if it has one.
    pub async fn wallet_for_organization(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
    ) -> Result<WalletId, LedgerError> {
        store::wallet_row_for_organization(conn, organization_id)
            .await?
            .map(|row| WalletId::from_uuid(row.id))
            .ok_or(LedgerError::WalletNotFound)
    }

    pub async fn balance(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
    ) -> Result<WalletBalance, LedgerError> {
        let row = store::wallet_row(conn, wallet_id).await?;
        let frozen_by = row.frozen_by()?;
        let freezes = store::freeze_details(conn, wallet_id, &frozen_by).await?;
        let currency = row.currency()?;
        let money = |minor| Money::from_minor(minor, currency);
        Ok(WalletBalance {
            wallet_id,
            organization_id: OrganizationId::from_uuid(row.organization_id),
            currency,
            balance: money(row.balance),
            held: money(row.held),
            available: money(row.balance - row.held),
            frozen: !frozen_by.is_empty(),
            freezes,
        })
    }

    pub async fn debit(
        &self,
        conn: &mut AsyncPgConnection,
        request: DebitRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        self.move_money(conn, request.into()).await
    }

    pub async fn credit(
        &self,
        conn: &mut AsyncPgConnection,
        request: CreditRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        self.move_money(conn, request.into()).await
    }

    pub async fn correct(
        &self,
        conn: &mut AsyncPgConnection,
        request: CorrectionRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        self.move_money(conn, request.into()).await
    }

    pub async fn hold(
        &self,
        conn: &mut AsyncPgConnection,
        request: HoldRequest,
    ) -> Result<Outcome<HoldReceipt>, LedgerError> {
        let wallet_id = request.wallet_id;
        conn.transaction(async move |conn| {
            let entry = self.move_money(conn, request.into()).await?;
            let hold_id = entry
                .value
                .hold_id
                .ok_or_else(|| LedgerError::Corrupt("hold entry without a hold".into()))?;
            let hold = self.hold_details(conn, wallet_id, hold_id).await?;
            Ok(entry.map(|entry| HoldReceipt { hold, entry }))
        })
        .await
    }

    pub async fn capture(
        &self,
        conn: &mut AsyncPgConnection,
        request: CaptureRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        self.move_money(conn, request.into()).await
    }

    pub async fn release(
        &self,
        conn: &mut AsyncPgConnection,
        request: ReleaseRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        self.move_money(conn, request.into()).await
    }

    /// A hold as it is now.
    pub async fn hold_details(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        hold_id: HoldId,
    ) -> Result<crate::model::Hold, LedgerError> {
        let row = store::wallet_row(conn, wallet_id).await?;
        store::find_hold(conn, wallet_id, hold_id)
            .await?
            .ok_or(LedgerError::HoldNotFound { hold_id })?
            .into_hold(row.currency()?)
    }

    /// The one path every money movement takes: lock the wallet (reading the reference's earlier
    /// entry and the hold under the lock), decide, then write or replay.
    async fn move_money(
        &self,
        conn: &mut AsyncPgConnection,
        movement: MovementCall,
    ) -> Result<Outcome<Entry>, LedgerError> {
        let MovementCall {
            wallet_id,
            hold_id,
            mut request,
            reference,
            actor,
        } = movement;
        conn.transaction(async move |conn| {
            let (wallet, existing) = store::lock_wallet(conn, wallet_id, Some(&reference)).await?;
            // Read the clock only once the lock is held: a capture that waited past the hold's
            // deadline must see that it did.
            let now = self.now();
            if let Some(hold_id) = hold_id
                && existing.is_none()
            {
                let hold = store::find_hold(conn, wallet_id, hold_id)
                    .await?
                    .map(|row| row.state())
                    .transpose()?;
                attach_hold(&mut request, hold);
            }
            match decide(&wallet, existing.as_ref(), &request, now)? {
                Decision::Replay(entry) => Ok(Outcome::replayed(*entry)),
                Decision::Apply(movement) => {
                    let entry =
                        store::apply(conn, &wallet, &movement, &reference, &actor, now).await?;
                    tracing::info!(
                        wallet_id = %wallet_id, kind = entry.kind.as_str(),
                        amount = entry.amount.minor(), currency = wallet.currency.code(),
                        balance_after = entry.balance_after.minor(),
                        reference = reference.as_str(), actor = actor.as_str(),
                        "money movement"
                    );
                    Ok(Outcome::applied(entry))
                }
            }
        })
        .await
    }
}

fn attach_hold(request: &mut Request, loaded: Option<crate::decide::HoldState>) {
    match request {
        Request::Capture { hold, .. } | Request::Release { hold, .. } => *hold = loaded,
        _ => {}
    }
}
