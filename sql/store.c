/* sql/store.c - connection handling and the shared query helper. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"

/* libpq prints NOTICEs (e.g. "relation already exists, skipping") on stderr:
 * keep them for LOG_LEVEL=debug only. A WARNING is for the operator (a
 * migration that could not turn JIT off says so). */
static void
on_notice(void *arg, const PGresult *res)
{
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);

    (void)arg;
    if (severity != NULL && strcmp(severity, "WARNING") == 0)
        log_warn("postgres: %s", PQresultErrorMessage(res));
    else
        log_debug("postgres: %s", PQresultErrorMessage(res));
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
    PQsetNoticeReceiver(db, on_notice, NULL);
    /* No session state here (no SET): behind PgBouncer in transaction mode
     * it would land on whichever server connection ran it, not on the ones
     * our later statements get. JIT, which once compiled the batch's final
     * statement at every commit (470 ms instead of 7), is off for the whole
     * database since sql/010_pooler.sql, for every connection a pooler
     * opens (where the role may not, migrate warns). A session SET kept as
     * a fallback would cost a round trip per connect and, behind a pooler,
     * still not reach the statements it was for. */
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
    /* Class 21 is cardinality violation (a row upserted twice), 22 data
     * exception (bad UTF-8 is 22021, NUL in jsonb 22P05), 23 integrity
     * constraint violation, 54 program limit exceeded (a value too large):
     * the values, not the server. */
    if (strncmp(state, "21", 2) == 0 || strncmp(state, "22", 2) == 0 ||
        strncmp(state, "23", 2) == 0 || strncmp(state, "54", 2) == 0)
        return STORE_BAD_DATA;
    return STORE_ERR;
}

/* SQLSTATEs that say the server cannot take the statement now, whatever the
 * statement: connection exception (08), transaction rollback (40:
 * serialization, deadlock), insufficient resources (53: disk full), system
 * error (58: I/O), read-only after a failover (25006), shutting down or
 * starting (57P01-57P03). A statement timeout (57014) is the statement's. */
static bool
server_trouble(const char *state)
{
    static const char *const classes[] = {"08", "40", "53", "58"};
    static const char *const codes[] = {"25006", "57P01", "57P02", "57P03"};

    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strncmp(state, classes[i], 2) == 0)
            return true;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(state, codes[i]) == 0)
            return true;
    return false;
}

PGresult *
store_exec_quiet(PGconn *db, const char *sql, int n, const char *const *params,
                 ExecStatusType want, int *rc)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == want) {
        *rc = STORE_OK;
        return res;
    }
    *rc = store_classify(db, res);
    PQclear(res);
    return NULL;
}

PGresult *
store_exec(PGconn *db, const char *what, const char *sql, int n, const char *const *params,
           ExecStatusType want, int *rc)
{
    PGresult *res = store_exec_quiet(db, sql, n, params, want, rc);

    if (res == NULL)
        log_error("%s: %s", what, store_error_message(db));
    return res;
}

const char *
store_error_message(PGconn *db)
{
    /* libpq's messages end in a newline and may span lines ("DETAIL: ..."). */
    static _Thread_local char line[512];
    size_t n = 0;

    for (const char *s = db != NULL ? PQerrorMessage(db) : "no connection"; *s && n < sizeof line - 1; s++)
        line[n++] = (*s == '\n' || *s == '\t') ? ' ' : *s;
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    return line;
}

/* A command without parameters or rows: BEGIN, COMMIT, SAVEPOINT... */
static int
command(PGconn *db, const char *sql)
{
    int rc;

    PQclear(store_exec_quiet(db, sql, 0, NULL, PGRES_COMMAND_OK, &rc));
    return rc;
}

int
store_begin(PGconn *db)
{
    return command(db, "BEGIN");
}

int
store_commit(PGconn *db)
{
    int rc = command(db, "COMMIT");

    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK: not a commit. */
    if (rc == STORE_OK && PQtransactionStatus(db) != PQTRANS_IDLE)
        rc = STORE_ERR;
    return rc;
}

int
store_rollback(PGconn *db)
{
    return command(db, "ROLLBACK");
}

int
store_savepoint(PGconn *db)
{
    return command(db, "SAVEPOINT task");
}

int
store_release_savepoint(PGconn *db)
{
    return command(db, "RELEASE SAVEPOINT task");
}

int
store_rollback_to_savepoint(PGconn *db)
{
    return command(db, "ROLLBACK TO SAVEPOINT task");
}

bool
store_in_transaction(PGconn *db)
{
    PGTransactionStatusType st = PQtransactionStatus(db);

    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

PGresult *
store_task_sql(PGconn *db, const char *sql, int n, const char *const *params,
               const struct store_binary *bin, int *rc)
{
    PGresult *res = bin == NULL ? PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0)
                                : PQexecParams(db, sql, n, NULL, params, bin->lengths,
                                               bin->formats, bin->result_format);
    ExecStatusType st = PQresultStatus(res);

    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *rc = STORE_OK;
        return res;
    }
    /* The handler's own statement: anything but server trouble is its fault
     * (a bad value, a syntax error, a constraint) and fails the task. */
    *rc = PQstatus(db) != CONNECTION_OK || state == NULL || server_trouble(state) ? STORE_ERR
                                                                                : STORE_BAD_DATA;
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

char *
store_uuid_array(const char *const *ids, int n)
{
    struct buf arr = {0};

    /* Ids are checked UUIDs: nothing in them needs quoting in an array literal. */
    buf_put(&arr, "{");
    for (int i = 0; i < n; i++) {
        buf_put(&arr, i > 0 ? "," : "");
        buf_put(&arr, ids[i]);
    }
    buf_put(&arr, "}");
    if (arr.oom) {
        buf_fini(&arr);
        return NULL;
    }
    return arr.data;
}

void
store_task_json_open(struct buf *b, const struct store_task *t)
{
    buf_put(b, "{\"id\":");
    buf_json_str(b, t->id);
    buf_put(b, ",\"name\":");
    buf_json_str(b, t->name);
    buf_put(b, ",\"queue\":");
    buf_json_str(b, t->queue);
    buf_put(b, ",\"args\":");
    buf_put(b, t->args_json != NULL ? t->args_json : "[]");
    buf_put(b, ",\"kwargs\":");
    buf_put(b, t->kwargs_json != NULL ? t->kwargs_json : "{}");
    store_json_field(b, "origin", t->origin);
    store_json_field(b, "eta", t->eta);
    store_json_field(b, "expires", t->expires);
}

void
store_json_field(struct buf *b, const char *key, const char *s)
{
    buf_printf(b, ",\"%s\":", key);
    if (s != NULL)
        buf_json_str(b, s);
    else
        buf_put(b, "null");
}

cJSON *
store_query_json(PGconn *db, const char *what, const char *sql, int n, const char *const *params,
                 int *rc)
{
    PGresult *res = store_exec(db, what, sql, n, params, PGRES_TUPLES_OK, rc);
    cJSON *v = NULL;

    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        *rc = STORE_NOT_FOUND;
    } else {
        v = cJSON_Parse(PQgetvalue(res, 0, 0));
        if (v == NULL)
            *rc = STORE_ERR;
    }
    PQclear(res);
    return v;
}
