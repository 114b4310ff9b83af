//! Organizations and API keys against a real PostgreSQL database.

// Marks the helpers below as test code, where unwrap is allowed.
#![cfg(test)]

use db::{
    AsyncPgConnection,
    schema::{api_keys, organizations},
};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use primitives::{ApiKeyId, OrganizationId};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tenancy::{ApiKeyIdentity, TenancyError};
use testkit::TestDb;

async fn count_organizations(conn: &mut AsyncPgConnection) -> i64 {
    organizations::table.count().get_result(conn).await.unwrap()
}

async fn count_keys(conn: &mut AsyncPgConnection) -> i64 {
    api_keys::table.count().get_result(conn).await.unwrap()
}

async fn revoked_at(
    conn: &mut AsyncPgConnection,
    key: ApiKeyId,
) -> Option<chrono::DateTime<chrono::Utc>> {
    api_keys::table
        .find(key.as_uuid())
        .select(api_keys::revoked_at)
        .first(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn creates_and_loads_organizations_with_trimmed_names() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let created = tenancy::create_organization(&mut conn, None, "  Acme Ltd  ")
        .await
        .unwrap();
    assert_eq!(created.name, "Acme Ltd");
    assert_eq!(created.id.as_uuid().get_version_num(), 7);
    let loaded = tenancy::get_organization(&mut conn, created.id)
        .await
        .unwrap();
    assert_eq!(loaded, created);

    let chosen = OrganizationId::new();
    let with_id = tenancy::create_organization(&mut conn, Some(chosen), "Chosen")
        .await
        .unwrap();
    assert_eq!(with_id.id, chosen);
}

#[tokio::test]
async fn invalid_names_and_duplicate_ids_write_nothing() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    for bad in ["", "   ", &"x".repeat(201)] {
        let error = tenancy::create_organization(&mut conn, None, bad)
            .await
            .unwrap_err();
        assert!(
            matches!(error, TenancyError::InvalidName { .. }),
            "{error:?}"
        );
        assert_eq!(error.code(), "INVALID_NAME");
    }
    assert_eq!(count_organizations(&mut conn).await, 0);

    let org = tenancy::create_organization(&mut conn, None, "First")
        .await
        .unwrap();
    let error = tenancy::create_organization(&mut conn, Some(org.id), "Second")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "ORGANIZATION_EXISTS");
    assert_eq!(count_organizations(&mut conn).await, 1);
    assert_eq!(
        tenancy::get_organization(&mut conn, org.id)
            .await
            .unwrap()
            .name,
        "First"
    );
}

#[tokio::test]
async fn a_refused_create_leaves_the_surrounding_transaction_usable() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let existing = tenancy::create_organization(&mut conn, None, "Existing")
        .await
        .unwrap();
    let created = conn
        .transaction(async move |conn| {
            let duplicate = tenancy::create_organization(conn, Some(existing.id), "Again").await;
            assert_eq!(duplicate.unwrap_err().code(), "ORGANIZATION_EXISTS");
            tenancy::create_organization(conn, None, "After").await
        })
        .await
        .unwrap();
    assert_eq!(
        tenancy::get_organization(&mut conn, created.id)
            .await
            .unwrap()
            .name,
        "After"
    );
}

#[tokio::test]
async fn unknown_organizations_are_not_found() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let missing = OrganizationId::new();
    let error = tenancy::get_organization(&mut conn, missing)
        .await
        .unwrap_err();
    assert!(matches!(error, TenancyError::OrganizationNotFound(id) if id == missing));
    assert_eq!(error.code(), "ORGANIZATION_NOT_FOUND");
    let error = tenancy::issue_api_key(&mut conn, missing, "key")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "ORGANIZATION_NOT_FOUND");
    assert_eq!(count_keys(&mut conn).await, 0);
}

#[tokio::test]
async fn issued_keys_authenticate_and_only_their_hash_is_stored() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let org = tenancy::create_organization(&mut conn, None, "Acme")
        .await
        .unwrap();
    let issued = tenancy::issue_api_key(&mut conn, org.id, " dispatcher ")
        .await
        .unwrap();
    let secret = issued.secret.expose_secret();
    assert_eq!(issued.organization_id, org.id);
    assert_eq!(issued.name, "dispatcher");
    assert!(secret.starts_with("bsk_") && secret.len() == 47, "{secret}");
    assert!(secret.starts_with(&issued.prefix));
    assert_eq!(issued.prefix.len(), 12);
    assert!(!format!("{issued:?}").contains(secret), "Debug must redact");

    let (prefix, hash): (String, Vec<u8>) = api_keys::table
        .find(issued.id.as_uuid())
        .select((api_keys::key_prefix, api_keys::key_hash))
        .first(&mut conn)
        .await
        .unwrap();
    assert_eq!(prefix, issued.prefix);
    assert_eq!(hash, Sha256::digest(secret.as_bytes()).to_vec());

    let identity = tenancy::authenticate(&mut conn, secret).await.unwrap();
    assert_eq!(
        identity,
        Some(ApiKeyIdentity {
            key_id: issued.id,
            organization_id: org.id,
        })
    );
}

