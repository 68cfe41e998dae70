/*
 * bench/store_memory.c - the built-in memory store ("in_memory") through
 * its store interface, no driver around it: what its point operations
 * cost, and what a range scan costs when writes come in between, as a
 * windowed operator's scans do. Over --keys (default 1M) 16-byte keys
 * ("key-%012u") with 16-byte values (Sluice's timestamp + a count):
 *
 *   put new        filling a fresh store with --keys keys, random order
 *   get            --ops gets of present keys, drawn uniformly
 *   get+put        --ops read-modify-writes of present keys (a count)
 *   del+put        --ops times: delete a present key, put a new one (the
 *                  store keeps its size)
 *   then a first scan, after which the same three again, and
 *   put, scan 10   --scan-ops times: get+put of a present key, then a
 *                  10-key range scan from a random present key
 *   del+put, scan 10  the same with del+put as the write
 *
 * Every figure is CPU nanoseconds per operation (a scan line: per write +
 * scan), the median of --runs runs (default 3), each on a fresh store. A
 * scan line stops early after --scan-seconds (default 5) of CPU, so that
 * an implementation whose scans cost O(store) after a write still gives a
 * figure in bounded time (the count of operations done is printed). Gets
 * and scans are checked: every get finds its key, every scan returns 10
 * records in rising key order from the one asked for.
 *
 * Before and after a change of the store: the file uses the public API
 * only, so it builds against any libsluice.a, e.g. one of an older commit:
 *   cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -o old_bench
 *      bench/store_memory.c old/libsluice.a $(pkg-config --libs rdkafka
 *      jansson lmdb)
 * (the libraries as the Makefile's DEP_LIBS gives them).
 *
 * Usage: bench/store_memory [--keys N] [--ops N] [--scan-ops N]
 *                           [--scan-seconds S] [--runs R]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#include "bench_util.h"

#define KEY_LEN 16
#define VAL_LEN 16
#define MAX_RUNS 15
#define SCAN_LEN 10

static struct {
        long keys, ops, scan_ops;
        double scan_seconds;
        int runs;
} opt = {1000000, 2000000, 200000, 5.0, 3};

enum {
        F_FILL,
        F_GET,
        F_UPDATE,
        F_CHURN,
        F_GET_IX,
        F_UPDATE_IX,
        F_CHURN_IX,
        F_UPDATE_SCAN,
        F_CHURN_SCAN,
        F_CNT
};

static const char *const names[F_CNT] = {
    "put new (fill)",         "get",
    "get+put",                "del+put",
    "get, indexed",           "get+put, indexed",
    "del+put, indexed",       "get+put, then scan 10",
    "del+put, then scan 10",
};

static void die(const char *what) {
        fprintf(stderr, "store_memory: %s\n", what);
        exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return bench_xorshift64star(&rng_state); }
static size_t rng_below(size_t n) {
        return (size_t)(rng() % n);
}

static void make_key(unsigned char *k, uint64_t id) {
        int i;
        memcpy(k, "key-", 4);
        for (i = KEY_LEN - 1; i >= 4; i--, id /= 10)
                k[i] = (unsigned char)('0' + id % 10);
}

typedef struct run_s {
        const sluice_store_type_t *t;
        void *h;
        uint64_t *ids; /* present keys */
        uint64_t next_id;
} run_t;

static void put(run_t *r, uint64_t id, uint64_t count) {
        unsigned char k[KEY_LEN], v[VAL_LEN] = {0};
        make_key(k, id);
        memcpy(v + 8, &count, 8);
        if (r->t->put(r->h, k, KEY_LEN, v, VAL_LEN))
                die("put failed");
}

static void get_put(run_t *r, uint64_t id) {
        unsigned char k[KEY_LEN], v[VAL_LEN];
        const void *got;
        size_t glen;
        uint64_t c;
        make_key(k, id);
        if (r->t->get(r->h, k, KEY_LEN, &got, &glen) != 1 || glen != VAL_LEN)
                die("get of a present key did not find it");
        memcpy(v, got, VAL_LEN);
        memcpy(&c, v + 8, 8);
        c++;
        memcpy(v + 8, &c, 8);
        if (r->t->put(r->h, k, KEY_LEN, v, VAL_LEN))
                die("put failed");
}

static void churn(run_t *r) {
        unsigned char k[KEY_LEN];
        size_t i = rng_below((size_t)opt.keys);
        make_key(k, r->ids[i]);
        if (r->t->del(r->h, k, KEY_LEN))
                die("del failed");
        r->ids[i] = r->next_id++;
        put(r, r->ids[i], 1);
}

/* A 10-key scan from a present key: it comes first, then rising keys
 * (fewer than 10 only at the end of the store). */
static void scan10(run_t *r) {
        unsigned char from[KEY_LEN], prev[KEY_LEN];
        void *it;
        const void *k, *v;
        size_t kl, vl;
        int n = 0, rc = 1;
        make_key(from, r->ids[rng_below((size_t)opt.keys)]);
        if (r->t->iter_open(r->h, from, KEY_LEN, NULL, 0, &it))
                die("iter_open failed");
        while (n < SCAN_LEN &&
               (rc = r->t->iter_next(it, &k, &kl, &v, &vl)) == 1) {
                if (kl != KEY_LEN || vl != VAL_LEN ||
                    (n == 0 && memcmp(k, from, KEY_LEN)) ||
                    (n > 0 && memcmp(k, prev, KEY_LEN) <= 0))
                        die("scan: wrong records or out of order");
                memcpy(prev, k, KEY_LEN);
                n++;
        }
        r->t->iter_close(it);
        if (n < SCAN_LEN && rc != 0)
                die("scan failed");
}

