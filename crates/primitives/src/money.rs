//! Exact money: integer minor units of an ISO 4217 currency.
//!
//! Amounts cross the wire as decimal strings ("12.34") and are parsed digit by digit using the
//! currency's exponent, never through floating point. An amount with more decimals than the
//! currency allows is refused rather than rounded: rounding money silently is how ledgers drift.

use std::fmt;

use iso_currency::Currency;
use serde::{Deserialize, Serialize};

/// Why a decimal string is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {input:?} is not a plain decimal number (digits, optional '-' and '.')")]
    Malformed { input: String },
    #[error("amount {input:?} has more than {max_decimals} decimals allowed for {currency}")]
    TooManyDecimals {
        input: String,
        currency: Currency,
        max_decimals: u16,
    },
    #[error("amount {input:?} does not fit in 64-bit minor units")]
    Overflow { input: String },
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("currency {code:?} is not a supported ISO 4217 currency")]
    UnsupportedCurrency { code: String },
}

/// Arithmetic failures on [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {left} vs {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("arithmetic overflow")]
    Overflow,
}

/// The number of minor-unit decimals of a currency (2 for USD, 0 for JPY, 3 for KWD).
///
/// Currencies without a defined exponent (precious metals, testing codes) cannot hold money here.
pub fn currency_exponent(currency: Currency) -> Result<u16, AmountError> {
    currency
        .exponent()
        .ok_or_else(|| AmountError::UnsupportedCurrency {
            code: currency.code().to_owned(),
        })
}

/// Parses a three-letter ISO 4217 code (upper case, as on the wire) into a money-capable currency.
pub fn parse_currency(code: &str) -> Result<Currency, AmountError> {
    let unsupported = || AmountError::UnsupportedCurrency {
        code: code.chars().take(16).collect(),
    };
    let currency = Currency::from_code(code).ok_or_else(unsupported)?;
    currency_exponent(currency)?;
    Ok(currency)
}

/// An amount of money in integer minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    pub const fn minor(&self) -> i64 {
        self.minor
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// Parses a signed decimal string exactly: "12.34" USD is 1234 minor units.
    ///
    /// Accepted: an optional leading '-', digits, optionally '.' and 1..=exponent digits.
    /// Refused: empty strings, '+', whitespace, thousands separators, exponents, a bare '.',
    /// too many decimals and anything that overflows `i64` minor units.
    pub fn parse(input: &str, currency: Currency) -> Result<Self, AmountError> {
        let exponent = currency_exponent(currency)?;
        if input.is_empty() {
            return Err(AmountError::Empty);
        }
        let malformed = || AmountError::Malformed {
            input: truncate_for_error(input),
        };
        let (negative, unsigned) = match input.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, input),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(malformed());
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > usize::from(exponent) {
            return Err(AmountError::TooManyDecimals {
                input: truncate_for_error(input),
                currency,
                max_decimals: exponent,
            });
        }
        let overflow = || AmountError::Overflow {
            input: truncate_for_error(input),
        };
        // Accumulate as a negative number when needed so that i64::MIN itself stays reachable.
        let sign: i64 = if negative { -1 } else { 1 };
        let padding = usize::from(exponent) - fraction.len();
        let digits = whole
            .bytes()
            .chain(fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        let mut minor: i64 = 0;
        for digit in digits {
            let value = i64::from(digit - b'0');
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(sign * value))
                .ok_or_else(overflow)?;
        }
        Ok(Self { minor, currency })
    }

    /// Like [`Money::parse`], but refuses zero and negative amounts.
    pub fn parse_positive(input: &str, currency: Currency) -> Result<Self, AmountError> {
        let money = Self::parse(input, currency)?;
        if money.is_positive() {
            Ok(money)
        } else {
            Err(AmountError::NotPositive)
        }
    }

    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    pub fn checked_sub(self, other: Self) -> Result<Self, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    pub fn checked_neg(self) -> Result<Self, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Self::from_minor(minor, self.currency))
    }

    fn same_currency(self, other: Self) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// The amount as a plain decimal string without currency ("12.34", "-0.05", "100").
    pub fn to_decimal_string(&self) -> String {
        // Currencies are checked to have an exponent when parsed; 2 is the safe fallback for
        // amounts built with `from_minor` on an exotic code.
        let exponent = u32::from(self.currency.exponent().unwrap_or(2));
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10u64.pow(exponent);
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.code())
    }
}

