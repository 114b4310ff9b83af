//! The worker's jobs, one pass per step, through the same entry points its loops call: the
//! dispatcher, the outbox topics, dunning, the inbox, the hold-expiry and resume sweeps, the
//! Twilio lookup; and the clock, which only moves when the plan says.
//!
//! After a pass that no fault touched, the sim checks that the work that was due is done or
//! still queued under a lease: nothing due is left behind unclaimed.

use std::collections::HashSet;

use campaigns::{
    CampaignControlHandler, ControlHandler, Dispatcher, Lookup, LookupConfig, SubaccountHandler,
};
use chrono::Duration;
use db::DbPool;
use enforcement::DunningRunner;
use futures::future::BoxFuture;
use ledger::{LedgerWriter, WriterConfig};
use notifications::NotificationHandler;
use outbox::{DeliveryReport, Handler};
use tokio::sync::oneshot;

use crate::{
    fakes::twilio::{Allowed, FakeTwilio},
    faults::{self, VICTIM},
    plan::{DispatchFault, External, Kill, OutboxFault, RetryAnswer, Topic, TwilioAnswer},
    sql,
    world::{World, unreachable_pool},
};

/// Outbox messages one pass delivers at most.
const OUTBOX_BATCH: usize = 100;
/// Inbox deliveries one pass tries at most.
const INBOX_BATCH: i64 = 100;
/// Inbox passes one step may run: a pass wakes refunds waiting for a credit it applied, which
/// the next pass takes; more than this is a delivery the passes skip.
const INBOX_PASSES: usize = 3;
/// Dunning passes one dunning step may make before a due step left untaken is a failure.
const DUNNING_PASSES: usize = 8;
/// The most a quiesce moves the clock to let the outbox's backoffs run out.
const QUIESCE_HORIZON_HOURS: i64 = 8;

fn topic_name(topic: Topic) -> &'static str {
    match topic {
        Topic::Notifications => "notification",
        Topic::MessagingControl => "messaging.control",
        Topic::CampaignsControl => "campaigns.control",
        Topic::Subaccounts => "twilio.subaccount",
    }
}

impl World {
    /// Who may send and which campaigns run, as the sim reads them before a dispatch.
    fn allowed(&self) -> Allowed {
        let mut allowed = Allowed::default();
        for standing in &self.snapshot.standings {
            if let Some(org) = self.org_index(standing.organization_id) {
                let standing = sql::Standing::from(standing);
                allowed
                    .accounts
                    .insert(self.orgs[org].sid.clone(), standing.may_send());
            }
        }
        allowed.running = self
            .snapshot
            .running
            .iter()
            .filter_map(|id| self.campaign_slots.get(id).copied())
            .collect::<HashSet<_>>();
        allowed
    }

    fn dispatcher(&self, pool: DbPool, writer: LedgerWriter) -> Dispatcher<FakeTwilio> {
        Dispatcher::new(
            pool,
            self.services.campaigns.clone(),
            self.twilio.clone(),
            self.dispatch_config(),
        )
        .with_writer(writer)
    }

