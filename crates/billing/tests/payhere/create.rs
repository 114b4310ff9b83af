//! `create_subscription`: the signed checkout form PayHere subscriptions start with, built from
//! the plan catalog, the payer and the idempotency key, without any HTTP call.

use std::sync::Arc;

use billing::payhere::{PayHereConfig, PayHerePlan, PayHereProvider, Recurrence};
use billing::{
    BillingProvider, CreateSubscription, Payer, ProviderError, ProviderName,
    ProviderSubscriptionStatus,
};
use md5::{Digest as _, Md5};
use primitives::{Currency, ManualClock, Money};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MERCHANT_ID, ORG, SECRET, now, our_body, parse};

const NOTIFY_URL: &str = "https://hooks.example.com/payhere";
const KEY: &str = "create-subscription:org-1:attempt-1";

fn pro() -> PayHerePlan {
    PayHerePlan {
        amount: Money::from_minor(1500, Currency::USD),
        recurrence: Recurrence {
            recurrence: "1 Month".into(),
            duration: "Forever".into(),
        },
        title: "Pro plan".into(),
    }
}

fn config(base_url: &str) -> PayHereConfig {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(SECRET));
    config.base_url = base_url.into();
    config.notify_url = Some(NOTIFY_URL.into());
    config.plans.insert("pro".into(), pro());
    config
}

/// A provider whose base URL is a wiremock server that expects no request at all (verified
/// when the server drops) and that also has API credentials, so nothing stops a call but the
/// adapter itself.
async fn setup() -> (MockServer, PayHereProvider) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.api = Some(billing::payhere::PayHereApiCredentials {
        app_id: "app".into(),
        app_secret: SecretString::from("app-secret"),
    });
    let provider = PayHereProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap();
    (server, provider)
}

fn payer() -> Payer {
    Payer {
        first_name: "Saman".into(),
        last_name: "Perera".into(),
        email: "saman@example.com".into(),
        phone: "0771234567".into(),
        address: "No.1, Galle Road".into(),
        city: "Colombo".into(),
        country: "Sri Lanka".into(),
    }
}

fn request(key: &str) -> CreateSubscription {
    CreateSubscription {
        plan_id: "pro".into(),
        organization_ref: ORG.into(),
        return_url: Some("https://app.example.com/billing/return".into()),
        cancel_url: Some("https://app.example.com/billing/cancel".into()),
        customer_id: None,
        payer: Some(payer()),
        idempotency_key: key.into(),
    }
}

