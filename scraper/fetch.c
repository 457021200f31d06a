/* scraper/fetch.c - polite, bounded, guarded HTTP GETs on libcurl.
 *
 * Polite: robots.txt of every origin is read first (cached for the session)
 * and obeyed, requests to one host are spaced by the delay (or the site's
 * Crawl-delay), a User-Agent names celeriac, a page already stored is asked
 * for conditionally. Bounded: http(s) only, connect and total timeouts, at
 * most SCRAPER_MAX_REDIRECTS redirects, a cap on the decoded body, a cancel
 * flag polled by libcurl's progress callback. Guarded: every address libcurl
 * is about to connect to (first request, redirects, retries of another
 * address alike) is checked in its open-socket callback, so a name that
 * resolves to a private address, or a redirect to one, is refused. */
#include "scraper/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "scraper/robots.h"

#define MAX_HOSTS 64             /* origins remembered in one session */
#define CRAWL_DELAY_MAX_S 30.0   /* a robots.txt cannot make us wait longer */
#define HEADER_VALUE_MAX 512

struct host {
    char origin[300];     /* scheme://host[:port]: robots.txt is per origin (RFC 9309) */
    char site[256];       /* host[:port]: the delay is per host */
    struct robots *robots;
    char robots_error[SCRAPER_ERROR_MAX]; /* why robots.txt keeps us out entirely, or "" */
    double delay_s;
    double last;          /* clock_mono() of the last request's end, 0: none yet */
};

/* One response as it arrives. */
struct response {
    struct buf body;
    size_t max;
    bool too_big;
    char etag[HEADER_VALUE_MAX], last_modified[HEADER_VALUE_MAX];
};

struct scraper {
    struct scraper_opts o;
    CURL *curl;
    char agent_token[64]; /* the product token robots.txt groups are matched with */
    struct host hosts[MAX_HOSTS];
    int nhosts, next_evict;
    int fetched;
    char refused[SCRAPER_ERROR_MAX]; /* set by the socket guard during a transfer */
};

/* ----- the address guard ----- */

static bool
v4_private(uint32_t a, const char **why)
{
    static const struct {
        uint32_t net, mask;
        const char *why;
    } ranges[] = {
        {0x00000000, 0xff000000, "unspecified"},          /* 0.0.0.0/8 */
        {0x0a000000, 0xff000000, "private"},              /* 10/8 */
        {0x64400000, 0xffc00000, "carrier-grade NAT"},    /* 100.64/10 */
        {0x7f000000, 0xff000000, "loopback"},             /* 127/8 */
        {0xa9fe0000, 0xffff0000, "link-local"},           /* 169.254/16 */
        {0xac100000, 0xfff00000, "private"},              /* 172.16/12 */
        {0xc0000000, 0xffffff00, "IETF protocol"},        /* 192.0.0/24 */
        {0xc0000200, 0xffffff00, "documentation"},        /* 192.0.2/24 */
        {0xc0586300, 0xffffff00, "6to4 relay"},           /* 192.88.99/24 */
        {0xc0a80000, 0xffff0000, "private"},              /* 192.168/16 */
        {0xc6120000, 0xfffe0000, "benchmarking"},         /* 198.18/15 */
        {0xc6336400, 0xffffff00, "documentation"},        /* 198.51.100/24 */
        {0xcb007100, 0xffffff00, "documentation"},        /* 203.0.113/24 */
        {0xe0000000, 0xf0000000, "multicast"},            /* 224/4 */
        {0xf0000000, 0xf0000000, "reserved"},             /* 240/4, broadcast included */
    };

    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((a & ranges[i].mask) == ranges[i].net) {
            *why = ranges[i].why;
            return true;
        }
    return false;
}

