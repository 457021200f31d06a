/* sql/migrate.c - see migrate.h. */
#include "sql/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* pg_advisory_xact_lock key: "celeriac" as a number, shared by every migrate run. */
#define MIGRATE_LOCK_KEY "7163847729452163"

int
migrate_latest(void)
{
    return migrations_count > 0 ? migrations[migrations_count - 1].version : 0;
}

static int
exec_ok(PGconn *db, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(db));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Highest applied version, 0 for none, -1 on error, -2 when the table is missing. */
static int
current_version(PGconn *db, char *err, size_t errlen)
{
    PGresult *res = PQexec(db, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int v;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        v = state != NULL && strcmp(state, "42P01") == 0 ? -2 : -1; /* undefined_table */
        snprintf(err, errlen, "%s", PQerrorMessage(db));
        PQclear(res);
        return v;
    }
    v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Roll back after a failure: err keeps the failure's message. */
static void
rollback(PGconn *db)
{
    char ignored[256];

    exec_ok(db, "ROLLBACK", ignored, sizeof ignored);
}

int
migrate_run(PGconn *db, char *err, size_t errlen)
{
    int applied = 0;

    /* One transaction per migration, each taking a transaction-level lock
     * and reading the version again under it: a concurrent run waits for
     * the lock, then finds the migration applied. No session lock: behind
     * PgBouncer in transaction mode a session lock stays on whichever
     * server connection took it, and the unlock runs on another. */
    for (;;) {
        const struct migration *m = NULL;
        char version[16], why[512];
        const char *params[2] = {version, NULL};
        PGresult *res;
        int have;

        if (exec_ok(db, "BEGIN", err, errlen) < 0)
            return -1;
        if (exec_ok(db, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err, errlen) < 0 ||
            exec_ok(db,
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                    " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                    err, errlen) < 0 ||
            (have = current_version(db, err, errlen)) < 0) {
            rollback(db);
            return -1;
        }
        for (int i = 0; i < migrations_count && m == NULL; i++)
            if (migrations[i].version > have)
                m = &migrations[i];
        if (m == NULL) /* up to date: what this transaction created stays */
            return exec_ok(db, "COMMIT", err, errlen) < 0 ? -1 : applied;
        if (exec_ok(db, m->sql, why, sizeof why) < 0) {
            snprintf(err, errlen, "migration %s failed: %s", m->name, why);
            rollback(db);
            return -1;
        }
        snprintf(version, sizeof version, "%d", m->version);
        params[1] = m->name;
        res = PQexecParams(db, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                           NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "recording migration %s: %s", m->name, PQerrorMessage(db));
            PQclear(res);
            rollback(db);
            return -1;
        }
        PQclear(res);
        if (exec_ok(db, "COMMIT", err, errlen) < 0)
            return -1;
        log_info("applied migration %s", m->name);
        applied++;
    }
}

int
migrate_check(PGconn *db, char *err, size_t errlen)
{
    char why[512];
    int have = current_version(db, why, sizeof why), need = migrate_latest();

    if (have == -2 || have == 0) {
        snprintf(err, errlen, "the database has no celeriac schema yet: run `celeriac migrate`");
        return -1;
    }
    if (have < 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", why);
        return -1;
    }
    if (have < need) {
        snprintf(err, errlen,
                 "the database schema is at version %d but this build needs %d: run `celeriac "
                 "migrate`",
                 have, need);
        return -1;
    }
    if (have > need)
        log_warn("the database schema (version %d) is newer than this build (%d)", have, need);
    return 0;
}
