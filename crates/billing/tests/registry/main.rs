//! `billing::Providers`: configuration from environment variables (every half configuration
//! names the variable to fix), verification-only adapters, and dispatch by provider name with
//! genuine deliveries signed by testkit's independent signers.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use billing::payhere::PayHereConfig;
use billing::paypal::PayPalConfig;
use billing::stripe::{StripeConfig, StripeProvider};
use billing::{
    BillingEventKind, ConfigError, ParsedWebhook, ProviderError, ProviderName, Providers,
    VerifyError, WebhookRequest,
};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use primitives::{Clock, ManualClock};
use testkit::signing::{
    PayHereNotification, PayPalPki, paypal_transmission_time, stripe_signature_header,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAYPAL_WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
const PAYPAL_CERT_URL: &str = "https://api.paypal.com/v1/notifications/certs/CERT-registry-0001";
const PAYPAL_CLIENT_SECRET: &str = "EHs3cr3t-registry-never-logged";
const STRIPE_WEBHOOK_SECRET: &str = "whsec_RegistrySecretNeverLogged";
const STRIPE_SECRET_KEY: &str = "sk_test_RegistryKeyNeverLogged";
const PAYHERE_MERCHANT_ID: &str = "1299001";
const PAYHERE_SECRET: &str = "registry-merchant-secret-never-logged";
const PAYHERE_APP_SECRET: &str = "registry-app-secret-never-logged";
const SECRETS: [&str; 4] = [
    PAYPAL_CLIENT_SECRET,
    STRIPE_SECRET_KEY,
    PAYHERE_SECRET,
    PAYHERE_APP_SECRET,
];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-16T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(now()))
}

/// A fresh directory of this test's own.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("billing-registry")
        .join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lookup(env: &HashMap<&'static str, String>) -> impl Fn(&str) -> Option<String> + use<> {
    let env = env.clone();
    move |name: &str| env.get(name).cloned()
}

fn env(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
    pairs
        .iter()
        .map(|(name, value)| (*name, (*value).to_owned()))
        .collect()
}

/// A PayPal trusting `pki`'s root, certificates from a directory holding its chain.
fn paypal_env(pki: &PayPalPki, dir: &Path) -> HashMap<&'static str, String> {
    let roots = dir.join("roots.pem");
    std::fs::write(&roots, pki.root_pem()).unwrap();
    let certs = dir.join("certs");
    pki.write_cert_dir(&certs, PAYPAL_CERT_URL);
    env(&[
        ("PAYPAL_WEBHOOK_IDS", PAYPAL_WEBHOOK_ID),
        ("PAYPAL_TRUSTED_ROOTS_FILE", roots.to_str().unwrap()),
        ("PAYPAL_CERT_DIR", certs.to_str().unwrap()),
    ])
}

fn header_map(pairs: Vec<(String, String)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    map
}

