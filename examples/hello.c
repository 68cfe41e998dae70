/*
 * hello.c - the smallest Sluice program: uppercase every value of "in" and
 * write it to "out", through the test driver. The Makefile's installcheck
 * target builds it against the *installed* library, the way a user would:
 *
 *   cc hello.c $(pkg-config --cflags --libs sluice)
 *
 * and with CMake (find_package(Sluice), target Sluice::sluice).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <sluice.h>

static int upper(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char buf[256];
        size_t i, n = v->u.bytes.len < sizeof(buf) ? v->u.bytes.len : sizeof(buf);
        (void)opaque;
        for (i = 0; i < n; i++)
                buf[i] = (char)toupper(((const unsigned char *)v->u.bytes.data)[i]);
        return sluice_record_set_value(rec, sluice_strn(buf, n));
}

int main(void) {
        char errstr[512];
        const sluice_output_t *o;
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_driver_t *drv;

        sluice_stream_to(sluice_stream_map_values(s, upper, NULL), "out", NULL,
                         NULL);
        drv = sluice_driver_new(t, NULL, errstr, sizeof(errstr));
        if (!drv) {
                fprintf(stderr, "hello: %s\n", errstr);
                return 1;
        }
        sluice_driver_pipe_str(drv, "in", "k", "hello, sluice", 0);
        o = sluice_driver_read(drv, "out");
        if (!o || o->value_len != 13 || memcmp(o->value, "HELLO, SLUICE", 13)) {
                fprintf(stderr, "hello: unexpected output\n");
                return 1;
        }
        printf("hello (libsluice %s, librdkafka %s): %.*s\n",
               sluice_version_str(), sluice_rdkafka_version_str(),
               (int)o->value_len, (const char *)o->value);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return 0;
}
