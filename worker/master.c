/* worker/master.c - the master: forks --concurrency children, respawns those
 * that die, counts their work for the heartbeat, and shuts down warmly on
 * SIGTERM (children finish their task) or coldly on a second signal.
 * Runs in: master only. master_ functions never consume tasks. */
#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/broker.h"
#include "client/producer.h"
#include "client/scheduler.h"
#include "common/json.h"
#include "common/clock.h"
#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"
#include "worker/registry.h"

#define HEARTBEAT_S 5.0
#define SWEEP_MAX_S 10.0  /* the sweeper looks at least this often */
#define SWEEP_LIMIT 500   /* rows one sweep publishes at most */
#define RESPAWN_MAX_S 30.0
/* A child SIGKILLed from outside (an operator, the OOM killer) is not crash-
 * looping on its own: its replacement waits at most this long. */
#define KILLED_RESPAWN_MAX_S 1.0
#define STABLE_S 5.0 /* a child that lived this long is not crash-looping */
#define TICK_S 0.1   /* how often the master looks at its children's deadlines */
#define SCHEDULE_EVERY_S 0.25 /* how often the scheduler looks for due tasks */
#define SCHEDULE_LIMIT 500    /* schedules one round publishes at most */
#define SCHEDULE_BUDGET_S 0.5 /* rounds in a row, then back to the children */
/* How often the master reads new revocations (polled, not LISTENed: it
 * works behind PgBouncer in transaction mode): a revoke with terminate
 * reaches a running task within this, plus the 2 s grace. */
#define SIGNALS_EVERY_S 0.5
#define SIGNALS_READ_MAX 1000 /* revocations one read takes at most */

struct slot {
    int index;
    pid_t pid;             /* 0: not running */
    int report_fd;         /* read end of the child's pipe, -1 when closed */
    double started;        /* clock_mono() at fork */
    double respawn_at;     /* when to fork again after a death */
    int quick_deaths;      /* deaths in a row within STABLE_S: back-off exponent */
    bool worked;           /* committed a batch since it started: not crash-looping */
    struct slot_state *shared; /* what the child runs now (worker.h) */
    unsigned soft_sent;    /* the run whose soft limit was signalled */
    unsigned kill_run;     /* revoked with terminate: the run to kill at kill_at */
    double kill_at;        /* clock_mono(), 0: none */
    const char *killed_for; /* the master killed it: "hard_limit", "revoked"; NULL otherwise */
    long rss_kib;          /* last sampled RSS */
};

struct master {
    const struct worker_cfg *cfg;
    struct slot *slots;
    PGconn *db;
    char *registered;          /* registry_json(): written with each heartbeat */
    struct producer *sweeper;  /* publishes again what was never confirmed */
    struct scheduler *scheduler; /* publishes due schedules, fires periodic tasks */
    struct slot_state *shared; /* one per slot, mapped shared before any fork */
    struct store_signals signals; /* how far the revocations were read */
    long processed, failed;
    bool stopping; /* warm: children finish their task */
    bool cold;     /* children were SIGKILLed */
};

static int signal_pipe[2] = {-1, -1}; /* self-pipe: handlers only write a byte */
static volatile sig_atomic_t term_signals;
static volatile sig_atomic_t quit_signal; /* SIGQUIT: cold shutdown at once */

static void
on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (sig == SIGTERM || sig == SIGINT)
        term_signals++;
    if (sig == SIGQUIT)
        quit_signal = 1;
    if (write(signal_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a wake-up is already pending. */
    }
    errno = saved;
}

