//! Campaign operations a customer makes through the API (create, start, pause, resume, cancel)
//! and an operator's wallet freezes.
//!
//! Starting and resuming are checked against eligibility computed by the sim from the sources
//! of truth before the step: a start is refused with exactly the blockers the sim sees, and a
//! campaign never starts or resumes while its organization may not send. A person's pause is
//! remembered by the model: it must hold until a person resumes or cancels.

use std::collections::BTreeSet;

use campaigns::{CampaignName, CampaignStatus, CampaignsError, MessageBody, NewCampaign, Sender};
use ledger::{Actor, FreezeRequest, FreezeSource, Reason, UnfreezeRequest};

use crate::{
    plan::FreezeKind,
    sql,
    world::{SimCampaign, World, usd},
};

fn parse<T, E: std::fmt::Display>(value: Result<T, E>) -> T {
    value.unwrap_or_else(|e| panic!("sim: {e}"))
}

/// The blockers the sim sees for `standing`, `required` minor units to be found available.
fn expected_blockers(standing: &sql::Standing, required: Option<i64>) -> BTreeSet<&'static str> {
    let mut blockers = BTreeSet::new();
    if !standing.subscription_ok {
        blockers.insert("SUBSCRIPTION_INACTIVE");
    }
    if !standing.frozen.is_empty() {
        blockers.insert("FROZEN_WALLET");
    }
    if standing.brand_status != "active" {
        blockers.insert("MESSAGING_SUSPENDED");
    }
    if required.is_some_and(|required| standing.available < required) {
        blockers.insert("INSUFFICIENT_FUNDS");
    }
    blockers
}

fn blockers_of(error: &CampaignsError) -> Option<BTreeSet<&'static str>> {
    match error {
        CampaignsError::NotEligible(blockers) => Some(
            blockers
                .iter()
                .map(campaigns::eligibility::Blocker::code)
                .collect(),
        ),
        _ => None,
    }
}

impl World {
    /// The organization's standing before this step.
    fn standing(&self, org: usize) -> sql::Standing {
        self.snapshot
            .standing(self.orgs[org].id.as_uuid())
            .unwrap_or_else(|| panic!("sim: no standing for org {org}"))
    }

    async fn campaign_row(&self, slot: u32) -> Option<sql::CampaignRow> {
        let id = self.campaigns.get(&slot)?.id.as_uuid();
        let mut conn = self.conn().await;
        sql::campaign(&mut conn, id).await
    }

    pub async fn create_campaign(
        &mut self,
        slot: u32,
        org: usize,
        recipients: u8,
        price: i64,
        two_segments: bool,
    ) -> Result<String, String> {
        let numbers: Vec<String> = (0..recipients).map(|_| self.next_phone()).collect();
        let body = if two_segments {
            format!("Sim sale {slot}: {}", "twenty percent off today ".repeat(7))
        } else {
            format!("Sim sale {slot}: 20% off today")
        };
        let organization = self.orgs[org].id;
        let new = NewCampaign {
            brand_id: self.orgs[org].brand,
            name: parse(CampaignName::parse(&format!("Sim campaign {slot}"))),
            body: parse(MessageBody::parse(&body)),
            sender: parse(Sender::from_number("+14155550100")),
            price_per_segment: usd(price),
        };
        let mut conn = self.conn().await;
        let campaigns = &self.services.campaigns;
        let campaign = campaigns
            .create(&mut conn, organization, new)
            .await
            .map_err(|e| format!("campaign create failed: {e}"))?;
        campaigns
            .add_recipients(&mut conn, organization, campaign.id, &numbers)
            .await
            .map_err(|e| format!("adding recipients failed: {e}"))?;
        drop(conn);
        self.twilio.add_phones(slot, &numbers);
        self.campaign_slots.insert(campaign.id.as_uuid(), slot);
        self.campaigns.insert(
            slot,
            SimCampaign {
                id: campaign.id,
                org,
            },
        );
        self.stats.bump("campaign.created");
        Ok(format!("campaign {slot}: {recipients} recipients"))
    }

