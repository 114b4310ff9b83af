//! PayPal's web pages, as opposed to its API: where a customer is sent. They live on
//! `www.paypal.com`, or `www.sandbox.paypal.com` for the sandbox, which the API root tells
//! apart (`api-m.sandbox.paypal.com`, `api.sandbox.paypal.com`).

use super::values;
use crate::{ProviderError, ProviderName};

/// PayPal's live web root.
pub const LIVE_WEB_URL: &str = "https://www.paypal.com";
/// PayPal's sandbox web root.
pub const SANDBOX_WEB_URL: &str = "https://www.sandbox.paypal.com";

/// The web root for an API root: the sandbox's for a host under `sandbox.paypal.com`, the live
/// one for anything else (a proxy or a test server in front of the live API included).
pub(crate) fn web_root(api_base_url: &str) -> &'static str {
    let host = url::Url::parse(api_base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
    match host {
        Some(host) if host == "sandbox.paypal.com" || host.ends_with(".sandbox.paypal.com") => {
            SANDBOX_WEB_URL
        }
        _ => LIVE_WEB_URL,
    }
}

/// The buyer's page of one subscription in their PayPal account ("automatic payments"),
/// where they change the funding source or cancel: `{web}/myaccount/autopay/connect/{id}`.
/// The id is checked to be a PayPal id and written as an encoded path segment, so it cannot
/// point the link anywhere else.
pub(crate) fn subscription_page(web_root: &str, id: &str) -> Result<String, ProviderError> {
    let config = |message: &str| ProviderError::Config {
        provider: ProviderName::Paypal,
        message: message.to_owned(),
    };
    if !values::is_id(id) {
        return Err(config("subscription id is not a PayPal id"));
    }
    let mut url = url::Url::parse(web_root).map_err(|_| config("the web root is not a URL"))?;
    url.path_segments_mut()
        .map_err(|()| config("the web root cannot hold a path"))?
        .clear()
        .extend(["myaccount", "autopay", "connect", id]);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_api_links_to_the_sandbox_site() {
        for (api, web) in [
            ("https://api-m.paypal.com", LIVE_WEB_URL),
            ("https://api.paypal.com/", LIVE_WEB_URL),
            ("https://api-m.sandbox.paypal.com", SANDBOX_WEB_URL),
            ("https://API.SANDBOX.PAYPAL.COM", SANDBOX_WEB_URL),
            ("https://sandbox.paypal.com.evil.example", LIVE_WEB_URL),
            ("http://127.0.0.1:4010", LIVE_WEB_URL),
            ("not a url", LIVE_WEB_URL),
        ] {
            assert_eq!(web_root(api), web, "{api}");
        }
    }

    #[test]
    fn the_page_names_the_subscription_and_nothing_else() {
        assert_eq!(
            subscription_page(SANDBOX_WEB_URL, "I-BW452GLLEP1G").ok(),
            Some("https://www.sandbox.paypal.com/myaccount/autopay/connect/I-BW452GLLEP1G".into())
        );
        for id in ["", "I-1/../../signin", "I-1?next=x", "I 1", "I-1#x", "ü"] {
            assert!(subscription_page(LIVE_WEB_URL, id).is_err(), "{id:?}");
        }
    }
}
