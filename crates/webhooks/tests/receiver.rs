//! The receiver over HTTP on a free port, with a real database and real adapters: a signed
//! delivery is stored and applied before its 2xx; every kind of refusal answers its code, is
//! counted, and changes nothing (G9, G12).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::sync::Arc;

use billing::{
    Providers,
    payhere::{PayHereConfig, PayHereProvider},
    stripe::{StripeConfig, StripeProvider},
};
use chrono::{Duration, Utc};
use db::schema::{organizations, webhook_inbox};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use ledger::Ledger;
use primitives::{Clock, Currency, OrganizationId, ProviderName, SystemClock};
use secrecy::SecretString;
use serde_json::{Value, json};
use subscriptions::{
    EventEnvelope, EventId, EventSource, NewSubscription, PlanCode, ProviderRef, SubscriptionEvent,
    SubscriptionStatus, Subscriptions, TimePrecision, lookup,
};
use testkit::{TestDb, signing};
use webhooks::{Receiver, ReceiverConfig};

const STRIPE_SECRET: &str = "whsec_receiver_tests_secret";
const MERCHANT_ID: &str = "1211149";
const MERCHANT_SECRET: &str = "receiver-tests-merchant-secret";

struct Harness {
    db: TestDb,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    organization: OrganizationId,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Harness {
    /// A receiver for Stripe (verification only) and PayHere, over a database with one
    /// organization whose subscription is billed through Stripe as `sub_1` and active.
    async fn start(configure: impl FnOnce(&mut ReceiverConfig)) -> Self {
        let db = TestDb::new().await;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let stripe = StripeProvider::new(
            StripeConfig::verification_only(vec![SecretString::from(STRIPE_SECRET.to_owned())]),
            clock.clone(),
        )
        .unwrap();
        let payhere = PayHereProvider::new(
            PayHereConfig::from_lookup(|name| match name {
                "PAYHERE_MERCHANT_ID" => Some(MERCHANT_ID.to_owned()),
                "PAYHERE_MERCHANT_SECRET" => Some(MERCHANT_SECRET.to_owned()),
                _ => None,
            })
            .unwrap()
            .unwrap(),
            clock.clone(),
        )
        .unwrap();
        let providers = Providers::none().with_stripe(stripe).with_payhere(payhere);
        let mut config = ReceiverConfig::new(SecretString::from(db.url()));
        config.body_limit_bytes = 16 * 1024;
        configure(&mut config);
        let receiver = Receiver::build(config, providers, clock.clone())
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", receiver.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(receiver.run_until(async {
            let _ = stopped.await;
        }));
        let organization = subscribed(&db, clock).await;
        Self {
            db,
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            organization,
        }
    }

    async fn post(
        &self,
        provider: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{provider}", self.base))
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.unwrap()
    }

    async fn stripe(&self, body: &[u8], signed_at: i64, secret: &str) -> reqwest::Response {
        let header = signing::stripe_signature_header(secret, signed_at, body);
        self.post(
            "stripe",
            &[
                ("stripe-signature".into(), header),
                ("content-type".into(), "application/json".into()),
            ],
            body.to_vec(),
        )
        .await
    }

    async fn inbox_rows(&self) -> i64 {
        let mut conn = self.db.conn().await;
        webhook_inbox::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    async fn status(&self) -> SubscriptionStatus {
        let mut conn = self.db.conn().await;
        lookup::current_for_organization(&mut conn, self.organization)
            .await
            .unwrap()
            .unwrap()
            .state
            .status
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn subscribed(db: &TestDb, clock: Arc<dyn Clock>) -> OrganizationId {
    let mut conn = db.conn().await;
    let organization = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(organization.as_uuid()),
            organizations::name.eq("Acme"),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    Ledger::new(clock.clone())
        .open_wallet(&mut conn, organization, Currency::USD)
        .await
        .unwrap();
    let subscriptions = Subscriptions::new(clock.clone(), Default::default());
    let envelope = |id: &str, event| EventEnvelope {
        source: EventSource::parse("admin").unwrap(),
        event_id: EventId::parse(id).unwrap(),
        // An hour ago: the provider's events (stamped now) are newer.
        occurred_at: clock.now() - Duration::hours(1),
        precision: TimePrecision::Microsecond,
        event,
    };
    let new = NewSubscription {
        organization_id: organization,
        plan: PlanCode::parse("pro").unwrap(),
        provider: Some(ProviderRef::new(ProviderName::Stripe, "sub_1").unwrap()),
    };
    let subscription = subscriptions
        .create(
            &mut conn,
            new,
            &envelope("create", SubscriptionEvent::Created),
        )
        .await
        .unwrap();
    let period_end = clock.now() + Duration::days(30);
    subscriptions
        .apply(
            &mut conn,
            subscription.id,
            &envelope("activate", SubscriptionEvent::Activated { period_end }),
        )
        .await
        .unwrap();
    organization
}

/// Stripe's `invoice.payment_failed` (the real fixture's shape) for `sub_1` of `organization`.
fn payment_failed(organization: OrganizationId, id: &str) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../billing/tests/fixtures/stripe/events/invoice.payment_failed.json"
    ))
    .unwrap();
    event["id"] = json!(id);
    event["created"] = json!(Utc::now().timestamp());
    let details = &mut event["data"]["object"]["parent"]["subscription_details"];
    details["subscription"] = json!("sub_1");
    details["metadata"]["organization_id"] = json!(organization.to_string());
    event
}

