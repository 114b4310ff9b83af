//! Command line and environment configuration. Flags win over environment variables, which win
//! over the defaults (or the `--quick` defaults).

use std::{path::PathBuf, time::Duration};

use anyhow::bail;
use benchkit::args::{Flags, parse_count, parse_list, parse_seconds, yes};

pub const USAGE: &str = "\
usage: cargo run --release -p ledger-bench -- [options]

  --seconds N            measured seconds per run (default 10; BENCH_SECONDS)
  --warmup N             warm-up seconds before each measurement (default 1.5; BENCH_WARMUP)
  --wallets N            wallets in the spread scenario (default 10000; BENCH_WALLETS)
  --scenarios LIST       what to run, of hot, spread, ceiling, http (default all;
                         BENCH_SCENARIOS)
  --engines LIST         in-process engines next to the naive pgbench baseline, of writer
                         (ledger::LedgerWriter) and single (Ledger::debit per call)
                         (default writer,single)
  --hot-concurrency L    callers on the hot wallet (default 1,8,32,256)
  --spread-concurrency L callers spread over the wallets (default 8,32,256)
  --concurrency LIST     both of the above at once (BENCH_CONCURRENCY)
  --ceiling-clients L    pgbench clients running the 100-debits-per-commit transaction on the
                         hot wallet, the practical ceiling (default 1,8)
  --http-connections N   keep-alive connections posting debits to the api (default 256)
  --http-keys N          API keys of the hot organization the connections share (default 4)
  --http-orgs N          organizations made through the admin API, each with a funded wallet
                         and its keys; the first is the hot one (default 8)
  --api-bin PATH         the api binary (default: `cargo build --release -p api`, then
                         target/release/api; API_BIN)
  --api-env NAME=VALUE   an environment variable for the api (repeatable; the api gets only
                         these, PATH, and what the bench sets: DATABASE_URL, API_ADDR,
                         ADMIN_TOKEN, RUST_LOG=warn)
  --writer-max-batch N   WriterConfig::max_batch (default: WriterConfig::default())
  --writer-shards N      WriterConfig::shards (default: WriterConfig::default())
  --writer-pool N        connections of the writer's pool (default: shards + 2)
  --profile-ops N        sequential debits traced statement by statement (default 300; 0 skips)
  --quick                smoke run: 2 s, 0.5 s warm-up, 1000 wallets, hot 1,32, spread 32,
                         ceiling 1, 64 HTTP connections, profile 50
  --keep                 keep the benchmark database instead of dropping it
  --no-pgbench           skip the pgbench runs (naive, ceiling, ledger SQL)
  --hold-connections     single-path clients keep one pooled connection each
  --ledger-sql           also replay the ledger's own debit SQL through pgbench
  --help                 this text

