//! What is sent: the mix of delivery kinds, which organization each one is about, and which
//! deliveries are sent twice. Pure (seeded randomness, no I/O), so the proportions are tested.
//!
//! Every subscription delivery goes to the subscription of an organization billed through that
//! provider, and every top-up to an organization with a USD wallet, so each delivery matches.
//! Each sender owns its organizations (no two senders send about the same one), so one
//! subscription's events arrive in the order they were made, as a provider sends them when it is
//! not retrying; that keeps every outcome predictable enough to check exactly.

use primitives::ProviderName;
use rand::{Rng, rngs::StdRng};

/// One kind of delivery, named after what the provider sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Stripe `invoice.paid` of a subscription invoice: `payment_succeeded` with its period.
    StripeInvoicePaid,
    /// Stripe `invoice.payment_failed`: `payment_failed` (opens a dunning episode, or is
    /// ignored by the state machine while one is open).
    StripeInvoiceFailed,
    /// Stripe `checkout.session.completed` with `metadata.purpose=wallet_topup`: a wallet credit.
    StripeTopUp,
    /// A Stripe type nobody acts on (`invoice.finalized`): stored `ignored`, never applied.
    StripeIgnored,
    /// PayPal `BILLING.SUBSCRIPTION.SUSPENDED` of an active subscription.
    PayPalSuspended,
    /// PayPal `BILLING.SUBSCRIPTION.ACTIVATED` of a suspended subscription: payment was owed,
    /// so the intake asks PayPal (the fake API) before reinstating it.
    PayPalActivated,
    /// PayPal `PAYMENT.CAPTURE.COMPLETED` with the organization as `custom_id`: a wallet credit.
    PayPalTopUp,
    /// PayHere `RECURRING_INSTALLMENT_SUCCESS`, status 2: `payment_succeeded` with its period.
    PayHereInstallmentPaid,
    /// PayHere `RECURRING_INSTALLMENT_FAILED`, status -2: `payment_failed`.
    PayHereInstallmentFailed,
    /// PayHere one-off payment of a `TOPUP-{organization}.{nonce}` order, status 2.
    PayHereTopUp,
}

impl Kind {
    #[cfg(test)]
    pub const ALL: [Self; 10] = [
        Self::StripeInvoicePaid,
        Self::StripeInvoiceFailed,
        Self::StripeTopUp,
        Self::StripeIgnored,
        Self::PayPalSuspended,
        Self::PayPalActivated,
        Self::PayPalTopUp,
        Self::PayHereInstallmentPaid,
        Self::PayHereInstallmentFailed,
        Self::PayHereTopUp,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StripeInvoicePaid => "stripe invoice.paid",
            Self::StripeInvoiceFailed => "stripe invoice.payment_failed",
            Self::StripeTopUp => "stripe checkout.session.completed (top-up)",
            Self::StripeIgnored => "stripe invoice.finalized (ignored type)",
            Self::PayPalSuspended => "paypal BILLING.SUBSCRIPTION.SUSPENDED",
            Self::PayPalActivated => "paypal BILLING.SUBSCRIPTION.ACTIVATED",
            Self::PayPalTopUp => "paypal PAYMENT.CAPTURE.COMPLETED (top-up)",
            Self::PayHereInstallmentPaid => "payhere RECURRING_INSTALLMENT_SUCCESS",
            Self::PayHereInstallmentFailed => "payhere RECURRING_INSTALLMENT_FAILED",
            Self::PayHereTopUp => "payhere TOPUP- one-off",
        }
    }

    pub const fn provider(self) -> ProviderName {
        match self {
            Self::StripeInvoicePaid
            | Self::StripeInvoiceFailed
            | Self::StripeTopUp
            | Self::StripeIgnored => ProviderName::Stripe,
            Self::PayPalSuspended | Self::PayPalActivated | Self::PayPalTopUp => {
                ProviderName::Paypal
            }
            Self::PayHereInstallmentPaid | Self::PayHereInstallmentFailed | Self::PayHereTopUp => {
                ProviderName::Payhere
            }
        }
    }

    /// Credits a wallet once (a `topup:` ledger entry).
    pub const fn is_top_up(self) -> bool {
        matches!(
            self,
            Self::StripeTopUp | Self::PayPalTopUp | Self::PayHereTopUp
        )
    }

    /// Reaches the subscription's state machine, so it is recorded once in
    /// `subscription_events` (applied or ignored there).
    pub const fn is_subscription_event(self) -> bool {
        !self.is_top_up() && !matches!(self, Self::StripeIgnored)
    }
}

/// What the weighted draw picks; PayPal's subscription event becomes a suspension or an
/// activation depending on the subscription's state ([`Planner`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Kind(Kind),
    PayPalSubscription,
}

