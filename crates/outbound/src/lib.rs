//! The one outbound HTTP layer: every call the billing adapters and the Twilio client make to
//! an external system goes through [`Client::send`].
//!
//! - [`RetryPolicy`]: attempts, exponential backoff with full jitter (never above the doubling
//!   ceiling), the longest wait; `Retry-After` in seconds or as an HTTP-date, capped at it.
//! - [`Request`] says whether it may be sent twice ([`Repeat`]): a read, or a write carrying an
//!   idempotency key the provider honours, is [`Repeat::Safe`]; anything else (a charge, an
//!   SMS) is [`Repeat::OnlyIfUnsent`] and is resent only when the provider certainly did not
//!   act on it: the connection never opened, or it answered 429. After a 5xx, a timeout or a
//!   connection lost mid-exchange it may have acted, so the answer goes back to the caller.
//! - Secrets and customer data stay out of `Debug` and logs: credential headers are marked
//!   sensitive and shown by name only, bodies by kind and size, paths without their query.
//!   The log lines name the service, method, host and path, status, attempt and wait.
//! - [`Masked`]: customer data (names, emails, phone numbers, addresses, message bodies) as
//!   `"***"` in a hand-written `Debug`.
//!
//! The decision to retry is a pure function of one attempt's outcome ([`retry_wait`]), apart
//! from the I/O that produced it.

mod client;
mod error;
mod mask;
mod policy;
mod request;

pub use client::{Attempt, Client, retry_wait};
pub use error::OutboundError;
pub use mask::{Masked, masked};
pub use policy::RetryPolicy;
pub use request::{Body, Repeat, Request, Response};
