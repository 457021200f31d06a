/* test/fuzz/fuzz_celery.c - fuzz target for the Celery v2 decoder.
 * Input: the headers as JSON on the first line, the body after it. Built
 * with libFuzzer (`make fuzz`, clang) or with test/fuzz/replay.c, which runs
 * the corpus in test/fuzz/corpus/celery as part of `make test`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/celery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl != NULL ? (size_t)(nl - data) : size;
    struct celery_wire w = {0};
    struct celery_msg m;
    char *headers = malloc(hlen + 1), err[256];

    if (headers == NULL)
        return 0;
    memcpy(headers, data, hlen);
    headers[hlen] = '\0';
    w.headers = cJSON_Parse(headers);
    free(headers);
    w.content_type = strdup("application/json");
    w.priority = -1;
    w.body_len = nl != NULL ? size - hlen - 1 : 0;
    w.body = malloc(w.body_len + 1);
    if (w.body != NULL) {
        memcpy(w.body, nl != NULL ? nl + 1 : data, w.body_len);
        if (celery_decode(&w, &m, err, sizeof err) == 0) {
            /* Whatever decodes must encode again. */
            struct celery_wire again;
            if (celery_encode(&m, &again, err, sizeof err) != 0)
                abort();
            celery_wire_fini(&again);
        }
        celery_msg_fini(&m);
    }
    celery_wire_fini(&w);
    return 0;
}
