/* worker/revoked.c - see revoked.h: an open-addressing set of UUID texts. */
#include "worker/revoked.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/uuid.h"

static void
normalize(const char *id, char out[40])
{
    size_t i;

    for (i = 0; i < 36 && id[i] != '\0'; i++)
        out[i] = (char)tolower((unsigned char)id[i]);
    out[i] = '\0';
}

static size_t
slot_of(const struct revoked *r, const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    size_t i;

    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (i = (size_t)h & (r->cap - 1); r->ids[i][0] != '\0' && strcmp(r->ids[i], key) != 0;
         i = (i + 1) & (r->cap - 1))
        ;
    return i;
}

static bool
grow(struct revoked *r)
{
    struct revoked bigger = {.cap = r->cap ? r->cap * 2 : 64};

    bigger.ids = calloc(bigger.cap, sizeof *bigger.ids);
    if (bigger.ids == NULL)
        return false;
    for (size_t i = 0; i < r->cap; i++)
        if (r->ids[i][0] != '\0')
            memcpy(bigger.ids[slot_of(&bigger, r->ids[i])], r->ids[i], sizeof r->ids[i]);
    bigger.n = r->n;
    free(r->ids);
    *r = bigger;
    return true;
}

bool
revoked_add(struct revoked *r, const char *id)
{
    char key[40];
    size_t i;

    if (id == NULL || !uuid_is_valid(id))
        return false;
    normalize(id, key);
    if ((r->n + 1) * 2 > r->cap && !grow(r)) /* at most half full */
        return false;
    i = slot_of(r, key);
    if (r->ids[i][0] == '\0') {
        memcpy(r->ids[i], key, sizeof key);
        r->n++;
    }
    return true;
}

bool
revoked_has(const struct revoked *r, const char *id)
{
    char key[40];

    if (r->n == 0 || id == NULL)
        return false;
    normalize(id, key);
    return r->ids[slot_of(r, key)][0] != '\0';
}

void
revoked_clear(struct revoked *r)
{
    free(r->ids);
    memset(r, 0, sizeof *r);
}
