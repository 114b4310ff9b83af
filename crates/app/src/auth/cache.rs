//! Recently resolved API keys, so a caller's requests do not each cost a database round trip.
//!
//! Keyed by the key's SHA-256 ([`ApiKeyDigest`]), never the key. Only keys that were found are
//! kept: an unknown or revoked key asks the database on every request. An entry is used for at
//! most the TTL (at most [`MAX_TTL`]) after the read that produced it *began*, so a key revoked
//! at time R is refused by every request after R + TTL: a read that began after R sees the
//! revocation, and one that began before it expires before R + TTL.
//!
//! Concurrent requests for one key share one read: the first asks the database, the others wait
//! for its answer (a key's slot holds a `OnceCell`). When the read finds nothing (or fails), the
//! next waiter asks again itself, so "unknown" is never shared either; nor is an answer whose
//! read began more than a TTL before the waiting request arrived (a slow database).
//!
//! The time comes from a monotonic clock given at construction, so tests move it by hand.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use httpkit::Principal;
use primitives::ApiKeyId;
use tenancy::ApiKeyDigest;
use tokio::sync::OnceCell;

/// The longest an entry may be used: a revoked key is refused within this time.
pub const MAX_TTL: Duration = Duration::from_millis(MAX_TTL_MS);
pub const MAX_TTL_MS: u64 = 1000;
/// The most keys held at once; beyond it (after dropping expired entries) keys are resolved
/// without the cache. Far more keys than one process sees within a TTL.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How often expired entries are dropped even when the cache is not full, so keys no longer
/// used do not stay until it is.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The monotonic time source.
pub type MonotonicClock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A found key's principal and when the read that found it began.
#[derive(Debug, Clone, Copy)]
struct Read {
    principal: Principal,
    began: Instant,
}

/// One key: empty while its read is under way (or after a read found nothing).
#[derive(Default)]
struct Slot {
    read: OnceCell<Read>,
}

struct Slots {
    by_digest: HashMap<ApiKeyDigest, Arc<Slot>>,
    swept_at: Instant,
}

pub struct KeyCache {
    ttl: Duration,
    capacity: usize,
    clock: MonotonicClock,
    slots: Mutex<Slots>,
}

/// Why a read produced no entry.
enum Miss<E> {
    Unknown,
    Failed(E),
}

impl KeyCache {
    /// A cache on the system's monotonic clock. A `ttl` of zero disables it; one above
    /// [`MAX_TTL`] is cut to it.
    pub fn new(ttl: Duration) -> Self {
        Self::with_clock(ttl, DEFAULT_CAPACITY, Arc::new(Instant::now))
    }

    pub fn with_clock(ttl: Duration, capacity: usize, clock: MonotonicClock) -> Self {
        let now = clock();
        Self {
            ttl: ttl.min(MAX_TTL),
            capacity,
            clock,
            slots: Mutex::new(Slots {
                by_digest: HashMap::new(),
                swept_at: now,
            }),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key's principal: from an entry younger than the TTL, else from `load` (the database),
    /// whose answer is kept only when it found the key.
    pub async fn resolve<E, F, Fut>(
        &self,
        digest: ApiKeyDigest,
        load: F,
    ) -> Result<Option<Principal>, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Principal>, E>>,
    {
        if self.ttl.is_zero() {
            return load().await;
        }
        let arrived = (self.clock)();
        let Some(slot) = self.slot(digest, arrived) else {
            return load().await;
        };
        let read = slot
            .read
            .get_or_try_init(|| async {
                let began = (self.clock)();
                match load().await {
                    Ok(Some(principal)) => Ok(Read { principal, began }),
                    Ok(None) => Err(Miss::Unknown),
                    Err(error) => Err(Miss::Failed(error)),
                }
            })
            .await;
        match read {
            Ok(read) if self.fresh(read, arrived) => Ok(Some(read.principal)),
            // This request waited for a read that began more than a TTL before it arrived (a
            // slow database): that answer may predate a revocation older than the TTL.
            Ok(_) => load().await,
            Err(miss) => {
                self.discard(digest, &slot);
                match miss {
                    Miss::Unknown => Ok(None),
                    Miss::Failed(error) => Err(error),
                }
            }
        }
    }

    /// Drops the entries of a key (its revocation on this instance takes effect at once; other
    /// instances rely on the TTL).
    pub fn forget(&self, key_id: ApiKeyId) {
        self.lock().by_digest.retain(|_, slot| {
            slot.read.get().is_none_or(|read| match read.principal {
                Principal::Organization { key_id: own, .. } => own != key_id,
                Principal::Admin => true,
            })
        });
    }

    /// How many keys are held (fresh, expired or being read).
    pub fn len(&self) -> usize {
        self.lock().by_digest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key's slot: its fresh entry, the read under way, or a new empty slot (replacing an
    /// expired entry). `None` when the cache is full of live entries: resolve without it.
    fn slot(&self, digest: ApiKeyDigest, now: Instant) -> Option<Arc<Slot>> {
        let mut slots = self.lock();
        if let Some(slot) = slots.by_digest.get(&digest)
            && slot.read.get().is_none_or(|read| self.fresh(read, now))
        {
            return Some(Arc::clone(slot));
        }
        slots.by_digest.remove(&digest);
        if slots.by_digest.len() >= self.capacity
            || now.saturating_duration_since(slots.swept_at) >= SWEEP_EVERY
        {
            // Reads under way stay: their waiters expect to find them.
            slots
                .by_digest
                .retain(|_, slot| slot.read.get().is_none_or(|read| self.fresh(read, now)));
            slots.swept_at = now;
        }
        if slots.by_digest.len() >= self.capacity {
            return None;
        }
        let slot = Arc::new(Slot::default());
        slots.by_digest.insert(digest, Arc::clone(&slot));
        Some(slot)
    }

    /// Removes a slot whose read found nothing, unless another has replaced it meanwhile.
    fn discard(&self, digest: ApiKeyDigest, slot: &Arc<Slot>) {
        let mut slots = self.lock();
        if slots
            .by_digest
            .get(&digest)
            .is_some_and(|held| Arc::ptr_eq(held, slot))
        {
            slots.by_digest.remove(&digest);
        }
    }

    fn fresh(&self, read: &Read, now: Instant) -> bool {
        now.saturating_duration_since(read.began) < self.ttl
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Every change under the lock is a single map operation, so a panic elsewhere cannot
        // leave the map half-changed: a poisoned lock is still sound to use.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
