//! Validated text inputs. Each is checked once at construction, so the operations can trust them
//! and the database `CHECK`s are a backstop rather than the first line of defence.

use std::fmt;

use primitives::ApiKeyId;

/// Why a text input was refused; `code` is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

fn check_text(
    value: &str,
    field: &'static str,
    code: &'static str,
    max_chars: usize,
) -> Result<(), InputError> {
    let fail = |message: &str| InputError {
        code,
        field,
        message: message.into(),
    };
    if value.chars().count() > max_chars {
        return Err(fail(&format!("must be at most {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(fail(
            "must not contain control, invisible or text-direction characters",
        ));
    }
    // An audit trail of blank-looking text explains nothing.
    if !value.chars().any(char::is_alphanumeric) {
        return Err(fail("must contain at least one letter or digit"));
    }
    Ok(())
}

/// Characters that render as nothing or reorder text: they make two different strings look the
/// same in a log or an admin screen, which an audit trail must not allow.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E000}'..='\u{F8FF}'
            | '\u{E0000}'..='\u{E0FFF}'
            | '\u{F0000}'..='\u{10FFFF}'
    )
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from the database, where the same `CHECK` already holds.
            pub(crate) fn from_trusted(value: String) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// The caller's idempotency reference: unique per wallet, 1..=200 visible characters.
    Reference
);
text_type!(
    /// The system account on the other side of a movement, e.g. `revenue:messages`,
    /// `topup:paypal`, `correction`: lower-case segments of `[a-z0-9_.-]` joined by `:`.
    Counterparty
);
text_type!(
    /// Who performed an operation (`admin`, `api_key:<id>`, `system:<component>`).
    Actor
);
text_type!(
    /// A mandatory human explanation (corrections, freezes), 1..=500 characters.
    Reason
);

impl Reference {
    /// References starting with this are written by the ledger itself (e.g. hold expiries).
    pub const SYSTEM_PREFIX: &'static str = "system:";

    /// A caller's reference: 1..=200 printable ASCII characters (no spaces), so that two
    /// references that look alike are alike; the `system:` prefix is reserved.
    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        let fail = |message: &str| InputError {
            code: "INVALID_REFERENCE",
            field: "reference",
            message: message.into(),
        };
        if value.is_empty() || value.len() > 200 {
            return Err(fail("must be 1 to 200 characters"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(fail("must be printable ASCII without spaces"));
        }
        if value.starts_with(Self::SYSTEM_PREFIX) {
            return Err(fail("the `system:` prefix is reserved for the ledger"));
        }
        Ok(Self(value))
    }

    /// A reference of the ledger's own, e.g. `system:expiry:<hold id>`.
    pub(crate) fn system(suffix: String) -> Self {
        Self(format!("{}{suffix}", Self::SYSTEM_PREFIX))
    }
}

impl Counterparty {
    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        check_text(&value, "counterparty", "INVALID_COUNTERPARTY", 100)?;
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                })
        };
        if !value.split(':').all(segment_ok) {
            return Err(InputError {
                code: "INVALID_COUNTERPARTY",
                field: "counterparty",
                message: "must be lower-case segments of [a-z0-9_.-] joined by ':'".into(),
            });
        }
        Ok(Self(value))
    }

    /// The account that balances corrections.
    pub fn correction() -> Self {
        Self("correction".into())
    }
}

impl Actor {
    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        check_text(&value, "actor", "INVALID_ACTOR", 200)?;
        Ok(Self(value))
    }

    /// The holder of the admin credential.
    pub fn admin() -> Self {
        Self("admin".into())
    }

    pub fn api_key(id: ApiKeyId) -> Self {
        Self(format!("api_key:{id}"))
    }

    /// An automated component, e.g. `system("hold-expiry")`. Takes a `'static` name so it can
    /// only come from code, never from a request.
    pub fn system(component: &'static str) -> Self {
        Self(format!("system:{component}"))
    }
}

impl Reason {
    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        check_text(&value, "reason", "INVALID_REASON", 500)?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_bounded_visible_text() {
        assert!(Reference::parse("msg-123:abc").is_ok());
        assert!(Reference::parse("x".repeat(200)).is_ok());
        assert_eq!(
            Reference::parse("x".repeat(201)).unwrap_err().code,
            "INVALID_REFERENCE"
        );
        for bad in [
            "",
            "   ",
            "a b",
            "tab\there",
            "nl\n",
            "order-1\u{200B}",
            "ｏｒｄｅｒ",
            "système",
            "system:expiry:x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counterparties_are_structured_account_names() {
        for good in [
            "revenue:messages",
            "topup:paypal",
            "correction",
            "a.b-c_d:e1",
        ] {
            assert!(Counterparty::parse(good).is_ok(), "{good:?}");
        }
        for bad in ["", "Revenue", "a::b", ":a", "a:", "a b", "ü"] {
            assert!(Counterparty::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reasons_and_actors_must_say_something() {
        assert!(Reason::parse("").is_err());
        assert!(Reason::parse(" \t").is_err());
        assert!(Reason::parse("x".repeat(501)).is_err());
        assert!(Reason::parse("refund for outage #42").is_ok());
        assert!(Reason::parse("remboursement après panne").is_ok());
        for blank in ["\u{200B}", "\u{2800}", "\u{3164}", "---", "ok\u{202E}kcab"] {
            assert!(Reason::parse(blank).is_err(), "{blank:?}");
        }
        assert!(Actor::parse("").is_err());
        assert_eq!(Actor::system("hold-expiry").as_str(), "system:hold-expiry");
    }
}
