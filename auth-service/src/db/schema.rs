// Mirrors the migrations (what `diesel print-schema` prints for them).

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
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
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions);
