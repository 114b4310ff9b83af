//! Command line configuration. Flags win over the defaults (or the `--quick` defaults).

use std::time::Duration;

use anyhow::bail;
use benchkit::args::{Flags, parse_count, parse_list};

pub const USAGE: &str = "\
usage: cargo run --release -p campaign-bench -- [options]

  --recipients LIST   comma-separated campaign sizes (default 10000,100000)
  --workers LIST      comma-separated dispatcher worker counts (default 1,2)
  --mode MODE         run-once (default: each worker loops Dispatcher::run_once, as a worker
                      process would), batch (each loops Dispatcher::dispatch_batch on the
                      campaign), or both
  --batch-size N      DispatchConfig::batch_size (default 100, the dispatcher's default)
  --concurrency N     DispatchConfig::concurrency (default 16, the dispatcher's default)
  --repeat N          run every scenario N times; the summary gives the median (default 1)
  --warmup N          recipients of an untimed warm-up campaign before each measured one, so
                      every pooled connection has its statements prepared (default 500; 0 skips)
  --history N         recipients of other, finished campaigns in the table before the first
                      scenario, as in a deployed system (default 200000; quick 20000; 0 for a
                      fresh deployment, where the planner picks a slow claim plan: see docs)
  --twilio-delay-ms N the fake Twilio waits N ms before answering (default 0: at once)
  --no-trace          no instrumentation hook on the pooled connections (no round-trip counts;
                      shows what the hook itself costs)
  --log-statements    diagnostic: the server logs every statement of the benchmark database
                      (ALTER DATABASE .. SET log_min_duration_statement = 0), to check the
                      round-trip counts against its parse/bind/execute lines; slows the run
  --auto-explain-ms N diagnostic: the server logs the plan of every statement of the benchmark
                      database slower than N ms (auto_explain; needs a superuser)
  --timeout N         give up on a scenario after N seconds (default 1800)
  --quick             smoke run: 2000 recipients, workers 1,2, warm-up 200, history 20000
  --keep              keep the benchmark database instead of dropping it
  --help              this text

Server: BENCH_DATABASE_URL, else DATABASE_URL, else the embedded development cluster
(./.data/postgres). See docs/performance.md, section \"Campaign dispatch\".";

/// The largest number any flag takes.
const MAX_COUNT: usize = 10_000_000;

/// How a worker drives the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Dispatcher::run_once` in a loop: recovery scan, due campaigns, one batch each.
    RunOnce,
    /// `Dispatcher::dispatch_batch(campaign)` in a loop.
    Batch,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunOnce => "run_once",
            Self::Batch => "dispatch_batch",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Args {
    pub recipients: Vec<usize>,
    pub workers: Vec<usize>,
    pub modes: Vec<Mode>,
    pub batch_size: usize,
    pub concurrency: usize,
    pub warmup: usize,
    pub repeat: usize,
    pub history: usize,
    pub twilio_delay: Duration,
    pub trace: bool,
    pub log_statements: bool,
    pub auto_explain_ms: Option<usize>,
    pub timeout: Duration,
    pub quick: bool,
    pub keep: bool,
}

impl Args {
    /// Parses the flags (without the program name). `Ok(None)` means `--help` was asked for.
    pub fn parse(flags: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let mut recipients = None;
        let mut workers = None;
        let mut modes = vec![Mode::RunOnce];
        let mut batch_size = 100;
        let mut concurrency = 16;
        let mut warmup = None;
        let mut history = None;
        let mut repeat = 1;
        let mut twilio_delay = Duration::ZERO;
        let mut trace = true;
        let mut log_statements = false;
        let mut auto_explain_ms = None;
        let mut timeout = Duration::from_secs(1800);
        let mut quick = false;
        let mut keep = false;
        let mut flags = Flags::new(flags, USAGE);
        while let Some(name) = flags.next_flag() {
            match name.as_str() {
                "--recipients" => {
                    recipients = Some(parse_list(&name, &flags.value()?, 1, MAX_COUNT)?);
                }
                "--workers" => workers = Some(parse_list(&name, &flags.value()?, 1, MAX_COUNT)?),
                "--mode" => {
                    modes = match flags.value()?.as_str() {
                        "run-once" | "run_once" => vec![Mode::RunOnce],
                        "batch" | "dispatch_batch" => vec![Mode::Batch],
                        "both" => vec![Mode::RunOnce, Mode::Batch],
                        other => bail!("--mode: expected run-once, batch or both, got {other:?}"),
                    }
                }
                "--batch-size" => batch_size = parse_count(&name, &flags.value()?, 1, MAX_COUNT)?,
                "--concurrency" => concurrency = parse_count(&name, &flags.value()?, 1, MAX_COUNT)?,
                "--warmup" => warmup = Some(parse_count(&name, &flags.value()?, 0, MAX_COUNT)?),
                "--repeat" => repeat = parse_count(&name, &flags.value()?, 1, MAX_COUNT)?,
                "--history" => history = Some(parse_count(&name, &flags.value()?, 0, MAX_COUNT)?),
                "--twilio-delay-ms" => {
                    let ms = parse_count(&name, &flags.value()?, 0, MAX_COUNT)?;
                    twilio_delay = Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX));
                }
                "--no-trace" => trace = false,
                "--log-statements" => log_statements = true,
                "--auto-explain-ms" => {
                    auto_explain_ms = Some(parse_count(&name, &flags.value()?, 0, MAX_COUNT)?)
                }
                "--timeout" => {
                    let secs = parse_count(&name, &flags.value()?, 1, MAX_COUNT)?;
                    timeout = Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX));
                }
                "--quick" => quick = true,
                "--keep" => keep = true,
                "--help" | "-h" => return Ok(None),
                _ => return Err(flags.unknown()),
            }
        }
        Ok(Some(Self {
            recipients: recipients.unwrap_or_else(|| {
                if quick {
                    vec![2_000]
                } else {
                    vec![10_000, 100_000]
                }
            }),
            workers: workers.unwrap_or_else(|| vec![1, 2]),
            modes,
            batch_size,
            concurrency,
            warmup: warmup.unwrap_or(if quick { 200 } else { 500 }),
            repeat,
            history: history.unwrap_or(if quick { 20_000 } else { 200_000 }),
            twilio_delay,
            trace,
            log_statements,
            auto_explain_ms,
            timeout,
            quick,
            keep,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> anyhow::Result<Option<Args>> {
        Args::parse(flags.iter().map(|f| (*f).to_owned()))
    }

    #[test]
    fn defaults_are_the_documented_scenarios() {
        let args = parse(&[]).unwrap().unwrap();
        assert_eq!(args.recipients, vec![10_000, 100_000]);
        assert_eq!(args.workers, vec![1, 2]);
        assert_eq!(args.modes, vec![Mode::RunOnce]);
        assert_eq!((args.batch_size, args.concurrency), (100, 16));
        assert_eq!(args.warmup, 500);
        assert_eq!(args.history, 200_000);
        assert!(args.trace && !args.quick && !args.keep);
    }

    #[test]
    fn quick_and_flags() {
        let args = parse(&["--quick", "--workers=2", "--mode", "both", "--warmup", "0"])
            .unwrap()
            .unwrap();
        assert_eq!(args.recipients, vec![2_000]);
        assert_eq!(args.workers, vec![2]);
        assert_eq!(args.modes, vec![Mode::RunOnce, Mode::Batch]);
        assert_eq!(args.warmup, 0);
        assert_eq!(args.history, 20_000);
    }

    #[test]
    fn bad_input_is_refused_with_the_flag_named() {
        let err = parse(&["--recipients", "10,0"]).unwrap_err();
        assert!(err.to_string().contains("--recipients"));
        assert!(parse(&["--batch-size"]).is_err());
        assert!(parse(&["--mode", "fast"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--help"]).unwrap().is_none());
    }
}
