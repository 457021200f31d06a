/* webapp/main.c - bin/celeriac-webapp: flags, the start-up checks, signals.
 * The database schema must be current (else exit 1: run `celeriac migrate`);
 * a database or broker that is merely down does not stop the start: /healthz
 * says 503 and both are connected lazily. SIGTERM/SIGINT stop the daemon,
 * close every connection and exit 0. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/config.h"
#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"
#include "webapp/webapp.h"

#define DB_POOL_SIZE 8          /* concurrent queries; further requests wait for one */
#define CONFIRM_TIMEOUT_MS 5000 /* longest wait for RabbitMQ's publisher confirm */

static void
usage(FILE *out)
{
    fprintf(out, "usage: celeriac-webapp [--listen HOST:PORT] [--amqp-url URL] "
                 "[--database-url URL]\n"
                 "Environment: WEBAPP_LISTEN (default " CFG_DEFAULT_LISTEN "), AMQP_URL, "
                 "DATABASE_URL, CELERIAC_AUTH=user:password, LOG_LEVEL, WEBAPP_THREADS, "
                 "WEBAPP_IO_THREADS, WEBAPP_MAX_STREAMS, WEBAPP_SSE_HEARTBEAT, "
                 "WEBAPP_UPLOAD_MAX, CELERIAC_QUEUE_TYPE (docs/operations.md).\n");
}

/* Every event stream holds a socket: with 1,000 of them the default soft
 * limit of 1,024 descriptors is too few. Raise it to the hard limit. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("cannot raise the open files limit to %llu: %s", (unsigned long long)rl.rlim_max,
                 strerror(errno));
}

/* Exit 1 on an old schema; only warn when the database cannot be reached. */
static int
check_schema(const char *database_url)
{
    char err[512];
    PGconn *db = store_open(database_url, "celeriac-webapp", err, sizeof err);
    int rc = 0;

    if (db == NULL) {
        log_warn("%s; starting anyway (/healthz answers 503 until it is reachable)", err);
        return 0;
    }
    if (migrate_check(db, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac-webapp: %s\n", err);
        rc = -1;
    }
    store_close(db);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"amqp-url", required_argument, NULL, 'a'},
        {"database-url", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg;
    struct app app = {0};
    struct server *srv = NULL;
    sigset_t stop;
    char err[512], host[256] = "localhost";
    int opt, sig, rc = 1;

    log_init("webapp");
    if (cfg_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac-webapp: %s\n", err);
        return 2;
    }
    broker_set_queue_type(cfg.queue_type); /* checked by cfg_load_env() */
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            cfg.listen = optarg;
            break;
        case 'a':
            cfg.amqp_url = optarg;
            break;
        case 'd':
            cfg.database_url = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "celeriac-webapp: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cfg.auth != NULL && strchr(cfg.auth, ':') == NULL) {
        fprintf(stderr, "celeriac-webapp: CELERIAC_AUTH must be user:password\n");
        return 2;
    }

    /* Block the stop signals before any thread exists, so every thread MHD
     * starts inherits the mask and only sigwait() below receives them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    /* Started in the background (nohup, a non-interactive shell's '&'), SIGINT
     * arrives ignored, and an ignored signal is dropped before sigwait() sees
     * it: stop on it all the same, as the worker does. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not a death */
    /* One malloc arena for every thread: with one per thread (glibc's
     * default, up to 8 per CPU) the webapp's RSS crept up by megabytes over
     * 200,000 requests as each arena kept its own free memory; the threads
     * mostly wait (on sockets, PostgreSQL, RabbitMQ), so there is no
     * contention to speak of (no difference in requests/s measured). */
    mallopt(M_ARENA_MAX, 1);
    raise_fd_limit();

    if (check_schema(cfg.database_url) < 0)
        return 1;
    gethostname(host, sizeof host - 1);
    snprintf(app.origin, sizeof app.origin, "celeriac-webapp@%.100s", host);
    app.cfg = &cfg;
    app.db = dbpool_new(cfg.database_url, DB_POOL_SIZE);
    app.producer = producer_new(cfg.amqp_url, cfg.database_url, "celeriac-webapp",
                                CONFIRM_TIMEOUT_MS);
    if (app.db == NULL || app.producer == NULL) {
        fprintf(stderr, "celeriac-webapp: out of memory\n");
        goto out;
    }
    /* Connect to RabbitMQ now so the first enqueue does not pay for it; a
     * failure is only logged (producer_check_broker did) and retried on demand. */
    producer_check_broker(app.producer, err, sizeof err);
    /* The live updates' listener connects in the background (PostgreSQL may
     * be down: it retries); the hub must exist before the server. */
    app.events = events_start(&app, err, sizeof err);
    if (app.events == NULL) {
        fprintf(stderr, "celeriac-webapp: %s\n", err);
        goto out;
    }

    srv = server_start(&app, cfg.listen, err, sizeof err);
    if (srv == NULL) {
        fprintf(stderr, "celeriac-webapp: %s\n", err);
        goto out;
    }
    log_info("listening on %s (port %u)%s", cfg.listen, server_port(srv),
             cfg.auth != NULL ? ", HTTP Basic auth on" : "");
    if (cfg.auth == NULL && !server_is_loopback(srv))
        log_warn("listening on %s, which is not a loopback address, without authentication: "
                 "anyone who reaches it can run tasks and read their results; set "
                 "CELERIAC_AUTH=user:password (or listen on 127.0.0.1 behind a proxy that "
                 "authenticates)", cfg.listen);
    do {
        sig = 0;
        if (sigwait(&stop, &sig) != 0)
            break;
    } while (sig != SIGTERM && sig != SIGINT);
    log_info("received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    server_stop(srv); /* ends the event streams first */
    events_free(app.events);
    producer_free(app.producer);
    dbpool_free(app.db);
    return rc;
}
