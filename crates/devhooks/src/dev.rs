//! The development setup the local tool and the api's development mode agree on: default
//! secrets for each provider (used only when its variables are unset), and PayPal's development
//! CA, created on first use under the development data directory (`./.data/paypal-dev`, beside
//! the embedded cluster's `./.data/postgres`).
//!
//! PayPal signs with a certificate that must chain to a trusted root, so a local PayPal
//! delivery needs a CA of its own: [`ensure_ca`] makes it (ECDSA P-256, rcgen) and
//! [`paypal_signer`] an RSA signing certificate named `messageverificationcerts.paypal.com`
//! issued by it, placed in [`cert_dir`] under its certificate URL, exactly where billing's
//! `DirCertFetcher` looks. Only the api's development mode trusts that CA (it adds
//! [`ensure_ca`]'s certificate to PayPal's trusted roots and reads [`cert_dir`]); production
//! processes never load it, so the same delivery is refused there (`WEBHOOK_CERT_CHAIN_INVALID`).
//! No private key ships with the code: each checkout makes its own.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::signing::{CertificateAuthority, LeafKey, PAYPAL_LEAF_NAME};

/// `STRIPE_WEBHOOK_SECRETS` of the development mode when no `STRIPE_*` variable is set.
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_development_only_not_a_stripe_secret";
/// `PAYHERE_MERCHANT_ID` of the development mode when no `PAYHERE_*` variable is set.
pub const PAYHERE_MERCHANT_ID: &str = "1200001";
/// `PAYHERE_MERCHANT_SECRET` of the development mode when no `PAYHERE_*` variable is set.
pub const PAYHERE_MERCHANT_SECRET: &str = "development-only-payhere-merchant-secret";
/// `PAYPAL_WEBHOOK_IDS` of the development mode when no `PAYPAL_*` variable is set.
pub const PAYPAL_WEBHOOK_ID: &str = "WH-DEVELOPMENT-ONLY-0000000000";
/// The Twilio account the tool signs status callbacks for when `TWILIO_ACCOUNT_SID` is unset.
pub const TWILIO_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The token the tool signs status callbacks with when `TWILIO_AUTH_TOKEN` is unset.
pub const TWILIO_AUTH_TOKEN: &str = "development-only-twilio-auth-token";

/// The development data directory, relative to where the api and the tool run.
pub const DATA_DIR: &str = ".data";

/// Names the development CA; [`ensure_ca`] restores it by this name.
const CA_ORGANIZATION: &str = "billing-safety development";
const CA_NAME: &str = "billing-safety PayPal development CA (trusted in development mode only)";
/// PayPal's certificate URLs live here; the last segment names our certificate.
const CERT_URL_BASE: &str = "https://api.paypal.com/v1/notifications/certs/";
/// The CA outlives any leaf it issues.
const CA_VALIDITY: Duration = Duration::days(3650);
const LEAF_VALIDITY: Duration = Duration::days(365);
/// A leaf is replaced this long before it expires.
const LEAF_RENEW_BEFORE: Duration = Duration::days(30);

const NOTE: &str = "PayPal development CA of this checkout, made by the api's development mode or \
                    by webhook-tool (docs/local-webhooks.md). Only the api's development mode \
                    (DATABASE_URL unset) trusts it. Delete this directory to start over.\n";

/// `<data_dir>/paypal-dev`.
pub fn paypal_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("paypal-dev")
}

/// The certificate directory of the development PayPal signer (`PAYPAL_CERT_DIR` layout).
pub fn cert_dir(data_dir: &Path) -> PathBuf {
    paypal_dir(data_dir).join("certs")
}

/// The development CA's certificate (PEM), creating the CA and the certificate directory on
/// first use. Safe to race with another process doing the same: one CA wins and both use it.
pub fn ensure_ca(data_dir: &Path, now: DateTime<Utc>) -> Result<String, Error> {
    Ok(load_or_create_ca(data_dir, now)?.cert_pem().to_owned())
}

