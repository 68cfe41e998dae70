/*
 * bench/joins.c - joins through the test driver (no Kafka), one core:
 * stream-table enrichment, a windowed stream-stream join and a
 * foreign-key join (issue 11).
 *
 *   enrich  table_from("tbl", bytes, bytes, "tbl-store") and
 *           stream_from("in") -> left_join_table -> to("out"). --keys
 *           table rows (default 1M; 16-byte keys "key-%012u", 16-byte
 *           values) are piped first (the load, timed apart), then
 *           --records stream records (default 10M; 16-byte keys drawn
 *           uniformly, fixed seed, from the table's keys, 8-byte values, event time +1 ms every 10).
 *           The memory store and LMDB, record cache at its default.
 *           Every run is checked: one output per stream record, each
 *           joined (24 bytes: value + row).
 *   rss     (a forked child, before the inputs are made) the table load
 *           alone into the memory store: VmRSS before the driver is
 *           created and after the last row, outputs drained, and VmHWM;
 *           the difference per 1M table keys.
 *   ss      stream_from("left"), stream_from("right") -> join within
 *           sluice_join_windows(1 min, 0) (before = after = 1 min) ->
 *           to("out"). --ss-records records per side (default 1M), piped
 *           interleaved (left i, right i), both at event time i ms. Left
 *           record i has a key of its own; right record i has left record
 *           (i - 30000)'s key (30 s earlier, inside the window), the first
 *           30000 right records keys no left record has: exactly
 *           N - 30000 joins, checked (fewer records: a shift of N/2
 *           records, event time stretched to keep it 30 s). Figures per piped record (both
 *           sides).
 *   fk      table_from("customers") (--fk-right rows, default 100k) and
 *           table_from("orders") (--fk-left rows, default 1M, each value a
 *           16-byte customer key, uniform) -> fk_join -> to_stream ->
 *           to("out"); three phases timed apart: the customers loaded,
 *           then the orders inserted (each joins once), then every order
 *           updated to another customer (an unsubscribe and a subscribe,
 *           one output), then every customer updated (one output per order
 *           referring to it). The memory store and LMDB. Output counts
 *           checked.
 *
 * The driver commits after every piped record (as TopologyTestDriver).
 * Outputs and the changelogs are drained every 1024 records inside the
 * timed loops (part of what a user of the driver pays; memory stays
 * bounded); internal topics (the foreign-key join's subscription and
 * response topics) are fed back in-process by the driver.
 *
 * Time: the process's CPU time (user + system); the configurations are
 * interleaved in each of --runs rounds (default 3), figures are medians.
 * --scale S divides every size by S (a quick run). Target (a benchmark,
 * not a test): enrichment >= 2M records/s per CPU-second, memory store.
 *
 * Usage: bench/joins [--records N] [--keys N] [--ss-records N]
 *                    [--fk-left N] [--fk-right N] [--scale S] [--runs R]
 *                    [--only enrich,rss,ss,fk] [--filter S] [--tmpdir DIR]
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice.h"

#include <errno.h>

#include "bench_util.h"

#define APP_ID "bench-joins"
#define KEY_LEN 16
#define ROW_LEN 16
#define VAL_LEN 8
#define MAX_RUNS 9
#define MINUTE 60000
#define TARGET_ENRICH 2e6

static struct {
        long records, keys, ss_records, fk_left, fk_right, scale;
        int runs, do_enrich, do_rss, do_ss, do_fk;
        const char *filter, *tmpdir;
} opt = {10000000, 1000000, 1000000, 1000000, 100000, 1, 3, 1, 1, 1, 1,
         NULL, NULL};

static void die(const char *what, const char *why) {
        fprintf(stderr, "joins: %s: %s\n", what, why);
        exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return bench_xorshift64(&rng_state); }

/* @prefix (4 bytes) then @i in 12 decimal digits: 16 bytes, no NUL (no
 * snprintf: the inputs are made fast, and leave a profile clean) */
