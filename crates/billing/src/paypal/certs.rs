//! PayPal's signing certificates: where one may come from, fetching, caching and validation.
//!
//! `PAYPAL-CERT-URL` arrives with the (not yet verified) webhook, so it is attacker-controlled
//! until proven otherwise. It is checked against the allow-list before any network I/O: an
//! unchecked URL would let anyone make us fetch from their host (SSRF) and, worse, hand us a
//! certificate of their own choosing. The fetched chain must then reach a configured root, the
//! leaf must be named `messageverificationcerts.*paypal.com` and be valid at the clock's time.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, ServerName, TrustAnchor, UnixTime};
use url::{Host, Url};
use webpki::{EndEntityCert, KeyUsage};

use crate::{ProviderError, ProviderName, VerifyError};

/// DigiCert High Assurance EV Root CA: the root of every PayPal message-verification chain.
pub const BUNDLED_ROOTS_PEM: &str = include_str!("roots/digicert_high_assurance_ev_root_ca.pem");
/// DigiCert SHA2 Extended Validation Server CA, the intermediate that issues PayPal's
/// message-verification certificates (their URLs serve the leaf only).
pub const BUNDLED_INTERMEDIATES_PEM: &str = include_str!("roots/digicert_sha2_ev_server_ca.pem");

const CERT_MARKER: &[u8] = b"-----BEGIN CERTIFICATE-----";
/// Longest certificate URL considered at all.
const MAX_URL_LEN: usize = 2048;
/// Largest certificate document fetched: a leaf and an intermediate are about 4 KiB.
const MAX_CERT_BYTES: usize = 64 * 1024;

/// Why a certificate could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CertFetchError(pub String);

/// What [`CertFetcher::fetch`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, CertFetchError>> + Send + 'a>>;

/// Fetches the PEM document a certificate URL serves. Only ever called with a URL that passed
/// [`check_cert_url`].
pub trait CertFetcher: Send + Sync + fmt::Debug {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a>;
}

/// Checks a `PAYPAL-CERT-URL` against the allow-list: `https`, host `paypal.com` or a subdomain
/// of it given as a name (no IP address, no trailing dot), no port but the default, no userinfo.
/// The parsed URL it returns is the one fetched, so what was checked is what is requested.
pub fn check_cert_url(raw: &str) -> Result<Url, VerifyError> {
    let refuse = |why: &str| {
        let shown: String = raw.chars().take(120).collect();
        VerifyError::CertUrlNotAllowed(format!("{shown:?}: {why}"))
    };
    if raw.len() > MAX_URL_LEN {
        return Err(refuse("too long"));
    }
    let url = Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("scheme must be https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("userinfo is not allowed"));
    }
    // `Url` drops the scheme's default port, so any port left is a non-default one.
    if url.port().is_some() {
        return Err(refuse("only the default port is allowed"));
    }
    let Some(Host::Domain(host)) = url.host() else {
        return Err(refuse("host must be a paypal.com name"));
    };
    // `Url` lowercases and IDNA-normalizes the host; a trailing dot stays and is refused here.
    let is_paypal = host == "paypal.com"
        || host
            .strip_suffix(".paypal.com")
            .is_some_and(|prefix| !prefix.is_empty() && prefix.split('.').all(|l| !l.is_empty()));
    if !is_paypal {
        return Err(refuse("host is not paypal.com or a subdomain of it"));
    }
    Ok(url)
}

