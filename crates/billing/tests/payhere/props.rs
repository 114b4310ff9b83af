//! Property tests: no body panics the adapter, and only correctly signed ones pass.

use billing::BillingProvider;
use proptest::prelude::*;

use crate::support::{encode, our_body, ours, verify};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Field names PayHere uses, plus noise, so bodies often look like notifications.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "merchant_id",
            "order_id",
            "payment_id",
            "payhere_amount",
            "payhere_currency",
            "status_code",
            "md5sig",
            "custom_1",
            "recurring",
            "message_type",
            "subscription_id",
        ])
        .prop_map(str::to_owned),
        "[a-z_%+=&]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let provider = ours();
        let outcome = runtime().block_on(verify(&provider, &bytes));
        prop_assert!(outcome.is_err());
    }

    #[test]
    fn arbitrary_forms_never_panic_and_never_verify(
        fields in proptest::collection::vec((name(), "\\PC{0,40}"), 0..20)
    ) {
        let provider = ours();
        let outcome = runtime().block_on(verify(&provider, &encode(&fields)));
        prop_assert!(outcome.is_err());
    }

    /// Signed notifications with arbitrary values in every field: verification passes exactly
    /// when the amount has PayHere's format, and parsing then never panics.
    #[test]
    fn signed_arbitrary_notifications_parse_without_panicking(
        order_id in "[ -~]{1,60}",
        amount in prop_oneof!["[0-9]{1,12}\\.[0-9]{2}", "[0-9.,-]{1,8}"],
        currency in prop_oneof![Just("LKR".to_owned()), Just("USD".to_owned()), "[A-Z]{3}"],
        status in prop_oneof![Just("2".to_owned()), Just("-3".to_owned()), "-?[0-9]{1,2}"],
        recurring in proptest::sample::select(vec!["0", "1", ""]),
        message_type in "[ -~]{0,40}",
        subscription_id in "[0-9a-z/]{0,14}",
        payment_id in "[0-9a-z]{0,14}",
        custom_1 in "\\PC{0,30}",
    ) {
        let provider = ours();
        let body = our_body(&order_id, &amount, &currency, &status, &[
            ("recurring", recurring),
            ("message_type", &message_type),
            ("subscription_id", &subscription_id),
            ("payment_id", &payment_id),
            ("custom_1", &custom_1),
        ]);
        let well_formed = amount.split_once('.').is_some_and(|(w, d)| {
            !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) && d.len() == 2 && d.bytes().all(|b| b.is_ascii_digit())
        });
        match runtime().block_on(verify(&provider, &body)) {
            Ok(verified) => {
                prop_assert!(well_formed);
                // Events, ignored, or a Decode error (an unknown currency, a non-numeric id).
                let parsed = provider.parse_webhook(&verified);
                prop_assert!(
                    matches!(parsed, Ok(_) | Err(billing::ProviderError::Decode { .. })),
                    "{parsed:?}"
                );
            }
            Err(error) => {
                prop_assert!(!well_formed, "{error}");
                prop_assert!(matches!(error, billing::VerifyError::MalformedBody(_)));
            }
        }
    }
}
