//! PayHere's harness: the published md5sig vectors of merchant 1211149 (every status code), and
//! refusals for every way the signed body fields can be missing, malformed or altered. Each
//! vector is delivered as a recurring installment notification: the unsigned fields PayHere adds
//! (`payment_id`, `status_message` with spaces, `recurring`, `message_type`, `subscription_id`,
//! `item_rec_date_next`) leave the published md5sig valid and make the vectors parse to events.
//!
//! PayHere signs five decoded field values inside the body (`merchant_id`, `order_id`,
//! `payhere_amount`, `payhere_currency`, `status_code`), not the bytes and not a header, so
//! [`Harness::SIGNS_RAW_BYTES`] is `false`. What the shared cases then mean for PayHere:
//!
//! - Tampered: [`Harness::tampered`] changes one byte of the signed `payhere_amount` (a digit for
//!   another digit, so the format check passes and md5sig itself must refuse it). A changed byte
//!   in an unsigned field (`payment_id`, `custom_1`, `status_message`) is not detectable by
//!   md5sig at all, which is why the adapter never reads money or organization from unsigned
//!   fields (tested in `tests/payhere/verify.rs`).
//! - Re-serialized: [`Harness::reserialized`] is the same fields in reverse order with every value
//!   byte percent-encoded. The decoded values, and so the signature, are unchanged: it is the
//!   same notification, so it verifies and parses to exactly the same events.
//!
//! A lower-case `md5sig` (the right digest, not as PayHere writes it) is among the negative
//! cases: refused as `BadSignature`.

use std::sync::Arc;

use billing::VerifyError;
use billing::payhere::signature::notification_md5sig;
use billing::payhere::{PayHereConfig, PayHereProvider};
use chrono::DateTime;
use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use primitives::ManualClock;
use secrecy::SecretString;
use url::form_urlencoded;

use crate::{Delivery, Harness, NegativeCase, contract_tests};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/payhere/vectors.txt"
);
const MERCHANT_ID: &str = "1211149";
const SECRET: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTE=";

/// One `merchant_id=... md5sig = ...` entry of the vectors file.
struct Vector {
    fields: Vec<(String, String)>,
    md5sig: String,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    let mut vectors = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        if line.starts_with("merchant_id=") {
            current = Some(
                line.split(' ')
                    .map(|pair| {
                        let (name, value) = pair.split_once('=').unwrap();
                        (name.to_owned(), value.to_owned())
                    })
                    .collect(),
            );
        } else if let Some(md5sig) = line.trim().strip_prefix("md5sig") {
            let md5sig = md5sig.trim().trim_start_matches('=').trim().to_owned();
            vectors.push(Vector {
                fields: current.take().unwrap(),
                md5sig,
            });
        }
    }
    vectors
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    &fields.iter().find(|(n, _)| n == name).unwrap().1
}

fn encode(fields: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

fn decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn form_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers
}

fn provider_with(secret: &str) -> PayHereProvider {
    let mut config = PayHereConfig::new(MERCHANT_ID, SecretString::from(secret));
    // Port 9 (discard) on loopback: nothing answers, nothing leaves the machine.
    config.base_url = "http://127.0.0.1:9".into();
    let clock = ManualClock::new(DateTime::from_timestamp(1_767_225_600, 0).unwrap());
    PayHereProvider::new(config, Arc::new(clock)).unwrap()
}

/// The valid delivery with its fields changed by `edit`, the rest as sent.
fn edited(valid: &Delivery, name: &str, edit: impl FnOnce(&mut Vec<(String, String)>)) -> Delivery {
    let mut fields = decode(&valid.body);
    edit(&mut fields);
    Delivery {
        name: format!("{} / {name}", valid.name),
        headers: valid.headers.clone(),
        body: encode(&fields),
    }
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    fields.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.to_owned();
}

fn is_malformed(error: &VerifyError) -> bool {
    matches!(error, VerifyError::MalformedBody(_))
}

fn is_missing_md5sig(error: &VerifyError) -> bool {
    *error == VerifyError::MalformedBody("missing md5sig")
}

fn is_bad_signature(error: &VerifyError) -> bool {
    *error == VerifyError::BadSignature
}

fn is_amount_format(error: &VerifyError) -> bool {
    *error == VerifyError::MalformedBody("payhere_amount is not digits with exactly two decimals")
}

fn is_wrong_merchant(error: &VerifyError) -> bool {
    *error == VerifyError::MalformedBody("merchant_id is not the configured merchant")
}

fn case(name: &str, delivery: Delivery, expect: fn(&VerifyError) -> bool) -> NegativeCase {
    NegativeCase {
        name: name.to_owned(),
        delivery,
        expect,
    }
}

pub struct PayHereHarness;

impl Harness for PayHereHarness {
    type Provider = PayHereProvider;

    /// md5sig covers five decoded field values, not the body's bytes.
    const SIGNS_RAW_BYTES: bool = false;

