//! Tenancy: organizations and the API keys they authenticate with.
//!
//! Every function takes a `&mut AsyncPgConnection` that may already be inside a transaction, so a
//! caller can create an organization and open its wallet in one commit. Nothing here knows about
//! HTTP; the api maps [`TenancyError::code`] onto its problem responses.

mod api_keys;
mod email;
mod error;
mod name;
mod organizations;

pub use api_keys::{
    ApiKeyDigest, ApiKeyIdentity, IssuedApiKey, KEY_PREFIX, authenticate, authenticate_digest,
    issue_api_key, revoke_api_key,
};
pub use email::BillingEmail;
pub use error::TenancyError;
pub use name::{ApiKeyName, OrganizationName};
pub use organizations::{Organization, create_organization, get_organization, set_billing_email};
