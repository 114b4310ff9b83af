//! Faults through the built binaries: the `api`, `webhook-receiver` and `worker` processes
//! against one database, with fake Twilio, Stripe and SMTP on loopback, while things break
//! under them. Each test injects one kind of fault, lets the system recover by itself, and
//! checks the books and what the fakes recorded, exactly.
//!
//! - `twilio_outage`: Twilio answers 500s and timeouts for a while, then recovers: every
//!   suspension and reactivation lands, the latest wish last, no message is sent twice.
//! - `smtp_outage`: the SMTP server goes down (its port closed, open sessions cut), then comes
//!   back: every notification is delivered exactly once.
//! - `database_sessions`: every service's database sessions are ended with
//!   `pg_terminate_backend`, three times, under client load (debits and credits through the
//!   api, top-ups through the receiver, a campaign through the worker): every acknowledged
//!   operation is in the books exactly once, every unacknowledged one retried with its
//!   reference applies once, and every service recovers without a restart.
//! - `receiver_crash`: the receiver is SIGKILLed between its inbox commit and its answer (a
//!   holding proxy withholds the answer): the provider's identical retry is acknowledged and
//!   applied once.
//! - `worker_crash`: a worker is SIGKILLed with a batch in flight (some messages answered,
//!   some not): a new worker finishes the campaign, every recipient sent and charged once.
//!
//! Each prints its figures on lines starting `FAULTS` (`cargo test -p e2e --test faults --
//! --nocapture`); docs/reliability.md ("Faults through the built binaries") quotes them.

mod database_sessions;
mod receiver_crash;
mod smtp_outage;
mod twilio_outage;
mod worker_crash;

use std::time::Duration;

use chrono::Utc;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Text},
};
use e2e::{
    Org, Stack,
    events::stripe::Invoice,
    sql::Sql,
    stack::{numbers, text},
};
use serde_json::Value;

/// Background effects (one-second job ticks, the dispatcher, outbox backoff) arrive well within
/// this; it is a bound on waiting, never the assertion.
const DEADLINE: Duration = Duration::from_secs(60);

/// A Stripe-billed organization whose invoices the test pays or lets fail, one renewal after
/// the other, each event a second after the previous one (Stripe's times are whole seconds).
struct Billed {
    org: Org,
    subscription: String,
    tag: String,
    start: i64,
    /// The renewal invoice events are about now.
    renewal: i64,
    /// Seconds after `start` of the next event.
    step: i64,
}

impl Billed {
    /// A new organization (billed to `email`, if any) with a Stripe subscription made active by
    /// its first paid invoice.
    async fn active(stack: &Stack, tag: &str, email: Option<&str>) -> Self {
        let name = format!("Faults {tag}");
        let org = match email {
            Some(email) => stack.create_org_billed_to(&name, "USD", email).await,
            None => stack.create_org(&name, "USD").await,
        };
        let subscription = format!("sub_E2eFaults{tag}");
        stack
            .create_subscription(&org, "stripe", &subscription)
            .await;
        let mut billed = Self {
            org,
            subscription,
            tag: tag.to_owned(),
            start: Utc::now().timestamp(),
            renewal: 0,
            step: 1,
        };
        billed.pay(stack).await;
        assert_eq!(stack.subscription(&billed.org).await["status"], "active");
        billed
    }

    fn invoice(&self) -> Invoice {
        let period = 30 * 86_400;
        let period_start = self.start + self.renewal * period;
        Invoice {
            id: format!("in_E2eFaults{}R{}", self.tag, self.renewal),
            subscription: self.subscription.clone(),
            organization: self.org.id.clone(),
            amount: 4900,
            currency: "usd".to_owned(),
            period_start,
            period_end: period_start + period,
            attempt_count: 1,
        }
    }

    fn next_created(&mut self) -> i64 {
        self.step += 1;
        self.start + self.step
    }

    /// The current invoice is paid (`invoice.paid`).
    async fn pay(&mut self, stack: &Stack) {
        let created = self.next_created();
        let event = self.invoice().paid(
            &format!("evt_E2eFaults{}Paid{}", self.tag, self.renewal),
            created,
        );
        let answer = stack.stripe(&event).await;
        assert_eq!(answer["status"], "applied", "{answer}");
    }

    /// The next renewal's payment fails (`invoice.payment_failed`).
    async fn fail(&mut self, stack: &Stack) {
        self.renewal += 1;
        let created = self.next_created();
        let event = self.invoice().payment_failed(
            &format!("evt_E2eFaults{}Fail{}", self.tag, self.renewal),
            created,
        );
        let answer = stack.stripe(&event).await;
        assert_eq!(answer["status"], "applied", "{answer}");
    }
}

/// A brand on `subaccount` and a running campaign of `count` recipients from `first`, for a
/// funded organization; (campaign id, numbers).
async fn campaign(
    stack: &Stack,
    org: &Org,
    subaccount: &str,
    first: usize,
    count: usize,
) -> (String, Vec<String>) {
    let brand = stack.create_brand(org, subaccount).await;
    let numbers = numbers(first, count);
    let id = stack
        .start_campaign(org, &text(&brand["id"]), "Faults", &numbers)
        .await;
    (id, numbers)
}

/// The campaign's summary: `campaign`, `recipients` counts, `money`.
async fn summary(stack: &Stack, org: &Org, campaign: &str) -> Value {
    stack
        .get(&format!(
            "/v1/organizations/{}/campaigns/{campaign}",
            org.id
        ))
        .await
}

#[derive(Debug, Clone, QueryableByName)]
struct Recipient {
    #[diesel(sql_type = Text)]
    phone: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    charged: i64,
}

/// Every recipient of the campaign: number, status, what it was charged (minor units).
async fn recipients(sql: &mut Sql, campaign: &str) -> Vec<Recipient> {
    sql.rows(&format!(
        "SELECT phone, status, charged FROM campaign_recipients \
         WHERE campaign_id = '{campaign}' ORDER BY phone"
    ))
    .await
}

/// The wallet's balance in minor units, as the api reports it.
async fn balance(stack: &Stack, org: &Org) -> i64 {
    minor(&stack.wallet(org).await["balance"])
}

/// "12.34" as 1234.
fn minor(amount: &Value) -> i64 {
    let amount = text(amount);
    let (units, cents) = amount.split_once('.').unwrap_or((&amount, "00"));
    let units: i64 = units.parse().unwrap_or_else(|e| panic!("{amount}: {e}"));
    let cents: i64 = cents.parse().unwrap_or_else(|e| panic!("{amount}: {e}"));
    units * 100 + if units < 0 { -cents } else { cents }
}

/// The wallet reconciles: the stored figures are the entries' sums and the chain is unbroken.
async fn assert_reconciles(stack: &Stack, org: &Org) {
    let reconciliation = stack
        .get(&format!(
            "/v1/organizations/{}/wallet/reconciliation",
            org.id
        ))
        .await;
    assert_eq!(reconciliation["clean"], true, "{reconciliation}");
}

/// A figure of the run, for docs/reliability.md.
fn figure(test: &str, line: impl std::fmt::Display) {
    println!("FAULTS {test}: {line}");
}