    pub async fn start_campaign(&mut self, slot: u32) -> Result<String, String> {
        let Some(campaign) = self.campaigns.get(&slot).cloned() else {
            return Ok("no such campaign".into());
        };
        let before = self.campaign_row(slot).await;
        let standing = self.standing(campaign.org);
        let organization = self.orgs[campaign.org].id;
        let result = {
            let mut conn = self.conn().await;
            self.services
                .campaigns
                .start(
                    &mut conn,
                    organization,
                    campaign.id,
                    &format!("start-{slot}"),
                )
                .await
        };
        let draft = before.as_ref().is_some_and(|row| row.status == "draft");
        let required = before
            .as_ref()
            .map(|row| row.pending * row.cost_per_message);
        match result {
            Ok(done) if !done.replayed => {
                if !standing.may_send() {
                    return Err(format!(
                        "campaign {slot} started while its organization may not send: \
                         {standing:?}"
                    ));
                }
                self.stats.bump("campaign.start.started");
                Ok(format!("campaign {slot} started"))
            }
            Ok(_) => {
                self.stats.bump("campaign.start.replayed");
                Ok(format!("campaign {slot}: start replayed"))
            }
            Err(error) => {
                if let Some(blockers) = blockers_of(&error) {
                    let expected = expected_blockers(&standing, required);
                    if draft && blockers != expected {
                        return Err(format!(
                            "campaign {slot}: start refused with {blockers:?}, the sources of \
                             truth say {expected:?} ({standing:?}, {required:?} required)"
                        ));
                    }
                    self.stats.bump("campaign.start.not_eligible");
                    return Ok(format!("campaign {slot}: not eligible {blockers:?}"));
                }
                match error {
                    CampaignsError::InvalidState { .. } | CampaignsError::NoRecipients => {
                        self.stats.bump("campaign.start.conflict");
                        Ok(format!("campaign {slot}: {error}"))
                    }
                    error => Err(format!("campaign {slot}: start failed: {error}")),
                }
            }
        }
    }

    pub async fn pause_campaign(&mut self, slot: u32) -> Result<String, String> {
        let Some(campaign) = self.campaigns.get(&slot).cloned() else {
            return Ok("no such campaign".into());
        };
        let organization = self.orgs[campaign.org].id;
        let result = {
            let mut conn = self.conn().await;
            self.services
                .campaigns
                .pause(&mut conn, organization, campaign.id)
                .await
        };
        match result {
            Ok(paused) => {
                if paused.status != CampaignStatus::Paused
                    || paused.pause_reason != Some(campaigns::PauseReason::Manual)
                {
                    return Err(format!(
                        "campaign {slot}: a person's pause left it {} {:?}",
                        paused.status, paused.pause_reason
                    ));
                }
                self.model.manual_pauses.insert(slot);
                self.stats.bump("campaign.pause.paused");
                Ok(format!("campaign {slot} paused by a person"))
            }
            Err(CampaignsError::InvalidState { status, .. }) => {
                self.stats.bump("campaign.pause.conflict");
                Ok(format!("campaign {slot}: cannot pause, {status}"))
            }
            Err(error) => Err(format!("campaign {slot}: pause failed: {error}")),
        }
    }

