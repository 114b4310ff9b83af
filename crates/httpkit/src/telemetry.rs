//! Logging: subscriber set-up and exactly one line per HTTP request.
//!
//! Configuration: [`VARIABLES`], read by [`TelemetryConfig::from_env`].
//!
//! The request line carries method, matched route (the template, not the raw path, so ids do not
//! explode cardinality), status, latency and request id. Headers and bodies are never logged:
//! they carry credentials and customer data.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use http::{HeaderName, HeaderValue};
use tracing::{Instrument, Subscriber};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// What every service reads for its logs.
pub const VARIABLES: &[primitives::config::Variable] = &[
    primitives::config::Variable {
        name: "LOG_FORMAT",
        default: "json",
        meaning: "`json` (one object per line: one per request and per money movement) or `pretty` (for people)",
    },
    primitives::config::Variable {
        name: "RUST_LOG",
        default: "info",
        meaning: "`tracing-subscriber` filter directives, e.g. `info,app=debug`",
    },
];

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("LOG_FORMAT must be `json` or `pretty`, not {0:?}")]
    InvalidFormat(String),
    #[error("RUST_LOG is not a valid filter: {0}")]
    InvalidFilter(String),
    #[error("a global log subscriber is already installed")]
    AlreadyInitialized,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    pub format: LogFormat,
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info".to_owned(),
        }
    }
}

impl TelemetryConfig {
    pub fn from_env() -> Result<Self, TelemetryError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`TelemetryConfig::from_env`] over any variable source, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let format = match lookup("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("" | "json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => return Err(TelemetryError::InvalidFormat(other.to_owned())),
        };
        let filter = lookup("RUST_LOG")
            .filter(|f| !f.trim().is_empty())
            .unwrap_or_else(|| "info".to_owned());
        Ok(Self { format, filter })
    }

    /// A subscriber writing to `writer`; [`init`] installs one writing to stdout.
    pub fn subscriber<W>(
        &self,
        writer: W,
    ) -> Result<Box<dyn Subscriber + Send + Sync>, TelemetryError>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = EnvFilter::try_new(&self.filter)
            .map_err(|e| TelemetryError::InvalidFilter(e.to_string()))?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer);
        Ok(match self.format {
            LogFormat::Json => Box::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .finish(),
            ),
            LogFormat::Pretty => Box::new(builder.pretty().finish()),
        })
    }
}

/// Installs the global subscriber (stdout) configured from the environment.
pub fn init() -> Result<TelemetryConfig, TelemetryError> {
    let config = TelemetryConfig::from_env()?;
    let subscriber = config.subscriber(std::io::stdout)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| TelemetryError::AlreadyInitialized)?;
    Ok(config)
}

/// The id of the current request, in request extensions for handlers that want to log it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Middleware (for `axum::middleware::from_fn`): propagates or generates `x-request-id`, runs
/// the request inside a span carrying it and logs one line when the response is ready.
pub async fn log_requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable_request_id(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |path| path.as_str().to_owned());
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));

    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = next.run(request).instrument(span).await;

    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::error!(target: "http", %method, %route, status, latency_ms, %request_id, "request");
    } else {
        tracing::info!(target: "http", %method, %route, status, latency_ms, %request_id, "request");
    }
    response
}

/// Incoming ids are echoed into logs and headers, so only short, plain ones are kept.
fn is_acceptable_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_format_and_filter_with_defaults() {
        let config = TelemetryConfig::from_lookup(|_| None).unwrap();
        assert_eq!(config, TelemetryConfig::default());
        let config = TelemetryConfig::from_lookup(|name| match name {
            "LOG_FORMAT" => Some("pretty".to_owned()),
            "RUST_LOG" => Some("warn,api=debug".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.format, LogFormat::Pretty);
        assert_eq!(config.filter, "warn,api=debug");
        assert!(matches!(
            TelemetryConfig::from_lookup(|_| Some("xml".to_owned())),
            Err(TelemetryError::InvalidFormat(_))
        ));
        let bad_filter = TelemetryConfig {
            format: LogFormat::Json,
            filter: "api=notalevel".to_owned(),
        };
        assert!(bad_filter.subscriber(std::io::sink).is_err());
    }

    #[test]
    fn only_plain_request_ids_are_propagated() {
        assert!(is_acceptable_request_id(
            "01890a5d-ac96-774b-bcce-b302099a8057"
        ));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("a b"));
        assert!(!is_acceptable_request_id("x\"}{"));
        assert!(!is_acceptable_request_id(&"a".repeat(129)));
    }
}
