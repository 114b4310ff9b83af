//! Creating subscriptions and applying events to them: dedupe, staleness, the transition, its
//! history and its access-block effects, in the caller's transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::subscriptions};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use primitives::{Clock, OrganizationId, SubscriptionId};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    Context, Decision, Effect, EventEnvelope, EventKind, IgnoreReason, LifecyclePolicy,
    SubscriptionError, SubscriptionEvent, SubscriptionState, SubscriptionStatus, Transition,
    access::{self, BlockChange},
    decide, lookup,
    model::{PlanCode, ProviderRef, Subscription},
    next_due,
    store::{self, NewEventRow, NewTransitionRow, SubscriptionRow},
};

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The state changed (possibly to the same status); the effects are still to be carried out
    /// by the caller, except access blocks, which are done.
    Applied { transition: Transition },
    /// Recorded; the state machine ignores this event in this state.
    Ignored { reason: IgnoreReason },
    /// Recorded; older than the newest applied event (compared at the event's precision), so
    /// it changes nothing.
    Stale { last_event_at: DateTime<Utc> },
    /// This (source, event id) was seen before; nothing was recorded or changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub subscription: Subscription,
    /// The stored event row (absent for a duplicate); effects derive their dedupe keys from it.
    pub event_row_id: Option<Uuid>,
    pub outcome: Outcome,
}

impl Applied {
    pub fn effects(&self) -> &[Effect] {
        match &self.outcome {
            Outcome::Applied { transition } => &transition.effects,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub organization_id: OrganizationId,
    pub plan: PlanCode,
    pub provider: Option<ProviderRef>,
}

/// The subscriptions domain service: its clock and lifecycle policy.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    clock: Arc<dyn Clock>,
    policy: LifecyclePolicy,
}

impl Subscriptions {
    pub fn new(clock: Arc<dyn Clock>, policy: LifecyclePolicy) -> Self {
        Self { clock, policy }
    }

