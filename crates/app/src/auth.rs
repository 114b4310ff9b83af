//! Tenancy's API keys behind httpkit's `Authenticator`.

use db::DbPool;
use futures::future::BoxFuture;
use httpkit::{AuthError, Authenticator, Principal};
use tenancy::{ApiKeyIdentity, TenancyError};

/// Resolves organization API keys through the database.
#[derive(Clone)]
pub struct ApiKeyAuthenticator {
    pool: DbPool,
}

impl ApiKeyAuthenticator {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl Authenticator for ApiKeyAuthenticator {
    fn authenticate<'a>(
        &'a self,
        bearer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| AuthError::Unavailable(Box::new(e)))?;
            let identity = tenancy::authenticate(&mut conn, bearer)
                .await
                .map_err(|error| match &error {
                    TenancyError::Database(cause) if db::connection_lost(cause) => {
                        AuthError::Unavailable(Box::new(error))
                    }
                    _ => AuthError::Internal(Box::new(error)),
                })?;
            Ok(identity.map(
                |ApiKeyIdentity {
                     key_id,
                     organization_id,
                 }| Principal::Organization {
                    organization_id,
                    key_id,
                },
            ))
        })
    }
}