    pub async fn dispatch(
        &mut self,
        answers: &[TwilioAnswer],
        fault: Option<DispatchFault>,
    ) -> Result<String, String> {
        let allowed = self.allowed();
        self.twilio.arm_sends(answers, allowed);
        let outcome = match fault {
            None => {
                let report = self
                    .dispatcher(self.pool.clone(), self.dispatch_writer.clone())
                    .run_once()
                    .await
                    .map_err(|e| format!("dispatch failed: {e}"))?;
                self.stats.add("dispatch.batches", report.batches as u64);
                self.stats.add("dispatch.sent", report.sent as u64);
                self.stats.add("dispatch.failed", report.failed as u64);
                self.stats
                    .add("dispatch.unconfirmed", report.unconfirmed as u64);
                self.stats
                    .add("dispatch.recovered", report.recovered as u64);
                self.stats.add("dispatch.paused", report.paused as u64);
                self.stats
                    .add("dispatch.completed", report.completed as u64);
                self.stats
                    .add("dispatch.charges_redriven", report.charges as u64);
                self.after_clean_dispatch().await?;
                format!("{report:?}")
            }
            Some(DispatchFault::KillSettle) => self.dispatch_killed_at_settle().await?,
            Some(DispatchFault::KillRecord) => self.dispatch_killed_at_record().await?,
            Some(DispatchFault::Abandon { after, reached }) => {
                self.twilio.hang_send(usize::from(after), reached);
                let dispatcher = self.dispatcher(self.victim_pool(), self.dispatch_writer.clone());
                let task = tokio::spawn(async move { dispatcher.run_once().await });
                let twilio = self.twilio.clone();
                let finished =
                    faults::abandon_when(task, async move { twilio.hanging().await }).await;
                self.control.wait_gone(VICTIM).await;
                let hit = if finished.is_none() {
                    "injected"
                } else {
                    "missed"
                };
                self.stats
                    .bump(format!("fault.worker_stopped_mid_batch.dispatcher.{hit}"));
                format!("dispatcher stopped mid-batch: {}", finished.is_none())
            }
            Some(DispatchFault::WriterDown) => {
                let writer = LedgerWriter::start(
                    unreachable_pool(),
                    self.services.ledger.clone(),
                    WriterConfig::default(),
                );
                let report = self
                    .dispatcher(self.pool.clone(), writer)
                    .run_once()
                    .await
                    .map_err(|e| format!("dispatch (ledger writer down) failed: {e}"))?;
                let hit = if report.batches > 0 {
                    "injected"
                } else {
                    "missed"
                };
                self.stats
                    .bump(format!("fault.ledger_writer_down.dispatcher.{hit}"));
                self.stats.add("dispatch.batches", report.batches as u64);
                self.stats.add("dispatch.sent", report.sent as u64);
                format!("ledger writer down: {report:?}")
            }
            Some(DispatchFault::Random { after }) => {
                let dispatcher = self.dispatcher(self.victim_pool(), self.dispatch_writer.clone());
                let faulted = self
                    .control
                    .kill_randomly(VICTIM, after, async move { dispatcher.run_once().await })
                    .await;
                self.control.wait_gone(VICTIM).await;
                let hit = if faulted.killed { "injected" } else { "missed" };
                self.stats
                    .bump(format!("fault.kill_random.dispatcher.{hit}"));
                format!(
                    "dispatcher killed: {} {:?}",
                    faulted.killed,
                    faulted.result.map(|_| ())
                )
            }
        };
        Ok(outcome)
    }

    /// A worker killed mid-batch after Twilio got its messages: the first send waits while the
    /// sim locks the campaign's row, so the batch's settlement waits for it and is killed there.
    async fn dispatch_killed_at_settle(&mut self) -> Result<String, String> {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.twilio.pause_first_send(reached_tx, release_rx);
        let dispatcher = self.dispatcher(self.victim_pool(), self.dispatch_writer.clone());
        let mut task = tokio::spawn(async move { dispatcher.run_once().await });
        let phone = tokio::select! {
            biased;
            phone = reached_rx => phone.ok(),
            finished = &mut task => {
                // Nothing was sent: no batch to kill.
                let _ = finished;
                None
            }
        };
        let Some(phone) = phone else {
            self.control.wait_gone(VICTIM).await;
            self.stats
                .bump("fault.kill_while_locked.dispatcher_settle.missed");
            return Ok("nothing to dispatch: no settlement to kill".into());
        };
        let slot = self
            .twilio
            .campaign_of(&phone)
            .ok_or_else(|| format!("a message to {phone} of no campaign"))?;
        let campaign = self.campaigns[&slot].id;
        self.control
            .lock(&format!(
                "SELECT 1 FROM campaigns WHERE id = '{campaign}' FOR UPDATE"
            ))
            .await;
        let _ = release_tx.send(());
        let killed = self.control.kill_lock_waiter(VICTIM, &task).await;
        self.control.unlock().await;
        let result = faults::join(task).await;
        self.control.wait_gone(VICTIM).await;
        let hit = if killed { "injected" } else { "missed" };
        self.stats
            .bump(format!("fault.kill_while_locked.dispatcher_settle.{hit}"));
        Ok(format!(
            "settlement of campaign {slot}'s batch killed: {killed}, {:?}",
            result.map(|_| ())
        ))
    }

