/* common/json.h - small helpers over cJSON used everywhere. */
#ifndef CELERIAC_JSON_H
#define CELERIAC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <cJSON.h>

/* Deepest nesting accepted from outside (HTTP bodies, messages). */
#define JSON_MAX_DEPTH 64

/* The string value of obj[key], or NULL when absent or not a string. */
const char *json_str(const cJSON *obj, const char *key);
/* Compact JSON text of v (caller frees with cJSON_free), NULL on OOM or v NULL. */
char *json_print(const cJSON *v);
/* Parse exactly len bytes; NULL with a reason in err when it is not valid JSON,
 * not valid UTF-8 or nested deeper than JSON_MAX_DEPTH. */
cJSON *json_parse(const char *buf, size_t len, char *err, size_t errlen);
/* True when buf holds valid UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *buf, size_t len);
/* Replace each byte of str that is not part of valid UTF-8 by '?', in place. */
void utf8_scrub(char *str);
/* strdup that keeps NULL. */
char *xstrdup_or_null(const char *s);

#endif
