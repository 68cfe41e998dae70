/*
 * bench/eos.c - what exactly-once costs: the same Sluice app under
 * processing.guarantee=at_least_once and exactly_once_v2, alternating in
 * one run on one broker, at the same commit interval.
 *
 * Two topologies, each over an input loaded once per invocation:
 *   pipe       source(bytes) -> map_values(flip one byte's case)
 *              -> filter(drop 1 in 10000) -> to: bench/pipe's records
 *              (--records, default 5M, 100-byte values, 4 partitions)
 *   wordcount  source(string lines of 8 words from a 10,000-word
 *              vocabulary) -> flat_map(words) -> group_by_key (through
 *              its repartition topic) -> count (memory store, changelog)
 *              -> to_stream -> to (--lines, default 1M: 8M words)
 * For each commit interval (--commit-intervals, default 100,1000) and
 * topology, --runs times (default 3): a drain under each guarantee, the
 * order alternating, each from the beginning with a fresh application.id
 * (group, internal topics) and output topic, one stream thread. Timed from
 * sluice_app_start() until every record went through the topology and
 * sluice_app_close() returned (final commit included); the process's CPU
 * time over the same window (librdkafka's threads included). Printed per
 * drain, then the medians and the overhead of exactly-once:
 * 1 - rate(EOS) / rate(ALOS) and CPU(EOS) / CPU(ALOS) - 1.
 *
 * Usage: bench/eos --bootstrap HOST:PORT [--records N] [--lines N]
 *                  [--runs R] [--commit-intervals MS[,MS...]]
 *                  [--topology pipe|wordcount|both] [--partitions P]
 *                  [--only alos|eos]   (one guarantee only: for a profiler)
 * bench/on-broker.sh eos (make bench-eos) starts a broker (scripts/kafka),
 * runs this, stops it.
 */
/* nftw(), for rm_tree() */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "eos"
#include "bench_util.h"

static struct {
        const char *bootstrap;
        long records, lines;
        int runs, partitions;
        int intervals[8], interval_cnt;
        int topologies; /* 1 pipe, 2 wordcount, 3 both */
        int only;       /* -1 both guarantees, 0 alos, 1 eos (profiling) */
} opt = {NULL, 5000000, 1000000, 3, 4, {100, 1000}, 2, 3, -1};

static char pipe_in[128], wc_in[128];
static long pipe_kept;

/* ---- topics ---- */

