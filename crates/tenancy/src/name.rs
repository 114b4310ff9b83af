//! Validated display names. Validation happens here, once, so the database `CHECK`s are a
//! backstop rather than the first line of defence, and callers get a typed error instead of a
//! constraint violation.

use std::fmt;

use crate::TenancyError;

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, field = $field:literal, max = $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            /// Trims surrounding whitespace, then requires 1..=MAX_CHARS characters with no
            /// control characters (they break logs and dashboards).
            pub fn parse(raw: &str) -> Result<Self, TenancyError> {
                let invalid = |reason| TenancyError::InvalidName {
                    field: $field,
                    reason,
                };
                let trimmed = raw.trim();
                if trimmed.is_empty() {
                    return Err(invalid("must not be empty"));
                }
                if trimmed.chars().count() > Self::MAX_CHARS {
                    return Err(invalid(concat!("must be at most ", $max, " characters")));
                }
                if trimmed.chars().any(char::is_control) {
                    return Err(invalid("must not contain control characters"));
                }
                Ok(Self(trimmed.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

validated_name!(
    /// An organization's display name (the schema allows 1..=200 characters).
    OrganizationName,
    field = "name",
    max = 200
);

validated_name!(
    /// A label for an API key, such as "production dispatcher" (1..=100 characters).
    ApiKeyName,
    field = "name",
    max = 100
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_names_up_to_the_limit() {
        assert_eq!(
            OrganizationName::parse("  Acme  ").unwrap().as_str(),
            "Acme"
        );
        let longest = "é".repeat(200);
        assert_eq!(OrganizationName::parse(&longest).unwrap().as_str(), longest);
        assert!(ApiKeyName::parse(&"k".repeat(100)).is_ok());
    }

    #[test]
    fn refuses_empty_long_and_control_character_names() {
        for bad in ["", "   ", "\t\n"] {
            let err = OrganizationName::parse(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_NAME");
        }
        assert!(OrganizationName::parse(&"x".repeat(201)).is_err());
        assert!(ApiKeyName::parse(&"k".repeat(101)).is_err());
        assert!(OrganizationName::parse("bad\u{0}name").is_err());
        assert!(OrganizationName::parse("line\nbreak").is_err());
    }
}
