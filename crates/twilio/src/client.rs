//! [`TwilioClient`]: the three calls, their input checks and their answers, over the outbound
//! layer ([`outbound::Client`]), which owns the retry rules:
//!
//! - reads and status changes (doing them twice ends the same) are
//!   [`outbound::Repeat::Safe`]: retried on 429, 5xx and any failed exchange, timeouts included;
//! - message sends (twice means two SMS, paid twice) are [`outbound::Repeat::OnlyIfUnsent`]:
//!   retried only on 429 (Twilio refused before processing) and when the connection never
//!   opened. A 5xx, a timeout or a dropped connection after sending may mean Twilio accepted the
//!   message, so the error goes back to the caller.

use http::Method;
use outbound::{OutboundError, Request, Response};
use secrecy::SecretString;

use crate::sid::{validate_account_sid, validate_messaging_service_sid};
use crate::wire::{AccountTokenWire, AccountWire, ErrorWire, MessagePageWire, MessageWire};
use crate::{
    Account, AccountStatus, AuthTokenSource, ListedMessage, MessageListing, MessageLog,
    MessageQuery, MessageSender, SendMessage, Sender, SentMessage, SubaccountControl,
    SubaccountStatus, TwilioConfig, TwilioError,
};

/// Twilio's limit for a message body, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// Messages per page of a list (Twilio allows up to 1000; 100 keeps answers small).
const LIST_PAGE_SIZE: &str = "100";

/// Pages of a list read at most. A number messaged more often than this by one account is not
/// looked through further: the listing says it is incomplete.
pub const MAX_LIST_PAGES: usize = 5;

/// A Twilio REST client for one parent account; share one behind an `Arc` (it pools connections).
/// `Debug` shows the token as `[REDACTED]` (secrecy's own `Debug`).
#[derive(Debug)]
pub struct TwilioClient {
    http: outbound::Client,
    /// The parent account: Basic-auth user, and the account messages go from by default.
    account_sid: String,
    auth_token: SecretString,
}

impl TwilioClient {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        validate_account_sid(&config.account_sid)?;
        let http = outbound::Client::new("twilio", &config.base_url, config.timeout, config.retry)
            .map_err(from_outbound)?;
        Ok(Self {
            http,
            account_sid: config.account_sid,
            auth_token: config.auth_token,
        })
    }

    /// `GET /2010-04-01/Accounts/{sid}.json`.
    pub async fn fetch_account(&self, sid: &str) -> Result<Account, TwilioError> {
        let sid = validate_account_sid(sid)?;
        let request = Request::new(Method::GET, format!("/2010-04-01/Accounts/{sid}.json"));
        let answer = self.send(request).await?;
        Ok(decode::<AccountWire>(&answer)?.into())
    }

    /// The auth token of `sid` (a subaccount of the parent, or the parent itself), from
    /// `GET /2010-04-01/Accounts/{sid}.json`: Twilio shows a subaccount's token to its parent.
    /// It is the key of the callbacks about that account's messages. Never logged.
    pub async fn fetch_auth_token(&self, sid: &str) -> Result<SecretString, TwilioError> {
        let sid = validate_account_sid(sid)?;
        let request = Request::new(Method::GET, format!("/2010-04-01/Accounts/{sid}.json"));
        let answer = self.send(request).await?;
        let account = decode::<AccountTokenWire>(&answer)?;
        let status = answer.status.as_u16();
        if account.sid != sid {
            return Err(TwilioError::Decode {
                status,
                message: "the account Twilio answered about is not the one asked for".into(),
            });
        }
        account.auth_token.ok_or(TwilioError::Decode {
            status,
            message: "the account has no auth_token in Twilio's answer".into(),
        })
    }

    /// `GET /2010-04-01/Accounts/{account}/Messages.json?To=..&From=..&PageSize=100`, following
    /// `next_page_uri` for at most [`MAX_LIST_PAGES`] pages. No date filter: Twilio filters on
    /// `DateSent`, which a message still in its queue does not have yet, and such a message
    /// must be found. Read-only, so retried like every read.
    pub async fn list_messages(&self, query: &MessageQuery) -> Result<MessageListing, TwilioError> {
        let sid = validate_account_sid(&query.account_sid)?;
        if query.to.trim().is_empty() {
            return Err(TwilioError::InvalidInput {
                field: "to",
                reason: "is empty",
            });
        }
        let resource = format!("/2010-04-01/Accounts/{sid}/Messages.json");
        let filter = {
            let mut filter = url::form_urlencoded::Serializer::new(String::new());
            filter.append_pair("To", &query.to);
            if let Some(from) = query.from.as_deref().filter(|from| !from.trim().is_empty()) {
                filter.append_pair("From", from);
            }
            filter.append_pair("PageSize", LIST_PAGE_SIZE);
            filter.finish()
        };
        let mut next = Some(format!("{resource}?{filter}"));
        let mut messages = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            if pages == MAX_LIST_PAGES {
                return Ok(MessageListing {
                    messages,
                    complete: false,
                });
            }
            pages += 1;
            let answer = self.send(Request::new(Method::GET, path)).await?;
            let page = decode::<MessagePageWire>(&answer)?;
            messages.extend(page.messages.into_iter().map(ListedMessage::from));
            match page.next_page_uri.filter(|uri| !uri.is_empty()) {
                None => {}
                // Only a page of the same resource is followed: the URI comes from the answer
                // and must not send our credentials anywhere else.
                Some(uri) if uri.starts_with(&format!("{resource}?")) => next = Some(uri),
                Some(_) => {
                    return Ok(MessageListing {
                        messages,
                        complete: false,
                    });
                }
            }
        }
        Ok(MessageListing {
            messages,
            complete: true,
        })
    }

    /// `POST /2010-04-01/Accounts/{sid}.json` with `Status=suspended|active`. Idempotent, so
    /// retried on 429, 5xx and transport errors.
    pub async fn set_subaccount_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<Account, TwilioError> {
        let sid = validate_account_sid(sid)?;
        let request = Request::new(Method::POST, format!("/2010-04-01/Accounts/{sid}.json"))
            .form(vec![("Status".to_owned(), status.as_str().to_owned())])
            // Setting the status it already has changes nothing.
            .repeatable();
        let answer = self.send(request).await?;
        let account: Account = decode::<AccountWire>(&answer)?.into();
        tracing::info!(sid, status = ?account.status, "Twilio subaccount status set");
        Ok(account)
    }

    /// `POST /2010-04-01/Accounts/{account}/Messages.json`, where the account is the message's
    /// `account_sid` (a brand's subaccount) or else the parent. Retried only when Twilio
    /// certainly never received it (connect error, 429): anything else may have sent the SMS.
    pub async fn send_message(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        let account = match &message.account_sid {
            Some(sid) => validate_account_sid(sid)?,
            None => self.account_sid.as_str(),
        };
        let form = message_form(message)?
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        // Left `Repeat::OnlyIfUnsent`, as every POST starts: twice would be two SMS.
        let request = Request::new(
            Method::POST,
            format!("/2010-04-01/Accounts/{account}/Messages.json"),
        )
        .form(form);
        let answer = self.send(request).await?;
        Ok(decode::<MessageWire>(&answer)?.into())
    }

    /// With the parent account's Basic credentials, through the outbound layer.
    async fn send(&self, request: Request) -> Result<Response, TwilioError> {
        let request = request
            .basic_auth(&self.account_sid, &self.auth_token)
            .map_err(from_outbound)?;
        self.http.send(&request).await.map_err(from_outbound)
    }
}

