//! The one trait every billing provider implements.

use std::future::Future;

use chrono::{DateTime, Utc};
use primitives::Money;
use serde::{Deserialize, Serialize};

use crate::{
    ParsedWebhook, ProviderError, ProviderName, VerifiedWebhook, VerifyError, WebhookRequest,
};

/// What to create at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSubscription {
    /// The provider's plan or price id.
    pub plan_id: String,
    /// Our organization reference, echoed back in webhooks (`custom_id`, `metadata`, `custom_1`).
    pub organization_ref: String,
    /// Where the customer returns after approving (PayPal, PayHere).
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    /// The provider's customer id, where it has one (Stripe).
    pub customer_id: Option<String>,
    /// The payer, for providers whose checkout asks for them up front (PayHere).
    pub payer: Option<Payer>,
    /// Stable across retries of this creation, so a retried call creates one subscription.
    pub idempotency_key: String,
}

/// Who pays, as a checkout needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreatedSubscription {
    /// The provider's id, or, where the provider assigns one only after approval (PayHere), our
    /// signed order reference that its notifications will carry.
    pub provider_subscription_id: String,
    /// Where the customer must go to approve, when the provider needs that.
    pub approval_url: Option<String>,
    /// The fields to post to `approval_url`, when approval is a form post (PayHere).
    pub approval_form: Option<Vec<(String, String)>>,
    pub status: ProviderSubscriptionStatus,
}

/// The provider's view of a subscription's status, mapped onto a small common set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSubscriptionStatus {
    /// Created, waiting for the customer's approval or first payment.
    Pending,
    Trialing,
    Active,
    PastDue,
    Paused,
    Suspended,
    Canceled,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderSubscription {
    pub provider_subscription_id: String,
    pub status: ProviderSubscriptionStatus,
    /// The provider's own status text, for logs.
    pub provider_status: String,
    pub current_period_end: Option<DateTime<Utc>>,
    pub organization_ref: Option<String>,
    /// What the provider says is owed on the subscription: PayPal's
    /// `billing_info.outstanding_balance` (zero when paid up). `None` means the provider keeps
    /// no such figure (Stripe, PayHere): its `status` alone tells whether the subscription is
    /// paid up (`PastDue`, `Suspended` ... are not).
    pub outstanding: Option<Money>,
}

/// The result of asking the provider to collect an outstanding payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RetryOutcome {
    Paid {
        amount: Option<Money>,
    },
    Declined {
        reason: String,
    },
    /// Accepted; the result arrives by webhook.
    Pending,
    /// Nothing was outstanding.
    NothingDue,
}

/// A billing provider. Every mutating call takes an idempotency key that the adapter sends in
/// the provider's own idempotency header, so a retried call never acts twice.
pub trait BillingProvider: Send + Sync {
    fn name(&self) -> ProviderName;

    fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> impl Future<Output = Result<CreatedSubscription, ProviderError>> + Send;

    fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> impl Future<Output = Result<ProviderSubscription, ProviderError>> + Send;

    fn cancel(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Suspends (PayPal) or pauses collection (Stripe).
    fn pause(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    fn reactivate(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    /// Collects the outstanding balance again (dunning).
    fn retry_payment(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<RetryOutcome, ProviderError>> + Send;

    /// Checks the signature over the raw bytes. Async because PayPal's certificate may need
    /// fetching (after the URL was checked against the allow-list).
    fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> impl Future<Output = Result<VerifiedWebhook, VerifyError>> + Send;

    /// Turns a verified webhook into normalized events. Unknown types are
    /// [`ParsedWebhook::Ignored`], never an error; a body that does not have the shape its type
    /// promises is [`ProviderError::Decode`].
    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError>;
}
