/* webapp/routes.c - the route table (method + path pattern -> handler) and its
 * matcher. Adding a page or an endpoint is adding a row here. */
#include "webapp/webapp.h"

#include <stdio.h>
#include <string.h>

const struct route routes[] = {
    /* method  pattern                 handler           body       json   public */
    {"GET", "/", page_home, BODY_NONE, false, false},
    /* The dashboard's form: typed fields of any name, so BODY_RAW (dashboard.c parses it). */
    {"POST", "/", page_home_post, BODY_RAW, false, false},
    {"GET", "/tasks", page_task_list, BODY_NONE, false, false},
    {"POST", "/tasks", page_task_create, BODY_FORM, false, false},
    {"GET", "/tasks/{id}", page_task_detail, BODY_NONE, false, false},
    /* The task page's buttons (no fields: BODY_RAW for the Origin check). */
    {"POST", "/tasks/{id}/revoke", page_task_revoke, BODY_RAW, false, false},
    {"POST", "/tasks/{id}/retry", page_task_retry, BODY_RAW, false, false},
    {"GET", "/workers", page_workers, BODY_NONE, false, false},
    {"GET", "/static/style.css", page_style, BODY_NONE, false, false},
    {"GET", "/static/live.js", page_live_js, BODY_NONE, false, false},
    {"GET", "/articles", page_article_list, BODY_NONE, false, false},
    {"GET", "/articles/{id}", page_article_detail, BODY_NONE, false, false},
    {"POST", "/scrape", page_scrape_create, BODY_FORM, false, false},
    {"GET", "/sites", page_site_list, BODY_NONE, false, false},
    {"GET", "/convert", page_convert, BODY_NONE, false, false},
    /* Upload and convert in one request: the file streams to a temporary file. */
    {"POST", "/convert", page_convert_create, BODY_UPLOAD, false, false},
    {"GET", "/files/{id}", api_file_download, BODY_NONE, false, false}, /* errors as pages */
    {"GET", "/files/{id}/about", page_file, BODY_NONE, false, false},
    /* The buttons post no fields: BODY_RAW (ignored) still gets the Origin check. */
    {"POST", "/sites/{id}/scrape", page_site_scrape, BODY_RAW, false, false},
    {"POST", "/sites/{id}/pause", page_site_pause, BODY_RAW, false, false},
    {"POST", "/sites/{id}/resume", page_site_resume, BODY_RAW, false, false},
    {"POST", "/sites/{id}/delete", page_site_delete, BODY_RAW, false, false},
    {"GET", "/healthz", api_healthz, BODY_NONE, true, true},
    /* Not public: with CELERIAC_AUTH set, Prometheus scrapes with basic_auth. */
    {"GET", "/metrics", api_metrics, BODY_NONE, true, false},
    {"GET", "/api/stats", api_stats, BODY_NONE, true, false},
    {"GET", "/api/tasks", api_task_list, BODY_NONE, true, false},
    {"POST", "/api/tasks", api_task_create, BODY_RAW, true, false},
    {"GET", "/api/tasks/{id}", api_task_get, BODY_NONE, true, false},
    {"GET", "/api/tasks/{id}/logs", api_task_logs, BODY_NONE, true, false},
    {"POST", "/api/tasks/{id}/revoke", api_task_revoke, BODY_RAW, true, false},
    {"POST", "/api/tasks/{id}/retry", api_task_retry, BODY_RAW, true, false},
    {"GET", "/api/workers", api_worker_list, BODY_NONE, true, false},
    /* Server-Sent Events: task states, log lines, chat messages (events.c). */
    {"GET", "/api/events", api_events, BODY_NONE, true, false},
    {"GET", "/api/articles", api_article_list, BODY_NONE, true, false},
    {"GET", "/api/articles/sites", api_article_sites, BODY_NONE, true, false}, /* before {id} */
    {"GET", "/api/articles/{id}", api_article_get, BODY_NONE, true, false},
    {"GET", "/api/sites", api_site_list, BODY_NONE, true, false},
    {"POST", "/api/sites", api_site_create, BODY_RAW, true, false},
    {"GET", "/api/sites/{id}", api_site_get, BODY_NONE, true, false},
    {"DELETE", "/api/sites/{id}", api_site_delete, BODY_RAW, true, false}, /* Origin-checked */
    {"POST", "/api/sites/{id}/scrape", api_site_scrape, BODY_RAW, true, false},
    {"POST", "/api/sites/{id}/pause", api_site_pause, BODY_RAW, true, false},
    {"POST", "/api/sites/{id}/resume", api_site_resume, BODY_RAW, true, false},
    {"GET", "/api/files", api_file_list, BODY_NONE, true, false},
    {"POST", "/api/files", api_file_upload, BODY_UPLOAD, true, false},
    {"GET", "/api/files/{id}", api_file_download, BODY_NONE, true, false},
    {"GET", "/api/files/{id}/meta", api_file_meta, BODY_NONE, true, false},
    {"GET", "/api/convert", api_convert_offers, BODY_NONE, true, false},
    {"POST", "/api/convert", api_convert_create, BODY_RAW, true, false},
    /* Chat: the room's form posts urlencoded fields that struct form does
     * not hold, so chat.c reads them from BODY_RAW. */
    {"GET", "/chat", page_chat_rooms, BODY_NONE, false, false},
    {"GET", "/chat/{id}", page_chat_room, BODY_NONE, false, false},
    {"POST", "/chat/{id}", page_chat_post, BODY_RAW, false, false},
    {"GET", "/static/chat.js", page_chat_js, BODY_NONE, false, false},
    {"GET", "/static/chat.css", page_chat_css, BODY_NONE, false, false},
    {"GET", "/api/chat", api_chat_rooms, BODY_NONE, true, false},
    {"GET", "/api/chat/rooms", api_chat_rooms, BODY_NONE, true, false},
    {"GET", "/api/chat/{id}/messages", api_chat_messages, BODY_NONE, true, false},
    {"POST", "/api/chat/{id}/messages", api_chat_post, BODY_RAW, true, false},
    /* Queues: counts, pauses, dead letters (queues.c). A queue's name may be
     * longer than {id} keeps: those handlers read it from the path. */
    {"GET", "/queues", page_queues, BODY_NONE, false, false},
    {"GET", "/queues/celeriac.dead", page_dead_letters, BODY_NONE, false, false},
    {"POST", "/queues/{id}/pause", page_queue_pause, BODY_RAW, false, false},
    {"POST", "/queues/{id}/resume", page_queue_resume, BODY_RAW, false, false},
    {"POST", "/queues/celeriac.dead/messages/{id}/requeue", page_dead_requeue, BODY_RAW, false,
     false},
    {"POST", "/queues/celeriac.dead/messages/{id}/drop", page_dead_drop, BODY_RAW, false, false},
    {"GET", "/api/queues", api_queues, BODY_NONE, true, false},
    {"POST", "/api/queues/{id}/pause", api_queue_pause, BODY_RAW, true, false},
    {"POST", "/api/queues/{id}/resume", api_queue_resume, BODY_RAW, true, false},
    {"GET", "/api/queues/celeriac.dead/messages", api_dead_letters, BODY_NONE, true, false},
    {"POST", "/api/queues/celeriac.dead/messages/{id}/requeue", api_dead_requeue, BODY_RAW, true,
     false},
    {"POST", "/api/queues/celeriac.dead/messages/{id}/drop", api_dead_drop, BODY_RAW, true, false},
    {NULL, NULL, NULL, BODY_NONE, false, false},
};

