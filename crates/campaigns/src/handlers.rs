//! The outbox handlers of messaging: [`SubaccountCall`] (apply a brand's current wish at
//! Twilio) and [`MessagingControl`] (enforcement's suspend / reactivate, turned into a
//! [`request`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbPool, schema::brands as table};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncConnection, RunQueryDsl};
use outbox::{ClaimedMessage, DedupeKey, Envelope, Handler, HandlerError};
use primitives::{BrandId, Clock, OrganizationId};
use twilio::{AccountStatus, SubaccountControl, TwilioError};
use uuid::Uuid;

use crate::{
    CampaignsError,
    brands::{self, Wish},
    error::internal,
    messaging::request,
    topics::{CampaignControl, MessagingAction, MessagingControl, SubaccountCall},
};

/// How many times one delivery re-applies the wish when a newer one arrived during the call,
/// before leaving it to a retry.
const MAX_ROUNDS: usize = 3;
/// `brands.last_error` holds at most this many characters.
const MAX_ERROR_CHARS: usize = 1000;

/// Delivers [`SubaccountCall`]s.
///
/// It reads the brand's wish when it runs (not when the message was enqueued), calls Twilio with
/// no database connection held, then sets the final status only if the wish version is still the
/// one it applied. If a newer wish arrived meanwhile, Twilio may have received the two calls in
/// either order, so it applies the newer wish again: whichever delivery finishes last leaves
/// Twilio in the latest wished state. A failure records `last_error` on the brand and nothing
/// else; transient ones are retried by the outbox.
pub struct SubaccountHandler<C> {
    pool: DbPool,
    twilio: C,
    clock: Arc<dyn Clock>,
}

impl<C: SubaccountControl> SubaccountHandler<C> {
    pub fn new(pool: DbPool, twilio: C, clock: Arc<dyn Clock>) -> Self {
        Self {
            pool,
            twilio,
            clock,
        }
    }

    async fn apply(&self, brand_id: BrandId) -> Result<(), HandlerError> {
        for _ in 0..MAX_ROUNDS {
            let brand = {
                let mut conn = self.pool.get().await.map_err(internal)?;
                match brands::get(&mut conn, brand_id).await {
                    Ok(brand) => brand,
                    Err(CampaignsError::BrandNotFound) => {
                        return Err(HandlerError::permanent(format!(
                            "brand {brand_id} not found"
                        )));
                    }
                    Err(error) => return Err(internal(error)),
                }
            };
            let wish = brand.messaging_wish;
            let version = brand.messaging_wish_version;
            let result = self
                .twilio
                .set_status(&brand.twilio_subaccount_sid, wish.subaccount_status())
                .await;
            let mut conn = self.pool.get().await.map_err(internal)?;
            let now = self.clock.now();
            match result {
                Ok(reported) if reported == expected(wish) => {
                    if settle(&mut conn, brand_id, wish, version, now)
                        .await
                        .map_err(internal)?
                    {
                        return Ok(());
                    }
                    tracing::info!(%brand_id, "newer messaging wish arrived during the call; applying it");
                }
                Ok(reported) => {
                    let error = HandlerError::permanent(format!(
                        "Twilio reports subaccount status {reported:?} after setting {}",
                        wish.subaccount_status().as_str()
                    ));
                    record_error(&mut conn, brand_id, error.message(), now)
                        .await
                        .map_err(internal)?;
                    return Err(error);
                }
                Err(error) => {
                    let error = classify(&error);
                    record_error(&mut conn, brand_id, error.message(), now)
                        .await
                        .map_err(internal)?;
                    return Err(error);
                }
            }
        }
        Err(HandlerError::retryable(
            "messaging wish kept changing during the Twilio call; will apply the latest later",
        ))
    }
}

impl<C: SubaccountControl> Handler for SubaccountHandler<C> {
    type Message = SubaccountCall;

    async fn handle(
        &self,
        _message: &ClaimedMessage,
        call: SubaccountCall,
    ) -> Result<(), HandlerError> {
        self.apply(call.brand_id).await
    }
}

fn expected(wish: Wish) -> AccountStatus {
    match wish {
        Wish::Suspend => AccountStatus::Suspended,
        Wish::Reactivate => AccountStatus::Active,
    }
}

/// Transient Twilio failures are retried; the rest go to a person.
fn classify(error: &TwilioError) -> HandlerError {
    let text = format!("Twilio: {error}");
    if error.is_transient() {
        HandlerError::retryable(text)
    } else {
        HandlerError::permanent(text)
    }
}

/// Sets the final status if the wish is still `version`. Returns whether it was. A confirmed
/// reactivation also asks (in the same transaction) for the organization's campaigns paused
/// because messaging was suspended to resume: until now they could not.
async fn settle(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    wish: Wish,
    version: i64,
    now: DateTime<Utc>,
) -> Result<bool, CampaignsError> {
    conn.transaction(async move |conn| {
        let organization: Option<Uuid> = diesel::update(
            table::table
                .find(brand_id.as_uuid())
                .filter(table::messaging_wish_version.eq(version)),
        )
        .set((
            table::messaging_status.eq(wish.final_status().as_str()),
            table::last_error.eq(None::<String>),
            table::last_error_at.eq(None::<DateTime<Utc>>),
            table::updated_at.eq(now),
        ))
        .returning(table::organization_id)
        .get_result(conn)
        .await
        .optional()?;
        let Some(organization) = organization else {
            return Ok(false);
        };
        if wish == Wish::Reactivate {
            let organization = OrganizationId::from_uuid(organization);
            let key = DedupeKey::parse(format!("brand:{brand_id}:wish:{version}:resume"))?;
            let envelope = Envelope::new(key, now).for_organization(organization);
            outbox::enqueue(conn, &CampaignControl::resume(organization), envelope).await?;
        }
        Ok(true)
    })
    .await
}

async fn record_error(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), CampaignsError> {
    diesel::update(table::table.find(brand_id.as_uuid()))
        .set((
            table::last_error.eq(sanitize(message)),
            table::last_error_at.eq(now),
            table::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

fn sanitize(message: &str) -> String {
    crate::input::error_text(message, MAX_ERROR_CHARS)
}

/// Delivers [`MessagingControl`]s: records the wish on every brand of the organization and
/// enqueues the Twilio calls, in one transaction. The wish counts as decided when the message
/// was enqueued, so a delayed older message cannot override a newer one.
#[derive(Clone)]
pub struct ControlHandler {
    pool: DbPool,
}

impl ControlHandler {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl Handler for ControlHandler {
    type Message = MessagingControl;

    async fn handle(
        &self,
        message: &ClaimedMessage,
        control: MessagingControl,
    ) -> Result<(), HandlerError> {
        let organization = control.organization_id;
        let wish = match control.action {
            MessagingAction::Suspend => Wish::Suspend,
            MessagingAction::Reactivate => Wish::Reactivate,
        };
        let decided_at = message.created_at;
        let mut conn = self.pool.get().await.map_err(internal)?;
        conn.transaction::<_, CampaignsError, _>(async move |conn| {
            request(conn, organization, wish, decided_at).await?;
            Ok(())
        })
        .await
        .map_err(internal)
    }
}