fn upper_md5(text: &str) -> String {
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

fn config_message(result: Result<billing::CreatedSubscription, ProviderError>) -> String {
    match result {
        Err(ProviderError::Config {
            provider: ProviderName::Payhere,
            message,
        }) => message,
        other => panic!("expected a PayHere Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_known_plan_gives_the_exact_signed_form_and_no_request() {
    let (server, provider) = setup().await;
    let created = provider.create_subscription(&request(KEY)).await.unwrap();

    let nonce = &hex::encode(Sha256::digest(KEY.as_bytes()))[..16];
    let order_id = format!("SUB-{ORG}.{nonce}");
    // PayHere's documented formula, computed here without the adapter's code.
    let hash = upper_md5(&format!(
        "{MERCHANT_ID}{order_id}15.00USD{}",
        upper_md5(SECRET)
    ));
    let expected: Vec<(String, String)> = [
        ("merchant_id", MERCHANT_ID),
        ("return_url", "https://app.example.com/billing/return"),
        ("cancel_url", "https://app.example.com/billing/cancel"),
        ("notify_url", NOTIFY_URL),
        ("first_name", "Saman"),
        ("last_name", "Perera"),
        ("email", "saman@example.com"),
        ("phone", "0771234567"),
        ("address", "No.1, Galle Road"),
        ("city", "Colombo"),
        ("country", "Sri Lanka"),
        ("order_id", &order_id),
        ("items", "Pro plan"),
        ("currency", "USD"),
        ("amount", "15.00"),
        ("recurrence", "1 Month"),
        ("duration", "Forever"),
        ("custom_1", ORG),
        ("custom_2", "subscription"),
        ("hash", &hash),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();

    assert_eq!(created.provider_subscription_id, order_id);
    assert_eq!(
        created.approval_url.as_deref(),
        Some(format!("{}/pay/checkout", server.uri()).as_str())
    );
    assert_eq!(created.approval_form, Some(expected));
    assert_eq!(created.status, ProviderSubscriptionStatus::Pending);
    assert!(server.received_requests().await.unwrap().is_empty());

    // PayHere's AUTHORIZATION_SUCCESS then carries that order id, signed, and its own
    // subscription_id, which the receiver links to the pending subscription.
    let parsed = parse(&our_body(
        &order_id,
        "15.00",
        "USD",
        "2",
        &[
            ("payment_id", "320025157750"),
            ("recurring", "1"),
            ("message_type", "AUTHORIZATION_SUCCESS"),
            ("subscription_id", "420075032251"),
        ],
    ))
    .await;
    let billing::ParsedWebhook::Events { events } = parsed else {
        panic!("ignored")
    };
    assert_eq!(
        events[0].kind,
        billing::BillingEventKind::SubscriptionActivated
    );
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(
        events[0].provider_subscription_id.as_deref(),
        Some("420075032251")
    );
}

#[tokio::test]
async fn the_same_key_gives_the_same_form_and_another_key_another_order() {
    let (server, provider) = setup().await;
    let first = provider.create_subscription(&request(KEY)).await.unwrap();
    let retried = provider.create_subscription(&request(KEY)).await.unwrap();
    assert_eq!(first, retried);
    let other = provider
        .create_subscription(&request("create-subscription:org-1:attempt-2"))
        .await
        .unwrap();
    assert_ne!(
        other.provider_subscription_id,
        first.provider_subscription_id
    );
    assert_ne!(other.approval_form, first.approval_form);
    // A key with characters an order id cannot hold, or longer than one, still fits.
    let odd = provider
        .create_subscription(&request(&format!(
            "key with spaces/and.dots {}",
            "x".repeat(100)
        )))
        .await
        .unwrap();
    assert_eq!(
        odd.provider_subscription_id.len(),
        format!("SUB-{ORG}.").len() + 16
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn requests_that_cannot_become_a_checkout_are_config_errors() {
    let (server, provider) = setup().await;

    let mut unknown = request(KEY);
    unknown.plan_id = "enterprise".into();
    let message = config_message(provider.create_subscription(&unknown).await);
    assert!(message.contains("\"enterprise\""), "{message}");

    let mut no_payer = request(KEY);
    no_payer.payer = None;
    let message = config_message(provider.create_subscription(&no_payer).await);
    assert!(
        message.contains("PayHere's checkout needs the payer's name, email, phone and address"),
        "{message}"
    );

    let mut blank_phone = request(KEY);
    if let Some(payer) = blank_phone.payer.as_mut() {
        payer.phone = " ".into();
    }
    let message = config_message(provider.create_subscription(&blank_phone).await);
    assert!(message.contains("phone is empty"), "{message}");

    let mut no_return = request(KEY);
    no_return.return_url = None;
    let message = config_message(provider.create_subscription(&no_return).await);
    assert!(message.contains("return_url"), "{message}");

    let mut no_cancel = request(KEY);
    no_cancel.cancel_url = Some(String::new());
    let message = config_message(provider.create_subscription(&no_cancel).await);
    assert!(message.contains("cancel_url"), "{message}");

    let mut no_key = request(KEY);
    no_key.idempotency_key = String::new();
    config_message(provider.create_subscription(&no_key).await);

    let mut bad_org = request(KEY);
    bad_org.organization_ref = "org.with.dots".into();
    config_message(provider.create_subscription(&bad_org).await);

    assert!(server.received_requests().await.unwrap().is_empty());

    // Without a notify URL there is no form either.
    let mut no_notify = config("http://127.0.0.1:9");
    no_notify.notify_url = None;
    let provider = PayHereProvider::new(no_notify, Arc::new(ManualClock::new(now()))).unwrap();
    config_message(provider.create_subscription(&request(KEY)).await);
}

#[test]
fn plans_come_from_payhere_plans_and_bad_ones_are_refused_up_front() {
    let env = |plans: &str| {
        let plans = plans.to_owned();
        move |name: &str| match name {
            "PAYHERE_MERCHANT_ID" => Some(MERCHANT_ID.to_owned()),
            "PAYHERE_MERCHANT_SECRET" => Some(SECRET.to_owned()),
            "PAYHERE_PLANS" => Some(plans.clone()),
            _ => None,
        }
    };
    let from_env = PayHereConfig::from_lookup(env("pro=USD 15.00/1 Month/Forever/Pro plan"))
        .unwrap()
        .unwrap();
    assert_eq!(from_env.plans.len(), 1);
    assert_eq!(from_env.plans["pro"], pro());
    let error = PayHereConfig::from_lookup(env("pro=USD 15/1 Month/Sometimes")).unwrap_err();
    assert!(error.to_string().contains("\"pro\""), "{error}");
    assert_eq!(error.variable, "PAYHERE_PLANS");

    // A plan configured in code is checked when the provider is built, not at checkout.
    let mut config = config("http://127.0.0.1:9");
    let mut yen = pro();
    yen.amount = Money::from_minor(1500, Currency::JPY);
    config.plans.insert("yen".into(), yen);
    let error = PayHereProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap_err();
    assert!(error.to_string().contains("\"yen\""), "{error}");
}
