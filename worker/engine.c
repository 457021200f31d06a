/* worker/engine.c - see engine.h. The order of things is the whole point:
 *
 *   take the ready deliveries -> decode, mark poison dead, skip redelivered
 *   ids already final (one query) -> run each quick task (a handler's
 *   writes go into the batch's transaction inside a savepoint of its own)
 *   -> when the batch closes: dead-letter what could not run (confirmed) ->
 *   one statement writes every final state and log line and sends one
 *   NOTIFY, COMMIT -> one multiple-ack -> tell the master.
 *
 * A failure before the commit rolls back every handler's writes: the engine
 * then reconnects (or backs off while PostgreSQL refuses to write) and runs
 * those handlers again before the next attempt; tasks that wrote nothing
 * keep their outcome. A stop request while PostgreSQL is away exits with the
 * batch unacked: RabbitMQ redelivers it, and the redelivered tasks whose
 * rows are final by then are acked without running. */
#include "worker/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "common/uuid.h"
#include "sql/store.h"
#include "worker/registry.h"

#define BACKOFF_MAX_S 5.0 /* longest wait between database attempts */
#define TRIM_AFTER 32     /* batches at least this big return their heap to the system */
#define PARK_S 10.0       /* a copy of a task that runs elsewhere comes back this much later */
#define LEASE_WAIT_S 1.0  /* how long a copy waits for a dead run's lease before parking */

enum entry_kind {
    E_RUN,  /* a task to run */
    E_SKIP, /* its row is final already (or it is in this batch twice): ack only */
    E_DEAD, /* cannot run: FAILURE row when it has an id, dead-letter copy, ack */
    E_DEFER,  /* not due (ETA, countdown): RECEIVED row and a schedule, ack */
    E_REVOKE, /* revoked or expired: REVOKED row, ack, never run */
};

struct entry {
    struct broker_delivery d;
    struct celery_msg m;
    const struct task_def *def;
    enum entry_kind kind;
    bool settled;  /* requeued or dropped: not ours to ack any more */
    bool letter;   /* a copy goes to celeriac.dead before the ack (E_DEAD, retries spent) */
    bool lettered; /* that copy is in celeriac.dead */
    bool ran, ok;  /* the handler has run, and its outcome */
    bool batched;  /* in the write_batch() call being made (write_deferred()) */
    bool retry;    /* ok false: RETRY with a schedule (sched) */
    char *reason;  /* E_DEAD, E_REVOKE: why */
    const char *outcome; /* tasks.outcome */
    double wall_s, cpu_s;
    long rss_kib;
    struct store_schedule sched; /* E_DEFER, retry: the message to publish at due */
    char *sched_headers, *sched_body;
    char due[CLOCK_ISO_LEN];
    char eta[CLOCK_ISO_LEN], expires[CLOCK_ISO_LEN]; /* as parsed, "" when absent */
    struct task_ctx t;
    struct store_task rec; /* points into m, d and the texts below */
    char *args_json, *kwargs_json;
    char *result_json; /* SUCCESS: the result; FAILURE: Celery's exception meta */
    char received[CLOCK_ISO_LEN], started[CLOCK_ISO_LEN], finished[CLOCK_ISO_LEN];
};

static void
entry_fini(struct entry *e)
{
    task_ctx_fini(&e->t);
    celery_msg_fini(&e->m);
    broker_delivery_fini(&e->d);
    free(e->reason);
    cJSON_free(e->args_json);
    cJSON_free(e->kwargs_json);
    cJSON_free(e->result_json);
    cJSON_free(e->sched_headers);
    cJSON_free(e->sched_body);
    memset(e, 0, sizeof *e);
}

void
engine_init(struct engine *g, const struct worker_cfg *cfg, struct slot_state *slot,
            int report_fd, volatile sig_atomic_t *stop, volatile sig_atomic_t *cancel,
            volatile sig_atomic_t *soft_fired)
{
    memset(g, 0, sizeof *g);
    g->cfg = cfg;
    g->slot = slot;
    g->report_fd = report_fd;
    g->stop = stop;
    g->cancel = cancel;
    g->soft_fired = soft_fired;
    g->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

void
engine_discard(struct engine *g)
{
    for (int i = 0; i < g->n; i++)
        entry_fini(&g->e[i]);
    g->n = 0;
    g->first_done = 0;
    g->effects_lost = false;
    if (store_is_ok(g->db) && store_in_transaction(g->db))
        store_rollback(g->db);
}

void
engine_fini(struct engine *g)
{
    engine_discard(g);
    free(g->e);
    g->e = NULL;
    g->cap = 0;
    revoked_clear(&g->revoked);
    strset_clear(&g->paused);
    if (g->statm_fd >= 0)
        close(g->statm_fd);
    g->statm_fd = -1;
}

static void
report(struct engine *g, char kind, int n, int failed)
{
    struct child_report r = {.kind = kind, .n = n, .failed = failed};

    /* The master may be gone (then PDEATHSIG stops us): nothing to do on error. */
    if (write(g->report_fd, &r, sizeof r) < 0 && errno != EPIPE)
        log_warn("report to master: %s", strerror(errno));
}

/* ----- the database: connection, trouble, recovery ----- */

static double
backoff_s(int streak)
{
    double s = 0.1;

    for (int i = 1; i < streak && s < BACKOFF_MAX_S; i++)
        s *= 2;
    return s < BACKOFF_MAX_S ? s : BACKOFF_MAX_S;
}

#define REVOCATIONS_LOADED 100000 /* the newest ones: older tasks are long done */
/* How often a child reads revocations and pauses (no LISTEN: it works
 * behind PgBouncer in transaction mode): every SIGNALS_EVERY_S when idle,
 * and before running a batch when the last read is older than
 * SIGNALS_BEFORE_BATCH_S, so that a handler starts at most that long after
 * its task was revoked (at a busy child's batch rate, a few short reads a
 * second). A revoke that lands later than that still wins: its row is
 * final, so the run's writes and final state are void (the claim, the
 * final-row rule). */
#define SIGNALS_EVERY_S 0.5
#define SIGNALS_BEFORE_BATCH_S 0.05

/* ----- queues paused by the operator ----- */

/* True when queue is one of --queues: only those are kept in the set. */
static bool
consumes(const struct engine *g, const char *queue)
{
    return strset_has(&g->cfg->queue_set, queue);
}

/* Mark queue paused or not: 1 when that changed the set, 0 when not, -1 on
 * out of memory. */
static int
pause_mark(struct engine *g, const char *queue, bool paused)
{
    int rc = paused ? strset_add(&g->paused, queue) : strset_remove(&g->paused, queue);

    if (rc > 0)
        g->pauses_changed = true;
    return rc;
}

static void
log_pause(const char *queue, bool paused)
{
    if (paused)
        log_info("queue %s is paused by the operator: not consuming it", queue);
    else
        log_info("queue %s was resumed by the operator: consuming it again", queue);
}

/* True when list (the names of the paused queues) names queue. */
static bool
listed(const cJSON *list, const char *queue)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, list)
    {
        const char *q = cJSON_GetStringValue(p);
        if (q != NULL && strcmp(q, queue) == 0)
            return true;
    }
    return false;
}

