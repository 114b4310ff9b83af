//! The error type of every handler: domain and infrastructure errors, mapped onto problems in
//! one place so a status or code is decided once, not per handler.

use axum::response::{IntoResponse, Response};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use enforcement::EnforcementError;
use http::StatusCode;
use httpkit::ApiError;
use ledger::{InputError, LedgerError};
use outbox::OutboxError;
use primitives::Money;
use subscriptions::SubscriptionError;
use tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Already a problem (validation at the edge, access checks).
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    Enforcement(#[from] EnforcementError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("database error")]
    Database(#[from] DieselError),
    #[error("no database connection available")]
    Pool(#[from] db::PoolError),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Api(problem) => problem,
            AppError::Tenancy(error) => tenancy_problem(error),
            AppError::Ledger(error) => ledger_problem(error),
            AppError::Subscription(error) => subscription_problem(error),
            AppError::Enforcement(error) => enforcement_problem(error),
            AppError::Outbox(error) => outbox_problem(error),
            AppError::Database(error) => database_problem(&error),
            AppError::Pool(error) => ApiError::unavailable_from(&error),
        }
    }
}

/// Text inputs validated by the ledger's types (references, reasons, counterparties) at the edge.
impl From<InputError> for AppError {
    fn from(error: InputError) -> Self {
        Self::Ledger(LedgerError::Input(error))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

fn tenancy_problem(error: TenancyError) -> ApiError {
    let code = error.code();
    match error {
        TenancyError::OrganizationNotFound(_) => organization_not_found(),
        TenancyError::ApiKeyNotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, code, "API key not found")
                .with_detail("no such API key in this organization")
        }
        TenancyError::OrganizationExists(_) => {
            ApiError::conflict(code, "an organization with this id already exists")
        }
        TenancyError::InvalidName { .. } | TenancyError::InvalidEmail { .. } => {
            ApiError::validation(code, error.to_string())
        }
        TenancyError::Database(error) => database_problem(&error),
    }
}

/// The same answer for a missing organization and for one the caller may not see (G11), so
/// ids cannot be probed.
pub fn organization_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ORGANIZATION_NOT_FOUND",
        "Organization not found",
    )
    .with_detail("no such organization")
}

fn database_problem(error: &DieselError) -> ApiError {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            ApiError::unavailable_from(error)
        }
        _ => ApiError::internal_from(error),
    }
}

/// The ledger's errors (docs/ledger.md, "Error codes"). Figures are exact decimal strings in the
/// wallet's currency, never floats; internal errors say nothing about their cause.
fn ledger_problem(error: LedgerError) -> ApiError {
    let code = error.code();
    let detail = error.to_string();
    match error {
        LedgerError::WalletNotFound => wallet_not_found(),
        LedgerError::WalletAlreadyExists { currency, .. } => {
            ApiError::conflict(code, detail).with_member("currency", currency.code())
        }
        LedgerError::InsufficientFunds {
            available,
            requested,
        } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Insufficient funds")
            .with_detail(detail)
            .with_member("available", decimal(available))
            .with_member("requested", decimal(requested))
            .with_member("currency", available.currency().code()),
        LedgerError::FrozenWallet { sources } => {
            let sources: Vec<&str> = sources.iter().map(|source| source.as_str()).collect();
            ApiError::new(StatusCode::CONFLICT, code, "Wallet frozen")
                .with_detail(detail)
                .with_member("sources", sources)
        }
        LedgerError::InvalidAmount { .. } => invalid_amount(detail),
        LedgerError::CurrencyMismatch { wallet, requested } => ApiError::validation(code, detail)
            .with_member("wallet_currency", wallet.code())
            .with_member("requested_currency", requested.code()),
        LedgerError::IdempotencyConflict {
            reference,
            original_kind,
        } => ApiError::conflict(
            code,
            "this reference was already used on this wallet with different parameters",
        )
        .with_member("reference", reference.as_str())
        .with_member("original_kind", original_kind.as_str()),
        LedgerError::HoldNotFound { hold_id } => hold_not_found().with_member("hold_id", hold_id),
        LedgerError::HoldNotOpen { hold_id, status } => {
            ApiError::new(StatusCode::CONFLICT, code, "Hold not open")
                .with_detail(format!("hold {hold_id} is {}", status.as_str()))
                .with_member("hold_id", hold_id)
                // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
                .with_member("hold_status", status.as_str())
        }
        LedgerError::CaptureExceedsHold {
            hold_id,
            remaining,
            requested,
        } => ApiError::validation(code, detail)
            .with_member("hold_id", hold_id)
            .with_member("remaining", decimal(remaining))
            .with_member("requested", decimal(requested))
            .with_member("currency", remaining.currency().code()),
        LedgerError::BalanceOverflow { balance, requested } => ApiError::validation(code, detail)
            .with_member("balance", decimal(balance))
            .with_member("requested", decimal(requested))
            .with_member("currency", balance.currency().code()),
        LedgerError::InvalidExpiry { .. } => ApiError::validation(code, detail),
        LedgerError::OrganizationNotFound => organization_not_found(),
        LedgerError::UnsupportedCurrency { code: currency } => {
            ApiError::validation(code, detail).with_member("currency", currency)
        }
        // A serialization conflict or lock timeout: the same request may succeed shortly.
        LedgerError::Busy => busy(code, "Wallet busy", detail),
        LedgerError::Input(input) => {
            ApiError::validation(input.code, input.to_string()).with_member("field", input.field)
        }
        LedgerError::Database(error) => database_problem(&error),
        error @ LedgerError::Corrupt(_) => ApiError::internal_from(&error),
    }
}

