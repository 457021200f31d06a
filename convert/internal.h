/* convert/internal.h - for the files of convert/ only: what convert_run() hands the
 * text converters besides their input, so that a long conversion stops on
 * the cancel flag (a soft time limit, a revocation) and says how far it got.
 * The public converters in convert.h run with none (w NULL). */
#ifndef CELERIAC_CONVERT_INTERNAL_H
#define CELERIAC_CONVERT_INTERNAL_H

#include "convert/convert.h"

/* Items (rows, elements, nodes) between two looks at the flag: a look costs
 * a read of the flag and, with a total, a progress call. */
#define CONVERT_WATCH_EVERY 1024

struct convert_watch {
    volatile sig_atomic_t *cancel; /* may be NULL */
    convert_progress_fn progress;  /* may be NULL */
    void *progress_arg;
    unsigned ticks; /* items since the last look */
    int last;       /* the last percent reported */
};

/* A watch over job's cancel flag and progress callback. */
struct convert_watch convert_watch_of(const struct convert_job *job);

/* Called once per item: every CONVERT_WATCH_EVERY calls, true when the
 * cancel flag is set ("cancelled" in err), else, when total > 0, progress
 * reported as done/total mapped into 1..95 (convert_run() reports 0 and
 * 100). w may be NULL: never stops. */
bool convert_watch_stop(struct convert_watch *w, size_t done, size_t total, char *err,
                        size_t errlen);

/* The converters with a watch (w may be NULL): convert.h's functions are
 * these with none. */
int convert_csv_to_json_w(const char *in, size_t len, char delimiter, size_t max_output,
                          struct convert_watch *w, struct buf *out, char *err, size_t errlen);
int convert_json_to_csv_w(const char *in, size_t len, char delimiter, size_t max_output,
                          struct convert_watch *w, struct buf *out, char *err, size_t errlen);
int convert_xml_to_json_w(const char *in, size_t len, size_t max_output, struct convert_watch *w,
                          struct buf *out, char *err, size_t errlen);
int convert_json_to_xml_w(const char *in, size_t len, size_t max_output, struct convert_watch *w,
                          struct buf *out, char *err, size_t errlen);
int convert_html_to_text_w(const char *in, size_t len, size_t max_output, struct convert_watch *w,
                           struct buf *out, char *err, size_t errlen);

#endif
