//! Per-API-key request rate limits (`API_RATE_LIMIT_PER_SECOND`, `API_RATE_LIMIT_BURST`, declared
//! with the api's other variables in [`crate::config`]): each organization API key may make `burst` requests at once
//! and one more every `replenish_every` (GCRA, `governor`'s keyed limiter). Over it: 429
//! `RATE_LIMITED` with `Retry-After` in whole seconds, rounded up, before the route does
//! anything.
//!
//! Who is counted, and why:
//! - **An organization's key, once verified.** The layer resolves the credential itself (the
//!   handler's extractors then reuse that resolution), so only a request that presented a key
//!   we issued spends that key's budget: a caller without the key cannot exhaust a customer's
//!   budget, and made-up tokens cannot grow the limiter's state (they get their 401 as before).
//! - **Not the admin token.** One operator credential, used in incidents; throttling it would
//!   slow the people fixing things, and it is not a customer's traffic.
//! - **Not unauthenticated requests** (probes, `/metrics`, unknown tokens): no key, no budget;
//!   flooding by address is the load balancer's job.
//!
//! Memory: one entry per key that is still inside its window. Keys whose budget is full again
//! (idle for `burst x replenish_every`) are dropped at least every [`PRUNE_EVERY`], so the state
//! holds at most the keys used within the last few seconds, each a few dozen bytes.

use std::{
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock, Reference},
    middleware::NoOpMiddleware,
    state::keyed::DashMapStateStore,
};
use httpkit::{ApiError, Auth, Principal, auth::UnknownCredential};
use primitives::{
    ApiKeyId,
    config::{ConfigError, Env},
};

/// How often keys whose budget has refilled are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(10);

pub const DEFAULT_PER_SECOND: u32 = 100;
pub const DEFAULT_BURST: u32 = 200;
const MAX_RATE: u32 = 1_000_000;

/// One key's budget: `burst` requests at once, one more every `replenish_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub replenish_every: Duration,
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` requests a second sustained (at least 1), `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        Self {
            replenish_every: Duration::from_secs(1) / per_second.max(1),
            burst,
        }
    }

    /// The default limit (also what [`crate::Config::new`] sets).
    pub fn default_limit() -> Self {
        Self::per_second(DEFAULT_PER_SECOND, DEFAULT_BURST)
    }

    /// `None` when `API_RATE_LIMIT_PER_SECOND` is 0 (off).
    pub fn from_env(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        let per_second = env.number(
            "API_RATE_LIMIT_PER_SECOND",
            0..=MAX_RATE,
            DEFAULT_PER_SECOND,
        )?;
        let burst = env.number("API_RATE_LIMIT_BURST", 1..=MAX_RATE, DEFAULT_BURST)?;
        Ok((per_second > 0).then(|| Self::per_second(per_second, burst)))
    }

    /// A limit made in code is held to what the environment allows.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_RATE).contains(&self.burst) {
            return Err(ConfigError::new(
                "API_RATE_LIMIT_BURST",
                format!("expected 1 to {MAX_RATE}, got {}", self.burst),
            ));
        }
        if self.replenish_every < Duration::from_secs(1) / MAX_RATE {
            return Err(ConfigError::new(
                "API_RATE_LIMIT_PER_SECOND",
                format!("at most {MAX_RATE} requests a second"),
            ));
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        // `validate` keeps the period above zero; should it not be, one a nanosecond is the
        // closest to "unlimited" the quota can say.
        Quota::with_period(self.replenish_every)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

type Limiter<C> =
    RateLimiter<ApiKeyId, DashMapStateStore<ApiKeyId>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The budgets of the keys in use, on a clock tests can move.
pub struct KeyLimiter<C: Clock = DefaultClock> {
    limiter: Limiter<C>,
    clock: C,
    started: C::Instant,
    /// When keys were last pruned, in nanoseconds after `started`.
    pruned_at: AtomicU64,
}

impl KeyLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock + Clone> KeyLimiter<C> {
    pub fn with_clock(limit: RateLimit, clock: C) -> Self {
        Self {
            limiter: RateLimiter::dashmap_with_clock(limit.quota(), clock.clone()),
            started: clock.now(),
            clock,
            pruned_at: AtomicU64::new(0),
        }
    }

    /// Spends one request of `key`'s budget, or says how long until one is there again.
    pub fn check(&self, key: ApiKeyId) -> Result<(), Duration> {
        self.prune_now_and_then();
        self.limiter
            .check_key(&key)
            .map_err(|refused| refused.wait_time_from(self.clock.now()))
    }

    /// Keys held now (tests, the gauge).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Drops the keys whose budget is full again, at most once every [`PRUNE_EVERY`] (the
    /// request that finds it due does it; the others go on).
    fn prune_now_and_then(&self) {
        let now = nanos(self.clock.now().duration_since(self.started));
        let last = self.pruned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < nanos_of(PRUNE_EVERY) {
            return;
        }
        if self
            .pruned_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            metrics::gauge!("api_rate_limit_keys").set(self.limiter.len() as f64);
        }
    }
}

