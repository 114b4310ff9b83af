//! Wallet request and response bodies.
//!
//! Amounts cross the wire as exact decimal strings in the currency's precision ("12.34" USD),
//! always next to a `currency`; never as JSON numbers, which clients parse as floats.

use chrono::{DateTime, Utc};
use ledger::{
    Entry, EntryKind, Freeze, FreezeOutcome, FreezeSource, HistoryPage, Hold, HoldReceipt,
    HoldStatus, Reconciliation, WalletBalance,
};
use primitives::{EntryId, HoldId, Money, OrganizationId, WalletId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn decimal(money: Money) -> String {
    money.to_decimal_string()
}

// ---------------------------------------------------------------------------------------------
// Requests

/// `POST .../wallet/debits`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DebitRequest {
    /// Positive decimal string in the currency's precision.
    #[schema(example = "12.34", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// System account the money goes to: lower-case segments of `a-z 0-9 _ . -` joined by
    /// `:`, at most 100 characters. Default `revenue:messages`.
    #[schema(
        example = "revenue:messages",
        max_length = 100,
        pattern = "^[a-z0-9_.-]+(:[a-z0-9_.-]+)*$"
    )]
    pub counterparty: Option<String>,
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/credits` (admin only).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// Positive decimal string in the currency's precision.
    #[schema(example = "100.00", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code, upper case; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// System account the money comes from, e.g. `topup:manual`, `topup:paypal`: lower-case
    /// segments of `a-z 0-9 _ . -` joined by `:`, at most 100 characters.
    #[schema(
        example = "topup:manual",
        max_length = 100,
        pattern = "^[a-z0-9_.-]+(:[a-z0-9_.-]+)*$"
    )]
    pub counterparty: String,
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/holds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Positive decimal string in the currency's precision.
    #[schema(example = "50.00", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code, upper case; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// System account captures go to: lower-case segments of `a-z 0-9 _ . -` joined by `:`, at
    /// most 100 characters. Default `revenue:messages`.
    #[schema(
        example = "revenue:messages",
        max_length = 100,
        pattern = "^[a-z0-9_.-]+(:[a-z0-9_.-]+)*$"
    )]
    pub counterparty: Option<String>,
    /// Seconds until the hold expires and its funds return, 1 to 2592000 (30 days, the
    /// ledger's `MAX_HOLD_TTL`). Default 86400.
    #[schema(example = 86400, minimum = 1, maximum = 2592000)]
    pub expires_in_seconds: Option<i64>,
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/holds/{hold_id}/captures`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Positive decimal string, at most what the hold still reserves.
    #[schema(example = "12.34", pattern = "^[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code, upper case; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/holds/{hold_id}/release`: the body is optional (empty or `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/corrections` (admin only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// Signed, non-zero decimal string: positive adds to the balance, negative takes back (at
    /// most what is available).
    #[schema(example = "-5.00", pattern = "^-?[0-9]+(\\.[0-9]+)?$")]
    pub amount: String,
    /// ISO 4217 code, upper case; must be the wallet's currency.
    #[schema(
        example = "USD",
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$"
    )]
    pub currency: String,
    /// Why; kept in the audit trail. 1 to 500 characters with at least one letter or digit and
    /// no control characters.
    #[schema(
        example = "refund of duplicate charge, ticket #4521",
        min_length = 1,
        max_length = 500
    )]
    pub reason: String,
    /// The idempotency reference: **required unless the `Idempotency-Key` header is sent**
    /// (both: they must be equal). 1 to 200 visible ASCII characters, not starting with
    /// `system:`.
    #[schema(min_length = 1, max_length = 200, pattern = "^(?!system:)[!-~]+$")]
    pub reference: Option<String>,
}

/// `POST .../wallet/freeze` and `.../wallet/unfreeze` (admin only).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// Why; kept in the audit trail. 1 to 500 characters with at least one letter or digit and
    /// no control characters.
    #[schema(example = "chargeback under review", min_length = 1, max_length = 500)]
    pub reason: String,
    /// Whose freeze to set or lift. Default `admin`. Lifting one source never lifts another's.
    pub source: Option<FreezeSourceWire>,
}

/// `GET .../wallet/entries` query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Page size, 1 to 200. Default 50.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Comma-separated entry kinds to include, e.g. `debit,credit`. Default: all.
    #[param(example = "debit,credit", min_length = 1)]
    pub kinds: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Responses

/// Who set a freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = FreezeSource)]
pub enum FreezeSourceWire {
    Admin,
    Billing,
    Risk,
}

impl From<FreezeSourceWire> for FreezeSource {
    fn from(source: FreezeSourceWire) -> Self {
        match source {
            FreezeSourceWire::Admin => Self::Admin,
            FreezeSourceWire::Billing => Self::Billing,
            FreezeSourceWire::Risk => Self::Risk,
        }
    }
}

