//! Carrying out the customer's actions: look up, decide ([`super::decide`]), call the provider
//! or apply the event, record the request, all so that a refusal or a provider failure leaves
//! nothing written.
//!
//! - Starting a subscription, a top-up checkout and a payment-method link call the provider
//!   **before** anything is written, with no database connection held, and with a provider
//!   idempotency key derived from the organization, the caller's key and the parameters: a
//!   retry after a crash or a provider error makes the same provider object. Only once the
//!   provider answered is the result committed with the request's record.
//! - Cancel, pause and resume change our state first (through [`Enforcer::apply`], source
//!   `customer`) and tell the provider through the outbox ([`ProviderCommand`]) in the same
//!   commit (G10).

use std::{fmt, sync::Arc};

use billing::{CreateSubscription, CreateTopUp, Payer, PaymentMethodLink, Providers};
use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, DbPool, schema::subscriptions as subscriptions_table};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use ledger::Ledger;
use outbox::{DedupeKey, Envelope};
use primitives::{Money, OrganizationId, ProviderName, SubscriptionId};
use serde::{Deserialize, Serialize};
use subscriptions::{
    EventEnvelope, EventId, EventSource, NewSubscription, Outcome, PlanCode, ProviderRef,
    Subscription, SubscriptionError, SubscriptionEvent, TimePrecision, lookup,
};
use uuid::Uuid;

use crate::{
    Enforcer, ProviderAction, ProviderCommand,
    customer::{
        CustomerConfig, CustomerError,
        decide::{
            self, ActionPlan, Fingerprint, RequestKind, SubscriptionAction, check_url, provider_key,
        },
        requests,
        top_ups::{self, TopUp, TopUpStatus},
    },
};

/// The source of the events customers cause (and operators acting for them).
pub const CUSTOMER_SOURCE: &str = "customer";

/// The customer actions over the enforcer, the ledger, the providers and the configured plan
/// catalog and top-up limits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CustomerActions {
    enforcer: Enforcer,
    ledger: Ledger,
    providers: Providers,
    config: Arc<CustomerConfig>,
}

/// Starting a subscription on a plan with a provider.
#[derive(Debug, Clone)]
pub struct StartSubscription {
    /// Our plan code (`BILLING_PLANS`).
    pub plan: String,
    pub provider: ProviderName,
    pub return_url: String,
    pub cancel_url: String,
    /// The provider's customer id, when the organization has one there (Stripe's `cus_...`;
    /// without it Stripe's adapter creates the customer).
    pub customer_id: Option<String>,
    /// Who pays (PayHere's checkout needs them).
    pub payer: Option<Payer>,
}

/// A self-service wallet top-up.
#[derive(Debug, Clone)]
pub struct StartTopUp {
    pub amount: Money,
    pub provider: ProviderName,
    pub return_url: String,
    pub cancel_url: String,
    pub customer_id: Option<String>,
    pub payer: Option<Payer>,
}

/// Where the customer goes to approve or pay: a URL, and the fields to post to it when the
/// provider starts with a form (PayHere). `Debug` names the form's fields only: it carries the
/// payer's name, email, phone and address.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub url: Option<String>,
    pub form: Option<Vec<(String, String)>>,
}

impl fmt::Debug for Approval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = self.form.as_ref().map(|fields| {
            fields
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
        });
        f.debug_struct("Approval")
            .field("url", &self.url)
            .field("form", &form)
            .finish()
    }
}

/// A subscription started (or the one this key started before).
#[derive(Debug, Clone)]
pub struct Started {
    /// As it is now: `pending` until the provider confirms through its webhook.
    pub subscription: Subscription,
    pub approval: Approval,
    pub replayed: bool,
}

/// A cancel, pause or resume carried out (or the one this key carried out before).
#[derive(Debug, Clone)]
pub struct Changed {
    /// As it is now.
    pub subscription: Subscription,
    /// Whether the request changed the subscription (`false`: it already was where asked).
    pub changed: bool,
    pub replayed: bool,
}

