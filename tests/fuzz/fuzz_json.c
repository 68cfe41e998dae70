/*
 * fuzz_json.c - libFuzzer target: arbitrary bytes through the JSON serde, as
 * a record's key or value arrives from Kafka.
 *
 * Whatever decodes must encode, and the encoding must decode to an equal
 * value (json_equal) and encode to the same bytes again. Whatever does not
 * decode must say why. The serde's own parser and printer (lib/json.c) are
 * held to jansson's: json_loadb() must accept the same inputs (but for
 * its one quirk, json.h: a NUL byte after a token) and read an equal
 * value, and json_dumpb() must write the same bytes.
 *
 * jansson is Debian's build, not instrumented, so libFuzzer's coverage
 * sees only Sluice's side. To tell inputs apart further we count, in
 * libFuzzer's extra counters, what jansson did with them: the error it
 * reports (the message without the token and the position: it names the
 * failing check in the parser) or the shape of the value it built (type by
 * nesting depth).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define SHAPE_DEPTHS 16
#define ERROR_SLOTS 128
/* libFuzzer reads these as coverage (its "extra counters") */
__attribute__((used, section("__libfuzzer_extra_counters"))) static unsigned
    char counters[8 * SHAPE_DEPTHS + ERROR_SLOTS];

static void count(size_t slot) {
        if (counters[slot] < 255)
                counters[slot]++;
}

static void count_shape(const json_t *j, size_t depth) {
        size_t i;
        const char *key;
        json_t *v;
        count((size_t)json_typeof(j) * SHAPE_DEPTHS +
              (depth < SHAPE_DEPTHS ? depth : SHAPE_DEPTHS - 1));
        if (json_is_array(j))
                for (i = 0; i < json_array_size(j); i++)
                        count_shape(json_array_get(j, i), depth + 1);
        else if (json_is_object(j))
                json_object_foreach((json_t *)j, key, v) {
                        count_shape(v, depth + 1);
                }
}

/* @text: serde.c's "...: <jansson's text> (line L, column C)" */
static void count_error(const char *text) {
        const char *near = strstr(text, " near "), *at = strstr(text, " (line ");
        size_t n = strlen(text), i, h = 5381;
        if (at)
                n = (size_t)(at - text);
        if (near && (size_t)(near - text) < n)
                n = (size_t)(near - text);
        for (i = 0; i < n; i++)
                h = h * 33 + (unsigned char)text[i];
        count(8 * SHAPE_DEPTHS + h % ERROR_SLOTS);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        const sluice_serde_t *serde = sluice_serde_json();
        sluice_buf_t buf            = {NULL, 0, 0};
        sluice_value_t v, again;
        const void *out;
        size_t out_len, first_len;
        unsigned char *first;
        char err[512];

        json_error_t jerr;
        json_t *ref = json_loadb((const char *)data, size, JSON_DECODE_ANY,
                                 &jerr);

        err[0] = '\0';
        if (serde->deserialize(serde, data, size, &v, err, sizeof(err))) {
                if (!err[0])
                        abort(); /* a failure without a reason */
                if (ref && !memchr(data, '\0', size))
                        abort(); /* jansson reads what we refuse */
                json_decref(ref);
                count_error(err);
                return 0;
        }
        if (!ref || !json_equal(ref, v.u.json))
                abort(); /* we read what jansson refuses, or otherwise */
        {
                size_t n = json_dumpb(ref, NULL, 0,
                                      JSON_COMPACT | JSON_ENCODE_ANY);
                char *jd = malloc(n ? n : 1);
                if (!jd || !n ||
                    json_dumpb(ref, jd, n, JSON_COMPACT | JSON_ENCODE_ANY) != n)
                        abort();
                if (serde->serialize(serde, &v, &buf, &out, &out_len, err,
                                     sizeof(err)) ||
                    out_len != n || memcmp(out, jd, n))
                        abort(); /* printed otherwise than jansson */
                free(jd);
                buf.len = 0;
        }
        json_decref(ref);
        if (v.type != SLUICE_VALUE_JSON || !v.u.json)
                abort();
        count_shape(v.u.json, 0);
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
