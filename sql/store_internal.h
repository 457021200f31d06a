/* sql/store_internal.h - helpers shared by the sql/store sources only. */
#ifndef CELERIAC_STORE_INTERNAL_H
#define CELERIAC_STORE_INTERNAL_H

#include <libpq-fe.h>
#include <cJSON.h>

/* Run a parameterized statement (text params, NULL = SQL NULL). The result when
 * its status is want (caller PQclear()s), else NULL with *rc a store_rc and the
 * server's message logged under what. */
PGresult *store_exec(PGconn *db, const char *what, const char *sql, int n,
                     const char *const *params, ExecStatusType want, int *rc);
/* The same without logging. */
PGresult *store_exec_quiet(PGconn *db, const char *sql, int n, const char *const *params,
                           ExecStatusType want, int *rc);
/* STORE_BAD_DATA when res failed on the values, STORE_ERR otherwise. */
int store_classify(PGconn *db, PGresult *res);

/* A scalar subquery over a CTE named t returning (id, state, name): the
 * statement's task_state notifications, {"tasks": [{"id", "state", "name"},
 * ...]}, as few as PostgreSQL's 8,000-byte payload limit allows (lists of at
 * most about 6,000 bytes; a name is cut to 200 characters, which keeps any
 * one entry under 1,300 bytes), and their count (none when t is empty).
 * However many there are, they go out with the commit, which takes
 * PostgreSQL's notify lock once per transaction: a NOTIFY per row would
 * still cost one statement each. */
#define STORE_NOTIFY_T                                                                             \
    "(SELECT count(*) FROM (SELECT pg_notify('task_state',"                                        \
    " json_build_object('tasks', json_agg(e ORDER BY k))::text) FROM"                               \
    " (SELECT e, k, sum(octet_length(e::text) + 2) OVER (ORDER BY k) / 6000 AS part FROM"           \
    " (SELECT json_build_object('id', id, 'state', state, 'name', left(name, 200)) AS e,"           \
    " row_number() OVER () AS k FROM t) e) p GROUP BY part) n)"

struct buf;
struct store_task;

/* Open t's JSON object for json_to_recordset(): {"id", "name", "queue",
 * "args", "kwargs", "origin", "eta", "expires" (args [] and kwargs {} when
 * NULL); the caller adds its own fields and the closing brace. */
void store_task_json_open(struct buf *b, const struct store_task *t);
/* Append ,"key":s to a JSON object: s as a JSON string, null when NULL. */
void store_json_field(struct buf *b, const char *key, const char *s);

/* Run a query returning one row with one JSON text column and parse it: the
 * value, or NULL with *rc set (STORE_NOT_FOUND for no row or SQL NULL). */
cJSON *store_query_json(PGconn *db, const char *what, const char *sql, int n,
                        const char *const *params, int *rc);

/* The PostgreSQL array literal of n UUIDs ("{a,b}"), for "= ANY($1::uuid[])".
 * The ids must be valid UUIDs. Caller frees; NULL on out of memory. */
char *store_uuid_array(const char *const *ids, int n);

#endif
