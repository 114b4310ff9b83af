//! Customer notifications about billing: what an organization is told ([`NotificationKind`],
//! [`render`]) and how it reaches them (the outbox topic `notification`, a [`Notifier`]).
//!
//! The domain enqueues a [`Notification`] with [`enqueue`] inside the transaction that changes
//! the state it announces. A worker runs [`outbox::deliver_batch`] with a
//! [`NotificationHandler`], which reads the organization's name and billing email, renders the
//! text and hands it to the configured notifier: [`LogNotifier`] by default, [`SmtpNotifier`]
//! when `SMTP_HOST` is set ([`NotifierConfig::from_env`]).
//!
//! Delivery is at least once; every email of one outbox message carries the same `Message-ID`.
//! An organization without a billing email gets no email: the message is settled as delivered
//! with a warning, not retried forever.
//!
//! This crate knows nothing of subscriptions: the subscription crates depend on it for the kind.

mod config;
mod email;
mod error;
pub mod facts;
mod handler;
mod kind;
mod notification;
mod notifier;
mod render;
mod smtp;

pub use config::NotifierConfig;
pub use email::{EmailAddress, InvalidAddress, OutgoingEmail};
pub use error::{ConfigError, NotificationError};
pub use handler::NotificationHandler;
pub use kind::{NotificationKind, UnknownKind};
pub use notification::{Notification, TOPIC, enqueue};
pub use notifier::{AnyNotifier, LogNotifier, Notifier, NotifyError};
pub use render::{Email, render};
pub use smtp::{SmtpConfig, SmtpCredentials, SmtpNotifier, TlsMode};
