/* test/unit/test_scraper.c - the scraper library without a network: URLs,
 * the private-address guard, text, feed detection, and extraction of every
 * page and feed of the fixture site (test/fixtures/site) checked against
 * test/fixtures/site/expected.json, the contract the system tests share. */
#include <stdarg.h> /* cmocka.h needs these four first */
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/buf.h"
#include "scraper/internal.h"
#include "scraper/scraper.h"

#define SITE_DIR "test/fixtures/site/"
#define BASE "http://127.0.0.1:8000"
#define SITE "127.0.0.1:8000"

/* ----- helpers ----- */

/* A fixture file with {{BASE}} replaced, as the test server serves it. */
static char *
fixture(const char *path, size_t *len)
{
    char name[512];
    struct buf b = {0};
    FILE *f;
    char chunk[8192];
    size_t n;

    snprintf(name, sizeof name, SITE_DIR "%s", path);
    if ((f = fopen(name, "rb")) == NULL)
        fail_msg("cannot read %s", name);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_putn(&b, chunk, n);
    fclose(f);
    assert_false(b.oom);
    /* Substitute the placeholder in place (BASE is no longer than it needs). */
    struct buf out = {0};
    const char *p = b.data, *end = b.data + b.len, *hit;
    while ((hit = memmem(p, (size_t)(end - p), "{{BASE}}", 8)) != NULL) {
        buf_putn(&out, p, (size_t)(hit - p));
        buf_put(&out, BASE);
        p = hit + 8;
    }
    buf_putn(&out, p, (size_t)(end - p));
    buf_fini(&b);
    *len = out.len;
    return out.data;
}

static char *
subst(const char *s)
{
    struct buf out = {0};
    const char *p = s, *hit;

    while ((hit = strstr(p, "{{")) != NULL) {
        buf_putn(&out, p, (size_t)(hit - p));
        if (strncmp(hit, "{{BASE}}", 8) == 0) {
            buf_put(&out, BASE);
            p = hit + 8;
        } else if (strncmp(hit, "{{SITE}}", 8) == 0) {
            buf_put(&out, SITE);
            p = hit + 8;
        } else {
            buf_putn(&out, hit, 2);
            p = hit + 2;
        }
    }
    buf_put(&out, p);
    return out.data != NULL ? out.data : strdup("");
}

static cJSON *expected;

static int
load_expected(void **state)
{
    size_t len;
    char *text;

    (void)state;
    {
        char name[] = SITE_DIR "expected.json";
        FILE *f = fopen(name, "rb");
        struct buf b = {0};
        char chunk[8192];
        size_t n;
        if (f == NULL)
            return -1;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_putn(&b, chunk, n);
        fclose(f);
        text = b.data;
        len = b.len;
    }
    expected = cJSON_ParseWithLength(text, len);
    free(text);
    return expected != NULL ? 0 : -1;
}

static int
free_expected(void **state)
{
    (void)state;
    cJSON_Delete(expected);
    return 0;
}

static void
assert_field(const char *what, const char *url, const cJSON *want, const char *got)
{
    if (cJSON_IsNull(want) || want == NULL) {
        if (got != NULL)
            fail_msg("%s of %s: expected null, got \"%s\"", what, url, got);
        return;
    }
    char *w = subst(want->valuestring);
    if (got == NULL || strcmp(w, got) != 0)
        fail_msg("%s of %s:\n  expected \"%s\"\n  got      \"%s\"", what, url, w,
                 got != NULL ? got : "(null)");
    free(w);
}

/* One article against its expected object: every field, and the text's
 * must-have and must-not-have phrases. */
