//! Planned deliveries made into the exact bytes and headers each provider sends: bodies from
//! billing's fixtures (real or documented shapes) with fresh ids, amounts, organizations and
//! times, signed with `testkit::signing` as the provider signs them.

use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Bytes;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use primitives::ProviderName;
use rand::{Rng, rngs::StdRng};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde_json::{Value, json};
use testkit::signing::{PayHereNotification, PayPalPki, stripe_signature_header};
use uuid::Uuid;

use crate::mix::{Kind, Planned};

const FIXTURES: &str = "crates/billing/tests/fixtures";
const STRIPE_INVOICE_PAID: &str =
    include_str!("../../../crates/billing/tests/fixtures/stripe/events/invoice.paid.json");
const STRIPE_INVOICE_FAILED: &str = include_str!(
    "../../../crates/billing/tests/fixtures/stripe/events/invoice.payment_failed.json"
);
const STRIPE_CHECKOUT_TOPUP: &str = include_str!(
    "../../../crates/billing/tests/fixtures/stripe/events/checkout.session.completed.topup.json"
);
const PAYPAL_SUSPENDED: &str =
    include_str!("../../../crates/billing/tests/fixtures/paypal/events/sub_suspended.json");
const PAYPAL_ACTIVATED: &str =
    include_str!("../../../crates/billing/tests/fixtures/paypal/events/sub_activated.json");
const PAYPAL_CAPTURE_COMPLETED: &str =
    include_str!("../../../crates/billing/tests/fixtures/paypal/simulator/cap_completed.json");

/// Where PayPal's certificate is said to be; the receiver reads it from `PAYPAL_CERT_DIR`.
pub const PAYPAL_CERT_URL: &str =
    "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-webhookbench";
/// What Stripe bills each subscription invoice at (USD cents), in turn.
const INVOICE_AMOUNTS: [i64; 3] = [2900, 4900, 9900];

/// The secrets the receiver is configured with, and the bench signs with.
#[derive(Clone)]
pub struct Secrets {
    pub stripe: String,
    pub paypal_webhook_id: String,
    pub payhere_merchant_id: String,
    pub payhere_secret: String,
}

impl Secrets {
    pub fn generate() -> Self {
        Self {
            stripe: format!("whsec_{}", Uuid::now_v7().simple()),
            paypal_webhook_id: format!("WH-BENCH-{}", Uuid::now_v7().simple()).to_uppercase(),
            payhere_merchant_id: "1221149".to_owned(),
            payhere_secret: format!("bench-{}", Uuid::now_v7().simple()),
        }
    }
}

/// What a delivery is about: the organization and its provider's subscription id.
#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub provider_subscription_id: String,
}

/// One delivery, ready to post (and re-post identically).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub kind: Kind,
    pub organization: usize,
    /// Unique per distinct delivery: `{provider}:{the provider's event or notification id}`.
    pub key: Arc<str>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The credit a top-up makes, in USD cents.
    pub top_up_minor: Option<i64>,
}

impl Delivery {
    pub fn path(&self) -> &'static str {
        match self.kind.provider() {
            ProviderName::Stripe => "/webhooks/stripe",
            ProviderName::Paypal => "/webhooks/paypal",
            ProviderName::Payhere => "/webhooks/payhere",
        }
    }
}

/// The fixtures, parsed once.
struct Templates {
    invoice_paid: Value,
    invoice_failed: Value,
    checkout_topup: Value,
    paypal_suspended: Value,
    paypal_activated: Value,
    paypal_capture: Value,
}

fn template(name: &str, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("{FIXTURES}: {name} is not JSON"))
}

pub struct Signer {
    secrets: Secrets,
    pki: Arc<PayPalPki>,
    templates: Templates,
}

/// Sets the value at a JSON pointer that the fixture must already have (so a fixture that
/// changed shape fails loudly instead of sending something else).
fn put(value: &mut Value, pointer: &str, new: Value) -> anyhow::Result<()> {
    match value.pointer_mut(pointer) {
        Some(slot) => {
            *slot = new;
            Ok(())
        }
        None => bail!("the fixture has no {pointer}"),
    }
}

/// Adds or replaces a field of the object at `pointer`.
fn insert(value: &mut Value, pointer: &str, key: &str, new: Value) -> anyhow::Result<()> {
    match value.pointer_mut(pointer).and_then(Value::as_object_mut) {
        Some(object) => {
            object.insert(key.to_owned(), new);
            Ok(())
        }
        None => bail!("the fixture has no object at {pointer}"),
    }
}

