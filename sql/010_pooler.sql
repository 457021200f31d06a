-- 010_pooler: no session state in the worker, so that it runs behind PgBouncer
-- in transaction mode (issue 21). A transaction pooler hands each transaction
-- to whichever server connection is free: a session SET, a LISTEN or a
-- session advisory lock lands on a connection the client may never see
-- again. docs/architecture.md "Behind PgBouncer" tells the whole design.

-- JIT off for every connection to this database, instead of a SET per
-- session (sql/store.c used to send one): our statements are short ones run
-- many times, and JIT compiled the batch's final statement at every commit
-- while task_logs had no statistics (470 ms instead of 7). A database
-- setting reaches every server connection a pooler opens. Only the
-- database's owner may set it: otherwise the role's own default, which any
-- role may set for itself.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    BEGIN
        ALTER ROLE CURRENT_USER SET jit = off;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'celeriac: cannot turn jit off: run ALTER DATABASE % SET jit = off as its owner',
            current_database();
    END;
END
$$;

-- What the workers follow by polling instead of LISTEN: revocations and
-- paused queues. One row, a clock: every revocation (a new one, or one
-- that gains terminate) takes the next seq under the row's lock, held until
-- its commit, so the revocations commit in seq order, and a reader that
-- sees seq N committed sees every revocation up to N. A worker keeps the
-- seq it has read up to and asks for revocations.seq > it: one short
-- statement, an empty index range when nothing changed. pauses_seq is the
-- seq of the last change to queue_pauses: a worker reloads that tiny table
-- when it moved. Revokes and pauses are an operator's rare acts: their
-- serializing on one row costs nothing.
CREATE TABLE worker_signals (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq        bigint NOT NULL DEFAULT 0,
    pauses_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO worker_signals DEFAULT VALUES;

-- Rows from before this migration keep 0: a worker loads the newest
-- revocations by created_at when it connects, and follows seq from there.
ALTER TABLE revocations ADD COLUMN seq bigint NOT NULL DEFAULT 0;
CREATE INDEX revocations_seq_idx ON revocations (seq);

CREATE FUNCTION celeriac_revocation_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE worker_signals SET seq = seq + 1 RETURNING seq INTO NEW.seq;
    RETURN NEW;
END
$$;
CREATE TRIGGER revocations_seq BEFORE INSERT ON revocations
    FOR EACH ROW EXECUTE FUNCTION celeriac_revocation_seq();
-- A revoke again with terminate: the master must hear it again.
CREATE TRIGGER revocations_seq_terminate BEFORE UPDATE ON revocations
    FOR EACH ROW WHEN (OLD.terminate IS DISTINCT FROM NEW.terminate)
    EXECUTE FUNCTION celeriac_revocation_seq();

CREATE FUNCTION celeriac_pauses_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE worker_signals SET seq = seq + 1, pauses_seq = seq + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER queue_pauses_seq AFTER INSERT OR UPDATE OR DELETE ON queue_pauses
    FOR EACH ROW EXECUTE FUNCTION celeriac_pauses_seq();

-- The run of a long task (one that runs alone), instead of a session
-- advisory lock: a copy of its message redelivered while it runs
-- (consumer_timeout, a dropped connection) finds the lease and is parked.
-- A lease, not a lock held by an open transaction: behind a transaction
-- pooler an open transaction pins a server connection for the whole run,
-- and with as many long tasks running as the pool has connections every
-- other statement (their own log lines included) would wait for ever. The
-- child's master renews the leases of its children with its heartbeat and
-- drops a dead child's at once; a lease nobody renews (the whole worker
-- died) runs out after expires_at. Quick tasks never take one.
CREATE TABLE task_leases (
    task_id    uuid PRIMARY KEY,
    worker     text NOT NULL,    -- the master's node name
    pid        integer NOT NULL, -- the child running it
    taken_at   timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
