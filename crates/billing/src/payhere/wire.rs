//! Subscription Manager API bodies as PayHere writes them. Kept apart from the domain types in
//! [`super::api`], which check and convert them.

use serde::Deserialize;

/// `POST /merchant/v1/oauth/token`.
#[derive(Deserialize)]
pub(crate) struct Token {
    pub(crate) access_token: String,
    pub(crate) expires_in: u64,
}

/// Every API answer: `status` 1 is success; `msg` says what happened.
#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    pub(crate) status: i64,
    #[serde(default)]
    pub(crate) msg: Option<String>,
    #[serde(default = "Option::default")]
    pub(crate) data: Option<T>,
}

/// The OAuth server's error (`invalid_token`, `invalid_client` ...).
#[derive(Deserialize)]
pub(crate) struct OAuthError {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

/// PayHere writes ids as JSON numbers (`420075032251`); strings are read too.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Id {
    Number(u64),
    Text(String),
}

impl Id {
    pub(crate) fn into_string(self) -> String {
        match self {
            Self::Number(number) => number.to_string(),
            Self::Text(text) => text,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct Subscription {
    pub(crate) subscription_id: Id,
    pub(crate) order_id: String,
    #[serde(default)]
    pub(crate) date: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Human text: "Charged every month for 3 years".
    #[serde(default)]
    pub(crate) recurring: Option<String>,
    pub(crate) status: String,
    /// A JSON number (`100`, `36.6`): read as its decimal text, never as a float.
    #[serde(default)]
    pub(crate) amount: Option<serde_json::Number>,
    #[serde(default)]
    pub(crate) currency: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Payment {
    pub(crate) payment_id: Id,
    pub(crate) order_id: String,
    #[serde(default)]
    pub(crate) date: Option<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    pub(crate) status: String,
    pub(crate) currency: String,
    pub(crate) amount: serde_json::Number,
}