struct Delivery {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Delivery {
    fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest {
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn paypal_delivery(pki: &PayPalPki) -> Delivery {
    let body = br#"{"id":"WH-REG-1","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-01-16T11:59:00Z","resource":{"id":"3C679366HH908993F","amount":{"currency_code":"USD","value":"25.00"},"custom_id":"org_1"}}"#.to_vec();
    let headers = header_map(pki.headers(
        &body,
        PAYPAL_WEBHOOK_ID,
        PAYPAL_CERT_URL,
        "b2f1c7e0-f2d4-11f0-9a1b-0242ac120002",
        &paypal_transmission_time(now()),
    ));
    Delivery { headers, body }
}

fn stripe_delivery() -> Delivery {
    let created = now().timestamp();
    let body = format!(
        r#"{{"id":"evt_reg_1","object":"event","created":{created},"type":"payment_intent.succeeded","data":{{"object":{{"id":"pi_reg_1","amount_received":2500,"currency":"usd","metadata":{{"purpose":"wallet_topup","organization_id":"org_1"}}}}}}}}"#
    )
    .into_bytes();
    let header = stripe_signature_header(STRIPE_WEBHOOK_SECRET, created, &body);
    let headers = header_map(vec![("Stripe-Signature".to_owned(), header)]);
    Delivery { headers, body }
}

fn payhere_delivery() -> Delivery {
    let body = PayHereNotification::new(
        PAYHERE_MERCHANT_ID,
        PAYHERE_SECRET,
        "TOPUP-org_1.tu1",
        "2500.00",
        "LKR",
        "2",
    )
    .field("payment_id", "320025157750")
    .field("status_message", "Successfully received")
    .body();
    Delivery {
        headers: HeaderMap::new(),
        body,
    }
}

/// Every provider, PayPal and PayHere for verification only, Stripe with its API at `stripe`.
fn all(pki: &PayPalPki, dir: &Path, stripe: &str) -> HashMap<&'static str, String> {
    let mut env = paypal_env(pki, dir);
    env.extend(self::env(&[
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRET),
        ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY),
        ("STRIPE_API_BASE_URL", stripe),
        ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID),
        ("PAYHERE_MERCHANT_SECRET", PAYHERE_SECRET),
    ]));
    env
}

fn assert_clean(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

#[test]
fn providers_are_clone_send_sync_and_debug_without_secrets() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Providers>();
    let pki = PayPalPki::generate(now());
    let mut env = all(&pki, &fresh_dir("debug"), "http://127.0.0.1:9");
    env.insert("PAYPAL_CLIENT_ID", "AV-client".into());
    env.insert("PAYPAL_CLIENT_SECRET", PAYPAL_CLIENT_SECRET.into());
    env.insert("PAYHERE_APP_ID", "app".into());
    env.insert("PAYHERE_APP_SECRET", PAYHERE_APP_SECRET.into());
    let providers = Providers::from_lookup(lookup(&env), clock()).unwrap();
    let shown = format!("{providers:?} {:?}", providers.clone());
    assert_clean(&shown);
    assert!(shown.contains("paypal (api)"), "{shown}");
    assert_eq!(
        format!("{:?}", Providers::none()),
        "Providers { configured: [] }"
    );
}

#[test]
fn nothing_set_configures_nothing() {
    let providers = Providers::from_lookup(|_: &str| None, clock()).unwrap();
    assert!(providers.configured().is_empty());
    for name in ProviderName::ALL {
        assert!(!providers.is_configured(name));
        assert!(!providers.has_api(name));
    }
    // Blank values count as unset.
    let blank = env(&[("PAYPAL_WEBHOOK_IDS", " "), ("STRIPE_SECRET_KEY", "")]);
    assert!(
        Providers::from_lookup(lookup(&blank), clock())
            .unwrap()
            .configured()
            .is_empty()
    );
}

#[test]
fn webhook_secrets_alone_configure_verification_only() {
    let pki = PayPalPki::generate(now());
    let providers = Providers::from_lookup(
        lookup(&all(&pki, &fresh_dir("verify-only"), "http://127.0.0.1:9")),
        clock(),
    )
    .unwrap();
    assert_eq!(providers.configured(), ProviderName::ALL.to_vec());
    assert!(!providers.has_api(ProviderName::Paypal));
    assert!(providers.has_api(ProviderName::Stripe));
    assert!(!providers.has_api(ProviderName::Payhere));

    let paypal = PayPalConfig::from_lookup(lookup(&env(&[("PAYPAL_WEBHOOK_IDS", "A, B")])))
        .unwrap()
        .unwrap();
    assert_eq!(paypal.webhook_ids, ["A", "B"]);
    assert!(paypal.credentials.is_none());
    assert_eq!(paypal.api_base_url, billing::paypal::LIVE_API_BASE_URL);
    assert!(paypal.trusted_roots_pem.is_none() && paypal.cert_dir.is_none());
    let stripe = StripeConfig::from_lookup(lookup(&env(&[(
        "STRIPE_WEBHOOK_SECRETS",
        "whsec_a,whsec_b",
    )])))
    .unwrap()
    .unwrap();
    assert_eq!(stripe.webhook_secrets.len(), 2);
    assert!(stripe.secret_key.is_none());
    let payhere = PayHereConfig::from_lookup(lookup(&env(&[
        ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID),
        ("PAYHERE_MERCHANT_SECRET", PAYHERE_SECRET),
    ])))
    .unwrap()
    .unwrap();
    assert!(payhere.api.is_none());
}

