"""/queues and /api/queues against a real RabbitMQ, PostgreSQL, webapp and workers: counts
by passive declare, absent queues, the dead letters (viewed without loss or reordering,
requeued exactly once, dropped), pausing a queue for every worker (running ones, ones
started later, a long task's resume), and bad input."""
import json
import uuid

import amqp
import pytest
import requests

from harness import (amqp_channel, declare_queue, get_message, publish_raw,
                     purge, query, queue_count, start_webapp, start_webapp_with_down,
                     start_worker, wait_until)

DEAD = "celeriac.dead"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def queues(web):
    r = requests.get(f"{web.url}/api/queues", timeout=30)
    assert r.status_code == 200, r.text
    return {q["name"]: q for q in r.json()["queues"]}


def post(web, path, **kw):
    return requests.post(f"{web.url}{path}", timeout=30, **kw)


def enqueue(web, name, queue, args=None):
    r = post(web, "/api/tasks", json={"name": name, "queue": queue, "args": args or []})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def state(stack, task_id):
    rows = query(stack, "SELECT state FROM tasks WHERE id = %s", (task_id,))
    return rows[0][0] if rows else None


def wait_state(stack, task_id, wanted="SUCCESS", timeout=20):
    wait_until(lambda: state(stack, task_id) == wanted, timeout,
               message=f"task {task_id} {wanted} (it is {state(stack, task_id)})")


