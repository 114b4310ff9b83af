//! Debits, credits and corrections: `/v1/organizations/{organization_id}/wallet/...`.
//!
//! Every input is validated before the request is queued, so refused input writes nothing. The
//! ledger's batching writer (`ledger::LedgerWriter`) then decides under the wallet's row lock
//! (funds, freezes, replays), in a transaction it shares with other requests; the handler holds
//! no connection meanwhile.

use axum::{extract::State, response::Response};
use httpkit::{ApiJson, IdempotencyKey, ProblemBody};
use ledger::{Counterparty, Reason};

use super::responses::AdminRequired;
use super::wallet::{
    DEFAULT_COUNTERPARTY, entry_receipt, positive_amount, reference, signed_amount,
};
use crate::{
    AppError, AppState,
    access::{WalletAdmin, WalletCaller},
    wire::wallet::{CorrectionRequest, CreditRequest, DebitRequest, EntryReceipt},
};

/// Takes money out of the wallet, e.g. for sent messages. Limited by the available amount;
/// refused while the wallet is frozen.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/debits",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this debit: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body = DebitRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Debited.", body = EntryReceipt),
        (status = 200, description = "A replay: this reference was already debited with the \
            same parameters; the original entry (header `Idempotent-Replayed: true`).",
            body = EntryReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 404, description = "No such wallet, or not the caller's (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`FROZEN_WALLET` (with `sources`), or \
            `IDEMPOTENCY_CONFLICT`: the reference was used with different parameters.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INSUFFICIENT_FUNDS` (with `available`, `requested`), \
            `INVALID_AMOUNT`, `INVALID_CURRENCY`, `CURRENCY_MISMATCH`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `REFERENCE_MISMATCH`, `INVALID_REFERENCE`, \
            `INVALID_IDEMPOTENCY_KEY`, `INVALID_COUNTERPARTY`, `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn debit(
    State(state): State<AppState>,
    caller: WalletCaller,
    key: Option<IdempotencyKey>,
    ApiJson(request): ApiJson<DebitRequest>,
) -> Result<Response, AppError> {
    let reference = reference(key, request.reference)?;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let counterparty = Counterparty::parse(
        request
            .counterparty
            .unwrap_or_else(|| DEFAULT_COUNTERPARTY.to_owned()),
    )?;
    let wallet_id = state.wallet_id(caller.organization_id).await?;
    let request = ledger::DebitRequest {
        wallet_id,
        amount,
        counterparty,
        reference,
        actor: caller.actor(),
    };
    let outcome = state.writer.debit(request).await?;
    Ok(entry_receipt(outcome))
}

/// Puts money into the wallet (admin only), e.g. a manual top-up. Recorded on frozen wallets
/// too: money received is never lost.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/credits",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this credit: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body = CreditRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Credited.", body = EntryReceipt),
        (status = 200, description = "A replay: the original entry (header \
            `Idempotent-Replayed: true`).", body = EntryReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such wallet (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The reference was used with different parameters \
            (`IDEMPOTENCY_CONFLICT`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INVALID_AMOUNT`, `INVALID_CURRENCY`, \
            `CURRENCY_MISMATCH`, `BALANCE_OVERFLOW`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `REFERENCE_MISMATCH`, `INVALID_REFERENCE`, `INVALID_COUNTERPARTY`, \
            `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn credit(
    State(state): State<AppState>,
    admin: WalletAdmin,
    key: Option<IdempotencyKey>,
    ApiJson(request): ApiJson<CreditRequest>,
) -> Result<Response, AppError> {
    let reference = reference(key, request.reference)?;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let counterparty = Counterparty::parse(request.counterparty)?;
    let wallet_id = state.wallet_id(admin.organization_id).await?;
    let request = ledger::CreditRequest {
        wallet_id,
        amount,
        counterparty,
        reference,
        actor: admin.actor(),
    };
    let outcome = state.writer.credit(request).await?;
    Ok(entry_receipt(outcome))
}

/// An audited adjustment of the balance (admin only), with a signed amount and a mandatory
/// reason. A negative correction may take back only what is available.
#[utoipa::path(
    post,
    path = "/v1/organizations/{organization_id}/wallet/corrections",
    tag = "wallet",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200,
            pattern = "^(?!system:)[!-~]+$",
            description = "The reference of this correction: **required unless the body has \
            `reference`** (both: they must be equal, else `REFERENCE_MISMATCH`; neither: \
            `IDEMPOTENCY_KEY_REQUIRED`). 1 to 200 visible ASCII characters, not starting \
            with `system:`. A retry with the same reference and parameters is answered with \
            the original result."),
    ),
    request_body = CorrectionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Corrected.", body = EntryReceipt),
        (status = 200, description = "A replay: the original entry (header \
            `Idempotent-Replayed: true`).", body = EntryReceipt,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such wallet (`WALLET_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The reference was used with different parameters \
            (`IDEMPOTENCY_CONFLICT`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`INSUFFICIENT_FUNDS` (a negative correction above \
            what is available), `INVALID_AMOUNT` (zero or malformed), `INVALID_CURRENCY`, \
            `CURRENCY_MISMATCH`, `BALANCE_OVERFLOW`, `INVALID_REASON`, \
            `IDEMPOTENCY_KEY_REQUIRED`, `REFERENCE_MISMATCH`, `INVALID_REFERENCE`, \
            `VALIDATION_FAILED`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`WALLET_BUSY` (with `Retry-After`): the wallet is busy \
            with other requests; retry. `LEDGER_UNAVAILABLE` (with `Retry-After`): the write \
            failed and nothing was applied; retry with the same reference.",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn correct(
    State(state): State<AppState>,
    admin: WalletAdmin,
    key: Option<IdempotencyKey>,
    ApiJson(request): ApiJson<CorrectionRequest>,
) -> Result<Response, AppError> {
    let reference = reference(key, request.reference)?;
    let amount = signed_amount(&request.amount, &request.currency)?;
    let reason = Reason::parse(request.reason)?;
    let wallet_id = state.wallet_id(admin.organization_id).await?;
    let request = ledger::CorrectionRequest {
        wallet_id,
        amount,
        reason,
        reference,
        actor: admin.actor(),
    };
    let outcome = state.writer.correct(request).await?;
    Ok(entry_receipt(outcome))
}