/* Make the paused set list's (every paused queue, by name), keeping those
 * among --queues. Applied to the consumers by the next engine step (or by
 * broker_connect() in child.c, before it consumes). */
static void
set_pauses(struct engine *g, const cJSON *list)
{
    const cJSON *p;

    for (int i = 0; i < g->paused.n;) { /* resumed */
        if (listed(list, g->paused.v[i])) {
            i++;
            continue;
        }
        log_pause(g->paused.v[i], false);
        pause_mark(g, g->paused.v[i], false); /* moves the last one to i */
    }
    cJSON_ArrayForEach(p, list)
    {
        const char *queue = cJSON_GetStringValue(p);
        int rc;

        if (queue == NULL || !broker_queue_name_valid(queue) || !consumes(g, queue))
            continue;
        if ((rc = pause_mark(g, queue, true)) > 0)
            log_pause(queue, true);
        else if (rc < 0)
            log_warn("queue pause of %s not kept: out of memory", queue);
    }
}

/* Read the revocations made since the last read, and the paused queues
 * when they changed (one short statement, store_signals_poll()): when the
 * last read is older than every seconds (0: now), and never inside the
 * batch's open transaction, which a failed read would abort. STORE_OK
 * (also when it was not time yet) or negative. */
static int
poll_signals(struct engine *g, double every)
{
    double now = clock_mono();
    bool fresh = g->signals.seq < 0;
    const cJSON *r, *paused;
    cJSON *o;
    int rc;

    if (!store_is_ok(g->db) || store_in_transaction(g->db))
        return STORE_OK; /* the next statement finds the trouble, or the commit ends it */
    if (now - g->signals_at < every)
        return STORE_OK;
    g->signals_at = now;
    if ((o = store_signals_poll(g->db, &g->signals, REVOCATIONS_LOADED, true, &rc)) == NULL) {
        log_debug("reading revocations and paused queues: %s", store_error_message(g->db));
        return rc;
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "revoked"))
    {
        if (!revoked_add(&g->revoked, json_str(r, "id")))
            log_warn("revocation of %s not kept", json_str(r, "id"));
    }
    paused = cJSON_GetObjectItemCaseSensitive(o, "paused");
    if (cJSON_IsArray(paused))
        set_pauses(g, paused);
    if (fresh)
        g->pauses_changed = true; /* a new broker connection must hear them all the same */
    cJSON_Delete(o);
    return STORE_OK;
}

int
engine_apply_pauses(struct engine *g)
{
    if (g->b == NULL)
        return -1;
    if (broker_set_paused(g->b, (const char *const *)g->paused.v, g->paused.n) < 0)
        return -1;
    g->pauses_changed = false;
    return 0;
}

bool
engine_db_connect(struct engine *g)
{
    char err[512];
    int tries = 0;

    store_close(g->db);
    g->db = NULL;
    /* Whatever the batch's handlers wrote went with the old connection's
     * transaction: recover() runs them again. */
    g->effects_lost = true;
    while (!*g->stop) {
        g->db = store_open(g->cfg->database_url, "celeriac-worker", err, sizeof err);
        /* From the start: the newest revocations and every pause, whatever
         * happened while we were away (a failover may even have taken the
         * database back to an earlier seq). */
        g->signals = (struct store_signals){.seq = -1, .pauses_seq = -1};
        if (g->db != NULL && poll_signals(g, 0) == STORE_OK) {
            if (tries > 0)
                log_info("connected to PostgreSQL again");
            return true;
        }
        if (g->db != NULL) {
            snprintf(err, sizeof err, "loading revocations and paused queues: %s",
                     store_error_message(g->db));
            store_close(g->db);
            g->db = NULL;
        }
        if (tries++ == 0)
            log_warn("%s (retrying with back-off up to %.0f s)", err, BACKOFF_MAX_S);
        clock_sleep(backoff_s(tries), g->stop);
    }
    return false;
}

/* PostgreSQL failed an engine statement (what): roll back, log once per
 * streak, wait with capped back-off. false when asked to stop meanwhile. */
static bool
db_trouble(struct engine *g, const char *what)
{
    if (g->db_streak++ == 0)
        log_warn("%s failed: %s (retrying with back-off up to %.0f s)", what,
                 store_error_message(g->db), BACKOFF_MAX_S);
    else
        log_debug("%s failed again: %s", what, store_error_message(g->db));
    if (store_is_ok(g->db) && store_in_transaction(g->db))
        store_rollback(g->db);
    g->effects_lost = true;
    clock_sleep(backoff_s(g->db_streak), g->stop);
    return !*g->stop;
}

static void
db_recovered(struct engine *g)
{
    if (g->db_streak > 0)
        log_info("PostgreSQL accepts writes again");
    g->db_streak = 0;
}

/* ----- taking deliveries ----- */

/* The dead letter needs the message itself: take() freed the body and
 * headers of what it decoded, so encode them back. */
static void
restore_wire(struct entry *e)
{
    if (e->d.wire.body == NULL && e->m.task != NULL) {
        /* Decoded and freed (take()): the dead letter needs the message
         * itself again, encoded back from what was decoded. */
        char err[256];
        struct celery_wire w;
        if (celery_encode(&e->m, &w, err, sizeof err) == 0) {
            celery_wire_fini(&e->d.wire);
            e->d.wire = w;
        }
    }
}

static void
make_dead(struct entry *e, const char *reason)
{
    e->kind = E_DEAD;
    e->letter = true;
    free(e->reason);
    e->reason = strdup(reason);
    if (e->reason != NULL)
        utf8_scrub(e->reason); /* it may quote the message's bytes */
    restore_wire(e);
}

/* Keep m to be published at epoch due (a copy with retries and eta as
 * given: the next attempt, or the message itself for an ETA). */
static bool
schedule(struct entry *e, double due, int retries)
{
    struct celery_msg m = e->m; /* a shallow copy: the encoder only reads it */
    struct celery_wire w;
    char err[256];

    cJSON_free(e->sched_headers);
    cJSON_free(e->sched_body);
    e->sched_headers = e->sched_body = NULL;
    clock_iso_at(due, e->due);
    m.retries = retries;
    m.eta = e->due;
    if (celery_encode(&m, &w, err, sizeof err) < 0)
        return false;
    e->sched_headers = json_print(w.headers);
    e->sched_body = w.body;
    w.body = NULL;
    celery_wire_fini(&w);
    e->sched = (struct store_schedule){.due_at = e->due,
                                       .headers_json = e->sched_headers,
                                       .body = e->sched_body,
                                       .reply_to = e->m.reply_to,
                                       .priority = e->m.priority > 0 ? e->m.priority : -1};
    return e->sched_headers != NULL && e->sched_body != NULL;
}

/* The row a dead entry can have: one with a readable id. */
static bool
dead_has_row(const struct entry *e)
{
    return e->m.id != NULL && uuid_is_valid(e->m.id);
}

