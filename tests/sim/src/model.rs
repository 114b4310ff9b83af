//! What must be true, as far as the sim can know it without reading the system: which
//! references were acknowledged (and as what), which operations a fault left unknown, which
//! campaigns a person paused, which wallets an operator froze, which top-ups Stripe made.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::plan::ORGS;

/// An entry the ledger acknowledged: it must exist exactly once, as this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    pub wallet: Uuid,
    pub kind: &'static str,
    /// The amount the entry must carry, when the request fixed it (a release takes what is
    /// left).
    pub amount: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Model {
    /// By reference.
    pub acknowledged: BTreeMap<String, Acknowledged>,
    /// Operations whose outcome a fault left unknown: applied once or not at all, until the
    /// retry settles it.
    pub unknown: BTreeSet<u32>,
    /// Campaign slots a person paused (and nobody resumed or canceled since): they must stay
    /// paused, `manual`.
    pub manual_pauses: BTreeSet<u32>,
    /// Wallets an operator froze (`admin` source), by organization.
    pub admin_frozen: [bool; ORGS],
    /// Stripe top-ups, by payment: (organization, amount).
    pub top_ups: BTreeMap<u32, (usize, i64)>,
}

impl Model {
    pub fn acknowledge(&mut self, reference: String, acknowledged: Acknowledged) {
        self.acknowledged.insert(reference, acknowledged);
    }
}
