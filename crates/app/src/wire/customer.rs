//! Bodies of the customer actions: starting, canceling, pausing and resuming a subscription, a
//! payment-method link, wallet top-ups.

use std::fmt;

use chrono::{DateTime, Utc};
use enforcement::customer::{Approval, TopUp};
use primitives::OrganizationId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::wire::subscriptions::SubscriptionResponse;

/// Who pays, as PayHere's checkout needs them up front: the `payer_*` members of a start or a
/// top-up (flat, as every request body is). Customer data: never logged.
macro_rules! payer_members {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        $vis struct $name {
            $($body)*
            /// The payer (PayHere: all seven `payer_*` members are required; elsewhere they are
            /// passed on when given). Each 1 to 200 characters without control characters.
            #[schema(example = "Saman", max_length = 200)]
            #[serde(default)]
            pub payer_first_name: Option<String>,
            #[schema(example = "Perera", max_length = 200)]
            #[serde(default)]
            pub payer_last_name: Option<String>,
            #[schema(example = "saman.perera@example.lk", max_length = 200)]
            #[serde(default)]
            pub payer_email: Option<String>,
            #[schema(example = "0771234567", max_length = 200)]
            #[serde(default)]
            pub payer_phone: Option<String>,
            #[schema(example = "No. 1, Galle Road", max_length = 200)]
            #[serde(default)]
            pub payer_address: Option<String>,
            #[schema(example = "Colombo", max_length = 200)]
            #[serde(default)]
            pub payer_city: Option<String>,
            #[schema(example = "Sri Lanka", max_length = 200)]
            #[serde(default)]
            pub payer_country: Option<String>,
        }

        impl $name {
            /// The payer when any `payer_*` member is given (missing ones empty, for the
            /// domain to refuse by name).
            pub fn payer(&self) -> Option<billing::Payer> {
                let members = [
                    &self.payer_first_name,
                    &self.payer_last_name,
                    &self.payer_email,
                    &self.payer_phone,
                    &self.payer_address,
                    &self.payer_city,
                    &self.payer_country,
                ];
                if members.iter().all(|member| member.is_none()) {
                    return None;
                }
                let text = |member: &Option<String>| member.clone().unwrap_or_default();
                Some(billing::Payer {
                    first_name: text(&self.payer_first_name),
                    last_name: text(&self.payer_last_name),
                    email: text(&self.payer_email),
                    phone: text(&self.payer_phone),
                    address: text(&self.payer_address),
                    city: text(&self.payer_city),
                    country: text(&self.payer_country),
                })
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // The payer's members are customer data: only whether they were given.
                f.debug_struct(stringify!($name))
                    .field("payer", &self.payer_first_name.is_some())
                    .finish_non_exhaustive()
            }
        }
    };
}

payer_members! {
    /// `POST /v1/subscription` (and the admin's `.../subscription`).
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct StartSubscriptionRequest {
        /// A plan of the catalog (`BILLING_PLANS`) offered with `provider`.
        #[schema(example = "pro", min_length = 1, max_length = 64)]
        pub plan: String,
        /// `paypal`, `stripe` or `payhere`.
        #[schema(example = "paypal", pattern = "^(paypal|stripe|payhere)$")]
        pub provider: String,
        /// Where the provider sends the customer after approving: an absolute http(s) URL, at
        /// most 2000 characters. Coming back there changes nothing: the provider's webhook does.
        #[schema(example = "https://app.example.com/billing/approved", max_length = 2000)]
        pub return_url: String,
        /// Where the provider sends a customer who abandons the approval.
        #[schema(example = "https://app.example.com/billing", max_length = 2000)]
        pub cancel_url: String,
        /// The customer's id at the provider, when the organization has one there (Stripe
        /// `cus_...`; without it Stripe gets a new customer for the organization).
        #[schema(example = "cus_Q3kfo9PzZb1vxy", min_length = 1, max_length = 200)]
        #[serde(default)]
        pub customer_id: Option<String>,
    }
}

/// One field of a form to post to the approval URL, in order. `Debug` shows the name only: the
/// values carry the payer's data.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FormFieldView {
    #[schema(example = "order_id")]
    pub name: String,
    pub value: String,
}

impl fmt::Debug for FormFieldView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormFieldView")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where the customer goes to approve or pay.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// The page to send the customer to (PayPal's approval link, Stripe's hosted invoice or
    /// Checkout page); for PayHere the URL the form is posted to. Null when the provider needs
    /// no approval.
    #[schema(
        example = "https://www.sandbox.paypal.com/webapps/billing/subscriptions?ba_token=BA-2M539689T3856352J"
    )]
    pub url: Option<String>,
    /// The fields to post to `url` from the customer's browser (PayHere's signed checkout
    /// form), else null.
    pub form: Option<Vec<FormFieldView>>,
}

