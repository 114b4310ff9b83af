//! Dunning retries through a billing provider: the bridge from [`PaymentRetrier`] (what dunning
//! needs) to [`billing::BillingProvider`] (what the adapters offer).

use billing::{BillingProvider, ProviderError, RetryOutcome};
use subscriptions::FailureReason;

use crate::{PaymentRetrier, RetryError, RetryRequest, RetryResult};

/// Retries through one provider. A subscription of another provider (or of none) cannot be
/// retried here: that is an error for the runner to log, never a decline.
#[derive(Debug, Clone)]
pub struct ProviderRetrier<P> {
    provider: P,
}

impl<P: BillingProvider> ProviderRetrier<P> {
    pub fn new(provider: P) -> Self {
        Self { provider }
    }
}

impl<P: BillingProvider> PaymentRetrier for ProviderRetrier<P> {
    async fn retry_payment(&self, request: &RetryRequest) -> Result<RetryResult, RetryError> {
        let name = self.provider.name();
        let Some(subscription) = request
            .provider
            .as_ref()
            .filter(|provider| provider.provider == name)
        else {
            return Err(RetryError {
                message: format!("subscription is not billed through {name}"),
            });
        };
        let id = subscription.subscription_id.as_str();
        let outcome = self
            .provider
            .retry_payment(id, &request.idempotency_key)
            .await
            .map_err(retry_error)?;
        match outcome {
            RetryOutcome::Paid { amount } => {
                // The new period end is the provider's; ask for it rather than guess.
                let current = self.provider.subscription(id).await.map_err(retry_error)?;
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