static void
fill_record(struct entry *e)
{
    const char *name = e->m.task;

    if (name == NULL || !utf8_valid(name, strlen(name)))
        name = "(unknown)";
    e->rec.id = e->m.id;
    e->rec.name = name;
    e->rec.queue = e->d.routing_key != NULL ? e->d.routing_key : "";
    e->rec.args_json = e->args_json;
    e->rec.kwargs_json = e->kwargs_json;
    e->rec.origin = e->m.origin != NULL && utf8_valid(e->m.origin, strlen(e->m.origin))
                        ? e->m.origin
                        : NULL;
    e->rec.retries = e->m.retries;
    e->rec.parent_id = uuid_is_valid(e->m.parent_id) ? e->m.parent_id : NULL; /* else dropped */
}

/* Append d (moved) to the batch and classify it. false on out of memory
 * (d is left to the caller). */
static bool
take(struct engine *g, struct broker_delivery *d)
{
    struct entry *e;
    char reason[512];

    if (g->n == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        struct entry *p = realloc(g->e, sizeof *p * (size_t)cap);
        if (p == NULL)
            return false;
        g->e = p;
        g->cap = cap;
    }
    e = &g->e[g->n++];
    memset(e, 0, sizeof *e);
    e->d = *d;
    memset(d, 0, sizeof *d);
    clock_iso_now(e->received);
    if (e->d.routing_key != NULL)
        utf8_scrub(e->d.routing_key);
    if (celery_decode(&e->d.wire, &e->m, reason, sizeof reason) < 0) {
        make_dead(e, reason);
    } else {
        /* Kept on its row even when it cannot run: what was asked shows. */
        e->args_json = json_print(e->m.args);
        e->kwargs_json = json_print(e->m.kwargs);
        e->kind = E_RUN;
        if ((e->def = registry_find(e->m.task)) == NULL) {
            snprintf(reason, sizeof reason, "NotRegistered: no task named '%s' in this worker",
                     e->m.task);
            make_dead(e, reason);
        } else if (e->args_json == NULL || e->kwargs_json == NULL) {
            make_dead(e, "out of memory while reading the task's arguments");
        }
    }
    if (e->kind != E_DEAD) {
        /* Decoded: only a dead letter needs the original headers and body. A
         * batch holds hundreds of deliveries, so this is most of its memory. */
        cJSON_Delete(e->d.wire.headers);
        e->d.wire.headers = NULL;
        free(e->d.wire.body);
        e->d.wire.body = NULL;
        e->d.wire.body_len = 0;
    }
    fill_record(e);
    /* The same id twice in one batch (published twice): run it once. A dead
     * copy is still dead-lettered; write_finals() writes one row per id. */
    for (int i = 0; e->kind == E_RUN && i < g->n - 1; i++) {
        if (g->e[i].m.id != NULL && g->e[i].kind != E_DEAD &&
            strcasecmp(g->e[i].m.id, e->m.id) == 0) {
            log_task(LL_INFO, e->m.id, "delivered twice in one batch: runs once");
            e->kind = E_SKIP;
        }
    }
    return true;
}

/* Look at the redelivered entries of [from, n): those whose rows are final
 * already are acked without running; those whose children died under them
 * --max-deliveries times end FAILURE (worker lost) and are dead-lettered
 * instead of killing one more child. false when asked to stop while the
 * database is away (nothing was marked: the entries must not run). */
static bool
skip_finished(struct engine *g, int from)
{
    const char **ids = malloc(sizeof *ids * (size_t)(g->n - from));
    struct store_seen *seen = malloc(sizeof *seen * (size_t)(g->n - from));
    int *at = malloc(sizeof *at * (size_t)(g->n - from));
    int k = 0, rc = STORE_OK;

    if (ids == NULL || seen == NULL || at == NULL) {
        free(ids);
        free(seen);
        free(at);
        return true; /* run them: the final write never overwrites a final row */
    }
    /* Only redeliveries: a message RabbitMQ never delivered before is not a
     * lost ack's second chance. Should it still be a copy of a finished
     * task (published twice), running it again changes nothing: its writes
     * are void (the claim), its final write leaves the final row as it is,
     * and a long task's STARTED mark finds the row final and skips it. */
    for (int i = from; i < g->n; i++) {
        struct entry *e = &g->e[i];
        if (e->d.redelivered && (e->kind == E_RUN || (e->kind == E_DEAD && dead_has_row(e)))) {
            ids[k] = e->m.id;
            at[k++] = i;
        }
    }
    while (k > 0 && (rc = store_tasks_seen(g->db, ids, k, seen)) != STORE_OK) {
        if (!store_is_ok(g->db) ? !engine_db_connect(g) : !db_trouble(g, "checking for finished tasks"))
            break;
    }
    if (k > 0 && rc == STORE_OK) {
        db_recovered(g);
        for (int j = 0; j < k; j++) {
            struct entry *e = &g->e[at[j]];
            if (seen[j].final) {
                /* A dead one was dead-lettered before its row was committed. */
                log_task(LL_INFO, ids[j], "already finished: acked without running it again");
                e->kind = E_SKIP;
            } else if (seen[j].retries > e->m.retries) {
                /* A later attempt was scheduled (its RETRY row committed, the
                 * ack of this one lost): this attempt is over. */
                log_task(LL_INFO, ids[j], "attempt %d was retried already: acked without running",
                         e->m.retries + 1);
                e->kind = E_SKIP;
            } else if (e->kind == E_RUN && seen[j].lost > 0 &&
                       seen[j].lost >= g->cfg->max_deliveries) {
                char reason[512];
                snprintf(reason, sizeof reason, "worker lost %d time%s: %s", seen[j].lost,
                         seen[j].lost == 1 ? "" : "s", seen[j].lost_reason);
                make_dead(e, reason);
                e->outcome = "worker_lost";
            }
        }
    }
    free(ids);
    free(seen);
    free(at);
    return rc == STORE_OK;
}

/* Revoked, expired, or not due yet: decided here, from what the message and
 * the revocations the child knows say, with no query. */
static void
classify(struct engine *g, struct entry *e)
{
    double now;

    if (revoked_has(&g->revoked, e->m.id)) {
        log_task(LL_INFO, e->m.id, "revoked: not run");
        e->kind = E_REVOKE;
        e->reason = strdup("revoked");
        e->outcome = "revoked";
        return;
    }
    if (e->m.expires_at == 0 && e->m.eta_at == 0)
        return; /* the common case: no clock to read */
    now = clock_wall();
    if (e->m.expires_at > 0 && e->m.expires_at <= now) {
        log_task(LL_INFO, e->m.id, "expired at %s: not run", e->m.expires);
        e->kind = E_REVOKE;
        e->reason = strdup("expired");
        e->outcome = "expired";
    } else if (e->m.eta_at > now) {
        /* Acked and kept in scheduled_tasks: never held unacked in a child. */
        if (schedule(e, e->m.eta_at, e->m.retries)) {
            log_task(LL_DEBUG, e->m.id, "due at %s: scheduled", e->due);
            e->kind = E_DEFER;
        } else {
            make_dead(e, "out of memory while scheduling the task");
        }
    }
}

/* Read revocations and pauses when it is time (poll_signals()), then a
 * change of the paused queues goes to the consumers. -1 when the broker
 * connection failed. */
