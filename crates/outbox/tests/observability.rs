//! What operators watch: the metric counters and the greppable dead-letter log line. A binary of
//! its own, since it installs the process-wide metrics recorder and tracing subscriber.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

use std::{
    collections::HashMap,
    io,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use db::DbConfig;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use outbox::{DedupeKey, HandlerError, NewMessage, Outbox, Redelivery, Topic};
use primitives::ManualClock;
use secrecy::SecretString;
use testkit::TestDb;

/// Counters by `name{label=value,...}`.
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counters {
    fn get(&self, key: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let counter = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Everything logged, as text.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn settlements_are_counted_per_topic_and_dead_letters_logged_for_grep() {
    let counters: &'static Counters = Box::leak(Box::default());
    metrics::set_global_recorder(counters).unwrap();
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let db = TestDb::new().await;
    let mut config = DbConfig::new(SecretString::from(db.url()), "outbox-observability");
    config.acquire_timeout = Duration::from_secs(60);
    let pool = db::connect_pool(&config).unwrap();
    let clock = ManualClock::new(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    let outbox = Outbox::new(Arc::new(clock.clone()), Redelivery::default());
    let topic = Topic::parse("observed").unwrap();
    let mut conn = pool.get().await.unwrap();
    for key in ["delivered", "retried", "dead"] {
        let message = NewMessage::new(
            topic.clone(),
            DedupeKey::parse(key).unwrap(),
            serde_json::json!({}),
            primitives::Clock::now(&clock),
        );
        outbox::enqueue_raw(&mut conn, message).await.unwrap();
    }
    let claimed = outbox
        .claim(&mut conn, std::slice::from_ref(&topic), 10)
        .await
        .unwrap();
    let by_key = |key: &str| {
        claimed
            .iter()
            .find(|m| m.dedupe_key.as_str() == key)
            .unwrap()
    };
    outbox
        .complete(&mut conn, by_key("delivered"))
        .await
        .unwrap();
    outbox
        .fail(
            &mut conn,
            by_key("retried"),
            &HandlerError::retryable("timeout"),
        )
        .await
        .unwrap();
    outbox
        .fail(
            &mut conn,
            by_key("dead"),
            &HandlerError::permanent("550 unknown user"),
        )
        .await
        .unwrap();

    for name in [
        "outbox_delivered_total",
        "outbox_retries_total",
        "outbox_dead_letters_total",
    ] {
        assert_eq!(
            counters.get(&format!("{name}{{topic=observed}}")),
            1,
            "{name}"
        );
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let dead_line = logs
        .lines()
        .find(|line| line.contains("OUTBOX DEAD LETTER"))
        .unwrap_or_else(|| panic!("no dead-letter line in:\n{logs}"));
    let dead_id = by_key("dead").id.to_string();
    for field in [
        "ERROR",
        "topic=\"observed\"",
        &format!("id={dead_id}"),
        "attempts=1",
        "last_error=\"550 unknown user\"",
    ] {
        assert!(
            dead_line.contains(field),
            "{field} missing from {dead_line}"
        );
    }
}
