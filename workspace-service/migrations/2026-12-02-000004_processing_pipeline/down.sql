DROP TABLE user_usage;
DROP TABLE request_ids;
DROP TABLE task_outputs;
DROP TABLE task_attempts;
DROP TABLE task_queues;
DROP SEQUENCE task_claims;
DROP INDEX tasks_terminal_completed_at_idx;
DROP INDEX tasks_ready_idx;
DELETE FROM tasks WHERE status = 'draft';
CREATE INDEX tasks_pending_idx ON tasks (created_at, id) WHERE status = 'pending';
ALTER TABLE tasks DROP COLUMN worker_subject;
ALTER TABLE tasks DROP COLUMN run_after;
ALTER TABLE tasks DROP COLUMN progress;
ALTER TABLE tasks DROP COLUMN kind;
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled'));
