//! Debits through the HTTP api: the real `api` binary (release build) on the benchmark database,
//! organizations, API keys and funded wallets made through its admin API, then one tokio task
//! per connection, each with its own keep-alive HTTP/1.1 connection (a `reqwest::Client` of its
//! own), posting debits with unique `Idempotency-Key`s to the hot organization's wallet with one
//! of its API keys, one request at a time, for a fixed duration.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use benchkit::stats;
use rand::{Rng, distr::Alphanumeric};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How long the api may take to answer `/readyz` with 200 after it was started.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// What every organization's wallet is funded with: far more than a run can spend a cent at a
/// time, so `INSUFFICIENT_FUNDS` would be a bug, not a figure.
const FUNDING: &str = "10000000000.00";

/// One debit: one cent.
const DEBIT_BODY: &str = r#"{"amount":"0.01","currency":"USD"}"#;

/// The api binary: `given`, else `target/release/api` after `cargo build --release -p api` (so
/// the figures are those of the code in the tree, never of a stale build).
pub async fn api_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if !path.is_file() {
            bail!("--api-bin {}: no such file", path.display());
        }
        return Ok(path.to_owned());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    crate::progress!("building the api: cargo build --release -p api");
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "api"])
        .current_dir(&workspace)
        .stdin(Stdio::null())
        // stdout is the bench's JSON lines; cargo's progress goes to stderr anyway.
        .stdout(Stdio::null())
        .status()
        .await
        .context("could not run cargo to build the api")?;
    if !status.success() {
        bail!("cargo build --release -p api failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    let path = target.join("release").join("api");
    if !path.is_file() {
        bail!("{} is missing after the build", path.display());
    }
    Ok(path)
}

/// The api as a child process, killed if dropped.
pub struct Api {
    child: Child,
    pid: u32,
    pub base_url: String,
    pub log: PathBuf,
    admin_token: String,
}

impl Api {
    /// Starts `binary` on a free loopback port against `database_url`, its output in `log`, and
    /// waits until it is ready.
    pub async fn start(
        binary: &Path,
        database_url: &str,
        extra_env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("no free loopback port for the api")?
            .port();
        let admin_token: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        let out = std::fs::File::create(log)
            .with_context(|| format!("could not create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(binary);
        // Only what the bench gives: a variable in the caller's shell must not change the api.
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command
            .env("RUST_LOG", "warn")
            // The bench drives one hot key far above a customer's budget on purpose.
            .env("API_RATE_LIMIT_PER_SECOND", "0")
            .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DATABASE_URL", database_url)
            .env("API_ADDR", format!("127.0.0.1:{port}"))
            .env("ADMIN_TOKEN", &admin_token)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let pid = child.id().context("the api exited at once")?;
        let mut api = Self {
            child,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            log: log.to_owned(),
            admin_token,
        };
        api.wait_ready().await?;
        Ok(api)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.base_url);
        let until = Instant::now() + READY_DEADLINE;
        loop {
            let answer = client.get(&url).send().await;
            if answer.is_ok_and(|response| response.status() == StatusCode::OK) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the api exited ({status}) before it was ready: {}",
                    self.log_tail()
                );
            }
            if Instant::now() >= until {
                bail!("the api was not ready within 60 s: {}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of the api's log, for an error message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then up to 30 s for a clean exit (killed after that); the exit status.
    pub async fn stop(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await
            .context("could not run kill")?;
        if sent.success()
            && let Ok(status) =
                tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await
        {
            return Ok(status?);
        }
        self.child.kill().await.context("could not kill the api")?;
        Ok(self.child.wait().await?)
    }

    async fn admin_post(
        &self,
        client: &reqwest::Client,
        path: &str,
        idempotency_key: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
            .json(&body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status != StatusCode::CREATED {
            bail!("POST {path} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON: {text}"))
    }
}

/// One organization made through the admin API.
#[derive(Debug, Clone)]
pub struct Organization {
    pub id: String,
    pub wallet_id: String,
    pub keys: Vec<String>,
}

/// `orgs` organizations (USD wallets, each funded with one admin credit); the first gets
/// `hot_keys` API keys, the others one each.
pub async fn set_up(
    api: &Api,
    orgs: usize,
    hot_keys: usize,
    run_tag: &str,
) -> anyhow::Result<Vec<Organization>> {
    let client = reqwest::Client::new();
    let mut made = Vec::with_capacity(orgs);
    for n in 0..orgs {
        let created = api
            .admin_post(
                &client,
                "/v1/organizations",
                None,
                json!({ "name": format!("bench http org {n}"), "currency": "USD" }),
            )
            .await?;
        let field = |name: &str| {
            created[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {name} in {created}"))
        };
        let (id, wallet_id) = (field("id")?, field("wallet_id")?);
        let key_count = if n == 0 { hot_keys } else { 1 };
        let mut keys = Vec::with_capacity(key_count);
        for k in 0..key_count {
            let issued = api
                .admin_post(
                    &client,
                    &format!("/v1/organizations/{id}/api-keys"),
                    None,
                    json!({ "name": format!("bench key {k}") }),
                )
                .await?;
            keys.push(
                issued["key"]
                    .as_str()
                    .map(str::to_owned)
                    .context("no key in the API key answer")?,
            );
        }
        api.admin_post(
            &client,
            &format!("/v1/organizations/{id}/wallet/credits"),
            Some(&format!("{run_tag}-http-funding-{n}")),
            json!({ "amount": FUNDING, "currency": "USD", "counterparty": "topup:bench" }),
        )
        .await?;
        made.push(Organization {
            id,
            wallet_id,
            keys,
        });
    }
    Ok(made)
}

pub struct HttpRun {
    pub summary: stats::Summary,
    pub measured_seconds: f64,
    /// Requests started in the measured window that were not answered 201.
    pub errors: usize,
    /// Debits answered 201, warm-up included (checked against the entries table at the end).
    pub applied_total: u64,
    /// Requests not answered 201, warm-up included.
    pub errors_total: u64,
    pub error_samples: Vec<String>,
    /// How many answers of each status (warm-up included); `transport` for no answer.
    pub statuses: Vec<(String, u64)>,
}

struct Ctx {
    url: String,
    keys: Vec<String>,
    prefix: String,
    measure_from: Instant,
    end: Instant,
}

#[derive(Default)]
struct SenderResult {
    latencies_us: Vec<u64>,
    errors: usize,
    applied_total: u64,
    errors_total: u64,
    error_samples: Vec<String>,
    statuses: Vec<(String, u64)>,
}

impl SenderResult {
    fn count(&mut self, status: String, times: u64) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += times,
            None => self.statuses.push((status, times)),
        }
    }
}

/// `connections` senders debiting `organization`'s wallet until the window ends.
pub async fn run(
    api: &Api,
    organization: &Organization,
    connections: usize,
    warmup: Duration,
    seconds: Duration,
    run_tag: &str,
) -> anyhow::Result<HttpRun> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(
            reqwest::Client::builder()
                .http1_only()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(30))
                .build()
                .context("building an HTTP client")?,
        );
    }
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        url: format!(
            "{}/v1/organizations/{}/wallet/debits",
            api.base_url, organization.id
        ),
        keys: organization.keys.clone(),
        prefix: format!("{run_tag}-http-c{connections}"),
        measure_from: start + warmup,
        end: start + warmup + seconds,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (task, client) in clients.into_iter().enumerate() {
        tasks.spawn(sender(Arc::clone(&ctx), client, task));
    }
    let mut merged = SenderResult::default();
    while let Some(result) = tasks.join_next().await {
        let result = result.context("a sender task panicked")?;
        merged.latencies_us.extend(result.latencies_us);
        merged.errors += result.errors;
        merged.applied_total += result.applied_total;
        merged.errors_total += result.errors_total;
        for sample in result.error_samples {
            if merged.error_samples.len() < 5 {
                merged.error_samples.push(sample);
            }
        }
        for (status, n) in result.statuses {
            merged.count(status, n);
        }
    }
    let measured_seconds = seconds.as_secs_f64();
    merged.statuses.sort();
    Ok(HttpRun {
        summary: stats::summarize(merged.latencies_us, measured_seconds),
        measured_seconds,
        errors: merged.errors,
        applied_total: merged.applied_total,
        errors_total: merged.errors_total,
        error_samples: merged.error_samples,
        statuses: merged.statuses,
    })
}

async fn sender(ctx: Arc<Ctx>, client: reqwest::Client, task: usize) -> SenderResult {
    let mut result = SenderResult::default();
    let key = &ctx.keys[task % ctx.keys.len()];
    let mut n: u64 = 0;
    loop {
        let started = Instant::now();
        if started >= ctx.end {
            break;
        }
        let idempotency_key = format!("{}-t{task}-{n}", ctx.prefix);
        n += 1;
        let sent = client
            .post(&ctx.url)
            .bearer_auth(key)
            .header("Idempotency-Key", idempotency_key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(DEBIT_BODY)
            .send()
            .await;
        // The answer is read to its end: the debit is done when the client has its receipt.
        let outcome = match sent {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status == StatusCode::CREATED => Ok(()),
                    Ok(body) => Err((
                        status.as_u16().to_string(),
                        format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(300)])
                        ),
                    )),
                    Err(error) => Err(("transport".to_owned(), format!("reading: {error}"))),
                }
            }
            Err(error) => Err(("transport".to_owned(), format!("{error}"))),
        };
        let latency = started.elapsed();
        let measured = started >= ctx.measure_from;
        match outcome {
            Ok(()) => {
                result.count("201".to_owned(), 1);
                result.applied_total += 1;
                if measured {
                    result
                        .latencies_us
                        .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
                }
            }
            Err((status, sample)) => {
                result.count(status, 1);
                result.errors_total += 1;
                if measured {
                    result.errors += 1;
                }
                if result.error_samples.len() < 5 {
                    result.error_samples.push(sample);
                }
            }
        }
    }
    result
}
