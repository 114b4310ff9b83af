//! The ledger operations: lock, decide, write, inside one transaction (a savepoint when the caller
//! already opened one).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use primitives::{Clock, Currency, HoldId, Money, OrganizationId, WalletId};

use crate::{
    decide::{Decision, Request, WalletState, decide},
    error::LedgerError,
    model::{Entry, HoldReceipt, Outcome, WalletBalance},
    request::{
        CaptureRequest, CorrectionRequest, CreditRequest, DebitRequest, HoldRequest, MovementCall,
        ReleaseRequest, ReversalRequest,
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
        balance_of(conn, row).await
    }

    /// The balance of an organization's wallet, found by the organization in the same read.
    pub async fn balance_of_organization(
        &self,
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
    ) -> Result<WalletBalance, LedgerError> {
        let row = store::wallet_row_for_organization(conn, organization_id)
            .await?
            .ok_or(LedgerError::WalletNotFound)?;
        balance_of(conn, row).await
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

    /// Takes back money a payment provider reversed (refund, chargeback, lost dispute): at most
    /// what is available, also on a frozen wallet. The entry's `amount` is what was taken; when
    /// nothing is available it is `INSUFFICIENT_FUNDS` and nothing is written. A retry with the
    /// same reference replays the original reversal (even one that took less), never taking the
    /// rest later.
    pub async fn reverse(
        &self,
        conn: &mut AsyncPgConnection,
        request: ReversalRequest,
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

    /// The one path every money movement takes.
    ///
    /// Optimistic first: lock the wallet, decide as if the reference were new, and write; the
    /// entry's insert skips a reference that already has an entry. That keeps the common case to
    /// three round trips under the wallet lock (lock, writes, commit). A refusal, or a reference
    /// found taken (then everything is rolled back), goes through the careful path, which looks
    /// the reference up under the lock first: a replay wins over every other rule.
    async fn move_money(
        &self,
        conn: &mut AsyncPgConnection,
        call: MovementCall,
    ) -> Result<Outcome<Entry>, LedgerError> {
        match self.apply_if_new(conn, &call).await {
            Ok(Some(entry)) => Ok(Outcome::applied(entry)),
            Ok(None) => self.replay_or_apply(conn, call).await,
            Err(error) if error.is_refusal() => self.replay_or_apply(conn, call).await,
            Err(error) => Err(error),
        }
    }

    /// Applies the movement assuming its reference is new. `Ok(None)`: it was not (nothing
    /// written). A refusal is returned as is, without checking the reference.
    async fn apply_if_new(
        &self,
        conn: &mut AsyncPgConnection,
        call: &MovementCall,
    ) -> Result<Option<Entry>, LedgerError> {
        let result = conn
            .transaction(async |conn| {
                let (wallet, request, now) = self.lock_and_load(conn, call).await?;
                let Decision::Apply(movement) = decide(&wallet, None, &request, now)? else {
                    return Err(
                        LedgerError::Corrupt("replay decided without an entry".into()).into(),
                    );
                };
                let entry =
                    store::apply(conn, &wallet, &movement, &call.reference, &call.actor, now)
                        .await?
                        // Rolls back the wallet update; the careful path answers instead.
                        .ok_or(Attempt::ReferenceTaken)?;
                log_movement(&wallet, &entry, call);
                Ok(entry)
            })
            .await;
        match result {
            Ok(entry) => Ok(Some(entry)),
            Err(Attempt::ReferenceTaken) => Ok(None),
            Err(Attempt::Failed(error)) => Err(error),
        }
    }

    /// The careful path: the reference's earlier entry is read under the lock before deciding.
    async fn replay_or_apply(
        &self,
        conn: &mut AsyncPgConnection,
        call: MovementCall,
    ) -> Result<Outcome<Entry>, LedgerError> {
        conn.transaction(async move |conn| {
            let (wallet, request, now) = self.lock_and_load(conn, &call).await?;
            let existing = store::find_entry(conn, &wallet, &call.reference).await?;
            match decide(&wallet, existing.as_ref(), &request, now)? {
                Decision::Replay(entry) => Ok(Outcome::replayed(*entry)),
                Decision::Apply(movement) => {
                    let entry =
                        store::apply(conn, &wallet, &movement, &call.reference, &call.actor, now)
                            .await?
                            .ok_or_else(|| {
                                LedgerError::Corrupt("reference taken under the lock".into())
                            })?;
                    log_movement(&wallet, &entry, &call);
                    Ok(Outcome::applied(entry))
                }
            }
        })
        .await
    }

    /// Locks the wallet, then reads the clock (a capture that waited past the hold's deadline
    /// must see that it did) and the hold the request names.
    async fn lock_and_load(
        &self,
        conn: &mut AsyncPgConnection,
        call: &MovementCall,
    ) -> Result<(WalletState, Request, DateTime<Utc>), LedgerError> {
        let wallet = store::lock_wallet(conn, call.wallet_id).await?;
        let now = self.now();
        let mut request = call.request.clone();
        if let Some(hold_id) = call.hold_id {
            let hold = store::find_hold(conn, call.wallet_id, hold_id)
                .await?
                .map(|row| row.state())
                .transpose()?;
            request.attach_hold(hold);
        }
        Ok((wallet, request, now))
    }
}

/// How the optimistic attempt ended, when it did not write.
enum Attempt {
    /// The reference already has an entry; everything was rolled back.
    ReferenceTaken,
    Failed(LedgerError),
}

impl From<LedgerError> for Attempt {
    fn from(error: LedgerError) -> Self {
        Self::Failed(error)
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(error.into())
    }
}

pub(crate) fn log_movement(wallet: &WalletState, entry: &Entry, call: &MovementCall) {
    tracing::info!(
        wallet_id = %wallet.id, kind = entry.kind.as_str(),
        amount = entry.amount.minor(), currency = wallet.currency.code(),
        balance_after = entry.balance_after.minor(),
        reference = call.reference.as_str(), actor = call.actor.as_str(),
        "money movement"
    );
}

/// A wallet's figures from its row, with the details of its freezes (read only when frozen).
async fn balance_of(
    conn: &mut AsyncPgConnection,
    row: store::WalletRow,
) -> Result<WalletBalance, LedgerError> {
    let wallet_id = WalletId::from_uuid(row.id);
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
