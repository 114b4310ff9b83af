//! Brands and messaging suspension (DESIGN G7, G10). Campaigns proper come later.
//!
//! - [`brands`]: an organization's brands, each with its Twilio subaccount and the persisted
//!   messaging status (`active`, `suspending`, `suspended`, `reactivating`) and last error.
//! - [`messaging::request`]: records a wish (suspend or reactivate) on every brand of an
//!   organization and enqueues one `twilio.subaccount` outbox message per brand, in the caller's
//!   transaction.
//! - [`SubaccountHandler`] delivers those messages: it applies the brand's *current* wish, so an
//!   organization reactivated before a pending suspension ran ends active. A Twilio failure only
//!   records `last_error` on the brand; billing state is never touched.
//! - [`ControlHandler`] turns enforcement's `messaging.control` messages into requests.

pub mod brands;
mod error;
mod handlers;
pub mod messaging;

pub use brands::{Brand, BrandId, BrandName, MessagingStatus, SubaccountSid};
pub use error::CampaignsError;
pub use handlers::{CONTROL_TOPIC, ControlHandler, SUBACCOUNT_TOPIC, SubaccountHandler};
pub use messaging::{Requested, Wish};
