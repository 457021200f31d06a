/* convert/convert.c - one conversion: the pair checked (convert_supported()
 * in format.c says what this machine does), then handed to its converter.
 * The converters know nothing of jobs but the images and office ones, which
 * need the bounds, the cancel flag and the progress callback; the text ones
 * get a watch over the last two (internal.h). Markdown is one libcmark
 * call, linear in its input: nothing to watch. */
#include "convert/internal.h"

#include <stdio.h>
#include <string.h>

static bool
is_image(const char *f)
{
    return strcmp(f, "png") == 0 || strcmp(f, "jpeg") == 0 || strcmp(f, "webp") == 0 ||
           strcmp(f, "gif") == 0;
}

/* "cannot convert png to pdf (it converts to png, jpeg, webp)". */
static void
unsupported(const char *from, const char *to, char *err, size_t errlen)
{
    char targets[256];

    convert_targets_text(from, targets, sizeof targets);
    if (targets[0] != '\0')
        snprintf(err, errlen, "cannot convert %.32s to %.32s (it converts to %s)", from, to,
                 targets);
    else
        snprintf(err, errlen, "cannot convert %.32s to %.32s", from, to);
}

struct convert_watch
convert_watch_of(const struct convert_job *job)
{
    return (struct convert_watch){
        .cancel = job->cancel, .progress = job->progress, .progress_arg = job->progress_arg};
}

bool
convert_watch_stop(struct convert_watch *w, size_t done, size_t total, char *err, size_t errlen)
{
    int percent;

    if (w == NULL || ++w->ticks < CONVERT_WATCH_EVERY)
        return false;
    w->ticks = 0;
    if (w->cancel != NULL && *w->cancel) {
        snprintf(err, errlen, "cancelled");
        return true;
    }
    if (w->progress != NULL && total > 0) {
        percent = 1 + (int)((double)(done < total ? done : total) * 94 / (double)total);
        if (percent > w->last) {
            w->last = percent;
            w->progress(w->progress_arg, percent);
        }
    }
    return false;
}

static char
delimiter(const struct convert_job *job)
{
    return job->opt.delimiter != 0 ? job->opt.delimiter : ',';
}

int
convert_run(const struct convert_job *job, struct buf *out, char *err, size_t errlen)
{
    size_t max_output = job->max_output > 0 ? job->max_output : CONVERT_DEFAULT_MAX_OUTPUT;
    const char *from = job->from, *to = job->to, *in = job->in;
    struct convert_watch w = convert_watch_of(job);
    int rc;

    err[0] = '\0';
    if (from == NULL || to == NULL || (in == NULL && job->len > 0)) {
        snprintf(err, errlen, "nothing to convert: a format or the input is missing");
        goto fail;
    }
    if (in == NULL)
        in = "";
    if (job->len > (job->max_input > 0 ? job->max_input : CONVERT_DEFAULT_MAX_INPUT)) {
        snprintf(err, errlen, "the input is %zu bytes, more than the %zu allowed", job->len,
                 job->max_input > 0 ? job->max_input : (size_t)CONVERT_DEFAULT_MAX_INPUT);
        goto fail;
    }
    if (!convert_supported(from, to)) {
        /* Office documents are supported where soffice is found: say so
         * rather than that the pair does not exist. */
        if (convert_format_is_office(from) && strcmp(to, "pdf") == 0 &&
            !convert_office_available())
            snprintf(err, errlen, "converter not installed: soffice (LibreOffice) was not found");
        else
            unsupported(from, to, err, errlen);
        goto fail;
    }
    if (job->cancel != NULL && *job->cancel) {
        snprintf(err, errlen, "cancelled");
        goto fail;
    }
    if (job->progress != NULL)
        job->progress(job->progress_arg, 0);
    if (strcmp(from, "csv") == 0 && strcmp(to, "json") == 0)
        rc = convert_csv_to_json_w(in, job->len, delimiter(job), max_output, &w, out, err,
                                   errlen);
    else if (strcmp(from, "json") == 0 && strcmp(to, "csv") == 0)
        rc = convert_json_to_csv_w(in, job->len, delimiter(job), max_output, &w, out, err,
                                   errlen);
    else if (strcmp(from, "xml") == 0 && strcmp(to, "json") == 0)
        rc = convert_xml_to_json_w(in, job->len, max_output, &w, out, err, errlen);
    else if (strcmp(from, "json") == 0 && strcmp(to, "xml") == 0)
        rc = convert_json_to_xml_w(in, job->len, max_output, &w, out, err, errlen);
    else if (strcmp(from, "html") == 0 && strcmp(to, "txt") == 0)
        rc = convert_html_to_text_w(in, job->len, max_output, &w, out, err, errlen);
    else if (strcmp(from, "md") == 0 && strcmp(to, "html") == 0)
        rc = convert_markdown_to_html(in, job->len, max_output, out, err, errlen);
    else if (is_image(from))
        rc = convert_image(job, out, err, errlen);
    else if (convert_format_is_office(from))
        rc = convert_office_to_pdf(job, out, err, errlen);
    else {
        /* convert_supported() said yes to a pair nobody here converts. */
        unsupported(from, to, err, errlen);
        rc = -1;
    }
    if (rc != 0)
        goto fail;
    if (job->progress != NULL)
        job->progress(job->progress_arg, 100);
    return 0;
fail:
    if (err[0] == '\0')
        snprintf(err, errlen, "the conversion failed");
    buf_reset(out);
    return -1;
}
