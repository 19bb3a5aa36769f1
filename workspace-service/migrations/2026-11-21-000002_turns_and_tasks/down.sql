DROP TABLE task_counts;
ALTER TABLE tasks DROP CONSTRAINT tasks_turn_id_fkey;
DROP TABLE conversation_turns;
DROP TABLE task_files;
DROP TABLE tasks;
