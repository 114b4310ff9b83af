//! `/v1/organizations/{organization_id}/wallet`: the balance, history, freezes and
//! reconciliation, plus the edge helpers every wallet route shares (amounts, references,
//! replay responses).

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use httpkit::{ApiError, ApiJson, ApiQuery, IdempotencyKey, ProblemBody};
use ledger::{Cursor, EntryKind, HistoryQuery, Reason, Reference};
use primitives::Money;
use serde::{Serialize, de::DeserializeOwned};

use super::query;
use super::responses::AdminRequired;
use crate::{
    AppError, AppState,
    access::{WalletAdmin, WalletCaller},
    error::invalid_amount,
    wire::wallet::{
        EntryPage, FreezeRequest, FreezeResponse, FreezeSourceWire, HistoryParams,
        ReconciliationResponse, WalletResponse,
    },
};

/// Set (to `true`) on a 200 that answers a retried request with the original result.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The account money goes to when a debit or hold does not name one.
pub const DEFAULT_COUNTERPARTY: &str = "revenue:messages";

// ---------------------------------------------------------------------------------------------
// Edge helpers

/// A positive amount in the request's currency. The currency is checked first so its error is
/// the one reported when both are wrong; whether it is the wallet's is the ledger's call
/// (`CURRENCY_MISMATCH`).
pub(super) fn positive_amount(amount: &str, currency: &str) -> Result<Money, ApiError> {
    let currency = currency_of(currency)?;
    Money::parse_positive(amount, currency).map_err(amount_error)
}

/// A signed amount (corrections); zero is refused by the ledger.
pub(super) fn signed_amount(amount: &str, currency: &str) -> Result<Money, ApiError> {
    let currency = currency_of(currency)?;
    Money::parse(amount, currency).map_err(amount_error)
}

fn currency_of(code: &str) -> Result<primitives::Currency, ApiError> {
    primitives::parse_currency(code).map_err(|error| {
        ApiError::validation("INVALID_CURRENCY", error.to_string()).with_member("field", "currency")
    })
}

fn amount_error(error: primitives::AmountError) -> ApiError {
    invalid_amount(error.to_string()).with_member("field", "amount")
}

/// The ledger reference of a money movement: the `Idempotency-Key` header or the body's
/// `reference`. Both may be sent if they agree; neither is refused, because a movement without a
/// reference could not be retried safely.
pub(super) fn reference(
    header: Option<IdempotencyKey>,
    body: Option<String>,
) -> Result<Reference, AppError> {
    let value = match (header, body) {
        (Some(header), Some(body)) if header.as_str() != body => {
            return Err(ApiError::validation(
                "REFERENCE_MISMATCH",
                "the Idempotency-Key header and the body's reference differ; send one, or both equal",
            )
            .into());
        }
        (Some(header), _) => header.into_inner(),
        (None, Some(body)) => body,
        (None, None) => {
            return Err(ApiError::validation(
                "IDEMPOTENCY_KEY_REQUIRED",
                "this operation moves money: send an Idempotency-Key header (or a reference in the body)",
            )
            .into());
        }
    };
    Ok(Reference::parse(value)?)
}

/// 201 for a first application; 200 with `Idempotent-Replayed: true` for a replay.
pub(super) fn receipt<T: Serialize>(replayed: bool, body: T) -> Response {
    if replayed {
        (
            StatusCode::OK,
            [(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))],
            ApiJson(body),
        )
            .into_response()
    } else {
        (StatusCode::CREATED, ApiJson(body)).into_response()
    }
}

/// The answer to a money movement that produced one entry (debit, credit, capture, release,
/// correction).
pub(super) fn entry_receipt(outcome: ledger::Outcome<ledger::Entry>) -> Response {
    let replayed = outcome.replayed;
    receipt(
        replayed,
        crate::wire::wallet::EntryReceipt {
            entry: outcome.value.into(),
            replayed,
        },
    )
}

/// A JSON body that may be omitted: empty (or blank) means `T::default()`. A body that is sent
/// is held to the same rules as `ApiJson`: JSON media type, valid syntax, an object of the
/// expected shape.
pub(super) fn optional_json<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !httpkit::json::is_json(headers) {
        return Err(ApiError::unsupported_media_type("application/json"));
    }
    httpkit::json::from_object(body)
}