static void
check_article(const cJSON *want, const struct scraper_article *a)
{
    const char *url = a->url != NULL ? a->url : "(no url)";
    const cJSON *phrase;

    assert_field("url", url, cJSON_GetObjectItem(want, "url"), a->url);
    assert_field("site", url, cJSON_GetObjectItem(want, "site"), a->site);
    assert_field("title", url, cJSON_GetObjectItem(want, "title"), a->title);
    assert_field("author", url, cJSON_GetObjectItem(want, "author"), a->author);
    assert_field("published_at", url, cJSON_GetObjectItem(want, "published_at"),
                 a->published_at);
    assert_field("summary", url, cJSON_GetObjectItem(want, "summary"), a->summary);
    cJSON_ArrayForEach(phrase, cJSON_GetObjectItem(want, "text_contains"))
    {
        if (a->text == NULL || strstr(a->text, phrase->valuestring) == NULL)
            fail_msg("text of %s lacks \"%s\":\n%s", url, phrase->valuestring,
                     a->text != NULL ? a->text : "(null)");
    }
    cJSON_ArrayForEach(phrase, cJSON_GetObjectItem(want, "text_excludes"))
    {
        if (a->text != NULL && strstr(a->text, phrase->valuestring) != NULL)
            fail_msg("text of %s holds \"%s\"", url, phrase->valuestring);
    }
}

static const cJSON *
expected_article(const char *section, const char *url)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, cJSON_GetObjectItem(cJSON_GetObjectItem(expected, section), "articles"))
    {
        char *u = subst(cJSON_GetObjectItem(a, "url")->valuestring);
        bool same = strcmp(u, url) == 0;
        free(u);
        if (same)
            return a;
    }
    return NULL;
}

/* ----- URLs ----- */

static void
url_resolution(void **state)
{
    static const struct {
        const char *base, *ref, *want;
    } cases[] = {
        {"http://a.example/b/c.html", "d.html", "http://a.example/b/d.html"},
        {"http://a.example/b/c.html", "../x", "http://a.example/x"},
        {"http://a.example/b/c.html", "/root#frag", "http://a.example/root"},
        {"http://a.example/b/c.html", "//other.example/p", "http://other.example/p"},
        {"https://a.example/", "?q=1", "https://a.example/?q=1"},
        {"http://a.example:80/", "x", "http://a.example/x"},
        {"https://a.example:443/", "x", "https://a.example/x"},
        {"http://a.example:8080/", "x", "http://a.example:8080/x"},
        {"http://a.example/", "  /spaced  \n", "http://a.example/spaced"},
        {NULL, "HTTP://A.Example/Path", "http://a.example/Path"},
        {"http://a.example/", "javascript:alert(1)", NULL},
        {"http://a.example/", "mailto:x@a.example", NULL},
        {"http://a.example/", "ftp://a.example/f", NULL},
        {"http://a.example/", "data:text/html,hi", NULL},
        {NULL, "relative/only", NULL},
        {"http://a.example/", "", NULL},
        {NULL, "http://", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = url_resolve(cases[i].base, cases[i].ref);
        if (cases[i].want == NULL) {
            if (got != NULL)
                fail_msg("%s against %s: expected refusal, got %s", cases[i].ref,
                         cases[i].base ? cases[i].base : "-", got);
        } else if (got == NULL || strcmp(got, cases[i].want) != 0) {
            fail_msg("%s against %s: expected %s, got %s", cases[i].ref,
                     cases[i].base ? cases[i].base : "-", cases[i].want, got ? got : "NULL");
        }
        free(got);
    }
    /* Longer than URL_MAX: refused. */
    char *longer = malloc(URL_MAX + 64);
    strcpy(longer, "http://a.example/");
    memset(longer + strlen(longer), 'x', URL_MAX);
    longer[URL_MAX + 20] = '\0';
    assert_null(url_resolve(NULL, longer));
    free(longer);
}

static void
url_parts(void **state)
{
    char out[300];

    (void)state;
    assert_int_equal(url_site("http://WWW.Example.org:8080/a?b", out, sizeof out), 0);
    assert_string_equal(out, "www.example.org:8080");
    assert_int_equal(url_site("https://example.org:443/", out, sizeof out), 0);
    assert_string_equal(out, "example.org");
    assert_int_equal(url_origin("https://Example.org/a/b", out, sizeof out), 0);
    assert_string_equal(out, "https://example.org");
    assert_int_equal(url_path("http://example.org/a/b?c=d#e", out, sizeof out), 0);
    assert_string_equal(out, "/a/b?c=d");
    assert_int_equal(url_path("http://example.org", out, sizeof out), 0);
    assert_string_equal(out, "/");
    assert_int_equal(url_site("not a url", out, sizeof out), -1);
    assert_true(url_same_site("www.example.org", "example.org"));
    assert_true(url_same_site("example.org:8080", "example.org:8080"));
    assert_false(url_same_site("example.org", "example.org:8080"));
    assert_false(url_same_site("blog.example.org", "example.org"));
}

/* ----- the private-address guard ----- */

static bool
private4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    const char *why;

    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return addr_is_private((struct sockaddr *)&a, sizeof a, &why);
}

