//! The error type of every handler: domain and infrastructure errors, mapped onto problems in
//! one place so a status or code is decided once, not per handler.
//!
//! Each domain error says its class and code (`primitives::Classified`); [`problem`] turns any
//! of them into a problem. What remains below is only what a class cannot say: the extra members
//! a problem carries, a title or detail worded for the caller, and the answers that must not
//! tell a missing resource from one the caller may not see (G11).

use std::error::Error;

use axum::response::{IntoResponse, Response};
use billing::ProviderError;
use campaigns::{CampaignsError, eligibility::Blocker};
use diesel::result::Error as DieselError;
use enforcement::{CustomerError, EnforcementError};
use http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use httpkit::ApiError;
use intake::IntakeError;
use ledger::{InputError, LedgerError};
use outbox::OutboxError;
use primitives::{Classified, ErrorClass, Money};
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
    #[error(transparent)]
    Customer(#[from] CustomerError),
    #[error("database error")]
    Database(#[from] DieselError),
    #[error("no database connection available")]
    Pool(#[from] db::PoolError),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Api(problem) => problem,
            AppError::Tenancy(error) => tenancy_problem(&error),
            AppError::Ledger(error) => ledger_problem(&error),
            AppError::Subscription(error) => subscription_problem(&error),
            AppError::Enforcement(error) => enforcement_problem(&error),
            AppError::Outbox(error) => outbox_problem(&error),
            AppError::Campaigns(error) => campaigns_problem(&error),
            AppError::Intake(error) => intake_problem(&error),
            AppError::Customer(error) => customer_problem(&error),
            // A lost connection is retryable: the pool discards it and a retry gets a new one.
            AppError::Database(error) if db::connection_lost(&error) => {
                ApiError::unavailable_from(&error)
            }
            AppError::Database(error) => ApiError::internal_from(&error),
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

/// The problem for any classified error: the status is its class's, the code its own and the
/// detail its text. A busy resource adds `Retry-After: 1`. The system's faults say nothing
/// about their cause (it is logged): 503 `SERVICE_UNAVAILABLE` with `Retry-After` when a retry
/// may succeed, else 500 `INTERNAL`.
pub fn problem<E: Classified + Error + 'static>(error: &E) -> ApiError {
    build(error, None)
}

/// [`problem`] with a title of its own rather than the class's.
fn titled<E: Classified + Error + 'static>(error: &E, title: &'static str) -> ApiError {
    build(error, Some(title))
}

fn build<E: Classified + Error + 'static>(error: &E, title: Option<&'static str>) -> ApiError {
    let class = error.class();
    let (status, class_title) = match class {
        ErrorClass::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed"),
        ErrorClass::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        ErrorClass::Conflict => (StatusCode::CONFLICT, "Conflict"),
        ErrorClass::NotEntitled => (StatusCode::PAYMENT_REQUIRED, "Payment required"),
        ErrorClass::Busy => (StatusCode::SERVICE_UNAVAILABLE, "Busy"),
        ErrorClass::Unavailable => return ApiError::unavailable_from(error),
        ErrorClass::Internal => return ApiError::internal_from(error),
    };
    let problem = ApiError::new(status, error.code(), title.unwrap_or(class_title))
        .with_detail(error.to_string());
    if class.is_retryable() {
        problem.with_header(RETRY_AFTER, HeaderValue::from_static("1"))
    } else {
        problem
    }
}

fn tenancy_problem(error: &TenancyError) -> ApiError {
    match error {
        TenancyError::OrganizationNotFound(_) => organization_not_found(),
        TenancyError::ApiKeyNotFound(_) => {
            titled(error, "API key not found").with_detail("no such API key in this organization")
        }
        TenancyError::OrganizationExists(_) => {
            problem(error).with_detail("an organization with this id already exists")
        }
        _ => problem(error),
    }
}