/// Whether a certificate name is PayPal's message-verification name:
/// `messageverificationcerts.paypal.com` or `messageverificationcerts.<sub>.paypal.com`
/// (`sandbox`, say). Wildcards do not count: the leaf must name the signing service itself.
pub fn is_message_verification_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let Some(rest) = name.strip_prefix("messageverificationcerts.") else {
        return false;
    };
    rest == "paypal.com"
        || rest.strip_suffix(".paypal.com").is_some_and(|middle| {
            !middle.is_empty()
                && middle.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
}

/// Roots and extra intermediates, parsed once.
#[derive(Clone)]
pub(crate) struct Trust {
    anchors: Arc<[TrustAnchor<'static>]>,
    intermediates: Arc<[CertificateDer<'static>]>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("roots", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .finish()
    }
}

impl Trust {
    /// Parses the configured PEM documents; at least one root is required.
    pub(crate) fn from_pem(roots_pem: &str, intermediates_pem: &str) -> Result<Self, String> {
        let roots = parse_pem(roots_pem.as_bytes()).map_err(|e| format!("trusted roots: {e}"))?;
        if roots.is_empty() {
            return Err("trusted roots: no certificate in the PEM".into());
        }
        let anchors = roots
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| format!("trusted roots: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let intermediates =
            parse_pem(intermediates_pem.as_bytes()).map_err(|e| format!("intermediates: {e}"))?;
        Ok(Self {
            anchors: anchors.into(),
            intermediates: intermediates.into(),
        })
    }

    /// Validates `chain` (leaf first, then whatever intermediates the URL served) at `now`:
    /// path to a root (with the configured intermediates too), validity of every certificate,
    /// and the leaf's name.
    fn validate(
        &self,
        chain: &[CertificateDer<'static>],
        now: UnixTime,
    ) -> Result<(), VerifyError> {
        let (leaf_der, served) = chain.split_first().ok_or_else(|| {
            VerifyError::CertChainInvalid("no certificate in the document".into())
        })?;
        let leaf = EndEntityCert::try_from(leaf_der)
            .map_err(|e| VerifyError::CertChainInvalid(format!("leaf does not parse: {e}")))?;
        let intermediates: Vec<CertificateDer<'_>> = served
            .iter()
            .chain(self.intermediates.iter())
            .cloned()
            .collect();
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            &intermediates,
            now,
            // PayPal's leaves carry the TLS server purpose; a leaf restricted to some other
            // purpose was not issued for this.
            KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|error| match error {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                VerifyError::CertExpired
            }
            other => VerifyError::CertChainInvalid(other.to_string()),
        })?;
        // Find the PayPal name among the leaf's DNS names, then let webpki confirm the match
        // rather than trusting our own string comparison alone.
        let name = leaf
            .valid_dns_names()
            .find(|name| is_message_verification_name(name))
            .ok_or_else(|| {
                VerifyError::CertChainInvalid(
                    "leaf is not named messageverificationcerts.*paypal.com".into(),
                )
            })?;
        let dns = DnsName::try_from(name)
            .map_err(|_| VerifyError::CertChainInvalid("leaf name is not a DNS name".into()))?;
        leaf.verify_is_valid_for_subject_name(&ServerName::DnsName(dns))
            .map_err(|e| VerifyError::CertChainInvalid(format!("leaf name: {e}")))
    }
}

/// How many certificates a PEM document holds (configuration checks).
pub(crate) fn count_certificates(pem: &str) -> Result<usize, String> {
    parse_pem(pem.as_bytes()).map(|certs| certs.len())
}

fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("PEM does not parse: {e}"))?;
    // Two PEMs pasted together without a newline between them read as one, silently losing
    // the second certificate; count the markers so that is an error, not a surprise.
    let markers = pem
        .windows(CERT_MARKER.len())
        .filter(|window| *window == CERT_MARKER)
        .count();
    if markers == certs.len() {
        Ok(certs)
    } else {
        Err(format!(
            "PEM has {markers} certificate markers but {} readable certificates",
            certs.len()
        ))
    }
}