#[test]
fn every_setting_is_read() {
    let dir = fresh_dir("settings");
    let pki = PayPalPki::generate(now());
    let intermediates = dir.join("intermediates.pem");
    std::fs::write(&intermediates, pki.intermediate_pem()).unwrap();
    let mut env = paypal_env(&pki, &dir);
    env.extend(self::env(&[
        ("PAYPAL_API_BASE_URL", billing::paypal::SANDBOX_API_BASE_URL),
        ("PAYPAL_CLIENT_ID", "AV-client"),
        ("PAYPAL_CLIENT_SECRET", PAYPAL_CLIENT_SECRET),
        ("PAYPAL_INTERMEDIATES_FILE", intermediates.to_str().unwrap()),
        ("PAYPAL_MAX_TRANSMISSION_AGE_SECS", "3600"),
        ("PAYPAL_TIMEOUT_SECS", "7"),
    ]));
    let paypal = PayPalConfig::from_lookup(lookup(&env)).unwrap().unwrap();
    assert_eq!(paypal.api_base_url, billing::paypal::SANDBOX_API_BASE_URL);
    let credentials = paypal.credentials.as_ref().unwrap();
    assert_eq!(credentials.client_id, "AV-client");
    assert_eq!(
        paypal.trusted_roots_pem.as_deref(),
        Some(pki.root_pem().as_str())
    );
    assert_eq!(
        paypal.intermediates_pem.as_deref(),
        Some(pki.intermediate_pem().as_str())
    );
    assert_eq!(paypal.cert_dir, Some(dir.join("certs")));
    assert_eq!(paypal.max_transmission_age.as_secs(), 3600);
    assert_eq!(paypal.timeout.as_secs(), 7);
    assert_clean(&format!("{paypal:?}"));

    let stripe = StripeConfig::from_lookup(lookup(&self::env(&[
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRET),
        ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY),
        ("STRIPE_API_BASE_URL", "http://127.0.0.1:9"),
        ("STRIPE_API_VERSION", "2025-03-31.basil"),
        ("STRIPE_TOLERANCE_SECS", "60"),
        ("STRIPE_TIMEOUT_SECS", "9"),
    ])))
    .unwrap()
    .unwrap();
    assert!(stripe.secret_key.is_some());
    assert_eq!(stripe.base_url, "http://127.0.0.1:9");
    assert_eq!(stripe.api_version.as_deref(), Some("2025-03-31.basil"));
    assert_eq!(stripe.tolerance.as_secs(), 60);
    assert_eq!(stripe.timeout.as_secs(), 9);
    assert_clean(&format!("{stripe:?}"));
}

