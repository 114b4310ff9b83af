//! A verified notification as normalized [`BillingEvent`]s (the mapping table is in the module
//! documentation of [`super`]).
//!
//! Trust: only the signed fields (`order_id`, `payhere_amount`, `payhere_currency`,
//! `status_code`) decide money and organization. The signed `status_code` decides success or
//! failure; the unsigned `message_type` only tells an authorization from an installment, or
//! reports the end of a subscription. The organization comes from the signed order id, never
//! from `custom_1`.

use chrono::{DateTime, Utc};
use primitives::{Money, parse_currency};

use super::notification::{
    AMOUNT, CURRENCY, CUSTOM_1, MESSAGE_TYPE, Notification, ORDER_ID, PAYMENT_ID, RECURRING,
    STATUS_CODE, SUBSCRIPTION_ID,
};
use super::order::{OrderPurpose, OrderRef};
use crate::{BillingEvent, BillingEventKind, ParsedWebhook, ProviderError, ProviderName};

const PAYHERE: ProviderName = ProviderName::Payhere;
/// PayHere ids (`payment_id`, `subscription_id`) are 12-digit numbers today.
const MAX_ID_DIGITS: usize = 32;
/// An unknown `message_type` is echoed into logs only this long, and only in `[A-Z0-9_-]`.
const MAX_TYPE_CHARS: usize = 64;

/// PayHere's `status_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    Pending,
    Canceled,
    Failed,
    ChargedBack,
}

impl Status {
    pub(crate) fn from_wire(code: &str) -> Option<Self> {
        Some(match code {
            "2" => Self::Success,
            "0" => Self::Pending,
            "-1" => Self::Canceled,
            "-2" => Self::Failed,
            "-3" => Self::ChargedBack,
            _ => return None,
        })
    }
}

/// `message_type` of a recurring notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageType {
    AuthorizationSuccess,
    AuthorizationFailed,
    InstallmentSuccess,
    InstallmentFailed,
    Stopped,
    Complete,
}

impl MessageType {
    /// PayHere writes `RECURRING_INSTALLMENT_SUCCESS`; some integrations document
    /// `RECURRING INSTALLMENT SUCCESS`: both are read.
    fn from_normalized(normalized: &str) -> Option<Self> {
        Some(match normalized {
            "AUTHORIZATION_SUCCESS" => Self::AuthorizationSuccess,
            "AUTHORIZATION_FAILED" => Self::AuthorizationFailed,
            "RECURRING_INSTALLMENT_SUCCESS" => Self::InstallmentSuccess,
            "RECURRING_INSTALLMENT_FAILED" => Self::InstallmentFailed,
            "RECURRING_STOPPED" => Self::Stopped,
            "RECURRING_COMPLETE" => Self::Complete,
            _ => return None,
        })
    }

    const fn is_authorization(self) -> bool {
        matches!(self, Self::AuthorizationSuccess | Self::AuthorizationFailed)
    }
}

fn decode(message: String) -> ProviderError {
    ProviderError::Decode {
        provider: PAYHERE,
        message,
    }
}

/// Upper case, spaces as underscores, only `[A-Z0-9_-]`, bounded: safe to log and compare.
fn normalize_type(raw: &str) -> String {
    raw.trim()
        .chars()
        .take(MAX_TYPE_CHARS)
        .map(|c| match c {
            ' ' => '_',
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => c.to_ascii_uppercase(),
            _ => '?',
        })
        .collect()
}

/// A PayHere id that goes into our event ids: digits only, so it cannot smuggle a separator.
fn numeric_id<'a>(
    notification: &'a Notification,
    name: &str,
) -> Result<Option<&'a str>, ProviderError> {
    match notification.get(name) {
        None => Ok(None),
        Some(id) if id.len() <= MAX_ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(id))
        }
        Some(_) => Err(decode(format!("{name} is not a PayHere id (digits)"))),
    }
}

/// Everything one notification's events share.
struct Context<'a> {
    /// Stable across deliveries of the same notification; see [`parse`].
    base_id: String,
    event_type: String,
    received_at: DateTime<Utc>,
    organization_ref: Option<&'a str>,
    subscription_id: Option<&'a str>,
    amount: Money,
}

