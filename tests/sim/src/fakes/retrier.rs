//! The billing provider's answer to a dunning retry (`enforcement::PaymentRetrier`), as the
//! plan says for the step.

use std::{
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use chrono::Duration;
use enforcement::{PaymentRetrier, RetryError, RetryRequest, RetryResult};
use primitives::{Clock, Currency, ManualClock, Money};
use subscriptions::FailureReason;

use crate::plan::RetryAnswer;

/// What a month of the plan costs.
pub const PRICE_MINOR: i64 = 4_900;

#[derive(Clone)]
pub struct FakeRetrier {
    answer: Arc<Mutex<RetryAnswer>>,
    clock: ManualClock,
    calls: Arc<AtomicU64>,
}

impl FakeRetrier {
    pub fn new(clock: ManualClock) -> Self {
        Self {
            answer: Arc::new(Mutex::new(RetryAnswer::Declined)),
            clock,
            calls: Arc::default(),
        }
    }

    pub fn answer_with(&self, answer: RetryAnswer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl PaymentRetrier for FakeRetrier {
    fn retry_payment(
        &self,
        _request: &RetryRequest,
    ) -> impl Future<Output = Result<RetryResult, RetryError>> + Send {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let answer = *self.answer.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        async move {
            match answer {
                RetryAnswer::Paid => Ok(RetryResult::Paid {
                    amount: Money::from_minor(PRICE_MINOR, Currency::USD),
                    period_end: now + Duration::days(30),
                }),
                RetryAnswer::Declined => Ok(RetryResult::Declined {
                    reason: FailureReason::new("card_declined (simulated)"),
                }),
                RetryAnswer::Pending => Ok(RetryResult::Pending),
                RetryAnswer::Error => Err(RetryError {
                    message: "provider unreachable (simulated)".into(),
                }),
            }
        }
    }
}
