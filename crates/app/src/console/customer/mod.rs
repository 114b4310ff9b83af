//! The customer's pages: the wallet card, the campaigns with their send dialog, the
//! subscription panel with its payment-method link and top-ups.
//!
//! Reads call the API's handlers (or the domain functions they call) as the session's
//! organization; every action is dispatched through the API ([`super::dispatch`]) with the
//! idempotency key its form was rendered with, so a double submit is answered from the first.

mod campaigns;
mod subscription;
mod wallet;

use axum::{
    Router,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use httpkit::{ApiError, Principal};
use serde::de::DeserializeOwned;

use crate::AppState;

use super::{
    dispatch::Refusal,
    page::{Area, Frame, Outcome},
    session::CustomerSession,
};

pub const WALLET: &str = "/console/wallet";
pub const CAMPAIGNS: &str = "/console/campaigns";
pub const SUBSCRIPTION: &str = "/console/subscription";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(WALLET, get(wallet::page))
        .route(CAMPAIGNS, get(campaigns::list))
        .route("/console/campaigns/{campaign_id}", get(campaigns::dialog))
        .route(
            "/console/campaigns/{campaign_id}/start",
            post(campaigns::start),
        )
        .route(SUBSCRIPTION, get(subscription::panel))
        .route(
            "/console/subscription/payment-method",
            post(subscription::payment_method),
        )
        .route("/console/top-ups", post(subscription::top_up))
}

/// The frame of a customer page, with the outcome of the action that led here.
fn frame(session: &CustomerSession, title: &str, current: &str, outcome: &Outcome) -> Frame {
    Frame::new(Area::Customer, title, current, &session.session.csrf)
        .who(format!("Organization {}", session.organization_id))
        .notice(outcome)
}

/// Who the API sees acting: the organization's key the session was opened with.
fn principal(session: &CustomerSession) -> Principal {
    Principal::Organization {
        organization_id: session.organization_id,
        key_id: session.key_id,
    }
}

/// A form's idempotency key as the API would accept it (1 to 200 visible ASCII characters);
/// anything else is refused before the API is asked.
fn form_key(raw: &str) -> Result<&str, Refusal> {
    let valid = (1..=200).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(raw)
    } else {
        Err(Refusal::here(
            "FORM_INVALID",
            "the form's idempotency key is missing or malformed: reload the page",
        ))
    }
}

/// The query of a page, read leniently: a query that does not parse is ignored rather than
/// breaking the page (it only ever carries what to show).
fn query<T: DeserializeOwned + Default>(raw: Option<&str>) -> T {
    raw.and_then(|raw| serde_urlencoded::from_str(raw).ok())
        .unwrap_or_default()
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// An amount as the API writes it, next to its currency.
fn money(amount: &str, currency: &str) -> String {
    format!("{amount} {currency}")
}

/// Whether an API problem is the `expected` one (a missing wallet or subscription is a state
/// the page explains, not an error).
fn is(error: &ApiError, expected: fn() -> ApiError) -> bool {
    error.code() == expected().code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_keys_are_visible_ascii_up_to_200() {
        assert!(form_key("console-0193").is_ok());
        assert!(form_key("").is_err());
        assert!(form_key("a b").is_err());
        assert!(form_key(&"k".repeat(201)).is_err());
        assert_eq!(form_key("é").unwrap_err().code, "FORM_INVALID");
    }

    #[test]
    fn queries_that_do_not_parse_are_ignored() {
        let outcome: Outcome = query(Some("done=started&x=1"));
        assert_eq!(outcome.done.as_deref(), Some("started"));
        let outcome: Outcome = query(Some("done=%ZZ&done=a"));
        assert!(outcome.refused.is_none());
        let outcome: Outcome = query(None);
        assert!(outcome.done.is_none());
    }
}
