/* cli/periodic.c - `celeriac periodic`: the rows of periodic_tasks, which
 * the scheduler of every worker master fires (client/scheduler.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "broker/celery.h"
#include "cli/cli.h"
#include "common/clock.h"
#include "common/cron.h"
#include "common/json.h"
#include "sql/store.h"

#define PERIODIC_NAME_MAX 200

/* The next time of expr after now as ISO 8601, or -1 with a message. */
static int
next_time(const struct config *cfg, const char *expr, char out[CLOCK_ISO_LEN])
{
    char err[256];
    struct cron c;
    int64_t next;

    if (cron_parse(expr, cfg->cron_seconds != 0, &c, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac periodic: --cron '%s': %s\n", expr, err);
        return -1;
    }
    if ((next = cron_next(&c, (int64_t)clock_wall())) < 0) {
        fprintf(stderr, "celeriac periodic: --cron '%s' never fires\n", expr);
        return -1;
    }
    clock_iso_at((double)next, out);
    return 0;
}

static int
periodic_add(const struct config *cfg, PGconn *db, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cron", required_argument, NULL, 'c'}, {"task", required_argument, NULL, 't'},
        {"args", required_argument, NULL, 'a'}, {"kwargs", required_argument, NULL, 'k'},
        {"queue", required_argument, NULL, 'q'}, {NULL, 0, NULL, 0},
    };
    const char *cron = NULL, *task = NULL, *queue = NULL, *args = "[]", *kwargs = "{}";
    char next[CLOCK_ISO_LEN], err[128];
    cJSON *v;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': cron = optarg; break;
        case 't': task = optarg; break;
        case 'a': args = optarg; break;
        case 'k': kwargs = optarg; break;
        case 'q': queue = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || cron == NULL || task == NULL) {
        fprintf(stderr, "celeriac periodic add: NAME, --cron EXPR and --task TASK expected\n");
        return 2;
    }
    if (strlen(argv[optind]) == 0 || strlen(argv[optind]) > PERIODIC_NAME_MAX ||
        !utf8_valid(argv[optind], strlen(argv[optind]))) {
        fprintf(stderr, "celeriac periodic add: NAME must be 1 to %d characters of UTF-8\n",
                PERIODIC_NAME_MAX);
        return 2;
    }
    if (!celery_name_valid(task) || (queue != NULL && !broker_queue_name_valid(queue))) {
        fprintf(stderr, "celeriac periodic add: invalid %s\n",
                celery_name_valid(task) ? "queue name" : "task name");
        return 2;
    }
    v = json_parse(args, strlen(args), err, sizeof err);
    if (!cJSON_IsArray(v)) {
        fprintf(stderr, "celeriac periodic add: --args must be a JSON array\n");
        cJSON_Delete(v);
        return 2;
    }
    cJSON_Delete(v);
    v = json_parse(kwargs, strlen(kwargs), err, sizeof err);
    if (!cJSON_IsObject(v)) {
        fprintf(stderr, "celeriac periodic add: --kwargs must be a JSON object\n");
        cJSON_Delete(v);
        return 2;
    }
    cJSON_Delete(v);
    if (next_time(cfg, cron, next) < 0)
        return 2;
    rc = store_periodic_put(db, argv[optind], task, cron, args, kwargs, queue, next);
    if (rc != STORE_OK) {
        fprintf(stderr, "celeriac periodic add: %s\n", store_error_message(db));
        return 1;
    }
    printf("%s: %s at '%s' (UTC), next run %s\n", argv[optind], task, cron, next);
    return 0;
}

static int
periodic_list(PGconn *db)
{
    int rc;
    cJSON *rows = store_periodic_list(db, NULL, &rc);
    char *text;

    if (rows == NULL) {
        fprintf(stderr, "celeriac periodic list: database error\n");
        return 1;
    }
    text = cJSON_Print(rows);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(rows);
    return 0;
}

int
cmd_periodic(const struct config *cfg, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    char next[CLOCK_ISO_LEN];
    PGconn *db;
    int rc;

    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && argc != 3) {
        fprintf(stderr, "usage: celeriac periodic add|list|remove|enable|disable [NAME]\n");
        return 2;
    }
    if ((db = open_db(cfg)) == NULL)
        return 1;
    if (strcmp(sub, "add") == 0) {
        rc = periodic_add(cfg, db, argc - 1, argv + 1);
    } else if (strcmp(sub, "list") == 0) {
        rc = periodic_list(db);
    } else if (strcmp(sub, "remove") == 0 || strcmp(sub, "enable") == 0 ||
               strcmp(sub, "disable") == 0) {
        int src;
        if (strcmp(sub, "remove") == 0) {
            src = store_periodic_remove(db, argv[2]);
        } else if (strcmp(sub, "disable") == 0) {
            src = store_periodic_enable(db, argv[2], false, NULL);
        } else {
            /* Enabling starts from the next time after now: no catching up. */
            cJSON *rows = store_periodic_list(db, argv[2], &src);
            const char *expr = json_str(cJSON_GetArrayItem(rows, 0), "cron");
            if (expr != NULL && next_time(cfg, expr, next) < 0) {
                cJSON_Delete(rows);
                store_close(db);
                return 1; /* next_time() said why */
            }
            src = rows == NULL ? src
                  : expr == NULL ? STORE_NOT_FOUND
                                 : store_periodic_enable(db, argv[2], true, next);
            cJSON_Delete(rows);
        }
        if (src == STORE_NOT_FOUND)
            fprintf(stderr, "celeriac periodic %s: no periodic task named '%s'\n", sub, argv[2]);
        else if (src != STORE_OK)
            fprintf(stderr, "celeriac periodic %s: %s\n", sub, store_error_message(db));
        else
            printf("%s: %s\n", argv[2],
                   strcmp(sub, "remove") == 0 ? "removed" : strcmp(sub, "enable") == 0
                                                                ? "enabled"
                                                                : "disabled");
        rc = src == STORE_OK ? 0 : 1;
    } else {
        fprintf(stderr, "celeriac periodic: unknown subcommand '%s'\n", sub);
        rc = 2;
    }
    store_close(db);
    return rc;
}
