/* test/bench/convert.c - the converters' throughput and memory, the way a
 * worker child runs them: for each of a CSV -> JSON and a JPEG -> WebP
 * (fitted to 800 pixels wide, quality 75) one forked process loads the input
 * once, then calls convert_run() on it in a loop for SECONDS (at least 3
 * times), and reports its runs over a pipe; its peak RSS is what wait4()
 * says it reached (ru_maxrss), libraries, input, output and libvips'
 * threads included. libvips starts in the child, on its first conversion
 * (convert/image.c), as in a worker child: that first run is timed too.
 * Usage: test/bench/convert CSV_FILE JPEG_FILE [SECONDS [OUT_DIR]]
 * (SECONDS per conversion, default 3). Prints one line per conversion,
 * "name conversions/s peak_rss_kib output_bytes first_run_ms cpu_ms", the
 * last the child's user + system time (wait4() too) per conversion, for
 * test/bench/run; with OUT_DIR, the last output goes to OUT_DIR/csv.json
 * and OUT_DIR/jpeg.webp too, for checking. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "convert/convert.h"

#define MIN_RUNS 3

struct conversion {
    const char *name, *from, *to, *out_name;
    int width, quality;
};

static const struct conversion conversions[] = {
    {"csv_json", "csv", "json", "csv.json", 0, 0},
    {"jpeg_webp", "jpeg", "webp", "jpeg.webp", 800, 75},
};

/* What a child sends its parent: one write, far below PIPE_BUF. */
struct report {
    long runs;
    double elapsed, first;
    size_t output_bytes;
};

static int
load(const char *path, struct buf *b)
{
    char chunk[65536];
    FILE *f;
    size_t n;

    if ((f = fopen(path, "rb")) == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_putn(b, chunk, n);
    fclose(f);
    if (b->oom) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    return 0;
}

static int
save(const char *dir, const char *name, const struct buf *b)
{
    char path[4096];
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fwrite(b->data, 1, b->len, f) != b->len)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "%s: cannot write\n", path);
    return rc;
}

/* The child: load, convert in a loop, report on fd. Never returns. */
static _Noreturn void
child_main(const struct conversion *c, const char *path, double seconds, const char *out_dir,
           int fd)
{
    struct buf in = {0}, out = {0};
    struct convert_job job = {.from = c->from, .to = c->to};
    struct report r = {0};
    char err[CONVERT_ERROR_MAX];
    double t0, t;

    /* As a worker child does (worker/child.c): one malloc arena. */
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 1);
    if (load(path, &in) != 0)
        _exit(1);
    if (convert_limits_from_env(&job, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", c->name, err);
        _exit(1);
    }
    job.in = in.data;
    job.len = in.len;
    job.opt.width = c->width;
    job.opt.quality = c->quality;
    t0 = clock_mono();
    do {
        buf_reset(&out);
        if (convert_run(&job, &out, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", c->name, err);
            _exit(1);
        }
        t = clock_mono();
        if (r.runs++ == 0)
            r.first = t - t0;
    } while ((r.elapsed = t - t0) < seconds || r.runs < MIN_RUNS);
    r.output_bytes = out.len;
    if (out_dir != NULL && save(out_dir, c->out_name, &out) != 0)
        _exit(1);
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) {
        fprintf(stderr, "%s: cannot report: %s\n", c->name, strerror(errno));
        _exit(1);
    }
    /* _exit: libvips' threads need no tearing down, nor the buffers freeing. */
    _exit(0);
}

/* Fork a child for c, read its report, reap it. 0 with the line printed, or -1. */
static int
measure(const struct conversion *c, const char *path, double seconds, const char *out_dir)
{
    struct report r;
    struct rusage ru;
    int fds[2], status;
    ssize_t n;
    pid_t pid;

    if (pipe(fds) != 0) {
        perror("pipe");
        return -1;
    }
    fflush(stdout); /* or the child's copy of the buffer would print twice */
    if ((pid = fork()) < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(c, path, seconds, out_dir, fds[1]);
    }
    close(fds[1]);
    while ((n = read(fds[0], &r, sizeof r)) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != (ssize_t)sizeof r) {
        fprintf(stderr, "%s: the child failed (status 0x%x)\n", c->name, (unsigned)status);
        return -1;
    }
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    printf("%s %.2f %ld %zu %.1f %.1f\n", c->name, (double)r.runs / r.elapsed, ru.ru_maxrss,
           r.output_bytes, r.first * 1000, cpu * 1000 / (double)r.runs);
    return 0;
}

int
main(int argc, char **argv)
{
    double seconds = argc > 3 ? atof(argv[3]) : 3;
    const char *out_dir = argc > 4 ? argv[4] : NULL;

    if (argc < 3 || argc > 5 || seconds < 0) {
        fprintf(stderr, "usage: test/bench/convert CSV_FILE JPEG_FILE [SECONDS [OUT_DIR]]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof conversions / sizeof *conversions; i++)
        if (measure(&conversions[i], argv[1 + i], seconds, out_dir) != 0)
            return 1;
    return 0;
}