#[tokio::test]
async fn wrong_malformed_and_foreign_looking_keys_do_not_authenticate() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let org = tenancy::create_organization(&mut conn, None, "Acme")
        .await
        .unwrap();
    let issued = tenancy::issue_api_key(&mut conn, org.id, "k")
        .await
        .unwrap();
    let secret = issued.secret.expose_secret().to_owned();
    let mut altered = secret.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for presented in [
        altered.as_str(),
        "",
        "bsk_",
        &secret[..46],
        &format!("{secret}x"),
        &secret.to_uppercase(),
        &issued.prefix,
    ] {
        assert_eq!(
            tenancy::authenticate(&mut conn, presented).await.unwrap(),
            None,
            "{presented:?}"
        );
    }
}

#[tokio::test]
async fn revoked_keys_stop_working_and_revocation_is_scoped_to_the_organization() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let acme = tenancy::create_organization(&mut conn, None, "Acme")
        .await
        .unwrap();
    let other = tenancy::create_organization(&mut conn, None, "Other")
        .await
        .unwrap();
    let first = tenancy::issue_api_key(&mut conn, acme.id, "first")
        .await
        .unwrap();
    let second = tenancy::issue_api_key(&mut conn, acme.id, "second")
        .await
        .unwrap();

    let error = tenancy::revoke_api_key(&mut conn, other.id, first.id)
        .await
        .unwrap_err();
    assert!(matches!(error, TenancyError::ApiKeyNotFound(id) if id == first.id));
    assert_eq!(error.code(), "API_KEY_NOT_FOUND");
    assert!(
        tenancy::authenticate(&mut conn, first.secret.expose_secret())
            .await
            .unwrap()
            .is_some(),
        "another organization cannot revoke the key"
    );

    tenancy::revoke_api_key(&mut conn, acme.id, first.id)
        .await
        .unwrap();
    assert_eq!(
        tenancy::authenticate(&mut conn, first.secret.expose_secret())
            .await
            .unwrap(),
        None
    );
    assert!(
        tenancy::authenticate(&mut conn, second.secret.expose_secret())
            .await
            .unwrap()
            .is_some(),
        "other keys keep working"
    );
    // Idempotent: revoking again succeeds and changes nothing.
    let before = revoked_at(&mut conn, first.id).await;
    assert!(before.is_some());
    tenancy::revoke_api_key(&mut conn, acme.id, first.id)
        .await
        .unwrap();
    assert_eq!(revoked_at(&mut conn, first.id).await, before);

    let error = tenancy::revoke_api_key(&mut conn, acme.id, ApiKeyId::new())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "API_KEY_NOT_FOUND");
}

#[tokio::test]
async fn key_names_are_validated_before_anything_is_written() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let org = tenancy::create_organization(&mut conn, None, "Acme")
        .await
        .unwrap();
    for bad in ["", " ", &"k".repeat(101)] {
        let error = tenancy::issue_api_key(&mut conn, org.id, bad)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "INVALID_NAME");
    }
    assert_eq!(count_keys(&mut conn).await, 0);
}

#[tokio::test]
async fn billing_emails_are_set_replaced_and_removed() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    let acme = tenancy::create_organization(&mut conn, None, "Acme")
        .await
        .unwrap();
    assert_eq!(acme.billing_email, None);
    let email = tenancy::BillingEmail::parse("billing@acme.example").unwrap();
    let updated = tenancy::set_billing_email(&mut conn, acme.id, Some(&email))
        .await
        .unwrap();
    assert_eq!(
        updated.billing_email.as_deref(),
        Some("billing@acme.example")
    );
    let read = tenancy::get_organization(&mut conn, acme.id).await.unwrap();
    assert_eq!(read, updated);
    let cleared = tenancy::set_billing_email(&mut conn, acme.id, None)
        .await
        .unwrap();
    assert_eq!(cleared.billing_email, None);
    let missing = tenancy::set_billing_email(&mut conn, OrganizationId::new(), Some(&email)).await;
    assert!(matches!(
        missing,
        Err(TenancyError::OrganizationNotFound(_))
    ));
    assert_eq!(
        tenancy::BillingEmail::parse("not an email")
            .unwrap_err()
            .code(),
        "INVALID_EMAIL"
    );
}
