/*
 * bench/windows.c - windowed counts through the test driver (no Kafka), one
 * core: tumbling, sliding and session windows, the memory store against
 * LMDB.
 *
 *   source "in" (bytes, bytes) -> group_by_key -> windowed_by(W) -> count
 *   -> to_stream -> to("out", windowed bytes, int64)
 *
 *   tumbling  1-minute windows, no grace
 *   sliding   1-minute time difference, no grace
 *   session   1-minute inactivity gap, no grace
 *
 * --records records (default 10M) with 16-byte keys ("key-%012u") drawn
 * uniformly (fixed seed) from --keys distinct keys (default 1M), 8-byte
 * values, timestamps advancing by 1 ms every --per-ms records (default 10:
 * 10M records span ~17 minutes of event time, so a 1-minute window holds
 * ~600k records over ~450k keys and the store holds about a million
 * windows at a time); inputs precomputed before timing. Windows expire as
 * stream time moves (retention = size + grace), so the store stays bounded.
 *
 * The driver commits after every piped record (as TopologyTestDriver): the
 * record cache is flushed at once, the window's update goes to the backend,
 * the changelog queue and the output. Both queues are drained every 1024
 * records inside the timed loop. Every run is checked: the tumbling count
 * emits one update per record, and the counts of 1000 sampled keys in the
 * last minute's window match the input; sliding and session runs emit at
 * least one update per record.
 *
 * Time: the process's CPU time (user + system); the configurations are
 * interleaved in each of --runs rounds, figures are medians over rounds.
 * Targets (a benchmark, not a test): tumbling >= 3M records/s per
 * CPU-second with the memory store; sliding and session within 3x of it.
 *
 * Usage: bench/windows [--records N] [--keys N] [--per-ms N] [--runs R]
 *                      [--filter SUBSTRING] [--tmpdir DIR]
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#include <errno.h>

#include "bench_util.h"

#define APP_ID "bench-windows"
#define KEY_LEN 16
#define MAX_RUNS 9
#define SAMPLE 1000
#define MINUTE 60000

static struct {
        long records, keys, per_ms;
        int runs;
        const char *filter, *tmpdir;
} opt = {10000000, 1000000, 10, 3, NULL, NULL};

static void die(const char *what, const char *why) {
        fprintf(stderr, "windows: %s: %s\n", what, why);
        exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return bench_xorshift64(&rng_state); }

static void make_key(char *out, unsigned long i) {
        char buf[32];
        snprintf(buf, sizeof(buf), "key-%012lu", i % 1000000000000ul);
        memcpy(out, buf, KEY_LEN);
}

typedef struct {
        const char *name, *store;
        sluice_window_type_t type;
} cfg_t;

static const cfg_t cfgs[] = {
    {"tumbling, memory", "in_memory", SLUICE_WINDOW_TIME},
    {"sliding, memory", "in_memory", SLUICE_WINDOW_SLIDING},
    {"session, memory", "in_memory", SLUICE_WINDOW_SESSION},
    {"tumbling, lmdb", "lmdb", SLUICE_WINDOW_TIME},
    {"sliding, lmdb", "lmdb", SLUICE_WINDOW_SLIDING},
    {"session, lmdb", "lmdb", SLUICE_WINDOW_SESSION},
};
#define CFGS 6

static sluice_topology_t *topology(sluice_window_type_t type) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_bytes(),
                                                  sluice_serde_bytes());
        sluice_windows_t w =
            type == SLUICE_WINDOW_TIME      ? sluice_windows_tumbling(MINUTE, 0)
            : type == SLUICE_WINDOW_SLIDING ? sluice_windows_sliding(MINUTE, 0)
                                            : sluice_windows_session(MINUTE, 0);
        char err[512];
        sluice_table_t *tbl = sluice_windowed_count(
            sluice_grouped_windowed_by(sluice_stream_group_by_key(s, NULL, NULL),
                                       w),
            "win");
        sluice_stream_to(sluice_table_to_stream(tbl), "out",
                         sluice_serde_bytes(), sluice_serde_int64());
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology", err);
        return t;
}

static char *make_tmpdir(void) {
        char *dir = bench_mkdtemp(opt.tmpdir, "bench-windows-");
        if (!dir)
                die("tmpdir", strerror(errno));
        return dir;
}

static void drain(sluice_driver_t *drv, long *outs) {
        while (sluice_driver_read(drv, "out"))
                (*outs)++;
        while (sluice_driver_read(drv, APP_ID "-win-changelog"))
                ;
}

typedef struct {
        long key;
        int64_t count;
        int seen;
} wprobe_t;

static int wprobe_cb(const void *key, size_t key_len, int64_t start,
                    int64_t end, const void *value, size_t value_len,
                    int64_t ts, void *opaque) {
        wprobe_t *p = opaque;
        const unsigned char *v = value;
        int64_t c = 0;
        size_t i;
        (void)key;
        (void)key_len;
        (void)start;
        (void)end;
        (void)ts;
        for (i = 0; i < value_len; i++)
                c = c << 8 | v[i];
        p->count = c;
        p->seen++;
        return 0;
}

typedef struct {
        double cpu, wall;
        long outs;
} result_t;

static result_t run(const cfg_t *cfg, const char *keys, const int64_t *ts,
                    const uint32_t *last_expect, int64_t last_start) {
        static const char value[8] = "v0000000";
        char err[512];
        char *dir            = make_tmpdir();
        sluice_topology_t *t = topology(cfg->type);
        sluice_conf_t *c     = sluice_conf_new();
        sluice_driver_t *drv;
        result_t r = {0, 0, 0};
        double c0, w0;
        long i;
        if (sluice_conf_set(c, "application.id", APP_ID, err, sizeof(err)) ||
            sluice_conf_set(c, "default.dsl.store", cfg->store, err,
                            sizeof(err)) ||
            sluice_conf_set(c, "state.dir", dir, err, sizeof(err)))
                die("conf", err);
        if (!(drv = sluice_driver_new(t, c, err, sizeof(err))))
                die("driver", err);
        c0 = cpu_now();
        w0 = wall_now();
        for (i = 0; i < opt.records; i++) {
                if (sluice_driver_pipe(drv, "in", keys + (size_t)i * KEY_LEN,
                                       KEY_LEN, value, sizeof(value), ts[i],
                                       NULL, 0))
                        die("pipe", sluice_driver_last_error(drv));
                if ((i & 1023) == 1023)
                        drain(drv, &r.outs);
        }
        drain(drv, &r.outs);
        r.cpu  = cpu_now() - c0;
        r.wall = wall_now() - w0;
        if (cfg->type == SLUICE_WINDOW_TIME ? r.outs != opt.records
                                            : r.outs < opt.records) {
                fprintf(stderr, "windows: %s: %ld outputs for %ld records\n",
                        cfg->name, r.outs, opt.records);
                exit(1);
        }
        if (cfg->type == SLUICE_WINDOW_TIME) {
                for (i = 0; i < SAMPLE; i++) {
                        long k = (long)((uint64_t)i * 2654435761u %
                                        (uint64_t)opt.keys);
                        wprobe_t p = {k, 0, 0};
                        char key[KEY_LEN];
                        make_key(key, (unsigned long)k);
                        if (sluice_driver_window_fetch(drv, "win", key,
                                                       KEY_LEN, last_start,
                                                       last_start, wprobe_cb,
                                                       &p) < 0)
                                die("check", "window fetch failed");
                        if ((int64_t)last_expect[k] != p.count) {
                                fprintf(stderr,
                                        "windows: key %ld: count %lld in the "
                                        "last window, expected %u\n",
                                        k, (long long)p.count, last_expect[k]);
                                exit(1);
                        }
                }
        }
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        rm_tree(dir);
        free(dir);
        return r;
}

static void usage(void) {
        fprintf(stderr, "usage: windows [--records N] [--keys N] [--per-ms N] "
                        "[--runs 1..%d] [--filter S] [--tmpdir DIR]\n",
                MAX_RUNS);
        exit(2);
}

int main(int argc, char **argv) {
        double cpu[CFGS][MAX_RUNS], rate[MAX_RUNS];
        double med[CFGS];
        int sel[CFGS], nsel = 0, i, r, c;
        char *keys;
        int64_t *ts, last_start;
        uint32_t *last_expect;
        long n;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--keys"))
                        opt.keys = num_arg(argc, argv, &i, SAMPLE, usage);
                else if (!strcmp(argv[i], "--per-ms"))
                        opt.per_ms = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
                        opt.filter = argv[++i];
                else if (!strcmp(argv[i], "--tmpdir") && i + 1 < argc)
                        opt.tmpdir = argv[++i];
                else
                        usage();
        }
        if (opt.runs > MAX_RUNS)
                usage();
        for (c = 0; c < CFGS; c++)
                if (!opt.filter || strstr(cfgs[c].name, opt.filter))
                        sel[nsel++] = c;
        printf("bench/windows: sluice %s, test driver, one core; %d run(s), "
               "configurations interleaved, medians\n",
               sluice_version_str(), opt.runs);
        printf("%ld records, 16-byte keys drawn uniformly from %ld keys, "
               "event time +1 ms every %ld records, 1-minute windows\n",
               opt.records, opt.keys, opt.per_ms);
        print_load("start");
        keys        = malloc((size_t)opt.records * KEY_LEN);
        ts          = malloc((size_t)opt.records * sizeof(*ts));
        last_expect = calloc((size_t)opt.keys, sizeof(*last_expect));
        if (!keys || !ts || !last_expect)
                die("inputs", "out of memory");
        last_start = (opt.records - 1) / opt.per_ms / MINUTE * MINUTE;
        for (n = 0; n < opt.records; n++) {
                unsigned long k = (unsigned long)(rng() % (uint64_t)opt.keys);
                make_key(keys + (size_t)n * KEY_LEN, k);
                ts[n] = n / opt.per_ms;
                if (ts[n] >= last_start)
                        last_expect[k]++;
        }
        for (r = 0; r < opt.runs; r++)
                for (i = 0; i < nsel; i++) {
                        result_t res;
                        c         = sel[(i + r) % nsel];
                        res       = run(&cfgs[c], keys, ts, last_expect,
                                        last_start);
                        cpu[c][r] = res.cpu;
                        fprintf(stderr, "  run %d %-18s %.2f s cpu, %ld outputs\n",
                                r + 1, cfgs[c].name, res.cpu, res.outs);
                }
        printf("\n  %-18s %14s %12s\n", "configuration", "records/cpu-s",
               "cpu-s/M rec");
        for (i = 0; i < nsel; i++) {
                double per[MAX_RUNS];
                c = sel[i];
                for (r = 0; r < opt.runs; r++) {
                        rate[r] = (double)opt.records / cpu[c][r];
                        per[r]  = cpu[c][r] / ((double)opt.records / 1e6);
                }
                med[c] = median(rate, opt.runs);
                printf("  %-18s %14.0f %12.3f\n", cfgs[c].name, med[c],
                       median(per, opt.runs));
        }
        printf("\ntargets (medians):\n");
        for (i = 0; i < nsel; i++) {
                c = sel[i];
                if (cfgs[c].type == SLUICE_WINDOW_TIME &&
                    !strcmp(cfgs[c].store, "in_memory"))
                        printf("  tumbling, memory >= 3M records/s: %s "
                               "(%.2fM)\n",
                               med[c] >= 3e6 ? "MET" : "NOT MET",
                               med[c] / 1e6);
        }
        for (i = 0; i < nsel; i++) {
                int tb;
                c = sel[i];
                if (cfgs[c].type == SLUICE_WINDOW_TIME)
                        continue;
                for (tb = 0; tb < nsel; tb++)
                        if (cfgs[sel[tb]].type == SLUICE_WINDOW_TIME &&
                            !strcmp(cfgs[sel[tb]].store, cfgs[c].store))
                                printf("  %s within 3x of tumbling: %s "
                                       "(%.2fx slower)\n",
                                       cfgs[c].name,
                                       med[sel[tb]] / med[c] <= 3 ? "MET"
                                                                 : "NOT MET",
                                       med[sel[tb]] / med[c]);
        }
        free(keys);
        free(ts);
        free(last_expect);
        return 0;
}
