//! PayHere's errors as [`ProviderError`]s, for the API calls, the token call and the checkout
//! alike (so they depend on this module, not on each other).

use super::{PAYHERE, wire};
use crate::ProviderError;
use crate::http::ApiResponse;

/// Provider messages are kept for logs and operators, not whole pages of them.
const MAX_MESSAGE_CHARS: usize = 300;

pub(crate) fn config_error(message: String) -> ProviderError {
    ProviderError::Config {
        provider: PAYHERE,
        message,
    }
}

pub(crate) fn decode_error(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: PAYHERE,
        message,
    }
}

pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

/// An error answer, keeping PayHere's own code and message: the API's envelope (`status`,
/// `msg`), the OAuth server's (`error`, `error_description`), or the HTTP status alone.
pub(crate) fn api_error(response: &ApiResponse) -> ProviderError {
    let (code, message) = if let Ok(envelope) =
        serde_json::from_slice::<wire::Envelope<serde_json::Value>>(&response.body)
    {
        (
            envelope.status.to_string(),
            envelope.msg.unwrap_or_default(),
        )
    } else if let Ok(oauth) = serde_json::from_slice::<wire::OAuthError>(&response.body) {
        (oauth.error, oauth.error_description.unwrap_or_default())
    } else {
        (
            format!("HTTP_{}", response.status.as_u16()),
            String::from_utf8_lossy(&response.body).into_owned(),
        )
    };
    ProviderError::Api {
        provider: PAYHERE,
        status: response.status.as_u16(),
        code: truncate(&code),
        message: truncate(&message),
    }
}
