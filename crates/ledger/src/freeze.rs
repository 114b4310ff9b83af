//! Freezing and unfreezing a wallet, per source.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use primitives::WalletId;

use crate::{
    Ledger,
    error::LedgerError,
    input::{Actor, Reason},
    model::{FreezeOutcome, FreezeSource},
    request::{FreezeRequest, UnfreezeRequest},
    store,
};

impl Ledger {
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
            let wallet = store::lock_wallet(conn, wallet_id).await?;
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
}
