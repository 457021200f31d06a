"""A local web site for the scraper's tests: test/fixtures/site/ plus misbehaving URLs.

Standard library only. Tests import it (test/system is on sys.path):

    srv = site_server.start(port=0, hang_seconds=60)
    srv.base                # "http://127.0.0.1:PORT"
    srv.site                # "127.0.0.1:PORT" (what articles.site holds)
    srv.requests            # snapshot: [{"path", "target", "method", "headers", "status", "time"}]
    srv.requested("/x")     # how many requests for that path (query ignored)
    srv.clear()             # forget the recorded requests
    srv.put("/x.html", body, content_type=None, last_modified=None)  # add/replace a page
    srv.remove("/x.html")   # undo put (the fixture file, if any, is served again)
    srv.stop()              # also `with site_server.start() as srv:`

start() also takes robots=False (/robots.txt answers 404), host="127.0.0.2" (any
loopback address; never anything else) and redirect_all_to="http://127.0.0.1:PORT":
then every path but /robots.txt answers 302 to that base + the same path and query.

or runs alone: /usr/bin/python3 test/system/site_server.py --port 0
(prints "listening http://127.0.0.1:PORT", serves until SIGTERM/SIGINT).

Static files come from test/fixtures/site/ ("/dir/" serves dir/index.html), with
"{{BASE}}" replaced by srv.base (bytes-level, so latin1.html and broken.html keep
their bytes). test/fixtures/site/README.md lists the special URLs; in short:

    /redirect/1 -> 302 /redirect/2 -> 301 /redirect/3 -> 302 /articles/redirected.html
    /loop/N     -> 302 /loop/N+1 forever
    /huge.html  6 MiB, chunked (no Content-Length); /huge-declared.html with it;
                /huge-gzip.html gzip-encoded when accepted (6 MiB once decoded)
    /hang.html  reads the request, sends nothing for hang_seconds, then closes
    /slow-drip.html  headers, then one byte a second (for at most hang_seconds)
    /reset.html closes the connection with a TCP RST, no answer
    /error.html 500; unknown paths 404 (small HTML body)
    /big-feed.xml  RSS 2.0 with 10,000 items (links {{BASE}}/big/1 .. /big/10000)
    /robots.txt    the fixture file; start(robots=False) makes it 404
    /hostile.html  an article made of XSS attempts (HOSTILE_HTML): <script>, on* handlers,
                   javascript: links, and markup written as text (&lt;script&gt;...) in
                   its title, author, description and paragraphs; test_browser.py checks
                   that the article pages show it as text and run none of it

Every 200 carries ETag and Last-Modified (fixed: LAST_MODIFIED). If-None-Match
that matches gives 304; If-Modified-Since >= Last-Modified gives 304 when no
If-None-Match was sent. Accept-Encoding: gzip compresses text responses; a
gzip response's ETag is the weak form W/"<same hash>" (as nginx does), and
either form matches in If-None-Match (weak comparison).
"""

import argparse
import email.utils
import gzip
import hashlib
import http.server
import os
import posixpath
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "site"
LAST_MODIFIED = "Wed, 25 Nov 2026 12:00:00 GMT"
HUGE_BYTES = 6 * 1024 * 1024
BIG_FEED_ITEMS = 10000
REDIRECTS = {  # path -> (status, Location)
    "/redirect/1": (302, "{{BASE}}/redirect/2"),  # absolute
    "/redirect/2": (301, "/redirect/3"),  # root-relative
    "/redirect/3": (302, "../articles/redirected.html"),  # relative to /redirect/3
}
NOT_SERVED = {"/README.md", "/expected.json"}  # the contract, not part of the site
DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)

