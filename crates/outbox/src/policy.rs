//! When a failed message is tried again: exponential backoff with equal jitter, capped.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

/// When the outbox redelivers a message a handler failed, and how long a claim is leased: the
/// durable queue's schedule (an outbound HTTP call's own retries are `outbound::RetryPolicy`,
/// within one delivery attempt). How many attempts a message gets is fixed when it is enqueued
/// ([`crate::NewMessage::max_attempts`]), so changing a worker's configuration never kills
/// messages already waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redelivery {
    base: Duration,
    max: Duration,
    lease: Duration,
}

/// Why a [`Redelivery`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the base delay and the lease must be positive")]
    Zero,
    #[error("the maximum delay must be at least the base delay")]
    MaxBelowBase,
    #[error("delays and leases must be at most a year")]
    TooLong,
}

impl Redelivery {
    /// Five seconds, doubling per attempt up to an hour; claims leased for a minute.
    pub const DEFAULT: Self = Self {
        base: Duration::from_secs(5),
        max: Duration::from_secs(60 * 60),
        lease: Duration::from_secs(60),
    };

    /// Bounds keep every instant the outbox computes far inside what the database stores.
    const LONGEST: Duration = Duration::from_secs(366 * 24 * 60 * 60);

    /// `base`: the delay ceiling after the first failed attempt, doubling after each further
    /// one up to `max`. `lease`: how long a claim lasts before another worker may take the
    /// message over; it must comfortably exceed the handler's own timeout.
    pub fn new(base: Duration, max: Duration, lease: Duration) -> Result<Self, PolicyError> {
        if base.is_zero() || lease.is_zero() {
            return Err(PolicyError::Zero);
        }
        if max < base {
            return Err(PolicyError::MaxBelowBase);
        }
        if max > Self::LONGEST || lease > Self::LONGEST {
            return Err(PolicyError::TooLong);
        }
        Ok(Self { base, max, lease })
    }

    pub fn base(&self) -> Duration {
        self.base
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The longest delay after failed attempt number `attempt` (1-based): `base * 2^(attempt-1)`,
    /// capped at `max`. Non-decreasing in `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let mut ceiling = self.base;
        for _ in 1..attempt {
            if ceiling >= self.max {
                break;
            }
            ceiling = ceiling.saturating_mul(2);
        }
        ceiling.min(self.max)
    }

    /// The delay before the next attempt after failed attempt `attempt`: uniformly random in
    /// `[ceiling / 2, ceiling]` ("equal jitter"). Half the ceiling is guaranteed, so a failing
    /// endpoint is never hammered; the random half spreads out workers that failed together.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let floor = ceiling / 2;
        let spread = u64::try_from((ceiling - floor).as_millis()).unwrap_or(u64::MAX);
        floor + Duration::from_millis(rng.random_range(0..=spread))
    }
}

impl Default for Redelivery {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `now + delay`, saturating: [`Redelivery`] bounds delays to a year, far from any limit.
pub(crate) fn after(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(delay)
        .ok()
        .and_then(|delay| now.checked_add_signed(delay))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_ceilings_double_from_five_seconds_up_to_an_hour() {
        let policy = Redelivery::default();
        let ceilings: Vec<u64> = (1..=12).map(|a| policy.ceiling(a).as_secs()).collect();
        assert_eq!(
            ceilings,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(policy.ceiling(0), secs(5));
        assert_eq!(policy.ceiling(u32::MAX), secs(3600));
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert_eq!(
            Redelivery::new(Duration::ZERO, secs(1), secs(1)),
            Err(PolicyError::Zero)
        );
        assert_eq!(
            Redelivery::new(secs(1), secs(1), Duration::ZERO),
            Err(PolicyError::Zero)
        );
        assert_eq!(
            Redelivery::new(secs(2), secs(1), secs(1)),
            Err(PolicyError::MaxBelowBase)
        );
        assert_eq!(
            Redelivery::new(secs(1), secs(400 * 24 * 3600), secs(1)),
            Err(PolicyError::TooLong)
        );
    }

    fn policies() -> impl Strategy<Value = Redelivery> {
        (1u64..=600_000, 0u64..=100_000_000, 1u64..=3_600_000).prop_map(|(base, extra, lease)| {
            let base = Duration::from_millis(base);
            Redelivery::new(
                base,
                base + Duration::from_millis(extra),
                Duration::from_millis(lease),
            )
            .unwrap()
        })
    }

    proptest! {
        #[test]
        fn ceiling_is_monotone_and_capped(policy in policies(), attempt in 0u32..200) {
            let here = policy.ceiling(attempt);
            prop_assert!(here <= policy.ceiling(attempt + 1));
            prop_assert!(here <= policy.max());
            prop_assert!(here >= policy.base());
        }

        #[test]
        fn backoff_stays_within_half_ceiling_and_ceiling(
            policy in policies(),
            attempt in 0u32..200,
            seed in any::<u64>(),
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let delay = policy.backoff(attempt, &mut rng);
            let ceiling = policy.ceiling(attempt);
            prop_assert!(delay <= ceiling);
            prop_assert!(delay <= policy.max());
            prop_assert!(delay >= ceiling / 2);
            prop_assert!(delay > Duration::ZERO);
        }
    }
}