/// The ledger's errors (docs/ledger.md, "Error codes"). Figures are exact decimal strings in the
/// wallet's currency, never floats.
fn ledger_problem(error: &LedgerError) -> ApiError {
    match error {
        LedgerError::WalletNotFound => wallet_not_found(),
        LedgerError::OrganizationNotFound => organization_not_found(),
        // Holds of other wallets included.
        LedgerError::HoldNotFound { hold_id } => titled(error, "Hold not found")
            .with_detail("no such hold on this wallet")
            .with_member("hold_id", hold_id),
        LedgerError::WalletAlreadyExists { currency, .. } => {
            problem(error).with_member("currency", currency.code())
        }
        LedgerError::InsufficientFunds {
            available,
            requested,
        } => titled(error, "Insufficient funds")
            .with_member("available", decimal(*available))
            .with_member("requested", decimal(*requested))
            .with_member("currency", available.currency().code()),
        LedgerError::FrozenWallet { sources } => {
            let sources: Vec<&str> = sources.iter().map(|source| source.as_str()).collect();
            titled(error, "Wallet frozen").with_member("sources", sources)
        }
        LedgerError::CurrencyMismatch { wallet, requested } => problem(error)
            .with_member("wallet_currency", wallet.code())
            .with_member("requested_currency", requested.code()),
        LedgerError::IdempotencyConflict {
            reference,
            original_kind,
        } => problem(error)
            .with_detail("this reference was already used on this wallet with different parameters")
            .with_member("reference", reference.as_str())
            .with_member("original_kind", original_kind.as_str()),
        LedgerError::HoldNotOpen { hold_id, status } => titled(error, "Hold not open")
            .with_detail(format!("hold {hold_id} is {}", status.as_str()))
            .with_member("hold_id", hold_id)
            // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
            .with_member("hold_status", status.as_str()),
        LedgerError::CaptureExceedsHold {
            hold_id,
            remaining,
            requested,
        } => problem(error)
            .with_member("hold_id", hold_id)
            .with_member("remaining", decimal(*remaining))
            .with_member("requested", decimal(*requested))
            .with_member("currency", remaining.currency().code()),
        LedgerError::BalanceOverflow { balance, requested } => problem(error)
            .with_member("balance", decimal(*balance))
            .with_member("requested", decimal(*requested))
            .with_member("currency", balance.currency().code()),
        LedgerError::UnsupportedCurrency { code } => problem(error).with_member("currency", code),
        LedgerError::Busy => titled(error, "Wallet busy"),
        // The batching writer's whole transaction failed: retryable, nothing applied. Its own
        // code, but like every fault it says nothing of the cause (logged).
        LedgerError::Unavailable { .. } => {
            tracing::warn!(error = %error, "ledger writer unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                error.code(),
                "Ledger unavailable",
            )
            .with_detail(
                "the ledger could not write this request; nothing was applied: retry the same \
                 request (with the same reference)",
            )
            .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
        }
        LedgerError::Input(input) => problem(error).with_member("field", input.field),
        _ => problem(error),
    }
}

fn subscription_problem(error: &SubscriptionError) -> ApiError {
    match error {
        SubscriptionError::NotFound => subscription_not_found(),
        SubscriptionError::OrganizationNotFound => organization_not_found(),
        SubscriptionError::AlreadyLive { existing, .. } => problem(error)
            .with_detail(
                "the organization already has a live subscription; cancel it (or let it \
                 expire) before creating another",
            )
            .with_member("subscription_id", existing),
        SubscriptionError::EventIdTaken { kind } => problem(error).with_detail(format!(
            "this Idempotency-Key already names a {kind} event; use a new key"
        )),
        SubscriptionError::ProviderIdTaken => problem(error)
            .with_detail("this provider subscription id already belongs to another subscription"),
        SubscriptionError::Invalid { field, message } => problem(error)
            .with_detail(format!("{field}: {message}"))
            .with_member("field", field),
        SubscriptionError::Busy => titled(error, "Subscription busy"),
        _ => problem(error),
    }
}

/// The subscription's and the wallet's errors keep their members here too.
fn enforcement_problem(error: &EnforcementError) -> ApiError {
    match error {
        EnforcementError::Subscription(error) => subscription_problem(error),
        EnforcementError::Ledger(error) => ledger_problem(error),
        _ => problem(error),
    }
}

/// How long a caller waits before retrying a provider that could not be reached.
const PROVIDER_RETRY_AFTER: HeaderValue = HeaderValue::from_static("5");

