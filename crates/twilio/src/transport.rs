//! The HTTP exchange and its retry rules.
//!
//! - [`Retry::Idempotent`] (reads, status changes: doing them twice ends the same): retried on
//!   429, 5xx and any transport error, timeouts included.
//! - [`Retry::OnlyIfUnsent`] (message sends: twice means two SMS, paid twice): retried only on
//!   429 (Twilio refused before processing) and connect errors (no request left this host). A
//!   5xx, a timeout or a dropped connection after sending may mean Twilio accepted the message,
//!   so the error goes back to the caller.
//!
//! `Retry-After` (seconds) is honoured on 429, capped at the policy's maximum delay; otherwise
//! the wait is exponential backoff with full jitter.

use std::time::Duration;

use http::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};

use crate::{RetryPolicy, TwilioError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    Idempotent,
    OnlyIfUnsent,
}

/// An answer, whatever its status.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// reqwest plus the credentials; `Debug` is written by hand to name no secret.
pub(crate) struct Transport {
    pub base: String,
    pub client: reqwest::Client,
    pub user: String,
    pub token: SecretString,
    pub policy: RetryPolicy,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .field("user", &self.user)
            .field("token", &"[REDACTED]")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// Sends until an answer that should not be retried, or the attempts run out. Any status
    /// comes back as an [`Answer`]; only a call that never got one is an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        retry: Retry,
    ) -> Result<Answer, TwilioError> {
        let mut attempt = 1;
        loop {
            let outcome = self.once(method.clone(), path, form).await;
            let wait = match &outcome {
                Ok(answer) if answer.status == StatusCode::TOO_MANY_REQUESTS => {
                    Some(answer.retry_after.unwrap_or_else(|| self.jitter(attempt)))
                }
                Ok(answer) if answer.status.is_server_error() && retry == Retry::Idempotent => {
                    Some(self.jitter(attempt))
                }
                Err(TwilioError::Transport { connect, .. })
                    if *connect || retry == Retry::Idempotent =>
                {
                    Some(self.jitter(attempt))
                }
                _ => None,
            };
            match wait {
                Some(wait) if attempt < self.policy.max_attempts => {
                    tracing::info!(
                        %method,
                        path,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "Twilio call retried"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                _ => return outcome,
            }
        }
    }

    fn jitter(&self, attempt: u32) -> Duration {
        self.policy.backoff(attempt, &mut rand::rng())
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<Answer, TwilioError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(self.token.expose_secret()));
        if let Some(form) = form {
            request = request.form(form);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = self.policy.retry_after(
            response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok()),
        );
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

fn transport(error: reqwest::Error) -> TwilioError {
    TwilioError::Transport {
        connect: error.is_connect(),
        // Without the URL (it names the base only, but nothing is gained by echoing it); reqwest
        // never puts headers, so never the Basic credentials, in its text.
        message: error.without_url().to_string(),
    }
}
