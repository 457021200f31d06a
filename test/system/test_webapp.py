"""The webapp over real HTTP, with a real worker behind it: the JSON API, the
HTML pages, health checks, and every bad input getting its 4xx while the
database stays unchanged."""
import json
import os
import re
import socket
import subprocess

import pytest
import requests

from harness import REPO, db, free_port, start_webapp_with_down, wait_until

WEBAPP = os.path.join(REPO, "bin", "celeriac-webapp")


def post_task(web, payload, **kw):
    return requests.post(f"{web.url}/api/tasks", data=json.dumps(payload),
                         headers={"Content-Type": "application/json"}, timeout=10, **kw)


def wait_state(web, task_id, states=("SUCCESS", "FAILURE"), timeout=20):
    def final():
        r = requests.get(f"{web.url}/api/tasks/{task_id}", timeout=10)
        return r.json() if r.status_code == 200 and r.json()["state"] in states else None
    return wait_until(final, timeout, message=f"task {task_id} never reached {states}")


def count_rows(stack):
    with db(stack).cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM task_logs)")
        return cur.fetchone()[0]


def test_demo_add_over_http_reaches_success_and_shows_in_the_pages(stack, webapp, worker):
    r = post_task(webapp, {"name": "demo.add", "args": [2, 3]})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["state"] == "PENDING"
    task = wait_state(webapp, body["id"])
    assert task["state"] == "SUCCESS"
    assert task["result"] == 5
    for field in ("id", "name", "state", "args", "kwargs", "result", "error", "retries",
                  "worker", "created_at", "started_at", "finished_at"):
        assert field in task, field
    assert task["args"] == [2, 3] and task["kwargs"] == {}
    assert task["origin"].startswith("celeriac-webapp")

    logs = requests.get(f"{webapp.url}/api/tasks/{body['id']}/logs", timeout=10).json()
    assert [line["message"] for line in logs["logs"]] == ["adding 2 + 3"]

    page = requests.get(f"{webapp.url}/tasks/{body['id']}", timeout=10)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "SUCCESS" in page.text and "adding 2 + 3" in page.text
    listing = requests.get(f"{webapp.url}/tasks", timeout=10)
    assert body["id"] in listing.text

    api_list = requests.get(f"{webapp.url}/api/tasks", params={"name": "demo.add", "limit": 5},
                            timeout=10).json()
    assert any(t["id"] == body["id"] for t in api_list["tasks"])


