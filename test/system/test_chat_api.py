"""The chat, the webapp's side (issue 19): POST /api/chat/{room}/messages checks a
message and publishes it as a chat.persist task on the chat queue (a 400 publishes
nothing), GET /api/chat/{room}/messages and /api/chat/rooms read what chat.persist
stored, and the pages /chat and /chat/{room} (with its no-script form) render it
escaped. No worker runs: history rows are inserted with SQL, as chat.persist would.

Every test works in rooms of its own, so tests share the session's database without
seeing each other's rows; the chat queue is purged around the tests that publish."""
import html
import json
import re
import urllib.parse
import uuid

import pytest
import requests

from harness import (declare_queue, get_message, purge, query, queue_count,
                     start_webapp_with_down)

ISO_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(scope="module", autouse=True)
def chat_queue(stack):
    """The chat queue exists (declared as celeriac does) and is left empty: what these
    tests publish is never meant to run."""
    declare_queue(stack, "chat")
    purge(stack, "chat")
    yield
    purge(stack, "chat")


# ------------------------------------------------------------------------------ helpers


def new_room():
    return f"r{uuid.uuid4().hex[:12]}"


def post_msg(web, room, payload, raw=None, headers=None):
    data = raw if raw is not None else json.dumps(payload)
    return requests.post(f"{web.url}/api/chat/{room}/messages", data=data,
                         headers={"Content-Type": "application/json", **(headers or {})},
                         timeout=15)


def chat_tasks(stack):
    return query(stack, "SELECT count(*) FROM tasks WHERE name = 'chat.persist'")[0][0]


def add_message(stack, room, author="Ann", body="Hello", sent_at=None):
    """Insert one message as chat.persist would; returns (id, seq)."""
    mid = str(uuid.uuid4())
    rows = query(stack, "INSERT INTO chat_messages (id, room, author, body, sent_at)"
                        " VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now()))"
                        " RETURNING seq", (mid, room, author, body, sent_at))
    return mid, rows[0][0]


def history(web, room, **params):
    return requests.get(f"{web.url}/api/chat/{room}/messages", params=params, timeout=10)


# ------------------------------------------------------------------------------ POST: refused


LONG_AUTHOR = "\u00e9" * 65      # 65 characters, 130 bytes
LONG_BODY = "x" * 4001
EMOJI_4001 = "\U0001F600" * 4001


@pytest.mark.parametrize("room,raw,words", [
    ("bad.room", '{"author": "Ann", "body": "hi"}', "invalid room"),
    ("x" * 65, '{"author": "Ann", "body": "hi"}', "invalid room"),
    ("caf%C3%A9", '{"author": "Ann", "body": "hi"}', "invalid room"),
    (None, "", "request body is empty"),
    (None, '{"author": "Ann", "body": "hi"', "not valid JSON"),
    (None, '{"author": "Ann", "body": "hi"} x', "not valid JSON"),
    (None, '["Ann", "hi"]', "must be a JSON object"),
    (None, '{"body": "hi"}', "'author' is required"),
    (None, '{"author": "Ann"}', "'body' is required"),
    (None, '{"author": "", "body": "hi"}', "'author' is empty"),
    (None, '{"author": "Ann", "body": ""}', "'body' is empty"),
    (None, '{"author": "Ann", "body": " \\n\\t "}', "'body' is only whitespace"),
    (None, '{"author": "   ", "body": "hi"}', "'author' is only whitespace"),
    (None, json.dumps({"author": LONG_AUTHOR, "body": "hi"}), "'author' is too long"),
    (None, json.dumps({"author": "Ann", "body": LONG_BODY}), "'body' is too long"),
    (None, json.dumps({"author": "Ann", "body": EMOJI_4001}), "4001 characters"),
    (None, '{"author": 7, "body": "hi"}', "'author' must be a string"),
    (None, '{"author": "Ann", "body": null}', "'body' must be a string"),
    (None, '{"author": "Ann", "body": "a\\u0000b"}', "NUL"),
    (None, '{"author": "Ann", "body": "hi", "room": "x"}', "unknown field 'room'"),
    (None, '{"author": "Ann", "body": "hi", "body": "ho"}', "'body' appears more than once"),
    (None, '{"author": "Ann", "body": "\\ud800"}', "not valid JSON"),
])
def test_bad_messages_get_a_400_naming_the_problem_and_publish_nothing(stack, webapp, room, raw,
                                                                       words):
    purge(stack, "chat")
    before = chat_tasks(stack)
    r = post_msg(webapp, room or new_room(), None, raw=raw)
    assert r.status_code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert words in r.json()["error"], r.json()["error"]
    assert queue_count(stack, "chat") == 0
    assert chat_tasks(stack) == before