impl Context<'_> {
    fn event(&self, kind: BillingEventKind, amount: Option<Money>) -> BillingEvent {
        BillingEvent {
            provider: PAYHERE,
            provider_event_id: format!("{}#{}", self.base_id, kind_tag(kind)),
            occurred_at: self.received_at,
            kind,
            organization_ref: self.organization_ref.map(str::to_owned),
            provider_subscription_id: self.subscription_id.map(str::to_owned),
            amount,
            provider_event_type: self.event_type.clone(),
        }
    }

    fn events(&self, kinds: &[(BillingEventKind, bool)]) -> ParsedWebhook {
        ParsedWebhook::Events {
            events: kinds
                .iter()
                .map(|&(kind, with_amount)| self.event(kind, with_amount.then_some(self.amount)))
                .collect(),
        }
    }

    fn ignored(&self) -> ParsedWebhook {
        ParsedWebhook::Ignored {
            provider_event_type: self.event_type.clone(),
            provider_event_id: Some(self.base_id.clone()),
        }
    }
}

/// Turns a verified notification into events. `received_at` is the adapter's clock at parsing:
/// PayHere sends no timestamp.
///
/// Event ids (PayHere has none):
/// - one-off payment: `{order_id}/{status_code}`, built from signed fields only. A repeated
///   delivery, or a replay with any unsigned field changed, gets the same id, so it is a
///   duplicate (G3); the order's next status (pending, then success, then a chargeback) gets a
///   new one. A second payment PayHere might accept for the same order id is the same event by
///   design: an order is paid once, and one top-up order credits once.
/// - recurring: `{order_id}/{subscription_id}/{payment_id or -}/{status_code}`: installments
///   share their order id and md5sig, so PayHere's `payment_id` tells them apart. Redeliveries
///   of one installment share the id. The unsigned `message_type` is left out on purpose: the
///   same payment relabelled (`AUTHORIZATION_SUCCESS` as `RECURRING_INSTALLMENT_SUCCESS`, or
///   `..._FAILED`) is still the same event.
///
/// Each event appends `#{kind}`, since one notification can mean two events (and a stop or
/// completion is told from a payment by it).
pub(crate) fn parse(
    notification: &Notification,
    received_at: DateTime<Utc>,
) -> Result<ParsedWebhook, ProviderError> {
    let required = |name: &'static str| {
        notification
            .get(name)
            .ok_or_else(|| decode(format!("verified notification lacks {name}")))
    };
    let order_id = required(ORDER_ID)?;
    let status_code = required(STATUS_CODE)?;
    let currency = parse_currency(required(CURRENCY)?)
        .map_err(|error| decode(format!("payhere_currency: {error}")))?;
    let amount = Money::parse(required(AMOUNT)?, currency)
        .map_err(|error| decode(format!("payhere_amount: {error}")))?;
    let order = OrderRef::parse(order_id);
    if let (Some(order), Some(custom_1)) = (&order, notification.get(CUSTOM_1))
        && custom_1 != order.organization_ref()
    {
        // Not an error: the customer can edit custom_1 in the checkout form, and PayHere
        // still signs the payment. The signed order id decides.
        tracing::warn!(
            provider = %PAYHERE,
            order_id,
            "custom_1 differs from the organization in the signed order_id; the order_id is used"
        );
    }
    let status = Status::from_wire(status_code);
    if notification.get(RECURRING) == Some("1") {
        recurring(
            notification,
            order_id,
            status_code,
            status,
            order.as_ref(),
            amount,
            received_at,
        )
    } else {
        Ok(one_off(
            order_id,
            status_code,
            status,
            order.as_ref(),
            amount,
            received_at,
        ))
    }
}

fn one_off(
    order_id: &str,
    status_code: &str,
    status: Option<Status>,
    order: Option<&OrderRef>,
    amount: Money,
    received_at: DateTime<Utc>,
) -> ParsedWebhook {
    use BillingEventKind as K;
    let context = Context {
        base_id: format!("{order_id}/{status_code}"),
        event_type: format!("payment:{}", normalize_type(status_code)),
        received_at,
        organization_ref: order.map(OrderRef::organization_ref),
        subscription_id: None,
        amount,
    };
    let purpose = order.map(OrderRef::purpose);
    match (purpose, status) {
        (Some(OrderPurpose::TopUp), Some(Status::Success)) => {
            context.events(&[(K::WalletTopUpCompleted, true)])
        }
        (Some(OrderPurpose::Subscription), Some(Status::Success)) => {
            context.events(&[(K::PaymentSucceeded, true)])
        }
        (Some(_), Some(Status::ChargedBack)) => context.events(&[(K::Chargeback, true)]),
        // Pending, canceled and failed one-off payments moved no money and change nothing;
        // an order id that is not ours cannot be attributed to an organization.
        _ => context.ignored(),
    }
}

