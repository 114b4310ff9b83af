//! An email ready to go: recipient, text and a stable id.

use std::{fmt, str::FromStr};

use outbox::MessageId;
use primitives::OrganizationId;

use subscriptions::NotificationKind;

/// A syntactically valid address (`local@domain`), as the SMTP client will accept it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(lettre::Address);

/// Not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidAddress;

impl EmailAddress {
    pub fn parse(value: &str) -> Result<Self, InvalidAddress> {
        lettre::Address::from_str(value.trim())
            .map(Self)
            .map_err(|_| InvalidAddress)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The part after `@`: what logs show instead of the whole address.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    pub(crate) fn as_lettre(&self) -> &lettre::Address {
        &self.0
    }
}

/// Only the domain: addresses are personal data and stay out of logs and debug output.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress(…@{})", self.domain())
    }
}

/// One email to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
    /// The outbox message this email delivers. A resend after a crash carries the same id, and
    /// so the same `Message-ID` header, which lets mail systems drop the duplicate.
    pub outbox_id: MessageId,
    pub kind: NotificationKind,
    pub organization_id: OrganizationId,
}

impl OutgoingEmail {
    /// `<{outbox id}@{domain}>`: the `Message-ID` for mail sent from `domain`.
    pub fn message_id(&self, domain: &str) -> String {
        format!("<{}@{domain}>", self.outbox_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_debug_shows_only_the_domain() {
        let address = EmailAddress::parse(" billing@acme.example ").unwrap();
        assert_eq!(address.as_str(), "billing@acme.example");
        assert_eq!(address.domain(), "acme.example");
        assert_eq!(format!("{address:?}"), "EmailAddress(…@acme.example)");
        for bad in ["", "acme.example", "a@", "@b", "a b@c.d", "a@b@c"] {
            assert_eq!(EmailAddress::parse(bad), Err(InvalidAddress), "{bad:?}");
        }
    }
}
