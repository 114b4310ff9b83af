//! Client configuration and the retry policy.

use std::time::Duration;

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

impl TwilioConfig {
    /// Production base URL, a 15 s timeout and the default retry policy.
    pub fn new(account_sid: impl Into<String>, auth_token: SecretString) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            auth_token,
            timeout: Duration::from_secs(15),
            retry: RetryPolicy::DEFAULT,
        }
    }
}

pub use outbound::RetryPolicy;
