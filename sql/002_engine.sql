-- 002_engine: what the batched task engine and the enqueue path need.

-- Enqueued groups whose messages RabbitMQ has not confirmed yet: the
-- producer writes one row per group with the group's task rows (same
-- statement, same commit) and deletes it once the confirms came; what a
-- lost confirm or a crash between INSERT and publish leaves here, a worker
-- master's sweeper publishes again after a while (ids make that
-- idempotent). One small row per group, not an UPDATE of every task row.
CREATE TABLE unconfirmed_publishes (
    id         bigserial PRIMARY KEY,
    task_ids   uuid[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

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
