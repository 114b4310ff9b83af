//! The console: the API's data and actions as server-rendered pages under `/console`, for
//! customers (their wallet, the send dialog of a campaign, their subscription) and operators
//! (the health report, the runbook's actions, the history of what operators did).
//!
//! - Pages are typed askama templates (`templates/console/`), HTML-escaped, with no JavaScript:
//!   forms post and redirect back with the outcome (post/redirect/get).
//! - Signing in opens a session ([`session`]) kept in the database; the browser holds only a
//!   random token in an HttpOnly, SameSite=Strict cookie (Secure when configured).
//! - Every form post passes the CSRF checks of [`forms`] before its fields are read.
//! - Reads call the same functions the API's handlers do; every action is an API call made
//!   in-process as the session's principal ([`dispatch`]), so it meets the endpoint's checks.
//! - Operators' actions are recorded with their name ([`history`]).

mod assets;
pub mod customer;
pub mod dispatch;
pub mod forms;
pub mod history;
pub mod operator;
pub mod page;
pub mod session;
pub mod sign_in;

use std::time::Duration;

use axum::{
    Extension, Router,
    middleware::map_response,
    response::Response,
    routing::{any, get, post},
};
use http::{HeaderValue, header};
use primitives::config::{ConfigError, Env, Variable};

use crate::AppState;

/// How console sessions live and how their cookie is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A session ends this long after signing in, whatever happens.
    pub session_lifetime: Duration,
    /// A session ends when no page was asked for this long.
    pub idle_timeout: Duration,
    /// Cookies carry `Secure` (and the session cookie the `__Host-` prefix): set wherever the
    /// console is reached over HTTPS, which is every deployment but a developer's machine.
    pub secure_cookies: bool,
    /// Where browsers reach the console (`https://billing.example.com`, no path): the address
    /// providers send a customer back to after a top-up or a payment-method change. `None`: the
    /// scheme and `Host` of the request, for a developer's machine.
    pub public_url: Option<String>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_lifetime: Duration::from_secs(DEFAULT_SESSION_SECS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_SECS),
            secure_cookies: true,
            public_url: None,
        }
    }
}

const DEFAULT_SESSION_SECS: u64 = 8 * 3600;
const DEFAULT_IDLE_SECS: u64 = 30 * 60;
const SESSION_SECS: std::ops::RangeInclusive<u64> = 300..=7 * 24 * 3600;
const IDLE_SECS: std::ops::RangeInclusive<u64> = 60..=24 * 3600;

impl ConsoleSettings {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "CONSOLE_SESSION_SECS",
            default: "28800",
            meaning: "how long (300 to 604800 s) a console session lasts after signing in, however active",
        },
        Variable {
            name: "CONSOLE_IDLE_SECS",
            default: "1800",
            meaning: "how long (60 to 86400 s, at most CONSOLE_SESSION_SECS) a console session lasts without a page being asked for",
        },
        Variable {
            name: "CONSOLE_PUBLIC_URL",
            default: "(unset: the request's Host)",
            meaning: "where browsers reach the console, `https://host[:port]` without a path: the address a payment provider sends a customer back to after a top-up or a payment-method change; set it wherever a proxy stands in front of the api",
        },
        Variable {
            name: "CONSOLE_SECURE_COOKIES",
            default: "true; false without DATABASE_URL",
            meaning: "whether the console's cookies are Secure (sent over HTTPS only); turn it off only where the console is served over plain HTTP on a developer's machine",
        },
    ];

    /// `dev_mode`: the development mode, served over plain HTTP on loopback, where Secure
    /// cookies would never come back.
    pub fn from_env(env: &Env<'_>, dev_mode: bool) -> Result<Self, ConfigError> {
        let settings = Self {
            session_lifetime: Duration::from_secs(env.number(
                "CONSOLE_SESSION_SECS",
                SESSION_SECS,
                DEFAULT_SESSION_SECS,
            )?),
            idle_timeout: Duration::from_secs(env.number(
                "CONSOLE_IDLE_SECS",
                IDLE_SECS,
                DEFAULT_IDLE_SECS,
            )?),
            secure_cookies: env.parse("CONSOLE_SECURE_COOKIES", !dev_mode)?,
            public_url: env
                .get("CONSOLE_PUBLIC_URL")
                .map(|url| url.trim().trim_end_matches('/').to_owned()),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Settings made in code are held to the environment's rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let secs = self.session_lifetime.as_secs();
        if !SESSION_SECS.contains(&secs) {
            return Err(ConfigError::new(
                "CONSOLE_SESSION_SECS",
                format!("expected 300 to 604800, got {secs}"),
            ));
        }
        if let Some(url) = &self.public_url
            && !is_origin(url)
        {
            return Err(ConfigError::new(
                "CONSOLE_PUBLIC_URL",
                format!("expected http(s)://host[:port] without a path, got {url:?}"),
            ));
        }
        let idle = self.idle_timeout.as_secs();
        if !IDLE_SECS.contains(&idle) || self.idle_timeout > self.session_lifetime {
            return Err(ConfigError::new(
                "CONSOLE_IDLE_SECS",
                format!("expected 60 to 86400 and at most CONSOLE_SESSION_SECS, got {idle}"),
            ));
        }
        Ok(())
    }
}