    pub fn policy(&self) -> &LifecyclePolicy {
        &self.policy
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Creates a pending subscription, recording the creation as event `(source, event_id)`.
    /// Repeating the same creation event returns the subscription it created.
    pub async fn create(
        &self,
        conn: &mut AsyncPgConnection,
        new: NewSubscription,
        created: &EventEnvelope,
    ) -> Result<Subscription, SubscriptionError> {
        if created.event != SubscriptionEvent::Created {
            return Err(SubscriptionError::invalid(
                "event",
                "creation needs a `created` event",
            ));
        }
        conn.transaction(async |conn| {
            if let Some(known) = lookup::event(conn, &created.source, &created.event_id).await? {
                if known.kind != EventKind::Created {
                    return Err(SubscriptionError::EventIdTaken { kind: known.kind });
                }
                return store::load(conn, known.subscription_id).await;
            }
            lookup::require_organization(conn, new.organization_id).await?;
            let subscription = self.insert(conn, &new).await?;
            let event_row_id = self
                .record(conn, &subscription, created, "applied", None)
                .await?
                .ok_or_else(|| SubscriptionError::Corrupt("creation event raced".into()))?;
            let change = (None, subscription.state.status);
            record_history(
                conn,
                &subscription,
                event_row_id,
                created,
                change,
                &[],
                self.now(),
            )
            .await?;
            Ok(subscription)
        })
        .await
    }

    async fn insert(
        &self,
        conn: &mut AsyncPgConnection,
        new: &NewSubscription,
    ) -> Result<Subscription, SubscriptionError> {
        let now = self.now();
        let id = SubscriptionId::new();
        let provider = new.provider.as_ref();
        // DO NOTHING rather than catching a unique violation, which would abort the caller's
        // transaction; the reason is looked up afterwards.
        let row = diesel::insert_into(subscriptions::table)
            .values((
                subscriptions::id.eq(id.as_uuid()),
                subscriptions::organization_id.eq(new.organization_id.as_uuid()),
                subscriptions::plan.eq(new.plan.as_str()),
                subscriptions::provider.eq(provider.map(|p| p.provider.as_str())),
                subscriptions::provider_subscription_id
                    .eq(provider.map(|p| p.subscription_id.as_str())),
                subscriptions::status.eq(SubscriptionState::new().status.as_str()),
                subscriptions::created_at.eq(now),
                subscriptions::updated_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .returning(SubscriptionRow::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match row {
            Some(row) => row.into_subscription(),
            None => Err(self.conflict(conn, new).await?),
        }
    }

    async fn conflict(
        &self,
        conn: &mut AsyncPgConnection,
        new: &NewSubscription,
    ) -> Result<SubscriptionError, SubscriptionError> {
        let live = lookup::current_for_organization(conn, new.organization_id)
            .await?
            .filter(|existing| !existing.state.status.is_terminal());
        Ok(match live {
            Some(existing) => SubscriptionError::AlreadyLive {
                organization: new.organization_id,
                existing: existing.id,
            },
            None => SubscriptionError::ProviderIdTaken,
        })
    }

    /// Applies one event to one subscription. Runs in a transaction (a savepoint inside the
    /// caller's), holding the subscription's row lock, so concurrent events never lose updates.
    pub async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        subscription_id: SubscriptionId,
        envelope: &EventEnvelope,
    ) -> Result<Applied, SubscriptionError> {
        conn.transaction(async |conn| {
            let subscription = store::lock(conn, subscription_id).await?;
            let source = envelope.source.as_str();
            if store::known_event(conn, source, envelope.event_id.as_str())
                .await?
                .is_some()
            {
                return Ok(duplicate(subscription));
            }
            if let Some(last_event_at) = subscription
                .last_event_at
                .filter(|last| envelope.is_older_than(*last))
            {
                let row = self
                    .record(
                        conn,
                        &subscription,
                        envelope,
                        "stale",
                        Some("older than the last applied event at the event's precision"),
                    )
                    .await?;
                let Some(event_row_id) = row else {
                    return Ok(duplicate(subscription));
                };
                return Ok(Applied {
                    subscription,
                    event_row_id: Some(event_row_id),
                    outcome: Outcome::Stale { last_event_at },
                });
            }
            let context = Context {
                occurred_at: envelope.occurred_at,
                policy: &self.policy,
            };
            match decide(&subscription.state, &envelope.event, &context) {
                Decision::Ignored { reason } => {
                    let row = self
                        .record(
                            conn,
                            &subscription,
                            envelope,
                            "ignored",
                            Some(reason.as_str()),
                        )
                        .await?;
                    Ok(Applied {
                        subscription,
                        event_row_id: row,
                        outcome: row.map_or(Outcome::Duplicate, |_| Outcome::Ignored { reason }),
                    })
                }
                Decision::Transition(transition) => {
                    self.commit_transition(conn, subscription, envelope, transition)
                        .await
                }
            }
        })
        .await
    }

    async fn commit_transition(
        &self,
        conn: &mut AsyncPgConnection,
        subscription: Subscription,
        envelope: &EventEnvelope,
        transition: Transition,
    ) -> Result<Applied, SubscriptionError> {
        let Some(event_row_id) = self
            .record(conn, &subscription, envelope, "applied", None)
            .await?
        else {
            return Ok(duplicate(subscription));
        };
        let now = self.now();
        let next = next_due(&transition.state, &self.policy).map(|(_, at)| at);
        // An event tied at a coarser precision may be stamped before the newest applied one:
        // the newest time stays, or an older event could pass as fresh afterwards.
        let last_event_at = subscription
            .last_event_at
            .map_or(envelope.occurred_at, |last| last.max(envelope.occurred_at));
        let saved = store::save_state(
            conn,
            subscription.id,
            &transition.state,
            next,
            last_event_at,
            now,
        )
        .await?;
        record_history(
            conn,
            &subscription,
            event_row_id,
            envelope,
            (Some(transition.from), transition.to),
            &transition.effects,
            now,
        )
        .await?;
        apply_blocks(conn, &subscription, envelope, &transition, now).await?;
        Ok(Applied {
            subscription: saved,
            event_row_id: Some(event_row_id),
            outcome: Outcome::Applied { transition },
        })
    }

    /// Binds the subscription to the provider's own subscription id in place of a provisional
    /// one (PayHere's checkout order id `SUB-...`, known before the provider names the
    /// subscription), under the row lock. The stored reference must be `expected_current`
    /// (else [`SubscriptionError::Invalid`] on `expected_current`: someone else bound it, or it
    /// is another subscription); the provider stays the same and the new pair must be free (else
    /// [`SubscriptionError::ProviderIdTaken`]). Binding again to the id already bound returns the
    /// subscription unchanged, so a retried call is harmless.
    ///
    /// Recorded like an event that changes no status: a `provider_id_bound` row in the event
    /// log (source `binding`, outcome `applied`, detail `<provider> <old> -> <new>`) and its
    /// entry in the transition history (same status on both sides, no effects).
    pub async fn bind_provider_id(
        &self,
        conn: &mut AsyncPgConnection,
        subscription_id: SubscriptionId,
        expected_current: &ProviderRef,
        new_id: &str,
    ) -> Result<Subscription, SubscriptionError> {
        let bound = ProviderRef::new(expected_current.provider, new_id)?;
        conn.transaction(async |conn| {
            let subscription = store::lock(conn, subscription_id).await?;
            match &subscription.provider {
                Some(current) if *current == bound => return Ok(subscription),
                Some(current) if current == expected_current => {}
                _ => {
                    return Err(SubscriptionError::invalid(
                        "expected_current",
                        "the subscription is not bound to this provider subscription id",
                    ));
                }
            }
            let taken = lookup::find_by_provider(conn, &bound).await?;
            if taken.is_some_and(|other| other.id != subscription.id) {
                return Err(SubscriptionError::ProviderIdTaken);
            }
            let now = self.now();
            store::set_provider_subscription_id(conn, subscription.id, new_id, now).await?;
            let detail = format!(
                "{} {} -> {new_id}",
                bound.provider.as_str(),
                expected_current.subscription_id
            );
            let payload = serde_json::json!({
                "kind": BINDING_KIND,
                "provider": bound.provider,
                "previous": expected_current.subscription_id,
                "bound": new_id,
            });
            let event_id = Uuid::now_v7().to_string();
            let event_row_id = store::record_event(
                conn,
                NewEventRow {
                    id: Uuid::now_v7(),
                    subscription_id: subscription.id.as_uuid(),
                    source: BINDING_SOURCE,
                    event_id: &event_id,
                    kind: BINDING_KIND,
                    occurred_at: now,
                    received_at: now,
                    outcome: "applied",
                    detail: Some(&detail),
                    payload,
                },
            )
            .await?
            .ok_or_else(|| SubscriptionError::Corrupt("binding event id raced".into()))?;
            let status = subscription.state.status.as_str();
            store::record_transition(
                conn,
                NewTransitionRow {
                    id: Uuid::now_v7(),
                    subscription_id: subscription.id.as_uuid(),
                    event_row_id,
                    from_status: Some(status),
                    to_status: status,
                    event_kind: BINDING_KIND,
                    source: BINDING_SOURCE,
                    effects: serde_json::json!([]),
                    occurred_at: now,
                    recorded_at: now,
                },
            )
            .await?;
            store::load(conn, subscription.id).await
        })
        .await
    }

    async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        subscription: &Subscription,
        envelope: &EventEnvelope,
        outcome: &str,
        detail: Option<&str>,
    ) -> Result<Option<Uuid>, SubscriptionError> {
        let payload = serde_json::to_value(&envelope.event)
            .map_err(|error| SubscriptionError::Corrupt(format!("event payload: {error}")))?;
        store::record_event(
            conn,
            NewEventRow {
                id: Uuid::now_v7(),
                subscription_id: subscription.id.as_uuid(),
                source: envelope.source.as_str(),
                event_id: envelope.event_id.as_str(),
                kind: envelope.event.kind().as_str(),
                occurred_at: envelope.occurred_at,
                received_at: self.now(),
                outcome,
                detail,
                payload,
            },
        )
        .await
    }
}

/// The event-log source and kind of a provider id binding: not a lifecycle event (no transition
/// table row), but history like one.
const BINDING_SOURCE: &str = "binding";
const BINDING_KIND: &str = "provider_id_bound";

fn duplicate(subscription: Subscription) -> Applied {
    Applied {
        subscription,
        event_row_id: None,
        outcome: Outcome::Duplicate,
    }
}

async fn record_history(
    conn: &mut AsyncPgConnection,
    subscription: &Subscription,
    event_row_id: Uuid,
    envelope: &EventEnvelope,
    (from, to): (Option<SubscriptionStatus>, SubscriptionStatus),
    effects: &[Effect],
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    let effects = serde_json::to_value(effects)
        .map_err(|error| SubscriptionError::Corrupt(format!("effects: {error}")))?;
    store::record_transition(
        conn,
        NewTransitionRow {
            id: Uuid::now_v7(),
            subscription_id: subscription.id.as_uuid(),
            event_row_id,
            from_status: from.map(|status| status.as_str()),
            to_status: to.as_str(),
            event_kind: envelope.event.kind().as_str(),
            source: envelope.source.as_str(),
            effects,
            occurred_at: envelope.occurred_at,
            recorded_at: now,
        },
    )
    .await
}

/// Access blocks live in this crate, so their effects are carried out here, in the same
/// transaction as the state change.
async fn apply_blocks(
    conn: &mut AsyncPgConnection,
    subscription: &Subscription,
    envelope: &EventEnvelope,
    transition: &Transition,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    let reason = format!(
        "subscription {} after {}",
        transition.to,
        envelope.event.kind()
    );
    let actor = format!("system:subscriptions:{}", envelope.source);
    for effect in &transition.effects {
        match *effect {
            Effect::Block { source } => {
                let change = BlockChange::new(source, &reason, &actor)?;
                access::block_known(conn, subscription.organization_id, &change, now).await?;
            }
            Effect::Unblock { source } => {
                let change = BlockChange::new(source, &reason, &actor)?;
                access::unblock_known(conn, subscription.organization_id, &change, now).await?;
            }
            _ => {}
        }
    }
    Ok(())
}
