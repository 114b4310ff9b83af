//! Starting, pausing, resuming and canceling campaigns, one at a time or for a whole
//! organization (what enforcement asks for with a [`crate::CampaignControl`]).
//!
//! Each runs in one transaction under the campaign's row lock, which the dispatcher takes too,
//! so a pause and a batch settlement never both miss the moment to release the hold.

use chrono::{DateTime, Utc};
use db::AsyncPgConnection;
use diesel_async::AsyncConnection;
use primitives::OrganizationId;

use crate::{
    CampaignId, CampaignStatus, Campaigns, CampaignsError, Done, PauseReason, RecipientStatus,
    campaign::Campaign,
    eligibility::{self, Blocker, Funding},
    funds,
    store::{self, Scope},
};

/// How an attempt to (re)start sending ended.
pub(crate) enum Launch {
    Running,
    /// Nothing left to send: the campaign completed.
    Completed,
    Blocked(Vec<Blocker>),
}

impl Campaigns {
    /// Starts a draft: checks eligibility and reserves `pending recipients x cost per message`
    /// as a hold. Refused with every blocking reason (nothing changes), or with the ledger's
    /// refusal of the hold. The same `key` again answers the campaign as a replay; a started
    /// campaign with another key is `CAMPAIGN_STATE_CONFLICT`.
    pub async fn start(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
        key: &str,
    ) -> Result<Done<Campaign>, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let campaign = store::lock(conn, Some(organization), id).await?;
            match campaign.status {
                CampaignStatus::Draft => {}
                _ if campaign.start_key.as_deref() == Some(key) => {
                    return Ok(Done {
                        value: campaign,
                        replayed: true,
                    });
                }
                status => {
                    return Err(CampaignsError::InvalidState {
                        action: "start",
                        status,
                    });
                }
            }
            let pending = store::count_in(conn, id, RecipientStatus::Pending, None).await?;
            if pending == 0 {
                return Err(CampaignsError::NoRecipients);
            }
            // Running first: a draft holds nothing (a schema rule). A refusal rolls it back.
            store::set_started(conn, id, key, now).await?;
            match self.launch(conn, &campaign, pending, now, true).await? {
                Launch::Running | Launch::Completed => {}
                Launch::Blocked(blockers) => return Err(CampaignsError::NotEligible(blockers)),
            }
            log_change(&campaign, "started", None);
            Ok(Done {
                value: store::find(conn, None, id).await?,
                replayed: false,
            })
        })
        .await
    }

    /// A person pauses a running (or billing-paused) campaign: the reason becomes `manual`, so
    /// only a person resumes it. The hold is released once no batch is in flight.
    pub async fn pause(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
    ) -> Result<Campaign, CampaignsError> {
        self.pause_one(conn, Some(organization), id, PauseReason::Manual)
            .await
    }

    /// A person resumes a paused campaign (whatever the pause reason), if the organization may
    /// send: otherwise `NotEligible` with every reason, and it stays paused as it was. A
    /// running campaign is left as is.
    pub async fn resume(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
    ) -> Result<Campaign, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let campaign = store::lock(conn, Some(organization), id).await?;
            match campaign.status {
                CampaignStatus::Running => return Ok(campaign),
                CampaignStatus::Paused => {}
                status => {
                    return Err(CampaignsError::InvalidState {
                        action: "resume",
                        status,
                    });
                }
            }
            if let Launch::Blocked(blockers) = self.relaunch(conn, &campaign, now).await? {
                return Err(CampaignsError::NotEligible(blockers));
            }
            store::find(conn, None, id).await
        })
        .await
    }

    /// Stops a campaign for good: pending recipients become `canceled` and the hold is
    /// released once no batch is in flight. Canceling a canceled campaign changes nothing.
    pub async fn cancel(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: CampaignId,
    ) -> Result<Campaign, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let campaign = store::lock(conn, Some(organization), id).await?;
            match campaign.status {
                CampaignStatus::Canceled => return Ok(campaign),
                CampaignStatus::Completed => {
                    return Err(CampaignsError::InvalidState {
                        action: "cancel",
                        status: campaign.status,
                    });
                }
                CampaignStatus::Draft | CampaignStatus::Running | CampaignStatus::Paused => {}
            }
            store::cancel_pending(conn, id, now).await?;
            store::set_status(conn, id, CampaignStatus::Canceled, None, now).await?;
            funds::release_if_idle(conn, &self.ledger, &campaign).await?;
            log_change(&campaign, "canceled", None);
            store::find(conn, None, id).await
        })
        .await
    }

    /// Pauses every running campaign of the organization with `reason`; returns how many.
    pub async fn pause_all(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        reason: PauseReason,
    ) -> Result<usize, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let running = store::lock_all(conn, organization, CampaignStatus::Running).await?;
            for campaign in &running {
                self.set_paused(conn, campaign, reason, now).await?;
            }
            Ok(running.len())
        })
        .await
    }

    /// Resumes the organization's campaigns paused for a billing reason that has cleared, oldest
    /// first (each new hold lowers what the next one can reserve). Manual pauses are never
    /// touched. A campaign still blocked keeps waiting, its reason updated to the current
    /// first blocker. Returns how many resumed (or completed, having nothing left to send).
    pub async fn resume_if_eligible(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
    ) -> Result<usize, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let mut paused = store::lock_all(conn, organization, CampaignStatus::Paused).await?;
            paused.retain(|c| c.pause_reason.is_some_and(PauseReason::is_billing));
            paused.sort_by_key(|c| (c.created_at, c.id));
            let mut resumed = 0;
            for campaign in &paused {
                match self.relaunch(conn, campaign, now).await? {
                    Launch::Running | Launch::Completed => resumed += 1,
                    Launch::Blocked(blockers) => {
                        let reason = blockers.first().map(Blocker::reason);
                        if reason.is_some() && reason != campaign.pause_reason {
                            store::set_status(
                                conn,
                                campaign.id,
                                CampaignStatus::Paused,
                                reason,
                                now,
                            )
                            .await?;
                        }
                    }
                }
            }
            Ok(resumed)
        })
        .await
    }

    pub(crate) async fn pause_one(
        &self,
        conn: &mut AsyncPgConnection,
        scope: Scope,
        id: CampaignId,
        reason: PauseReason,
    ) -> Result<Campaign, CampaignsError> {
        let now = self.now();
        conn.transaction(async move |conn| {
            let campaign = store::lock(conn, scope, id).await?;
            match campaign.status {
                CampaignStatus::Running | CampaignStatus::Paused => {}
                status => {
                    return Err(CampaignsError::InvalidState {
                        action: "pause",
                        status,
                    });
                }
            }
            if campaign.pause_reason != Some(reason) {
                self.set_paused(conn, &campaign, reason, now).await?;
            }
            store::find(conn, None, id).await
        })
        .await
    }

    /// Marks the (locked) campaign paused and releases its hold if no batch is in flight.
    pub(crate) async fn set_paused(
        &self,
        conn: &mut AsyncPgConnection,
        campaign: &Campaign,
        reason: PauseReason,
        now: DateTime<Utc>,
    ) -> Result<(), CampaignsError> {
        store::set_status(conn, campaign.id, CampaignStatus::Paused, Some(reason), now).await?;
        funds::release_if_idle(conn, &self.ledger, campaign).await?;
        log_change(campaign, "paused", Some(reason));
        Ok(())
    }

    /// Sets a paused (locked) campaign running again if it may send. It keeps its hold if one
    /// is still open (a batch was in flight when it paused, so nothing was released), else it
    /// places a new one for what is pending.
    async fn relaunch(
        &self,
        conn: &mut AsyncPgConnection,
        campaign: &Campaign,
        now: DateTime<Utc>,
    ) -> Result<Launch, CampaignsError> {
        let pending = store::count_in(conn, campaign.id, RecipientStatus::Pending, None).await?;
        let launch = self.launch(conn, campaign, pending, now, true).await?;
        match launch {
            Launch::Running => {
                store::set_status(conn, campaign.id, CampaignStatus::Running, None, now).await?;
                log_change(campaign, "resumed", None);
            }
            Launch::Completed => {
                store::set_status(conn, campaign.id, CampaignStatus::Completed, None, now).await?;
                funds::release_if_idle(conn, &self.ledger, campaign).await?;
                log_change(campaign, "completed", None);
            }
            Launch::Blocked(_) => {}
        }
        Ok(launch)
    }

    /// Checks eligibility for sending `pending` recipients and makes sure a hold covers them:
    /// the open one if `reuse_hold` and it is still good, else a new one (the old one
    /// released first, so nothing is reserved twice). Changes nothing but the hold: the caller
    /// sets the status.
    pub(crate) async fn launch(
        &self,
        conn: &mut AsyncPgConnection,
        campaign: &Campaign,
        pending: i64,
        now: DateTime<Utc>,
        reuse_hold: bool,
    ) -> Result<Launch, CampaignsError> {
        let sending = store::count_in(conn, campaign.id, RecipientStatus::Sending, None).await?;
        if pending == 0 && sending == 0 {
            return Ok(Launch::Completed);
        }
        let required = funds::times(campaign.cost_per_message, pending + sending)?;
        let current = match campaign.hold_id {
            Some(hold_id) => {
                let wallet_id = self
                    .ledger
                    .wallet_for_organization(conn, campaign.organization_id)
                    .await?;
                let hold = self.ledger.hold_details(conn, wallet_id, hold_id).await?;
                (hold.status == ledger::HoldStatus::Open).then_some(hold)
            }
            None => None,
        };
        let reusable = current
            .as_ref()
            .filter(|hold| reuse_hold && hold.expires_at > now);
        let funding = match reusable {
            Some(hold) => Funding::Hold {
                remaining: hold.remaining,
                required,
            },
            None => Funding::Available {
                required: funds::times(campaign.cost_per_message, pending)?,
            },
        };
        let mut facts = eligibility::load_facts(
            conn,
            &self.ledger,
            campaign.organization_id,
            Some(campaign.brand_id),
        )
        .await?;
        if let (None, Some(old)) = (reusable, &current) {
            // The old hold is released before the new one is placed: its money counts.
            facts.wallet.available = facts
                .wallet
                .available
                .checked_add(old.remaining)
                .map_err(|_| CampaignsError::CostOverflow)?;
        }
        let blockers = eligibility::decide(&facts, funding);
        if !blockers.is_empty() {
            return Ok(Launch::Blocked(blockers));
        }
        if let Funding::Available { required } = funding {
            if let Some(stale) = campaign.hold_id {
                funds::release(conn, &self.ledger, campaign, stale).await?;
            }
            match funds::place_hold(conn, &self.ledger, &self.policy, campaign, required, now).await
            {
                Ok(_) => {}
                Err(CampaignsError::Ledger(error)) => match blocker_of(&error, required) {
                    Some(blocker) => return Ok(Launch::Blocked(vec![blocker])),
                    None => return Err(error.into()),
                },
                Err(error) => return Err(error),
            }
        }
        Ok(Launch::Running)
    }
}