static bool
private6(const char *ip, const char **why)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};

    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return addr_is_private((struct sockaddr *)&a, sizeof a, why);
}

static void
private_addresses(void **state)
{
    static const char *const refused4[] = {
        "127.0.0.1",   "127.255.255.254", "10.0.0.1",     "10.255.255.255", "172.16.0.1",
        "172.31.255.1", "192.168.1.1",    "169.254.169.254", "0.0.0.0",     "100.64.0.1",
        "224.0.0.1",   "239.255.255.250", "255.255.255.255", "240.0.0.1",   "198.18.0.1",
        "192.0.2.1",   "198.51.100.7",    "203.0.113.9",     "192.88.99.1",
    };
    static const char *const allowed4[] = {
        "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.1", "192.169.0.1", "100.128.0.1",
        "1.1.1.1", "11.0.0.1",
    };
    const char *why;

    (void)state;
    for (size_t i = 0; i < sizeof refused4 / sizeof refused4[0]; i++)
        if (!private4(refused4[i]))
            fail_msg("%s must be refused", refused4[i]);
    for (size_t i = 0; i < sizeof allowed4 / sizeof allowed4[0]; i++)
        if (private4(allowed4[i]))
            fail_msg("%s must be allowed", allowed4[i]);
    assert_true(private6("::1", &why));
    assert_string_equal(why, "loopback");
    assert_true(private6("::", &why));
    assert_true(private6("fe80::1", &why));
    assert_string_equal(why, "link-local");
    assert_true(private6("fd12:3456::1", &why));
    assert_string_equal(why, "private");
    assert_true(private6("ff02::1", &why));
    assert_string_equal(why, "multicast");
    assert_true(private6("::ffff:127.0.0.1", &why));
    assert_string_equal(why, "loopback");
    assert_true(private6("::ffff:10.1.2.3", &why));
    assert_true(private6("64:ff9b::7f00:1", &why));
    assert_false(private6("::ffff:8.8.8.8", &why));
    assert_true(private6("::10.0.0.1", &why));              /* IPv4-compatible */
    assert_true(private6("2002:7f00:1::1", &why));           /* 6to4 of 127.0.0.1 */
    assert_string_equal(why, "loopback");
    assert_true(private6("2002:c0a8:101::1", &why));         /* 6to4 of 192.168.1.1 */
    assert_false(private6("2002:808:808::1", &why));         /* 6to4 of 8.8.8.8 */
    assert_true(private6("64:ff9b:1::a00:1", &why));         /* local-use NAT64 */
    assert_false(private6("2001:4860:4860::8888", &why));
    assert_false(private6("2a00:1450:4001::1", &why));
}

