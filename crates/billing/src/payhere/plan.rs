//! The plan catalog. PayHere has no plans API: a subscription's price and schedule travel in
//! the signed checkout form, so they live with us, keyed by the `plan_id` of
//! [`CreateSubscription`](crate::CreateSubscription).
//!
//! `PAYHERE_PLANS` holds the catalog as `id=CURRENCY AMOUNT/RECURRENCE/DURATION[/TITLE]`,
//! plans separated by `;`: `pro=USD 15.00/1 Month/Forever;team=LKR 5000.00/1 Year/2 Year/Team`.
//! The title (shown on PayHere's checkout page) defaults to the plan id; it cannot contain `/`
//! or `;` there (configure such titles in code).

use std::collections::BTreeMap;

use primitives::{Money, currency_exponent, parse_currency};

use super::checkout::Recurrence;
use super::errors::config_error;
use crate::ProviderError;

/// One plan: what each installment charges, how often, for how long, and its title.
///
/// From `PAYHERE_PLANS`: `id=CURRENCY AMOUNT/RECURRENCE/DURATION[/TITLE]`, plans separated by
/// `;` (`pro=USD 15.00/1 Month/Forever;team=LKR 5000.00/1 Year/2 Year/Team`). RECURRENCE is
/// `N Day|Week|Month|Year`, DURATION that or `Forever`; the title defaults to the plan id and
/// cannot contain `/` or `;` there (configure such titles in code). Plans configured in code are
/// checked the same way by [`PayHereProvider::new`](super::PayHereProvider::new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayHerePlan {
    /// Per installment. Positive, in a currency with two decimals.
    pub amount: Money,
    pub recurrence: Recurrence,
    /// The checkout's `items`: what the customer sees on PayHere's page.
    pub title: String,
}

/// Plan id → plan.
pub type PayHerePlans = BTreeMap<String, PayHerePlan>;

/// Whether `text` is one of PayHere's schedule words: `N Day|Week|Month|Year` (N ≥ 1), or
/// `Forever` where `forever` allows it.
fn is_period(text: &str, forever: bool) -> bool {
    if forever && text == "Forever" {
        return true;
    }
    let Some((count, unit)) = text.split_once(' ') else {
        return false;
    };
    !count.is_empty()
        && count.bytes().all(|b| b.is_ascii_digit())
        && count.bytes().any(|b| b != b'0')
        && matches!(unit, "Day" | "Week" | "Month" | "Year")
}

/// Refuses a plan PayHere's checkout would refuse or misread, naming the plan.
pub(crate) fn check(id: &str, plan: &PayHerePlan) -> Result<(), ProviderError> {
    let refuse = |why: &str| Err(config_error(format!("PayHere plan {id:?}: {why}")));
    if id.trim().is_empty() {
        return refuse("the plan id is empty");
    }
    if !plan.amount.is_positive() {
        return refuse("the amount must be positive");
    }
    if currency_exponent(plan.amount.currency()).ok() != Some(2) {
        return refuse("PayHere takes amounts with two decimals");
    }
    if !is_period(&plan.recurrence.recurrence, false) {
        return refuse("the recurrence must be like `1 Month` (Day, Week, Month or Year)");
    }
    if !is_period(&plan.recurrence.duration, true) {
        return refuse("the duration must be like `1 Year` or `Forever`");
    }
    if plan.title.trim().is_empty() {
        return refuse("the title is empty");
    }
    Ok(())
}

/// Parses `PAYHERE_PLANS` (format in the module documentation). Errors name the plan, never
/// more of the value than that.
pub(crate) fn parse(text: &str) -> Result<PayHerePlans, ProviderError> {
    let mut plans = PayHerePlans::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let malformed = |id: &str| {
            config_error(format!(
                "PAYHERE_PLANS: plan {id:?} is not `id=CURRENCY AMOUNT/RECURRENCE/DURATION[/TITLE]`"
            ))
        };
        let (id, spec) = entry.split_once('=').ok_or_else(|| malformed(entry))?;
        let id = id.trim();
        let mut parts = spec.split('/').map(str::trim);
        let (Some(price), Some(recurrence), Some(duration)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed(id));
        };
        let title = parts.next().unwrap_or(id).to_owned();
        if parts.next().is_some() {
            return Err(malformed(id));
        }
        let (currency, amount) = price.split_once(' ').ok_or_else(|| malformed(id))?;
        let currency = parse_currency(currency.trim()).map_err(|_| malformed(id))?;
        let amount = Money::parse(amount.trim(), currency).map_err(|_| malformed(id))?;
        let plan = PayHerePlan {
            amount,
            recurrence: Recurrence {
                recurrence: recurrence.to_owned(),
                duration: duration.to_owned(),
            },
            title,
        };
        check(id, &plan)?;
        if plans.insert(id.to_owned(), plan).is_some() {
            return Err(config_error(format!(
                "PAYHERE_PLANS: plan {id:?} is listed twice"
            )));
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use primitives::Currency;

    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let plans =
            parse("pro=USD 15.00/1 Month/Forever; team=LKR 5000.00/1 Year/2 Year/Team plan;")
                .unwrap();
        assert_eq!(plans.len(), 2);
        let pro = &plans["pro"];
        assert_eq!(pro.amount, Money::from_minor(1500, Currency::USD));
        assert_eq!(pro.recurrence.recurrence, "1 Month");
        assert_eq!(pro.recurrence.duration, "Forever");
        assert_eq!(pro.title, "pro");
        assert_eq!(plans["team"].title, "Team plan");
        assert_eq!(plans["team"].recurrence.duration, "2 Year");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_checkout_would_refuse() {
        for bad in [
            "pro",
            "pro=USD 15.00/1 Month",
            "pro=USD 15.00/1 Month/Forever/T/x",
            "pro=15.00/1 Month/Forever",
            "pro=XXX 15.00/1 Month/Forever",
            "pro=USD 15.001/1 Month/Forever",
            "pro=USD 0.00/1 Month/Forever",
            "pro=JPY 1500/1 Month/Forever",
            "pro=USD 15.00/Monthly/Forever",
            "pro=USD 15.00/0 Month/Forever",
            "pro=USD 15.00/1 Month/Always",
            "pro=USD 15.00/Forever/Forever",
            "=USD 15.00/1 Month/Forever",
            "pro=USD 15.00/1 Month/Forever;pro=USD 16.00/1 Month/Forever",
        ] {
            assert!(
                matches!(parse(bad), Err(ProviderError::Config { .. })),
                "{bad}"
            );
        }
    }
}
