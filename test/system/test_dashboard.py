"""The dashboard (/), GET /api/stats and GET /metrics against real servers: the numbers
match what PostgreSQL holds, the page shows them with an SVG chart that carries the right
numbers, /metrics is valid Prometheus text (checked by a strict parser written from the
exposition format's rules) with values that match the database and the requests sent, and
the form's typed fields turn into JSON values of their type."""
import json
import math
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import requests

from harness import (db, publish_raw, queue_count, start_webapp, start_webapp_with_down,
                     wait_until)

STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]
SVG_NS = "{http://www.w3.org/2000/svg}"


# ------------------------------------------------------------------------------ helpers


def rows(stack, sql, params=None):
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def post_task(web, payload):
    r = requests.post(f"{web.url}/api/tasks", json=payload, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def wait_final(stack, ids, timeout=30):
    def final():
        done = rows(stack, "SELECT count(*) FROM tasks WHERE id = ANY(%s::uuid[])"
                           " AND state IN ('SUCCESS', 'FAILURE')", (list(ids),))[0][0]
        return done == len(ids)
    wait_until(final, timeout, message=f"{len(ids)} tasks never all ended")


def percentile_cont(values, p):
    """PostgreSQL's percentile_cont: interpolated between the neighbouring values."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def iso_z(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def database_view(stack):
    """What the dashboard should show, computed here from the rows themselves (not with the
    webapp's SQL): counts by state, the window's per-minute series, percentiles by name,
    workers online, and the per (name, state) counts and run times /metrics exposes."""
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute("SELECT now()")
            now = cur.fetchone()[0]
            since = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
            until = since + timedelta(hours=1)
            cur.execute("SELECT name, state, count(*) FROM tasks GROUP BY name, state")
            by_name_state = {(n, s): c for n, s, c in cur.fetchall()}
            cur.execute("SELECT name, state, finished_at, wall_s FROM tasks"
                        " WHERE finished_at >= %s AND finished_at < %s"
                        " AND state IN ('SUCCESS', 'FAILURE')", (since, until))
            runs = cur.fetchall()
            cur.execute("SELECT count(*) FROM workers WHERE stopped_at IS NULL"
                        " AND heartbeat_at > now() - interval '15 seconds'")
            online = cur.fetchone()[0]
    finally:
        conn.close()
    counts = {s: 0 for s in STATES}
    for (_n, s), c in by_name_state.items():
        counts[s] += c
    minutes = [since + timedelta(minutes=i) for i in range(60)]
    per_minute = {m: [0, 0] for m in minutes}
    times = {}
    for name, state, finished, wall in runs:
        per_minute[finished.replace(second=0, microsecond=0)][state == "FAILURE"] += 1
        if wall is not None and 0 <= wall < math.inf:
            times.setdefault(name, []).append(wall)
    return {
        "window": {"since": iso_z(since), "until": iso_z(until), "seconds": 3600},
        "counts": counts,
        "total": sum(counts.values()),
        "per_minute": [{"minute": iso_z(m), "succeeded": per_minute[m][0],
                        "failed": per_minute[m][1]} for m in minutes],
        "runtime": {n: {"count": len(v), "p50": percentile_cont(v, 0.5),
                        "p95": percentile_cont(v, 0.95), "p99": percentile_cont(v, 0.99)}
                    for n, v in times.items()},
        "times": times,
        "by_name_state": by_name_state,
        "workers_online": online,
    }


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_stats_match(stats, view):
    """stats (GET /api/stats) says what view (database_view) says; AssertionError naming the
    first difference."""
    assert stats["window"] == view["window"], (stats["window"], view["window"])
    assert stats["counts"] == view["counts"], (stats["counts"], view["counts"])
    assert list(stats["counts"]) == STATES  # Celery's order, every state
    assert stats["total"] == view["total"]
    assert stats["per_minute"] == view["per_minute"], "per-minute series differ"
    assert stats["workers_online"] == view["workers_online"]
    got = {t["name"]: t for t in stats["runtime"]}
    assert set(got) == set(view["runtime"]), (set(got), set(view["runtime"]))
    assert [t["name"] for t in stats["runtime"]] == sorted(got)
    for name, want in view["runtime"].items():
        assert got[name]["count"] == want["count"], name
        for p in ("p50", "p95", "p99"):
            assert close(got[name][p], want[p]), (name, p, got[name][p], want[p])


def stats_matching_database(stack, web, timeout=30):
    """GET /api/stats once it agrees with the database read just before and just after it
    (the window moves at each minute: then read again)."""
    def agree():
        before = database_view(stack)
        r = requests.get(f"{web.url}/api/stats", timeout=10)
        after = database_view(stack)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        stats = r.json()
        assert_stats_match(stats, after if before["window"] != after["window"] else before)
        return stats, after
    return wait_until(agree, timeout, interval=0.5,
                      message="GET /api/stats agreeing with the database")


@pytest.fixture
def synthetic(stack):
    """Finished rows written straight into tasks, under a name of their own: 20 runs over the
    last 40 minutes with known run times (alternately succeeded and failed), one run with no
    run time, two runs two hours ago (outside the window) and one PENDING row. Deleted after
    the test."""
    name = f"synth.{uuid.uuid4().hex[:10]}"
    conn = db(stack)
    try:
        with conn.cursor() as cur:
            for k in range(1, 21):
                cur.execute("INSERT INTO tasks (id, name, state, created_at, finished_at, wall_s)"
                            " VALUES (gen_random_uuid(), %s, %s, now() - %s * interval '2 min',"
                            " now() - %s * interval '2 min', %s)",
                            (name, "SUCCESS" if k % 2 else "FAILURE", k, k, 0.05 * k))
            cur.execute("INSERT INTO tasks (id, name, state, finished_at) VALUES"
                        " (gen_random_uuid(), %s, 'FAILURE', now() - interval '5 min')", (name,))
            for _ in range(2):
                cur.execute("INSERT INTO tasks (id, name, state, finished_at, wall_s) VALUES"
                            " (gen_random_uuid(), %s, 'SUCCESS', now() - interval '2 hours',"
                            " 999)", (name,))
            cur.execute("INSERT INTO tasks (id, name) VALUES (gen_random_uuid(), %s)", (name,))
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM tasks WHERE name = %s", (name,))
        conn.close()


@pytest.fixture
def registered_worker(stack):
    """A worker row that registers typed.check (every parameter type) with a heartbeat in the
    future, so it stays online for the test; no process runs it. Deleted after."""
    host = f"typed-{uuid.uuid4().hex[:8]}@test"
    params = [
        {"name": "n", "type": "number", "required": True},
        {"name": "i", "type": "integer", "required": False, "default": 3},
        {"name": "s", "type": "string", "required": True},
        {"name": "b", "type": "bool", "required": False, "default": True},
        {"name": "o", "type": "object", "required": False, "default": {}},
        {"name": "a", "type": "array", "required": False},
    ]
    registered = [{"name": "typed.check", "doc": "typed.check(n, i=3, s, b=true, o={}, a)",
                   "example_args": "[]", "queue": "celery", "params": params}]
    with db(stack).cursor() as cur:
        cur.execute("INSERT INTO workers (hostname, pid, concurrency, queues, registered,"
                    " heartbeat_at) VALUES (%s, 1, 1, '{typed}', %s,"
                    " now() + interval '1 hour')", (host, json.dumps(registered)))
    yield host
    with db(stack).cursor() as cur:
        cur.execute("DELETE FROM workers WHERE hostname = %s", (host,))


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, in order."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def svg_of(page):
    """The dashboard's chart as an XML element (the page's SVG must be well-formed XML)."""
    m = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert m, "no <svg> in the page"
    return ET.fromstring(m.group(0))


# ------------------------------------------------------------------------------ /api/stats


def test_stats_match_what_the_database_holds(stack, webapp, worker, synthetic):
    ids = [post_task(webapp, {"name": "demo.add", "args": [i, 1]}) for i in range(5)]
    ids += [post_task(webapp, {"name": "demo.fail", "args": [f"boom {i}"]}) for i in range(3)]
    wait_final(stack, ids)

    stats, view = stats_matching_database(stack, webapp)
    assert stats["counts"]["SUCCESS"] >= 5 and stats["counts"]["FAILURE"] >= 3
    assert stats["workers_online"] >= 1
    assert len(stats["per_minute"]) == 60
    # The runs just made sit in the last minutes of the series.
    recent = stats["per_minute"][-3:]
    assert sum(m["succeeded"] for m in recent) >= 5 and sum(m["failed"] for m in recent) >= 3
    # The synthetic runs: 20 timed ones in the window (not the two of two hours ago, nor the
    # one without a run time), percentiles of 0.05, 0.10, ..., 1.00 interpolated.
    mine = {t["name"]: t for t in stats["runtime"]}[synthetic]
    assert mine["count"] == 20
    assert close(mine["p50"], 0.525) and close(mine["p95"], 0.9525)
    assert close(mine["p99"], 0.9905)
    assert {t["name"] for t in stats["runtime"]} >= {"demo.add", "demo.fail", synthetic}
    # The synthetic rows' minutes: 10 succeeded and 11 failed (one without a run time).
    synth_minutes = sum(m["succeeded"] + m["failed"] for m in stats["per_minute"])
    assert synth_minutes >= 21 + 8


def test_without_the_database_stats_answer_503_and_metrics_say_so(stack, start_proc):
    web = start_webapp_with_down(stack, "database", starter=start_proc).url
    r = requests.get(f"{web}/api/stats", timeout=30)
    assert r.status_code == 503 and "database" in r.json()["error"]
    assert r.headers["Retry-After"] == "5"
    page = requests.get(f"{web}/", timeout=30)
    assert page.status_code == 200
    assert "cannot be read" in page.text and 'action="/"' in page.text  # the form still works
    metrics = requests.get(f"{web}/metrics", timeout=30)
    assert metrics.status_code == 200
    families = parse_exposition(metrics.text)
    assert families["celeriac_database_up"].samples == [("celeriac_database_up", {}, 0.0)]
    assert "celeriac_tasks" not in families and "celeriac_workers_online" not in families
    assert sample(families, "celeriac_http_requests_total", method="GET", route="/api/stats",
                  code="503") == 1


# ------------------------------------------------------------------------------ the page


def test_the_dashboard_shows_the_numbers_and_an_svg_chart_of_them(stack, webapp, worker,
                                                                   synthetic):
    ids = [post_task(webapp, {"name": "demo.add", "args": [1, i]}) for i in range(4)]
    ids += [post_task(webapp, {"name": "demo.fail", "args": ["no"]}) for _ in range(2)]
    wait_final(stack, ids)

    def page_between_equal_stats():
        before = requests.get(f"{webapp.url}/api/stats", timeout=10).json()
        page = requests.get(f"{webapp.url}/", timeout=10)
        after = requests.get(f"{webapp.url}/api/stats", timeout=10).json()
        before.pop("generated_at"), after.pop("generated_at")
        return (page, after) if before == after else None
    page, stats = wait_until(page_between_equal_stats, 30, interval=0.5,
                             message="a page read while the numbers stood still")
    assert page.status_code == 200
    text = page.text
    assert "<script" not in text and "style=" not in text  # the CSP allows neither

    # Counts by state, each linking to its list; workers online linking to /workers.
    shown = re.findall(r'<span class="dash-count" data-state="([A-Z]+)">(\d+)</span>', text)
    assert [(s, int(n)) for s, n in shown] == list(stats["counts"].items())
    for state in STATES:
        assert f'<a href="/tasks?state={state}">' in text
    workers = re.search(r'<a href="/workers"><span class="dash-count" data-workers-online="(\d+)">'
                        r'(\d+)</span> workers? online</a>', text)
    assert workers and int(workers.group(1)) == int(workers.group(2)) == stats["workers_online"]

    # The chart: SVG with a title and a description, one group per minute carrying its
    # numbers, bars whose heights follow them on the scale its grid lines give.
    svg = svg_of(text)
    assert svg.get("role") == "img"
    labelled = svg.get("aria-labelledby").split()
    ids_in_svg = {e.get("id"): e for e in svg.iter() if e.get("id")}
    assert [ids_in_svg[i].tag for i in labelled] == [SVG_NS + "title", SVG_NS + "desc"]
    desc = ids_in_svg[labelled[1]].text
    total_ok = sum(m["succeeded"] for m in stats["per_minute"])
    total_failed = sum(m["failed"] for m in stats["per_minute"])
    assert f"{total_ok} tasks succeeded and {total_failed} failed" in desc
    busiest = max(m["succeeded"] + m["failed"] for m in stats["per_minute"])
    assert f"saw {busiest}." in desc

    grid = {}
    for line, label in zip(svg.iter(SVG_NS + "line"), [t for t in svg.iter(SVG_NS + "text")
                                                        if t.get("text-anchor") == "end"]):
        grid[int(label.text)] = float(line.get("y1"))
    y_max = int(svg.get("data-y-max"))
    assert min(grid) == 0 and max(grid) == y_max >= busiest
    baseline, per_unit = grid[0], (grid[0] - grid[y_max]) / y_max

    minutes = [g for g in svg.iter(SVG_NS + "g") if g.get("class") == "dash-minute"]
    assert [(g.get("data-minute"), int(g.get("data-succeeded")), int(g.get("data-failed")))
            for g in minutes] == [(m["minute"], m["succeeded"], m["failed"])
                                  for m in stats["per_minute"]]
    for g in minutes:
        ok, failed = int(g.get("data-succeeded")), int(g.get("data-failed"))
        assert g.find(SVG_NS + "title").text.endswith(f"UTC: {ok} succeeded, {failed} failed")
        bars = {r.get("class"): r for r in g.iter(SVG_NS + "rect")}
        assert set(bars) == ({"dash-succeeded"} if ok else set()) | (
            {"dash-failed"} if failed else set())
        top = baseline
        for cls, n in (("dash-succeeded", ok), ("dash-failed", failed)):
            if n:
                height, y = float(bars[cls].get("height")), float(bars[cls].get("y"))
                assert abs(height - n * per_unit) < 0.02, (g.get("data-minute"), cls)
                assert abs(y + height - top) < 0.02  # stacked: failed on top of succeeded
                top = y

    # The same numbers as a table (minutes with runs), for anyone who cannot see the chart.
    table = re.search(r"<summary>The numbers, minute by minute</summary>\s*<table>(.*?)</table>",
                      text, re.S).group(1)
    listed = re.findall(r"<tr><td>(\d\d:\d\d)</td><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert listed == [(m["minute"][11:16], str(m["succeeded"]), str(m["failed"]))
                      for m in stats["per_minute"] if m["succeeded"] + m["failed"]]

    # Run time percentiles by name, the exact values in data attributes.
    rows_shown = re.findall(r'<tr data-name="([^"]+)"><td><code>[^<]+</code></td>'
                            r'<td class="num" data-count="(\d+)">\d+</td>'
                            r'<td class="num" data-p50="([^"]+)">[^<]+</td>'
                            r'<td class="num" data-p95="([^"]+)">[^<]+</td>'
                            r'<td class="num" data-p99="([^"]+)">[^<]+</td></tr>', text)
    assert [(n, int(c)) for n, c, *_ in rows_shown] == [
        (t["name"], t["count"]) for t in stats["runtime"]]
    for (_n, _c, *shown_p), t in zip(rows_shown, stats["runtime"]):
        # cJSON prints 15 significant digits: the page's are exact, the JSON's within a unit
        # in the last place.
        assert all(close(float(v), t[p]) for v, p in zip(shown_p, ("p50", "p95", "p99")))
    assert synthetic in [r[0] for r in rows_shown]


# ------------------------------------------------------------------------------ /metrics

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Family:
    def __init__(self, name):
        self.name, self.help, self.type, self.samples = name, None, None, []


def parse_float(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", text):
        raise AssertionError(f"not a float: {text!r}")
    return float(text)


def parse_escaped(text, i, allowed):
    """Read an escaped string from text[i] up to an unescaped '"' (label values: \\\\ \\" \\n)
    or the end (HELP: \\\\ \\n). Returns (string, index after it)."""
    out = []
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1:i + 2]
            assert nxt in allowed, f"invalid escape \\{nxt} in {text!r}"
            out.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        elif c == '"' and '"' in allowed:
            return "".join(out), i
        else:
            assert c != "\n"
            out.append(c)
            i += 1
    assert '"' not in allowed, f"unterminated label value in {text!r}"
    return "".join(out), i


def parse_sample(line):
    m = METRIC_NAME.match(line)
    assert m, f"bad metric name: {line!r}"
    name, i, labels = m.group(0), m.end(), {}
    if line[i:i + 1] == "{":
        i += 1
        while line[i] != "}":
            lm = LABEL_NAME.match(line, i)
            assert lm, f"bad label name at {i}: {line!r}"
            label = lm.group(0)
            assert not label.startswith("__"), "reserved label name"
            assert label not in labels, f"label {label} repeated: {line!r}"
            i = lm.end()
            assert line[i:i + 2] == '="', f"expected =\" at {i}: {line!r}"
            labels[label], i = parse_escaped(line, i + 2, '\\"n')
            i += 1  # the closing quote
            if line[i] == ",":
                i += 1
            else:
                assert line[i] == "}", f"expected , or }} at {i}: {line!r}"
        i += 1
    rest = line[i:]
    assert rest.startswith(" "), f"no space before the value: {line!r}"
    parts = rest.split()
    assert 1 <= len(parts) <= 2, f"expected a value and maybe a timestamp: {line!r}"
    value = parse_float(parts[0])
    if len(parts) == 2:
        assert re.fullmatch(r"-?\d+", parts[1]), f"bad timestamp: {line!r}"
    return name, labels, value


def family_of(name, families):
    """The family a sample belongs to: a histogram's _bucket, _sum and _count samples belong
    to the histogram."""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and base in families and families[base].type == "histogram":
            return base
    return name


def parse_exposition(text):
    """Parse Prometheus text format 0.0.4 strictly: HELP and TYPE at most once per family,
    TYPE before its samples, a family's samples together, no sample twice, valid names,
    labels, escapes and values, histograms cumulative with +Inf equal to _count and a _sum.
    Returns {family name: Family}."""
    assert text.endswith("\n"), "the last line must end with a line feed"
    families, order, seen = {}, [], set()
    current = None
    for line in text[:-1].split("\n"):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert METRIC_NAME.fullmatch(name), f"bad name in {line!r}"
                fam = families.setdefault(name, Family(name))
                if parts[1] == "HELP":
                    assert fam.help is None, f"second HELP for {name}"
                    fam.help, _ = parse_escaped(parts[3] if len(parts) > 3 else "", 0, "\\n")
                else:
                    assert fam.type is None, f"second TYPE for {name}"
                    assert not fam.samples, f"TYPE after samples of {name}"
                    assert len(parts) == 4 and parts[3] in TYPES, f"bad TYPE line {line!r}"
                    fam.type = parts[3]
            continue
        name, labels, value = parse_sample(line)
        base = family_of(name, families)
        fam = families.setdefault(base, Family(base))
        if current != base:
            assert base not in order, f"samples of {base} are not together"
            order.append(base)
            current = base
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"sample {key} twice"
        seen.add(key)
        if fam.type == "counter":
            assert value >= 0 and name.endswith("_total"), line
        fam.samples.append((name, labels, value))
    for fam in families.values():
        if fam.type == "histogram":
            check_histogram(fam)
    return families


def check_histogram(fam):
    series = {}
    for name, labels, value in fam.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam.name + "_bucket":
            assert "le" in labels, f"bucket without le: {labels}"
            s["buckets"].append((parse_float(labels["le"]), value))
        elif name == fam.name + "_sum":
            s["sum"] = value
        elif name == fam.name + "_count":
            s["count"] = value
        else:
            raise AssertionError(f"{name} in histogram {fam.name}")
    for rest, s in series.items():
        bounds = [b for b, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), rest
        assert bounds and bounds[-1] == math.inf, f"no +Inf bucket for {rest}"
        assert counts == sorted(counts), f"buckets not cumulative for {rest}"
        assert s["count"] == counts[-1], f"_count is not the +Inf bucket for {rest}"
        assert s["sum"] is not None, f"no _sum for {rest}"
        assert s["sum"] >= 0 or s["count"] == 0


def sample(families, family, **labels):
    """The value of the sample of family with exactly these labels (0 when absent)."""
    for name, got, value in families[family].samples:
        if name == family and got == labels:
            return value
    return 0


def scrape(web, auth=None):
    r = requests.get(f"{web.url}/metrics", auth=auth, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_exposition(r.text)


def test_the_strict_parser_refuses_what_the_format_forbids():
    good = ("# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\n"
            'h_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 2\n'
            "h_seconds_sum 3.5\nh_seconds_count 2\n")
    assert parse_exposition(good)["h_seconds"].type == "histogram"
    bad = [
        good.replace('le="1"} 1', 'le="1"} 3'),                     # not cumulative
        good.replace("h_seconds_count 2", "h_seconds_count 5"),     # _count is not +Inf
        good.replace('h_seconds_bucket{le="+Inf"} 2\n', ""),        # no +Inf
        good.replace("h_seconds_sum 3.5\n", ""),                     # no _sum
        good + "# TYPE h_seconds histogram\n",                       # TYPE twice
        'x{a="\\t"} 1\n',                                            # unknown escape
        'x{a="1",a="2"} 1\n',                                        # label twice
        "x 1\ny 1\nx 2\n",                                           # family split
        "x{1a=\"b\"} 1\n",                                           # bad label name
        "# TYPE c_total counter\nc_total -1\n",                      # negative counter
        "x one\n",                                                   # not a value
        "x 1",                                                       # no final line feed
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            parse_exposition(text)


def test_metrics_parse_and_match_the_database_and_the_requests_sent(stack, webapp, worker,
                                                                    synthetic):
    # A name that needs escaping (a Python client may send any name; this row is written
    # straight into the table, as a worker would).
    odd = 'odd "name" \\ with\nline'
    with db(stack).cursor() as cur:
        cur.execute("INSERT INTO tasks (id, name, state, finished_at, wall_s) VALUES"
                    " (gen_random_uuid(), %s, 'SUCCESS', now() - interval '1 minute', 0.25)",
                    (odd,))
    try:
        ids = [post_task(webapp, {"name": "demo.add", "args": [2, i]}) for i in range(3)]
        ids.append(post_task(webapp, {"name": "demo.fail", "args": ["x"]}))
        wait_final(stack, ids)

        def agree():
            before = database_view(stack)
            families = scrape(webapp)
            after = database_view(stack)
            assert before["by_name_state"] == after["by_name_state"]
            assert before["times"] == after["times"]
            return families, after
        families, view = wait_until(agree, 30, interval=0.5,
                                    message="/metrics and the database agreeing")

        fams = families
        assert fams["celeriac_tasks"].type == "gauge"
        assert fams["celeriac_task_runtime_seconds"].type == "histogram"
        assert fams["celeriac_workers_online"].type == "gauge"
        assert fams["celeriac_http_requests_total"].type == "counter"
        for fam in fams.values():
            assert fam.help and fam.type, fam.name
        tasks = {(labels["name"], labels["state"]): value
                 for _n, labels, value in fams["celeriac_tasks"].samples}
        assert tasks == {k: float(v) for k, v in view["by_name_state"].items()}
        assert tasks[(odd, "SUCCESS")] == 1  # escaped, and read back whole
        assert sample(fams, "celeriac_workers_online") == view["workers_online"] >= 1
        assert sample(fams, "celeriac_database_up") == 1

        # The histogram of each name: cumulative counts of the window's run times.
        hist = {}
        for name, labels, value in fams["celeriac_task_runtime_seconds"].samples:
            hist.setdefault(labels["name"], {})[
                (name.rsplit("_", 1)[1], labels.get("le"))] = value
        assert set(hist) == set(view["times"])
        for name, times in view["times"].items():
            h = hist[name]
            assert h[("count", None)] == len(times)
            assert close(h[("sum", None)], sum(times))
            for (kind, le), value in h.items():
                if kind == "bucket":
                    assert value == sum(1 for t in times if t <= parse_float(le)), (name, le)
        mine = hist[synthetic]
        assert mine[("bucket", "0.1")] == 2 and mine[("bucket", "0.5")] == 10
        assert mine[("bucket", "1")] == 20 and mine[("bucket", "+Inf")] == 20
        assert hist[odd][("bucket", "0.25")] == 1 and hist[odd][("bucket", "0.1")] == 0
    finally:
        with db(stack).cursor() as cur:
            cur.execute("DELETE FROM tasks WHERE name = %s", (odd,))


def test_http_requests_are_counted_by_route_pattern_and_status(webapp):
    def counts():
        f = scrape(webapp)
        return {(l["method"], l["route"], l["code"]): v
                for _n, l, v in f["celeriac_http_requests_total"].samples}
    before = counts()
    secret = uuid.uuid4().hex
    for _ in range(3):
        assert requests.get(f"{webapp.url}/api/tasks", timeout=10).status_code == 200
    for _ in range(2):
        assert requests.get(f"{webapp.url}/api/tasks?state=NOPE", timeout=10).status_code == 400
    assert requests.get(f"{webapp.url}/api/tasks/{uuid.uuid4()}", timeout=10).status_code == 404
    assert requests.get(f"{webapp.url}/api/tasks/not-a-uuid", timeout=10).status_code == 400
    assert requests.head(f"{webapp.url}/api/tasks", timeout=10).status_code == 200
    assert requests.get(f"{webapp.url}/no/such/{secret}", timeout=10).status_code == 404
    assert requests.request("BREW", f"{webapp.url}/{secret}", timeout=10).status_code in (
        400, 404, 405, 501)
    r = requests.get(f"{webapp.url}/metrics", timeout=30)
    after = {(l["method"], l["route"], l["code"]): v for _n, l, v in
             parse_exposition(r.text)["celeriac_http_requests_total"].samples}
    assert secret not in r.text  # never a path as a label

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)
    assert delta(("GET", "/api/tasks", "200")) == 3
    assert delta(("GET", "/api/tasks", "400")) == 2
    assert delta(("HEAD", "/api/tasks", "200")) == 1
    assert delta(("GET", "/api/tasks/{id}", "404")) == 1
    assert delta(("GET", "/api/tasks/{id}", "400")) == 1
    assert delta(("GET", "unmatched", "404")) == 1
    assert delta(("GET", "/metrics", "200")) == 1  # the first scrape, counted once answered
    brewed = [k for k in after if k[0] == "other"]
    assert brewed and all(k[1] in ("unmatched", "/") for k in brewed)
    assert all(not k[1].startswith("/no/") for k in after)
    # Nothing else moved: only what was sent.
    moved = {k for k in after if delta(k) != 0}
    assert moved == {("GET", "/api/tasks", "200"), ("GET", "/api/tasks", "400"),
                     ("HEAD", "/api/tasks", "200"), ("GET", "/api/tasks/{id}", "404"),
                     ("GET", "/api/tasks/{id}", "400"), ("GET", "unmatched", "404"),
                     ("GET", "/metrics", "200")} | set(brewed)


def test_metrics_and_stats_follow_celeriac_auth(stack, procs):
    web = start_webapp(env=stack.env(CELERIAC_AUTH="prom:scrape me"), name="webapp-auth",
                       starter=procs.start)
    for path in ("/metrics", "/api/stats", "/"):
        r = requests.get(web.url + path, timeout=10)
        assert r.status_code == 401, path
        assert r.headers["WWW-Authenticate"].startswith("Basic")
    families = scrape(web, auth=("prom", "scrape me"))
    assert sample(families, "celeriac_http_requests_total", method="GET", route="/metrics",
                  code="401") == 1
    assert sample(families, "celeriac_http_requests_total", method="GET", route="/api/stats",
                  code="401") == 1
    assert requests.get(web.url + "/api/stats", auth=("prom", "scrape me"),
                        timeout=10).status_code == 200


# ------------------------------------------------------------------------------ the form


def form_fields(page):
    """The run form's fields: {name: (tag, attributes)} of the form posting to /."""
    m = re.search(r'<form class="task" method="post" action="/">(.*?)</form>', page, re.S)
    assert m, "no run form posting to /"
    fields = {}
    for tag, attrs in Tags(m.group(1)).tags:
        if tag in ("input", "select", "textarea") and "name" in attrs:
            fields[attrs["name"]] = (tag, attrs)
    return fields, m.group(1)


def post_form(web, data, path="/"):
    return requests.post(web.url + path, data=data, allow_redirects=False, timeout=30)


def test_choosing_demo_add_shows_two_number_fields_that_run_it_with_numbers(stack, webapp,
                                                                             worker):
    def described():
        page = requests.get(webapp.url + "/", params={"task": "demo.add"}, timeout=10).text
        return page if 'name="p.x"' in page else None
    page = wait_until(described, 15, message="demo.add's fields (the worker's registry)")
    fields, form = form_fields(page)
    typed = {k: v for k, v in fields.items() if k.startswith("p.")}
    assert list(typed) == ["p.x", "p.y"]
    for key in typed:
        tag, attrs = typed[key]
        assert tag == "input" and attrs["type"] == "number", attrs
        assert f'<label for="{attrs["id"]}">{key[2:]} ' in form  # labelled
    assert fields["name"][1] == {"type": "hidden", "name": "name", "value": "demo.add"}
    assert fields["args"][0] == "textarea" and fields["kwargs"][0] == "textarea"  # raw stays
    assert '<option value="demo.add" selected>' in page  # the chooser says which

    r = post_form(webapp, {"name": "demo.add", "p.x": "2.5", "p.y": "4", "args": "",
                           "kwargs": "", "queue": ""})
    assert r.status_code == 303, r.text
    task_id = re.fullmatch(r"/tasks/([0-9a-f-]{36})", r.headers["Location"]).group(1)
    wait_final(stack, [task_id])
    (args, kwargs, result, state), = rows(
        stack, "SELECT args, kwargs, result, state FROM tasks WHERE id = %s", (task_id,))
    assert state == "SUCCESS"
    assert args == [] and kwargs == {"x": 2.5, "y": 4}
    assert all(isinstance(v, (int, float)) for v in kwargs.values())  # numbers, not strings
    assert result == 6.5

    # A bool field: demo.record's fail_after (a select of true/false), sent as false.
    r = post_form(webapp, {"name": "demo.record", "p.key": f"k-{uuid.uuid4().hex[:8]}",
                           "p.fail_after": "false"})
    assert r.status_code == 303, r.text
    task_id = r.headers["Location"].rsplit("/", 1)[1]
    wait_final(stack, [task_id])
    (kwargs, state), = rows(stack, "SELECT kwargs, state FROM tasks WHERE id = %s", (task_id,))
    assert kwargs["fail_after"] is False and state == "SUCCESS"


def test_every_type_of_field_becomes_its_json_value(stack, webapp, registered_worker):
    queue = f"dashtest.{uuid.uuid4().hex[:10]}"  # nobody consumes it
    page = requests.get(webapp.url + "/", params={"task": "typed.check"}, timeout=10).text
    fields, _form = form_fields(page)
    assert fields["p.n"][1]["type"] == "number" and fields["p.i"][1]["type"] == "number"
    assert fields["p.i"][1]["step"] == "1" and fields["p.s"][1]["type"] == "text"
    assert fields["p.b"][0] == "select" and fields["p.o"][0] == "textarea"
    assert fields["p.a"][0] == "textarea"
    r = post_form(webapp, {"name": "typed.check", "queue": queue, "p.n": " -1.5e2 ",
                           "p.i": "42", "p.s": " two words ", "p.b": "false",
                           "p.o": '{"k": [1, null]}', "p.a": "[true]", "args": "[7]",
                           "kwargs": '{"extra": "kept"}'})
    assert r.status_code == 303, r.text
    task_id = r.headers["Location"].rsplit("/", 1)[1]
    (args, kwargs, name, q), = rows(stack, "SELECT args, kwargs, name, queue FROM tasks"
                                           " WHERE id = %s", (task_id,))
    assert (name, q, args) == ("typed.check", queue, [7])
    assert kwargs == {"n": -150, "i": 42, "s": " two words ", "b": False, "o": {"k": [1, None]},
                      "a": [True], "extra": "kept"}
    assert queue_count(stack, queue) == 1
    # Optional fields left empty take the task's defaults: they are not sent at all.
    r = post_form(webapp, {"name": "typed.check", "queue": queue, "p.n": "1", "p.s": "x",
                           "p.i": "", "p.b": "", "p.o": "", "p.a": ""})
    assert r.status_code == 303, r.text
    (kwargs,), = rows(stack, "SELECT kwargs FROM tasks WHERE id = %s",
                      (r.headers["Location"].rsplit("/", 1)[1],))
    assert kwargs == {"n": 1, "s": "x"}


BAD_FIELDS = [
    ("not a number", {"p.n": "abc", "p.s": "x"}, "'n' must be a number"),
    ("infinite", {"p.n": "1e999", "p.s": "x"}, "'n' must be a number"),
    ("nan", {"p.n": "nan", "p.s": "x"}, "'n' must be a number"),
    ("hex", {"p.n": "0x10", "p.s": "x"}, "'n' must be a number"),
    ("not whole", {"p.n": "1", "p.i": "2.5", "p.s": "x"}, "'i' must be a whole number"),
    ("not a bool", {"p.n": "1", "p.b": "yes", "p.s": "x"}, "'b' must be true or false"),
    ("not an object", {"p.n": "1", "p.o": "[1]", "p.s": "x"}, "'o' must be a JSON object"),
    ("not JSON", {"p.n": "1", "p.a": "[1,", "p.s": "x"}, "'a' is not valid JSON"),
    ("not an array", {"p.n": "1", "p.a": "{}", "p.s": "x"}, "'a' must be a JSON array"),
    ("required left empty", {"p.n": "", "p.s": "x"}, "'n' is required"),
    ("required string empty", {"p.n": "1", "p.s": ""}, "'s' is required"),
    ("unknown field", {"p.n": "1", "p.s": "x", "p.zz": "1"}, "no parameter 'zz'"),
    ("twice", {"p.n": "1", "p.s": "x", "kwargs": '{"n": 2}'}, "'n' is given twice"),
    ("invalid UTF-8", {"p.n": "1", "p.s": b"\xff"}, "'s' is not valid UTF-8"),
    ("all empty, no JSON", {"p.n": "", "p.s": ""}, "'n' is required"),
]


@pytest.mark.parametrize("case,fields,words", BAD_FIELDS, ids=[c[0] for c in BAD_FIELDS])
def test_a_bad_typed_value_gets_a_400_naming_the_field_and_publishes_nothing(
        stack, webapp, registered_worker, case, fields, words):
    queue = f"dashtest.{uuid.uuid4().hex[:10]}"
    before = rows(stack, "SELECT count(*) FROM tasks")[0][0]
    data = {"name": "typed.check", "queue": queue, **fields}
    r = post_form(webapp, data)
    assert r.status_code == 400, r.text
    assert "text/html" in r.headers["Content-Type"]
    alert = re.search(r'<p class="error" role="alert">(.*?) <a href="#run">', r.text).group(1)
    assert words.replace("'", "&#39;") in alert, alert
    # The form comes back with what was typed (valid UTF-8 only) and the task's fields.
    if isinstance(fields.get("p.n"), str) and fields["p.n"]:
        assert f'name="p.n" type="number" step="any" value="{fields["p.n"]}"' in r.text
    assert rows(stack, "SELECT count(*) FROM tasks")[0][0] == before
    with pytest.raises(Exception):  # never declared: nothing was published to it
        queue_count(stack, queue)


def test_typed_fields_need_a_worker_that_describes_the_task(stack, webapp):
    name = f"nobody.{uuid.uuid4().hex[:8]}"
    before = rows(stack, "SELECT count(*) FROM tasks")[0][0]
    r = post_form(webapp, {"name": name, "p.x": "1"})
    assert r.status_code == 400
    assert "No worker online describes the parameters of " + name in r.text
    assert rows(stack, "SELECT count(*) FROM tasks")[0][0] == before


def test_a_name_the_registry_does_not_know_still_runs_with_raw_json(stack, webapp):
    name = f"nobody.{uuid.uuid4().hex[:8]}"
    queue = f"dashtest.{uuid.uuid4().hex[:10]}"
    page = requests.get(webapp.url + "/", params={"task": name}, timeout=10).text
    fields, form = form_fields(page)
    assert not [k for k in fields if k.startswith("p.")]
    assert fields["name"][1]["value"] == name and "list" in fields["name"][1]
    assert "No worker online describes the parameters of <code>" + name in form
    for path in ("/", "/tasks"):  # the dashboard's form and the JSON-only one
        r = post_form(webapp, {"name": name, "args": '[1, "a"]', "kwargs": '{"k": true}',
                               "queue": queue}, path=path)
        assert r.status_code == 303, r.text
        task_id = r.headers["Location"].rsplit("/", 1)[1]
        (args, kwargs, state), = rows(stack, "SELECT args, kwargs, state FROM tasks"
                                             " WHERE id = %s", (task_id,))
        assert (args, kwargs, state) == ([1, "a"], {"k": True}, "PENDING")
    assert queue_count(stack, queue) == 2


BAD_FORMS = [
    ("bad JSON", "name=demo.add&args=%5B1", "application/x-www-form-urlencoded", 400,
     "args is not valid"),
    ("not a form", "x", "text/plain", 415, "application/x-www-form-urlencoded"),
    ("NUL", "name=demo.add&p.x=%00", "application/x-www-form-urlencoded", 400, "NUL"),
    ("70 fields", "&".join(f"f{i}=1" for i in range(70)), "application/x-www-form-urlencoded",
     400, "more than 64 fields"),
    ("over 1 MiB", "name=" + "a" * (1 << 20), "application/x-www-form-urlencoded", 413,
     "larger than"),
]


@pytest.mark.parametrize("case,body,content_type,status,words", BAD_FORMS,
                         ids=[c[0] for c in BAD_FORMS])
def test_a_bad_dashboard_form_is_refused_and_publishes_nothing(stack, webapp, case, body,
                                                                content_type, status, words):
    before = rows(stack, "SELECT count(*) FROM tasks")[0][0]
    r = requests.post(webapp.url + "/", data=body, headers={"Content-Type": content_type},
                      timeout=30)
    assert r.status_code == status, r.text
    assert words in r.text
    assert rows(stack, "SELECT count(*) FROM tasks")[0][0] == before


def test_edit_and_rerun_fills_the_form_and_records_the_parent(stack, webapp, worker):
    """/?rerun=<id> is the form filled with the task's name, args, kwargs and queue; what it
    enqueues (edited or not) records the old task as its parent, as both pages show."""
    old = post_task(webapp, {"name": "demo.add", "args": [2, 3]})
    wait_final(stack, [old])
    page = requests.get(webapp.url + "/", params={"rerun": old}, timeout=10)
    assert page.status_code == 200, page.text
    fields, _form = form_fields(page.text)
    assert fields["parent_id"][1]["type"] == "hidden"
    assert fields["parent_id"][1]["value"] == old
    assert fields["name"][1]["value"] == "demo.add"
    assert json.loads(re.search(r'<textarea id="args"[^>]*>(.*?)</textarea>', page.text,
                                re.S).group(1)) == [2, 3]
    assert f'href="/tasks/{old}"' in page.text and "Re-running" in page.text

    # Edited: other args, the same parent.
    r = post_form(webapp, {"name": "demo.add", "args": "[5, 6]", "kwargs": "{}", "queue": "",
                           "parent_id": old})
    assert r.status_code == 303, r.text
    new = r.headers["Location"].rsplit("/", 1)[1]
    wait_final(stack, [new])
    (parent, result), = rows(stack, "SELECT parent_id::text, result FROM tasks WHERE id = %s",
                             (new,))
    assert parent == old and result == 11
    assert f'href="/tasks/{new}"' in requests.get(f"{webapp.url}/tasks/{old}", timeout=10).text
    assert f'href="/tasks/{old}"' in requests.get(f"{webapp.url}/tasks/{new}", timeout=10).text

    # Bad ids: the form again with the reason, nothing enqueued.
    assert requests.get(webapp.url + "/", params={"rerun": "nope"}, timeout=10).status_code == 400
    missing = str(uuid.uuid4())
    r = requests.get(webapp.url + "/", params={"rerun": missing}, timeout=10)
    assert r.status_code == 404 and "no such task" in r.text
    before = rows(stack, "SELECT count(*) FROM tasks")[0][0]
    r = post_form(webapp, {"name": "demo.add", "args": "[1, 1]", "parent_id": missing})
    assert r.status_code == 400 and "there is no task" in r.text, r.text
    r = post_form(webapp, {"name": "demo.add", "args": "[1, 1]", "parent_id": "x"})
    assert r.status_code == 400 and "parent_id" in r.text, r.text
    assert rows(stack, "SELECT count(*) FROM tasks")[0][0] == before


def test_queue_depths_show_on_the_dashboard_in_stats_and_in_metrics(stack, webapp):
    """A paused queue holding 3 messages: its depth is on /, in /api/stats and in /metrics
    (as /queues reads it: RabbitMQ's own count)."""
    queue = f"dash-{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{webapp.url}/api/queues/{queue}/pause", timeout=10)
    assert r.status_code == 200, r.text
    try:
        for i in range(3):
            publish_raw(stack, queue, json.dumps([[i], {}, {}]),
                        headers={"task": "demo.noop", "id": str(uuid.uuid4())})
        stats = requests.get(f"{webapp.url}/api/stats", timeout=10).json()
        assert stats["broker"] == "ok"
        [mine] = [q for q in stats["queues"] if q["name"] == queue]
        assert mine["messages"] == 3 and mine["consumers"] == 0 and mine["paused"] is True
        assert {"celery", "chat", "celeriac.dead"} <= {q["name"] for q in stats["queues"]}

        families = scrape(webapp)
        assert sample(families, "celeriac_queue_messages", queue=queue) == 3
        assert sample(families, "celeriac_queue_consumers", queue=queue) == 0
        assert sample(families, "celeriac_broker_up") == 1

        page = requests.get(webapp.url + "/", timeout=10).text
        row = re.search(r"<tr><td>" + re.escape(queue) + r".*?</tr>", page)
        assert row and "(paused)" in row.group(0) and "<td data-queue-messages>3</td>" in \
            row.group(0), row
    finally:
        requests.post(f"{webapp.url}/api/queues/{queue}/resume", timeout=10)
