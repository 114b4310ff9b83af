//! The browser harness (`e2e::browser`) against a page of its own, before any console page
//! relies on it: a form served from a loopback listener in the test, used as a keyboard user
//! would (type, Tab past a disabled button to the submit button, Enter), the answer page read
//! back with its cookie, and screenshots at desktop and phone widths. Also: a page outside
//! loopback never loads (the browser is kept offline).

use std::{collections::HashMap, time::Instant};

use axum::{Router, extract::Query, response::Html, routing::get};
use e2e::browser::{Browser, DESKTOP, Key, MOBILE};
use serde_json::Value;

const FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harness</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { font: 16px sans-serif; margin: 2rem; } input, button { font: inherit; }</style>
</head><body>
<h1>Harness</h1>
<form id="greet" method="get" action="/greet">
  <label for="name">Name</label> <input id="name" name="name" autocomplete="off">
  <button id="later" type="button" disabled>Later</button>
  <button id="send" type="submit">Send</button>
</form>
</body></html>"#;

/// The page a submitted form leads to: the name, escaped, and a session-like cookie.
async fn greet(
    Query(query): Query<HashMap<String, String>>,
) -> ([(&'static str, &'static str); 1], Html<String>) {
    let name = query
        .get("name")
        .map_or("", String::as_str)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        [("set-cookie", "seen=1; HttpOnly; SameSite=Strict; Path=/")],
        Html(format!(
            "<!doctype html><html><body><p id=\"greeting\">Hello, {name}</p></body></html>"
        )),
    )
}

/// Serves the form and its answer page on a free loopback port; returns the base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { Html(FORM) }))
        .route("/greet", get(greet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .unwrap_or_else(|e| panic!("serve: {e}"));
    });
    format!("http://{addr}")
}

/// Width and height of a PNG, from its header (IHDR is the first chunk).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 24,
        "not a PNG"
    );
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyboard_user_fills_and_submits_a_form() {
    let site = serve().await;
    let started = Instant::now();
    let browser = Browser::start(&site).await;
    eprintln!("browser started in {:?}", started.elapsed());

    browser.goto("/").await;
    assert_eq!(browser.path().await, "/");
    assert!(browser.is_disabled("#later").await);
    assert!(!browser.is_disabled("#send").await);
    assert!(!browser.exists("#greeting").await);

    browser.fill("#name", "Ada <Lovelace>").await;
    assert!(browser.is_focused("#name").await);
    // The disabled button is not in the tab order: Tab goes from the field to Send.
    browser.press(&[Key::Tab]).await;
    assert!(browser.is_focused("#send").await);
    assert!(!browser.is_focused("#later").await);
    let shot = browser.screenshot("harness-form").await;
    browser.press(&[Key::Enter]).await;

    assert_eq!(browser.text("#greeting").await, "Hello, Ada <Lovelace>");
    assert_eq!(browser.path().await, "/greet?name=Ada+%3CLovelace%3E");
    let cookies = browser.cookies().await;
    let seen = cookies
        .iter()
        .find(|cookie| cookie.name() == "seen")
        .unwrap_or_else(|| panic!("no `seen` cookie in {cookies:?}"));
    assert_eq!(seen.value(), "1");
    assert_eq!(seen.http_only(), Some(true));

    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert_eq!(png_size(&png), (DESKTOP.width, DESKTOP.height));
    assert!(shot.ends_with("console-screenshots/harness-form.png"));

    // Submitting by mouse, through the form's submit button, goes to the same page.
    browser.goto("/").await;
    browser.fill("#name", "Grace").await;
    browser.submit("#greet").await;
    assert_eq!(browser.text("#greeting").await, "Hello, Grace");
    browser.close().await;
}

// The default single-threaded runtime, on purpose: the harness must work with the page's
// server on the same thread (the browser's waits yield to it).
#[tokio::test]
async fn a_phone_sized_browser_lays_out_at_phone_width_and_stays_offline() {
    let site = serve().await;
    let browser = Browser::mobile(&site).await;
    browser.goto("/").await;
    let size = browser
        .client()
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap_or_else(|e| panic!("innerWidth: {e}"));
    let size: Vec<u32> = size
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {size}"))
        .iter()
        .map(|n| {
            Value::as_u64(n)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        })
        .collect();
    assert_eq!(size, [MOBILE.width, MOBILE.height], "the page's viewport");
    let shot = browser.screenshot("harness-form-mobile").await;
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
    assert_eq!(png_size(&png), (MOBILE.width, MOBILE.height));
    // Touch emulation still takes typing and clicks.
    browser.fill("#name", "Linus").await;
    browser.click("#send").await;
    assert_eq!(browser.text("#greeting").await, "Hello, Linus");

    // TEST-NET-1 (RFC 5737) is never routed: the browser must not even try it, and answers at
    // once that its (closed, loopback) proxy refused.
    let started = Instant::now();
    let refused = browser.client().goto("http://192.0.2.1/").await;
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("ERR_PROXY_CONNECTION_FAILED"),
        "a page outside loopback: {error:?}"
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    drop(browser);
}