/* SCRAPER_* variables: defaults, the allow list, every refusal named. */
static void
options_from_environment(void **state)
{
    struct scraper_opts o;
    char err[SCRAPER_ERROR_MAX];

    (void)state;
    unsetenv("SCRAPER_ALLOW_PRIVATE");
    unsetenv("SCRAPER_DELAY");
    assert_int_equal(scraper_opts_from_env(&o, err, sizeof err), 0);
    assert_false(o.allow_private);
    assert_int_equal(o.nallowed, 0);
    assert_true(o.host_delay_s == SCRAPER_DEFAULT_DELAY_S);
    assert_int_equal(o.max_bytes, SCRAPER_DEFAULT_MAX_BYTES);

    setenv("SCRAPER_ALLOW_PRIVATE", "1", 1);
    assert_int_equal(scraper_opts_from_env(&o, err, sizeof err), 0);
    assert_true(o.allow_private);

    setenv("SCRAPER_ALLOW_PRIVATE", "10.20.0.0/16, fd00::/8,127.0.0.2", 1);
    assert_int_equal(scraper_opts_from_env(&o, err, sizeof err), 0);
    assert_false(o.allow_private);
    assert_int_equal(o.nallowed, 3);
    assert_int_equal(o.allowed[0].bits, 16);
    assert_int_equal(o.allowed[1].family, AF_INET6);
    assert_int_equal(o.allowed[2].bits, 32);

    static const char *const bad[] = {"yes", "10.0.0.0/33", "10.0.0.0/", "::1/129", "300.1.1.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("SCRAPER_ALLOW_PRIVATE", bad[i], 1);
        if (scraper_opts_from_env(&o, err, sizeof err) != -1)
            fail_msg("SCRAPER_ALLOW_PRIVATE=%s accepted", bad[i]);
        assert_non_null(strstr(err, "SCRAPER_ALLOW_PRIVATE"));
    }
    unsetenv("SCRAPER_ALLOW_PRIVATE");
    setenv("SCRAPER_DELAY", "-1", 1);
    assert_int_equal(scraper_opts_from_env(&o, err, sizeof err), -1);
    assert_non_null(strstr(err, "SCRAPER_DELAY"));
    setenv("SCRAPER_DELAY", "0.25", 1);
    assert_int_equal(scraper_opts_from_env(&o, err, sizeof err), 0);
    assert_true(o.host_delay_s == 0.25);
    unsetenv("SCRAPER_DELAY");
}

static void
charset_of_content_type(void **state)
{
    char cs[64];

    (void)state;
    assert_true(content_type_charset("text/html; charset=ISO-8859-1", cs, sizeof cs));
    assert_string_equal(cs, "iso-8859-1");
    assert_true(content_type_charset("text/html;charset=\"utf-8\"", cs, sizeof cs));
    assert_string_equal(cs, "utf-8");
    assert_false(content_type_charset("text/html", cs, sizeof cs));
    assert_false(content_type_charset(NULL, cs, sizeof cs));
    assert_false(content_type_charset("text/html; charset=", cs, sizeof cs));
}

/* ----- text ----- */

static void
text_helpers(void **state)
{
    char *t;
    struct buf b = {0};

    (void)state;
    t = text_clean("  a \n\t b\xc2\xa0" "c  ");
    assert_string_equal(t, "a b c");
    free(t);
    assert_null(text_clean(" \n "));
    assert_null(text_clean(NULL));

    t = text_of_html("<p>One <b>two</b></p><script>var x = 1;</script><style>p{}</style>"
                     "<p>Three<br>four</p><nav>menu</nav><div class=\"comments\">spam</div>",
                     strlen("<p>One <b>two</b></p><script>var x = 1;</script><style>p{}</style>"
                            "<p>Three<br>four</p><nav>menu</nav><div class=\"comments\">spam</div>"));
    assert_non_null(t);
    assert_string_equal(t, "One two\n\nThree\nfour");
    free(t);

    static const char broken[] = "ok \xff\xfe bad \xe2\x82 cut \xe2\x82\xac";
    text_append_utf8(&b, broken, sizeof broken - 1);
    assert_string_equal(b.data, "ok \xef\xbf\xbd\xef\xbf\xbd bad \xef\xbf\xbd\xef\xbf\xbd cut \xe2\x82\xac");
    buf_fini(&b);
}

