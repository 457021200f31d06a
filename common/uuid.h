/* common/uuid.h - task ids: random (version 4) UUIDs in canonical lower-case text, via libuuid. */
#ifndef CELERIAC_UUID_H
#define CELERIAC_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

void uuid_new(char out[UUID_STR_LEN]);
/* True when s is a UUID in the 8-4-4-4-12 hex form (any case). */
bool uuid_is_valid(const char *s);

#endif
