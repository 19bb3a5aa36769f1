-- Stored contents, by SHA-256: identical content is stored once, whoever
-- uploads it. `refs` counts the files that use a blob; a blob at 0 is freed
-- (under this row's lock, so that a concurrent upload of the same content
-- waits and then stores it again).
CREATE TABLE blobs (
    sha256     text PRIMARY KEY,
    size_bytes bigint NOT NULL,
    refs       integer NOT NULL CHECK (refs >= 0),
    created_at timestamptz NOT NULL
);
CREATE INDEX blobs_unreferenced_idx ON blobs (sha256) WHERE refs = 0;
