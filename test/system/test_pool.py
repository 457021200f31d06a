"""The reliable worker pool against real servers: retries, countdown/ETA/expiry through the
scheduler, periodic tasks, time limits, child recycling, revocation, lost children, cold
shutdown, and what each run costs."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from harness import (db, get_message, publish_raw, queue_count, rabbitmqctl, start_worker,
                     wait_until)
from test_worker import CELERIAC, enqueue_cli, find_dead, log_messages, wait_final


# Fault-injection tests run with PostgreSQL's fsync and synchronous_commit on, so the
# order of commits and acks is the one a crash would see: this module's `stack` (and
# every fixture built on it: worker, webapp, procs) is a durable one of its own.
@pytest.fixture(scope="module")
def stack(durable_stack):
    return durable_stack


@pytest.fixture(scope="module")
def migrated_stack(durable_stack):
    return durable_stack


def row(stack, task_id, *cols):
    cols = cols or ("state", "error", "outcome", "retries")
    with db(stack).cursor() as cur:
        cur.execute(f"SELECT {', '.join(cols)} FROM tasks WHERE id = %s", (task_id,))
        r = cur.fetchone()
    return None if r is None else dict(zip(cols, r))


def scalar(stack, sql, params=None):
    with db(stack).cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def enqueue(stack, name, *argv):
    out = enqueue_cli(stack, name, *argv)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def send_python(stack, name, args, **options):
    """One task through Debian's python3-celery with apply_async options; returns its id."""
    script = r"""
import json, sys
from celery import Celery
app = Celery(broker=sys.argv[1])
name, args, options = json.loads(sys.stdin.read())
print(app.send_task(name, args=args, **options).id)
"""
    out = subprocess.run(["/usr/bin/python3", "-c", script, stack.amqp_url],
                         input=json.dumps([name, args, options]), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def children(master):
    out = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


# ------------------------------------------------------------------ retries


def test_flaky_retries_with_back_off_then_succeeds(stack, worker):
    task_id = enqueue(stack, "demo.flaky", "--args", "[2]")
    r = wait_final(stack, task_id, timeout=30)
    assert r["state"] == "SUCCESS" and r["result"] == 3  # the third attempt
    assert row(stack, task_id)["retries"] == 2
    retries = [m for m in log_messages(stack, task_id) if m.startswith("retry ")]
    assert len(retries) == 2, log_messages(stack, task_id)
    assert "retry 1 of 5" in retries[0] and "attempt 1 fails on purpose" in retries[0]
    # Nothing waits in a child: the back-off lives in scheduled_tasks, gone once published.
    assert scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s", (task_id,)) == 0


def test_retries_past_max_retries_fail_and_are_dead_lettered(stack, worker):
    task_id = enqueue(stack, "demo.flaky", "--args", "[99]", "--max-retries", "3")
    r = wait_final(stack, task_id, timeout=40)
    assert r["state"] == "FAILURE"
    assert "MaxRetriesExceededError" in json.dumps(r["result"])
    assert "gave up after 3 retries" in r["error"]
    assert row(stack, task_id)["retries"] == 3
    _, headers = find_dead(stack, lambda b, h: h.get("id") == task_id)
    assert "gave up after 3 retries" in headers["x-celeriac-reason"]
    assert headers["retries"] == 3


def test_a_retry_is_visible_over_the_api_while_it_waits(stack, webapp, start_proc):
    start_worker(env=stack.env(), starter=start_proc, concurrency=1)
    task_id = requests.post(webapp.url + "/api/tasks", json={"name": "demo.flaky", "args": [1]},
                            timeout=10).json()["id"]
    # demo.flaky backs off 0.25..0.5 s: RETRY, with the error and eta, shows before attempt 2.
    seen = wait_until(lambda: (lambda t: t if t["state"] == "RETRY" else None)(
        requests.get(f"{webapp.url}/api/tasks/{task_id}", timeout=5).json()), 10,
        interval=0.01, message="the task never showed RETRY")
    assert "attempt 1 fails on purpose" in seen["error"] and seen["eta"] and seen["retries"] == 1
    assert wait_final(stack, task_id)["state"] == "SUCCESS"


# ------------------------------------------------------------------ countdown, ETA, expiry


def test_countdown_runs_after_its_delay_with_two_masters_scheduling(stack, start_proc):
    for x in ("a", "b"):
        start_worker("-n", f"sched-{x}@test", env=stack.env(), starter=start_proc,
                     concurrency=1, name=f"sched-{x}")
    t0 = time.time()
    ids = [enqueue(stack, "demo.noop", "--countdown", "3") for _ in range(5)]
    # Received, acked and kept in scheduled_tasks meanwhile: nothing waits unacked.
    wait_until(lambda: scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = ANY(%s::uuid[])",
                              (ids,)) == 5, 5, message="the countdowns were not scheduled")
    assert queue_count(stack, "celery") == 0
    for task_id in ids:
        assert row(stack, task_id)["state"] == "RECEIVED"
    for task_id in ids:
        wait_final(stack, task_id, timeout=15)
    with db(stack).cursor() as cur:
        cur.execute("SELECT extract(epoch FROM started_at), extract(epoch FROM eta)"
                    " FROM tasks WHERE id = ANY(%s::uuid[])", (ids,))
        for started, eta in cur.fetchall():
            assert float(started) >= t0 + 3 - 0.05, "ran before its countdown"
            assert float(started) <= float(eta) + 1.0, "ran more than 1 s after it was due"
    assert scalar(stack, "SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])",
                  (ids,)) == 5  # each ran once: one 'noop' line each


