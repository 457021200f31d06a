/* convert/image.c - PNG, JPEG, WebP and GIF (its first frame) to PNG, JPEG
 * or WebP with libvips, fitted into the asked box, never enlarged.
 *
 * libvips starts on the first conversion, in the process that converts:
 * vips_init() starts threads and takes locks, and a process that forks
 * after that hands its child locks no thread will ever release. The worker
 * forks its children before any of them converts, and its master never
 * calls in here, so each child starts its own libvips, after the fork.
 *
 * The order of the work is what bounds it: the header alone (libvips loads
 * lazily) gives the size, refused past max_pixels before one pixel is
 * decoded; the loader libvips picks must be the format the caller named;
 * then vips_thumbnail_buffer() decodes and resizes in one streaming pass
 * (JPEG and WebP shrink while they decode: a 24-megapixel photo fitted to
 * 800 pixels never exists in memory at full size), failing on the first
 * decoding error rather than returning a half-grey picture. Limits: an
 * interlaced PNG, a progressive JPEG and a WebP are decoded whole before
 * they stream, so the largest allowed one (max_pixels, 4 bytes each, 8 for
 * a 16-bit PNG) is what a conversion may hold in memory. */
#include "convert/convert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static bool vips_ok;

/* libvips' warnings are about the user's file (a bad CRC, a short read):
 * the conversion fails with them in err, the worker's log needs none. */
static void
no_log(const char *domain, GLogLevelFlags level, const char *msg, void *arg)
{
    (void)domain;
    (void)level;
    (void)msg;
    (void)arg;
}

static void
vips_start(void)
{
    if (VIPS_INIT("celeriac") != 0)
        return;
    /* The operation cache keeps recent results (decoded images among them)
     * for a program that repeats itself; we convert each file once. */
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    /* One thread per conversion: a worker runs several children on a
     * two-core machine, each possibly converting; libvips' default (one
     * thread per core) would have them fight for the cores, each thread
     * holding its own tile buffers. VIPS_CONCURRENCY still wins when set. */
    if (getenv("VIPS_CONCURRENCY") == NULL)
        vips_concurrency_set(1);
    /* Loaders marked untrusted (ImageMagick's, among others) are never
     * picked: we load only what we named, but this closes the door too. */
    vips_block_untrusted_set(TRUE);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, no_log,
                      NULL);
    vips_ok = true;
}

/* libvips' message for what just failed, its lines joined by "; "; then
 * cleared, for the next conversion. */
static void
vips_message(const char *what, char *err, size_t errlen)
{
    struct buf b = {0};
    const char *msg = vips_error_buffer();

    buf_put(&b, what);
    for (const char *line = msg; *line != '\0';) {
        size_t n = strcspn(line, "\n");
        if (n > 0)
            buf_printf(&b, "%s%.*s", line == msg ? ": " : "; ", (int)n, line);
        line += n + (line[n] == '\n');
    }
    snprintf(err, errlen, "%s", b.oom ? what : b.data);
    buf_fini(&b);
    vips_error_clear();
}

/* The format a libvips loader (its class name, "VipsForeignLoadPngBuffer")
 * reads, or NULL for one we do not convert. */
