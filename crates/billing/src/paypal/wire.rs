//! PayPal's JSON as it crosses the wire. Nothing here leaves the module: `events` and `api`
//! translate these into the crate's domain types. Fields PayPal may omit are `Option`s, and
//! times stay strings because PayPal's own samples carry impossible dates (month 19).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// A webhook event's envelope; `resource` is read by type once `event_type` is known.
#[derive(Debug, Deserialize)]
pub(crate) struct Event {
    pub id: String,
    pub event_type: String,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub resource: serde_json::Value,
}

/// v2 money: `{"currency_code":"USD","value":"10.00"}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Money {
    pub currency_code: String,
    pub value: String,
}

/// v1 amount (sales and their refunds): `{"total":"10.00","currency":"USD"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct AmountV1 {
    pub total: String,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    pub href: String,
    pub rel: String,
}

/// A subscription (webhook resource and REST answer alike).
#[derive(Debug, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default)]
    pub billing_info: Option<BillingInfo>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    #[serde(default)]
    pub status_update_time: Option<String>,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct BillingInfo {
    #[serde(default)]
    pub outstanding_balance: Option<Money>,
    #[serde(default)]
    pub last_failed_payment: Option<FailedPayment>,
    #[serde(default)]
    pub next_billing_time: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FailedPayment {
    #[serde(default)]
    pub amount: Option<Money>,
    /// Why it failed (`PAYMENT_DENIED`, `INSUFFICIENT_FUNDS` ...).
    #[serde(default)]
    pub reason_code: Option<String>,
}

/// A v1 sale, or a v1 refund of one (same amount shape).
#[derive(Debug, Deserialize)]
pub(crate) struct Sale {
    /// The sale's id; on a refund-shaped resource, the refund's own id.
    #[serde(default)]
    pub id: Option<String>,
    /// On a refund (and on a reversal written as one): the id of the sale it takes money back
    /// from. `parent_payment` (the v1 `PAY-...` payment) is deliberately not read: it is not the
    /// sale, and a subscription's sales carry none.
    #[serde(default)]
    pub sale_id: Option<String>,
    #[serde(default)]
    pub amount: Option<AmountV1>,
    /// Present when the sale is a subscription's payment: the subscription id.
    #[serde(default)]
    pub billing_agreement_id: Option<String>,
    /// v1 carries our reference as `custom`; some payloads use `custom_id`.
    #[serde(default)]
    pub custom: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    /// A refund links its sale as `rel: sale` (`.../v1/payments/sale/{id}`).
    #[serde(default)]
    pub links: Vec<Link>,
}

/// A v2 capture, or a v2 refund of one.
#[derive(Debug, Deserialize)]
pub(crate) struct Capture {
    /// The capture's id; on a refund or reversal, the refund's own id.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub amount: Option<Money>,
    #[serde(default)]
    pub custom_id: Option<String>,
    /// Why a capture is not (yet) completed, when PayPal says.
    #[serde(default)]
    pub status_details: Option<StatusDetails>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    /// A refund or reversal links the capture it is of as `rel: up`
    /// (`.../v2/payments/captures/{id}`); a capture's own `up` is its order.
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

/// A customer dispute (`CUSTOMER.DISPUTE.*` resource, Disputes API v1).
#[derive(Debug, Deserialize)]
pub(crate) struct Dispute {
    #[serde(default)]
    pub dispute_id: Option<String>,
    #[serde(default)]
    pub disputed_transactions: Vec<DisputedTransaction>,
    #[serde(default)]
    pub dispute_amount: Option<Money>,
    #[serde(default)]
    pub dispute_outcome: Option<DisputeOutcome>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

/// One transaction a dispute is about.
#[derive(Debug, Deserialize)]
pub(crate) struct DisputedTransaction {
    /// The id the merchant sees: the capture (v2) or sale (v1) id.
    #[serde(default)]
    pub seller_transaction_id: Option<String>,
    #[serde(default)]
    pub gross_amount: Option<Money>,
    /// The transaction's custom field as the Disputes API names it ...
    #[serde(default)]
    pub custom: Option<String>,
    /// ... and as the payment resources name it.
    #[serde(default)]
    pub custom_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DisputeOutcome {
    #[serde(default)]
    pub outcome_code: Option<String>,
}

/// `POST /v1/oauth2/token`'s answer. The token is secret from the moment it is read.
#[derive(Deserialize)]
pub(crate) struct Token {
    pub access_token: SecretString,
    pub expires_in: u64,
}

/// PayPal's error body: REST (`name`, `message`, `details[].issue`) or OAuth (`error`,
/// `error_description`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default)]
    pub issue: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CreateSubscription<'a> {
    pub plan_id: &'a str,
    pub custom_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_context: Option<ApplicationContext<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ApplicationContext<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Reason<'a> {
    pub reason: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct CaptureRequest<'a> {
    pub note: &'a str,
    pub capture_type: &'static str,
    pub amount: &'a Money,
}

/// The transaction `POST .../capture` answers with.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CaptureTransaction {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub amount_with_breakdown: Option<AmountWithBreakdown>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AmountWithBreakdown {
    #[serde(default)]
    pub gross_amount: Option<Money>,
}
