//! Where emails go: the [`Notifier`] trait, the logging default and the run-time choice.

use std::future::Future;

use crate::{email::OutgoingEmail, smtp::SmtpNotifier};

/// Sends one email. Implementations must be safe to call again with the same email after a
/// crash (the outbox delivers at least once); the stable `Message-ID` is how SMTP does that.
pub trait Notifier: Send + Sync {
    fn deliver(
        &self,
        email: &OutgoingEmail,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
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

/// The notifier a binary picked at run time (see [`crate::NotifierConfig`]).
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per process, built once: boxing would buy nothing"
)]
pub enum AnyNotifier {
    Log(LogNotifier),
    Smtp(SmtpNotifier),
}

impl Notifier for AnyNotifier {
    async fn deliver(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        match self {
            Self::Log(notifier) => notifier.deliver(email).await,
            Self::Smtp(notifier) => notifier.deliver(email).await,
        }
    }
}
