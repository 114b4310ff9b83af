//! Delivering [`CampaignControl`]: enforcement's (and a confirmed Twilio reactivation's)
//! requests to pause or resume an organization's campaigns (G7, G8).
//!
//! A pause uses the message's billing reason ([`CampaignControl::pause_reason`]). A resume runs
//! [`Campaigns::resume_if_eligible`]: only campaigns paused for a billing reason that has
//! cleared resume, never manual pauses. Both are idempotent, so redelivery is harmless.

use db::{AsyncPgConnection, DbPool};
use outbox::{ClaimedMessage, Handler, HandlerError};
use primitives::OrganizationId;

use crate::{
    Campaigns, CampaignsError, PauseReason,
    error::internal,
    topics::{CampaignAction, CampaignControl},
};

/// Delivers [`CampaignControl`]s.
#[derive(Clone)]
pub struct CampaignControlHandler {
    pool: DbPool,
    campaigns: Campaigns,
}

impl CampaignControlHandler {
    pub fn new(pool: DbPool, campaigns: Campaigns) -> Self {
        Self { pool, campaigns }
    }
}

impl Handler for CampaignControlHandler {
    type Message = CampaignControl;

    async fn handle(
        &self,
        _message: &ClaimedMessage,
        control: CampaignControl,
    ) -> Result<(), HandlerError> {
        let organization = control.organization_id;
        let mut conn = self.pool.get().await.map_err(internal)?;
        match control.action {
            CampaignAction::Pause => {
                let reason = control.pause_reason();
                let paused = self
                    .campaigns
                    .pause_all(&mut conn, organization, reason)
                    .await
                    .map_err(classify)?;
                tracing::info!(%organization, paused, reason = reason.as_str(), "campaigns paused");
            }
            CampaignAction::Resume => {
                let resumed = self
                    .campaigns
                    .resume_if_eligible(&mut conn, organization)
                    .await
                    .map_err(classify)?;
                tracing::info!(%organization, resumed, "campaigns resumed where eligible");
            }
        }
        Ok(())
    }
}

/// An organization that does not exist will never have campaigns to control.
fn classify(error: CampaignsError) -> HandlerError {
    match error {
        CampaignsError::Ledger(ledger::LedgerError::WalletNotFound)
        | CampaignsError::Subscription(subscriptions::SubscriptionError::OrganizationNotFound) => {
            HandlerError::permanent(format!("{error}"))
        }
        error => internal(error),
    }
}

/// Organizations with campaigns paused for a billing reason: what a periodic sweep passes to
/// [`Campaigns::resume_if_eligible`], so a cause that clears without an event (a top-up, an
/// operator lifting a freeze) still resumes them.
pub async fn organizations_with_billing_pauses(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<OrganizationId>, CampaignsError> {
    use db::schema::campaigns::dsl;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let ids: Vec<uuid::Uuid> = dsl::campaigns
        .filter(dsl::status.eq(crate::CampaignStatus::Paused.as_str()))
        .filter(dsl::pause_reason.ne(PauseReason::Manual.as_str()))
        .select(dsl::organization_id)
        .distinct()
        .load(conn)
        .await?;
    Ok(ids.into_iter().map(OrganizationId::from_uuid).collect())
}
