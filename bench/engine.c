/*
 * bench/engine.c - records/s per core through the test-driver path, beside
 * the reference each pipeline cannot beat, in the same run:
 *
 *   (a) map -> filter -> to              (string key, int64 value)
 *   (b) JSON decode -> filter -> map_values -> JSON encode
 *       reference: jansson alone parsing and dumping the same records
 *   (c) JSON decode -> filter -> to      (value unchanged: written as bytes)
 *       reference: jansson alone parsing the same records
 *
 * The JSON records are 1M distinct ~75-byte objects, cycled; the filters
 * look at a field of every record and keep all of them, so engine and
 * reference parse (and for b dump) exactly as many records. Time is the
 * process's CPU time on one thread; each figure is the median of --runs.
 *
 * Usage: bench/engine [--records N] [--runs R]     (defaults 10000000, 3)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"

#include "bench_util.h"

#define POOL 1000000

/* Sorts @v itself, unlike bench_util.h's median(): main() forms the
 * ratios rb / rc after the medians of b, bref, c and cref, i.e. from the
 * sorted arrays (the k-th smallest over the k-th smallest, not one run's
 * pair). Kept so that the figures stay what they were. */
static double median_in_place(double *v, int n) {
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- inputs ---- */

typedef struct {
        char key[16];
        size_t key_len;
        unsigned char i64[8];
        char json[96];
        size_t json_len;
} input_t;

static input_t *make_inputs(void) {
        input_t *in = malloc(sizeof(input_t) * POOL);
        static const char *const countries[] = {"DE", "FR", "US", "JP", "BR"};
        int i, b;
        if (!in)
                exit(1);
        for (i = 0; i < POOL; i++) {
                uint64_t v = (uint64_t)i * 2654435761u;
                in[i].key_len =
                    (size_t)snprintf(in[i].key, sizeof(in[i].key), "u%07d", i);
                for (b = 0; b < 8; b++)
                        in[i].i64[b] = (unsigned char)(v >> (56 - 8 * b));
                in[i].json_len = (size_t)snprintf(
                    in[i].json, sizeof(in[i].json),
                    "{\"user\":\"u%07d\",\"amount\":%d.%02d,\"ts\":%d,"
                    "\"country\":\"%s\",\"ok\":true}",
                    i, (i * 7) % 1000, i % 100, 1700000000 + i,
                    countries[i % 5]);
        }
        return in;
}

/* ---- callbacks ---- */

static int double_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_value(
            rec, sluice_int64(sluice_record_value(rec)->u.i64 * 2));
}

static bool not_div_by_7(const sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_value(rec)->u.i64 % 7 != 0;
}

static bool json_ok(const sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return json_is_true(json_object_get(sluice_record_value(rec)->u.json,
                                            "ok"));
}

static int json_scale_amount(sluice_record_t *rec, void *opaque) {
        json_t *v = sluice_record_json_edit(rec);
        json_t *a = json_object_get(v, "amount");
        (void)opaque;
        return json_real_set(a, json_number_value(a) * 1.1);
}

/* ---- runs ---- */

typedef enum { PIPE_A, PIPE_B, PIPE_C } pipeline_t;

static double run_engine(pipeline_t p, const input_t *in, long n,
                         long *out_cnt) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_t *s;
        double t0, t1;
        long i, outs = 0;
        if (p == PIPE_A) {
                s = sluice_stream_from(t, "in", sluice_serde_string(),
                                       sluice_serde_int64());
                s = sluice_stream_filter(sluice_stream_map(s, double_value, NULL),
                                         not_div_by_7, NULL);
        } else {
                s = sluice_stream_from(t, "in", sluice_serde_string(),
                                       sluice_serde_json());
                s = sluice_stream_filter(s, json_ok, NULL);
                if (p == PIPE_B)
                        s = sluice_stream_map_values(s, json_scale_amount, NULL);
        }
        sluice_stream_to(s, "out", NULL, NULL);
        drv = sluice_driver_new(t, NULL, err, sizeof(err));
        if (!drv) {
                fprintf(stderr, "engine: %s\n", err);
                exit(1);
        }
        t0 = cpu_now();
        for (i = 0; i < n; i++) {
                const input_t *r = &in[i % POOL];
                int rc;
                if (p == PIPE_A)
                        rc = sluice_driver_pipe(drv, "in", r->key, r->key_len,
                                                r->i64, 8, i, NULL, 0);
                else
                        rc = sluice_driver_pipe(drv, "in", r->key, r->key_len,
                                                r->json, r->json_len, i, NULL,
                                                0);
                if (rc) {
                        fprintf(stderr, "engine: %s\n",
                                sluice_driver_last_error(drv));
                        exit(1);
                }
                if ((i & 1023) == 1023)
                        while (sluice_driver_read(drv, "out"))
                                outs++;
        }
        while (sluice_driver_read(drv, "out"))
                outs++;
        t1 = cpu_now();
        *out_cnt = outs;
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return t1 - t0;
}

