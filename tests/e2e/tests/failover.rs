//! PostgreSQL failover under load, through the built binaries: a pg_auto_failover monitor and
//! two nodes (the second a synchronous standby), two `api`, two `worker` and one
//! `webhook-receiver` processes on one multi-host `DATABASE_URL` (standby listed first, with
//! `target_session_attrs=read-write`), and clients moving money the whole time: debits and
//! credits through both apis, signed Stripe top-ups through the receiver, a campaign
//! dispatched by both workers.
//!
//! Then the worst moment for the books: the primary stops sending WAL (its WAL senders are
//! SIGSTOPped) while commits arrive, and its host dies (keeper, PostgreSQL and every backend
//! SIGKILLed at once). The monitor promotes the standby; nothing restarts a service.
//!
//! Measured, and printed on lines starting `FAILOVER` (`cargo test -p e2e --test failover --
//! --nocapture`; docs/deploy.md, "PostgreSQL failover", quotes them): how long until the
//! standby takes writes and until each service has served a request again (a debit through
//! each api, a top-up through the receiver, a campaign batch settled by each worker). Checked
//! on the new primary: every acknowledged operation is in the books exactly once (lost 0,
//! applied twice 0); every unacknowledged one, sent again with its reference, applies once;
//! the balance is exactly what the clients were told; no message went out twice; every
//! process is still the one started.
//!
//! Not a benchmark: the recovery times are printed, never asserted (a deadline only bounds the
//! waiting).

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Double, Text},
};
use e2e::{
    Api, Org,
    events::{self, stripe::Invoice},
    eventually,
    failover::{Cluster, FAST_FAILOVER, Services},
    fakes::twilio,
    load::{Kind, Load, Operation, Plan, Told, usd},
    poll::holds,
    process::migrate,
    sql::Sql,
    stack::{ADMIN_TOKEN, CAMPAIGN_BODY, CAMPAIGN_FROM, numbers, text},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Bounds every wait for something the system does by itself.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long the primary's WAL is held back before the crash: commits made meanwhile are on the
/// primary alone unless replication is synchronous (then they wait, unacknowledged).
const LAG: Duration = Duration::from_secs(2);
/// Acknowledgements each client has had before the standby is held back.
const WARM: usize = 20;
/// How long the load keeps running once every service has served again.
const AFTER_RECOVERY: Duration = Duration::from_secs(2);
/// The money organization's opening balance: far more than the debits take.
const OPENING: i64 = 1_000_000;
/// More recipients than the workers can reach during the test, so dispatch never runs dry.
const RECIPIENTS: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_crash_fails_over_with_nothing_acknowledged_lost_or_applied_twice() {
    let started = Instant::now();
    let mut cluster = Cluster::start(FAST_FAILOVER).await;
    let (primary, standby) = (0, 1);
    assert_eq!(cluster.primary().await, primary);
    // The standby first: only `target_session_attrs=read-write` leads the services to the
    // primary, before the failover and after it.
    let url = cluster.url(&[standby, primary]);
    {
        let url = url.clone();
        tokio::task::spawn_blocking(move || migrate(&url))
            .await
            .unwrap_or_else(|e| panic!("migrator: {e}"));
    }
    let mut services = Services::start(&url, 2, 2).await;
    let setup_done = started.elapsed();

    let admin = Admin::new(&services);
    let money = admin.org("Failover money").await;
    admin.credit(&money, OPENING, "failover-opening").await;
    let subaccount = twilio::subaccount(0xFA11);
    let campaign = admin.campaign(&services, &subaccount).await;

    // Clients: one per api (debits and credits in turn), one provider posting top-ups.
    let api_loads: Vec<Load> = services
        .api_urls
        .iter()
        .enumerate()
        .map(|(n, api)| Load::start(vec![money_plan(api, &money, n + 1)]))
        .collect();
    let top_ups = Load::start(vec![top_up_plan(&services.receiver_url, &money)]);
    let warm = Instant::now();
    eventually(
        "every client and the dispatch under way",
        DEADLINE,
        async || {
            let acknowledged: Vec<usize> = api_loads
                .iter()
                .map(|load| load.acknowledged_since(Kind::Debit, warm))
                .chain([top_ups.acknowledged_since(Kind::TopUp, warm)])
                .collect();
            let sent = services.twilio.taken_to(&subaccount).len();
            holds(
                acknowledged.iter().all(|&n| n >= WARM) && sent >= WARM,
                (acknowledged, sent),
            )
        },
    )
    .await;

    let replication = Sql::connect(&cluster.node_url(primary))
        .await
        .rows::<Setting>("SELECT current_setting('synchronous_standby_names') AS value")
        .await
        .remove(0)
        .value;
    figure(format!(
        "replication before the crash: synchronous_standby_names = '{replication}'"
    ));

    // The primary stops sending WAL (commits made now are on it alone unless they wait for the
    // standby), then its host dies.
    let paused = cluster.pause_replication(primary).await;
    tokio::time::sleep(LAG).await;
    let crash_utc = Utc::now();
    let crash = Instant::now();
    cluster.crash(primary);
    paused.died();

    let promoted = cluster
        .wait_for("the standby promoted", |nodes| {
            matches!(nodes[standby].reported.as_str(), "wait_primary" | "primary")
        })
        .await;
    let promoted_after = crash.elapsed();
    let mut sql = Sql::connect(&url).await;
    let workers_back = eventually("every service served again", DEADLINE, async || {
        let apis: Vec<usize> = api_loads
            .iter()
            .map(|load| load.acknowledged_since(Kind::Debit, crash))
            .collect();
        let receiver = top_ups.acknowledged_since(Kind::TopUp, crash);
        let workers = worker_recovery(&mut sql, crash_utc).await;
        if apis.iter().all(|&n| n > 0) && receiver > 0 && workers.len() == 2 {
            Ok(workers)
        } else {
            Err(format!(
                "apis {apis:?}, receiver {receiver}, workers {workers:?}"
            ))
        }
    })
    .await;
    tokio::time::sleep(AFTER_RECOVERY).await;

    // The figures: when each client was first answered yes after the crash.
    let mut served = Vec::new();
    let mut operations = Vec::new();
    for (n, load) in api_loads.into_iter().enumerate() {
        let log = load.stop().await;
        served.push((
            format!("api-{}", n + 1),
            first_acknowledged_after(&log, crash),
        ));
        operations.extend(log);
    }
    let log = top_ups.stop().await;
    served.push((
        "webhook-receiver".to_owned(),
        first_acknowledged_after(&log, crash),
    ));
    operations.extend(log);
    for (worker, seconds) in &workers_back {
        served.push((worker.clone(), Duration::from_secs_f64(seconds.max(0.0))));
    }
    let all_served = served
        .iter()
        .map(|(_, after)| *after)
        .max()
        .unwrap_or_default();
    services.wait_ready(DEADLINE).await;

    let refused: Vec<&Operation> = operations
        .iter()
        .filter(|op| {
            matches!(
                op.attempts.first().map(|a| &a.told),
                Some(Told::Refused(..))
            )
        })
        .collect();
    assert!(refused.is_empty(), "refused: {:?}", brief(refused));

    // The books on the new primary, for what the clients were told.
    let acknowledged: Vec<&Operation> = operations.iter().filter(|op| op.acknowledged()).collect();
    let entries = references(&mut sql, &money).await;
    let inbox = deliveries(&mut sql).await;
    let lost: Vec<&&Operation> = acknowledged
        .iter()
        .filter(|op| match op.kind {
            Kind::Debit | Kind::Credit => !entries.contains_key(&op.ledger_reference()),
            // The receiver acknowledges a stored delivery; the credit may follow from the inbox.
            Kind::TopUp | Kind::Delivery => {
                !inbox.contains_key(op.event_id.as_deref().unwrap_or_default())
            }
        })
        .collect();
    let twice: Vec<(&String, &i64)> = entries
        .iter()
        .chain(&inbox)
        .filter(|(_, count)| **count > 1)
        .collect();
    let count = |kind: Kind| acknowledged.iter().filter(|op| op.kind == kind).count();
    figure(format!(
        "acknowledged {} (debits {}, credits {}, top-ups {}), lost {}, applied twice {}",
        acknowledged.len(),
        count(Kind::Debit),
        count(Kind::Credit),
        count(Kind::TopUp),
        lost.len(),
        twice.len()
    ));
    assert!(
        lost.is_empty(),
        "{} acknowledged but not in the books: {:?}",
        lost.len(),
        brief(lost.iter().map(|op| **op))
    );
    assert!(twice.is_empty(), "in the books twice: {twice:?}");

    // Every unacknowledged operation, sent again identically, applies once.
    let http = e2e::load::client();
    let until = Instant::now() + DEADLINE;
    let mut retried = 0;
    let mut already = 0;
    for op in operations.iter_mut().filter(|op| !op.acknowledged()) {
        retried += 1;
        let acknowledged = op.retry(&http, until).await;
        assert!(acknowledged, "never acknowledged: {:?}", brief([&*op]));
        if op
            .attempts
            .last()
            .is_some_and(|a| a.told == Told::AlreadyDone)
        {
            already += 1;
        }
    }
    figure(format!(
        "unacknowledged {retried}, sent again with their reference: each applied once \
         ({already} had been applied before the answer was lost)"
    ));

    eventually("every top-up credited", DEADLINE, async || {
        let entries = references(&mut sql, &money).await;
        let missing = operations
            .iter()
            .filter(|op| !entries.contains_key(&op.ledger_reference()))
            .count();
        holds(missing == 0, missing)
    })
    .await;
    let entries = references(&mut sql, &money).await;
    let ours: usize = operations.len() + 1;
    assert_eq!(
        entries.len(),
        ours,
        "entries other than the clients' operations"
    );
    assert!(
        entries.values().all(|&n| n == 1),
        "applied twice: {entries:?}"
    );
    let expected = OPENING
        + operations
            .iter()
            .map(Operation::balance_change)
            .sum::<i64>();
    let wallet = admin
        .api
        .get(&format!("/v1/organizations/{}/wallet", money.id))
        .await;
    assert_eq!(wallet["balance"], usd(expected), "{wallet}");
    for org in [&money, &campaign] {
        let reconciliation = admin
            .api
            .get(&format!(
                "/v1/organizations/{}/wallet/reconciliation",
                org.id
            ))
            .await;
        assert_eq!(reconciliation["clean"], true, "{reconciliation}");
    }

    let sent = services.twilio.taken_to(&subaccount);
    let mut per_number: BTreeMap<&String, usize> = BTreeMap::new();
    for number in &sent {
        *per_number.entry(number).or_default() += 1;
    }
    let sent_twice = per_number.values().filter(|&&n| n > 1).count();
    figure(format!(
        "messages sent {}, to a number twice {sent_twice}",
        sent.len()
    ));
    assert_eq!(sent_twice, 0, "{per_number:?}");
    assert_eq!(
        services.exited(),
        Vec::<String>::new(),
        "no service may die"
    );

    figure(format!(
        "standby promoted ({}) {:.1} s after the crash",
        promoted[standby].reported,
        promoted_after.as_secs_f64()
    ));
    figure(format!(
        "served again: {}; every service {:.1} s after the crash",
        served
            .iter()
            .map(|(name, after)| format!("{name} {:.1} s", after.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        all_served.as_secs_f64()
    ));
    figure(format!(
        "cluster and services started in {:.1} s, whole test {:.1} s",
        setup_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
}

fn figure(line: String) {
    println!("FAILOVER {line}");
}

/// What a failure shows of operations: kind, reference and the answers, never the credentials
/// and bodies they carry; the first 20.
fn brief<'a>(operations: impl IntoIterator<Item = &'a Operation>) -> Vec<String> {
    operations
        .into_iter()
        .take(20)
        .map(|op| {
            let told: Vec<&Told> = op.attempts.iter().map(|attempt| &attempt.told).collect();
            format!("{:?} {} {told:?}", op.kind, op.ledger_reference())
        })
        .collect()
}

/// Debits and credits in turn, through `api`, under references of client `n`.
fn money_plan(api: &str, org: &Org, n: usize) -> Plan {
    let (api, org) = (api.to_owned(), org.clone());
    Arc::new(move |i| {
        let reference = format!("failover-api{n}-{i:06}");
        if i % 2 == 0 {
            Operation::debit(&api, &org, reference, 100 + (i % 7) as i64)
        } else {
            Operation::credit(&api, &org, reference, 50 + (i % 5) as i64)
        }
    })
}

/// Stripe Checkout top-ups of the organization's wallet, delivered to `receiver`.
fn top_up_plan(receiver: &str, org: &Org) -> Plan {
    let (receiver, org) = (receiver.to_owned(), org.id.clone());
    Arc::new(move |i| {
        Operation::stripe_top_up(
            &receiver,
            &org,
            &format!("pi_3FailoverE2e{i:06}"),
            &format!("evt_1FailoverE2e{i:06}"),
            500,
        )
    })
}

/// How long after `crash` the client of `log` (one client, its operations in order) was first
/// answered yes to a request it sent after the crash.
fn first_acknowledged_after(log: &[Operation], crash: Instant) -> Duration {
    log.windows(2)
        .find(|pair| {
            let sent_after = pair[0].attempts.first().is_some_and(|a| a.at > crash);
            sent_after && pair[1].acknowledged()
        })
        .and_then(|pair| pair[1].acknowledged_at())
        .map(|at| at - crash)
        .unwrap_or_else(|| panic!("no acknowledgement after the crash"))
}

#[derive(Debug, QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(Debug, QueryableByName)]
struct Recovered {
    #[diesel(sql_type = Text)]
    worker: String,
    #[diesel(sql_type = Double)]
    seconds: f64,
}

/// Per worker, how many seconds after the crash its first batch claimed after it was settled.
async fn worker_recovery(sql: &mut Sql, crash: chrono::DateTime<Utc>) -> Vec<(String, f64)> {
    let crash = crash.to_rfc3339();
    sql.rows::<Recovered>(&format!(
        "SELECT split_part(worker, ':', 1) AS worker, \
                extract(epoch FROM min(settled_at) - '{crash}'::timestamptz)::float8 AS seconds \
         FROM campaign_batches \
         WHERE claimed_at > '{crash}'::timestamptz AND settled_at IS NOT NULL \
         GROUP BY 1 ORDER BY 1"
    ))
    .await
    .into_iter()
    .map(|row| (row.worker, row.seconds))
    .collect()
}

/// The organization wallet's ledger references and how often each is booked.
async fn references(sql: &mut Sql, org: &Org) -> BTreeMap<String, i64> {
    sql.rows::<Named>(&format!(
        "SELECT reference AS name, count(*) AS n FROM ledger_entries \
         WHERE wallet_id = (SELECT id FROM wallets WHERE organization_id = '{}') \
         GROUP BY reference",
        org.id
    ))
    .await
    .into_iter()
    .map(|row| (row.name, row.n))
    .collect()
}

/// Stripe's deliveries in the inbox and how often each is stored.
async fn deliveries(sql: &mut Sql) -> BTreeMap<String, i64> {
    sql.rows::<Named>(
        "SELECT delivery_id AS name, count(*) AS n FROM webhook_inbox \
         WHERE provider = 'stripe' GROUP BY delivery_id",
    )
    .await
    .into_iter()
    .map(|row| (row.name, row.n))
    .collect()
}

/// The operator's calls that set the test up, through the first api.
struct Admin {
    api: Api,
}

impl Admin {
    fn new(services: &Services) -> Self {
        Self {
            api: Api {
                client: services.client.clone(),
                url: services.api_urls[0].clone(),
            },
        }
    }

    /// A USD organization with an API key of its own.
    async fn org(&self, name: &str) -> Org {
        self.api
            .create_org_with(json!({"name": name, "currency": "USD"}))
            .await
    }

    async fn credit(&self, org: &Org, amount: i64, reference: &str) {
        self.api.post(
            &format!("/v1/organizations/{}/wallet/credits", org.id),
            ADMIN_TOKEN,
            Some(reference),
            Some(
                &json!({"amount": usd(amount), "currency": "USD", "counterparty": "topup:manual"}),
            ),
            StatusCode::CREATED,
        )
        .await;
    }

    /// An organization with an active Stripe subscription, a funded wallet and a running
    /// campaign of [`RECIPIENTS`] recipients on `subaccount`.
    async fn campaign(&self, services: &Services, subaccount: &str) -> Org {
        let org = self.org("Failover campaigns").await;
        let subscription = "sub_1FailoverE2eCampaigns";
        self.api
            .post(
                &format!("/v1/admin/organizations/{}/subscriptions", org.id),
                ADMIN_TOKEN,
                Some("failover-subscription"),
                Some(&json!({
                    "plan": "pro",
                    "provider": "stripe",
                    "provider_subscription_id": subscription,
                })),
                StatusCode::CREATED,
            )
            .await;
        let now = Utc::now().timestamp();
        let paid = Invoice {
            id: "in_1FailoverE2eCampaigns".to_owned(),
            subscription: subscription.to_owned(),
            organization: org.id.clone(),
            amount: 4900,
            currency: "usd".to_owned(),
            period_start: now,
            period_end: now + 30 * 86_400,
            attempt_count: 1,
        }
        .paid("evt_1FailoverE2eCampaignsPaid", now);
        let body = events::bytes(&paid);
        let (name, value) = services.keys.stripe_header(&body, now);
        let response = self
            .api
            .client
            .post(format!("{}/webhooks/stripe", services.receiver_url))
            .header(name, value)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoice.paid: {e}"));
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(answer["status"], "applied", "{answer}");
        self.credit(&org, 100_000, "failover-campaign-funds").await;

        let brand = self
            .api
            .post(
                &format!("/v1/organizations/{}/brands", org.id),
                &org.key,
                None,
                Some(&json!({"name": "Failover Shoes", "twilio_subaccount_sid": subaccount})),
                StatusCode::CREATED,
            )
            .await;
        let created = self
            .api
            .post(
                &format!("/v1/organizations/{}/campaigns", org.id),
                &org.key,
                None,
                Some(&json!({
                    "brand_id": text(&brand["id"]),
                    "name": "Failover",
                    "body": CAMPAIGN_BODY,
                    "from": CAMPAIGN_FROM,
                    "price_per_segment": "0.01",
                    "currency": "USD",
                })),
                StatusCode::CREATED,
            )
            .await;
        let id = text(&created["id"]);
        let added = self
            .api
            .post(
                &format!("/v1/organizations/{}/campaigns/{id}/recipients", org.id),
                &org.key,
                None,
                Some(&json!({"numbers": numbers(0, RECIPIENTS)})),
                StatusCode::OK,
            )
            .await;
        assert_eq!(added["added"], RECIPIENTS, "{added}");
        let started = self
            .api
            .post(
                &format!("/v1/organizations/{}/campaigns/{id}/start", org.id),
                &org.key,
                Some(&format!("failover-start-{id}")),
                None,
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(started["campaign"]["status"], "running", "{started}");
        org
    }
}
