//! The PayHere adapter: `md5sig` verification of payment notifications, notifications as
//! [`BillingEvent`](crate::BillingEvent)s, checkout forms, and the Subscription Manager API.
//!
//! # Configuration ([`PayHereConfig`])
//!
//! [`PayHereConfig::from_lookup`] returns `Ok(None)` when none of [`VARIABLES`] is set; once
//! any is, the merchant id and secret are required (and suffice: verification only), and every
//! error is a [`ConfigError`] naming the variable.
//!
//! | field | env ([`PayHereConfig::from_lookup`]) | meaning | default |
//! |---|---|---|---|
//! | `merchant_id` | `PAYHERE_MERCHANT_ID` | the merchant id notifications must name | required |
//! | `merchant_secrets` | `PAYHERE_MERCHANT_SECRET` (comma-separated) | merchant secrets; PayHere issues one per domain or app, and a notification signed by any of them passes. The first signs checkout forms | required, at least one |
//! | `api` | `PAYHERE_APP_ID`, `PAYHERE_APP_SECRET` (both or neither) | Subscription Manager API credentials (a business app with that permission) | none: webhook verification only, API calls fail with `Config` naming both variables |
//! | `base_url` | `PAYHERE_BASE_URL` | root of the API and the checkout page | `https://www.payhere.lk` (sandbox: `https://sandbox.payhere.lk`) |
//! | `notify_url` | `PAYHERE_NOTIFY_URL` | where PayHere posts notifications (put in checkout forms) | none: checkout forms fail with `Config` |
//! | `plans` | `PAYHERE_PLANS` (`pro=USD 15.00/1 Month/Forever;team=LKR 5000.00/1 Year/Forever/Team`, format in [`PayHerePlan`]) | plan id → [`PayHerePlan`] (amount, recurrence, duration, title): PayHere has no plans API, so the price lives with us | none: `create_subscription` fails with `Config` |
//! | `timeout` | `PAYHERE_TIMEOUT_SECS` | per attempt | 30 s |
//! | `retry` | | [`RetryPolicy`] of [`crate::http`] | 4 attempts, 250 ms doubling to 10 s |
//! | `token_refresh_margin` | | an OAuth token is replaced this long before it expires | 60 s |
//!
//! # Verification
//!
//! The notification is a form-encoded body; the signature is a body field, not a header:
//! `md5sig = UPPER(MD5(merchant_id + order_id + payhere_amount + payhere_currency +
//! status_code + UPPER(MD5(merchant_secret))))` over the values as sent. Rules and their errors
//! are in [`signature`]; in short: duplicate fields, a missing signed field or `md5sig`
//! (`MalformedBody("missing md5sig")`), an amount without exactly two decimals, and another
//! merchant's id are `MalformedBody`; a wrong or lower-case `md5sig` is `BadSignature`. Headers
//! are not read.
//!
//! The signature covers decoded values, not bytes: the same fields in another order or
//! percent-encoded differently verify, and mean the same. And it covers five fields only, which
//! decides what the adapter believes:
//!
//! - **Organization**: taken from the signed `order_id` ([`OrderRef`]:
//!   `SUB-{organization}.{nonce}`, `TOPUP-{organization}.{nonce}`), never from `custom_1`,
//!   which neither PayHere's checkout hash nor `md5sig` covers (the customer can edit it in the
//!   checkout form). A differing `custom_1` is logged and ignored. Order ids that are not ours
//!   give no organization.
//! - **Top-up or not**: the signed `TOPUP-` prefix, not `custom_2`.
//! - **Success or failure**: the signed `status_code`. The unsigned `message_type` only tells
//!   an authorization from an installment, or reports a stopped or completed subscription.
//! - **Event ids** (PayHere has none): one-off payments `{order_id}/{status_code}#{kind}`, from
//!   signed fields only, so a redelivery or a replay with any unsigned field altered is a
//!   duplicate (G3). Recurring installments share order id and `md5sig`, so their ids,
//!   `{order_id}/{subscription_id}/{payment_id}/{status_code}#{kind}`, need PayHere's unsigned
//!   `payment_id` and `subscription_id` (a relabelled `message_type` still gives the same id).
//!   Whoever holds a genuine notification could therefore present it as another installment or
//!   another subscription, or relabel it `RECURRING_STOPPED`. So the enforcement layer must
//!   check that `provider_subscription_id` belongs to `organization_ref` (both set by the first
//!   `AUTHORIZATION_SUCCESS`), and may confirm an installment or a stop with
//!   [`PayHereProvider::subscription_payments`] or [`BillingProvider::subscription`] before
//!   acting.
//!
//! # Events
//!
//! `occurred_at` is the adapter's [`Clock`] when parsing (parse on receipt): PayHere sends no
//! timestamp, so PayHere events order by arrival, and a late redelivery is recognised by its id,
//! not by its age. Amounts are `payhere_amount` in `payhere_currency` as
//! [`primitives::Money`] (a currency we cannot hold is [`ProviderError::Decode`]). A
//! `subscription_id` or `payment_id` that is not digits (one-off or recurring), or a recurring
//! notification of a known type without `subscription_id`, is [`ProviderError::Decode`] too.
//!
//! `payment_reference` is PayHere's `payment_id` on every event about a payment (an
//! activation's is its authorization payment); a chargeback names the payment it takes back,
//! so its debit meets that payment's credit. `payment_id` is not signed: for one-off payments
//! the event id (signed fields only) is what makes a replay a duplicate, and for recurring ones
//! it is part of the event id anyway (see "Event ids" above). `period_end` is PayHere's
//! next recurring date, `item_rec_date_next` (`YYYY-MM-DD`, a Sri Lankan calendar date), read
//! as the start of that day in Asia/Colombo (UTC+05:30, no daylight saving): `2026-02-01` is
//! `2026-01-31T18:30:00Z`, when PayHere's day of the next charge begins. It is set on successful
//! recurring payments and their activation only; it is unsigned, so an absent or unreadable
//! date is no period end and a warning, never an error, and the enforcement layer should not
//! extend a period by more than the plan's interval on its word alone.
//!
//! | notification | `status_code` | events | subscription id | amount | payment reference | period end |
//! |---|---|---|---|---|---|---|
//! | one-off, order `TOPUP-...` | 2 | `WalletTopUpCompleted` (checkout reference: the order id) | | yes | `payment_id` | |
//! | one-off, order `SUB-...` (a manual payment) | 2 | `PaymentSucceeded` | | yes | `payment_id` | |
//! | one-off, order `TOPUP-...`/`SUB-...` | -3 | `Chargeback` | | yes | `payment_id` | |
//! | one-off, order `TOPUP-...`/`SUB-...` | 0, -1, -2 | ignored: no money moved | | | | |
//! | one-off, any other order id | any | ignored: not attributable | | | | |
//! | recurring, any `message_type` below | -3 | `Chargeback` | `subscription_id` | yes | `payment_id` | |
//! | `AUTHORIZATION_SUCCESS`/`_FAILED` | 2 | `SubscriptionActivated`, `PaymentSucceeded` | `subscription_id` | payment | `payment_id` (both) | `item_rec_date_next` (both) |
//! | `RECURRING_INSTALLMENT_SUCCESS`/`_FAILED` | 2 | `PaymentSucceeded` | `subscription_id` | yes | `payment_id` | `item_rec_date_next` |
//! | `AUTHORIZATION_*`, `RECURRING_INSTALLMENT_*` | -2 | `PaymentFailed` | `subscription_id` | yes | `payment_id` | |
//! | `RECURRING_INSTALLMENT_*` | -1 | `PaymentFailed` | `subscription_id` | yes | `payment_id` | |
//! | `AUTHORIZATION_*` | -1 | ignored: the customer left the checkout | | | | |
//! | `AUTHORIZATION_*`, `RECURRING_INSTALLMENT_*` | 0 | ignored: pending | | | | |
//! | `RECURRING_STOPPED` | 0, -1, -2, 2 | `SubscriptionCanceled` | `subscription_id` | | | |
//! | `RECURRING_COMPLETE` | 0, -1, -2, 2 | `SubscriptionExpired` | `subscription_id` | | | |
//! | recurring, other or no `message_type` | any | ignored | | | | |
//! | any | other codes | ignored | | | | |
//!
//! `message_type` is read case-insensitively with spaces as underscores. `provider_event_type`
//! is `payment:{status_code}` (one-off) or `{MESSAGE_TYPE}:{status_code}`.
//!
//! Every event carries the signed `order_id` as [`BillingEvent::order_reference`](crate::BillingEvent::order_reference)
//! (the receiver binds a subscription created under its order id to PayHere's
//! `subscription_id` when the first authorization arrives). A top-up's `WalletTopUpCompleted`
//! carries it as [`BillingEvent::checkout_reference`](crate::BillingEvent::checkout_reference)
//! too, the checkout [`BillingProvider::create_top_up`] returned; every other event's is `None`
//! (a charge-back of a top-up names its order as `order_reference` only). A `PaymentFailed`
//! carries PayHere's unsigned `status_message` (cleaned and bounded) as `failure_reason`.
//! `subscription_status` and `trial_end` are always `None`: PayHere's notifications carry
//! neither. A charge-back (status -3) is `Chargeback`, the money being gone already; PayHere
//! reports no disputes.
//!
//! # Calls
//!
//! Token `POST /merchant/v1/oauth/token` (Basic `app_id:app_secret`,
//! `grant_type=client_credentials`), cached until `token_refresh_margin` before expiry and
//! fetched again once on a 401; then Bearer: list `GET /merchant/v1/subscription` (also serves
//! [`BillingProvider::subscription`], PayHere having no single-subscription call); payments
//! `GET /merchant/v1/subscription/{id}/payments`; retry `POST /merchant/v1/subscription/retry`
//! and cancel `POST /merchant/v1/subscription/cancel`, both with JSON `{"subscription_id": id}`.
//! PayHere has no idempotency header: the callers' keys are not sent, and retry and cancel are
//! resent only after a 429 or when the connection never opened, never after a 5xx or a lost
//! exchange, which may have acted already. `pause` and `reactivate` are [`ProviderError::Unsupported`]: PayHere's API has no
//! pause or resume, only cancel (that is PayHere, not a gap in the adapter).
//!
//! # Creating a subscription
//!
//! PayHere has no API call that creates a subscription: it starts when the customer's browser
//! posts a signed checkout form. [`BillingProvider::create_subscription`] therefore makes no
//! HTTP call; it returns that form:
//!
//! - the plan is looked up in `plans` (unknown: `Config` naming it); the request must carry a
//!   [`Payer`] with every field filled (PayHere's checkout requires them), a
//!   `return_url` and a `cancel_url`, else `Config`;
//! - the order id is [`OrderRef`] `SUB-{organization_ref}.{nonce}`, with `nonce` the first 16
//!   hex digits (lower case) of SHA-256 of the `idempotency_key` (which must not be empty):
//!   always hashed, whatever the key looks like, so any key fits PayHere's order id and a
//!   retried creation (same key) yields the same order id and the same signed form, while a
//!   new key yields a new order;
//! - the result is `provider_subscription_id` = that order id, `approval_url` = the form's
//!   action (`{base_url}/pay/checkout`), `approval_form` = its fields in order (`hash`
//!   included), status `Pending`.
//!
//! PayHere's own `subscription_id` exists only once the customer has paid: it arrives with the
//! `AUTHORIZATION_SUCCESS` notification (whose signed `order_id` is this order id), and the
//! receiver links it to the pending subscription. The API calls above take that
//! `subscription_id`, not the order id.
//!
//! # Top-ups and the other customer calls
//!
//! [`BillingProvider::create_top_up`] makes no HTTP call either: it returns the signed one-off
//! checkout form, built by the same rules (payer with every field, `return_url`,
//! `cancel_url`, a description as `items`, the amount with two decimals) with the order id
//! `TOPUP-{organization_ref}.{nonce}` (the nonce from the idempotency key as above, so each
//! top-up needs its own key: a paid order id is credited once). `checkout_reference` is that
//! order id, `approval_url` the form's action, `approval_form` its fields; PayHere states no
//! expiry. The notification of its payment (one-off, status 2, signed `TOPUP-` order id)
//! credits the wallet of the organization in the order id.
//!
//! `cancel_at_period_end` cancels now (PayHere schedules no cancellation; the trait's default),
//! and there is no payment-method link or capture ([`ProviderError::Unsupported`]).

