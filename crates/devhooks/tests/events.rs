//! Every event the tool knows, built and signed as the tool sends it, then verified and parsed by
//! the production code (`billing`'s adapters, `twilio`'s validator) configured with the same
//! secrets: the shapes are what the parsers read, the signatures what the verifiers accept, and
//! PayPal's development CA is accepted only where it is trusted.

#![expect(
    clippy::unwrap_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

use std::path::PathBuf;
use std::sync::Arc;

use billing::payhere::PayHereConfig;
use billing::paypal::{BUNDLED_ROOTS_PEM, PayPalConfig};
use billing::stripe::StripeConfig;
use billing::{BillingEventKind as K, ParsedWebhook, Providers, ProvidersConfig, WebhookRequest};
use chrono::Utc;
use devhooks::deliver::{Delivery, Signer};
use devhooks::events::{self, CATALOGUE, EventName, Params, Provider};
use devhooks::{LocalSecrets, dev};
use http::{HeaderMap, HeaderName, HeaderValue};
use primitives::{ProviderName, SystemClock};
use secrecy::SecretString;

/// The kinds that carry the event's amount.
const MONEY: [K; 8] = [
    K::PaymentFailed,
    K::PaymentSucceeded,
    K::WalletTopUpCompleted,
    K::TopUpRefunded,
    K::Chargeback,
    K::DisputeOpened,
    K::DisputeWon,
    K::DisputeLost,
];

const ORG: &str = "0196f1e2-7a3b-7c4d-8e5f-112233445566";

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "devhooks-events-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The providers as the api's development mode configures them with nothing set.
fn development_providers(data_dir: &std::path::Path, trust_dev_ca: bool) -> Providers {
    let mut paypal = PayPalConfig::verification_only(vec![dev::PAYPAL_WEBHOOK_ID.to_owned()]);
    if trust_dev_ca {
        let ca = dev::ensure_ca(data_dir, Utc::now()).unwrap();
        paypal.trusted_roots_pem = Some(format!("{BUNDLED_ROOTS_PEM}{ca}"));
    }
    paypal.cert_dir = Some(dev::cert_dir(data_dir));
    ProvidersConfig {
        paypal: Some(paypal),
        stripe: Some(StripeConfig::verification_only(vec![SecretString::from(
            dev::STRIPE_WEBHOOK_SECRET,
        )])),
        payhere: Some(PayHereConfig::new(
            dev::PAYHERE_MERCHANT_ID,
            SecretString::from(dev::PAYHERE_MERCHANT_SECRET),
        )),
    }
    .build(Arc::new(SystemClock))
    .unwrap()
}

/// What `providers` make of `delivery`: verified by its provider, or refused.
async fn verify(
    providers: &Providers,
    provider: Provider,
    delivery: &Delivery,
) -> Result<billing::VerifiedWebhook, billing::VerifyError> {
    let headers = headers(delivery);
    providers
        .verify(
            name(provider),
            WebhookRequest {
                headers: &headers,
                body: &delivery.body,
            },
        )
        .await
}

fn headers(delivery: &Delivery) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in &delivery.headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn name(provider: Provider) -> ProviderName {
    match provider {
        Provider::Paypal => ProviderName::Paypal,
        Provider::Stripe => ProviderName::Stripe,
        Provider::Payhere => ProviderName::Payhere,
        Provider::Twilio => unreachable!("Twilio is no billing provider"),
    }
}

/// The normalized kinds each event must become.
fn expected(provider: Provider, event: EventName) -> Vec<K> {
    match (provider, event) {
        (Provider::Payhere, EventName::SubscriptionActivated) => {
            vec![K::SubscriptionActivated, K::PaymentSucceeded]
        }
        (Provider::Stripe, EventName::SubscriptionActivated) => vec![K::SubscriptionUpdated],
        (_, EventName::SubscriptionActivated) => vec![K::SubscriptionActivated],
        (_, EventName::PaymentFailed) => vec![K::PaymentFailed],
        (_, EventName::PaymentSucceeded) => vec![K::PaymentSucceeded],
        (_, EventName::SubscriptionCanceled) => vec![K::SubscriptionCanceled],
        (_, EventName::TopUpCompleted) => vec![K::WalletTopUpCompleted],
        (_, EventName::Refund) => vec![K::TopUpRefunded],
        (_, EventName::Chargeback) => vec![K::Chargeback],
        (_, EventName::DisputeOpened) => vec![K::DisputeOpened],
        (_, EventName::DisputeWon) => vec![K::DisputeWon],
        (_, EventName::DisputeLost) => vec![K::DisputeLost],
        (_, EventName::DeliveryStatus) => unreachable!("Twilio"),
    }
}

