-- 007_queue_pauses: queues the operator paused for every worker at once
-- (issue 20, /queues). A row means: no worker child consumes this queue; its
-- tasks stay ready in RabbitMQ until the row is deleted (resume). Durable: a
-- child loads the set when it connects (after LISTEN queue_pause, so a change
-- made in between is in both) and hears each change on channel 'queue_pause'
-- as {"queue", "paused"}, sent only by a statement that changed a row.
CREATE TABLE queue_pauses (
    queue     text PRIMARY KEY CHECK (queue ~ '^[A-Za-z0-9_.:-]{1,200}$'),
    paused_at timestamptz NOT NULL DEFAULT now(),
    paused_by text             -- who asked: the webapp's origin (celeriac-webapp@host)
);