static void make_key(char *out, const char *prefix, unsigned long i) {
        int d;
        memcpy(out, prefix, 4);
        i %= 1000000000000ul;
        for (d = KEY_LEN - 1; d >= 4; d--) {
                out[d] = (char)('0' + i % 10);
                i /= 10;
        }
}

/* stream value || table row (the row absent: the stream value alone) */
static int concat_joiner(const sluice_value_t *key, const sluice_value_t *left,
                         const sluice_value_t *right, sluice_value_t *out,
                         void *opaque) {
        char buf[256];
        size_t ll = left ? left->u.bytes.len : 0;
        size_t rl = right ? right->u.bytes.len : 0;
        (void)key;
        (void)opaque;
        if (ll + rl > sizeof(buf))
                return 1;
        if (ll)
                memcpy(buf, left->u.bytes.data, ll);
        if (rl)
                memcpy(buf + ll, right->u.bytes.data, rl);
        *out = sluice_bytes(buf, ll + rl); /* copied by Sluice */
        return 0;
}

static int fk_of(const sluice_value_t *key, const sluice_value_t *value,
                 sluice_value_t *fk, void *opaque) {
        (void)key;
        (void)opaque;
        if (value->type != SLUICE_VALUE_BYTES || value->u.bytes.len < KEY_LEN)
                return 1;
        *fk = sluice_bytes(value->u.bytes.data, KEY_LEN);
        return 0;
}

static char *make_tmpdir(void) {
        char *dir = bench_mkdtemp(opt.tmpdir, "bench-joins-");
        if (!dir)
                die("tmpdir", strerror(errno));
        return dir;
}

static sluice_driver_t *driver(sluice_topology_t *t, const char *store,
                               const char *dir) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        sluice_driver_t *drv;
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology", err);
        if (sluice_conf_set(c, "application.id", APP_ID, err, sizeof(err)) ||
            sluice_conf_set(c, "default.dsl.store", store, err, sizeof(err)) ||
            sluice_conf_set(c, "state.dir", dir, err, sizeof(err)))
                die("conf", err);
        if (!(drv = sluice_driver_new(t, c, err, sizeof(err))))
                die("driver", err);
        return drv;
}

/* Reads every queued record of the @n topics; the outputs of topics[0]
 * counted into *outs, and those of @want_len bytes into *full. */
static void drain(sluice_driver_t *drv, const char *const *topics, int n,
                  long *outs, long *full, size_t want_len) {
        const sluice_output_t *o;
        int i;
        while ((o = sluice_driver_read(drv, topics[0]))) {
                (*outs)++;
                if (o->value && o->value_len == want_len)
                        (*full)++;
        }
        for (i = 1; i < n; i++)
                while (sluice_driver_read(drv, topics[i]))
                        ;
}

static void pipe1(sluice_driver_t *drv, const char *topic, const char *key,
                  const void *val, size_t vlen, int64_t ts) {
        if (sluice_driver_pipe(drv, topic, key, KEY_LEN, val, vlen, ts, NULL,
                               0))
                die("pipe", sluice_driver_last_error(drv));
}

/* ---- enrichment ---- */

static const char *const enrich_topics[] = {
    "out", APP_ID "-tbl-store-changelog"};

static sluice_topology_t *enrich_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(
            t, "tbl", sluice_serde_bytes(), sluice_serde_bytes(), "tbl-store");
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_bytes(),
                                                sluice_serde_bytes());
        sluice_stream_to(sluice_stream_left_join_table(s, tbl, concat_joiner,
                                                       NULL,
                                                       sluice_serde_bytes()),
                         "out", sluice_serde_bytes(), sluice_serde_bytes());
        return t;
}

