//! Configuration from environment variables, shared by the three adapters' `from_lookup`.
//!
//! Every reader takes a `lookup` function (`|name| std::env::var(name).ok()` in the binaries, a
//! map in tests), returns `Ok(None)` when none of the provider's variables is set (the provider
//! is simply not configured), and refuses a half configuration with a [`ConfigError`] naming the
//! variable to set or fix. Errors name variables, never their values: several are secrets.
//! A variable set to an empty or blank value counts as not set.

use std::path::PathBuf;
use std::time::Duration;

/// A configuration that cannot work, naming the environment variable at fault.
pub use primitives::config::ConfigError;
use primitives::config::Variable;

/// The variables of one provider, read through `lookup`.
pub(crate) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The trimmed value, `None` when unset or blank.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// Whether any of `names` is set.
    pub(crate) fn any(&self, variables: &[Variable]) -> bool {
        variables
            .iter()
            .any(|variable| self.get(variable.name).is_some())
    }

    /// The first of `names` that is set (for "set without the enabling variable" errors).
    pub(crate) fn first_set(&self, variables: &[Variable]) -> Option<&'static str> {
        variables
            .iter()
            .map(|variable| variable.name)
            .find(|name| self.get(name).is_some())
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "is not set"))
    }

    /// A comma-separated list; blank items are refused (a stray comma is a typo, not a value).
    pub(crate) fn list(&self, name: &'static str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let items: Vec<String> = raw.split(',').map(|item| item.trim().to_owned()).collect();
        if items.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "has an empty item in its list"));
        }
        Ok(Some(items))
    }

    /// A positive whole number of seconds, digits only: no sign, no fraction, no unit.
    pub(crate) fn seconds(&self, name: &'static str) -> Result<Option<Duration>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let not_seconds = || ConfigError::new(name, "is not a positive whole number of seconds");
        if !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_seconds());
        }
        match raw.parse::<u64>() {
            Ok(secs) if secs > 0 => Ok(Some(Duration::from_secs(secs))),
            _ => Err(not_seconds()),
        }
    }

    /// An `http`/`https` URL.
    pub(crate) fn url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match url::Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(Some(raw)),
            _ => Err(ConfigError::new(name, "is not an http(s) URL")),
        }
    }

    /// Two variables that only make sense together: both or neither.
    pub(crate) fn pair(
        &self,
        first: &'static str,
        second: &'static str,
    ) -> Result<Option<(String, String)>, ConfigError> {
        match (self.get(first), self.get(second)) {
            (Some(a), Some(b)) => Ok(Some((a, b))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                second,
                format!("is not set, but {first} is (set both or neither)"),
            )),
            (None, Some(_)) => Err(ConfigError::new(
                first,
                format!("is not set, but {second} is (set both or neither)"),
            )),
        }
    }

    /// A path to read at configuration time.
    pub(crate) fn path(&self, name: &'static str) -> Option<PathBuf> {
        self.get(name).map(PathBuf::from)
    }

    /// The text of the file a variable names, read now.
    pub(crate) fn file(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(path) = self.path(name) else {
            return Ok(None);
        };
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|error| ConfigError::new(name, format!("cannot be read: {}", error.kind())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn seconds_are_strict() {
        let lookup = env(&[
            ("OK", " 30 "),
            ("NEG", "-5"),
            ("PLUS", "+5"),
            ("FRAC", "1.5"),
            ("ZERO", "0"),
            ("UNIT", "30s"),
            ("HUGE", "99999999999999999999999"),
            ("BLANK", "  "),
        ]);
        let env = Env::new(&lookup);
        assert_eq!(env.seconds("OK"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(env.seconds("BLANK"), Ok(None));
        assert_eq!(env.seconds("UNSET"), Ok(None));
        for bad in ["NEG", "PLUS", "FRAC", "ZERO", "UNIT", "HUGE"] {
            let error = env.seconds(bad).unwrap_err();
            assert_eq!(error.variable, bad);
            assert_eq!(
                error.to_string(),
                format!("{bad}: is not a positive whole number of seconds")
            );
        }
    }

    #[test]
    fn lists_pairs_and_urls() {
        let lookup = env(&[
            ("LIST", "a, b"),
            ("HOLE", "a,,b"),
            ("A", "x"),
            ("URL", "https://api.example.com"),
            ("NOT_URL", "api.example.com"),
        ]);
        let env = Env::new(&lookup);
        assert_eq!(env.list("LIST"), Ok(Some(vec!["a".into(), "b".into()])));
        assert_eq!(env.list("HOLE").unwrap_err().variable, "HOLE");
        assert_eq!(env.pair("A", "B").unwrap_err().variable, "B");
        assert_eq!(env.pair("B", "A").unwrap_err().variable, "B");
        assert_eq!(env.pair("C", "D"), Ok(None));
        assert!(env.url("URL").is_ok());
        assert_eq!(env.url("NOT_URL").unwrap_err().variable, "NOT_URL");
        let named = |name| Variable {
            name,
            default: "unset",
            meaning: "",
        };
        assert_eq!(
            env.first_set(&[named("C"), named("A"), named("LIST")]),
            Some("A")
        );
    }
}
