//! `POST /webhooks/twilio/messages`: Twilio's message status callbacks (docs/webhooks.md,
//! "Twilio status callbacks"; G9).
//!
//! In order, each step refusing with its own code and changing nothing:
//! 1. the `X-Twilio-Signature` header is there (no key is needed to see that);
//! 2. the form names one well formed `AccountSid`, and it is one of ours: a brand's subaccount
//!    or the parent account. Only then is a key chosen, so an unknown account costs no call to
//!    Twilio;
//! 3. the signature is checked with that account's token over the public URL Twilio called,
//!    rebuilt from the configured callback URL and the request's query (a proxy may have
//!    rewritten the host, scheme or path; the query carries our recipient id and is signed);
//! 4. the verified form and query are read, and the campaigns domain records the delivery
//!    (and resolves an unconfirmed recipient) in one committed transaction before the 2xx.

use std::sync::Arc;

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use campaigns::{
    CampaignId, Campaigns, Delivery, DeliveryError, DeliveryReport, DeliveryStatus, brands,
};
use db::DbPool;
use http::{HeaderValue, StatusCode, Uri, header};
use httpkit::{ApiBytes, ApiError, ApiJson};
use primitives::{Classified, ErrorClass};
use serde::{Deserialize, Serialize};
use twilio::{
    AuthTokenSource, TwilioClient, TwilioError,
    callback::{CallbackError, CallbackKeys, KeyError, StatusCallback, claimed_account},
    signature::HEADER,
};

use crate::{config::TwilioCallbackConfig, refusal::refuse_as};

/// Where Twilio posts message status callbacks (behind the proxy the public callback URL
/// points at).
pub const TWILIO_MESSAGES_PATH: &str = "/webhooks/twilio/messages";

/// The `provider` label of Twilio's refusals.
const PROVIDER: &str = "twilio";

/// Token reads happen while Twilio waits for our answer: kept well inside its timeout.
const KEY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the Twilio route needs.
#[derive(Clone)]
pub struct TwilioState {
    pub pool: DbPool,
    pub campaigns: Campaigns,
    /// `None`: Twilio callbacks are not configured in this process.
    pub callbacks: Option<Arc<TwilioCallbacks>>,
}

impl std::fmt::Debug for TwilioState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioState")
            .field("callbacks", &self.callbacks)
            .finish_non_exhaustive()
    }
}

/// The keys and the public URL callbacks are verified with.
#[derive(Debug)]
pub struct TwilioCallbacks {
    keys: CallbackKeys<Arc<dyn AuthTokenSource>>,
    callback_url: url::Url,
}

impl TwilioCallbacks {
    pub fn new(keys: CallbackKeys<Arc<dyn AuthTokenSource>>, callback_url: url::Url) -> Self {
        Self { keys, callback_url }
    }

    /// With the parent account's client reading subaccount tokens, shorter-lived than the
    /// worker's (at most 5 s and two attempts per read: Twilio is waiting for our answer).
    pub fn from_config(config: &TwilioCallbackConfig) -> Result<Self, TwilioError> {
        let mut client = config.client.clone();
        client.timeout = client.timeout.min(KEY_READ_TIMEOUT);
        client.retry.max_attempts = client.retry.max_attempts.min(2);
        let source: Arc<dyn AuthTokenSource> = Arc::new(TwilioClient::new(client)?);
        let keys = CallbackKeys::new(
            source,
            config.client.account_sid.clone(),
            config.client.auth_token.clone(),
            config.keys,
        );
        Ok(Self::new(keys, config.callback_url.clone()))
    }
}

/// The answer to a recorded callback (2xx). Twilio only looks at the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryResponse {
    pub recipient_id: i64,
    /// `recorded`, `duplicate`, `stale` (changed nothing), or `ignored` (a status that says
    /// nothing about delivery).
    pub result: String,
    /// The delivery status stored now.
    pub delivery_status: Option<String>,
    /// The recipient's status now.
    pub recipient_status: Option<String>,
    /// An unconfirmed recipient was resolved by this callback.
    pub resolved: bool,
}

/// The Twilio route, over `state`. Mount it in a router that went through
/// `httpkit::server::finish` (the body limit and the 404/405 problems come from there).
pub fn twilio_routes(state: TwilioState) -> Router {
    Router::new()
        .route(TWILIO_MESSAGES_PATH, post(receive))
        .with_state(state)
}

/// The URL Twilio signed: the configured public callback URL without its own query, then the
/// query exactly as the request carries it (the dispatcher appended `campaign` and `recipient`
/// to the configured URL's query, and Twilio calls what it was given).
pub fn signed_url(public: &url::Url, query: Option<&str>) -> String {
    let mut base = public.clone();
    base.set_query(None);
    base.set_fragment(None);
    match query.filter(|query| !query.is_empty()) {
        Some(query) => format!("{base}?{query}"),
        None => base.to_string(),
    }
}

