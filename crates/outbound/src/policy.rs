//! How outbound calls back off: one policy for every external API client, so they all spread
//! their retries the same way and never wait longer than the policy allows.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// How often and how long to retry a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 counts as 1).
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

    /// One attempt and no retry: for callers whose own queue decides what happens next.
    pub const ONCE: Self = Self {
        max_attempts: 1,
        ..Self::DEFAULT
    };

    /// The wait after failed attempt `attempt` (1-based): a random time between zero and the
    /// doubling ceiling ("full jitter"), so clients that failed together do not come back
    /// together.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let millis = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=millis))
    }

    /// The longest wait after failed attempt `attempt`: `base_delay` doubled per attempt,
    /// never above `max_delay`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A `Retry-After` value, capped at `max_delay`: delay-seconds (`120`) or an HTTP-date
    /// (`Wed, 21 Oct 2015 07:28:00 GMT`, read against `now`; a date already past is no wait).
    /// `None` when absent or neither form.
    pub fn retry_after(&self, header: Option<&str>, now: SystemTime) -> Option<Duration> {
        let value = header?.trim();
        let wait = if value.bytes().all(|b| b.is_ascii_digit()) {
            Duration::from_secs(value.parse().ok()?)
        } else {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        };
        Some(wait.min(self.max_delay))
    }

    /// Attempts in all, at least one.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
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
    fn retry_after_reads_seconds_and_dates_capped() {
        let policy = RetryPolicy::DEFAULT;
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            policy.retry_after(Some(" 2 "), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.retry_after(Some("3600"), now),
            Some(policy.max_delay)
        );
        assert_eq!(
            policy.retry_after(Some("Wed, 21 Oct 2015 07:28:03 GMT"), now),
            Some(Duration::from_secs(3))
        );
        // RFC 850 and asctime, the obsolete forms a recipient must still read.
        assert_eq!(
            policy.retry_after(Some("Wednesday, 21-Oct-15 07:28:04 GMT"), now),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            policy.retry_after(Some("Wed Oct 21 07:28:05 2015"), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            policy.retry_after(Some("Thu, 22 Oct 2015 07:28:00 GMT"), now),
            Some(policy.max_delay)
        );
        assert_eq!(
            policy.retry_after(Some("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        for bad in ["-1", "1.5", "soon", "", "99999999999999999999999"] {
            assert_eq!(policy.retry_after(Some(bad), now), None, "{bad}");
        }
        assert_eq!(policy.retry_after(None, now), None);
    }

    #[test]
    fn zero_attempts_still_makes_one() {
        let policy = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::DEFAULT
        };
        assert_eq!(policy.attempts(), 1);
        assert_eq!(RetryPolicy::ONCE.attempts(), 1);
    }
}