static uint32_t
v4_at(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool
zero12(const unsigned char *b)
{
    for (int i = 0; i < 12; i++)
        if (b[i] != 0)
            return false;
    return true;
}

bool
addr_is_private(const struct sockaddr *sa, socklen_t len, const char **why)
{
    *why = "unknown address family";
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_private(ntohl(in->sin_addr.s_addr), why);
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
        bool zero10 = true;

        for (int i = 0; i < 15; i++)
            zero10 = zero10 && b[i] == 0;
        if (zero10 && (b[15] == 0 || b[15] == 1)) {
            *why = b[15] == 1 ? "loopback" : "unspecified";
            return true;
        }
        /* IPv6 that carries an IPv4 address: judged by it. IPv4-mapped
         * (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96),
         * 6to4 (2002:AABB:CCDD::/48, a gateway forwards to the IPv4 inside). */
        if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || zero12(b))
            return v4_private(v4_at(b + 12), why);
        if (b[0] == 0x20 && b[1] == 0x02)
            return v4_private(v4_at(b + 2), why);
        if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1) {
            *why = "local NAT64"; /* 64:ff9b:1::/48 (RFC 8215): a local translator */
            return true;
        }
        if ((b[0] & 0xfe) == 0xfc) {
            *why = "private";
            return true;
        }
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
            *why = "link-local";
            return true;
        }
        if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
            *why = "site-local";
            return true;
        }
        if (b[0] == 0xff) {
            *why = "multicast";
            return true;
        }
        return false;
    }
    return true; /* neither IPv4 nor IPv6: nothing to connect to */
}

/* Whether a is in one of the networks the options allow. */
static bool
addr_allowed(const struct scraper_opts *o, const struct sockaddr *sa)
{
    const unsigned char *b;

    for (int i = 0; i < o->nallowed; i++) {
        const struct scraper_net *n = &o->allowed[i];
        int full, rest;

        if (n->family != sa->sa_family)
            continue;
        b = sa->sa_family == AF_INET
                ? (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr
                : ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        full = n->bits / 8;
        rest = n->bits % 8;
        if (memcmp(b, n->addr, (size_t)full) == 0 &&
            (rest == 0 || ((b[full] ^ n->addr[full]) & (0xff << (8 - rest))) == 0))
            return true;
    }
    return false;
}

/* "10.0.0.0/8,::1,127.0.0.2" into o->allowed. -1 on a malformed entry. */
static int
parse_allowed(struct scraper_opts *o, const char *list, char *err, size_t errlen)
{
    char *copy = strdup(list), *save = NULL, *item;
    int rc = 0;

    if (copy == NULL)
        return -1;
    for (item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        struct scraper_net *n = &o->allowed[o->nallowed];
        char *slash = strchr(item, '/'), *end;
        long bits;

        while (*item == ' ')
            item++;
        if (slash != NULL)
            *slash = '\0';
        if (o->nallowed >= SCRAPER_ALLOWED_NETS) {
            rc = -1;
        } else if (inet_pton(AF_INET, item, n->addr) == 1) {
            n->family = AF_INET;
            n->bits = 32;
        } else if (inet_pton(AF_INET6, item, n->addr) == 1) {
            n->family = AF_INET6;
            n->bits = 128;
        } else {
            rc = -1;
        }
        if (rc == 0 && slash != NULL) {
            bits = strtol(slash + 1, &end, 10);
            if (*end != '\0' || slash[1] == '\0' || bits < 0 || bits > n->bits)
                rc = -1;
            else
                n->bits = (int)bits;
        }
        if (rc == 0)
            o->nallowed++;
    }
    free(copy);
    if (rc < 0)
        snprintf(err, errlen,
                 "SCRAPER_ALLOW_PRIVATE=%s: expected 0, 1, or at most %d addresses or "
                 "networks (10.0.0.0/8,fd00::/8,...)",
                 list, SCRAPER_ALLOWED_NETS);
    return rc;
}

static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct scraper *s = arg;
    const char *why;
    char ip[INET6_ADDRSTRLEN] = "?";

    (void)purpose;
    if (!s->o.allow_private && addr_is_private(&a->addr, a->addrlen, &why) &&
        !addr_allowed(&s->o, &a->addr)) {
        if (a->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, ip, sizeof ip);
        else if (a->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, ip, sizeof ip);
        snprintf(s->refused, sizeof s->refused,
                 "refused to connect to %s: a %s address (SCRAPER_ALLOW_PRIVATE=1 allows it)", ip,
                 why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* ----- libcurl callbacks ----- */

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n;

    if (r->body.len + len > r->max) {
        r->too_big = true;
        return 0; /* libcurl stops the transfer: CURLE_WRITE_ERROR */
    }
    buf_putn(&r->body, data, len);
    return r->body.oom ? 0 : len;
}

/* Keep the value of "Name: value\r\n" when the line is that header. */
static void
header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);

    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    line += nl + 1;
    len -= nl + 1;
    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    while (len > 0 && isspace((unsigned char)line[len - 1]))
        len--;
    for (size_t i = 0; i < len; i++)
        if (line[i] < 0x20 || line[i] > 0x7e)
            return; /* sent back verbatim and stored as text: printable ASCII only */
    if (len < outlen) {
        memcpy(out, line, len);
        out[len] = '\0';
    }
}