    /// A worker killed between booking its batch's charge and recording the booking: the
    /// wallet's row is locked at the first send, so the booking (through the dispatcher's
    /// ledger writer) waits for it; then the campaign's row is locked and the wallet let go, so
    /// the booking commits and the record waits, and is killed.
    async fn dispatch_killed_at_record(&mut self) -> Result<String, String> {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        self.twilio.pause_first_send(reached_tx, release_rx);
        let dispatcher = self.dispatcher(self.victim_pool(), self.dispatch_writer.clone());
        let mut task = tokio::spawn(async move { dispatcher.run_once().await });
        let phone = tokio::select! {
            biased;
            phone = reached_rx => phone.ok(),
            finished = &mut task => {
                let _ = finished;
                None
            }
        };
        let missed = |world: &mut Self, why: &str| {
            world
                .stats
                .bump("fault.kill_while_locked.dispatcher_charge_record.missed");
            Ok(format!("no charge record to kill: {why}"))
        };
        let Some(phone) = phone else {
            self.control.wait_gone(VICTIM).await;
            return missed(self, "nothing to dispatch");
        };
        let slot = self
            .twilio
            .campaign_of(&phone)
            .ok_or_else(|| format!("a message to {phone} of no campaign"))?;
        let campaign = self.campaigns[&slot].clone();
        let wallet = self.orgs[campaign.org].wallet;
        self.control
            .lock_second(&format!(
                "SELECT 1 FROM wallets WHERE id = '{wallet}' FOR UPDATE"
            ))
            .await;
        let _ = release_tx.send(());
        let waiter = self
            .control
            .lock_waiter(&[crate::faults::DISPATCH_WRITER, VICTIM], &task)
            .await;
        if waiter.as_deref() != Some(crate::faults::DISPATCH_WRITER) {
            // No charge to book (nothing went out), or the next campaign's claim wants the
            // wallet: let it go.
            self.control.unlock_second().await;
            let _ = faults::join(task).await;
            self.control.wait_gone(VICTIM).await;
            return missed(self, "the batch booked nothing");
        }
        self.control
            .lock(&format!(
                "SELECT 1 FROM campaigns WHERE id = '{}' FOR UPDATE",
                campaign.id
            ))
            .await;
        self.control.unlock_second().await;
        let killed = self.control.kill_lock_waiter(VICTIM, &task).await;
        self.control.unlock().await;
        let result = faults::join(task).await;
        self.control.wait_gone(VICTIM).await;
        let hit = if killed { "injected" } else { "missed" };
        self.stats.bump(format!(
            "fault.kill_while_locked.dispatcher_charge_record.{hit}"
        ));
        Ok(format!(
            "the record of campaign {slot}'s batch charge killed: {killed}, {:?}",
            result.map(|_| ())
        ))
    }

    /// After a dispatcher pass no fault touched: no abandoned claim is left unrecovered and no
    /// charge left due past its grace is left unbooked.
    async fn after_clean_dispatch(&self) -> Result<(), String> {
        let now = sql::at(self.now());
        let mut conn = self.conn().await;
        let abandoned = sql::number(
            &mut conn,
            &format!(
                "SELECT count(*)::bigint AS n FROM campaign_recipients \
                 WHERE status = 'sending' AND claimed_until <= {now}"
            ),
        )
        .await;
        let due = sql::number(
            &mut conn,
            &format!(
                "SELECT count(*)::bigint AS n FROM campaign_batches \
                 WHERE charge_state = 'due' AND charge_retry_at <= {now}"
            ),
        )
        .await;
        if abandoned > 0 || due > 0 {
            return Err(format!(
                "after a dispatcher pass, {abandoned} abandoned recipients were not recovered \
                 and {due} charges past their grace were not booked"
            ));
        }
        Ok(())
    }