/* jansson alone: parse (and dump into a reused buffer) every record */
static double run_reference(int dump, const input_t *in, long n,
                            long *checksum) {
        char buf[256];
        json_error_t jerr;
        double t0 = cpu_now();
        long i, sum = 0;
        for (i = 0; i < n; i++) {
                const input_t *r = &in[i % POOL];
                json_t *j        = json_loadb(r->json, r->json_len, 0, &jerr);
                if (!j)
                        exit(1);
                if (dump)
                        sum += (long)json_dumpb(j, buf, sizeof(buf),
                                                JSON_COMPACT);
                else
                        sum += (long)json_object_size(j);
                json_decref(j);
        }
        *checksum = sum;
        return cpu_now() - t0;
}

int main(int argc, char **argv) {
        long n   = 10000000;
        int runs = 3, r, i;
        input_t *in;
        double a[16], b[16], bref[16], c[16], cref[16];
        long outs, sum;

        for (i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--records"))
                        n = atol(argv[i + 1]);
                else if (!strcmp(argv[i], "--runs"))
                        runs = atoi(argv[i + 1]);
        }
        if (runs < 1 || runs > 16 || n < 1) {
                fprintf(stderr, "usage: engine [--records N] [--runs 1..16]\n");
                return 2;
        }
        in = make_inputs();
        printf("bench/engine: %ld records per pipeline, %d runs, one core, "
               "CPU time\n",
               n, runs);
        for (r = 0; r < runs; r++) {
                a[r] = (double)n / run_engine(PIPE_A, in, n, &outs);
                printf("run %d: (a) %.2f M/s (%ld out)", r + 1, a[r] / 1e6, outs);
                b[r] = (double)n / run_engine(PIPE_B, in, n, &outs);
                bref[r] = (double)n / run_reference(1, in, n, &sum);
                printf("  (b) %.3f M/s vs jansson %.3f", b[r] / 1e6,
                       bref[r] / 1e6);
                c[r] = (double)n / run_engine(PIPE_C, in, n, &outs);
                cref[r] = (double)n / run_reference(0, in, n, &sum);
                printf("  (c) %.3f M/s vs jansson %.3f\n", c[r] / 1e6,
                       cref[r] / 1e6);
                fflush(stdout);
        }
        {
                double ma = median_in_place(a, runs),
                       mb = median_in_place(b, runs),
                       mbr = median_in_place(bref, runs),
                       mc = median_in_place(c, runs),
                       mcr = median_in_place(cref, runs);
                double rb[16], rc[16];
                for (r = 0; r < runs; r++) {
                        rb[r] = b[r] / bref[r];
                        rc[r] = c[r] / cref[r];
                }
                printf("\nmedian of %d runs (records/s per core):\n", runs);
                printf("  (a) map->filter->to                      %10.0f  "
                       "(target >= 10000000)\n",
                       ma);
                printf("  (b) json->filter->map_values->json       %10.0f  "
                       "jansson parse+dump %10.0f  ratio %.2f (target >= "
                       "0.80)\n",
                       mb, mbr, median_in_place(rb, runs));
                printf("  (c) json->filter->to (bytes passed on)   %10.0f  "
                       "jansson parse      %10.0f  ratio %.2f (target >= "
                       "0.80)\n",
                       mc, mcr, median_in_place(rc, runs));
        }
        free(in);
        return 0;
}