/// `http(s)://host[:port]`, nothing after: an origin a browser reaches.
fn is_origin(url: &str) -> bool {
    let Some((scheme, host)) = url.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The console's routes; `api` is the API router its actions are sent through.
pub fn router(state: AppState, api: Router) -> Router {
    Router::new()
        .route("/console", get(sign_in::home))
        .route(
            page::CUSTOMER_SIGN_IN,
            get(sign_in::customer_form).post(sign_in::customer_sign_in),
        )
        .route(
            page::OPERATOR_SIGN_IN,
            get(sign_in::operator_form).post(sign_in::operator_sign_in),
        )
        .route("/console/sign-out", post(sign_in::sign_out))
        .route(assets::STYLESHEET, get(assets::stylesheet))
        // Anything else under /console is the console's own 404 page, not the API's JSON.
        .route("/console/{*rest}", any(not_found))
        .merge(customer::routes())
        .merge(operator::routes())
        .layer(Extension(dispatch::Api(api)))
        .layer(map_response(protect))
        .with_state(state)
}

async fn not_found() -> page::ConsoleError {
    page::ConsoleError::Problem(httpkit::ApiError::not_found())
}

/// Headers on every console response: no script runs, nothing is framed, no address (with its
/// ids) leaks to another site through the referrer, and forms post only to this origin.
/// `same-origin` rather than `no-referrer`: under `no-referrer` browsers send `Origin: null` with
/// form posts, and the CSRF check needs the real origin.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_environment_within_their_ranges() {
        let env = Env::from_pairs(&[]);
        assert_eq!(
            ConsoleSettings::from_env(&env, false).unwrap(),
            ConsoleSettings::default()
        );
        assert!(
            !ConsoleSettings::from_env(&env, true)
                .unwrap()
                .secure_cookies
        );
        for (name, value) in [
            ("CONSOLE_SESSION_SECS", "299"),
            ("CONSOLE_SESSION_SECS", "lots"),
            ("CONSOLE_IDLE_SECS", "59"),
            ("CONSOLE_IDLE_SECS", "86401"),
            ("CONSOLE_SECURE_COOKIES", "yes"),
            ("CONSOLE_PUBLIC_URL", "billing.example.com"),
            ("CONSOLE_PUBLIC_URL", "https://billing.example.com/console"),
            ("CONSOLE_PUBLIC_URL", "ftp://billing.example.com"),
            ("CONSOLE_PUBLIC_URL", "https://"),
        ] {
            let env = Env::from_pairs(&[(name, value)]);
            let error = ConsoleSettings::from_env(&env, false).unwrap_err();
            assert_eq!(error.variable, name, "{name}={value}");
        }
        let env = Env::from_pairs(&[
            ("CONSOLE_SESSION_SECS", "600"),
            ("CONSOLE_IDLE_SECS", "900"),
        ]);
        assert_eq!(
            ConsoleSettings::from_env(&env, false).unwrap_err().variable,
            "CONSOLE_IDLE_SECS"
        );
    }
}
