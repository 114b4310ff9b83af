//! Dunning retries through the billing providers: the bridge from [`PaymentRetrier`] (what
//! dunning needs) to [`billing::Providers`] (the configured adapters, by name). Each
//! subscription is retried through its own provider.

use billing::{ProviderError, Providers, RetryOutcome};
use subscriptions::FailureReason;

use crate::{PaymentRetrier, RetryError, RetryRequest, RetryResult};

/// Retries through the subscription's own provider. A subscription billed through no provider,
/// or through one this process has no adapter (or no API credentials) for, cannot be retried:
/// that is an error for the runner to log and retry after its lease, never a decline (the
/// schedule's suspension day still comes on time).
#[derive(Debug, Clone)]
pub struct ProviderRetrier {
    providers: Providers,
}

impl ProviderRetrier {
    pub fn new(providers: Providers) -> Self {
        Self { providers }
    }
}

impl PaymentRetrier for ProviderRetrier {
    async fn retry_payment(&self, request: &RetryRequest) -> Result<RetryResult, RetryError> {
        let Some(subscription) = request.provider.as_ref() else {
            return Err(RetryError {
                message: "the subscription is billed through no provider (paid by hand): \
                          nothing to retry"
                    .to_owned(),
            });
        };
        let (name, id) = (subscription.provider, subscription.subscription_id.as_str());
        let outcome = self
            .providers
            .retry_payment(name, id, &request.idempotency_key)
            .await
            .map_err(retry_error)?;
        match outcome {
            RetryOutcome::Paid { amount } => {
                // The new period end is the provider's; ask for it rather than guess.
                let current = self
                    .providers
                    .subscription(name, id)
                    .await
                    .map_err(retry_error)?;
                match (amount, current.current_period_end) {
                    (Some(amount), Some(period_end)) => {
                        Ok(RetryResult::Paid { amount, period_end })
                    }
                    // Paid, but the figures are incomplete: the provider's webhook brings them.
                    _ => Ok(RetryResult::Pending),
                }
            }
            RetryOutcome::Declined { reason } => Ok(RetryResult::Declined {
                reason: FailureReason::new(&reason),
            }),
            // Nothing outstanding means the payment went through some other way; its webhook
            // restores the subscription. Until then, nothing to decide.
            RetryOutcome::Pending | RetryOutcome::NothingDue => Ok(RetryResult::Pending),
        }
    }
}

fn retry_error(error: ProviderError) -> RetryError {
    RetryError {
        message: error.to_string(),
    }
}
