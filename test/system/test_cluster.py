"""A RabbitMQ node dies under load: a local cluster of three nodes (compose/local
--rabbitmq-nodes 3), every queue quorum, AMQP_URL listing the three nodes. 5,000
demo.record tasks are posted to the webapp while two worker masters run them; one
node is SIGKILLed in the middle. Every accepted task ends SUCCESS exactly once, and the
demo table holds exactly one row per task."""
import os
import signal
import threading
import time

import pytest
import requests

from harness import (assert_each_ran_once, done_count, migrate, query, rabbitmqctl,
                     start_service, start_stack, start_webapp, start_worker, stop_stack,
                     wait_until)

TASKS = 5000


@pytest.fixture(scope="module")
def cluster(request):
    s = start_stack(rabbitmq_nodes=3)
    try:
        migrate(s)
        yield s
    finally:
        stop_stack(s)


def running_nodes(stack, node):
    out = rabbitmqctl(stack, "eval", "length(rabbit_nodes:all_running()).", node=node)
    return int(out.strip())


def test_a_node_killed_mid_run_loses_and_doubles_nothing(cluster, start_proc):
    stack = cluster
    # WORKER_REPUBLISH_AFTER: a post whose confirm died with the node is published again
    # by the sweeper after 5 s rather than the default 60.
    env = stack.env(CELERIAC_QUEUE_TYPE="quorum", WORKER_REPUBLISH_AFTER=5)
    assert ";" in env["AMQP_URL"] and env["AMQP_URL"].count(";") == 2
    workers = [start_worker("-n", f"cluster-{k}@test", env=env, name=f"cluster-worker-{k}",
                            starter=start_proc) for k in (1, 2)]
    web = start_webapp(env=env, starter=start_proc, name="cluster-webapp")
    types = rabbitmqctl(stack, "list_queues", "--no-table-headers", "name", "type")
    assert {line.split()[0]: line.split()[1] for line in types.splitlines() if line.strip()} \
        == {q: "quorum" for q in ("celery", "scrape", "convert", "chat", "celeriac.dead")}

    accepted, refused, problems = {}, [], []
    lock = threading.Lock()
    give_up = time.monotonic() + 240

    def post(keys):
        s = requests.Session()
        try:
            for key in keys:
                while True:  # a refused post stored nothing that runs: post it again
                    if time.monotonic() > give_up:
                        raise AssertionError(f"still refused after 240 s: {refused[-3:]}")
                    r = s.post(web.url + "/api/tasks", timeout=60,
                               json={"name": "demo.record", "args": [key]})
                    if r.status_code == 202:
                        with lock:
                            accepted[key] = r.json()["id"]
                        break
                    if r.status_code != 503:
                        raise AssertionError(f"{r.status_code} {r.text}")
                    with lock:
                        refused.append(r.json().get("error"))
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            problems.append(e)
    keys = [f"cluster-{k}" for k in range(TASKS)]
    threads = [threading.Thread(target=post, args=(keys[i::8],), daemon=True) for i in range(8)]
    for t in threads:
        t.start()

    def done():
        return done_count(stack, list(accepted.values()))
    wait_until(lambda: problems or len(accepted) >= TASKS * 3 // 10, 120,
               message="three tenths of the tasks accepted")
    assert not problems, problems
    # The node most of our clients are connected to dies (the worker children and the
    # webapp spread over the nodes from their pids).
    served = rabbitmqctl(stack, "list_connections", "--no-table-headers", "port").split()
    victim = max(range(1, 4), key=lambda k: served.count(str(stack.amqp_ports[k - 1])))
    cut = served.count(str(stack.amqp_ports[victim - 1]))
    os.kill(stack.rabbitmq_pid(victim), signal.SIGKILL)
    posted_at_kill = len(accepted)
    for t in threads:
        t.join(300)
    assert not problems, problems
    assert len(accepted) == TASKS

    ids = list(accepted.values())
    wait_until(lambda: done() == TASKS, 300, interval=0.5,
               message=f"all {TASKS} accepted tasks to succeed after the node died")
    assert_each_ran_once(stack, ids, "cluster-")
    [(rows,)] = query(stack, "SELECT count(*) FROM demo_records WHERE key LIKE 'cluster-%%'")
    assert rows == TASKS
    assert cut > 0 and posted_at_kill < TASKS, "the kill cut no client, or came after the run"

    # Both masters rode it out, and the node comes back into its cluster.
    assert all(w.alive() for w in workers) and web.alive()
    start_service(stack, f"rabbitmq-{victim}")
    other = 1 if victim != 1 else 2
    wait_until(lambda: running_nodes(stack, other) == 3, 60,
               message=f"node {victim} back in the cluster")
    print(f"node {victim} killed with {cut} client connections after {posted_at_kill} posts;"
          f" {len(refused)} posts refused and posted again")
