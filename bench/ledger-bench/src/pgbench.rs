//! The naive baseline, driven by the real `pgbench` binary: lock the row, update it, append an
//! entry, commit. Latency percentiles come from pgbench's per-transaction logs (`-l`).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context, bail};
use tokio::process::Command;

use benchkit::stats;

use crate::{Plan, Scenario, pgurl::PgUrl};

#[derive(Debug, Clone)]
pub struct Pgbench {
    pub path: PathBuf,
    pub version: String,
}

impl Pgbench {
    /// `PGBENCH`, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin, else
    /// `pgbench` on PATH (last: on Debian that is a Perl wrapper that picks a version and then
    /// execs the real binary). `Err` says why none was usable.
    pub async fn locate() -> Result<Self, String> {
        let mut candidates = Vec::new();
        if let Some(path) = std::env::var_os("PGBENCH") {
            candidates.push(PathBuf::from(path));
        }
        if let Ok(output) = Command::new("pg_config").arg("--bindir").output().await
            && output.status.success()
        {
            let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            candidates.push(Path::new(&dir).join("pgbench"));
        }
        if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<(u32, PathBuf)> = entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((major, entry.path().join("bin").join("pgbench")))
                })
                .collect();
            versions.sort_by_key(|v| std::cmp::Reverse(v.0));
            candidates.extend(versions.into_iter().map(|(_, path)| path));
        }
        if let Some(paths) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&paths).map(|dir| dir.join("pgbench")));
        }
        for path in candidates {
            if !path.is_file() {
                continue;
            }
            if let Ok(output) = Command::new(&path).arg("--version").output().await
                && output.status.success()
            {
                let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                return Ok(Self { path, version });
            }
        }
        Err(
            "no pgbench binary found (looked at $PGBENCH, $PATH, `pg_config --bindir` and \
             /usr/lib/postgresql/*/bin); install it with the PostgreSQL client package, e.g. \
             `apt-get install postgresql-contrib` or `postgresql-client`"
                .to_owned(),
        )
    }
}

/// The naive transaction. `\gset` stores the balance after the update in `:after`.
pub fn script(scenario: Scenario, wallets: usize) -> String {
    let pick = match scenario {
        Scenario::Hot => "\\set w 1".to_owned(),
        Scenario::Spread => format!("\\set w random(1, {wallets})"),
    };
    format!(
        "{pick}
BEGIN;
SELECT balance FROM naive_wallets WHERE id = :w FOR UPDATE;
UPDATE naive_wallets SET balance = balance - 1 WHERE id = :w RETURNING balance AS after \\gset
INSERT INTO naive_entries (wallet_id, amount, balance_after) VALUES (:w, 1, :after);
COMMIT;
"
    )
}

/// Debits per transaction of the practical ceiling.
pub const CEILING_DEBITS: usize = 100;

/// The practical ceiling on the hot wallet: the naive lock-update-insert debit `debits` times in
/// one transaction, so one commit (one WAL flush, one lock handoff) pays for all of them. Each
/// transaction counts as `debits` debits.
pub fn ceiling_script(debits: usize) -> String {
    let one = "SELECT balance FROM naive_wallets WHERE id = :w FOR UPDATE;
UPDATE naive_wallets SET balance = balance - 1 WHERE id = :w RETURNING balance AS after \\gset
INSERT INTO naive_entries (wallet_id, amount, balance_after) VALUES (:w, 1, :after);
";
    format!("\\set w 1\nBEGIN;\n{}COMMIT;\n", one.repeat(debits))
}

/// The ledger's own debit statements on its optimistic path, as `store::lock_wallet` and
/// `store::apply` send them (see the profile line): what the SQL costs without the Rust client.
/// Mirrors the ledger at the commit this file was last changed in; if the profile line shows
/// other statements, update it. References are random per client, so a collision is practically
/// impossible.
pub fn ledger_sql_script(scenario: Scenario, wallets: usize) -> String {
    let pick = match scenario {
        Scenario::Hot => "\\set i 1".to_owned(),
        Scenario::Spread => format!("\\set i random(1, {wallets})"),
    };
    let entry_columns = "id, seq, wallet_id, kind, amount, balance_change, held_change, \
                         balance_after, held_after, counterparty, reference, hold_id, reason, \
                         actor, created_at";
    format!(
        "{pick}
\\set r random(1, 1000000000000000)
BEGIN;
SELECT id, organization_id, currency, balance AS b, held AS h, frozen_by FROM wallets WHERE id = bench_wallet_id(:i) FOR UPDATE \\gset
UPDATE wallets SET balance = :b - 1, held = :h WHERE id = bench_wallet_id(:i);
INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change, balance_after, held_after, counterparty, reference, actor, created_at) VALUES (bench_uuid_v7(), bench_wallet_id(:i), 'debit', 1, -1, 0, :b - 1, :h, 'revenue:messages', 'sql-' || :client_id || '-' || :r, 'system:bench-sql', now()) ON CONFLICT (wallet_id, reference) DO NOTHING RETURNING {entry_columns};
COMMIT;
"
    )
}

