//! The plan: the steps one seed stands for.
//!
//! Generated from the seed alone, never from what the world answered, so the same seed always
//! yields the same sequence of steps (`plan_is_a_function_of_the_seed` checks it). Steps name
//! things by the plan's own numbers (organization index, campaign slot, hold slot, operation,
//! provider event, top-up payment); the world maps them to what it created, and a step about
//! something the world does not have (a capture of a hold whose placement was refused) is
//! skipped there and counted.
//!
//! Follow-ups the plan owes itself are scheduled ahead: the retry of a money operation a fault
//! interrupted, the deliveries of a provider event (first copy, duplicates, late copies), the
//! redelivery of a delivery a fault interrupted, the end of a dispute.

use std::collections::{BTreeMap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Organizations in the world.
pub const ORGS: usize = 3;
/// Every this many steps the world settles (external systems healthy, the outbox drained) and
/// the liveness checks run.
pub const QUIESCE_EVERY: u64 = 400;

/// One step of the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A money movement of the wallet API: single path (on a connection) or the batching writer.
    Money(MoneyStep),
    /// The same request again, same reference and parameters, after a fault left its outcome
    /// unknown.
    Retry {
        op: u32,
    },
    /// An operator freezes or lifts a freeze of the wallet.
    Freeze {
        org: usize,
        source: FreezeKind,
        on: bool,
    },
    CreateCampaign {
        slot: u32,
        org: usize,
        recipients: u8,
        /// Minor units per segment.
        price: i64,
        two_segments: bool,
    },
    StartCampaign {
        slot: u32,
    },
    PauseCampaign {
        slot: u32,
    },
    ResumeCampaign {
        slot: u32,
    },
    CancelCampaign {
        slot: u32,
    },
    /// Something happens at Stripe: the event's body is built (stamped now) and kept for its
    /// deliveries.
    ProviderEvent {
        event: u32,
        org: usize,
        kind: EventKind,
    },
    /// One delivery of an event, signed at send time as Stripe signs each attempt.
    Deliver {
        event: u32,
        fault: Option<Kill>,
    },
    /// One pass of the campaign dispatcher.
    Dispatch {
        answers: Vec<TwilioAnswer>,
        fault: Option<DispatchFault>,
    },
    /// One batch of an outbox topic.
    Outbox {
        topic: Topic,
        answers: Vec<External>,
        fault: Option<OutboxFault>,
    },
    /// One dunning pass; retries answered `answer` by the provider.
    Dunning {
        answer: RetryAnswer,
        fault: Option<Kill>,
    },
    /// One pass of the inbox job (deliveries not applied yet, failed ones, unmatched ones).
    Inbox {
        fault: Option<Kill>,
    },
    SweepHolds,
    ResumeSweep,
    /// One pass of the lookup of unconfirmed recipients in Twilio's message list.
    Lookup {
        failing: bool,
    },
    Advance {
        seconds: i64,
    },
    /// External systems healthy, the outbox drained (moving the clock over its backoffs), the
    /// resume sweep run; then the liveness checks.
    Quiesce,
}

