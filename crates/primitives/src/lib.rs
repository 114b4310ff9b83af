//! Vocabulary shared by every billing crate: exact money, typed ids and clocks.
//!
//! Nothing here knows about databases or HTTP, so any crate (and any importer) can use it.

mod clock;
mod ids;
mod money;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{ApiKeyId, EntryId, HoldId, OrganizationId, SubscriptionId, WalletId};
pub use iso_currency::Currency;
pub use money::{AmountError, Money, MoneyError, currency_exponent, parse_currency};
