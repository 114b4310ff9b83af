//! Domain types: what callers pass and get back, apart from Twilio's JSON (see `wire`).

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

/// Who a message is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number, short code or channel address (`From`).
    From(String),
    /// A messaging service, which picks the number (`MessagingServiceSid`, `MG...`).
    MessagingService(String),
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
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
