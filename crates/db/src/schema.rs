//! The diesel schema, mirroring `migrations/`. A test in `testkit` checks it against a migrated
//! database so the two cannot drift apart silently.

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        created_at -> Timestamptz,
        billing_email -> Nullable<Text>,
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

diesel::table! {
    outbox_messages (id) {
        id -> Uuid,
        topic -> Text,
        dedupe_key -> Text,
        organization_id -> Nullable<Uuid>,
        payload -> Jsonb,
        status -> Text,
        attempts -> Int4,
        max_attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        claim_token -> Nullable<Uuid>,
        claimed_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Uuid,
        organization_id -> Uuid,
        plan -> Text,
        provider -> Nullable<Text>,
        provider_subscription_id -> Nullable<Text>,
        status -> Text,
        current_period_end -> Nullable<Timestamptz>,
        trial_end -> Nullable<Timestamptz>,
        cancel_at_period_end -> Bool,
        dunning_started_at -> Nullable<Timestamptz>,
        dunning_retries_failed -> Int4,
        next_action_at -> Nullable<Timestamptz>,
        action_leased_until -> Nullable<Timestamptz>,
        last_event_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        trial_ending_notified -> Bool,
        sync_leased_until -> Nullable<Timestamptz>,
        last_synced_at -> Nullable<Timestamptz>,
        last_sync_error -> Nullable<Text>,
    }
}

diesel::table! {
    subscription_events (id) {
        id -> Uuid,
        subscription_id -> Uuid,
        source -> Text,
        event_id -> Text,
        kind -> Text,
        occurred_at -> Timestamptz,
        received_at -> Timestamptz,
        outcome -> Text,
        detail -> Nullable<Text>,
        payload -> Jsonb,
    }
}

