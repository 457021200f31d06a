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

/* Appended to a CTE named t returning (id, state, name): the ONE notification
 * of the statement (PostgreSQL serializes the commits of notifying
 * transactions on one lock), {"tasks": [{"id", "state", "name"}, ...]}, or
 * {"tasks": [], "count": N, "truncated": true} when the list would not fit
 * PostgreSQL's 8,000-byte payload limit. None when t is empty. */
#define STORE_NOTIFY_FROM_T " SELECT n, " STORE_NOTIFY " FROM " STORE_NOTIFY_PAYLOAD " WHERE n > 0"
/* Its two halves, for a statement that selects more beside the notification:
 * the payload (p) and the row count (n) of t, and the pg_notify() of them. */
#define STORE_NOTIFY_PAYLOAD                                                                       \
    "(SELECT count(*) AS n, json_build_object('tasks', json_agg(json_build_object("               \
    "'id', id, 'state', state, 'name', name)))::text AS p FROM t) s"
#define STORE_NOTIFY                                                                               \
    "pg_notify('task_state', CASE WHEN length(p) <= 7900 THEN p ELSE"                            \
    " json_build_object('tasks', '[]'::json, 'count', n, 'truncated', true)::text END)"

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
