/*
 * bench/state.c - state stores through the test driver (no Kafka), one
 * core: what a per-key count and a word count cost per record, memory
 * against LMDB, record cache on and off; and the resident memory of 1M
 * keys in the memory store.
 *
 *   count   source "in" (bytes, bytes) -> group_by_key -> count("counts")
 *           -> to_stream -> to("out", bytes, int64). --records records
 *           (default 10M) with 16-byte keys ("key-%012u") drawn uniformly
 *           (fixed seed) from --keys distinct keys (default 1M) and an
 *           8-byte value; keys precomputed, back to back, before timing.
 *   words   source "lines" (null key, a line of 8 words of 16 lowercase
 *           letters, space-separated, drawn uniformly from a --vocab
 *           (default 1M) word vocabulary) -> split into words -> count per
 *           word("word-counts") -> to_stream -> to("word-out", bytes, int64),
 *           in two forms:
 *             flat_map         flat_map(emit(word, word)) -> group_by_key
 *                              (the key changed: repartition)
 *             fmv+group_by     flat_map_values(emit_value(word)) ->
 *                              group_by(key := value)  (repartition)
 *           In the driver a repartition topic is fed back in-process.
 *           --lines lines (default 1.25M = 10M words), precomputed.
 *   rss     (--rss, or run as a child process of a full run) exactly
 *           --keys distinct 16-byte keys counted once each into the memory
 *           store, cache on; keys made on the fly from a counter (no input
 *           array). VmRSS (and glibc's heap in use) before the driver is
 *           created and after the last record, outputs drained; the
 *           difference per 1M keys. Then sluice_driver_store_get() of a few
 *           keys.
 *
 * Both output queues of the driver (the sink topic and the store's
 * changelog "<application.id>-<store>-changelog") are drained every 1024
 * piped records inside the timed loop: reading them is part of what a user
 * of the driver pays, and it keeps memory bounded. Note that the driver
 * commits after every piped record (as TopologyTestDriver): with the cache
 * on, every record is cached and then flushed at once, so the cache only
 * adds work here. In the driver LMDB's write transaction is committed only
 * when the driver is destroyed (no commits, no fsync on the timed path):
 * that close is timed apart ("close").
 *
 * Time: the process's CPU time (user + system) and the wall time of the
 * loop; the configurations are interleaved in each of --runs rounds and
 * every figure of the final table is a median over the rounds. LMDB runs
 * get a fresh state.dir under --tmpdir (default $TMPDIR or /tmp), removed
 * after the run. Every run is checked: one output and one changelog record
 * per update, and the store's counts of 1000 sampled keys.
 *
 * Usage: bench/state [--records N] [--keys N] [--lines N] [--vocab N]
 *                    [--runs R] [--only count,words,rss] [--rss]
 *                    [--filter SUBSTRING] [--tmpdir DIR]
 * (--filter: only the configurations whose name contains it, e.g.
 *  "memory, cache on"; for profiling)
 */
#define _XOPEN_SOURCE 700
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"

#include <errno.h>

#include "bench_util.h"

#define APP_ID "bench-state"
#define KEY_LEN 16
#define WORD_LEN 16
#define WORDS_PER_LINE 8
#define LINE_LEN (WORDS_PER_LINE * (WORD_LEN + 1) - 1) /* 135 */
#define LINE_STRIDE 136
#define MAX_RUNS 16
#define SAMPLE 1000
#define TARGET_COUNT 3e6         /* records/s, memory store */
#define TARGET_MB_PER_M 100.0    /* MB resident per 1M keys */

static struct {
        long records;
        long keys;
        long lines;
        long vocab;
        int runs;
        int do_count, do_words, do_rss;
        int rss_only; /* this process is the --rss child */
        const char *tmpdir;
        const char *filter; /* run only configurations named so */
} opt = {10000000, 1000000, 1250000, 1000000, 3, 1, 1, 1, 0, NULL, NULL};

/* ---- helpers ---- */

