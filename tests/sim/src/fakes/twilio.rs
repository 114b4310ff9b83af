//! Twilio, as the dispatcher, the subaccount handler and the lookup job see it through the
//! `twilio` crate's traits: messages (`MessageSender`), subaccount status
//! (`SubaccountControl`) and the message list (`MessageLog`).
//!
//! The fake answers from the plan's script and keeps the ground truth a real Twilio would
//! have: which messages it really holds (a 500 or a timeout may or may not have reached it),
//! each subaccount's status. Sends are checked as they happen against what the sim knew
//! before the step (may the organization send? is the campaign running? is the subaccount
//! suspended? was this recipient already possibly sent?), so a violation is reported at the
//! step that made it.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use chrono::{DateTime, Utc};
use primitives::{Clock, ManualClock};
use tokio::sync::{Notify, oneshot};
use twilio::{
    AccountStatus, ListedMessage, MessageListing, MessageLog, MessageQuery, MessageSender,
    MessageStatus, SendMessage, Sender, SentMessage, SubaccountControl, SubaccountStatus,
    TwilioError,
};

use crate::plan::{External, TwilioAnswer};

/// A message Twilio really has.
#[derive(Debug, Clone)]
pub struct Held {
    pub sid: String,
    pub account: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub created: DateTime<Utc>,
}

/// The sim's view before a step: who may send, which campaigns run.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// By subaccount SID.
    pub accounts: HashMap<String, bool>,
    /// Campaign slots that are running.
    pub running: HashSet<u32>,
}

#[derive(Default)]
struct State {
    script: VecDeque<TwilioAnswer>,
    sends_this_step: usize,
    /// The send that hangs (the dispatcher's future is then dropped): its position in the step,
    /// and whether Twilio had the message.
    hang: Option<(usize, bool)>,
    /// The first send waits for the sim (which takes the campaign's row lock meanwhile).
    pause: Option<(oneshot::Sender<String>, oneshot::Receiver<()>)>,
    allowed: Allowed,
    phone_campaign: HashMap<String, u32>,
    /// Sends after which Twilio may have the message, per recipient number.
    maybe_reached: HashMap<String, u32>,
    held: Vec<Held>,
    accounts: HashMap<String, AccountStatus>,
    sub_script: VecDeque<External>,
    /// The next subaccount call hangs (`applied`: Twilio acted before the worker died).
    sub_hang: Option<bool>,
    lookup_failing: bool,
    violations: Vec<String>,
    counter: u64,
    stats: TwilioStats,
}

/// What the fake saw, for the figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct TwilioStats {
    pub sends: u64,
    pub accepted: u64,
    pub refused: u64,
    pub server_errors: u64,
    pub timeouts: u64,
    pub rate_limited: u64,
    pub connect_failed: u64,
    pub hung: u64,
    pub subaccount_calls: u64,
    pub subaccount_failures: u64,
    pub lookups: u64,
}

/// Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct FakeTwilio {
    state: Arc<Mutex<State>>,
    clock: ManualClock,
    /// Signalled when a send or subaccount call starts hanging.
    hanging: Arc<Notify>,
}

