//! The customer's subscription actions: start, cancel, pause, resume, a payment-method link.
//! Each under the caller's own organization (`/v1/subscription/...`, its API key), and the same
//! for the admin acting for any organization (`/v1/admin/organizations/{organization_id}/
//! subscription/...`). The decisions are enforcement's (`enforcement::customer`); these
//! handlers only read the request and shape the answer.
//!
//! None of them needs a paid feature: a blocked organization can still cancel, pause, resume
//! and update its payment method (G6).

use axum::{extract::State, response::Response};
use enforcement::customer::{StartSubscription, SubscriptionAction};
use http::HeaderMap;
use httpkit::{ApiBytes, ApiError, ApiJson, IdempotencyKey, OrganizationOnly, ProblemBody};
use primitives::{OrganizationId, ProviderName};

use super::admin_subscriptions::require_organization;
use super::responses::{AdminRequired, OrganizationKeyRequired};
use super::wallet::{optional_json, receipt};
use crate::{
    AppError, AppState,
    access::OrganizationAdmin,
    wire::customer::{
        CancelSubscriptionRequest, PaymentMethodLinkRequest, PaymentMethodLinkResponse,
        StartSubscriptionRequest, SubscriptionChangedResponse, SubscriptionStartedResponse,
    },
};

/// A provider's name from a body; 422 `VALIDATION_FAILED` on `provider` for anything else.
pub(super) fn provider(name: &str) -> Result<ProviderName, ApiError> {
    ProviderName::parse(name.trim()).ok_or_else(|| {
        ApiError::validation_failed("provider: one of `paypal`, `stripe`, `payhere`")
            .with_member("field", "provider")
    })
}

// ---------------------------------------------------------------------------------------------
// What the own and the admin's routes share

async fn start(
    state: &AppState,
    organization_id: OrganizationId,
    key: IdempotencyKey,
    request: StartSubscriptionRequest,
) -> Result<Response, AppError> {
    let payer = request.payer();
    let start = StartSubscription {
        plan: request.plan,
        provider: provider(&request.provider)?,
        return_url: request.return_url,
        cancel_url: request.cancel_url,
        payer,
        customer_id: request.customer_id,
    };
    let provider = start.provider;
    let started = state
        .customer
        .start(&state.pool, organization_id, key.as_str(), start)
        .await?;
    if !started.replayed {
        // Deliveries that arrived before the subscription (the provider is often faster than
        // our commit) are looked at again now rather than at their next scheduled attempt;
        // if this fails they still are, later.
        let now = state.subscriptions.now();
        let mut conn = state.conn().await?;
        if let Err(error) = intake::inbox::wake_unmatched(&mut conn, provider, now).await {
            tracing::warn!(%error, "could not wake unmatched deliveries after a start");
        }
    }
    let replayed = started.replayed;
    Ok(receipt(
        replayed,
        SubscriptionStartedResponse {
            subscription: started.subscription.into(),
            approval: started.approval.into(),
            replayed,
        },
    ))
}

async fn change(
    state: &AppState,
    organization_id: OrganizationId,
    key: IdempotencyKey,
    action: SubscriptionAction,
) -> Result<Response, AppError> {
    let mut conn = state.conn().await?;
    let changed = state
        .customer
        .change(&mut conn, organization_id, key.as_str(), action)
        .await?;
    let replayed = changed.replayed;
    Ok(receipt(
        replayed,
        SubscriptionChangedResponse {
            subscription: changed.subscription.into(),
            changed: changed.changed,
            replayed,
        },
    ))
}

async fn link(
    state: &AppState,
    organization_id: OrganizationId,
    key: IdempotencyKey,
    request: PaymentMethodLinkRequest,
) -> Result<Response, AppError> {
    let page = state
        .customer
        .payment_method_link(
            &state.pool,
            organization_id,
            key.as_str(),
            &request.return_url,
        )
        .await?;
    let replayed = page.replayed;
    Ok(receipt(
        replayed,
        PaymentMethodLinkResponse {
            provider: page.provider.as_str().to_owned(),
            url: page.url,
            replayed,
        },
    ))
}