/// Error messages echo at most a short prefix of the input: a 10 MB "amount" must not become a
/// 10 MB error body or log line.
fn truncate_for_error(input: &str) -> String {
    const MAX: usize = 40;
    if input.chars().count() <= MAX {
        input.to_owned()
    } else {
        let mut short: String = input.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const USD: Currency = Currency::USD;

    #[test]
    fn parses_exact_decimal_strings() {
        assert_eq!(Money::parse("12.34", USD).unwrap().minor(), 1234);
        assert_eq!(Money::parse("12.3", USD).unwrap().minor(), 1230);
        assert_eq!(Money::parse("12", USD).unwrap().minor(), 1200);
        assert_eq!(Money::parse("0.01", USD).unwrap().minor(), 1);
        assert_eq!(Money::parse("-1.50", USD).unwrap().minor(), -150);
        assert_eq!(Money::parse("007.00", USD).unwrap().minor(), 700);
        assert_eq!(Money::parse("500", Currency::JPY).unwrap().minor(), 500);
        assert_eq!(Money::parse("1.234", Currency::KWD).unwrap().minor(), 1234);
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        let too_many = Money::parse("12.345", USD).unwrap_err();
        assert!(matches!(
            too_many,
            AmountError::TooManyDecimals {
                max_decimals: 2,
                ..
            }
        ));
        for bad in [
            "1,000.00", "abc", "1e3", " 1", "1 ", "+1", ".5", "5.", "-", "--1", "1.2.3", "0x10",
            "١٢", "NaN",
        ] {
            assert!(
                matches!(Money::parse(bad, USD), Err(AmountError::Malformed { .. })),
                "{bad:?} should be malformed"
            );
        }
        assert_eq!(Money::parse("", USD), Err(AmountError::Empty));
        assert!(matches!(
            Money::parse("1.0", Currency::JPY),
            Err(AmountError::TooManyDecimals { .. })
        ));
    }

    #[test]
    fn refuses_non_positive_where_positive_is_required() {
        assert_eq!(
            Money::parse_positive("-1", USD),
            Err(AmountError::NotPositive)
        );
        assert_eq!(
            Money::parse_positive("0.00", USD),
            Err(AmountError::NotPositive)
        );
        assert_eq!(Money::parse_positive("0.01", USD).unwrap().minor(), 1);
    }

    #[test]
    fn overflow_is_an_error_but_the_extremes_are_reachable() {
        assert_eq!(
            Money::parse("92233720368547758.07", USD).unwrap().minor(),
            i64::MAX
        );
        assert_eq!(
            Money::parse("-92233720368547758.08", USD).unwrap().minor(),
            i64::MIN
        );
        assert!(matches!(
            Money::parse("92233720368547758.08", USD),
            Err(AmountError::Overflow { .. })
        ));
        assert!(matches!(
            Money::parse(&"9".repeat(400), USD),
            Err(AmountError::Overflow { .. })
        ));
    }

    #[test]
    fn error_messages_do_not_echo_huge_inputs() {
        let huge = "x".repeat(100_000);
        let message = Money::parse(&huge, USD).unwrap_err().to_string();
        assert!(message.len() < 200, "{}", message.len());
    }

    #[test]
    fn an_error_names_the_refused_amount_cut_to_its_first_forty_characters() {
        let malformed = |input: &str| match Money::parse(input, USD) {
            Err(AmountError::Malformed { input }) => input,
            other => panic!("{other:?}"),
        };
        assert_eq!(malformed("12,50"), "12,50");
        let forty = "x".repeat(40);
        assert_eq!(malformed(&forty), forty);
        assert_eq!(malformed(&"x".repeat(41)), format!("{forty}…"));
        // Characters, not bytes: a cut never splits one.
        assert_eq!(malformed(&"€".repeat(41)), format!("{}…", "€".repeat(40)));
    }

    #[test]
    fn currencies_without_minor_units_are_unsupported() {
        assert!(matches!(
            Money::parse("1", Currency::XAU),
            Err(AmountError::UnsupportedCurrency { .. })
        ));
        assert!(parse_currency("usd").is_err());
        assert!(parse_currency("ZZZ").is_err());
        assert_eq!(parse_currency("USD"), Ok(USD));
    }

    #[test]
    fn checked_arithmetic_refuses_overflow_and_mixed_currencies() {
        let max = Money::from_minor(i64::MAX, USD);
        let one = Money::from_minor(1, USD);
        assert_eq!(max.checked_add(one), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_minor(i64::MIN, USD).checked_sub(one),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::from_minor(i64::MIN, USD).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert!(matches!(
            one.checked_add(Money::from_minor(1, Currency::EUR)),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(one.checked_add(one).unwrap().minor(), 2);
    }

    #[test]
    fn displays_with_the_currency_exponent() {
        assert_eq!(Money::from_minor(1234, USD).to_string(), "12.34 USD");
        assert_eq!(Money::from_minor(-5, USD).to_decimal_string(), "-0.05");
        // Zero has no sign, in any exponent.
        assert_eq!(Money::zero(USD).to_decimal_string(), "0.00");
        assert_eq!(Money::zero(Currency::JPY).to_decimal_string(), "0");
        assert_eq!(
            Money::from_minor(500, Currency::JPY).to_decimal_string(),
            "500"
        );
        assert_eq!(
            Money::from_minor(i64::MIN, USD).to_decimal_string(),
            "-92233720368547758.08"
        );
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(minor in any::<i64>()) {
            for currency in [USD, Currency::JPY, Currency::KWD] {
                let money = Money::from_minor(minor, currency);
                prop_assert_eq!(Money::parse(&money.to_decimal_string(), currency), Ok(money));
            }
        }
    }
}
