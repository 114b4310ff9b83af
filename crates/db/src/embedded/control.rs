//! Driving one cluster directory with `initdb` and `pg_ctl`.

use std::{
    ffi::OsString,
    fs::{self, File},
    io::ErrorKind,
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    time::Duration,
};

use super::{
    EmbeddedError, account::Account, account::last_line, account::run, account::shell_quote,
};

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Where a cluster keeps its pieces, all under the directory the caller chose.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) root: PathBuf,
    pub(super) data: PathBuf,
    /// `initdb` writes here first and the result is renamed to `data`, so an interrupted
    /// `initdb` never leaves a half-made data directory that looks usable.
    pub(super) data_in_progress: PathBuf,
    pub(super) log: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) lock: PathBuf,
}

impl Layout {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            data: root.join("data"),
            data_in_progress: root.join("data.initdb"),
            log: root.join("postgres.log"),
            socket_dir: root.join("run"),
            lock: root.join(".lock"),
        }
    }

    /// Creates the directories the server writes to but does not create itself.
    pub(super) fn create_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [&self.root, &self.socket_dir] {
            fs::create_dir_all(dir).map_err(|source| {
                EmbeddedError::io(format!("could not create {}", dir.display()), source)
            })?;
        }
        Ok(())
    }

    pub(super) fn is_initialized(&self) -> bool {
        self.data.join("PG_VERSION").is_file()
    }
}

/// The binaries and the account that runs them.
#[derive(Debug, Clone)]
pub(super) struct Tools {
    pub(super) bin_dir: PathBuf,
    pub(super) account: Account,
}

impl Tools {
    fn command(&self, binary: &str, layout: &Layout) -> tokio::process::Command {
        let mut command = self.account.command(&self.bin_dir.join(binary));
        // The caller's working directory may be unreadable for the `postgres` user.
        command.current_dir(&layout.root);
        command
    }
}

/// Holds an exclusive lock on the cluster directory until dropped: several processes (nextest
/// runs each test in its own) may try to create or start the same cluster at once.
pub(super) async fn lock(layout: &Layout) -> Result<File, EmbeddedError> {
    let path = layout.lock.clone();
    tokio::task::spawn_blocking(move || {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| {
                EmbeddedError::io(format!("could not open {}", path.display()), source)
            })?;
        file.lock().map_err(|source| {
            EmbeddedError::io(format!("could not lock {}", path.display()), source)
        })?;
        Ok(file)
    })
    .await
    .map_err(|join| EmbeddedError::io("the lock task failed", std::io::Error::other(join)))?
}

pub(super) async fn initdb(
    tools: &Tools,
    layout: &Layout,
    fsync: bool,
) -> Result<(), EmbeddedError> {
    remove_dir_if_present(&layout.data_in_progress)?;
    let mut command = tools.command("initdb", layout);
    command.arg("-D").arg(&layout.data_in_progress).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
    ]);
    if !fsync {
        command.arg("--no-sync");
    }
    tracing::info!(data_dir = %layout.data.display(), "creating the embedded PostgreSQL cluster");
    let output = run(command, "initdb").await?;
    tracing::debug!(output = %String::from_utf8_lossy(&output.stdout), "initdb finished");
    fs::rename(&layout.data_in_progress, &layout.data).map_err(|source| {
        EmbeddedError::io(
            format!(
                "could not move the new cluster to {}",
                layout.data.display()
            ),
            source,
        )
    })
}

/// The port of the server running on this data directory, if one is running.
pub(super) async fn running_port(
    tools: &Tools,
    layout: &Layout,
) -> Result<Option<u16>, EmbeddedError> {
    if !layout.is_initialized() {
        return Ok(None);
    }
    let mut command = tools.command("pg_ctl", layout);
    command.arg("status").arg("-D").arg(&layout.data);
    match run(command, "pg_ctl status").await {
        Ok(_) => {}
        // 3: not running; anything else (e.g. 4, no data directory) is a real failure.
        Err(EmbeddedError::CommandFailed { status, .. }) if status.code() == Some(3) => {
            return Ok(None);
        }
        Err(other) => return Err(other),
    }
    let pid_file = layout.data.join("postmaster.pid");
    let contents = fs::read_to_string(&pid_file).map_err(|source| {
        EmbeddedError::io(format!("could not read {}", pid_file.display()), source)
    })?;
    port_from_pid_file(&contents)
        .map(Some)
        .ok_or(EmbeddedError::UnreadablePidFile { path: pid_file })
}

