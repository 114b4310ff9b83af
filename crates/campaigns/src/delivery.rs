//! What Twilio says happened to each recipient's message: its delivery status, recorded from
//! the send's answer, the status callbacks and the message lookups (docs/campaigns.md,
//! "Delivery status").
//!
//! The status only moves forward (`queued < sending < sent < delivered | undelivered |
//! failed`, the last three final, the first final word winning), so a report that arrives late
//! or twice changes nothing (G9). It is a fact about the message, not about money: a recipient
//! stays `sent` and charged whether its message is then delivered or not.
//!
//! A report about an `unconfirmed` recipient is proof that Twilio has its message, so it also
//! resolves the recipient with the operator's own operation ([`crate::Resolution`]): `failed`
//! means Twilio never sent it (and does not bill it), so it is refunded like a send Twilio
//! refused; any other status means it went out, so it stays charged.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::campaign_recipients as recipients};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, QueryableByName, Selectable,
    SelectableHelper,
    sql_types::{BigInt, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::Actor;
use primitives::{Classified, ErrorClass};
use twilio::MessageStatus;
use uuid::Uuid;

use crate::{
    CampaignId, Campaigns, CampaignsError, RecipientStatus, Resolution,
    reconcile::{self},
    store,
};

/// A message's delivery status as Twilio reports it, in the order it moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Accepted, waiting in Twilio's queue (Twilio's `accepted`, `scheduled` and `queued`).
    Queued,
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The carrier confirmed delivery (WhatsApp's `read` counts as delivered).
    Delivered,
    /// The carrier could not deliver it; Twilio sent it (and bills it).
    Undelivered,
    /// Twilio could not send it (also a canceled scheduled message): never left Twilio.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// The delivery status a Twilio message status means; `None` for statuses that say
    /// nothing about an outgoing message's delivery (inbound ones, values Twilio may add).
    pub fn from_twilio(status: &MessageStatus) -> Option<Self> {
        Some(match status {
            MessageStatus::Queued | MessageStatus::Accepted | MessageStatus::Scheduled => {
                Self::Queued
            }
            MessageStatus::Sending => Self::Sending,
            MessageStatus::Sent => Self::Sent,
            MessageStatus::Delivered => Self::Delivered,
            MessageStatus::Unknown(text) if text == "read" => Self::Delivered,
            MessageStatus::Undelivered => Self::Undelivered,
            MessageStatus::Failed | MessageStatus::Canceled => Self::Failed,
            MessageStatus::Unknown(_) => return None,
        })
    }

    /// Its place in the order; the final ones share the last.
    const fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sending => 1,
            Self::Sent => 2,
            Self::Delivered | Self::Undelivered | Self::Failed => 3,
        }
    }

    pub const fn is_final(self) -> bool {
        self.rank() == 3
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status with Twilio's error code (of an undelivered or failed message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub status: DeliveryStatus,
    pub error_code: Option<i32>,
}

/// What a report does to the stored delivery status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// It moved forward (or filled in the error code of the same status).
    Recorded,
    /// The same status again: nothing to do.
    Duplicate,
    /// Older than what is stored, or another final word after the first: ignored.
    Stale,
}

impl Change {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
        }
    }
}

/// Whether `incoming` moves the stored delivery forward (pure).
pub fn decide(current: Option<Delivery>, incoming: Delivery) -> Change {
    let Some(current) = current else {
        return Change::Recorded;
    };
    if current.status == incoming.status {
        return if current.error_code.is_none() && incoming.error_code.is_some() {
            Change::Recorded
        } else {
            Change::Duplicate
        };
    }
    if incoming.status.rank() > current.status.rank() {
        Change::Recorded
    } else {
        Change::Stale
    }
}

/// How an unconfirmed recipient is resolved once Twilio reports its message in `status`: a
/// message Twilio failed to send was never sent (and is not billed); any other went out.
pub fn resolution_for(status: DeliveryStatus, twilio_sid: Option<String>) -> Resolution {
    match status {
        DeliveryStatus::Failed => Resolution::NotSent,
        _ => Resolution::Sent { twilio_sid },
    }
}

/// How many of a campaign's messages are in each delivery status (recipients without one, never
/// sent or not reported yet, are in none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub failed: i64,
}