static size_t
on_header(char *line, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n;

    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) /* a new response (after 100 Continue) */
        r->etag[0] = r->last_modified[0] = '\0';
    header_value(line, len, "ETag", r->etag, sizeof r->etag);
    header_value(line, len, "Last-Modified", r->last_modified, sizeof r->last_modified);
    return len;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct scraper *s = arg;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return s->o.cancel != NULL && *s->o.cancel ? 1 : 0; /* non-zero aborts the transfer */
}

/* ----- the session ----- */

static double
env_seconds(const char *name, double dflt, double min, double max, char *err, size_t errlen,
            bool *bad)
{
    const char *v = getenv(name);
    char *end;
    double d;

    if (v == NULL || *v == '\0')
        return dflt;
    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || *end != '\0' || !(d >= min && d <= max)) {
        snprintf(err, errlen, "%s=%s: expected a number from %g to %g", name, v, min, max);
        *bad = true;
        return dflt;
    }
    return d;
}

int
scraper_opts_from_env(struct scraper_opts *o, char *err, size_t errlen)
{
    const char *allow = getenv("SCRAPER_ALLOW_PRIVATE"), *ua = getenv("SCRAPER_USER_AGENT");
    bool bad = false;

    memset(o, 0, sizeof *o);
    o->user_agent = ua != NULL && *ua != '\0' ? ua : SCRAPER_USER_AGENT_DEFAULT;
    o->timeout_s = env_seconds("SCRAPER_TIMEOUT", SCRAPER_DEFAULT_TIMEOUT_S, 0.1, 3600, err,
                               errlen, &bad);
    o->connect_timeout_s = env_seconds("SCRAPER_CONNECT_TIMEOUT",
                                       SCRAPER_DEFAULT_CONNECT_TIMEOUT_S, 0.1, 600, err, errlen,
                                       &bad);
    o->host_delay_s = env_seconds("SCRAPER_DELAY", SCRAPER_DEFAULT_DELAY_S, 0, 600, err, errlen,
                                  &bad);
    o->max_bytes = (size_t)env_seconds("SCRAPER_MAX_BYTES", SCRAPER_DEFAULT_MAX_BYTES, 1024,
                                       1024.0 * 1024 * 1024, err, errlen, &bad);
    o->allow_private = allow != NULL && strcmp(allow, "1") == 0;
    if (allow != NULL && *allow != '\0' && strcmp(allow, "0") != 0 && !o->allow_private &&
        parse_allowed(o, allow, err, errlen) < 0)
        bad = true;
    return bad ? -1 : 0;
}

struct scraper *
scraper_new(const struct scraper_opts *o)
{
    struct scraper *s = calloc(1, sizeof *s);
    size_t n;

    if (s == NULL)
        return NULL;
    s->o = *o;
    if (s->o.user_agent == NULL)
        s->o.user_agent = SCRAPER_USER_AGENT_DEFAULT;
    if (s->o.max_bytes == 0)
        s->o.max_bytes = SCRAPER_DEFAULT_MAX_BYTES;
    if (!(s->o.timeout_s > 0))
        s->o.timeout_s = SCRAPER_DEFAULT_TIMEOUT_S;
    if (!(s->o.connect_timeout_s > 0))
        s->o.connect_timeout_s = SCRAPER_DEFAULT_CONNECT_TIMEOUT_S;
    /* robots.txt groups name the product token: "celeriac-scraper" of "celeriac-scraper/1.0 (...)". */
    n = strcspn(s->o.user_agent, "/ ");
    snprintf(s->agent_token, sizeof s->agent_token, "%.*s", (int)n, s->o.user_agent);
    if ((s->curl = curl_easy_init()) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void
scraper_free(struct scraper *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->nhosts; i++)
        robots_free(s->hosts[i].robots);
    curl_easy_cleanup(s->curl);
    free(s);
}

const struct scraper_opts *
scraper_options(const struct scraper *s)
{
    return &s->o;
}

int
fetch_count(const struct scraper *s)
{
    return s->fetched;
}

bool
content_type_charset(const char *ct, char *out, size_t outlen)
{
    const char *p = ct != NULL ? strcasestr(ct, "charset=") : NULL;
    size_t n;

    if (p == NULL)
        return false;
    p += 8;
    if (*p == '"' || *p == '\'')
        p++;
    n = strcspn(p, "\"'; \t");
    if (n == 0 || n >= outlen)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)p[i]);
    out[n] = '\0';
    return true;
}