fn cancel_action(headers: &HeaderMap, body: &[u8]) -> Result<SubscriptionAction, ApiError> {
    let request: CancelSubscriptionRequest = optional_json(headers, body)?;
    Ok(SubscriptionAction::Cancel {
        at_period_end: request.at_period_end,
    })
}

// ---------------------------------------------------------------------------------------------
// The organization's own

/// Starts a subscription on a plan with a provider and answers where the customer approves it
/// (PayPal's approval link, Stripe's hosted invoice, PayHere's checkout form). The provider is
/// called first, with a key derived from this `Idempotency-Key`; the subscription is recorded,
/// `pending`, only once it answered, and becomes active when the provider's webhook confirms.
/// A provider failure writes nothing.
#[utoipa::path(
    post,
    path = "/v1/subscription",
    tag = "subscription",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body = StartSubscriptionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started, `pending`.", body = SubscriptionStartedResponse),
        (status = 200, description = "A replay: the same key and parameters; the same approval \
            (header `Idempotent-Replayed: true`).", body = SubscriptionStartedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = OrganizationKeyRequired),
        (status = 409, description = "`SUBSCRIPTION_EXISTS` (a live one exists: cancel it \
            first; with `subscription_id`), `IDEMPOTENCY_CONFLICT` (the key was used for \
            something else).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PLAN_NOT_OFFERED` (with `offered`), \
            `PROVIDER_NOT_CONFIGURED`, `VALIDATION_FAILED` (with `field`), \
            `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_REFUSED`: the provider refused the request \
            (with `provider`, `provider_status`, `provider_code`); nothing was written.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (with `provider` and \
            `Retry-After`): nothing was written; retry with the same key.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn start_subscription(
    State(state): State<AppState>,
    own: OrganizationOnly,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<StartSubscriptionRequest>,
) -> Result<Response, AppError> {
    start(&state, own.organization_id, key, request).await
}

/// Cancels the subscription: now (the default), or at the end of the paid period with
/// `{"at_period_end": true}` (access stays until then; nothing more is charged). Our state
/// changes at once; the provider is told through the outbox.
#[utoipa::path(
    post,
    path = "/v1/subscription/cancel",
    tag = "subscription",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body(content = Option<CancelSubscriptionRequest>, description = "Optional."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done (`changed` false if it already was canceled, or \
            already scheduled to end).", body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No subscription (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn cancel_subscription(
    State(state): State<AppState>,
    own: OrganizationOnly,
    key: IdempotencyKey,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, AppError> {
    let action = cancel_action(&headers, &body)?;
    change(&state, own.organization_id, key, action).await
}

/// Pauses the subscription: the customer's own access block (the paid features stop, reading
/// and paying stay possible), which no payment or other billing event lifts, only resuming.
/// The provider stops collecting (told through the outbox). PayHere cannot pause.
#[utoipa::path(
    post,
    path = "/v1/subscription/pause",
    tag = "subscription",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Paused (`changed` false if it already was).",
            body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No subscription (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_STATE_CONFLICT` (only an active or \
            trialing subscription with nothing owed pauses; with `subscription_status`), \
            `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PROVIDER_OPERATION_UNSUPPORTED` (PayHere), \
            `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn pause_subscription(
    State(state): State<AppState>,
    own: OrganizationOnly,
    key: IdempotencyKey,
) -> Result<Response, AppError> {
    change(&state, own.organization_id, key, SubscriptionAction::Pause).await
}

/// Resumes a paused subscription: access comes back at once, the provider collects again (told
/// through the outbox).
#[utoipa::path(
    post,
    path = "/v1/subscription/resume",
    tag = "subscription",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Resumed (`changed` false if it was not paused but \
            active or trialing).", body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No subscription (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_STATE_CONFLICT` (with \
            `subscription_status`), `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn resume_subscription(
    State(state): State<AppState>,
    own: OrganizationOnly,
    key: IdempotencyKey,
) -> Result<Response, AppError> {
    change(&state, own.organization_id, key, SubscriptionAction::Resume).await
}

/// A page at the subscription's provider where the customer changes how they pay: Stripe's
/// billing portal (a short-lived session), PayPal's subscription page. Allowed whatever the
/// subscription's status, so a customer who has not paid can fix it (G6).
#[utoipa::path(
    post,
    path = "/v1/subscription/payment-method",
    tag = "subscription",
    params(
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body = PaymentMethodLinkRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The link.", body = PaymentMethodLinkResponse),
        (status = 200, description = "A replay: the same link (header \
            `Idempotent-Replayed: true`).", body = PaymentMethodLinkResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = OrganizationKeyRequired),
        (status = 404, description = "No subscription (`SUBSCRIPTION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`NO_PROVIDER_SUBSCRIPTION` (billed by hand), \
            `SUBSCRIPTION_STATE_CONFLICT` (ended), `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PROVIDER_OPERATION_UNSUPPORTED` (PayHere), \
            `PROVIDER_NOT_CONFIGURED`, `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_REFUSED`; nothing was written.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn payment_method_link(
    State(state): State<AppState>,
    own: OrganizationOnly,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<PaymentMethodLinkRequest>,
) -> Result<Response, AppError> {
    link(&state, own.organization_id, key, request).await
}

// ---------------------------------------------------------------------------------------------
// The admin, for any organization

/// `POST /v1/subscription` for the organization in the path.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body = StartSubscriptionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Started, `pending`.", body = SubscriptionStartedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionStartedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_EXISTS`, `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PLAN_NOT_OFFERED`, `PROVIDER_NOT_CONFIGURED`, \
            `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_REFUSED`; nothing was written.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_start_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<StartSubscriptionRequest>,
) -> Result<Response, AppError> {
    require_organization(&mut *state.conn().await?, admin.organization_id).await?;
    start(&state, admin.organization_id, key, request).await
}

/// `POST /v1/subscription/cancel` for the organization in the path.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/cancel",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body(content = Option<CancelSubscriptionRequest>, description = "Optional."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done.", body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND`, `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_cancel_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, AppError> {
    let action = cancel_action(&headers, &body)?;
    require_organization(&mut *state.conn().await?, admin.organization_id).await?;
    change(&state, admin.organization_id, key, action).await
}

