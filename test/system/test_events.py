"""Live updates (issue 19): GET /api/events, Server-Sent Events from the webapp's LISTEN
connection. Chat messages are stored here with SQL and announced with NOTIFY chat, as
chat.persist's commit does, so the stream is tested on its own; one test goes through the
chat API and a chat worker. The task tests run real workers."""
import http.client
import json
import queue
import socket
import threading
import time
import uuid
from urllib.parse import quote, urlsplit

import pytest
import requests

from harness import db, start_service, start_webapp, start_worker, stop_service, wait_until


# ------------------------------------------------------------------------------ an SSE client


class Stream:
    """An EventSource in a thread: events go to a queue as dicts {"id", "event", "data"}
    (data parsed as JSON), comments count in .comments. .closed says the server ended it."""

    def __init__(self, base_url, topics, last_event_id=None, query_cursor=None, timeout=30):
        u = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        path = "/api/events?topics=" + quote(topics, safe=",:")
        if query_cursor:
            path += "&last_event_id=" + quote(query_cursor)
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())
        self.events = queue.Queue()
        self.comments = 0
        self.closed = threading.Event()
        self.last_id = None
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.resp.read()
            self.closed.set()

    def _read(self):
        event = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line == "":
                    if "data" in event:
                        event["data"] = json.loads(event["data"])
                        if "id" in event:
                            self.last_id = event["id"]
                        self.events.put(event)
                    event = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data" and "data" in event:
                        event["data"] += "\n" + value
                    elif field in ("id", "event", "data"):
                        event[field] = value
        except Exception:  # noqa: BLE001 - closed under our feet (close()), or cut short
            pass
        finally:
            self.closed.set()

    def take(self, n, timeout=20, kind=None):
        """The next n events (of kind, when given; others are skipped)."""
        got, deadline = [], time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(got)} of {n} {kind or ''} events: "
                                     f"{shown(got)}")
            try:
                e = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.closed.is_set() and self.events.empty():
                    raise AssertionError(f"stream ended after {len(got)} of {n} events: "
                                         f"{shown(got)}")
                continue
            if kind is None or e.get("event") == kind:
                got.append(e)
        return got

    def until(self, predicate, timeout=30, kind=None):
        """Events (of kind) up to and including the first for which predicate is true."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            e = self.take(1, timeout=max(deadline - time.monotonic(), 0.01), kind=kind)[0]
            got.append(e)
            if predicate(e):
                return got

    def quiet(self, seconds, kind=None):
        """The events (of kind) that come within seconds."""
        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                e = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if kind is None or e.get("event") == kind:
                got.append(e)
        return got

    def close(self):
        try:
            self.resp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.conn.close()


def shown(events, most=5):
    """events for a message: the last few, long values cut."""
    return repr(events[-most:])[:2000]


def follow(base_url, topics, n, kind, last=None, timeout=60):
    """Read n events of kind as a browser's EventSource does: when the server ends the
    stream, reconnect with the last id (from last at first). Returns (events, number of
    connections)."""
    got, connections = [], 0
    deadline = time.monotonic() + timeout
    while len(got) < n:
        s = Stream(base_url, topics, last_event_id=last)
        connections += 1
        assert s.status == 200, s.body
        while len(got) < n:
            try:
                e = s.events.get(timeout=0.2)
            except queue.Empty:
                if s.closed.is_set() and s.events.empty():
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"got {len(got)} of {n}: {shown(got)}")
                continue
            if e.get("event") == kind:
                got.append(e)
            last = e.get("id", last)
        s.close()
    return got, connections


@pytest.fixture
def streams():
    opened = []

    def open_stream(*args, **kwargs):
        s = Stream(*args, **kwargs)
        opened.append(s)
        return s
    yield open_stream
    for s in opened:
        s.close()


def room_name():
    return f"r{uuid.uuid4().hex[:10]}"


def store_chat(stack, room, bodies, author="ann"):
    """Store messages as chat.persist does (one transaction each, in order) and announce
    each commit with NOTIFY chat; returns their ids."""
    ids = []
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            for body in bodies:
                mid = str(uuid.uuid4())
                cur.execute("BEGIN")
                cur.execute("INSERT INTO chat_messages (id, room, author, body, sent_at)"
                            " VALUES (%s, %s, %s, %s, now())", (mid, room, author, body))
                cur.execute("NOTIFY chat")
                cur.execute("COMMIT")
                ids.append(mid)
    finally:
        conn.close()
    return ids


def post_task(web, name, args=None, kwargs=None):
    r = requests.post(f"{web.url}/api/tasks", json={"name": name, "args": args or [],
                                                    "kwargs": kwargs or {}}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["id"]


# ------------------------------------------------------------------------------ chat


def test_a_room_stream_gets_every_message_sent_after_it_connected_and_the_missed_ones_after_a_reconnect(
        migrated_stack, webapp, streams):
    room, other = room_name(), room_name()
    before = store_chat(migrated_stack, room, ["before the stream"])
    s = streams(webapp.url, f"chat:{room}")
    assert s.status == 200
    assert s.headers["Content-Type"].startswith("text/event-stream")
    assert s.headers["Cache-Control"] == "no-cache"
    assert s.headers["X-Accel-Buffering"] == "no"

    first = store_chat(migrated_stack, room, [f"live {n}" for n in range(10)])
    store_chat(migrated_stack, other, ["another room"])
    got = s.take(10, kind="chat")
    if got[0]["data"]["id"] == before[0]:
        # Stored just before the stream opened but not yet fanned out then: it comes live
        # (a page shows a message once, by id).
        got = got[1:] + s.take(1, kind="chat")
    assert [e["data"]["id"] for e in got] == first
    assert [e["data"]["body"] for e in got] == [f"live {n}" for n in range(10)]
    seqs = [e["data"]["seq"] for e in got]
    assert seqs == sorted(seqs)
    assert all(e["data"]["room"] == room and e["data"]["author"] == "ann" and
               e["data"]["sent_at"].endswith("Z") for e in got)
    assert all(e["id"] for e in got)  # every event has an id: line
    assert s.quiet(0.5, kind="chat") == []  # nothing of the other room
    last = got[-1]["id"]
    s.close()

    missed = store_chat(migrated_stack, room, [f"missed {n}" for n in range(7)])
    again = streams(webapp.url, f"chat:{room}", last_event_id=last)
    assert again.status == 200
    replayed = again.take(7, kind="chat")
    assert [e["data"]["id"] for e in replayed] == missed
    later = store_chat(migrated_stack, room, ["after the reconnect"])
    assert [e["data"]["id"] for e in again.take(1, kind="chat")] == later
    assert again.quiet(0.5, kind="chat") == []  # nothing twice


def test_a_long_absence_is_replayed_in_pages_of_reconnects(migrated_stack, webapp, streams):
    room = room_name()
    s = streams(webapp.url, f"chat:{room}")
    store_chat(migrated_stack, room, ["first"])
    last = s.take(1, kind="chat")[0]["id"]
    s.close()
    with db(migrated_stack).cursor() as cur:  # 1,500 messages in one commit
        cur.execute("INSERT INTO chat_messages (id, room, author, body, sent_at)"
                    " SELECT gen_random_uuid(), %s, 'bulk', 'm' || n, now()"
                    " FROM generate_series(1, 1500) n ORDER BY n", (room,))
        cur.execute("NOTIFY chat")
    bodies = []
    for _ in range(3):  # 1,000, then the rest: the first stream ends after its replay
        page = streams(webapp.url, f"chat:{room}", last_event_id=last)
        assert page.status == 200
        wait_until(lambda: page.closed.is_set() or len(bodies) + page.events.qsize() >= 1500,
                   30, message="the replay never ended")
        got = page.quiet(0.3, kind="chat")
        bodies += [e["data"]["body"] for e in got]
        if got:
            last = got[-1]["id"]
        if len(bodies) >= 1500:
            break
    assert bodies == [f"m{n}" for n in range(1, 1501)]


def test_a_message_through_the_chat_api_and_a_worker_reaches_the_stream(migrated_stack, webapp,
                                                                         procs, streams):
    room = room_name()
    probe = requests.post(f"{webapp.url}/api/chat/{room}/messages", json={}, timeout=10)
    if probe.status_code in (404, 405):
        pytest.skip("the chat API is not there yet")
    start_worker("--queues", "chat", starter=procs.start, name="chat-worker")
    s = streams(webapp.url, f"chat:{room}")
    r = requests.post(f"{webapp.url}/api/chat/{room}/messages",
                      json={"author": "bob", "body": "hello there"}, timeout=30)
    assert r.status_code == 202, r.text
    e = s.take(1, kind="chat", timeout=30)[0]
    assert e["data"]["id"] == r.json()["id"]
    assert e["data"]["body"] == "hello there" and e["data"]["author"] == "bob"


# ------------------------------------------------------------------------------ tasks


def test_the_states_and_log_lines_of_a_running_demo_sleep_reach_the_stream(migrated_stack,
                                                                           webapp, worker,
                                                                           streams):
    everything = streams(webapp.url, "tasks")
    task_id = post_task(webapp, "demo.sleep", [1.5])
    # As the task's page opens it: from the log lines it showed (none yet), l0.
    own = streams(webapp.url, f"task:{task_id}", query_cursor="l0")
    states = everything.until(lambda e: e["data"]["id"] == task_id and
                              e["data"]["state"] == "SUCCESS", kind="task")
    seen = [e["data"]["state"] for e in states if e["data"]["id"] == task_id]
    assert "STARTED" in seen and seen[-1] == "SUCCESS"
    assert seen.index("STARTED") < seen.index("SUCCESS")
    assert all(e["data"]["name"] == "demo.sleep" for e in states if e["data"]["id"] == task_id)

    # The task's own stream: its state now, then as it changes, and its log lines as they
    # are written: "sleeping" while it runs, before its final state.
    mine = own.until(lambda e: e["event"] == "task" and e["data"]["state"] == "SUCCESS")
    mine += own.quiet(1.0)
    logs = [e["data"] for e in mine if e["event"] == "log"]
    assert [line["message"] for line in logs][:1] == ["sleeping 1.5 s"], mine
    assert any(line["message"].startswith("slept") for line in logs), mine
    assert all(line["task_id"] == task_id and line["at"].endswith("Z") for line in logs)
    first_log = next(i for i, e in enumerate(mine) if e["event"] == "log")
    success = next(i for i, e in enumerate(mine) if e["event"] == "task" and
                   e["data"]["state"] == "SUCCESS")
    assert first_log < success, "the first log line came only with the final state"
    ids = [line["id"] for line in logs]
    assert ids == sorted(set(ids))

    # Opened afterwards: the current state at once; with l0 its whole log again.
    late = streams(webapp.url, f"task:{task_id}", query_cursor="l0")
    got = late.until(lambda e: e["event"] == "log" and e["data"]["message"].startswith("slept"))
    assert got[0]["event"] == "task" and got[0]["data"]["state"] == "SUCCESS"
    assert [e["data"]["id"] for e in got if e["event"] == "log"] == ids


def test_webapp_replicas_each_stream_what_any_of_them_enqueued(migrated_stack, webapp, worker,
                                                               procs, streams):
    """Behind a load balancer a browser's stream and its POST may reach different
    replicas: each LISTENs on PostgreSQL, so each streams every task and chat message."""
    other = start_webapp(starter=procs.start, name="webapp-replica")
    on_other = streams(other.url, "tasks")
    on_first = streams(webapp.url, "tasks")
    task_id = post_task(webapp, "demo.add", [20, 22])
    for s in (on_other, on_first):
        s.until(lambda e: e["data"]["id"] == task_id and e["data"]["state"] == "SUCCESS",
                kind="task")
    room = room_name()
    chat = streams(other.url, f"chat:{room}")
    [mid] = store_chat(migrated_stack, room, ["through the other replica"])
    assert chat.take(1, kind="chat", timeout=30)[0]["data"]["id"] == mid


def test_a_reconnect_with_a_time_cursor_replays_the_task_states_missed(migrated_stack, webapp,
                                                                       worker, streams):
    s = streams(webapp.url, "tasks")
    post_task(webapp, "demo.noop")
    cursor = s.take(1, kind="task")[0]["id"]
    s.close()
    missed = [post_task(webapp, "demo.add", [n, 1]) for n in range(5)]
    wait_until(lambda: all(requests.get(f"{webapp.url}/api/tasks/{t}", timeout=10)
                           .json()["state"] == "SUCCESS" for t in missed), 30)
    again = streams(webapp.url, "tasks", last_event_id=cursor)
    replayed = again.quiet(2.0, kind="task")
    final = {e["data"]["id"]: e["data"]["state"] for e in replayed}
    assert all(final.get(t) == "SUCCESS" for t in missed), replayed


# ------------------------------------------------------------------------------ limits


def test_bad_topics_and_cursors_get_a_400(webapp):
    for query in ("", "?topics=", "?topics=nothing", "?topics=task:42", "?topics=chat:a%20b",
                  "?topics=tasks&last_event_id=yesterday"):
        r = requests.get(f"{webapp.url}/api/events{query}", timeout=10)
        assert r.status_code == 400, query
        assert r.json()["error"], query


def test_streams_past_the_cap_get_a_503_and_a_gone_client_frees_its_place(migrated_stack,
                                                                            procs, streams):
    # A heartbeat far away: a gone client must be noticed without writing to it.
    web = start_webapp(env=migrated_stack.env(WEBAPP_MAX_STREAMS=2, WEBAPP_SSE_HEARTBEAT=120),
                       name="webapp-cap", starter=procs.start)
    a = streams(web.url, "tasks")
    b = streams(web.url, "chat:x")
    assert a.status == 200 and b.status == 200
    c = streams(web.url, "tasks")
    assert c.status == 503
    assert "too many event streams" in json.loads(c.body)["error"]
    assert c.headers.get("Retry-After")
    a.close()

    # A gone client is noticed within about a second (its socket hung up): its place frees.
    def opened():
        d = streams(web.url, "tasks")
        return d.status == 200
    wait_until(opened, 10, interval=0.5, message="the place never freed")
    assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200


def test_heartbeats_keep_an_idle_stream_open(migrated_stack, procs, streams):
    web = start_webapp(env=migrated_stack.env(WEBAPP_SSE_HEARTBEAT=1), name="webapp-hb",
                       starter=procs.start)
    s = streams(web.url, "chat:quiet")
    wait_until(lambda: s.comments >= 3, 10, message="no heartbeats")
    assert not s.closed.is_set()


def test_a_client_that_does_not_read_is_dropped_and_blocks_no_one(migrated_stack, webapp,
                                                                   streams):
    room = room_name()
    u = urlsplit(webapp.url)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: fills fast
    slow.connect((u.hostname, u.port))
    slow.sendall(f"GET /api/events?topics=chat:{room} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    first = store_chat(migrated_stack, room, ["start"])
    result = {}

    def read_all():
        # Where a browser would start: after "start", whose id a first stream gives.
        s = Stream(webapp.url, f"chat:{room}", last_event_id="c0")
        start = s.take(1, kind="chat")[0]
        s.close()
        assert start["data"]["id"] == first[0]
        events, result["connections"] = follow(webapp.url, f"chat:{room}", 3000, "chat",
                                               last=start["id"])
        result["bodies"] = [e["data"]["body"][-4:] for e in events]
    reader = threading.Thread(target=read_all)
    reader.start()
    time.sleep(0.5)
    body = "x" * 3900
    with db(migrated_stack).cursor() as cur:  # about 12 MB of events, in 3 commits
        for _ in range(3):
            cur.execute("INSERT INTO chat_messages (id, room, author, body, sent_at)"
                        " SELECT gen_random_uuid(), %s, 'bulk', %s || lpad(n::text, 4, '0'),"
                        " now() FROM generate_series(1, 1000) n ORDER BY n", (room, body))
            cur.execute("NOTIFY chat")
    # Meanwhile the webapp answers as usual...
    r = requests.post(f"{webapp.url}/api/tasks", json={"name": "demo.noop"}, timeout=10)
    assert r.status_code == 202
    # ...a reader that keeps reading gets everything, in order (a burst this large
    # overflows any stream's buffer: it is dropped and catches up as a browser would)...
    reader.join(90)
    assert not reader.is_alive()
    assert result["bodies"] == [f"{n:04d}" for _ in range(3) for n in range(1, 1001)]
    # ...and that one was dropped: its connection ends (after what was in flight).
    slow.settimeout(30)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    total = 0
    while True:
        chunk = slow.recv(1 << 16)
        if not chunk:
            break
        total += len(chunk)
    slow.close()
    assert total < 12_000_000
    assert "does not keep up" in webapp.log_text()


# ------------------------------------------------------------------------------ pages


def test_task_pages_follow_the_stream_and_work_without_javascript(migrated_stack, webapp,
                                                                   worker):
    js = requests.get(f"{webapp.url}/static/live.js", timeout=10)
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert "EventSource" in js.text
    running = post_task(webapp, "demo.sleep", [3])
    page = requests.get(f"{webapp.url}/tasks/{running}", timeout=10)
    assert '<script src="/static/live.js" defer></script>' in page.text
    assert f'data-live-task="{running}"' in page.text
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    listing = requests.get(f"{webapp.url}/tasks", timeout=10).text
    assert "data-live-tasks" in listing and f'data-task="{running}"' in listing
    assert "data-live-conversions" in requests.get(f"{webapp.url}/convert", timeout=10).text
    done = post_task(webapp, "demo.add", [1, 2])
    wait_until(lambda: requests.get(f"{webapp.url}/api/tasks/{done}", timeout=10)
               .json()["state"] == "SUCCESS", 20)
    final = requests.get(f"{webapp.url}/tasks/{done}", timeout=10)
    assert "live.js" not in final.text and "refresh" not in final.text
    assert "script-src" not in final.headers["Content-Security-Policy"]


# ------------------------------------------------------------------------------ PostgreSQL restarts


def test_the_listener_reconnects_after_a_postgresql_restart(durable_stack, durable_procs,
                                                            streams):
    web = start_webapp(env=durable_stack.env(), name="webapp-pg-restart",
                       starter=durable_procs.start)
    room = room_name()
    s = streams(web.url, f"chat:{room}")
    store_chat(durable_stack, room, ["before"])
    assert [e["data"]["body"] for e in s.take(1, kind="chat")] == ["before"]
    stop_service(durable_stack, "postgres")
    start_service(durable_stack, "postgres")
    # Stored right away, maybe before the listener is back: it catches up either way.
    wait_until(lambda: store_chat(durable_stack, room, ["after"]), 30, interval=0.5)
    assert [e["data"]["body"] for e in s.take(1, kind="chat", timeout=30)] == ["after"]
    assert "lost the PostgreSQL connection" in web.log_text()
