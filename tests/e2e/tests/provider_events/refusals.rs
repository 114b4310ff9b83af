//! Deliveries that are not genuine are refused with their codes and change nothing: no inbox
//! row, no subscription or wallet change. Each test ends with the genuine delivery, accepted and
//! acted on, so the snapshot compared is one that would have seen a change.

use std::future::Future;

use chrono::Utc;
use e2e::{
    Org, Stack, StackOptions,
    events::{self, payhere, paypal},
    fakes::paypal::PayPalSubscriptionView,
    keys::{PAYPAL_CERT_URL, PAYPAL_WEBHOOK_ID},
    stack::{assert_problem, stored},
};
use serde_json::json;
use testkit::signing::{PayHereNotification, PayPalPki, paypal_transmission_time};

use crate::books;

/// Awaits `delivery`, which must be refused with `status` and `code`, and checks that nothing
/// the organization or the inbox holds changed.
async fn refused(
    stack: &Stack,
    org: &Org,
    what: &str,
    delivery: impl Future<Output = reqwest::Response>,
    status: u16,
    code: &str,
) {
    let before = books(stack, org).await;
    let problem = assert_problem(delivery.await, status, code).await;
    assert_eq!(
        books(stack, org).await,
        before,
        "{what} ({problem}) changed something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_deliveries_not_signed_by_paypal_for_us_are_refused() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Refusals PayPal", "USD").await;
    let subscription_id = "I-E2EREFUSED00001";
    stack
        .create_subscription(&org, "paypal", subscription_id)
        .await;
    assert_eq!(books(&stack, &org).await["inbox"], json!([]));
    let now = Utc::now();
    let view = PayPalSubscriptionView {
        id: subscription_id.to_owned(),
        status: "ACTIVE".to_owned(),
        custom_id: org.id.clone(),
        outstanding: "0.00".to_owned(),
        currency: "USD".to_owned(),
        next_billing_time: Some(now + chrono::Duration::days(30)),
        failed_payments_count: 0,
        updated_at: now,
    };
    let event = paypal::subscription_event("WH-E2E3ACTIVATED00001", "ACTIVATED", now, &view);
    let body = events::bytes(&event);
    let shared = &stack;
    let send = |headers: Vec<(String, String)>, body: Vec<u8>| async move {
        shared
            .post_webhook("paypal", &headers, "application/json", body)
            .await
    };
    let headers = |body: &[u8]| stack.keys.paypal_headers(body, Utc::now());

    refused(
        &stack,
        &org,
        "no PAYPAL-* headers",
        send(Vec::new(), body.clone()),
        400,
        "WEBHOOK_MISSING_HEADER",
    )
    .await;
    let other_webhook =
        stack
            .keys
            .paypal_headers_as(&body, Utc::now(), "WH-NOT-OURS-0001", PAYPAL_CERT_URL);
    refused(
        &stack,
        &org,
        "signed for another webhook",
        send(other_webhook, body.clone()),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    // A hierarchy of another CA, with a certificate named like PayPal's, served from a URL the
    // allow-list accepts.
    let impostor = PayPalPki::generate(Utc::now());
    let impostor_url = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-impostor-e2e";
    impostor.write_cert_dir(stack.keys.cert_dir(), impostor_url);
    let forged = impostor.headers(
        &body,
        PAYPAL_WEBHOOK_ID,
        impostor_url,
        "0d1e2f30-e2e0-11f0-8000-000000000001",
        &paypal_transmission_time(Utc::now()),
    );
    refused(
        &stack,
        &org,
        "signed under another CA",
        send(forged, body.clone()),
        401,
        "WEBHOOK_CERT_CHAIN_INVALID",
    )
    .await;
    let tampered = events::bytes(&paypal::subscription_event(
        "WH-E2E3ACTIVATED00001",
        "ACTIVATED",
        now,
        &PayPalSubscriptionView {
            custom_id: uuid::Uuid::now_v7().to_string(),
            ..view.clone()
        },
    ));
    refused(
        &stack,
        &org,
        "body changed after signing",
        send(headers(&body), tampered),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "re-serialized with other whitespace",
        send(headers(&body), events::pretty(&event)),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "re-serialized with other key order",
        send(headers(&body), events::reordered(&event)),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    let stale = stack
        .keys
        .paypal_headers(&body, Utc::now() - chrono::Duration::days(5));
    refused(
        &stack,
        &org,
        "sent five days ago",
        send(stale, body.clone()),
        401,
        "WEBHOOK_STALE",
    )
    .await;
    for cert_url in [
        "https://paypal.com.e2e.example/v1/notifications/certs/CERT-e2e",
        "https://api.sandbox.paypal.com.e2e.example/v1/notifications/certs/CERT-e2e",
        "http://api.sandbox.paypal.com/v1/notifications/certs/CERT-e2e",
        "https://127.0.0.1/v1/notifications/certs/CERT-e2e",
    ] {
        let elsewhere =
            stack
                .keys
                .paypal_headers_as(&body, Utc::now(), PAYPAL_WEBHOOK_ID, cert_url);
        refused(
            &stack,
            &org,
            cert_url,
            send(elsewhere, body.clone()),
            401,
            "WEBHOOK_CERT_URL_NOT_ALLOWED",
        )
        .await;
    }
    // On paypal.com, but no certificate is there; and a path that would leave the certificate
    // directory (towards the trusted roots file), refused before the file system is touched.
    // Both are "could not get the certificate": 503, PayPal tries again later.
    for cert_url in [
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-not-there",
        "https://api.sandbox.paypal.com/%2e%2e/%2e%2e/paypal-roots.pem",
    ] {
        let missing = stack
            .keys
            .paypal_headers_as(&body, Utc::now(), PAYPAL_WEBHOOK_ID, cert_url);
        refused(
            &stack,
            &org,
            cert_url,
            send(missing, body.clone()),
            503,
            "WEBHOOK_CERT_UNAVAILABLE",
        )
        .await;
    }
    let mut weak = headers(&body);
    for (name, value) in &mut weak {
        if name == "PAYPAL-AUTH-ALGO" {
            *value = "SHA1withRSA".to_owned();
        }
    }
    refused(
        &stack,
        &org,
        "another algorithm",
        send(weak, body.clone()),
        401,
        "WEBHOOK_UNSUPPORTED_ALGORITHM",
    )
    .await;

    // Nothing refused reached PayPal's API.
    assert!(stack.paypal.requests().await.is_empty());

    let genuine = stored(send(headers(&body), body.clone()).await).await;
    assert_eq!(genuine["status"], "applied", "{genuine}");
    assert_eq!(stack.subscription(&org).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_deliveries_not_signed_by_stripe_for_us_are_refused() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Refusals Stripe", "USD").await;
    assert_eq!(books(&stack, &org).await["inbox"], json!([]));
    let now = Utc::now().timestamp();
    let session = |amount| {
        events::stripe::top_up_session(
            "cs_test_E2eRefusedSession0001",
            &org.id,
            "pi_E2eRefusedTopUp0001",
            amount,
            "usd",
        )
    };
    let event = |amount| {
        events::stripe::checkout(
            "evt_E2eRefusedTopUp0001",
            "checkout.session.completed",
            now,
            session(amount),
        )
    };
    let body = events::bytes(&event(2500));
    let shared = &stack;
    let send = |headers: Vec<(String, String)>, body: Vec<u8>| async move {
        shared
            .post_webhook("stripe", &headers, "application/json", body)
            .await
    };
    let signed = |body: &[u8], at: i64| vec![stack.keys.stripe_header(body, at)];

    refused(
        &stack,
        &org,
        "no Stripe-Signature",
        send(Vec::new(), body.clone()),
        400,
        "WEBHOOK_MISSING_HEADER",
    )
    .await;
    let no_timestamp = vec![(
        "Stripe-Signature".to_owned(),
        format!(
            "v1={}",
            testkit::signing::stripe_signature(e2e::keys::STRIPE_WEBHOOK_SECRET, now, &body)
        ),
    )];
    refused(
        &stack,
        &org,
        "a signature without its timestamp",
        send(no_timestamp, body.clone()),
        400,
        "WEBHOOK_MALFORMED_HEADER",
    )
    .await;
    let forged = vec![(
        "Stripe-Signature".to_owned(),
        testkit::signing::stripe_signature_header(
            "whsec_NotOursNotOursNotOursNotOurs00",
            now,
            &body,
        ),
    )];
    refused(
        &stack,
        &org,
        "signed with another secret",
        send(forged, body.clone()),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "amount changed after signing",
        send(signed(&body, now), events::bytes(&event(250_000))),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "re-serialized with other whitespace",
        send(signed(&body, now), events::pretty(&event(2500))),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "re-serialized with other key order",
        send(signed(&body, now), events::reordered(&event(2500))),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "signed ten minutes ago",
        send(signed(&body, now - 600), body.clone()),
        401,
        "WEBHOOK_STALE",
    )
    .await;
    // Genuinely signed, but larger than any provider event (the receiver's limit is 256 KiB).
    let mut huge = event(2500);
    huge["data"]["object"]["metadata"]["padding"] = json!("x".repeat(300 * 1024));
    let huge = events::bytes(&huge);
    refused(
        &stack,
        &org,
        "a body over the limit",
        send(signed(&huge, now), huge.clone()),
        413,
        "BODY_TOO_LARGE",
    )
    .await;

    let genuine = stored(send(signed(&body, now), body.clone()).await).await;
    assert_eq!(genuine["status"], "applied", "{genuine}");
    assert_eq!(stack.wallet(&org).await["balance"], "25.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payhere_notifications_not_signed_with_our_secret_are_refused() {
    let stack = Stack::start(StackOptions::default()).await;
    let org = stack.create_org("Acme Refusals PayHere", "LKR").await;
    assert_eq!(books(&stack, &org).await["inbox"], json!([]));
    let merchant = stack.keys.payhere.clone();
    let order = payhere::top_up_order(&org.id, "e2e9");
    let notification = |merchant: &payhere::Merchant, order: &str, amount: &str| {
        payhere::one_off(merchant, order, "320025071299", amount, "LKR", "2")
    };
    let genuine = notification(&merchant, &order, "2500.00");
    let send = |body: Vec<u8>| stack.send_payhere(body);

    let forged = notification(
        &payhere::Merchant {
            id: merchant.id.clone(),
            secret: "not-our-merchant-secret".to_owned(),
        },
        &order,
        "2500.00",
    );
    refused(
        &stack,
        &org,
        "signed with another secret",
        send(forged.body()),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "amount changed after signing",
        send(payhere::edited(
            &genuine,
            "payhere_amount",
            Some("25000.00"),
        )),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    let elsewhere = payhere::top_up_order(&uuid::Uuid::now_v7().to_string(), "e2e9");
    refused(
        &stack,
        &org,
        "order changed after signing",
        send(payhere::edited(&genuine, "order_id", Some(&elsewhere))),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    refused(
        &stack,
        &org,
        "unsigned",
        send(payhere::edited(&genuine, "md5sig", None)),
        400,
        "WEBHOOK_MALFORMED_BODY",
    )
    .await;
    let lower = genuine.md5sig().to_ascii_lowercase();
    refused(
        &stack,
        &org,
        "a lower-case md5sig",
        send(payhere::edited(&genuine, "md5sig", Some(&lower))),
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    let other_merchant = notification(
        &payhere::Merchant {
            id: "1211149".to_owned(),
            secret: merchant.secret.clone(),
        },
        &order,
        "2500.00",
    );
    refused(
        &stack,
        &org,
        "for another merchant",
        send(other_merchant.body()),
        400,
        "WEBHOOK_MALFORMED_BODY",
    )
    .await;
    refused(
        &stack,
        &org,
        "an amount without its two decimals",
        send(notification(&merchant, &order, "2500").body()),
        400,
        "WEBHOOK_MALFORMED_BODY",
    )
    .await;

    let first = stored(send(genuine.body()).await).await;
    assert_eq!(first["status"], "applied", "{first}");
    assert_eq!(stack.wallet(&org).await["balance"], "2500.00");
    // md5sig covers the decoded values, not the bytes: the same fields in another order and
    // encoding are the same notification, a duplicate.
    let again = stored(send(reserialized(&genuine)).await).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["inbox_id"], first["inbox_id"]);
    assert_eq!(stack.wallet(&org).await["balance"], "2500.00");
}

/// The notification's fields in reverse order, spaces as `%20` instead of `+`.
fn reserialized(notification: &PayHereNotification) -> Vec<u8> {
    let mut fields = notification.fields();
    fields.reverse();
    let body = payhere::form(&fields);
    let text = String::from_utf8(body).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains('+'), "no space to encode otherwise: {text}");
    text.replace('+', "%20").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_for_a_provider_not_configured_here_are_refused() {
    let stack = Stack::start(StackOptions {
        only_providers: Some(vec!["STRIPE"]),
        ..StackOptions::default()
    })
    .await;
    let org = stack.create_org("Acme Stripe Only", "USD").await;
    let now = Utc::now();
    let capture = events::bytes(&paypal::capture_completed(
        "WH-E2E5CAPTURE0000001",
        now,
        "12A34567BC12E2E5S",
        &org.id,
        "30.00",
        "USD",
    ));
    refused(
        &stack,
        &org,
        "a genuine PayPal delivery",
        stack.send_paypal(capture.clone()),
        404,
        "WEBHOOK_PROVIDER_NOT_CONFIGURED",
    )
    .await;
    let top_up = payhere::one_off(
        &stack.keys.payhere,
        &payhere::top_up_order(&org.id, "e2e5"),
        "320025071295",
        "30.00",
        "USD",
        "2",
    );
    refused(
        &stack,
        &org,
        "a genuine PayHere notification",
        stack.send_payhere(top_up.body()),
        404,
        "WEBHOOK_PROVIDER_NOT_CONFIGURED",
    )
    .await;
    refused(
        &stack,
        &org,
        "a provider we do not know",
        stack.post_webhook("square", &[], "application/json", capture),
        404,
        "WEBHOOK_PROVIDER_UNKNOWN",
    )
    .await;
}