/// The subscriptions domain's errors (docs/api.md). A busy subscription is retryable like a busy
/// wallet; internal errors say nothing about their cause.
fn subscription_problem(error: SubscriptionError) -> ApiError {
    let code = error.code();
    match error {
        SubscriptionError::NotFound => subscription_not_found(),
        SubscriptionError::OrganizationNotFound => organization_not_found(),
        SubscriptionError::AlreadyLive { existing, .. } => ApiError::conflict(
            code,
            "the organization already has a live subscription; cancel it (or let it expire) \
             before creating another",
        )
        .with_member("subscription_id", existing),
        SubscriptionError::EventIdTaken { kind } => ApiError::conflict(
            code,
            format!("this Idempotency-Key already names a {kind} event; use a new key"),
        ),
        SubscriptionError::ProviderIdTaken => ApiError::conflict(
            code,
            "this provider subscription id already belongs to another subscription",
        ),
        SubscriptionError::Invalid { field, message } => {
            ApiError::validation(code, format!("{field}: {message}")).with_member("field", field)
        }
        SubscriptionError::Busy => {
            busy(code, "Subscription busy", "the subscription is busy; retry")
        }
        SubscriptionError::Database(error) => database_problem(&error),
        error @ SubscriptionError::Corrupt(_) => ApiError::internal_from(&error),
    }
}

/// Applying an event with its effects: the subscription's and the wallet's errors keep their
/// own codes (a busy wallet is as retryable here as anywhere); a failing outbox, notification or
/// effect is internal, and rolled the whole event back.
fn enforcement_problem(error: EnforcementError) -> ApiError {
    match error {
        EnforcementError::Subscription(error) => subscription_problem(error),
        EnforcementError::Ledger(error) => ledger_problem(error),
        EnforcementError::Database(error) => database_problem(&error),
        error @ (EnforcementError::Outbox(_)
        | EnforcementError::Notification(_)
        | EnforcementError::Effect(_)) => ApiError::internal_from(&error),
    }
}

/// The outbox's operator errors (docs/outbox.md). Internal errors say nothing about their cause.
fn outbox_problem(error: OutboxError) -> ApiError {
    let code = error.code();
    match error {
        OutboxError::NotFound(id) => {
            ApiError::new(StatusCode::NOT_FOUND, code, "Outbox message not found")
                .with_detail("no such outbox message")
                .with_member("message_id", id)
        }
        OutboxError::NotDead { id, status } => {
            ApiError::new(StatusCode::CONFLICT, code, "Outbox message not dead")
                .with_detail(format!(
                    "outbox message {id} is {status}: only a dead message can be retried"
                ))
                .with_member("message_id", id)
                // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
                .with_member("message_status", status.as_str())
        }
        OutboxError::Input(input) => {
            ApiError::validation(code, input.to_string()).with_member("field", input.field)
        }
        OutboxError::Pool(error) => ApiError::unavailable_from(&error),
        OutboxError::Database(error) => database_problem(&error),
        error @ OutboxError::Corrupt(_) => ApiError::internal_from(&error),
    }
}

