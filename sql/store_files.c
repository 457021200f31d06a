/* sql/store_files.c - the files table (sql/005_files.sql) as the webapp sees
 * it: uploads streamed in with COPY, metadata, downloads read in pieces, the
 * conversions (convert.file tasks and their outputs) and what the workers
 * online can convert. The convert.file task writes its outputs itself. */
#include "sql/store.h"
#include "sql/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"

#define COPY_CHUNK (48 * 1024) /* bytes of the upload read per PQputCopyData (hex doubles it) */

/* to_char()'s format for ISO 8601 UTC to the second, as store_articles.c. */
#define UTC " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define FILE_FIELDS                                                                                \
    "'id', f.id, 'name', f.name, 'format', f.format, 'content_type', f.content_type, 'size',"      \
    " f.size, 'sha256', f.sha256, 'source_id', f.source_id, 'task_id', f.task_id, 'created_at',"   \
    " to_char(f.created_at" UTC

/* ----- storing an upload ----- */

/* Append s as a field of COPY's text format: backslash, and every control
 * character as an octal escape. */
static void
copy_text(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\\')
            buf_put(b, "\\\\");
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\%03o", *p);
        else
            buf_putn(b, (const char *)p, 1);
    }
}

/* Send f's row to a COPY ... FROM STDIN in progress: the fields, then the
 * bytes read from f->fd as one bytea in hex ("\\x..."), piece by piece, so
 * the file is never held whole. The sha256 column gets a placeholder that
 * the caller replaces in the same transaction. 0, or -1 with the reason in
 * why (the COPY is still open: the caller ends it with an error). */
static int
copy_row(PGconn *db, const struct store_file_in *f, char *why, size_t whylen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char *in = malloc(COPY_CHUNK);
    char *out = malloc(2 * COPY_CHUNK);
    struct buf line = {0};
    uint64_t off = 0;
    int rc = -1;

    if (in == NULL || out == NULL) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    buf_put(&line, f->id);
    buf_put(&line, "\t");
    copy_text(&line, f->name);
    buf_put(&line, "\t");
    if (f->format != NULL)
        copy_text(&line, f->format);
    else
        buf_put(&line, "\\N");
    buf_put(&line, "\t");
    copy_text(&line, f->content_type);
    buf_printf(&line, "\t%llu\t\t\\\\x", (unsigned long long)f->size);
    if (line.oom) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (PQputCopyData(db, line.data, (int)line.len) != 1) {
        snprintf(why, whylen, "%s", store_error_message(db));
        goto out;
    }
    while (off < f->size) {
        size_t want = f->size - off < COPY_CHUNK ? (size_t)(f->size - off) : COPY_CHUNK;
        ssize_t n = pread(f->fd, in, want, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, whylen, "cannot read the upload back: %s",
                     n < 0 ? strerror(errno) : "it is shorter than received");
            goto out;
        }
        for (ssize_t i = 0; i < n; i++) {
            out[2 * i] = hex[in[i] >> 4];
            out[2 * i + 1] = hex[in[i] & 15];
        }
        if (PQputCopyData(db, out, (int)(2 * n)) != 1) {
            snprintf(why, whylen, "%s", store_error_message(db));
            goto out;
        }
        off += (uint64_t)n;
    }
    if (PQputCopyData(db, "\n", 1) != 1) {
        snprintf(why, whylen, "%s", store_error_message(db));
        goto out;
    }
    rc = 0;
out:
    buf_fini(&line);
    free(in);
    free(out);
    return rc;
}

/* Read and drop what is left of the current command's results. */
static void
drain(PGconn *db)
{
    PGresult *res;

    while ((res = PQgetResult(db)) != NULL)
        PQclear(res);
}

