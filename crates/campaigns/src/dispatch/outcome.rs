//! What one Twilio send means for its recipient and its money (pure).
//!
//! The line is drawn by whether Twilio may have the message:
//! - it answered with the message: **sent**, charged;
//! - it refused it (a 4xx about this message, e.g. 21211 invalid `To`): **failed**, free;
//! - it certainly never saw it (connect error, 429, our own configuration): back to
//!   **pending**, free, sent by a later batch;
//! - anything else (5xx, timeout, a lost connection, an answer we cannot read): Twilio may have
//!   sent it, so it is **unconfirmed**: charged, never resent, for a person to resolve.

use chrono::{DateTime, Utc};
use primitives::Money;
use twilio::{MessageStatus, SentMessage, TwilioError};

use crate::{RecipientStatus, delivery::DeliveryStatus, input::message_sid};

/// Error texts stored on a recipient are at most this long.
const MAX_ERROR_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Accepted(SentMessage),
    Refused {
        code: Option<u32>,
        message: String,
        /// Twilio created the message and reports it failed (a final status in its answer).
        delivery: Option<DeliveryStatus>,
    },
    Unsent {
        message: String,
    },
    Unknown {
        message: String,
    },
    /// The batch stopped before this recipient's turn.
    NotAttempted,
}

impl Outcome {
    pub(crate) fn classify(result: Result<SentMessage, TwilioError>) -> Self {
        let error = match result {
            Ok(message) if is_final_failure(&message.status) => {
                return Self::Refused {
                    code: None,
                    message: format!("Twilio reports the message {:?}", message.status),
                    delivery: DeliveryStatus::from_twilio(&message.status),
                };
            }
            Ok(message) => return Self::Accepted(message),
            Err(error) => error,
        };
        let message = format!("Twilio: {error}");
        match error {
            TwilioError::InvalidInput { .. } => Self::Refused {
                code: None,
                message,
                delivery: None,
            },
            TwilioError::Config(_) | TwilioError::Transport { connect: true, .. } => {
                Self::Unsent { message }
            }
            // Rate limited, or our credentials / the account refused: about the account, not
            // this recipient, and Twilio processed nothing.
            TwilioError::Api {
                status: 401 | 403 | 429,
                ..
            } => Self::Unsent { message },
            TwilioError::Api { status, code, .. } if (400..500).contains(&status) => {
                Self::Refused {
                    code,
                    message,
                    delivery: None,
                }
            }
            TwilioError::Api { .. }
            | TwilioError::Transport { .. }
            | TwilioError::Decode { .. } => Self::Unknown { message },
        }
    }

    /// Whether the rest of the batch should wait: Twilio is refusing the account or may be in
    /// trouble, and every further send could become another unconfirmed one.
    pub(crate) fn halts(&self) -> bool {
        matches!(self, Self::Unsent { .. } | Self::Unknown { .. })
    }

    pub(crate) fn status(&self) -> RecipientStatus {
        match self {
            Self::Accepted(_) => RecipientStatus::Sent,
            Self::Refused { .. } => RecipientStatus::Failed,
            Self::Unsent { .. } | Self::NotAttempted => RecipientStatus::Pending,
            Self::Unknown { .. } => RecipientStatus::Unconfirmed,
        }
    }

    /// Whether it costs the message's price: it went out, or may have.
    pub(crate) fn is_charged(&self) -> bool {
        matches!(self, Self::Accepted(_) | Self::Unknown { .. })
    }

    /// The recipient's new row values.
    pub(crate) fn row(&self, cost: Money, now: DateTime<Utc>) -> RowUpdate {
        let mut row = RowUpdate {
            status: self.status(),
            charged: if self.is_charged() { cost.minor() } else { 0 },
            attempted: i32::from(!matches!(self, Self::NotAttempted)),
            sent_at: None,
            sid: None,
            twilio_status: None,
            price: None,
            price_unit: None,
            error_code: None,
            error: None,
            delivery: None,
        };
        match self {
            Self::Accepted(message) => {
                row.sent_at = Some(now);
                row.sid = message_sid(&message.sid);
                row.twilio_status = bounded(status_text(&message.status), 32);
                row.price = message
                    .price
                    .as_deref()
                    .and_then(|p| bounded(p.to_owned(), 32));
                row.price_unit = message
                    .price_unit
                    .as_deref()
                    .and_then(|u| bounded(u.to_owned(), 8));
                row.delivery = DeliveryStatus::from_twilio(&message.status);
            }
            Self::Refused {
                code,
                message,
                delivery,
            } => {
                row.error_code = code.and_then(|code| i32::try_from(code).ok());
                row.error = Some(sanitize(message));
                row.delivery = *delivery;
            }
            Self::Unsent { message } | Self::Unknown { message } => {
                row.error = Some(sanitize(message));
            }
            Self::NotAttempted => {}
        }
        row
    }
}

