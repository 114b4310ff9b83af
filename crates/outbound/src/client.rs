//! The client: a base URL, timeouts, the retry policy, and the send loop.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::{Body, OutboundError, Repeat, Request, Response, RetryPolicy};

/// What one attempt came to, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// An answer; `retry_after` is its `Retry-After`, already capped by the policy.
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// The connection never opened: the request certainly never left this host.
    NotConnected,
    /// The exchange failed after the connection opened (a timeout, a reset, a body cut
    /// short): the other side may have acted on the request.
    Lost,
}

/// How long to wait before sending again after `attempt`, or `None` to hand the outcome to
/// the caller. `backoff` is the policy's jittered wait for this attempt; an answer's
/// `Retry-After` replaces it. The attempt budget is the caller's to check.
///
/// - 429: always (the provider refused before processing), whatever [`Repeat`].
/// - 5xx and a lost exchange: only [`Repeat::Safe`] (the provider may have acted).
/// - No connection: always (nothing was sent).
/// - Anything else (2xx, 3xx, other 4xx): never.
pub fn retry_wait(attempt: Attempt, repeat: Repeat, backoff: Duration) -> Option<Duration> {
    match attempt {
        Attempt::Answered {
            status,
            retry_after,
        } if status == StatusCode::TOO_MANY_REQUESTS
            || (status.is_server_error() && repeat == Repeat::Safe) =>
        {
            Some(retry_after.unwrap_or(backoff))
        }
        Attempt::Answered { .. } => None,
        Attempt::NotConnected => Some(backoff),
        Attempt::Lost => (repeat == Repeat::Safe).then_some(backoff),
    }
}

/// The client of one external service; cheap to clone (reqwest pools connections behind an
/// `Arc`). `Debug` names the service, base URL and policy only.
#[derive(Clone)]
pub struct Client {
    service: &'static str,
    base: String,
    host: String,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .field("base", &self.base)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `service` names the other side in logs (`stripe`, `twilio`). `base_url` is its API
    /// root, `http(s)` and without credentials (they would land in logs). `timeout` bounds each
    /// attempt, connecting included (connecting alone at most 10 s). Redirects are not
    /// followed: a 3xx comes back as the answer.
    pub fn new(
        service: &'static str,
        base_url: &str,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Result<Self, OutboundError> {
        let config = |message: &str| OutboundError::Config(message.to_owned());
        let base = url::Url::parse(base_url)
            .map_err(|error| config(&format!("base URL does not parse: {error}")))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(config("base URL must be http(s)"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(config("base URL must not carry credentials"));
        }
        let host = match (base.host_str(), base.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(config("base URL has no host")),
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect is an answer for the caller, not a hop to take: a 307 would resend a
            // charge to wherever it points, past every check made on the base URL.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| config(&format!("HTTP client: {error}")))?;
        Ok(Self {
            service,
            base: base.as_str().trim_end_matches('/').to_owned(),
            host,
            http,
            policy,
        })
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends `request` until an outcome [`retry_wait`] hands back, or the policy's attempts
    /// run out. Any status comes back as a [`Response`]; only a call that never got an answer
    /// is an error (the last attempt's).
    pub async fn send(&self, request: &Request) -> Result<Response, OutboundError> {
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(request).await;
            let kind = match &outcome {
                Ok(response) => Attempt::Answered {
                    status: response.status,
                    retry_after: self.policy.retry_after(
                        response
                            .headers
                            .get(http::header::RETRY_AFTER)
                            .and_then(|value| value.to_str().ok()),
                        SystemTime::now(),
                    ),
                },
                Err(error) if error.is_connect() => Attempt::NotConnected,
                Err(_) => Attempt::Lost,
            };
            let status = match &outcome {
                Ok(response) => Some(response.status.as_u16()),
                Err(_) => None,
            };
            let backoff = self.policy.backoff(attempt, &mut rand::rng());
            let wait = retry_wait(kind, request.repeat(), backoff)
                .filter(|_| attempt < self.policy.attempts());
            let Some(wait) = wait else {
                tracing::debug!(
                    service = self.service,
                    method = %request.method(),
                    host = %self.host,
                    path = request.path_only(),
                    status,
                    attempt,
                    "outbound call done"
                );
                return outcome;
            };
            tracing::info!(
                service = self.service,
                method = %request.method(),
                host = %self.host,
                path = request.path_only(),
                status,
                failure = failure(kind),
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "outbound call retried"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, request: &Request) -> Result<Response, OutboundError> {
        let path = request.path();
        if !path.starts_with('/') {
            return Err(OutboundError::Config(
                "a request path must start with '/'".to_owned(),
            ));
        }
        let mut builder = self
            .http
            .request(request.method().clone(), format!("{}{path}", self.base))
            .headers(request.headers().clone());
        builder = match request.body() {
            Body::Empty => builder,
            Body::Form(fields) => builder.form(fields),
            Body::Json(value) => builder.json(value),
        };
        let response = builder
            .send()
            .await
            .map_err(|error| OutboundError::transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            // The answer began: not a connect error, whatever reqwest says.
            .map_err(|error| match OutboundError::transport(&error) {
                OutboundError::Transport { message, .. } => OutboundError::Transport {
                    message,
                    connect: false,
                },
                other => other,
            })?
            .to_vec();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// What failed, for the retry log line when there was no answer.
fn failure(kind: Attempt) -> Option<&'static str> {
    match kind {
        Attempt::Answered { .. } => None,
        Attempt::NotConnected => Some("not connected"),
        Attempt::Lost => Some("exchange lost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(7);

    fn answered(status: u16, retry_after: Option<u64>) -> Attempt {
        Attempt::Answered {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_safe_call_is_retried_on_429_5xx_and_any_failure() {
        let safe = Repeat::Safe;
        assert_eq!(retry_wait(answered(429, None), safe, MS), Some(MS));
        assert_eq!(
            retry_wait(answered(429, Some(2)), safe, MS),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_wait(answered(500, None), safe, MS), Some(MS));
        assert_eq!(
            retry_wait(answered(503, Some(1)), safe, MS),
            Some(Duration::from_secs(1))
        );
        assert_eq!(retry_wait(Attempt::Lost, safe, MS), Some(MS));
        assert_eq!(retry_wait(Attempt::NotConnected, safe, MS), Some(MS));
        for status in [200, 201, 204, 301, 400, 401, 402, 404, 409, 422] {
            assert_eq!(retry_wait(answered(status, Some(1)), safe, MS), None);
        }
    }

    #[test]
    fn a_call_that_could_act_twice_is_retried_only_when_unsent_or_refused() {
        let once = Repeat::OnlyIfUnsent;
        assert_eq!(retry_wait(answered(429, None), once, MS), Some(MS));
        assert_eq!(retry_wait(Attempt::NotConnected, once, MS), Some(MS));
        assert_eq!(retry_wait(Attempt::Lost, once, MS), None);
        for status in [500, 502, 503, 504, 200, 400, 402] {
            assert_eq!(retry_wait(answered(status, Some(1)), once, MS), None);
        }
    }

    #[test]
    fn the_base_url_is_checked() {
        let policy = RetryPolicy::DEFAULT;
        let second = Duration::from_secs(1);
        assert!(Client::new("x", "https://api.example.com/", second, policy).is_ok());
        for bad in [
            "ftp://example.com",
            "not a url",
            "https://user:pass@api.example.com",
        ] {
            let error = Client::new("x", bad, second, policy).unwrap_err();
            assert!(matches!(error, OutboundError::Config(_)), "{bad}");
            assert!(!error.to_string().contains("pass@"), "{error}");
        }
    }
}
