//! How outbound calls back off: one policy for every external API client (billing providers,
//! Twilio), so they all spread their retries the same way.

use std::time::Duration;

use rand::Rng;

/// How often and how long to retry a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The first backoff ceiling; it doubles per attempt.
    pub base_delay: Duration,
    /// No wait is longer, `Retry-After` included.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub const DEFAULT: Self = Self {
        max_attempts: 4,
        base_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(10),
    };

    /// The wait after failed attempt `attempt` (1-based): a random time up to the doubling
    /// ceiling ("full jitter"), so clients that failed together do not come back together.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let millis = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=millis))
    }

    /// The longest wait after failed attempt `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A `Retry-After` header value in seconds (the form APIs use), capped at the longest wait;
    /// `None` when absent or not a number of seconds.
    pub fn retry_after(&self, header: Option<&str>) -> Option<Duration> {
        let secs: u64 = header?.trim().parse().ok()?;
        Some(Duration::from_secs(secs).min(self.max_delay))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_exceeds_it() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(policy.ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.ceiling(4), Duration::from_millis(800));
        assert_eq!(policy.ceiling(5), Duration::from_secs(1));
        assert_eq!(policy.ceiling(99), Duration::from_secs(1));
        let mut rng = rand::rng();
        for attempt in 1..40 {
            assert!(policy.backoff(attempt, &mut rng) <= policy.ceiling(attempt));
        }
    }

    #[test]
    fn retry_after_is_seconds_capped() {
        let policy = RetryPolicy::DEFAULT;
        assert_eq!(
            policy.retry_after(Some(" 2 ")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(policy.retry_after(Some("3600")), Some(policy.max_delay));
        assert_eq!(
            policy.retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(policy.retry_after(Some("-1")), None);
        assert_eq!(policy.retry_after(None), None);
    }
}
