//! [`TwilioClient`]: the three calls, their input checks and their answers.

use http::Method;

use crate::sid::{validate_account_sid, validate_messaging_service_sid};
use crate::transport::{Answer, Retry, Transport};
use crate::wire::{AccountWire, ErrorWire, MessageWire};
use crate::{
    Account, AccountStatus, MessageSender, SendMessage, Sender, SentMessage, SubaccountControl,
    SubaccountStatus, TwilioConfig, TwilioError,
};

/// Twilio's limit for a message body, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// A Twilio REST client for one parent account; share one behind an `Arc` (it pools connections).
#[derive(Debug)]
pub struct TwilioClient {
    transport: Transport,
}

impl TwilioClient {
    pub fn new(config: TwilioConfig) -> Result<Self, TwilioError> {
        validate_account_sid(&config.account_sid)?;
        let base = url::Url::parse(&config.base_url)
            .map_err(|error| TwilioError::Config(format!("base URL does not parse: {error}")))?;
        if !matches!(base.scheme(), "https" | "http") {
            return Err(TwilioError::Config("base URL must be http(s)".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|error| TwilioError::Config(format!("HTTP client: {error}")))?;
        Ok(Self {
            transport: Transport {
                base: base.as_str().trim_end_matches('/').to_owned(),
                client,
                user: config.account_sid,
                token: config.auth_token,
                policy: config.retry,
            },
        })
    }

    /// `GET /2010-04-01/Accounts/{sid}.json`.
    pub async fn fetch_account(&self, sid: &str) -> Result<Account, TwilioError> {
        let sid = validate_account_sid(sid)?;
        let answer = self
            .transport
            .call(
                Method::GET,
                &format!("/2010-04-01/Accounts/{sid}.json"),
                None,
                Retry::Idempotent,
            )
            .await?;
        Ok(decode::<AccountWire>(answer)?.into())
    }

    /// `POST /2010-04-01/Accounts/{sid}.json` with `Status=suspended|active`. Idempotent, so
    /// retried on 429, 5xx and transport errors.
    pub async fn set_subaccount_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<Account, TwilioError> {
        let sid = validate_account_sid(sid)?;
        let answer = self
            .transport
            .call(
                Method::POST,
                &format!("/2010-04-01/Accounts/{sid}.json"),
                Some(&[("Status", status.as_str())]),
                Retry::Idempotent,
            )
            .await?;
        let account: Account = decode::<AccountWire>(answer)?.into();
        tracing::info!(sid, status = ?account.status, "Twilio subaccount status set");
        Ok(account)
    }

    /// `POST /2010-04-01/Accounts/{account}/Messages.json`, where the account is the message's
    /// `account_sid` (a brand's subaccount) or else the parent. Retried only when Twilio
    /// certainly never received it (connect error, 429): anything else may have sent the SMS.
    pub async fn send_message(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        let account = match &message.account_sid {
            Some(sid) => validate_account_sid(sid)?,
            None => self.transport.user.as_str(),
        };
        let form = message_form(message)?;
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = self
            .transport
            .call(
                Method::POST,
                &format!("/2010-04-01/Accounts/{account}/Messages.json"),
                Some(&form),
                Retry::OnlyIfUnsent,
            )
            .await?;
        Ok(decode::<MessageWire>(answer)?.into())
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
fn decode<T: serde::de::DeserializeOwned>(answer: Answer) -> Result<T, TwilioError> {
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

impl MessageSender for TwilioClient {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        self.send_message(message).await
    }
}
