//! What the customer actions may offer: the plan catalog (our plan code to each provider's plan
//! or price id) and the top-up limits per currency. Read once at start-up; a malformed value
//! stops the service with the variable named, never later at a customer's request.

use std::collections::BTreeMap;

use primitives::{
    Currency, Money, ProviderName,
    config::{ConfigError, Variable},
    parse_currency,
};
use subscriptions::PlanCode;

/// The settings of the customer actions ([`crate::CustomerActions`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerConfig {
    /// `BILLING_PLANS`: which plans a customer may start, with which providers.
    pub plans: PlanCatalog,
    /// `TOP_UP_LIMITS`: the amounts a self-service top-up may have, per currency.
    pub top_up_limits: TopUpLimits,
}

impl CustomerConfig {
    pub const VARIABLES: &'static [Variable] = &[
        Variable {
            name: "BILLING_PLANS",
            default: "unset",
            meaning: "the plans a customer may start (`POST /v1/subscription`) and each provider's plan or price id for them: `;`-separated `<plan>:<provider>=<id>[,<provider>=<id>...]`, e.g. `pro:stripe=price_1Pq,paypal=P-5ML4271244454362W,payhere=pro_lkr` (PayHere's id is a plan of `PAYHERE_PLANS`). Unset: none, every start is refused with `PLAN_NOT_OFFERED`",
        },
        Variable {
            name: "TOP_UP_LIMITS",
            default: "USD:5.00-2000.00,EUR:5.00-2000.00,GBP:5.00-2000.00,LKR:1000.00-500000.00",
            meaning: "the currencies a self-service wallet top-up may be in, each with the smallest and largest amount: `,`-separated `<currency>:<min>-<max>` (exact decimals in the currency's minor units)",
        },
    ];

    /// Reads [`Self::VARIABLES`] through `lookup` (blank counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let plans = match get("BILLING_PLANS") {
            Some(raw) => PlanCatalog::parse(&raw)
                .map_err(|message| ConfigError::new("BILLING_PLANS", message))?,
            None => PlanCatalog::default(),
        };
        let top_up_limits = match get("TOP_UP_LIMITS") {
            Some(raw) => TopUpLimits::parse(&raw)
                .map_err(|message| ConfigError::new("TOP_UP_LIMITS", message))?,
            None => TopUpLimits::default(),
        };
        Ok(Self {
            plans,
            top_up_limits,
        })
    }
}

/// Our plan codes, each with the plan (or price) id it has at each provider that offers it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCatalog {
    plans: BTreeMap<String, BTreeMap<ProviderName, String>>,
}

impl PlanCatalog {
    /// `pro:stripe=price_1,paypal=P-1;starter:payhere=starter_lkr`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut catalog = Self::default();
        for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (code, ids) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?}: expected <plan>:<provider>=<id>,..."))?;
            let code = PlanCode::parse(code.trim())
                .map_err(|_| {
                    format!(
                        "{:?}: a plan code is 1 to 64 characters: lowercase letters, digits, \
                         '_', '.', '-'",
                        code.trim()
                    )
                })?
                .as_str()
                .to_owned();
            if catalog.plans.contains_key(&code) {
                return Err(format!("plan {code:?} is listed twice"));
            }
            let mut by_provider = BTreeMap::new();
            for pair in ids.split(',').map(str::trim) {
                let (provider, id) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{code}: {pair:?}: expected <provider>=<id>"))?;
                let provider = ProviderName::parse(provider.trim()).ok_or_else(|| {
                    format!("{code}: {provider:?} is not one of paypal, stripe, payhere")
                })?;
                let id = id.trim();
                if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!(
                        "{code}: the {provider} id must be 1 to 200 visible ASCII characters"
                    ));
                }
                if by_provider.insert(provider, id.to_owned()).is_some() {
                    return Err(format!("{code}: {provider} is listed twice"));
                }
            }
            catalog.plans.insert(code, by_provider);
        }
        Ok(catalog)
    }

    /// The provider's id of `plan`, when that provider offers it.
    pub fn provider_plan(&self, plan: &str, provider: ProviderName) -> Option<&str> {
        self.plans.get(plan)?.get(&provider).map(String::as_str)
    }

    /// The plans offered with `provider`, in code order.
    pub fn offered_with(&self, provider: ProviderName) -> Vec<String> {
        self.plans
            .iter()
            .filter(|(_, ids)| ids.contains_key(&provider))
            .map(|(code, _)| code.clone())
            .collect()
    }
}

/// The smallest and largest amount of a top-up, per currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpLimits {
    limits: BTreeMap<String, (Money, Money)>,
}

