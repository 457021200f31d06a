/* worker/child.c - a child's life: connect, then let the engine (engine.c)
 * take, run, commit and ack batches until told to stop. Runs in: child only.
 * Acks always follow the commit of what they ack, so a crash at any point
 * means redelivery, never loss. */
#include "worker/worker.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/clock.h"
#include "common/log.h"
#include "sql/store.h"
#include "worker/engine.h"

#define POLL_MS 250        /* how often an idle child looks at the stop flag */
#define BACKOFF_MAX_S 5.0 /* longest wait between reconnection attempts */

static volatile sig_atomic_t stop_requested; /* SIGTERM/SIGINT: finish the batch, then exit */
static volatile sig_atomic_t cancel_task;    /* asks a running task to stop early */
static volatile sig_atomic_t soft_fired;     /* ...because its soft time limit passed */
static struct slot_state *my_slot;

/* The master's soft-limit signal carries the run it meant: a signal that
 * arrives after that task ended must not cancel the next one. */
static void
on_soft_limit(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (my_slot != NULL && si->si_code == SI_QUEUE &&
        (unsigned)si->si_value.sival_int == my_slot->run && my_slot->task[0] != '\0') {
        soft_fired = 1;
        cancel_task = 1;
    }
}

/* A revocation of the task running: the same check of the run, no soft_fired. */
static void
on_cancel(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (my_slot != NULL && si->si_code == SI_QUEUE &&
        (unsigned)si->si_value.sival_int == my_slot->run && my_slot->task[0] != '\0')
        cancel_task = 1;
}

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static bool
broker_connect(struct engine *g)
{
    double wait = 0.25;
    char err[512], name[128];
    int tries = 0;

    broker_close(g->b);
    g->b = NULL;
    snprintf(name, sizeof name, "%s child", g->cfg->nodename);
    while (!stop_requested) {
        g->b = broker_open(g->cfg->amqp_url, name, err, sizeof err);
        /* The paused queues first: a paused queue is never consumed at all. */
        if (g->b != NULL && engine_apply_pauses(g) == 0 &&
            broker_consume(g->b, &g->cfg->queue_set, g->cfg->prefetch) == 0) {
            if (tries > 0)
                log_info("connected to RabbitMQ again");
            return true;
        }
        if (g->b != NULL)
            snprintf(err, sizeof err, "cannot consume from %s", g->cfg->queues);
        broker_close(g->b);
        g->b = NULL;
        if (tries++ == 0)
            log_warn("%s (retrying with back-off up to %.0f s)", err, BACKOFF_MAX_S);
        clock_sleep(wait, &stop_requested);
        wait = wait * 2 < BACKOFF_MAX_S ? wait * 2 : BACKOFF_MAX_S;
    }
    return false;
}

void
child_main(const struct worker_cfg *cfg, int slot, struct slot_state *state, int report_fd,
           const sigset_t *old_mask)
{
    struct engine g;
    struct sigaction sa = {0};

    log_set_child(slot);
    my_slot = state;
    srandom((unsigned)getpid() ^ (unsigned)(clock_mono() * 1e6)); /* retry jitter */
    /* One malloc arena for the few threads a child has (a heartbeat keeper,
     * libvips' worker): glibc would give each its own, which keeps what
     * they freed; an image conversion's peak grew from 39 to 70 MiB over
     * 150 runs that way (docs/benchmarks.md). MALLOC_ARENA_MAX still wins. */
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 1);
    sa.sa_sigaction = on_soft_limit;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SOFT_LIMIT_SIGNAL, &sa, NULL);
    sa.sa_sigaction = on_cancel;
    sigaction(CANCEL_SIGNAL, &sa, NULL);
    sa.sa_flags = 0;
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

    engine_init(&g, cfg, state, report_fd, &stop_requested, &cancel_task, &soft_fired);
    if (engine_db_connect(&g) && broker_connect(&g)) {
        log_info("consuming %s (prefetch %d)", cfg->queues, cfg->prefetch);
        while (!stop_requested && !g.retire) {
            if (!broker_is_open(g.b)) {
                /* Its deliveries went back to the queues with the connection. */
                engine_discard(&g);
                if (!broker_connect(&g))
                    break;
            }
            engine_step(&g, POLL_MS);
        }
        if (broker_is_open(g.b))
            engine_flush(&g); /* what ran is committed and acked before we go */
        if (g.retire)
            log_info("retiring after %ld tasks (RSS %ld KiB): the master starts a new child",
                     g.tasks_run, state->rss_kib);
    }
    /* Closing the channel returns any prefetched, unacked message to its queue. */
    engine_fini(&g);
    broker_close(g.b);
    store_close(g.db);
    close(report_fd);
    log_info("stopped");
    exit(0);
}