pub struct PgbenchRun {
    pub summary: stats::Summary,
    /// pgbench's own figure ("tps = ... (without initial connection time)").
    pub reported_tps: Option<f64>,
    pub measured_seconds: f64,
    pub errors: usize,
    /// Transactions of the warm-up and the measured run together (for per-operation costs).
    pub ops_including_warmup: u64,
    /// Transactions that completed, warm-up included.
    pub ok_including_warmup: u64,
    pub command: String,
}

pub struct Target<'a> {
    pub url: &'a PgUrl,
    pub dbname: &'a str,
    /// Where the per-transaction logs go.
    pub log_dir: &'a Path,
}

/// How pgbench sends its statements (`-M`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// pgbench's default: every statement parsed and planned each time. The naive baseline
    /// has always run this way.
    Simple,
    /// Parsed once per connection, as the Rust clients' statements are.
    Prepared,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Prepared => "prepared",
        }
    }
}

impl Pgbench {
    fn command(
        &self,
        target: &Target<'_>,
        script: &Path,
        protocol: Protocol,
        clients: usize,
        secs: u64,
    ) -> Command {
        let mut command = Command::new(&self.path);
        command
            .arg("-n")
            .arg("-M")
            .arg(protocol.as_str())
            .arg("-f")
            .arg(script)
            .arg("-c")
            .arg(clients.to_string())
            .arg("-j")
            .arg(clients.min(2).to_string())
            .arg("-T")
            .arg(secs.to_string());
        if let Some(host) = &target.url.host {
            command.arg("-h").arg(host);
        }
        if let Some(port) = target.url.port {
            command.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &target.url.user {
            command.arg("-U").arg(user);
        }
        if let Some(password) = &target.url.password {
            command.env("PGPASSWORD", password);
        }
        // The ledger's connections (diesel-async over tokio-postgres with `NoTls`) never use
        // TLS, so neither does the baseline unless the URL demands it: libpq's default `prefer`
        // would otherwise make pgbench pay for encryption the ledger does not.
        command.env("PGSSLMODE", sslmode(target.url.sslmode.as_deref()));
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Warms up (unlogged), then measures with per-transaction logs under `log_dir`.
    pub async fn run(
        &self,
        target: &Target<'_>,
        script: &Path,
        protocol: Protocol,
        plan: &Plan,
        log_name: &str,
    ) -> anyhow::Result<PgbenchRun> {
        let Plan {
            concurrency: clients,
            warmup,
            seconds,
            ..
        } = *plan;
        let log_dir = target.log_dir;
        let mut warmup_ops = 0;
        if !warmup.is_zero() {
            let secs = warmup.as_secs_f64().round().max(1.0) as u64;
            let mut warm = self.command(target, script, protocol, clients, secs);
            warm.arg(target.dbname);
            let output = warm.output().await.context("could not run pgbench")?;
            if !output.status.success() {
                bail!(
                    "pgbench warm-up failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            warmup_ops = parse_after(
                &String::from_utf8_lossy(&output.stdout),
                "number of transactions actually processed:",
            )
            .map_or(0, |n| n as u64);
        }
        let secs = seconds.as_secs_f64().ceil().max(1.0) as u64;
        let prefix = log_dir.join(log_name);
        let mut measure = self.command(target, script, protocol, clients, secs);
        measure
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()))
            .arg(target.dbname);
        let shown = format!(
            "PGSSLMODE={} {} -n -M {} -f {} -c {clients} -j {} -T {secs} -l --log-prefix={} {}",
            sslmode(target.url.sslmode.as_deref()),
            self.path.display(),
            protocol.as_str(),
            script.display(),
            clients.min(2),
            prefix.display(),
            target.dbname
        );
        let output = measure.output().await.context("could not run pgbench")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("pgbench failed ({}): {}", output.status, stderr.trim());
        }
        let (latencies_us, log_errors) = read_logs(log_dir, log_name)?;
        let failed =
            parse_after(&stdout, "number of failed transactions:").map_or(0, |n| n as usize);
        let measured_seconds = secs as f64;
        let ops_including_warmup = warmup_ops + latencies_us.len() as u64 + log_errors as u64;
        Ok(PgbenchRun {
            ops_including_warmup,
            ok_including_warmup: warmup_ops + latencies_us.len() as u64,
            summary: stats::summarize(latencies_us, measured_seconds),
            reported_tps: parse_after(&stdout, "tps ="),
            measured_seconds,
            errors: failed.max(log_errors),
            command: shown,
        })
    }
}

