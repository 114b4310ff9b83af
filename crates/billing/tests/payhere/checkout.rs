//! Checkout forms: the fields PayHere requires, a hash PayHere accepts, and the organization
//! bound into the signed order id.

use std::sync::Arc;

use billing::ProviderError;
use billing::payhere::signature::checkout_hash;
use billing::payhere::{
    CheckoutCustomer, CheckoutRequest, OrderPurpose, OrderRef, PayHereConfig, PayHereProvider,
    Recurrence,
};
use primitives::{Currency, ManualClock, Money};
use secrecy::SecretString;

use crate::support::{MERCHANT_ID, ORG, SECRET, now, our_body, parse};

fn provider(notify_url: Option<&str>) -> PayHereProvider {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(SECRET));
    config.base_url = PayHereConfig::SANDBOX_BASE_URL.into();
    config.notify_url = notify_url.map(str::to_owned);
    PayHereProvider::new(config, Arc::new(ManualClock::new(now()))).unwrap()
}

fn request(purpose: OrderPurpose, recurrence: Option<Recurrence>) -> CheckoutRequest {
    CheckoutRequest {
        order: OrderRef::new(purpose, ORG, "n42").unwrap(),
        amount: Money::from_minor(100_000, Currency::LKR),
        items: "Wallet top-up".into(),
        customer: CheckoutCustomer {
            first_name: "Saman".into(),
            last_name: "Perera".into(),
            email: "saman@example.com".into(),
            phone: "0771234567".into(),
            address: "No.1, Galle Road".into(),
            city: "Colombo".into(),
            country: "Sri Lanka".into(),
        },
        return_url: "https://app.example.com/billing/return".into(),
        cancel_url: "https://app.example.com/billing/cancel".into(),
        recurrence,
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    &fields.iter().find(|(n, _)| n == name).unwrap().1
}

#[tokio::test]
async fn a_top_up_form_is_signed_and_its_notification_credits_the_same_organization() {
    let form = provider(Some("https://hooks.example.com/payhere"))
        .checkout_form(&request(OrderPurpose::TopUp, None))
        .unwrap();
    assert_eq!(form.action, "https://sandbox.payhere.lk/pay/checkout");
    let fields = &form.fields;
    let order_id = format!("TOPUP-{ORG}.n42");
    assert_eq!(field(fields, "merchant_id"), MERCHANT_ID);
    assert_eq!(field(fields, "order_id"), order_id);
    assert_eq!(field(fields, "amount"), "1000.00");
    assert_eq!(field(fields, "currency"), "LKR");
    assert_eq!(
        field(fields, "notify_url"),
        "https://hooks.example.com/payhere"
    );
    assert_eq!(field(fields, "custom_1"), ORG);
    assert_eq!(field(fields, "custom_2"), "topup");
    assert!(fields.iter().all(|(n, _)| n != "recurrence"));
    assert_eq!(
        field(fields, "hash"),
        checkout_hash(
            MERCHANT_ID,
            &order_id,
            "1000.00",
            "LKR",
            &SecretString::from(SECRET)
        )
    );
    // PayHere then notifies with the same order id and amount.
    let parsed = parse(&our_body(&order_id, "1000.00", "LKR", "2", &[])).await;
    let billing::ParsedWebhook::Events { events } = parsed else {
        panic!("ignored")
    };
    assert_eq!(
        events[0].kind,
        billing::BillingEventKind::WalletTopUpCompleted
    );
    assert_eq!(events[0].organization_ref.as_deref(), Some(ORG));
    assert_eq!(
        events[0].amount,
        Some(Money::from_minor(100_000, Currency::LKR))
    );
}

#[test]
fn a_subscription_form_carries_its_schedule() {
    let recurrence = Recurrence {
        recurrence: "1 Month".into(),
        duration: "Forever".into(),
    };
    let form = provider(Some("https://hooks.example.com/payhere"))
        .checkout_form(&request(OrderPurpose::Subscription, Some(recurrence)))
        .unwrap();
    assert_eq!(field(&form.fields, "order_id"), format!("SUB-{ORG}.n42"));
    assert_eq!(field(&form.fields, "recurrence"), "1 Month");
    assert_eq!(field(&form.fields, "duration"), "Forever");
    assert_eq!(field(&form.fields, "custom_2"), "subscription");
}

#[test]
fn forms_that_cannot_work_are_refused() {
    let configured = provider(Some("https://hooks.example.com/payhere"));
    let schedule = Recurrence {
        recurrence: "1 Month".into(),
        duration: "1 Year".into(),
    };
    let mut zero = request(OrderPurpose::TopUp, None);
    zero.amount = Money::zero(Currency::LKR);
    let mut yen = request(OrderPurpose::TopUp, None);
    yen.amount = Money::from_minor(1000, Currency::JPY);
    for bad in [
        request(OrderPurpose::Subscription, None),
        request(OrderPurpose::TopUp, Some(schedule)),
        zero,
        yen,
    ] {
        assert!(matches!(
            configured.checkout_form(&bad),
            Err(ProviderError::Config { .. })
        ));
    }
    let unconfigured = provider(None);
    assert!(matches!(
        unconfigured.checkout_form(&request(OrderPurpose::TopUp, None)),
        Err(ProviderError::Config { .. })
    ));
}
