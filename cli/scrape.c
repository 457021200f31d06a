/* cli/scrape.c - `celeriac scrape URL`: the scrape.site task's extraction,
 * once, in the foreground, with no database and no broker: the articles as
 * JSON on stdout, each fetch on stderr. For seeing what the scraper makes of
 * a site's layout before scheduling it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/config.h"
#include "scraper/scraper.h"

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1; /* stop fetching; print what came so far */
}

static void
log_line(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

int
cmd_scrape(const struct config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"max-pages", required_argument, NULL, 'm'},
        {"no-follow", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct scraper_hooks hooks = {.log = log_line};
    struct scraper_report report;
    struct scraper_opts opts;
    struct sigaction sa = {.sa_handler = on_interrupt};
    struct scraper *s;
    char err[SCRAPER_ERROR_MAX], *json;
    int max_pages = 20, c, rc;
    bool follow = true;

    (void)cfg;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (cfg_parse_int(optarg, 0, SCRAPER_MAX_PAGES, &max_pages) < 0) {
                fprintf(stderr, "celeriac scrape: --max-pages: expected 0 to %d\n",
                        SCRAPER_MAX_PAGES);
                return 2;
            }
            break;
        case 'n':
            follow = false;
            break;
        case 'q':
            hooks.log = NULL;
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "celeriac scrape: one URL expected\n");
        return 2;
    }
    if (scraper_opts_from_env(&opts, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac scrape: %s\n", err);
        return 2;
    }
    opts.cancel = &interrupted;
    sigaction(SIGINT, &sa, NULL);
    if ((s = scraper_new(&opts)) == NULL) {
        fprintf(stderr, "celeriac scrape: cannot start libcurl\n");
        return 1;
    }
    rc = scraper_scrape(s, argv[optind], max_pages, follow, &hooks, &report, err, sizeof err);
    scraper_free(s);
    if (rc < 0)
        fprintf(stderr, "celeriac scrape: %s\n", err);
    json = scraper_articles_json(report.articles, report.n);
    if (json != NULL && (rc == 0 || report.n > 0))
        printf("{\"articles\": %s, \"fetched\": %d, \"not_modified\": %d, \"failed\": %d, "
               "\"skipped\": %d, \"cancelled\": %s}\n",
               json, report.fetched, report.not_modified, report.failed, report.skipped,
               report.cancelled ? "true" : "false");
    free(json);
    scraper_report_fini(&report);
    return rc < 0 ? 1 : 0;
}
