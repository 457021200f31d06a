/* convert/csv.c - CSV to JSON and back (see convert.h for the mapping).
 * The reader follows RFC 4180 and Python's csv module where the RFC is
 * silent: text after a closing quote is kept ("a"b reads ab), a quote inside
 * an unquoted field is a character, blank lines are skipped. */
#include "convert/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/json.h"

#define CSV_MAX_COLUMNS 4096

/* ----- reading records ----- */

struct csv {
    const char *p, *end;
    char delim;
    long line;       /* the line being read (1-based) */
    long rec_line;   /* the line the current record started on */
};

/* One record: its fields NUL-separated in text, each starting at off[i]. */
struct record {
    struct buf text;
    size_t *off;
    int n, cap;
};

static bool
record_push(struct record *r, size_t start)
{
    if (r->n == r->cap) {
        int cap = r->cap > 0 ? r->cap * 2 : 16;
        size_t *p = realloc(r->off, (size_t)cap * sizeof *p);
        if (p == NULL)
            return false;
        r->off = p;
        r->cap = cap;
    }
    r->off[r->n++] = start;
    buf_putn(&r->text, "", 1); /* the field's terminating NUL */
    return !r->text.oom;
}

static const char *
field(const struct record *r, int i)
{
    return r->text.data + r->off[i];
}

static void
record_fini(struct record *r)
{
    buf_fini(&r->text);
    free(r->off);
}

/* A line break at c->p: consume "\r\n", "\n" or "\r". */
static bool
at_break(struct csv *c)
{
    if (c->p < c->end && (*c->p == '\n' || *c->p == '\r')) {
        if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')
            c->p++;
        c->p++;
        c->line++;
        return true;
    }
    return false;
}

/* The next record that is not a blank line: 1, 0 at the end, -1 (err). */
static int
next_record(struct csv *c, struct record *r, char *err, size_t errlen)
{
    for (;;) {
        bool quoted = false;

        r->n = 0;
        buf_reset(&r->text);
        if (c->p >= c->end)
            return 0;
        c->rec_line = c->line;
        for (;;) {
            size_t start = r->text.len;

            if (c->p < c->end && *c->p == '"') {
                quoted = true;
                c->p++;
                for (;;) {
                    const char *q;
                    if (c->p >= c->end) {
                        snprintf(err, errlen, "line %ld: a quoted field is never closed",
                                 c->rec_line);
                        return -1;
                    }
                    q = memchr(c->p, '"', (size_t)(c->end - c->p));
                    if (q == NULL)
                        q = c->end;
                    for (const char *s = c->p; s < q; s++) /* line breaks inside the field */
                        if (*s == '\n' || (*s == '\r' && (s + 1 >= q || s[1] != '\n')))
                            c->line++;
                    buf_putn(&r->text, c->p, (size_t)(q - c->p));
                    c->p = q;
                    if (c->p >= c->end)
                        continue; /* reports the unclosed quote */
                    if (c->p + 1 < c->end && c->p[1] == '"') {
                        buf_putn(&r->text, "\"", 1);
                        c->p += 2;
                        continue;
                    }
                    c->p++; /* the closing quote */
                    break;
                }
            }
            /* Unquoted text, or what follows a closing quote. */
            const char *s = c->p;
            while (c->p < c->end && *c->p != c->delim && *c->p != '\n' && *c->p != '\r')
                c->p++;
            buf_putn(&r->text, s, (size_t)(c->p - s));
            if (r->n >= CSV_MAX_COLUMNS) {
                snprintf(err, errlen, "line %ld: more than %d fields", c->rec_line,
                         CSV_MAX_COLUMNS);
                return -1;
            }
            if (!record_push(r, start)) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            if (c->p < c->end && *c->p == c->delim) {
                c->p++;
                continue;
            }
            at_break(c);
            break;
        }
        if (r->n == 1 && !quoted && field(r, 0)[0] == '\0')
            continue; /* a blank line */
        return 1;
    }
}

/* ----- CSV -> JSON ----- */