/* the table's rows, 0..keys-1, each with a 16-byte value */
static void enrich_load(sluice_driver_t *drv) {
        char key[KEY_LEN], row[ROW_LEN + 1];
        long i, outs = 0, full = 0;
        for (i = 0; i < opt.keys; i++) {
                make_key(key, "key-", (unsigned long)i);
                make_key(row, "row-", (unsigned long)i);
                pipe1(drv, "tbl", key, row, ROW_LEN, 0);
                if ((i & 1023) == 1023)
                        drain(drv, enrich_topics, 2, &outs, &full, 0);
        }
        drain(drv, enrich_topics, 2, &outs, &full, 0);
        if (outs)
                die("enrich", "the table load wrote outputs");
}

typedef struct {
        double load_cpu, cpu;
} enrich_res_t;

static enrich_res_t enrich_run(const char *store, const char *keys) {
        static const char value[VAL_LEN] = "v0000000";
        char *dir            = make_tmpdir();
        sluice_topology_t *t = enrich_topology();
        sluice_driver_t *drv = driver(t, store, dir);
        enrich_res_t r;
        long i, outs = 0, full = 0;
        double c0 = cpu_now();
        enrich_load(drv);
        r.load_cpu = cpu_now() - c0;
        c0         = cpu_now();
        for (i = 0; i < opt.records; i++) {
                pipe1(drv, "in", keys + (size_t)i * KEY_LEN, value, VAL_LEN,
                      i / 10);
                if ((i & 1023) == 1023)
                        drain(drv, enrich_topics, 2, &outs, &full,
                              VAL_LEN + ROW_LEN);
        }
        drain(drv, enrich_topics, 2, &outs, &full, VAL_LEN + ROW_LEN);
        r.cpu = cpu_now() - c0;
        if (outs != opt.records || full != opt.records) {
                fprintf(stderr,
                        "joins: enrich, %s: %ld outputs (%ld joined) for %ld "
                        "records\n",
                        store, outs, full, opt.records);
                exit(1);
        }
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        rm_tree(dir);
        free(dir);
        return r;
}

/* In a forked child before the inputs exist: the memory store's RSS for
 * the table alone. */
static void rss_child(void) {
        pid_t pid;
        int st;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                die("fork", "failed");
        if (pid == 0) {
                char *dir = make_tmpdir();
                long rss0, rss1, hwm0, hwm;
                sluice_topology_t *t = enrich_topology();
                sluice_driver_t *drv;
                rss0 = proc_status_kb("VmRSS");
                hwm0 = proc_status_kb("VmHWM");
                drv  = driver(t, "in_memory", dir);
                enrich_load(drv);
                rss1 = proc_status_kb("VmRSS");
                hwm  = proc_status_kb("VmHWM");
                printf("\nrss (memory store, %ld table keys, 16-byte keys and "
                       "values, a fresh process):\n",
                       opt.keys);
                printf("  VmRSS before %.1f MB, after the load %.1f MB, "
                       "VmHWM %.1f MB (%.1f before)\n",
                       (double)rss0 / 1024.0, (double)rss1 / 1024.0,
                       (double)hwm / 1024.0, (double)hwm0 / 1024.0);
                printf("  per 1M table keys: %.1f MB (RSS delta), %.1f MB "
                       "(VmHWM delta)\n",
                       (double)(rss1 - rss0) / 1024.0 * 1e6 /
                           (double)opt.keys,
                       (double)(hwm - rss0) / 1024.0 * 1e6 / (double)opt.keys);
                fflush(stdout);
                sluice_driver_destroy(drv);
                sluice_topology_destroy(t);
                rm_tree(dir);
                free(dir);
                _exit(0);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0)
                die("rss", "the child failed");
}

/* ---- stream-stream ---- */

static const char *const ss_topics[] = {
    "out", APP_ID "-ssj-this-join-store-changelog",
    APP_ID "-ssj-other-join-store-changelog"};

static sluice_topology_t *ss_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *l   = sluice_stream_from(t, "left", sluice_serde_bytes(),
                                                  sluice_serde_bytes());
        sluice_stream_t *r = sluice_stream_from(t, "right", sluice_serde_bytes(),
                                                sluice_serde_bytes());
        sluice_stream_to(sluice_stream_join(l, r, sluice_join_windows(MINUTE, 0),
                                            concat_joiner, NULL,
                                            sluice_serde_bytes(), "ssj"),
                         "out", sluice_serde_bytes(), sluice_serde_bytes());
        return t;
}

