//! Twilio fails for a while (every call answered 500, or answered only after the worker gave up
//! on it, in turn), while payments fail and succeed and the organizations' wishes for their
//! subaccounts change, then Twilio recovers:
//!
//! - billing state is committed at once and never held up or rolled back by the outage;
//! - every suspension and reactivation lands, and Twilio ends in each brand's **latest** wish
//!   (suspended, reactivated, suspended again: suspended), with nothing dead-lettered;
//! - the campaign of a reactivated organization resumes and completes;
//! - no message is sent twice: a send Twilio failed or never answered is charged as maybe sent
//!   and never sent again.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use e2e::{
    Org, Stack, StackOptions, eventually,
    fakes::twilio::{self, Answer, Exchange, Fault},
    poll::holds,
    sql::Sql,
    stack::text,
};

use crate::{Billed, DEADLINE, campaign, figure, recipients, summary};

/// What Twilio answers during the outage, to each kind of request: first no answer in time
/// (Twilio did it, but the worker gives up after its 15 s timeout: the send that a naive retry
/// would double), then 500s.
const FAULTS: [Fault; 2] = [Fault::Timeout, Fault::ServerError];
/// 0.05 USD a message.
const PRICE: i64 = 5;

struct Tenant {
    billed: Billed,
    subaccount: String,
    brand: String,
    campaign: Option<(String, Vec<String>)>,
    /// The subaccount status it must end in (`None`: never touched).
    wish: Option<&'static str>,
}

