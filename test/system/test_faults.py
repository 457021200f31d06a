"""Fault injection on a durable stack (PostgreSQL with fsync and synchronous_commit on):
RabbitMQ and PostgreSQL restarted, children and a master SIGKILLed, each in the middle of a
run of demo.record tasks. Whatever was accepted ends SUCCESS exactly once (one demo_records
row and one log line per task id), nothing a client was refused runs, and the webapp and
the workers ride the fault out without crashing."""
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import requests

from harness import (assert_each_ran_once, assert_no_sanitizer_reports, done_count,
                     publish_records, query, queue_count, start_service, start_webapp,
                     start_worker, states, stop_service, wait_until)


# ------------------------------------------------------------------------------ helpers


def _stat(pid):
    """The fields of /proc/PID/stat from the state on, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid):
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def children_of(pid):
    """Live child processes of pid (a master's children)."""
    kids = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for t in threads:
        try:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                kids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return [k for k in kids if _alive(k)]


def group_members(pgid):
    """Live processes of process group pgid but its leader."""
    found = []
    for d in os.listdir("/proc"):
        fields = _stat(d) if d.isdigit() else None
        if fields and fields[0] != "Z" and int(fields[2]) == pgid and int(d) != pgid:
            found.append(int(d))
    return found


@contextmanager
def outage(stack, service):
    """service (rabbitmq or postgres) is stopped inside the block, and started again when
    it ends, whatever happens (the module's later tests need it)."""
    stop_service(stack, service)
    try:
        yield
    finally:
        start_service(stack, service)


class LogMark:
    """What a process logs from now on."""

    def __init__(self, proc):
        self.proc = proc
        self.offset = len(proc.log_text())

    def since(self):
        return self.proc.log_text()[self.offset:]


class Posters:
    """Client threads POSTing demo.record(key) to the webapp, one key after another, each
    retried after a 503 (small sleeps) until accepted: a 503 stores nothing, so retrying is
    what a client is told to do."""

    def __init__(self, url, keys, threads=4, per_task_timeout=60, queue=None):
        self.url = url
        self.keys = list(keys)
        self.queue = queue
        self.per_task_timeout = per_task_timeout
        self.lock = threading.Lock()
        self.next = 0
        self.accepted = {}  # key -> id
        self.unconfirmed = 0
        self.refused = []  # (content type, Retry-After, body) of every 503
        self.problems = []  # anything else: fails the test
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), \
            f"posting did not finish within {timeout} s ({len(self.accepted)} accepted)"
        assert not self.problems, "unexpected answers:\n" + "\n".join(self.problems[:10])
        assert len(self.accepted) == len(self.keys)

    def count(self):
        with self.lock:
            return len(self.accepted)

    def ids(self):
        with self.lock:
            return list(self.accepted.values())

    def refused_count(self):
        with self.lock:
            return len(self.refused)

    def _take(self):
        with self.lock:
            if self.next >= len(self.keys) or self.problems:
                return None
            self.next += 1
            return self.keys[self.next - 1]

    def _run(self):
        session = requests.Session()
        while (key := self._take()) is not None:
            payload = {"name": "demo.record", "args": [key]}
            if self.queue:
                payload["queue"] = self.queue
            deadline = time.monotonic() + self.per_task_timeout
            while True:
                try:
                    r = session.post(self.url + "/api/tasks", timeout=20, json=payload)
                except requests.RequestException as e:
                    with self.lock:
                        self.problems.append(f"{key}: {e!r}")
                    return
                if r.status_code == 202:
                    body = r.json()
                    with self.lock:
                        self.accepted[key] = body["id"]
                        self.unconfirmed += body.get("confirmed") is False
                    break
                if r.status_code != 503:
                    with self.lock:
                        self.problems.append(f"{key}: {r.status_code} {r.text}")
                    return
                with self.lock:
                    self.refused.append((r.headers.get("Content-Type"),
                                         r.headers.get("Retry-After"), r.text))
                if time.monotonic() > deadline:
                    with self.lock:
                        self.problems.append(f"{key}: still 503 after {self.per_task_timeout} s")
                    return
                time.sleep(0.05)


def start_masters(stack, durable_procs, names, *args, concurrency=2):
    return [start_worker("--republish-after", "3", "-n", f"{name}@faults", *args,
                         env=stack.env(), name=name, concurrency=concurrency,
                         starter=durable_procs.start)
            for name in names]


