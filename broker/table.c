/* broker/table.c - AMQP field tables <-> JSON objects. Celery's headers are a
 * table; handling them as cJSON lets the codec stay pure and lets the tests
 * feed it captured messages. */
#include "broker/internal.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static int value_to_field(const cJSON *v, amqp_pool_t *pool, amqp_field_value_t *out);

static int
array_to_field(const cJSON *arr, amqp_pool_t *pool, amqp_array_t *out)
{
    int n = cJSON_GetArraySize(arr), i = 0;
    const cJSON *e;

    out->num_entries = n;
    out->entries = n > 0 ? amqp_pool_alloc(pool, sizeof(amqp_field_value_t) * (size_t)n) : NULL;
    if (n > 0 && out->entries == NULL)
        return -1;
    cJSON_ArrayForEach(e, arr)
    {
        if (value_to_field(e, pool, &out->entries[i++]) < 0)
            return -1;
    }
    return 0;
}

static int
value_to_field(const cJSON *v, amqp_pool_t *pool, amqp_field_value_t *out)
{
    memset(out, 0, sizeof *out);
    if (cJSON_IsNull(v)) {
        out->kind = AMQP_FIELD_KIND_VOID;
    } else if (cJSON_IsBool(v)) {
        out->kind = AMQP_FIELD_KIND_BOOLEAN;
        out->value.boolean = cJSON_IsTrue(v);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
            out->kind = AMQP_FIELD_KIND_I64;
            out->value.i64 = (int64_t)d;
        } else {
            out->kind = AMQP_FIELD_KIND_F64;
            out->value.f64 = d;
        }
    } else if (cJSON_IsString(v)) {
        out->kind = AMQP_FIELD_KIND_UTF8;
        out->value.bytes = amqp_cstring_bytes(v->valuestring);
    } else if (cJSON_IsArray(v)) {
        out->kind = AMQP_FIELD_KIND_ARRAY;
        return array_to_field(v, pool, &out->value.array);
    } else if (cJSON_IsObject(v)) {
        out->kind = AMQP_FIELD_KIND_TABLE;
        return broker_json_to_table(v, pool, &out->value.table);
    } else {
        return -1;
    }
    return 0;
}

int
broker_json_to_table(const cJSON *obj, amqp_pool_t *pool, amqp_table_t *out)
{
    int n = cJSON_GetArraySize(obj), i = 0;
    const cJSON *e;

    out->num_entries = 0;
    out->entries = NULL;
    if (obj == NULL || !cJSON_IsObject(obj))
        return obj == NULL ? 0 : -1;
    if (n == 0)
        return 0;
    out->entries = amqp_pool_alloc(pool, sizeof(amqp_table_entry_t) * (size_t)n);
    if (out->entries == NULL)
        return -1;
    cJSON_ArrayForEach(e, obj)
    {
        out->entries[i].key = amqp_cstring_bytes(e->string);
        if (value_to_field(e, pool, &out->entries[i].value) < 0)
            return -1;
        i++;
    }
    out->num_entries = n;
    return 0;
}

static cJSON *field_to_json(const amqp_field_value_t *f);

static cJSON *
bytes_to_json(amqp_bytes_t b)
{
    char *s = malloc(b.len + 1);
    cJSON *v;

    if (s == NULL)
        return NULL;
    memcpy(s, b.bytes, b.len);
    s[b.len] = '\0';
    v = cJSON_CreateString(s); /* an embedded NUL truncates, as in any C string */
    free(s);
    return v;
}

static cJSON *
field_to_json(const amqp_field_value_t *f)
{
    switch (f->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        return cJSON_CreateBool(f->value.boolean);
    case AMQP_FIELD_KIND_I8:
        return cJSON_CreateNumber(f->value.i8);
    case AMQP_FIELD_KIND_U8:
        return cJSON_CreateNumber(f->value.u8);
    case AMQP_FIELD_KIND_I16:
        return cJSON_CreateNumber(f->value.i16);
    case AMQP_FIELD_KIND_U16:
        return cJSON_CreateNumber(f->value.u16);
    case AMQP_FIELD_KIND_I32:
        return cJSON_CreateNumber(f->value.i32);
    case AMQP_FIELD_KIND_U32:
        return cJSON_CreateNumber(f->value.u32);
    case AMQP_FIELD_KIND_I64:
        return cJSON_CreateNumber((double)f->value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        return cJSON_CreateNumber((double)f->value.u64);
    case AMQP_FIELD_KIND_F32:
        return cJSON_CreateNumber(f->value.f32);
    case AMQP_FIELD_KIND_F64:
        return cJSON_CreateNumber(f->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return cJSON_CreateNumber(f->value.decimal.value / pow(10, f->value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        return bytes_to_json(f->value.bytes);
    case AMQP_FIELD_KIND_ARRAY: {
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a != NULL && i < f->value.array.num_entries; i++) {
            cJSON *e = field_to_json(&f->value.array.entries[i]);
            if (e == NULL) {
                cJSON_Delete(a);
                return NULL;
            }
            cJSON_AddItemToArray(a, e);
        }
        return a;
    }
    case AMQP_FIELD_KIND_TABLE:
        return broker_table_to_json(&f->value.table);
    case AMQP_FIELD_KIND_VOID:
    default:
        return cJSON_CreateNull();
    }
}

cJSON *
broker_table_to_json(const amqp_table_t *t)
{
    cJSON *obj = cJSON_CreateObject();

    for (int i = 0; obj != NULL && i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        char key[256];
        size_t n = e->key.len < sizeof key - 1 ? e->key.len : sizeof key - 1;
        cJSON *v = field_to_json(&e->value);

        if (v == NULL) {
            cJSON_Delete(obj);
            return NULL;
        }
        memcpy(key, e->key.bytes, n);
        key[n] = '\0';
        cJSON_AddItemToObject(obj, key, v);
    }
    return obj;
}