def test_a_burst_of_future_tasks_is_scheduled_in_one_open_batch(stack, start_proc):
    """300 ETA messages reach one child at once: none runs, so its batch stays open over
    several takes (the entries move as the batch grows); every schedule must survive."""
    eta = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 4))
    ids = [str(uuid.uuid4()) for _ in range(300)]
    for task_id in ids:
        publish_raw(stack, "celery", b"[[], {}, {}]",
                    headers={"task": "demo.noop", "id": task_id, "eta": eta},
                    properties={"correlation_id": task_id})
    start_worker(env=stack.env(), starter=start_proc, concurrency=1)
    wait_until(lambda: scalar(stack, "SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                              " AND state = 'SUCCESS'", (ids,)) == 300, 30,
               message="not every future task ran")
    assert scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = ANY(%s::uuid[])",
                  (ids,)) == 0


def test_a_python_clients_countdown_is_honoured_not_run_at_once(stack, worker):
    task_id = send_python(stack, "demo.noop", [], countdown=600)
    wait_until(lambda: row(stack, task_id) and row(stack, task_id)["state"] == "RECEIVED", 10)
    assert scalar(stack, "SELECT due_at > now() + interval '500 seconds' FROM scheduled_tasks"
                  " WHERE id = %s", (task_id,))
    wait_until(lambda: queue_count(stack, "celery") == 0, 5)


def test_an_expired_task_ends_revoked_without_running(stack, worker):
    task_id = str(uuid.uuid4())  # Celery itself refuses a past expires: send the raw message
    publish_raw(stack, "celery", json.dumps([["expired"], {}, {}]).encode(),
                headers={"task": "demo.record", "id": task_id,
                         "expires": "2020-01-01T00:00:00+00:00"},
                properties={"correlation_id": task_id})
    r = wait_final(stack, task_id)
    assert r["state"] == "REVOKED" and r["error"] == "expired"
    assert row(stack, task_id)["outcome"] == "expired"
    assert scalar(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (task_id,)) == 0
    # expires in seconds through the API/CLI: still good when it runs at once.
    ok = enqueue(stack, "demo.noop", "--expires", "60")
    assert wait_final(stack, ok)["state"] == "SUCCESS"


# ------------------------------------------------------------------ periodic


