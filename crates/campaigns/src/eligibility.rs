//! May an organization (or one brand of it) send? Computed from the sources of truth: the
//! subscription's entitlements, the wallet and the brand's Twilio status. Every blocking reason
//! is returned, not only the first (docs/campaigns.md).
//!
//! [`decide`] is pure; [`load_facts`] reads what it needs.

use db::AsyncPgConnection;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use ledger::{FreezeSource, Ledger, WalletBalance};
use primitives::{Money, OrganizationId};
use subscriptions::{AccessDecision, DenialReason, Feature, SubscriptionStatus};

use crate::{BrandId, CampaignsError, MessagingStatus, PauseReason, brands};

/// The feature campaigns need (G6).
pub const FEATURE: Feature = Feature::BroadcastCampaigns;

/// One reason an organization may not send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// The subscription (status or an access block) does not allow campaigns.
    SubscriptionInactive {
        status: Option<SubscriptionStatus>,
        denied_because: Vec<DenialReason>,
    },
    WalletFrozen {
        sources: Vec<FreezeSource>,
    },
    /// The brands that cannot send, with their status (only `active` can).
    MessagingSuspended {
        brands: Vec<(BrandId, MessagingStatus)>,
    },
    /// What is available (or still reserved, for a running campaign) is less than required.
    InsufficientFunds {
        available: Money,
        required: Money,
    },
}

impl Blocker {
    /// The pause reason this blocker gives a campaign.
    pub const fn reason(&self) -> PauseReason {
        match self {
            Self::SubscriptionInactive { .. } => PauseReason::SubscriptionInactive,
            Self::WalletFrozen { .. } => PauseReason::WalletFrozen,
            Self::MessagingSuspended { .. } => PauseReason::MessagingSuspended,
            Self::InsufficientFunds { .. } => PauseReason::InsufficientFunds,
        }
    }

    /// Stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::SubscriptionInactive { .. } => "SUBSCRIPTION_INACTIVE",
            Self::WalletFrozen { .. } => "FROZEN_WALLET",
            Self::MessagingSuspended { .. } => "MESSAGING_SUSPENDED",
            Self::InsufficientFunds { .. } => "INSUFFICIENT_FUNDS",
        }
    }
}

/// Everything eligibility is decided from.
#[derive(Debug, Clone)]
pub struct Facts {
    pub access: AccessDecision,
    pub wallet: WalletBalance,
    /// The brands considered: the campaign's one, or all of the organization's.
    pub brands: Vec<(BrandId, MessagingStatus)>,
}

/// Where the money for what is about to be sent comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    /// A new hold of `required` from the available balance (start, resume; `1` minor unit for
    /// "can send at all").
    Available { required: Money },
    /// A running campaign's hold, which must still reserve `required`.
    Hold { remaining: Money, required: Money },
}

/// Every blocker, in a fixed order (subscription, wallet, messaging, funds); empty when the
/// organization may send. Messaging blocks when no brand considered is `active` (with no brand
/// at all, there is nothing to suspend, so it does not). A frozen wallet blocks even a running
/// campaign whose money is already held: a freeze means stop spending.
pub fn decide(facts: &Facts, funding: Funding) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    if !facts.access.allowed() {
        blockers.push(Blocker::SubscriptionInactive {
            status: facts.access.status,
            denied_because: facts.access.denied_because.clone(),
        });
    }
    if facts.wallet.frozen {
        blockers.push(Blocker::WalletFrozen {
            sources: facts.wallet.freezes.iter().map(|f| f.source).collect(),
        });
    }
    let can_send = |(_, status): &&(BrandId, MessagingStatus)| *status == MessagingStatus::Active;
    if !facts.brands.is_empty() && !facts.brands.iter().any(|brand| can_send(&brand)) {
        blockers.push(Blocker::MessagingSuspended {
            brands: facts.brands.clone(),
        });
    }
    let (available, required) = match funding {
        Funding::Available { required } => (facts.wallet.available, required),
        Funding::Hold {
            remaining,
            required,
        } => (remaining, required),
    };
    if available.minor() < required.minor() {
        blockers.push(Blocker::InsufficientFunds {
            available,
            required,
        });
    }
    blockers
}

/// Reads the facts for the organization, and for one brand of it or all of them.
pub async fn load_facts(
    conn: &mut AsyncPgConnection,
    ledger: &Ledger,
    organization: OrganizationId,
    brand: Option<BrandId>,
) -> Result<Facts, CampaignsError> {
    let access = subscriptions::access::entitlement(conn, organization, FEATURE).await?;
    let wallet_id = ledger.wallet_for_organization(conn, organization).await?;
    let wallet = ledger.balance(conn, wallet_id).await?;
    let brands = brand_statuses(conn, organization, brand).await?;
    Ok(Facts {
        access,
        wallet,
        brands,
    })
}

