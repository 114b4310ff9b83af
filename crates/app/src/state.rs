//! What handlers share.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use axum::extract::FromRef;
use db::{DbPool, pool::PooledConnection};
use httpkit::{ApiError, Auth};

use crate::entitlement::EntitlementCheck;
use crate::health_report::HealthReporter;
use metrics_exporter_prometheus::PrometheusHandle;
use primitives::{OrganizationId, WalletId};
use subscriptions::{AccessDecision, Feature, Subscriptions};

use db::readiness::Readiness;

use crate::{
    AppError,
    auth::ApiKeyAuthenticator,
    rate_limit::{KeyLimiter, RateLimit},
};

/// Router state. Cheap to clone: everything inside is reference counted.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub auth: Auth,
    /// The API keys behind `auth`, so revoking a key here drops it from their cache at once.
    pub api_keys: ApiKeyAuthenticator,
    pub readiness: Arc<Readiness>,
    pub ledger: ledger::Ledger,
    /// The wallet routes' money movements, batched into shared transactions (group commit) on
    /// `pool`; same answers as `ledger`'s.
    pub writer: ledger::LedgerWriter,
    /// Organizations' wallet ids, as found ([`AppState::wallet_id`]).
    wallet_ids: WalletIds,
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
    /// Each organization API key's request budget (`rate_limit`); `None`: not limited.
    pub rate_limiter: Option<Arc<KeyLimiter>>,
    /// The health report's settings and the schedule of its gauges.
    pub health: HealthReporter,
    /// The domain's clock (console sessions expire on it too).
    pub clock: Arc<dyn primitives::Clock>,
    /// How console sessions live and how their cookies are sent.
    pub console: crate::console::ConsoleSettings,
}

impl AppState {
    pub fn new(
        pool: DbPool,
        auth: Auth,
        api_keys: ApiKeyAuthenticator,
        readiness: Arc<Readiness>,
        services: &services::Services,
        metrics: PrometheusHandle,
        writer: ledger::WriterConfig,
    ) -> Self {
        // On the current runtime: the shard tasks stop once every clone of the state is gone.
        let writer = ledger::LedgerWriter::start(pool.clone(), services.ledger.clone(), writer);
        Self {
            pool,
            auth,
            api_keys,
            readiness,
            ledger: services.ledger.clone(),
            writer,
            wallet_ids: WalletIds::default(),
            subscriptions: services.subscriptions.clone(),
            enforcer: services.enforcer.clone(),
            outbox: services.outbox.clone(),
            campaigns: services.campaigns.clone(),
            intake: services.intake.clone(),
            customer: services.customer.clone(),
            metrics,
            rate_limiter: None,
            health: HealthReporter::default(),
            clock: services.clock.clone(),
            console: crate::console::ConsoleSettings::default(),
        }
    }

    /// Limits each organization API key to `limit` (none: no limit).
    #[must_use]
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limiter = limit.map(|limit| Arc::new(KeyLimiter::new(limit)));
        self
    }

    /// Console sessions live and are sent as `settings` say.
    #[must_use]
    pub fn with_console(mut self, settings: crate::console::ConsoleSettings) -> Self {
        self.console = settings;
        self
    }

    /// Running campaigns count as stalled after `stalled_after` without progress.
    #[must_use]
    pub fn with_stalled_campaign_threshold(mut self, stalled_after: std::time::Duration) -> Self {
        self.health = HealthReporter::new(stalled_after);
        self
    }

    /// A pooled connection; an exhausted or unreachable pool is a 503.
    pub async fn conn(&self) -> Result<PooledConnection, AppError> {
        Ok(self.pool.get().await?)
    }

    /// The organization's wallet id, taking a connection only when it is not known yet
    /// (`WALLET_NOT_FOUND` without a wallet).
    pub async fn wallet_id(&self, organization: OrganizationId) -> Result<WalletId, AppError> {
        if let Some(wallet_id) = self.wallet_ids.get(organization) {
            return Ok(wallet_id);
        }
        let mut conn = self.conn().await?;
        self.wallet_id_on(&mut conn, organization).await
    }

    /// [`AppState::wallet_id`] on a connection the caller holds anyway.
    pub async fn wallet_id_on(
        &self,
        conn: &mut db::AsyncPgConnection,
        organization: OrganizationId,
    ) -> Result<WalletId, AppError> {
        if let Some(wallet_id) = self.wallet_ids.get(organization) {
            return Ok(wallet_id);
        }
        let wallet_id = self
            .ledger
            .wallet_for_organization(conn, organization)
            .await?;
        self.wallet_ids.remember(organization, wallet_id);
        Ok(wallet_id)
    }
}

/// Organizations' wallet ids, kept for the life of the process: a wallet is never deleted and
/// its organization never changes (both enforced by the schema), so a found mapping stays true.
/// "No wallet" is not kept: one may be opened at any time. One entry per organization whose
/// wallet was used, a few dozen bytes each.
#[derive(Clone, Default)]
struct WalletIds(Arc<RwLock<HashMap<OrganizationId, WalletId>>>);

impl WalletIds {
    fn get(&self, organization: OrganizationId) -> Option<WalletId> {
        // Inserts are single map operations, so a poisoned lock still holds a sound map.
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&organization).copied()
    }

    fn remember(&self, organization: OrganizationId, wallet: WalletId) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(organization, wallet);
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
