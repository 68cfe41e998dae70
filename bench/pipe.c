/*
 * bench/pipe.c - end-to-end throughput on a real broker, two workloads in
 * the same run: "pipe", a stateless Sluice app with one stream thread
 * against a plain librdkafka consume -> produce loop doing the same work
 * with the same client settings; and "tumbling", a windowed count through
 * Sluice alone (there is no plain-librdkafka loop counterpart for it: the
 * loop would have to be a window store, a cache and a changelog).
 *
 * Once per invocation, for each workload that runs: create a topic of
 * --partitions partitions and produce --records records into it, 100-byte
 * values that start with the sequence number, and
 *   pipe      keys "k<seq>" (all distinct), timestamps the producer's;
 *   tumbling  keys "w<n>" drawn uniformly (fixed seed) from --window-keys
 *             keys (default 100000), timestamps set by the producer
 *             (RD_KAFKA_V_TIMESTAMP): 1 ms more every --window-per-ms
 *             records (default 10: 5M records span 8.3 minutes of event
 *             time, ~9 windows a key), from a minute boundary, ending 1
 *             to 2 minutes before now; an idempotent producer, so each
 *             partition is in timestamp order and no record is late. The
 *             loader counts the (key, window) pairs the input makes.
 * Then, --runs times, drain each topic from the beginning, each drain with
 * a fresh application.id / consumer group and a fresh output topic of the
 * same partition count:
 *
 *   sluice    source(bytes, bytes) -> map_values(flip the case of one byte)
 *             -> filter(drop 1 in 10000) -> to(output); num.stream.threads=1.
 *             Drained: sluice_app_processed() reached N, then
 *             sluice_app_close() returned (final flush, commit, leave group).
 *   loop      librdkafka consumer + producer configured as lib/thread.c
 *             client_conf() does (cooperative-sticky group consumer, auto
 *             commit and auto offset store off, auto.offset.reset=earliest,
 *             fetch.queue.backoff.ms=10;
 *             acks=all, idempotence on, murmur2_random partitioner, a
 *             delivery report
 *             callback), the same map + filter inline, the record's timestamp
 *             kept and its headers forwarded (parsed with
 *             rd_kafka_message_headers(), as Sluice must; --loop-no-headers
 *             skips that), processed offsets + 1 committed every commit.interval.ms
 *             after a flush (and on revocation). Drained: N consumed, then
 *             flush, commit, rd_kafka_consumer_close().
 *   tumbling  source(bytes, bytes) -> group_by_key -> windowed_by(tumbling
 *             1 minute, no grace) -> count("win", the memory store, in a
 *             fresh state.dir; changelogged) -> to_stream -> to(output,
 *             bytes, int64): every update the record cache lets through,
 *             keys as TimeWindowedSerializer writes them (key bytes + the
 *             8-byte window start). num.stream.threads=1, drained as
 *             sluice. Windows close and leave the store as event time
 *             moves (retention = size + grace).
 *
 * The drains alternate which goes first: odd runs sluice, loop, tumbling;
 * even runs the reverse. Each drain is timed from subscribe
 * (sluice_app_start) to the end above: wall time gives records/s, the
 * process's CPU time (all threads: librdkafka's included; one drain at a
 * time, clients created before and destroyed after the window) gives
 * CPU-seconds per million records; medians over the runs. Every drain is
 * checked: a pipe output must hold exactly the records the filter kept;
 * the tumbling output is read in full, the last count of each windowed key
 * kept, and those counts must sum to the input's record count
 * (at-least-once on a clean run: exact) over as many windows as the loader
 * counted; it prints the number of windows. /proc/loadavg is printed
 * before and after the drains.
 *
 * Usage: bench/pipe --bootstrap HOST:PORT [--records N] [--partitions P]
 *                   [--runs R] [--value-size B] [--commit-interval-ms MS]
 *                   [--workload pipe|tumbling|all] [--only sluice|loop]
 *                   [--window-keys K] [--window-per-ms N]
 *                   [--keep-topics] [--input TOPIC] [--window-input TOPIC]
 *                   [--broker-pid PID] [--rdkafka [consumer.|producer.]K=V]...
 *        (defaults 5000000, 4, 3, 100, Sluice's default 30000, all, both,
 *         100000, 10;
 *         --bootstrap defaults to $SLUICE_BOOTSTRAP; --only sluice runs
 *         the Sluice drains of the workloads, --only loop the loop's;
 *         --input / --window-input reuse a topic an earlier --keep-topics
 *         run loaded, e.g. for profiling (a reused windowed input's window
 *         count is not known: only the sum is checked);
 *         with --broker-pid each drain also reports the broker's CPU, and
 *         every drain the whole machine's idle share: the broker shares
 *         the cores; --rdkafka sets a librdkafka property on both sides'
 *         clients, through sluice_conf_set() for Sluice)
 * bench/on-broker.sh pipe (make bench-pipe) starts a broker, runs this, and
 * stops the broker.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw (rm_tree) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "pipe"
#include "bench_util.h"

/* ---- options ---- */

