//! The dispatcher: sends running campaigns in batches and never sends a recipient twice or
//! unpaid (docs/guarantees.md: G1, G3, G7).
//!
//! One batch is three steps, and no database connection is held during the second:
//! 1. **claim** (one transaction under the campaign's row lock): recover recipients whose lease
//!    ran out, re-check eligibility (a pause takes effect here, within one batch), make sure the
//!    hold covers the batch, and mark up to `batch_size` pending recipients `sending` with
//!    `FOR UPDATE SKIP LOCKED`, under a lease;
//! 2. **send**: call Twilio for each, `concurrency` at a time; an answer meaning Twilio refuses
//!    the account or may be in trouble stops the batch (the rest go back to pending);
//! 3. **settle** (one transaction): record each outcome and what accepted (and maybe-sent)
//!    messages cost as the batch's charge, due; then, after the commit, **book** the charge
//!    through the ledger's batching writer (a capture from the hold) and record it, releasing
//!    the hold if the campaign completed, paused or was canceled (`charges`).
//!
//! A worker that dies between 1 and 3 leaves its recipients `sending`; once their lease runs
//! out, the next claim marks them `unconfirmed` and charges them (Twilio may have sent them),
//! never resending. See docs/campaigns.md, "The crash window". One that dies between the
//! settlement's commit and the booking leaves the charge due: recovery books it.

mod claim;
mod outcome;
mod recover;
mod settle;

use std::sync::{
    OnceLock,
    atomic::{AtomicBool, Ordering},
};

use db::DbPool;
use futures::{StreamExt, stream};
use ledger::{LedgerWriter, WriterConfig};
use primitives::Money;
use twilio::{MessageSender, SendMessage};

use crate::{CampaignId, Campaigns, CampaignsError, charges, eligibility::Blocker};

use outcome::Outcome;

/// How the dispatcher works.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Recipients per claim.
    pub batch_size: usize,
    /// Twilio calls in flight per batch.
    pub concurrency: usize,
    /// How long a claim lasts before its recipients count as abandoned. Keep it well above the
    /// time a batch can take (`batch_size / concurrency` sends, each up to the Twilio client's
    /// timeout and retries), and below the hold policy's `renew_before`.
    pub lease: chrono::Duration,
    /// After a batch stopped on a Twilio answer meaning trouble, the campaign waits this long.
    pub trouble_backoff: chrono::Duration,
    /// Who claims (logged and stored on batches), e.g. `worker-1@host`.
    pub worker: String,
    /// Where Twilio posts delivery updates; `campaign` and `recipient` are added to its query.
    pub status_callback: Option<url::Url>,
    /// How long a settled batch's charge may stay due before recovery books it instead of the
    /// settling worker (which books it right after its settlement's commit).
    pub charge_grace: chrono::Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            concurrency: 16,
            lease: chrono::Duration::minutes(5),
            trouble_backoff: chrono::Duration::seconds(30),
            worker: "dispatcher".to_owned(),
            status_callback: None,
            charge_grace: chrono::Duration::seconds(5),
        }
    }
}

/// What one [`Dispatcher::dispatch_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchReport {
    /// The campaign is not running, or waits after trouble, or for in-flight batches.
    Idle,
    /// Eligibility failed: the campaign is paused with the first blocker's reason.
    Paused(Vec<Blocker>),
    /// Nothing was left to send: the campaign completed and its hold was released.
    Completed,
    Sent(BatchCounts),
}

/// The outcomes of one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub claimed: usize,
    pub sent: usize,
    pub failed: usize,
    pub unconfirmed: usize,
    /// Back to pending (never reached Twilio).
    pub returned: usize,
    /// Recovered from dead workers by this claim (now unconfirmed).
    pub recovered: usize,
    /// Captured (or debited) for this batch.
    pub charged: i64,
    /// What this batch's charge left due: its booking failed (the ledger was unavailable), so
    /// recovery books it.
    pub charge_due: i64,
    /// This batch was the campaign's last: it completed and its hold was released.
    pub completed: bool,
}

/// What one [`Dispatcher::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub batches: usize,
    pub sent: usize,
    pub failed: usize,
    pub unconfirmed: usize,
    pub recovered: usize,
    pub paused: usize,
    pub completed: usize,
    /// Charges left due by a settlement (a worker died or the ledger was unavailable) and
    /// booked by this run's recovery.
    pub charges: usize,
}

impl RunReport {
    /// Whether anything happened (a worker loops at once while it does).
    pub fn did_work(&self) -> bool {
        *self != Self::default()
    }
}

/// Sends campaigns through a [`MessageSender`]. Run as many as wanted, in one process or
/// several: claims never overlap.
pub struct Dispatcher<S> {
    pool: DbPool,
    campaigns: Campaigns,
    sender: S,
    config: DispatchConfig,
    /// Books the batches' charges; started on first use unless given ([`Dispatcher::with_writer`]).
    writer: OnceLock<LedgerWriter>,
}

/// One claimed recipient.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: i64,
    pub phone: String,
}

/// A claimed batch, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub id: uuid::Uuid,
    pub campaign: CampaignId,
    pub hold_id: primitives::HoldId,
    pub cost: Money,
    /// The brand's Twilio subaccount, which messages are sent through.
    pub account_sid: String,
    pub sender: twilio::Sender,
    pub body: String,
    pub recipients: Vec<Claimed>,
    pub recovered: usize,
}

