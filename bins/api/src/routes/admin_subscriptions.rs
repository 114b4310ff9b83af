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
    BlockSource, EventEnvelope, EventId, EventKind, EventSource, NewSubscription, Outcome,
    PlanCode, ProviderRef, Subscription, SubscriptionEvent,
    access::{self, BlockChange},
    history::MAX_PAGE,
};

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
/// Who the access-block audit trail records for them.
pub const ADMIN_ACTOR: &str = "admin";
/// The longest trial an operator may grant in one go.
pub const MAX_TRIAL: TimeDelta = TimeDelta::days(366);
/// The furthest a manual payment may extend the period: five years. Further is a typo.
pub const MAX_PREPAID_PERIOD: TimeDelta = TimeDelta::days(5 * 366);

// ---------------------------------------------------------------------------------------------
// Helpers

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

// ---------------------------------------------------------------------------------------------
// Reading

/// The organization's subscription: the live one, else the most recent one that ended.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/subscription",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription.", body = SubscriptionResponse),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
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

// ---------------------------------------------------------------------------------------------
// Creating

/// Creates the organization's subscription (`pending` until paid, or `trialing` with
/// `trial_end`). The `Idempotency-Key` is the creation event's id (source `admin`): a retry
/// answers 200 with the subscription it created and writes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscriptions",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, description = "Identifies this creation."),
    ),
    request_body = CreateSubscriptionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = SubscriptionCreatedResponse),
        (status = 200, description = "A replay: the subscription this key created (header \
            `Idempotent-Replayed: true`).", body = SubscriptionCreatedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_EXISTS` (a live one exists; with \
            `subscription_id`), `PROVIDER_SUBSCRIPTION_TAKEN`, or `IDEMPOTENCY_CONFLICT` (the \
            key created something else).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED` with `field`, \
            `INVALID_TRIAL_END`, `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<CreateSubscriptionRequest>,
) -> Result<Response, AppError> {
    // Everything is validated before a connection is taken, so refused input writes nothing.
    let organization_id = admin.organization_id;
    let plan = PlanCode::parse(&request.plan)?;
    let provider = match (&request.provider, &request.provider_subscription_id) {
        (Some(provider), Some(id)) => Some(ProviderRef::parse(provider, id)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::validation_failed(
                "provider and provider_subscription_id go together: send both or neither",
            )
            .with_member("field", "provider")
            .into());
        }
    };
    let now = state.subscriptions.now();
    if let Some(trial_end) = request.trial_end
        && (trial_end <= now || trial_end > now + MAX_TRIAL)
    {
        return Err(ApiError::validation(
            "INVALID_TRIAL_END",
            "trial_end must be in the future, at most 366 days ahead",
        )
        .with_member("field", "trial_end")
        .into());
    }
    let created = admin_event(key.as_str(), now, SubscriptionEvent::Created)?;
    let trial = request
        .trial_end
        .map(|trial_end| {
            admin_event(
                &trial_event_id(key.as_str()),
                now,
                SubscriptionEvent::TrialStarted { trial_end },
            )
        })
        .transpose()?;
    let new = NewSubscription {
        organization_id,
        plan,
        provider,
    };

    let enforcer = state.enforcer.clone();
    let mut conn = state.conn().await?;
    let (subscription, replayed) = conn
        .transaction(async move |conn| {
            let before = subscriptions::lookup::all_for_organization(conn, organization_id).await?;
            let subscription = enforcer
                .subscriptions()
                .create(conn, new.clone(), &created)
                .await?;
            // A new subscription always has a new id; one the organization already had means
            // this key created it before.
            let replayed = before.iter().any(|earlier| earlier.id == subscription.id);
            if subscription.organization_id != organization_id {
                return Err(idempotency_conflict(
                    "this Idempotency-Key created a subscription of another organization",
                )
                .into());
            }
            if replayed {
                if !same_creation(&subscription, &new, request.trial_end) {
                    return Err(idempotency_conflict(
                        "this Idempotency-Key created this organization's subscription with \
                         other parameters",
                    )
                    .into());
                }
                return Ok((subscription, true));
            }
            let subscription = match trial {
                // In this transaction: the subscription never exists without its trial.
                Some(trial) => {
                    enforcer
                        .apply(conn, subscription.id, &trial)
                        .await?
                        .subscription
                }
                None => subscription,
            };
            Ok::<_, AppError>((subscription, false))
        })
        .await?;
    if !replayed {
        tracing::info!(
            %organization_id,
            subscription_id = %subscription.id,
            plan = subscription.plan.as_str(),
            status = subscription.state.status.as_str(),
            "subscription created"
        );
    }
    Ok(receipt(
        replayed,
        SubscriptionCreatedResponse {
            subscription: subscription.into(),
            replayed,
        },
    ))
}

/// Whether a replayed creation asked for what the first one did.
fn same_creation(
    subscription: &Subscription,
    new: &NewSubscription,
    trial_end: Option<DateTime<Utc>>,
) -> bool {
    subscription.plan == new.plan
        && subscription.provider == new.provider
        && (trial_end.is_none() || subscription.state.trial_end == trial_end)
}

// ---------------------------------------------------------------------------------------------
// Access blocks

/// The access blocks in force, every source's.
#[utoipa::path(
    get,
    path = "/v1/admin/organizations/{organization_id}/access-blocks",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The blocks.", body = AccessBlocksResponse),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_access_blocks(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
) -> Result<ApiJson<AccessBlocksResponse>, AppError> {
    let mut conn = state.conn().await?;
    require_organization(&mut conn, admin.organization_id).await?;
    let blocks = access::blocks(&mut conn, admin.organization_id).await?;
    Ok(ApiJson(AccessBlocksResponse {
        blocks: blocks_view(blocks),
    }))
}

/// Blocks the organization's paid features (sending, campaigns, contacts, AI ...) with the
/// `admin` source, whatever its subscription says; reading data and paying stay possible.
/// Blocking again changes nothing (the first reason stays).
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/access-blocks",
    tag = "admin",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = AccessBlockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Blocked (`changed` false if the admin block already was \
            in place).", body = AccessBlockChangeResponse),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn block_access(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiJson(request): ApiJson<AccessBlockRequest>,
) -> Result<ApiJson<AccessBlockChangeResponse>, AppError> {
    let change = BlockChange::new(BlockSource::Admin, &request.reason, ADMIN_ACTOR)?;
    let now = state.subscriptions.now();
    let organization_id = admin.organization_id;
    let mut conn = state.conn().await?;
    let (changed, blocks) = conn
        .transaction(async move |conn| {
            // The block and its audit record commit together.
            let changed = access::block(conn, organization_id, &change, now).await?;
            Ok::<_, AppError>((changed, access::blocks(conn, organization_id).await?))
        })
        .await?;
    tracing::info!(%organization_id, changed, "admin access block set");
    Ok(ApiJson(AccessBlockChangeResponse {
        changed,
        blocks: blocks_view(blocks),
    }))
}

/// Lifts the `admin` block, and only it: other sources' blocks stay. `billing` and `customer`
/// blocks are refused here (409 `BLOCK_SOURCE_NOT_ADMIN`): billing's block is lifted by a
/// payment (see `.../subscription/manual-payment`), the customer's by resuming, never by hand.
#[utoipa::path(
    delete,
    path = "/v1/admin/organizations/{organization_id}/access-blocks/{source}",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("source" = String, Path, description = "Whose block: only `admin` can be lifted here.",
            example = "admin"),
    ),
    request_body = AccessBlockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Lifted (`changed` false if there was no admin block); \
            `blocks` lists what still blocks.", body = AccessBlockChangeResponse),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`) or no \
            such source (`NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The source is `billing` or `customer` \
            (`BLOCK_SOURCE_NOT_ADMIN`, with `source`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, with `field`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn lift_access_block(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    ApiPath((_, source)): ApiPath<(OrganizationId, String)>,
    ApiJson(request): ApiJson<AccessBlockRequest>,
) -> Result<ApiJson<AccessBlockChangeResponse>, AppError> {
    match BlockSource::parse(&source) {
        Some(BlockSource::Admin) => {}
        Some(other) => {
            return Err(ApiError::conflict(
                "BLOCK_SOURCE_NOT_ADMIN",
                format!(
                    "only the admin block can be lifted by an operator; the {} block is \
                     lifted by its own source",
                    other.as_str()
                ),
            )
            .with_member("source", other.as_str())
            .into());
        }
        None => return Err(ApiError::not_found().into()),
    }
    let change = BlockChange::new(BlockSource::Admin, &request.reason, ADMIN_ACTOR)?;
    let now = state.subscriptions.now();
    let organization_id = admin.organization_id;
    let mut conn = state.conn().await?;
    let (changed, blocks) = conn
        .transaction(async move |conn| {
            let changed = access::unblock(conn, organization_id, &change, now).await?;
            Ok::<_, AppError>((changed, access::blocks(conn, organization_id).await?))
        })
        .await?;
    tracing::info!(%organization_id, changed, "admin access block lifted");
    Ok(ApiJson(AccessBlockChangeResponse {
        changed,
        blocks: blocks_view(blocks),
    }))
}

// ---------------------------------------------------------------------------------------------
// Payments

/// Records a payment received outside the provider (bank transfer, invoice) on the
/// organization's live subscription, as event `manual_payment_received` from source `admin`
/// whose id is the `Idempotency-Key`. From any unpaid state (past due, suspended ...) it
/// restores access at once, with every effect in the same transaction (G8): status active,
/// retries cleared, billing's wallet freeze and access block lifted, campaigns and messaging
/// resumed, the customer notified, the period extended to `period_end`.
///
/// A status that takes no payment (canceled, expired) records it as `ignored`, with the reason.
/// Repeating the key answers 200 `duplicate` and changes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/manual-payment",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, description = "Identifies this payment."),
    ),
    request_body = ManualPaymentRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded: `applied`, `ignored` (with `reason`) or \
            `stale`.", body = ManualPaymentResponse),
        (status = 200, description = "`duplicate`: this key was applied before; nothing changed \
            (header `Idempotent-Replayed: true`).", body = ManualPaymentResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 400, description = "The body is not JSON (`MALFORMED_JSON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential (`UNAUTHORIZED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin credential (`ADMIN_REQUIRED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` or `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`IDEMPOTENCY_CONFLICT`: the key was used for another \
            event.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit (`BODY_TOO_LARGE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/json` (`UNSUPPORTED_MEDIA_TYPE`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`INVALID_AMOUNT`, `INVALID_CURRENCY`, \
            `INVALID_PERIOD_END`, `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `INVALID_IDEMPOTENCY_KEY`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` or `WALLET_BUSY` (with \
            `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn record_manual_payment(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<ManualPaymentRequest>,
) -> Result<Response, AppError> {
    let organization_id = admin.organization_id;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let now = state.subscriptions.now();
    let period_end = request.period_end;
    if period_end <= now || period_end > now + MAX_PREPAID_PERIOD {
        return Err(ApiError::validation(
            "INVALID_PERIOD_END",
            "period_end must be in the future, at most five years ahead",
        )
        .with_member("field", "period_end")
        .into());
    }
    let envelope = admin_event(
        key.as_str(),
        now,
        SubscriptionEvent::ManualPaymentReceived { amount, period_end },
    )?;

    let mut conn = state.conn().await?;
    require_organization(&mut conn, organization_id).await?;
    let subscription = current_subscription(&mut conn, organization_id).await?;
    let applied = state
        .enforcer
        .apply(&mut conn, subscription.id, &envelope)
        .await?;
    if applied.outcome == Outcome::Duplicate
        && !was_manual_payment(&mut conn, &subscription, key.as_str()).await?
    {
        // Event ids are unique per source across every subscription, so the key may have named
        // another event (another organization's payment, a creation); answering `duplicate`
        // would tell the operator this payment was recorded when it was not.
        return Err(idempotency_conflict(
            "this Idempotency-Key was used for another admin event; use a new key for this payment",
        )
        .into());
    }
    let response = ManualPaymentResponse::new(applied);
    metrics::counter!("billing_manual_payments_total", "outcome" => response.outcome.clone())
        .increment(1);
    tracing::info!(
        %organization_id,
        subscription_id = %subscription.id,
        amount = %amount.to_decimal_string(),
        currency = amount.currency().code(),
        outcome = %response.outcome,
        "manual payment"
    );
    Ok(receipt(response.replayed, response))
}

/// Whether `key` is a manual payment already recorded on this subscription (among its latest
/// events; an older replay is answered as a conflict, which changes nothing either).
async fn was_manual_payment(
    conn: &mut AsyncPgConnection,
    subscription: &Subscription,
    key: &str,
) -> Result<bool, AppError> {
    let events = subscriptions::history::events(conn, subscription.id, MAX_PAGE).await?;
    Ok(events.iter().any(|event| {
        event.source == ADMIN_SOURCE
            && event.event_id == key
            && event.kind == EventKind::ManualPaymentReceived.as_str()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_event_ids_are_stable_distinct_and_short_enough() {
        let long = "k".repeat(200);
        assert_eq!(trial_event_id("a"), trial_event_id("a"));
        assert_ne!(trial_event_id("a"), trial_event_id("b"));
        assert!(EventId::parse(&trial_event_id(&long)).is_ok());
        assert!(admin_event(&long, Utc::now(), SubscriptionEvent::Created).is_ok());
    }
}
