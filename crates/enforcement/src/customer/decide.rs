//! What a customer action may do, decided from the subscription (or the request) alone: pure
//! functions, so every rule is a unit test. [`super::CustomerActions`] looks things up, calls
//! these, and carries out the plan.

use billing::ProviderSubscriptionStatus;
use primitives::{Currency, Money, OrganizationId, ProviderName};
use sha2::{Digest, Sha256};
use subscriptions::{
    CancelMode, Subscription, SubscriptionEvent, SubscriptionStatus as S, Transition,
};

use crate::{ProviderAction, customer::CustomerError, customer::config::TopUpLimits};

/// What an `Idempotency-Key` was used for: stored with it, so the same key for another kind of
/// request is a conflict, never a silent replay of something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    StartSubscription,
    Cancel,
    CancelAtPeriodEnd,
    Pause,
    Resume,
    PaymentMethodLink,
    TopUp,
}

impl RequestKind {
    pub const ALL: [Self; 7] = [
        Self::StartSubscription,
        Self::Cancel,
        Self::CancelAtPeriodEnd,
        Self::Pause,
        Self::Resume,
        Self::PaymentMethodLink,
        Self::TopUp,
    ];

    /// The stored name (also part of the subscription event ids): never changes.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StartSubscription => "start_subscription",
            Self::Cancel => "cancel",
            Self::CancelAtPeriodEnd => "cancel_at_period_end",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::PaymentMethodLink => "payment_method_link",
            Self::TopUp => "top_up",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// For the caller, in a conflict's detail.
    pub const fn description(self) -> &'static str {
        match self {
            Self::StartSubscription => "starting a subscription",
            Self::Cancel => "canceling the subscription",
            Self::CancelAtPeriodEnd => "canceling the subscription at the period's end",
            Self::Pause => "pausing the subscription",
            Self::Resume => "resuming the subscription",
            Self::PaymentMethodLink => "a payment-method link",
            Self::TopUp => "a wallet top-up",
        }
    }
}

/// What the customer asks of their live subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    Cancel { at_period_end: bool },
    Pause,
    Resume,
}

impl SubscriptionAction {
    pub const fn kind(self) -> RequestKind {
        match self {
            Self::Cancel {
                at_period_end: false,
            } => RequestKind::Cancel,
            Self::Cancel {
                at_period_end: true,
            } => RequestKind::CancelAtPeriodEnd,
            Self::Pause => RequestKind::Pause,
            Self::Resume => RequestKind::Resume,
        }
    }

    const fn verb(self) -> &'static str {
        match self {
            Self::Cancel { .. } => "cancel",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
}

/// What an action does to the subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPlan {
    /// The subscription already is where the customer asks (paused, canceled ...): nothing to
    /// apply, nothing to tell the provider.
    Unchanged,
    /// Apply this event (source `customer`); the provider is told what the transition calls
    /// for ([`provider_action`]).
    Apply(SubscriptionEvent),
}