/* ----- one request ----- */

/* One GET, no redirect followed. The status (0 when none came), the CURLcode
 * and the response in r. */
static CURLcode
request(struct scraper *s, const char *url, const char *etag, const char *last_modified,
        struct response *r, long *status, char *errbuf)
{
    struct curl_slist *headers = NULL;
    char line[HEADER_VALUE_MAX + 32];
    CURL *c = s->curl;
    CURLcode rc;

    curl_easy_reset(c); /* keeps the connection cache */
    r->max = s->o.max_bytes;
    s->refused[0] = '\0';
    errbuf[0] = '\0';
    headers = curl_slist_append(headers, "Accept: text/html,application/xhtml+xml,"
                                         "application/rss+xml,application/atom+xml,"
                                         "application/xml;q=0.9,*/*;q=0.8");
    if (etag != NULL && strlen(etag) < HEADER_VALUE_MAX) {
        snprintf(line, sizeof line, "If-None-Match: %s", etag);
        headers = curl_slist_append(headers, line);
    }
    if (last_modified != NULL && strlen(last_modified) < HEADER_VALUE_MAX) {
        snprintf(line, sizeof line, "If-Modified-Since: %s", last_modified);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* fetch_get() follows, checking each hop */
    curl_easy_setopt(c, CURLOPT_PROXY, "");         /* no proxy from the environment: the
                                                      * guard must see the real address */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, s->o.user_agent);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding libcurl decodes */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->o.connect_timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->o.timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->o.max_bytes);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    s->fetched++;
    return rc;
}

/* Why the request failed, in words a user can act on. */
static void
describe(struct scraper *s, CURLcode rc, const struct response *r, const char *errbuf,
         char *out, size_t outlen)
{
    /* A refused address explains the failure when no other address answered;
     * curl tries the next one after a refusal. */
    if (s->refused[0] != '\0' && rc == CURLE_COULDNT_CONNECT)
        snprintf(out, outlen, "%s", s->refused);
    else if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(out, outlen, "response larger than %zu bytes: not read further", s->o.max_bytes);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, outlen, "timed out (%s)", errbuf[0] != '\0' ? errbuf : "no answer");
    else
        snprintf(out, outlen, "%s%s%s", curl_easy_strerror(rc), errbuf[0] != '\0' ? ": " : "",
                 errbuf);
}

/* ----- hosts: robots.txt and the delay ----- */

/* Wait until the host's delay has passed since its last request. false when cancelled. */
static bool
wait_turn(struct scraper *s, const struct host *hs)
{
    double wait = 0;

    /* Every origin of the same host shares the host's turn. */
    for (int i = 0; i < s->nhosts; i++) {
        const struct host *o = &s->hosts[i];
        if (strcmp(o->site, hs->site) == 0 && o->last > 0) {
            double w = o->last + hs->delay_s - clock_mono();
            if (w > wait)
                wait = w;
        }
    }
    return wait <= 0 || clock_sleep(wait, s->o.cancel) == 0;
}

/* One request to hs's host in its turn, recorded for the next turn. */
static CURLcode
polite_request(struct scraper *s, struct host *hs, const char *url, const char *etag,
               const char *last_modified, struct response *r, long *status, char *errbuf,
               double *ms)
{
    double t0;
    CURLcode rc;

    *status = 0;
    *ms = 0;
    if (!wait_turn(s, hs))
        return CURLE_ABORTED_BY_CALLBACK;
    t0 = clock_mono();
    rc = request(s, url, etag, last_modified, r, status, errbuf);
    hs->last = clock_mono();
    *ms = (hs->last - t0) * 1000;
    return rc;
}

/* Read origin's robots.txt (redirects followed) into hs->robots. RFC 9309:
 * 4xx means no rules, a server error or no answer means keep out. false
 * when the fetch was cancelled or refused by the guard (err says why). */