    pub async fn outbox(
        &mut self,
        topic: Topic,
        answers: &[External],
        fault: Option<OutboxFault>,
    ) -> Result<String, String> {
        let external = matches!(topic, Topic::Notifications | Topic::Subaccounts);
        let hang = match fault {
            Some(OutboxFault::Abandon { applied }) if external => Some(applied),
            _ => None,
        };
        match topic {
            Topic::Notifications => self.mail.notifier.arm(answers, hang),
            Topic::Subaccounts => self.twilio.arm_subaccounts(answers, hang),
            Topic::MessagingControl | Topic::CampaignsControl => {}
        }
        let pool = if fault.is_some() && hang.is_none() {
            self.victim_pool()
        } else {
            self.pool.clone()
        };
        let outbox = self.outbox.clone();
        let operation: BoxFuture<'static, Result<DeliveryReport, outbox::OutboxError>> = match topic
        {
            Topic::Notifications => {
                let handler = NotificationHandler::new(pool.clone(), self.mail.notifier.clone());
                deliver(pool, outbox, handler)
            }
            Topic::MessagingControl => deliver(pool.clone(), outbox, ControlHandler::new(pool)),
            Topic::CampaignsControl => {
                let handler =
                    CampaignControlHandler::new(pool.clone(), self.services.campaigns.clone());
                deliver(pool, outbox, handler)
            }
            Topic::Subaccounts => {
                let handler = SubaccountHandler::new(
                    pool.clone(),
                    self.twilio.clone(),
                    self.services.clock.clone(),
                );
                deliver(pool, outbox, handler)
            }
        };
        let name = topic_name(topic);
        match fault {
            None => {
                let began = std::time::Instant::now();
                let report = operation
                    .await
                    .map_err(|e| format!("outbox {name} delivery failed: {e}"))?;
                self.stats.add(
                    format!("time_ms.outbox_pass.{name}"),
                    began.elapsed().as_millis() as u64,
                );
                self.count_delivery(name, &report);
                if report.claimed < OUTBOX_BATCH {
                    self.after_clean_outbox(name).await?;
                }
                Ok(format!("{name}: {report:?}"))
            }
            Some(OutboxFault::Abandon { .. }) if hang.is_some() => {
                let task = tokio::spawn(operation);
                let finished = match topic {
                    Topic::Notifications => {
                        let mail = self.mail.notifier.clone();
                        faults::abandon_when(task, async move { mail.hanging().await }).await
                    }
                    _ => {
                        let twilio = self.twilio.clone();
                        faults::abandon_when(task, async move { twilio.hanging().await }).await
                    }
                };
                let hit = if finished.is_none() {
                    "injected"
                } else {
                    "missed"
                };
                self.stats
                    .bump(format!("fault.worker_stopped_mid_batch.outbox.{hit}"));
                if let Some(Ok(report)) = &finished {
                    self.count_delivery(name, report);
                }
                Ok(format!(
                    "{name}: worker stopped mid-batch: {}",
                    finished.is_none()
                ))
            }
            Some(OutboxFault::Abandon { .. } | OutboxFault::Kill(_)) => {
                let after = match fault {
                    Some(OutboxFault::Kill(Kill::Random { after })) => after,
                    _ => 0,
                };
                let faulted = self.control.kill_randomly(VICTIM, after, operation).await;
                self.control.wait_gone(VICTIM).await;
                let hit = if faulted.killed { "injected" } else { "missed" };
                self.stats.bump(format!("fault.kill_random.outbox.{hit}"));
                if let Ok(report) = &faulted.result {
                    self.count_delivery(name, report);
                }
                Ok(format!("{name}: killed {}", faulted.killed))
            }
        }
    }

    fn count_delivery(&mut self, name: &str, report: &DeliveryReport) {
        self.stats
            .add(format!("outbox.{name}.delivered"), report.delivered as u64);
        self.stats
            .add(format!("outbox.{name}.retried"), report.retried as u64);
        self.stats
            .add(format!("outbox.{name}.dead"), report.dead as u64);
    }

    /// After a pass of `topic` that claimed less than its batch: nothing of it is due.
    async fn after_clean_outbox(&self, topic: &str) -> Result<(), String> {
        let now = sql::at(self.now());
        let mut conn = self.conn().await;
        let due = sql::number(
            &mut conn,
            &format!(
                "SELECT count(*)::bigint AS n FROM outbox_messages WHERE topic = '{topic}' \
                 AND status = 'pending' AND next_attempt_at <= {now}"
            ),
        )
        .await;
        if due > 0 {
            return Err(format!(
                "after a pass of {topic}, {due} messages are due and unclaimed"
            ));
        }
        Ok(())
    }

