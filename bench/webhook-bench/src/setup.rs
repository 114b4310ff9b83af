//! The organizations deliveries are about, made through the domain crates' own APIs: each with
//! a USD wallet and a subscription billed through its provider (`ProviderRef`), created and then
//! activated, as a checkout completed at the provider leaves it.

use std::sync::Arc;

use anyhow::Context;
use chrono::{Duration, Utc};
use db::{AsyncPgConnection, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::Ledger;
use primitives::{Currency, OrganizationId, ProviderName};
use subscriptions::{
    EventEnvelope, EventId, EventSource, NewSubscription, PlanCode, ProviderRef, SubscriptionEvent,
    Subscriptions, TimePrecision,
};

use crate::{deliveries::Organization, mix};

/// Organizations made per transaction (one commit per batch, not four per organization).
const BATCH: usize = 200;

/// The provider's id of organization `index`'s subscription, in each provider's own form.
pub fn provider_subscription_id(provider: ProviderName, index: usize) -> String {
    match provider {
        ProviderName::Stripe => format!("sub_1Bench{index:014}"),
        ProviderName::Paypal => format!("I-BENCH{index:08}"),
        // PayHere's own subscription id (digits), as bound by its first authorization.
        ProviderName::Payhere => format!("42{index:010}"),
    }
}

fn envelope(id: String, event: SubscriptionEvent) -> anyhow::Result<EventEnvelope> {
    Ok(EventEnvelope {
        source: EventSource::parse("bench")?,
        event_id: EventId::parse(&id)?,
        occurred_at: Utc::now(),
        precision: TimePrecision::Microsecond,
        event,
    })
}

async fn organization(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    subscriptions: &Subscriptions,
    index: usize,
) -> anyhow::Result<Organization> {
    let id = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id.as_uuid()),
            organizations::name.eq(format!("webhook-bench {index}")),
        ))
        .execute(conn)
        .await
        .context("inserting the organization")?;
    ledger.open_wallet(conn, id, Currency::USD).await?;
    let provider = mix::provider_of(index);
    let provider_subscription_id = provider_subscription_id(provider, index);
    let created = envelope(format!("create-{index}"), SubscriptionEvent::Created)?;
    let subscription = subscriptions
        .create(
            conn,
            NewSubscription {
                organization_id: id,
                plan: PlanCode::parse("pro")?,
                provider: Some(ProviderRef::new(provider, &provider_subscription_id)?),
            },
            &created,
        )
        .await?;
    let activated = envelope(
        format!("activate-{index}"),
        SubscriptionEvent::Activated {
            period_end: Utc::now() + Duration::days(30),
        },
    )?;
    subscriptions
        .apply(conn, subscription.id, &activated)
        .await?;
    Ok(Organization {
        id: id.as_uuid(),
        provider_subscription_id,
    })
}

/// `count` organizations, in batches of [`BATCH`] per transaction.
pub async fn organizations(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    subscriptions: &Subscriptions,
    count: usize,
) -> anyhow::Result<Arc<Vec<Organization>>> {
    let mut made = Vec::with_capacity(count);
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let batch = conn
            .transaction(async |conn| -> anyhow::Result<Vec<Organization>> {
                let mut batch = Vec::with_capacity(end - start);
                for index in start..end {
                    batch.push(organization(conn, ledger, subscriptions, index).await?);
                }
                Ok(batch)
            })
            .await?;
        made.extend(batch);
    }
    Ok(Arc::new(made))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_are_distinct_and_in_each_providers_form() {
        assert_eq!(
            provider_subscription_id(ProviderName::Payhere, 7),
            "420000000007"
        );
        assert!(
            provider_subscription_id(ProviderName::Paypal, 12)
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        assert_ne!(
            provider_subscription_id(ProviderName::Stripe, 1),
            provider_subscription_id(ProviderName::Stripe, 2)
        );
    }
}
