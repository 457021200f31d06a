/* scraper/robots.c - see robots.h. The parser reads the file once, line by
 * line, keeping only the rules of two candidate policies: the groups that name
 * our product token and the "*" groups; the loser is freed at the end. Rules
 * are stored percent-normalised and sorted longest first, so robots_allowed()
 * stops at the first pattern that matches. The wildcard matcher backtracks
 * only to the last '*' seen, which is enough for '*' alone and bounds it by
 * pattern length x path length: no input makes it exponential. */
#include "scraper/robots.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ascii.h"

/* One Allow or Disallow line. Its pattern lives in the policy's pool. */
struct rule {
    size_t off;    /* pattern in pool, normalised, without the anchoring '$' */
    size_t len;    /* its length (runs of '*' count once) */
    size_t fixed;  /* its bytes other than '*': a shorter path cannot match */
    size_t weight; /* the length as it counts for "longest match" ('$' included) */
    bool allow;    /* Allow, else Disallow */
    bool anchored; /* ended with '$': must match the whole path */
};

struct robots {
    struct rule *rules; /* sorted by robots_parse(): heaviest first, Allow first on a tie */
    size_t n, cap;
    char *pool; /* patterns, each followed by a NUL */
    size_t used, size;
    double delay;      /* Crawl-delay, -1: none */
    bool disallow_all; /* robots_disallow_all(): no rule is consulted */
};

/* ---------------------------------------------------------------- bytes */

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* RFC 3986's unreserved characters: %-escapes of these mean the character. */
static bool
is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || ascii_is_digit(c) || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Whether s[0..len) is name, ASCII case-insensitively (no locale). */
static bool
same_word(const char *s, size_t len, const char *name)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (name[i] == '\0' || (unsigned char)ascii_lower((unsigned char)s[i]) != (unsigned char)name[i])
            return false;
    return name[i] == '\0';
}

/* Write s[0..len) to out in the one spelling both sides are compared in:
 * escapes of unreserved characters decoded, other escapes with upper-case hex
 * digits, a '%' that starts no escape and every byte outside '!'..'~' escaped.
 * out needs room for 3 * len bytes. Returns the length written. */
static size_t
normalise(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (c == '%' && i + 2 < len && (hi = ascii_hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = ascii_hex_value((unsigned char)s[i + 2])) >= 0) {
            unsigned char v = (unsigned char)(hi << 4 | lo);

            if (is_unreserved(v)) {
                out[n++] = (char)v;
            } else {
                out[n++] = '%';
                out[n++] = hex[hi];
                out[n++] = hex[lo];
            }
            i += 2;
        } else if (c == '%' || c <= ' ' || c >= 0x7f) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

/* ---------------------------------------------------------------- policies */

static struct robots *
policy_new(void)
{
    struct robots *r = calloc(1, sizeof *r);

    if (r != NULL)
        r->delay = -1;
    return r;
}

void
robots_free(struct robots *r)
{
    if (r == NULL)
        return;
    free(r->rules);
    free(r->pool);
    free(r);
}

struct robots *
robots_allow_all(void)
{
    return policy_new();
}

struct robots *
robots_disallow_all(void)
{
    struct robots *r = policy_new();

    if (r != NULL)
        r->disallow_all = true;
    return r;
}

/* Add an Allow or Disallow rule whose pattern is value[0..len) (not empty).
 * 0, or -1 when out of memory. */
static int
add_rule(struct robots *r, bool allow, const char *value, size_t len)
{
    struct rule *ru;
    size_t need = r->used + 3 * len + 1, k = 0;
    char *p;

    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 16 : 2 * r->cap;
        struct rule *v = realloc(r->rules, cap * sizeof *v);

        if (v == NULL)
            return -1;
        r->rules = v;
        r->cap = cap;
    }
    if (need > r->size) {
        size_t size = r->size == 0 ? 256 : r->size;
        char *pool;

        while (size < need)
            size *= 2;
        if ((pool = realloc(r->pool, size)) == NULL)
            return -1;
        r->pool = pool;
        r->size = size;
    }
    ru = &r->rules[r->n++];
    ru->off = r->used;
    ru->len = normalise(value, len, r->pool + r->used);
    ru->weight = ru->len;
    ru->fixed = 0;
    ru->allow = allow;
    ru->anchored = ru->len > 0 && r->pool[r->used + ru->len - 1] == '$';
    if (ru->anchored)
        ru->len--;
    /* "a**b" is "a*b": fewer steps for the matcher, the same weight. */
    p = r->pool + r->used;
    for (size_t j = 0; j < ru->len; j++) {
        if (p[j] == '*' && k > 0 && p[k - 1] == '*')
            continue;
        ru->fixed += p[j] != '*';
        p[k++] = p[j];
    }
    ru->len = k;
    p[k] = '\0';
    r->used += ru->len + 1;
    return 0;
}

