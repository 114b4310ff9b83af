//! The lookup job: unconfirmed recipients resolved from Twilio's own message list
//! (docs/campaigns.md, "Resolving unconfirmed recipients").
//!
//! A recipient unconfirmed for longer than [`LookupConfig::after`] is looked up, oldest first:
//!
//! - a delivery status is already recorded (a callback came while it was still `sending`):
//!   Twilio has the message, resolved from that without asking Twilio;
//! - otherwise the brand's subaccount lists its messages to the recipient's number (and from
//!   the campaign's number), and [`judge`] compares them with what was sent: exactly one
//!   outgoing message with the campaign's body, created since the batch was claimed, and no
//!   other candidate ⇒ **sent** (its SID and status recorded); none at all ⇒ **not sent**
//!   (refunded), but only once the recipient has been unconfirmed for
//!   [`LookupConfig::not_sent_after`] (Twilio's list may lag behind; until then it waits and
//!   looks again); anything else (several, a candidate with another or a redacted body, a list
//!   too long to read whole) ⇒ left to a person;
//! - a lookup that fails is tried again with backoff, and left to a person after
//!   [`LookupConfig::max_attempts`].
//!
//! Both resolutions are the operator's own operation, under the campaign's lock, so a refund
//! happens at most once (its ledger reference is the recipient's), whoever resolves first.
//! Claims use `FOR UPDATE SKIP LOCKED` and a lease, so several workers never ask Twilio about the
//! same recipient at once. No database connection is held while Twilio is asked.

use chrono::{DateTime, Duration, Utc};
use db::{DbPool, schema::campaign_recipients as recipients};
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName,
    sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::Actor;
use twilio::{ListedMessage, MessageListing, MessageLog, MessageQuery, TwilioError};
use uuid::Uuid;

use crate::{
    CampaignId, Campaigns, CampaignsError, RecipientStatus, Resolution, Sender,
    delivery::{self, Delivery, DeliveryStatus, resolution_for},
    input::error_text,
    reconcile, store,
};

/// How the lookup job works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupConfig {
    /// A recipient is looked up once it has been unconfirmed this long, which leaves the status
    /// callbacks time to resolve it first.
    pub after: Duration,
    /// Finding no message means "not sent" only once the recipient has been unconfirmed this
    /// long: Twilio's message list can lag behind what Twilio accepted, and a message found
    /// later than a refund would have been sent unpaid.
    pub not_sent_after: Duration,
    /// Recipients looked up per run.
    pub batch: usize,
    /// How long a run's claim on a recipient keeps other workers off it.
    pub lease: Duration,
    /// Failed lookups before the recipient is left to a person.
    pub max_attempts: u32,
    /// The wait after the first failed lookup; it doubles with each further failure (capped at
    /// an hour).
    pub retry_after: Duration,
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            after: Duration::minutes(10),
            not_sent_after: Duration::hours(1),
            batch: 50,
            lease: Duration::minutes(5),
            max_attempts: 5,
            retry_after: Duration::minutes(1),
        }
    }
}

/// A message created this much before the batch was claimed still counts: our clock and
/// Twilio's may disagree a little.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// What one [`Lookup::run_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupReport {
    pub claimed: usize,
    /// Resolved from a delivery status a callback had recorded, without asking Twilio.
    pub from_callbacks: usize,
    /// Resolved as sent: one message found.
    pub sent: usize,
    /// Resolved as not sent (refunded): no message, long enough after.
    pub not_sent: usize,
    /// No message yet, too early to conclude: looked at again later.
    pub waiting: usize,
    /// Left to a person: the list could not tell.
    pub ambiguous: usize,
    /// Twilio could not be asked (tried again later, or left to a person after too many).
    pub errors: usize,
}

impl LookupReport {
    pub fn did_work(&self) -> bool {
        self.claimed > 0
    }
}