@pytest.mark.parametrize("raw", [
    b'{"author": "Ann", "body": "caf\xe9"}',            # Latin-1, not UTF-8
    b'{"author": "\xc0\xaf", "body": "hi"}',            # an overlong
    b'{"author": "Ann", "body": "\xed\xa0\x80"}',       # a surrogate
])
def test_invalid_utf8_gets_a_400_and_publishes_nothing(stack, webapp, raw):
    purge(stack, "chat")
    before = chat_tasks(stack)
    r = post_msg(webapp, new_room(), None, raw=raw)
    assert r.status_code == 400
    assert "UTF-8" in r.json()["error"]
    assert queue_count(stack, "chat") == 0
    assert chat_tasks(stack) == before


def test_a_raw_nul_byte_is_refused_rather_than_cutting_the_message(stack, webapp):
    purge(stack, "chat")
    r = post_msg(webapp, new_room(), None, raw=b'{"author": "Ann", "body": "a\x00b"}')
    assert r.status_code == 400
    assert "NUL" in r.json()["error"]
    assert queue_count(stack, "chat") == 0


def test_a_cross_site_post_is_refused(stack, webapp):
    purge(stack, "chat")
    r = post_msg(webapp, new_room(), {"author": "Ann", "body": "hi"},
                 headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = requests.post(f"{webapp.url}/chat/{new_room()}", data={"author": "Ann", "body": "hi"},
                      headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert queue_count(stack, "chat") == 0


# ------------------------------------------------------------------------------ POST: accepted


def test_a_message_is_published_as_chat_persist_and_answered_202(stack, webapp):
    purge(stack, "chat")
    room = new_room()
    body = "  Hello <b>world</b> & caf\u00e9 \U0001F600\n  second line  "
    r = post_msg(webapp, room, {"author": " Ann ", "body": body}, headers={"Origin": webapp.url})
    assert r.status_code == 202, r.text
    out = r.json()
    assert set(out) == {"id", "room", "sent_at", "task_id", "confirmed"}
    assert out["room"] == room and out["confirmed"] is True
    assert re.fullmatch(ISO_MS, out["sent_at"]), out["sent_at"]
    uuid.UUID(out["id"])
    uuid.UUID(out["task_id"])
    assert out["id"] != out["task_id"]
    assert r.headers["Location"] == f"/api/tasks/{out['task_id']}"

    assert queue_count(stack, "chat") == 1
    msg = get_message(stack, "chat")
    assert msg.headers["task"] == "chat.persist"
    assert msg.headers["id"] == out["task_id"]
    args, kwargs, _embed = msg.json()
    assert args == []
    # Kept as sent: nothing trimmed.
    assert kwargs == {"id": out["id"], "room": room, "author": " Ann ", "body": body,
                      "sent_at": out["sent_at"]}
    row = query(stack, "SELECT name, queue, state FROM tasks WHERE id = %s", (out["task_id"],))
    assert row == [("chat.persist", "chat", "PENDING")]


def test_the_longest_message_and_author_are_accepted(stack, webapp):
    purge(stack, "chat")
    author, body = "\u00e9" * 64, "\U0001F600" * 4000
    r = post_msg(webapp, "x" * 64, {"author": author, "body": body})
    assert r.status_code == 202, r.text
    _args, kwargs, _embed = get_message(stack, "chat").json()
    assert kwargs["author"] == author and kwargs["body"] == body


@pytest.mark.parametrize("down", ["broker", "database"])
def test_503_when_the_broker_or_the_database_is_down(stack, start_proc, down):
    purge(stack, "chat")
    proc = start_webapp_with_down(stack, down, name=f"webapp-chat-no-{down}",
                                  starter=start_proc)
    url = proc.url
    before = chat_tasks(stack)
    room = new_room()
    r = requests.post(f"{url}/api/chat/{room}/messages", json={"author": "Ann", "body": "hi"},
                      timeout=30)
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After")
    assert down in r.json()["error"].lower()
    assert chat_tasks(stack) == before
    assert queue_count(stack, "chat") == 0
    # A form post says so on the room's page.
    r = requests.post(f"{url}/chat/{room}", data={"author": "Ann", "body": "hi"},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 503
    if down == "database":
        r = requests.get(f"{url}/api/chat/{room}/messages", timeout=30)
        assert r.status_code == 503 and "database" in r.json()["error"]
    assert proc.terminate(timeout=15) == 0


# ------------------------------------------------------------------------------ history


def test_history_is_in_seq_order_after_a_seq_and_the_latest_by_default(stack, webapp):
    room, other = new_room(), new_room()
    sent = [add_message(stack, room, author=f"a{i}", body=f"m{i}") for i in range(7)]
    sent_elsewhere, _ = add_message(stack, other, body="elsewhere")
    seqs = [s for _id, s in sent]

    r = history(webapp, room)
    assert r.status_code == 200
    out = r.json()
    assert out["room"] == room
    assert [m["seq"] for m in out["messages"]] == seqs
    first = out["messages"][0]
    assert set(first) == {"id", "seq", "room", "author", "body", "sent_at", "persisted_at",
                          "task_id"}
    assert first["id"] == sent[0][0] and first["room"] == room
    assert first["author"] == "a0" and first["body"] == "m0"
    assert re.fullmatch(ISO_MS, first["sent_at"]) and re.fullmatch(ISO_MS, first["persisted_at"])

    # Without after: the latest `limit`, still oldest first.
    assert [m["seq"] for m in history(webapp, room, limit=3).json()["messages"]] == seqs[-3:]
    # With after: the first `limit` after it.
    assert [m["seq"] for m in history(webapp, room, after=seqs[1]).json()["messages"]] == seqs[2:]
    assert [m["seq"] for m in history(webapp, room, after=seqs[1], limit=2).json()["messages"]] \
        == seqs[2:4]
    assert [m["seq"] for m in history(webapp, room, after=0, limit=2).json()["messages"]] == \
        seqs[:2]
    assert history(webapp, room, after=seqs[-1]).json() == {"messages": [], "room": room}
    assert history(webapp, new_room()).json()["messages"] == []
    # after a message's id: the same as after its seq.
    assert [m["seq"] for m in history(webapp, room, after=sent[4][0]).json()["messages"]] == \
        seqs[5:]
    assert [m["seq"] for m in history(webapp, room, after=sent[4][0].upper(),
                                      limit=1).json()["messages"]] == seqs[5:6]
    # An id of another room's message, or of none stored: a 404 that says so.
    for unknown in (sent_elsewhere, str(uuid.uuid4())):
        r = history(webapp, room, after=unknown)
        assert r.status_code == 404 and "no message" in r.json()["error"], r.text


def test_sent_at_reads_back_as_it_was_sent(stack, webapp):
    room = new_room()
    add_message(stack, room, sent_at="2026-11-30T10:00:00.123Z")
    assert history(webapp, room).json()["messages"][0]["sent_at"] == "2026-11-30T10:00:00.123Z"


@pytest.mark.parametrize("params,word", [
    ({"after": "-1"}, "after"), ({"after": "x"}, "after"), ({"after": "1.5"}, "after"),
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
])
def test_bad_history_parameters_get_a_400_naming_them(webapp, params, word):
    r = history(webapp, new_room(), **params)
    assert r.status_code == 400
    assert word in r.json()["error"]


def test_history_of_an_invalid_room_is_a_400(webapp):
    assert history(webapp, "bad.room").status_code == 400
    assert "invalid room" in history(webapp, "x" * 65).json()["error"]


def test_rooms_are_listed_with_counts_and_last_activity(stack, webapp):
    quiet, busy = new_room(), new_room()
    add_message(stack, quiet, sent_at="2026-01-01T00:00:00.000Z")
    for i in range(3):
        add_message(stack, busy, body=f"m{i}", sent_at=f"2026-01-02T00:00:0{i}.500Z")
    for path in ("/api/chat/rooms", "/api/chat"):
        r = requests.get(webapp.url + path, timeout=10)
        assert r.status_code == 200
        rooms = r.json()["rooms"]
        by_name = {x["room"]: x for x in rooms}
        assert by_name[busy]["count"] == 3
        assert by_name[busy]["last_sent_at"] == "2026-01-02T00:00:02.500Z"
        assert by_name[quiet]["count"] == 1
        names = [x["room"] for x in rooms]
        assert names.index(busy) < names.index(quiet)  # most recently active first


# ------------------------------------------------------------------------------ pages


HOSTILE = "<script>alert('x')</script> & \"quotes\""


def test_the_rooms_page_lists_rooms_escaped_with_links(stack, webapp):
    room = new_room()
    add_message(stack, room, author=HOSTILE, body=HOSTILE)
    add_message(stack, room)
    r = requests.get(f"{webapp.url}/chat", timeout=10)
    assert r.status_code == 200
    page = r.text
    assert f'<a href="/chat/{room}">{room}</a>' in page
    assert re.search(rf"{room}</a></td><td>2</td>", page)
    assert '<a href="/chat">Chat</a>' in page  # the nav
    assert 'action="/chat"' in page
    assert "<script" not in page


def test_the_open_form_goes_to_the_room_or_names_the_problem(webapp):
    r = requests.get(f"{webapp.url}/chat", params={"room": "general-1"}, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/chat/general-1"
    r = requests.get(f"{webapp.url}/chat", params={"room": "<b>no</b>"}, timeout=10)
    assert r.status_code == 400
    assert "Invalid room name" in r.text
    assert "<b>no</b>" not in r.text and "&lt;b&gt;no&lt;/b&gt;" in r.text


def test_the_room_page_shows_the_latest_100_oldest_first_escaped(stack, webapp):
    room = new_room()
    query(stack, "INSERT INTO chat_messages (id, room, author, body, sent_at)"
                 " SELECT gen_random_uuid(), %s, 'bot', 'n' || i, now() FROM generate_series(1, 104) i",
          (room,))
    add_message(stack, room, author=HOSTILE, body=HOSTILE + "\nline two")
    r = requests.get(f"{webapp.url}/chat/{room}", timeout=10)
    assert r.status_code == 200
    page = r.text
    bodies = re.findall(r'<div class="body">(.*?)</div>', page, re.S)
    assert len(bodies) == 100
    assert bodies[:3] == ["n6", "n7", "n8"] and bodies[-2] == "n104"
    assert bodies[-1] == html.escape(HOSTILE + "\nline two", quote=True).replace("&#x27;",
                                                                                  "&#39;")
    seqs = [int(s) for s in re.findall(r'data-seq="(\d+)"', page)]
    assert seqs == sorted(seqs)
    assert "<script>alert" not in page
    assert f'data-room="{room}"' in page
    assert f'action="/chat/{room}"' in page
    assert '<script src="/static/chat.js"></script>' in page
    # The page may run its own script and reach the API and the stream; nothing inline.
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_an_empty_room_page_invites_the_first_message(webapp):
    r = requests.get(f"{webapp.url}/chat/{new_room()}", timeout=10)
    assert r.status_code == 200
    assert "No messages yet" in r.text
    assert requests.get(f"{webapp.url}/chat/bad.room", timeout=10).status_code == 400


def test_the_script_is_served_and_uses_no_inner_html(webapp):
    r = requests.get(f"{webapp.url}/static/chat.js", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    js = r.text
    assert "new EventSource('/api/events?topics=chat:' + room)" in js
    assert "addEventListener('chat'" in js
    assert "innerHTML" not in js and "textContent" in js
    css = requests.get(f"{webapp.url}/static/chat.css", timeout=10)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_the_form_publishes_and_redirects_back_to_the_room(stack, webapp):
    purge(stack, "chat")
    room = new_room()
    r = requests.post(f"{webapp.url}/chat/{room}",
                      data={"author": "B\u00e9a", "body": "from a form\r\nwith <two> lines"},
                      headers={"Origin": webapp.url}, allow_redirects=False, timeout=15)
    assert r.status_code == 303, r.text
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.path == f"/chat/{room}"
    q = urllib.parse.parse_qs(loc.query)
    assert q["author"] == ["B\u00e9a"]
    _args, kwargs, _embed = get_message(stack, "chat").json()
    assert kwargs["id"] == q["sent"][0]
    assert kwargs["author"] == "B\u00e9a" and kwargs["body"] == "from a form\r\nwith <two> lines"
    # Back in the room: the name is kept, the message noted until it is stored.
    page = requests.get(webapp.url + r.headers["Location"], timeout=10).text
    assert 'value="B\u00e9a"' in page and "Your message was sent" in page


@pytest.mark.parametrize("fields,word", [
    ({"author": "Ann", "body": "   "}, "'body' is only whitespace"),
    ({"author": "Ann"}, "'body' is required"),
    ({"author": "", "body": "hi"}, "'author' is empty"),
    ({"author": "Ann", "body": "x" * 4001}, "'body' is too long"),
    ({"author": "Ann", "body": "a\x00b"}, "NUL"),
])
def test_a_bad_form_shows_the_room_again_with_the_error_and_publishes_nothing(stack, webapp,
                                                                            fields, word):
    purge(stack, "chat")
    before = chat_tasks(stack)
    room = new_room()
    r = requests.post(f"{webapp.url}/chat/{room}", data=fields, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert html.escape(word, quote=True).replace("&#x27;", "&#39;") in r.text
    if fields.get("author"):
        assert f'value="{fields["author"]}"' in r.text
    assert queue_count(stack, "chat") == 0
    assert chat_tasks(stack) == before


def test_a_form_in_latin1_is_refused_as_invalid_utf8(stack, webapp):
    purge(stack, "chat")
    r = requests.post(f"{webapp.url}/chat/{new_room()}", data=b"author=Ann&body=caf%E9",
                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert "not valid UTF-8" in r.text
    assert queue_count(stack, "chat") == 0