impl FakeTwilio {
    pub fn new(clock: ManualClock) -> Self {
        Self {
            state: Arc::default(),
            clock,
            hanging: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add_account(&self, sid: &str) {
        self.lock()
            .accounts
            .insert(sid.to_owned(), AccountStatus::Active);
    }

    pub fn add_phones(&self, campaign: u32, phones: &[String]) {
        let mut state = self.lock();
        for phone in phones {
            state.phone_campaign.insert(phone.clone(), campaign);
        }
    }

    /// The campaign slot a recipient number belongs to.
    pub fn campaign_of(&self, phone: &str) -> Option<u32> {
        self.lock().phone_campaign.get(phone).copied()
    }

    /// Before a dispatch: what Twilio answers, and what the sim knew before the step.
    pub fn arm_sends(&self, script: &[TwilioAnswer], allowed: Allowed) {
        let mut state = self.lock();
        state.script = script.iter().copied().collect();
        state.sends_this_step = 0;
        state.hang = None;
        state.pause = None;
        state.allowed = allowed;
    }

    /// The send after `after` others hangs for good.
    pub fn hang_send(&self, after: usize, reached: bool) {
        self.lock().hang = Some((after, reached));
    }

    /// The first send tells `reached` its number and waits for `release`.
    pub fn pause_first_send(
        &self,
        reached: oneshot::Sender<String>,
        release: oneshot::Receiver<()>,
    ) {
        self.lock().pause = Some((reached, release));
    }

    pub fn arm_subaccounts(&self, script: &[External], hang: Option<bool>) {
        let mut state = self.lock();
        state.sub_script = script.iter().copied().collect();
        state.sub_hang = hang;
    }

    pub fn set_lookup_failing(&self, failing: bool) {
        self.lock().lookup_failing = failing;
    }

    /// Healthy again: every answer a success, nothing hangs.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.script.clear();
        state.sub_script.clear();
        state.hang = None;
        state.sub_hang = None;
        state.pause = None;
        state.lookup_failing = false;
    }

    /// Resolves when a send or a subaccount call has started hanging.
    pub async fn hanging(&self) {
        self.hanging.notified().await;
    }

    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().violations)
    }

    /// Every message Twilio really has.
    pub fn held(&self) -> Vec<Held> {
        self.lock().held.clone()
    }

    /// A subaccount's status at Twilio.
    pub fn account_status(&self, sid: &str) -> Option<AccountStatus> {
        self.lock().accounts.get(sid).cloned()
    }

    pub fn stats(&self) -> TwilioStats {
        self.lock().stats
    }

    fn next_sid(state: &mut State) -> String {
        state.counter += 1;
        format!("SM{:032x}", state.counter)
    }
}

enum Answer {
    Now(Result<SentMessage, TwilioError>),
    Hang,
}

fn api(status: u16, code: Option<u32>) -> TwilioError {
    TwilioError::Api {
        status,
        code,
        message: "simulated".into(),
        more_info: None,
    }
}

fn transport(connect: bool) -> TwilioError {
    TwilioError::Transport {
        message: if connect {
            "connection refused (simulated)".into()
        } else {
            "operation timed out (simulated)".into()
        },
        connect,
    }
}

fn sender_text(sender: &Sender) -> String {
    match sender {
        Sender::From(number) => number.clone(),
        Sender::MessagingService(sid) => sid.clone(),
    }
}

#[async_trait::async_trait]
impl MessageSender for FakeTwilio {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        let pause = self.lock().pause.take();
        if let Some((reached, release)) = pause {
            let _ = reached.send(message.to.clone());
            let _ = release.await;
        }
        let now = self.clock.now();
        let answer = {
            let mut state = self.lock();
            let state = &mut *state;
            state.stats.sends += 1;
            let account = message.account_sid.clone().unwrap_or_default();
            let position = state.sends_this_step;
            state.sends_this_step += 1;
            let campaign = state.phone_campaign.get(&message.to).copied();
            if state.accounts.get(&account) == Some(&AccountStatus::Suspended) {
                state.violations.push(format!(
                    "a message to {} went out through subaccount {account}, suspended at Twilio",
                    message.to
                ));
            }
            if state.allowed.accounts.get(&account) != Some(&true) {
                state.violations.push(format!(
                    "a message to {} (campaign slot {campaign:?}) was sent while its \
                     organization (subaccount {account}) may not send",
                    message.to
                ));
            }
            if !campaign.is_some_and(|slot| state.allowed.running.contains(&slot)) {
                state.violations.push(format!(
                    "a message to {} was sent for campaign slot {campaign:?}, which was not \
                     running",
                    message.to
                ));
            }
            let (answer, reached, hang) = match state.hang {
                Some((after, reached)) if after == position => {
                    state.hang = None;
                    (None, reached, true)
                }
                _ => {
                    let answer = state.script.pop_front().unwrap_or(TwilioAnswer::Accepted);
                    (Some(answer), answer.reached(), false)
                }
            };
            if hang || answer.is_some_and(TwilioAnswer::may_reach) {
                let count = state.maybe_reached.entry(message.to.clone()).or_default();
                *count += 1;
                if *count > 1 {
                    state.violations.push(format!(
                        "recipient {} (campaign slot {campaign:?}) was sent a second time after \
                         a send Twilio may have taken",
                        message.to
                    ));
                }
            }
            let sid = Self::next_sid(state);
            if reached {
                state.held.push(Held {
                    sid: sid.clone(),
                    account: account.clone(),
                    to: message.to.clone(),
                    from: sender_text(&message.from),
                    body: message.body.clone(),
                    created: now,
                });
            }
            match answer {
                None => {
                    state.stats.hung += 1;
                    Answer::Hang
                }
                Some(answer) => Answer::Now(match answer {
                    TwilioAnswer::Accepted => {
                        state.stats.accepted += 1;
                        Ok(SentMessage {
                            sid,
                            status: MessageStatus::Queued,
                            price: None,
                            price_unit: Some("USD".into()),
                        })
                    }
                    TwilioAnswer::Refused => {
                        state.stats.refused += 1;
                        Err(api(400, Some(21211)))
                    }
                    TwilioAnswer::ServerError { .. } => {
                        state.stats.server_errors += 1;
                        Err(api(500, None))
                    }
                    TwilioAnswer::Timeout { .. } => {
                        state.stats.timeouts += 1;
                        Err(transport(false))
                    }
                    TwilioAnswer::RateLimited => {
                        state.stats.rate_limited += 1;
                        Err(api(429, Some(20429)))
                    }
                    TwilioAnswer::ConnectFailed => {
                        state.stats.connect_failed += 1;
                        Err(transport(true))
                    }
                }),
            }
        };
        match answer {
            Answer::Now(result) => result,
            Answer::Hang => {
                self.hanging.notify_one();
                std::future::pending().await
            }
        }
    }
}

