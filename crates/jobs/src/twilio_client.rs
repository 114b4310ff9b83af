//! The parent Twilio account, from the environment. The process holds one client
//! (`Arc<TwilioClient>`, which is both a `MessageSender` and a `SubaccountControl`): the
//! dispatcher loops and the subaccount handler share its connection pool.
//!
//! Twilio is optional: without `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` the worker runs no
//! dispatcher and no subaccount handler (it says so once at start), while campaigns can still be
//! prepared and the control topics are still delivered. One of the two without the other is a
//! mistake, and the worker refuses to start naming the missing one.

use std::time::Duration;

use primitives::config::{ConfigError, Env, Variable};
use secrecy::SecretString;

/// Twilio's production API root.
pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";
/// Whole-request timeout of every Twilio call; the dispatch lease check counts with it.
pub const TWILIO_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The parent Twilio account. `Debug` shows the token as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// `AC` + 32 hex digits: Basic-auth user of every call.
    pub account_sid: String,
    pub auth_token: SecretString,
    /// API root, without a trailing slash.
    pub base_url: String,
    /// Where Twilio posts delivery updates; `None`: not asked for.
    pub status_callback: Option<url::Url>,
}

impl TwilioSettings {
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
        Variable {
            name: "TWILIO_STATUS_CALLBACK_URL",
            default: "unset",
            meaning: "where Twilio posts delivery updates (`campaign` and `recipient` are added to its query); unset: none are asked for",
        },
    ];

    /// Production base URL, no status callback.
    pub fn new(account_sid: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token,
            base_url: DEFAULT_TWILIO_BASE_URL.to_owned(),
            status_callback: None,
        }
    }

    /// The client's configuration: these credentials, [`TWILIO_REQUEST_TIMEOUT`], the default
    /// retry policy.
    pub fn client_config(&self) -> twilio::TwilioConfig {
        let mut config = twilio::TwilioConfig::new(&self.account_sid, self.auth_token.clone());
        config.base_url = self.base_url.clone();
        config.timeout = TWILIO_REQUEST_TIMEOUT;
        config
    }

    /// `None` when neither credential is set.
    pub fn from_env(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        let base_url = match env.get("TWILIO_BASE_URL") {
            Some(raw) => http_url(&raw, "TWILIO_BASE_URL")?
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            None => DEFAULT_TWILIO_BASE_URL.to_owned(),
        };
        let status_callback = env
            .get("TWILIO_STATUS_CALLBACK_URL")
            .map(|raw| http_url(&raw, "TWILIO_STATUS_CALLBACK_URL"))
            .transpose()?;
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
        twilio::validate_account_sid(&account_sid).map_err(|_| {
            ConfigError::new("TWILIO_ACCOUNT_SID", "must be AC followed by 32 hex digits")
        })?;
        Ok(Some(Self {
            account_sid,
            auth_token,
            base_url,
            status_callback,
        }))
    }
}

/// An absolute `http` or `https` URL.
fn http_url(raw: &str, name: &'static str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|error| ConfigError::new(name, format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(name, "must be an http(s) URL with a host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn from(pairs: &[(&str, &str)]) -> Result<Option<TwilioSettings>, ConfigError> {
        TwilioSettings::from_env(&Env::from_pairs(pairs))
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
            (
                &[("TWILIO_STATUS_CALLBACK_URL", "not a url")],
                "TWILIO_STATUS_CALLBACK_URL",
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

    #[test]
    fn the_auth_token_never_shows_in_debug_output() {
        let settings = from(&[
            ("TWILIO_ACCOUNT_SID", SID),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
        ])
        .unwrap()
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("tok3n-secret") && debug.contains(SID),
            "{debug}"
        );
        let client = format!("{:?}", settings.client_config());
        assert!(!client.contains("tok3n-secret"), "{client}");
        assert_eq!(settings.client_config().timeout, TWILIO_REQUEST_TIMEOUT);
    }
}
