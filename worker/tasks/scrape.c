/* worker/tasks/scrape.c - scrape.site(url, max_pages=20, follow=true): the
 * scraper library (scraper/) fetches and extracts; this stores what it
 * returns. Every article goes into `articles` in ONE statement through the
 * task's context, so the articles commit with the task's result or not at
 * all: a worker killed mid-scrape stores nothing, and the redelivered task
 * upserts each article once (keyed by canonical URL). The fetching happens
 * before that statement, with no transaction open. */
#include "worker/tasks/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scraper/scraper.h"

#define DEFAULT_MAX_PAGES 20

/* The validators stored for a page, for a conditional request. */
static void
validators(void *arg, const char *url, char **etag, char **last_modified)
{
    struct task_ctx *t = arg;
    const char *params[] = {url};
    PGresult *res = task_read(t,
                              "SELECT etag, last_modified FROM articles"
                              " WHERE source_url = $1 OR url = $1"
                              " ORDER BY (source_url = $1) DESC LIMIT 1",
                              1, params);

    if (res != NULL && PQntuples(res) == 1) {
        if (!PQgetisnull(res, 0, 0))
            *etag = strdup(PQgetvalue(res, 0, 0));
        if (!PQgetisnull(res, 0, 1))
            *last_modified = strdup(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
}

static void
log_line(void *arg, const char *line)
{
    task_log(arg, "%s", line);
}

/* Upsert: an article whose extracted content changed is updated (and
 * credited to this task), one that did not keeps its row; a URL found twice
 * in one scrape counts once (the last copy wins). Answers new, updated and
 * the distinct count. */
static const char upsert_sql[] =
    "WITH input AS ("
    "  SELECT DISTINCT ON (x.url) x.*,"
    /* Typed and positional (a value moving between fields is a change), the
     * time in UTC (the session's TimeZone must not matter). */
    "         md5(jsonb_build_array(x.title, x.author, x.published_at AT TIME ZONE 'UTC',"
    "                               x.summary, x.text)::text) AS content_hash"
    "  FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (url text, source_url text, site text,"
    "         title text, author text, published_at timestamptz, summary text, text text,"
    "         etag text, last_modified text)) WITH ORDINALITY AS x"
    "  ORDER BY x.url, x.ordinality DESC"
    "), up AS ("
    "  INSERT INTO articles AS a (url, source_url, site, title, author, published_at, summary,"
    "                             body, content_hash, etag, last_modified, task_id)"
    "  SELECT url, source_url, site, title, author, published_at, summary, text, content_hash,"
    "         etag, last_modified, $2::uuid FROM input"
    "  ON CONFLICT (url) DO UPDATE SET source_url = EXCLUDED.source_url, site = EXCLUDED.site,"
    "         title = EXCLUDED.title, author = EXCLUDED.author,"
    "         published_at = EXCLUDED.published_at, summary = EXCLUDED.summary,"
    "         body = EXCLUDED.body, content_hash = EXCLUDED.content_hash,"
    "         etag = COALESCE(EXCLUDED.etag, a.etag),"
    "         last_modified = COALESCE(EXCLUDED.last_modified, a.last_modified),"
    "         task_id = EXCLUDED.task_id, updated_at = now(), fetched_at = now()"
    "  WHERE a.content_hash IS DISTINCT FROM EXCLUDED.content_hash"
    "  RETURNING (a.xmax = 0) AS inserted"
    "), seen AS ("
    /* Unchanged rows keep their content; their validators and fetch time move on. */
    "  UPDATE articles a SET etag = COALESCE(i.etag, a.etag),"
    "         last_modified = COALESCE(i.last_modified, a.last_modified), fetched_at = now()"
    "  FROM input i WHERE a.url = i.url AND a.content_hash = i.content_hash"
    ")"
    " SELECT (SELECT count(*) FROM up WHERE inserted), (SELECT count(*) FROM up WHERE NOT inserted),"
    "        (SELECT count(*) FROM input)";

static long
number(PGresult *res, int col)
{
    return strtol(PQgetvalue(res, 0, col), NULL, 10);
}

int
task_scrape_site(struct task_ctx *t)
{
    static const char *const params[] = {"url", "max_pages", "follow"};
    struct scraper_hooks hooks = {.arg = t, .validators = validators, .log = log_line};
    struct scraper_report report;
    struct scraper_opts opts;
    struct scraper *s;
    const cJSON *url, *follow;
    const char *sqlp[2];
    char err[SCRAPER_ERROR_MAX], *json;
    double max_pages = DEFAULT_MAX_PAGES;
    long added, updated, distinct;
    PGresult *res;
    int rc;

    if (task_bind_args(t, params, 3) != TASK_OK)
        return TASK_FAILED;
    url = task_arg(t, 0, "url");
    follow = task_arg(t, 2, "follow");
    if (!cJSON_IsString(url))
        return task_fail(t, "TypeError", "scrape.site(): url must be a string");
    if (task_arg(t, 1, "max_pages") != NULL &&
        task_arg_number(t, 1, "max_pages", &max_pages) != TASK_OK)
        return TASK_FAILED;
    if (!(max_pages >= 0 && max_pages <= SCRAPER_MAX_PAGES))
        return task_fail(t, "ValueError", "scrape.site(): max_pages must be from 0 to %d",
                         SCRAPER_MAX_PAGES);
    if (follow != NULL && !cJSON_IsBool(follow) && !cJSON_IsNull(follow))
        return task_fail(t, "TypeError", "scrape.site(): follow must be true or false");
    if (scraper_opts_from_env(&opts, err, sizeof err) < 0)
        return task_fail(t, "ConfigError", "%s", err);
    opts.cancel = t->cancel;
    if ((s = scraper_new(&opts)) == NULL)
        return task_fail(t, "MemoryError", "scrape.site(): cannot start libcurl");

    rc = scraper_scrape(s, url->valuestring, (int)max_pages, !cJSON_IsFalse(follow), &hooks,
                        &report, err, sizeof err);
    scraper_free(s);
    if (report.cancelled) {
        scraper_report_fini(&report);
        return task_fail(t, "Cancelled", "scrape.site(): stopped before the end: nothing stored");
    }
    if (rc < 0) {
        scraper_report_fini(&report);
        return task_fail(t, "ScrapeError", "%s", err);
    }

    added = updated = distinct = 0;
    if (report.n > 0) {
        if ((json = scraper_articles_json(report.articles, report.n)) == NULL) {
            scraper_report_fini(&report);
            return task_fail(t, "MemoryError", "scrape.site(): out of memory");
        }
        sqlp[0] = json;
        sqlp[1] = t->msg->id;
        res = task_sql(t, upsert_sql, 2, sqlp);
        free(json);
        if (res == NULL) {
            scraper_report_fini(&report);
            return TASK_FAILED;
        }
        added = number(res, 0);
        updated = number(res, 1);
        distinct = number(res, 2);
        PQclear(res);
    }
    task_log(t,
             "%ld articles: %ld new, %ld updated, %ld unchanged; %d pages not modified, %d "
             "failed, %d disallowed by robots.txt; %d requests",
             distinct, added, updated, distinct - added - updated, report.not_modified,
             report.failed, report.skipped, report.fetched);
    t->result = cJSON_CreateObject();
    cJSON_AddStringToObject(t->result, "url", url->valuestring);
    cJSON_AddNumberToObject(t->result, "articles", (double)distinct);
    cJSON_AddNumberToObject(t->result, "new", (double)added);
    cJSON_AddNumberToObject(t->result, "updated", (double)updated);
    cJSON_AddNumberToObject(t->result, "unchanged",
                            (double)(distinct - added - updated + report.not_modified));
    cJSON_AddNumberToObject(t->result, "not_modified", report.not_modified);
    cJSON_AddNumberToObject(t->result, "failed", report.failed);
    cJSON_AddNumberToObject(t->result, "skipped", report.skipped);
    cJSON_AddNumberToObject(t->result, "fetched", report.fetched);
    scraper_report_fini(&report);
    return TASK_OK;
}