/* ----- detection ----- */

static void
detect_kinds(void **state)
{
    static const struct {
        const char *doc;
        enum scraper_doc kind;
    } cases[] = {
        {"<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel/></rss>", SCRAPER_DOC_RSS},
        {"\xef\xbb\xbf<!-- hi --><rss>", SCRAPER_DOC_RSS},
        {"<rdf:RDF xmlns:rdf=\"x\">", SCRAPER_DOC_RSS},
        {"<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">", SCRAPER_DOC_ATOM},
        {"<atom:feed xmlns:atom=\"x\">", SCRAPER_DOC_ATOM},
        {"<!DOCTYPE html><html><head>", SCRAPER_DOC_HTML},
        {"<html><body><rss>", SCRAPER_DOC_HTML},
        {"plain text", SCRAPER_DOC_HTML},
        {"", SCRAPER_DOC_HTML},
        {"<!-- never closed", SCRAPER_DOC_HTML},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (scraper_detect(cases[i].doc, strlen(cases[i].doc), NULL) != cases[i].kind)
            fail_msg("case %zu detected wrong", i);
}

/* ----- the fixture site's pages and feeds ----- */

static void
extract_page(const char *file, const char *url, const char *charset, struct scraper_page *p)
{
    char err[SCRAPER_ERROR_MAX];
    size_t len;
    char *body = fixture(file, &len);

    if (scraper_extract_html(body, len, url, charset, p, err, sizeof err) != 0)
        fail_msg("%s: %s", file, err);
    free(body);
}

/* Each article page of the index, fetched from where the index links it. */
static void
article_pages(void **state)
{
    static const struct {
        const char *file, *path, *charset;
    } pages[] = {
        {"2026/11/wordpress-style-post/index.html", "/2026/11/wordpress-style-post/", NULL},
        {"ghost/ghost-style-post/index.html", "/ghost/ghost-style-post/", NULL},
        {"posts/jekyll-style-post.html", "/posts/jekyll-style-post.html", NULL},
        {"medium/json-ld-post-1a2b3c", "/medium/json-ld-post-1a2b3c", "utf-8"},
        {"latin1.html", "/latin1.html", "iso-8859-1"},
        {"latin1.html", "/latin1.html", NULL}, /* its <meta charset> alone is enough */
        {"articles/redirected.html", "/articles/redirected.html", NULL},
        {"broken.html", "/broken.html", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        struct scraper_page p;
        const cJSON *want;
        char url[256];

        snprintf(url, sizeof url, BASE "%s", pages[i].path);
        extract_page(pages[i].file, url, pages[i].charset, &p);
        want = expected_article("index_follow", p.article.url);
        if (want == NULL)
            fail_msg("%s: extracted url %s is not in expected.json", pages[i].file,
                     p.article.url);
        check_article(want, &p.article);
        assert_string_equal(p.article.source_url, url);
        /* The title is a field of its own: the text does not repeat it first. */
        assert_non_null(p.article.text);
        if (strncmp(p.article.text, p.article.title, strlen(p.article.title)) == 0)
            fail_msg("%s: the text starts with the title", pages[i].file);
        scraper_page_fini(&p);
    }
}

/* The index: the article links in page order, none of the chrome. */
static void
index_links(void **state)
{
    const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, "index_follow"),
                                            "links");
    struct scraper_page p;
    const cJSON *w;
    int i = 0;

    (void)state;
    extract_page("index.html", BASE "/", NULL, &p);
    assert_null(p.feed_url);
    assert_non_null(want);
    if (p.nlinks != cJSON_GetArraySize(want)) {
        for (int k = 0; k < p.nlinks; k++)
            print_message("link %d: %s\n", k, p.links[k]);
        fail_msg("%d links, expected %d", p.nlinks, cJSON_GetArraySize(want));
    }
    cJSON_ArrayForEach(w, want)
    {
        char *u = subst(w->valuestring);
        assert_string_equal(p.links[i++], u);
        free(u);
    }
    scraper_page_fini(&p);

    extract_page("news/index.html", BASE "/news/", NULL, &p);
    assert_non_null(p.feed_url);
    assert_string_equal(p.feed_url, BASE "/atom.xml");
    scraper_page_fini(&p);
}

static void
check_feed(const char *section, const char *file, const char *url)
{
    const cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(expected, section), "articles");
    struct scraper_article *v;
    char err[SCRAPER_ERROR_MAX];
    bool truncated;
    size_t len;
    char *body = fixture(file, &len);
    int n;

    if (scraper_extract_feed(body, len, url, NULL, &v, &n, &truncated, err, sizeof err) != 0)
        fail_msg("%s: %s", file, err);
    free(body);
    assert_false(truncated);
    assert_int_equal(n, cJSON_GetArraySize(want));
    for (int i = 0; i < n; i++) {
        check_article(cJSON_GetArrayItem(want, i), &v[i]);
        scraper_article_fini(&v[i]);
    }
    free(v);
}

