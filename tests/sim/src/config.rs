//! What a run is asked to do: the seed and the number of steps, from the environment.

/// The seed CI runs when `SIM_SEED` is unset.
pub const DEFAULT_SEED: u64 = 0x5EED_2027;
/// The steps CI runs when `SIM_STEPS` is unset.
pub const DEFAULT_STEPS: u64 = 10_000;
/// Every this many steps (and after the last) the full checks run: every wallet reconciled
/// from all its entries, every acknowledged reference, every campaign's money, the fakes'
/// records against the outbox.
pub const DEFAULT_FULL_EVERY: u64 = 500;

/// `SIM_SEED` (default [`DEFAULT_SEED`], decimal or `0x` hex), `SIM_STEPS` (default
/// [`DEFAULT_STEPS`]), `SIM_FULL_EVERY` (default [`DEFAULT_FULL_EVERY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    pub steps: u64,
    pub full_every: u64,
}

impl SimConfig {
    /// `SIM_SEED`, `SIM_STEPS`, `SIM_FULL_EVERY`; a value that does not parse is a panic naming
    /// it (a typo must not silently run the default).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str, default: u64| match lookup(name) {
            None => default,
            Some(value) => {
                parse_number(&value).unwrap_or_else(|| panic!("{name}={value:?} is not a number"))
            }
        };
        Self {
            seed: number("SIM_SEED", DEFAULT_SEED),
            steps: number("SIM_STEPS", DEFAULT_STEPS),
            full_every: number("SIM_FULL_EVERY", DEFAULT_FULL_EVERY).max(1),
        }
    }

    /// The command that replays this run.
    pub fn command(&self) -> String {
        format!(
            "SIM_SEED={} SIM_STEPS={} cargo test -p sim -- --nocapture",
            self.seed, self.steps
        )
    }
}

fn parse_number(value: &str) -> Option<u64> {
    let value = value.trim().replace('_', "");
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex_and_the_command_replays_them() {
        let config = SimConfig::from_lookup(|name| match name {
            "SIM_SEED" => Some("0x10".into()),
            "SIM_STEPS" => Some("20_000".into()),
            _ => None,
        });
        assert_eq!((config.seed, config.steps), (16, 20_000));
        assert_eq!(config.full_every, DEFAULT_FULL_EVERY);
        assert_eq!(
            config.command(),
            "SIM_SEED=16 SIM_STEPS=20000 cargo test -p sim -- --nocapture"
        );
        let default = SimConfig::from_lookup(|_| None);
        assert_eq!(default.seed, DEFAULT_SEED);
        assert_eq!(DEFAULT_SEED, 1_592_598_567);
    }
}