/* One run: every figure, ns per operation, into @ns; the scan lines'
 * operation counts into @done. */
static void one_run(double *ns, long *done) {
        run_t r = {sluice_store_type_memory(), NULL, NULL, 0};
        char err[256];
        double t0;
        long i;
        if (r.t->open(r.t, "/nonexistent", "bench", &r.h, err, sizeof(err)))
                die(err);
        if (!(r.ids = malloc(sizeof(*r.ids) * (size_t)opt.keys)))
                die("out of memory");
        /* ids 0..keys-1 in random order */
        for (i = 0; i < opt.keys; i++)
                r.ids[i] = (uint64_t)i;
        for (i = opt.keys - 1; i > 0; i--) {
                size_t j      = rng_below((size_t)i + 1);
                uint64_t t    = r.ids[i];
                r.ids[i]      = r.ids[j];
                r.ids[j]      = t;
        }
        r.next_id = (uint64_t)opt.keys;
        t0        = cpu_now();
        for (i = 0; i < opt.keys; i++)
                put(&r, r.ids[i], 1);
        ns[F_FILL] = (cpu_now() - t0) * 1e9 / (double)opt.keys;

        for (int pass = 0; pass < 2; pass++) {
                unsigned char k[KEY_LEN];
                const void *v;
                size_t vl;
                t0 = cpu_now();
                for (i = 0; i < opt.ops; i++) {
                        make_key(k, r.ids[rng_below((size_t)opt.keys)]);
                        if (r.t->get(r.h, k, KEY_LEN, &v, &vl) != 1)
                                die("get of a present key did not find it");
                }
                ns[pass ? F_GET_IX : F_GET] =
                    (cpu_now() - t0) * 1e9 / (double)opt.ops;
                t0 = cpu_now();
                for (i = 0; i < opt.ops; i++)
                        get_put(&r, r.ids[rng_below((size_t)opt.keys)]);
                ns[pass ? F_UPDATE_IX : F_UPDATE] =
                    (cpu_now() - t0) * 1e9 / (double)opt.ops;
                t0 = cpu_now();
                for (i = 0; i < opt.ops; i++)
                        churn(&r);
                ns[pass ? F_CHURN_IX : F_CHURN] =
                    (cpu_now() - t0) * 1e9 / (double)opt.ops;
                if (!pass) /* the first scan: an ordered index from now on */
                        scan10(&r);
        }
        for (int w = 0; w < 2; w++) {
                double end;
                t0  = cpu_now();
                end = t0 + opt.scan_seconds;
                for (i = 0; i < opt.scan_ops; i++) {
                        if (w)
                                churn(&r);
                        else
                                get_put(&r,
                                        r.ids[rng_below((size_t)opt.keys)]);
                        scan10(&r);
                        if ((i & 15) == 15 && cpu_now() > end) {
                                i++;
                                break;
                        }
                }
                ns[w ? F_CHURN_SCAN : F_UPDATE_SCAN] =
                    (cpu_now() - t0) * 1e9 / (double)i;
                done[w ? F_CHURN_SCAN : F_UPDATE_SCAN] = i;
        }
        if (r.t->approximate_count(r.h) != (uint64_t)opt.keys)
                die("the store lost count");
        r.t->close(r.h);
        free(r.ids);
}

int main(int argc, char **argv) {
        double ns[F_CNT][MAX_RUNS];
        long done[F_CNT][MAX_RUNS];
        int i, f;
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--keys") && i + 1 < argc)
                        opt.keys = atol(argv[++i]);
                else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
                        opt.ops = atol(argv[++i]);
                else if (!strcmp(argv[i], "--scan-ops") && i + 1 < argc)
                        opt.scan_ops = atol(argv[++i]);
                else if (!strcmp(argv[i], "--scan-seconds") && i + 1 < argc)
                        opt.scan_seconds = atof(argv[++i]);
                else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
                        opt.runs = atoi(argv[++i]);
                else {
                        fprintf(stderr,
                                "usage: %s [--keys N] [--ops N] [--scan-ops N] "
                                "[--scan-seconds S] [--runs R]\n",
                                argv[0]);
                        return 2;
                }
        }
        if (opt.runs < 1 || opt.runs > MAX_RUNS || opt.keys < 100 ||
            opt.ops < 1 || opt.scan_ops < 1)
                die("bad arguments");
        for (i = 0; i < opt.runs; i++) {
                double v[F_CNT];
                long d[F_CNT] = {0};
                one_run(v, d);
                for (f = 0; f < F_CNT; f++) {
                        ns[f][i]   = v[f];
                        done[f][i] = d[f];
                }
                fprintf(stderr, "run %d:", i + 1);
                for (f = 0; f < F_CNT; f++)
                        fprintf(stderr, " %.0f", v[f]);
                fprintf(stderr, "\n");
        }
        printf("in_memory store, %ld keys of %d bytes, values of %d bytes: "
               "CPU ns per operation, median of %d runs\n",
               opt.keys, KEY_LEN, VAL_LEN, opt.runs);
        for (f = 0; f < F_CNT; f++) {
                printf("  %-24s %10.0f", names[f], median(ns[f], opt.runs));
                if (f >= F_UPDATE_SCAN) {
                        double dd[MAX_RUNS];
                        for (i = 0; i < opt.runs; i++)
                                dd[i] = (double)done[f][i];
                        printf("   (%.0f of %ld operations in the time "
                               "allowed)",
                               median(dd, opt.runs), opt.scan_ops);
                }
                printf("\n");
        }
        return 0;
}
