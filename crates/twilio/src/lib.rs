//! Twilio for the billing-safety backend (docs/guarantees.md: G7, G10, G11, G12).
//!
//! - [`TwilioClient`]: fetch an account, suspend or reactivate a subaccount (never close one: the
//!   type cannot say `closed`), send a message, all through [`outbound`]. Status changes are
//!   idempotent and retried on 429, 5xx and lost connections; a send is retried only when
//!   Twilio certainly never received it (the connection never opened, or a 429).
//! - [`SubaccountControl`] and [`MessageSender`]: what domain code depends on, object-safe
//!   (`#[async_trait]`), so tests and the outbox can substitute a fake and callers can hold an
//!   `Arc<dyn MessageSender>`.
//! - [`signature`]: `X-Twilio-Signature` validation for status callbacks.
//! - [`callback`]: a status callback's fields ([`callback::StatusCallback`]) and the keys they
//!   are verified with ([`callback::CallbackKeys`]: each subaccount's token, read with the
//!   parent's credentials, cached, read again after a rotation).
//! - [`MessageLog`]: an account's message list, where a message whose send answer was lost is
//!   found again.
//!
//! The auth token lives in a [`secrecy::SecretString`] and appears in no error or `Debug` output;
//! phone numbers and message bodies are masked in `Debug` ([`SendMessage`], [`Sender`]).

pub mod callback;
mod client;
mod config;
mod error;
mod model;
mod sid;
pub mod signature;
mod traits;
mod wire;

pub use client::{MAX_LIST_PAGES, TwilioClient};
pub use config::{REQUEST_TIMEOUT, RetryPolicy, TwilioConfig, http_url};
pub use error::TwilioError;
pub use model::{
    Account, AccountStatus, ListedMessage, MessageListing, MessageQuery, MessageStatus,
    SendMessage, Sender, SentMessage, SubaccountStatus,
};
pub use sid::{validate_account_sid, validate_messaging_service_sid};
pub use traits::{AuthTokenSource, MessageLog, MessageSender, SubaccountControl};
