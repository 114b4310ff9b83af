//! The receiver's own settings, from the environment. The billing providers
//! (`billing::Providers::from_lookup`), the subscription lifecycle
//! (`subscriptions::LifecyclePolicy::from_lookup`), the intake (`intake::IntakePolicy`) and
//! Twilio (`twilio::TwilioConfig`) read their own variables; the README lists them all.

use std::{net::SocketAddr, time::Duration};

use db::{DatabaseSettings, DatabaseSource};
use httpkit::limits::{LimitVariables, RequestLimits};
use intake::IntakePolicy;
pub use primitives::config::ConfigError;
use primitives::config::{Env, Variable};
use secrecy::SecretString;
use subscriptions::LifecyclePolicy;
use twilio::{TwilioConfig, callback::KeyPolicy};

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where providers' deliveries arrive (behind the TLS-terminating proxy the provider is
    /// pointed at).
    pub addr: SocketAddr,
    /// The database the migrator prepared (`DATABASE_URL` is required: the receiver never
    /// migrates; `/readyz` is 503 until the migrator has run) and the pool.
    pub database: DatabaseSettings,
    /// Larger deliveries get 413. Provider events are a few kilobytes.
    pub body_limit_bytes: usize,
    /// The header and query limits of the listener (`httpkit::limits`): a provider's delivery
    /// has a few dozen header fields and a short query at most.
    pub request_limits: RequestLimits,
    /// The dunning schedule and grace periods: the same variables as the worker's, which must
    /// agree (events applied here schedule the subscription's next steps).
    pub lifecycle: LifecyclePolicy,
    pub intake: IntakePolicy,
    /// Twilio's message status callbacks (`POST /webhooks/twilio/messages`); `None`: that
    /// route answers `WEBHOOK_PROVIDER_NOT_CONFIGURED`.
    pub twilio: Option<TwilioCallbackConfig>,
}

/// What the receiver needs to verify Twilio's status callbacks.
#[derive(Debug, Clone)]
pub struct TwilioCallbackConfig {
    /// The parent account: its own callbacks are verified with its token, and it reads each
    /// brand subaccount's token (callbacks are signed with the token of the account the message
    /// went out through).
    pub client: TwilioConfig,
    /// The public URL Twilio posts to, as the dispatcher gives it (`TWILIO_STATUS_CALLBACK_URL`,
    /// the worker's value): signatures cover the URL Twilio called, which the proxy in front
    /// of the receiver may have rewritten, so it is rebuilt from this and the request's query.
    pub callback_url: url::Url,
    /// How long subaccount tokens are cached.
    pub keys: KeyPolicy,
}

pub const DEFAULT_TWILIO_TOKEN_TTL: Duration = Duration::from_secs(600);

pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 256 * 1024;
pub const LIMIT_VARIABLES: LimitVariables = LimitVariables {
    max_header_bytes: "WEBHOOK_MAX_HEADER_BYTES",
    max_headers: "WEBHOOK_MAX_HEADERS",
    max_query_bytes: "WEBHOOK_MAX_QUERY_BYTES",
};

impl ReceiverConfig {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "WEBHOOK_ADDR",
            default: "127.0.0.1:8081",
            meaning: "where the webhook receiver listens",
        },
        Variable {
            name: "WEBHOOK_BODY_LIMIT_BYTES",
            default: "262144",
            meaning: "larger deliveries get 413 (1024 to 1048576)",
        },
        Variable {
            name: "WEBHOOK_MAX_HEADER_BYTES",
            default: "16384",
            meaning: "largest accepted header section of a delivery (each field's `name: value` and line end; 1024 to 1048576); larger: 431 `HEADERS_TOO_LARGE`",
        },
        Variable {
            name: "WEBHOOK_MAX_HEADERS",
            default: "64",
            meaning: "most header fields a delivery may have (8 to 1000); more: 431 `TOO_MANY_HEADERS`",
        },
        Variable {
            name: "WEBHOOK_MAX_QUERY_BYTES",
            default: "4096",
            meaning: "longest accepted query string (64 to 65536); longer: 414 `QUERY_TOO_LONG`",
        },
        Variable {
            name: "TWILIO_CALLBACK_TOKEN_TTL_SECS",
            default: "600",
            meaning: "how long the receiver keeps a brand subaccount's auth token (read from Twilio with the parent's credentials) to verify its status callbacks; a signature that does not match is checked once more against a freshly read token (a rotation), at most every 30 s per subaccount. The receiver serves `POST /webhooks/twilio/messages` when `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN` and `TWILIO_STATUS_CALLBACK_URL` (the worker's values) are set",
        },
    ];

    /// Defaults for everything but the database, listening on a free loopback port.
    pub fn new(database_url: SecretString) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseSettings::new(DatabaseSource::Url(database_url)),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
            request_limits: RequestLimits::default(),
            lifecycle: LifecyclePolicy::default(),
            intake: IntakePolicy::default(),
            twilio: None,
        }
    }

    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let database = DatabaseSettings::from_env(env)?;
        database.require_url("webhook receiver")?;
        let lifecycle = LifecyclePolicy::from_lookup(env.lookup())?;
        let intake = IntakePolicy::from_lookup(env.lookup())?;
        let twilio = twilio_from_env(env)?;
        Ok(Self {
            addr: env.parse("WEBHOOK_ADDR", DEFAULT_ADDR)?,
            database,
            body_limit_bytes: env.number(
                "WEBHOOK_BODY_LIMIT_BYTES",
                1024..=1024 * 1024,
                DEFAULT_BODY_LIMIT_BYTES,
            )?,
            request_limits: RequestLimits::from_env(env, &LIMIT_VARIABLES)?,
            lifecycle,
            intake,
            twilio,
        })
    }
}

