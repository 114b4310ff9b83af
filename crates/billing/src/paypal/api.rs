//! The Subscriptions and Orders v2 REST calls. Every call carries a Bearer token from [`TokenSource`]; a 401
//! drops that token and the call is sent once more with a fresh one (PayPal revokes tokens
//! before their stated expiry now and then). Every POST carries `PayPal-Request-Id` = the
//! caller's idempotency key, identical on every retry, so PayPal acts on it at most once.

use chrono::{DateTime, Utc};
use http::{HeaderName, Method, StatusCode};
use secrecy::SecretString;
use serde::Serialize;

use super::errors::error_from;
use super::oauth::TokenSource;
use super::{values, wire};
use crate::http::{ApiClient, ApiRequest, ApiResponse, at, decode};
use crate::{
    CreateSubscription, CreateTopUp, CreatedSubscription, ProviderError, ProviderName,
    ProviderSubscription, RetryOutcome, TopUpCheckout,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("paypal-request-id");
/// The issue PayPal answers (422) to a capture of an order that was captured already.
const ORDER_ALREADY_CAPTURED: &str = "ORDER_ALREADY_CAPTURED";
/// PayPal's limits on a purchase unit's `custom_id` and `description`.
const MAX_CUSTOM_ID_CHARS: usize = 127;
const MAX_DESCRIPTION_CHARS: usize = 127;
const DUNNING_NOTE: &str = "Outstanding balance collected after a failed payment";

/// The state changes PayPal offers on a subscription, each `POST .../{id}/{action}`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Transition {
    Suspend,
    Cancel,
    Activate,
}

impl Transition {
    const fn action(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Cancel => "cancel",
            Self::Activate => "activate",
        }
    }
}

#[derive(Debug)]
pub(crate) struct PayPalApi {
    client: ApiClient,
    tokens: TokenSource,
}

impl PayPalApi {
    pub(crate) fn new(client: ApiClient, tokens: TokenSource) -> Self {
        Self { client, tokens }
    }

    pub(crate) async fn create_subscription(
        &self,
        request: &CreateSubscription,
    ) -> Result<CreatedSubscription, ProviderError> {
        let context = (request.return_url.is_some() || request.cancel_url.is_some()).then_some(
            wire::ApplicationContext {
                return_url: request.return_url.as_deref(),
                cancel_url: request.cancel_url.as_deref(),
            },
        );
        let body = wire::CreateSubscription {
            plan_id: &request.plan_id,
            custom_id: &request.organization_ref,
            application_context: context,
        };
        let call = keyed(
            ApiRequest::new(Method::POST, "/v1/billing/subscriptions").json(to_json(&body)?),
            &request.idempotency_key,
        )?;
        let created: wire::Subscription = decode(&self.call(call).await?, ProviderName::Paypal)?;
        let status = values::status(created.status.as_deref().unwrap_or("APPROVAL_PENDING"))?;
        let approval_url = created
            .links
            .iter()
            .find(|link| link.rel == "approve")
            .map(|link| link.href.clone());
        Ok(CreatedSubscription {
            provider_subscription_id: created.id,
            approval_url,
            approval_form: None,
            status,
        })
    }

    pub(crate) async fn subscription(
        &self,
        id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        let sub = self.fetch_subscription(id).await?;
        let provider_status = sub.status.clone().unwrap_or_default();
        let outstanding = sub
            .billing_info
            .as_ref()
            .and_then(|info| info.outstanding_balance.as_ref())
            .map(|balance| values::money(&balance.value, &balance.currency_code))
            .transpose()?;
        Ok(ProviderSubscription {
            status: values::status(&provider_status)?,
            provider_status,
            current_period_end: sub
                .billing_info
                .as_ref()
                .and_then(|info| info.next_billing_time.as_deref())
                .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
                .map(|time| time.with_timezone(&Utc)),
            organization_ref: sub.custom_id.filter(|custom| !custom.is_empty()),
            provider_subscription_id: sub.id,
            outstanding,
        })
    }

