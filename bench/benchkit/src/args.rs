//! Flag parsing: `--name value` or `--name=value`, whole numbers and lists of them in a range,
//! seconds, yes/no environment variables. Each bench keeps its own flags, defaults and checks.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};

/// The command line's flags one by one (without the program name).
pub struct Flags<I> {
    rest: I,
    usage: &'static str,
    name: String,
    inline: Option<String>,
}

impl<I: Iterator<Item = String>> Flags<I> {
    /// `usage` is added to the errors about the command line itself.
    pub fn new(args: impl IntoIterator<IntoIter = I>, usage: &'static str) -> Self {
        Self {
            rest: args.into_iter(),
            usage,
            name: String::new(),
            inline: None,
        }
    }

    /// The next flag's name (`--name` of `--name=value` too); `None` at the end.
    pub fn next_flag(&mut self) -> Option<String> {
        let flag = self.rest.next()?;
        (self.name, self.inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag, None),
        };
        Some(self.name.clone())
    }

    /// The current flag's value: after its `=`, else the next argument.
    pub fn value(&mut self) -> anyhow::Result<String> {
        match self.inline.take() {
            Some(value) => Ok(value),
            None => self
                .rest
                .next()
                .with_context(|| format!("{} needs a value\n\n{}", self.name, self.usage)),
        }
    }

    /// The error for a flag the bench does not know.
    pub fn unknown(&self) -> anyhow::Error {
        anyhow!("unknown argument {:?}\n\n{}", self.name, self.usage)
    }
}

/// Seconds, fractions allowed, from 0 to 3600.
pub fn parse_seconds(flag: &str, value: &str) -> anyhow::Result<Duration> {
    let seconds: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("{flag}: expected seconds, got {value:?}"))?;
    if !(0.0..=3600.0).contains(&seconds) {
        bail!("{flag}: expected 0 to 3600 seconds, got {value:?}");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A whole number from `min` to `max`.
pub fn parse_count(flag: &str, value: &str, min: usize, max: usize) -> anyhow::Result<usize> {
    match value.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => bail!("{flag}: expected a whole number from {min} to {max}, got {value:?}"),
    }
}

/// Comma-separated whole numbers, each from `min` to `max`.
pub fn parse_list(flag: &str, value: &str, min: usize, max: usize) -> anyhow::Result<Vec<usize>> {
    value
        .split(',')
        .map(|part| parse_count(flag, part.trim(), min, max))
        .collect()
}

/// Whether an environment variable's value says yes (`1` or `true`).
pub fn yes(value: Option<String>) -> bool {
    value.is_some_and(|v| v == "1" || v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE: &str = "usage: test";

    fn flags(args: &[&str]) -> Flags<std::vec::IntoIter<String>> {
        Flags::new(
            args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
            USAGE,
        )
    }

    #[test]
    fn flags_take_their_value_inline_or_next() {
        let mut f = flags(&["--a=1", "--b", "2", "--quick", "--c"]);
        assert_eq!(f.next_flag().as_deref(), Some("--a"));
        assert_eq!(f.value().unwrap(), "1");
        assert_eq!(f.next_flag().as_deref(), Some("--b"));
        assert_eq!(f.value().unwrap(), "2");
        assert_eq!(f.next_flag().as_deref(), Some("--quick"));
        assert_eq!(f.next_flag().as_deref(), Some("--c"));
        let missing = f.value().unwrap_err().to_string();
        assert!(
            missing.starts_with("--c needs a value") && missing.ends_with(USAGE),
            "{missing}"
        );
        assert_eq!(f.next_flag(), None);
        let mut unknown = flags(&["--bogus=1"]);
        unknown.next_flag();
        assert!(
            unknown
                .unknown()
                .to_string()
                .starts_with("unknown argument \"--bogus\"")
        );
    }

    #[test]
    fn numbers_are_checked_with_the_flag_named() {
        assert_eq!(parse_count("--n", " 5 ", 1, 10).unwrap(), 5);
        assert_eq!(parse_count("--n", "0", 0, 10).unwrap(), 0);
        let err = parse_count("--n", "0", 1, 10).unwrap_err().to_string();
        assert_eq!(err, "--n: expected a whole number from 1 to 10, got \"0\"");
        assert!(parse_count("--n", "x", 1, 10).is_err());
        assert_eq!(
            parse_list("--l", "1, 8,32", 1, 256).unwrap(),
            vec![1, 8, 32]
        );
        let err = parse_list("--l", "1,0", 1, 256).unwrap_err().to_string();
        assert!(err.contains("--l"), "{err}");
        assert_eq!(
            parse_seconds("--s", "1.5").unwrap(),
            Duration::from_millis(1500)
        );
        assert!(parse_seconds("--s", "-1").is_err());
        assert!(parse_seconds("--s", "3601").is_err());
        assert!(parse_seconds("--s", "soon").is_err());
        assert!(yes(Some("1".into())) && yes(Some("true".into())));
        assert!(!yes(Some("0".into())) && !yes(None));
    }
}
