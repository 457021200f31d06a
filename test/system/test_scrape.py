"""scrape.site end to end: a worker scraping the fixture site (test/fixtures/site, served by
site_server on 127.0.0.1) into PostgreSQL. What must come out is test/fixtures/site/
expected.json, the contract the unit tests check the extractors against too."""
import json
import signal
import subprocess
import time
from datetime import datetime, timezone

import pytest
import requests

import site_server
from harness import REPO, db, start_worker, wait_until
from test_worker import CELERIAC, enqueue_cli, log_messages, wait_final

EXPECTED = json.loads((REPO / "test" / "fixtures" / "site" / "expected.json").read_text())
FAILING = ["/huge.html", "/hang.html", "/reset.html", "/missing.html"]
SCRAPE_ENV = {"SCRAPER_ALLOW_PRIVATE": "1", "SCRAPER_DELAY": "0.02", "SCRAPER_TIMEOUT": "2"}


@pytest.fixture
def site():
    srv = site_server.start(port=0, hang_seconds=30)
    yield srv
    srv.stop()


@pytest.fixture
def scrape_worker(migrated_stack, start_proc):
    return start_worker("--queues", "scrape", env=migrated_stack.env(**SCRAPE_ENV),
                        starter=start_proc, concurrency=1, name="scrape-worker")


def expand(value, srv):
    if isinstance(value, str):
        return value.replace("{{BASE}}", srv.base).replace("{{SITE}}", srv.base.split("//")[1])
    return value


def scrape(stack, url, timeout=60, options=(), **kwargs):
    """Enqueue scrape.site for url (options: more `celeriac enqueue` flags) and wait for its
    final row."""
    out = enqueue_cli(stack, "scrape.site", "--kwargs", json.dumps({"url": url, **kwargs}),
                      *options)
    assert out.returncode == 0, out.stderr
    task_id = out.stdout.strip()
    final = wait_final(stack, task_id, timeout=timeout)
    return task_id, final


def task_row(stack, task_id):
    with db(stack).cursor() as cur:
        cur.execute("SELECT state, result, error FROM tasks WHERE id = %s", (task_id,))
        state, result, error = cur.fetchone()
    return state, result, error


