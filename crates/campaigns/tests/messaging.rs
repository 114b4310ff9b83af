//! Messaging suspension end to end on real PostgreSQL: request → outbox → Twilio (a scripted fake,
//! or the real client against wiremock) → brand status.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap"
)]

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use campaigns::{
    BrandName, CampaignsError, ControlHandler, MessagingControl, MessagingStatus, Requested,
    SubaccountCall, SubaccountHandler, SubaccountSid, Wish, brands, messaging,
};
use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbPool, schema::organizations};
use diesel::ExpressionMethods;
use diesel_async::{AsyncConnection, RunQueryDsl};
use outbox::{DedupeKey, ListFilter, Message, NewMessage, Outbox, Redelivery, Status, Topic};
use primitives::{Clock, ManualClock, OrganizationId};
use secrecy::SecretString;
use testkit::TestDb;
use twilio::{AccountStatus, SubaccountControl, SubaccountStatus, TwilioError};

const SID_A: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SID_B: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_798_761_600, 0).unwrap()
}

/// Records every call and Twilio's resulting state per SID; answers from a script, then success.
#[derive(Clone, Default)]
struct FakeTwilio {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
struct FakeState {
    script: VecDeque<Result<(), TwilioError>>,
    calls: Vec<(String, SubaccountStatus)>,
    state: HashMap<String, SubaccountStatus>,
    /// Run once during the next call, before it lands: a newer wish arriving mid-call.
    interleave: Option<(DbPool, OrganizationId, Wish)>,
}

impl FakeTwilio {
    fn script(&self, results: impl IntoIterator<Item = Result<(), TwilioError>>) {
        self.inner.lock().unwrap().script.extend(results);
    }

    fn calls(&self) -> Vec<(String, SubaccountStatus)> {
        self.inner.lock().unwrap().calls.clone()
    }

    fn state(&self, sid: &str) -> Option<SubaccountStatus> {
        self.inner.lock().unwrap().state.get(sid).copied()
    }
}

#[async_trait::async_trait]
impl SubaccountControl for FakeTwilio {
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        let (result, interleave) = {
            let mut inner = self.inner.lock().unwrap();
            inner.calls.push((sid.to_owned(), status));
            let result = inner.script.pop_front().unwrap_or(Ok(()));
            (result, inner.interleave.take())
        };
        if let Some((pool, organization, wish)) = interleave {
            let mut conn = pool.get().await.unwrap();
            messaging::request(
                &mut conn,
                organization,
                wish,
                start() + chrono::Duration::seconds(1),
            )
            .await
            .unwrap();
        }
        result?;
        self.inner
            .lock()
            .unwrap()
            .state
            .insert(sid.to_owned(), status);
        Ok(match status {
            SubaccountStatus::Suspended => AccountStatus::Suspended,
            SubaccountStatus::Active => AccountStatus::Active,
        })
    }

    /// What the fake Twilio holds for the subaccount (active until told otherwise).
    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError> {
        let state = self.inner.lock().unwrap().state.get(sid).copied();
        Ok(match state {
            Some(SubaccountStatus::Suspended) => AccountStatus::Suspended,
            Some(SubaccountStatus::Active) | None => AccountStatus::Active,
        })
    }
}

fn transient() -> TwilioError {
    TwilioError::Api {
        status: 503,
        code: None,
        message: "Service Unavailable".to_owned(),
        more_info: None,
    }
}

fn permanent() -> TwilioError {
    TwilioError::Api {
        status: 404,
        code: Some(20404),
        message: "The requested resource was not found".to_owned(),
        more_info: None,
    }
}

struct Fixture {
    _db: TestDb,
    pool: DbPool,
    clock: ManualClock,
    outbox: Outbox,
}

impl Fixture {
    async fn new() -> Self {
        let db = TestDb::new().await;
        let pool = db.pool();
        let clock = ManualClock::new(start());
        let outbox = Outbox::new(Arc::new(clock.clone()), Redelivery::default());
        Self {
            _db: db,
            pool,
            clock,
            outbox,
        }
    }

