//! Vocabulary shared by every billing crate: exact money, typed ids, clocks, provider names,
//! error classes and reading configuration.
//!
//! Nothing here knows about databases or HTTP, so any crate (and any importer) can use it.

mod clock;
pub mod config;
mod error_class;
mod ids;
mod money;
mod provider;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error_class::{Classified, ErrorClass};
pub use ids::{
    ApiKeyId, BrandId, CampaignId, EntryId, HoldId, OrganizationId, SubscriptionId, WalletId,
};
pub use iso_currency::Currency;
pub use money::{AmountError, Money, MoneyError, currency_exponent, parse_currency};
pub use provider::ProviderName;
