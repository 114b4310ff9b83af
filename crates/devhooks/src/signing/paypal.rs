//! PayPal webhook signatures (PayPal's "verify webhook signature" documentation): the message
//! `transmission_id|transmission_time|webhook_id|crc32` where crc32 is the CRC-32 (zlib) of the
//! raw body written as an unsigned decimal, signed RSA PKCS#1 v1.5 with SHA-256 by the key of
//! the certificate that `PAYPAL-CERT-URL` serves.
//!
//! The pieces a PayPal-like hierarchy is made of: [`CertificateAuthority`] (ECDSA P-256, made
//! with rcgen), [`LeafKey`] (the RSA key PayPal's certificate certifies; ring signs with it but
//! cannot generate one, so callers bring a PKCS#8 PEM), and the certificate directory layout
//! billing's `DirCertFetcher` reads (`<dir>/<host>/<path>`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::Error;

/// The name of PayPal's live message-verification certificate.
pub const PAYPAL_LEAF_NAME: &str = "messageverificationcerts.paypal.com";
/// `PAYPAL-AUTH-ALGO`: the only algorithm PayPal signs with.
pub const PAYPAL_AUTH_ALGO: &str = "SHA256withRSA";

/// A certificate authority: its certificate (PEM) and what it needs to issue certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new CA named `common_name` (organization `organization`) with a fresh ECDSA P-256 key,
    /// self-signed, or issued by `parent` as an intermediate that may issue leaves only.
    pub fn generate(
        organization: &str,
        common_name: &str,
        parent: Option<&Self>,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let mut params = ca_params(organization, common_name, parent.is_some());
        set_validity(&mut params, not_before, not_after)?;
        let key = KeyPair::generate().map_err(Error::certificate)?;
        let certificate = match parent {
            None => params.self_signed(&key),
            Some(parent) => params.signed_by(&key, &parent.issuer),
        }
        .map_err(Error::certificate)?;
        Ok(Self {
            cert_pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A root CA made earlier by [`CertificateAuthority::generate`] with the same
    /// `organization` and `common_name`, from its certificate and key (PKCS#8 PEM). An issuer
    /// is its name, key usages and key, so the leaves it issues chain to that certificate.
    pub fn restore(
        organization: &str,
        common_name: &str,
        cert_pem: String,
        key_pem: &str,
    ) -> Result<Self, Error> {
        let key = KeyPair::from_pem(key_pem).map_err(Error::certificate)?;
        Ok(Self {
            issuer: Issuer::new(ca_params(organization, common_name, false), key),
            cert_pem,
        })
    }

    /// The CA's certificate.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key (PKCS#8 PEM), to keep beside the certificate.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A leaf certificate (PEM) for `key`, named `name` (organization `organization`), valid
    /// from `not_before` to `not_after`, with the usages PayPal's certificate has.
    pub fn issue_leaf(
        &self,
        key: &LeafKey,
        organization: &str,
        name: &str,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
    ) -> Result<String, Error> {
        let mut params =
            CertificateParams::new(vec![name.to_owned()]).map_err(Error::certificate)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, organization);
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        set_validity(&mut params, not_before, not_after)?;
        let leaf = params
            .signed_by(&key.public, &self.issuer)
            .map_err(Error::certificate)?;
        Ok(leaf.pem())
    }
}

/// The parameters of a CA; the same inputs give the same name and usages (see
/// [`CertificateAuthority::restore`]).
fn ca_params(organization: &str, common_name: &str, intermediate: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(if intermediate {
        BasicConstraints::Constrained(0)
    } else {
        BasicConstraints::Unconstrained
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// The RSA key of a PayPal-like signing certificate. `Debug` shows nothing of it.
pub struct LeafKey {
    /// What rcgen puts in the certificate.
    public: KeyPair,
    signer: RsaKeyPair,
}

impl std::fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafKey(..)")
    }
}

impl LeafKey {
    /// From an RSA private key in PKCS#8 PEM (`openssl genpkey -algorithm RSA` writes one).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        let public = KeyPair::from_pem(pem).map_err(Error::certificate)?;
        let signer = RsaKeyPair::from_pkcs8(public.serialized_der())
            .map_err(|e| Error::Certificate(format!("not an RSA key: {e}")))?;
        Ok(Self { public, signer })
    }

    /// The public key (SubjectPublicKeyInfo's key, PKCS#1 `RSAPublicKey`), as ring verifies
    /// with it.
    pub fn public_key(&self) -> &[u8] {
        use ring::signature::KeyPair as _;
        self.signer.public_key().as_ref()
    }

    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature of `message`, as `PAYPAL-TRANSMISSION-SIG`
    /// carries it.
    pub fn sign(&self, message: &[u8]) -> Result<String, Error> {
        let mut signature = vec![0; self.signer.public().modulus_len()];
        self.signer
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| Error::Certificate("RSA signing failed".into()))?;
        Ok(STANDARD.encode(signature))
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
    ) -> Result<Vec<(String, String)>, Error> {
        let message = paypal_signed_message(transmission_id, transmission_time, webhook_id, body);
        Ok(vec![
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
                self.sign(message.as_bytes())?,
            ),
            ("PAYPAL-CERT-URL".to_owned(), cert_url.to_owned()),
            ("PAYPAL-AUTH-ALGO".to_owned(), PAYPAL_AUTH_ALGO.to_owned()),
        ])
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
/// layout `wget -x` produces and billing's `DirCertFetcher` reads. Only `https://host/path`
/// URLs with plain segments (no query) have a place there.
pub fn paypal_cert_path(dir: &Path, cert_url: &str) -> Result<PathBuf, Error> {
    let refuse = |reason| Error::CertUrl {
        url: cert_url.to_owned(),
        reason,
    };
    let url = ::url::Url::parse(cert_url).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("not https"));
    }
    if url.query().is_some() {
        return Err(refuse("has a query"));
    }
    let host = url.host_str().ok_or_else(|| refuse("no host"))?;
    let mut path = dir.join(host);
    for segment in url.path_segments().ok_or_else(|| refuse("no path"))? {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(refuse("not a plain path"));
        }
        path.push(segment);
    }
    Ok(path)
}

/// Writes `pem` at [`paypal_cert_path`], creating the directories; returns the file's path.
pub fn write_paypal_cert(dir: &Path, cert_url: &str, pem: &str) -> Result<PathBuf, Error> {
    let path = paypal_cert_path(dir, cert_url)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(&path, pem).map_err(Error::io(&path))?;
    Ok(path)
}

/// Sets the validity in rcgen's dates (the `time` crate's), from whole seconds since 1970.
fn set_validity(
    params: &mut CertificateParams,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), Error> {
    let since_epoch = |at: DateTime<Utc>| {
        u64::try_from(at.timestamp())
            .map(Duration::from_secs)
            .map_err(|_| Error::Certificate(format!("{at} is before 1970")))
    };
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(from)?;
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(until)?;
    Ok(())
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
            )
            .unwrap(),
            PathBuf::from("/certs/api.paypal.com/v1/notifications/certs/CERT-1")
        );
        for url in [
            "http://api.paypal.com/c",
            "https://api.paypal.com/c?x=1",
            "https://api.paypal.com/a//c",
            "not a url",
        ] {
            assert!(paypal_cert_path(Path::new("/certs"), url).is_err(), "{url}");
        }
    }
}