# Every way an article could smuggle a script into the pages that show it. What runs sets
# window.celeriacPwned or opens a dialog. The entities (&lt;...&gt;) are text the scraper
# keeps: the pages must show it as such. HOSTILE_TEXT is in the stored text, verbatim.
HOSTILE_PATH = "/hostile.html"
HOSTILE_TITLE = "Hostile <script>window.celeriacPwned='title';alert(3)</script> markup"
HOSTILE_TEXT = ("Escaped markup stays text: <script>window.celeriacPwned='text';alert(10)</script>"
                " and \"><img src=x onerror=alert(11)> and <a href=\"javascript:alert(12)\">"
                "click</a>.")
HOSTILE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Hostile &lt;script&gt;window.celeriacPwned='title';alert(3)&lt;/script&gt; markup</title>
<meta name="description" content="A summary with &lt;img src=x onerror=alert(4)&gt; in it.">
<meta name="author" content="&lt;b onmouseover=alert(5)&gt;Mallory&lt;/b&gt;">
<meta property="article:published_time" content="2026-11-20T10:00:00Z">
<script>window.celeriacPwned = 'head'; alert(1)</script>
</head><body>
<nav><a href="javascript:alert(2)">Home</a></nav>
<main><article>
<h1>Hostile &lt;script&gt;window.celeriacPwned='title';alert(3)&lt;/script&gt; markup</h1>
<p>This article tries the usual tricks on whoever shows it: an inline script
<script>window.celeriacPwned = 'inline'; alert(6)</script> right here, an image whose
loading fails <img src="x" onerror="window.celeriacPwned = 'onerror'; alert(7)"> on purpose,
a <a href="javascript:window.celeriacPwned='link';alert(8)">javascript: link</a> and
<a href="{{BASE}}/" onclick="alert(9)">a link with onclick</a>.</p>
<p>Escaped markup stays text: &lt;script&gt;window.celeriacPwned='text';alert(10)&lt;/script&gt;
and &quot;&gt;&lt;img src=x onerror=alert(11)&gt; and &lt;a href=&quot;javascript:alert(12)&quot;&gt;click&lt;/a&gt;.</p>
<svg width="1" height="1" onload="alert(13)"><script>alert(14)</script></svg>
<iframe src="javascript:alert(15)"></iframe>
<p>The rest is an ordinary paragraph, long enough for a scraper to take this for the main
text of the page rather than navigation: a reader who sees it sees plain words, nothing
more, and a browser that shows it runs nothing.</p>
</article></main>
<footer><p onmouseover="alert(16)">Footer</p></footer>
</body></html>
"""

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}
_BY_PATH = {
    "/feed.xml": "application/rss+xml; charset=utf-8",
    "/atom.xml": "application/atom+xml; charset=utf-8",
    "/latin1.html": "text/html; charset=iso-8859-1",
}


def content_type_for(url_path):
    """The Content-Type a fixture file at url_path is served with."""
    if url_path in _BY_PATH:
        return _BY_PATH[url_path]
    ext = posixpath.splitext(url_path)[1].lower()
    if not ext:  # /medium/json-ld-post-1a2b3c: an extensionless page
        return "text/html; charset=utf-8"
    return _TYPES.get(ext, "application/octet-stream")


def _compressible(ctype):
    c = ctype.split(";")[0].strip().lower()
    return c.startswith("text/") or c.endswith("+xml") or c in (
        "application/xml", "application/json", "image/svg+xml")


def _accepts_gzip(header):
    for part in (header or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def _etag_of(body):
    return '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


def _inm_matches(header, etag):
    """Weak comparison (RFC 9110 13.1.2) of an If-None-Match header with etag."""
    opaque = etag[2:] if etag.startswith("W/") else etag
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == opaque:
            return True
    return False


def _http_date_ge(ims, last_modified):
    try:
        a = email.utils.parsedate_to_datetime(ims)
        b = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if a is None or b is None or a.tzinfo is None:
        return False
    return a >= b


class _Headers(dict):
    """Request headers with case-insensitive names (stored lower-case)."""

    def __init__(self, items=()):
        super().__init__()
        for k, v in items:
            k = k.lower()
            super().__setitem__(k, v if k not in self else self[k] + ", " + v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def _page(title, text):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
            "<body><h1>%s</h1><p>%s</p></body></html>\n" % (title, title, text)).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the scraper reuses connections
    server_version = "celeriac-fixture-site/1.0"
    timeout = 120  # an idle keep-alive connection is dropped after this

    # ----- plumbing -----

    def version_string(self):
        return self.server_version

    def handle_one_request(self):
        self._rec = None  # a request that fails to parse must not touch the previous record
        super().handle_one_request()

    def log_message(self, *args):  # quiet
        pass

    def log_request(self, *args):
        pass

    def handle(self):
        try:
            super().handle()
        except DISCONNECTS:
            self.close_connection = True
        except OSError:
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def _not_allowed(self):
        self._record()
        self._send_simple(405, "Method Not Allowed", "Only GET and HEAD.", extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def _record(self):
        site = self.server.site
        path = urllib.parse.urlsplit(self.path).path
        self._rec = {
            "path": path,
            "target": self.path,
            "method": self.command,
            "headers": _Headers(self.headers.items()),
            "status": None,
            "time": time.monotonic(),
        }
        with site._lock:
            site._requests.append(self._rec)

    def send_response(self, code, message=None):
        if getattr(self, "_rec", None) is not None:
            self._rec["status"] = code
        super().send_response(code, message)

    def _send_simple(self, code, title, text, extra=None, head=False):
        body = _page("%d %s" % (code, title), text)
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    # ----- routing -----

    def _serve(self, head):
        self._record()
        site = self.server.site
        path = urllib.parse.unquote(self._rec["path"])

        with site._lock:
            override = site._overrides.get(path)
        if override is not None:
            body, ctype, lm = override
            return self._send_body(body, ctype, lm, head)
        if path == "/robots.txt" and not site.robots:
            return self._send_simple(404, "Not Found", "This site has no robots.txt.", head=head)
        if site.redirect_all_to and path != "/robots.txt":
            return self._redirect(302, site.redirect_all_to + self.path, head)
        if path in REDIRECTS:
            code, loc = REDIRECTS[path]
            return self._redirect(code, loc.replace("{{BASE}}", site.base), head)
        if path.startswith("/loop/"):
            try:
                n = int(path[len("/loop/"):])
            except ValueError:
                return self._send_simple(404, "Not Found", "No such loop.", head=head)
            return self._redirect(302, "/loop/%d" % (n + 1), head)
        special = {
            "/huge.html": self._huge_chunked,
            "/huge-declared.html": self._huge_declared,
            "/huge-gzip.html": self._huge_gzip,
            "/hang.html": self._hang,
            "/slow-drip.html": self._slow_drip,
            "/reset.html": self._reset,
            "/big-feed.xml": self._big_feed,
            HOSTILE_PATH: self._hostile,
        }
        if path in special:
            return special[path](head)
        if path == "/error.html":
            return self._send_simple(500, "Internal Server Error", "Something broke on purpose.", head=head)

        f = self._resolve(path)
        if f is None:
            return self._send_simple(404, "Not Found", "Nothing here.", head=head)
        if f.is_dir():  # /about -> /about/
            return self._redirect(301, path + "/", head)
        body = f.read_bytes().replace(b"{{BASE}}", site.base.encode())
        self._send_body(body, content_type_for(path if not path.endswith("/") else path + "index.html"),
                        LAST_MODIFIED, head)

    def _resolve(self, path):
        if path in NOT_SERVED or "\x00" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        f = self.server.site.root.joinpath(*parts) if parts else self.server.site.root
        if f.is_dir():
            if not path.endswith("/"):
                return f
            f = f / "index.html"
        elif path.endswith("/"):
            return None
        return f if f.is_file() else None

    # ----- responses -----

    def _send_body(self, body, ctype, last_modified, head, etag=None):
        etag = etag or _etag_of(body)
        gz = _compressible(ctype) and _accepts_gzip(self.headers.get("Accept-Encoding"))
        if gz:
            etag = "W/" + etag
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if (inm is not None and _inm_matches(inm, etag)) or (
                inm is None and ims is not None and _http_date_ge(ims, last_modified)):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return
        if gz:
            body = gzip.compress(body, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Vary", "Accept-Encoding")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _redirect(self, code, location, head):
        body = _page("Moved", 'This page moved to <a href="%s">%s</a>.' % (location, location))
        self.send_response(code)
        self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _huge_headers(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("ETag", self.server.site._huge_etag())
        self.send_header("Last-Modified", LAST_MODIFIED)

    def _huge_chunked(self, head):
        self._huge_headers()
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head:
            return
        for chunk in self.server.site._huge_chunks():
            self._write_chunk(chunk)
        self.wfile.write(b"0\r\n\r\n")

    def _huge_declared(self, head):
        self._huge_headers()
        self.send_header("Content-Length", str(HUGE_BYTES))
        self.end_headers()
        if head:
            return
        for chunk in self.server.site._huge_chunks():
            self.wfile.write(chunk)

    def _huge_gzip(self, head):
        site = self.server.site
        if not _accepts_gzip(self.headers.get("Accept-Encoding")):
            return self._huge_declared(head)
        body = site._huge_gz()
        self._huge_headers()
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _hang(self, head):
        self.server.site._stopping.wait(self.server.site.hang_seconds)
        self.close_connection = True  # then hang up without a word

    def _slow_drip(self, head):
        site = self.server.site
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        if head:
            return
        prefix = b"<!DOCTYPE html><html><head><title>Slow drip</title></head><body><h1>Slow drip</h1><p>"
        self._write_chunk(prefix)
        deadline = time.monotonic() + site.hang_seconds
        while time.monotonic() < deadline:
            if site._stopping.wait(1.0):
                break
            self._write_chunk(b".")
        self.close_connection = True  # never a proper end: the client must give up first

    def _reset(self, head):
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(sock.detach())  # close(2) with linger 0: RST, no FIN
        except OSError:
            pass

    def _hostile(self, head):
        self._send_body(HOSTILE_HTML.replace("{{BASE}}", self.server.site.base).encode(),
                        "text/html; charset=utf-8", LAST_MODIFIED, head)

    def _big_feed(self, head):
        self._send_body(self.server.site._big_feed(), "application/rss+xml; charset=utf-8",
                        LAST_MODIFIED, head)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # client went away: nothing to say
        super().handle_error(request, client_address)


class SiteServer:
    """A running fixture site. Create it with start()."""

    def __init__(self, port=0, hang_seconds=60, robots=True, root=None, host="127.0.0.1",
                 redirect_all_to=None):
        if not host.startswith("127."):
            raise ValueError("site_server binds loopback addresses only, not %r" % host)
        self.root = Path(root) if root else ROOT
        self.hang_seconds = hang_seconds
        self.robots = robots
        self.redirect_all_to = redirect_all_to.rstrip("/") if redirect_all_to else None
        self._lock = threading.Lock()
        self._requests = []
        self._overrides = {}
        self._stopping = threading.Event()
        self._cache = {}
        self._cache_lock = threading.RLock()  # builders nest (huge.gz uses huge)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.site = self
        self.host, self.port = self._httpd.server_address[:2]
        self.base = "http://%s:%d" % (self.host, self.port)
        self.site = "%s:%d" % (self.host, self.port)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="site-server-%d" % self.port, daemon=True)

    # ----- the API -----

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def requested(self, path):
        path = urllib.parse.urlsplit(path).path
        with self._lock:
            return sum(1 for r in self._requests if r["path"] == path)

    def clear(self):
        with self._lock:
            self._requests.clear()

    def url(self, path):
        return self.base + path

    def put(self, path, body, content_type=None, last_modified=None):
        """Serve body (bytes, or str encoded as UTF-8; "{{BASE}}" substituted) at
        path, replacing any fixture file there. last_modified defaults to now, so
        If-Modified-Since from an earlier fetch does not hide the change."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body.replace(b"{{BASE}}", self.base.encode())
        lm = last_modified or email.utils.formatdate(time.time(), usegmt=True)
        with self._lock:
            self._overrides[path] = (body, content_type or content_type_for(path), lm)

    def remove(self, path):
        with self._lock:
            self._overrides.pop(path, None)

    def stop(self):
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ----- generated content (built once per server) -----

    def _cached(self, key, build):
        with self._cache_lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def _huge_chunks(self):
        return self._cached("huge", _build_huge)

    def _huge_etag(self):
        return self._cached("huge.etag", lambda: _etag_of(b"".join(self._huge_chunks())))

    def _huge_gz(self):
        return self._cached("huge.gz", lambda: gzip.compress(b"".join(self._huge_chunks()), 6, mtime=0))

    def _big_feed(self):
        return self._cached("big-feed", lambda: _build_big_feed(self.base))


