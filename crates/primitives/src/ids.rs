//! Typed identifiers: a wallet id can never be passed where a hold id is expected.
//!
//! All ids are UUID v7, so they sort by creation time and index well.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

typed_id!(
    /// A customer organization (tenant).
    OrganizationId
);
typed_id!(
    /// The prepaid wallet of one organization.
    WalletId
);
typed_id!(
    /// One append-only ledger entry.
    EntryId
);
typed_id!(
    /// A reservation of wallet funds (e.g. a campaign budget).
    HoldId
);
typed_id!(
    /// An API key issued to an organization.
    ApiKeyId
);
typed_id!(
    /// One subscription of an organization (an organization may have had several over time).
    SubscriptionId
);
typed_id!(
    /// A brand of an organization: who its campaigns are sent as, through its Twilio subaccount.
    BrandId
);
typed_id!(
    /// A messaging campaign of a brand.
    CampaignId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_round_trip_through_strings() {
        let id = WalletId::new();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let parsed: WalletId = id.to_string().parse().unwrap_or_default();
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<WalletId>().is_err());
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = EntryId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(EntryId::new() > first);
    }
}
