/*
 * bench/peers/sluice_peer.c - Sluice's side of the side-by-side harness
 * (bench/peers/run): the workloads of bench/peers/peer_tool.c as Sluice
 * apps, one stream thread, the memory store, run until SIGTERM or SIGINT,
 * then closed (final commit, leave the group). The Kafka Streams
 * (bench/peers/kafka-streams/) and Quix Streams (bench/peers/quix/) sides
 * do the same work on the same topics with the same serdes.
 *
 *   sluice_peer WORKLOAD --bootstrap B --app-id ID --in TOPIC --out TOPIC
 *               [--table TOPIC] --guarantee at_least_once|exactly_once_v2
 *               --commit-interval-ms MS --state-dir DIR
 *
 *   pipe       source(bytes) -> map_values(flip byte 12's case)
 *              -> filter(drop '#' at byte 11) -> to
 *   wordcount  source(string) -> flat_map(word -> (word, word))
 *              -> group_by_key (repartition topic) -> count (memory store)
 *              -> to_stream -> to(string, int64)
 *   windows    source(bytes) -> group_by_key -> windowed_by(tumbling 1 min,
 *              no grace) -> count -> to_stream -> to(windowed bytes, int64)
 *   json       source(string, json) -> filter("ok" is true)
 *              -> map_values(add "tier") -> to
 *   enrich     table(--table, string, string; memory store "table");
 *              source(string, string) -> join_table(v + "|" + row) -> to
 *              in two steps, see load_table(): the table alone first, then
 *              the join (the table restored from its changelog)
 *
 * Prints "started" on stdout once sluice_app_start() returned (enrich:
 * before its first step, so that the table's load is timed).
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "sluice_peer"
#include "../bench_util.h"
#include "json_workload.h"

#define MARK_AT 11
#define FLIP_AT 12

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
        (void)sig;
        stop_flag = 1;
}

/* ---- pipe ---- */

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

/* ---- wordcount ---- */

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

/* ---- json ---- */

/* json_ok(), add_tier(): json_workload.h */

/* ---- enrich ---- */

/* The stream value, "|", the table row: Kafka Streams' (v, tv) -> v + "|"
 * + tv. One buffer per stream thread, reused: the string is copied. */
static _Thread_local char join_buf[65536];

static int join_row(const sluice_value_t *key, const sluice_value_t *left,
                    const sluice_value_t *right, sluice_value_t *out,
                    void *opaque) {
        size_t l, r;
        (void)key;
        (void)opaque;
        if (left->type != SLUICE_VALUE_STRING ||
            right->type != SLUICE_VALUE_STRING)
                return 1;
        l = left->u.bytes.len;
        r = right->u.bytes.len;
        if (l + 1 + r > sizeof(join_buf))
                return 1;
        memcpy(join_buf, left->u.bytes.data, l);
        join_buf[l] = '|';
        memcpy(join_buf + l + 1, right->u.bytes.data, r);
        *out = sluice_strn(join_buf, l + 1 + r);
        return 0;
}

/* The settings of every workload's app. */
typedef struct peer_args_s {
        const char *boot, *id, *guarantee, *interval, *state;
} peer_args_t;

static sluice_conf_t *peer_conf(const peer_args_t *a) {
        sluice_conf_t *c = sluice_conf_new();
        conf_set(c, "application.id", a->id);
        conf_set(c, "bootstrap.servers", a->boot);
        conf_set(c, "processing.guarantee", a->guarantee);
        conf_set(c, "num.stream.threads", "1");
        if (a->interval)
                conf_set(c, "commit.interval.ms", a->interval);
        if (a->state)
                conf_set(c, "state.dir", a->state);
        sluice_conf_set_log_cb(c, quiet_log, SLUICE_LOG_WARNING, NULL);
        {
                /* SLUICE_PEER_CONF="k=v,k=v": settings to try (e.g.
                 * consumer.queued.min.messages=10000); not used by run */
                const char *e = getenv("SLUICE_PEER_CONF");
                char buf[1024], *kv, *save = NULL;
                if (e && strlen(e) >= sizeof(buf))
                        die("%s", "SLUICE_PEER_CONF: longer than 1023 "
                                  "bytes");
                if (e) {
                        strcpy(buf, e);
                        for (kv = strtok_r(buf, ",", &save); kv;
                             kv = strtok_r(NULL, ",", &save)) {
                                char *eq = strchr(kv, '=');
                                if (!eq)
                                        die("SLUICE_PEER_CONF: \"%s\" is not "
                                            "k=v", kv);
                                *eq = '\0';
                                conf_set(c, kv, eq + 1);
                        }
                }
        }
        return c;
}

