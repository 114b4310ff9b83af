//! The error type of every handler: domain and infrastructure errors, mapped onto problems in
//! one place so a status or code is decided once, not per handler.

use axum::response::{IntoResponse, Response};
use campaigns::{CampaignsError, eligibility::Blocker};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use enforcement::EnforcementError;
use http::StatusCode;
use httpkit::ApiError;
use intake::IntakeError;
use ledger::{InputError, LedgerError};
use outbox::OutboxError;
use primitives::Money;
use subscriptions::SubscriptionError;
use tenancy::TenancyError;

use crate::wire::campaigns::SendBlockerView;

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
    #[error(transparent)]
    Campaigns(#[from] CampaignsError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
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
            AppError::Campaigns(error) => campaigns_problem(error),
            AppError::Intake(error) => intake_problem(error),
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

/// A database error: 503 `SERVICE_UNAVAILABLE` (with `Retry-After`) when the connection was
/// lost, since the same request may succeed on a new one; else 500.
fn database_problem(error: &DieselError) -> ApiError {
    if connection_lost(error) {
        ApiError::unavailable_from(error)
    } else {
        ApiError::internal_from(error)
    }
}

/// 500 `INTERNAL`, unless a lost database connection (or an unavailable pool) is behind `error`,
/// found among its sources: then 503 `SERVICE_UNAVAILABLE`. For the errors of a step that wraps
/// another crate's (an outbox or notification write inside an enforcement, say).
pub fn internal_or_unavailable(error: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut source = Some(error);
    while let Some(cause) = source {
        let unavailable = cause
            .downcast_ref::<DieselError>()
            .is_some_and(connection_lost)
            || cause.is::<db::PoolError>();
        if unavailable {
            return ApiError::unavailable_from(error);
        }
        source = cause.source();
    }
    ApiError::internal_from(error)
}

/// Whether the database connection was lost under this request: the server ended the session
/// (`pg_terminate_backend`, a restart, a failover), the socket broke, or a rollback that could
/// not reach the server left the connection unusable. The pool discards such a connection, so a
/// retry gets a new one.
///
/// diesel-async reports a broken socket as `UnableToSendCommand` (tokio-postgres errors without
/// a SQLSTATE) and the server's own goodbye (SQLSTATE 57P01 to 57P05, class 08) as `Unknown`,
/// whose SQLSTATE it does not pass on; those are told by PostgreSQL's message, whose wording is
/// stable (and English unless `lc_messages` says otherwise).
pub fn connection_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | DieselError::BrokenTransactionManager => true,
        DieselError::DatabaseError(_, info) => ended_by_server(info.message()),
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => connection_lost(rollback_error) || connection_lost(commit_error),
        _ => false,
    }
}

fn ended_by_server(message: &str) -> bool {
    const GOODBYES: [&str; 5] = [
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P05 idle_session_timeout, 25P03
        // idle_in_transaction_session_timeout: "terminating connection due to ..."
        "terminating connection",
        // 57P03 cannot_connect_now: "the database system is shutting down", "... starting up"
        "the database system is",
        // libpq-style wording of a broken socket, and tokio-postgres's
        "server closed the connection",
        "connection closed",
        "connection reset",
    ];
    let message = message.to_ascii_lowercase();
    GOODBYES.iter().any(|goodbye| message.contains(goodbye))
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
        | EnforcementError::Effect(_)) => internal_or_unavailable(&error),
    }
}

/// The webhook inbox's operator errors (docs/webhooks.md). A failed re-apply is not an error
/// here: it is recorded on the delivery, which the handler returns.
fn intake_problem(error: IntakeError) -> ApiError {
    match error {
        IntakeError::NotFound(id) => ApiError::new(
            StatusCode::NOT_FOUND,
            "WEBHOOK_EVENT_NOT_FOUND",
            "Webhook event not found",
        )
        .with_detail("no such webhook delivery in the inbox")
        .with_member("event_id", id),
        IntakeError::Pool(_) => ApiError::service_unavailable("the database is unavailable"),
        IntakeError::Database(error) => database_problem(&error),
        error => internal_or_unavailable(&error),
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
        error @ (OutboxError::Corrupt(_) | OutboxError::Encode { .. }) => {
            ApiError::internal_from(&error)
        }
    }
}