#[test]
fn every_half_configuration_names_its_variable() {
    let dir = fresh_dir("half");
    let pki = PayPalPki::generate(now());
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let missing = dir.join("missing.pem");
    let garbled = dir.join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (not_pem, missing, garbled) = (
        not_pem.to_str().unwrap().to_owned(),
        missing.to_str().unwrap().to_owned(),
        garbled.to_str().unwrap().to_owned(),
    );
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let file = file.to_str().unwrap().to_owned();
    let root = dir.join("root.pem");
    std::fs::write(&root, pki.root_pem()).unwrap();
    let root = root.to_str().unwrap().to_owned();
    let ids = ("PAYPAL_WEBHOOK_IDS", PAYPAL_WEBHOOK_ID);
    let whsec = ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRET);
    let merchant = ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID);
    let secret = ("PAYHERE_MERCHANT_SECRET", PAYHERE_SECRET);
    let cases: Vec<(Vec<(&'static str, &str)>, &'static str)> = vec![
        // PayPal: every other variable needs PAYPAL_WEBHOOK_IDS.
        (vec![("PAYPAL_CLIENT_ID", "AV")], "PAYPAL_WEBHOOK_IDS"),
        (
            vec![("PAYPAL_CLIENT_SECRET", PAYPAL_CLIENT_SECRET)],
            "PAYPAL_WEBHOOK_IDS",
        ),
        (vec![("PAYPAL_CERT_DIR", "/")], "PAYPAL_WEBHOOK_IDS"),
        (vec![("PAYPAL_TIMEOUT_SECS", "5")], "PAYPAL_WEBHOOK_IDS"),
        (
            vec![("PAYPAL_API_BASE_URL", "https://api-m.paypal.com")],
            "PAYPAL_WEBHOOK_IDS",
        ),
        (
            vec![("PAYPAL_TRUSTED_ROOTS_FILE", &root)],
            "PAYPAL_WEBHOOK_IDS",
        ),
        (
            vec![("PAYPAL_INTERMEDIATES_FILE", &root)],
            "PAYPAL_WEBHOOK_IDS",
        ),
        (
            vec![("PAYPAL_MAX_TRANSMISSION_AGE_SECS", "5")],
            "PAYPAL_WEBHOOK_IDS",
        ),
        (vec![("PAYPAL_WEBHOOK_IDS", "A,,B")], "PAYPAL_WEBHOOK_IDS"),
        (
            vec![ids, ("PAYPAL_CLIENT_ID", "AV")],
            "PAYPAL_CLIENT_SECRET",
        ),
        (
            vec![ids, ("PAYPAL_CLIENT_SECRET", PAYPAL_CLIENT_SECRET)],
            "PAYPAL_CLIENT_ID",
        ),
        (
            vec![ids, ("PAYPAL_API_BASE_URL", "api-m.paypal.com")],
            "PAYPAL_API_BASE_URL",
        ),
        (
            vec![ids, ("PAYPAL_TRUSTED_ROOTS_FILE", &missing)],
            "PAYPAL_TRUSTED_ROOTS_FILE",
        ),
        (
            vec![ids, ("PAYPAL_TRUSTED_ROOTS_FILE", &not_pem)],
            "PAYPAL_TRUSTED_ROOTS_FILE",
        ),
        (
            vec![ids, ("PAYPAL_TRUSTED_ROOTS_FILE", &garbled)],
            "PAYPAL_TRUSTED_ROOTS_FILE",
        ),
        (
            vec![ids, ("PAYPAL_INTERMEDIATES_FILE", &missing)],
            "PAYPAL_INTERMEDIATES_FILE",
        ),
        (
            vec![ids, ("PAYPAL_INTERMEDIATES_FILE", &not_pem)],
            "PAYPAL_INTERMEDIATES_FILE",
        ),
        (
            vec![ids, ("PAYPAL_INTERMEDIATES_FILE", &garbled)],
            "PAYPAL_INTERMEDIATES_FILE",
        ),
        (vec![ids, ("PAYPAL_CERT_DIR", &missing)], "PAYPAL_CERT_DIR"),
        (vec![ids, ("PAYPAL_CERT_DIR", &file)], "PAYPAL_CERT_DIR"),
        (
            vec![ids, ("PAYPAL_MAX_TRANSMISSION_AGE_SECS", "-1")],
            "PAYPAL_MAX_TRANSMISSION_AGE_SECS",
        ),
        (
            vec![ids, ("PAYPAL_MAX_TRANSMISSION_AGE_SECS", "1d")],
            "PAYPAL_MAX_TRANSMISSION_AGE_SECS",
        ),
        (
            vec![ids, ("PAYPAL_TIMEOUT_SECS", "2.5")],
            "PAYPAL_TIMEOUT_SECS",
        ),
        (
            vec![ids, ("PAYPAL_TIMEOUT_SECS", "0")],
            "PAYPAL_TIMEOUT_SECS",
        ),
        // Stripe: every other variable needs STRIPE_WEBHOOK_SECRETS.
        (
            vec![("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY)],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_API_VERSION", "2025-03-31.basil")],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_API_BASE_URL", "https://api.stripe.com")],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_TOLERANCE_SECS", "300")],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_TIMEOUT_SECS", "30")],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_WEBHOOK_SECRETS", STRIPE_SECRET_KEY)],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![("STRIPE_WEBHOOK_SECRETS", "whsec_a,")],
            "STRIPE_WEBHOOK_SECRETS",
        ),
        (
            vec![whsec, ("STRIPE_SECRET_KEY", STRIPE_WEBHOOK_SECRET)],
            "STRIPE_SECRET_KEY",
        ),
        (
            vec![whsec, ("STRIPE_API_BASE_URL", "ftp://api.stripe.com")],
            "STRIPE_API_BASE_URL",
        ),
        (
            vec![whsec, ("STRIPE_TOLERANCE_SECS", "+300")],
            "STRIPE_TOLERANCE_SECS",
        ),
        (
            vec![whsec, ("STRIPE_TIMEOUT_SECS", "thirty")],
            "STRIPE_TIMEOUT_SECS",
        ),
        // PayHere: merchant id and secret first, the app credentials together.
        (vec![("PAYHERE_APP_ID", "app")], "PAYHERE_MERCHANT_ID"),
        (
            vec![("PAYHERE_NOTIFY_URL", "https://h.example.com/ph")],
            "PAYHERE_MERCHANT_ID",
        ),
        (vec![secret], "PAYHERE_MERCHANT_ID"),
        (vec![merchant], "PAYHERE_MERCHANT_SECRET"),
        (
            vec![merchant, secret, ("PAYHERE_APP_ID", "app")],
            "PAYHERE_APP_SECRET",
        ),
        (
            vec![merchant, secret, ("PAYHERE_APP_SECRET", PAYHERE_APP_SECRET)],
            "PAYHERE_APP_ID",
        ),
        (
            vec![merchant, secret, ("PAYHERE_BASE_URL", "sandbox")],
            "PAYHERE_BASE_URL",
        ),
        (
            vec![merchant, secret, ("PAYHERE_NOTIFY_URL", "/payhere")],
            "PAYHERE_NOTIFY_URL",
        ),
        (
            vec![merchant, secret, ("PAYHERE_PLANS", "pro=USD 15/1 Month")],
            "PAYHERE_PLANS",
        ),
        (
            vec![
                merchant,
                secret,
                ("PAYHERE_PLANS", "yen=JPY 1500.00/1 Month/Forever"),
            ],
            "PAYHERE_PLANS",
        ),
        (
            vec![merchant, secret, ("PAYHERE_TIMEOUT_SECS", "-30")],
            "PAYHERE_TIMEOUT_SECS",
        ),
    ];
    for (pairs, variable) in cases {
        let error: ConfigError = Providers::from_lookup(lookup(&env(&pairs)), clock()).unwrap_err();
        assert_eq!(error.variable, variable, "{pairs:?}: {error}");
        let shown = error.to_string();
        assert!(shown.starts_with(&format!("{variable}: ")), "{shown}");
        assert_clean(&shown);
        assert_clean(&format!("{error:?}"));
    }
}

