//! The customer's console pages over HTTP, signed in through the real sign-in form, against a
//! real database: the wallet card, the campaign send dialog and its start (once, however often
//! the form is posted), another organization's campaign, forged posts, the subscription panel.
//! Pages are read by their elements' ids.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test set-up helpers: a panic is how a test reports failure"
)]

#[expect(dead_code, reason = "these tests need only part of the shared helpers")]
mod common;
#[path = "common/console.rs"]
#[expect(
    dead_code,
    reason = "the customer pages need only part of the console client"
)]
mod console;
#[path = "campaigns/support.rs"]
#[expect(
    dead_code,
    reason = "these tests need only part of the campaign helpers"
)]
mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{ADMIN_TOKEN, Org, TestApp};
use console::Console;

// ---------------------------------------------------------------------------------------------
// The browser (`common/console.rs`), signed in

/// A browser signed in with `key` through the sign-in form, as a person would.
async fn signed_in(app: &TestApp, key: &str) -> Console {
    let mut browser = Console::new(app);
    let signed = browser.sign_in(key).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    assert_eq!(signed.location.as_deref(), Some("/console/wallet"));
    browser
}

/// A page that must be there.
async fn ok_page(browser: &mut Console, path: &str) -> String {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
    page.html
}

// ---------------------------------------------------------------------------------------------
// Reading pages by element ids

/// The opening tag of the element with `id`.
fn opening_tag<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..=end])
}

/// The inner HTML of the element with `id` (nested elements of the same name included).
fn inner<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let tag = opening_tag(html, id)?;
    let name: String = tag[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let content_start = html.find(tag)? + tag.len();
    let (open, close) = (format!("<{name}"), format!("</{name}>"));
    let mut depth = 1;
    let mut at = content_start;
    loop {
        let next_close = at + html[at..].find(&close)?;
        match html[at..next_close].find(&open) {
            Some(offset) => {
                depth += 1;
                at += offset + open.len();
            }
            None => {
                depth -= 1;
                if depth == 0 {
                    return Some(&html[content_start..next_close]);
                }
                at = next_close + close.len();
            }
        }
    }
}

