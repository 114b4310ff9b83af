//! What domain code depends on, so the outbox, the dispatcher and their tests can use a fake.
//! Object-safe (`#[async_trait]`): implement them with `#[async_trait::async_trait]` on the
//! `impl` block; an `Arc` of either (`Arc<dyn MessageSender>` included) is one too.

use std::sync::Arc;

use secrecy::SecretString;

use crate::{
    AccountStatus, MessageListing, MessageQuery, SendMessage, SentMessage, SubaccountStatus,
    TwilioError,
};

/// Suspends and reactivates Twilio subaccounts (G7, G8).
#[async_trait::async_trait]
pub trait SubaccountControl: Send + Sync {
    /// Sets the subaccount's status and returns the status Twilio reports afterwards. Setting
    /// the status it already has succeeds, so the call can be repeated (G10).
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError>;

    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError>;
}

/// Sends one SMS. An error does not prove the message was not sent unless it is an input error,
/// a connect error or a 429; the caller must not blindly resend otherwise.
#[async_trait::async_trait]
pub trait MessageSender: Send + Sync {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError>;
}

/// Reads an account's message log: how a message whose send answer was lost is found again.
#[async_trait::async_trait]
pub trait MessageLog: Send + Sync {
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessageListing, TwilioError>;
}

/// Where the auth token of a (sub)account comes from: the key its callbacks are signed with.
#[async_trait::async_trait]
pub trait AuthTokenSource: Send + Sync {
    async fn auth_token(&self, account_sid: &str) -> Result<SecretString, TwilioError>;
}

#[async_trait::async_trait]
impl<T: MessageLog + ?Sized> MessageLog for Arc<T> {
    async fn list_messages(&self, query: &MessageQuery) -> Result<MessageListing, TwilioError> {
        (**self).list_messages(query).await
    }
}

#[async_trait::async_trait]
impl<T: AuthTokenSource + ?Sized> AuthTokenSource for Arc<T> {
    async fn auth_token(&self, account_sid: &str) -> Result<SecretString, TwilioError> {
        (**self).auth_token(account_sid).await
    }
}

#[async_trait::async_trait]
impl<T: SubaccountControl + ?Sized> SubaccountControl for Arc<T> {
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        (**self).set_status(sid, status).await
    }

    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError> {
        (**self).fetch_status(sid).await
    }
}

#[async_trait::async_trait]
impl<T: MessageSender + ?Sized> MessageSender for Arc<T> {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        (**self).send(message).await
    }
}