/// Whether `action` may be carried out on `subscription`, and how. A refusal is
/// [`CustomerError::StateConflict`] (or [`CustomerError::OperationUnsupported`] when the
/// subscription's provider cannot be told).
pub fn plan_action(
    action: SubscriptionAction,
    subscription: &Subscription,
) -> Result<ActionPlan, CustomerError> {
    let state = &subscription.state;
    let refuse = |why: &'static str| {
        Err(CustomerError::StateConflict {
            action: action.verb(),
            status: state.status,
            why,
        })
    };
    let plan = match (action, state.status) {
        // Ended is where a cancellation leads: asking again changes nothing.
        (SubscriptionAction::Cancel { .. }, S::Canceled | S::Expired) => ActionPlan::Unchanged,
        (
            SubscriptionAction::Cancel {
                at_period_end: true,
            },
            _,
        ) if state.cancel_at_period_end => ActionPlan::Unchanged,
        (SubscriptionAction::Cancel { at_period_end }, _) => {
            ActionPlan::Apply(SubscriptionEvent::Canceled {
                mode: if at_period_end {
                    CancelMode::AtPeriodEnd
                } else {
                    CancelMode::Immediately
                },
            })
        }
        (SubscriptionAction::Pause, S::Paused) => ActionPlan::Unchanged,
        (SubscriptionAction::Pause, S::Active | S::Trialing) if state.dunning.is_some() => {
            return refuse("a payment failed and is being retried: pay first");
        }
        (SubscriptionAction::Pause, S::Active | S::Trialing) => {
            ActionPlan::Apply(SubscriptionEvent::Paused)
        }
        (SubscriptionAction::Pause, S::Pending) => {
            return refuse("it has not started: approve or pay it first, or cancel it");
        }
        (SubscriptionAction::Pause, S::PastDue | S::Suspended) => {
            return refuse("a payment is owed: pay first");
        }
        (SubscriptionAction::Pause | SubscriptionAction::Resume, S::Canceled | S::Expired) => {
            return refuse("it has ended: start a new subscription");
        }
        (SubscriptionAction::Resume, S::Paused) => ActionPlan::Apply(SubscriptionEvent::Resumed),
        (SubscriptionAction::Resume, S::Active | S::Trialing) => ActionPlan::Unchanged,
        (SubscriptionAction::Resume, S::Pending | S::PastDue | S::Suspended) => {
            return refuse("only a paused subscription can be resumed");
        }
    };
    if let (ActionPlan::Apply(_), SubscriptionAction::Pause) = (&plan, action)
        && let Some(provider) = &subscription.provider
        && !can_pause(provider.provider)
    {
        return Err(CustomerError::OperationUnsupported {
            provider: provider.provider,
            operation: "pausing a subscription",
        });
    }
    Ok(plan)
}

/// Whether the provider can stop and restart collecting on a subscription. PayHere's API has
/// only cancel: a pause there would leave the customer charged while blocked, so it is refused
/// before anything changes.
pub const fn can_pause(provider: ProviderName) -> bool {
    !matches!(provider, ProviderName::Payhere)
}

/// What `provider` must be told after `transition` (a customer's event applied): a
/// cancellation at period end that ended the subscription at once (nothing left of its period)
/// is a plain cancel there; a resume where nothing could be paused (PayHere) is nothing.
pub fn provider_action(
    action: SubscriptionAction,
    transition: &Transition,
    provider: ProviderName,
) -> Option<ProviderAction> {
    match action {
        SubscriptionAction::Cancel {
            at_period_end: true,
        } if transition.to != S::Canceled => Some(ProviderAction::CancelAtPeriodEnd),
        SubscriptionAction::Cancel { .. } => Some(ProviderAction::Cancel),
        SubscriptionAction::Pause => Some(ProviderAction::Pause),
        SubscriptionAction::Resume => can_pause(provider).then_some(ProviderAction::Resume),
    }
}

/// Whether the provider's subscription already is where `action` leads, so a refusal to do it
/// again (PayPal's `SUBSCRIPTION_STATUS_INVALID` on a second cancel) means it is done.
pub fn already_done(action: ProviderAction, status: ProviderSubscriptionStatus) -> bool {
    use ProviderSubscriptionStatus as P;
    match action {
        ProviderAction::Cancel | ProviderAction::CancelAtPeriodEnd => {
            matches!(status, P::Canceled | P::Expired)
        }
        ProviderAction::Pause => matches!(status, P::Paused | P::Suspended),
        ProviderAction::Resume => matches!(status, P::Active | P::Trialing),
        ProviderAction::CaptureTopUp => false,
    }
}

/// A top-up's amount must be in a currency top-ups are offered in, within its limits.
pub fn check_top_up(limits: &TopUpLimits, amount: Money) -> Result<(), CustomerError> {
    let currency = amount.currency();
    let Some((min, max)) = limits.range(currency) else {
        return Err(CustomerError::CurrencyNotOffered {
            currency: currency.code().to_owned(),
            offered: limits.currencies(),
        });
    };
    if amount.minor() < min.minor() || amount.minor() > max.minor() {
        return Err(CustomerError::AmountOutOfRange {
            requested: amount,
            min,
            max,
        });
    }
    Ok(())
}

/// The wallet credits only its own currency (the intake holds any other), so a top-up in
/// another one is refused before the customer pays it.
pub fn check_currency(wallet: Currency, requested: Currency) -> Result<(), CustomerError> {
    if wallet == requested {
        Ok(())
    } else {
        Err(CustomerError::Ledger(
            ledger::LedgerError::CurrencyMismatch { wallet, requested },
        ))
    }
}

