//! The secrets deliveries are signed with: the variables the receiver reads, each provider's
//! development default when its variables are unset (the defaults the api's development mode
//! uses, [`crate::dev`]).

use crate::dev;

/// Where a provider's secret came from, for the tool to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The variable is set.
    Environment,
    /// Unset: the development default.
    Development,
}

/// The secrets of all four providers. `Debug` shows no secret.
#[derive(Clone)]
pub struct LocalSecrets {
    /// The first of `STRIPE_WEBHOOK_SECRETS` (the one being signed with during a rotation).
    pub stripe_webhook_secret: String,
    pub stripe: Source,
    pub payhere_merchant_id: String,
    /// The first of `PAYHERE_MERCHANT_SECRET`.
    pub payhere_merchant_secret: String,
    pub payhere: Source,
    /// The first of `PAYPAL_WEBHOOK_IDS`.
    pub paypal_webhook_id: String,
    pub paypal: Source,
    pub twilio_account_sid: String,
    pub twilio_auth_token: String,
    pub twilio: Source,
    /// `TWILIO_STATUS_CALLBACK_URL`: the public URL Twilio posts delivery updates to (and
    /// signs), when set.
    pub twilio_status_callback_url: Option<String>,
    /// `TWILIO_BASE_URL`: where a subaccount's token is read from (Twilio's API, or a fake).
    pub twilio_base_url: Option<String>,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSecrets")
            .field("stripe", &self.stripe)
            .field("payhere_merchant_id", &self.payhere_merchant_id)
            .field("payhere", &self.payhere)
            .field("paypal_webhook_id", &self.paypal_webhook_id)
            .field("paypal", &self.paypal)
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio", &self.twilio)
            .finish_non_exhaustive()
    }
}

impl LocalSecrets {
    /// Reads the variables through `lookup` (blank counts as unset, as for the services).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let first = |name: &str| {
            get(name).and_then(|list| {
                list.split(',')
                    .map(str::trim)
                    .find(|item| !item.is_empty())
                    .map(str::to_owned)
            })
        };
        let (stripe_webhook_secret, stripe) =
            pick(first("STRIPE_WEBHOOK_SECRETS"), dev::STRIPE_WEBHOOK_SECRET);
        let (payhere_merchant_id, payhere_merchant_secret, payhere) =
            match (get("PAYHERE_MERCHANT_ID"), first("PAYHERE_MERCHANT_SECRET")) {
                (Some(id), Some(secret)) => (id, secret, Source::Environment),
                _ => (
                    dev::PAYHERE_MERCHANT_ID.to_owned(),
                    dev::PAYHERE_MERCHANT_SECRET.to_owned(),
                    Source::Development,
                ),
            };
        let (paypal_webhook_id, paypal) = pick(first("PAYPAL_WEBHOOK_IDS"), dev::PAYPAL_WEBHOOK_ID);
        let (twilio_account_sid, twilio_auth_token, twilio) =
            match (get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")) {
                (Some(sid), Some(token)) => (sid, token, Source::Environment),
                _ => (
                    dev::TWILIO_ACCOUNT_SID.to_owned(),
                    dev::TWILIO_AUTH_TOKEN.to_owned(),
                    Source::Development,
                ),
            };
        Self {
            stripe_webhook_secret,
            stripe,
            payhere_merchant_id,
            payhere_merchant_secret,
            payhere,
            paypal_webhook_id,
            paypal,
            twilio_account_sid,
            twilio_auth_token,
            twilio,
            twilio_status_callback_url: get("TWILIO_STATUS_CALLBACK_URL"),
            twilio_base_url: get("TWILIO_BASE_URL"),
        }
    }

    /// The development defaults only (what the api's development mode uses with nothing set).
    pub fn development() -> Self {
        Self::from_lookup(|_| None)
    }

    /// From the process's environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

fn pick(value: Option<String>, default: &str) -> (String, Source) {
    match value {
        Some(value) => (value, Source::Environment),
        None => (default.to_owned(), Source::Development),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_secret_of_each_list_signs_and_unset_means_the_development_default() {
        let secrets = LocalSecrets::from_lookup(|name| match name {
            "STRIPE_WEBHOOK_SECRETS" => Some(" whsec_new , whsec_old".into()),
            "PAYPAL_WEBHOOK_IDS" => Some("".into()),
            "PAYHERE_MERCHANT_ID" => Some("1211149".into()),
            _ => None,
        });
        assert_eq!(secrets.stripe_webhook_secret, "whsec_new");
        assert_eq!(secrets.stripe, Source::Environment);
        // Blank is unset; half a PayHere configuration is not one.
        assert_eq!(secrets.paypal_webhook_id, dev::PAYPAL_WEBHOOK_ID);
        assert_eq!(secrets.payhere, Source::Development);
        assert_eq!(secrets.twilio_auth_token, dev::TWILIO_AUTH_TOKEN);
        let debug = format!("{secrets:?}");
        assert!(!debug.contains("whsec_new") && !debug.contains(dev::TWILIO_AUTH_TOKEN));
    }
}
