//! Request and response bodies: the JSON contract, kept apart from domain types so the domain
//! can change without silently changing the API (and vice versa).

pub mod campaigns;
pub mod customer;
pub mod health;
pub mod outbox;
pub mod subscriptions;
pub mod wallet;
pub mod webhooks;

use chrono::{DateTime, Utc};
use primitives::{ApiKeyId, OrganizationId, WalletId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// `POST /v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Display name, 1 to 200 characters after trimming (surrounding spaces are removed), no
    /// control characters.
    #[schema(example = "Acme Ltd", min_length = 1, max_length = 200)]
    pub name: String,
    /// ISO 4217 code of the organization's wallet currency, upper case.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// Where billing notices (payment failed, suspended, restored ...) go: `name@domain`, at
    /// most 254 characters, no spaces. Optional: without one they are only logged.
    #[schema(
        example = "billing@acme.example",
        max_length = 254,
        pattern = "^[^@\\s]+@[^@\\s]+$"
    )]
    #[serde(default)]
    pub billing_email: Option<String>,
}

/// `PUT /v1/organizations/{organization_id}/billing-email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingEmailRequest {
    /// The new address (`name@domain`, at most 254 characters, no spaces), or `null` to stop
    /// emailing (notices are then only logged).
    #[schema(
        example = "billing@acme.example",
        max_length = 254,
        pattern = "^[^@\\s]+@[^@\\s]+$"
    )]
    pub billing_email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    #[schema(value_type = uuid::Uuid)]
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub billing_email: Option<String>,
}

impl From<tenancy::Organization> for OrganizationResponse {
    fn from(organization: tenancy::Organization) -> Self {
        Self {
            id: organization.id,
            name: organization.name,
            created_at: organization.created_at,
            billing_email: organization.billing_email,
        }
    }
}

/// A new organization and the wallet opened with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreatedResponse {
    #[schema(value_type = uuid::Uuid)]
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub billing_email: Option<String>,
    /// The organization's wallet, opened empty in `currency`.
    #[schema(value_type = uuid::Uuid)]
    pub wallet_id: WalletId,
    #[schema(example = "USD")]
    pub currency: String,
}

/// `POST /v1/organizations/{organization_id}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A label to tell keys apart, 1 to 100 characters after trimming, no control characters.
    #[schema(example = "production dispatcher", min_length = 1, max_length = 100)]
    pub name: String,
}

/// A newly issued key. `key` is shown only in this response; only its hash is stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreatedResponse {
    #[schema(value_type = uuid::Uuid)]
    pub id: ApiKeyId,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    pub name: String,
    /// The first characters of the key, to recognise it later.
    #[schema(example = "bsk_3xAmPlE1")]
    pub prefix: String,
    /// The bearer credential. Store it now: it cannot be shown again.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String, example = "bsk_3xAmPlE1...")]
    pub key: SecretString,
    pub created_at: DateTime<Utc>,
}

impl From<tenancy::IssuedApiKey> for ApiKeyCreatedResponse {
    fn from(issued: tenancy::IssuedApiKey) -> Self {
        Self {
            id: issued.id,
            organization_id: issued.organization_id,
            name: issued.name,
            prefix: issued.prefix,
            key: issued.secret,
            created_at: issued.created_at,
        }
    }
}

/// The one place a secret is deliberately written out: the response that hands a new key to
/// its owner.
fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}
