//! Twilio's message status callbacks through the receiver over HTTP, with a real database, a
//! wiremock Twilio giving the subaccounts' tokens to the parent, and callbacks signed by an
//! independent HMAC-SHA1 signer (not the crate's own): a callback signed by the message's
//! subaccount over the public URL (behind a proxy that rewrote host and scheme) is recorded before
//! its 2xx and resolves an unconfirmed recipient; forged, misaddressed, tampered, another
//! account's and unknown accounts' callbacks are refused with their code and change nothing; a
//! replayed older status changes nothing (G9, G12).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test reports failure"
)]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use base64::Engine;
use billing::Providers;
use campaigns::{
    BrandName, CampaignId, CampaignName, Campaigns, DeliveryStatus, DispatchConfig, Dispatcher,
    FundsPolicy, MessageBody, NewCampaign, Recipient, RecipientStatus, Sender, SubaccountSid,
    brands,
};
use chrono::{Duration, Utc};
use db::{DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use ledger::{Actor, Counterparty, CreditRequest, Ledger, Reference};
use primitives::{Clock, Currency, Money, OrganizationId, SystemClock};
use secrecy::SecretString;
use serde_json::{Value, json};
use subscriptions::{
    EventEnvelope, EventId, EventSource, NewSubscription, PlanCode, SubscriptionEvent,
    Subscriptions, TimePrecision,
};
use testkit::TestDb;
use twilio::{MessageSender, MessageStatus, SendMessage, SentMessage, TwilioConfig, TwilioError};
use webhooks::{Receiver, ReceiverConfig, TwilioCallbackConfig};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

const PARENT: &str = "AC00000000000000000000000000000000";
const PARENT_TOKEN: &str = "parent-token-secret";
/// Acme's brand's subaccount and its token.
const SUB_A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_A: &str = "token-of-subaccount-a";
/// Another organization's brand's subaccount and its token.
const SUB_B: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN_B: &str = "token-of-subaccount-b";
/// The public callback URL: what Twilio calls, through a TLS proxy to the receiver.
const PUBLIC: &str = "https://hooks.example.com/webhooks/twilio/messages";
const COST: i64 = 5;

/// Twilio's algorithm written out independently: HMAC-SHA1 keyed by the auth token over the URL
/// followed by each POST parameter's name and value, sorted by name (then value), base64.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn encode(params: &[(&str, &str)]) -> Vec<u8> {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    serializer.finish().into_bytes()
}

/// A sender answering each send from a script (then success), like Twilio would.
#[derive(Default)]
struct ScriptedTwilio {
    script: Mutex<VecDeque<Result<(), u16>>>,
    sent: Mutex<u32>,
}

#[async_trait::async_trait]
impl MessageSender for ScriptedTwilio {
    async fn send(&self, _: &SendMessage) -> Result<SentMessage, TwilioError> {
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if let Err(status) = answer {
            return Err(TwilioError::Api {
                status,
                code: None,
                message: "scripted".into(),
                more_info: None,
            });
        }
        let mut n = self.sent.lock().unwrap();
        *n += 1;
        Ok(SentMessage {
            sid: format!("SM{:032x}", *n),
            status: MessageStatus::Queued,
            price: None,
            price_unit: None,
        })
    }
}

