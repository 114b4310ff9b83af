//! Deliveries signed exactly as each billing provider signs them, so end-to-end tests and
//! benchmarks can send the receiver genuine webhooks.
//!
//! The algorithms are `devhooks::signing`'s (one implementation serves the tests and the local
//! webhook tool), written from the providers' documented algorithms and deliberately
//! independent of the `billing` crate's verification code: billing's test suites check that
//! the two implementations agree, so a mistake in one is caught by the other.
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

mod paypal;

pub use devhooks::signing::{
    PAYPAL_AUTH_ALGO, PAYPAL_LEAF_NAME, PayHereNotification, payhere_md5sig, paypal_signed_message,
    paypal_transmission_time, stripe_signature, stripe_signature_header,
};
pub use paypal::{PayPalPki, paypal_cert_path, write_paypal_cert};