int
convert_csv_to_json(const char *in, size_t len, char delimiter, size_t max_output,
                    struct buf *out, char *err, size_t errlen)
{
    return convert_csv_to_json_w(in, len, delimiter, max_output, NULL, out, err, errlen);
}

int
convert_csv_to_json_w(const char *in, size_t len, char delimiter, size_t max_output,
                      struct convert_watch *w, struct buf *out, char *err, size_t errlen)
{
    struct csv c = {.p = in, .end = in + len, .delim = delimiter, .line = 1};
    struct record header = {0}, row = {0};
    char **names = NULL;
    int rc, ncols = 0, result = -1;
    const char *nul;
    long rows = 0;

    if (!convert_csv_delimiter_ok(delimiter)) {
        snprintf(err, errlen, "delimiter must be one of , ; | or a tab");
        return -1;
    }
    if (len >= 3 && memcmp(in, "\xef\xbb\xbf", 3) == 0)
        c.p += 3; /* the BOM spreadsheets write */
    if ((nul = memchr(c.p, '\0', (size_t)(c.end - c.p))) != NULL) {
        snprintf(err, errlen, "not a text file: a NUL byte at offset %zu", (size_t)(nul - in));
        return -1;
    }
    if (!utf8_valid(c.p, (size_t)(c.end - c.p))) {
        snprintf(err, errlen, "the CSV is not UTF-8 text (save it as UTF-8 first)");
        return -1;
    }
    if ((rc = next_record(&c, &header, err, errlen)) <= 0) {
        if (rc == 0) { /* no header, no rows: an empty list */
            buf_put(out, "[]");
            result = out->oom ? -1 : 0;
        }
        goto done;
    }
    ncols = header.n;
    if ((names = calloc((size_t)ncols, sizeof *names)) == NULL)
        goto oom;
    for (int i = 0; i < ncols; i++) {
        struct buf name = {0};
        if (field(&header, i)[0] != '\0')
            buf_put(&name, field(&header, i));
        else
            buf_printf(&name, "column_%d", i + 1);
        if (name.oom)
            goto oom;
        for (int k = 0; k < i; k++)
            if (strcmp(names[k], name.data) == 0) {
                snprintf(err, errlen, "line %ld: the header names column \"%.100s\" twice",
                         c.rec_line, name.data);
                buf_fini(&name);
                goto done;
            }
        names[i] = name.data;
    }
    buf_put(out, "[");
    while ((rc = next_record(&c, &row, err, errlen)) == 1) {
        if (row.n > ncols) {
            snprintf(err, errlen, "line %ld: %d fields, but the header has %d", c.rec_line, row.n,
                     ncols);
            goto done;
        }
        buf_put(out, rows++ > 0 ? ",{" : "{");
        for (int i = 0; i < ncols; i++) {
            if (i > 0)
                buf_put(out, ",");
            buf_json_str(out, names[i]);
            buf_put(out, ":");
            buf_json_str(out, i < row.n ? field(&row, i) : "");
        }
        buf_put(out, "}");
        if (out->len > max_output) {
            snprintf(err, errlen, "the JSON would be larger than %zu bytes", max_output);
            goto done;
        }
        if (convert_watch_stop(w, (size_t)(c.p - in), len, err, errlen))
            goto done;
    }
    if (rc < 0)
        goto done;
    buf_put(out, "]");
    if (out->oom)
        goto oom;
    result = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    for (int i = 0; names != NULL && i < ncols; i++)
        free(names[i]);
    free(names);
    record_fini(&header);
    record_fini(&row);
    return result;
}

/* ----- JSON -> CSV ----- */

static void
put_field(struct buf *out, const char *s, char delim)
{
    size_t n = strlen(s);
    /* Edge spaces, and a leading U+FEFF (first in the file, readers take it for a BOM). */
    bool quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ' || strncmp(s, "\xef\xbb\xbf", 3) == 0);

    for (const char *p = s; !quote && *p != '\0'; p++)
        quote = *p == delim || *p == '"' || *p == '\n' || *p == '\r';
    if (!quote) {
        buf_putn(out, s, n);
        return;
    }
    buf_put(out, "\"");
    for (const char *p = s; *p != '\0'; p++) {
        const char *q = strchr(p, '"');
        if (q == NULL) {
            buf_put(out, p);
            break;
        }
        buf_putn(out, p, (size_t)(q - p));
        buf_put(out, "\"\"");
        p = q;
    }
    buf_put(out, "\"");
}