/* 1 once the group @a->id has committed the end of every partition of
 * @topic (as it is now: the table is loaded before the stream starts). */
static int committed_end(rd_kafka_t *rk, const char *topic, int parts) {
        rd_kafka_topic_partition_list_t *tp =
            rd_kafka_topic_partition_list_new(parts);
        int p, done = 1;
        for (p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(tp, topic, p);
        if (rd_kafka_committed(rk, tp, 10000))
                done = 0;
        for (p = 0; done && p < parts; p++) {
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                     10000) ||
                    tp->elems[p].offset < hi)
                        done = 0;
        }
        rd_kafka_topic_partition_list_destroy(tp);
        return done;
}

/* The partition count of @topic (dies without it). */
static int partitions_of(rd_kafka_t *rk, const char *topic) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt         = rd_kafka_topic_new(rk, topic, NULL);
        int parts;
        if (!rkt || rd_kafka_metadata(rk, 0, rkt, &md, 10000) ||
            md->topic_cnt != 1 || md->topics[0].partition_cnt < 1)
                die("no metadata for topic %s", topic);
        parts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return parts;
}

/* 1 if @topic holds records now. */
static int has_records(rd_kafka_t *rk, const char *topic) {
        int p, parts = partitions_of(rk, topic);
        for (p = 0; p < parts; p++) {
                int64_t lo = 0, hi = 0;
                if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi,
                                                     10000))
                        die("no offsets for topic %s", topic);
                if (hi > lo)
                        return 1;
        }
        return 0;
}

/*
 * enrich, step 1: an app of the same id with the table alone, until its
 * group has committed the table topic's end, then closed; step 2 (main())
 * is the join, whose task restores the store "table" from the changelog
 * step 1 wrote and reads the table topic on from its end.
 *
 * Why: Kafka Streams' task takes the record with the lowest timestamp
 * among its partitions' buffered records (and waits for a partition with
 * data on the broker but nothing fetched yet), so the table - whose
 * timestamps precede the stream's - is read before the stream records
 * that join it. Sluice's task processes records in the order its consumer
 * returns them: in one app, stream records fetched before their table
 * rows find no row and are dropped by the inner join (about 15% of them
 * in the short form). The time of step 1 is in the drain figure (the
 * caller prints "started" before it). Only when the stream topic @in
 * holds records already (the drains); with an empty one (the latency
 * phase, fed once the table is in) one app does it all, as Kafka Streams.
 */
static void load_table(const peer_args_t *a, const char *table,
                       const char *in) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_app_t *app;
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        int parts;

        sluice_table_from(t, table, sluice_serde_string(),
                          sluice_serde_string(), "table");
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology: %s", err);
        /* committed() only: this consumer never joins the group */
        if (rd_kafka_conf_set(rc, "bootstrap.servers", a->boot, err,
                              sizeof(err)) ||
            rd_kafka_conf_set(rc, "group.id", a->id, err, sizeof(err)))
                die("%s", err);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, rc, err, sizeof(err))))
                die("%s", err);
        if (!has_records(rk, in)) {
                rd_kafka_destroy(rk);
                sluice_topology_destroy(t);
                return;
        }
        parts = partitions_of(rk, table);

        if (!(app = sluice_app_new(t, peer_conf(a), err, sizeof(err))))
                die("sluice_app_new: %s", err);
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        while (!stop_flag && !committed_end(rk, table, parts)) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        die("the table's app failed: %s",
                            sluice_app_error(app));
                sleep_ms(50);
        }
        sluice_app_close(app);
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                die("the table's app failed: %s", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rd_kafka_destroy(rk);
}

static void usage(void) {
        fprintf(stderr,
                "usage: sluice_peer pipe|wordcount|windows|enrich|json "
                "--bootstrap B "
                "--app-id ID --in TOPIC --out TOPIC\n"
                "       [--table TOPIC] --guarantee G --commit-interval-ms MS "
                "--state-dir DIR\n");
        exit(2);
}