    /// Dunning passes, as the worker's loop makes them, until nothing due is left untaken (a
    /// jump of the clock may make several steps of one episode due at once: each pass takes a
    /// subscription's next one). More than [`DUNNING_PASSES`] passes for that is a stuck
    /// schedule.
    pub async fn dunning(
        &mut self,
        answer: RetryAnswer,
        fault: Option<Kill>,
    ) -> Result<String, String> {
        self.retrier.answer_with(answer);
        let runner = DunningRunner::new(self.services.enforcer.clone(), self.retrier.clone());
        if let Some(kill) = fault {
            let after = match kill {
                Kill::Random { after } => after,
                Kill::WhileLocked => 0,
            };
            let pool = self.victim_pool();
            let faulted = self
                .control
                .kill_randomly(VICTIM, after, async move { runner.run_once(&pool).await })
                .await;
            self.control.wait_gone(VICTIM).await;
            let hit = if faulted.killed { "injected" } else { "missed" };
            self.stats.bump(format!("fault.kill_random.dunning.{hit}"));
            return Ok(format!("dunning killed: {}", faulted.killed));
        }
        let mut notes = Vec::new();
        for _ in 0..DUNNING_PASSES {
            let report = runner
                .run_once(&self.pool)
                .await
                .map_err(|e| format!("dunning failed: {e}"))?;
            self.stats.bump("dunning.passes");
            self.stats
                .add("dunning.steps_applied", report.events_applied as u64);
            self.stats
                .add("dunning.retries_paid", report.retries_paid as u64);
            self.stats
                .add("dunning.retries_declined", report.retries_declined as u64);
            self.stats
                .add("dunning.retries_pending", report.retries_pending as u64);
            self.stats
                .add("dunning.retries_errored", report.retries_errored as u64);
            notes.push(format!("{report:?}"));
            if self.untaken_dunning().await.is_empty() {
                return Ok(notes.join("; "));
            }
        }
        Err(format!(
            "after {DUNNING_PASSES} dunning passes, due steps are still untaken: {:?}",
            self.untaken_dunning().await
        ))
    }