def articles(stack, where="TRUE", params=()):
    with db(stack).cursor() as cur:
        cur.execute("SELECT url, site, source_url, title, author, published_at, summary, body,"
                    f" task_id::text FROM articles WHERE {where} ORDER BY url", params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def iso(ts):
    return None if ts is None else ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_matches(stored, want, srv):
    """Every field expected.json gives, and the text's phrases."""
    for field in ("url", "site", "title", "author", "summary"):
        assert stored[field] == expand(want[field], srv), (field, stored["url"])
    assert iso(stored["published_at"]) == want["published_at"], stored["url"]
    for phrase in want.get("text_contains", []):
        assert phrase in (stored["body"] or ""), (stored["url"], phrase)
    for phrase in want.get("text_excludes", []):
        assert phrase not in (stored["body"] or ""), (stored["url"], phrase)


def clear_articles(stack):
    with db(stack).cursor() as cur:
        cur.execute("DELETE FROM articles")


def test_scrape_of_the_index_stores_exactly_the_expected_articles_then_nothing_twice(
        migrated_stack, scrape_worker, site):
    stack = migrated_stack
    clear_articles(stack)
    section = EXPECTED["index_follow"]
    task_id, final = scrape(stack, site.base + "/", max_pages=20)
    state, result, error = task_row(stack, task_id)
    assert state == "SUCCESS", error

    want = {expand(a["url"], site): a for a in section["articles"]}
    stored = {a["url"]: a for a in articles(stack)}
    assert sorted(stored) == sorted(want)
    for url, a in stored.items():
        assert_matches(a, want[url], site)
        assert a["task_id"] == task_id
    assert result["new"] == len(want) and result["articles"] == len(want)
    assert result["updated"] == 0 and result["unchanged"] == 0
    assert result["failed"] == len(FAILING)
    assert result["skipped"] == 1  # robots.txt disallows /private/

    # robots.txt: the disallowed page was never requested.
    for path in section["not_fetched"]:
        assert site.requested(path) == 0, path
    # Each fetch is a log line (URL, status, bytes, ms); each bad page has its error.
    logs = log_messages(stack, task_id)
    for a in stored.values():
        assert any(m.startswith(f"GET {a['source_url']} -> 200, ") and m.endswith(" ms")
                   and " bytes, " in m for m in logs), (a["source_url"], logs)
    def error_line(path, words):
        return any(path in m and m.startswith("failed ") and words in m for m in logs)
    assert error_line("/huge.html", "larger than"), logs
    assert error_line("/hang.html", "timed out"), logs
    assert error_line("/reset.html", "reset") or error_line("/reset.html", "Recv failure"), logs
    assert error_line("/missing.html", "HTTP 404"), logs
    assert any("/redirect/1 -> 302, redirect to" in m for m in logs), logs

    # Again: no duplicate, every article unchanged; the pages were asked for conditionally.
    site.clear()
    task2, _ = scrape(stack, site.base + "/", max_pages=20)
    state, result, error = task_row(stack, task2)
    assert state == "SUCCESS", error
    assert len(articles(stack)) == len(want)
    assert result["new"] == 0 and result["updated"] == 0
    assert result["unchanged"] == len(want)
    assert result["not_modified"] >= 1
    conditional = [r for r in site.requests if r["headers"].get("If-None-Match")]
    assert conditional, "no conditional request on the second scrape"
    assert all(a["task_id"] == task_id for a in articles(stack))  # unchanged rows keep their task


def test_feeds_and_an_index_that_names_its_feed(migrated_stack, scrape_worker, site):
    stack = migrated_stack
    for name in ("rss", "atom", "news_follow"):
        clear_articles(stack)
        section = EXPECTED[name]
        task_id, _ = scrape(stack, site.base + section["url"], max_pages=20)
        state, result, error = task_row(stack, task_id)
        assert state == "SUCCESS", (name, error)
        want = {expand(a["url"], site): a for a in section["articles"]}
        stored = {a["url"]: a for a in articles(stack)}
        assert sorted(stored) == sorted(want), name
        for url, a in stored.items():
            assert_matches(a, want[url], site)
        assert result["new"] == len(want)


def test_a_feed_of_ten_thousand_entries(migrated_stack, scrape_worker, site):
    stack = migrated_stack
    clear_articles(stack)
    task_id, _ = scrape(stack, site.base + "/big-feed.xml", timeout=120)
    state, result, error = task_row(stack, task_id)
    assert state == "SUCCESS", error
    assert result["new"] == EXPECTED["big_feed"]["count"] == 10000
    with db(stack).cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT url) FROM articles WHERE site = %s",
                    (site.base.split("//")[1],))
        assert cur.fetchone() == (10000, 10000)


def test_private_addresses_are_refused_unless_allowed(migrated_stack, start_proc, site):
    stack = migrated_stack
    env = stack.env(SCRAPER_DELAY="0", SCRAPER_TIMEOUT="2")
    env.pop("SCRAPER_ALLOW_PRIVATE", None)
    start_worker("--queues", "scrape", env=env, starter=start_proc, concurrency=1)
    for url in (site.base + "/", site.base.replace("127.0.0.1", "localhost") + "/feed.xml"):
        site.clear()
        task_id, final = scrape(stack, url)
        state, result, error = task_row(stack, task_id)
        assert state == "FAILURE"
        assert "ScrapeError" in error or "ScrapeError" in json.dumps(result)
        # localhost may be tried as ::1 first: either is a loopback address.
        assert "refused to connect to " in error and ": a loopback address" in error, error
        assert "SCRAPER_ALLOW_PRIVATE" in error
        assert site.requests == [], "the guard let a request through"