/// Resolves unconfirmed recipients through any [`MessageLog`] (the Twilio client, or a fake).
pub struct Lookup<L> {
    pool: DbPool,
    campaigns: Campaigns,
    log: L,
    config: LookupConfig,
}

/// What was sent to one claimed recipient, and what is known of it.
#[derive(QueryableByName)]
struct Candidate {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    campaign_id: Uuid,
    #[diesel(sql_type = Text)]
    phone: String,
    #[diesel(sql_type = Timestamptz)]
    unconfirmed_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    claimed_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    delivery_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    twilio_sid: Option<String>,
    #[diesel(sql_type = Integer)]
    lookup_attempts: i32,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Text)]
    sender_kind: String,
    #[diesel(sql_type = Text)]
    sender: String,
    #[diesel(sql_type = Text)]
    subaccount: String,
}

/// What the message list says about one recipient (pure [`judge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Exactly one message is ours.
    Found(ListedMessage),
    /// No message that could be ours.
    Missing,
    /// The list cannot tell; the reason is for the person who decides.
    Ambiguous(String),
}

/// What was sent to a recipient, to compare a listed message with.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub to: &'a str,
    pub sender: &'a Sender,
    pub body: &'a str,
    /// When its batch was claimed: the message cannot be older.
    pub since: DateTime<Utc>,
}

