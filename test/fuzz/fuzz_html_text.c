/* test/fuzz/fuzz_html_text.c - fuzz target for HTML to text
 * (convert/html.c). Whatever the bytes, the text is UTF-8 with no NUL and
 * ends in a line break; the same input gives the same text; and a bound one
 * byte short of it is refused, the exact bound met. Built with libFuzzer
 * (`make fuzz`) or test/fuzz/replay.c (`make test` replays
 * test/fuzz/corpus/html_text). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "convert/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf text = {0}, again = {0}, short_of = {0};
    char err[CONVERT_ERROR_MAX];

    if (convert_html_to_text((const char *)data, size, 1u << 24, &text, err, sizeof err) == 0 &&
        text.len > 0) {
        if (!utf8_valid(text.data, text.len) || strlen(text.data) != text.len ||
            text.data[text.len - 1] != '\n')
            abort(); /* UTF-8 text, no NUL, whole lines */
        if (convert_html_to_text((const char *)data, size, text.len, &again, err, sizeof err) !=
                0 ||
            strcmp(text.data, again.data) != 0)
            abort(); /* the same again, within the exact bound */
        if (convert_html_to_text((const char *)data, size, text.len - 1, &short_of, err,
                                 sizeof err) == 0)
            abort(); /* one byte short: refused */
    }
    buf_fini(&text);
    buf_fini(&again);
    buf_fini(&short_of);
    return 0;
}
