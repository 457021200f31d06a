/* webapp/events.c - live updates: GET /api/events?topics=..., a Server-Sent
 * Events stream of task state changes, task log lines and chat messages.
 *
 * The hub. One listener thread owns a PostgreSQL connection of its own (not
 * the pool's: LISTEN needs a session) and LISTENs on task_state (the
 * engine's batch notifications, STARTED marks, progress), task_log (a
 * running task flushed log lines; the payload is its id) and chat (a
 * transaction stored chat messages; no payload). It fans each notification
 * out to the streams subscribed to its topics: "tasks", "task:<id>",
 * "chat:<room>". Topics are kept in a hash table, each with its list of
 * subscribers, so a batch of 200 task states costs 200 lookups whatever the
 * number of streams.
 *
 * A stream is a callback response of unknown length (server.c hands it to
 * MHD on an epoll thread). Its content reader copies what the stream's
 * buffer holds; with nothing to send it suspends the connection and the
 * listener resumes it when it appends an event or the heartbeat (": keepalive"
 * every WEBAPP_SSE_HEARTBEAT seconds, 15 by default). So an idle stream costs
 * a suspended connection and a small buffer, no thread. A stream whose
 * client does not keep up (more than EVENTS_PENDING_MAX unsent) is dropped:
 * it takes no more events and ends once the whole events it holds are sent
 * (a client that reads nothing is cut by MHD's 30 s timeout): the listener
 * never waits for a client. Its browser reconnects with the id of the last
 * event it got and catches up from the database.
 *
 * Ordering and replay. Each event's "id:" is the stream's cursor,
 * "c<chat seq>.l<log id>.t<ms>" (events_parse_cursor()): chat seq order is
 * commit order (chat.persist inserts under one advisory lock), log ids of
 * one task grow as its lines are written, and task states carry no order of
 * their own, so for them the cursor is a time. The listener keeps, under the
 * hub's lock, the chat seq and each task topic's log id up to which it has
 * fanned out. A new stream subscribes under that lock and takes those values
 * as the upper bounds of its replay: everything after them reaches it live,
 * everything up to them it reads itself (chat seq in (c, bound], log ids in
 * (l, bound]), so nothing is missed and nothing is sent twice. The replay
 * goes before whatever arrived live meanwhile. Task states are replayed as
 * the current state of the tasks changed since t (less 5 s of slack for
 * clocks and commits), among the newest 1,000 created, plus the current
 * state of every task:<id> topic at every connect; a state may thus come
 * twice, which a page shows the same (a final state never changes). A
 * replay longer than EVENTS_REPLAY_MAX rows or EVENTS_PENDING_MAX bytes ends
 * the stream after it: the browser reconnects from its last id and reads on.
 *
 * A truncated task_state notification ({"tasks": [], "count": N,
 * "truncated": true}: what workers before the split notifications sent for
 * a batch past the 8,000-byte payload limit; still taken, for a deployment
 * that upgrades its webapp first) names no task: the listener then reads the task:<id> topics' tasks by id
 * and, for "tasks", the newest 1,000 created tasks changed since its last
 * such read (at most every 0.5 s). When the listener loses its connection it
 * reconnects with back-off and catches up the same way (chat from its seq,
 * logs from each topic's id, task states since it lost the connection).
 *
 * Locks: the hub's mutex (streams, topics, watermarks), then a stream's
 * (its buffer and cursor), then MHD's own inside MHD_resume_connection().
 * The content reader takes only its stream's mutex (MHD holds the
 * response's); a stream's free callback only the hub's. */
#include "webapp/webapp.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "sql/store.h"
#include "sql/store_events.h"

#define TOPIC_BUCKETS 509      /* hash table of topics */
#define TOPIC_NAME_MAX 80      /* "chat:" + 64, "task:" + 36 */
#define CHAT_PAGE 1000         /* chat messages the listener reads per query */
#define LOG_PAGE 1000          /* log lines of one task per query */
#define TASKS_RECENT 1000      /* newest-created tasks a catch-up of "tasks" looks at */
#define TASKS_SLACK_S 5.0      /* a time cursor replays from this much earlier */
#define CATCHUP_EVERY_S 0.5    /* truncated batches: their tasks read at most this often */
#define BACKOFF_MIN_S 0.5      /* the listener's reconnect delay, doubling... */
#define BACKOFF_MAX_S 5.0      /* ... up to this */
#define RETRY_MS 2000          /* "retry:" a stream gives EventSource */
#define RETRY_SOON_MS 250      /* ... and before it ends with more to replay */
#define STREAM_READ_BLOCK 1024 /* MHD's buffer, for HTTP/1.0 (chunked streams use their own) */
#define STREAM_KEEP_CAP (64 * 1024) /* a drained buffer larger than this is freed */
#define HEARTBEAT_MAX 300
#define READY_WAIT_S 3 /* a stream opened at start waits this long for the listener */
#define PAUSE_AFTER_ERROR_S 1.0 /* a failed read (connection still up) is retried after this */
#define HANGUP_CHECK_S 1.0      /* how often suspended streams are checked for a gone client */

/* ----- pure helpers ----- */

static bool
room_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* Parse one topic, s[0..n), already trimmed. 0, or -1 with err. */
static int
parse_topic(const char *s, size_t n, struct events_topic *t, char *err, size_t errlen)
{
    char shown[48];
    size_t k = n < 40 ? n : 40;

    memcpy(shown, s, k);
    shown[k] = '\0';
    shown[utf8_prefix_len(shown, 40)] = '\0';
    memset(t, 0, sizeof *t);
    if (n == 5 && memcmp(s, "tasks", 5) == 0) {
        t->kind = TOPIC_TASKS;
        return 0;
    }
    if (n >= 5 && memcmp(s, "task:", 5) == 0) {
        if (n - 5 != UUID_STR_LEN - 1) {
            snprintf(err, errlen, "topic '%s%s': a task id is a UUID", shown, n > k ? "..." : "");
            return -1;
        }
        memcpy(t->arg, s + 5, n - 5);
        t->arg[n - 5] = '\0';
        if (!uuid_is_valid(t->arg)) {
            snprintf(err, errlen, "topic '%s': a task id is a UUID", shown);
            return -1;
        }
        for (char *p = t->arg; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p); /* as PostgreSQL prints ids */
        t->kind = TOPIC_TASK;
        return 0;
    }
    if (n >= 5 && memcmp(s, "chat:", 5) == 0) {
        size_t i;

        for (i = 5; i < n && room_char(s[i]); i++)
            ;
        if (n == 5 || i < n || n - 5 > sizeof t->arg - 1) {
            snprintf(err, errlen,
                     "topic '%s%s': a room is 1 to 64 of the characters A-Z a-z 0-9 _ -", shown,
                     n > k ? "..." : "");
            return -1;
        }
        memcpy(t->arg, s + 5, n - 5);
        t->arg[n - 5] = '\0';
        t->kind = TOPIC_CHAT;
        return 0;
    }
    snprintf(err, errlen, "unknown topic '%s%s': use tasks, task:<task id> or chat:<room>", shown,
             n > k ? "..." : "");
    return -1;
}

