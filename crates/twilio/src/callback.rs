//! Message status callbacks: what Twilio posts to a message's `StatusCallback`, and the keys
//! they are verified with.
//!
//! Twilio signs a callback with the auth token of the account the message belongs to. Messages
//! go out through each brand's subaccount, so the key is that subaccount's token, which the
//! parent account can read ([`AuthTokenSource`]). [`CallbackKeys`] keeps the tokens it fetched
//! in memory for a while and fetches one again when a signature does not match it (the token
//! may have been rotated), at most once per [`KeyPolicy::refetch_gap`] per account, so forged
//! requests cannot make us call Twilio at their pace.
//!
//! The `AccountSid` a callback names is read from the body before anything is verified, only
//! to choose the key; the receiver first checks it is an account of ours, so an unknown one
//! costs no call to Twilio. [`StatusCallback::parse`] reads the fields once the body is
//! verified.

use std::{
    collections::HashMap,
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use outbound::masked;
use secrecy::SecretString;

use crate::{
    AuthTokenSource, MessageStatus, TwilioError,
    signature::{SignatureError, SignatureValidator, decode_signature},
    validate_account_sid,
};

/// A delivery update about one message, read from a verified callback's form. `Debug` masks
/// the numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// The account the message belongs to (the key that signed the callback).
    pub account_sid: String,
    pub message_sid: String,
    pub status: MessageStatus,
    /// Twilio's error code of an `undelivered` or `failed` message (e.g. 30003 unreachable).
    pub error_code: Option<u32>,
    pub to: Option<String>,
    pub from: Option<String>,
}

impl fmt::Debug for StatusCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusCallback")
            .field("account_sid", &self.account_sid)
            .field("message_sid", &self.message_sid)
            .field("status", &self.status)
            .field("error_code", &self.error_code)
            .field("to", &self.to.as_deref().map(masked))
            .field("from", &self.from.as_deref().map(masked))
            .finish()
    }
}

/// Why a callback's form cannot be read. Stable code: `TWILIO_CALLBACK_MALFORMED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the callback has no {0}")]
    Missing(&'static str),
    #[error("the callback's {0} is malformed")]
    Invalid(&'static str),
    #[error("the callback names {0} more than once")]
    Repeated(&'static str),
}

impl CallbackError {
    pub const CODE: &'static str = "TWILIO_CALLBACK_MALFORMED";

    /// The form field the error is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::Missing(field) | Self::Invalid(field) | Self::Repeated(field) => field,
        }
    }
}

impl StatusCallback {
    /// Reads a form-encoded status callback (`MessageSid`, `MessageStatus`, `AccountSid`, and
    /// `ErrorCode`, `To`, `From` when present; the older `SmsSid` / `SmsStatus` names are read
    /// when the newer ones are absent). A field given twice is refused: which one would count?
    pub fn parse(body: &[u8]) -> Result<Self, CallbackError> {
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let one = |name: &'static str| -> Result<Option<&str>, CallbackError> {
            let mut values = fields.iter().filter(|(key, _)| key == name);
            let first = values.next().map(|(_, value)| value.as_str());
            if values.next().is_some() {
                return Err(CallbackError::Repeated(name));
            }
            Ok(first.filter(|value| !value.is_empty()))
        };
        let account_sid = one("AccountSid")?.ok_or(CallbackError::Missing("AccountSid"))?;
        if validate_account_sid(account_sid).is_err() {
            return Err(CallbackError::Invalid("AccountSid"));
        }
        let message_sid = match one("MessageSid")? {
            Some(sid) => sid,
            None => one("SmsSid")?.ok_or(CallbackError::Missing("MessageSid"))?,
        };
        if !is_message_sid(message_sid) {
            return Err(CallbackError::Invalid("MessageSid"));
        }
        let status = match one("MessageStatus")? {
            Some(status) => status,
            None => one("SmsStatus")?.ok_or(CallbackError::Missing("MessageStatus"))?,
        };
        if status.len() > 32 || !status.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
            return Err(CallbackError::Invalid("MessageStatus"));
        }
        let error_code = one("ErrorCode")?
            .map(|code| code.parse::<u32>())
            .transpose()
            .map_err(|_| CallbackError::Invalid("ErrorCode"))?
            // Twilio sends `ErrorCode=0` on some updates that carry no error.
            .filter(|code| *code != 0);
        Ok(Self {
            account_sid: account_sid.to_owned(),
            message_sid: message_sid.to_owned(),
            status: MessageStatus::parse(status),
            error_code,
            to: one("To")?.map(str::to_owned),
            from: one("From")?.map(str::to_owned),
        })
    }
}