/* a key of its own for each i: a bijection of the 32-bit integers */
/* right record i has left record i - ss_shift's key, 30 s of event time
 * earlier: 30000 records 1 ms apart, fewer (further apart) when scaled */
static long ss_shift = 30000, ss_step = 1;

static unsigned long ss_key_id(unsigned long i) {
        return (unsigned long)((uint32_t)(i * 2654435761u) ^ 0x5bd1e995u);
}

static double ss_run(const char *store, const char *lkeys, const char *rkeys) {
        static const char value[VAL_LEN] = "v0000000";
        char *dir            = make_tmpdir();
        sluice_topology_t *t = ss_topology();
        sluice_driver_t *drv = driver(t, store, dir);
        long i, outs = 0, full = 0, expect;
        double c0 = cpu_now(), cpu;
        for (i = 0; i < opt.ss_records; i++) {
                pipe1(drv, "left", lkeys + (size_t)i * KEY_LEN, value, VAL_LEN,
                      i * ss_step);
                pipe1(drv, "right", rkeys + (size_t)i * KEY_LEN, value,
                      VAL_LEN, i * ss_step);
                if ((i & 511) == 511)
                        drain(drv, ss_topics, 3, &outs, &full, 2 * VAL_LEN);
        }
        drain(drv, ss_topics, 3, &outs, &full, 2 * VAL_LEN);
        cpu    = cpu_now() - c0;
        expect = opt.ss_records - ss_shift;
        if (outs != expect || full != expect) {
                fprintf(stderr,
                        "joins: ss, %s: %ld outputs (%ld of 16 bytes), "
                        "expected %ld\n",
                        store, outs, full, expect);
                exit(1);
        }
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        rm_tree(dir);
        free(dir);
        return cpu;
}

/* ---- foreign key ---- */

static char fk_store_clog[128]; /* the subscription store's changelog */

static sluice_topology_t *fk_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *orders =
            sluice_table_from(t, "orders", sluice_serde_bytes(),
                              sluice_serde_bytes(), "orders-store");
        sluice_table_t *cust =
            sluice_table_from(t, "customers", sluice_serde_bytes(),
                              sluice_serde_bytes(), "customers-store");
        sluice_table_t *j = sluice_table_fk_join(orders, cust, fk_of,
                                                 concat_joiner, NULL,
                                                 sluice_serde_bytes());
        sluice_stream_to(sluice_table_to_stream(j), "out",
                         sluice_serde_bytes(), sluice_serde_bytes());
        if (!fk_store_clog[0]) {
                static const char pre[] = "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-";
                char err[512], *d, *p;
                size_t n;
                if (sluice_topology_validate(t, err, sizeof(err)))
                        die("topology", err);
                d = sluice_topology_describe(t);
                if (!d || !(p = strstr(d, pre)))
                        die("fk", "no subscription store in the topology");
                n = strlen(pre) + strspn(p + strlen(pre), "0123456789");
                snprintf(fk_store_clog, sizeof(fk_store_clog),
                         APP_ID "-%.*s-changelog", (int)n, p);
                free(d);
        }
        return t;
}

typedef struct {
        double cpu[4]; /* customers load, orders insert, orders update,
                          customers update */
} fk_res_t;

static const char *const fk_phase[4] = {"customers load", "orders insert",
                                        "orders update", "customers update"};