/* A value as CSV text: malloc'd, or NULL on OOM. */
static char *
value_text(const cJSON *v)
{
    if (v == NULL || cJSON_IsNull(v))
        return strdup("");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    /* Numbers, booleans, nested arrays and objects: their JSON text. */
    char *json = json_print(v), *text = json != NULL ? strdup(json) : NULL;
    cJSON_free(json);
    return text;
}

int
convert_json_to_csv(const char *in, size_t len, char delimiter, size_t max_output,
                    struct buf *out, char *err, size_t errlen)
{
    return convert_json_to_csv_w(in, len, delimiter, max_output, NULL, out, err, errlen);
}

int
convert_json_to_csv_w(const char *in, size_t len, char delimiter, size_t max_output,
                      struct convert_watch *w, struct buf *out, char *err, size_t errlen)
{
    char why[256];
    cJSON *doc, *item, *kv;
    const char **cols = NULL;
    int ncols = 0, result = -1, index = 0, written = 0;

    if (!convert_csv_delimiter_ok(delimiter)) {
        snprintf(err, errlen, "delimiter must be one of , ; | or a tab");
        return -1;
    }
    if ((doc = json_parse(in, len, why, sizeof why)) == NULL) {
        snprintf(err, errlen, "not JSON: %s", why);
        return -1;
    }
    if (!cJSON_IsArray(doc)) {
        snprintf(err, errlen, "expected a JSON array of objects");
        goto done;
    }
    /* The columns: every key, in the order first seen. */
    cJSON_ArrayForEach(item, doc)
    {
        if (!cJSON_IsObject(item)) {
            snprintf(err, errlen, "element %d is not an object", index);
            goto done;
        }
        cJSON_ArrayForEach(kv, item)
        {
            int k;
            for (k = 0; k < ncols && strcmp(cols[k], kv->string) != 0; k++)
                ;
            if (k < ncols)
                continue;
            if (ncols >= CSV_MAX_COLUMNS) {
                snprintf(err, errlen, "more than %d distinct keys", CSV_MAX_COLUMNS);
                goto done;
            }
            if (ncols % 64 == 0) {
                const char **p = realloc(cols, (size_t)(ncols + 64) * sizeof *p);
                if (p == NULL)
                    goto oom;
                cols = p;
            }
            cols[ncols++] = kv->string;
        }
        index++;
        if (convert_watch_stop(w, 0, 0, err, errlen))
            goto done;
    }
    for (int k = 0; k < ncols; k++) {
        if (k > 0)
            buf_putn(out, &delimiter, 1);
        put_field(out, cols[k], delimiter);
    }
    if (ncols > 0)
        buf_put(out, "\r\n");
    cJSON_ArrayForEach(item, doc)
    {
        for (int k = 0; k < ncols; k++) {
            char *text = value_text(cJSON_GetObjectItemCaseSensitive(item, cols[k]));
            if (text == NULL)
                goto oom;
            if (k > 0)
                buf_putn(out, &delimiter, 1);
            if (ncols == 1 && text[0] == '\0')
                buf_put(out, "\"\""); /* not a blank line, which readers skip */
            else
                put_field(out, text, delimiter);
            free(text);
        }
        if (ncols > 0)
            buf_put(out, "\r\n");
        if (out->len > max_output) {
            snprintf(err, errlen, "the CSV would be larger than %zu bytes", max_output);
            goto done;
        }
        if (convert_watch_stop(w, (size_t)++written, (size_t)index, err, errlen))
            goto done;
    }
    if (out->oom)
        goto oom;
    result = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    free(cols);
    cJSON_Delete(doc);
    return result;
}