    async fn conn(&self) -> db::pool::PooledConnection {
        self.pool.get().await.unwrap()
    }

    fn handler<C: SubaccountControl>(&self, twilio: C) -> SubaccountHandler<C> {
        SubaccountHandler::new(self.pool.clone(), twilio, Arc::new(self.clock.clone()))
    }

    async fn organization_with_brands(&self, sids: &[&str]) -> OrganizationId {
        let mut conn = self.conn().await;
        let organization = OrganizationId::new();
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(organization.as_uuid()),
                organizations::name.eq("Acme"),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        for (i, sid) in sids.iter().enumerate() {
            brands::create(
                &mut conn,
                organization,
                &BrandName::parse(&format!("Brand {i}")).unwrap(),
                &SubaccountSid::parse(sid).unwrap(),
                self.clock.now(),
            )
            .await
            .unwrap();
        }
        organization
    }

    /// `messaging::request` in a transaction of its own, as a domain operation would run it.
    async fn request(&self, organization: OrganizationId, wish: Wish) -> Vec<Requested> {
        let mut conn = self.conn().await;
        let now = self.clock.now();
        conn.transaction::<_, CampaignsError, _>(async |conn| {
            messaging::request(conn, organization, wish, now).await
        })
        .await
        .unwrap()
    }

    async fn statuses(&self, organization: OrganizationId) -> Vec<MessagingStatus> {
        let mut conn = self.conn().await;
        brands::list(&mut conn, organization)
            .await
            .unwrap()
            .iter()
            .map(|brand| brand.messaging_status)
            .collect()
    }

    async fn messages(&self, topic: Topic) -> Vec<outbox::OutboxMessage> {
        let mut conn = self.conn().await;
        let filter = ListFilter {
            topic: Some(topic),
            ..ListFilter::default()
        };
        outbox::list(&mut conn, &filter).await.unwrap()
    }
}

#[tokio::test]
async fn suspension_reaches_twilio_through_the_outbox() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A, SID_B]).await;

    let requested = fx.request(organization, Wish::Suspend).await;
    assert_eq!(requested.len(), 2);
    assert!(requested.iter().all(|r| matches!(
        r,
        Requested::Enqueued {
            wish_version: 1,
            ..
        }
    )));
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspending, MessagingStatus::Suspending]
    );

    let twilio = FakeTwilio::default();
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspended, MessagingStatus::Suspended]
    );
    assert_eq!(twilio.state(SID_A), Some(SubaccountStatus::Suspended));
    assert_eq!(twilio.state(SID_B), Some(SubaccountStatus::Suspended));
    let messages = fx.messages(SubaccountCall::TOPIC).await;
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.status == Status::Delivered));
    assert!(
        messages
            .iter()
            .all(|m| m.organization_id == Some(organization))
    );
}

#[tokio::test]
async fn twilio_down_then_back_is_retried_until_the_wish_holds() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    fx.request(organization, Wish::Suspend).await;
    let twilio = FakeTwilio::default();
    twilio.script([Err(transient()), Err(transient())]);
    let handler = fx.handler(twilio.clone());

    for _ in 0..2 {
        let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &handler, 10)
            .await
            .unwrap();
        assert_eq!(report.retried, 1);
        let mut conn = fx.conn().await;
        let brand = &brands::list(&mut conn, organization).await.unwrap()[0];
        assert_eq!(brand.messaging_status, MessagingStatus::Suspending);
        assert!(brand.last_error.as_deref().unwrap().contains("503"));
        assert_eq!(brand.last_error_at, Some(fx.clock.now()));
        // Not due before its backoff.
        let early = outbox::deliver_batch(&fx.pool, &fx.outbox, &handler, 10)
            .await
            .unwrap();
        assert_eq!(early.claimed, 0);
        fx.clock.advance(chrono::Duration::hours(2));
    }

    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &handler, 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let mut conn = fx.conn().await;
    let brand = &brands::list(&mut conn, organization).await.unwrap()[0];
    assert_eq!(brand.messaging_status, MessagingStatus::Suspended);
    assert_eq!(brand.last_error, None);
    assert_eq!(brand.last_error_at, None);
    assert_eq!(twilio.calls().len(), 3);
    assert_eq!(twilio.state(SID_A), Some(SubaccountStatus::Suspended));
}

