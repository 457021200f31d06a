/* sql/store.c - connection handling and the shared query helper. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* libpq prints NOTICEs (e.g. "relation already exists, skipping") on stderr:
 * keep them for LOG_LEVEL=debug only. */
static void
on_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres: %s", message);
}

PGconn *
store_open(const char *database_url, const char *app_name, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {database_url, app_name, "5", NULL};
    PGconn *db = PQconnectdbParams(keys, vals, 1);

    if (db == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (PQstatus(db) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password. */
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(db));
        PQfinish(db);
        return NULL;
    }
    PQsetNoticeProcessor(db, on_notice, NULL);
    return db;
}

void
store_close(PGconn *db)
{
    if (db != NULL)
        PQfinish(db);
}

bool
store_is_ok(PGconn *db)
{
    return db != NULL && PQstatus(db) == CONNECTION_OK;
}

int
store_classify(PGconn *db, PGresult *res)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (PQstatus(db) != CONNECTION_OK || state == NULL)
        return STORE_ERR;
    /* Class 22 is data exception (bad UTF-8 is 22021, NUL in jsonb 22P05),
     * 23 integrity constraint violation: the values, not the server. */
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return STORE_BAD_DATA;
    return STORE_ERR;
}

PGresult *
store_exec(PGconn *db, const char *what, const char *sql, int n, const char *const *params,
           ExecStatusType want, int *rc)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == want) {
        *rc = STORE_OK;
        return res;
    }
    *rc = store_classify(db, res);
    log_error("%s: %s", what, PQerrorMessage(db));
    PQclear(res);
    return NULL;
}

int
store_ping(PGconn *db)
{
    int rc;
    PGresult *res = store_exec(db, "ping", "SELECT 1", 0, NULL, PGRES_TUPLES_OK, &rc);

    PQclear(res);
    return rc;
}
