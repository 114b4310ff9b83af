//! The machine a run measured on: CPUs, memory, how busy it was, and the commit the bench was
//! built from.

use std::process::Command;

use serde_json::{Value, json};

/// CPU count and model, memory, the load at the time, and the git commit the benchmark was built
/// from (and whether tracked files had changes).
pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, model)| model.trim().to_owned());
    let mem_total_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    json!({
        "cpus": cpus,
        "cpu_model": cpu_model,
        "mem_total_mb": mem_total_kb.map(|kb| kb / 1024),
        "loadavg": loadavg(),
        "git_commit": git_commit(),
        "git_dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
    })
}

/// The 1, 5 and 15 minute load averages: how busy the machine was (other processes compete with
/// the server and the clients for the same cores).
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// The commit the bench was built from, for the record.
pub fn git_commit() -> Option<String> {
    git(&["rev-parse", "HEAD"])
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_described() {
        let machine = machine();
        assert!(machine["cpus"].as_u64().is_some_and(|n| n > 0), "{machine}");
        for field in [
            "cpu_model",
            "mem_total_mb",
            "loadavg",
            "git_commit",
            "git_dirty",
        ] {
            assert!(machine.get(field).is_some(), "{field} missing: {machine}");
        }
        assert!(loadavg().is_some_and(|load| load.iter().all(|l| *l >= 0.0)));
    }
}
