/*
 * serde.c - the built-in serdes: bytes, string, int32, int64, double (all as
 * Kafka's Java serdes write them) and JSON through jansson.
 */
#include "common.h"
#include "json.h"

#include <jansson.h>
#include <string.h>

static int type_mismatch(const sluice_serde_t *serde, const sluice_value_t *in,
                         char *errstr, size_t errstr_size) {
        sl_errstr(errstr, errstr_size,
                  "serde \"%s\" cannot serialize a %s value", serde->name,
                  sluice_type_name(in->type));
        return -1;
}

/* ---- bytes and string: zero copy both ways ---- */

static int raw_deserialize(const sluice_serde_t *serde, const void *data,
                           size_t len, sluice_value_t *out, char *errstr,
                           size_t errstr_size) {
        (void)errstr;
        (void)errstr_size;
        out->type         = serde->opaque ? SLUICE_VALUE_STRING
                                          : SLUICE_VALUE_BYTES;
        out->u.bytes.data = data;
        out->u.bytes.len  = len;
        return 0;
}

static int raw_serialize(const sluice_serde_t *serde, const sluice_value_t *in,
                         sluice_buf_t *buf, const void **out, size_t *out_len,
                         char *errstr, size_t errstr_size) {
        (void)buf;
        if (in->type != SLUICE_VALUE_BYTES && in->type != SLUICE_VALUE_STRING)
                return type_mismatch(serde, in, errstr, errstr_size);
        *out     = in->u.bytes.data;
        *out_len = in->u.bytes.len;
        return 0;
}

/* ---- big-endian fixed-width numbers ---- */

static int fixed_len_check(const sluice_serde_t *serde, size_t len,
                           size_t want, char *errstr, size_t errstr_size) {
        if (len == want)
                return 0;
        sl_errstr(errstr, errstr_size,
                  "serde \"%s\": expected %zu bytes, got %zu", serde->name,
                  want, len);
        return -1;
}

static uint64_t load_be(const unsigned char *p, size_t n) {
        uint64_t v = 0;
        size_t i;
        for (i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

static int store_be(sluice_buf_t *buf, uint64_t v, size_t n, const void **out,
                    size_t *out_len) {
        size_t i;
        if (sluice_buf_reserve(buf, n))
                return -1;
        for (i = 0; i < n; i++)
                buf->data[buf->len + i] =
                    (unsigned char)(v >> (8 * (n - 1 - i)));
        *out = buf->data + buf->len;
        buf->len += n;
        *out_len = n;
        return 0;
}

/* The fixed-width serdes differ only in width and type: serde->opaque
 * points at one of these. int32, int64 and double all sit at the start of
 * the value union, so the bytes go there whatever the type. */
typedef struct fixed_s {
        size_t width;
        sluice_type_t type;
} fixed_t;

static const fixed_t fixed_int32  = {4, SLUICE_VALUE_INT32};
static const fixed_t fixed_int64  = {8, SLUICE_VALUE_INT64};
static const fixed_t fixed_double = {8, SLUICE_VALUE_DOUBLE};

static int fixed_deserialize(const sluice_serde_t *serde, const void *data,
                             size_t len, sluice_value_t *out, char *errstr,
                             size_t errstr_size) {
        const fixed_t *f = serde->opaque;
        uint64_t u;
        if (fixed_len_check(serde, len, f->width, errstr, errstr_size))
                return -1;
        u         = load_be(data, f->width);
        out->type = f->type;
        if (f->width == 4) {
                uint32_t u32 = (uint32_t)u; /* two's complement, no UB */
                memcpy(&out->u.i32, &u32, 4);
        } else {
                memcpy(&out->u.i64, &u, 8);
        }
        return 0;
}

static int fixed_serialize(const sluice_serde_t *serde,
                           const sluice_value_t *in, sluice_buf_t *buf,
                           const void **out, size_t *out_len, char *errstr,
                           size_t errstr_size) {
        const fixed_t *f = serde->opaque;
        uint64_t u       = 0;
        if (in->type != f->type)
                return type_mismatch(serde, in, errstr, errstr_size);
        if (f->width == 4) {
                uint32_t u32;
                memcpy(&u32, &in->u.i32, 4);
                u = u32;
        } else {
                memcpy(&u, &in->u.i64, 8);
        }
        return store_be(buf, u, f->width, out, out_len);
}

/* ---- JSON ---- */

static int json_deserialize(const sluice_serde_t *serde, const void *data,
                            size_t len, sluice_value_t *out, char *errstr,
                            size_t errstr_size) {
        char why[160];
        json_t *j = sl_json_parse(data, len, why, sizeof(why));
        if (!j) {
                sl_errstr(errstr, errstr_size, "serde \"%s\": %s",
                          serde->name, why);
                return -1;
        }
        out->type   = SLUICE_VALUE_JSON;
        out->u.json = j;
        return 0;
}

static int json_serialize(const sluice_serde_t *serde, const sluice_value_t *in,
                          sluice_buf_t *buf, const void **out, size_t *out_len,
                          char *errstr, size_t errstr_size) {
        size_t at = buf->len;
        int rc;
        if (in->type != SLUICE_VALUE_JSON || !in->u.json)
                return type_mismatch(serde, in, errstr, errstr_size);
        if ((rc = sl_json_dump(in->u.json, buf))) {
                sl_errstr(errstr, errstr_size,
                          rc == SLUICE_ERR_NOMEM
                              ? "serde \"%s\": out of memory"
                              : "serde \"%s\": value cannot be encoded as JSON",
                          serde->name);
                return -1;
        }
        *out     = buf->data + at;
        *out_len = buf->len - at;
        return 0;
}

/* The built-in serdes are immutable; the string one marks itself with a
 * non-NULL opaque so raw_deserialize knows which type to produce. */
static const sluice_serde_t serde_bytes  = {SLUICE_SERDE_VERSION, "bytes",
                                            raw_deserialize, raw_serialize,
                                            NULL};
static const sluice_serde_t serde_string = {
    SLUICE_SERDE_VERSION, "string", raw_deserialize, raw_serialize,
    (void *)(uintptr_t)1};
static const sluice_serde_t serde_int32 = {
    SLUICE_SERDE_VERSION, "int32", fixed_deserialize, fixed_serialize,
    (void *)&fixed_int32};
static const sluice_serde_t serde_int64 = {
    SLUICE_SERDE_VERSION, "int64", fixed_deserialize, fixed_serialize,
    (void *)&fixed_int64};
static const sluice_serde_t serde_double = {
    SLUICE_SERDE_VERSION, "double", fixed_deserialize, fixed_serialize,
    (void *)&fixed_double};
static const sluice_serde_t serde_json = {
    SLUICE_SERDE_VERSION, "json", json_deserialize, json_serialize, NULL};

const sluice_serde_t *sluice_serde_bytes(void) {
        return &serde_bytes;
}
const sluice_serde_t *sluice_serde_string(void) {
        return &serde_string;
}
const sluice_serde_t *sluice_serde_int32(void) {
        return &serde_int32;
}
const sluice_serde_t *sluice_serde_int64(void) {
        return &serde_int64;
}
const sluice_serde_t *sluice_serde_double(void) {
        return &serde_double;
}
const sluice_serde_t *sluice_serde_json(void) {
        return &serde_json;
}
