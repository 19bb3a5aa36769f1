-- OpenID Connect nonces already used for a sign-in, kept until they expire:
-- a nonce is issued without storing anything (it is signed), and written
-- here only when a valid ID token carrying it is presented, so it is good
-- for one sign-in.
CREATE TABLE oidc_nonces_spent (
    nonce_hash bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oidc_nonces_spent_expires_at_idx ON oidc_nonces_spent (expires_at);