    pub async fn resume_campaign(&mut self, slot: u32) -> Result<String, String> {
        let Some(campaign) = self.campaigns.get(&slot).cloned() else {
            return Ok("no such campaign".into());
        };
        let before = self.campaign_row(slot).await;
        let standing = self.standing(campaign.org);
        let organization = self.orgs[campaign.org].id;
        let result = {
            let mut conn = self.conn().await;
            self.services
                .campaigns
                .resume(&mut conn, organization, campaign.id)
                .await
        };
        let was_paused = before.as_ref().is_some_and(|row| row.status == "paused");
        match result {
            Ok(resumed) => {
                if was_paused && resumed.status != CampaignStatus::Paused {
                    // Completing one with nothing left to send sends nothing.
                    if resumed.status == CampaignStatus::Running && !standing.may_send() {
                        return Err(format!(
                            "campaign {slot} resumed ({}) while its organization may not send: \
                             {standing:?}",
                            resumed.status
                        ));
                    }
                    self.model.manual_pauses.remove(&slot);
                    self.stats.bump("campaign.resume.resumed");
                }
                Ok(format!("campaign {slot}: {}", resumed.status))
            }
            Err(error) => {
                if let Some(blockers) = blockers_of(&error) {
                    let mut expected = expected_blockers(&standing, None);
                    let mut seen = blockers.clone();
                    // Funds depend on the campaign's hold; the rest must match.
                    seen.remove("INSUFFICIENT_FUNDS");
                    expected.remove("INSUFFICIENT_FUNDS");
                    if seen != expected {
                        return Err(format!(
                            "campaign {slot}: resume refused with {blockers:?}, the sources of \
                             truth say {expected:?} ({standing:?})"
                        ));
                    }
                    self.stats.bump("campaign.resume.not_eligible");
                    return Ok(format!("campaign {slot}: not eligible {blockers:?}"));
                }
                match error {
                    CampaignsError::InvalidState { status, .. } => {
                        self.stats.bump("campaign.resume.conflict");
                        Ok(format!("campaign {slot}: cannot resume, {status}"))
                    }
                    error => Err(format!("campaign {slot}: resume failed: {error}")),
                }
            }
        }
    }

    pub async fn cancel_campaign(&mut self, slot: u32) -> Result<String, String> {
        let Some(campaign) = self.campaigns.get(&slot).cloned() else {
            return Ok("no such campaign".into());
        };
        let organization = self.orgs[campaign.org].id;
        let result = {
            let mut conn = self.conn().await;
            self.services
                .campaigns
                .cancel(&mut conn, organization, campaign.id)
                .await
        };
        match result {
            Ok(_) => {
                self.model.manual_pauses.remove(&slot);
                self.stats.bump("campaign.cancel.canceled");
                Ok(format!("campaign {slot} canceled"))
            }
            Err(CampaignsError::InvalidState { status, .. }) => {
                self.stats.bump("campaign.cancel.conflict");
                Ok(format!("campaign {slot}: cannot cancel, {status}"))
            }
            Err(error) => Err(format!("campaign {slot}: cancel failed: {error}")),
        }
    }

    pub async fn freeze(
        &mut self,
        org: usize,
        kind: FreezeKind,
        on: bool,
    ) -> Result<String, String> {
        let wallet_id = self.orgs[org].wallet;
        let source = match kind {
            FreezeKind::Admin => FreezeSource::Admin,
            FreezeKind::Risk => FreezeSource::Risk,
        };
        let reason = parse(Reason::parse("simulated operator action"));
        let mut conn = self.conn().await;
        let ledger = &self.services.ledger;
        let outcome = if on {
            ledger
                .freeze(
                    &mut conn,
                    FreezeRequest {
                        wallet_id,
                        source,
                        reason,
                        actor: Actor::admin(),
                    },
                )
                .await
        } else {
            ledger
                .unfreeze(
                    &mut conn,
                    UnfreezeRequest {
                        wallet_id,
                        source,
                        reason,
                        actor: Actor::admin(),
                    },
                )
                .await
        }
        .map_err(|e| format!("freeze failed: {e}"))?;
        drop(conn);
        if kind == FreezeKind::Admin {
            self.model.admin_frozen[org] = on;
        }
        let what = if on { "freeze" } else { "unfreeze" };
        self.stats
            .bump(format!("freeze.{what}.{}", source.as_str()));
        Ok(format!(
            "org {org}: {what} {} changed={}",
            source.as_str(),
            outcome.changed
        ))
    }
}
