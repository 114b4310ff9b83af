//! What the subscription tests share: requests, the domain driven directly (events applied
//! through the app's own enforcer, as the webhook receiver and the dunning runner will), and a
//! snapshot of every billing table to prove that a refused request changed nothing.

use std::future::IntoFuture;

use chrono::{DateTime, TimeDelta, Utc};
use db::schema::{
    access_block_events, access_blocks, outbox_messages, subscription_events,
    subscription_transitions, subscriptions as subscription_rows,
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use primitives::OrganizationId;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use subscriptions::{
    Applied, CancelMode, EventEnvelope, EventId, EventSource, FailureReason, SubscriptionEvent,
    SubscriptionStatus,
};

use crate::common::{ADMIN_TOKEN, Books, Org, TestApp, key, ok, send};

/// Everything billing-related in the database, with the wallet books.
#[derive(Debug, PartialEq, Eq)]
pub struct BillingBooks {
    pub books: Books,
    /// (id, organization, status, period end), by id.
    pub subscriptions: Vec<(uuid::Uuid, uuid::Uuid, String, Option<DateTime<Utc>>)>,
    pub events: i64,
    pub transitions: i64,
    /// (organization, source, reason).
    pub blocks: Vec<(uuid::Uuid, String, String)>,
    pub block_events: i64,
    pub outbox: i64,
}

impl TestApp {
    pub async fn billing_books(&self) -> BillingBooks {
        let mut conn = self.conn().await;
        BillingBooks {
            books: self.books().await,
            subscriptions: subscription_rows::table
                .select((
                    subscription_rows::id,
                    subscription_rows::organization_id,
                    subscription_rows::status,
                    subscription_rows::current_period_end,
                ))
                .order(subscription_rows::id)
                .load(&mut conn)
                .await
                .unwrap(),
            events: subscription_events::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            transitions: subscription_transitions::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            blocks: access_blocks::table
                .select((
                    access_blocks::organization_id,
                    access_blocks::source,
                    access_blocks::reason,
                ))
                .order((access_blocks::organization_id, access_blocks::source))
                .load(&mut conn)
                .await
                .unwrap(),
            block_events: access_block_events::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
            outbox: outbox_messages::table
                .count()
                .get_result(&mut conn)
                .await
                .unwrap(),
        }
    }

    /// Awaits a request that must be refused: asserts the problem and that no billing table
    /// (nor the wallet books) changed. Returns the problem.
    pub async fn refused_billing(
        &self,
        request: impl IntoFuture<Output = Response>,
        status: u16,
        code: &str,
    ) -> Value {
        crate::common::refused_unchanged(async || self.billing_books().await, request, status, code)
            .await
    }

    /// The kinds of the notifications enqueued for the organization, in order.
    pub async fn outbox_kinds(&self, organization_id: &str) -> Vec<String> {
        let organization: uuid::Uuid = organization_id.parse().unwrap();
        let mut conn = self.conn().await;
        let payloads: Vec<Value> = outbox_messages::table
            .filter(outbox_messages::topic.eq("notification"))
            .filter(outbox_messages::organization_id.eq(organization))
            .order(outbox_messages::id)
            .select(outbox_messages::payload)
            .load(&mut conn)
            .await
            .unwrap();
        payloads
            .iter()
            .map(|payload| payload["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A GET with `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> Response {
        send(self.client.get(self.url(path)).bearer_auth(token)).await
    }

    /// `/v1/admin/organizations/{organization_id}{path}`.
    pub fn admin_org_url(&self, organization_id: &str, path: &str) -> String {
        self.url(&format!("/v1/admin/organizations/{organization_id}{path}"))
    }

    /// A request to an admin organization route with `token`, an optional `Idempotency-Key`
    /// and a JSON body.
    pub fn admin_org_request(
        &self,
        method: reqwest::Method,
        organization_id: &str,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        let request = self
            .client
            .request(method, self.admin_org_url(organization_id, path))
            .bearer_auth(token)
            .json(body);
        match key {
            Some(key) => request.header("Idempotency-Key", key),
            None => request,
        }
    }

    /// `POST .../subscriptions` with `token` and `key`.
    pub fn create_request(
        &self,
        organization_id: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        self.admin_org_request(
            reqwest::Method::POST,
            organization_id,
            "/subscriptions",
            token,
            key,
            body,
        )
    }

    /// Creates a subscription as admin; asserts a first creation and returns it.
    pub async fn create_subscription(&self, organization_id: &str, body: &Value) -> Value {
        let response =
            send(self.create_request(organization_id, ADMIN_TOKEN, Some(&key()), body)).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["replayed"], false, "{body}");
        body["subscription"].clone()
    }

    /// Applies `event` to the organization's current subscription through the app's enforcer,
    /// as a provider's webhook or the dunning runner would (source `test`, a fresh id, now);
    /// then moves the clock a minute on, so the next event is newer.
    pub async fn apply_event(&self, organization_id: &str, event: SubscriptionEvent) -> Applied {
        let organization_id: OrganizationId = organization_id.parse().unwrap();
        let mut conn = self.conn().await;
        let subscription =
            subscriptions::lookup::current_for_organization(&mut conn, organization_id)
                .await
                .unwrap()
                .unwrap();
        let envelope = EventEnvelope {
            source: EventSource::parse("test").unwrap(),
            event_id: EventId::parse(&key()).unwrap(),
            occurred_at: self.clock_now(),
            precision: subscriptions::TimePrecision::Microsecond,
            event,
        };
        let applied = self
            .state
            .enforcer
            .apply(&mut conn, subscription.id, &envelope)
            .await
            .unwrap();
        self.clock.advance(TimeDelta::minutes(1));
        applied
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        self.state.subscriptions.now()
    }

    /// A new organization (USD wallet, a key) with an active subscription on plan `pro`,
    /// paid until 30 days from now.
    pub async fn subscribed(&self, name: &str) -> Org {
        let org = self.org_with_key(name).await;
        self.create_subscription(&org.id, &json!({"plan": "pro"}))
            .await;
        let period_end = self.clock_now() + TimeDelta::days(30);
        let applied = self
            .apply_event(&org.id, SubscriptionEvent::Activated { period_end })
            .await;
        assert_eq!(
            applied.subscription.state.status,
            SubscriptionStatus::Active
        );
        org
    }

    /// Fails a payment: `past_due` at once (no grace by default), billing blocks.
    pub async fn fail_payment(&self, organization_id: &str) -> Applied {
        let at = self.clock_now();
        self.apply_event(
            organization_id,
            SubscriptionEvent::PaymentFailed {
                reason: FailureReason::new("card declined"),
                at,
            },
        )
        .await
    }

    /// Drives an active subscription through the whole default dunning schedule to
    /// `suspended`: the failed payment, three failed retries (days 3, 5, 7) and the manual
    /// intervention step (day 10), with the clock moved along.
    pub async fn suspend(&self, organization_id: &str) {
        self.fail_payment(organization_id).await;
        for (attempt, days) in [(1, 3), (2, 2), (3, 2)] {
            self.clock.advance(TimeDelta::days(days));
            let applied = self
                .apply_event(
                    organization_id,
                    SubscriptionEvent::RetryFailed {
                        attempt,
                        reason: FailureReason::new("insufficient funds"),
                    },
                )
                .await;
            assert_eq!(
                applied.subscription.state.status,
                SubscriptionStatus::PastDue
            );
        }
        self.clock.advance(TimeDelta::days(3));
        let applied = self
            .apply_event(organization_id, SubscriptionEvent::DunningExhausted)
            .await;
        assert_eq!(
            applied.subscription.state.status,
            SubscriptionStatus::Suspended
        );
    }

    /// Cancels the current subscription at once.
    pub async fn cancel(&self, organization_id: &str) {
        let applied = self
            .apply_event(
                organization_id,
                SubscriptionEvent::Canceled {
                    mode: CancelMode::Immediately,
                },
            )
            .await;
        assert_eq!(
            applied.subscription.state.status,
            SubscriptionStatus::Canceled
        );
    }

    /// The organization's subscription as its own key sees it.
    pub async fn own_subscription(&self, org: &Org) -> Value {
        ok(self.get_as(&org.key, "/v1/subscription").await).await
    }

    /// One entitlement as the organization's key sees it.
    pub async fn entitlement(&self, org: &Org, feature: &str) -> Value {
        ok(self
            .get_as(&org.key, &format!("/v1/entitlements/{feature}"))
            .await)
        .await
    }

    /// `POST .../access-blocks` as admin.
    pub async fn block(&self, organization_id: &str, reason: &str) -> Response {
        send(self.admin_org_request(
            reqwest::Method::POST,
            organization_id,
            "/access-blocks",
            ADMIN_TOKEN,
            None,
            &json!({"reason": reason}),
        ))
        .await
    }

    /// `DELETE .../access-blocks/{source}` as admin.
    pub async fn lift(&self, organization_id: &str, source: &str, reason: &str) -> Response {
        send(self.admin_org_request(
            reqwest::Method::DELETE,
            organization_id,
            &format!("/access-blocks/{source}"),
            ADMIN_TOKEN,
            None,
            &json!({"reason": reason}),
        ))
        .await
    }

    /// `POST .../subscription/manual-payment` with `token` and `key`.
    pub fn manual_payment_request(
        &self,
        organization_id: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        self.admin_org_request(
            reqwest::Method::POST,
            organization_id,
            "/subscription/manual-payment",
            token,
            key,
            body,
        )
    }

    /// A manual payment body: 49.00 USD for a period ending `days` from now.
    pub fn payment_body(&self, days: i64) -> Value {
        json!({
            "amount": "49.00",
            "currency": "USD",
            "period_end": self.clock_now() + TimeDelta::days(days),
        })
    }
}
