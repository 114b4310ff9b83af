//! Command line and environment configuration. Flags win over environment variables, which win
//! over the defaults (or the `--quick` defaults).

use std::time::Duration;

use anyhow::bail;
use benchkit::args::{Flags, parse_count, parse_list, parse_seconds, yes};

pub const USAGE: &str = "\
usage: cargo run --release -p webhook-bench -- [options]

  --seconds N           measured seconds of each intake run (default 10; BENCH_SECONDS; with
                        the warm-up at most 240: deliveries are signed ahead, and Stripe
                        refuses signatures older than 300 s)
  --warmup N            warm-up seconds before each measurement, sent and checked but not
                        timed (default 1; BENCH_WARMUP)
  --baseline-seconds N  measured seconds of each baseline run (default 3)
  --concurrency LIST    comma-separated sender counts (default 1,8,32; BENCH_CONCURRENCY)
  --repeat N            run every concurrency N times; the summary gives medians (default 1)
  --orgs N              organizations, each with a USD wallet and an active subscription
                        (60% Stripe, 20% PayPal, 20% PayHere; default 1000; at least 5 per sender)
  --duplicates P        percent of deliveries that are identical re-sends (default 10, 0 to 50)
  --pool-size N         the receiver's DATABASE_POOL_SIZE (default: its default, 16)
  --profile N           deliveries sent one at a time at the end with every statement traced,
                        for statements and commits per delivery (default 400; 0 skips)
  --no-baselines        skip the HTTP-only and verify-only baselines
  --quick               smoke run: 3 s, 0.5 s warm-up, 1 s baselines, concurrency 1,8, 200 orgs,
                        profile 100
  --keep                keep the benchmark database instead of dropping it
  --help                this text

Server: BENCH_DATABASE_URL, else DATABASE_URL, else the embedded development cluster
(./.data/postgres). Refuses to run with fsync off. See docs/performance.md, \"Webhook intake\".";

/// The longest intake run: deliveries are signed before it starts, and Stripe's default
/// tolerance (`STRIPE_TOLERANCE_SECS`, 300 s) must still accept the last one sent.
const MAX_RUN: Duration = Duration::from_secs(240);

#[derive(Debug, Clone)]
pub struct Args {
    pub seconds: Duration,
    pub warmup: Duration,
    pub baseline_seconds: Duration,
    pub concurrency: Vec<usize>,
    pub repeat: usize,
    pub orgs: usize,
    pub duplicates: u32,
    pub pool_size: Option<usize>,
    pub profile: usize,
    pub baselines: bool,
    pub quick: bool,
    pub keep: bool,
}

