//! How a refused delivery is answered: a problem with a stable code and the status that tells
//! the provider what to do (4xx: do not retry as is; 503: our side could not check, retry).

use billing::{ProviderName, VerifyError};
use http::StatusCode;
use httpkit::ApiError;

/// Refused deliveries: labels `provider`, `reason` (the problem's code).
pub const REFUSALS: &str = "webhook_refusals_total";

/// Counts and logs a refusal once, then answers it. The log names the provider, the code and
/// the reason (headers and checks, never a secret, a signature or the body).
pub(crate) fn refuse(provider: ProviderName, error: ApiError) -> ApiError {
    refuse_as(provider.as_str(), error)
}

/// [`refuse`] for a sender that is not a billing provider (`twilio`).
pub(crate) fn refuse_as(provider: &'static str, error: ApiError) -> ApiError {
    metrics::counter!(REFUSALS, "provider" => provider, "reason" => error.code()).increment(1);
    tracing::warn!(
        event = "webhook_refused",
        %provider,
        code = error.code(),
        status = error.status().as_u16(),
        reason = error.detail().unwrap_or_default(),
        "webhook delivery refused"
    );
    error
}

/// The problem for a delivery whose verification failed.
pub(crate) fn verification_failed(error: &VerifyError) -> ApiError {
    let status = if error.is_transient() {
        // The certificate could not be fetched: not the sender's fault, and a retry may pass.
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        match error {
            VerifyError::MissingHeader(_)
            | VerifyError::MalformedHeader { .. }
            | VerifyError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            VerifyError::ProviderNotConfigured(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::UNAUTHORIZED,
        }
    };
    let title = if status == StatusCode::UNAUTHORIZED {
        "Webhook signature not verified"
    } else {
        "Webhook refused"
    };
    ApiError::new(status, error.code(), title).with_detail(error.to_string())
}