/// Where the customer updates the payment method.
#[derive(Debug, Clone)]
pub struct PaymentMethodPage {
    pub provider: ProviderName,
    pub url: String,
    pub replayed: bool,
}

/// A top-up checkout started (or the one this key started before).
#[derive(Debug, Clone)]
pub struct TopUpStarted {
    pub top_up: TopUp,
    pub replayed: bool,
}

#[derive(Serialize, Deserialize)]
struct StartAnswer {
    approval: Approval,
}

#[derive(Serialize, Deserialize)]
struct ChangeAnswer {
    changed: bool,
}

#[derive(Serialize, Deserialize)]
struct LinkAnswer {
    provider: ProviderName,
    url: String,
}

#[derive(Serialize, Deserialize)]
struct TopUpAnswer {}

impl CustomerActions {
    pub fn new(
        enforcer: Enforcer,
        ledger: Ledger,
        providers: Providers,
        config: CustomerConfig,
    ) -> Self {
        Self {
            enforcer,
            ledger,
            providers,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &CustomerConfig {
        &self.config
    }

    fn now(&self) -> DateTime<Utc> {
        self.enforcer.subscriptions().now()
    }

    /// Starts a `pending` subscription on `request.plan` with `request.provider`, answering
    /// where the customer approves it; the provider's webhook makes it active. A live
    /// subscription already there is [`SubscriptionError::AlreadyLive`]; the same `key` again
    /// answers the first result (`replayed`), with other parameters a conflict.
    pub async fn start(
        &self,
        pool: &DbPool,
        organization: OrganizationId,
        key: &str,
        request: StartSubscription,
    ) -> Result<Started, CustomerError> {
        let kind = RequestKind::StartSubscription;
        let plan = PlanCode::parse(request.plan.trim())?;
        let provider = request.provider;
        let provider_plan = self
            .config
            .plans
            .provider_plan(plan.as_str(), provider)
            .ok_or_else(|| CustomerError::PlanNotOffered {
                plan: plan.as_str().to_owned(),
                provider,
                offered: self.config.plans.offered_with(provider),
            })?
            .to_owned();
        let return_url = check_url("return_url", &request.return_url)?;
        let cancel_url = check_url("cancel_url", &request.cancel_url)?;
        let customer_id = customer_id(request.customer_id.as_deref())?;
        let payer = payer(provider, request.payer)?;
        self.require_api(provider)?;
        let mut parts = vec![
            Some(plan.as_str()),
            Some(provider.as_str()),
            Some(return_url.as_str()),
            Some(cancel_url.as_str()),
            customer_id.as_deref(),
        ];
        parts.extend(payer_parts(payer.as_ref()));
        let fingerprint = Fingerprint::of(kind, &parts);

        {
            let mut conn = pool.get().await?;
            if let Some(recorded) = requests::find(&mut conn, organization, key).await? {
                return self.replay_start(&mut conn, recorded, fingerprint).await;
            }
            // Refused before the provider makes anything.
            if let Some(live) = lookup::current_for_organization(&mut conn, organization)
                .await?
                .filter(|current| !current.state.status.is_terminal())
            {
                return Err(SubscriptionError::AlreadyLive {
                    organization,
                    existing: live.id,
                }
                .into());
            }
        }

        let create = CreateSubscription {
            plan_id: provider_plan,
            organization_ref: organization.to_string(),
            return_url: Some(return_url),
            cancel_url: Some(cancel_url),
            customer_id,
            payer,
            idempotency_key: provider_key(kind, organization, key, fingerprint),
        };
        let created = self
            .providers
            .create_subscription(provider, &create)
            .await
            .map_err(|error| CustomerError::from_provider(provider, error))?;
        let approval = Approval {
            url: created.approval_url.clone(),
            form: created.approval_form.clone(),
        };
        let reference = ProviderRef::new(provider, &created.provider_subscription_id)?;

        let mut conn = pool.get().await?;
        let now = self.now();
        let envelope = envelope(kind, organization, key, now, SubscriptionEvent::Created)?;
        let committed = conn
            .transaction(async |conn| {
                if !requests::claim(conn, organization, key, kind, fingerprint, now).await? {
                    return Ok(None);
                }
                let new = NewSubscription {
                    organization_id: organization,
                    plan,
                    provider: Some(reference),
                };
                let subscription = self
                    .enforcer
                    .subscriptions()
                    .create(conn, new, &envelope)
                    .await?;
                let answer = StartAnswer {
                    approval: approval.clone(),
                };
                requests::settle(
                    conn,
                    organization,
                    key,
                    Some(subscription.id),
                    None,
                    &answer,
                )
                .await?;
                Ok::<_, CustomerError>(Some(subscription))
            })
            .await?;
        let Some(subscription) = committed else {
            return self
                .replay_after_race(&mut conn, organization, key, fingerprint)
                .await;
        };
        tracing::info!(
            event = "customer_subscription_started",
            organization = %organization,
            subscription = %subscription.id,
            provider = provider.as_str(),
            plan = subscription.plan.as_str(),
            "subscription started, pending until {provider} confirms it"
        );
        Ok(Started {
            subscription,
            approval,
            replayed: false,
        })
    }

    async fn replay_start(
        &self,
        conn: &mut AsyncPgConnection,
        recorded: requests::Recorded,
        fingerprint: Fingerprint,
    ) -> Result<Started, CustomerError> {
        let (answer, recorded): (StartAnswer, _) =
            recorded.replay(RequestKind::StartSubscription, fingerprint)?;
        let subscription = recorded_subscription(conn, &recorded).await?;
        Ok(Started {
            subscription,
            approval: answer.approval,
            replayed: true,
        })
    }

    /// A concurrent request with the same key committed while this one called the provider:
    /// its answer (the provider made the same object for both).
    async fn replay_after_race(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        key: &str,
        fingerprint: Fingerprint,
    ) -> Result<Started, CustomerError> {
        let recorded = requests::find(conn, organization, key)
            .await?
            .ok_or_else(|| CustomerError::Corrupt("a claimed key has no record".into()))?;
        self.replay_start(conn, recorded, fingerprint).await
    }

    /// Cancels (now or at the period's end), pauses or resumes the organization's subscription:
    /// our state changes at once (a pause blocks access with the `customer` source, which only
    /// resuming lifts), and the provider is told through the outbox in the same commit.
    pub async fn change(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        key: &str,
        action: SubscriptionAction,
    ) -> Result<Changed, CustomerError> {
        let kind = action.kind();
        let fingerprint = Fingerprint::of(kind, &[]);
        let now = self.now();
        let done = conn
            .transaction(async |conn| {
                if !requests::claim(conn, organization, key, kind, fingerprint, now).await? {
                    return Ok(None);
                }
                let current = lookup::current_for_organization(conn, organization)
                    .await?
                    .ok_or(SubscriptionError::NotFound)?;
                let subscription = lock(conn, current.id).await?;
                let (subscription, changed) = match decide::plan_action(action, &subscription)? {
                    ActionPlan::Unchanged => (subscription, false),
                    ActionPlan::Apply(event) => (
                        self.apply(conn, &subscription, action, key, event).await?,
                        true,
                    ),
                };
                let answer = ChangeAnswer { changed };
                requests::settle(
                    conn,
                    organization,
                    key,
                    Some(subscription.id),
                    None,
                    &answer,
                )
                .await?;
                Ok::<_, CustomerError>(Some(Changed {
                    subscription,
                    changed,
                    replayed: false,
                }))
            })
            .await?;
        if let Some(changed) = done {
            tracing::info!(
                event = "customer_subscription_change",
                organization = %organization,
                subscription = %changed.subscription.id,
                action = kind.as_str(),
                changed = changed.changed,
                status = changed.subscription.state.status.as_str(),
                "customer {}",
                kind.description()
            );
            return Ok(changed);
        }
        let recorded = requests::find(conn, organization, key)
            .await?
            .ok_or_else(|| CustomerError::Corrupt("a claimed key has no record".into()))?;
        let (answer, recorded): (ChangeAnswer, _) = recorded.replay(kind, fingerprint)?;
        Ok(Changed {
            subscription: recorded_subscription(conn, &recorded).await?,
            changed: answer.changed,
            replayed: true,
        })
    }

    /// Applies the customer's event to the locked subscription and enqueues what the provider
    /// must be told, in the caller's transaction.
    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        subscription: &Subscription,
        action: SubscriptionAction,
        key: &str,
        event: SubscriptionEvent,
    ) -> Result<Subscription, CustomerError> {
        let organization = subscription.organization_id;
        let now = self.now();
        // Never stamped before the newest applied event (a provider's clock may run ahead of
        // ours), or the customer's own request would be discarded as stale.
        let occurred_at = subscription.last_event_at.map_or(now, |last| last.max(now));
        let envelope = envelope(action.kind(), organization, key, occurred_at, event)?;
        let applied = self
            .enforcer
            .apply(conn, subscription.id, &envelope)
            .await?;
        let transition = match &applied.outcome {
            Outcome::Applied { transition } => transition,
            // Decided under the row lock from the same state, so the state machine agrees.
            Outcome::Ignored { reason } => {
                return Err(CustomerError::StateConflict {
                    action: action.kind().as_str(),
                    status: subscription.state.status,
                    why: reason.explanation(),
                });
            }
            other => {
                return Err(CustomerError::Corrupt(format!(
                    "a customer's {} was {other:?}",
                    action.kind().as_str()
                )));
            }
        };
        if let (Some(provider), Some(event_row_id)) = (&subscription.provider, applied.event_row_id)
            && let Some(provider_action) =
                decide::provider_action(action, transition, provider.provider)
        {
            let command = ProviderCommand {
                organization_id: organization,
                subscription_id: Some(subscription.id),
                provider: provider.provider,
                target: provider.subscription_id.clone(),
                action: provider_action,
                reason: reason(provider_action).to_owned(),
                idempotency_key: format!("{}:{event_row_id}", provider_action.as_str()),
            };
            let dedupe = DedupeKey::parse(format!(
                "customer:{event_row_id}:{}",
                provider_action.as_str()
            ))
            .map_err(|error| CustomerError::Corrupt(error.to_string()))?;
            outbox::enqueue(
                conn,
                &command,
                Envelope::new(dedupe, now).for_organization(organization),
            )
            .await?;
        }
        Ok(applied.subscription)
    }

    /// A page of the subscription's provider where the customer changes how they pay (Stripe's
    /// billing portal, PayPal's subscription page). Nothing is written unless the provider
    /// answered.
    pub async fn payment_method_link(
        &self,
        pool: &DbPool,
        organization: OrganizationId,
        key: &str,
        return_url: &str,
    ) -> Result<PaymentMethodPage, CustomerError> {
        let kind = RequestKind::PaymentMethodLink;
        let return_url = check_url("return_url", return_url)?;
        let fingerprint = Fingerprint::of(kind, &[Some(return_url.as_str())]);
        let provider = {
            let mut conn = pool.get().await?;
            if let Some(recorded) = requests::find(&mut conn, organization, key).await? {
                let (answer, _): (LinkAnswer, _) = recorded.replay(kind, fingerprint)?;
                return Ok(PaymentMethodPage {
                    provider: answer.provider,
                    url: answer.url,
                    replayed: true,
                });
            }
            let subscription = lookup::current_for_organization(&mut conn, organization)
                .await?
                .ok_or(SubscriptionError::NotFound)?;
            if subscription.state.status.is_terminal() {
                return Err(CustomerError::StateConflict {
                    action: "update the payment method of",
                    status: subscription.state.status,
                    why: "it has ended: start a new subscription",
                });
            }
            subscription
                .provider
                .ok_or(CustomerError::NoProviderSubscription {
                    operation: "update a payment method",
                })?
        };
        self.require_api(provider.provider)?;
        let adapter = self
            .providers
            .provider(provider.provider)
            .map_err(|error| CustomerError::from_provider(provider.provider, error))?;
        let url = adapter
            .payment_method_link(&PaymentMethodLink {
                provider_subscription_id: provider.subscription_id.clone(),
                return_url,
            })
            .await
            .map_err(|error| CustomerError::from_provider(provider.provider, error))?;
        let answer = LinkAnswer {
            provider: provider.provider,
            url,
        };
        let mut conn = pool.get().await?;
        let now = self.now();
        let claimed = conn
            .transaction(async |conn| {
                if !requests::claim(conn, organization, key, kind, fingerprint, now).await? {
                    return Ok(false);
                }
                requests::settle(conn, organization, key, None, None, &answer).await?;
                Ok::<_, CustomerError>(true)
            })
            .await?;
        if !claimed {
            let recorded = requests::find(&mut conn, organization, key)
                .await?
                .ok_or_else(|| CustomerError::Corrupt("a claimed key has no record".into()))?;
            let (answer, _): (LinkAnswer, _) = recorded.replay(kind, fingerprint)?;
            return Ok(PaymentMethodPage {
                provider: answer.provider,
                url: answer.url,
                replayed: true,
            });
        }
        Ok(PaymentMethodPage {
            provider: answer.provider,
            url: answer.url,
            replayed: false,
        })
    }

    /// Starts a top-up checkout at the provider: an amount within the configured limits, in
    /// the wallet's currency. The wallet is credited only when the provider's verified
    /// completion webhook arrives (the intake), never by the customer coming back.
    pub async fn top_up(
        &self,
        pool: &DbPool,
        organization: OrganizationId,
        key: &str,
        request: StartTopUp,
    ) -> Result<TopUpStarted, CustomerError> {
        let kind = RequestKind::TopUp;
        let provider = request.provider;
        let amount = request.amount;
        decide::check_top_up(&self.config.top_up_limits, amount)?;
        let return_url = check_url("return_url", &request.return_url)?;
        let cancel_url = check_url("cancel_url", &request.cancel_url)?;
        let customer_id = customer_id(request.customer_id.as_deref())?;
        let payer = payer(provider, request.payer)?;
        self.require_api(provider)?;
        let decimal = amount.to_decimal_string();
        let mut parts = vec![
            Some(decimal.as_str()),
            Some(amount.currency().code()),
            Some(provider.as_str()),
            Some(return_url.as_str()),
            Some(cancel_url.as_str()),
            customer_id.as_deref(),
        ];
        parts.extend(payer_parts(payer.as_ref()));
        let fingerprint = Fingerprint::of(kind, &parts);

        {
            let mut conn = pool.get().await?;
            if let Some(recorded) = requests::find(&mut conn, organization, key).await? {
                return replay_top_up(&mut conn, organization, recorded, fingerprint).await;
            }
            let wallet = self
                .ledger
                .balance_of_organization(&mut conn, organization)
                .await?;
            decide::check_currency(wallet.currency, amount.currency())?;
        }

        let create = CreateTopUp {
            amount,
            organization_ref: organization.to_string(),
            return_url,
            cancel_url,
            description: format!("Wallet top-up, {amount}"),
            customer_id,
            payer,
            idempotency_key: provider_key(kind, organization, key, fingerprint),
        };
        let adapter = self
            .providers
            .provider(provider)
            .map_err(|error| CustomerError::from_provider(provider, error))?;
        let checkout = adapter
            .create_top_up(&create)
            .await
            .map_err(|error| CustomerError::from_provider(provider, error))?;

        let now = self.now();
        let top_up = TopUp {
            id: Uuid::now_v7(),
            organization_id: organization,
            provider,
            checkout_reference: checkout.checkout_reference,
            amount,
            status: TopUpStatus::Open,
            approval_url: checkout.approval_url,
            approval_form: checkout.approval_form,
            expires_at: checkout.expires_at,
            // What PostgreSQL keeps, so the answer equals what a later read shows.
            created_at: now,
            completed_at: None,
        };
        let mut conn = pool.get().await?;
        let claimed = conn
            .transaction(async |conn| {
                if !requests::claim(conn, organization, key, kind, fingerprint, now).await? {
                    return Ok(false);
                }
                top_ups::insert(conn, &top_up, key).await?;
                requests::settle(
                    conn,
                    organization,
                    key,
                    None,
                    Some(top_up.id),
                    &TopUpAnswer {},
                )
                .await?;
                Ok::<_, CustomerError>(true)
            })
            .await?;
        if !claimed {
            let recorded = requests::find(&mut conn, organization, key)
                .await?
                .ok_or_else(|| CustomerError::Corrupt("a claimed key has no record".into()))?;
            return replay_top_up(&mut conn, organization, recorded, fingerprint).await;
        }
        tracing::info!(
            event = "customer_top_up_started",
            organization = %organization,
            top_up = %top_up.id,
            provider = provider.as_str(),
            amount = %amount,
            "top-up checkout created; the wallet is credited when {provider} confirms payment"
        );
        // Read back: the stored times are what later reads show.
        let top_up = top_ups::get(&mut conn, organization, top_up.id).await?;
        Ok(TopUpStarted {
            top_up,
            replayed: false,
        })
    }

    /// The organization's top-up `id`.
    pub async fn top_up_details(
        &self,
        conn: &mut AsyncPgConnection,
        organization: OrganizationId,
        id: Uuid,
    ) -> Result<TopUp, CustomerError> {
        top_ups::get(conn, organization, id).await
    }

    /// The provider must be configured here with API credentials.
    fn require_api(&self, provider: ProviderName) -> Result<(), CustomerError> {
        if self.providers.has_api(provider) {
            Ok(())
        } else {
            Err(CustomerError::ProviderNotConfigured { provider })
        }
    }
}

async fn replay_top_up(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    recorded: requests::Recorded,
    fingerprint: Fingerprint,
) -> Result<TopUpStarted, CustomerError> {
    let (TopUpAnswer {}, recorded) = recorded.replay(RequestKind::TopUp, fingerprint)?;
    let id = recorded
        .top_up_id
        .ok_or_else(|| CustomerError::Corrupt("a top-up request without its top-up".into()))?;
    Ok(TopUpStarted {
        top_up: top_ups::get(conn, organization, id).await?,
        replayed: true,
    })
}

async fn recorded_subscription(
    conn: &mut AsyncPgConnection,
    recorded: &requests::Recorded,
) -> Result<Subscription, CustomerError> {
    let id = recorded
        .subscription_id
        .ok_or_else(|| CustomerError::Corrupt("a subscription request without one".into()))?;
    Ok(lookup::get(conn, id).await?)
}

/// Locks the subscription's row for the rest of the transaction and reads it under the lock.
async fn lock(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<Subscription, CustomerError> {
    subscriptions_table::table
        .find(id.as_uuid())
        .select(subscriptions_table::id)
        .for_update()
        .first::<Uuid>(conn)
        .await
        .map_err(SubscriptionError::from)?;
    Ok(lookup::get(conn, id).await?)
}

fn envelope(
    kind: RequestKind,
    organization: OrganizationId,
    key: &str,
    occurred_at: DateTime<Utc>,
    event: SubscriptionEvent,
) -> Result<EventEnvelope, CustomerError> {
    Ok(EventEnvelope {
        source: EventSource::parse(CUSTOMER_SOURCE)?,
        event_id: EventId::parse(&decide::event_id(kind, organization, key))?,
        occurred_at,
        precision: TimePrecision::Microsecond,
        event,
    })
}

/// Why, as the provider is told (PayPal records it).
const fn reason(action: ProviderAction) -> &'static str {
    match action {
        ProviderAction::Cancel => "canceled by the customer",
        ProviderAction::CancelAtPeriodEnd => "canceled by the customer at the end of the period",
        ProviderAction::Pause => "paused by the customer",
        ProviderAction::Resume => "resumed by the customer",
        ProviderAction::CaptureTopUp => "wallet top-up approved by the customer",
    }
}

/// The provider's customer id, when given: 1 to 200 visible ASCII characters.
fn customer_id(value: Option<&str>) -> Result<Option<String>, CustomerError> {
    match value.map(str::trim) {
        Some(id)
            if !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(id.to_owned()))
        }
        Some(_) => Err(CustomerError::invalid(
            "customer_id",
            "must be 1 to 200 visible ASCII characters",
        )),
        None => Ok(None),
    }
}

