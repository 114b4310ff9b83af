//! Stripe's REST API: form-encoded requests with a Bearer secret key over [`ApiClient`], which
//! retries. Every write carries the caller's `Idempotency-Key`, the same on each retry, so
//! Stripe answers a repeated call with the first call's result instead of acting twice.

use chrono::DateTime;
use http::{HeaderName, Method, StatusCode};
use secrecy::SecretString;

use super::amount::{money, wire_amount};
use super::events::{
    ORGANIZATION_METADATA_KEY, PURPOSE_METADATA_KEY, PURPOSE_WALLET_TOPUP,
    PURPOSE_WALLET_TOPUP_CHECKOUT,
};
use super::status::subscription_status;
use super::wire;
use crate::http::{ApiClient, ApiRequest, ApiResponse, at, decode as decode_answer};
use crate::{
    CreateSubscription, CreateTopUp, CreatedSubscription, PaymentMethodLink, ProviderError,
    ProviderName, ProviderSubscription, ProviderSubscriptionStatus, RetryOutcome, TopUpCheckout,
};

const STRIPE: ProviderName = ProviderName::Stripe;
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
/// Stripe's limit on idempotency keys.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Appended to a subscription's idempotency key for the customer created with it.
const CUSTOMER_KEY_SUFFIX: &str = ":customer";
/// Stripe's limit on `cancellation_details[comment]`.
const MAX_COMMENT_CHARS: usize = 500;
/// Provider messages are kept for logs and operators, not whole pages of them.
const MAX_MESSAGE_CHARS: usize = 500;

fn config(message: String) -> ProviderError {
    ProviderError::Config {
        provider: STRIPE,
        message,
    }
}

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: STRIPE,
        message,
    }
}

/// An id that goes into a URL path. Stripe ids are `prefix_` and alphanumerics; anything else
/// (a `/`, `..`, `?`) would address another resource, so it is refused before any request.
fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, ProviderError> {
    let valid = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(config(format!("{what} {id:?} is not a Stripe id")))
    }
}

fn check_idempotency_key(key: &str) -> Result<(), ProviderError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(config(format!(
            "an idempotency key must have 1 to {MAX_IDEMPOTENCY_KEY} bytes"
        )));
    }
    Ok(())
}

/// A request field that must not be blank, trimmed.
fn required<'a>(value: &'a str, what: &str) -> Result<&'a str, ProviderError> {
    let value = value.trim();
    if value.is_empty() {
        Err(config(format!("the request's {what} is blank")))
    } else {
        Ok(value)
    }
}

/// The reason as `cancellation_details[comment]`, bounded; none when blank.
fn comment(reason: &str) -> Option<String> {
    let comment: String = reason.trim().chars().take(MAX_COMMENT_CHARS).collect();
    (!comment.is_empty()).then_some(comment)
}

/// The REST side of the adapter.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: ApiClient,
    secret_key: SecretString,
    api_version: Option<String>,
}

impl Api {
    pub(crate) fn new(
        client: ApiClient,
        secret_key: SecretString,
        api_version: Option<String>,
    ) -> Self {
        Self {
            client,
            secret_key,
            api_version,
        }
    }

    /// A request with the key and, when pinned, the API version.
    fn request(&self, method: Method, path: String) -> Result<ApiRequest, ProviderError> {
        let mut request = ApiRequest::new(method, path)
            .bearer(&self.secret_key)
            .map_err(at(STRIPE))?;
        if let Some(version) = &self.api_version {
            request = request
                .header(STRIPE_VERSION, version)
                .map_err(at(STRIPE))?;
        }
        Ok(request)
    }

    /// A write: the caller's idempotency key makes it safe to retry after a 5xx or a lost
    /// connection.
    fn write(
        &self,
        method: Method,
        path: String,
        idempotency_key: &str,
    ) -> Result<ApiRequest, ProviderError> {
        check_idempotency_key(idempotency_key)?;
        self.request(method, path)?
            .idempotency_key(IDEMPOTENCY_KEY, idempotency_key)
            .map_err(at(STRIPE))
    }

