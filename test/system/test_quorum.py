"""Quorum queues and a list of broker nodes, on one RabbitMQ node: each test gets a vhost
of its own, so its queues are declared afresh. CELERIAC_QUEUE_TYPE=quorum (or the
worker's --queue-type quorum) declares every celeriac queue as quorum, celeriac.dead
included; a Python Celery client configured as docs/operations.md says agrees with them;
a client declaring them otherwise gets a clear error; AMQP_URL may list several nodes."""
import json
import subprocess
import uuid

import amqp
import pytest
import requests

from harness import (BIN, amqp_channel, free_port, query, rabbitmqctl, start_webapp,
                     start_worker, states, wait_until)

QUEUES = {"celery", "scrape", "convert", "chat", "celeriac.dead"}


@pytest.fixture
def vhost(migrated_stack):
    name = f"quorum-{uuid.uuid4().hex[:8]}"
    rabbitmqctl(migrated_stack, "add_vhost", name)
    rabbitmqctl(migrated_stack, "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl(migrated_stack, "delete_vhost", name)


def url(stack, vhost):
    return f"amqp://guest:guest@127.0.0.1:{stack.amqp_port}/{vhost}"


def queue_types(stack, vhost):
    out = rabbitmqctl(stack, "list_queues", "-p", vhost, "--no-table-headers", "name", "type")
    return dict(line.split() for line in out.splitlines() if line.strip())


def wait_states(stack, ids, state="SUCCESS", timeout=60):
    wait_until(lambda: states(stack, ids) == {state: len(ids)}, timeout, interval=0.2,
               message=f"{len(ids)} tasks to end {state}")


CELERY_QUORUM = r"""
import json, sys
from celery import Celery
from kombu import Queue
app = Celery(broker=sys.argv[1])
app.conf.task_serializer = "json"
# docs/operations.md, "A RabbitMQ cluster": the queues as the workers declare them.
app.conf.task_queues = [Queue(q, routing_key=q, queue_arguments={"x-queue-type": "quorum"})
                        for q in ("celery", "scrape", "convert", "chat")]
app.conf.task_default_queue = "celery"
app.conf.broker_transport_options = {"confirm_publish": True}
ids = [app.send_task(n, args=a).id for n, a in json.loads(sys.stdin.read())]
print(json.dumps(ids))
"""


def test_quorum_queues_serve_the_webapp_celery_clients_and_dead_letters(migrated_stack, vhost,
                                                                         procs):
    stack = migrated_stack
    env = stack.env(AMQP_URL=url(stack, vhost))
    start_worker("--queue-type", "quorum", env=env, starter=procs.start, name="quorum-worker")
    assert queue_types(stack, vhost) == {q: "quorum" for q in QUEUES}

    web = start_webapp(env=dict(env, CELERIAC_QUEUE_TYPE="quorum"), starter=procs.start,
                       name="quorum-webapp")
    ids = []
    for k in range(20):
        r = requests.post(web.url + "/api/tasks", json={"name": "demo.add", "args": [k, 1]},
                          timeout=10)
        assert r.status_code == 202, r.text
        assert r.json()["confirmed"] is True
        ids.append(r.json()["id"])
    sent = subprocess.run(["/usr/bin/python3", "-c", CELERY_QUORUM, url(stack, vhost)],
                          input=json.dumps([["demo.add", [k, 2]] for k in range(20)]),
                          capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    ids += json.loads(sent.stdout)
    wait_states(stack, ids)
    results = query(stack, "SELECT result::text FROM tasks WHERE id = ANY(%s::uuid[])", (ids,))
    assert sorted(int(r) for (r,) in results) == sorted([k + 1 for k in range(20)] +
                                                        [k + 2 for k in range(20)])

    # A task no worker knows is dead-lettered into the quorum celeriac.dead.
    r = requests.post(web.url + "/api/tasks", json={"name": "no.such.task"}, timeout=10)
    assert r.status_code == 202, r.text
    wait_states(stack, [r.json()["id"]], "FAILURE")
    with amqp_channel(stack, confirm=False, vhost=vhost) as ch:
        msg = wait_until(lambda: ch.basic_get("celeriac.dead", no_ack=True), 30,
                         message="the unknown task in celeriac.dead")
        assert msg.headers["id"] == r.json()["id"]
    assert queue_types(stack, vhost) == {q: "quorum" for q in QUEUES}


def test_a_client_declaring_the_queues_otherwise_gets_a_clear_error(migrated_stack, vhost,
                                                                    procs):
    stack = migrated_stack
    env = stack.env(AMQP_URL=url(stack, vhost))
    start_worker(env=dict(env, CELERIAC_QUEUE_TYPE="quorum"), starter=procs.start,
                 name="quorum-worker")
    classic = procs.start([BIN / "celeriac-worker", "--concurrency", "1"], env, "classic-worker")
    wait_until(lambda: "exists with other arguments than CELERIAC_QUEUE_TYPE=classic"
               in classic.log_text(), 30, message="the classic worker to explain the mismatch")
    assert classic.alive()  # it keeps trying, as for a broker that is down
    assert queue_types(stack, vhost) == {q: "quorum" for q in QUEUES}

    bad = subprocess.run([BIN / "celeriac-worker", "--queue-type",
                          "stream"], env=env, capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--queue-type wants classic or quorum" in bad.stderr


def test_amqp_url_may_list_nodes_and_a_dead_one_is_skipped(migrated_stack, procs):
    stack = migrated_stack
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    env = stack.env(AMQP_URL=f"{dead};{stack.amqp_url}")
    start_worker(env=env, starter=procs.start, name="listed-worker", concurrency=2)
    web = start_webapp(env=env, starter=procs.start, name="listed-webapp")
    ids = []
    for k in range(10):
        r = requests.post(web.url + "/api/tasks", json={"name": "demo.add", "args": [k, k]},
                          timeout=10)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    wait_states(stack, ids)


def test_viewing_quorum_dead_letters_loses_and_reorders_nothing(migrated_stack, vhost, procs):
    """The dead-letter view reads with basic.get and gives the messages back by closing its
    channel; a quorum queue must return them in their order too."""
    stack = migrated_stack
    env = stack.env(AMQP_URL=url(stack, vhost), CELERIAC_QUEUE_TYPE="quorum")
    web = start_webapp(env=env, starter=procs.start, name="quorum-webapp")
    ids = [str(uuid.uuid4()) for _ in range(6)]
    with amqp_channel(stack, vhost=vhost) as ch:
        ch.queue_declare("celeriac.dead", durable=True, auto_delete=False,
                         arguments={"x-queue-type": "quorum"})
        for i, task_id in enumerate(ids):
            ch.basic_publish(amqp.Message(
                b"[[], {}, {}]", delivery_mode=2, correlation_id=task_id,
                content_type="application/json", content_encoding="utf-8",
                application_headers={"task": "demo.noop", "id": task_id,
                                     "x-celeriac-reason": f"reason {i}",
                                     "x-celeriac-queue": "celery"}),
                exchange="", routing_key="celeriac.dead")
        for _ in range(3):
            r = requests.get(f"{web.url}/api/queues/celeriac.dead/messages", timeout=30)
            assert r.status_code == 200, r.text
            assert [m["task_id"] for m in r.json()["messages"]] == ids
        assert ch.basic_get("celeriac.dead", no_ack=True).headers["id"] == ids[0]