int
events_parse_topics(const char *s, struct events_topics *out, char *err, size_t errlen)
{
    const char *p = s;

    out->n = 0;
    if (s == NULL || s[strspn(s, " \t")] == '\0') {
        snprintf(err, errlen, "topics is required: a comma-separated list of tasks, "
                              "task:<task id> and chat:<room>");
        return -1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        struct events_topic t;
        bool dup = false;

        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0) {
            snprintf(err, errlen, "topics holds an empty topic (two commas in a row?)");
            return -1;
        }
        if (parse_topic(p, n, &t, err, errlen) < 0)
            return -1;
        for (int i = 0; i < out->n && !dup; i++)
            dup = out->t[i].kind == t.kind && strcmp(out->t[i].arg, t.arg) == 0;
        if (!dup) {
            if (out->n == EVENTS_TOPICS_MAX) {
                snprintf(err, errlen, "at most %d topics per stream", EVENTS_TOPICS_MAX);
                return -1;
            }
            out->t[out->n++] = t;
        }
        if (end == NULL)
            return 0;
        p = end + 1;
    }
}

int
events_parse_cursor(const char *s, struct events_cursor *c)
{
    const char *p = s;

    memset(c, 0, sizeof *c);
    if (s == NULL || s[0] == '\0' || strlen(s) > 80)
        return -1;
    for (;;) {
        char kind = *p++;
        long long v = 0;
        const char *digits = p;
        bool *has;
        long long *val;

        if (kind == 'c') {
            has = &c->has_chat;
            val = &c->chat;
        } else if (kind == 'l') {
            has = &c->has_log;
            val = &c->log;
        } else if (kind == 't') {
            has = &c->has_t;
            val = &c->t_ms;
        } else {
            return -1;
        }
        while (*p >= '0' && *p <= '9') {
            if (v > (LLONG_MAX - (*p - '0')) / 10)
                return -1;
            v = v * 10 + (*p - '0');
            p++;
        }
        if (p == digits || *has)
            return -1;
        *has = true;
        *val = v;
        if (*p == '\0')
            return 0;
        if (*p++ != '.')
            return -1;
    }
}

void
events_format_cursor(const struct events_cursor *c, char *out, size_t outlen)
{
    snprintf(out, outlen, "c%lld.l%lld.t%lld", c->chat, c->log, c->t_ms);
}

/* Append s without CR and LF (they would end the field). */
static void
put_field(struct buf *b, const char *s)
{
    while (*s != '\0') {
        size_t n = strcspn(s, "\r\n");

        buf_putn(b, s, n);
        s += n;
        if (*s != '\0')
            s++;
    }
}

void
sse_event(struct buf *b, const char *id, const char *event, const char *data)
{
    const char *p = data != NULL ? data : "";

    if (id != NULL) {
        buf_put(b, "id: ");
        put_field(b, id);
        buf_put(b, "\n");
    }
    if (event != NULL) {
        buf_put(b, "event: ");
        put_field(b, event);
        buf_put(b, "\n");
    }
    for (;;) {
        size_t n = strcspn(p, "\r\n");

        buf_put(b, "data: ");
        buf_putn(b, p, n);
        buf_put(b, "\n");
        p += n;
        if (*p == '\0')
            break;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
    }
    buf_put(b, "\n");
}

/* ----- the hub ----- */

enum { CUR_NONE, CUR_CHAT, CUR_LOG, CUR_T };

struct stream;
struct topic;

/* One stream's subscription to one topic: a node in the topic's list. */
struct sub {
    struct stream *s;
    struct topic *t;
    struct sub *prev, *next;
};

struct topic {
    char name[TOPIC_NAME_MAX]; /* "tasks", "task:<id>", "chat:<room>" */
    enum events_topic_kind kind;
    struct sub *subs;
    int nsubs;
    long long log_w;     /* task: its log lines up to this id were fanned out */
    char state[16];      /* task: the state last sent ("" none) */
    int progress;        /* ... and its progress (-1 none) */
    bool refresh_logs;   /* task: read its new log lines */
    bool refresh_state;  /* task: read its state (a truncated batch may have changed it) */
    struct topic *next;  /* hash chain */
};

struct stream {
    pthread_mutex_t mu; /* out, off, cur, suspended, closing, dropped */
    struct events *hub;
    struct MHD_Connection *conn;
    struct buf out; /* bytes to send from off on */
    size_t off;
    struct events_cursor cur; /* the live cursor: what the ids of live events say */
    bool suspended;           /* the reader suspended the connection: an append resumes it */
    bool closing;             /* end once out is sent */
    bool dropped;             /* out of memory: end now, with an error */
    bool all_tasks;           /* subscribed to "tasks" (a task topic's events would come twice) */
    double opened;
    int nsubs;
    struct sub subs[EVENTS_TOPICS_MAX];
    struct stream *prev, *next; /* the hub's list */
};

struct events {
    struct app *app;
    pthread_mutex_t mu; /* everything below but the listener's own */
    struct stream *streams;
    int nstreams, max_streams;
    struct topic *buckets[TOPIC_BUCKETS];
    int chat_topics;  /* chat topics (each has subscribers) */
    long long chat_seq; /* chat messages up to this seq were fanned out */
    bool ready;         /* the listener connected once: chat_seq is known */
    bool stopping;      /* events_close_streams(): no new streams */
    bool quit;          /* events_free(): the listener ends */
    bool refresh;       /* a topic wants a refresh (its flags say which) */
    pthread_cond_t ready_cv; /* ready became true */
    int heartbeat_s;
    int wake_fd; /* eventfd: wakes the listener */
    pthread_t thread;
    bool started;
};

static double
now_ms(void)
{
    return clock_wall() * 1000.0;
}

static unsigned
topic_hash(const char *name)
{
    unsigned h = 5381;

    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
        h = h * 33 + *p;
    return h % TOPIC_BUCKETS;
}

static void
topic_name(char out[TOPIC_NAME_MAX], enum events_topic_kind kind, const char *arg)
{
    snprintf(out, TOPIC_NAME_MAX, "%s%s", kind == TOPIC_TASKS ? "tasks"
                                          : kind == TOPIC_TASK ? "task:"
                                                               : "chat:",
             kind == TOPIC_TASKS ? "" : arg);
}