/// Fetched chains by URL, in insertion order for eviction.
#[derive(Default)]
struct Cache {
    chains: HashMap<String, Arc<[CertificateDer<'static>]>>,
    order: VecDeque<String>,
}

/// Certificates: fetched through the [`CertFetcher`] after the allow-list, cached by URL once
/// they validated, validated again at every use (validity depends on the time).
pub(crate) struct CertStore {
    trust: Trust,
    fetcher: Arc<dyn CertFetcher>,
    cache: Mutex<Cache>,
    capacity: usize,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Cached URLs, not certificate bytes: a provider's Debug stays one readable line.
        let cached: Vec<String> = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .order
            .iter()
            .cloned()
            .collect();
        f.debug_struct("CertStore")
            .field("trust", &self.trust)
            .field("fetcher", &self.fetcher)
            .field("cached", &cached)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl CertStore {
    pub(crate) fn new(trust: Trust, fetcher: Arc<dyn CertFetcher>, capacity: usize) -> Self {
        Self {
            trust,
            fetcher,
            cache: Mutex::new(Cache::default()),
            capacity: capacity.max(1),
        }
    }

    /// The validated chain (leaf first) for an allowed URL at `now`.
    pub(crate) async fn chain(
        &self,
        url: &Url,
        now: UnixTime,
    ) -> Result<Arc<[CertificateDer<'static>]>, VerifyError> {
        if let Some(chain) = self.cached(url) {
            self.trust.validate(&chain, now)?;
            return Ok(chain);
        }
        let pem = self
            .fetcher
            .fetch(url)
            .await
            .map_err(|e| VerifyError::CertUnavailable(e.0))?;
        let chain: Arc<[CertificateDer<'static>]> = parse_pem(&pem)
            .map_err(VerifyError::CertChainInvalid)?
            .into();
        self.trust.validate(&chain, now)?;
        // Only a chain that validated is kept: a transient or forged answer is asked again.
        self.remember(url, Arc::clone(&chain));
        Ok(chain)
    }

    fn cached(&self, url: &Url) -> Option<Arc<[CertificateDer<'static>]>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.chains.get(url.as_str()).cloned()
    }

    fn remember(&self, url: &Url, chain: Arc<[CertificateDer<'static>]>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let key = url.as_str().to_owned();
        if cache.chains.insert(key.clone(), chain).is_none() {
            cache.order.push_back(key);
        }
        while cache.order.len() > self.capacity {
            if let Some(oldest) = cache.order.pop_front() {
                cache.chains.remove(&oldest);
            }
        }
    }
}

/// Fetches over HTTPS with reqwest (rustls). Redirects are not followed: a redirect could lead
/// off the allow-list after the check.
#[derive(Debug, Clone)]
pub struct HttpCertFetcher {
    client: reqwest::Client,
}

impl HttpCertFetcher {
    pub fn new(timeout: Duration) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ProviderError::Config {
                provider: ProviderName::Paypal,
                message: format!("certificate HTTP client: {error}"),
            })?;
        Ok(Self { client })
    }

    async fn get(&self, url: &Url) -> Result<Vec<u8>, CertFetchError> {
        let failed = |e: reqwest::Error| CertFetchError(e.without_url().to_string());
        let mut response = self.client.get(url.clone()).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(CertFetchError(format!("answered {}", response.status())));
        }
        let too_large = || CertFetchError(format!("document larger than {MAX_CERT_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|length| length > MAX_CERT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_CERT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl CertFetcher for HttpCertFetcher {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        Box::pin(self.get(url))
    }
}

/// Serves fixed PEM documents by URL and records every URL asked for: for tests, and for
/// deployments that pin PayPal's certificates instead of fetching them.
#[derive(Default)]
pub struct StaticCertFetcher {
    documents: HashMap<String, Vec<u8>>,
    calls: Mutex<Vec<String>>,
}

impl fmt::Debug for StaticCertFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut urls: Vec<&String> = self.documents.keys().collect();
        urls.sort();
        f.debug_struct("StaticCertFetcher")
            .field("urls", &urls)
            .field("calls", &self.calls().len())
            .finish()
    }
}

impl StaticCertFetcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `pem` at `url` (compared after URL normalization).
    #[must_use]
    pub fn with(mut self, url: &str, pem: impl Into<Vec<u8>>) -> Self {
        let key = Url::parse(url).map_or_else(|_| url.to_owned(), |u| u.as_str().to_owned());
        self.documents.insert(key, pem.into());
        self
    }

    /// Every URL fetched so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl CertFetcher for StaticCertFetcher {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(url.as_str().to_owned());
        let found = self
            .documents
            .get(url.as_str())
            .cloned()
            .ok_or_else(|| CertFetchError("404 Not Found".into()));
        Box::pin(std::future::ready(found))
    }
}

