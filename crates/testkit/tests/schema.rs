//! `db::schema` must describe the migrated database: the same tables, and for each table the same
//! columns in the same order with the same nullability. Otherwise diesel queries compile against
//! a schema that does not exist and fail only at run time.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use db::schema;
use diesel::{
    Column, Expression, QueryableByName, Table,
    sql_types::{SqlType, Text, is_nullable},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use testkit::TestDb;

/// Whether a column's SQL type is `Nullable<_>`, read off diesel's type-level marker.
trait NullFlag {
    const NULLABLE: bool;
}

impl NullFlag for is_nullable::IsNullable {
    const NULLABLE: bool = true;
}

impl NullFlag for is_nullable::NotNull {
    const NULLABLE: bool = false;
}

/// `(name, nullable)` for each column of an `all_columns` tuple.
trait ColumnList {
    fn describe() -> Vec<(String, bool)>;
}

macro_rules! impl_column_list {
    (@impl $($column:ident),+) => {
        impl<$($column),+> ColumnList for ($($column,)+)
        where
            $(
                $column: Column,
                <$column as Expression>::SqlType: SqlType,
                <<$column as Expression>::SqlType as SqlType>::IsNull: NullFlag,
            )+
        {
            fn describe() -> Vec<(String, bool)> {
                vec![$((
                    $column::NAME.to_owned(),
                    <<<$column as Expression>::SqlType as SqlType>::IsNull as NullFlag>::NULLABLE,
                )),+]
            }
        }
    };
    ($first:ident $(, $rest:ident)*) => {
        impl_column_list!(@impl $first $(, $rest)*);
        impl_column_list!($($rest),*);
    };
    () => {};
}

// Up to 24 columns, the widest table (`campaigns` has 23); diesel itself allows 32.
impl_column_list!(
    C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17, C18, C19, C20, C21,
    C22, C23, C24
);

fn diesel_columns<T>(_table: T) -> Vec<(String, bool)>
where
    T: Table,
    T::AllColumns: ColumnList,
{
    <T::AllColumns as ColumnList>::describe()
}

#[derive(QueryableByName)]
struct DbColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    nullable: String,
}

async fn database_columns(conn: &mut AsyncPgConnection, table: &str) -> Vec<(String, bool)> {
    let rows: Vec<DbColumn> = diesel::sql_query(
        "SELECT column_name::text AS name, is_nullable::text AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 \
         ORDER BY ordinal_position",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|row| (row.name, row.nullable == "YES"))
        .collect()
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[tokio::test]
async fn diesel_schema_matches_the_migrated_database() {
    let expected = [
        (
            "organizations",
            diesel_columns(schema::organizations::table),
        ),
        ("api_keys", diesel_columns(schema::api_keys::table)),
        ("wallets", diesel_columns(schema::wallets::table)),
        (
            "wallet_freeze_events",
            diesel_columns(schema::wallet_freeze_events::table),
        ),
        ("holds", diesel_columns(schema::holds::table)),
        (
            "ledger_entries",
            diesel_columns(schema::ledger_entries::table),
        ),
        (
            "outbox_messages",
            diesel_columns(schema::outbox_messages::table),
        ),
        (
            "subscriptions",
            diesel_columns(schema::subscriptions::table),
        ),
        (
            "subscription_events",
            diesel_columns(schema::subscription_events::table),
        ),
        (
            "subscription_transitions",
            diesel_columns(schema::subscription_transitions::table),
        ),
        (
            "access_blocks",
            diesel_columns(schema::access_blocks::table),
        ),
        (
            "access_block_events",
            diesel_columns(schema::access_block_events::table),
        ),
        ("brands", diesel_columns(schema::brands::table)),
        ("campaigns", diesel_columns(schema::campaigns::table)),
        (
            "campaign_holds",
            diesel_columns(schema::campaign_holds::table),
        ),
        (
            "campaign_batches",
            diesel_columns(schema::campaign_batches::table),
        ),
        (
            "campaign_recipients",
            diesel_columns(schema::campaign_recipients::table),
        ),
        (
            "webhook_inbox",
            diesel_columns(schema::webhook_inbox::table),
        ),
        ("risk_cases", diesel_columns(schema::risk_cases::table)),
        (
            "provider_payments",
            diesel_columns(schema::provider_payments::table),
        ),
        ("top_ups", diesel_columns(schema::top_ups::table)),
        (
            "customer_requests",
            diesel_columns(schema::customer_requests::table),
        ),
        (
            "console_sessions",
            diesel_columns(schema::console_sessions::table),
        ),
        (
            "operator_actions",
            diesel_columns(schema::operator_actions::table),
        ),
    ];
    let db = TestDb::new().await;
    let mut conn = db.conn().await;

    for (table, columns) in &expected {
        assert_eq!(
            &database_columns(&mut conn, table).await,
            columns,
            "db::schema::{table} differs from the migrated table (name, nullable)"
        );
    }

    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
           AND table_name <> '__diesel_schema_migrations' \
         ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut in_database: Vec<_> = tables.into_iter().map(|t| t.name).collect();
    let mut in_schema: Vec<_> = expected.iter().map(|(t, _)| (*t).to_owned()).collect();
    in_database.sort();
    in_schema.sort();
    assert_eq!(
        in_database, in_schema,
        "every migrated table needs a table! in db::schema (and a line in this test)"
    );
}
