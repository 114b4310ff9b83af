//! What a run cost besides time, read before and after it: this process's CPU (and its waited-for
//! children's, for pgbench), how busy the whole machine was, and the WAL the server wrote.

use benchkit::{
    stats,
    usage::{self, MachineCpu, ProcessCpu},
};
use diesel_async::AsyncPgConnection;

/// The readings before a run.
pub struct Meter {
    cpu: ProcessCpu,
    machine: Option<MachineCpu>,
    wal: Option<i64>,
}

/// What a run cost, per operation where it says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// This process's CPU (all threads) per operation, µs.
    pub own_cpu_us_per_op: Option<f64>,
    /// The CPU of children waited for during the run (pgbench) per operation, µs.
    pub children_cpu_us_per_op: Option<f64>,
    pub wal_bytes_per_op: Option<f64>,
    /// Share of the machine's CPU time that was busy (all cores), percent.
    pub machine_busy_pct: Option<f64>,
    /// Share of the machine's CPU time idle waiting for I/O, percent.
    pub machine_iowait_pct: Option<f64>,
}

impl Meter {
    pub async fn start(conn: &mut AsyncPgConnection) -> Self {
        // The WAL position first: its query is part of the bench's own overhead, not the run's.
        let wal = usage::wal_position(conn).await;
        Self {
            cpu: usage::own_cpu(),
            machine: usage::machine_cpu(),
            wal,
        }
    }

    /// `ops`: the operations done between the readings (warm-up included).
    pub async fn finish(self, conn: &mut AsyncPgConnection, ops: u64) -> Cost {
        let (cpu, machine) = (usage::own_cpu(), usage::machine_cpu());
        let wal = usage::wal_position(conn).await;
        let (busy, iowait) = match (self.machine, machine) {
            (Some(before), Some(after)) => machine_shares(before, after),
            _ => (None, None),
        };
        Cost {
            own_cpu_us_per_op: usage::ticks_to_us_per(cpu.own.saturating_sub(self.cpu.own), ops),
            children_cpu_us_per_op: usage::ticks_to_us_per(
                cpu.children.saturating_sub(self.cpu.children),
                ops,
            ),
            wal_bytes_per_op: usage::per(self.wal, wal, ops),
            machine_busy_pct: busy,
            machine_iowait_pct: iowait,
        }
    }
}

/// Busy and I/O-wait shares of the machine's CPU time between two readings, in percent.
fn machine_shares(before: MachineCpu, after: MachineCpu) -> (Option<f64>, Option<f64>) {
    let total = after.total().saturating_sub(before.total());
    if total == 0 {
        return (None, None);
    }
    let share = |ticks: u64| Some(stats::round1(ticks as f64 * 100.0 / total as f64));
    (
        share(after.busy.saturating_sub(before.busy)),
        share(after.iowait.saturating_sub(before.iowait)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_shares_are_percent_of_all_ticks() {
        let before = MachineCpu {
            busy: 100,
            iowait: 10,
            idle: 90,
        };
        let after = MachineCpu {
            busy: 250,
            iowait: 60,
            idle: 90,
        };
        assert_eq!(machine_shares(before, after), (Some(75.0), Some(25.0)));
        assert_eq!(machine_shares(before, before), (None, None));
    }
}
