//! The health report: the few figures that tell an operator whether money or messaging is
//! going wrong somewhere (negative or drifted wallets, freezes, dunning, paused or stalled
//! campaigns, outbox backlog and dead letters, webhook deliveries nobody could apply).
//!
//! One aggregate statement computes it, so a scrape costs one round trip and one snapshot.
//! Each part reads either a small table (one subscription and one wallet per organization), a
//! partial index (`campaigns_running`, `campaigns_paused`, `outbox_messages_dead`) or the
//! non-terminal rows only, through the status indexes: delivered outbox messages and applied or
//! ignored webhook deliveries grow without bound and are not counted.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::{QueryableByName, sql_types::BigInt, sql_types::Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::sync::Mutex;

use campaigns::PauseReason;
use intake::inbox::InboxStatus;
use ledger::FreezeSource;
use subscriptions::SubscriptionStatus;

/// Webhook inbox statuses still worth watching: applied and ignored are final and fine.
const WATCHED_INBOX: [InboxStatus; 5] = [
    InboxStatus::Received,
    InboxStatus::Unmatched,
    InboxStatus::Held,
    InboxStatus::Failed,
    InboxStatus::Dead,
];

/// Default for `HEALTH_STALLED_CAMPAIGN_SECS`.
pub const DEFAULT_STALLED_AFTER: Duration = Duration::from_secs(600);
/// A scrape computes the report afresh at most this often; scrapes in between see the gauges
/// of the last one. Prometheus scraping every 15 s from two replicas still costs at most one
/// report per replica per 10 s.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(10);

/// The figures. Maps keyed by a fixed vocabulary list every key, zero included, so a series
/// never disappears; outbox maps are keyed by topic and list the topics that have messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthReport {
    pub wallets_negative: u64,
    pub wallets_drifted: u64,
    pub wallets_frozen: BTreeMap<String, u64>,
    pub subscriptions: BTreeMap<String, u64>,
    pub campaigns_paused: BTreeMap<String, u64>,
    pub campaigns_stalled: u64,
    pub outbox_pending: BTreeMap<String, u64>,
    pub outbox_dead: BTreeMap<String, u64>,
    pub webhook_inbox: BTreeMap<String, u64>,
}

