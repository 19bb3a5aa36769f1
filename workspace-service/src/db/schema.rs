// Mirrors the migrations (what `diesel print-schema` prints for them).

diesel::table! {
    files (id) {
        id -> Uuid,
        user_id -> Uuid,
        filename -> Text,
        mime_type -> Text,
        size_bytes -> Int8,
        md5 -> Text,
        sha256 -> Text,
        uploaded_at -> Timestamptz,
    }
}

diesel::table! {
    conversations (id) {
        id -> Uuid,
        user_id -> Uuid,
        title -> Text,
        status -> Text,
        turn_count -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    conversation_files (conversation_id, file_id) {
        conversation_id -> Uuid,
        file_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(conversation_files -> conversations (conversation_id));
diesel::joinable!(conversation_files -> files (file_id));
diesel::allow_tables_to_appear_in_same_query!(files, conversations, conversation_files);