    /// Subscriptions with a step due that no runner holds.
    async fn untaken_dunning(&self) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            row: String,
        }
        let now = sql::at(self.now());
        let mut conn = self.conn().await;
        let rows: Vec<Row> = diesel_async::RunQueryDsl::load(
            diesel::sql_query(format!(
                "SELECT concat_ws(' ', organization_id, status, next_action_at, \
                   action_leased_until, dunning_started_at, dunning_retries_failed) AS row \
                 FROM subscriptions WHERE next_action_at <= {now} \
                   AND (action_leased_until IS NULL OR action_leased_until <= {now})"
            )),
            &mut conn,
        )
        .await
        .unwrap_or_else(|e| panic!("sim: subscriptions: {e}"));
        rows.into_iter().map(|row| row.row).collect()
    }

    pub async fn inbox(&mut self, fault: Option<Kill>) -> Result<String, String> {
        let intake = self.services.intake.clone();
        match fault {
            None => {
                // A pass can make deliveries due itself: a credit it applies wakes the refunds
                // of that payment that waited for it (`wake_payment`), and the next pass takes
                // them. So a few passes may be needed; a delivery left due after them was
                // skipped.
                let mut notes = Vec::new();
                for _ in 0..INBOX_PASSES {
                    let report = intake
                        .run_due(&self.pool, INBOX_BATCH)
                        .await
                        .map_err(|e| format!("inbox pass failed: {e}"))?;
                    self.stats.add("inbox.applied", report.applied as u64);
                    self.stats.add("inbox.failed", report.failed as u64);
                    self.stats.add("inbox.unmatched", report.unmatched as u64);
                    notes.push(format!("{report:?}"));
                    if report.claimed == INBOX_BATCH as usize {
                        // A full batch: more may be due, for the next step's pass.
                        return Ok(notes.join("; "));
                    }
                    if self.untaken_inbox().await.is_empty() {
                        return Ok(notes.join("; "));
                    }
                    self.stats.bump("inbox.woken_during_a_pass");
                }
                Err(format!(
                    "after {INBOX_PASSES} inbox passes ({}), deliveries are due and \
                     unclaimed: {:?}",
                    notes.join("; "),
                    self.untaken_inbox().await
                ))
            }
            Some(kill) => {
                let after = match kill {
                    Kill::Random { after } => after,
                    Kill::WhileLocked => 0,
                };
                let pool = self.victim_pool();
                let faulted = self
                    .control
                    .kill_randomly(VICTIM, after, async move {
                        intake.run_due(&pool, INBOX_BATCH).await
                    })
                    .await;
                self.control.wait_gone(VICTIM).await;
                let hit = if faulted.killed { "injected" } else { "missed" };
                self.stats.bump(format!("fault.kill_random.inbox.{hit}"));
                Ok(format!("inbox killed: {}", faulted.killed))
            }
        }
    }

    /// Inbox deliveries due that no attempt holds.
    async fn untaken_inbox(&self) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            row: String,
        }
        let now = sql::at(self.now());
        let mut conn = self.conn().await;
        let rows: Vec<Row> = diesel_async::RunQueryDsl::load(
            diesel::sql_query(format!(
                "SELECT concat_ws(' | ', delivery_id, event_type, status, attempts, \
                   received_at, next_attempt_at, leased_until, last_error) AS row \
                 FROM webhook_inbox WHERE next_attempt_at <= {now} \
                   AND (leased_until IS NULL OR leased_until <= {now})"
            )),
            &mut conn,
        )
        .await
        .unwrap_or_else(|e| panic!("sim: inbox: {e}"));
        rows.into_iter().map(|row| row.row).collect()
    }

    pub async fn sweep_holds(&mut self) -> String {
        jobs::sweeper::sweep(&self.pool, &self.services.ledger).await;
        "holds swept".into()
    }

    pub async fn resume_sweep(&mut self) -> String {
        jobs::plan::resume_sweep(&self.pool, &self.services.campaigns).await;
        "resume sweep".into()
    }

    pub async fn lookup(&mut self, failing: bool) -> Result<String, String> {
        self.twilio.set_lookup_failing(failing);
        let lookup = Lookup::new(
            self.pool.clone(),
            self.services.campaigns.clone(),
            self.twilio.clone(),
            LookupConfig::default(),
        );
        let report = lookup
            .run_once()
            .await
            .map_err(|e| format!("lookup failed: {e}"))?;
        self.twilio.set_lookup_failing(false);
        self.stats.add("lookup.sent", report.sent as u64);
        self.stats.add("lookup.not_sent", report.not_sent as u64);
        self.stats.add("lookup.errors", report.errors as u64);
        Ok(format!("{report:?}"))
    }

    /// The outside world healthy, the outbox drained (the clock moved over its backoffs, up to
    /// a horizon), the resume sweep run.
    pub async fn quiesce(&mut self) -> Result<String, String> {
        self.twilio.heal();
        self.mail.notifier.heal();
        let started = self.now();
        let mut rounds = 0;
        loop {
            rounds += 1;
            for topic in Topic::ALL {
                self.outbox(topic, &[], None).await?;
            }
            self.resume_sweep().await;
            let mut conn = self.conn().await;
            let next = sql::time(
                &mut conn,
                "SELECT min(next_attempt_at) AS at FROM outbox_messages WHERE status = 'pending'",
            )
            .await;
            drop(conn);
            let Some(next) = next else { break };
            let now = self.now();
            if next > started + Duration::hours(QUIESCE_HORIZON_HOURS) || rounds > 60 {
                break;
            }
            if next > now {
                // To the whole second after it: the clock stays on whole seconds (see
                // `world::redelivery`).
                let wait = (next - now).num_milliseconds();
                self.advance(Duration::seconds(wait / 1000 + 1));
            }
        }
        self.stats.bump("quiesce.runs");
        self.stats.add("quiesce.rounds", rounds);
        Ok(format!(
            "quiesced in {rounds} rounds, clock moved {}s",
            (self.now() - started).num_seconds()
        ))
    }
}

/// One outbox pass of `handler`'s topic over `pool`: what the worker's loop does with one
/// `deliver_batch` of up to [`OUTBOX_BATCH`] messages, here one message per claim so the
/// external answers of the plan's script meet the messages in the same order on every run (the
/// worker's batch delivers its messages concurrently, in whatever order their database reads
/// finish).
fn deliver<H: Handler + 'static>(
    pool: DbPool,
    outbox: outbox::Outbox,
    handler: H,
) -> BoxFuture<'static, Result<DeliveryReport, outbox::OutboxError>> {
    Box::pin(async move {
        let mut total = DeliveryReport::default();
        for _ in 0..OUTBOX_BATCH {
            let report = outbox::deliver_batch(&pool, &outbox, &handler, 1).await?;
            total.claimed += report.claimed;
            total.delivered += report.delivered;
            total.retried += report.retried;
            total.dead += report.dead;
            total.lost_claims += report.lost_claims;
            total.unsettled += report.unsettled;
            if report.claimed == 0 {
                break;
            }
        }
        Ok(total)
    })
}
