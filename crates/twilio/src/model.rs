//! Domain types: what callers pass and get back, apart from Twilio's JSON (see `wire`).
//! Recipients' and senders' numbers and message bodies are customer data: masked in `Debug`.

use std::fmt;

use chrono::{DateTime, Utc};
use outbound::masked;

/// An account's status as Twilio reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Suspended,
    Closed,
    /// A value Twilio may add later; kept, not refused.
    Unknown(String),
}

impl AccountStatus {
    pub(crate) fn from_wire(value: &str) -> Self {
        match value {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "closed" => Self::Closed,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// A status we may set on a subaccount. There is deliberately no `Closed`: closing is permanent
/// on Twilio's side (numbers released, account gone) and no billing event justifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubaccountStatus {
    Suspended,
    Active,
}

impl SubaccountStatus {
    /// The form value Twilio expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspended => "suspended",
            Self::Active => "active",
        }
    }
}

/// An account (or subaccount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub sid: String,
    pub friendly_name: Option<String>,
    pub status: AccountStatus,
}

/// Who a message is sent from. `Debug` masks a number, not a messaging service SID.
#[derive(Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number, short code or channel address (`From`).
    From(String),
    /// A messaging service, which picks the number (`MessagingServiceSid`, `MG...`).
    MessagingService(String),
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::From(number) => f.debug_tuple("From").field(&masked(number)).finish(),
            Self::MessagingService(sid) => f.debug_tuple("MessagingService").field(sid).finish(),
        }
    }
}

/// One message to send. `Debug` masks the recipient, a sending number and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct SendMessage {
    /// The (sub)account whose Messages resource is used, so the message is billed to it and
    /// refused while it is suspended. `None`: the parent account of the client.
    pub account_sid: Option<String>,
    pub to: String,
    pub from: Sender,
    pub body: String,
    /// Where Twilio posts delivery updates (validate them with [`crate::signature`]).
    pub status_callback: Option<url::Url>,
}

impl fmt::Debug for SendMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMessage")
            .field("account_sid", &self.account_sid)
            .field("to", &masked(&self.to))
            .field("from", &self.from)
            .field("body", &masked(&self.body))
            .field("status_callback", &self.status_callback)
            .finish()
    }
}

/// A message's status as Twilio reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStatus {
    Queued,
    Accepted,
    Scheduled,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    Unknown(String),
}

impl MessageStatus {
    /// Twilio's text (`"queued"`, `"delivered"` ...); a value we do not know is kept as
    /// [`MessageStatus::Unknown`].
    pub fn parse(value: &str) -> Self {
        Self::from_wire(value)
    }

    /// Twilio's text for this status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Accepted => "accepted",
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Unknown(text) => text,
        }
    }

    pub(crate) fn from_wire(value: &str) -> Self {
        match value {
            "queued" => Self::Queued,
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// What Twilio said about a message it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub sid: String,
    pub status: MessageStatus,
    /// Twilio's decimal text, usually negative (`"-0.00750"`) and often still `None` right after
    /// sending. Kept as text: it is stored beside our own integer cost, never used as money.
    pub price: Option<String>,
    /// ISO 4217 code of `price` (`"USD"`).
    pub price_unit: Option<String>,
}

/// Which messages of an account to list: those sent to `to`, from `from` when given (a
/// messaging service picks its own number, so a campaign sent through one lists by `To` alone).
/// `Debug` masks both numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageQuery {
    /// The (sub)account whose Messages resource is read.
    pub account_sid: String,
    pub to: String,
    pub from: Option<String>,
}

impl fmt::Debug for MessageQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageQuery")
            .field("account_sid", &self.account_sid)
            .field("to", &masked(&self.to))
            .field("from", &self.from.as_deref().map(masked))
            .finish()
    }
}

/// A message as Twilio's list shows it: what is needed to tell whether it is one we sent.
/// `Debug` masks the numbers and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct ListedMessage {
    pub sid: String,
    pub to: Option<String>,
    pub from: Option<String>,
    /// Empty or absent when the account redacts message bodies.
    pub body: Option<String>,
    pub status: MessageStatus,
    /// `outbound-api` for messages sent through the REST API; `inbound` for received ones.
    pub direction: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub error_code: Option<i64>,
    pub date_created: Option<DateTime<Utc>>,
    /// `None` while the message waits in Twilio's queue (or never left it).
    pub date_sent: Option<DateTime<Utc>>,
}

impl fmt::Debug for ListedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListedMessage")
            .field("sid", &self.sid)
            .field("to", &self.to.as_deref().map(masked))
            .field("from", &self.from.as_deref().map(masked))
            .field("body", &self.body.as_deref().map(masked))
            .field("status", &self.status)
            .field("direction", &self.direction)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("error_code", &self.error_code)
            .field("date_created", &self.date_created)
            .field("date_sent", &self.date_sent)
            .finish()
    }
}

/// The messages a [`MessageQuery`] found. `complete` is false when there were more pages
/// than the client reads (or a next page it would not follow): then the absence of a message
/// proves nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageListing {
    pub messages: Vec<ListedMessage>,
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "+94771234567";
    const FROM: &str = "+14155550199";
    const BODY: &str = "Your code is 918273";

    fn message(from: Sender) -> SendMessage {
        SendMessage {
            account_sid: Some("ACabcdef0123456789abcdef0123456789".into()),
            to: TO.into(),
            from,
            body: BODY.into(),
            status_callback: None,
        }
    }

    #[test]
    fn send_message_debug_masks_numbers_and_body() {
        let message = message(Sender::From(FROM.into()));
        let shown = format!("{message:?} {message:#?}");
        for hidden in [TO, "94771234567", FROM, "4155550199", BODY, "918273"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(
            shown.contains("ACabcdef0123456789abcdef0123456789"),
            "{shown}"
        );
    }

    #[test]
    fn sender_debug_masks_a_number_but_names_a_service() {
        let number = format!("{:?}", Sender::From(FROM.into()));
        assert!(!number.contains("4155550199"), "{number}");
        let service = "MG11111111111111111111111111111111";
        let shown = format!("{:?}", message(Sender::MessagingService(service.into())));
        assert!(shown.contains(service), "{shown}");
        assert!(!shown.contains(TO) && !shown.contains(BODY), "{shown}");
    }
}