static fk_res_t fk_run(const char *store, const uint32_t *fk1,
                       const uint32_t *fk2) {
        const char *topics[4] = {"out", APP_ID "-orders-store-changelog",
                                 APP_ID "-customers-store-changelog",
                                 fk_store_clog};
        char *dir            = make_tmpdir();
        sluice_topology_t *t = fk_topology();
        sluice_driver_t *drv = driver(t, store, dir);
        char key[KEY_LEN], val[ROW_LEN + 1];
        long i, outs = 0, full = 0, expect[4];
        fk_res_t r;
        double c0;
        int ph;
        expect[0] = 0;
        expect[1] = expect[2] = expect[3] = opt.fk_left;
        for (ph = 0; ph < 4; ph++) {
                long n   = ph == 0 || ph == 3 ? opt.fk_right : opt.fk_left;
                size_t wl = ph == 0 ? 0 : KEY_LEN + ROW_LEN;
                outs = full = 0;
                c0          = cpu_now();
                for (i = 0; i < n; i++) {
                        if (ph == 0 || ph == 3) {
                                make_key(key, "cus-", (unsigned long)i);
                                make_key(val, ph == 0 ? "cv1-" : "cv2-",
                                         (unsigned long)i);
                                pipe1(drv, "customers", key, val, ROW_LEN,
                                      ph == 0 ? 0 : 2);
                        } else {
                                make_key(key, "ord-", (unsigned long)i);
                                make_key(val, "cus-",
                                         ph == 1 ? fk1[i] : fk2[i]);
                                pipe1(drv, "orders", key, val, KEY_LEN,
                                      ph == 1 ? 1 : 2);
                        }
                        if ((i & 1023) == 1023)
                                drain(drv, topics, 4, &outs, &full, wl);
                }
                drain(drv, topics, 4, &outs, &full, wl);
                r.cpu[ph] = cpu_now() - c0;
                if (outs != expect[ph] || full != expect[ph]) {
                        fprintf(stderr,
                                "joins: fk, %s: %s: %ld outputs (%ld "
                                "joined), expected %ld\n",
                                store, fk_phase[ph], outs, full, expect[ph]);
                        exit(1);
                }
        }
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        rm_tree(dir);
        free(dir);
        return r;
}

/* ---- main ---- */

typedef struct {
        const char *name, *store;
        int kind; /* 0 enrich, 1 ss, 2 fk */
} cfg_t;

static const cfg_t cfgs[] = {
    {"enrich, memory", "in_memory", 0}, {"enrich, lmdb", "lmdb", 0},
    {"ss, memory", "in_memory", 1},     {"ss, lmdb", "lmdb", 1},
    {"fk, memory", "in_memory", 2},     {"fk, lmdb", "lmdb", 2},
};
#define CFGS 6

static void usage(void) {
        fprintf(stderr,
                "usage: joins [--records N] [--keys N] [--ss-records N] "
                "[--fk-left N] [--fk-right N]\n"
                "             [--scale S] [--runs 1..%d] "
                "[--only enrich,rss,ss,fk] [--filter S] [--tmpdir DIR]\n",
                MAX_RUNS);
        exit(2);
}

/* @n input records, @outs outputs (the outputs' rate: the medians' ratio) */
static void print_rate(const char *name, const char *what, long n, long outs,
                       const double *cpu, int runs) {
        double rate[MAX_RUNS], per[MAX_RUNS], m;
        int r;
        for (r = 0; r < runs; r++) {
                rate[r] = (double)n / cpu[r];
                per[r]  = cpu[r] / ((double)n / 1e6);
        }
        m = median(rate, runs);
        printf("  %-16s %-18s %10ld %14.0f %12.3f %10ld %13.0f\n", name, what,
               n, m, median(per, runs), outs, m * (double)outs / (double)n);
}