/// 503 with `Retry-After: 1`: a lock or serialization conflict; the same request may succeed
/// shortly.
fn busy(code: &'static str, title: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, title)
        .with_detail(detail)
        .with_header(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        )
}

/// The organization has no subscription (or the caller may not see it).
pub fn subscription_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
        "Subscription not found",
    )
    .with_detail("the organization has no subscription")
}

fn decimal(money: Money) -> String {
    money.to_decimal_string()
}

/// The same answer for a missing wallet and for one the caller may not see (G11).
pub fn wallet_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "WALLET_NOT_FOUND",
        "Wallet not found",
    )
    .with_detail("no such wallet")
}

/// A hold that does not exist on this wallet (including holds of other wallets).
fn hold_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "HOLD_NOT_FOUND", "Hold not found")
        .with_detail("no such hold on this wallet")
}

/// 422 `INVALID_AMOUNT`: a malformed, zero or negative amount.
pub fn invalid_amount(detail: impl Into<String>) -> ApiError {
    ApiError::validation("INVALID_AMOUNT", detail)
}

#[cfg(test)]
mod tests {
    use ledger::{HoldStatus, InputError};
    use primitives::{Currency, HoldId, OrganizationId};

    use super::*;

    #[test]
    fn ledger_errors_map_to_stable_codes_statuses_and_decimal_figures() {
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let cases = [
            (LedgerError::WalletNotFound, 404, "WALLET_NOT_FOUND"),
            (
                LedgerError::WalletAlreadyExists {
                    organization_id: OrganizationId::new(),
                    currency: Currency::EUR,
                },
                409,
                "WALLET_ALREADY_EXISTS",
            ),
            (
                LedgerError::InsufficientFunds {
                    available: usd(5),
                    requested: usd(1234),
                },
                422,
                "INSUFFICIENT_FUNDS",
            ),
            (
                LedgerError::InvalidExpiry { max_days: 366 },
                422,
                "INVALID_EXPIRY",
            ),
            (LedgerError::Busy, 503, "WALLET_BUSY"),
            (
                LedgerError::HoldNotOpen {
                    hold_id: HoldId::new(),
                    status: HoldStatus::Expired,
                },
                409,
                "HOLD_NOT_OPEN",
            ),
            (
                LedgerError::Input(InputError {
                    code: "INVALID_REASON",
                    field: "reason",
                    message: "must not be empty".into(),
                }),
                422,
                "INVALID_REASON",
            ),
        ];
        for (error, status, code) in cases {
            let problem = ApiError::from(AppError::from(error));
            assert_eq!(problem.status().as_u16(), status, "{code}");
            assert_eq!(problem.code(), code);
        }

        let problem = ledger_problem(LedgerError::InsufficientFunds {
            available: usd(5),
            requested: usd(1234),
        });
        assert_eq!(problem.member("available"), Some(&"0.05".into()));
        assert_eq!(problem.member("requested"), Some(&"12.34".into()));
        assert_eq!(problem.member("currency"), Some(&"USD".into()));
        let problem = ledger_problem(LedgerError::HoldNotOpen {
            hold_id: HoldId::new(),
            status: HoldStatus::Expired,
        });
        assert_eq!(problem.member("hold_status"), Some(&"expired".into()));
        assert_eq!(problem.status(), StatusCode::CONFLICT, "not shadowed");
    }

