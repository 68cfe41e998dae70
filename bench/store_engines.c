/*
 * bench/store_engines.c - LMDB against RocksDB as the engine of a persistent
 * state store, on the workload a Sluice store sees from a per-key count:
 *
 *   (a) aggregation: --ops read-modify-writes, each get(key) then
 *       put(key, value), 16-byte keys ("key-%012d", ordered like the key
 *       index) and 16-byte values (8-byte timestamp + 8-byte count), drawn
 *       over --keys distinct keys; flush() (what Sluice calls at a commit)
 *       every --flush-every operations and once at the end. ops/s (wall),
 *       the CPU seconds of the whole process (RocksDB's background
 *       flushes and compactions included), and the bytes the process
 *       dirtied for storage (/proc/self/io write_bytes minus
 *       cancelled_write_bytes: page-cache pages, counted once per dirtying,
 *       whether by write() or through LMDB's shared map).
 *   (b) --gets point gets of keys drawn uniformly over those present.
 *   (c) --scans range scans: seek to a uniformly drawn key index, read the
 *       next --scan-len keys in order.
 *   (d) disk footprint of the store directory after (a) (allocated blocks,
 *       like du; RocksDB's part in WAL files shown apart) and at the end,
 *       after (e) and a close; peak RSS of the run (the run is its own
 *       process), and its anonymous / file-backed RSS at the end of (c).
 *       The harness's own arrays take 12 bytes a key of the anonymous RSS.
 *   (e) reopen: close + open + first get.
 *
 * Key draws: "uniform" over all keys, and "skewed": 10% of the keys (spread
 * over the key space) get 90% of the updates. Every run uses the same seeded
 * key sequence for both engines. Each (engine, distribution) run is a fresh
 * child process with a fresh directory under --tmpdir, removed afterwards;
 * the engines alternate (lmdb rocksdb lmdb rocksdb ...) --runs times, and
 * the summary gives per-engine medians and the median of the per-run ratios
 * lmdb/rocksdb. Every get is checked against an in-memory copy of the
 * counts, and after (e) a full scan checks every key and count.
 *
 * Last, a kill check per engine: --flush-every updates, flush, half as many
 * again without a flush, SIGKILL; reopened, the store must hold exactly the
 * first p updates, p at least the flushed ones.
 *
 * flush() and what makes it survive a process kill (not a power loss, unless
 * --fsync):
 *   lmdb     MDB_NOSYNC: all writes of a flush period go through one write
 *            transaction; flush = mdb_txn_commit(), which leaves the pages
 *            in the OS page cache (MDB_WRITEMAP: in a shared file mapping).
 *            --fsync adds mdb_env_sync(env, 1).
 *   rocksdb  memtable (default): WAL off; flush = rocksdb_flush(), wait:
 *            the memtable becomes an SST file, written and synced with the
 *            MANIFEST before it returns (so it survives a power loss too),
 *            as Kafka Streams does. Puts since the last flush are lost.
 *            wal: WAL on, sync=false; every put is written to the WAL file
 *            before it returns, so it survives a kill without a flush;
 *            flush = rocksdb_flush_wal(db, 0), a no-op here (--fsync:
 *            rocksdb_flush_wal(db, 1)). Reopening replays the WAL.
 *            wal-buffered: as wal with manual_wal_flush=true: the WAL is
 *            buffered in the process until flush = rocksdb_flush_wal().
 *
 * Usage: store_engines [--keys N] [--ops N] [--flush-every N] [--gets N]
 *                      [--scans N] [--scan-len N] [--runs N]
 *                      [--dist uniform|skewed|both] [--only lmdb|rocksdb]
 *                      [--lmdb nosync|writemap]
 *                      [--rocksdb wal|wal-buffered|memtable]
 *                      [--cache-mb N] [--fsync] [--no-kill-check]
 *                      [--tmpdir DIR]
 * Defaults: 1000000 keys, 5000000 ops, flush every 100000, 2000000 gets,
 * 100000 scans of 100, 3 runs, both distributions, lmdb writemap, rocksdb
 * memtable, 64 MiB block cache, tmpdir $TMPDIR or /tmp.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <rocksdb/c.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef ROCKSDB_PKG_VERSION
#define ROCKSDB_PKG_VERSION "?"
#endif

#define KEY_LEN 16
#define VAL_LEN 16
#define MAX_RUNS 15
#define SEED 0x5eed5eedULL

typedef enum { DIST_UNIFORM, DIST_SKEWED } dist_t;
typedef enum { ROCKS_WAL, ROCKS_WAL_BUFFERED, ROCKS_MEMTABLE } rocks_mode_t;

static const char *const dist_names[] = {"uniform", "skewed"};

typedef struct {
        long keys, ops, flush_every, gets, scans, scan_len;
        int runs, fsync, kill_check, lmdb_writemap;
        int dists; /* bit 1 << dist_t */
        int only;  /* -1 both, else index into engines[] */
        rocks_mode_t rocks_mode;
        long cache_mb;
        const char *tmpdir;
} config_t;