/// The history's query (see `query` for the rule every parameter follows).
fn history_query(params: HistoryParams) -> Result<HistoryQuery, ApiError> {
    let limit = query::limit(
        params.limit,
        HistoryQuery::DEFAULT_LIMIT,
        HistoryQuery::MAX_LIMIT,
    )?;
    let before = query::cursor::<Cursor>(params.cursor)?;
    let known = || EntryKind::ALL.map(EntryKind::as_str).join(", ");
    let list = query::parse(
        params.kinds,
        "INVALID_KIND",
        "kinds",
        &format!("entry kinds separated by commas ({})", known()),
        |list| Some(list.to_owned()),
    )?;
    let kinds = match list {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|name| {
                EntryKind::parse(name.trim()).ok_or_else(|| {
                    query::invalid(
                        "INVALID_KIND",
                        "kinds",
                        format!(
                            "{:?} is not an entry kind (one of {})",
                            name.chars().take(32).collect::<String>(),
                            known()
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(HistoryQuery {
        kinds,
        before,
        limit,
    })
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The wallet's balance, held and available amounts and active freezes.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/wallet",
    tag = "wallet",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The wallet.", body = WalletResponse),
        (status = 404, description = "No such wallet, or not the caller's (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_wallet(
    State(state): State<AppState>,
    caller: WalletCaller,
) -> Result<ApiJson<WalletResponse>, AppError> {
    let mut conn = state.conn().await?;
    let wallet_id = state
        .wallet_id_on(&mut conn, caller.organization_id)
        .await?;
    let wallet = state.ledger.balance(&mut conn, wallet_id).await?;
    Ok(ApiJson(wallet.into()))
}

/// The wallet's entries, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/wallet/entries",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        HistoryParams,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries.", body = EntryPage),
        (status = 404, description = "No such wallet, or not the caller's (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Bad query (`INVALID_LIMIT`, `INVALID_CURSOR`, \
            `INVALID_KIND`, `VALIDATION_FAILED`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn list_entries(
    State(state): State<AppState>,
    caller: WalletCaller,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<ApiJson<EntryPage>, AppError> {
    let query = history_query(params)?;
    let mut conn = state.conn().await?;
    let wallet_id = state
        .wallet_id_on(&mut conn, caller.organization_id)
        .await?;
    let page = state.ledger.history(&mut conn, wallet_id, query).await?;
    Ok(ApiJson(page.into()))
}

/// Freezes the wallet for one source (admin only): debits and new holds are refused until every
/// source's freeze is lifted. Credits are still recorded. Freezing again changes nothing.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/freeze",
    tag = "wallet",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = FreezeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Frozen (`changed` false if it already was, for that \
            source).", body = FreezeResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such wallet (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The `billing` source is the subscription's \
            (`FREEZE_SOURCE_RESERVED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, `INVALID_REASON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn freeze(
    State(state): State<AppState>,
    admin: WalletAdmin,
    ApiJson(request): ApiJson<FreezeRequest>,
) -> Result<ApiJson<FreezeResponse>, AppError> {
    set_freeze(state, admin, request, true).await
}

/// Lifts one source's freeze (admin only); other sources' freezes stay.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/unfreeze",
    tag = "wallet",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = FreezeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unfrozen for that source (`changed` false if it was not \
            frozen by it); `wallet.frozen` tells whether other sources still freeze it.",
            body = FreezeResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such wallet (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The `billing` source is the subscription's \
            (`FREEZE_SOURCE_RESERVED`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED`, `INVALID_REASON`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn unfreeze(
    State(state): State<AppState>,
    admin: WalletAdmin,
    ApiJson(request): ApiJson<FreezeRequest>,
) -> Result<ApiJson<FreezeResponse>, AppError> {
    set_freeze(state, admin, request, false).await
}

async fn set_freeze(
    state: AppState,
    admin: WalletAdmin,
    request: FreezeRequest,
    freeze: bool,
) -> Result<ApiJson<FreezeResponse>, AppError> {
    let reason = Reason::parse(request.reason)?;
    let source: ledger::FreezeSource = request.source.unwrap_or(FreezeSourceWire::Admin).into();
    if source == ledger::FreezeSource::Billing {
        // Billing's freeze follows the subscription (set on non-payment, lifted by a payment);
        // an operator lifting it by hand would let an unpaid organization spend.
        return Err(ApiError::conflict(
            "FREEZE_SOURCE_RESERVED",
            "the billing freeze follows the subscription: record a payment to lift it, or use \
             the admin or risk source",
        )
        .into());
    }
    let mut conn = state.conn().await?;
    let wallet_id = state.wallet_id_on(&mut conn, admin.organization_id).await?;
    let outcome = if freeze {
        let request = ledger::FreezeRequest {
            wallet_id,
            source,
            reason,
            actor: admin.actor(),
        };
        state.ledger.freeze(&mut conn, request).await?
    } else {
        let request = ledger::UnfreezeRequest {
            wallet_id,
            source,
            reason,
            actor: admin.actor(),
        };
        state.ledger.unfreeze(&mut conn, request).await?
    };
    Ok(ApiJson(outcome.into()))
}

/// Reconciles the wallet (admin only): the stored figures against the entries and open holds.
#[utoipa::path(
    get,
    path = "/v1/organizations/{organization_id}/wallet/reconciliation",
    tag = "wallet",
    params(("organization_id" = uuid::Uuid, Path, description = "The organization's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures; `clean` when they all agree.",
            body = ReconciliationResponse),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such wallet (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn reconcile_wallet(
    State(state): State<AppState>,
    admin: WalletAdmin,
) -> Result<ApiJson<ReconciliationResponse>, AppError> {
    let mut conn = state.conn().await?;
    let wallet_id = state.wallet_id_on(&mut conn, admin.organization_id).await?;
    let reconciliation = state.ledger.reconcile(&mut conn, wallet_id).await?;
    Ok(ApiJson(reconciliation.into()))
}