    async fn provider() -> PayHereProvider {
        provider_with(SECRET)
    }

    async fn provider_with_wrong_secret() -> PayHereProvider {
        provider_with("not-the-merchant-secret")
    }

    fn valid_deliveries() -> Vec<Delivery> {
        let deliveries: Vec<Delivery> = vectors()
            .into_iter()
            .filter(|vector| field(&vector.fields, "merchant_id") == MERCHANT_ID)
            .map(|vector| {
                let f = |name| field(&vector.fields, name).to_owned();
                assert_eq!(f("merchant_secret"), SECRET);
                let message_type = if f("status_code") == "2" {
                    "RECURRING_INSTALLMENT_SUCCESS"
                } else {
                    "RECURRING_INSTALLMENT_FAILED"
                };
                let fields: Vec<(String, String)> = [
                    ("merchant_id", f("merchant_id")),
                    ("order_id", f("order_id")),
                    ("payment_id", "320025157750".to_owned()),
                    ("payhere_amount", f("payhere_amount")),
                    ("payhere_currency", f("payhere_currency")),
                    ("status_code", f("status_code")),
                    ("md5sig", vector.md5sig.clone()),
                    (
                        "status_message",
                        "Successfully received the VISA payment".to_owned(),
                    ),
                    ("recurring", "1".to_owned()),
                    ("message_type", message_type.to_owned()),
                    ("subscription_id", "420075032251".to_owned()),
                    ("item_rec_date_next", "2026-02-01".to_owned()),
                ]
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect();
                Delivery {
                    name: format!("vector status_code={}", f("status_code")),
                    headers: form_headers(),
                    body: encode(&fields),
                }
            })
            .collect();
        // Every status code PayHere sends: 2, 0, -1, -2, -3.
        assert_eq!(deliveries.len(), 5);
        deliveries
    }

    /// Reversed field order and every value byte percent-encoded (`md5sig=%42%44...`): the same
    /// decoded values, so the same notification.
    fn reserialized(delivery: &Delivery) -> Delivery {
        let mut fields = decode(&delivery.body);
        fields.reverse();
        let body = fields
            .iter()
            .map(|(name, value)| {
                let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
                format!("{name}={encoded}")
            })
            .collect::<Vec<_>>()
            .join("&");
        Delivery {
            name: format!("{} / reserialized", delivery.name),
            headers: delivery.headers.clone(),
            body: body.into_bytes(),
        }
    }

    /// The first digit of the signed `payhere_amount` swapped for another digit (`1000.00` becomes
    /// `0000.00`): still PayHere's format, so only md5sig can refuse it.
    fn tampered(delivery: &Delivery) -> Delivery {
        const AMOUNT: &[u8] = b"payhere_amount=";
        let start = delivery
            .body
            .windows(AMOUNT.len())
            .position(|window| window == AMOUNT)
            .unwrap()
            + AMOUNT.len();
        let mut tampered = delivery.clone();
        tampered.name = format!("{} / payhere_amount tampered", delivery.name);
        let digit = &mut tampered.body[start];
        assert!(digit.is_ascii_digit(), "{}", delivery.name);
        // 0<->1, 2<->3 ... 8<->9: a digit stays a digit.
        *digit ^= 0x01;
        tampered
    }

