//! The figures of a run: steps by kind, faults injected by kind, what the operations did.

use std::{collections::BTreeMap, fmt};

#[derive(Debug, Default, Clone)]
pub struct Stats {
    counts: BTreeMap<String, u64>,
}

impl Stats {
    pub fn bump(&mut self, name: impl Into<String>) {
        self.add(name, 1);
    }

    pub fn add(&mut self, name: impl Into<String>, by: u64) {
        *self.counts.entry(name.into()).or_default() += by;
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Sum of the counters whose name starts with `prefix`.
    pub fn total(&self, prefix: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut group = "";
        for (name, count) in &self.counts {
            let head = name.split('.').next().unwrap_or("");
            if head != group {
                writeln!(f, "  {head}:")?;
                group = head;
            }
            writeln!(f, "    {name:<48} {count:>8}")?;
        }
        Ok(())
    }
}
