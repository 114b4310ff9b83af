//! The console in a real browser (headless Chromium through WebDriver) against the built
//! binaries: a customer signs in with the keyboard, reads the wallet, watches the send button
//! become disabled with its reasons after a payment-failure webhook and enabled again after a
//! payment, and starts the campaign; an operator reads the health report and re-applies a
//! failed inbox event, and the history shows who did it. Every page is screenshotted under
//! `target/console-screenshots/`.

use chrono::Utc;
use e2e::{
    Org, Stack, StackOptions,
    browser::{Browser, Key, Screen},
    events::{paypal, stripe::Invoice},
    fakes::{paypal::PayPalSubscriptionView, twilio},
    stack::{numbers, text},
};

/// Tall enough that each page's screenshot shows all of it.
const FULL_PAGE: Screen = Screen {
    width: 1280,
    height: 1500,
    phone: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_follows_payments_and_lets_an_operator_reapply_a_failed_event() {
    // No worker: the failed inbox event waits for the operator instead of the inbox job, and
    // the campaign this test starts is not dispatched (nothing here is about sending).
    let stack = Stack::start(StackOptions {
        defer_workers: true,
        ..StackOptions::default()
    })
    .await;
    let org = stack.create_org("Acme Console", "USD").await;
    let (first, now) = subscribe(&stack, &org, "sub_E2eConsole000001", "in_E2eConsoleInv001").await;
    stack.credit(&org, "50.00", "USD").await;
    let brand = stack.create_brand(&org, &twilio::subaccount(0xC0C0)).await;
    let campaign = stack
        .create_campaign(&org, &text(&brand["id"]), "Spring sale", &numbers(100, 3))
        .await;

    let browser = Browser::with_screen(&stack.api_url, FULL_PAGE).await;

    // Signing in with the keyboard only: the key field has the focus, Enter submits.
    browser.goto("/console/sign-in").await;
    assert!(browser.is_focused("#api_key").await);
    browser.screenshot("sign-in").await;
    browser.fill("#api_key", &org.key).await;
    browser.press(&[Key::Enter]).await;
    browser.find("#wallet-balance").await;
    assert_eq!(browser.path().await, "/console/wallet");
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name().ends_with("console_session"))
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    // fantoccini does not re-export the cookie crate's `SameSite`.
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    // Production settings (DATABASE_URL set): Secure, host-bound.
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.name(), "__Host-console_session");
    // The session token joins the secrets no process may log (checked when the stack stops).
    stack.secrets.add(session.value());

    // The wallet card.
    assert!(browser.text("#wallet-balance").await.contains("50.00"));
    assert!(
        browser
            .text("#wallet-frozen")
            .await
            .to_lowercase()
            .contains("not frozen")
    );
    assert!(browser.exists("#wallet-entries tbody tr").await);
    assert!(browser.exists("svg#balance-chart").await);
    browser.screenshot("wallet").await;

    browser.goto("/console/campaigns").await;
    browser
        .find(&format!("a[href='/console/campaigns/{campaign}']"))
        .await;
    browser.screenshot("campaigns").await;

    // The send dialog: nothing stops the campaign.
    let dialog = format!("/console/campaigns/{campaign}");
    browser.goto(&dialog).await;
    browser.find("#start-campaign").await;
    assert!(!browser.is_disabled("#start-campaign").await);
    assert!(!browser.exists("#send-blockers li").await);
    assert!(browser.text("#recipients-count").await.contains('3'));
    browser.screenshot("send-dialog-ready").await;

    // The renewal fails: the receiver applies it, the dialog shows why it may not send.
    let renewal = Invoice {
        id: "in_E2eConsoleInv002".to_owned(),
        period_start: first.period_end,
        period_end: first.period_end + 30 * 86_400,
        ..first.clone()
    };
    let failed = stack
        .stripe(&renewal.payment_failed("evt_E2eConsoleFail001", now + 2))
        .await;
    assert_eq!(failed["status"], "applied", "{failed}");
    browser.goto(&dialog).await;
    browser.find("#start-campaign").await;
    assert!(browser.is_disabled("#start-campaign").await);
    let reasons = browser.text("#send-blockers").await;
    assert!(reasons.contains("FROZEN_WALLET"), "{reasons}");
    assert!(reasons.contains("SUBSCRIPTION_INACTIVE"), "{reasons}");
    browser.screenshot("send-dialog-blocked").await;
    // A disabled button cannot be reached with the keyboard, and does nothing when clicked.
    assert!(!tab_to(&browser, "#start-campaign").await);
    browser.click("#start-campaign").await;
    assert_eq!(browser.path().await, dialog);
    assert_eq!(stack.campaign(&org, &campaign).await["status"], "draft");

    // The subscription panel: past due, with its dunning timeline.
    browser.goto("/console/subscription").await;
    assert!(
        browser
            .text("#subscription-status")
            .await
            .contains("past_due")
    );
    assert!(browser.exists("#dunning-timeline li").await);
    browser.screenshot("subscription-past-due").await;

    // The retry is paid: everything comes back, and the campaign starts from the console.
    let retried = Invoice {
        attempt_count: 2,
        ..renewal.clone()
    };
    let paid = stack
        .stripe(&retried.paid("evt_E2eConsolePaid002", now + 3))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    browser.goto(&dialog).await;
    browser.find("#start-campaign").await;
    assert!(!browser.is_disabled("#start-campaign").await);
    assert!(!browser.exists("#send-blockers li").await);
    // Keyboard only: Tab to the start button, Enter.
    assert!(tab_to(&browser, "#start-campaign").await);
    browser.press(&[Key::Enter]).await;
    browser.find("#notice").await;
    assert_eq!(stack.campaign(&org, &campaign).await["status"], "running");
    browser.screenshot("send-dialog-started").await;

    // The same pages at a phone's width.
    let phone = Browser::mobile(&stack.api_url).await;
    phone.goto("/console/sign-in").await;
    phone.fill("#api_key", &org.key).await;
    phone.submit("#sign-in-form").await;
    phone.find("#wallet-balance").await;
    phone.screenshot("wallet-mobile").await;
    phone.goto(&dialog).await;
    phone.find("#start-campaign").await;
    phone.screenshot("send-dialog-mobile").await;
    phone.close().await;

    // The customer signs out; the old page is gone.
    browser.click("#sign-out").await;
    browser.find("#api_key").await;
    browser.goto("/console/wallet").await;
    assert_eq!(browser.path().await, "/console/sign-in");

    // A PayPal sale the receiver cannot apply while PayPal is down: failed, and left for the
    // operator (no worker runs the inbox job here).
    let other = stack.create_org("Acme PayPal", "USD").await;
    let paypal_id = "I-E2ECONSOLE000001";
    stack.create_subscription(&other, "paypal", paypal_id).await;
    let start = Utc::now();
    let mut view = PayPalSubscriptionView {
        id: paypal_id.to_owned(),
        status: "ACTIVE".to_owned(),
        custom_id: other.id.clone(),
        outstanding: "0.00".to_owned(),
        currency: "USD".to_owned(),
        next_billing_time: Some(start + chrono::Duration::days(30)),
        failed_payments_count: 0,
        updated_at: start,
    };
    stack.paypal.set_subscription(&view);
    let activated = stack
        .paypal(&paypal::subscription_event(
            "WH-E2ECONSOLEACTIVATED1",
            "ACTIVATED",
            start,
            &view,
        ))
        .await;
    assert_eq!(activated["status"], "applied", "{activated}");
    stack.paypal.set_down(true);
    let sale = stack
        .paypal(&paypal::sale_completed(
            "WH-E2ECONSOLESALE00001",
            start + chrono::Duration::seconds(2),
            "5O190127TN364CONS",
            paypal_id,
            &other.id,
            "29.00",
            "USD",
        ))
        .await;
    assert_eq!(sale["status"], "failed", "{sale}");
    let inbox_id = text(&sale["inbox_id"]);

    // The operator signs in, reads the health report and the failed event.
    browser.goto("/console/operator/sign-in").await;
    browser.fill("#operator", "Dana Ops").await;
    browser.fill("#admin_token", e2e::stack::ADMIN_TOKEN).await;
    browser.submit("#sign-in-form").await;
    browser.find("#health-negative-balances").await;
    assert_eq!(browser.path().await, "/console/operator");
    browser.screenshot("operator-health").await;

    browser.goto("/console/operator/inbox").await;
    let reapply = format!("#reapply-{inbox_id}");
    browser.find(&reapply).await;
    browser.screenshot("operator-inbox-failed").await;

    // While PayPal is still down the re-apply fails again (and says so); once it is back, the
    // same button applies it.
    browser.click(&reapply).await;
    browser.find("#notice").await;
    view.updated_at = start + chrono::Duration::seconds(2);
    stack.paypal.set_subscription(&view);
    stack.paypal.set_down(false);
    browser.goto("/console/operator/inbox?status=failed").await;
    browser.click(&reapply).await;
    let notice = browser.text("#notice").await;
    assert!(notice.starts_with("Done"), "{notice}");
    let event = stack.webhook_event(&inbox_id).await;
    assert_eq!(event["status"], "applied", "{event}");
    assert_eq!(stack.subscription(&other).await["status"], "active");

    // The history says who did what, both times.
    browser.goto("/console/operator/history").await;
    let history = browser.text("#history").await;
    assert!(history.contains("Dana Ops"), "{history}");
    assert!(history.contains("reapply_inbox_event"), "{history}");
    assert!(history.contains(&inbox_id), "{history}");
    browser.screenshot("operator-history").await;

    // The operator's pages at a phone's width: the organization's forms stack up.
    let phone = Browser::mobile(&stack.api_url).await;
    phone.goto("/console/operator/sign-in").await;
    phone.fill("#operator", "Dana Ops").await;
    phone.fill("#admin_token", e2e::stack::ADMIN_TOKEN).await;
    phone.submit("#sign-in-form").await;
    phone.find("#health-negative-balances").await;
    phone.screenshot("operator-health-mobile").await;
    phone
        .goto(&format!("/console/operator/organizations/{}", org.id))
        .await;
    phone.find("#wallet-balance").await;
    phone.screenshot("operator-organization-mobile").await;
    phone.close().await;

    browser.goto("/console/operator/outbox").await;
    browser.find("main").await;
    browser.screenshot("operator-outbox").await;
    browser.goto("/console/operator/organizations").await;
    browser.find("main").await;
    browser.screenshot("operator-organizations").await;

    browser
        .goto(&format!("/console/operator/organizations/{}", org.id))
        .await;
    browser.find("#wallet-balance").await;
    browser.screenshot("operator-organization").await;
    browser.close().await;
}

