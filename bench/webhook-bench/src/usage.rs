//! CPU time during a run, as the intake's figures count it: the whole machine's (busy and I/O
//! wait), this process's (the receiver, the senders and the idle baselines) and that of given
//! processes (the PostgreSQL backends serving the receiver's pool), per delivery. The readings
//! themselves come from `benchkit::usage`.

use std::collections::HashMap;

use benchkit::{
    stats::round3,
    usage::{MachineCpu, machine_cpu, own_cpu, process_cpu, ticks_to_ms},
};

/// The machine's and this process's CPU ticks so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu {
    pub machine: MachineCpu,
    /// This process, user and system.
    pub own: u64,
}

/// The machine's and this process's CPU ticks so far; zeros where `/proc` cannot be read.
pub fn cpu() -> Cpu {
    Cpu {
        machine: machine_cpu().unwrap_or_default(),
        own: own_cpu().own,
    }
}

/// CPU ticks (user and system) of each of `pids` so far; a process that is gone counts 0.
pub fn ticks_of(pids: &[i32]) -> HashMap<i32, u64> {
    pids.iter()
        .map(|&pid| {
            let ticks = process_cpu(&pid.to_string()).map_or(0, |cpu| cpu.own);
            (pid, ticks)
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
    round3(ticks_to_ms(ticks) / deliveries.max(1) as f64)
}

/// What a run used, per delivery and as a share of the machine.
pub fn per_delivery(before: Cpu, after: Cpu, deliveries: usize) -> serde_json::Value {
    let busy = after.machine.busy.saturating_sub(before.machine.busy);
    let iowait = after.machine.iowait.saturating_sub(before.machine.iowait);
    let idle = after.machine.idle.saturating_sub(before.machine.idle);
    let own = after.own.saturating_sub(before.own);
    let total = (busy + iowait + idle).max(1) as f64;
    serde_json::json!({
        "machine_busy_share": round3(busy as f64 / total),
        "machine_iowait_share": round3(iowait as f64 / total),
        "machine_busy_ms_per_delivery": ms_per_delivery(busy, deliveries),
        "bench_process_ms_per_delivery": ms_per_delivery(own, deliveries),
        "other_processes_ms_per_delivery": ms_per_delivery(busy.saturating_sub(own), deliveries),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(busy: u64, idle: u64, own: u64) -> Cpu {
        Cpu {
            machine: MachineCpu {
                busy,
                iowait: 20,
                idle,
            },
            own,
        }
    }

    #[test]
    fn a_run_is_what_the_readings_grew_by() {
        // Ticks are 10 ms each (`USER_HZ` = 100 on Linux).
        assert_eq!(benchkit::usage::clock_ticks_per_second(), 100);
        let used = per_delivery(reading(160, 1000, 100), reading(260, 1100, 150), 10);
        assert_eq!(used["machine_busy_share"], 0.5);
        assert_eq!(used["machine_iowait_share"], 0.0);
        assert_eq!(used["machine_busy_ms_per_delivery"], 100.0);
        assert_eq!(used["bench_process_ms_per_delivery"], 50.0);
        assert_eq!(used["other_processes_ms_per_delivery"], 50.0);
        let before = HashMap::from([(1, 10), (2, 5)]);
        let after = HashMap::from([(1, 15), (3, 7)]);
        assert_eq!(ticks_between(&before, &after), 12);
        assert_eq!(ms_per_delivery(12, 4), 30.0);
        assert_eq!(ms_per_delivery(12, 0), 120.0);
        assert!(ticks_of(&[i32::MAX]).values().all(|&t| t == 0));
        assert!(cpu().own <= own_cpu().own);
    }
}
