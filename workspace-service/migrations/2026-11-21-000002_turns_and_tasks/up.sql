-- Processing tasks: a durable work queue. Workers claim the oldest pending
-- task with FOR UPDATE SKIP LOCKED and hold it under a lease; a task whose
-- lease runs out goes back to pending (or to failed after max_attempts).
CREATE TABLE tasks (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL,
    query            text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    analysis         text,
    operations       jsonb,
    result           jsonb,
    error_message    text,
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3,
    worker_id        text,
    lease_expires_at timestamptz,
    -- Set when the task processes a conversation turn.
    turn_id          uuid,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX tasks_user_id_created_at_idx ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_id_status_created_at_idx ON tasks (user_id, status, created_at DESC, id DESC);
CREATE INDEX tasks_user_id_updated_at_idx ON tasks (user_id, updated_at DESC, id DESC);
CREATE INDEX tasks_user_id_completed_at_idx ON tasks (user_id, completed_at DESC, id DESC);
-- The queue: oldest pending first; leases to reap.
CREATE INDEX tasks_pending_idx ON tasks (created_at, id) WHERE status = 'pending';
CREATE INDEX tasks_lease_idx ON tasks (lease_expires_at) WHERE status = 'processing';

CREATE TABLE task_files (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    file_id uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, file_id)
);
CREATE INDEX task_files_file_id_idx ON task_files (file_id);

-- The turns of a conversation, numbered from 1 with no gap: the number is
-- taken from conversations.turn_count, incremented under the row's lock.
CREATE TABLE conversation_turns (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    turn_number     integer NOT NULL,
    query           text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
    analysis        text,
    variables       jsonb,
    new_columns     jsonb,
    formulas        jsonb,
    errors          jsonb,
    output_file_id  uuid REFERENCES files (id) ON DELETE SET NULL,
    task_id         uuid REFERENCES tasks (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    completed_at    timestamptz,
    UNIQUE (conversation_id, turn_number)
);
CREATE INDEX conversation_turns_task_id_idx ON conversation_turns (task_id);
ALTER TABLE tasks ADD CONSTRAINT tasks_turn_id_fkey
    FOREIGN KEY (turn_id) REFERENCES conversation_turns (id) ON DELETE SET NULL;

-- Tasks per user and status, kept in the same transaction as every status
-- change: stats and list totals stay O(1) however many tasks a user has.
CREATE TABLE task_counts (
    user_id uuid NOT NULL,
    status  text NOT NULL,
    count   bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (user_id, status)
);
