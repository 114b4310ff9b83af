//! Customer notifications about billing: what an organization is told ([`NotificationKind`],
//! [`render`]) and how it reaches them (the outbox message [`NotificationMessage`], a
//! [`Notifier`]).
//!
//! The domain enqueues a [`Notification`] with [`enqueue`] inside the transaction that changes
//! the state it announces. A worker runs [`outbox::deliver_batch`] with a
//! [`NotificationHandler`], which reads the organization's name and billing email, renders the
//! text and hands it to the configured notifier: [`LogNotifier`] by default, [`SmtpNotifier`]
//! when `SMTP_HOST` is set ([`NotifierConfig::from_env`] and [`NotifierConfig::build`], which
//! gives an `Arc<dyn Notifier>`).
//!
//! Delivery is at least once; every email of one outbox message carries the same `Message-ID`.
//! An organization without a billing email gets no email: the message is settled as delivered
//! with a warning, not retried forever.
//!
//! The kind type is `subscriptions::NotificationKind`, re-exported here: the lifecycle emits it as
//! data and the subscriptions crate knows no outbox, so it is defined there, once.

mod config;
mod email;
mod error;
pub mod facts;
mod handler;
mod notification;
mod notifier;
mod render;
mod smtp;

pub use config::NotifierConfig;
pub use email::{EmailAddress, InvalidAddress, OutgoingEmail};
pub use error::{ConfigError, NotificationError};
pub use handler::NotificationHandler;
pub use notification::{Notification, NotificationMessage, enqueue};
pub use notifier::{LogNotifier, Notifier, NotifyError};
pub use render::{Email, render};
pub use smtp::{SmtpConfig, SmtpCredentials, SmtpNotifier, TlsMode};
pub use subscriptions::NotificationKind;
