//! Twilio for the billing-safety backend (DESIGN.md section 6; G7, G10, G11, G12).
//!
//! - [`TwilioClient`]: fetch an account, suspend or reactivate a subaccount (never close one: the
//!   type cannot say `closed`), send a message. Status changes are idempotent and retried on 429,
//!   5xx and lost connections; a send is retried only when Twilio certainly never received it.
//! - [`SubaccountControl`] and [`MessageSender`]: what domain code depends on, so tests and the
//!   outbox can substitute a fake.
//! - [`signature`]: `X-Twilio-Signature` validation for status callbacks.
//!
//! The auth token lives in a [`secrecy::SecretString`] and appears in no error or `Debug` output.

mod client;
mod config;
mod error;
mod model;
mod sid;
pub mod signature;
mod traits;
mod transport;
mod wire;

pub use client::TwilioClient;
pub use config::{RetryPolicy, TwilioConfig};
pub use error::TwilioError;
pub use model::{
    Account, AccountStatus, MessageStatus, SendMessage, Sender, SentMessage, SubaccountStatus,
};
pub use sid::{validate_account_sid, validate_messaging_service_sid};
pub use traits::{MessageSender, SubaccountControl};
