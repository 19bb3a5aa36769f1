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

diesel::table! {
    tasks (id) {
        id -> Uuid,
        user_id -> Uuid,
        query -> Text,
        status -> Text,
        analysis -> Nullable<Text>,
        operations -> Nullable<Jsonb>,
        result -> Nullable<Jsonb>,
        error_message -> Nullable<Text>,
        attempt -> Int4,
        max_attempts -> Int4,
        worker_id -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamptz>,
        turn_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
        kind -> Text,
        progress -> Nullable<Jsonb>,
        run_after -> Timestamptz,
        worker_subject -> Nullable<Uuid>,
    }
}

diesel::table! {
    task_files (task_id, file_id) {
        task_id -> Uuid,
        file_id -> Uuid,
    }
}

diesel::table! {
    conversation_turns (id) {
        id -> Uuid,
        conversation_id -> Uuid,
        turn_number -> Int4,
        query -> Text,
        status -> Text,
        analysis -> Nullable<Text>,
        variables -> Nullable<Jsonb>,
        new_columns -> Nullable<Jsonb>,
        formulas -> Nullable<Jsonb>,
        errors -> Nullable<Jsonb>,
        output_file_id -> Nullable<Uuid>,
        task_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    task_counts (user_id, status) {
        user_id -> Uuid,
        status -> Text,
        count -> Int8,
    }
}

diesel::joinable!(task_files -> tasks (task_id));
diesel::joinable!(task_files -> files (file_id));
diesel::joinable!(conversation_turns -> conversations (conversation_id));

diesel::table! {
    blobs (sha256) {
        sha256 -> Text,
        size_bytes -> Int8,
        refs -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    task_queues (user_id, kind) {
        user_id -> Uuid,
        kind -> Text,
        pending -> Int8,
        last_claim -> Int8,
    }
}

diesel::table! {
    task_attempts (id) {
        id -> Int8,
        task_id -> Uuid,
        number -> Int4,
        worker_id -> Text,
        started_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
        error_message -> Nullable<Text>,
    }
}

diesel::table! {
    task_outputs (task_id, file_id) {
        task_id -> Uuid,
        file_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    request_ids (user_id, request_id) {
        user_id -> Uuid,
        request_id -> Uuid,
        method -> Text,
        fingerprint -> Text,
        resource_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_usage (user_id) {
        user_id -> Uuid,
        stored_bytes -> Int8,
        file_count -> Int8,
    }
}

diesel::joinable!(task_attempts -> tasks (task_id));
diesel::joinable!(task_outputs -> tasks (task_id));
diesel::joinable!(task_outputs -> files (file_id));
diesel::allow_tables_to_appear_in_same_query!(
    files,
    conversations,
    conversation_files,
    tasks,
    task_files,
    conversation_turns,
    task_counts,
    blobs,
    task_queues,
    task_attempts,
    task_outputs,
    request_ids,
    user_usage,
);