/// The campaigns domain's errors (docs/api.md, "Brands and campaigns"). Ledger and subscription
/// errors keep their own codes and members; internal errors say nothing about their cause.
fn campaigns_problem(error: CampaignsError) -> ApiError {
    let code = error.code();
    let detail = error.to_string();
    match error {
        CampaignsError::InvalidInput { field, reason } => {
            ApiError::validation(code, format!("{field} {reason}")).with_member("field", field)
        }
        CampaignsError::InvalidPhoneNumbers { count, invalid } => {
            let invalid: Vec<serde_json::Value> = invalid
                .into_iter()
                .map(|phone| serde_json::json!({"index": phone.index, "value": phone.value}))
                .collect();
            ApiError::validation(code, detail)
                .with_member("field", "numbers")
                .with_member("count", count)
                .with_member("invalid", invalid)
        }
        CampaignsError::TooManyRecipients { max } => ApiError::validation(code, detail)
            .with_member("field", "numbers")
            .with_member("max", max),
        CampaignsError::CurrencyMismatch { wallet, requested } => {
            ApiError::validation(code, detail)
                .with_member("field", "currency")
                .with_member("wallet_currency", wallet.code())
                .with_member("requested_currency", requested.code())
        }
        CampaignsError::CostOverflow => invalid_amount(
            "the cost of a message (price per segment x segments) does not fit in the amounts \
             the wallet can hold",
        )
        .with_member("field", "price_per_segment"),
        CampaignsError::BrandNotFound => brand_not_found(),
        CampaignsError::CampaignNotFound => campaign_not_found(),
        CampaignsError::RecipientNotFound => {
            ApiError::new(StatusCode::NOT_FOUND, code, "Recipient not found")
                .with_detail("no such recipient in this campaign")
        }
        CampaignsError::SubaccountTaken => ApiError::conflict(
            code,
            "this Twilio subaccount already belongs to a brand; each brand needs its own",
        )
        .with_member("field", "twilio_subaccount_sid"),
        CampaignsError::InvalidState { status, .. } => {
            ApiError::new(StatusCode::CONFLICT, code, "Campaign state conflict")
                .with_detail(detail)
                // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
                .with_member("campaign_status", status.as_str())
        }
        CampaignsError::NoRecipients => ApiError::validation(code, detail),
        CampaignsError::NotEligible(blockers) => not_eligible(&blockers),
        CampaignsError::NotUnconfirmed { status } => {
            ApiError::new(StatusCode::CONFLICT, code, "Recipient not unconfirmed")
                .with_detail(format!(
                    "the recipient is {status}: only an unconfirmed recipient can be resolved"
                ))
                .with_member("recipient_status", status.as_str())
        }
        CampaignsError::Ledger(error) => ledger_problem(error),
        CampaignsError::Subscription(error) => subscription_problem(error),
        CampaignsError::Pool(error) => ApiError::unavailable_from(&error),
        CampaignsError::Database(error) => database_problem(&error),
        error @ (CampaignsError::Corrupt(_)
        | CampaignsError::Outbox(_)
        | CampaignsError::OutboxInput(_)) => internal_or_unavailable(&error),
    }
}

/// The organization may not send: the status and code are the first blocker's (402
/// `SUBSCRIPTION_INACTIVE`, 409 `FROZEN_WALLET`, 409 `MESSAGING_SUSPENDED`, 422
/// `INSUFFICIENT_FUNDS`), `reasons` lists every blocker, and the first one's details are also
/// members of the problem, as the ledger's problems of the same codes have them (`sources`,
/// `available` ...).
fn not_eligible(blockers: &[Blocker]) -> ApiError {
    let Some(first) = blockers.first() else {
        tracing::error!("campaigns reported ineligibility without a blocker");
        return ApiError::internal();
    };
    let (status, title) = match first {
        Blocker::SubscriptionInactive { .. } => {
            (StatusCode::PAYMENT_REQUIRED, "Subscription inactive")
        }
        Blocker::WalletFrozen { .. } => (StatusCode::CONFLICT, "Wallet frozen"),
        Blocker::MessagingSuspended { .. } => (StatusCode::CONFLICT, "Messaging suspended"),
        Blocker::InsufficientFunds { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Insufficient funds")
        }
    };
    let reasons: Vec<SendBlockerView> = blockers.iter().map(SendBlockerView::from).collect();
    let codes: Vec<&str> = blockers.iter().map(Blocker::code).collect();
    let mut problem = ApiError::new(status, first.code(), title).with_detail(format!(
        "the organization may not send now: {}",
        codes.join(", ")
    ));
    if let Ok(serde_json::Value::Object(members)) =
        serde_json::to_value(SendBlockerView::from(first))
    {
        for (name, value) in members {
            if name != "code" && name != "reason" {
                problem = problem.with_member(&name, value);
            }
        }
    }
    problem.with_member("reasons", reasons)
}

