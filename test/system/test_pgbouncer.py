"""A worker behind Debian's PgBouncer in transaction mode (issue 21): two server connections
for more clients than that, so any session state (a SET, a LISTEN, a session advisory lock,
a named prepared statement) would break. Quick tasks run exactly once, long ones alone (more
of them at once than the pool has connections), retries and chat batches work, revokes and
pauses reach the worker by polling, a redelivered long task still waits for its first run,
and `celeriac migrate` works through the pooler, twice at once. The webapp keeps a direct
connection (it LISTENs)."""
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid

import psycopg2
import pytest
import requests

from harness import (REPO, free_port, publish_raw, query, queue_count, start_proc,
                     start_webapp, start_worker, wait_until)
from test_chat import celery_send as chat_send, message
from test_worker import celery_send, log_messages, task_row, wait_final

CELERIAC = os.path.join(REPO, "bin", "celeriac")
PGBOUNCER = "/usr/sbin/pgbouncer"  # Debian's package (compose/packages-test.txt)
POOL_SIZE = 2
MIGRATIONS = len(glob.glob(os.path.join(REPO, "sql", "[0-9][0-9][0-9]_*.sql")))

pytestmark = pytest.mark.skipif(not os.path.exists(PGBOUNCER),
                                reason="pgbouncer is not installed (compose/install-deps test)")