/// The mix in per mille of the distinct deliveries (duplicates come on top, see
/// [`Duplicates`]): 70% Stripe, 15% PayPal, 15% PayHere; 33% are top-ups, 12% ignored types.
const MIX: [(Pick, u32); 9] = [
    (Pick::Kind(Kind::StripeInvoicePaid), 300),
    (Pick::Kind(Kind::StripeInvoiceFailed), 80),
    (Pick::Kind(Kind::StripeTopUp), 200),
    (Pick::Kind(Kind::StripeIgnored), 120),
    (Pick::PayPalSubscription, 80),
    (Pick::Kind(Kind::PayPalTopUp), 70),
    (Pick::Kind(Kind::PayHereInstallmentPaid), 60),
    (Pick::Kind(Kind::PayHereInstallmentFailed), 30),
    (Pick::Kind(Kind::PayHereTopUp), 60),
];

/// The mix as JSON-friendly pairs (kind, per mille), for the report.
pub fn describe() -> Vec<(&'static str, u32)> {
    MIX.iter()
        .map(|(pick, weight)| {
            let name = match pick {
                Pick::Kind(kind) => kind.as_str(),
                Pick::PayPalSubscription => {
                    "paypal BILLING.SUBSCRIPTION.SUSPENDED / ACTIVATED (alternating)"
                }
            };
            (name, *weight)
        })
        .collect()
}

/// Which share of the organizations each provider bills: every fifth PayPal, every fifth
/// PayHere, the rest Stripe (the same proportions as the mix).
pub fn provider_of(organization_index: usize) -> ProviderName {
    match organization_index % 5 {
        3 => ProviderName::Paypal,
        4 => ProviderName::Payhere,
        _ => ProviderName::Stripe,
    }
}

/// The organizations (indexes) each of `senders` senders owns: each provider's organizations
/// are dealt out in turn, so every sender has some of each. `None` when some provider has fewer
/// organizations than there are senders.
pub fn partition(organizations: usize, senders: usize) -> Option<Vec<Vec<usize>>> {
    let mut owned = vec![Vec::new(); senders];
    for provider in [
        ProviderName::Stripe,
        ProviderName::Paypal,
        ProviderName::Payhere,
    ] {
        let group: Vec<usize> = (0..organizations)
            .filter(|&i| provider_of(i) == provider)
            .collect();
        if group.len() < senders {
            return None;
        }
        for (j, organization) in group.into_iter().enumerate() {
            owned[j % senders].push(organization);
        }
    }
    Some(owned)
}

/// One delivery to make: its kind and the organization (index) it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub kind: Kind,
    pub organization: usize,
}

/// Draws deliveries for one sender's organizations. `suspended` is the PayPal subscriptions'
/// state as the bench believes it (by organization index, shared across runs and updated from
/// what was actually sent, see `main`).
pub struct Planner {
    by_provider: [Vec<usize>; 3],
}

fn slot(provider: ProviderName) -> usize {
    match provider {
        ProviderName::Stripe => 0,
        ProviderName::Paypal => 1,
        ProviderName::Payhere => 2,
    }
}

impl Planner {
    pub fn new(organizations: &[usize]) -> Self {
        let mut by_provider: [Vec<usize>; 3] = Default::default();
        for &organization in organizations {
            by_provider[slot(provider_of(organization))].push(organization);
        }
        Self { by_provider }
    }

    /// The next delivery; flips the PayPal subscription it suspends or reactivates.
    pub fn next(&self, rng: &mut StdRng, suspended: &mut [bool]) -> Planned {
        let mut draw = rng.random_range(0..1000);
        let mut pick = MIX[0].0;
        for (candidate, weight) in MIX {
            if draw < weight {
                pick = candidate;
                break;
            }
            draw -= weight;
        }
        let provider = match pick {
            Pick::Kind(kind) => kind.provider(),
            Pick::PayPalSubscription => ProviderName::Paypal,
        };
        let group = &self.by_provider[slot(provider)];
        let organization = group[rng.random_range(0..group.len())];
        let kind = match pick {
            Pick::Kind(kind) => kind,
            Pick::PayPalSubscription => {
                let was = suspended[organization];
                suspended[organization] = !was;
                if was {
                    Kind::PayPalActivated
                } else {
                    Kind::PayPalSuspended
                }
            }
        };
        Planned { kind, organization }
    }
}

/// Re-sends: every `every`-th original is sent again, identical, between 1 and `MAX_DELAY`
/// deliveries later (as a provider retrying a delivery whose answer it did not see).
#[derive(Debug)]
pub struct Duplicates<T> {
    every: u64,
    originals: u64,
    position: u64,
    pending: Vec<(u64, T)>,
}

/// The furthest a re-send lands after its original, in deliveries of the same sender.
pub const MAX_DELAY: u64 = 16;

impl<T: Clone> Duplicates<T> {
    /// `percent` of all deliveries sent are re-sends (0 to 50).
    pub fn new(percent: u32) -> Self {
        // A re-send after every `every` originals makes 1 / (every + 1) of the deliveries.
        let every = match percent {
            0 => 0,
            p => u64::from((100 + p / 2) / p).saturating_sub(1).max(1),
        };
        Self {
            every,
            originals: 0,
            position: 0,
            pending: Vec::new(),
        }
    }