def test_the_guard_checks_the_address_after_a_redirect_too(migrated_stack, start_proc):
    # Allowed: 127.0.0.2 only. Its server redirects to 127.0.0.1, which must be refused.
    stack = migrated_stack
    target = site_server.start(port=0, host="127.0.0.1")
    hop = site_server.start(port=0, host="127.0.0.2", redirect_all_to=target.base)
    try:
        env = stack.env(SCRAPER_DELAY="0", SCRAPER_TIMEOUT="2", SCRAPER_ALLOW_PRIVATE="127.0.0.2")
        start_worker("--queues", "scrape", env=env, starter=start_proc, concurrency=1)
        task_id, _ = scrape(stack, hop.base + "/")
        state, result, error = task_row(stack, task_id)
        assert state == "FAILURE"
        assert "refused to connect to 127.0.0.1" in error, error
        assert hop.requested("/") == 1
        assert target.requests == []
    finally:
        hop.stop()
        target.stop()


def test_a_worker_killed_mid_scrape_stores_nothing_and_the_redelivery_stores_each_once(
        migrated_stack, start_proc, site):
    stack = migrated_stack
    clear_articles(stack)
    env = stack.env(SCRAPER_ALLOW_PRIVATE="1", SCRAPER_DELAY="0.02", SCRAPER_TIMEOUT="4")
    w = start_worker("--queues", "scrape", env=env, starter=start_proc, concurrency=1,
                     name="doomed")
    out = enqueue_cli(stack, "scrape.site", "--kwargs",
                      json.dumps({"url": site.base + "/", "max_pages": 20}))
    task_id = out.stdout.strip()
    # The scrape waits on /hang.html: kill every process of the worker there.
    wait_until(lambda: site.requested("/hang.html") > 0 or None, 30)
    w.kill_group()
    assert articles(stack) == []
    start_worker("--queues", "scrape", env=env, starter=start_proc, concurrency=1,
                 name="survivor")
    final = wait_final(stack, task_id, timeout=60)
    assert final["state"] == "SUCCESS"
    stored = articles(stack)
    assert len(stored) == len(EXPECTED["index_follow"]["articles"])
    assert len({a["url"] for a in stored}) == len(stored)
    assert all(a["task_id"] == task_id for a in stored)


def test_the_soft_time_limit_and_a_revocation_stop_a_scrape_in_its_transfer(
        migrated_stack, start_proc, site):
    stack = migrated_stack
    clear_articles(stack)
    env = stack.env(SCRAPER_ALLOW_PRIVATE="1", SCRAPER_DELAY="0", SCRAPER_TIMEOUT="60")
    start_worker("--queues", "scrape", env=env, starter=start_proc, concurrency=1)
    # /slow-drip.html sends a byte a second for as long as it is let: only the cancel stops it.
    t0 = time.monotonic()
    task_id, final = scrape(stack, site.base + "/slow-drip.html", timeout=30,
                            options=("--soft-time-limit", "1"), max_pages=0)
    assert time.monotonic() - t0 < 15
    assert final["state"] == "FAILURE"
    state, result, error = task_row(stack, task_id)
    assert result["exc_type"] == "SoftTimeLimitExceeded", (state, result, error)
    assert articles(stack) == []
    # The same with a revocation (no terminate): the task stops, the child is free again.
    out = enqueue_cli(stack, "scrape.site", "--kwargs",
                      json.dumps({"url": site.base + "/slow-drip.html", "max_pages": 0}))
    running = out.stdout.strip()
    wait_until(lambda: task_row(stack, running)[0] == "STARTED" or None, 20)
    subprocess.run([CELERIAC, "revoke", running], env=stack.env(), check=True,
                   capture_output=True, timeout=30)
    t1 = time.monotonic()
    answer = enqueue_cli(stack, "scrape.site", "--kwargs",
                         json.dumps({"url": site.base + "/feed.xml"}), "--wait", "20")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["state"] == "SUCCESS"
    assert time.monotonic() - t1 < 10  # not the 60 s the transfer could have taken
    assert task_row(stack, running)[0] == "REVOKED"


