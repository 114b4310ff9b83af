//! Cost beyond time: CPU time from `/proc` (a process's own and that of the children it waited
//! for; the whole machine's busy, I/O wait and idle time), in clock ticks, and the WAL the server
//! wrote.

use std::sync::OnceLock;

use anyhow::Context;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Integer, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A process's CPU time so far, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCpu {
    /// The process itself (all threads): user + system.
    pub own: u64,
    /// Its children that have been waited for: user + system.
    pub children: u64,
}

/// The CPU time of process `pid` (a number, or `self`); `None` when its `/proc` entry cannot be
/// read (a process that is gone, or not on this machine).
pub fn process_cpu(pid: &str) -> Option<ProcessCpu> {
    parse_process_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process's CPU time, zeros when `/proc` cannot be read.
pub fn own_cpu() -> ProcessCpu {
    process_cpu("self").unwrap_or_default()
}

/// The times in the text of `/proc/<pid>/stat`.
pub fn parse_process_stat(stat: &str) -> Option<ProcessCpu> {
    // The command name may contain spaces and parentheses; the fields after its last `)` start
    // at field 3 (state). utime and stime are fields 14 and 15, cutime and cstime 16 and 17.
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    Some(ProcessCpu {
        own: field(14) + field(15),
        children: field(16) + field(17),
    })
}

/// All CPUs of the machine so far, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineCpu {
    /// Busy: user, nice, system, irq, softirq, steal.
    pub busy: u64,
    /// Idle waiting for I/O.
    pub iowait: u64,
    /// Idle.
    pub idle: u64,
}

impl MachineCpu {
    /// Busy, I/O wait and idle together.
    pub fn total(&self) -> u64 {
        self.busy + self.iowait + self.idle
    }
}

/// The machine's CPU time from `/proc/stat`; `None` when it cannot be read.
pub fn machine_cpu() -> Option<MachineCpu> {
    parse_machine_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The times on the `cpu ` line (all CPUs) of the text of `/proc/stat`.
pub fn parse_machine_stat(stat: &str) -> Option<MachineCpu> {
    let fields: Vec<u64> = stat
        .lines()
        .find(|line| line.starts_with("cpu "))?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    Some(MachineCpu {
        busy: field(0) + field(1) + field(2) + field(5) + field(6) + field(7),
        iowait: field(4),
        idle: *fields.get(3)?,
    })
}

/// Clock ticks per second of the times in `/proc` (`USER_HZ`, 100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
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

/// `ticks` in milliseconds.
pub fn ticks_to_ms(ticks: u64) -> f64 {
    ticks as f64 * 1000.0 / clock_ticks_per_second() as f64
}

/// Microseconds per unit of work from a tick delta, rounded; `None` for no units.
pub fn ticks_to_us_per(ticks: u64, units: u64) -> Option<f64> {
    (units > 0).then(|| {
        let us = ticks as f64 * 1_000_000.0 / clock_ticks_per_second() as f64;
        (us / units as f64).round()
    })
}

#[derive(QueryableByName)]
struct Backend {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// The process ids of the server's backends serving connections named `application` (their
/// `application_name`) to the database `conn` is connected to.
pub async fn backend_pids(
    conn: &mut AsyncPgConnection,
    application: &str,
) -> anyhow::Result<Vec<i32>> {
    let rows: Vec<Backend> = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind::<Text, _>(application)
    .load(conn)
    .await
    .with_context(|| format!("listing the backends of {application}"))?;
    Ok(rows.into_iter().map(|row| row.pid).collect())
}

#[derive(QueryableByName)]
struct Lsn {
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// The server's WAL insert position in bytes (cluster-wide: other databases' writes count too);
/// `None` when the server does not tell.
pub async fn wal_position(conn: &mut AsyncPgConnection) -> Option<i64> {
    diesel::sql_query("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS bytes")
        .get_result::<Lsn>(conn)
        .await
        .ok()
        .map(|row| row.bytes)
}

/// What grew from `before` to `after` per unit of work, rounded; `None` when a reading is missing
/// or there were no units.
pub fn per(before: Option<i64>, after: Option<i64>, units: u64) -> Option<f64> {
    let (before, after) = (before?, after?);
    (units > 0).then(|| ((after - before) as f64 / units as f64).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_stat() {
        let own = "1234 (web hook) S 1 2 3 4 5 6 7 8 9 10 70 30 5 6 20 0 1 0";
        assert_eq!(
            parse_process_stat(own),
            Some(ProcessCpu {
                own: 100,
                children: 11
            })
        );
        // A `)` in the command name does not shift the fields.
        let odd = "1 (a) b) S 1 2 3 4 5 6 7 8 9 10 1 2 3 4 20";
        assert_eq!(parse_process_stat(odd).map(|cpu| cpu.own), Some(3));
        assert_eq!(parse_process_stat(""), None);
        assert_eq!(process_cpu(&i32::MAX.to_string()), None);
    }

    #[test]
    fn this_process_has_used_some_cpu_or_reads_zero() {
        let first = own_cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(own_cpu().own >= first.own);
    }

    #[test]
    fn reads_the_machine() {
        let stat = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        let cpu = parse_machine_stat(stat);
        assert_eq!(
            cpu,
            Some(MachineCpu {
                busy: 160,
                iowait: 20,
                idle: 1000,
            })
        );
        assert_eq!(cpu.map(|c| c.total()), Some(1180));
        assert_eq!(parse_machine_stat(""), None);
        assert_eq!(parse_machine_stat("cpu  1 2 3\n"), None);
    }

    #[test]
    fn per_unit_figures() {
        assert_eq!(per(Some(1000), Some(3000), 4), Some(500.0));
        assert_eq!(per(None, Some(3000), 4), None);
        assert_eq!(per(Some(1), Some(2), 0), None);
        assert!(ticks_to_us_per(1, 0).is_none());
        let hz = clock_ticks_per_second();
        assert_eq!(ticks_to_us_per(hz, 4), Some(250_000.0));
        assert_eq!(ticks_to_ms(hz * 3), 3000.0);
    }
}
