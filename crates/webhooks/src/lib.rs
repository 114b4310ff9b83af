//! The webhook receiver (docs/guarantees.md: G9): `POST /webhooks/{paypal,stripe,payhere}`, and
//! Twilio's message status callbacks at `POST /webhooks/twilio/messages` ([`twilio_routes`]).
//!
//! Each delivery's raw bytes are verified by the provider's adapter before anything is parsed
//! or stored as trusted. A refused delivery gets a problem body with a stable code, is counted
//! (`webhook_refusals_total{provider,reason}`) and logged once (never with the body or the
//! signature material), and changes nothing. A verified one is stored in the inbox and
//! committed before the 2xx, then applied at once ([`intake::Intake::receive`]).
//!
//! - [`routes`]: the webhook routes, to mount in any router (the api's development mode does).
//! - [`Receiver`]: the whole service (webhook routes, `/healthz`, `/readyz`, `/metrics`), built
//!   from a [`ReceiverConfig`] by the `webhook-receiver` binary and by tests on port 0.

mod config;
mod receive;
mod refusal;
mod service;
mod twilio;

pub use config::{ConfigError, ReceiverConfig, TwilioCallbackConfig};
pub use receive::{ReceivedResponse, WebhookState, routes};
pub use refusal::REFUSALS;
pub use service::{Receiver, StartupError};
pub use twilio::{
    DeliveryResponse, TWILIO_MESSAGES_PATH, TwilioCallbacks, TwilioState, signed_url, twilio_routes,
};