/// Whether one of `listing`'s messages is the one sent to `expected` (pure). Candidates are
/// outgoing messages to the number, from the campaign's sender, created since the claim (less
/// [`CLOCK_SKEW`]; a message without a creation date counts). Only a complete listing with
/// exactly one candidate, whose body is the campaign's, finds the message; a complete listing
/// without any candidate finds none; everything else is ambiguous: another campaign of the brand
/// with the same text, an account that redacts bodies, Twilio's smart encoding rewriting the
/// text, more pages than were read.
pub fn judge(expected: Expected<'_>, listing: &MessageListing) -> Verdict {
    let since = expected.since - CLOCK_SKEW;
    let candidates: Vec<&ListedMessage> = listing
        .messages
        .iter()
        .filter(|message| {
            message
                .direction
                .as_deref()
                .is_none_or(|direction| direction.starts_with("outbound"))
                && message.to.as_deref() == Some(expected.to)
                && match expected.sender {
                    Sender::From(number) => message.from.as_deref() == Some(number.as_str()),
                    Sender::MessagingService(sid) => {
                        message.messaging_service_sid.as_deref() == Some(sid.as_str())
                    }
                }
                && message.date_created.is_none_or(|created| created >= since)
        })
        .collect();
    let matching = candidates
        .iter()
        .filter(|message| message.body.as_deref() == Some(expected.body))
        .count();
    if !listing.complete {
        return Verdict::Ambiguous(format!(
            "Twilio's list of messages to this number is longer than the {} pages read",
            twilio::MAX_LIST_PAGES
        ));
    }
    match (candidates.as_slice(), matching) {
        ([], _) => Verdict::Missing,
        ([only], 1) => Verdict::Found((*only).clone()),
        (all, _) => Verdict::Ambiguous(format!(
            "{} candidate messages, {matching} with the campaign's text: {}",
            all.len(),
            all.iter()
                .take(5)
                .map(|message| message.sid.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What the job does with one recipient after looking.
enum Step {
    Resolve {
        resolution: Resolution,
        /// What the list says of the message found, with its SID.
        delivery: Option<Delivery>,
        message_sid: Option<String>,
        note: String,
    },
    /// Look again at `until`; `failed`: this lookup failed (it counts as an attempt).
    Wait {
        until: DateTime<Utc>,
        note: String,
        failed: bool,
    },
    /// Leave it to a person.
    Stop { note: String, failed: bool },
}

impl<L: MessageLog> Lookup<L> {
    pub fn new(pool: DbPool, campaigns: Campaigns, log: L, config: LookupConfig) -> Self {
        Self {
            pool,
            campaigns,
            log,
            config,
        }
    }

    pub fn config(&self) -> &LookupConfig {
        &self.config
    }

    /// Claims up to `batch` due recipients and looks each one up.
    pub async fn run_once(&self) -> Result<LookupReport, CampaignsError> {
        let candidates = self.claim().await?;
        let mut report = LookupReport {
            claimed: candidates.len(),
            ..LookupReport::default()
        };
        for candidate in candidates {
            let step = self.look(&candidate, &mut report).await?;
            self.apply(&candidate, step).await?;
        }
        Ok(report)
    }

    async fn claim(&self) -> Result<Vec<Candidate>, CampaignsError> {
        let now = self.campaigns.now();
        let mut conn = self.pool.get().await?;
        let limit = i64::try_from(self.config.batch.max(1)).unwrap_or(i64::MAX);
        Ok(diesel::sql_query(
            "WITH due AS ( \
                 SELECT id FROM campaign_recipients \
                 WHERE status = 'unconfirmed' AND NOT lookup_stopped AND unconfirmed_at <= $1 \
                   AND (lookup_next_at IS NULL OR lookup_next_at <= $2) \
                 ORDER BY unconfirmed_at LIMIT $3 FOR UPDATE SKIP LOCKED), \
             claimed AS ( \
                 UPDATE campaign_recipients AS r SET lookup_next_at = $4 \
                 FROM due WHERE r.id = due.id \
                 RETURNING r.id, r.campaign_id, r.batch_id, r.phone, r.unconfirmed_at, \
                           r.delivery_status, r.twilio_sid, r.lookup_attempts) \
             SELECT claimed.id, claimed.campaign_id, claimed.phone, claimed.unconfirmed_at, \
                    coalesce(batch.claimed_at, claimed.unconfirmed_at - interval '1 day') \
                        AS claimed_at, \
                    claimed.delivery_status, claimed.twilio_sid, claimed.lookup_attempts, \
                    c.body, c.sender_kind, c.sender, b.twilio_subaccount_sid AS subaccount \
             FROM claimed JOIN campaigns AS c ON c.id = claimed.campaign_id \
             JOIN brands AS b ON b.id = c.brand_id \
             LEFT JOIN campaign_batches AS batch ON batch.id = claimed.batch_id \
             ORDER BY claimed.unconfirmed_at",
        )
        .bind::<Timestamptz, _>(now - self.config.after)
        .bind::<Timestamptz, _>(now)
        .bind::<BigInt, _>(limit)
        .bind::<Timestamptz, _>(now + self.config.lease)
        .load(&mut conn)
        .await?)
    }

    /// Decides what to do with one recipient, asking Twilio if needed (no connection held).
    async fn look(
        &self,
        candidate: &Candidate,
        report: &mut LookupReport,
    ) -> Result<Step, CampaignsError> {
        if let Some(status) = candidate.delivery_status.as_deref() {
            let status = DeliveryStatus::parse(status).ok_or_else(|| {
                CampaignsError::Corrupt(format!("recipient {}: delivery_status", candidate.id))
            })?;
            report.from_callbacks += 1;
            return Ok(Step::Resolve {
                resolution: resolution_for(status, candidate.twilio_sid.clone()),
                delivery: None,
                message_sid: None,
                note: format!("resolved from the delivery status Twilio reported ({status})"),
            });
        }
        let sender = Sender::from_stored(&candidate.sender_kind, candidate.sender.clone())
            .ok_or_else(|| {
                CampaignsError::Corrupt(format!("recipient {}: sender_kind", candidate.id))
            })?;
        let query = MessageQuery {
            account_sid: candidate.subaccount.clone(),
            to: candidate.phone.clone(),
            from: match &sender {
                Sender::From(number) => Some(number.clone()),
                Sender::MessagingService(_) => None,
            },
        };
        let listing = match self.log.list_messages(&query).await {
            Ok(listing) => listing,
            Err(error) => {
                report.errors += 1;
                return Ok(self.failed(candidate, &error));
            }
        };
        let expected = Expected {
            to: &candidate.phone,
            sender: &sender,
            body: &candidate.body,
            since: candidate.claimed_at,
        };
        let now = self.campaigns.now();
        Ok(match judge(expected, &listing) {
            Verdict::Found(message) => {
                if self.sid_taken(&message.sid, candidate.id).await? {
                    report.ambiguous += 1;
                    ambiguous(
                        candidate,
                        format!(
                            "the one matching message {} is another recipient's",
                            message.sid
                        ),
                    )
                } else {
                    let delivery =
                        DeliveryStatus::from_twilio(&message.status).map(|status| Delivery {
                            status,
                            error_code: message
                                .error_code
                                .and_then(|code| i32::try_from(code).ok())
                                .filter(|code| *code > 0),
                        });
                    // As for a callback: a message Twilio failed to send was not sent.
                    let resolution = match delivery {
                        Some(delivery) => {
                            resolution_for(delivery.status, Some(message.sid.clone()))
                        }
                        None => Resolution::Sent {
                            twilio_sid: Some(message.sid.clone()),
                        },
                    };
                    if resolution == Resolution::NotSent {
                        report.not_sent += 1;
                    } else {
                        report.sent += 1;
                    }
                    Step::Resolve {
                        resolution,
                        delivery,
                        message_sid: Some(message.sid.clone()),
                        note: format!(
                            "found in Twilio's message list: {} ({})",
                            message.sid,
                            message.status.as_str()
                        ),
                    }
                }
            }
            Verdict::Missing if candidate.unconfirmed_at + self.config.not_sent_after <= now => {
                report.not_sent += 1;
                Step::Resolve {
                    resolution: Resolution::NotSent,
                    delivery: None,
                    message_sid: None,
                    note: format!(
                        "not in Twilio's message list {} minutes after it became unconfirmed",
                        self.config.not_sent_after.num_minutes()
                    ),
                }
            }
            Verdict::Missing => {
                report.waiting += 1;
                Step::Wait {
                    until: candidate.unconfirmed_at + self.config.not_sent_after,
                    note: "not in Twilio's message list yet; looked at again before concluding"
                        .into(),
                    failed: false,
                }
            }
            Verdict::Ambiguous(reason) => {
                report.ambiguous += 1;
                ambiguous(candidate, reason)
            }
        })
    }

    /// A failed lookup: tried again after a backoff, or left to a person after too many.
    fn failed(&self, candidate: &Candidate, error: &TwilioError) -> Step {
        let attempts = u32::try_from(candidate.lookup_attempts).unwrap_or(0) + 1;
        metrics::counter!("twilio_lookups_total", "outcome" => "error").increment(1);
        let note = format!("message lookup failed ({attempts} times): {error}");
        if attempts >= self.config.max_attempts {
            tracing::error!(
                event = "twilio_lookup_gave_up",
                recipient = candidate.id,
                campaign = %candidate.campaign_id,
                attempts,
                %error,
                "Twilio's message list could not be read; the unconfirmed recipient is left to a \
                 person"
            );
            return Step::Stop { note, failed: true };
        }
        tracing::warn!(
            event = "twilio_lookup_failed",
            recipient = candidate.id,
            campaign = %candidate.campaign_id,
            attempts,
            %error,
            "Twilio's message list could not be read; trying again later"
        );
        let factor = 1_i32 << attempts.saturating_sub(1).min(10);
        let wait = (self.config.retry_after * factor).min(Duration::hours(1));
        Step::Wait {
            until: self.campaigns.now() + wait,
            note,
            failed: true,
        }
    }

    /// Whether another recipient already has `sid`: then the listed message is not ours.
    async fn sid_taken(&self, sid: &str, recipient: i64) -> Result<bool, CampaignsError> {
        let mut conn = self.pool.get().await?;
        let taken: i64 = recipients::table
            .filter(recipients::twilio_sid.eq(sid))
            .filter(recipients::id.ne(recipient))
            .count()
            .get_result(&mut conn)
            .await?;
        Ok(taken > 0)
    }

    async fn apply(&self, candidate: &Candidate, step: Step) -> Result<(), CampaignsError> {
        let mut conn = self.pool.get().await?;
        let id = candidate.id;
        match step {
            Step::Resolve {
                resolution,
                delivery,
                message_sid,
                note,
            } => {
                let campaign_id = CampaignId::from_uuid(candidate.campaign_id);
                let campaigns = &self.campaigns;
                let note = note.as_str();
                let resolved = conn
                    .transaction(async move |conn| {
                        let campaign = store::lock(conn, None, campaign_id).await?;
                        let row = delivery::lock_row(conn, id).await?;
                        if row.recipient_status()? != RecipientStatus::Unconfirmed {
                            // Resolved meanwhile (a callback, a person): nothing to do.
                            return Ok::<_, CampaignsError>(None);
                        }
                        if let Some(delivery) = delivery {
                            let now = campaigns.now();
                            let sid = message_sid.as_deref();
                            delivery::write(conn, id, &row, sid, delivery, now).await?;
                        }
                        let recipient = reconcile::resolve_locked(
                            conn,
                            campaigns,
                            &campaign,
                            id,
                            &resolution,
                            lookup_actor(),
                        )
                        .await?;
                        set_note(conn, id, note).await?;
                        Ok(Some(recipient.status))
                    })
                    .await?;
                if let Some(status) = resolved {
                    metrics::counter!("campaign_recipients_auto_resolved_total",
                        "by" => "lookup", "outcome" => status.as_str())
                    .increment(1);
                    metrics::counter!("twilio_lookups_total", "outcome" => status.as_str())
                        .increment(1);
                    tracing::info!(
                        event = "twilio_lookup_resolved",
                        recipient = id,
                        campaign = %candidate.campaign_id,
                        status = status.as_str(),
                        note,
                        "unconfirmed recipient resolved from Twilio"
                    );
                }
            }
            Step::Wait {
                until,
                note,
                failed,
            } => {
                diesel::update(recipients::table.find(id))
                    .filter(recipients::status.eq(RecipientStatus::Unconfirmed.as_str()))
                    .set((
                        recipients::lookup_next_at.eq(until),
                        recipients::lookup_attempts
                            .eq(recipients::lookup_attempts + i32::from(failed)),
                        recipients::lookup_note.eq(error_text(&note, 500)),
                    ))
                    .execute(&mut conn)
                    .await?;
            }
            Step::Stop { note, failed } => {
                diesel::update(recipients::table.find(id))
                    .filter(recipients::status.eq(RecipientStatus::Unconfirmed.as_str()))
                    .set((
                        recipients::lookup_stopped.eq(true),
                        recipients::lookup_next_at.eq(None::<DateTime<Utc>>),
                        recipients::lookup_attempts
                            .eq(recipients::lookup_attempts + i32::from(failed)),
                        recipients::lookup_note.eq(error_text(&note, 500)),
                    ))
                    .execute(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }
}

fn ambiguous(candidate: &Candidate, reason: String) -> Step {
    tracing::warn!(
        event = "twilio_lookup_ambiguous",
        recipient = candidate.id,
        campaign = %candidate.campaign_id,
        reason = reason.as_str(),
        "Twilio's message list cannot tell whether the unconfirmed recipient was sent; left to a \
         person"
    );
    metrics::counter!("twilio_lookups_total", "outcome" => "ambiguous").increment(1);
    Step::Stop {
        note: format!("left to a person: {reason}"),
        failed: false,
    }
}

async fn set_note(
    conn: &mut db::AsyncPgConnection,
    id: i64,
    note: &str,
) -> Result<(), CampaignsError> {
    diesel::update(recipients::table.find(id))
        .set((
            recipients::lookup_note.eq(error_text(note, 500)),
            recipients::lookup_next_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Who resolves an unconfirmed recipient from a lookup, in the ledger.
fn lookup_actor() -> Actor {
    Actor::system("twilio-lookup")
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilio::MessageStatus;

    const TO: &str = "+14150000001";
    const FROM: &str = "+14155550199";
    const BODY: &str = "Spring sale";

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap_or_default()
    }

    fn message(sid: u32, body: &str, created: i64) -> ListedMessage {
        ListedMessage {
            sid: format!("SM{sid:032x}"),
            to: Some(TO.into()),
            from: Some(FROM.into()),
            body: Some(body.into()),
            status: MessageStatus::Delivered,
            direction: Some("outbound-api".into()),
            messaging_service_sid: None,
            error_code: None,
            date_created: Some(at(created)),
            date_sent: Some(at(created)),
        }
    }

    fn listing(messages: Vec<ListedMessage>) -> MessageListing {
        MessageListing {
            messages,
            complete: true,
        }
    }

    fn verdict(sender: &Sender, messages: Vec<ListedMessage>) -> Verdict {
        let expected = Expected {
            to: TO,
            sender,
            body: BODY,
            since: at(0),
        };
        judge(expected, &listing(messages))
    }

    #[test]
    fn one_message_with_the_campaigns_text_is_found() {
        let from = Sender::From(FROM.into());
        let found = verdict(&from, vec![message(1, BODY, 1)]);
        assert!(
            matches!(found, Verdict::Found(ref m) if m.sid.ends_with('1')),
            "{found:?}"
        );
        // Older than the claim (beyond the skew), inbound, to or from another number: not
        // candidates.
        let mut inbound = message(2, BODY, 2);
        inbound.direction = Some("inbound".into());
        let mut other_to = message(3, BODY, 2);
        other_to.to = Some("+14150000002".into());
        let mut other_from = message(4, BODY, 2);
        other_from.from = Some("+14155550100".into());
        let found = verdict(
            &from,
            vec![
                message(1, BODY, 1),
                message(5, BODY, -60),
                inbound,
                other_to,
                other_from,
            ],
        );
        assert!(
            matches!(found, Verdict::Found(ref m) if m.sid.ends_with('1')),
            "{found:?}"
        );
        // Through a messaging service: matched by the service, whatever number it picked.
        let service = Sender::MessagingService(format!("MG{}", "a".repeat(32)));
        let mut picked = message(6, BODY, 1);
        picked.from = Some("+14155550111".into());
        picked.messaging_service_sid = Some(format!("MG{}", "a".repeat(32)));
        assert!(matches!(verdict(&service, vec![picked]), Verdict::Found(_)));
    }

    #[test]
    fn nothing_that_could_be_ours_is_missing() {
        let from = Sender::From(FROM.into());
        assert_eq!(verdict(&from, vec![]), Verdict::Missing);
        assert_eq!(
            verdict(&from, vec![message(1, BODY, -60)]),
            Verdict::Missing
        );
    }

    #[test]
    fn several_candidates_another_text_or_an_incomplete_list_is_ambiguous() {
        let from = Sender::From(FROM.into());
        let cases = [
            vec![message(1, BODY, 1), message(2, BODY, 2)],
            vec![message(1, BODY, 1), message(2, "Another campaign", 2)],
            vec![message(1, "", 1)],
            vec![message(1, "Smart-encoded text", 1)],
        ];
        for messages in cases {
            let shown = format!("{messages:?}");
            assert!(
                matches!(verdict(&from, messages), Verdict::Ambiguous(_)),
                "{shown}"
            );
        }
        let expected = Expected {
            to: TO,
            sender: &from,
            body: BODY,
            since: at(0),
        };
        let incomplete = MessageListing {
            messages: vec![message(1, BODY, 1)],
            complete: false,
        };
        assert!(matches!(
            judge(expected, &incomplete),
            Verdict::Ambiguous(_)
        ));
    }
}
