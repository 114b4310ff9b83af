//! The address an organization's billing notices go to.

use std::fmt;

use crate::TenancyError;

/// A plausible mailbox address: what the database `CHECK` accepts, checked here first so callers
/// get a typed error. Deliverability is the mail server's business, not ours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BillingEmail(String);

impl BillingEmail {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, TenancyError> {
        let invalid = |reason| TenancyError::InvalidEmail { reason };
        let trimmed = raw.trim();
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("must not contain spaces or control characters"));
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err(invalid("must look like name@example.com"));
        };
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(invalid("must look like name@example.com"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BillingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        let parsed = BillingEmail::parse("  billing@acme.example ").unwrap();
        assert_eq!(parsed.as_str(), "billing@acme.example");
        let long = format!("{}@x.example", "a".repeat(250));
        for bad in [
            "",
            "acme",
            "@acme.example",
            "billing@",
            "a@b@c",
            "bil ling@acme",
            "a\n@b",
            &long,
        ] {
            assert!(BillingEmail::parse(bad).is_err(), "{bad:?}");
        }
    }
}