static bool
load_robots(struct scraper *s, struct host *hs, const struct scraper_hooks *h, char *err,
            size_t errlen)
{
    char url[URL_MAX + 16], errbuf[CURL_ERROR_SIZE];
    snprintf(url, sizeof url, "%s/robots.txt", hs->origin);
    char *current = strdup(url);

    for (int hop = 0; current != NULL && hop <= SCRAPER_MAX_REDIRECTS; hop++) {
        struct response r = {0};
        long status;
        double ms = 0;
        char *loc = NULL, *next;
        CURLcode rc = polite_request(s, hs, current, NULL, NULL, &r, &status, errbuf, &ms);

        if (rc == CURLE_ABORTED_BY_CALLBACK || (rc != CURLE_OK && s->refused[0] != '\0')) {
            describe(s, rc, &r, errbuf, err, errlen);
            if (rc == CURLE_ABORTED_BY_CALLBACK)
                snprintf(err, errlen, "cancelled");
            hook_log(h, "GET %s -> %s", current, err);
            buf_fini(&r.body);
            free(current);
            return false;
        }
        if (rc == CURLE_OK && status >= 300 && status < 400 &&
            curl_easy_getinfo(s->curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL &&
            (next = url_resolve(current, loc)) != NULL) {
            hook_log(h, "GET %s -> %ld, redirect to %s", current, status, next);
            free(current);
            current = next;
            buf_fini(&r.body);
            continue;
        }
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            hs->robots = robots_parse(r.body.data != NULL ? r.body.data : "", r.body.len,
                                      s->agent_token);
            hook_log(h, "GET %s -> %ld, %zu bytes, %.0f ms", current, status, r.body.len, ms);
        } else if (rc == CURLE_OK && status >= 400 && status < 500) {
            hs->robots = robots_allow_all();
            hook_log(h, "GET %s -> %ld, %.0f ms: no robots.txt, every path allowed", current, status,
                ms);
        } else {
            char why[SCRAPER_ERROR_MAX];
            if (rc == CURLE_OK)
                snprintf(why, sizeof why, "HTTP %ld", status);
            else
                describe(s, rc, &r, errbuf, why, sizeof why);
            hs->robots = robots_disallow_all();
            snprintf(hs->robots_error, sizeof hs->robots_error,
                     "robots.txt unavailable (%.400s): the site is off limits (RFC 9309)", why);
            hook_log(h, "GET %s -> %s", current, hs->robots_error);
        }
        buf_fini(&r.body);
        free(current);
        current = NULL;
    }
    free(current);
    if (hs->robots == NULL) { /* too many redirects, or out of memory */
        hs->robots = robots_disallow_all();
        snprintf(hs->robots_error, sizeof hs->robots_error,
                 "robots.txt unavailable (more than %d redirects): the site is off limits",
                 SCRAPER_MAX_REDIRECTS);
    }
    if (hs->robots == NULL) {
        snprintf(err, errlen, "out of memory reading robots.txt");
        return false;
    }
    if (robots_crawl_delay(hs->robots) > hs->delay_s)
        hs->delay_s = robots_crawl_delay(hs->robots) < CRAWL_DELAY_MAX_S
                          ? robots_crawl_delay(hs->robots)
                          : CRAWL_DELAY_MAX_S;
    return true;
}

/* The host entry of url's origin, robots.txt loaded. NULL with err set. */
static struct host *
host_for(struct scraper *s, const char *url, const struct scraper_hooks *h, char *err,
         size_t errlen)
{
    char origin[300], site[256];
    struct host *hs;

    if (url_origin(url, origin, sizeof origin) != 0 || url_site(url, site, sizeof site) != 0) {
        snprintf(err, errlen, "not an http(s) URL");
        return NULL;
    }
    for (int i = 0; i < s->nhosts; i++)
        if (strcmp(s->hosts[i].origin, origin) == 0)
            return &s->hosts[i];
    if (s->nhosts < MAX_HOSTS) {
        hs = &s->hosts[s->nhosts++];
    } else { /* a scrape touching this many hosts: forget the oldest */
        hs = &s->hosts[s->next_evict];
        s->next_evict = (s->next_evict + 1) % MAX_HOSTS;
        robots_free(hs->robots);
    }
    memset(hs, 0, sizeof *hs);
    snprintf(hs->origin, sizeof hs->origin, "%s", origin);
    snprintf(hs->site, sizeof hs->site, "%s", site);
    hs->delay_s = s->o.host_delay_s;
    if (!load_robots(s, hs, h, err, errlen)) {
        robots_free(hs->robots);
        hs->robots = NULL;
        hs->origin[0] = '\0'; /* not cached: the next URL of this origin tries again */
        return NULL;
    }
    return hs;
}

/* ----- fetch_get ----- */

