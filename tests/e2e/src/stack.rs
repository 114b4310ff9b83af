//! One test's world: a fresh database migrated by `migrator up`, fake Twilio, PayPal and Stripe
//! on loopback, the `webhook-receiver`, the `api` and the `worker`(s) started on free ports
//! against them, and the HTTP calls tests make to them.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{SmtpSink, TestDb, signing::PayHereNotification};

use crate::{
    api::{Api, Org},
    events,
    fakes::{FakePayPal, FakeStripe, FakeTwilio, basic_auth, paypal, stripe, twilio},
    keys::{self, Keys},
    process::{Process, free_port, migrate},
    secrets::Secrets,
};

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdefghijklmnop";
/// The processes' log filter: every request (`http` at info), every outbound call and our
/// crates' debug lines, so the secret scan on drop ([`crate::secrets`]) reads what a service
/// says about each request and call; other crates at info.
pub const LOG_FILTER: &str = "info,outbound=debug,outbox=debug,intake=debug,campaigns=debug";
/// How long the processes may take to become ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// What a test needs different from the defaults.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// How long the fake Twilio takes to accept a message (a slow campaign keeps running while
    /// the test acts on it).
    pub message_delay: Duration,
    /// Configure only these providers (`"PAYPAL"`, `"STRIPE"`, `"PAYHERE"`); `None`: all three.
    pub only_providers: Option<Vec<&'static str>>,
    /// Worker processes side by side; `0` means one.
    pub workers: usize,
    /// Variables every worker gets on top of the stack's (a job's interval, a batch size).
    pub worker_env: Vec<(&'static str, String)>,
    /// Start no worker until [`Stack::start_workers`]: work piles up first.
    pub defer_workers: bool,
    /// Twilio's status callbacks: the workers ask for them at the receiver's
    /// `/webhooks/twilio/messages` (`TWILIO_STATUS_CALLBACK_URL`), and the receiver verifies them
    /// with the parent account's credentials and the fake Twilio's subaccount tokens.
    pub twilio_callbacks: bool,
}

/// A directory of this test's files (provider trust material, process logs); removed on drop
/// unless the test failed, so the logs can be read.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Fields drop in order: the processes stop before the fakes and the database go away.
pub struct Stack {
    receiver: Process,
    /// What the receiver was started with, to start it again after a crash.
    receiver_env: Vec<(String, String)>,
    receiver_starts: usize,
    api: Process,
    workers: Vec<Process>,
    worker_env: Vec<(String, String)>,
    worker_count: usize,
    pub twilio: FakeTwilio,
    /// Where the workers deliver notifications.
    pub smtp: SmtpSink,
    pub paypal: FakePayPal,
    pub stripe: FakeStripe,
    pub keys: Keys,
    /// Every secret this stack knows: checked against every process's log when a passing test
    /// drops the stack. A test registers the secrets it makes itself (a subaccount's token).
    pub secrets: Secrets,
    pub client: reqwest::Client,
    pub api_url: String,
    pub receiver_url: String,
    /// Each worker's probe listener.
    pub worker_urls: Vec<String>,
    _scratch: Scratch,
    _db: TestDb,
}