static config_t cfg = {
    .keys          = 1000000,
    .ops           = 5000000,
    .flush_every   = 100000,
    .gets          = 2000000,
    .scans         = 100000,
    .scan_len      = 100,
    .runs          = 3,
    .kill_check    = 1,
    .lmdb_writemap = 1,
    .dists         = 3,
    .only          = -1,
    .rocks_mode    = ROCKS_MEMTABLE,
    .cache_mb      = 64,
};

static void die(const char *what, const char *detail) {
        fprintf(stderr, "store_engines: %s%s%s\n", what, detail ? ": " : "",
                detail ? detail : "");
        exit(1);
}

/* ---- keys, values, draws ---- */

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
        uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n) {
        return rng_next(s) % n; /* bias < n / 2^64 */
}

/* a key index; skewed: 90% of draws over a hot 10% of the ranks, ranks
 * scattered over the key space by a multiplicative bijection mod N */
static uint64_t draw_key(uint64_t *s, dist_t d) {
        uint64_t n = (uint64_t)cfg.keys, hot = n / 10, rank;
        if (d == DIST_UNIFORM)
                return rng_below(s, n);
        if (rng_below(s, 10) < 9)
                rank = rng_below(s, hot);
        else
                rank = hot + rng_below(s, n - hot);
        return rank * 2654435761ULL % n;
}

static void make_key(unsigned char k[KEY_LEN], uint64_t id) {
        int i;
        memcpy(k, "key-", 4);
        for (i = KEY_LEN - 1; i >= 4; i--, id /= 10)
                k[i] = (unsigned char)('0' + id % 10);
}

static uint64_t key_id(const unsigned char *k) {
        uint64_t id = 0;
        int i;
        for (i = 4; i < KEY_LEN; i++)
                id = id * 10 + (uint64_t)(k[i] - '0');
        return id;
}

static uint64_t val_count(const unsigned char *v) {
        uint64_t c;
        memcpy(&c, v + 8, 8);
        return c;
}

/* ---- the engines, behind the operations the benchmark needs ---- */

typedef void (*scan_fn)(void *ctx, const unsigned char *key,
                        const unsigned char *val);

typedef struct {
        const char *name;
        void *(*open)(const char *dir);
        void (*close)(void *s);
        /* a batch of operations: writable = a flush period, ended by flush */
        void (*begin)(void *s, int writable);
        void (*end)(void *s); /* for a writable batch: the flush */
        int (*get)(void *s, const unsigned char *key, unsigned char *val);
        void (*put)(void *s, const unsigned char *key,
                    const unsigned char *val);
        /* calls fn for up to n records from the first key >= key */
        long (*scan)(void *s, const unsigned char *key, long n, scan_fn fn,
                     void *ctx);
        void (*describe)(char *buf, size_t size);
} engine_t;

/* -- LMDB -- */

typedef struct {
        MDB_env *env;
        MDB_dbi dbi;
        MDB_txn *txn;
        int writable;
} lmdb_t;

#define LMDB_MAP_SIZE ((size_t)4 << 30)

static void lmdb_check(int rc, const char *what) {
        if (rc)
                die(what, mdb_strerror(rc));
}

static void *lmdb_open(const char *dir) {
        lmdb_t *s = calloc(1, sizeof(*s));
        unsigned flags = MDB_NOSYNC | (cfg.lmdb_writemap ? MDB_WRITEMAP : 0);
        if (!s)
                die("out of memory", NULL);
        lmdb_check(mdb_env_create(&s->env), "mdb_env_create");
        lmdb_check(mdb_env_set_mapsize(s->env, LMDB_MAP_SIZE),
                   "mdb_env_set_mapsize");
        lmdb_check(mdb_env_open(s->env, dir, flags, 0644), "mdb_env_open");
        lmdb_check(mdb_txn_begin(s->env, NULL, 0, &s->txn), "mdb_txn_begin");
        lmdb_check(mdb_dbi_open(s->txn, NULL, 0, &s->dbi), "mdb_dbi_open");
        lmdb_check(mdb_txn_commit(s->txn), "mdb_txn_commit");
        s->txn = NULL;
        return s;
}

static void lmdb_close(void *p) {
        lmdb_t *s = p;
        mdb_env_close(s->env);
        free(s);
}

static void lmdb_begin(void *p, int writable) {
        lmdb_t *s = p;
        lmdb_check(mdb_txn_begin(s->env, NULL, writable ? 0 : MDB_RDONLY,
                                 &s->txn),
                   "mdb_txn_begin");
        s->writable = writable;
}

