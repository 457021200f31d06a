"""The worker pool end to end, against a private RabbitMQ and PostgreSQL:
Celery clients, the CLI, poison messages, two replicas, warm shutdown."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from harness import (REPO, assert_no_sanitizer_reports, db, get_message, publish_raw,
                     queue_count, start_worker, wait_until)

CELERIAC = os.path.join(REPO, "bin", "celeriac")
WORKER = os.path.join(REPO, "bin", "celeriac-worker")


def task_row(stack, task_id):
    with db(stack).cursor() as cur:
        cur.execute("SELECT state, result, error, worker FROM tasks WHERE id = %s", (task_id,))
        row = cur.fetchone()
    return None if row is None else dict(zip(("state", "result", "error", "worker"), row))


def wait_final(stack, task_id, timeout=20):
    def final():
        row = task_row(stack, task_id)
        return row if row and row["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None
    return wait_until(final, timeout, message=f"task {task_id} never finished")


def log_messages(stack, task_id):
    with db(stack).cursor() as cur:
        cur.execute("SELECT message FROM task_logs WHERE task_id = %s ORDER BY id", (task_id,))
        return [r[0] for r in cur.fetchall()]


def celery_send(stack, sends):
    """Send tasks with Debian's python3-celery as a real client; returns ids.
    sends: list of (name, args, kwargs)."""
    script = r"""
