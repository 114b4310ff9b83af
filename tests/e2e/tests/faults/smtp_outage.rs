//! The SMTP server goes down (its port refuses connections and the sessions open to it are
//! cut), billing events keep coming and each asks for a customer email, then the server comes
//! back: every notification is delivered exactly once, none is lost or sent twice, and billing
//! state was never held up by the outage.

use std::{collections::BTreeSet, time::Instant};

use diesel::{QueryableByName, sql_types::Text};
use e2e::{Stack, StackOptions, eventually, poll::holds, sql::Sql};

use crate::{Billed, DEADLINE, figure};

#[derive(Debug, QueryableByName)]
struct Notification {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Text)]
    status: String,
}

/// Every notification in the outbox, with where it goes and its status.
async fn notifications(sql: &mut Sql) -> Vec<Notification> {
    sql.rows(
        "SELECT m.id::text AS id, o.billing_email AS email, m.status \
         FROM outbox_messages m JOIN organizations o ON o.id = m.organization_id \
         WHERE m.topic = 'notification' ORDER BY m.id",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_up_delivers_every_notification_once() {
    let stack = Stack::start(StackOptions {
        only_providers: Some(vec!["STRIPE"]),
        ..StackOptions::default()
    })
    .await;
    let mut sql = Sql::connect(&stack.database_url()).await;
    let mut tenants = Vec::new();
    for n in 0..4 {
        let email = format!("billing+smtp{n}@example.com");
        tenants.push(Billed::active(&stack, &format!("Smtp{n}"), Some(&email)).await);
    }

    // Email while the server is up: the worker's mailer has talked to it.
    tenants[0].fail(&stack).await;
    eventually("the emails so far delivered", DEADLINE, async || {
        let all = notifications(&mut sql).await;
        holds(
            !all.is_empty() && all.iter().all(|n| n.status == "delivered"),
            all,
        )
    })
    .await;
    let before = stack.smtp.messages().len();

    stack.smtp.down().await;
    let down_at = Instant::now();
    tenants[1].fail(&stack).await;
    tenants[2].fail(&stack).await;
    tenants[3].fail(&stack).await;
    tenants[0].pay(&stack).await;
    tenants[1].pay(&stack).await;
    // Billing state is committed whatever the mail server does.
    for (n, status) in [
        (0, "active"),
        (1, "active"),
        (2, "past_due"),
        (3, "past_due"),
    ] {
        let subscription = stack.subscription(&tenants[n].org).await;
        assert_eq!(subscription["status"], status, "{subscription}");
    }

    // Every notification made while the server is down has failed at least once, and waits.
    let waiting = eventually(
        "every new notification tried and failed",
        DEADLINE,
        async || {
            let failed = sql
                .count(
                    "SELECT count(*) AS n FROM outbox_messages WHERE topic = 'notification' \
                     AND status = 'pending' AND attempts >= 1 AND last_error IS NOT NULL",
                )
                .await;
            let undelivered = sql
                .count(
                    "SELECT count(*) AS n FROM outbox_messages WHERE topic = 'notification' \
                     AND status <> 'delivered'",
                )
                .await;
            let delivered = sql
                .count(
                    "SELECT count(*) AS n FROM outbox_messages WHERE topic = 'notification' \
                     AND status = 'delivered'",
                )
                .await;
            // No mail can have gone out: one settled as delivered now is lost.
            assert_eq!(
                delivered as usize, before,
                "notifications settled as delivered while the SMTP server was down"
            );
            if failed == undelivered && failed >= 5 {
                Ok(failed)
            } else {
                Err(format!("{failed} failed of {undelivered} undelivered"))
            }
        },
    )
    .await;
    let failed_attempts = sql
        .count(
            "SELECT coalesce(sum(attempts), 0)::bigint AS n FROM outbox_messages \
             WHERE topic = 'notification' AND status = 'pending'",
        )
        .await;
    assert_eq!(
        stack.smtp.messages().len(),
        before,
        "mail got through a closed port"
    );

    stack.smtp.up().await;
    let down_for = down_at.elapsed();
    let up_at = Instant::now();
    let all = eventually("every notification delivered", DEADLINE, async || {
        let all = notifications(&mut sql).await;
        if all.iter().all(|n| n.status == "delivered") {
            Ok(all)
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    let drained_in = up_at.elapsed();

    // Once each: nothing is pending any more, so what the server has is final.
    let mail = stack.smtp.messages();
    assert_eq!(
        mail.len(),
        all.len(),
        "one email per notification: {:?}",
        mail.iter()
            .map(|m| m.header("Message-ID"))
            .collect::<Vec<_>>()
    );
    let ids: BTreeSet<String> = mail
        .iter()
        .map(|m| m.header("Message-ID").unwrap_or_default())
        .collect();
    let expected: BTreeSet<String> = all
        .iter()
        .map(|n| format!("<{}@example.com>", n.id))
        .collect();
    assert_eq!(ids, expected, "each notification's own email, once");
    for notification in &all {
        let email = mail
            .iter()
            .find(|m| {
                m.header("Message-ID").as_deref()
                    == Some(&format!("<{}@example.com>", notification.id))
            })
            .unwrap_or_else(|| panic!("no email for {}", notification.id));
        assert_eq!(email.recipients, std::slice::from_ref(&notification.email));
    }
    assert_eq!(stack.smtp.refused(), 0);
    let dead = sql
        .count("SELECT count(*) AS n FROM outbox_messages WHERE status = 'dead'")
        .await;
    assert_eq!(dead, 0, "a notification was given up on");

    figure(
        "smtp_outage",
        format!(
            "SMTP down {:.1} s: {waiting} notifications waiting, {failed_attempts} failed attempts; \
             up: all {} delivered in {:.1} s, {} emails received, lost 0, doubled 0",
            down_for.as_secs_f64(),
            all.len(),
            drained_in.as_secs_f64(),
            mail.len()
        ),
    );
}
