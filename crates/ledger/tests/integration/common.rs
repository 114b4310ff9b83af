//! Shared setup for the ledger's database tests.

use std::{pin::Pin, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbConfig, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use futures::future::{self, BoxFuture};
use ledger::{
    Actor, CaptureRequest, CorrectionRequest, Counterparty, CreditRequest, DebitRequest, Entry,
    Hold, HoldRequest, Ledger, LedgerError, LedgerWriter, Reason, Reference, ReleaseRequest,
    ReversalRequest, WriterConfig,
};
use primitives::{Currency, HoldId, ManualClock, Money, OrganizationId, WalletId};
use secrecy::SecretString;
use testkit::TestDb;

pub const USD: Currency = Currency::USD;

pub struct Fixture {
    /// Kept alive so the database is dropped only when the fixture is.
    db: TestDb,
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
            db,
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
        self.numbers(&format!("SELECT count(*) AS n FROM {table}"))
            .await[0]
    }

    /// The `n` column (a bigint) of every row `sql` returns.
    pub async fn numbers(&self, sql: &str) -> Vec<i64> {
        use diesel::{QueryableByName, sql_types::BigInt};
        #[derive(QueryableByName)]
        struct Number {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = self.conn().await;
        let rows: Vec<Number> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
        rows.into_iter().map(|row| row.n).collect()
    }

    /// The test database's URL, for pools and processes of a test's own.
    pub fn url(&self) -> String {
        self.db.url()
    }

    /// A pool of its own, shown as `application_name` in `pg_stat_activity`, so a test can
    /// find (and terminate) exactly the sessions of the code under test.
    pub fn named_pool(&self, application_name: &str) -> DbPool {
        let mut config = DbConfig::new(SecretString::from(self.url()), application_name);
        config.acquire_timeout = Duration::from_secs(60);
        db::connect_pool(&config).unwrap()
    }

    /// A batching writer over the fixture's pool and ledger (so its clock).
    pub fn writer(&self, config: WriterConfig) -> LedgerWriter {
        LedgerWriter::start(self.pool.clone(), self.ledger.clone(), config)
    }

    /// The pids of this database's sessions matching `condition` (SQL over `pg_stat_activity`),
    /// waiting up to 20 s for there to be one: so a race a test sets up really happens.
    pub async fn wait_for_sessions(&self, condition: &str) -> Vec<i64> {
        let sql = format!(
            "SELECT pid::bigint AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND ({condition})"
        );
        for _ in 0..2_000 {
            let pids = self.numbers(&sql).await;
            if !pids.is_empty() {
                return pids;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no session ever matched {condition}");
    }
}

/// A row lock another session holds in an open transaction until released: it makes the code
/// under test wait at a known point.
pub struct RowLock {
    release: tokio::sync::oneshot::Sender<()>,
    holder: tokio::task::JoinHandle<()>,
}

impl RowLock {
    /// Runs `sql` (e.g. `SELECT ... FOR UPDATE`) in a transaction of its own and returns once
    /// the locks are held.
    pub async fn take(f: &Fixture, sql: String) -> Self {
        use diesel_async::AsyncConnection;
        let mut conn = f.conn().await;
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = tokio::spawn(async move {
            conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
                diesel::sql_query(sql).execute(conn).await?;
                locked_tx.send(()).unwrap();
                // Dropped sender or a message: either way the lock goes with the transaction.
                let _ = release_rx.await;
                Ok(())
            })
            .await
            .unwrap();
        });
        locked_rx.await.unwrap();
        Self { release, holder }
    }

    /// Locks a wallet's row as every money movement does.
    pub async fn wallet(f: &Fixture, wallet: WalletId) -> Self {
        let id = wallet.as_uuid();
        Self::take(
            f,
            format!("SELECT id FROM wallets WHERE id = '{id}' FOR UPDATE"),
        )
        .await
    }

    /// Commits the holder's transaction, so the lock is gone when this returns.
    pub async fn release(self) {
        let _ = self.release.send(());
        self.holder.await.unwrap();
    }
}

/// Polls each future once, in the given order, then awaits them all. A writer's request joins
/// its shard's queue on its first poll (the queue has room), so the writer receives these in
/// exactly this order: the order its answers are decided in.
pub async fn in_order<T>(futures: Vec<BoxFuture<'_, T>>) -> Vec<T> {
    queue_then_join(futures, || {}).await
}

/// As [`in_order`], on a task of its own; returns once every request is queued.
pub async fn spawn_in_order<T: Send + 'static>(
    futures: Vec<BoxFuture<'static, T>>,
) -> tokio::task::JoinHandle<Vec<T>> {
    let (queued_tx, queued_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(queue_then_join(futures, move || {
        queued_tx.send(()).unwrap();
    }));
    queued_rx.await.unwrap();
    task
}

async fn queue_then_join<T>(futures: Vec<BoxFuture<'_, T>>, queued: impl FnOnce()) -> Vec<T> {
    let mut futures: Vec<_> = futures.into_iter().map(future::maybe_done).collect();
    for future in &mut futures {
        let _ = futures::poll!(Pin::new(future));
    }
    queued();
    future::join_all(futures.iter_mut()).await;
    futures
        .iter_mut()
        .map(|future| Pin::new(future).take_output().unwrap())
        .collect()
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

pub fn capture(
    wallet: WalletId,
    hold_id: HoldId,
    minor: i64,
    reference_value: &str,
) -> CaptureRequest {
    CaptureRequest {
        wallet_id: wallet,
        hold_id,
        amount: usd(minor),
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

pub fn release(wallet: WalletId, hold_id: HoldId, reference_value: &str) -> ReleaseRequest {
    ReleaseRequest {
        wallet_id: wallet,
        hold_id,
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

pub fn correction(wallet: WalletId, minor: i64, reference_value: &str) -> CorrectionRequest {
    CorrectionRequest {
        wallet_id: wallet,
        amount: usd(minor),
        reason: Reason::parse("duplicate PayPal top-up, ticket 42").unwrap(),
        reference: reference(reference_value),
        actor: Actor::admin(),
    }
}

pub fn reversal(wallet: WalletId, minor: i64, reference_value: &str) -> ReversalRequest {
    ReversalRequest {
        wallet_id: wallet,
        amount: usd(minor),
        counterparty: Counterparty::parse("chargeback:stripe").unwrap(),
        reference: reference(reference_value),
        actor: Actor::system("tests"),
    }
}

/// Any money movement, for tests that send mixed requests at once.
pub enum Req {
    Debit(DebitRequest),
    Credit(CreditRequest),
    Hold(HoldRequest),
    Capture(CaptureRequest),
    Release(ReleaseRequest),
    Reverse(ReversalRequest),
    Correct(CorrectionRequest),
}

/// A writer's answer to a [`Req`]: the entry, the hold (for holds), and whether it replayed.
pub type Answer = Result<(Entry, Option<Hold>, bool), LedgerError>;

/// The writer's answer to `request`, as a future that joins the writer's queue when first polled.
pub fn send(w: &LedgerWriter, request: Req) -> BoxFuture<'static, Answer> {
    let w = w.clone();
    Box::pin(async move {
        let outcome = match request {
            Req::Debit(r) => w.debit(r).await,
            Req::Credit(r) => w.credit(r).await,
            Req::Hold(r) => {
                let outcome = w.hold(r).await?;
                let receipt = outcome.value;
                return Ok((receipt.entry, Some(receipt.hold), outcome.replayed));
            }
            Req::Capture(r) => w.capture(r).await,
            Req::Release(r) => w.release(r).await,
            Req::Reverse(r) => w.reverse(r).await,
            Req::Correct(r) => w.correct(r).await,
        }?;
        Ok((outcome.value, None, outcome.replayed))
    })
}

/// Locks the wallet's row in the caller's open transaction, as a long-running writer would.
pub async fn lock_wallet_row(conn: &mut AsyncPgConnection, wallet: WalletId) {
    use diesel::QueryDsl;
    db::schema::wallets::table
        .find(wallet.as_uuid())
        .select(db::schema::wallets::id)
        .for_update()
        .get_result::<uuid::Uuid>(conn)
        .await
        .unwrap();
}
