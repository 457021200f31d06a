/* convert/markdown.c - CommonMark to an HTML fragment with libcmark.
 * cmark 0.29 and later are safe by default (CMARK_OPT_SAFE is kept only
 * for older callers, and we pass it to say what we rely on): raw HTML
 * blocks and inline tags come out as "<!-- raw HTML omitted -->", and link
 * and image URLs with a javascript:, vbscript:, file: or data: scheme
 * (data:image/png, gif, jpeg and webp excepted) become empty. cmark walks
 * its tree with an iterator, not recursion: 100000 levels of quotes,
 * lists, brackets or emphasis convert in well under a second
 * (test_convert.c tries them), so nesting needs no bound of ours. */
#include "convert/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmark.h>

#include "common/json.h"

int
convert_markdown_to_html(const char *in, size_t len, size_t max_output, struct buf *out, char *err,
                         size_t errlen)
{
    char *html;
    size_t n;

    if (!utf8_valid(in, len)) {
        snprintf(err, errlen, "not UTF-8 text");
        return -1;
    }
    /* CMARK_OPT_SMART is left off: it would turn the user's straight quotes
     * and dashes into curly ones. */
    html = cmark_markdown_to_html(in, len, CMARK_OPT_SAFE);
    if (html == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = strlen(html);
    if (n > max_output) {
        free(html);
        snprintf(err, errlen, "the HTML would be larger than %zu bytes", max_output);
        return -1;
    }
    buf_putn(out, html, n);
    free(html);
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
