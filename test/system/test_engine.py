"""The task engine against real servers: a task's writes commit with its result or not at
all, batches survive children killed at any moment, a long task holds no ready task
hostage, long tasks show STARTED, and database trouble is waited out, never looped on."""
import json
import os
import select
import signal
import subprocess
import time
import uuid

import requests

from harness import (REPO, db, get_message, publish_raw, purge, queue_count, rabbitmqctl,
                     start_worker, states, wait_until)
from test_worker import celery_send, enqueue_cli, log_messages, task_row, wait_final

WORKER = os.path.join(REPO, "bin", "celeriac-worker")


def count(stack, sql, params=None):
    with db(stack).cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def test_a_tasks_writes_commit_with_its_success_and_vanish_with_its_failure(stack, worker):
    ok, failing = celery_send(stack, [["demo.record", ["kept"], {}],
                                      ["demo.record", ["dropped"], {"fail_after": True}]])
    assert wait_final(stack, ok)["state"] == "SUCCESS"
    row = wait_final(stack, failing)
    assert row["state"] == "FAILURE" and "failing after the write" in row["error"]
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (ok,)) == 1
    # The handler wrote its row, then failed: the savepoint took the row back.
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (failing,)) == 0
    assert log_messages(stack, failing) == ["recorded dropped"]


def test_a_redelivered_writer_whose_row_is_final_writes_nothing_twice(stack, worker):
    [task_id] = celery_send(stack, [["demo.record", ["once"], {}]])
    assert wait_final(stack, task_id)["state"] == "SUCCESS"
    for _ in range(3):  # the same message again, as redeliveries after lost acks would be
        publish_raw(stack, "celery", json.dumps([["once"], {}, {}]).encode(),
                    headers={"task": "demo.record", "id": task_id},
                    properties={"correlation_id": task_id})
    marker = json.loads(enqueue_cli(stack, "demo.noop", "--wait", "20").stdout)["id"]
    assert task_row(stack, marker)["state"] == "SUCCESS"
    wait_until(lambda: queue_count(stack, "celery") == 0, 20, message="celery not drained")
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (task_id,)) == 1
    assert log_messages(stack, task_id) == ["recorded once"]