    /// A re-send that is due now, if any.
    pub fn due(&mut self) -> Option<T> {
        let at = self
            .pending
            .iter()
            .position(|(due, _)| *due <= self.position)?;
        self.position += 1;
        Some(self.pending.swap_remove(at).1)
    }

    /// Records an original about to be sent, scheduling its re-send when it is its turn.
    pub fn original(&mut self, item: &T, rng: &mut StdRng) {
        self.position += 1;
        self.originals += 1;
        if self.every > 0 && self.originals.is_multiple_of(self.every) {
            let delay = rng.random_range(1..=MAX_DELAY);
            self.pending.push((self.position + delay, item.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_mix_adds_up_and_names_every_kind() {
        assert_eq!(MIX.iter().map(|(_, w)| w).sum::<u32>(), 1000);
        let named: Vec<&str> = describe().into_iter().map(|(name, _)| name).collect();
        assert_eq!(named.len(), MIX.len());
    }

    #[test]
    fn organizations_are_dealt_so_every_sender_has_every_provider() {
        for senders in [1, 5, 8, 32] {
            let owned = partition(1000, senders).unwrap();
            let mut seen: Vec<usize> = owned.iter().flatten().copied().collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..1000).collect::<Vec<_>>(), "{senders}");
            for mine in &owned {
                for provider in [
                    ProviderName::Stripe,
                    ProviderName::Paypal,
                    ProviderName::Payhere,
                ] {
                    assert!(mine.iter().any(|&i| provider_of(i) == provider));
                }
            }
        }
        assert!(partition(100, 32).is_none());
    }

    #[test]
    fn draws_follow_the_mix_and_stay_with_the_senders_own_organizations() {
        let owned = partition(1000, 8).unwrap();
        let planner = Planner::new(&owned[3]);
        let mut rng = StdRng::seed_from_u64(7);
        let mut suspended = vec![false; 1000];
        let mut counts: HashMap<Kind, u32> = HashMap::new();
        let draws = 100_000;
        for _ in 0..draws {
            let planned = planner.next(&mut rng, &mut suspended);
            assert!(owned[3].contains(&planned.organization));
            assert_eq!(
                provider_of(planned.organization),
                planned.kind.provider(),
                "{planned:?}"
            );
            *counts.entry(planned.kind).or_default() += 1;
        }
        let share = |kind: Kind| f64::from(counts[&kind]) * 1000.0 / f64::from(draws);
        assert!((share(Kind::StripeInvoicePaid) - 300.0).abs() < 10.0);
        assert!((share(Kind::StripeTopUp) - 200.0).abs() < 10.0);
        assert!((share(Kind::PayHereTopUp) - 60.0).abs() < 5.0);
        let paypal_subscription = share(Kind::PayPalSuspended) + share(Kind::PayPalActivated);
        assert!((paypal_subscription - 80.0).abs() < 5.0);
        let top_ups: f64 = Kind::ALL
            .into_iter()
            .filter(|k| k.is_top_up())
            .map(share)
            .sum();
        assert!((top_ups - 330.0).abs() < 10.0);
    }

    #[test]
    fn a_paypal_subscription_alternates_between_suspended_and_activated() {
        // One organization of each provider; 3 is the PayPal one.
        let planner = Planner::new(&[0, 3, 4]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut suspended = vec![false; 5];
        let mut last = None;
        for _ in 0..1000 {
            let planned = planner.next(&mut rng, &mut suspended);
            if matches!(planned.kind, Kind::PayPalSuspended | Kind::PayPalActivated) {
                assert_ne!(Some(planned.kind), last);
                if last.is_none() {
                    assert_eq!(planned.kind, Kind::PayPalSuspended);
                }
                last = Some(planned.kind);
                assert_eq!(suspended[3], planned.kind == Kind::PayPalSuspended);
            }
        }
        assert!(last.is_some());
    }

    #[test]
    fn ten_percent_of_what_is_sent_are_resends_each_after_its_original() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut duplicates = Duplicates::new(10);
        let mut sent: Vec<(u64, bool)> = Vec::new();
        let mut next = 0u64;
        while sent.len() < 10_000 {
            if let Some(again) = duplicates.due() {
                sent.push((again, true));
            } else {
                duplicates.original(&next, &mut rng);
                sent.push((next, false));
                next += 1;
            }
        }
        let resends = sent.iter().filter(|(_, again)| *again).count();
        assert!((990..=1010).contains(&resends), "{resends}");
        let mut first_seen = HashMap::new();
        for (position, (item, again)) in sent.iter().enumerate() {
            if *again {
                let original = first_seen[item];
                assert!(position > original);
                assert!((position - original) as u64 <= 2 * MAX_DELAY);
                assert!(first_seen.insert(*item, usize::MAX).is_some());
            } else {
                assert!(first_seen.insert(*item, position).is_none());
            }
        }
        let mut none = Duplicates::new(0);
        none.original(&1u64, &mut rng);
        assert!(none.due().is_none());
    }
}