static struct {
        const char *bootstrap;
        long records;
        int partitions;
        int runs;
        int value_size;
        int commit_interval_ms; /* -1: Sluice's default */
        int only;               /* 0 both, 1 sluice, 2 loop */
        int keep_topics;
        int timeout_s;
        const char *input; /* an existing input topic: skip loading */
        long broker_pid;   /* report its CPU too (same machine) */
        /* --rdkafka KEY=VALUE, given to both sides' clients: "consumer." /
         * "producer." prefixed keys to one kind only (Sluice's rule) */
        const char *rk_props[64];
        int rk_prop_cnt;
        int loop_no_headers; /* the loop drops headers (less work) */
        int workload;        /* 0 all, 1 pipe, 2 tumbling */
        long window_keys;    /* distinct keys of the windowed input */
        long window_per_ms;  /* its records per ms of event time */
        const char *window_input; /* an existing windowed input */
} opt = {NULL, 5000000, 4, 3, 100, -1, 0, 0, 900, NULL, 0, {NULL}, 0, 0,
         0, 100000, 10, NULL};

static char in_topic[128];
static long expect_kept; /* records the filter keeps */

/* the windowed workload's input: keys from --window-keys, timestamps set */
#define MINUTE_MS 60000
static char win_topic[128];
static long win_records;             /* records in it */
static long win_expect_windows = -1; /* distinct (key, window); -1: unknown */

/* ---- stats ---- */

/* Idle and total time of the whole machine (all cores), from /proc/stat. */
static void machine_times(double *idle, double *total) {
        unsigned long long v[10] = {0};
        FILE *f = fopen("/proc/stat", "r");
        int i;
        *idle = *total = 0;
        if (!f)
                return;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8], &v[9]) >= 4) {
                for (i = 0; i < 8; i++) /* guest time is in user already */
                        *total += (double)v[i];
                *idle = (double)(v[3] + v[4]);
        }
        fclose(f);
}

/* ---- the transformation, shared by both sides ---- */

/* Value layout: 10-digit sequence number, ' ', a marker byte ('#' on one
 * record in 10000: the filter drops those), then letters. */
#define MARK_AT 11
#define FLIP_AT 12

static int dropped(const void *v, size_t len) {
        return len > MARK_AT && ((const char *)v)[MARK_AT] == '#';
}

/* map: a copy of the value with the case of one letter flipped */
static void transform(const void *v, size_t len, char *out) {
        memcpy(out, v, len);
        if (len > FLIP_AT)
                out[FLIP_AT] ^= 0x20;
}

/* ---- admin ---- */

static void topic_create(const char *topic, int partitions) {
        rd_kafka_t *rk        = admin_client(opt.bootstrap);
        rd_kafka_queue_t *q   = rd_kafka_queue_new(rk);
        char err[512];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1,
                                                        err, sizeof(err));
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t n;
        if (!nt)
                die("%s", err);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || (rd_kafka_topic_result_error(res[0]) &&
                       rd_kafka_topic_result_error(res[0]) !=
                           RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
                die("cannot create topic: %s",
                    n ? rd_kafka_topic_result_error_string(res[0]) : "?");
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

static void topic_delete(const char *topic) {
        topics_delete(opt.bootstrap, &topic, 1);
}

/* Sum of the high watermarks of @topic (records in it: nothing deleted). */
static long topic_count(const char *topic) {
        rd_kafka_t *rk = admin_client(opt.bootstrap);
        long sum       = 0;
        int p;
        for (p = 0; p < opt.partitions; p++) {
                int64_t lo = 0, hi = 0;
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                    rk, topic, p, &lo, &hi, 30000);
                if (err)
                        die("watermarks: %s", rd_kafka_err2str(err));
                sum += (long)(hi - lo);
        }
        rd_kafka_destroy(rk);
        return sum;
}

/* ---- load ---- */

/* record @i's value: the sequence number, the marker, letters after */
static void fill_value(char *val, long i) {
        char head[24];
        snprintf(head, sizeof(head), "%010ld ", i);
        memcpy(val, head, (size_t)(opt.value_size < 11 ? opt.value_size : 11));
        if (opt.value_size > MARK_AT)
                val[MARK_AT] = i % 10000 == 9999 ? '#' : 'm';
}

