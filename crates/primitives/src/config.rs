//! Reading a service's settings from its environment: one error that names the variable, one
//! lookup where a blank value counts as unset (`VAR=` in a compose or unit file means "unset" to
//! people), and the declaration of every variable a crate reads, so the README's table is
//! checked against the code (`bins/api/tests/variables.rs`) and the list exists once.

use std::{fmt::Display, ops::RangeInclusive, str::FromStr, time::Duration};

/// One environment variable a crate reads: declared next to the configuration struct that reads
/// it, listed in the README's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// As the README shows it: a value, `unset`, or `see …`.
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Why a service refuses to start with this environment. Never holds the value of a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

/// Reads one variable: `std::env::var` in the binaries, a map in tests.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Where variables come from: the process's environment, or a map in tests.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets.
        f.write_str("Env(..)")
    }
}

impl<'a> Env<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// Exactly these variables (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Env<'static> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Env::new(move |name| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    pub fn process() -> Env<'static> {
        Env::new(|name| std::env::var(name).ok())
    }

    /// The value, `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// A closure over [`Env::get`], for the crates whose `from_lookup` takes one.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name)
    }

    /// The trimmed value parsed as `T`, or `default` when unset.
    pub fn parse<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|error: T::Err| ConfigError::new(name, format!("{raw:?}: {error}"))),
        }
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number<T>(
        &self,
        name: &'static str,
        range: RangeInclusive<T>,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(ConfigError::new(
                name,
                format!(
                    "expected a whole number from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// A background job's period in whole seconds; `0` turns the job off (`None`).
    pub fn interval_secs(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Option<Duration>, ConfigError> {
        let secs = self.number(name, 0..=u64::from(u32::MAX), default.as_secs())?;
        Ok((secs > 0).then(|| Duration::from_secs(secs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env<'static> {
        Env::from_pairs(pairs)
    }

    #[test]
    fn blank_is_unset_and_defaults_apply() {
        let env = env(&[("A", " "), ("B", "7")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.parse("A", 3u32), Ok(3));
        assert_eq!(env.parse("B", 3u32), Ok(7));
        assert_eq!(env.number("B", 1..=10, 3u32), Ok(7));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let env = env(&[("N", "11"), ("X", "soon"), ("I", "-1")]);
        assert_eq!(env.number("N", 1..=10, 3u32).unwrap_err().variable, "N");
        assert_eq!(env.parse("X", 3u32).unwrap_err().variable, "X");
        assert_eq!(
            env.interval_secs("I", Duration::from_secs(5))
                .unwrap_err()
                .variable,
            "I"
        );
    }

    #[test]
    fn a_zero_interval_turns_the_job_off() {
        let env = env(&[("I", "0"), ("J", "2")]);
        assert_eq!(env.interval_secs("I", Duration::from_secs(5)), Ok(None));
        assert_eq!(
            env.interval_secs("J", Duration::from_secs(5)),
            Ok(Some(Duration::from_secs(2)))
        );
        assert_eq!(
            env.interval_secs("K", Duration::from_secs(5)),
            Ok(Some(Duration::from_secs(5)))
        );
    }
}
