//! Every event type to its normalized event, as reviewed insta snapshots, plus the cases that
//! must be ignored or refused.

use billing::{BillingEventKind, ParsedWebhook, ProviderError, ProviderName};
use primitives::{Currency, Money};
use serde_json::{Value, json};

use crate::common::{fixture, parse};

async fn parsed(name: &str) -> ParsedWebhook {
    parse(&fixture(name))
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// The fixture with `edit` applied to its JSON.
async fn parsed_edited(
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<ParsedWebhook, ProviderError> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    edit(&mut value);
    parse(&serde_json::to_vec_pretty(&value).unwrap()).await
}

fn single(parsed: &ParsedWebhook) -> &billing::BillingEvent {
    match parsed {
        ParsedWebhook::Events { events } if events.len() == 1 => &events[0],
        other => panic!("expected one event, got {other:?}"),
    }
}

fn kind(parsed: &ParsedWebhook) -> BillingEventKind {
    single(parsed).kind
}

fn is_ignored(parsed: &ParsedWebhook) -> bool {
    matches!(parsed, ParsedWebhook::Ignored { .. })
}

macro_rules! snapshot_tests {
    ($($test:ident => $fixture:literal,)*) => {$(
        #[tokio::test]
        async fn $test() {
            insta::assert_json_snapshot!(stringify!($test), parsed($fixture).await);
        }
    )*};
}

snapshot_tests! {
    subscription_created => "customer.subscription.created",
    subscription_updated => "customer.subscription.updated",
    subscription_updated_pause_collection => "customer.subscription.updated.pause_collection",
    subscription_updated_resume_collection => "customer.subscription.updated.resume_collection",
    subscription_updated_unpaid => "customer.subscription.updated.unpaid",
    subscription_deleted => "customer.subscription.deleted",
    subscription_paused => "customer.subscription.paused",
    subscription_resumed => "customer.subscription.resumed",
    subscription_trial_will_end => "customer.subscription.trial_will_end",
    invoice_paid => "invoice.paid",
    invoice_paid_legacy_api_version => "invoice.paid.legacy",
    invoice_paid_zero_decimal_currency => "invoice.paid.jpy",
    invoice_payment_failed => "invoice.payment_failed",
    invoice_payment_action_required => "invoice.payment_action_required",
    checkout_session_completed_topup => "checkout.session.completed.topup",
    checkout_session_completed_subscription_is_ignored => "checkout.session.completed.subscription",
    checkout_session_completed_unpaid_is_ignored => "checkout.session.completed.unpaid",
    checkout_session_async_payment_succeeded_topup => "checkout.session.async_payment_succeeded",
    payment_intent_succeeded_topup => "payment_intent.succeeded.topup",
    payment_intent_succeeded_of_an_invoice_is_ignored => "payment_intent.succeeded.invoice",
    charge_refunded_topup => "charge.refunded",
    charge_refunded_second_partial_refund => "charge.refunded.second_partial",
    charge_refunded_subscription_payment_is_ignored => "charge.refunded.subscription",
    charge_dispute_created => "charge.dispute.created",
    charge_dispute_closed_won => "charge.dispute.closed.won",
    charge_dispute_closed_lost => "charge.dispute.closed.lost",
}

#[tokio::test]
async fn updated_maps_by_the_new_status() {
    for (status, expected) in [
        ("active", BillingEventKind::SubscriptionUpdated),
        ("trialing", BillingEventKind::SubscriptionUpdated),
        ("past_due", BillingEventKind::SubscriptionUpdated),
        ("incomplete", BillingEventKind::SubscriptionUpdated),
        ("unpaid", BillingEventKind::SubscriptionSuspended),
        ("paused", BillingEventKind::SubscriptionPaused),
        ("canceled", BillingEventKind::SubscriptionCanceled),
        ("incomplete_expired", BillingEventKind::SubscriptionExpired),
        // A status Stripe may add later is still an update, not an error.
        ("some_future_status", BillingEventKind::SubscriptionUpdated),
    ] {
        let parsed = parsed_edited("customer.subscription.updated", |event| {
            event["data"]["object"]["status"] = json!(status);
        })
        .await
        .unwrap();
        assert_eq!(kind(&parsed), expected, "{status}");
    }
}

#[tokio::test]
async fn a_cancellation_wins_over_a_collection_pause() {
    let parsed = parsed_edited("customer.subscription.updated.pause_collection", |event| {
        event["data"]["object"]["status"] = json!("canceled");
    })
    .await
    .unwrap();
    assert_eq!(kind(&parsed), BillingEventKind::SubscriptionCanceled);
}

#[tokio::test]
async fn an_update_without_previous_attributes_is_not_a_resume() {
    let parsed = parsed_edited("customer.subscription.updated.resume_collection", |event| {
        event["data"]
            .as_object_mut()
            .unwrap()
            .remove("previous_attributes");
    })
    .await
    .unwrap();
    assert_eq!(kind(&parsed), BillingEventKind::SubscriptionUpdated);
}

#[tokio::test]
async fn invoices_read_the_new_parent_before_the_legacy_fields() {
    let parsed = parsed_edited("invoice.paid", |event| {
        let invoice = &mut event["data"]["object"];
        invoice["subscription"] = json!("sub_legacy_field");
        invoice["subscription_details"] = json!({"metadata": {"organization_id": "org-legacy"}});
    })
    .await
    .unwrap();
    let event = single(&parsed);
    assert_eq!(
        event.provider_subscription_id.as_deref(),
        Some("sub_1R8mKqLkdIwHu7ixAbCdEf01")
    );
    assert_eq!(
        event.organization_ref.as_deref(),
        Some("0195f3a2-7c1e-7b3a-9f1d-2c4e6a8b0d12")
    );
}

#[tokio::test]
async fn an_invoice_without_any_subscription_metadata_falls_back_to_its_own() {
    let parsed = parsed_edited("invoice.paid", |event| {
        let invoice = &mut event["data"]["object"];
        invoice["parent"]["subscription_details"]["metadata"] = json!({});
        invoice["metadata"] = json!({"organization_id": "org-on-invoice"});
    })
    .await
    .unwrap();
    assert_eq!(
        single(&parsed).organization_ref.as_deref(),
        Some("org-on-invoice")
    );
}

#[tokio::test]
async fn a_one_off_invoice_is_ignored() {
    let parsed = parsed_edited("invoice.paid", |event| {
        let invoice = &mut event["data"]["object"];
        invoice["parent"] = json!({"type": "quote_details", "quote_details": {"quote": "qt_1"}, "subscription_details": null});
    })
    .await
    .unwrap();
    assert!(is_ignored(&parsed), "{parsed:?}");
}

#[tokio::test]
async fn stripes_two_decimal_isk_becomes_whole_kronur() {
    let parsed = parsed_edited("invoice.paid", |event| {
        let invoice = &mut event["data"]["object"];
        invoice["currency"] = json!("isk");
        invoice["amount_paid"] = json!(790_000);
    })
    .await
    .unwrap();
    assert_eq!(
        single(&parsed).amount,
        Some(Money::from_minor(7_900, Currency::ISK))
    );
}

#[tokio::test]
async fn a_topup_without_the_purpose_is_not_credited() {
    for name in [
        "checkout.session.completed.topup",
        "payment_intent.succeeded.topup",
        "charge.refunded",
    ] {
        let parsed = parsed_edited(name, |event| {
            event["data"]["object"]["metadata"] = json!({"organization_id": "org-1"});
        })
        .await
        .unwrap();
        assert!(is_ignored(&parsed), "{name}: {parsed:?}");
    }
}

#[tokio::test]
async fn the_payment_intent_behind_a_checkout_topup_is_not_credited_twice_but_its_refund_counts() {
    let purpose = json!({
        "organization_id": "org-1",
        "purpose": billing::stripe::PURPOSE_WALLET_TOPUP_CHECKOUT,
    });
    let succeeded = parsed_edited("payment_intent.succeeded.topup", |event| {
        event["data"]["object"]["metadata"] = purpose.clone();
    })
    .await
    .unwrap();
    assert!(is_ignored(&succeeded), "{succeeded:?}");
    let refunded = parsed_edited("charge.refunded", |event| {
        event["data"]["object"]["metadata"] = purpose.clone();
    })
    .await
    .unwrap();
    assert_eq!(kind(&refunded), BillingEventKind::TopUpRefunded);
    assert_eq!(single(&refunded).organization_ref.as_deref(), Some("org-1"));
}

#[tokio::test]
async fn a_refund_without_previous_attributes_counts_the_whole_refunded_amount() {
    let parsed = parsed_edited("charge.refunded", |event| {
        event["data"]
            .as_object_mut()
            .unwrap()
            .remove("previous_attributes");
    })
    .await
    .unwrap();
    assert_eq!(
        single(&parsed).amount,
        Some(Money::from_minor(400, Currency::EUR))
    );
}

#[tokio::test]
async fn unknown_types_are_ignored_with_their_id() {
    for event_type in [
        "customer.created",
        "invoice.payment_succeeded",
        "payout.paid",
        "v2.core.account.updated",
    ] {
        let parsed = parsed_edited("invoice.paid", |event| {
            event["type"] = json!(event_type);
        })
        .await
        .unwrap();
        assert_eq!(
            parsed,
            ParsedWebhook::Ignored {
                provider_event_type: event_type.into(),
                provider_event_id: Some("evt_1R9xP1LkdIwHu7ixInvPai01".into()),
            }
        );
    }
}

fn is_decode(result: &Result<ParsedWebhook, ProviderError>) -> bool {
    matches!(
        result,
        Err(ProviderError::Decode {
            provider: ProviderName::Stripe,
            ..
        })
    )
}

#[tokio::test]
async fn a_known_type_with_a_malformed_object_is_a_decode_error() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 10] = [
        ("invoice.paid", |e| {
            e["data"]["object"]["amount_paid"] = json!("49.00")
        }),
        ("invoice.paid", |e| {
            e["data"]["object"]["currency"] = json!("zzz")
        }),
        ("invoice.paid", |e| {
            e["data"]["object"]["amount_paid"] = json!(-4900)
        }),
        ("invoice.payment_failed", |e| {
            e["data"]["object"]
                .as_object_mut()
                .unwrap()
                .remove("amount_due");
        }),
        ("customer.subscription.updated", |e| {
            e["data"]["object"] = json!([])
        }),
        ("customer.subscription.created", |e| {
            e["data"]["object"].as_object_mut().unwrap().remove("id");
        }),
        ("checkout.session.completed.topup", |e| {
            e["data"]["object"]["amount_total"] = Value::Null
        }),
        ("payment_intent.succeeded.topup", |e| {
            e["data"]["object"]["metadata"] = json!({"purpose": 1})
        }),
        // The cumulative refunded amount shrank: not a refund we can book.
        ("charge.refunded.second_partial", |e| {
            e["data"]["previous_attributes"]["amount_refunded"] = json!(2000);
        }),
        ("charge.dispute.created", |e| {
            e["data"]["object"]["amount"] = json!(10.5)
        }),
    ];
    for (name, edit) in cases {
        let result = parsed_edited(name, edit).await;
        assert!(is_decode(&result), "{name}: {result:?}");
    }
}

