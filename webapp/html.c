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

void
html_begin(struct buf *b, const char *title, int refresh_s)
{
    buf_put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if (refresh_s > 0)
        buf_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s);
    buf_put(b, "<title>");
    html_esc(b, title);
    buf_put(b, " - celeriac</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
               "</head>\n<body>\n<nav><span class=\"brand\">celeriac</span>"
               " <a href=\"/\">Home</a> <a href=\"/tasks\">Tasks</a>"
               " <a href=\"/articles\">Articles</a> <a href=\"/sites\">Sites</a>"
               " <a href=\"/convert\">Convert</a></nav>\n"
               "<main>\n");
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
    "form.task select{max-width:40em}\n";