fn recurring(
    notification: &Notification,
    order_id: &str,
    status_code: &str,
    status: Option<Status>,
    order: Option<&OrderRef>,
    amount: Money,
    received_at: DateTime<Utc>,
) -> Result<ParsedWebhook, ProviderError> {
    use BillingEventKind as K;
    let raw_type = match normalize_type(notification.get(MESSAGE_TYPE).unwrap_or_default()) {
        absent if absent.is_empty() => "NO_MESSAGE_TYPE".to_owned(),
        present => present,
    };
    let message = MessageType::from_normalized(&raw_type);
    let event_type = format!("{raw_type}:{}", normalize_type(status_code));
    let subscription_id = numeric_id(notification, SUBSCRIPTION_ID)?;
    let payment_id = numeric_id(notification, PAYMENT_ID)?;
    let base_id = format!(
        "{order_id}/{}/{}/{status_code}",
        subscription_id.unwrap_or("-"),
        payment_id.unwrap_or("-"),
    );
    let context = Context {
        base_id,
        event_type,
        received_at,
        organization_ref: order.map(OrderRef::organization_ref),
        subscription_id,
        amount,
    };
    let (Some(message), Some(status)) = (message, status) else {
        return Ok(context.ignored());
    };
    if subscription_id.is_none() {
        return Err(decode(format!(
            "a recurring {raw_type} notification without subscription_id"
        )));
    }
    Ok(match (message, status) {
        // Signed, and whatever message_type says, money went back.
        (_, Status::ChargedBack) => context.events(&[(K::Chargeback, true)]),
        (MessageType::Stopped, _) => context.events(&[(K::SubscriptionCanceled, false)]),
        (MessageType::Complete, _) => context.events(&[(K::SubscriptionExpired, false)]),
        (message, Status::Success) if message.is_authorization() => context.events(&[
            (K::SubscriptionActivated, false),
            (K::PaymentSucceeded, true),
        ]),
        (_, Status::Success) => context.events(&[(K::PaymentSucceeded, true)]),
        (_, Status::Failed) => context.events(&[(K::PaymentFailed, true)]),
        // The customer left the authorization: no subscription exists to act on.
        (message, Status::Canceled) if message.is_authorization() => context.ignored(),
        (_, Status::Canceled) => context.events(&[(K::PaymentFailed, true)]),
        (_, Status::Pending) => context.ignored(),
    })
}

/// The kind's name as in the events' JSON (`payment_succeeded`), for event ids.
fn kind_tag(kind: BillingEventKind) -> &'static str {
    use BillingEventKind as K;
    match kind {
        K::SubscriptionCreated => "subscription_created",
        K::SubscriptionActivated => "subscription_activated",
        K::SubscriptionUpdated => "subscription_updated",
        K::TrialWillEnd => "trial_will_end",
        K::PaymentSucceeded => "payment_succeeded",
        K::PaymentFailed => "payment_failed",
        K::PaymentActionRequired => "payment_action_required",
        K::SubscriptionPaused => "subscription_paused",
        K::SubscriptionResumed => "subscription_resumed",
        K::SubscriptionSuspended => "subscription_suspended",
        K::SubscriptionCanceled => "subscription_canceled",
        K::SubscriptionExpired => "subscription_expired",
        K::WalletTopUpCompleted => "wallet_top_up_completed",
        K::TopUpRefunded => "top_up_refunded",
        K::Chargeback => "chargeback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_tags_match_the_serialized_names() {
        use BillingEventKind as K;
        for kind in [
            K::SubscriptionCreated,
            K::SubscriptionActivated,
            K::SubscriptionUpdated,
            K::TrialWillEnd,
            K::PaymentSucceeded,
            K::PaymentFailed,
            K::PaymentActionRequired,
            K::SubscriptionPaused,
            K::SubscriptionResumed,
            K::SubscriptionSuspended,
            K::SubscriptionCanceled,
            K::SubscriptionExpired,
            K::WalletTopUpCompleted,
            K::TopUpRefunded,
            K::Chargeback,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind_tag(kind));
        }
    }

    #[test]
    fn message_types_are_normalized_and_bounded() {
        assert_eq!(
            normalize_type(" recurring installment success "),
            "RECURRING_INSTALLMENT_SUCCESS"
        );
        assert_eq!(normalize_type("a\nb/c"), "A?B?C");
        assert_eq!(normalize_type(&"x".repeat(500)).len(), MAX_TYPE_CHARS);
    }
}
