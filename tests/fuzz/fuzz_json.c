/*
 * fuzz_json.c - libFuzzer target: arbitrary bytes through the JSON serde, as
 * a record's key or value arrives from Kafka.
 *
 * Whatever decodes must encode, and the encoding must decode to an equal
 * value (json_equal) and encode to the same bytes again. Whatever does not
 * decode must say why.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        const sluice_serde_t *serde = sluice_serde_json();
        sluice_buf_t buf            = {NULL, 0, 0};
        sluice_value_t v, again;
        const void *out;
        size_t out_len, first_len;
        unsigned char *first;
        char err[512];

        err[0] = '\0';
        if (serde->deserialize(serde, data, size, &v, err, sizeof(err))) {
                if (!err[0])
                        abort(); /* a failure without a reason */
                return 0;
        }
        if (v.type != SLUICE_VALUE_JSON || !v.u.json)
                abort();
        if (serde->serialize(serde, &v, &buf, &out, &out_len, err,
                             sizeof(err)))
                abort(); /* decoded, but cannot be encoded */
        if (!(first = malloc(out_len ? out_len : 1)))
                abort();
        memcpy(first, out, out_len);
        first_len = out_len;
        if (serde->deserialize(serde, first, first_len, &again, err,
                               sizeof(err)))
                abort(); /* our own output does not decode */
        if (!json_equal(v.u.json, again.u.json))
                abort();
        buf.len = 0;
        if (serde->serialize(serde, &again, &buf, &out, &out_len, err,
                             sizeof(err)))
                abort();
        if (out_len != first_len || memcmp(first, out, out_len))
                abort(); /* the encoding is not a fixed point */
        free(first);
        free(buf.data);
        json_decref(v.u.json);
        json_decref(again.u.json);
        return 0;
}