static void die(const char *what, const char *why) {
        fprintf(stderr, "state: %s: %s\n", what, why);
        exit(1);
}

/* xorshift64*: a fixed, fast sequence */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return bench_xorshift64star(&rng_state); }

/* "key-%012lu": 16 bytes, no NUL */
static void make_key(char *out, unsigned long i) {
        char buf[32];
        snprintf(buf, sizeof(buf), "key-%012lu", i);
        memcpy(out, buf, KEY_LEN);
}

/* 16 lowercase letters: 5 encode @i (26^5 > 11M), 11 are noise */
static void make_word(char *out, unsigned long i) {
        uint64_t h = (uint64_t)i * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
        unsigned long v = i;
        int k;
        for (k = 0; k < 5; k++) {
                out[k * 3] = (char)('a' + v % 26);
                v /= 26;
        }
        for (k = 0; k < WORD_LEN; k++) {
                if (k % 3 == 0 && k < 15)
                        continue;
                h ^= h >> 29;
                h *= 0xbf58476d1ce4e5b9ull;
                out[k] = (char)('a' + (h >> 40) % 26);
        }
}

static double heap_in_use(void) {
        struct mallinfo2 mi = mallinfo2();
        return (double)mi.uordblks + (double)mi.hblkhd;
}

static char *make_tmpdir(void) {
        char *dir = bench_mkdtemp(opt.tmpdir, "sluice-bench-state.");
        if (!dir)
                die("tmpdir", strerror(errno));
        return dir;
}

static void remove_tree(char *dir) {
        rm_tree(dir);
        free(dir);
}

static sluice_conf_t *make_conf(const char *store, int cache,
                                const char *state_dir) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        if (!c)
                die("conf", "out of memory");
        if (sluice_conf_set(c, "application.id", APP_ID, err, sizeof(err)) ||
            sluice_conf_set(c, "default.dsl.store", store, err, sizeof(err)) ||
            (state_dir && sluice_conf_set(c, "state.dir", state_dir, err,
                                          sizeof(err))) ||
            (!cache && sluice_conf_set(c, "statestore.cache.max.bytes", "0",
                                       err, sizeof(err))))
                die("conf", err);
        return c;
}

/* Drain both queues; @outs / @clogs count what came out. */
static void drain(sluice_driver_t *drv, const char *out, const char *clog,
                  long *outs, long *clogs) {
        const sluice_output_t *o;
        while ((o = sluice_driver_read(drv, out))) {
                if (o->value_len != 8)
                        die("output", "a count that is not 8 bytes");
                (*outs)++;
        }
        while (sluice_driver_read(drv, clog))
                (*clogs)++;
}

typedef struct {
        double cpu, wall, close;
        long outs, clogs;
} result_t;

/* ---- per-key count ---- */

typedef struct {
        const char *name;
        const char *store;
        int cache;
} count_cfg_t;

static const count_cfg_t count_cfgs[] = {
    {"memory, cache on", "in_memory", 1},
    {"memory, cache off", "in_memory", 0},
    {"lmdb, cache on", "lmdb", 1},
    {"lmdb, cache off", "lmdb", 0},
};
#define COUNT_CFGS 4

static const char *const count_clog = APP_ID "-counts-changelog";

static sluice_topology_t *count_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_bytes(),
                                                  sluice_serde_bytes());
        sluice_grouped_t *g  = sluice_stream_group_by_key(s, NULL, NULL);
        sluice_table_t *tbl  = sluice_grouped_count(g, "counts");
        char err[512];
        sluice_stream_to(sluice_table_to_stream(tbl), "out",
                         sluice_serde_bytes(), sluice_serde_int64());
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology", err);
        return t;
}

