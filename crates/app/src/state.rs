//! What handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use db::{DbPool, pool::PooledConnection};
use httpkit::{ApiError, Auth};

use crate::entitlement::EntitlementCheck;
use metrics_exporter_prometheus::PrometheusHandle;
use primitives::OrganizationId;
use subscriptions::{AccessDecision, Feature, Subscriptions};

use db::readiness::Readiness;

use crate::AppError;

/// Router state. Cheap to clone: everything inside is reference counted.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub auth: Auth,
    pub readiness: Arc<Readiness>,
    pub ledger: ledger::Ledger,
    /// The subscription lifecycle on the configured dunning schedule and grace period.
    pub subscriptions: Subscriptions,
    /// Applies subscription events with their effects (wallet freeze, notifications, outbox) in
    /// one transaction; over the same `subscriptions` and `ledger`.
    pub enforcer: enforcement::Enforcer,
    /// The outbox on the app's clock, for the operator routes (requeueing dead letters).
    pub outbox: outbox::Outbox,
    /// Campaigns over the same `ledger`, with the configured hold policy.
    pub campaigns: campaigns::Campaigns,
    /// Provider deliveries in the inbox: the operator routes re-apply them, the development
    /// mode's webhook routes receive them.
    pub intake: intake::Intake,
    /// The customer's own billing actions (start, cancel, pause, resume, payment-method
    /// links, top-ups).
    pub customer: enforcement::CustomerActions,
    /// The process's metrics, rendered by `GET /metrics`.
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(
        pool: DbPool,
        auth: Auth,
        readiness: Arc<Readiness>,
        services: &services::Services,
        metrics: PrometheusHandle,
    ) -> Self {
        Self {
            pool,
            auth,
            readiness,
            ledger: services.ledger.clone(),
            subscriptions: services.subscriptions.clone(),
            enforcer: services.enforcer.clone(),
            outbox: services.outbox.clone(),
            campaigns: services.campaigns.clone(),
            intake: services.intake.clone(),
            customer: services.customer.clone(),
            metrics,
        }
    }

    /// A pooled connection; an exhausted or unreachable pool is a 503.
    pub async fn conn(&self) -> Result<PooledConnection, AppError> {
        Ok(self.pool.get().await?)
    }
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Feature gates ([`crate::entitlement::RequireFeature`]) ask the subscriptions tables.
impl EntitlementCheck for AppState {
    async fn check(
        &self,
        organization: OrganizationId,
        feature: Feature,
    ) -> Result<AccessDecision, ApiError> {
        let mut conn = self.conn().await?;
        let decision = subscriptions::access::entitlement(&mut conn, organization, feature)
            .await
            .map_err(AppError::from)?;
        Ok(decision)
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
