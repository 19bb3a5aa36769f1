-- Accounts may come from an identity provider and have no email (WeChat).
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;

-- A user's accounts at identity providers: (provider, subject) is one person
-- there. `union_id` is WeChat's id across an organisation's apps.
CREATE TABLE external_identities (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    subject       text NOT NULL,
    union_id      text,
    email         text,
    -- WeChat's session_key, AES-256-GCM under SECRETS_KEY (nonce || ciphertext).
    secret        bytea,
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX external_identities_provider_subject_key
    ON external_identities (provider, subject);
CREATE INDEX external_identities_user_id_idx ON external_identities (user_id);
CREATE INDEX external_identities_union_id_idx
    ON external_identities (provider, union_id) WHERE union_id IS NOT NULL;

-- Which identity provider a sign-in went through (none: a password).
ALTER TABLE audit_events ADD COLUMN provider text;
