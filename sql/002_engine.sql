-- 002_engine: what the batched task engine and the enqueue path need.

-- When the broker confirmed the task's message (webapp and CLI rows). A row
-- left PENDING with no confirm is republished by the sweeper after a while;
-- ids make that idempotent. Rows created by a worker (Python clients) are
-- never PENDING.
ALTER TABLE tasks ADD COLUMN published_at timestamptz;
CREATE INDEX tasks_unpublished_idx ON tasks (created_at)
    WHERE state = 'PENDING' AND published_at IS NULL;

-- The tasks a worker master can run, as Celery's `inspect registered` shows
-- them: [{"name", "doc", "example_args", "queue"}]. The webapp's form lists
-- the tasks of the workers online; it never links worker code.
ALTER TABLE workers ADD COLUMN registered jsonb NOT NULL DEFAULT '[]';

-- demo.record(key) writes one row here through its task context, keyed by
-- its task id: tests count effects with it (exactly one row per task).
CREATE TABLE demo_records (
    task_id    uuid PRIMARY KEY,
    key        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
