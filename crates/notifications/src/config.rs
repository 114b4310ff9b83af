//! Choosing the notifier from the environment.

use std::time::Duration;

use secrecy::SecretString;

use crate::{
    error::ConfigError,
    notifier::{AnyNotifier, LogNotifier},
    smtp::{SmtpConfig, SmtpCredentials, SmtpNotifier, TlsMode},
};

/// Log only, or send over SMTP.
#[derive(Debug, Clone)]
pub enum NotifierConfig {
    Log,
    Smtp(SmtpConfig),
}

impl NotifierConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Reads:
    ///
    /// | variable | default | meaning |
    /// |---|---|---|
    /// | `SMTP_HOST` | unset | SMTP server; unset or empty: notifications are only logged ([`LogNotifier`]) |
    /// | `SMTP_TLS` | `starttls` | `starttls` (required STARTTLS), `tls` (implicit TLS) or `none` (plain text) |
    /// | `SMTP_PORT` | 587 / 465 / 25 | by `SMTP_TLS` |
    /// | `SMTP_USERNAME` | unset | login; needs `SMTP_PASSWORD` |
    /// | `SMTP_PASSWORD` | unset | password (held as a secret, never logged) |
    /// | `SMTP_FROM` | required with `SMTP_HOST` | sender, `billing@example.com` or `Billing <billing@example.com>` |
    /// | `SMTP_TIMEOUT_SECS` | `10` | connect and per-command timeout |
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] over any source of variables (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let Some(host) = get("SMTP_HOST") else {
            return Ok(Self::Log);
        };
        let tls = match get("SMTP_TLS") {
            None => TlsMode::StartTls,
            Some(value) => TlsMode::parse(&value)
                .ok_or_else(|| ConfigError::new("SMTP_TLS", "must be starttls, tls or none"))?,
        };
        let port = match get("SMTP_PORT") {
            None => tls.default_port(),
            Some(value) => value
                .trim()
                .parse()
                .ok()
                .filter(|port| *port > 0)
                .ok_or_else(|| ConfigError::new("SMTP_PORT", "must be a port number"))?,
        };
        let credentials = match (get("SMTP_USERNAME"), lookup("SMTP_PASSWORD")) {
            (None, None) => None,
            (Some(username), Some(password)) if !password.is_empty() => Some(SmtpCredentials {
                username,
                password: SecretString::from(password),
            }),
            (Some(_), _) => {
                return Err(ConfigError::new(
                    "SMTP_PASSWORD",
                    "required with SMTP_USERNAME",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SMTP_USERNAME",
                    "required with SMTP_PASSWORD",
                ));
            }
        };
        let from = get("SMTP_FROM")
            .ok_or_else(|| ConfigError::new("SMTP_FROM", "required when SMTP_HOST is set"))?;
        let timeout = match get("SMTP_TIMEOUT_SECS") {
            None => Self::DEFAULT_TIMEOUT,
            Some(value) => value
                .trim()
                .parse()
                .ok()
                .filter(|secs| (1..=600).contains(secs))
                .map(Duration::from_secs)
                .ok_or_else(|| ConfigError::new("SMTP_TIMEOUT_SECS", "must be 1 to 600"))?,
        };
        Ok(Self::Smtp(SmtpConfig {
            host: host.trim().to_owned(),
            port,
            tls,
            credentials,
            from,
            timeout,
        }))
    }

    pub fn build(self) -> Result<AnyNotifier, ConfigError> {
        Ok(match self {
            Self::Log => AnyNotifier::Log(LogNotifier),
            Self::Smtp(config) => AnyNotifier::Smtp(SmtpNotifier::new(config)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<NotifierConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        NotifierConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn no_host_means_log_only() {
        assert!(matches!(parse(&[]), Ok(NotifierConfig::Log)));
        assert!(matches!(
            parse(&[("SMTP_HOST", " "), ("SMTP_PORT", "x")]),
            Ok(NotifierConfig::Log)
        ));
        assert!(matches!(
            parse(&[]).unwrap().build(),
            Ok(AnyNotifier::Log(_))
        ));
    }

    #[test]
    fn a_full_configuration_is_read() {
        let config = parse(&[
            ("SMTP_HOST", "smtp.example.com"),
            ("SMTP_TLS", "tls"),
            ("SMTP_PORT", "2465"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD", "s3cret"),
            ("SMTP_FROM", "Billing <billing@example.com>"),
            ("SMTP_TIMEOUT_SECS", "3"),
        ])
        .unwrap();
        let NotifierConfig::Smtp(smtp) = config.clone() else {
            panic!("expected SMTP");
        };
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.tls, smtp.timeout),
            (
                "smtp.example.com",
                2465,
                TlsMode::Tls,
                Duration::from_secs(3)
            )
        );
        let credentials = smtp.credentials.unwrap();
        assert_eq!(credentials.username, "mailer");
        assert_eq!(credentials.password.expose_secret(), "s3cret");
        assert_eq!(smtp.from, "Billing <billing@example.com>");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(matches!(config.build(), Ok(AnyNotifier::Smtp(_))));
    }

    #[test]
    fn defaults_follow_the_tls_mode() {
        let NotifierConfig::Smtp(smtp) =
            parse(&[("SMTP_HOST", "mx"), ("SMTP_FROM", "b@example.com")]).unwrap()
        else {
            panic!("expected SMTP");
        };
        assert_eq!((smtp.tls, smtp.port), (TlsMode::StartTls, 587));
        assert_eq!(smtp.timeout, NotifierConfig::DEFAULT_TIMEOUT);
        assert!(smtp.credentials.is_none());
    }

    #[test]
    fn mistakes_name_their_variable_and_never_echo_the_password() {
        let base = [("SMTP_HOST", "mx"), ("SMTP_FROM", "b@example.com")];
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = base.to_vec();
            vars.push(extra);
            parse(&vars).unwrap_err()
        };
        assert_eq!(with(("SMTP_TLS", "ssl")).variable, "SMTP_TLS");
        assert_eq!(with(("SMTP_PORT", "0")).variable, "SMTP_PORT");
        assert_eq!(with(("SMTP_PORT", "70000")).variable, "SMTP_PORT");
        assert_eq!(
            with(("SMTP_TIMEOUT_SECS", "0")).variable,
            "SMTP_TIMEOUT_SECS"
        );
        assert_eq!(with(("SMTP_USERNAME", "u")).variable, "SMTP_PASSWORD");
        let lonely = with(("SMTP_PASSWORD", "topsecret"));
        assert_eq!(lonely.variable, "SMTP_USERNAME");
        assert!(!lonely.to_string().contains("topsecret"));
        assert_eq!(
            parse(&[("SMTP_HOST", "mx")]).unwrap_err().variable,
            "SMTP_FROM"
        );
        let bad_from = parse(&[("SMTP_HOST", "mx"), ("SMTP_FROM", "nobody")]).unwrap();
        assert_eq!(bad_from.build().unwrap_err().variable, "SMTP_FROM");
    }
}
