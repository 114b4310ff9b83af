//! A verified notification as normalized [`BillingEvent`]s (the mapping table is in the module
//! documentation of [`super`]).
//!
//! Trust: only the signed fields (`order_id`, `payhere_amount`, `payhere_currency`,
//! `status_code`) decide money and organization. The signed `status_code` decides success or
//! failure; the unsigned `message_type` only tells an authorization from an installment, or
//! reports the end of a subscription. The organization comes from the signed order id, never
//! from `custom_1`.
//!
//! Two more unsigned fields are carried, never deciding money or organization:
//! - `payment_id` as [`BillingEvent::payment_reference`] of every event about a payment
//!   (PayHere repeats the paid payment's id in its chargeback, so the debit meets its credit);
//! - `item_rec_date_next` as [`BillingEvent::period_end`] of a successful recurring payment
//!   (and its activation): the calendar date in Sri Lanka, read as the start of that day in
//!   Asia/Colombo ([`next_billing_date`]). A date that cannot be read is `None` and a warning,
//!   never an error: it is not signed, so refusing a signed payment over it would let it veto
//!   money that did move.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use primitives::{Money, parse_currency};

use super::notification::{
    AMOUNT, CURRENCY, CUSTOM_1, MESSAGE_TYPE, NEXT_DATE, Notification, ORDER_ID, PAYMENT_ID,
    RECURRING, STATUS_CODE, STATUS_MESSAGE, SUBSCRIPTION_ID,
};
use super::order::{OrderPurpose, OrderRef};
use crate::event::provider_text;
use crate::{BillingEvent, BillingEventKind, ParsedWebhook, ProviderError, ProviderName};

const PAYHERE: ProviderName = ProviderName::Payhere;
/// PayHere ids (`payment_id`, `subscription_id`) are 12-digit numbers today.
const MAX_ID_DIGITS: usize = 32;
/// An unknown `message_type` is echoed into logs only this long, and only in `[A-Z0-9_-]`.
const MAX_TYPE_CHARS: usize = 64;
/// An unreadable `item_rec_date_next` is echoed into logs only this long (escaped).
const MAX_LOGGED_DATE_CHARS: usize = 32;
/// Sri Lanka's offset, UTC+05:30: Asia/Colombo has had no other offset, and no daylight saving
/// time, since 2006.
const COLOMBO_OFFSET_SECS: i32 = 5 * 3600 + 30 * 60;

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

/// `item_rec_date_next` (`YYYY-MM-DD`, exactly) as the start of that day in Asia/Colombo:
/// PayHere is a Sri Lankan gateway, writes its dates in Sri Lanka time (the API's `date`s are
/// too), and charges the next installment during that Sri Lankan day, so the period paid for
/// ends when that day begins there (`2026-02-01` is `2026-01-31T18:30:00Z`). Absent or empty is
/// `None`; anything else unreadable is `None` with a warning.
fn next_billing_date(notification: &Notification) -> Option<DateTime<Utc>> {
    let raw = notification.get(NEXT_DATE)?;
    let parsed = is_iso_date(raw)
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .zip(FixedOffset::east_opt(COLOMBO_OFFSET_SECS))
        .and_then(|(midnight, colombo)| midnight.and_local_timezone(colombo).single())
        .map(|start| start.with_timezone(&Utc));
    if parsed.is_none() {
        let shown: String = raw.chars().take(MAX_LOGGED_DATE_CHARS).collect();
        tracing::warn!(
            provider = %PAYHERE,
            item_rec_date_next = ?shown,
            "item_rec_date_next is not a YYYY-MM-DD date; the event carries no period end"
        );
    }
    parsed
}

/// Four digits, `-`, two digits, `-`, two digits: chrono alone would also take `2026-2-1`.
fn is_iso_date(raw: &str) -> bool {
    raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
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
    /// PayHere's `payment_id` (digits), for [`BillingEvent::payment_reference`].
    payment_id: Option<&'a str>,
    /// The signed order id, for [`BillingEvent::order_reference`] (and a top-up's
    /// [`BillingEvent::checkout_reference`]).
    order_id: &'a str,
    /// PayHere's `status_message` (unsigned, cleaned), for failed payments.
    status_message: Option<String>,
}

