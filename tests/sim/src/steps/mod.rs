//! Carrying out the plan's steps in the world, one module per concept.

pub mod campaigns;
pub mod jobs;
pub mod money;
pub mod provider;

use chrono::Duration;

use crate::{plan::Step, world::World};

impl World {
    /// Carries out one step; a short note of what happened, or what broke.
    pub async fn execute(&mut self, step: &Step) -> Result<String, String> {
        match step {
            Step::Money(money) => self.money(money).await,
            Step::Retry { op } => self.retry(*op).await,
            Step::Freeze { org, source, on } => self.freeze(*org, *source, *on).await,
            Step::CreateCampaign {
                slot,
                org,
                recipients,
                price,
                two_segments,
            } => {
                self.create_campaign(*slot, *org, *recipients, *price, *two_segments)
                    .await
            }
            Step::StartCampaign { slot } => self.start_campaign(*slot).await,
            Step::PauseCampaign { slot } => self.pause_campaign(*slot).await,
            Step::ResumeCampaign { slot } => self.resume_campaign(*slot).await,
            Step::CancelCampaign { slot } => self.cancel_campaign(*slot).await,
            Step::ProviderEvent { event, org, kind } => {
                Ok(self.provider_event(*event, *org, *kind))
            }
            Step::Deliver { event, fault } => self.deliver(*event, *fault).await,
            Step::Dispatch { answers, fault } => self.dispatch(answers, *fault).await,
            Step::Outbox {
                topic,
                answers,
                fault,
            } => self.outbox(*topic, answers, *fault).await,
            Step::Dunning { answer, fault } => self.dunning(*answer, *fault).await,
            Step::Inbox { fault } => self.inbox(*fault).await,
            Step::SweepHolds => Ok(self.sweep_holds().await),
            Step::ResumeSweep => Ok(self.resume_sweep().await),
            Step::Lookup { failing } => self.lookup(*failing).await,
            Step::Advance { seconds } => {
                self.advance(Duration::seconds(*seconds));
                Ok(format!("clock now {}", self.now()))
            }
            Step::Quiesce => self.quiesce().await,
        }
    }
}
