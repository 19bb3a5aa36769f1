-- The processing pipeline: drafts, kinds, progress, retries with backoff,
-- leases bound to the service account that claimed them, attempts, output
-- files, fair claiming across users, idempotent creation, usage for quotas.

ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('draft', 'pending', 'processing', 'completed', 'failed', 'cancelled'));

-- What kind of work it is; workers claim by kind.
ALTER TABLE tasks ADD COLUMN kind text NOT NULL DEFAULT 'default';
-- The last progress its worker reported: {fraction, message, partial, reported_at}.
ALTER TABLE tasks ADD COLUMN progress jsonb;
-- A pending task is not claimed before this (a retry's backoff).
ALTER TABLE tasks ADD COLUMN run_after timestamptz;
UPDATE tasks SET run_after = created_at;
ALTER TABLE tasks ALTER COLUMN run_after SET NOT NULL;
ALTER TABLE tasks ALTER COLUMN run_after SET DEFAULT now();
-- The service account (token subject) that holds the lease, beside the
-- worker's self-chosen name: another account cannot act on the lease by
-- naming the same worker.
ALTER TABLE tasks ADD COLUMN worker_subject uuid;

-- The queue, per user and kind: the oldest ready task first.
DROP INDEX tasks_pending_idx;
CREATE INDEX tasks_ready_idx ON tasks (user_id, kind, run_after, id) WHERE status = 'pending';
-- Retention: terminal tasks by age.
CREATE INDEX tasks_terminal_completed_at_idx ON tasks (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- Who has pending work of which kind, and when a worker last took a task of
-- that user's (`last_claim`, a number from task_claims: larger is later):
-- claims go to the user served longest ago, so one user's backlog cannot
-- hold up another's task. A sequence rather than a time, so that order is
-- exact whatever the clocks say. `pending` is kept in the same transaction
-- as every status change (like task_counts).
CREATE SEQUENCE task_claims;
CREATE TABLE task_queues (
    user_id    uuid NOT NULL,
    kind       text NOT NULL,
    pending    bigint NOT NULL CHECK (pending >= 0),
    last_claim bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, kind)
);
CREATE INDEX task_queues_ready_idx ON task_queues (last_claim, user_id, kind) WHERE pending > 0;
INSERT INTO task_queues (user_id, kind, pending)
    SELECT user_id, 'default', count(*) FROM tasks WHERE status = 'pending' GROUP BY user_id;

-- Each attempt at a task: from claim to its end.
CREATE TABLE task_attempts (
    id            bigserial PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    number        integer NOT NULL,
    worker_id     text NOT NULL,
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    outcome       text CHECK (outcome IN ('completed', 'failed', 'requeued', 'lease_expired', 'cancelled')),
    error_message text
);
CREATE INDEX task_attempts_task_id_idx ON task_attempts (task_id, id);

-- Result files a worker uploaded for a task (files of the task's owner).
CREATE TABLE task_outputs (
    task_id    uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    file_id    uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (task_id, file_id)
);
CREATE INDEX task_outputs_file_id_idx ON task_outputs (file_id);

-- Client-chosen request ids (AIP-155): the first result of a request is
-- returned to its retries. `fingerprint` is a digest of the request, so the
-- same id with another request is told apart.
CREATE TABLE request_ids (
    user_id     uuid NOT NULL,
    request_id  uuid NOT NULL,
    method      text NOT NULL,
    fingerprint text NOT NULL,
    resource_id uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, request_id)
);
CREATE INDEX request_ids_created_at_idx ON request_ids (created_at);

-- What each user stores, kept in the same transaction as every file insert
-- and delete: quotas are checked against it under its row lock.
CREATE TABLE user_usage (
    user_id      uuid PRIMARY KEY,
    stored_bytes bigint NOT NULL CHECK (stored_bytes >= 0),
    file_count   bigint NOT NULL CHECK (file_count >= 0)
);
INSERT INTO user_usage (user_id, stored_bytes, file_count)
    SELECT user_id, sum(size_bytes), count(*) FROM files GROUP BY user_id;
