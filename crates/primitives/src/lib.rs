//! Vocabulary shared by every billing crate: exact money, typed ids, clocks, provider names and
//! reading configuration.
//!
//! Nothing here knows about databases or HTTP, so any crate (and any importer) can use it.

mod clock;
pub mod config;
mod ids;
mod money;
mod provider;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{
    ApiKeyId, BrandId, CampaignId, EntryId, HoldId, OrganizationId, SubscriptionId, WalletId,
};
pub use iso_currency::Currency;
pub use money::{AmountError, Money, MoneyError, currency_exponent, parse_currency};
pub use provider::ProviderName;
