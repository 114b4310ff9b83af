//! Deliveries signed exactly as each provider signs them, written from the providers'
//! documented algorithms and deliberately independent of the verifiers (`billing`, `twilio`):
//! their test suites (and this crate's) check that the two implementations agree, so a mistake
//! in one is caught by the other. The local webhook tool and the tests (through `testkit`) sign
//! with this one implementation.
//!
//! - PayPal: [`CertificateAuthority`] and [`LeafKey`] make a PayPal-like hierarchy; the five
//!   `PAYPAL-*` headers signed SHA256withRSA over
//!   `transmission_id|transmission_time|webhook_id|crc32(body)` ([`LeafKey::headers`]); the
//!   certificate directory layout `<dir>/<host>/<path>` ([`write_paypal_cert`]).
//! - Stripe: `Stripe-Signature: t=..,v1=..`, HMAC-SHA256 over `"{t}.{body}"` keyed by the whole
//!   `whsec_...` secret ([`stripe_signature_header`]).
//! - PayHere: `md5sig` ([`payhere_md5sig`]) and a signed form-encoded notification
//!   ([`PayHereNotification`]).
//! - Twilio: `X-Twilio-Signature` over the URL and the sorted parameters
//!   ([`twilio_signature`]).

mod payhere;
mod paypal;
mod stripe;
mod twilio;

pub use payhere::{PayHereNotification, payhere_md5sig};
pub use paypal::{
    CertificateAuthority, LeafKey, PAYPAL_AUTH_ALGO, PAYPAL_LEAF_NAME, paypal_cert_path,
    paypal_signed_message, paypal_transmission_time, write_paypal_cert,
};
pub use stripe::{STRIPE_SIGNATURE_HEADER, stripe_signature, stripe_signature_header};
pub use twilio::{TWILIO_SIGNATURE_HEADER, twilio_signature};
