//! Shared setup for the ledger's database tests.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbConfig, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use ledger::{Actor, Counterparty, CreditRequest, DebitRequest, HoldRequest, Ledger, Reference};
use primitives::{Currency, ManualClock, Money, OrganizationId, WalletId};
use secrecy::SecretString;
use testkit::TestDb;

pub const USD: Currency = Currency::USD;

pub struct Fixture {
    /// Kept alive so the database is dropped only when the fixture is.
    _db: TestDb,
    pub pool: DbPool,
    pub ledger: Ledger,
    pub clock: ManualClock,
    pub wallet: WalletId,
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

impl Fixture {
    /// A fresh database with one organization and its empty USD wallet.
    pub async fn new() -> Self {
        let db = TestDb::new().await;
        let mut config = DbConfig::new(SecretString::from(db.url()), "ledger-tests");
        config.max_connections = 32;
        config.acquire_timeout = Duration::from_secs(60);
        let pool = db::connect_pool(&config).unwrap();
        let clock = ManualClock::new(start_time());
        let ledger = Ledger::new(Arc::new(clock.clone()));
        let mut conn = pool.get().await.unwrap();
        let wallet = open_wallet(&ledger, &mut conn, USD).await;
        drop(conn);
        Self {
            _db: db,
            pool,
            ledger,
            clock,
            wallet,
        }
    }

    pub async fn conn(&self) -> db::pool::PooledConnection {
        self.pool.get().await.unwrap()
    }

    pub async fn fund(&self, minor: i64) {
        let mut conn = self.conn().await;
        self.ledger
            .credit(
                &mut conn,
                credit(self.wallet, minor, &format!("fund-{}", uuid())),
            )
            .await
            .unwrap();
    }

    pub async fn balance(&self) -> (i64, i64) {
        let mut conn = self.conn().await;
        let view = self.ledger.balance(&mut conn, self.wallet).await.unwrap();
        (view.balance.minor(), view.held.minor())
    }

    pub async fn assert_reconciled(&self) {
        let mut conn = self.conn().await;
        let report = self.ledger.reconcile(&mut conn, self.wallet).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert!(
            self.ledger
                .reconcile_all(&mut conn)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn count(&self, table: &str) -> i64 {
        use diesel::{QueryableByName, sql_types::BigInt};
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await;
        let rows: Vec<Count> = diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .load(&mut conn)
            .await
            .unwrap();
        rows[0].n
    }
}

pub async fn open_wallet(
    ledger: &Ledger,
    conn: &mut AsyncPgConnection,
    currency: Currency,
) -> WalletId {
    let organization = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(organization.as_uuid()),
            organizations::name.eq("Test organization"),
        ))
        .execute(conn)
        .await
        .unwrap();
    ledger
        .open_wallet(conn, organization, currency)
        .await
        .unwrap()
        .value
        .wallet_id
}

pub fn uuid() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn usd(minor: i64) -> Money {
    Money::from_minor(minor, USD)
}

pub fn reference(value: &str) -> Reference {
    Reference::parse(value).unwrap()
}

pub fn revenue() -> Counterparty {
    Counterparty::parse("revenue:messages").unwrap()
}

pub fn debit(wallet: WalletId, minor: i64, reference_value: &str) -> DebitRequest {
    DebitRequest {
        wallet_id: wallet,
        amount: usd(minor),
        counterparty: revenue(),
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

pub fn credit(wallet: WalletId, minor: i64, reference_value: &str) -> CreditRequest {
    CreditRequest {
        wallet_id: wallet,
        amount: usd(minor),
        counterparty: Counterparty::parse("topup:paypal").unwrap(),
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

pub fn hold(
    wallet: WalletId,
    minor: i64,
    reference_value: &str,
    expires_at: DateTime<Utc>,
) -> HoldRequest {
    HoldRequest {
        wallet_id: wallet,
        amount: usd(minor),
        counterparty: revenue(),
        expires_at,
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}
