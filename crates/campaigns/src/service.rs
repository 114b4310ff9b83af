//! [`Campaigns`]: the campaign operations, over the ledger and on its clock.
//!
//! Every operation takes the caller's connection and runs in a transaction of its own (a
//! savepoint inside the caller's), so enforcement can combine it with other changes.

use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use diesel_async::AsyncConnection;
use ledger::Ledger;
use primitives::{Money, OrganizationId};

use crate::{
    BrandId, CampaignId, CampaignName, CampaignsError, MessageBody, PhoneNumber, Sender,
    campaign::Campaign,
    delivery::DeliveryCounts,
    eligibility::{self, Blocker, Facts, Funding},
    error::InvalidPhone,
    funds::{self, FundsPolicy},
    segments,
    store::{self, HoldTotals, RecipientCounts},
};

/// The campaign operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Campaigns {
    pub(crate) ledger: Ledger,
    pub(crate) policy: FundsPolicy,
}

/// What [`Campaigns::create`] needs.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub brand_id: BrandId,
    pub name: CampaignName,
    pub body: MessageBody,
    pub sender: Sender,
    /// In the wallet's currency, at least one minor unit.
    pub price_per_segment: Money,
}

/// What [`Campaigns::add_recipients`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// New recipients.
    pub added: usize,
    /// Numbers repeated in the request or already in the campaign.
    pub duplicates: usize,
}

/// A campaign with its recipient counts, its messages' delivery counts and money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSummary {
    pub campaign: Campaign,
    pub recipients: RecipientCounts,
    /// What Twilio last reported about the messages (recipients it has no word on are in none).
    pub deliveries: DeliveryCounts,
    /// Reserved by all its holds so far.
    pub held: Money,
    pub captured: Money,
    pub released: Money,
    /// Still reserved: `held - captured - released`.
    pub reserved: Money,
}

/// The result of an idempotent operation: `replayed` when it had already been done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done<T> {
    pub value: T,
    pub replayed: bool,
}

/// Most recipients one [`Campaigns::add_recipients`] call takes.
pub const MAX_RECIPIENTS_PER_CALL: usize = 10_000;

impl Campaigns {
    pub fn new(ledger: Ledger, policy: FundsPolicy) -> Self {
        Self { ledger, policy }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.ledger.now()
    }

    /// Creates a draft. The price must be in the wallet's currency; the cost of one message is
    /// fixed now from the body's segments.
    pub async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        new: NewCampaign,
    ) -> Result<Campaign, CampaignsError> {
        if !new.price_per_segment.is_positive() {
            return Err(CampaignsError::InvalidInput {
                field: "price_per_segment",
                reason: "must be greater than zero",
            });
        }
        let segmentation = segments::segment(new.body.as_str());
        let cost = funds::times(new.price_per_segment, i64::from(segmentation.segments))?;
        let now = self.now();
        conn.transaction(async move |conn| {
            let brand = crate::brands::get(conn, new.brand_id).await?;
            if brand.organization_id != organization {
                return Err(CampaignsError::BrandNotFound);
            }
            let wallet_id = self
                .ledger
                .wallet_for_organization(conn, organization)
                .await?;
            let wallet = self.ledger.balance(conn, wallet_id).await?;
            if wallet.currency != new.price_per_segment.currency() {
                return Err(CampaignsError::CurrencyMismatch {
                    wallet: wallet.currency,
                    requested: new.price_per_segment.currency(),
                });
            }
            let id = CampaignId::new();
            store::insert_campaign(conn, id, organization, &new, segmentation, cost, now).await?;
            store::find(conn, Some(organization), id).await
        })
        .await
    }

    pub async fn get(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
    ) -> Result<Campaign, CampaignsError> {
        store::find(conn, Some(organization), id).await
    }

    /// The organization's campaigns, newest first; `before` is the last id of the previous page.
    pub async fn list(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        before: Option<CampaignId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, CampaignsError> {
        let limit = i64::try_from(limit.clamp(1, 500)).unwrap_or(500);
        store::list(conn, organization, before, limit).await
    }

    /// Adds recipients to a draft. Every number must be E.164 or nothing is added (the error
    /// lists the first 20 bad ones); numbers repeated in the request or already present are
    /// counted as duplicates, not errors.
    pub async fn add_recipients(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
        numbers: &[String],
    ) -> Result<Added, CampaignsError> {
        if numbers.is_empty() {
            return Err(CampaignsError::InvalidInput {
                field: "recipients",
                reason: "must list at least one number",
            });
        }
        if numbers.len() > MAX_RECIPIENTS_PER_CALL {
            return Err(CampaignsError::TooManyRecipients {
                max: MAX_RECIPIENTS_PER_CALL,
            });
        }
        let phones = parse_numbers(numbers)?;
        let mut unique: Vec<&str> = phones.iter().map(PhoneNumber::as_str).collect();
        unique.sort_unstable();
        unique.dedup();
        let now = self.now();
        let added = conn
            .transaction(async move |conn| {
                let campaign = store::lock(conn, Some(organization), id).await?;
                if campaign.status != crate::CampaignStatus::Draft {
                    return Err(CampaignsError::InvalidState {
                        action: "add recipients to",
                        status: campaign.status,
                    });
                }
                store::insert_recipients(conn, id, &unique, now).await
            })
            .await?;
        Ok(Added {
            added,
            duplicates: numbers.len() - added,
        })
    }

    /// The campaign with its recipient and delivery counts and money.
    pub async fn summary(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
    ) -> Result<CampaignSummary, CampaignsError> {
        let campaign = store::find(conn, Some(organization), id).await?;
        let (recipients, deliveries) = store::counts(conn, id).await?;
        let HoldTotals {
            held,
            captured,
            released,
        } = store::hold_totals(conn, id).await?;
        let money = |minor| Money::from_minor(minor, campaign.currency());
        Ok(CampaignSummary {
            recipients,
            deliveries,
            held: money(held),
            captured: money(captured),
            released: money(released),
            reserved: money(held - captured - released),
            campaign,
        })
    }

    /// Whether the organization may send now, with every reason if not. With a brand, its
    /// messaging status counts; without, messaging blocks only if no brand is active.
    /// Funds: at least one minor unit available.
    pub async fn eligibility(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        brand: Option<BrandId>,
    ) -> Result<(Facts, Vec<Blocker>), CampaignsError> {
        let facts = eligibility::load_facts(conn, &self.ledger, organization, brand).await?;
        let required = Money::from_minor(1, facts.wallet.currency);
        let blockers = eligibility::decide(&facts, Funding::Available { required });
        Ok((facts, blockers))
    }
}

fn parse_numbers(numbers: &[String]) -> Result<Vec<PhoneNumber>, CampaignsError> {
    let mut phones = Vec::with_capacity(numbers.len());
    let mut invalid = Vec::new();
    let mut count = 0;
    for (index, number) in numbers.iter().enumerate() {
        match PhoneNumber::parse(number) {
            Some(phone) => phones.push(phone),
            None => {
                count += 1;
                if invalid.len() < 20 {
                    invalid.push(InvalidPhone {
                        index,
                        value: number.chars().take(32).collect(),
                    });
                }
            }
        }
    }
    if count > 0 {
        return Err(CampaignsError::InvalidPhoneNumbers { count, invalid });
    }
    Ok(phones)
}