def test_the_form_enqueues_and_redirects_to_the_task(stack, webapp, worker):
    home = requests.get(webapp.url + "/", timeout=10)
    assert home.status_code == 200 and "<form" in home.text
    r = requests.post(f"{webapp.url}/tasks", data={"name": "demo.add", "args": "[40, 2]",
                                                  "kwargs": "{}", "queue": ""},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 303, r.text
    task_id = re.search(r"/tasks/([0-9a-f-]{36})", r.headers["Location"]).group(1)
    assert wait_state(webapp, task_id)["result"] == 42


def test_fail_and_unknown_task_over_http(stack, webapp, worker):
    failing = post_task(webapp, {"name": "demo.fail", "kwargs": {"message": "kaput"}}).json()
    unknown = post_task(webapp, {"name": "nobody.knows", "args": [1, "two"],
                                 "kwargs": {"three": 3}}).json()
    assert "kaput" in wait_state(webapp, failing["id"])["error"]
    row = wait_state(webapp, unknown["id"])
    assert "NotRegistered" in row["error"]
    # What was asked stays on the FAILURE row the worker wrote.
    assert row["args"] == [1, "two"] and row["kwargs"] == {"three": 3}, row


def test_values_are_html_escaped(stack, webapp, worker):
    hostile = "<script>alert(1)</script>"
    r = post_task(webapp, {"name": "demo.fail", "args": [hostile]})
    task_id = r.json()["id"]
    wait_state(webapp, task_id)
    page = requests.get(f"{webapp.url}/tasks/{task_id}", timeout=10).text
    assert hostile not in page
    assert "&lt;script&gt;" in page


BAD_BODIES = [
    ("malformed JSON", b'{"name": "demo.add", ', 400, "JSON"),
    ("not an object", b'[1, 2]', 400, "object"),
    ("name missing", b'{"args": []}', 400, "name"),
    ("name not a string", b'{"name": 5}', 400, "name"),
    ("args not an array", b'{"name": "demo.add", "args": {"x": 1}}', 400, "args"),
    ("kwargs not an object", b'{"name": "demo.add", "kwargs": [1]}', 400, "kwargs"),
    ("queue not a string", b'{"name": "demo.add", "queue": 7}', 400, "queue"),
    ("invalid task name", b'{"name": "../etc/passwd"}', 400, "name"),
    ("invalid queue name", b'{"name": "demo.add", "queue": "a b"}', 400, "queue"),
    ("unknown field", b'{"name": "demo.add", "argz": []}', 400, "argz"),
    ("NUL in a string", b'{"name": "demo.add", "args": ["a\\u0000b"]}', 400, "NUL"),
    ("invalid UTF-8", b'{"name": "demo.add", "args": ["\xff"]}', 400, "UTF-8"),
    ("body over 1 MiB", b'{"name": "demo.add", "args": ["' + b"x" * (1 << 20) + b'"]}', 413, ""),
]


@pytest.mark.parametrize("case,body,status,word", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_input_gets_a_4xx_and_changes_nothing(stack, webapp, case, body, status, word):
    before = count_rows(stack)
    r = requests.post(f"{webapp.url}/api/tasks", data=body,
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    error = r.json()["error"]
    assert word.lower() in error.lower(), error
    assert count_rows(stack) == before


@pytest.mark.parametrize("path,status", [
    ("/api/tasks/not-a-uuid", 400),
    ("/api/tasks/00000000-0000-4000-8000-000000000000", 404),
    ("/api/tasks/00000000-0000-4000-8000-000000000000/logs", 404),
    ("/api/tasks?limit=0", 400),
    ("/api/tasks?limit=abc", 400),
    ("/api/tasks?state=DONE", 400),
    ("/api/nothing-here", 404),
])
def test_bad_api_reads_get_a_4xx_with_an_error(webapp, path, status):
    r = requests.get(webapp.url + path, timeout=10)
    assert r.status_code == status
    assert r.json()["error"]


def test_html_pages_answer_404_and_400(webapp):
    assert requests.get(f"{webapp.url}/tasks/00000000-0000-4000-8000-000000000000",
                        timeout=10).status_code == 404
    assert requests.get(f"{webapp.url}/tasks/nope", timeout=10).status_code == 400


def test_healthz_reports_ok(webapp):
    r = requests.get(f"{webapp.url}/healthz", timeout=10)
    assert r.status_code == 200
    assert r.json()["database"] == "ok" and r.json()["broker"] == "ok"


@pytest.mark.parametrize("down", ["database", "broker"])
def test_healthz_answers_503_naming_what_is_down(stack, start_proc, down):
    proc = start_webapp_with_down(stack, down, starter=start_proc)
    r = requests.get(proc.url + "/healthz", timeout=10)
    assert r.status_code == 503
    assert r.json()[down] != "ok"
    assert proc.terminate(timeout=15) == 0


def test_enqueue_answers_503_when_the_broker_is_down_and_keeps_no_row(stack, start_proc):
    proc = start_webapp_with_down(stack, "broker", name="webapp-no-broker-post",
                                  starter=start_proc)
    url = proc.url
    before = count_rows(stack)
    r = requests.post(url + "/api/tasks", json={"name": "demo.noop"}, timeout=30)
    assert r.status_code == 503
    assert "broker" in r.json()["error"].lower()
    assert count_rows(stack) == before
    assert proc.terminate(timeout=15) == 0


def test_webapp_refuses_an_old_schema(stack, empty_database):
    env = dict(stack.env(), DATABASE_URL=empty_database,
               WEBAPP_LISTEN=f"127.0.0.1:{free_port()}")
    out = subprocess.run([WEBAPP], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "celeriac migrate" in out.stderr


def test_concurrent_enqueues_share_publisher_batches_and_all_run(stack, webapp, worker):
    """Many clients at once: their publishes are confirmed in shared batches;
    every 202 is a task that exists and runs."""
    from concurrent.futures import ThreadPoolExecutor

    def enqueue(i):
        with requests.Session() as s:
            return [s.post(f"{webapp.url}/api/tasks", json={"name": "demo.add", "args": [i, k]},
                           timeout=30) for k in range(10)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = [r for batch in pool.map(enqueue, range(24)) for r in batch]
    assert [r.status_code for r in answers] == [202] * 240
    expected = {r.json()["id"]: i + k for i in range(24) for k, r in
                enumerate(answers[i * 10:(i + 1) * 10])}

    def all_done():
        with db(stack).cursor() as cur:
            cur.execute("SELECT id::text, result FROM tasks WHERE id = ANY(%s::uuid[])"
                        " AND state = 'SUCCESS'", (list(expected),))
            rows = dict(cur.fetchall())
        return rows if len(rows) == len(expected) else None
    results = wait_until(all_done, 60, interval=0.2, message="not every accepted task ran")
    assert results == expected


def test_basic_auth_guards_everything_but_healthz(stack, procs):
    from harness import start_webapp
    web = start_webapp(env=stack.env(CELERIAC_AUTH="ops:s3cret pass"), name="webapp-auth",
                       starter=procs.start)
    for path in ("/", "/tasks", "/api/tasks"):
        r = requests.get(web.url + path, timeout=10)
        assert r.status_code == 401, path
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert requests.get(web.url + path, auth=("ops", "wrong"), timeout=10).status_code == 401
        assert requests.get(web.url + path, auth=("ops", "s3cret pass"),
                            timeout=10).status_code == 200, path
    before = count_rows(stack)
    r = requests.post(web.url + "/api/tasks", json={"name": "demo.noop"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]
    assert count_rows(stack) == before
    assert requests.get(web.url + "/healthz", timeout=10).status_code == 200
    assert "s3cret" not in web.log_text()


def test_a_cross_site_post_is_refused(stack, webapp):
    before = count_rows(stack)
    r = requests.post(f"{webapp.url}/tasks", data={"name": "demo.noop", "args": "[]",
                                                  "kwargs": "{}", "queue": ""},
                      headers={"Origin": "http://evil.example"}, allow_redirects=False,
                      timeout=10)
    assert r.status_code == 403
    assert count_rows(stack) == before
    same = requests.post(f"{webapp.url}/tasks", data={"name": "demo.noop", "args": "[]",
                                                     "kwargs": "{}", "queue": ""},
                         headers={"Origin": webapp.url}, allow_redirects=False, timeout=10)
    assert same.status_code == 303


def test_a_json_api_body_must_say_it_is_json(stack, webapp):
    """Beside the Origin check: a cross-site form can send text/plain or a urlencoded body
    without a preflight, never application/json. A body-less POST (a revoke) needs no type."""
    before = count_rows(stack)
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"Content-Type": ctype} if ctype else {}
        r = requests.post(f"{webapp.url}/api/tasks", data=b'{"name": "demo.noop"}',
                          headers=headers, timeout=10)
        assert r.status_code == 415, (ctype, r.text)
        assert "Content-Type: application/json" in r.json()["error"]
    assert count_rows(stack) == before
    r = requests.post(f"{webapp.url}/api/tasks", data=b'{"name": "demo.noop"}',
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10)
    assert r.status_code == 202, r.text
    revoke = requests.post(f"{webapp.url}/api/tasks/{r.json()['id']}/revoke", timeout=10)
    assert revoke.status_code == 200, revoke.text


def test_every_answer_carries_the_security_headers(webapp):
    for path, kind in (("/", "text/html"), ("/api/tasks", "application/json"),
                       ("/api/tasks/nope", "application/json"), ("/no/such/page", "text/html")):
        r = requests.get(webapp.url + path, timeout=10)
        assert r.headers["Content-Type"].startswith(kind), path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Referrer-Policy"] == "same-origin", path
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
        assert "unsafe-inline" not in csp, (path, csp)


def slow_client(port, source="127.0.0.1"):
    """A connection that sends half a request line and then nothing (a slow loris)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    s.sendall(b"GET /healthz HTT")
    return s


def answered(port, source):
    """Whether a GET /healthz from source address gets an HTTP answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=(source, 0)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def test_slow_clients_of_one_address_take_its_places_only(stack, procs):
    """WEBAPP_PER_IP_CONNECTIONS=4: four half-sent requests from 127.0.0.1 hold that address's
    places (a fifth connection from it is closed unanswered), while a client from another
    address (127.0.0.2, loopback too) is served; once they go, 127.0.0.1 is served again."""
    from harness import start_webapp
    web = start_webapp(env=stack.env(WEBAPP_PER_IP_CONNECTIONS="4"), name="webapp-per-ip",
                       starter=procs.start)
    port = int(web.url.rsplit(":", 1)[1])
    assert "4 per client address" in web.log_text()
    slow = [slow_client(port) for _ in range(4)]
    try:
        wait_until(lambda: not answered(port, "127.0.0.1"), 10,
                   message="a fifth connection from 127.0.0.1 was served")
        assert answered(port, "127.0.0.2"), "another address was starved"
    finally:
        for s in slow:
            s.close()
    wait_until(lambda: answered(port, "127.0.0.1"), 10,
               message="127.0.0.1 never got its places back")
