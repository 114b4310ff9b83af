//! The ledger operations: lock, decide, write, inside one transaction (a savepoint when the caller
//! already opened one).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{Clock, Currency, HoldId, Money, OrganizationId, WalletId};

use crate::{
    decide::{Decision, Request, decide},
    error::LedgerError,
    input::{Actor, Counterparty, Reason, Reference},
    model::{
        Entry, FreezeOutcome, FreezeSource, HoldReceipt, HoldStatus, HoldSweep, Outcome,
        WalletBalance,
    },
    store,
};

/// Take money out of a wallet, e.g. for sent messages.
#[derive(Debug, Clone)]
pub struct DebitRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub counterparty: Counterparty,
    pub reference: Reference,
    pub actor: Actor,
}

/// Put money into a wallet, e.g. a top-up paid through a provider.
#[derive(Debug, Clone)]
pub struct CreditRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub counterparty: Counterparty,
    pub reference: Reference,
    pub actor: Actor,
}

/// Reserve funds until `expires_at`, e.g. a campaign budget.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    /// Where captured money goes, e.g. `revenue:messages`.
    pub counterparty: Counterparty,
    pub expires_at: DateTime<Utc>,
    pub reference: Reference,
    pub actor: Actor,
}

/// Spend part or all of what a hold still reserves.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    pub wallet_id: WalletId,
    pub hold_id: HoldId,
    pub amount: Money,
    pub reference: Reference,
    pub actor: Actor,
}

/// Give back whatever a hold still reserves.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    pub wallet_id: WalletId,
    pub hold_id: HoldId,
    pub reference: Reference,
    pub actor: Actor,
}

/// An audited adjustment of the balance; `amount` is signed.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    pub wallet_id: WalletId,
    pub amount: Money,
    pub reason: Reason,
    pub reference: Reference,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub struct FreezeRequest {
    pub wallet_id: WalletId,
    pub source: FreezeSource,
    pub reason: Reason,
    pub actor: Actor,
}

