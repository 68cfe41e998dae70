/*
 * bench/bench_util.h - what the benchmarks share: clocks, the median of the
 * runs, figures from /proc (a process's CPU, this process's memory, the
 * machine's load), the command line; and for the two on a broker (pipe.c,
 * restore.c) the admin client, the producer that fills a topic and the
 * configuration of their Sluice apps.
 *
 * Each benchmark is one .c file, built on its own (Makefile,
 * bench/on-broker.sh, bench/store_engines.sh) with this header found next to it
 * through the quote include, and each uses only some of the helpers: they
 * are static inline, so that the unused ones are no warning under -Wall
 * -Wextra -Werror.
 *
 * Parts that need more than the C library and POSIX are compiled only
 * where the includer has what they need, included before this header:
 *   rm_tree()            _XOPEN_SOURCE >= 500 (nftw)
 *   the broker helpers   <librdkafka/rdkafka.h> and "sluice.h", and
 *                        BENCH_NAME defined: die()'s prefix
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- random inputs: fixed sequences, the same on every run ---- */

/* xorshift64 (13, 7, 17); *@state must not start at 0 */
static inline uint64_t bench_xorshift64(uint64_t *state) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *state = x;
}

/* xorshift64*; *@state must not start at 0 */
static inline uint64_t bench_xorshift64star(uint64_t *state) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        return *state * 0x2545f4914f6cdd1dull;
}

/* ---- clocks, stats ---- */

static inline double wall_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the process's CPU time: all its threads, user + system */
static inline double cpu_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

static inline int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* The median of @v[0..n-1], sorted in a copy: @v stays in run order, as
 * the callers pair runs up (ratios) after taking the medians. */
static inline double median(const double *v, int n) {
        double buf[64], *s = buf, m;
        if (n > 64 && !(s = malloc(sizeof(double) * (size_t)n))) {
                fprintf(stderr, "median: out of memory\n");
                exit(1);
        }
        memcpy(s, v, sizeof(double) * (size_t)n);
        qsort(s, (size_t)n, sizeof(double), cmp_double);
        m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        if (s != buf)
                free(s);
        return m;
}

/* ---- /proc ---- */

/* CPU-seconds a process (the broker) has used, from /proc; -1 if unknown */
static inline double proc_cpu(long pid) {
        char path[64], buf[2048], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;
        size_t n;
        int field;
        if (pid <= 0)
                return -1;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if (!(f = fopen(path, "r")))
                return -1;
        n      = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        /* fields after the ")" that ends the command name: 3 is state,
         * 14 utime, 15 stime */
        if (!(p = strrchr(buf, ')')))
                return -1;
        for (field = 2; *p && field < 13; p++)
                if (*p == ' ')
                        field++;
        if (sscanf(p, "%lu %lu", &ut, &st) != 2)
                return -1;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A field of /proc/self/status (VmRSS, VmHWM, RssAnon, ...) in kB, -1 if
 * unknown */
static inline long proc_status_kb(const char *field) {
        char line[256];
        size_t n = strlen(field);
        long kb  = -1;
        FILE *f  = fopen("/proc/self/status", "r");
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (!strncmp(line, field, n) && line[n] == ':') {
                        kb = atol(line + n + 1);
                        break;
                }
        fclose(f);
        return kb;
}

/* The machine's load: other processes share the cores and the caches. */
static inline void print_load(const char *when) {
        char buf[128] = "?";
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                fclose(f);
        }
        buf[strcspn(buf, "\n")] = '\0';
        printf("%s: %ld online cores, /proc/loadavg %s\n", when,
               sysconf(_SC_NPROCESSORS_ONLN), buf);
}

/* This program's path, so that a child exec'd from it keeps its name
 * (exec of /proc/self/exe would be called "exe"). */
static inline const char *self_path(void) {
        static char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (n <= 0)
                return "/proc/self/exe";
        path[n] = '\0';
        return path;
}

/* ---- files ---- */

/* --tmpdir if given, else $TMPDIR, else /tmp */
static inline const char *tmp_base(const char *tmpdir) {
        const char *base = tmpdir ? tmpdir : getenv("TMPDIR");
        return base && *base ? base : "/tmp";
}

/* A new directory named @prefix then six random characters under
 * tmp_base(@tmpdir): its path, malloc'd (the caller frees it), or NULL
 * (errno says why). */
static inline char *bench_mkdtemp(const char *tmpdir, const char *prefix) {
        const char *base = tmp_base(tmpdir);
        size_t n         = strlen(base) + strlen(prefix) + 8;
        char *dir        = malloc(n);
        if (!dir)
                return NULL;
        snprintf(dir, n, "%s/%sXXXXXX", base, prefix);
        if (!mkdtemp(dir)) {
                free(dir);
                return NULL;
        }
        return dir;
}

#if defined(_XOPEN_SOURCE) && _XOPEN_SOURCE >= 500
#include <ftw.h>
#include <sys/stat.h>

static inline int rm_entry(const char *path, const struct stat *sb, int flag,
                           struct FTW *ftw) {
        (void)sb;
        (void)flag;
        (void)ftw;
        return remove(path);
}

/* @dir and all below it (a store's state.dir), links not followed */
static inline void rm_tree(const char *dir) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
#endif

/* ---- stores ---- */

