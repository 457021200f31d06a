/* sql/migrate.h - numbered migrations (sql/NNN_name.sql, embedded at build
 * time) and the schema check every binary makes at start. */
#ifndef CELERIAC_MIGRATE_H
#define CELERIAC_MIGRATE_H

#include <stddef.h>
#include <libpq-fe.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[]; /* ascending version */
extern const int migrations_count;

/* The schema version this build needs (the last migration's). */
int migrate_latest(void);

/* Apply pending migrations in order, each in its own transaction under a
 * transaction-level advisory lock, so concurrent `celeriac migrate` runs
 * wait for each other and never apply one twice, even behind PgBouncer in
 * transaction mode. Number applied (0 when up to date), or -1 with the
 * reason in err. */
int migrate_run(PGconn *db, char *err, size_t errlen);

/* 0 when the database has at least this build's schema; -1 with a message
 * telling the operator to run `celeriac migrate` otherwise. */
int migrate_check(PGconn *db, char *err, size_t errlen);

#endif
