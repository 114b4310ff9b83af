//! What handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use db::{DbPool, pool::PooledConnection};
use httpkit::Auth;

use crate::{AppError, readiness::Readiness};

/// Router state. Cheap to clone: everything inside is reference counted.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    pub auth: Auth,
    pub readiness: Arc<Readiness>,
    pub ledger: ledger::Ledger,
}

impl AppState {
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

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