import json, sys
from celery import Celery
app = Celery(broker=sys.argv[1])
app.conf.task_serializer = "json"
ids = [app.send_task(n, args=a, kwargs=k).id for n, a, k in json.loads(sys.stdin.read())]
print(json.dumps(ids))
"""
    out = subprocess.run(["/usr/bin/python3", "-c", script, stack.amqp_url],
                         input=json.dumps(sends), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def enqueue_cli(stack, *argv):
    return subprocess.run([CELERIAC, "enqueue", *argv], env=stack.env(), capture_output=True,
                          text=True, timeout=60)


def test_a_task_sent_by_python_celery_runs_with_args_and_kwargs(stack, worker):
    by_position, by_name = celery_send(stack, [["demo.add", [2, 3], {}],
                                               ["demo.add", [], {"x": 2, "y": 3}]])
    for task_id in (by_position, by_name):
        row = wait_final(stack, task_id)
        assert row["state"] == "SUCCESS", row
        assert row["result"] == 5
        assert row["worker"].startswith("celeriac.")
        assert log_messages(stack, task_id) == ["adding 2 + 3"]


def test_cli_enqueue_wait_prints_the_final_state_and_result(stack, worker):
    out = enqueue_cli(stack, "demo.add", "--args", "[2, 3]", "--wait", "20")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["state"] == "SUCCESS" and answer["result"] == 5
    status = subprocess.run([CELERIAC, "status", answer["id"]], env=stack.env(),
                            capture_output=True, text=True, timeout=30)
    assert status.returncode == 0
    assert json.loads(status.stdout)["name"] == "demo.add"


def test_demo_fail_ends_failure_with_its_message(stack, worker):
    out = enqueue_cli(stack, "demo.fail", "--kwargs", '{"message": "boom 42"}', "--wait", "20")
    assert out.returncode == 1
    answer = json.loads(out.stdout)
    assert answer["state"] == "FAILURE"
    assert "boom 42" in answer["error"]
    row = task_row(stack, answer["id"])
    assert row["result"]["exc_message"] == ["boom 42"]


def find_dead(stack, predicate, timeout=10):
    """Drain celeriac.dead until a message matches; returns (body, headers)."""
    seen = []
    def look():
        while True:
            msg = get_message(stack, "celeriac.dead")
            if msg is None:
                return None
            seen.append(msg)
            if predicate(*msg):
                return msg
    return wait_until(look, timeout, message=f"no matching dead letter among {len(seen)}")


def test_unknown_task_name_fails_and_is_dead_lettered(stack, worker):
    out = enqueue_cli(stack, "no.such.task", "--args", "[1]", "--wait", "20")
    answer = json.loads(out.stdout)
    assert answer["state"] == "FAILURE"
    assert "NotRegistered" in answer["error"]
    body, headers = find_dead(stack, lambda b, h: h.get("id") == answer["id"])
    assert "NotRegistered" in headers["x-celeriac-reason"]
    assert headers["x-celeriac-queue"] == "celery"
    assert json.loads(body)[0] == [1]


def test_garbage_is_dead_lettered_and_the_worker_keeps_serving(stack, worker):
    marker = uuid.uuid4().hex
    publish_raw(stack, "celery", f"not json {marker}".encode(), headers=None)
    publish_raw(stack, "celery", json.dumps([[], {}, {}]).encode(),
                headers={"task": "demo.noop", "id": str(uuid.uuid4()), "retries": "many"})
    body, headers = find_dead(stack, lambda b, h: marker.encode() in b)
    assert "task" in headers["x-celeriac-reason"]
    body, headers = find_dead(stack, lambda b, h: "retries" in h.get("x-celeriac-reason", ""))
    row = task_row(stack, headers["id"])
    assert row["state"] == "FAILURE" and "retries" in row["error"]
    out = enqueue_cli(stack, "demo.add", "--args", "[20, 22]", "--wait", "20")
    assert json.loads(out.stdout)["result"] == 42
    assert worker.poll() is None, "the worker died"


def test_a_redelivered_finished_task_is_not_run_again(stack, worker):
    out = enqueue_cli(stack, "demo.noop", "--wait", "20")
    task_id = json.loads(out.stdout)["id"]
    assert log_messages(stack, task_id) == ["noop"]
    # The same message again, as a redelivery after a lost ack would be.
    publish_raw(stack, "celery", json.dumps([[], {}, {}]).encode(),
                headers={"task": "demo.noop", "id": task_id},
                properties={"correlation_id": task_id})
    marker = json.loads(enqueue_cli(stack, "demo.noop", "--wait", "20").stdout)["id"]
    assert task_row(stack, marker)["state"] == "SUCCESS"
    assert log_messages(stack, task_id) == ["noop"]


def test_two_worker_replicas_run_2000_tasks_exactly_once(stack, start_proc):
    """Both replicas consume before the tasks arrive (a replica started first would drain
    2,000 no-ops alone before the other connects): RabbitMQ spreads the deliveries over
    their four children, and each task runs once."""
    n = 2000
    a = start_worker("-n", "replica-a@test", starter=start_proc, name="replica-a")
    b = start_worker("-n", "replica-b@test", starter=start_proc, name="replica-b")
    ids = celery_send(stack, [["demo.noop", [], {}]] * n)
    assert len(set(ids)) == n

    def done():
        with db(stack).cursor() as cur:
            cur.execute("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[]) AND state = 'SUCCESS'",
                        (ids,))
            return cur.fetchone()[0] == n
    wait_until(done, 180, interval=0.5, message="not all 2000 tasks reached SUCCESS")
    with db(stack).cursor() as cur:
        cur.execute("SELECT worker, count(*) FROM tasks WHERE id = ANY(%s::uuid[]) GROUP BY worker",
                    (ids,))
        per_worker = dict(cur.fetchall())
        # Each run writes exactly one log line: more would mean a task ran twice.
        cur.execute("SELECT count(*), count(DISTINCT task_id) FROM task_logs"
                    " WHERE task_id = ANY(%s::uuid[])", (ids,))
        lines, tasks = cur.fetchone()
    assert set(per_worker) == {"replica-a@test", "replica-b@test"}, per_worker
    assert all(count > 0 for count in per_worker.values())
    assert (lines, tasks) == (n, n)
    for proc in (a, b):
        assert proc.terminate(timeout=30) == 0
        assert_no_sanitizer_reports(proc.log_text())
    assert queue_count(stack, "celery") == 0


def test_sigterm_lets_running_tasks_finish_and_exits_zero(stack, start_proc):
    env = stack.env()
    proc = start_proc([WORKER, "-c", "2", "-n", "sigterm@test"], env, "sigterm-worker")
    ids = celery_send(stack, [["demo.sleep", [2], {}], ["demo.sleep", [], {"seconds": 2}]])

    def both_started():
        return all((task_row(stack, i) or {}).get("state") == "STARTED" for i in ids)
    wait_until(both_started, 20, message="the sleep tasks did not start")
    assert proc.terminate(timeout=30) == 0  # one SIGTERM: a second one means a cold shutdown
    for task_id in ids:
        row = task_row(stack, task_id)
        assert row["state"] == "SUCCESS", row
        assert row["result"] == 2
    assert_no_sanitizer_reports(proc.log_text())
    with db(stack).cursor() as cur:
        cur.execute("SELECT stopped_at IS NOT NULL FROM workers WHERE hostname = 'sigterm@test'")
        assert cur.fetchone()[0]


def _post_noop(url):
    r = requests.post(url + "/api/tasks", json={"name": "demo.noop"}, timeout=10)
    return r if r.status_code == 202 else None


def test_a_child_that_dies_is_replaced(stack, worker):
    children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()]
    assert len(pids) == 2
    os.kill(pids[0], signal.SIGKILL)

    def replaced():
        out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True)
        now = [int(p) for p in out.stdout.split()]
        return len(now) == 2 and pids[0] not in now
    wait_until(replaced, 15, message="the killed child was not replaced")
    out = enqueue_cli(stack, "demo.add", "--args", "[1, 1]", "--wait", "20")
    assert json.loads(out.stdout)["result"] == 2


def test_programs_refuse_an_old_schema_and_migrate_is_repeatable(stack, empty_database):
    env = dict(stack.env(), DATABASE_URL=empty_database)
    out = subprocess.run([WORKER, "-c", "1"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "celeriac migrate" in out.stderr
    both = [subprocess.Popen([CELERIAC, "migrate"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    assert [p.wait(timeout=60) for p in both] == [0, 0]
    again = subprocess.run([CELERIAC, "migrate"], env=env, capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 0 and "0 migrations applied" in again.stdout


def test_workers_and_webapp_survive_a_broker_and_database_restart(stack, worker, webapp):
    """Tasks in flight while RabbitMQ and PostgreSQL both restart, and tasks sent
    after (by a Celery client and over HTTP), all end SUCCESS; none runs twice
    (each run writes its log lines once, with its final state)."""
    before = celery_send(stack, [["demo.sleep", [0.2], {}]] * 30)
    wait_until(lambda: (task_row(stack, before[2]) or {}).get("state") == "SUCCESS", 20,
               message="the first tasks did not run")
    stack.compose("down", "--services-only")
    stack.compose("up", "--services-only", timeout=240)
    after = celery_send(stack, [["demo.noop", [], {}]] * 30)
    # The webapp's database pool and publisher notice the restart and reconnect.
    r = wait_until(lambda: _post_noop(webapp.url), 30, interval=0.5,
                   message="the webapp never accepted a task after the restart")
    after.append(r.json()["id"])

    def all_done():
        with db(stack).cursor() as cur:
            cur.execute("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[]) AND state = 'SUCCESS'",
                        (before + after,))
            return cur.fetchone()[0] == len(before + after)
    wait_until(all_done, 120, interval=0.5, message="tasks lost across the restart")
    with db(stack).cursor() as cur:
        cur.execute("SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])", (before,))
        assert cur.fetchone()[0] == 2 * len(before)  # "sleeping", "slept": once each
        cur.execute("SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])", (after,))
        assert cur.fetchone()[0] == len(after)
    assert worker.poll() is None, "the worker died"


def test_batches_mixing_poison_unknown_and_good_tasks_lose_and_double_nothing(stack,
                                                                            start_proc):
    """With --prefetch 10, each batch mixes garbage, unknown tasks and good ones: the
    good ones run once, the others end FAILURE and are dead-lettered before the batch's
    one multiple-ack."""
    good = []
    for i in range(20):
        publish_raw(stack, "celery", b"garbage %d" % i)
        good += celery_send(stack, [["demo.noop", [], {}], ["no.such.task", [], {}]])
    proc = start_proc([WORKER, "-c", "1", "--prefetch", "10", "-n", "prefetch@test"],
                      stack.env(LOG_LEVEL="debug"), "prefetch-worker")

    def all_final():
        with db(stack).cursor() as cur:
            cur.execute("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                        " AND state IN ('SUCCESS', 'FAILURE')", (good,))
            return cur.fetchone()[0] == len(good)
    wait_until(all_final, 60, interval=0.2, message="not every task finished")
    with db(stack).cursor() as cur:
        cur.execute("SELECT name, state, count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                    " GROUP BY name, state ORDER BY name", (good,))
        assert cur.fetchall() == [("demo.noop", "SUCCESS", 20), ("no.such.task", "FAILURE", 20)]
        cur.execute("SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])", (good,))
        assert cur.fetchone()[0] == 20  # one "noop" line per demo.noop run: none ran twice
    wait_until(lambda: queue_count(stack, "celery") == 0, 20, message="celery not drained")
    assert proc.terminate(timeout=30) == 0
    garbage, unknown = [], []
    while (msg := get_message(stack, "celeriac.dead")) is not None:
        body, headers = msg
        if body.startswith(b"garbage "):
            garbage.append(body)
        elif headers.get("id") in good:
            unknown.append(headers["id"])
    assert len(garbage) == len(set(garbage)) == 20
    assert len(unknown) == len(set(unknown)) == 20


def test_the_final_state_is_stored_even_if_the_progress_rows_were_lost(stack, worker):
    """A long task's STARTED mark commits without waiting for the WAL flush; a database
    crash may lose it. The final write must not depend on it: here the row
    vanishes while the task runs, and SUCCESS still lands with its log."""
    [task_id] = celery_send(stack, [["demo.sleep", [1], {}]])
    wait_until(lambda: (task_row(stack, task_id) or {}).get("state") == "STARTED", 20,
               message="the task did not start")
    with db(stack).cursor() as cur:
        cur.execute("DELETE FROM tasks WHERE id = %s", (task_id,))
    row = wait_final(stack, task_id)
    assert row["state"] == "SUCCESS" and row["result"] == 1
    assert log_messages(stack, task_id) == ["sleeping 1 s", "slept 1 s"]
