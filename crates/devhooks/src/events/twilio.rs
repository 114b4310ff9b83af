//! Twilio's message status callback: the form Twilio posts to a message's `StatusCallback`
//! (`MessageSid`, `MessageStatus`, `AccountSid`, `From`, `To`, `ApiVersion`, the legacy
//! `SmsSid`/`SmsStatus`, and `ErrorCode` when the message failed), to the URL the dispatcher
//! gave (the configured callback URL with `campaign` and `recipient` in its query). The account is
//! the brand's subaccount the message went out through; the callback is signed with that
//! account's token (`crate::deliver`).

use super::{FORM, HEX, Params, Provider, random_id};
use crate::{Error, LocalSecrets};

/// Statuses Twilio reports in a status callback.
const STATUSES: [&str; 9] = [
    "accepted",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "read",
    "canceled",
];

pub(super) fn build(params: &Params, secrets: &LocalSecrets) -> Result<super::Event, Error> {
    if let Some(url) = &params.url {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::Invalid(format!("--url {url}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Invalid(format!("--url {url}: not http(s)")));
        }
    }
    let status = params.status.as_deref().unwrap_or("delivered");
    if !STATUSES.contains(&status) {
        return Err(Error::Invalid(format!(
            "--status {status}: one of {}",
            STATUSES.join(", ")
        )));
    }
    let account = params
        .account
        .clone()
        .unwrap_or_else(|| secrets.twilio_account_sid.clone());
    let sid = params
        .message
        .clone()
        .unwrap_or_else(|| random_id("SM", 32, HEX));
    let mut fields = vec![
        ("AccountSid", account),
        ("ApiVersion", "2010-04-01".to_owned()),
        ("From", "+14155550199".to_owned()),
        ("MessageSid", sid.clone()),
        ("MessageStatus", status.to_owned()),
        ("SmsSid", sid.clone()),
        ("SmsStatus", status.to_owned()),
        ("To", "+14155550100".to_owned()),
    ];
    if matches!(status, "failed" | "undelivered") {
        // 30003: unreachable destination handset.
        fields.push(("ErrorCode", "30003".to_owned()));
    }
    let body = ::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish()
        .into_bytes();
    let query = [
        ("campaign", &params.campaign),
        ("recipient", &params.recipient),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_ref().map(|value| (name, value)))
    .fold(
        ::url::form_urlencoded::Serializer::new(String::new()),
        |mut query, (name, value)| {
            query.append_pair(name, value);
            query
        },
    )
    .finish();
    Ok(super::Event {
        provider: Provider::Twilio,
        id: sid.clone(),
        provider_type: format!("message status {status}"),
        content_type: FORM,
        body,
        payment: None,
        subscription: None,
        url: params.url.clone(),
        query: (!query.is_empty()).then_some(query),
    })
}
