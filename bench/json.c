/*
 * bench/json.c - what a JSON record costs in Sluice, side by side with
 * jansson, one core, CPU time (make bench-json).
 *
 * The record is bench/peers' json workload's (~325 bytes: a 64-bit id
 * above 2^53, strings, a real, a nested object, an array), 200k distinct
 * records (--records), medians of 5 interleaved runs (--runs):
 *
 *   parse      json_loadb() vs the JSON serde's parser (lib/json.c),
 *              each value freed at once
 *   print      json_dumpb() into a reused buffer vs the serde's printer
 *   pipeline   the peers' json topology through the test driver: parse,
 *              filter on "ok", add "tier" from "amount", print - every
 *              output checked (count, and the tier of each)
 *
 * Usage: bench/json [--records N] [--runs 1..15]
 */
#include "sluice.h"
#include "bench_util.h"

#include "../lib/json.h"
#include "peers/json_workload.h"

#include <jansson.h>

static void die(const char *what, const char *why) {
        fprintf(stderr, "json: %s: %s\n", what, why ? why : "");
        exit(1);
}

static uint64_t mix(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        x ^= x >> 33;
        return x;
}

static long cents_of(long i) { return (long)(mix((uint64_t)i ^ 0x3333) % 100000); }
static int ok_of(long i) { return i % 10 != 9; }

static int make_record(char *out, size_t cap, long i) {
        long c = cents_of(i);
        return snprintf(
            out, cap,
            "{\"id\":%lld,\"user\":\"u%07ld\",\"amount\":%ld.%02ld,"
            "\"currency\":\"EUR\",\"country\":\"%s\",\"ok\":%s,"
            "\"ts\":%lld,\"device\":{\"os\":\"android\",\"version\":"
            "\"14.2\",\"model\":\"Pixel 8\",\"app\":\"shop-3.1.4\"},"
            "\"tags\":[\"promo\",\"mobile\",\"returning\"],"
            "\"session\":\"s-%016llx\",\"note\":\"order placed via "
            "checkout flow B with saved card\"}",
            9007199254740993LL + i, i % 1000000, c / 100, c % 100,
            i % 3 ? "DE" : "FR", ok_of(i) ? "true" : "false",
            1700000000000LL + i, (unsigned long long)mix((uint64_t)i));
}

typedef struct {
        char *data; /* n records of up to REC bytes */
        int *len;
        long n;
} input_t;

#define REC 512

static double run_parse(const input_t *in, int ours) {
        double t = cpu_now();
        long i;
        for (i = 0; i < in->n; i++) {
                const char *r = in->data + (size_t)i * REC;
                json_error_t e;
                json_t *j = ours ? sl_json_parse(r, (size_t)in->len[i], NULL, 0)
                                 : json_loadb(r, (size_t)in->len[i],
                                              JSON_DECODE_ANY, &e);
                if (!j)
                        die("parse", r);
                json_decref(j);
        }
        return cpu_now() - t;
}

static double run_print(json_t **vals, long n, int ours, size_t *bytes) {
        sluice_buf_t b = {NULL, 0, 0};
        char out[1024];
        double t = cpu_now();
        long i;
        *bytes = 0;
        for (i = 0; i < n; i++) {
                if (ours) {
                        b.len = 0;
                        if (sl_json_dump(vals[i], &b))
                                die("print", "sl_json_dump");
                        *bytes += b.len;
                } else {
                        size_t m = json_dumpb(vals[i], out, sizeof(out),
                                              JSON_COMPACT | JSON_ENCODE_ANY);
                        if (!m || m > sizeof(out))
                                die("print", "json_dumpb");
                        *bytes += m;
                }
        }
        t = cpu_now() - t;
        free(b.data);
        return t;
}