mod api;
mod checkout;
mod errors;
mod events;
mod notification;
mod order;
mod plan;
pub mod signature;
mod token;
mod wire;

use primitives::config::Variable;
use std::sync::Arc;
use std::time::Duration;

use primitives::Clock;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub use api::{PayHerePayment, PayHereSubscription};
pub use checkout::{CheckoutCustomer, CheckoutForm, CheckoutRequest, Recurrence};
pub use order::{OrderPurpose, OrderRef};
pub use plan::{PayHerePlan, PayHerePlans};

use errors::config_error;

use crate::config::Env;
use crate::http::{ApiClient, RetryPolicy};
use crate::{
    BillingProvider, ConfigError, CreateSubscription, CreateTopUp, CreatedSubscription,
    ParsedWebhook, Payer, ProviderError, ProviderName, ProviderSubscription,
    ProviderSubscriptionStatus, RetryOutcome, TopUpCheckout, VerifiedWebhook, VerifyError,
    WebhookRequest,
};

const PAYHERE: ProviderName = ProviderName::Payhere;

const PAYER_NEEDED: &str = "PayHere's checkout needs the payer's name, email, phone and address";

/// Hex digits of the idempotency key's SHA-256 that make a subscription order's nonce.
const NONCE_HEX_DIGITS: usize = 16;