impl From<FreezeSource> for FreezeSourceWire {
    fn from(source: FreezeSource) -> Self {
        match source {
            FreezeSource::Admin => Self::Admin,
            FreezeSource::Billing => Self::Billing,
            FreezeSource::Risk => Self::Risk,
        }
    }
}

/// An active freeze.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FreezeView {
    pub source: FreezeSourceWire,
    pub reason: String,
    /// `admin`, `api_key:<id>` or `system:<component>`.
    pub actor: String,
    pub frozen_at: DateTime<Utc>,
}

impl From<Freeze> for FreezeView {
    fn from(freeze: Freeze) -> Self {
        Self {
            source: freeze.source.into(),
            reason: freeze.reason.as_str().to_owned(),
            actor: freeze.actor.as_str().to_owned(),
            frozen_at: freeze.frozen_at,
        }
    }
}

/// The wallet's figures: `available = balance - held`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WalletResponse {
    #[schema(value_type = uuid::Uuid)]
    pub wallet_id: WalletId,
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: OrganizationId,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "100.00")]
    pub balance: String,
    /// Reserved by open holds.
    #[schema(example = "20.00")]
    pub held: String,
    /// What can still be debited or held.
    #[schema(example = "80.00")]
    pub available: String,
    /// Debits and new holds are refused while any freeze is active; credits are still recorded.
    pub frozen: bool,
    pub freezes: Vec<FreezeView>,
}

impl From<WalletBalance> for WalletResponse {
    fn from(wallet: WalletBalance) -> Self {
        Self {
            wallet_id: wallet.wallet_id,
            organization_id: wallet.organization_id,
            currency: wallet.currency.code().to_owned(),
            balance: decimal(wallet.balance),
            held: decimal(wallet.held),
            available: decimal(wallet.available),
            frozen: wallet.frozen,
            freezes: wallet.freezes.into_iter().map(FreezeView::from).collect(),
        }
    }
}

/// What an entry did. A `reversal` is money a payment provider took back (a refund, a
/// chargeback, a lost dispute): taken even from a frozen wallet, but never more than was
/// available, so its `amount` may be less than the provider took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = EntryKind)]
pub enum EntryKindWire {
    Credit,
    Debit,
    Hold,
    Capture,
    Release,
    Expiry,
    Correction,
    Reversal,
}

impl From<EntryKind> for EntryKindWire {
    fn from(kind: EntryKind) -> Self {
        match kind {
            EntryKind::Credit => Self::Credit,
            EntryKind::Debit => Self::Debit,
            EntryKind::Hold => Self::Hold,
            EntryKind::Capture => Self::Capture,
            EntryKind::Release => Self::Release,
            EntryKind::Expiry => Self::Expiry,
            EntryKind::Correction => Self::Correction,
            EntryKind::Reversal => Self::Reversal,
        }
    }
}

/// One append-only ledger entry, with the wallet's figures right after it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryView {
    #[schema(value_type = uuid::Uuid)]
    pub id: EntryId,
    pub kind: EntryKindWire,
    /// Always positive; the direction is in `balance_change` and `held_change`.
    #[schema(example = "12.34")]
    pub amount: String,
    #[schema(example = "-12.34")]
    pub balance_change: String,
    #[schema(example = "0.00")]
    pub held_change: String,
    #[schema(example = "87.66")]
    pub balance_after: String,
    #[schema(example = "0.00")]
    pub held_after: String,
    #[schema(example = "USD")]
    pub currency: String,
    #[schema(example = "revenue:messages")]
    pub counterparty: String,
    pub reference: String,
    /// The hold, for `hold`, `capture`, `release` and `expiry` entries.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub hold_id: Option<HoldId>,
    /// The reason, for corrections.
    pub reason: Option<String>,
    /// `admin`, `api_key:<id>` or `system:<component>`.
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl From<Entry> for EntryView {
    fn from(entry: Entry) -> Self {
        Self {
            id: entry.id,
            kind: entry.kind.into(),
            amount: decimal(entry.amount),
            balance_change: decimal(entry.balance_change),
            held_change: decimal(entry.held_change),
            balance_after: decimal(entry.balance_after),
            held_after: decimal(entry.held_after),
            currency: entry.amount.currency().code().to_owned(),
            counterparty: entry.counterparty.as_str().to_owned(),
            reference: entry.reference.as_str().to_owned(),
            hold_id: entry.hold_id,
            reason: entry.reason.map(|reason| reason.as_str().to_owned()),
            actor: entry.actor.as_str().to_owned(),
            created_at: entry.created_at,
        }
    }
}

/// The result of a money movement. `replayed` is true (and the status 200) when the reference
/// had already been applied with the same parameters: this is the original entry and nothing
/// was written.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EntryReceipt {
    pub entry: EntryView,
    pub replayed: bool,
}

