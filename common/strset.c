/* common/strset.c - see strset.h. */
#include "common/strset.h"

#include <stdlib.h>
#include <string.h>

bool
strset_has(const struct strset *s, const char *x)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

int
strset_add(struct strset *s, const char *x)
{
    char **v, *copy;

    if (strset_has(s, x))
        return 0;
    if ((copy = strdup(x)) == NULL)
        return -1;
    if ((v = realloc(s->v, sizeof *v * (size_t)(s->n + 1))) == NULL) {
        free(copy);
        return -1;
    }
    s->v = v;
    s->v[s->n++] = copy;
    return 1;
}

bool
strset_remove(struct strset *s, const char *x)
{
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], x) == 0) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
            return true;
        }
    }
    return false;
}

int
strset_assign(struct strset *s, const char *const *v, int n)
{
    struct strset t = {0};

    for (int i = 0; i < n; i++) {
        if (strset_add(&t, v[i]) < 0) {
            strset_clear(&t);
            return -1;
        }
    }
    strset_clear(s);
    *s = t;
    return 0;
}

void
strset_clear(struct strset *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int
strset_add_csv(struct strset *s, const char *csv)
{
    int added = 0;

    for (const char *p = csv; p != NULL;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char *name;
        int rc;

        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            if ((name = strndup(p, len)) == NULL)
                return -1;
            rc = strset_add(s, name);
            free(name);
            if (rc < 0)
                return -1;
            added += rc;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return added;
}