static void load_input(void) {
        static const char *const props[][2] = {
            {"partitioner", "murmur2_random"},
            {"linger.ms", "20"},
            {"queue.buffering.max.messages", "1000000"},
        };
        char key[24], *val = malloc((size_t)opt.value_size);
        double t0          = wall_now();
        rd_kafka_t *rk     = load_producer(opt.bootstrap, props,
                                           sizeof(props) / sizeof(props[0]));
        rd_kafka_topic_t *rkt;
        long i;
        int k;
        rkt = rd_kafka_topic_new(rk, in_topic, NULL);
        for (k = 0; k < opt.value_size; k++)
                val[k] = (char)('a' + k % 26);
        expect_kept = 0;
        for (i = 0; i < opt.records; i++) {
                int kl = snprintf(key, sizeof(key), "k%07ld", i % 10000000);
                fill_value(val, i);
                if (!dropped(val, (size_t)opt.value_size))
                        expect_kept++;
                produce_copy(rk, rkt, RD_KAFKA_PARTITION_UA, val,
                             (size_t)opt.value_size, key, (size_t)kl);
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        flush_all(rk);
        if (load_failed)
                die("%s", "some input records were not delivered");
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        free(val);
        printf("loaded %ld records (%d-byte values) into %s (%d partitions) "
               "in %.1f s\n",
               opt.records, opt.value_size, in_topic, opt.partitions,
               wall_now() - t0);
        fflush(stdout);
}

/* The windowed input: --records records whose keys ("w%07ld") are drawn
 * uniformly (fixed seed) from --window-keys keys and whose timestamps,
 * set by the producer, advance by 1 ms every --window-per-ms records from
 * a minute boundary; the last is 1 to 2 minutes before now (the broker
 * takes them whatever its timestamp limits). The producer is idempotent:
 * each partition holds its records in timestamp order, so none is late
 * for a window with no grace. Counts the (key, window) pairs it makes. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) { return bench_xorshift64(&rng_state); }

static int64_t realtime_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void load_window_input(void) {
        static const char *const props[][2] = {
            {"partitioner", "murmur2_random"},
            {"linger.ms", "20"},
            {"queue.buffering.max.messages", "1000000"},
            {"enable.idempotence", "true"},
        };
        char key[32], *val = malloc((size_t)opt.value_size);
        int64_t *last      = malloc(sizeof(int64_t) * (size_t)opt.window_keys);
        int64_t span       = opt.records / opt.window_per_ms;
        int64_t base =
            (realtime_ms() - span - MINUTE_MS) / MINUTE_MS * MINUTE_MS;
        double t0      = wall_now();
        rd_kafka_t *rk = load_producer(opt.bootstrap, props,
                                       sizeof(props) / sizeof(props[0]));
        rd_kafka_topic_t *rkt;
        long i;
        int k;
        if (!val || !last)
                die("%s", "out of memory");
        rkt = rd_kafka_topic_new(rk, win_topic, NULL);
        for (k = 0; k < opt.value_size; k++)
                val[k] = (char)('a' + k % 26);
        for (i = 0; i < opt.window_keys; i++)
                last[i] = -1;
        win_expect_windows = 0;
        for (i = 0; i < opt.records; i++) {
                long kx    = (long)(rng() % (uint64_t)opt.window_keys);
                int64_t ts = base + i / opt.window_per_ms;
                int kl     = snprintf(key, sizeof(key), "w%07ld", kx);
                rd_kafka_resp_err_t err;
                fill_value(val, i);
                if (last[kx] != ts / MINUTE_MS) {
                        last[kx] = ts / MINUTE_MS;
                        win_expect_windows++;
                }
                while ((err = rd_kafka_producev(
                            rk, RD_KAFKA_V_RKT(rkt),
                            RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(key, (size_t)kl),
                            RD_KAFKA_V_VALUE(val, (size_t)opt.value_size),
                            RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rk, 10);
                if (err)
                        die("produce: %s", rd_kafka_err2str(err));
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        flush_all(rk);
        if (load_failed)
                die("%s", "some windowed input records were not delivered");
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        free(val);
        free(last);
        win_records = opt.records;
        printf("loaded %ld records into %s: keys from %ld, event time "
               "+1 ms every %ld records (%.1f min, %ld (key, window) pairs) "
               "in %.1f s\n",
               opt.records, win_topic, opt.window_keys, opt.window_per_ms,
               (double)span / MINUTE_MS, win_expect_windows, wall_now() - t0);
        fflush(stdout);
}

/* ---- (a) Sluice ---- */

static _Thread_local char map_buf[65536];

static int sl_map(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        if (v->type != SLUICE_VALUE_BYTES || v->u.bytes.len > sizeof(map_buf))
                return 0;
        transform(v->u.bytes.data, v->u.bytes.len, map_buf);
        return sluice_record_set_value(
            rec, sluice_bytes(map_buf, v->u.bytes.len));
}

static bool sl_keep(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return !(v->type == SLUICE_VALUE_BYTES &&
                 dropped(v->u.bytes.data, v->u.bytes.len));
}

typedef struct {
        double wall, cpu;
} drain_t;

/* @tumbling 0: the pipe workload's topology on in_topic; 1: the windowed
 * count on win_topic, its store in a fresh state.dir (removed after) */
static drain_t drain_sluice(int tumbling, const char *group,
                            const char *out) {
        char err[512], dir[4096] = "";
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c     = sluice_conf_new();
        long n               = tumbling ? win_records : opt.records;
        sluice_stream_t *s;
        sluice_app_t *app;
        drain_t d;
        double w0, c0, deadline;
        s = sluice_stream_from(t, tumbling ? win_topic : in_topic,
                               sluice_serde_bytes(), sluice_serde_bytes());
        if (tumbling) {
                sluice_windowed_t *w = sluice_grouped_windowed_by(
                    sluice_stream_group_by_key(s, NULL, NULL),
                    sluice_windows_tumbling(MINUTE_MS, 0));
                sluice_stream_to(
                    sluice_table_to_stream(sluice_windowed_count(w, "win")),
                    out, sluice_serde_bytes(), sluice_serde_int64());
        } else {
                s = sluice_stream_map_values(s, sl_map, NULL);
                s = sluice_stream_filter(s, sl_keep, NULL);
                sluice_stream_to(s, out, NULL, NULL);
        }
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology: %s", err);
        conf_set(c, "application.id", group);
        conf_set(c, "bootstrap.servers", opt.bootstrap);
        conf_set(c, "num.stream.threads", "1");
        if (tumbling) {
                snprintf(dir, sizeof(dir), "%s/sluice-bench-pipe.XXXXXX",
                         tmp_base(NULL));
                if (!mkdtemp(dir))
                        die("mkdtemp %s failed", dir);
                conf_set(c, "state.dir", dir);
        }
        if (opt.commit_interval_ms >= 0) {
                char v[24];
                snprintf(v, sizeof(v), "%d", opt.commit_interval_ms);
                conf_set(c, "commit.interval.ms", v);
        }
        conf_set_props(c, opt.rk_props, opt.rk_prop_cnt);
        sluice_conf_set_log_cb(c, quiet_log, SLUICE_LOG_WARNING, NULL);
        app = sluice_app_new(t, c, err, sizeof(err));
        if (!app)
                die("sluice_app_new: %s", err);

        w0       = wall_now();
        c0       = cpu_now();
        deadline = w0 + opt.timeout_s;
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        while (sluice_app_processed(app) < (uint64_t)n) {
                sluice_app_state_t st = sluice_app_state(app);
                if (st == SLUICE_APP_ERROR)
                        die("sluice app failed: %s", sluice_app_error(app));
                if (wall_now() > deadline)
                        die("%s", "sluice drain timed out");
                sleep_ms(5);
        }
        sluice_app_close(app);
        d.cpu  = cpu_now() - c0;
        d.wall = wall_now() - w0;
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                die("sluice app failed: %s", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        if (*dir)
                rm_tree(dir);
        return d;
}

/* ---- checking the windowed output ---- */

/* The last count per windowed key (key bytes + the 8-byte window start):
 * open addressing, FNV-1a. A key of length 0 is a free slot. */
#define WKEY_MAX 40
typedef struct {
        int64_t count;
        uint8_t len;
        unsigned char key[WKEY_MAX];
} wentry_t;

typedef struct {
        wentry_t *e;
        size_t cap, n; /* cap a power of 2 */
} wmap_t;

static uint64_t fnv1a(const unsigned char *p, size_t n) {
        uint64_t h = 14695981039346656037ull;
        while (n--)
                h = (h ^ *p++) * 1099511628211ull;
        return h;
}

static wentry_t *wmap_find(wentry_t *e, size_t cap, const void *key,
                           size_t len) {
        size_t i = (size_t)fnv1a(key, len) & (cap - 1);
        while (e[i].len && (e[i].len != len || memcmp(e[i].key, key, len)))
                i = (i + 1) & (cap - 1);
        return &e[i];
}

/* the entry of @key (len 1..WKEY_MAX): a new one has len 0 */
static wentry_t *wmap_get(wmap_t *m, const void *key, size_t len) {
        if ((m->n + 1) * 10 > m->cap * 7) {
                size_t cap = m->cap ? m->cap * 2 : 1 << 16, i;
                wentry_t *e = calloc(cap, sizeof(*e));
                if (!e)
                        die("%s", "out of memory");
                for (i = 0; i < m->cap; i++)
                        if (m->e[i].len)
                                *wmap_find(e, cap, m->e[i].key,
                                           m->e[i].len) = m->e[i];
                free(m->e);
                m->e   = e;
                m->cap = cap;
        }
        return wmap_find(m->e, m->cap, key, len);
}

typedef struct {
        long updates;    /* records in the output */
        long windows;    /* distinct windowed keys */
        long malformed;  /* key shorter than the window start, or a value
                            that is not an int64 */
        long regressed;  /* an update not above the key's last count */
        long long sum;   /* of the last counts */
} wcheck_t;

/* Reads all of @topic (to the high watermarks) from the beginning. */
static wcheck_t check_windows(const char *topic) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(opt.partitions);
        int64_t *hi = calloc((size_t)opt.partitions, sizeof(int64_t));
        wcheck_t w  = {0, 0, 0, 0, 0};
        wmap_t m    = {NULL, 0, 0};
        double deadline = wall_now() + opt.timeout_s;
        long left = 0;
        rd_kafka_t *rk;
        size_t i;
        int p;
        if (rd_kafka_conf_set(c, "bootstrap.servers", opt.bootstrap, err,
                              sizeof(err)) ||
            rd_kafka_conf_set(c, "group.id", "pipe-check", err,
                              sizeof(err)) ||
            rd_kafka_conf_set(c, "enable.auto.commit", "false", err,
                              sizeof(err)))
                die("%s", err);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err))))
                die("%s", err);
        rd_kafka_poll_set_consumer(rk);
        for (p = 0; p < opt.partitions; p++) {
                int64_t lo = 0;
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                    rk, topic, p, &lo, &hi[p], 30000);
                if (e)
                        die("watermarks: %s", rd_kafka_err2str(e));
                left += (long)(hi[p] - lo);
                if (hi[p] > lo)
                        rd_kafka_topic_partition_list_add(parts, topic, p)
                            ->offset = lo;
        }
        if (parts->cnt && rd_kafka_assign(rk, parts))
                die("%s", "assign failed");
        while (left > 0) {
                rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 1000);
                wentry_t *e;
                int64_t cnt;
                if (!msg) {
                        if (wall_now() > deadline)
                                die("%s", "reading the output timed out");
                        continue;
                }
                if (msg->err) {
                        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                die("reading the output: %s",
                                    rd_kafka_message_errstr(msg));
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                if (msg->partition < 0 || msg->partition >= opt.partitions ||
                    msg->offset >= hi[msg->partition]) {
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                left--;
                w.updates++;
                if (!msg->key || msg->key_len <= 8 ||
                    msg->key_len > WKEY_MAX || msg->len != 8) {
                        w.malformed++;
                        rd_kafka_message_destroy(msg);
                        continue;
                }
                cnt = get_be64(msg->payload);
                e   = wmap_get(&m, msg->key, msg->key_len);
                if (!e->len) {
                        e->len = (uint8_t)msg->key_len;
                        memcpy(e->key, msg->key, msg->key_len);
                        m.n++;
                } else if (cnt <= e->count)
                        w.regressed++;
                e->count = cnt;
                rd_kafka_message_destroy(msg);
        }
        for (i = 0; i < m.cap; i++)
                if (m.e[i].len) {
                        w.windows++;
                        w.sum += m.e[i].count;
                }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        rd_kafka_topic_partition_list_destroy(parts);
        free(hi);
        free(m.e);
        return w;
}

