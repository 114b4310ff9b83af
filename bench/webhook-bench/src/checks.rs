//! Exactly-once, checked after every run against the receiver's answers and the database, over
//! everything sent since the database was made:
//!
//! - every delivery was answered 200; a first sending as new, each re-send as a duplicate of the
//!   same inbox row; distinct deliveries have distinct rows;
//! - the inbox holds exactly one row per distinct delivery and no other;
//! - no row is `failed` or `dead`, and every delivery settled at once (`applied` or `ignored`:
//!   every delivery of the mix matches an organization and its subscription);
//! - every top-up credited its wallet exactly once, with its amount (`topup:` ledger entries);
//! - every subscription event is recorded once in `subscription_events`;
//! - every wallet reconciles with its entries.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::{
    QueryableByName,
    sql_types::{Array, BigInt, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ledger::Ledger;
use primitives::ProviderName;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{load::Record, mix::Kind};

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok,
            detail: detail.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "check": self.name, "ok": self.ok, "detail": self.detail })
    }
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    top_up_minor: Option<i64>,
    inbox_id: Option<Uuid>,
}

/// Every distinct delivery sent so far and the inbox row it was answered with.
#[derive(Debug, Default)]
pub struct Book {
    deliveries: HashMap<String, Entry>,
    resends: usize,
}

const SETTLED: [&str; 2] = ["applied", "ignored"];

impl Book {
    pub fn distinct(&self) -> usize {
        self.deliveries.len()
    }

    pub fn resends(&self) -> usize {
        self.resends
    }

    /// Adds one run's records (in each sender's order) and checks the answers.
    pub fn add(&mut self, records: &[Record]) -> Vec<Check> {
        let mut failed = Vec::new();
        let mut first_as_duplicate = Vec::new();
        let mut resend_as_new = Vec::new();
        let mut resend_other_row = Vec::new();
        let mut reused_key = Vec::new();
        let mut unsettled: BTreeMap<String, usize> = BTreeMap::new();
        for record in records {
            let answer = match &record.answer {
                Ok(answer) => answer,
                Err(error) => {
                    failed.push(format!("{}: {error}", record.key));
                    // Still a delivery that may have been stored.
                    if !record.resend {
                        self.deliveries
                            .entry(record.key.to_string())
                            .or_insert(Entry {
                                kind: record.kind,
                                top_up_minor: record.top_up_minor,
                                inbox_id: None,
                            });
                    }
                    continue;
                }
            };
            if !SETTLED.contains(&answer.status.as_str()) {
                *unsettled
                    .entry(format!("{} {}", record.kind.as_str(), answer.status))
                    .or_default() += 1;
            }
            if record.resend {
                self.resends += 1;
                if !answer.duplicate {
                    resend_as_new.push(record.key.to_string());
                }
                let first = self
                    .deliveries
                    .get(record.key.as_ref())
                    .and_then(|e| e.inbox_id);
                if first.is_some() && first != Some(answer.inbox_id) {
                    resend_other_row.push(record.key.to_string());
                }
                continue;
            }
            if answer.duplicate {
                first_as_duplicate.push(record.key.to_string());
            }
            let entry = Entry {
                kind: record.kind,
                top_up_minor: record.top_up_minor,
                inbox_id: Some(answer.inbox_id),
            };
            if self
                .deliveries
                .insert(record.key.to_string(), entry)
                .is_some()
            {
                reused_key.push(record.key.to_string());
            }
        }
        let mut rows = HashSet::new();
        let shared_rows = self
            .deliveries
            .values()
            .filter_map(|e| e.inbox_id)
            .filter(|id| !rows.insert(*id))
            .count();
        let sample = |keys: &[String]| keys.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        vec![
            Check::new(
                "every_delivery_answered_200",
                failed.is_empty(),
                format!(
                    "{} of {} failed {}",
                    failed.len(),
                    records.len(),
                    sample(&failed)
                ),
            ),
            Check::new(
                "first_sendings_stored_as_new",
                first_as_duplicate.is_empty() && reused_key.is_empty(),
                format!(
                    "{} answered as duplicates {}; {} keys made twice by the bench {}",
                    first_as_duplicate.len(),
                    sample(&first_as_duplicate),
                    reused_key.len(),
                    sample(&reused_key)
                ),
            ),
            Check::new(
                "resends_answered_duplicate_of_the_same_row",
                resend_as_new.is_empty() && resend_other_row.is_empty(),
                format!(
                    "{} re-sends this run; {} answered as new {}; {} named another row {}",
                    records.iter().filter(|r| r.resend).count(),
                    resend_as_new.len(),
                    sample(&resend_as_new),
                    resend_other_row.len(),
                    sample(&resend_other_row)
                ),
            ),
            Check::new(
                "one_inbox_row_per_distinct_delivery_in_the_answers",
                shared_rows == 0,
                format!(
                    "{} distinct deliveries so far, {shared_rows} sharing a row",
                    self.deliveries.len()
                ),
            ),
            Check::new(
                "every_delivery_settled_at_once",
                unsettled.is_empty(),
                if unsettled.is_empty() {
                    "every answer was applied or ignored".to_owned()
                } else {
                    format!("not applied or ignored: {unsettled:?}")
                },
            ),
        ]
    }