/// Twilio callbacks are served when the parent credentials and the callback URL are both set;
/// the URL without the credentials is a mistake (nothing could verify the callbacks asked for).
fn twilio_from_env(env: &Env<'_>) -> Result<Option<TwilioCallbackConfig>, ConfigError> {
    let client = TwilioConfig::from_env(env)?;
    let callback_url = env
        .get("TWILIO_STATUS_CALLBACK_URL")
        .map(|raw| twilio::http_url(&raw, "TWILIO_STATUS_CALLBACK_URL"))
        .transpose()?;
    let ttl = env.number(
        "TWILIO_CALLBACK_TOKEN_TTL_SECS",
        1..=86_400,
        DEFAULT_TWILIO_TOKEN_TTL.as_secs(),
    )?;
    match (client, callback_url) {
        (Some(client), Some(callback_url)) => Ok(Some(TwilioCallbackConfig {
            client,
            callback_url,
            keys: KeyPolicy {
                ttl: Duration::from_secs(ttl),
                ..KeyPolicy::default()
            },
        })),
        (None, Some(_)) => Err(ConfigError::new(
            "TWILIO_ACCOUNT_SID",
            "is unset while TWILIO_STATUS_CALLBACK_URL is set: Twilio's callbacks are verified \
             with the parent account's credentials",
        )),
        (_, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ReceiverConfig, ConfigError> {
        ReceiverConfig::from_env(&Env::from_pairs(pairs))
    }

    #[test]
    fn the_database_is_required_and_defaults_fill_the_rest() {
        assert_eq!(
            config(&[]).map(|_| ()).map_err(|e| e.variable),
            Err("DATABASE_URL")
        );
        assert_eq!(
            config(&[("DATABASE_URL", " ")])
                .map(|_| ())
                .map_err(|e| e.variable),
            Err("DATABASE_URL")
        );
        let ok = config(&[("DATABASE_URL", "postgres://x/y")]);
        assert_eq!(ok.as_ref().map(|c| c.addr), Ok(DEFAULT_ADDR));
        assert_eq!(
            ok.as_ref().map(|c| c.body_limit_bytes),
            Ok(DEFAULT_BODY_LIMIT_BYTES)
        );
        assert!(ok.as_ref().is_ok_and(|c| c.twilio.is_none()));
        assert_eq!(
            ok.as_ref().map(|c| c.request_limits),
            Ok(RequestLimits::default())
        );
        let set = config(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("WEBHOOK_MAX_HEADER_BYTES", "4096"),
            ("WEBHOOK_MAX_HEADERS", "20"),
            ("WEBHOOK_MAX_QUERY_BYTES", "512"),
        ]);
        assert_eq!(
            set.map(|c| c.request_limits),
            Ok(RequestLimits {
                max_header_bytes: 4096,
                max_headers: 20,
                max_query_bytes: 512,
            })
        );
    }

    #[test]
    fn twilio_callbacks_need_the_parent_credentials_and_the_url() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let url = "https://hooks.example.com/webhooks/twilio/messages";
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("TWILIO_ACCOUNT_SID", sid),
            ("TWILIO_AUTH_TOKEN", "tok3n-secret"),
        ];
        // Credentials alone: no callbacks were asked for. The URL alone: nothing could verify
        // them.
        assert!(config(&base).is_ok_and(|c| c.twilio.is_none()));
        assert_eq!(
            config(&[
                ("DATABASE_URL", "postgres://x/y"),
                ("TWILIO_STATUS_CALLBACK_URL", url)
            ])
            .map(|_| ())
            .map_err(|e| e.variable),
            Err("TWILIO_ACCOUNT_SID")
        );
        let with_url = [
            &base[..],
            &[
                ("TWILIO_STATUS_CALLBACK_URL", url),
                ("TWILIO_CALLBACK_TOKEN_TTL_SECS", "60"),
            ],
        ]
        .concat();
        let twilio = config(&with_url).ok().and_then(|c| c.twilio);
        let twilio = twilio.as_ref();
        assert_eq!(twilio.map(|t| t.callback_url.as_str()), Some(url));
        assert_eq!(twilio.map(|t| t.client.account_sid.as_str()), Some(sid));
        assert_eq!(twilio.map(|t| t.keys.ttl), Some(Duration::from_secs(60)));
        assert!(!format!("{twilio:?}").contains("tok3n-secret"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("WEBHOOK_ADDR", "localhost"),
            ("WEBHOOK_BODY_LIMIT_BYTES", "10"),
            ("WEBHOOK_BODY_LIMIT_BYTES", "-5"),
            ("WEBHOOK_MAX_HEADER_BYTES", "1023"),
            ("WEBHOOK_MAX_HEADERS", "7"),
            ("WEBHOOK_MAX_QUERY_BYTES", "big"),
            ("DATABASE_POOL_SIZE", "0"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "soon"),
            ("INBOX_MAX_ATTEMPTS", "0"),
            ("BILLING_GRACE_PERIOD_HOURS", "x"),
            ("TWILIO_CALLBACK_TOKEN_TTL_SECS", "0"),
            ("TWILIO_STATUS_CALLBACK_URL", "hooks.example.com"),
        ] {
            let error = config(&[("DATABASE_URL", "postgres://x/y"), (variable, value)]);
            assert_eq!(
                error.map(|_| ()).map_err(|e| e.variable),
                Err(variable),
                "{variable}"
            );
        }
    }
}