/// A page of history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl From<HistoryPage> for EntryPage {
    fn from(page: HistoryPage) -> Self {
        Self {
            entries: page.entries.into_iter().map(EntryView::from).collect(),
            next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = HoldStatus)]
pub enum HoldStatusWire {
    Open,
    /// Fully captured.
    Captured,
    Released,
    Expired,
}

impl From<HoldStatus> for HoldStatusWire {
    fn from(status: HoldStatus) -> Self {
        match status {
            HoldStatus::Open => Self::Open,
            HoldStatus::Captured => Self::Captured,
            HoldStatus::Released => Self::Released,
            HoldStatus::Expired => Self::Expired,
        }
    }
}

/// A reservation of wallet funds.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    #[schema(value_type = uuid::Uuid)]
    pub id: HoldId,
    #[schema(value_type = uuid::Uuid)]
    pub wallet_id: WalletId,
    #[schema(example = "50.00")]
    pub amount: String,
    #[schema(example = "12.34")]
    pub captured: String,
    #[schema(example = "0.00")]
    pub released: String,
    /// Still reserved: `amount - captured - released`.
    #[schema(example = "37.66")]
    pub remaining: String,
    #[schema(example = "USD")]
    pub currency: String,
    pub status: HoldStatusWire,
    #[schema(example = "revenue:messages")]
    pub counterparty: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl From<Hold> for HoldView {
    fn from(hold: Hold) -> Self {
        Self {
            id: hold.id,
            wallet_id: hold.wallet_id,
            amount: decimal(hold.amount),
            captured: decimal(hold.captured),
            released: decimal(hold.released),
            remaining: decimal(hold.remaining),
            currency: hold.amount.currency().code().to_owned(),
            status: hold.status.into(),
            counterparty: hold.counterparty.as_str().to_owned(),
            expires_at: hold.expires_at,
            created_at: hold.created_at,
            closed_at: hold.closed_at,
        }
    }
}

/// A new hold and the entry that reserved it (as they are now; see `replayed` on
/// [`EntryReceipt`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldReceiptResponse {
    pub hold: HoldView,
    pub entry: EntryView,
    pub replayed: bool,
}

impl HoldReceiptResponse {
    pub fn new(receipt: HoldReceipt, replayed: bool) -> Self {
        Self {
            hold: receipt.hold.into(),
            entry: receipt.entry.into(),
            replayed,
        }
    }
}

/// The result of a freeze or unfreeze: `changed` is false when that source's freeze already was
/// in the requested state (the original freeze and its reason are kept).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FreezeResponse {
    pub changed: bool,
    pub wallet: WalletResponse,
}

impl From<FreezeOutcome> for FreezeResponse {
    fn from(outcome: FreezeOutcome) -> Self {
        Self {
            changed: outcome.changed,
            wallet: outcome.wallet.into(),
        }
    }
}

/// One wallet's reconciliation: the stored figures against what the entries and open holds say.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationResponse {
    #[schema(value_type = uuid::Uuid)]
    pub wallet_id: WalletId,
    #[schema(example = "USD")]
    pub currency: String,
    pub stored_balance: String,
    /// Sum of every entry's `balance_change`.
    pub entries_balance: String,
    pub stored_held: String,
    /// Sum of every entry's `held_change`.
    pub entries_held: String,
    /// What open holds still reserve.
    pub open_holds_held: String,
    /// Entries whose `*_after` figures do not follow from the entry before them.
    pub chain_breaks: i64,
    /// All figures agree and the chain is unbroken.
    pub clean: bool,
}

impl From<Reconciliation> for ReconciliationResponse {
    fn from(reconciliation: Reconciliation) -> Self {
        Self {
            clean: reconciliation.is_clean(),
            wallet_id: reconciliation.wallet_id,
            currency: reconciliation
                .currency
                .map_or_else(|| "unknown".to_owned(), |c| c.code().to_owned()),
            stored_balance: reconciliation.decimal(reconciliation.stored_balance),
            entries_balance: reconciliation.decimal(reconciliation.entries_balance),
            stored_held: reconciliation.decimal(reconciliation.stored_held),
            entries_held: reconciliation.decimal(reconciliation.entries_held),
            open_holds_held: reconciliation.decimal(reconciliation.open_holds_held),
            chain_breaks: reconciliation.chain_breaks,
        }
    }
}

/// `GET /v1/admin/reconciliation`: only the wallets that drifted; empty when the books balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftsResponse {
    pub drifts: Vec<ReconciliationResponse>,
}

/// `POST /v1/admin/holds/expire`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiredHoldsResponse {
    /// Holds expired by this sweep (at most 1000; call again if it was 1000).
    pub expired: usize,
    /// Due holds that could not be expired now (e.g. their wallet stayed locked); the next
    /// sweep retries them.
    pub failed: usize,
}