/// What one event carries besides the notification's common fields.
#[derive(Clone, Copy)]
struct Carries {
    amount: bool,
    payment: bool,
    period_end: Option<DateTime<Utc>>,
}

impl Carries {
    /// Money moved (or failed, or went back): the amount and the payment it concerns.
    const PAYMENT: Self = Self {
        amount: true,
        payment: true,
        period_end: None,
    };
    /// About the subscription, not a payment: a stop or a completion.
    const NOTHING: Self = Self {
        amount: false,
        payment: false,
        period_end: None,
    };

    /// A successful recurring payment and the period it pays for.
    const fn paid_until(period_end: Option<DateTime<Utc>>) -> Self {
        Self {
            period_end,
            ..Self::PAYMENT
        }
    }

    /// An activation: the authorization payment that started it and the period it pays for,
    /// but not its amount (that is the payment event's).
    const fn activated_until(period_end: Option<DateTime<Utc>>) -> Self {
        Self {
            amount: false,
            payment: true,
            period_end,
        }
    }
}

impl Context<'_> {
    fn event(&self, kind: BillingEventKind, carries: Carries) -> BillingEvent {
        BillingEvent {
            provider: PAYHERE,
            provider_event_id: format!("{}#{}", self.base_id, kind.as_str()),
            occurred_at: self.received_at,
            kind,
            organization_ref: self.organization_ref.map(str::to_owned),
            provider_subscription_id: self.subscription_id.map(str::to_owned),
            amount: carries.amount.then_some(self.amount),
            payment_reference: self
                .payment_id
                .filter(|_| carries.payment)
                .map(str::to_owned),
            period_end: carries.period_end,
            // PayHere's notifications carry no subscription status and no trial.
            subscription_status: None,
            trial_end: None,
            failure_reason: self
                .status_message
                .clone()
                .filter(|_| kind == BillingEventKind::PaymentFailed),
            order_reference: Some(self.order_id.to_owned()),
            // Only a signed `TOPUP-` order's payment completes a top-up: its order id is the
            // checkout the top-up was started as.
            checkout_reference: (kind == BillingEventKind::WalletTopUpCompleted)
                .then(|| self.order_id.to_owned()),
            provider_event_type: self.event_type.clone(),
        }
    }

    fn events(&self, kinds: &[(BillingEventKind, Carries)]) -> ParsedWebhook {
        ParsedWebhook::Events {
            events: kinds
                .iter()
                .map(|&(kind, carries)| self.event(kind, carries))
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
///
/// `payment_reference` is `payment_id` on every event about a payment (paid, failed, charged
/// back; an activation too: its authorization payment), none on a stop or completion.
/// `period_end` is [`next_billing_date`] on a successful recurring payment and its activation
/// only: a failed or charged-back payment paid for no period.
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
    // Unsigned, but it goes into recurring event ids and the ledger's payment key: digits only.
    let payment_id = numeric_id(notification, PAYMENT_ID)?;
    let signed = Signed {
        order_id,
        status_code,
        status,
        order: order.as_ref(),
        amount,
        status_message: notification.get(STATUS_MESSAGE).and_then(provider_text),
    };
    if notification.get(RECURRING) == Some("1") {
        recurring(notification, &signed, payment_id, received_at)
    } else {
        Ok(one_off(&signed, payment_id, received_at))
    }
}

/// The signed fields as read, shared by one-off and recurring notifications.
struct Signed<'a> {
    order_id: &'a str,
    status_code: &'a str,
    status: Option<Status>,
    order: Option<&'a OrderRef>,
    amount: Money,
    /// Not signed: only ever a failed payment's [`BillingEvent::failure_reason`].
    status_message: Option<String>,
}

