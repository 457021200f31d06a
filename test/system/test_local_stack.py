"""`make run` is `compose/local run`: the whole stack in the foreground. It
prints the URL, serves tasks, refuses a second run, stops everything it
started on Ctrl-C, and a new start finds the data again. `compose/local up
--rabbitmq-nodes 3` runs a RabbitMQ cluster whose quorum queues outlive a
node."""
import glob
import json
import os
import signal
import subprocess
import tempfile
import uuid

import amqp
import requests

from harness import (COMPOSE_LOCAL, REPO, amqp_channel, free_ports, pid_alive,
                     processes_mentioning, rabbitmqctl, start_stack, stop_stack, wait_until)


def recorded_pids(var):
    """The PIDs compose/local wrote under VAR/run/ (servers, webapp, workers)."""
    pids = []
    for path in glob.glob(os.path.join(var, "run", "*.pid")):
        with open(path) as f:
            text = f.read().split()
        if text and text[0].isdigit():
            pids.append(int(text[0]))
    return pids


def _terminal_signals():
    """Give compose/local the SIGINT and SIGQUIT of a shell in a terminal. A
    test run launched in the background (nohup, a CI runner) starts with them
    ignored, and bash cannot trap a signal ignored when it started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def test_run_serves_refuses_a_second_run_stops_on_ctrl_c_and_keeps_the_data():
    var = tempfile.mkdtemp(prefix="celeriac-run-")
    os.chmod(var, 0o755)
    amqp, pg, web, dist, epmd = free_ports(5)
    env = dict(os.environ, CELERIAC_VAR=var, AMQP_PORT=str(amqp), PG_PORT=str(pg),
               WEBAPP_LISTEN=f"127.0.0.1:{web}", AMQP_DIST_PORT=str(dist), EPMD_PORT=str(epmd),
               WORKERS="1")
    url = f"http://127.0.0.1:{web}"
    out_path = os.path.join(var, "run.out")
    with open(out_path, "w") as out:
        run = subprocess.Popen([str(COMPOSE_LOCAL), "run"], env=env, cwd=REPO, stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=_terminal_signals)
    try:
        wait_until(lambda: "celeriac is running at " + url in open(out_path).read(), 120,
                   interval=0.2, message="compose/local run to print its URL")
        r = requests.post(url + "/api/tasks", json={"name": "demo.add", "args": [2, 3]},
                          timeout=10)
        assert r.status_code == 202, r.text
        task_id = r.json()["id"]
        wait_until(lambda: requests.get(f"{url}/api/tasks/{task_id}", timeout=10)
                   .json()["state"] == "SUCCESS", 30, message="demo.add to succeed")

        second = subprocess.run([str(COMPOSE_LOCAL), "run"], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stdout + second.stderr

        started = recorded_pids(var)
        assert len(started) >= 4, started  # rabbitmq, postgres, webapp, worker (and epmd)
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
        # Up to 150 s: compose/local gives each component 15 s before SIGKILL;
        # this test is about everything stopping, not about how fast.
        try:
            status = run.wait(150)
        except subprocess.TimeoutExpired:
            status = None
        assert status == 0, f"compose/local run did not stop cleanly:\n{open(out_path).read()}"
        assert [pid for pid in started if pid_alive(pid)] == []
        assert processes_mentioning(var) == []

        again = subprocess.run([str(COMPOSE_LOCAL), "up"], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=240)
        assert again.returncode == 0, again.stdout + again.stderr
        task = requests.get(f"{url}/api/tasks/{task_id}", timeout=10).json()
        assert task["state"] == "SUCCESS" and task["result"] == 5
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(60)
        subprocess.run([str(COMPOSE_LOCAL), "down"], env=env, cwd=REPO, capture_output=True,
                       timeout=120)
        leftovers = processes_mentioning(var)
        for pid, _ in leftovers:
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", var])
    assert leftovers == []


def _running_nodes(stack, node):
    status = json.loads(rabbitmqctl(stack, "cluster_status", "--formatter", "json", node=node))
    return sorted(status["running_nodes"])


def test_a_cluster_of_three_nodes_keeps_a_quorum_queue_when_one_is_killed():
    stack = start_stack(services_only=True, rabbitmq_nodes=3)
    var = str(stack.var)
    nodes = sorted(stack.rabbitmq_node(k) for k in (1, 2, 3))
    try:
        assert len(set(stack.amqp_ports + stack.dist_ports + [stack.epmd_port])) == 7
        # What eval "$(compose/local env)" gives the apps: every node, as Celery's broker_url.
        env = subprocess.run(["bash", "-c", 'eval "$("$0" env)" && printf %s "$AMQP_URL"',
                              str(COMPOSE_LOCAL)], env=stack.compose_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=30, check=True)
        assert env.stdout == ";".join(f"amqp://guest:guest@127.0.0.1:{p}/"
                                      for p in stack.amqp_ports) == stack.amqp_url
        status = stack.compose("status").stdout
        for k, port in enumerate(stack.amqp_ports, 1):
            assert f"rabbitmq-{k} running  pid " in status and f"127.0.0.1:{port} " in status
        assert _running_nodes(stack, 1) == nodes

        # Declared and filled through node 1, so the queue's leader is the node that dies.
        queue = f"cluster-{uuid.uuid4()}"
        sent = [f"m{i}" for i in range(200)]
        with amqp_channel(stack, node=1) as ch:
            ch.queue_declare(queue, durable=True, auto_delete=False,
                             arguments={"x-queue-type": "quorum"})
            for body in sent:  # each confirmed by the broker: a majority has it
                ch.basic_publish(amqp.Message(body, delivery_mode=2), exchange="",
                                 routing_key=queue)
        queues = json.loads(rabbitmqctl(stack, "list_queues", "name", "type", "members",
                                        "--formatter", "json", node=3))
        [info] = [q for q in queues if q["name"] == queue]
        assert info["type"] == "quorum" and sorted(info["members"]) == nodes

        beam = stack.rabbitmq_pid(1)
        os.kill(beam, signal.SIGKILL)
        wait_until(lambda: not pid_alive(beam), 10, message="node 1's beam to die")

        got = set()

        def drained_through_node_2():  # fails while nodes 2 and 3 elect a new leader
            with amqp_channel(stack, confirm=False, node=2) as ch:
                while (msg := ch.basic_get(queue, no_ack=False)) is not None:
                    body = msg.body
                    got.add(body.decode() if isinstance(body, bytes) else body)
                    ch.basic_ack(msg.delivery_tag)
            return len(got) >= len(sent)
        wait_until(drained_through_node_2, 60, interval=0.2, message="every message back")
        assert got == set(sent)
        down = stack.compose("status", check=False)
        assert down.returncode == 3 and "rabbitmq-1 stopped" in down.stdout

        out = stack.compose("start", "rabbitmq-1").stdout
        assert "rabbitmq-1: started" in out and "joined" not in out  # it rejoins by itself
        assert stack.rabbitmq_pid(1) not in (None, beam)
        assert _running_nodes(stack, 2) == nodes
        with amqp_channel(stack, node=1) as ch:  # node 1 serves the queue again
            ch.basic_publish(amqp.Message("again", delivery_mode=2), exchange="",
                             routing_key=queue)
        with amqp_channel(stack, confirm=False, node=3) as ch:
            msg = wait_until(lambda: ch.basic_get(queue, no_ack=True), 10)
            assert msg.body in ("again", b"again")
    finally:
        stop_stack(stack)  # compose/local down; fails when a process from VAR survives
    assert processes_mentioning(var) == []
