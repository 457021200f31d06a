"""File conversion end to end (issue 18): files stored in PostgreSQL, convert.file run by a
real worker, the outputs read back and parsed (images: their format and dimensions from
their headers). The HTTP side (upload, convert, download) is at the end of the file."""
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import uuid
import xml.etree.ElementTree as ET
import zlib

import pytest
import requests

from harness import REPO, db, pid_alive, start_webapp, start_worker, wait_until
from harness import assert_no_sanitizer_reports
from test_faults import children_of
from test_worker import CELERIAC, enqueue_cli, log_messages

FIXTURES = REPO / "test" / "fixtures" / "convert"
HAVE_SOFFICE = shutil.which("soffice") is not None


# ------------------------------------------------------------------------------ images


def png(width, height, rgb=(200, 30, 60)):
    """A solid RGB PNG, made by hand (zlib and CRCs): no image library needed."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    row = b"\0" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def png_header_only(width, height):
    """A PNG whose header claims width x height: a decompression bomb's first bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


# The smallest GIF: one transparent pixel (a GIF89a with a graphic control extension).
GIF_1X1 = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000"
                        "010001000002024401003b")


def image_size(data):
    """(format, width, height) read from an image's header."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:3] == b"\xff\xd8\xff":
        i = 2
        while i < len(data):
            while data[i] == 0xff:
                i += 1
            marker = data[i]
            length = struct.unpack(">H", data[i + 1:i + 3])[0]
            if marker in (0xc0, 0xc1, 0xc2):
                h, w = struct.unpack(">HH", data[i + 4:i + 8])
                return "jpeg", w, h
            i += 1 + length
        raise AssertionError("a JPEG with no frame header")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = data[12:16]
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return "webp", w & 0x3fff, h & 0x3fff
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return "webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1
        if kind == b"VP8X":
            return ("webp", int.from_bytes(data[24:27], "little") + 1,
                    int.from_bytes(data[27:30], "little") + 1)
    raise AssertionError(f"not an image we know: {data[:16]!r}")


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def convert_worker(migrated_stack):
    """One worker on the convert queue for the module (conversions run alone, one at a time)."""
    p = start_worker("--queues", "convert", env=migrated_stack.env(), concurrency=1,
                     name="convert-worker")
    yield p
    assert p.terminate(15) == 0


def task_row(stack, task_id):
    with db(stack).cursor() as cur:
        cur.execute("SELECT state, result, error, progress FROM tasks WHERE id = %s", (task_id,))
        row = cur.fetchone()
    return None if row is None else dict(zip(("state", "result", "error", "progress"), row))


def wait_final(stack, task_id, timeout=60):
    def final():
        row = task_row(stack, task_id)
        return row if row and row["state"] in ("SUCCESS", "FAILURE", "REVOKED") else None
    return wait_until(final, timeout, message=f"task {task_id} never finished")


def store_file(stack, name, data):
    """Insert an upload as POST /api/files stores it; returns its id."""
    file_id = str(uuid.uuid4())
    conn = db(stack)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO files (id, name, content_type, size, sha256, data)"
                    " VALUES (%s, %s, 'application/octet-stream', %s, '', %s)",
                    (file_id, name, len(data), data))
    conn.commit()
    return file_id


def convert(stack, file_id, to, options=None, timeout=60, queue="convert"):
    kwargs = {"file_id": file_id, "to": to}
    if options is not None:
        kwargs["options"] = options
    out = enqueue_cli(stack, "convert.file", "--kwargs", json.dumps(kwargs), "--queue", queue)
    assert out.returncode == 0, out.stderr
    task_id = out.stdout.strip()
    return task_id, wait_final(stack, task_id, timeout=timeout)


def outputs_of(stack, task_id):
    with db(stack).cursor() as cur:
        cur.execute("SELECT id::text, name, format, content_type, size, sha256, data,"
                    " source_id::text FROM files WHERE task_id = %s", (task_id,))
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    for r in rows:
        r["data"] = bytes(r["data"])
    return rows


def converted(stack, name, data, to, options=None):
    """Store, convert, and return (the task's result, the output's bytes), asserting the
    output row is whole and the only one."""
    file_id = store_file(stack, name, data)
    task_id, row = convert(stack, file_id, to, options)
    assert row["state"] == "SUCCESS", row
    result = row["result"]
    [out] = outputs_of(stack, task_id)
    assert result["output_file_id"] == out["id"]
    assert out["source_id"] == file_id and result["source_file_id"] == file_id
    assert out["size"] == len(out["data"]) == result["size"]
    assert out["sha256"] == hashlib.sha256(out["data"]).hexdigest()
    assert out["format"] == result["format"] == result["to"]
    assert row["progress"] == 100
    return result, out["data"]


def failed(stack, name, data, to, options=None):
    file_id = store_file(stack, name, data)
    task_id, row = convert(stack, file_id, to, options)
    assert row["state"] == "FAILURE", row
    assert outputs_of(stack, task_id) == [], "a failed conversion stored an output"
    return row["error"]


# ------------------------------------------------------------------------------ each kind


def test_csv_becomes_json_and_back(migrated_stack, convert_worker):
    text = 'name,city,note\r\n"Smith, Ann",Paris,"two\nlines"\r\nBob,,\r\n'
    result, out = converted(migrated_stack, "people.csv", ("\ufeff" + text).encode(), "json")
    assert result["name"] == "people.json" and result["from"] == "csv"
    rows = json.loads(out)
    assert rows == [{"name": "Smith, Ann", "city": "Paris", "note": "two\nlines"},
                    {"name": "Bob", "city": "", "note": ""}]

    _, back = converted(migrated_stack, "people.json", out, "csv")
    assert list(csv.reader(io.StringIO(back.decode(), newline=""))) == \
        [["name", "city", "note"], ["Smith, Ann", "Paris", "two\nlines"], ["Bob", "", ""]]


def test_csv_with_a_delimiter_option(migrated_stack, convert_worker):
    _, out = converted(migrated_stack, "semi.csv", b"a;b\n1;2\n", "json", {"delimiter": ";"})
    assert json.loads(out) == [{"a": "1", "b": "2"}]


def test_json_with_nested_values_becomes_csv(migrated_stack, convert_worker):
    data = json.dumps([{"id": 1, "tags": ["x", "y"], "ok": True, "none": None}]).encode()
    _, out = converted(migrated_stack, "nested.json", data, "csv")
    rows = list(csv.reader(io.StringIO(out.decode(), newline="")))
    assert rows[0] == ["id", "tags", "ok", "none"]
    assert json.loads(rows[1][1]) == ["x", "y"] and rows[1][0] == "1" and rows[1][3] == ""


def test_xml_becomes_json_and_json_becomes_xml(migrated_stack, convert_worker):
    xml = b'<feed lang="en"><entry id="1">First</entry><entry id="2">Second</entry></feed>'
    _, out = converted(migrated_stack, "feed.xml", xml, "json")
    assert json.loads(out) == {"feed": {"@lang": "en", "entry": [
        {"@id": "1", "#text": "First"}, {"@id": "2", "#text": "Second"}]}}

    _, back = converted(migrated_stack, "feed.json", out, "xml")
    root = ET.fromstring(back)
    assert root.tag == "feed" and root.get("lang") == "en"
    assert [(e.get("id"), e.text) for e in root.findall("entry")] == [("1", "First"), ("2", "Second")]


def test_html_becomes_readable_text(migrated_stack, convert_worker):
    page = (b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
            b"<h1>Heading</h1><p>First <b>para</b>graph.</p><script>alert(1)</script>"
            b"<p>See <a href='https://example.org/x'>the docs</a>.</p></body></html>")
    result, out = converted(migrated_stack, "page.html", page, "txt")
    text = out.decode()
    assert result["name"] == "page.txt"
    assert "Heading" in text and "First paragraph." in text
    assert "the docs" in text and "https://example.org/x" in text
    assert "alert" not in text and "color:red" not in text
    assert "\n\n" in text  # paragraphs stay apart


def test_a_page_with_no_text_becomes_an_empty_text(migrated_stack, convert_worker):
    _, out = converted(migrated_stack, "blank.html", b"<html><script>x()</script></html>", "txt")
    assert out == b""


def test_markdown_becomes_html_without_raw_html(migrated_stack, convert_worker):
    md = b"# Title\n\nSome *emphasis* and a [link](https://example.org).\n\n<script>x()</script>\n"
    _, out = converted(migrated_stack, "notes.md", md, "html")
    html = out.decode()
    assert "<h1>Title</h1>" in html and "<em>emphasis</em>" in html
    assert '<a href="https://example.org">link</a>' in html
    assert "<script>" not in html


def test_png_becomes_a_smaller_webp_keeping_its_ratio(migrated_stack, convert_worker):
    result, out = converted(migrated_stack, "wide.png", png(400, 200), "webp",
                            {"width": 100, "quality": 70})
    assert image_size(out) == ("webp", 100, 50)
    assert result["content_type"] == "image/webp"


def test_images_between_formats(migrated_stack, convert_worker):
    _, jpeg = converted(migrated_stack, "a.png", png(64, 48), "jpg")
    assert image_size(jpeg) == ("jpeg", 64, 48)
    _, back = converted(migrated_stack, "a.jpg", jpeg, "png", {"height": 24})
    assert image_size(back) == ("png", 32, 24)
    _, gif = converted(migrated_stack, "dot.gif", GIF_1X1, "png")
    assert image_size(gif) == ("png", 1, 1)


@pytest.mark.skipif(not HAVE_SOFFICE, reason="LibreOffice (soffice) is not installed")
def test_office_document_becomes_pdf(migrated_stack, convert_worker):
    for name in ("sample.docx", "sample.odt"):
        result, out = converted(migrated_stack, name, (FIXTURES / name).read_bytes(), "pdf")
        assert out.startswith(b"%PDF-"), name
        assert result["content_type"] == "application/pdf"


# ------------------------------------------------------------------------------ failures


def test_bad_inputs_end_in_failure_with_a_clear_error_and_store_nothing(migrated_stack,
                                                                        convert_worker):
    s = migrated_stack
    assert "cannot convert csv to png" in failed(s, "t.csv", b"a,b\n1,2\n", "png")
    assert "not what its name says" in failed(s, "photo.jpg", png(4, 4), "webp")
    assert "line 2" in failed(s, "bad.csv", b'a,b\n"open,2\n', "json")
    assert "JSON" in failed(s, "bad.json", b"{not json", "csv")
    corrupt = png(32, 32)[:60] + b"\0" * 40
    assert failed(s, "corrupt.png", corrupt, "webp")
    error = failed(s, "bomb.png", png_header_only(20000, 20000), "webp")
    assert "20000x20000" in error, error
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>')
    assert "entit" in failed(s, "bomb.xml", bomb, "json")
    assert "unknown option" in failed(s, "t.csv", b"a\n1\n", "json", {"colour": "red"})


def test_an_input_past_convert_max_input_fails_unread(migrated_stack, start_proc):
    w = start_worker("--queues", "convert-small", env=migrated_stack.env(CONVERT_MAX_INPUT="100"),
                     starter=start_proc, concurrency=1, name="small-input-worker")
    file_id = store_file(migrated_stack, "big.csv", b"a\n" + b"1\n" * 100)
    task_id, row = convert(migrated_stack, file_id, "json", queue="convert-small")
    assert row["state"] == "FAILURE", row
    assert "big.csv is 202 bytes, more than the 100 allowed" in row["error"]
    assert outputs_of(migrated_stack, task_id) == []
    assert w.terminate(15) == 0


def test_an_unknown_target_or_file_fails(migrated_stack, convert_worker):
    file_id = store_file(migrated_stack, "t.csv", b"a\n1\n")
    _, row = convert(migrated_stack, file_id, "exe")
    assert row["state"] == "FAILURE" and "unknown target format" in row["error"]
    _, row = convert(migrated_stack, str(uuid.uuid4()), "json")
    assert row["state"] == "FAILURE" and "no file" in row["error"]


def registered_conversions(stack, hostname):
    """The "conversions" the worker named hostname published in its registry entry."""
    def published():
        with db(stack).cursor() as cur:
            cur.execute("SELECT r->'conversions' FROM workers, jsonb_array_elements(registered) r"
                        " WHERE r->>'name' = 'convert.file' AND hostname = %s", (hostname,))
            row = cur.fetchone()
        return row[0] if row else None
    return wait_until(published, 15, message=f"{hostname} never registered convert.file")


def test_office_without_soffice_fails_as_not_installed(migrated_stack, start_proc):
    """A worker where soffice is missing: the task fails saying so, and the worker does not
    offer office conversions in its registry entry (the webapp's form hides them)."""
    host = f"no-office-{uuid.uuid4().hex[:8]}@test"
    w = start_worker("--queues", "convert-no-office", "--hostname", host,
                     env=migrated_stack.env(CONVERT_SOFFICE="/nonexistent"),
                     starter=start_proc, concurrency=1, name="no-office-worker")
    conversions = registered_conversions(migrated_stack, host)
    assert conversions["csv"] == ["json"] and "webp" in conversions["png"]
    assert "docx" not in conversions and "odt" not in conversions

    file_id = store_file(migrated_stack, "sample.docx", (FIXTURES / "sample.docx").read_bytes())
    _, row = convert(migrated_stack, file_id, "pdf", queue="convert-no-office")
    assert row["state"] == "FAILURE", row
    assert "converter not installed" in row["error"]
    assert w.terminate(15) == 0


def test_the_webapp_offers_pdf_only_while_an_online_worker_converts_office_documents(
        stack, empty_database, start_proc, tmp_path):
    """GET /api/convert and the /convert form (offered() in webapp/files.c) follow what the
    online workers registered: no worker, or only workers without soffice, and pdf is not
    offered; a worker with soffice online, and it is; that worker stopped, and it goes again.
    Everything runs on a database of its own, so no other test's worker counts."""
    env = stack.env(DATABASE_URL=empty_database)
    r = subprocess.run([CELERIAC, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_no_sanitizer_reports(r.stdout + r.stderr, "celeriac migrate")
    web = start_webapp(env=env, starter=start_proc, name="offers-webapp")
    # Only the registry entry is asked of soffice here: a program found is enough.
    fake_soffice = tmp_path / "soffice"
    fake_soffice.write_text("#!/bin/sh\nexit 1\n")
    fake_soffice.chmod(0o700)

    def offers():
        r = requests.get(f"{web.url}/api/convert", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def form():
        r = requests.get(f"{web.url}/convert", timeout=10)
        assert r.status_code == 200, r.text[:300]
        return r.text

    def offered_in_form(page, target):
        return f'<option value="{target}"' in page

    # No worker online: every target but pdf.
    o = offers()
    assert o["online"] is False and o["conversions"] == {}
    assert "json" in o["targets"] and "pdf" not in o["targets"]
    page = form()
    assert "No conversion worker is online" in page
    assert offered_in_form(page, "json") and not offered_in_form(page, "pdf")

    # A worker without soffice online: what it lists, still no pdf.
    tag = uuid.uuid4().hex[:8]
    plain = start_worker("--queues", f"offers-{tag}", "--hostname", f"plain-{tag}@test",
                         env=dict(env, CONVERT_SOFFICE=str(tmp_path / "missing")),
                         starter=start_proc, concurrency=1, name="offers-plain-worker")
    o = wait_until(lambda: (lambda o: o if o["online"] else None)(offers()), 15,
                   message="the worker never showed online")
    assert o["conversions"]["csv"] == ["json"] and "docx" not in o["conversions"]
    assert "json" in o["targets"] and "webp" in o["targets"] and "pdf" not in o["targets"]
    page = form()
    assert "No conversion worker is online" not in page
    assert offered_in_form(page, "json") and not offered_in_form(page, "pdf")

    # A worker with soffice joins: pdf is offered, office formats listed.
    office = start_worker("--queues", f"offers-{tag}", "--hostname", f"office-{tag}@test",
                          env=dict(env, CONVERT_SOFFICE=str(fake_soffice)),
                          starter=start_proc, concurrency=1, name="offers-office-worker")
    o = wait_until(lambda: (lambda o: o if "pdf" in o["targets"] else None)(offers()), 15,
                   message="pdf was never offered with a worker that has soffice")
    assert o["conversions"]["docx"] == ["pdf"] and o["conversions"]["csv"] == ["json"]
    page = form()
    assert offered_in_form(page, "pdf") and offered_in_form(page, "json")

    # It stops (its row says so at once): pdf goes, the other worker's targets stay.
    assert office.terminate(15) == 0
    o = wait_until(lambda: (lambda o: o if "pdf" not in o["targets"] else None)(offers()), 15,
                   message="pdf was still offered after the worker with soffice stopped")
    assert o["online"] is True and "docx" not in o["conversions"] and "json" in o["targets"]
    assert not offered_in_form(form(), "pdf")
    assert plain.terminate(15) == 0


@pytest.mark.skipif(not HAVE_SOFFICE, reason="LibreOffice (soffice) is not installed")
def test_a_worker_with_soffice_offers_office_conversions(migrated_stack, start_proc):
    host = f"office-{uuid.uuid4().hex[:8]}@test"
    w = start_worker("--queues", "convert", "--hostname", host, env=migrated_stack.env(),
                     starter=start_proc, concurrency=1, name="office-worker")
    conversions = registered_conversions(migrated_stack, host)
    assert conversions["docx"] == ["pdf"] and conversions["xlsx"] == ["pdf"]
    assert w.terminate(15) == 0


# ------------------------------------------------------------------------------ progress and crashes


@pytest.mark.skipif(not HAVE_SOFFICE, reason="LibreOffice (soffice) is not installed")
def test_progress_shows_while_running_and_a_killed_conversion_stores_one_output(
        migrated_stack, start_proc):
    """soffice takes seconds: the task row shows STARTED with a progress; SIGKILL of the
    child mid-way stores nothing, and the redelivered task stores exactly one output."""
    s = migrated_stack
    w = start_worker("--queues", "convert-kill", env=s.env(), starter=start_proc,
                     concurrency=1, name="kill-worker")
    file_id = store_file(s, "sample.odt", (FIXTURES / "sample.odt").read_bytes())
    out = enqueue_cli(s, "convert.file", "--args", json.dumps([file_id, "pdf"]),
                      "--queue", "convert-kill")
    task_id = out.stdout.strip()

    def running():
        row = task_row(s, task_id)
        return row if row and row["state"] == "STARTED" and row["progress"] is not None else None
    row = wait_until(running, 30, message="the conversion never showed progress")
    assert 0 <= row["progress"] < 100

    [child] = children_of(w.pid)
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: not pid_alive(child), 10)
    assert outputs_of(s, task_id) == [], "a killed conversion stored a partial output"

    final = wait_final(s, task_id, timeout=90)
    assert final["state"] == "SUCCESS", final
    assert len(outputs_of(s, task_id)) == 1
    assert final["progress"] == 100
    assert any("sample.odt" in m for m in log_messages(s, task_id))


# ------------------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def web(migrated_stack):
    """A webapp for the module, with a small upload cap (100 kB) to try 413 on."""
    p = start_webapp(env=migrated_stack.env(WEBAPP_UPLOAD_MAX="100000"), name="convert-webapp")
    yield p
    assert p.terminate(15) == 0


def files_named(stack, name):
    with db(stack).cursor() as cur:
        cur.execute("SELECT count(*) FROM files WHERE name = %s", (name,))
        return cur.fetchone()[0]


def api_task(web, task_id, timeout=60):
    def final():
        body = requests.get(f"{web.url}/api/tasks/{task_id}", timeout=10).json()
        return body if body["state"] in ("SUCCESS", "FAILURE") else None
    return wait_until(final, timeout, interval=0.1, message=f"task {task_id} never finished")


def upload(web, name, data, **fields):
    return requests.post(f"{web.url}/api/files", files={"file": (name, data)}, data=fields,
                         timeout=30)


def download(web, file_id):
    r = requests.get(f"{web.url}/api/files/{file_id}", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"].startswith("sandbox")
    assert r.headers["Content-Disposition"].startswith("attachment; filename=")
    return r


KINDS = [
    # name, bytes, to, options, check(output bytes)
    ("people.csv", b"name,age\nAnn,31\n", "json", None,
     lambda out: json.loads(out) == [{"name": "Ann", "age": "31"}]),
    ("rows.json", b'[{"a": 1, "b": "x"}]', "csv",
     None, lambda out: out.decode().splitlines() == ["a,b", "1,x"]),
    ("doc.xml", b"<doc><p>hi</p></doc>", "json", None,
     lambda out: json.loads(out) == {"doc": {"p": "hi"}}),
    ("doc.json", b'{"doc": {"p": "hi"}}', "xml", None,
     lambda out: ET.fromstring(out).find("p").text == "hi"),
    ("page.html", b"<p>One</p><p>Two</p><script>x</script>", "txt", None,
     lambda out: out.decode().split() == ["One", "Two"]),
    ("notes.md", b"# Hi\n", "html", None, lambda out: b"<h1>Hi</h1>" in out),
    ("pic.png", png(120, 60), "webp", {"width": 60},
     lambda out: image_size(out) == ("webp", 60, 30)),
    ("pic.gif", GIF_1X1, "jpeg", None, lambda out: image_size(out) == ("jpeg", 1, 1)),
    ("photo.jpg", (FIXTURES / "photo.jpg").read_bytes(), "png", {"height": 120},
     lambda out: image_size(out) == ("png", 160, 120)),
    ("photo.webp", (FIXTURES / "photo.webp").read_bytes(), "jpg", {"quality": 60},
     lambda out: image_size(out) == ("jpeg", 320, 240)),
]
if HAVE_SOFFICE:
    KINDS += [(name, (FIXTURES / name).read_bytes(), "pdf", None,
               lambda out: out.startswith(b"%PDF-"))
              for name in ("sample.docx", "sample.odt", "sample.pptx")]


@pytest.mark.parametrize("name,data,to,options,check", KINDS, ids=[k[0] for k in KINDS])
def test_upload_convert_download(migrated_stack, convert_worker, web, name, data, to, options,
                                 check):
    r = upload(web, name, data)
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["size"] == len(data) and up["sha256"] == hashlib.sha256(data).hexdigest()
    r = requests.post(f"{web.url}/api/convert", timeout=10,
                      json={"file_id": up["file_id"], "to": to, "options": options})
    assert r.status_code == 202, r.text
    task = api_task(web, r.json()["task_id"])
    assert task["state"] == "SUCCESS", task
    assert task["progress"] == 100
    out = download(web, task["result"]["output_file_id"])
    assert out.headers["Content-Type"].split(";")[0] == task["result"]["content_type"].split(";")[0]
    assert task["result"]["name"] in out.headers["Content-Disposition"]
    assert check(out.content), out.content[:200]


@pytest.mark.skipif(not HAVE_SOFFICE, reason="LibreOffice (soffice) is not installed")
def test_upload_an_office_document_and_convert_it_in_one_request(migrated_stack,
                                                                  convert_worker, web):
    data = (FIXTURES / "sample.xlsx").read_bytes()
    r = upload(web, "sheet.xlsx", data, to="pdf")
    assert r.status_code == 202, r.text
    assert r.json()["format"] == "xlsx"
    task = api_task(web, r.json()["task_id"], timeout=120)
    assert task["state"] == "SUCCESS", task
    out = download(web, task["result"]["output_file_id"])
    assert out.content.startswith(b"%PDF-")
    assert out.headers["Content-Type"] == "application/pdf"


def test_oversized_uploads_get_413_and_store_nothing(migrated_stack, web):
    name = f"big-{uuid.uuid4().hex[:8]}.csv"
    big = b"a,b\n" + b"1,2\n" * 30000  # 120 kB, over the 100 kB cap
    r = upload(web, name, big)
    assert r.status_code == 413, r.text
    assert "error" in r.json()

    def chunks():  # no Content-Length: the stream passes the cap while it is read
        boundary = b"--xyz\r\n"
        yield boundary + f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
        for _ in range(30):
            yield b"1,2\n" * 1000
        yield b"\r\n--xyz--\r\n"
    r = requests.post(f"{web.url}/api/files", data=chunks(), timeout=30,
                      headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413, r.text
    assert files_named(migrated_stack, name) == 0

    r = upload(web, name, b"a,b\n1,2\n")  # under the cap: stored
    assert r.status_code == 201 and files_named(migrated_stack, name) == 1


def test_a_mislabelled_upload_is_stored_with_a_warning_and_its_conversion_fails(
        migrated_stack, convert_worker, web):
    """PNG bytes named .csv, sent as text/csv: 201 with format null and a warning naming both,
    the content type the bytes' (not the client's); converting it ends FAILURE with that
    reason and stores nothing."""
    name = f"notes-{uuid.uuid4().hex[:8]}.csv"
    data = png(8, 8)
    r = requests.post(f"{web.url}/api/files", files={"file": (name, data, "text/csv")},
                      timeout=30)
    assert r.status_code == 201, r.text
    up = r.json()
    why = f"{name} is not what its name says: its name says csv, its bytes are a PNG image"
    assert up["format"] is None and up["warning"] == why
    assert up["content_type"] == "image/png"
    assert up["size"] == len(data) and up["sha256"] == hashlib.sha256(data).hexdigest()
    assert r.headers["Location"] == f"/api/files/{up['file_id']}"
    with db(migrated_stack).cursor() as cur:
        cur.execute("SELECT name, format, content_type, size FROM files WHERE id = %s",
                    (up["file_id"],))
        assert cur.fetchone() == (name, None, "image/png", len(data))
    out = download(web, up["file_id"])
    assert out.headers["Content-Type"] == "image/png" and out.content == data

    r = requests.post(f"{web.url}/api/convert", json={"file_id": up["file_id"], "to": "json"},
                      timeout=10)
    assert r.status_code == 202, r.text
    task_id = r.json()["task_id"]
    task = api_task(web, task_id)
    assert task["state"] == "FAILURE", task
    assert why in task["error"], task["error"]
    assert outputs_of(migrated_stack, task_id) == []


def test_bad_uploads_and_conversion_requests_are_refused(migrated_stack, web):
    r = requests.post(f"{web.url}/api/files", json={"file": "x"}, timeout=10)
    assert r.status_code == 415
    r = requests.post(f"{web.url}/api/files", files={"other": ("a.csv", b"a\n")}, timeout=10)
    assert r.status_code == 400 and "file" in r.json()["error"]
    file_id = upload(web, "ok.csv", b"a\n1\n").json()["file_id"]
    for body, status in [({"file_id": file_id, "to": "exe"}, 400),
                         ({"file_id": "nope", "to": "json"}, 400),
                         ({"file_id": str(uuid.uuid4()), "to": "json"}, 404),
                         ({"file_id": file_id, "to": "json", "options": [1]}, 400)]:
        r = requests.post(f"{web.url}/api/convert", json=body, timeout=10)
        assert r.status_code == status, (body, r.text)
    r = requests.post(f"{web.url}/api/convert", data=b"{not json", timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert requests.get(f"{web.url}/api/files/{uuid.uuid4()}", timeout=10).status_code == 404


def test_a_form_part_without_a_name_is_refused_not_a_crash(migrated_stack, web):
    body = (b"--b\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--b--\r\n")
    for path in ("/tasks", "/scrape", "/convert", "/api/files"):
        r = requests.post(f"{web.url}{path}", data=body, timeout=10, allow_redirects=False,
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code in (400, 415), (path, r.status_code, r.text[:200])
    assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200


def test_the_convert_form_uploads_converts_and_lists_the_result(migrated_stack, convert_worker,
                                                                web):
    name = f"form-{uuid.uuid4().hex[:8]}.csv"
    page = requests.get(f"{web.url}/convert", timeout=10).text
    assert 'enctype="multipart/form-data"' in page and 'name="to"' in page
    r = requests.post(f"{web.url}/convert", files={"file": (name, b"k,v\nx,1\n")},
                      data={"to": "json"}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:300]
    task_id = r.headers["Location"].rsplit("/", 1)[1]
    task = api_task(web, task_id)
    assert task["state"] == "SUCCESS", task
    listing = requests.get(f"{web.url}/convert", timeout=10).text
    assert name in listing and f"/files/{task['result']['output_file_id']}" in listing
    task_page = requests.get(f"{web.url}/tasks/{task_id}", timeout=10).text
    output = task["result"]["output_file_id"]
    assert f"/files/{output}" in task_page and f"/files/{output}/about" in task_page

    # The output's page links back to the task that made it and to its source, whose
    # page says it was uploaded.
    about = requests.get(f"{web.url}/files/{output}/about", timeout=10)
    assert about.status_code == 200 and about.headers["Content-Type"].startswith("text/html")
    assert f'href="/tasks/{task_id}"' in about.text
    source = re.search(r'href="/files/([0-9a-f-]{36})/about"', about.text).group(1)
    assert source != output and f'href="/files/{source}" download' in task_page
    source_page = requests.get(f"{web.url}/files/{source}/about", timeout=10).text
    assert name in source_page and "none: uploaded" in source_page
    for bad in (str(uuid.uuid4()), "not-an-id"):
        assert requests.get(f"{web.url}/files/{bad}/about", timeout=10).status_code == 404


# ------------------------------------------------------------------------------ the CLI


def test_celeriac_convert_runs_a_conversion_in_the_foreground(tmp_path):
    src = tmp_path / "people.csv"
    src.write_bytes(b"name;age\nAnn;31\n")
    out = tmp_path / "people.json"
    r = subprocess.run([CELERIAC, "convert", "--delimiter", ";", str(src), str(out)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text()) == [{"name": "Ann", "age": "31"}]
    assert "csv" in r.stderr and "json" in r.stderr

    img = tmp_path / "wide.png"
    img.write_bytes(png(300, 100))
    r = subprocess.run([CELERIAC, "convert", "--to", "webp", "--width", "150", str(img),
                        str(tmp_path / "small.out")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert image_size((tmp_path / "small.out").read_bytes()) == ("webp", 150, 50)

    # Failures: a clear message, exit 1, and no output file left behind.
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(png(4, 4))
    r = subprocess.run([CELERIAC, "convert", str(bad), str(tmp_path / "photo.webp")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not what its name says" in r.stderr
    r = subprocess.run([CELERIAC, "convert", str(src), str(tmp_path / "x.png")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cannot convert csv to png" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["people.csv", "people.json", "photo.jpg", "small.out", "wide.png"]
    r = subprocess.run([CELERIAC, "convert", str(src), str(tmp_path / "x.unknown")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--to" in r.stderr
