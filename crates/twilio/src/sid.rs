//! SID checks, done before a SID is put into a URL path: a SID that is not two letters and 32
//! hex digits could change the path (`../`, `?`), so it never reaches the request (G12).

use crate::TwilioError;

fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// An account or subaccount SID: `AC` and 32 hex digits.
pub fn validate_account_sid(value: &str) -> Result<&str, TwilioError> {
    if is_sid(value, "AC") {
        Ok(value)
    } else {
        Err(TwilioError::InvalidInput {
            field: "account SID",
            reason: "must be AC followed by 32 hex digits",
        })
    }
}

/// A messaging service SID: `MG` and 32 hex digits.
pub fn validate_messaging_service_sid(value: &str) -> Result<&str, TwilioError> {
    if is_sid(value, "MG") {
        Ok(value)
    } else {
        Err(TwilioError::InvalidInput {
            field: "messaging service SID",
            reason: "must be MG followed by 32 hex digits",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_prefix_and_32_hex_digits() {
        let good = format!("AC{}", "0123456789abcdefABCDEF0123456789");
        assert!(validate_account_sid(&good).is_ok());
        assert!(validate_account_sid(&good[..33]).is_err());
        assert!(validate_account_sid(&format!("{good}0")).is_err());
        assert!(validate_account_sid(&good.replace("AC", "MG")).is_err());
        assert!(validate_account_sid("AC../../../Messages.json?x=1234567").is_err());
        assert!(validate_messaging_service_sid(&good.replace("AC", "MG")).is_ok());
        // Multi-byte characters must not make slicing panic.
        assert!(validate_account_sid("ACé0123456789abcdef0123456789abcd").is_err());
    }
}
