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
#include <sys/wait.h>
#include <unistd.h>

#include "broker/broker.h"
#include "client/producer.h"
#include "common/clock.h"
#include "common/log.h"
#include "sql/migrate.h"
#include "sql/store.h"
#include "worker/registry.h"

#define HEARTBEAT_S 5.0
#define SWEEP_MAX_S 10.0  /* the sweeper looks at least this often */
#define SWEEP_LIMIT 500   /* rows one sweep publishes at most */
#define RESPAWN_MAX_S 30.0
#define STABLE_S 5.0 /* a child that lived this long is not crash-looping */

struct slot {
    int index;
    pid_t pid;             /* 0: not running */
    int report_fd;         /* read end of the child's pipe, -1 when closed */
    double started;        /* clock_mono() at fork */
    double respawn_at;     /* when to fork again after a death */
    int quick_deaths;      /* deaths in a row within STABLE_S: back-off exponent */
    char task[UUID_STR_LEN]; /* the task it runs now, "" when idle */
};

struct master {
    const struct worker_cfg *cfg;
    struct slot *slots;
    PGconn *db;
    char *registered;          /* registry_json(): written with each heartbeat */
    struct producer *sweeper;  /* publishes again what was never confirmed */
    long processed, failed;
    bool stopping; /* warm: children finish their task */
    bool cold;     /* children were SIGKILLed */
};

static int signal_pipe[2] = {-1, -1}; /* self-pipe: handlers only write a byte */
static volatile sig_atomic_t term_signals;

static void
on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    if (sig == SIGTERM || sig == SIGINT)
        term_signals++;
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
        child_main(m->cfg, s->index, fds[1], &old);
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
    s->task[0] = '\0';
    log_debug("child.%d started as pid %ld", s->index, (long)pid);
    return pid;
}

static void
read_reports(struct master *m, struct slot *s)
{
    struct child_report r;
    ssize_t n;

    while ((n = read(s->report_fd, &r, sizeof r)) == (ssize_t)sizeof r) {
        r.id[UUID_STR_LEN - 1] = '\0';
        if (r.kind == 'S') {
            memcpy(s->task, r.id, sizeof s->task);
        } else if (r.kind == 'B') {
            s->task[0] = '\0';
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

static void
reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct slot *s = slot_of(m, pid);
        double lived;

        if (s == NULL)
            continue;
        if (s->report_fd >= 0) {
            read_reports(m, s);
            if (s->report_fd >= 0)
                close(s->report_fd);
            s->report_fd = -1;
        }
        lived = clock_mono() - s->started;
        s->pid = 0;
        if (WIFSIGNALED(status))
            log_task(s->task[0] ? LL_WARN : LL_INFO, s->task[0] ? s->task : NULL,
                     "child.%d (pid %ld) killed by signal %d%s", s->index, (long)pid,
                     WTERMSIG(status), s->task[0] ? ": its task will be redelivered" : "");
        else if (WEXITSTATUS(status) != 0 || !m->stopping)
            log_info("child.%d (pid %ld) exited with status %d", s->index, (long)pid,
                     WEXITSTATUS(status));
        s->task[0] = '\0';
        if (m->stopping)
            continue;
        s->quick_deaths = lived < STABLE_S ? s->quick_deaths + 1 : 0;
        s->respawn_at = clock_mono();
        if (s->quick_deaths > 0) {
            double delay = 0.5 * (double)(1 << (s->quick_deaths < 7 ? s->quick_deaths : 7));
            s->respawn_at += delay < RESPAWN_MAX_S ? delay : RESPAWN_MAX_S;
            log_warn("child.%d died after %.1f s: respawning in %.1f s", s->index, lived,
                     s->respawn_at - clock_mono());
        }
    }
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
    char err[512];
    int active = 0;

    for (int i = 0; i < m->cfg->concurrency; i++)
        active += m->slots[i].task[0] != '\0';
    if (!store_is_ok(m->db)) {
        store_close(m->db);
        m->db = store_open(m->cfg->database_url, "celeriac-master", err, sizeof err);
        if (m->db == NULL) {
            log_warn("heartbeat skipped: %s", err);
            return;
        }
    }
    if (store_worker_heartbeat(m->db, m->cfg->nodename, (int)getpid(), m->cfg->concurrency,
                               m->cfg->queues, m->processed, m->failed, active,
                               m->registered) != STORE_OK)
        log_warn("heartbeat not written");
}

/* Wait for PostgreSQL and check the schema. 1 ready, 0 stop requested, -1 the
 * schema is too old (do not start). */
static int
wait_for_database(struct master *m)
{
    double wait = 0.5;
    char err[512];

    while (term_signals == 0) {
        m->db = store_open(m->cfg->database_url, "celeriac-master", err, sizeof err);
        if (m->db != NULL) {
            if (migrate_check(m->db, err, sizeof err) < 0) {
                log_error("%s", err);
                return -1;
            }
            return 1;
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
    double next_heartbeat = 0, next_sweep = 0;
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
    m.registered = registry_json();
    m.sweeper = producer_new(cfg->amqp_url, cfg->database_url, "celeriac-sweeper", 10000);
    if (m.slots == NULL || m.registered == NULL || m.sweeper == NULL) {
        store_close(m.db);
        return 1;
    }
    next_sweep = clock_mono() + sweep_every;
    for (int i = 0; i < cfg->concurrency; i++) {
        m.slots[i].index = i + 1;
        m.slots[i].report_fd = -1;
    }
    log_info("%s: %d children, queues %s, prefetch %d", cfg->nodename, cfg->concurrency,
             cfg->queues, cfg->prefetch);

    for (;;) {
        struct pollfd pfd[1 + 1024];
        int n = 0;
        char drain[64];
        double now = clock_mono(), timeout = 1.0;

        if (term_signals >= 2 && m.stopping && !m.cold) {
            m.cold = true;
            log_warn("second signal: cold shutdown, running tasks return to their queues");
            signal_children(&m, SIGKILL);
        } else if (term_signals >= 1 && !m.stopping) {
            log_info("warm shutdown: waiting for running tasks to finish");
            m.stopping = true;
            signal_children(&m, SIGTERM);
        }
        reap(&m);
        if (m.stopping && live_children(&m) == 0)
            break;
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
        if (next_sweep - now < timeout)
            timeout = next_sweep - now;
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
    if (store_is_ok(m.db)) {
        heartbeat(&m);
        store_worker_stopped(m.db, cfg->nodename);
    }
    store_close(m.db);
    producer_free(m.sweeper);
    cJSON_free(m.registered);
    free(m.slots);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    log_info("stopped: %ld tasks processed, %ld failed", m.processed, m.failed);
    return 0;
}