static int
install_signals(void)
{
    struct sigaction sa = {0};

    if (pipe2(signal_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return 0;
}

/* Fork slot s's child: returns its pid here, never returns in the child. */
static pid_t
spawn(struct master *m, struct slot *s)
{
    sigset_t all, old;
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        log_error("pipe for child.%d: %s", s->index, strerror(errno));
        return -1;
    }
    sigfillset(&all); /* blocked across fork() until child_main() installs its handlers */
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0) {
        /* The master's connections are not ours: drop the sockets without
         * speaking on them (PQfinish would end the master's session). */
        if (m->db != NULL)
            close(PQsocket(m->db));
        close(signal_pipe[0]);
        close(signal_pipe[1]);
        close(fds[0]);
        for (int i = 0; i < m->cfg->concurrency; i++)
            if (m->slots[i].report_fd >= 0)
                close(m->slots[i].report_fd);
        child_main(m->cfg, s->index, s->shared, fds[1], &old);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (pid < 0) {
        log_error("fork child.%d: %s", s->index, strerror(errno));
        close(fds[0]);
        return -1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    s->pid = pid;
    s->report_fd = fds[0];
    s->started = clock_mono();
    s->worked = false;
    log_debug("child.%d started as pid %ld", s->index, (long)pid);
    return pid;
}

static void
read_reports(struct master *m, struct slot *s)
{
    struct child_report r;
    ssize_t n;

    while ((n = read(s->report_fd, &r, sizeof r)) == (ssize_t)sizeof r) {
        if (r.kind == 'B') {
            s->worked = true;
            m->processed += r.n;
            m->failed += r.failed;
        }
    }
    if (n == 0) { /* the child closed its end: it is exiting */
        close(s->report_fd);
        s->report_fd = -1;
    }
}

static struct slot *
slot_of(struct master *m, pid_t pid)
{
    for (int i = 0; i < m->cfg->concurrency; i++)
        if (m->slots[i].pid == pid)
            return &m->slots[i];
    return NULL;
}

/* A consistent copy of what slot s's child runs now (sequence lock). When
 * the child keeps writing (or died mid-write), an idle slot: never a torn one. */
static void
snapshot(const struct slot *s, struct slot_state *out)
{
    for (int tries = 0; tries < 1000; tries++) {
        unsigned a = atomic_load_explicit(&s->shared->seq, memory_order_acquire);
        if (a % 2 == 0) {
            memcpy((void *)((char *)out + sizeof out->seq),
                   (const char *)s->shared + sizeof out->seq, sizeof *out - sizeof out->seq);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&s->shared->seq, memory_order_relaxed) == a) {
                out->task[UUID_STR_LEN - 1] = '\0';
                out->name[sizeof out->name - 1] = '\0';
                return;
            }
        }
    }
    memset((char *)out + sizeof out->seq, 0, sizeof *out - sizeof out->seq);
    out->task[UUID_STR_LEN - 1] = '\0';
    out->name[sizeof out->name - 1] = '\0';
}

