/* worker/child.c - a child's life: connect, consume, run, commit, ack.
 * Runs in: child only. The ack always comes after the task's final row is
 * committed, so a crash at any point means redelivery, never loss; a
 * redelivered task whose row is already final is acked without running. */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"
#include "worker/registry.h"
#include "worker/task.h"

#define POLL_MS 250        /* how often the consume loop looks at the stop flag */
#define BACKOFF_MAX_S 5.0 /* longest wait between reconnection attempts */

static volatile sig_atomic_t stop_requested; /* SIGTERM/SIGINT: finish the task, then exit */
static volatile sig_atomic_t cancel_task;    /* asks a running task to stop early */

struct child {
    const struct worker_cfg *cfg;
    int slot;
    int report_fd;
    struct broker *b;
    PGconn *db;
};

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
report(struct child *c, char kind, const char *id)
{
    struct child_report r = {.kind = kind};

    snprintf(r.id, sizeof r.id, "%s", id);
    /* The master may be gone (then PDEATHSIG stops us): nothing to do on error. */
    if (write(c->report_fd, &r, sizeof r) < 0 && errno != EPIPE)
        log_warn("report to master: %s", strerror(errno));
}

static double
backoff(double cur)
{
    return cur * 2 < BACKOFF_MAX_S ? cur * 2 : BACKOFF_MAX_S;
}

/* (Re)connect to PostgreSQL, waiting with capped back-off. false when asked to
 * stop first. */
static bool
db_connect(struct child *c)
{
    double wait = 0.25;
    char err[512];

    store_close(c->db);
    c->db = NULL;
    while (!stop_requested) {
        c->db = store_open(c->cfg->database_url, "celeriac-worker", err, sizeof err);
        if (c->db != NULL)
            return true;
        log_warn("%s (retrying in %.1f s)", err, wait);
        clock_sleep(wait, &stop_requested);
        wait = backoff(wait);
    }
    return false;
}

static bool
broker_connect(struct child *c)
{
    double wait = 0.25;
    char err[512], name[128];

    broker_close(c->b);
    c->b = NULL;
    snprintf(name, sizeof name, "%s child.%d", c->cfg->nodename, c->slot);
    while (!stop_requested) {
        c->b = broker_open(c->cfg->amqp_url, name, err, sizeof err);
        if (c->b != NULL && broker_consume(c->b, c->cfg->queues, c->cfg->prefetch) == 0)
            return true;
        if (c->b != NULL)
            snprintf(err, sizeof err, "cannot consume from %s", c->cfg->queues);
        broker_close(c->b);
        c->b = NULL;
        log_warn("%s (retrying in %.1f s)", err, wait);
        clock_sleep(wait, &stop_requested);
        wait = backoff(wait);
    }
    return false;
}

/* The message cannot run: fail its row (when it has an id), dead-letter a copy
 * with the reason, then ack. 0, or -1 when the broker connection is gone
 * (the message stays unacked and comes back). */
static int
reject(struct child *c, const struct broker_delivery *d, const struct celery_msg *m,
       const char *reason)
{
    log_task(LL_WARN, m->id, "dead-lettering message from %s: %s", d->routing_key, reason);
    if (m->id != NULL) {
        int rc = store_task_fail_unrunnable(c->db, m->id, m->task, d->routing_key, reason,
                                            c->cfg->nodename);
        if (rc == STORE_ERR && db_connect(c))
            store_task_fail_unrunnable(c->db, m->id, m->task, d->routing_key, reason,
                                       c->cfg->nodename);
    }
    if (broker_dead_letter(c->b, d, reason, c->cfg->nodename) < 0)
        return -1;
    return broker_ack(c->b, d->tag);
}

/* Write the outcome, reconnecting to PostgreSQL as often as needed. 0 once
 * committed, -1 when told to stop before that. *ok turns false when a result
 * PostgreSQL refuses had to be stored as a failure instead. */
