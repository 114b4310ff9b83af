//! Local provider webhooks, in the spirit of the Stripe CLI's `trigger` (docs/local-webhooks.md):
//! a realistic event of PayPal, Stripe, PayHere or Twilio, signed exactly as the provider signs
//! it with the locally configured secret, posted to the receiver; and a stored delivery
//! replayed. The `webhook-tool` binary is a thin shell around this crate.
//!
//! - [`events`]: the events each provider sends ([`events::CATALOGUE`]), built from a few
//!   parameters ([`events::build`]) in the shape `billing`'s parsers read.
//! - [`signing`]: each provider's signature, written from its documented algorithm and
//!   independent of the verifiers; the tests' signers (`testkit::signing`) are these.
//! - [`LocalSecrets`]: the secrets the receiver reads (`STRIPE_WEBHOOK_SECRETS` ...), or each
//!   provider's development default when its variables are unset.
//! - [`dev`]: those development defaults, shared with the api's development mode, and PayPal's
//!   development CA (created on first use under `./.data/paypal-dev`, trusted by the
//!   development mode only).
//! - [`deliver`]: signing with the local secrets and posting to the receiver.
//! - [`replay`]: a stored delivery fetched through the admin API.
//! - [`LocalSubaccounts`]: the development mode's stand-in for Twilio's subaccount API when
//!   Twilio is not configured.

pub mod deliver;
pub mod dev;
pub mod events;
pub mod replay;
mod secrets;
pub mod signing;

mod error;
mod twilio_standin;

pub use error::Error;
pub use secrets::{LocalSecrets, Source};
pub use twilio_standin::LocalSubaccounts;
