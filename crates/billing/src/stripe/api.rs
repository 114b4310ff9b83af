//! Stripe's REST API: form-encoded requests with a Bearer secret key over [`ApiClient`], which
//! retries. Every write carries the caller's `Idempotency-Key`, the same on each retry, so
//! Stripe answers a repeated call with the first call's result instead of acting twice.

use chrono::DateTime;
use http::{HeaderName, Method, StatusCode};
use secrecy::SecretString;

use super::amount::money;
use super::events::ORGANIZATION_METADATA_KEY;
use super::status::subscription_status;
use super::wire;
use crate::http::{ApiClient, ApiRequest, ApiResponse, at, decode as decode_answer};
use crate::{
    CreateSubscription, CreatedSubscription, ProviderError, ProviderName, ProviderSubscription,
    ProviderSubscriptionStatus, RetryOutcome,
};

const STRIPE: ProviderName = ProviderName::Stripe;
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const STRIPE_VERSION: HeaderName = HeaderName::from_static("stripe-version");
/// Stripe's limit on idempotency keys.
const MAX_IDEMPOTENCY_KEY: usize = 255;
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
        if idempotency_key.is_empty() || idempotency_key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(config(format!(
                "an idempotency key must have 1 to {MAX_IDEMPOTENCY_KEY} bytes"
            )));
        }
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

    pub(crate) async fn create_subscription(
        &self,
        create: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        let customer = create
            .customer_id
            .as_deref()
            .ok_or_else(|| config("a Stripe subscription needs the customer id".into()))?;
        let fields = vec![
            ("customer".to_owned(), customer.to_owned()),
            ("items[0][price]".to_owned(), create.plan_id.clone()),
            (
                format!("metadata[{ORGANIZATION_METADATA_KEY}]"),
                create.organization_ref.clone(),
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
        let comment: String = reason.trim().chars().take(MAX_COMMENT_CHARS).collect();
        // Stripe reads DELETE parameters from the query string, as its own libraries send them.
        let path = if comment.is_empty() {
            format!("/v1/subscriptions/{id}")
        } else {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("cancellation_details[comment]", &comment)
                .finish();
            format!("/v1/subscriptions/{id}?{query}")
        };
        // DELETE is idempotent by definition; the key is sent anyway so every write of this
        // adapter can be traced by its key.
        let request = self.write(Method::DELETE, path, idempotency_key)?;
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
