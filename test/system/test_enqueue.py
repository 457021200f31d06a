"""The enqueue path (client/producer.c) against real servers: rows and publishes
group-committed across concurrent requests, a nack fails only what it names, an unknown
confirm never fails a task that may run, the sweeper publishes what was never confirmed,
a stuck broker starves no page, and the form lists the tasks the workers registered."""
import concurrent.futures
import json
import select
import time
import uuid

import requests

from harness import db, queue_count, rabbitmqctl, start_worker, states, wait_until
from test_engine import count


def post(webapp, body, timeout=30):
    return requests.post(webapp.url + "/api/tasks", json=body, timeout=timeout)


def post_many(webapp, bodies):
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: post(webapp, b), bodies))


def test_concurrent_posts_are_each_stored_published_and_marked_once(stack, webapp):
    queue = f"group-{uuid.uuid4().hex[:8]}"
    answers = post_many(webapp, [{"name": "demo.noop", "queue": queue}] * 64)
    assert [r.status_code for r in answers] == [202] * 64
    ids = [r.json()["id"] for r in answers]
    assert all(r.json()["confirmed"] is True for r in answers)
    assert len(set(ids)) == 64
    assert states(stack, ids) == {"PENDING": 64}
    wait_until(lambda: queue_count(stack, queue) == 64, 10, message="messages missing")
    # Each group's unconfirmed_publishes row goes once its confirms are in (written after
    # the answers: soon, not before).
    wait_until(lambda: count(stack, "SELECT count(*) FROM unconfirmed_publishes"
                                    " WHERE task_ids && %s::uuid[]", (ids,)) == 0, 10,
               message="confirmed groups were not settled")


def test_a_group_too_big_for_one_notification_names_every_task_in_several(stack, webapp):
    """160 concurrent enqueues make groups whose id list would pass PostgreSQL's 8,000-byte
    NOTIFY limit: each group's states go out in several notifications, every task named."""
    listener = db(stack)
    with listener.cursor() as cur:
        cur.execute("LISTEN task_state")
    queue = f"big-{uuid.uuid4().hex[:8]}"
    answers = post_many(webapp, [{"name": "demo.noop", "queue": queue}] * 160)
    assert [r.status_code for r in answers] == [202] * 160
    ids = {r.json()["id"] for r in answers}
    payloads = []

    def announced():
        select.select([listener], [], [], 0.2)
        listener.poll()
        payloads.extend(json.loads(n.payload) for n in listener.notifies)
        listener.notifies.clear()
        return {t["id"] for p in payloads for t in p["tasks"]} >= ids
    wait_until(announced, 10, message="some enqueues were never announced")
    listener.close()
    assert all(len(json.dumps(p)) < 8000 and "truncated" not in p for p in payloads)
    assert all(t["state"] == "PENDING" and t["name"] == "demo.noop"
               for p in payloads for t in p["tasks"] if t["id"] in ids)
    assert "payload string too long" not in webapp.log_text()
    # Every publish leader gave its place back: once idle for longer than a confirm wait,
    # the health check still probes RabbitMQ instead of judging a "stuck" publish.
    time.sleep(7)
    r = requests.get(webapp.url + "/healthz", timeout=10)
    assert r.status_code == 200, r.text


def test_a_nack_fails_only_the_messages_it_names(stack, webapp):
    """A queue that takes 3 messages and nacks the rest (max-length, reject-publish): of 6
    concurrent requests, 3 are accepted and stored, 3 get a 503 and leave no row."""
    queue = f"limited-{uuid.uuid4().hex[:8]}"
    rabbitmqctl(stack, "set_policy", "--apply-to", "queues", f"limit-{queue}", f"^{queue}$",
                '{"max-length": 3, "overflow": "reject-publish"}')
    try:
        # Declare the queue first, so the policy applies before anything is published.
        assert post(webapp, {"name": "demo.noop", "queue": queue}).status_code == 202
        answers = post_many(webapp, [{"name": "demo.noop", "queue": queue}] * 6)
    finally:
        rabbitmqctl(stack, "clear_policy", f"limit-{queue}")
    codes = sorted(r.status_code for r in answers)
    assert codes == [202, 202, 503, 503, 503, 503], [r.text for r in answers]
    refused = [r.json()["error"] for r in answers if r.status_code == 503]
    assert all("nack" in e for e in refused), refused
    with db(stack).cursor() as cur:
        cur.execute("SELECT count(*) FROM tasks WHERE queue = %s", (queue,))
        assert cur.fetchone()[0] == 3
    assert queue_count(stack, queue) == 3


