//! Campaign control (docs/guarantees.md: G1, G3, G7, G8, G10): brands and their Twilio subaccounts,
//! campaigns paid for from wallet holds, eligibility, and a dispatcher that never sends a
//! message twice or unpaid. docs/campaigns.md and docs/messaging.md describe the semantics.
//!
//! - [`brands`] and [`messaging`]: an organization's brands, each with its Twilio subaccount
//!   and persisted messaging status; suspension and reactivation go through the outbox
//!   ([`SubaccountHandler`], [`ControlHandler`]), and the latest wish wins.
//! - [`topics`]: the outbox messages campaigns owns ([`CampaignControl`], [`MessagingControl`],
//!   [`SubaccountCall`]), each its topic's one contract for producers and handler.
//! - [`Campaigns`]: create a campaign, add recipients, start (placing the hold), pause, resume,
//!   cancel, status; [`Campaigns::pause_all`] and [`Campaigns::resume_if_eligible`] for a whole
//!   organization, driven by [`CampaignControlHandler`].
//! - [`eligibility`]: every reason an organization may not send, from the sources of truth.
//! - [`Dispatcher`]: claims batches with `FOR UPDATE SKIP LOCKED`, sends through a
//!   [`twilio::MessageSender`], charges what was accepted from the hold (a charge due in the
//!   books, booked through the ledger's batching writer: `charges`), releases the rest.
//! - [`delivery`]: what Twilio reports about each message (status callbacks), moving only
//!   forward, and resolving unconfirmed recipients it proves were (or were not) sent.
//! - [`Lookup`]: the job that resolves unconfirmed recipients from Twilio's message list.
//! - [`segments`]: what one message costs, in SMS segments.

pub mod brands;
mod campaign;
mod charges;
mod control;
pub mod delivery;
pub mod dispatch;
pub mod eligibility;
mod error;
mod funds;
mod handlers;
mod input;
mod lifecycle;
pub mod lookup;
pub mod messaging;
mod reconcile;
pub mod segments;
mod service;
mod settings;
mod store;
pub mod topics;

pub use brands::{Brand, BrandId, BrandName, MessagingStatus, Requested, SubaccountSid, Wish};
pub use campaign::{Campaign, CampaignId, CampaignStatus, PauseReason, RecipientStatus};
pub use control::{CampaignControlHandler, organizations_with_billing_pauses};
pub use delivery::{
    Change, Delivery, DeliveryCounts, DeliveryError, DeliveryReport, DeliveryStatus, Recorded,
};
pub use dispatch::{BatchCounts, BatchReport, DispatchConfig, Dispatcher, RunReport};
pub use error::{CampaignsError, InvalidPhone};
pub use funds::FundsPolicy;
pub use handlers::{ControlHandler, SubaccountHandler};
pub use input::{CampaignName, MessageBody, PhoneNumber, Sender};
pub use lookup::{Lookup, LookupConfig, LookupReport};
pub use reconcile::{Recipient, Resolution};
pub use service::{Added, CampaignSummary, Campaigns, Done, MAX_RECIPIENTS_PER_CALL, NewCampaign};
pub use settings::HoldSettings;
pub use store::{RecipientCounts, owns_hold};
pub use topics::{
    CampaignAction, CampaignControl, Cause, MessagingAction, MessagingControl, SubaccountCall,
};
