//! The Stripe adapter: `Stripe-Signature` verification, Stripe events as [`BillingEvent`](crate::BillingEvent)s, and
//! the subscription calls over Stripe's REST API.
//!
//! # Configuration ([`StripeConfig`])
//!
//! | field | env ([`StripeConfig::from_lookup`]) | meaning | default |
//! |---|---|---|---|
//! | `webhook_secrets` | `STRIPE_WEBHOOK_SECRETS` (comma-separated; enables Stripe) | the endpoint's signing secrets `whsec_...`; during a rotation both the old and the new one (any may match) | required, at least one |
//! | `secret_key` | `STRIPE_SECRET_KEY` | API secret key `sk_live_...`/`sk_test_...` (or a restricted `rk_...`), sent as `Authorization: Bearer` | none: webhook verification only, API calls fail with `Config` naming `STRIPE_SECRET_KEY` |
//! | `tolerance` | `STRIPE_TOLERANCE_SECS` | how far a delivery's `t=` may be from our clock, in either direction | 300 s |
//! | `base_url` | `STRIPE_API_BASE_URL` | API root | `https://api.stripe.com` |
//! | `api_version` | `STRIPE_API_VERSION` | pins `Stripe-Version` on our calls (webhook shapes follow the endpoint's own version, set at Stripe) | none: the account's default |
//! | `timeout` | `STRIPE_TIMEOUT_SECS` | per attempt | 30 s |
//! | `retry` | | [`RetryPolicy`] of [`crate::http`] | 4 attempts, 250 ms doubling to 10 s |
//!
//! # Verification
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`: HMAC-SHA256 over
//! `"{t}.{raw body}"` keyed by the whole secret string (prefix included), compared in constant
//! time. Any configured secret matching any `v1` passes; `v0` and unknown schemes are ignored, so
//! a header without `v1` is refused. The timestamp must be within the tolerance of the injected
//! [`Clock`] both ways (a delivery from the future is as suspicious as a replay).
//!
//! # Conventions at Stripe
//!
//! - `metadata[organization_id]` names our organization on every object we create: the
//!   subscription (set by [`BillingProvider::create_subscription`]), Checkout Sessions and
//!   PaymentIntents. Invoices carry the subscription's metadata in
//!   `parent.subscription_details.metadata` (legacy: `subscription_details.metadata`).
//! - `metadata[purpose]=wallet_topup` marks the object whose success credits the wallet: the
//!   Checkout Session (mode `payment`) of a Checkout top-up, or a PaymentIntent created directly.
//!   Mark only one of them: a Checkout payment also fires `payment_intent.succeeded`, and two
//!   marked objects would credit the same money twice. For a Checkout top-up, give the
//!   PaymentIntent `payment_intent_data[metadata][purpose]=wallet_topup_checkout` (and the
//!   organization id): Stripe copies a PaymentIntent's metadata onto its charge, so refunds are
//!   recognised, while its `payment_intent.succeeded` stays uncredited.
//!
//! # Events
//!
//! | Stripe event | condition | [`BillingEventKind`](crate::BillingEventKind) | subscription id | amount | payment reference | period end |
//! |---|---|---|---|---|---|---|
//! | `customer.subscription.created` | | `SubscriptionCreated` | `id` | | | current period end (below) |
//! | `customer.subscription.updated` | status `canceled` | `SubscriptionCanceled` | `id` | | | as above |
//! | | status `incomplete_expired` | `SubscriptionExpired` | | | | |
//! | | status `paused` | `SubscriptionPaused` | | | | |
//! | | status `unpaid` (Stripe's retries exhausted) | `SubscriptionSuspended` | | | | |
//! | | `pause_collection` set | `SubscriptionPaused` | | | | |
//! | | `active`/`trialing`, `pause_collection` just cleared | `SubscriptionResumed` | | | | |
//! | | anything else (`active`, `trialing`, `past_due`, `incomplete`) | `SubscriptionUpdated` | | | | |
//! | `customer.subscription.deleted` | | `SubscriptionCanceled` | `id` | | | as above |
//! | `customer.subscription.paused` | | `SubscriptionPaused` | `id` | | | as above |
//! | `customer.subscription.resumed` | | `SubscriptionResumed` | `id` | | | as above |
//! | `customer.subscription.trial_will_end` | | `TrialWillEnd` | `id` | | | `trial_end` (without one, as above) |
//! | `invoice.paid` | invoice of a subscription | `PaymentSucceeded` | `parent.subscription_details.subscription`, legacy `subscription` | `amount_paid` | legacy `payment_intent`, else `id` (`in_...`) | latest `lines.data[].period.end`, one-off invoice-item lines left out |
//! | `invoice.payment_failed` | invoice of a subscription | `PaymentFailed` | as above | `amount_due` | as above | |
//! | `invoice.payment_action_required` | invoice of a subscription | `PaymentActionRequired` | as above | `amount_due` | as above | |
//! | `checkout.session.completed`, `checkout.session.async_payment_succeeded` | mode `payment`, `purpose=wallet_topup`, `payment_status=paid` | `WalletTopUpCompleted` (checkout reference: the session's `id`, `cs_...`) | | `amount_total` | `payment_intent` (`pi_...`), else the session's `id` | |
//! | `payment_intent.succeeded` | `purpose=wallet_topup` | `WalletTopUpCompleted` | | `amount_received` | `id` (`pi_...`) | |
//! | `charge.refunded` | `purpose` `wallet_topup` or `wallet_topup_checkout` | `TopUpRefunded` | | this refund: `amount_refunded` less the previous attributes' | `payment_intent`, else the charge's `id` (`ch_...`) | |
//! | `charge.dispute.created` | | `DisputeOpened` | | `amount` | `payment_intent`, else `charge` | |
//! | `charge.dispute.closed` | status `won`, or `warning_closed` (an inquiry that never became a chargeback) | `DisputeWon` | | `amount` | as above | |
//! | | status `lost` | `DisputeLost` | | `amount` | as above | |
//! | | any other status | ignored | | | | |
//!
//! Every other type, and the conditions above when not met (a one-off invoice, a subscription
//! checkout, an unpaid session, an invoice's PaymentIntent, a refund of a subscription payment),
//! is [`ParsedWebhook::Ignored`]. A known type whose object lacks what its mapping needs is
//! [`ProviderError::Decode`]. The organization is `metadata.organization_id` of the event's
//! object (for invoices as described above). Amounts are [`primitives::Money`] from Stripe's
//! integer minor units (ISK and UGX, which Stripe writes with two zero decimals, divided by 100).
//!
//! The payment reference names the payment once for all its events: a top-up's PaymentIntent
//! (`pi_...`) is named alike by its Checkout Session, its own `payment_intent.succeeded`, and
//! its charge's refunds and disputes, so a session and its PaymentIntent can never both be
//! credited. Every refund of one charge carries the same reference (the refund's own id is not
//! in `charge.refunded`), so a second partial refund is told apart by its event id, not by it.
//! Invoices carry their PaymentIntent only before API version 2025-03-31 (since then it is on
//! the invoice's `payments`, which webhooks do not include, and an invoice may be paid in
//! several payments); otherwise the reference is the invoice, which all attempts to pay it share.
//! A dispute naming neither a PaymentIntent nor a charge, or an invoice without an id, is a
//! decode error. Every event of one dispute (opened, then won or lost) carries the same
//! reference. A dispute is not a chargeback yet: Stripe has debited the amount when it opens
//! (and credits it back if won), but the outcome decides, so it is `DisputeOpened` first.
//!
//! Further fields: every `customer.subscription.*` event carries `subscription_status`, the
//! object's status mapped as in the table below (an unknown status is `None`, never an
//! error), and `trial_end` while the subscription is `trialing` (and on `trial_will_end`).
//! `invoice.payment_failed` carries `failure_reason`: the invoice's
//! `last_finalization_error.message`, else the failure message of its charge when the charge
//! is expanded in the delivery, else none. `checkout_reference` is the Checkout Session's `id`
//! (`cs_...`, what [`BillingProvider::create_top_up`] returned as the top-up's checkout) on the
//! two `checkout.session.*` top-up events, and `None` on every other event (a PaymentIntent
//! created directly was started through no checkout). `order_reference` is always `None`.
//!
//! The period end of subscription events is the latest `items.data[].current_period_end` (API
//! versions since 2025-03-31), else the legacy `current_period_end`: the next billing date,
//! whatever the status (also for `incomplete` and `past_due` subscriptions, whose period is not
//! paid). A paid invoice pays until its subscription lines end (a renewal's line runs over the
//! new period, prorations to the end of the current one; the invoice's own `period_end` is the
//! previous period's, so it is not used); a failed or pending invoice payment pays for nothing
//! and carries none. A time out of range is a decode error.
//!
//! # Subscription status
//!
//! | Stripe | [`ProviderSubscriptionStatus`](crate::ProviderSubscriptionStatus) |
//! |---|---|
//! | `incomplete` | `Pending` |
//! | `trialing` / `active` | `Trialing` / `Active`, or `Paused` while `pause_collection` is set |
//! | `past_due` | `PastDue` |
//! | `unpaid` | `Suspended` |
//! | `paused` | `Paused` |
//! | `canceled` | `Canceled` |
//! | `incomplete_expired` | `Expired` |
//!
//! # Calls
//!
//! | call | request |
//! |---|---|
//! | create | without a `customer_id`, first `POST /v1/customers` (`metadata[organization_id]`, the payer's `name` and `email` when given) under the key `{key}:customer`; then `POST /v1/subscriptions` (`customer`, `items[0][price]`, `metadata[organization_id]`, `payment_behavior=default_incomplete`, `payment_settings[save_default_payment_method]=on_subscription`, `expand[0]=latest_invoice`); an `incomplete` subscription returns its hosted invoice URL as the approval URL |
//! | get | `GET /v1/subscriptions/{id}` |
//! | cancel | `DELETE /v1/subscriptions/{id}` (the reason as `cancellation_details[comment]`) |
//! | cancel at period end | `POST /v1/subscriptions/{id}` with `cancel_at_period_end=true` (and the comment) |
//! | pause / reactivate | `POST /v1/subscriptions/{id}` with `pause_collection[behavior]=void` / `pause_collection=` (cleared) |
//! | retry | `GET /v1/invoices?subscription={id}&status=open&limit=1`, then `POST /v1/invoices/{invoice}/pay` (402 is `Declined`, no open invoice `NothingDue`) |
//! | top-up | `POST /v1/checkout/sessions`: `mode=payment`, `line_items[0][price_data][currency]` (lower case), `[unit_amount]` (Stripe's minor units, ISK and UGX times 100), `[product_data][name]` (the description), `line_items[0][quantity]=1`, `success_url`, `cancel_url`, `client_reference_id` (the organization), `customer` when known, `metadata[organization_id]`, `metadata[purpose]=wallet_topup`, `payment_intent_data[metadata][organization_id]`, `payment_intent_data[metadata][purpose]=wallet_topup_checkout`; returns the session id, its `url` and `expires_at` |
//! | payment-method link | `GET /v1/subscriptions/{id}` for its `customer`, then `POST /v1/billing_portal/sessions` (`customer`, `return_url`); returns the portal `url` |
//! | capture a top-up | none: Checkout captures by itself ([`ProviderError::Unsupported`]) |
//!
//! Every POST and DELETE carries the caller's `Idempotency-Key` (1 to 255 bytes; 246 when a
//! customer is created too), except the billing portal session: it moves no money and lives
//! for minutes, so it is resent after a 5xx without a key (a key would hand back a stale
//! session for a day). A top-up is credited only by its session's completion
//! (`checkout.session.completed`, or `checkout.session.async_payment_succeeded` for methods that
//! settle later), never by the customer's return to `success_url`.

mod amount;
mod api;
mod events;
mod signature;
mod status;
mod wire;

use primitives::config::Variable;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use primitives::Clock;
use secrecy::{ExposeSecret, SecretString};

pub use events::{
    ORGANIZATION_METADATA_KEY, PURPOSE_METADATA_KEY, PURPOSE_WALLET_TOPUP,
    PURPOSE_WALLET_TOPUP_CHECKOUT,
};

use crate::config::Env;
use crate::http::{ApiClient, RetryPolicy};
use crate::{
    BillingProvider, ConfigError, CreateSubscription, CreateTopUp, CreatedSubscription,
    ParsedWebhook, PaymentMethodLink, ProviderError, ProviderName, ProviderSubscription,
    RetryOutcome, TopUpCheckout, VerifiedWebhook, VerifyError, WebhookRequest,
};

const SIGNATURE_HEADER: HeaderName = HeaderName::from_static("stripe-signature");

/// The environment variables [`StripeConfig::from_lookup`] reads; `STRIPE_WEBHOOK_SECRETS`
/// enables Stripe, every other one needs it.
pub const VARIABLES: [Variable; 6] = [
    Variable {
        name: "STRIPE_WEBHOOK_SECRETS",
        default: "unset",
        meaning: "comma-separated `whsec_...` secrets; **enables Stripe** (any other `STRIPE_*` without it is an error naming it)",
    },
    Variable {
        name: "STRIPE_SECRET_KEY",
        default: "unset",
        meaning: "`sk_...` or `rk_...` (unset: verification only)",
    },
    Variable {
        name: "STRIPE_API_BASE_URL",
        default: "https://api.stripe.com",
        meaning: "Stripe's API root",
    },
    Variable {
        name: "STRIPE_API_VERSION",
        default: "the account's",
        meaning: "pins `Stripe-Version`",
    },
    Variable {
        name: "STRIPE_TOLERANCE_SECS",
        default: "300",
        meaning: "allowed distance of a signature's `t=` from our clock",
    },
    Variable {
        name: "STRIPE_TIMEOUT_SECS",
        default: "30",
        meaning: "per attempt",
    },
];

/// What an API call answers when no secret key is configured.
const NO_API: &str = "STRIPE_SECRET_KEY is not set (webhook verification only)";

/// How the adapter reaches Stripe and checks its webhooks. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `sk_...` (or a restricted `rk_...` key). `None`: webhook verification only; every API
    /// call fails with [`ProviderError::Config`] naming `STRIPE_SECRET_KEY`.
    pub secret_key: Option<SecretString>,
    /// The endpoint's `whsec_...` secrets; several while one is being rolled.
    pub webhook_secrets: Vec<SecretString>,
    /// Allowed distance between a delivery's timestamp and our clock, either way.
    pub tolerance: Duration,
    pub base_url: String,
    /// `Stripe-Version` sent on our calls, when pinned.
    pub api_version: Option<String>,
    /// Per attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl StripeConfig {
    pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";
    /// Stripe's own libraries' default.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// The defaults of the table in the module documentation.
    pub fn new(secret_key: SecretString, webhook_secrets: Vec<SecretString>) -> Self {
        Self {
            secret_key: Some(secret_key),
            ..Self::verification_only(webhook_secrets)
        }
    }

    /// Webhook verification (and parsing) only: no secret key.
    pub fn verification_only(webhook_secrets: Vec<SecretString>) -> Self {
        Self {
            secret_key: None,
            webhook_secrets,
            tolerance: Self::DEFAULT_TOLERANCE,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_version: None,
            timeout: Self::DEFAULT_TIMEOUT,
            retry: RetryPolicy::DEFAULT,
        }
    }

    /// Reads the variables of [`VARIABLES`] through `lookup` (pass
    /// `|name| std::env::var(name).ok()`; tests pass a map). `Ok(None)`: none is set, Stripe is
    /// not configured. Any of them set without `STRIPE_WEBHOOK_SECRETS` is an error naming
    /// `STRIPE_WEBHOOK_SECRETS`; without `STRIPE_SECRET_KEY` the adapter only verifies. Webhook
    /// secrets must start with `whsec_`, the key with `sk_` or `rk_` (a pasted wrong secret is
    /// caught at start). Errors name the variable, never its value.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let env = Env::new(&lookup);
        let Some(secrets) = env.list("STRIPE_WEBHOOK_SECRETS")? else {
            return match env.first_set(&VARIABLES) {
                Some(other) => Err(ConfigError::new(
                    "STRIPE_WEBHOOK_SECRETS",
                    format!("is not set, but {other} is (STRIPE_WEBHOOK_SECRETS enables Stripe)"),
                )),
                None => Ok(None),
            };
        };
        if !secrets.iter().all(|secret| secret.starts_with("whsec_")) {
            return Err(ConfigError::new(
                "STRIPE_WEBHOOK_SECRETS",
                "every secret must be an endpoint signing secret (whsec_...)",
            ));
        }
        let mut config =
            Self::verification_only(secrets.into_iter().map(SecretString::from).collect());
        if let Some(key) = env.get("STRIPE_SECRET_KEY") {
            if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                return Err(ConfigError::new(
                    "STRIPE_SECRET_KEY",
                    "is not a secret or restricted key (sk_... or rk_...)",
                ));
            }
            config.secret_key = Some(SecretString::from(key));
        }
        if let Some(url) = env.url("STRIPE_API_BASE_URL")? {
            config.base_url = url;
        }
        config.api_version = env.get("STRIPE_API_VERSION");
        if let Some(tolerance) = env.seconds("STRIPE_TOLERANCE_SECS")? {
            config.tolerance = tolerance;
        }
        if let Some(timeout) = env.seconds("STRIPE_TIMEOUT_SECS")? {
            config.timeout = timeout;
        }
        Ok(Some(config))
    }

    /// [`StripeConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Stripe behind [`BillingProvider`].
