//! Hold expiry: giving back what holds past their deadline still reserve.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::{HoldId, WalletId};

use crate::{
    Ledger,
    decide::{Decision, Request, decide},
    error::LedgerError,
    input::{Actor, Reference},
    model::{Entry, HoldStatus},
    store,
};

/// What one expiry sweep did.
#[derive(Debug, Default)]
pub struct HoldSweep {
    /// The expiry entries written.
    pub expired: Vec<Entry>,
    /// Holds that could not be expired this time (retried by the next sweep).
    pub failed: Vec<(HoldId, LedgerError)>,
}

impl Ledger {
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
            let wallet = store::lock_wallet(conn, wallet_id).await?;
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
                    let entry = store::apply(conn, &wallet, &movement, &reference, &actor, now)
                        .await?
                        .ok_or_else(|| LedgerError::Corrupt(format!("{reference} already used")))?;
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
}
