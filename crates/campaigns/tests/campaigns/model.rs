//! Random sequences of dispatches (with random Twilio answers), pauses, resumes, freezes,
//! top-ups, spending, crashed workers and time, on real PostgreSQL, checked after every step
//! against the guarantees and at the end against a model of what must have been charged.
//!
//! `CAMPAIGN_MODEL_CASES` sets the number of cases (default 12).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration as StdDuration,
};

use campaigns::{
    BatchReport, CampaignId, CampaignStatus, DispatchConfig, Dispatcher, RecipientStatus,
};
use chrono::Duration;
use ledger::{Actor, Counterparty, DebitRequest, FreezeSource, Reference};
use proptest::{prelude::*, test_runner::TestRunner};
use tokio::sync::Notify;

use crate::common::{FakeTwilio, World, api_error, charged_total, usd};

const RECIPIENTS: usize = 30;
const PRICE: i64 = 3;

#[derive(Debug, Clone)]
enum Answer {
    Accept,
    Refuse,
    Maybe,
    RateLimited,
}

#[derive(Debug, Clone)]
enum Op {
    Dispatch(Vec<Answer>),
    Crash,
    Tick,
    Pause,
    Resume,
    Sweep,
    Freeze,
    Unfreeze,
    TopUp(i64),
    Spend(i64),
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => Just(Answer::Accept),
        1 => Just(Answer::Refuse),
        1 => Just(Answer::Maybe),
        1 => Just(Answer::RateLimited),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(answer(), 0..6).prop_map(Op::Dispatch),
        1 => Just(Op::Crash),
        2 => Just(Op::Tick),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => Just(Op::Sweep),
        1 => Just(Op::Freeze),
        1 => Just(Op::Unfreeze),
        1 => (1i64..60).prop_map(Op::TopUp),
        1 => (1i64..60).prop_map(Op::Spend),
    ]
}

struct Case {
    world: World,
    id: CampaignId,
    twilio: FakeTwilio,
    dispatcher: Dispatcher<FakeTwilio>,
    hang: Arc<AtomicBool>,
    hung: Arc<Notify>,
    /// Numbers whose claim died with its worker (charged once recovered), with how many Twilio
    /// answers there were when it died: none of theirs may come after.
    crashed: HashMap<String, usize>,
    /// Money in and out of the wallet other than the campaign.
    outside: i64,
    spends: AtomicU64,
}

