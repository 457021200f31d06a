/* common/buf.h - a growable string, for pages, JSON answers and the JSON
 * documents the store hands PostgreSQL. */
#ifndef CELERIAC_BUF_H
#define CELERIAC_BUF_H

#include <stdbool.h>
#include <stddef.h>

/* A NUL-terminated string that grows as it is appended to. Starts as {0}.
 * Allocation failure sets oom and makes every later append a no-op, so
 * builders check once at the end instead of after every call. */
struct buf {
    char *data;
    size_t len, cap;
    bool oom;
};

void buf_putn(struct buf *b, const char *s, size_t n);
void buf_put(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_fini(struct buf *b);
/* Bytes of s to keep so that at most max bytes remain and no UTF-8 sequence
 * is cut in half. */
size_t utf8_prefix_len(const char *s, size_t max);

/* Append s as a JSON string literal (quotes included, control characters
 * escaped). s must be valid UTF-8: it is copied byte for byte. */
void buf_json_str(struct buf *b, const char *s);

#endif
