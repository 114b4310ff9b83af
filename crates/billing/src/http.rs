//! The one HTTP client the adapters use: a configurable base URL, timeouts, and retries with
//! exponential backoff and full jitter only where a retry cannot act twice.
//!
//! Retried: 429 (always: the provider did not process the request; `Retry-After` is honoured,
//! capped at the policy's maximum delay); 5xx answers and connection errors only for requests
//! marked `retry_safe` (reads, and writes carrying the provider's idempotency key, which is then
//! the same on every attempt). Never retried: any other 4xx.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::{ProviderError, ProviderName};

pub use primitives::RetryPolicy;

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`, in this order.
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
}

/// One call, described so it can be sent again unchanged.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path and query, appended to the base URL (`/v1/subscriptions/sub_1`).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Body,
    /// Whether a 5xx or a lost connection may be retried: reads, and writes that carry the
    /// provider's idempotency key.
    pub retry_safe: bool,
}

impl ApiRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let retry_safe = matches!(method, Method::GET | Method::HEAD);
        Self {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: Body::Empty,
            retry_safe,
        }
    }

    /// Adds a header; values that cannot be headers are a configuration error, not a panic.
    pub fn header(
        mut self,
        provider: ProviderName,
        name: HeaderName,
        value: &str,
    ) -> Result<Self, ProviderError> {
        let value = HeaderValue::from_str(value).map_err(|_| ProviderError::Config {
            provider,
            message: format!("header {name} has a value that cannot be sent"),
        })?;
        self.headers.insert(name, value);
        Ok(self)
    }

    #[must_use]
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.body = Body::Form(fields);
        self
    }

    #[must_use]
    pub fn json(mut self, value: serde_json::Value) -> Self {
        self.body = Body::Json(value);
        self
    }

    /// Marks the request safe to resend after a 5xx or a lost connection (it carries an
    /// idempotency key).
    #[must_use]
    pub fn retry_safe(mut self) -> Self {
        self.retry_safe = true;
        self
    }
}

/// An answer, whatever its status.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        provider: ProviderName,
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|error| ProviderError::Decode {
            provider,
            message: format!("{} answer is not the JSON expected: {error}", self.status),
        })
    }
}

/// The client of one provider.
#[derive(Debug, Clone)]
pub struct ApiClient {
    provider: ProviderName,
    base: url::Url,
    client: reqwest::Client,
    policy: RetryPolicy,
}

impl ApiClient {
    /// `base_url` is the provider's API root (a test server's in tests).
    pub fn new(
        provider: ProviderName,
        base_url: &str,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Result<Self, ProviderError> {
        let config = |message: String| ProviderError::Config { provider, message };
        let base = url::Url::parse(base_url)
            .map_err(|error| config(format!("base URL does not parse: {error}")))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(config("base URL must be http(s)".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|error| config(format!("HTTP client: {error}")))?;
        Ok(Self {
            provider,
            base,
            client,
            policy,
        })
    }

    pub fn provider(&self) -> ProviderName {
        self.provider
    }

    /// Sends `request`, retrying as the module documentation says. Any status comes back as an
    /// [`ApiResponse`]; only a request that never got an answer is an error.
    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        let mut attempt = 1;
        loop {
            let outcome = self.send_once(request).await;
            let wait = match &outcome {
                Ok(response) if response.status == StatusCode::TOO_MANY_REQUESTS => Some(
                    self.retry_after(response)
                        .unwrap_or_else(|| self.jitter(attempt)),
                ),
                Ok(response) if response.status.is_server_error() && request.retry_safe => {
                    Some(self.jitter(attempt))
                }
                Err(_) if request.retry_safe => Some(self.jitter(attempt)),
                _ => None,
            };
            match wait {
                Some(wait) if attempt < self.policy.max_attempts => {
                    tracing::info!(
                        provider = %self.provider,
                        method = %request.method,
                        path = %request.path,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "provider call retried"
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

    /// `Retry-After` in seconds (the form providers use), capped at the policy's maximum.
    fn retry_after(&self, response: &ApiResponse) -> Option<Duration> {
        let value = response
            .headers
            .get(http::header::RETRY_AFTER)?
            .to_str()
            .ok();
        self.policy.retry_after(value)
    }

    async fn send_once(&self, request: &ApiRequest) -> Result<ApiResponse, ProviderError> {
        let url = self.url(&request.path)?;
        let mut builder = self
            .client
            .request(request.method.clone(), url)
            .headers(request.headers.clone());
        builder = match &request.body {
            Body::Empty => builder,
            Body::Form(fields) => builder.form(fields),
            Body::Json(value) => builder.json(value),
        };
        let response = builder
            .send()
            .await
            .map_err(|error| ProviderError::Transport {
                provider: self.provider,
                // reqwest's error text names the URL without credentials; no header is included.
                message: error.without_url().to_string(),
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|error| ProviderError::Transport {
                provider: self.provider,
                message: error.without_url().to_string(),
            })?
            .to_vec();
        Ok(ApiResponse {
            status,
            headers,
            body,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, ProviderError> {
        let base = self.base.as_str().trim_end_matches('/');
        url::Url::parse(&format!("{base}{path}")).map_err(|error| ProviderError::Config {
            provider: self.provider,
            message: format!("path {path:?} does not make a URL: {error}"),
        })
    }
}
