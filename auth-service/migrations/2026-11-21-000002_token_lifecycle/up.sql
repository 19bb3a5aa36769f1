-- Refresh tokens rotate: each use spends the token and issues its successor in
-- the same session (the token "family"). Only the SHA-256 of a token is kept.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    -- Set when the token is exchanged for a new pair; a second use is reuse.
    spent_at    timestamptz,
    replaced_by uuid
);
CREATE UNIQUE INDEX refresh_tokens_token_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- Revoked sessions are listed to verifiers while their access tokens may live.
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Security events (logins, failures, logouts, refresh reuse, password and role
-- changes, ...). `login_name` is what was typed, known account or not.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    event_type  text NOT NULL,
    user_id     uuid,
    actor_id    uuid,
    session_id  uuid,
    login_name  text,
    ip_address  text,
    user_agent  text,
    reason      text
);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_event_type_idx ON audit_events (event_type, occurred_at DESC);

-- Failed sign-ins per account (by the login name typed) and per client IP,
-- kept in the database so a restart or another replica does not reset them.
CREATE TABLE login_throttle (
    subject           text PRIMARY KEY,
    failures          integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz
);

-- Internal callers (workers, other services) exchange an id and a secret for a
-- short-lived token with scopes. The secret is 256 random bits; its SHA-256 is kept.
CREATE TABLE service_accounts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    secret_hash bytea NOT NULL,
    scopes      text[] NOT NULL,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX service_accounts_name_key ON service_accounts (name);