impl DeliveryCounts {
    pub(crate) fn slot(&mut self, status: DeliveryStatus) -> &mut i64 {
        match status {
            DeliveryStatus::Queued => &mut self.queued,
            DeliveryStatus::Sending => &mut self.sending,
            DeliveryStatus::Sent => &mut self.sent,
            DeliveryStatus::Delivered => &mut self.delivered,
            DeliveryStatus::Undelivered => &mut self.undelivered,
            DeliveryStatus::Failed => &mut self.failed,
        }
    }

    pub fn total(&self) -> i64 {
        self.queued + self.sending + self.sent + self.delivered + self.undelivered + self.failed
    }
}

/// A verified status callback about one recipient's message. `Debug` masks the number.
#[derive(Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Our recipient id, from the callback URL the dispatcher gave Twilio.
    pub recipient: i64,
    /// The campaign the URL names, if it names one.
    pub campaign: Option<CampaignId>,
    /// The account whose token signed the callback: it must be the campaign's brand's.
    pub account_sid: String,
    pub message_sid: String,
    /// The number Twilio says it sent to, if it says.
    pub to: Option<String>,
    pub delivery: Delivery,
}

impl std::fmt::Debug for DeliveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryReport")
            .field("recipient", &self.recipient)
            .field("campaign", &self.campaign)
            .field("account_sid", &self.account_sid)
            .field("message_sid", &self.message_sid)
            .field("to", &self.to.as_ref().map(|_| "***"))
            .field("delivery", &self.delivery)
            .finish()
    }
}

/// What [`Campaigns::record_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub recipient: i64,
    pub campaign: CampaignId,
    pub change: Change,
    /// The delivery status stored now.
    pub delivery_status: DeliveryStatus,
    /// The recipient's status now.
    pub recipient_status: RecipientStatus,
    /// An unconfirmed recipient was resolved by this report.
    pub resolved: bool,
}

/// Why a delivery report was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No such recipient, or it is not of the campaign the report names, or its message was
    /// not sent through the account that signed the report (another organization's, G11).
    #[error("no recipient of this account matches the report")]
    RecipientNotFound,
    /// The report's message is not the recipient's (another SID, another number).
    #[error("the report's {field} does not match the recipient's message")]
    MessageMismatch { field: &'static str },
    /// The recipient was never handed to Twilio (pending or canceled): a report about it
    /// contradicts what the dispatcher knows, and a person must look.
    #[error("the recipient is {status}: no message was sent for it")]
    NotSent { status: RecipientStatus },
    #[error(transparent)]
    Campaigns(#[from] CampaignsError),
}

impl From<diesel::result::Error> for DeliveryError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Campaigns(error.into())
    }
}

impl DeliveryError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::RecipientNotFound => "DELIVERY_RECIPIENT_NOT_FOUND",
            Self::MessageMismatch { .. } => "DELIVERY_MESSAGE_MISMATCH",
            Self::NotSent { .. } => "DELIVERY_RECIPIENT_NOT_SENT",
            Self::Campaigns(error) => error.code(),
        }
    }
}

impl Classified for DeliveryError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::RecipientNotFound => ErrorClass::NotFound,
            Self::MessageMismatch { .. } | Self::NotSent { .. } => ErrorClass::Conflict,
            Self::Campaigns(error) => error.class(),
        }
    }

    fn code(&self) -> &'static str {
        Self::code(self)
    }
}

/// Who resolves an unconfirmed recipient from a callback, in the ledger.
pub(crate) fn callback_actor() -> Actor {
    Actor::system("twilio-callback")
}

#[derive(QueryableByName)]
struct Target {
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    subaccount: String,
}

/// The recipient's delivery as stored, locked.
#[derive(Queryable, Selectable)]
#[diesel(table_name = recipients, check_for_backend(diesel::pg::Pg))]
pub(crate) struct DeliveryRow {
    pub status: String,
    pub phone: String,
    pub twilio_sid: Option<String>,
    pub delivery_status: Option<String>,
    pub delivery_error_code: Option<i32>,
}

impl DeliveryRow {
    pub(crate) fn recipient_status(&self) -> Result<RecipientStatus, CampaignsError> {
        RecipientStatus::parse(&self.status)
            .ok_or_else(|| CampaignsError::Corrupt(format!("recipient status {}", self.status)))
    }

    pub(crate) fn delivery(&self) -> Result<Option<Delivery>, CampaignsError> {
        self.delivery_status
            .as_deref()
            .map(|status| {
                DeliveryStatus::parse(status)
                    .map(|status| Delivery {
                        status,
                        error_code: self.delivery_error_code,
                    })
                    .ok_or_else(|| CampaignsError::Corrupt(format!("delivery status {status}")))
            })
            .transpose()
    }
}

