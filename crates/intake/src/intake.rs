//! The intake: a verified delivery in, stored in the inbox, then applied: its events become
//! subscription transitions (through the enforcer), ledger movements and dispute cases, all in
//! one transaction with the delivery's outcome.
//!
//! Why it is safe to apply a delivery more than once (a re-delivery, the retry job racing the
//! receiver, an operator's re-apply): the delivery row is locked for the attempt and a settled
//! one is never applied again; and below it, every effect is idempotent on its own (the
//! enforcer dedupes by provider and event id, the ledger by reference, dispute cases and
//! notifications by their keys).

use std::{collections::HashMap, sync::Arc};

use billing::{ParsedWebhook, ProviderError, ProviderName, ProviderSubscription, Providers};
use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbPool};
use diesel_async::AsyncConnection;
use enforcement::Enforcer;
use ledger::Ledger;
use primitives::{Clock, OrganizationId, SubscriptionId};
use sha2::{Digest, Sha256};
use subscriptions::{
    EventEnvelope, EventId, EventSource, Outcome, ProviderRef, Subscription, TimePrecision,
};
use uuid::Uuid;

use crate::{
    IntakeError, IntakePolicy, capture,
    decide::{self, Route, SubscriptionPlan},
    event::{self, StoredEvent},
    inbox::{self, EventOutcome, EventResult, InboxStatus, NewDelivery, Settlement, Stored},
    locate::{self, Located, PaymentKind},
    metrics,
    money::{self, MoneyContext},
    sync::{ProviderSync, SyncPolicy},
};

/// Longest `event_type` stored (the provider's own type, for people).
const MAX_EVENT_TYPE_CHARS: usize = 100;

/// What receiving a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub inbox_id: Uuid,
    /// The provider had sent it before.
    pub duplicate: bool,
    /// Its status after this request: applied at once when it could be.
    pub status: InboxStatus,
}

/// How one attempt to apply a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Applied (or found ignored, unmatched, held) and recorded.
    Settled {
        status: InboxStatus,
        outcomes: Vec<EventOutcome>,
    },
    /// Someone else had already settled it.
    AlreadySettled(InboxStatus),
    /// Another attempt holds it right now.
    Busy,
    /// The attempt failed; the delivery waits for the next (`failed`) or for a person (`dead`).
    Failed { status: InboxStatus, error: String },
}

impl Attempt {
    pub fn status(&self) -> Option<InboxStatus> {
        match self {
            Self::Settled { status, .. }
            | Self::AlreadySettled(status)
            | Self::Failed { status, .. } => Some(*status),
            Self::Busy => None,
        }
    }
}

/// What one pass of the background job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: usize,
    pub applied: usize,
    pub ignored: usize,
    pub unmatched: usize,
    pub held: usize,
    pub failed: usize,
    pub dead: usize,
}

/// What the provider must be asked before an event can be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderQuestion {
    pub provider: ProviderName,
    pub event_id: String,
    pub provider_subscription_id: String,
}

/// The provider's answer about a subscription, per event id, gathered outside the transaction.
#[derive(Debug, Clone)]
enum Answer {
    View(ProviderSubscription),
    /// The provider cannot be asked (no API credentials) or refused to say (the subscription
    /// is unknown to it): the event is held with this reason.
    Unanswerable(String),
}