def dead_letters(web, **params):
    r = requests.get(f"{web.url}/api/queues/{DEAD}/messages", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def dead_letter_of(web, task_id):
    found = [m for m in dead_letters(web)["messages"] if m["task_id"] == task_id]
    return found[0] if len(found) == 1 else None


def publish_dead(stack, task_id, queue, reason="test: poisoned"):
    """A dead letter as broker_dead_letter() writes one, straight into celeriac.dead."""
    publish_raw(stack, DEAD, json.dumps([[], {}, {}]),
                headers={"task": "demo.noop", "id": task_id, "x-celeriac-reason": reason,
                         "x-celeriac-queue": queue, "x-celeriac-worker": "test@here"},
                properties={"correlation_id": task_id, "content_type": "application/json",
                            "content_encoding": "utf-8"})


def poison(stack, queue, task_id):
    """A well-formed Celery v2 message for a task no worker knows."""
    publish_raw(stack, queue, json.dumps([[7], {}, {"callbacks": None, "errbacks": None,
                                                    "chain": None, "chord": None}]),
                headers={"lang": "py", "task": "no.such.task", "id": task_id, "retries": 0,
                         "root_id": task_id, "argsrepr": "(7,)", "kwargsrepr": "{}"},
                properties={"correlation_id": task_id, "content_type": "application/json",
                            "content_encoding": "utf-8"})


# ------------------------------------------------------------------------------ counts


def test_counts_come_from_rabbitmq_and_a_missing_queue_is_shown_absent(stack, webapp, worker):
    fresh = unique("fresh")
    # A paused queue is listed (so that it can be resumed) even before it exists.
    assert post(webapp, f"/api/queues/{fresh}/pause").json() == {
        "queue": fresh, "paused": True, "changed": True}
    q = queues(webapp)[fresh]
    assert q["exists"] is False and q["messages"] is None and q["consumers"] is None
    assert q["paused"] is True and q["paused_by"].startswith("celeriac-webapp")

    for i in range(3):
        publish_raw(stack, fresh, f"message {i}")
    q = queues(webapp)[fresh]
    assert (q["exists"], q["messages"], q["consumers"]) == (True, 3, 0)

    every = queues(webapp)
    assert list(every)[:4] == ["celery", "scrape", "convert", "chat"]
    assert list(every)[-1] == DEAD and every[DEAD]["dead_letters"] is True
    celery = every["celery"]
    assert celery["routed"] is True and celery["paused"] is False
    assert celery["consumers"] == 2  # the worker fixture's two children
    assert len(celery["workers"]) == 1

    page = requests.get(f"{webapp.url}/queues", timeout=30)
    assert page.status_code == 200
    assert fresh in page.text and "Resume" in page.text and f'href="/queues/{DEAD}"' in page.text
    assert post(webapp, f"/api/queues/{fresh}/resume").json()["changed"] is True
    assert fresh not in queues(webapp)
    purge(stack, fresh)


def test_queue_names_are_validated(stack, webapp):
    for bad in ("bad name", "amq.direct", "x" * 201, "caf\u00e9", DEAD):
        for action in ("pause", "resume"):
            r = post(webapp, f"/api/queues/{bad}/{action}")
            assert r.status_code == 400, (bad, r.text)
            assert "queue" in r.json()["error"] or DEAD in r.json()["error"]
    # The longest valid name is more than a route's {id} keeps: it still works.
    long_name = "q" * 200
    assert post(webapp, f"/api/queues/{long_name}/pause").status_code == 200
    assert post(webapp, f"/api/queues/{long_name}/resume").json()["changed"] is True
    page = post(webapp, "/queues/amq.x/pause", allow_redirects=False)
    assert page.status_code == 400 and "text/html" in page.headers["Content-Type"]
    # A cross-site form cannot pause a queue.
    r = post(webapp, "/queues/celery/pause", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert queues(webapp)["celery"]["paused"] is False


# ------------------------------------------------------------------------------ dead letters


def test_viewing_dead_letters_twice_loses_and_reorders_nothing(stack, webapp):
    purge(stack, DEAD)
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for i, task_id in enumerate(ids):
        publish_dead(stack, task_id, "celery", reason=f"reason {i}")
    views = [dead_letters(webapp) for _ in range(3)]
    for view in views:
        assert [m["task_id"] for m in view["messages"]] == ids
        assert [m["reason"] for m in view["messages"]] == [f"reason {i}" for i in range(6)]
        assert [m["position"] for m in view["messages"]] == list(range(1, 7))
        assert (view["shown"], view["more"], view["limit"]) == (6, 0, 100)
    assert [m["id"] for m in views[0]["messages"]] == [m["id"] for m in views[2]["messages"]]
    assert queue_count(stack, DEAD) == 6
    # What RabbitMQ holds is still in the same order after the views.
    first = get_message(stack, DEAD)
    assert first.headers["id"] == ids[0]
    # limit: the first N, and how many more are behind them.
    view = dead_letters(webapp, limit=2)
    assert [m["task_id"] for m in view["messages"]] == ids[1:3]
    assert (view["shown"], view["more"]) == (2, 3)
    for bad in ("0", "101", "abc", "-1", "2x"):
        r = requests.get(f"{webapp.url}/api/queues/{DEAD}/messages", params={"limit": bad},
                         timeout=30)
        assert r.status_code == 400 and "limit" in r.json()["error"]
    page = requests.get(f"{webapp.url}/queues/{DEAD}", timeout=30)
    assert page.status_code == 200 and "reason 5" in page.text and "Requeue" in page.text
    # A dead-letter queue that does not exist (yet) is said so, not an error.
    with amqp_channel(stack) as ch:
        ch.queue_delete(DEAD)
    try:
        view = dead_letters(webapp)
        assert (view["exists"], view["shown"], view["messages"]) == (False, 0, [])
        assert queues(webapp)[DEAD]["exists"] is False
        page = requests.get(f"{webapp.url}/queues/{DEAD}", timeout=30)
        assert page.status_code == 200 and "does not exist yet" in page.text
    finally:
        declare_queue(stack, DEAD)


def test_a_poison_message_is_shown_with_its_reason_and_requeued_exactly_once(stack, webapp,
                                                                             start_proc):
    purge(stack, DEAD)
    origin = unique("poison")
    task_id = str(uuid.uuid4())
    w = start_worker("-Q", origin, "-n", unique("poisoner") + "@test", concurrency=1,
                     starter=start_proc)
    poison(stack, origin, task_id)
    letter = wait_until(lambda: dead_letter_of(webapp, task_id), 20,
                        message="the poison message in the dead-letter view")
    assert "NotRegistered" in letter["reason"] and "no.such.task" in letter["reason"]
    assert letter["queue"] == origin and letter["task"] == "no.such.task"
    assert letter["worker"] and letter["body"].startswith("[[7]")
    assert state(stack, task_id) == "FAILURE"
    assert w.terminate() == 0  # nobody consumes the origin queue from here on

    r = post(webapp, f"/api/queues/{DEAD}/messages/{letter['id']}/requeue")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["requeued"] is True and answer["queue"] == origin
    assert answer["task_id"] == task_id and answer["previous_state"] == "FAILURE"
    # Back on its queue exactly once, off celeriac.dead, its row runnable again.
    assert queue_count(stack, origin) == 1 and queue_count(stack, DEAD) == 0
    assert dead_letter_of(webapp, task_id) is None
    assert state(stack, task_id) == "PENDING"
    logs = query(stack, "SELECT message FROM task_logs WHERE task_id = %s ORDER BY id",
                 (task_id,))
    assert logs[-1][0] == f"requeued from celeriac.dead to queue {origin}"
    again = post(webapp, f"/api/queues/{DEAD}/messages/{letter['id']}/requeue")
    assert again.status_code == 404 and "no dead letter" in again.json()["error"]
    copy = get_message(stack, origin)
    assert copy.headers["id"] == task_id and copy.headers["task"] == "no.such.task"
    assert not any(k.startswith("x-celeriac-") for k in copy.headers)
    assert copy.properties["correlation_id"] == task_id
    assert json.loads(copy.body)[0] == [7]


def test_dropping_a_dead_letter_removes_it_alone(stack, webapp):
    purge(stack, DEAD)
    keep, drop = str(uuid.uuid4()), str(uuid.uuid4())
    origin = unique("never")
    publish_dead(stack, drop, origin)
    publish_dead(stack, keep, origin)
    letter = dead_letter_of(webapp, drop)
    r = post(webapp, f"/queues/{DEAD}/messages/{letter['id']}/drop", allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"] == f"/queues/{DEAD}?dropped={letter['id']}"
    assert [m["task_id"] for m in dead_letters(webapp)["messages"]] == [keep]
    with pytest.raises(amqp.exceptions.NotFound):  # nothing was published anywhere
        queue_count(stack, origin)
    r = post(webapp, f"/api/queues/{DEAD}/messages/{letter['id']}/drop")
    assert r.status_code == 404
    purge(stack, DEAD)


def test_requeue_refuses_what_it_cannot_requeue(stack, webapp, worker):
    purge(stack, DEAD)
    # A dead letter that does not say where it came from.
    nowhere = str(uuid.uuid4())
    publish_raw(stack, DEAD, "[[], {}, {}]", headers={"task": "demo.noop", "id": nowhere})
    letter = dead_letter_of(webapp, nowhere)
    r = post(webapp, f"/api/queues/{DEAD}/messages/{letter['id']}/requeue")
    assert r.status_code == 409 and "x-celeriac-queue" in r.json()["error"]
    # A task that succeeded already would not run again.
    done = enqueue(webapp, "demo.noop", "celery")
    wait_state(stack, done)
    publish_dead(stack, done, "celery")
    letter = dead_letter_of(webapp, done)
    r = post(webapp, f"/api/queues/{DEAD}/messages/{letter['id']}/requeue")
    assert r.status_code == 409 and "SUCCESS" in r.json()["error"]
    assert queue_count(stack, DEAD) == 2  # both still there, in order
    assert [m["task_id"] for m in dead_letters(webapp)["messages"]] == [nowhere, done]
    # Ids: not a UUID is a 400, an unknown one a 404.
    for action in ("requeue", "drop"):
        r = post(webapp, f"/api/queues/{DEAD}/messages/not-an-id/{action}")
        assert r.status_code == 400 and "UUID" in r.json()["error"]
        r = post(webapp, f"/api/queues/{DEAD}/messages/{uuid.uuid4()}/{action}")
        assert r.status_code == 404
        page = post(webapp, f"/queues/{DEAD}/messages/{uuid.uuid4()}/{action}")
        assert page.status_code == 404 and "text/html" in page.headers["Content-Type"]
    purge(stack, DEAD)


def test_a_requeued_dead_letter_runs_again(stack, webapp, worker):
    purge(stack, DEAD)
    task_id = str(uuid.uuid4())
    query(stack, "INSERT INTO tasks (id, name, state, error, outcome) VALUES "
                 "(%s, 'demo.noop', 'FAILURE', 'rejected by a test', 'rejected')", (task_id,))
    publish_dead(stack, task_id, "celery")
    letter = dead_letter_of(webapp, task_id)
    r = post(webapp, f"/queues/{DEAD}/messages/{letter['id']}/requeue", allow_redirects=False)
    assert r.status_code == 303
    wait_state(stack, task_id, "SUCCESS")
    assert queue_count(stack, DEAD) == 0


# ------------------------------------------------------------------------------ pause


def consumers(web, name):
    return queues(web)[name]["consumers"]


def test_a_paused_queue_stops_every_worker_and_resume_drains_it(stack, procs):
    qa, qb, qc = unique("qa"), unique("qb"), unique("qc")
    web = start_webapp(starter=procs.start)
    first = start_worker("-Q", f"{qa},{qb}", "-n", unique("first") + "@test", concurrency=2,
                         starter=procs.start)
    wait_until(lambda: consumers(web, qa) == 2, 20, message=f"two consumers on {qa}")
    assert post(web, f"/api/queues/{qa}/pause").json()["changed"] is True
    assert post(web, f"/api/queues/{qa}/pause").json()["changed"] is False
    wait_until(lambda: consumers(web, qa) == 0, 20, message=f"the children leave {qa}")
    paused = [enqueue(web, "demo.noop", qa) for _ in range(5)]
    flowing = enqueue(web, "demo.noop", qb)
    wait_state(stack, flowing)
    assert consumers(web, qb) == 2

    # A worker started while the queue is paused never consumes it.
    later = start_worker("-Q", f"{qa},{qc}", "-n", unique("later") + "@test", concurrency=1,
                         starter=procs.start)
    wait_state(stack, enqueue(web, "demo.noop", qc))
    assert consumers(web, qa) == 0
    assert [state(stack, t) for t in paused] == ["PENDING"] * 5
    assert queues(web)[qa]["messages"] == 5

    # The pause is in PostgreSQL: a new webapp shows it.
    assert web.terminate() == 0
    web = start_webapp(starter=procs.start)
    assert queues(web)[qa]["paused"] is True
    assert "paused" in requests.get(f"{web.url}/queues", timeout=30).text

    r = post(web, f"/queues/{qa}/resume", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/queues"
    for task_id in paused:
        wait_state(stack, task_id)
    wait_until(lambda: consumers(web, qa) == 3, 20, message=f"every child back on {qa}")
    for p in (first, later, web):
        assert p.terminate() == 0


def test_a_pause_during_a_long_task_holds_after_its_resume(stack, webapp, start_proc):
    qa, qb = unique("la"), unique("lb")
    start_worker("-Q", f"{qa},{qb}", "-n", unique("long") + "@test", concurrency=1,
                 starter=start_proc)
    sleeper = enqueue(webapp, "demo.sleep", qb, [1.5])
    wait_state(stack, sleeper, "STARTED")
    # The child cancelled its consumers for the long task; pause qa meanwhile.
    assert post(webapp, f"/api/queues/{qa}/pause").json()["changed"] is True
    held = [enqueue(webapp, "demo.noop", qa) for _ in range(3)]
    after = enqueue(webapp, "demo.noop", qb)
    wait_state(stack, sleeper)
    wait_state(stack, after)  # the consumers came back: qb's only
    assert consumers(webapp, qa) == 0 and consumers(webapp, qb) == 1
    assert [state(stack, t) for t in held] == ["PENDING"] * 3
    assert queue_count(stack, qa) == 3
    assert post(webapp, f"/api/queues/{qa}/resume").json()["changed"] is True
    for task_id in held:
        wait_state(stack, task_id)


# ------------------------------------------------------------------------------ RabbitMQ down


def test_rabbitmq_unavailable_is_a_503_that_still_lists_the_pauses(stack, start_proc):
    # A webapp whose AMQP_URL names a port nobody listens on: RabbitMQ is "down" for it
    # alone, at no cost to the other tests.
    url = start_webapp_with_down(stack, "broker", name="webapp-no-rabbitmq",
                                 starter=start_proc).url
    name = unique("down")
    assert requests.post(f"{url}/api/queues/{name}/pause", timeout=30).status_code == 200
    r = requests.get(f"{url}/api/queues", timeout=30)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    body = r.json()
    assert "RabbitMQ" in body["error"] and body["broker"] == "down"
    listed = {q["name"]: q for q in body["queues"]}
    assert listed[name]["paused"] is True and listed[name]["messages"] is None
    r = requests.get(f"{url}/api/queues/{DEAD}/messages", timeout=30)
    assert r.status_code == 503 and "Retry-After" in r.headers
    r = requests.post(f"{url}/api/queues/{DEAD}/messages/{uuid.uuid4()}/requeue", timeout=30)
    assert r.status_code == 503 and "RabbitMQ" in r.json()["error"]
    page = requests.get(f"{url}/queues", timeout=30)
    assert page.status_code == 503 and "RabbitMQ unavailable" in page.text
    assert requests.post(f"{url}/api/queues/{name}/resume", timeout=30).status_code == 200