def _build_huge():
    """HUGE_BYTES of HTML, as a list of 64 KiB chunks."""
    head = (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>The Complete, Unabridged "
            b"Changelog</title></head><body><article><h1>The Complete, Unabridged Changelog</h1>\n")
    tail = b"</article></body></html>\n"
    parts, size, n = [head], len(head), 0
    while True:
        n += 1
        p = (b"<p>Release note %d: fixed a bug, added a test, and made one error message a "
             b"little clearer than it was before.</p>\n" % n)
        if size + len(p) + len(tail) > HUGE_BYTES:
            break
        parts.append(p)
        size += len(p)
    parts.append(b"<!--" + b" " * (HUGE_BYTES - size - len(tail) - 8) + b"-->\n")
    parts.append(tail)
    data = b"".join(parts)
    assert len(data) == HUGE_BYTES, len(data)
    step = 64 * 1024
    return [data[i:i + step] for i in range(0, len(data), step)]


def _build_big_feed(base):
    """RSS 2.0, BIG_FEED_ITEMS items, newest first, one a minute back from 2026-11-25."""
    t0 = 1795608000  # 2026-11-25T12:00:00Z
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
           'xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
           '<title>The Big Feed</title>\n<link>%s/</link>\n'
           '<description>A deliberately large feed: %d items.</description>\n' % (base, BIG_FEED_ITEMS)]
    for n in range(1, BIG_FEED_ITEMS + 1):
        when = email.utils.formatdate(t0 - 60 * n, usegmt=True)
        out.append(
            "<item><title>Big feed item %d</title><link>%s/big/%d</link>"
            "<dc:creator>Feed Robot</dc:creator><pubDate>%s</pubDate>"
            "<description>&lt;p&gt;Item %d of the big feed, a short summary padded to the "
            "size of a real one.&lt;/p&gt;</description></item>\n" % (n, base, n, when, n))
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def start(port=0, hang_seconds=60, robots=True, root=None, host="127.0.0.1", redirect_all_to=None):
    """Start serving on host:port (0: a free port) in daemon threads."""
    srv = SiteServer(port=port, hang_seconds=hang_seconds, robots=robots, root=root, host=host,
                     redirect_all_to=redirect_all_to)
    srv._thread.start()
    return srv


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--hang-seconds", type=float, default=60)
    ap.add_argument("--no-robots", action="store_true", help="/robots.txt answers 404")
    ap.add_argument("--root", default=None, help="site directory (default: test/fixtures/site)")
    args = ap.parse_args(argv)
    # Block the signals before any thread exists (threads inherit the mask), so
    # that sigwait() below is the one to receive them, at once.
    sigs = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    srv = start(port=args.port, hang_seconds=args.hang_seconds, robots=not args.no_robots, root=args.root)
    print("listening %s" % srv.base, flush=True)
    signal.sigwait(sigs)
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