static void lmdb_end(void *p) {
        lmdb_t *s = p;
        if (!s->writable) {
                mdb_txn_abort(s->txn);
        } else {
                lmdb_check(mdb_txn_commit(s->txn), "mdb_txn_commit");
                if (cfg.fsync)
                        lmdb_check(mdb_env_sync(s->env, 1), "mdb_env_sync");
        }
        s->txn = NULL;
}

static int lmdb_get(void *p, const unsigned char *key, unsigned char *val) {
        lmdb_t *s = p;
        MDB_val k = {KEY_LEN, (void *)key}, v;
        int rc = mdb_get(s->txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
                return 0;
        lmdb_check(rc, "mdb_get");
        if (v.mv_size != VAL_LEN)
                die("mdb_get", "bad value size");
        memcpy(val, v.mv_data, VAL_LEN);
        return 1;
}

static void lmdb_put(void *p, const unsigned char *key,
                     const unsigned char *val) {
        lmdb_t *s = p;
        MDB_val k = {KEY_LEN, (void *)key}, v = {VAL_LEN, (void *)val};
        lmdb_check(mdb_put(s->txn, s->dbi, &k, &v, 0), "mdb_put");
}

static long lmdb_scan(void *p, const unsigned char *key, long n, scan_fn fn,
                      void *ctx) {
        lmdb_t *s = p;
        MDB_cursor *c;
        MDB_val k = {KEY_LEN, (void *)key}, v;
        long got = 0;
        int rc;
        lmdb_check(mdb_cursor_open(s->txn, s->dbi, &c), "mdb_cursor_open");
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && got < n;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), got++)
                fn(ctx, k.mv_data, v.mv_data);
        if (rc && rc != MDB_NOTFOUND)
                lmdb_check(rc, "mdb_cursor_get");
        mdb_cursor_close(c);
        return got;
}

static void lmdb_describe(char *buf, size_t size) {
        int maj, min, pat;
        mdb_version(&maj, &min, &pat);
        snprintf(buf, size,
                 "lmdb %d.%d.%d: one env, MDB_NOSYNC%s, map %zu GiB; one write "
                 "txn per flush period, flush = mdb_txn_commit%s; reads in a "
                 "read-only txn per --flush-every gets (or that many keys "
                 "scanned)",
                 maj, min, pat, cfg.lmdb_writemap ? "|MDB_WRITEMAP" : "",
                 LMDB_MAP_SIZE >> 30,
                 cfg.fsync ? " + mdb_env_sync(force)" : " (no fsync)");
}

/* -- RocksDB -- */

typedef struct {
        rocksdb_t *db;
        rocksdb_options_t *opt;
        rocksdb_block_based_table_options_t *table;
        rocksdb_cache_t *cache;
        rocksdb_writeoptions_t *wopt;
        rocksdb_readoptions_t *ropt;
        rocksdb_flushoptions_t *fopt;
        int writable;
} rocks_t;

static void rocks_check(char *err, const char *what) {
        if (err)
                die(what, err); /* exits: err is not freed */
}

static rocksdb_options_t *rocks_options(rocks_t *s) {
        rocksdb_options_t *o = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(o, 1);
        if (cfg.rocks_mode == ROCKS_WAL_BUFFERED)
                rocksdb_options_set_manual_wal_flush(o, 1);
        if (s) {
                s->table = rocksdb_block_based_options_create();
                s->cache = rocksdb_cache_create_lru((size_t)cfg.cache_mb << 20);
                rocksdb_block_based_options_set_block_cache(s->table, s->cache);
                rocksdb_block_based_options_set_filter_policy(
                    s->table, rocksdb_filterpolicy_create_bloom_full(10));
                rocksdb_options_set_block_based_table_factory(o, s->table);
        }
        return o;
}

static void *rocks_open(const char *dir) {
        rocks_t *s = calloc(1, sizeof(*s));
        char *err = NULL;
        if (!s)
                die("out of memory", NULL);
        s->opt = rocks_options(s);
        s->db  = rocksdb_open(s->opt, dir, &err);
        rocks_check(err, "rocksdb_open");
        s->wopt = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(s->wopt, 0);
        if (cfg.rocks_mode == ROCKS_MEMTABLE)
                rocksdb_writeoptions_disable_WAL(s->wopt, 1);
        s->ropt = rocksdb_readoptions_create();
        s->fopt = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(s->fopt, 1);
        return s;
}

static void rocks_close(void *p) {
        rocks_t *s = p;
        rocksdb_close(s->db);
        rocksdb_flushoptions_destroy(s->fopt);
        rocksdb_readoptions_destroy(s->ropt);
        rocksdb_writeoptions_destroy(s->wopt);
        rocksdb_options_destroy(s->opt);
        rocksdb_block_based_options_destroy(s->table);
        rocksdb_cache_destroy(s->cache);
        free(s);
}

