//! The enforcement posture of each status: what is frozen, paused, suspended and blocked while a
//! subscription sits in it. A transition's enforcement effects are the difference between the two
//! postures, so a status change can never forget to undo what its predecessor did, and no effect
//! list can both freeze and unfreeze.

use crate::{BlockSource, Effect, SubscriptionStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Posture {
    pub wallet_frozen: bool,
    pub campaigns_paused: bool,
    pub messaging_suspended: bool,
    pub billing_block: bool,
    pub customer_block: bool,
}

impl Posture {
    pub const fn of(status: SubscriptionStatus) -> Self {
        use SubscriptionStatus as S;
        match status {
            // Pending never had access, so there is nothing running to stop; entitlements
            // already deny it every paid feature.
            S::Pending | S::Trialing | S::Active => Self {
                wallet_frozen: false,
                campaigns_paused: false,
                messaging_suspended: false,
                billing_block: false,
                customer_block: false,
            },
            // The customer's own pause stops sending but is not a debt: the wallet stays usable.
            S::Paused => Self {
                wallet_frozen: false,
                campaigns_paused: true,
                messaging_suspended: true,
                billing_block: false,
                customer_block: true,
            },
            S::PastDue | S::Suspended | S::Canceled | S::Expired => Self {
                wallet_frozen: true,
                campaigns_paused: true,
                messaging_suspended: true,
                billing_block: true,
                customer_block: false,
            },
        }
    }
}

/// The enforcement effects of moving from `from` to `to`: first what is imposed, then what is
/// lifted, each in the order a reader expects.
pub fn effects_between(from: SubscriptionStatus, to: SubscriptionStatus) -> Vec<Effect> {
    let (before, after) = (Posture::of(from), Posture::of(to));
    let mut effects = Vec::new();
    let mut toggle = |was: bool, is: bool, on: Effect, off: Effect| match (was, is) {
        (false, true) => effects.push(on),
        (true, false) => effects.push(off),
        _ => {}
    };
    toggle(
        before.billing_block,
        after.billing_block,
        Effect::Block {
            source: BlockSource::Billing,
        },
        Effect::Unblock {
            source: BlockSource::Billing,
        },
    );
    toggle(
        before.customer_block,
        after.customer_block,
        Effect::Block {
            source: BlockSource::Customer,
        },
        Effect::Unblock {
            source: BlockSource::Customer,
        },
    );
    toggle(
        before.wallet_frozen,
        after.wallet_frozen,
        Effect::FreezeWallet,
        Effect::UnfreezeWallet,
    );
    toggle(
        before.campaigns_paused,
        after.campaigns_paused,
        Effect::PauseCampaigns,
        Effect::ResumeCampaigns,
    );
    toggle(
        before.messaging_suspended,
        after.messaging_suspended,
        Effect::SuspendMessaging,
        Effect::ReactivateMessaging,
    );
    effects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_statuses_impose_nothing_and_blocked_ones_stop_sending() {
        for status in SubscriptionStatus::ALL {
            let posture = Posture::of(status);
            if status.gives_access() {
                assert_eq!(posture, Posture::default(), "{status}");
            } else if status != SubscriptionStatus::Pending {
                assert!(
                    posture.campaigns_paused && posture.messaging_suspended,
                    "{status}"
                );
                assert!(posture.billing_block ^ posture.customer_block, "{status}");
            }
        }
    }

    #[test]
    fn moving_there_and_back_cancels_out() {
        for from in SubscriptionStatus::ALL {
            for to in SubscriptionStatus::ALL {
                let there = effects_between(from, to);
                let back = effects_between(to, from);
                assert_eq!(there.len(), back.len(), "{from} -> {to}");
                if from == to {
                    assert!(there.is_empty());
                }
            }
        }
    }
}
