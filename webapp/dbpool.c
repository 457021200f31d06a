/* webapp/dbpool.c - a small pool of PostgreSQL connections shared by the
 * handler threads (server.c). A PGconn is not thread-safe, so each handler
 * borrows one for its whole duration. Connections are opened lazily (the webapp starts
 * while the database is down) and a broken one is replaced on its next use. */
#include "webapp/webapp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"

struct dbpool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a slot is given back */
    char *url;
    PGconn **idle; /* open, unused connections: at most size */
    int n_idle;
    int out; /* connections lent out or being opened: n_idle + out <= size */
    int size;
    int bulk;         /* long holds (uploads' COPY) under way: at most bulk_max() */
    bool schema_ok;   /* migrate_check passed once: later connections skip it */
    bool warned_down; /* a failed connect is logged once until one succeeds */
};

struct dbpool *
dbpool_new(const char *database_url, int size)
{
    struct dbpool *p = calloc(1, sizeof *p);
    pthread_condattr_t ca;

    if (p == NULL)
        return NULL;
    p->url = strdup(database_url);
    p->idle = calloc((size_t)size, sizeof *p->idle);
    if (p->url == NULL || p->idle == NULL) {
        free(p->url);
        free(p->idle);
        free(p);
        return NULL;
    }
    p->size = size;
    pthread_mutex_init(&p->mu, NULL);
    /* Waits are measured on the monotonic clock: a wall-clock jump must not
     * turn a 5 s wait into an hour or into nothing. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void
dbpool_free(struct dbpool *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->idle);
    free(p->url);
    free(p);
}

/* An idle connection can have died since it was last used: a server restart
 * sends FATAL and closes the socket, and libpq only notices on the next query,
 * which would fail the user's request. We never LISTEN on pooled connections,
 * so an idle one has nothing to say: any input (or hang-up) means it is gone. */
static bool
still_usable(PGconn *db)
{
    struct pollfd pfd = {.fd = PQsocket(db), .events = POLLIN};

    if (PQstatus(db) != CONNECTION_OK || PQtransactionStatus(db) != PQTRANS_IDLE || pfd.fd < 0)
        return false;
    return poll(&pfd, 1, 0) == 0;
}

/* Free the slot taken for a connection that could not be opened. The reason
 * goes to the log once per outage; every caller gets it in err anyway. */
static void
open_failed(struct dbpool *p, const char *err)
{
    pthread_mutex_lock(&p->mu);
    if (!p->warned_down)
        log_warn("%s", err);
    p->warned_down = true;
    p->out--;
    pthread_cond_broadcast(&p->cv); /* bulk_enter() waiters share the condition */
    pthread_mutex_unlock(&p->mu);
}

static struct timespec
deadline_in(int wait_ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return deadline;
}

static int
bulk_max(const struct dbpool *p)
{
    return p->size > 1 ? p->size / 2 : 1;
}

bool
dbpool_bulk_enter(struct dbpool *p, int wait_ms)
{
    struct timespec deadline = deadline_in(wait_ms);
    bool ok = true;

    pthread_mutex_lock(&p->mu);
    while (p->bulk >= bulk_max(p) && ok)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT)
            ok = p->bulk < bulk_max(p);
    if (ok)
        p->bulk++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void
dbpool_bulk_leave(struct dbpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->bulk--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

PGconn *
dbpool_get(struct dbpool *p, int wait_ms, char *err, size_t errlen)
{
    struct timespec deadline = deadline_in(wait_ms);
    PGconn *db = NULL;
    bool check_schema;
    char why[512];

    pthread_mutex_lock(&p->mu);
    while (p->n_idle == 0 && p->out >= p->size) {
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && p->n_idle == 0 &&
            p->out >= p->size) {
            pthread_mutex_unlock(&p->mu);
            snprintf(err, errlen, "all %d database connections are busy", p->size);
            log_warn("%s", err);
            return NULL;
        }
    }
    if (p->n_idle > 0)
        db = p->idle[--p->n_idle];
    p->out++;
    check_schema = !p->schema_ok;
    pthread_mutex_unlock(&p->mu);

    /* Opening and checking happen outside the lock: a slow connect must not
     * stall threads that only want an idle connection. */
    if (db != NULL && !still_usable(db)) {
        log_info("replacing a broken database connection");
        store_close(db);
        db = NULL;
    }
    if (db != NULL)
        return db;
    db = store_open(p->url, "celeriac-webapp", err, errlen);
    if (db != NULL && check_schema && migrate_check(db, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        store_close(db);
        db = NULL;
    }
    if (db == NULL) {
        open_failed(p, err);
        return NULL;
    }
    pthread_mutex_lock(&p->mu);
    if (p->warned_down)
        log_info("connected to PostgreSQL again");
    p->warned_down = false;
    p->schema_ok = true;
    pthread_mutex_unlock(&p->mu);
    return db;
}

void
dbpool_put(struct dbpool *p, PGconn *db)
{
    if (db == NULL)
        return;
    /* A connection left in a transaction or failed would poison the next
     * request that borrows it: close it and let a new one be opened. */
    if (PQstatus(db) != CONNECTION_OK || PQtransactionStatus(db) != PQTRANS_IDLE) {
        store_close(db);
        db = NULL;
    }
    pthread_mutex_lock(&p->mu);
    if (db != NULL)
        p->idle[p->n_idle++] = db;
    p->out--;
    pthread_cond_broadcast(&p->cv); /* bulk_enter() waiters share the condition */
    pthread_mutex_unlock(&p->mu);
}
