/* webapp/html.c - the one HTML escaping function, the layout every page
 * shares, and a text helper for messages. */
#include "webapp/webapp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sql/store.h"

void
text_one_line(char *s)
{
    char *w = s;
    bool space = false;

    for (const char *r = s; *r != '\0'; r++) {
        if (*r == '\n' || *r == '\r' || *r == '\t' || *r == ' ') {
            space = true;
            continue;
        }
        if (space && w != s)
            *w++ = ' ';
        space = false;
        *w++ = *r;
    }
    *w = '\0';
}

/* ----- escaping ----- */

void
html_esc(struct buf *b, const char *s)
{
    const char *run = s;

    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        const char *ent;

        switch (*s) {
        case '&':
            ent = "&amp;";
            break;
        case '<':
            ent = "&lt;";
            break;
        case '>':
            ent = "&gt;";
            break;
        case '"':
            ent = "&quot;";
            break;
        case '\'':
            ent = "&#39;";
            break;
        default:
            continue;
        }
        buf_putn(b, run, (size_t)(s - run));
        buf_put(b, ent);
        run = s + 1;
    }
    buf_putn(b, run, (size_t)(s - run));
}

void
html_esc_short(struct buf *b, const char *s, size_t max)
{
    size_t n = utf8_prefix_len(s, max);
    char *copy = strndup(s, n);

    html_esc(b, copy != NULL ? copy : "");
    if (n < strlen(s))
        buf_put(b, "\xe2\x80\xa6"); /* U+2026 */
    free(copy);
}

void
html_url_enc(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    struct buf enc = {0};

    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        /* ASCII by hand: isalnum() would follow the locale. */
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_putn(&enc, (const char *)p, 1);
        } else {
            char pct[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_putn(&enc, pct, 3);
        }
    }
    /* Nothing in it needs escaping; it goes through html_esc() all the same. */
    html_esc(b, enc.data != NULL ? enc.data : "");
    b->oom |= enc.oom;
    buf_fini(&enc);
}

void
html_task_link(struct buf *b, const char *id)
{
    buf_put(b, "<a class=\"id\" href=\"/tasks/");
    html_url_enc(b, id);
    buf_put(b, "\">");
    html_esc(b, id);
    buf_put(b, "</a>");
}

void
html_time(struct buf *b, const char *iso)
{
    char t[20];

    if (strlen(iso) < 19 || iso[10] != 'T') {
        html_esc(b, iso);
        return;
    }
    memcpy(t, iso, 19);
    t[10] = ' ';
    t[19] = '\0';
    html_esc(b, t);
}

void
html_state(struct buf *b, const char *state)
{
    char cls[16] = "unknown";

    if (store_state_valid(state)) {
        size_t k;
        for (k = 0; state[k] != '\0' && k < sizeof cls - 1; k++)
            cls[k] = (char)tolower((unsigned char)state[k]);
        cls[k] = '\0';
    }
    buf_printf(b, "<span class=\"state state-%s\">", cls);
    html_esc(b, state);
    buf_put(b, "</span>");
}

void
html_ext_link(struct buf *b, const char *url, const char *text)
{
    bool web = url != NULL &&
               (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);

    if (text == NULL)
        text = url;
    if (!web) {
        html_esc(b, text);
        return;
    }
    /* noopener: the page cannot reach back into ours; noreferrer: it does
     * not learn which of our pages linked to it. */
    buf_put(b, "<a href=\"");
    html_esc(b, url);
    buf_put(b, "\" rel=\"noopener noreferrer\">");
    html_esc(b, text);
    buf_put(b, "</a>");
}

void
html_progress(struct buf *b, int percent)
{
    int p = percent < 0 ? 0 : percent > 100 ? 100 : percent;

    buf_printf(b, "<progress max=\"100\" value=\"%d\">%d%%</progress> %d%%", p, p, p);
}

/* The length of a blank line starting at s (spaces, tabs, CR, then a newline
 * or the end), or 0 when the line holds text. */
