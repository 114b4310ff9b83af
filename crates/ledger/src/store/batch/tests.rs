use diesel::{
    QueryableByName,
    sql_types::{Array, Text, Uuid as SqlUuid},
};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use uuid::Uuid;

use super::FIND_ENTRIES;

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// Many wallets with one entry each, analysed, then one that grows to thousands (as a hot wallet
/// does between two runs of autovacuum): the statistics that made a plain join scan the big
/// wallet's history for every reference. A plan choice no timing would show in a small test,
/// so the plan itself is checked.
#[tokio::test]
async fn the_reference_lookup_reads_only_the_unique_index_however_big_a_wallet_grows() {
    let db = testkit::TestDb::new().await;
    let mut conn = db.conn().await;
    conn.batch_execute(
        "CREATE TEMP TABLE seeded AS
             SELECT gen_random_uuid() AS org, gen_random_uuid() AS wallet, n
             FROM generate_series(1, 3000) AS n;
         INSERT INTO organizations (id, name) SELECT org, 'seeded' FROM seeded;
         INSERT INTO wallets (id, organization_id, currency, balance)
             SELECT wallet, org, 'USD', CASE WHEN n = 1 THEN 5000 ELSE 1 END FROM seeded;
         INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change,
                                     balance_after, held_after, counterparty, reference, actor,
                                     created_at)
             SELECT gen_random_uuid(), wallet, 'credit', 1, 1, 0, 1, 0, 'topup:test', 'seed',
                    'system:test', now()
             FROM seeded WHERE n > 1;
         ANALYZE wallets, ledger_entries;
         INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change,
                                     balance_after, held_after, counterparty, reference, actor,
                                     created_at)
             SELECT gen_random_uuid(), wallet, 'credit', 1, 1, 0, i, 0, 'topup:test', 'ref-' || i,
                    'system:test', now()
             FROM seeded, generate_series(1, 5000) AS i WHERE n = 1 ORDER BY i;",
    )
    .await
    .unwrap();
    let hot: Uuid = {
        #[derive(QueryableByName)]
        struct Hot {
            #[diesel(sql_type = SqlUuid)]
            wallet: Uuid,
        }
        diesel::sql_query("SELECT wallet FROM seeded WHERE n = 1")
            .get_result::<Hot>(&mut conn)
            .await
            .unwrap()
            .wallet
    };
    let plan: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN {FIND_ENTRIES}"))
        .bind::<Array<SqlUuid>, _>(vec![hot; 32])
        .bind::<Array<Text>, _>((0..32).map(|i| format!("new-{i}")).collect::<Vec<_>>())
        .load(&mut conn)
        .await
        .unwrap();
    let plan = plan
        .into_iter()
        .map(|line| line.line)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("ledger_entries_reference_once"), "{plan}");
    assert!(!plan.contains("ledger_entries_history"), "{plan}");
}