impl From<Approval> for ApprovalView {
    fn from(approval: Approval) -> Self {
        Self {
            url: approval.url,
            form: approval.form.map(form),
        }
    }
}

fn form(fields: Vec<(String, String)>) -> Vec<FormFieldView> {
    fields
        .into_iter()
        .map(|(name, value)| FormFieldView { name, value })
        .collect()
}

/// A subscription started: `pending` until the provider confirms it through its webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionStartedResponse {
    pub subscription: SubscriptionResponse,
    pub approval: ApprovalView,
    /// `true`: this answers a retry with the same `Idempotency-Key`; nothing was written.
    pub replayed: bool,
}

/// `POST /v1/subscription/cancel`: the body is optional (empty means now).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscriptionRequest {
    /// `true`: access stays until the paid period ends, and nothing more is charged; `false`
    /// (the default): ends now.
    #[serde(default)]
    pub at_period_end: bool,
}

/// The answer to a cancel, pause or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionChangedResponse {
    /// The subscription as it is now.
    pub subscription: SubscriptionResponse,
    /// `false`: it already was where the request asked (paused, canceled ...); nothing changed
    /// and the provider was not called.
    pub changed: bool,
    /// `true`: this answers a retry with the same `Idempotency-Key`; nothing was written.
    pub replayed: bool,
}

/// `POST /v1/subscription/payment-method`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodLinkRequest {
    /// Where the provider's page sends the customer back (Stripe's billing portal).
    #[schema(example = "https://app.example.com/billing", max_length = 2000)]
    pub return_url: String,
}

/// Where the customer changes how they pay.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodLinkResponse {
    #[schema(example = "stripe")]
    pub provider: String,
    /// Stripe's billing portal session (short-lived: send the customer there now), PayPal's
    /// subscription page.
    #[schema(example = "https://billing.stripe.com/p/session/test_YWNjdF8x")]
    pub url: String,
    pub replayed: bool,
}

payer_members! {
    /// `POST /v1/organizations/{organization_id}/wallet/top-ups`.
    #[derive(Default, Serialize, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct TopUpRequest {
        /// Exact decimal in the currency's minor units, within the limits for the currency
        /// (`TOP_UP_LIMITS`).
        #[schema(example = "25.00", pattern = "^[0-9]+(\\.[0-9]+)?$")]
        pub amount: String,
        /// The wallet's currency.
        #[schema(example = "USD", min_length = 3, max_length = 3, pattern = "^[A-Z]{3}$")]
        pub currency: String,
        /// `paypal`, `stripe` or `payhere`.
        #[schema(example = "stripe", pattern = "^(paypal|stripe|payhere)$")]
        pub provider: String,
        /// Where the provider sends the customer after paying. Informational only: coming back
        /// there credits nothing; the provider's verified completion webhook does.
        #[schema(example = "https://app.example.com/wallet/paid", max_length = 2000)]
        pub return_url: String,
        /// Where the provider sends a customer who abandons the checkout.
        #[schema(example = "https://app.example.com/wallet", max_length = 2000)]
        pub cancel_url: String,
        /// The customer's id at the provider (Stripe `cus_...`), when known.
        #[schema(example = "cus_Q3kfo9PzZb1vxy", min_length = 1, max_length = 200)]
        #[serde(default)]
        pub customer_id: Option<String>,
    }
}

/// A top-up checkout.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopUpView {
    pub id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    #[schema(example = "stripe")]
    pub provider: String,
    /// `open`: the checkout was created and the customer may pay it; the wallet is credited
    /// when the provider's completion webhook arrives (see the wallet's entries, counterparty
    /// `topup:{provider}`). `completed`: that completion was recorded here too.
    #[schema(example = "open")]
    pub status: String,
    #[schema(example = "25.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// The provider's id of the checkout (Stripe `cs_...`, PayPal's order id, PayHere
    /// `TOPUP-...`).
    #[schema(example = "cs_test_a1b2c3")]
    pub checkout_reference: String,
    pub approval: ApprovalView,
    /// When the checkout stops accepting payment, when the provider says.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<TopUp> for TopUpView {
    fn from(top_up: TopUp) -> Self {
        Self {
            id: top_up.id,
            organization_id: top_up.organization_id,
            provider: top_up.provider.as_str().to_owned(),
            status: top_up.status.as_str().to_owned(),
            amount: top_up.amount.to_decimal_string(),
            currency: top_up.amount.currency().code().to_owned(),
            checkout_reference: top_up.checkout_reference,
            approval: ApprovalView {
                url: Some(top_up.approval_url),
                form: top_up.approval_form.map(form),
            },
            expires_at: top_up.expires_at,
            created_at: top_up.created_at,
            completed_at: top_up.completed_at,
        }
    }
}

/// A top-up checkout started.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopUpCreatedResponse {
    pub top_up: TopUpView,
    /// `true`: this answers a retry with the same `Idempotency-Key`; nothing was written.
    pub replayed: bool,
}