impl Campaigns {
    /// After a batch settled, its charge was booked or abandoned claims were recovered: a
    /// running campaign with nothing left to send and no charge left to book completes; a
    /// paused, canceled or completed one releases its hold once no batch is in flight and no
    /// charge is due on it. Returns whether the campaign completed now.
    pub(crate) async fn settle_status(
        &self,
        conn: &mut AsyncPgConnection,
        campaign: &Campaign,
        now: DateTime<Utc>,
    ) -> Result<bool, CampaignsError> {
        if campaign.status == CampaignStatus::Running {
            let left = store::count_in(conn, campaign.id, RecipientStatus::Pending, Some(1))
                .await?
                + store::count_in(conn, campaign.id, RecipientStatus::Sending, Some(1)).await?;
            if left > 0 {
                return Ok(false);
            }
            // Its last charges are not booked yet: it completes when they are (the booking
            // settles the status again), so a completed campaign never holds money.
            if store::charges_due(conn, campaign.id, None).await? > 0 {
                return Ok(false);
            }
            store::set_status(conn, campaign.id, CampaignStatus::Completed, None, now).await?;
            funds::release_if_idle(conn, &self.ledger, campaign).await?;
            log_change(campaign, "completed", None);
            return Ok(true);
        }
        if campaign.status == CampaignStatus::Canceled {
            // A batch in flight when it was canceled returns its unsent recipients to pending.
            store::cancel_pending(conn, campaign.id, now).await?;
        }
        if campaign.status != CampaignStatus::Draft {
            funds::release_if_idle(conn, &self.ledger, campaign).await?;
        }
        Ok(false)
    }
}

/// A hold refusal as the blocker it means (the wallet changed between the check and the hold).
fn blocker_of(error: &ledger::LedgerError, required: primitives::Money) -> Option<Blocker> {
    match error {
        ledger::LedgerError::InsufficientFunds { available, .. } => {
            Some(Blocker::InsufficientFunds {
                available: *available,
                required,
            })
        }
        ledger::LedgerError::FrozenWallet { sources } => Some(Blocker::WalletFrozen {
            sources: sources.clone(),
        }),
        _ => None,
    }
}

pub(crate) fn log_change(campaign: &Campaign, change: &str, reason: Option<PauseReason>) {
    tracing::info!(
        event = "campaign_status",
        organization = %campaign.organization_id,
        campaign = %campaign.id,
        from = %campaign.status,
        change,
        reason = reason.map(PauseReason::as_str),
        "campaign {change}"
    );
}