int main(int argc, char **argv) {
        const char *wl, *in = NULL, *out = NULL, *table = NULL;
        peer_args_t a = {NULL, NULL, "at_least_once", NULL, NULL};
        char err[512];
        sluice_topology_t *t;
        sluice_stream_t *s;
        sluice_conf_t *c;
        sluice_app_t *app;
        struct sigaction sa;
        int i;
        if (argc < 2)
                usage();
        wl = argv[1];
        for (i = 2; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--bootstrap"))
                        a.boot = argv[i + 1];
                else if (!strcmp(argv[i], "--app-id"))
                        a.id = argv[i + 1];
                else if (!strcmp(argv[i], "--in"))
                        in = argv[i + 1];
                else if (!strcmp(argv[i], "--out"))
                        out = argv[i + 1];
                else if (!strcmp(argv[i], "--table"))
                        table = argv[i + 1];
                else if (!strcmp(argv[i], "--guarantee"))
                        a.guarantee = argv[i + 1];
                else if (!strcmp(argv[i], "--commit-interval-ms"))
                        a.interval = argv[i + 1];
                else if (!strcmp(argv[i], "--state-dir"))
                        a.state = argv[i + 1];
                else
                        usage();
        }
        if (!a.boot || !a.id || !in || !out)
                usage();

        t = sluice_topology_new();
        if (!strcmp(wl, "pipe")) {
                s = sluice_stream_from(t, in, sluice_serde_bytes(),
                                       sluice_serde_bytes());
                s = sluice_stream_filter(sluice_stream_map_values(s, flip, NULL),
                                         keep, NULL);
                sluice_stream_to(s, out, NULL, NULL);
        } else if (!strcmp(wl, "wordcount")) {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_string());
                s = sluice_stream_flat_map(s, words, NULL);
                s = sluice_table_to_stream(sluice_grouped_count(
                    sluice_stream_group_by_key(s, sluice_serde_string(),
                                               sluice_serde_string()),
                    "counts"));
                sluice_stream_to(s, out, sluice_serde_string(),
                                 sluice_serde_int64());
        } else if (!strcmp(wl, "windows")) {
                sluice_windowed_t *w;
                s = sluice_stream_from(t, in, sluice_serde_bytes(),
                                       sluice_serde_bytes());
                w = sluice_grouped_windowed_by(
                    sluice_stream_group_by_key(s, NULL, NULL),
                    sluice_windows_tumbling(60000, 0));
                sluice_stream_to(
                    sluice_table_to_stream(sluice_windowed_count(w, "win")),
                    out, sluice_serde_bytes(), sluice_serde_int64());
        } else if (!strcmp(wl, "enrich")) {
                sluice_table_t *tbl;
                if (!table)
                        usage();
                tbl = sluice_table_from(t, table, sluice_serde_string(),
                                        sluice_serde_string(), "table");
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_string());
                s = sluice_stream_join_table(s, tbl, join_row, NULL,
                                             sluice_serde_string());
                sluice_stream_to(s, out, NULL, NULL);
        } else if (!strcmp(wl, "json")) {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_json());
                s = sluice_stream_map_values(
                    sluice_stream_filter(s, json_ok, NULL), add_tier, NULL);
                sluice_stream_to(s, out, NULL, NULL);
        } else
                usage();
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology: %s", err);

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (!strcmp(wl, "enrich")) {
                /* the clock starts before the table's load */
                printf("started\n");
                fflush(stdout);
                load_table(&a, table, in);
        }
        c = peer_conf(&a);
        if (!(app = sluice_app_new(t, c, err, sizeof(err))))
                die("sluice_app_new: %s", err);
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        if (strcmp(wl, "enrich")) {
                printf("started\n");
                fflush(stdout);
        }
        while (!stop_flag) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        die("the app failed: %s", sluice_app_error(app));
                sleep_ms(20);
        }
        {
                /* the threads' figures (commits: count, mean and max ms)
                 * into the log, for a look at where time went */
                char *mj = sluice_app_metrics_json(app);
                if (mj)
                        fprintf(stderr, "sluice_peer: metrics %s\n", mj);
                free(mj);
        }
        sluice_app_close(app);
        i = sluice_app_state(app) == SLUICE_APP_ERROR;
        if (i)
                fprintf(stderr, "sluice_peer: %s\n", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return i;
}
