//! [`SmtpNotifier`]: email over SMTP with lettre (tokio, rustls; never OpenSSL).

use std::{fmt, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{authentication::Credentials, extension::ClientId},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    email::OutgoingEmail,
    error::ConfigError,
    notifier::{Notifier, NotifyError},
};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text. Only for a relay on the same host or a test server.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
}

impl TlsMode {
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }

    pub const fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

/// A login for the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: SecretString,
}

/// Where and how to send (see [`crate::NotifierConfig::from_env`] for the variables).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<SmtpCredentials>,
    /// The sender, `billing@example.com` or `Billing <billing@example.com>`.
    pub from: String,
    /// For connecting, and for one whole delivery (every command of the conversation
    /// together): lettre's async transport bounds only the connect, so a server that accepts the
    /// connection and then never answers would otherwise hold the notification pass forever.
    pub timeout: Duration,
}

/// Sends notifications through an SMTP server. Cheap to clone.
#[derive(Clone)]
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
    timeout: Duration,
}

/// Reply codes that mean our credentials or session were refused (RFC 4954): every message
/// would fail the same way until someone fixes the configuration, so they are retried (and
/// show up in the retry metric) rather than killing each message at once.
const AUTHENTICATION_CODES: [u16; 4] = [530, 534, 535, 538];

impl SmtpNotifier {
    /// Checks the configuration; connects only when sending.
    pub fn new(config: SmtpConfig) -> Result<Self, ConfigError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| ConfigError::new("SMTP_FROM", "not a valid sender address"))?;
        let host = config.host.trim();
        if host.is_empty() {
            return Err(ConfigError::new("SMTP_HOST", "must not be empty"));
        }
        let builder = match config.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            TlsMode::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| ConfigError::new("SMTP_TLS", format!("cannot set up TLS: {e}")))?,
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| ConfigError::new("SMTP_TLS", format!("cannot set up TLS: {e}")))?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(config.timeout))
            .hello_name(ClientId::Domain(from.email.domain().to_owned()));
        if let Some(credentials) = config.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.username,
                credentials.password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            server: format!("{host}:{}", config.port),
            timeout: config.timeout,
        })
    }

    fn message(&self, email: &OutgoingEmail) -> Result<Message, NotifyError> {
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, email.to.as_lettre().clone()))
            .subject(email.subject.as_str())
            .message_id(Some(email.message_id(self.from.email.domain())))
            .header(ContentType::TEXT_PLAIN)
            .body(email.text.clone())
            .map_err(|e| NotifyError::permanent(format!("could not build the email: {e}")))
    }
}

#[async_trait::async_trait]
impl Notifier for SmtpNotifier {
    async fn deliver(&self, email: &OutgoingEmail) -> Result<(), NotifyError> {
        let message = self.message(email)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(|e| classify(&e)),
            // Whether the server took the message is unknown: a transient failure, so it is
            // sent again; the Message-ID lets the receiving side drop a repeat.
            Err(_) => Err(NotifyError::transient(format!(
                "smtp: {} did not finish the delivery within {} s",
                self.server,
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

/// Only a 5xx reply about this message is permanent; anything else (4xx, connection refused,
/// timeouts, TLS trouble, refused credentials) may work later. lettre's messages quote the
/// server's reply, never our credentials.
fn classify(error: &lettre::transport::smtp::Error) -> NotifyError {
    let message = format!("smtp: {error}");
    let code = error.status().map(u16::from);
    match code {
        Some(code) if error.is_permanent() && !AUTHENTICATION_CODES.contains(&code) => {
            NotifyError::permanent(message)
        }
        _ => NotifyError::transient(message),
    }
}

impl fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("server", &self.server)
            .field("from", &self.from.email.domain())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tls: TlsMode) -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: tls.default_port(),
            tls,
            credentials: Some(SmtpCredentials {
                username: "user".into(),
                password: SecretString::from("hunter2-secret"),
            }),
            from: "Billing <billing@example.com>".into(),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn every_tls_mode_builds_and_debug_output_holds_no_secret() {
        for tls in [TlsMode::None, TlsMode::StartTls, TlsMode::Tls] {
            let notifier = SmtpNotifier::new(config(tls)).unwrap();
            let debug = format!("{notifier:?} {:?}", config(tls));
            assert!(!debug.contains("hunter2"), "{debug}");
            assert!(debug.contains("smtp.example.com"), "{debug}");
        }
    }

    #[test]
    fn bad_senders_and_hosts_are_refused_with_the_variable_named() {
        let bad_from = SmtpConfig {
            from: "not an address".into(),
            ..config(TlsMode::None)
        };
        assert_eq!(
            SmtpNotifier::new(bad_from).unwrap_err().variable,
            "SMTP_FROM"
        );
        let no_host = SmtpConfig {
            host: " ".into(),
            ..config(TlsMode::None)
        };
        assert_eq!(
            SmtpNotifier::new(no_host).unwrap_err().variable,
            "SMTP_HOST"
        );
    }

    #[test]
    fn tls_modes_parse_and_have_their_ports() {
        assert_eq!(TlsMode::parse(" STARTTLS "), Some(TlsMode::StartTls));
        assert_eq!(TlsMode::parse("tls"), Some(TlsMode::Tls));
        assert_eq!(TlsMode::parse("none"), Some(TlsMode::None));
        assert_eq!(TlsMode::parse("ssl"), None);
        assert_eq!(
            [TlsMode::None, TlsMode::StartTls, TlsMode::Tls].map(TlsMode::default_port),
            [25, 587, 465]
        );
    }
}