/// Reads certificates from a local directory instead of the network, for air-gapped
/// deployments and end-to-end tests: the certificate URL `https://<host>/<path>` is the file
/// `<dir>/<host>/<path>`, the layout `wget -x` produces (so a directory filled by
/// `wget -x https://api.paypal.com/v1/notifications/certs/CERT-...` serves that URL).
///
/// It only maps URLs to files: the allow-list ([`check_cert_url`]) has been applied before it
/// is asked, and the chain, name and validity checks follow, exactly as for a fetched
/// certificate. The URL is still attacker-controlled text, so anything that could leave the
/// directory is refused before the file system is touched: an empty path or segment, `.` and
/// `..`, backslashes, percent-escapes, a query or fragment, and any character outside
/// `[A-Za-z0-9._-]` in the host or a segment. A missing file is unavailable, like a 404.
#[derive(Debug, Clone)]
pub struct DirCertFetcher {
    dir: PathBuf,
}

impl DirCertFetcher {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file that serves `url`, or why the URL cannot name one.
    pub fn path_for(&self, url: &Url) -> Result<PathBuf, CertFetchError> {
        let refuse = |why: &str| {
            CertFetchError(format!(
                "certificate URL refused for the certificate directory: {why}"
            ))
        };
        if url.scheme() != "https" {
            return Err(refuse("not https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse("it has a query or fragment"));
        }
        let host = url.host_str().ok_or_else(|| refuse("no host"))?;
        let mut path = self
            .dir
            .join(safe_segment(host).map_err(|why| refuse(&format!("host: {why}")))?);
        let segments = url.path_segments().ok_or_else(|| refuse("no path"))?;
        let mut any = false;
        for segment in segments {
            path.push(safe_segment(segment).map_err(|why| refuse(&format!("path: {why}")))?);
            any = true;
        }
        if !any {
            return Err(refuse("no path"));
        }
        Ok(path)
    }

    async fn read(&self, url: &Url) -> Result<Vec<u8>, CertFetchError> {
        let path = self.path_for(url)?;
        let unavailable = |why: &str| CertFetchError(format!("unavailable: {why}"));
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                return Err(unavailable(
                    "no file for this URL in the certificate directory",
                ));
            }
            Err(error) => {
                return Err(unavailable(&format!(
                    "the certificate file cannot be opened: {}",
                    error.kind()
                )));
            }
        };
        // One byte more than allowed is read, so an oversized file is noticed, not truncated.
        let mut body = Vec::new();
        let limit = u64::try_from(MAX_CERT_BYTES + 1).unwrap_or(u64::MAX);
        tokio::io::AsyncReadExt::read_to_end(
            &mut tokio::io::AsyncReadExt::take(&mut file, limit),
            &mut body,
        )
        .await
        .map_err(|error| {
            unavailable(&format!(
                "the certificate file cannot be read: {}",
                error.kind()
            ))
        })?;
        if body.len() > MAX_CERT_BYTES {
            return Err(CertFetchError(format!(
                "document larger than {MAX_CERT_BYTES} bytes"
            )));
        }
        Ok(body)
    }
}

/// A host name or path segment that is one plain file name: not empty, not `.` or `..`, only
/// `[A-Za-z0-9._-]` (which also excludes `/`, `\\`, `%` and anything non-ASCII).
fn safe_segment(segment: &str) -> Result<&str, &'static str> {
    if segment.is_empty() {
        return Err("empty segment");
    }
    if segment == "." || segment == ".." {
        return Err("dot segment");
    }
    if segment.contains('\\') {
        return Err("backslash");
    }
    if segment.contains('%') {
        return Err("percent-escape");
    }
    if !segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("character outside [A-Za-z0-9._-]");
    }
    Ok(segment)
}

