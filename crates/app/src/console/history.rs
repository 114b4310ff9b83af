//! What operators did through the console, in `operator_actions` (append-only): who, which
//! action, on what, why, and how the API answered. Recorded after the API call answers, refused
//! calls included, so the history also shows what was tried.

use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;

use crate::{AppError, AppState};

use super::{dispatch::Refusal, session::OperatorName};

/// The runbook's actions the console offers, and operators signing in and out, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    SignOut,
    ReapplyInboxEvent,
    RequeueOutboxMessage,
    RecordManualPayment,
    LiftFreeze,
    LiftAccessBlock,
    ResolveRecipient,
    Correction,
}

impl Action {
    pub const ALL: [Self; 9] = [
        Self::SignIn,
        Self::SignOut,
        Self::ReapplyInboxEvent,
        Self::RequeueOutboxMessage,
        Self::RecordManualPayment,
        Self::LiftFreeze,
        Self::LiftAccessBlock,
        Self::ResolveRecipient,
        Self::Correction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::SignOut => "sign_out",
            Self::ReapplyInboxEvent => "reapply_inbox_event",
            Self::RequeueOutboxMessage => "requeue_outbox_message",
            Self::RecordManualPayment => "record_manual_payment",
            Self::LiftFreeze => "lift_freeze",
            Self::LiftAccessBlock => "lift_access_block",
            Self::ResolveRecipient => "resolve_recipient",
            Self::Correction => "correction",
        }
    }
}

/// The target of signing in and out.
pub const CONSOLE: &str = "console";

/// One recorded action.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub operator: &'a OperatorName,
    pub action: Action,
    /// What it was done to, as the API names it (`inbox event 0193…`, `organization 0193…`).
    pub target: String,
    pub reason: Option<String>,
}

/// A recorded action as the history page shows it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Recorded {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub operator: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub target: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub detail: Option<String>,
}

fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// Records an action and the API's answer to it (`ok`, or the refusal's code and detail).
pub async fn record(
    state: &AppState,
    entry: Entry<'_>,
    outcome: &Result<String, Refusal>,
) -> Result<(), AppError> {
    let (outcome, detail) = match outcome {
        Ok(done) => ("ok".to_owned(), Some(clip(done, 500))),
        Err(refusal) => (
            clip(&refusal.code, 64),
            refusal.detail.as_deref().map(|d| clip(d, 500)),
        ),
    };
    let mut conn = state.conn().await?;
    diesel::sql_query(
        "INSERT INTO operator_actions (at, operator, action, target, reason, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind::<Timestamptz, _>(state.clock.now())
    .bind::<Text, _>(entry.operator.as_str())
    .bind::<Text, _>(entry.action.as_str())
    .bind::<Text, _>(clip(&entry.target, 200))
    .bind::<Nullable<Text>, _>(
        entry
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| clip(r, 500)),
    )
    .bind::<Text, _>(outcome)
    .bind::<Nullable<Text>, _>(detail)
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The latest recorded actions, newest first; `target` narrows to one target's.
pub async fn latest(
    state: &AppState,
    target: Option<&str>,
    limit: i64,
) -> Result<Vec<Recorded>, AppError> {
    let mut conn = state.conn().await?;
    let rows = diesel::sql_query(
        "SELECT id, at, operator, action, target, reason, outcome, detail FROM operator_actions \
         WHERE $1::text IS NULL OR target = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind::<Nullable<Text>, _>(target)
    .bind::<BigInt, _>(limit)
    .load(&mut conn)
    .await?;
    Ok(rows)
}
