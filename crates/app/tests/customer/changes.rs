//! Cancel, pause and resume: our state changes at once, in one transaction with the
//! `billing.provider` command that tells the provider, which the handler delivers exactly once.
//! A pause is the customer's own block: no payment lifts it.

use std::time::Duration;

use primitives::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::common::{ADMIN_TOKEN, assert_problem, jobs, key};
use crate::support::{STRIPE_SECRET, World, form, idempotency_key};

async fn changed(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    body
}

fn stripe_subscription(id: &str, extra: Value) -> ResponseTemplate {
    let mut body = json!({"id": id, "object": "subscription", "status": "active",
                          "customer": "cus_acme"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn cancel_at_period_end_keeps_access_and_stripe_hears_it_exactly_once() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;

    let body = json!({"at_period_end": true});
    let first = changed(
        world
            .post(acme, "/v1/subscription/cancel", "cancel-1", Some(&body))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(first["changed"], true);
    assert_eq!(first["replayed"], false);
    assert_eq!(first["subscription"]["status"], "active");
    assert_eq!(first["subscription"]["cancel_at_period_end"], true);
    assert_eq!(
        world.provider_commands(acme).await,
        [(
            "cancel_at_period_end".into(),
            "sub_1".into(),
            "pending".into()
        )]
    );

    // A retry: the first answer, nothing new.
    let before = world.written().await;
    let again = world
        .post(acme, "/v1/subscription/cancel", "cancel-1", Some(&body))
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = changed(again, StatusCode::OK).await;
    assert_eq!(
        (&again["changed"], &again["replayed"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(world.written().await, before);

    // The handler tells Stripe, with the command's own key, once.
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {STRIPE_SECRET}").as_str(),
        ))
        .and(form(&[
            ("cancel_at_period_end", "true"),
            (
                "cancellation_details[comment]",
                "canceled by the customer at the end of the period",
            ),
        ]))
        .respond_with(stripe_subscription(
            "sub_1",
            json!({"cancel_at_period_end": true}),
        ))
        .expect(1)
        .mount(&world.stripe)
        .await;
    let report = world.deliver_provider_commands().await;
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    let report = world.deliver_provider_commands().await;
    assert_eq!(report.claimed, 0, "{report:?}");
    let sent = World::received(&world.stripe, "POST", "/v1/subscriptions/sub_1").await;
    assert_eq!(sent.len(), 1);
    assert!(
        idempotency_key(&sent[0]).starts_with("cancel_at_period_end:"),
        "{}",
        idempotency_key(&sent[0])
    );
    assert_eq!(
        world.provider_commands(acme).await,
        [(
            "cancel_at_period_end".into(),
            "sub_1".into(),
            "delivered".into()
        )]
    );

    // Scheduling it again with another key: nothing to change, nothing to tell.
    let more = changed(
        world
            .post(acme, "/v1/subscription/cancel", "cancel-2", Some(&body))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(more["changed"], false);
    assert_eq!(world.provider_commands(acme).await.len(), 1);
}

#[tokio::test]
async fn cancel_now_ends_it_and_canceling_again_changes_nothing() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    // No body means now.
    let done = changed(
        world
            .post(acme, "/v1/subscription/cancel", "now", None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(done["subscription"]["status"], "canceled");
    assert_eq!(
        world.provider_commands(acme).await,
        [("cancel".into(), "sub_1".into(), "pending".into())]
    );
    let again = changed(
        world
            .post(acme, "/v1/subscription/cancel", "now-2", None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again["changed"], false);
    assert_eq!(world.provider_commands(acme).await.len(), 1);

    // Stripe deletes it, once, with the reason.
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(wiremock::matchers::query_param(
            "cancellation_details[comment]",
            "canceled by the customer",
        ))
        .respond_with(stripe_subscription("sub_1", json!({"status": "canceled"})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    assert_eq!(world.deliver_provider_commands().await.delivered, 1);
    assert_eq!(world.deliver_provider_commands().await.claimed, 0);
}

#[tokio::test]
async fn a_pause_is_the_customers_block_and_no_payment_lifts_it() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;

    let paused = changed(
        world
            .post(acme, "/v1/subscription/pause", "pause-1", None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(paused["subscription"]["status"], "paused");
    assert_eq!(world.block_sources(acme).await, ["customer"]);
    let sending: Value = world
        .get(acme, "/v1/entitlements/send_messages")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sending["allowed"], false, "{sending}");

    // Stripe stops collecting, told once.
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(form(&[("pause_collection[behavior]", "void")]))
        .respond_with(stripe_subscription(
            "sub_1",
            json!({"pause_collection": {"behavior": "void"}}),
        ))
        .expect(1)
        .mount(&world.stripe)
        .await;
    assert_eq!(world.deliver_provider_commands().await.delivered, 1);

    // A payment arrives anyway (an invoice paid before the pause reached Stripe), and Stripe
    // echoes the pause as an update of an active subscription: the pause stays, the period
    // is extended.
    let period_before: Value = world
        .get(acme, "/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    world.app.clock.advance(chrono::Duration::seconds(5));
    let paid = world.invoice_paid(acme, "sub_1", "evt_paid_while_paused", 60);
    assert_eq!(world.stripe_webhook(&paid).await.status(), 200);
    let now = world.app.clock.now().timestamp();
    let echo = json!({"id": "evt_pause_echo", "object": "event",
        "type": "customer.subscription.updated", "created": now,
        "data": {"object": {"id": "sub_1", "object": "subscription", "status": "active",
            "customer": "cus_acme", "metadata": {"organization_id": acme.id},
            "current_period_end": now + 60 * 86_400}}});
    assert_eq!(world.stripe_webhook(&echo).await.status(), 200);
    let after: Value = world
        .get(acme, "/v1/subscription")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["status"], "paused", "{after}");
    assert!(
        after["current_period_end"].as_str() > period_before["current_period_end"].as_str(),
        "{after}"
    );
    assert_eq!(world.block_sources(acme).await, ["customer"]);

    // Resuming lifts it, and Stripe collects again.
    let resumed = changed(
        world
            .post(acme, "/v1/subscription/resume", "resume-1", None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(resumed["subscription"]["status"], "active");
    assert!(world.block_sources(acme).await.is_empty());
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(form(&[("pause_collection", "")]))
        .respond_with(stripe_subscription("sub_1", json!({})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    assert_eq!(world.deliver_provider_commands().await.delivered, 1);
    let commands = world.provider_commands(acme).await;
    let actions: Vec<&str> = commands
        .iter()
        .map(|(action, _, _)| action.as_str())
        .collect();
    assert_eq!(actions, ["pause", "resume"]);
}

#[tokio::test]
async fn a_pause_and_resume_queued_together_send_only_what_still_holds() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    for (path, key) in [
        ("/v1/subscription/pause", "p"),
        ("/v1/subscription/resume", "r"),
    ] {
        changed(world.post(acme, path, key, None).await, StatusCode::CREATED).await;
    }
    // Only the resume still matches our state; the pause is superseded, never sent.
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(form(&[("pause_collection", "")]))
        .respond_with(stripe_subscription("sub_1", json!({})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    let report = world.deliver_provider_commands().await;
    assert_eq!((report.claimed, report.delivered), (2, 2), "{report:?}");
    assert!(
        World::received(&world.stripe, "POST", "/v1/subscriptions/sub_1")
            .await
            .iter()
            .all(|request| !String::from_utf8_lossy(&request.body).contains("void")),
        "the superseded pause reached Stripe"
    );
}

#[tokio::test]
async fn refusals_and_conflicts_change_nothing() {
    let world = World::new().await;
    let acme = &world.acme;
    // No subscription at all.
    let before = world.written().await;
    assert_problem(
        world
            .post(acme, "/v1/subscription/pause", &key(), None)
            .await,
        404,
        "SUBSCRIPTION_NOT_FOUND",
    )
    .await;
    assert_eq!(world.written().await, before);

    // Pending: cannot pause; resume of a non-paused one: conflict too.
    world.started_with_stripe(acme, "sub_pending").await;
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription/pause", &key(), None)
            .await,
        409,
        "SUBSCRIPTION_STATE_CONFLICT",
    )
    .await;
    assert_eq!(problem["subscription_status"], "pending");
    assert_problem(
        world
            .post(acme, "/v1/subscription/resume", &key(), None)
            .await,
        409,
        "SUBSCRIPTION_STATE_CONFLICT",
    )
    .await;
    // A body that is not the cancel's shape.
    assert_problem(
        world
            .post(
                acme,
                "/v1/subscription/cancel",
                &key(),
                Some(&json!({"when": "now"})),
            )
            .await,
        422,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(world.written().await, before);

    // Active: the key of a pause cannot resume.
    let paid = world.invoice_paid(acme, "sub_pending", "evt_paid", 30);
    assert_eq!(world.stripe_webhook(&paid).await.status(), 200);
    changed(
        world.post(acme, "/v1/subscription/pause", "k1", None).await,
        StatusCode::CREATED,
    )
    .await;
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription/resume", "k1", None)
            .await,
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("pausing"),
        "{problem}"
    );
    assert_eq!(world.written().await, before);
    // Pausing a paused subscription with a new key: 201, unchanged, nothing to tell.
    let again = changed(
        world.post(acme, "/v1/subscription/pause", "k2", None).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(again["changed"], false);
    assert_eq!(world.provider_commands(acme).await.len(), 1);
}

#[tokio::test]
async fn payhere_cannot_pause_and_a_manual_subscription_tells_no_provider() {
    let world = World::new().await;
    let acme = &world.acme;
    world
        .admin_subscribed(acme, Some(("payhere", "420075032251")))
        .await;
    let before = world.written().await;
    let problem = assert_problem(
        world
            .post(acme, "/v1/subscription/pause", &key(), None)
            .await,
        422,
        "PROVIDER_OPERATION_UNSUPPORTED",
    )
    .await;
    assert_eq!(problem["provider"], "payhere");
    assert_eq!(world.written().await, before);
    // Canceling it is told to PayHere.
    changed(
        world
            .post(acme, "/v1/subscription/cancel", &key(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        world.provider_commands(acme).await,
        [("cancel".into(), "420075032251".into(), "pending".into())]
    );

    let globex = world.app.org_with_key("Globex").await;
    world.admin_subscribed(&globex, None).await;
    for (path, status) in [
        ("/v1/subscription/pause", "paused"),
        ("/v1/subscription/resume", "active"),
        ("/v1/subscription/cancel", "canceled"),
    ] {
        let body = changed(
            world.post(&globex, path, &key(), None).await,
            StatusCode::CREATED,
        )
        .await;
        assert_eq!(body["subscription"]["status"], status);
    }
    assert!(world.provider_commands(&globex).await.is_empty());
}

#[tokio::test]
async fn the_admin_acts_for_any_organization_even_a_blocked_one() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    // An operator's block stands in the way of the paid features, not of these actions (G6).
    let path = format!("/v1/admin/organizations/{}/access-blocks", acme.id);
    let block = json!({"reason": "fraud review"});
    assert_eq!(
        world
            .post_as(ADMIN_TOKEN, &path, &key(), Some(&block))
            .await
            .status(),
        200
    );
    let pause = format!("/v1/admin/organizations/{}/subscription/pause", acme.id);
    assert_problem(
        world.post(acme, &pause, &key(), None).await,
        403,
        "ADMIN_REQUIRED",
    )
    .await;
    let paused = changed(
        world
            .post_as(ADMIN_TOKEN, &pause, "admin-pause", None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(paused["subscription"]["status"], "paused");
    assert_eq!(world.block_sources(acme).await, ["admin", "customer"]);
    // The organization resumes by itself; the admin block stays.
    changed(
        world
            .post(acme, "/v1/subscription/resume", &key(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(world.block_sources(acme).await, ["admin"]);
    let cancel = format!("/v1/admin/organizations/{}/subscription/cancel", acme.id);
    let canceled = changed(
        world
            .post_as(
                ADMIN_TOKEN,
                &cancel,
                &key(),
                Some(&json!({"at_period_end": false})),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(canceled["subscription"]["status"], "canceled");
    // The admin's history shows the customer's source.
    let history: Value = world
        .admin_get(&format!(
            "/v1/admin/organizations/{}/subscription/history",
            acme.id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["transitions"][0]["source"], "customer", "{history}");
}

#[tokio::test]
async fn provider_refusals_dead_letter_and_outages_retry() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    changed(
        world
            .post(acme, "/v1/subscription/cancel", &key(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    // Stripe is down: the command waits for its next attempt.
    let outage = Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount_as_scoped(&world.stripe)
        .await;
    let report = world.deliver_provider_commands().await;
    assert_eq!(report.retried, 1, "{report:?}");
    drop(outage);
    let [(status, error, attempts)] = world
        .provider_command_errors(acme)
        .await
        .try_into()
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 1));
    assert!(error.unwrap().contains("stripe"), "no error recorded");

    // Stripe refuses for good (and its subscription is not canceled): a dead letter saying so.
    world.app.clock.advance(chrono::Duration::hours(2));
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "resource_missing",
            "message": "No such subscription: 'sub_1'"}})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(stripe_subscription("sub_1", json!({})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    let report = world.deliver_provider_commands().await;
    assert_eq!(report.dead, 1, "{report:?}");
    let [(status, error, _)] = world
        .provider_command_errors(acme)
        .await
        .try_into()
        .unwrap();
    assert_eq!(status, "dead");
    let error = error.unwrap();
    assert!(
        error.contains("cancel sub_1") && error.contains("resource_missing"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refusal_of_what_is_done_already_counts_as_delivered() {
    let world = World::new().await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    changed(
        world
            .post(acme, "/v1/subscription/cancel", &key(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "subscription_canceled"}})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/subscriptions/sub_1"))
        .respond_with(stripe_subscription("sub_1", json!({"status": "canceled"})))
        .expect(1)
        .mount(&world.stripe)
        .await;
    assert_eq!(world.deliver_provider_commands().await.delivered, 1);
}

#[tokio::test]
async fn the_worker_delivers_provider_commands_from_the_outbox() {
    let world = World::with(|config| {
        jobs(config).intervals.messaging_outbox = Some(Duration::from_millis(50));
    })
    .await;
    let acme = &world.acme;
    world.active_with_stripe(acme, "sub_1").await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions/sub_1"))
        .and(form(&[("pause_collection[behavior]", "void")]))
        .respond_with(stripe_subscription(
            "sub_1",
            json!({"pause_collection": {"behavior": "void"}}),
        ))
        .expect(1)
        .mount(&world.stripe)
        .await;
    changed(
        world
            .post(acme, "/v1/subscription/pause", &key(), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    for _ in 0..200 {
        let commands = world.provider_commands(acme).await;
        if commands.iter().all(|(_, _, status)| status == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        world.provider_commands(acme).await,
        [("pause".into(), "sub_1".into(), "delivered".into())]
    );
    // More runs change nothing: it was sent once (wiremock checks `expect(1)` on drop).
    tokio::time::sleep(Duration::from_millis(300)).await;
}
