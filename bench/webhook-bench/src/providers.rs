//! The three providers as the receiver is configured in production, through the same
//! variables (`billing::Providers::from_lookup`, docs/providers.md): Stripe and PayHere for
//! verification only; PayPal trusting the bench's generated root, reading its certificate from a
//! certificate directory, and with API credentials for the fake PayPal API.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use billing::Providers;
use primitives::Clock;
use testkit::signing::PayPalPki;

use crate::deliveries::{PAYPAL_CERT_URL, Secrets};

/// Writes the PayPal trust material under `dir` and builds the providers.
pub fn configure(
    dir: &Path,
    secrets: &Secrets,
    pki: &PayPalPki,
    paypal_api_base_url: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Providers> {
    let roots = dir.join("paypal-root.pem");
    std::fs::write(&roots, pki.root_pem()).context("writing the PayPal root")?;
    let certs = dir.join("paypal-certs");
    pki.write_cert_dir(&certs, PAYPAL_CERT_URL);
    let variables = [
        ("STRIPE_WEBHOOK_SECRETS", secrets.stripe.clone()),
        ("PAYPAL_WEBHOOK_IDS", secrets.paypal_webhook_id.clone()),
        ("PAYPAL_TRUSTED_ROOTS_FILE", roots.display().to_string()),
        ("PAYPAL_CERT_DIR", certs.display().to_string()),
        ("PAYPAL_API_BASE_URL", paypal_api_base_url.to_owned()),
        ("PAYPAL_CLIENT_ID", "bench-client".to_owned()),
        ("PAYPAL_CLIENT_SECRET", "bench-secret".to_owned()),
        ("PAYHERE_MERCHANT_ID", secrets.payhere_merchant_id.clone()),
        ("PAYHERE_MERCHANT_SECRET", secrets.payhere_secret.clone()),
    ];
    let lookup = |name: &str| {
        variables
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    Providers::from_lookup(lookup, clock).context("configuring the providers")
}

#[cfg(test)]
mod tests {
    use billing::{BillingEventKind as K, ParsedWebhook, WebhookRequest};
    use chrono::Utc;
    use primitives::{ProviderName, SystemClock};
    use rand::{SeedableRng, rngs::StdRng};
    use uuid::Uuid;

    use super::*;
    use crate::{
        deliveries::{Organization, Signer},
        mix::{Kind, Planned},
    };

    fn expected(kind: Kind) -> Option<K> {
        match kind {
            Kind::StripeInvoicePaid | Kind::PayHereInstallmentPaid => Some(K::PaymentSucceeded),
            Kind::StripeInvoiceFailed | Kind::PayHereInstallmentFailed => Some(K::PaymentFailed),
            Kind::StripeTopUp | Kind::PayPalTopUp | Kind::PayHereTopUp => {
                Some(K::WalletTopUpCompleted)
            }
            Kind::StripeIgnored => None,
            Kind::PayPalSuspended => Some(K::SubscriptionSuspended),
            Kind::PayPalActivated => Some(K::SubscriptionActivated),
        }
    }

    /// What the bench sends is what the providers send: billing's own adapters verify every
    /// kind and read it as the event it stands for, about the organization it names.
    #[tokio::test]
    async fn every_kind_verifies_and_means_what_it_says() {
        let dir = std::env::temp_dir().join(format!("webhook-bench-test-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let now = Utc::now();
        let secrets = Secrets::generate();
        let pki = Arc::new(PayPalPki::generate(now));
        let providers = configure(
            &dir,
            &secrets,
            &pki,
            "http://127.0.0.1:9",
            Arc::new(SystemClock),
        )
        .unwrap();
        let signer = Signer::new(secrets, pki).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        for (serial, kind) in Kind::ALL.into_iter().enumerate() {
            let provider = kind.provider();
            let organization = Organization {
                id: Uuid::now_v7(),
                provider_subscription_id: crate::setup::provider_subscription_id(provider, 9),
            };
            let planned = Planned {
                kind,
                organization: 9,
            };
            let delivery = signer
                .sign(planned, &organization, serial as u64, now, &mut rng)
                .unwrap();
            let request = WebhookRequest {
                headers: &delivery.headers,
                body: &delivery.body,
            };
            let verified = providers
                .verify(provider, request)
                .await
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let parsed = providers.parse(&verified).unwrap();
            match (expected(kind), parsed) {
                (None, ParsedWebhook::Ignored { .. }) => {}
                (Some(want), ParsedWebhook::Events { events }) => {
                    let event = events.last().unwrap();
                    assert_eq!(event.kind, want, "{kind:?}");
                    let org = organization.id.to_string();
                    assert_eq!(event.organization_ref.as_deref(), Some(org.as_str()));
                    if kind.is_subscription_event() {
                        assert_eq!(
                            event.provider_subscription_id.as_deref(),
                            Some(organization.provider_subscription_id.as_str()),
                            "{kind:?}"
                        );
                    }
                    if let Some(minor) = delivery.top_up_minor {
                        assert_eq!(event.amount.unwrap().minor(), minor);
                    }
                    if provider == ProviderName::Payhere {
                        assert!(
                            event
                                .provider_event_id
                                .starts_with(delivery.key.trim_start_matches("payhere:"))
                        );
                    } else {
                        assert_eq!(
                            format!("{provider}:{}", event.provider_event_id),
                            delivery.key.as_ref()
                        );
                    }
                }
                (want, got) => panic!("{kind:?}: expected {want:?}, got {got:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