async fn brand_statuses(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    brand: Option<BrandId>,
) -> Result<Vec<(BrandId, MessagingStatus)>, CampaignsError> {
    use db::schema::brands::dsl;
    let mut query = dsl::brands
        .filter(dsl::organization_id.eq(organization.as_uuid()))
        .select((dsl::id, dsl::messaging_status))
        .order(dsl::id.asc())
        .into_boxed();
    if let Some(brand) = brand {
        query = query.filter(dsl::id.eq(brand.as_uuid()));
    }
    let rows: Vec<(uuid::Uuid, String)> = query.load(conn).await?;
    if brand.is_some() && rows.is_empty() {
        return Err(CampaignsError::BrandNotFound);
    }
    rows.into_iter()
        .map(|(id, status)| {
            let status = MessagingStatus::parse(&status)
                .ok_or_else(|| CampaignsError::Corrupt(format!("brand {id}: messaging_status")))?;
            Ok((brands::BrandId::from_uuid(id), status))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use ledger::Freeze;
    use primitives::{Currency, WalletId};

    use super::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }

    fn facts(allowed: bool, frozen: bool, available: i64, brands: &[MessagingStatus]) -> Facts {
        let denied_because = if allowed {
            vec![]
        } else {
            vec![DenialReason::Status {
                status: SubscriptionStatus::PastDue,
            }]
        };
        let freezes = if frozen {
            vec![Freeze {
                source: FreezeSource::Billing,
                reason: ledger::Reason::parse("unpaid").unwrap(),
                actor: ledger::Actor::system("enforcement"),
                frozen_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            }]
        } else {
            vec![]
        };
        Facts {
            access: AccessDecision {
                feature: FEATURE,
                status: Some(SubscriptionStatus::Active),
                denied_because,
            },
            wallet: WalletBalance {
                wallet_id: WalletId::new(),
                organization_id: OrganizationId::new(),
                currency: Currency::USD,
                balance: usd(available),
                held: usd(0),
                available: usd(available),
                frozen,
                freezes,
            },
            brands: brands.iter().map(|s| (BrandId::new(), *s)).collect(),
        }
    }

    fn reasons(blockers: &[Blocker]) -> Vec<PauseReason> {
        blockers.iter().map(Blocker::reason).collect()
    }

    #[test]
    fn every_blocker_is_reported_in_order() {
        let need = Funding::Available { required: usd(500) };
        let all = facts(false, true, 100, &[MessagingStatus::Suspended]);
        assert_eq!(
            reasons(&decide(&all, need)),
            [
                PauseReason::SubscriptionInactive,
                PauseReason::WalletFrozen,
                PauseReason::MessagingSuspended,
                PauseReason::InsufficientFunds,
            ]
        );
        let fine = facts(true, false, 500, &[MessagingStatus::Active]);
        assert!(decide(&fine, need).is_empty());
        assert_eq!(
            decide(&facts(true, false, 499, &[MessagingStatus::Active]), need),
            [Blocker::InsufficientFunds {
                available: usd(499),
                required: usd(500)
            }]
        );
    }

    #[test]
    fn each_blocker_keeps_its_code_and_pause_reason() {
        let all = decide(
            &facts(false, true, 0, &[MessagingStatus::Suspended]),
            Funding::Available { required: usd(1) },
        );
        let named: Vec<(&str, PauseReason)> = all
            .iter()
            .map(|blocker| (blocker.code(), blocker.reason()))
            .collect();
        assert_eq!(
            named,
            [
                ("SUBSCRIPTION_INACTIVE", PauseReason::SubscriptionInactive),
                ("FROZEN_WALLET", PauseReason::WalletFrozen),
                ("MESSAGING_SUSPENDED", PauseReason::MessagingSuspended),
                ("INSUFFICIENT_FUNDS", PauseReason::InsufficientFunds),
            ]
        );
    }

    #[test]
    fn only_an_active_brand_can_send() {
        let need = Funding::Available { required: usd(1) };
        for status in [
            MessagingStatus::Suspending,
            MessagingStatus::Suspended,
            MessagingStatus::Reactivating,
        ] {
            let blockers = decide(&facts(true, false, 10, &[status]), need);
            assert_eq!(reasons(&blockers), [PauseReason::MessagingSuspended]);
        }
        let mixed = [MessagingStatus::Suspended, MessagingStatus::Active];
        assert!(decide(&facts(true, false, 10, &mixed), need).is_empty());
        assert!(decide(&facts(true, false, 10, &[]), need).is_empty());
    }

    #[test]
    fn a_running_campaign_is_funded_by_its_hold_not_the_available_balance() {
        let empty_wallet = facts(true, false, 0, &[MessagingStatus::Active]);
        let covered = Funding::Hold {
            remaining: usd(300),
            required: usd(300),
        };
        assert!(decide(&empty_wallet, covered).is_empty());
        let short = Funding::Hold {
            remaining: usd(299),
            required: usd(300),
        };
        assert_eq!(
            reasons(&decide(&empty_wallet, short)),
            [PauseReason::InsufficientFunds]
        );
        // Frozen stops spending even what is already held.
        let frozen = facts(true, true, 0, &[MessagingStatus::Active]);
        assert_eq!(
            reasons(&decide(&frozen, covered)),
            [PauseReason::WalletFrozen]
        );
    }
}
