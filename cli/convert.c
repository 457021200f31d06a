/* cli/convert.c - `celeriac convert IN OUT`: the convert.file task's
 * conversion, once, in the foreground, with no database and no broker: for
 * trying a converter on a file before uploading it. The target is OUT's
 * extension (or --to); OUT is written whole or not at all (a temporary file
 * beside it, renamed into place). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/config.h"
#include "convert/convert.h"

#define CLI_CONVERT_MAX_INPUT (1024L * 1024 * 1024) /* 1 GiB: the CLI reads the input whole */

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int
read_file(const char *path, struct buf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;

    if (f == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b->len <= CLI_CONVERT_MAX_INPUT)
        buf_putn(b, chunk, n);
    if (ferror(f) || b->oom || b->len > CLI_CONVERT_MAX_INPUT) {
        if (!ferror(f))
            errno = b->oom ? ENOMEM : EFBIG;
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static int
write_file(const char *path, const struct buf *b)
{
    char tmp[4096];
    FILE *f;

    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((f = fopen(tmp, "wb")) == NULL)
        return -1;
    if (fwrite(b->data != NULL ? b->data : "", 1, b->len, f) != b->len || fclose(f) != 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int
int_flag(const char *flag, const char *arg, int lo, int hi, int *out)
{
    if (cfg_parse_int(arg, lo, hi, out) < 0) {
        fprintf(stderr, "celeriac convert: %s: expected %d to %d\n", flag, lo, hi);
        return -1;
    }
    return 0;
}

int
cmd_convert(const struct config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, 't'},        {"width", required_argument, NULL, 'w'},
        {"height", required_argument, NULL, 'h'},    {"quality", required_argument, NULL, 'q'},
        {"delimiter", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0},
    };
    struct convert_job job = {.cancel = &interrupted};
    struct sigaction sa = {.sa_handler = on_interrupt};
    struct buf in = {0}, out = {0};
    const char *to = NULL, *inpath, *outpath, *base;
    char err[CONVERT_ERROR_MAX];
    int c, rc = 1;

    (void)cfg;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            to = optarg;
            break;
        case 'w':
            if (int_flag("--width", optarg, 1, 100000, &job.opt.width) < 0)
                return 2;
            break;
        case 'h':
            if (int_flag("--height", optarg, 1, 100000, &job.opt.height) < 0)
                return 2;
            break;
        case 'q':
            if (int_flag("--quality", optarg, 1, 100, &job.opt.quality) < 0)
                return 2;
            break;
        case 'd':
            if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\\t") == 0)
                optarg = "\t";
            if (strlen(optarg) != 1 || !convert_csv_delimiter_ok(optarg[0])) {
                fprintf(stderr, "celeriac convert: --delimiter: one of , ; | tab\n");
                return 2;
            }
            job.opt.delimiter = optarg[0];
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 2) {
        fprintf(stderr, "celeriac convert: IN and OUT expected\n");
        return 2;
    }
    inpath = argv[optind];
    outpath = argv[optind + 1];
    job.to = to != NULL ? convert_format_of_ext(to) : convert_format_of_name(outpath);
    if (job.to == NULL) {
        fprintf(stderr, "celeriac convert: %s names no format we write: give --to\n",
                to != NULL ? to : outpath);
        return 2;
    }
    if (convert_limits_from_env(&job, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac convert: %s\n", err);
        return 2;
    }
    if (read_file(inpath, &in) < 0) {
        fprintf(stderr, "celeriac convert: %s: %s\n", inpath, strerror(errno));
        goto done;
    }
    base = strrchr(inpath, '/') != NULL ? strrchr(inpath, '/') + 1 : inpath;
    if ((job.from = convert_identify(in.data, in.len, base, err, sizeof err)) == NULL) {
        fprintf(stderr, "celeriac convert: %s\n", err);
        goto done;
    }
    job.in = in.data != NULL ? in.data : "";
    job.len = in.len;
    sigaction(SIGINT, &sa, NULL);
    if (convert_run(&job, &out, err, sizeof err) < 0) {
        fprintf(stderr, "celeriac convert: %s\n", err);
        goto done;
    }
    if (write_file(outpath, &out) < 0) {
        fprintf(stderr, "celeriac convert: %s: %s\n", outpath, strerror(errno));
        goto done;
    }
    fprintf(stderr, "%s (%s, %zu bytes) -> %s (%s, %zu bytes)\n", inpath, job.from, in.len,
            outpath, job.to, out.len);
    rc = 0;
done:
    buf_fini(&in);
    buf_fini(&out);
    return rc;
}