static size_t
blank_line(const char *s)
{
    size_t n = strspn(s, " \t\r");

    if (s[n] == '\n')
        return n + 1;
    return s[n] == '\0' ? n : 0;
}

void
html_paragraphs(struct buf *b, const char *text)
{
    const char *s = text != NULL ? text : "";

    while (*s != '\0') {
        const char *start, *end;
        char *para;

        while (*s != '\0' && blank_line(s) > 0)
            s += blank_line(s);
        if (*s == '\0')
            break;
        /* A paragraph runs to the next blank line. */
        start = end = s;
        while (*end != '\0') {
            const char *nl = strchr(end, '\n');
            if (nl == NULL) {
                end += strlen(end);
                break;
            }
            end = nl + 1;
            if (blank_line(end) > 0 || *end == '\0')
                break;
        }
        s = end;
        while (end > start &&
               (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            end--;
        para = strndup(start, (size_t)(end - start));
        if (para == NULL) {
            b->oom = true;
            return;
        }
        buf_put(b, "<p>");
        html_esc(b, para);
        buf_put(b, "</p>\n");
        free(para);
    }
}

/* ----- layout ----- */

/* The page's head and nav. live: load /static/live.js, and refresh only
 * without JavaScript (a <noscript> in the head may hold a <meta>). */
static void
begin_page(struct buf *b, const char *title, int refresh_s, bool live)
{
    buf_put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if (refresh_s > 0)
        buf_printf(b, "%s<meta http-equiv=\"refresh\" content=\"%d\">%s\n",
                   live ? "<noscript>" : "", refresh_s, live ? "</noscript>" : "");
    if (live)
        buf_put(b, "<script src=\"/static/live.js\" defer></script>\n");
    buf_put(b, "<title>");
    html_esc(b, title);
    buf_put(b, " - celeriac</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
               "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to the content</a>\n"
               "<nav aria-label=\"celeriac\"><span class=\"brand\">celeriac</span>"
               " <a href=\"/\">Home</a> <a href=\"/tasks\">Tasks</a>"
               " <a href=\"/articles\">Articles</a> <a href=\"/sites\">Sites</a>"
               " <a href=\"/convert\">Convert</a> <a href=\"/chat\">Chat</a>"
               " <a href=\"/workers\">Workers</a> <a href=\"/queues\">Queues</a></nav>\n"
               "<main id=\"main\">\n");
}

void
html_begin(struct buf *b, const char *title, int refresh_s)
{
    begin_page(b, title, refresh_s, false);
}

void
html_begin_live(struct buf *b, const char *title, int noscript_refresh_s)
{
    begin_page(b, title, noscript_refresh_s, true);
}

void
html_end(struct buf *b)
{
    buf_put(b, "</main>\n</body>\n</html>\n");
}

const char html_style_css[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\n"
    "nav{background:#2d4a22;padding:.6em 1em}\n"
    "nav a,nav .brand{color:#fff;margin-right:1em;text-decoration:none}\n"
    "nav .brand{font-weight:bold}\n"
    "main{padding:1em 1.5em;max-width:75em}\n"
    "table{border-collapse:collapse;width:100%;background:#fff}\n"
    "th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}\n"
    "th{background:#eee}\n"
    "td.short{max-width:24em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
    "code,pre,.id{font-family:ui-monospace,monospace;font-size:.92em}\n"
    "pre{background:#fff;border:1px solid #ddd;padding:.5em;overflow:auto;margin:0;tab-size:2}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em}\n"
    "dt{font-weight:bold}\n"
    "dd{margin:0}\n"
    "form.task label{display:block;margin:.6em 0 .2em;font-weight:bold}\n"
    "form.task input,form.task textarea{width:100%;max-width:40em;font-family:ui-monospace,"
    "monospace}\n"
    "form.task button{margin-top:1em;padding:.4em 1.2em}\n"
    "form.filter{margin-bottom:1em}\n"
    ".error{background:#fde8e8;border:1px solid #c33;color:#900;padding:.5em}\n"
    ".hint{color:#666;font-size:.9em}\n"
    ".state{padding:.1em .4em;border-radius:.3em;font-size:.85em;font-weight:bold}\n"
    ".state-pending{background:#eee;color:#555}\n"
    ".state-received{background:#e3eefc;color:#235}\n"
    ".state-started{background:#fff3cd;color:#664d03}\n"
    ".state-retry{background:#ffe5cc;color:#7a3e00}\n"
    ".state-success{background:#d1e7dd;color:#0f5132}\n"
    ".state-failure{background:#f8d7da;color:#842029}\n"
    ".state-revoked{background:#ddd;color:#333}\n"
    ".state-unknown{background:#eee;color:#000}\n"
    ".level-ERROR,.level-error{color:#900}\n"
    ".level-WARN,.level-warn,.level-WARNING,.level-warning{color:#7a3e00}\n"
    "form.task input[type=checkbox]{width:auto}\n"
    "form.task .inline{display:inline;font-weight:normal}\n"
    "form.filter input[type=search]{min-width:18em}\n"
    "form.button{display:inline;margin:0 .3em .3em 0}\n"
    "form.button button{padding:.15em .6em}\n"
    ".articles article{background:#fff;border-bottom:1px solid #ddd;padding:.5em .7em}\n"
    ".articles h2{font-size:1.05em;margin:0 0 .2em}\n"
    ".articles p{margin:.2em 0}\n"
    ".meta{color:#666;font-size:.9em}\n"
    ".article-body{max-width:45em;line-height:1.5}\n"
    ".article-body p{white-space:pre-line}\n"
    ".counts{font-size:.9em;color:#444}\n"
    ".pager a{margin-right:1em}\n"
    ".paused{color:#7a3e00;font-weight:bold}\n"
    "progress{width:8em;vertical-align:middle}\n"
    "form.task select{max-width:40em}\n"
    /* The dashboard (dashboard.c): counts, the per-minute chart (SVG), run times. */
    "section.dash-row h2{margin-bottom:.2em}\n"
    "ul.dash-counts{list-style:none;padding:0;margin:.3em 0;display:flex;flex-wrap:wrap;"
    "gap:.4em 1.2em}\n"
    "ul.dash-counts a,.dash-workers a{text-decoration:none;color:inherit}\n"
    ".dash-count{font-weight:bold;font-variant-numeric:tabular-nums}\n"
    "figure.dash-chart{margin:.5em 0;max-width:60em}\n"
    "svg.dash-chart{display:block;width:100%;height:auto;background:#fff;border:1px solid #ddd}\n"
    "svg.dash-chart .dash-grid{stroke:#e3e3e3;stroke-width:1}\n"
    "svg.dash-chart text{font-size:11px;fill:#555}\n"
    ".dash-succeeded{fill:#2e7d32;background:#2e7d32}\n"
    ".dash-failed{fill:#c62828;background:#c62828}\n"
    ".dash-key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;"
    "vertical-align:middle}\n"
    "table.dash-runtime{width:auto}\n"
    "table.dash-runtime .num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "form.dash-choose{margin:.5em 0 1em}\n"
    "fieldset.dash-params{max-width:40em;border:1px solid #ddd;margin:.6em 0}\n"
    /* The task pages and /workers (pages.c, workers.c). */
    "form.filter label{display:inline-block;margin:0 .8em .4em 0}\n"
    ".actions{margin:.5em 0}\n"
    "form.button[hidden]{display:none}\n"
    "ul.plain{list-style:none;margin:0;padding:0}\n"
    "tr.offline td{color:#999}\n"
    "tr.offline a{color:#88a}\n"
    /* The keyboard: a visible focus everywhere, and a link past the nav
     * that shows when it has the focus. */
    ":focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}\n"
    "a.skip{position:absolute;left:-999em}\n"
    "a.skip:focus{left:.5em;top:.5em;background:#fff;padding:.3em .6em;z-index:1}\n"
    /* A phone-width screen: the nav wraps, wide tables scroll on their own
     * instead of widening the page, fields take the whole width. */
    "@media (max-width:40em){\n"
    "main{padding:.6em .7em;overflow-wrap:anywhere}\n"
    "select,input,textarea{max-width:100%}\n"
    "nav{padding:.4em .6em;line-height:1.9}\n"
    "nav a{margin-right:.7em}\n"
    "table{display:block;overflow-x:auto;-webkit-overflow-scrolling:touch}\n"
    "td.short{max-width:14em}\n"
    "dl{grid-template-columns:1fr}\n"
    "dd{margin-bottom:.4em}\n"
    "form.filter input[type=search]{min-width:0;width:100%}\n"
    "form.filter label{display:block}\n"
    "}\n";

/* /static/live.js (served by page_live_js()): see the comment at its top. */
const char html_live_js[] =
    "/* /static/live.js: the task list, a task's page and /convert follow the\n"
    " * event stream (/api/events, webapp/events.c). Values reach the page through\n"
    " * textContent only. Without it (or without EventSource) the pages still\n"
    " * work: a running task's page refreshes itself (<noscript>). */\n"
    "(function () {\n"
    "  'use strict';\n"
    "  if (!window.EventSource || !document.querySelector) return;\n"
    "  var FINAL = {SUCCESS: 1, FAILURE: 1, REVOKED: 1};\n"
    "  var STATES = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE',\n"
    "                'REVOKED'];\n"
    "  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;\n"
    "\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  function fill(node) {\n"
    "    while (node.firstChild) node.removeChild(node.firstChild);\n"
    "    for (var i = 1; i < arguments.length; i++)\n"
    "      if (arguments[i]) node.appendChild(arguments[i]);\n"
    "  }\n"
    "  function text(s) { return document.createTextNode(s); }\n"
    "  function stateSpan(state) {\n"
    "    var known = STATES.indexOf(state) >= 0;\n"
    "    return el('span', 'state state-' + (known ? state.toLowerCase() : 'unknown'), state);\n"
    "  }\n"
    "  function progressBar(p) {\n"
    "    var span = el('span'), bar = el('progress', null, p + '%');\n"
    "    p = Math.max(0, Math.min(100, Math.round(p)));\n"
    "    bar.max = 100;\n"
    "    bar.value = p;\n"
    "    span.appendChild(bar);\n"
    "    span.appendChild(text(' ' + p + '%'));\n"
    "    return span;\n"
    "  }\n"
    "  function hasProgress(t) { return typeof t.progress === 'number'; }\n"
    "  /* A state and its progress bar while it runs. */\n"
    "  function showState(cell, t) {\n"
    "    var bar = t.state === 'STARTED' && hasProgress(t);\n"
    "    fill(cell, stateSpan(t.state), bar ? text(' ') : null,\n"
    "         bar ? progressBar(t.progress) : null);\n"
    "  }\n"
    "  /* Events may come twice (a replay overlaps the live stream): a final state\n"
    "   * stays, progress does not go back while the state is the same. */\n"
    "  function newer(old, t) {\n"
    "    if (!old) return true;\n"
    "    if (FINAL[old.state]) return false;\n"
    "    return !(old.state === t.state && hasProgress(old) && hasProgress(t) &&\n"
    "             t.progress < old.progress);\n"
    "  }\n"
    "  function task(id) {\n"
    "    return fetch('/api/tasks/' + id, {credentials: 'same-origin',\n"
    "                                      headers: {'Accept': 'application/json'}})\n"
    "      .then(function (r) { return r.ok ? r.json() : null; })\n"
    "      .catch(function () { return null; });\n"
    "  }\n"
    "  function short(s, n) {\n"
    "    s = String(s);\n"
    "    return s.length > n ? s.slice(0, n) + '\\u2026' : s;\n"
    "  }\n"
    "  function size(b) { /* as the page prints sizes (files.c) */\n"
    "    return b < 10000 ? b + ' bytes' : b < 10e6 ? (b / 1e3).toFixed(1) + ' kB'\n"
    "                                                : (b / 1e6).toFixed(1) + ' MB';\n"
    "  }\n"
    "\n"
    "  /* Follow topics from cursor; when the browser gives up on the stream (an\n"
    "   * answer other than 200, e.g. 503 past the stream cap), open it again from\n"
    "   * the last event's id, waiting longer each time. */\n"
    "  function listen(topics, cursor, handlers) {\n"
    "    var last = cursor || '', delay = 1000, es = null, closed = false;\n"
    "    function open() {\n"
    "      if (closed) return;\n"
    "      es = new EventSource('/api/events?topics=' + encodeURIComponent(topics) +\n"
    "                           (last ? '&last_event_id=' + encodeURIComponent(last) : ''));\n"
    "      Object.keys(handlers).forEach(function (name) {\n"
    "        es.addEventListener(name, function (ev) {\n"
    "          var data;\n"
    "          if (ev.lastEventId) last = ev.lastEventId;\n"
    "          delay = 1000;\n"
    "          try { data = JSON.parse(ev.data); } catch (e) { return; }\n"
    "          if (data && typeof data === 'object') handlers[name](data);\n"
    "        });\n"
    "      });\n"
    "      es.onerror = function () {\n"
    "        if (es.readyState !== 2) return; /* EventSource reconnects by itself */\n"
    "        setTimeout(open, delay);\n"
    "        delay = Math.min(delay * 2, 30000);\n"
    "      };\n"
    "    }\n"
    "    open();\n"
    "    return {close: function () { closed = true; if (es) es.close(); }};\n"
    "  }\n"
    "\n"
    "  /* A task's place in the list as the pages' links give it (the store's\n"
    "   * cursor): created_at in microseconds since the epoch, \"_\", the id. */\n"
    "  function cursorOf(t) {\n"
    "    /* \"2026-06-02T09:14:07.412345+00:00\": Date.parse() checks the rest. */\n"
    "    var m = /^(.{19})(?:\\.(\\d{1,6}))?(Z|[+-][\\d:]{2,5})$/.exec(t && t.created_at || '');\n"
    "    var ms, off, us;\n"
    "    if (!m || !UUID.test(t.id)) return null;\n"
    "    off = m[3] === 'Z' ? 'Z' : m[3].length === 3 ? m[3] + ':00'\n"
    "                                                 : m[3].replace(/^(...)(\\d\\d)$/, '$1:$2');\n"
    "    ms = Date.parse(m[1] + off);\n"
    "    if (isNaN(ms)) return null;\n"
    "    us = m[2] ? parseInt((m[2] + '00000').slice(0, 6), 10) : 0;\n"
    "    return (ms * 1000 + us) + '_' + t.id;\n"
    "  }\n"
    "\n"
    "  /* /tasks: states change in place. On the newest page (data-insert), new\n"
    "   * tasks that match its state and name filters come in on top and the\n"
    "   * oldest rows go, the \"next page\" link following the new last row, so that\n"
    "   * paging on from it still visits every task once. */\n"
    "  var list = document.querySelector('table[data-live-tasks]');\n"
    "  if (list) {\n"
    "    var rows = {}, limit = parseInt(list.getAttribute('data-limit'), 10) || 50;\n"
    "    var body = list.tBodies[0] || list, empty = document.getElementById('tasks-empty');\n"
    "    var gone = {}; /* pushed off the bottom: a later state change must not bring it back */\n"
    "    var matchState = list.getAttribute('data-match-state');\n"
    "    var matchName = list.getAttribute('data-match-name');\n"
    "    var next = document.getElementById('tasks-next');\n"
    "    Array.prototype.forEach.call(body.querySelectorAll('tr[data-task]'), function (tr) {\n"
    "      var state = tr.getAttribute('data-state');\n"
    "      rows[tr.getAttribute('data-task')] = {tr: tr, t: {state: state}};\n"
    "    });\n"
    "    var setNext = function (key) {\n"
    "      var u = new URL(next.href, location.href);\n"
    "      u.searchParams.delete('before');\n"
    "      u.searchParams.set('after', key);\n"
    "      next.href = u.pathname + u.search;\n"
    "      next.hidden = false;\n"
    "    };\n"
    "    /* A row that came in live has no cursor yet: its task's created_at gives it. */\n"
    "    var pointNext = function (tr) {\n"
    "      var key = tr.getAttribute('data-key');\n"
    "      if (!next) return;\n"
    "      if (key) {\n"
    "        setNext(key);\n"
    "        return;\n"
    "      }\n"
    "      task(tr.getAttribute('data-task')).then(function (t) {\n"
    "        var k = cursorOf(t), all = body.querySelectorAll('tr[data-task]');\n"
    "        if (!k) return;\n"
    "        tr.setAttribute('data-key', k);\n"
    "        if (all[all.length - 1] === tr) setNext(k);\n"
    "      });\n"
    "    };\n"
    "    listen('tasks', list.getAttribute('data-cursor'), {task: function (t) {\n"
    "      var r = rows[t.id], tr, a;\n"
    "      if (!UUID.test(t.id) || typeof t.state !== 'string') return;\n"
    "      if (!r) {\n"
    "        if (!list.hasAttribute('data-insert') || gone[t.id] ||\n"
    "            (matchState && t.state !== matchState) ||\n"
    "            (matchName !== null && t.name !== matchName)) return;\n"
    "        tr = el('tr');\n"
    "        tr.setAttribute('data-task', t.id);\n"
    "        a = el('a', null, t.id);\n"
    "        a.href = '/tasks/' + t.id;\n"
    "        tr.appendChild(el('td', 'id'));\n"
    "        tr.firstChild.appendChild(a);\n"
    "        tr.appendChild(el('td', null, t.name));\n"
    "        tr.appendChild(el('td', 'state-cell'));\n"
    "        for (var i = 0; i < 4; i++) tr.appendChild(el('td'));\n"
    "        tr.lastChild.className = 'short';\n"
    "        body.insertBefore(tr, body.querySelector('tr[data-task]'));\n"
    "        r = rows[t.id] = {tr: tr, t: null};\n"
    "        list.hidden = false;\n"
    "        if (empty) empty.hidden = true;\n"
    "        var all = body.querySelectorAll('tr[data-task]');\n"
    "        if (all.length > limit) {\n"
    "          var last = all[all.length - 1];\n"
    "          delete rows[last.getAttribute('data-task')];\n"
    "          gone[last.getAttribute('data-task')] = true;\n"
    "          last.parentNode.removeChild(last);\n"
    "          pointNext(all[all.length - 2]);\n"
    "        }\n"
    "      }\n"
    "      if (!newer(r.t, t)) return;\n"
    "      r.t = t;\n"
    "      showState(r.tr.querySelector('.state-cell'), t);\n"
    "    }});\n"
    "  }\n"
    "\n"
    "  /* /tasks/{id}: state, progress and the log tail in place; the other fields\n"
    "   * once it is final (or the whole page, when it has sections of its own). */\n"
    "  var RANK = {DEBUG: 10, INFO: 20, WARN: 30, WARNING: 30, ERROR: 40, CRITICAL: 50};\n"
    "  function rank(level) { return RANK[String(level).toUpperCase()] || 20; }\n"
    "  function seconds(iso) { /* Date.parse() takes milliseconds at most */\n"
    "    var v = Date.parse(String(iso || '').replace(/(\\.\\d{3})\\d+/, '$1'));\n"
    "    return iso && !isNaN(v) ? v / 1000 : null;\n"
    "  }\n"
    "  function duration(s) { /* as pages.c prints durations */\n"
    "    var m;\n"
    "    s = Math.max(0, s);\n"
    "    if (s < 10) return s.toFixed(3) + ' s';\n"
    "    if (s < 60) return s.toFixed(1) + ' s';\n"
    "    m = Math.floor(s / 60);\n"
    "    if (m < 60) return m + ' min ' + Math.floor(s % 60) + ' s';\n"
    "    if (m < 1440) return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';\n"
    "    return Math.floor(m / 1440) + ' d ' + (Math.floor(m / 60) % 24) + ' h';\n"
    "  }\n"
    "  /* The Timings section, computed as pages.c does (each <dd> says how). */\n"
    "  function showTimings(t) {\n"
    "    var c = seconds(t.created_at), r = seconds(t.received_at), st = seconds(t.started_at);\n"
    "    var f = seconds(t.finished_at), v;\n"
    "    if (r === null) r = st;\n"
    "    v = {queued: c !== null && r !== null ? r - c : null,\n"
    "         waited: r !== null && st !== null ? st - r : null,\n"
    "         ran: typeof t.wall_s === 'number' ? t.wall_s\n"
    "                                           : st !== null && f !== null ? f - st : null,\n"
    "         total: c !== null && f !== null ? f - c : null};\n"
    "    var dds = document.querySelectorAll('dd[data-duration]');\n"
    "    Array.prototype.forEach.call(dds, function (dd) {\n"
    "      var k = dd.getAttribute('data-duration'), hint = dd.querySelector('.hint');\n"
    "      if (!(k in v)) return;\n"
    "      fill(dd, text(v[k] === null ? '\\u2014' : duration(v[k])), text(' '), hint);\n"
    "    });\n"
    "  }\n"
    "  /* Revoke while it may run, retry once it failed or was revoked. */\n"
    "  function showActions(state) {\n"
    "    var revoke = document.querySelector('form[data-action=\"revoke\"]');\n"
    "    var retry = document.querySelector('form[data-action=\"retry\"]');\n"
    "    if (revoke) revoke.hidden = !!FINAL[state];\n"
    "    if (retry) retry.hidden = !(state === 'FAILURE' || state === 'REVOKED');\n"
    "  }\n"
    "\n"
    "  var detail = document.querySelector('[data-live-task]');\n"
    "  if (detail) {\n"
    "    var id = detail.getAttribute('data-live-task');\n"
    "    var stateDd = detail.querySelector('dd[data-field=\"state\"]');\n"
    "    var progDd = detail.querySelector('dd[data-field=\"progress\"]');\n"
    "    var log = document.getElementById('task-log');\n"
    "    var logEmpty = document.getElementById('task-log-empty');\n"
    "    var cur = {state: stateDd ? stateDd.textContent : ''};\n"
    "    var lastLog = parseInt(detail.getAttribute('data-last-log'), 10) || 0, stream;\n"
    "    var minLevel = log && parseInt(log.getAttribute('data-min-level'), 10) || 0;\n"
    "    var finish = function () {\n"
    "      /* Its last log lines come after its final state. */\n"
    "      setTimeout(function () { stream.close(); }, 10000);\n"
    "      if (detail.hasAttribute('data-reload-on-final')) {\n"
    "        setTimeout(function () { location.reload(); }, 1000);\n"
    "        return;\n"
    "      }\n"
    "      task(id).then(function (t) {\n"
    "        if (!t) return;\n"
    "        var dds = detail.querySelectorAll('dd[data-field]');\n"
    "        Array.prototype.forEach.call(dds, function (dd) {\n"
    "          var k = dd.getAttribute('data-field'), v = t[k];\n"
    "          if (k === 'state' || k === 'progress' || !(k in t)) return;\n"
    "          if (v === null) fill(dd, text('\\u2014'));\n"
    "          else if (typeof v === 'object' || k === 'result')\n"
    "            fill(dd, el('pre', null, JSON.stringify(v, null, 2)));\n"
    "          else if (k === 'error') fill(dd, el('pre', null, v));\n"
    "          else fill(dd, text(String(v)));\n"
    "        });\n"
    "        showTimings(t);\n"
    "      });\n"
    "    };\n"
    "    stream = listen('task:' + id, detail.getAttribute('data-cursor'), {\n"
    "      task: function (t) {\n"
    "        if (t.id !== id || typeof t.state !== 'string' || !newer(cur, t)) return;\n"
    "        cur = t;\n"
    "        if (stateDd) fill(stateDd, stateSpan(t.state));\n"
    "        showActions(t.state);\n"
    "        if (progDd && hasProgress(t))\n"
    "          fill(progDd, t.state === 'STARTED' ? progressBar(t.progress)\n"
    "                                             : text(t.progress + '%'));\n"
    "        if (FINAL[t.state]) finish();\n"
    "      },\n"
    "      log: function (l) {\n"
    "        var tr, pre, level;\n"
    "        if (l.task_id !== id || typeof l.id !== 'number' || l.id <= lastLog || !log)\n"
    "          return;\n"
    "        lastLog = l.id;\n"
    "        if (rank(l.level) < minLevel) return; /* the page's level filter */\n"
    "        level = String(l.level || '');\n"
    "        tr = el('tr');\n"
    "        tr.setAttribute('data-log', l.id);\n"
    "        tr.appendChild(el('td', null, l.at));\n"
    "        tr.appendChild(el('td', 'level-' + level.replace(/[^A-Za-z]/g, ''), level));\n"
    "        pre = el('pre', null, l.message);\n"
    "        tr.appendChild(el('td'));\n"
    "        tr.lastChild.appendChild(pre);\n"
    "        (log.tBodies[0] || log).appendChild(tr);\n"
    "        log.hidden = false;\n"
    "        if (logEmpty) logEmpty.hidden = true;\n"
    "      }\n"
    "    });\n"
    "  }\n"
    "\n"
    "  /* /convert: each conversion's state, then its output or its error. */\n"
    "  var conv = document.querySelector('table[data-live-conversions]');\n"
    "  if (conv) {\n"
    "    var seen = {}, notice = document.getElementById('conversions-new');\n"
    "    Array.prototype.forEach.call(conv.querySelectorAll('tr[data-task]'), function (tr) {\n"
    "      seen[tr.getAttribute('data-task')] = {state: tr.getAttribute('data-state')};\n"
    "    });\n"
    "    listen('tasks', conv.getAttribute('data-cursor'), {task: function (t) {\n"
    "      var tr;\n"
    "      if (!UUID.test(t.id) || typeof t.state !== 'string') return;\n"
    "      tr = conv.querySelector('tr[data-task=\"' + t.id + '\"]');\n"
    "      if (!tr) {\n"
    "        if (t.name === 'convert.file' && notice) notice.hidden = false;\n"
    "        return;\n"
    "      }\n"
    "      if (!newer(seen[t.id], t)) return;\n"
    "      seen[t.id] = t;\n"
    "      showState(tr.querySelector('.state-cell'), t);\n"
    "      if (!FINAL[t.state]) return;\n"
    "      task(t.id).then(function (full) {\n"
    "        var cell = tr.querySelector('.output-cell'), res = full && full.result, a;\n"
    "        if (!cell || !full) return;\n"
    "        if (full.state === 'SUCCESS' && res && typeof res.output_file_id === 'string' &&\n"
    "            UUID.test(res.output_file_id)) {\n"
    "          a = el('a', null, res.name || res.output_file_id);\n"
    "          a.href = '/files/' + res.output_file_id;\n"
    "          a.setAttribute('download', '');\n"
    "          var sized = typeof res.size === 'number';\n"
    "          fill(cell, a, sized ? text(' ') : null,\n"
    "               sized ? el('span', 'hint', size(res.size)) : null);\n"
    "        } else if (full.error) {\n"
    "          fill(cell, text(short(full.error, 120)));\n"
    "        }\n"
    "      });\n"
    "    }});\n"
    "  }\n"
    "})();\n";

void
html_response(struct response *resp, unsigned int status)
{
    resp->status = status;
    resp->content_type = "text/html; charset=utf-8";
}

void
html_see_other(struct response *resp, const char *location)
{
    buf_reset(&resp->body);
    html_response(resp, MHD_HTTP_SEE_OTHER);
    snprintf(resp->location, sizeof resp->location, "%s", location);
    html_begin(&resp->body, "Moved", 0);
    buf_put(&resp->body, "<p>See <a href=\"");
    html_esc(&resp->body, location);
    buf_put(&resp->body, "\">");
    html_esc(&resp->body, location);
    buf_put(&resp->body, "</a>.</p>\n");
    html_end(&resp->body);
}
