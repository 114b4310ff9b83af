//! Choosing the notifier from the environment.

use std::{sync::Arc, time::Duration};

use primitives::config::Variable;
use secrecy::SecretString;

use crate::{
    error::ConfigError,
    notifier::{LogNotifier, Notifier},
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

    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "SMTP_HOST",
            default: "unset",
            meaning: "the SMTP relay for customer notifications; unset: notifications are only logged",
        },
        Variable {
            name: "SMTP_TLS",
            default: "starttls",
            meaning: "`starttls` (required STARTTLS), `tls` (implicit TLS, port 465) or `none` (plain text; local relays only)",
        },
        Variable {
            name: "SMTP_PORT",
            default: "587 / 465 / 25",
            meaning: "by `SMTP_TLS`",
        },
        Variable {
            name: "SMTP_USERNAME",
            default: "unset",
            meaning: "SMTP login; needs `SMTP_PASSWORD`",
        },
        Variable {
            name: "SMTP_PASSWORD",
            default: "unset",
            meaning: "SMTP password (held as a secret, never logged)",
        },
        Variable {
            name: "SMTP_FROM",
            default: "required with SMTP_HOST",
            meaning: "sender, `billing@example.com` or `Billing <billing@example.com>`",
        },
        Variable {
            name: "SMTP_TIMEOUT_SECS",
            default: "10",
            meaning: "bound on connecting and on one whole delivery (a server that stops answering fails the attempt, retried later)",
        },
    ];

    /// Reads [`Self::VARIABLES`].
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

    /// The notifier this configuration describes, as handlers hold it.
    pub fn build(self) -> Result<Arc<dyn Notifier>, ConfigError> {
        Ok(match self {
            Self::Log => Arc::new(LogNotifier),
            Self::Smtp(config) => Arc::new(SmtpNotifier::new(config)?),
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
        assert_eq!(
            format!("{:?}", parse(&[]).unwrap().build().unwrap()),
            "LogNotifier"
        );
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
        let built = format!("{:?}", config.build().unwrap());
        assert!(built.starts_with("SmtpNotifier {"), "{built}");
        assert!(!built.contains("s3cret"));
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
