"""The pages in a real browser: test/browser/*.mjs drive Debian's headless Chromium
(/usr/bin/chromium) with playwright-core against a webapp and a worker, then the database is
checked for what the pages did. live.mjs (issue 19): chat and the task list follow their event
streams. pages.mjs (issue 20): the forms (a task, a scrape of the fixture site, a conversion),
the articles, /workers, and hostile markup in a task and an article, shown as text.

Full-page screenshots of each step go to test/artifacts/browser-DATE-TIME-PID/ (kept).

Needs node, npm and chromium (compose/packages-test.txt). playwright-core is installed into
test/browser/node_modules by `npm ci` (from test/browser/package-lock.json) when it is
missing or not the locked version; that needs the npm registry, or npm's cache."""
import csv
import fcntl
import io
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

import site_server
from harness import REPO, db, start_webapp, start_worker
from test_scrape import EXPECTED, SCRAPE_ENV, expand

BROWSER_DIR = REPO / "test" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The scripts stop by themselves after 150 s (BROWSER_TOTAL_MS).
SCRIPT_TIMEOUT = 240


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


@pytest.fixture(scope="module")
def artifacts():
    """test/artifacts/browser-DATE-TIME-PID: the scripts' screenshots, one per step."""
    path = REPO / "test" / "artifacts" / f"browser-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_script(script, artifacts, *args):
    """Run node test/browser/SCRIPT ARGS; fail with its output unless it passed. Returns its
    RESULT (a dict)."""
    what = f"test/browser/{script}"
    t0 = time.monotonic()
    node = subprocess.Popen([_tool("node"), str(BROWSER_DIR / script), *args], cwd=BROWSER_DIR,
                            env=dict(os.environ, CHROMIUM=CHROMIUM,
                                     BROWSER_ARTIFACTS=str(artifacts)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = node.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        node.terminate()  # playwright closes its browser on SIGTERM
        try:
            stdout, stderr = node.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            node.kill()
            stdout, stderr = node.communicate()
        pytest.fail(f"{what} ran over {SCRIPT_TIMEOUT} s; its output:\n{stdout}{stderr}",
                    pytrace=False)
    output = stdout + stderr
    print(f"{what} ({time.monotonic() - t0:.1f} s, screenshots in {artifacts}):\n{output}")
    assert node.returncode == 0, (f"{what} exited {node.returncode} (screenshots in "
                                  f"{artifacts}):\n{output}")
    results = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1, f"no RESULT line from {what}:\n{output}"
    return json.loads(results[0][len("RESULT "):])


def test_a_chat_message_and_a_task_show_live_in_the_browser(migrated_stack, procs,
                                                            browser_ready, artifacts):
    # One worker for both: chat.persist on chat, demo.sleep on celery.
    worker = start_worker("--queues", "celery,chat", starter=procs.start, name="browser-worker")
    web = start_webapp(starter=procs.start, name="browser-webapp")
    got = run_script("live.mjs", artifacts, web.url)

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


# The hostile markup pages.mjs puts in a task's args (and so in its error).
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(2)>'


def test_forms_articles_files_and_hostile_markup_in_the_browser(migrated_stack, procs,
                                                               browser_ready, artifacts):
    site = site_server.start(port=0, hang_seconds=5)
    try:
        # All four queues (each child consumes them all), scraping 127.0.0.1 allowed, and
        # browser-hold, where pages.mjs sends the tasks that hold the children for a while.
        name = f"browser-{uuid.uuid4().hex[:8]}@localhost"
        worker = start_worker("--queues", "celery,chat,scrape,convert,browser-hold",
                              "--hostname", name,
                              env=migrated_stack.env(**SCRAPE_ENV), starter=procs.start,
                              name="browser-pages-worker")
        web = start_webapp(starter=procs.start, name="browser-pages-webapp")
        got = run_script("pages.mjs", artifacts, web.url, site.base, name)
    finally:
        site.stop()

    conn = db(migrated_stack)
    try:
        with conn.cursor() as cur:
            # demo.add from the form on /: the sum, and its log line.
            x, y = got["x"], got["y"]
            cur.execute("SELECT name, state, result FROM tasks WHERE id = %s",
                        (got["add_task_id"],))
            assert cur.fetchall() == [("demo.add", "SUCCESS", x + y)]
            cur.execute("SELECT message FROM task_logs WHERE task_id = %s",
                        (got["add_task_id"],))
            assert (f"adding {x} + {y}",) in cur.fetchall()

            # The scrape from the form: /news/'s articles, as expected.json says, by that task.
            cur.execute("SELECT id, url, site FROM articles WHERE task_id = %s ORDER BY url",
                        (got["scrape_task_id"],))
            stored = cur.fetchall()
            assert [url for _, url, _ in stored] == sorted(
                expand(a["url"], site) for a in EXPECTED["news_follow"]["articles"])
            assert sorted(i for i, _, _ in stored) == sorted(got["article_ids"])
            assert {s for _, _, s in stored} == {site.site}

            # The hostile article: its markup kept verbatim, as text.
            cur.execute("SELECT url, title, body, task_id::text FROM articles WHERE id = %s",
                        (got["hostile_article_id"],))
            [(url, title, body, task_id)] = cur.fetchall()
            assert url == site.url(site_server.HOSTILE_PATH)
            assert title == site_server.HOSTILE_TITLE
            assert site_server.HOSTILE_TEXT in body
            assert task_id == got["hostile_task_id"]

            # The conversion: its output row holds the CSV's rows as JSON, beside the upload.
            cur.execute("SELECT o.id::text, o.name, o.format, o.data, s.name, s.data"
                        " FROM files o JOIN files s ON s.id = o.source_id WHERE o.task_id = %s",
                        (got["convert_task_id"],))
            [(out_id, out_name, out_format, out_data, src_name, src_data)] = cur.fetchall()
            assert out_id == got["output_file_id"]
            assert (src_name, bytes(src_data).decode()) == (got["csv_name"], got["csv"])
            assert out_name == got["csv_name"].replace(".csv", ".json") and out_format == "json"
            says = list(csv.DictReader(io.StringIO(got["csv"], newline="")))
            assert json.loads(bytes(out_data)) == says == got["rows"]

            # The hostile task: its args stored verbatim, its error the same text.
            cur.execute("SELECT name, state, args, error FROM tasks WHERE id = %s",
                        (got["xss_task_id"],))
            [(task_name, state, args, error)] = cur.fetchall()
            assert (task_name, state, args) == ("demo.fail", "FAILURE", [XSS_SCRIPT + XSS_IMG])
            assert XSS_SCRIPT + XSS_IMG in error

            # The demo.sleeps that held the worker were revoked.
            cur.execute("SELECT state, count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                        " GROUP BY state", (got["held_task_ids"],))
            assert cur.fetchall() == [("REVOKED", len(got["held_task_ids"]))]
    finally:
        conn.close()
    assert worker.alive() and web.alive()
    for p in (worker, web):
        assert p.terminate(15) == 0, f"{p.name} did not exit 0 on SIGTERM"
