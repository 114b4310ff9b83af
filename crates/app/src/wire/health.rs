//! `GET /v1/admin/health`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::health_report::HealthReport;

/// What needs an operator, across every organization. Fixed vocabularies (freeze sources,
/// subscription statuses, pause reasons, inbox statuses) list every key, zero included; the
/// outbox maps list the topics that have messages in that status.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReportResponse {
    /// Wallets whose balance is below zero: must be 0.
    pub wallets_negative: u64,
    /// Wallets whose balance or held amount differs from their latest ledger entry's: must be 0.
    pub wallets_drifted: u64,
    /// Frozen wallets by freeze source (`admin`, `billing`, `risk`); a wallet frozen by two
    /// sources counts under each.
    pub wallets_frozen: BTreeMap<String, u64>,
    /// Subscriptions by status.
    pub subscriptions: BTreeMap<String, u64>,
    /// Subscriptions in dunning (`past_due`).
    pub subscriptions_past_due: u64,
    /// Subscriptions suspended for non-payment.
    pub subscriptions_suspended: u64,
    /// Paused campaigns by pause reason.
    pub campaigns_paused: BTreeMap<String, u64>,
    /// Running campaigns with no progress (no change, no batch claimed or settled) for longer
    /// than `stalled_after_secs`.
    pub campaigns_stalled: u64,
    /// The stall threshold (`HEALTH_STALLED_CAMPAIGN_SECS`).
    pub stalled_after_secs: u64,
    /// Outbox messages waiting for delivery, by topic: the backlog.
    pub outbox_pending: BTreeMap<String, u64>,
    /// Outbox dead letters by topic: each needs a person.
    pub outbox_dead: BTreeMap<String, u64>,
    /// Webhook deliveries not (yet) applied, by status (`received`, `unmatched`, `held`,
    /// `failed`, `dead`); applied and ignored ones are not counted.
    pub webhook_inbox: BTreeMap<String, u64>,
}

impl HealthReportResponse {
    pub fn new(report: HealthReport, stalled_after_secs: u64) -> Self {
        let status = |name: &str| report.subscriptions.get(name).copied().unwrap_or(0);
        Self {
            subscriptions_past_due: status("past_due"),
            subscriptions_suspended: status("suspended"),
            wallets_negative: report.wallets_negative,
            wallets_drifted: report.wallets_drifted,
            wallets_frozen: report.wallets_frozen,
            subscriptions: report.subscriptions,
            campaigns_paused: report.campaigns_paused,
            campaigns_stalled: report.campaigns_stalled,
            stalled_after_secs,
            outbox_pending: report.outbox_pending,
            outbox_dead: report.outbox_dead,
            webhook_inbox: report.webhook_inbox,
        }
    }
}
