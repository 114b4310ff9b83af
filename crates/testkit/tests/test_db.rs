//! TestDb itself: migrated, isolated, dropped afterwards.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bool, Text},
};
use diesel_async::RunQueryDsl;
use testkit::TestDb;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

async fn organization_count(db: &TestDb) -> i64 {
    let mut conn = db.conn().await;
    let row: Count = diesel::sql_query("SELECT count(*) AS n FROM organizations")
        .get_result(&mut conn)
        .await
        .unwrap();
    row.n
}

#[tokio::test]
async fn two_test_databases_do_not_see_each_other() {
    let (a, b) = tokio::join!(TestDb::new(), TestDb::new());
    assert_ne!(a.name(), b.name());

    let mut conn = a.conn().await;
    diesel::sql_query(
        "INSERT INTO organizations (id, name) VALUES ('018f0000-0000-7000-8000-000000000001', 'a')",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    assert_eq!(organization_count(&a).await, 1);
    assert_eq!(organization_count(&b).await, 0);
}

#[derive(QueryableByName)]
struct Session {
    #[diesel(sql_type = Text)]
    database: String,
    #[diesel(sql_type = Text)]
    statement_timeout: String,
    #[diesel(sql_type = Text)]
    application_name: String,
}

#[tokio::test]
async fn the_pool_reaches_the_same_database_with_session_settings() {
    let db = TestDb::new().await;
    let pool = db.pool();
    let mut conn = pool.get().await.unwrap();
    let session: Session = diesel::sql_query(
        "SELECT current_database()::text AS database, \
                current_setting('statement_timeout') AS statement_timeout, \
                current_setting('application_name') AS application_name",
    )
    .get_result(&mut conn)
    .await
    .unwrap();
    assert_eq!(session.database, db.name());
    assert_eq!(session.statement_timeout, "5s");
    assert_eq!(session.application_name, "testkit");
}

#[tokio::test]
async fn an_empty_database_has_no_schema_and_a_dropped_one_is_gone() {
    let empty = TestDb::empty().await;
    let mut conn = empty.conn().await;
    let found: Exists =
        diesel::sql_query("SELECT to_regclass('organizations') IS NOT NULL AS exists")
            .get_result(&mut conn)
            .await
            .unwrap();
    assert!(!found.exists);

    let dropped = TestDb::new().await;
    let name = dropped.name().to_owned();
    drop(dropped);
    let still_there: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<Text, _>(&name)
            .get_result(&mut conn)
            .await
            .unwrap();
    assert!(!still_there.exists, "{name} should have been dropped");
}
