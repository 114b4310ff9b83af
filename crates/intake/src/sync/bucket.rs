//! A provider's request budget: a token bucket of `burst` tokens refilled at one token per
//! `every`, kept as the time the next token is due (GCRA's theoretical arrival time), which is
//! the same bucket without counting fractions of a token. Pure: the caller passes the time, so
//! tests drive it with a manual clock.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Requests a provider may take: one per `every` on average, `burst` at once after a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub every: Duration,
    pub burst: u32,
}

impl Rate {
    /// `per_second` requests a second, `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        Self {
            every: Duration::from_secs(1) / per_second.max(1),
            burst: burst.max(1),
        }
    }

    fn every(self) -> chrono::Duration {
        to_chrono(self.every)
    }

    /// How far ahead of its steady pace the bucket lets requests run: the burst.
    fn tolerance(self) -> chrono::Duration {
        to_chrono(self.every.saturating_mul(self.burst.saturating_sub(1)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    rate: Rate,
    /// When the next request would be on pace; `None` until the first one (a full bucket).
    next_due: Option<DateTime<Utc>>,
}

impl TokenBucket {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            next_due: None,
        }
    }

    /// Takes a token at `now` if one is there or comes within `max_wait`: `Ok` with how long
    /// to wait before sending (zero when one is there). Otherwise nothing is taken and `Err`
    /// says how long until one would be.
    pub fn take(&mut self, now: DateTime<Utc>, max_wait: Duration) -> Result<Duration, Duration> {
        let due = self.next_due.map_or(now, |due| due.max(now));
        let wait = (due - self.rate.tolerance() - now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        if wait > max_wait {
            return Err(wait);
        }
        self.next_due = Some(due + self.rate.every());
        Ok(wait)
    }

    /// The provider answered 429: nothing more for `cooldown`, then its steady pace (no burst)
    /// until the bucket fills again.
    pub fn throttle(&mut self, now: DateTime<Utc>, cooldown: Duration) {
        let held_until = now + to_chrono(cooldown) + self.rate.tolerance();
        self.next_due = Some(self.next_due.map_or(held_until, |due| due.max(held_until)));
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use primitives::{Clock, ManualClock};

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn clock() -> ManualClock {
        ManualClock::new(DateTime::UNIX_EPOCH)
    }

    /// How many of `tries` requests at the clock's current time get a token without waiting.
    fn granted_now(bucket: &mut TokenBucket, clock: &ManualClock, tries: u32) -> u32 {
        (0..tries)
            .filter(|_| bucket.take(clock.now(), Duration::ZERO).is_ok())
            .count()
            .try_into()
            .unwrap_or(u32::MAX)
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_keeps_the_pace() {
        let clock = clock();
        let mut bucket = TokenBucket::new(Rate::per_second(2, 3));
        assert_eq!(granted_now(&mut bucket, &clock, 10), 3);
        // Empty: the next token comes after half a second, not before.
        assert_eq!(bucket.take(clock.now(), Duration::ZERO), Err(SECOND / 2));
        clock.advance(chrono::Duration::milliseconds(499));
        assert_eq!(granted_now(&mut bucket, &clock, 1), 0);
        clock.advance(chrono::Duration::milliseconds(1));
        assert_eq!(granted_now(&mut bucket, &clock, 5), 1);
        // Ten seconds at the pace: twenty requests, whatever is asked.
        let mut granted = 0;
        for _ in 0..100 {
            clock.advance(chrono::Duration::milliseconds(100));
            granted += granted_now(&mut bucket, &clock, 3);
        }
        assert_eq!(granted, 20);
    }

    #[test]
    fn an_idle_bucket_fills_up_to_its_burst_and_no_further() {
        let clock = clock();
        let mut bucket = TokenBucket::new(Rate::per_second(1, 4));
        assert_eq!(granted_now(&mut bucket, &clock, 4), 4);
        clock.advance(chrono::Duration::hours(1));
        assert_eq!(granted_now(&mut bucket, &clock, 10), 4);
    }

    #[test]
    fn a_short_wait_is_taken_and_reserved_a_long_one_takes_nothing() {
        let clock = clock();
        let mut bucket = TokenBucket::new(Rate::per_second(1, 1));
        assert_eq!(bucket.take(clock.now(), Duration::ZERO), Ok(Duration::ZERO));
        // Willing to wait up to 2 s: the next two are granted, one and two seconds out.
        assert_eq!(bucket.take(clock.now(), 2 * SECOND), Ok(SECOND));
        assert_eq!(bucket.take(clock.now(), 2 * SECOND), Ok(2 * SECOND));
        // A refusal reserves nothing: asking again says the same.
        assert_eq!(bucket.take(clock.now(), 2 * SECOND), Err(3 * SECOND));
        assert_eq!(bucket.take(clock.now(), 2 * SECOND), Err(3 * SECOND));
    }

    #[test]
    fn a_throttled_bucket_gives_nothing_for_the_cooldown_then_paces_without_a_burst() {
        let clock = clock();
        let mut bucket = TokenBucket::new(Rate::per_second(1, 5));
        assert_eq!(granted_now(&mut bucket, &clock, 1), 1);
        bucket.throttle(clock.now(), 60 * SECOND);
        assert_eq!(bucket.take(clock.now(), Duration::ZERO), Err(60 * SECOND));
        clock.advance(chrono::Duration::seconds(59));
        assert_eq!(granted_now(&mut bucket, &clock, 1), 0);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(granted_now(&mut bucket, &clock, 5), 1);
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(granted_now(&mut bucket, &clock, 5), 1);
    }

    #[test]
    fn rates_are_at_least_one_request_and_one_token() {
        assert_eq!(
            Rate::per_second(0, 0),
            Rate {
                every: SECOND,
                burst: 1
            }
        );
        assert_eq!(Rate::per_second(4, 10).every, SECOND / 4);
    }
}