static void rocks_begin(void *p, int writable) {
        ((rocks_t *)p)->writable = writable;
}

static void rocks_end(void *p) {
        rocks_t *s = p;
        char *err  = NULL;
        if (!s->writable)
                return;
        if (cfg.rocks_mode == ROCKS_MEMTABLE) {
                rocksdb_flush(s->db, s->fopt, &err);
                rocks_check(err, "rocksdb_flush");
        } else {
                rocksdb_flush_wal(s->db, (unsigned char)cfg.fsync, &err);
                rocks_check(err, "rocksdb_flush_wal");
        }
}

static int rocks_get(void *p, const unsigned char *key, unsigned char *val) {
        rocks_t *s = p;
        char *err  = NULL;
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned(s->db, s->ropt, (const char *)key, KEY_LEN, &err);
        const char *v;
        size_t len;
        rocks_check(err, "rocksdb_get_pinned");
        if (!ps)
                return 0;
        v = rocksdb_pinnableslice_value(ps, &len);
        if (len != VAL_LEN)
                die("rocksdb_get_pinned", "bad value size");
        memcpy(val, v, VAL_LEN);
        rocksdb_pinnableslice_destroy(ps);
        return 1;
}

static void rocks_put(void *p, const unsigned char *key,
                      const unsigned char *val) {
        rocks_t *s = p;
        char *err  = NULL;
        rocksdb_put(s->db, s->wopt, (const char *)key, KEY_LEN,
                    (const char *)val, VAL_LEN, &err);
        rocks_check(err, "rocksdb_put");
}

static long rocks_scan(void *p, const unsigned char *key, long n, scan_fn fn,
                       void *ctx) {
        rocks_t *s             = p;
        rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ropt);
        char *err              = NULL;
        long got               = 0;
        for (rocksdb_iter_seek(it, (const char *)key, KEY_LEN);
             got < n && rocksdb_iter_valid(it); rocksdb_iter_next(it), got++) {
                size_t kl, vl;
                const char *k = rocksdb_iter_key(it, &kl);
                const char *v = rocksdb_iter_value(it, &vl);
                if (kl != KEY_LEN || vl != VAL_LEN)
                        die("rocksdb_iter", "bad key or value size");
                fn(ctx, (const unsigned char *)k, (const unsigned char *)v);
        }
        rocksdb_iter_get_error(it, &err);
        rocks_check(err, "rocksdb_iter");
        rocksdb_iter_destroy(it);
        return got;
}

static void rocks_describe(char *buf, size_t size) {
        static const char *const comp[] = {"none", "snappy", "zlib", "bzip2",
                                           "lz4",  "lz4hc",  "xpress", "zstd"};
        static const char *const mode[] = {
            "WAL on, sync=false, every put written to the WAL before it "
            "returns; flush = rocksdb_flush_wal",
            "WAL on, sync=false, manual_wal_flush (WAL buffered in the "
            "process); flush = rocksdb_flush_wal",
            "WAL off; flush = rocksdb_flush (memtable to SST, wait)"};
        rocksdb_options_t *o = rocks_options(NULL);
        int c                = rocksdb_options_get_compression(o);
        snprintf(buf, size,
                 "rocksdb %s: %s%s; plain get + put per op, %ld MiB LRU "
                 "block cache, full bloom filter 10 bits/key, %s "
                 "compression, %zu MiB write buffer, max_background_jobs "
                 "%d; a new iterator per scan",
                 ROCKSDB_PKG_VERSION, mode[cfg.rocks_mode],
                 cfg.fsync ? " (--fsync: synced at flush)" : "", cfg.cache_mb,
                 c >= 0 && c < 8 ? comp[c] : "?",
                 rocksdb_options_get_write_buffer_size(o) >> 20,
                 rocksdb_options_get_max_background_jobs(o));
        rocksdb_options_destroy(o);
}

static const engine_t engines[] = {
    {"lmdb", lmdb_open, lmdb_close, lmdb_begin, lmdb_end, lmdb_get, lmdb_put,
     lmdb_scan, lmdb_describe},
    {"rocksdb", rocks_open, rocks_close, rocks_begin, rocks_end, rocks_get,
     rocks_put, rocks_scan, rocks_describe},
};
#define N_ENGINES 2

/* ---- directories ---- */

/* allocated bytes (like du) of the files under dir whose names end in
 * suffix (NULL: all); with rm, remove dir and everything under it */