static void topic_create(const char *topic) {
        rd_kafka_t *rk      = admin_client(opt.bootstrap);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        char err[512];
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(topic, opt.partitions, -1, err, sizeof(err));
        rd_kafka_event_t *ev;
        if (!nt)
                die("%s", err);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* ---- inputs ---- */

#define MARK_AT 11
#define FLIP_AT 12

static void load(const char *topic, long n, int wordcount) {
        static const char *const props[][2] = {
            {"partitioner", "murmur2_random"},
            {"linger.ms", "20"},
            {"queue.buffering.max.messages", "1000000"},
        };
        rd_kafka_t *rk = load_producer(opt.bootstrap, props,
                                       sizeof(props) / sizeof(props[0]));
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        char key[24], val[128];
        double t0   = wall_now();
        uint64_t x = 88172645463325252ull;
        long i;
        int k, len;
        for (i = 0; i < n; i++) {
                int kl = snprintf(key, sizeof(key), "k%07ld", i % 10000000);
                if (wordcount) {
                        for (k = 0, len = 0; k < 8; k++) {
                                x ^= x << 13;
                                x ^= x >> 7;
                                x ^= x << 17;
                                len += snprintf(val + len,
                                                sizeof(val) - (size_t)len,
                                                k ? " w%04u" : "w%04u",
                                                (unsigned)(x % 10000));
                        }
                } else {
                        len = snprintf(val, sizeof(val), "%010ld ", i);
                        for (k = len; k < 100; k++)
                                val[k] = (char)('a' + k % 26);
                        len          = 100;
                        val[MARK_AT] = i % 10000 == 9999 ? '#' : 'm';
                        if (val[MARK_AT] != '#')
                                pipe_kept++;
                }
                produce_copy(rk, rkt, RD_KAFKA_PARTITION_UA, val, (size_t)len,
                             key, (size_t)kl);
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        flush_all(rk);
        if (load_failed)
                die("%s", "some input records were not delivered");
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        printf("loaded %ld %s into %s in %.1f s\n", n,
               wordcount ? "lines of 8 words" : "100-byte records", topic,
               wall_now() - t0);
        fflush(stdout);
}

/* ---- the topologies ---- */

static _Thread_local char map_buf[65536];

static int flip(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        if (v->type != SLUICE_VALUE_BYTES || v->u.bytes.len > sizeof(map_buf))
                return 0;
        memcpy(map_buf, v->u.bytes.data, v->u.bytes.len);
        if (v->u.bytes.len > FLIP_AT)
                map_buf[FLIP_AT] ^= 0x20;
        return sluice_record_set_value(rec,
                                       sluice_bytes(map_buf, v->u.bytes.len));
}

static bool keep(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return !(v->type == SLUICE_VALUE_BYTES && v->u.bytes.len > MARK_AT &&
                 ((const char *)v->u.bytes.data)[MARK_AT] == '#');
}

static int words(const sluice_record_t *rec, sluice_emitter_t *out,
                 void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p, *end;
        int err;
        (void)opaque;
        if (v->type != SLUICE_VALUE_STRING)
                return 0;
        p   = v->u.bytes.data;
        end = p + v->u.bytes.len;
        while (p < end) {
                const char *w;
                while (p < end && *p == ' ')
                        p++;
                w = p;
                while (p < end && *p != ' ')
                        p++;
                if (p > w &&
                    (err = sluice_emit(out, sluice_strn(w, (size_t)(p - w)),
                                       sluice_strn(w, (size_t)(p - w)))))
                        return err;
        }
        return 0;
}

static sluice_topology_t *topology(int wordcount, const char *out) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s;
        if (!wordcount) {
                s = sluice_stream_from(t, pipe_in, sluice_serde_bytes(),
                                       sluice_serde_bytes());
                s = sluice_stream_filter(sluice_stream_map_values(s, flip, NULL),
                                         keep, NULL);
                sluice_stream_to(s, out, NULL, NULL);
                return t;
        }
        s = sluice_stream_from(t, wc_in, sluice_serde_string(),
                               sluice_serde_string());
        s = sluice_stream_flat_map(s, words, NULL);
        s = sluice_table_to_stream(sluice_grouped_count(
            sluice_stream_group_by_key(s, sluice_serde_string(),
                                       sluice_serde_string()),
            "counts"));
        sluice_stream_to(s, out, sluice_serde_string(), sluice_serde_int64());
        return t;
}

/* ---- one drain ---- */

typedef struct {
        double wall, cpu, commit_ms; /* commit_ms: the average commit */
        unsigned long long commits, aborts;
} drain_t;

static double metric_double(sluice_app_t *app, const char *name) {
        char *json = sluice_app_metrics_json(app), key[64];
        const char *p;
        double v = 0;
        snprintf(key, sizeof(key), "\"%s\":", name);
        if (json && (p = strstr(json, key)))
                v = strtod(p + strlen(key), NULL);
        free(json);
        return v;
}

static unsigned long long metric(sluice_app_t *app, const char *name) {
        char *json = sluice_app_metrics_json(app), key[64];
        const char *p;
        unsigned long long n = 0;
        snprintf(key, sizeof(key), "\"%s\":", name);
        for (p = json; p && (p = strstr(p, key)); p += strlen(key))
                n += strtoull(p + strlen(key), NULL, 10);
        free(json);
        return n;
}

static drain_t drain(int wordcount, int eos, int interval, const char *id,
                     const char *out) {
        char err[512], v[24];
        sluice_topology_t *t = topology(wordcount, out);
        sluice_conf_t *c     = sluice_conf_new();
        sluice_app_t *app;
        drain_t d;
        double w0, c0;
        /* every record through the topology: the lines, then each word
         * through the repartition topic */
        uint64_t want = wordcount ? (uint64_t)opt.lines * 9
                                  : (uint64_t)opt.records;
        char state[256];
        snprintf(state, sizeof(state), "%s/sluice-bench-eos-%ld",
                 tmp_base(NULL), (long)getpid());
        conf_set(c, "application.id", id);
        conf_set(c, "bootstrap.servers", opt.bootstrap);
        conf_set(c, "state.dir", state);
        conf_set(c, "processing.guarantee",
                 eos ? "exactly_once_v2" : "at_least_once");
        snprintf(v, sizeof(v), "%d", interval);
        conf_set(c, "commit.interval.ms", v);
        sluice_conf_set_log_cb(c, quiet_log, SLUICE_LOG_WARNING, NULL);
        if (!(app = sluice_app_new(t, c, err, sizeof(err))))
                die("sluice_app_new: %s", err);
        w0 = wall_now();
        c0 = cpu_now();
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        while (sluice_app_processed(app) < want) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        die("the app failed: %s", sluice_app_error(app));
                if (wall_now() - w0 > 3600)
                        die("%s", "a drain took over an hour");
                sleep_ms(5);
        }
        sluice_app_close(app);
        d.wall    = wall_now() - w0;
        d.cpu     = cpu_now() - c0;
        d.commits   = metric(app, "commits");
        d.commit_ms = metric_double(app, "commit_latency_avg_ms");
        d.aborts  = metric(app, "transactions_aborted");
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                die("the app failed: %s", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rm_tree(state);
        return d;
}

static void usage(void) {
        fprintf(stderr,
                "usage: eos --bootstrap HOST:PORT [--records N] [--lines N] "
                "[--runs R]\n"
                "           [--commit-intervals MS[,MS...]] "
                "[--topology pipe|wordcount|both] [--partitions P]\n"
                "           [--only alos|eos]\n");
        exit(2);
}

int main(int argc, char **argv) {
        static const char *const g[] = {"alos", "eos"};
        long tag = (long)getpid();
        int i, ci, w;
        opt.bootstrap = getenv("SLUICE_BOOTSTRAP");
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
                        opt.bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--lines"))
                        opt.lines = num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--partitions"))
                        opt.partitions = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--topology") && i + 1 < argc) {
                        i++;
                        opt.topologies = !strcmp(argv[i], "pipe")        ? 1
                                         : !strcmp(argv[i], "wordcount") ? 2
                                         : !strcmp(argv[i], "both")      ? 3
                                                                          : 0;
                        if (!opt.topologies)
                                usage();
                } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
                        i++;
                        opt.only = !strcmp(argv[i], "alos")  ? 0
                                   : !strcmp(argv[i], "eos") ? 1
                                                             : -2;
                        if (opt.only == -2)
                                usage();
                } else if (!strcmp(argv[i], "--commit-intervals") &&
                           i + 1 < argc) {
                        char *list = argv[++i], *tok, *save = NULL;
                        opt.interval_cnt = 0;
                        for (tok = strtok_r(list, ",", &save);
                             tok && opt.interval_cnt < 8;
                             tok = strtok_r(NULL, ",", &save))
                                opt.intervals[opt.interval_cnt++] = atoi(tok);
                } else
                        usage();
        }
        if (!opt.bootstrap || !opt.interval_cnt)
                usage();
        printf("eos: librdkafka %s, sluice %s, broker %s; pipe %ld records, "
               "wordcount %ld lines, %d partitions, %d run(s), one stream "
               "thread\n",
               rd_kafka_version_str(), sluice_version_str(), opt.bootstrap,
               opt.records, opt.lines, opt.partitions, opt.runs);
        if (opt.topologies & 1) {
                snprintf(pipe_in, sizeof(pipe_in), "eos-pipe-in-%ld", tag);
                topic_create(pipe_in);
                load(pipe_in, opt.records, 0);
        }
        if (opt.topologies & 2) {
                snprintf(wc_in, sizeof(wc_in), "eos-wc-in-%ld", tag);
                topic_create(wc_in);
                load(wc_in, opt.lines, 1);
        }
        for (w = 0; w < 2; w++) {
                if (!(opt.topologies & (1 << w)))
                        continue;
                for (ci = 0; ci < opt.interval_cnt; ci++) {
                        double *rate[2], *cpm[2], *share[2],
                            n = w ? (double)opt.lines : (double)opt.records;
                        int r, k, interval = opt.intervals[ci];
                        for (k = 0; k < 2; k++) {
                                rate[k]  = calloc((size_t)opt.runs, sizeof(double));
                                cpm[k]   = calloc((size_t)opt.runs, sizeof(double));
                                share[k] = calloc((size_t)opt.runs, sizeof(double));
                        }
                        for (r = 0; r < opt.runs; r++)
                                for (i = 0; i < 2; i++) {
                                        char id[160], out[200];
                                        drain_t d;
                                        k = (i + r) % 2; /* alternate */
                                        if (opt.only >= 0 && k != opt.only)
                                                continue;
                                        snprintf(id, sizeof(id),
                                                 "eos-%ld-%s-%d-%s-r%d", tag,
                                                 w ? "wc" : "pipe", interval,
                                                 g[k], r + 1);
                                        snprintf(out, sizeof(out), "%s-out", id);
                                        topic_create(out);
                                        d = drain(w, k, interval, id, out);
                                        rate[k][r]  = n / d.wall;
                                        cpm[k][r]   = d.cpu / (n / 1e6);
                                        share[k][r] = (double)d.commits *
                                                      d.commit_ms / 1000.0 /
                                                      d.wall;
                                        printf("%-9s commit %4d ms run %d "
                                               "%-4s %9.0f %s/s %7.3f "
                                               "CPU-s/M (wall %.2f s, CPU "
                                               "%.2f s, %llu commits of "
                                               "%.1f ms: %.1f%% of the "
                                               "wall, %llu aborted)\n",
                                               w ? "wordcount" : "pipe",
                                               interval, r + 1, g[k],
                                               rate[k][r],
                                               w ? "lines" : "records",
                                               cpm[k][r], d.wall, d.cpu,
                                               d.commits, d.commit_ms,
                                               100.0 * share[k][r], d.aborts);
                                        fflush(stdout);
                                }
                        if (opt.only < 0) {
                                double ra = median(rate[0], opt.runs),
                                       re = median(rate[1], opt.runs),
                                       ca = median(cpm[0], opt.runs),
                                       ce = median(cpm[1], opt.runs),
                                       *pr = calloc((size_t)opt.runs,
                                                    sizeof(double));
                                for (r = 0; r < opt.runs; r++)
                                        pr[r] = rate[1][r] / rate[0][r];
                                printf("MEDIAN %-9s commit %4d ms: alos %9.0f "
                                       "%s/s %.3f CPU-s/M, commits %.1f%% of "
                                       "the wall | eos %9.0f %s/s %.3f "
                                       "CPU-s/M, commits %.1f%% | "
                                       "throughput overhead %.1f%% (of the "
                                       "medians; %.1f%% by the median of the "
                                       "runs' pairs; target <= 10%%), CPU "
                                       "%+.1f%%\n",
                                       w ? "wordcount" : "pipe", interval, ra,
                                       w ? "lines" : "rec", ca,
                                       100.0 * median(share[0], opt.runs), re,
                                       w ? "lines" : "rec", ce,
                                       100.0 * median(share[1], opt.runs),
                                       100.0 * (1.0 - re / ra),
                                       100.0 * (1.0 - median(pr, opt.runs)),
                                       100.0 * (ce / ca - 1.0));
                                fflush(stdout);
                                free(pr);
                        }
                        for (k = 0; k < 2; k++) {
                                free(rate[k]);
                                free(cpm[k]);
                                free(share[k]);
                        }
                }
        }
        (void)pipe_kept;
        return 0;
}
