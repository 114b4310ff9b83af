//! Twilio's JSON, only the fields we read. Unknown fields are ignored so additions on Twilio's
//! side do not break us.

use serde::Deserialize;

use crate::model::{Account, AccountStatus, MessageStatus, SentMessage};

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

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorWire {
    pub code: Option<u32>,
    pub message: Option<String>,
    pub more_info: Option<String>,
}
