//! What a scenario needs before the clock starts, made through the domain crates' own APIs: an
//! organization with a funded USD wallet, an active subscription and a brand; campaigns with
//! their recipients, started (which places their hold).

use anyhow::{Context, bail, ensure};
use campaigns::{
    Brand, BrandName, CampaignId, CampaignName, Campaigns, MessageBody, NewCampaign, Sender,
    SubaccountSid, brands,
};
use db::{AsyncPgConnection, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use ledger::{Actor, Counterparty, CreditRequest, Ledger, Reference};
use primitives::{Currency, Money, OrganizationId, WalletId};
use subscriptions::{
    EventEnvelope, EventId, EventSource, Feature, NewSubscription, PlanCode, SubscriptionEvent,
    Subscriptions, access,
};

/// What one message costs: one GSM-7 segment at this price (USD cents).
pub const PRICE_PER_SEGMENT: i64 = 2;
pub const BODY: &str = "Spring sale: 20% off everything today. Reply STOP to opt out.";
pub const FROM: &str = "+14155550199";

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// An organization that may send.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub organization: OrganizationId,
    pub wallet: WalletId,
    pub brand: Brand,
    pub credited: i64,
}

fn envelope(id: String, event: SubscriptionEvent) -> anyhow::Result<EventEnvelope> {
    Ok(EventEnvelope {
        source: EventSource::parse("bench")?,
        event_id: EventId::parse(&id)?,
        occurred_at: chrono::Utc::now(),
        precision: subscriptions::TimePrecision::Microsecond,
        event,
    })
}

/// An organization with a wallet holding `credit` minor units, an active subscription (created,
/// then `Activated`) and one brand with its own subaccount SID.
pub async fn tenant(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    subscriptions: &Subscriptions,
    tag: &str,
    credit: i64,
) -> anyhow::Result<Tenant> {
    let organization = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(organization.as_uuid()),
            organizations::name.eq(format!("campaign-bench {tag}")),
        ))
        .execute(conn)
        .await
        .context("inserting the organization")?;
    let wallet = ledger
        .open_wallet(conn, organization, Currency::USD)
        .await?
        .value
        .wallet_id;
    ledger
        .credit(
            conn,
            CreditRequest {
                wallet_id: wallet,
                amount: usd(credit),
                counterparty: Counterparty::parse("topup:bench")?,
                reference: Reference::parse(format!("bench-topup-{tag}"))?,
                actor: Actor::system("bench"),
            },
        )
        .await?;
    let created = envelope(format!("create-{tag}"), SubscriptionEvent::Created)?;
    let subscription = subscriptions
        .create(
            conn,
            NewSubscription {
                organization_id: organization,
                plan: PlanCode::parse("pro")?,
                provider: None,
            },
            &created,
        )
        .await?;
    let activated = envelope(
        format!("activate-{tag}"),
        SubscriptionEvent::Activated {
            period_end: chrono::Utc::now() + chrono::Duration::days(30),
        },
    )?;
    subscriptions
        .apply(conn, subscription.id, &activated)
        .await?;
    let decision = access::entitlement(conn, organization, Feature::BroadcastCampaigns).await?;
    if !decision.allowed() {
        bail!("the bench organization may not send after activation: {decision:?}");
    }
    let sid = SubaccountSid::parse(&format!("AC{}", uuid::Uuid::now_v7().simple()))?;
    let brand = brands::create(
        conn,
        organization,
        &BrandName::parse(&format!("Bench brand {tag}"))?,
        &sid,
        chrono::Utc::now(),
    )
    .await?;
    Ok(Tenant {
        organization,
        wallet,
        brand,
        credited: credit,
    })
}

/// `count` distinct E.164 numbers.
pub fn numbers(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("+1415{i:07}")).collect()
}

/// A draft with `recipients` numbers added in chunks of the most one call takes (10,000), then
/// started (the hold is placed). Returns its id.
pub async fn started_campaign(
    conn: &mut AsyncPgConnection,
    campaigns: &Campaigns,
    tenant: &Tenant,
    name: &str,
    recipients: usize,
) -> anyhow::Result<CampaignId> {
    let campaign = campaigns
        .create(
            conn,
            tenant.organization,
            NewCampaign {
                brand_id: tenant.brand.id,
                name: CampaignName::parse(name)?,
                body: MessageBody::parse(BODY)?,
                sender: Sender::from_number(FROM)?,
                price_per_segment: usd(PRICE_PER_SEGMENT),
            },
        )
        .await?;
    ensure!(
        campaign.cost_per_message == usd(PRICE_PER_SEGMENT),
        "the bench body should be one segment, costs {:?}",
        campaign.cost_per_message
    );
    let numbers = numbers(recipients);
    for chunk in numbers.chunks(campaigns::MAX_RECIPIENTS_PER_CALL) {
        let added = campaigns
            .add_recipients(conn, tenant.organization, campaign.id, chunk)
            .await?;
        ensure!(
            added.added == chunk.len(),
            "added {} of {} recipients",
            added.added,
            chunk.len()
        );
    }
    campaigns
        .start(
            conn,
            tenant.organization,
            campaign.id,
            &format!("bench-start-{}", campaign.id),
        )
        .await?;
    Ok(campaign.id)
}

/// Rows of other campaigns already done with, as a deployed system has: a campaign of another
/// organization with `count` recipients, started and canceled at once (so they end
/// `canceled`, and its hold is released). Without them, a scenario's own pending recipients are
/// nearly the whole table, and the planner's choices are those of a fresh deployment
/// (docs/performance.md, "Campaign dispatch").
///
/// Started first because canceling a draft fails: `Campaigns::cancel` sets a draft `canceled`
/// without `started_at`, which the `campaigns_started` constraint refuses.
pub async fn history(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    subscriptions: &Subscriptions,
    campaigns: &Campaigns,
    count: usize,
) -> anyhow::Result<()> {
    let tag = format!("history-{}", uuid::Uuid::now_v7().simple());
    let credit = i64::try_from(count)? * PRICE_PER_SEGMENT + 1;
    let tenant = tenant(conn, ledger, subscriptions, &tag, credit).await?;
    let campaign = started_campaign(conn, campaigns, &tenant, "history", count).await?;
    campaigns
        .cancel(conn, tenant.organization, campaign)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_e164() {
        let numbers = numbers(12_345);
        assert_eq!(numbers[0], "+14150000000");
        assert_eq!(numbers[12_344], "+14150012344");
        let unique: std::collections::HashSet<_> = numbers.iter().collect();
        assert_eq!(unique.len(), numbers.len());
        assert!(
            numbers
                .iter()
                .all(|n| campaigns::PhoneNumber::parse(n).is_some())
        );
    }
}
