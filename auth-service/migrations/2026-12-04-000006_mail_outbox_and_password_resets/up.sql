-- Mail waits here until it is sent: a row is written in the same transaction
-- as the change that causes it (a reset requested, a password changed), and
-- the sender delivers it afterwards, retrying with backoff. A restart loses
-- nothing; a mail may be sent twice if the process dies between the SMTP
-- server's acceptance and the row's update (at-least-once).
CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    recipient text NOT NULL,
    subject text NOT NULL,
    body_text text NOT NULL,
    created_at timestamptz NOT NULL,
    -- Attempts made so far; the next one is due at next_attempt_at (a
    -- claimed mail's is moved a lease ahead, so a sender that dies mid-send
    -- leaves it to be retried).
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    sent_at timestamptz,
    -- Set when the attempts ran out; the mail is not tried again.
    abandoned_at timestamptz
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND abandoned_at IS NULL;

-- Password reset tokens: only the SHA-256 of the token is stored.
CREATE TABLE password_resets (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);
