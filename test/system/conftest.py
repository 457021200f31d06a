"""Fixtures for the system tests (/usr/bin/python3 -m pytest test/system).

stack           session: private RabbitMQ + PostgreSQL (compose/local up --services-only on
                free ports, temporary VAR); migrated when bin/celeriac exists.
migrated_stack  session: the same stack, and bin/celeriac migrate must have succeeded.
durable_stack   module: a stack of its own, migrated, whose PostgreSQL keeps fsync and
                synchronous_commit on (no PG_FAST): for tests that restart or kill servers.
procs           per test: procs.start(argv, env=None, name=None) starts a program like
                harness.start_proc(); at the end of the test it is stopped and its log is
                checked for sanitizer reports.
start_proc      per test: procs.start itself.
durable_procs   per test: as procs, for programs run against durable_stack.
worker          per test: bin/celeriac-worker --concurrency 2, all children consuming.
webapp          per test: bin/celeriac-webapp on a free port answering /healthz; .url.
                (worker and webapp must exit 0 on SIGTERM at the end of the test.)
empty_database  per test: URL of a fresh empty database (no migrations), dropped after.

When tests failed, the session's logs are copied to test/artifacts/system-*/.
CELERIAC_KEEP_VAR=1 keeps the temporary VAR (servers are stopped all the same).
"""

import os
import shutil
import signal
import time
import uuid

import pytest

import harness


def _interrupt(signum, _frame):
    # Default SIGTERM/SIGHUP would end pytest without teardown and leak the servers;
    # KeyboardInterrupt makes pytest stop and run the fixtures' finalizers.
    raise KeyboardInterrupt(f"pytest got signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)


def _save_logs(stack, kind="system"):
    dest = harness.REPO / "test" / "artifacts" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        shutil.copytree(stack.log_dir, dest)
        return dest
    except OSError:
        return None


@pytest.fixture(scope="session")
def stack(request):
    s = harness.start_stack()
    try:
        harness.migrate(s, required=False)  # required by migrated_stack
        yield s
    finally:
        if request.session.testsfailed:
            saved = _save_logs(s)
            if saved:
                print(f"\nsystem test logs saved in {saved}")
        harness.stop_stack(s, keep_var=os.environ.get("CELERIAC_KEEP_VAR") == "1")


@pytest.fixture(scope="module")
def durable_stack(request):
    failed_before = request.session.testsfailed
    s = harness.start_stack(durable=True)
    try:
        harness.migrate(s, required=True)
        yield s
    finally:
        if request.session.testsfailed > failed_before:
            saved = _save_logs(s, f"durable-{request.module.__name__}")
            if saved:
                print(f"\ndurable stack logs saved in {saved}")
        harness.stop_stack(s, keep_var=os.environ.get("CELERIAC_KEEP_VAR") == "1")


@pytest.fixture(scope="session")
def migrated_stack(stack):
    if not stack.migrated:
        harness.migrate(stack, required=True)
    return stack


class Procs:
    """Programs started by one test, stopped when it ends."""

    def __init__(self):
        self.started = []

    def start(self, argv, env=None, name=None):
        p = harness.start_proc(argv, env, name)
        self.started.append(p)
        return p


def _procs_fixture():
    ps = Procs()
    yield ps
    for p in reversed(ps.started):
        p.stop()
    reports = []
    for p in ps.started:
        try:
            harness.assert_no_sanitizer_reports(p.log_text(), str(p.log_path))
        except AssertionError as e:
            reports.append(str(e))
    if reports:
        pytest.fail("\n\n".join(reports), pytrace=False)


@pytest.fixture
def procs(stack):
    yield from _procs_fixture()


@pytest.fixture
def durable_procs(durable_stack):
    yield from _procs_fixture()


@pytest.fixture
def start_proc(procs):
    """start_proc(argv, env=None, name=None): harness.start_proc, stopped when the test ends."""
    return procs.start


def _stop_cleanly(proc):
    # Still running at the end of the test: SIGTERM must end it gracefully (exit 0).
    if proc.poll() is None:
        status = proc.terminate(15)
        assert status == 0, f"{proc.name} exited with status {status} after SIGTERM"


@pytest.fixture
def worker(migrated_stack, procs):
    """bin/celeriac-worker --concurrency 2, consuming; stopped (expecting exit 0) after the test."""
    p = harness.start_worker(starter=procs.start)
    yield p
    _stop_cleanly(p)


@pytest.fixture
def webapp(migrated_stack, procs):
    """bin/celeriac-webapp on a free port, answering /healthz; .url is its base URL."""
    p = harness.start_webapp(starter=procs.start)
    yield p
    _stop_cleanly(p)


@pytest.fixture
def empty_database(stack):
    """The URL of a new, empty database owned by celeriac (dropped after the test)."""
    name = f"celeriac_empty_{uuid.uuid4().hex[:12]}"
    url = harness.create_database(stack, name)
    yield url
    harness.drop_database(stack, name)
