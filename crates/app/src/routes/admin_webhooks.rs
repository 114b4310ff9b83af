//! `/v1/admin/webhook-events`: the webhook inbox for operators (admin only): list, count and
//! inspect deliveries, and re-apply one once its cause is fixed (an unmatched subscription
//! created, a held currency question settled, a dead letter's outage over). The semantics are
//! the intake's (docs/webhooks.md). In the development mode only, the raw body of a delivery
//! too, for replaying it with the local webhook tool (docs/local-webhooks.md).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use billing::ProviderName;
use httpkit::{AdminOnly, ApiError, ApiJson, ApiPath, ApiQuery, ProblemBody};
use intake::inbox::{self, InboxStatus, ListFilter};
use uuid::Uuid;

use super::query;
use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    wire::webhooks::{
        WebhookEventCountView, WebhookEventCountsResponse, WebhookEventListParams,
        WebhookEventView, WebhookEventsResponse,
    },
};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

fn list_filter(params: WebhookEventListParams) -> Result<ListFilter, ApiError> {
    let provider = query::parse(
        params.provider,
        "INVALID_PROVIDER",
        "provider",
        "paypal, stripe or payhere",
        ProviderName::parse,
    )?;
    let status = query::parse(
        params.status,
        "INVALID_STATUS",
        "status",
        "received, applied, ignored, unmatched, held, failed or dead",
        InboxStatus::parse,
    )?;
    Ok(ListFilter {
        provider,
        status,
        organization_id: query::organization(params.organization_id)?,
        before: query::cursor::<Uuid>(params.cursor)?,
        limit: i64::from(query::limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?),
    })
}

/// Deliveries, newest first, a page at a time; filter by provider, status (`unmatched`, `held`
/// and `dead` are the ones needing attention) and organization.
#[utoipa::path(
    get,
    path = "/v1/admin/webhook-events",
    tag = "admin",
    params(WebhookEventListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries.", body = WebhookEventsResponse),
        (status = 403, response = AdminRequired),
        (status = 422, description = "Bad query (`INVALID_PROVIDER`, `INVALID_STATUS`, \
            `INVALID_ORGANIZATION_ID`, `INVALID_CURSOR`, `INVALID_LIMIT`, with `field`; \
            `VALIDATION_FAILED` for an unknown parameter).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_webhook_events(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiQuery(params): ApiQuery<WebhookEventListParams>,
) -> Result<ApiJson<WebhookEventsResponse>, AppError> {
    let filter = list_filter(params)?;
    let page_size = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    // One row more than the page tells whether an older page exists.
    let probe = ListFilter {
        limit: filter.limit + 1,
        ..filter
    };
    let mut conn = state.conn().await?;
    let mut deliveries = inbox::list(&mut conn, &probe).await?;
    let next_cursor = if deliveries.len() > page_size {
        deliveries.truncate(page_size);
        deliveries.last().map(|delivery| delivery.id)
    } else {
        None
    };
    Ok(ApiJson(WebhookEventsResponse {
        events: deliveries.into_iter().map(WebhookEventView::from).collect(),
        next_cursor,
    }))
}

/// How many deliveries each provider has in each status.
#[utoipa::path(
    get,
    path = "/v1/admin/webhook-events/counts",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts by provider, then status.",
            body = WebhookEventCountsResponse),
        (status = 403, response = AdminRequired),
    )
)]
pub async fn webhook_event_counts(
    State(state): State<AppState>,
    _: AdminOnly,
) -> Result<ApiJson<WebhookEventCountsResponse>, AppError> {
    let mut conn = state.conn().await?;
    let counts = inbox::counts(&mut conn).await?;
    Ok(ApiJson(WebhookEventCountsResponse {
        counts: counts
            .into_iter()
            .map(WebhookEventCountView::from)
            .collect(),
    }))
}

/// One delivery with its normalized events and what applying each did.
#[utoipa::path(
    get,
    path = "/v1/admin/webhook-events/{event_id}",
    tag = "admin",
    params(("event_id" = uuid::Uuid, Path, description = "The delivery's inbox id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery.", body = WebhookEventView),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such delivery (`WEBHOOK_EVENT_NOT_FOUND`; a malformed \
            id: `NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_webhook_event(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(event_id): ApiPath<Uuid>,
) -> Result<ApiJson<WebhookEventView>, AppError> {
    let mut conn = state.conn().await?;
    let delivery = inbox::get(&mut conn, event_id)
        .await?
        .ok_or(intake::IntakeError::NotFound(event_id))?;
    Ok(ApiJson(delivery.into()))
}

/// Applies a delivery again now: one that is unmatched, held, failed or dead (fix the cause
/// first: create or bind the subscription, settle the currency question, end the outage). An
/// applied or ignored delivery is left as it is, so repeating the request changes nothing
/// twice; every effect below is idempotent too (subscription events by id, money by
/// reference).
#[utoipa::path(
    post,
    path = "/v1/admin/webhook-events/{event_id}/reapply",
    tag = "admin",
    params(("event_id" = uuid::Uuid, Path, description = "The delivery's inbox id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Tried: the delivery as it is now (its `status` and \
            `outcomes` say what happened).", body = WebhookEventView),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such delivery (`WEBHOOK_EVENT_NOT_FOUND`; a malformed \
            id: `NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reapply_webhook_event(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(event_id): ApiPath<Uuid>,
) -> Result<ApiJson<WebhookEventView>, AppError> {
    let attempt = state.intake.reapply(&state.pool, event_id).await?;
    tracing::info!(inbox_id = %event_id, ?attempt, "webhook delivery re-applied by an operator");
    let mut conn = state.conn().await?;
    let delivery = inbox::get(&mut conn, event_id)
        .await?
        .ok_or(intake::IntakeError::NotFound(event_id))?;
    Ok(ApiJson(delivery.into()))
}

/// `GET /v1/admin/webhook-events/{event_id}/body` (development mode only, not in the OpenAPI
/// document): the delivery's raw body exactly as received, with the content type its provider
/// posts, so `webhook-tool replay` can sign it again and send it once more. Production never
/// serves it: the body holds the customer's name and address, and operators have the digest.
/// 404 `WEBHOOK_EVENT_NOT_FOUND`; 410 `WEBHOOK_BODY_PRUNED` once retention removed it.
pub async fn webhook_event_body(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(event_id): ApiPath<Uuid>,
) -> Result<Response, AppError> {
    let mut conn = state.conn().await?;
    let (provider, body) = inbox::raw_body(&mut conn, event_id)
        .await?
        .ok_or(intake::IntakeError::NotFound(event_id))?;
    let Some(body) = body else {
        return Err(ApiError::new(
            StatusCode::GONE,
            "WEBHOOK_BODY_PRUNED",
            "Webhook body pruned",
        )
        .with_detail("the raw body is past its retention (INBOX_RETENTION_DAYS) and was pruned")
        .with_member("event_id", event_id)
        .into());
    };
    let content_type = match provider {
        ProviderName::Payhere => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    tracing::info!(inbox_id = %event_id, %provider, "raw webhook body read (development mode)");
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