#[derive(Debug, Clone)]
pub struct StripeProvider {
    /// `None` in a verification-only configuration.
    api: Option<api::Api>,
    webhook_secrets: Vec<SecretString>,
    tolerance_secs: u64,
    clock: Arc<dyn Clock>,
}

impl StripeProvider {
    /// Checks the configuration; a secret that is empty would make every signature (or call)
    /// fail, so it is refused here rather than at the first webhook.
    pub fn new(config: StripeConfig, clock: Arc<dyn Clock>) -> Result<Self, ProviderError> {
        let misconfigured = |message: &str| ProviderError::Config {
            provider: ProviderName::Stripe,
            message: message.to_owned(),
        };
        if config.webhook_secrets.is_empty() {
            return Err(misconfigured("no webhook signing secret is configured"));
        }
        if config
            .webhook_secrets
            .iter()
            .any(|secret| secret.expose_secret().is_empty())
        {
            return Err(misconfigured("a webhook signing secret is empty"));
        }
        let api = match config.secret_key {
            Some(secret_key) => {
                if secret_key.expose_secret().trim().is_empty() {
                    return Err(misconfigured("the secret key is empty"));
                }
                let client = ApiClient::new(
                    ProviderName::Stripe,
                    &config.base_url,
                    config.timeout,
                    config.retry,
                )?;
                Some(api::Api::new(client, secret_key, config.api_version))
            }
            None => None,
        };
        Ok(Self {
            api,
            webhook_secrets: config.webhook_secrets,
            tolerance_secs: config.tolerance.as_secs(),
            clock,
        })
    }