    pub(crate) async fn transition(
        &self,
        id: &str,
        transition: Transition,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let path = subscription_path(id, Some(transition.action()))?;
        let call = keyed(
            ApiRequest::new(Method::POST, path).json(to_json(&wire::Reason { reason })?),
            idempotency_key,
        )?;
        self.call(call).await.map(drop)
    }

    /// Charges the outstanding balance PayPal reports for the subscription (dunning). Nothing
    /// outstanding is [`RetryOutcome::NothingDue`], with no charge attempted.
    pub(crate) async fn capture_outstanding(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<RetryOutcome, ProviderError> {
        let sub = self.fetch_subscription(id).await?;
        let Some(outstanding) = sub.billing_info.and_then(|info| info.outstanding_balance) else {
            return Ok(RetryOutcome::NothingDue);
        };
        let owed = values::money(&outstanding.value, &outstanding.currency_code)?;
        if !owed.is_positive() {
            return Ok(RetryOutcome::NothingDue);
        }
        let body = wire::CaptureRequest {
            note: DUNNING_NOTE,
            capture_type: "OUTSTANDING_BALANCE",
            amount: &outstanding,
        };
        let call = keyed(
            ApiRequest::new(Method::POST, subscription_path(id, Some("capture"))?)
                .json(to_json(&body)?),
            idempotency_key,
        )?;
        let response = self.call(call).await?;
        // PayPal answers 202 with the transaction, or with no body at all: the result then
        // arrives by webhook.
        let transaction: wire::CaptureTransaction = if response.is_blank() {
            wire::CaptureTransaction::default()
        } else {
            decode(&response, ProviderName::Paypal)?
        };
        Ok(match transaction.status.as_deref() {
            Some("COMPLETED") => {
                let paid = transaction
                    .amount_with_breakdown
                    .and_then(|breakdown| breakdown.gross_amount)
                    .map(|gross| values::money(&gross.value, &gross.currency_code))
                    .transpose()?;
                RetryOutcome::Paid {
                    amount: Some(paid.unwrap_or(owed)),
                }
            }
            Some(declined @ ("DECLINED" | "FAILED")) => RetryOutcome::Declined {
                reason: declined.to_owned(),
            },
            _ => RetryOutcome::Pending,
        })
    }

    /// An Orders v2 order (intent `CAPTURE`) for one top-up, with the organization as the
    /// purchase unit's `custom_id`, which PayPal copies onto the capture.
    pub(crate) async fn create_order(
        &self,
        top_up: &CreateTopUp,
    ) -> Result<TopUpCheckout, ProviderError> {
        let custom_id = top_up.organization_ref.trim();
        if custom_id.is_empty() || custom_id.chars().count() > MAX_CUSTOM_ID_CHARS {
            return Err(config(format!(
                "an organization reference must have 1 to {MAX_CUSTOM_ID_CHARS} characters to be PayPal's custom_id"
            )));
        }
        let description: String = top_up
            .description
            .trim()
            .chars()
            .take(MAX_DESCRIPTION_CHARS)
            .collect();
        if description.is_empty() {
            return Err(config("a PayPal top-up needs a description".into()));
        }
        let (return_url, cancel_url) = (top_up.return_url.trim(), top_up.cancel_url.trim());
        if return_url.is_empty() || cancel_url.is_empty() {
            return Err(config(
                "a PayPal top-up needs a return_url and a cancel_url".into(),
            ));
        }
        let body = wire::CreateOrder {
            intent: "CAPTURE",
            purchase_units: [wire::NewPurchaseUnit {
                custom_id,
                description,
                amount: values::wire_money(top_up.amount)?,
            }],
            payment_source: wire::PaymentSource {
                paypal: wire::PayPalSource {
                    experience_context: wire::ExperienceContext {
                        return_url,
                        cancel_url,
                        user_action: "PAY_NOW",
                        shipping_preference: "NO_SHIPPING",
                    },
                },
            },
        };
        let call = keyed(
            ApiRequest::new(Method::POST, "/v2/checkout/orders").json(to_json(&body)?),
            &top_up.idempotency_key,
        )?;
        let order: wire::Order = decode(&self.call(call).await?, ProviderName::Paypal)?;
        let id = order
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| decode_error("the created order has no id".into()))?;
        let approval_url = order
            .links
            .iter()
            .find(|link| link.rel == "payer-action" || link.rel == "approve")
            .map(|link| link.href.clone())
            .ok_or_else(|| decode_error(format!("order {id} has no payer-action link")))?;
        Ok(TopUpCheckout {
            checkout_reference: id,
            approval_url,
            approval_form: None,
            // PayPal states no expiry on an order; an unapproved one lapses on its own.
            expires_at: None,
        })
    }