async fn receive(
    State(state): State<TwilioState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<ApiBytes, ApiError>,
) -> Result<ApiJson<DeliveryResponse>, ApiError> {
    let Some(callbacks) = state.callbacks.as_deref() else {
        return Err(refuse_as(
            PROVIDER,
            ApiError::new(
                StatusCode::NOT_FOUND,
                "WEBHOOK_PROVIDER_NOT_CONFIGURED",
                "Webhook refused",
            )
            .with_detail("Twilio callbacks are not configured in this process"),
        ));
    };
    let ApiBytes(body) = body.map_err(|error| refuse_as(PROVIDER, error))?;
    let signature = signature_header(&headers).map_err(|error| refuse_as(PROVIDER, error))?;
    let Some(account) = claimed_account(&body) else {
        return Err(refuse_as(
            PROVIDER,
            malformed(CallbackError::Missing("AccountSid")),
        ));
    };
    if !is_ours(&state, callbacks, &account).await? {
        return Err(refuse_as(
            PROVIDER,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "TWILIO_ACCOUNT_UNKNOWN",
                "Webhook refused",
            )
            .with_detail("the callback names a Twilio account that is not one of ours"),
        ));
    }
    let url = signed_url(&callbacks.callback_url, uri.query());
    callbacks
        .keys
        .verify_form(&account, &url, &body, signature)
        .await
        .map_err(|error| refuse_as(PROVIDER, not_verified(&error)))?;
    // Verified: from here on the form and the query are Twilio's word.
    let callback = StatusCallback::parse(&body).map_err(|e| refuse_as(PROVIDER, malformed(e)))?;
    let (recipient, campaign) = recipient_of(uri.query()).map_err(|e| refuse_as(PROVIDER, e))?;
    let Some(status) = DeliveryStatus::from_twilio(&callback.status) else {
        tracing::info!(
            event = "twilio_callback",
            recipient,
            status = callback.status.as_str(),
            "Twilio callback with a status that says nothing about delivery; ignored"
        );
        metrics::counter!("twilio_callbacks_total", "result" => "ignored").increment(1);
        return Ok(ApiJson(DeliveryResponse {
            recipient_id: recipient,
            result: "ignored".into(),
            delivery_status: None,
            recipient_status: None,
            resolved: false,
        }));
    };
    let report = DeliveryReport {
        recipient,
        campaign,
        account_sid: callback.account_sid.clone(),
        message_sid: callback.message_sid.clone(),
        to: callback.to.clone(),
        delivery: Delivery {
            status,
            error_code: callback
                .error_code
                .and_then(|code| i32::try_from(code).ok()),
        },
    };
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|error| refuse_as(PROVIDER, unavailable(&error)))?;
    let recorded = state
        .campaigns
        .record_delivery(&mut conn, &report)
        .await
        .map_err(|error| refuse_as(PROVIDER, delivery_refused(&error)))?;
    tracing::info!(
        event = "twilio_callback",
        recipient,
        campaign = %recorded.campaign,
        status = status.as_str(),
        result = recorded.change.as_str(),
        resolved = recorded.resolved,
        "Twilio status callback recorded"
    );
    metrics::counter!("twilio_callbacks_total", "result" => recorded.change.as_str()).increment(1);
    Ok(ApiJson(DeliveryResponse {
        recipient_id: recipient,
        result: recorded.change.as_str().into(),
        delivery_status: Some(recorded.delivery_status.as_str().into()),
        recipient_status: Some(recorded.recipient_status.as_str().into()),
        resolved: recorded.resolved,
    }))
}

/// The signature header's value: absent is refused at once (nothing to check), twice or not
/// text is malformed.
fn signature_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(signature_problem(
            twilio::signature::SignatureError::MalformedSignature,
        ));
    }
    match first.map(HeaderValue::to_str) {
        None => Err(signature_problem(
            twilio::signature::SignatureError::MissingSignature,
        )),
        Some(Err(_)) => Err(signature_problem(
            twilio::signature::SignatureError::MalformedSignature,
        )),
        Some(Ok(value)) => Ok(Some(value)),
    }
}

/// A brand's subaccount or the parent account. A database that does not answer is our
/// problem: 503, Twilio may try again.
async fn is_ours(
    state: &TwilioState,
    callbacks: &TwilioCallbacks,
    account: &str,
) -> Result<bool, ApiError> {
    if account == callbacks.keys.parent_sid() {
        return Ok(true);
    }
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|error| refuse_as(PROVIDER, unavailable(&error)))?;
    brands::has_subaccount(&mut conn, account)
        .await
        .map_err(|error| refuse_as(PROVIDER, class_problem(&error, error.code())))
}

