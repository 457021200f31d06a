/* test/fuzz/fuzz_cron.c - fuzz target for cron expressions (common/cron.c).
 * Input: the expression, parsed with and without the seconds field. Whatever
 * parses must give, from a few fixed times, a next time that is later and
 * matches, or -1. Built with libFuzzer (`make fuzz`, clang) or with
 * test/fuzz/replay.c, which runs the corpus in test/fuzz/corpus/cron as part
 * of `make test`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t from[] = {
        0,                   /* 1970-01-01, a Thursday */
        951782399,           /* 2000-02-28 23:59:59, before a leap day */
        1735689599,          /* 2024-12-31 23:59:59 */
        4107542399,          /* 2100-02-28 23:59:59, 2100 is no leap year */
        253402300799 - 3600, /* an hour before the end of year 9999 */
        -86400,              /* before 1970 */
    };
    char *expr = malloc(size + 1), err[256];

    if (expr == NULL)
        return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    for (int allow_seconds = 0; allow_seconds < 2; allow_seconds++) {
        struct cron c;

        err[0] = '\0';
        if (cron_parse(expr, allow_seconds, &c, err, sizeof err) != 0) {
            if (err[0] == '\0')
                abort(); /* a failure always says why */
            continue;
        }
        for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
            int64_t t = cron_next(&c, from[i]);

            if (t != -1 && (t <= from[i] || !cron_matches(&c, t)))
                abort();
        }
    }
    free(expr);
    return 0;
}
