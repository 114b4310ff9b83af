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
    /// What the capture belongs to; on a capture of an Orders v2 order, its order id.
    #[serde(default)]
    pub supplementary_data: Option<SupplementaryData>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SupplementaryData {
    #[serde(default)]
    pub related_ids: Option<RelatedIds>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RelatedIds {
    /// The order the capture captured (the top-up's checkout).
    #[serde(default)]
    pub order_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct StatusDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

/// An Orders v2 order (`CHECKOUT.ORDER.*` resource and the create call's answer alike).
#[derive(Debug, Deserialize)]
pub(crate) struct Order {
    #[serde(default)]
    pub id: Option<String>,
    /// `CAPTURE` or `AUTHORIZE`.
    #[serde(default)]
    pub intent: Option<String>,
    #[serde(default)]
    pub purchase_units: Vec<PurchaseUnit>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
    /// The create call's answer links where the buyer approves (`payer-action`, or `approve`
    /// for orders created with the older `application_context`).
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PurchaseUnit {
    #[serde(default)]
    pub amount: Option<Money>,
    #[serde(default)]
    pub custom_id: Option<String>,
}

/// `POST /v2/checkout/orders`: one purchase unit, paid through PayPal.
#[derive(Debug, Serialize)]
pub(crate) struct CreateOrder<'a> {
    pub intent: &'static str,
    pub purchase_units: [NewPurchaseUnit<'a>; 1],
    pub payment_source: PaymentSource<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewPurchaseUnit<'a> {
    /// Our organization reference; PayPal copies it onto the capture, so the capture's
    /// `PAYMENT.CAPTURE.COMPLETED` names it.
    pub custom_id: &'a str,
    pub description: String,
    pub amount: Money,
}

#[derive(Debug, Serialize)]
pub(crate) struct PaymentSource<'a> {
    pub paypal: PayPalSource<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct PayPalSource<'a> {
    pub experience_context: ExperienceContext<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ExperienceContext<'a> {
    pub return_url: &'a str,
    pub cancel_url: &'a str,
    /// `PAY_NOW`: the buyer's last step at PayPal says "Pay Now", since we capture right after.
    pub user_action: &'static str,
    /// `NO_SHIPPING`: a wallet top-up ships nothing.
    pub shipping_preference: &'static str,
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
