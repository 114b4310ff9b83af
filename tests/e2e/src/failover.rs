//! PostgreSQL failover for the end-to-end tests: a pg_auto_failover [`Cluster`] (a monitor and
//! two nodes on free loopback ports, in a scratch directory) and the [`Services`] (one
//! receiver, several apis and workers) started against its multi-host URL.
//!
//! pg_auto_failover comes from Debian's packages, installed by `scripts/install-pg-auto-failover`
//! when missing (the cluster runs it first). PostgreSQL refuses to run as root: as root, every
//! `pg_autoctl` runs as the `postgres` system user through `runuser`, as the `db` crate's
//! embedded cluster does. [`Cluster::crash`] takes a whole node down at once, as a host that
//! dies would: its `pg_autoctl run` is a process group of its own (the keeper and the
//! postmaster), and PostgreSQL's children, which make groups of their own, are found by their
//! working directory. The drop does the same to everything left, then removes the directory.
//!
//! The monitor's settings are [`FAST_FAILOVER`], the ones docs/deploy.md ("PostgreSQL failover")
//! recommends and explains.

use std::{
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use diesel::{
    QueryableByName,
    sql_types::{Integer, Text},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::{
    fakes::{FakeStripe, FakeTwilio},
    keys::Keys,
    process::{Process, free_port},
    stack::ADMIN_TOKEN,
};

/// The monitor's settings for a failover within seconds (defaults in brackets): a node is
/// checked every second [5 s] with a one-second connect timeout [5 s] and one retry after
/// half a second [2 retries, 2 s apart]; it is failed over once it has failed its checks and
/// its keeper has been silent for 5 s [20 s]; the monitor then waits 5 s [30 s] for the old
/// primary to confirm it stopped before the standby takes writes.
pub const FAST_FAILOVER: &[(&str, &str)] = &[
    ("pgautofailover.health_check_period", "1000"),
    ("pgautofailover.health_check_timeout", "1000"),
    ("pgautofailover.health_check_max_retries", "1"),
    ("pgautofailover.health_check_retry_delay", "500"),
    ("pgautofailover.node_considered_unhealthy_timeout", "5000"),
    ("pgautofailover.primary_demote_timeout", "5000"),
];

/// The database the services use on the nodes.
pub const DATABASE: &str = "billing";
/// Node names, in the order they are created (the first starts as the primary).
pub const NODES: [&str; 2] = ["node1", "node2"];
/// How long a cluster step (create, join, a state change) may take.
const STEP_DEADLINE: Duration = Duration::from_secs(90);
/// Lines of a keeper's log shown when a test fails.
const LOG_TAIL_LINES: usize = 40;

/// How to run `pg_autoctl` here.
#[derive(Debug, Clone)]
struct Tools {
    pg_autoctl: PathBuf,
    /// The PostgreSQL server binaries (`pg_ctl`, `initdb`, `pg_basebackup`, `pg_rewind`).
    bin_dir: PathBuf,
    /// Root: run as the `postgres` system user.
    as_postgres: bool,
    /// Where the commands run: the cluster's directory.
    scratch: PathBuf,
    /// pg_autoctl keeps its configuration and state under XDG directories, by default in the
    /// running user's home; these keep them in the scratch directory.
    xdg: PathBuf,
}

impl Tools {
    fn find(scratch: &Path) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../scripts/install-pg-auto-failover");
        let output = Command::new(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed (pg_auto_failover is needed for the failover test):\n{}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let pg_autoctl = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        Self {
            pg_autoctl,
            bin_dir: server_bin_dir(),
            as_postgres: is_root(),
            scratch: scratch.to_owned(),
            xdg: scratch.join("xdg"),
        }
    }

    /// `pg_autoctl args...` as the account that runs PostgreSQL, with the server binaries first
    /// on its `PATH`.
    fn pg_autoctl(&self, args: &[&str]) -> Command {
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env = [
            format!("PATH={path}"),
            format!("XDG_CONFIG_HOME={}", self.xdg.join("config").display()),
            format!("XDG_DATA_HOME={}", self.xdg.join("data").display()),
            format!("XDG_RUNTIME_DIR={}", self.xdg.join("run").display()),
        ];
        // `env` sets the variables after the account switch, which may reset some of them.
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", "env"]);
            command
        } else {
            Command::new("env")
        };
        command
            .args(env)
            .arg(&self.pg_autoctl)
            .args(args)
            .current_dir(&self.scratch)
            .stdin(Stdio::null());
        command
    }

    fn pg_ctl(&self) -> String {
        self.bin_dir.join("pg_ctl").display().to_string()
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The server binaries the install script matched: `pg_config --bindir` when it holds a
/// server, else the newest `/usr/lib/postgresql/<major>/bin`.
fn server_bin_dir() -> PathBuf {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return dir;
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("no PostgreSQL server binaries (apt-get install postgresql)"))
}

/// One `pg_autoctl` service: the monitor or a node.
struct Keeper {
    name: String,
    port: u16,
    pgdata: PathBuf,
    log: PathBuf,
    /// `pg_autoctl run`, leader of its own process group.
    run: Option<Child>,
}

impl Keeper {
    fn new(dir: &Path, name: &str) -> Self {
        Self {
            name: name.to_owned(),
            port: free_port(),
            pgdata: dir.join(name),
            log: dir.join(format!("{name}.log")),
            run: None,
        }
    }

    /// Starts `pg_autoctl run` for this service, its output appended to its log.
    fn start(&mut self, tools: &Tools) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        let pgdata = self.pgdata.display().to_string();
        let child = tools
            .pg_autoctl(&["run", "--pgdata", &pgdata])
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("pg_autoctl run {}: {e}", self.name));
        self.run = Some(child);
    }

    /// SIGKILLs the service's whole process group (the keeper, PostgreSQL and its backends)
    /// and whatever PostgreSQL is still running in its data directory.
    fn kill(&mut self) {
        if let Some(mut child) = self.run.take() {
            signal("KILL", &format!("-{}", child.id()));
            let _ = child.wait();
        }
        if let Some(pid) = postmaster_pid(&self.pgdata) {
            signal("KILL", &pid.to_string());
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// The postmaster's pid from `postmaster.pid`, if that process still exists.
fn postmaster_pid(pgdata: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// `kill -SIGNAL -- target` (a pid, or `-pgid` for a process group).
fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A node as the monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct NodeState {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Integer)]
    pub port: i32,
    #[diesel(sql_type = Text)]
    pub reported: String,
    #[diesel(sql_type = Text)]
    pub assigned: String,
}

#[derive(QueryableByName)]
struct Pid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// A monitor and two nodes, the first the primary and the second its synchronous standby.
pub struct Cluster {
    tools: Tools,
    dir: PathBuf,
    monitor: Keeper,
    nodes: Vec<Keeper>,
}

impl Cluster {
    /// Installs pg_auto_failover if needed, creates and starts the monitor with `settings`,
    /// then the two nodes, and waits until the second is the first's standby.
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("e2e-failover-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let tools = Tools::find(&dir);
        if tools.as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap_or_else(|e| panic!("chown: {e}"));
            assert!(status.success(), "chown postgres {}", dir.display());
        }
        let mut cluster = Self {
            monitor: Keeper::new(&dir, "monitor"),
            nodes: NODES.iter().map(|name| Keeper::new(&dir, name)).collect(),
            tools,
            dir,
        };
        cluster.create_monitor(settings).await;
        for n in 0..NODES.len() {
            cluster.create_node(n).await;
        }
        cluster
            .wait_for(
                "the first node primary and the second its standby",
                |nodes| {
                    nodes.len() == 2
                        && nodes.iter().all(|node| node.reported == node.assigned)
                        && nodes[0].reported == "primary"
                        && nodes[1].reported == "secondary"
                },
            )
            .await;
        cluster
    }

    async fn run(&self, what: &str, args: &[&str]) {
        let mut command = tokio::process::Command::from(self.tools.pg_autoctl(args));
        command.kill_on_drop(true);
        let output = tokio::time::timeout(STEP_DEADLINE, command.output())
            .await
            .unwrap_or_else(|_| panic!("{what}: no end after {STEP_DEADLINE:?}"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            output.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn create_monitor(&mut self, settings: &[(&str, &str)]) {
        let pgdata = self.monitor.pgdata.display().to_string();
        let port = self.monitor.port.to_string();
        let pg_ctl = self.tools.pg_ctl();
        self.run(
            "pg_autoctl create monitor",
            &[
                "create",
                "monitor",
                "--pgdata",
                &pgdata,
                "--pgport",
                &port,
                "--hostname",
                "127.0.0.1",
                "--auth",
                "trust",
                "--no-ssl",
                "--pgctl",
                &pg_ctl,
            ],
        )
        .await;
        self.monitor.start(&self.tools);
        let mut conn = self.monitor_connection().await;
        for (name, value) in settings {
            conn.batch_execute(&format!("ALTER SYSTEM SET {name} = '{value}'"))
                .await
                .unwrap_or_else(|e| panic!("{name} = {value}: {e}"));
        }
        conn.batch_execute("SELECT pg_reload_conf()")
            .await
            .unwrap_or_else(|e| panic!("reloading the monitor: {e}"));
    }

    /// The monitor's connection string for the keepers.
    fn monitor_uri(&self) -> String {
        format!(
            "postgres://autoctl_node@127.0.0.1:{}/pg_auto_failover?sslmode=disable",
            self.monitor.port
        )
    }

    /// A superuser session on the monitor's database, once it accepts one.
    async fn monitor_connection(&self) -> AsyncPgConnection {
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/pg_auto_failover",
            self.monitor.port
        );
        let until = Instant::now() + STEP_DEADLINE;
        loop {
            match AsyncPgConnection::establish(&url).await {
                Ok(conn) => return conn,
                Err(error) => assert!(
                    Instant::now() < until,
                    "the monitor does not answer: {error}\n{}",
                    self.monitor.log_tail()
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create_node(&mut self, n: usize) {
        let node = &self.nodes[n];
        let (name, pgdata, port) = (
            node.name.clone(),
            node.pgdata.display().to_string(),
            node.port.to_string(),
        );
        let monitor = self.monitor_uri();
        let pg_ctl = self.tools.pg_ctl();
        self.run(
            &format!("pg_autoctl create postgres ({name})"),
            &[
                "create",
                "postgres",
                "--pgdata",
                &pgdata,
                "--pgport",
                &port,
                "--hostname",
                "127.0.0.1",
                "--listen",
                "127.0.0.1",
                "--name",
                &name,
                "--dbname",
                DATABASE,
                "--monitor",
                &monitor,
                "--auth",
                "trust",
                "--no-ssl",
                "--pgctl",
                &pg_ctl,
            ],
        )
        .await;
        self.nodes[n].start(&self.tools);
        if n == 0 {
            // The second node clones the first, which must be running as the group's only node.
            self.wait_for("the first node running alone", |nodes| {
                nodes
                    .iter()
                    .any(|node| node.name == name && node.reported == "single")
            })
            .await;
        }
    }

    /// Every node as the monitor sees it, in the order they were created.
    pub async fn nodes(&self) -> Vec<NodeState> {
        let mut conn = self.monitor_connection().await;
        diesel::sql_query(
            "SELECT nodename AS name, nodeport AS port, reportedstate::text AS reported, \
                    goalstate::text AS assigned \
             FROM pgautofailover.node ORDER BY nodeid",
        )
        .load(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("reading the monitor's nodes: {e}"))
    }

    /// Polls the monitor until `done` holds for its nodes; returns them.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[NodeState]) -> bool,
    ) -> Vec<NodeState> {
        let until = Instant::now() + STEP_DEADLINE;
        loop {
            let nodes = self.nodes().await;
            if done(&nodes) {
                return nodes;
            }
            assert!(
                Instant::now() < until,
                "timed out after {STEP_DEADLINE:?} waiting for {what}; the monitor sees {nodes:?}\n\
                 {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the node the monitor has as primary.
    pub async fn primary(&self) -> usize {
        let nodes = self.nodes().await;
        nodes
            .iter()
            .position(|node| node.reported == "primary" && node.assigned == "primary")
            .unwrap_or_else(|| panic!("no primary: {nodes:?}"))
    }

    /// Node `n`'s port.
    pub fn port(&self, n: usize) -> u16 {
        self.nodes[n].port
    }

    /// The URL every service gets: both nodes, in `order` (indexes), the writable one chosen
    /// at each connection; a node that does not answer is given up after 2 s.
    pub fn url(&self, order: &[usize]) -> String {
        let hosts: Vec<String> = order
            .iter()
            .map(|&n| format!("127.0.0.1:{}", self.nodes[n].port))
            .collect();
        format!(
            "postgres://postgres@{}/{DATABASE}?target_session_attrs=read-write&connect_timeout=2",
            hosts.join(",")
        )
    }

    /// A URL of node `n` alone, writable or not.
    pub fn node_url(&self, n: usize) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{DATABASE}",
            self.nodes[n].port
        )
    }

    /// `pg_autoctl set node replication-quorum` of node `n`: `false` makes its replication
    /// asynchronous (the break check of the failover test).
    pub async fn set_replication_quorum(&self, n: usize, quorum: bool) {
        let pgdata = self.nodes[n].pgdata.display().to_string();
        let value = quorum.to_string();
        self.run(
            "pg_autoctl set node replication-quorum",
            &[
                "set",
                "node",
                "replication-quorum",
                "--pgdata",
                &pgdata,
                &value,
            ],
        )
        .await;
    }

    /// Stops WAL from leaving primary `n` (its WAL senders are SIGSTOPped) until the returned
    /// guard is resumed or dropped: its standby falls behind, as on a congested link, and
    /// nothing sent later can still be in flight when the primary dies.
    pub async fn pause_replication(&self, n: usize) -> Paused {
        let mut conn = AsyncPgConnection::establish(&self.node_url(n))
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.nodes[n].name));
        let senders: Vec<Pid> = diesel::sql_query("SELECT pid FROM pg_stat_replication")
            .load(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}'s WAL senders: {e}", self.nodes[n].name));
        assert!(!senders.is_empty(), "{} sends no WAL", self.nodes[n].name);
        let pids: Vec<String> = senders
            .iter()
            .map(|sender| sender.pid.to_string())
            .collect();
        for pid in &pids {
            signal("STOP", pid);
        }
        Paused { pids }
    }

    /// A crash of node `n`'s host: its keeper, its PostgreSQL and every backend SIGKILLed at
    /// once (they run in process groups of their own, so each is found by its working
    /// directory). Returns once nothing of it runs.
    pub fn crash(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.kill();
        for pid in processes_in(&node.pgdata) {
            signal("KILL", &pid.to_string());
        }
    }

    /// The tail of every service's log.
    pub fn logs(&self) -> String {
        std::iter::once(&self.monitor)
            .chain(&self.nodes)
            .map(|keeper| format!("----- {} -----\n{}", keeper.name, keeper.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for keeper in self
            .nodes
            .iter_mut()
            .chain(std::iter::once(&mut self.monitor))
        {
            keeper.kill();
        }
        // PostgreSQL's children run in process groups of their own, and some outlive a killed
        // postmaster (the monitor's health-check worker and logger do): whatever still works
        // in the cluster's directory is one of ours.
        for pid in processes_in(&self.dir) {
            signal("KILL", &pid.to_string());
        }
        if std::thread::panicking() {
            eprintln!(
                "{}\nfailover cluster kept in {}",
                self.logs(),
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The processes whose working directory is `dir` or below it (PostgreSQL's is its data
/// directory).
fn processes_in(dir: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            cwd.starts_with(dir).then_some(pid)
        })
        .collect()
}

/// A primary's WAL senders held by SIGSTOP.
pub struct Paused {
    pids: Vec<String>,
}

impl Paused {
    /// Lets them send again.
    pub fn resume(mut self) {
        self.cont();
    }

    /// They died with their node ([`Cluster::crash`]): nothing to resume.
    pub fn died(mut self) {
        self.pids.clear();
    }

    fn cont(&mut self) {
        for pid in self.pids.drain(..) {
            signal("CONT", &pid);
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        self.cont();
    }
}

/// The services against one database URL: a webhook receiver, `apis` apis and `workers`
/// workers, with a fake Twilio (and Stripe, for the receiver's configuration) on loopback.
/// Only Stripe is configured among the providers.
pub struct Services {
    pub receiver: Process,
    pub apis: Vec<Process>,
    pub workers: Vec<Process>,
    pub receiver_url: String,
    pub api_urls: Vec<String>,
    pub worker_urls: Vec<String>,
    pub twilio: FakeTwilio,
    /// The providers' credentials the services were given (Stripe's signs deliveries).
    pub keys: Keys,
    pub client: reqwest::Client,
    _stripe: FakeStripe,
    dir: PathBuf,
}

impl Services {
    pub async fn start(database_url: &str, apis: usize, workers: usize) -> Self {
        let twilio = FakeTwilio::start(Duration::ZERO).await;
        let stripe = FakeStripe::start().await;
        let dir = std::env::temp_dir().join(format!(
            "e2e-failover-services-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let keys = Keys::generate(&dir);
        let mut common = vec![
            ("DATABASE_URL".to_owned(), database_url.to_owned()),
            ("DATABASE_POOL_SIZE".to_owned(), "5".to_owned()),
            ("RUST_LOG".to_owned(), "warn".to_owned()),
            ("LOG_FORMAT".to_owned(), "pretty".to_owned()),
        ];
        common.extend(
            keys.env("http://127.0.0.1:9", &stripe.uri())
                .into_iter()
                .filter(|(name, _)| name.starts_with("STRIPE")),
        );

        let receiver_port = free_port();
        let mut receiver_env = common.clone();
        receiver_env.push((
            "WEBHOOK_ADDR".to_owned(),
            format!("127.0.0.1:{receiver_port}"),
        ));
        let receiver = Process::spawn(
            "webhook-receiver",
            &receiver_env,
            &dir.join("webhook-receiver.log"),
        );

        let mut api_processes = Vec::new();
        let mut api_urls = Vec::new();
        for n in 1..=apis {
            let port = free_port();
            let mut env = common.clone();
            env.extend(
                [
                    ("API_ADDR", format!("127.0.0.1:{port}")),
                    ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
                ]
                .map(|(name, value)| (name.to_owned(), value)),
            );
            api_processes.push(Process::spawn(
                "api",
                &env,
                &dir.join(format!("api-{n}.log")),
            ));
            api_urls.push(format!("http://127.0.0.1:{port}"));
        }

        let mut worker_processes = Vec::new();
        let mut worker_urls = Vec::new();
        for n in 1..=workers {
            let port = free_port();
            let mut env = common.clone();
            env.extend(crate::stack::worker_defaults(&twilio));
            env.extend(
                [
                    ("WORKER_ADDR", format!("127.0.0.1:{port}")),
                    ("HOSTNAME", format!("worker-{n}")),
                    ("DISPATCH_BATCH_SIZE", "2".to_owned()),
                    ("DISPATCH_CONCURRENCY", "2".to_owned()),
                ]
                .map(|(name, value)| (name.to_owned(), value)),
            );
            worker_processes.push(Process::spawn(
                "worker",
                &env,
                &dir.join(format!("worker-{n}.log")),
            ));
            worker_urls.push(format!("http://127.0.0.1:{port}"));
        }

        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("http client: {e}"));
        let mut services = Self {
            receiver,
            apis: api_processes,
            workers: worker_processes,
            receiver_url: format!("http://127.0.0.1:{receiver_port}"),
            api_urls,
            worker_urls,
            twilio,
            keys,
            client,
            _stripe: stripe,
            dir,
        };
        services.wait_ready(Duration::from_secs(60)).await;
        services
    }

    /// Every service's name, base URL and process.
    fn all(&mut self) -> Vec<(String, String, &mut Process)> {
        let mut all = vec![(
            "webhook-receiver".to_owned(),
            self.receiver_url.clone(),
            &mut self.receiver,
        )];
        for (n, (api, url)) in self.apis.iter_mut().zip(&self.api_urls).enumerate() {
            all.push((format!("api-{}", n + 1), url.clone(), api));
        }
        for (n, (worker, url)) in self.workers.iter_mut().zip(&self.worker_urls).enumerate() {
            all.push((format!("worker-{}", n + 1), url.clone(), worker));
        }
        all
    }

    /// Waits until every service answers `/readyz` with 200; panics with the log of one that
    /// exits or is not ready in time.
    pub async fn wait_ready(&mut self, deadline: Duration) {
        let until = Instant::now() + deadline;
        let client = self.client.clone();
        for (name, base, process) in self.all() {
            loop {
                let ready = client
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|response| response.status() == reqwest::StatusCode::OK);
                if ready {
                    break;
                }
                if let Some(status) = process.exited() {
                    panic!("{name} exited with {status}:\n{}", process.log_tail());
                }
                assert!(
                    Instant::now() < until,
                    "{name} not ready after {deadline:?}:\n{}",
                    process.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The services that have exited, by name: none is expected to, whatever the database does.
    pub fn exited(&mut self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter_map(|(name, _, process)| {
                process.exited().map(|status| format!("{name} ({status})"))
            })
            .collect()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("service logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