/* Check the counts of SAMPLE keys against @expect. */
static void check_sample(sluice_driver_t *drv, const char *store,
                         const uint32_t *expect, long nkeys,
                         void (*key_of)(char *, unsigned long)) {
        long i;
        for (i = 0; i < SAMPLE; i++) {
                long k    = (long)((uint64_t)i * 2654435761u % (uint64_t)nkeys);
                probe_t p = {k, 0, 0};
                char key[32];
                int r;
                key_of(key, (unsigned long)k);
                r = sluice_driver_store_get(drv, store, key, KEY_LEN, probe_cb,
                                            &p);
                if (r < 0)
                        die("check", "store_get failed");
                if ((expect[k] == 0 && r != 0) ||
                    (expect[k] && (r != 1 || p.count != expect[k]))) {
                        fprintf(stderr,
                                "state: key %ld: count %lld, expected %u\n", k,
                                (long long)p.count, expect[k]);
                        exit(1);
                }
        }
}

static result_t run_count(const count_cfg_t *cfg, const char *keys,
                          const uint32_t *expect) {
        static const char value[8] = "v0000000";
        char err[512];
        char *dir            = make_tmpdir();
        sluice_topology_t *t = count_topology();
        sluice_driver_t *drv =
            sluice_driver_new(t, make_conf(cfg->store, cfg->cache, dir), err,
                              sizeof(err));
        result_t r = {0, 0, 0, 0, 0};
        double c0, w0;
        long i;
        if (!drv)
                die("driver", err);
        c0 = cpu_now();
        w0 = wall_now();
        for (i = 0; i < opt.records; i++) {
                if (sluice_driver_pipe(drv, "in", keys + (size_t)i * KEY_LEN,
                                       KEY_LEN, value, sizeof(value), i, NULL,
                                       0))
                        die("pipe", sluice_driver_last_error(drv));
                if ((i & 1023) == 1023)
                        drain(drv, "out", count_clog, &r.outs, &r.clogs);
        }
        drain(drv, "out", count_clog, &r.outs, &r.clogs);
        r.cpu  = cpu_now() - c0;
        r.wall = wall_now() - w0;
        if (r.outs != opt.records || r.clogs != opt.records) {
                fprintf(stderr,
                        "state: %s: %ld outputs, %ld changelog records, "
                        "expected %ld each\n",
                        cfg->name, r.outs, r.clogs, opt.records);
                exit(1);
        }
        check_sample(drv, "counts", expect, opt.keys, make_key);
        c0 = wall_now();
        sluice_driver_destroy(drv);
        r.close = wall_now() - c0;
        sluice_topology_destroy(t);
        remove_tree(dir);
        return r;
}

/* ---- word count ---- */

typedef struct {
        const char *name;
        const char *store;
        int group_by; /* 0: flat_map; 1: flat_map_values + group_by */
} words_cfg_t;

static const words_cfg_t words_cfgs[] = {
    {"flat_map, memory", "in_memory", 0},
    {"fmv+group_by, memory", "in_memory", 1},
    {"flat_map, lmdb", "lmdb", 0},
    {"fmv+group_by, lmdb", "lmdb", 1},
};
#define WORDS_CFGS 4

static const char *const words_clog = APP_ID "-word-counts-changelog";

/* Split the value at spaces: emit(word, word) or emit_value(word). */
static int split(const sluice_record_t *rec, sluice_emitter_t *out,
                 void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p, *end, *w;
        int as_key = opaque != NULL, err;
        if (v->type != SLUICE_VALUE_BYTES)
                return 0;
        p   = v->u.bytes.data;
        end = p + v->u.bytes.len;
        while (p < end) {
                while (p < end && *p == ' ')
                        p++;
                w = p;
                while (p < end && *p != ' ')
                        p++;
                if (p == w)
                        break;
                err = as_key ? sluice_emit(out, sluice_bytes(w, (size_t)(p - w)),
                                           sluice_bytes(w, (size_t)(p - w)))
                             : sluice_emit_value(
                                   out, sluice_bytes(w, (size_t)(p - w)));
                if (err)
                        return err;
        }
        return 0;
}

