//! The admin credential: taken from `ADMIN_TOKEN`, or generated for development.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use httpkit::{AdminToken, WeakAdminToken};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::AdminTokenSource;

pub const TOKEN_FILE: &str = "admin-token";

#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("ADMIN_TOKEN: {0}")]
    Weak(#[from] WeakAdminToken),
    #[error("could not write the generated admin token to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The admin credential, and where it was written when it was generated.
pub fn provision(
    source: &AdminTokenSource,
    data_dir: &Path,
) -> Result<(AdminToken, Option<PathBuf>), AdminTokenError> {
    match source {
        AdminTokenSource::Given(token) => Ok((AdminToken::new(token)?, None)),
        AdminTokenSource::Generate => {
            let token = generate();
            let path = data_dir.join(TOKEN_FILE);
            write_private(&path, &token).map_err(|source| AdminTokenError::Write {
                path: path.clone(),
                source,
            })?;
            Ok((AdminToken::new(&token)?, Some(path)))
        }
    }
}

/// 32 random bytes, unpadded base64url: 43 characters.
fn generate() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// Writes the token readable by the owner only. The mode is set on the open file as well as at
/// creation, so an existing file with looser permissions is tightened before the secret lands.
fn write_private(path: &Path, token: &SecretString) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        write_token(file, token)
    }
    #[cfg(not(unix))]
    {
        write_token(options.open(path)?, token)
    }
}

fn write_token(mut file: fs::File, token: &SecretString) -> io::Result<()> {
    file.write_all(token.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir() -> PathBuf {
        std::env::temp_dir().join(format!("api-admin-token-{}", uuid::Uuid::now_v7()))
    }

    #[test]
    fn generated_tokens_are_private_strong_and_fresh() {
        let dir = scratch_dir();
        let (first, path) = provision(&AdminTokenSource::Generate, &dir).unwrap();
        let path = path.unwrap();
        assert_eq!(path, dir.join("admin-token"));
        let written = fs::read_to_string(&path).unwrap();
        let token = written.trim_end();
        assert_eq!(token.len(), 43);
        assert!(first.matches(token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }

        // A looser existing file is tightened, and each start gets a new token.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let (second, _) = provision(&AdminTokenSource::Generate, &dir).unwrap();
        let rewritten = fs::read_to_string(&path).unwrap();
        assert_ne!(rewritten, written);
        assert!(second.matches(rewritten.trim_end()));
        assert!(!second.matches(token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn given_tokens_must_be_strong_and_are_not_written() {
        let dir = scratch_dir();
        let weak = AdminTokenSource::Given(SecretString::from("short".to_owned()));
        let error = provision(&weak, &dir).unwrap_err();
        assert!(!error.to_string().contains("short"));
        let strong = AdminTokenSource::Given(SecretString::from("s".repeat(40)));
        let (token, path) = provision(&strong, &dir).unwrap();
        assert!(token.matches(&"s".repeat(40)));
        assert_eq!(path, None);
        assert!(!dir.exists());
    }
}