fn load_or_create_ca(data_dir: &Path, now: DateTime<Utc>) -> Result<CertificateAuthority, Error> {
    let dir = paypal_dir(data_dir);
    let ca_dir = dir.join("ca");
    if !ca_dir.exists() {
        private_dir(&dir)?;
        write_file(&dir.join("README"), NOTE, false)?;
        private_dir(&cert_dir(data_dir))?;
        create_atomically(&ca_dir, |staging| {
            let ca = CertificateAuthority::generate(
                CA_ORGANIZATION,
                CA_NAME,
                None,
                now - Duration::days(1),
                now + CA_VALIDITY,
            )?;
            write_file(&staging.join("key.pem"), &ca.key_pem(), true)?;
            write_file(&staging.join("cert.pem"), ca.cert_pem(), false)
        })?;
    }
    let cert = read(&ca_dir.join("cert.pem"))?;
    let key = read(&ca_dir.join("key.pem"))?;
    CertificateAuthority::restore(CA_ORGANIZATION, CA_NAME, cert, &key)
}

/// What [`paypal_signer`] keeps about its leaf.
#[derive(Debug, Serialize, Deserialize)]
struct LeafRecord {
    cert_url: String,
    not_after: DateTime<Utc>,
}

/// Signs as PayPal does, with the development CA's leaf.
#[derive(Debug)]
pub struct DevPayPal {
    pub key: LeafKey,
    /// `PAYPAL-CERT-URL`: where [`cert_dir`] holds the leaf.
    pub cert_url: String,
}

/// The development signer: the CA ([`ensure_ca`]), an RSA key (made once with `openssl`) and a
/// leaf certificate named like PayPal's, issued by the CA and written into [`cert_dir`] under
/// its certificate URL. The leaf is replaced a month before it expires, under a new URL (so a
/// receiver's certificate cache never serves the old one).
pub fn paypal_signer(data_dir: &Path, now: DateTime<Utc>) -> Result<DevPayPal, Error> {
    let ca = load_or_create_ca(data_dir, now)?;
    let leaf_dir = paypal_dir(data_dir).join("leaf");
    if let Some(signer) = current_leaf(&leaf_dir, data_dir, now)? {
        return Ok(signer);
    }
    if leaf_dir.exists() {
        // Expiring (or half written by a crash): set aside, then replaced whole.
        let old = leaf_dir.with_file_name(format!(".leaf-replaced-{}", now.timestamp()));
        fs::rename(&leaf_dir, &old).map_err(Error::io(&leaf_dir))?;
        let _ = fs::remove_dir_all(&old);
    }
    create_atomically(&leaf_dir, |staging| {
        let key_pem = generate_rsa_key()?;
        let key = LeafKey::from_pkcs8_pem(&key_pem)?;
        let not_after = now + LEAF_VALIDITY;
        let leaf = ca.issue_leaf(
            &key,
            CA_ORGANIZATION,
            PAYPAL_LEAF_NAME,
            now - Duration::days(1),
            not_after,
        )?;
        let fingerprint = hex::encode(Sha256::digest(leaf.as_bytes()));
        let cert_url = format!("{CERT_URL_BASE}CERT-development-{}", &fingerprint[..16]);
        crate::signing::write_paypal_cert(&cert_dir(data_dir), &cert_url, &leaf)?;
        write_file(&staging.join("key.pem"), &key_pem, true)?;
        write_file(&staging.join("cert.pem"), &leaf, false)?;
        let record = serde_json::to_string_pretty(&LeafRecord {
            cert_url,
            not_after,
        })
        .map_err(|e| Error::Certificate(e.to_string()))?;
        write_file(&staging.join("leaf.json"), &record, false)
    })?;
    current_leaf(&leaf_dir, data_dir, now)?
        .ok_or_else(|| Error::Certificate(format!("{}: no usable leaf", leaf_dir.display())))
}

