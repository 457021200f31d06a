"""Scraping, the webapp's side (issue 17): the articles API and pages over rows
inserted with SQL, the "Scrape a site" form, and saved sites (periodic tasks
running scrape.site) through their pages and their JSON API. No worker runs:
an enqueued scrape stays PENDING, and a finished one is simulated with SQL.

Every test works on sites, tasks and search words of its own, so tests share
the session's database without seeing each other's rows."""
import datetime
import hashlib
import html
import json
import re
import uuid

import pytest
import requests

from harness import amqp_channel, query


@pytest.fixture(scope="module", autouse=True)
def drop_unrun_scrapes(stack):
    """The scrapes these tests enqueue are never meant to run: purge them at the end, so
    that the session's later workers (which consume the scrape queue by default) do not
    spend their time on example.com."""
    yield
    with amqp_channel(stack) as ch:
        ch.queue_purge("scrape")


# ------------------------------------------------------------------------------ helpers


def unique_site():
    return f"s{uuid.uuid4().hex[:10]}.example"


def add_article(stack, site, title="A title", summary="A summary", body="The body.",
                published=None, task_id=None, author="Ann Author", url=None, source_url=None):
    """Insert one article as scrape.site would; returns its id."""
    url = url or f"https://{site}/{uuid.uuid4().hex}"
    rows = query(stack, "INSERT INTO articles (url, site, source_url, title, author, published_at,"
                        " summary, body, content_hash, task_id) VALUES (%s, %s, %s, %s, %s, %s,"
                        " %s, %s, md5(%s), %s::uuid) RETURNING id",
                 (url, site, source_url or url, title, author, published, summary, body, url,
                  task_id))
    return rows[0][0]


def when(days_ago):
    return datetime.datetime(2026, 11, 2, 8, 30, tzinfo=datetime.timezone.utc) - \
        datetime.timedelta(days=days_ago)


def api_articles(web, **params):
    return requests.get(f"{web.url}/api/articles", params=params, timeout=10)


def add_task(stack, name="scrape.site", state="SUCCESS", result=None):
    task_id = str(uuid.uuid4())
    query(stack, "INSERT INTO tasks (id, name, state, result, finished_at)"
                 " VALUES (%s, %s, %s, %s::jsonb, now())",
          (task_id, name, state, json.dumps(result) if result is not None else None))
    return task_id


def scrape_tasks(stack):
    return query(stack, "SELECT count(*) FROM tasks WHERE name = 'scrape.site'")[0][0]


def site_name(url):
    return "site-" + hashlib.md5(url.encode()).hexdigest()[:16]


def periodic(stack, name):
    rows = query(stack, "SELECT task, cron, kwargs, enabled, next_run_at, last_task_id::text"
                        " FROM periodic_tasks WHERE name = %s", (name,))
    return rows[0] if rows else None


def post_scrape(web, allow_redirects=False, headers=None, **fields):
    return requests.post(f"{web.url}/scrape", data=fields, headers=headers,
                         allow_redirects=allow_redirects, timeout=10)


def task_row(stack, task_id):
    return query(stack, "SELECT name, state, queue, kwargs FROM tasks WHERE id = %s",
                 (task_id,))[0]


def unique_url():
    return f"https://{unique_site()}/news/"


# ------------------------------------------------------------------------------ the articles API


def test_articles_are_listed_newest_first_without_their_body(stack, webapp):
    site = unique_site()
    old = add_article(stack, site, title="old", published=when(3))
    mid = add_article(stack, site, title="mid", published=when(2))
    new = add_article(stack, site, title="new", published=when(1))
    r = api_articles(webapp, site=site)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["id"] for a in body["articles"]] == [new, mid, old]
    assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
    first = body["articles"][0]
    assert "body" not in first
    assert first["published_at"] == "2026-11-01T08:30:00Z"
    for key in ("id", "url", "site", "source_url", "title", "author", "published_at", "summary",
                "task_id", "created_at", "updated_at"):
        assert key in first, key
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["created_at"])


def test_an_article_without_a_date_sorts_by_when_it_was_stored(stack, webapp):
    site = unique_site()
    dated = add_article(stack, site, title="dated", published=when(30))
    undated = add_article(stack, site, title="undated")
    articles = api_articles(webapp, site=site).json()["articles"]
    assert [a["id"] for a in articles] == [undated, dated]
    assert articles[0]["published_at"] is None


