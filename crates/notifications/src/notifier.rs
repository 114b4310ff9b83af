//! Where emails go: the [`Notifier`] trait and the logging default. A binary picks one at run
//! time ([`crate::NotifierConfig::build`]) and hands it around as `Arc<dyn Notifier>`.

use std::fmt;

use crate::email::OutgoingEmail;

/// Sends one email. Implementations must be safe to call again with the same email after a
/// crash (the outbox delivers at least once); the stable `Message-ID` is how SMTP does that.
///
/// Object safe: `Arc<dyn Notifier>` is how handlers hold one. `Debug` must never show a
/// credential.
#[async_trait::async_trait]
pub trait Notifier: fmt::Debug + Send + Sync {
    async fn deliver(&self, email: &OutgoingEmail) -> Result<(), NotifyError>;
}

/// A failed delivery. The message is stored and logged: it must never hold a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    transient: bool,
    message: String,
}

impl NotifyError {
    /// May succeed later: a 4xx reply, a refused connection, a timeout.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    /// Will fail again: the server refused this message for good.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Logs each notification instead of sending it: the default when no SMTP server is configured.
/// Logs the kind, organization, subject and the recipient's domain, never the address or the
/// body.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    async fn deliver(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        tracing::info!(
            kind = email.kind.as_str(),
            organization_id = %email.organization_id,
            outbox_id = %email.outbox_id,
            to_domain = email.to.domain(),
            subject = %email.subject,
            "notification logged, not sent (no SMTP server configured)"
        );
        Ok(())
    }
}
