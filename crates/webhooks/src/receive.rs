//! `POST /webhooks/{provider}`: verify, store, apply, answer.

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use billing::{ProviderName, WebhookRequest};
use db::DbPool;
use http::{HeaderValue, StatusCode, header};
use httpkit::{ApiBytes, ApiError, ApiJson, ApiPath};
use intake::{Intake, IntakeError, inbox::InboxStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::refusal::{refuse, verification_failed};

/// What the webhook routes need.
#[derive(Clone)]
pub struct WebhookState {
    pub pool: DbPool,
    pub intake: Intake,
}

impl std::fmt::Debug for WebhookState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookState")
            .field("intake", &self.intake)
            .finish_non_exhaustive()
    }
}

/// The answer to a stored delivery (2xx). Providers only look at the status; operators and
/// tests read the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedResponse {
    /// The delivery's row in the inbox (`GET /v1/admin/webhook-events/{id}` on the api).
    pub inbox_id: Uuid,
    /// The provider had sent this delivery before: nothing new was stored.
    pub duplicate: bool,
    /// `applied`, `ignored`, `unmatched`, `held`, `received` (stored; applied later), `failed`.
    pub status: InboxStatus,
}

/// The webhook routes, over `state`. Mount them in a router that went through
/// `httpkit::server::finish` (the body limit and the 404/405 problems come from there).
pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/{provider}", post(receive))
        .with_state(state)
}

async fn receive(
    State(state): State<WebhookState>,
    ApiPath(provider): ApiPath<String>,
    headers: HeaderMap,
    body: Result<ApiBytes, ApiError>,
) -> Result<ApiJson<ReceivedResponse>, ApiError> {
    // Unknown provider names are not counted by name: the label set must stay bounded.
    let provider = ProviderName::parse(&provider).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "WEBHOOK_PROVIDER_UNKNOWN",
            "Not found",
        )
        .with_detail("the providers are paypal, stripe and payhere")
    })?;
    let ApiBytes(body) = body.map_err(|error| refuse(provider, error))?;
    let providers = state.intake.providers();
    let request = WebhookRequest {
        headers: &headers,
        body: &body,
    };
    let verified = providers
        .verify(provider, request)
        .await
        .map_err(|error| refuse(provider, verification_failed(&error)))?;
    // Parsed only now that it is verified; a verified body the adapter cannot read is kept
    // (held for a person), not refused: the provider would only send it again.
    let parsed = providers.parse(&verified);
    let received = state
        .intake
        .receive(&state.pool, provider, verified.body(), parsed)
        .await
        .map_err(|error| not_stored(provider, &error))?;
    Ok(ApiJson(ReceivedResponse {
        inbox_id: received.inbox_id,
        duplicate: received.duplicate,
        status: received.status,
    }))
}

/// The delivery could not be stored: the provider must send it again, so 503 (never a 2xx).
fn not_stored(provider: ProviderName, error: &IntakeError) -> ApiError {
    tracing::error!(
        event = "webhook_not_stored",
        %provider,
        %error,
        "a verified webhook delivery could not be stored; the provider will send it again"
    );
    ApiError::service_unavailable("the delivery could not be stored; send it again later")
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
}