/// The nonce of an order id: the first 16 hex digits of SHA-256 of the idempotency key, so a
/// retried creation yields the same order id and any key fits. `what` names the checkout in
/// the error.
fn order_nonce(idempotency_key: &str, what: &str) -> Result<String, ProviderError> {
    if idempotency_key.is_empty() {
        return Err(config_error(format!(
            "a PayHere {what} needs an idempotency key (its order id derives from it)"
        )));
    }
    let mut nonce = hex::encode(Sha256::digest(idempotency_key.as_bytes()));
    nonce.truncate(NONCE_HEX_DIGITS);
    Ok(nonce)
}

/// The payer as PayHere's checkout needs them: every field filled.
fn checkout_customer(payer: Option<&Payer>) -> Result<CheckoutCustomer, ProviderError> {
    let payer = payer
        .ok_or_else(|| config_error(format!("{PAYER_NEEDED} (the request carries no payer)")))?;
    let customer = CheckoutCustomer {
        first_name: payer.first_name.clone(),
        last_name: payer.last_name.clone(),
        email: payer.email.clone(),
        phone: payer.phone.clone(),
        address: payer.address.clone(),
        city: payer.city.clone(),
        country: payer.country.clone(),
    };
    for (name, value) in [
        ("first_name", &customer.first_name),
        ("last_name", &customer.last_name),
        ("email", &customer.email),
        ("phone", &customer.phone),
        ("address", &customer.address),
        ("city", &customer.city),
        ("country", &customer.country),
    ] {
        if value.trim().is_empty() {
            return Err(config_error(format!("{PAYER_NEEDED} ({name} is empty)")));
        }
    }
    Ok(customer)
}