int main(int argc, char **argv) {
        static double cpu[CFGS][4][MAX_RUNS];
        int sel[CFGS], nsel = 0, i, r, c, ph;
        char *ekeys = NULL, *lkeys = NULL, *rkeys = NULL;
        uint32_t *fk1 = NULL, *fk2 = NULL;
        long n;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--keys"))
                        opt.keys = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--ss-records"))
                        opt.ss_records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--fk-left"))
                        opt.fk_left = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--fk-right"))
                        opt.fk_right = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--scale"))
                        opt.scale = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
                        char w[128], *tok;
                        snprintf(w, sizeof(w), "%s", argv[++i]);
                        opt.do_enrich = opt.do_rss = opt.do_ss = opt.do_fk = 0;
                        for (tok = strtok(w, ","); tok; tok = strtok(NULL, ","))
                                if (!strcmp(tok, "enrich"))
                                        opt.do_enrich = 1;
                                else if (!strcmp(tok, "rss"))
                                        opt.do_rss = 1;
                                else if (!strcmp(tok, "ss"))
                                        opt.do_ss = 1;
                                else if (!strcmp(tok, "fk"))
                                        opt.do_fk = 1;
                                else
                                        usage();
                } else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
                        opt.filter = argv[++i];
                else if (!strcmp(argv[i], "--tmpdir") && i + 1 < argc)
                        opt.tmpdir = argv[++i];
                else
                        usage();
        }
        if (opt.runs > MAX_RUNS)
                usage();
        opt.records    = opt.records / opt.scale > 0 ? opt.records / opt.scale : 1;
        opt.keys       = opt.keys / opt.scale > 0 ? opt.keys / opt.scale : 1;
        opt.ss_records = opt.ss_records / opt.scale > 0
                             ? opt.ss_records / opt.scale
                             : 1;
        opt.fk_left  = opt.fk_left / opt.scale > 0 ? opt.fk_left / opt.scale : 1;
        opt.fk_right = opt.fk_right / opt.scale > 0 ? opt.fk_right / opt.scale
                                                    : 1;
        for (c = 0; c < CFGS; c++) {
                int on = cfgs[c].kind == 0   ? opt.do_enrich
                         : cfgs[c].kind == 1 ? opt.do_ss
                                             : opt.do_fk;
                if (on && (!opt.filter || strstr(cfgs[c].name, opt.filter)))
                        sel[nsel++] = c;
        }
        printf("bench/joins: sluice %s, test driver, one core; %d run(s), "
               "configurations interleaved, medians; record cache default\n",
               sluice_version_str(), opt.runs);
        printf("enrich: %ld table keys, then %ld stream records (keys "
               "uniform over the table), left join\n",
               opt.keys, opt.records);
        printf("ss: %ld records per side, interleaved, window before = "
               "after = 1 min; right i joins left i - shift (30 s earlier)\n",
               opt.ss_records);
        printf("fk: %ld left rows (orders), %ld right rows (customers)\n",
               opt.fk_left, opt.fk_right);
        print_load("start");
        if (opt.do_rss)
                rss_child();

        ekeys = malloc((size_t)opt.records * KEY_LEN);
        lkeys = malloc((size_t)opt.ss_records * KEY_LEN);
        rkeys = malloc((size_t)opt.ss_records * KEY_LEN);
        fk1   = malloc((size_t)opt.fk_left * sizeof(*fk1));
        fk2   = malloc((size_t)opt.fk_left * sizeof(*fk2));
        if (!ekeys || !lkeys || !rkeys || !fk1 || !fk2)
                die("inputs", "out of memory");
        for (n = 0; n < opt.records; n++)
                make_key(ekeys + (size_t)n * KEY_LEN, "key-",
                         (unsigned long)(rng() % (uint64_t)opt.keys));
        if (opt.ss_records < 2 * ss_shift) {
                ss_shift = opt.ss_records / 2;
                ss_step  = ss_shift ? 30000 / ss_shift : 1;
        }
        for (n = 0; n < opt.ss_records; n++) {
                make_key(lkeys + (size_t)n * KEY_LEN, "key-",
                         ss_key_id((unsigned long)n));
                /* the first ss_shift: ids past every left record's */
                make_key(rkeys + (size_t)n * KEY_LEN, "key-",
                         n >= ss_shift
                             ? ss_key_id((unsigned long)(n - ss_shift))
                             : ss_key_id((unsigned long)(opt.ss_records + n)));
        }
        for (n = 0; n < opt.fk_left; n++) {
                fk1[n] = (uint32_t)(rng() % (uint64_t)opt.fk_right);
                /* another customer */
                fk2[n] = (uint32_t)((fk1[n] + 1 +
                                     rng() % (uint64_t)(opt.fk_right > 1
                                                            ? opt.fk_right - 1
                                                            : 1)) %
                                    (uint64_t)opt.fk_right);
        }

        for (r = 0; r < opt.runs; r++)
                for (i = 0; i < nsel; i++) {
                        c = sel[(i + r) % nsel];
                        if (cfgs[c].kind == 0) {
                                enrich_res_t e =
                                    enrich_run(cfgs[c].store, ekeys);
                                cpu[c][0][r] = e.load_cpu;
                                cpu[c][1][r] = e.cpu;
                                fprintf(stderr,
                                        "  run %d %-16s load %.2f s, join "
                                        "%.2f s cpu\n",
                                        r + 1, cfgs[c].name, e.load_cpu,
                                        e.cpu);
                        } else if (cfgs[c].kind == 1) {
                                cpu[c][0][r] = ss_run(cfgs[c].store, lkeys,
                                                      rkeys);
                                fprintf(stderr, "  run %d %-16s %.2f s cpu\n",
                                        r + 1, cfgs[c].name, cpu[c][0][r]);
                        } else {
                                fk_res_t f = fk_run(cfgs[c].store, fk1, fk2);
                                for (ph = 0; ph < 4; ph++)
                                        cpu[c][ph][r] = f.cpu[ph];
                                fprintf(stderr,
                                        "  run %d %-16s %.2f / %.2f / %.2f / "
                                        "%.2f s cpu\n",
                                        r + 1, cfgs[c].name, f.cpu[0],
                                        f.cpu[1], f.cpu[2], f.cpu[3]);
                        }
                }
        print_load("end");
        printf("\n  %-16s %-18s %10s %14s %12s %10s %13s\n", "configuration",
               "phase", "records", "records/cpu-s", "cpu-s/M rec", "outputs",
               "outputs/cpu-s");
        for (i = 0; i < nsel; i++) {
                c = sel[i];
                if (cfgs[c].kind == 0) {
                        print_rate(cfgs[c].name, "table load", opt.keys, 0,
                                   cpu[c][0], opt.runs);
                        print_rate(cfgs[c].name, "stream left join",
                                   opt.records, opt.records, cpu[c][1],
                                   opt.runs);
                } else if (cfgs[c].kind == 1) {
                        print_rate(cfgs[c].name, "both sides",
                                   2 * opt.ss_records,
                                   opt.ss_records - ss_shift, cpu[c][0],
                                   opt.runs);
                } else {
                        for (ph = 0; ph < 4; ph++)
                                print_rate(cfgs[c].name, fk_phase[ph],
                                           ph == 0 || ph == 3 ? opt.fk_right
                                                              : opt.fk_left,
                                           ph ? opt.fk_left : 0, cpu[c][ph],
                                           opt.runs);
                }
        }
        for (i = 0; i < nsel; i++) {
                double rate[MAX_RUNS], m;
                c = sel[i];
                if (cfgs[c].kind != 0 || strcmp(cfgs[c].store, "in_memory"))
                        continue;
                for (r = 0; r < opt.runs; r++)
                        rate[r] = (double)opt.records / cpu[c][1][r];
                m = median(rate, opt.runs);
                printf("\ntarget: enrich, memory >= 2M records/s per "
                       "CPU-second: %s (%.2fM)%s\n",
                       m >= TARGET_ENRICH ? "MET" : "NOT MET", m / 1e6,
                       opt.keys < 1000000 || opt.records < 10000000
                           ? " - smaller than the target's 1M keys and 10M "
                             "records: not the target's figure"
                           : "");
        }
        free(ekeys);
        free(lkeys);
        free(rkeys);
        free(fk1);
        free(fk2);
        return 0;
}
