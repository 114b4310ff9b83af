//! The cache on a hand-moved clock, with a lookup that counts how often it is asked (the
//! database round trips a request would cost).

use std::sync::atomic::{AtomicUsize, Ordering};

use primitives::OrganizationId;

use super::*;

/// A monotonic clock moved by hand.
#[derive(Clone)]
struct Hand(Arc<Mutex<Instant>>);

impl Hand {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    fn clock(&self) -> MonotonicClock {
        let time = Arc::clone(&self.0);
        Arc::new(move || *time.lock().unwrap())
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

fn cache(ttl_ms: u64, capacity: usize, hand: &Hand) -> KeyCache {
    KeyCache::with_clock(Duration::from_millis(ttl_ms), capacity, hand.clock())
}

/// A string of the shape of a key, different for each `n`.
fn key(n: u32) -> String {
    format!("bsk_{n:0>43}")
}

fn digest(n: u32) -> ApiKeyDigest {
    ApiKeyDigest::of(&key(n)).unwrap()
}

fn principal() -> Principal {
    Principal::Organization {
        organization_id: OrganizationId::new(),
        key_id: ApiKeyId::new(),
    }
}

/// The database as seen by the cache: how often it was asked, and its answer.
#[derive(Default)]
struct Lookups(AtomicUsize);

impl Lookups {
    async fn answer<T>(&self, answer: T) -> T {
        self.0.fetch_add(1, Ordering::SeqCst);
        // A real read is not immediate: others arrive while it is under way.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        answer
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

type Answer = Result<Option<Principal>, &'static str>;

#[tokio::test]
async fn a_found_key_is_read_once_within_the_ttl_and_again_after_it() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    let who = principal();
    let resolve = || cache.resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who))));
    assert_eq!(resolve().await, Ok(Some(who)));
    assert_eq!(lookups.count(), 1);
    hand.advance(Duration::from_millis(999));
    assert_eq!(resolve().await, Ok(Some(who)));
    assert_eq!(lookups.count(), 1, "a repeat within the TTL asks nothing");
    hand.advance(Duration::from_millis(1));
    assert_eq!(resolve().await, Ok(Some(who)));
    assert_eq!(
        lookups.count(),
        2,
        "an entry as old as the TTL is read again"
    );
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn the_ttl_counts_from_when_the_read_began() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    let who = principal();
    // A read that takes 400 ms: a revocation committed while it ran may not be in its answer.
    cache
        .resolve(digest(1), || async {
            hand.advance(Duration::from_millis(400));
            lookups.answer::<Answer>(Ok(Some(who))).await
        })
        .await
        .unwrap();
    hand.advance(Duration::from_millis(600));
    cache
        .resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who))))
        .await
        .unwrap();
    assert_eq!(lookups.count(), 2);
}

#[tokio::test]
async fn a_request_never_takes_an_answer_read_more_than_a_ttl_before_it_arrived() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    let who = principal();
    // A read that takes 1.5 s; a second request arrives meanwhile and waits for it.
    let slow = cache.resolve(digest(1), || async {
        hand.advance(Duration::from_millis(1500));
        lookups.answer::<Answer>(Ok(Some(who))).await
    });
    let late = async {
        tokio::task::yield_now().await;
        cache
            .resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who))))
            .await
    };
    let (slow, late) = tokio::join!(slow, late);
    assert_eq!((slow, late), (Ok(Some(who)), Ok(Some(who))));
    // The late request asked again: the shared answer could predate a revocation made more
    // than a TTL before it arrived.
    assert_eq!(lookups.count(), 2);
}

#[tokio::test]
async fn unknown_keys_and_failed_reads_are_never_kept() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    for _ in 0..3 {
        let answer = cache
            .resolve(digest(1), || lookups.answer::<Answer>(Ok(None)))
            .await;
        assert_eq!(answer, Ok(None));
    }
    assert_eq!(lookups.count(), 3, "each request for an unknown key asks");
    for _ in 0..2 {
        let answer = cache
            .resolve(digest(2), || lookups.answer::<Answer>(Err("down")))
            .await;
        assert_eq!(answer, Err("down"));
    }
    assert_eq!(lookups.count(), 5);
    assert!(cache.is_empty());
    // Found once it exists (a key issued after a miss works at once).
    let who = principal();
    let answer = cache
        .resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who))))
        .await;
    assert_eq!(answer, Ok(Some(who)));
}

