/* common/uuid.c - see uuid.h. */
#include "common/uuid.h"

#include <string.h>
#include <uuid/uuid.h>

void
uuid_new(char out[UUID_STR_LEN])
{
    uuid_t u;

    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

bool
uuid_is_valid(const char *s)
{
    uuid_t u;

    /* uuid_parse() accepts exactly the 36-character form. */
    return s != NULL && strlen(s) == 36 && uuid_parse(s, u) == 0;
}