impl Step {
    /// A short name, for the figures.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Money(money) => match (&money.kind, money.path) {
                (MoneyKind::Debit { .. }, _) => "money.debit",
                (MoneyKind::Credit { .. }, _) => "money.credit",
                (MoneyKind::Correction { .. }, _) => "money.correction",
                (MoneyKind::Hold { .. }, _) => "money.hold",
                (MoneyKind::Capture { .. }, _) => "money.capture",
                (MoneyKind::Release { .. }, _) => "money.release",
            },
            Self::Retry { .. } => "money.retry",
            Self::Freeze { .. } => "freeze",
            Self::CreateCampaign { .. } => "campaign.create",
            Self::StartCampaign { .. } => "campaign.start",
            Self::PauseCampaign { .. } => "campaign.pause",
            Self::ResumeCampaign { .. } => "campaign.resume",
            Self::CancelCampaign { .. } => "campaign.cancel",
            Self::ProviderEvent { .. } => "provider.event",
            Self::Deliver { .. } => "provider.delivery",
            Self::Dispatch { .. } => "job.dispatch",
            Self::Outbox { .. } => "job.outbox",
            Self::Dunning { .. } => "job.dunning",
            Self::Inbox { .. } => "job.inbox",
            Self::SweepHolds => "job.hold_expiry",
            Self::ResumeSweep => "job.resume_sweep",
            Self::Lookup { .. } => "job.twilio_lookup",
            Self::Advance { .. } => "clock.advance",
            Self::Quiesce => "quiesce",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyStep {
    pub op: u32,
    pub org: usize,
    pub kind: MoneyKind,
    pub path: Path,
    pub fault: Option<Kill>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyKind {
    Debit {
        amount: i64,
    },
    Credit {
        amount: i64,
    },
    /// Signed.
    Correction {
        amount: i64,
    },
    Hold {
        slot: u32,
        amount: i64,
        ttl_seconds: i64,
    },
    Capture {
        slot: u32,
        amount: i64,
    },
    Release {
        slot: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// `Ledger`'s methods on a connection of the caller's.
    Single,
    /// The batching writer (`LedgerWriter`), as the api's wallet routes use it.
    Writer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeKind {
    Admin,
    /// Only lifted by the plan (the intake sets it for disputes and shortfalls).
    Risk,
}

/// How a database connection is killed in the middle of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The sim holds the row the operation must lock first (the wallet, the subscription); the
    /// operation's session is terminated while it waits for it: nothing of it can have been
    /// written.
    WhileLocked,
    /// The operation's sessions are terminated as soon as they have been seen busy `after + 1`
    /// times: anywhere in the operation, commit included, so its outcome is unknown.
    Random { after: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    PaymentFailed,
    PaymentSucceeded,
    TopUp {
        payment: u32,
        amount: i64,
    },
    Refund {
        payment: u32,
        amount: i64,
    },
    DisputeOpened {
        payment: u32,
        amount: i64,
    },
    DisputeClosed {
        payment: u32,
        amount: i64,
        won: bool,
    },
}

/// What the fake Twilio answers one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioAnswer {
    Accepted,
    /// 400, code 21211: refused, never sent.
    Refused,
    /// 500; `reached`: Twilio had in fact taken the message.
    ServerError {
        reached: bool,
    },
    /// No answer within the client's timeout; `reached` as above.
    Timeout {
        reached: bool,
    },
    /// 429: nothing processed.
    RateLimited,
    /// The connection itself failed: nothing processed.
    ConnectFailed,
}

impl TwilioAnswer {
    /// Whether Twilio may have the message after this answer, as the dispatcher must assume.
    pub fn may_reach(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::ServerError { .. } | Self::Timeout { .. }
        )
    }

    /// Whether Twilio really has it (the fake's ground truth).
    pub fn reached(self) -> bool {
        match self {
            Self::Accepted => true,
            Self::ServerError { reached } | Self::Timeout { reached } => reached,
            Self::Refused | Self::RateLimited | Self::ConnectFailed => false,
        }
    }
}

/// What an external system (SMTP for notifications, Twilio for subaccount calls) answers one
/// outbox delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum External {
    Ok,
    /// SMTP 451, Twilio 503: retried. `applied`: the remote side acted anyway (Twilio only).
    Transient {
        applied: bool,
    },
    /// SMTP 554: dead at once, a person alerted.
    Permanent,
    /// No answer within the client's timeout.
    Timeout {
        applied: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Notifications,
    MessagingControl,
    CampaignsControl,
    Subaccounts,
}

impl Topic {
    pub const ALL: [Self; 4] = [
        Self::Notifications,
        Self::MessagingControl,
        Self::CampaignsControl,
        Self::Subaccounts,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchFault {
    /// The batch's settlement is killed while it waits for the campaign's row lock (which the
    /// sim took during the sends): a worker killed mid-batch, after Twilio got its messages.
    KillSettle,
    /// The dispatcher's future is dropped during its `after + 1`th send (which hangs): a worker
    /// stopped mid-batch. `reached`: Twilio had the hanging message.
    Abandon { after: u8, reached: bool },
    /// The charge booking's ledger writer cannot reach the database: the charge stays due.
    WriterDown,
    /// The dispatcher's sessions killed at a random point.
    Random { after: u8 },
    /// The worker is killed after its batch's charge was booked in the ledger and before it
    /// recorded the booking on the batch (while the record waits for the campaign's row lock
    /// the sim holds): recovery must find the booking, never take the money twice.
    KillRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFault {
    /// The delivery's future is dropped while its external call hangs (`applied`: the remote
    /// side acted before the worker died).
    Abandon {
        applied: bool,
    },
    Kill(Kill),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAnswer {
    Paid,
    Declined,
    Pending,
    Error,
}

/// The seeded generator.
pub struct Plan {
    rng: ChaCha8Rng,
    index: u64,
    scheduled: BTreeMap<u64, VecDeque<Step>>,
    next_op: u32,
    next_campaign: u32,
    next_hold: u32,
    next_event: u32,
    next_payment: u32,
    /// Campaign slots created, oldest first.
    campaigns: Vec<u32>,
    /// Campaign slots the plan has asked to start, oldest first.
    started: Vec<u32>,
    holds: Vec<(u32, usize)>,
    /// (payment, org, amount) of top-ups.
    payments: Vec<(u32, usize, i64)>,
}

impl Plan {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            index: 0,
            scheduled: BTreeMap::new(),
            next_op: 0,
            next_campaign: 0,
            next_hold: 0,
            next_event: 0,
            next_payment: 0,
            campaigns: Vec::new(),
            started: Vec::new(),
            holds: Vec::new(),
            payments: Vec::new(),
        }
    }

    /// The next step: a follow-up that is due, else a fresh one.
    pub fn next_step(&mut self) -> Step {
        let index = self.index;
        self.index += 1;
        if index > 0 && index.is_multiple_of(QUIESCE_EVERY) {
            return Step::Quiesce;
        }
        if let Some(mut entry) = self.scheduled.first_entry()
            && *entry.key() <= index
        {
            let step = entry.get_mut().pop_front();
            if entry.get().is_empty() {
                entry.remove();
            }
            if let Some(step) = step {
                return step;
            }
        }
        self.fresh()
    }

    fn schedule(&mut self, after: u64, step: Step) {
        self.scheduled
            .entry(self.index + after)
            .or_default()
            .push_back(step);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        self.rng.random_range(low..=high)
    }

    fn org(&mut self) -> usize {
        self.rng.random_range(0..ORGS)
    }

    /// One of the most recent `window` items (recent ones are the live ones).
    fn recent<T: Copy>(&mut self, items: &[T], window: usize) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        let start = items.len().saturating_sub(window);
        let index = self.rng.random_range(start..items.len());
        Some(items[index])
    }

    fn kill(&mut self) -> Kill {
        if self.chance(0.5) {
            Kill::WhileLocked
        } else {
            Kill::Random {
                after: self.rng.random_range(0..3),
            }
        }
    }

    fn fresh(&mut self) -> Step {
        let roll = self.rng.random_range(0..1000);
        match roll {
            0..205 => self.money(),
            205..235 => self.freeze(),
            235..275 => self.create_campaign(),
            275..315 => self.start_campaign(),
            315..330 => self.started_step(|slot| Step::PauseCampaign { slot }),
            330..355 => self.started_step(|slot| Step::ResumeCampaign { slot }),
            355..360 => self.started_step(|slot| Step::CancelCampaign { slot }),
            360..440 => self.provider_event(),
            440..560 => self.dispatch(),
            560..680 => self.outbox(),
            680..730 => self.dunning(),
            730..760 => Step::Inbox {
                fault: self.chance(0.1).then(|| Kill::Random {
                    after: self.rng.random_range(0..3),
                }),
            },
            760..780 => Step::SweepHolds,
            780..800 => Step::ResumeSweep,
            800..820 => Step::Lookup {
                failing: self.chance(0.1),
            },
            _ => self.advance(),
        }
    }

    fn money(&mut self) -> Step {
        let op = self.next_op;
        self.next_op += 1;
        let org = self.org();
        let roll = self.rng.random_range(0..100);
        let kind = match roll {
            0..30 => MoneyKind::Debit {
                amount: self.between(1, 500),
            },
            30..50 => MoneyKind::Credit {
                amount: self.between(100, 5_000),
            },
            50..58 => {
                let magnitude = self.between(1, 300);
                MoneyKind::Correction {
                    amount: if self.chance(0.5) {
                        magnitude
                    } else {
                        -magnitude
                    },
                }
            }
            58..75 => {
                let slot = self.next_hold;
                self.next_hold += 1;
                self.holds.push((slot, org));
                MoneyKind::Hold {
                    slot,
                    amount: self.between(100, 2_000),
                    ttl_seconds: self.between(3_600, 3 * 86_400),
                }
            }
            75..90 => match self.recent(&self.holds.clone(), 6) {
                Some((slot, _)) => MoneyKind::Capture {
                    slot,
                    amount: self.between(1, 1_000),
                },
                None => MoneyKind::Debit {
                    amount: self.between(1, 500),
                },
            },
            _ => match self.recent(&self.holds.clone(), 6) {
                Some((slot, _)) => MoneyKind::Release { slot },
                None => MoneyKind::Credit {
                    amount: self.between(100, 5_000),
                },
            },
        };
        // A capture or release acts on its hold's wallet.
        let org = match kind {
            MoneyKind::Capture { slot, .. } | MoneyKind::Release { slot } => self
                .holds
                .iter()
                .find(|(hold, _)| *hold == slot)
                .map_or(org, |(_, org)| *org),
            _ => org,
        };
        let path = if self.chance(0.5) {
            Path::Single
        } else {
            Path::Writer
        };
        let fault = self.chance(0.05).then(|| self.kill());
        if fault.is_some() {
            let after = self.rng.random_range(1..40);
            self.schedule(after, Step::Retry { op });
        }
        Step::Money(MoneyStep {
            op,
            org,
            kind,
            path,
            fault,
        })
    }

    fn freeze(&mut self) -> Step {
        let org = self.org();
        // An operator lifts risk freezes (disputes, shortfalls) after review, and freezes a
        // wallet now and then, lifting it later.
        if self.chance(0.7) {
            return Step::Freeze {
                org,
                source: FreezeKind::Risk,
                on: false,
            };
        }
        Step::Freeze {
            org,
            source: FreezeKind::Admin,
            on: self.chance(0.15),
        }
    }

    fn create_campaign(&mut self) -> Step {
        let slot = self.next_campaign;
        self.next_campaign += 1;
        let org = self.org();
        self.campaigns.push(slot);
        Step::CreateCampaign {
            slot,
            org,
            recipients: self.rng.random_range(2..=20),
            price: self.between(1, 4),
            two_segments: self.chance(0.2),
        }
    }

    /// A start of a recent campaign (again, if a start was refused: it stays a draft).
    fn start_campaign(&mut self) -> Step {
        match self.recent(&self.campaigns.clone(), 6) {
            Some(slot) => {
                if !self.started.contains(&slot) {
                    self.started.push(slot);
                }
                Step::StartCampaign { slot }
            }
            None => self.create_campaign(),
        }
    }

    /// A step about a recent campaign the plan asked to start.
    fn started_step(&mut self, step: impl FnOnce(u32) -> Step) -> Step {
        match self.recent(&self.started.clone(), 8) {
            Some(slot) => step(slot),
            None => self.start_campaign(),
        }
    }

    fn provider_event(&mut self) -> Step {
        let event = self.next_event;
        self.next_event += 1;
        let org = self.org();
        // Organizations pay differently: the first reliably, the last rarely, so some dunning
        // episodes end in suspension and others are restored part-way.
        let success = [45, 30, 6][org];
        let roll = self.rng.random_range(0..100);
        let kind = if roll < 6 {
            EventKind::PaymentFailed
        } else if roll < 6 + success {
            EventKind::PaymentSucceeded
        } else if roll < 88 {
            let payment = self.next_payment;
            self.next_payment += 1;
            let amount = self.between(5, 50) * 100;
            self.payments.push((payment, org, amount));
            EventKind::TopUp { payment, amount }
        } else {
            match self.recent(&self.payments.clone(), 10) {
                Some((payment, payment_org, amount)) => {
                    if self.chance(0.6) {
                        let part = self.between(1, amount);
                        return self.with_deliveries(
                            event,
                            payment_org,
                            EventKind::Refund {
                                payment,
                                amount: part,
                            },
                        );
                    }
                    // The dispute ends later, won or lost, as its own event.
                    if self.chance(0.8) {
                        let closing = self.next_event;
                        self.next_event += 1;
                        let won = self.chance(0.6);
                        let after = self.rng.random_range(10..300);
                        self.schedule(
                            after,
                            Step::ProviderEvent {
                                event: closing,
                                org: payment_org,
                                kind: EventKind::DisputeClosed {
                                    payment,
                                    amount,
                                    won,
                                },
                            },
                        );
                        self.plan_deliveries(closing, after);
                    }
                    return self.with_deliveries(
                        event,
                        payment_org,
                        EventKind::DisputeOpened { payment, amount },
                    );
                }
                None => EventKind::PaymentSucceeded,
            }
        };
        self.with_deliveries(event, org, kind)
    }

    /// The event, with its deliveries scheduled.
    fn with_deliveries(&mut self, event: u32, org: usize, kind: EventKind) -> Step {
        self.plan_deliveries(event, 0);
        Step::ProviderEvent { event, org, kind }
    }

    /// Deliveries of an event emitted `base` steps from now: usually the step after, sometimes
    /// much later; sometimes again (Stripe repeats itself), so copies arrive out of order with
    /// other events'.
    fn plan_deliveries(&mut self, event: u32, base: u64) {
        let first = if self.chance(0.85) {
            1
        } else {
            self.rng.random_range(20..400)
        };
        self.deliver_later(event, base + first);
        if self.chance(0.3) {
            let again = self.rng.random_range(1..300);
            self.deliver_later(event, base + again);
            if self.chance(0.3) {
                let again = self.rng.random_range(1..600);
                self.deliver_later(event, base + again);
            }
        }
    }

    fn deliver_later(&mut self, event: u32, after: u64) {
        let fault = self.chance(0.06).then(|| self.kill());
        if fault.is_some() {
            // Our answer may have been a 503: the provider sends it again.
            let again = self.rng.random_range(5..60);
            self.schedule(after + again, Step::Deliver { event, fault: None });
        }
        self.schedule(after, Step::Deliver { event, fault });
    }

    fn dispatch(&mut self) -> Step {
        let answers = (0..24).map(|_| self.twilio_answer()).collect();
        let fault = if self.chance(0.15) {
            let roll = self.rng.random_range(0..12);
            Some(match roll {
                0..3 => DispatchFault::KillSettle,
                3..6 => DispatchFault::Abandon {
                    after: self.rng.random_range(0..4),
                    reached: self.chance(0.5),
                },
                6..8 => DispatchFault::WriterDown,
                8..10 => DispatchFault::KillRecord,
                _ => DispatchFault::Random {
                    after: self.rng.random_range(0..4),
                },
            })
        } else {
            None
        };
        Step::Dispatch { answers, fault }
    }

    fn twilio_answer(&mut self) -> TwilioAnswer {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..88 => TwilioAnswer::Accepted,
            88..92 => TwilioAnswer::Refused,
            92..94 => TwilioAnswer::ServerError {
                reached: self.chance(0.5),
            },
            94..96 => TwilioAnswer::Timeout {
                reached: self.chance(0.5),
            },
            96..98 => TwilioAnswer::RateLimited,
            _ => TwilioAnswer::ConnectFailed,
        }
    }

    fn outbox(&mut self) -> Step {
        let topic = Topic::ALL[self.rng.random_range(0..Topic::ALL.len())];
        let answers = (0..8).map(|_| self.external(topic)).collect();
        let fault = if self.chance(0.06) {
            Some(if self.chance(0.5) {
                OutboxFault::Abandon {
                    applied: self.chance(0.5),
                }
            } else {
                OutboxFault::Kill(Kill::Random {
                    after: self.rng.random_range(0..3),
                })
            })
        } else {
            None
        };
        Step::Outbox {
            topic,
            answers,
            fault,
        }
    }

    fn external(&mut self, topic: Topic) -> External {
        let roll = self.rng.random_range(0..100);
        let applied = self.chance(0.5);
        // Twilio's subaccount calls are never refused for good in this world; SMTP may be.
        let permanent = topic == Topic::Notifications;
        match roll {
            0..86 => External::Ok,
            86..94 => External::Transient { applied },
            94..97 if permanent => External::Permanent,
            94..97 => External::Transient { applied },
            _ => External::Timeout { applied },
        }
    }

    fn dunning(&mut self) -> Step {
        let roll = self.rng.random_range(0..100);
        let answer = match roll {
            0..15 => RetryAnswer::Paid,
            15..75 => RetryAnswer::Declined,
            75..85 => RetryAnswer::Pending,
            _ => RetryAnswer::Error,
        };
        let fault = self.chance(0.05).then(|| Kill::Random {
            after: self.rng.random_range(0..3),
        });
        Step::Dunning { answer, fault }
    }

    fn advance(&mut self) -> Step {
        let roll = self.rng.random_range(0..100);
        let seconds = match roll {
            0..70 => self.between(1, 120),
            70..90 => self.between(120, 3_600),
            90..98 => self.between(2 * 3_600, 12 * 3_600),
            _ => self.between(86_400, 3 * 86_400),
        };
        Step::Advance { seconds }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_a_function_of_the_seed() {
        let steps = |seed| {
            let mut plan = Plan::new(seed);
            (0..3_000).map(|_| plan.next_step()).collect::<Vec<_>>()
        };
        assert_eq!(steps(7), steps(7));
        assert_ne!(steps(7), steps(8));
    }

    #[test]
    fn every_kind_of_step_and_fault_is_planned() {
        let mut plan = Plan::new(1);
        let steps: Vec<Step> = (0..10_000).map(|_| plan.next_step()).collect();
        let kinds: std::collections::BTreeSet<&str> = steps.iter().map(Step::kind).collect();
        for kind in [
            "money.debit",
            "money.credit",
            "money.correction",
            "money.hold",
            "money.capture",
            "money.release",
            "money.retry",
            "freeze",
            "campaign.create",
            "campaign.start",
            "campaign.pause",
            "campaign.resume",
            "campaign.cancel",
            "provider.event",
            "provider.delivery",
            "job.dispatch",
            "job.outbox",
            "job.dunning",
            "job.inbox",
            "job.hold_expiry",
            "job.resume_sweep",
            "job.twilio_lookup",
            "clock.advance",
            "quiesce",
        ] {
            assert!(kinds.contains(kind), "{kind} never planned");
        }
        let dispatch_faults = steps
            .iter()
            .filter_map(|step| match step {
                Step::Dispatch { fault: Some(f), .. } => Some(std::mem::discriminant(f)),
                _ => None,
            })
            .collect::<std::collections::HashSet<_>>();
        assert_eq!(dispatch_faults.len(), 5);
    }
}
