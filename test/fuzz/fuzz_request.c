/* test/fuzz/fuzz_request.c - fuzz target for what the webapp parses from a
 * client: the request line's path through the route table, and a POST
 * /api/tasks body through parsing, field checks and enqueue validation.
 * Input: the path on the first line, the body after it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/producer.h"
#include "webapp/webapp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl != NULL ? (size_t)(nl - data) : size;
    const char *body = nl != NULL ? (const char *)nl + 1 : "";
    size_t blen = nl != NULL ? size - plen - 1 : 0;
    struct route_match m;
    struct enqueue_req req;
    char *path = malloc(plen + 1), err[512];
    cJSON *v;

    if (path == NULL)
        return 0;
    memcpy(path, data, plen);
    path[plen] = '\0';
    route_match("GET", path, &m);
    route_match("POST", path, &m);
    free(path);

    v = api_parse_body(body, blen, err, sizeof err);
    if (v != NULL) {
        if (api_enqueue_req(v, &req, err, sizeof err) == 0)
            enqueue_validate(&req, err, sizeof err);
        cJSON_Delete(v);
    }
    return 0;
}
