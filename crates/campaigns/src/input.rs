//! Validated inputs: each is checked once when built, so operations can trust it and the
//! database `CHECK`s are a backstop (G12).

use crate::CampaignsError;

fn invalid(field: &'static str, reason: &'static str) -> CampaignsError {
    CampaignsError::InvalidInput { field, reason }
}

/// A display name (brands, campaigns): trimmed, 1 to 200 characters, no control characters.
pub(crate) fn display_name(field: &'static str, value: &str) -> Result<String, CampaignsError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 200 {
        return Err(invalid(field, "must be 1 to 200 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// An error text fit to store and show: at most `max_chars`, control characters as spaces,
/// never empty.
pub(crate) fn error_text(message: &str, max_chars: usize) -> String {
    let text: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    if text.trim().is_empty() {
        "unknown error".to_owned()
    } else {
        text
    }
}

/// A message SID as Twilio writes them (`SM` or `MM` and 32 hex digits); anything else is not
/// stored (the database refuses it, and a settlement must not fail over Twilio's text).
pub(crate) fn message_sid(sid: &str) -> Option<String> {
    let ok = sid.len() == 34
        && sid.bytes().take(2).all(|b| b.is_ascii_uppercase())
        && sid.bytes().skip(2).all(|b| b.is_ascii_hexdigit());
    ok.then(|| sid.to_owned())
}

/// A campaign's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignName(String);

impl CampaignName {
    pub fn parse(value: &str) -> Result<Self, CampaignsError> {
        display_name("name", value).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What every recipient receives: 1 to 1600 characters (Twilio's limit); line breaks and tabs
/// are allowed, other control characters are not (they would not survive the SMS alphabet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 1600;

    pub fn parse(value: &str) -> Result<Self, CampaignsError> {
        if value.trim().is_empty() || value.chars().count() > Self::MAX_CHARS {
            return Err(invalid(
                "body",
                "must be 1 to 1600 characters, not only spaces",
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid(
                "body",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a campaign's messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A phone number in E.164, or an alphanumeric sender ID (1 to 11 letters and digits, at
    /// least one letter).
    From(String),
    /// A Twilio messaging service (`MG` + 32 hex digits), which picks the number.
    MessagingService(String),
}

impl Sender {
    pub fn from_number(value: &str) -> Result<Self, CampaignsError> {
        let value = value.trim();
        let alphanumeric = (1..=11).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric())
            && value.bytes().any(|b| b.is_ascii_alphabetic());
        if alphanumeric || PhoneNumber::is_e164(value) {
            Ok(Self::From(value.to_owned()))
        } else {
            Err(invalid(
                "from",
                "must be an E.164 number or an alphanumeric sender ID of 1 to 11 characters",
            ))
        }
    }

    pub fn messaging_service(value: &str) -> Result<Self, CampaignsError> {
        twilio::validate_messaging_service_sid(value)
            .map(|sid| Self::MessagingService(sid.to_owned()))
            .map_err(|_| {
                invalid(
                    "messaging_service_sid",
                    "must be MG followed by 32 hex digits",
                )
            })
    }

    pub(crate) const fn kind(&self) -> &'static str {
        match self {
            Self::From(_) => "from",
            Self::MessagingService(_) => "messaging_service",
        }
    }

    pub(crate) fn value(&self) -> &str {
        match self {
            Self::From(value) | Self::MessagingService(value) => value,
        }
    }

    pub(crate) fn from_stored(kind: &str, value: String) -> Option<Self> {
        match kind {
            "from" => Some(Self::From(value)),
            "messaging_service" => Some(Self::MessagingService(value)),
            _ => None,
        }
    }

    pub(crate) fn to_twilio(&self) -> twilio::Sender {
        match self {
            Self::From(value) => twilio::Sender::From(value.clone()),
            Self::MessagingService(value) => twilio::Sender::MessagingService(value.clone()),
        }
    }
}

/// A recipient's number in E.164: `+`, then 7 to 15 digits, the first not 0. Surrounding
/// whitespace is trimmed; separators inside (spaces, dashes, brackets) are refused rather than
/// guessed at, so what is stored is exactly what is dialled.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::is_e164(value).then(|| Self(value.to_owned()))
    }

    fn is_e164(value: &str) -> bool {
        let Some(digits) = value.strip_prefix('+') else {
            return false;
        };
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_strict_e164() {
        for good in [
            "+14155550100",
            " +442071838750 ",
            "+1234567",
            "+123456789012345",
        ] {
            assert!(PhoneNumber::parse(good).is_some(), "{good:?}");
        }
        for bad in [
            "",
            "+",
            "14155550100",
            "+0123456789",
            "+123456",
            "+1234567890123456",
            "+1 415 555 0100",
            "+1-415-555-0100",
            "+1415555010O",
            "+١٤١٥٥٥٥٠١٠٠",
            "++14155550100",
        ] {
            assert!(PhoneNumber::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn bodies_names_and_senders_are_bounded() {
        assert!(MessageBody::parse("Hello\nworld\t!").is_ok());
        assert!(MessageBody::parse(&"x".repeat(1600)).is_ok());
        for bad in ["", "  \n", "nul\0", "bell\u{7}"] {
            assert!(MessageBody::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MessageBody::parse(&"x".repeat(1601)).is_err());
        assert_eq!(
            CampaignName::parse("  Spring sale ").unwrap().as_str(),
            "Spring sale"
        );
        assert!(CampaignName::parse(&"n".repeat(201)).is_err());
        assert!(CampaignName::parse("a\u{1b}[31m").is_err());
        assert!(Sender::from_number("+14155550199").is_ok());
        assert!(Sender::from_number("ACMEshop").is_ok());
        for bad in ["", "12345", "ACME SHOP", "TwelveChars1", "+0123"] {
            assert!(Sender::from_number(bad).is_err(), "{bad:?}");
        }
        assert!(Sender::messaging_service(&format!("MG{}", "a".repeat(32))).is_ok());
        assert!(Sender::messaging_service("MG123").is_err());
    }
}
