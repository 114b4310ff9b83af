//! The one error type of the crate. No variant carries the auth token: messages are built from
//! Twilio's answer, reqwest's error text without URL, or our own words.

/// What went wrong calling Twilio.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// The caller's input was refused before any request was made (G12).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        field: &'static str,
        reason: &'static str,
    },
    /// The client cannot be built from its configuration.
    #[error("Twilio client configuration: {0}")]
    Config(String),
    /// Twilio answered with an error status. `code` and `more_info` come from Twilio's error body
    /// when there is one.
    #[error("Twilio answered {status}: {message} (code {code:?})")]
    Api {
        status: u16,
        code: Option<u32>,
        message: String,
        more_info: Option<String>,
    },
    /// No answer came back. `connect` is true when the connection itself failed, so Twilio
    /// certainly never saw the request.
    #[error("Twilio unreachable: {message}")]
    Transport { message: String, connect: bool },
    /// Twilio answered success with a body we do not understand.
    #[error("Twilio answer ({status}) not understood: {message}")]
    Decode { status: u16, message: String },
}

impl TwilioError {
    /// Whether trying the same call again later may succeed: what the outbox uses to decide
    /// between another attempt and alerting a person (G10). Input and configuration errors,
    /// and Twilio's 4xx other than 429, will fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::InvalidInput { .. } | Self::Config(_) | Self::Decode { .. } => false,
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            Self::Transport { .. } => true,
        }
    }
}
