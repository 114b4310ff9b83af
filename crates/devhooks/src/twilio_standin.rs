//! The development mode's stand-in for Twilio's subaccount API, used when Twilio is not
//! configured: there is no Twilio account whose charges a suspension would stop, so every
//! status change is done as asked, and a brand suspended for a failed payment is active again
//! once it is paid (its campaigns then resume, as they would with Twilio). Nothing is sent
//! anywhere; production never uses it.

use twilio::{AccountStatus, SubaccountControl, SubaccountStatus, TwilioError};

/// Answers every subaccount call as Twilio would after doing it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSubaccounts;

#[async_trait::async_trait]
impl SubaccountControl for LocalSubaccounts {
    async fn set_status(
        &self,
        _sid: &str,
        status: SubaccountStatus,
    ) -> Result<AccountStatus, TwilioError> {
        Ok(match status {
            SubaccountStatus::Suspended => AccountStatus::Suspended,
            SubaccountStatus::Active => AccountStatus::Active,
        })
    }

    async fn fetch_status(&self, _sid: &str) -> Result<AccountStatus, TwilioError> {
        Ok(AccountStatus::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_status_change_is_done_as_asked() {
        let local = LocalSubaccounts;
        let sid = "AC00000000000000000000000000000001";
        assert_eq!(
            local
                .set_status(sid, SubaccountStatus::Suspended)
                .await
                .unwrap(),
            AccountStatus::Suspended
        );
        assert_eq!(
            local
                .set_status(sid, SubaccountStatus::Active)
                .await
                .unwrap(),
            AccountStatus::Active
        );
    }
}
