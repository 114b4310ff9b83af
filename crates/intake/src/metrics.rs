//! What the intake counts, by provider. Labels never carry organization ids, amounts or
//! payment references.

use primitives::ProviderName;

use crate::inbox::InboxStatus;

/// Deliveries stored or recognised as repeats: labels `provider`, `result` (`received`,
/// `duplicate`).
pub const DELIVERIES: &str = "webhook_deliveries_total";
/// Deliveries settled or retried, by the status an attempt left them in: labels `provider`,
/// `status` (`applied`, `ignored`, `unmatched`, `held`, `failed`, `dead`).
pub const OUTCOMES: &str = "webhook_inbox_outcomes_total";
/// Money taken back that the wallet could not cover: label `provider`.
pub const SHORTFALLS: &str = "webhook_refund_shortfalls_total";

pub(crate) fn delivery(provider: ProviderName, duplicate: bool) {
    let result = if duplicate { "duplicate" } else { "received" };
    metrics::counter!(DELIVERIES, "provider" => provider.as_str(), "result" => result).increment(1);
}

pub(crate) fn outcome(provider: ProviderName, status: InboxStatus) {
    metrics::counter!(OUTCOMES, "provider" => provider.as_str(), "status" => status.as_str())
        .increment(1);
}

pub(crate) fn shortfall(provider: ProviderName) {
    metrics::counter!(SHORTFALLS, "provider" => provider.as_str()).increment(1);
}