/// The leaf in `leaf_dir` if it is complete, in the certificate directory and not about to
/// expire.
fn current_leaf(
    leaf_dir: &Path,
    data_dir: &Path,
    now: DateTime<Utc>,
) -> Result<Option<DevPayPal>, Error> {
    let Ok(record) = fs::read_to_string(leaf_dir.join("leaf.json")) else {
        return Ok(None);
    };
    let Ok(record) = serde_json::from_str::<LeafRecord>(&record) else {
        return Ok(None);
    };
    let published = crate::signing::paypal_cert_path(&cert_dir(data_dir), &record.cert_url)?;
    if record.not_after - LEAF_RENEW_BEFORE <= now || !published.exists() {
        return Ok(None);
    }
    let key = LeafKey::from_pkcs8_pem(&read(&leaf_dir.join("key.pem"))?)?;
    Ok(Some(DevPayPal {
        key,
        cert_url: record.cert_url,
    }))
}

/// A 2048-bit RSA key in PKCS#8 PEM from `openssl genpkey`.
fn generate_rsa_key() -> Result<String, Error> {
    let output = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::OpensslMissing(e.to_string()),
            _ => Error::Openssl(e.to_string()),
        })?;
    if !output.status.success() {
        return Err(Error::Openssl(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| Error::Openssl("output is not text".into()))
}

/// Fills a staging directory beside `target` with `fill`, then renames it to `target` in one
/// step, so nobody ever reads a half-made directory; if another process got there first, its
/// directory stays and ours is removed.
fn create_atomically(
    target: &Path,
    fill: impl FnOnce(&Path) -> Result<(), Error>,
) -> Result<(), Error> {
    let name = target
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("dir");
    let staging = target.with_file_name(format!(
        ".{name}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    private_dir(&staging)?;
    let filled = fill(&staging);
    let renamed = filled.and_then(|()| match fs::rename(&staging, target) {
        Ok(()) => Ok(()),
        Err(_) if target.is_dir() => Ok(()),
        Err(error) => Err(Error::io(target)(error)),
    });
    let _ = fs::remove_dir_all(&staging);
    renamed
}

fn private_dir(path: &Path) -> Result<(), Error> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(Error::io(path))
}

/// Writes `contents` to `path`; a private key only its owner can read.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), Error> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(Error::io(path))
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(Error::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "devhooks-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_ca_is_made_once_and_reused() {
        let data = scratch("ca");
        let now = Utc::now();
        let first = ensure_ca(&data, now).unwrap();
        let again = ensure_ca(&data, now).unwrap();
        assert_eq!(first, again);
        assert!(cert_dir(&data).is_dir());
        let mode = |path: &Path| {
            use std::os::unix::fs::PermissionsExt as _;
            fs::metadata(path).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(&paypal_dir(&data).join("ca/key.pem")), 0o600);
        let _ = fs::remove_dir_all(&data);
    }

    #[test]
    fn the_signer_publishes_its_leaf_where_its_url_points_and_renews_it_before_expiry() {
        let data = scratch("leaf");
        let now = Utc::now();
        let signer = paypal_signer(&data, now).unwrap();
        assert!(
            signer.cert_url.starts_with(CERT_URL_BASE),
            "{}",
            signer.cert_url
        );
        let published =
            crate::signing::paypal_cert_path(&cert_dir(&data), &signer.cert_url).unwrap();
        assert!(
            fs::read_to_string(&published)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        // The same leaf on the next call; a new one (at a new URL) near its expiry.
        assert_eq!(paypal_signer(&data, now).unwrap().cert_url, signer.cert_url);
        let later = now + LEAF_VALIDITY - Duration::days(1);
        let renewed = paypal_signer(&data, later).unwrap();
        assert_ne!(renewed.cert_url, signer.cert_url);
        let _ = fs::remove_dir_all(&data);
    }
}