    /// Sends `request` and reads a successful answer as `T`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: &ApiRequest,
    ) -> Result<T, ProviderError> {
        let response = self.client.send(request).await?;
        if response.status.is_success() {
            decode_answer(&response, STRIPE)
        } else {
            Err(api_error(&response))
        }
    }

    /// Creates the subscription for `create.customer_id`, or for a customer created first
    /// when there is none. `default_incomplete`: the first invoice is never charged
    /// unattended, so a customer without a saved payment method can start too; an
    /// `incomplete` subscription's hosted invoice is where the customer pays, and the method
    /// paid with becomes the subscription's default for its renewals.
    pub(crate) async fn create_subscription(
        &self,
        create: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        check_idempotency_key(&create.idempotency_key)?;
        let customer = match create.customer_id.as_deref().map(str::trim) {
            Some(customer) if !customer.is_empty() => customer.to_owned(),
            _ => self.create_customer(create).await?,
        };
        let fields = vec![
            ("customer".to_owned(), customer),
            ("items[0][price]".to_owned(), create.plan_id.clone()),
            (
                format!("metadata[{ORGANIZATION_METADATA_KEY}]"),
                create.organization_ref.clone(),
            ),
            (
                "payment_behavior".to_owned(),
                "default_incomplete".to_owned(),
            ),
            (
                "payment_settings[save_default_payment_method]".to_owned(),
                "on_subscription".to_owned(),
            ),
            // The hosted invoice of an `incomplete` subscription is where the customer pays.
            ("expand[0]".to_owned(), "latest_invoice".to_owned()),
        ];
        let request = self
            .write(
                Method::POST,
                "/v1/subscriptions".into(),
                &create.idempotency_key,
            )?
            .form(fields);
        let sub: wire::Subscription = self.call(&request).await?;
        let status = subscription_status(&sub)?;
        let approval_url = match (&sub.latest_invoice, status) {
            (Some(wire::Expandable::Object(invoice)), ProviderSubscriptionStatus::Pending) => {
                invoice.hosted_invoice_url.clone()
            }
            _ => None,
        };
        Ok(CreatedSubscription {
            provider_subscription_id: sub.id,
            approval_url,
            approval_form: None,
            status,
        })
    }

    /// A customer for an organization that has none at Stripe yet, under a key derived from
    /// the subscription's, so a retried creation makes one customer and one subscription.
    async fn create_customer(&self, create: &CreateSubscription) -> Result<String, ProviderError> {
        let mut fields = vec![(
            format!("metadata[{ORGANIZATION_METADATA_KEY}]"),
            create.organization_ref.clone(),
        )];
        if let Some(payer) = &create.payer {
            let name = format!("{} {}", payer.first_name.trim(), payer.last_name.trim());
            if !name.trim().is_empty() {
                fields.push(("name".to_owned(), name.trim().to_owned()));
            }
            if !payer.email.trim().is_empty() {
                fields.push(("email".to_owned(), payer.email.trim().to_owned()));
            }
        }
        if create.idempotency_key.len() + CUSTOMER_KEY_SUFFIX.len() > MAX_IDEMPOTENCY_KEY {
            return Err(config(format!(
                "an idempotency key must have at most {} bytes when the customer is created too",
                MAX_IDEMPOTENCY_KEY - CUSTOMER_KEY_SUFFIX.len()
            )));
        }
        let key = format!("{}{CUSTOMER_KEY_SUFFIX}", create.idempotency_key);
        let request = self
            .write(Method::POST, "/v1/customers".into(), &key)?
            .form(fields);
        let customer: wire::Object = self.call(&request).await?;
        Ok(customer.id)
    }

    /// A Checkout Session in `payment` mode for one top-up. The session carries
    /// `purpose=wallet_topup` and the organization, so its completion credits the wallet; its
    /// PaymentIntent carries the organization and `purpose=wallet_topup_checkout`, so the
    /// charge's refunds and disputes are attributed while its own `payment_intent.succeeded`
    /// credits nothing a second time.
    pub(crate) async fn create_top_up(
        &self,
        top_up: &CreateTopUp,
    ) -> Result<TopUpCheckout, ProviderError> {
        let (unit_amount, currency) = wire_amount(top_up.amount)?;
        let organization = required(&top_up.organization_ref, "organization reference")?;
        let name = required(&top_up.description, "description")?;
        let success_url = required(&top_up.return_url, "return_url")?;
        let cancel_url = required(&top_up.cancel_url, "cancel_url")?;
        let mut fields = vec![
            ("mode", "payment".to_owned()),
            ("line_items[0][price_data][currency]", currency),
            (
                "line_items[0][price_data][unit_amount]",
                unit_amount.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]",
                name.to_owned(),
            ),
            ("line_items[0][quantity]", "1".to_owned()),
            ("success_url", success_url.to_owned()),
            ("cancel_url", cancel_url.to_owned()),
            ("client_reference_id", organization.to_owned()),
        ];
        if let Some(customer) = top_up
            .customer_id
            .as_deref()
            .map(str::trim)
            .filter(|customer| !customer.is_empty())
        {
            fields.push(("customer", customer.to_owned()));
        }
        let mut fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        for (prefix, purpose) in [
            ("metadata", PURPOSE_WALLET_TOPUP),
            (
                "payment_intent_data[metadata]",
                PURPOSE_WALLET_TOPUP_CHECKOUT,
            ),
        ] {
            fields.push((
                format!("{prefix}[{ORGANIZATION_METADATA_KEY}]"),
                organization.to_owned(),
            ));
            fields.push((
                format!("{prefix}[{PURPOSE_METADATA_KEY}]"),
                purpose.to_owned(),
            ));
        }
        let request = self
            .write(
                Method::POST,
                "/v1/checkout/sessions".into(),
                &top_up.idempotency_key,
            )?
            .form(fields);
        let session: wire::CheckoutSession = self.call(&request).await?;
        let approval_url = session.url.ok_or_else(|| {
            decode(format!(
                "Checkout Session {} was answered without its url",
                session.id
            ))
        })?;
        let expires_at = match session.expires_at {
            Some(secs) => Some(DateTime::from_timestamp(secs, 0).ok_or_else(|| {
                decode(format!(
                    "Checkout Session {} expires at {secs}, not a time",
                    session.id
                ))
            })?),
            None => None,
        };
        Ok(TopUpCheckout {
            checkout_reference: session.id,
            approval_url,
            approval_form: None,
            expires_at,
        })
    }

    /// A billing portal session for the subscription's customer, where they change their
    /// payment method. No idempotency key: a portal session moves no money and expires within
    /// minutes, so a repeat may simply make a second one (and a key would hand back a stale
    /// one for a day).
    pub(crate) async fn payment_method_link(
        &self,
        link: &PaymentMethodLink,
    ) -> Result<String, ProviderError> {
        let id = path_id(&link.provider_subscription_id, "subscription id")?;
        let return_url = required(&link.return_url, "return_url")?;
        let sub: wire::Subscription = self
            .call(&self.request(Method::GET, format!("/v1/subscriptions/{id}"))?)
            .await?;
        let customer = sub
            .customer
            .as_ref()
            .map(wire::Expandable::id)
            .filter(|customer| !customer.is_empty())
            .ok_or_else(|| decode(format!("subscription {} names no customer", sub.id)))?;
        let request = self
            .request(Method::POST, "/v1/billing_portal/sessions".into())?
            .repeatable()
            .form(vec![
                ("customer".to_owned(), customer.to_owned()),
                ("return_url".to_owned(), return_url.to_owned()),
            ]);
        let session: wire::PortalSession = self.call(&request).await?;
        Ok(session.url)
    }

    pub(crate) async fn subscription(
        &self,
        id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        let id = path_id(id, "subscription id")?;
        let request = self.request(Method::GET, format!("/v1/subscriptions/{id}"))?;
        let sub: wire::Subscription = self.call(&request).await?;
        let status = subscription_status(&sub)?;
        let current_period_end = match sub.period_end() {
            Some(secs) => Some(DateTime::from_timestamp(secs, 0).ok_or_else(|| {
                decode(format!(
                    "subscription {} has a period end out of range",
                    sub.id
                ))
            })?),
            None => None,
        };
        Ok(ProviderSubscription {
            provider_subscription_id: sub.id.clone(),
            status,
            provider_status: sub.status.clone(),
            current_period_end,
            organization_ref: sub
                .metadata
                .get(ORGANIZATION_METADATA_KEY)
                .map(str::to_owned),
            // Stripe keeps no balance on a subscription; its status says whether it is paid up.
            outstanding: None,
        })
    }

    pub(crate) async fn cancel(
        &self,
        id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let id = path_id(id, "subscription id")?;
        // Stripe reads DELETE parameters from the query string, as its own libraries send them.
        let path = match comment(reason) {
            None => format!("/v1/subscriptions/{id}"),
            Some(comment) => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("cancellation_details[comment]", &comment)
                    .finish();
                format!("/v1/subscriptions/{id}?{query}")
            }
        };
        // DELETE is idempotent by definition; the key is sent anyway so every write of this
        // adapter can be traced by its key.
        let request = self.write(Method::DELETE, path, idempotency_key)?;
        let _: wire::Subscription = self.call(&request).await?;
        Ok(())
    }

    /// Stops renewal: the subscription stays active until its period ends, then Stripe cancels
    /// it (`customer.subscription.deleted`).
    pub(crate) async fn cancel_at_period_end(
        &self,
        id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let id = path_id(id, "subscription id")?;
        let mut fields = vec![("cancel_at_period_end".to_owned(), "true".to_owned())];
        if let Some(comment) = comment(reason) {
            fields.push(("cancellation_details[comment]".to_owned(), comment));
        }
        let request = self
            .write(
                Method::POST,
                format!("/v1/subscriptions/{id}"),
                idempotency_key,
            )?
            .form(fields);
        let _: wire::Subscription = self.call(&request).await?;
        Ok(())
    }

    /// Pauses collection: invoices are voided while paused, so nothing accrues.
    pub(crate) async fn pause(&self, id: &str, idempotency_key: &str) -> Result<(), ProviderError> {
        let id = path_id(id, "subscription id")?;
        let request = self
            .write(
                Method::POST,
                format!("/v1/subscriptions/{id}"),
                idempotency_key,
            )?
            .form(vec![(
                "pause_collection[behavior]".to_owned(),
                "void".to_owned(),
            )]);
        let _: wire::Subscription = self.call(&request).await?;
        Ok(())
    }

    /// Clears the collection pause (an empty value unsets a field in Stripe's form encoding).
    pub(crate) async fn resume(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let id = path_id(id, "subscription id")?;
        let request = self
            .write(
                Method::POST,
                format!("/v1/subscriptions/{id}"),
                idempotency_key,
            )?
            .form(vec![("pause_collection".to_owned(), String::new())]);
        let _: wire::Subscription = self.call(&request).await?;
        Ok(())
    }

    /// Pays the subscription's latest open invoice with its default payment method.
    pub(crate) async fn retry_payment(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        let id = path_id(id, "subscription id")?;
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("subscription", id)
            .append_pair("status", "open")
            .append_pair("limit", "1")
            .finish();
        let list: wire::List<wire::Invoice> = self
            .call(&self.request(Method::GET, format!("/v1/invoices?{query}"))?)
            .await?;
        let Some(open) = list.data.first() else {
            return Ok(RetryOutcome::NothingDue);
        };
        let invoice_id = open
            .id
            .as_deref()
            .ok_or_else(|| decode("an open invoice has no id".into()))?;
        let invoice_id = path_id(invoice_id, "invoice id")?;
        let request = self.write(
            Method::POST,
            format!("/v1/invoices/{invoice_id}/pay"),
            idempotency_key,
        )?;
        let response = self.client.send(&request).await?;
        if response.status == StatusCode::PAYMENT_REQUIRED {
            // Card errors (`card_declined`, `expired_card`, 3-D Secure required ...) come back
            // as 402: the attempt was made and failed, which dunning counts as a failure.
            return Ok(RetryOutcome::Declined {
                reason: decline_reason(&response),
            });
        }
        if !response.status.is_success() {
            return Err(api_error(&response));
        }
        let paid: wire::Invoice = decode_answer(&response, STRIPE)?;
        Ok(match paid.status.as_deref() {
            Some("paid") => RetryOutcome::Paid {
                amount: Some(money(paid.amount_paid, &paid.currency, "amount_paid")?),
            },
            // Still open: the payment is processing (bank debits) and settles by webhook.
            _ => RetryOutcome::Pending,
        })
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// Stripe's error body as [`ProviderError::Api`], keeping its code (`resource_missing`,
/// `card_declined` ...), else its type, else the HTTP status.
fn api_error(response: &ApiResponse) -> ProviderError {
    let status = response.status.as_u16();
    match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
        Ok(wire::ErrorBody { error }) => ProviderError::Api {
            provider: STRIPE,
            status,
            code: error
                .code
                .or(error.error_type)
                .unwrap_or_else(|| format!("http_{status}")),
            message: truncate(error.message.as_deref().unwrap_or_default()),
        },
        Err(_) => ProviderError::Api {
            provider: STRIPE,
            status,
            code: format!("http_{status}"),
            message: "answer without Stripe's error body".into(),
        },
    }
}

/// `card_declined: insufficient_funds` when Stripe says why the card was declined.
fn decline_reason(response: &ApiResponse) -> String {
    match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
        Ok(wire::ErrorBody { error }) => {
            let code = error
                .code
                .or(error.error_type)
                .unwrap_or_else(|| "payment_required".into());
            match error.decline_code {
                Some(decline) if decline != code => truncate(&format!("{code}: {decline}")),
                _ => truncate(&code),
            }
        }
        Err(_) => "payment_required".into(),
    }
}
