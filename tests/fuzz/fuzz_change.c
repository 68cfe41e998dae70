/*
 * fuzz_change.c - libFuzzer target: the Change(new, old) encoding of a
 * table's repartition topic (lib/task.h), as a broken producer or a
 * corrupted topic may deliver it.
 *
 * The input is a sequence of records [u8 key length][key][u16 big-endian
 * value length][value] (a short tail is the last value). Each value:
 *  - through sl_change_decode(): it fails exactly when the header is short
 *    or the new value's length runs past the end; what decodes encodes with
 *    sl_change_encode() to bytes that decode to the same change and encode
 *    to the same bytes again;
 *  - piped, in order, into the repartition topic of a table group_by + count
 *    under the test driver: a malformed record fails with a deserialization
 *    error, a well-formed one is counted (string serdes decode anything).
 */
#include <stdlib.h>
#include <string.h>

#include "task.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define APP "fz"
#define TOPIC APP "-per-region-repartition"

static int same_part(const void *a, size_t alen, const void *b, size_t blen) {
        if (!a || !b)
                return !a && !b && !alen && !blen;
        return alen == blen && !memcmp(a, b, alen);
}

static void check_codec(const unsigned char *v, size_t len) {
        sluice_buf_t b1 = {NULL, 0, 0}, b2 = {NULL, 0, 0};
        sl_change_t c, c2;
        int malformed = len < 5 ||
                        ((size_t)v[1] << 24 | (size_t)v[2] << 16 |
                         (size_t)v[3] << 8 | v[4]) > len - 5;
        if (sl_change_decode(v, len, &c)) {
                if (!malformed)
                        abort();
                return;
        }
        if (malformed)
                abort();
        if (sl_change_encode(&c, &b1) || sl_change_decode(b1.data, b1.len, &c2))
                abort();
        if (!same_part(c.new_v, c.new_len, c2.new_v, c2.new_len) ||
            !same_part(c.old_v, c.old_len, c2.old_v, c2.old_len))
                abort();
        if (sl_change_encode(&c2, &b2) || b1.len != b2.len ||
            memcmp(b1.data, b2.data, b1.len))
                abort();
        free(b1.data);
        free(b2.data);
}

static int by_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

static sluice_topology_t *topology(void) {
        static sluice_topology_t *t; /* built once, frozen, shared */
        if (!t) {
                sluice_table_t *users = sluice_table_from(
                    t = sluice_topology_new(), "users", sluice_serde_string(),
                    sluice_serde_string(), "users");
                sluice_stream_to(
                    sluice_table_to_stream(sluice_grouped_count(
                        sluice_table_group_by(users, by_value, NULL, NULL,
                                              NULL),
                        "per-region")),
                    "out", NULL, NULL);
        }
        return t;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        sluice_conf_t *conf = sluice_conf_new();
        sluice_driver_t *drv;
        char err[512];
        size_t pos = 0;
        int64_t ts = 0;
        if (!conf || sluice_conf_set(conf, "application.id", APP, err,
                                     sizeof(err)))
                abort();
        if (!(drv = sluice_driver_new(topology(), conf, err, sizeof(err))))
                abort();
        while (pos < size) {
                size_t klen = data[pos++], vlen;
                const unsigned char *key = data + pos, *value;
                int r;
                if (klen > size - pos)
                        klen = size - pos;
                pos += klen;
                if (size - pos >= 2) {
                        vlen = (size_t)data[pos] << 8 | data[pos + 1];
                        pos += 2;
                } else {
                        vlen = 0;
                        pos  = size;
                }
                if (vlen > size - pos)
                        vlen = size - pos;
                value = data + pos;
                pos += vlen;
                check_codec(value, vlen);
                r = sluice_driver_pipe(drv, TOPIC, key, klen, value, vlen,
                                       ts++, NULL, 0);
                if (r == 0)
                        continue;
                /* only a malformed change may fail, and it must say so */
                {
                        sl_change_t c;
                        if (r != SLUICE_ERR_SERDE ||
                            !sl_change_decode(value, vlen, &c) ||
                            !strstr(sluice_driver_last_error(drv),
                                    "malformed change record"))
                                abort();
                }
        }
        sluice_driver_destroy(drv);
        return 0;
}
