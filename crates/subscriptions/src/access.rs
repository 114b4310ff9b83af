//! Access blocks per source and the entitlement queries built on them.

use chrono::{DateTime, Utc};
use db::{
    AsyncPgConnection,
    schema::{access_block_events, access_blocks},
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use primitives::OrganizationId;
use uuid::Uuid;

use crate::{
    AccessBlock, AccessDecision, BlockSource, Feature, SubscriptionError, entitlements, lookup,
};

/// Why and by whom a block changes; both are kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockChange {
    pub source: BlockSource,
    pub reason: String,
    pub actor: String,
}

impl BlockChange {
    pub fn new(source: BlockSource, reason: &str, actor: &str) -> Result<Self, SubscriptionError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 || reason.chars().any(char::is_control)
        {
            return Err(SubscriptionError::invalid(
                "reason",
                "1 to 500 characters without control characters",
            ));
        }
        if actor.is_empty() || actor.chars().count() > 200 {
            return Err(SubscriptionError::invalid("actor", "1 to 200 characters"));
        }
        Ok(Self {
            source,
            reason: reason.to_owned(),
            actor: actor.to_owned(),
        })
    }
}

/// Puts this source's block in place; `false` if it already was (the first reason stays).
pub async fn block(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    change: &BlockChange,
    now: DateTime<Utc>,
) -> Result<bool, SubscriptionError> {
    lookup::require_organization(conn, organization_id).await?;
    block_known(conn, organization_id, change, now).await
}

/// [`block`] for an organization known to exist (a subscription's, whose row references it).
pub(crate) async fn block_known(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    change: &BlockChange,
    now: DateTime<Utc>,
) -> Result<bool, SubscriptionError> {
    let inserted = diesel::insert_into(access_blocks::table)
        .values((
            access_blocks::organization_id.eq(organization_id.as_uuid()),
            access_blocks::source.eq(change.source.as_str()),
            access_blocks::reason.eq(&change.reason),
            access_blocks::actor.eq(&change.actor),
            access_blocks::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted > 0 {
        audit(conn, organization_id, "block", change, now).await?;
    }
    Ok(inserted > 0)
}

/// Lifts this source's block and no other; `false` if there was none.
pub async fn unblock(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    change: &BlockChange,
    now: DateTime<Utc>,
) -> Result<bool, SubscriptionError> {
    lookup::require_organization(conn, organization_id).await?;
    unblock_known(conn, organization_id, change, now).await
}

/// [`unblock`] for an organization known to exist.
pub(crate) async fn unblock_known(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    change: &BlockChange,
    now: DateTime<Utc>,
) -> Result<bool, SubscriptionError> {
    let deleted = diesel::delete(
        access_blocks::table
            .filter(access_blocks::organization_id.eq(organization_id.as_uuid()))
            .filter(access_blocks::source.eq(change.source.as_str())),
    )
    .execute(conn)
    .await?;
    if deleted > 0 {
        audit(conn, organization_id, "unblock", change, now).await?;
    }
    Ok(deleted > 0)
}

async fn audit(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    action: &str,
    change: &BlockChange,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    diesel::insert_into(access_block_events::table)
        .values((
            access_block_events::id.eq(Uuid::now_v7()),
            access_block_events::organization_id.eq(organization_id.as_uuid()),
            access_block_events::action.eq(action),
            access_block_events::source.eq(change.source.as_str()),
            access_block_events::reason.eq(&change.reason),
            access_block_events::actor.eq(&change.actor),
            access_block_events::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The blocks in force for an organization.
pub async fn blocks(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Vec<AccessBlock>, SubscriptionError> {
    let rows: Vec<(String, String, String, DateTime<Utc>)> = access_blocks::table
        .filter(access_blocks::organization_id.eq(organization_id.as_uuid()))
        .select((
            access_blocks::source,
            access_blocks::reason,
            access_blocks::actor,
            access_blocks::created_at,
        ))
        .order(access_blocks::source)
        .load(conn)
        .await?;
    rows.into_iter()
        .map(|(source, reason, actor, since)| {
            let source = BlockSource::parse(&source)
                .ok_or_else(|| SubscriptionError::Corrupt(format!("block source {source}")))?;
            Ok(AccessBlock {
                source,
                reason,
                actor,
                since,
            })
        })
        .collect()
}

/// May the organization use `feature`? With every reason if not.
pub async fn entitlement(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    feature: Feature,
) -> Result<AccessDecision, SubscriptionError> {
    let mut all = entitlements_for(conn, organization_id, &[feature]).await?;
    all.pop()
        .ok_or_else(|| SubscriptionError::Corrupt("no entitlement decision".into()))
}

/// The decision for every feature.
pub async fn entitlements(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> Result<Vec<AccessDecision>, SubscriptionError> {
    entitlements_for(conn, organization_id, &Feature::ALL).await
}

async fn entitlements_for(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    features: &[Feature],
) -> Result<Vec<AccessDecision>, SubscriptionError> {
    lookup::require_organization(conn, organization_id).await?;
    let status = lookup::current_for_organization(conn, organization_id)
        .await?
        .map(|subscription| subscription.state.status);
    let blocks = blocks(conn, organization_id).await?;
    Ok(features
        .iter()
        .map(|feature| entitlements::decide(status, &blocks, *feature))
        .collect())
}