static int
follow_pauses(struct engine *g, bool force)
{
    poll_signals(g, force ? 0 : SIGNALS_EVERY_S);
    return g->pauses_changed ? engine_apply_pauses(g) : 0;
}

/* ----- running ----- */

/* Close the task's savepoint: keep its writes when it succeeded, drop them
 * when it failed. A failure here loses the transaction: replayed later. */
static void
settle_savepoint(struct engine *g, struct entry *e)
{
    int rc;

    if (!e->t.wrote || e->t.db_lost || g->effects_lost)
        return;
    if (e->ok) {
        rc = store_release_savepoint(g->db);
    } else {
        rc = store_rollback_to_savepoint(g->db);
        if (rc == STORE_OK)
            rc = store_release_savepoint(g->db);
    }
    if (rc != STORE_OK)
        g->effects_lost = true;
}

/* A result PostgreSQL would refuse (invalid UTF-8 from a handler's string,
 * \u0000 that jsonb cannot hold) fails the task rather than the batch. */
static bool
result_storable(const char *json)
{
    if (json == NULL)
        return true;
    if (!utf8_valid(json, strlen(json)))
        return false;
    /* An escape \u0000 is one preceded by an odd run of backslashes: "\\u0000"
     * is a backslash and the letters u0000, which jsonb takes. */
    for (const char *p = strstr(json, "u0000"); p != NULL; p = strstr(p + 1, "u0000")) {
        size_t n = 0;
        while (p - n > json && p[-1 - (long)n] == '\\')
            n++;
        if (n % 2 == 1)
            return false;
    }
    return true;
}

/* ----- the shared slot, limits and what a run costs ----- */