/// A recipient's columns after a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowUpdate {
    pub status: RecipientStatus,
    pub charged: i64,
    pub attempted: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub sid: Option<String>,
    pub twilio_status: Option<String>,
    pub price: Option<String>,
    pub price_unit: Option<String>,
    pub error_code: Option<i32>,
    pub error: Option<String>,
    /// What the answer says about delivery (kept only if no callback said more already).
    pub delivery: Option<DeliveryStatus>,
}

fn is_final_failure(status: &MessageStatus) -> bool {
    matches!(
        status,
        MessageStatus::Failed | MessageStatus::Undelivered | MessageStatus::Canceled
    )
}

fn status_text(status: &MessageStatus) -> String {
    match status {
        MessageStatus::Unknown(text) => text.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn bounded(text: String, max: usize) -> Option<String> {
    let text: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    (!text.is_empty()).then_some(text)
}

fn sanitize(message: &str) -> String {
    crate::input::error_text(message, MAX_ERROR_CHARS)
}

#[cfg(test)]
mod tests {
    use primitives::Currency;

    use super::*;

    fn api(status: u16, code: Option<u32>) -> TwilioError {
        TwilioError::Api {
            status,
            code,
            message: "nope".into(),
            more_info: None,
        }
    }

    fn sent(status: MessageStatus) -> SentMessage {
        SentMessage {
            sid: format!("SM{}", "a".repeat(32)),
            status,
            price: Some("-0.00750".into()),
            price_unit: Some("USD".into()),
        }
    }

    #[test]
    fn only_what_twilio_may_have_is_charged_and_nothing_maybe_sent_is_resent() {
        use RecipientStatus as R;
        let cases = [
            (Ok(sent(MessageStatus::Queued)), R::Sent, true, false),
            (Ok(sent(MessageStatus::Failed)), R::Failed, false, false),
            (Err(api(400, Some(21211))), R::Failed, false, false),
            (Err(api(404, None)), R::Failed, false, false),
            (Err(api(429, Some(20429))), R::Pending, false, true),
            (Err(api(401, Some(20003))), R::Pending, false, true),
            (Err(api(500, None)), R::Unconfirmed, true, true),
            (Err(api(503, None)), R::Unconfirmed, true, true),
            (
                Err(TwilioError::Transport {
                    message: "connection refused".into(),
                    connect: true,
                }),
                R::Pending,
                false,
                true,
            ),
            (
                Err(TwilioError::Transport {
                    message: "timed out".into(),
                    connect: false,
                }),
                R::Unconfirmed,
                true,
                true,
            ),
            (
                Err(TwilioError::Decode {
                    status: 201,
                    message: "eof".into(),
                }),
                R::Unconfirmed,
                true,
                true,
            ),
            (
                Err(TwilioError::InvalidInput {
                    field: "to",
                    reason: "is empty",
                }),
                R::Failed,
                false,
                false,
            ),
        ];
        for (result, status, charged, halts) in cases {
            let shown = format!("{result:?}");
            let outcome = Outcome::classify(result);
            assert_eq!(outcome.status(), status, "{shown}");
            assert_eq!(outcome.is_charged(), charged, "{shown}");
            assert_eq!(outcome.halts(), halts, "{shown}");
        }
    }

    #[test]
    fn rows_keep_twilio_facts_within_bounds() {
        let cost = Money::from_minor(7, Currency::USD);
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let row = Outcome::Accepted(sent(MessageStatus::Queued)).row(cost, now);
        assert_eq!(row.charged, 7);
        assert_eq!(row.sent_at, Some(now));
        assert_eq!(row.twilio_status.as_deref(), Some("queued"));
        assert_eq!(row.delivery, Some(DeliveryStatus::Queued));
        assert_eq!(row.price.as_deref(), Some("-0.00750"));
        let odd = SentMessage {
            sid: "not a sid".into(),
            status: MessageStatus::Unknown("x".repeat(100)),
            price: Some(String::new()),
            price_unit: Some("\u{0}".into()),
        };
        let row = Outcome::Accepted(odd).row(cost, now);
        assert_eq!(row.sid, None);
        assert_eq!(row.twilio_status.map(|s| s.len()), Some(32));
        assert_eq!((row.price, row.price_unit), (None, None));
        let refused = Outcome::classify(Err(api(400, Some(21211)))).row(cost, now);
        assert_eq!((refused.charged, refused.error_code), (0, Some(21211)));
        assert_eq!(refused.delivery, None);
        let failed = Outcome::classify(Ok(sent(MessageStatus::Failed))).row(cost, now);
        assert_eq!(
            (failed.charged, failed.delivery),
            (0, Some(DeliveryStatus::Failed))
        );
        assert_eq!(Outcome::NotAttempted.row(cost, now).attempted, 0);
        assert_eq!(sanitize(&"é\n".repeat(600)).chars().count(), 500);
    }
}
