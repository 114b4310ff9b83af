//! The batching writer when things go wrong: its connection killed in the middle of a batch, and
//! a second process's writer moving the same wallets.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration as StdDuration, Instant},
};

use chrono::Duration;
use db::DbConfig;
use diesel_async::SimpleAsyncConnection;
use futures::future::BoxFuture;
use ledger::{HoldStatus, Ledger, LedgerError, LedgerWriter, WriterConfig};
use primitives::{HoldId, ManualClock, WalletId};
use secrecy::SecretString;

use crate::common::*;

/// The writer's pool shows this in `pg_stat_activity`, so the test kills exactly its session.
const WRITER_APP: &str = "ledger-writer-under-test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillPoint {
    /// Blocked on the wallet's row lock: nothing written yet.
    WaitingForTheWalletLock,
    /// The wallet locked, references and holds read, blocked inside the batch's one write
    /// statement (on a hold row another session locked), some of its rows already inserted.
    InsideTheWrite,
    /// Everything written, in COMMIT (a deferred trigger the test adds sleeps there).
    InsideTheCommit,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_killed_while_waiting_for_the_wallet_lock_applies_nothing_and_retries_apply_once() {
    killed_batch(KillPoint::WaitingForTheWalletLock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_killed_inside_its_write_applies_nothing_and_retries_apply_once() {
    killed_batch(KillPoint::InsideTheWrite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_killed_inside_its_commit_applies_nothing_and_retries_apply_once() {
    killed_batch(KillPoint::InsideTheCommit).await;
}

/// The batch's size: the writer's `max_batch` in these tests, so what queues behind it is another
/// batch.
const BATCH: usize = 7;

/// The batch: every kind of movement, each on what the one before left.
fn batch(w: &LedgerWriter, wallet: WalletId, hold_id: HoldId) -> Vec<BoxFuture<'static, Answer>> {
    let expires = start_time() + Duration::hours(1);
    vec![
        send(w, Req::Debit(debit(wallet, 100, "k-debit"))),
        send(w, Req::Credit(credit(wallet, 50, "k-credit"))),
        send(w, Req::Hold(hold(wallet, 200, "k-hold", expires))),
        send(w, Req::Capture(capture(wallet, hold_id, 120, "k-capture"))),
        send(w, Req::Release(release(wallet, hold_id, "k-release"))),
        send(w, Req::Reverse(reversal(wallet, 10, "k-reversal"))),
        send(w, Req::Correct(correction(wallet, -20, "k-correction"))),
    ]
}

/// The wallet's figures after each request of [`batch`], from (1000, 300).
const FIGURES: [(i64, i64); 7] = [
    (900, 300),
    (950, 300),
    (950, 500),
    (830, 380),
    (830, 200),
    (820, 200),
    (800, 200),
];

async fn killed_batch(point: KillPoint) {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let wallet = f.wallet;
    let plug_wallet = {
        let mut conn = f.conn().await;
        let plug_wallet = open_wallet(&f.ledger, &mut conn, USD).await;
        f.ledger
            .credit(&mut conn, credit(plug_wallet, 10, "fund"))
            .await
            .unwrap();
        plug_wallet
    };
    // One shard: the plug's batch (on the other wallet) holds the queue while the batch forms.
    let w = LedgerWriter::start(
        f.named_pool(WRITER_APP),
        f.ledger.clone(),
        WriterConfig {
            max_batch: BATCH,
            shards: 1,
        },
    );
    let budget = w
        .hold(hold(
            wallet,
            300,
            "budget",
            start_time() + Duration::hours(1),
        ))
        .await
        .unwrap()
        .value
        .hold;
    let entries = f.count("ledger_entries").await;
    let holds = f.count("holds").await;
    let writer_session =
        |condition: &str| format!("application_name = '{WRITER_APP}' AND {condition}");
    if point == KillPoint::InsideTheCommit {
        stall_commits_of(&f, "k-%").await;
    }

    let plug_lock = RowLock::wallet(&f, plug_wallet).await;
    let plug = {
        let w = w.clone();
        tokio::spawn(async move { w.credit(credit(plug_wallet, 5, "plug")).await })
    };
    f.wait_for_sessions(&writer_session("wait_event_type = 'Lock'"))
        .await;
    let obstacle = match point {
        KillPoint::WaitingForTheWalletLock => Some(RowLock::wallet(&f, wallet).await),
        KillPoint::InsideTheWrite => Some(
            RowLock::take(
                &f,
                format!(
                    "SELECT id FROM holds WHERE id = '{}' FOR UPDATE",
                    budget.id.as_uuid()
                ),
            )
            .await,
        ),
        KillPoint::InsideTheCommit => None,
    };
    // Right behind it, in the next batch (`max_batch` is the batch's size), innocent requests on
    // the plug's wallet: the killed batch must not take them down too (its connection must not
    // serve them).
    let mut requests = batch(&w, wallet, budget.id);
    requests.extend((0..3).map(|i| {
        send(
            &w,
            Req::Credit(credit(plug_wallet, 1, &format!("next-{i}"))),
        )
    }));
    let answers = spawn_in_order(requests).await;
    plug_lock.release().await;
    assert!(!plug.await.unwrap().unwrap().replayed);
    let reached = match point {
        KillPoint::WaitingForTheWalletLock => {
            "wait_event_type = 'Lock' AND query LIKE 'SELECT%FOR UPDATE%'"
        }
        KillPoint::InsideTheWrite => "wait_event_type = 'Lock' AND query LIKE 'WITH new_holds%'",
        KillPoint::InsideTheCommit => "wait_event = 'PgSleep'",
    };
    let pids = f.wait_for_sessions(&writer_session(reached)).await;
    assert_eq!(pids.len(), 1, "one batch in flight");
    let killed = f
        .numbers(&format!(
            "SELECT pg_terminate_backend({})::int::bigint AS n",
            pids[0]
        ))
        .await;
    assert_eq!(killed, [1]);
    let mut answers = answers.await.unwrap();
    for (i, answer) in answers.split_off(BATCH).into_iter().enumerate() {
        match answer {
            Ok((_, _, false)) => {}
            other => panic!("request {i} of the next batch answered {other:?}"),
        }
    }
    for (i, answer) in answers.into_iter().enumerate() {
        match answer {
            Err(error @ LedgerError::Unavailable { .. }) => {
                assert!(error.is_retryable(), "{error:?}");
                assert_eq!(error.code(), "LEDGER_UNAVAILABLE");
            }
            other => panic!("request {i} of the killed batch answered {other:?}"),
        }
    }
    if let Some(lock) = obstacle {
        lock.release().await;
    }
    if point == KillPoint::InsideTheCommit {
        let mut conn = f.conn().await;
        conn.batch_execute("DROP TRIGGER stall_commit ON ledger_entries")
            .await
            .unwrap();
    }

    // Nothing of the batch is in the books.
    assert_eq!(
        f.count("ledger_entries").await,
        entries + 4,
        "only the plug and the next batch"
    );
    assert_eq!(f.count("holds").await, holds);
    assert_eq!(f.balance().await, (1_000, 300));
    let mut conn = f.conn().await;
    let stored = f
        .ledger
        .hold_details(&mut conn, wallet, budget.id)
        .await
        .unwrap();
    assert_eq!(stored, budget, "the hold is as before the batch");

    // The same requests again: each applies once, in order; then once more: replays.
    let retried = in_order(batch(&w, wallet, budget.id)).await;
    let mut applied = Vec::new();
    for (i, answer) in retried.into_iter().enumerate() {
        let (entry, _, replayed) = answer.unwrap_or_else(|e| panic!("retry {i}: {e:?}"));
        assert!(!replayed, "retry {i}");
        assert_eq!(
            (entry.balance_after.minor(), entry.held_after.minor()),
            FIGURES[i],
            "retry {i}"
        );
        applied.push(entry);
    }
    let again = in_order(batch(&w, wallet, budget.id)).await;
    for (i, answer) in again.into_iter().enumerate() {
        let (entry, _, replayed) = answer.unwrap();
        assert!(replayed, "second retry {i}");
        assert_eq!(entry, applied[i]);
    }
    assert_eq!(f.count("ledger_entries").await, entries + 4 + 7);
    assert_eq!(f.balance().await, (800, 200));
    let stored = f
        .ledger
        .hold_details(&mut conn, wallet, budget.id)
        .await
        .unwrap();
    assert_eq!(
        (stored.status, stored.captured, stored.released),
        (HoldStatus::Released, usd(120), usd(180))
    );
    f.assert_reconciled().await;
}

/// Makes every commit of an entry whose reference is LIKE `pattern` sleep, so a test can catch
/// the writer inside COMMIT.
async fn stall_commits_of(f: &Fixture, pattern: &str) {
    let mut conn = f.conn().await;
    conn.batch_execute(&format!(
        "CREATE FUNCTION stall_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_sleep(30); RETURN NULL; END; $$; \
         CREATE CONSTRAINT TRIGGER stall_commit AFTER INSERT ON ledger_entries \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
         WHEN (NEW.reference LIKE '{pattern}') EXECUTE FUNCTION stall_commit();"
    ))
    .await
    .unwrap();
}

// Two processes.

const CHILD_DATABASE_URL: &str = "LEDGER_TEST_CHILD_DATABASE_URL";
const CHILD_WALLETS: &str = "LEDGER_TEST_CHILD_WALLETS";
/// How long each process's writer works.
const RUN_FOR: StdDuration = StdDuration::from_millis(1_500);

/// What one process's writer did: per kind, entries applied and their total amount; and how
/// many answers were replays, refusals, or failures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Tally {
    counts: BTreeMap<String, (i64, i64)>,
}

impl Tally {
    fn add(&mut self, key: &str, amount: i64) {
        let slot = self.counts.entry(key.to_owned()).or_default();
        slot.0 += 1;
        slot.1 += amount;
    }

    fn count(&self, key: &str) -> i64 {
        self.counts.get(key).map_or(0, |slot| slot.0)
    }

    fn merge(&mut self, other: &Self) {
        for (key, (count, sum)) in &other.counts {
            let slot = self.counts.entry(key.clone()).or_default();
            slot.0 += count;
            slot.1 += sum;
        }
    }

    fn encode(&self) -> String {
        self.counts
            .iter()
            .map(|(key, (count, sum))| format!("{key}={count}/{sum}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn decode(line: &str) -> Self {
        let mut tally = Self::default();
        for token in line.split_whitespace() {
            let (key, figures) = token.split_once('=').unwrap();
            let (count, sum) = figures.split_once('/').unwrap();
            tally.counts.insert(
                key.to_owned(),
                (count.parse().unwrap(), sum.parse().unwrap()),
            );
        }
        tally
    }

    /// Counts one answer: an applied entry under its kind (and `shared` for shared references),
    /// otherwise as a replay, a refusal (by code) or a failure.
    fn record(&mut self, answer: &Answer, shared: bool) {
        match answer {
            Ok((entry, _, false)) => {
                self.add(entry.kind.as_str(), entry.amount.minor());
                if shared {
                    self.add("shared", entry.amount.minor());
                }
            }
            Ok((_, _, true)) => self.add("replayed", 0),
            Err(error) if error.is_retryable() => self.add("unavailable", 0),
            Err(error) => self.add(&format!("refused:{}", error.code()), 0),
        }
    }
}

/// A small deterministic generator, so each task's mix differs without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> i64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n) as i64
    }
}

/// Debits, credits, holds with captures and releases, retries of its own requests, and debits
/// under references both processes use (`shared-<k>` on the first wallet), from several tasks,
/// until `run_for` has passed. `tag` prefixes this process's own references.
async fn exercise(w: LedgerWriter, wallets: [WalletId; 2], tag: &'static str) -> Tally {
    const TASKS: u64 = 6;
    let until = Instant::now() + RUN_FOR;
    let shared = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (w, shared) = (w.clone(), Arc::clone(&shared));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut rng =
                    Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1) ^ (u64::from(tag.as_bytes()[0]) << 40));
                let expires = start_time() + Duration::hours(1);
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let wallet = wallets[rng.below(2) as usize];
                    let r = format!("{tag}-{task}-{n}");
                    match rng.below(10) {
                        0..=3 => {
                            let request = debit(wallet, 1 + rng.below(40), &r);
                            let answer = send(&w, Req::Debit(request.clone())).await;
                            tally.record(&answer, false);
                            if rng.below(4) == 0 {
                                let again = send(&w, Req::Debit(request)).await;
                                // After a success the retry replays it, whatever else ran
                                // since (a failed batch is counted as `unavailable`).
                                match (&answer, &again) {
                                    (Ok(first), Ok(second)) => {
                                        assert!(second.2, "{second:?}");
                                        assert_eq!(first.0, second.0);
                                    }
                                    (Ok(_), Err(error)) if !error.is_retryable() => {
                                        panic!("retry after success: {error:?}")
                                    }
                                    _ => {}
                                }
                                tally.record(&again, false);
                            }
                        }
                        4 | 5 => {
                            let answer =
                                send(&w, Req::Credit(credit(wallet, 1 + rng.below(30), &r))).await;
                            tally.record(&answer, false);
                        }
                        6 => {
                            let k = shared.fetch_add(1, Ordering::Relaxed);
                            let request = debit(wallets[0], 5, &format!("shared-{k}"));
                            tally.record(&send(&w, Req::Debit(request)).await, true);
                        }
                        _ => {
                            let amount = 1 + rng.below(60);
                            let answer =
                                send(&w, Req::Hold(hold(wallet, amount, &r, expires))).await;
                            tally.record(&answer, false);
                            if let Ok((_, Some(held), false)) = answer {
                                let part = 1 + rng.below(amount as u64);
                                let captured = send(
                                    &w,
                                    Req::Capture(capture(wallet, held.id, part, &format!("{r}-c"))),
                                )
                                .await;
                                tally.record(&captured, false);
                                if part < amount {
                                    let released = send(
                                        &w,
                                        Req::Release(release(wallet, held.id, &format!("{r}-r"))),
                                    )
                                    .await;
                                    tally.record(&released, false);
                                }
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(&task.await.unwrap());
    }
    total
}

/// The second process of [`two_processes_writers_on_the_same_wallets_keep_g1_to_g4`]: started by
/// it with a database and two wallets, it runs [`exercise`] and prints its tally.
#[test]
#[ignore = "the second process of two_processes_writers_on_the_same_wallets_keep_g1_to_g4"]
fn child_writer() {
    // Run by hand (`--ignored`) there is no parent and nothing to do.
    let (Ok(url), Ok(wallets)) = (
        std::env::var(CHILD_DATABASE_URL),
        std::env::var(CHILD_WALLETS),
    ) else {
        return;
    };
    let wallets: Vec<WalletId> = wallets
        .split(',')
        .map(|id| WalletId::from_uuid(id.parse().unwrap()))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool =
            db::connect_pool(&DbConfig::new(SecretString::from(url), "ledger-child")).unwrap();
        let ledger = Ledger::new(Arc::new(ManualClock::new(start_time())));
        let mut conn = pool.get().await.unwrap();
        ledger.balance(&mut conn, wallets[0]).await.unwrap();
        drop(conn);
        let w = LedgerWriter::start(
            pool,
            ledger,
            WriterConfig {
                max_batch: 16,
                shards: 2,
            },
        );
        println!("CHILD_READY");
        let tally = exercise(w, [wallets[0], wallets[1]], "c").await;
        println!("CHILD_TALLY {}", tally.encode());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_writers_on_the_same_wallets_keep_g1_to_g4() {
    let f = Fixture::new().await;
    let a = f.wallet;
    let b = {
        let mut conn = f.conn().await;
        open_wallet(&f.ledger, &mut conn, USD).await
    };
    for wallet in [a, b] {
        let mut conn = f.conn().await;
        f.ledger
            .credit(&mut conn, credit(wallet, 3_000, "fund"))
            .await
            .unwrap();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "writer_faults::child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DATABASE_URL, f.url())
        .env(CHILD_WALLETS, format!("{},{}", a.as_uuid(), b.as_uuid()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut seen = Vec::new();
    let mut next_marked = async |marker: &str| -> Option<String> {
        while let Some(line) = tokio::time::timeout(StdDuration::from_secs(60), lines.recv())
            .await
            .ok()
            .flatten()
        {
            if let Some(rest) = line.strip_prefix(marker) {
                return Some(rest.trim().to_owned());
            }
            seen.push(line);
        }
        None
    };
    let ready = next_marked("CHILD_READY").await;
    let parent = {
        let w = f.writer(WriterConfig {
            max_batch: 16,
            shards: 2,
        });
        assert!(ready.is_some(), "the child never got ready");
        exercise(w, [a, b], "p").await
    };
    let child_tally = next_marked("CHILD_TALLY").await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let stderr = stderr.join().unwrap();
    let child_tally = match (status.success(), child_tally) {
        (true, Some(line)) => Tally::decode(&line),
        (_, line) => panic!("the child failed ({status}): {line:?}\n{seen:?}\n{stderr}"),
    };

    // No batch failed in either process (a deadlock between them would have).
    assert_eq!(parent.count("unavailable"), 0, "{parent:?}");
    assert_eq!(child_tally.count("unavailable"), 0, "{child_tally:?}");
    // Each process's applied movements are exactly the books' entries, kind by kind.
    let mut both = parent.clone();
    both.merge(&child_tally);
    let ids = format!("'{}', '{}'", a.as_uuid(), b.as_uuid());
    for kind in ["debit", "credit", "hold", "capture", "release"] {
        let stored = f
            .numbers(&format!(
                "SELECT count(*) AS n FROM ledger_entries \
                 WHERE wallet_id IN ({ids}) AND kind = '{kind}' AND reference <> 'fund' \
                 UNION ALL SELECT COALESCE(sum(amount), 0)::bigint FROM ledger_entries \
                 WHERE wallet_id IN ({ids}) AND kind = '{kind}' AND reference <> 'fund'"
            ))
            .await;
        let counted = both.counts.get(kind).copied().unwrap_or_default();
        assert_eq!((stored[0], stored[1]), counted, "{kind}: {both:?}");
    }
    assert!(
        both.count("debit") > 50 && both.count("hold") > 10,
        "{both:?}"
    );
    // Shared references: each moved money at most once, whichever process sent it first.
    let shared = f
        .numbers("SELECT count(*) AS n FROM ledger_entries WHERE reference LIKE 'shared-%'")
        .await;
    assert_eq!(shared[0], both.count("shared"), "{both:?}");
    assert!(both.count("replayed") > 0, "{both:?}");
    let duplicates = f
        .numbers(
            "SELECT count(*) AS n FROM (SELECT 1 FROM ledger_entries \
             GROUP BY wallet_id, reference HAVING count(*) > 1) AS d",
        )
        .await;
    assert_eq!(duplicates, [0]);
    // G1 after every entry, and G4: the chains and the sums hold.
    let negative = f
        .numbers(
            "SELECT count(*) AS n FROM ledger_entries \
             WHERE balance_after < 0 OR held_after < 0 OR held_after > balance_after",
        )
        .await;
    assert_eq!(negative, [0]);
    let mut conn = f.conn().await;
    for wallet in [a, b] {
        let report = f.ledger.reconcile(&mut conn, wallet).await.unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
    assert!(f.ledger.reconcile_all(&mut conn).await.unwrap().is_empty());
    // The two really ran at once: their entries interleave in the books.
    let switches = f
        .numbers(&format!(
            "SELECT count(*) AS n FROM ( \
               SELECT left(reference, 2) <> lag(left(reference, 2)) OVER (ORDER BY seq) AS switched \
               FROM ledger_entries WHERE wallet_id IN ({ids}) \
                 AND (reference LIKE 'p-%' OR reference LIKE 'c-%')) AS s WHERE switched"
        ))
        .await;
    assert!(
        switches[0] >= 10,
        "the processes barely overlapped: {switches:?}"
    );
}