async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    body
}

#[tokio::test]
async fn a_signed_delivery_is_stored_and_applied_before_its_answer_and_a_repeat_changes_nothing() {
    let harness = Harness::start(|_| {}).await;
    let body = serde_json::to_vec(&payment_failed(harness.organization, "evt_a1")).unwrap();
    let response = harness
        .stripe(&body, Utc::now().timestamp(), STRIPE_SECRET)
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "applied");
    assert_eq!(answer["duplicate"], false);
    assert_eq!(harness.status().await, SubscriptionStatus::PastDue);

    let again = harness
        .stripe(&body, Utc::now().timestamp(), STRIPE_SECRET)
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["inbox_id"], answer["inbox_id"]);
    assert_eq!(harness.inbox_rows().await, 1);
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains(r#"webhook_deliveries_total{provider="stripe",result="duplicate"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn forged_tampered_reserialized_and_stale_deliveries_are_refused_and_change_nothing() {
    let harness = Harness::start(|_| {}).await;
    let event = payment_failed(harness.organization, "evt_b1");
    let body = serde_json::to_vec(&event).unwrap();
    let now = Utc::now().timestamp();

    let forged = harness.stripe(&body, now, "whsec_someone_else").await;
    problem(forged, 401, "WEBHOOK_BAD_SIGNATURE").await;

    let header = signing::stripe_signature_header(STRIPE_SECRET, now, &body);
    let mut tampered = event.clone();
    tampered["data"]["object"]["amount_due"] = json!(1);
    let tampered = harness
        .post(
            "stripe",
            &[("stripe-signature".into(), header.clone())],
            serde_json::to_vec(&tampered).unwrap(),
        )
        .await;
    problem(tampered, 401, "WEBHOOK_BAD_SIGNATURE").await;

    let reserialized = harness
        .post(
            "stripe",
            &[("stripe-signature".into(), header)],
            serde_json::to_vec_pretty(&event).unwrap(),
        )
        .await;
    problem(reserialized, 401, "WEBHOOK_BAD_SIGNATURE").await;

    let stale = harness.stripe(&body, now - 3600, STRIPE_SECRET).await;
    problem(stale, 401, "WEBHOOK_STALE").await;

    let unsigned = harness.post("stripe", &[], body.clone()).await;
    problem(unsigned, 400, "WEBHOOK_MISSING_HEADER").await;

    let huge = vec![b' '; 17 * 1024];
    let too_large = harness.stripe(&huge, now, STRIPE_SECRET).await;
    problem(too_large, 413, "BODY_TOO_LARGE").await;

    let empty = harness.stripe(b"", now, "whsec_someone_else").await;
    assert!(problem(empty, 401, "WEBHOOK_BAD_SIGNATURE").await["detail"].is_string());

    assert_eq!(harness.inbox_rows().await, 0);
    assert_eq!(harness.status().await, SubscriptionStatus::Active);
    let metrics = harness.metrics().await;
    for reason in [
        "WEBHOOK_BAD_SIGNATURE",
        "WEBHOOK_STALE",
        "WEBHOOK_MISSING_HEADER",
        "BODY_TOO_LARGE",
    ] {
        assert!(
            metrics.contains(&format!(
                r#"webhook_refusals_total{{provider="stripe",reason="{reason}"}}"#
            )),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn unknown_and_unconfigured_providers_are_not_found() {
    let harness = Harness::start(|_| {}).await;
    problem(
        harness.post("paypal", &[], b"{}".to_vec()).await,
        404,
        "WEBHOOK_PROVIDER_NOT_CONFIGURED",
    )
    .await;
    problem(
        harness.post("adyen", &[], b"{}".to_vec()).await,
        404,
        "WEBHOOK_PROVIDER_UNKNOWN",
    )
    .await;
    let get = harness
        .client
        .get(format!("{}/webhooks/stripe", harness.base))
        .send()
        .await
        .unwrap();
    problem(get, 405, "METHOD_NOT_ALLOWED").await;
    assert_eq!(harness.inbox_rows().await, 0);
}

#[tokio::test]
async fn payhere_notifications_are_verified_from_their_form_fields() {
    let harness = Harness::start(|_| {}).await;
    let order = format!("TOPUP-{}.n1", harness.organization);
    let notification = signing::PayHereNotification::new(
        MERCHANT_ID,
        MERCHANT_SECRET,
        &order,
        "25.00",
        "USD",
        "2",
    )
    .field("payment_id", "320025071278");
    let form = [(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let response = harness.post("payhere", &form, notification.body()).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "applied");

    // The same fields signed with another secret.
    let forged = signing::PayHereNotification::new(
        MERCHANT_ID,
        "not-the-secret",
        &order,
        "25.00",
        "USD",
        "2",
    );
    problem(
        harness.post("payhere", &form, forged.body()).await,
        401,
        "WEBHOOK_BAD_SIGNATURE",
    )
    .await;
    assert_eq!(harness.inbox_rows().await, 1);
}

#[tokio::test]
async fn a_database_that_cannot_store_the_delivery_answers_503_so_the_provider_retries() {
    let harness = Harness::start(|config| {
        config.database.source = db::DatabaseSource::Url(SecretString::from(
            "postgres://postgres@127.0.0.1:9/nothing-listens-here".to_owned(),
        ));
    })
    .await;
    let body = serde_json::to_vec(&payment_failed(harness.organization, "evt_c1")).unwrap();
    let response = harness
        .stripe(&body, Utc::now().timestamp(), STRIPE_SECRET)
        .await;
    assert_eq!(response.headers()["retry-after"], "5");
    problem(response, 503, "SERVICE_UNAVAILABLE").await;
    let ready = harness
        .client
        .get(format!("{}/readyz", harness.base))
        .send()
        .await
        .unwrap();
    problem(ready, 503, "SERVICE_UNAVAILABLE").await;
    let healthy = harness
        .client
        .get(format!("{}/healthz", harness.base))
        .send()
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
}

#[tokio::test]
async fn genuine_deliveries_over_the_listener_limits_are_refused_and_change_nothing() {
    let limits = httpkit::limits::RequestLimits {
        max_header_bytes: 4096,
        max_headers: 16,
        max_query_bytes: 128,
    };
    let harness = Harness::start(|config| config.request_limits = limits).await;
    let body = serde_json::to_vec(&payment_failed(harness.organization, "evt_limits")).unwrap();
    let signed = || {
        let header = signing::stripe_signature_header(STRIPE_SECRET, Utc::now().timestamp(), &body);
        harness
            .client
            .post(format!("{}/webhooks/stripe", harness.base))
            .header("stripe-signature", header)
            .header("content-type", "application/json")
            .body(body.clone())
    };

    let padded = signed().header("x-padding", "p".repeat(limits.max_header_bytes));
    let refused = problem(padded.send().await.unwrap(), 431, "HEADERS_TOO_LARGE").await;
    assert_eq!(refused["limit_bytes"], limits.max_header_bytes);

    let mut crowded = signed();
    for n in 0..limits.max_headers {
        crowded = crowded.header(format!("x-hop-{n}"), "1");
    }
    let refused = problem(crowded.send().await.unwrap(), 431, "TOO_MANY_HEADERS").await;
    assert_eq!(refused["limit"], limits.max_headers);

    let header = signing::stripe_signature_header(STRIPE_SECRET, Utc::now().timestamp(), &body);
    let long_query = harness
        .client
        .post(format!(
            "{}/webhooks/stripe?pad={}",
            harness.base,
            "q".repeat(limits.max_query_bytes)
        ))
        .header("stripe-signature", header)
        .body(body.clone());
    let refused = problem(long_query.send().await.unwrap(), 414, "QUERY_TOO_LONG").await;
    assert_eq!(refused["limit_bytes"], limits.max_query_bytes);

    assert_eq!(harness.inbox_rows().await, 0);
    assert_eq!(harness.status().await, SubscriptionStatus::Active);
    // Within the limits the same delivery is stored and applied.
    let stored = signed().send().await.unwrap();
    assert_eq!(stored.status(), 200);
    assert_eq!(harness.inbox_rows().await, 1);
    assert_eq!(harness.status().await, SubscriptionStatus::PastDue);
}
