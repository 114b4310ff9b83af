//! Stripe, as the webhook receiver sees it: events built as Stripe sends them
//! (`devhooks::events`, the same builders as the local webhook tool), signed exactly as Stripe
//! signs each attempt (`testkit::signing`, at send time, so a late copy carries a fresh
//! signature as Stripe's retries do), and posted to the receiver's real routes in-process.

use axum::{Router, body::Body};
use billing::stripe::StripeConfig;
use chrono::{DateTime, Utc};
use db::DbPool;
use devhooks::{
    LocalSecrets,
    events::{self, EventName, Params, Provider},
};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use intake::Intake;
use primitives::OrganizationId;
use secrecy::SecretString;
use tower::ServiceExt;
use webhooks::{ReceivedResponse, WebhookState};

use crate::plan::EventKind;

/// The endpoint's signing secret, known to the receiver and to the sim's "Stripe".
pub const STRIPE_SECRET: &str = "whsec_simulation_0123456789abcdef";
/// The receiver's body limit, as the services configure it by default.
const BODY_LIMIT: usize = 256 * 1024;

/// Stripe as configured in this world: webhook verification only (no API key), as many
/// deployments run it; an event that would need Stripe's API is held for a person.
pub fn stripe_config() -> StripeConfig {
    StripeConfig::verification_only(vec![SecretString::from(STRIPE_SECRET.to_owned())])
}

/// The receiver's webhook routes over `pool`, as the webhook-receiver mounts them.
pub fn receiver(pool: DbPool, intake: Intake) -> Router {
    httpkit::server::finish(webhooks::routes(WebhookState { pool, intake }), BODY_LIMIT)
}

/// Stripe's id of an organization's subscription.
pub fn subscription_id(org: usize) -> String {
    format!("sub_sim{org:04}")
}

pub fn event_id(event: u32) -> String {
    format!("evt_sim{event:08}")
}

pub fn payment_intent(payment: u32) -> String {
    format!("pi_sim{payment:08}")
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// The body Stripe posts for `kind`, stamped `at`.
pub fn build(
    kind: EventKind,
    event: u32,
    organization: OrganizationId,
    org: usize,
    at: DateTime<Utc>,
) -> Vec<u8> {
    let mut params = Params::new(at);
    params.event_id = Some(event_id(event));
    params.organization = Some(organization.to_string());
    params.subscription = Some(subscription_id(org));
    let name = match kind {
        EventKind::PaymentFailed | EventKind::PaymentSucceeded => {
            params.payment = Some(format!("in_sim{event:08}"));
            params.amount = Some(decimal(crate::fakes::retrier::PRICE_MINOR));
            if kind == EventKind::PaymentFailed {
                EventName::PaymentFailed
            } else {
                EventName::PaymentSucceeded
            }
        }
        EventKind::TopUp { payment, amount } => {
            params.payment = Some(payment_intent(payment));
            params.amount = Some(decimal(amount));
            EventName::TopUpCompleted
        }
        EventKind::Refund { payment, amount } => {
            params.payment = Some(payment_intent(payment));
            params.amount = Some(decimal(amount));
            EventName::Refund
        }
        EventKind::DisputeOpened { payment, amount } => {
            params.payment = Some(payment_intent(payment));
            params.amount = Some(decimal(amount));
            EventName::DisputeOpened
        }
        EventKind::DisputeClosed {
            payment,
            amount,
            won,
        } => {
            params.payment = Some(payment_intent(payment));
            params.amount = Some(decimal(amount));
            if won {
                EventName::DisputeWon
            } else {
                EventName::DisputeLost
            }
        }
    };
    events::build(
        Provider::Stripe,
        name,
        &params,
        &LocalSecrets::development(),
    )
    .unwrap_or_else(|e| panic!("sim: Stripe event {kind:?}: {e}"))
    .body
}

/// Posts `body` to the receiver, signed now. The status, and the receiver's answer on a 2xx.
pub async fn deliver(
    router: &Router,
    body: &[u8],
    now: DateTime<Utc>,
) -> (StatusCode, Option<ReceivedResponse>, String) {
    let signature = testkit::signing::stripe_signature_header(STRIPE_SECRET, now.timestamp(), body);
    let request = Request::builder()
        .method("POST")
        .uri("/webhooks/stripe")
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap_or_else(|e| panic!("sim: request: {e}"));
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes().to_vec())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let answer = status
        .is_success()
        .then(|| serde_json::from_slice(&bytes).ok())
        .flatten();
    (status, answer, text)
}