#[tokio::test]
async fn reactivation_before_a_pending_suspension_ran_ends_active() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    fx.request(organization, Wish::Suspend).await;
    fx.clock.advance(chrono::Duration::seconds(1));
    let requested = fx.request(organization, Wish::Reactivate).await;
    assert!(matches!(
        requested[..],
        [Requested::Enqueued {
            wish_version: 2,
            ..
        }]
    ));
    // Still in transition: Twilio was never suspended, but a suspension may be pending.
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Reactivating]
    );
    assert_eq!(fx.messages(SubaccountCall::TOPIC).await.len(), 2);

    let twilio = FakeTwilio::default();
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);
    assert_eq!(fx.statuses(organization).await, [MessagingStatus::Active]);
    // Both messages applied the latest wish: Twilio never saw a suspension.
    assert!(
        twilio
            .calls()
            .iter()
            .all(|(_, status)| *status == SubaccountStatus::Active)
    );
    assert_eq!(twilio.state(SID_A), Some(SubaccountStatus::Active));
}

#[tokio::test]
async fn a_wish_changed_during_the_call_is_applied_again() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    fx.request(organization, Wish::Suspend).await;
    let twilio = FakeTwilio::default();
    twilio.inner.lock().unwrap().interleave =
        Some((fx.pool.clone(), organization, Wish::Reactivate));

    // Only the first message is due at this time; the reactivation lands mid-call.
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 1)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        twilio.calls(),
        [
            (SID_A.to_owned(), SubaccountStatus::Suspended),
            (SID_A.to_owned(), SubaccountStatus::Active),
        ]
    );
    assert_eq!(twilio.state(SID_A), Some(SubaccountStatus::Active));
    assert_eq!(fx.statuses(organization).await, [MessagingStatus::Active]);
}

#[tokio::test]
async fn a_permanent_error_dead_letters_with_the_error_visible() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    fx.request(organization, Wish::Suspend).await;
    let twilio = FakeTwilio::default();
    twilio.script([Err(permanent())]);

    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 10)
        .await
        .unwrap();
    assert_eq!(report.dead, 1);
    let mut conn = fx.conn().await;
    let brand = &brands::list(&mut conn, organization).await.unwrap()[0];
    // The wish and the in-between status stay; the error is on the brand and the dead letter.
    assert_eq!(brand.messaging_wish, Wish::Suspend);
    assert_eq!(brand.messaging_status, MessagingStatus::Suspending);
    let error = brand.last_error.as_deref().unwrap();
    assert!(error.contains("404"), "{error}");
    let messages = fx.messages(SubaccountCall::TOPIC).await;
    assert_eq!(messages[0].status, Status::Dead);
    assert!(messages[0].last_error.as_deref().unwrap().contains("404"));
    // The failure enqueued nothing else and changed no other state than the brand's error.
    let all = outbox::list(&mut conn, &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(twilio.state(SID_A), None);

    // A new wish gets its own message even though the old one is dead.
    fx.request(organization, Wish::Suspend).await;
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspended]
    );
}

/// A [`MessagingControl`] written raw, as enforcement stored them before payloads were typed:
/// rows already in the outbox must still be delivered.
async fn enqueue_control(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    action: &str,
    key: &str,
    at: DateTime<Utc>,
) {
    let payload = serde_json::json!({
        "organization_id": organization,
        "subscription_id": uuid::Uuid::now_v7(),
        "action": action,
        "reason": "subscription_inactive",
        "status": "suspended",
        "event": "payment_failed",
    });
    let message = NewMessage {
        organization_id: Some(organization),
        ..NewMessage::new(
            MessagingControl::TOPIC,
            DedupeKey::parse(key).unwrap(),
            payload,
            at,
        )
    };
    outbox::enqueue_raw(conn, message).await.unwrap();
}