/// The customer actions' errors (docs/api.md, "Customer actions"). A provider's failure gets
/// its own codes rather than its class's: 503 `PROVIDER_UNAVAILABLE` (retry the same request,
/// nothing was written) and 502 `PROVIDER_REFUSED` (the provider said no; nothing was
/// written), naming the provider but never echoing its message (logged instead).
fn customer_problem(error: &CustomerError) -> ApiError {
    match error {
        CustomerError::Invalid { field, .. } => problem(error).with_member("field", field),
        CustomerError::PlanNotOffered {
            provider, offered, ..
        } => problem(error)
            .with_member("field", "plan")
            .with_member("provider", provider.as_str())
            .with_member("offered", offered),
        CustomerError::ProviderNotConfigured { provider } => problem(error)
            .with_member("field", "provider")
            .with_member("provider", provider.as_str()),
        CustomerError::OperationUnsupported { provider, .. } => {
            titled(error, "Operation not supported by the provider")
                .with_member("provider", provider.as_str())
        }
        CustomerError::StateConflict { status, .. } => titled(error, "Subscription state conflict")
            // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
            .with_member("subscription_status", status.as_str()),
        CustomerError::IdempotencyConflict { .. } => {
            problem(error).with_detail(format!("{error}; use a new key for this request"))
        }
        CustomerError::TopUpNotFound => {
            titled(error, "Top-up not found").with_detail("no such top-up in this organization")
        }
        CustomerError::CurrencyNotOffered { offered, .. } => problem(error)
            .with_member("field", "currency")
            .with_member("offered", offered),
        CustomerError::AmountOutOfRange { min, max, .. } => problem(error)
            .with_member("field", "amount")
            .with_member("min", decimal(*min))
            .with_member("max", decimal(*max))
            .with_member("currency", min.currency().code()),
        CustomerError::ProviderUnavailable { provider, source } => {
            tracing::warn!(provider = provider.as_str(), error = %source, "provider unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "PROVIDER_UNAVAILABLE",
                "Provider unavailable",
            )
            .with_detail(format!(
                "{provider} could not be reached or answered with a temporary error; nothing \
                 was written: retry the same request"
            ))
            .with_member("provider", provider.as_str())
            .with_header(RETRY_AFTER, PROVIDER_RETRY_AFTER)
        }
        CustomerError::ProviderRefused { provider, source } => {
            tracing::warn!(provider = provider.as_str(), error = %source, "provider refused");
            let problem = ApiError::new(
                StatusCode::BAD_GATEWAY,
                "PROVIDER_REFUSED",
                "Provider refused",
            )
            .with_detail(format!(
                "{provider} refused the request (or answered something unusable); nothing \
                     was written"
            ))
            .with_member("provider", provider.as_str());
            match source {
                ProviderError::Api { status, code, .. } => problem
                    .with_member("provider_status", status)
                    .with_member("provider_code", code),
                _ => problem,
            }
        }
        CustomerError::Subscription(error) => subscription_problem(error),
        CustomerError::Enforcement(error) => enforcement_problem(error),
        CustomerError::Ledger(error) => ledger_problem(error),
        _ => problem(error),
    }
}

/// The webhook inbox's operator errors (docs/webhooks.md).
fn intake_problem(error: &IntakeError) -> ApiError {
    match error {
        IntakeError::NotFound(id) => titled(error, "Webhook event not found")
            .with_detail("no such webhook delivery in the inbox")
            .with_member("event_id", id),
        IntakeError::Pool(_) => ApiError::service_unavailable("the database is unavailable"),
        _ => problem(error),
    }
}

/// The outbox's operator errors (docs/outbox.md).
fn outbox_problem(error: &OutboxError) -> ApiError {
    match error {
        OutboxError::NotFound(id) => titled(error, "Outbox message not found")
            .with_detail("no such outbox message")
            .with_member("message_id", id),
        OutboxError::NotDead { id, status } => titled(error, "Outbox message not dead")
            .with_detail(format!(
                "outbox message {id} is {status}: only a dead message can be retried"
            ))
            .with_member("message_id", id)
            // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
            .with_member("message_status", status.as_str()),
        OutboxError::Input(input) => problem(error).with_member("field", input.field),
        _ => problem(error),
    }
}