/// A URL the customer is sent back to, trimmed; blank or absent is an error naming it.
fn required_url(value: Option<&str>, name: &str) -> Result<String, ProviderError> {
    value
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            config_error(format!(
                "PayHere's checkout needs a {name} to send the customer back to"
            ))
        })
}

/// The order id a checkout form carries.
fn form_order_id(form: &CheckoutForm) -> Result<String, ProviderError> {
    form.fields
        .iter()
        .find(|(name, _)| name == "order_id")
        .map(|(_, value)| value.clone())
        .ok_or_else(|| config_error("the checkout form has no order_id".to_owned()))
}

/// The environment variables [`PayHereConfig::from_lookup`] reads.
pub const VARIABLES: [Variable; 8] = [
    Variable {
        name: "PAYHERE_MERCHANT_ID",
        default: "unset",
        meaning: "**enables PayHere** with `PAYHERE_MERCHANT_SECRET`: the merchant id notifications must name",
    },
    Variable {
        name: "PAYHERE_MERCHANT_SECRET",
        default: "unset",
        meaning: "comma-separated merchant secrets (one per domain or app; the first signs checkout forms)",
    },
    Variable {
        name: "PAYHERE_APP_ID",
        default: "unset",
        meaning: "Subscription Manager API app id, with `PAYHERE_APP_SECRET` or neither (neither: verification only)",
    },
    Variable {
        name: "PAYHERE_APP_SECRET",
        default: "unset",
        meaning: "Subscription Manager API app secret",
    },
    Variable {
        name: "PAYHERE_BASE_URL",
        default: "https://www.payhere.lk",
        meaning: "API root and checkout page",
    },
    Variable {
        name: "PAYHERE_NOTIFY_URL",
        default: "unset",
        meaning: "where PayHere posts notifications (put in checkout forms)",
    },
    Variable {
        name: "PAYHERE_PLANS",
        default: "unset",
        meaning: "the plan catalog for checkout forms (docs/providers.md, PayHere)",
    },
    Variable {
        name: "PAYHERE_TIMEOUT_SECS",
        default: "30",
        meaning: "per attempt",
    },
];

