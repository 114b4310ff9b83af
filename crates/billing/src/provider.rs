//! The one trait every billing provider implements, object-safe so a registry can hold any
//! adapter as `Arc<dyn BillingProvider>`.

use std::any::Any;
use std::fmt;

use chrono::{DateTime, Utc};
use outbound::masked;
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

/// Who pays, as a checkout needs them. Customer data: `Debug` shows the country only.
#[derive(Clone, PartialEq, Eq)]
pub struct Payer {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
    pub country: String,
}

impl fmt::Debug for Payer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payer")
            .field("first_name", &masked(&self.first_name))
            .field("last_name", &masked(&self.last_name))
            .field("email", &masked(&self.email))
            .field("phone", &masked(&self.phone))
            .field("address", &masked(&self.address))
            .field("city", &masked(&self.city))
            .field("country", &self.country)
            .finish()
    }
}

/// `Debug` shows the approval form's field names only: a checkout form carries the payer's
/// name, email, phone and address.
#[derive(Clone, PartialEq, Eq, Serialize)]
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

impl fmt::Debug for CreatedSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = self.approval_form.as_ref().map(|fields| {
            fields
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
        });
        f.debug_struct("CreatedSubscription")
            .field("provider_subscription_id", &self.provider_subscription_id)
            .field("approval_url", &self.approval_url)
            .field("approval_form", &form)
            .field("status", &self.status)
            .finish()
    }
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

/// A one-time wallet top-up to check out at the provider. The wallet is credited only by the
/// provider's verified completion webhook, which echoes `organization_ref` back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopUp {
    /// What the customer pays, exactly (never rounded).
    pub amount: Money,
    /// Our organization reference, echoed back in the completion webhook.
    pub organization_ref: String,
    /// Where the customer returns after paying. Informational only: a return credits nothing.
    pub return_url: String,
    /// Where the customer returns after abandoning the checkout.
    pub cancel_url: String,
    /// Shown to the customer on the checkout page.
    pub description: String,
    /// The provider's customer id, where it has one (Stripe).
    pub customer_id: Option<String>,
    /// The payer, for providers whose checkout asks for them up front (PayHere).
    pub payer: Option<Payer>,
    /// Stable across retries of this checkout, so a retried call creates one checkout.
    pub idempotency_key: String,
}