/// `POST /v1/subscription/pause` for the organization in the path: the block is the
/// customer's (source `customer`), lifted only by resuming.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/pause",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Paused.", body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND`, `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_STATE_CONFLICT`, `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PROVIDER_OPERATION_UNSUPPORTED`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_pause_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
) -> Result<Response, AppError> {
    require_organization(&mut *state.conn().await?, admin.organization_id).await?;
    change(
        &state,
        admin.organization_id,
        key,
        SubscriptionAction::Pause,
    )
    .await
}

/// `POST /v1/subscription/resume` for the organization in the path.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/resume",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Resumed.", body = SubscriptionChangedResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = SubscriptionChangedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND`, `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_STATE_CONFLICT`, `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_resume_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
) -> Result<Response, AppError> {
    require_organization(&mut *state.conn().await?, admin.organization_id).await?;
    change(
        &state,
        admin.organization_id,
        key,
        SubscriptionAction::Resume,
    )
    .await
}

/// `POST /v1/subscription/payment-method` for the organization in the path.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/payment-method",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this request, so a retry with the same key \
            and parameters is answered with the original result and does nothing again; any \
            other request with it is `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII \
            characters, scoped to the organization."),
    ),
    request_body = PaymentMethodLinkRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The link.", body = PaymentMethodLinkResponse),
        (status = 200, description = "A replay (header `Idempotent-Replayed: true`).",
            body = PaymentMethodLinkResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND`, `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`NO_PROVIDER_SUBSCRIPTION`, \
            `SUBSCRIPTION_STATE_CONFLICT`, `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`PROVIDER_OPERATION_UNSUPPORTED`, \
            `PROVIDER_NOT_CONFIGURED`, `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_REFUSED`; nothing was written.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn admin_payment_method_link(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<PaymentMethodLinkRequest>,
) -> Result<Response, AppError> {
    require_organization(&mut *state.conn().await?, admin.organization_id).await?;
    link(&state, admin.organization_id, key, request).await
}