impl Tenant {
    fn org(&self) -> &Org {
        &self.billed.org
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_outage_then_recovery_lands_the_latest_wishes_and_sends_nothing_twice() {
    let stack = Stack::start(StackOptions {
        message_delay: Duration::from_millis(100),
        only_providers: Some(vec!["STRIPE"]),
        ..StackOptions::default()
    })
    .await;
    let mut sql = Sql::connect(&stack.database_url()).await;
    // A is suspended; B suspended and restored; C suspended, restored and suspended again; D
    // keeps paying and its campaign runs into the outage.
    let mut tenants = Vec::new();
    for (n, (tag, recipients, wish)) in [
        ("TwA", 0, Some("suspended")),
        ("TwB", 8, Some("active")),
        ("TwC", 8, Some("suspended")),
        ("TwD", 10, None),
    ]
    .into_iter()
    .enumerate()
    {
        let billed = Billed::active(&stack, tag, None).await;
        stack.credit(&billed.org, "100.00", "USD").await;
        let subaccount = twilio::subaccount(0x7A00 + n as u32);
        let (brand, campaign) = if recipients > 0 {
            let (id, numbers) = campaign(
                &stack,
                &billed.org,
                &subaccount,
                60_000 + 100 * n,
                recipients,
            )
            .await;
            let campaign = stack.campaign(&billed.org, &id).await;
            (text(&campaign["brand_id"]), Some((id, numbers)))
        } else {
            let brand = stack.create_brand(&billed.org, &subaccount).await;
            (text(&brand["id"]), None)
        };
        tenants.push(Tenant {
            billed,
            subaccount,
            brand,
            campaign,
            wish,
        });
    }
    // Every campaign is sending when Twilio goes down.
    eventually("the campaigns sending", DEADLINE, async || {
        let sent: Vec<usize> = tenants
            .iter()
            .filter(|t| t.campaign.is_some())
            .map(|t| stack.twilio.taken_to(&t.subaccount).len())
            .collect();
        holds(sent.iter().all(|n| *n >= 1), sent)
    })
    .await;

    stack.twilio.start_outage(&FAULTS);
    let outage_at = Instant::now();
    let [a, b, c, _] = &mut tenants[..] else {
        unreachable!("four tenants")
    };
    a.billed.fail(&stack).await;
    b.billed.fail(&stack).await;
    c.billed.fail(&stack).await;
    b.billed.pay(&stack).await;
    c.billed.pay(&stack).await;
    c.billed.fail(&stack).await;
    // Billing state is committed when the deliveries are answered, outage or not.
    let billing = [
        ("past_due", true),
        ("active", false),
        ("past_due", true),
        ("active", false),
    ];
    let check_billing = async |tenants: &[Tenant]| {
        for (tenant, (status, frozen)) in tenants.iter().zip(billing) {
            let subscription = stack.subscription(tenant.org()).await;
            assert_eq!(subscription["status"], status, "{subscription}");
            let wallet = stack.wallet(tenant.org()).await;
            assert_eq!(wallet["frozen"], frozen, "{wallet}");
        }
    };
    check_billing(&tenants).await;

    // The outage lasts: each brand records its latest wish and its failing call, every call
    // waiting in the outbox has failed at least twice (the outbox's retries fail too), and
    // Twilio has failed status changes both ways (500, no answer in time).
    eventually("every wish failing at Twilio", DEADLINE, async || {
        let mut seen = Vec::new();
        for tenant in tenants.iter().filter(|t| t.wish.is_some()) {
            let brand = stack.brand(tenant.org(), &tenant.brand).await;
            // A reactivation decided before the suspension's control message was handled
            // supersedes it: the brand then never left `active`, and its call (Status=active)
            // fails all the same.
            let pending: &[&str] = match tenant.wish {
                Some("active") => &["reactivating", "active"],
                _ => &["suspending"],
            };
            seen.push((
                pending
                    .iter()
                    .any(|status| brand["messaging_status"] == *status)
                    && !brand["last_error"].is_null(),
                brand,
            ));
        }
        let exchanges = stack.twilio.exchanges();
        let failed = |fault| {
            exchanges
                .iter()
                .any(|e| e.is_status_change() && e.answer == Answer::Fault(fault))
        };
        let retried = sql
            .count(
                "SELECT count(*) AS n FROM outbox_messages \
                 WHERE topic = 'twilio.subaccount' AND status = 'pending' AND attempts >= 2",
            )
            .await;
        let waiting = sql
            .count(
                "SELECT count(*) AS n FROM outbox_messages \
                 WHERE topic = 'twilio.subaccount' AND status = 'pending'",
            )
            .await;
        // Nothing can have reached Twilio: a call settled now was dropped.
        let settled = sql
            .count(
                "SELECT count(*) AS n FROM outbox_messages \
                 WHERE topic = 'twilio.subaccount' AND status <> 'pending'",
            )
            .await;
        assert_eq!(settled, 0, "subaccount calls settled while Twilio was down");
        holds(
            seen.iter().all(|(ok, _)| *ok)
                && failed(Fault::ServerError)
                && failed(Fault::Timeout)
                && waiting >= 3
                && retried == waiting,
            (seen, retried, waiting),
        )
    })
    .await;
    check_billing(&tenants).await;
    let c_campaign = &tenants[2].campaign.as_ref().map(|(id, _)| id.clone());
    if let Some(id) = c_campaign {
        let campaign = stack.campaign(tenants[2].org(), id).await;
        assert_eq!(campaign["status"], "paused", "{campaign}");
    }

    stack.twilio.recover();
    let outage_for = outage_at.elapsed();
    let recovered_at = Instant::now();
    eventually("every wish landed", DEADLINE, async || {
        let mut seen = Vec::new();
        for tenant in &tenants {
            let brand = stack.brand(tenant.org(), &tenant.brand).await;
            let expected = tenant.wish.unwrap_or("active");
            seen.push((brand["messaging_status"] == expected, brand));
        }
        holds(seen.iter().all(|(ok, _)| *ok), seen)
    })
    .await;
    let landed_in = recovered_at.elapsed();
    // Quiet: every outbox message delivered (none dead), the campaigns that may send done.
    eventually("the outbox drained", DEADLINE, async || {
        let undelivered = sql
            .count("SELECT count(*) AS n FROM outbox_messages WHERE status <> 'delivered'")
            .await;
        holds(undelivered == 0, undelivered)
    })
    .await;
    for tenant in tenants.iter().filter(|t| t.wish != Some("suspended")) {
        if let Some((id, _)) = &tenant.campaign {
            eventually("a sending campaign completed", DEADLINE, async || {
                let summary = summary(&stack, tenant.org(), id).await;
                holds(summary["campaign"]["status"] == "completed", summary)
            })
            .await;
        }
    }
    let completed_in = recovered_at.elapsed();
    check_billing(&tenants).await;

    // Twilio is in each brand's latest wish, and the last call it applied was that wish.
    let exchanges = stack.twilio.exchanges();
    for tenant in &tenants {
        let applied: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| e.is_status_change() && e.account() == tenant.subaccount && e.applied())
            .collect();
        assert_eq!(
            stack.twilio.account_status(&tenant.subaccount).as_deref(),
            tenant.wish,
            "{}",
            tenant.subaccount
        );
        assert_eq!(
            applied
                .last()
                .and_then(|e| e.request.form.get("Status"))
                .map(String::as_str),
            tenant.wish,
            "{}: the last call Twilio applied",
            tenant.subaccount
        );
        for exchange in &applied {
            assert_eq!(
                exchange.request.authorization.as_deref(),
                Some(twilio::parent_auth().as_str())
            );
        }
    }

    // No message sent twice; what Twilio failed or never answered is charged as maybe sent and
    // never sent again.
    let mut maybe_sent = 0;
    for tenant in &tenants {
        let Some((id, numbers)) = &tenant.campaign else {
            continue;
        };
        let sends: Vec<&Exchange> = exchanges
            .iter()
            .filter(|e| e.is_send() && e.account() == tenant.subaccount)
            .collect();
        let mut per_number: BTreeMap<String, Answer> = BTreeMap::new();
        for send in &sends {
            let to = send.request.form.get("To").cloned().unwrap_or_default();
            let previous = per_number.insert(to.clone(), send.answer);
            assert!(previous.is_none(), "{to} was sent twice");
        }
        for recipient in recipients(&mut sql, id).await {
            let expected = match per_number.get(&recipient.phone) {
                Some(Answer::Ok) => ("sent", PRICE),
                Some(Answer::Fault(_) | Answer::Held) => {
                    maybe_sent += 1;
                    ("unconfirmed", PRICE)
                }
                None => ("pending", 0),
            };
            assert_eq!(
                (recipient.status.as_str(), recipient.charged),
                expected,
                "{}",
                recipient.phone
            );
        }
        let summary = summary(&stack, tenant.org(), id).await;
        if tenant.wish == Some("suspended") {
            assert_eq!(summary["campaign"]["status"], "paused", "{summary}");
            assert_eq!(
                summary["campaign"]["pause_reason"], "subscription_inactive",
                "{summary}"
            );
        } else {
            assert_eq!(summary["recipients"]["pending"], 0, "{summary}");
            assert!(numbers.iter().all(|n| per_number.contains_key(n)));
        }
    }
    for tenant in &tenants {
        crate::assert_reconciles(&stack, tenant.org()).await;
    }

    let count = |pred: &dyn Fn(&Exchange) -> bool| exchanges.iter().filter(|e| pred(e)).count();
    figure(
        "twilio_outage",
        format!(
            "outage {:.1} s: {} answered 500, {} answered after the caller's timeout \
             ({} status changes failed of {} asked, {} sends failed)",
            outage_for.as_secs_f64(),
            count(&|e| e.answer == Answer::Fault(Fault::ServerError)),
            count(&|e| e.answer == Answer::Fault(Fault::Timeout)),
            count(&|e| e.is_status_change() && matches!(e.answer, Answer::Fault(_))),
            count(&|e| e.is_status_change()),
            count(&|e| e.is_send() && matches!(e.answer, Answer::Fault(_))),
        ),
    );
    figure(
        "twilio_outage",
        format!(
            "wishes: A suspend; B suspend, reactivate; C suspend, reactivate, suspend: all \
             landed {:.1} s after recovery, Twilio left in each latest wish; campaigns done \
             {:.1} s after recovery; sends {}, maybe sent (charged, never resent) {maybe_sent}, \
             sent twice 0, dead letters 0",
            landed_in.as_secs_f64(),
            completed_in.as_secs_f64(),
            count(&|e| e.is_send()),
        ),
    );
}