impl<S: MessageSender> Dispatcher<S> {
    /// A dispatcher that books its batches' charges through a batching writer of its own,
    /// started (on `pool`, with the default settings) the first time it books. A process that
    /// runs several dispatchers gives them one writer with [`Dispatcher::with_writer`].
    pub fn new(pool: DbPool, campaigns: Campaigns, sender: S, config: DispatchConfig) -> Self {
        Self {
            pool,
            campaigns,
            sender,
            config,
            writer: OnceLock::new(),
        }
    }

    /// Books charges through `writer` (the process's, shared with its other dispatchers). It
    /// must decide on the same clock as the campaigns' ledger.
    #[must_use]
    pub fn with_writer(self, writer: LedgerWriter) -> Self {
        let cell = OnceLock::new();
        // A fresh cell is always empty, so this cannot fail.
        let _ = cell.set(writer);
        Self {
            writer: cell,
            ..self
        }
    }

    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    /// Only called from the async methods, so on a tokio runtime, which the writer's shard
    /// tasks need.
    fn writer(&self) -> &LedgerWriter {
        self.writer.get_or_init(|| {
            LedgerWriter::start(
                self.pool.clone(),
                self.campaigns.ledger.clone(),
                WriterConfig::default(),
            )
        })
    }

    /// Recovers abandoned claims and charges left due everywhere, then dispatches one batch of
    /// every running campaign that is due.
    pub async fn run_once(&self) -> Result<RunReport, CampaignsError> {
        let mut report = RunReport {
            recovered: recover::abandoned_everywhere(&self.pool, &self.campaigns).await?,
            charges: self.redrive(None).await?,
            ..RunReport::default()
        };
        let due = {
            let mut conn = self.pool.get().await?;
            claim::due_campaigns(&mut conn, self.campaigns.now()).await?
        };
        for campaign in due {
            // Its charges left due were booked above.
            match self.claim_send_settle(campaign).await? {
                BatchReport::Idle => {}
                BatchReport::Paused(_) => report.paused += 1,
                BatchReport::Completed => report.completed += 1,
                BatchReport::Sent(counts) => {
                    report.batches += 1;
                    report.sent += counts.sent;
                    report.failed += counts.failed;
                    report.unconfirmed += counts.unconfirmed;
                    report.recovered += counts.recovered;
                    report.completed += usize::from(counts.completed);
                }
            }
        }
        Ok(report)
    }

    /// Books `campaign`'s charges left due (all campaigns' when `None`).
    async fn redrive(&self, campaign: Option<CampaignId>) -> Result<usize, CampaignsError> {
        charges::redrive(
            &self.pool,
            &self.campaigns,
            self.writer(),
            self.config.charge_grace,
            campaign,
        )
        .await
    }

    /// Books `campaign`'s charges left due, then claims, sends and settles one batch of it, and
    /// books the batch's charge.
    pub async fn dispatch_batch(
        &self,
        campaign: CampaignId,
    ) -> Result<BatchReport, CampaignsError> {
        self.redrive(Some(campaign)).await?;
        self.claim_send_settle(campaign).await
    }

    async fn claim_send_settle(&self, campaign: CampaignId) -> Result<BatchReport, CampaignsError> {
        let batch = {
            let mut conn = self.pool.get().await?;
            match claim::claim(&mut conn, &self.campaigns, &self.config, campaign).await? {
                claim::Claim::Batch(batch) => batch,
                claim::Claim::Report(report) => return Ok(report),
            }
        };
        let outcomes = self.send_all(&batch).await;
        let settled = {
            let mut conn = self.pool.get().await?;
            settle::settle(&mut conn, &self.campaigns, &self.config, &batch, outcomes).await?
        };
        let mut counts = settled.counts;
        if let Some(charge) = settled.charge {
            // The settlement is committed: whatever happens now, the charge is due in the books.
            match charges::settle(&self.pool, &self.campaigns, self.writer(), &charge).await {
                Ok((recorded, completed)) => {
                    counts.charge_due = 0;
                    counts.completed |= completed;
                    if recorded.is_paid() {
                        counts.charged = charge.request.amount.minor();
                    }
                }
                Err(error) => tracing::warn!(
                    campaign = %campaign, batch = %batch.id, %error,
                    "batch charge not booked; it stays due and recovery books it"
                ),
            }
        }
        Ok(BatchReport::Sent(counts))
    }

    /// Sends the batch, `concurrency` at a time; after an answer that halts, the sends not yet
    /// started are not made.
    async fn send_all(&self, batch: &Batch) -> Vec<(i64, Outcome)> {
        let halted = AtomicBool::new(false);
        let halted = &halted;
        // Owned items: a stream over borrowed ones makes the future not `Send` for every
        // lifetime, which a spawned worker needs.
        stream::iter(batch.recipients.clone())
            .map(|recipient| async move {
                if halted.load(Ordering::Acquire) {
                    return (recipient.id, Outcome::NotAttempted);
                }
                let message = self.message(batch, &recipient);
                let outcome = Outcome::classify(self.sender.send(&message).await);
                if outcome.halts() {
                    halted.store(true, Ordering::Release);
                }
                (recipient.id, outcome)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await
    }

    fn message(&self, batch: &Batch, recipient: &Claimed) -> SendMessage {
        let status_callback = self.config.status_callback.clone().map(|mut url| {
            url.query_pairs_mut()
                .append_pair("campaign", &batch.campaign.to_string())
                .append_pair("recipient", &recipient.id.to_string());
            url
        });
        SendMessage {
            account_sid: Some(batch.account_sid.clone()),
            to: recipient.phone.clone(),
            from: batch.sender.clone(),
            body: batch.body.clone(),
            status_callback,
        }
    }
}