static void
feeds(void **state)
{
    (void)state;
    check_feed("rss", "feed.xml", BASE "/feed.xml");
    check_feed("atom", "atom.xml", BASE "/atom.xml");
}

/* A page may not claim another site's URL as its canonical one (it would
 * overwrite that site's article), nor send the scrape to another site's feed. */
static void
foreign_canonical_and_feed_are_ignored(void **state)
{
    static const char page[] =
        "<html><head><title>Mine</title>"
        "<link rel=canonical href=\"https://victim.example/news/1\">"
        "<meta property=og:url content=\"https://victim.example/news/1\">"
        "<link rel=alternate type=application/rss+xml href=\"http://10.0.0.5/feed\">"
        "</head><body><article><p>Some text long enough to be an article.</p></article>"
        "</body></html>";
    static const char www[] =
        "<html><head><link rel=canonical href=\"https://www.attacker.example/post#x\">"
        "<link rel=alternate type=application/atom+xml href=\"/atom\"></head>"
        "<body><h1>T</h1></body></html>";
    struct scraper_page p;
    char err[SCRAPER_ERROR_MAX];

    (void)state;
    assert_int_equal(scraper_extract_html(page, sizeof page - 1, "https://attacker.example/p",
                                          NULL, &p, err, sizeof err), 0);
    assert_string_equal(p.article.url, "https://attacker.example/p");
    assert_string_equal(p.article.site, "attacker.example");
    assert_null(p.feed_url);
    scraper_page_fini(&p);
    /* The same site with or without www. is the site. */
    assert_int_equal(scraper_extract_html(www, sizeof www - 1, "https://attacker.example/post",
                                          NULL, &p, err, sizeof err), 0);
    assert_string_equal(p.article.url, "https://www.attacker.example/post");
    assert_string_equal(p.feed_url, "https://attacker.example/atom");
    scraper_page_fini(&p);
}

/* A feed of 25,000 entries: the first SCRAPER_MAX_ENTRIES are kept. */
static void
huge_feed(void **state)
{
    struct buf b = {0};
    struct scraper_article *v;
    char err[SCRAPER_ERROR_MAX];
    bool truncated;
    int n;

    (void)state;
    buf_put(&b, "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Big</title>");
    for (int i = 0; i < 25000; i++)
        buf_printf(&b, "<item><title>Entry %d</title><link>http://big.example/e/%d</link>"
                       "<pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate></item>", i, i);
    buf_put(&b, "</channel></rss>");
    assert_int_equal(scraper_extract_feed(b.data, b.len, "http://big.example/feed", NULL, &v, &n,
                                          &truncated, err, sizeof err), 0);
    assert_int_equal(n, SCRAPER_MAX_ENTRIES);
    assert_true(truncated);
    assert_string_equal(v[n - 1].title, "Entry 19999");
    assert_string_equal(v[0].published_at, "2006-01-02T15:04:05Z");
    for (int i = 0; i < n; i++)
        scraper_article_fini(&v[i]);
    free(v);
    buf_fini(&b);
}

