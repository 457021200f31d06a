"""Chat persistence (issue 19), the worker's side: chat.persist tasks sent as the webapp (or
any Celery client) sends them, stored once each by a real worker, in a stable order."""
import json
import subprocess
import threading
import uuid
from datetime import datetime, timezone

import pytest
import requests

from harness import db, publish_raw, queue_count, start_webapp, start_worker, wait_until
from test_worker import wait_final


def celery_send(stack, sends, queue="chat"):
    """Send chat.persist tasks to queue with Debian's python3-celery, as any Celery client
    can; returns their ids. sends: list of (name, args, kwargs)."""
    script = r"""
import json, sys
from celery import Celery
app = Celery(broker=sys.argv[1])
ids = [app.send_task(n, args=a, kwargs=k, queue=sys.argv[2]).id
       for n, a, k in json.loads(sys.stdin.read())]
print(json.dumps(ids))
"""
    out = subprocess.run(["/usr/bin/python3", "-c", script, stack.amqp_url, queue],
                         input=json.dumps(sends), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def chat_worker(migrated_stack):
    p = start_worker("--queues", "chat", env=migrated_stack.env(), concurrency=2,
                     name="chat-worker")
    yield p
    assert p.terminate(15) == 0


def message(room, n, author="ann"):
    return {"id": str(uuid.uuid4()), "room": room, "author": author, "body": f"message {n}",
            "sent_at": datetime.now(timezone.utc).isoformat()}


def room_rows(stack, room):
    with db(stack).cursor() as cur:
        cur.execute("SELECT id::text, seq, author, body FROM chat_messages WHERE room = %s"
                    " ORDER BY seq", (room,))
        return cur.fetchall()


def test_500_messages_from_5_senders_are_stored_once_each_in_a_stable_order(migrated_stack,
                                                                           chat_worker):
    """Through the gateway: 5 senders POST 100 messages each to one room at once."""
    web = start_webapp(env=migrated_stack.env(), name="chat-webapp")
    room = f"r{uuid.uuid4().hex[:8]}"
    accepted, errors = {}, []

    def send(sender):
        with requests.Session() as http:
            for n in range(100):
                r = http.post(f"{web.url}/api/chat/{room}/messages", timeout=30,
                              json={"author": sender, "body": f"{sender} says {n}"})
                if r.status_code != 202:
                    errors.append(r.text)
                    return
                accepted[r.json()["id"]] = (sender, n)
    threads = [threading.Thread(target=send, args=(f"sender{s}",)) for s in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(accepted) == 500
    try:
        wait_until(lambda: len(room_rows(migrated_stack, room)) == 500, 60,
                   message="not every message was stored")
        rows = room_rows(migrated_stack, room)
        assert {r[0] for r in rows} == set(accepted), "a message stored twice or not at all"
        # The persisted order (two children commit their batches in turn, so it need not
        # be each sender's order) is the one every reader sees, again and again.
        assert room_rows(migrated_stack, room) == rows
        history = requests.get(f"{web.url}/api/chat/{room}/messages?after=0&limit=500",
                               timeout=10).json()["messages"]
        assert [m["id"] for m in history] == [r[0] for r in rows]
        # Each message names the chat.persist task that stored it; the room page links it.
        with db(migrated_stack).cursor() as cur:
            cur.execute("SELECT m.id::text, t.id::text FROM chat_messages m JOIN tasks t"
                        " ON t.id = m.task_id AND t.name = 'chat.persist' WHERE m.room = %s",
                        (room,))
            stored_by = dict(cur.fetchall())
        assert {m["id"]: m["task_id"] for m in history} == stored_by
        page = requests.get(f"{web.url}/chat/{room}", timeout=10).text
        assert f'href="/tasks/{history[-1]["task_id"]}"' in page
    finally:
        assert web.terminate(15) == 0


def test_a_redelivered_or_resent_message_adds_nothing(migrated_stack, chat_worker):
    room = f"r{uuid.uuid4().hex[:8]}"
    m = message(room, 1)
    [task_id] = celery_send(migrated_stack, [["chat.persist", [], m]])
    first = wait_final(migrated_stack, task_id)
    assert first["state"] == "SUCCESS", first
    # The same message again: the same task (a redelivery after a lost ack) ...
    for _ in range(2):
        publish_raw(migrated_stack, "chat", json.dumps([[], m, {}]).encode(),
                    headers={"task": "chat.persist", "id": task_id},
                    properties={"correlation_id": task_id, "content_type": "application/json",
                                "content_encoding": "utf-8"})
    # ... and a new task carrying the same message id (a client sending it twice).
    [again] = celery_send(migrated_stack, [["chat.persist", [], m]])
    row = wait_final(migrated_stack, again)
    assert row["state"] == "SUCCESS" and row["result"]["duplicate"] is True
    assert row["result"]["seq"] == first["result"]["seq"]
    wait_until(lambda: queue_count(migrated_stack, "chat") == 0, 20, message="chat not drained")
    assert len(room_rows(migrated_stack, room)) == 1


def test_a_batch_writes_its_messages_together_and_a_bad_one_fails_alone(migrated_stack):
    """30 messages waiting before a one-child worker starts: they are written by a few
    batch statements (one transaction each), not one by one; the one with a sent_at no
    calendar has fails alone, and a second task carrying an earlier message's id in the
    same batch stores nothing and answers that seq."""
    room, queue = f"r{uuid.uuid4().hex[:8]}", f"chat-batch-{uuid.uuid4().hex[:6]}"
    msgs = [message(room, n) for n in range(30)]
    msgs[10]["sent_at"] = "2026-02-29T10:00:00Z"  # not a leap year
    msgs[20] = dict(msgs[5], body="the same id again")
    msgs[1]["sent_at"] = "2026-11-30T10:00:00"  # no offset: UTC, as Celery sends times
    msgs[2]["sent_at"] = "2026-11-30 10:00:00.5+05:30"
    ids = celery_send(migrated_stack, [["chat.persist", [], m] for m in msgs], queue=queue)
    # PGTZ: the worker's sessions are not in UTC, and a time without offset stays UTC.
    w = start_worker("--queues", queue, env=migrated_stack.env(PGTZ="America/New_York"),
                     concurrency=1, name="chat-batch-worker")
    try:
        rows = [wait_final(migrated_stack, i) for i in ids]
    finally:
        assert w.terminate(15) == 0
    bad, dup = rows[10], rows[20]
    assert bad["state"] == "FAILURE" and "timestamp" in bad["error"], bad
    assert dup["state"] == "SUCCESS" and dup["result"]["duplicate"] is True, dup
    assert dup["result"]["seq"] == rows[5]["result"]["seq"]
    good = [i for i in range(30) if i not in (10, 20)]
    assert all(rows[i]["state"] == "SUCCESS" and "duplicate" not in rows[i]["result"]
               for i in good), [rows[i] for i in good]
    stored = room_rows(migrated_stack, room)
    # One child: the persisted order is the delivery order, each seq the one its task says.
    assert [r[0] for r in stored] == [msgs[i]["id"] for i in good]
    assert [r[1] for r in stored] == [rows[i]["result"]["seq"] for i in good]
    assert stored[5][3] == "message 5"
    with db(migrated_stack).cursor() as cur:
        cur.execute("SELECT count(DISTINCT persisted_at) FROM chat_messages WHERE room = %s",
                    (room,))
        transactions = cur.fetchone()[0]
        cur.execute("SELECT message FROM task_logs WHERE task_id = %s", (ids[20],))
        dup_log = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS')"
                    " FROM chat_messages WHERE id = ANY(%s::uuid[]) ORDER BY seq",
                    ([msgs[1]["id"], msgs[2]["id"]],))
        sent = [r[0] for r in cur.fetchall()]
    assert sent == ["2026-11-30 10:00:00.000", "2026-11-30 04:30:00.500"]
    assert transactions < 10, f"{transactions} transactions for 28 messages: not batched"
    assert any("stored already" in line for line in dup_log), dup_log


@pytest.mark.parametrize("field,value,error", ids=["room-space", "room-65", "author-empty",
                                                   "author-65", "body-blank", "body-4001",
                                                   "id", "sent_at", "sent_at-nov-31",
                                                   "sent_at-comma"], argvalues=[
    ("room", "no spaces", "room must be"),
    ("room", "x" * 65, "room must be"),
    ("author", "", "author must be"),
    ("author", "é" * 65, "author must be"),
    ("body", "   ", "body must be"),
    ("body", "b" * 4001, "body must be"),
    ("id", "not-a-uuid", "id must be a UUID"),
    ("sent_at", "not a time", "timestamp"),
    ("sent_at", "2026-11-31T10:00:00Z", "timestamp"),
    ("sent_at", "2026-11-30T10:00:00,5Z", "timestamp"),
])
def test_invalid_messages_sent_directly_fail_and_store_nothing(migrated_stack, chat_worker,
                                                               field, value, error):
    room = f"r{uuid.uuid4().hex[:8]}"
    m = message(room, 1)
    m[field] = value
    [task_id] = celery_send(migrated_stack, [["chat.persist", [], m]])
    row = wait_final(migrated_stack, task_id)
    assert row["state"] == "FAILURE", row
    assert error in row["error"], row["error"]
    with db(migrated_stack).cursor() as cur:
        cur.execute("SELECT count(*) FROM chat_messages WHERE id::text = %s", (m["id"],))
        assert cur.fetchone()[0] == 0


def test_a_4000_character_body_of_multibyte_characters_is_stored(migrated_stack, chat_worker):
    room = f"r{uuid.uuid4().hex[:8]}"
    m = message(room, 1)
    m["body"] = "é" * 4000  # 8,000 bytes, 4,000 characters
    [task_id] = celery_send(migrated_stack, [["chat.persist", [], m]])
    assert wait_final(migrated_stack, task_id)["state"] == "SUCCESS"
    assert room_rows(migrated_stack, room)[0][3] == m["body"]
