"""Smoke tests of the system-test harness itself: the private servers answer, helpers work."""

import os
import socket
import uuid

import psycopg2
import pytest

import harness


def test_rabbitmq_takes_and_returns_a_persistent_message(stack):
    queue = f"harness-{uuid.uuid4()}"
    harness.publish_raw(stack, queue, b'[[2, 3], {}, {}]', headers={"task": "t.add", "retries": 0},
                        properties={"content_type": "application/json",
                                    "content_encoding": "utf-8", "correlation_id": "c-1"})
    assert harness.wait_until(lambda: harness.queue_count(stack, queue) == 1, 5)

    got = harness.get_message(stack, queue)

    body, headers = got
    assert (body, headers) == (got.body, got.headers)
    assert got.body == b'[[2, 3], {}, {}]'
    assert got.json() == [[2, 3], {}, {}]
    assert got.headers == {"task": "t.add", "retries": 0}
    assert got.properties["correlation_id"] == "c-1"
    assert got.properties["delivery_mode"] == 2
    assert got.routing_key == queue
    assert harness.get_message(stack, queue) is None
    assert harness.queue_count(stack, queue) == 0


def test_purge_empties_a_queue_and_ignores_a_missing_one(stack):
    queue = f"harness-{uuid.uuid4()}"
    for i in range(3):
        harness.publish_raw(stack, queue, str(i))
    assert harness.purge(stack, queue) == 3
    assert harness.queue_count(stack, queue) == 0
    assert harness.purge(stack, f"missing-{uuid.uuid4()}") == 0


def test_postgres_answers_as_celeriac_on_its_own_database(stack):
    assert harness.query(stack, "SELECT 1") == [(1,)]
    assert harness.query(stack, "SELECT current_user, current_database()") == [("celeriac", "celeriac")]


def test_empty_database_is_fresh_and_reachable_as_celeriac(empty_database):
    conn = psycopg2.connect(empty_database, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, count(*) FROM pg_tables WHERE schemaname = 'public'"
                        " GROUP BY 1")
            assert cur.fetchall() == []
            cur.execute("CREATE TABLE t (x int)")  # celeriac owns it
    finally:
        conn.close()


def test_the_stack_is_private(stack):
    assert stack.amqp_port != 5672 and stack.pg_port != 5432
    status = stack.compose("status").stdout
    assert f"amqp://127.0.0.1:{stack.amqp_port}" in status
    assert f"127.0.0.1:{stack.pg_port}" in status


def test_a_started_process_logs_and_reports_its_exit_status(procs):
    p = procs.start(["/bin/sh", "-c", "trap 'echo bye; exit 3' TERM; echo hello;"
                     " while :; do sleep 0.05; done"], name="shell")
    p.wait_for_log("hello", 5)
    assert p.terminate(5) == 3
    assert "bye" in p.log_text()
    assert p.log_path.parent == harness._current_stack.log_dir


def test_stop_ends_what_a_killed_process_left_in_its_group(procs):
    p = procs.start(["/bin/sh", "-c", "sleep 300 & echo forked=$!; wait"], name="parent")
    p.wait_for_log("forked=", 5)
    child = int(p.log_text().split("forked=")[1].split()[0])
    assert p.kill() == -9
    assert harness.pid_alive(child)  # the child outlives its parent, as a worker's children would
    p.stop()
    harness.wait_until(lambda: not harness.pid_alive(child), 5, message="the orphaned child is gone")


def test_sanitizer_reports_are_caught():
    harness.assert_no_sanitizer_reports("all good\n")
    for report in ("==42==ERROR: AddressSanitizer: heap-use-after-free on address",
                   "==42==ERROR: LeakSanitizer: detected memory leaks",
                   "worker/child.c:10:5: runtime error: signed integer overflow"):
        with pytest.raises(AssertionError, match="sanitizer report"):
            harness.assert_no_sanitizer_reports("before\n" + report + "\nafter\n")


def test_wait_until_returns_the_value_or_says_what_it_waited_for():
    assert harness.wait_until(lambda: 42, 1) == 42
    assert harness.wait_until(lambda: 0, 1) == 0  # only None and False mean "not yet"
    with pytest.raises(AssertionError, match="the impossible.*last value: False"):
        harness.wait_until(lambda: False, 0.2, message="the impossible")
    with pytest.raises(AssertionError, match="last error: ConnectionRefusedError"):
        harness.wait_until(lambda: socket.create_connection(("127.0.0.1", harness.free_port())),
                           0.2)


def test_rabbitmq_runs_with_its_working_directory_under_var(stack):
    """Erlang drops MnesiaCore.* and erl_crash.dump into its working directory when the node
    crashes: that must be under VAR, never the checkout."""
    beams = [pid for pid, cmd in harness.processes_mentioning(str(stack.var / "rabbitmq"))
             if "beam" in cmd]
    assert beams, "no RabbitMQ (beam) process found for this stack"
    for pid in beams:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        assert cwd.startswith(str(stack.var)), cwd