#[tokio::test]
async fn a_malformed_envelope_is_a_decode_error() {
    for body in [
        json!({"object": "event", "type": "invoice.paid", "created": 1, "data": {"object": {}}}),
        json!({"id": "evt_1", "created": 1, "data": {"object": {}}}),
        json!({"id": "evt_1", "type": "x", "created": "yesterday", "data": {"object": {}}}),
        json!({"id": "evt_1", "type": "x", "created": 1}),
        json!({"id": "", "type": "x", "created": 1, "data": {"object": {}}}),
        json!({"id": "evt_1", "type": "x", "created": i64::MAX, "data": {"object": {}}}),
    ] {
        let body = serde_json::to_vec(&body).unwrap();
        // Signed at 0 and verified there: the envelope's own `created` is what is broken.
        let (provider, _) = crate::common::provider_at(crate::common::UNREACHABLE, 0);
        let headers = crate::common::signed(crate::common::WEBHOOK_SECRET, 0, &body);
        let verified = billing::BillingProvider::verify_webhook(
            &provider,
            billing::WebhookRequest {
                headers: &headers,
                body: &body,
            },
        )
        .await
        .unwrap();
        let result = billing::BillingProvider::parse_webhook(&provider, &verified);
        assert!(is_decode(&result), "{result:?}");
    }
}