def test_killing_children_during_a_3000_task_drain_loses_and_doubles_nothing(stack,
                                                                             start_proc):
    """Two worker masters drain 3,000 demo.record while their children are SIGKILLed over
    and over (a kill can land before, during or after a batch's commit): every task ends
    SUCCESS exactly once with exactly one row and one log line."""
    n = 3000
    ids = celery_send(stack, [["demo.record", [f"k{i}"], {}] for i in range(n)])
    env = stack.env()
    masters = [start_proc([WORKER, "-c", "2", "-n", f"kill-{x}@test"], env, f"kill-{x}")
               for x in ("a", "b")]
    kills = 0
    deadline = time.monotonic() + 240
    while states(stack, ids).get("SUCCESS", 0) < n and time.monotonic() < deadline:
        for m in masters:
            out = subprocess.run(["pgrep", "-P", str(m.pid)], capture_output=True, text=True)
            pids = [int(p) for p in out.stdout.split()]
            if pids:
                os.kill(pids[kills % len(pids)], signal.SIGKILL)
                kills += 1
        time.sleep(0.15)
    assert kills >= 4, "the drain ended before any child was killed: make it longer"
    assert states(stack, ids) == {"SUCCESS": n}
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == n
    assert count(stack, "SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == n
    for m in masters:
        assert m.terminate(timeout=30) == 0
    assert queue_count(stack, "celery") == 0


def test_sigterm_during_a_drain_commits_what_ran_and_gives_back_the_rest(stack, start_proc):
    """SIGTERM lands while batches are being taken, run and committed (no-ops: most of a
    child's time goes to taking deliveries): what ran is committed and acked, what was
    taken but not run goes back to the queue (not to the dead letters), and a second
    worker finishes the rest. Each task runs once: one log line each."""
    purge(stack, "celeriac.dead")
    n = 6000
    ids = celery_send(stack, [["demo.noop", [], {}]] * n)
    first = start_proc([WORKER, "-c", "2", "-n", "term-a@test"], stack.env(), "term-a")
    wait_until(lambda: states(stack, ids).get("SUCCESS", 0) > 500, 30, interval=0.01,
               message="the drain never started")
    assert first.terminate(timeout=30) == 0
    done_by_first = states(stack, ids).get("SUCCESS", 0)
    second = start_proc([WORKER, "-c", "2", "-n", "term-b@test"], stack.env(), "term-b")
    wait_until(lambda: sum(states(stack, ids).values()) == n, 120, interval=0.2,
               message="tasks lost after SIGTERM")
    assert states(stack, ids) == {"SUCCESS": n}
    assert second.terminate(timeout=30) == 0
    assert done_by_first < n, "the first worker finished everything: SIGTERM came too late"
    assert count(stack, "SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == n
    assert queue_count(stack, "celeriac.dead") == 0
    assert "refused" not in first.log_text() + second.log_text()


def test_a_batch_too_big_for_one_notification_names_every_task(stack, start_proc):
    """400 no-ops waiting for a one-child worker commit in batches of up to 200, whose
    state list would pass PostgreSQL's 8,000-byte NOTIFY limit: each batch sends as many
    notifications as it takes, every task named with its final state."""
    ids = celery_send(stack, [["demo.noop", [], {}]] * 400)
    listener = db(stack)
    with listener.cursor() as cur:
        cur.execute("LISTEN task_state")
    w = start_proc([WORKER, "-c", "1", "-n", "notify@test"], stack.env(), "notify")
    payloads = []

    def all_named():
        select.select([listener], [], [], 0.2)
        listener.poll()
        payloads.extend(json.loads(n.payload) for n in listener.notifies)
        listener.notifies.clear()
        return {t["id"] for p in payloads for t in p["tasks"] if t["state"] == "SUCCESS"} \
            >= set(ids)
    try:
        wait_until(all_named, 60, message="some task's SUCCESS was never notified")
    finally:
        listener.close()
        assert w.terminate(timeout=30) == 0
    assert all(len(json.dumps(p)) < 8000 and "truncated" not in p for p in payloads)
    assert len(payloads) < 400 / 10, "a notification per task, not per batch"
    assert max(len(p["tasks"]) for p in payloads) < 100


def test_a_long_task_holds_no_ready_task_hostage(stack, start_proc):
    """Two children, a demo.sleep(5) then 20 demo.noop: whichever child took the sleep
    gives back what it prefetched behind it, and the other runs the 20 at once."""
    purge(stack, "celery")
    [sleeper] = celery_send(stack, [["demo.sleep", [5], {}]])
    noops = celery_send(stack, [["demo.noop", [], {}]] * 20)
    t0 = time.monotonic()
    proc = start_worker("-n", "hostage@test", starter=start_proc)
    wait_until(lambda: states(stack, noops).get("SUCCESS") == 20, 10, interval=0.05,
               message="the noops waited behind the sleep")
    took = time.monotonic() - t0
    row = task_row(stack, sleeper)
    assert row["state"] == "STARTED" and row["worker"] == "hostage@test", row
    assert took < 4.5, f"the noops took {took:.1f} s: they waited for the sleep"
    assert wait_final(stack, sleeper)["state"] == "SUCCESS"
    assert proc.terminate(timeout=30) == 0


def test_a_long_task_shows_started_with_its_worker_while_it_runs(stack, worker, webapp):
    r = requests.post(webapp.url + "/api/tasks", json={"name": "demo.sleep", "args": [1.5]},
                      timeout=10)
    assert r.status_code == 202
    task_id = r.json()["id"]

    def started():
        got = requests.get(f"{webapp.url}/api/tasks/{task_id}", timeout=10).json()
        return got if got["state"] == "STARTED" else None
    got = wait_until(started, 10, interval=0.05, message="STARTED never showed")
    assert got["worker"].startswith("celeriac.") and got["started_at"] is not None
    assert wait_final(stack, task_id)["state"] == "SUCCESS"


def test_an_error_message_cut_inside_a_character_fails_the_task_cleanly(stack, worker):
    """demo.fail with 700 x 'é' (1,400 bytes): the error is cut to fit on a character
    boundary, the task ends FAILURE, and the child keeps serving."""
    out = enqueue_cli(stack, "demo.fail", "--args", json.dumps(["é" * 700]), "--wait", "20")
    answer = json.loads(out.stdout)
    assert answer["state"] == "FAILURE", answer
    assert answer["error"].startswith("éé") and len(answer["error"].encode()) <= 1023
    out = enqueue_cli(stack, "demo.add", "--args", "[1, 2]", "--wait", "20")
    assert json.loads(out.stdout)["result"] == 3


def test_a_database_that_refuses_writes_is_waited_out_and_sigterm_still_works(stack,
                                                                           start_proc):
    """Read-only, as after a failover: the final write keeps failing. The child backs off
    (one warning per streak, not a busy loop), still stops on SIGTERM, and the tasks it
    held run once the database takes writes again."""
    admin = db(stack)
    proc = start_worker("-n", "readonly@test", starter=start_proc, concurrency=1)
    try:
        with admin.cursor() as cur:
            cur.execute("ALTER DATABASE celeriac SET default_transaction_read_only = on")
            # Sessions read it at connect: make the worker's child reconnect.
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = 'celeriac' AND application_name = 'celeriac-worker'")
        ids = celery_send(stack, [["demo.record", [f"ro{i}"], {}] for i in range(5)])
        proc.wait_for_log("retrying with back-off", 30)
        time.sleep(2)
        text = proc.log_text()
        assert text.count("committing a batch failed") + text.count(
            "running the batch's tasks again failed") <= 2, text[-3000:]
        cpu = _cpu_seconds(proc.pid)
        assert cpu < 2, f"the worker spent {cpu:.1f} s of CPU waiting"
        t0 = time.monotonic()
        assert proc.terminate(timeout=20) == 0
        assert time.monotonic() - t0 < 10
    finally:
        with admin.cursor() as cur:
            cur.execute("ALTER DATABASE celeriac RESET default_transaction_read_only")
        admin.close()
    assert states(stack, ids).get("SUCCESS", 0) == 0
    again = start_worker("-n", "readwrite@test", starter=start_proc, concurrency=1)
    wait_until(lambda: states(stack, ids) == {"SUCCESS": 5}, 30, message="tasks lost")
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == 5
    assert again.terminate(timeout=30) == 0


def _cpu_seconds(pid):
    """User + system CPU of pid and its children (the worker's children run the tasks)."""
    total = 0.0
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for p in [pid] + [int(x) for x in out.stdout.split()]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def test_an_unknown_task_published_twice_in_one_batch_does_not_wedge_the_child(stack,
                                                                             start_proc):
    """Two dead copies of one id in one batch must make one FAILURE row (a statement may
    not upsert a row twice) and two dead letters, and the child goes on."""
    task_id = str(uuid.uuid4())
    for _ in range(2):
        publish_raw(stack, "celery", json.dumps([[], {}, {}]).encode(),
                    headers={"task": "no.such.task", "id": task_id},
                    properties={"correlation_id": task_id})
    [after] = celery_send(stack, [["demo.add", [1, 1], {}]])
    proc = start_worker("-n", "dupdead@test", starter=start_proc, concurrency=1)
    assert wait_final(stack, after)["state"] == "SUCCESS"
    assert task_row(stack, task_id)["state"] == "FAILURE"
    assert "retrying" not in proc.log_text()
    assert proc.terminate(timeout=30) == 0


def test_a_deleted_dead_letter_queue_is_declared_again(stack, worker):
    rabbitmqctl(stack, "delete_queue", "celeriac.dead")
    out = enqueue_cli(stack, "no.such.task", "--wait", "20")
    answer = json.loads(out.stdout)
    assert answer["state"] == "FAILURE"
    msg = wait_until(lambda: get_message(stack, "celeriac.dead"), 10,
                     message="nothing reached the dead-letter queue")
    assert msg.headers["id"] == answer["id"]


def test_a_dead_letter_queue_that_refuses_messages_does_not_stall_the_child(stack, worker):
    """A policy makes celeriac.dead nack every publish: the child tries a few times, then
    rejects the poison message (its FAILURE row says why) and goes on serving."""
    purge(stack, "celeriac.dead")
    rabbitmqctl(stack, "set_policy", "--apply-to", "queues", "refuse-dead", "^celeriac\\.dead$",
                '{"max-length": 0, "overflow": "reject-publish"}')
    try:
        out = enqueue_cli(stack, "no.such.task", "--wait", "20")
        assert json.loads(out.stdout)["state"] == "FAILURE"
        out = enqueue_cli(stack, "demo.add", "--args", "[2, 2]", "--wait", "30")
        assert json.loads(out.stdout)["result"] == 4
        worker.wait_for_log("refused the dead letter", 10)
    finally:
        rabbitmqctl(stack, "clear_policy", "refuse-dead")
    wait_until(lambda: queue_count(stack, "celery") == 0, 10, message="celery not drained")


def test_a_long_tasks_log_lines_are_written_as_it_runs_and_once(stack, worker):
    """A task running alone writes its log lines while it runs (a live log tail can follow
    it), and its final write does not repeat them."""
    task_id = enqueue_cli(stack, "demo.sleep", "--args", "[2]").stdout.strip()

    def running_with_a_line():
        row = task_row(stack, task_id)
        return row is not None and row["state"] == "STARTED" and \
            log_messages(stack, task_id) == ["sleeping 2 s"]
    wait_until(running_with_a_line, 15, message="the first line never showed while it ran")
    assert wait_final(stack, task_id)["state"] == "SUCCESS"
    assert log_messages(stack, task_id) == ["sleeping 2 s", "slept 2 s"]