class PgBouncer:
    """Debian's pgbouncer as an ordinary process in front of the stack's PostgreSQL:
    transaction pooling, POOL_SIZE server connections per database, trust auth."""

    def __init__(self, stack):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="celeriac-pgbouncer-")
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, "pgbouncer.log")
        ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(os.path.join(self.dir, "userlist.txt"), "w") as f:
            f.write('"celeriac" ""\n"postgres" ""\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={stack.pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = {POOL_SIZE}
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = {POOL_SIZE}
max_client_conn = 500
query_wait_timeout = 30
logfile = {self.log_path}
pidfile = {self.dir}/pgbouncer.pid
""")
        argv = [PGBOUNCER, ini]
        if os.geteuid() == 0:  # it refuses to run as root: as the postgres user, then
            pw = pwd.getpwnam("postgres")
            for name in os.listdir(self.dir):
                os.chown(os.path.join(self.dir, name), pw.pw_uid, pw.pw_gid)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            argv = [PGBOUNCER, "-u", "postgres", ini]
        self.proc = start_proc(argv, name="pgbouncer")
        wait_until(lambda: self.show("VERSION") is not None, 20,
                   message=f"pgbouncer answering on port {self.port}")

    def url(self, database="celeriac"):
        return f"postgresql://celeriac@127.0.0.1:{self.port}/{database}"

    def show(self, what):
        """Rows of SHOW what on the admin console, as dicts."""
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer",
                                user="postgres", connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"SHOW {what}")
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pgbouncer(migrated_stack):
    pgb = PgBouncer(migrated_stack)
    yield pgb
    pgb.stop()


@pytest.fixture(scope="module", autouse=True)
def pg_log_offset(migrated_stack):
    """Where PostgreSQL's log stood when this module began."""
    return os.path.getsize(migrated_stack.log_dir / "postgres.log")


@pytest.fixture
def pooled_worker(migrated_stack, pgbouncer, procs):
    """A master with 4 children whose DATABASE_URL is pgbouncer's; the webapp and the
    checks talk to PostgreSQL directly."""
    env = migrated_stack.env(DATABASE_URL=pgbouncer.url())
    w = start_worker("-n", f"pgb-{uuid.uuid4().hex[:8]}@test", "-Q", "celery,chat", env=env,
                     concurrency=4, name="pgb-worker", starter=procs.start)
    yield w
    assert w.terminate(30) == 0
    log = w.log_text()
    assert " ERROR " not in log, log[-4000:]


def count(stack, sql, params=None):
    return query(stack, sql, params)[0][0]


def states(stack, ids):
    return dict(query(stack, "SELECT state, count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                             " GROUP BY state", (ids,)))


def test_quick_tasks_through_two_server_connections_run_exactly_once(migrated_stack,
                                                                     pgbouncer, pooled_worker):
    """500 demo.record (the batch path: savepoints, one statement and one commit per batch)
    from 4 children, a master, its scheduler and sweeper sharing 2 server connections."""
    n = 500
    ids = celery_send(migrated_stack, [["demo.record", [f"pgb{i}"], {}] for i in range(n)])
    wait_until(lambda: states(migrated_stack, ids).get("SUCCESS", 0) == n, 120, interval=0.2,
               message=f"{n} demo.record SUCCESS")
    assert states(migrated_stack, ids) == {"SUCCESS": n}
    assert count(migrated_stack, "SELECT count(*) FROM demo_records WHERE task_id ="
                                 " ANY(%s::uuid[])", (ids,)) == n
    assert count(migrated_stack, "SELECT count(DISTINCT task_id) FROM demo_records WHERE"
                                 " task_id = ANY(%s::uuid[])", (ids,)) == n
    assert count(migrated_stack, "SELECT count(*) FROM task_logs WHERE task_id ="
                                 " ANY(%s::uuid[])", (ids,)) == n
    # More clients than server connections: the pooler really multiplexed them.
    clients = [c for c in pgbouncer.show("CLIENTS") if c["database"] == "celeriac"]
    servers = [s for s in pgbouncer.show("SERVERS") if s["database"] == "celeriac"]
    assert len(clients) >= 5 and 1 <= len(servers) <= POOL_SIZE, (clients, servers)
    # A fresh server connection has JIT off: the database's setting (sql/010_pooler.sql),
    # no session SET.
    conn = psycopg2.connect(pgbouncer.url(), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW jit")
            assert cur.fetchone()[0] == "off"
    finally:
        conn.close()


def test_long_tasks_retries_failures_and_chat_batches_behave(migrated_stack, pgbouncer,
                                                            pooled_worker):
    """Four demo.sleep at once, more long tasks than server connections: each holds its
    lease (a row), not a connection, so none waits for another. A retried task goes
    through the master's scheduler, a chat.persist batch takes its transaction lock."""
    sleeps = celery_send(migrated_stack, [["demo.sleep", [1.5], {}]] * 4)
    wait_until(lambda: states(migrated_stack, sleeps).get("STARTED", 0) == 4, 20,
               message="four long tasks running at once")
    assert count(migrated_stack, "SELECT count(*) FROM task_leases WHERE task_id ="
                                 " ANY(%s::uuid[])", (sleeps,)) == 4
    flaky, failing = celery_send(migrated_stack, [["demo.flaky", [2], {}],
                                                  ["demo.fail", ["no luck"], {}]])
    room = f"r{uuid.uuid4().hex[:8]}"
    chats = chat_send(migrated_stack, [["chat.persist", [], message(room, i)] for i in range(20)])
    for task_id in sleeps:
        assert wait_final(migrated_stack, task_id, timeout=30)["state"] == "SUCCESS"
        assert log_messages(migrated_stack, task_id) == ["sleeping 1.5 s", "slept 1.5 s"]
    assert wait_final(migrated_stack, flaky, timeout=30)["result"] == 3
    assert query(migrated_stack, "SELECT retries FROM tasks WHERE id = %s", (flaky,)) == [(2,)]
    row = wait_final(migrated_stack, failing)
    assert row["state"] == "FAILURE" and "no luck" in row["error"]
    assert all(wait_final(migrated_stack, t)["state"] == "SUCCESS" for t in chats)
    seqs = [r[0] for r in query(migrated_stack, "SELECT seq FROM chat_messages WHERE room = %s"
                                                " ORDER BY seq", (room,))]
    assert len(seqs) == 20 and len(set(seqs)) == 20
    # Every run gave its lease back.
    wait_until(lambda: count(migrated_stack, "SELECT count(*) FROM task_leases WHERE task_id ="
                                             " ANY(%s::uuid[])", (sleeps,)) == 0, 10)


def test_revokes_reach_a_worker_behind_pgbouncer(migrated_stack, pgbouncer, pooled_worker,
                                                 procs):
    web = start_webapp(starter=procs.start)  # a direct connection: it LISTENs
    # Queued (a countdown: it waits in scheduled_tasks), revoked, then due: never runs.
    queued = requests.post(f"{web.url}/api/tasks", json={"name": "demo.sleep", "args": [1],
                                                         "countdown": 2}, timeout=10).json()["id"]
    wait_until(lambda: (task_row(migrated_stack, queued) or {}).get("state") == "RECEIVED", 10)
    r = requests.post(f"{web.url}/api/tasks/{queued}/revoke", timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "REVOKED", r.text
    wait_until(lambda: count(migrated_stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                             (queued,)) == 0, 15, message="the revoked task came due")
    wait_until(lambda: f"task={queued} revoked: not run" in pooled_worker.log_text(), 10)
    assert task_row(migrated_stack, queued)["state"] == "REVOKED"
    assert log_messages(migrated_stack, queued) == []
    # Running, then revoked with terminate: the master reads it within a poll (0.5 s) and
    # signals the child (demo.sleep stops on the cancel flag; else a kill 2 s later).
    running = celery_send(migrated_stack, [["demo.sleep", [30], {}]])[0]
    wait_until(lambda: task_row(migrated_stack, running)["state"] == "STARTED", 10)
    t0 = time.monotonic()
    r = requests.post(f"{web.url}/api/tasks/{running}/revoke?terminate=true", timeout=10)
    assert r.status_code == 200, r.text
    pooled_worker.wait_for_log(f"task={running} revoked with terminate", 5)
    assert time.monotonic() - t0 < 2.5, "the master took more than a poll or two to hear it"
    wait_until(lambda: f"task={running} demo.sleep failed" in pooled_worker.log_text()
               or "killed: revoked" in pooled_worker.log_text(), 10)
    assert task_row(migrated_stack, running)["state"] == "REVOKED"
    wait_until(lambda: queue_count(migrated_stack, "celery") == 0, 10)
    assert not [m for m in log_messages(migrated_stack, running) if m.startswith("slept")]
    [after] = celery_send(migrated_stack, [["demo.add", [3, 4], {}]])
    assert wait_final(migrated_stack, after)["result"] == 7


def consumers(web, queue):
    r = requests.get(f"{web.url}/api/queues", timeout=30)
    assert r.status_code == 200, r.text
    return {q["name"]: q for q in r.json()["queues"]}[queue]["consumers"]


def test_a_pause_stops_and_a_resume_restarts_a_worker_behind_pgbouncer(migrated_stack,
                                                                      pgbouncer, procs):
    queue = f"pgbq-{uuid.uuid4().hex[:8]}"
    web = start_webapp(starter=procs.start)
    start_worker("-Q", queue, "-n", f"pgbq-{uuid.uuid4().hex[:8]}@test", concurrency=2,
                 env=migrated_stack.env(DATABASE_URL=pgbouncer.url()), name="pgb-pause-worker",
                 starter=procs.start)
    wait_until(lambda: consumers(web, queue) == 2, 20)
    t0 = time.monotonic()
    assert requests.post(f"{web.url}/api/queues/{queue}/pause", timeout=10).json()["changed"]
    wait_until(lambda: consumers(web, queue) == 0, 10, message="the children leave the queue")
    assert time.monotonic() - t0 < 3, "a pause took more than a poll or two to arrive"
    held = [requests.post(f"{web.url}/api/tasks", json={"name": "demo.noop", "queue": queue},
                          timeout=10).json()["id"] for _ in range(3)]
    time.sleep(1)
    assert [task_row(migrated_stack, t)["state"] for t in held] == ["PENDING"] * 3
    assert queue_count(migrated_stack, queue) == 3
    assert requests.post(f"{web.url}/api/queues/{queue}/resume", timeout=10).json()["changed"]
    for task_id in held:
        assert wait_final(migrated_stack, task_id, timeout=10)["state"] == "SUCCESS"


def test_a_redelivered_long_task_waits_for_its_first_run_behind_pgbouncer(migrated_stack,
                                                                         pgbouncer,
                                                                         pooled_worker):
    """The run's lease, not a session lock: a copy delivered while the first run goes on
    (as after consumer_timeout) is parked, and acked unrun once the first run is final;
    a child killed mid-run gives its lease back at once, so its redelivery runs."""
    task_id = str(uuid.uuid4())
    body = json.dumps([[3], {}, {}]).encode()
    headers = {"task": "demo.sleep", "id": task_id}
    publish_raw(migrated_stack, "celery", body, headers=headers,
                properties={"correlation_id": task_id})
    wait_until(lambda: (task_row(migrated_stack, task_id) or {}).get("state") == "STARTED", 10)
    publish_raw(migrated_stack, "celery", body, headers=headers,
                properties={"correlation_id": task_id})
    wait_until(lambda: count(migrated_stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                             (task_id,)) == 1, 10, message="the copy was not parked")
    assert wait_final(migrated_stack, task_id, timeout=20)["state"] == "SUCCESS"
    wait_until(lambda: count(migrated_stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                             (task_id,)) == 0, 20)
    wait_until(lambda: queue_count(migrated_stack, "celery") == 0, 10)
    time.sleep(0.5)
    assert log_messages(migrated_stack, task_id) == ["sleeping 3 s", "slept 3 s"]

    killed = celery_send(migrated_stack, [["demo.sleep", [3], {}]])[0]
    wait_until(lambda: task_row(migrated_stack, killed)["state"] == "STARTED", 10)
    [(pid,)] = query(migrated_stack, "SELECT pid FROM task_leases WHERE task_id = %s", (killed,))
    os.kill(pid, 9)
    assert wait_final(migrated_stack, killed, timeout=20)["state"] == "SUCCESS"
    assert count(migrated_stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                 (killed,)) == 0
    assert f"task={killed} delivered again" not in pooled_worker.log_text()
    assert count(migrated_stack, "SELECT lost FROM tasks WHERE id = %s", (killed,)) == 1


def test_migrate_through_pgbouncer_twice_at_once_applies_each_migration_once(migrated_stack,
                                                                           pgbouncer,
                                                                           empty_database):
    name = empty_database.rsplit("/", 1)[1]
    env = migrated_stack.env(DATABASE_URL=pgbouncer.url(name))
    both = [subprocess.Popen([CELERIAC, "migrate"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    applied = [int(out.split("(")[1].split()[0]) for out, _err in outs]
    assert sum(applied) == MIGRATIONS, outs
    conn = psycopg2.connect(empty_database, connect_timeout=5)  # a new session
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version"
                        " ORDER BY version")
            rows = cur.fetchall()
            cur.execute("SHOW jit")
            jit = cur.fetchone()[0]
    finally:
        conn.close()
    assert len(rows) == MIGRATIONS and all(n == 1 for _v, n in rows), rows
    assert jit == "off"
    again = subprocess.run([CELERIAC, "migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0 and "0 migrations applied" in again.stdout, again


def test_no_statement_broke_on_the_pooler(migrated_stack, pgbouncer, pg_log_offset):
    """Last: what the modules' runs left in pgbouncer's and PostgreSQL's logs."""
    log = pgbouncer.log_text()
    assert "prepared statement" not in log, log[-4000:]
    assert "ERROR" not in log and "pooler error" not in log, log[-4000:]
    with open(migrated_stack.log_dir / "postgres.log", errors="replace") as f:
        f.seek(pg_log_offset)
        pg = f.read()
    for bad in ("prepared statement", "you don't own a lock", "advisory"):
        assert bad not in pg, pg[-4000:]