#[derive(Clone)]
pub struct Intake {
    enforcer: Enforcer,
    ledger: Ledger,
    providers: Providers,
    clock: Arc<dyn Clock>,
    policy: IntakePolicy,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("providers", &self.providers)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Intake {
    pub fn new(
        enforcer: Enforcer,
        ledger: Ledger,
        providers: Providers,
        clock: Arc<dyn Clock>,
        policy: IntakePolicy,
    ) -> Self {
        Self {
            enforcer,
            ledger,
            providers,
            clock,
            policy,
        }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    pub fn policy(&self) -> &IntakePolicy {
        &self.policy
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The provider sync over this intake's enforcer, providers and clock, asking each
    /// provider within [`IntakePolicy::ask_timeout`].
    pub fn provider_sync(&self, policy: SyncPolicy) -> ProviderSync {
        ProviderSync::new(
            self.enforcer.clone(),
            self.providers.clone(),
            self.clock.clone(),
            self.policy.ask_timeout,
            policy,
        )
    }

    /// A verified delivery in: stored (committed before the caller answers the provider), then
    /// applied at once. A repeated delivery stores nothing; if its row still waits (its first
    /// attempt crashed or failed), it is applied now. `parsed` is what the provider's adapter
    /// made of the verified body: a body it cannot read is kept `held` for a person.
    pub async fn receive(
        &self,
        pool: &DbPool,
        provider: ProviderName,
        body: &[u8],
        parsed: Result<ParsedWebhook, ProviderError>,
    ) -> Result<Received, IntakeError> {
        let new = self.new_delivery(provider, body, parsed);
        let stored = {
            let mut conn = pool.get().await?;
            inbox::insert(&mut conn, &new).await?
        };
        metrics::delivery(provider, matches!(stored, Stored::Duplicate { .. }));
        let (inbox_id, duplicate, status) = match stored {
            Stored::New { id } if new.status == InboxStatus::Received => {
                (id, false, self.apply_stored(pool, id).await)
            }
            Stored::New { id } => {
                metrics::outcome(provider, new.status);
                (id, false, Some(new.status))
            }
            Stored::Duplicate { id, status } if status.is_settled() => (id, true, Some(status)),
            Stored::Duplicate { id, status: stored } => {
                let claimed = {
                    let mut conn = pool.get().await?;
                    let now = self.now();
                    inbox::claim_one(&mut conn, id, now, self.lease_until(now)).await?
                };
                let status = if claimed {
                    self.apply_stored(pool, id).await
                } else {
                    Some(stored)
                };
                (id, true, status)
            }
        };
        Ok(Received {
            inbox_id,
            duplicate,
            status: status.unwrap_or(InboxStatus::Received),
        })
    }

    /// Applies a delivery that is safely stored: whatever goes wrong now is the inbox's to
    /// retry, never a reason to fail the provider's request (it would only send it again).
    async fn apply_stored(&self, pool: &DbPool, id: Uuid) -> Option<InboxStatus> {
        match self.apply(pool, id).await {
            Ok(attempt) => attempt.status(),
            Err(error) => {
                tracing::warn!(
                    inbox_id = %id,
                    %error,
                    "a stored delivery could not be tried now; the inbox job will"
                );
                None
            }
        }
    }

    fn new_delivery(
        &self,
        provider: ProviderName,
        body: &[u8],
        parsed: Result<ParsedWebhook, ProviderError>,
    ) -> NewDelivery {
        let now = self.now();
        let body_sha256: [u8; 32] = Sha256::digest(body).into();
        // A delivery without an id of its own is named by its bytes' digest.
        let digest_id = || event::sha256_id(&body_sha256);
        let (delivery_id, event_type, events, status, error) = match parsed {
            Ok(ParsedWebhook::Events { events }) => {
                let stored: Vec<StoredEvent> = events.iter().map(StoredEvent::from).collect();
                let id = event::delivery_id(stored.iter().map(|e| e.provider_event_id.as_str()))
                    .unwrap_or_else(digest_id);
                let event_type = stored
                    .first()
                    .map_or_else(String::new, |e| e.provider_event_type.clone());
                (id, event_type, stored, InboxStatus::Received, None)
            }
            Ok(ParsedWebhook::Ignored {
                provider_event_type,
                provider_event_id,
            }) => (
                provider_event_id.unwrap_or_else(digest_id),
                provider_event_type,
                Vec::new(),
                InboxStatus::Ignored,
                None,
            ),
            Err(error) => (
                digest_id(),
                "unreadable".to_owned(),
                Vec::new(),
                InboxStatus::Held,
                Some(format!("verified, but it could not be read: {error}")),
            ),
        };
        let event_type: String = event_type.chars().take(MAX_EVENT_TYPE_CHARS).collect();
        NewDelivery {
            provider,
            delivery_id: event::storable_id(&delivery_id, 255),
            event_type: if event_type.trim().is_empty() {
                "unknown".to_owned()
            } else {
                event_type
            },
            body: body.to_vec(),
            body_sha256,
            events,
            next_attempt_at: (status == InboxStatus::Received).then_some(now),
            leased_until: (status == InboxStatus::Received)
                .then(|| now + duration(self.policy.receiver_grace)),
            status,
            last_error: error,
            received_at: now,
        }
    }

    /// Applies a stored delivery. A settled one is left as it is.
    ///
    /// Optimistic: the delivery is applied in one transaction straight away; an event that
    /// needs its provider's view (rare) rolls that transaction back, the provider is asked
    /// outside any transaction (a provider call never holds a lock), and the delivery is
    /// applied again with the answer.
    pub async fn apply(&self, pool: &DbPool, id: Uuid) -> Result<Attempt, IntakeError> {
        let mut answers = HashMap::new();
        loop {
            match self.apply_answered(pool, id, &answers).await {
                Ok((provider, attempt)) => {
                    if let Attempt::Settled { status, .. } = &attempt {
                        metrics::outcome(provider, *status);
                    }
                    return Ok(attempt);
                }
                Err(IntakeError::Ask(question)) if !answers.contains_key(&question.event_id) => {
                    match self.ask(&question).await {
                        Ok(answer) => {
                            answers.insert(question.event_id.clone(), answer);
                        }
                        Err(error) => return self.fail(pool, id, &error).await,
                    }
                }
                Err(IntakeError::NotFound(id)) => return Err(IntakeError::NotFound(id)),
                Err(error) => return self.fail(pool, id, &error).await,
            }
        }
    }

    /// An operator's re-apply: a delivery that is unmatched, held, failed or dead is tried
    /// again now; an applied or ignored one is left as it is (re-applying is idempotent).
    pub async fn reapply(&self, pool: &DbPool, id: Uuid) -> Result<Attempt, IntakeError> {
        {
            let mut conn = pool.get().await?;
            if inbox::get(&mut conn, id).await?.is_none() {
                return Err(IntakeError::NotFound(id));
            }
            let now = self.now();
            inbox::reopen(&mut conn, id, now, self.lease_until(now)).await?;
        }
        self.apply(pool, id).await
    }

    /// One pass of the background job: up to `limit` due deliveries (received and not applied
    /// by their receiver, failed, unmatched), each tried once.
    pub async fn run_due(&self, pool: &DbPool, limit: i64) -> Result<RunReport, IntakeError> {
        let claimed = {
            let mut conn = pool.get().await?;
            let now = self.now();
            inbox::claim_due(&mut conn, now, self.lease_until(now), limit).await?
        };
        let mut report = RunReport {
            claimed: claimed.len(),
            ..RunReport::default()
        };
        for id in claimed {
            match self.apply(pool, id).await {
                Ok(attempt) => match attempt.status() {
                    Some(InboxStatus::Applied) => report.applied += 1,
                    Some(InboxStatus::Ignored) => report.ignored += 1,
                    Some(InboxStatus::Unmatched) => report.unmatched += 1,
                    Some(InboxStatus::Held) => report.held += 1,
                    Some(InboxStatus::Dead) => report.dead += 1,
                    Some(InboxStatus::Failed | InboxStatus::Received) | None => report.failed += 1,
                },
                Err(error) => {
                    tracing::error!(inbox_id = %id, %error, "inbox delivery could not be tried");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Drops raw bodies older than the retention, a batch at a time; returns how many.
    pub async fn prune(&self, pool: &DbPool, limit: i64) -> Result<usize, IntakeError> {
        let mut conn = pool.get().await?;
        let now = self.now();
        let before = now - duration(self.policy.retention);
        inbox::prune_bodies(&mut conn, before, now, limit).await
    }

    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + duration(self.policy.retry.lease())
    }

    /// Asks the provider how a subscription stands. Its API not configured, or a refusal to
    /// say (the subscription is unknown to it): an answer that holds the event for a person. An
    /// outage or a timeout: an error, and the attempt is retried.
    async fn ask(&self, question: &ProviderQuestion) -> Result<Answer, IntakeError> {
        let provider = question.provider;
        if !self.providers.has_api(provider) {
            return Ok(Answer::Unanswerable(format!(
                "PROVIDER_API_NOT_CONFIGURED: deciding this needs {provider}'s view of the \
                 subscription, and only its webhook verification is configured"
            )));
        }
        let id = question.provider_subscription_id.as_str();
        let asked = tokio::time::timeout(
            self.policy.ask_timeout,
            self.providers.subscription(provider, id),
        )
        .await
        .map_err(|_| IntakeError::ProviderTimeout(self.policy.ask_timeout.as_millis()))?;
        match asked {
            Ok(view) => Ok(Answer::View(view)),
            Err(error) if error.is_transient() => Err(error.into()),
            Err(error) => Ok(Answer::Unanswerable(format!(
                "{provider} would not say how subscription {id} stands: {error}"
            ))),
        }
    }

    /// One try at applying the delivery, all in one transaction; its provider and how it ended.
    async fn apply_answered(
        &self,
        pool: &DbPool,
        id: Uuid,
        answers: &HashMap<String, Answer>,
    ) -> Result<(ProviderName, Attempt), IntakeError> {
        let mut conn = pool.get().await?;
        conn.transaction(async |conn| {
            let Some(delivery) = inbox::lock(conn, id).await? else {
                return Err(IntakeError::NotFound(id));
            };
            if delivery.status.is_settled() {
                return Ok((delivery.provider, Attempt::AlreadySettled(delivery.status)));
            }
            let now = self.now();
            let mut matched = Matched {
                organization: delivery.organization_id,
                subscription: delivery.subscription_id,
            };
            let mut outcomes = Vec::with_capacity(delivery.events.len());
            for event in &delivery.events {
                let outcome = self
                    .apply_event(conn, &delivery, event, answers, &mut matched)
                    .await?;
                outcomes.push(outcome);
            }
            let status = aggregate(&outcomes);
            let next_attempt_at = (status == InboxStatus::Unmatched)
                .then(|| {
                    self.policy
                        .next_unmatched_attempt(delivery.received_at, now)
                })
                .flatten();
            let settlement = Settlement {
                status,
                outcomes: &outcomes,
                organization_id: matched.organization,
                subscription_id: matched.subscription,
                next_attempt_at,
                now,
            };
            inbox::settle(conn, id, &settlement).await?;
            Ok((delivery.provider, Attempt::Settled { status, outcomes }))
        })
        .await
    }

    async fn apply_event(
        &self,
        conn: &mut AsyncPgConnection,
        delivery: &inbox::InboxDelivery,
        event: &StoredEvent,
        answers: &HashMap<String, Answer>,
        matched: &mut Matched,
    ) -> Result<EventOutcome, IntakeError> {
        let outcome = |result, detail: String| EventOutcome::new(event, result, detail);
        let provider = delivery.provider;
        let route = decide::route(event);
        if let Route::Ignore(reason) = route {
            return Ok(outcome(EventResult::Ignored, reason.to_owned()));
        }
        if route == Route::Subscription {
            return self
                .subscription_event(conn, delivery, event, answers, matched)
                .await;
        }
        let organization = match locate::payment_organization(conn, provider, event).await? {
            Ok(organization) => organization,
            Err(located) => return Ok(not_located(located, matched, outcome)),
        };
        matched.organization = Some(organization);
        let now = self.now();
        let context = MoneyContext {
            ledger: &self.ledger,
            provider,
            event,
            inbox_id: delivery.id,
            organization,
            now,
        };
        match route {
            Route::Capture => capture::enqueue(conn, provider, event, organization, now).await,
            Route::TopUp => money::top_up(conn, &context).await,
            Route::Reversal(cause) => money::reversal(conn, &context, cause).await,
            Route::Dispute(step) => money::dispute(conn, &context, step).await,
            Route::Subscription | Route::Ignore(_) => Ok(outcome(
                EventResult::Ignored,
                "not a money event".to_owned(),
            )),
        }
    }

    async fn subscription_event(
        &self,
        conn: &mut AsyncPgConnection,
        delivery: &inbox::InboxDelivery,
        event: &StoredEvent,
        answers: &HashMap<String, Answer>,
        matched: &mut Matched,
    ) -> Result<EventOutcome, IntakeError> {
        let outcome = |result, detail: String| EventOutcome::new(event, result, detail);
        let provider = delivery.provider;
        let subscription = match locate::subscription(conn, provider, event).await? {
            Located::Subscription(subscription) => subscription,
            Located::Bind {
                subscription,
                provider_subscription_id,
            } => {
                self.bind(conn, &subscription, &provider_subscription_id)
                    .await?
            }
            other => return Ok(not_located(other, matched, outcome)),
        };
        matched.organization = Some(subscription.organization_id);
        matched.subscription = Some(subscription.id);
        if let Some(payment) = event.payment_reference.as_deref() {
            let now = self.now();
            locate::remember_payment(
                conn,
                provider,
                payment,
                PaymentKind::Subscription,
                subscription.organization_id,
                delivery.id,
                now,
            )
            .await?;
        }
        let answer = answers.get(&event.provider_event_id);
        let view = match answer {
            Some(Answer::View(view)) => Some(view),
            _ => None,
        };
        let plan = match decide::subscription_plan(event, &subscription.state, view) {
            SubscriptionPlan::Ask(_) => match answer {
                Some(Answer::Unanswerable(reason)) => SubscriptionPlan::Hold(reason.clone()),
                // Not asked yet: the transaction is rolled back, the provider asked, and the
                // delivery applied again with its answer.
                None => {
                    let provider_subscription_id = event
                        .provider_subscription_id
                        .clone()
                        .or_else(|| {
                            subscription
                                .provider
                                .as_ref()
                                .map(|p| p.subscription_id.clone())
                        })
                        .unwrap_or_default();
                    return Err(IntakeError::Ask(ProviderQuestion {
                        provider,
                        event_id: event.provider_event_id.clone(),
                        provider_subscription_id,
                    }));
                }
                Some(Answer::View(_)) => {
                    return Err(IntakeError::Changed(
                        "the subscription changed while its provider was asked".into(),
                    ));
                }
            },
            plan => plan,
        };
        let event_to_apply = match plan {
            SubscriptionPlan::Apply(event_to_apply) => event_to_apply,
            SubscriptionPlan::Ignore(reason) => return Ok(outcome(EventResult::Ignored, reason)),
            SubscriptionPlan::Hold(reason) => return Ok(outcome(EventResult::Held, reason)),
            SubscriptionPlan::Ask(_) => {
                return Err(IntakeError::Changed(
                    "the provider must be asked again".into(),
                ));
            }
        };
        let envelope = EventEnvelope {
            source: EventSource::parse(provider.as_str())?,
            event_id: EventId::parse(&event::storable_id(&event.provider_event_id, 200))?,
            occurred_at: event.occurred_at,
            precision: precision(provider),
            event: event_to_apply,
        };
        let applied = self
            .enforcer
            .apply(conn, subscription.id, &envelope)
            .await?;
        Ok(match applied.outcome {
            Outcome::Applied { transition } => outcome(
                EventResult::Applied,
                format!(
                    "subscription {} {} -> {}",
                    subscription.id, transition.from, transition.to
                ),
            ),
            Outcome::Ignored { reason } => outcome(
                EventResult::Ignored,
                format!("subscription {}: {}", subscription.id, reason.as_str()),
            ),
            Outcome::Stale { last_event_at } => outcome(
                EventResult::Stale,
                format!("older than the newest event the subscription has seen ({last_event_at})"),
            ),
            Outcome::Duplicate => outcome(
                EventResult::Duplicate,
                "the subscription already has this event".to_owned(),
            ),
        })
    }

    /// Binds a subscription created with a provisional provider id (PayHere's order id) to the
    /// provider's own id, whose first delivery just arrived.
    async fn bind(
        &self,
        conn: &mut AsyncPgConnection,
        subscription: &Subscription,
        provider_subscription_id: &str,
    ) -> Result<Subscription, IntakeError> {
        let expected: ProviderRef = subscription
            .provider
            .clone()
            .ok_or_else(|| IntakeError::Changed("the subscription lost its provider".into()))?;
        let bound = self
            .enforcer
            .subscriptions()
            .bind_provider_id(conn, subscription.id, &expected, provider_subscription_id)
            .await?;
        tracing::info!(
            event = "provider_subscription_bound",
            subscription = %subscription.id,
            provider = %expected.provider,
            from = %expected.subscription_id,
            to = provider_subscription_id,
            "subscription bound to the provider's own id"
        );
        Ok(bound)
    }

    async fn fail(
        &self,
        pool: &DbPool,
        id: Uuid,
        error: &IntakeError,
    ) -> Result<Attempt, IntakeError> {
        let now = self.now();
        let message = error.to_string();
        let policy = &self.policy;
        let mut conn = pool.get().await?;
        let recorded = conn
            .transaction(async |conn| {
                inbox::record_failure(
                    conn,
                    id,
                    &message,
                    |attempts| {
                        (u32::try_from(attempts).unwrap_or(u32::MAX) < policy.max_attempts).then(
                            || {
                                let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
                                now + duration(policy.retry.backoff(attempt, &mut rand::rng()))
                            },
                        )
                    },
                    now,
                )
                .await
            })
            .await?;
        let Some((delivery, status)) = recorded else {
            return Ok(Attempt::Busy);
        };
        metrics::outcome(delivery.provider, status);
        let attempts = delivery.attempts;
        if status == InboxStatus::Dead {
            tracing::error!(
                event = "inbox_dead_letter",
                provider = %delivery.provider,
                inbox_id = %id,
                delivery_id = %delivery.delivery_id,
                attempts,
                error = %message,
                "INBOX DEAD LETTER: {} delivery {} could not be applied after {attempts} \
                 attempts; re-apply it once the cause is fixed",
                delivery.provider,
                delivery.delivery_id,
            );
        } else {
            tracing::warn!(
                event = "inbox_attempt_failed",
                provider = %delivery.provider,
                inbox_id = %id,
                attempts,
                error = %message,
                "inbox delivery not applied yet; it is retried"
            );
        }
        Ok(Attempt::Failed {
            status,
            error: message,
        })
    }
}

/// What a delivery was matched to, kept on its row for operators.
struct Matched {
    organization: Option<OrganizationId>,
    subscription: Option<SubscriptionId>,
}

fn not_located(
    located: Located,
    matched: &mut Matched,
    outcome: impl Fn(EventResult, String) -> EventOutcome,
) -> EventOutcome {
    match located {
        Located::Unmatched {
            organization,
            reason,
        } => {
            matched.organization = matched.organization.or(organization);
            outcome(EventResult::Unmatched, reason)
        }
        Located::Conflict {
            organization,
            reason,
        } => {
            matched.organization = matched.organization.or(organization);
            outcome(EventResult::Held, reason)
        }
        Located::Subscription(_) | Located::Bind { .. } => {
            outcome(EventResult::Ignored, "found".to_owned())
        }
    }
}

/// A delivery's status from its events' outcomes: a person is needed if any event is held;
/// else it waits while any is unmatched; else it applied if anything applied.
fn aggregate(outcomes: &[EventOutcome]) -> InboxStatus {
    let any = |result: EventResult| outcomes.iter().any(|outcome| outcome.result == result);
    if any(EventResult::Held) {
        InboxStatus::Held
    } else if any(EventResult::Unmatched) {
        InboxStatus::Unmatched
    } else if any(EventResult::Applied) || any(EventResult::Duplicate) {
        InboxStatus::Applied
    } else {
        InboxStatus::Ignored
    }
}

/// The precision of each provider's event times: Stripe stamps whole seconds, PayPal's
/// `create_time` is sometimes written without milliseconds, PayHere events carry our own clock.
pub fn precision(provider: ProviderName) -> TimePrecision {
    match provider {
        ProviderName::Stripe | ProviderName::Paypal => TimePrecision::Second,
        ProviderName::Payhere => TimePrecision::Microsecond,
    }
}

fn duration(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}
