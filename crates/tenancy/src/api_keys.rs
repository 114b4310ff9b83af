//! API keys: issued once, stored only as a hash, looked up by that hash.
//!
//! A key is `bsk_` followed by 32 random bytes in unpadded base64url (47 characters in all).
//! Only SHA-256 of the whole key is stored. A slow password KDF (argon2, bcrypt) exists to make
//! guessing low-entropy human passwords expensive; a 256-bit random key cannot be guessed
//! whatever the hash costs, so a fast hash loses nothing and lets us find the key with one
//! indexed lookup instead of trying every row. For the same reason comparing hashes in SQL
//! leaks nothing useful by timing: learning bytes of a hash does not help forge its preimage.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::api_keys};
use diesel::{OptionalExtension, prelude::*};
use diesel_async::RunQueryDsl;
use primitives::{ApiKeyId, OrganizationId};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{ApiKeyName, TenancyError, organizations::organization_exists};

/// What every key starts with, so leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "bsk_";
const SECRET_BYTES: usize = 32;
/// Unpadded base64 of 32 bytes.
const ENCODED_LEN: usize = 43;
/// Enough of the key to tell keys apart in a list (48 random bits), far too little to help guess it.
const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

/// A newly issued key. `secret` is the only copy that will ever exist: hand it to the customer
/// once and drop it.
#[derive(Debug)]
pub struct IssuedApiKey {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    /// The first characters of the key, safe to display and log.
    pub prefix: String,
    pub secret: SecretString,
    pub created_at: DateTime<Utc>,
}

/// Who a valid, unrevoked key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyIdentity {
    pub key_id: ApiKeyId,
    pub organization_id: OrganizationId,
}

/// Issues a new key for an existing organization.
pub async fn issue_api_key(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    name: &str,
) -> Result<IssuedApiKey, TenancyError> {
    let name = ApiKeyName::parse(name)?;
    // Checked first rather than caught as a foreign-key violation, which would abort a
    // surrounding transaction.
    if !organization_exists(conn, organization_id).await? {
        return Err(TenancyError::OrganizationNotFound(organization_id));
    }
    let key = generate_key();
    let prefix = key[..DISPLAY_PREFIX_LEN].to_owned();
    let id = ApiKeyId::new();
    let created_at: DateTime<Utc> = diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(id.as_uuid()),
            api_keys::organization_id.eq(organization_id.as_uuid()),
            api_keys::name.eq(name.as_str()),
            api_keys::key_prefix.eq(&prefix),
            api_keys::key_hash.eq(hash_key(&key).as_slice()),
        ))
        .returning(api_keys::created_at)
        .get_result(conn)
        .await?;
    Ok(IssuedApiKey {
        id,
        organization_id,
        name: name.into_inner(),
        prefix,
        secret: SecretString::from(key),
        created_at,
    })
}

/// The SHA-256 of a presented string that has the shape of a key: what keys are stored and
/// looked up by, so a cache can be keyed by it without keeping the key itself. Its `Debug`
/// shows nothing of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyDigest([u8; 32]);

impl ApiKeyDigest {
    /// `None` for a string that cannot be a key (no query is needed to refuse it).
    pub fn of(presented: &str) -> Option<Self> {
        looks_like_key(presented).then(|| Self(hash_key(presented)))
    }
}

impl std::fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeyDigest(..)")
    }
}

/// Resolves a presented key to its organization; `None` for unknown, malformed or revoked keys.
///
/// Strings that cannot be keys are refused without a query, so garbage credentials cost nothing.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented: &str,
) -> Result<Option<ApiKeyIdentity>, TenancyError> {
    match ApiKeyDigest::of(presented) {
        Some(digest) => authenticate_digest(conn, &digest).await,
        None => Ok(None),
    }
}

/// [`authenticate`] for a key already hashed: `None` for unknown or revoked keys.
pub async fn authenticate_digest(
    conn: &mut AsyncPgConnection,
    digest: &ApiKeyDigest,
) -> Result<Option<ApiKeyIdentity>, TenancyError> {
    let found: Option<(Uuid, Uuid)> = api_keys::table
        .filter(api_keys::key_hash.eq(digest.0.as_slice()))
        .filter(api_keys::revoked_at.is_null())
        .select((api_keys::id, api_keys::organization_id))
        .first(conn)
        .await
        .optional()?;
    Ok(found.map(|(key_id, organization_id)| ApiKeyIdentity {
        key_id: ApiKeyId::from_uuid(key_id),
        organization_id: OrganizationId::from_uuid(organization_id),
    }))
}

/// Revokes a key of the given organization. Revoking an already revoked key succeeds (the
/// caller's intent holds); a key of another organization is [`TenancyError::ApiKeyNotFound`].
pub async fn revoke_api_key(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    key_id: ApiKeyId,
) -> Result<(), TenancyError> {
    let of_organization = api_keys::table
        .filter(api_keys::id.eq(key_id.as_uuid()))
        .filter(api_keys::organization_id.eq(organization_id.as_uuid()));
    let revoked = diesel::update(of_organization.filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    if revoked > 0 {
        return Ok(());
    }
    let exists: bool = diesel::select(diesel::dsl::exists(of_organization))
        .get_result(conn)
        .await?;
    if exists {
        Ok(())
    } else {
        Err(TenancyError::ApiKeyNotFound(key_id))
    }
}

fn generate_key() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    // ThreadRng is a CSPRNG reseeded from the operating system.
    rand::rng().fill_bytes(&mut bytes);
    let mut key = String::with_capacity(KEY_PREFIX.len() + ENCODED_LEN);
    key.push_str(KEY_PREFIX);
    URL_SAFE_NO_PAD.encode_string(bytes, &mut key);
    key
}

fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn looks_like_key(presented: &str) -> bool {
    presented.strip_prefix(KEY_PREFIX).is_some_and(|body| {
        body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_differ() {
        let first = generate_key();
        let second = generate_key();
        assert_ne!(first, second);
        for key in [&first, &second] {
            assert_eq!(key.len(), 47);
            assert!(key.starts_with("bsk_"));
            assert!(looks_like_key(key), "{key}");
            assert_eq!(URL_SAFE_NO_PAD.decode(&key[4..]).unwrap().len(), 32);
        }
    }

    #[test]
    fn cheap_rejection_of_strings_that_cannot_be_keys() {
        let key = generate_key();
        assert!(!looks_like_key(""));
        assert!(!looks_like_key("bsk_"));
        assert!(!looks_like_key(&key[..46]));
        assert!(!looks_like_key(&format!("{key}A")));
        assert!(!looks_like_key(&key.replacen("bsk_", "xyz_", 1)));
        assert!(!looks_like_key(&format!("bsk_{}", "+".repeat(43))));
        assert!(!looks_like_key(&format!("bsk_{}", "é".repeat(21))));
    }

    #[test]
    fn digests_exist_only_for_key_shaped_strings_and_show_nothing() {
        let key = generate_key();
        let digest = ApiKeyDigest::of(&key).unwrap();
        assert_eq!(digest.0, hash_key(&key));
        assert_eq!(ApiKeyDigest::of(&key), Some(digest));
        assert_eq!(ApiKeyDigest::of("bsk_short"), None);
        assert_eq!(format!("{digest:?}"), "ApiKeyDigest(..)");
    }

    #[test]
    fn hash_is_sha256_of_the_whole_key() {
        // Known vector: SHA-256("abc").
        assert_eq!(hash_key("abc")[..4], [0xba, 0x78, 0x16, 0xbf],);
    }
}
