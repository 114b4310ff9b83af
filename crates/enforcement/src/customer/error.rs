//! Why a customer action was refused or failed. Every refusal and every provider failure leaves
//! nothing written (docs/api.md, "Customer actions").

use billing::ProviderError;
use ledger::LedgerError;
use outbox::OutboxError;
use primitives::{Classified, ErrorClass, Money, ProviderName};
use subscriptions::{SubscriptionError, SubscriptionStatus};

use crate::EnforcementError;
use crate::customer::RequestKind;

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// A request member is missing or malformed (`field` names it).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The plan is not in the catalog for that provider (`BILLING_PLANS`).
    #[error("plan {plan:?} is not offered with {provider}")]
    PlanNotOffered {
        plan: String,
        provider: ProviderName,
        /// The plans that are.
        offered: Vec<String>,
    },
    /// This deployment has no adapter (or no API credentials) for the provider.
    #[error("{provider} is not configured for payments here")]
    ProviderNotConfigured { provider: ProviderName },
    /// The provider has no such operation (PayHere cannot pause, has no payment-method page).
    #[error("{provider} does not support {operation}")]
    OperationUnsupported {
        provider: ProviderName,
        operation: &'static str,
    },
    /// The subscription is billed through no provider (set up by an operator, paid by hand).
    #[error(
        "the subscription is billed through no provider: there is nothing to {operation} there"
    )]
    NoProviderSubscription { operation: &'static str },
    /// The subscription's status does not allow the action.
    #[error("cannot {action} a {status} subscription: {why}")]
    StateConflict {
        action: &'static str,
        status: SubscriptionStatus,
        why: &'static str,
    },
    /// The `Idempotency-Key` was used before for another request of this organization.
    #[error("this Idempotency-Key was already used for {original}")]
    IdempotencyConflict { original: String },
    #[error("top-up not found")]
    TopUpNotFound,
    #[error("top-ups in {currency} are not offered")]
    CurrencyNotOffered {
        currency: String,
        offered: Vec<String>,
    },
    #[error("a top-up is from {min} to {max}, not {requested}")]
    AmountOutOfRange {
        requested: Money,
        min: Money,
        max: Money,
    },
    /// The provider could not be reached or answered with a transient error (5xx, 429): the
    /// same request may succeed later, and nothing was written meanwhile.
    #[error("{provider} is unavailable: {source}")]
    ProviderUnavailable {
        provider: ProviderName,
        source: ProviderError,
    },
    /// The provider refused the request (4xx) or answered something we cannot use: nothing was
    /// written; the same request fails again.
    #[error("{provider} refused the request: {source}")]
    ProviderRefused {
        provider: ProviderName,
        source: ProviderError,
    },
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    Enforcement(#[from] EnforcementError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error("stored customer request data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("no database connection: {0}")]
    Pool(#[from] db::PoolError),
}

impl CustomerError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn conflict_with(original: RequestKind) -> Self {
        Self::IdempotencyConflict {
            original: original.description().to_owned(),
        }
    }

    /// A provider's failure, sorted by what the caller can do about it.
    pub(crate) fn from_provider(provider: ProviderName, error: ProviderError) -> Self {
        match error {
            ProviderError::NotConfigured { .. } => Self::ProviderNotConfigured { provider },
            ProviderError::Unsupported { operation, .. } => Self::OperationUnsupported {
                provider,
                operation,
            },
            error if error.is_transient() => Self::ProviderUnavailable {
                provider,
                source: error,
            },
            error => Self::ProviderRefused {
                provider,
                source: error,
            },
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "VALIDATION_FAILED",
            Self::PlanNotOffered { .. } => "PLAN_NOT_OFFERED",
            Self::ProviderNotConfigured { .. } => "PROVIDER_NOT_CONFIGURED",
            Self::OperationUnsupported { .. } => "PROVIDER_OPERATION_UNSUPPORTED",
            Self::NoProviderSubscription { .. } => "NO_PROVIDER_SUBSCRIPTION",
            Self::StateConflict { .. } => "SUBSCRIPTION_STATE_CONFLICT",
            Self::IdempotencyConflict { .. } => "IDEMPOTENCY_CONFLICT",
            Self::TopUpNotFound => "TOP_UP_NOT_FOUND",
            Self::CurrencyNotOffered { .. } => "TOP_UP_CURRENCY_NOT_OFFERED",
            Self::AmountOutOfRange { .. } => "TOP_UP_AMOUNT_OUT_OF_RANGE",
            Self::ProviderUnavailable { .. } => "PROVIDER_UNAVAILABLE",
            Self::ProviderRefused { .. } => "PROVIDER_REFUSED",
            Self::Subscription(error) => error.code(),
            Self::Enforcement(error) => error.code(),
            Self::Ledger(error) => error.code(),
            Self::Outbox(_) | Self::Corrupt(_) | Self::Database(_) | Self::Pool(_) => "INTERNAL",
        }
    }
}

/// A provider that is down is `Unavailable` (retry later) and one that refused is `Internal`
/// (retrying will not help, and its text is the provider's, not the caller's); the api gives
/// both their own codes (`PROVIDER_UNAVAILABLE`, `PROVIDER_REFUSED`).
impl Classified for CustomerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. }
            | Self::PlanNotOffered { .. }
            | Self::ProviderNotConfigured { .. }
            | Self::OperationUnsupported { .. }
            | Self::CurrencyNotOffered { .. }
            | Self::AmountOutOfRange { .. } => ErrorClass::Invalid,
            Self::NoProviderSubscription { .. }
            | Self::StateConflict { .. }
            | Self::IdempotencyConflict { .. } => ErrorClass::Conflict,
            Self::TopUpNotFound => ErrorClass::NotFound,
            Self::ProviderUnavailable { .. } => ErrorClass::Unavailable,
            Self::ProviderRefused { .. } | Self::Corrupt(_) => ErrorClass::Internal,
            Self::Subscription(error) => error.class(),
            Self::Enforcement(error) => error.class(),
            Self::Ledger(error) => error.class(),
            Self::Outbox(error) => error.class().as_fault(),
            Self::Database(error) => db::error_class(error),
            Self::Pool(_) => ErrorClass::Unavailable,
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_failures_are_sorted_by_what_a_retry_can_do() {
        let stripe = ProviderName::Stripe;
        let api = |status| ProviderError::Api {
            provider: stripe,
            status,
            code: "x".into(),
            message: "y".into(),
        };
        let cases = [
            (api(503), "PROVIDER_UNAVAILABLE", ErrorClass::Unavailable),
            (api(429), "PROVIDER_UNAVAILABLE", ErrorClass::Unavailable),
            (
                ProviderError::Transport {
                    provider: stripe,
                    message: "refused".into(),
                },
                "PROVIDER_UNAVAILABLE",
                ErrorClass::Unavailable,
            ),
            (api(400), "PROVIDER_REFUSED", ErrorClass::Internal),
            (
                ProviderError::Decode {
                    provider: stripe,
                    message: "?".into(),
                },
                "PROVIDER_REFUSED",
                ErrorClass::Internal,
            ),
            (
                ProviderError::NotConfigured { provider: stripe },
                "PROVIDER_NOT_CONFIGURED",
                ErrorClass::Invalid,
            ),
            (
                ProviderError::Unsupported {
                    provider: stripe,
                    operation: "pause",
                },
                "PROVIDER_OPERATION_UNSUPPORTED",
                ErrorClass::Invalid,
            ),
        ];
        for (error, code, class) in cases {
            let error = CustomerError::from_provider(stripe, error);
            assert_eq!((error.code(), error.class()), (code, class), "{error:?}");
        }
    }

    #[test]
    fn wrapped_errors_keep_their_codes_and_classes() {
        let error = CustomerError::from(SubscriptionError::Busy);
        assert_eq!(
            (error.code(), error.class()),
            ("SUBSCRIPTION_BUSY", ErrorClass::Busy)
        );
        let error = CustomerError::from(LedgerError::WalletNotFound);
        assert_eq!(
            (error.code(), error.class()),
            ("WALLET_NOT_FOUND", ErrorClass::NotFound)
        );
        let error = CustomerError::Pool(db::PoolError::Closed);
        assert_eq!(error.class(), ErrorClass::Unavailable);
        assert_eq!(
            CustomerError::Corrupt("x".into()).class(),
            ErrorClass::Internal
        );
    }
}
