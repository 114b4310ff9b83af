//! What domain code depends on, so the outbox, the dispatcher and their tests can use a fake.

use std::future::Future;

use crate::{AccountStatus, SendMessage, SentMessage, SubaccountStatus, TwilioError};

/// Suspends and reactivates Twilio subaccounts (G7, G8).
pub trait SubaccountControl: Send + Sync {
    /// Sets the subaccount's status and returns the status Twilio reports afterwards. Setting
    /// the status it already has succeeds, so the call can be repeated (G10).
    fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> impl Future<Output = Result<AccountStatus, TwilioError>> + Send;

    fn fetch_status(
        &self,
        sid: &str,
    ) -> impl Future<Output = Result<AccountStatus, TwilioError>> + Send;
}

/// Sends one SMS. An error does not prove the message was not sent unless it is an input error,
/// a connect error or a 429; the caller must not blindly resend otherwise.
pub trait MessageSender: Send + Sync {
    fn send(
        &self,
        message: &SendMessage,
    ) -> impl Future<Output = Result<SentMessage, TwilioError>> + Send;
}