fn one_off(
    signed: &Signed<'_>,
    payment_id: Option<&str>,
    received_at: DateTime<Utc>,
) -> ParsedWebhook {
    use BillingEventKind as K;
    let Signed {
        order_id,
        status_code,
        status,
        order,
        amount,
        ref status_message,
    } = *signed;
    let context = Context {
        base_id: format!("{order_id}/{status_code}"),
        event_type: format!("payment:{}", normalize_type(status_code)),
        received_at,
        organization_ref: order.map(OrderRef::organization_ref),
        subscription_id: None,
        amount,
        payment_id,
        order_id,
        status_message: status_message.clone(),
    };
    let purpose = order.map(OrderRef::purpose);
    match (purpose, status) {
        // A one-off payment pays for no period: no period end.
        (Some(OrderPurpose::TopUp), Some(Status::Success)) => {
            context.events(&[(K::WalletTopUpCompleted, Carries::PAYMENT)])
        }
        (Some(OrderPurpose::Subscription), Some(Status::Success)) => {
            context.events(&[(K::PaymentSucceeded, Carries::PAYMENT)])
        }
        (Some(_), Some(Status::ChargedBack)) => {
            context.events(&[(K::Chargeback, Carries::PAYMENT)])
        }
        // Pending, canceled and failed one-off payments moved no money and change nothing;
        // an order id that is not ours cannot be attributed to an organization.
        _ => context.ignored(),
    }
}

fn recurring(
    notification: &Notification,
    signed: &Signed<'_>,
    payment_id: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<ParsedWebhook, ProviderError> {
    use BillingEventKind as K;
    let Signed {
        order_id,
        status_code,
        status,
        order,
        amount,
        ref status_message,
    } = *signed;
    let raw_type = match normalize_type(notification.get(MESSAGE_TYPE).unwrap_or_default()) {
        absent if absent.is_empty() => "NO_MESSAGE_TYPE".to_owned(),
        present => present,
    };
    let message = MessageType::from_normalized(&raw_type);
    let event_type = format!("{raw_type}:{}", normalize_type(status_code));
    let subscription_id = numeric_id(notification, SUBSCRIPTION_ID)?;
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
        payment_id,
        order_id,
        status_message: status_message.clone(),
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
        (_, Status::ChargedBack) => context.events(&[(K::Chargeback, Carries::PAYMENT)]),
        (MessageType::Stopped, _) => context.events(&[(K::SubscriptionCanceled, Carries::NOTHING)]),
        (MessageType::Complete, _) => context.events(&[(K::SubscriptionExpired, Carries::NOTHING)]),
        (message, Status::Success) if message.is_authorization() => {
            let period_end = next_billing_date(notification);
            context.events(&[
                (
                    K::SubscriptionActivated,
                    Carries::activated_until(period_end),
                ),
                (K::PaymentSucceeded, Carries::paid_until(period_end)),
            ])
        }
        (_, Status::Success) => context.events(&[(
            K::PaymentSucceeded,
            Carries::paid_until(next_billing_date(notification)),
        )]),
        // A failed payment paid for no period, whatever date PayHere will try next.
        (_, Status::Failed) => context.events(&[(K::PaymentFailed, Carries::PAYMENT)]),
        // The customer left the authorization: no subscription exists to act on.
        (message, Status::Canceled) if message.is_authorization() => context.ignored(),
        (_, Status::Canceled) => context.events(&[(K::PaymentFailed, Carries::PAYMENT)]),
        (_, Status::Pending) => context.ignored(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_billing_date_is_the_start_of_that_day_in_colombo() {
        let read = |body: &str| next_billing_date(&Notification::parse(body.as_bytes()).unwrap());
        assert_eq!(
            read("item_rec_date_next=2026-02-01"),
            DateTime::parse_from_rfc3339("2026-01-31T18:30:00Z")
                .ok()
                .map(|date| date.with_timezone(&Utc))
        );
        assert_eq!(
            read("item_rec_date_next=2028-02-29"),
            DateTime::parse_from_rfc3339("2028-02-28T18:30:00Z")
                .ok()
                .map(|date| date.with_timezone(&Utc))
        );
        for unreadable in [
            "",
            "item_rec_date_next=",
            "item_rec_date_next=2026-02-30",
            "item_rec_date_next=2026-2-1",
            "item_rec_date_next=01/02/2026",
            "item_rec_date_next=2026-02-01+00:00:00",
            "item_rec_date_next=%EF%BC%92026-02-01",
            "item_rec_date_next=+2026-02-01",
            "item_rec_date_next=1%0A2026-02",
        ] {
            assert_eq!(read(unreadable), None, "{unreadable}");
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
