//! Provider events end to end: genuine PayPal, Stripe and PayHere deliveries, signed as each
//! provider signs them, posted to the `webhook-receiver` binary; their effects read back from
//! the `api` binary; the `worker` binary runs the background jobs (outbox to Twilio, campaign
//! control, the dispatcher, the inbox retries); fake Twilio, PayPal and Stripe APIs on loopback record
//! exactly what the binaries sent them.
//!
//! Each test has its own database, processes and fakes (`e2e::Stack`), so they run in parallel.
//!
//! - `suspension`: PayPal suspends, everything stops (subscription, wallet, campaigns, Twilio);
//!   a sale restores it all; an activation restores only when PayPal says it is paid up.
//! - `restoration`: the same failure and restoration with Stripe and with PayHere.
//! - `top_ups`: a top-up credits once however often and through however many event types its
//!   completion arrives; a partial refund debits once.
//! - `timeline`: a Stripe timeline delivered three times over and shuffled ends where the
//!   ordered delivery ends.
//! - `refusals`: forged, tampered, re-serialized and stale deliveries are refused with their
//!   codes and change nothing.

mod inbox;
mod refusals;
mod restoration;
mod suspension;
mod timeline;
mod top_ups;

use chrono::{DateTime, Utc};
use e2e::{Org, Stack, stack::text};
use reqwest::Method;
use serde_json::{Value, json};

/// A time the api wrote (RFC 3339).
fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&text(value))
        .unwrap_or_else(|e| panic!("{value} is not a time: {e}"))
        .with_timezone(&Utc)
}

/// A time without its sub-second part: what providers that stamp whole seconds carry.
fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// The sources of the wallet's freezes.
fn freeze_sources(wallet: &Value) -> Vec<String> {
    e2e::stack::array(&wallet["freezes"])
        .iter()
        .map(|freeze| text(&freeze["source"]))
        .collect()
}

/// What a refused delivery must not change: the organization's subscription (or its absence),
/// wallet and ledger, and the whole inbox.
async fn books(stack: &Stack, org: &Org) -> Value {
    let (status, subscription) = stack
        .call(
            Method::GET,
            &format!("/v1/admin/organizations/{}/subscription", org.id),
            e2e::stack::ADMIN_TOKEN,
            None,
            None,
        )
        .await;
    json!({
        "subscription": [status.as_u16(), subscription],
        "wallet": stack.wallet(org).await,
        "entries": stack.entries(org).await,
        "inbox": stack.webhook_events("").await,
    })
}

/// The ledger entries of `kind`, oldest first, as (amount, reference, counterparty).
async fn entries_of(stack: &Stack, org: &Org, kind: &str) -> Vec<(String, String, String)> {
    let mut entries: Vec<(String, String, String)> = stack
        .entries(org)
        .await
        .iter()
        .filter(|entry| entry["kind"] == kind)
        .map(|entry| {
            (
                text(&entry["amount"]),
                text(&entry["reference"]),
                text(&entry["counterparty"]),
            )
        })
        .collect();
    entries.reverse();
    entries
}
