/* cli/main.c - bin/celeriac: operator commands (migrate, enqueue, status).
 * A folder DESIGN.md's layout does not list: the CLI is small and links only
 * the core (common/, broker/, sql/). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "client/producer.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"

#define CONFIRM_TIMEOUT_MS 10000

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: celeriac COMMAND [options]\n\n"
            "  migrate                          apply pending database migrations\n"
            "  enqueue NAME [--args JSON] [--kwargs JSON] [--queue Q] [--wait SECONDS]\n"
            "               [--countdown S | --eta ISO] [--expires S|ISO] [--max-retries N]\n"
            "               [--time-limit S] [--soft-time-limit S]\n"
            "                                   send a task; print its id, or with --wait its\n"
            "                                   final state and result as JSON\n"
            "  status ID                        print a task's row as JSON\n"
            "  revoke ID [--terminate]          a queued task never runs, it ends REVOKED; a\n"
            "                                   running one is asked to stop, and with\n"
            "                                   --terminate killed if it still runs 2 s later\n"
            "  periodic add NAME --cron EXPR --task TASK [--args JSON] [--kwargs JSON] [--queue Q]\n"
            "  periodic list | remove NAME | enable NAME | disable NAME\n"
            "                                   cron-scheduled tasks (5 fields, UTC), run once\n"
            "                                   per due time across all worker masters\n"
            "  scrape URL [--max-pages N] [--no-follow] [--quiet]\n"
            "                                   run scrape.site's extraction here, print the\n"
            "                                   articles as JSON (fetches on stderr); no database\n"
            "  convert IN OUT [--to FMT] [--width N] [--height N] [--quality N] [--delimiter C]\n"
            "                                   run convert.file's conversion here: IN to the\n"
            "                                   format OUT's extension (or FMT) names; no database\n\n"
            "Environment: AMQP_URL, DATABASE_URL (defaults: the local stack of `make run`),\n"
            "CELERIAC_QUEUE_TYPE (classic or quorum, as the workers declare the queues).\n");
}

PGconn *
open_db(const struct config *cfg)
{
    char err[512];
    PGconn *db = store_open(cfg->database_url, "celeriac-cli", err, sizeof err);

    if (db == NULL)
        fprintf(stderr, "celeriac: %s\n", err);
    return db;
}

static int
cmd_migrate(const struct config *cfg)
{
    char err[1024];
    PGconn *db = open_db(cfg);
    int n;

    if (db == NULL)
        return 1;
    n = migrate_run(db, err, sizeof err);
    store_close(db);
    if (n < 0) {
        fprintf(stderr, "celeriac migrate: %s\n", err);
        return 1;
    }
    printf("schema at version %d (%d migration%s applied)\n", migrate_latest(), n,
           n == 1 ? "" : "s");
    return 0;
}

static cJSON *
parse_json_flag(const char *flag, const char *text)
{
    char err[128];
    cJSON *v = json_parse(text, strlen(text), err, sizeof err);

    if (v == NULL)
        fprintf(stderr, "celeriac enqueue: %s: %s\n", flag, err);
    return v;
}

/* A copy of row[key], or JSON null when the row or the field is missing. */
static cJSON *
field_or_null(const cJSON *row, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);

    return v != NULL ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

/* Poll the row until it is final or the time is up. Exit status: 0 SUCCESS,
 * 1 FAILURE or REVOKED, 3 still running when the wait ended. */
static int
wait_and_print(PGconn *db, const char *id, double seconds)
{
    double deadline = clock_mono() + seconds;
    int rc = 3;

    for (;;) {
        int src;
        cJSON *row = store_task_get(db, id, &src);
        const char *state = json_str(row, "state");
        bool final = store_state_final(state);

        if (final || clock_mono() >= deadline) {
            cJSON *out = cJSON_CreateObject();
            char *text;

            cJSON_AddStringToObject(out, "id", id);
            cJSON_AddStringToObject(out, "state", state ? state : "UNKNOWN");
            cJSON_AddItemToObject(out, "result", field_or_null(row, "result"));
            cJSON_AddItemToObject(out, "error", field_or_null(row, "error"));
            text = json_print(out);
            printf("%s\n", text);
            cJSON_free(text);
            cJSON_Delete(out);
            if (final)
                rc = strcmp(state, "SUCCESS") == 0 ? 0 : 1;
            cJSON_Delete(row);
            return rc;
        }
        cJSON_Delete(row);
        clock_sleep(0.05, NULL);
    }
}

/* A non-negative number of seconds: 0, or -1 with a message. */
static int
seconds_flag(const char *flag, const char *text, double *out)
{
    char *end;

    *out = strtod(text, &end);
    if (end == text || *end != '\0' || !(*out >= 0)) {
        fprintf(stderr, "celeriac: %s wants seconds >= 0, not '%s'\n", flag, text);
        return -1;
    }
    return 0;
}

