//! The benchmark database's contents: the real schema (through the embedded migrations) with
//! funded wallets, and the naive baseline's two plain tables.

use anyhow::Context;
use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use primitives::WalletId;
use uuid::Uuid;

/// What every wallet starts with, in minor units: far more than any run can spend one unit at a
/// time, so an `INSUFFICIENT_FUNDS` error would be a bug, not a figure.
pub const FUNDING: i64 = 1_000_000_000_000;

/// Wallet number `i` (from 1): `00000000-0000-7000-8000-<i in 12 hex digits>`, the same value
/// as the SQL function `bench_wallet_id(i)`.
pub fn wallet_uuid(i: usize) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | (i as u128 & 0xffff_ffff_ffff))
}

/// `wallets` organizations, each with a USD wallet funded by exactly one `credit` entry whose
/// `balance_after` is the wallet balance, so reconciliation starts clean. Set-based: three
/// statements, whatever the count.
pub async fn seed_ledger(
    conn: &mut AsyncPgConnection,
    wallets: usize,
) -> anyhow::Result<Vec<WalletId>> {
    // UUID v7 like the application's own ids, so index locality matches production; wallet ids
    // are v7-shaped and ascending too, but computable, so a pgbench script can name wallet `i`.
    let organization_ids: Vec<Uuid> = (0..wallets).map(|_| Uuid::now_v7()).collect();
    let wallet_ids: Vec<Uuid> = (1..=wallets).map(wallet_uuid).collect();
    let entry_ids: Vec<Uuid> = (0..wallets).map(|_| Uuid::now_v7()).collect();
    let (orgs, ids, entries) = (
        organization_ids.clone(),
        wallet_ids.clone(),
        entry_ids.clone(),
    );
    conn.transaction(async move |conn| -> anyhow::Result<()> {
        diesel::sql_query(
            "INSERT INTO organizations (id, name, created_at)
             SELECT o, 'bench org ' || n, now()
             FROM unnest($1::uuid[]) WITH ORDINALITY AS t (o, n)",
        )
        .bind::<Array<SqlUuid>, _>(&orgs)
        .execute(conn)
        .await
        .context("seeding organizations")?;
        diesel::sql_query(
            "INSERT INTO wallets (id, organization_id, currency, balance, held, created_at)
             SELECT w, o, 'USD', $3, 0, now()
             FROM unnest($1::uuid[], $2::uuid[]) AS t (o, w)",
        )
        .bind::<Array<SqlUuid>, _>(&orgs)
        .bind::<Array<SqlUuid>, _>(&ids)
        .bind::<BigInt, _>(FUNDING)
        .execute(conn)
        .await
        .context("seeding wallets")?;
        diesel::sql_query(
            "INSERT INTO ledger_entries (id, wallet_id, kind, amount, balance_change, held_change,
                                         balance_after, held_after, counterparty, reference,
                                         actor, created_at)
             SELECT e, w, 'credit', $3, $3, 0, $3, 0, 'topup:bench', 'bench-funding',
                    'system:bench', now()
             FROM unnest($1::uuid[], $2::uuid[]) AS t (w, e)",
        )
        .bind::<Array<SqlUuid>, _>(&ids)
        .bind::<Array<SqlUuid>, _>(&entries)
        .bind::<BigInt, _>(FUNDING)
        .execute(conn)
        .await
        .context("seeding funding entries")?;
        Ok(())
    })
    .await?;
    Ok(wallet_ids.into_iter().map(WalletId::from_uuid).collect())
}

/// The naive pattern's tables: int keys, a balance with its CHECK, entries with a foreign key and
/// the balance after them. No idempotency, no freezes, no holds.
pub async fn seed_naive(conn: &mut AsyncPgConnection, wallets: usize) -> anyhow::Result<()> {
    diesel::sql_query(
        "CREATE TABLE naive_wallets (
             id       integer PRIMARY KEY,
             balance  bigint NOT NULL CHECK (balance >= 0)
         )",
    )
    .execute(conn)
    .await?;
    diesel::sql_query(
        "CREATE TABLE naive_entries (
             id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             wallet_id      integer NOT NULL REFERENCES naive_wallets (id),
             amount         bigint NOT NULL,
             balance_after  bigint NOT NULL CHECK (balance_after >= 0),
             created_at     timestamptz NOT NULL DEFAULT now()
         )",
    )
    .execute(conn)
    .await?;
    let count = i32::try_from(wallets).context("too many wallets")?;
    diesel::sql_query(
        "INSERT INTO naive_wallets (id, balance) SELECT g, $1 FROM generate_series(1, $2) AS g",
    )
    .bind::<BigInt, _>(FUNDING)
    .bind::<Integer, _>(count)
    .execute(conn)
    .await
    .context("seeding naive_wallets")?;
    Ok(())
}

/// SQL helpers for the pgbench script that replays the ledger's own statements: wallet `i`'s id
/// and a UUID v7 (PostgreSQL 15 has none built in) for entry ids.
pub async fn create_sql_helpers(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    diesel::sql_query(
        "CREATE FUNCTION bench_wallet_id(i integer) RETURNS uuid
         LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
         RETURN ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid",
    )
    .execute(conn)
    .await?;
    diesel::sql_query(
        "CREATE FUNCTION bench_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE
         RETURN (SELECT (substr(ts, 1, 8) || '-' || substr(ts, 9, 4) || '-7' || substr(r, 16))::uuid
                 FROM (SELECT lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint),
                                   12, '0') AS ts,
                              gen_random_uuid()::text AS r) AS parts)",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Fresh statistics and visibility maps, so the first scenario does not pay for them.
pub async fn vacuum_analyze(conn: &mut AsyncPgConnection) -> anyhow::Result<()> {
    diesel::sql_query("VACUUM (ANALYZE)")
        .execute(conn)
        .await
        .context("VACUUM (ANALYZE) failed")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_ids_are_computable_and_ascending() {
        assert_eq!(
            wallet_uuid(1).to_string(),
            "00000000-0000-7000-8000-000000000001"
        );
        assert_eq!(
            wallet_uuid(10_000).to_string(),
            "00000000-0000-7000-8000-000000002710"
        );
        assert!(wallet_uuid(2) > wallet_uuid(1));
    }
}