    /// Whether API calls can be made (a secret key is configured); without, the adapter only
    /// verifies and parses webhooks.
    pub fn has_api(&self) -> bool {
        self.api.is_some()
    }

    fn api(&self) -> Result<&api::Api, ProviderError> {
        self.api.as_ref().ok_or_else(|| ProviderError::Config {
            provider: ProviderName::Stripe,
            message: NO_API.to_owned(),
        })
    }

    fn verify(&self, request: WebhookRequest<'_>) -> Result<VerifiedWebhook, VerifyError> {
        let malformed = |reason| VerifyError::MalformedHeader {
            header: signature::HEADER,
            reason,
        };
        let mut values = request.headers.get_all(SIGNATURE_HEADER).into_iter();
        let value = values
            .next()
            .ok_or(VerifyError::MissingHeader(signature::HEADER))?;
        if values.next().is_some() {
            return Err(malformed("sent more than once"));
        }
        let value = value.to_str().map_err(|_| malformed("not visible ASCII"))?;
        signature::Verifier {
            secrets: &self.webhook_secrets,
            tolerance_secs: self.tolerance_secs,
            now: self.clock.now(),
        }
        .verify(value, request.body)?;
        Ok(VerifiedWebhook::new(ProviderName::Stripe, request.body))
    }
}

