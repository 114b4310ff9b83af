//! The durable transactional outbox (docs/guarantees.md: G10): a failing external call (SMTP, Twilio, a
//! billing provider) never rolls back or loses billing state.
//!
//! 0. The crate that owns a message's meaning defines its payload type and topic once, as a
//!    [`Message`]; producers and the consumer share that type.
//! 1. The domain writes a message with [`enqueue`] on its own connection, inside the transaction
//!    that changes the state needing the call: both commit or neither does.
//! 2. A worker claims due messages ([`Outbox::claim`], or [`deliver_batch`] with a [`Handler`],
//!    which gets each payload decoded), each under a lease, and makes the call outside any
//!    transaction.
//! 3. It settles each: [`Outbox::complete`], or [`Outbox::fail`], which schedules a retry with
//!    exponential backoff or dead-letters the message for a person (`OUTBOX DEAD LETTER` in the
//!    logs, `outbox_dead_letters_total` in metrics).
//!
//! Operators use [`list`], [`counts`] and [`Outbox::retry_dead_now`]. docs/outbox.md has the
//! table, the semantics and the runbook.

mod admin;
mod dead_letter;
mod deliver;
mod enqueue;
mod error;
mod input;
mod message;
mod model;
mod outbox;
mod policy;
mod settle;
mod store;

pub use admin::{counts, get, list};
pub use deliver::{DeliveryReport, FailureKind, Handler, HandlerError, deliver_batch};
pub use enqueue::{enqueue, enqueue_raw};
pub use error::OutboxError;
pub use input::{DedupeKey, InputError, Topic};
pub use message::{Envelope, Message};
pub use model::{
    ClaimedMessage, Enqueued, ListFilter, MessageId, NewMessage, OutboxMessage, Settlement, Status,
    StatusCount,
};
pub use outbox::Outbox;
pub use policy::{PolicyError, Redelivery};
pub use settle::MAX_ERROR_CHARS;