/// Presses Tab from the top of the page until `css` has the focus (at most 20 times); whether
/// it got there.
async fn tab_to(browser: &Browser, css: &str) -> bool {
    for _ in 0..20 {
        browser.press(&[Key::Tab]).await;
        if browser.is_focused(css).await {
            return true;
        }
    }
    false
}

/// A Stripe subscription for `org`, active by its first invoice's payment; the invoice and the
/// time it was paid at.
async fn subscribe(
    stack: &Stack,
    org: &Org,
    subscription_id: &str,
    invoice_id: &str,
) -> (Invoice, i64) {
    stack
        .create_subscription(org, "stripe", subscription_id)
        .await;
    let now = Utc::now().timestamp();
    let first = Invoice {
        id: invoice_id.to_owned(),
        subscription: subscription_id.to_owned(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    };
    let paid = stack
        .stripe(&first.paid(&format!("evt_{invoice_id}"), now + 1))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    (first, now)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_campaign_is_not_found_in_the_browser() {
    let stack = Stack::start(StackOptions {
        defer_workers: true,
        ..StackOptions::default()
    })
    .await;
    let mine = stack.create_org("Mine", "USD").await;
    let theirs = stack.create_org("Theirs", "USD").await;
    subscribe(
        &stack,
        &theirs,
        "sub_E2eConsoleTheirs1",
        "in_E2eConsoleTheirs1",
    )
    .await;
    let brand = stack
        .create_brand(&theirs, &twilio::subaccount(0xC0C1))
        .await;
    let campaign = stack
        .create_campaign(&theirs, &text(&brand["id"]), "Their sale", &numbers(200, 1))
        .await;
    let browser = Browser::start(&stack.api_url).await;
    browser.goto("/console/sign-in").await;
    browser.fill("#api_key", &mine.key).await;
    browser.submit("#sign-in-form").await;
    browser.find("#wallet-balance").await;
    browser
        .goto(&format!("/console/campaigns/{campaign}"))
        .await;
    let code = browser.text("#problem-code").await;
    assert_eq!(code, "CAMPAIGN_NOT_FOUND");
    let page = browser.text("main").await;
    assert!(!page.contains("Their sale"), "{page}");
    browser.screenshot("not-found").await;
    browser.close().await;
}
