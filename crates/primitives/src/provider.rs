//! The billing providers the system knows. One type for the adapters (`billing`), the
//! subscriptions they bill (`subscriptions::ProviderRef`) and the webhook inbox, so a provider
//! name is never a free string that a typo could turn into one no webhook can reach.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A billing provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderName {
    Paypal,
    Stripe,
    Payhere,
}

impl ProviderName {
    pub const ALL: [Self; 3] = [Self::Paypal, Self::Stripe, Self::Payhere];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Paypal => "paypal",
            Self::Stripe => "stripe",
            Self::Payhere => "payhere",
        }
    }

    /// The provider named exactly (`paypal`, `stripe`, `payhere`), or `None`.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|name| name.as_str() == value)
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for name in ProviderName::ALL {
            assert_eq!(ProviderName::parse(name.as_str()), Some(name));
        }
        for other in ["", "PayPal", "paypal ", "foo", "stripe_test"] {
            assert_eq!(ProviderName::parse(other), None, "{other:?}");
        }
    }
}