/* ---- (b) the plain loop ---- */

typedef struct {
        rd_kafka_t *consumer, *producer;
        int64_t *next; /* per partition: offset of the last processed + 1 */
        int delivery_failed;
        int commits;
} loop_t;

static void loop_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o) {
        loop_t *l = o;
        (void)rk;
        if (m->err)
                l->delivery_failed = 1;
}

/* flush, then commit the processed offsets + 1 (as lib/thread.c) */
static void loop_commit(loop_t *l) {
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(opt.partitions);
        rd_kafka_resp_err_t err;
        int p;
        for (p = 0; p < opt.partitions; p++)
                if (l->next[p] >= 0)
                        rd_kafka_topic_partition_list_add(parts, in_topic, p)
                            ->offset = l->next[p];
        if (parts->cnt) {
                while (rd_kafka_flush(l->producer, 1000) ==
                       RD_KAFKA_RESP_ERR__TIMED_OUT)
                        ;
                if (l->delivery_failed)
                        die("%s", "loop: a record was not delivered");
                err = rd_kafka_commit(l->consumer, parts, 0);
                if (err)
                        fprintf(stderr, "pipe: loop commit: %s\n",
                                rd_kafka_err2str(err));
                else
                        l->commits++;
                for (p = 0; p < opt.partitions; p++)
                        l->next[p] = -1;
        }
        rd_kafka_topic_partition_list_destroy(parts);
}