#[tokio::test]
async fn deliveries_are_verified_and_parsed_by_their_providers_adapter() {
    let pki = PayPalPki::generate(now());
    let providers = Providers::from_lookup(
        lookup(&all(&pki, &fresh_dir("dispatch"), "http://127.0.0.1:9")),
        clock(),
    )
    .unwrap();
    let deliveries = [
        (ProviderName::Paypal, paypal_delivery(&pki)),
        (ProviderName::Stripe, stripe_delivery()),
        (ProviderName::Payhere, payhere_delivery()),
    ];
    for (name, delivery) in &deliveries {
        let verified = providers
            .verify(*name, delivery.request())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.provider(), *name);
        let Ok(ParsedWebhook::Events { events }) = providers.parse(&verified) else {
            panic!("{name}: not parsed");
        };
        assert_eq!(events[0].provider, *name);
        assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);
        // Presented as another provider's, a delivery is refused.
        for (other, _) in &deliveries {
            if other != name {
                assert!(
                    providers.verify(*other, delivery.request()).await.is_err(),
                    "{name} as {other}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_provider_not_configured_is_refused_by_name() {
    let stripe_only = Providers::none().with_stripe(
        StripeProvider::new(
            StripeConfig::verification_only(vec![STRIPE_WEBHOOK_SECRET.into()]),
            clock(),
        )
        .unwrap(),
    );
    assert_eq!(stripe_only.configured(), [ProviderName::Stripe]);
    let pki = PayPalPki::generate(now());
    let refused = stripe_only
        .verify(ProviderName::Paypal, paypal_delivery(&pki).request())
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        VerifyError::ProviderNotConfigured(ProviderName::Paypal)
    );
    assert_eq!(refused.code(), "WEBHOOK_PROVIDER_NOT_CONFIGURED");
    assert!(!refused.is_transient());

    // A webhook verified elsewhere (by a registry that has PayHere) cannot be parsed here.
    let payhere = Providers::from_lookup(
        lookup(&env(&[
            ("PAYHERE_MERCHANT_ID", PAYHERE_MERCHANT_ID),
            ("PAYHERE_MERCHANT_SECRET", PAYHERE_SECRET),
        ])),
        clock(),
    )
    .unwrap();
    let verified = payhere
        .verify(ProviderName::Payhere, payhere_delivery().request())
        .await
        .unwrap();
    let not_configured = ProviderError::NotConfigured {
        provider: ProviderName::Payhere,
    };
    assert_eq!(stripe_only.parse(&verified).unwrap_err(), not_configured);
    assert!(!not_configured.is_transient());
    assert_eq!(not_configured.to_string(), "payhere is not configured");
    assert_eq!(
        stripe_only
            .subscription(ProviderName::Payhere, "420075032251")
            .await
            .unwrap_err(),
        not_configured
    );
    assert_eq!(
        stripe_only
            .retry_payment(ProviderName::Paypal, "I-1", "k")
            .await
            .unwrap_err(),
        ProviderError::NotConfigured {
            provider: ProviderName::Paypal
        }
    );
    // Configured for verification only: the call fails naming the variables to set.
    let Err(ProviderError::Config { message, .. }) = stripe_only
        .subscription(ProviderName::Stripe, "sub_1")
        .await
    else {
        panic!("not a configuration error");
    };
    assert!(message.contains("STRIPE_SECRET_KEY"), "{message}");
    let Err(ProviderError::Config { message, .. }) = payhere
        .retry_payment(ProviderName::Payhere, "420075032251", "k")
        .await
    else {
        panic!("not a configuration error");
    };
    assert!(
        message.contains("PAYHERE_APP_ID and PAYHERE_APP_SECRET"),
        "{message}"
    );
}

#[tokio::test]
async fn calls_go_to_the_named_providers_api() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "sub_1", "status": "past_due", "metadata": {"organization_id": "org_1"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/invoices"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"object": "list", "data": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let pki = PayPalPki::generate(now());
    let providers = Providers::from_lookup(
        lookup(&all(&pki, &fresh_dir("calls"), &server.uri())),
        clock(),
    )
    .unwrap();
    let sub = providers
        .subscription(ProviderName::Stripe, "sub_1")
        .await
        .unwrap();
    assert_eq!(sub.status, billing::ProviderSubscriptionStatus::PastDue);
    assert_eq!(sub.organization_ref.as_deref(), Some("org_1"));
    assert_eq!(
        providers
            .retry_payment(ProviderName::Stripe, "sub_1", "dunning-1")
            .await
            .unwrap(),
        billing::RetryOutcome::NothingDue
    );
    server.verify().await;
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().all(|request| {
        request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(&*format!("Bearer {STRIPE_SECRET_KEY}"))
    }));
}