impl Case {
    async fn new(balance: i64) -> Self {
        let world = World::new(balance).await;
        let id = world.campaign(RECIPIENTS, PRICE).await;
        let twilio = FakeTwilio::default();
        let (hang, hung) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        {
            let (hang, hung) = (hang.clone(), hung.clone());
            twilio.on_send(move |_| {
                let hangs = hang.swap(false, Ordering::SeqCst);
                let hung = hung.clone();
                async move {
                    if hangs {
                        hung.notify_one();
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
        let config = DispatchConfig {
            batch_size: 5,
            concurrency: 2,
            ..DispatchConfig::default()
        };
        let dispatcher = Dispatcher::new(
            world.pool.clone(),
            world.campaigns.clone(),
            twilio.clone(),
            config,
        );
        Self {
            world,
            id,
            twilio,
            dispatcher,
            hang,
            hung,
            crashed: HashMap::new(),
            outside: balance,
            spends: AtomicU64::new(0),
        }
    }

    async fn apply(&mut self, op: &Op) {
        let world = &self.world;
        let organization = world.organization;
        let mut conn = world.conn().await;
        match op {
            Op::Dispatch(answers) => {
                self.twilio
                    .script(answers.iter().map(|answer| match answer {
                        Answer::Accept => Ok(()),
                        Answer::Refuse => Err(api_error(400, Some(21211))),
                        Answer::Maybe => Err(api_error(503, None)),
                        Answer::RateLimited => Err(api_error(429, None)),
                    }));
                let frozen = world.wallet().await.frozen;
                let running =
                    world.summary(self.id).await.campaign.status == CampaignStatus::Running;
                let before = self.twilio.sent().len();
                self.dispatcher.run_once().await.unwrap();
                if frozen || !running {
                    assert_eq!(
                        self.twilio.sent().len(),
                        before,
                        "sent while frozen or not running"
                    );
                }
            }
            Op::Crash => {
                self.hang.store(true, Ordering::SeqCst);
                let dispatcher = Dispatcher::new(
                    world.pool.clone(),
                    world.campaigns.clone(),
                    self.twilio.clone(),
                    self.dispatcher.config().clone(),
                );
                let id = self.id;
                let mut task = tokio::spawn(async move { dispatcher.dispatch_batch(id).await });
                tokio::select! {
                    _ = self.hung.notified() => {
                        task.abort();
                        let _ = task.await;
                        let claimed = world
                            .campaigns
                            .recipients(&mut conn, organization, id, Some(RecipientStatus::Sending), None, 1000)
                            .await
                            .unwrap();
                        let at = self.twilio.answers().len();
                        self.crashed.extend(claimed.into_iter().map(|r| (r.phone, at)));
                    }
                    result = tokio::time::timeout(StdDuration::from_secs(30), &mut task) => {
                        // Nothing was claimed (not running, backing off...): no crash.
                        result.unwrap().unwrap().unwrap();
                    }
                }
                self.hang.store(false, Ordering::SeqCst);
            }
            Op::Tick => world.clock.advance(Duration::minutes(6)),
            Op::Pause => {
                let _ = world
                    .campaigns
                    .pause(&mut conn, organization, self.id)
                    .await;
            }
            Op::Resume => {
                let _ = world
                    .campaigns
                    .resume(&mut conn, organization, self.id)
                    .await;
            }
            Op::Sweep => {
                world
                    .campaigns
                    .resume_if_eligible(&mut conn, organization)
                    .await
                    .unwrap();
            }
            Op::Freeze => world.set_frozen(FreezeSource::Admin, true).await,
            Op::Unfreeze => {
                if world.wallet().await.frozen {
                    world.set_frozen(FreezeSource::Admin, false).await;
                }
            }
            Op::TopUp(amount) => {
                drop(conn);
                world.credit(*amount).await;
                self.outside += amount;
            }
            Op::Spend(amount) => {
                let wallet_id = world
                    .ledger
                    .wallet_for_organization(&mut conn, organization)
                    .await
                    .unwrap();
                let n = self.spends.fetch_add(1, Ordering::Relaxed);
                let spent = world
                    .ledger
                    .debit(
                        &mut conn,
                        DebitRequest {
                            wallet_id,
                            amount: usd(*amount),
                            counterparty: Counterparty::parse("revenue:other").unwrap(),
                            reference: Reference::parse(format!("spend-{n}")).unwrap(),
                            actor: Actor::system("test"),
                        },
                    )
                    .await;
                if spent.is_ok() {
                    self.outside -= amount;
                }
            }
        }
    }

    /// The guarantees, after every step.
    async fn check(&self) {
        let world = &self.world;
        world.assert_books(self.id, 0).await;
        let summary = world.summary(self.id).await;
        let counts = summary.recipients;
        if summary.campaign.status != CampaignStatus::Running && counts.sending == 0 {
            assert_eq!(summary.reserved, usd(0), "{summary:?}");
        }
        // Nothing that may have reached Twilio is ever sent again.
        let mut gone = HashSet::new();
        for (index, (to, status)) in self.twilio.answers().into_iter().enumerate() {
            assert!(!gone.contains(&to), "{to} sent again");
            let after_crash = self.crashed.get(&to).is_some_and(|at| index >= *at);
            assert!(!after_crash, "{to} sent again after its worker died");
            if status.is_none() || status.is_some_and(|s| s >= 500) {
                gone.insert(to);
            }
        }
        let wallet = world.wallet().await;
        assert_eq!(
            wallet.balance.minor(),
            self.outside - summary.captured.minor()
        );
    }

    /// Lets the campaign finish and checks what it was charged against the model.
    async fn finish(&mut self) {
        let world = &self.world;
        if world.wallet().await.frozen {
            world.set_frozen(FreezeSource::Admin, false).await;
        }
        world.credit(10_000).await;
        self.outside += 10_000;
        let mut conn = world.conn().await;
        let status = world.summary(self.id).await.campaign.status;
        if status == CampaignStatus::Draft {
            world.start(self.id).await.unwrap();
        } else if status == CampaignStatus::Paused {
            world
                .campaigns
                .resume(&mut conn, world.organization, self.id)
                .await
                .unwrap();
        }
        for _ in 0..100 {
            world.clock.advance(Duration::minutes(6));
            let report = self.dispatcher.run_once().await.unwrap();
            let summary = world.summary(self.id).await;
            if summary.campaign.status == CampaignStatus::Completed {
                break;
            }
            assert!(
                report.did_work() || summary.recipients.pending > 0,
                "{summary:?}"
            );
        }
        assert_eq!(
            self.dispatcher.dispatch_batch(self.id).await.unwrap(),
            BatchReport::Idle
        );
        self.check().await;
        let summary = world.summary(self.id).await;
        assert_eq!(
            summary.campaign.status,
            CampaignStatus::Completed,
            "{summary:?}"
        );
        let counts = summary.recipients;
        assert_eq!(
            counts.sent + counts.failed + counts.unconfirmed,
            RECIPIENTS as i64
        );
        assert_eq!(
            summary.held.minor(),
            summary.captured.minor() + summary.released.minor()
        );
        // The model: charged = accepted or maybe sent (by Twilio's answers), or crashed.
        let mut charged: HashSet<String> = self.crashed.keys().cloned().collect();
        for (to, status) in self.twilio.answers() {
            if status.is_none() || status.is_some_and(|s| s >= 500) {
                charged.insert(to);
            }
        }
        let expected = PRICE * charged.len() as i64;
        assert_eq!(summary.captured.minor(), expected);
        assert_eq!(charged_total(&mut conn, self.id).await, expected);
        let accepted: HashSet<String> = self
            .twilio
            .answers()
            .into_iter()
            .filter(|(_, status)| status.is_none())
            .map(|(to, _)| to)
            .collect();
        assert!(counts.sent as usize <= accepted.len());
    }
}

async fn run_case(balance: i64, ops: Vec<Op>) {
    let mut case = Case::new(balance).await;
    let _ = case.world.start(case.id).await;
    case.check().await;
    for op in &ops {
        case.apply(op).await;
        case.check().await;
    }
    case.finish().await;
}

#[test]
fn random_timelines_keep_the_money_and_never_resend() {
    let cases = std::env::var("CAMPAIGN_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ProptestConfig {
        cases,
        max_shrink_iters: 20,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (40i64..200, prop::collection::vec(op(), 1..25));
    runner
        .run(&strategy, |(balance, ops)| {
            runtime.block_on(run_case(balance, ops));
            Ok(())
        })
        .unwrap();
}
