//! Client configuration (from the environment: [`TwilioConfig::from_env`]) and the retry
//! policy.
//!
//! Twilio is optional for a service: without `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` there is
//! no client (the worker then dispatches nothing and says so once at start). One of the two
//! without the other is a mistake, refused naming the missing one.

use std::time::Duration;

use primitives::config::{ConfigError, Env, Variable};
use secrecy::SecretString;

/// Twilio's production API root.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// How to reach Twilio. `Debug` shows the token as `[REDACTED]` (secrecy's own `Debug`).
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// API root; a wiremock server's in tests.
    pub base_url: String,
    /// The parent account: Basic-auth user and the account messages are sent from.
    pub account_sid: String,
    /// Basic-auth password, and the key of callback signatures.
    pub auth_token: SecretString,
    /// Whole-request timeout (connecting included).
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// Whole-request timeout of every call; the dispatcher's lease is checked against it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl TwilioConfig {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "TWILIO_ACCOUNT_SID",
            default: "unset",
            meaning: "the parent Twilio account (`AC` + 32 hex digits): Basic-auth user of every call; messages go out through each brand's subaccount. Set together with `TWILIO_AUTH_TOKEN`, or neither (then no campaign is dispatched and no subaccount is suspended or reactivated; one warning says so at start)",
        },
        Variable {
            name: "TWILIO_AUTH_TOKEN",
            default: "unset",
            meaning: "the parent account's auth token (held as a secret, never logged)",
        },
        Variable {
            name: "TWILIO_BASE_URL",
            default: "https://api.twilio.com",
            meaning: "Twilio's API root (a fake's in tests)",
        },
    ];

    /// `None` when neither credential is set.
    pub fn from_env(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        let base_url = match env.get("TWILIO_BASE_URL") {
            Some(raw) => http_url(&raw, "TWILIO_BASE_URL")?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            None => DEFAULT_BASE_URL.to_owned(),
        };
        let (account_sid, auth_token) =
            match (env.get("TWILIO_ACCOUNT_SID"), env.get("TWILIO_AUTH_TOKEN")) {
                (None, None) => return Ok(None),
                (Some(_), None) => {
                    return Err(ConfigError::new(
                        "TWILIO_AUTH_TOKEN",
                        "is unset while TWILIO_ACCOUNT_SID is set: set both or neither",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::new(
                        "TWILIO_ACCOUNT_SID",
                        "is unset while TWILIO_AUTH_TOKEN is set: set both or neither",
                    ));
                }
                (Some(sid), Some(token)) => (sid.trim().to_owned(), SecretString::from(token)),
            };
        crate::validate_account_sid(&account_sid).map_err(|_| {
            ConfigError::new("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits")
        })?;
        Ok(Some(Self {
            base_url,
            ..Self::new(account_sid, auth_token)
        }))
    }

    /// Production base URL, a 15 s timeout and the default retry policy.
    pub fn new(account_sid: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            auth_token,
            timeout: REQUEST_TIMEOUT,
            retry: RetryPolicy::DEFAULT,
        }
    }
}

pub use outbound::RetryPolicy;

/// An absolute `http` or `https` URL.
pub fn http_url(raw: &str, name: &'static str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|error| ConfigError::new(name, format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(name, "must be an http(s) URL with a host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn from(pairs: &[(&str, &str)]) -> Result<Option<TwilioConfig>, ConfigError> {
        TwilioConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn reads_the_credentials_and_the_base_url() {
        let config = from(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
            ("TWILIO_BASE_URL", "http://127.0.0.1:9999/"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.account_sid, SID);
        assert_eq!(config.auth_token.expose_secret(), "tok3n-secret");
        assert_eq!(config.base_url, "http://127.0.0.1:9999");
        assert_eq!(config.timeout, REQUEST_TIMEOUT);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("tok3n-secret") && debug.contains(SID),
            "{debug}"
        );
    }

    #[test]
    fn half_of_the_credentials_or_a_bad_url_is_refused_without_echoing_the_token() {
        for (pairs, variable) in [
            (&[("TWILIO_ACCOUNT_SID", SID)][..], "TWILIO_AUTH_TOKEN"),
            (
                &[("TWILIO_AUTH_TOKEN", "tok3n-secret")],
                "TWILIO_ACCOUNT_SID",
            ),
            (
                &[
                    ("TWILIO_ACCOUNT_SID", "AC123"),
                    ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
                ],
                "TWILIO_ACCOUNT_SID",
            ),
            (&[("TWILIO_BASE_URL", "api.twilio.com")], "TWILIO_BASE_URL"),
            (
                &[("TWILIO_BASE_URL", "ftp://api.twilio.com")],
                "TWILIO_BASE_URL",
            ),
        ] {
            let error = from(pairs).unwrap_err();
            assert_eq!(error.variable, variable, "{pairs:?}");
            assert!(!error.to_string().contains("tok3n-secret"), "{error}");
        }
        // Blank counts as unset, for both.
        assert!(
            from(&[("TWILIO_ACCOUNT_SID", " "), ("TWILIO_AUTH_TOKEN", "")])
                .unwrap()
                .is_none()
        );
    }
}