def test_an_unconfirmed_publish_is_accepted_and_runs_exactly_once(stack, webapp, start_proc):
    """RabbitMQ stops reading from publishers (memory alarm): the confirm never comes.
    The webapp answers 202 with confirmed false (the row is stored: the task must not be
    reported failed while it may run), pages and /healthz keep answering meanwhile, and
    once the alarm is gone the sweeper publishes the task again: it runs exactly once."""
    rabbitmqctl(stack, "set_vm_memory_high_watermark", "0")
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            pending = [pool.submit(post, webapp, {"name": "demo.record", "args": ["alarm"]})
                       for _ in range(8)]
            time.sleep(1)
            t0 = time.monotonic()
            assert requests.get(webapp.url + "/api/tasks", timeout=10).status_code == 200
            requests.get(webapp.url + "/healthz", timeout=10)
            assert time.monotonic() - t0 < 3, "pages waited for the stuck broker"
            answers = [f.result() for f in pending]
    finally:
        rabbitmqctl(stack, "set_vm_memory_high_watermark", "0.4")
    assert [r.status_code for r in answers] == [202] * 8, [r.text for r in answers]
    assert [r.json()["confirmed"] for r in answers] == [False] * 8
    ids = [r.json()["id"] for r in answers]
    assert states(stack, ids) == {"PENDING": 8}
    proc = start_worker("-n", "sweeper@test", "--republish-after", "1", starter=start_proc)
    wait_until(lambda: states(stack, ids) == {"SUCCESS": 8}, 30, interval=0.2,
               message="the unconfirmed tasks never ran")
    time.sleep(1.5)  # a second copy, if the first publish did land, is run or skipped now
    wait_until(lambda: queue_count(stack, "celery") == 0, 20, message="celery not drained")
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == 8
    assert count(stack, "SELECT count(*) FROM task_logs WHERE task_id = ANY(%s::uuid[])",
                 (ids,)) == 8
    assert proc.terminate(timeout=30) == 0


def test_the_sweeper_publishes_a_row_whose_publish_never_happened(stack, start_proc):
    """A producer that died between its INSERT and its publish leaves a PENDING row in an
    unconfirmed group: a worker master publishes it after --republish-after seconds. A
    task of the group that did run is not published again."""
    task_id, ran_id = str(uuid.uuid4()), str(uuid.uuid4())
    with db(stack).cursor() as cur:
        cur.execute("INSERT INTO tasks (id, name, queue, args, created_at)"
                    " VALUES (%s, 'demo.record', 'celery', '[\"swept\"]', now() - interval '5 s')",
                    (task_id,))
        cur.execute("INSERT INTO tasks (id, name, queue, args, state) VALUES"
                    " (%s, 'demo.record', 'celery', '[\"ran\"]', 'SUCCESS')", (ran_id,))
        cur.execute("INSERT INTO unconfirmed_publishes (task_ids, created_at)"
                    " VALUES (%s::uuid[], now() - interval '5 s')", ([task_id, ran_id],))
    proc = start_worker("-n", "sweep-only@test", "--republish-after", "2", starter=start_proc)
    wait_until(lambda: states(stack, [task_id]) == {"SUCCESS": 1}, 30, interval=0.2,
               message="the sweeper never published the row")
    with db(stack).cursor() as cur:
        cur.execute("SELECT worker FROM tasks WHERE id = %s", (task_id,))
        assert cur.fetchone() == ("sweep-only@test",)
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (task_id,)) == 1
    assert count(stack, "SELECT count(*) FROM demo_records WHERE task_id = %s", (ran_id,)) == 0
    wait_until(lambda: count(stack, "SELECT count(*) FROM unconfirmed_publishes"
                                    " WHERE %s = ANY(task_ids)", (task_id,)) == 0, 10,
               message="the swept group was not deleted")
    assert "published 1 task again" in proc.log_text()
    assert proc.terminate(timeout=30) == 0


def test_the_form_lists_what_the_workers_registered(stack, webapp, worker):
    """The webapp links no worker code: it lists the tasks of the workers that are up,
    including a worker it was not built with."""
    registered = [{"name": "reports.monthly", "doc": "reports.monthly(year, month): a PDF",
                   "example_args": "[2026, 11]", "queue": "reports"}]
    with db(stack).cursor() as cur:
        cur.execute("INSERT INTO workers (hostname, pid, concurrency, queues, registered)"
                    " VALUES ('python-like@test', 1, 1, '{reports}', %s)",
                    (json.dumps(registered),))
        cur.execute("INSERT INTO workers (hostname, pid, concurrency, queues, registered,"
                    " heartbeat_at) VALUES ('long-gone@test', 2, 1, '{old}', %s,"
                    " now() - interval '1 hour')",
                    (json.dumps([{"name": "old.task", "doc": "gone", "example_args": "[]",
                                  "queue": "old"}]),))
    try:
        page = requests.get(webapp.url + "/", timeout=10).text
    finally:
        with db(stack).cursor() as cur:
            cur.execute("DELETE FROM workers WHERE hostname IN"
                        " ('python-like@test', 'long-gone@test')")
    for name in ("demo.add", "demo.record", "demo.sleep", "reports.monthly"):
        assert f'<option value="{name}">' in page, name
    assert "reports.monthly(year, month): a PDF" in page
    assert "old.task" not in page