#[tokio::test]
async fn event_id_time_and_type_come_from_the_envelope() {
    let parsed = parsed("invoice.payment_failed").await;
    let event = single(&parsed);
    assert_eq!(event.provider, ProviderName::Stripe);
    assert_eq!(event.provider_event_id, "evt_1R9xP0LkdIwHu7ixInvFai01");
    assert_eq!(event.provider_event_type, "invoice.payment_failed");
    assert_eq!(
        event.occurred_at.timestamp(),
        1_743_465_600 + 30 * 86_400 + 3_600
    );
    assert_eq!(event.amount, Some(Money::from_minor(4_900, Currency::USD)));
}

fn reference(parsed: &ParsedWebhook) -> Option<&str> {
    single(parsed).payment_reference.as_deref()
}

fn period_end(parsed: &ParsedWebhook) -> Option<i64> {
    single(parsed).period_end.map(|end| end.timestamp())
}

/// The PaymentIntent behind the Checkout top-up fixtures.
const CHECKOUT_INTENT: &str = "pi_3R8pH9LkdIwHu7ix1TopUp001";

#[tokio::test]
async fn a_checkout_topup_its_payment_intent_refunds_and_disputes_share_one_reference() {
    let completed = parsed("checkout.session.completed.topup").await;
    let settled = parsed("checkout.session.async_payment_succeeded").await;
    // Had the PaymentIntent been marked as well, its success would name the same payment.
    let intent = parsed_edited("payment_intent.succeeded.topup", |event| {
        event["data"]["object"]["id"] = json!(CHECKOUT_INTENT);
    })
    .await
    .unwrap();
    let refunded = parsed_edited("charge.refunded", |event| {
        let charge = &mut event["data"]["object"];
        charge["payment_intent"] = json!(CHECKOUT_INTENT);
        charge["metadata"]["purpose"] = json!(billing::stripe::PURPOSE_WALLET_TOPUP_CHECKOUT);
    })
    .await
    .unwrap();
    let disputed = parsed_edited("charge.dispute.created", |event| {
        event["data"]["object"]["payment_intent"] = json!(CHECKOUT_INTENT);
    })
    .await
    .unwrap();
    for parsed in [&completed, &settled, &intent, &refunded, &disputed] {
        assert_eq!(reference(parsed), Some(CHECKOUT_INTENT), "{parsed:?}");
        assert_eq!(period_end(parsed), None, "{parsed:?}");
    }
}