    fn negative_cases(valid: &Delivery) -> Vec<NegativeCase> {
        let fields = decode(&valid.body);
        let value = |name| field(&fields, name).to_owned();
        let md5sig = value("md5sig");
        let status_code = value("status_code");
        let secret = SecretString::from(SECRET);
        // A correctly computed md5sig over a wrongly formatted amount: refused for the format,
        // before hashing (PayHere never sends it).
        let signed_amount = |amount: &str| {
            let sig = notification_md5sig(
                MERCHANT_ID,
                &value("order_id"),
                amount,
                &value("payhere_currency"),
                &status_code,
                &secret,
            );
            let amount = amount.to_owned();
            move |fields: &mut Vec<(String, String)>| {
                set(fields, "payhere_amount", &amount);
                set(fields, "md5sig", &sig);
            }
        };
        let tampered_status = if status_code == "2" { "-2" } else { "2" };
        let mut cases = vec![
            case(
                "md5sig missing",
                edited(valid, "md5sig missing", |f| {
                    f.retain(|(n, _)| n != "md5sig")
                }),
                is_missing_md5sig,
            ),
            case(
                "md5sig empty",
                edited(valid, "md5sig empty", |f| set(f, "md5sig", "")),
                is_missing_md5sig,
            ),
            case(
                "md5sig in lower case (PayHere sends upper case)",
                edited(valid, "md5sig lower", |f| {
                    set(f, "md5sig", &md5sig.to_ascii_lowercase());
                }),
                is_bad_signature,
            ),
            case(
                "md5sig not hex",
                edited(valid, "md5sig not hex", |f| {
                    set(f, "md5sig", &format!("{}G", &md5sig[..31]));
                }),
                is_malformed,
            ),
            case(
                "md5sig truncated",
                edited(valid, "md5sig truncated", |f| {
                    set(f, "md5sig", &md5sig[..31])
                }),
                is_malformed,
            ),
            case(
                "md5sig with a trailing space",
                edited(valid, "md5sig space", |f| {
                    set(f, "md5sig", &format!("{md5sig} "))
                }),
                is_malformed,
            ),
            case(
                "amount 1000 with the md5sig of 1000.00",
                edited(valid, "amount 1000", |f| set(f, "payhere_amount", "1000")),
                is_amount_format,
            ),
            case(
                "amount 1000 with its own md5sig",
                edited(valid, "amount 1000 signed", signed_amount("1000")),
                is_amount_format,
            ),
            case(
                "amount 1000.0 with its own md5sig",
                edited(valid, "amount 1000.0 signed", signed_amount("1000.0")),
                is_amount_format,
            ),
            case(
                "amount 1,000.00 with its own md5sig",
                edited(valid, "amount 1,000.00 signed", signed_amount("1,000.00")),
                is_amount_format,
            ),
            case(
                "amount 1000.000",
                edited(valid, "amount 1000.000", |f| {
                    set(f, "payhere_amount", "1000.000")
                }),
                is_amount_format,
            ),
            case(
                "amount changed",
                edited(valid, "amount changed", |f| {
                    set(f, "payhere_amount", "1.00")
                }),
                is_bad_signature,
            ),
            case(
                "wrong merchant_id",
                edited(valid, "wrong merchant", |f| {
                    set(f, "merchant_id", "1221149")
                }),
                is_wrong_merchant,
            ),
            case(
                "status_code tampered",
                edited(valid, "status tampered", |f| {
                    set(f, "status_code", tampered_status)
                }),
                is_bad_signature,
            ),
            case(
                "order_id tampered",
                edited(valid, "order tampered", |f| {
                    set(f, "order_id", "ItemNo12346")
                }),
                is_bad_signature,
            ),
            case(
                "currency tampered",
                edited(valid, "currency tampered", |f| {
                    set(f, "payhere_currency", "USD")
                }),
                is_bad_signature,
            ),
            case(
                "status_code sent twice",
                edited(valid, "status twice", |f| {
                    f.push(("status_code".into(), tampered_status.into()));
                }),
                is_malformed,
            ),
            case(
                "md5sig sent twice",
                edited(valid, "md5sig twice", |f| {
                    f.push(("md5sig".into(), md5sig.clone()))
                }),
                is_malformed,
            ),
            case(
                "an unsigned field sent twice",
                edited(valid, "custom_1 twice", |f| {
                    f.push(("custom_1".into(), "a".into()));
                    f.push(("custom_1".into(), "b".into()));
                }),
                is_malformed,
            ),
            case(
                "empty body",
                Delivery {
                    name: "empty".into(),
                    headers: valid.headers.clone(),
                    body: Vec::new(),
                },
                is_malformed,
            ),
            case(
                "JSON instead of a form",
                Delivery {
                    name: "json".into(),
                    headers: valid.headers.clone(),
                    body: serde_json::to_vec(&serde_json::json!({
                        "merchant_id": MERCHANT_ID, "md5sig": md5sig
                    }))
                    .unwrap(),
                },
                is_malformed,
            ),
        ];
        for name in [
            "merchant_id",
            "order_id",
            "payhere_amount",
            "payhere_currency",
            "status_code",
        ] {
            cases.push(case(
                &format!("{name} missing"),
                edited(valid, name, |f| f.retain(|(n, _)| n != name)),
                is_malformed,
            ));
        }
        cases
    }
}

contract_tests!(PayHereHarness);

/// The harness itself: its tampered deliveries are refused by md5sig, not by a format check,
/// and its deliveries mean events, so the contract's re-serialization equality compares some.
#[tokio::test]
async fn harness_tampering_reaches_md5sig_and_deliveries_mean_events() {
    let provider = PayHereHarness::provider().await;
    let mut with_events = 0;
    for valid in PayHereHarness::valid_deliveries() {
        let tampered = PayHereHarness::tampered(&valid);
        let refused = billing::BillingProvider::verify_webhook(&provider, tampered.request()).await;
        assert_eq!(
            refused.unwrap_err(),
            VerifyError::BadSignature,
            "{}",
            valid.name
        );
        let verified = billing::BillingProvider::verify_webhook(&provider, valid.request())
            .await
            .unwrap();
        let parsed = billing::BillingProvider::parse_webhook(&provider, &verified).unwrap();
        if let billing::ParsedWebhook::Events { events } = parsed {
            assert!(events.iter().all(|event| event.payment_reference.is_some()));
            with_events += 1;
        }
    }
    // Pending (0) is ignored; success, canceled, failed and charged back are events.
    assert_eq!(with_events, 4);
}
