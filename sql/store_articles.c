/* sql/store_articles.c - what the webapp reads of the scraper's work: the
 * articles table (sql/004_articles.sql, written by the scrape.site task) and
 * the saved sites, which are the periodic tasks that run scrape.site. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"

/* to_char()'s format for ISO 8601 UTC to the second, "2026-11-02T08:30:00Z",
 * applied to "col AT TIME ZONE 'UTC'"; NULL stays NULL. */
#define UTC " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* An article for the lists: everything but the body (the big column). */
#define ARTICLE_FIELDS                                                                             \
    "'id', a.id, 'url', a.url, 'site', a.site, 'source_url', a.source_url, 'title', a.title,"      \
    " 'author', a.author, 'published_at', to_char(a.published_at" UTC ", 'summary', a.summary,"    \
    " 'task_id', a.task_id, 'created_at', to_char(a.created_at" UTC ", 'updated_at',"              \
    " to_char(a.updated_at" UTC

/* $1 a LIKE pattern or NULL, $2 a site or NULL, $3 a task id or NULL. With
 * the values known when PQexecParams plans the statement, the NULL tests fold
 * away and the ILIKEs use the trigram indexes. */
#define ARTICLE_MATCH                                                                              \
    " FROM articles a WHERE ($1::text IS NULL OR a.title ILIKE $1 OR a.summary ILIKE $1)"          \
    " AND ($2::text IS NULL OR a.site = $2) AND ($3::uuid IS NULL OR a.task_id = $3::uuid)"

static const char *
or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* "%text%" for ILIKE with text taken literally: its \ % and _ escaped with
 * LIKE's default escape character. NULL when b ran out of memory. */
static const char *
contains_pattern(struct buf *b, const char *text)
{
    buf_put(b, "%");
    for (const char *s = text; *s != '\0'; s++) {
        if (*s == '\\' || *s == '%' || *s == '_')
            buf_put(b, "\\");
        buf_putn(b, s, 1);
    }
    buf_put(b, "%");
    return b->oom ? NULL : b->data;
}

cJSON *
store_articles_list(PGconn *db, const struct store_article_query *q, int *rc)
{
    /* The page and the total in one statement: the total counts every match,
     * so a client can page on without asking again. */
    static const char sql[] =
        "SELECT json_build_object('articles', coalesce((SELECT json_agg(j ORDER BY sort_at DESC,"
        " id DESC) FROM (SELECT json_build_object(" ARTICLE_FIELDS
        ") AS j, a.sort_at, a.id" ARTICLE_MATCH
        " ORDER BY a.sort_at DESC, a.id DESC LIMIT $4::int OFFSET $5::int) x),"
        " '[]'::json), 'total', (SELECT count(*)" ARTICLE_MATCH "))::text";
    struct buf pattern = {0};
    char limit[16], offset[16];
    const char *params[5] = {NULL, or_null(q->site), or_null(q->task_id), limit, offset};
    cJSON *v = NULL;

    *rc = STORE_ERR;
    if (or_null(q->q) != NULL && (params[0] = contains_pattern(&pattern, q->q)) == NULL)
        goto out;
    snprintf(limit, sizeof limit, "%d", q->limit);
    snprintf(offset, sizeof offset, "%d", q->offset);
    v = store_query_json(db, "listing articles", sql, 5, params, rc);
out:
    buf_fini(&pattern);
    return v;
}

cJSON *
store_article_get(PGconn *db, const char *id, int *rc)
{
    static const char sql[] =
        "SELECT json_build_object(" ARTICLE_FIELDS ", 'fetched_at', to_char(a.fetched_at" UTC
        ", 'body', a.body)::text FROM articles a WHERE a.id = $1::bigint";
    const char *params[] = {id};

    return store_query_json(db, "reading an article", sql, 1, params, rc);
}

cJSON *
store_article_sites(PGconn *db, int limit, int *rc)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('site', site, 'count', n) ORDER BY site),"
        " '[]')::text FROM (SELECT site, count(*) AS n FROM articles GROUP BY site ORDER BY site"
        " LIMIT $1::int) s";
    char l[16];
    const char *params[] = {l};

    snprintf(l, sizeof l, "%d", limit);
    return store_query_json(db, "listing article sites", sql, 1, params, rc);
}

/* ----- saved sites ----- */

/* The counts in the last scrape's result: r, the result when it is an object. */
#define LAST_COUNTS                                                                                \
    " 'new', r->'new', 'updated', r->'updated', 'unchanged', r->'unchanged', 'failed',"            \
    " r->'failed', 'not_modified', r->'not_modified', 'fetched', r->'fetched', 'articles',"        \
    " r->'articles'"

int
store_site_name(PGconn *db, const char *url, char *name, size_t namelen)
{
    const char *params[] = {url};
    PGresult *res;
    int rc;

    res = store_exec(db, "naming a site", "SELECT 'site-' || left(md5($1), 16)", 1, params,
                     PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        return rc;
    if (PQntuples(res) != 1 || (size_t)PQgetlength(res, 0, 0) >= namelen)
        rc = STORE_ERR;
    else
        snprintf(name, namelen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

cJSON *
store_sites_list(PGconn *db, const char *name, int *rc)
{
    /* The last scrape's task may be gone (retention): its fields are null then. */
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object('id', p.name, 'url', p.kwargs->>'url',"
        " 'max_pages', p.kwargs->'max_pages', 'follow', p.kwargs->'follow', 'cron', p.cron,"
        " 'enabled', p.enabled, 'next_run_at', to_char(p.next_run_at" UTC ", 'last_run_at',"
        " to_char(p.last_run_at" UTC ", 'total_runs', p.total_runs, 'created_at',"
        " to_char(p.created_at" UTC ", 'last_task', CASE WHEN p.last_task_id IS NOT NULL THEN"
        " json_build_object('id', p.last_task_id, 'state', t.state, 'finished_at',"
        " to_char(t.finished_at" UTC "," LAST_COUNTS ") END)"
        " ORDER BY p.kwargs->>'url', p.name), '[]')::text"
        " FROM periodic_tasks p LEFT JOIN tasks t ON t.id = p.last_task_id,"
        " LATERAL (SELECT CASE WHEN jsonb_typeof(t.result) = 'object' THEN t.result END AS r) x"
        " WHERE p.task = '" STORE_SITE_TASK "' AND ($1::text IS NULL OR p.name = $1)";
    const char *params[] = {name};

    return store_query_json(db, "listing sites", sql, 1, params, rc);
}

int
store_site_scraped(PGconn *db, const char *name, const char *task_id)
{
    const char *params[] = {name, task_id};
    PGresult *res;
    int rc;

    res = store_exec(db, "recording a site's scrape",
                     "UPDATE periodic_tasks SET last_task_id = $2::uuid, last_run_at = now()"
                     " WHERE name = $1 AND task = '" STORE_SITE_TASK "'",
                     2, params, PGRES_COMMAND_OK, &rc);
    if (res != NULL && strcmp(PQcmdTuples(res), "0") == 0)
        rc = STORE_NOT_FOUND;
    PQclear(res);
    return rc;
}
