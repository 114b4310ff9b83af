//! `create_top_up`: the signed one-off checkout form of a wallet top-up (`TOPUP-...` order),
//! built without any HTTP call, and the notification of its payment crediting the organization
//! the signed order id names. PayHere offers no page for changing a payment method, and no
//! capture step.

use std::sync::Arc;

use billing::payhere::{PayHereApiCredentials, PayHereConfig, PayHereProvider};
use billing::{
    BillingEventKind, BillingProvider, CreateTopUp, ParsedWebhook, Payer, PaymentMethodLink,
    ProviderError, ProviderName, TopUpCheckout,
};
use md5::{Digest as _, Md5};
use primitives::{Currency, ManualClock, Money};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{MERCHANT_ID, ORG, SECRET, now, our_body, parse};

const NOTIFY_URL: &str = "https://hooks.example.com/payhere";
const KEY: &str = "top-up:org-1:7";

fn config(base_url: &str) -> PayHereConfig {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(SECRET));
    config.base_url = base_url.into();
    config.notify_url = Some(NOTIFY_URL.into());
    config
}

/// A provider with API credentials whose server expects no request at all (checked when it
/// drops): nothing but the adapter itself stops a call.
async fn setup() -> (MockServer, PayHereProvider) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.api = Some(PayHereApiCredentials {
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

fn request(amount: Money, key: &str) -> CreateTopUp {
    CreateTopUp {
        amount,
        organization_ref: ORG.into(),
        return_url: "https://app.example.com/wallet/return".into(),
        cancel_url: "https://app.example.com/wallet".into(),
        description: "Wallet top-up".into(),
        customer_id: None,
        payer: Some(payer()),
        idempotency_key: key.into(),
    }
}

fn lkr(minor: i64) -> Money {
    Money::from_minor(minor, Currency::LKR)
}

fn upper_md5(text: &str) -> String {
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

fn config_message(result: Result<TopUpCheckout, ProviderError>) -> String {
    match result {
        Err(ProviderError::Config {
            provider: ProviderName::Payhere,
            message,
        }) => message,
        other => panic!("expected a PayHere Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_top_up_is_the_exact_signed_one_off_form_and_no_request() {
    let (server, provider) = setup().await;
    let checkout = provider
        .create_top_up(&request(lkr(250_000), KEY))
        .await
        .unwrap();

    let nonce = &hex::encode(Sha256::digest(KEY.as_bytes()))[..16];
    let order_id = format!("TOPUP-{ORG}.{nonce}");
    // PayHere's documented formula, computed here without the adapter's code.
    let hash = upper_md5(&format!(
        "{MERCHANT_ID}{order_id}2500.00LKR{}",
        upper_md5(SECRET)
    ));
    let expected: Vec<(String, String)> = [
        ("merchant_id", MERCHANT_ID),
        ("return_url", "https://app.example.com/wallet/return"),
        ("cancel_url", "https://app.example.com/wallet"),
        ("notify_url", NOTIFY_URL),
        ("first_name", "Saman"),
        ("last_name", "Perera"),
        ("email", "saman@example.com"),
        ("phone", "0771234567"),
        ("address", "No.1, Galle Road"),
        ("city", "Colombo"),
        ("country", "Sri Lanka"),
        ("order_id", &order_id),
        ("items", "Wallet top-up"),
        ("currency", "LKR"),
        ("amount", "2500.00"),
        ("custom_1", ORG),
        ("custom_2", "topup"),
        ("hash", &hash),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect();
    assert_eq!(
        checkout,
        TopUpCheckout {
            checkout_reference: order_id.clone(),
            approval_url: format!("{}/pay/checkout", server.uri()),
            approval_form: Some(expected),
            expires_at: None,
        }
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    // The notification of its payment names that order, signed: the wallet of the
    // organization in it is credited with the amount paid.
    let parsed = parse(&our_body(
        &order_id,
        "2500.00",
        "LKR",
        "2",
        &[("payment_id", "320025071278"), ("custom_1", "someone-else")],
    ))
    .await;
    let ParsedWebhook::Events { events } = parsed else {
        panic!("ignored")
    };
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, BillingEventKind::WalletTopUpCompleted);
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(events[0].amount, Some(lkr(250_000)));
    assert_eq!(events[0].payment_reference.as_deref(), Some("320025071278"));
    assert_eq!(
        events[0].order_reference.as_deref(),
        Some(order_id.as_str())
    );
    // It completes the checkout the top-up was started as.
    assert_eq!(
        events[0].checkout_reference.as_deref(),
        Some(checkout.checkout_reference.as_str())
    );

    // A charge-back of that payment names the order, but completes no checkout.
    let parsed = parse(&our_body(
        &order_id,
        "2500.00",
        "LKR",
        "-3",
        &[("payment_id", "320025071278")],
    ))
    .await;
    let ParsedWebhook::Events { events } = parsed else {
        panic!("ignored")
    };
    assert_eq!(events[0].kind, BillingEventKind::Chargeback);
    assert_eq!(
        events[0].order_reference.as_deref(),
        Some(order_id.as_str())
    );
    assert_eq!(events[0].checkout_reference, None);
}

#[tokio::test]
async fn only_a_paid_top_up_order_names_a_checkout() {
    let subscription_order = format!("SUB-{ORG}.manual1");
    let recurring = [
        ("payment_id", "320025071279"),
        ("recurring", "1"),
        ("message_type", "RECURRING_INSTALLMENT_SUCCESS"),
        ("subscription_id", "420075032251"),
    ];
    for (order_id, extra) in [
        (
            subscription_order.as_str(),
            &[("payment_id", "320025071279")][..],
        ),
        (subscription_order.as_str(), &recurring[..]),
    ] {
        let ParsedWebhook::Events { events } =
            parse(&our_body(order_id, "15.00", "USD", "2", extra)).await
        else {
            panic!("{order_id}: ignored")
        };
        for event in events {
            assert_eq!(event.kind, BillingEventKind::PaymentSucceeded, "{order_id}");
            assert_eq!(event.checkout_reference, None, "{order_id}");
        }
    }
    // A payment of an order that is not ours credits nothing and names nothing.
    let foreign = parse(&our_body("ItemNo12345", "15.00", "USD", "2", &[])).await;
    assert!(
        matches!(foreign, ParsedWebhook::Ignored { .. }),
        "{foreign:?}"
    );
}

#[tokio::test]
async fn amounts_carry_two_decimals_and_the_key_decides_the_order() {
    let (_server, provider) = setup().await;
    let usd = provider
        .create_top_up(&request(Money::from_minor(1005, Currency::USD), KEY))
        .await
        .unwrap();
    let field = |checkout: &TopUpCheckout, name: &str| {
        checkout
            .approval_form
            .iter()
            .flatten()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(field(&usd, "amount").as_deref(), Some("10.05"));
    assert_eq!(field(&usd, "currency").as_deref(), Some("USD"));

    let retried = provider
        .create_top_up(&request(Money::from_minor(1005, Currency::USD), KEY))
        .await
        .unwrap();
    assert_eq!(retried, usd, "a retried top-up is the same checkout");
    let next = provider
        .create_top_up(&request(
            Money::from_minor(1005, Currency::USD),
            "top-up:org-1:8",
        ))
        .await
        .unwrap();
    assert_ne!(next.checkout_reference, usd.checkout_reference);
    assert!(
        next.checkout_reference
            .starts_with(&format!("TOPUP-{ORG}."))
    );
}

#[tokio::test]
async fn a_top_up_without_what_payheres_checkout_needs_is_a_config_error() {
    let (_server, provider) = setup().await;

    let mut no_payer = request(lkr(10_000), KEY);
    no_payer.payer = None;
    let message = config_message(provider.create_top_up(&no_payer).await);
    assert!(
        message.contains("PayHere's checkout needs the payer's name, email, phone and address"),
        "{message}"
    );

    let mut blank_email = request(lkr(10_000), KEY);
    if let Some(payer) = blank_email.payer.as_mut() {
        payer.email = " ".into();
    }
    let message = config_message(provider.create_top_up(&blank_email).await);
    assert!(message.contains("email is empty"), "{message}");

    let mut no_return = request(lkr(10_000), KEY);
    no_return.return_url = " ".into();
    let message = config_message(provider.create_top_up(&no_return).await);
    assert!(message.contains("return_url"), "{message}");

    let mut no_cancel = request(lkr(10_000), KEY);
    no_cancel.cancel_url = String::new();
    let message = config_message(provider.create_top_up(&no_cancel).await);
    assert!(message.contains("cancel_url"), "{message}");

    let mut no_items = request(lkr(10_000), KEY);
    no_items.description = String::new();
    let message = config_message(provider.create_top_up(&no_items).await);
    assert!(message.contains("description"), "{message}");

    let mut no_key = request(lkr(10_000), KEY);
    no_key.idempotency_key = String::new();
    let message = config_message(provider.create_top_up(&no_key).await);
    assert!(
        message.contains("top-up needs an idempotency key"),
        "{message}"
    );

    let mut bad_org = request(lkr(10_000), KEY);
    bad_org.organization_ref = "org.with.dots".into();
    config_message(provider.create_top_up(&bad_org).await);

    // PayHere's amounts have two decimals: a yen amount cannot be written in its form; and
    // nothing is paid that is not positive.
    config_message(
        provider
            .create_top_up(&request(Money::from_minor(500, Currency::JPY), KEY))
            .await,
    );
    config_message(provider.create_top_up(&request(lkr(0), KEY)).await);

    // Without a notify URL no notification could credit the wallet: no form either.
    let mut no_notify = config("http://127.0.0.1:9");
    no_notify.notify_url = None;
    let provider = PayHereProvider::new(no_notify, Arc::new(ManualClock::new(now()))).unwrap();
    let message = config_message(provider.create_top_up(&request(lkr(10_000), KEY)).await);
    assert!(message.contains("notify URL"), "{message}");
}

#[tokio::test]
async fn payhere_has_no_payment_method_page_and_no_capture() {
    let (_server, provider) = setup().await;
    let link = provider
        .payment_method_link(&PaymentMethodLink {
            provider_subscription_id: "420075032251".into(),
            return_url: "https://app.example.com/billing".into(),
        })
        .await;
    assert!(
        matches!(
            link,
            Err(ProviderError::Unsupported {
                provider: ProviderName::Payhere,
                ..
            })
        ),
        "{link:?}"
    );
    assert!(matches!(
        provider.capture_top_up("TOPUP-org.1", "k").await,
        Err(ProviderError::Unsupported {
            provider: ProviderName::Payhere,
            ..
        })
    ));
}

#[tokio::test]
async fn the_checkouts_debug_hides_the_payer() {
    let (_server, provider) = setup().await;
    let request = request(lkr(10_000), KEY);
    let checkout = provider.create_top_up(&request).await.unwrap();
    for shown in [format!("{checkout:?}"), format!("{request:?}")] {
        for value in [
            "Saman",
            "Perera",
            "saman@example.com",
            "0771234567",
            "Galle",
        ] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }
}
