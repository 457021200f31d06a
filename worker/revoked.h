/* worker/revoked.h - the task ids a child knows to be revoked: loaded from
 * table revocations when it connects, then kept current by polling the
 * revocations past the newest seq it read (every 0.5 s, never inside a batch's
 * transaction: see docs/architecture.md "Behind PgBouncer"). A membership
 * test per delivery costs a hash, not a query. Runs in: child only. */
#ifndef CELERIAC_REVOKED_H
#define CELERIAC_REVOKED_H

#include <stdbool.h>
#include <stddef.h>

struct revoked {
    char (*ids)[40]; /* lower-case UUID text; "" marks a free slot */
    size_t n, cap;   /* cap is 0 or a power of two */
};

/* Add a task id (any case). false on out of memory or an invalid id. */
bool revoked_add(struct revoked *r, const char *id);
bool revoked_has(const struct revoked *r, const char *id);
void revoked_clear(struct revoked *r);

#endif