#[derive(Debug, Default)]
struct Given {
    seconds: Option<String>,
    warmup: Option<String>,
    baseline_seconds: Option<String>,
    concurrency: Option<String>,
    repeat: Option<String>,
    orgs: Option<String>,
    duplicates: Option<String>,
    pool_size: Option<String>,
    profile: Option<String>,
    no_baselines: bool,
    quick: bool,
    keep: bool,
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
                "--baseline-seconds" => given.baseline_seconds = Some(flags.value()?),
                "--concurrency" => given.concurrency = Some(flags.value()?),
                "--repeat" => given.repeat = Some(flags.value()?),
                "--orgs" => given.orgs = Some(flags.value()?),
                "--duplicates" => given.duplicates = Some(flags.value()?),
                "--pool-size" => given.pool_size = Some(flags.value()?),
                "--profile" => given.profile = Some(flags.value()?),
                "--no-baselines" => given.no_baselines = true,
                "--quick" => given.quick = true,
                "--keep" => given.keep = true,
                "--help" | "-h" => return Ok(None),
                _ => return Err(flags.unknown()),
            }
        }
        let quick = given.quick || yes(env("BENCH_QUICK"));
        let pick = |flag: Option<String>, var: &str| flag.or_else(|| env(var));
        let seconds = match pick(given.seconds, "BENCH_SECONDS") {
            Some(v) => parse_seconds("--seconds", &v)?,
            None if quick => Duration::from_secs(3),
            None => Duration::from_secs(10),
        };
        if seconds.is_zero() {
            bail!("--seconds must be greater than zero");
        }
        let warmup = match pick(given.warmup, "BENCH_WARMUP") {
            Some(v) => parse_seconds("--warmup", &v)?,
            None if quick => Duration::from_millis(500),
            None => Duration::from_secs(1),
        };
        if warmup + seconds > MAX_RUN {
            bail!(
                "--warmup plus --seconds must be at most {} s: deliveries are signed before the \
                 run, and Stripe refuses a signature older than its 300 s tolerance",
                MAX_RUN.as_secs()
            );
        }
        let baseline_seconds = match given.baseline_seconds {
            Some(v) => parse_seconds("--baseline-seconds", &v)?,
            None if quick => Duration::from_secs(1),
            None => Duration::from_secs(3),
        };
        if baseline_seconds.is_zero() {
            bail!("--baseline-seconds must be greater than zero");
        }
        let concurrency = match pick(given.concurrency, "BENCH_CONCURRENCY") {
            Some(v) => parse_list("--concurrency", &v, 1, 256)?,
            None if quick => vec![1, 8],
            None => vec![1, 8, 32],
        };
        let repeat = match given.repeat {
            Some(v) => parse_count("--repeat", &v, 1, 100)?,
            None => 1,
        };
        let orgs = match given.orgs {
            Some(v) => parse_count("--orgs", &v, 5, 1_000_000)?,
            None if quick => 200,
            None => 1000,
        };
        let most = concurrency.iter().copied().max().unwrap_or(1);
        if orgs < 5 * most {
            bail!(
                "--orgs {orgs} is too few for {most} senders: each sender needs organizations of \
                 every provider of its own (at least 5 per sender, {} here)",
                5 * most
            );
        }
        let duplicates = match given.duplicates {
            Some(v) => u32::try_from(parse_count("--duplicates", &v, 0, 50)?)?,
            None => 10,
        };
        let pool_size = given
            .pool_size
            .map(|v| parse_count("--pool-size", &v, 1, 1000))
            .transpose()?;
        let profile = match given.profile {
            Some(v) => parse_count("--profile", &v, 0, 100_000)?,
            None if quick => 100,
            None => 400,
        };
        Ok(Some(Self {
            seconds,
            warmup,
            baseline_seconds,
            concurrency,
            repeat,
            orgs,
            duplicates,
            pool_size,
            profile,
            baselines: !given.no_baselines,
            quick,
            keep: given.keep || yes(env("BENCH_KEEP")),
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
    fn defaults_are_the_documented_run() {
        let args = parse(&[], &[]).unwrap().unwrap();
        assert_eq!(args.seconds, Duration::from_secs(10));
        assert_eq!(args.warmup, Duration::from_secs(1));
        assert_eq!(args.baseline_seconds, Duration::from_secs(3));
        assert_eq!(args.concurrency, vec![1, 8, 32]);
        assert_eq!((args.repeat, args.orgs, args.duplicates), (1, 1000, 10));
        assert_eq!((args.pool_size, args.profile), (None, 400));
        assert!(args.baselines && !args.quick && !args.keep);
    }

    #[test]
    fn flags_override_environment_and_quick_defaults() {
        let args = parse(
            &[
                "--quick",
                "--seconds",
                "2",
                "--concurrency=2,4",
                "--pool-size=32",
            ],
            &[("BENCH_SECONDS", "7"), ("BENCH_WARMUP", "0")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(args.seconds, Duration::from_secs(2));
        assert_eq!(args.warmup, Duration::ZERO);
        assert_eq!(args.concurrency, vec![2, 4]);
        assert_eq!((args.orgs, args.profile), (200, 100));
        assert_eq!(args.pool_size, Some(32));
        let none = parse(&["--duplicates", "0", "--no-baselines"], &[])
            .unwrap()
            .unwrap();
        assert_eq!(none.duplicates, 0);
        assert!(!none.baselines);
    }

    #[test]
    fn bad_input_is_refused_with_the_flag_named() {
        let err = parse(&["--concurrency", "1,0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--concurrency"));
        let err = parse(&["--orgs", "50", "--concurrency", "32"], &[]).unwrap_err();
        assert!(err.to_string().contains("--orgs"));
        assert!(parse(&["--duplicates", "60"], &[]).is_err());
        assert!(parse(&["--seconds", "0"], &[]).is_err());
        let err = parse(&["--seconds", "240"], &[]).unwrap_err();
        assert!(err.to_string().contains("Stripe"), "{err}");
        assert!(parse(&["--seconds", "239", "--warmup", "1"], &[]).is_ok());
        assert!(parse(&["--seconds"], &[]).is_err());
        assert!(parse(&["--bogus"], &[]).is_err());
        assert!(parse(&["--help"], &[]).unwrap().is_none());
    }
}
