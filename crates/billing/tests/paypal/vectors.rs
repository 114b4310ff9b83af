//! PayPal's published vectors (copied into `tests/fixtures/paypal/`): four from PayPal's SDK
//! test suites and nine simulator deliveries, each with the certificate its URL served.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue};

/// One published delivery.
#[derive(Debug, Clone)]
pub struct Vector {
    pub name: String,
    pub body: Vec<u8>,
    pub cert_url: String,
    pub cert_pem: Vec<u8>,
    pub transmission_id: String,
    pub transmission_time: String,
    pub webhook_id: String,
    pub crc32: u32,
    /// The signed string, where the source lists it (the simulator vectors).
    pub signed_string: Option<String>,
    pub signature: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// The simulator's certificate URL (its PEM is `simulator/cert_1a5f47cb.pem`).
pub const SIMULATOR_CERT_URL: &str =
    "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paypal")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn time(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("{raw}: {e}"))
        .with_timezone(&Utc)
}

/// Validity of each certificate file, as `openssl x509 -dates` prints it.
fn validity(cert_file: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    match cert_file {
        "cert_1a5f47cb.pem" => (time("2024-03-08T00:00:00Z"), time("2025-03-07T23:59:59Z")),
        "CERT-360caa42-fca2a594-a5cafa77.pem" => {
            (time("2015-03-18T00:00:00Z"), time("2017-03-22T12:00:00Z"))
        }
        "testClientCert.crt" => (time("2017-02-18T00:00:00Z"), time("2019-04-26T12:00:00Z")),
        other => panic!("unknown certificate {other}"),
    }
}

fn field<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {name}"))
}

fn crc(value: &serde_json::Value) -> u32 {
    value["crc32"]
        .as_u64()
        .and_then(|crc| u32::try_from(crc).ok())
        .unwrap_or_else(|| panic!("vector crc32"))
}

/// The four SDK vectors.
pub fn sdk() -> Vec<Vector> {
    let dir = fixtures().join("sdk");
    let list: Vec<serde_json::Value> = serde_json::from_slice(&read(dir.join("vectors.json")))
        .unwrap_or_else(|e| panic!("sdk vectors: {e}"));
    list.iter()
        .map(|v| {
            let cert_file = field(v, "cert_file");
            let (not_before, not_after) = validity(cert_file);
            Vector {
                name: format!("sdk/{}", field(v, "name")),
                body: read(dir.join(field(v, "body_file"))),
                cert_url: field(v, "cert_url").to_owned(),
                cert_pem: read(dir.join(cert_file)),
                transmission_id: field(v, "transmission_id").to_owned(),
                transmission_time: field(v, "transmission_time").to_owned(),
                webhook_id: field(v, "webhook_id").to_owned(),
                crc32: crc(v),
                signed_string: None,
                signature: field(v, "transmission_sig").to_owned(),
                not_before,
                not_after,
            }
        })
        .collect()
}

/// The nine simulator deliveries.
pub fn simulator() -> Vec<Vector> {
    let dir = fixtures().join("simulator");
    let list: Vec<serde_json::Value> = serde_json::from_slice(&read(dir.join("vectors.json")))
        .unwrap_or_else(|e| panic!("simulator vectors: {e}"));
    let cert = read(dir.join("cert_1a5f47cb.pem"));
    let (not_before, not_after) = validity("cert_1a5f47cb.pem");
    list.iter()
        .map(|v| Vector {
            name: format!("simulator/{}", field(v, "file")),
            body: read(dir.join(field(v, "file"))),
            cert_url: SIMULATOR_CERT_URL.to_owned(),
            cert_pem: cert.clone(),
            transmission_id: field(v, "transmission_id").to_owned(),
            transmission_time: field(v, "transmission_time").to_owned(),
            webhook_id: field(v, "webhook_id").to_owned(),
            crc32: crc(v),
            signed_string: Some(field(v, "signed_string").to_owned()),
            signature: field(v, "sig").to_owned(),
            not_before,
            not_after,
        })
        .collect()
}

pub fn all() -> Vec<Vector> {
    let mut all = sdk();
    all.extend(simulator());
    all
}

impl Vector {
    pub fn sent_at(&self) -> DateTime<Utc> {
        time(&self.transmission_time)
    }

    pub fn headers(&self) -> HeaderMap {
        headers(
            &self.transmission_id,
            &self.transmission_time,
            &self.signature,
            &self.cert_url,
            "SHA256withRSA",
        )
    }
}

/// The five PAYPAL-* headers, spelt as PayPal sends them.
pub fn headers(id: &str, time: &str, signature: &str, cert_url: &str, algo: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in [
        ("PAYPAL-TRANSMISSION-ID", id),
        ("PAYPAL-TRANSMISSION-TIME", time),
        ("PAYPAL-TRANSMISSION-SIG", signature),
        ("PAYPAL-CERT-URL", cert_url),
        ("PAYPAL-AUTH-ALGO", algo),
    ] {
        let value = HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{name}: {e}"));
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
            value,
        );
    }
    map.insert("content-type", HeaderValue::from_static("application/json"));
    map
}
