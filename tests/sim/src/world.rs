//! The world: one fresh PostgreSQL database, the real domain services over one manual clock
//! (`services::Services`, as every binary builds them), the receiver's real webhook routes, two
//! ledger writers (the api's and the worker's dispatcher's), and fakes only for the outside
//! world (Stripe's deliveries, Twilio, the mail server, the provider's answer to a dunning
//! retry). Background work never runs on its own: each job is one step, called through the
//! same library entry points the worker's loops call, so a seed replays.

use std::{collections::HashMap, sync::Arc, time::Duration as StdDuration};

use axum::Router;
use billing::ProvidersConfig;
use campaigns::{BrandId, BrandName, CampaignId, DispatchConfig, SubaccountSid};
use chrono::{DateTime, Duration, Utc};
use db::{DbConfig, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use intake::IntakePolicy;
use ledger::{Actor, Counterparty, CreditRequest, LedgerWriter, Reference, WriterConfig};
use outbox::{Outbox, Redelivery};
use primitives::{
    Clock, Currency, HoldId, ManualClock, Money, OrganizationId, ProviderName, SubscriptionId,
    WalletId,
};
use secrecy::SecretString;
use services::{Services, ServicesConfig};
use subscriptions::{
    EventEnvelope, EventId, EventSource, NewSubscription, PlanCode, ProviderRef, SubscriptionEvent,
    TimePrecision,
};
use testkit::TestDb;
use uuid::Uuid;

use crate::{
    fakes::{retrier::FakeRetrier, smtp::Mail, twilio::FakeTwilio},
    faults::{API_WRITER, Control, DISPATCH_WRITER, VICTIM},
    model::{Acknowledged, Model},
    plan::{EventKind, MoneyStep, ORGS},
    provider,
    snapshot::Snapshot,
    stats::Stats,
    steps::money::Call,
};

/// When the world begins (whole seconds: Stripe stamps events in seconds).
pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap_or_default()
}

/// What each organization starts with, in minor units.
pub const OPENING_BALANCE: i64 = 20_000;
/// Recipients per dispatcher batch: small, so campaigns take several batches.
pub const BATCH_SIZE: usize = 4;

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// An organization of the world.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrganizationId,
    pub wallet: WalletId,
    pub subscription: SubscriptionId,
    pub brand: BrandId,
    /// Its brand's Twilio subaccount.
    pub sid: String,
}

/// A campaign the world created for a plan slot.
#[derive(Debug, Clone)]
pub struct SimCampaign {
    pub id: CampaignId,
    pub org: usize,
}

/// A provider event built for the plan: its body is what every delivery posts.
#[derive(Debug, Clone)]
pub struct BuiltEvent {
    pub org: usize,
    pub kind: EventKind,
    pub body: Vec<u8>,
}

pub struct World {
    db: TestDb,
    pub pool: DbPool,
    pub clock: ManualClock,
    pub services: Services,
    pub api_writer: LedgerWriter,
    pub dispatch_writer: LedgerWriter,
    /// The outbox the worker's topics are delivered with (see [`redelivery`]).
    pub outbox: Outbox,
    pub twilio: FakeTwilio,
    pub mail: Mail,
    pub retrier: FakeRetrier,
    pub receiver: Router,
    pub control: Control,
    pub orgs: Vec<Org>,
    pub campaigns: HashMap<u32, SimCampaign>,
    /// Campaign slot by campaign id.
    pub campaign_slots: HashMap<Uuid, u32>,
    /// API holds by plan slot.
    pub holds: HashMap<u32, HoldId>,
    /// Money operations a fault interrupted, for their retry.
    pub faulted: HashMap<u32, (MoneyStep, Call)>,
    pub events: HashMap<u32, BuiltEvent>,
    pub model: Model,
    pub stats: Stats,
    /// The state after the last step, so before the next (see `snapshot`).
    pub snapshot: Snapshot,
    next_phone: u64,
}

