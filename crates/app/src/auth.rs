//! Tenancy's API keys behind httpkit's `Authenticator`, with a short-lived cache of the keys
//! found ([`cache`]): a revoked key is refused within the cache's TTL (at most one second).

pub mod cache;

use std::{sync::Arc, time::Duration};

use db::DbPool;
use futures::future::BoxFuture;
use httpkit::{AuthError, Authenticator, Principal};
use primitives::ApiKeyId;
use tenancy::{ApiKeyDigest, ApiKeyIdentity, TenancyError};

use self::cache::KeyCache;

/// Resolves organization API keys through the database, keeping found keys for the TTL.
/// Clones share the cache.
#[derive(Clone)]
pub struct ApiKeyAuthenticator {
    pool: DbPool,
    cache: Arc<KeyCache>,
}

impl ApiKeyAuthenticator {
    /// `cache_ttl` zero: every request asks the database.
    pub fn new(pool: DbPool, cache_ttl: Duration) -> Self {
        Self {
            pool,
            cache: Arc::new(KeyCache::new(cache_ttl)),
        }
    }

    /// A key revoked through this process is refused here at once, not only after the TTL.
    pub fn forget(&self, key_id: ApiKeyId) {
        self.cache.forget(key_id);
    }

    async fn lookup(&self, digest: ApiKeyDigest) -> Result<Option<Principal>, AuthError> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(Box::new(e)))?;
        let identity = tenancy::authenticate_digest(&mut conn, &digest)
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
    }
}

impl std::fmt::Debug for ApiKeyAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuthenticator")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Authenticator for ApiKeyAuthenticator {
    fn authenticate<'a>(
        &'a self,
        bearer: &'a str,
    ) -> BoxFuture<'a, Result<Option<Principal>, AuthError>> {
        Box::pin(async move {
            // What cannot be a key is refused without a query (or a cache entry).
            let Some(digest) = ApiKeyDigest::of(bearer) else {
                return Ok(None);
            };
            self.cache.resolve(digest, || self.lookup(digest)).await
        })
    }
}
