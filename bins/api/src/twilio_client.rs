//! One Twilio client for the whole process: the dispatcher loops and the subaccount handler
//! share its connection pool.

use std::sync::Arc;

use twilio::{
    AccountStatus, MessageSender, SendMessage, SentMessage, SubaccountControl, SubaccountStatus,
    TwilioClient, TwilioError,
};

/// A [`TwilioClient`] behind an `Arc`, usable wherever a [`MessageSender`] or a
/// [`SubaccountControl`] is expected.
#[derive(Debug, Clone)]
pub struct SharedTwilio(Arc<TwilioClient>);

impl SharedTwilio {
    pub fn new(client: TwilioClient) -> Self {
        Self(Arc::new(client))
    }
}

impl MessageSender for SharedTwilio {
    async fn send(&self, message: &SendMessage) -> Result<SentMessage, TwilioError> {
        self.0.send_message(message).await
    }
}

impl SubaccountControl for SharedTwilio {
    async fn set_status(
        &self,
        sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        SubaccountControl::set_status(&*self.0, sid, status).await
    }

    async fn fetch_status(&self, sid: &str) -> Result<AccountStatus, TwilioError> {
        SubaccountControl::fetch_status(&*self.0, sid).await
    }
}