static double walk_dir(const char *dir, const char *suffix, int rm) {
        DIR *d = opendir(dir);
        struct dirent *e;
        struct stat st;
        char path[4096];
        double bytes = 0;
        if (!d)
                die("opendir", dir);
        while ((e = readdir(d))) {
                size_t len = strlen(e->d_name);
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (lstat(path, &st))
                        continue; /* e.g. deleted by a compaction meanwhile */
                if (S_ISDIR(st.st_mode))
                        bytes += walk_dir(path, suffix, rm);
                else if (!suffix || (len >= strlen(suffix) &&
                                     !strcmp(e->d_name + len - strlen(suffix),
                                             suffix)))
                        bytes += (double)st.st_blocks * 512;
                if (rm && !S_ISDIR(st.st_mode) && unlink(path))
                        die("unlink", path);
        }
        closedir(d);
        if (rm && rmdir(dir))
                die("rmdir", dir);
        return bytes;
}

static void make_run_dir(char *buf, size_t size) {
        snprintf(buf, size, "%s/store_engines.XXXXXX", cfg.tmpdir);
        if (!mkdtemp(buf))
                die("mkdtemp", strerror(errno));
}

/* ---- one run ---- */

typedef struct {
        double agg_ops, agg_cpu, agg_write_mb, get_ops, scan_ops;
        double disk_mb, wal_mb, disk_end_mb;
        double rss_peak_mb, rss_anon_mb, rss_file_mb;
        double reopen_ms, open_ms;
        double keys_present, scan_avg;
} result_t;

typedef struct {
        const uint32_t *counts;
        uint64_t sum, entries, last_id;
        int ordered;
} check_t;

static void sum_counts(void *ctx, const unsigned char *k,
                       const unsigned char *v) {
        check_t *c = ctx;
        (void)k;
        c->sum += val_count(v);
}

static void check_record(void *ctx, const unsigned char *k,
                         const unsigned char *v) {
        check_t *c  = ctx;
        uint64_t id = key_id(k);
        if ((c->entries && id <= c->last_id) || id >= (uint64_t)cfg.keys ||
            val_count(v) != c->counts[id])
                c->ordered = 0;
        c->last_id = id;
        c->entries++;
        c->sum += val_count(v);
}

/* a field of /proc/self/status in MiB, -1 if unknown */
static double status_mib(const char *field) {
        long kb = proc_status_kb(field);
        return kb < 0 ? -1 : (double)kb / 1024;
}

/* bytes this process has dirtied for storage, net of cancelled writes */
static double io_written(void) {
        FILE *f = fopen("/proc/self/io", "r");
        char line[256];
        double w = 0, cancelled = 0;
        long long v;
        if (!f)
                return 0;
        while (fgets(line, sizeof(line), f)) {
                if (sscanf(line, "write_bytes: %lld", &v) == 1)
                        w = (double)v;
                else if (sscanf(line, "cancelled_write_bytes: %lld", &v) == 1)
                        cancelled = (double)v;
        }
        fclose(f);
        return w - cancelled;
}

/* get + put of one key, checked against the in-memory counts */
static void update(const engine_t *e, void *s, uint32_t *counts, uint64_t id,
                   long i) {
        unsigned char k[KEY_LEN], v[VAL_LEN];
        uint64_t ts = 1700000000000ULL + (uint64_t)i, cnt = 0;
        make_key(k, id);
        if (e->get(s, k, v))
                cnt = val_count(v);
        if (cnt != counts[id])
                die(e->name, "get returned a wrong count during aggregation");
        cnt++;
        counts[id]++;
        memcpy(v, &ts, 8);
        memcpy(v + 8, &cnt, 8);
        e->put(s, k, v);
}