/// `1234` cents as PayPal and PayHere write amounts: `12.34`.
pub fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn header(name: &'static str, value: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    Ok((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).with_context(|| format!("header {name}"))?,
    ))
}

fn headers(pairs: Vec<(HeaderName, HeaderValue)>) -> HeaderMap {
    pairs.into_iter().collect()
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Signer {
    pub fn new(secrets: Secrets, pki: Arc<PayPalPki>) -> anyhow::Result<Self> {
        Ok(Self {
            secrets,
            pki,
            templates: Templates {
                invoice_paid: template("invoice.paid", STRIPE_INVOICE_PAID)?,
                invoice_failed: template("invoice.payment_failed", STRIPE_INVOICE_FAILED)?,
                checkout_topup: template("checkout.session.completed", STRIPE_CHECKOUT_TOPUP)?,
                paypal_suspended: template("sub_suspended", PAYPAL_SUSPENDED)?,
                paypal_activated: template("sub_activated", PAYPAL_ACTIVATED)?,
                paypal_capture: template("cap_completed", PAYPAL_CAPTURE_COMPLETED)?,
            },
        })
    }

    /// The delivery `planned` describes, as the provider would send it at `now`. `serial` is
    /// unique in the process and makes every id unique.
    pub fn sign(
        &self,
        planned: Planned,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> anyhow::Result<Delivery> {
        let top_up_minor = planned
            .kind
            .is_top_up()
            .then(|| 500 * rng.random_range(1..=100));
        let (key, headers, body) = match planned.kind {
            Kind::StripeInvoicePaid | Kind::StripeInvoiceFailed | Kind::StripeIgnored => {
                self.stripe_invoice(planned.kind, organization, serial, now)?
            }
            Kind::StripeTopUp => {
                self.stripe_top_up(organization, serial, now, top_up_minor.unwrap_or(500))?
            }
            Kind::PayPalSuspended | Kind::PayPalActivated => {
                self.paypal_subscription(planned.kind, organization, serial, now)?
            }
            Kind::PayPalTopUp => {
                self.paypal_capture(organization, serial, now, top_up_minor.unwrap_or(500))?
            }
            Kind::PayHereInstallmentPaid | Kind::PayHereInstallmentFailed => {
                self.payhere_installment(planned.kind, organization, serial, now)?
            }
            Kind::PayHereTopUp => {
                self.payhere_top_up(organization, serial, top_up_minor.unwrap_or(500))?
            }
        };
        Ok(Delivery {
            kind: planned.kind,
            organization: planned.organization,
            key: Arc::from(format!("{}:{key}", planned.kind.provider()).as_str()),
            headers,
            body: Bytes::from(body),
            top_up_minor,
        })
    }

    /// Stripe signs `{t}.{body}` at the moment it sends; bodies are pretty-printed as Stripe's.
    fn stripe_signed(
        &self,
        event: &Value,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(HeaderMap, Vec<u8>)> {
        let body = serde_json::to_vec_pretty(event)?;
        let signature = stripe_signature_header(&self.secrets.stripe, now.timestamp(), &body);
        let headers = headers(vec![
            header("stripe-signature", &signature)?,
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
            (
                USER_AGENT,
                HeaderValue::from_static("Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ),
        ]);
        Ok((headers, body))
    }

    fn stripe_invoice(
        &self,
        kind: Kind,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let failed = kind == Kind::StripeInvoiceFailed;
        let mut event = if failed {
            self.templates.invoice_failed.clone()
        } else {
            self.templates.invoice_paid.clone()
        };
        let event_id = format!("evt_1Bench{serial:016}");
        let invoice = format!("in_1Bench{serial:016}");
        let subscription = organization.provider_subscription_id.as_str();
        let amount = INVOICE_AMOUNTS[(serial % 3) as usize];
        let (ts, period_end) = (now.timestamp(), (now + Duration::days(30)).timestamp());
        put(&mut event, "/id", json!(event_id))?;
        put(&mut event, "/created", json!(ts))?;
        if kind == Kind::StripeIgnored {
            put(&mut event, "/type", json!("invoice.finalized"))?;
            put(&mut event, "/data/object/status", json!("open"))?;
        }
        let object = "/data/object";
        put(&mut event, &format!("{object}/id"), json!(invoice))?;
        put(&mut event, &format!("{object}/created"), json!(ts))?;
        put(&mut event, &format!("{object}/effective_at"), json!(ts))?;
        put(&mut event, &format!("{object}/amount_due"), json!(amount))?;
        put(
            &mut event,
            &format!("{object}/amount_paid"),
            json!(if failed { 0 } else { amount }),
        )?;
        put(
            &mut event,
            &format!("{object}/amount_remaining"),
            json!(if failed { amount } else { 0 }),
        )?;
        for field in [
            "subtotal",
            "subtotal_excluding_tax",
            "total",
            "total_excluding_tax",
        ] {
            put(&mut event, &format!("{object}/{field}"), json!(amount))?;
        }
        let line = format!("{object}/lines/data/0");
        put(&mut event, &format!("{line}/amount"), json!(amount))?;
        put(&mut event, &format!("{line}/invoice"), json!(invoice))?;
        put(&mut event, &format!("{line}/period/start"), json!(ts))?;
        put(&mut event, &format!("{line}/period/end"), json!(period_end))?;
        put(
            &mut event,
            &format!("{line}/parent/subscription_item_details/subscription"),
            json!(subscription),
        )?;
        put(
            &mut event,
            &format!("{object}/lines/url"),
            json!(format!("/v1/invoices/{invoice}/lines")),
        )?;
        let details = format!("{object}/parent/subscription_details");
        put(
            &mut event,
            &format!("{details}/metadata/organization_id"),
            json!(organization.id.to_string()),
        )?;
        put(
            &mut event,
            &format!("{details}/subscription"),
            json!(subscription),
        )?;
        put(
            &mut event,
            &format!("{object}/status_transitions/finalized_at"),
            json!(ts),
        )?;
        if failed {
            put(
                &mut event,
                &format!("{object}/next_payment_attempt"),
                json!(ts + 3 * 86_400),
            )?;
        } else if kind == Kind::StripeInvoicePaid {
            put(
                &mut event,
                &format!("{object}/status_transitions/paid_at"),
                json!(ts),
            )?;
        }
        let (headers, body) = self.stripe_signed(&event, now)?;
        Ok((event_id, headers, body))
    }

    fn stripe_top_up(
        &self,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
        amount: i64,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let mut event = self.templates.checkout_topup.clone();
        let event_id = format!("evt_1Bench{serial:016}");
        let ts = now.timestamp();
        let organization = organization.id.to_string();
        put(&mut event, "/id", json!(event_id))?;
        put(&mut event, "/created", json!(ts))?;
        let object = "/data/object";
        put(
            &mut event,
            &format!("{object}/id"),
            json!(format!("cs_test_bench{serial:016}")),
        )?;
        put(&mut event, &format!("{object}/created"), json!(ts))?;
        put(
            &mut event,
            &format!("{object}/expires_at"),
            json!(ts + 86_400),
        )?;
        put(
            &mut event,
            &format!("{object}/amount_subtotal"),
            json!(amount),
        )?;
        put(&mut event, &format!("{object}/amount_total"), json!(amount))?;
        put(
            &mut event,
            &format!("{object}/client_reference_id"),
            json!(organization),
        )?;
        put(
            &mut event,
            &format!("{object}/metadata/organization_id"),
            json!(organization),
        )?;
        put(
            &mut event,
            &format!("{object}/payment_intent"),
            json!(format!("pi_3Bench{serial:016}")),
        )?;
        let (headers, body) = self.stripe_signed(&event, now)?;
        Ok((event_id, headers, body))
    }

    /// PayPal signs `transmission_id|transmission_time|webhook_id|crc32(body)` with RSA; its
    /// bodies are compact JSON.
    fn paypal_signed(
        &self,
        event: &Value,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(HeaderMap, Vec<u8>)> {
        let body = serde_json::to_vec(event)?;
        let transmission_id = Uuid::now_v7().to_string();
        let signed = self.pki.headers(
            &body,
            &self.secrets.paypal_webhook_id,
            PAYPAL_CERT_URL,
            &transmission_id,
            &testkit::signing::paypal_transmission_time(now),
        );
        let mut headers = HeaderMap::new();
        for (name, value) in signed {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(&value)?,
            );
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static("PayPal/AUHD-214.0-58021497"),
        );
        Ok((headers, body))
    }

    fn paypal_subscription(
        &self,
        kind: Kind,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let activated = kind == Kind::PayPalActivated;
        let mut event = if activated {
            self.templates.paypal_activated.clone()
        } else {
            self.templates.paypal_suspended.clone()
        };
        let event_id = format!("WH-BENCH{serial:012}-0WEBHOOKBENCH00000");
        put(&mut event, "/id", json!(event_id))?;
        put(&mut event, "/create_time", json!(millis(now)))?;
        put(
            &mut event,
            "/resource/id",
            json!(organization.provider_subscription_id),
        )?;
        put(
            &mut event,
            "/resource/custom_id",
            json!(organization.id.to_string()),
        )?;
        put(
            &mut event,
            "/resource/status_update_time",
            json!(seconds(now)),
        )?;
        put(&mut event, "/resource/update_time", json!(seconds(now)))?;
        if activated {
            put(
                &mut event,
                "/resource/billing_info/next_billing_time",
                json!(seconds(now + Duration::days(30))),
            )?;
            put(
                &mut event,
                "/resource/billing_info/last_payment/time",
                json!(seconds(now)),
            )?;
            put(
                &mut event,
                "/links/0/href",
                json!(format!(
                    "https://api-m.paypal.com/v1/notifications/webhooks-events/{event_id}"
                )),
            )?;
        }
        let (headers, body) = self.paypal_signed(&event, now)?;
        Ok((event_id, headers, body))
    }

    fn paypal_capture(
        &self,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
        amount: i64,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let mut event = self.templates.paypal_capture.clone();
        let event_id = format!("WH-BENCH{serial:012}-1WEBHOOKBENCH00000");
        let capture = format!("B{serial:016}");
        // PayPal's fee on the capture: 3.49% plus 0.49, as its US schedule.
        let fee = (amount * 349 + 9_999) / 10_000 + 49;
        put(&mut event, "/id", json!(event_id))?;
        put(&mut event, "/create_time", json!(millis(now)))?;
        put(
            &mut event,
            "/summary",
            json!(format!("Payment completed for $ {} USD", decimal(amount))),
        )?;
        put(&mut event, "/resource/id", json!(capture))?;
        put(&mut event, "/resource/amount/value", json!(decimal(amount)))?;
        let breakdown = "/resource/seller_receivable_breakdown";
        put(
            &mut event,
            &format!("{breakdown}/gross_amount/value"),
            json!(decimal(amount)),
        )?;
        put(
            &mut event,
            &format!("{breakdown}/paypal_fee/value"),
            json!(decimal(fee)),
        )?;
        put(
            &mut event,
            &format!("{breakdown}/platform_fees/0/amount/value"),
            json!("0.00"),
        )?;
        put(
            &mut event,
            &format!("{breakdown}/net_amount/value"),
            json!(decimal(amount - fee)),
        )?;
        put(
            &mut event,
            "/resource/invoice_id",
            json!(format!("bench-{serial}")),
        )?;
        put(&mut event, "/resource/create_time", json!(seconds(now)))?;
        put(&mut event, "/resource/update_time", json!(seconds(now)))?;
        insert(
            &mut event,
            "/resource",
            "custom_id",
            json!(organization.id.to_string()),
        )?;
        for (i, suffix) in ["", "/refund"].into_iter().enumerate() {
            put(
                &mut event,
                &format!("/resource/links/{i}/href"),
                json!(format!(
                    "https://api.paypal.com/v2/payments/captures/{capture}{suffix}"
                )),
            )?;
        }
        let (headers, body) = self.paypal_signed(&event, now)?;
        Ok((event_id, headers, body))
    }

    fn payhere_posted(body: Vec<u8>) -> (HeaderMap, Vec<u8>) {
        let headers = headers(vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )]);
        (headers, body)
    }

    fn payhere_installment(
        &self,
        kind: Kind,
        organization: &Organization,
        serial: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let paid = kind == Kind::PayHereInstallmentPaid;
        let order = format!("SUB-{}.bench", organization.id);
        let amount = decimal(INVOICE_AMOUNTS[(serial % 3) as usize]);
        let status = if paid { "2" } else { "-2" };
        let payment = format!("32{serial:010}");
        let subscription = organization.provider_subscription_id.as_str();
        let next = (now + Duration::days(30)).format("%Y-%m-%d").to_string();
        let installments = (serial % 24 + 1).to_string();
        let body = PayHereNotification::new(
            &self.secrets.payhere_merchant_id,
            &self.secrets.payhere_secret,
            &order,
            &amount,
            "USD",
            status,
        )
        .field("payment_id", &payment)
        .field("custom_1", &organization.id.to_string())
        .field("custom_2", "subscription")
        .field(
            "status_message",
            if paid {
                "Successfully received the VISA payment"
            } else {
                "Insufficient funds"
            },
        )
        .field("method", "VISA")
        .field("card_holder_name", "Saman Kumara")
        .field("card_no", "************4564")
        .field("card_expiry", "12/27")
        .field("recurring", "1")
        .field(
            "message_type",
            if paid {
                "RECURRING_INSTALLMENT_SUCCESS"
            } else {
                "RECURRING_INSTALLMENT_FAILED"
            },
        )
        .field("item_recurrence", "1 Month")
        .field("item_duration", "Forever")
        .field("item_rec_status", "0")
        .field("item_rec_date_next", &next)
        .field("item_rec_install_paid", &installments)
        .field("subscription_id", subscription)
        .body();
        let (headers, body) = Self::payhere_posted(body);
        Ok((
            format!("{order}/{subscription}/{payment}/{status}"),
            headers,
            body,
        ))
    }

    fn payhere_top_up(
        &self,
        organization: &Organization,
        serial: u64,
        amount: i64,
    ) -> anyhow::Result<(String, HeaderMap, Vec<u8>)> {
        let order = format!("TOPUP-{}.b{serial}", organization.id);
        let amount = decimal(amount);
        let body = PayHereNotification::new(
            &self.secrets.payhere_merchant_id,
            &self.secrets.payhere_secret,
            &order,
            &amount,
            "USD",
            "2",
        )
        .field("payment_id", &format!("32{serial:010}"))
        .field("captured_amount", &amount)
        .field("custom_1", &organization.id.to_string())
        .field("custom_2", "topup")
        .field("status_message", "Successfully received the VISA payment")
        .field("method", "VISA")
        .field("recurring", "0")
        .body();
        let (headers, body) = Self::payhere_posted(body);
        Ok((format!("{order}/2"), headers, body))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn amounts_are_written_with_two_decimals() {
        assert_eq!(decimal(2900), "29.00");
        assert_eq!(decimal(5), "0.05");
        assert_eq!(decimal(123_456), "1234.56");
    }

    #[test]
    fn every_kind_is_made_from_its_fixture_with_fresh_ids() {
        let now = Utc::now();
        let signer = Signer::new(Secrets::generate(), Arc::new(PayPalPki::generate(now))).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for (serial, kind) in Kind::ALL.into_iter().enumerate() {
            let provider = kind.provider();
            let organization = Organization {
                id: Uuid::now_v7(),
                provider_subscription_id: match provider {
                    ProviderName::Stripe => "sub_Bench1".to_owned(),
                    ProviderName::Paypal => "I-BENCH0001".to_owned(),
                    ProviderName::Payhere => "420000000001".to_owned(),
                },
            };
            let planned = Planned {
                kind,
                organization: 0,
            };
            let serial = serial as u64;
            let first = signer
                .sign(planned, &organization, serial, now, &mut rng)
                .unwrap();
            let second = signer
                .sign(planned, &organization, serial + 100, now, &mut rng)
                .unwrap();
            assert_ne!(first.key, second.key, "{kind:?}");
            assert!(first.key.starts_with(provider.as_str()));
            assert_eq!(first.top_up_minor.is_some(), kind.is_top_up());
            let text = String::from_utf8(first.body.to_vec()).unwrap();
            let org = organization.id.to_string();
            assert!(text.contains(&org), "{kind:?} names its organization");
            if provider != ProviderName::Payhere {
                let json: Value = serde_json::from_slice(&first.body).unwrap();
                assert!(
                    json["id"]
                        .as_str()
                        .unwrap()
                        .to_lowercase()
                        .contains("bench"),
                    "{kind:?}"
                );
            }
            let signature = match provider {
                ProviderName::Stripe => "stripe-signature",
                ProviderName::Paypal => "paypal-transmission-sig",
                ProviderName::Payhere => "content-type",
            };
            assert!(first.headers.contains_key(signature), "{kind:?}");
        }
    }
}
