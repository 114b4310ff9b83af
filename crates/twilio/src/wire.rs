//! Twilio's JSON, only the fields we read. Unknown fields are ignored so additions on Twilio's
//! side do not break us.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{Account, AccountStatus, ListedMessage, MessageStatus, SentMessage};

#[derive(Debug, Deserialize)]
pub(crate) struct AccountWire {
    sid: String,
    friendly_name: Option<String>,
    status: String,
}

impl From<AccountWire> for Account {
    fn from(wire: AccountWire) -> Self {
        Self {
            sid: wire.sid,
            friendly_name: wire.friendly_name,
            status: AccountStatus::from_wire(&wire.status),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageWire {
    sid: String,
    status: String,
    price: Option<String>,
    price_unit: Option<String>,
}

impl From<MessageWire> for SentMessage {
    fn from(wire: MessageWire) -> Self {
        Self {
            sid: wire.sid,
            status: MessageStatus::from_wire(&wire.status),
            price: wire.price,
            price_unit: wire.price_unit,
        }
    }
}

/// An account's auth token, from `GET /Accounts/{sid}.json` with the parent's credentials. No
/// `Debug`: it holds a secret.
#[derive(Deserialize)]
pub(crate) struct AccountTokenWire {
    pub sid: String,
    pub auth_token: Option<secrecy::SecretString>,
}

/// One page of `GET /Accounts/{sid}/Messages.json`. No `Debug`: it holds customer data.
#[derive(Deserialize)]
pub(crate) struct MessagePageWire {
    #[serde(default)]
    pub messages: Vec<ListedMessageWire>,
    pub next_page_uri: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListedMessageWire {
    sid: String,
    to: Option<String>,
    from: Option<String>,
    body: Option<String>,
    status: String,
    direction: Option<String>,
    messaging_service_sid: Option<String>,
    error_code: Option<i64>,
    date_created: Option<String>,
    date_sent: Option<String>,
}

impl From<ListedMessageWire> for ListedMessage {
    fn from(wire: ListedMessageWire) -> Self {
        Self {
            sid: wire.sid,
            to: wire.to,
            from: wire.from,
            body: wire.body,
            status: MessageStatus::from_wire(&wire.status),
            direction: wire.direction,
            messaging_service_sid: wire.messaging_service_sid,
            error_code: wire.error_code,
            date_created: wire.date_created.as_deref().and_then(rfc2822),
            date_sent: wire.date_sent.as_deref().and_then(rfc2822),
        }
    }
}

/// Twilio writes dates as RFC 2822 (`Thu, 30 Jul 2015 20:12:31 +0000`); one it writes otherwise
/// is unknown rather than an error, so the message is still seen.
fn rfc2822(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|date| date.with_timezone(&Utc))
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorWire {
    pub code: Option<u32>,
    pub message: Option<String>,
    pub more_info: Option<String>,
}