static int
finish(struct child *c, struct task_ctx *t, const char *queue, bool *okp)
{
    bool ok = *okp;
    char *result = NULL, *meta = NULL;
    const char *state = ok ? "SUCCESS" : "FAILURE";
    int rc;

    if (ok)
        result = t->result != NULL ? json_print(t->result) : NULL;
    else
        meta = task_failure_meta(t);
    for (;;) {
        rc = store_task_finish(c->db, t->msg, queue, c->cfg->nodename, state,
                               ok ? result : meta, ok ? NULL : t->error, t->logs, t->nlogs);
        if (rc == STORE_OK)
            break;
        if (rc == STORE_BAD_DATA && ok) {
            /* e.g. a \u0000 in the result: jsonb refuses it. Fail visibly instead. */
            ok = false;
            state = "FAILURE";
            task_fail(t, "EncodeError", "the task's result cannot be stored in PostgreSQL");
            cJSON_free(meta);
            meta = task_failure_meta(t);
            continue;
        }
        if (rc == STORE_BAD_DATA) {
            /* The log lines are the only other input: drop them. */
            t->nlogs = 0;
            continue;
        }
        if (!db_connect(c))
            break;
    }
    cJSON_free(result);
    cJSON_free(meta);
    *okp = ok;
    return rc == STORE_OK ? 0 : -1;
}

/* Take one delivery to its ack. 0 when acked, -1 when it was left unacked
 * (broker lost or stopping with the database down): it will be redelivered. */
static int
process(struct child *c, struct broker_delivery *d)
{
    struct celery_msg m;
    struct task_ctx t;
    const struct task_def *def;
    char reason[512];
    double t0;
    int rc = -1, st;
    bool ok;

    if (celery_decode(&d->wire, &m, reason, sizeof reason) < 0) {
        rc = reject(c, d, &m, reason);
        celery_msg_fini(&m);
        return rc;
    }
    def = registry_find(m.task);
    if (def == NULL) {
        snprintf(reason, sizeof reason, "NotRegistered: no task named '%s' in this worker",
                 m.task);
        rc = reject(c, d, &m, reason);
        celery_msg_fini(&m);
        return rc;
    }
    while ((st = store_task_receive(c->db, &m, d->routing_key, c->cfg->nodename)) < 0) {
        if (st == STORE_BAD_DATA) {
            rc = reject(c, d, &m, "the database refused the task's arguments");
            celery_msg_fini(&m);
            return rc;
        }
        if (!db_connect(c)) {
            celery_msg_fini(&m);
            return -1;
        }
    }
    if (st == 0) {
        log_task(LL_INFO, m.id, "already finished: acked without running it again");
        rc = broker_ack(c->b, d->tag);
        celery_msg_fini(&m);
        return rc;
    }
    if (store_task_start(c->db, m.id) == STORE_ERR && db_connect(c))
        store_task_start(c->db, m.id);

    report(c, 'S', m.id);
    log_task(LL_DEBUG, m.id, "%s started", m.task);
    task_ctx_init(&t, &m, c->db, c->cfg->nodename, &cancel_task);
    t0 = clock_mono();
    ok = def->run(&t) == TASK_OK;
    if (ok)
        log_task(LL_INFO, m.id, "%s succeeded in %.3f s", m.task, clock_mono() - t0);
    else
        log_task(LL_INFO, m.id, "%s failed in %.3f s: %s: %s", m.task, clock_mono() - t0,
                 t.exc_type, t.error);
    t.db = NULL; /* a task must not keep the connection past its return */
    if (finish(c, &t, d->routing_key, &ok) == 0) {
        report(c, ok ? 'D' : 'F', m.id);
        rc = broker_ack(c->b, d->tag);
    }
    task_ctx_fini(&t);
    celery_msg_fini(&m);
    return rc;
}

void
child_main(const struct worker_cfg *cfg, int slot, int report_fd, const sigset_t *old_mask)
{
    struct child c = {.cfg = cfg, .slot = slot, .report_fd = report_fd};
    struct sigaction sa = {0};
    struct broker_delivery d;

    log_set_child(slot);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* A master that dies (even by SIGKILL) makes its children stop warmly. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    if (getppid() == 1)
        stop_requested = 1;

    if (db_connect(&c) && broker_connect(&c)) {
        log_info("consuming %s (prefetch %d)", cfg->queues, cfg->prefetch);
        while (!stop_requested) {
            int r;

            if (!broker_is_open(c.b) && !broker_connect(&c))
                break;
            r = broker_next(c.b, &d, POLL_MS);
            if (r == 1) {
                process(&c, &d);
                broker_delivery_fini(&d);
            }
        }
    }
    /* Closing the channel returns any prefetched, unacked message to its queue. */
    broker_close(c.b);
    store_close(c.db);
    close(report_fd);
    log_info("stopped");
    exit(0);
}