static long
rss_kib_of(pid_t pid)
{
    char path[64];
    long pages = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    if (fscanf(f, "%*d %ld", &pages) != 1)
        pages = -1;
    fclose(f);
    return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Reconnect the master's own connection when it broke. */
static bool
db_ok(struct master *m)
{
    char err[512];

    if (store_is_ok(m->db))
        return true;
    store_close(m->db);
    m->db = store_open(m->cfg->database_url, "celeriac-master", err, sizeof err);
    return m->db != NULL;
}

/* The child of s died running task (a copy of its slot): count the loss
 * against the task, so that its redelivery can tell it killed children
 * before (--max-deliveries). */
static void
record_loss(struct master *m, const struct slot *s, const struct slot_state *task, int sig)
{
    char reason[200];
    int lost;

    if (s->rss_kib > 0)
        snprintf(reason, sizeof reason, "killed by signal %d, RSS %.0f MB", sig,
                 s->rss_kib / 1024.0);
    else
        snprintf(reason, sizeof reason, "killed by signal %d", sig);
    if (!db_ok(m) || (lost = store_task_lost(m->db, task->task, task->name, m->cfg->nodename,
                                             reason)) < 0) {
        log_task(LL_WARN, task->task, "cannot record that its child was lost: %s",
                 m->db ? store_error_message(m->db) : "no database");
        return;
    }
    log_task(LL_WARN, task->task, "child.%d %s running it (%d time%s%s)", s->index, reason, lost,
             lost == 1 ? "" : "s",
             lost >= m->cfg->max_deliveries ? ": it will not run again" : ": it will be redelivered");
}

static void
reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct slot *s = slot_of(m, pid);
        struct slot_state task;
        double lived;

        if (s == NULL)
            continue;
        if (s->report_fd >= 0) {
            read_reports(m, s);
            if (s->report_fd >= 0)
                close(s->report_fd);
            s->report_fd = -1;
        }
        snapshot(s, &task);
        lived = clock_mono() - s->started;
        s->pid = 0;
        /* Its run is over: a copy of its long task's message may run now
         * (else the lease runs out by itself, STORE_LEASE_S). Reconnecting
         * only for a child that died running a task, not in a cold shutdown:
         * one that retired or stopped idle holds no lease but by a rare race. */
        if (task.task[0] != '\0' && !m->cold ? db_ok(m) : store_is_ok(m->db))
            store_leases_drop(m->db, m->cfg->nodename, (int)pid);
        if (WIFSIGNALED(status)) {
            if (s->killed_for != NULL)
                log_info("child.%d (pid %ld) killed: %s", s->index, (long)pid, s->killed_for);
            else if (task.task[0] != '\0' && !m->cold)
                record_loss(m, s, &task, WTERMSIG(status));
            else
                log_info("child.%d (pid %ld) killed by signal %d", s->index, (long)pid,
                         WTERMSIG(status));
        } else if (WEXITSTATUS(status) != 0 || !m->stopping) {
            log_info("child.%d (pid %ld) exited with status %d%s", s->index, (long)pid,
                     WEXITSTATUS(status),
                     WEXITSTATUS(status) == 0 ? " (retired: max tasks or memory)" : "");
        }
        /* A fresh slot for the next child: even seq (this one may have died
         * mid-write), run from 0, so no soft-limit signal is remembered. */
        memset((char *)s->shared + sizeof s->shared->seq, 0,
               sizeof *s->shared - sizeof s->shared->seq);
        atomic_store(&s->shared->seq, 0);
        s->soft_sent = 0;
        s->kill_at = 0;
        if (m->stopping)
            continue;
        /* A retired child (exit 0) or one the master killed is replaced at
         * once; a crash within STABLE_S of its start backs off. */
        if ((WIFEXITED(status) && WEXITSTATUS(status) == 0) || s->killed_for != NULL)
            s->quick_deaths = 0;
        else
            s->quick_deaths = lived < STABLE_S && !s->worked ? s->quick_deaths + 1 : 0;
        s->killed_for = NULL;
        s->respawn_at = clock_mono();
        if (s->quick_deaths > 0) {
            double delay = 0.5 * (double)(1 << (s->quick_deaths < 7 ? s->quick_deaths : 7));
            double cap = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? KILLED_RESPAWN_MAX_S
                                                                             : RESPAWN_MAX_S;
            s->respawn_at += delay < cap ? delay : cap;
            log_warn("child.%d died after %.1f s: respawning in %.1f s", s->index, lived,
                     s->respawn_at - clock_mono());
        }
    }
}

/* Hard limit: kill the child and fail its task here (its message comes back
 * and finds the row final). Soft limit: signal the run it is meant for. */
static void
enforce_limits(struct master *m)
{
    double now = clock_mono();

    for (int i = 0; i < m->cfg->concurrency; i++) {
        struct slot *s = &m->slots[i];
        struct slot_state t;

        if (s->pid <= 0 || s->killed_for != NULL)
            continue;
        snapshot(s, &t);
        if (s->kill_at > 0 && now >= s->kill_at) {
            s->kill_at = 0;
            if (t.task[0] != '\0' && t.run == s->kill_run) {
                log_task(LL_INFO, t.task, "revoked with terminate and still running after %.0f s:"
                         " killing child.%d (pid %ld)", REVOKE_GRACE_S, s->index, (long)s->pid);
                kill(s->pid, SIGKILL);
                s->killed_for = "revoked";
                continue;
            }
        }
        if (t.task[0] == '\0')
            continue;
        if (t.hard_at > 0 && now >= t.hard_at) {
            struct slot_state again;
            char error[256];
            snprintf(error, sizeof error, "TimeLimitExceeded: hard time limit (%g s) exceeded",
                     t.hard_limit);
            /* FAILURE first: the kill sends the message back to the queue at
             * once, and its next taker must find the row final. */
            if (!db_ok(m) || store_task_end(m->db, t.task, t.name, m->cfg->nodename, "FAILURE",
                                            error, "hard_limit") != STORE_OK) {
                /* Killed all the same: a runaway must stop. It will run again. */
                log_task(LL_WARN, t.task, "%s; its FAILURE cannot be recorded now", error);
            }
            snapshot(s, &again);
            if (again.run != t.run) {
                /* It finished meanwhile: its own final state is already there or
                 * comes with its batch (a final row is never overwritten). */
                continue;
            }
            log_task(LL_WARN, t.task, "%s: killing child.%d (pid %ld)", error, s->index,
                     (long)s->pid);
            kill(s->pid, SIGKILL);
            s->killed_for = "hard_limit";
        } else if (t.soft_at > 0 && now >= t.soft_at && s->soft_sent != t.run) {
            union sigval v = {.sival_int = (int)t.run};
            s->soft_sent = t.run;
            log_task(LL_INFO, t.task, "soft time limit passed: asking child.%d to stop it",
                     s->index);
            sigqueue(s->pid, SOFT_LIMIT_SIGNAL, v);
        }
    }
}