def test_celeriac_scrape_prints_the_articles_as_json(migrated_stack, site):
    env = migrated_stack.env(SCRAPER_ALLOW_PRIVATE="1", SCRAPER_DELAY="0")
    out = subprocess.run([CELERIAC, "scrape", site.base + "/feed.xml"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [a["url"] for a in doc["articles"]] == [expand(a["url"], site)
                                                   for a in EXPECTED["rss"]["articles"]]
    assert f"GET {site.base}/feed.xml -> 200" in out.stderr
    # A redirect loop and an unreachable port: a clear error, exit 1.
    out = subprocess.run([CELERIAC, "scrape", site.base + "/loop/1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "more than 5 redirects" in out.stderr, out.stderr
    out = subprocess.run([CELERIAC, "scrape", "http://127.0.0.1:1/"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Couldn't connect to server" in out.stderr, out.stderr
    assert "robots.txt unavailable" in out.stderr.splitlines()[-1], out.stderr
    out = subprocess.run([CELERIAC, "scrape", "ftp://example.com/"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "not an http(s) URL" in out.stderr, out.stderr


def test_a_scrape_started_from_the_browser_form_is_browsable(migrated_stack, scrape_worker, site,
                                                            webapp):
    # The whole user's path: the home page's form, the task, the articles' pages and API.
    clear_articles(migrated_stack)
    r = requests.post(f"{webapp.url}/scrape", allow_redirects=False, timeout=10,
                      data={"url": site.base + "/atom.xml", "max_pages": "5", "follow": "1"})
    assert r.status_code == 303, r.text
    task_id = r.headers["Location"].rsplit("/", 1)[1]
    assert wait_final(migrated_stack, task_id, timeout=60)["state"] == "SUCCESS"
    listed = requests.get(f"{webapp.url}/api/articles", params={"task": task_id},
                          timeout=10).json()
    want = [expand(a["url"], site) for a in EXPECTED["atom"]["articles"]]
    assert sorted(a["url"] for a in listed["articles"]) == sorted(want)
    assert all(a["task_id"] == task_id for a in listed["articles"])
    one = requests.get(f"{webapp.url}/api/articles/{listed['articles'][0]['id']}",
                       timeout=10).json()
    assert one["body"] and one["url"] in want
    page = requests.get(f"{webapp.url}/tasks/{task_id}", timeout=10).text
    for a in listed["articles"]:
        assert f'href="/articles/{a["id"]}"' in page
    article_page = requests.get(f"{webapp.url}/articles/{one['id']}", timeout=10).text
    assert f'href="/tasks/{task_id}"' in article_page


def test_a_changed_page_updates_its_article_and_only_that_one(migrated_stack, scrape_worker,
                                                             site):
    stack = migrated_stack
    clear_articles(stack)
    first, _ = scrape(stack, site.base + "/news/")
    assert task_row(stack, first)[1]["new"] == 3
    page = (REPO / "test" / "fixtures" / "site" / "news" / "second-entry.html").read_text()
    old_title = [a for a in articles(stack) if "second-entry" in (a["source_url"] or "")][0]["title"]
    site.put("/news/second-entry.html", page.replace(old_title, old_title + " (revised)"))
    second, _ = scrape(stack, site.base + "/news/")
    state, result, error = task_row(stack, second)
    assert state == "SUCCESS", error
    assert (result["new"], result["updated"], result["unchanged"]) == (0, 1, 2), result
    stored = articles(stack)
    assert len(stored) == 3
    revised = [a for a in stored if a["title"] == old_title + " (revised)"]
    assert len(revised) == 1 and revised[0]["task_id"] == second
    assert all(a["task_id"] == first for a in stored if a is not revised[0])