Server: BENCH_DATABASE_URL, else DATABASE_URL, else the embedded development cluster
(./.data/postgres). Its max_connections must fit the most callers plus a few (checked before
anything runs). pgbench: $PGBENCH, else `pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin, else PATH. See docs/performance.md.";

/// The most wallets, clients or profiled debits a flag may ask for.
const MAX_COUNT: usize = 1_000_000;

/// The most callers or connections of one run: each is a server connection (or an api one).
const MAX_CALLERS: usize = 10_000;

/// The parts of a full run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every caller debits one wallet.
    Hot,
    /// Each debit picks one of the wallets at random.
    Spread,
    /// pgbench's 100 debits per commit on the hot wallet.
    Ceiling,
    /// The real api binary, debits over HTTP on the hot wallet.
    Http,
}

impl Part {
    const ALL: [Self; 4] = [Self::Hot, Self::Spread, Self::Ceiling, Self::Http];

    fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name.trim() {
            "hot" => Self::Hot,
            "spread" => Self::Spread,
            "ceiling" => Self::Ceiling,
            "http" => Self::Http,
            other => bail!("--scenarios: unknown scenario {other:?} (hot, spread, ceiling, http)"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hot => "hot",
            Self::Spread => "spread",
            Self::Ceiling => "ceiling",
            Self::Http => "http",
        }
    }
}

/// The in-process engines measured against the naive baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `ledger::LedgerWriter`: callers hand their debits to the batching writer.
    Writer,
    /// `Ledger::debit` on a pooled connection per call: the path before the writer.
    Single,
}

impl Engine {
    fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name.trim() {
            "writer" => Self::Writer,
            "single" => Self::Single,
            other => bail!("--engines: unknown engine {other:?} (writer, single)"),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Args {
    pub seconds: Duration,
    pub warmup: Duration,
    pub wallets: usize,
    pub parts: Vec<Part>,
    pub engines: Vec<Engine>,
    pub hot_concurrency: Vec<usize>,
    pub spread_concurrency: Vec<usize>,
    pub ceiling_clients: Vec<usize>,
    pub http_connections: usize,
    pub http_keys: usize,
    pub http_orgs: usize,
    pub api_bin: Option<PathBuf>,
    pub api_env: Vec<(String, String)>,
    pub writer_max_batch: Option<usize>,
    pub writer_shards: Option<usize>,
    pub writer_pool: Option<usize>,
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
    scenarios: Option<String>,
    engines: Option<String>,
    concurrency: Option<String>,
    hot_concurrency: Option<String>,
    spread_concurrency: Option<String>,
    ceiling_clients: Option<String>,
    http_connections: Option<String>,
    http_keys: Option<String>,
    http_orgs: Option<String>,
    api_bin: Option<String>,
    api_env: Vec<String>,
    writer_max_batch: Option<String>,
    writer_shards: Option<String>,
    writer_pool: Option<String>,
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
                "--scenarios" => given.scenarios = Some(flags.value()?),
                "--engines" => given.engines = Some(flags.value()?),
                "--concurrency" => given.concurrency = Some(flags.value()?),
                "--hot-concurrency" => given.hot_concurrency = Some(flags.value()?),
                "--spread-concurrency" => given.spread_concurrency = Some(flags.value()?),
                "--ceiling-clients" => given.ceiling_clients = Some(flags.value()?),
                "--http-connections" => given.http_connections = Some(flags.value()?),
                "--http-keys" => given.http_keys = Some(flags.value()?),
                "--http-orgs" => given.http_orgs = Some(flags.value()?),
                "--api-bin" => given.api_bin = Some(flags.value()?),
                "--api-env" => given.api_env.push(flags.value()?),
                "--writer-max-batch" => given.writer_max_batch = Some(flags.value()?),
                "--writer-shards" => given.writer_shards = Some(flags.value()?),
                "--writer-pool" => given.writer_pool = Some(flags.value()?),
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
        let parts = match pick(given.scenarios, "BENCH_SCENARIOS") {
            Some(v) => unique(v.split(',').map(Part::parse).collect::<Result<_, _>>()?),
            None => Part::ALL.to_vec(),
        };
        let engines = match given.engines {
            Some(v) => unique(v.split(',').map(Engine::parse).collect::<Result<_, _>>()?),
            None => vec![Engine::Writer, Engine::Single],
        };
        let callers = |flag: &str, value: &str| parse_list(flag, value, 1, MAX_CALLERS);
        let both = pick(given.concurrency, "BENCH_CONCURRENCY")
            .map(|v| callers("--concurrency", &v))
            .transpose()?;
        let hot_concurrency = match (given.hot_concurrency, &both) {
            (Some(v), _) => callers("--hot-concurrency", &v)?,
            (None, Some(both)) => both.clone(),
            (None, None) if quick => vec![1, 32],
            (None, None) => vec![1, 8, 32, 256],
        };
        let spread_concurrency = match (given.spread_concurrency, &both) {
            (Some(v), _) => callers("--spread-concurrency", &v)?,
            (None, Some(both)) => both.clone(),
            (None, None) if quick => vec![32],
            (None, None) => vec![8, 32, 256],
        };
        let ceiling_clients = match given.ceiling_clients {
            Some(v) => callers("--ceiling-clients", &v)?,
            None if quick => vec![1],
            None => vec![1, 8],
        };
        let http_connections = match given.http_connections {
            Some(v) => parse_count("--http-connections", &v, 1, MAX_CALLERS)?,
            None if quick => 64,
            None => 256,
        };
        let http_keys = match given.http_keys {
            Some(v) => parse_count("--http-keys", &v, 1, 1000)?,
            None => 4,
        };
        let http_orgs = match given.http_orgs {
            Some(v) => parse_count("--http-orgs", &v, 1, 10_000)?,
            None => 8,
        };
        let api_env = given
            .api_env
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
                _ => bail!("--api-env: expected NAME=VALUE, got {pair:?}"),
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let optional = |flag: &str, value: Option<String>, min: usize| {
            value
                .map(|v| parse_count(flag, &v, min, MAX_CALLERS))
                .transpose()
        };
        let profile_ops = match given.profile_ops {
            Some(v) => parse_count("--profile-ops", &v, 0, MAX_COUNT)?,
            None if quick => 50,
            None => 300,
        };
        if seconds.is_zero() {
            bail!("--seconds must be greater than zero");
        }
        if parts.is_empty() {
            bail!("--scenarios: nothing to run");
        }
        Ok(Some(Self {
            seconds,
            warmup,
            wallets,
            parts,
            engines,
            hot_concurrency,
            spread_concurrency,
            ceiling_clients,
            http_connections,
            http_keys,
            http_orgs,
            api_bin: pick(given.api_bin, "API_BIN").map(PathBuf::from),
            api_env,
            writer_max_batch: optional("--writer-max-batch", given.writer_max_batch, 1)?,
            writer_shards: optional("--writer-shards", given.writer_shards, 1)?,
            writer_pool: optional("--writer-pool", given.writer_pool, 1)?,
            profile_ops,
            quick,
            keep: given.keep || yes(env("BENCH_KEEP")),
            pgbench: !given.no_pgbench,
            ledger_sql: given.ledger_sql,
            hold_connections: given.hold_connections,
        }))
    }

    pub fn runs(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }

    pub fn measures(&self, engine: Engine) -> bool {
        self.engines.contains(&engine)
    }

    /// The most server connections one run opens at once (callers or pgbench clients), for the
    /// `max_connections` check.
    pub fn most_callers(&self) -> usize {
        let mut most = 0;
        if self.runs(Part::Hot) {
            most = most.max(self.hot_concurrency.iter().copied().max().unwrap_or(0));
        }
        if self.runs(Part::Spread) {
            most = most.max(self.spread_concurrency.iter().copied().max().unwrap_or(0));
        }
        if self.runs(Part::Ceiling) && self.pgbench {
            most = most.max(self.ceiling_clients.iter().copied().max().unwrap_or(0));
        }
        most
    }
}

/// In the order given, each once.
fn unique<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
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
        assert_eq!(args.hot_concurrency, vec![1, 8, 32, 256]);
        assert_eq!(args.spread_concurrency, vec![8, 32, 256]);
        assert_eq!(args.ceiling_clients, vec![1, 8]);
        assert_eq!(args.http_connections, 256);
        assert_eq!(args.parts, Part::ALL.to_vec());
        assert_eq!(args.engines, vec![Engine::Writer, Engine::Single]);
        assert_eq!(args.most_callers(), 256);
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
        assert_eq!(args.hot_concurrency, vec![2, 4]);
        assert_eq!(args.spread_concurrency, vec![2, 4]);
        assert_eq!(args.warmup, Duration::from_millis(500));
        assert_eq!(args.http_connections, 64);
        let skipped = parse(&["--profile-ops=0"], &[]).unwrap().unwrap();
        assert_eq!(skipped.profile_ops, 0);
        let quick = parse(&["--quick"], &[]).unwrap().unwrap();
        assert_eq!(quick.hot_concurrency, vec![1, 32]);
        assert_eq!(quick.spread_concurrency, vec![32]);
    }

    #[test]
    fn scenarios_engines_and_the_api_environment_are_chosen() {
        let args = parse(
            &[
                "--scenarios=hot,http,hot",
                "--engines",
                "writer",
                "--hot-concurrency=32",
                "--api-env",
                "DATABASE_POOL_SIZE=32",
                "--writer-shards=4",
            ],
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(args.parts, vec![Part::Hot, Part::Http]);
        assert!(args.runs(Part::Http) && !args.runs(Part::Spread));
        assert_eq!(args.engines, vec![Engine::Writer]);
        assert!(!args.measures(Engine::Single));
        assert_eq!(args.most_callers(), 32);
        assert_eq!(
            args.api_env,
            vec![("DATABASE_POOL_SIZE".to_owned(), "32".to_owned())]
        );
        assert_eq!(args.writer_shards, Some(4));
        assert_eq!(args.writer_max_batch, None);
    }

    #[test]
    fn bad_input_is_refused_with_the_flag_named() {
        let err = parse(&["--concurrency", "1,0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--concurrency"));
        assert!(parse(&["--seconds"], &[]).is_err());
        assert!(parse(&["--bogus"], &[]).is_err());
        assert!(parse(&["--help"], &[]).unwrap().is_none());
        let err = parse(&["--scenarios=hot,cold"], &[]).unwrap_err();
        assert!(err.to_string().contains("cold"), "{err}");
        assert!(parse(&["--engines=naive"], &[]).is_err());
        assert!(parse(&["--api-env=NOVALUE"], &[]).is_err());
        assert!(parse(&["--writer-pool=0"], &[]).is_err());
    }
}