int
store_file_put(PGconn *db, const struct store_file_in *f, char sha256[65])
{
    /* COPY's text format cannot compute the hash: the row goes in with a
     * placeholder that this UPDATE replaces before anyone can see it. The
     * bytes are TOASTed once; the UPDATE keeps the TOAST value as it is. */
    static const char hash_sql[] =
        "UPDATE files SET sha256 = encode(sha256(data), 'hex') WHERE id = $1::uuid"
        " RETURNING sha256, octet_length(data)";
    const char *params[] = {f->id};
    PGresult *res = NULL;
    char why[512];
    int rc = STORE_ERR;

    if (store_begin(db) != STORE_OK) {
        log_error("storing file %s: BEGIN: %s", f->id, store_error_message(db));
        return STORE_ERR;
    }
    res = PQexec(db, "COPY files (id, name, format, content_type, size, sha256, data) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = store_classify(db, res);
        log_error("storing file %s: COPY: %s", f->id, store_error_message(db));
        goto fail;
    }
    PQclear(res);
    res = NULL;
    if (copy_row(db, f, why, sizeof why) < 0) {
        log_error("storing file %s: %s", f->id, why);
        PQputCopyEnd(db, why); /* the server rolls the COPY back */
        drain(db);
        goto fail;
    }
    if (PQputCopyEnd(db, NULL) != 1) {
        log_error("storing file %s: end of COPY: %s", f->id, store_error_message(db));
        drain(db);
        goto fail;
    }
    res = PQgetResult(db);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = store_classify(db, res);
        log_error("storing file %s: COPY: %s", f->id, store_error_message(db));
        PQclear(res);
        res = NULL;
        drain(db);
        goto fail;
    }
    PQclear(res);
    drain(db);
    res = store_exec(db, "hashing a stored file", hash_sql, 1, params, PGRES_TUPLES_OK, &rc);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 64 ||
        strtoull(PQgetvalue(res, 0, 1), NULL, 10) != f->size) {
        log_error("storing file %s: %llu bytes sent, %s stored", f->id, (unsigned long long)f->size,
                  PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "none");
        rc = STORE_ERR;
        goto fail;
    }
    memcpy(sha256, PQgetvalue(res, 0, 0), 65);
    PQclear(res);
    res = NULL;
    if (store_commit(db) != STORE_OK) {
        log_error("storing file %s: COMMIT: %s", f->id, store_error_message(db));
        rc = STORE_ERR;
        goto fail;
    }
    return STORE_OK;
fail:
    PQclear(res);
    if (store_in_transaction(db))
        store_rollback(db);
    return rc == STORE_OK ? STORE_ERR : rc;
}

/* ----- reading ----- */

cJSON *
store_file_get(PGconn *db, const char *id, int *rc)
{
    static const char sql[] =
        "SELECT json_build_object(" FILE_FIELDS ")::text FROM files f WHERE f.id = $1::uuid";
    const char *params[] = {id};

    return store_query_json(db, "reading a file's metadata", sql, 1, params, rc);
}

cJSON *
store_files_list(PGconn *db, int limit, int offset, int *rc)
{
    static const char sql[] =
        "SELECT json_build_object('files', coalesce((SELECT json_agg(j ORDER BY created_at DESC,"
        " id DESC) FROM (SELECT json_build_object(" FILE_FIELDS ") AS j, f.created_at, f.id"
        " FROM files f ORDER BY f.created_at DESC, f.id DESC LIMIT $1::int OFFSET $2::int) x),"
        " '[]'::json), 'total', (SELECT count(*) FROM files))::text";
    char l[16], o[16];
    const char *params[] = {l, o};

    snprintf(l, sizeof l, "%d", limit);
    snprintf(o, sizeof o, "%d", offset);
    return store_query_json(db, "listing files", sql, 2, params, rc);
}

int
store_file_read(PGconn *db, const char *id, uint64_t offset, void *out, size_t len, size_t *got)
{
    /* Binary results: the bytes as they are, not as hex. A piece of a large
     * value is read without the rest (when PostgreSQL did not compress it:
     * a compressed one is decompressed up to the piece). */
    static const char sql[] =
        "SELECT substring(data FROM $2::int + 1 FOR $3::int) FROM files WHERE id = $1::uuid";
    char o[24], l[24];
    const char *params[] = {id, o, l};
    PGresult *res;
    int rc = STORE_OK;

    *got = 0;
    snprintf(o, sizeof o, "%llu", (unsigned long long)offset);
    snprintf(l, sizeof l, "%zu", len);
    res = PQexecParams(db, sql, 3, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = store_classify(db, res);
        log_error("reading file %s at %s: %s", id, o, store_error_message(db));
    } else if (PQntuples(res) != 1) {
        rc = STORE_NOT_FOUND;
    } else {
        size_t n = (size_t)PQgetlength(res, 0, 0);

        *got = n < len ? n : len;
        memcpy(out, PQgetvalue(res, 0, 0), *got);
    }
    PQclear(res);
    return rc;
}