static const char *
loader_format(const char *loader)
{
    static const char *const formats[][2] = {
        {"jpeg", "jpeg"}, {"png", "png"}, {"webp", "webp"}, {"gif", "gif"}};

    if (loader == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (strcasestr(loader, formats[i][0]) != NULL)
            return formats[i][1];
    return NULL;
}

static bool
cancelled(const struct convert_job *job)
{
    return job->cancel != NULL && *job->cancel != 0;
}

static void
progress(const struct convert_job *job, int *last, int percent)
{
    if (job->progress != NULL && percent > *last) {
        *last = percent;
        job->progress(job->progress_arg, percent);
    }
}

/* What the "eval" handler needs: libvips emits it on the image we marked,
 * from the thread that called the save, as tiles are computed. */
struct watch {
    const struct convert_job *job;
    int last; /* the last percent reported */
};

/* Stop on cancel: a killed image fails its next vips_region_prepare(), and
 * the save with it. Otherwise, report 10..90 as the pixels go by. */
static void
on_eval(VipsImage *image, VipsProgress *p, void *arg)
{
    struct watch *w = arg;

    if (cancelled(w->job))
        vips_image_set_kill(image, TRUE);
    else
        progress(w->job, &w->last, 10 + p->percent * 80 / 100);
}

static int
save(VipsImage *img, const char *to, int quality, void **data, size_t *size)
{
    /* libvips' own default for both; "strip" drops EXIF (a photo's GPS
     * position) and other metadata: what we write is the picture. */
    int q = quality > 0 ? quality : 75;

    if (strcmp(to, "png") == 0)
        return vips_pngsave_buffer(img, data, size, "strip", TRUE, NULL);
    if (strcmp(to, "jpeg") == 0)
        return vips_jpegsave_buffer(img, data, size, "Q", q, "strip", TRUE, NULL);
    return vips_webpsave_buffer(img, data, size, "Q", q, "strip", TRUE, NULL);
}

int
convert_image(const struct convert_job *job, struct buf *out, char *err, size_t errlen)
{
    uint64_t max_pixels = job->max_pixels > 0 ? job->max_pixels : CONVERT_DEFAULT_MAX_PIXELS;
    size_t max_output = job->max_output > 0 ? job->max_output : CONVERT_DEFAULT_MAX_OUTPUT;
    VipsImage *head = NULL, *img = NULL, *flat = NULL;
    const char *loaded;
    struct watch w = {.job = job, .last = -1};
    void *data = NULL;
    size_t size = 0;
    int rc = -1;

    if (job->from == NULL || job->to == NULL || loader_format(job->from) == NULL ||
        (strcmp(job->to, "png") != 0 && strcmp(job->to, "jpeg") != 0 &&
         strcmp(job->to, "webp") != 0)) {
        snprintf(err, errlen, "cannot convert %s to %s", job->from ? job->from : "(none)",
                 job->to ? job->to : "(none)");
        return -1;
    }
    if (job->len == 0) {
        snprintf(err, errlen, "the %s image is empty", job->from);
        return -1;
    }
    pthread_once(&vips_once, vips_start);
    if (!vips_ok) {
        snprintf(err, errlen, "converter not installed: libvips failed to start");
        return -1;
    }
    vips_error_clear();
    /* The loader libvips would pick, from the first bytes. */
    loaded = loader_format(vips_foreign_find_load_buffer(job->in, job->len));
    if (loaded == NULL || strcmp(loaded, job->from) != 0) {
        vips_error_clear();
        snprintf(err, errlen, "the file is not a %s image%s%s", job->from,
                 loaded != NULL ? ": its bytes are " : "", loaded != NULL ? loaded : "");
        return -1;
    }
    /* The header alone: width and height before any pixel. */
    head = vips_image_new_from_buffer(job->in, job->len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                      "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (head == NULL) {
        vips_message("corrupt or truncated image", err, errlen);
        return -1;
    }
    uint64_t width = (uint64_t)vips_image_get_width(head),
             height = (uint64_t)vips_image_get_height(head);
    g_object_unref(head);
    if (width * height > max_pixels) {
        snprintf(err, errlen, "image is %llux%llu pixels, more than the %llu allowed",
                 (unsigned long long)width, (unsigned long long)height,
                 (unsigned long long)max_pixels);
        return -1;
    }
    progress(job, &w.last, 10);
    if (cancelled(job))
        goto cancel;
    /* Fit in the box, the side not given free; size "down" never enlarges
     * and, with no box at all, leaves the size alone. Orientation tags are
     * applied (a phone's portrait photo stays upright once they are gone).
     * libvips 8.14 quirk: vips_thumbnail_buffer() takes a "fail_on" but
     * never hands it to the loader (only vips_thumbnail() does), so a PNG
     * with garbage pixel data came out grey; the loader's option string
     * does reach it. */
    if (vips_thumbnail_buffer((void *)job->in, job->len, &img,
                              job->opt.width > 0 ? job->opt.width : VIPS_MAX_COORD, "height",
                              job->opt.height > 0 ? job->opt.height : VIPS_MAX_COORD, "size",
                              VIPS_SIZE_DOWN, "option_string", "fail_on=error", NULL) != 0) {
        vips_message("corrupt or truncated image", err, errlen);
        goto done;
    }
    /* JPEG has no transparency: what was see-through becomes white. */
    if (strcmp(job->to, "jpeg") == 0 && vips_image_hasalpha(img)) {
        double white = vips_image_get_format(img) == VIPS_FORMAT_USHORT ? 65535 : 255;
        VipsArrayDouble *bg = vips_array_double_newv(1, white);
        int failed = vips_flatten(img, &flat, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (failed) {
            vips_message("cannot flatten the image", err, errlen);
            goto done;
        }
        g_object_unref(img);
        img = flat;
        flat = NULL;
    }
    vips_image_set_progress(img, TRUE);
    g_signal_connect(img, "eval", G_CALLBACK(on_eval), &w);
    /* Decoding happens here, as the encoder pulls the pixels. */
    if (save(img, job->to, job->opt.quality, &data, &size) != 0) {
        if (cancelled(job))
            goto cancel;
        vips_message("corrupt or truncated image", err, errlen);
        goto done;
    }
    if (cancelled(job))
        goto cancel;
    if (size > max_output) {
        snprintf(err, errlen, "the %s would be larger than %zu bytes", job->to, max_output);
        goto done;
    }
    progress(job, &w.last, 90);
    buf_putn(out, data, size);
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
    goto done;
cancel:
    vips_error_clear();
    snprintf(err, errlen, "cancelled");
done:
    g_free(data);
    if (img != NULL) {
        g_signal_handlers_disconnect_by_data(img, &w); /* w dies with this call */
        g_object_unref(img);
    }
    return rc;
}