/// The Checkout Session of the top-up fixtures, as `create_top_up` returned it.
const CHECKOUT_SESSION: &str = "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789abcdEFGH";

fn checkout(parsed: &ParsedWebhook) -> Option<&str> {
    single(parsed).checkout_reference.as_deref()
}

#[tokio::test]
async fn a_checkout_topup_names_its_session_as_the_checkout_it_completes() {
    // Paid at once, or settled later: either completion names the session.
    for name in [
        "checkout.session.completed.topup",
        "checkout.session.async_payment_succeeded",
    ] {
        let parsed = parsed(name).await;
        assert_eq!(
            kind(&parsed),
            BillingEventKind::WalletTopUpCompleted,
            "{name}"
        );
        assert_eq!(checkout(&parsed), Some(CHECKOUT_SESSION), "{name}");
        // The credit is still keyed by the payment, not by the checkout.
        assert_eq!(reference(&parsed), Some(CHECKOUT_INTENT), "{name}");
    }
    // Without a PaymentIntent the session is both the payment and the checkout.
    let session = parsed_edited("checkout.session.completed.topup", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(checkout(&session), Some(CHECKOUT_SESSION));
    // A PaymentIntent top-up went through no checkout; refunds, disputes and invoices name none.
    for name in [
        "payment_intent.succeeded.topup",
        "charge.refunded",
        "charge.dispute.created",
        "invoice.paid",
        "customer.subscription.created",
    ] {
        assert_eq!(checkout(&parsed(name).await), None, "{name}");
    }
}

#[tokio::test]
async fn one_off_payments_fall_back_to_their_own_ids_without_a_payment_intent() {
    let session = parsed_edited("checkout.session.completed.topup", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(
        reference(&session),
        Some("cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789abcdEFGH")
    );
    let charge = parsed_edited("charge.refunded", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(reference(&charge), Some("ch_3R8pH9LkdIwHu7ix1Chg0002"));
    let dispute = parsed_edited("charge.dispute.created", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(reference(&dispute), Some("ch_3R8pH9LkdIwHu7ix1Chg0002"));
    let neither = parsed_edited("charge.dispute.created", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
        event["data"]["object"]["charge"] = Value::Null;
    })
    .await;
    assert!(is_decode(&neither), "{neither:?}");
}

#[tokio::test]
async fn expanded_references_give_their_ids() {
    let charge = parsed_edited("charge.refunded", |event| {
        event["data"]["object"]["payment_intent"] =
            json!({"id": "pi_expanded", "object": "payment_intent", "amount": 1000});
    })
    .await
    .unwrap();
    assert_eq!(reference(&charge), Some("pi_expanded"));
    let dispute = parsed_edited("charge.dispute.created", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
        event["data"]["object"]["charge"] = json!({"id": "ch_expanded", "object": "charge"});
    })
    .await
    .unwrap();
    assert_eq!(reference(&dispute), Some("ch_expanded"));
}

#[tokio::test]
async fn every_attempt_at_one_invoice_shares_its_reference() {
    for name in [
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_action_required",
    ] {
        assert_eq!(
            reference(&parsed(name).await),
            Some("in_1R8mKqLkdIwHu7ixInv00002"),
            "{name}"
        );
    }
    // Before 2025-03-31 the invoice names its PaymentIntent, as a dispute of it does; an invoice
    // that needed no payment has none.
    let legacy = parsed("invoice.paid.legacy").await;
    assert_eq!(reference(&legacy), Some("pi_3R8mKrLkdIwHu7ix0Pay0001"));
    let nothing_to_pay = parsed_edited("invoice.paid.legacy", |event| {
        event["data"]["object"]["payment_intent"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(
        reference(&nothing_to_pay),
        Some("in_1R8mKqLkdIwHu7ixInv00002")
    );
    let anonymous = parsed_edited("invoice.paid", |event| {
        event["data"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("id");
    })
    .await;
    assert!(is_decode(&anonymous), "{anonymous:?}");
}

const MAY_31: i64 = 1_748_649_600;

/// A line of the `invoice.paid` fixture with another period; `invoice_item` makes it a one-off
/// invoice item instead of a subscription line (API version 2025-03-31 shape).
fn basil_line(end: i64, invoice_item: bool) -> Value {
    let parent = if invoice_item {
        json!({
            "invoice_item_details": {"invoice_item": "ii_1R8mKqLkdIwHu7ixItem0001", "proration": false, "proration_details": {"credited_items": null}, "subscription": "sub_1R8mKqLkdIwHu7ixAbCdEf01"},
            "subscription_item_details": null,
            "type": "invoice_item_details"
        })
    } else {
        json!({
            "invoice_item_details": null,
            "subscription_item_details": {"invoice_item": null, "proration": true, "proration_details": {"credited_items": null}, "subscription": "sub_1R8mKqLkdIwHu7ixAbCdEf01", "subscription_item": "si_S2kNoPqRsTuVwY"},
            "type": "subscription_item_details"
        })
    };
    json!({
        "id": "il_1R8mKqLkdIwHu7ixLine0002",
        "object": "line_item",
        "amount": 1200,
        "currency": "usd",
        "parent": parent,
        "period": {"end": end, "start": 1_746_057_600},
        "quantity": 1
    })
}

#[tokio::test]
async fn a_paid_invoice_pays_until_its_latest_subscription_line_ends() {
    let paid = parsed("invoice.paid").await;
    assert_eq!(period_end(&paid), Some(MAY_31));
    let later_subscription_line = parsed_edited("invoice.paid", |event| {
        let lines = event["data"]["object"]["lines"]["data"]
            .as_array_mut()
            .unwrap();
        lines.push(basil_line(MAY_31 + 86_400, false));
    })
    .await
    .unwrap();
    assert_eq!(period_end(&later_subscription_line), Some(MAY_31 + 86_400));
    // A one-off item's period is whatever it was given, not the subscription's.
    let later_invoice_item = parsed_edited("invoice.paid", |event| {
        let lines = event["data"]["object"]["lines"]["data"]
            .as_array_mut()
            .unwrap();
        lines.push(basil_line(MAY_31 + 86_400, true));
    })
    .await
    .unwrap();
    assert_eq!(period_end(&later_invoice_item), Some(MAY_31));
    let legacy_invoice_item = parsed_edited("invoice.paid.legacy", |event| {
        let lines = event["data"]["object"]["lines"]["data"]
            .as_array_mut()
            .unwrap();
        let mut item = lines[0].clone();
        item["type"] = json!("invoiceitem");
        item["period"]["end"] = json!(MAY_31 + 86_400);
        lines.push(item);
    })
    .await
    .unwrap();
    assert_eq!(period_end(&legacy_invoice_item), Some(MAY_31));
    let no_lines = parsed_edited("invoice.paid", |event| {
        event["data"]["object"]["lines"]["data"] = json!([]);
    })
    .await
    .unwrap();
    assert_eq!(period_end(&no_lines), None);
    let out_of_range = parsed_edited("invoice.paid", |event| {
        event["data"]["object"]["lines"]["data"][0]["period"]["end"] = json!(i64::MAX);
    })
    .await;
    assert!(is_decode(&out_of_range), "{out_of_range:?}");
}

#[tokio::test]
async fn an_unpaid_invoice_extends_no_period() {
    for name in ["invoice.payment_failed", "invoice.payment_action_required"] {
        assert_eq!(period_end(&parsed(name).await), None, "{name}");
    }
}

#[tokio::test]
async fn subscription_events_carry_the_current_period_end() {
    let updated = parsed("customer.subscription.updated").await;
    assert_eq!(period_end(&updated), Some(MAY_31));
    assert_eq!(reference(&updated), None);
    let several_items = parsed_edited("customer.subscription.updated", |event| {
        let items = event["data"]["object"]["items"]["data"]
            .as_array_mut()
            .unwrap();
        let mut second = items[0].clone();
        second["id"] = json!("si_S2kNoPqRsTuVwY");
        second["current_period_end"] = json!(MAY_31 - 86_400);
        items.insert(0, second);
    })
    .await
    .unwrap();
    assert_eq!(period_end(&several_items), Some(MAY_31));
    // Before API version 2025-03-31 the period is on the subscription, not on its items.
    let legacy = parsed_edited("customer.subscription.updated", |event| {
        let sub = &mut event["data"]["object"];
        sub["items"]["data"][0]
            .as_object_mut()
            .unwrap()
            .remove("current_period_end");
        sub["current_period_end"] = json!(MAY_31);
    })
    .await
    .unwrap();
    assert_eq!(period_end(&legacy), Some(MAY_31));
    let none = parsed_edited("customer.subscription.updated", |event| {
        let sub = &mut event["data"]["object"];
        sub["items"]["data"][0]["current_period_end"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(period_end(&none), None);
    let out_of_range = parsed_edited("customer.subscription.deleted", |event| {
        event["data"]["object"]["items"]["data"][0]["current_period_end"] = json!(i64::MIN);
    })
    .await;
    assert!(is_decode(&out_of_range), "{out_of_range:?}");
}

#[tokio::test]
async fn trial_will_end_carries_the_trial_end() {
    let trial_end = 1_744_675_200;
    let ends_early = parsed_edited("customer.subscription.trial_will_end", |event| {
        // A trial shortened to end before the period Stripe started with.
        event["data"]["object"]["trial_end"] = json!(trial_end - 86_400);
    })
    .await
    .unwrap();
    assert_eq!(period_end(&ends_early), Some(trial_end - 86_400));
    let no_trial_end = parsed_edited("customer.subscription.trial_will_end", |event| {
        event["data"]["object"]["trial_end"] = Value::Null;
    })
    .await
    .unwrap();
    assert_eq!(period_end(&no_trial_end), Some(trial_end));
}

#[tokio::test]
async fn a_dispute_opens_then_is_won_or_lost_under_one_reference() {
    let opened = parsed("charge.dispute.created").await;
    let won = parsed("charge.dispute.closed.won").await;
    let lost = parsed("charge.dispute.closed.lost").await;
    assert_eq!(kind(&opened), BillingEventKind::DisputeOpened);
    assert_eq!(kind(&won), BillingEventKind::DisputeWon);
    assert_eq!(kind(&lost), BillingEventKind::DisputeLost);
    for event in [&opened, &won, &lost] {
        assert_eq!(reference(event), Some("pi_3R8pH9LkdIwHu7ix1TopUp002"));
        assert_eq!(single(event).amount, single(&opened).amount);
    }
    // An inquiry that closed without becoming a chargeback is won; any other status on a
    // closed dispute decides nothing.
    for (status, expected) in [
        ("warning_closed", Some(BillingEventKind::DisputeWon)),
        ("won", Some(BillingEventKind::DisputeWon)),
        ("lost", Some(BillingEventKind::DisputeLost)),
        ("needs_response", None),
        ("under_review", None),
        ("prevented", None),
        ("something_new", None),
    ] {
        let closed = parsed_edited("charge.dispute.closed.lost", |event| {
            event["data"]["object"]["status"] = json!(status);
        })
        .await
        .unwrap();
        match expected {
            Some(expected) => assert_eq!(kind(&closed), expected, "{status}"),
            None => assert!(is_ignored(&closed), "{status}: {closed:?}"),
        }
    }
    let no_status = parsed_edited("charge.dispute.closed.won", |event| {
        event["data"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("status");
    })
    .await
    .unwrap();
    assert!(is_ignored(&no_status));
    // `charge.dispute.created` opens whatever status the dispute is in.
    let warning = parsed_edited("charge.dispute.created", |event| {
        event["data"]["object"]["status"] = json!("warning_needs_response");
    })
    .await
    .unwrap();
    assert_eq!(kind(&warning), BillingEventKind::DisputeOpened);
}

#[tokio::test]
async fn a_failed_invoice_says_why_when_the_delivery_does() {
    let plain = parsed("invoice.payment_failed").await;
    assert_eq!(single(&plain).failure_reason, None);
    let finalization = parsed_edited("invoice.payment_failed", |event| {
        event["data"]["object"]["last_finalization_error"] =
            json!({"type": "invalid_request_error", "message": "  The customer has no\ndefault payment method. "});
        event["data"]["object"]["charge"] =
            json!({"id": "ch_1", "failure_message": "Your card was declined."});
    })
    .await
    .unwrap();
    assert_eq!(
        single(&finalization).failure_reason.as_deref(),
        Some("The customer has no default payment method.")
    );
    let charge = parsed_edited("invoice.payment_failed", |event| {
        event["data"]["object"]["charge"] =
            json!({"id": "ch_1", "failure_message": "Your card was declined."});
    })
    .await
    .unwrap();
    assert_eq!(
        single(&charge).failure_reason.as_deref(),
        Some("Your card was declined.")
    );
    // A charge sent as an id says nothing.
    let charge_id = parsed_edited("invoice.payment_failed", |event| {
        event["data"]["object"]["charge"] = json!("ch_1");
    })
    .await
    .unwrap();
    assert_eq!(single(&charge_id).failure_reason, None);
    // Only failures carry one.
    let action = parsed_edited("invoice.payment_action_required", |event| {
        event["data"]["object"]["last_finalization_error"] = json!({"message": "x"});
    })
    .await
    .unwrap();
    assert_eq!(single(&action).failure_reason, None);
    let long = parsed_edited("invoice.payment_failed", |event| {
        event["data"]["object"]["last_finalization_error"] = json!({"message": "é".repeat(400)});
    })
    .await
    .unwrap();
    assert_eq!(
        single(&long)
            .failure_reason
            .as_ref()
            .map(|r| r.chars().count()),
        Some(billing::MAX_FAILURE_REASON_CHARS)
    );
}

#[tokio::test]
async fn subscription_events_carry_status_and_trial_end() {
    use billing::ProviderSubscriptionStatus as S;
    let trialing = parsed("customer.subscription.created").await;
    assert_eq!(single(&trialing).subscription_status, Some(S::Trialing));
    assert!(single(&trialing).trial_end.is_some());
    let will_end = parsed("customer.subscription.trial_will_end").await;
    assert_eq!(
        single(&will_end).trial_end.map(|t| t.timestamp()),
        Some(1_744_675_200)
    );
    let paused = parsed("customer.subscription.updated.pause_collection").await;
    assert_eq!(single(&paused).subscription_status, Some(S::Paused));
    for (status, expected) in [
        ("active", Some(S::Active)),
        ("past_due", Some(S::PastDue)),
        ("unpaid", Some(S::Suspended)),
        ("canceled", Some(S::Canceled)),
        ("incomplete", Some(S::Pending)),
        ("incomplete_expired", Some(S::Expired)),
        ("paused", Some(S::Paused)),
        ("some_future_status", None),
    ] {
        let event = parsed_edited("customer.subscription.updated", |event| {
            event["data"]["object"]["status"] = json!(status);
            // A trial end from an earlier trial is not announced once the trial is over.
            event["data"]["object"]["trial_end"] = json!(1_744_675_200);
        })
        .await
        .unwrap();
        assert_eq!(single(&event).subscription_status, expected, "{status}");
        assert_eq!(single(&event).trial_end, None, "{status}");
    }
    for event in [
        parsed("invoice.paid").await,
        parsed("charge.dispute.created").await,
    ] {
        assert_eq!(single(&event).subscription_status, None);
        assert_eq!(single(&event).trial_end, None);
        assert_eq!(single(&event).order_reference, None);
    }
}
