//! Wallet top-ups started at a provider (table `top_ups`): what the customer was sent to pay.
//! The money is credited by the provider's verified completion webhook alone (the intake's
//! `money::top_up`); a top-up row records the checkout, never a credit.

use std::fmt;

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::top_ups};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use primitives::{Money, OrganizationId, ProviderName, parse_currency};
use serde::Serialize;
use uuid::Uuid;

use crate::customer::CustomerError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TopUpStatus {
    /// The checkout was created; the customer may still pay it.
    Open,
    /// The provider's completion was recorded (the wallet's credit is the intake's).
    Completed,
}

impl TopUpStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Completed => "completed",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Completed]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// A top-up as stored. `Debug` names the form's fields only: PayHere's form carries the
/// payer's name, email, phone and address.
#[derive(Clone, PartialEq, Eq)]
pub struct TopUp {
    pub id: Uuid,
    pub organization_id: OrganizationId,
    pub provider: ProviderName,
    pub checkout_reference: String,
    pub amount: Money,
    pub status: TopUpStatus,
    pub approval_url: String,
    pub approval_form: Option<Vec<(String, String)>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TopUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = self.approval_form.as_ref().map(|fields| {
            fields
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
        });
        f.debug_struct("TopUp")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("provider", &self.provider)
            .field("checkout_reference", &self.checkout_reference)
            .field("amount", &self.amount)
            .field("status", &self.status)
            .field("approval_url", &self.approval_url)
            .field("approval_form", &form)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("completed_at", &self.completed_at)
            .finish()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = top_ups)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct TopUpRow {
    id: Uuid,
    organization_id: Uuid,
    provider: String,
    checkout_reference: String,
    amount: i64,
    currency: String,
    status: String,
    approval_url: String,
    approval_form: Option<serde_json::Value>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl TopUpRow {
    fn into_top_up(self) -> Result<TopUp, CustomerError> {
        let corrupt = |what: String| CustomerError::Corrupt(format!("top-up {}: {what}", self.id));
        let provider = ProviderName::parse(&self.provider)
            .ok_or_else(|| corrupt(format!("provider {:?}", self.provider)))?;
        let currency = parse_currency(self.currency.trim())
            .map_err(|_| corrupt(format!("currency {:?}", self.currency)))?;
        let status = TopUpStatus::parse(&self.status)
            .ok_or_else(|| corrupt(format!("status {:?}", self.status)))?;
        let approval_form = self
            .approval_form
            .map(serde_json::from_value::<Vec<(String, String)>>)
            .transpose()
            .map_err(|error| corrupt(format!("approval form: {error}")))?;
        Ok(TopUp {
            id: self.id,
            organization_id: OrganizationId::from_uuid(self.organization_id),
            provider,
            checkout_reference: self.checkout_reference,
            amount: Money::from_minor(self.amount, currency),
            status,
            approval_url: self.approval_url,
            approval_form,
            expires_at: self.expires_at,
            created_at: self.created_at,
            completed_at: self.completed_at,
        })
    }
}

/// Records an open top-up, keyed by the caller's `Idempotency-Key`.
pub(crate) async fn insert(
    conn: &mut AsyncPgConnection,
    top_up: &TopUp,
    key: &str,
) -> Result<(), CustomerError> {
    let form = top_up
        .approval_form
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|error| CustomerError::Corrupt(format!("an approval form: {error}")))?;
    diesel::insert_into(top_ups::table)
        .values((
            top_ups::id.eq(top_up.id),
            top_ups::organization_id.eq(top_up.organization_id.as_uuid()),
            top_ups::provider.eq(top_up.provider.as_str()),
            top_ups::checkout_reference.eq(&top_up.checkout_reference),
            top_ups::amount.eq(top_up.amount.minor()),
            top_ups::currency.eq(top_up.amount.currency().code()),
            top_ups::status.eq(top_up.status.as_str()),
            top_ups::idempotency_key.eq(key),
            top_ups::approval_url.eq(&top_up.approval_url),
            top_ups::approval_form.eq(form),
            top_ups::expires_at.eq(top_up.expires_at),
            top_ups::created_at.eq(top_up.created_at),
            top_ups::completed_at.eq(top_up.completed_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The organization's top-up `id`; another organization's is [`CustomerError::TopUpNotFound`]
/// like a missing one (G11).
pub async fn get(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    id: Uuid,
) -> Result<TopUp, CustomerError> {
    top_ups::table
        .find(id)
        .filter(top_ups::organization_id.eq(organization.as_uuid()))
        .select(TopUpRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CustomerError::TopUpNotFound)?
        .into_top_up()
}

/// Records that the provider completed the checkout `checkout_reference` (for the intake, once
/// it credited the payment the checkout brought); `false` when no open top-up has it.
pub async fn mark_completed(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    checkout_reference: &str,
    at: DateTime<Utc>,
) -> Result<bool, CustomerError> {
    let updated = diesel::update(
        top_ups::table
            .filter(top_ups::provider.eq(provider.as_str()))
            .filter(top_ups::checkout_reference.eq(checkout_reference))
            .filter(top_ups::status.eq(TopUpStatus::Open.as_str())),
    )
    .set((
        top_ups::status.eq(TopUpStatus::Completed.as_str()),
        top_ups::completed_at.eq(at),
    ))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}
