//! Deliveries signed exactly as each billing provider signs them, so end-to-end tests and
//! benchmarks can send the receiver genuine webhooks.
//!
//! Written from the providers' documented algorithms, and deliberately independent of the
//! `billing` crate's verification code (testkit does not depend on billing): billing's test
//! suites check that the two implementations agree, so a mistake in one is caught by the
//! other.
//!
//! - [`PayPalPki`]: a certificate hierarchy generated per run (root CA, intermediate CA, an RSA
//!   leaf named `messageverificationcerts.paypal.com`), the five `PAYPAL-*` headers signed
//!   SHA256withRSA over `transmission_id|transmission_time|webhook_id|crc32(body)`, and the
//!   leaf written into a certificate directory at the `<dir>/<host>/<path>` layout.
//! - [`stripe_signature_header`]: `Stripe-Signature: t=..,v1=..`, HMAC-SHA256 over
//!   `"{t}.{body}"` keyed by the whole `whsec_...` secret.
//! - [`payhere_md5sig`] and [`PayHereNotification`]: PayHere's `md5sig` and a signed
//!   form-encoded notification body.
//!
//! Everything panics instead of returning errors: it is for tests only.

mod payhere;
mod paypal;
mod stripe;

pub use payhere::{PayHereNotification, payhere_md5sig};
pub use paypal::{
    PAYPAL_AUTH_ALGO, PAYPAL_LEAF_NAME, PayPalPki, paypal_cert_path, paypal_signed_message,
    paypal_transmission_time, write_paypal_cert,
};
pub use stripe::{stripe_signature, stripe_signature_header};
