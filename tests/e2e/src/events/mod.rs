//! Provider event bodies, built per provider and event type in the shape of the providers'
//! documented payloads (`crates/billing/tests/fixtures` holds the originals). Only what a test
//! varies is a parameter; the rest is what the provider sends.

pub mod payhere;
pub mod paypal;
pub mod stripe;

use serde_json::Value;

/// The bytes a provider sends: compact JSON.
pub fn bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_else(|e| panic!("serializing an event: {e}"))
}

/// The same JSON with other whitespace: what a proxy that re-serializes would forward.
pub fn pretty(body: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(body).unwrap_or_else(|e| panic!("serializing an event: {e}"))
}

/// The same JSON, compact, with the top-level keys in the reverse order.
pub fn reordered(body: &Value) -> Vec<u8> {
    let Value::Object(map) = body else {
        panic!("an event is a JSON object");
    };
    let members: Vec<String> = map
        .iter()
        .rev()
        .map(|(key, value)| format!("{}:{}", Value::String(key.clone()), value))
        .collect();
    let text = format!("{{{}}}", members.join(","));
    assert_ne!(
        text.as_bytes(),
        bytes(body).as_slice(),
        "reordering changed nothing"
    );
    text.into_bytes()
}
