//! Stripe amounts (integers in the currency's smallest unit, currency codes in lower case) to
//! [`Money`].
//!
//! Stripe's smallest unit is ISO 4217's minor unit (cents for USD, whole yen for the zero-decimal
//! JPY), with one documented exception: ISK and UGX became zero-decimal currencies, but Stripe
//! still writes them with two decimals that are always `00` (5 ISK is `500`). Those are divided
//! by 100, and an amount that does not divide evenly is refused rather than rounded.

use primitives::{Money, parse_currency};

use crate::{ProviderError, ProviderName};

/// Currencies Stripe writes with two decimals although ISO 4217 gives them none.
const TWO_DECIMAL_ON_THE_WIRE: [&str; 2] = ["ISK", "UGX"];

pub(crate) fn money(amount: i64, currency: &str, field: &str) -> Result<Money, ProviderError> {
    let decode = |message: String| ProviderError::Decode {
        provider: ProviderName::Stripe,
        message,
    };
    if amount < 0 {
        // Stripe amounts are never negative; a sign would change what the event means.
        return Err(decode(format!("{field} is negative")));
    }
    let code = currency.to_ascii_uppercase();
    let parsed = parse_currency(&code).map_err(|error| decode(format!("{field}: {error}")))?;
    let minor = if TWO_DECIMAL_ON_THE_WIRE.contains(&code.as_str()) {
        if amount % 100 != 0 {
            return Err(decode(format!(
                "{field} {amount} {code} has a fraction Stripe never charges"
            )));
        }
        amount / 100
    } else {
        amount
    };
    Ok(Money::from_minor(minor, parsed))
}

#[cfg(test)]
mod tests {
    use primitives::Currency;

    use super::*;

    #[test]
    fn minor_units_follow_the_currency_with_stripes_two_decimal_exceptions() {
        let usd = money(1999, "usd", "amount").ok();
        assert_eq!(usd, Some(Money::from_minor(1999, Currency::USD)));
        assert_eq!(usd.map(|m| m.to_decimal_string()), Some("19.99".into()));
        let jpy = money(500, "jpy", "amount").ok();
        assert_eq!(jpy.map(|m| m.to_decimal_string()), Some("500".into()));
        let kwd = money(1234, "kwd", "amount").ok();
        assert_eq!(kwd.map(|m| m.to_decimal_string()), Some("1.234".into()));
        let isk = money(50_000, "isk", "amount").ok();
        assert_eq!(isk, Some(Money::from_minor(500, Currency::ISK)));
        assert!(money(50_050, "isk", "amount").is_err());
        assert!(money(-1, "usd", "amount").is_err());
        assert!(money(1, "xyz", "amount").is_err());
    }
}
