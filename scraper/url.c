/* scraper/url.c - URLs on libcurl's parser (RFC 3986 resolution, scheme and
 * host checks): the scraper never splits a URL by hand. */
#include "scraper/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* A handle holding url (resolved against base when given), or NULL when
 * the result is not http(s) with a host. */
static CURLU *
parse(const char *base, const char *ref)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok;

    if (u == NULL)
        return NULL;
    if (base != NULL && curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return NULL;
    }
    /* With a base set, a relative ref is resolved against it (RFC 3986 5.2). */
    ok = curl_url_set(u, CURLUPART_URL, ref, CURLU_URLENCODE) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
         curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] != '\0';
    curl_free(scheme);
    curl_free(host);
    if (!ok) {
        curl_url_cleanup(u);
        return NULL;
    }
    return u;
}

char *
url_resolve(const char *base, const char *ref)
{
    char *trimmed, *out = NULL, *url = NULL;
    size_t n;
    CURLU *u;

    if (ref == NULL)
        return NULL;
    while (isspace((unsigned char)*ref))
        ref++;
    n = strlen(ref);
    while (n > 0 && isspace((unsigned char)ref[n - 1]))
        n--;
    if (n == 0 || n > URL_MAX || (trimmed = strndup(ref, n)) == NULL)
        return NULL;
    /* Inner whitespace (a newline in an href) is not part of a URL. */
    for (char *p = trimmed; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    u = parse(base, trimmed);
    free(trimmed);
    if (u == NULL)
        return NULL;
    /* Host names are case-insensitive: one spelling, so one article per URL. */
    char *host = NULL;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        for (char *p = host; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        curl_url_set(u, CURLUPART_HOST, host, 0);
    }
    curl_free(host);
    if (curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &url, CURLU_NO_DEFAULT_PORT) == CURLUE_OK &&
        strlen(url) <= URL_MAX)
        out = strdup(url);
    curl_free(url);
    curl_url_cleanup(u);
    return out;
}

/* Copy a lower-cased into out as "prefix host[:port]". */
static int
host_port(const char *url, bool with_scheme, char *out, size_t outlen)
{
    CURLU *u = parse(NULL, url);
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1, n;

    if (u == NULL)
        return -1;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        bool default_port = curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK ||
                            (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0) ||
                            (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0);
        n = snprintf(out, outlen, "%s%s%s%s%s", with_scheme ? scheme : "",
                     with_scheme ? "://" : "", host, default_port ? "" : ":",
                     default_port ? "" : port);
        if (n > 0 && (size_t)n < outlen) {
            for (char *p = out; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            rc = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int
url_site(const char *url, char *out, size_t outlen)
{
    return host_port(url, false, out, outlen);
}

int
url_origin(const char *url, char *out, size_t outlen)
{
    return host_port(url, true, out, outlen);
}

int
url_path(const char *url, char *out, size_t outlen)
{
    CURLU *u = parse(NULL, url);
    char *path = NULL, *query = NULL;
    int rc = -1, n;

    if (u == NULL)
        return -1;
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        bool q = curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK;
        n = snprintf(out, outlen, "%s%s%s", path[0] == '/' ? path : "/", q ? "?" : "",
                     q ? query : "");
        rc = n > 0 && (size_t)n < outlen ? 0 : -1;
    }
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

bool
url_same_site(const char *a, const char *b)
{
    if (strncmp(a, "www.", 4) == 0)
        a += 4;
    if (strncmp(b, "www.", 4) == 0)
        b += 4;
    return strcmp(a, b) == 0;
}
