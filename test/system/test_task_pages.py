"""The task pages (issue 20) against real servers: the filters and keyset pages of /tasks
and GET /api/tasks, a task's page (failure, timings, lineage, log level, chat outputs,
revoke and retry buttons), parent_id from POST /api/tasks and from a Python Celery
client, and /workers. Rows are written straight into PostgreSQL where a test needs exact
states and times; every test names its tasks uniquely, so the session's other rows never
match its filters."""
import datetime
import html
import json
import re
import subprocess
import urllib.parse
import uuid

import amqp
import pytest
import requests

from harness import db, get_message, purge, start_worker, wait_until
from test_browser import BROWSER_DIR, CHROMIUM, browser_ready  # noqa: F401 (a fixture)

UTC = datetime.timezone.utc
T0 = datetime.datetime(2001, 2, 3, 10, 0, 0, tzinfo=UTC)
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def unique(prefix="tp"):
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def insert_tasks(stack, rows):
    """Insert task rows (dicts of tasks columns; name required); returns their ids."""
    ids = []
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            for row in rows:
                row = dict(row)
                row.setdefault("id", str(uuid.uuid4()))
                for k in ("args", "kwargs", "result"):
                    if k in row and not isinstance(row[k], str):
                        row[k] = json.dumps(row[k])
                cols = list(row)
                cur.execute(f"INSERT INTO tasks ({', '.join(cols)}) VALUES "
                            f"({', '.join(['%s'] * len(cols))})", [row[c] for c in cols])
                ids.append(row["id"])
    finally:
        conn.close()
    return ids