#[tokio::test]
async fn every_event_verifies_and_parses_as_the_provider_event_it_imitates() {
    let data = scratch();
    let providers = development_providers(&data, true);
    let signer = Signer::new(LocalSecrets::development(), &data);
    let mut checked = 0;
    for known in CATALOGUE
        .iter()
        .filter(|known| known.provider != Provider::Twilio)
    {
        let mut params = Params::new(Utc::now());
        params.organization = Some(ORG.to_owned());
        params.subscription = Some(match known.provider {
            Provider::Stripe => "sub_1R8mLocal".to_owned(),
            Provider::Paypal => "I-LOCAL0000001".to_owned(),
            _ => "420075032".to_owned(),
        });
        params.payment = Some(match known.provider {
            Provider::Stripe => "pi_3R8pLocal".to_owned(),
            Provider::Payhere => "320027150501".to_owned(),
            _ => "5O190127TN364715T".to_owned(),
        });
        params.amount = Some(
            if known.provider == Provider::Payhere {
                "2500.00"
            } else {
                "12.50"
            }
            .to_owned(),
        );
        params.currency = Some(
            if known.provider == Provider::Payhere {
                "LKR"
            } else {
                "USD"
            }
            .to_owned(),
        );
        let what = format!("{} {}", known.provider, known.event);
        let event = events::build(known.provider, known.event, &params, &signer.secrets)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(event.provider_type, known.provider_type, "{what}");
        let delivery = signer
            .deliver(&event, "http://127.0.0.1:8080", Utc::now())
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            delivery.url,
            format!("http://127.0.0.1:8080/webhooks/{}", known.provider),
            "{what}"
        );
        let verified = verify(&providers, known.provider, &delivery)
            .await
            .unwrap_or_else(|e| panic!("{what} refused: {e}"));
        let ParsedWebhook::Events { events } = providers.parse(&verified).unwrap() else {
            panic!("{what}: ignored by the parser");
        };
        let kinds: Vec<K> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, expected(known.provider, known.event), "{what}");
        for parsed in &events {
            if MONEY.contains(&parsed.kind) {
                let amount = parsed.amount.unwrap_or_else(|| panic!("{what}: no amount"));
                let minor = if known.provider == Provider::Payhere {
                    250_000
                } else {
                    1250
                };
                assert_eq!(amount.minor(), minor, "{what}");
            }
            // The id the receiver dedupes by is the one the tool prints.
            let delivery_id = parsed
                .provider_event_id
                .split('#')
                .next()
                .unwrap_or_default();
            assert_eq!(delivery_id, event.id, "{what}");
            if let Some(subscription) = &event.subscription {
                assert_eq!(
                    parsed.provider_subscription_id.as_ref(),
                    Some(subscription),
                    "{what}"
                );
            }
            if parsed.kind != K::PaymentFailed || known.provider != Provider::Paypal {
                assert_eq!(parsed.payment_reference, event.payment, "{what}");
            }
            if parsed.kind == K::PaymentSucceeded && known.provider != Provider::Paypal {
                assert!(
                    parsed.period_end.is_some_and(|end| end > Utc::now()),
                    "{what}: no period"
                );
            }
            let names_organization = match (known.provider, known.event) {
                (Provider::Payhere, _) => true,
                (_, EventName::Refund) => known.provider == Provider::Stripe,
                (
                    Provider::Stripe,
                    EventName::DisputeOpened | EventName::DisputeWon | EventName::DisputeLost,
                ) => false,
                _ => true,
            };
            if names_organization {
                assert_eq!(parsed.organization_ref.as_deref(), Some(ORG), "{what}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, CATALOGUE.len() - 1);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn a_paypal_delivery_signed_by_the_development_ca_is_refused_where_it_is_not_trusted() {
    let data = scratch();
    // Production trust (the bundled DigiCert root), the development certificate even in reach.
    let providers = development_providers(&data, false);
    let signer = Signer::new(LocalSecrets::development(), &data);
    let mut params = Params::new(Utc::now());
    params.organization = Some(ORG.to_owned());
    let event = events::build(
        Provider::Paypal,
        EventName::TopUpCompleted,
        &params,
        &signer.secrets,
    )
    .unwrap();
    let delivery = signer
        .deliver(&event, "http://127.0.0.1:8081", Utc::now())
        .await
        .unwrap();
    let refused = verify(&providers, Provider::Paypal, &delivery)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "WEBHOOK_CERT_CHAIN_INVALID", "{refused}");
    // Trusted, the same bytes and headers pass.
    let trusted = development_providers(&data, true);
    verify(&trusted, Provider::Paypal, &delivery).await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn a_status_callback_is_signed_with_its_subaccounts_token_over_the_public_callback_url() {
    // Twilio shows a subaccount's token to its parent (`GET /2010-04-01/Accounts/{sid}.json`);
    // the receiver reads it the same way.
    let twilio = wiremock::MockServer::start().await;
    let subaccount = "AC0123456789abcdef0123456789abcdef";
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path(format!(
            "/2010-04-01/Accounts/{subaccount}.json"
        )))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "sid": subaccount,
                "friendly_name": "Acme Shoes",
                "status": "active",
                "auth_token": "subaccount-token",
            })),
        )
        .expect(1)
        .mount(&twilio)
        .await;
    let public = "https://hooks.example.com/webhooks/twilio/messages";
    let secrets = LocalSecrets::from_lookup(|name| match name {
        "TWILIO_ACCOUNT_SID" => Some("AC00000000000000000000000000000009".into()),
        "TWILIO_AUTH_TOKEN" => Some("parent-token".into()),
        "TWILIO_BASE_URL" => Some(twilio.uri()),
        "TWILIO_STATUS_CALLBACK_URL" => Some(public.into()),
        _ => None,
    });
    // A status callback needs no development data: nothing is written there.
    let signer = Signer::new(
        secrets.clone(),
        std::env::temp_dir().join("devhooks-unused"),
    );
    let mut params = Params::new(Utc::now());
    params.account = Some(subaccount.to_owned());
    params.campaign = Some("01a24574-9210-73d3-9f46-01cc3109eb83".to_owned());
    params.recipient = Some("42".to_owned());
    params.status = Some("undelivered".to_owned());
    let event = events::build(
        Provider::Twilio,
        EventName::DeliveryStatus,
        &params,
        &secrets,
    )
    .unwrap();
    let delivery = signer
        .deliver(&event, "http://127.0.0.1:8081", Utc::now())
        .await
        .unwrap();
    let query = "campaign=01a24574-9210-73d3-9f46-01cc3109eb83&recipient=42";
    assert_eq!(
        delivery.url,
        format!("http://127.0.0.1:8081/webhooks/twilio/messages?{query}")
    );
    let signature = delivery.headers[0].1.as_str();
    let validator =
        twilio::signature::SignatureValidator::new(SecretString::from("subaccount-token"));
    validator
        .validate_form_body(
            &format!("{public}?{query}"),
            &delivery.body,
            Some(signature),
        )
        .unwrap();
    // Not the parent's key, not the URL posted to.
    let parent = twilio::signature::SignatureValidator::new(SecretString::from("parent-token"));
    assert!(
        parent
            .validate_form_body(
                &format!("{public}?{query}"),
                &delivery.body,
                Some(signature)
            )
            .is_err()
    );
    assert!(
        validator
            .validate_form_body(&delivery.url, &delivery.body, Some(signature))
            .is_err()
    );
    let body = String::from_utf8(delivery.body).unwrap();
    assert!(
        body.contains(&format!("AccountSid={subaccount}"))
            && body.contains("MessageStatus=undelivered")
            && body.contains("ErrorCode=30003"),
        "{body}"
    );
}