static void run_child(const engine_t *e, dist_t dist, const char *dir,
                      result_t *r) {
        uint32_t *counts = calloc((size_t)cfg.keys, sizeof(uint32_t));
        uint64_t *present, rng = SEED + dist, n_present = 0, id;
        unsigned char k[KEY_LEN], v[VAL_LEN];
        check_t chk = {0};
        long scans_per_txn = cfg.flush_every / cfg.scan_len, i;
        double t0, c0, w0;
        void *s;
        if (scans_per_txn < 1)
                scans_per_txn = 1;
        if (!counts)
                die("out of memory", NULL);

        /* (a) aggregation */
        s  = e->open(dir);
        w0 = io_written();
        t0 = wall_now();
        c0 = cpu_now();
        e->begin(s, 1);
        for (i = 0; i < cfg.ops; i++) {
                update(e, s, counts, draw_key(&rng, dist), i);
                if ((i + 1) % cfg.flush_every == 0 && i + 1 < cfg.ops) {
                        e->end(s);
                        e->begin(s, 1);
                }
        }
        e->end(s);
        r->agg_ops = (double)cfg.ops / (wall_now() - t0);
        r->agg_cpu = cpu_now() - c0;
        r->agg_write_mb = (io_written() - w0) / (1 << 20);
        r->disk_mb = walk_dir(dir, NULL, 0) / (1 << 20);
        r->wal_mb  = walk_dir(dir, ".log", 0) / (1 << 20);

        present = malloc(sizeof(uint64_t) * (size_t)cfg.keys);
        if (!present)
                die("out of memory", NULL);
        for (id = 0; id < (uint64_t)cfg.keys; id++)
                if (counts[id])
                        present[n_present++] = id;
        r->keys_present = (double)n_present;

        /* (b) point gets */
        t0 = wall_now();
        e->begin(s, 0);
        for (i = 0; i < cfg.gets; i++) {
                id = present[rng_below(&rng, n_present)];
                make_key(k, id);
                if (!e->get(s, k, v) || val_count(v) != counts[id])
                        die(e->name, "get returned a wrong count");
                if ((i + 1) % cfg.flush_every == 0) {
                        e->end(s);
                        e->begin(s, 0);
                }
        }
        e->end(s);
        r->get_ops = (double)cfg.gets / (wall_now() - t0);

        /* (c) range scans */
        t0 = wall_now();
        e->begin(s, 0);
        for (i = 0; i < cfg.scans; i++) {
                make_key(k, rng_below(&rng, (uint64_t)cfg.keys));
                chk.entries += (uint64_t)e->scan(s, k, cfg.scan_len, sum_counts,
                                                 &chk);
                if ((i + 1) % scans_per_txn == 0) {
                        e->end(s);
                        e->begin(s, 0);
                }
        }
        e->end(s);
        r->scan_ops = (double)cfg.scans / (wall_now() - t0);
        r->scan_avg = (double)chk.entries / (double)cfg.scans;
        r->rss_anon_mb = status_mib("RssAnon");
        r->rss_file_mb = status_mib("RssFile");

        /* (e) reopen */
        id = present[rng_below(&rng, n_present)];
        make_key(k, id);
        t0 = wall_now();
        e->close(s);
        c0 = wall_now();
        s  = e->open(dir);
        e->begin(s, 0);
        if (!e->get(s, k, v) || val_count(v) != counts[id])
                die(e->name, "wrong count after reopen");
        e->end(s);
        r->reopen_ms = (wall_now() - t0) * 1e3;
        r->open_ms   = (wall_now() - c0) * 1e3;

        /* check every record, untimed */
        memset(&chk, 0, sizeof(chk));
        chk.counts  = counts;
        chk.ordered = 1;
        make_key(k, 0);
        e->begin(s, 0);
        e->scan(s, k, cfg.keys + 1, check_record, &chk);
        e->end(s);
        if (!chk.ordered || chk.entries != n_present ||
            chk.sum != (uint64_t)cfg.ops)
                die(e->name, "final full scan does not match the updates");
        e->close(s);
        r->disk_end_mb = walk_dir(dir, NULL, 0) / (1 << 20);
        free(present);
        free(counts);
}

/* runs one (engine, distribution) in a child process: its own peak RSS */
static void run(const engine_t *e, dist_t dist, result_t *r) {
        char dir[4096];
        int fd[2], status, got;
        struct rusage ru;
        pid_t pid;
        make_run_dir(dir, sizeof(dir));
        if (pipe(fd))
                die("pipe", strerror(errno));
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                die("fork", strerror(errno));
        if (pid == 0) {
                close(fd[0]);
                memset(r, 0, sizeof(*r));
                run_child(e, dist, dir, r);
                if (write(fd[1], r, sizeof(*r)) != (ssize_t)sizeof(*r))
                        _exit(1);
                _exit(0);
        }
        close(fd[1]);
        got = read(fd[0], r, sizeof(*r)) == (ssize_t)sizeof(*r);
        close(fd[0]);
        if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) || !got)
                die(e->name, "run failed");
        r->rss_peak_mb = (double)ru.ru_maxrss / 1024;
        walk_dir(dir, NULL, 1);
}

/* ---- kill check ---- */

static void replay(uint32_t *counts, long n) {
        uint64_t rng = SEED;
        long i;
        memset(counts, 0, sizeof(uint32_t) * (size_t)cfg.keys);
        for (i = 0; i < n; i++)
                counts[draw_key(&rng, DIST_UNIFORM)]++;
}

static void collect(void *ctx, const unsigned char *k, const unsigned char *v) {
        uint32_t *got = ctx;
        got[key_id(k)] = (uint32_t)val_count(v);
}