#[async_trait::async_trait]
impl BillingProvider for StripeProvider {
    fn name(&self) -> ProviderName {
        ProviderName::Stripe
    }

    fn has_api(&self) -> bool {
        self.api.is_some()
    }

    /// `return_url` and `cancel_url` are not used: the customer pays the first invoice on its
    /// hosted page (the approval URL). Without `customer_id` a customer is created first.
    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        self.api()?.create_subscription(request).await
    }

    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        self.api()?.subscription(provider_subscription_id).await
    }

    async fn cancel(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
            .cancel(provider_subscription_id, reason, idempotency_key)
            .await
    }

    /// `cancel_at_period_end=true`: Stripe keeps the subscription until the period it was paid
    /// for ends, then cancels it.
    async fn cancel_at_period_end(
        &self,
        provider_subscription_id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
            .cancel_at_period_end(provider_subscription_id, reason, idempotency_key)
            .await
    }

    /// A Checkout Session (mode `payment`); its completion webhook credits the wallet.
    async fn create_top_up(&self, request: &CreateTopUp) -> Result<TopUpCheckout, ProviderError> {
        self.api()?.create_top_up(request).await
    }

    /// A billing portal session for the subscription's customer.
    async fn payment_method_link(
        &self,
        request: &PaymentMethodLink,
    ) -> Result<String, ProviderError> {
        self.api()?.payment_method_link(request).await
    }

    /// Stripe has no field for a pause reason; the caller records it.
    async fn pause(
        &self,
        provider_subscription_id: &str,
        _reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
            .pause(provider_subscription_id, idempotency_key)
            .await
    }

    async fn reactivate(
        &self,
        provider_subscription_id: &str,
        _reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api()?
            .resume(provider_subscription_id, idempotency_key)
            .await
    }

    async fn retry_payment(
        &self,
        provider_subscription_id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        self.api()?
            .retry_payment(provider_subscription_id, idempotency_key)
            .await
    }

    async fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        self.verify(request)
    }

    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        if webhook.provider() != ProviderName::Stripe {
            return Err(ProviderError::Decode {
                provider: ProviderName::Stripe,
                message: format!(
                    "a {} webhook handed to the Stripe adapter",
                    webhook.provider()
                ),
            });
        }
        events::parse(webhook.body())
    }
}