/// The `AccountSid` a callback's (not yet verified) form names, if it names exactly one well
/// formed SID: only to choose the key it must have been signed with.
pub fn claimed_account(body: &[u8]) -> Option<String> {
    let mut sids = url::form_urlencoded::parse(body).filter(|(key, _)| key == "AccountSid");
    let (_, sid) = sids.next()?;
    if sids.next().is_some() || validate_account_sid(&sid).is_err() {
        return None;
    }
    Some(sid.into_owned())
}

/// A message SID: two capital letters (`SM`, `MM`) and 32 hex digits.
pub fn is_message_sid(value: &str) -> bool {
    value.len() == 34
        && value.bytes().take(2).all(|b| b.is_ascii_uppercase())
        && value.bytes().skip(2).all(|b| b.is_ascii_hexdigit())
}

/// How long fetched tokens are trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// A token is fetched again once it is this old.
    pub ttl: Duration,
    /// After a signature that does not match a cached token, the token is fetched again (it
    /// may have been rotated), but not if it was fetched less than this ago.
    pub refetch_gap: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(600),
            refetch_gap: Duration::from_secs(30),
        }
    }
}

/// Why a callback was not verified.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The signature is missing, malformed or does not match (code: the signature error's).
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The account's token could not be read from Twilio: our side could not check.
    #[error("the account's auth token could not be read from Twilio: {0}")]
    Unavailable(TwilioError),
}

struct Cached {
    token: SecretString,
    fetched: Instant,
}

/// Verifies callbacks with the right account's token: the parent's own (configured), or a
/// subaccount's, read through `S` and kept in memory. `Debug` shows neither token.
pub struct CallbackKeys<S> {
    source: S,
    parent_sid: String,
    parent: SignatureValidator,
    policy: KeyPolicy,
    cache: Mutex<HashMap<String, Cached>>,
}