/* Task id was revoked: ask the child running it to stop; with terminate,
 * kill that child unless it did within REVOKE_GRACE_S (its row is REVOKED
 * already; the redelivered message finds it final). */
static void
on_revocation(struct master *m, const char *id, bool terminate)
{
    for (int i = 0; id != NULL && i < m->cfg->concurrency; i++) {
        struct slot *s = &m->slots[i];
        struct slot_state t;
        union sigval v;

        if (s->pid <= 0 || s->killed_for != NULL)
            continue;
        snapshot(s, &t);
        if (strcasecmp(t.task, id) != 0)
            continue;
        /* Its row is REVOKED: whatever it still does will not count, so ask
         * it to stop now (a scrape stops at its next progress callback). */
        v.sival_int = (int)t.run;
        sigqueue(s->pid, CANCEL_SIGNAL, v);
        if (terminate) {
            log_task(LL_INFO, id, "revoked with terminate: child.%d (pid %ld) asked to stop, "
                     "killed unless it does within %.0f s", s->index, (long)s->pid,
                     REVOKE_GRACE_S);
            s->kill_run = t.run;
            s->kill_at = clock_mono() + REVOKE_GRACE_S;
        } else {
            log_task(LL_INFO, id, "revoked while running: child.%d asked to stop it", s->index);
        }
    }
}

/* Read the revocations made since the last read (store_signals_poll()) and
 * act on those of running tasks. A failed read is tried again next time
 * (the heartbeat reconnects a broken connection). */
static void
poll_revocations(struct master *m)
{
    const cJSON *r;
    cJSON *o;
    int rc;

    if (!store_is_ok(m->db))
        return;
    if ((o = store_signals_poll(m->db, &m->signals, SIGNALS_READ_MAX, false, &rc)) == NULL) {
        log_debug("reading revocations: %s", store_error_message(m->db));
        return;
    }
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(o, "revoked"))
        on_revocation(m, json_str(r, "id"),
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "terminate")));
    cJSON_Delete(o);
}

