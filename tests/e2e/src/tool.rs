//! `webhook-tool` as a process, as a developer runs it: in a directory (its `.data` is the
//! development data directory), with exactly the given environment.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::process::binary;

/// What one run of the tool did.
#[derive(Debug)]
pub struct ToolRun {
    /// The exit status: 0 accepted, 1 refused by the receiver, 2 any other error.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolRun {
    /// The receiver's answer the tool printed (`<- {status} {body}`): the status and the body
    /// as JSON.
    pub fn answer(&self) -> (u16, Value) {
        self.answer_at(0)
    }

    /// The `n`th answer printed (a script runs the tool several times).
    pub fn answer_at(&self, n: usize) -> (u16, Value) {
        let line = self
            .stdout
            .lines()
            .filter_map(|line| line.trim().strip_prefix("<- "))
            .nth(n)
            .unwrap_or_else(|| panic!("no answer {n} printed:\n{self:?}"));
        let (status, body) = line.split_once(' ').unwrap_or((line, ""));
        let status = status
            .parse()
            .unwrap_or_else(|e| panic!("{status}: {e}\n{self:?}"));
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        (status, body)
    }

    /// The provider's event id the tool printed first (`{provider} {type} {id}`).
    pub fn event_id(&self) -> String {
        self.stdout
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().last())
            .unwrap_or_else(|| panic!("no event printed:\n{self:?}"))
            .to_owned()
    }

    /// The value printed on the line `  {name} {value}` (`payment`, `subscription`).
    pub fn printed(&self, name: &str) -> String {
        self.stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} printed:\n{self:?}"))
            .to_owned()
    }

    /// The answer of a delivery the receiver stored (exit 0, 200): `{inbox_id, duplicate,
    /// status}`.
    pub fn stored(&self) -> Value {
        assert_eq!(self.code, 0, "the receiver did not accept it:\n{self:?}");
        let (status, body) = self.answer();
        assert_eq!(status, 200, "{self:?}");
        body
    }
}

/// Runs `webhook-tool args...` in `dir` with exactly `env` (and `PATH`, for `openssl`).
pub async fn run(dir: &Path, env: &[(&str, String)], args: &[&str]) -> ToolRun {
    let mut command = Command::new(binary("webhook-tool"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("webhook-tool: {e}"))
        .unwrap_or_else(|e| panic!("starting webhook-tool: {e}"));
    ToolRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
