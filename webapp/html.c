/* webapp/html.c - the one HTML escaping function, the layout every page
 * shares, and a text helper for messages. */
#include "webapp/webapp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
               " <a href=\"/\">Home</a> <a href=\"/tasks\">Tasks</a></nav>\n<main>\n");
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
    ".level-WARN,.level-warn,.level-WARNING,.level-warning{color:#7a3e00}\n";