#[derive(QueryableByName)]
struct Figure {
    #[diesel(sql_type = Text)]
    figure: String,
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// Drift is measured against the latest entry's `balance_after`/`held_after` (one index probe
/// per wallet on `ledger_entries_history`), not against the sum of all entries, which would
/// read the whole ledger every scrape. The schema checks that each entry's `*_after` follow
/// from the previous one (docs/ledger.md), so the two agree; the full sum stays with
/// `/v1/admin/reconciliation`.
const REPORT_SQL: &str = "
SELECT 'wallets_negative' AS figure, '' AS label, count(*) AS count
  FROM wallets WHERE balance < 0
UNION ALL
SELECT 'wallets_frozen', source, count(*)
  FROM wallets, unnest(frozen_by) AS source
  WHERE cardinality(frozen_by) > 0 GROUP BY source
UNION ALL
SELECT 'wallets_drifted', '', count(*)
  FROM wallets w
  LEFT JOIN LATERAL (SELECT e.balance_after, e.held_after FROM ledger_entries e
                     WHERE e.wallet_id = w.id ORDER BY e.seq DESC LIMIT 1) last ON true
  WHERE w.balance <> coalesce(last.balance_after, 0) OR w.held <> coalesce(last.held_after, 0)
UNION ALL
SELECT 'subscriptions', status, count(*) FROM subscriptions GROUP BY status
UNION ALL
SELECT 'campaigns_paused', pause_reason, count(*)
  FROM campaigns WHERE status = 'paused' GROUP BY pause_reason
UNION ALL
SELECT 'campaigns_stalled', '', count(*)
  FROM campaigns c
  WHERE c.status = 'running'
    AND greatest(c.updated_at, c.started_at) < now() - make_interval(secs => $1)
    AND NOT EXISTS (SELECT 1 FROM campaign_batches b
                    WHERE b.campaign_id = c.id
                      AND greatest(b.claimed_at, b.settled_at) >= now() - make_interval(secs => $1))
UNION ALL
SELECT 'outbox_' || status, topic, count(*)
  FROM outbox_messages WHERE status IN ('pending', 'dead') GROUP BY status, topic
UNION ALL
SELECT 'webhook_inbox', status, count(*)
  FROM webhook_inbox WHERE status IN ('received', 'unmatched', 'held', 'failed', 'dead')
  GROUP BY status
";

/// Every key of a domain's vocabulary at zero, so a series never disappears.
fn zeros<const N: usize>(keys: [&'static str; N]) -> BTreeMap<String, u64> {
    keys.into_iter().map(|key| (key.to_owned(), 0)).collect()
}

impl HealthReport {
    /// Every figure zero: the report of an empty database.
    pub fn empty() -> Self {
        Self {
            wallets_frozen: zeros(FreezeSource::ALL.map(FreezeSource::as_str)),
            subscriptions: zeros(SubscriptionStatus::ALL.map(SubscriptionStatus::as_str)),
            campaigns_paused: zeros(PauseReason::ALL.map(PauseReason::as_str)),
            webhook_inbox: zeros(WATCHED_INBOX.map(InboxStatus::as_str)),
            ..Self::default()
        }
    }

    /// Computes the report; a campaign is stalled when it has been running with neither a
    /// change of its own nor a batch claimed or settled for longer than `stalled_after`.
    pub async fn compute(
        conn: &mut AsyncPgConnection,
        stalled_after: Duration,
    ) -> Result<Self, diesel::result::Error> {
        let seconds = stalled_after.as_secs_f64();
        let rows: Vec<Figure> = conn
            .build_transaction()
            .read_only()
            .run(async move |conn| {
                // The statement's estimated cost crosses `jit_above_cost` on a large database,
                // and compiling it costs more than running it (measured: 750 ms with JIT, 280
                // ms without, on 100,000 organizations; docs/performance.md).
                diesel::sql_query("SET LOCAL jit = off")
                    .execute(conn)
                    .await?;
                diesel::sql_query(REPORT_SQL)
                    .bind::<diesel::sql_types::Double, _>(seconds)
                    .load(conn)
                    .await
            })
            .await?;
        let mut report = Self::empty();
        for row in rows {
            report.add(
                &row.figure,
                row.label,
                u64::try_from(row.count).unwrap_or(0),
            );
        }
        Ok(report)
    }

    fn add(&mut self, figure: &str, label: String, count: u64) {
        let map = match figure {
            "wallets_negative" => return self.wallets_negative = count,
            "wallets_drifted" => return self.wallets_drifted = count,
            "campaigns_stalled" => return self.campaigns_stalled = count,
            "wallets_frozen" => &mut self.wallets_frozen,
            "subscriptions" => &mut self.subscriptions,
            "campaigns_paused" => &mut self.campaigns_paused,
            "outbox_pending" => &mut self.outbox_pending,
            "outbox_dead" => &mut self.outbox_dead,
            "webhook_inbox" => &mut self.webhook_inbox,
            _ => return,
        };
        map.insert(label, count);
    }

    /// Sets the `billing_health_*` gauges.
    pub fn publish(&self) {
        // Counts stay far below 2^52, where f64 stops being exact.
        #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
        let f = |count: u64| count as f64;
        metrics::gauge!("billing_health_wallets_negative").set(f(self.wallets_negative));
        metrics::gauge!("billing_health_wallets_drifted").set(f(self.wallets_drifted));
        metrics::gauge!("billing_health_campaigns_stalled").set(f(self.campaigns_stalled));
        for (source, count) in &self.wallets_frozen {
            metrics::gauge!("billing_health_wallets_frozen", "source" => source.clone())
                .set(f(*count));
        }
        for (status, count) in &self.subscriptions {
            metrics::gauge!("billing_health_subscriptions", "status" => status.clone())
                .set(f(*count));
        }
        for (reason, count) in &self.campaigns_paused {
            metrics::gauge!("billing_health_campaigns_paused", "reason" => reason.clone())
                .set(f(*count));
        }
        for (topic, count) in &self.outbox_pending {
            metrics::gauge!("billing_health_outbox_pending", "topic" => topic.clone())
                .set(f(*count));
        }
        for (topic, count) in &self.outbox_dead {
            metrics::gauge!("billing_health_outbox_dead", "topic" => topic.clone()).set(f(*count));
        }
        for (status, count) in &self.webhook_inbox {
            metrics::gauge!("billing_health_webhook_inbox", "status" => status.clone())
                .set(f(*count));
        }
    }
}

/// The report's settings and the gauges' refresh schedule, shared by the handlers.
#[derive(Debug, Clone)]
pub struct HealthReporter {
    pub stalled_after: Duration,
    last_published: Arc<Mutex<Published>>,
}

/// When the gauges were last set, and the topics they were set for: a topic whose backlog or
/// dead letters are gone must drop to 0, not keep its last count.
#[derive(Debug, Default)]
struct Published {
    at: Option<Instant>,
    pending_topics: BTreeSet<String>,
    dead_topics: BTreeSet<String>,
}

/// Adds `seen` topics missing from `map` as 0, then remembers every topic of `map`.
fn keep_topics(map: &mut BTreeMap<String, u64>, seen: &mut BTreeSet<String>) {
    for topic in seen.iter() {
        map.entry(topic.clone()).or_insert(0);
    }
    seen.extend(map.keys().cloned());
}

impl HealthReporter {
    pub fn new(stalled_after: Duration) -> Self {
        Self {
            stalled_after,
            last_published: Arc::default(),
        }
    }

    /// Refreshes the gauges unless they were refreshed within [`GAUGE_REFRESH`]. Concurrent
    /// scrapes wait for the one computing rather than each running the report.
    pub async fn refresh_gauges(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<(), diesel::result::Error> {
        let mut last = self.last_published.lock().await;
        if last.at.is_some_and(|at| at.elapsed() < GAUGE_REFRESH) {
            return Ok(());
        }
        let mut report = HealthReport::compute(conn, self.stalled_after).await?;
        keep_topics(&mut report.outbox_pending, &mut last.pending_topics);
        keep_topics(&mut report.outbox_dead, &mut last.dead_topics);
        report.publish();
        last.at = Some(Instant::now());
        Ok(())
    }
}

impl Default for HealthReporter {
    fn default() -> Self {
        Self::new(DEFAULT_STALLED_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_once_published_stays_at_zero_when_it_empties() {
        let mut seen = BTreeSet::new();
        let mut first = BTreeMap::from([("notification".to_owned(), 3)]);
        keep_topics(&mut first, &mut seen);
        let mut second = BTreeMap::from([("billing.paypal".to_owned(), 1)]);
        keep_topics(&mut second, &mut seen);
        assert_eq!(
            second,
            BTreeMap::from([
                ("billing.paypal".to_owned(), 1),
                ("notification".to_owned(), 0)
            ])
        );
    }
}
