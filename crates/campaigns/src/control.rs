//! `campaigns.control`: enforcement's (and a confirmed Twilio reactivation's) requests to pause
//! or resume an organization's campaigns (G7, G8), delivered through the outbox.
//!
//! Payload: `{"organization_id", "action": "pause" | "resume", "reason"?}`. A pause uses the
//! payload's `reason` when it names a billing pause reason, else `subscription_inactive`. A
//! resume runs [`Campaigns::resume_if_eligible`]: only campaigns paused for a billing reason
//! that has cleared resume, never manual pauses. Both are idempotent, so redelivery is harmless.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbPool};
use outbox::{ClaimedMessage, DedupeKey, Handler, HandlerError, NewMessage, Topic};
use primitives::OrganizationId;
use serde_json::json;

use crate::{
    Campaigns, CampaignsError, PauseReason,
    handlers::{internal, uuid_field},
};

/// Enforcement's campaign control (`enforcement::effects::CAMPAIGNS_TOPIC`).
pub const CAMPAIGNS_TOPIC: Topic = Topic::from_static("campaigns.control");

/// Delivers `campaigns.control` messages.
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
    fn topic(&self) -> Topic {
        CAMPAIGNS_TOPIC
    }

    async fn handle(&self, message: &ClaimedMessage) -> Result<(), HandlerError> {
        let organization =
            OrganizationId::from_uuid(uuid_field(&message.payload, "organization_id")?);
        let mut conn = self.pool.get().await.map_err(internal)?;
        match message.payload.get("action").and_then(|a| a.as_str()) {
            Some("pause") => {
                let reason = message
                    .payload
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .and_then(PauseReason::parse)
                    .filter(|reason| reason.is_billing())
                    .unwrap_or(PauseReason::SubscriptionInactive);
                let paused = self
                    .campaigns
                    .pause_all(&mut conn, organization, reason)
                    .await
                    .map_err(classify)?;
                tracing::info!(%organization, paused, reason = reason.as_str(), "campaigns paused");
            }
            Some("resume") => {
                let resumed = self
                    .campaigns
                    .resume_if_eligible(&mut conn, organization)
                    .await
                    .map_err(classify)?;
                tracing::info!(%organization, resumed, "campaigns resumed where eligible");
            }
            _ => {
                return Err(HandlerError::permanent(
                    "payload: action must be pause or resume",
                ));
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

/// Enqueues a resume request on the caller's transaction (once per `key`).
pub(crate) async fn enqueue_resume(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    let message = NewMessage {
        organization_id: Some(organization),
        ..NewMessage::new(
            CAMPAIGNS_TOPIC,
            DedupeKey::parse(key)?,
            json!({ "organization_id": organization, "action": "resume" }),
            now,
        )
    };
    outbox::enqueue(conn, message).await?;
    Ok(())
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
