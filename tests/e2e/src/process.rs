//! The built binaries as processes: found next to the test executable, started with their
//! environment on free loopback ports, their output kept in a log file, killed on drop.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
};

/// Lines of a process's log shown when the test that ran it fails.
const LOG_TAIL_LINES: usize = 60;

/// A binary of the workspace, as `cargo build -p ...` (or `cargo test --workspace`, for packages
/// with integration tests) left it in `target/<profile>/`. Panics, saying how to build it, when
/// it is missing.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    // Tests run from target/<profile>/deps/; the binaries sit in target/<profile>/.
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map_or_else(|| target.join("debug"), PathBuf::from);
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build -p api -p migrator -p \
         webhook-receiver -p worker -p webhook-tool` (`cargo test` builds a package's binaries only \
         when that package has integration tests of its own)",
        path.display()
    );
    path
}

/// A loopback port nobody listens on right now.
pub use testkit::binary::free_port;

/// A running binary. Killed (and reaped) on drop; if the test is failing, the tail of its log
/// is printed so the failure shows what the process said.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `name` with the environment `env`, its stdout and stderr written to `log`.
    pub fn spawn(name: &str, env: &[(String, String)], log: &Path) -> Self {
        let out = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        // Only what the test gives (and PATH, RUST_BACKTRACE): a variable exported in the
        // developer's shell (a provider's secrets, a dunning schedule) must not change the test.
        let inherited = ["PATH", "RUST_BACKTRACE"]
            .into_iter()
            .filter_map(|name| std::env::var(name).ok().map(|value| (name, value)));
        let child = Command::new(binary(name))
            .env_clear()
            .envs(inherited)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// SIGTERM, then waits (up to a minute) for the process to end by itself: graceful
    /// shutdown is what is under test, so it is never killed here.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("kill -TERM {pid}: {e}"));
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} ignored SIGTERM for a minute:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// SIGKILL, and reaps it: a crash, with no chance to finish anything (the fault tests).
    /// Returns at once if it had already exited.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        // Child::kill is SIGKILL on Unix.
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("kill -KILL {}: {e}", self.name));
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, LOG_TAIL_LINES)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- {} log ({}) -----\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            );
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return String::new();
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `migrator up` on `database_url`; panics with its output unless it succeeds.
pub fn migrate(database_url: &str) {
    let output = Command::new(binary("migrator"))
        .arg("up")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap_or_else(|e| panic!("starting migrator: {e}"));
    assert!(
        output.status.success(),
        "migrator up failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