static double
cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_kib_now(struct engine *g)
{
    char text[128];
    ssize_t n = g->statm_fd >= 0 ? pread(g->statm_fd, text, sizeof text - 1, 0) : -1;
    long pages;

    if (n <= 0)
        return -1;
    text[n] = '\0';
    if (sscanf(text, "%*d %ld", &pages) != 1)
        return -1;
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The limit that applies: the message's, else the task's, else the worker's. */
static double
limit_of(double msg, double task, double worker)
{
    return msg > 0 ? msg : task > 0 ? task : worker;
}

static void
slot_write_begin(struct slot_state *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void
slot_write_end(struct slot_state *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
}

/* Tell the master which task runs now and its deadlines. */
static void
slot_enter(struct engine *g, struct entry *e, double now)
{
    struct slot_state *s = g->slot;
    double soft = limit_of(e->m.soft_time_limit, e->def->soft_time_limit,
                           g->cfg->soft_time_limit);
    double hard = limit_of(e->m.time_limit, e->def->time_limit, g->cfg->time_limit);

    *g->soft_fired = 0;
    *g->cancel = 0;
    if (s == NULL)
        return;
    slot_write_begin(s);
    s->run++;
    /* The new run before the new task: a late signal meant for the last run
     * must see a run it does not match, never the old run with a new task. */
    atomic_signal_fence(memory_order_seq_cst);
    memcpy(s->task, e->m.id, UUID_STR_LEN);
    snprintf(s->name, sizeof s->name, "%s", e->m.task);
    s->started = now;
    s->soft_at = soft > 0 ? now + soft : 0;
    s->hard_at = hard > 0 ? now + hard : 0;
    s->hard_limit = hard;
    slot_write_end(s);
    atomic_signal_fence(memory_order_seq_cst); /* on_soft_limit() reads run and task */
}

static void
slot_leave(struct engine *g, long rss_kib)
{
    struct slot_state *s = g->slot;

    if (s == NULL)
        return;
    slot_write_begin(s);
    s->task[0] = '\0';
    s->soft_at = s->hard_at = 0;
    if (rss_kib >= 0)
        s->rss_kib = rss_kib;
    slot_write_end(s);
}

/* Seconds before attempt retries + 1: base doubled per attempt, capped,
 * with "equal jitter" (half fixed, half random) so a burst of failures does
 * not come back as a burst. */
static double
backoff_delay(double base, int retries)
{
    double d = base > 0 ? base : 1.0;

    for (int i = 0; i < retries && d < REGISTRY_BACKOFF_MAX_S; i++)
        d *= 2;
    if (d > REGISTRY_BACKOFF_MAX_S)
        d = REGISTRY_BACKOFF_MAX_S;
    return d / 2 + d / 2 * ((double)random() / RAND_MAX);
}

/* Settle what the run comes to: its state's inputs and its outcome. */
static void
conclude(struct engine *g, struct entry *e, int rc)
{
    e->ok = rc == TASK_OK;
    e->retry = rc == TASK_RETRY;
    e->outcome = e->ok ? "returned" : "raised";
    if (*g->soft_fired && !e->ok) {
        /* Asked to stop at its soft limit, it did: Celery's exception. */
        e->retry = false;
        e->outcome = "soft_limit";
        task_fail(&e->t, "SoftTimeLimitExceeded", "soft time limit (%g s) exceeded",
                  limit_of(e->m.soft_time_limit, e->def->soft_time_limit,
                           g->cfg->soft_time_limit));
    }
    if (e->retry) {
        int max = e->m.max_retries >= 0   ? e->m.max_retries
                  : e->def->max_retries > 0 ? e->def->max_retries
                                            : REGISTRY_MAX_RETRIES;
        double delay = e->t.retry_countdown >= 0
                           ? e->t.retry_countdown
                           : backoff_delay(e->def->retry_backoff, e->m.retries);

        if (e->m.retries < max && schedule(e, clock_wall() + delay, e->m.retries + 1)) {
            e->outcome = "retry";
            task_log(&e->t, "retry %d of %d in %.2f s: %s", e->m.retries + 1, max, delay,
                     e->t.error);
        } else {
            char last[TASK_ERROR_MAX];

            e->retry = false;
            e->letter = true;
            snprintf(last, sizeof last, "%s", e->t.error);
            task_fail(&e->t, "MaxRetriesExceededError", "%s: gave up after %d retr%s: %s",
                      e->m.task, e->m.retries, e->m.retries == 1 ? "y" : "ies", last);
            e->reason = strdup(e->t.error);
        }
    }
}

/* e's result as JSON text for its row: a result PostgreSQL would refuse
 * fails the task instead; a failure's is Celery's exception meta. */
static void
keep_result(struct entry *e)
{
    cJSON_free(e->result_json);
    e->result_json = NULL;
    if (e->ok && e->t.result != NULL) {
        e->result_json = json_print(e->t.result);
        if (e->result_json == NULL || !result_storable(e->result_json)) {
            e->ok = false;
            e->outcome = "raised";
            task_fail(&e->t, "EncodeError", "%s: the task's result cannot be stored in PostgreSQL",
                      e->m.task);
            cJSON_free(e->result_json);
            e->result_json = NULL;
        }
    }
    if (!e->ok)
        e->result_json = task_failure_meta(&e->t);
}

static void
run_entry(struct engine *g, struct entry *e)
{
    double t0, cpu0;
    int rc;

    task_ctx_fini(&e->t);
    cJSON_free(e->result_json);
    e->result_json = NULL;
    free(e->reason);
    e->reason = NULL;
    e->letter = false;
    task_ctx_init(&e->t, &e->m, g, g->cfg->nodename, g->cancel);
    clock_iso_now(e->started);
    g->cur = e;
    cpu0 = cpu_now();
    t0 = clock_mono();
    slot_enter(g, e, t0);
    rc = e->def->run(&e->t);
    /* A handler that carries on after task_sql() failed does not succeed:
     * its transaction is aborted (or its run void). */
    if (e->t.sql_failed || e->t.db_lost)
        rc = TASK_FAILED;
    conclude(g, e, rc);
    g->cur = NULL;
    e->wall_s = clock_mono() - t0;
    e->cpu_s = cpu_now() - cpu0;
    e->rss_kib = rss_kib_now(g);
    slot_leave(g, e->rss_kib);
    if (!e->ran) {
        g->tasks_run++;
        if (g->cfg->max_tasks_per_child > 0 && g->tasks_run >= g->cfg->max_tasks_per_child)
            g->retire = true;
        if (g->cfg->max_memory_kib > 0 && e->rss_kib > g->cfg->max_memory_kib) {
            g->retire = true;
            e->outcome = "memory_limit";
            task_log(&e->t, "the child's RSS (%ld KiB) passed --max-memory-per-child (%ld KiB)"
                     ": it is replaced", e->rss_kib, g->cfg->max_memory_kib);
        }
    }
    if (e->ok && e->t.deferred && e->def->write_batch == NULL) {
        e->ok = false;
        e->outcome = "raised";
        task_fail(&e->t, "RuntimeError", "%s: task_defer() without a write_batch()", e->m.task);
    }
    e->t.nlogs_run = e->t.nlogs;
    if (!e->t.deferred || !e->ok)
        keep_result(e); /* else its write_batch() sets it, when the batch closes */
    settle_savepoint(g, e);
    clock_iso_now(e->finished);
    e->ran = true;
    if (e->t.duplicate) {
        log_task(LL_INFO, e->m.id, "finished elsewhere meanwhile: its run here does not count");
        e->kind = E_SKIP;
    } else if (e->ok) {
        log_task(LL_DEBUG, e->m.id, "%s succeeded in %.6f s", e->m.task, e->wall_s);
    } else if (e->retry) {
        log_task(LL_INFO, e->m.id, "%s will retry in %s: %s", e->m.task, e->due, e->t.error);
    } else if (!e->t.db_lost) {
        log_task(LL_INFO, e->m.id, "%s failed in %.3f s: %s: %s", e->m.task, e->wall_s,
                 e->t.exc_type, e->t.error);
    }
    if (g->first_done == 0)
        g->first_done = clock_mono();
}

PGresult *
engine_task_sql(struct engine *g, struct task_ctx *t, const char *sql, int nparams,
                const char *const *params, const struct store_binary *bin)
{
    struct entry *e = g->cur;
    PGresult *res;
    int rc;

    if (e == NULL || &e->t != t) {
        task_fail(t, "RuntimeError", "task_sql() called outside the task's run");
        return NULL;
    }
    if (t->sql_failed)
        return NULL; /* its transaction is aborted or void: the task fails, with the first error */
    if (g->effects_lost)
        goto lost; /* the batch's transaction is gone: this run is replayed */
    if (!t->wrote) {
        if (!store_in_transaction(g->db) && store_begin(g->db) != STORE_OK)
            goto lost;
        if (store_savepoint(g->db) != STORE_OK)
            goto lost;
        t->wrote = true;
        rc = store_task_claim(g->db, &e->rec, g->cfg->nodename);
        if (rc == 0) {
            t->duplicate = t->sql_failed = true;
            task_fail(t, "Duplicate", "task %s finished elsewhere meanwhile", t->msg->id);
            return NULL;
        }
        if (rc == STORE_BAD_DATA) {
            t->sql_failed = true;
            task_fail(t, "EncodeError", "the database refused the task's row: %s",
                      store_error_message(g->db));
            return NULL;
        }
        if (rc < 0)
            goto lost;
    }
    res = store_task_sql(g->db, sql, nparams, params, bin, &rc);
    if (res != NULL)
        return res;
    if (rc == STORE_BAD_DATA) { /* the statement's own fault: the task fails */
        t->sql_failed = true;
        task_fail(t, "DatabaseError", "%s", store_error_message(g->db));
        return NULL;
    }
lost:
    /* Connection or server trouble: not the task's fault. Its run will not
     * count; the engine runs it again once PostgreSQL takes writes. */
    t->db_lost = true;
    g->effects_lost = true;
    task_fail(t, "DatabaseError", "%s", store_error_message(g->db));
    return NULL;
}

PGresult *
engine_task_read(struct engine *g, struct task_ctx *t, const char *sql, int nparams,
                 const char *const *params, const struct store_binary *bin)
{
    PGresult *res;
    int rc;

    if (g->cur == NULL || &g->cur->t != t) {
        task_log(t, "read refused: task_read() called outside the task's run");
        return NULL;
    }
    if (t->wrote || store_in_transaction(g->db))
        return engine_task_sql(g, t, sql, nparams, params, bin);
    if (!store_is_ok(g->db)) {
        task_log(t, "read skipped: the database connection is down");
        return NULL;
    }
    res = store_task_sql(g->db, sql, nparams, params, bin, &rc);
    if (res == NULL)
        task_log(t, "read failed: %s", store_error_message(g->db));
    return res;
}

PGresult *
engine_batch_sql(struct task_batch *b, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = store_task_sql(b->engine->db, sql, nparams, params, NULL, &b->rc);

    if (res == NULL)
        log_debug("a batch's deferred writes failed: %s", store_error_message(b->engine->db));
    return res;
}

/* Whether t may write on its own now: it runs alone (not quick) and has no
 * transaction open, so nothing it writes waits for a commit. */
static bool
writes_alone(struct engine *g, struct task_ctx *t)
{
    return g->cur != NULL && &g->cur->t == t && !g->cur->def->quick && !t->wrote &&
           store_is_ok(g->db) && !store_in_transaction(g->db);
}

void
engine_task_flush_logs(struct engine *g, struct task_ctx *t)
{
    double now = clock_mono();

    if (t->nlogs <= t->logs_flushed || !writes_alone(g, t))
        return;
    if (t->logs_flushed_at > 0 && now - t->logs_flushed_at < TASK_PROGRESS_EVERY_S)
        return;
    t->logs_flushed_at = now;
    if (store_task_logs_add(g->db, t->msg->id, t->logs + t->logs_flushed,
                            t->nlogs - t->logs_flushed) != STORE_OK) {
        log_task(LL_DEBUG, t->msg->id, "log lines not written yet: %s",
                 store_error_message(g->db));
        return; /* they go with the final state */
    }
    t->logs_flushed = t->nlogs;
}

void
engine_task_progress(struct engine *g, struct task_ctx *t, int percent)
{
    double now = clock_mono();

    /* A quick task's row is written once, with its outcome; a write in an
     * open transaction would show only at the commit, with the outcome. */
    if (!writes_alone(g, t))
        return;
    if (percent < 100 && t->progress_at > 0 && now - t->progress_at < TASK_PROGRESS_EVERY_S)
        return;
    t->progress_at = now; /* a refused write waits its turn too */
    if (store_task_progress(g->db, t->msg->id, percent) != STORE_OK) {
        log_task(LL_DEBUG, t->msg->id, "progress not written: %s", store_error_message(g->db));
        return;
    }
    t->progress = percent;
}

/* Run e's handler again, its writes lost with a transaction. A long task
 * (a conversion, a scrape) keeps the broker's heartbeats going meanwhile,
 * as on its first run. */
static void
run_again(struct engine *g, struct entry *e)
{
    if (e->def != NULL && !e->def->quick)
        broker_keepalive_start(g->b);
    run_entry(g, e);
    if (e->def != NULL && !e->def->quick)
        broker_keepalive_stop(g->b);
}

/* Roll back what is left, reconnect if needed, and run again every handler
 * whose writes (or whose run) were lost, until the batch's writes are whole
 * again. false when asked to stop first. */
static bool
recover(struct engine *g)
{
    while (g->effects_lost || !store_is_ok(g->db)) {
        if (*g->stop)
            return false;
        if (store_is_ok(g->db) && store_in_transaction(g->db))
            store_rollback(g->db);
        if (!store_is_ok(g->db) && !engine_db_connect(g))
            return false;
        g->effects_lost = false;
        for (int i = 0; i < g->n && !g->effects_lost; i++) {
            struct entry *e = &g->e[i];
            if (e->kind == E_RUN && e->ran && (e->t.wrote || e->t.db_lost))
                run_again(g, e);
        }
        if (g->effects_lost && !db_trouble(g, "running the batch's tasks again"))
            return false;
    }
    return true;
}

/* ----- committing ----- */

static int
fill_final(struct engine *g, int i, struct store_final *f)
{
    struct entry *e = &g->e[i];

    if (e->kind == E_SKIP || (e->kind == E_DEAD && !dead_has_row(e)) ||
        (e->kind == E_RUN && !e->ran))
        return 0;
    memset(f, 0, sizeof *f);
    f->task = e->rec;
    f->received_at = e->received;
    /* Normalized from what decoding parsed: never a text PostgreSQL might refuse. */
    if (e->m.eta_at != 0 && e->eta[0] == '\0')
        clock_iso_at(e->m.eta_at, e->eta);
    if (e->m.expires_at != 0 && e->expires[0] == '\0')
        clock_iso_at(e->m.expires_at, e->expires);
    f->task.eta = e->eta[0] ? e->eta : NULL;
    f->task.expires = e->expires[0] ? e->expires : NULL;
    f->wall_s = f->cpu_s = -1;
    f->rss_kib = -1;
    switch (e->kind) {
    case E_DEAD:
        f->state = "FAILURE";
        f->error = e->reason != NULL ? e->reason : "cannot be run";
        f->outcome = e->outcome != NULL ? e->outcome : "rejected";
        f->started_at = f->finished_at = e->received;
        return 1;
    case E_REVOKE:
        f->state = "REVOKED";
        f->error = e->reason;
        f->outcome = e->outcome;
        f->finished_at = e->received;
        return 1;
    case E_DEFER:
        f->state = "RECEIVED";
        f->task.eta = e->due;
        e->sched.due_at = e->due; /* the batch array may have moved since schedule() */
        f->sched = &e->sched;
        return 1;
    default:
        break;
    }
    f->state = e->ok ? "SUCCESS" : e->retry ? "RETRY" : "FAILURE";
    f->result_json = e->result_json;
    f->error = e->ok ? NULL : e->t.error;
    f->outcome = e->outcome;
    f->started_at = e->started;
    f->finished_at = e->retry ? NULL : e->finished;
    f->wall_s = e->wall_s;
    f->cpu_s = e->cpu_s;
    f->rss_kib = e->rss_kib;
    f->logs = e->t.logs;
    f->nlogs = e->t.nlogs;
    /* Lines a long task wrote as it ran are stored already, unless lost. */
    f->logs_flushed = e->t.logs_flushed < e->t.nlogs ? e->t.logs_flushed : e->t.nlogs;
    if (e->retry) {
        f->task.retries = e->m.retries + 1;
        f->task.eta = e->due;
        e->sched.due_at = e->due; /* the batch array may have moved since schedule() */
        f->sched = &e->sched;
    }
    return 1;
}

/* e ran, succeeded and left its writes to its task's write_batch(). */
static bool
deferred(const struct entry *e)
{
    return e->kind == E_RUN && e->ran && e->ok && e->t.deferred;
}

/* Run write_batch() once for each task with deferred runs among entries
 * [lo, hi), over all of them, then keep their results. Again on every
 * attempt to commit: a rolled-back attempt took its rows with it. A
 * store_rc. */
static int
write_deferred(struct engine *g, int lo, int hi)
{
    struct task_ctx **tasks = NULL;
    int rc = STORE_OK;

    for (int i = lo; i < hi; i++)
        g->e[i].batched = false;
    for (int i = lo; i < hi && rc == STORE_OK; i++) {
        const struct task_def *def = g->e[i].def;
        struct task_batch b = {.engine = g, .rc = STORE_OK};

        if (!deferred(&g->e[i]) || g->e[i].batched)
            continue;
        if (tasks == NULL && (tasks = malloc(sizeof *tasks * (size_t)(hi - lo))) == NULL)
            return STORE_ERR;
        b.tasks = tasks;
        for (int j = i; j < hi; j++) {
            struct entry *e = &g->e[j];
            if (!deferred(e) || e->def != def)
                continue;
            e->batched = true;
            /* What an earlier attempt's write_batch() left goes with it. */
            cJSON_Delete(e->t.result);
            e->t.result = NULL;
            task_logs_truncate(&e->t, e->t.nlogs_run);
            tasks[b.n++] = &e->t;
        }
        if (!store_in_transaction(g->db) && store_begin(g->db) != STORE_OK)
            rc = STORE_ERR;
        else if (def->write_batch(&b) != TASK_OK)
            rc = b.rc != STORE_OK ? b.rc : STORE_ERR;
    }
    free(tasks);
    for (int i = lo; i < hi && rc == STORE_OK; i++) {
        if (deferred(&g->e[i]))
            keep_result(&g->e[i]);
    }
    return rc;
}

/* Write the final states of entries [lo, hi) and commit. A store_rc. */
static int
write_finals(struct engine *g, int lo, int hi)
{
    struct store_final *f;
    int k = 0, rc;

    if ((rc = write_deferred(g, lo, hi)) != STORE_OK)
        return rc;
    if ((f = calloc((size_t)(hi - lo), sizeof *f)) == NULL)
        return STORE_ERR;
    for (int i = lo; i < hi; i++) {
        bool dup = false;
        if (fill_final(g, i, &f[k]) == 0)
            continue;
        /* One row per id: a statement must not upsert a row twice (dead
         * copies of one id, published twice, both reach here). */
        for (int j = 0; j < k && !dup; j++)
            dup = strcasecmp(f[j].task.id, f[k].task.id) == 0;
        k += !dup;
    }
    rc = store_tasks_finish(g->db, f, k, g->cfg->nodename);
    free(f);
    if (rc == STORE_OK && store_in_transaction(g->db))
        rc = store_commit(g->db);
    return rc;
}

/* PostgreSQL refused a value of the batch (it should not happen: results,
 * errors and log lines are checked before): find which, one task at a
 * time. A task whose result or log PostgreSQL keeps refusing ends FAILURE
 * without them; one whose FAILURE row is refused too is only dead-lettered.
 * Never loops on the same refusal. false when asked to stop. */
static bool
write_one_by_one(struct engine *g)
{
    for (int i = 0; i < g->n; i++) {
        struct entry *e = &g->e[i];
        bool rerun = e->kind == E_RUN && (e->t.wrote || e->t.db_lost);
        char why[512];

        for (;;) {
            int rc;

            if (e->kind == E_SKIP || (e->kind == E_DEAD && !dead_has_row(e)))
                break;
            if (!store_is_ok(g->db) && !engine_db_connect(g))
                return false;
            g->effects_lost = false;
            if (rerun && e->kind == E_RUN) {
                /* Its writes went with the failed batch: this entry alone,
                 * in a transaction of its own (others wait for their turn). */
                run_again(g, e);
                if (g->effects_lost) {
                    if (store_is_ok(g->db) && store_in_transaction(g->db))
                        store_rollback(g->db);
                    if (!db_trouble(g, "running a task again"))
                        return false;
                    continue;
                }
            }
            rc = write_finals(g, i, i + 1);
            if (rc == STORE_OK)
                break;
            if (rc != STORE_BAD_DATA) {
                if (!db_trouble(g, "writing a task's final state"))
                    return false;
                continue;
            }
            /* The rollback clears the connection's message. */
            snprintf(why, sizeof why, "%s", store_error_message(g->db));
            if (store_is_ok(g->db) && store_in_transaction(g->db))
                store_rollback(g->db);
            log_task(LL_ERROR, e->m.id, "PostgreSQL refused the final state: %s", why);
            if (e->kind == E_RUN && (e->ok || e->t.nlogs > 0)) {
                /* Drop what the handler produced: result, log lines, writes. */
                e->ok = false;
                task_logs_truncate(&e->t, 0);
                rerun = false;
                task_fail(&e->t, "EncodeError",
                          "%s: PostgreSQL refused the task's result, log lines or writes: %s",
                          e->m.task, why);
                cJSON_free(e->result_json);
                e->result_json = task_failure_meta(&e->t);
            } else {
                make_dead(e, "PostgreSQL refused the task's final state");
                free(e->m.id); /* no row for it: dead-letter only */
                e->m.id = NULL;
            }
        }
    }
    g->effects_lost = false;
    return true;
}

/* Dead-letter every E_DEAD entry. 0, or -1 when the broker connection failed
 * (the batch stays unacked and comes back). */
static int
dead_letter_all(struct engine *g)
{
    for (int i = 0; i < g->n; i++) {
        struct entry *e = &g->e[i];
        int attempt;

        if (!e->letter || e->lettered || e->settled)
            continue;
        restore_wire(e);
        log_task(LL_WARN, e->m.id, "dead-lettering message from %s: %s", e->d.routing_key,
                 e->reason ? e->reason : "");
        for (attempt = 0; attempt < 3; attempt++) {
            if (broker_dead_letter(g->b, &e->d, e->reason ? e->reason : "", g->cfg->nodename) == 0) {
                e->lettered = true;
                break;
            }
            if (!broker_is_open(g->b))
                return -1;
            clock_sleep(0.2 * (attempt + 1), NULL); /* a nack: RabbitMQ's own trouble */
        }
        if (attempt == 3) {
            /* Neither acked nor rejected, it would stall this child for good. */
            log_task(LL_ERROR, e->m.id,
                     "%s refused the dead letter %d times: rejecting the message without "
                     "requeue (its row says why it failed)",
                     BROKER_DEAD_QUEUE, attempt);
            if (broker_drop(g->b, e->d.tag) < 0)
                return -1;
            e->settled = true;
        }
    }
    return 0;
}

/* Give back to the queue the entries that were taken but never run (the
 * child is stopping): neither their final state nor their ack is ours. */
static void
requeue_unrun(struct engine *g)
{
    for (int i = 0; i < g->n; i++) {
        struct entry *e = &g->e[i];
        if (e->kind == E_RUN && !e->ran && !e->settled) {
            if (broker_requeue(g->b, e->d.tag) == 0)
                e->settled = true;
            e->kind = E_SKIP; /* no row written for it either way */
        }
    }
}

int
engine_flush(struct engine *g)
{
    uint64_t ack = 0;
    int done = 0, failed = 0;

    if (g->n == 0)
        return 0;
    requeue_unrun(g);
    /* Copies first, rows second: a redelivery after the commit finds the
     * FAILURE row and is acked without another copy. */
    if (dead_letter_all(g) < 0)
        return -1;
    for (;;) {
        int rc;

        if (!recover(g))
            return -1;
        rc = write_finals(g, 0, g->n);
        if (rc == STORE_OK)
            break;
        g->effects_lost = true;
        if (rc == STORE_BAD_DATA) {
            log_debug("PostgreSQL refused a value of the batch (%s): writing its tasks one by one",
                      store_error_message(g->db));
            if (store_in_transaction(g->db))
                store_rollback(g->db);
            g->effects_lost = false;
            if (!write_one_by_one(g))
                return -1;
            break;
        }
        if (store_is_ok(g->db) && !db_trouble(g, "committing a batch"))
            return -1;
    }
    db_recovered(g);
    if (dead_letter_all(g) < 0) /* those the one-by-one fallback made dead */
        return -1;
    for (int i = 0; i < g->n; i++) {
        struct entry *e = &g->e[i];
        if (!e->settled && e->d.tag > ack)
            ack = e->d.tag;
        if (e->kind == E_RUN || e->kind == E_DEAD) {
            done++;
            failed += e->kind == E_DEAD || (!e->ok && !e->retry);
        }
    }
    /* Every delivery before the last one of the batch is in the batch or
     * settled: one multiple-ack covers exactly the batch. */
    if (ack > 0 && broker_ack(g->b, ack, true) < 0)
        return -1;
    report(g, 'B', done, failed);
    engine_discard(g);
    if (done >= TRIM_AFTER)
        malloc_trim(0); /* give a big batch's memory back: children idle most of their life */
    return 0;
}

/* ----- the step ----- */

/* Give entries [from, n) back to the queue and forget them. */
static void
requeue_from(struct engine *g, int from)
{
    for (int i = from; i < g->n; i++) {
        broker_requeue(g->b, g->e[i].d.tag);
        entry_fini(&g->e[i]);
    }
    g->n = from;
}

/* Another run of e's task goes on (its message came back while it runs:
 * the first run's connection died, or consumer_timeout passed): park the
 * copy in scheduled_tasks for PARK_S, then ack it. When it comes back, the
 * row is final (skipped) or the first run died (its master dropped the
 * lease, or the lease ran out: it runs). false when asked to stop meanwhile. */
static bool
park(struct engine *g, struct entry *e)
{
    struct store_task none = {.id = e->m.id}; /* no row change: the first run owns it */
    int rc;

    if (!schedule(e, clock_wall() + PARK_S, e->m.retries)) {
        make_dead(e, "out of memory while parking the task");
        return true;
    }
    while ((rc = store_schedule(g->db, &none, e->rec.queue, &e->sched)) != STORE_OK) {
        if (!store_is_ok(g->db) ? !engine_db_connect(g) : !db_trouble(g, "parking a task"))
            return false;
    }
    log_task(LL_WARN, e->m.id, "delivered again while its first run goes on: parked for %.0f s",
             PARK_S);
    e->kind = E_SKIP;
    return true;
}

static int run_marked(struct engine *g, struct entry *e, int rc);

/* Entry i is not quick: commit the batch before it, pause the consumers,
 * give back every delivery prefetched behind it, mark it STARTED, run it
 * alone, commit, resume. */
static int
run_alone(struct engine *g, int i)
{
    struct broker_delivery d;
    char id[UUID_STR_LEN];
    struct entry *e;
    int r, rc;

    if (broker_pause(g->b) < 0)
        return -1;
    requeue_from(g, i + 1);
    /* Deliveries that crossed the cancel on the wire, read or still queued
     * in rabbitmq-c behind other frames. */
    while ((r = broker_next(g->b, &d, 0)) == 1 || (r == 0 && broker_pending(g->b))) {
        if (r == 1) {
            broker_requeue(g->b, d.tag);
            broker_delivery_fini(&d);
        }
    }
    if (r < 0)
        return -1;
    if (i > 0) {
        /* Commit the tasks before it; it moves to the front of a batch of its own. */
        struct entry alone = g->e[i];
        g->n = i;
        if (engine_flush(g) < 0) {
            g->e[g->n++] = alone; /* still unacked: discarded with the rest */
            return -1;
        }
        g->e[0] = alone;
        g->n = 1;
    }
    e = &g->e[0];
    for (double busy_since = 0;;) {
        rc = store_task_started(g->db, &e->rec, g->cfg->nodename, (int)getpid());
        if (rc == STORE_BUSY && !*g->stop &&
            (busy_since == 0 || clock_mono() - busy_since < LEASE_WAIT_S)) {
            /* The lease of a child that died running it is dropped by its
             * master as it reaps it, often a moment after RabbitMQ gave the
             * message to us: look again before parking the copy. */
            if (busy_since == 0)
                busy_since = clock_mono();
            broker_keepalive_start(g->b);
            clock_sleep(0.2, g->stop);
            broker_keepalive_stop(g->b);
            continue;
        }
        if (rc >= 0 || rc == STORE_BUSY)
            break;
        if (rc == STORE_BAD_DATA) {
            make_dead(e, "the database refused the task's arguments");
            break;
        }
        if (!store_is_ok(g->db) ? !engine_db_connect(g) : !db_trouble(g, "marking a task STARTED"))
            return -1;
    }
    snprintf(id, sizeof id, "%s", e->m.id != NULL ? e->m.id : "");
    rc = run_marked(g, e, rc); /* e goes with the batch's flush */
    /* Whatever happened, after the final state's commit: the lease is this
     * run's only (store_task_unlock() leaves another child's alone). */
    if (id[0] != '\0' && store_is_ok(g->db) && !store_in_transaction(g->db))
        store_task_unlock(g->db, id, g->cfg->nodename, (int)getpid());
    if (rc < 0)
        return -1;
    if (*g->stop)
        return 0;
    /* A pause that came while it ran holds when the consumers start again. */
    if (follow_pauses(g, true) < 0)
        return -1;
    return broker_resume(g->b);
}

/* The rest of run_alone(), once the STARTED mark answered rc. */
static int
run_marked(struct engine *g, struct entry *e, int rc)
{
    if (rc == 0) {
        log_task(LL_INFO, e->m.id, "already finished: acked without running it again");
        e->kind = E_SKIP;
    } else if (rc == STORE_BUSY && !park(g, e)) {
        return -1;
    }
    g->effects_lost = false; /* the batch holds this task alone, not run yet */
    if (e->kind == E_RUN) {
        log_task(LL_DEBUG, e->m.id, "%s started", e->m.task);
        broker_keepalive_start(g->b); /* heartbeats go on while it runs */
        run_entry(g, e);
        broker_keepalive_stop(g->b);
        /* Connection lost meanwhile: its outcome still commits below, so the
         * redelivered message finds the row final and is not run again. */
    }
    return engine_flush(g);
}

int
engine_step(struct engine *g, int timeout_ms)
{
    struct broker_delivery d;
    /* Half the prefetch window per batch: while one batch commits, RabbitMQ
     * already delivers the next into the other half. */
    int from = g->n, max = g->cfg->prefetch > 1 ? g->cfg->prefetch / 2 : 1, r, given_back = 0;

    if (g->retire) /* --max-tasks-per-child, --max-memory-per-child: no more */
        return engine_flush(g) < 0 && !broker_is_open(g->b) ? -1 : 0;
    /* A queue paused meanwhile loses its consumer before anything is taken. */
    if (follow_pauses(g, false) < 0)
        return -1;
    if (g->cfg->max_tasks_per_child > 0) {
        long left = g->cfg->max_tasks_per_child - g->tasks_run;
        if (from + left < max)
            max = from + (int)(left > 0 ? left : 1);
    }

    /* Take what is ready: the first wait may block, the rest never do. */
    while (g->n < max) {
        r = broker_next(g->b, &d, g->n == from && g->n == 0 ? timeout_ms : 0);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (d.queue != NULL && strset_has(&g->paused, d.queue)) {
            /* Prefetched before the pause reached this child: back to its
             * queue, where it waits for the resume. */
            broker_requeue(g->b, d.tag);
            broker_delivery_fini(&d);
            if (++given_back >= max)
                break; /* its consumer is gone, so this ends; never spin regardless */
            continue;
        }
        if (!take(g, &d)) {
            broker_requeue(g->b, d.tag); /* out of memory: let someone else try */
            broker_delivery_fini(&d);
            break;
        }
    }
    if (g->n == from) /* nothing more is ready: the batch closes */
        return engine_flush(g) < 0 && !broker_is_open(g->b) ? -1 : 0;
    if (!skip_finished(g, from))
        return 0; /* stopping with the database away: engine_flush() gives them back */
    poll_signals(g, SIGNALS_BEFORE_BATCH_S);
    for (int i = from; i < g->n; i++) {
        struct entry *e = &g->e[i];
        if (e->kind == E_RUN)
            classify(g, e);
        if (e->kind != E_RUN)
            continue;
        if (!e->def->quick)
            return run_alone(g, i) < 0 && !broker_is_open(g->b) ? -1 : 0;
        run_entry(g, e);
    }
    if (g->n >= max || (g->first_done > 0 && clock_mono() - g->first_done >= ENGINE_WINDOW_S))
        return engine_flush(g) < 0 && !broker_is_open(g->b) ? -1 : 0;
    return 0;
}