def sql(stack, query, params=()):
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def api_list(web, **params):
    r = requests.get(f"{web.url}/api/tasks", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def api_ids(web, **params):
    return [t["id"] for t in api_list(web, **params)["tasks"]]


def page_ids(text):
    """The task ids of the list's rows, in page order."""
    return re.findall(r'<tr data-task="(' + UUID_RE + r')"', text)


def page(web, path, **params):
    r = requests.get(f"{web.url}{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def link(text, rel):
    """The href of the pager's rel=prev/next link, unescaped (None when absent or hidden)."""
    m = re.search(r'<a rel="' + rel + r'"(?: id="tasks-next")? href="([^"]*)"( hidden)?>', text)
    return html.unescape(m.group(1)) if m and not m.group(2) else None


def post_task(web, payload):
    return requests.post(f"{web.url}/api/tasks", data=json.dumps(payload),
                         headers={"Content-Type": "application/json"}, timeout=10)


def newest_first(rows_ids, created):
    """ids ordered as the list orders them: created_at then id, descending."""
    return sorted(rows_ids, key=lambda i: (created[i], uuid.UUID(i)), reverse=True)


# ------------------------------------------------------------------------------ filters


@pytest.fixture
def sample(migrated_stack):
    """Eight tasks of two unique names on two unique workers, an hour apart from T0."""
    a, b = unique(), unique()
    w1, w2 = unique("w1@host"), unique("w2@host")
    rows = [
        dict(name=a, state="SUCCESS", worker=w1, args=["alpha", 1]),
        dict(name=a, state="FAILURE", worker=w2, args=["beta"], error="boom"),
        dict(name=a, state="SUCCESS", worker=w1, args=[], kwargs={"note": "A NEEDLE here"}),
        dict(name=a, state="FAILURE", worker=w1, args=["100%_sure"]),
        dict(name=a, state="PENDING", args=["plain"]),
        dict(name=b, state="SUCCESS", worker=w1, args=["needle in b"]),
        dict(name=b, state="FAILURE", worker=w2, args=["gamma"]),
        dict(name=b, state="RETRY", worker=w2, args=["100 sure"]),
    ]
    for i, row in enumerate(rows):
        row["created_at"] = T0 + datetime.timedelta(hours=i)
    ids = insert_tasks(migrated_stack, rows)
    return dict(a=a, b=b, w1=w1, w2=w2, ids=ids, rows=rows)


def test_each_filter_alone_and_combined_in_the_api_and_the_page(sample, webapp):
    a, b, w1, w2, ids = sample["a"], sample["b"], sample["w1"], sample["w2"], sample["ids"]
    newest = list(reversed(ids))  # created an hour apart: newest first is reverse order
    cases = [
        # (filters, expected ids in page order)
        (dict(name=a), [i for i in newest if i in ids[:5]]),
        (dict(name=a, state="FAILURE"), [ids[3], ids[1]]),
        (dict(state="RETRY", name=b), [ids[7]]),
        (dict(worker=w1), [ids[5], ids[3], ids[2], ids[0]]),
        (dict(worker=w2, name=b), [ids[7], ids[6]]),
        (dict(worker=w2, state="FAILURE"), [ids[6], ids[1]]),
        # Text in args or kwargs, in any case; % and _ are plain characters.
        (dict(q="needle", worker=w1), [ids[5], ids[2]]),
        (dict(q="NEEDLE", name=a), [ids[2]]),
        (dict(q="%_", name=a), [ids[3]]),
        (dict(q="0%", worker=w1), [ids[3]]),
        (dict(q="100 sure", name=b), [ids[7]]),
        # Time range: created_after inclusive, created_before exclusive; no offset is UTC.
        (dict(name=a, created_after="2001-02-03T11:00:00Z", created_before="2001-02-03T13:00"),
         [ids[2], ids[1]]),
        (dict(worker=w1, created_after="2001-02-03T12:00:00+01:00"), [ids[5], ids[3], ids[2]]),
        (dict(worker=w2, created_before="2001-02-04"), [ids[7], ids[6], ids[1]]),
        (dict(worker=w2, created_before="2001-02-03"), []),
        # Everything at once.
        (dict(name=b, state="SUCCESS", worker=w1, q="b", created_after="2001-02-03T15:00",
              created_before="2001-02-03T15:00:01"), [ids[5]]),
        # Oldest first.
        (dict(worker=w2, sort="oldest"), [ids[1], ids[6], ids[7]]),
        # Empty values are no filter (as a form sends them).
        (dict(name=a, state="", worker="", q="", created_after="", sort=""),
         [i for i in newest if i in ids[:5]]),
    ]
    for filters, want in cases:
        assert api_ids(webapp, **filters) == want, filters
        text = page(webapp, "/tasks", **filters)
        assert page_ids(text) == want, filters
    # The form shows the filters it applied, labelled, for another try without JavaScript.
    text = page(webapp, "/tasks", name=a, state="FAILURE", worker=w1, q="100%_sure",
                created_after="2001-02-03", sort="oldest")
    form = text[text.index('<form class="filter"'):text.index("</form>")]
    assert 'method="get"' in form and 'action="/tasks"' in form
    assert "<option selected>FAILURE</option>" in form
    for label, name, value in (("Name", "name", a), ("Worker", "worker", w1),
                               ("Text in args", "q", "100%_sure"),
                               ("Created after", "created_after", "2001-02-03")):
        assert re.search(rf'<label>{label} <input type="[a-z]+" name="{name}"[^>]* '
                         rf'value="{re.escape(html.escape(value))}"', form), name
    assert '<option value="oldest" selected>' in form
    # A filter that matches nothing says so.
    empty = page(webapp, "/tasks", name=unique())
    assert page_ids(empty) == [] and "No tasks match" in empty


def test_bad_filters_and_cursors_get_a_400_naming_them(sample, webapp):
    bad = [
        (dict(state="DONE"), "state"),
        (dict(sort="sideways"), "sort"),
        (dict(sort="slowest", after="1_" + str(uuid.uuid4())), "after"),
        (dict(created_after="yesterday"), "created_after"),
        (dict(created_before="2001-13-01"), "created_before"),
        (dict(after="garbage"), "after"),
        (dict(before="123_not-a-uuid"), "before"),
        (dict(after="99999999999999999999_" + str(uuid.uuid4())), "after"),
        (dict(after="1_" + str(uuid.uuid4()), before="1_" + str(uuid.uuid4())), "after or before"),
        (dict(limit="0"), "limit"),
        (dict(limit="1001"), "limit"),
        (dict(q="x" * 201), "q"),
        (dict(name="n" * 256), "name"),
    ]
    for params, named in bad:
        r = requests.get(f"{webapp.url}/api/tasks", params=params, timeout=10)
        assert r.status_code == 400, (params, r.text)
        assert named in r.json()["error"], (params, r.json())
        p = requests.get(f"{webapp.url}/tasks", params=params, timeout=10)
        assert p.status_code == 400 and "text/html" in p.headers["Content-Type"], params
        assert named in html.unescape(p.text), params
    # Bytes that are not UTF-8 are refused, not handed to PostgreSQL (a 503 then).
    for key in ("name", "worker", "q"):
        r = requests.get(f"{webapp.url}/api/tasks?{key}=%FF%FE", timeout=10)
        assert r.status_code == 400 and key in r.json()["error"], r.text
    # A well-formed cursor of a task that does not exist is a place in the order all the same.
    after = f"{int(T0.timestamp() * 1e6) + 1}_{uuid.uuid4()}"
    assert api_ids(webapp, name=sample["a"], after=after, sort="oldest") == sample["ids"][1:5]


# ------------------------------------------------------------------------------ keyset pages


def test_paging_250_tasks_by_100_visits_each_once_both_ways_while_new_tasks_arrive(
        migrated_stack, webapp):
    name = unique()
    # Five tasks share each created_at: ties are broken by id.
    rows = [dict(name=name, state="SUCCESS", args=[i],
                 created_at=T0 + datetime.timedelta(seconds=i // 5)) for i in range(250)]
    ids = insert_tasks(migrated_stack, rows)
    created = {i: r["created_at"] for i, r in zip(ids, rows)}
    order = newest_first(ids, created)

    # Forwards through the API, new tasks arriving after the first page.
    first = api_list(webapp, name=name, limit=100)
    assert first["previous"] is None and first["next"] is not None
    newer = insert_tasks(migrated_stack, [dict(name=name, state="PENDING",
                                               created_at=T0 + datetime.timedelta(days=1, seconds=i))
                                          for i in range(7)])
    seen, pages, cursor = [t["id"] for t in first["tasks"]], 1, first["next"]
    while cursor is not None:
        got = api_list(webapp, name=name, limit=100, after=cursor)
        assert got["previous"] == got["tasks"][0]["cursor"]
        seen += [t["id"] for t in got["tasks"]]
        cursor, pages = got["next"], pages + 1
    assert pages == 3 and seen == order  # the new tasks shifted nothing
    last = got

    # Backwards from the last page: the 250 once each, in order, after the 7 new ones.
    back, cursor = [t["id"] for t in last["tasks"]], last["previous"]
    while cursor is not None:
        got = api_list(webapp, name=name, limit=100, before=cursor)
        assert got["next"] == got["tasks"][-1]["cursor"]
        back = [t["id"] for t in got["tasks"]] + back
        cursor = got["previous"]
    assert back == list(reversed(newer)) + order

    # Oldest first, forwards: the same tasks the other way round, the new ones last.
    asc, cursor = [], None
    while True:
        got = api_list(webapp, name=name, limit=100, sort="oldest",
                       **({"after": cursor} if cursor else {}))
        asc += [t["id"] for t in got["tasks"]]
        if (cursor := got["next"]) is None:
            break
    assert asc == list(reversed(order)) + newer

    # The pages' links do the same, keeping the filters and the page size.
    start = f"/tasks?name={urllib.parse.quote(name)}&limit=100&created_before=2001-02-04"
    text = page(webapp, start)
    visited, hops = page_ids(text), 0
    assert link(text, "prev") is None and "First page" not in text
    while (nxt := link(text, "next")) is not None:
        assert "name=" + urllib.parse.quote(name) in nxt and "limit=100" in nxt
        assert "created_before=2001-02-04" in nxt
        text = page(webapp, nxt)
        assert "First page" in text
        visited += page_ids(text)
        hops += 1
    assert hops == 2 and visited == order
    backwards = page_ids(text)
    while (prv := link(text, "prev")) is not None:
        text = page(webapp, prv)
        backwards = page_ids(text) + backwards
    assert backwards == order


def test_by_run_time_slowest_and_fastest_first_page_through_the_tasks_that_ran(
        migrated_stack, webapp):
    """sort=slowest|fastest: the tasks with a run time (wall_s), ties by id, paged both ways
    with their own cursors (a time cursor is refused there); tasks that never ran are left
    out; the page's order select and links keep the sort."""
    name = unique()
    # Three tasks share each run time, and one never ran.
    rows = [dict(name=name, state="SUCCESS", wall_s=0.001 * (i // 3) + 0.0001,
                 created_at=T0 + datetime.timedelta(seconds=i)) for i in range(12)]
    rows.append(dict(name=name, state="PENDING", created_at=T0))
    ids = insert_tasks(migrated_stack, rows)
    wall = {i: r.get("wall_s") for i, r in zip(ids, rows)}
    ran = [i for i in ids if wall[i] is not None]
    slowest = sorted(ran, key=lambda i: (wall[i], uuid.UUID(i)), reverse=True)

    def walk(sort, **start):
        out, cursor = [], None
        while True:
            got = api_list(webapp, name=name, limit=5, sort=sort,
                           **({"after": cursor} if cursor else start))
            out += [t["id"] for t in got["tasks"]]
            if (cursor := got["next"]) is None:
                return out, got
    down, last = walk("slowest")
    assert down == slowest
    up, _ = walk("fastest")
    assert up == list(reversed(slowest))
    assert all(t["cursor"].startswith("w") for t in last["tasks"])
    # Backwards from the last page of slowest first.
    back, cursor = [t["id"] for t in last["tasks"]], last["previous"]
    while cursor is not None:
        got = api_list(webapp, name=name, limit=5, sort="slowest", before=cursor)
        back = [t["id"] for t in got["tasks"]] + back
        cursor = got["previous"]
    assert back == slowest

    # A cursor of the other kind of sort says so.
    time_cursor = api_list(webapp, name=name, limit=1)["tasks"][0]["cursor"]
    for sort, cursor in (("slowest", time_cursor), ("newest", last["tasks"][0]["cursor"]),
                         ("fastest", "w-1_" + str(uuid.uuid4())),
                         ("fastest", "wnan_" + str(uuid.uuid4()))):
        r = requests.get(f"{webapp.url}/api/tasks", timeout=10,
                         params=dict(name=name, sort=sort, after=cursor))
        assert r.status_code == 400 and "after" in r.json()["error"], (sort, cursor, r.text)

    # The page: the select says which order, and "Next page" keeps it.
    text = page(webapp, "/tasks", name=name, sort="slowest", limit=5)
    assert '<option value="slowest" selected>' in text
    assert page_ids(text) == slowest[:5]
    nxt = link(text, "next")
    assert "sort=slowest" in nxt
    assert page_ids(page(webapp, nxt)) == slowest[5:10]


# ------------------------------------------------------------------------------ a task's page


def test_a_task_page_shows_failure_timings_lineage_outputs_and_a_log_level_filter(
        migrated_stack, webapp):
    name = unique()
    parent, child_a, child_b = (str(uuid.uuid4()) for _ in range(3))
    tb = 'Traceback (most recent call last):\n  File "t.py", line 1\nValueError: <bad>'
    insert_tasks(migrated_stack, [
        dict(id=parent, name=name, state="SUCCESS", created_at=T0),
        dict(id=child_a, name=name, state="FAILURE", parent_id=parent, args=[1], kwargs={"k": 2},
             error="the value was <bad>", outcome="raised", retries=2,
             result={"exc_type": "ValueError", "exc_message": ["the value was <bad>"],
                     "exc_module": "builtins", "traceback": tb},
             created_at=T0 + datetime.timedelta(seconds=1),
             received_at=T0 + datetime.timedelta(seconds=3),
             started_at=T0 + datetime.timedelta(seconds=6),
             finished_at=T0 + datetime.timedelta(seconds=7, milliseconds=500), wall_s=1.234),
        dict(id=child_b, name=name, state="PENDING", parent_id=parent,
             created_at=T0 + datetime.timedelta(seconds=2)),
    ])
    room = unique("room").replace(".", "-")
    sql(migrated_stack, "INSERT INTO chat_messages (id, room, author, body, sent_at, task_id)"
        " VALUES (%s, %s, %s, %s, now(), %s)",
        (str(uuid.uuid4()), room, "ann", "hello <b>there</b>", child_a))
    sql(migrated_stack, "INSERT INTO task_logs (task_id, level, message) VALUES"
        " (%s, 'DEBUG', 'line debug'), (%s, 'INFO', 'line info'),"
        " (%s, 'WARN', 'line warn'), (%s, 'ERROR', 'line error')", (child_a,) * 4)

    text = page(webapp, f"/tasks/{child_a}")
    # The failure: Celery's exception type and message, and the traceback of its result.
    assert "<strong>ValueError</strong>: the value was &lt;bad&gt;" in text
    assert html.escape(tb, quote=True) in text
    # Durations, each saying how it is computed.
    for key, shown in (("queued", "2.000 s"), ("waited", "3.000 s"), ("ran", "1.234 s"),
                       ("total", "6.500 s")):
        assert re.search(rf'<dd data-duration="{key}">{re.escape(shown)} <span class="hint">',
                         text), key
    assert "received_at - created_at" in text and "wall_s" in text
    # Lineage: the parent as a link; the parent's page lists both children.
    assert f'<dd data-lineage="parent"><a class="id" href="/tasks/{parent}">{parent}</a>' in text
    parent_page = page(webapp, f"/tasks/{parent}")
    kids = parent_page[parent_page.index('data-lineage="children"'):]
    assert kids.index(child_b) < kids.index(child_a)  # newest first
    assert f'href="/tasks/{child_a}"' in kids and f'href="/tasks/{child_b}"' in kids
    # Edit and re-run opens the dashboard's form for this task.
    assert f'<a href="/?rerun={child_a}">Edit and re-run</a>' in text
    # Outputs: the chat message it stored, linking to its room.
    assert f'<a href="/chat/{room}">{room}</a>' in text and "hello &lt;b&gt;there" in text
    # Buttons: a FAILURE can be retried, not revoked; a PENDING one the other way round.
    assert f'action="/tasks/{child_a}/retry"' in text and "/revoke" not in text
    pending = page(webapp, f"/tasks/{child_b}")
    assert f'action="/tasks/{child_b}/revoke">' in pending
    assert re.search(rf'action="/tasks/{child_b}/retry" hidden>', pending)

    # The log, all of it, then from a level up (a GET form, any case).
    def log_lines(t):
        return re.findall(r"<pre>(line [a-z]+)</pre>", t)
    assert log_lines(text) == ["line debug", "line info", "line warn", "line error"]
    assert re.search(r'<form class="filter" method="get" action="/tasks/' + child_a + r'">'
                     r'<label>Level <select name="level">', text)
    assert log_lines(page(webapp, f"/tasks/{child_a}", level="WARN")) == ["line warn",
                                                                          "line error"]
    assert log_lines(page(webapp, f"/tasks/{child_a}", level="error")) == ["line error"]
    assert log_lines(page(webapp, f"/tasks/{child_a}", level="")) == log_lines(text)
    r = requests.get(f"{webapp.url}/tasks/{child_a}", params={"level": "LOUD"}, timeout=10)
    assert r.status_code == 400 and "level" in r.text
    quiet = page(webapp, f"/tasks/{parent}", level="ERROR")
    assert "No log lines." in quiet


# ------------------------------------------------------------------------------ retry, revoke


def idle_queue():
    return unique("tp_idle").replace(".", "_")


def message_headers(stack, queue):
    """Every message waiting in queue: {task id: headers} (taken off the queue)."""
    out = {}
    try:
        while (m := get_message(stack, queue)) is not None:
            out[m.headers["id"]] = m.headers
    except amqp.exceptions.NotFound:  # nothing was ever published to it
        pass
    return out


def test_revoke_and_retry_through_the_buttons_and_the_api(migrated_stack, webapp):
    queue = idle_queue()  # no worker consumes it: the tasks stay where the test puts them
    try:
        r = post_task(webapp, {"name": "demo.add", "args": [1, 2], "kwargs": {"x": "y"},
                               "queue": queue})
        assert r.status_code == 202, r.text
        old = r.json()["id"]

        # The revoke button: a form POST, then back to the task, now REVOKED.
        r = requests.post(f"{webapp.url}/tasks/{old}/revoke", allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == f"/tasks/{old}"
        assert sql(migrated_stack, "SELECT state FROM tasks WHERE id = %s", (old,)) == [
            ("REVOKED",)]
        text = page(webapp, f"/tasks/{old}")
        assert f'action="/tasks/{old}/retry">' in text and "/revoke" not in text

        # The retry button: a new task with the same name, args, kwargs and queue, whose
        # parent is the old one; 303 to its page.
        r = requests.post(f"{webapp.url}/tasks/{old}/retry", allow_redirects=False, timeout=10)
        assert r.status_code == 303, r.text
        new = re.fullmatch(f"/tasks/({UUID_RE})", r.headers["Location"]).group(1)
        assert new != old
        row = sql(migrated_stack, "SELECT name, args, kwargs, queue, parent_id::text, state"
                  " FROM tasks WHERE id = %s", (new,))
        assert row == [("demo.add", [1, 2], {"x": "y"}, queue, old, "PENDING")]
        # Both pages show the link between them.
        assert f'<dd data-lineage="parent"><a class="id" href="/tasks/{old}">' in page(
            webapp, f"/tasks/{new}")
        assert f'href="/tasks/{new}"' in page(webapp, f"/tasks/{old}").split(
            'data-lineage="children"')[1]

        # The API does the same: 202 with the new id.
        r = requests.post(f"{webapp.url}/api/tasks/{old}/retry", timeout=10)
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["parent_id"] == old and body["state"] == "PENDING" and body["confirmed"]
        assert r.headers["Location"] == f"/api/tasks/{body['id']}"
        assert requests.get(f"{webapp.url}/api/tasks/{body['id']}",
                            timeout=10).json()["parent_id"] == old

        # The messages carry Celery's parent_id header.
        headers = message_headers(migrated_stack, queue)
        assert headers[new]["parent_id"] == old and headers[body["id"]]["parent_id"] == old
        assert headers[old]["parent_id"] is None

        # A task that has not ended, or succeeded, is not retried: 409 with the reason.
        r = requests.post(f"{webapp.url}/api/tasks/{new}/retry", timeout=10)
        assert r.status_code == 409 and "PENDING" in r.json()["error"], r.text
        [done] = insert_tasks(migrated_stack, [dict(name="demo.add", state="SUCCESS")])
        r = requests.post(f"{webapp.url}/api/tasks/{done}/retry", timeout=10)
        assert r.status_code == 409 and "SUCCESS" in r.json()["error"], r.text
        assert "parent_id" in r.json()["error"]  # says how to run it again
        p = requests.post(f"{webapp.url}/tasks/{done}/retry", allow_redirects=False, timeout=10)
        assert p.status_code == 409 and "text/html" in p.headers["Content-Type"]
        assert "FAILURE or REVOKED" in p.text
        # Unknown and malformed ids.
        assert requests.post(f"{webapp.url}/api/tasks/{uuid.uuid4()}/retry",
                             timeout=10).status_code == 404
        assert requests.post(f"{webapp.url}/api/tasks/nope/retry", timeout=10).status_code == 400
        assert requests.post(f"{webapp.url}/tasks/nope/retry", allow_redirects=False,
                             timeout=10).status_code == 400
        assert requests.post(f"{webapp.url}/tasks/nope/revoke", allow_redirects=False,
                             timeout=10).status_code == 400
        # Nothing else was enqueued by the refusals.
        assert message_headers(migrated_stack, queue) == {}
        # A cross-site form cannot press the buttons.
        r = requests.post(f"{webapp.url}/tasks/{old}/retry", headers={
            "Origin": "https://evil.example"}, allow_redirects=False, timeout=10)
        assert r.status_code == 403
    finally:
        purge(migrated_stack, queue)


def test_post_api_tasks_takes_a_parent_id_of_an_existing_task_only(migrated_stack, webapp):
    queue = idle_queue()
    try:
        [parent] = insert_tasks(migrated_stack, [dict(name="demo.add", state="SUCCESS")])
        before = sql(migrated_stack, "SELECT count(*) FROM tasks")[0][0]
        for value, says in ((str(uuid.uuid4()), "there is no task"), ("not-a-uuid", "UUID"),
                            (42, "a number"), ([parent], "an array")):
            r = post_task(webapp, {"name": "demo.add", "queue": queue, "parent_id": value})
            assert r.status_code == 400, r.text
            assert "parent_id" in r.json()["error"] and says in r.json()["error"], r.text
        assert sql(migrated_stack, "SELECT count(*) FROM tasks")[0][0] == before
        assert message_headers(migrated_stack, queue) == {}

        r = post_task(webapp, {"name": "demo.add", "queue": queue, "parent_id": parent.upper()})
        assert r.status_code == 202, r.text
        child = r.json()["id"]
        assert sql(migrated_stack, "SELECT parent_id::text FROM tasks WHERE id = %s",
                   (child,)) == [(parent,)]
        headers = message_headers(migrated_stack, queue)[child]
        assert headers["parent_id"].lower() == parent and headers["root_id"] == child
        # null means none, as for the other optional fields.
        r = post_task(webapp, {"name": "demo.add", "queue": queue, "parent_id": None})
        assert r.status_code == 202, r.text
    finally:
        purge(migrated_stack, queue)


CELERY_SEND = r"""
import json, sys
from celery import Celery
app = Celery(broker=sys.argv[1])
app.conf.task_serializer = "json"
out = [app.send_task(n, args=a, parent_id=p, root_id=p).id
       for n, a, p in json.loads(sys.stdin.read())]
print(json.dumps(out))
"""


def test_the_parent_id_a_python_celery_client_sends_is_stored(migrated_stack, worker, webapp):
    [parent] = insert_tasks(migrated_stack, [dict(name="py.parent", state="SUCCESS")])
    stranger = str(uuid.uuid4())  # a parent celeriac never saw: kept all the same
    sends = [["demo.add", [1, 1], parent], ["demo.add", [2, 2], stranger],
             ["demo.add", [3, 3], "not a uuid"], ["demo.add", [4, 4], None]]
    out = subprocess.run(["/usr/bin/python3", "-c", CELERY_SEND, migrated_stack.amqp_url],
                         input=json.dumps(sends), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ids = json.loads(out.stdout)

    def done():
        rows = sql(migrated_stack, "SELECT id::text, state, parent_id::text, result FROM tasks"
                   " WHERE id = ANY(%s::uuid[])", (ids,))
        return rows if len(rows) == 4 and all(r[1] == "SUCCESS" for r in rows) else None
    rows = {r[0]: r for r in wait_until(done, 30, message="the Celery-sent tasks finish")}
    assert [rows[i][2] for i in ids] == [parent, stranger, None, None]
    assert [rows[i][3] for i in ids] == [2, 4, 6, 8]
    text = page(webapp, f"/tasks/{ids[0]}")
    assert f'<dd data-lineage="parent"><a class="id" href="/tasks/{parent}">' in text
    assert f'href="/tasks/{ids[0]}"' in page(webapp, f"/tasks/{parent}").split(
        'data-lineage="children"')[1]
    assert "(not known here)" in page(webapp, f"/tasks/{ids[1]}")


# ------------------------------------------------------------------------------ /workers


def test_workers_page_shows_a_running_worker_and_greys_a_stopped_one(migrated_stack, procs,
                                                                     webapp):
    gone_name = unique("gone") + "@host"
    live_name = unique("live") + "@host"
    gone = start_worker("--queues", "tp_q1,tp_q2", "-n", gone_name, concurrency=1,
                        starter=procs.start, name="gone-worker")
    live = start_worker("--queues", "celery,tp_q3", "-n", live_name, concurrency=2,
                        starter=procs.start, name="live-worker")

    def workers():
        return {w["hostname"]: w for w in requests.get(f"{webapp.url}/api/workers",
                                                       timeout=10).json()["workers"]}
    wait_until(lambda: workers().get(gone_name, {}).get("online"), 20,
               message="the worker to be stopped reported in")
    assert gone.terminate(15) == 0
    wait_until(lambda: workers()[gone_name]["online"] is False, 20,
               message="the stopped worker shows offline")

    # A running task shows on its worker's row (from the next heartbeat, every 5 s),
    # linking to its page.
    r = post_task(webapp, {"name": "demo.sleep", "args": [8]})
    assert r.status_code == 202, r.text
    sleeper = r.json()["id"]

    def row_of(text, hostname):
        m = re.search(r'<tr data-worker="' + re.escape(hostname) + r'"([^>]*)>(.*?)</tr>', text,
                      re.S)
        return m and (m.group(1), m.group(2))
    _, live_row = wait_until(
        lambda: (lambda t: t if t and f'href="/tasks/{sleeper}"' in t[1] else None)(
            row_of(page(webapp, "/workers"), live_name)), 20,
        message="the running task on the live worker's row")
    text = page(webapp, "/workers")
    attrs, gone_row = row_of(text, gone_name)
    assert 'class="offline"' in attrs and "<td>stopped</td>" in gone_row
    assert "tp_q1, tp_q2" in gone_row
    live_attrs, live_row = row_of(text, live_name)
    assert "offline" not in live_attrs and "<td>online</td>" in live_row
    assert "celery, tp_q3" in live_row and "<td>2</td>" in live_row and " MB</td>" in live_row
    assert re.search(r"<td>\d+ s ago</td>", live_row)
    # Online ones first, and the nav leads here from every page.
    assert text.index(live_name) < text.index(gone_name)
    assert '<a href="/workers">Workers</a>' in page(webapp, "/tasks")
    assert live.alive()
    assert live.terminate(15) == 0


# ------------------------------------------------------------------------------ escaping


def test_markup_in_args_names_and_worker_names_renders_as_text(migrated_stack, webapp):
    queue = idle_queue()
    try:
        evil = "<script>alert(1)</script>"
        r = post_task(webapp, {"name": "demo.add", "queue": queue, "args": [evil],
                               "kwargs": {"k": '"><img src=x onerror=alert(2)>'}})
        assert r.status_code == 202, r.text
        task_id = r.json()["id"]
        hostname = "<b>w</b>" + unique()
        sql(migrated_stack, "UPDATE tasks SET worker = %s, state = 'FAILURE', error = %s"
            " WHERE id = %s", (hostname, evil, task_id))
        sql(migrated_stack, "INSERT INTO workers (hostname, pid, concurrency, queues,"
            " active_tasks) VALUES (%s, 1, 1, ARRAY[%s], %s)",
            (hostname, evil, json.dumps([{"id": task_id, "name": evil, "running_s": 1}])))
        pages = [page(webapp, "/tasks", q="<script>", worker=hostname),
                 page(webapp, "/tasks", name=evil),
                 page(webapp, f"/tasks/{task_id}"), page(webapp, "/workers")]
        assert task_id in pages[0] and "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
        for text in pages:
            assert "<script>alert" not in text and "<img src=x" not in text
            assert "<b>w</b>" not in text
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in pages[1]
        assert "&lt;b&gt;w&lt;/b&gt;" in pages[3] and f'href="/tasks/{task_id}"' in pages[3]
        r = requests.get(f"{webapp.url}/api/tasks", params={"q": "<script>"}, timeout=10)
        assert any(t["id"] == task_id for t in r.json()["tasks"])
    finally:
        sql(migrated_stack, "DELETE FROM workers WHERE hostname LIKE '<b>w</b>%%'")
        purge(migrated_stack, queue)


# ------------------------------------------------------------------------------ live.js


LIVE_FILTERS_JS = r"""
// Three /tasks pages follow the stream while tasks are enqueued and revoked through the API:
// A (?name=N&limit=2) takes new tasks named N on top and pushes the oldest off, its next
// link following; B (?name=N&state=REVOKED) takes only tasks that become REVOKED; C (?q=N)
// takes none (text filters cannot be checked in the browser), only changes states in place.
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const { base, name, other, queue } = cfg;
const browser = await chromium.launch({ executablePath: cfg.chromium, headless: true,
                                         args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const errors = [];
const ids = (p) => p.$$eval('table[data-live-tasks] tr[data-task]',
                            (trs) => trs.map((tr) => tr.getAttribute('data-task')));
async function open(path) {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => errors.push(String(e)));
  const stream = page.waitForResponse((r) => r.url().includes('/api/events?topics=tasks'));
  await page.goto(base + path);
  if ((await stream).status() !== 200) throw new Error(`no stream for ${path}`);
  return page;
}
async function post(path, data) {
  const r = await fetch(base + path, { method: 'POST', body: data && JSON.stringify(data),
                                       headers: { 'Content-Type': 'application/json' } });
  if (r.status !== 202 && r.status !== 200) throw new Error(`${path}: ${r.status}`);
  return r.json();
}
const enqueue = async (n) => (await post('/api/tasks', { name: n, args: [name], queue })).id;
const until = (page, fn, arg) => page.waitForFunction(fn, arg, { polling: 50 });

const a = await open(`/tasks?name=${encodeURIComponent(name)}&limit=2`);
const b = await open(`/tasks?name=${encodeURIComponent(name)}&state=REVOKED`);
const c = await open(`/tasks?q=${encodeURIComponent(name)}`);
const out = { a0: await ids(a), b0: await ids(b), c0: await ids(c) };
out.other = await enqueue(other);
const t1 = await enqueue(name);
await until(a, (id) => !!document.querySelector(`tr[data-task="${id}"]`), t1);
out.a1 = await ids(a);
const t2 = await enqueue(name), t3 = await enqueue(name);
await until(a, ([x, y]) => {
  const next = document.getElementById('tasks-next');
  const rows = [...document.querySelectorAll('tr[data-task]')].map((tr) => tr.dataset.task);
  return rows.join() === [x, y].join() && !next.hidden && next.href.includes(y);
}, [t3, t2]);
out.a2 = await ids(a);
out.t = [t1, t2, t3];
await post(`/api/tasks/${t1}/revoke`);
await until(b, (id) => !!document.querySelector(`tr[data-task="${id}"]`), t1);
out.b1 = await ids(b);
await post(`/api/tasks/${out.c0[0]}/revoke`);
await until(c, (id) => document.querySelector(`tr[data-task="${id}"] .state-cell`)
                                .textContent.includes('REVOKED'), out.c0[0]);
out.c1 = await ids(c);
// Paging on from A: its next link was moved to its new last row.
out.pages = [];
let href = await a.$eval('#tasks-next', (l) => l.href);
while (href) {
  await a.goto(href);
  out.pages.push(await ids(a));
  href = await a.$eval('#tasks-next', (l) => (l.hidden ? null : l.href)).catch(() => null);
}
out.errors = errors;
console.log('RESULT ' + JSON.stringify(out));
await browser.close();
"""


def test_live_updates_respect_the_list_filters_in_a_browser(migrated_stack, webapp,
                                                           browser_ready):
    name, other, queue = unique(), unique(), idle_queue()
    old = insert_tasks(migrated_stack, [dict(name=name, state="PENDING", args=[name],
                                             created_at=T0 + datetime.timedelta(seconds=s))
                                        for s in (0, 1)])
    try:
        cfg = dict(base=webapp.url, name=name, other=other, queue=queue, chromium=CHROMIUM)
        r = subprocess.run(["node", "--input-type=module", "-", json.dumps(cfg)],
                           input=LIVE_FILTERS_JS, cwd=BROWSER_DIR, capture_output=True,
                           text=True, timeout=180)
        results = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        assert r.returncode == 0 and results, f"{r.stdout}{r.stderr}"
        got = json.loads(results[0][len("RESULT "):])
        o1, o2 = old
        t1, t2, t3 = got["t"]
        assert got["a0"] == [o2, o1] and got["b0"] == [] and got["c0"] == [o2, o1]
        # A: the other name never came in; each new one on top, the oldest pushed off.
        assert got["a1"] == [t1, o2] and got["a2"] == [t3, t2]
        # B: only the task that became REVOKED; C: nothing new, the state in place.
        assert got["b1"] == [t1]
        assert got["c1"] == [o2, o1]
        # From A's next link, every task once, in order.
        assert got["pages"] == [[t1, o2], [o1]]
        assert got["errors"] == []
    finally:
        purge(migrated_stack, queue)
