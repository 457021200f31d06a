-- 008_task_pages: the task pages (issue 20): lineage, and indexes that keep
-- the filtered, keyset-paged task list fast on millions of rows.

-- The task this one was started from: a retry or an "Edit and re-run" of it,
-- or the parent_id header of a task a Celery client sent from inside another
-- task. No foreign key: the parent may be a task celeriac never saw (a Python
-- client's) or one the cleanup removed.
ALTER TABLE tasks ADD COLUMN parent_id uuid;
CREATE INDEX tasks_parent_idx ON tasks (parent_id) WHERE parent_id IS NOT NULL;

-- Keyset pages: each filter's index ends in (created_at, id), the page order,
-- so "the 50 tasks after this one" is one index range scan however deep the
-- page (001's state and name indexes lacked the id: ties cost a sort).
DROP INDEX tasks_state_created_idx;
CREATE INDEX tasks_state_created_idx ON tasks (state, created_at DESC, id DESC);
DROP INDEX tasks_name_created_idx;
CREATE INDEX tasks_name_created_idx ON tasks (name, created_at DESC, id DESC);
CREATE INDEX tasks_worker_created_idx ON tasks (worker, created_at DESC, id DESC);

-- Text in args or kwargs (ILIKE '%text%') through trigrams: pg_trgm was
-- created by 004. The list's query must use this very expression.
CREATE INDEX tasks_args_trgm_idx ON tasks
    USING gin ((args::text || ' ' || kwargs::text) gin_trgm_ops);

-- A task page lists the chat messages its task stored.
CREATE INDEX chat_messages_task_idx ON chat_messages (task_id);