/// Credentials of a PayHere business app allowed to use the Subscription Manager API.
#[derive(Debug, Clone)]
pub struct PayHereApiCredentials {
    pub app_id: String,
    pub app_secret: SecretString,
}

/// How the adapter reaches PayHere and checks its notifications. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct PayHereConfig {
    pub merchant_id: String,
    /// Any may sign a notification; the first signs checkout forms.
    pub merchant_secrets: Vec<SecretString>,
    pub api: Option<PayHereApiCredentials>,
    pub base_url: String,
    pub notify_url: Option<String>,
    /// Plan id → price and schedule, for [`BillingProvider::create_subscription`].
    pub plans: PayHerePlans,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub token_refresh_margin: Duration,
}

impl PayHereConfig {
    pub const LIVE_BASE_URL: &str = "https://www.payhere.lk";
    pub const SANDBOX_BASE_URL: &str = "https://sandbox.payhere.lk";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

    /// The defaults of the table in the module documentation (live PayHere, no API
    /// credentials, no notify URL).
    pub fn new(merchant_id: impl Into<String>, merchant_secret: SecretString) -> Self {
        Self {
            merchant_id: merchant_id.into(),
            merchant_secrets: vec![merchant_secret],
            api: None,
            base_url: Self::LIVE_BASE_URL.to_owned(),
            notify_url: None,
            plans: PayHerePlans::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            retry: RetryPolicy::DEFAULT,
            token_refresh_margin: Self::DEFAULT_TOKEN_REFRESH_MARGIN,
        }
    }