/* With h->mu held: the topic named name, or NULL. */
static struct topic *
topic_find(struct events *h, const char *name)
{
    for (struct topic *t = h->buckets[topic_hash(name)]; t != NULL; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static void
wake_listener(struct events *h)
{
    uint64_t one = 1;

    if (write(h->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn("events: cannot wake the listener: %s", strerror(errno));
}

/* ----- one stream ----- */

/* With s->mu held, after an append: drop a client that fell behind, wake a
 * suspended one. A dropped stream takes no more events and ends once what
 * it holds is sent (whole events: the client's last id is exact), with a
 * short retry so that its browser reconnects at once and replays the rest
 * from the database; one that does not read at all is closed by MHD's
 * connection timeout. Out of memory: end now. */
static void
appended(struct stream *s)
{
    if (s->out.oom) {
        buf_fini(&s->out);
        s->off = 0;
        s->dropped = s->closing = true;
    } else if (s->out.len - s->off > EVENTS_PENDING_MAX) {
        log_info("events: dropping a stream whose client does not keep up (%zu bytes unsent): "
                 "it ends after them and its client replays the rest",
                 s->out.len - s->off);
        buf_printf(&s->out, "retry: %d\n\n", RETRY_SOON_MS);
        s->closing = true;
    }
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* With the hub's lock held: send s an event whose "event:" and "data:" lines
 * are tail, its id the stream's cursor once part `cur` has moved to v. */
static void
stream_send(struct stream *s, int cur, long long v, const struct buf *tail)
{
    char id[96];

    pthread_mutex_lock(&s->mu);
    if (!s->closing) {
        if (cur == CUR_CHAT && v > s->cur.chat)
            s->cur.chat = v;
        else if (cur == CUR_LOG && v > s->cur.log)
            s->cur.log = v;
        else if (cur == CUR_T && v > s->cur.t_ms)
            s->cur.t_ms = v;
        events_format_cursor(&s->cur, id, sizeof id);
        buf_put(&s->out, "id: ");
        buf_put(&s->out, id);
        buf_put(&s->out, "\n");
        buf_putn(&s->out, tail->data, tail->len);
        appended(s);
    }
    pthread_mutex_unlock(&s->mu);
}

static void
stream_comment(struct stream *s, const char *text)
{
    pthread_mutex_lock(&s->mu);
    if (!s->closing) {
        buf_put(&s->out, text);
        appended(s);
    }
    pthread_mutex_unlock(&s->mu);
}

/* MHD's content reader, on an epoll thread: never waits. */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    ssize_t n = 0;

    (void)pos;
    pthread_mutex_lock(&s->mu);
    if (s->dropped) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (s->out.len > s->off) {
        size_t k = s->out.len - s->off < max ? s->out.len - s->off : max;

        memcpy(buf, s->out.data + s->off, k);
        s->off += k;
        if (s->off == s->out.len) {
            s->off = 0;
            if (s->out.cap > STREAM_KEEP_CAP)
                buf_fini(&s->out); /* after a burst: give the memory back */
            else
                buf_reset(&s->out);
        }
        n = (ssize_t)k;
    } else if (s->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: sleep until an append resumes us. Returning 0
         * without suspending would make MHD call again at once. */
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* With h->mu held: take s out of its topics. */
static void
stream_unsubscribe(struct events *h, struct stream *s)
{
    for (int i = 0; i < s->nsubs; i++) {
        struct sub *u = &s->subs[i];
        struct topic *t = u->t;

        if (u->prev != NULL)
            u->prev->next = u->next;
        else
            t->subs = u->next;
        if (u->next != NULL)
            u->next->prev = u->prev;
        if (--t->nsubs == 0) {
            struct topic **pp = &h->buckets[topic_hash(t->name)];

            while (*pp != t)
                pp = &(*pp)->next;
            *pp = t->next;
            if (t->kind == TOPIC_CHAT)
                h->chat_topics--;
            free(t);
        }
    }
    s->nsubs = 0;
}

/* With h->mu held: take s out of its topics and of the hub. */
static void
stream_unlink(struct events *h, struct stream *s)
{
    stream_unsubscribe(h, s);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    h->nstreams--;
}

static void
stream_destroy(struct stream *s)
{
    pthread_mutex_destroy(&s->mu);
    buf_fini(&s->out);
    free(s);
}

/* MHD is done with the stream's answer (the client left, the stream ended,
 * or the daemon stops): on the epoll thread. */
static void
stream_free(void *cls)
{
    struct stream *s = cls;
    struct events *h = s->hub;

    pthread_mutex_lock(&h->mu);
    stream_unlink(h, s);
    pthread_mutex_unlock(&h->mu);
    log_debug("events: a stream closed after %.0f s%s", clock_mono() - s->opened,
              s->dropped ? " (dropped)" : "");
    stream_destroy(s);
}

/* Subscribe s to its topics and add it to the hub. Each task topic the hub
 * does not have yet starts at log_init[i] (its newest log line when the
 * handler looked). Fills the bounds of the replay: the chat seq and each
 * task topic's log id up to which the listener has fanned out; s's live
 * cursor starts there. 0, or -1 with the reason in err (503). */
static int
stream_register(struct events *h, struct stream *s, const struct events_topics *tp,
                const long long *log_init, long long *chat_bound, long long *log_bound,
                long long *reg_ms, char *err, size_t errlen)
{
    struct timespec deadline;
    bool wake = false;
    int rc = -1;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += READY_WAIT_S;
    pthread_mutex_lock(&h->mu);
    /* Just started: the listener is connecting. */
    while (!h->ready && !h->stopping)
        if (pthread_cond_timedwait(&h->ready_cv, &h->mu, &deadline) == ETIMEDOUT)
            break;
    if (h->stopping) {
        snprintf(err, errlen, "the server is stopping");
        goto out;
    }
    if (!h->ready) {
        snprintf(err, errlen, "live updates are not connected to PostgreSQL yet");
        goto out;
    }
    if (h->nstreams >= h->max_streams) {
        snprintf(err, errlen, "too many event streams are open (%d, WEBAPP_MAX_STREAMS)",
                 h->max_streams);
        goto out;
    }
    s->cur.chat = *chat_bound = h->chat_seq;
    s->cur.log = 0;
    for (int i = 0; i < tp->n; i++) {
        char name[TOPIC_NAME_MAX];
        struct topic *t;
        struct sub *u = &s->subs[i];

        topic_name(name, tp->t[i].kind, tp->t[i].arg);
        t = topic_find(h, name);
        if (t == NULL) {
            unsigned b = topic_hash(name);

            if ((t = calloc(1, sizeof *t)) == NULL) {
                snprintf(err, errlen, "out of memory");
                stream_unsubscribe(h, s);
                goto out;
            }
            snprintf(t->name, sizeof t->name, "%s", name);
            t->kind = tp->t[i].kind;
            t->progress = -1;
            if (t->kind == TOPIC_TASK) {
                /* Lines after the handler's look may be in already: read
                 * them now rather than at the task's next notification. */
                t->log_w = log_init[i];
                t->refresh_logs = true;
                h->refresh = wake = true;
            }
            if (t->kind == TOPIC_CHAT)
                h->chat_topics++;
            t->next = h->buckets[b];
            h->buckets[b] = t;
        }
        log_bound[i] = t->log_w;
        if (t->kind == TOPIC_TASKS)
            s->all_tasks = true;
        if (t->kind == TOPIC_TASK && t->log_w > s->cur.log)
            s->cur.log = t->log_w;
        u->s = s;
        u->t = t;
        u->prev = NULL;
        u->next = t->subs;
        if (t->subs != NULL)
            t->subs->prev = u;
        t->subs = u;
        t->nsubs++;
        s->nsubs++;
    }
    s->cur.t_ms = *reg_ms = (long long)now_ms();
    s->next = h->streams;
    if (h->streams != NULL)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    rc = 0;
out:
    pthread_mutex_unlock(&h->mu);
    if (wake)
        wake_listener(h);
    return rc;
}

/* ----- fanning out ----- */

/* {"id", "name", "state", "progress"} as the data of an "event: task". */
static void
task_event(struct buf *tail, const char *id, const char *name, const char *state, int progress)
{
    struct buf data = {0};

    buf_put(&data, "{\"id\":");
    buf_json_str(&data, id);
    buf_put(&data, ",\"name\":");
    if (name != NULL)
        buf_json_str(&data, name);
    else
        buf_put(&data, "null");
    buf_put(&data, ",\"state\":");
    buf_json_str(&data, state);
    if (progress >= 0)
        buf_printf(&data, ",\"progress\":%d}", progress);
    else
        buf_put(&data, ",\"progress\":null}");
    sse_event(tail, NULL, "task", data.data != NULL ? data.data : "{}");
    tail->oom |= data.oom;
    buf_fini(&data);
}

/* The integer progress of a row or payload entry, -1 when absent or null. */
static int
progress_of(const cJSON *o)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "progress");

    return cJSON_IsNumber(p) ? (int)p->valuedouble : -1;
}

/* With h->mu held: a task's state to the "tasks" topic (when to_all) and to
 * its own topic (when it changed there, or always when force). */
static void
fan_out_task(struct events *h, const cJSON *t, bool to_all, bool force)
{
    const char *id = json_str(t, "id"), *state = json_str(t, "state");
    int progress = progress_of(t);
    char name[TOPIC_NAME_MAX];
    struct topic *all = to_all ? topic_find(h, "tasks") : NULL, *own;
    struct buf tail = {0};
    long long ms = (long long)now_ms();

    if (id == NULL || state == NULL || strlen(id) != UUID_STR_LEN - 1)
        return;
    topic_name(name, TOPIC_TASK, id);
    own = topic_find(h, name);
    if (own != NULL && !force && strcmp(own->state, state) == 0 && own->progress == progress)
        own = NULL; /* nothing new for its own streams */
    if (all == NULL && own == NULL)
        return;
    task_event(&tail, id, json_str(t, "name"), state, progress);
    for (struct sub *u = all != NULL ? all->subs : NULL; u != NULL; u = u->next)
        stream_send(u->s, CUR_T, ms, &tail);
    if (own != NULL) {
        snprintf(own->state, sizeof own->state, "%s", state);
        own->progress = progress;
        own->refresh_logs = true; /* its last lines come with its final state */
        h->refresh = true;
        for (struct sub *u = own->subs; u != NULL; u = u->next)
            if (all == NULL || !u->s->all_tasks) /* not sent to it just now */
                stream_send(u->s, CUR_T, ms, &tail);
    }
    buf_fini(&tail);
}

/* With h->mu held: a log line row {"task_id", "id", ...} to its task's topic,
 * unless it was fanned out already. */
static void
fan_out_log(struct events *h, const cJSON *row)
{
    const char *task = json_str(row, "task_id");
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(row, "id");
    char name[TOPIC_NAME_MAX], *data;
    struct topic *t;
    struct buf tail = {0};
    long long id;

    if (task == NULL || !cJSON_IsNumber(idv))
        return;
    id = (long long)idv->valuedouble;
    topic_name(name, TOPIC_TASK, task);
    if ((t = topic_find(h, name)) == NULL || id <= t->log_w)
        return;
    t->log_w = id;
    if ((data = json_print(row)) == NULL)
        return;
    sse_event(&tail, NULL, "log", data);
    cJSON_free(data);
    for (struct sub *u = t->subs; u != NULL; u = u->next)
        stream_send(u->s, CUR_LOG, id, &tail);
    buf_fini(&tail);
}

/* With h->mu held: a chat message row to its room's topic. */
static void
fan_out_chat(struct events *h, const cJSON *row, long long seq)
{
    const char *room = json_str(row, "room");
    char name[TOPIC_NAME_MAX], *data;
    struct topic *t;
    struct buf tail = {0};

    if (room == NULL)
        return;
    topic_name(name, TOPIC_CHAT, room);
    if ((t = topic_find(h, name)) == NULL || (data = json_print(row)) == NULL)
        return;
    sse_event(&tail, NULL, "chat", data);
    cJSON_free(data);
    for (struct sub *u = t->subs; u != NULL; u = u->next)
        stream_send(u->s, CUR_CHAT, seq, &tail);
    buf_fini(&tail);
}

/* ----- the listener ----- */

/* The listener's own state: only its thread touches it. */
struct listener {
    struct events *h;
    PGconn *db;
    bool chat_dirty;     /* a chat notification came: read new messages */
    bool tasks_dirty;    /* a truncated batch came: read the changed tasks */
    double tasks_since;  /* wall time from which the next such read looks */
    double next_catchup; /* clock_mono() before which it waits */
    double pause_until;  /* clock_mono() before which no read is tried (one failed) */
    double retry_at;     /* clock_mono() of the next connection attempt */
    bool warned;         /* the outage was logged */
};

static double
seq_of(const cJSON *row)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "seq"));
}

/* Read the chat messages after the hub's seq and fan them out. With no chat
 * topic, only move the seq (the next stream's replay starts there). */
static int
read_chat(struct listener *L)
{
    struct events *h = L->h;

    for (;;) {
        long long after, max;
        bool any;
        cJSON *rows, *row;
        int rc, n;

        pthread_mutex_lock(&h->mu);
        after = h->chat_seq;
        any = h->chat_topics > 0;
        pthread_mutex_unlock(&h->mu);
        if (!any) {
            if (store_events_chat_max(L->db, &max) != STORE_OK)
                return -1;
            pthread_mutex_lock(&h->mu);
            /* A chat stream that subscribed meanwhile took the old seq as
             * its bound: then read the messages after all. */
            any = h->chat_topics > 0;
            if (!any && max > h->chat_seq)
                h->chat_seq = max;
            pthread_mutex_unlock(&h->mu);
            if (!any)
                return 0;
            continue;
        }
        rows = store_events_chat(L->db, after, -1, NULL, CHAT_PAGE, &rc);
        if (rows == NULL)
            return -1;
        n = cJSON_GetArraySize(rows);
        pthread_mutex_lock(&h->mu);
        cJSON_ArrayForEach(row, rows)
        {
            long long seq = (long long)seq_of(row);

            if (seq <= h->chat_seq)
                continue;
            h->chat_seq = seq;
            fan_out_chat(h, row, seq);
        }
        pthread_mutex_unlock(&h->mu);
        cJSON_Delete(rows);
        if (n < CHAT_PAGE)
            return 0;
    }
}

/* JSON array text of strings. */
static void
json_strings(struct buf *b, char (*ids)[UUID_STR_LEN], int n)
{
    buf_put(b, "[");
    for (int i = 0; i < n; i++) {
        buf_put(b, i > 0 ? "," : "");
        buf_json_str(b, ids[i]);
    }
    buf_put(b, "]");
}

/* Read what the task topics flagged for it want: their state (after a
 * truncated batch or a reconnect) and their new log lines. */
static int
refresh_tasks(struct listener *L)
{
    struct events *h = L->h;
    struct buf marks = {0}, ids = {0};
    char (*state_ids)[UUID_STR_LEN] = NULL;
    int nstate = 0, nlogs = 0, cap = 0, rc = STORE_OK;
    cJSON *rows = NULL, *row;

    pthread_mutex_lock(&h->mu);
    h->refresh = false;
    for (int b = 0; b < TOPIC_BUCKETS; b++) {
        for (struct topic *t = h->buckets[b]; t != NULL; t = t->next) {
            if (t->kind != TOPIC_TASK || !(t->refresh_logs || t->refresh_state))
                continue;
            if (t->refresh_state) {
                if (nstate == cap) {
                    int ncap = cap > 0 ? cap * 2 : 16;
                    void *p = realloc(state_ids, (size_t)ncap * sizeof *state_ids);

                    if (p == NULL) {
                        marks.oom = true;
                        break;
                    }
                    state_ids = p;
                    cap = ncap;
                }
                snprintf(state_ids[nstate++], UUID_STR_LEN, "%s", t->name + 5);
            }
            if (t->refresh_logs || t->refresh_state) {
                buf_put(&marks, nlogs++ > 0 ? ",{\"id\":" : "[{\"id\":");
                buf_json_str(&marks, t->name + 5);
                buf_printf(&marks, ",\"after\":%lld,\"upto\":-1}", t->log_w);
            }
            t->refresh_logs = t->refresh_state = false;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (marks.oom || ids.oom) {
        rc = STORE_ERR;
        goto out;
    }
    if (nstate > 0) {
        json_strings(&ids, state_ids, nstate);
        rows = store_events_tasks(L->db, ids.data, &rc);
        if (rows == NULL)
            goto out;
        pthread_mutex_lock(&h->mu);
        cJSON_ArrayForEach(row, rows) { fan_out_task(h, row, false, false); }
        pthread_mutex_unlock(&h->mu);
        cJSON_Delete(rows);
        rows = NULL;
    }
    if (nlogs > 0) {
        const char *last = NULL;
        int per_task = 0;

        buf_put(&marks, "]");
        rows = store_events_logs(L->db, marks.data, LOG_PAGE, &rc);
        if (rows == NULL)
            goto out;
        pthread_mutex_lock(&h->mu);
        cJSON_ArrayForEach(row, rows)
        {
            const char *task = json_str(row, "task_id");

            per_task = last != NULL && task != NULL && strcmp(last, task) == 0 ? per_task + 1 : 1;
            last = task;
            fan_out_log(h, row);
            if (per_task == LOG_PAGE && task != NULL) { /* more to read */
                char name[TOPIC_NAME_MAX];
                struct topic *t;

                topic_name(name, TOPIC_TASK, task);
                if ((t = topic_find(h, name)) != NULL)
                    t->refresh_logs = h->refresh = true;
            }
        }
        pthread_mutex_unlock(&h->mu);
    }
out:
    if (rc != STORE_OK) {
        /* Ask again after the reconnect. */
        pthread_mutex_lock(&h->mu);
        h->refresh = true;
        for (int b = 0; b < TOPIC_BUCKETS; b++)
            for (struct topic *t = h->buckets[b]; t != NULL; t = t->next)
                if (t->kind == TOPIC_TASK)
                    t->refresh_logs = t->refresh_state = true;
        pthread_mutex_unlock(&h->mu);
    }
    cJSON_Delete(rows);
    buf_fini(&marks);
    buf_fini(&ids);
    free(state_ids);
    return rc == STORE_OK ? 0 : -1;
}

/* After a truncated batch or a reconnect: the newest tasks changed since the
 * last such read, to the "tasks" streams. */
static int
catch_up_tasks(struct listener *L)
{
    struct events *h = L->h;
    double since = L->tasks_since - TASKS_SLACK_S;
    bool any;
    cJSON *rows, *row;
    int rc;

    L->tasks_dirty = false;
    L->tasks_since = clock_wall();
    L->next_catchup = clock_mono() + CATCHUP_EVERY_S;
    pthread_mutex_lock(&h->mu);
    any = topic_find(h, "tasks") != NULL;
    pthread_mutex_unlock(&h->mu);
    if (!any)
        return 0;
    rows = store_events_tasks_since(L->db, since, TASKS_RECENT, &rc);
    if (rows == NULL) {
        L->tasks_dirty = true;
        L->tasks_since = since + TASKS_SLACK_S;
        return -1;
    }
    pthread_mutex_lock(&h->mu);
    cJSON_ArrayForEach(row, rows) { fan_out_task(h, row, true, false); }
    pthread_mutex_unlock(&h->mu);
    cJSON_Delete(rows);
    return 0;
}

/* Mark every task topic for a state and log read (after a truncated batch or
 * a reconnect). */
static void
refresh_all_tasks(struct events *h)
{
    pthread_mutex_lock(&h->mu);
    for (int b = 0; b < TOPIC_BUCKETS; b++)
        for (struct topic *t = h->buckets[b]; t != NULL; t = t->next)
            if (t->kind == TOPIC_TASK)
                t->refresh_state = t->refresh_logs = h->refresh = true;
    pthread_mutex_unlock(&h->mu);
}

static void
on_task_state(struct listener *L, const char *payload)
{
    struct events *h = L->h;
    cJSON *doc = cJSON_Parse(payload);
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(doc, "tasks"), *t;

    if (!cJSON_IsObject(doc)) {
        log_warn("events: a task_state notification that is not a JSON object: ignored");
        cJSON_Delete(doc);
        return;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "truncated"))) {
        /* Too many tasks for one payload: they are read by the next catch-up. */
        L->tasks_dirty = true;
        refresh_all_tasks(h);
    }
    pthread_mutex_lock(&h->mu);
    cJSON_ArrayForEach(t, tasks) { fan_out_task(h, t, true, true); }
    pthread_mutex_unlock(&h->mu);
    cJSON_Delete(doc);
}

static void
on_notification(const char *channel, const char *payload, void *arg)
{
    struct listener *L = arg;
    struct events *h = L->h;

    if (strcmp(channel, "chat") == 0) {
        L->chat_dirty = true;
    } else if (strcmp(channel, "task_state") == 0) {
        on_task_state(L, payload);
    } else if (strcmp(channel, "task_log") == 0) {
        char name[TOPIC_NAME_MAX];
        struct topic *t;

        if (strlen(payload) != UUID_STR_LEN - 1)
            return;
        topic_name(name, TOPIC_TASK, payload);
        pthread_mutex_lock(&h->mu);
        if ((t = topic_find(h, name)) != NULL)
            t->refresh_logs = h->refresh = true;
        pthread_mutex_unlock(&h->mu);
    }
}

/* Connect and LISTEN; the first time, start the chat seq at the newest
 * message. 0, or -1 with the reason in err. */
static int
listener_connect(struct listener *L, char *err, size_t errlen)
{
    static const char *const channels[] = {"task_state", "task_log", "chat"};
    struct events *h = L->h;
    long long max = 0;
    bool first;

    L->db = store_open(h->app->cfg->database_url, "celeriac-webapp-events", err, errlen);
    if (L->db == NULL)
        return -1;
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++) {
        if (store_listen(L->db, channels[i]) != STORE_OK) {
            snprintf(err, errlen, "cannot LISTEN on %s", channels[i]);
            goto fail;
        }
    }
    pthread_mutex_lock(&h->mu);
    first = !h->ready;
    pthread_mutex_unlock(&h->mu);
    /* LISTEN first: a message stored after this read is notified. */
    if (first && store_events_chat_max(L->db, &max) != STORE_OK) {
        snprintf(err, errlen, "cannot read the newest chat message");
        goto fail;
    }
    pthread_mutex_lock(&h->mu);
    if (first)
        h->chat_seq = max;
    h->ready = true;
    pthread_cond_broadcast(&h->ready_cv);
    pthread_mutex_unlock(&h->mu);
    return 0;
fail:
    store_close(L->db);
    L->db = NULL;
    return -1;
}

