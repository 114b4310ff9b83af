//! `GET /console/operator/history`: what operators did through the console, newest first.

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Response,
};

use crate::AppState;

use super::super::{
    history::{self, Recorded},
    page::{self, ConsoleError, Frame, Outcome},
    session::OperatorSession,
};
use super::frame;

const SHOWN: i64 = 200;

/// One recorded action as the history tables show it.
#[derive(Debug)]
pub(super) struct Line {
    pub id: i64,
    pub at: String,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub outcome: String,
    pub detail: String,
    pub ok: bool,
}

impl From<Recorded> for Line {
    fn from(recorded: Recorded) -> Self {
        Self {
            id: recorded.id,
            at: page::time(recorded.at),
            ok: recorded.outcome == "ok",
            operator: recorded.operator,
            action: recorded.action,
            target: recorded.target,
            reason: recorded.reason.unwrap_or_default(),
            outcome: recorded.outcome,
            detail: recorded.detail.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/operator_history.html")]
struct HistoryPage {
    frame: Frame,
    lines: Vec<Line>,
}

pub async fn page(
    State(state): State<AppState>,
    session: OperatorSession,
    Query(outcome): Query<Outcome>,
) -> Result<Response, ConsoleError> {
    let lines = history::latest(&state, None, SHOWN).await?;
    Ok(page::render(&HistoryPage {
        frame: frame(&session, "History", "/console/operator/history", &outcome),
        lines: lines.into_iter().map(Line::from).collect(),
    }))
}
