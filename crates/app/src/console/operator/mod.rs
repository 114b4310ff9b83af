//! The operator's pages: the health report, the webhook inbox, the outbox, an organization's
//! money and access, the history of what operators did, and the runbook's actions as buttons.
//!
//! Reads call the API's handlers (or the functions they call) as the admin; every action is an
//! API call made in-process as the admin ([`super::dispatch`]), recorded with the operator's
//! name ([`super::history`]), then answered with a redirect carrying its outcome.

mod health;
mod history;
mod inbox;
mod organization;
mod outbox;

use axum::{
    Router,
    response::Redirect,
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use httpkit::ApiError;
use uuid::Uuid;

use crate::AppState;

use super::{
    dispatch::Refusal,
    history::Entry,
    page::{self, Area, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/operator", get(health::page))
        .route("/console/operator/inbox", get(inbox::page))
        .route(
            "/console/operator/inbox/{event_id}/reapply",
            post(inbox::reapply),
        )
        .route("/console/operator/outbox", get(outbox::page))
        .route(
            "/console/operator/outbox/{message_id}/requeue",
            post(outbox::requeue),
        )
        .route("/console/operator/organizations", get(organization::index))
        .route(
            "/console/operator/organizations/{organization_id}",
            get(organization::page),
        )
        .route(
            "/console/operator/organizations/{organization_id}/unfreeze",
            post(organization::unfreeze),
        )
        .route(
            "/console/operator/organizations/{organization_id}/lift-access-block",
            post(organization::lift_access_block),
        )
        .route(
            "/console/operator/organizations/{organization_id}/manual-payment",
            post(organization::manual_payment),
        )
        .route(
            "/console/operator/organizations/{organization_id}/correction",
            post(organization::correction),
        )
        .route(
            "/console/operator/organizations/{organization_id}/resolve-recipient",
            post(organization::resolve_recipient),
        )
        .route("/console/operator/history", get(history::page))
}

/// The frame of an operator page, with the outcome of the action that led here.
fn frame(
    session: &OperatorSession,
    title: impl Into<String>,
    current: &str,
    outcome: &Outcome,
) -> Frame {
    Frame::new(Area::Operator, title, current, &session.session.csrf)
        .who(session.operator.as_str())
        .notice(outcome)
}

/// A link of a list's status filter (`operator_status_tabs.html`).
#[derive(Debug)]
struct Tab {
    href: String,
    label: &'static str,
    current: bool,
}

/// Records an action under the operator's name, then goes back to `page` with its outcome.
async fn record_and_go_back(
    state: &AppState,
    entry: Entry<'_>,
    result: Result<String, Refusal>,
    page: &str,
) -> Result<Redirect, ConsoleError> {
    super::history::record(state, entry, &result).await?;
    Ok(page::back_to(page, result))
}

/// An id taken from the console's path. Only a well-formed one is ever put into an API path,
/// so a crafted segment (`..`, `?`) cannot reach another endpoint; anything else is the API's
/// own answer to a malformed id, 404 `NOT_FOUND`.
fn path_id(raw: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(raw).map_err(|_| ConsoleError::Problem(ApiError::not_found()))
}

fn when_maybe(at: Option<DateTime<Utc>>) -> String {
    at.map(page::time).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_reach_an_api_path() {
        assert!(path_id("0193a3b2-7c1e-7000-8000-000000000000").is_ok());
        for bad in [
            "",
            "..",
            "x/../../v1/admin",
            "0193a3b2-7c1e-7000-8000-00000000000",
        ] {
            let Err(ConsoleError::Problem(problem)) = path_id(bad) else {
                panic!("{bad} accepted");
            };
            assert_eq!(problem.code(), "NOT_FOUND");
        }
    }

    #[test]
    fn idempotency_keys_are_fresh_and_never_system_ones() {
        let (a, b) = (page::action_key(), page::action_key());
        assert_ne!(a, b);
        assert!(a.starts_with("console-") && a.len() <= 200);
    }
}