#[derive(Debug, Clone)]
pub struct UnfreezeRequest {
    pub wallet_id: WalletId,
    pub source: FreezeSource,
    pub reason: Reason,
    pub actor: Actor,
}

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
        let DebitRequest {
            wallet_id,
            amount,
            counterparty,
            reference,
            actor,
        } = request;
        let request = Request::Debit {
            amount,
            counterparty,
        };
        self.move_money(conn, wallet_id, None, request, reference, actor)
            .await
    }

    pub async fn credit(
        &self,
        conn: &mut AsyncPgConnection,
        request: CreditRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        let CreditRequest {
            wallet_id,
            amount,
            counterparty,
            reference,
            actor,
        } = request;
        let request = Request::Credit {
            amount,
            counterparty,
        };
        self.move_money(conn, wallet_id, None, request, reference, actor)
            .await
    }

    pub async fn correct(
        &self,
        conn: &mut AsyncPgConnection,
        request: CorrectionRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        let CorrectionRequest {
            wallet_id,
            amount,
            reason,
            reference,
            actor,
        } = request;
        let request = Request::Correction { amount, reason };
        self.move_money(conn, wallet_id, None, request, reference, actor)
            .await
    }

    pub async fn hold(
        &self,
        conn: &mut AsyncPgConnection,
        request: HoldRequest,
    ) -> Result<Outcome<HoldReceipt>, LedgerError> {
        let HoldRequest {
            wallet_id,
            amount,
            counterparty,
            expires_at,
            reference,
            actor,
        } = request;
        let request = Request::Hold {
            amount,
            counterparty,
            expires_at,
        };
        conn.transaction(async move |conn| {
            let entry = self
                .move_money(conn, wallet_id, None, request, reference, actor)
                .await?;
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
        let CaptureRequest {
            wallet_id,
            hold_id,
            amount,
            reference,
            actor,
        } = request;
        let request = Request::Capture {
            hold_id,
            hold: None,
            amount,
        };
        self.move_money(conn, wallet_id, Some(hold_id), request, reference, actor)
            .await
    }

    pub async fn release(
        &self,
        conn: &mut AsyncPgConnection,
        request: ReleaseRequest,
    ) -> Result<Outcome<Entry>, LedgerError> {
        let ReleaseRequest {
            wallet_id,
            hold_id,
            reference,
            actor,
        } = request;
        let request = Request::Release {
            hold_id,
            hold: None,
        };
        self.move_money(conn, wallet_id, Some(hold_id), request, reference, actor)
            .await
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

    /// Expires up to `limit` open holds whose deadline has passed, each in its own transaction.
    ///
    /// Run it outside any transaction: each hold's expiry commits on its own, and a hold that
    /// cannot be expired now (its wallet locked for too long, say) is reported in `failed` and
    /// retried by the next sweep instead of stalling the others.
    pub async fn expire_due_holds(
        &self,
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> Result<HoldSweep, LedgerError> {
        let due = store::due_holds(conn, self.now(), limit).await?;
        let mut sweep = HoldSweep::default();
        for (hold_id, wallet_id) in due {
            match self.expire_hold(conn, wallet_id, hold_id).await {
                Ok(Some(entry)) => sweep.expired.push(entry),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%wallet_id, %hold_id, %error, "hold expiry failed; retried next sweep");
                    sweep.failed.push((hold_id, error));
                }
            }
        }
        Ok(sweep)
    }

    async fn expire_hold(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        hold_id: HoldId,
    ) -> Result<Option<Entry>, LedgerError> {
        let reference = Reference::system(format!("expiry:{hold_id}"));
        let actor = Actor::system("hold-expiry");
        conn.transaction(async move |conn| {
            // A sweep must not queue behind a long transaction on one busy wallet.
            diesel::sql_query("SET LOCAL lock_timeout = '2s'")
                .execute(conn)
                .await?;
            let (wallet, _) = store::lock_wallet(conn, wallet_id, None).await?;
            let now = self.now();
            let hold = store::find_hold(conn, wallet_id, hold_id)
                .await?
                .ok_or(LedgerError::HoldNotFound { hold_id })?
                .state()?;
            // Read under the wallet lock, the hold's status is what prevents a second expiry
            // (the partial unique index on closing entries is the backstop).
            if hold.status != HoldStatus::Open || hold.expires_at > now {
                return Ok(None);
            }
            match decide(&wallet, None, &Request::Expire { hold }, now)? {
                Decision::Apply(movement) => {
                    let entry =
                        store::apply(conn, &wallet, &movement, &reference, &actor, now).await?;
                    tracing::info!(
                        %wallet_id, %hold_id, amount = entry.amount.minor(), "hold expired"
                    );
                    Ok(Some(entry))
                }
                Decision::Replay(_) => Ok(None),
            }
        })
        .await
    }

    /// Freezes the wallet for one source. Freezing an already frozen source changes nothing.
    pub async fn freeze(
        &self,
        conn: &mut AsyncPgConnection,
        request: FreezeRequest,
    ) -> Result<FreezeOutcome, LedgerError> {
        let FreezeRequest {
            wallet_id,
            source,
            reason,
            actor,
        } = request;
        self.set_freeze(conn, wallet_id, source, true, reason, actor)
            .await
    }

    /// Lifts one source's freeze; other sources' freezes stay.
    pub async fn unfreeze(
        &self,
        conn: &mut AsyncPgConnection,
        request: UnfreezeRequest,
    ) -> Result<FreezeOutcome, LedgerError> {
        let UnfreezeRequest {
            wallet_id,
            source,
            reason,
            actor,
        } = request;
        self.set_freeze(conn, wallet_id, source, false, reason, actor)
            .await
    }

    async fn set_freeze(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        source: FreezeSource,
        freeze: bool,
        reason: Reason,
        actor: Actor,
    ) -> Result<FreezeOutcome, LedgerError> {
        conn.transaction(async move |conn| {
            // Same lock as money movements, so a debit never races a freeze.
            let (wallet, _) = store::lock_wallet(conn, wallet_id, None).await?;
            let now = self.now();
            let mut frozen_by = wallet.frozen_by.clone();
            let changed = if freeze {
                !frozen_by.contains(&source) && {
                    frozen_by.push(source);
                    true
                }
            } else {
                let before = frozen_by.len();
                frozen_by.retain(|s| *s != source);
                frozen_by.len() != before
            };
            if changed {
                let action = if freeze { "freeze" } else { "unfreeze" };
                store::record_freeze_change(
                    conn,
                    wallet_id,
                    &frozen_by,
                    (action, source),
                    &reason,
                    &actor,
                    now,
                )
                .await?;
                tracing::info!(
                    wallet_id = %wallet_id, source = source.as_str(), frozen = freeze,
                    actor = actor.as_str(), "wallet freeze changed"
                );
            }
            let wallet = self.balance(conn, wallet_id).await?;
            Ok(FreezeOutcome { changed, wallet })
        })
        .await
    }

    /// The one path every money movement takes: lock the wallet (reading the reference's earlier
    /// entry and the hold under the lock), decide, then write or replay.
    async fn move_money(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        hold_id: Option<HoldId>,
        mut request: Request,
        reference: Reference,
        actor: Actor,
    ) -> Result<Outcome<Entry>, LedgerError> {
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