/// The same answer for a missing brand and for another organization's (G11).
pub fn brand_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "BRAND_NOT_FOUND", "Brand not found")
        .with_detail("no such brand in this organization")
}

/// The same answer for a missing campaign and for another organization's (G11).
pub fn campaign_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CAMPAIGN_NOT_FOUND",
        "Campaign not found",
    )
    .with_detail("no such campaign in this organization")
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
    use campaigns::eligibility::Blocker;
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
    fn campaigns_errors_map_to_stable_codes_and_statuses() {
        use campaigns::{CampaignStatus, InvalidPhone, RecipientStatus};

        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let cases = [
            (
                CampaignsError::InvalidInput {
                    field: "name",
                    reason: "must be 1 to 200 characters",
                },
                422,
                "VALIDATION_FAILED",
            ),
            (
                CampaignsError::InvalidPhoneNumbers {
                    count: 1,
                    invalid: vec![],
                },
                422,
                "INVALID_PHONE_NUMBER",
            ),
            (
                CampaignsError::TooManyRecipients { max: 10_000 },
                422,
                "TOO_MANY_RECIPIENTS",
            ),
            (
                CampaignsError::CurrencyMismatch {
                    wallet: Currency::USD,
                    requested: Currency::EUR,
                },
                422,
                "CURRENCY_MISMATCH",
            ),
            (CampaignsError::CostOverflow, 422, "INVALID_AMOUNT"),
            (CampaignsError::BrandNotFound, 404, "BRAND_NOT_FOUND"),
            (CampaignsError::CampaignNotFound, 404, "CAMPAIGN_NOT_FOUND"),
            (
                CampaignsError::RecipientNotFound,
                404,
                "RECIPIENT_NOT_FOUND",
            ),
            (CampaignsError::SubaccountTaken, 409, "SUBACCOUNT_TAKEN"),
            (
                CampaignsError::InvalidState {
                    action: "start",
                    status: CampaignStatus::Running,
                },
                409,
                "CAMPAIGN_STATE_CONFLICT",
            ),
            (CampaignsError::NoRecipients, 422, "NO_RECIPIENTS"),
            (
                CampaignsError::NotUnconfirmed {
                    status: RecipientStatus::Sent,
                },
                409,
                "RECIPIENT_NOT_UNCONFIRMED",
            ),
            (
                CampaignsError::Ledger(LedgerError::InsufficientFunds {
                    available: usd(5),
                    requested: usd(500),
                }),
                422,
                "INSUFFICIENT_FUNDS",
            ),
            (
                CampaignsError::Ledger(LedgerError::FrozenWallet {
                    sources: vec![ledger::FreezeSource::Billing],
                }),
                409,
                "FROZEN_WALLET",
            ),
            (
                CampaignsError::Ledger(LedgerError::Busy),
                503,
                "WALLET_BUSY",
            ),
            (
                CampaignsError::Subscription(SubscriptionError::OrganizationNotFound),
                404,
                "ORGANIZATION_NOT_FOUND",
            ),
            (
                CampaignsError::Corrupt("campaign 42: status (secret detail)".into()),
                500,
                "INTERNAL",
            ),
            (
                CampaignsError::Database(DieselError::NotFound),
                500,
                "INTERNAL",
            ),
            (
                CampaignsError::Outbox(OutboxError::Corrupt("secret detail".into())),
                500,
                "INTERNAL",
            ),
            (
                CampaignsError::OutboxInput(outbox::InputError {
                    field: "dedupe_key",
                    message: "secret detail",
                }),
                500,
                "INTERNAL",
            ),
            (
                CampaignsError::Database(DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection,
                    Box::new("secret detail".to_owned()),
                )),
                503,
                "SERVICE_UNAVAILABLE",
            ),
            (CampaignsError::NotEligible(vec![]), 500, "INTERNAL"),
        ];
        for (error, status, code) in cases {
            let problem = ApiError::from(AppError::from(error));
            assert_eq!(problem.status().as_u16(), status, "{code}");
            assert_eq!(problem.code(), code);
            let body = serde_json::to_string(&problem.body()).unwrap_or_default();
            assert!(!body.contains("secret"), "{body}");
        }

        let phones = campaigns_problem(CampaignsError::InvalidPhoneNumbers {
            count: 25,
            invalid: vec![InvalidPhone {
                index: 3,
                value: "0800 FLOWERS".into(),
            }],
        });
        assert_eq!(phones.member("count"), Some(&25.into()));
        assert_eq!(
            phones.member("invalid"),
            Some(&serde_json::json!([{"index": 3, "value": "0800 FLOWERS"}]))
        );
        let state = campaigns_problem(CampaignsError::InvalidState {
            action: "add recipients to",
            status: CampaignStatus::Running,
        });
        assert_eq!(state.member("campaign_status"), Some(&"running".into()));
        assert_eq!(state.status(), StatusCode::CONFLICT, "not shadowed");
        let input = campaigns_problem(CampaignsError::InvalidInput {
            field: "body",
            reason: "must be 1 to 1600 characters, not only spaces",
        });
        assert_eq!(input.member("field"), Some(&"body".into()));
        let funds = campaigns_problem(CampaignsError::Ledger(LedgerError::InsufficientFunds {
            available: usd(5),
            requested: usd(500),
        }));
        assert_eq!(funds.member("requested"), Some(&"5.00".into()));
        let unavailable = campaigns_problem(CampaignsError::Pool(db::PoolError::Closed));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn not_eligible_takes_the_first_blockers_status_and_code_and_lists_every_reason() {
        use campaigns::{BrandId, MessagingStatus};
        use subscriptions::{DenialReason, SubscriptionStatus};

        let usd = |minor| Money::from_minor(minor, Currency::USD);
        let brand = BrandId::new();
        let subscription = Blocker::SubscriptionInactive {
            status: Some(SubscriptionStatus::PastDue),
            denied_because: vec![DenialReason::Status {
                status: SubscriptionStatus::PastDue,
            }],
        };
        let frozen = Blocker::WalletFrozen {
            sources: vec![ledger::FreezeSource::Billing],
        };
        let messaging = Blocker::MessagingSuspended {
            brands: vec![(brand, MessagingStatus::Suspended)],
        };
        let funds = Blocker::InsufficientFunds {
            available: usd(10),
            required: usd(500),
        };
        let all = vec![
            subscription.clone(),
            frozen.clone(),
            messaging.clone(),
            funds.clone(),
        ];
        let problem = campaigns_problem(CampaignsError::NotEligible(all));
        assert_eq!(problem.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(problem.code(), "SUBSCRIPTION_INACTIVE");
        assert_eq!(
            problem.member("reasons"),
            Some(&serde_json::json!([
                {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
                 "subscription_status": "past_due",
                 "denied_because": [{"code": "SUBSCRIPTION_INACTIVE"}]},
                {"code": "FROZEN_WALLET", "reason": "wallet_frozen", "sources": ["billing"]},
                {"code": "MESSAGING_SUSPENDED", "reason": "messaging_suspended",
                 "brands": [{"brand_id": brand.as_uuid(), "messaging_status": "suspended"}]},
                {"code": "INSUFFICIENT_FUNDS", "reason": "insufficient_funds",
                 "available": "0.10", "required": "5.00", "currency": "USD"},
            ]))
        );
        assert_eq!(
            problem.member("subscription_status"),
            Some(&"past_due".into())
        );
        for (first, status, code) in [
            (frozen, StatusCode::CONFLICT, "FROZEN_WALLET"),
            (messaging, StatusCode::CONFLICT, "MESSAGING_SUSPENDED"),
            (
                funds,
                StatusCode::UNPROCESSABLE_ENTITY,
                "INSUFFICIENT_FUNDS",
            ),
        ] {
            let problem = campaigns_problem(CampaignsError::NotEligible(vec![first]));
            assert_eq!(problem.status(), status, "{code}");
            assert_eq!(problem.code(), code);
            let reasons = problem.member("reasons").and_then(|r| r.as_array());
            assert_eq!(reasons.map(Vec::len), Some(1), "{code}");
        }
        let problem = campaigns_problem(CampaignsError::NotEligible(vec![Blocker::WalletFrozen {
            sources: vec![ledger::FreezeSource::Risk],
        }]));
        // The first blocker's details at the top too, as the ledger's FROZEN_WALLET has them.
        assert_eq!(
            problem.member("sources"),
            Some(&serde_json::json!(["risk"]))
        );
        // A subscription without status is null, not absent.
        let problem = campaigns_problem(CampaignsError::NotEligible(vec![
            Blocker::SubscriptionInactive {
                status: None,
                denied_because: vec![DenialReason::NoSubscription],
            },
        ]));
        assert_eq!(
            problem.member("reasons"),
            Some(&serde_json::json!([
                {"code": "SUBSCRIPTION_INACTIVE", "reason": "subscription_inactive",
                 "subscription_status": null,
                 "denied_because": [{"code": "NO_SUBSCRIPTION"}]},
            ]))
        );
    }

    #[test]
    fn a_lost_database_connection_is_a_retryable_503_wherever_it_surfaces() {
        let lost = || {
            [
                DieselError::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new("terminating connection due to administrator command".to_owned()),
                ),
                DieselError::DatabaseError(
                    DatabaseErrorKind::UnableToSendCommand,
                    Box::new("connection closed".to_owned()),
                ),
                DieselError::DatabaseError(
                    DatabaseErrorKind::ClosedConnection,
                    Box::new("secret detail".to_owned()),
                ),
                DieselError::DatabaseError(
                    DatabaseErrorKind::Unknown,
                    Box::new("the database system is shutting down".to_owned()),
                ),
                DieselError::BrokenTransactionManager,
                DieselError::RollbackErrorOnCommit {
                    rollback_error: Box::new(DieselError::BrokenTransactionManager),
                    commit_error: Box::new(DieselError::DatabaseError(
                        DatabaseErrorKind::UnableToSendCommand,
                        Box::new("connection reset by peer".to_owned()),
                    )),
                },
            ]
        };
        let wrapped = |error: DieselError| -> Vec<AppError> {
            let copy = || match &error {
                DieselError::DatabaseError(kind, info) => {
                    DieselError::DatabaseError(*kind, Box::new(info.message().to_owned()))
                }
                DieselError::BrokenTransactionManager => DieselError::BrokenTransactionManager,
                _ => DieselError::RollbackErrorOnCommit {
                    rollback_error: Box::new(DieselError::BrokenTransactionManager),
                    commit_error: Box::new(DieselError::BrokenTransactionManager),
                },
            };
            vec![
                AppError::Database(copy()),
                AppError::Ledger(LedgerError::Database(copy())),
                AppError::Tenancy(TenancyError::Database(copy())),
                AppError::Outbox(OutboxError::Database(copy())),
                AppError::Campaigns(CampaignsError::Database(copy())),
                AppError::Campaigns(CampaignsError::Outbox(OutboxError::Database(copy()))),
                AppError::Enforcement(EnforcementError::Database(copy())),
                AppError::Enforcement(EnforcementError::Outbox(OutboxError::Database(copy()))),
                AppError::Enforcement(EnforcementError::Ledger(LedgerError::Database(copy()))),
                AppError::Intake(IntakeError::Database(copy())),
                AppError::Intake(IntakeError::Enforcement(EnforcementError::Outbox(
                    OutboxError::Database(copy()),
                ))),
            ]
        };
        for error in lost() {
            assert!(connection_lost(&error), "{error:?}");
            for app_error in wrapped(error) {
                let debug = format!("{app_error:?}");
                let problem = ApiError::from(app_error);
                assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE, "{debug}");
                // Subscriptions call a broken socket busy; everything else is unavailable.
                assert_eq!(problem.code(), "SERVICE_UNAVAILABLE", "{debug}");
                let response = problem.into_response();
                assert_eq!(
                    response.headers()[http::header::RETRY_AFTER],
                    "1",
                    "{debug}"
                );
            }
        }
        for other in [
            DieselError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::CheckViolation,
                Box::new("new row violates check constraint".to_owned()),
            ),
            DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("relation \"wallets\" does not exist".to_owned()),
            ),
        ] {
            assert!(!connection_lost(&other), "{other:?}");
            let problem = ApiError::from(AppError::Database(other));
            assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
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