/// The text of the element with `id`, tags removed and spaces collapsed.
fn text(html: &str, id: &str) -> String {
    let inner = inner(html, id).unwrap_or_else(|| panic!("no #{id} in {html}"));
    let mut out = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn has(html: &str, id: &str) -> bool {
    opening_tag(html, id).is_some()
}

/// The value of the (first) input named `name`.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"))
        + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// How many `<li` the element with `id` holds.
fn items(html: &str, id: &str) -> usize {
    inner(html, id).unwrap().matches("<li").count()
}

/// The `data-code` of each item of `ul#send-blockers`.
fn blocker_codes(html: &str) -> Vec<String> {
    inner(html, "send-blockers")
        .unwrap()
        .split("data-code=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

fn start_disabled(html: &str) -> bool {
    opening_tag(html, "start-campaign")
        .unwrap()
        .contains(" disabled")
}

// ---------------------------------------------------------------------------------------------
// Set-up

async fn admin_freeze(app: &TestApp, organization_id: &str, source: &str, reason: &str) {
    let response = app
        .client
        .post(app.wallet_url(organization_id, "/freeze"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"reason": reason, "source": source}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn campaign_path(campaign: &Value) -> String {
    format!("/console/campaigns/{}", campaign["id"].as_str().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn pages_without_a_session_redirect_to_sign_in_and_change_nothing() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut browser = Console::new(&app);
    for path in [
        "/console/wallet",
        "/console/campaigns",
        "/console/subscription",
        "/console/campaigns/0193a7a0-0000-7000-8000-000000000000",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location.as_deref(), Some("/console/sign-in"), "{path}");
    }
    // A post without a session is sent to sign in too, and does nothing.
    let before = app.campaign_books().await;
    let page = browser
        .post(
            "/console/campaigns/0193a7a0-0000-7000-8000-000000000000/start",
            &[("csrf", "x"), ("idempotency_key", "k")],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/console/sign-in"));
    assert_eq!(app.campaign_books().await, before);
    // A key that is not accepted opens no session.
    let mut stranger = Console::new(&app);
    let refused = stranger.sign_in(&format!("{}x", org.key)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(
        stranger
            .cookies
            .iter()
            .all(|(name, _)| name != "console_session")
    );
}

#[tokio::test]
async fn the_wallet_card_shows_the_api_figures_entries_and_chart() {
    let app = TestApp::spawn().await;
    let org = app.org_with_key("Acme").await;
    let mut browser = signed_in(&app, &org.key).await;

    let empty = ok_page(&mut browser, "/console/wallet").await;
    assert_eq!(text(&empty, "wallet-balance"), "0.00 USD");
    assert!(has(&empty, "balance-chart-empty"));
    assert!(!has(&empty, "balance-chart"));
    assert!(!has(&empty, "wallet-entries"));

    app.fund(&org.id, "25.00").await;
    app.open_hold(&org, &common::key(), "5.00").await;
    let html = ok_page(&mut browser, "/console/wallet").await;
    let api = app.wallet(&org.id).await;
    assert_eq!(text(&html, "wallet-balance"), "25.00 USD");
    assert_eq!(text(&html, "wallet-held"), "5.00 USD");
    assert_eq!(text(&html, "wallet-available"), "20.00 USD");
    assert_eq!(
        text(&html, "wallet-available"),
        format!(
            "{} {}",
            api["available"].as_str().unwrap(),
            api["currency"].as_str().unwrap()
        )
    );
    assert_eq!(text(&html, "wallet-frozen"), "not frozen");
    assert_eq!(items(&html, "wallet-entries"), 0);
    let rows = inner(&html, "wallet-entries")
        .unwrap()
        .matches("<tr>")
        .count();
    assert_eq!(rows, 3, "a header row and the credit and hold entries");
    assert!(text(&html, "wallet-entries").contains("credit"));
    let chart = inner(&html, "balance-chart").unwrap();
    assert!(chart.contains("<polyline points=\""));
    assert_eq!(text(&html, "chart-max"), "25.00 USD");

    admin_freeze(&app, &org.id, "risk", "chargeback under review").await;
    let html = ok_page(&mut browser, "/console/wallet").await;
    assert_eq!(text(&html, "wallet-frozen"), "frozen");
    let freezes = text(&html, "wallet-freezes");
    assert!(
        freezes.starts_with("risk : chargeback under review (by admin"),
        "{freezes}"
    );
}

#[tokio::test]
async fn the_send_dialog_lists_every_reason_and_disables_start_until_it_can_send() {
    let app = TestApp::campaigns_app().await;
    // Funded with less than three messages cost.
    let (org, _, campaign) = app.ready_campaign("Acme", "0.10", 1, 3).await;
    let mut browser = signed_in(&app, &org.key).await;
    let path = campaign_path(&campaign);

    let html = ok_page(&mut browser, &path).await;
    assert_eq!(text(&html, "recipients-count"), "3");
    assert_eq!(text(&html, "estimated-cost"), "0.15 USD");
    assert_eq!(blocker_codes(&html), ["INSUFFICIENT_FUNDS"]);
    assert!(text(&html, "send-blockers").contains("0.10 USD"));
    assert!(start_disabled(&html));

    admin_freeze(&app, &org.id, "admin", "manual review").await;
    let html = ok_page(&mut browser, &path).await;
    assert_eq!(
        blocker_codes(&html),
        ["FROZEN_WALLET", "INSUFFICIENT_FUNDS"]
    );
    assert!(start_disabled(&html));

    // The API agrees: starting is refused with the same reasons.
    let refused = app
        .start(&org, campaign["id"].as_str().unwrap(), &common::key())
        .await;
    let problem: Value = refused.json().await.unwrap();
    let codes: Vec<&str> = problem["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["FROZEN_WALLET", "INSUFFICIENT_FUNDS"], "{problem}");

    // One that can send: no reason, an enabled button.
    let (ready, _, campaign) = app.ready_campaign("Ready", "10.00", 2, 3).await;
    let mut browser = signed_in(&app, &ready.key).await;
    let html = ok_page(&mut browser, &campaign_path(&campaign)).await;
    assert_eq!(items(&html, "send-blockers"), 0);
    assert!(has(&html, "send-ready"));
    assert!(!start_disabled(&html));
    assert_eq!(text(&html, "estimated-cost"), "0.15 USD");

    // The list links to it.
    let list = ok_page(&mut browser, "/console/campaigns").await;
    let row = format!("campaign-{}", campaign["id"].as_str().unwrap());
    assert!(
        text(&list, &row).contains("Spring sale draft 3"),
        "{}",
        text(&list, &row)
    );
}

#[tokio::test]
async fn a_campaign_without_recipients_cannot_start() {
    let app = TestApp::campaigns_app().await;
    let org = app.subscribed("Acme").await;
    app.fund(&org.id, "10.00").await;
    let brand = app.create_brand(&org, &support::subaccount(1)).await;
    let campaign = app.create_campaign(&org, &brand).await;
    let mut browser = signed_in(&app, &org.key).await;
    let html = ok_page(&mut browser, &campaign_path(&campaign)).await;
    assert_eq!(blocker_codes(&html), ["NO_RECIPIENTS"]);
    assert!(start_disabled(&html));
}

#[tokio::test]
async fn starting_twice_with_the_same_form_starts_the_campaign_once() {
    let app = TestApp::campaigns_app().await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 3).await;
    let id = campaign["id"].as_str().unwrap();
    let mut browser = signed_in(&app, &org.key).await;
    let path = campaign_path(&campaign);
    let html = ok_page(&mut browser, &path).await;
    let csrf = field(&html, "csrf");
    let key = field(&html, "idempotency_key");
    let start = format!("{path}/start");
    let form = [("csrf", csrf.as_str()), ("idempotency_key", key.as_str())];

    let first = browser.post(&start, &form).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    assert_eq!(
        first.location.as_deref(),
        Some(format!("{path}?done=campaign%20started").as_str())
    );
    let after_first = app.campaign_books().await;
    let second = browser.post(&start, &form).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert!(
        second
            .location
            .unwrap()
            .contains("done=the%20campaign%20was%20started%20by%20this%20form%20already")
    );
    assert_eq!(
        app.campaign_books().await,
        after_first,
        "the second post changed nothing"
    );

    let summary = app.summary(&org, id).await;
    assert_eq!(summary["campaign"]["status"], "running");
    assert_eq!(summary["money"]["held"], "0.15");
    assert_eq!(after_first.campaign_holds, 1);
    let wallet = app.wallet(&org.id).await;
    assert_eq!(wallet["held"], "0.15");

    // The page now says why it cannot start again.
    let html = ok_page(&mut browser, &format!("{path}?done=campaign%20started")).await;
    assert_eq!(text(&html, "notice"), "Done: campaign started");
    assert_eq!(blocker_codes(&html), ["CAMPAIGN_STATE_CONFLICT"]);
    assert!(start_disabled(&html));
}

#[tokio::test]
async fn another_organizations_campaign_is_not_found_and_shows_nothing() {
    let app = TestApp::campaigns_app().await;
    let (owner, _, campaign) = app.ready_campaign("Owner", "10.00", 1, 3).await;
    let other = app.subscribed("Other").await;
    let mut browser = signed_in(&app, &other.key).await;
    let path = campaign_path(&campaign);
    let api_answer = app
        .org_get(
            &other.key,
            &owner.id,
            &format!("/campaigns/{}", campaign["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(api_answer.status(), StatusCode::NOT_FOUND);

    for path in [path.as_str(), "/console/campaigns/not-a-uuid"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(text(&page.html, "problem-code"), "CAMPAIGN_NOT_FOUND");
        assert!(
            !page.html.contains("Spring sale"),
            "{path} showed the campaign"
        );
        assert!(!page.html.contains(&owner.id));
    }

    // Starting it through the console is the same 404, and nothing changes.
    let own = ok_page(&mut browser, "/console/campaigns").await;
    let csrf = field(&own, "csrf");
    let before = app.campaign_books().await;
    let page = browser
        .post(
            &format!("{path}/start"),
            &[("csrf", &csrf), ("idempotency_key", "k-1")],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(text(&page.html, "problem-code"), "CAMPAIGN_NOT_FOUND");
    assert_eq!(app.campaign_books().await, before);
    assert!(
        has(&own, "no-campaigns"),
        "the other organization lists none of it"
    );
}

#[tokio::test]
async fn forged_posts_are_refused_and_change_nothing() {
    let app = TestApp::campaigns_app().await;
    let (org, _, campaign) = app.ready_campaign("Acme", "10.00", 1, 3).await;
    let mut browser = signed_in(&app, &org.key).await;
    let path = campaign_path(&campaign);
    let html = ok_page(&mut browser, &path).await;
    let key = field(&html, "idempotency_key");
    let start = format!("{path}/start");
    let before = app.campaign_books().await;

    let wrong = "A".repeat(43);
    for fields in [
        vec![("idempotency_key", key.as_str())],
        vec![("csrf", wrong.as_str()), ("idempotency_key", key.as_str())],
        vec![("csrf", ""), ("idempotency_key", key.as_str())],
    ] {
        let page = browser.post(&start, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert_eq!(text(&page.html, "problem-code"), "CSRF_REFUSED");
    }
    // The right token from another site is refused too.
    let csrf = field(&html, "csrf");
    let page = browser
        .post_from_elsewhere(
            &start,
            &[("csrf", csrf.as_str()), ("idempotency_key", key.as_str())],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(text(&page.html, "problem-code"), "CSRF_REFUSED");
    assert_eq!(app.campaign_books().await, before);
    let summary = app.summary(&org, campaign["id"].as_str().unwrap()).await;
    assert_eq!(summary["campaign"]["status"], "draft");
}

#[tokio::test]
async fn the_subscription_panel_shows_status_and_the_dunning_timeline() {
    let app = TestApp::campaigns_app().await;
    let bare = app.org_with_key("Bare").await;
    let mut browser = signed_in(&app, &bare.key).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    assert!(has(&html, "no-subscription"));
    // No provider is configured in the tests: no top-up form, and it says so.
    assert!(has(&html, "no-providers"));
    assert!(!has(&html, "top-up"));

    let org = app.subscribed("Acme").await;
    let mut browser = signed_in(&app, &org.key).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    assert_eq!(text(&html, "subscription-status"), "active");
    assert_eq!(text(&html, "subscription-plan"), "pro");
    assert!(has(&html, "no-dunning"));
    assert!(
        has(&html, "payment-method-unavailable"),
        "billed by hand: no link"
    );

    app.fail_payment(&org.id).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    assert_eq!(text(&html, "subscription-status"), "past_due");
    let timeline = text(&html, "dunning-timeline");
    assert!(
        timeline.contains("Payment failed (payment failed)"),
        "{timeline}"
    );
    assert!(timeline.contains("Retry 1 of 3 next"), "{timeline}");
    assert!(timeline.contains("(day 10) Suspension"), "{timeline}");
    assert_eq!(items(&html, "dunning-timeline"), 5);
}

#[tokio::test]
async fn a_top_up_without_a_configured_provider_is_refused_on_the_page() {
    let app = TestApp::spawn().await;
    let org: Org = app.org_with_key("Acme").await;
    let mut browser = signed_in(&app, &org.key).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    let csrf = field(&html, "csrf");
    let page = browser
        .post(
            "/console/top-ups",
            &[
                ("csrf", &csrf),
                ("idempotency_key", "console-k1"),
                ("amount", "25.00"),
                ("provider", "stripe"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let location = page.location.unwrap();
    assert_eq!(
        location,
        "/console/subscription?refused=PROVIDER_NOT_CONFIGURED"
    );
    let html = ok_page(&mut browser, &location).await;
    assert_eq!(text(&html, "notice"), "Refused: PROVIDER_NOT_CONFIGURED");
}

/// An app with Stripe (on a loopback fake) as its only provider, and top-up limits in USD;
/// `public_url`: `CONSOLE_PUBLIC_URL`.
async fn with_stripe(public_url: Option<&str>) -> (TestApp, wiremock::MockServer) {
    let public_url = public_url.map(str::to_owned);
    let stripe = wiremock::MockServer::start().await;
    let pairs = [
        ("STRIPE_WEBHOOK_SECRETS", "whsec_console".to_owned()),
        ("STRIPE_SECRET_KEY", "sk_test_console".to_owned()),
        ("STRIPE_API_BASE_URL", stripe.uri()),
    ];
    let mut providers = billing::ProvidersConfig::from_lookup(|name| {
        pairs
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    providers.stripe.as_mut().unwrap().retry = billing::http::RetryPolicy::ONCE;
    let app = TestApp::spawn_with(testkit::TestDb::new().await, move |config| {
        config.services.providers = providers;
        config.services.customer.top_up_limits =
            enforcement::customer::TopUpLimits::parse("USD:5.00-500.00").unwrap();
        config.console.public_url = public_url;
    })
    .await;
    (app, stripe)
}

#[tokio::test]
async fn a_top_up_goes_through_the_api_once_and_shows_where_to_pay() {
    let (app, stripe) = with_stripe(None).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/checkout/sessions"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_console_1", "object": "checkout.session", "mode": "payment",
            "payment_status": "unpaid", "amount_total": 2500, "currency": "usd",
            "url": "https://checkout.stripe.com/c/pay/cs_console_1",
            "expires_at": primitives::Clock::now(&app.clock).timestamp() + 3600
        })))
        .mount(&stripe)
        .await;
    let org = app.org_with_key("Acme").await;
    let mut browser = signed_in(&app, &org.key).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    let select = inner(&html, "top-up-provider").unwrap();
    assert_eq!(
        select.matches("<option").count(),
        1,
        "only the configured provider"
    );
    assert!(select.contains("value=\"stripe\""));
    assert!(text(&html, "top-up").contains("from 5.00 USD to 500.00 USD"));

    let top_up_form = inner(&html, "top-up").unwrap();
    let csrf = field(top_up_form, "csrf");
    let key = field(top_up_form, "idempotency_key");
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("amount", "25.00"),
        ("provider", "stripe"),
    ];
    let first = browser.post("/console/top-ups", &fields).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    let location = first.location.unwrap();
    assert!(
        location.starts_with("/console/subscription?top_up="),
        "{location}"
    );
    let again = browser.post("/console/top-ups", &fields).await;
    assert_eq!(
        again.location.as_deref(),
        Some(location.as_str()),
        "the same top-up"
    );
    let requests = stripe.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    // Without CONSOLE_PUBLIC_URL, Stripe sends the customer back to the host they came from.
    let sent = String::from_utf8_lossy(&requests[0].body).into_owned();
    let back = format!("{}/console/subscription", app.base);
    assert!(
        sent.contains(&format!("success_url={}", urlencoding(&back))),
        "{sent}"
    );

    let html = ok_page(&mut browser, &location).await;
    assert!(text(&html, "top-up-started").contains("25.00 USD"));
    let link = opening_tag(&html, "top-up-approval").unwrap();
    assert!(link.contains("href=\"https://checkout.stripe.com/c/pay/cs_console_1\""));
    // Nothing is credited by starting a top-up.
    assert_eq!(app.wallet(&org.id).await["balance"], "0.00");
}

#[tokio::test]
async fn the_payment_method_link_is_the_providers_page_shown_as_a_link() {
    let (app, stripe) = with_stripe(Some("https://billing.example.com")).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/v1/subscriptions/sub_1"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_acme"
        })))
        .mount(&stripe)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/billing_portal/sessions"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "id": "bps_1", "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/session/test_1"
        })))
        .mount(&stripe)
        .await;
    let org = app.org_with_key("Acme").await;
    let response = app
        .client
        .post(app.url(&format!("/v1/admin/organizations/{}/subscriptions", org.id)))
        .bearer_auth(ADMIN_TOKEN)
        .header("Idempotency-Key", common::key())
        .json(&json!({"plan": "pro", "provider": "stripe", "provider_subscription_id": "sub_1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    let mut browser = signed_in(&app, &org.key).await;
    let html = ok_page(&mut browser, "/console/subscription").await;
    assert_eq!(text(&html, "subscription-status"), "pending");
    let link_form = inner(&html, "payment-method-form").unwrap();
    let csrf = field(link_form, "csrf");
    let key = field(link_form, "idempotency_key");
    let fields = [("csrf", csrf.as_str()), ("idempotency_key", key.as_str())];
    for _ in 0..2 {
        let page = browser
            .post("/console/subscription/payment-method", &fields)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let link = opening_tag(&page.html, "payment-method-url").unwrap();
        assert!(link.contains("href=\"https://billing.stripe.com/p/session/test_1\""));
    }
    let portal_calls = stripe
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path() == "/v1/billing_portal/sessions")
        .count();
    assert_eq!(
        portal_calls, 1,
        "the second post was answered from the first"
    );
    // With CONSOLE_PUBLIC_URL, the customer comes back there, whatever Host the request had.
    let portal = stripe
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|request| request.url.path() == "/v1/billing_portal/sessions")
        .unwrap();
    let sent = String::from_utf8_lossy(&portal.body).into_owned();
    assert!(
        sent.contains(&format!(
            "return_url={}",
            urlencoding("https://billing.example.com/console/subscription")
        )),
        "{sent}"
    );
}

/// A form field's value as Stripe's form encoding writes it.
fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
