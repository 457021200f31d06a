"""Live updates in a real browser (issue 19): test/browser/live.mjs drives Debian's headless
Chromium (/usr/bin/chromium) with playwright-core against a webapp and a worker, then the
database is checked for what the pages did.

Needs node, npm and chromium (compose/packages-test.txt). playwright-core is installed into
test/browser/node_modules by `npm ci` (from test/browser/package-lock.json) when it is
missing or not the locked version; that needs the npm registry, or npm's cache."""
import fcntl
import json
import os
import shutil
import subprocess
import time

import pytest

from harness import REPO, db, start_webapp, start_worker

BROWSER_DIR = REPO / "test" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: the browser test needs node, npm and chromium "
                    "(install them with compose/install-deps test)", pytrace=False)
    return path


def _stale_packages():
    """The packages of package-lock.json that node_modules lacks or holds in another
    version (all of them when there is no node_modules)."""
    lock = json.loads((BROWSER_DIR / "package-lock.json").read_text())
    stale = []
    for where, pkg in lock["packages"].items():
        if not where:
            continue  # the project itself
        try:
            have = json.loads((BROWSER_DIR / where / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            have = None
        if have != pkg.get("version"):
            stale.append(f"{where[len('node_modules/'):]}@{pkg.get('version')}"
                         f" (have {have or 'none'})")
    return stale


def _install_node_modules():
    """npm ci in test/browser when node_modules is missing or stale; one at a time (another
    session may be installing the same tree)."""
    npm = _tool("npm")
    with open(BROWSER_DIR / "package-lock.json") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        stale = _stale_packages()
        if not stale:
            return
        print(f"test/browser: npm ci ({', '.join(stale)})")
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_audit="false",
                   npm_config_fund="false", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        try:
            r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=600)
        except subprocess.TimeoutExpired:
            pytest.fail("npm ci in test/browser took over 600 s (is the npm registry, "
                        "https://registry.npmjs.org, reachable?)", pytrace=False)
        if r.returncode != 0:
            pytest.fail(f"npm ci in test/browser failed (exit {r.returncode}); it installs "
                        "test/browser/package-lock.json from the npm registry (or npm's cache "
                        f"in ~/.npm):\n{(r.stdout + r.stderr)[-3000:]}", pytrace=False)
        still = _stale_packages()
        assert not still, f"npm ci did not install {', '.join(still)}"


@pytest.fixture(scope="module")
def browser_ready():
    _tool("node")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (compose/install-deps "
                    "test), or set CHROMIUM", pytrace=False)
    _install_node_modules()


def test_a_chat_message_and_a_task_show_live_in_the_browser(migrated_stack, procs,
                                                            browser_ready):
    # One worker for both: chat.persist on chat, demo.sleep on celery.
    worker = start_worker("--queues", "celery,chat", starter=procs.start, name="browser-worker")
    web = start_webapp(starter=procs.start, name="browser-webapp")
    t0 = time.monotonic()
    node = subprocess.Popen([_tool("node"), str(BROWSER_DIR / "live.mjs"), web.url],
                            cwd=BROWSER_DIR, env=dict(os.environ, CHROMIUM=CHROMIUM),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        # live.mjs gives up by itself after 150 s.
        stdout, stderr = node.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        node.terminate()  # playwright closes its browser on SIGTERM
        try:
            stdout, stderr = node.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
            stdout, stderr = node.communicate()
        pytest.fail(f"test/browser/live.mjs ran over 240 s; its output:\n{stdout}{stderr}",
                    pytrace=False)
    output = stdout + stderr
    print(f"test/browser/live.mjs ({time.monotonic() - t0:.1f} s):\n{output}")
    assert node.returncode == 0, f"test/browser/live.mjs exited {node.returncode}:\n{output}"
    results = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1, f"no RESULT line from test/browser/live.mjs:\n{output}"
    got = json.loads(results[0][len("RESULT "):])

    # What the pages did is in the database: the message stored once, in its room, by the
    # chat.persist task that the send enqueued; the task the list followed succeeded.
    conn = db(migrated_stack)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text, author, body FROM chat_messages WHERE room = %s",
                        (got["room"],))
            assert cur.fetchall() == [(got["message_id"], got["author"], got["body"])]
            cur.execute("SELECT name, state FROM tasks WHERE id = %s", (got["chat_task_id"],))
            assert cur.fetchall() == [("chat.persist", "SUCCESS")]
            cur.execute("SELECT name, state FROM tasks WHERE id = %s", (got["task_id"],))
            assert cur.fetchall() == [("demo.sleep", "SUCCESS")]
    finally:
        conn.close()
    assert worker.alive() and web.alive()
    for p in (worker, web):
        assert p.terminate(15) == 0, f"{p.name} did not exit 0 on SIGTERM"
