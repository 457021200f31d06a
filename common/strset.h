/* common/strset.h - a small set of strings (queue names: a handful), kept as
 * an array in no particular order: membership is a scan. Zero-initialized
 * is empty. */
#ifndef CELERIAC_STRSET_H
#define CELERIAC_STRSET_H

#include <stdbool.h>

struct strset {
    char **v;
    int n;
};

bool strset_has(const struct strset *s, const char *x);
/* 1 when x was added, 0 when it was there already, -1 on out of memory. */
int strset_add(struct strset *s, const char *x);
/* True when x was there (and is gone now). The last member takes its place. */
bool strset_remove(struct strset *s, const char *x);
/* Make s hold a copy of the n strings of v; -1 on out of memory (s is left
 * as it was). */
int strset_assign(struct strset *s, const char *const *v, int n);
/* Add each name of a comma-separated list, spaces around a name dropped and
 * empty names skipped: the number of names added (a repeat counts once), or
 * -1 on out of memory. */
int strset_add_csv(struct strset *s, const char *csv);
void strset_clear(struct strset *s);

#endif