impl World {
    pub async fn new() -> Self {
        let db = TestDb::new().await;
        let url = db.url();
        let pool = pool_named(&url, "sim", 12);
        let clock = ManualClock::new(start_time());
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let config = ServicesConfig {
            providers: ProvidersConfig {
                stripe: Some(provider::stripe_config()),
                ..ProvidersConfig::default()
            },
            intake: IntakePolicy {
                retry: redelivery(),
                ..IntakePolicy::default()
            },
            ..ServicesConfig::default()
        };
        let services =
            Services::new(shared, &config).unwrap_or_else(|e| panic!("sim: services: {e}"));
        let writer_config = WriterConfig {
            max_batch: 64,
            shards: 2,
        };
        let api_writer = LedgerWriter::start(
            pool_named(&url, API_WRITER, 4),
            services.ledger.clone(),
            writer_config.clone(),
        );
        let dispatch_writer = LedgerWriter::start(
            pool_named(&url, DISPATCH_WRITER, 4),
            services.ledger.clone(),
            writer_config,
        );
        let receiver = provider::receiver(pool.clone(), services.intake.clone());
        let outbox = Outbox::new(shared_clock(&clock), redelivery());
        let control = Control::new(db.conn().await, db.conn().await, db.conn().await);
        let mut world = Self {
            twilio: FakeTwilio::new(clock.clone()),
            mail: Mail::start().await,
            retrier: FakeRetrier::new(clock.clone()),
            db,
            pool,
            clock,
            services,
            api_writer,
            dispatch_writer,
            outbox,
            receiver,
            control,
            orgs: Vec::new(),
            campaigns: HashMap::new(),
            campaign_slots: HashMap::new(),
            holds: HashMap::new(),
            faulted: HashMap::new(),
            events: HashMap::new(),
            model: Model::default(),
            stats: Stats::default(),
            snapshot: Snapshot::default(),
            next_phone: 0,
        };
        for org in 0..ORGS {
            world.add_org(org).await;
        }
        world
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn url(&self) -> String {
        self.db.url()
    }

    pub async fn conn(&self) -> db::pool::PooledConnection {
        self.pool
            .get()
            .await
            .unwrap_or_else(|e| panic!("sim: no connection: {e}"))
    }

    /// A pool of its own for one faulty step: its sessions are the ones killed, and it is
    /// dropped afterwards with whatever the fault left in it.
    pub fn victim_pool(&self) -> DbPool {
        pool_named(&self.url(), VICTIM, 4)
    }

    pub fn dispatch_config(&self) -> DispatchConfig {
        DispatchConfig {
            batch_size: BATCH_SIZE,
            concurrency: 4,
            worker: "sim".into(),
            ..DispatchConfig::default()
        }
    }

    /// A recipient number no other campaign has: each recipient is known to the fake Twilio
    /// by its number.
    pub fn next_phone(&mut self) -> String {
        self.next_phone += 1;
        format!("+1555{:07}", self.next_phone)
    }

    /// An organization with its USD wallet (funded), a Stripe subscription made active by a
    /// signed delivery, and a brand with its own Twilio subaccount.
    async fn add_org(&mut self, index: usize) {
        let id = OrganizationId::new();
        let mut conn = self.conn().await;
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(id.as_uuid()),
                organizations::name.eq(format!("Org {index}")),
                organizations::billing_email.eq(format!("billing@org{index}.example")),
            ))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("sim: organization: {e}"));
        let ledger = &self.services.ledger;
        let wallet = ledger
            .open_wallet(&mut conn, id, Currency::USD)
            .await
            .unwrap_or_else(|e| panic!("sim: wallet: {e}"))
            .value
            .wallet_id;
        let created = EventEnvelope {
            source: EventSource::parse("admin").unwrap_or_else(|e| panic!("{e}")),
            event_id: EventId::parse(&format!("sim-create-{index}"))
                .unwrap_or_else(|e| panic!("{e}")),
            occurred_at: self.now(),
            precision: TimePrecision::Microsecond,
            event: SubscriptionEvent::Created,
        };
        let new = NewSubscription {
            organization_id: id,
            plan: PlanCode::parse("pro").unwrap_or_else(|e| panic!("{e}")),
            provider: Some(
                ProviderRef::new(ProviderName::Stripe, &provider::subscription_id(index))
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
        };
        let subscription = self
            .services
            .subscriptions
            .create(&mut conn, new, &created)
            .await
            .unwrap_or_else(|e| panic!("sim: subscription: {e}"))
            .id;
        let sid = format!("AC{:032x}", index + 1);
        let brand = campaigns::brands::create(
            &mut conn,
            id,
            &BrandName::parse(&format!("Brand {index}")).unwrap_or_else(|e| panic!("{e}")),
            &SubaccountSid::parse(&sid).unwrap_or_else(|e| panic!("{e}")),
            self.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("sim: brand: {e}"))
        .id;
        self.twilio.add_account(&sid);
        let reference = format!("sim:opening:{index}");
        ledger
            .credit(
                &mut conn,
                CreditRequest {
                    wallet_id: wallet,
                    amount: usd(OPENING_BALANCE),
                    counterparty: Counterparty::parse("topup:manual")
                        .unwrap_or_else(|e| panic!("{e}")),
                    reference: Reference::parse(reference.clone())
                        .unwrap_or_else(|e| panic!("{e}")),
                    actor: Actor::admin(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("sim: opening credit: {e}"));
        drop(conn);
        self.model.acknowledge(
            reference,
            Acknowledged {
                wallet: wallet.as_uuid(),
                kind: "credit",
                amount: Some(OPENING_BALANCE),
            },
        );
        // Stripe activates the subscription: a signed delivery through the receiver.
        let mut params = devhooks::events::Params::new(self.now());
        params.event_id = Some(format!("evt_simsetup{index}"));
        params.organization = Some(id.to_string());
        params.subscription = Some(provider::subscription_id(index));
        let body = devhooks::events::build(
            devhooks::events::Provider::Stripe,
            devhooks::events::EventName::SubscriptionActivated,
            &params,
            &devhooks::LocalSecrets::development(),
        )
        .unwrap_or_else(|e| panic!("sim: activation event: {e}"))
        .body;
        let (status, answer, text) = provider::deliver(&self.receiver, &body, self.now()).await;
        assert!(
            status.is_success()
                && answer.is_some_and(|a| a.status == intake::inbox::InboxStatus::Applied),
            "sim: the activation of org {index} was answered {status}: {text}"
        );
        self.orgs.push(Org {
            id,
            wallet,
            subscription,
            brand,
            sid,
        });
    }

    /// The organization index of an organization id.
    pub fn org_index(&self, id: Uuid) -> Option<usize> {
        self.orgs.iter().position(|org| org.id.as_uuid() == id)
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Retry timing of the outbox and the inbox in this world.
///
/// Both crates draw their backoff jitter from an unseeded generator, which would make a
/// message due at a different simulated time on each run of one seed. With a 1 to 2 ms
/// backoff and a clock that the plan moves in whole seconds, a failed message is due again
/// after the next move of the clock whatever the jitter, so a seed replays exactly. The leases
/// (how long a stopped worker keeps a message) stay the defaults'; the backoff's lengths are
/// `crates/outbox`'s tests' business.
pub fn redelivery() -> Redelivery {
    Redelivery::new(
        StdDuration::from_millis(2),
        StdDuration::from_millis(2),
        Redelivery::DEFAULT.lease(),
    )
    .unwrap_or_else(|e| panic!("sim: redelivery: {e}"))
}

fn shared_clock(clock: &ManualClock) -> Arc<dyn Clock> {
    Arc::new(clock.clone())
}

/// A pool whose sessions carry `application_name`, so faults can find them.
pub fn pool_named(url: &str, application_name: &str, size: usize) -> DbPool {
    let mut config = DbConfig::new(SecretString::from(url.to_owned()), application_name);
    config.max_connections = size;
    config.acquire_timeout = StdDuration::from_secs(30);
    db::connect_pool(&config).unwrap_or_else(|e| panic!("sim: pool: {e}"))
}

/// A pool that cannot reach any database: a ledger writer on it fails every batch at once
/// (`LEDGER_UNAVAILABLE`), as if the worker's database link died between a settlement's commit
/// and the charge's booking.
pub fn unreachable_pool() -> DbPool {
    let mut config = DbConfig::new(
        SecretString::from("postgres://nobody@127.0.0.1:1/nowhere".to_owned()),
        "sim-unreachable",
    );
    config.acquire_timeout = StdDuration::from_millis(500);
    db::connect_pool(&config).unwrap_or_else(|e| panic!("sim: pool: {e}"))
}
