//! PayPal webhook signatures (PayPal's "verify webhook signature" documentation): the message
//! `transmission_id|transmission_time|webhook_id|crc32` where crc32 is the CRC-32 (zlib) of the
//! raw body written as an unsigned decimal, signed RSA PKCS#1 v1.5 with SHA-256 by the key of
//! the certificate that `PAYPAL-CERT-URL` serves.
//!
//! The CA keys are ECDSA P-256, generated per [`PayPalPki::generate`]; the leaf key is RSA (PayPal
//! signs SHA256withRSA, and ring cannot generate RSA keys), a test-only key kept beside this
//! file (`paypal_leaf_rsa2048.pk8.pem`, generated with `openssl genpkey -algorithm RSA`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

const LEAF_KEY: &str = include_str!("paypal_leaf_rsa2048.pk8.pem");

/// The name of PayPal's live message-verification certificate.
pub const PAYPAL_LEAF_NAME: &str = "messageverificationcerts.paypal.com";
/// `PAYPAL-AUTH-ALGO`: the only algorithm PayPal signs with.
pub const PAYPAL_AUTH_ALGO: &str = "SHA256withRSA";

/// How long before and after `now` the generated leaf is valid.
const LEAF_VALID_BEFORE: chrono::Duration = chrono::Duration::days(30);
const LEAF_VALID_AFTER: chrono::Duration = chrono::Duration::days(365);
/// The CAs outlive any leaf.
const CA_VALID_AROUND: chrono::Duration = chrono::Duration::days(3650);

/// A root CA, an intermediate CA and an RSA leaf named like PayPal's, valid around a given
/// time. Configure [`PayPalPki::root_pem`] as the only trusted root, serve or place
/// [`PayPalPki::chain_pem`] at the certificate URL, and sign with [`PayPalPki::headers`].
pub struct PayPalPki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    leaf_key: KeyPair,
    signer: RsaKeyPair,
    chain_pem: String,
}

impl std::fmt::Debug for PayPalPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayPalPki").finish_non_exhaustive()
    }
}

impl PayPalPki {
    /// A fresh hierarchy: CAs valid ten years either side of `now`, the leaf
    /// ([`PAYPAL_LEAF_NAME`]) from 30 days before `now` to a year after.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let root = ca("Testkit PayPal Root CA", None, now);
        let intermediate = ca("Testkit PayPal Intermediate CA", Some(&root), now);
        let leaf_key =
            KeyPair::from_pem(LEAF_KEY).unwrap_or_else(|e| panic!("PayPal leaf key: {e}"));
        let signer = RsaKeyPair::from_pkcs8(leaf_key.serialized_der())
            .unwrap_or_else(|e| panic!("PayPal leaf key for ring: {e}"));
        let mut pki = Self {
            root,
            intermediate,
            leaf_key,
            signer,
            chain_pem: String::new(),
        };
        pki.chain_pem = pki.leaf_chain_pem(
            PAYPAL_LEAF_NAME,
            now - LEAF_VALID_BEFORE,
            now + LEAF_VALID_AFTER,
        );
        pki
    }

    /// The root certificate, to configure as the (only) trusted root.
    pub fn root_pem(&self) -> String {
        self.root.pem()
    }

    /// The intermediate CA alone.
    pub fn intermediate_pem(&self) -> String {
        self.intermediate.pem()
    }

    /// The valid leaf followed by the intermediate: the document to serve at the certificate
    /// URL or place in a certificate directory.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// Another leaf with the same key, issued by the same intermediate, named `name` and valid
    /// from `not_before` to `not_after`, followed by the intermediate: for refusal tests (an
    /// expired certificate, a wrong name) whose signatures are otherwise right.
    pub fn leaf_chain_pem(
        &self,
        name: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> String {
        let mut params = CertificateParams::new(vec![name.to_owned()])
            .unwrap_or_else(|e| panic!("leaf name {name}: {e}"));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Testkit");
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params, not_before, not_after);
        let leaf = params
            .signed_by(&self.leaf_key, &self.intermediate)
            .unwrap_or_else(|e| panic!("leaf: {e}"));
        format!("{}{}", leaf.pem(), self.intermediate.pem())
    }

    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature of `message` by the leaf's key, as
    /// `PAYPAL-TRANSMISSION-SIG` carries it.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap_or_else(|e| panic!("signing: {e}"));
        STANDARD.encode(signature)
    }

    /// The five headers PayPal sends with `body`, signed for `webhook_id`:
    /// `PAYPAL-TRANSMISSION-ID`, `-TRANSMISSION-TIME`, `-TRANSMISSION-SIG`, `PAYPAL-CERT-URL` and
    /// `PAYPAL-AUTH-ALGO`. `transmission_time` is used exactly as given (PayPal's form is
    /// RFC 3339, see [`paypal_transmission_time`]).
    pub fn headers(
        &self,
        body: &[u8],
        webhook_id: &str,
        cert_url: &str,
        transmission_id: &str,
        transmission_time: &str,
    ) -> Vec<(String, String)> {
        let message = paypal_signed_message(transmission_id, transmission_time, webhook_id, body);
        vec![
            (
                "PAYPAL-TRANSMISSION-ID".to_owned(),
                transmission_id.to_owned(),
            ),
            (
                "PAYPAL-TRANSMISSION-TIME".to_owned(),
                transmission_time.to_owned(),
            ),
            (
                "PAYPAL-TRANSMISSION-SIG".to_owned(),
                self.sign(message.as_bytes()),
            ),
            ("PAYPAL-CERT-URL".to_owned(), cert_url.to_owned()),
            ("PAYPAL-AUTH-ALGO".to_owned(), PAYPAL_AUTH_ALGO.to_owned()),
        ]
    }

    /// Writes [`PayPalPki::chain_pem`] where a certificate directory serves `cert_url`
    /// (`<dir>/<host>/<path>`); returns the file's path.
    pub fn write_cert_dir(&self, dir: &Path, cert_url: &str) -> PathBuf {
        write_paypal_cert(dir, cert_url, &self.chain_pem)
    }
}