def assert_survived(procs):
    """Each process still runs, stops cleanly on SIGTERM and logged no sanitizer report."""
    for p in procs:
        assert p.poll() is None, f"{p.name} died (status {p.returncode}):\n{p.log_text()[-3000:]}"
    for p in procs:
        assert p.terminate(30) == 0, f"{p.name} did not exit 0 on SIGTERM"
        assert_no_sanitizer_reports(p.log_text(), str(p.log_path))


def refusals_naming(posters, word):
    """The 503s whose JSON error names word, each with a Retry-After as docs/api.md says."""
    return [body for ctype, retry_after, body in posters.refused
            if ctype and ctype.startswith("application/json") and retry_after
            and word in json.loads(body).get("error", "").lower()]


# ------------------------------------------------------------------------------ tests


def test_compose_local_stops_and_starts_one_server_with_its_data_and_settings(durable_stack):
    """compose/local stop/start SERVICE: the other server keeps running, status reports the
    stopped one (exit 3), start brings it back on its port with its data and, for this
    durable stack, fsync and synchronous_commit still on."""
    stack = durable_stack
    settings = "SELECT current_setting('fsync'), current_setting('synchronous_commit')"
    assert query(stack, settings) == [("on", "on")]
    query(stack, "CREATE TABLE IF NOT EXISTS faults_probe (n int); INSERT INTO faults_probe "
                 "VALUES (1)")
    r = stack.compose("stop", "nonsense", check=False)
    assert r.returncode == 1 and "unknown service 'nonsense'" in r.stderr
    try:
        stop_service(stack, "postgres")
        status = stack.compose("status", check=False)
        assert status.returncode == 3
        assert re.search(r"^postgres +stopped", status.stdout, re.M), status.stdout
        assert re.search(r"^rabbitmq +running", status.stdout, re.M), status.stdout
    finally:
        start_service(stack, "postgres")
    assert query(stack, settings) == [("on", "on")]
    assert query(stack, "SELECT count(*) FROM faults_probe") == [(1,)]
    query(stack, "DROP TABLE faults_probe")


def test_a_rabbitmq_restart_mid_run_loses_and_doubles_nothing(durable_stack, durable_procs):
    """1,000 demo.record POSTed to the webapp: 100 to a queue nobody consumes yet, then 900
    by 4 clients to the workers' queue. RabbitMQ is stopped once 400 of those were accepted
    and started again while the clients keep posting (they get 503 naming the broker, and
    retry). The 100 parked messages survive the restart; every accepted task ends SUCCESS
    exactly once; the webapp and the workers survive."""
    stack = durable_stack
    run = f"a-{uuid.uuid4().hex[:8]}-"
    parked_queue = f"faults.parked.{run[2:10]}"
    web = start_webapp(env=stack.env(), starter=durable_procs.start)
    masters = start_masters(stack, durable_procs, ["rmq-a", "rmq-b"])
    parked = Posters(web.url, [f"{run}k{i}" for i in range(100)], queue=parked_queue).start()
    parked.join(30)
    assert queue_count(stack, parked_queue) == 100
    posters = Posters(web.url, [f"{run}k{i}" for i in range(100, 1000)]).start()

    wait_until(lambda: posters.count() >= 400, 40, message="400 tasks accepted")
    accepted_before = posters.count()
    in_flight = accepted_before - done_count(stack, posters.ids())
    with outage(stack, "rabbitmq"):
        # The webapp refuses a task while the broker is down: a 503 naming it (a probe of its
        # own: the posters may all be accepted by now; its key is outside the run's).
        probe = requests.post(f"{web.url}/api/tasks", timeout=20, json={
            "name": "demo.record", "args": [f"probe-{uuid.uuid4().hex[:8]}"]})
    # Persistent messages in a durable queue come back with RabbitMQ.
    assert wait_until(lambda: queue_count(stack, parked_queue) == 100, 10,
                      message=f"the 100 messages parked in {parked_queue} after the restart")
    masters += start_masters(stack, durable_procs, ["rmq-parked"], "-Q", parked_queue)
    posters.join(60)

    ids = parked.ids() + posters.ids()
    assert len(set(ids)) == 1000
    wait_until(lambda: done_count(stack, ids) == len(ids), 60, interval=0.25,
               message=f"all 1000 accepted tasks SUCCESS after the RabbitMQ restart "
                       f"(now {states(stack, ids)})")
    assert accepted_before < 900, "the posting ended before RabbitMQ was stopped"
    assert probe.status_code == 503 and probe.headers.get("Retry-After") and \
        "broker" in probe.json()["error"].lower(), (probe.status_code, probe.text)
    broker_refusals = refusals_naming(posters, "broker")
    assert_each_ran_once(stack, ids, run)
    assert_survived([web, *masters])
    print(f"\naccepted 1000 ({posters.unconfirmed} unconfirmed), "
          f"{len(posters.refused)} 503s ({len(broker_refusals)} naming the broker); "
          f"RabbitMQ stopped after {accepted_before} accepted, {in_flight} not final then")