#[tokio::test]
async fn concurrent_requests_for_one_key_share_one_read() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    let who = principal();
    let requests =
        (0..50).map(|_| cache.resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who)))));
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|answer| *answer == Ok(Some(who))));
    assert_eq!(lookups.count(), 1);
    // At expiry too: the first request replaces the entry, the others wait for its read.
    hand.advance(Duration::from_secs(1));
    let requests =
        (0..50).map(|_| cache.resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who)))));
    futures::future::join_all(requests).await;
    assert_eq!(lookups.count(), 2);
    // An unknown key is never shared: each waiting request asks in turn.
    let requests = (0..10).map(|_| cache.resolve(digest(2), || lookups.answer::<Answer>(Ok(None))));
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|answer| *answer == Ok(None)));
    assert_eq!(lookups.count(), 12);
}

#[tokio::test]
async fn a_zero_ttl_disables_the_cache_and_the_bound_is_one_second() {
    let hand = Hand::new();
    let cache = cache(0, 10, &hand);
    let lookups = Lookups::default();
    let who = principal();
    for _ in 0..3 {
        cache
            .resolve(digest(1), || lookups.answer::<Answer>(Ok(Some(who))))
            .await
            .unwrap();
    }
    assert_eq!(lookups.count(), 3);
    assert!(cache.is_empty());
    assert_eq!(self::cache(60_000, 10, &hand).ttl(), MAX_TTL);
    assert_eq!(MAX_TTL, Duration::from_secs(1));
}

#[tokio::test]
async fn a_full_cache_drops_expired_entries_and_otherwise_keeps_nothing_more() {
    let hand = Hand::new();
    let cache = cache(1000, 2, &hand);
    let lookups = Lookups::default();
    let who = principal();
    let resolve = |n| cache.resolve(digest(n), || lookups.answer::<Answer>(Ok(Some(who))));
    resolve(1).await.unwrap();
    resolve(2).await.unwrap();
    // Full of live entries: the third key is resolved, not kept.
    assert_eq!(resolve(3).await, Ok(Some(who)));
    assert_eq!(resolve(3).await, Ok(Some(who)));
    assert_eq!(lookups.count(), 4);
    assert_eq!(cache.len(), 2);
    // Expired entries make room.
    hand.advance(Duration::from_secs(1));
    resolve(3).await.unwrap();
    resolve(3).await.unwrap();
    assert_eq!(lookups.count(), 5);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn expired_entries_are_swept_when_keys_are_no_longer_used() {
    let hand = Hand::new();
    let cache = cache(1000, 100, &hand);
    let lookups = Lookups::default();
    let who = principal();
    for n in 0..10 {
        cache
            .resolve(digest(n), || lookups.answer::<Answer>(Ok(Some(who))))
            .await
            .unwrap();
    }
    assert_eq!(cache.len(), 10);
    hand.advance(SWEEP_EVERY);
    cache
        .resolve(digest(99), || lookups.answer::<Answer>(Ok(Some(who))))
        .await
        .unwrap();
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn forgetting_a_key_drops_its_entry_only() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let lookups = Lookups::default();
    let (first, second) = (principal(), principal());
    let lookups = &lookups;
    let resolve =
        |n, who| cache.resolve(digest(n), move || lookups.answer::<Answer>(Ok(Some(who))));
    resolve(1, first).await.unwrap();
    resolve(2, second).await.unwrap();
    let Principal::Organization { key_id, .. } = first else {
        unreachable!()
    };
    cache.forget(key_id);
    resolve(1, first).await.unwrap();
    resolve(2, second).await.unwrap();
    assert_eq!(lookups.count(), 3);
}

#[tokio::test]
async fn debug_shows_nothing_of_the_keys() {
    let hand = Hand::new();
    let cache = cache(1000, 10, &hand);
    let who = principal();
    cache
        .resolve(digest(7), || async { Answer::Ok(Some(who)) })
        .await
        .unwrap();
    let debug = format!("{cache:?}");
    assert!(debug.contains("len: 1"), "{debug}");
    assert!(!debug.contains(&key(7)[4..12]), "{debug}");
    let Principal::Organization { key_id, .. } = who else {
        unreachable!()
    };
    assert!(!debug.contains(&key_id.to_string()), "{debug}");
}