static int value_as_key(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

static sluice_topology_t *words_topology(int group_by) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "lines", sluice_serde_bytes(),
                                                  sluice_serde_bytes());
        sluice_grouped_t *g;
        char err[512];
        static int as_key = 1;
        if (group_by) {
                s = sluice_stream_flat_map_values(s, split, NULL);
                g = sluice_stream_group_by(s, value_as_key, NULL, NULL, NULL);
        } else {
                s = sluice_stream_flat_map(s, split, &as_key);
                g = sluice_stream_group_by_key(s, NULL, NULL);
        }
        sluice_stream_to(sluice_table_to_stream(sluice_grouped_count(
                             g, "word-counts")),
                         "word-out", sluice_serde_bytes(), sluice_serde_int64());
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology", err);
        return t;
}

static result_t run_words(const words_cfg_t *cfg, const char *lines,
                          const uint32_t *expect) {
        char err[512];
        char *dir            = make_tmpdir();
        sluice_topology_t *t = words_topology(cfg->group_by);
        sluice_driver_t *drv = sluice_driver_new(
            t, make_conf(cfg->store, 1, dir), err, sizeof(err));
        result_t r = {0, 0, 0, 0, 0};
        long words = opt.lines * WORDS_PER_LINE, i;
        double c0, w0;
        if (!drv)
                die("driver", err);
        c0 = cpu_now();
        w0 = wall_now();
        for (i = 0; i < opt.lines; i++) {
                if (sluice_driver_pipe(drv, "lines", NULL, 0,
                                       lines + (size_t)i * LINE_STRIDE,
                                       LINE_LEN, i, NULL, 0))
                        die("pipe", sluice_driver_last_error(drv));
                if ((i & 127) == 127)
                        drain(drv, "word-out", words_clog, &r.outs, &r.clogs);
        }
        drain(drv, "word-out", words_clog, &r.outs, &r.clogs);
        r.cpu  = cpu_now() - c0;
        r.wall = wall_now() - w0;
        if (r.outs != words || r.clogs != words) {
                fprintf(stderr,
                        "state: %s: %ld outputs, %ld changelog records, "
                        "expected %ld each\n",
                        cfg->name, r.outs, r.clogs, words);
                exit(1);
        }
        check_sample(drv, "word-counts", expect, opt.vocab, make_word);
        c0 = wall_now();
        sluice_driver_destroy(drv);
        r.close = wall_now() - c0;
        sluice_topology_destroy(t);
        remove_tree(dir);
        return r;
}

/* ---- resident memory per key ---- */