pub(crate) async fn lock_row(
    conn: &mut AsyncPgConnection,
    recipient: i64,
) -> Result<DeliveryRow, CampaignsError> {
    recipients::table
        .find(recipient)
        .for_update()
        .select(DeliveryRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CampaignsError::RecipientNotFound)
}

/// Stores `incoming` on the locked recipient if it moves its delivery forward, with the
/// message SID when none is stored yet. Returns what it did and the delivery stored now.
pub(crate) async fn write(
    conn: &mut AsyncPgConnection,
    recipient: i64,
    row: &DeliveryRow,
    message_sid: Option<&str>,
    incoming: Delivery,
    now: DateTime<Utc>,
) -> Result<(Change, Delivery), CampaignsError> {
    let current = row.delivery()?;
    let change = decide(current, incoming);
    let stored = match (change, current) {
        (Change::Recorded, _) | (_, None) => incoming,
        (_, Some(current)) => current,
    };
    if change == Change::Recorded {
        let sid = row
            .twilio_sid
            .clone()
            .or_else(|| message_sid.map(str::to_owned));
        diesel::update(recipients::table.find(recipient))
            .set((
                recipients::delivery_status.eq(incoming.status.as_str()),
                recipients::delivery_error_code.eq(incoming.error_code.filter(|code| *code > 0)),
                recipients::delivery_updated_at.eq(now),
                recipients::twilio_sid.eq(sid),
            ))
            .execute(conn)
            .await?;
    }
    Ok((change, stored))
}

impl Campaigns {
    /// Records a verified status callback (see the module documentation): checks that the
    /// recipient's message is the report's and was sent through the signing account, moves its
    /// delivery status forward, and resolves it if it was `unconfirmed`. One transaction (a
    /// savepoint inside the caller's); a refusal changes nothing.
    pub async fn record_delivery(
        &self,
        conn: &mut AsyncPgConnection,
        report: &DeliveryReport,
    ) -> Result<Recorded, DeliveryError> {
        conn.transaction(async move |conn| self.record_in(conn, report).await)
            .await
    }

    async fn record_in(
        &self,
        conn: &mut AsyncPgConnection,
        report: &DeliveryReport,
    ) -> Result<Recorded, DeliveryError> {
        let target: Option<Target> = diesel::sql_query(
            "SELECT r.campaign_id, r.status, b.twilio_subaccount_sid AS subaccount \
             FROM campaign_recipients AS r JOIN campaigns AS c ON c.id = r.campaign_id \
             JOIN brands AS b ON b.id = c.brand_id WHERE r.id = $1",
        )
        .bind::<BigInt, _>(report.recipient)
        .get_result(conn)
        .await
        .optional()?;
        let Some(target) = target else {
            return Err(refused(report, "no such recipient"));
        };
        let campaign_id = CampaignId::from_uuid(target.campaign_id);
        if report.campaign.is_some_and(|named| named != campaign_id) {
            return Err(refused(report, "the recipient is of another campaign"));
        }
        if target.subaccount != report.account_sid {
            return Err(refused(
                report,
                "the recipient's brand sends through another Twilio account",
            ));
        }
        // Resolving needs the campaign's lock, which is always taken before a recipient's; a
        // recipient that becomes unconfirmed after this read keeps the report, and the lookup
        // job resolves it from there without asking Twilio.
        let campaign = if target.status == RecipientStatus::Unconfirmed.as_str() {
            Some(store::lock(conn, None, campaign_id).await?)
        } else {
            None
        };
        let row = lock_row(conn, report.recipient).await?;
        if row
            .twilio_sid
            .as_ref()
            .is_some_and(|sid| *sid != report.message_sid)
        {
            return Err(DeliveryError::MessageMismatch {
                field: "MessageSid",
            });
        }
        if report.to.as_ref().is_some_and(|to| *to != row.phone) {
            return Err(DeliveryError::MessageMismatch { field: "To" });
        }
        let status = row.recipient_status()?;
        if matches!(status, RecipientStatus::Pending | RecipientStatus::Canceled) {
            tracing::error!(
                event = "twilio_callback_for_unsent_recipient",
                recipient = report.recipient,
                campaign = %campaign_id,
                recipient_status = status.as_str(),
                "Twilio reports a message for a recipient the dispatcher never handed to it; \
                 a person must look"
            );
            return Err(DeliveryError::NotSent { status });
        }
        let now = self.now();
        let (change, stored) = write(
            conn,
            report.recipient,
            &row,
            Some(&report.message_sid),
            report.delivery,
            now,
        )
        .await?;
        let mut recorded = Recorded {
            recipient: report.recipient,
            campaign: campaign_id,
            change,
            delivery_status: stored.status,
            recipient_status: status,
            resolved: false,
        };
        if let Some(campaign) = campaign
            && status == RecipientStatus::Unconfirmed
        {
            let resolution = resolution_for(stored.status, Some(report.message_sid.clone()));
            let resolved = reconcile::resolve_locked(
                conn,
                self,
                &campaign,
                report.recipient,
                &resolution,
                callback_actor(),
            )
            .await?;
            recorded.recipient_status = resolved.status;
            recorded.resolved = true;
            metrics::counter!("campaign_recipients_auto_resolved_total",
                "by" => "callback", "outcome" => resolved.status.as_str())
            .increment(1);
        }
        Ok(recorded)
    }
}

