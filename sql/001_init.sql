-- 001_init: the walking skeleton's tables. Applied by `celeriac migrate`.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per task id, whoever sent it: the webapp and CLI insert it PENDING
-- before publishing; a worker creates it on RECEIVED when a Python client sent
-- the task. State names are Celery's.
CREATE TABLE tasks (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    state       text NOT NULL DEFAULT 'PENDING'
                CHECK (state IN ('PENDING', 'RECEIVED', 'STARTED', 'RETRY',
                                 'SUCCESS', 'FAILURE', 'REVOKED')),
    queue       text NOT NULL DEFAULT 'celery',
    args        jsonb NOT NULL DEFAULT '[]',
    kwargs      jsonb NOT NULL DEFAULT '{}',
    result      jsonb,            -- return value; on FAILURE Celery's exc meta
    error       text,             -- on FAILURE: what went wrong, for people
    retries     integer NOT NULL DEFAULT 0,
    worker      text,             -- node name of the worker that ran it last
    origin      text,             -- node name of the sender, when it said
    created_at  timestamptz NOT NULL DEFAULT now(),
    received_at timestamptz,
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX tasks_created_idx ON tasks (created_at DESC, id DESC);
CREATE INDEX tasks_state_created_idx ON tasks (state, created_at DESC);
CREATE INDEX tasks_name_created_idx ON tasks (name, created_at DESC);

CREATE TABLE task_logs (
    id        bigserial PRIMARY KEY,
    task_id   uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    level     text NOT NULL DEFAULT 'INFO',
    message   text NOT NULL
);
CREATE INDEX task_logs_task_idx ON task_logs (task_id, id);

-- One row per worker master (a compose replica), upserted as its heartbeat.
CREATE TABLE workers (
    hostname     text PRIMARY KEY,   -- node name, e.g. celeriac.4242@host
    pid          integer NOT NULL,
    concurrency  integer NOT NULL,
    queues       text[] NOT NULL,
    processed    bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    active       integer NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);