/// Another team's Stripe adapter: answers every call itself, verifies nothing.
#[derive(Debug)]
struct OtherStripe;

#[async_trait::async_trait]
impl billing::BillingProvider for OtherStripe {
    fn name(&self) -> ProviderName {
        ProviderName::Stripe
    }

    async fn create_subscription(
        &self,
        _request: &billing::CreateSubscription,
    ) -> Result<billing::CreatedSubscription, ProviderError> {
        Err(self.unsupported("create_subscription"))
    }

    async fn subscription(&self, id: &str) -> Result<billing::ProviderSubscription, ProviderError> {
        Ok(billing::ProviderSubscription {
            provider_subscription_id: id.to_owned(),
            status: billing::ProviderSubscriptionStatus::Active,
            provider_status: "other".to_owned(),
            current_period_end: None,
            organization_ref: Some("org_other".to_owned()),
            outstanding: None,
        })
    }

    async fn cancel(&self, _: &str, _: &str, _: &str) -> Result<(), ProviderError> {
        Err(self.unsupported("cancel"))
    }

    async fn pause(&self, _: &str, _: &str, _: &str) -> Result<(), ProviderError> {
        Err(self.unsupported("pause"))
    }

    async fn reactivate(&self, _: &str, _: &str, _: &str) -> Result<(), ProviderError> {
        Err(self.unsupported("reactivate"))
    }

