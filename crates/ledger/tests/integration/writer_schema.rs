//! The commit-time checks the batching writer relies on (migration
//! 2026-12-07-000012_ledger_batch_checks): a wallet update is checked at commit, once per update;
//! entries are checked at the end of each statement that inserts them, for every wallet they
//! belong to. Raw SQL stands in for a buggy writer here.

use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use primitives::WalletId;

use crate::common::*;

/// An entry continuing `wallet`'s chain: a credit of `amount` on top of `balance` (held 0).
fn credit_entry(wallet: WalletId, balance: i64, amount: i64, reference_value: &str) -> String {
    format!(
        "(gen_random_uuid(), '{}', 'credit', {amount}, {amount}, 0, {}, 0, 'topup:raw', \
          '{reference_value}', 'tests', now())",
        wallet.as_uuid(),
        balance + amount
    )
}

fn insert_entries(values: &[String]) -> String {
    format!(
        "INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change, \
         balance_after, held_after, counterparty, reference, actor, created_at) VALUES {}",
        values.join(", ")
    )
}

fn set_balance(wallet: WalletId, balance: i64) -> String {
    format!(
        "UPDATE wallets SET balance = {balance} WHERE id = '{}'",
        wallet.as_uuid()
    )
}

/// Runs `statements` one by one in a transaction and commits it. `Err((i, message))`: statement
/// `i` failed (`i == statements.len()`: the commit did); everything was rolled back.
async fn run_transaction(f: &Fixture, statements: &[String]) -> Result<(), (usize, String)> {
    let mut conn = f.conn().await;
    conn.batch_execute("BEGIN").await.unwrap();
    for (i, statement) in statements.iter().enumerate() {
        if let Err(error) = diesel::sql_query(statement).execute(&mut conn).await {
            conn.batch_execute("ROLLBACK").await.unwrap();
            return Err((i, error.to_string()));
        }
    }
    conn.batch_execute("COMMIT")
        .await
        .map_err(|error| (statements.len(), error.to_string()))
}

async fn second_wallet(f: &Fixture, funds: i64) -> WalletId {
    let mut conn = f.conn().await;
    let wallet = open_wallet(&f.ledger, &mut conn, USD).await;
    f.ledger
        .credit(&mut conn, credit(wallet, funds, "fund"))
        .await
        .unwrap();
    wallet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_balance_update_passes_its_statement_and_fails_at_commit() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let result =
        run_transaction(&f, &["UPDATE wallets SET balance = balance + 1".to_owned()]).await;
    match result {
        Err((1, message)) => assert!(
            message.contains("differ from its latest entry"),
            "{message}"
        ),
        other => panic!("the update must fail at commit: {other:?}"),
    }
    // Also when an entry was written first and the wallet drifts after it.
    let result = run_transaction(
        &f,
        &[
            set_balance(f.wallet, 1_010),
            insert_entries(&[credit_entry(f.wallet, 1_000, 10, "raw-1")]),
            set_balance(f.wallet, 1_011),
        ],
    )
    .await;
    assert!(matches!(result, Err((3, _))), "{result:?}");
    assert_eq!(f.balance().await, (1_000, 0));
    assert_eq!(f.count("ledger_entries").await, 1);
    f.assert_reconciled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_entry_without_its_wallet_following_fails_at_its_statement() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    // The wallet is updated only after the entry: too late, the entry's statement fails.
    let result = run_transaction(
        &f,
        &[
            insert_entries(&[credit_entry(f.wallet, 1_000, 10, "raw-1")]),
            set_balance(f.wallet, 1_010),
        ],
    )
    .await;
    match result {
        Err((0, message)) => assert!(
            message.contains("differ from its latest entry"),
            "{message}"
        ),
        other => panic!("the insert must fail at once: {other:?}"),
    }
    // Two entries in one statement: the wallet must show the latest, not the first.
    let result = run_transaction(
        &f,
        &[
            set_balance(f.wallet, 1_010),
            insert_entries(&[
                credit_entry(f.wallet, 1_000, 10, "raw-1"),
                credit_entry(f.wallet, 1_010, 5, "raw-2"),
            ]),
        ],
    )
    .await;
    assert!(matches!(result, Err((1, _))), "{result:?}");
    assert_eq!(f.balance().await, (1_000, 0));
    assert_eq!(f.count("ledger_entries").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_for_two_wallets_in_one_statement_fail_when_one_wallet_does_not_follow() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let other = second_wallet(&f, 500).await;
    let both = insert_entries(&[
        credit_entry(f.wallet, 1_000, 10, "raw-a"),
        credit_entry(other, 500, 20, "raw-b"),
    ]);
    // Either wallet left behind fails the statement.
    for moved in [f.wallet, other] {
        let update = if moved == f.wallet {
            set_balance(f.wallet, 1_010)
        } else {
            set_balance(other, 520)
        };
        let result = run_transaction(&f, &[update, both.clone()]).await;
        match result {
            Err((1, message)) => {
                let behind = if moved == f.wallet { other } else { f.wallet };
                assert!(
                    message.contains(&behind.as_uuid().to_string()),
                    "names the wallet left behind: {message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(f.count("ledger_entries").await, 2);
    // Both following (the writer's way: wallets first, entries after, here in one transaction
    // moving each wallet once for several entries) commits.
    let result = run_transaction(
        &f,
        &[
            set_balance(f.wallet, 1_015),
            set_balance(other, 520),
            insert_entries(&[
                credit_entry(f.wallet, 1_000, 10, "raw-a"),
                credit_entry(other, 500, 20, "raw-b"),
                credit_entry(f.wallet, 1_010, 5, "raw-a2"),
            ]),
        ],
    )
    .await;
    assert_eq!(result, Ok(()));
    assert_eq!(f.balance().await, (1_015, 0));
    let mut conn = f.conn().await;
    assert!(f.ledger.reconcile_all(&mut conn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_transaction_moving_a_wallet_many_times_commits_when_each_statement_is_followed() {
    let f = Fixture::new().await;
    f.fund(1_000).await;
    let mut statements = Vec::new();
    for i in 0..20 {
        let balance = 1_000 + 10 * i;
        statements.push(set_balance(f.wallet, balance + 10));
        statements.push(insert_entries(&[credit_entry(
            f.wallet,
            balance,
            10,
            &format!("raw-{i}"),
        )]));
    }
    assert_eq!(run_transaction(&f, &statements).await, Ok(()));
    assert_eq!(f.balance().await, (1_200, 0));
    f.assert_reconciled().await;
    // The ledger keeps working on top of it.
    let mut conn = f.conn().await;
    let entry = f
        .ledger
        .debit(&mut conn, debit(f.wallet, 200, "after"))
        .await
        .unwrap()
        .value;
    assert_eq!(entry.balance_after, usd(1_000));
    // A caller's transaction combining raw entries and ledger calls is checked the same way.
    let ledger = f.ledger.clone();
    let wallet = f.wallet;
    let result = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            ledger
                .credit(conn, credit(wallet, 5, "in-tx"))
                .await
                .unwrap();
            diesel::sql_query("UPDATE wallets SET held = held + 1")
                .execute(conn)
                .await?;
            Ok(())
        })
        .await;
    assert!(
        result.is_err(),
        "the drift after the ledger's entry fails at commit"
    );
    assert_eq!(f.balance().await, (1_000, 0));
    f.assert_reconciled().await;
}
