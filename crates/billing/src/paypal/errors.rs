//! PayPal's error answers as [`ProviderError::Api`], one reading for the REST calls and the
//! token call alike (both `api` and `oauth` use it, so it lives apart from both).

use super::wire;
use crate::http::ApiResponse;
use crate::{ProviderError, ProviderName};

/// PayPal's error messages are short; anything longer is cut so an error stays a log line.
const MAX_MESSAGE_CHARS: usize = 500;

/// The code is the most specific one PayPal gives (`details[0].issue`, else `name`, else
/// OAuth's `error`), the message keeps `name`, `message` and the issue's description.
pub(crate) fn error_from(response: &ApiResponse) -> ProviderError {
    let body: wire::ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let detail = body.details.first();
    let code = detail
        .and_then(|d| d.issue.clone())
        .or_else(|| body.name.clone())
        .or_else(|| body.error.clone())
        .unwrap_or_else(|| format!("HTTP_{}", response.status.as_u16()));
    let message = [
        body.name.as_deref(),
        body.message.as_deref(),
        detail.and_then(|d| d.description.as_deref()),
        body.error_description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ");
    let message = if message.is_empty() {
        response
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_owned()
    } else {
        message.chars().take(MAX_MESSAGE_CHARS).collect()
    };
    ProviderError::Api {
        provider: ProviderName::Paypal,
        status: response.status.as_u16(),
        code: code.chars().take(100).collect(),
        message,
    }
}