struct Harness {
    _db: TestDb,
    pool: DbPool,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    twilio: MockServer,
    campaigns: Campaigns,
    ledger: Ledger,
    organization: OrganizationId,
    campaign: CampaignId,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Harness {
    /// Acme (brand on `SUB_A`) with a campaign of three recipients dispatched: the first sent,
    /// the second unconfirmed (Twilio answered 500), the third still pending (the batch stopped).
    /// Globex has a brand on `SUB_B`. Twilio gives both tokens to the parent.
    async fn start(twilio_configured: bool) -> Self {
        let db = TestDb::new().await;
        let pool = db.pool();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ledger = Ledger::new(clock.clone());
        let campaigns = Campaigns::new(ledger.clone(), FundsPolicy::default());
        let organization = organization(&pool, &ledger, clock.clone(), "Acme", SUB_A).await;
        let brand = {
            let mut conn = pool.get().await.unwrap();
            brands::list(&mut conn, organization)
                .await
                .unwrap()
                .remove(0)
        };
        organization_b(&pool, &ledger, clock.clone()).await;
        let campaign = {
            let mut conn = pool.get().await.unwrap();
            let campaign = campaigns
                .create(
                    &mut conn,
                    organization,
                    NewCampaign {
                        brand_id: brand.id,
                        name: CampaignName::parse("Spring sale").unwrap(),
                        body: MessageBody::parse("Spring sale: 20% off today").unwrap(),
                        sender: Sender::from_number("+14155550199").unwrap(),
                        price_per_segment: Money::from_minor(COST, Currency::USD),
                    },
                )
                .await
                .unwrap();
            let numbers: Vec<String> = (1..=3).map(|n| format!("+1415000000{n}")).collect();
            campaigns
                .add_recipients(&mut conn, organization, campaign.id, &numbers)
                .await
                .unwrap();
            campaigns
                .start(&mut conn, organization, campaign.id, "start-1")
                .await
                .unwrap();
            campaign.id
        };
        let sender = ScriptedTwilio::default();
        sender.script.lock().unwrap().extend([Ok(()), Err(500)]);
        let dispatcher = Dispatcher::new(
            pool.clone(),
            campaigns.clone(),
            sender,
            DispatchConfig {
                batch_size: 3,
                concurrency: 1,
                status_callback: Some(PUBLIC.parse().unwrap()),
                ..DispatchConfig::default()
            },
        );
        dispatcher.dispatch_batch(campaign).await.unwrap();

        let twilio = MockServer::start().await;
        for (sid, token) in [(SUB_A, TOKEN_A), (SUB_B, TOKEN_B)] {
            Mock::given(method("GET"))
                .and(path(format!("/2010-04-01/Accounts/{sid}.json")))
                .and(header("authorization", parent_basic().as_str()))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "sid": sid, "owner_account_sid": PARENT, "status": "active",
                    "friendly_name": "brand", "type": "Full", "auth_token": token
                })))
                .mount(&twilio)
                .await;
        }
        let mut config = ReceiverConfig::new(SecretString::from(db.url()));
        if twilio_configured {
            let mut client = TwilioConfig::new(PARENT, SecretString::from(PARENT_TOKEN.to_owned()));
            client.base_url = twilio.uri();
            config.twilio = Some(TwilioCallbackConfig {
                client,
                callback_url: PUBLIC.parse().unwrap(),
                keys: Default::default(),
            });
        }
        let receiver = Receiver::build(config, Providers::none(), clock)
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", receiver.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(receiver.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            _db: db,
            pool,
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            twilio,
            campaigns,
            ledger,
            organization,
            campaign,
        }
    }

    async fn recipients(&self) -> Vec<Recipient> {
        let mut conn = self.pool.get().await.unwrap();
        self.campaigns
            .recipients(&mut conn, self.organization, self.campaign, None, None, 10)
            .await
            .unwrap()
    }

    async fn balance(&self) -> i64 {
        let mut conn = self.pool.get().await.unwrap();
        let wallet = self
            .ledger
            .wallet_for_organization(&mut conn, self.organization)
            .await
            .unwrap();
        self.ledger
            .balance(&mut conn, wallet)
            .await
            .unwrap()
            .balance
            .minor()
    }

    /// The query the dispatcher put on `recipient`'s callback URL.
    fn query(&self, recipient: &Recipient) -> String {
        format!("campaign={}&recipient={}", self.campaign, recipient.id)
    }

    /// Posts `params` to the receiver with `query`, signed by `token` over `signed_url` (or not
    /// signed, or with `signature` as given).
    async fn post(
        &self,
        query: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/twilio/messages?{query}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(params));
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send().await.unwrap()
    }

    /// As Twilio would: signed with `token` over the public URL and the query.
    async fn callback(
        &self,
        query: &str,
        params: &[(&str, &str)],
        token: &str,
    ) -> reqwest::Response {
        let signature = twilio_signature(token, &format!("{PUBLIC}?{query}"), params);
        self.post(query, params, Some(&signature)).await
    }

    async fn token_reads(&self, account: &str) -> usize {
        self.twilio
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|request| request.url.path().contains(account))
            .count()
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn parent_basic() -> String {
    let raw = format!("{PARENT}:{PARENT_TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Twilio's status callback form for `recipient`'s message, as `account` sends it.
fn form<'a>(
    account: &'a str,
    sid: &'a str,
    status: &'a str,
    to: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", account),
        ("ApiVersion", "2010-04-01"),
        ("From", "+14155550199"),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", to),
    ]
}