static void kill_check(const engine_t *e) {
        long flushed = cfg.flush_every, made = flushed + flushed / 2, i, p = 0;
        uint32_t *want = calloc((size_t)cfg.keys, sizeof(uint32_t));
        uint32_t *got  = calloc((size_t)cfg.keys, sizeof(uint32_t));
        unsigned char k[KEY_LEN];
        char dir[4096];
        int status, same;
        pid_t pid;
        void *s;
        if (!want || !got)
                die("out of memory", NULL);
        make_run_dir(dir, sizeof(dir));
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                die("fork", strerror(errno));
        if (pid == 0) {
                uint64_t rng = SEED;
                s            = e->open(dir);
                e->begin(s, 1);
                for (i = 0; i < made; i++) {
                        update(e, s, want, draw_key(&rng, DIST_UNIFORM), i);
                        if (i + 1 == flushed) {
                                e->end(s);
                                e->begin(s, 1);
                        }
                }
                kill(getpid(), SIGKILL);
                _exit(1);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
            WTERMSIG(status) != SIGKILL)
                die(e->name, "kill check: the writer did not die by SIGKILL");
        s = e->open(dir);
        make_key(k, 0);
        e->begin(s, 0);
        e->scan(s, k, cfg.keys + 1, collect, got);
        e->end(s);
        e->close(s);
        for (i = 0; i < cfg.keys; i++)
                p += got[i];
        replay(want, p);
        same = !memcmp(want, got, sizeof(uint32_t) * (size_t)cfg.keys);
        printf("kill check %-8s %ld updates, flush after %ld, SIGKILL; "
               "reopened: %ld updates, %s -> %s\n",
               e->name, made, flushed, p,
               same ? "exactly the first ones" : "NOT the first ones",
               same && p >= flushed ? "ok" : "FAILED");
        walk_dir(dir, NULL, 1);
        free(want);
        free(got);
        if (!same || p < flushed)
                exit(1);
}

/* ---- output ---- */

typedef struct {
        const char *label;
        size_t off;
        const char *unit;
        int decimals;
} metric_t;

#define M(field, label, unit, dec) {label, offsetof(result_t, field), unit, dec}
static const metric_t metrics[] = {
    M(agg_ops, "(a) aggregation get+put", "ops/s", 0),
    M(agg_cpu, "(a) process CPU, all threads", "s", 2),
    M(agg_write_mb, "(a) write_bytes (dirtied)", "MiB", 0),
    M(get_ops, "(b) point gets", "gets/s", 0),
    M(scan_ops, "(c) range scans", "scans/s", 0),
    M(disk_mb, "(d) disk after (a)", "MiB", 1),
    M(wal_mb, "(d) of which *.log (WAL)", "MiB", 1),
    M(disk_end_mb, "(d) disk at the end", "MiB", 1),
    M(rss_peak_mb, "(d) peak RSS", "MiB", 1),
    M(rss_anon_mb, "(d) RSS anon after (c)", "MiB", 1),
    M(rss_file_mb, "(d) RSS file after (c)", "MiB", 1),
    M(reopen_ms, "(e) close+open+get", "ms", 1),
    M(open_ms, "(e) of which open+get", "ms", 1),
};
#define N_METRICS (sizeof(metrics) / sizeof(metrics[0]))

static double field(const result_t *r, const metric_t *m) {
        return *(const double *)(const void *)((const char *)r + m->off);
}

static void print_run(const char *engine, dist_t dist, int run,
                      const result_t *r) {
        printf("%-7s run %d %-7s agg %8.0f ops/s (cpu %5.2f s, wrote %5.0f "
               "MiB)  get %8.0f/s  "
               "scan %7.0f/s (%.1f keys)  disk %6.1f (wal %5.1f) -> %6.1f MiB  "
               "rss peak %6.1f (anon %6.1f file %6.1f) MiB  reopen %7.1f ms  "
               "%.0f keys\n",
               dist_names[dist], run + 1, engine, r->agg_ops, r->agg_cpu,
               r->agg_write_mb, r->get_ops, r->scan_ops, r->scan_avg, r->disk_mb, r->wal_mb,
               r->disk_end_mb,
               r->rss_peak_mb, r->rss_anon_mb, r->rss_file_mb, r->reopen_ms,
               r->keys_present);
        fflush(stdout);
}

static void print_summary(dist_t dist, result_t res[N_ENGINES][MAX_RUNS]) {
        size_t i;
        int r;
        printf("\n%s: median of %d runs; ratio = median of per-run "
               "lmdb/rocksdb\n",
               dist_names[dist], cfg.runs);
        printf("  %-31s %14s %14s %8s\n", "", "lmdb", "rocksdb", "ratio");
        for (i = 0; i < N_METRICS; i++) {
                const metric_t *m = &metrics[i];
                double l[MAX_RUNS], k[MAX_RUNS], q[MAX_RUNS];
                char ratio[32] = "-";
                int defined = 1;
                for (r = 0; r < cfg.runs; r++) {
                        l[r] = field(&res[0][r], m);
                        k[r] = field(&res[1][r], m);
                        defined &= k[r] > 0;
                        q[r] = defined ? l[r] / k[r] : 0;
                }
                if (defined)
                        snprintf(ratio, sizeof(ratio), "%.3g",
                                 median(q, cfg.runs));
                printf("  %-31s %14.*f %14.*f %8s  %s\n", m->label,
                       m->decimals, median(l, cfg.runs), m->decimals,
                       median(k, cfg.runs), ratio, m->unit);
        }
        fflush(stdout);
}