/// The payer: PayHere's checkout needs every field; elsewhere it is passed on when given.
fn payer(provider: ProviderName, payer: Option<Payer>) -> Result<Option<Payer>, CustomerError> {
    let Some(payer) = payer else {
        if provider == ProviderName::Payhere {
            return Err(CustomerError::invalid(
                "payer_first_name",
                "PayHere's checkout needs the payer: payer_first_name, payer_last_name, \
                 payer_email, payer_phone, payer_address, payer_city, payer_country",
            ));
        }
        return Ok(None);
    };
    let fields = [
        ("payer_first_name", &payer.first_name),
        ("payer_last_name", &payer.last_name),
        ("payer_email", &payer.email),
        ("payer_phone", &payer.phone),
        ("payer_address", &payer.address),
        ("payer_city", &payer.city),
        ("payer_country", &payer.country),
    ];
    for (field, value) in fields {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
            return Err(CustomerError::invalid(
                field,
                "must be 1 to 200 characters without control characters",
            ));
        }
    }
    let trim = |value: &str| value.trim().to_owned();
    Ok(Some(Payer {
        first_name: trim(&payer.first_name),
        last_name: trim(&payer.last_name),
        email: trim(&payer.email),
        phone: trim(&payer.phone),
        address: trim(&payer.address),
        city: trim(&payer.city),
        country: trim(&payer.country),
    }))
}