diesel::table! {
    subscription_transitions (id) {
        id -> Uuid,
        subscription_id -> Uuid,
        event_row_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        event_kind -> Text,
        source -> Text,
        effects -> Jsonb,
        occurred_at -> Timestamptz,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    access_blocks (organization_id, source) {
        organization_id -> Uuid,
        source -> Text,
        reason -> Text,
        actor -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    access_block_events (id) {
        id -> Uuid,
        organization_id -> Uuid,
        action -> Text,
        source -> Text,
        reason -> Text,
        actor -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    brands (id) {
        id -> Uuid,
        organization_id -> Uuid,
        name -> Text,
        twilio_subaccount_sid -> Text,
        messaging_status -> Text,
        messaging_wish -> Text,
        messaging_wish_version -> Int8,
        messaging_wish_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Uuid,
        organization_id -> Uuid,
        brand_id -> Uuid,
        name -> Text,
        body -> Text,
        sender_kind -> Text,
        sender -> Text,
        currency -> Bpchar,
        price_per_segment -> Int8,
        encoding -> Text,
        segments -> Int4,
        cost_per_message -> Int8,
        status -> Text,
        pause_reason -> Nullable<Text>,
        start_key -> Nullable<Text>,
        hold_id -> Nullable<Uuid>,
        hold_seq -> Int4,
        dispatch_after -> Nullable<Timestamptz>,
        claim_after -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    campaign_holds (hold_id) {
        hold_id -> Uuid,
        campaign_id -> Uuid,
        seq -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_batches (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        hold_id -> Uuid,
        worker -> Text,
        size -> Int4,
        claimed_at -> Timestamptz,
        lease_until -> Timestamptz,
        settled_at -> Nullable<Timestamptz>,
        sent -> Int4,
        failed -> Int4,
        unconfirmed -> Int4,
        returned -> Int4,
        captured -> Int8,
        charge_due -> Int8,
        charge_state -> Nullable<Text>,
        charge_retry_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    campaign_recipients (id) {
        id -> Int8,
        campaign_id -> Uuid,
        phone -> Text,
        status -> Text,
        batch_id -> Nullable<Uuid>,
        claimed_until -> Nullable<Timestamptz>,
        attempts -> Int4,
        charged -> Int8,
        twilio_sid -> Nullable<Text>,
        twilio_status -> Nullable<Text>,
        twilio_price -> Nullable<Text>,
        twilio_price_unit -> Nullable<Text>,
        error_code -> Nullable<Int4>,
        error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        delivery_status -> Nullable<Text>,
        delivery_error_code -> Nullable<Int4>,
        delivery_updated_at -> Nullable<Timestamptz>,
        unconfirmed_at -> Nullable<Timestamptz>,
        lookup_attempts -> Int4,
        lookup_next_at -> Nullable<Timestamptz>,
        lookup_stopped -> Bool,
        lookup_note -> Nullable<Text>,
    }
}

diesel::table! {
    console_sessions (token_hash) {
        token_hash -> Bytea,
        kind -> Text,
        api_key_id -> Nullable<Uuid>,
        organization_id -> Nullable<Uuid>,
        operator -> Nullable<Text>,
        credential_fingerprint -> Nullable<Bytea>,
        csrf_token -> Text,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    operator_actions (id) {
        id -> Int8,
        at -> Timestamptz,
        operator -> Text,
        action -> Text,
        target -> Text,
        reason -> Nullable<Text>,
        outcome -> Text,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(api_keys -> organizations (organization_id));
diesel::table! {
    webhook_inbox (id) {
        id -> Uuid,
        provider -> Text,
        delivery_id -> Text,
        event_type -> Text,
        received_at -> Timestamptz,
        body -> Nullable<Bytea>,
        body_sha256 -> Bytea,
        body_size -> Int4,
        body_pruned_at -> Nullable<Timestamptz>,
        events -> Jsonb,
        outcomes -> Jsonb,
        status -> Text,
        organization_id -> Nullable<Uuid>,
        subscription_id -> Nullable<Uuid>,
        attempts -> Int4,
        next_attempt_at -> Nullable<Timestamptz>,
        leased_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        settled_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    risk_cases (id) {
        id -> Uuid,
        organization_id -> Uuid,
        provider -> Text,
        kind -> Text,
        reference -> Text,
        status -> Text,
        amount -> Int8,
        currency -> Bpchar,
        inbox_id -> Uuid,
        opened_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    provider_payments (provider, payment_reference) {
        provider -> Text,
        payment_reference -> Text,
        kind -> Text,
        organization_id -> Uuid,
        inbox_id -> Uuid,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    top_ups (id) {
        id -> Uuid,
        organization_id -> Uuid,
        provider -> Text,
        checkout_reference -> Text,
        amount -> Int8,
        currency -> Bpchar,
        status -> Text,
        idempotency_key -> Text,
        approval_url -> Text,
        approval_form -> Nullable<Jsonb>,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    customer_requests (organization_id, idempotency_key) {
        organization_id -> Uuid,
        idempotency_key -> Text,
        kind -> Text,
        fingerprint -> Bytea,
        subscription_id -> Nullable<Uuid>,
        top_up_id -> Nullable<Uuid>,
        response -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(wallets -> organizations (organization_id));
diesel::joinable!(wallet_freeze_events -> wallets (wallet_id));
diesel::joinable!(holds -> wallets (wallet_id));
diesel::joinable!(ledger_entries -> wallets (wallet_id));
diesel::joinable!(ledger_entries -> holds (hold_id));
diesel::joinable!(outbox_messages -> organizations (organization_id));

diesel::joinable!(subscriptions -> organizations (organization_id));
diesel::joinable!(subscription_events -> subscriptions (subscription_id));
diesel::joinable!(subscription_transitions -> subscriptions (subscription_id));
diesel::joinable!(access_blocks -> organizations (organization_id));
diesel::joinable!(access_block_events -> organizations (organization_id));
diesel::joinable!(brands -> organizations (organization_id));
diesel::joinable!(campaigns -> organizations (organization_id));
diesel::joinable!(campaigns -> holds (hold_id));
diesel::joinable!(campaign_holds -> campaigns (campaign_id));
diesel::joinable!(campaign_holds -> holds (hold_id));
diesel::joinable!(campaign_batches -> campaigns (campaign_id));
diesel::joinable!(campaign_recipients -> campaigns (campaign_id));
diesel::joinable!(campaign_recipients -> campaign_batches (batch_id));
diesel::joinable!(webhook_inbox -> organizations (organization_id));
diesel::joinable!(webhook_inbox -> subscriptions (subscription_id));
diesel::joinable!(risk_cases -> organizations (organization_id));
diesel::joinable!(risk_cases -> webhook_inbox (inbox_id));
diesel::joinable!(provider_payments -> organizations (organization_id));
diesel::joinable!(provider_payments -> webhook_inbox (inbox_id));
diesel::joinable!(top_ups -> organizations (organization_id));
diesel::joinable!(customer_requests -> organizations (organization_id));
diesel::joinable!(customer_requests -> subscriptions (subscription_id));
diesel::joinable!(customer_requests -> top_ups (top_up_id));
diesel::joinable!(console_sessions -> api_keys (api_key_id));
diesel::joinable!(console_sessions -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    subscriptions,
    subscription_events,
    subscription_transitions,
    access_blocks,
    access_block_events,
    organizations,
    api_keys,
    wallets,
    wallet_freeze_events,
    holds,
    ledger_entries,
    outbox_messages,
    brands,
    campaigns,
    campaign_holds,
    campaign_batches,
    campaign_recipients,
    webhook_inbox,
    risk_cases,
    provider_payments,
    top_ups,
    customer_requests,
    console_sessions,
    operator_actions,
);