static int
heaviest_first(const void *a, const void *b)
{
    const struct rule *x = a, *y = b;

    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    if (x->allow != y->allow)
        return x->allow ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* a total order: qsort is not stable */
}

/* Crawl-delay's value: digits with an optional fraction, nothing else.
 * -1 when it is not such a number. */
static double
parse_delay(const char *s, size_t len)
{
    double v = 0, scale = 1;
    size_t i = 0, digits = 0;

    for (; i < len && ascii_is_digit((unsigned char)s[i]); i++, digits++)
        if (v < 1e9) /* saturate: a wall of digits is no reason for inf */
            v = v * 10 + (s[i] - '0');
    if (i < len && s[i] == '.') {
        for (i++; i < len && ascii_is_digit((unsigned char)s[i]); i++, digits++)
            if (scale > 1e-12)
                v += (s[i] - '0') * (scale /= 10);
    }
    return digits > 0 && i == len ? v : -1;
}

/* ---------------------------------------------------------------- parsing */

enum line_kind { L_OTHER, L_AGENT, L_ALLOW, L_DISALLOW, L_DELAY };

/* What a field name means. The misspellings are common enough in the wild
 * that Google's parser accepts them too. */
static enum line_kind
line_kind(const char *key, size_t len)
{
    static const struct {
        const char *name;
        enum line_kind kind;
    } names[] = {
        {"user-agent", L_AGENT},  {"useragent", L_AGENT},   {"user agent", L_AGENT},
        {"allow", L_ALLOW},       {"disallow", L_DISALLOW}, {"dissallow", L_DISALLOW},
        {"dissalow", L_DISALLOW}, {"disalow", L_DISALLOW},  {"crawl-delay", L_DELAY},
        {"crawldelay", L_DELAY},  {"crawl delay", L_DELAY},
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (same_word(key, len, names[i].name))
            return names[i].kind;
    return L_OTHER; /* Sitemap and anything unknown: not part of any group */
}

/* The product token of a User-agent value or header: up to '/' or a space. */
static size_t
product_token(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && s[n] != '/' && !is_space((unsigned char)s[n]))
        n++;
    return n;
}

/* Where parsing is: the two candidate policies and the current group. */
struct parse {
    const char *agent; /* our product token, lower case or not */
    size_t agent_len;
    struct robots *ours, *star;
    bool named_us, named_star; /* some group did, so that policy applies */
    bool in_agents;            /* the last group line was a User-agent line */
    bool cur_ours, cur_star;   /* the current group is ours / is a "*" group */
};

static void
user_agent_line(struct parse *ps, const char *value, size_t len)
{
    size_t tok = product_token(value, len);

    if (!ps->in_agents) /* a User-agent after rules starts a new group */
        ps->cur_ours = ps->cur_star = false;
    ps->in_agents = true;
    if (tok == 1 && value[0] == '*') {
        ps->cur_star = ps->named_star = true;
    } else if (tok > 0 && tok == ps->agent_len) {
        size_t i = 0;

        while (i < tok && (unsigned char)ascii_lower((unsigned char)value[i]) == (unsigned char)ascii_lower((unsigned char)ps->agent[i]))
            i++;
        if (i == tok)
            ps->cur_ours = ps->named_us = true;
    }
}

/* One group member line: a rule or a Crawl-delay. 0, or -1 when out of memory. */
static int
member_line(struct parse *ps, enum line_kind kind, const char *value, size_t len)
{
    struct robots *to[2] = {ps->cur_ours ? ps->ours : NULL, ps->cur_star ? ps->star : NULL};

    ps->in_agents = false;
    for (int i = 0; i < 2; i++) {
        if (to[i] == NULL)
            continue;
        if (kind == L_DELAY) {
            double d = parse_delay(value, len);

            if (d > to[i]->delay)
                to[i]->delay = d;
        } else if (len > 0 && add_rule(to[i], kind == L_ALLOW, value, len) < 0) {
            return -1;
        }
    }
    return 0;
}