fn sslmode(from_url: Option<&str>) -> &str {
    match from_url {
        None | Some("disable" | "allow" | "prefer") => "disable",
        Some(demanded) => demanded,
    }
}

/// Per-transaction latencies (third column, microseconds) from every `<name>.<pid>[.<thread>]`
/// log file; transactions logged as failed or skipped count as errors.
fn read_logs(dir: &Path, name: &str) -> anyhow::Result<(Vec<u64>, usize)> {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut files = 0;
    let prefix = format!("{name}.");
    for entry in std::fs::read_dir(dir).context("could not list pgbench logs")? {
        let entry = entry?;
        let file_name = entry.file_name();
        if !file_name.to_string_lossy().starts_with(&prefix) {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(entry.path()).context("could not read a pgbench log")?;
        let (mut file_latencies, file_errors) = parse_log(&text);
        latencies.append(&mut file_latencies);
        errors += file_errors;
    }
    if files == 0 {
        bail!("pgbench wrote no transaction log under {}", dir.display());
    }
    Ok((latencies, errors))
}

fn parse_log(text: &str) -> (Vec<u64>, usize) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for line in text.lines() {
        match line.split_whitespace().nth(2) {
            Some(field) => match field.parse::<u64>() {
                Ok(us) => latencies.push(us),
                Err(_) => errors += 1,
            },
            None if line.trim().is_empty() => {}
            None => errors += 1,
        }
    }
    (latencies, errors)
}

/// The number right after `label` on the line that contains it.
fn parse_after(text: &str, label: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.split_once(label)?.1;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_s_third_column_is_the_latency() {
        let log = "0 1 1523 0 1700000000 123456\n1 1 2210 0 1700000000 123999\n\n\
                   0 2 failed 0 1700000001 000001\n";
        let (latencies, errors) = parse_log(log);
        assert_eq!(latencies, vec![1523, 2210]);
        assert_eq!(errors, 1);
    }

    #[test]
    fn the_summary_figures_are_found() {
        let out = "number of transactions actually processed: 4242\n\
                   number of failed transactions: 3 (0.071%)\n\
                   latency average = 1.886 ms\n\
                   initial connection time = 4.151 ms\n\
                   tps = 424.193412 (without initial connection time)\n";
        assert_eq!(parse_after(out, "tps ="), Some(424.193412));
        assert_eq!(
            parse_after(out, "number of failed transactions:"),
            Some(3.0)
        );
        assert_eq!(parse_after(out, "missing"), None);
    }

    #[test]
    fn the_ledger_sql_script_locks_then_writes() {
        let script = ledger_sql_script(Scenario::Spread, 100);
        assert!(script.starts_with("\\set i random(1, 100)\n"));
        let order: Vec<usize> = [
            "FOR UPDATE",
            "UPDATE wallets",
            "INSERT INTO ledger_entries",
            "COMMIT",
        ]
        .iter()
        .map(|needle| script.find(needle).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(ledger_sql_script(Scenario::Hot, 100).starts_with("\\set i 1\n"));
    }

    #[test]
    fn tls_only_when_the_url_demands_it() {
        assert_eq!(sslmode(None), "disable");
        assert_eq!(sslmode(Some("prefer")), "disable");
        assert_eq!(sslmode(Some("require")), "require");
    }

    #[test]
    fn the_ceiling_does_its_debits_in_one_transaction() {
        let script = ceiling_script(3);
        assert!(
            script.starts_with("\\set w 1\nBEGIN;\nSELECT balance"),
            "{script}"
        );
        assert!(script.ends_with(":after);\nCOMMIT;\n"), "{script}");
        assert_eq!(script.matches("FOR UPDATE;").count(), 3);
        assert_eq!(script.matches("INSERT INTO naive_entries").count(), 3);
        assert_eq!(script.matches("BEGIN").count(), 1);
        assert_eq!(ceiling_script(CEILING_DEBITS).matches("COMMIT").count(), 1);
    }

    #[test]
    fn scripts_pick_the_hot_row_or_a_random_one() {
        assert!(script(Scenario::Hot, 10).starts_with("\\set w 1\n"));
        let spread = script(Scenario::Spread, 10_000);
        assert!(spread.starts_with("\\set w random(1, 10000)\n"));
        assert!(spread.contains("RETURNING balance AS after \\gset\n"));
        assert!(spread.contains("VALUES (:w, 1, :after);"));
    }
}