def test_b_postgres_restart_mid_run_loses_and_doubles_nothing(durable_stack, durable_procs):
    """1,000 demo.record: 300 POSTed to the webapp, PostgreSQL stopped after 200 of them
    were accepted; while it is down 500 more are published as raw Celery v2 messages
    straight to RabbitMQ; PostgreSQL starts again, the last 200 go through the webapp.
    Every task ends SUCCESS exactly once; webapp and workers survive."""
    stack = durable_stack
    run = f"b-{uuid.uuid4().hex[:8]}-"
    web = start_webapp(env=stack.env(), starter=durable_procs.start)
    masters = start_masters(stack, durable_procs, ["pg-a", "pg-b"])
    first = Posters(web.url, [f"{run}k{i}" for i in range(300)]).start()

    wait_until(lambda: first.count() >= 200, 40, message="200 tasks accepted")
    marks = [LogMark(m) for m in masters]
    raw_keys = [f"{run}k{i}" for i in range(300, 800)]
    raw_ids = []
    stopped_at = first.count()
    in_flight = stopped_at - done_count(stack, first.ids())
    with outage(stack, "postgres"):
        for i in range(0, len(raw_keys), 50):  # a stream of tasks while the database is down
            raw_ids += publish_records(stack, raw_keys[i:i + 50])
            time.sleep(0.02)
        # The webapp refuses a task while the database is down: a 503 naming it, with a
        # Retry-After (a probe of its own: the posters may all be accepted by now). Its key
        # is outside the run's, should it be stored after all.
        probe = requests.post(f"{web.url}/api/tasks", timeout=20, json={
            "name": "demo.record", "args": [f"probe-{uuid.uuid4().hex[:8]}"]})
        # Down until a child of each master met it (a batch that cannot commit, a
        # connection refused).
        wait_until(lambda: all(re.search(r"child\.\d+\[\d+\].*PostgreSQL", m.since())
                               for m in marks), 20,
                   message="a child of each worker met the PostgreSQL outage")
    first.join(60)
    last = Posters(web.url, [f"{run}k{i}" for i in range(800, 1000)]).start()
    last.join(60)

    ids = first.ids() + raw_ids + last.ids()
    assert len(set(ids)) == 1000
    wait_until(lambda: done_count(stack, ids) == len(ids), 60, interval=0.25,
               message=f"all 1000 tasks SUCCESS after the PostgreSQL restart "
                       f"(now {states(stack, ids)})")
    assert stopped_at < 300, "the posting ended before PostgreSQL was stopped"
    assert probe.status_code == 503 and probe.headers.get("Retry-After") and \
        "database" in probe.json()["error"].lower(), (probe.status_code, probe.text)
    # What the posters were refused, if they posted during the outage, said the same.
    assert all("database" in json.loads(body)["error"].lower()
               for _ctype, _retry, body in first.refused), first.refused[:5]
    assert_each_ran_once(stack, ids, run)
    assert_survived([web, *masters])
    print(f"\nPostgreSQL stopped after {stopped_at} accepted, {in_flight} not final then; "
          f"{len(first.refused)} 503s")


