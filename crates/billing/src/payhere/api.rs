//! PayHere's Subscription Manager API over [`ApiClient`]: list subscriptions, payments of a
//! subscription, retry a failed installment, cancel.
//!
//! PayHere has no idempotency header. Retry and cancel are therefore not marked repeatable:
//! [`ApiClient`] resends them only after a 429 (PayHere did not process the call) or when the
//! connection never opened, never after a 5xx or a lost exchange, which may have charged or
//! canceled already.
//! A lost retry is left to the dunning schedule and the webhook that reports the charge; a
//! cancel that PayHere refuses is checked against the subscription's status, so a cancel
//! repeated by the outbox after a lost answer still succeeds. Reads and the token call are
//! retried as [`ApiClient`] documents.

use http::{Method, StatusCode};
use primitives::{Money, parse_currency};
use secrecy::SecretString;
use serde::Serialize;

use super::errors::{api_error, config_error, decode_error, truncate};
use super::order::OrderRef;
use super::token::TokenSource;
use super::{PAYHERE, wire};
use crate::http::{ApiClient, ApiRequest, ApiResponse, at, decode};
use crate::{ProviderError, ProviderSubscription, ProviderSubscriptionStatus, RetryOutcome};

pub(crate) const LIST_PATH: &str = "/merchant/v1/subscription";
pub(crate) const RETRY_PATH: &str = "/merchant/v1/subscription/retry";
pub(crate) const CANCEL_PATH: &str = "/merchant/v1/subscription/cancel";
/// PayHere subscription ids are 12-digit numbers; 19 digits still fit the JSON number we send.
const MAX_ID_DIGITS: usize = 19;

/// A subscription as PayHere's list reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayHereSubscription {
    pub subscription_id: String,
    pub order_id: String,
    /// PayHere's status text (`ACTIVE`, `CANCELLED` ...).
    pub status: String,
    /// The recurring amount, when PayHere states it with its currency.
    pub amount: Option<Money>,
    /// When it was created, as PayHere writes it (`2018-10-04 20:24:52`, Sri Lanka time).
    pub date: Option<String>,
    pub description: Option<String>,
    /// PayHere's words for the schedule (`Charged every month for 3 years`).
    pub recurring: Option<String>,
}

/// One payment of a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayHerePayment {
    pub payment_id: String,
    pub order_id: String,
    /// PayHere's status text (`RECEIVED` ...).
    pub status: String,
    pub amount: Money,
    pub date: Option<String>,
    pub description: Option<String>,
}

/// A subscription id that goes into a path or a JSON number: digits only, so `../oauth/token`
/// or `1?x=` can never address another resource.
fn subscription_number(id: &str) -> Result<u64, ProviderError> {
    if id.is_empty() || id.len() > MAX_ID_DIGITS || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(config_error(format!(
            "{:?} is not a PayHere subscription id (digits)",
            truncate(id)
        )));
    }
    id.parse()
        .map_err(|_| config_error("subscription id out of range".to_owned()))
}

/// A JSON amount read exactly: its decimal text parsed with the currency's exponent, so `36.6`
/// is 3660 cents and `36.605` is an error, never a rounding.
fn money(amount: &serde_json::Number, currency: &str) -> Result<Money, ProviderError> {
    let currency = parse_currency(currency).map_err(|error| decode_error(error.to_string()))?;
    Money::parse(&amount.to_string(), currency).map_err(|error| decode_error(error.to_string()))
}

fn status(provider_status: &str) -> Result<ProviderSubscriptionStatus, ProviderError> {
    use ProviderSubscriptionStatus as S;
    Ok(match provider_status.to_ascii_uppercase().as_str() {
        "PENDING" => S::Pending,
        "TRIALING" | "TRIAL" => S::Trialing,
        "ACTIVE" => S::Active,
        // An installment failed and PayHere is retrying it.
        "FAILED" => S::PastDue,
        "SUSPENDED" => S::Suspended,
        "CANCELLED" | "CANCELED" => S::Canceled,
        // The fixed duration ran out.
        "COMPLETED" | "COMPLETE" => S::Expired,
        other => {
            return Err(decode_error(format!(
                "unknown subscription status {:?}",
                truncate(other)
            )));
        }
    })
}

#[derive(Debug)]
pub(crate) struct Api {
    client: ApiClient,
    /// `None` when no app credentials are configured (a webhook-only deployment).
    tokens: Option<TokenSource>,
}

impl Api {
    pub(crate) fn new(client: ApiClient, tokens: Option<TokenSource>) -> Self {
        Self { client, tokens }
    }