/// An organization with a funded USD wallet, an active subscription and a brand on `subaccount`.
async fn organization(
    pool: &DbPool,
    ledger: &Ledger,
    clock: Arc<dyn Clock>,
    name: &str,
    subaccount: &str,
) -> OrganizationId {
    let mut conn = pool.get().await.unwrap();
    let organization = OrganizationId::new();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(organization.as_uuid()),
            organizations::name.eq(name),
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    let wallet = ledger
        .open_wallet(&mut conn, organization, Currency::USD)
        .await
        .unwrap();
    ledger
        .credit(
            &mut conn,
            CreditRequest {
                wallet_id: wallet.value.wallet_id,
                amount: Money::from_minor(10_000, Currency::USD),
                counterparty: Counterparty::parse("topup:test").unwrap(),
                reference: Reference::parse(format!("topup-{organization}")).unwrap(),
                actor: Actor::system("test"),
            },
        )
        .await
        .unwrap();
    let subscriptions = Subscriptions::new(clock.clone(), Default::default());
    let envelope = |id: &str, event| EventEnvelope {
        source: EventSource::parse("admin").unwrap(),
        event_id: EventId::parse(id).unwrap(),
        occurred_at: clock.now() - Duration::hours(1),
        precision: TimePrecision::Microsecond,
        event,
    };
    let subscription = subscriptions
        .create(
            &mut conn,
            NewSubscription {
                organization_id: organization,
                plan: PlanCode::parse("pro").unwrap(),
                provider: None,
            },
            &envelope("create", SubscriptionEvent::Created),
        )
        .await
        .unwrap();
    subscriptions
        .apply(
            &mut conn,
            subscription.id,
            &envelope(
                "activate",
                SubscriptionEvent::Activated {
                    period_end: clock.now() + Duration::days(30),
                },
            ),
        )
        .await
        .unwrap();
    brands::create(
        &mut conn,
        organization,
        &BrandName::parse(name).unwrap(),
        &SubaccountSid::parse(subaccount).unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    organization
}

async fn organization_b(pool: &DbPool, ledger: &Ledger, clock: Arc<dyn Clock>) {
    organization(pool, ledger, clock, "Globex", SUB_B).await;
}

async fn answer(response: reqwest::Response) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    body
}