/* Whatever the bytes, extraction ends with an answer, not a crash. */
static void
hostile_input(void **state)
{
    struct scraper_page p;
    struct scraper_article *v;
    char err[SCRAPER_ERROR_MAX];
    struct buf deep = {0};
    bool truncated;
    int n;

    (void)state;
    for (int i = 0; i < 100000; i++)
        buf_put(&deep, "<div>");
    buf_put(&deep, "<p>deep inside a very deeply nested page</p>");
    if (scraper_extract_html(deep.data, deep.len, "http://x.example/", NULL, &p, err,
                             sizeof err) == 0)
        scraper_page_fini(&p);
    buf_fini(&deep);

    static const char *const docs[] = {"", "\0\0\0", "<", "<html><body><p>unclosed",
                                       "\xff\xfe\x00<\x00h", "<rss><channel><item><link>",
                                       "<feed><entry><link href=\"javascript:x\"/></entry>",
                                       "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a "
                                       "\"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;\">]>"
                                       "<rss><channel><item><title>&b;&b;&b;</title>"
                                       "<link>http://x.example/1</link></item></channel></rss>"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t len = i == 1 ? 3 : strlen(docs[i]); /* "\0\0\0": three NULs */
        if (scraper_extract_html(docs[i], len, "http://x.example/", NULL, &p, err, sizeof err) == 0)
            scraper_page_fini(&p);
        if (scraper_extract_feed(docs[i], len, "http://x.example/", NULL, &v, &n, &truncated, err,
                                 sizeof err) == 0) {
            for (int k = 0; k < n; k++)
                scraper_article_fini(&v[k]);
            free(v);
        }
    }
    /* An entity bomb that libxml2's parse-time limits let through (each
     * reference is expanded only when the text is read): refused. */
    struct buf bomb = {0};
    buf_put(&bomb, "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY e \"");
    for (int k = 0; k < 4000; k++)
        buf_put(&bomb, "A");
    buf_put(&bomb, "\">]><rss><channel>");
    for (int k = 0; k < 300; k++) {
        buf_printf(&bomb, "<item><link>http://x.example/%d</link><description>", k);
        for (int j = 0; j < 1000; j++)
            buf_put(&bomb, "&e;");
        buf_put(&bomb, "</description></item>");
    }
    buf_put(&bomb, "</channel></rss>");
    assert_int_equal(scraper_extract_feed(bomb.data, bomb.len, "http://x.example/", NULL, &v, &n,
                                          &truncated, err, sizeof err), -1);
    assert_non_null(strstr(err, "entities"));
    buf_fini(&bomb);

    /* The XXE classic: an external entity is never read (and the feed is refused). */
    static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
                              "\"file:///etc/passwd\">]><rss><channel><item><title>&x;</title>"
                              "<link>http://x.example/1</link></item></channel></rss>";
    assert_int_equal(scraper_extract_feed(xxe, strlen(xxe), "http://x.example/", NULL, &v, &n,
                                          &truncated, err, sizeof err), -1);
    assert_null(strstr(err, "root:"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_resolution),   cmocka_unit_test(url_parts),
        cmocka_unit_test(private_addresses), cmocka_unit_test(charset_of_content_type),
        cmocka_unit_test(options_from_environment),
        cmocka_unit_test(text_helpers),     cmocka_unit_test(detect_kinds),
        cmocka_unit_test(article_pages),    cmocka_unit_test(index_links),
        cmocka_unit_test(feeds),            cmocka_unit_test(huge_feed),
        cmocka_unit_test(foreign_canonical_and_feed_are_ignored),
        cmocka_unit_test(hostile_input),
    };

    return cmocka_run_group_tests(tests, load_expected, free_expected);
}