/* ---- main ---- */

static void usage(void) {
        fprintf(stderr,
                "usage: store_engines [--keys N] [--ops N] [--flush-every N] "
                "[--gets N] [--scans N] [--scan-len N] [--runs 1..%d] "
                "[--dist uniform|skewed|both] [--only lmdb|rocksdb] "
                "[--lmdb nosync|writemap] "
                "[--rocksdb wal|wal-buffered|memtable] [--cache-mb N] "
                "[--fsync] [--no-kill-check] [--tmpdir DIR]\n",
                MAX_RUNS);
        exit(2);
}

static long num_value(const char *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end || v < 1)
                usage();
        return v;
}

static void parse_args(int argc, char **argv) {
        int i;
        for (i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--fsync")) {
                        cfg.fsync = 1;
                        continue;
                }
                if (!strcmp(a, "--no-kill-check")) {
                        cfg.kill_check = 0;
                        continue;
                }
                if (!v)
                        usage();
                i++;
                if (!strcmp(a, "--keys"))
                        cfg.keys = num_value(v);
                else if (!strcmp(a, "--ops"))
                        cfg.ops = num_value(v);
                else if (!strcmp(a, "--flush-every"))
                        cfg.flush_every = num_value(v);
                else if (!strcmp(a, "--gets"))
                        cfg.gets = num_value(v);
                else if (!strcmp(a, "--scans"))
                        cfg.scans = num_value(v);
                else if (!strcmp(a, "--scan-len"))
                        cfg.scan_len = num_value(v);
                else if (!strcmp(a, "--runs"))
                        cfg.runs = (int)num_value(v);
                else if (!strcmp(a, "--cache-mb"))
                        cfg.cache_mb = num_value(v);
                else if (!strcmp(a, "--tmpdir"))
                        cfg.tmpdir = v;
                else if (!strcmp(a, "--dist"))
                        cfg.dists = !strcmp(v, "uniform")  ? 1
                                    : !strcmp(v, "skewed") ? 2
                                    : !strcmp(v, "both")   ? 3
                                                           : (usage(), 0);
                else if (!strcmp(a, "--only"))
                        cfg.only = !strcmp(v, "lmdb")      ? 0
                                   : !strcmp(v, "rocksdb") ? 1
                                                           : (usage(), 0);
                else if (!strcmp(a, "--lmdb"))
                        cfg.lmdb_writemap = !strcmp(v, "writemap") ? 1
                                            : !strcmp(v, "nosync") ? 0
                                                                   : (usage(), 0);
                else if (!strcmp(a, "--rocksdb"))
                        cfg.rocks_mode =
                            !strcmp(v, "wal")            ? ROCKS_WAL
                            : !strcmp(v, "wal-buffered") ? ROCKS_WAL_BUFFERED
                            : !strcmp(v, "memtable")     ? ROCKS_MEMTABLE
                                                         : (usage(), ROCKS_WAL);
                else
                        usage();
        }
        if (cfg.runs > MAX_RUNS || cfg.keys < 10 ||
            cfg.keys > 1000000000L)
                usage();
        if (!cfg.tmpdir)
                cfg.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

int main(int argc, char **argv) {
        static result_t res[N_ENGINES][MAX_RUNS];
        char desc[1024];
        int d, r, e;

        parse_args(argc, argv);
        printf("store_engines: %ld keys, %ld get+put ops, flush every %ld, "
               "%ld gets, %ld scans of %ld; %d runs per engine, alternating; "
               "one benchmark thread\n",
               cfg.keys, cfg.ops, cfg.flush_every, cfg.gets, cfg.scans,
               cfg.scan_len, cfg.runs);
        for (e = 0; e < N_ENGINES; e++) {
                engines[e].describe(desc, sizeof(desc));
                printf("  %s\n", desc);
        }
        printf("\n");
        for (d = DIST_UNIFORM; d <= DIST_SKEWED; d++) {
                if (!(cfg.dists & (1 << d)))
                        continue;
                for (r = 0; r < cfg.runs; r++)
                        for (e = 0; e < N_ENGINES; e++) {
                                if (cfg.only >= 0 && cfg.only != e)
                                        continue;
                                run(&engines[e], (dist_t)d, &res[e][r]);
                                print_run(engines[e].name, (dist_t)d, r,
                                          &res[e][r]);
                        }
                if (cfg.only < 0)
                        print_summary((dist_t)d, res);
        }
        if (cfg.kill_check) {
                printf("\n");
                for (e = 0; e < N_ENGINES; e++)
                        if (cfg.only < 0 || cfg.only == e)
                                kill_check(&engines[e]);
        }
        return 0;
}
