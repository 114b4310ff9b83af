//! Self-service wallet top-ups: `/v1/organizations/{organization_id}/wallet/top-ups`, for the
//! organization's own key or the admin, like every wallet route. The checkout is the
//! provider's; the wallet is credited only by its verified completion webhook (the intake),
//! never by the customer's return.

use axum::{extract::State, response::Response};
use enforcement::customer::StartTopUp;
use httpkit::{ApiJson, ApiPath, IdempotencyKey, ProblemBody};
use primitives::OrganizationId;

use super::customer_subscription::provider;
use super::wallet::{positive_amount, receipt};
use crate::{
    AppError, AppState,
    access::WalletCaller,
    wire::customer::{TopUpCreatedResponse, TopUpRequest, TopUpView},
};

/// Starts a top-up: a Stripe Checkout session, a PayPal order to approve or a PayHere checkout
/// form, for an amount within the configured limits (`TOP_UP_LIMITS`) in the wallet's currency.
/// Answers where the customer pays. The provider is called first; the top-up is recorded only
/// once it answered, so a provider failure writes nothing. The wallet is credited when the
/// provider's signed completion webhook arrives, never by the return URL.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/top-ups",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this top-up, so a retry with the same key \
            and parameters answers the same checkout; any other request with it is \
            `IDEMPOTENCY_CONFLICT`. 1 to 200 visible ASCII characters, scoped to the \
            organization."),
    ),
    request_body = TopUpRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The checkout, `open`.", body = TopUpCreatedResponse),
        (status = 200, description = "A replay: the same checkout (header \
            `Idempotent-Replayed: true`).", body = TopUpCreatedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 404, description = "No such wallet, or not the caller's (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`TOP_UP_AMOUNT_OUT_OF_RANGE` (with `min`, `max`, \
            `currency`), `TOP_UP_CURRENCY_NOT_OFFERED` (with `offered`), `CURRENCY_MISMATCH`, \
            `INVALID_AMOUNT`, `INVALID_CURRENCY`, `PROVIDER_NOT_CONFIGURED`, \
            `PROVIDER_OPERATION_UNSUPPORTED`, `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `INVALID_IDEMPOTENCY_KEY`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 502, description = "`PROVIDER_REFUSED`; nothing was written.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`PROVIDER_UNAVAILABLE` (with `Retry-After`): nothing was \
            written; retry with the same key.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_top_up(
    State(state): State<AppState>,
    caller: WalletCaller,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<TopUpRequest>,
) -> Result<Response, AppError> {
    let payer = request.payer();
    let top_up = StartTopUp {
        amount: positive_amount(&request.amount, &request.currency)?,
        provider: provider(&request.provider)?,
        return_url: request.return_url,
        cancel_url: request.cancel_url,
        payer,
        customer_id: request.customer_id,
    };
    let started = state
        .customer
        .top_up(&state.pool, caller.organization_id, key.as_str(), top_up)
        .await?;
    let replayed = started.replayed;
    Ok(receipt(
        replayed,
        TopUpCreatedResponse {
            top_up: started.top_up.into(),
            replayed,
        },
    ))
}

/// One top-up: its checkout and whether its completion was recorded. The money itself shows
/// in the wallet's entries once the provider confirmed the payment.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/wallet/top-ups/{top_up_id}",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("top_up_id" = uuid::Uuid, Path, description = "The top-up's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The top-up.", body = TopUpView),
        (status = 404, description = "`WALLET_NOT_FOUND` (not the caller's organization), \
            `TOP_UP_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_top_up(
    State(state): State<AppState>,
    caller: WalletCaller,
    ApiPath((_, top_up_id)): ApiPath<(OrganizationId, uuid::Uuid)>,
) -> Result<ApiJson<TopUpView>, AppError> {
    let mut conn = state.conn().await?;
    let top_up = state
        .customer
        .top_up_details(&mut conn, caller.organization_id, top_up_id)
        .await?;
    Ok(ApiJson(top_up.into()))
}
