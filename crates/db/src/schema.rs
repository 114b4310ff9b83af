//! The diesel schema, mirroring `migrations/`. A test in `testkit` checks it against a migrated
//! database so the two cannot drift apart silently.

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        key_prefix -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    wallets (id) {
        id -> Uuid,
        organization_id -> Uuid,
        currency -> Bpchar,
        balance -> Int8,
        held -> Int8,
        frozen_by -> Array<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    wallet_freeze_events (id) {
        id -> Uuid,
        wallet_id -> Uuid,
        action -> Text,
        source -> Text,
        reason -> Text,
        actor -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    holds (id) {
        id -> Uuid,
        wallet_id -> Uuid,
        amount -> Int8,
        captured -> Int8,
        released -> Int8,
        status -> Text,
        counterparty -> Text,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> Uuid,
        seq -> Int8,
        wallet_id -> Uuid,
        kind -> Text,
        amount -> Int8,
        balance_change -> Int8,
        held_change -> Int8,
        balance_after -> Int8,
        held_after -> Int8,
        counterparty -> Text,
        reference -> Text,
        hold_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        actor -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::joinable!(wallets -> organizations (organization_id));
diesel::joinable!(wallet_freeze_events -> wallets (wallet_id));
diesel::joinable!(holds -> wallets (wallet_id));
diesel::joinable!(ledger_entries -> wallets (wallet_id));
diesel::joinable!(ledger_entries -> holds (hold_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    api_keys,
    wallets,
    wallet_freeze_events,
    holds,
    ledger_entries,
);