    /// Checks the database against everything sent so far.
    pub async fn check_database(
        &self,
        conn: &mut AsyncPgConnection,
        ledger: &Ledger,
    ) -> anyhow::Result<Vec<Check>> {
        let mut checks = Vec::new();
        let rows = count(conn, "SELECT count(*) AS n FROM webhook_inbox").await?;
        let ids: Vec<Uuid> = self
            .deliveries
            .values()
            .filter_map(|e| e.inbox_id)
            .collect();
        let found: Count =
            diesel::sql_query("SELECT count(*) AS n FROM webhook_inbox WHERE id = ANY($1)")
                .bind::<Array<SqlUuid>, _>(&ids)
                .get_result(conn)
                .await?;
        let distinct = self.deliveries.len() as i64;
        checks.push(Check::new(
            "inbox_holds_one_row_per_distinct_delivery",
            rows == distinct && found.n == ids.len() as i64,
            format!(
                "{rows} rows for {distinct} distinct deliveries ({} re-sends); {} of the {} \
                 answered rows found",
                self.resends,
                found.n,
                ids.len()
            ),
        ));

        let statuses: Vec<Grouped> = diesel::sql_query(
            "SELECT status AS key, count(*) AS n FROM webhook_inbox GROUP BY status ORDER BY status",
        )
        .load(conn)
        .await?;
        let status_of = |name: &str| statuses.iter().find(|s| s.key == name).map_or(0, |s| s.n);
        let shown: Vec<String> = statuses
            .iter()
            .map(|s| format!("{} {}", s.key, s.n))
            .collect();
        checks.push(Check::new(
            "no_inbox_row_failed_or_dead",
            status_of("failed") == 0 && status_of("dead") == 0,
            shown.join(", "),
        ));
        let settled: i64 = SETTLED.iter().map(|s| status_of(s)).sum();
        checks.push(Check::new(
            "every_inbox_row_applied_or_ignored",
            settled == rows,
            shown.join(", "),
        ));

        let top_ups: Vec<&Entry> = self
            .deliveries
            .values()
            .filter(|e| e.kind.is_top_up())
            .collect();
        let expected_sum: i64 = top_ups.iter().filter_map(|e| e.top_up_minor).sum();
        let credited: Credited = diesel::sql_query(
            "SELECT count(*) AS n, count(DISTINCT reference) AS references, \
                    coalesce(sum(amount), 0)::bigint AS minor \
             FROM ledger_entries WHERE reference LIKE 'topup:%'",
        )
        .get_result(conn)
        .await?;
        checks.push(Check::new(
            "every_top_up_credited_exactly_once",
            credited.n == top_ups.len() as i64
                && credited.references == credited.n
                && credited.minor == expected_sum,
            format!(
                "{} topup: entries ({} references) for {} distinct top-ups; {} minor units \
                 credited, {expected_sum} sent",
                credited.n,
                credited.references,
                top_ups.len(),
                credited.minor
            ),
        ));

        let recorded: Vec<Grouped> = diesel::sql_query(
            "SELECT source AS key, count(*) AS n FROM subscription_events \
             WHERE source = ANY($1) GROUP BY source",
        )
        .bind::<Array<Text>, _>(
            [
                ProviderName::Stripe,
                ProviderName::Paypal,
                ProviderName::Payhere,
            ]
            .map(|p| p.as_str().to_owned())
            .to_vec(),
        )
        .load(conn)
        .await?;
        let mut details = Vec::new();
        let mut all_match = true;
        for provider in [
            ProviderName::Stripe,
            ProviderName::Paypal,
            ProviderName::Payhere,
        ] {
            let expected = self
                .deliveries
                .values()
                .filter(|e| e.kind.is_subscription_event() && e.kind.provider() == provider)
                .count() as i64;
            let found = recorded
                .iter()
                .find(|r| r.key == provider.as_str())
                .map_or(0, |r| r.n);
            all_match &= found == expected;
            details.push(format!("{provider} {found} recorded / {expected} sent"));
        }
        checks.push(Check::new(
            "every_subscription_event_recorded_once",
            all_match,
            details.join(", "),
        ));

        let drifts = ledger.reconcile_all(conn).await?;
        checks.push(Check::new(
            "every_wallet_reconciles",
            drifts.is_empty(),
            format!("{} drift(s)", drifts.len()),
        ));
        Ok(checks)
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Grouped {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Credited {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    references: i64,
    #[diesel(sql_type = BigInt)]
    minor: i64,
}

pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> anyhow::Result<i64> {
    let row: Count = diesel::sql_query(sql).get_result(conn).await?;
    Ok(row.n)
}

/// How each kind's first sendings were answered: kind → status → count.
pub fn outcomes(records: &[Record]) -> Value {
    let mut table: BTreeMap<Kind, BTreeMap<String, u64>> = BTreeMap::new();
    for record in records.iter().filter(|r| !r.resend) {
        let status = match &record.answer {
            Ok(answer) => answer.status.clone(),
            Err(_) => "error".to_owned(),
        };
        *table
            .entry(record.kind)
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
    Value::Object(
        table
            .into_iter()
            .map(|(kind, statuses)| (kind.as_str().to_owned(), json!(statuses)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::load::Answer;

    fn record(key: &str, resend: bool, answer: Result<(u128, bool, &str), &str>) -> Record {
        Record {
            key: Arc::from(key),
            kind: Kind::StripeTopUp,
            organization: 0,
            resend,
            top_up_minor: Some(500),
            answer: answer
                .map(|(id, duplicate, status)| Answer {
                    inbox_id: Uuid::from_u128(id),
                    duplicate,
                    status: status.to_owned(),
                })
                .map_err(str::to_owned),
        }
    }

    fn failing(checks: &[Check]) -> Vec<&'static str> {
        checks.iter().filter(|c| !c.ok).map(|c| c.name).collect()
    }

    #[test]
    fn consistent_answers_pass() {
        let mut book = Book::default();
        let checks = book.add(&[
            record("a", false, Ok((1, false, "applied"))),
            record("b", false, Ok((2, false, "ignored"))),
            record("a", true, Ok((1, true, "applied"))),
        ]);
        assert!(failing(&checks).is_empty(), "{checks:?}");
        assert_eq!((book.distinct(), book.resends()), (2, 1));
    }

    #[test]
    fn every_broken_promise_is_caught() {
        let mut book = Book::default();
        let checks = book.add(&[
            record("a", false, Ok((1, false, "applied"))),
            record("a", true, Ok((9, false, "applied"))),
            record("b", false, Ok((1, true, "held"))),
            record("c", false, Err("HTTP 503")),
        ]);
        assert_eq!(
            failing(&checks),
            vec![
                "every_delivery_answered_200",
                "first_sendings_stored_as_new",
                "resends_answered_duplicate_of_the_same_row",
                "one_inbox_row_per_distinct_delivery_in_the_answers",
                "every_delivery_settled_at_once",
            ]
        );
        // A key the bench made twice is its own bug, and caught too.
        let checks = Book::default().add(&[
            record("k", false, Ok((1, false, "applied"))),
            record("k", false, Ok((2, false, "applied"))),
        ]);
        assert_eq!(failing(&checks), vec!["first_sendings_stored_as_new"]);
    }

    #[test]
    fn outcomes_count_first_sendings_by_kind() {
        let table = outcomes(&[
            record("a", false, Ok((1, false, "applied"))),
            record("a", true, Ok((1, true, "applied"))),
            record("b", false, Err("x")),
        ]);
        let kind = Kind::StripeTopUp.as_str();
        assert_eq!(table[kind]["applied"], 1);
        assert_eq!(table[kind]["error"], 1);
    }
}
