-- `user_id` columns hold the id of an auth-service user, taken from the
-- caller's token: the users table lives in the auth-service's database.

-- A user's file. The bytes are stored once per distinct content (by SHA-256).
CREATE TABLE files (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    filename    text NOT NULL,
    mime_type   text NOT NULL,
    size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
    md5         text NOT NULL,
    sha256      text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX files_user_id_uploaded_at_idx ON files (user_id, uploaded_at DESC, id DESC);
CREATE INDEX files_sha256_idx ON files (sha256);

CREATE TABLE conversations (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    title      text NOT NULL,
    status     text NOT NULL DEFAULT 'active'
               CHECK (status IN ('active', 'archived', 'deleted')),
    -- Also the number of the last turn: creating a turn increments it.
    turn_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user_id_updated_at_idx ON conversations (user_id, updated_at DESC, id DESC);
CREATE INDEX conversations_status_idx ON conversations (status);

CREATE TABLE conversation_files (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    file_id         uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, file_id)
);
CREATE INDEX conversation_files_file_id_idx ON conversation_files (file_id);
