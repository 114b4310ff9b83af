//! `replay <inbox id>`: a stored delivery fetched through the admin API (the operator's view of
//! the inbox, and, in the api's development mode, its raw body), to be signed again with the
//! local secrets and posted again. The receiver dedupes by the provider's event id, so a replay
//! of a stored delivery is answered as a duplicate (and applies it, if it is still waiting).

use serde::Deserialize;

use crate::Error;
use crate::deliver::without_url;
use crate::events::{FORM, JSON, Provider};

/// The admin API of the api (`ADMIN_TOKEN`). `Debug` shows no token.
#[derive(Clone)]
pub struct AdminApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A delivery as the inbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub inbox_id: String,
    pub provider: Provider,
    /// The provider's event id (the receiver's deduplication key).
    pub delivery_id: String,
    pub event_type: String,
    /// Its inbox status now.
    pub status: String,
    /// The raw body, exactly as received.
    pub body: Vec<u8>,
}

impl StoredDelivery {
    /// The content type the provider posts this body with.
    pub fn content_type(&self) -> &'static str {
        match self.provider {
            Provider::Payhere | Provider::Twilio => FORM,
            Provider::Paypal | Provider::Stripe => JSON,
        }
    }
}

#[derive(Deserialize)]
struct View {
    provider: String,
    delivery_id: String,
    event_type: String,
    status: String,
}

impl AdminApi {
    pub fn new(base: &str, token: String, client: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            client,
        }
    }

    /// The delivery `inbox_id` with its raw body.
    pub async fn delivery(&self, inbox_id: &str) -> Result<StoredDelivery, Error> {
        let view_url = format!("{}/v1/admin/webhook-events/{inbox_id}", self.base);
        let view: View =
            serde_json::from_slice(&self.get(&view_url).await?).map_err(|e| Error::Api {
                url: view_url.clone(),
                status: 200,
                body: format!("not a webhook event: {e}"),
            })?;
        let provider = Provider::parse(&view.provider).ok_or_else(|| Error::Api {
            url: view_url,
            status: 200,
            body: format!("unknown provider {}", view.provider),
        })?;
        let body = self
            .get(&format!(
                "{}/v1/admin/webhook-events/{inbox_id}/body",
                self.base
            ))
            .await?;
        Ok(StoredDelivery {
            inbox_id: inbox_id.to_owned(),
            provider,
            delivery_id: view.delivery_id,
            event_type: view.event_type,
            status: view.status,
            body,
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, Error> {
        let failed = |error: reqwest::Error| Error::Http {
            url: url.to_owned(),
            message: without_url(error),
        };
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?.to_vec();
        if !status.is_success() {
            return Err(Error::Api {
                url: url.to_owned(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(body)
    }
}
