//! `GET /console/operator/inbox`: webhook deliveries that were not applied, with a `Re-apply`
//! button each (`POST /v1/admin/webhook-events/{id}/reapply`).

use askama::Template;
use axum::{
    Extension,
    extract::{Path, Query, State},
    response::{Redirect, Response},
};
use httpkit::{AdminOnly, ApiJson, ApiQuery};
use serde::Deserialize;

use crate::{
    AppState,
    routes::admin_webhooks,
    wire::webhooks::{WebhookEventListParams, WebhookEventView},
};

use super::super::{
    dispatch::{Api, Call},
    forms::Posted,
    history::{Action, Entry},
    page::{self, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};
use intake::inbox::InboxStatus;

use super::{Tab, frame, path_id, record_and_go_back, when_maybe};

/// The inbox's statuses, as the API names them.
const STATUSES: [InboxStatus; 7] = InboxStatus::ALL;
/// What the page lists when no status is asked for: what waits on a person or a retry.
const DEFAULT_STATUSES: [InboxStatus; 2] = [InboxStatus::Failed, InboxStatus::Unmatched];
const PAGE_SIZE: &str = "100";

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    status: Option<String>,
}

/// One delivery as the page shows it.
#[derive(Debug)]
struct Row {
    id: String,
    provider: String,
    event_type: String,
    status: String,
    attempts: i32,
    last_error: String,
    received_at: String,
    next_attempt_at: String,
    organization_id: Option<String>,
    outcomes: Vec<String>,
    /// Failed and unmatched deliveries are drawn as problems.
    attention: bool,
}

impl From<WebhookEventView> for Row {
    fn from(event: WebhookEventView) -> Self {
        let status = page::wire_name(&event.status);
        Self {
            id: event.id.to_string(),
            attention: matches!(status.as_str(), "failed" | "unmatched" | "held" | "dead"),
            provider: event.provider,
            event_type: event.event_type,
            status,
            attempts: event.attempts,
            last_error: event.last_error.unwrap_or_default(),
            received_at: page::time(event.received_at),
            next_attempt_at: when_maybe(event.next_attempt_at),
            organization_id: event.organization_id.map(|id| id.to_string()),
            outcomes: event
                .outcomes
                .into_iter()
                .map(|o| format!("{} {}: {}", o.kind, page::wire_name(&o.result), o.detail))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/operator_inbox.html")]
struct InboxPage {
    frame: Frame,
    tabs: Vec<Tab>,
    /// The filter, sent back with each button so the page comes back as it was.
    status: String,
    rows: Vec<Row>,
}

/// A status filter only if it is one of the inbox's: what goes back into a redirect.
fn known_status(status: &str) -> Option<&'static str> {
    STATUSES
        .into_iter()
        .map(InboxStatus::as_str)
        .find(|s| *s == status)
}

fn listing(status: &str) -> String {
    match known_status(status) {
        Some(status) => format!("/console/operator/inbox?status={status}"),
        None => "/console/operator/inbox".to_owned(),
    }
}

async fn list(state: &AppState, status: &str) -> Result<Vec<WebhookEventView>, ConsoleError> {
    let params = WebhookEventListParams {
        status: Some(status.to_owned()),
        limit: Some(PAGE_SIZE.to_owned()),
        ..WebhookEventListParams::default()
    };
    let ApiJson(page) =
        admin_webhooks::list_webhook_events(State(state.clone()), AdminOnly, ApiQuery(params))
            .await?;
    Ok(page.events)
}

pub async fn page(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(filter): Query<Filter>,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    let asked = filter.status.unwrap_or_default();
    let mut events = Vec::new();
    if asked.is_empty() {
        for status in DEFAULT_STATUSES {
            events.extend(list(&state, status.as_str()).await?);
        }
        events.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.id.cmp(&a.id)));
    } else {
        // An unknown status is the API's 422 `INVALID_STATUS`, shown as such.
        events = list(&state, &asked).await?;
    }
    let mut tabs = vec![Tab {
        href: "/console/operator/inbox".into(),
        label: "failed and unmatched",
        current: asked.is_empty(),
    }];
    tabs.extend(
        STATUSES
            .into_iter()
            .map(InboxStatus::as_str)
            .map(|status| Tab {
                href: format!("/console/operator/inbox?status={status}"),
                label: status,
                current: asked == status,
            }),
    );
    Ok(page::render(&InboxPage {
        frame: frame(
            &session,
            "Webhook inbox",
            "/console/operator/inbox",
            &outcome,
        ),
        tabs,
        status: asked,
        rows: events.into_iter().map(Row::from).collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReapplyForm {
    /// The list the button was on, to go back to.
    status: String,
}

/// `POST /console/operator/inbox/{event_id}/reapply`.
pub async fn reapply(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(event_id): Path<String>,
    post: Posted<OperatorSession, ReapplyForm>,
) -> Result<Redirect, ConsoleError> {
    let event_id = path_id(&event_id)?;
    let result = Call::post(
        format!("/v1/admin/webhook-events/{event_id}/reapply"),
        &post.session,
    )
    .send_as(&api)
    .await
    .map(|delivery: WebhookEventView| {
        let status = page::wire_name(&delivery.status);
        format!("inbox event {event_id} re-applied: now {status}")
    });
    let entry = Entry {
        operator: &post.session.operator,
        action: Action::ReapplyInboxEvent,
        target: format!("inbox event {event_id}"),
        reason: None,
    };
    record_and_go_back(&state, entry, result, &listing(&post.form.status)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_inbox_statuses_go_back_into_a_redirect() {
        assert_eq!(listing("failed"), "/console/operator/inbox?status=failed");
        assert_eq!(listing(""), "/console/operator/inbox");
        assert_eq!(listing("x&done=forged"), "/console/operator/inbox");
        assert_eq!(listing("//evil.example"), "/console/operator/inbox");
    }
}
