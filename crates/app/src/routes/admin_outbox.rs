//! `/v1/admin/outbox`: the durable outbox for operators (admin only): list, count and inspect
//! messages, and requeue dead letters once their cause is fixed, so the runbook never needs
//! SQL. The semantics are the outbox crate's (docs/outbox.md).

use axum::extract::State;
use httpkit::{AdminOnly, ApiError, ApiJson, ApiPath, ApiQuery, ProblemBody};
use outbox::{ListFilter, MessageId, Status, Topic};

use super::query;
use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    wire::outbox::{
        OutboxCountView, OutboxCountsResponse, OutboxListParams, OutboxMessageView,
        OutboxMessagesResponse,
    },
};

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page: well under the outbox's own cap ([`ListFilter::MAX_LIMIT`]), which must
/// leave room for the one extra row that tells whether another page follows.
pub const MAX_LIMIT: u32 = 200;

const _: () = assert!(MAX_LIMIT < ListFilter::MAX_LIMIT);

/// The list's filter, or the problem with the first bad parameter.
fn list_filter(params: OutboxListParams) -> Result<ListFilter, ApiError> {
    let status = query::parse(
        params.status,
        "INVALID_STATUS",
        "status",
        "pending, delivered or dead",
        Status::parse,
    )?;
    let topic = match query::parse(
        params.topic,
        "INVALID_TOPIC",
        "topic",
        "lower-case dotted words",
        |raw| Some(Topic::parse(raw)),
    )? {
        Some(Ok(topic)) => Some(topic),
        Some(Err(error)) => {
            return Err(query::invalid(
                "INVALID_TOPIC",
                "topic",
                format!("topic {}", error.message),
            ));
        }
        None => None,
    };
    Ok(ListFilter {
        status,
        topic,
        organization_id: query::organization(params.organization_id)?,
        before: query::cursor::<MessageId>(params.cursor)?,
        limit: query::limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?,
    })
}

/// Messages, newest first, a page at a time; filter by status (`dead` for the dead letters),
/// topic and organization.
#[utoipa::path(
    get,
    path = "/v1/admin/outbox",
    tag = "admin",
    params(OutboxListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of messages.", body = OutboxMessagesResponse),
        (status = 403, response = AdminRequired),
        (status = 422, description = "Bad query (`INVALID_STATUS`, `INVALID_TOPIC`, \
            `INVALID_ORGANIZATION_ID`, `INVALID_CURSOR`, `INVALID_LIMIT`, with `field`; \
            `VALIDATION_FAILED` for an unknown parameter).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_outbox_messages(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiQuery(params): ApiQuery<OutboxListParams>,
) -> Result<ApiJson<OutboxMessagesResponse>, AppError> {
    let filter = list_filter(params)?;
    let page_size = usize::try_from(filter.limit).unwrap_or(usize::MAX);
    // One row more than the page tells whether an older page exists, so the last page has no
    // cursor and a client never asks for an empty one.
    let probe = filter.clone().with_limit(filter.limit + 1);
    let mut conn = state.conn().await?;
    let mut messages = outbox::list(&mut conn, &probe).await?;
    let next_cursor = if messages.len() > page_size {
        messages.truncate(page_size);
        messages.last().map(|message| message.id)
    } else {
        None
    };
    Ok(ApiJson(OutboxMessagesResponse {
        messages: messages.into_iter().map(OutboxMessageView::from).collect(),
        next_cursor,
    }))
}

/// How many messages each topic has in each status: a growing `pending` count is a backlog,
/// any `dead` one needs a person.
#[utoipa::path(
    get,
    path = "/v1/admin/outbox/counts",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Counts by topic, then status.",
            body = OutboxCountsResponse),
        (status = 403, response = AdminRequired),
    )
)]
pub async fn outbox_counts(
    State(state): State<AppState>,
    _: AdminOnly,
) -> Result<ApiJson<OutboxCountsResponse>, AppError> {
    let mut conn = state.conn().await?;
    let counts = outbox::counts(&mut conn).await?;
    Ok(ApiJson(OutboxCountsResponse {
        counts: counts.into_iter().map(OutboxCountView::from).collect(),
    }))
}

/// One message, whatever its status, with its payload and last error.
#[utoipa::path(
    get,
    path = "/v1/admin/outbox/{message_id}",
    tag = "admin",
    params(("message_id" = uuid::Uuid, Path, description = "The message's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The message.", body = OutboxMessageView),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such message (`OUTBOX_MESSAGE_NOT_FOUND`; a malformed \
            id: `NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_outbox_message(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(message_id): ApiPath<MessageId>,
) -> Result<ApiJson<OutboxMessageView>, AppError> {
    let mut conn = state.conn().await?;
    let message = outbox::get(&mut conn, message_id).await?;
    Ok(ApiJson(message.into()))
}

/// Requeues a dead message: pending again, due now, with a fresh attempt budget (`attempts`
/// back to 0; `last_error` stays until the next attempt). Fix the cause first (credentials, a
/// provider outage, a billing email). Only a dead message can be retried, so repeating the
/// request cannot send twice.
#[utoipa::path(
    post,
    path = "/v1/admin/outbox/{message_id}/retry",
    tag = "admin",
    params(("message_id" = uuid::Uuid, Path, description = "The message's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requeued: the message as it is now.",
            body = OutboxMessageView),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such message (`OUTBOX_MESSAGE_NOT_FOUND`; a malformed \
            id: `NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The message is pending or delivered, not dead \
            (`OUTBOX_MESSAGE_NOT_DEAD`, with `message_status`); nothing changed.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn retry_outbox_message(
    State(state): State<AppState>,
    _: AdminOnly,
    ApiPath(message_id): ApiPath<MessageId>,
) -> Result<ApiJson<OutboxMessageView>, AppError> {
    let mut conn = state.conn().await?;
    let message = state.outbox.retry_dead_now(&mut conn, message_id).await?;
    Ok(ApiJson(message.into()))
}