    pub(crate) fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// Sends with a Bearer token; on a 401, fetches a new token and tries exactly once more
    /// (PayHere may revoke a token before its stated expiry). A second 401 is the answer.
    async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        let tokens = self.tokens.as_ref().ok_or_else(|| {
            config_error(
                "PAYHERE_APP_ID and PAYHERE_APP_SECRET are not set (webhook verification only)"
                    .to_owned(),
            )
        })?;
        let token = tokens.token(&self.client).await?;
        let response = self.client.send(&with_bearer(request, &token)?).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        tokens.invalidate(&token).await;
        let token = tokens.token(&self.client).await?;
        self.client.send(&with_bearer(request, &token)?).await
    }

    /// Sends and reads the envelope; anything but HTTP 2xx with `status: 1` is an error.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: &ApiRequest,
    ) -> Result<Option<T>, ProviderError> {
        let response = self.send(request).await?;
        if !response.status.is_success() {
            return Err(api_error(&response));
        }
        let envelope: wire::Envelope<T> = decode(&response, PAYHERE)?;
        if envelope.status != 1 {
            return Err(api_error(&response));
        }
        Ok(envelope.data)
    }

    pub(crate) async fn list_subscriptions(
        &self,
    ) -> Result<Vec<PayHereSubscription>, ProviderError> {
        let request = ApiRequest::new(Method::GET, LIST_PATH);
        let data: Option<Vec<wire::Subscription>> = self.call(&request).await?;
        data.unwrap_or_default()
            .into_iter()
            .map(|sub| {
                let amount = match (&sub.amount, &sub.currency) {
                    (Some(amount), Some(currency)) => Some(money(amount, currency)?),
                    _ => None,
                };
                Ok(PayHereSubscription {
                    subscription_id: sub.subscription_id.into_string(),
                    order_id: sub.order_id,
                    status: sub.status,
                    amount,
                    date: sub.date,
                    description: sub.description,
                    recurring: sub.recurring,
                })
            })
            .collect()
    }

    pub(crate) async fn subscription_payments(
        &self,
        subscription_id: &str,
    ) -> Result<Vec<PayHerePayment>, ProviderError> {
        let number = subscription_number(subscription_id)?;
        let request = ApiRequest::new(Method::GET, format!("{LIST_PATH}/{number}/payments"));
        let data: Option<Vec<wire::Payment>> = self.call(&request).await?;
        data.unwrap_or_default()
            .into_iter()
            .map(|payment| {
                Ok(PayHerePayment {
                    payment_id: payment.payment_id.into_string(),
                    order_id: payment.order_id,
                    amount: money(&payment.amount, &payment.currency)?,
                    status: payment.status,
                    date: payment.date,
                    description: payment.description,
                })
            })
            .collect()
    }

    /// PayHere has no call for one subscription: it is looked up in the list.
    pub(crate) async fn subscription(
        &self,
        subscription_id: &str,
    ) -> Result<ProviderSubscription, ProviderError> {
        subscription_number(subscription_id)?;
        let found = self
            .list_subscriptions()
            .await?
            .into_iter()
            .find(|sub| sub.subscription_id == subscription_id)
            .ok_or_else(|| ProviderError::Api {
                provider: PAYHERE,
                status: StatusCode::NOT_FOUND.as_u16(),
                code: "NOT_FOUND".to_owned(),
                message: format!("subscription {subscription_id} is not in PayHere's list"),
            })?;
        Ok(ProviderSubscription {
            status: status(&found.status)?,
            organization_ref: OrderRef::parse(&found.order_id)
                .map(|order| order.organization_ref().to_owned()),
            provider_subscription_id: found.subscription_id,
            provider_status: found.status,
            // The list states no period end; the notifications' item_rec_date_next does.
            current_period_end: None,
            // PayHere keeps no balance; a failed installment shows as status FAILED.
            outstanding: None,
        })
    }

    /// `POST /merchant/v1/subscription/retry`: charges the failed installment now.
    pub(crate) async fn retry(&self, subscription_id: &str) -> Result<RetryOutcome, ProviderError> {
        let request = ApiRequest::new(Method::POST, RETRY_PATH)
            .json(serde_json::json!({ "subscription_id": subscription_number(subscription_id)? }));
        let response = self.send(&request).await?;
        if !response.status.is_success() {
            return Err(api_error(&response));
        }
        let envelope: wire::Envelope<serde_json::Value> = decode(&response, PAYHERE)?;
        Ok(if envelope.status == 1 {
            // The answer carries no amount; the installment's notification does.
            RetryOutcome::Paid { amount: None }
        } else {
            RetryOutcome::Declined {
                reason: truncate(
                    &envelope
                        .msg
                        .unwrap_or_else(|| format!("PayHere answered status {}", envelope.status)),
                ),
            }
        })
    }

    /// `POST /merchant/v1/subscription/cancel`. When PayHere refuses (say, because a lost
    /// earlier attempt already canceled), the subscription's status decides: canceled is
    /// success.
    pub(crate) async fn cancel(&self, subscription_id: &str) -> Result<(), ProviderError> {
        let request = ApiRequest::new(Method::POST, CANCEL_PATH)
            .json(serde_json::json!({ "subscription_id": subscription_number(subscription_id)? }));
        let refused = match self.call::<serde_json::Value>(&request).await {
            Ok(_) => return Ok(()),
            Err(error) if error.is_transient() => return Err(error),
            Err(error) => error,
        };
        match self.subscription(subscription_id).await {
            Ok(sub) if sub.status == ProviderSubscriptionStatus::Canceled => Ok(()),
            _ => Err(refused),
        }
    }
}

/// The request with `Authorization: Bearer`, marked sensitive.
fn with_bearer(request: &ApiRequest, token: &SecretString) -> Result<ApiRequest, ProviderError> {
    request.clone().bearer(token).map_err(at(PAYHERE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_digits_only() {
        assert_eq!(
            subscription_number("420075032251").unwrap(),
            420_075_032_251
        );
        for bad in [
            "",
            "../oauth/token",
            "1?x=1",
            "12a",
            "99999999999999999999",
            " 1",
        ] {
            assert!(subscription_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_amounts_are_exact() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(money(&number("36.6"), "LKR").unwrap().minor(), 3660);
        assert_eq!(money(&number("200"), "LKR").unwrap().minor(), 20000);
        assert!(money(&number("36.605"), "LKR").is_err());
        assert!(money(&number("1e21"), "LKR").is_err());
        assert!(money(&number("1"), "XXX").is_err());
    }
}
