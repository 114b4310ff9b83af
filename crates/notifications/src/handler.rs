//! Delivering [`NotificationMessage`]s from the outbox: look up the organization, render, send.

use std::sync::Arc;

use db::{DbPool, schema::organizations};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use outbox::{ClaimedMessage, Handler, HandlerError};
use primitives::OrganizationId;

use crate::{
    email::{EmailAddress, OutgoingEmail},
    notification::NotificationMessage,
    notifier::Notifier,
    render::render,
};

/// The outbox handler of [`NotificationMessage`]. Holds a pool to read the organization's name
/// and billing email at delivery time, so a corrected address is used by the next attempt.
#[derive(Clone)]
pub struct NotificationHandler {
    pool: DbPool,
    notifier: Arc<dyn Notifier>,
}

impl NotificationHandler {
    pub fn new(pool: DbPool, notifier: Arc<dyn Notifier>) -> Self {
        Self { pool, notifier }
    }
}

impl std::fmt::Debug for NotificationHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationHandler")
            .field("notifier", &self.notifier)
            .finish_non_exhaustive()
    }
}

struct Recipient {
    name: String,
    billing_email: Option<String>,
}

impl Handler for NotificationHandler {
    type Message = NotificationMessage;

    async fn handle(
        &self,
        message: &ClaimedMessage,
        payload: NotificationMessage,
    ) -> Result<(), HandlerError> {
        let organization_id = message
            .organization_id
            .ok_or_else(|| HandlerError::permanent("the notification has no organization"))?;
        let notification = payload.into_notification(organization_id);
        let recipient = self.recipient(organization_id).await?;
        let Some(billing_email) = recipient.billing_email else {
            // Decision: settle as delivered. Retrying cannot make an address appear, and a
            // notification waiting for one would arrive stale (a warning after the suspension);
            // the log line is what operators follow up.
            tracing::warn!(
                kind = notification.kind.as_str(), organization_id = %organization_id,
                outbox_id = %message.id,
                "no billing email: notification not sent, marked delivered"
            );
            return Ok(());
        };
        let to = EmailAddress::parse(&billing_email).map_err(|_| {
            HandlerError::permanent(format!(
                "the billing email of organization {organization_id} is not a valid address"
            ))
        })?;
        let email = render(&notification, &recipient.name);
        let outgoing = OutgoingEmail {
            to,
            subject: email.subject,
            text: email.text,
            outbox_id: message.id,
            kind: notification.kind,
            organization_id,
        };
        self.notifier.deliver(&outgoing).await.map_err(|error| {
            if error.is_transient() {
                HandlerError::retryable(error.message())
            } else {
                HandlerError::permanent(error.message())
            }
        })?;
        tracing::info!(
            kind = notification.kind.as_str(), organization_id = %organization_id,
            outbox_id = %message.id, to_domain = outgoing.to.domain(),
            "notification delivered"
        );
        Ok(())
    }
}

impl NotificationHandler {
    async fn recipient(&self, organization_id: OrganizationId) -> Result<Recipient, HandlerError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| HandlerError::retryable(format!("no database connection: {e}")))?;
        let row: Option<(String, Option<String>)> = organizations::table
            .find(organization_id.as_uuid())
            .select((organizations::name, organizations::billing_email))
            .first(&mut conn)
            .await
            .optional()
            .map_err(|e| HandlerError::retryable(format!("database error: {e}")))?;
        let (name, billing_email) = row.ok_or_else(|| {
            HandlerError::permanent(format!("organization {organization_id} not found"))
        })?;
        Ok(Recipient {
            name,
            billing_email,
        })
    }
}
