//! CPU time during a run, from `/proc`: the whole machine's (busy and I/O wait), this
//! process's (the receiver, the senders and the idle baselines) and that of given processes
//! (the PostgreSQL backends serving the receiver's pool). Linux reports all of them in clock
//! ticks of 1/100 s (`USER_HZ`).

use std::collections::HashMap;

/// Milliseconds per clock tick in `/proc/stat` and `/proc/<pid>/stat`.
const MS_PER_TICK: f64 = 10.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu {
    /// All CPUs, busy (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// All CPUs, idle waiting for I/O.
    pub iowait: u64,
    /// All CPUs, idle.
    pub idle: u64,
    /// This process, user and system.
    pub own: u64,
}

/// The machine's and this process's CPU ticks so far; zeros where `/proc` cannot be read.
pub fn cpu() -> Cpu {
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    parse(&machine, &own)
}

fn parse(machine: &str, own: &str) -> Cpu {
    let fields: Vec<u64> = machine
        .lines()
        .find(|line| line.starts_with("cpu "))
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    // After the command name (which may hold spaces) come the state (field 3), ..., utime (14)
    // and stime (15).
    let rest: Vec<&str> = own
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| rest.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Cpu {
        busy,
        iowait: field(4),
        idle: field(3),
        own: tick(11) + tick(12),
    }
}

/// CPU ticks (user and system) of each of `pids` so far; a process that is gone counts 0.
pub fn ticks_of(pids: &[i32]) -> HashMap<i32, u64> {
    pids.iter()
        .map(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (pid, parse("", &stat).own)
        })
        .collect()
}

/// Ticks the processes used between two readings (a process first seen after is counted from
/// its start).
pub fn ticks_between(before: &HashMap<i32, u64>, after: &HashMap<i32, u64>) -> u64 {
    after
        .iter()
        .map(|(pid, ticks)| ticks.saturating_sub(before.get(pid).copied().unwrap_or(0)))
        .sum()
}

/// Milliseconds per delivery of `ticks`.
pub fn ms_per_delivery(ticks: u64, deliveries: usize) -> f64 {
    crate::stats::round3(ticks as f64 * MS_PER_TICK / deliveries.max(1) as f64)
}

/// What a run used, per delivery and as a share of the machine.
pub fn per_delivery(before: Cpu, after: Cpu, deliveries: usize) -> serde_json::Value {
    let n = deliveries.max(1) as f64;
    let busy = after.busy.saturating_sub(before.busy);
    let iowait = after.iowait.saturating_sub(before.iowait);
    let idle = after.idle.saturating_sub(before.idle);
    let own = after.own.saturating_sub(before.own);
    let total = (busy + iowait + idle).max(1) as f64;
    let ms = |ticks: u64| crate::stats::round3(ticks as f64 * MS_PER_TICK / n);
    serde_json::json!({
        "machine_busy_share": crate::stats::round3(busy as f64 / total),
        "machine_iowait_share": crate::stats::round3(iowait as f64 / total),
        "machine_busy_ms_per_delivery": ms(busy),
        "bench_process_ms_per_delivery": ms(own),
        "other_processes_ms_per_delivery": ms(busy.saturating_sub(own)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machine_and_the_process() {
        let machine = "cpu  100 5 50 1000 20 3 2 0 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        let own = "1234 (web hook) S 1 2 3 4 5 6 7 8 9 10 70 30 0 0 20 0 1 0";
        let cpu = parse(machine, own);
        assert_eq!(
            cpu,
            Cpu {
                busy: 160,
                iowait: 20,
                idle: 1000,
                own: 100,
            }
        );
        assert_eq!(parse("", ""), Cpu::default());
        let used = per_delivery(
            cpu,
            Cpu {
                busy: 260,
                iowait: 20,
                idle: 1100,
                own: 150,
            },
            10,
        );
        assert_eq!(used["machine_busy_share"], 0.5);
        assert_eq!(used["machine_busy_ms_per_delivery"], 100.0);
        assert_eq!(used["bench_process_ms_per_delivery"], 50.0);
        assert_eq!(used["other_processes_ms_per_delivery"], 50.0);
        let before = HashMap::from([(1, 10), (2, 5)]);
        let after = HashMap::from([(1, 15), (3, 7)]);
        assert_eq!(ticks_between(&before, &after), 12);
        assert_eq!(ms_per_delivery(12, 4), 30.0);
        assert!(ticks_of(&[i32::MAX]).values().all(|&t| t == 0));
    }
}
