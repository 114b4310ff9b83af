//! The customer's own billing actions (docs/api.md, "Customer actions"): start a subscription
//! on a plan with a provider, cancel it (now or at the period's end), pause and resume it, get a
//! page to update the payment method, and top up the wallet through a provider's checkout.
//!
//! - [`decide`]: pure decisions (what each action may do from the subscription's status, the
//!   top-up limits, the keys sent to providers);
//! - [`CustomerActions`]: the I/O, so that every action is idempotent under the caller's
//!   `Idempotency-Key` (table `customer_requests`) and a refusal or a provider failure leaves
//!   nothing written;
//! - [`CustomerConfig`]: the plan catalog (`BILLING_PLANS`) and top-up limits (`TOP_UP_LIMITS`).
//!
//! A pause is the customer's own access block (status `paused`, block source `customer`): no
//! billing event lifts it, only resuming does. The provider learns of cancels, pauses and
//! resumes through the outbox ([`crate::ProviderCommand`]), never lost (G10). Top-ups are
//! recorded as checkouts (table `top_ups`); the wallet is credited only by the provider's
//! verified completion webhook, through the intake.

mod actions;
mod config;
pub mod decide;
mod error;
mod requests;
pub mod top_ups;

pub use actions::{
    Approval, CUSTOMER_SOURCE, Changed, CustomerActions, PaymentMethodPage, StartSubscription,
    StartTopUp, Started, TopUpStarted,
};
pub use config::{CustomerConfig, PlanCatalog, TopUpLimits};
pub use decide::{RequestKind, SubscriptionAction};
pub use error::CustomerError;
pub use top_ups::{TopUp, TopUpStatus};