static void loop_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *parts,
                           void *opaque) {
        loop_t *l = opaque;
        rd_kafka_error_t *e;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                e = rd_kafka_incremental_assign(rk, parts);
        } else {
                if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS &&
                    !rd_kafka_assignment_lost(rk))
                        loop_commit(l);
                e = rd_kafka_incremental_unassign(rk, parts);
        }
        if (e) {
                fprintf(stderr, "pipe: loop rebalance: %s\n",
                        rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
}

static rd_kafka_t *loop_client(loop_t *l, rd_kafka_type_t type,
                               const char *group) {
        char err[512], id[300];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        int i;
        snprintf(id, sizeof(id), "%s-loop-%s", group,
                 type == RD_KAFKA_CONSUMER ? "consumer" : "producer");
#define SET(k, v)                                                              \
        if (rd_kafka_conf_set(c, k, v, err, sizeof(err)))                      \
                die("%s", err);
        SET("client.id", id);
        if (type == RD_KAFKA_CONSUMER) {
                SET("group.id", group);
                SET("enable.auto.commit", "false");
                SET("enable.auto.offset.store", "false");
                SET("partition.assignment.strategy", "cooperative-sticky");
                SET("auto.offset.reset", "earliest");
                SET("fetch.queue.backoff.ms", "10"); /* Sluice's default */
        } else {
                SET("partitioner", "murmur2_random");
                SET("acks", "all");
                SET("enable.idempotence", "true"); /* Sluice's default */
        }
        SET("bootstrap.servers", opt.bootstrap);
        for (i = 0; i < opt.rk_prop_cnt; i++) {
                char kv[512], *eq;
                const char *k;
                snprintf(kv, sizeof(kv), "%s", opt.rk_props[i]);
                eq  = strchr(kv, '=');
                *eq = '\0';
                k   = kv;
                if (!strncmp(k, "consumer.", 9)) {
                        if (type != RD_KAFKA_CONSUMER)
                                continue;
                        k += 9;
                } else if (!strncmp(k, "producer.", 9)) {
                        if (type != RD_KAFKA_PRODUCER)
                                continue;
                        k += 9;
                }
                SET(k, eq + 1);
        }
#undef SET
        rd_kafka_conf_set_opaque(c, l);
        if (type == RD_KAFKA_CONSUMER)
                rd_kafka_conf_set_rebalance_cb(c, loop_rebalance);
        else
                rd_kafka_conf_set_dr_msg_cb(c, loop_dr);
        rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                die("%s", err);
        return rk;
}

static drain_t drain_loop(const char *group, const char *out) {
        loop_t l;
        rd_kafka_topic_t *rkt;
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_resp_err_t err;
        char buf[65536];
        long consumed = 0;
        int interval  = opt.commit_interval_ms >= 0 ? opt.commit_interval_ms
                                                    : 30000;
        drain_t d;
        double w0, c0, deadline, last_commit;
        int p;

        memset(&l, 0, sizeof(l));
        l.next = malloc(sizeof(int64_t) * (size_t)opt.partitions);
        for (p = 0; p < opt.partitions; p++)
                l.next[p] = -1;
        l.consumer = loop_client(&l, RD_KAFKA_CONSUMER, group);
        rd_kafka_poll_set_consumer(l.consumer);
        l.producer = loop_client(&l, RD_KAFKA_PRODUCER, group);
        rkt        = rd_kafka_topic_new(l.producer, out, NULL);

        w0 = last_commit = wall_now();
        c0               = cpu_now();
        deadline         = w0 + opt.timeout_s;
        sub              = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, in_topic, RD_KAFKA_PARTITION_UA);
        if ((err = rd_kafka_subscribe(l.consumer, sub)))
                die("subscribe: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(sub);

        while (consumed < opt.records) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(l.consumer, 100);
                if (!m) {
                        if (wall_now() > deadline)
                                die("%s", "loop drain timed out");
                        rd_kafka_poll(l.producer, 0);
                        continue;
                }
                if (m->err) {
                        if (m->err == RD_KAFKA_RESP_ERR__FATAL)
                                die("loop: %s", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (!dropped(m->payload, m->len) && m->len <= sizeof(buf)) {
                        rd_kafka_headers_t *hs = NULL, *copy = NULL;
                        /* forward the record's headers, as Sluice (and
                         * Kafka Streams) do: the same Kafka work */
                        if (!opt.loop_no_headers &&
                            !rd_kafka_message_headers(m, &hs) &&
                            rd_kafka_header_cnt(hs) > 0)
                                copy = rd_kafka_headers_copy(hs);
                        transform(m->payload, m->len, buf);
                        if (copy)
                                err = rd_kafka_producev(
                                    l.producer, RD_KAFKA_V_RKT(rkt),
                                    RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(m->key, m->key_len),
                                    RD_KAFKA_V_VALUE(buf, m->len),
                                    RD_KAFKA_V_TIMESTAMP(
                                        rd_kafka_message_timestamp(m, NULL)),
                                    RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_END);
                        else
                        while ((err = rd_kafka_producev(
                                    l.producer, RD_KAFKA_V_RKT(rkt),
                                    RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(m->key, m->key_len),
                                    RD_KAFKA_V_VALUE(buf, m->len),
                                    RD_KAFKA_V_TIMESTAMP(
                                        rd_kafka_message_timestamp(m, NULL)),
                                    RD_KAFKA_V_END)) ==
                               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(l.producer, 10);
                        if (err)
                                die("loop produce: %s", rd_kafka_err2str(err));
                }
                if (m->partition >= 0 && m->partition < opt.partitions)
                        l.next[m->partition] = m->offset + 1;
                rd_kafka_message_destroy(m);
                if ((++consumed & 1023) == 0) {
                        double now = wall_now();
                        rd_kafka_poll(l.producer, 0); /* delivery reports */
                        if ((now - last_commit) * 1000 >= interval) {
                                last_commit = now;
                                loop_commit(&l);
                        }
                }
        }
        loop_commit(&l); /* flush + commit, as sluice_app_close() */
        rd_kafka_consumer_close(l.consumer);
        d.cpu  = cpu_now() - c0;
        d.wall = wall_now() - w0;
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(l.consumer);
        rd_kafka_destroy(l.producer);
        free(l.next);
        return d;
}

/* ---- main ---- */

/* The drains of a run, in this order on odd runs, reversed on even ones:
 * the pipe workload's two stay side by side (their ratio), each of them
 * first every other run, and the tumbling one first or last. */
enum { D_SLUICE, D_LOOP, D_TUMBLING, DRAINS };
static const char *const names[DRAINS] = {"sluice", "loop", "tumbling"};

static int drain_on(int k) {
        if (opt.workload == (k == D_TUMBLING ? 1 : 2))
                return 0;
        return !opt.only || opt.only == (k == D_LOOP ? 2 : 1);
}

/* both sides of the pipe workload run: their ratios */
static int pair_on(void) {
        return drain_on(D_SLUICE) && drain_on(D_LOOP);
}

static void usage(void) {
        fprintf(stderr,
                "usage: pipe --bootstrap HOST:PORT [--records N] "
                "[--partitions P] [--runs R]\n"
                "            [--value-size B] [--commit-interval-ms MS] "
                "[--only sluice|loop] [--loop-no-headers] [--keep-topics] [--input TOPIC]\n"
                "            [--broker-pid PID] [--timeout S] "
                "[--rdkafka [consumer.|producer.]KEY=VALUE]...\n"
                "            [--workload pipe|tumbling|all] [--window-keys K] "
                "[--window-per-ms N] [--window-input TOPIC]\n");
        exit(2);
}

int main(int argc, char **argv) {
        double *rate[DRAINS], *cpm[DRAINS];
        long tag = (long)getpid();
        int i, r, k, bad = 0;

        opt.bootstrap = getenv("SLUICE_BOOTSTRAP");
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
                        opt.bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--partitions"))
                        opt.partitions =
                            (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--value-size"))
                        opt.value_size =
                            (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--commit-interval-ms"))
                        opt.commit_interval_ms =
                            (int)num_arg(argc, argv, &i, 0, usage);
                else if (!strcmp(argv[i], "--rdkafka") && i + 1 < argc) {
                        if (!strchr(argv[++i], '=') || opt.rk_prop_cnt == 64)
                                usage();
                        opt.rk_props[opt.rk_prop_cnt++] = argv[i];
                } else if (!strcmp(argv[i], "--broker-pid"))
                        opt.broker_pid = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--timeout"))
                        opt.timeout_s =
                            (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--loop-no-headers"))
                        opt.loop_no_headers = 1;
                else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
                        i++;
                        opt.only = !strcmp(argv[i], "sluice") ? 1
                                   : !strcmp(argv[i], "loop") ? 2
                                                              : -1;
                        if (opt.only < 0)
                                usage();
                } else if (!strcmp(argv[i], "--input") && i + 1 < argc)
                        opt.input = argv[++i];
                else if (!strcmp(argv[i], "--keep-topics"))
                        opt.keep_topics = 1;
                else if (!strcmp(argv[i], "--workload") && i + 1 < argc) {
                        i++;
                        opt.workload = !strcmp(argv[i], "all")        ? 0
                                       : !strcmp(argv[i], "pipe")     ? 1
                                       : !strcmp(argv[i], "tumbling") ? 2
                                                                      : -1;
                        if (opt.workload < 0)
                                usage();
                } else if (!strcmp(argv[i], "--window-keys"))
                        opt.window_keys = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--window-per-ms"))
                        opt.window_per_ms = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--window-input") && i + 1 < argc)
                        opt.window_input = argv[++i];
                else
                        usage();
        }
        if (!opt.bootstrap || !*opt.bootstrap)
                usage();
        if (opt.value_size > 65536)
                die("%s", "--value-size is at most 65536");
        if (opt.workload == 2 && opt.only == 2)
                die("%s", "the tumbling workload has no plain-loop side");

        printf("pipe: librdkafka %s, sluice %s, broker %s; %ld records, "
               "%d partitions, %d-byte values, commit.interval.ms %d, "
               "%d run(s)\n",
               rd_kafka_version_str(), sluice_version_str(), opt.bootstrap,
               opt.records, opt.partitions, opt.value_size,
               opt.commit_interval_ms >= 0 ? opt.commit_interval_ms : 30000,
               opt.runs);
        printf("workloads: %s\n",
               opt.workload == 1 ? "pipe"
               : opt.workload == 2
                   ? "tumbling (Sluice only: no plain-loop counterpart)"
                   : "pipe, tumbling (Sluice only: no plain-loop "
                     "counterpart)");
        for (i = 0; i < opt.rk_prop_cnt; i++)
                printf("  client property (both sides): %s\n", opt.rk_props[i]);
        if (opt.workload == 2) {
                /* no pipe input */
        } else if (opt.input) {
                /* left by an earlier --keep-topics run with the same
                 * --partitions and --value-size */
                snprintf(in_topic, sizeof(in_topic), "%s", opt.input);
                opt.records = topic_count(in_topic);
                expect_kept = opt.value_size > MARK_AT
                                  ? opt.records - opt.records / 10000
                                  : opt.records;
                printf("input: %ld records in %s\n", opt.records, in_topic);
        } else {
                snprintf(in_topic, sizeof(in_topic), "pipe-in-%ld", tag);
                topic_create(in_topic, opt.partitions);
                load_input();
        }
        if (opt.workload == 1) {
                /* no windowed input */
        } else if (opt.window_input) {
                /* left by an earlier --keep-topics run, same --partitions */
                snprintf(win_topic, sizeof(win_topic), "%s", opt.window_input);
                win_records = topic_count(win_topic);
                printf("windowed input: %ld records in %s\n", win_records,
                       win_topic);
        } else {
                snprintf(win_topic, sizeof(win_topic), "pipe-win-in-%ld", tag);
                topic_create(win_topic, opt.partitions);
                load_window_input();
        }

        print_load("start");
        for (k = 0; k < DRAINS; k++) {
                rate[k] = calloc((size_t)opt.runs, sizeof(double));
                cpm[k]  = calloc((size_t)opt.runs, sizeof(double));
        }
        for (r = 0; r < opt.runs; r++) {
                for (i = 0; i < DRAINS; i++) {
                        char group[160], out[160];
                        drain_t d;
                        long got, n;
                        double b0, b1, i0, i1, t0, t1;
                        wcheck_t wc = {0, 0, 0, 0, 0};
                        /* alternate who goes first */
                        k = r % 2 ? DRAINS - 1 - i : i;
                        if (!drain_on(k))
                                continue;
                        snprintf(group, sizeof(group), "pipe-%ld-%s-r%d", tag,
                                 names[k], r + 1);
                        snprintf(out, sizeof(out), "pipe-out-%ld-%s-r%d", tag,
                                 names[k], r + 1);
                        topic_create(out, opt.partitions);
                        b0 = proc_cpu(opt.broker_pid);
                        machine_times(&i0, &t0);
                        d = k == D_LOOP ? drain_loop(group, out)
                                        : drain_sluice(k == D_TUMBLING, group,
                                                       out);
                        b1 = proc_cpu(opt.broker_pid);
                        machine_times(&i1, &t1);
                        n = k == D_TUMBLING ? win_records : opt.records;
                        if (k == D_TUMBLING) {
                                /* the last count of every window adds up
                                 * to the input: every record counted once */
                                wc  = check_windows(out);
                                got = wc.updates;
                                if (wc.sum != win_records || wc.malformed ||
                                    (win_expect_windows >= 0 &&
                                     wc.windows != win_expect_windows)) {
                                        fprintf(stderr,
                                                "pipe: tumbling run %d: "
                                                "final counts sum to %lld "
                                                "over %ld windows (%ld "
                                                "malformed records), "
                                                "expected %ld over %ld\n",
                                                r + 1, wc.sum, wc.windows,
                                                wc.malformed, win_records,
                                                win_expect_windows);
                                        bad = 1;
                                }
                        } else if ((got = topic_count(out)) != expect_kept) {
                                fprintf(stderr,
                                        "pipe: %s run %d: output has %ld "
                                        "records, expected %ld\n",
                                        names[k], r + 1, got, expect_kept);
                                bad = 1;
                        }
                        rate[k][r] = (double)n / d.wall;
                        cpm[k][r]  = d.cpu / ((double)n / 1e6);
                        printf("run %d %-8s  %9.0f records/s  %6.3f CPU-s/M  "
                               "(wall %.2f s, CPU %.2f s, output %ld",
                               r + 1, names[k], rate[k][r], cpm[k][r], d.wall,
                               d.cpu, got);
                        if (k == D_TUMBLING) {
                                printf(" updates, %ld windows, final counts "
                                       "sum %lld",
                                       wc.windows, wc.sum);
                                if (wc.regressed)
                                        printf(", %ld updates not above "
                                               "the last", wc.regressed);
                        }
                        if (b0 >= 0 && b1 >= 0)
                                printf("; broker %.3f CPU-s/M", (b1 - b0) /
                                       ((double)n / 1e6));
                        if (t1 > t0)
                                printf("; machine idle %.0f%%",
                                       100 * (i1 - i0) / (t1 - t0));
                        printf(")\n");
                        fflush(stdout);
                }
                if (pair_on())
                        printf("run %d ratio     records/s %.3f  CPU/M %.3f\n",
                               r + 1, rate[D_SLUICE][r] / rate[D_LOOP][r],
                               cpm[D_SLUICE][r] / cpm[D_LOOP][r]);
        }
        print_load("end");
        /* outputs go at the end: the broker deletes a topic's files
         * file.delete.delay.ms (60 s) later, i.e. during a later drain */
        for (r = 0; !opt.keep_topics && r < opt.runs; r++)
                for (k = 0; k < DRAINS; k++) {
                        char out[160], clog[200];
                        if (!drain_on(k))
                                continue;
                        snprintf(out, sizeof(out), "pipe-out-%ld-%s-r%d", tag,
                                 names[k], r + 1);
                        topic_delete(out);
                        /* the window store's changelog */
                        snprintf(clog, sizeof(clog),
                                 "pipe-%ld-%s-r%d-win-changelog", tag,
                                 names[k], r + 1);
                        if (k == D_TUMBLING)
                                topic_delete(clog);
                }
        if (opt.workload != 2 && !opt.input) {
                if (!opt.keep_topics)
                        topic_delete(in_topic);
                else
                        printf("input kept: --input %s\n", in_topic);
        }
        if (opt.workload != 1 && !opt.window_input) {
                if (!opt.keep_topics)
                        topic_delete(win_topic);
                else
                        printf("windowed input kept: --window-input %s\n",
                               win_topic);
        }

        printf("median over %d run(s):\n", opt.runs);
        for (k = 0; k < DRAINS; k++)
                if (drain_on(k))
                        printf("  %-8s  %9.0f records/s  %6.3f CPU-s/M%s\n",
                               names[k], median(rate[k], opt.runs),
                               median(cpm[k], opt.runs),
                               k == D_TUMBLING
                                   ? "  (Sluice; no plain-loop counterpart)"
                                   : "");
        if (pair_on()) {
                double rr = median(rate[D_SLUICE], opt.runs) /
                            median(rate[D_LOOP], opt.runs);
                double cr = median(cpm[D_SLUICE], opt.runs) /
                            median(cpm[D_LOOP], opt.runs);
                double *pr = calloc((size_t)opt.runs, sizeof(double));
                double *pc = calloc((size_t)opt.runs, sizeof(double));
                for (r = 0; r < opt.runs; r++) {
                        pr[r] = rate[D_SLUICE][r] / rate[D_LOOP][r];
                        pc[r] = cpm[D_SLUICE][r] / cpm[D_LOOP][r];
                }
                printf("  sluice/loop  records/s %.3f (target >= 0.85)  "
                       "CPU/M %.3f (target <= %.3f)  %s\n",
                       rr, cr, 1 / 0.85,
                       rr >= 0.85 && cr <= 1 / 0.85 ? "MET" : "NOT MET");
                /* each run's pair shares the broker's state: steadier */
                printf("  median of the per-run ratios: records/s %.3f  "
                       "CPU/M %.3f\n",
                       median(pr, opt.runs), median(pc, opt.runs));
                free(pr);
                free(pc);
        }
        for (k = 0; k < DRAINS; k++) {
                free(rate[k]);
                free(cpm[k]);
        }
        return bad;
}
