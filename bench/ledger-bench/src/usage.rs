//! Cost per operation beyond latency: client CPU (this process for the ledger, the waited-for
//! pgbench child for the baseline) and WAL bytes written by the server.

use std::sync::OnceLock;

use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// CPU time from /proc/self/stat, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// This process (all threads): user + system.
    pub own: u64,
    /// Children that have been waited for (pgbench): user + system.
    pub children: u64,
}

pub fn cpu() -> Cpu {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Cpu::default();
    };
    // The command name may contain spaces; the fields after it start at field 3 (state).
    let Some((_, after)) = stat.rsplit_once(')') else {
        return Cpu::default();
    };
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    Cpu {
        own: field(14) + field(15),
        children: field(16) + field(17),
    }
}

/// Microseconds per operation from a tick delta.
pub fn ticks_to_us_per_op(ticks: u64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| {
        let us = ticks as f64 * 1_000_000.0 / clock_ticks_per_second() as f64;
        (us / ops as f64).round()
    })
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

#[derive(QueryableByName)]
struct Lsn {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// The server's WAL insert position in bytes (cluster-wide: other databases' writes count too).
pub async fn wal_position(conn: &mut AsyncPgConnection) -> Option<i64> {
    diesel::sql_query("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS bytes")
        .get_result::<Lsn>(conn)
        .await
        .ok()
        .map(|row| row.bytes)
}

pub fn per_op(before: Option<i64>, after: Option<i64>, ops: u64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (ops > 0).then(|| ((after - before) as f64 / ops as f64).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_some_cpu_or_reads_zero() {
        let first = cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu().own >= first.own);
    }

    #[test]
    fn per_op_figures() {
        assert_eq!(per_op(Some(1000), Some(3000), 4), Some(500.0));
        assert_eq!(per_op(None, Some(3000), 4), None);
        assert_eq!(per_op(Some(1), Some(2), 0), None);
        assert!(ticks_to_us_per_op(1, 0).is_none());
    }
}