    async fn retry_payment(
        &self,
        _: &str,
        _: &str,
    ) -> Result<billing::RetryOutcome, ProviderError> {
        Ok(billing::RetryOutcome::Pending)
    }

    async fn verify_webhook(
        &self,
        _request: WebhookRequest<'_>,
    ) -> Result<billing::VerifiedWebhook, VerifyError> {
        Err(VerifyError::ProviderNotConfigured(ProviderName::Stripe))
    }

    fn parse_webhook(
        &self,
        _webhook: &billing::VerifiedWebhook,
    ) -> Result<ParsedWebhook, ProviderError> {
        Ok(ParsedWebhook::Ignored {
            provider_event_type: "other".to_owned(),
            provider_event_id: None,
        })
    }
}

impl OtherStripe {
    fn unsupported(&self, operation: &'static str) -> ProviderError {
        ProviderError::Unsupported {
            provider: ProviderName::Stripe,
            operation,
        }
    }
}

#[tokio::test]
async fn another_adapter_plugs_in_by_name_as_a_trait_object() {
    let ours = StripeProvider::new(
        StripeConfig::verification_only(vec![STRIPE_WEBHOOK_SECRET.into()]),
        clock(),
    )
    .unwrap();
    let providers = Providers::none().with_stripe(ours);
    assert!(providers.stripe().is_some());
    let adapter: Arc<dyn billing::BillingProvider> =
        providers.provider(ProviderName::Stripe).unwrap();
    assert_eq!(adapter.name(), ProviderName::Stripe);
    assert!(!adapter.has_api());

    // Theirs replaces ours under the same name, and the registry dispatches to it.
    let providers = providers.with(Arc::new(OtherStripe));
    assert_eq!(providers.configured(), vec![ProviderName::Stripe]);
    assert!(providers.has_api(ProviderName::Stripe));
    assert!(providers.stripe().is_none(), "not our type any more");
    let sub = providers
        .subscription(ProviderName::Stripe, "sub_9")
        .await
        .unwrap();
    assert_eq!(sub.organization_ref.as_deref(), Some("org_other"));
    assert_eq!(
        providers
            .retry_payment(ProviderName::Stripe, "sub_9", "k")
            .await
            .unwrap(),
        billing::RetryOutcome::Pending
    );
    assert!(matches!(
        providers.provider(ProviderName::Paypal),
        Err(ProviderError::NotConfigured {
            provider: ProviderName::Paypal
        })
    ));
    assert!(providers.get(ProviderName::Payhere).is_none());
}