fn from_outbound(error: OutboundError) -> TwilioError {
    match error {
        OutboundError::Config(message) => TwilioError::Config(message),
        OutboundError::Transport { message, connect } => {
            TwilioError::Transport { message, connect }
        }
    }
}

/// The form of a send, after checking what Twilio would refuse anyway (no request for bad input).
fn message_form(message: &SendMessage) -> Result<Vec<(&'static str, String)>, TwilioError> {
    let invalid = |field, reason| TwilioError::InvalidInput { field, reason };
    if message.to.trim().is_empty() {
        return Err(invalid("to", "is empty"));
    }
    if message.body.is_empty() {
        return Err(invalid("body", "is empty"));
    }
    if message.body.chars().count() > MAX_BODY_CHARS {
        return Err(invalid("body", "is longer than 1600 characters"));
    }
    let mut form = vec![("To", message.to.clone())];
    match &message.from {
        Sender::From(number) if number.trim().is_empty() => {
            return Err(invalid("from", "is empty"));
        }
        Sender::From(number) => form.push(("From", number.clone())),
        Sender::MessagingService(sid) => {
            form.push((
                "MessagingServiceSid",
                validate_messaging_service_sid(sid)?.to_owned(),
            ));
        }
    }
    form.push(("Body", message.body.clone()));
    if let Some(callback) = &message.status_callback {
        form.push(("StatusCallback", callback.to_string()));
    }
    Ok(form)
}

/// A success body as `T`, or Twilio's error body as [`TwilioError::Api`].
fn decode<T: serde::de::DeserializeOwned>(answer: &Response) -> Result<T, TwilioError> {
    let status = answer.status.as_u16();
    if !answer.status.is_success() {
        return Err(match serde_json::from_slice::<ErrorWire>(&answer.body) {
            Ok(error) => TwilioError::Api {
                status,
                code: error.code,
                message: error
                    .message
                    .unwrap_or_else(|| "no message in Twilio's error body".into()),
                more_info: error.more_info,
            },
            Err(_) => TwilioError::Api {
                status,
                code: None,
                message: "no Twilio error body".into(),
                more_info: None,
            },
        });
    }
    serde_json::from_slice(&answer.body).map_err(|error| TwilioError::Decode {
        status,
        message: error.to_string(),
    })
}

#[async_trait::async_trait]
impl SubaccountControl for TwilioClient {
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        Ok(self.set_subaccount_status(sid, status).await?.status)
    }

    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError> {
        Ok(self.fetch_account(sid).await?.status)
    }
}

#[async_trait::async_trait]
impl MessageSender for TwilioClient {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        self.send_message(message).await
    }
}

#[async_trait::async_trait]
impl MessageLog for TwilioClient {
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessageListing, TwilioError> {
        TwilioClient::list_messages(self, query).await
    }
}

#[async_trait::async_trait]
impl AuthTokenSource for TwilioClient {
    async fn auth_token(&self, account_sid: &str) -> Result<SecretString, TwilioError> {
        self.fetch_auth_token(account_sid).await
    }
}
