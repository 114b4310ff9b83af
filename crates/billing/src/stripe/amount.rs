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

/// What Stripe calls the amount of `amount`: its integer in the currency's smallest unit as
/// Stripe writes it, and the lower-case currency code. The inverse of [`money`]: ISK and UGX
/// are multiplied by 100. Only positive amounts are sent.
pub(crate) fn wire_amount(amount: Money) -> Result<(i64, String), ProviderError> {
    let config = |message: String| ProviderError::Config {
        provider: ProviderName::Stripe,
        message,
    };
    if !amount.is_positive() {
        return Err(config("an amount sent to Stripe must be positive".into()));
    }
    let code = amount.currency().code();
    let minor = if TWO_DECIMAL_ON_THE_WIRE.contains(&code) {
        amount
            .minor()
            .checked_mul(100)
            .ok_or_else(|| config(format!("{amount} is too large for Stripe")))?
    } else {
        amount.minor()
    };
    Ok((minor, code.to_ascii_lowercase()))
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

    #[test]
    fn wire_amounts_are_the_inverse() {
        let usd = Money::from_minor(1999, Currency::USD);
        assert_eq!(wire_amount(usd).ok(), Some((1999, "usd".to_owned())));
        let isk = Money::from_minor(500, Currency::ISK);
        assert_eq!(wire_amount(isk).ok(), Some((50_000, "isk".to_owned())));
        let jpy = Money::from_minor(500, Currency::JPY);
        assert_eq!(wire_amount(jpy).ok(), Some((500, "jpy".to_owned())));
        for sent in [usd, isk, jpy] {
            let (minor, currency) = wire_amount(sent).unwrap_or_default();
            assert_eq!(money(minor, &currency, "amount").ok(), Some(sent));
        }
        assert!(wire_amount(Money::from_minor(0, Currency::USD)).is_err());
        assert!(wire_amount(Money::from_minor(-5, Currency::USD)).is_err());
        assert!(wire_amount(Money::from_minor(i64::MAX, Currency::UGX)).is_err());
    }
}
