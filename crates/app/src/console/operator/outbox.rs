//! `GET /console/operator/outbox`: outbox messages (dead letters by default), with a `Requeue`
//! button on each dead one (`POST /v1/admin/outbox/{id}/retry`).

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
    routes::admin_outbox,
    wire::outbox::{OutboxListParams, OutboxMessageView},
};

use super::super::{
    dispatch::{Api, Call},
    forms::Posted,
    history::{Action, Entry},
    page::{self, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};
use outbox::Status;

use super::{Tab, frame, path_id, record_and_go_back, when_maybe};

/// The outbox's statuses, dead letters first: what a person acts on.
const STATUSES: [Status; 3] = [Status::Dead, Status::Pending, Status::Delivered];
const PAGE_SIZE: &str = "100";

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    status: Option<String>,
    topic: Option<String>,
}

#[derive(Debug)]
struct Row {
    id: String,
    topic: String,
    dedupe_key: String,
    status: String,
    attempts: String,
    last_error: String,
    created_at: String,
    next_attempt_at: String,
    organization_id: Option<String>,
    dead: bool,
}

impl From<OutboxMessageView> for Row {
    fn from(message: OutboxMessageView) -> Self {
        let status = page::wire_name(&message.status);
        Self {
            id: message.id.to_string(),
            dead: status == "dead",
            topic: message.topic,
            dedupe_key: message.dedupe_key,
            status,
            attempts: format!("{} / {}", message.attempts, message.max_attempts),
            last_error: message.last_error.unwrap_or_default(),
            created_at: page::time(message.created_at),
            next_attempt_at: when_maybe(Some(message.next_attempt_at)),
            organization_id: message.organization_id.map(|id| id.to_string()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/operator_outbox.html")]
struct OutboxPage {
    frame: Frame,
    tabs: Vec<Tab>,
    status: String,
    topic: String,
    rows: Vec<Row>,
}

/// A topic as the outbox names them (lower-case dotted words), else none: what goes back into
/// a redirect.
fn known_topic(topic: &str) -> Option<&str> {
    let plausible = !topic.is_empty()
        && topic.len() <= 64
        && topic
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    plausible.then_some(topic)
}

fn listing(status: &str, topic: &str) -> String {
    let status = Status::parse(status).unwrap_or(Status::Dead).as_str();
    match known_topic(topic) {
        Some(topic) => format!("/console/operator/outbox?status={status}&topic={topic}"),
        None => format!("/console/operator/outbox?status={status}"),
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(filter): Query<Filter>,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    let status = filter
        .status
        .unwrap_or_else(|| Status::Dead.as_str().to_owned());
    let topic = filter.topic.filter(|t| !t.is_empty());
    let params = OutboxListParams {
        status: Some(status.clone()),
        topic: topic.clone(),
        limit: Some(PAGE_SIZE.to_owned()),
        ..OutboxListParams::default()
    };
    // A bad status or topic is the API's 422, shown as such.
    let ApiJson(listed) =
        admin_outbox::list_outbox_messages(State(state), AdminOnly, ApiQuery(params)).await?;
    let tabs = STATUSES
        .into_iter()
        .map(Status::as_str)
        .map(|s| Tab {
            href: format!("/console/operator/outbox?status={s}"),
            label: s,
            current: s == status,
        })
        .collect();
    Ok(page::render(&OutboxPage {
        frame: frame(&session, "Outbox", "/console/operator/outbox", &outcome),
        tabs,
        status,
        topic: topic.unwrap_or_default(),
        rows: listed.messages.into_iter().map(Row::from).collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequeueForm {
    status: String,
    topic: String,
}

/// `POST /console/operator/outbox/{message_id}/requeue`.
pub async fn requeue(
    State(state): State<AppState>,
    Extension(api): Extension<Api>,
    Path(message_id): Path<String>,
    post: Posted<OperatorSession, RequeueForm>,
) -> Result<Redirect, ConsoleError> {
    let message_id = path_id(&message_id)?;
    let result = Call::post(
        format!("/v1/admin/outbox/{message_id}/retry"),
        &post.session,
    )
    .send(&api)
    .await
    .map(|_| format!("outbox message {message_id} requeued"));
    let entry = Entry {
        operator: &post.session.operator,
        action: Action::RequeueOutboxMessage,
        target: format!("outbox message {message_id}"),
        reason: None,
    };
    let back = listing(&post.form.status, &post.form.topic);
    record_and_go_back(&state, entry, result, &back).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_statuses_and_plausible_topics_go_back_into_a_redirect() {
        assert_eq!(
            listing("pending", "billing.provider"),
            "/console/operator/outbox?status=pending&topic=billing.provider"
        );
        assert_eq!(listing("x", ""), "/console/operator/outbox?status=dead");
        assert_eq!(
            listing("dead", "a&done=forged"),
            "/console/operator/outbox?status=dead"
        );
    }
}
