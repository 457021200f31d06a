"""Scaling without Docker: `compose/local up --workers N` starts N worker masters, as N
compose replicas would be, against one RabbitMQ and one PostgreSQL. Masters stop and
start while tasks stream in; every task still runs exactly once, and the webapp tells
the stopped master from the ones online."""
import os
import signal
import threading
import time

import pytest
import requests

from harness import (assert_each_ran_once, done_count, pid_alive, publish_records, query,
                     start_stack, start_worker, stop_stack, wait_until)


@pytest.fixture(scope="module")
def scale_stack(request):
    """A stack of this module's own: compose/local starts its webapp and workers, and
    `down` stops them with the servers."""
    s = start_stack()
    try:
        s.compose("up", "--workers", "3", "--listen", s.webapp_listen, timeout=240)
        yield s
    finally:
        stop_stack(s)


def recorded_pid(stack, name):
    with open(stack.var / "run" / f"{name}.pid") as f:
        return int(f.read().split()[0])


def api_workers(stack):
    r = requests.get(stack.webapp_url + "/api/workers", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["workers"]


def online_names(stack):
    return sorted(w["hostname"] for w in api_workers(stack) if w["online"])


def node_name(pid):
    return f"celeriac.{pid}@{os.uname().nodename}"


def test_three_masters_then_one_stopped_and_a_fourth_started_run_3000_tasks_once(
        scale_stack, start_proc):
    stack = scale_stack
    first = [recorded_pid(stack, f"worker-{i}") for i in (1, 2, 3)]
    names = sorted(node_name(pid) for pid in first)
    wait_until(lambda: online_names(stack) == names, 30, interval=0.2,
               message=f"/api/workers to list the three masters {names} online")
    page = requests.get(stack.webapp_url + "/workers", timeout=10).text
    assert all(name in page for name in names)

    # Tasks stream in, 100 every 20 ms, while masters come and go.
    n, chunk = 3000, 100
    ids, published = [], threading.Event()
    problems = []

    def publish():
        try:
            for start in range(0, n, chunk):
                ids.extend(publish_records(stack, [f"scale-{k}" for k in
                                                   range(start, start + chunk)]))
                time.sleep(0.02)
        except Exception as e:  # reported by the main thread
            problems.append(e)
        finally:
            published.set()
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()

    def succeeded():
        return done_count(stack, list(ids))
    wait_until(lambda: problems or len(ids) >= n // 2 and succeeded() >= n // 3, 120,
               message="half of the tasks published and a third done")
    assert not problems, problems

    stopped = first[1]
    os.kill(stopped, signal.SIGTERM)  # warm shutdown: its running tasks finish
    fourth = start_worker(env=stack.env(), name="worker-4", starter=start_proc)
    wait_until(lambda: not pid_alive(stopped), 60, message="worker-2 to exit after SIGTERM")

    publisher.join(120)
    assert published.is_set() and not problems, problems
    assert len(ids) == n
    wait_until(lambda: succeeded() == n, 180, interval=0.5,
               message=f"all {n} tasks to succeed")
    assert_each_ran_once(stack, ids, "scale-")

    per_worker = dict(query(stack, "SELECT worker, count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                                   " GROUP BY worker", (ids,)))
    ran = sorted(names + [node_name(fourth.pid)])
    assert sorted(per_worker) == ran, per_worker
    assert all(count > 0 for count in per_worker.values()), per_worker
    assert sum(per_worker.values()) == n

    # The stopped master is shown offline, as stopped; the three others online.
    workers = {w["hostname"]: w for w in api_workers(stack)}
    gone = workers[node_name(stopped)]
    assert not gone["online"] and gone["stopped_at"], gone
    assert online_names(stack) == sorted(set(ran) - {node_name(stopped)})
    page = requests.get(stack.webapp_url + "/workers", timeout=10).text
    row = page[page.index(node_name(stopped)):]
    assert "stopped" in row[:row.index("</tr>")]
    assert fourth.terminate(timeout=30) == 0