static int
cmd_enqueue(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"args", required_argument, NULL, 'a'}, {"kwargs", required_argument, NULL, 'k'},
        {"queue", required_argument, NULL, 'q'}, {"wait", required_argument, NULL, 'w'},
        {"countdown", required_argument, NULL, 'c'}, {"eta", required_argument, NULL, 'e'},
        {"expires", required_argument, NULL, 'x'}, {"max-retries", required_argument, NULL, 'r'},
        {"time-limit", required_argument, NULL, 't'},
        {"soft-time-limit", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct enqueue_req req = {0};
    cJSON *args = NULL, *kwargs = NULL;
    struct producer *p = NULL;
    PGconn *db = NULL;
    char err[512], id[UUID_STR_LEN];
    double wait = -1;
    bool unconfirmed;
    int opt, rc = 1;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'a':
            cJSON_Delete(args);
            if ((args = parse_json_flag("--args", optarg)) == NULL)
                goto out;
            break;
        case 'k':
            cJSON_Delete(kwargs);
            if ((kwargs = parse_json_flag("--kwargs", optarg)) == NULL)
                goto out;
            break;
        case 'q':
            req.queue = optarg;
            break;
        case 'w':
            if (seconds_flag("--wait", optarg, &wait) < 0)
                goto out;
            break;
        case 'c':
            if (seconds_flag("--countdown", optarg, &req.countdown) < 0)
                goto out;
            break;
        case 'e':
            req.eta = optarg;
            break;
        case 'x': /* seconds from now, or an ISO 8601 time */
            if (strchr(optarg, '-') == NULL && strchr(optarg, 'T') == NULL) {
                if (seconds_flag("--expires", optarg, &req.expires_in) < 0)
                    goto out;
            } else {
                req.expires = optarg;
            }
            break;
        case 'r':
            if (cfg_parse_int(optarg, 0, 1000, &req.max_retries) < 0) {
                fprintf(stderr, "celeriac enqueue: --max-retries wants 0..1000\n");
                goto out;
            }
            req.has_max_retries = true;
            break;
        case 't':
            if (seconds_flag("--time-limit", optarg, &req.time_limit) < 0)
                goto out;
            break;
        case 's':
            if (seconds_flag("--soft-time-limit", optarg, &req.soft_time_limit) < 0)
                goto out;
            break;
        default:
            rc = 2;
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "celeriac enqueue: exactly one task NAME expected\n");
        rc = 2;
        goto out;
    }
    req.name = argv[optind];
    req.args = args;
    req.kwargs = kwargs;
    req.origin = "celeriac-cli";
    if (enqueue_validate(&req, err, sizeof err) != ENQUEUE_OK) {
        fprintf(stderr, "celeriac enqueue: %s\n", err);
        rc = 2;
        goto out;
    }
    p = producer_new(cfg->amqp_url, cfg->database_url, "celeriac-cli", CONFIRM_TIMEOUT_MS);
    if (p == NULL || producer_enqueue(p, &req, id, &unconfirmed, err, sizeof err) != ENQUEUE_OK) {
        fprintf(stderr, "celeriac enqueue: %s\n", p == NULL ? "out of memory" : err);
        goto out;
    }
    if (unconfirmed)
        fprintf(stderr, "celeriac enqueue: %s: stored, but RabbitMQ never confirmed the message; "
                        "it will be published again if it was lost\n", id);
    if (wait < 0) {
        printf("%s\n", id);
        rc = 0;
    } else if ((db = open_db(cfg)) != NULL) {
        rc = wait_and_print(db, id, wait);
    }
out:
    producer_free(p);
    store_close(db);
    cJSON_Delete(args);
    cJSON_Delete(kwargs);
    return rc;
}

static int
cmd_status(const struct config *cfg, int argc, char **argv)
{
    PGconn *db;
    cJSON *row;
    char *text;
    int rc;

    if (argc != 2 || !uuid_is_valid(argv[1])) {
        fprintf(stderr, "celeriac status: one task id (a UUID) expected\n");
        return 2;
    }
    if ((db = open_db(cfg)) == NULL)
        return 1;
    row = store_task_get(db, argv[1], &rc);
    store_close(db);
    if (row == NULL) {
        fprintf(stderr, "celeriac status: %s\n",
                rc == STORE_NOT_FOUND ? "no such task" : "database error");
        return 1;
    }
    text = cJSON_Print(row);
    printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(row);
    return 0;
}

static int
cmd_revoke(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"terminate", no_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    bool terminate = false;
    char before[32];
    PGconn *db;
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 't')
            return 2;
        terminate = true;
    }
    if (optind != argc - 1 || !uuid_is_valid(argv[optind])) {
        fprintf(stderr, "celeriac revoke: one task id (a UUID) expected\n");
        return 2;
    }
    if ((db = open_db(cfg)) == NULL)
        return 1;
    rc = store_revoke(db, argv[optind], terminate, before, sizeof before);
    store_close(db);
    if (rc != STORE_OK) {
        fprintf(stderr, "celeriac revoke: database error\n");
        return 1;
    }
    if (store_state_final(before) && strcmp(before, "REVOKED") != 0)
        printf("%s: already %s, left as it is\n", argv[optind], before);
    else
        printf("%s: REVOKED%s\n", argv[optind],
               terminate && strcmp(before, "STARTED") == 0 ? " (terminating its run)" : "");
    return 0;
}

int
main(int argc, char **argv)
{
    struct config cfg;
    char err[256];

    log_init("cli");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (cfg_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac: %s\n", err);
        return 2;
    }
    broker_set_queue_type(cfg.queue_type); /* checked by cfg_load_env() */
    if (strcmp(argv[1], "migrate") == 0)
        return cmd_migrate(&cfg);
    if (strcmp(argv[1], "enqueue") == 0)
        return cmd_enqueue(&cfg, argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(&cfg, argc - 1, argv + 1);
    if (strcmp(argv[1], "revoke") == 0)
        return cmd_revoke(&cfg, argc - 1, argv + 1);
    if (strcmp(argv[1], "periodic") == 0)
        return cmd_periodic(&cfg, argc - 1, argv + 1);
    if (strcmp(argv[1], "scrape") == 0)
        return cmd_scrape(&cfg, argc - 1, argv + 1);
    if (strcmp(argv[1], "convert") == 0)
        return cmd_convert(&cfg, argc - 1, argv + 1);
    fprintf(stderr, "celeriac: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