impl Default for TopUpLimits {
    fn default() -> Self {
        // The default is a constant string checked by a test.
        Self::parse(CustomerConfig::VARIABLES[1].default).unwrap_or(Self {
            limits: BTreeMap::new(),
        })
    }
}

impl TopUpLimits {
    /// `USD:5.00-2000.00,LKR:1000-500000`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut limits = BTreeMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (code, range) = entry
                .split_once(':')
                .ok_or_else(|| format!("{entry:?}: expected <currency>:<min>-<max>"))?;
            let currency = parse_currency(code.trim()).map_err(|error| error.to_string())?;
            let (min, max) = range
                .split_once('-')
                .ok_or_else(|| format!("{entry:?}: expected <currency>:<min>-<max>"))?;
            let amount = |raw: &str| {
                Money::parse_positive(raw.trim(), currency)
                    .map_err(|error| format!("{}: {error}", currency.code()))
            };
            let (min, max) = (amount(min)?, amount(max)?);
            if min.minor() > max.minor() {
                return Err(format!(
                    "{}: the smallest amount {min} is above the largest {max}",
                    currency.code()
                ));
            }
            if limits
                .insert(currency.code().to_owned(), (min, max))
                .is_some()
            {
                return Err(format!("{} is listed twice", currency.code()));
            }
        }
        Ok(Self { limits })
    }

    /// The (smallest, largest) amount of a top-up in `currency`, if top-ups in it are offered.
    pub fn range(&self, currency: Currency) -> Option<(Money, Money)> {
        self.limits.get(currency.code()).copied()
    }

    /// The currencies top-ups may be in.
    pub fn currencies(&self) -> Vec<String> {
        self.limits.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_maps_plans_to_each_providers_id() {
        let catalog =
            PlanCatalog::parse(" pro:stripe=price_1, paypal=P-1 ; starter:payhere=starter_lkr ")
                .unwrap();
        assert_eq!(
            catalog.provider_plan("pro", ProviderName::Stripe),
            Some("price_1")
        );
        assert_eq!(
            catalog.provider_plan("pro", ProviderName::Paypal),
            Some("P-1")
        );
        assert_eq!(catalog.provider_plan("pro", ProviderName::Payhere), None);
        assert_eq!(catalog.provider_plan("gold", ProviderName::Stripe), None);
        assert_eq!(catalog.offered_with(ProviderName::Payhere), ["starter"]);
        assert_eq!(catalog.offered_with(ProviderName::Stripe), ["pro"]);
        assert_eq!(PlanCatalog::parse("").unwrap(), PlanCatalog::default());
    }

    #[test]
    fn a_malformed_catalog_is_refused() {
        for bad in [
            "pro",
            "pro:stripe",
            "pro:square=sq_1",
            "Pro:stripe=price_1",
            "pro:stripe=price 1",
            "pro:stripe=",
            "pro:stripe=a,stripe=b",
            "pro:stripe=a;pro:paypal=b",
        ] {
            assert!(PlanCatalog::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_exact_per_currency_and_the_default_parses() {
        let limits = TopUpLimits::parse("USD:5.00-2000.00, JPY:500-100000").unwrap();
        let (min, max) = limits.range(Currency::USD).unwrap();
        assert_eq!((min.minor(), max.minor()), (500, 200_000));
        let (min, max) = limits.range(Currency::JPY).unwrap();
        assert_eq!((min.minor(), max.minor()), (500, 100_000));
        assert_eq!(limits.range(Currency::EUR), None);
        assert_eq!(limits.currencies(), ["JPY", "USD"]);
        let default = TopUpLimits::parse(CustomerConfig::VARIABLES[1].default).unwrap();
        assert_eq!(TopUpLimits::default(), default);
        assert!(default.range(Currency::LKR).is_some());
        for bad in [
            "USD",
            "USD:5",
            "USD:5.001-10",
            "XXX:1-2",
            "USD:10-5",
            "USD:0-5",
            "USD:1-2,USD:1-3",
        ] {
            assert!(TopUpLimits::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn configuration_is_read_with_blank_as_unset_and_errors_name_the_variable() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let config = CustomerConfig::from_lookup(lookup(&[("BILLING_PLANS", " ")])).unwrap();
        assert_eq!(config, CustomerConfig::default());
        let error =
            CustomerConfig::from_lookup(lookup(&[("BILLING_PLANS", "pro:x=1")])).unwrap_err();
        assert_eq!(error.variable, "BILLING_PLANS");
        let error =
            CustomerConfig::from_lookup(lookup(&[("TOP_UP_LIMITS", "USD:9-1")])).unwrap_err();
        assert_eq!(error.variable, "TOP_UP_LIMITS");
    }
}
