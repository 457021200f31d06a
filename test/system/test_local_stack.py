"""`make run` is `compose/local run`: the whole stack in the foreground. It
prints the URL, serves tasks, refuses a second run, stops everything it
started on Ctrl-C, and a new start finds the data again."""
import glob
import os
import signal
import subprocess
import tempfile

import requests

from harness import (COMPOSE_LOCAL, REPO, free_ports, pid_alive, processes_mentioning,
                     wait_until)


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