/// `recipient` (and `campaign`, when present) from the signed query.
fn recipient_of(query: Option<&str>) -> Result<(i64, Option<CampaignId>), ApiError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let one = |name: &'static str| -> Result<Option<&str>, ApiError> {
        let mut values = pairs.iter().filter(|(key, _)| key == name);
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(malformed(CallbackError::Repeated(name)));
        }
        Ok(first)
    };
    let recipient = one("recipient")?
        .ok_or(CallbackError::Missing("recipient"))
        .and_then(|value| {
            value
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or(CallbackError::Invalid("recipient"))
        })
        .map_err(malformed)?;
    let campaign = one("campaign")?
        .map(|value| {
            value
                .parse::<uuid::Uuid>()
                .map(CampaignId::from_uuid)
                .map_err(|_| malformed(CallbackError::Invalid("campaign")))
        })
        .transpose()?;
    Ok((recipient, campaign))
}

fn malformed(error: CallbackError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        CallbackError::CODE,
        "Webhook refused",
    )
    .with_detail(error.to_string())
    .with_member("field", error.field())
}

fn signature_problem(error: twilio::signature::SignatureError) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        error.code(),
        "Webhook signature not verified",
    )
    .with_detail(error.to_string())
}

fn not_verified(error: &KeyError) -> ApiError {
    match error {
        KeyError::Signature(error) => signature_problem(*error),
        KeyError::Unavailable(cause) => {
            tracing::error!(%cause, "a Twilio subaccount's auth token could not be read");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TWILIO_KEY_UNAVAILABLE",
                "Webhook refused",
            )
            .with_detail("the account's key could not be read from Twilio; send it again later")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
        }
    }
}

fn unavailable(error: &dyn std::error::Error) -> ApiError {
    tracing::error!(%error, "a Twilio callback could not reach the database");
    ApiError::service_unavailable("the callback could not be recorded; send it again later")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}

/// The domain's refusal, with the members a caller needs; nothing about an internal cause.
fn delivery_refused(error: &DeliveryError) -> ApiError {
    let problem = class_problem(error, error.code());
    match error {
        DeliveryError::RecipientNotFound => {
            problem.with_detail("no recipient of this account matches the callback")
        }
        DeliveryError::MessageMismatch { field } => problem
            .with_detail(error.to_string())
            .with_member("field", field),
        DeliveryError::NotSent { status } => problem
            .with_detail(error.to_string())
            .with_member("recipient_status", status.as_str()),
        DeliveryError::Campaigns(_) => problem,
    }
}

fn class_problem<E: Classified + std::error::Error + 'static>(
    error: &E,
    code: &'static str,
) -> ApiError {
    match error.class() {
        ErrorClass::NotFound => ApiError::new(StatusCode::NOT_FOUND, code, "Not found"),
        ErrorClass::Conflict => ApiError::new(StatusCode::CONFLICT, code, "Conflict"),
        ErrorClass::Invalid | ErrorClass::NotEntitled => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Webhook refused")
        }
        ErrorClass::Busy | ErrorClass::Unavailable => unavailable(error),
        ErrorClass::Internal => ApiError::internal_from(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_url_is_the_public_one_with_the_requests_query() {
        let public: url::Url = "https://hooks.example.com/webhooks/twilio/messages"
            .parse()
            .unwrap();
        assert_eq!(
            signed_url(&public, Some("campaign=c&recipient=7")),
            "https://hooks.example.com/webhooks/twilio/messages?campaign=c&recipient=7"
        );
        assert_eq!(
            signed_url(&public, None),
            "https://hooks.example.com/webhooks/twilio/messages"
        );
        // The configured URL's own query is part of what the request carries, not added twice.
        let keyed: url::Url = "https://hooks.example.com/t?key=abc".parse().unwrap();
        assert_eq!(
            signed_url(&keyed, Some("key=abc&recipient=7")),
            "https://hooks.example.com/t?key=abc&recipient=7"
        );
    }

    #[test]
    fn the_query_names_one_recipient_and_at_most_one_campaign() {
        let campaign = "0190f3a1-7e5b-7c3e-8a55-0123456789ab";
        let (recipient, named) =
            recipient_of(Some(&format!("campaign={campaign}&recipient=42"))).unwrap();
        assert_eq!(recipient, 42);
        assert_eq!(named.map(|c| c.to_string()).as_deref(), Some(campaign));
        assert_eq!(recipient_of(Some("recipient=7")).unwrap().1, None);
        for (query, field) in [
            (None, "recipient"),
            (Some("recipient=0"), "recipient"),
            (Some("recipient=x"), "recipient"),
            (Some("recipient=1&recipient=2"), "recipient"),
            (Some("recipient=1&campaign=nope"), "campaign"),
        ] {
            let error = recipient_of(query).map(|_| ()).map_err(|e| e.code());
            assert_eq!(error, Err(CallbackError::CODE), "{query:?} ({field})");
        }
    }
}