    /// Reads the variables of [`VARIABLES`] through `lookup` (pass
    /// `|name| std::env::var(name).ok()`; tests pass a map). `Ok(None)`: none is set, PayHere
    /// is not configured. Otherwise `PAYHERE_MERCHANT_ID` and `PAYHERE_MERCHANT_SECRET` are
    /// required (together they suffice: verification only), `PAYHERE_APP_ID` and
    /// `PAYHERE_APP_SECRET` come together or not at all. Errors name the variable, never its
    /// value.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let env = Env::new(&lookup);
        if !env.any(&VARIABLES) {
            return Ok(None);
        }
        let merchant_id = env.required("PAYHERE_MERCHANT_ID")?;
        let secrets = env
            .list("PAYHERE_MERCHANT_SECRET")?
            .ok_or_else(|| ConfigError::new("PAYHERE_MERCHANT_SECRET", "is not set"))?;
        let mut result = Self {
            merchant_secrets: secrets.into_iter().map(SecretString::from).collect(),
            ..Self::new(merchant_id, SecretString::from(""))
        };
        result.api =
            env.pair("PAYHERE_APP_ID", "PAYHERE_APP_SECRET")?
                .map(|(app_id, app_secret)| PayHereApiCredentials {
                    app_id,
                    app_secret: SecretString::from(app_secret),
                });
        if let Some(base_url) = env.url("PAYHERE_BASE_URL")? {
            result.base_url = base_url;
        }
        result.notify_url = env.url("PAYHERE_NOTIFY_URL")?;
        if let Some(plans) = env.get("PAYHERE_PLANS") {
            let plans_error = |error: ProviderError| {
                let message = match error {
                    ProviderError::Config { message, .. } => message,
                    other => other.to_string(),
                };
                ConfigError::new("PAYHERE_PLANS", message)
            };
            result.plans = plan::parse(&plans).map_err(plans_error)?;
            for (id, plan) in &result.plans {
                plan::check(id, plan).map_err(plans_error)?;
            }
        }
        if let Some(timeout) = env.seconds("PAYHERE_TIMEOUT_SECS")? {
            result.timeout = timeout;
        }
        Ok(Some(result))
    }

    /// [`PayHereConfig::from_lookup`] over the process environment.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// PayHere behind [`BillingProvider`].
#[derive(Debug)]
pub struct PayHereProvider {
    merchant_id: String,
    keys: Vec<signature::SigningKey>,
    base_url: String,
    notify_url: Option<String>,
    plans: PayHerePlans,
    api: api::Api,
    clock: Arc<dyn Clock>,
}

impl PayHereProvider {
    /// Checks the configuration: an empty secret or merchant id would refuse (or, worse,
    /// accept) every notification, so it is refused here rather than at the first one.
    pub fn new(config: PayHereConfig, clock: Arc<dyn Clock>) -> Result<Self, ProviderError> {
        let misconfigured = |message: &str| ProviderError::Config {
            provider: PAYHERE,
            message: message.to_owned(),
        };
        if config.merchant_id.trim().is_empty() {
            return Err(misconfigured("the merchant id is empty"));
        }
        if config.merchant_secrets.is_empty() {
            return Err(misconfigured("no merchant secret is configured"));
        }
        if config
            .merchant_secrets
            .iter()
            .any(|secret| secret.expose_secret().is_empty())
        {
            return Err(misconfigured("a merchant secret is empty"));
        }
        for (id, plan) in &config.plans {
            plan::check(id, plan)?;
        }
        let tokens = match &config.api {
            Some(credentials) => {
                if credentials.app_id.is_empty()
                    || credentials.app_secret.expose_secret().is_empty()
                {
                    return Err(misconfigured("the API app id or app secret is empty"));
                }
                Some(token::TokenSource::new(
                    &credentials.app_id,
                    &credentials.app_secret,
                    config.token_refresh_margin,
                    Arc::clone(&clock),
                ))
            }
            None => None,
        };
        let client = ApiClient::new(PAYHERE, &config.base_url, config.timeout, config.retry)?;
        Ok(Self {
            merchant_id: config.merchant_id,
            keys: config
                .merchant_secrets
                .iter()
                .map(signature::SigningKey::new)
                .collect(),
            base_url: config.base_url,
            notify_url: config.notify_url,
            plans: config.plans,
            api: api::Api::new(client, tokens),
            clock,
        })
    }