impl Stack {
    pub async fn start(options: StackOptions) -> Self {
        let db = TestDb::empty().await;
        let url = db.url();
        {
            let url = url.clone();
            tokio::task::spawn_blocking(move || migrate(&url))
                .await
                .unwrap_or_else(|e| panic!("migrator: {e}"));
        }
        let twilio = FakeTwilio::start(options.message_delay).await;
        let paypal = FakePayPal::start().await;
        let stripe = FakeStripe::start().await;
        let smtp = SmtpSink::start().await;
        let dir = std::env::temp_dir().join(format!("e2e-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let scratch = Scratch(dir);
        let keys = Keys::generate(&scratch.0);

        let mut common = vec![
            ("DATABASE_URL".to_owned(), url.clone()),
            ("DATABASE_POOL_SIZE".to_owned(), "5".to_owned()),
            ("RUST_LOG".to_owned(), LOG_FILTER.to_owned()),
            ("LOG_FORMAT".to_owned(), "pretty".to_owned()),
        ];
        common.extend(
            keys.env(&paypal.uri(), &stripe.uri())
                .into_iter()
                .filter(|(name, _)| {
                    options.only_providers.as_ref().is_none_or(|providers| {
                        providers.iter().any(|provider| name.starts_with(provider))
                    })
                }),
        );

        let receiver_port = free_port();
        let callback_url = options
            .twilio_callbacks
            .then(|| format!("http://127.0.0.1:{receiver_port}{}", twilio::CALLBACK_PATH));
        let mut receiver_env = common.clone();
        receiver_env.push((
            "WEBHOOK_ADDR".to_owned(),
            format!("127.0.0.1:{receiver_port}"),
        ));
        if let Some(callback_url) = &callback_url {
            receiver_env.extend(
                [
                    ("TWILIO_ACCOUNT_SID", twilio::PARENT_SID.to_owned()),
                    ("TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN.to_owned()),
                    ("TWILIO_BASE_URL", twilio.uri()),
                    ("TWILIO_STATUS_CALLBACK_URL", callback_url.clone()),
                ]
                .map(|(name, value)| (name.to_owned(), value)),
            );
        }
        let receiver = Process::spawn(
            "webhook-receiver",
            &receiver_env,
            &scratch.0.join("webhook-receiver.log"),
        );

        let api_port = free_port();
        let mut api_env = common.clone();
        api_env.extend(
            [
                ("API_ADDR", format!("127.0.0.1:{api_port}")),
                ("ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        let api = Process::spawn("api", &api_env, &scratch.0.join("api.log"));

        let mut worker_env = common;
        worker_env.extend(worker_defaults(&twilio));
        worker_env.extend(
            [
                ("SMTP_HOST", smtp.host()),
                ("SMTP_PORT", smtp.port().to_string()),
                ("SMTP_TLS", "none".to_owned()),
                ("SMTP_FROM", "billing@example.com".to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        if let Some(callback_url) = callback_url {
            worker_env.push(("TWILIO_STATUS_CALLBACK_URL".to_owned(), callback_url));
        }
        // A test's own settings win over the defaults above (the process sees the last value).
        worker_env.extend(
            options
                .worker_env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone())),
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|e| panic!("http client: {e}"));
        let mut stack = Self {
            receiver,
            receiver_env,
            receiver_starts: 1,
            api,
            workers: Vec::new(),
            worker_env,
            worker_count: options.workers.max(1),
            smtp,
            twilio,
            paypal,
            stripe,
            keys,
            secrets: stack_secrets(),
            client,
            api_url: format!("http://127.0.0.1:{api_port}"),
            receiver_url: format!("http://127.0.0.1:{receiver_port}"),
            worker_urls: Vec::new(),
            _scratch: scratch,
            _db: db,
        };
        if !options.defer_workers {
            stack.spawn_workers();
        }
        stack.wait_ready().await;
        stack
    }

    /// Starts the workers of a stack started with `defer_workers`, and waits until they are
    /// ready.
    pub async fn start_workers(&mut self) {
        // Workers stopped earlier are gone for good: their ports are not reused.
        self.workers.retain_mut(|worker| worker.exited().is_none());
        self.worker_urls.truncate(self.workers.len());
        assert!(self.workers.is_empty(), "the workers are already running");
        self.spawn_workers();
        self.wait_ready().await;
    }

    fn spawn_workers(&mut self) {
        for n in 1..=self.worker_count {
            let port = free_port();
            // A worker started again gets a log of its own: the secret scan reads them all.
            let log = (1..)
                .map(|start| match start {
                    1 => format!("worker-{n}.log"),
                    _ => format!("worker-{n}-{start}.log"),
                })
                .map(|name| self._scratch.0.join(name))
                .find(|path| !path.exists())
                .unwrap_or_else(|| self._scratch.0.join(format!("worker-{n}.log")));
            let mut env = self.worker_env.clone();
            env.push(("WORKER_ADDR".to_owned(), format!("127.0.0.1:{port}")));
            env.push(("HOSTNAME".to_owned(), format!("worker-{n}")));
            self.workers.push(Process::spawn("worker", &env, &log));
            self.worker_urls.push(format!("http://127.0.0.1:{port}"));
        }
    }

    async fn wait_ready(&mut self) {
        let until = Instant::now() + READY_DEADLINE;
        let mut waiting: Vec<(String, String, &mut Process)> = vec![
            (
                "webhook-receiver".to_owned(),
                self.receiver_url.clone(),
                &mut self.receiver,
            ),
            ("api".to_owned(), self.api_url.clone(), &mut self.api),
        ];
        for (n, (worker, url)) in self.workers.iter_mut().zip(&self.worker_urls).enumerate() {
            waiting.push((format!("worker-{}", n + 1), url.clone(), worker));
        }
        for (name, base, process) in waiting {
            loop {
                let ready = self
                    .client
                    .get(format!("{base}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|response| response.status() == StatusCode::OK);
                if ready {
                    break;
                }
                if let Some(status) = process.exited() {
                    panic!(
                        "{name} exited with {status} before it was ready:\n{}",
                        process.log_tail()
                    );
                }
                assert!(
                    Instant::now() < until,
                    "{name} not ready after {READY_DEADLINE:?}:\n{}",
                    process.log_tail()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// How many rows `count_sql` (a `SELECT count(*) AS n ...`) counts in this stack's database:
    /// for what no endpoint shows, such as leases left behind.
    pub async fn count(&self, count_sql: &str) -> i64 {
        use diesel_async::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self._db.conn().await;
        diesel::sql_query(count_sql)
            .get_result::<Count>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{count_sql}: {e}"))
            .n
    }

    /// The URL of this stack's database, for a test's own sessions.
    pub fn database_url(&self) -> String {
        self._db.url()
    }

    /// SIGKILLs the webhook receiver: a crash, whatever it was doing.
    pub fn kill_receiver(&mut self) -> std::process::ExitStatus {
        self.receiver.kill()
    }

    /// Starts the receiver again, on the same address with the same environment, after
    /// [`Stack::kill_receiver`], and waits until it is ready.
    pub async fn restart_receiver(&mut self) {
        assert!(
            self.receiver.exited().is_some(),
            "the receiver is still running"
        );
        self.receiver_starts += 1;
        let log = format!("webhook-receiver-{}.log", self.receiver_starts);
        self.receiver = Process::spawn(
            "webhook-receiver",
            &self.receiver_env,
            &self._scratch.0.join(log),
        );
        let until = Instant::now() + READY_DEADLINE;
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.receiver_url))
                .send()
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(
                self.receiver.exited().is_none() && Instant::now() < until,
                "the restarted receiver did not become ready:\n{}",
                self.receiver.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs worker `n` (from 0): a crash, whatever it was doing. [`Stack::start_workers`]
    /// starts new ones once none runs.
    pub fn kill_worker(&mut self, n: usize) -> std::process::ExitStatus {
        self.workers[n].kill()
    }

    /// The processes that have exited (crashed or stopped), by name: none for a stack that
    /// came through faults by itself.
    pub fn exited(&mut self) -> Vec<String> {
        let mut exited = Vec::new();
        if let Some(status) = self.receiver.exited() {
            exited.push(format!("webhook-receiver ({status})"));
        }
        if let Some(status) = self.api.exited() {
            exited.push(format!("api ({status})"));
        }
        for (n, worker) in self.workers.iter_mut().enumerate() {
            if let Some(status) = worker.exited() {
                exited.push(format!("worker-{} ({status})", n + 1));
            }
        }
        exited
    }

    /// Sends SIGTERM to every worker and waits for each to exit; the exit statuses, in order.
    pub fn stop_workers(&mut self) -> Vec<std::process::ExitStatus> {
        self.workers.iter_mut().map(Process::terminate).collect()
    }

    // -----------------------------------------------------------------------------------------
    // The api

    /// The api, for calls the helpers below do not make.
    pub fn api(&self) -> Api {
        Api {
            client: self.client.clone(),
            url: self.api_url.clone(),
        }
    }

    /// A request to the api with `token`; returns the status and the JSON body (`Null` when
    /// there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.api().call(method, path, token, key, body).await
    }

    /// An admin GET that must answer 200.
    pub async fn get(&self, path: &str) -> Value {
        self.api().get(path).await
    }

    /// A POST that must answer `expected`.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> Value {
        self.api().post(path, token, key, body, expected).await
    }

    /// A new organization (wallet in `currency`) and an API key of its own.
    pub async fn create_org(&self, name: &str, currency: &str) -> Org {
        self.create_org_with(json!({"name": name, "currency": currency}))
            .await
    }

    /// An organization whose notifications go to `email`.
    pub async fn create_org_billed_to(&self, name: &str, currency: &str, email: &str) -> Org {
        self.create_org_with(json!({"name": name, "currency": currency, "billing_email": email}))
            .await
    }

    /// An organization created from `body`, with its own API key (a secret the log scan looks
    /// for).
    async fn create_org_with(&self, body: Value) -> Org {
        let org = self.api().create_org_with(body).await;
        self.secrets.add_api_key(&org.key);
        org
    }

    /// The organization's subscription, billed through `provider` as `provider_subscription_id`
    /// (`pending` until paid).
    pub async fn create_subscription(
        &self,
        org: &Org,
        provider: &str,
        provider_subscription_id: &str,
    ) -> Value {
        let created = self
            .post(
                &format!("/v1/admin/organizations/{}/subscriptions", org.id),
                ADMIN_TOKEN,
                Some(&format!("e2e-subscription-{}", org.id)),
                Some(&json!({
                    "plan": "pro",
                    "provider": provider,
                    "provider_subscription_id": provider_subscription_id,
                })),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(created["subscription"]["status"], "pending", "{created}");
        created["subscription"].clone()
    }

    pub async fn subscription(&self, org: &Org) -> Value {
        self.get(&format!("/v1/admin/organizations/{}/subscription", org.id))
            .await
    }

    pub async fn wallet(&self, org: &Org) -> Value {
        self.get(&format!("/v1/organizations/{}/wallet", org.id))
            .await
    }

    /// Funds the wallet by hand (admin credit).
    pub async fn credit(&self, org: &Org, amount: &str, currency: &str) {
        self.post(
            &format!("/v1/organizations/{}/wallet/credits", org.id),
            ADMIN_TOKEN,
            Some(&format!("e2e-credit-{}", uuid::Uuid::now_v7())),
            Some(&json!({"amount": amount, "currency": currency, "counterparty": "topup:manual"})),
            StatusCode::CREATED,
        )
        .await;
    }

    /// Every ledger entry of the wallet, newest first.
    pub async fn entries(&self, org: &Org) -> Vec<Value> {
        let page = self
            .get(&format!(
                "/v1/organizations/{}/wallet/entries?limit=200",
                org.id
            ))
            .await;
        assert!(page["next_cursor"].is_null(), "more than one page: {page}");
        array(&page["entries"])
    }

    pub async fn eligibility(&self, org: &Org) -> Value {
        self.get(&format!("/v1/organizations/{}/send-eligibility", org.id))
            .await
    }

    /// A brand of `org` sending through Twilio subaccount `sid`, created with the org's key.
    pub async fn create_brand(&self, org: &Org, sid: &str) -> Value {
        self.post(
            &format!("/v1/organizations/{}/brands", org.id),
            &org.key,
            None,
            Some(&json!({"name": "Acme Shoes", "twilio_subaccount_sid": sid})),
            StatusCode::CREATED,
        )
        .await
    }

    pub async fn brand(&self, org: &Org, brand_id: &str) -> Value {
        self.get(&format!("/v1/organizations/{}/brands/{brand_id}", org.id))
            .await
    }

    /// A draft campaign of `brand_id` at 0.05 USD a segment to `numbers`, made with the org's
    /// key; not started.
    pub async fn create_campaign(
        &self,
        org: &Org,
        brand_id: &str,
        name: &str,
        numbers: &[String],
    ) -> String {
        let campaign = self
            .post(
                &format!("/v1/organizations/{}/campaigns", org.id),
                &org.key,
                None,
                Some(&json!({
                    "brand_id": brand_id,
                    "name": name,
                    "body": CAMPAIGN_BODY,
                    "from": CAMPAIGN_FROM,
                    "price_per_segment": "0.05",
                    "currency": "USD",
                })),
                StatusCode::CREATED,
            )
            .await;
        let id = text(&campaign["id"]);
        let added = self
            .post(
                &format!("/v1/organizations/{}/campaigns/{id}/recipients", org.id),
                &org.key,
                None,
                Some(&json!({"numbers": numbers})),
                StatusCode::OK,
            )
            .await;
        assert_eq!(added["added"], numbers.len(), "{added}");
        id
    }

    /// [`Stack::create_campaign`], then started with the org's key.
    pub async fn start_campaign(
        &self,
        org: &Org,
        brand_id: &str,
        name: &str,
        numbers: &[String],
    ) -> String {
        let id = self.create_campaign(org, brand_id, name, numbers).await;
        let started = self
            .post(
                &format!("/v1/organizations/{}/campaigns/{id}/start", org.id),
                &org.key,
                Some(&format!("e2e-start-{id}")),
                None,
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(started["campaign"]["status"], "running", "{started}");
        id
    }

    /// A person pauses the campaign (the org's key).
    pub async fn pause_campaign(&self, org: &Org, campaign_id: &str) -> Value {
        self.post(
            &format!("/v1/organizations/{}/campaigns/{campaign_id}/pause", org.id),
            &org.key,
            None,
            None,
            StatusCode::OK,
        )
        .await
    }

    /// The campaign view (`status`, `pause_reason` ...).
    pub async fn campaign(&self, org: &Org, campaign_id: &str) -> Value {
        self.get(&format!(
            "/v1/organizations/{}/campaigns/{campaign_id}",
            org.id
        ))
        .await["campaign"]
            .clone()
    }

    /// The inbox as operators list it (`query` like `organization_id=...&status=...`), newest
    /// first, up to 200.
    pub async fn webhook_events(&self, query: &str) -> Vec<Value> {
        let page = self
            .get(&format!("/v1/admin/webhook-events?limit=200&{query}"))
            .await;
        array(&page["events"])
    }

    pub async fn webhook_event(&self, inbox_id: &str) -> Value {
        self.get(&format!("/v1/admin/webhook-events/{inbox_id}"))
            .await
    }

    // -----------------------------------------------------------------------------------------
    // The receiver

    /// Posts `body` to `/webhooks/{provider}` with `headers`, as the provider would.
    pub async fn post_webhook(
        &self,
        provider: &str,
        headers: &[(String, String)],
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/{provider}", self.receiver_url))
            .header("Content-Type", content_type);
        for (name, value) in headers {
            let name_lower = name.to_ascii_lowercase();
            if name_lower.contains("signature") || name_lower.ends_with("-sig") {
                self.secrets.add_signature(value);
            }
            request = request.header(name, value);
        }
        // PayHere signs in the form itself.
        if content_type.starts_with("application/x-www-form-urlencoded") {
            for (name, value) in url::form_urlencoded::parse(&body) {
                if name == "md5sig" {
                    self.secrets.add(value);
                }
            }
        }
        let request = request.body(body);
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /webhooks/{provider}: {e}"))
    }

    /// `body` signed by PayPal now, as sent.
    pub async fn send_paypal(&self, body: Vec<u8>) -> reqwest::Response {
        let headers = self.keys.paypal_headers(&body, Utc::now());
        self.post_webhook("paypal", &headers, "application/json", body)
            .await
    }

    /// `body` signed by Stripe at `unix_ts`, as sent.
    pub async fn send_stripe_at(&self, body: Vec<u8>, unix_ts: i64) -> reqwest::Response {
        let header = self.keys.stripe_header(&body, unix_ts);
        self.post_webhook("stripe", &[header], "application/json", body)
            .await
    }

    pub async fn send_stripe(&self, body: Vec<u8>) -> reqwest::Response {
        self.send_stripe_at(body, Utc::now().timestamp()).await
    }

    pub async fn send_payhere(&self, body: Vec<u8>) -> reqwest::Response {
        self.post_webhook("payhere", &[], "application/x-www-form-urlencoded", body)
            .await
    }

    /// A genuine PayPal delivery of `event`, which must be stored (200); returns the receiver's
    /// answer `{inbox_id, duplicate, status}`.
    pub async fn paypal(&self, event: &Value) -> Value {
        stored(self.send_paypal(events::bytes(event)).await).await
    }

    /// A genuine Stripe delivery of `event` (200).
    pub async fn stripe(&self, event: &Value) -> Value {
        stored(self.send_stripe(events::bytes(event)).await).await
    }

    /// A genuine PayHere notification (200).
    pub async fn payhere(&self, notification: &PayHereNotification) -> Value {
        stored(self.send_payhere(notification.body()).await).await
    }
}

/// The credentials every stack is configured with.
fn stack_secrets() -> Secrets {
    let secrets = Secrets::default();
    for secret in [
        ADMIN_TOKEN,
        keys::STRIPE_WEBHOOK_SECRET,
        keys::PAYHERE_MERCHANT_SECRET,
        paypal::CLIENT_SECRET,
        paypal::ACCESS_TOKEN,
        stripe::SECRET_KEY,
        twilio::AUTH_TOKEN,
    ] {
        secrets.add(secret);
    }
    // As they travel in an Authorization header.
    for (user, password) in [
        (paypal::CLIENT_ID, paypal::CLIENT_SECRET),
        (twilio::PARENT_SID, twilio::AUTH_TOKEN),
    ] {
        let header = basic_auth(user, password);
        secrets.add(header.trim_start_matches("Basic "));
    }
    secrets
}

/// A passing test's stack ends with the secret scan: the processes are stopped (so their logs
/// are complete), then every line of every log they wrote is searched for every secret the stack
/// knows; a match fails the test, naming the file and line with the secret masked. A failing
/// test is not scanned (its own failure is the news, and its logs are kept).
impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        self.receiver.kill();
        self.api.kill();
        for worker in &mut self.workers {
            worker.kill();
        }
        self.secrets.assert_not_logged(&self._scratch.0);
    }
}

/// The message of the test campaigns: one GSM-7 segment.
pub const CAMPAIGN_BODY: &str = "Spring sale: 20% off until Sunday. Reply STOP to opt out.";
pub const CAMPAIGN_FROM: &str = "+14155550199";

/// What every test's worker gets: the fake Twilio, every job every second, one dispatcher
/// sending one message at a time every 100 ms (a test that wants bigger batches sets
/// `DISPATCH_BATCH_SIZE` / `DISPATCH_CONCURRENCY` after these: the process sees the last value).
pub fn worker_defaults(twilio: &FakeTwilio) -> Vec<(String, String)> {
    [
        ("HOLD_EXPIRY_INTERVAL_SECS", "0".to_owned()),
        ("TWILIO_ACCOUNT_SID", twilio::PARENT_SID.to_owned()),
        ("TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN.to_owned()),
        ("TWILIO_BASE_URL", twilio.uri()),
        ("MESSAGING_OUTBOX_INTERVAL_SECS", "1".to_owned()),
        ("CAMPAIGN_RESUME_INTERVAL_SECS", "1".to_owned()),
        ("INBOX_INTERVAL_SECS", "1".to_owned()),
        ("NOTIFICATION_INTERVAL_SECS", "1".to_owned()),
        ("DUNNING_INTERVAL_SECS", "1".to_owned()),
        ("DISPATCH_WORKERS", "1".to_owned()),
        ("DISPATCH_BATCH_SIZE", "1".to_owned()),
        ("DISPATCH_CONCURRENCY", "1".to_owned()),
        ("DISPATCH_INTERVAL_MS", "100".to_owned()),
    ]
    .map(|(name, value)| (name.to_owned(), value))
    .into()
}

/// `count` distinct E.164 numbers starting at `first`.
pub fn numbers(first: usize, count: usize) -> Vec<String> {
    (first..first + count)
        .map(|i| format!("+1415555{i:04}"))
        .collect()
}

/// The receiver's 200 answer to a stored delivery.
pub async fn stored(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::OK,
        "the delivery was not stored: {body}"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Asserts a problem+json answer with `status` and `code`; returns the problem.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "expected {status} {code}, got {got}: {body}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "not a problem ({content_type}): {body}"
    );
    let problem: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(problem["code"], code, "{problem}");
    problem
}

/// A JSON string's value.
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

/// A JSON array's items.
pub fn array(value: &Value) -> Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .clone()
}

/// The codes of an eligibility answer's reasons, in order.
pub fn reason_codes(eligibility: &Value) -> Vec<String> {
    array(&eligibility["reasons"])
        .iter()
        .map(|reason| text(&reason["code"]))
        .collect()
}