fn payer_parts(payer: Option<&Payer>) -> Vec<Option<&str>> {
    match payer {
        None => vec![None],
        Some(payer) => [
            &payer.first_name,
            &payer.last_name,
            &payer.email,
            &payer.phone,
            &payer.address,
            &payer.city,
            &payer.country,
        ]
        .into_iter()
        .map(|value| Some(value.as_str()))
        .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_payer() -> Payer {
        Payer {
            first_name: " Saman ".into(),
            last_name: "Perera".into(),
            email: "saman@example.lk".into(),
            phone: "0771234567".into(),
            address: "No. 1, Galle Road".into(),
            city: "Colombo".into(),
            country: "Sri Lanka".into(),
        }
    }

    #[test]
    fn payhere_needs_a_complete_payer_and_customer_ids_are_visible_ascii() {
        let error = payer(ProviderName::Payhere, None).unwrap_err();
        assert!(matches!(
            error,
            CustomerError::Invalid {
                field: "payer_first_name",
                ..
            }
        ));
        let mut partial = a_payer();
        partial.city = " ".into();
        let error = payer(ProviderName::Payhere, Some(partial)).unwrap_err();
        assert!(matches!(
            error,
            CustomerError::Invalid {
                field: "payer_city",
                ..
            }
        ));
        let trimmed = payer(ProviderName::Payhere, Some(a_payer()))
            .unwrap()
            .unwrap();
        assert_eq!(trimmed.first_name, "Saman");
        assert!(payer(ProviderName::Stripe, None).unwrap().is_none());

        assert_eq!(customer_id(None).unwrap(), None);
        assert_eq!(customer_id(Some(" cus_1 ")).unwrap(), Some("cus_1".into()));
        assert!(customer_id(Some("cus 1")).is_err());
        assert!(customer_id(Some(" ")).is_err());
    }

    #[test]
    fn approvals_show_form_field_names_only() {
        let approval = Approval {
            url: Some("https://sandbox.payhere.lk/pay/checkout".into()),
            form: Some(vec![("email".into(), "saman@example.lk".into())]),
        };
        let shown = format!("{approval:?}");
        assert!(shown.contains("\"email\""), "{shown}");
        assert!(!shown.contains("saman@"), "{shown}");
    }
}
