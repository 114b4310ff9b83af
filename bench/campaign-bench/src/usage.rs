//! Cost beyond time: this process's CPU (dispatcher, Twilio client and the fake Twilio together)
//! and the WAL the server wrote.

use std::sync::OnceLock;

use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// This process's CPU time (all threads, user + system) from /proc/self/stat, in clock ticks.
pub fn cpu_ticks() -> u64 {
    process_ticks("self").unwrap_or(0)
}

/// The CPU time of the server processes behind the pool's connections, in clock ticks (they
/// run on this machine; `None` when their /proc entries are not readable).
pub fn backend_ticks(pids: impl IntoIterator<Item = i32>) -> Option<u64> {
    pids.into_iter()
        .map(|pid| process_ticks(&pid.to_string()))
        .sum()
}

/// Busy and total ticks of the whole machine, from the first line of /proc/stat.
pub fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The share of the machine's CPU time that was busy between two readings, in percent.
pub fn busy_percent(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((busy0, total0), (busy1, total1)) = (before?, after?);
    let total = total1.checked_sub(total0)?;
    (total > 0).then(|| ((busy1.saturating_sub(busy0)) as f64 * 100.0 / total as f64).round())
}

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it start at field 3 (state).
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    Some(field(14) + field(15))
}

/// Microseconds per unit from a tick delta.
pub fn ticks_to_us_per(ticks: u64, units: u64) -> Option<f64> {
    (units > 0).then(|| {
        let us = ticks as f64 * 1_000_000.0 / clock_ticks_per_second() as f64;
        (us / units as f64).round()
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

pub fn per(before: Option<i64>, after: Option<i64>, units: u64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (units > 0).then(|| ((after - before) as f64 / units as f64).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_unit_figures() {
        assert_eq!(per(Some(1000), Some(3000), 4), Some(500.0));
        assert_eq!(per(None, Some(3000), 4), None);
        assert_eq!(per(Some(1), Some(2), 0), None);
        assert!(ticks_to_us_per(1, 0).is_none());
        assert_eq!(busy_percent(Some((10, 100)), Some((60, 200))), Some(50.0));
        assert_eq!(busy_percent(None, Some((60, 200))), None);
        assert!(cpu_ticks() < u64::MAX);
    }
}
