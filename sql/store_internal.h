/* sql/store_internal.h - helpers shared by the sql/store sources only. */
#ifndef CELERIAC_STORE_INTERNAL_H
#define CELERIAC_STORE_INTERNAL_H

#include <libpq-fe.h>

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
#define STORE_NOTIFY_FROM_T                                                                        \
    " SELECT n, pg_notify('task_state', CASE WHEN length(p) <= 7900 THEN p ELSE"                  \
    " json_build_object('tasks', '[]'::json, 'count', n, 'truncated', true)::text END)"          \
    " FROM (SELECT count(*) AS n, json_build_object('tasks', json_agg(json_build_object("        \
    "'id', id, 'state', state, 'name', name)))::text AS p FROM t) s WHERE n > 0"

/* The PostgreSQL array literal of n UUIDs ("{a,b}"), for "= ANY($1::uuid[])".
 * The ids must be valid UUIDs. Caller frees; NULL on out of memory. */
char *store_uuid_array(const char *const *ids, int n);

#endif
