//! Finding what an event is about: the subscription (by the provider's subscription id, else by
//! the organization the delivery names in its signed fields) or, for money, the organization.
//!
//! Unsigned fields never decide on their own: a subscription found by the provider's id must
//! belong to the organization the delivery names, and a PayHere `subscription_id` (unsigned) is
//! bound to a subscription only when its signed order id is the one the subscription was
//! created with.

use db::{
    AsyncPgConnection,
    schema::{organizations, provider_payments},
};
use diesel::{dsl::exists, prelude::*, select};
use diesel_async::RunQueryDsl;
use primitives::{OrganizationId, ProviderName};
use subscriptions::{ProviderRef, Subscription, lookup};
use uuid::Uuid;

use crate::{IntakeError, event::StoredEvent};

/// The subscription an event is about, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    Subscription(Subscription),
    /// The organization's subscription was created with this provisional provider id (PayHere's
    /// checkout order id); the event carries the provider's own id, to bind before applying.
    Bind {
        subscription: Subscription,
        provider_subscription_id: String,
    },
    /// Nothing to apply it to yet (kept; applied once it exists).
    Unmatched {
        organization: Option<OrganizationId>,
        reason: String,
    },
    /// The delivery contradicts what we know: an operator must look.
    Conflict {
        organization: Option<OrganizationId>,
        reason: String,
    },
}

/// The organization the delivery names, if it names one that exists. A reference that is not
/// one of our organization ids names none.
pub async fn named_organization(
    conn: &mut AsyncPgConnection,
    event: &StoredEvent,
) -> Result<Option<OrganizationId>, IntakeError> {
    let Some(id) = event
        .organization_ref
        .as_deref()
        .and_then(|reference| Uuid::parse_str(reference).ok())
    else {
        return Ok(None);
    };
    let found: bool = select(exists(organizations::table.find(id)))
        .get_result(conn)
        .await?;
    Ok(found.then(|| OrganizationId::from_uuid(id)))
}

/// The organization id the delivery names, if its reference is one of our ids (whether it
/// exists is for the lookup that uses it to find out).
fn named_id(event: &StoredEvent) -> Option<OrganizationId> {
    event
        .organization_ref
        .as_deref()
        .and_then(|reference| Uuid::parse_str(reference).ok())
        .map(OrganizationId::from_uuid)
}

/// Finds the subscription a subscription event is about.
pub async fn subscription(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    event: &StoredEvent,
) -> Result<Located, IntakeError> {
    let named = named_id(event);
    if let Some(id) = event.provider_subscription_id.as_deref()
        && let Ok(reference) = ProviderRef::new(provider, id)
        && let Some(found) = lookup::find_by_provider(conn, &reference).await?
    {
        if let Some(named) = named
            && named != found.organization_id
        {
            return Ok(Located::Conflict {
                organization: Some(found.organization_id),
                reason: format!(
                    "the delivery names organization {named}, but {provider} subscription {id} \
                     belongs to organization {}",
                    found.organization_id
                ),
            });
        }
        return Ok(Located::Subscription(found));
    }
    let Some(organization) = named else {
        return Ok(Located::Unmatched {
            organization: None,
            reason: match &event.provider_subscription_id {
                Some(id) => format!(
                    "no subscription is billed as {provider} {id}, and the delivery names no \
                     organization"
                ),
                None => "the delivery names neither a subscription nor an organization".into(),
            },
        });
    };
    let current = lookup::current_for_organization(conn, organization).await?;
    let Some(subscription) =
        current.filter(|s| s.provider.as_ref().is_some_and(|p| p.provider == provider))
    else {
        return Ok(Located::Unmatched {
            organization: Some(organization),
            reason: format!(
                "organization {organization} has no subscription billed through {provider}"
            ),
        });
    };
    let stored = subscription
        .provider
        .as_ref()
        .map(|p| p.subscription_id.clone())
        .unwrap_or_default();
    match event.provider_subscription_id.as_deref() {
        // No id in the delivery (a PayHere one-off payment towards the subscription): the
        // organization's subscription through this provider, named by the signed order id.
        None => Ok(Located::Subscription(subscription)),
        Some(id) if event.order_reference.as_deref() == Some(stored.as_str()) => {
            Ok(Located::Bind {
                subscription,
                provider_subscription_id: id.to_owned(),
            })
        }
        Some(id) => Ok(Located::Unmatched {
            organization: Some(organization),
            reason: format!(
                "organization {organization}'s subscription is billed as {provider} {stored}; \
                 the delivery is about {id}"
            ),
        }),
    }
}

/// The organization money from a payment belongs to: the one the delivery names, else the one
/// an earlier event about the same payment was matched to. Both known and different: conflict.
pub async fn payment_organization(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    event: &StoredEvent,
) -> Result<Result<OrganizationId, Located>, IntakeError> {
    let named = named_organization(conn, event).await?;
    let known = match event.payment_reference.as_deref() {
        Some(payment) => payment_owner(conn, provider, payment).await?,
        None => None,
    };
    match (named, known) {
        (Some(named), Some(known)) if named != known => Ok(Err(Located::Conflict {
            organization: Some(named),
            reason: format!(
                "the delivery names organization {named}, but payment {} was made by \
                 organization {known}",
                event.payment_reference.as_deref().unwrap_or_default()
            ),
        })),
        (Some(organization), _) | (None, Some(organization)) => Ok(Ok(organization)),
        (None, None) => Ok(Err(Located::Unmatched {
            organization: None,
            reason: "the delivery names no known organization and its payment is not known".into(),
        })),
    }
}

/// What a provider payment paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    /// A wallet top-up, credited.
    TopUp,
    /// A subscription's payment.
    Subscription,
}

impl PaymentKind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Subscription => "subscription",
        }
    }
}

/// A payment as the intake knows it: whose, and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownPayment {
    pub organization: OrganizationId,
    pub kind: PaymentKind,
}

/// The payment, if an earlier event made it known.
pub async fn known_payment(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    payment: &str,
) -> Result<Option<KnownPayment>, IntakeError> {
    let row: Option<(Uuid, String)> = provider_payments::table
        .find((provider.as_str(), payment))
        .select((provider_payments::organization_id, provider_payments::kind))
        .first(conn)
        .await
        .optional()?;
    row.map(|(organization, kind)| {
        let kind = match kind.as_str() {
            "top_up" => PaymentKind::TopUp,
            "subscription" => PaymentKind::Subscription,
            other => return Err(IntakeError::Corrupt(format!("payment kind {other}"))),
        };
        Ok(KnownPayment {
            organization: OrganizationId::from_uuid(organization),
            kind,
        })
    })
    .transpose()
}

async fn payment_owner(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    payment: &str,
) -> Result<Option<OrganizationId>, IntakeError> {
    Ok(known_payment(conn, provider, payment)
        .await?
        .map(|known| known.organization))
}

/// Remembers whose a payment is and what it paid for (the first matched event about it wins).
pub async fn remember_payment(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    payment: &str,
    kind: PaymentKind,
    organization: OrganizationId,
    inbox_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), IntakeError> {
    if !crate::event::is_printable_id(payment, 255) {
        return Ok(());
    }
    diesel::insert_into(provider_payments::table)
        .values((
            provider_payments::provider.eq(provider.as_str()),
            provider_payments::payment_reference.eq(payment),
            provider_payments::kind.eq(kind.as_str()),
            provider_payments::organization_id.eq(organization.as_uuid()),
            provider_payments::inbox_id.eq(inbox_id),
            provider_payments::recorded_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}