#[async_trait::async_trait]
impl SubaccountControl for FakeTwilio {
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        let wanted = match status {
            SubaccountStatus::Active => AccountStatus::Active,
            SubaccountStatus::Suspended => AccountStatus::Suspended,
        };
        let (result, hang) = {
            let mut state = self.lock();
            state.stats.subaccount_calls += 1;
            if let Some(applied) = state.sub_hang.take() {
                if applied {
                    state.accounts.insert(sid.to_owned(), wanted);
                }
                (Err(transport(false)), true)
            } else {
                let answer = state.sub_script.pop_front().unwrap_or(External::Ok);
                let (applied, result) = match answer {
                    External::Ok => (true, Ok(wanted.clone())),
                    External::Transient { applied } => (applied, Err(api(503, None))),
                    External::Timeout { applied } => (applied, Err(transport(false))),
                    // Not planned for subaccounts; a 400 if it ever is.
                    External::Permanent => (false, Err(api(400, Some(20001)))),
                };
                if applied {
                    state.accounts.insert(sid.to_owned(), wanted);
                }
                if result.is_err() {
                    state.stats.subaccount_failures += 1;
                }
                (result, false)
            }
        };
        if hang {
            self.hanging.notify_one();
            return std::future::pending().await;
        }
        result
    }

    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError> {
        self.lock()
            .accounts
            .get(sid)
            .cloned()
            .ok_or_else(|| api(404, Some(20404)))
    }
}

#[async_trait::async_trait]
impl MessageLog for FakeTwilio {
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessageListing, TwilioError> {
        let mut state = self.lock();
        state.stats.lookups += 1;
        if state.lookup_failing {
            return Err(api(503, None));
        }
        let messages = state
            .held
            .iter()
            .filter(|held| held.account == query.account_sid && held.to == query.to)
            .filter(|held| query.from.as_ref().is_none_or(|from| *from == held.from))
            .map(|held| ListedMessage {
                sid: held.sid.clone(),
                to: Some(held.to.clone()),
                from: Some(held.from.clone()),
                body: Some(held.body.clone()),
                status: MessageStatus::Sent,
                direction: Some("outbound-api".into()),
                messaging_service_sid: None,
                error_code: None,
                date_created: Some(held.created),
                date_sent: Some(held.created),
            })
            .collect();
        Ok(MessageListing {
            messages,
            complete: true,
        })
    }
}