    /// Captures an approved order. An order captured already (by an earlier attempt whose
    /// answer was lost, or under another key) is done, not an error: its capture's
    /// completion credits the wallet once either way.
    pub(crate) async fn capture_order(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        let path = checked_path("/v2/checkout/orders", id, "order id", Some("capture"))?;
        let call = keyed(
            ApiRequest::new(Method::POST, path).json(serde_json::json!({})),
            idempotency_key,
        )?;
        match self.call(call).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Api {
                status: 422, code, ..
            }) if code == ORDER_ALREADY_CAPTURED => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn fetch_subscription(&self, id: &str) -> Result<wire::Subscription, ProviderError> {
        let call = ApiRequest::new(Method::GET, subscription_path(id, None)?);
        decode(&self.call(call).await?, ProviderName::Paypal)
    }

    /// Sends with a Bearer token; after a 401 once more with a fresh token; any other
    /// non-success answer becomes [`ProviderError::Api`].
    async fn call(&self, request: ApiRequest) -> Result<ApiResponse, ProviderError> {
        let token = self.tokens.token().await?;
        let mut response = self.send_with(&request, &token).await?;
        if response.status == StatusCode::UNAUTHORIZED {
            self.tokens.invalidate(&token).await;
            let fresh = self.tokens.token().await?;
            response = self.send_with(&request, &fresh).await?;
        }
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(error_from(&response))
        }
    }

    async fn send_with(
        &self,
        request: &ApiRequest,
        token: &SecretString,
    ) -> Result<ApiResponse, ProviderError> {
        let request = request
            .clone()
            .bearer(token)
            .map_err(at(ProviderName::Paypal))?;
        self.client.send(&request).await
    }
}

/// Marks a POST with PayPal's idempotency header and as safe to resend: with the same
/// `PayPal-Request-Id` PayPal returns the first result instead of acting again.
fn keyed(request: ApiRequest, idempotency_key: &str) -> Result<ApiRequest, ProviderError> {
    request
        .idempotency_key(REQUEST_ID, idempotency_key)
        .map_err(at(ProviderName::Paypal))
}

/// `/v1/billing/subscriptions/{id}[/{action}]`, refusing ids that are not PayPal ids so that
/// no caller-supplied text can change the path.
fn subscription_path(id: &str, action: Option<&str>) -> Result<String, ProviderError> {
    checked_path("/v1/billing/subscriptions", id, "subscription id", action)
}

/// `{collection}/{id}[/{action}]` for an id that is a PayPal id.
fn checked_path(
    collection: &str,
    id: &str,
    what: &str,
    action: Option<&str>,
) -> Result<String, ProviderError> {
    if !values::is_id(id) {
        return Err(config(format!("{what} is not a PayPal id")));
    }
    Ok(match action {
        Some(action) => format!("{collection}/{id}/{action}"),
        None => format!("{collection}/{id}"),
    })
}

fn config(message: String) -> ProviderError {
    ProviderError::Config {
        provider: ProviderName::Paypal,
        message,
    }
}

fn decode_error(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: ProviderName::Paypal,
        message,
    }
}

fn to_json(body: &impl Serialize) -> Result<serde_json::Value, ProviderError> {
    serde_json::to_value(body).map_err(|e| ProviderError::Config {
        provider: ProviderName::Paypal,
        message: format!("request body: {e}"),
    })
}