enum fetch_rc
fetch_get(struct scraper *s, const char *url, const char *etag, const char *last_modified,
          const struct scraper_hooks *h, struct fetch *out)
{
    char *current = url_resolve(NULL, url), errbuf[CURL_ERROR_SIZE], path[URL_MAX + 1];
    double t0 = clock_mono();
    enum fetch_rc result = FETCH_FAILED;

    memset(out, 0, sizeof *out);
    if (current == NULL) {
        snprintf(out->error, sizeof out->error, "not an http(s) URL: %.200s", url);
        hook_log(h, "GET %.200s -> %s", url, out->error);
        return FETCH_FAILED;
    }
    for (;;) {
        struct response r = {0};
        struct host *hs = host_for(s, current, h, out->error, sizeof out->error);
        char *loc = NULL, *next;
        long status;
        double ms = 0;
        CURLcode rc;

        if (hs == NULL) {
            result = s->o.cancel != NULL && *s->o.cancel ? FETCH_CANCELLED : FETCH_FAILED;
            break;
        }
        if (url_path(current, path, sizeof path) == 0 && !robots_allowed(hs->robots, path)) {
            if (hs->robots_error[0] != '\0')
                snprintf(out->error, sizeof out->error, "%.200s/%.300s", hs->origin,
                         hs->robots_error);
            else
                snprintf(out->error, sizeof out->error, "disallowed by %s/robots.txt",
                         hs->origin);
            hook_log(h, "skipped %s: %s", current, out->error);
            result = FETCH_DISALLOWED;
            break;
        }
        rc = polite_request(s, hs, current, etag, last_modified, &r, &status, errbuf, &ms);
        out->status = status;
        if (rc == CURLE_ABORTED_BY_CALLBACK) {
            snprintf(out->error, sizeof out->error, "cancelled");
            hook_log(h, "GET %s -> cancelled after %.0f ms", current, ms);
            buf_fini(&r.body);
            result = FETCH_CANCELLED;
            break;
        }
        if (rc != CURLE_OK) {
            describe(s, rc, &r, errbuf, out->error, sizeof out->error);
            hook_log(h, "GET %s -> error after %.0f ms: %s", current, ms, out->error);
            buf_fini(&r.body);
            break;
        }
        if (status >= 300 && status < 400 && status != 304 &&
            curl_easy_getinfo(s->curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL) {
            buf_fini(&r.body);
            next = url_resolve(current, loc);
            if (next == NULL) {
                snprintf(out->error, sizeof out->error, "redirect to a URL that is not http(s)");
                hook_log(h, "GET %s -> %ld: %s", current, status, out->error);
                break;
            }
            hook_log(h, "GET %s -> %ld, redirect to %s, %.0f ms", current, status, next, ms);
            free(current);
            current = next;
            if (++out->redirects > SCRAPER_MAX_REDIRECTS) {
                snprintf(out->error, sizeof out->error, "more than %d redirects",
                         SCRAPER_MAX_REDIRECTS);
                hook_log(h, "GET %s -> not followed: %s", current, out->error);
                break;
            }
            continue;
        }
        if (status == 304 && (etag != NULL || last_modified != NULL)) {
            hook_log(h, "GET %s -> 304, not modified, %.0f ms", current, ms);
            buf_fini(&r.body);
            result = FETCH_NOT_MODIFIED;
            break;
        }
        if (status < 200 || status >= 300) {
            snprintf(out->error, sizeof out->error, "HTTP %ld", status);
            hook_log(h, "GET %s -> %ld, %zu bytes, %.0f ms", current, status, r.body.len, ms);
            buf_fini(&r.body);
            break;
        }
        hook_log(h, "GET %s -> %ld, %zu bytes, %.0f ms", current, status, r.body.len, ms);
        if (r.body.oom) {
            snprintf(out->error, sizeof out->error, "out of memory");
            buf_fini(&r.body);
            break;
        }
        {
            char *ct = NULL;
            curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ct);
            out->content_type = ct != NULL ? strdup(ct) : NULL;
        }
        out->body = r.body.data != NULL ? r.body.data : strdup("");
        out->len = r.body.len;
        out->etag = r.etag[0] != '\0' ? strdup(r.etag) : NULL;
        out->last_modified = r.last_modified[0] != '\0' ? strdup(r.last_modified) : NULL;
        result = FETCH_OK;
        break;
    }
    out->url = current;
    out->ms = (clock_mono() - t0) * 1000;
    return result;
}

void
fetch_fini(struct fetch *f)
{
    free(f->body);
    free(f->url);
    free(f->content_type);
    free(f->etag);
    free(f->last_modified);
    memset(f, 0, sizeof *f);
}