/// The campaigns domain's errors (docs/api.md, "Brands and campaigns"). Ledger and subscription
/// errors keep their own codes and members.
fn campaigns_problem(error: &CampaignsError) -> ApiError {
    match error {
        CampaignsError::InvalidInput { field, reason } => problem(error)
            .with_detail(format!("{field} {reason}"))
            .with_member("field", field),
        CampaignsError::InvalidPhoneNumbers { count, invalid } => {
            let invalid: Vec<serde_json::Value> = invalid
                .iter()
                .map(|phone| serde_json::json!({"index": phone.index, "value": phone.value}))
                .collect();
            problem(error)
                .with_member("field", "numbers")
                .with_member("count", count)
                .with_member("invalid", invalid)
        }
        CampaignsError::TooManyRecipients { max } => problem(error)
            .with_member("field", "numbers")
            .with_member("max", max),
        CampaignsError::CurrencyMismatch { wallet, requested } => problem(error)
            .with_member("field", "currency")
            .with_member("wallet_currency", wallet.code())
            .with_member("requested_currency", requested.code()),
        CampaignsError::CostOverflow => problem(error)
            .with_detail(
                "the cost of a message (price per segment x segments) does not fit in the \
                 amounts the wallet can hold",
            )
            .with_member("field", "price_per_segment"),
        CampaignsError::BrandNotFound => brand_not_found(),
        CampaignsError::CampaignNotFound => campaign_not_found(),
        CampaignsError::RecipientNotFound => {
            titled(error, "Recipient not found").with_detail("no such recipient in this campaign")
        }
        CampaignsError::SubaccountTaken => problem(error)
            .with_detail(
                "this Twilio subaccount already belongs to a brand; each brand needs its own",
            )
            .with_member("field", "twilio_subaccount_sid"),
        CampaignsError::InvalidState { status, .. } => titled(error, "Campaign state conflict")
            // `status` is the problem's HTTP status (RFC 9457), hence the longer name.
            .with_member("campaign_status", status.as_str()),
        CampaignsError::NotEligible(blockers) => not_eligible(error, blockers),
        CampaignsError::NotUnconfirmed { status } => titled(error, "Recipient not unconfirmed")
            .with_detail(format!(
                "the recipient is {status}: only an unconfirmed recipient can be resolved"
            ))
            .with_member("recipient_status", status.as_str()),
        CampaignsError::Ledger(error) => ledger_problem(error),
        CampaignsError::Subscription(error) => subscription_problem(error),
        _ => problem(error),
    }
}

/// The organization may not send: the status and code are the first blocker's (402
/// `SUBSCRIPTION_INACTIVE`, 409 `FROZEN_WALLET`, 409 `MESSAGING_SUSPENDED`, 422
/// `INSUFFICIENT_FUNDS`), `reasons` lists every blocker, and the first one's details are also
/// members of the problem, as the ledger's problems of the same codes have them (`sources`,
/// `available` ...).
fn not_eligible(error: &CampaignsError, blockers: &[Blocker]) -> ApiError {
    let title = match blockers.first() {
        Some(Blocker::SubscriptionInactive { .. }) => "Subscription inactive",
        Some(Blocker::WalletFrozen { .. }) => "Wallet frozen",
        Some(Blocker::MessagingSuspended { .. }) => "Messaging suspended",
        Some(Blocker::InsufficientFunds { .. }) => "Insufficient funds",
        // Internal: ineligibility without a blocker is a bug.
        None => return problem(error),
    };
    let codes: Vec<&str> = blockers.iter().map(Blocker::code).collect();
    let mut problem = titled(error, title).with_detail(format!(
        "the organization may not send now: {}",
        codes.join(", ")
    ));
    if let Some(Ok(serde_json::Value::Object(members))) = blockers
        .first()
        .map(|first| serde_json::to_value(SendBlockerView::from(first)))
    {
        for (name, value) in members {
            if name != "code" && name != "reason" {
                problem = problem.with_member(&name, value);
            }
        }
    }
    let reasons: Vec<SendBlockerView> = blockers.iter().map(SendBlockerView::from).collect();
    problem.with_member("reasons", reasons)
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

/// The same answer for a missing wallet and for one the caller may not see (G11).
pub fn wallet_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "WALLET_NOT_FOUND",
        "Wallet not found",
    )
    .with_detail("no such wallet")
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

/// The organization has no subscription (or the caller may not see it).
pub fn subscription_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
        "Subscription not found",
    )
    .with_detail("the organization has no subscription")
}

/// 422 `INVALID_AMOUNT`: a malformed, zero or negative amount.
pub fn invalid_amount(detail: impl Into<String>) -> ApiError {
    ApiError::validation("INVALID_AMOUNT", detail)
}

fn decimal(money: Money) -> String {
    money.to_decimal_string()
}

#[cfg(test)]
mod tests;