/* Wait up to timeout_s for the connection's socket (fd >= 0) or a wake-up.
 * true when the socket has something (or failed). */
static bool
wait_for(struct events *h, int fd, double timeout_s)
{
    struct pollfd p[2] = {{.fd = h->wake_fd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int ms = timeout_s <= 0 ? 0 : timeout_s > 60 ? 60000 : (int)(timeout_s * 1000) + 1;
    uint64_t v;

    if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0)
        return false;
    if (p[0].revents & POLLIN)
        while (read(h->wake_fd, &v, sizeof v) == (ssize_t)sizeof v)
            ;
    return fd >= 0 && p[1].revents != 0;
}

static void
heartbeat(struct events *h)
{
    pthread_mutex_lock(&h->mu);
    for (struct stream *s = h->streams; s != NULL; s = s->next)
        stream_comment(s, ": keepalive\n\n");
    pthread_mutex_unlock(&h->mu);
}

/* End the suspended streams whose client hung up. MHD watches no suspended
 * socket, so a vanished client would otherwise hold its place (counted
 * against WEBAPP_MAX_STREAMS: a room full of reloading browsers would meet
 * 503s) until the next heartbeat's write failed. An SSE client sends
 * nothing after its request: a hang-up or an error on the socket is the
 * client gone. With the hub's lock held, so no stream is freed meanwhile:
 * one poll() of every suspended socket, no wait. */
static void
reap_hangups(struct events *h)
{
    struct pollfd *p;
    struct stream **who;
    int n = 0;

    pthread_mutex_lock(&h->mu);
    p = malloc(sizeof *p * (size_t)(h->nstreams > 0 ? h->nstreams : 1));
    who = malloc(sizeof *who * (size_t)(h->nstreams > 0 ? h->nstreams : 1));
    for (struct stream *s = h->streams; p != NULL && who != NULL && s != NULL; s = s->next) {
        const union MHD_ConnectionInfo *ci;

        pthread_mutex_lock(&s->mu);
        if (s->suspended && !s->closing &&
            (ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD)) != NULL) {
            p[n] = (struct pollfd){.fd = ci->connect_fd, .events = POLLRDHUP};
            who[n++] = s;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (n > 0 && poll(p, (nfds_t)n, 0) > 0) {
        for (int i = 0; i < n; i++) {
            struct stream *s = who[i];

            if ((p[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0)
                continue;
            pthread_mutex_lock(&s->mu);
            if (s->suspended) { /* nothing was appended since: end it now */
                s->closing = true;
                s->suspended = false;
                MHD_resume_connection(s->conn);
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
    free(p);
    free(who);
}

/* The connection broke: drop it and reconnect after delay_s. */
static void
listener_lost(struct listener *L, double delay_s)
{
    log_warn("events: lost the PostgreSQL connection: %s", store_error_message(L->db));
    store_close(L->db);
    L->db = NULL;
    L->retry_at = clock_mono() + delay_s;
    L->warned = true;
}

/* Do what the notifications asked for: read new chat messages, the flagged
 * task topics, the tasks of truncated batches. A failed read on a live
 * connection pauses the reads for PAUSE_AFTER_ERROR_S (no busy loop). */
static void
listener_work(struct listener *L)
{
    struct events *h = L->h;
    bool refresh, failed = false;

    if (clock_mono() < L->pause_until)
        return;
    if (L->chat_dirty) {
        L->chat_dirty = false;
        if (read_chat(L) < 0)
            L->chat_dirty = failed = true;
    }
    pthread_mutex_lock(&h->mu);
    refresh = h->refresh;
    pthread_mutex_unlock(&h->mu);
    if (refresh && !failed && refresh_tasks(L) < 0)
        failed = true;
    if (L->tasks_dirty && !failed && clock_mono() >= L->next_catchup && catch_up_tasks(L) < 0)
        failed = true;
    if (failed && store_is_ok(L->db))
        L->pause_until = clock_mono() + PAUSE_AFTER_ERROR_S;
}

static void *
listener_main(void *arg)
{
    struct events *h = arg;
    struct listener L = {.h = h, .tasks_since = clock_wall()};
    double backoff = BACKOFF_MIN_S, next_hb = clock_mono() + h->heartbeat_s;
    double next_reap = clock_mono() + HANGUP_CHECK_S;
    char err[512];

    for (;;) {
        double now = clock_mono(), timeout = next_hb - now;
        bool quit, refresh, input;

        if (L.db == NULL && now >= L.retry_at) {
            if (listener_connect(&L, err, sizeof err) < 0) {
                if (!L.warned)
                    log_warn("events: %s; live updates wait for PostgreSQL (retrying)", err);
                L.warned = true;
                L.retry_at = now + backoff;
                backoff = backoff * 2 < BACKOFF_MAX_S ? backoff * 2 : BACKOFF_MAX_S;
            } else {
                if (L.warned)
                    log_info("events: connected to PostgreSQL again: catching up on what was "
                             "missed meanwhile");
                L.warned = false;
                backoff = BACKOFF_MIN_S;
                /* Whatever happened while nobody listened: chat from the
                 * hub's seq, every task topic, tasks changed since the loss. */
                L.chat_dirty = L.tasks_dirty = true;
                L.next_catchup = 0;
                refresh_all_tasks(h);
            }
        }
        pthread_mutex_lock(&h->mu);
        refresh = h->refresh;
        quit = h->quit;
        pthread_mutex_unlock(&h->mu);
        if (quit)
            break;
        if (next_reap - now < timeout)
            timeout = next_reap - now;
        if (L.db == NULL && L.retry_at - now < timeout)
            timeout = L.retry_at - now;
        if (L.db != NULL && now >= L.pause_until) {
            if (L.chat_dirty || refresh)
                timeout = 0;
            else if (L.tasks_dirty && L.next_catchup - now < timeout)
                timeout = L.next_catchup - now;
        } else if (L.db != NULL && (L.chat_dirty || refresh || L.tasks_dirty) &&
                   L.pause_until - now < timeout) {
            timeout = L.pause_until - now;
        }
        input = wait_for(h, L.db != NULL ? PQsocket(L.db) : -1, timeout);
        (void)input;
        /* Notifications may also have been read into libpq's queue while
         * the last round's queries ran: ask every time, not only when the
         * socket says so. */
        if (L.db != NULL && store_notifications(L.db, on_notification, &L) < 0)
            listener_lost(&L, 0);
        if (L.db != NULL)
            listener_work(&L);
        if (L.db != NULL && !store_is_ok(L.db))
            listener_lost(&L, BACKOFF_MIN_S);
        if (L.db != NULL && store_notifications(L.db, on_notification, &L) < 0)
            listener_lost(&L, 0);
        if (clock_mono() >= next_hb) {
            heartbeat(h);
            next_hb = clock_mono() + h->heartbeat_s;
        }
        if (clock_mono() >= next_reap) {
            reap_hangups(h);
            next_reap = clock_mono() + HANGUP_CHECK_S;
        }
    }
    store_close(L.db);
    return NULL;
}

/* ----- start and stop ----- */

static int
env_int(const char *name, int lo, int hi, int def, int *out, char *err, size_t errlen)
{
    const char *v = getenv(name);

    *out = def;
    if (v != NULL && v[0] != '\0' && cfg_parse_int(v, lo, hi, out) < 0) {
        snprintf(err, errlen, "%s=%.40s: expected a whole number from %d to %d", name, v, lo, hi);
        return -1;
    }
    return 0;
}

struct events *
events_start(struct app *a, char *err, size_t errlen)
{
    struct events *h = calloc(1, sizeof *h);
    pthread_condattr_t ca;
    int e;

    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->app = a;
    h->wake_fd = -1;
    if (env_int("WEBAPP_MAX_STREAMS", 1, 100000, EVENTS_MAX_STREAMS_DEFAULT, &h->max_streams, err,
                errlen) < 0 ||
        env_int("WEBAPP_SSE_HEARTBEAT", 1, HEARTBEAT_MAX, EVENTS_HEARTBEAT_DEFAULT,
                &h->heartbeat_s, err, errlen) < 0) {
        free(h);
        return NULL;
    }
    h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->ready_cv, &ca);
    pthread_condattr_destroy(&ca);
    e = pthread_create(&h->thread, NULL, listener_main, h);
    if (e != 0) {
        snprintf(err, errlen, "cannot start the events listener: %s", strerror(e));
        events_free(h);
        return NULL;
    }
    h->started = true;
    return h;
}

int
events_max_streams(const struct events *e)
{
    return e->max_streams;
}

void
events_close_streams(struct events *h)
{
    int n = 0;

    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_broadcast(&h->ready_cv);
    for (struct stream *s = h->streams; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        if (s->suspended) {
            s->suspended = false;
            MHD_resume_connection(s->conn);
        }
        pthread_mutex_unlock(&s->mu);
        n++;
    }
    pthread_mutex_unlock(&h->mu);
    if (n > 0)
        log_info("events: ending %d stream%s", n, n == 1 ? "" : "s");
}

void
events_free(struct events *h)
{
    if (h == NULL)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->mu);
        h->quit = true;
        pthread_mutex_unlock(&h->mu);
        wake_listener(h);
        pthread_join(h->thread, NULL);
    }
    /* MHD has stopped: every stream was freed with its answer. */
    for (int b = 0; b < TOPIC_BUCKETS; b++) {
        while (h->buckets[b] != NULL) {
            struct topic *t = h->buckets[b];

            h->buckets[b] = t->next;
            free(t);
        }
    }
    if (h->wake_fd >= 0)
        close(h->wake_fd);
    pthread_cond_destroy(&h->ready_cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ----- GET /api/events ----- */

/* The replay of a new stream, built before it is handed to MHD: frames with
 * their own cursor, which moves from the client's up to the stream's bounds. */
struct replay {
    struct buf out;
    struct events_cursor cur;
    bool cut; /* a part hit EVENTS_REPLAY_MAX: the stream ends after the replay */
};

static void
replay_frame(struct replay *rp, int cur, long long v, const char *event, const char *data)
{
    char id[96];

    if (cur == CUR_CHAT && v > rp->cur.chat)
        rp->cur.chat = v;
    else if (cur == CUR_LOG && v > rp->cur.log)
        rp->cur.log = v;
    events_format_cursor(&rp->cur, id, sizeof id);
    sse_event(&rp->out, id, event, data);
}

/* Append rows (an array of objects) as events of one kind; past
 * EVENTS_PENDING_MAX bytes of replay, stop and mark it cut. */
static void
replay_rows(struct replay *rp, const cJSON *rows, const char *event, int cur, const char *key)
{
    const cJSON *row;

    cJSON_ArrayForEach(row, rows)
    {
        char *data;

        if (rp->out.len > EVENTS_PENDING_MAX) {
            rp->cut = true;
            return;
        }
        data = json_print(row);

        if (data == NULL) {
            rp->out.oom = true;
            return;
        }
        replay_frame(rp, cur,
                     key != NULL ? (long long)cJSON_GetNumberValue(
                                       cJSON_GetObjectItemCaseSensitive(row, key))
                                 : 0,
                     event, data);
        cJSON_free(data);
    }
}

/* Task states, log lines and chat messages the stream's client missed (cur
 * is what it said it has), then the current state of its task topics. -1
 * (logged) when the database failed. */
static int
replay(PGconn *db, const struct events_topics *tp, const struct events_cursor *cur,
       long long chat_bound, const long long *log_bound, long long reg_ms, struct replay *rp)
{
    struct buf ids = {0}, marks = {0}, rooms = {0};
    bool all_tasks = false;
    int ntask = 0, nroom = 0, rc = STORE_OK;
    long long max_log = 0;
    cJSON *rows = NULL;

    for (int i = 0; i < tp->n; i++) {
        const struct events_topic *t = &tp->t[i];

        if (t->kind == TOPIC_TASKS) {
            all_tasks = true;
        } else if (t->kind == TOPIC_TASK) {
            buf_put(&ids, ntask > 0 ? "," : "[");
            buf_json_str(&ids, t->arg);
            buf_put(&marks, ntask > 0 ? ",{\"id\":" : "[{\"id\":");
            buf_json_str(&marks, t->arg);
            buf_printf(&marks, ",\"after\":%lld,\"upto\":%lld}", cur->log, log_bound[i]);
            if (log_bound[i] > max_log)
                max_log = log_bound[i];
            ntask++;
        } else {
            buf_put(&rooms, nroom++ > 0 ? "," : "[");
            buf_json_str(&rooms, t->arg);
        }
    }
    buf_put(&ids, "]");
    buf_put(&marks, "]");
    buf_put(&rooms, "]");
    if (ids.oom || marks.oom || rooms.oom) {
        rc = STORE_ERR;
        goto out;
    }
    rp->cur.chat = cur->has_chat ? cur->chat : chat_bound;
    rp->cur.log = cur->has_log ? cur->log : max_log;
    rp->cur.t_ms = cur->has_t ? cur->t_ms : reg_ms;
    /* Task states: those changed since t, then every task topic's now. */
    if (all_tasks && cur->has_t) {
        rows = store_events_tasks_since(db, (double)cur->t_ms / 1000.0 - TASKS_SLACK_S,
                                        TASKS_RECENT, &rc);
        if (rows == NULL)
            goto out;
        replay_rows(rp, rows, "task", CUR_NONE, NULL);
        cJSON_Delete(rows);
        rows = NULL;
    }
    rp->cur.t_ms = reg_ms > rp->cur.t_ms ? reg_ms : rp->cur.t_ms;
    if (ntask > 0) {
        rows = store_events_tasks(db, ids.data, &rc);
        if (rows == NULL)
            goto out;
        replay_rows(rp, rows, "task", CUR_NONE, NULL);
        cJSON_Delete(rows);
        rows = NULL;
    }
    if (ntask > 0 && cur->has_log) {
        const cJSON *row;
        const char *last = NULL;
        int per_task = 0;

        rows = store_events_logs(db, marks.data, EVENTS_REPLAY_MAX, &rc);
        if (rows == NULL)
            goto out;
        cJSON_ArrayForEach(row, rows)
        {
            const char *task = json_str(row, "task_id");

            per_task = last != NULL && task != NULL && strcmp(last, task) == 0 ? per_task + 1 : 1;
            last = task;
            rp->cut |= per_task == EVENTS_REPLAY_MAX;
        }
        replay_rows(rp, rows, "log", CUR_LOG, "id");
        cJSON_Delete(rows);
        rows = NULL;
    }
    if (!rp->cut && max_log > rp->cur.log)
        rp->cur.log = max_log;
    if (nroom > 0 && cur->has_chat && !rp->cut) {
        rows = store_events_chat(db, cur->chat, chat_bound, rooms.data, EVENTS_REPLAY_MAX, &rc);
        if (rows == NULL)
            goto out;
        rp->cut |= cJSON_GetArraySize(rows) == EVENTS_REPLAY_MAX;
        replay_rows(rp, rows, "chat", CUR_CHAT, "seq");
        cJSON_Delete(rows);
        rows = NULL;
    }
out:
    cJSON_Delete(rows);
    buf_fini(&ids);
    buf_fini(&marks);
    buf_fini(&rooms);
    return rc == STORE_OK && !rp->out.oom ? 0 : -1;
}

/* Which cursor the client gave: Last-Event-ID (a reconnecting EventSource)
 * wins over ?last_event_id= (a page's first connect). -1 with err for a
 * malformed query value; a malformed header is ignored (a browser only
 * sends back what we gave it). */
static int
client_cursor(struct request *r, struct events_cursor *c, char *err, size_t errlen)
{
    const char *h = r->conn != NULL ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                                  "Last-Event-ID")
                                    : NULL;
    const char *q = http_query(r, "last_event_id");

    memset(c, 0, sizeof *c);
    if (h != NULL && h[0] != '\0') {
        if (events_parse_cursor(h, c) == 0)
            return 0;
        log_info("events: ignoring a Last-Event-ID that is not ours");
        memset(c, 0, sizeof *c);
    }
    if (q != NULL && q[0] != '\0' && events_parse_cursor(q, c) < 0) {
        snprintf(err, errlen, "last_event_id is not an event id of this stream "
                              "(c<chat seq>.l<log id>.t<ms>, each part optional)");
        return -1;
    }
    return 0;
}

void
api_events(struct app *a, struct request *r, struct response *resp)
{
    struct events *h = a->events;
    struct events_topics tp;
    struct events_cursor cur;
    struct replay rp = {0};
    long long log_init[EVENTS_TOPICS_MAX] = {0}, log_bound[EVENTS_TOPICS_MAX] = {0}, chat_bound,
              reg_ms;
    char err[256], why[512];
    PGconn *db = NULL;
    struct stream *s = NULL;
    bool registered = false;

    if (h == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "live updates are off");
        return;
    }
    if (events_parse_topics(http_query(r, "topics"), &tp, err, sizeof err) < 0 ||
        client_cursor(r, &cur, err, sizeof err) < 0) {
        api_error(resp, MHD_HTTP_BAD_REQUEST, "%s", err);
        return;
    }
    if ((db = dbpool_get(a->db, WEBAPP_DB_WAIT_MS, why, sizeof why)) == NULL) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable: %s", why);
        return;
    }
    /* Where a task topic starts when it is new: its newest line now. */
    for (int i = 0; i < tp.n; i++) {
        if (tp.t[i].kind == TOPIC_TASK &&
            store_events_log_max(db, tp.t[i].arg, &log_init[i]) != STORE_OK) {
            api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable");
            goto fail;
        }
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        api_error(resp, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->hub = h;
    s->conn = r->conn;
    s->opened = clock_mono();
    if (stream_register(h, s, &tp, log_init, &chat_bound, log_bound, &reg_ms, err, sizeof err) <
        0) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", err);
        goto fail;
    }
    registered = true;
    buf_printf(&rp.out, "retry: %d\n\n", RETRY_MS);
    if (replay(db, &tp, &cur, chat_bound, log_bound, reg_ms, &rp) < 0) {
        api_error(resp, MHD_HTTP_SERVICE_UNAVAILABLE,
                  "database unavailable while reading what the stream missed");
        goto fail;
    }
    dbpool_put(a->db, db);
    db = NULL;
    /* The replay goes before what the listener appended meanwhile. */
    pthread_mutex_lock(&s->mu);
    if (rp.cut) {
        /* Too much to replay at once: send this much and end; the client
         * reconnects (soon) from its last id and reads on. Live events wait. */
        buf_printf(&rp.out, "retry: %d\n\n", RETRY_SOON_MS);
        buf_fini(&s->out);
        s->out = rp.out;
        s->closing = true;
    } else {
        buf_putn(&rp.out, s->out.data != NULL ? s->out.data : "", s->out.len);
        buf_fini(&s->out);
        s->out = rp.out;
        s->off = 0;
    }
    memset(&rp.out, 0, sizeof rp.out);
    pthread_mutex_unlock(&s->mu);
    resp->status = MHD_HTTP_OK;
    resp->content_type = "text/event-stream; charset=utf-8";
    resp->cache_control = "no-cache";
    resp->no_buffering = true;
    resp->stream_fn = stream_read;
    resp->stream_free = stream_free;
    resp->stream_cls = s;
    resp->stream_len = MHD_SIZE_UNKNOWN;
    resp->stream_block = STREAM_READ_BLOCK;
    return;
fail:
    dbpool_put(a->db, db);
    buf_fini(&rp.out);
    if (registered) {
        stream_free(s);
    } else if (s != NULL) {
        stream_destroy(s);
    }
}
