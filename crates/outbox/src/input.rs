//! Validated names: a topic and a dedupe key are checked once, when built, so the SQL can trust
//! them and the table's `CHECK`s are a backstop.

use std::{borrow::Cow, fmt};

/// Why a topic or dedupe key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    pub field: &'static str,
    pub message: &'static str,
}

/// Which handler delivers a message: lower-case ASCII words of `[a-z0-9_]` starting with a
/// letter, joined by dots, at most 64 bytes (`mail`, `twilio.sms`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(Cow<'static, str>);

impl Topic {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        match topic_problem(value.as_bytes()) {
            None => Ok(Self(Cow::Owned(value))),
            Some(message) => Err(InputError {
                field: "topic",
                message,
            }),
        }
    }

    /// For topic constants. An invalid literal fails the build when used in a `const`, and
    /// panics otherwise.
    pub const fn from_static(value: &'static str) -> Self {
        if topic_problem(value.as_bytes()).is_some() {
            panic!("invalid outbox topic literal");
        }
        Self(Cow::Borrowed(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const fn topic_problem(bytes: &[u8]) -> Option<&'static str> {
    if bytes.is_empty() || bytes.len() > Topic::MAX_LEN {
        return Some("must be 1 to 64 characters");
    }
    let mut i = 0;
    let mut word_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        if word_start && !b.is_ascii_lowercase() {
            return Some("each dot-separated word must start with a lower-case letter");
        }
        word_start = b == b'.';
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.') {
            return Some("only lower-case letters, digits, '_' and '.' are allowed");
        }
        i += 1;
    }
    if word_start {
        return Some("must not end with a dot");
    }
    None
}

/// The caller's idempotency key within a topic: 1 to 200 visible ASCII characters (no spaces),
/// so two keys that look alike are alike. Enqueueing an existing (topic, key) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DedupeKey(String);

impl DedupeKey {
    pub const MAX_LEN: usize = 200;

    pub fn parse(value: impl Into<String>) -> Result<Self, InputError> {
        let value = value.into();
        let fail = |message| InputError {
            field: "dedupe_key",
            message,
        };
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(fail("must be 1 to 200 characters"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(fail(
                "only visible ASCII characters (no spaces) are allowed",
            ));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! display_as_str {
    ($($name:ident),+) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

display_as_str!(Topic, DedupeKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_lower_case_dotted_words() {
        for ok in ["mail", "twilio.sms", "billing.paypal_v2", "a.b.c9"] {
            assert_eq!(Topic::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "Notification",
            "twilio.",
            ".twilio",
            "twilio..x",
            "9lives",
            "a.9",
            "with space",
            "dash-ed",
            "naïve",
            &"x".repeat(65),
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad:?} should be refused");
        }
        const CONSTANT: Topic = Topic::from_static("twilio.sms");
        assert_eq!(CONSTANT, Topic::parse("twilio.sms").unwrap());
    }

    #[test]
    fn dedupe_keys_are_visible_ascii() {
        let longest = "k".repeat(200);
        for ok in [
            "a",
            "payment_failed:0190f3:attempt-2",
            "~!@#$%^&*()",
            &longest,
        ] {
            assert_eq!(DedupeKey::parse(ok).unwrap().as_str(), ok);
        }
        let too_long = "k".repeat(201);
        for bad in ["", "has space", "tab\there", "caf\u{e9}", "nl\n", &too_long] {
            assert!(DedupeKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
