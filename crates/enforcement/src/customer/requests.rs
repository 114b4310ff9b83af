//! The idempotency record of a customer's request (table `customer_requests`): one per
//! organization and `Idempotency-Key`, written in the transaction that carries the request out.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::customer_requests};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use primitives::{OrganizationId, SubscriptionId};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::customer::{
    CustomerError,
    decide::{Fingerprint, RequestKind},
};

/// A request as first recorded.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub kind: RequestKind,
    pub fingerprint: Fingerprint,
    pub subscription_id: Option<SubscriptionId>,
    pub top_up_id: Option<Uuid>,
    pub response: serde_json::Value,
}

impl Recorded {
    /// The first answer, for a retry with the same parameters; a conflict for anything else.
    pub fn replay<T: DeserializeOwned>(
        self,
        kind: RequestKind,
        fingerprint: Fingerprint,
    ) -> Result<(T, Self), CustomerError> {
        if self.kind != kind || self.fingerprint != fingerprint {
            return Err(CustomerError::conflict_with(self.kind));
        }
        let response = serde_json::from_value(self.response.clone()).map_err(|error| {
            CustomerError::Corrupt(format!("a {} request's answer: {error}", kind.as_str()))
        })?;
        Ok((response, self))
    }
}

type Row = (
    String,
    Vec<u8>,
    Option<Uuid>,
    Option<Uuid>,
    serde_json::Value,
);

/// The request recorded under the organization's `key`, if any.
pub(crate) async fn find(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    key: &str,
) -> Result<Option<Recorded>, CustomerError> {
    let row: Option<Row> = customer_requests::table
        .find((organization.as_uuid(), key))
        .select((
            customer_requests::kind,
            customer_requests::fingerprint,
            customer_requests::subscription_id,
            customer_requests::top_up_id,
            customer_requests::response,
        ))
        .first(conn)
        .await
        .optional()?;
    row.map(
        |(kind, fingerprint, subscription_id, top_up_id, response)| {
            Ok(Recorded {
                kind: RequestKind::parse(&kind)
                    .ok_or_else(|| CustomerError::Corrupt(format!("request kind {kind:?}")))?,
                fingerprint: Fingerprint::from_bytes(&fingerprint).ok_or_else(|| {
                    CustomerError::Corrupt("a fingerprint of another size".into())
                })?,
                subscription_id: subscription_id.map(SubscriptionId::from_uuid),
                top_up_id,
                response,
            })
        },
    )
    .transpose()
}

/// Claims the organization's `key` for a request, first thing in the transaction that carries
/// it out: `false` when it is taken already (a concurrent request with the key committed
/// first; this insert waited for that commit), and the caller answers what [`find`] reads.
/// Rolled back with a refusal, so a refused request leaves no record. DO NOTHING rather than
/// catching a unique violation, which would abort the transaction.
pub(crate) async fn claim(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    key: &str,
    kind: RequestKind,
    fingerprint: Fingerprint,
    now: DateTime<Utc>,
) -> Result<bool, CustomerError> {
    let inserted = diesel::insert_into(customer_requests::table)
        .values((
            customer_requests::organization_id.eq(organization.as_uuid()),
            customer_requests::idempotency_key.eq(key),
            customer_requests::kind.eq(kind.as_str()),
            customer_requests::fingerprint.eq(fingerprint.as_bytes()),
            customer_requests::response.eq(serde_json::json!({})),
            customer_requests::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Records what a claimed request did and answered, in the same transaction.
pub(crate) async fn settle<R: Serialize>(
    conn: &mut AsyncPgConnection,
    organization: OrganizationId,
    key: &str,
    subscription_id: Option<SubscriptionId>,
    top_up_id: Option<Uuid>,
    response: &R,
) -> Result<(), CustomerError> {
    let response = serde_json::to_value(response)
        .map_err(|error| CustomerError::Corrupt(format!("an answer to record: {error}")))?;
    let updated = diesel::update(customer_requests::table.find((organization.as_uuid(), key)))
        .set((
            customer_requests::subscription_id.eq(subscription_id.map(|id| id.as_uuid())),
            customer_requests::top_up_id.eq(top_up_id),
            customer_requests::response.eq(response),
        ))
        .execute(conn)
        .await?;
    if updated == 1 {
        Ok(())
    } else {
        Err(CustomerError::Corrupt(
            "a claimed request vanished before it was settled".into(),
        ))
    }
}
