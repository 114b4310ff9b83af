//! A workspace binary as a process, for its own integration tests: run it to completion with
//! exactly the given environment, or start it, wait until it is ready, and stop it with SIGTERM.

use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

/// Runs `exe` with exactly `vars` (and `LOG_FORMAT=pretty`); returns whether it succeeded and
/// what it wrote on stderr.
pub fn run(exe: &str, vars: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(exe)
        .env_clear()
        .envs(vars.iter().copied())
        .env("LOG_FORMAT", "pretty")
        .output()
        .unwrap_or_else(|e| panic!("{exe}: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A started binary whose output (stdout and stderr) goes to a log file.
pub struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Starts `command` (its environment already set) with its output in `log`.
    pub fn start(mut command: Command, log: &Path) -> Self {
        let out = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = command
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        Self {
            child,
            log: log.to_owned(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `url` answers 200, failing if the process exits first or `deadline` passes.
    pub async fn wait_ready(&mut self, url: &str, deadline: Duration) {
        let client = reqwest::Client::new();
        let until = Instant::now() + deadline;
        loop {
            let ready = client.get(url).send().await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return;
            }
            let exited = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("waiting: {e}"));
            assert!(
                exited.is_none(),
                "exited before {url} was ready:\n{}",
                self.log()
            );
            assert!(Instant::now() < until, "{url} not ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits (a minute at most) for the process to end by itself; its log.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap_or_else(|e| panic!("kill -TERM {pid}: {e}"));
        assert!(sent.success(), "kill -TERM {pid} failed");
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("waiting: {e}"))
            {
                let log = self.log();
                let _ = std::fs::remove_file(&self.log);
                return (status, log);
            }
            assert!(Instant::now() < until, "ignored SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