def test_q_finds_text_in_title_or_summary_case_insensitively(stack, webapp):
    site = unique_site()
    word = uuid.uuid4().hex[:12]
    in_title = add_article(stack, site, title=f"News about {word.upper()} today")
    in_summary = add_article(stack, site, summary=f"...and {word} again", published=when(5))
    add_article(stack, site, title="nothing here", body=f"only the body has {word}")
    r = api_articles(webapp, q=word)
    assert r.status_code == 200
    assert {a["id"] for a in r.json()["articles"]} == {in_title, in_summary}
    assert r.json()["total"] == 2


@pytest.mark.parametrize("literal,other", [("100%", "1000"), ("a_b", "axb"), ("c\\d", "cd")])
def test_q_takes_percent_underscore_and_backslash_literally(stack, webapp, literal, other):
    site = unique_site()
    word = uuid.uuid4().hex[:8]
    hit = add_article(stack, site, title=f"{word} {literal} sure")
    add_article(stack, site, title=f"{word} {other} sure")
    found = api_articles(webapp, q=f"{word} {literal}").json()["articles"]
    assert [a["id"] for a in found] == [hit]


def test_site_and_task_filters(stack, webapp):
    site, other = unique_site(), unique_site()
    task = add_task(stack)
    a = add_article(stack, site, task_id=task)
    b = add_article(stack, site)
    c = add_article(stack, other, task_id=task)
    assert {x["id"] for x in api_articles(webapp, site=site).json()["articles"]} == {a, b}
    by_task = api_articles(webapp, task=task).json()
    assert {x["id"] for x in by_task["articles"]} == {a, c}
    assert all(x["task_id"] == task for x in by_task["articles"])
    both = api_articles(webapp, task=task, site=other).json()["articles"]
    assert [x["id"] for x in both] == [c]
    # Empty values mean no filter, as a form sends them.
    assert api_articles(webapp, site=site, q="", task="").json()["total"] == 2


def test_pagination_by_limit_and_offset(stack, webapp):
    site = unique_site()
    ids = [add_article(stack, site, title=f"n{i}", published=when(i)) for i in range(7)]
    seen = []
    for offset in (0, 3, 6):
        page = api_articles(webapp, site=site, limit=3, offset=offset).json()
        assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == offset
        seen += [a["id"] for a in page["articles"]]
    assert seen == ids  # newest (i = 0) first, each once
    assert api_articles(webapp, site=site, offset=50).json() == \
        {"articles": [], "total": 7, "limit": 50, "offset": 50}


@pytest.mark.parametrize("params,word", [
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"offset": "100001"}, "offset"), ({"offset": "1e3"}, "offset"),
    ({"task": "not-a-uuid"}, "task"), ({"q": "x" * 201}, "q"),
])
def test_bad_list_parameters_get_a_400_naming_them(webapp, params, word):
    r = api_articles(webapp, **params)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/json")
    assert word in r.json()["error"]


def test_one_article_with_its_body(stack, webapp):
    site = unique_site()
    task = add_task(stack)
    art = add_article(stack, site, title="Full", body="First.\n\nSecond.", task_id=task,
                      published=when(0))
    r = requests.get(f"{webapp.url}/api/articles/{art}", timeout=10)
    assert r.status_code == 200
    a = r.json()
    assert a["id"] == art and a["body"] == "First.\n\nSecond." and a["task_id"] == task
    assert a["title"] == "Full" and a["site"] == site and a["published_at"] == "2026-11-02T08:30:00Z"


@pytest.mark.parametrize("path,status", [
    ("/api/articles/999999999999", 404), ("/api/articles/abc", 400), ("/api/articles/0", 400),
    ("/api/articles/-1", 400), ("/api/articles/1234567890123456789012", 400),
])
def test_unknown_or_invalid_article_ids(webapp, path, status):
    r = requests.get(webapp.url + path, timeout=10)
    assert r.status_code == status
    assert r.json()["error"]


def test_the_sites_of_articles_with_their_counts(stack, webapp):
    site = unique_site()
    for _ in range(3):
        add_article(stack, site)
    sites = requests.get(f"{webapp.url}/api/articles/sites", timeout=10).json()["sites"]
    assert {"site": site, "count": 3} in sites


# ------------------------------------------------------------------------------ the pages