def test_c_sigkill_children_and_a_master_during_a_2000_task_drain(durable_stack,
                                                                  durable_procs):
    """2,000 demo.record (more while kills are pending, up to 6,000) published as a stream
    (a chunk every 0.05 s) to two masters of 2 children; right after a chunk lands, while
    tasks are not final yet, a random child is SIGKILLed (10 times, at most every 0.2 s) and
    once a whole master (started again at once). Every task ends SUCCESS exactly once;
    demo_records has exactly one row per task published."""
    stack = durable_stack
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    run = f"c-{uuid.uuid4().hex[:8]}-"
    masters = start_masters(stack, durable_procs, ["kill-a", "kill-b"])
    keys = [f"{run}k{i}" for i in range(6000)]
    plan = ["child"] * 10
    plan.insert(rng.randrange(3, 8), "master")
    ids, kills = [], []
    last_kill = 0.0
    # A kill needs tasks not final yet, and the workers often finish a small chunk
    # before it is counted: a kill that finds them idle doubles the next chunk (up to
    # 200), one that lands starts again at 20. The stream goes on past 2,000 tasks until
    # every kill has landed.
    start, size = 0, 20
    while start < len(keys) and (start < 2000 or plan):
        tick = time.monotonic()
        ids += publish_records(stack, keys[start:start + size])
        start += size
        if plan and time.monotonic() - last_kill >= 0.2:
            # Counted as soon as the chunk is confirmed (its tasks are being delivered,
            # run or committed), then the kill lands a few milliseconds later. Earlier
            # chunks are final by now: only the recent ids are counted (a quick query).
            recent = ids[-400:]
            outstanding = len(recent) - done_count(stack, recent)
            time.sleep(rng.uniform(0.0, 0.006))  # into delivery, run, commit or ack
            if plan[0] == "child":
                victims = [(m, c) for m in masters for c in children_of(m.pid)]
            else:
                victims = [(m, m.pid) for m in masters]
            size = min(size * 2, 200)
            if outstanding > 0 and victims:  # not idle: tasks delivered, running, committing
                size = 20
                master, pid = rng.choice(victims)
                os.kill(pid, signal.SIGKILL)
                last_kill = time.monotonic()
                kills.append((plan.pop(0), master.name, pid, outstanding))
                if pid == master.pid:
                    master.wait(10)
                    # PR_SET_PDEATHSIG: its children get SIGTERM, finish their batch, leave.
                    wait_until(lambda: not group_members(master.pid), 30,
                               message=f"the children of the killed {master.name} exit")
                    masters[masters.index(master)] = start_worker(
                        "--republish-after", "3", "-n", f"{master.name}-again@faults",
                        env=stack.env(), name=f"{master.name}-again", concurrency=2,
                        starter=durable_procs.start)
        time.sleep(max(0.0, 0.05 - (time.monotonic() - tick)))  # the stream's pace
    assert not plan, f"the stream ended before every kill landed (kills: {kills}, seed {seed})"
    wait_until(lambda: done_count(stack, ids) == len(ids), 60, interval=0.25,
               message=f"all {len(ids)} tasks SUCCESS after the kills (now {states(stack, ids)})")
    assert_each_ran_once(stack, ids, run)
    [(rows,)] = query(stack, "SELECT count(*) FROM demo_records WHERE key LIKE %s",
                      (run + "%",))
    assert rows == len(ids) >= 2000
    # Every killed child was replaced.
    wait_until(lambda: all(len(children_of(m.pid)) == 2 for m in masters), 30,
               message="both masters back to 2 children")
    assert_survived(masters)
    print(f"\nseed {seed}; kills (what, master, pid, tasks not final then): {kills}")


def test_d_a_master_stopped_just_after_a_postgres_restart_marks_itself_stopped(
        durable_stack, durable_procs):
    """PostgreSQL restarts between two heartbeats of an idle master, which is then stopped
    with SIGTERM: its workers row must say stopped (stopped_at set), as after any warm
    shutdown, rather than look alive until its heartbeat ages out."""
    stack = durable_stack
    name = f"pgstop-{uuid.uuid4().hex[:6]}@faults"
    [master] = start_masters(stack, durable_procs, [name.split("@")[0]], concurrency=1)

    def heartbeat():
        rows = query(stack, "SELECT heartbeat_at FROM workers WHERE hostname = %s", (name,))
        return rows[0][0] if rows else None
    first = wait_until(heartbeat, 15, message="the master's first heartbeat")
    wait_until(lambda: heartbeat() != first, 15, message="the master's next heartbeat")
    beat = time.monotonic()
    # The next heartbeat is 5 s away: restart PostgreSQL and stop the master before it.
    with outage(stack, "postgres"):
        pass
    if time.monotonic() - beat > 4:
        pytest.skip("the restart took too long to land between two heartbeats")
    assert master.terminate(30) == 0
    assert_no_sanitizer_reports(master.log_text(), str(master.log_path))
    [(stopped_at,)] = query(stack, "SELECT stopped_at FROM workers WHERE hostname = %s",
                            (name,))
    assert stopped_at is not None, ("the workers row was not marked stopped:\n" +
                                    master.log_text()[-1500:])
