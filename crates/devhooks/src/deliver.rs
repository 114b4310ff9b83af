//! Signing an event as its provider does, with the local secrets, and posting it to the
//! receiver: `POST {target}/webhooks/{provider}` (Twilio: `{target}/webhooks/twilio/messages`
//! with the callback's query, signed over the public callback URL Twilio would have called).

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::events::{Event, Provider};
use crate::signing::{
    STRIPE_SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER, payhere_md5sig, paypal_transmission_time,
    stripe_signature_header, twilio_signature,
};
use crate::{Error, LocalSecrets, dev};

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub provider: Provider,
    pub url: String,
    /// The signature headers (PayHere signs inside the body and has none).
    pub headers: Vec<(String, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Where the receiver takes Twilio's message status callbacks.
pub const TWILIO_MESSAGES_PATH: &str = "/webhooks/twilio/messages";

/// `{target}/webhooks/{provider}`: where the receiver (or the api's development mode) takes a
/// billing provider's deliveries (Twilio: its message status callbacks).
pub fn webhook_url(target: &str, provider: Provider) -> String {
    let target = target.trim_end_matches('/');
    match provider {
        Provider::Twilio => format!("{target}{TWILIO_MESSAGES_PATH}"),
        _ => format!("{target}/webhooks/{provider}"),
    }
}

/// `base` with `query` (or none) as its query.
fn with_query(base: &str, query: Option<&str>) -> String {
    let base = base.split(['?', '#']).next().unwrap_or(base);
    match query {
        Some(query) => format!("{base}?{query}"),
        None => base.to_owned(),
    }
}

/// Signs with the local secrets; PayPal with the development CA's certificate under
/// `data_dir` (made on first use).
#[derive(Debug, Clone)]
pub struct Signer {
    pub secrets: LocalSecrets,
    pub data_dir: PathBuf,
}

impl Signer {
    pub fn new(secrets: LocalSecrets, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            secrets,
            data_dir: data_dir.into(),
        }
    }

    /// `event` signed at `now`, for the receiver at `target`.
    ///
    /// Twilio signs the URL it calls: the public callback URL (`TWILIO_STATUS_CALLBACK_URL`)
    /// with the dispatcher's query, which a proxy forwards to the receiver; the callback is
    /// posted to `{target}/webhooks/twilio/messages` with that query and signed over the public
    /// URL (over the posted URL when no callback URL is configured, or exactly `--url`).
    pub async fn deliver(
        &self,
        event: &Event,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<Delivery, Error> {
        if event.provider != Provider::Twilio {
            let url = webhook_url(target, event.provider);
            return self
                .sign(
                    event.provider,
                    event.content_type,
                    event.body.clone(),
                    url,
                    now,
                )
                .await;
        }
        let query = event.query.as_deref();
        let (url, signed) = match &event.url {
            Some(url) => (url.clone(), url.clone()),
            None => {
                let url = with_query(&webhook_url(target, Provider::Twilio), query);
                let signed = match &self.secrets.twilio_status_callback_url {
                    Some(public) => with_query(public, query),
                    None => url.clone(),
                };
                (url, signed)
            }
        };
        let params = form_pairs(&event.body);
        let account = params
            .iter()
            .find(|(name, _)| name == "AccountSid")
            .map(|(_, sid)| sid.clone())
            .unwrap_or_default();
        let token = self.twilio_token(&account).await?;
        let signature = twilio_signature(&token, &signed, &params);
        Ok(Delivery {
            provider: Provider::Twilio,
            url,
            headers: vec![(TWILIO_SIGNATURE_HEADER.to_owned(), signature)],
            content_type: event.content_type,
            body: event.body.clone(),
        })
    }

    /// The key of `account`'s callbacks: the parent's own token, or a subaccount's, read from
    /// Twilio with the parent's credentials as the receiver reads it.
    async fn twilio_token(&self, account: &str) -> Result<String, Error> {
        let secrets = &self.secrets;
        if account == secrets.twilio_account_sid {
            return Ok(secrets.twilio_auth_token.clone());
        }
        let failed = |message: String| Error::TwilioToken {
            account: account.to_owned(),
            message,
        };
        let mut config = twilio::TwilioConfig::new(
            secrets.twilio_account_sid.clone(),
            secrecy::SecretString::from(secrets.twilio_auth_token.clone()),
        );
        if let Some(base_url) = &secrets.twilio_base_url {
            config.base_url = base_url.trim_end_matches('/').to_owned();
        }
        let client = twilio::TwilioClient::new(config).map_err(|e| failed(e.to_string()))?;
        let token = client
            .fetch_auth_token(account)
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(secrecy::ExposeSecret::expose_secret(&token).to_owned())
    }

    /// `body` signed again at `now` (a fresh timestamp and transmission), as the provider
    /// would send it to `url`. A PayHere body's `md5sig` is computed again with the local
    /// secret (unchanged, byte for byte, when it already matches). Twilio's callbacks are
    /// signed with their account's token: [`Signer::deliver`].
    pub async fn sign(
        &self,
        provider: Provider,
        content_type: &'static str,
        body: Vec<u8>,
        url: String,
        now: DateTime<Utc>,
    ) -> Result<Delivery, Error> {
        let secrets = &self.secrets;
        let (headers, body) = match provider {
            Provider::Stripe => {
                let header =
                    stripe_signature_header(&secrets.stripe_webhook_secret, now.timestamp(), &body);
                (vec![(STRIPE_SIGNATURE_HEADER.to_owned(), header)], body)
            }
            Provider::Paypal => {
                let signer = dev::paypal_signer(&self.data_dir, now)?;
                let transmission_id = uuid::Uuid::now_v7().to_string();
                let headers = signer.key.headers(
                    &body,
                    &secrets.paypal_webhook_id,
                    &signer.cert_url,
                    &transmission_id,
                    &paypal_transmission_time(now),
                )?;
                (headers, body)
            }
            Provider::Payhere => (
                Vec::new(),
                resign_payhere(body, &secrets.payhere_merchant_secret)?,
            ),
            Provider::Twilio => {
                let params = form_pairs(&body);
                let signature = twilio_signature(&secrets.twilio_auth_token, &url, &params);
                (vec![(TWILIO_SIGNATURE_HEADER.to_owned(), signature)], body)
            }
        };
        Ok(Delivery {
            provider,
            url,
            headers,
            content_type,
            body,
        })
    }
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    ::url::form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// A PayHere notification with its `md5sig` computed by `merchant_secret`.
fn resign_payhere(body: Vec<u8>, merchant_secret: &str) -> Result<Vec<u8>, Error> {
    let mut fields = form_pairs(&body);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| Error::Invalid(format!("the PayHere notification has no {name}")))
    };
    let md5sig = payhere_md5sig(
        &field("merchant_id")?,
        &field("order_id")?,
        &field("payhere_amount")?,
        &field("payhere_currency")?,
        &field("status_code")?,
        merchant_secret,
    );
    if field("md5sig").ok().as_deref() == Some(md5sig.as_str()) {
        return Ok(body);
    }
    for (name, value) in &mut fields {
        if name == "md5sig" {
            value.clone_from(&md5sig);
        }
    }
    if !fields.iter().any(|(name, _)| name == "md5sig") {
        fields.push(("md5sig".to_owned(), md5sig));
    }
    Ok(::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&fields)
        .finish()
        .into_bytes())
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// Providers count any 2xx as delivered.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The receiver's JSON answer (`{inbox_id, duplicate, status}` or a problem), if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Posts `delivery` and returns what the receiver answered.
pub async fn post(client: &reqwest::Client, delivery: &Delivery) -> Result<Answer, Error> {
    let mut request = client
        .post(&delivery.url)
        .header("Content-Type", delivery.content_type)
        .body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let failed = |error: reqwest::Error| Error::Http {
        url: delivery.url.clone(),
        message: without_url(error),
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(failed)?;
    Ok(Answer { status, body })
}

/// reqwest's message without the URL it repeats (the caller names it once).
pub(crate) fn without_url(error: reqwest::Error) -> String {
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    let message = error.without_url().to_string();
    match cause {
        Some(cause) => format!("{message}: {cause}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payhere_body_signed_with_the_same_secret_is_sent_byte_for_byte() {
        let body =
            crate::signing::PayHereNotification::new("1", "secret", "SUB-o.n", "1.00", "USD", "2")
                .field("payment_id", "9")
                .body();
        assert_eq!(resign_payhere(body.clone(), "secret").unwrap(), body);
        let other = resign_payhere(body.clone(), "another").unwrap();
        assert_ne!(other, body);
        let expected = payhere_md5sig("1", "SUB-o.n", "1.00", "USD", "2", "another");
        assert!(
            String::from_utf8(other)
                .unwrap()
                .contains(&format!("md5sig={expected}"))
        );
    }

    #[test]
    fn urls_join_the_target_and_the_provider() {
        assert_eq!(
            webhook_url("http://127.0.0.1:8080/", Provider::Stripe),
            "http://127.0.0.1:8080/webhooks/stripe"
        );
    }
}
