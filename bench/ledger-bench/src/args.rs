//! Command line and environment configuration. Flags win over environment variables, which win
//! over the defaults (or the `--quick` defaults).

use std::time::Duration;

use anyhow::bail;
use benchkit::args::{Flags, parse_count, parse_list, parse_seconds, yes};

pub const USAGE: &str = "\
usage: cargo run --release -p ledger-bench -- [options]

  --seconds N         measured seconds per scenario and concurrency (default 10; BENCH_SECONDS)
  --warmup N          warm-up seconds before each measurement (default 1.5; BENCH_WARMUP)
  --wallets N         wallets in the spread scenario (default 10000; BENCH_WALLETS)
  --concurrency LIST  comma-separated client counts (default 1,8,32; BENCH_CONCURRENCY)
  --profile-ops N     sequential debits traced statement by statement (default 300; 0 skips)
  --quick             smoke run: 2 s, 0.5 s warm-up, 1000 wallets, concurrency 1,8
  --keep              keep the benchmark database instead of dropping it
  --no-pgbench        skip the naive pgbench baseline (ledger figures only)
  --hold-connections  ledger clients keep one pooled connection each (no checkout per debit)
  --ledger-sql        also replay the ledger's own debit SQL through pgbench (adds ~40% time)
  --help              this text

Server: BENCH_DATABASE_URL, else DATABASE_URL, else the embedded development cluster
(./.data/postgres). pgbench: $PGBENCH, else `pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin, else PATH. See docs/performance.md.";

/// The most wallets, clients or profiled debits a flag may ask for.
const MAX_COUNT: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct Args {
    pub seconds: Duration,
    pub warmup: Duration,
    pub wallets: usize,
    pub concurrency: Vec<usize>,
    pub profile_ops: usize,
    pub quick: bool,
    pub keep: bool,
    pub pgbench: bool,
    pub ledger_sql: bool,
    pub hold_connections: bool,
}

/// What the command line said; `None` means "not given".
#[derive(Debug, Default)]
struct Given {
    seconds: Option<String>,
    warmup: Option<String>,
    wallets: Option<String>,
    concurrency: Option<String>,
    profile_ops: Option<String>,
    quick: bool,
    keep: bool,
    no_pgbench: bool,
    ledger_sql: bool,
    hold_connections: bool,
}

impl Args {
    /// Parses the flags (without the program name); `env` looks up environment variables.
    /// `Ok(None)` means `--help` was asked for.
    pub fn parse(
        flags: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        let mut given = Given::default();
        let mut flags = Flags::new(flags, USAGE);
        while let Some(name) = flags.next_flag() {
            match name.as_str() {
                "--seconds" => given.seconds = Some(flags.value()?),
                "--warmup" => given.warmup = Some(flags.value()?),
                "--wallets" => given.wallets = Some(flags.value()?),
                "--concurrency" => given.concurrency = Some(flags.value()?),
                "--profile-ops" => given.profile_ops = Some(flags.value()?),
                "--quick" => given.quick = true,
                "--keep" => given.keep = true,
                "--no-pgbench" => given.no_pgbench = true,
                "--ledger-sql" => given.ledger_sql = true,
                "--hold-connections" => given.hold_connections = true,
                "--help" | "-h" => return Ok(None),
                _ => return Err(flags.unknown()),
            }
        }
        let pick = |flag: Option<String>, var: &str| flag.or_else(|| env(var));
        let quick = given.quick || yes(env("BENCH_QUICK"));
        let seconds = match pick(given.seconds, "BENCH_SECONDS") {
            Some(v) => parse_seconds("--seconds", &v)?,
            None if quick => Duration::from_secs(2),
            None => Duration::from_secs(10),
        };
        let warmup = match pick(given.warmup, "BENCH_WARMUP") {
            Some(v) => parse_seconds("--warmup", &v)?,
            None if quick => Duration::from_millis(500),
            None => Duration::from_millis(1500),
        };
        let wallets = match pick(given.wallets, "BENCH_WALLETS") {
            Some(v) => parse_count("--wallets", &v, 1, MAX_COUNT)?,
            None if quick => 1000,
            None => 10_000,
        };
        let concurrency = match pick(given.concurrency, "BENCH_CONCURRENCY") {
            Some(v) => parse_list("--concurrency", &v, 1, MAX_COUNT)?,
            None if quick => vec![1, 8],
            None => vec![1, 8, 32],
        };
        let profile_ops = match given.profile_ops {
            Some(v) => parse_count("--profile-ops", &v, 0, MAX_COUNT)?,
            None if quick => 50,
            None => 300,
        };
        if seconds.is_zero() {
            bail!("--seconds must be greater than zero");
        }
        Ok(Some(Self {
            seconds,
            warmup,
            wallets,
            concurrency,
            profile_ops,
            quick,
            keep: given.keep || yes(env("BENCH_KEEP")),
            pgbench: !given.no_pgbench,
            ledger_sql: given.ledger_sql,
            hold_connections: given.hold_connections,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Option<Args>> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Args::parse(flags.iter().map(|f| (*f).to_owned()), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_match_the_documented_full_run() {
        let args = parse(&[], &[]).unwrap().unwrap();
        assert_eq!(args.seconds, Duration::from_secs(10));
        assert_eq!(args.wallets, 10_000);
        assert_eq!(args.concurrency, vec![1, 8, 32]);
        assert!(!args.keep && !args.quick && args.pgbench);
    }

    #[test]
    fn flags_override_environment_and_quick_defaults() {
        let args = parse(
            &["--quick", "--seconds", "3", "--concurrency=2,4"],
            &[("BENCH_SECONDS", "7"), ("BENCH_WALLETS", "50")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(args.seconds, Duration::from_secs(3));
        assert_eq!(args.wallets, 50);
        assert_eq!(args.concurrency, vec![2, 4]);
        assert_eq!(args.warmup, Duration::from_millis(500));
        let skipped = parse(&["--profile-ops=0"], &[]).unwrap().unwrap();
        assert_eq!(skipped.profile_ops, 0);
    }

    #[test]
    fn bad_input_is_refused_with_the_flag_named() {
        let err = parse(&["--concurrency", "1,0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--concurrency"));
        assert!(parse(&["--seconds"], &[]).is_err());
        assert!(parse(&["--bogus"], &[]).is_err());
        assert!(parse(&["--help"], &[]).unwrap().is_none());
    }
}