fn nanos(value: governor::nanos::Nanos) -> u64 {
    nanos_of(Duration::from(value))
}

fn nanos_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl<C: Clock> std::fmt::Debug for KeyLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLimiter")
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

/// What the layer needs: the credentials and the budgets.
#[derive(Clone)]
pub struct RateLimitState {
    pub auth: Auth,
    pub limiter: Arc<KeyLimiter>,
}

/// Middleware (`axum::middleware::from_fn_with_state`, as a route layer): resolves the bearer
/// credential once for the request (the handler's extractors reuse it) and spends one request of
/// an organization key's budget; refused with 429 `RATE_LIMITED` when it is used up.
pub async fn enforce(
    State(state): State<RateLimitState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(bearer) = httpkit::auth::bearer_token(request.headers()) else {
        return next.run(request).await;
    };
    match state.auth.resolve(bearer).await {
        Ok(Some(principal)) => {
            if let Principal::Organization { key_id, .. } = principal
                && let Err(wait) = state.limiter.check(key_id)
            {
                metrics::counter!("api_rate_limited_total").increment(1);
                return ApiError::rate_limited(wait).into_response();
            }
            request.extensions_mut().insert(principal);
        }
        // The handler answers 401 without asking the database again.
        Ok(None) => {
            request.extensions_mut().insert(UnknownCredential);
        }
        // The handler's own resolution answers (503 or 500), as without a limit.
        Err(_) => {}
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(limit: RateLimit) -> (KeyLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (KeyLimiter::with_clock(limit, clock.clone()), clock)
    }

    #[test]
    fn a_key_gets_its_burst_then_one_request_per_period_and_keys_are_apart() {
        let (limiter, clock) = limiter(RateLimit::per_second(2, 3));
        let key = ApiKeyId::new();
        for _ in 0..3 {
            assert_eq!(limiter.check(key), Ok(()));
        }
        assert_eq!(limiter.check(key), Err(Duration::from_millis(500)));
        // Another key has its own budget.
        assert_eq!(limiter.check(ApiKeyId::new()), Ok(()));
        clock.advance(Duration::from_millis(499));
        assert_eq!(limiter.check(key), Err(Duration::from_millis(1)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.check(key), Ok(()));
        assert_eq!(limiter.check(key), Err(Duration::from_millis(500)));
    }

    #[test]
    fn idle_keys_are_dropped_so_the_state_stays_bounded() {
        let (limiter, clock) = limiter(RateLimit::per_second(10, 10));
        for _ in 0..1000 {
            limiter.check(ApiKeyId::new()).unwrap();
        }
        assert_eq!(limiter.len(), 1000);
        // Not due yet: nothing pruned.
        clock.advance(PRUNE_EVERY - Duration::from_millis(1));
        let active = ApiKeyId::new();
        limiter.check(active).unwrap();
        assert_eq!(limiter.len(), 1001);
        // Due: the 1000 refilled long ago; the key used a moment ago is kept.
        clock.advance(Duration::from_millis(1));
        limiter.check(active).unwrap();
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn reads_its_variables_and_zero_turns_it_off() {
        let read = |pairs: &[(&str, &str)]| RateLimit::from_env(&Env::from_pairs(pairs));
        assert_eq!(read(&[]), Ok(Some(RateLimit::default_limit())));
        assert_eq!(
            read(&[("API_RATE_LIMIT_PER_SECOND", "0")]),
            Ok(None),
            "0 is off"
        );
        let set = read(&[
            ("API_RATE_LIMIT_PER_SECOND", "4"),
            ("API_RATE_LIMIT_BURST", "1"),
        ]);
        assert_eq!(
            set,
            Ok(Some(RateLimit {
                replenish_every: Duration::from_millis(250),
                burst: 1
            }))
        );
        for (name, value) in [
            ("API_RATE_LIMIT_PER_SECOND", "-1"),
            ("API_RATE_LIMIT_PER_SECOND", "1000001"),
            ("API_RATE_LIMIT_PER_SECOND", "fast"),
            ("API_RATE_LIMIT_BURST", "0"),
            ("API_RATE_LIMIT_BURST", "1000001"),
        ] {
            assert_eq!(read(&[(name, value)]).unwrap_err().variable, name);
        }
        let mut made = RateLimit::default_limit();
        made.burst = 0;
        assert_eq!(
            made.validate().unwrap_err().variable,
            "API_RATE_LIMIT_BURST"
        );
        made.burst = 1;
        made.replenish_every = Duration::ZERO;
        assert_eq!(
            made.validate().unwrap_err().variable,
            "API_RATE_LIMIT_PER_SECOND"
        );
    }
}