static void
signal_children(struct master *m, int sig)
{
    for (int i = 0; i < m->cfg->concurrency; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
}

static int
live_children(const struct master *m)
{
    int n = 0;

    for (int i = 0; i < m->cfg->concurrency; i++)
        n += m->slots[i].pid > 0;
    return n;
}

static void
heartbeat(struct master *m)
{
    cJSON *active = cJSON_CreateArray();
    double now = clock_mono();
    long rss = rss_kib_of(getpid());
    char *active_json;
    int nactive = 0, npids = 0;
    int *pids = malloc(sizeof *pids * (size_t)m->cfg->concurrency); /* whose leases to renew */

    for (int i = 0; i < m->cfg->concurrency; i++) {
        struct slot *s = &m->slots[i];
        struct slot_state t;
        cJSON *o;

        if (s->pid <= 0)
            continue;
        if (pids != NULL)
            pids[npids++] = (int)s->pid;
        s->rss_kib = rss_kib_of(s->pid);
        rss += s->rss_kib > 0 ? s->rss_kib : 0;
        snapshot(s, &t);
        if (t.task[0] == '\0')
            continue;
        nactive++;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", t.task);
        cJSON_AddStringToObject(o, "name", t.name);
        cJSON_AddNumberToObject(o, "child", s->index);
        cJSON_AddNumberToObject(o, "pid", s->pid);
        cJSON_AddNumberToObject(o, "running_s", now - t.started);
        cJSON_AddItemToArray(active, o);
    }
    active_json = json_print(active);
    cJSON_Delete(active);
    if (!db_ok(m)) {
        log_warn("heartbeat skipped: PostgreSQL is unreachable");
    } else {
        if (store_worker_heartbeat(m->db, m->cfg->nodename, (int)getpid(), m->cfg->concurrency,
                                   m->cfg->queues, m->processed, m->failed, nactive,
                                   m->registered, active_json, rss) != STORE_OK)
            log_warn("heartbeat not written");
        if (npids > 0 && store_leases_renew(m->db, m->cfg->nodename, pids, npids) != STORE_OK)
            log_warn("the leases of long tasks were not renewed");
    }
    free(pids);
    cJSON_free(active_json);
}

/* Wait for PostgreSQL and check the schema. 1 ready, 0 stop requested, -1 the
 * schema is too old (do not start). */
static int
wait_for_database(struct master *m)
{
    double wait = 0.5;
    char err[512];
    cJSON *o;
    int rc;

    while (term_signals == 0) {
        m->db = store_open(m->cfg->database_url, "celeriac-master", err, sizeof err);
        if (m->db != NULL) {
            if (migrate_check(m->db, err, sizeof err) < 0) {
                log_error("%s", err);
                return -1;
            }
            /* Only revocations from now on matter to the master: their seq
             * (limit 0: none of the older ones). */
            m->signals = (struct store_signals){.seq = -1, .pauses_seq = -1};
            if ((o = store_signals_poll(m->db, &m->signals, 0, false, &rc)) != NULL) {
                cJSON_Delete(o);
                return 1;
            }
            snprintf(err, sizeof err, "reading revocations: %s", store_error_message(m->db));
            store_close(m->db);
            m->db = NULL;
        }
        log_warn("%s (retrying in %.1f s)", err, wait);
        clock_sleep(wait, &term_signals);
        wait = wait * 2 < 10 ? wait * 2 : 10;
    }
    return 0;
}

/* Declare exchanges and queues once, so tasks published before any child is
 * up are routed. Children declare what they consume themselves too. */
static void
declare_topology(const struct master *m)
{
    char err[512];
    struct broker *b = broker_open(m->cfg->amqp_url, "celeriac-master", err, sizeof err);

    if (b == NULL) {
        log_warn("%s: the children will keep trying", err);
        return;
    }
    if (broker_declare_topology(b) < 0)
        log_warn("declaring the topology failed: the children will keep trying");
    broker_close(b);
}

int
master_run(const struct worker_cfg *cfg)
{
    struct master m = {.cfg = cfg};
    double next_heartbeat = 0, next_sweep = 0, next_schedule = 0, next_signals = 0;
    double sweep_every = cfg->republish_after / 2.0 < SWEEP_MAX_S ? cfg->republish_after / 2.0
                                                                  : SWEEP_MAX_S;
    int rc;

    if (install_signals() < 0) {
        log_error("signal pipe: %s", strerror(errno));
        return 1;
    }
    rc = wait_for_database(&m);
    if (rc <= 0) {
        store_close(m.db);
        return rc < 0 ? 1 : 0;
    }
    declare_topology(&m);
    m.slots = calloc((size_t)cfg->concurrency, sizeof *m.slots);
    m.shared = mmap(NULL, sizeof *m.shared * (size_t)cfg->concurrency, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m.shared == MAP_FAILED)
        m.shared = NULL;
    m.scheduler = scheduler_new(cfg->amqp_url, cfg->database_url, "celeriac-scheduler",
                                cfg->cron_seconds);
    m.registered = registry_json();
    m.sweeper = producer_new(cfg->amqp_url, cfg->database_url, "celeriac-sweeper", 10000);
    if (m.slots == NULL || m.shared == NULL || m.registered == NULL || m.sweeper == NULL ||
        m.scheduler == NULL) {
        store_close(m.db);
        return 1;
    }
    next_sweep = clock_mono() + sweep_every;
    for (int i = 0; i < cfg->concurrency; i++) {
        m.slots[i].index = i + 1;
        m.slots[i].report_fd = -1;
        m.slots[i].shared = &m.shared[i];
    }
    log_info("%s: %d children, queues %s, prefetch %d", cfg->nodename, cfg->concurrency,
             cfg->queues, cfg->prefetch);

    for (;;) {
        struct pollfd pfd[1 + 1024];
        int n = 0;
        char drain[64];
        double now = clock_mono(), timeout = 1.0;

        if ((quit_signal || (term_signals >= 2 && m.stopping)) && !m.cold) {
            m.cold = m.stopping = true;
            log_warn("%s: cold shutdown, running tasks return to their queues",
                     quit_signal ? "SIGQUIT" : "second signal");
            signal_children(&m, SIGKILL);
        } else if (term_signals >= 1 && !m.stopping) {
            log_info("warm shutdown: waiting for running tasks to finish");
            m.stopping = true;
            signal_children(&m, SIGTERM);
        }
        reap(&m);
        if (m.stopping && live_children(&m) == 0)
            break;
        enforce_limits(&m);
        if (now >= next_signals) {
            poll_revocations(&m);
            next_signals = now + SIGNALS_EVERY_S;
        }
        for (int i = 0; !m.stopping && i < cfg->concurrency; i++) {
            struct slot *s = &m.slots[i];
            if (s->pid == 0 && s->respawn_at <= now)
                spawn(&m, s);
            if (s->pid == 0 && s->respawn_at - now < timeout)
                timeout = s->respawn_at - now;
        }
        if (now >= next_heartbeat) {
            heartbeat(&m);
            next_heartbeat = now + HEARTBEAT_S;
        }
        if (now >= next_sweep && !m.stopping) {
            /* Several masters may sweep at once: rows are locked, SKIP LOCKED. */
            producer_sweep(m.sweeper, cfg->republish_after, SWEEP_LIMIT);
            next_sweep = clock_mono() + sweep_every;
        }
        if (now >= next_schedule && !m.stopping) {
            /* Due schedules (ETA, retries) and periodic runs: any number of
             * masters may do this at once (rows are locked, SKIP LOCKED). */
            double budget = clock_mono() + SCHEDULE_BUDGET_S;
            scheduler_fire_periodic(m.scheduler, SCHEDULE_LIMIT);
            while (scheduler_publish_due(m.scheduler, SCHEDULE_LIMIT) == SCHEDULE_LIMIT &&
                   clock_mono() < budget)
                ; /* a backlog drains over several rounds: limits and reaping go on */
            next_schedule = clock_mono() + SCHEDULE_EVERY_S;
        }
        if (next_sweep - now < timeout)
            timeout = next_sweep - now;
        if (timeout > TICK_S)
            timeout = TICK_S; /* deadlines in the children's slots need a look */
        pfd[n++] = (struct pollfd){.fd = signal_pipe[0], .events = POLLIN};
        for (int i = 0; i < cfg->concurrency && n < (int)(sizeof pfd / sizeof pfd[0]); i++)
            if (m.slots[i].report_fd >= 0)
                pfd[n++] = (struct pollfd){.fd = m.slots[i].report_fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, timeout > 0 ? (int)(timeout * 1000) + 1 : 0) > 0) {
            while (read(signal_pipe[0], drain, sizeof drain) > 0)
                ;
            for (int i = 0; i < cfg->concurrency; i++)
                if (m.slots[i].report_fd >= 0)
                    read_reports(&m, &m.slots[i]);
        }
    }
    /* Reconnect if PostgreSQL restarted meanwhile: the row must say stopped. */
    if (db_ok(&m)) {
        heartbeat(&m);
        store_worker_stopped(m.db, cfg->nodename);
    }
    store_close(m.db);
    producer_free(m.sweeper);
    scheduler_free(m.scheduler);
    munmap(m.shared, sizeof *m.shared * (size_t)cfg->concurrency);
    cJSON_free(m.registered);
    free(m.slots);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    log_info("stopped: %ld tasks processed, %ld failed", m.processed, m.failed);
    return 0;
}