/// A checkout the customer completes at the provider. `Debug` names the form's fields only.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TopUpCheckout {
    /// The provider's id of the checkout: Stripe's Checkout Session id (`cs_...`), PayPal's
    /// order id, PayHere's signed order id (`TOPUP-...`).
    pub checkout_reference: String,
    /// Where the customer goes to pay.
    pub approval_url: String,
    /// The fields to post to `approval_url`, when paying starts with a form post (PayHere).
    pub approval_form: Option<Vec<(String, String)>>,
    /// When the checkout stops accepting payment, when the provider says.
    pub expires_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for TopUpCheckout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = self.approval_form.as_ref().map(|fields| {
            fields
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
        });
        f.debug_struct("TopUpCheckout")
            .field("checkout_reference", &self.checkout_reference)
            .field("approval_url", &self.approval_url)
            .field("approval_form", &form)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where the customer can change how they pay for a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethodLink {
    pub provider_subscription_id: String,
    /// Where the provider sends the customer back (Stripe's billing portal).
    pub return_url: String,
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
///
/// Object-safe (`#[async_trait]`): [`crate::Providers`] holds adapters as
/// `Arc<dyn BillingProvider>`, so another team's adapter plugs in without touching ours.
/// Implement it with `#[async_trait::async_trait]` on the `impl` block. `Any` lets the
/// registry hand back an adapter's own type for what only it offers.
#[async_trait::async_trait]
pub trait BillingProvider: Any + Send + Sync {
    fn name(&self) -> ProviderName;

    /// Whether API calls can be made; an adapter configured to verify and parse webhooks only
    /// answers them with [`ProviderError::Config`] naming what to set.
    fn has_api(&self) -> bool {
        true
    }

    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError>;

    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError>;

    async fn cancel(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError>;

    /// Suspends (PayPal) or pauses collection (Stripe).
    async fn pause(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError>;

    async fn reactivate(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError>;

    /// Cancels at the end of the paid period where the provider can schedule that (Stripe's
    /// `cancel_at_period_end`); elsewhere it cancels now at the provider, so nothing more is
    /// charged, while our side keeps access until the period ends.
    async fn cancel_at_period_end(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.cancel(provider_subscription_id, reason, idempotency_key)
            .await
    }

    /// Starts a one-time wallet top-up checkout.
    async fn create_top_up(&self, request: &CreateTopUp) -> Result<TopUpCheckout, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported {
            provider: self.name(),
            operation: "wallet top-ups",
        })
    }

    /// Completes a top-up the customer approved, where the provider needs the merchant to
    /// (PayPal: capturing the approved order; its `PAYMENT.CAPTURE.COMPLETED` then credits).
    async fn capture_top_up(
        &self,
        checkout_reference: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let _ = (checkout_reference, idempotency_key);
        Err(ProviderError::Unsupported {
            provider: self.name(),
            operation: "capturing top-ups",
        })
    }

    /// A page where the customer changes the subscription's payment method (Stripe's billing
    /// portal session, PayPal's subscription page).
    async fn payment_method_link(
        &self,
        request: &PaymentMethodLink,
    ) -> Result<String, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported {
            provider: self.name(),
            operation: "payment-method links",
        })
    }

    /// Collects the outstanding balance again (dunning).
    async fn retry_payment(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError>;

    /// Checks the signature over the raw bytes. Async because PayPal's certificate may need
    /// fetching (after the URL was checked against the allow-list).
    async fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError>;

    /// Turns a verified webhook into normalized events. Unknown types are
    /// [`ParsedWebhook::Ignored`], never an error; a body that does not have the shape its type
    /// promises is [`ProviderError::Decode`].
    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payer() -> Payer {
        Payer {
            first_name: "Saman".into(),
            last_name: "Perera".into(),
            email: "saman.perera@example.lk".into(),
            phone: "0771234567".into(),
            address: "No. 1, Galle Road".into(),
            city: "Colombo".into(),
            country: "Sri Lanka".into(),
        }
    }

    #[test]
    fn payer_debug_masks_the_customer() {
        let payer = payer();
        let request = CreateSubscription {
            plan_id: "pro".into(),
            organization_ref: "org".into(),
            return_url: None,
            cancel_url: None,
            customer_id: None,
            payer: Some(payer.clone()),
            idempotency_key: "k".into(),
        };
        for shown in [
            format!("{payer:?}"),
            format!("{payer:#?}"),
            format!("{request:?}"),
        ] {
            for value in [
                "Saman",
                "Perera",
                "saman.perera@example.lk",
                "0771234567",
                "Galle Road",
                "Colombo",
            ] {
                assert!(!shown.contains(value), "{value} in {shown}");
            }
            assert!(shown.contains("email"), "{shown}");
        }
    }

    #[test]
    fn created_subscription_debug_names_the_form_fields_only() {
        let created = CreatedSubscription {
            provider_subscription_id: "SUB-org.0123".into(),
            approval_url: Some("https://sandbox.payhere.lk/pay/checkout".into()),
            approval_form: Some(vec![
                ("email".into(), "saman.perera@example.lk".into()),
                ("phone".into(), "0771234567".into()),
            ]),
            status: ProviderSubscriptionStatus::Pending,
        };
        let shown = format!("{created:?}");
        assert!(!shown.contains("saman.perera"), "{shown}");
        assert!(!shown.contains("0771234567"), "{shown}");
        assert!(shown.contains("\"phone\""), "{shown}");
        assert!(shown.contains("SUB-org.0123"), "{shown}");
    }
}
