//! A stored subscription as callers see it.

use chrono::{DateTime, Utc};
use primitives::{OrganizationId, ProviderName, SubscriptionId};
use serde::Serialize;

use crate::{SubscriptionError, SubscriptionState};

/// The plan's code (`starter`, `pro-2027` ...); prices live with the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PlanCode(String);

impl PlanCode {
    pub fn parse(value: &str) -> Result<Self, SubscriptionError> {
        let valid = (1..=64).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && value.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')
            });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(SubscriptionError::invalid(
                "plan",
                "1 to 64 characters: lowercase letters, digits, '_', '.', '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The subscription's identity at a billing provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderRef {
    /// Only the providers the system has adapters for: a subscription bound to a name no
    /// webhook can carry would never hear of its payments.
    pub provider: ProviderName,
    pub subscription_id: String,
}

impl ProviderRef {
    pub fn parse(provider: &str, subscription_id: &str) -> Result<Self, SubscriptionError> {
        let provider = ProviderName::parse(provider).ok_or_else(|| {
            SubscriptionError::invalid("provider", "one of `paypal`, `stripe`, `payhere`")
        })?;
        Self::new(provider, subscription_id)
    }

    pub fn new(provider: ProviderName, subscription_id: &str) -> Result<Self, SubscriptionError> {
        if subscription_id.is_empty()
            || subscription_id.len() > 200
            || subscription_id.chars().any(|c| !c.is_ascii_graphic())
        {
            return Err(SubscriptionError::invalid(
                "provider_subscription_id",
                "1 to 200 printable ASCII characters",
            ));
        }
        Ok(Self {
            provider,
            subscription_id: subscription_id.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub organization_id: OrganizationId,
    pub plan: PlanCode,
    pub provider: Option<ProviderRef>,
    #[serde(flatten)]
    pub state: SubscriptionState,
    pub next_action_at: Option<DateTime<Utc>>,
    /// A runner has the due action in hand (a retry in flight at the provider, say) until then.
    pub action_leased_until: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    /// When the provider sync last settled it (in agreement, applied or held); a provider
    /// error that may pass leaves it as it was. None until the first sync.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Why the last provider sync left it for a person; None when it settled by itself.
    pub last_sync_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