/// The message PayPal signs: `transmission_id|transmission_time|webhook_id|crc32(body)`, the
/// CRC-32 as an unsigned decimal.
pub fn paypal_signed_message(
    transmission_id: &str,
    transmission_time: &str,
    webhook_id: &str,
    body: &[u8],
) -> String {
    format!(
        "{transmission_id}|{transmission_time}|{webhook_id}|{}",
        crc32fast::hash(body)
    )
}

/// `at` as PayPal writes `PAYPAL-TRANSMISSION-TIME` (`2026-01-16T12:00:00Z`).
pub fn paypal_transmission_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Where a certificate directory keeps the document for `cert_url`: `<dir>/<host>/<path>`, the
/// layout `wget -x` produces. Panics on a URL that is not `https://host/path` (no query).
pub fn paypal_cert_path(dir: &Path, cert_url: &str) -> PathBuf {
    let url = ::url::Url::parse(cert_url).unwrap_or_else(|e| panic!("{cert_url}: {e}"));
    assert_eq!(url.scheme(), "https", "{cert_url}: not https");
    assert!(url.query().is_none(), "{cert_url}: has a query");
    let host = url
        .host_str()
        .unwrap_or_else(|| panic!("{cert_url}: no host"));
    let mut path = dir.join(host);
    for segment in url
        .path_segments()
        .unwrap_or_else(|| panic!("{cert_url}: no path"))
    {
        assert!(
            !segment.is_empty() && segment != "." && segment != "..",
            "{cert_url}: not a plain path"
        );
        path.push(segment);
    }
    path
}

/// Writes `pem` at [`paypal_cert_path`], creating the directories; returns the file's path.
pub fn write_paypal_cert(dir: &Path, cert_url: &str, pem: &str) -> PathBuf {
    let path = paypal_cert_path(dir, cert_url);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    std::fs::write(&path, pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

fn ca(
    name: &str,
    parent: Option<&CertifiedIssuer<'static, KeyPair>>,
    now: DateTime<Utc>,
) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Testkit");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(match parent {
        None => BasicConstraints::Unconstrained,
        Some(_) => BasicConstraints::Constrained(0),
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now - CA_VALID_AROUND, now + CA_VALID_AROUND);
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    match parent {
        None => CertifiedIssuer::self_signed(params, key),
        Some(parent) => CertifiedIssuer::signed_by(params, key, parent),
    }
    .unwrap_or_else(|e| panic!("CA {name}: {e}"))
}

/// Sets the validity in rcgen's dates (the `time` crate's), from whole seconds since 1970.
fn set_validity(params: &mut CertificateParams, from: DateTime<Utc>, until: DateTime<Utc>) {
    let since_epoch = |at: DateTime<Utc>| {
        let secs = u64::try_from(at.timestamp()).unwrap_or_else(|_| panic!("{at} is before 1970"));
        Duration::from_secs(secs)
    };
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(from);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(until);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_uses_the_unsigned_decimal_crc32() {
        // CRC-32 of "123456789" is 0xCBF43926 (the standard check value), above i32::MAX.
        assert_eq!(
            paypal_signed_message("id", "2026-01-16T12:00:00Z", "WH", b"123456789"),
            "id|2026-01-16T12:00:00Z|WH|3421780262"
        );
    }

    #[test]
    fn cert_paths_follow_the_wget_layout() {
        assert_eq!(
            paypal_cert_path(
                Path::new("/certs"),
                "https://api.paypal.com/v1/notifications/certs/CERT-1"
            ),
            PathBuf::from("/certs/api.paypal.com/v1/notifications/certs/CERT-1")
        );
    }

    #[test]
    fn headers_carry_a_signature_the_leaf_verifies() {
        let now = DateTime::from_timestamp(1_768_564_800, 0).unwrap_or_default();
        let pki = PayPalPki::generate(now);
        let headers = pki.headers(b"{}", "WH-1", "https://api.paypal.com/c", "t-1", "2026");
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "PAYPAL-TRANSMISSION-ID",
                "PAYPAL-TRANSMISSION-TIME",
                "PAYPAL-TRANSMISSION-SIG",
                "PAYPAL-CERT-URL",
                "PAYPAL-AUTH-ALGO"
            ]
        );
        let signature = STANDARD.decode(&headers[2].1).unwrap_or_default();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            pki.signer.public().as_ref(),
        );
        let message = paypal_signed_message("t-1", "2026", "WH-1", b"{}");
        assert!(public.verify(message.as_bytes(), &signature).is_ok());
        assert!(public.verify(b"something else", &signature).is_err());
        assert_eq!(pki.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
    }
}