static double run_pipeline(const input_t *in) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s;
        sluice_driver_t *drv;
        const sluice_output_t *o;
        char err[512];
        long i, outs = 0, want = 0;
        double c;
        s = sluice_stream_from(t, "in", sluice_serde_string(),
                               sluice_serde_json());
        sluice_stream_to(sluice_stream_map_values(
                             sluice_stream_filter(s, json_ok, NULL), add_tier,
                             NULL),
                         "out", NULL, NULL);
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology", err);
        if (!(drv = sluice_driver_new(t, NULL, err, sizeof(err))))
                die("driver", err);
        c = cpu_now();
        for (i = 0; i < in->n; i++) {
                char key[16];
                int kl = snprintf(key, sizeof(key), "k%07ld", i);
                if (sluice_driver_pipe(drv, "in", key, (size_t)kl,
                                       in->data + (size_t)i * REC,
                                       (size_t)in->len[i], i, NULL, 0))
                        die("pipe", sluice_driver_last_error(drv));
                want += ok_of(i);
                while ((o = sluice_driver_read(drv, "out"))) {
                        long k = atol((const char *)o->key + 1);
                        const char *gold = cents_of(k) >= 50000
                                               ? "\"tier\":\"gold\"}"
                                               : "\"tier\":\"std\"}";
                        size_t gl = strlen(gold);
                        if (o->value_len < gl ||
                            memcmp((const char *)o->value + o->value_len - gl,
                                   gold, gl))
                                die("pipeline", "an output's tier is wrong");
                        outs++;
                }
        }
        c = cpu_now() - c;
        if (outs != want)
                die("pipeline", "output count differs from the input's");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return c;
}

int main(int argc, char **argv) {
        long n = 200000, i;
        int runs = 5, r;
        input_t in;
        json_t **vals;
        double pj[15], po[15], dj[15], dp[15], pl[15];
        size_t bytes_j = 0, bytes_o = 0, total = 0;
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--records") && i + 1 < argc)
                        n = atol(argv[++i]);
                else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
                        runs = atoi(argv[++i]);
                else {
                        fprintf(stderr,
                                "usage: json [--records N] [--runs 1..15]\n");
                        return 2;
                }
        }
        if (n < 1 || runs < 1 || runs > 15) {
                fprintf(stderr, "json: --records >= 1, --runs 1..15\n");
                return 2;
        }
        in.n    = n;
        in.data = malloc((size_t)n * REC);
        in.len  = malloc(sizeof(int) * (size_t)n);
        vals    = malloc(sizeof(*vals) * (size_t)n);
        if (!in.data || !in.len || !vals)
                die("input", "out of memory");
        for (i = 0; i < n; i++) {
                json_error_t e;
                in.len[i] = make_record(in.data + (size_t)i * REC, REC, i);
                total += (size_t)in.len[i];
                if (!(vals[i] = json_loadb(in.data + (size_t)i * REC,
                                           (size_t)in.len[i], 0, &e)))
                        die("input", e.text);
        }
        print_load("start");
        printf("json: %ld records of %.0f bytes on average (bench/peers' "
               "json workload), medians of %d runs, CPU time\n",
               n, (double)total / (double)n, runs);
        for (r = 0; r < runs; r++) {
                pj[r] = run_parse(&in, 0);
                po[r] = run_parse(&in, 1);
                dj[r] = run_print(vals, n, 0, &bytes_j);
                dp[r] = run_print(vals, n, 1, &bytes_o);
                pl[r] = run_pipeline(&in);
                if (bytes_j != bytes_o)
                        die("print", "the two printers wrote different sizes");
                printf("  run %d: parse %.3f / %.3f s, print %.3f / %.3f s, "
                       "pipeline %.3f s\n",
                       r + 1, pj[r], po[r], dj[r], dp[r], pl[r]);
        }
        {
                double a = median(pj, runs), b = median(po, runs),
                       c = median(dj, runs), d = median(dp, runs),
                       e = median(pl, runs);
                printf("  %-34s %12s %12s %8s\n", "per record", "jansson",
                       "sluice", "ratio");
                printf("  %-34s %9.2f us %9.2f us %7.2fx\n", "parse + free",
                       a / (double)n * 1e6, b / (double)n * 1e6, a / b);
                printf("  %-34s %9.2f us %9.2f us %7.2fx\n",
                       "print (compact)", c / (double)n * 1e6,
                       d / (double)n * 1e6, c / d);
                printf("  %-34s %12s %9.2f us  (%.0f records/s per "
                       "CPU-second)\n",
                       "pipeline through the driver", "", e / (double)n * 1e6,
                       (double)n / e);
        }
        print_load("end");
        for (i = 0; i < n; i++)
                json_decref(vals[i]);
        free(vals);
        free(in.data);
        free(in.len);
        return 0;
}
