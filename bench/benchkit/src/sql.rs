//! Short, stable names for the statements a trace sees (diesel's instrumentation hook gives the
//! full SQL text).

/// The SQL with its whitespace folded to single spaces.
pub fn normalize(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A statement's verb and main table, then each of `markers` the statement contains, in that
/// order; e.g. `SELECT wallets FOR UPDATE` for markers `["FOR UPDATE", "RETURNING"]`. The first
/// 40 characters when it names no table (`BEGIN`, `COMMIT`).
pub fn label(sql: &str, markers: &[&str]) -> String {
    let upper = sql.to_ascii_uppercase();
    let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
    let table_after = |keyword: &str| {
        upper.find(keyword).map(|at| {
            sql[at + keyword.len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_matches(|c: char| c == '"' || c == '(' || c == ')')
                .to_owned()
        })
    };
    let table = match verb.as_str() {
        "SELECT" => table_after(" FROM "),
        "INSERT" => table_after("INSERT INTO "),
        "UPDATE" => table_after("UPDATE "),
        "DELETE" => table_after(" FROM "),
        _ => None,
    };
    let mut label = match table {
        Some(table) if !table.is_empty() => format!("{verb} {table}"),
        _ => sql.chars().take(40).collect(),
    };
    for marker in markers {
        if upper.contains(marker) {
            label.push(' ');
            label.push_str(marker);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKERS: [&str; 2] = ["FOR UPDATE", "RETURNING"];

    #[test]
    fn statements_get_short_labels() {
        let lock = r#"SELECT "wallets"."id", "wallets"."balance" FROM "wallets" WHERE ("wallets"."id" = $1) LIMIT $2 FOR UPDATE"#;
        assert_eq!(label(lock, &MARKERS), "SELECT wallets FOR UPDATE");
        let insert =
            r#"INSERT INTO "ledger_entries" ("id") VALUES ($1) RETURNING "ledger_entries"."id""#;
        assert_eq!(label(insert, &MARKERS), "INSERT ledger_entries RETURNING");
        assert_eq!(
            label(r#"UPDATE "holds" SET "status" = $1"#, &MARKERS),
            "UPDATE holds"
        );
        assert_eq!(
            label(r#"DELETE FROM "outbox" WHERE "id" = $1"#, &MARKERS),
            "DELETE outbox"
        );
        assert_eq!(
            label("SELECT DISTINCT a FROM t", &["DISTINCT", "FOR UPDATE"]),
            "SELECT t DISTINCT"
        );
        assert_eq!(label("BEGIN", &MARKERS), "BEGIN");
        assert_eq!(normalize("SELECT  1\n FROM\tt "), "SELECT 1 FROM t");
    }
}
