// Mirrors the migrations (what `diesel print-schema` prints for them).

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Nullable<Text>,
        username -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        full_name -> Nullable<Text>,
        avatar -> Nullable<Text>,
        is_active -> Bool,
        is_superuser -> Bool,
        login_count -> Int4,
        last_login_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        revoked_reason -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        device_info -> Nullable<Text>,
        device_id -> Nullable<Uuid>,
    }
}

diesel::joinable!(sessions -> users (user_id));

diesel::table! {
    devices (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        device_info -> Nullable<Text>,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(devices -> users (user_id));
diesel::joinable!(sessions -> devices (device_id));

diesel::table! {
    refresh_tokens (id) {
        id -> Uuid,
        session_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
        replaced_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        occurred_at -> Timestamptz,
        event_type -> Text,
        user_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        session_id -> Nullable<Uuid>,
        login_name -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        reason -> Nullable<Text>,
        provider -> Nullable<Text>,
    }
}

diesel::table! {
    login_throttle (subject) {
        subject -> Text,
        failures -> Int4,
        window_started_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    service_accounts (id) {
        id -> Uuid,
        name -> Text,
        secret_hash -> Bytea,
        scopes -> Array<Text>,
        is_active -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    external_identities (id) {
        id -> Uuid,
        user_id -> Uuid,
        provider -> Text,
        subject -> Text,
        union_id -> Nullable<Text>,
        email -> Nullable<Text>,
        secret -> Nullable<Bytea>,
        created_at -> Timestamptz,
        last_login_at -> Timestamptz,
    }
}

diesel::table! {
    oidc_nonces_spent (nonce_hash) {
        nonce_hash -> Bytea,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Uuid,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        created_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        abandoned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(external_identities -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    devices,
    external_identities,
    password_resets,
    refresh_tokens,
    sessions,
    users
);