impl<S> fmt::Debug for CallbackKeys<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackKeys")
            .field("parent_sid", &self.parent_sid)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S: AuthTokenSource> CallbackKeys<S> {
    pub fn new(
        source: S,
        parent_sid: impl Into<String>,
        parent_token: SecretString,
        policy: KeyPolicy,
    ) -> Self {
        Self {
            source,
            parent_sid: parent_sid.into(),
            parent: SignatureValidator::new(parent_token),
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn parent_sid(&self) -> &str {
        &self.parent_sid
    }

    /// Verifies a form callback signed by `account_sid` over `url` (the full public URL Twilio
    /// requested). The caller has checked that the account is ours: a missing or malformed
    /// signature is refused before any token is read, and a subaccount's token is read from
    /// Twilio only when it is not cached (or on a mismatch, see [`KeyPolicy::refetch_gap`]).
    pub async fn verify_form(
        &self,
        account_sid: &str,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), KeyError> {
        decode_signature(signature)?;
        if account_sid == self.parent_sid {
            return Ok(self.parent.validate_form_body(url, body, signature)?);
        }
        let (token, fresh) = match self.cached(account_sid, self.policy.ttl) {
            Some(token) => (token, false),
            None => (self.fetch(account_sid).await?, true),
        };
        let first = SignatureValidator::new(token).validate_form_body(url, body, signature);
        match first {
            Err(SignatureError::BadSignature) if !fresh => {}
            other => return Ok(other?),
        }
        // A mismatch with a cached token: rotated since, or a forgery. Read it again unless it
        // was read very recently (then the cached one is current and this is a forgery).
        if self.cached(account_sid, self.policy.refetch_gap).is_some() {
            return Err(SignatureError::BadSignature.into());
        }
        let token = self.fetch(account_sid).await?;
        Ok(SignatureValidator::new(token).validate_form_body(url, body, signature)?)
    }

    /// The cached token of `account_sid` if fetched less than `within` ago.
    fn cached(&self, account_sid: &str, within: Duration) -> Option<SecretString> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(account_sid)
            .filter(|cached| cached.fetched.elapsed() < within)
            .map(|cached| cached.token.clone())
    }

    async fn fetch(&self, account_sid: &str) -> Result<SecretString, KeyError> {
        let token = self
            .source
            .auth_token(account_sid)
            .await
            .map_err(KeyError::Unavailable)?;
        tracing::info!(
            account_sid,
            "Twilio subaccount auth token read for callback verification"
        );
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                account_sid.to_owned(),
                Cached {
                    token: token.clone(),
                    fetched: Instant::now(),
                },
            );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const MESSAGE: &str = "SM0123456789abcdef0123456789abcdef";

    fn body(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
            .into_bytes()
    }

    #[test]
    fn reads_a_status_callback_and_masks_numbers() {
        let parsed = StatusCallback::parse(&body(&[
            ("AccountSid", ACCOUNT),
            ("MessageSid", MESSAGE),
            ("SmsSid", MESSAGE),
            ("MessageStatus", "undelivered"),
            ("SmsStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("To", "+94771234567"),
            ("From", "+14155550199"),
            ("ApiVersion", "2010-04-01"),
        ]))
        .unwrap();
        assert_eq!(parsed.status, MessageStatus::Undelivered);
        assert_eq!(parsed.error_code, Some(30003));
        assert_eq!(parsed.to.as_deref(), Some("+94771234567"));
        let shown = format!("{parsed:?}");
        assert!(
            !shown.contains("771234567") && !shown.contains("4155550199"),
            "{shown}"
        );
        // The older names alone, and an ErrorCode of 0 meaning none.
        let old = StatusCallback::parse(&body(&[
            ("AccountSid", ACCOUNT),
            ("SmsSid", MESSAGE),
            ("SmsStatus", "sent"),
            ("ErrorCode", "0"),
        ]))
        .unwrap();
        assert_eq!((old.status, old.error_code), (MessageStatus::Sent, None));
    }

    #[test]
    fn missing_repeated_or_malformed_fields_are_refused_by_name() {
        let good = [
            ("AccountSid", ACCOUNT),
            ("MessageSid", MESSAGE),
            ("MessageStatus", "sent"),
        ];
        let without = |name: &str| -> Vec<(&str, &str)> {
            good.iter().copied().filter(|(k, _)| *k != name).collect()
        };
        let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
            let mut pairs = without(name);
            pairs.push((name, value));
            pairs
        };
        let mut repeated = good.to_vec();
        repeated.push(("MessageStatus", "delivered"));
        let cases = [
            (without("AccountSid"), CallbackError::Missing("AccountSid")),
            (without("MessageSid"), CallbackError::Missing("MessageSid")),
            (
                without("MessageStatus"),
                CallbackError::Missing("MessageStatus"),
            ),
            (
                with("AccountSid", "AC123"),
                CallbackError::Invalid("AccountSid"),
            ),
            (
                with("MessageSid", "SM../../x"),
                CallbackError::Invalid("MessageSid"),
            ),
            (
                with("MessageStatus", "DELIVERED\n"),
                CallbackError::Invalid("MessageStatus"),
            ),
            (
                [good.to_vec(), vec![("ErrorCode", "x1")]].concat(),
                CallbackError::Invalid("ErrorCode"),
            ),
            (repeated, CallbackError::Repeated("MessageStatus")),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                StatusCallback::parse(&body(&pairs)),
                Err(expected),
                "{pairs:?}"
            );
        }
        assert_eq!(
            StatusCallback::parse(b"%%%"),
            Err(CallbackError::Missing("AccountSid"))
        );
    }

    #[test]
    fn the_claimed_account_is_one_well_formed_sid_or_none() {
        assert_eq!(
            claimed_account(&body(&[("AccountSid", ACCOUNT)])).as_deref(),
            Some(ACCOUNT)
        );
        assert_eq!(claimed_account(&body(&[("AccountSid", "ACnope")])), None);
        assert_eq!(
            claimed_account(&body(&[("AccountSid", ACCOUNT), ("AccountSid", ACCOUNT)])),
            None
        );
        assert_eq!(claimed_account(b""), None);
    }
}