static int run_rss(void) {
        static const char value[8] = "v0000000";
        char err[512], key[32];
        sluice_topology_t *t = count_topology();
        sluice_conf_t *conf  = make_conf("in_memory", 1, NULL);
        sluice_driver_t *drv;
        long rss0, rss1, hwm, i, outs = 0, clogs = 0;
        double heap0, heap1, c0, w0, cpu, wall, mb, mib;
        static const long probes_at[] = {0, 1, 4242, -2, -1};
        size_t k;

        rss0  = proc_status_kb("VmRSS");
        heap0 = heap_in_use();
        if (!(drv = sluice_driver_new(t, conf, err, sizeof(err))))
                die("driver", err);
        c0 = cpu_now();
        w0 = wall_now();
        for (i = 0; i < opt.keys; i++) {
                make_key(key, (unsigned long)i);
                if (sluice_driver_pipe(drv, "in", key, KEY_LEN, value,
                                       sizeof(value), i, NULL, 0))
                        die("pipe", sluice_driver_last_error(drv));
                if ((i & 1023) == 1023)
                        drain(drv, "out", count_clog, &outs, &clogs);
        }
        drain(drv, "out", count_clog, &outs, &clogs);
        cpu   = cpu_now() - c0;
        wall  = wall_now() - w0;
        rss1  = proc_status_kb("VmRSS");
        hwm   = proc_status_kb("VmHWM");
        heap1 = heap_in_use();
        if (outs != opt.keys || clogs != opt.keys)
                die("rss", "wrong number of outputs");
        mb  = (double)(rss1 - rss0) * 1024.0 / (double)opt.keys;  /* B/key */
        mib = mb * 1e6 / (1024.0 * 1024.0);                        /* per M */
        printf("\nresident memory: %ld distinct 16-byte keys counted once "
               "each, memory store, cache on (%.2f M records/s CPU, %.2f s)\n",
               opt.keys, (double)opt.keys / cpu / 1e6, wall);
        printf("  VmRSS before the driver %8.1f MB, after %8.1f MB, peak "
               "(VmHWM) %8.1f MB\n",
               (double)rss0 * 1024.0 / 1e6, (double)rss1 * 1024.0 / 1e6,
               (double)hwm * 1024.0 / 1e6);
        printf("  heap in use (mallinfo2) before %8.1f MB, after %8.1f MB\n",
               heap0 / 1e6, heap1 / 1e6);
        printf("  resident per key %.1f bytes, heap per key %.1f bytes\n", mb,
               (heap1 - heap0) / (double)opt.keys);
        printf("  => %.1f MB (%.1f MiB) resident per 1M keys (target <= "
               "%.0f MB): %s\n",
               mb, mib, TARGET_MB_PER_M, mb <= TARGET_MB_PER_M ? "MET" :
                                                                  "NOT MET");
        printf("  store_get:");
        for (k = 0; k < sizeof(probes_at) / sizeof(probes_at[0]); k++) {
                long at = probes_at[k] < 0 ? opt.keys + probes_at[k] + 1
                                           : probes_at[k];
                probe_t p = {at, 0, 0};
                int r;
                if (at < 0 || at > opt.keys)
                        continue;
                make_key(key, (unsigned long)at); /* at == keys: absent */
                r = sluice_driver_store_get(drv, "counts", key, KEY_LEN,
                                            probe_cb, &p);
                printf(" %.*s=%s", KEY_LEN, key,
                       r == 1 ? (p.count == 1 ? "1" : "WRONG") : r == 0 ? "absent" : "ERROR");
                if ((at < opt.keys && (r != 1 || p.count != 1)) ||
                    (at == opt.keys && r != 0))
                        die("rss", "store_get returned a wrong count");
        }
        printf("\n");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return 0;
}

/* The rss measurement in a fresh process: the runs before would leave
 * their freed memory in the heap. */
static void rss_child(void) {
        char keys[32];
        const char *exe = self_path();
        pid_t pid;
        int st;
        snprintf(keys, sizeof(keys), "%ld", opt.keys);
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                die("fork", "failed");
        if (pid == 0) {
                char *const args[] = {"state", "--rss", "--keys", keys, NULL};
                execv(exe, args);
                _exit(127);
        }
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                die("rss", "the --rss child failed");
}

/* ---- main ---- */

static void usage(void) {
        fprintf(stderr,
                "usage: state [--records N] [--keys N] [--lines N] "
                "[--vocab N] [--runs 1..%d]\n"
                "             [--only count,words,rss] [--rss] "
                "[--filter SUBSTRING] [--tmpdir DIR]\n",
                MAX_RUNS);
        exit(2);
}

static void print_row(const char *name, double units, const double *cpu,
                      const double *wall, const double *close, int runs,
                      const char *unit, double target, double per_line) {
        double rc[MAX_RUNS], rw[MAX_RUNS], cm[MAX_RUNS];
        int r;
        for (r = 0; r < runs; r++) {
                rc[r] = units / cpu[r];
                rw[r] = units / wall[r];
                cm[r] = cpu[r] / (units / 1e6);
        }
        printf("  %-22s %11.0f %11.0f %9.3f", name, median(rc, runs),
               median(rw, runs), median(cm, runs));
        if (per_line > 0)
                printf(" %11.0f", median(rc, runs) / per_line);
        printf(" %8.2f", median(close, runs));
        if (target > 0)
                printf("   %s (target >= %.0f %s/s)",
                       median(rc, runs) >= target ? "MET" : "NOT MET", target,
                       unit);
        printf("\n");
}

