//! Cost beyond time, as the campaign scenarios count it: the CPU of the server processes behind
//! the pool's connections and how busy the machine was. This process's CPU and the WAL the server
//! wrote come straight from `benchkit::usage`.

use benchkit::usage::{MachineCpu, process_cpu};

/// The CPU time of the server processes behind the pool's connections, in clock ticks (they
/// run on this machine; `None` when their /proc entries are not readable).
pub fn backend_ticks(pids: impl IntoIterator<Item = i32>) -> Option<u64> {
    pids.into_iter()
        .map(|pid| process_cpu(&pid.to_string()).map(|cpu| cpu.own))
        .sum()
}

/// The share of the machine's CPU time that was busy between two readings, in percent.
pub fn busy_percent(before: Option<MachineCpu>, after: Option<MachineCpu>) -> Option<f64> {
    let (before, after) = (before?, after?);
    let total = after.total().checked_sub(before.total())?;
    (total > 0)
        .then(|| (after.busy.saturating_sub(before.busy) as f64 * 100.0 / total as f64).round())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(busy: u64, total: u64) -> Option<MachineCpu> {
        Some(MachineCpu {
            busy,
            iowait: 0,
            idle: total - busy,
        })
    }

    #[test]
    fn busy_share_and_backends() {
        assert_eq!(busy_percent(machine(10, 100), machine(60, 200)), Some(50.0));
        assert_eq!(busy_percent(None, machine(60, 200)), None);
        assert_eq!(busy_percent(machine(10, 100), machine(10, 100)), None);
        assert_eq!(backend_ticks([i32::MAX]), None);
        assert_eq!(backend_ticks([]), Some(0));
    }
}