    /// Whether Subscription Manager API calls can be made (app credentials are configured);
    /// without, the adapter verifies and parses notifications and builds checkout forms.
    pub fn has_api(&self) -> bool {
        self.api.has_tokens()
    }

    /// The signed form that starts a top-up or a subscription in the customer's browser.
    pub fn checkout_form(&self, request: &CheckoutRequest) -> Result<CheckoutForm, ProviderError> {
        let notify_url = self
            .notify_url
            .as_deref()
            .ok_or_else(|| ProviderError::Config {
                provider: PAYHERE,
                message: "no notify URL is configured for checkout forms".to_owned(),
            })?;
        let key = self.keys.first().ok_or_else(|| ProviderError::Config {
            provider: PAYHERE,
            message: "no merchant secret is configured".to_owned(),
        })?;
        checkout::build(request, &self.merchant_id, notify_url, &self.base_url, key)
    }

    /// Every subscription of the merchant (`GET /merchant/v1/subscription`).
    pub async fn list_subscriptions(&self) -> Result<Vec<PayHereSubscription>, ProviderError> {
        self.api.list_subscriptions().await
    }

    /// The payments of one subscription (`GET /merchant/v1/subscription/{id}/payments`), for
    /// reconciliation and for confirming an installment a notification reports.
    pub async fn subscription_payments(
        &self,
        provider_subscription_id: &str,
    ) -> Result<Vec<PayHerePayment>, ProviderError> {
        self.api
            .subscription_payments(provider_subscription_id)
            .await
    }

    /// The [`CheckoutRequest`] of a [`CreateSubscription`]: plan, payer, URLs and an order id
    /// derived from the idempotency key.
    fn subscription_checkout(
        &self,
        request: &CreateSubscription,
    ) -> Result<CheckoutRequest, ProviderError> {
        let plan = self.plans.get(&request.plan_id).ok_or_else(|| {
            config_error(format!(
                "no PayHere plan {:?} is configured (PAYHERE_PLANS)",
                request.plan_id
            ))
        })?;
        let customer = checkout_customer(request.payer.as_ref())?;
        let return_url = required_url(request.return_url.as_deref(), "return_url")?;
        let cancel_url = required_url(request.cancel_url.as_deref(), "cancel_url")?;
        Ok(CheckoutRequest {
            order: OrderRef::new(
                OrderPurpose::Subscription,
                request.organization_ref.as_str(),
                order_nonce(&request.idempotency_key, "subscription")?,
            )?,
            amount: plan.amount,
            items: plan.title.clone(),
            customer,
            return_url,
            cancel_url,
            recurrence: Some(plan.recurrence.clone()),
        })
    }

    /// The [`CheckoutRequest`] of a [`CreateTopUp`]: a one-off payment of the amount, ordered
    /// as `TOPUP-{organization}.{nonce}` with the nonce derived from the idempotency key.
    fn top_up_checkout(&self, request: &CreateTopUp) -> Result<CheckoutRequest, ProviderError> {
        let customer = checkout_customer(request.payer.as_ref())?;
        let items = request.description.trim();
        if items.is_empty() {
            return Err(config_error(
                "PayHere's checkout needs a description of the item paid for".to_owned(),
            ));
        }
        Ok(CheckoutRequest {
            order: OrderRef::new(
                OrderPurpose::TopUp,
                request.organization_ref.as_str(),
                order_nonce(&request.idempotency_key, "top-up")?,
            )?,
            amount: request.amount,
            items: items.to_owned(),
            customer,
            return_url: required_url(Some(&request.return_url), "return_url")?,
            cancel_url: required_url(Some(&request.cancel_url), "cancel_url")?,
            recurrence: None,
        })
    }