/// `postmaster.pid` holds, one per line: pid, data directory, start time, port, socket
/// directory, listen address, shared memory key, status.
fn port_from_pid_file(contents: &str) -> Option<u16> {
    contents.lines().nth(3)?.trim().parse().ok()
}

/// Fails early and clearly when something else holds the port, instead of leaving the user to
/// dig the bind error out of the server log.
pub(super) fn ensure_port_free(port: u16) -> Result<(), EmbeddedError> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == ErrorKind::AddrInUse => {
            Err(EmbeddedError::PortInUse { port })
        }
        Err(source) => Err(EmbeddedError::io(
            format!("could not probe port {port}"),
            source,
        )),
    }
}

pub(super) async fn start(
    tools: &Tools,
    layout: &Layout,
    port: u16,
    fsync: bool,
    timeout: Duration,
) -> Result<(), EmbeddedError> {
    let mut server_args: Vec<OsString> = vec![
        "-c".into(),
        "listen_addresses=127.0.0.1".into(),
        "-p".into(),
        port.to_string().into(),
        "-k".into(),
        socket_dir_arg(layout, port),
    ];
    if !fsync {
        for setting in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ] {
            server_args.extend(["-c".into(), setting.into()]);
        }
    }
    let options = server_args
        .iter()
        .map(|arg| shell_quote(arg))
        .collect::<Vec<_>>()
        .join(" ");

    let mut command = tools.command("pg_ctl", layout);
    command
        .args(["start", "-w", "-t"])
        .arg(timeout.as_secs().max(1).to_string())
        .arg("-D")
        .arg(&layout.data)
        .arg("-l")
        .arg(&layout.log)
        .arg("-o")
        .arg(options);
    tracing::info!(data_dir = %layout.data.display(), port, "starting the embedded PostgreSQL");
    match run(command, "pg_ctl start").await {
        Ok(_) => Ok(()),
        // pg_ctl only says "examine the log output"; the server's own complaint is in the log.
        Err(EmbeddedError::CommandFailed {
            command, status, ..
        }) => Err(EmbeddedError::CommandFailed {
            command,
            status,
            detail: format!(
                "{} (server log: {})",
                log_complaint(&layout.log),
                layout.log.display()
            ),
        }),
        Err(other) => Err(other),
    }
}

pub(super) async fn stop(tools: &Tools, layout: &Layout) -> Result<(), EmbeddedError> {
    let mut command = tools.command("pg_ctl", layout);
    command
        .args(["stop", "-w", "-m", "fast", "-D"])
        .arg(&layout.data);
    run(command, "pg_ctl stop").await.map(drop)
}

/// The socket lives with the cluster, but a deep directory can exceed the kernel's socket path
/// limit, which is fatal for the server; then only TCP is offered.
fn socket_dir_arg(layout: &Layout, port: u16) -> OsString {
    let socket = layout.socket_dir.join(format!(".s.PGSQL.{port}.lock"));
    if socket.as_os_str().len() > MAX_SOCKET_PATH {
        tracing::debug!(dir = %layout.socket_dir.display(), "path too long for a Unix socket");
        return OsString::new();
    }
    layout.socket_dir.clone().into_os_string()
}

/// The line of the server log that explains a failed start: the last FATAL, else the last line.
fn log_complaint(log: &Path) -> String {
    let contents = fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&contents);
    text.lines()
        .rfind(|line| line.contains("FATAL"))
        .map(|line| line.trim().to_owned())
        .or_else(|| last_line(&contents))
        .unwrap_or_else(|| "the server wrote no log".to_owned())
}

fn remove_dir_if_present(dir: &Path) -> Result<(), EmbeddedError> {
    match fs::remove_dir_all(dir) {
        Err(source) if source.kind() != ErrorKind::NotFound => Err(EmbeddedError::io(
            format!("could not remove {}", dir.display()),
            source,
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_from_postmaster_pid() {
        let contents =
            "4242\n/srv/data\n1763800000\n54320\n/srv/run\n127.0.0.1\n  1234   5678\nready   \n";
        assert_eq!(port_from_pid_file(contents), Some(54320));
        assert_eq!(port_from_pid_file("4242\n/srv/data\n"), None);
    }

    #[test]
    fn a_socket_path_beyond_the_kernel_limit_falls_back_to_tcp_only() {
        let deep = PathBuf::from("/").join("d".repeat(120));
        assert_eq!(socket_dir_arg(&Layout::new(&deep), 5432), OsString::new());
    }

    #[test]
    fn an_occupied_port_is_reported_as_such() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(
            matches!(ensure_port_free(port), Err(EmbeddedError::PortInUse { port: p }) if p == port)
        );
        drop(listener);
        ensure_port_free(port).unwrap();
    }
}