impl CertFetcher for DirCertFetcher {
    fn fetch<'a>(&'a self, url: &'a Url) -> FetchFuture<'a> {
        Box::pin(self.read(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_accepts_paypal_https_hosts_only() {
        for ok in [
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-x",
            "https://paypal.com/cert",
            "https://API.PAYPAL.COM/cert",
            "https://api.paypal.com:443/cert",
        ] {
            assert!(check_cert_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.paypal.com/cert",
            "https://api.paypal.com.evil.com/cert",
            "https://paypal.com.evil.com/cert",
            "https://evilpaypal.com/cert",
            "https://api.paypal.com@evil.com/cert",
            "https://evil.com@api.paypal.com/cert",
            "https://user:pw@api.paypal.com/cert",
            "https://api.paypal.com:8443/cert",
            "https://api.paypal.com./cert",
            "https://127.0.0.1/cert",
            "https://[::1]/cert",
            "ftp://api.paypal.com/cert",
            "file:///etc/passwd",
            "//api.paypal.com/cert",
            "https://.paypal.com/cert",
            "https://evil.com/?https://api.paypal.com/",
            "https://evil.com#.paypal.com",
            "not a url",
            "",
        ] {
            assert!(
                matches!(check_cert_url(bad), Err(VerifyError::CertUrlNotAllowed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn message_verification_names() {
        for ok in [
            "messageverificationcerts.paypal.com",
            "messageverificationcerts.sandbox.paypal.com",
            "MessageVerificationCerts.PayPal.com",
        ] {
            assert!(is_message_verification_name(ok), "{ok}");
        }
        for bad in [
            "paypal.com",
            "api.paypal.com",
            "*.paypal.com",
            "messageverificationcerts.*.paypal.com",
            "messageverificationcerts.paypal.com.evil.com",
            "messageverificationcerts.evilpaypal.com",
            "messageverificationcerts..paypal.com",
            "xmessageverificationcerts.paypal.com",
        ] {
            assert!(!is_message_verification_name(bad), "{bad}");
        }
    }

    #[test]
    fn dir_paths_follow_the_wget_layout_and_stay_inside() {
        let fetcher = DirCertFetcher::new("/certs");
        let path = |raw: &str| fetcher.path_for(&Url::parse(raw).unwrap());
        assert_eq!(
            path("https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb")
                .unwrap(),
            PathBuf::from(
                "/certs/api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb"
            )
        );
        for refused in [
            "https://api.paypal.com/",
            "https://api.paypal.com/a//b",
            "https://api.paypal.com/a/",
            "https://api.paypal.com/a%2F..%2Fb",
            "https://api.paypal.com/%2e%2e%2fetc",
            "https://api.paypal.com/a%5Cb",
            "https://api.paypal.com/a%00b",
            "https://api.paypal.com/caf%C3%A9",
            "https://api.paypal.com/a b",
            "https://api.paypal.com/a:b",
            "https://api.paypal.com/cert?x=1",
            "https://api.paypal.com/cert?",
            "https://api.paypal.com/cert#x",
            "http://api.paypal.com/cert",
            "file:///etc/passwd",
        ] {
            assert!(path(refused).is_err(), "{refused}");
        }
        // `..` and `.` never survive URL parsing; were they there, the segment check refuses.
        assert_eq!(
            path("https://api.paypal.com/a/../../../etc/passwd").unwrap(),
            PathBuf::from("/certs/api.paypal.com/etc/passwd")
        );
        assert_eq!(safe_segment(".."), Err("dot segment"));
        assert_eq!(safe_segment("."), Err("dot segment"));
        assert_eq!(safe_segment("a\\b"), Err("backslash"));
        assert_eq!(safe_segment(""), Err("empty segment"));
    }

    #[test]
    fn bundled_trust_parses() {
        let trust = Trust::from_pem(BUNDLED_ROOTS_PEM, BUNDLED_INTERMEDIATES_PEM);
        assert!(matches!(trust, Ok(ref t) if t.anchors.len() == 1 && t.intermediates.len() == 1));
        assert!(Trust::from_pem("", "").is_err());
        // Pasted without a newline in between: refused instead of losing the second.
        let glued = format!(
            "{}{}",
            BUNDLED_ROOTS_PEM.trim_end(),
            BUNDLED_INTERMEDIATES_PEM
        );
        assert!(Trust::from_pem(&glued, "").is_err());
        let joined = format!("{BUNDLED_ROOTS_PEM}{BUNDLED_INTERMEDIATES_PEM}");
        assert!(matches!(Trust::from_pem(&joined, ""), Ok(t) if t.anchors.len() == 2));
    }
}