def test_the_articles_page_escapes_what_it_shows(stack, webapp):
    site = unique_site()
    hostile = "<script>alert(1)</script>"
    add_article(stack, site, title=hostile, summary=f"sum {hostile}", author=hostile)
    page = requests.get(f"{webapp.url}/articles", params={"site": site}, timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_articles_page_filters_and_pages_keeping_the_filters(stack, webapp):
    site = unique_site()
    word = uuid.uuid4().hex[:8]
    for i in range(5):
        add_article(stack, site, title=f"{word} number {i}", published=when(i))
    add_article(stack, unique_site(), title=f"{word} elsewhere")
    page = requests.get(f"{webapp.url}/articles", params={"site": site, "q": word, "limit": 2},
                        timeout=10).text
    assert f"{word} number 0" in page and f"{word} number 1" in page
    assert f"{word} number 2" not in page and "elsewhere" not in page
    assert f'<option value="{site}" selected>{site} (5)</option>' in page
    nxt = html.unescape(re.search(r'<a rel="next" href="([^"]*)"', page).group(1))
    assert nxt == f"/articles?q={word}&site={site}&limit=2&offset=2"
    page2 = requests.get(webapp.url + nxt, timeout=10).text
    assert f"{word} number 2" in page2 and f"{word} number 3" in page2
    prev = html.unescape(re.search(r'<a rel="prev" href="([^"]*)"', page2).group(1))
    assert prev == f"/articles?q={word}&site={site}&limit=2"
    assert requests.get(f"{webapp.url}/articles?limit=0", timeout=10).status_code == 400


def test_the_article_page_shows_the_text_and_links_source_and_task(stack, webapp):
    site = unique_site()
    task = add_task(stack)
    art = add_article(stack, site, title="Story <b>one</b>", author="Bob & Co",
                      body="Para <one>.\n\n  \nPara two.", task_id=task,
                      url=f"https://{site}/story?a=1&b=2")
    page = requests.get(f"{webapp.url}/articles/{art}", timeout=10)
    assert page.status_code == 200
    text = page.text
    assert "Story &lt;b&gt;one&lt;/b&gt;" in text and "Bob &amp; Co" in text
    assert "<p>Para &lt;one&gt;.</p>" in text and "<p>Para two.</p>" in text
    assert f'href="/tasks/{task}"' in text
    assert (f'<a href="https://{site}/story?a=1&amp;b=2" rel="noopener noreferrer">') in text


def test_a_non_web_url_is_not_made_a_link(stack, webapp):
    site = unique_site()
    art = add_article(stack, site, url="javascript:alert(1)", source_url="javascript:alert(2)")
    text = requests.get(f"{webapp.url}/articles/{art}", timeout=10).text
    assert 'href="javascript' not in text
    assert "javascript:alert(1)" in text


def test_article_pages_answer_404_and_400(webapp):
    assert requests.get(f"{webapp.url}/articles/999999999999", timeout=10).status_code == 404
    assert requests.get(f"{webapp.url}/articles/x", timeout=10).status_code == 400


def test_a_task_page_lists_the_articles_it_stored(stack, webapp):
    task = add_task(stack, result={"new": 101})
    site = unique_site()
    query(stack, "INSERT INTO articles (url, site, title, content_hash, task_id, published_at)"
                 " SELECT 'https://' || %s || '/' || i, %s, 'Story ' || i, 'h', %s::uuid,"
                 " %s::timestamptz + i * interval '1 minute' FROM generate_series(1, 101) i",
          (site, site, task, when(0)))
    newest = query(stack, "SELECT id FROM articles WHERE task_id = %s ORDER BY sort_at DESC"
                          " LIMIT 1", (task,))[0][0]
    page = requests.get(f"{webapp.url}/tasks/{task}", timeout=10).text
    assert page.count('<a href="/articles/') == 100
    assert f'<a href="/articles/{newest}">Story 101</a>' in page
    assert "Story 1<" not in page  # the oldest is the one left out
    assert f'href="/articles?task={task}"' in page
    assert requests.get(f"{webapp.url}/articles", params={"task": task},
                        timeout=10).status_code == 200
    other = add_task(stack, name="demo.add", result=5)
    assert "<h2>Articles</h2>" not in requests.get(f"{webapp.url}/tasks/{other}", timeout=10).text


def test_the_nav_and_the_home_page_offer_scraping(webapp):
    home = requests.get(webapp.url + "/", timeout=10).text
    assert 'href="/articles"' in home and 'href="/sites"' in home
    assert 'action="/scrape"' in home and 'name="url" type="url" required' in home
    assert 'name="follow" value="on" checked' in home and 'placeholder="0 * * * *"' in home


# ------------------------------------------------------------------------------ the scrape form


def test_the_scrape_form_enqueues_scrape_site_and_redirects_to_the_task(stack, webapp):
    url = unique_url()
    r = post_scrape(webapp, url=url, max_pages="5", follow="on", cron="")
    assert r.status_code == 303, r.text
    task_id = re.fullmatch(r"/tasks/([0-9a-f-]{36})", r.headers["Location"]).group(1)
    name, state, queue, kwargs = task_row(stack, task_id)
    assert name == "scrape.site" and queue == "scrape"
    assert state in ("PENDING", "RECEIVED", "STARTED", "SUCCESS", "FAILURE")
    assert kwargs == {"url": url, "max_pages": 5, "follow": True}
    # An unchecked box is not sent: follow is off; an empty max_pages is the default.
    r = post_scrape(webapp, url=url, max_pages="")
    task_id = r.headers["Location"].rsplit("/", 1)[1]
    assert task_row(stack, task_id)[3] == {"url": url, "max_pages": 20, "follow": False}
    assert periodic(stack, site_name(url)) is None  # no schedule: not saved


@pytest.mark.parametrize("url,word", [
    ("ftp://example.com/", "http"), ("javascript:alert(1)", "http"), ("http://", "host"),
    ("http:///path", "host"), ("https://user@/x", "host"), ("", "URL"),
    ("http://exa mple.com/", "spaces"), ("https://example.com:99999/", "port"),
    ("https://example.com/" + "a" * 2040, "2048"), ("example.com", "http"),
])
def test_a_bad_url_gets_a_400_and_queues_nothing(stack, webapp, url, word):
    before = scrape_tasks(stack)
    r = post_scrape(webapp, url=url, max_pages="20", follow="on", cron="")
    assert r.status_code == 400
    assert word in html.unescape(r.text)
    assert 'action="/scrape"' in r.text  # the form again, to correct
    assert scrape_tasks(stack) == before


@pytest.mark.parametrize("max_pages", ["0", "1001", "many", "2.5"])
def test_max_pages_out_of_range_is_refused(stack, webapp, max_pages):
    before = scrape_tasks(stack)
    r = post_scrape(webapp, url=unique_url(), max_pages=max_pages, follow="on")
    assert r.status_code == 400 and "Max pages" in r.text
    assert scrape_tasks(stack) == before


def test_a_bad_schedule_gets_a_400_naming_the_problem_and_saves_nothing(stack, webapp):
    url = unique_url()
    before = scrape_tasks(stack)
    r = post_scrape(webapp, url=url, max_pages="20", follow="on", cron="0 25 * * *")
    assert r.status_code == 400
    text = html.unescape(r.text)
    assert "0 25 * * *" in text and "hour" in text and "25" in text
    assert periodic(stack, site_name(url)) is None
    assert scrape_tasks(stack) == before
    r = post_scrape(webapp, url=url, cron="every hour")
    assert r.status_code == 400 and periodic(stack, site_name(url)) is None


def test_a_cross_site_scrape_post_is_refused(stack, webapp):
    before = scrape_tasks(stack)
    r = post_scrape(webapp, url=unique_url(), max_pages="20", follow="on",
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert scrape_tasks(stack) == before
    same = post_scrape(webapp, url=unique_url(), headers={"Origin": webapp.url})
    assert same.status_code == 303


# ------------------------------------------------------------------------------ saved sites (pages)


def schedule(stack, web, url, cron="0 * * * *"):
    """Save url with a schedule through the form; returns its site id."""
    r = post_scrape(web, url=url, max_pages="7", follow="on", cron=cron)
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/sites"
    return site_name(url)


def test_a_scheduled_scrape_saves_a_site_and_scrapes_it_now(stack, webapp):
    url = unique_url()
    before = scrape_tasks(stack)
    name = schedule(stack, webapp, url)
    task, cron, kwargs, enabled, next_run, last_task = periodic(stack, name)
    assert (task, cron, enabled) == ("scrape.site", "0 * * * *", True)
    assert kwargs == {"url": url, "max_pages": 7, "follow": True}
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now < next_run <= now + datetime.timedelta(hours=1)
    assert next_run.minute == 0 and next_run.second == 0
    assert scrape_tasks(stack) == before + 1
    assert task_row(stack, last_task)[3] == kwargs
    page = requests.get(f"{webapp.url}/sites", timeout=10).text
    assert url in page and name in page
    assert next_run.strftime("%Y-%m-%d %H:%M:%S") in page
    assert f'href="/tasks/{last_task}"' in page
    # Saving the same URL again replaces the site: one row, the new schedule.
    schedule(stack, webapp, url, cron="30 6 * * 1-5")
    assert periodic(stack, name)[1] == "30 6 * * 1-5"
    assert query(stack, "SELECT count(*) FROM periodic_tasks WHERE kwargs->>'url' = %s",
                 (url,))[0][0] == 1


def test_pause_resume_and_delete_through_the_page_buttons(stack, webapp):
    url = unique_url()
    name = schedule(stack, webapp, url)
    r = requests.post(f"{webapp.url}/sites/{name}/pause", allow_redirects=False, timeout=10)
    assert r.status_code == 303 and r.headers["Location"] == "/sites"
    assert periodic(stack, name)[3] is False
    page = requests.get(f"{webapp.url}/sites", timeout=10).text
    row = page[page.index(url):]
    row = row[:row.index("</tr>")]
    assert "paused" in row and f'action="/sites/{name}/resume"' in row
    # Resuming starts from the next time after now, not from a stale one.
    query(stack, "UPDATE periodic_tasks SET next_run_at = now() - interval '3 days'"
                 " WHERE name = %s", (name,))
    r = requests.post(f"{webapp.url}/sites/{name}/resume", allow_redirects=False, timeout=10)
    assert r.status_code == 303
    _, _, _, enabled, next_run, _ = periodic(stack, name)
    assert enabled is True and next_run > datetime.datetime.now(datetime.timezone.utc)
    r = requests.post(f"{webapp.url}/sites/{name}/delete", allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert periodic(stack, name) is None
    assert url not in requests.get(f"{webapp.url}/sites", timeout=10).text
    assert requests.post(f"{webapp.url}/sites/{name}/pause", timeout=10).status_code == 404


def test_scrape_now_records_the_task_and_the_sites_page_shows_its_counts(stack, webapp):
    url = unique_url()
    name = schedule(stack, webapp, url)
    r = requests.post(f"{webapp.url}/sites/{name}/scrape", allow_redirects=False, timeout=10)
    assert r.status_code == 303
    task_id = re.fullmatch(r"/tasks/([0-9a-f-]{36})", r.headers["Location"]).group(1)
    assert periodic(stack, name)[5] == task_id
    assert task_row(stack, task_id)[3] == {"url": url, "max_pages": 7, "follow": True}
    result = {"url": url, "new": 3, "updated": 1, "unchanged": 2, "failed": 1,
              "not_modified": 0, "fetched": 9, "articles": 6}
    query(stack, "UPDATE tasks SET state = 'SUCCESS', result = %s::jsonb, finished_at = now()"
                 " WHERE id = %s", (json.dumps(result), task_id))
    page = requests.get(f"{webapp.url}/sites", timeout=10).text
    row = page[page.index(url):]
    row = row[:row.index("</tr>")]
    assert "SUCCESS" in row and f'href="/tasks/{task_id}"' in row
    assert "3 new, 1 updated, 2 unchanged, 1 failed" in row


def test_site_buttons_refuse_other_periodic_tasks_and_cross_site_posts(stack, webapp):
    assert requests.post(f"{webapp.url}/sites/celeriac.cleanup/delete",
                         timeout=10).status_code == 404
    assert periodic(stack, "celeriac.cleanup") is not None
    name = schedule(stack, webapp, unique_url())
    for action in ("delete", "pause", "scrape"):
        r = requests.post(f"{webapp.url}/sites/{name}/{action}",
                          headers={"Origin": "http://evil.example"}, timeout=10)
        assert r.status_code == 403
    assert periodic(stack, name)[3] is True


# ------------------------------------------------------------------------------ saved sites (API)


def test_sites_through_the_json_api(stack, webapp):
    url = unique_url()
    r = requests.post(f"{webapp.url}/api/sites", timeout=10,
                      json={"url": url, "cron": "15 3 * * *", "max_pages": 3, "follow": False})
    assert r.status_code == 201, r.text
    site = r.json()
    name = site["id"]
    assert name == site_name(url) and r.headers["Location"] == f"/api/sites/{name}"
    assert site["url"] == url and site["cron"] == "15 3 * * *" and site["enabled"] is True
    assert site["max_pages"] == 3 and site["follow"] is False
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT03:15:00Z", site["next_run_at"])
    assert site["last_task"]["id"] == site["task_id"]
    assert site["last_task"]["state"] == "PENDING"
    assert task_row(stack, site["task_id"])[3] == {"url": url, "max_pages": 3, "follow": False}

    listed = requests.get(f"{webapp.url}/api/sites", timeout=10).json()["sites"]
    assert [s["id"] for s in listed if s["url"] == url] == [name]
    assert requests.get(f"{webapp.url}/api/sites/{name}", timeout=10).json()["cron"] == \
        "15 3 * * *"

    r = requests.post(f"{webapp.url}/api/sites/{name}/pause", timeout=10)
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = requests.post(f"{webapp.url}/api/sites/{name}/resume", timeout=10)
    assert r.status_code == 200 and r.json()["enabled"] is True

    r = requests.post(f"{webapp.url}/api/sites/{name}/scrape", timeout=10)
    assert r.status_code == 202
    task_id = r.json()["task_id"]
    assert task_row(stack, task_id)[0] == "scrape.site"
    query(stack, "UPDATE tasks SET state = 'SUCCESS', finished_at = now(), result = %s::jsonb"
                 " WHERE id = %s", (json.dumps({"new": 3, "updated": 1, "unchanged": 2,
                                                "failed": 1}), task_id))
    last = requests.get(f"{webapp.url}/api/sites/{name}", timeout=10).json()["last_task"]
    assert last["id"] == task_id and last["state"] == "SUCCESS"
    assert (last["new"], last["updated"], last["unchanged"], last["failed"]) == (3, 1, 2, 1)

    r = requests.delete(f"{webapp.url}/api/sites/{name}", timeout=10)
    assert r.status_code == 204
    assert periodic(stack, name) is None
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume"),
                         ("POST", "/scrape")):
        r = requests.request(method, f"{webapp.url}/api/sites/{name}{path}", timeout=10)
        assert r.status_code == 404 and r.json()["error"], (method, path)


@pytest.mark.parametrize("body,word", [
    ({"cron": "0 * * * *"}, "url"),
    ({"url": "https://example.com/"}, "cron"),
    ({"url": "ftp://example.com/", "cron": "0 * * * *"}, "http"),
    ({"url": "https://example.com/", "cron": "61 * * * *"}, "minute"),
    ({"url": "https://example.com/", "cron": "0 * * * *", "max_pages": 0}, "max_pages"),
    ({"url": "https://example.com/", "cron": "0 * * * *", "max_pages": "5"}, "max_pages"),
    ({"url": "https://example.com/", "cron": "0 * * * *", "follow": "yes"}, "follow"),
    ({"url": "https://example.com/", "cron": "0 * * * *", "shedule": "x"}, "shedule"),
    ([1, 2], "object"),
])
def test_bad_site_bodies_get_a_400_and_save_nothing(stack, webapp, body, word):
    before = query(stack, "SELECT count(*) FROM periodic_tasks")[0][0]
    tasks = scrape_tasks(stack)
    r = requests.post(f"{webapp.url}/api/sites", json=body, timeout=10)
    assert r.status_code == 400
    assert word in r.json()["error"]
    assert query(stack, "SELECT count(*) FROM periodic_tasks")[0][0] == before
    assert scrape_tasks(stack) == tasks


def test_the_api_refuses_cross_site_changes_and_other_periodic_tasks(stack, webapp):
    evil = {"Origin": "http://evil.example"}
    r = requests.post(f"{webapp.url}/api/sites", headers=evil, timeout=10,
                      json={"url": unique_url(), "cron": "0 * * * *"})
    assert r.status_code == 403 and r.json()["error"]
    assert requests.delete(f"{webapp.url}/api/sites/celeriac.cleanup", headers=evil,
                           timeout=10).status_code == 403
    assert requests.delete(f"{webapp.url}/api/sites/celeriac.cleanup",
                           timeout=10).status_code == 404
    assert requests.get(f"{webapp.url}/api/sites/celeriac.cleanup", timeout=10).status_code == 404
    assert periodic(stack, "celeriac.cleanup") is not None