bool
route_path_is_api(const char *path)
{
    return strncmp(path, "/api", 4) == 0 && (path[4] == '\0' || path[4] == '/');
}

/* Match path[0..len) against pattern; copy the {id} segment into id. */
static bool
pattern_match(const char *pattern, const char *path, size_t len, char *id, size_t idlen)
{
    const char *p = pattern, *s = path, *end = path + len;

    while (*p != '\0') {
        if (strncmp(p, "{id}", 4) == 0) {
            const char *seg = s;
            size_t n;

            while (s < end && *s != '/')
                s++;
            n = (size_t)(s - seg);
            if (n == 0)
                return false;
            /* An over-long segment cannot be a task id: keep "" so the handler
             * answers "invalid id" rather than looking up a truncated one. */
            if (n < idlen) {
                memcpy(id, seg, n);
                id[n] = '\0';
            } else {
                id[0] = '\0';
            }
            p += 4;
            continue;
        }
        if (s >= end || *p != *s)
            return false;
        p++;
        s++;
    }
    return s == end;
}

static bool
method_is(const struct route *rt, const char *method)
{
    if (strcmp(rt->method, method) == 0)
        return true;
    /* MHD sends HEAD through the handler and drops the body itself. */
    return strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0;
}

enum route_result
route_match(const char *method, const char *path, struct route_match *m)
{
    size_t len = strlen(path);
    bool path_found = false;
    char id[WEBAPP_ID_MAX];

    memset(m, 0, sizeof *m);
    m->json = route_path_is_api(path);
    /* "/tasks/" is "/tasks": browsers and people both add the slash. */
    if (len > 1 && path[len - 1] == '/')
        len--;
    for (const struct route *rt = routes; rt->method != NULL; rt++) {
        id[0] = '\0';
        if (!pattern_match(rt->pattern, path, len, id, sizeof id))
            continue;
        m->json = rt->json;
        if (method_is(rt, method)) {
            m->route = rt;
            snprintf(m->id, sizeof m->id, "%s", id);
            return ROUTE_FOUND;
        }
        /* Collect every method this path answers, for the 405's Allow header. */
        if (strstr(m->allow, rt->method) == NULL) {
            size_t n = strlen(m->allow);
            snprintf(m->allow + n, sizeof m->allow - n, "%s%s%s", n > 0 ? ", " : "", rt->method,
                     strcmp(rt->method, "GET") == 0 ? ", HEAD" : "");
        }
        path_found = true;
    }
    return path_found ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}