/// A URL the provider sends the customer to: absolute `http` or `https`, at most 2000
/// characters.
pub fn check_url(field: &'static str, value: &str) -> Result<String, CustomerError> {
    let value = value.trim();
    if value.is_empty() || value.len() > 2000 {
        return Err(CustomerError::invalid(
            field,
            "must be an absolute http(s) URL of at most 2000 characters",
        ));
    }
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(CustomerError::invalid(
            field,
            "must be an absolute http(s) URL of at most 2000 characters",
        )),
    }
}

/// What a request asked for, hashed: the same `Idempotency-Key` with the same fingerprint is a
/// retry, with another one a conflict. Each part is length-prefixed, so no two different
/// requests can hash the same way by moving a separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(kind: RequestKind, parts: &[Option<&str>]) -> Self {
        let mut hash = Sha256::new();
        hash.update(kind.as_str().as_bytes());
        for part in parts {
            match part {
                Some(part) => {
                    hash.update(b"s");
                    hash.update((part.len() as u64).to_be_bytes());
                    hash.update(part.as_bytes());
                }
                None => hash.update(b"n"),
            }
        }
        Self(hash.finalize().into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The idempotency key sent to the provider for a synchronous call (creating a subscription, a
/// checkout, a portal session): derived from the organization, the caller's key and what was
/// asked, so a retry after a crash or a provider error makes the same provider object, and the
/// same key with other parameters (refused with nothing written) never collides with it.
/// At most 75 characters (PayPal's `PayPal-Request-Id` takes 108).
pub fn provider_key(
    kind: RequestKind,
    organization: OrganizationId,
    key: &str,
    fingerprint: Fingerprint,
) -> String {
    let mut hash = Sha256::new();
    hash.update(key.as_bytes());
    hash.update(fingerprint.as_bytes());
    let prefix = match kind {
        RequestKind::StartSubscription => "sub",
        RequestKind::TopUp => "topup",
        RequestKind::PaymentMethodLink => "pmlink",
        RequestKind::Cancel
        | RequestKind::CancelAtPeriodEnd
        | RequestKind::Pause
        | RequestKind::Resume => "sub-change",
    };
    format!("{prefix}:{organization}:{}", &hex(&hash.finalize())[..32])
}

/// The subscription event id of a customer's request (source `customer`): unique per
/// organization and key, whatever another organization's keys are.
pub fn event_id(kind: RequestKind, organization: OrganizationId, key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{}:{organization}:{}", kind.as_str(), hex(&digest))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};
    use subscriptions::{DunningEpisode, PlanCode, ProviderRef, SubscriptionState};

    use super::*;

    fn subscription(status: S, provider: Option<ProviderName>) -> Subscription {
        let now = DateTime::from_timestamp(1_798_761_600, 0).unwrap();
        Subscription {
            id: primitives::SubscriptionId::new(),
            organization_id: OrganizationId::new(),
            plan: PlanCode::parse("pro").unwrap(),
            provider: provider.map(|name| ProviderRef::new(name, "sub_1").unwrap()),
            state: SubscriptionState {
                status,
                current_period_end: Some(now + Duration::days(20)),
                ..SubscriptionState::new()
            },
            next_action_at: None,
            action_leased_until: None,
            last_event_at: None,
            last_synced_at: None,
            last_sync_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn plan(action: SubscriptionAction, status: S) -> Result<ActionPlan, &'static str> {
        plan_action(action, &subscription(status, Some(ProviderName::Stripe)))
            .map_err(|error| error.code())
    }

    const CANCEL: SubscriptionAction = SubscriptionAction::Cancel {
        at_period_end: false,
    };
    const CANCEL_LATER: SubscriptionAction = SubscriptionAction::Cancel {
        at_period_end: true,
    };

    #[test]
    fn every_action_from_every_status() {
        use ActionPlan::{Apply, Unchanged};
        use SubscriptionAction::{Pause, Resume};
        const CONFLICT: Result<ActionPlan, &str> = Err("SUBSCRIPTION_STATE_CONFLICT");
        let now = Apply(SubscriptionEvent::Canceled {
            mode: CancelMode::Immediately,
        });
        let later = Apply(SubscriptionEvent::Canceled {
            mode: CancelMode::AtPeriodEnd,
        });
        let paused = Apply(SubscriptionEvent::Paused);
        let resumed = Apply(SubscriptionEvent::Resumed);
        let table = [
            (
                S::Pending,
                [Ok(now.clone()), Ok(later.clone()), CONFLICT, CONFLICT],
            ),
            (
                S::Trialing,
                [
                    Ok(now.clone()),
                    Ok(later.clone()),
                    Ok(paused.clone()),
                    Ok(Unchanged),
                ],
            ),
            (
                S::Active,
                [
                    Ok(now.clone()),
                    Ok(later.clone()),
                    Ok(paused),
                    Ok(Unchanged),
                ],
            ),
            (
                S::PastDue,
                [Ok(now.clone()), Ok(later.clone()), CONFLICT, CONFLICT],
            ),
            (
                S::Paused,
                [
                    Ok(now.clone()),
                    Ok(later.clone()),
                    Ok(Unchanged),
                    Ok(resumed),
                ],
            ),
            (S::Suspended, [Ok(now), Ok(later), CONFLICT, CONFLICT]),
            (
                S::Canceled,
                [Ok(Unchanged), Ok(Unchanged), CONFLICT, CONFLICT],
            ),
            (
                S::Expired,
                [Ok(Unchanged), Ok(Unchanged), CONFLICT, CONFLICT],
            ),
        ];
        for (status, expected) in table {
            for (action, expected) in [CANCEL, CANCEL_LATER, Pause, Resume]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(plan(action, status), expected, "{action:?} from {status}");
            }
        }
    }

    #[test]
    fn a_scheduled_cancellation_is_not_scheduled_again() {
        let mut active = subscription(S::Active, Some(ProviderName::Paypal));
        active.state.cancel_at_period_end = true;
        assert_eq!(
            plan_action(CANCEL_LATER, &active).unwrap(),
            ActionPlan::Unchanged
        );
        // Canceling now still ends it now.
        assert!(matches!(
            plan_action(CANCEL, &active).unwrap(),
            ActionPlan::Apply(_)
        ));
    }

    #[test]
    fn no_pause_while_a_payment_is_retried() {
        let mut grace = subscription(S::Active, Some(ProviderName::Stripe));
        grace.state.dunning = Some(DunningEpisode {
            started_at: Utc::now(),
            retries_failed: 0,
        });
        let error = plan_action(SubscriptionAction::Pause, &grace).unwrap_err();
        assert_eq!(error.code(), "SUBSCRIPTION_STATE_CONFLICT");
    }

    #[test]
    fn payhere_cannot_pause_but_can_cancel_and_manual_subscriptions_can_do_all() {
        let payhere = subscription(S::Active, Some(ProviderName::Payhere));
        let error = plan_action(SubscriptionAction::Pause, &payhere).unwrap_err();
        assert_eq!(error.code(), "PROVIDER_OPERATION_UNSUPPORTED");
        assert!(plan_action(CANCEL_LATER, &payhere).is_ok());
        // Paused some other way, it resumes on our side alone.
        let paused = subscription(S::Paused, Some(ProviderName::Payhere));
        assert!(plan_action(SubscriptionAction::Resume, &paused).is_ok());
        let manual = subscription(S::Active, None);
        assert!(plan_action(SubscriptionAction::Pause, &manual).is_ok());
    }

    #[test]
    fn the_provider_hears_a_plain_cancel_when_nothing_is_left_of_the_period() {
        let transition = |to| Transition {
            from: S::Active,
            to,
            state: SubscriptionState::new(),
            effects: vec![],
        };
        let told = |action, to, provider| provider_action(action, &transition(to), provider);
        let stripe = ProviderName::Stripe;
        assert_eq!(
            told(CANCEL_LATER, S::Active, stripe),
            Some(ProviderAction::CancelAtPeriodEnd)
        );
        assert_eq!(
            told(CANCEL_LATER, S::Canceled, stripe),
            Some(ProviderAction::Cancel)
        );
        assert_eq!(
            told(CANCEL, S::Canceled, ProviderName::Payhere),
            Some(ProviderAction::Cancel)
        );
        assert_eq!(
            told(SubscriptionAction::Pause, S::Paused, stripe),
            Some(ProviderAction::Pause)
        );
        assert_eq!(
            told(SubscriptionAction::Resume, S::Active, stripe),
            Some(ProviderAction::Resume)
        );
        assert_eq!(
            told(SubscriptionAction::Resume, S::Active, ProviderName::Payhere),
            None
        );
    }

    #[test]
    fn already_done_only_where_the_provider_is_where_the_action_leads() {
        use ProviderSubscriptionStatus as P;
        assert!(already_done(ProviderAction::Cancel, P::Canceled));
        assert!(!already_done(ProviderAction::Cancel, P::Active));
        assert!(already_done(ProviderAction::Pause, P::Suspended));
        assert!(!already_done(ProviderAction::Resume, P::Suspended));
        assert!(!already_done(ProviderAction::CaptureTopUp, P::Active));
    }

    #[test]
    fn top_ups_are_within_the_limits_of_an_offered_currency() {
        let limits = TopUpLimits::parse("USD:5.00-100.00").unwrap();
        let usd = |minor| Money::from_minor(minor, Currency::USD);
        assert!(check_top_up(&limits, usd(500)).is_ok());
        assert!(check_top_up(&limits, usd(10_000)).is_ok());
        for out in [499, 10_001] {
            let error = check_top_up(&limits, usd(out)).unwrap_err();
            assert_eq!(error.code(), "TOP_UP_AMOUNT_OUT_OF_RANGE");
        }
        let error = check_top_up(&limits, Money::from_minor(500, Currency::EUR)).unwrap_err();
        assert_eq!(error.code(), "TOP_UP_CURRENCY_NOT_OFFERED");
        let error = check_currency(Currency::USD, Currency::EUR).unwrap_err();
        assert_eq!(error.code(), "CURRENCY_MISMATCH");
    }

    #[test]
    fn urls_are_absolute_http() {
        assert!(check_url("return_url", " https://app.example.com/billing?done=1 ").is_ok());
        assert!(check_url("return_url", "http://localhost:3000/x").is_ok());
        for bad in [
            "",
            "/relative",
            "javascript:alert(1)",
            "ftp://x.example",
            "https://",
        ] {
            assert!(check_url("return_url", bad).is_err(), "{bad:?}");
        }
        assert!(
            check_url(
                "return_url",
                &format!("https://x.example/{}", "a".repeat(2000))
            )
            .is_err()
        );
    }

    #[test]
    fn keys_are_stable_per_organization_key_and_parameters() {
        let org = OrganizationId::new();
        let same = Fingerprint::of(RequestKind::TopUp, &[Some("10.00"), None]);
        assert_eq!(
            same,
            Fingerprint::of(RequestKind::TopUp, &[Some("10.00"), None])
        );
        assert_ne!(
            same,
            Fingerprint::of(RequestKind::TopUp, &[Some("10.0"), Some("0")])
        );
        assert_ne!(
            same,
            Fingerprint::of(RequestKind::TopUp, &[Some("10.00"), Some("")])
        );
        let other = Fingerprint::of(RequestKind::TopUp, &[Some("20.00"), None]);
        let key = provider_key(RequestKind::TopUp, org, "k1", same);
        assert_eq!(key, provider_key(RequestKind::TopUp, org, "k1", same));
        assert_ne!(key, provider_key(RequestKind::TopUp, org, "k1", other));
        assert_ne!(key, provider_key(RequestKind::TopUp, org, "k2", same));
        assert_ne!(
            key,
            provider_key(RequestKind::TopUp, OrganizationId::new(), "k1", same)
        );
        assert!(key.len() <= 80, "{key}");
        let long = "k".repeat(200);
        assert!(event_id(RequestKind::CancelAtPeriodEnd, org, &long).len() <= 200);
        assert_ne!(
            event_id(RequestKind::Pause, org, "k"),
            event_id(RequestKind::Pause, OrganizationId::new(), "k")
        );
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::parse(kind.as_str()), Some(kind));
        }
    }
}