/* ----- conversions ----- */

/* A convert.file task's file id and target: positional as the webapp sends
 * them, or by keyword as a Python client may. Only a UUID is cast. */
#define CONV_SOURCE                                                                                \
    "CASE WHEN coalesce(t.args->>0, t.kwargs->>'file_id') ~*"                                      \
    " '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"                            \
    " THEN coalesce(t.args->>0, t.kwargs->>'file_id')::uuid END"
/* Every conversion: the convert.file tasks, and the outputs whose task row
 * is gone (retention), which succeeded since their output exists. */
#define CONVERSIONS                                                                                \
    "(SELECT t.id AS task_id, t.created_at AS at, t.state, t.progress, t.error, t.finished_at,"    \
    " coalesce(t.args->>1, t.kwargs->>'to') AS target, " CONV_SOURCE " AS source_id"               \
    " FROM tasks t WHERE t.name = 'convert.file'"                                                  \
    " UNION ALL SELECT o.task_id, o.created_at, 'SUCCESS', 100::smallint, NULL, o.created_at,"     \
    " o.format, o.source_id FROM files o WHERE o.task_id IS NOT NULL"                              \
    " AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = o.task_id))"
/* A file in brief, for the conversions list: s the source, o the output. */
#define BRIEF_S "json_build_object('id', s.id, 'name', s.name, 'format', s.format, 'size', s.size)"
#define BRIEF_O "json_build_object('id', o.id, 'name', o.name, 'format', o.format, 'size', o.size)"

cJSON *
store_conversions_list(PGconn *db, int limit, int offset, int *rc)
{
    static const char sql[] =
        "SELECT json_build_object('conversions', coalesce((SELECT json_agg(j ORDER BY at DESC,"
        " task_id DESC) FROM (SELECT json_build_object('task_id', c.task_id, 'state', c.state,"
        " 'progress', c.progress, 'error', c.error, 'to', c.target, 'created_at',"
        " to_char(c.at" UTC ", 'finished_at', to_char(c.finished_at" UTC ", 'source_id',"
        " c.source_id, 'source', CASE WHEN s.id IS NOT NULL THEN " BRIEF_S " END,"
        " 'output', CASE WHEN o.id IS NOT NULL THEN " BRIEF_O " END) AS j, c.at, c.task_id"
        " FROM (SELECT * FROM " CONVERSIONS " u ORDER BY at DESC, task_id DESC"
        " LIMIT $1::int OFFSET $2::int) c"
        " LEFT JOIN files s ON s.id = c.source_id LEFT JOIN files o ON o.task_id = c.task_id) x),"
        " '[]'::json), 'total', (SELECT count(*) FROM " CONVERSIONS " u))::text";
    char l[16], o[16];
    const char *params[] = {l, o};

    snprintf(l, sizeof l, "%d", limit);
    snprintf(o, sizeof o, "%d", offset);
    return store_query_json(db, "listing conversions", sql, 2, params, rc);
}

cJSON *
store_conversion_offers(PGconn *db, int *rc)
{
    /* The union of the "conversions" maps in the online workers' convert.file
     * entries; values of the wrong JSON type are skipped, not errors. */
    static const char sql[] =
        "WITH w AS (SELECT r FROM workers, jsonb_array_elements(CASE WHEN"
        " jsonb_typeof(registered) = 'array' THEN registered ELSE '[]' END) r"
        " WHERE stopped_at IS NULL AND heartbeat_at > now() - " STORE_OFFLINE_AFTER
        " AND r->>'name' = 'convert.file')"
        " SELECT json_build_object('online', EXISTS (SELECT 1 FROM w), 'conversions',"
        " (SELECT coalesce(json_object_agg(src, tos ORDER BY src), '{}') FROM"
        " (SELECT c.key AS src, array_to_json(array_agg(DISTINCT x ORDER BY x)) AS tos"
        " FROM w, jsonb_each(CASE WHEN jsonb_typeof(w.r->'conversions') = 'object'"
        " THEN w.r->'conversions' ELSE '{}' END) c,"
        " jsonb_array_elements_text(CASE WHEN jsonb_typeof(c.value) = 'array' THEN c.value"
        " ELSE '[]' END) x GROUP BY c.key) s))::text";

    return store_query_json(db, "listing the conversions offered", sql, 0, NULL, rc);
}