def test_a_periodic_task_runs_once_per_due_time_across_two_masters(stack, start_proc):
    env = stack.env(CELERIAC_CRON_SECONDS=1)
    out = subprocess.run([CELERIAC, "periodic", "add", "every3", "--cron", "*/3 * * * * *",
                          "--task", "demo.record", "--args", '["tick"]'], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for x in ("a", "b"):
        start_worker("-n", f"cron-{x}@test", env=env, starter=start_proc, concurrency=1,
                     name=f"cron-{x}")
    time.sleep(10.5)
    subprocess.run([CELERIAC, "periodic", "disable", "every3"], env=env, check=True,
                   capture_output=True, timeout=30)
    with db(stack).cursor() as cur:
        cur.execute("SELECT id, extract(epoch FROM created_at) FROM tasks WHERE name ="
                    " 'demo.record' AND args = '[\"tick\"]' ORDER BY created_at")
        runs = cur.fetchall()
    assert 3 <= len(runs) <= 4, runs
    ids = [str(r[0]) for r in runs]
    for task_id in ids:
        assert wait_final(stack, task_id)["state"] == "SUCCESS"
    # Once per due time: consecutive runs 3 s apart, never two in one slot.
    slots = [int(float(r[1]) // 3) for r in runs]
    assert len(set(slots)) == len(slots), runs
    assert scalar(stack, "SELECT count(*) FROM demo_records WHERE key = 'tick'") == len(runs)
    listed = json.loads(subprocess.run([CELERIAC, "periodic", "list"], env=env, check=True,
                                       capture_output=True, text=True, timeout=30).stdout)
    mine = [p for p in listed if p["name"] == "every3"][0]
    assert mine["enabled"] is False and mine["total_runs"] == len(runs)
    assert any(p["name"] == "celeriac.cleanup" for p in listed)


def test_periodic_cli_refuses_bad_cron_and_unknown_names(stack, migrated_stack):
    env = stack.env()
    bad = subprocess.run([CELERIAC, "periodic", "add", "x", "--cron", "61 * * * *", "--task",
                          "demo.noop"], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "out of range" in bad.stderr
    secs = subprocess.run([CELERIAC, "periodic", "add", "x", "--cron", "* * * * * *", "--task",
                           "demo.noop"], env=env, capture_output=True, text=True, timeout=30)
    assert secs.returncode == 2  # six fields only behind the test-only switch
    gone = subprocess.run([CELERIAC, "periodic", "remove", "nope"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 1 and "no periodic task named 'nope'" in gone.stderr
    nope = subprocess.run([CELERIAC, "periodic", "enable", "nope"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert nope.returncode == 1 and "no periodic task named 'nope'" in nope.stderr
    # disable, then enable: enabled again, next run moved to after now
    for argv in (["add", "hourly", "--cron", "0 * * * *", "--task", "demo.noop"],
                 ["disable", "hourly"], ["enable", "hourly"]):
        subprocess.run([CELERIAC, "periodic", *argv], env=env, check=True,
                       capture_output=True, timeout=30)
    listed = json.loads(subprocess.run([CELERIAC, "periodic", "list"], env=env, check=True,
                                       capture_output=True, text=True, timeout=30).stdout)
    hourly = [p for p in listed if p["name"] == "hourly"][0]
    assert hourly["enabled"] is True and hourly["next_run_epoch"] > time.time()
    assert hourly["next_run_epoch"] % 3600 == 0
    subprocess.run([CELERIAC, "periodic", "remove", "hourly"], env=env, check=True,
                   capture_output=True, timeout=30)


def test_cleanup_deletes_finished_tasks_older_than_the_retention(stack, worker):
    old = enqueue(stack, "demo.noop")
    wait_final(stack, old)
    with db(stack).cursor() as cur:
        cur.execute("UPDATE tasks SET finished_at = now() - interval '8 days' WHERE id = %s",
                    (old,))
    young = enqueue(stack, "demo.noop")
    wait_final(stack, young)
    out = enqueue_cli(stack, "celeriac.cleanup", "--wait", "30")
    answer = json.loads(out.stdout)
    assert answer["state"] == "SUCCESS" and answer["result"]["tasks"] >= 1
    assert row(stack, old) is None
    assert scalar(stack, "SELECT count(*) FROM task_logs WHERE task_id = %s", (old,)) == 0
    assert row(stack, young)["state"] == "SUCCESS"


# ------------------------------------------------------------------ time limits, recycling


def test_soft_time_limit_stops_the_task_which_ends_failure(stack, worker):
    task_id = enqueue(stack, "demo.sleep", "--args", "[30]", "--soft-time-limit", "1")
    t0 = time.monotonic()
    r = wait_final(stack, task_id, timeout=15)
    assert time.monotonic() - t0 < 6
    assert r["state"] == "FAILURE" and "SoftTimeLimitExceeded" in json.dumps(r["result"])
    assert row(stack, task_id)["outcome"] == "soft_limit"


def test_hard_time_limit_kills_the_child_and_the_task_is_not_run_again(stack, start_proc):
    w = start_worker("--time-limit", "2", env=stack.env(), starter=start_proc, concurrency=1)
    before = children(w)
    task_id = enqueue(stack, "demo.sleep", "--args", "[30]")
    r = wait_final(stack, task_id, timeout=20)
    assert r["state"] == "FAILURE" and "TimeLimitExceeded" in r["error"]
    assert row(stack, task_id)["outcome"] == "hard_limit"
    # A new child serves; the redelivered message found the row final and did not run.
    out = json.loads(enqueue_cli(stack, "demo.add", "--args", "[1, 2]", "--wait", "20").stdout)
    assert out["result"] == 3
    assert children(w) != before
    wait_until(lambda: queue_count(stack, "celery") == 0, 10)
    # The killed run's first line was written as it ran; the redelivery was acked
    # without a run (no second "sleeping").
    assert log_messages(stack, task_id) == ["sleeping 30 s", r["error"]]
    wait_until(lambda: "acked without running it again" in w.log_text(), 10)


def test_soft_limits_hold_for_every_child_after_a_replacement(stack, start_proc):
    """Each child runs one task (--max-tasks-per-child 1): the new child's first task
    must meet its soft limit as the first child's did."""
    start_worker("--max-tasks-per-child", "1", "--soft-time-limit", "1", env=stack.env(),
                 starter=start_proc, concurrency=1)
    ids = [enqueue(stack, "demo.sleep", "--args", "[3]") for _ in range(3)]
    for task_id in ids:
        wait_final(stack, task_id, timeout=30)
    assert [row(stack, t)["outcome"] for t in ids] == ["soft_limit"] * 3


def test_max_tasks_per_child_replaces_children(stack, start_proc):
    w = start_worker("--max-tasks-per-child", "3", env=stack.env(), starter=start_proc,
                     concurrency=1)
    ids = [enqueue(stack, "demo.noop") for _ in range(10)]
    for task_id in ids:
        assert wait_final(stack, task_id)["state"] == "SUCCESS"
    wait_until(lambda: w.log_text().count("retired") >= 3, 10,
               message="children were not replaced after 3 tasks")
    with db(stack).cursor() as cur:
        cur.execute("SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[])", (ids,))
        assert cur.fetchone()[0] == 10


def test_max_memory_per_child_replaces_a_child_that_grew(stack, start_proc):
    w = start_worker("--max-memory-per-child", "60000", env=stack.env(), starter=start_proc,
                     concurrency=1)
    pid = children(w)
    task_id = enqueue(stack, "demo.hog", "--args", "[96]")
    r = wait_final(stack, task_id)
    assert r["state"] == "SUCCESS"
    got = row(stack, task_id, "outcome", "rss_kib")
    assert got["outcome"] == "memory_limit" and got["rss_kib"] > 60000, (got, w.log_text())
    wait_until(lambda: children(w) and children(w) != pid, 10, message="child not replaced")
    out = json.loads(enqueue_cli(stack, "demo.add", "--args", "[2, 2]", "--wait", "20").stdout)
    assert out["result"] == 4


def test_every_run_records_what_it_cost_and_how_it_ended(stack, worker, webapp):
    ok = enqueue(stack, "demo.sleep", "--args", "[0.2]")
    bad = enqueue(stack, "demo.fail", "--args", '["x"]')
    wait_final(stack, ok)
    wait_final(stack, bad)
    r = row(stack, ok, "outcome", "wall_s", "cpu_s", "rss_kib")
    assert r["outcome"] == "returned" and 0.2 <= r["wall_s"] < 2
    assert 0 <= r["cpu_s"] < 0.2 and r["rss_kib"] > 1000
    assert row(stack, bad)["outcome"] == "raised"
    api = requests.get(f"{webapp.url}/api/tasks/{ok}", timeout=5).json()
    assert api["outcome"] == "returned" and api["rss_kib"] == r["rss_kib"]
    page = requests.get(f"{webapp.url}/tasks/{ok}", timeout=5).text
    for label in ("outcome", "wall_s", "cpu_s", "rss_kib"):
        assert f"<dt>{label}</dt>" in page
    assert "<dd data-field=\"outcome\">returned</dd>" in page


# ------------------------------------------------------------------ revoke


def test_revoke_before_start_and_revoke_terminate_while_running(stack, webapp, start_proc):
    # Queued while no worker runs, revoked, then a worker starts: it honours the revoke
    # it learns from the database.
    queued = requests.post(webapp.url + "/api/tasks",
                           json={"name": "demo.record", "args": ["never"]}, timeout=10).json()["id"]
    r = requests.post(f"{webapp.url}/api/tasks/{queued}/revoke", timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "REVOKED"
    start_worker(env=stack.env(), starter=start_proc, concurrency=1)
    wait_until(lambda: queue_count(stack, "celery") == 0, 10)
    assert row(stack, queued)["state"] == "REVOKED"
    assert scalar(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (queued,)) == 0
    # Running, then revoked with terminate: killed, REVOKED, the pool keeps serving.
    running = enqueue(stack, "demo.sleep", "--args", "[30]")
    wait_until(lambda: row(stack, running)["state"] == "STARTED", 10)
    out = subprocess.run([CELERIAC, "revoke", running, "--terminate"], env=stack.env(),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    t0 = time.monotonic()
    assert wait_final(stack, running, timeout=10)["state"] == "REVOKED"
    wait_until(lambda: queue_count(stack, "celery") == 0, 10)
    assert time.monotonic() - t0 < 10
    answer = json.loads(enqueue_cli(stack, "demo.add", "--args", "[3, 4]", "--wait", "20").stdout)
    assert answer["result"] == 7
    assert requests.post(f"{webapp.url}/api/tasks/not-a-uuid/revoke", timeout=10).status_code == 400


def test_a_queued_task_revoked_while_workers_run_never_starts(stack, worker):
    task_id = enqueue(stack, "demo.sleep", "--args", "[1]", "--countdown", "3")
    wait_until(lambda: row(stack, task_id)["state"] == "RECEIVED", 10)
    subprocess.run([CELERIAC, "revoke", task_id], env=stack.env(), check=True,
                   capture_output=True, timeout=30)
    time.sleep(4.5)  # past its due time: the scheduler publishes it, the child skips it
    assert row(stack, task_id)["state"] == "REVOKED"
    assert not [m for m in log_messages(stack, task_id) if m.startswith("sleeping")]
    assert scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s", (task_id,)) == 0


# ------------------------------------------------------------------ lost children, shutdown


def test_a_task_that_kills_its_child_three_times_is_failed_and_dead_lettered(stack, start_proc):
    w = start_worker(env=stack.env(), starter=start_proc, concurrency=1)
    task_id = enqueue(stack, "demo.sleep", "--args", "[10]")
    for n in range(3):
        wait_until(lambda: row(stack, task_id) and row(stack, task_id)["state"] == "STARTED"
                   and children(w), 30, message=f"run {n + 1} never started")
        time.sleep(0.5)  # in the middle of the sleep
        os.kill(children(w)[0], signal.SIGKILL)
        wait_until(lambda: scalar(stack, "SELECT lost FROM tasks WHERE id = %s", (task_id,))
                   == n + 1, 10, message="the loss was not recorded")
        if n < 2:
            with db(stack).cursor() as cur:  # the next delivery marks it STARTED again
                cur.execute("UPDATE tasks SET state = 'RECEIVED' WHERE id = %s", (task_id,))
    r = wait_final(stack, task_id, timeout=40)
    assert r["state"] == "FAILURE"
    assert r["error"].startswith("worker lost 3 times: killed by signal 9"), r["error"]
    assert row(stack, task_id)["outcome"] == "worker_lost"
    _, headers = find_dead(stack, lambda b, h: h.get("id") == task_id, timeout=20)
    assert "worker lost 3 times" in headers["x-celeriac-reason"]
    answer = json.loads(enqueue_cli(stack, "demo.add", "--args", "[5, 5]", "--wait", "30").stdout)
    assert answer["result"] == 10


def test_sigquit_is_a_cold_shutdown_that_loses_nothing(stack, start_proc):
    w = start_worker(env=stack.env(), starter=start_proc, concurrency=1)
    task_id = enqueue(stack, "demo.sleep", "--args", "[5]")
    wait_until(lambda: row(stack, task_id)["state"] == "STARTED", 10)
    t0 = time.monotonic()
    w.signal(signal.SIGQUIT)
    assert w.wait(10) == 0
    assert time.monotonic() - t0 < 4, "SIGQUIT waited for the running task"
    wait_until(lambda: queue_count(stack, "celery") == 1, 10, message="the task went missing")
    assert scalar(stack, "SELECT lost FROM tasks WHERE id = %s", (task_id,)) == 0
    start_worker(env=stack.env(), starter=start_proc, concurrency=1, name="worker-again")
    assert wait_final(stack, task_id, timeout=20)["state"] == "SUCCESS"


def test_heartbeat_shows_active_tasks_and_memory(stack, worker):
    task_id = enqueue(stack, "demo.sleep", "--args", "[8]")
    wait_until(lambda: row(stack, task_id)["state"] == "STARTED", 10)

    def active():
        with db(stack).cursor() as cur:
            cur.execute("SELECT active, active_tasks, rss_kib FROM workers"
                        " WHERE stopped_at IS NULL AND active_tasks @> %s::jsonb",
                        (json.dumps([{"id": task_id}]),))
            return cur.fetchall() or None
    got = wait_until(active, 12, message="no heartbeat named the running task")
    n, tasks, rss = got[0]
    assert n == 1 and tasks[0]["name"] == "demo.sleep" and tasks[0]["running_s"] > 0
    assert rss > 1000


# ------------------------------------------------------------------ poison


def test_every_kind_of_poison_is_dead_lettered_with_a_reason(stack, worker):
    """Truncated JSON, wrong header types, a body that is not an array, a 10 MiB message,
    invalid UTF-8: each lands in celeriac.dead with a reason, and the worker serves on."""
    cases = {
        "truncated": (b'[[1, 2], {"a": ', {}, "body"),
        "retries-type": (b"[[], {}, {}]", {"retries": "three"}, "retries"),
        "timelimit-type": (b"[[], {}, {}]", {"timelimit": "10"}, "timelimit"),
        "eta-type": (b"[[], {}, {}]", {"eta": "next tuesday"}, "eta"),
        "not-an-array": (b'{"args": [1]}', {}, "array"),
        "ten-mib": (b'[["' + b"x" * (10 << 20) + b'"], {}, {}]', {}, "limit"),
        "bad-utf8": (b'[["\xff\xfe"], {}, {}]', {}, "UTF-8"),
    }
    ids = {}
    for case, (body, extra, _) in cases.items():
        task_id = str(uuid.uuid4())
        ids[case] = task_id
        publish_raw(stack, "celery", body,
                    headers={"task": "demo.noop", "id": task_id, **extra},
                    properties={"correlation_id": task_id, "content_type": "application/json",
                                "content_encoding": "utf-8"})
    dead = {}  # id -> headers, whatever order the children dead-letter them in

    def all_dead():
        while (msg := get_message(stack, "celeriac.dead")) is not None:
            dead[msg[1].get("id")] = msg[1]
        return set(ids.values()) <= set(dead)
    wait_until(all_dead, 30, message="not every poison message reached celeriac.dead")
    for case, (_, _, reason) in cases.items():
        headers = dead[ids[case]]
        assert reason.lower() in headers["x-celeriac-reason"].lower(), (case, headers)
        r = row(stack, ids[case])
        assert r and r["state"] == "FAILURE" and r["outcome"] == "rejected", (case, r)
    answer = json.loads(enqueue_cli(stack, "demo.add", "--args", "[1, 1]", "--wait", "20").stdout)
    assert answer["result"] == 2
    assert worker.poll() is None


# ------------------------------------------------------------------ long tasks


def test_a_task_longer_than_the_heartbeat_interval_is_acked_once(stack, start_proc):
    """AMQP heartbeats every 1 s (RabbitMQ closes a connection silent for 2): a 5 s task
    keeps its child's connection, so it is delivered once, run once, acked once."""
    w = start_worker(env=stack.env(AMQP_HEARTBEAT=1, LOG_LEVEL="debug"), starter=start_proc,
                     concurrency=1)
    task_id = enqueue(stack, "demo.sleep", "--args", "[5]")
    assert wait_final(stack, task_id, timeout=20)["state"] == "SUCCESS"
    wait_until(lambda: queue_count(stack, "celery") == 0, 10)
    log = w.log_text()
    assert "connection lost" not in log and "connected to RabbitMQ again" not in log, log
    assert log.count(f"task={task_id} demo.sleep started") == 1
    assert log_messages(stack, task_id) == ["sleeping 5 s", "slept 5 s"]
    assert w.poll() is None


def test_a_copy_delivered_while_the_first_run_goes_on_is_parked_not_run(stack, start_proc):
    """Two children; a long task's message arrives a second time while its first run goes
    on (as after consumer_timeout or a lost connection): the copy waits in scheduled_tasks
    and, once the first run is final, is acked without running."""
    w = start_worker(env=stack.env(LOG_LEVEL="debug"), starter=start_proc, concurrency=2)
    task_id = str(uuid.uuid4())
    body = json.dumps([[4], {}, {}]).encode()
    headers = {"task": "demo.sleep", "id": task_id}
    publish_raw(stack, "celery", body, headers=headers, properties={"correlation_id": task_id})
    wait_until(lambda: row(stack, task_id) and row(stack, task_id)["state"] == "STARTED", 10)
    publish_raw(stack, "celery", body, headers=headers, properties={"correlation_id": task_id})
    wait_until(lambda: scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                              (task_id,)) == 1, 10, message="the copy was not parked: "
               + w.log_text()[-3000:])
    assert wait_final(stack, task_id, timeout=20)["state"] == "SUCCESS"
    # The parked copy comes back ~10 s later, finds the row final, is acked unrun.
    wait_until(lambda: scalar(stack, "SELECT count(*) FROM scheduled_tasks WHERE id = %s",
                              (task_id,)) == 0, 20)
    wait_until(lambda: queue_count(stack, "celery") == 0, 10)
    time.sleep(0.5)
    assert log_messages(stack, task_id) == ["sleeping 4 s", "slept 4 s"]


def test_workers_api_shows_online_and_offline_masters(stack, webapp, start_proc):
    w = start_worker("-n", "online@test", env=stack.env(), starter=start_proc, concurrency=1,
                     name="online")
    gone = start_worker("-n", "gone@test", env=stack.env(), starter=start_proc, concurrency=1,
                        name="gone")
    assert gone.terminate(15) == 0

    def listed():
        workers = requests.get(webapp.url + "/api/workers", timeout=5).json()["workers"]
        by_name = {x["hostname"]: x for x in workers}
        return by_name if "online@test" in by_name and "gone@test" in by_name else None
    by_name = wait_until(listed, 10)
    assert by_name["online@test"]["online"] is True
    assert by_name["online@test"]["concurrency"] == 1
    assert by_name["online@test"]["queues"] == ["celery", "scrape", "convert", "chat"]
    assert by_name["online@test"]["heartbeat_age_s"] < 15
    assert by_name["gone@test"]["online"] is False and by_name["gone@test"]["stopped_at"]
    assert w.poll() is None


def test_the_local_stack_sets_rabbitmqs_consumer_timeout_deliberately(stack):
    out = rabbitmqctl(stack, "eval", "application:get_env(rabbit, consumer_timeout).")
    assert "7200000" in out, out


def test_this_module_runs_with_fsync_and_synchronous_commit_on(stack):
    assert scalar(stack, "SHOW fsync") == "on"
    assert scalar(stack, "SHOW synchronous_commit") == "on"