/// The customer's calls dispatch by name too; an adapter that implements none of them gets the
/// trait's defaults: a cancel at the period's end is its cancel now, the rest `Unsupported`.
#[tokio::test]
async fn customer_calls_dispatch_by_name_and_default_for_other_adapters() {
    let providers = Providers::none().with(Arc::new(OtherStripe));
    let top_up = billing::CreateTopUp {
        amount: primitives::Money::from_minor(500, primitives::Currency::USD),
        organization_ref: "org_1".into(),
        return_url: "https://app.example.com/wallet".into(),
        cancel_url: "https://app.example.com/wallet".into(),
        description: "Wallet top-up".into(),
        customer_id: None,
        payer: None,
        idempotency_key: "k".into(),
    };
    let link = billing::PaymentMethodLink {
        provider_subscription_id: "sub_9".into(),
        return_url: "https://app.example.com/billing".into(),
    };
    let unsupported = |operation| ProviderError::Unsupported {
        provider: ProviderName::Stripe,
        operation,
    };
    assert_eq!(
        providers
            .cancel_at_period_end(ProviderName::Stripe, "sub_9", "r", "k")
            .await
            .unwrap_err(),
        unsupported("cancel"),
        "the default cancels now, through the adapter's own cancel"
    );
    assert_eq!(
        providers
            .create_top_up(ProviderName::Stripe, &top_up)
            .await
            .unwrap_err(),
        unsupported("wallet top-ups")
    );
    assert_eq!(
        providers
            .capture_top_up(ProviderName::Stripe, "cs_1", "k")
            .await
            .unwrap_err(),
        unsupported("capturing top-ups")
    );
    assert_eq!(
        providers
            .payment_method_link(ProviderName::Stripe, &link)
            .await
            .unwrap_err(),
        unsupported("payment-method links")
    );
    let not_configured = ProviderError::NotConfigured {
        provider: ProviderName::Paypal,
    };
    assert_eq!(
        providers
            .create_top_up(ProviderName::Paypal, &top_up)
            .await
            .unwrap_err(),
        not_configured
    );
    assert_eq!(
        providers
            .capture_top_up(ProviderName::Paypal, "5O19", "k")
            .await
            .unwrap_err(),
        not_configured
    );
    assert_eq!(
        providers
            .payment_method_link(ProviderName::Paypal, &link)
            .await
            .unwrap_err(),
        not_configured
    );
    assert_eq!(
        providers
            .cancel_at_period_end(ProviderName::Paypal, "I-1", "r", "k")
            .await
            .unwrap_err(),
        not_configured
    );

    // Ours, by name: PayPal's link needs no call (and no credentials).
    let pki = PayPalPki::generate(now());
    let ours = Providers::from_lookup(
        lookup(&all(&pki, &fresh_dir("customer-calls"), UNREACHABLE_STRIPE)),
        clock(),
    )
    .unwrap();
    assert_eq!(
        ours.payment_method_link(
            ProviderName::Paypal,
            &billing::PaymentMethodLink {
                provider_subscription_id: "I-BW452GLLEP1G".into(),
                return_url: String::new(),
            },
        )
        .await
        .unwrap(),
        "https://www.paypal.com/myaccount/autopay/connect/I-BW452GLLEP1G"
    );
}

const UNREACHABLE_STRIPE: &str = "http://127.0.0.1:9";
