-- 003_reliability: retries, countdown/ETA/expiry, periodic tasks, revocations,
-- time limits and what each run cost. docs/architecture.md "The worker pool's
-- guarantees" tells how the worker uses them.

-- How each task ended and what it cost, as the worker measured it:
-- outcome is one of returned, raised, retry, soft_limit, hard_limit,
-- memory_limit, revoked, expired, worker_lost, rejected, or "signal N".
ALTER TABLE tasks
    ADD COLUMN eta         timestamptz,      -- countdown/ETA/retry: not before this
    ADD COLUMN expires     timestamptz,      -- not run after this: REVOKED (expired)
    ADD COLUMN outcome     text,
    ADD COLUMN wall_s      double precision, -- run time of the handler
    ADD COLUMN cpu_s       double precision, -- user + system CPU of the handler
    ADD COLUMN rss_kib     bigint,           -- the child's RSS after the task
    ADD COLUMN lost        integer NOT NULL DEFAULT 0, -- runs cut short by a dying child
    ADD COLUMN lost_reason text;

-- Messages that must not run yet: a countdown/ETA in the future, a retry's
-- back-off, a redelivered long task whose first run still goes on. The
-- worker that received the message writes the row in its batch's commit and
-- acks; the scheduler in every worker master publishes due rows (FOR UPDATE
-- SKIP LOCKED, deleted in the same transaction once confirmed). The message
-- is kept as the worker re-encoded it: Celery v2 headers and body.
CREATE TABLE scheduled_tasks (
    id         uuid PRIMARY KEY,       -- the task id: one schedule per task
    due_at     timestamptz NOT NULL,
    queue      text NOT NULL,
    headers    jsonb NOT NULL,
    body       text NOT NULL,
    reply_to   text,
    priority   integer,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_tasks_due_idx ON scheduled_tasks (due_at);

-- Cron-driven tasks: the scheduler enqueues each due run once across all
-- masters (row lock, SKIP LOCKED) and moves next_run_at on in the same
-- transaction. Times are UTC.
CREATE TABLE periodic_tasks (
    name         text PRIMARY KEY,
    task         text NOT NULL,
    cron         text NOT NULL,
    args         jsonb NOT NULL DEFAULT '[]',
    kwargs       jsonb NOT NULL DEFAULT '{}',
    queue        text,                  -- NULL: routed by task name
    enabled      boolean NOT NULL DEFAULT true,
    next_run_at  timestamptz NOT NULL,
    last_run_at  timestamptz,
    last_task_id uuid,
    total_runs   bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Revoked task ids, durable: a child loads the recent ones when it connects
-- and learns new ones from notifications on channel 'task_revoked'.
CREATE TABLE revocations (
    task_id    uuid PRIMARY KEY,
    terminate  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revocations_created_idx ON revocations (created_at);

-- What a master's heartbeat adds: its children's RSS and the tasks they run.
ALTER TABLE workers
    ADD COLUMN rss_kib      bigint,
    ADD COLUMN active_tasks jsonb NOT NULL DEFAULT '[]';

-- The built-in cleanup, daily at 03:17 UTC; retention in days.
INSERT INTO periodic_tasks (name, task, cron, kwargs, next_run_at)
VALUES ('celeriac.cleanup', 'celeriac.cleanup', '17 3 * * *', '{"retention_days": 7}',
        date_trunc('day', now()) + interval '1 day 3 hours 17 minutes');
