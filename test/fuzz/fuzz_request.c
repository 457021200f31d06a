/* test/fuzz/fuzz_request.c - fuzz target for what the webapp parses from a
 * client: the request line's path through the route table, a POST /api/tasks
 * body through parsing, field checks and enqueue validation, the same body
 * as a POST /api/convert one, and the body's text as an uploaded file's name
 * (cleaned, then made a Content-Disposition) and as upload form options.
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
    char *path = malloc(plen + 1), err[512], name[UPLOAD_NAME_MAX + 1], *text;
    struct buf disp = {0};
    cJSON *v, *opts;

    if (path == NULL)
        return 0;
    memcpy(path, data, plen);
    path[plen] = '\0';
    route_match("GET", path, &m);
    route_match("POST", path, &m);
    free(path);

    v = api_parse_body(body, blen, err, sizeof err);
    if (v != NULL) {
        struct file_convert_req c;

        if (api_enqueue_req(v, &req, err, sizeof err) == 0)
            enqueue_validate(&req, err, sizeof err);
        file_convert_req(v, &c, err, sizeof err);
        cJSON_Delete(v);
    }

    text = malloc(blen + 1);
    if (text == NULL)
        return 0;
    memcpy(text, body, blen);
    text[blen] = '\0'; /* up to a NUL, as MHD hands a part's filename over */
    file_name_clean(text, name, sizeof name);
    file_disposition(&disp, name);
    file_disposition(&disp, text);
    buf_fini(&disp);
    if (file_options_from_form(text, text, text, text, text, &opts, err, sizeof err) == 0)
        cJSON_Delete(opts);
    free(text);
    return 0;
}