#[tokio::test]
async fn a_callback_signed_by_the_subaccount_is_recorded_and_older_ones_change_nothing() {
    let harness = Harness::start(true).await;
    let recipients = harness.recipients().await;
    let sent = &recipients[0];
    assert_eq!(sent.status, RecipientStatus::Sent);
    let sid = sent.twilio_sid.clone().unwrap();
    let query = harness.query(sent);
    let balance = harness.balance().await;

    let delivered = form(SUB_A, &sid, "delivered", &sent.phone);
    let body = answer(harness.callback(&query, &delivered, TOKEN_A).await).await;
    assert_eq!(body["result"], "recorded");
    assert_eq!(body["delivery_status"], "delivered");
    assert_eq!(body["recipient_status"], "sent");
    assert_eq!(body["resolved"], false);
    // Committed before the 2xx.
    let stored = harness.recipients().await.remove(0);
    assert_eq!(stored.delivery_status, Some(DeliveryStatus::Delivered));

    // The same callback again, and a `sent` one arriving late: nothing changes.
    let body = answer(harness.callback(&query, &delivered, TOKEN_A).await).await;
    assert_eq!(body["result"], "duplicate");
    let late = form(SUB_A, &sid, "sent", &sent.phone);
    let body = answer(harness.callback(&query, &late, TOKEN_A).await).await;
    assert_eq!(
        (&body["result"], &body["delivery_status"]),
        (&json!("stale"), &json!("delivered"))
    );
    assert_eq!(harness.recipients().await.remove(0), stored);
    assert_eq!(harness.balance().await, balance);
    // The subaccount's token was read once, with the parent's credentials, and cached.
    assert_eq!(harness.token_reads(SUB_A).await, 1);
    let metrics = harness.metrics().await;
    assert!(
        metrics.contains(r#"twilio_callbacks_total{result="stale"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_callback_resolves_an_unconfirmed_recipient_as_sent() {
    let harness = Harness::start(true).await;
    let unconfirmed = harness.recipients().await.remove(1);
    assert_eq!(unconfirmed.status, RecipientStatus::Unconfirmed);
    assert_eq!(unconfirmed.twilio_sid, None);
    let balance = harness.balance().await;
    let sid = "SMfeedfacefeedfacefeedfacefeedface";
    let params = form(SUB_A, sid, "sent", &unconfirmed.phone);
    let body = answer(
        harness
            .callback(&harness.query(&unconfirmed), &params, TOKEN_A)
            .await,
    )
    .await;
    assert_eq!(body["resolved"], true);
    assert_eq!(body["recipient_status"], "sent");
    let now = harness.recipients().await.remove(1);
    assert_eq!(now.status, RecipientStatus::Sent);
    assert_eq!(now.twilio_sid.as_deref(), Some(sid));
    assert_eq!(now.charged.minor(), COST);
    assert_eq!(
        harness.balance().await,
        balance,
        "charged once, when it was marked"
    );
    let mut conn = harness.pool.get().await.unwrap();
    let summary = harness
        .campaigns
        .summary(&mut conn, harness.organization, harness.campaign)
        .await
        .unwrap();
    assert_eq!(summary.recipients.unconfirmed, 0);
    assert_eq!((summary.deliveries.queued, summary.deliveries.sent), (1, 1));
}

#[tokio::test]
async fn forged_misaddressed_and_tampered_callbacks_are_refused_and_change_nothing() {
    let harness = Harness::start(true).await;
    let recipients = harness.recipients().await;
    let unconfirmed = &recipients[1];
    let query = harness.query(unconfirmed);
    let sid = "SMfeedfacefeedfacefeedfacefeedface";
    let params = form(SUB_A, sid, "delivered", &unconfirmed.phone);
    let balance = harness.balance().await;
    let signed_url = format!("{PUBLIC}?{query}");

    // No signature; not base64; the right form signed with a forger's token, with another
    // subaccount's token, over the URL the receiver sees instead of the one Twilio called.
    problem(
        harness.post(&query, &params, None).await,
        403,
        "TWILIO_SIGNATURE_MISSING",
    )
    .await;
    problem(
        harness.post(&query, &params, Some("not a signature")).await,
        403,
        "TWILIO_SIGNATURE_MALFORMED",
    )
    .await;
    for signature in [
        twilio_signature("forger", &signed_url, &params),
        twilio_signature(TOKEN_B, &signed_url, &params),
        twilio_signature(
            TOKEN_A,
            &format!("{}/webhooks/twilio/messages?{query}", harness.base),
            &params,
        ),
        twilio_signature(TOKEN_A, PUBLIC, &params),
    ] {
        problem(
            harness.post(&query, &params, Some(&signature)).await,
            403,
            "TWILIO_SIGNATURE_INVALID",
        )
        .await;
    }
    // Signed, then tampered with: the status, the recipient in the query.
    let signature = twilio_signature(TOKEN_A, &signed_url, &params);
    let failed = form(SUB_A, sid, "failed", &unconfirmed.phone);
    problem(
        harness.post(&query, &failed, Some(&signature)).await,
        403,
        "TWILIO_SIGNATURE_INVALID",
    )
    .await;
    let other_query = harness.query(&recipients[0]);
    problem(
        harness.post(&other_query, &params, Some(&signature)).await,
        403,
        "TWILIO_SIGNATURE_INVALID",
    )
    .await;
    let reads = harness.token_reads(SUB_A).await;
    assert!(reads <= 2, "{reads} token reads for forgeries");

    // An account that is none of ours: refused before any call to Twilio.
    let stranger = "ACcccccccccccccccccccccccccccccccc";
    let params = form(stranger, sid, "delivered", &unconfirmed.phone);
    problem(
        harness.callback(&query, &params, "whatever").await,
        403,
        "TWILIO_ACCOUNT_UNKNOWN",
    )
    .await;
    assert_eq!(harness.token_reads(stranger).await, 0);
    let no_account = [("MessageSid", sid), ("MessageStatus", "delivered")];
    let body = problem(
        harness.callback(&query, &no_account, TOKEN_A).await,
        400,
        "TWILIO_CALLBACK_MALFORMED",
    )
    .await;
    assert_eq!(body["field"], "AccountSid");

    assert_eq!(harness.recipients().await, recipients);
    assert_eq!(harness.balance().await, balance);
    let metrics = harness.metrics().await;
    for reason in [
        "TWILIO_SIGNATURE_MISSING",
        "TWILIO_SIGNATURE_INVALID",
        "TWILIO_ACCOUNT_UNKNOWN",
    ] {
        assert!(
            metrics.contains(&format!(
                r#"webhook_refusals_total{{provider="twilio",reason="{reason}"}}"#
            )),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn verified_callbacks_that_do_not_fit_get_a_code_and_change_nothing() {
    let harness = Harness::start(true).await;
    let recipients = harness.recipients().await;
    let (sent, unconfirmed, pending) = (&recipients[0], &recipients[1], &recipients[2]);
    let sid = sent.twilio_sid.clone().unwrap();
    let balance = harness.balance().await;

    // Globex's subaccount, validly signed, about Acme's recipient: as if it did not exist.
    let params = form(
        SUB_B,
        "SMfeedfacefeedfacefeedfacefeedface",
        "delivered",
        &unconfirmed.phone,
    );
    problem(
        harness
            .callback(&harness.query(unconfirmed), &params, TOKEN_B)
            .await,
        404,
        "DELIVERY_RECIPIENT_NOT_FOUND",
    )
    .await;
    // A recipient that does not exist; one of another campaign.
    let params = form(SUB_A, &sid, "delivered", &sent.phone);
    problem(
        harness.callback("recipient=999999", &params, TOKEN_A).await,
        404,
        "DELIVERY_RECIPIENT_NOT_FOUND",
    )
    .await;
    let elsewhere = format!("campaign={}&recipient={}", CampaignId::new(), sent.id);
    problem(
        harness.callback(&elsewhere, &params, TOKEN_A).await,
        404,
        "DELIVERY_RECIPIENT_NOT_FOUND",
    )
    .await;
    // Another message than the recipient's; a recipient never sent.
    let other = form(
        SUB_A,
        "SM00000000000000000000000000000bad",
        "delivered",
        &sent.phone,
    );
    let body = problem(
        harness
            .callback(&harness.query(sent), &other, TOKEN_A)
            .await,
        409,
        "DELIVERY_MESSAGE_MISMATCH",
    )
    .await;
    assert_eq!(body["field"], "MessageSid");
    let params = form(
        SUB_A,
        "SMfeedfacefeedfacefeedfacefeedface",
        "sent",
        &pending.phone,
    );
    let body = problem(
        harness
            .callback(&harness.query(pending), &params, TOKEN_A)
            .await,
        409,
        "DELIVERY_RECIPIENT_NOT_SENT",
    )
    .await;
    assert_eq!(body["recipient_status"], "pending");
    // Verified but incomplete: no status; no recipient in the URL.
    let no_status = [("AccountSid", SUB_A), ("MessageSid", sid.as_str())];
    let body = problem(
        harness
            .callback(&harness.query(sent), &no_status, TOKEN_A)
            .await,
        400,
        "TWILIO_CALLBACK_MALFORMED",
    )
    .await;
    assert_eq!(body["field"], "MessageStatus");
    let body = problem(
        harness.callback("campaign=x", &params, TOKEN_A).await,
        400,
        "TWILIO_CALLBACK_MALFORMED",
    )
    .await;
    assert_eq!(body["field"], "recipient");

    assert_eq!(harness.recipients().await, recipients);
    assert_eq!(harness.balance().await, balance);
}

#[tokio::test]
async fn without_twilio_configured_the_route_is_not_found() {
    let harness = Harness::start(false).await;
    let sent = harness.recipients().await.remove(0);
    let params = form(
        SUB_A,
        "SMfeedfacefeedfacefeedfacefeedface",
        "delivered",
        &sent.phone,
    );
    problem(
        harness
            .callback(&harness.query(&sent), &params, TOKEN_A)
            .await,
        404,
        "WEBHOOK_PROVIDER_NOT_CONFIGURED",
    )
    .await;
    assert_eq!(harness.token_reads(SUB_A).await, 0);
}
