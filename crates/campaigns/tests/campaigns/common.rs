//! The world of a campaign test: a database, a manual clock, the ledger, an organization with
//! a funded USD wallet, an active subscription and one brand; a scripted fake Twilio.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration as StdDuration,
};

use campaigns::{
    Brand, BrandName, CampaignId, CampaignName, CampaignSummary, Campaigns, CampaignsError,
    DispatchConfig, Dispatcher, Done, FundsPolicy, MessageBody, NewCampaign, Sender, SubaccountSid,
    brands,
};
use chrono::{DateTime, Utc};
use db::{DbConfig, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use enforcement::Enforcer;
use ledger::{
    Actor, Counterparty, CreditRequest, Ledger, LedgerWriter, Reference, WalletBalance,
    WriterConfig,
};
use primitives::{Currency, ManualClock, Money, OrganizationId, SubscriptionId};
use secrecy::SecretString;
use subscriptions::{
    EventEnvelope, EventId, EventSource, LifecyclePolicy, NewSubscription, PlanCode,
    SubscriptionEvent, Subscriptions,
};
use testkit::TestDb;
use twilio::{MessageSender, MessageStatus, SendMessage, SentMessage, TwilioError};

pub const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The parent Twilio account and its auth token, for the real client against wiremock.
pub const PARENT: &str = "AC00000000000000000000000000000000";
pub const TOKEN: &str = "parent-auth-token";

/// The real Twilio client against `base_url`, one attempt per call (the outbox or the
/// dispatcher decides what happens next), a short timeout.
pub fn twilio_client(base_url: &str) -> twilio::TwilioClient {
    let mut config = twilio::TwilioConfig::new(PARENT, SecretString::from(TOKEN.to_owned()));
    config.base_url = base_url.to_owned();
    config.timeout = StdDuration::from_millis(500);
    config.retry = twilio::RetryPolicy {
        max_attempts: 1,
        ..twilio::RetryPolicy::DEFAULT
    };
    twilio::TwilioClient::new(config).unwrap()
}

/// The Basic credentials Twilio expects from the parent account.
pub fn basic_auth() -> String {
    use base64::Engine;
    let raw = format!("{PARENT}:{TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// See [`World::stalled_writer`].
pub struct StalledWriter {
    pub writer: LedgerWriter,
    held: Mutex<Option<db::pool::PooledConnection>>,
}

impl StalledWriter {
    /// Lets the writer have its connection: what waited is written now.
    pub fn resume(&self) {
        drop(self.held.lock().unwrap().take());
    }
}

pub struct World {
    _db: TestDb,
    url: String,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub ledger: Ledger,
    pub campaigns: Campaigns,
    pub enforcer: Enforcer,
    pub organization: OrganizationId,
    pub subscription: SubscriptionId,
    pub brand: Brand,
    events: AtomicU64,
}

impl World {
    /// An organization with `balance` minor units of USD, an active subscription and a brand.
    pub async fn new(balance: i64) -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "campaigns-tests");
        config.acquire_timeout = StdDuration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start());
        let ledger = Ledger::new(Arc::new(clock.clone()));
        let subscriptions = Subscriptions::new(Arc::new(clock.clone()), LifecyclePolicy::default());
        let enforcer = Enforcer::new(subscriptions.clone(), ledger.clone());
        let campaigns = Campaigns::new(ledger.clone(), FundsPolicy::default());

        let mut conn = pool.get().await.unwrap();
        let organization = OrganizationId::new();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(organization.as_uuid()),
                organizations::name.eq("Acme"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        ledger
            .open_wallet(&mut conn, organization, Currency::USD)
            .await
            .unwrap();
        let created = envelope("test", "create", SubscriptionEvent::Created);
        let new = NewSubscription {
            organization_id: organization,
            plan: PlanCode::parse("pro").unwrap(),
            provider: None,
        };
        let subscription = subscriptions
            .create(&mut conn, new, &created)
            .await
            .unwrap()
            .id;
        let brand = brands::create(
            &mut conn,
            organization,
            &BrandName::parse("Acme Shop").unwrap(),
            &SubaccountSid::parse(SID).unwrap(),
            start(),
        )
        .await
        .unwrap();
        drop(conn);
        let world = Self {
            url: db.url(),
            _db: db,
            pool,
            clock,
            ledger,
            campaigns,
            enforcer,
            organization,
            subscription,
            brand,
            events: AtomicU64::new(0),
        };
        world.deliver(paid()).await;
        if balance > 0 {
            world.credit(balance).await;
        }
        world
    }

    pub async fn conn(&self) -> db::pool::PooledConnection {
        self.pool.get().await.unwrap()
    }

    pub fn now(&self) -> DateTime<Utc> {
        primitives::Clock::now(&self.clock)
    }

    /// Applies a subscription event through enforcement (its effects land in the outbox).
    pub async fn deliver(&self, event: SubscriptionEvent) {
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        let envelope = envelope("stripe", &format!("evt_{n}"), event);
        let mut conn = self.conn().await;
        self.enforcer
            .apply(&mut conn, self.subscription, &envelope)
            .await
            .unwrap();
    }

    pub async fn credit(&self, minor: i64) {
        let mut conn = self.conn().await;
        let wallet_id = self.wallet_id(&mut conn).await;
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        self.ledger
            .credit(
                &mut conn,
                CreditRequest {
                    wallet_id,
                    amount: usd(minor),
                    counterparty: Counterparty::parse("topup:test").unwrap(),
                    reference: Reference::parse(format!("topup-{n}")).unwrap(),
                    actor: Actor::system("test"),
                },
            )
            .await
            .unwrap();
    }

    pub async fn wallet_id(&self, conn: &mut db::AsyncPgConnection) -> primitives::WalletId {
        self.ledger
            .wallet_for_organization(conn, self.organization)
            .await
            .unwrap()
    }

    pub async fn wallet(&self) -> WalletBalance {
        let mut conn = self.conn().await;
        let wallet_id = self.wallet_id(&mut conn).await;
        self.ledger.balance(&mut conn, wallet_id).await.unwrap()
    }

    /// A draft campaign of `recipients` numbers at `price` minor units per segment, body
    /// `body` (one GSM-7 segment unless told otherwise).
    pub async fn campaign_with(&self, recipients: usize, price: i64, body: &str) -> CampaignId {
        let mut conn = self.conn().await;
        let campaign = self
            .campaigns
            .create(
                &mut conn,
                self.organization,
                NewCampaign {
                    brand_id: self.brand.id,
                    name: CampaignName::parse("Spring sale").unwrap(),
                    body: MessageBody::parse(body).unwrap(),
                    sender: Sender::from_number("+14155550199").unwrap(),
                    price_per_segment: usd(price),
                },
            )
            .await
            .unwrap();
        let numbers = numbers(recipients);
        for chunk in numbers.chunks(campaigns::MAX_RECIPIENTS_PER_CALL) {
            self.campaigns
                .add_recipients(&mut conn, self.organization, campaign.id, chunk)
                .await
                .unwrap();
        }
        campaign.id
    }

    pub async fn campaign(&self, recipients: usize, price: i64) -> CampaignId {
        self.campaign_with(recipients, price, "Spring sale: 20% off today")
            .await
    }

    pub async fn start(&self, id: CampaignId) -> Result<Done<campaigns::Campaign>, CampaignsError> {
        let mut conn = self.conn().await;
        self.campaigns
            .start(&mut conn, self.organization, id, &format!("start-{id}"))
            .await
    }

    pub async fn started(&self, recipients: usize, price: i64) -> CampaignId {
        let id = self.campaign(recipients, price).await;
        self.start(id).await.unwrap();
        id
    }

    pub async fn summary(&self, id: CampaignId) -> CampaignSummary {
        let mut conn = self.conn().await;
        self.campaigns
            .summary(&mut conn, self.organization, id)
            .await
            .unwrap()
    }

    pub fn dispatcher<S: MessageSender>(&self, sender: S, batch_size: usize) -> Dispatcher<S> {
        self.dispatcher_with(sender, batch_size, 4)
    }

    pub fn dispatcher_with<S: MessageSender>(
        &self,
        sender: S,
        batch_size: usize,
        concurrency: usize,
    ) -> Dispatcher<S> {
        let config = DispatchConfig {
            batch_size,
            concurrency,
            ..DispatchConfig::default()
        };
        Dispatcher::new(self.pool.clone(), self.campaigns.clone(), sender, config)
    }

    /// A batching writer that cannot reach the database: every booking through it fails
    /// (`LEDGER_UNAVAILABLE`), as if the worker had died between its settlement's commit and
    /// the booking.
    pub fn broken_writer(&self) -> LedgerWriter {
        let mut config = DbConfig::new(
            SecretString::from("postgres://nobody@127.0.0.1:1/nowhere".to_owned()),
            "campaigns-tests-broken",
        );
        config.acquire_timeout = StdDuration::from_secs(2);
        let pool = db::connect_pool(&config).unwrap();
        LedgerWriter::start(pool, self.ledger.clone(), WriterConfig::default())
    }

    /// A batching writer the test holds up: it writes through a pool of one connection, which
    /// the test holds until [`StalledWriter::resume`]. A booking through it waits meanwhile,
    /// like a worker stalled between its settlement's commit and the booking.
    pub async fn stalled_writer(&self) -> StalledWriter {
        let mut config = DbConfig::new(SecretString::from(self.url.clone()), "campaigns-stalled");
        config.max_connections = 1;
        config.acquire_timeout = StdDuration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let held = pool.get().await.unwrap();
        StalledWriter {
            writer: LedgerWriter::start(pool, self.ledger.clone(), WriterConfig::default()),
            held: Mutex::new(Some(held)),
        }
    }

    /// Freezes (`true`) or unfreezes the wallet for `source`, as an operator.
    pub async fn set_frozen(&self, source: ledger::FreezeSource, frozen: bool) {
        let mut conn = self.conn().await;
        let wallet_id = self.wallet_id(&mut conn).await;
        let reason = ledger::Reason::parse("operator check").unwrap();
        if frozen {
            let request = ledger::FreezeRequest {
                wallet_id,
                source,
                reason,
                actor: Actor::admin(),
            };
            self.ledger.freeze(&mut conn, request).await.unwrap();
        } else {
            let request = ledger::UnfreezeRequest {
                wallet_id,
                source,
                reason,
                actor: Actor::admin(),
            };
            self.ledger.unfreeze(&mut conn, request).await.unwrap();
        }
    }

    /// The books after a scenario: the wallet reconciles; what the campaign's holds captured is
    /// exactly what its recipients were charged (net of debits and refunds of resolved
    /// recipients, passed as `adjustment`); and a campaign that reserves nothing any more has
    /// `captured + released = held`.
    pub async fn assert_books(&self, id: CampaignId, adjustment: i64) {
        let mut conn = self.conn().await;
        let wallet_id = self.wallet_id(&mut conn).await;
        let reconciliation = self.ledger.reconcile(&mut conn, wallet_id).await.unwrap();
        assert!(reconciliation.is_clean(), "{reconciliation:?}");
        let summary = self.summary(id).await;
        let charged = charged_total(&mut conn, id).await;
        assert_eq!(
            charged,
            summary.captured.minor() + adjustment,
            "{summary:?}"
        );
        assert_eq!(
            summary.held.minor(),
            summary.captured.minor() + summary.released.minor() + summary.reserved.minor()
        );
        if summary.campaign.hold_id.is_none() {
            assert_eq!(summary.reserved.minor(), 0, "{summary:?}");
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Total {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    total: i64,
}

/// What the campaign's recipients were charged, in all.
pub async fn charged_total(conn: &mut db::AsyncPgConnection, id: CampaignId) -> i64 {
    diesel::sql_query(
        "SELECT coalesce(sum(charged), 0)::bigint AS total FROM campaign_recipients \
         WHERE campaign_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(id.as_uuid())
    .get_result::<Total>(conn)
    .await
    .unwrap()
    .total
}

pub fn numbers(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("+1415{:07}", i)).collect()
}

pub fn paid() -> SubscriptionEvent {
    SubscriptionEvent::PaymentSucceeded {
        amount: usd(2_900),
        period_end: start() + chrono::Duration::days(30),
    }
}

pub fn envelope(source: &str, id: &str, event: SubscriptionEvent) -> EventEnvelope {
    EventEnvelope {
        source: EventSource::parse(source).unwrap(),
        event_id: EventId::parse(id).unwrap(),
        occurred_at: start(),
        precision: subscriptions::TimePrecision::Microsecond,
        event,
    }
}

type Hook = Box<dyn Fn(&SendMessage) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A Twilio that records every send and answers from a script (then success).
#[derive(Clone, Default)]
pub struct FakeTwilio {
    inner: Arc<FakeState>,
}

#[derive(Default)]
struct FakeState {
    script: Mutex<VecDeque<Result<(), TwilioError>>>,
    sent: Mutex<Vec<SendMessage>>,
    /// Each answered send: its number and the error status (`None`: accepted).
    answers: Mutex<Vec<(String, Option<u16>)>>,
    /// Runs inside every send before it answers (a pause arriving mid-batch, a hang).
    hook: Mutex<Option<Arc<Hook>>>,
    counter: AtomicU64,
}

impl FakeTwilio {
    pub fn script(&self, results: impl IntoIterator<Item = Result<(), TwilioError>>) {
        self.inner.script.lock().unwrap().extend(results);
    }

    pub fn on_send<F, Fut>(&self, hook: F)
    where
        F: Fn(&SendMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let hook: Hook = Box::new(move |message| Box::pin(hook(message)));
        *self.inner.hook.lock().unwrap() = Some(Arc::new(hook));
    }

    pub fn sent(&self) -> Vec<SendMessage> {
        self.inner.sent.lock().unwrap().clone()
    }

    pub fn answers(&self) -> Vec<(String, Option<u16>)> {
        self.inner.answers.lock().unwrap().clone()
    }

    /// Numbers sent to, sorted.
    pub fn recipients(&self) -> Vec<String> {
        let mut to: Vec<String> = self.sent().into_iter().map(|m| m.to).collect();
        to.sort();
        to
    }
}

#[async_trait::async_trait]
impl MessageSender for FakeTwilio {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        self.inner.sent.lock().unwrap().push(message.clone());
        let hook = self.inner.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(message).await;
        }
        let scripted = self
            .inner
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(()));
        let status = match &scripted {
            Ok(()) => None,
            Err(TwilioError::Api { status, .. }) => Some(*status),
            Err(_) => Some(0),
        };
        self.inner
            .answers
            .lock()
            .unwrap()
            .push((message.to.clone(), status));
        scripted?;
        let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
        Ok(SentMessage {
            sid: format!("SM{n:032x}"),
            status: MessageStatus::Queued,
            price: Some("-0.00790".into()),
            price_unit: Some("USD".into()),
        })
    }
}

pub fn api_error(status: u16, code: Option<u32>) -> TwilioError {
    TwilioError::Api {
        status,
        code,
        message: "scripted".into(),
        more_info: None,
    }
}
