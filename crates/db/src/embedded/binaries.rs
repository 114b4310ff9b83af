//! Locating the PostgreSQL server binaries installed on this machine.

use std::{
    ffi::OsString,
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use tokio::process::Command;

/// Everything the embedded cluster runs; a directory only counts if it has all of them, because
/// Debian's `libpq-dev` ships `pg_config` (pointing at a server bindir) without the server.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// `pg_config --bindir`, else the newest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
pub(super) async fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = pg_config_bindir().await
        && has_server_binaries(&dir)
    {
        return Some(dir);
    }
    newest_versioned_bindir(Path::new(DEBIAN_ROOT))
        .or_else(|| bindir_on_path(std::env::var_os("PATH")))
}

async fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .await
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let dir = text.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The `<root>/<version>/bin` with the highest version that holds every server binary.
fn newest_versioned_bindir(root: &Path) -> Option<PathBuf> {
    fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// `"9.6"` -> `[9, 6]`: numeric, so 10 sorts after 9 (a string sort would not).
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn bindir_on_path(path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?).find(|dir| has_server_binaries(dir))
}

fn has_server_binaries(dir: &Path) -> bool {
    REQUIRED.iter().all(|name| is_executable(&dir.join(name)))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bindir(dir: &Path, names: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for name in names {
            let path = dir.join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("db-binaries-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10").unwrap() > parse_version("9.6").unwrap());
        assert_eq!(parse_version("main"), None);
    }

    #[test]
    fn picks_the_newest_complete_version() {
        let root = scratch("versions");
        fake_bindir(&root.join("9.6/bin"), &REQUIRED);
        fake_bindir(&root.join("15/bin"), &REQUIRED);
        // Newest, but only the client tools: must be skipped.
        fake_bindir(&root.join("17/bin"), &["pg_ctl"]);
        fake_bindir(&root.join("common/bin"), &REQUIRED);

        assert_eq!(newest_versioned_bindir(&root), Some(root.join("15/bin")));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn path_lookup_needs_every_binary_in_one_directory() {
        let root = scratch("path");
        fake_bindir(&root.join("a"), &["initdb", "postgres"]);
        fake_bindir(&root.join("b"), &REQUIRED);
        let path = std::env::join_paths([root.join("a"), root.join("b")]).unwrap();

        assert_eq!(bindir_on_path(Some(path)), Some(root.join("b")));
        assert_eq!(bindir_on_path(None), None);
        fs::remove_dir_all(&root).unwrap();
    }
}
