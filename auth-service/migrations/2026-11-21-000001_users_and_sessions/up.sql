-- Accounts. The email is stored normalised (trimmed, lower-cased); usernames
-- are unique whatever their case.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    username      text,
    -- bcrypt; NULL for accounts that only sign in through an identity provider.
    password_hash text,
    full_name     text,
    avatar        text,
    is_active     boolean NOT NULL DEFAULT true,
    is_superuser  boolean NOT NULL DEFAULT false,
    login_count   integer NOT NULL DEFAULT 0,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_created_at_idx ON users (created_at DESC);

-- One row per sign-in on a device. Access tokens carry the session id (`sid`),
-- so revoking the session revokes its tokens.
CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text,
    ip_address     text,
    user_agent     text,
    device_info    text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
