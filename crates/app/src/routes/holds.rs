//! Holds: `/v1/organizations/{organization_id}/wallet/holds`. A hold reserves funds (a campaign
//! budget); captures spend part or all of it; a release gives back the rest.
//!
//! A hold a campaign placed is the dispatcher's alone: capturing or releasing it here is refused
//! (409 `HOLD_OWNED_BY_CAMPAIGN`) before the ledger is asked to change anything, since a release
//! in the middle of a batch would leave messages Twilio accepted unpaid. Pausing or canceling
//! the campaign releases it.
//!
//! Holds, captures and releases are written by the ledger's batching writer
//! (`ledger::LedgerWriter`), after the input is validated; see `movements`.

use axum::{extract::State, response::Response};
use chrono::TimeDelta;
use db::AsyncPgConnection;
use http::HeaderMap;
use httpkit::{ApiBytes, ApiError, ApiJson, ApiPath, IdempotencyKey, ProblemBody};
use ledger::Counterparty;
use primitives::{HoldId, OrganizationId, WalletId};

use super::wallet::{
    DEFAULT_COUNTERPARTY, entry_receipt, optional_json, positive_amount, receipt, reference,
};
use crate::{
    AppError, AppState,
    access::WalletCaller,
    wire::wallet::{
        CaptureRequest, EntryReceipt, HoldReceiptResponse, HoldRequest, HoldView, ReleaseRequest,
    },
};

pub const DEFAULT_HOLD_SECONDS: i64 = 86_400;
/// The ledger's one limit (`ledger::MAX_HOLD_TTL`, 30 days); the schema's `maximum` is checked
/// against it by a test.
pub const MAX_HOLD_SECONDS: i64 = ledger::MAX_HOLD_TTL.num_seconds();

/// Reserves funds until the hold is captured, released or expires. Limited by the available
/// amount; refused while the wallet is frozen.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/holds",
    tag = "holds",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this hold: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body = HoldRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Held.", body = HoldReceiptResponse),
        (status = 200, description = "A replay: the hold as it is now and the entry that \
            created it (header `Idempotent-Replayed: true`).", body = HoldReceiptResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 404, description = "No such wallet, or not the caller's (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`FROZEN_WALLET` (with `sources`) or \
            `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INSUFFICIENT_FUNDS` (with `available`, `requested`), \
            `INVALID_EXPIRY`, `INVALID_AMOUNT`, `INVALID_CURRENCY`, `CURRENCY_MISMATCH`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `REFERENCE_MISMATCH`, `INVALID_REFERENCE`, \
            `INVALID_COUNTERPARTY`, `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_hold(
    State(state): State<AppState>,
    caller: WalletCaller,
    key: Option<IdempotencyKey>,
    ApiJson(request): ApiJson<HoldRequest>,
) -> Result<Response, AppError> {
    let reference = reference(key, request.reference)?;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let counterparty = Counterparty::parse(
        request
            .counterparty
            .unwrap_or_else(|| DEFAULT_COUNTERPARTY.to_owned()),
    )?;
    let seconds = request.expires_in_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    if !(1..=MAX_HOLD_SECONDS).contains(&seconds) {
        return Err(ApiError::validation(
            "INVALID_EXPIRY",
            format!("expires_in_seconds must be from 1 to {MAX_HOLD_SECONDS}"),
        )
        .with_member("field", "expires_in_seconds")
        .into());
    }
    let expires_at = state.ledger.now() + TimeDelta::seconds(seconds);
    let wallet_id = state.wallet_id(caller.organization_id).await?;
    let request = ledger::HoldRequest {
        wallet_id,
        amount,
        counterparty,
        expires_at,
        reference,
        actor: caller.actor(),
    };
    let outcome = state.writer.hold(request).await?;
    Ok(receipt(
        outcome.replayed,
        HoldReceiptResponse::new(outcome.value, outcome.replayed),
    ))
}