#[tokio::test]
async fn enforcement_control_messages_reach_twilio() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    let mut conn = fx.conn().await;
    enqueue_control(&mut conn, organization, "suspend", "e1:suspend", start()).await;
    drop(conn);

    let control = ControlHandler::new(fx.pool.clone());
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &control, 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspending]
    );

    let twilio = FakeTwilio::default();
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(twilio.clone()), 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspended]
    );
    assert_eq!(twilio.state(SID_A), Some(SubaccountStatus::Suspended));
}

#[tokio::test]
async fn a_delayed_older_control_message_does_not_override_a_newer_wish() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    // A reactivation decided later is recorded first (the suspension's delivery was delayed).
    let newer = start() + chrono::Duration::seconds(10);
    {
        let mut conn = fx.conn().await;
        messaging::request(&mut conn, organization, Wish::Reactivate, newer)
            .await
            .unwrap();
    }
    let mut conn = fx.conn().await;
    let requested = messaging::request(&mut conn, organization, Wish::Suspend, start())
        .await
        .unwrap();
    assert!(matches!(requested[..], [Requested::Superseded { .. }]));
    let brand = &brands::list(&mut conn, organization).await.unwrap()[0];
    assert_eq!(brand.messaging_wish, Wish::Reactivate);
    assert_eq!(brand.messaging_wish_version, 1);
}

#[tokio::test]
async fn invalid_control_payload_is_a_dead_letter() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    let mut conn = fx.conn().await;
    enqueue_control(&mut conn, organization, "close", "e3:close", start()).await;
    drop(conn);
    let report = outbox::deliver_batch(
        &fx.pool,
        &fx.outbox,
        &ControlHandler::new(fx.pool.clone()),
        10,
    )
    .await
    .unwrap();
    assert_eq!(report.dead, 1);
    assert_eq!(fx.statuses(organization).await, [MessagingStatus::Active]);
}

#[tokio::test]
async fn brands_are_validated() {
    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    assert!(SubaccountSid::parse("ACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_err());
    assert!(SubaccountSid::parse("MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_err());
    assert!(SubaccountSid::parse("ACaaaa").is_err());
    assert!(BrandName::parse("  ").is_err());
    assert!(BrandName::parse("a\nb").is_err());
    let mut conn = fx.conn().await;
    let taken = brands::create(
        &mut conn,
        organization,
        &BrandName::parse("Other").unwrap(),
        &SubaccountSid::parse(SID_A).unwrap(),
        start(),
    )
    .await;
    assert!(matches!(taken, Err(CampaignsError::SubaccountTaken)));
    let listed = brands::list(&mut conn, organization).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].twilio_subaccount_sid, SID_A);
    assert_eq!(listed[0].messaging_status, MessagingStatus::Active);
}

#[tokio::test]
async fn suspension_through_the_real_twilio_client() {
    use wiremock::{
        Mock, MockServer, ResponseTemplate,
        matchers::{body_string_contains, method, path},
    };

    let fx = Fixture::new().await;
    let organization = fx.organization_with_brands(&[SID_A]).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID_A}.json")))
        .and(body_string_contains("Status=suspended"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "sid": SID_A, "friendly_name": "Brand 0", "status": "suspended", "type": "Full"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = twilio::TwilioConfig::new(
        "AC00000000000000000000000000000000",
        SecretString::from("token".to_owned()),
    );
    config.base_url = server.uri();
    config.timeout = Duration::from_secs(5);
    let client = twilio::TwilioClient::new(config).unwrap();

    fx.request(organization, Wish::Suspend).await;
    let report = outbox::deliver_batch(&fx.pool, &fx.outbox, &fx.handler(client), 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        fx.statuses(organization).await,
        [MessagingStatus::Suspended]
    );
}
