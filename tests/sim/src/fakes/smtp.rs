//! The mail server, as the real `SmtpNotifier` sees it over loopback: testkit's `SmtpSink`
//! (which accepts, or refuses with a 451 or 554 when told), and a listener that accepts
//! connections and never says a word (a timeout).
//!
//! [`ScriptedMail`] is the `Notifier` the notification handler gets: for each email it takes
//! the plan's next answer and sends through the real SMTP notifier to the sink or to the
//! silent listener. One conversation at a time, so each refusal the sink is told to make meets
//! the email it was meant for.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use notifications::{Notifier, NotifyError, OutgoingEmail, SmtpConfig, SmtpNotifier, TlsMode};
use testkit::SmtpSink;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

use crate::plan::External;

/// How long the notifier waits on the silent server.
const SILENT_TIMEOUT: Duration = Duration::from_millis(40);

#[derive(Default)]
struct Script {
    answers: VecDeque<External>,
    /// The next email hangs (the worker is stopped); `applied`: the server had it first.
    hang: Option<bool>,
}

/// The mail side of the world.
pub struct Mail {
    pub sink: Arc<SmtpSink>,
    pub notifier: Arc<ScriptedMail>,
    silent: JoinHandle<()>,
}

impl Drop for Mail {
    fn drop(&mut self) {
        self.silent.abort();
    }
}

impl Mail {
    pub async fn start() -> Self {
        let sink = Arc::new(SmtpSink::start().await);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("sim: the silent SMTP listener could not bind: {e}"));
        let silent_port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("sim: the silent SMTP listener has no address: {e}"))
            .port();
        // Accepts and keeps each connection open without a word until the client gives up.
        let silent = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
                if open.len() > 64 {
                    open.drain(..32);
                }
            }
        });
        let config = |port: u16, timeout: Duration| SmtpConfig {
            host: sink.host(),
            port,
            tls: TlsMode::None,
            credentials: None,
            from: "Billing <billing@sim.example>".into(),
            timeout,
        };
        let ok = SmtpNotifier::new(config(sink.port(), Duration::from_secs(10)))
            .unwrap_or_else(|e| panic!("sim: SMTP notifier: {e}"));
        let slow = SmtpNotifier::new(config(silent_port, SILENT_TIMEOUT))
            .unwrap_or_else(|e| panic!("sim: SMTP notifier: {e}"));
        let notifier = Arc::new(ScriptedMail {
            sink: sink.clone(),
            ok,
            slow,
            script: Mutex::default(),
            one_at_a_time: tokio::sync::Mutex::new(()),
            hanging: Notify::new(),
            stats: Mutex::default(),
            log: Mutex::default(),
        });
        Self {
            sink,
            notifier,
            silent,
        }
    }
}

/// What the mail server saw, for the figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailStats {
    pub attempts: u64,
    pub accepted: u64,
    pub refused_transient: u64,
    pub refused_permanent: u64,
    pub timeouts: u64,
    /// Timeouts the notifier itself did not end (the sim did).
    pub hung: u64,
    pub ok_micros: u64,
}

pub struct ScriptedMail {
    sink: Arc<SmtpSink>,
    ok: SmtpNotifier,
    slow: SmtpNotifier,
    script: Mutex<Script>,
    one_at_a_time: tokio::sync::Mutex<()>,
    hanging: Notify,
    stats: Mutex<MailStats>,
    /// Every attempt: the outbox id, the answer, whether the notifier said it went out.
    log: Mutex<Vec<(String, String, bool)>>,
}

impl std::fmt::Debug for ScriptedMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedMail").finish_non_exhaustive()
    }
}

impl ScriptedMail {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, update: impl FnOnce(&mut MailStats)) {
        update(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn arm(&self, answers: &[External], hang: Option<bool>) {
        let mut script = self.script();
        script.answers = answers.iter().copied().collect();
        script.hang = hang;
    }

    pub fn heal(&self) {
        let mut script = self.script();
        script.answers.clear();
        script.hang = None;
    }

    pub async fn hanging(&self) {
        self.hanging.notified().await;
    }

    /// The attempts to send the notification of outbox message `id`.
    pub fn attempts_of(&self, id: &str) -> Vec<(String, bool)> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(outbox_id, _, _)| outbox_id == id)
            .map(|(_, answer, ok)| (answer.clone(), *ok))
            .collect()
    }

    pub fn stats(&self) -> MailStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Notifier for ScriptedMail {
    async fn deliver(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let _turn = self.one_at_a_time.lock().await;
        self.count(|stats| stats.attempts += 1);
        let (answer, hang) = {
            let mut script = self.script();
            match script.hang.take() {
                Some(applied) => (None, Some(applied)),
                None => (
                    Some(script.answers.pop_front().unwrap_or(External::Ok)),
                    None,
                ),
            }
        };
        let id = email.outbox_id.to_string();
        let result = self.attempt(email, answer, hang).await;
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, format!("{answer:?}"), result.is_ok()));
        result
    }
}

impl ScriptedMail {
    async fn attempt(
        &self,
        email: &OutgoingEmail,
        answer: Option<External>,
        hang: Option<bool>,
    ) -> Result<(), NotifyError> {
        if let Some(applied) = hang {
            if applied {
                // The server has it; the worker dies before it hears the answer.
                let sent = self.ok.deliver(email).await;
                self.log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((
                        email.outbox_id.to_string(),
                        format!("hang after sending: {sent:?}"),
                        sent.is_ok(),
                    ));
            } else {
                self.log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((
                        email.outbox_id.to_string(),
                        "hang before sending".into(),
                        false,
                    ));
            }
            self.count(|stats| stats.hung += 1);
            self.hanging.notify_one();
            return std::future::pending().await;
        }
        match answer.unwrap_or(External::Ok) {
            External::Ok => {
                let began = std::time::Instant::now();
                let result = self.ok.deliver(email).await;
                self.count(|stats| stats.ok_micros += began.elapsed().as_micros() as u64);
                if result.is_ok() {
                    self.count(|stats| stats.accepted += 1);
                }
                result
            }
            External::Transient { .. } => {
                self.sink.fail_next(1, 451);
                self.count(|stats| stats.refused_transient += 1);
                self.ok.deliver(email).await
            }
            External::Permanent => {
                self.sink.fail_next(1, 554);
                self.count(|stats| stats.refused_permanent += 1);
                self.ok.deliver(email).await
            }
            External::Timeout { .. } => {
                self.count(|stats| stats.timeouts += 1);
                // The notifier bounds the whole conversation by its timeout (a silent server
                // once held it forever: a finding of this simulation, docs/reliability.md); if
                // that regresses, this step hangs and fails on the step deadline.
                self.slow.deliver(email).await
            }
        }
    }
}