/// A hold as it is now.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/wallet/holds/{hold_id}",
    tag = "holds",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("hold_id" = uuid::Uuid, Path, description = "The hold's id."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The hold.", body = HoldView),
        (status = 404, description = "`WALLET_NOT_FOUND`, or `HOLD_NOT_FOUND` (no such hold \
            on this wallet).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_hold(
    State(state): State<AppState>,
    caller: WalletCaller,
    ApiPath((_, hold_id)): ApiPath<(OrganizationId, HoldId)>,
) -> Result<ApiJson<HoldView>, AppError> {
    let mut conn = state.conn().await?;
    let wallet_id = state
        .wallet_id_on(&mut conn, caller.organization_id)
        .await?;
    let hold = state
        .ledger
        .hold_details(&mut conn, wallet_id, hold_id)
        .await?;
    Ok(ApiJson(hold.into()))
}

/// Spends part or all of what the hold still reserves; a capture that empties it closes it.
/// Allowed on frozen wallets (the money was reserved before the freeze).
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/holds/{hold_id}/captures",
    tag = "holds",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("hold_id" = uuid::Uuid, Path, description = "The hold's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this capture: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body = CaptureRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Captured.", body = EntryReceipt),
        (status = 200, description = "A replay: the original entry (header \
            `Idempotent-Replayed: true`).", body = EntryReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 404, description = "`WALLET_NOT_FOUND` or `HOLD_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`HOLD_NOT_OPEN` (with `hold_status`; also past its \
            deadline), `HOLD_OWNED_BY_CAMPAIGN` (a campaign's hold: pause or cancel the \
            campaign instead) or `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`CAPTURE_EXCEEDS_HOLD` (with `remaining`, \
            `requested`), `INVALID_AMOUNT`, `INVALID_CURRENCY`, `CURRENCY_MISMATCH`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `REFERENCE_MISMATCH`, `INVALID_REFERENCE`, \
            `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn capture(
    State(state): State<AppState>,
    caller: WalletCaller,
    ApiPath((_, hold_id)): ApiPath<(OrganizationId, HoldId)>,
    key: Option<IdempotencyKey>,
    ApiJson(request): ApiJson<CaptureRequest>,
) -> Result<Response, AppError> {
    let reference = reference(key, request.reference)?;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let wallet_id = wallet_of_changeable_hold(&state, caller.organization_id, hold_id).await?;
    let request = ledger::CaptureRequest {
        wallet_id,
        hold_id,
        amount,
        reference,
        actor: caller.actor(),
    };
    let outcome = state.writer.capture(request).await?;
    Ok(entry_receipt(outcome))
}

/// Gives back whatever the hold still reserves and closes it. The body is optional (empty or
/// `{}`); the reference usually comes in the `Idempotency-Key` header.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/holds/{hold_id}/release",
    tag = "holds",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("hold_id" = uuid::Uuid, Path, description = "The hold's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this release: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body(content = Option<ReleaseRequest>, description = "Optional."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Released.", body = EntryReceipt),
        (status = 200, description = "A replay: the original entry (header \
            `Idempotent-Replayed: true`).", body = EntryReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 404, description = "`WALLET_NOT_FOUND` or `HOLD_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`HOLD_NOT_OPEN` (with `hold_status`), \
            `HOLD_OWNED_BY_CAMPAIGN` (a campaign's hold: pause or cancel the campaign instead) \
            or `IDEMPOTENCY_CONFLICT`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`IDEMPOTENCY_KEY_REQUIRED`, `REFERENCE_MISMATCH`, \
            `INVALID_REFERENCE`, `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn release(
    State(state): State<AppState>,
    caller: WalletCaller,
    ApiPath((_, hold_id)): ApiPath<(OrganizationId, HoldId)>,
    key: Option<IdempotencyKey>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Response, AppError> {
    let request: ReleaseRequest = optional_json(&headers, &body)?;
    let reference = reference(key, request.reference)?;
    let wallet_id = wallet_of_changeable_hold(&state, caller.organization_id, hold_id).await?;
    let request = ledger::ReleaseRequest {
        wallet_id,
        hold_id,
        reference,
        actor: caller.actor(),
    };
    let outcome = state.writer.release(request).await?;
    Ok(entry_receipt(outcome))
}

/// The organization's wallet, for a capture or release of `hold_id` that is not a campaign's
/// (see [`refuse_campaign_hold`]). The connection this takes is back in the pool when it
/// returns: a handler must not hold one while it waits for the writer, whose batches need
/// connections of the same pool.
async fn wallet_of_changeable_hold(
    state: &AppState,
    organization: OrganizationId,
    hold_id: HoldId,
) -> Result<WalletId, AppError> {
    let mut conn = state.conn().await?;
    let wallet_id = state.wallet_id_on(&mut conn, organization).await?;
    refuse_campaign_hold(state, &mut conn, wallet_id, hold_id).await?;
    Ok(wallet_id)
}

/// 409 `HOLD_OWNED_BY_CAMPAIGN` if a campaign placed the hold. Another wallet's hold answers the
/// ledger's 404 `HOLD_NOT_FOUND` first, so this reveals nothing about other organizations.
async fn refuse_campaign_hold(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    wallet_id: WalletId,
    hold_id: HoldId,
) -> Result<(), AppError> {
    if !campaigns::owns_hold(conn, hold_id).await? {
        return Ok(());
    }
    state.ledger.hold_details(conn, wallet_id, hold_id).await?;
    Err(ApiError::conflict(
        "HOLD_OWNED_BY_CAMPAIGN",
        "this hold pays for a campaign and only its dispatcher captures or releases it; pause \
         or cancel the campaign to give the money back",
    )
    .with_member("hold_id", hold_id)
    .into())
}
