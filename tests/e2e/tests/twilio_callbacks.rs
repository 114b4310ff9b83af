//! Twilio's message status callbacks, as the local webhook tool signs them, against the real
//! `webhook-receiver` (docs/webhooks.md, "Twilio status callbacks"; docs/local-webhooks.md):
//!
//! - the worker sends one campaign's message through the fake Twilio and records it `sent`
//!   (`queued`), another campaign's send is answered 500 and its recipient is `unconfirmed`; each
//!   message asks for callbacks at the receiver's public URL with its campaign and recipient;
//! - callbacks signed with another subaccount's token, or over another URL, are refused with
//!   `TWILIO_SIGNATURE_INVALID` (the tool exits 1) and change nothing, even a `failed` that would
//!   refund the unconfirmed recipient;
//! - `webhook-tool trigger twilio delivery-status` signed with the brand subaccount's token (read
//!   from Twilio with the parent's credentials, by the tool and by the receiver) is accepted: the
//!   message becomes `delivered`, its repeat is a duplicate, and the unconfirmed recipient is
//!   resolved as sent (still charged, nothing refunded);
//! - every token read Twilio saw is `GET /2010-04-01/Accounts/{subaccount}.json` with the
//!   parent account's Basic credentials.

use std::{path::PathBuf, time::Duration};

