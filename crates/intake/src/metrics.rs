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

/// Subscriptions whose provider's view a sync fetched: label `provider`.
pub const SYNC_CHECKED: &str = "provider_sync_checked_total";
/// Views that differed from ours, by what the sync did: labels `provider`, `outcome`
/// (`applied`, `ignored`, `stale`, `duplicate`: the event's outcome; `held`: left for a person).
/// A view in agreement is checked, not counted here.
pub const SYNC_CHANGES: &str = "provider_sync_changes_total";
/// Syncs that could not ask or settle: labels `provider`, `kind` (`transient`, `timeout`: tried
/// again next round; `not_found`, `refused`: held for a person; `internal`: our side failed).
pub const SYNC_ERRORS: &str = "provider_sync_errors_total";
/// Subscriptions left to the next round for a provider's budget: labels `provider`, `cause`
/// (`budget`: our token bucket; `provider`: it answered 429).
pub const SYNC_RATE_LIMITED: &str = "provider_sync_rate_limited_total";

pub(crate) fn sync_checked(provider: ProviderName) {
    metrics::counter!(SYNC_CHECKED, "provider" => provider.as_str()).increment(1);
}

pub(crate) fn sync_change(provider: ProviderName, outcome: &'static str) {
    metrics::counter!(SYNC_CHANGES, "provider" => provider.as_str(), "outcome" => outcome)
        .increment(1);
}

pub(crate) fn sync_error(provider: ProviderName, kind: &'static str) {
    metrics::counter!(SYNC_ERRORS, "provider" => provider.as_str(), "kind" => kind).increment(1);
}

pub(crate) fn sync_rate_limited(provider: ProviderName, cause: &'static str) {
    metrics::counter!(SYNC_RATE_LIMITED, "provider" => provider.as_str(), "cause" => cause)
        .increment(1);
}