/// The one answer to every report that does not match a recipient of the signing account, so
/// it tells no account whether another's recipient exists; the log says which check failed.
fn refused(report: &DeliveryReport, reason: &'static str) -> DeliveryError {
    tracing::warn!(
        event = "twilio_callback_unmatched",
        recipient = report.recipient,
        account_sid = report.account_sid.as_str(),
        reason,
        "a verified Twilio callback matches no recipient of its account"
    );
    DeliveryError::RecipientNotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(status: DeliveryStatus, error_code: Option<i32>) -> Delivery {
        Delivery { status, error_code }
    }

    #[test]
    fn the_status_only_moves_forward_and_the_first_final_word_wins() {
        use Change::*;
        use DeliveryStatus::*;
        let cases = [
            (None, d(Queued, None), Recorded),
            (Some(d(Queued, None)), d(Sent, None), Recorded),
            (Some(d(Queued, None)), d(Sending, None), Recorded),
            (Some(d(Sending, None)), d(Delivered, None), Recorded),
            (Some(d(Sent, None)), d(Undelivered, Some(30003)), Recorded),
            (Some(d(Queued, None)), d(Failed, Some(30008)), Recorded),
            (Some(d(Sent, None)), d(Sent, None), Duplicate),
            (Some(d(Delivered, None)), d(Delivered, None), Duplicate),
            (
                Some(d(Undelivered, None)),
                d(Undelivered, Some(30003)),
                Recorded,
            ),
            (
                Some(d(Undelivered, Some(30003))),
                d(Undelivered, Some(30005)),
                Duplicate,
            ),
            (Some(d(Sent, None)), d(Queued, None), Stale),
            (Some(d(Delivered, None)), d(Sent, None), Stale),
            (Some(d(Delivered, None)), d(Undelivered, Some(30003)), Stale),
            (Some(d(Failed, Some(30008))), d(Delivered, None), Stale),
        ];
        for (current, incoming, expected) in cases {
            assert_eq!(
                decide(current, incoming),
                expected,
                "{current:?} -> {incoming:?}"
            );
        }
    }

    #[test]
    fn twilio_statuses_map_onto_delivery_statuses() {
        use DeliveryStatus as D;
        let cases = [
            ("accepted", Some(D::Queued)),
            ("scheduled", Some(D::Queued)),
            ("queued", Some(D::Queued)),
            ("sending", Some(D::Sending)),
            ("sent", Some(D::Sent)),
            ("delivered", Some(D::Delivered)),
            ("read", Some(D::Delivered)),
            ("undelivered", Some(D::Undelivered)),
            ("failed", Some(D::Failed)),
            ("canceled", Some(D::Failed)),
            ("receiving", None),
            ("received", None),
            ("something-new", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                DeliveryStatus::from_twilio(&MessageStatus::parse(text)),
                expected,
                "{text}"
            );
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn only_a_failed_message_resolves_as_not_sent() {
        for status in DeliveryStatus::ALL {
            let resolution = resolution_for(status, Some("SM1".into()));
            assert_eq!(
                resolution == Resolution::NotSent,
                status == DeliveryStatus::Failed,
                "{status}"
            );
        }
    }

    #[test]
    fn report_debug_masks_the_number() {
        let report = DeliveryReport {
            recipient: 7,
            campaign: None,
            account_sid: "AC0".into(),
            message_sid: "SM0".into(),
            to: Some("+94771234567".into()),
            delivery: d(DeliveryStatus::Sent, None),
        };
        let shown = format!("{report:?}");
        assert!(!shown.contains("7712345"), "{shown}");
    }
}
