//! The test's own session on the stack's database: to read what no endpoint shows (the rows
//! behind the books, inbox deliveries, recipients) and to end the services' sessions with
//! `pg_terminate_backend`. It names itself [`APPLICATION_NAME`], so the terminations spare it.

use diesel::{QueryableByName, pg::Pg, sql_types::BigInt, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

pub const APPLICATION_NAME: &str = "e2e-test";

pub struct Sql {
    conn: AsyncPgConnection,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Sessions ended, per service (`application_name`).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Ended {
    #[diesel(sql_type = Text)]
    pub application: String,
    #[diesel(sql_type = BigInt)]
    pub sessions: i64,
}

impl Sql {
    pub async fn connect(url: &str) -> Self {
        let mut conn = AsyncPgConnection::establish(url)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
        conn.batch_execute(&format!("SET application_name = '{APPLICATION_NAME}'"))
            .await
            .unwrap_or_else(|e| panic!("naming the test's session: {e}"));
        Self { conn }
    }

    /// The rows of `sql`.
    pub async fn rows<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: QueryableByName<Pg> + Send + 'static,
    {
        diesel::sql_query(sql)
            .load::<T>(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs `statements` as they are (several may be separated by `;`): `BEGIN; SELECT ...
    /// FOR UPDATE` holds a row lock on this session until a later `ROLLBACK`.
    pub async fn execute(&mut self, statements: &str) {
        self.conn
            .batch_execute(statements)
            .await
            .unwrap_or_else(|e| panic!("{statements}: {e}"));
    }

    /// What `count_sql` (`SELECT count(*) AS n ...`) counts.
    pub async fn count(&mut self, count_sql: &str) -> i64 {
        diesel::sql_query(count_sql)
            .get_result::<Count>(&mut self.conn)
            .await
            .unwrap_or_else(|e| panic!("{count_sql}: {e}"))
            .n
    }

    /// Ends every other session on this database (every service's pooled connections, and
    /// anything else the test opened under another name), as an operator's
    /// `pg_terminate_backend` or a crashed backend would; how many per service.
    pub async fn terminate_others(&mut self) -> Vec<Ended> {
        self.rows(&format!(
            "SELECT coalesce(nullif(application_name, ''), '(unnamed)') AS application, \
                    count(*) FILTER (WHERE pg_terminate_backend(pid)) AS sessions \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND application_name <> '{APPLICATION_NAME}' \
             GROUP BY 1 ORDER BY 1"
        ))
        .await
    }
}
