//! The test's provider credentials, how the binaries are configured with them, and deliveries
//! signed with them exactly as each provider signs (`testkit::signing`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use testkit::signing::{PayPalPki, paypal_transmission_time, stripe_signature_header};

use crate::{events::payhere::Merchant, fakes};

/// The PayPal webhook the receiver is configured for.
pub const PAYPAL_WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
/// Where PayPal says its certificate is; read from the certificate directory, never fetched.
pub const PAYPAL_CERT_URL: &str =
    "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-e2e0e2e0";
pub const STRIPE_WEBHOOK_SECRET: &str = "whsec_e2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2e0";
pub const PAYHERE_MERCHANT_ID: &str = "1221149";
pub const PAYHERE_MERCHANT_SECRET: &str = "e2e-payhere-merchant-secret-4Ug8Ns";

pub struct Keys {
    /// A root, an intermediate and a leaf named like PayPal's, generated for this test.
    pub paypal: PayPalPki,
    pub payhere: Merchant,
    roots_file: PathBuf,
    cert_dir: PathBuf,
}

impl Keys {
    /// Generates the PayPal hierarchy and writes what the binaries read into `dir`: the root as
    /// the only trusted root, the leaf chain in a certificate directory at
    /// [`PAYPAL_CERT_URL`].
    pub fn generate(dir: &Path) -> Self {
        let paypal = PayPalPki::generate(Utc::now());
        let roots_file = dir.join("paypal-roots.pem");
        std::fs::write(&roots_file, paypal.root_pem())
            .unwrap_or_else(|e| panic!("{}: {e}", roots_file.display()));
        let cert_dir = dir.join("paypal-certs");
        paypal.write_cert_dir(&cert_dir, PAYPAL_CERT_URL);
        Self {
            paypal,
            payhere: Merchant {
                id: PAYHERE_MERCHANT_ID.to_owned(),
                secret: PAYHERE_MERCHANT_SECRET.to_owned(),
            },
            roots_file,
            cert_dir,
        }
    }

    /// Where the certificate directory is (a test may add other documents to it).
    pub fn cert_dir(&self) -> &Path {
        &self.cert_dir
    }

    /// The providers' variables, the same for the receiver and the api.
    pub fn env(&self, paypal_api: &str, stripe_api: &str) -> Vec<(String, String)> {
        [
            ("PAYPAL_WEBHOOK_IDS", PAYPAL_WEBHOOK_ID),
            ("PAYPAL_TRUSTED_ROOTS_FILE", &path(&self.roots_file)),
            ("PAYPAL_CERT_DIR", &path(&self.cert_dir)),
            ("PAYPAL_API_BASE_URL", paypal_api),
            ("PAYPAL_CLIENT_ID", fakes::paypal::CLIENT_ID),
            ("PAYPAL_CLIENT_SECRET", fakes::paypal::CLIENT_SECRET),
            ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRET),
            ("STRIPE_SECRET_KEY", fakes::stripe::SECRET_KEY),
            ("STRIPE_API_BASE_URL", stripe_api),
            ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID),
            ("PAYHERE_MERCHANT_SECRET", PAYHERE_MERCHANT_SECRET),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// The five `PAYPAL-*` headers PayPal sends with `body` at `at`, for our webhook, under a
    /// fresh transmission id.
    pub fn paypal_headers(&self, body: &[u8], at: DateTime<Utc>) -> Vec<(String, String)> {
        self.paypal_headers_as(body, at, PAYPAL_WEBHOOK_ID, PAYPAL_CERT_URL)
    }

    /// The same, signed for `webhook_id` and pointing at `cert_url` (refusal tests).
    pub fn paypal_headers_as(
        &self,
        body: &[u8],
        at: DateTime<Utc>,
        webhook_id: &str,
        cert_url: &str,
    ) -> Vec<(String, String)> {
        let transmission_id = uuid::Uuid::now_v7().to_string();
        self.paypal.headers(
            body,
            webhook_id,
            cert_url,
            &transmission_id,
            &paypal_transmission_time(at),
        )
    }

    /// `Stripe-Signature` for `body` sent at `unix_ts`.
    pub fn stripe_header(&self, body: &[u8], unix_ts: i64) -> (String, String) {
        (
            "Stripe-Signature".to_owned(),
            stripe_signature_header(STRIPE_WEBHOOK_SECRET, unix_ts, body),
        )
    }
}

fn path(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
        .to_owned()
}
