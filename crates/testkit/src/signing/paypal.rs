//! A PayPal-like hierarchy generated per test run, over `devhooks::signing`'s pieces. The CA
//! keys are ECDSA P-256, generated per [`PayPalPki::generate`]; the leaf key is RSA (PayPal
//! signs SHA256withRSA, and ring cannot generate RSA keys), a test-only key kept beside this
//! file (`paypal_leaf_rsa2048.pk8.pem`, generated with `openssl genpkey -algorithm RSA`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use devhooks::signing::{CertificateAuthority, LeafKey, PAYPAL_LEAF_NAME};

const LEAF_KEY: &str = include_str!("paypal_leaf_rsa2048.pk8.pem");
const ORGANIZATION: &str = "Testkit";

/// How long before and after `now` the generated leaf is valid.
const LEAF_VALID_BEFORE: chrono::Duration = chrono::Duration::days(30);
const LEAF_VALID_AFTER: chrono::Duration = chrono::Duration::days(365);
/// The CAs outlive any leaf.
const CA_VALID_AROUND: chrono::Duration = chrono::Duration::days(3650);

/// A root CA, an intermediate CA and an RSA leaf named like PayPal's, valid around a given
/// time. Configure [`PayPalPki::root_pem`] as the only trusted root, serve or place
/// [`PayPalPki::chain_pem`] at the certificate URL, and sign with [`PayPalPki::headers`].
#[derive(Debug)]
pub struct PayPalPki {
    root: CertificateAuthority,
    intermediate: CertificateAuthority,
    leaf_key: LeafKey,
    chain_pem: String,
}

impl PayPalPki {
    /// A fresh hierarchy: CAs valid ten years either side of `now`, the leaf
    /// ([`PAYPAL_LEAF_NAME`]) from 30 days before `now` to a year after.
    pub fn generate(now: DateTime<Utc>) -> Self {
        let ca = |name: &str, parent: Option<&CertificateAuthority>| {
            CertificateAuthority::generate(
                ORGANIZATION,
                name,
                parent,
                now - CA_VALID_AROUND,
                now + CA_VALID_AROUND,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let root = ca("Testkit PayPal Root CA", None);
        let intermediate = ca("Testkit PayPal Intermediate CA", Some(&root));
        let leaf_key =
            LeafKey::from_pkcs8_pem(LEAF_KEY).unwrap_or_else(|e| panic!("PayPal leaf key: {e}"));
        let mut pki = Self {
            root,
            intermediate,
            leaf_key,
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
        self.root.cert_pem().to_owned()
    }

    /// The intermediate CA alone.
    pub fn intermediate_pem(&self) -> String {
        self.intermediate.cert_pem().to_owned()
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
        let leaf = self
            .intermediate
            .issue_leaf(&self.leaf_key, ORGANIZATION, name, not_before, not_after)
            .unwrap_or_else(|e| panic!("leaf {name}: {e}"));
        format!("{leaf}{}", self.intermediate.cert_pem())
    }

    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature of `message` by the leaf's key, as
    /// `PAYPAL-TRANSMISSION-SIG` carries it.
    pub fn sign(&self, message: &[u8]) -> String {
        self.leaf_key
            .sign(message)
            .unwrap_or_else(|e| panic!("signing: {e}"))
    }

    /// The five headers PayPal sends with `body`, signed for `webhook_id`:
    /// `PAYPAL-TRANSMISSION-ID`, `-TRANSMISSION-TIME`, `-TRANSMISSION-SIG`, `PAYPAL-CERT-URL` and
    /// `PAYPAL-AUTH-ALGO`. `transmission_time` is used exactly as given (PayPal's form is
    /// RFC 3339, see [`super::paypal_transmission_time`]).
    pub fn headers(
        &self,
        body: &[u8],
        webhook_id: &str,
        cert_url: &str,
        transmission_id: &str,
        transmission_time: &str,
    ) -> Vec<(String, String)> {
        self.leaf_key
            .headers(
                body,
                webhook_id,
                cert_url,
                transmission_id,
                transmission_time,
            )
            .unwrap_or_else(|e| panic!("signing: {e}"))
    }

    /// Writes [`PayPalPki::chain_pem`] where a certificate directory serves `cert_url`
    /// (`<dir>/<host>/<path>`); returns the file's path.
    pub fn write_cert_dir(&self, dir: &Path, cert_url: &str) -> PathBuf {
        write_paypal_cert(dir, cert_url, &self.chain_pem)
    }
}

/// Where a certificate directory keeps the document for `cert_url`: `<dir>/<host>/<path>`, the
/// layout `wget -x` produces. Panics on a URL that is not `https://host/path` (no query).
pub fn paypal_cert_path(dir: &Path, cert_url: &str) -> PathBuf {
    devhooks::signing::paypal_cert_path(dir, cert_url).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `pem` at [`paypal_cert_path`], creating the directories; returns the file's path.
pub fn write_paypal_cert(dir: &Path, cert_url: &str, pem: &str) -> PathBuf {
    devhooks::signing::write_paypal_cert(dir, cert_url, pem).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use devhooks::signing::paypal_signed_message;

    use super::*;

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
            pki.leaf_key.public_key(),
        );
        let message = paypal_signed_message("t-1", "2026", "WH-1", b"{}");
        assert!(public.verify(message.as_bytes(), &signature).is_ok());
        assert!(public.verify(b"something else", &signature).is_err());
        assert_eq!(pki.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
    }
}