    #[test]
    fn subscription_errors_map_to_stable_codes_and_statuses() {
        let cases = [
            (SubscriptionError::NotFound, 404, "SUBSCRIPTION_NOT_FOUND"),
            (
                SubscriptionError::OrganizationNotFound,
                404,
                "ORGANIZATION_NOT_FOUND",
            ),
            (
                SubscriptionError::AlreadyLive {
                    organization: OrganizationId::new(),
                    existing: primitives::SubscriptionId::new(),
                },
                409,
                "SUBSCRIPTION_EXISTS",
            ),
            (
                SubscriptionError::ProviderIdTaken,
                409,
                "PROVIDER_SUBSCRIPTION_TAKEN",
            ),
            (
                SubscriptionError::Invalid {
                    field: "plan",
                    message: "too long",
                },
                422,
                "VALIDATION_FAILED",
            ),
            (SubscriptionError::Busy, 503, "SUBSCRIPTION_BUSY"),
            (
                SubscriptionError::Corrupt("status of 42 (secret detail)".into()),
                500,
                "INTERNAL",
            ),
            (
                SubscriptionError::Database(DieselError::NotFound),
                500,
                "INTERNAL",
            ),
        ];
        for (error, status, code) in cases {
            let problem = ApiError::from(AppError::from(error));
            assert_eq!(problem.status().as_u16(), status, "{code}");
            assert_eq!(problem.code(), code);
            let body = serde_json::to_string(&problem.body()).unwrap_or_default();
            assert!(!body.contains("secret"), "{body}");
        }
        let busy = subscription_problem(SubscriptionError::Busy).into_response();
        assert_eq!(busy.headers()[http::header::RETRY_AFTER], "1");
        let invalid = subscription_problem(SubscriptionError::Invalid {
            field: "plan",
            message: "too long",
        });
        assert_eq!(invalid.member("field"), Some(&"plan".into()));
    }

    #[test]
    fn enforcement_errors_keep_their_sources_codes() {
        let cases = [
            (
                EnforcementError::Subscription(SubscriptionError::Busy),
                503,
                "SUBSCRIPTION_BUSY",
            ),
            (
                EnforcementError::Ledger(LedgerError::Busy),
                503,
                "WALLET_BUSY",
            ),
            (
                EnforcementError::Subscription(SubscriptionError::NotFound),
                404,
                "SUBSCRIPTION_NOT_FOUND",
            ),
            (
                EnforcementError::Effect("secret detail".into()),
                500,
                "INTERNAL",
            ),
            (
                EnforcementError::Database(DieselError::NotFound),
                500,
                "INTERNAL",
            ),
        ];
        for (error, status, code) in cases {
            let problem = ApiError::from(AppError::from(error));
            assert_eq!(problem.status().as_u16(), status, "{code}");
            assert_eq!(problem.code(), code);
            let body = serde_json::to_string(&problem.body()).unwrap_or_default();
            assert!(!body.contains("secret"), "{body}");
        }
    }

    #[test]
    fn outbox_errors_map_to_stable_codes_and_statuses() {
        let id = outbox::MessageId::new();
        let cases = [
            (OutboxError::NotFound(id), 404, "OUTBOX_MESSAGE_NOT_FOUND"),
            (
                OutboxError::NotDead {
                    id,
                    status: outbox::Status::Pending,
                },
                409,
                "OUTBOX_MESSAGE_NOT_DEAD",
            ),
            (
                OutboxError::Input(outbox::InputError {
                    field: "topic",
                    message: "must be 1 to 64 characters",
                }),
                422,
                "INVALID_OUTBOX_INPUT",
            ),
            (
                OutboxError::Corrupt("status of 42 is 'gone' (secret detail)".into()),
                500,
                "INTERNAL",
            ),
            (
                OutboxError::Database(DieselError::NotFound),
                500,
                "INTERNAL",
            ),
        ];
        for (error, status, code) in cases {
            let problem = ApiError::from(AppError::from(error));
            assert_eq!(problem.status().as_u16(), status, "{code}");
            assert_eq!(problem.code(), code);
            let body = serde_json::to_string(&problem.body()).unwrap_or_default();
            assert!(!body.contains("secret"), "{body}");
        }
        let not_dead = outbox_problem(OutboxError::NotDead {
            id,
            status: outbox::Status::Delivered,
        });
        assert_eq!(not_dead.member("message_status"), Some(&"delivered".into()));
        assert_eq!(not_dead.member("message_id"), Some(&id.to_string().into()));
        assert_eq!(not_dead.status(), StatusCode::CONFLICT, "not shadowed");
    }

    #[test]
    fn internal_ledger_errors_say_nothing_about_their_cause() {
        for error in [
            LedgerError::Corrupt("wallet 42 has balance -7 (secret detail)".into()),
            LedgerError::Database(DieselError::NotFound),
        ] {
            let problem = ledger_problem(error);
            assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(problem.code(), "INTERNAL");
            let body = serde_json::to_string(&problem.body()).unwrap_or_default();
            assert!(!body.contains("secret") && !body.contains("-7"), "{body}");
            assert!(!body.to_lowercase().contains("not found"), "{body}");
        }
    }
}
