//! Which OS account runs `initdb`/`pg_ctl`: PostgreSQL refuses to run as root, and many containers
//! (and these machines) run everything as root, so then we switch to the `postgres` system user.

use std::{
    ffi::OsStr,
    fs,
    os::unix::fs::PermissionsExt as _,
    path::Path,
    process::{Output, Stdio},
};

use tokio::process::Command;

use super::EmbeddedError;

/// The unprivileged account the Debian/Ubuntu/RHEL packages create.
const SERVICE_USER: &str = "postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Account {
    /// Not root: run the binaries directly.
    Current,
    /// Root: run them through `runuser -u postgres --`.
    Postgres,
}

impl Account {
    pub(super) async fn detect() -> Result<Self, EmbeddedError> {
        let output = Command::new("id")
            .arg("-u")
            .output()
            .await
            .map_err(|source| EmbeddedError::io("could not run `id -u`", source))?;
        if String::from_utf8_lossy(&output.stdout).trim() != "0" {
            return Ok(Self::Current);
        }
        let user_exists = Command::new("id")
            .args(["-u", SERVICE_USER])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|status| status.success());
        if user_exists {
            Ok(Self::Postgres)
        } else {
            Err(EmbeddedError::NoServiceUser)
        }
    }

    pub(super) fn command(self, program: &Path) -> Command {
        match self {
            Self::Current => Command::new(program),
            Self::Postgres => {
                let mut command = Command::new("runuser");
                command.args(["-u", SERVICE_USER, "--"]).arg(program);
                command
            }
        }
    }

    /// Hands the cluster's directories to the account that runs the server. `recursive` is for
    /// a fresh cluster; an existing data directory already belongs to the right user.
    pub(super) async fn take_ownership(
        self,
        dirs: &[&Path],
        recursive: bool,
    ) -> Result<(), EmbeddedError> {
        if self == Self::Current {
            return Ok(());
        }
        for dir in dirs {
            make_ancestors_traversable(dir)?;
        }
        let mut command = Command::new("chown");
        if recursive {
            command.arg("-R");
        }
        command
            .arg(format!("{SERVICE_USER}:{SERVICE_USER}"))
            .args(dirs);
        run(command, "chown").await.map(drop)
    }
}

/// The server user must be able to reach the cluster directory, e.g. under `/root/project`
/// (mode 0700). Adding only the search bit for others lets it pass without listing anything.
fn make_ancestors_traversable(dir: &Path) -> Result<(), EmbeddedError> {
    for ancestor in dir.ancestors().skip(1) {
        let meta = fs::metadata(ancestor).map_err(|source| {
            EmbeddedError::io(format!("could not inspect {}", ancestor.display()), source)
        })?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            tracing::warn!(
                dir = %ancestor.display(),
                "adding o+x so the `postgres` user can reach the embedded cluster"
            );
            fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001)).map_err(
                |source| {
                    EmbeddedError::io(
                        format!("could not chmod o+x {}", ancestor.display()),
                        source,
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// Runs `command` to completion; a non-zero exit becomes an error carrying the last line of its
/// stderr (the one that says what went wrong), so errors stay one line.
pub(super) async fn run(mut command: Command, what: &str) -> Result<Output, EmbeddedError> {
    command.stdin(Stdio::null());
    let output = command
        .output()
        .await
        .map_err(|source| EmbeddedError::io(format!("could not run {what}"), source))?;
    if output.status.success() {
        return Ok(output);
    }
    Err(EmbeddedError::CommandFailed {
        command: what.to_owned(),
        status: output.status,
        detail: last_line(&output.stderr)
            .or_else(|| last_line(&output.stdout))
            .unwrap_or_default(),
    })
}

pub(super) fn last_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(str::to_owned)
}

/// Quotes one word for `/bin/sh`, which `pg_ctl` hands its `-o` options to.
pub(super) fn shell_quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_skips_trailing_blank_lines() {
        assert_eq!(
            last_line(b"first\n  FATAL: boom  \n\n").as_deref(),
            Some("FATAL: boom")
        );
        assert_eq!(last_line(b"\n \n"), None);
    }

    #[test]
    fn shell_quote_survives_quotes_and_spaces() {
        assert_eq!(shell_quote(OsStr::new("/a b/it's")), r"'/a b/it'\''s'");
        assert_eq!(shell_quote(OsStr::new("")), "''");
    }
}
