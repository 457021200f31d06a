/* worker/tasks/convert.c - convert.file(file_id, to, options={}): reads an
 * uploaded file from `files`, converts it with the convert/ library, and
 * stores the output as a new `files` row through the task's context, so the
 * output commits with the task's result or not at all: a worker killed
 * mid-way stores nothing, a redelivered task stores one output (files.task_id
 * is unique besides). The input is read and converted with no transaction
 * open; the task reports its progress into its row meanwhile. */
#include "worker/tasks/tasks.h"

#include <stdio.h>
#include <string.h>

#include "common/uuid.h"
#include "convert/convert.h"

/* Binary results: the bytea comes back as its bytes, not as hex text. */
static const struct store_binary binary_results = {.result_format = 1};

static const char insert_sql[] =
    "INSERT INTO files (id, name, format, content_type, size, sha256, data, source_id, task_id)"
    " VALUES ($1::uuid, $2, $3, $4, octet_length($5::bytea), encode(sha256($5::bytea), 'hex'),"
    " $5::bytea, $6::uuid, $7::uuid) RETURNING size, sha256";

static void
progress(void *arg, int percent)
{
    task_progress(arg, percent);
}

/* The stored output: its row, and the task's result naming it. */
static int
store_output(struct task_ctx *t, const char *source_id, const char *from, const char *to,
             const char *source_name, const struct buf *out)
{
    char id[UUID_STR_LEN], name[256];
    /* An empty output (a page with no text) is "", not libpq's NULL. */
    const char *params[] = {id,        name, to, convert_mime(to), out->data != NULL ? out->data : "",
                            source_id, t->msg->id};
    const int lengths[] = {0, 0, 0, 0, (int)out->len, 0, 0};
    const int formats[] = {0, 0, 0, 0, 1, 0, 0};
    const struct store_binary bin = {lengths, formats, 0};
    PGresult *res;

    if (out->len > (size_t)0x7fffffff)
        return task_fail(t, "ConversionError", "the output is too large to store (%zu bytes)",
                         out->len);
    uuid_new(id);
    convert_output_name(source_name, to, name, sizeof name);
    res = task_sql_bin(t, insert_sql, 7, params, &bin);
    if (res == NULL)
        return TASK_FAILED;
    task_log(t, "stored %s: %s, %s bytes, sha256 %s", id, name, PQgetvalue(res, 0, 0),
             PQgetvalue(res, 0, 1));
    t->result = cJSON_CreateObject();
    cJSON_AddStringToObject(t->result, "output_file_id", id);
    cJSON_AddStringToObject(t->result, "name", name);
    cJSON_AddStringToObject(t->result, "format", to);
    cJSON_AddStringToObject(t->result, "content_type", convert_mime(to));
    cJSON_AddNumberToObject(t->result, "size", (double)out->len);
    cJSON_AddStringToObject(t->result, "from", from);
    cJSON_AddStringToObject(t->result, "to", to);
    cJSON_AddStringToObject(t->result, "source_file_id", source_id);
    PQclear(res);
    return TASK_OK;
}

int
task_convert_file(struct task_ctx *t)
{
    static const char *const names[] = {"file_id", "to", "options"};
    struct convert_job job = {.cancel = t->cancel, .progress = progress, .progress_arg = t};
    const cJSON *file_id, *to;
    char err[CONVERT_ERROR_MAX], name[256], max_input[32];
    const char *params[2];
    struct buf out = {0};
    PGresult *res;
    int rc;

    if (task_bind_args(t, names, 3) != TASK_OK)
        return TASK_FAILED;
    file_id = task_arg(t, 0, "file_id");
    to = task_arg(t, 1, "to");
    if (!cJSON_IsString(file_id) || !uuid_is_valid(file_id->valuestring))
        return task_fail(t, "TypeError", "convert.file(): file_id must be a file's id (a UUID)");
    if (!cJSON_IsString(to))
        return task_fail(t, "TypeError", "convert.file(): to must be a format, such as \"json\"");
    if ((job.to = convert_format_of_ext(to->valuestring)) == NULL)
        return task_fail(t, "ValueError", "convert.file(): unknown target format \"%.32s\"",
                         to->valuestring);
    if (convert_options_parse(task_arg(t, 2, "options"), &job.opt, err, sizeof err) < 0 ||
        convert_limits_from_env(&job, err, sizeof err) < 0)
        return task_fail(t, "ValueError", "convert.file(): %s", err);

    params[0] = file_id->valuestring;
    snprintf(max_input, sizeof max_input, "%zu", job.max_input);
    params[1] = max_input;
    /* An input past the bound is not even read: its size says enough. */
    res = task_read_bin(t,
                        "SELECT name, size, CASE WHEN size <= $2::bigint THEN data END"
                        " FROM files WHERE id = $1::uuid",
                        2, params, &binary_results);
    if (res == NULL) /* the reason is in the log; a lost connection is a retry */
        return task_retry(t, -1, "convert.file(): cannot read file %s", file_id->valuestring);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return task_fail(t, "FileNotFoundError", "convert.file(): no file %s",
                         file_id->valuestring);
    }
    snprintf(name, sizeof name, "%.*s", PQgetlength(res, 0, 0), PQgetvalue(res, 0, 0));
    if (PQgetisnull(res, 0, 2)) { /* size: a binary int8, big-endian */
        uint64_t size = 0;
        for (int i = 0; i < 8 && PQgetlength(res, 0, 1) == 8; i++)
            size = size << 8 | (unsigned char)PQgetvalue(res, 0, 1)[i];
        PQclear(res);
        return task_fail(t, "ConversionError", "%s is %llu bytes, more than the %zu allowed "
                         "(CONVERT_MAX_INPUT)", name, (unsigned long long)size, job.max_input);
    }
    job.in = PQgetvalue(res, 0, 2);
    job.len = (size_t)PQgetlength(res, 0, 2);
    if ((job.from = convert_identify(job.in, job.len, name, err, sizeof err)) == NULL) {
        PQclear(res);
        return task_fail(t, "ValueError", "%s", err);
    }
    task_log(t, "%s: %s, %zu bytes, to %s", name, job.from, job.len, job.to);

    rc = convert_run(&job, &out, err, sizeof err);
    PQclear(res); /* the input is no longer needed: its memory goes before the output's insert */
    if (rc < 0) {
        buf_fini(&out);
        return task_fail(t, "ConversionError", "%s", err);
    }
    if (out.oom) {
        buf_fini(&out);
        return task_fail(t, "MemoryError", "convert.file(): out of memory");
    }
    rc = store_output(t, file_id->valuestring, job.from, job.to, name, &out);
    buf_fini(&out);
    return rc;
}
