-- Devices that signed in with a password: the device token (stored as its
-- SHA-256) lets a login from a known device be limited per device instead of
-- by the account-wide lock an attacker could aim at (OWASP's device cookies).
CREATE TABLE devices (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL,
    device_info  text,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX devices_token_hash_key ON devices (token_hash);
CREATE INDEX devices_user_id_idx ON devices (user_id, last_used_at DESC);

-- The device a session was opened from (password sign-ins only).
ALTER TABLE sessions ADD COLUMN device_id uuid REFERENCES devices (id) ON DELETE SET NULL;
CREATE INDEX sessions_device_id_idx ON sessions (device_id) WHERE device_id IS NOT NULL;