    fn verify(&self, request: WebhookRequest<'_>) -> Result<VerifiedWebhook, VerifyError> {
        let notification =
            notification::Notification::parse(request.body).map_err(VerifyError::MalformedBody)?;
        signature::verify(&notification, &self.merchant_id, &self.keys)?;
        Ok(VerifiedWebhook::new(PAYHERE, request.body))
    }
}

#[async_trait::async_trait]
impl BillingProvider for PayHereProvider {
    fn name(&self) -> ProviderName {
        PAYHERE
    }

    fn has_api(&self) -> bool {
        self.api.has_tokens()
    }

    /// The signed checkout form that starts the subscription, for the customer's browser to
    /// post to `approval_url`; no HTTP call is made. Rules in the module documentation
    /// ("Creating a subscription").
    async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        let form = self.checkout_form(&self.subscription_checkout(request)?)?;
        let order_id = form_order_id(&form)?;
        Ok(CreatedSubscription {
            provider_subscription_id: order_id,
            approval_url: Some(form.action),
            approval_form: Some(form.fields),
            status: ProviderSubscriptionStatus::Pending,
        })
    }

    /// The signed one-off checkout form of the top-up (`TOPUP-{organization}.{nonce}`), for the
    /// customer's browser to post to `approval_url`; no HTTP call is made. The notification of
    /// its payment (status 2, signed order id `TOPUP-...`) credits the wallet.
    async fn create_top_up(&self, request: &CreateTopUp) -> Result<TopUpCheckout, ProviderError> {
        let form = self.checkout_form(&self.top_up_checkout(request)?)?;
        Ok(TopUpCheckout {
            checkout_reference: form_order_id(&form)?,
            approval_url: form.action,
            approval_form: Some(form.fields),
            // PayHere states none: the form may be posted until the order is paid.
            expires_at: None,
        })
    }

    async fn subscription(
        &self,
        provider_subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        self.api.subscription(provider_subscription_id).await
    }

    /// PayHere records no reason and takes no idempotency key; a repeated cancel succeeds once
    /// the subscription is canceled.
    async fn cancel(
        &self,
        provider_subscription_id: &str,
        _reason: &str,
        _idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.api.cancel(provider_subscription_id).await
    }

    async fn pause(
        &self,
        _provider_subscription_id: &str,
        _reason: &str,
        _idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            provider: PAYHERE,
            operation: "pause (PayHere's API has no pause or resume, only cancel: use cancel, \
                        or block access on our side while the subscription runs)",
        })
    }

    async fn reactivate(
        &self,
        _provider_subscription_id: &str,
        _reason: &str,
        _idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::Unsupported {
            provider: PAYHERE,
            operation: "reactivate (PayHere's API has no pause or resume, only cancel: a \
                        canceled subscription restarts with a new create_subscription checkout)",
        })
    }

    /// Not resent after a 5xx or a lost connection: PayHere has no idempotency key, and a
    /// second retry could charge twice.
    async fn retry_payment(
        &self,
        provider_subscription_id: &str,
        _idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        self.api.retry(provider_subscription_id).await
    }

    async fn verify_webhook(
        &self,
        request: WebhookRequest<'_>,
    ) -> Result<VerifiedWebhook, VerifyError> {
        self.verify(request)
    }

    fn parse_webhook(&self, webhook: &VerifiedWebhook) -> Result<ParsedWebhook, ProviderError> {
        let decode = |message: String| ProviderError::Decode {
            provider: PAYHERE,
            message,
        };
        if webhook.provider() != PAYHERE {
            return Err(decode(format!(
                "a {} webhook handed to the PayHere adapter",
                webhook.provider()
            )));
        }
        let notification = notification::Notification::parse(webhook.body())
            .map_err(|reason| decode(reason.to_owned()))?;
        events::parse(&notification, self.clock.now())
    }
}