/* One line without its end: "field: value # comment". 0, or -1 when out of memory. */
static int
parse_line(struct parse *ps, const char *s, size_t len)
{
    const char *hash = memchr(s, '#', len), *end = s + len, *colon, *key_end, *v;
    enum line_kind kind;

    if (hash != NULL)
        end = hash;
    while (s < end && is_space((unsigned char)*s))
        s++;
    while (end > s && is_space((unsigned char)end[-1]))
        end--;
    if ((colon = memchr(s, ':', (size_t)(end - s))) == NULL)
        return 0; /* no field at all: ignored */
    for (key_end = colon; key_end > s && is_space((unsigned char)key_end[-1]);)
        key_end--;
    for (v = colon + 1; v < end && is_space((unsigned char)*v);)
        v++;
    kind = line_kind(s, (size_t)(key_end - s));
    if (kind == L_AGENT)
        user_agent_line(ps, v, (size_t)(end - v));
    else if (kind != L_OTHER)
        return member_line(ps, kind, v, (size_t)(end - v));
    return 0;
}

struct robots *
robots_parse(const char *text, size_t len, const char *agent)
{
    struct parse ps = {0};
    struct robots *r = NULL;
    size_t i = 0;

    if (agent == NULL)
        agent = "";
    ps.agent = agent;
    ps.agent_len = product_token(agent, strlen(agent));
    ps.ours = policy_new();
    ps.star = policy_new();
    if (ps.ours == NULL || ps.star == NULL)
        goto out;
    if (text == NULL)
        len = 0;
    if (len > ROBOTS_MAX_BYTES) { /* cut at the last whole line: half a rule is a wrong rule */
        len = ROBOTS_MAX_BYTES;
        while (len > 0 && text[len] != '\n' && text[len] != '\r')
            len--;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t start = i;

        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        if (parse_line(&ps, text + start, i - start) < 0)
            goto out;
        i++; /* "\r\n" leaves an empty line: blank lines mean nothing in RFC 9309 */
    }
    /* No group naming us or "*": ours is empty, everything is allowed. */
    if (ps.named_us || !ps.named_star) {
        r = ps.ours;
        ps.ours = NULL;
    } else {
        r = ps.star;
        ps.star = NULL;
    }
    if (r->n > 1)
        qsort(r->rules, r->n, sizeof r->rules[0], heaviest_first);
out:
    robots_free(ps.ours);
    robots_free(ps.star);
    return r;
}

/* ---------------------------------------------------------------- matching */

/* Whether pattern p[0..plen) ('*': any run of bytes) matches a prefix of
 * s[0..slen), or all of it when anchored. On a mismatch only the last '*' is
 * retried, one byte further on: an earlier '*' never needs to take more,
 * since the later one can absorb it. */
static bool
wildcard_match(const char *p, size_t plen, const char *s, size_t slen, bool anchored)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

    for (;;) {
        if (pi == plen) {
            if (!anchored || si == slen)
                return true;
        } else if (p[pi] == '*') {
            star = pi++;
            mark = si;
            continue;
        } else if (si < slen && p[pi] == s[si]) {
            pi++;
            si++;
            continue;
        }
        if (star == SIZE_MAX || mark == slen)
            return false;
        pi = star + 1;
        si = ++mark;
    }
}

bool
robots_allowed(const struct robots *r, const char *path)
{
    char stack[1024], *buf = stack;
    size_t len, n;
    bool allowed = true;

    if (path == NULL || path[0] == '\0')
        path = "/";
    len = strlen(path);
    if (3 * len > sizeof stack && (buf = malloc(3 * len)) == NULL)
        return false; /* cannot tell: do not fetch */
    n = normalise(path, len, buf);
    if (n == 11 && memcmp(buf, "/robots.txt", 11) == 0) {
        allowed = true;
    } else if (r->disallow_all) {
        allowed = false;
    } else {
        for (size_t i = 0; i < r->n; i++) {
            const struct rule *ru = &r->rules[i];

            if (ru->fixed <= n &&
                wildcard_match(r->pool + ru->off, ru->len, buf, n, ru->anchored)) {
                allowed = ru->allow;
                break;
            }
        }
    }
    if (buf != stack)
        free(buf);
    return allowed;
}

double
robots_crawl_delay(const struct robots *r)
{
    return r->delay;
}