int main(int argc, char **argv) {
        double ccpu[COUNT_CFGS][MAX_RUNS], cwall[COUNT_CFGS][MAX_RUNS],
            cclose[COUNT_CFGS][MAX_RUNS];
        double wcpu[WORDS_CFGS][MAX_RUNS], wwall[WORDS_CFGS][MAX_RUNS],
            wclose[WORDS_CFGS][MAX_RUNS];
        int i, r, c, ncount = 0, nwords = 0;
        int csel[COUNT_CFGS], wsel[WORDS_CFGS];
        char *keys = NULL, *lines = NULL;
        uint32_t *kexpect = NULL, *wexpect = NULL;
        double t_start = wall_now();

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--keys"))
                        opt.keys = num_arg(argc, argv, &i, SAMPLE, usage);
                else if (!strcmp(argv[i], "--lines"))
                        opt.lines = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--vocab"))
                        opt.vocab = num_arg(argc, argv, &i, SAMPLE, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--tmpdir") && i + 1 < argc)
                        opt.tmpdir = argv[++i];
                else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
                        opt.filter = argv[++i];
                else if (!strcmp(argv[i], "--rss"))
                        opt.rss_only = 1;
                else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
                        const char *w = argv[++i];
                        opt.do_count = strstr(w, "count") != NULL;
                        opt.do_words = strstr(w, "words") != NULL;
                        opt.do_rss   = strstr(w, "rss") != NULL;
                        if (!opt.do_count && !opt.do_words && !opt.do_rss)
                                usage();
                } else
                        usage();
        }
        if (opt.runs > MAX_RUNS)
                usage();
        if (opt.vocab > 11881376) /* 26^5: make_word's unique part */
                die("--vocab", "at most 11881376");
        if (opt.rss_only)
                return run_rss();
        for (c = 0; c < COUNT_CFGS; c++)
                if (!opt.filter || strstr(count_cfgs[c].name, opt.filter))
                        csel[ncount++] = c;
        for (c = 0; c < WORDS_CFGS; c++)
                if (!opt.filter || strstr(words_cfgs[c].name, opt.filter))
                        wsel[nwords++] = c;

        printf("bench/state: sluice %s, test driver, one core; %d run(s), "
               "configurations interleaved, medians\n",
               sluice_version_str(), opt.runs);
        print_load("start");
        if (opt.do_count && !ncount)
                opt.do_count = 0;
        if (opt.do_words && !nwords)
                opt.do_words = 0;
        if (opt.do_count) {
                long n;
                printf("count: %ld records, 16-byte keys drawn uniformly from "
                       "%ld keys, 8-byte values\n",
                       opt.records, opt.keys);
                keys    = malloc((size_t)opt.records * KEY_LEN);
                kexpect = calloc((size_t)opt.keys, sizeof(*kexpect));
                if (!keys || !kexpect)
                        die("inputs", "out of memory");
                for (n = 0; n < opt.records; n++) {
                        unsigned long k = (unsigned long)(rng() % (uint64_t)opt.keys);
                        make_key(keys + (size_t)n * KEY_LEN, k);
                        kexpect[k]++;
                }
        }
        if (opt.do_words) {
                char *vocab;
                long n;
                int w;
                printf("words: %ld lines of %d words (%ld words), 16-letter "
                       "words drawn uniformly from %ld\n",
                       opt.lines, WORDS_PER_LINE, opt.lines * WORDS_PER_LINE,
                       opt.vocab);
                vocab   = malloc((size_t)opt.vocab * WORD_LEN);
                lines   = malloc((size_t)opt.lines * LINE_STRIDE);
                wexpect = calloc((size_t)opt.vocab, sizeof(*wexpect));
                if (!vocab || !lines || !wexpect)
                        die("inputs", "out of memory");
                for (n = 0; n < opt.vocab; n++)
                        make_word(vocab + (size_t)n * WORD_LEN, (unsigned long)n);
                for (n = 0; n < opt.lines; n++) {
                        char *l = lines + (size_t)n * LINE_STRIDE;
                        for (w = 0; w < WORDS_PER_LINE; w++) {
                                unsigned long k =
                                    (unsigned long)(rng() % (uint64_t)opt.vocab);
                                memcpy(l + w * (WORD_LEN + 1),
                                       vocab + (size_t)k * WORD_LEN, WORD_LEN);
                                l[w * (WORD_LEN + 1) + WORD_LEN] = ' ';
                                wexpect[k]++;
                        }
                        l[LINE_LEN] = '\0';
                }
                free(vocab);
        }
        fflush(stdout);

        for (r = 0; r < opt.runs; r++) {
                for (c = 0; opt.do_count && c < ncount; c++) {
                        /* rotate the order from round to round */
                        int k      = csel[(c + r) % ncount];
                        result_t x = run_count(&count_cfgs[k], keys, kexpect);
                        ccpu[k][r]   = x.cpu;
                        cwall[k][r]  = x.wall;
                        cclose[k][r] = x.close;
                        printf("run %d count %-20s %9.0f records/s CPU "
                               "%9.0f wall  (CPU %.2f s, wall %.2f s, close "
                               "%.2f s)\n",
                               r + 1, count_cfgs[k].name,
                               (double)opt.records / x.cpu,
                               (double)opt.records / x.wall, x.cpu, x.wall,
                               x.close);
                        fflush(stdout);
                }
                for (c = 0; opt.do_words && c < nwords; c++) {
                        int k      = wsel[(c + r) % nwords];
                        result_t x = run_words(&words_cfgs[k], lines, wexpect);
                        double nw  = (double)opt.lines * WORDS_PER_LINE;
                        wcpu[k][r]   = x.cpu;
                        wwall[k][r]  = x.wall;
                        wclose[k][r] = x.close;
                        printf("run %d words %-20s %9.0f words/s CPU %9.0f "
                               "wall  %8.0f lines/s CPU  (CPU %.2f s, close "
                               "%.2f s)\n",
                               r + 1, words_cfgs[k].name, nw / x.cpu,
                               nw / x.wall, (double)opt.lines / x.cpu, x.cpu,
                               x.close);
                        fflush(stdout);
                }
        }
        free(keys);
        free(lines);
        free(kexpect);
        free(wexpect);

        printf("\nmedian of %d run(s), one core:\n", opt.runs);
        if (opt.do_count) {
                printf("  %-22s %11s %11s %9s %8s\n", "per-key count",
                       "records/s", "records/s", "CPU-s/M", "close s");
                printf("  %-22s %11s %11s %9s\n", "", "(CPU)", "(wall)",
                       "records");
                for (i = 0; i < ncount; i++) {
                        c = csel[i];
                        print_row(count_cfgs[c].name, (double)opt.records,
                                  ccpu[c], cwall[c], cclose[c], opt.runs,
                                  "records",
                                  !strcmp(count_cfgs[c].store, "in_memory")
                                      ? TARGET_COUNT
                                      : 0,
                                  0);
                }
        }
        if (opt.do_words) {
                printf("  %-22s %11s %11s %9s %11s %8s\n", "word count",
                       "words/s", "words/s", "CPU-s/M", "lines/s", "close s");
                printf("  %-22s %11s %11s %9s %11s\n", "", "(CPU)", "(wall)",
                       "words", "(CPU)");
                for (i = 0; i < nwords; i++) {
                        c = wsel[i];
                        print_row(words_cfgs[c].name,
                                  (double)opt.lines * WORDS_PER_LINE, wcpu[c],
                                  wwall[c], wclose[c], opt.runs, "words", 0,
                                  WORDS_PER_LINE);
                }
        }
        if (opt.do_rss)
                rss_child();
        printf("\n");
        print_load("end");
        printf("bench/state took %.0f s\n", wall_now() - t_start);
        return 0;
}
