//! `/v1/admin/organizations/{organization_id}/...`: an organization's subscription, event log,
//! entitlements and access blocks, for operators (admin only).
//!
//! Events the admin sends are recorded with source `admin` and the request's `Idempotency-Key`
//! as their event id, so a retried request is recognised and changes nothing.

use axum::{extract::State, response::Response};
use chrono::{DateTime, TimeDelta, Utc};
use db::AsyncPgConnection;
use diesel_async::AsyncConnection;
use httpkit::{ApiError, ApiJson, ApiPath, ApiQuery, IdempotencyKey, ProblemBody};
use primitives::OrganizationId;
use sha2::{Digest, Sha256};
use subscriptions::{
    BlockSource, EventEnvelope, EventId, EventSource, NewSubscription, Outcome, PlanCode,
    ProviderRef, Subscription, SubscriptionEvent, TimePrecision,
    access::{self, BlockChange},
};

use super::responses::AdminRequired;
use super::{
    subscription::{all_entitlements, current_subscription, history, page_limit},
    wallet::{positive_amount, receipt},
};
use crate::{
    AppError, AppState,
    access::OrganizationAdmin,
    wire::subscriptions::{
        AccessBlockChangeResponse, AccessBlockRequest, AccessBlockView, AccessBlocksResponse,
        CreateSubscriptionRequest, EntitlementsResponse, EventView, EventsResponse,
        HistoryResponse, ManualPaymentRequest, ManualPaymentResponse, PageParams,
        SubscriptionCreatedResponse, SubscriptionResponse,
    },
};

/// The source of every event and block an operator causes through this API.
pub const ADMIN_SOURCE: &str = "admin";
/// The longest trial an operator may grant in one go.
pub const MAX_TRIAL: TimeDelta = TimeDelta::days(366);
/// The furthest a manual payment may extend the period: five years. Further is a typo.
pub const MAX_PREPAID_PERIOD: TimeDelta = TimeDelta::days(5 * 366);

// Helpers shared by the submodules.

/// 404 `ORGANIZATION_NOT_FOUND` unless the organization exists.
pub(super) async fn require_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<(), AppError> {
    tenancy::get_organization(conn, organization_id).await?;
    Ok(())
}

/// An event the admin sends now, identified by the request's `Idempotency-Key`.
pub(super) fn admin_event(
    event_id: &str,
    occurred_at: DateTime<Utc>,
    event: SubscriptionEvent,
) -> Result<EventEnvelope, AppError> {
    Ok(EventEnvelope {
        source: EventSource::parse(ADMIN_SOURCE)?,
        event_id: EventId::parse(event_id)?,
        occurred_at,
        // The api stamps with the system clock, to the microsecond.
        precision: TimePrecision::Microsecond,
        event,
    })
}

/// The id of the trial start that goes with a creation: derived from the creation's key, so a
/// retry derives the same one, and hashed, so it fits the 200 characters an event id may have
/// whatever the key's length.
fn trial_event_id(creation_key: &str) -> String {
    let digest = Sha256::digest(creation_key.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("trial_started:{hex}")
}

/// 409 `IDEMPOTENCY_CONFLICT`: the key was used before for something else.
pub(super) fn idempotency_conflict(detail: &str) -> ApiError {
    ApiError::conflict("IDEMPOTENCY_CONFLICT", detail.to_owned())
}

fn blocks_view(blocks: Vec<subscriptions::AccessBlock>) -> Vec<AccessBlockView> {
    blocks.into_iter().map(AccessBlockView::from).collect()
}

/// The organization's subscription: the live one, else the most recent one that ended.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/subscription",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription.", body = SubscriptionResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` or `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_get_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
) -> Result<ApiJson<SubscriptionResponse>, AppError> {
    let mut conn = state.conn().await?;
    require_organization(&mut conn, admin.organization_id).await?;
    let subscription = current_subscription(&mut conn, admin.organization_id).await?;
    Ok(ApiJson(subscription.into()))
}

/// The subscription's transitions, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/subscription/history",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        PageParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest transitions.", body = HistoryResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` or `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_LIMIT`, `VALIDATION_FAILED`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_subscription_history(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<ApiJson<HistoryResponse>, AppError> {
    let limit = page_limit(params)?;
    let mut conn = state.conn().await?;
    require_organization(&mut conn, admin.organization_id).await?;
    Ok(ApiJson(
        history(&mut conn, admin.organization_id, limit).await?,
    ))
}

/// Every event offered to the subscription, newest first, with what became of it: applied,
/// ignored (and why) or stale.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/subscription/events",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        PageParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest events.", body = EventsResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` or `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_LIMIT`, `VALIDATION_FAILED`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_subscription_events(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<ApiJson<EventsResponse>, AppError> {
    let limit = page_limit(params)?;
    let mut conn = state.conn().await?;
    require_organization(&mut conn, admin.organization_id).await?;
    let subscription = current_subscription(&mut conn, admin.organization_id).await?;
    let events = subscriptions::history::events(&mut conn, subscription.id, limit).await?;
    Ok(ApiJson(EventsResponse {
        subscription_id: subscription.id,
        events: events.into_iter().map(EventView::from).collect(),
    }))
}

/// The organization's entitlements, as its own key sees them at `GET /v1/entitlements`.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/entitlements",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every feature.", body = EntitlementsResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_entitlements(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
) -> Result<ApiJson<EntitlementsResponse>, AppError> {
    let mut conn = state.conn().await?;
    Ok(ApiJson(
        all_entitlements(&mut conn, admin.organization_id).await?,
    ))
}

mod blocks;
mod create;
mod payment;

pub use blocks::*;
pub use create::*;
pub use payment::*;