/* an int64 as Sluice's serde writes it: 8 bytes big-endian */
static inline int64_t get_be64(const void *p) {
        const unsigned char *b = p;
        uint64_t u = 0;
        int i;
        for (i = 0; i < 8; i++)
                u = u << 8 | b[i];
        return (int64_t)u;
}

/* What a store get of a count found (probe_cb() is its visitor). */
typedef struct {
        long key;      /* the key index expected */
        int64_t count; /* what the visitor read */
        int seen;
} probe_t;

static inline int probe_cb(const void *key, size_t key_len,
                           const void *value, size_t value_len,
                           int64_t timestamp, void *opaque) {
        probe_t *p = opaque;
        (void)key;
        (void)key_len;
        (void)timestamp;
        p->seen  = 1;
        p->count = value_len == 8 ? get_be64(value) : -1;
        return 0;
}

/* ---- the command line ---- */

/* argv[*i + 1] as a number >= @min, *i moved onto it; else @usage(),
 * which exits */
static inline long num_arg(int argc, char **argv, int *i, long min,
                           void (*usage)(void)) {
        char *end;
        long v;
        if (*i + 1 >= argc)
                usage();
        v = strtol(argv[++*i], &end, 10);
        if (*end || v < min)
                usage();
        return v;
}

/* ---- on a broker: librdkafka and Sluice ---- */

#if defined(RD_KAFKA_VERSION) && defined(SLUICE_H)
#ifndef BENCH_NAME
#error "define BENCH_NAME (the prefix of die()'s messages) first"
#endif

/* "<BENCH_NAME>: " @fmt (one string argument) on stderr; exit 1 */
static inline void die(const char *fmt, const char *arg) {
        fprintf(stderr, BENCH_NAME ": ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
        exit(1);
}

static inline rd_kafka_t *admin_client(const char *bootstrap) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err,
                              sizeof(err)))
                die("%s", err);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!rk)
                die("%s", err);
        return rk;
}

/* Deletes the @n topics @names, waiting up to 60 s for the answer (not
 * checked: what is left is a benchmark's leftover). */
static inline void topics_delete(const char *bootstrap,
                                 const char *const *names, int n) {
        rd_kafka_t *rk              = admin_client(bootstrap);
        rd_kafka_queue_t *q         = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopic_t **dt = calloc((size_t)n, sizeof(*dt));
        rd_kafka_event_t *ev;
        int i;
        if (!dt)
                die("%s", "out of memory");
        for (i = 0; i < n; i++)
                dt[i] = rd_kafka_DeleteTopic_new(names[i]);
        rd_kafka_DeleteTopics(rk, dt, (size_t)n, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
        free(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* -- filling a topic -- */

static int load_failed; /* a delivery report said an error */

static inline void load_dr(rd_kafka_t *rk, const rd_kafka_message_t *m,
                           void *o) {
        (void)rk;
        (void)o;
        if (m->err)
                load_failed = 1;
}

/* A producer to @bootstrap with the @n properties @props ({key, value}),
 * delivery reports to load_dr() (check load_failed after flush_all()). */
static inline rd_kafka_t *load_producer(const char *bootstrap,
                                        const char *const (*props)[2],
                                        size_t n) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        size_t p;
        if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err,
                              sizeof(err)))
                die("%s", err);
        for (p = 0; p < n; p++)
                if (rd_kafka_conf_set(c, props[p][0], props[p][1], err,
                                      sizeof(err)))
                        die("%s", err);
        rd_kafka_conf_set_dr_msg_cb(c, load_dr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!rk)
                die("%s", err);
        return rk;
}

/* Produces a copy of the record; while the producer's queue is full, serves
 * delivery reports (10 ms at a time) and tries again. */
static inline void produce_copy(rd_kafka_t *rk, rd_kafka_topic_t *rkt,
                                int32_t partition, void *val, size_t len,
                                const void *key, size_t key_len) {
        while (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, val, len,
                                key, key_len, NULL) == -1) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        die("produce: %s",
                            rd_kafka_err2str(rd_kafka_last_error()));
                rd_kafka_poll(rk, 10);
        }
}

/* Waits until all produced records are delivered (or failed). */
static inline void flush_all(rd_kafka_t *rk) {
        while (rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
                ;
}

/* -- the Sluice app -- */

/* Sluice's log lines (the level the app was given) to stderr */
static inline void quiet_log(sluice_log_level_t level, const char *fac,
                             const char *msg, void *opaque) {
        (void)opaque;
        fprintf(stderr, "sluice %d %s: %s\n", (int)level, fac, msg);
}

static inline void conf_set(sluice_conf_t *c, const char *k, const char *v) {
        char err[512];
        if (sluice_conf_set(c, k, v, err, sizeof(err)))
                die("%s", err);
}

/* The --rdkafka KEY=VALUE options (checked for the '=' when parsed), in
 * order, through sluice_conf_set(). */
static inline void conf_set_props(sluice_conf_t *c,
                                  const char *const *props, int n) {
        int i;
        for (i = 0; i < n; i++) {
                char kv[512], *eq;
                snprintf(kv, sizeof(kv), "%s", props[i]);
                eq  = strchr(kv, '=');
                *eq = '\0';
                conf_set(c, kv, eq + 1);
        }
}
#endif /* RD_KAFKA_VERSION && SLUICE_H */

#endif /* BENCH_UTIL_H */