use chrono::Utc;
use e2e::{
    Org, Stack, StackOptions,
    events::stripe::Invoice,
    eventually,
    fakes::twilio::{self, CALLBACK_PATH, PARENT_SID},
    poll::holds,
    stack::{array, numbers, text},
    tool::{self, ToolRun},
};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);
/// The subaccounts' own tokens, which only Twilio (the fake) gives out, to the parent.
const TOKEN_A: &str = "e2e-subaccount-a-auth-token";
const TOKEN_B: &str = "e2e-subaccount-b-auth-token";
/// The number the tool's callbacks name (`To`): every recipient here is sent to it.
const NUMBER: usize = 100;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("e2e-twilio-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// The organization's only recipient of `campaign`.
async fn recipient(stack: &Stack, org: &Org, campaign: &str) -> Value {
    let page = stack
        .get(&format!(
            "/v1/organizations/{}/campaigns/{campaign}/recipients",
            org.id
        ))
        .await;
    let recipients = array(&page["recipients"]);
    assert_eq!(recipients.len(), 1, "{page}");
    recipients[0].clone()
}

/// The campaign's summary (`recipients` and `deliveries` counts, `money`).
async fn summary(stack: &Stack, org: &Org, campaign: &str) -> Value {
    stack
        .get(&format!(
            "/v1/organizations/{}/campaigns/{campaign}",
            org.id
        ))
        .await
}

/// The receiver's refusal the tool printed: exit status 1 and a 403 with `code`.
fn refused(run: &ToolRun, code: &str) {
    assert_eq!(run.code, 1, "the receiver did not refuse it:\n{run:?}");
    let (status, problem) = run.answer();
    assert_eq!((status, &problem["code"]), (403, &json!(code)), "{run:?}");
}

/// The receiver's 200 answer the tool printed (exit status 0).
fn accepted(run: &ToolRun) -> Value {
    assert_eq!(run.code, 0, "the receiver did not accept it:\n{run:?}");
    let (status, body) = run.answer();
    assert_eq!(status, 200, "{run:?}");
    body
}

#[tokio::test]
async fn the_receiver_records_what_the_tool_signs_as_the_subaccount_and_refuses_other_keys() {
    let stack = Stack::start(StackOptions {
        twilio_callbacks: true,
        only_providers: Some(vec!["STRIPE"]),
        // Only the callbacks resolve the unconfirmed recipient here, not the lookup job.
        worker_env: vec![("TWILIO_LOOKUP_INTERVAL_SECS", "0".to_owned())],
        ..StackOptions::default()
    })
    .await;
    let callback_url = format!("{}{CALLBACK_PATH}", stack.receiver_url);
    let (sub_a, sub_b) = (twilio::subaccount(0xCA11A), twilio::subaccount(0xCA11B));
    stack.twilio.serve_auth_token(&sub_a, TOKEN_A).await;
    stack.twilio.serve_auth_token(&sub_b, TOKEN_B).await;
    // Read by the receiver and the tool: never to be logged.
    stack.secrets.add(TOKEN_A);
    stack.secrets.add(TOKEN_B);
    // Brand B's first message gets a 500: the dispatcher cannot know whether it went out.
    stack.twilio.fail_next_send(&sub_b).await;

    // An organization that may send: paid subscription, funded wallet, two brands.
    let now = Utc::now().timestamp();
    let org = stack.create_org("Callbacks", "USD").await;
    stack
        .create_subscription(&org, "stripe", "sub_E2eCallbacks0001")
        .await;
    let invoice = Invoice {
        id: "in_E2eCallbacks0001".to_owned(),
        subscription: "sub_E2eCallbacks0001".to_owned(),
        organization: org.id.clone(),
        amount: 4900,
        currency: "usd".to_owned(),
        period_start: now,
        period_end: now + 30 * 86_400,
        attempt_count: 1,
    };
    let paid = stack
        .stripe(&invoice.paid("evt_E2eCallbacksPaid0001", now + 1))
        .await;
    assert_eq!(paid["status"], "applied", "{paid}");
    stack.credit(&org, "10.00", "USD").await;
    let brand_a = text(&stack.create_brand(&org, &sub_a).await["id"]);
    let brand_b = text(&stack.create_brand(&org, &sub_b).await["id"]);
    let number = numbers(NUMBER, 1);
    let campaign_a = stack
        .start_campaign(&org, &brand_a, "Delivered", &number)
        .await;
    let campaign_b = stack
        .start_campaign(&org, &brand_b, "Unconfirmed", &number)
        .await;

    // The worker sends both: A accepted (queued), B answered 500 (unconfirmed, charged, no SID).
    let (sent, unconfirmed) = eventually("both sends settled", DEADLINE, async || {
        let a = recipient(&stack, &org, &campaign_a).await;
        let b = recipient(&stack, &org, &campaign_b).await;
        holds(
            a["status"] == "sent" && b["status"] == "unconfirmed",
            (&a, &b),
        )?;
        Ok((a, b))
    })
    .await;
    assert_eq!(sent["twilio_status"], "queued", "{sent}");
    assert_eq!(
        (&unconfirmed["twilio_sid"], &unconfirmed["charged"]),
        (&Value::Null, &json!("0.05")),
        "{unconfirmed}"
    );
    let sid_a = text(&sent["twilio_sid"]);
    let (recipient_a, recipient_b) = (sent["id"].to_string(), unconfirmed["id"].to_string());
    // Each message asked for its callbacks at the receiver, naming its campaign and recipient.
    for (sub, campaign, recipient) in [
        (&sub_a, &campaign_a, &recipient_a),
        (&sub_b, &campaign_b, &recipient_b),
    ] {
        let sends = stack.twilio.sends(sub).await;
        assert_eq!(sends.len(), 1, "{sends:?}");
        assert_eq!(
            sends[0].form.get("StatusCallback"),
            Some(&format!(
                "{callback_url}?campaign={campaign}&recipient={recipient}"
            )),
            "{sends:?}"
        );
    }

    let dir = scratch();
    let target = stack.receiver_url.clone();
    // What a developer exports to sign as Twilio: the parent's credentials, where Twilio is,
    // and the public callback URL.
    let parent = vec![
        ("TWILIO_ACCOUNT_SID", PARENT_SID.to_owned()),
        ("TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN.to_owned()),
        ("TWILIO_BASE_URL", stack.twilio.uri()),
        ("TWILIO_STATUS_CALLBACK_URL", callback_url.clone()),
    ];
    let trigger = async |env: &[(&str, String)], account: &str, args: &[&str]| {
        let mut all = vec![
            "trigger",
            "twilio",
            "delivery-status",
            "--account",
            account,
            "--target",
            &target,
        ];
        all.extend_from_slice(args);
        tool::run(&dir, env, &all).await
    };
    let about_a = [
        "--campaign",
        &campaign_a,
        "--recipient",
        &recipient_a,
        "--message",
        &sid_a,
    ];
    let sid_b = "SMe2e0000000000000000000000000b0b0";
    let about_b = [
        "--campaign",
        &campaign_b,
        "--recipient",
        &recipient_b,
        "--message",
        sid_b,
    ];
    // Campaign B's hold may be released meanwhile (it completes after its backoff): the
    // balance is what a refund would change.
    let balance = stack.wallet(&org).await["balance"].clone();

    // Forged: claims subaccount A, signed with B's token (the tool signs with the configured
    // token when the account is the configured one). Refused after the receiver read A's.
    let forged = trigger(
        &[
            ("TWILIO_ACCOUNT_SID", sub_a.clone()),
            ("TWILIO_AUTH_TOKEN", TOKEN_B.to_owned()),
            ("TWILIO_STATUS_CALLBACK_URL", callback_url.clone()),
        ],
        &sub_a,
        &about_a,
    )
    .await;
    refused(&forged, "TWILIO_SIGNATURE_INVALID");
    // Tampered URL: B's own token, over another URL than the one Twilio calls. A `failed`
    // would refund the unconfirmed recipient.
    let mut elsewhere = parent.clone();
    elsewhere.retain(|(name, _)| *name != "TWILIO_STATUS_CALLBACK_URL");
    elsewhere.push((
        "TWILIO_STATUS_CALLBACK_URL",
        format!("https://hooks.e2e.example{CALLBACK_PATH}"),
    ));
    let tampered = trigger(
        &elsewhere,
        &sub_b,
        &[&about_b[..], &["--status", "failed"]].concat(),
    )
    .await;
    refused(&tampered, "TWILIO_SIGNATURE_INVALID");
    // Nothing changed.
    assert_eq!(recipient(&stack, &org, &campaign_a).await, sent);
    assert_eq!(recipient(&stack, &org, &campaign_b).await, unconfirmed);
    assert_eq!(stack.wallet(&org).await["balance"], balance);
    let deliveries = summary(&stack, &org, &campaign_a).await["deliveries"].clone();
    assert_eq!(
        (&deliveries["queued"], &deliveries["delivered"]),
        (&json!(1), &json!(0)),
        "{deliveries}"
    );
    // Twilio has said nothing about B's message.
    let deliveries = summary(&stack, &org, &campaign_b).await["deliveries"].clone();
    assert_eq!(deliveries["total"], 0, "{deliveries}");

    // Genuine: signed with subaccount A's token, which the tool read from Twilio as the parent.
    let delivered = trigger(&parent, &sub_a, &about_a).await;
    let answer = accepted(&delivered);
    assert_eq!(
        (
            &answer["recipient_id"],
            &answer["result"],
            &answer["delivery_status"],
            &answer["resolved"]
        ),
        (
            &sent["id"],
            &json!("recorded"),
            &json!("delivered"),
            &json!(false)
        ),
        "{delivered:?}"
    );
    // The delivery status shows in the campaign's delivery counts; the recipient stays `sent`.
    let now_a = recipient(&stack, &org, &campaign_a).await;
    assert_eq!(
        (&now_a["status"], &now_a["twilio_sid"], &now_a["charged"]),
        (&json!("sent"), &json!(sid_a), &json!("0.05")),
        "{now_a}"
    );
    let deliveries = summary(&stack, &org, &campaign_a).await["deliveries"].clone();
    assert_eq!(
        (&deliveries["queued"], &deliveries["delivered"]),
        (&json!(0), &json!(1)),
        "{deliveries}"
    );
    // The same callback again: answered, nothing recorded twice.
    let again = trigger(&parent, &sub_a, &about_a).await;
    assert_eq!(accepted(&again)["result"], "duplicate", "{again:?}");

    // The unconfirmed recipient: a callback about it proves Twilio has its message.
    let resolved = trigger(&parent, &sub_b, &about_b).await;
    let answer = accepted(&resolved);
    assert_eq!(
        (&answer["recipient_status"], &answer["resolved"]),
        (&json!("sent"), &json!(true)),
        "{resolved:?}"
    );
    let now_b = recipient(&stack, &org, &campaign_b).await;
    assert_eq!(
        (&now_b["status"], &now_b["twilio_sid"], &now_b["charged"]),
        (&json!("sent"), &json!(sid_b), &json!("0.05")),
        "{now_b}"
    );
    let summary_b = summary(&stack, &org, &campaign_b).await;
    let (counts, deliveries) = (&summary_b["recipients"], &summary_b["deliveries"]);
    assert_eq!(
        (
            &counts["sent"],
            &counts["unconfirmed"],
            &deliveries["delivered"]
        ),
        (&json!(1), &json!(0), &json!(1)),
        "{summary_b}"
    );
    let refunds: Vec<Value> = stack
        .entries(&org)
        .await
        .into_iter()
        .filter(|entry| text(&entry["reference"]).ends_with(":refund"))
        .collect();
    assert!(refunds.is_empty(), "{refunds:?}");
    assert_eq!(stack.wallet(&org).await["balance"], balance);

    // Twilio was only asked for the two subaccounts' tokens, always as the parent account.
    let reads = stack.twilio.token_reads().await;
    for sub in [&sub_a, &sub_b] {
        let path = format!("/2010-04-01/Accounts/{sub}.json");
        assert!(reads.iter().any(|read| read.path == path), "{reads:?}");
    }
    for read in &reads {
        assert!(
            read.path == format!("/2010-04-01/Accounts/{sub_a}.json")
                || read.path == format!("/2010-04-01/Accounts/{sub_b}.json"),
            "{read:?}"
        );
        assert_eq!(
            (read.query.as_deref(), read.authorization.as_deref()),
            (None, Some(twilio::parent_auth().as_str())),
            "{read:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
