/*
 * test_timestamps.c - what a record's timestamp is: an extractor callback
 * per source with the partition time it is given, the extracted time
 * downstream (sinks, aggregations, stream time and its punctuation), each
 * default.timestamp.extractor policy on negative Kafka timestamps, records
 * dropped for a negative extracted timestamp, the metrics that count them
 * (driver and app), the conf key and the builder's mistakes.
 */
#include "helpers.h"
#include "kafka_util.h"
#include "test_list.h"
#include "test_util.h"

#include "../lib/task.h" /* sl_task_process() with several partitions */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>

/* ---- helpers ---- */

#define MAX_CALLS 16

/* What the extractor saw, call by call. */
typedef struct {
        int n;
        char topic[MAX_CALLS][16];
        int32_t partition[MAX_CALLS];
        int64_t offset[MAX_CALLS], kafka_ts[MAX_CALLS], ptime[MAX_CALLS];
} calls_t;

/* The value's "ts" field (a JSON object); without one, the partition
 * time. */
static int64_t ts_from_json(const sluice_record_t *rec, int64_t ptime,
                            void *opaque) {
        calls_t *c              = opaque;
        const sluice_value_t *v = sluice_record_value(rec);
        json_t *ts;
        if (c && c->n < MAX_CALLS) {
                snprintf(c->topic[c->n], sizeof(c->topic[0]), "%s",
                         sluice_record_topic(rec));
                c->partition[c->n] = sluice_record_partition(rec);
                c->offset[c->n]    = sluice_record_offset(rec);
                c->kafka_ts[c->n]  = sluice_record_timestamp(rec);
                c->ptime[c->n]     = ptime;
                c->n++;
        }
        if (v->type != SLUICE_VALUE_JSON ||
            !(ts = json_object_get(v->u.json, "ts")) || !json_is_integer(ts))
                return ptime;
        return (int64_t)json_integer_value(ts);
}

static void expect_call(const calls_t *c, int i, const char *topic,
                        int32_t partition, int64_t offset, int64_t kafka_ts,
                        int64_t ptime) {
        ck_assert_int_gt(c->n, i);
        ck_assert_str_eq(c->topic[i], topic);
        ck_assert_int_eq(c->partition[i], partition);
        ck_assert_int_eq(c->offset[i], offset);
        ck_assert_int_eq(c->kafka_ts[i], kafka_ts);
        ck_assert_int_eq(c->ptime[i], ptime);
}

static sluice_driver_t *driver(sluice_topology_t *t, sluice_conf_t *c) {
        char err[512];
        sluice_driver_t *drv = sluice_driver_new(t, c, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        return drv;
}

/* A conf with default.timestamp.extractor=@policy (NULL: unset) and the
 * log lines collected in @log (NULL: dropped). */
typedef struct {
        mtx_t lock;
        char text[4096];
} log_t;

static void on_log(sluice_log_level_t level, const char *fac, const char *msg,
                   void *opaque) {
        log_t *l = opaque;
        size_t n;
        mtx_lock(&l->lock);
        n = strlen(l->text);
        snprintf(l->text + n, sizeof(l->text) - n, "%d %s: %s\n", (int)level,
                 fac, msg);
        mtx_unlock(&l->lock);
}

static sluice_conf_t *ts_conf(const char *policy, log_t *log) {
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_ptr_nonnull(c);
        if (policy)
                tu_set(c, "default.timestamp.extractor", policy);
        if (log) {
                mtx_init(&log->lock, mtx_plain);
                log->text[0] = '\0';
                sluice_conf_set_log_cb(c, on_log, SLUICE_LOG_DEBUG, log);
        } else {
                sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        }
        return c;
}

static int pipe_v(sluice_driver_t *drv, const char *topic, const char *value,
                  int64_t ts) {
        return sluice_driver_pipe_str(drv, topic, "k", value, ts);
}

/* in (string, string) -> out */
static sluice_topology_t *passthrough(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_to(sluice_stream_from(t, "in", sluice_serde_string(),
                                            sluice_serde_string()),
                         "out", NULL, NULL);
        return t;
}

static void expect_metrics(sluice_driver_t *drv, const char *want) {
        char *m = sluice_driver_metrics_json(drv);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m, want);
        free(m);
}

/* Kafka's 8-byte big-endian long, into @buf. */
static const char *be64_str(int64_t v, char *buf) {
        int i;
        for (i = 0; i < 8; i++)
                buf[i] = (char)((uint64_t)v >> (56 - 8 * i));
        return buf;
}

/* ---- the extractor ---- */

/* Two topics on one source: each has its own partition time, which is the
 * largest timestamp extracted on it before the record (out-of-order ones
 * leave it); the callback sees the Kafka timestamp, also a negative one. */
START_TEST(extractor_gets_each_topics_partition_time) {
        calls_t calls = {0};
        const char *topics[] = {"a", "b"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from_topics(
            t, topics, 2, sluice_serde_string(), sluice_serde_json());
        sluice_driver_t *drv;
        ck_assert_int_eq(
            sluice_stream_set_timestamp_extractor(s, ts_from_json, &calls), 0);
        sluice_stream_to(s, "out", NULL, NULL);
        drv = driver(t, NULL);

        ck_assert_int_eq(pipe_v(drv, "a", "{\"ts\":100}", 7), 0);
        ck_assert_int_eq(pipe_v(drv, "a", "{\"ts\":50}", 8), 0);
        ck_assert_int_eq(pipe_v(drv, "b", "{\"ts\":70}", 9), 0);
        /* a negative Kafka timestamp is the extractor's to judge */
        ck_assert_int_eq(pipe_v(drv, "a", "{\"ts\":300}", -1), 0);
        ck_assert_int_eq(pipe_v(drv, "b", "{\"ts\":60}", 10), 0);
        ck_assert_int_eq(pipe_v(drv, "b", "{}", 11), 0); /* partition time */

        ck_assert_int_eq(calls.n, 6);
        expect_call(&calls, 0, "a", 0, 0, 7, -1);
        expect_call(&calls, 1, "a", 0, 1, 8, 100);
        expect_call(&calls, 2, "b", 0, 0, 9, -1);
        expect_call(&calls, 3, "a", 0, 2, -1, 100);
        expect_call(&calls, 4, "b", 0, 1, 10, 70);
        expect_call(&calls, 5, "b", 0, 2, 11, 70);

        /* the extracted timestamps are the records' */
        ck_assert_output(drv, "out", "k", "{\"ts\":100}", 100);
        ck_assert_output(drv, "out", "k", "{\"ts\":50}", 50);
        ck_assert_output(drv, "out", "k", "{\"ts\":70}", 70);
        ck_assert_output(drv, "out", "k", "{\"ts\":300}", 300);
        ck_assert_output(drv, "out", "k", "{\"ts\":60}", 60);
        ck_assert_output(drv, "out", "k", "{}", 70);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":6,"
                            "\"processed\":6,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":0,"
                            "\"stream_time\":300,\"operators\":{}}]}");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

typedef struct {
        int n;
        int64_t ts[8];
} written_t;

static int collect_write(void *opaque, const sl_node_t *sink,
                         const char *topic, int32_t partition, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         int64_t timestamp, const sluice_header_t *headers,
                         size_t header_cnt, char *errstr, size_t errstr_size) {
        written_t *w = opaque;
        (void)sink, (void)topic, (void)partition, (void)key, (void)key_len;
        (void)value, (void)value_len, (void)headers, (void)header_cnt;
        (void)errstr, (void)errstr_size;
        if (w->n < 8)
                w->ts[w->n++] = timestamp;
        return 0;
}

static int32_t one_partition(void *opaque, const char *topic) {
        (void)opaque, (void)topic;
        return 1;
}

/* Partition time is per partition of a topic too: a task run directly
 * with records of partitions 0 and 1 interleaved. */
START_TEST(partition_time_is_per_partition) {
        char err[512];
        calls_t calls = {0};
        written_t w   = {0};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_json());
        const sl_node_t *src;
        sluice_conf_t *quiet;
        sl_task_t task;
        static const struct {
                int32_t partition;
                const char *value;
                int64_t ptime;
        } in[] = {{0, "{\"ts\":100}", -1}, {1, "{\"ts\":40}", -1},
                  {0, "{\"ts\":20}", 100}, {1, "{\"ts\":90}", 40},
                  {1, "{\"ts\":95}", 90},  {0, "{\"ts\":-3}", 100},
                  {0, "{\"ts\":110}", 100}};
        size_t i;
        sluice_stream_set_timestamp_extractor(s, ts_from_json, &calls);
        sluice_stream_to(s, "out", NULL, NULL);
        ck_assert_msg(sl_topology_freeze(t, "ts-test", err, sizeof(err)) == 0,
                      "%s", err);
        src = sl_topology_source_for(t, "in");
        ck_assert_ptr_nonnull(src);
        quiet = ts_conf(NULL, NULL);
        sl_task_init(&task, t, quiet, 0, 0, collect_write, one_partition, &w);
        for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                ck_assert_int_eq(
                    sl_task_process(&task, src, "in", in[i].partition,
                                    (int64_t)i, "k", 1, in[i].value,
                                    strlen(in[i].value), 1, NULL, 0),
                    0);
        ck_assert_int_eq(calls.n, 7);
        for (i = 0; i < sizeof(in) / sizeof(in[0]); i++)
                expect_call(&calls, (int)i, "in", in[i].partition, (int64_t)i,
                            1, in[i].ptime);
        /* -3 was dropped: no output, no time moved */
        ck_assert_int_eq(w.n, 6);
        ck_assert_int_eq(w.ts[0], 100);
        ck_assert_int_eq(w.ts[1], 40);
        ck_assert_int_eq(w.ts[2], 20);
        ck_assert_int_eq(w.ts[3], 90);
        ck_assert_int_eq(w.ts[4], 95);
        ck_assert_int_eq(w.ts[5], 110);
        ck_assert_int_eq(task.stream_time, 110);
        ck_assert_uint_eq(task.skipped_invalid_timestamp, 1);
        ck_assert_uint_eq(task.processed, 6);
        sl_task_destroy(&task);
        sluice_conf_destroy(quiet);
        sluice_topology_destroy(t);
}
END_TEST

/* An aggregation downstream and a table source see extracted time. */
START_TEST(aggregation_and_table_see_extracted_time) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_json());
        sluice_table_t *tbl;
        sluice_driver_t *drv;
        const sluice_output_t *o;
        char want[8];
        sluice_stream_set_timestamp_extractor(s, ts_from_json, NULL);
        sluice_stream_to(
            sluice_table_to_stream(sluice_grouped_count(
                sluice_stream_group_by_key(s, NULL, NULL), "counts")),
            "counts-out", sluice_serde_string(), sluice_serde_int64());
        tbl = sluice_table_from(t, "tin", sluice_serde_string(),
                                sluice_serde_json(), "rows");
        ck_assert_int_eq(
            sluice_table_set_timestamp_extractor(tbl, ts_from_json, NULL), 0);
        sluice_stream_to(sluice_table_to_stream(tbl), "rows-out", NULL, NULL);
        drv = driver(t, NULL);

        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":500}", 1), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":200}", 2), 0);
        /* a count carries the largest timestamp of its records */
        o = sluice_driver_read(drv, "counts-out");
        ck_assert_ptr_nonnull(o);
        ck_assert_mem_eq(o->value, be64_str(1, want), 8);
        ck_assert_int_eq(o->timestamp, 500);
        o = sluice_driver_read(drv, "counts-out");
        ck_assert_ptr_nonnull(o);
        ck_assert_mem_eq(o->value, be64_str(2, want), 8);
        ck_assert_int_eq(o->timestamp, 500);
        ck_assert_ptr_null(sluice_driver_read(drv, "counts-out"));

        ck_assert_int_eq(pipe_v(drv, "tin", "{\"ts\":42}", 3), 0);
        ck_assert_output(drv, "rows-out", "k", "{\"ts\":42}", 42);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

typedef struct {
        int punct, n;
        int64_t punct_ts[8], rec_ts[8], stream_time[8];
} clock_t_;

static int tick(sluice_context_t *ctx, int64_t ts, void *opaque) {
        clock_t_ *c = opaque;
        (void)ctx;
        if (c->punct < 8)
                c->punct_ts[c->punct] = ts;
        c->punct++;
        return 0;
}
static int clock_init(sluice_context_t *ctx, void *opaque) {
        return sluice_context_schedule(ctx, SLUICE_PUNCTUATE_STREAM_TIME, 100,
                                       tick, opaque);
}
static int clock_process(sluice_context_t *ctx, const sluice_record_t *rec,
                         void *opaque) {
        clock_t_ *c = opaque;
        if (c->n < 8) {
                c->rec_ts[c->n]      = sluice_record_timestamp(rec);
                c->stream_time[c->n] = sluice_context_stream_time(ctx);
                c->n++;
        }
        return 0;
}

/* Stream time and its punctuation follow the extracted time, never the
 * Kafka one (here far ahead), and dropped records move neither. */
START_TEST(stream_time_and_punctuation_follow_extracted_time) {
        clock_t_ c           = {0};
        sluice_processor_t p = {clock_init, clock_process, NULL, &c};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_json());
        sluice_driver_t *drv;
        sluice_stream_set_timestamp_extractor(s, ts_from_json, NULL);
        sluice_stream_process(s, &p, NULL, 0);
        drv = driver(t, ts_conf(NULL, NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":50}", 1000000), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":150}", 1000000), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":120}", 1000000), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":-1}", 1000000), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "{\"ts\":420}", 1000000), 0);
        ck_assert_int_eq(c.n, 4);
        ck_assert_int_eq(c.rec_ts[0], 50);
        ck_assert_int_eq(c.rec_ts[1], 150);
        ck_assert_int_eq(c.rec_ts[2], 120);
        ck_assert_int_eq(c.rec_ts[3], 420);
        ck_assert_int_eq(c.stream_time[0], 50);
        ck_assert_int_eq(c.stream_time[1], 150);
        ck_assert_int_eq(c.stream_time[2], 150);
        ck_assert_int_eq(c.stream_time[3], 420);
        /* first run at the first record, then once per 100 ms boundary
         * crossed */
        ck_assert_int_eq(c.punct, 3);
        ck_assert_int_eq(c.punct_ts[0], 50);
        ck_assert_int_eq(c.punct_ts[1], 150);
        ck_assert_int_eq(c.punct_ts[2], 420);
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":5,"
                            "\"processed\":4,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":1,"
                            "\"stream_time\":420,\"operators\":{}}]}");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

static int64_t bad_is_negative(const sluice_record_t *rec, int64_t ptime,
                               void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        calls_t *c              = opaque;
        if (c && c->n < MAX_CALLS)
                c->ptime[c->n++] = ptime;
        if (v->type == SLUICE_VALUE_STRING && !strcmp(v->u.bytes.data, "bad"))
                return -5;
        return sluice_record_timestamp(rec);
}

/* An extractor's negative answer drops the record (warning, counted), and
 * neither partition time nor stream time moves; its offset is done with. */
START_TEST(extractor_returning_negative_drops_the_record) {
        log_t log;
        calls_t calls        = {0};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_driver_t *drv;
        sluice_stream_set_timestamp_extractor(s, bad_is_negative, &calls);
        sluice_stream_to(s, "out", NULL, NULL);
        /* even under use_partition_time_on_invalid: that policy is for
         * sources without an extractor */
        drv = driver(t, ts_conf("use_partition_time_on_invalid", &log));
        ck_assert_int_eq(pipe_v(drv, "in", "good", 10), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "bad", 99), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "good", 5), 0);
        ck_assert_int_eq(calls.n, 3);
        ck_assert_int_eq(calls.ptime[0], -1);
        ck_assert_int_eq(calls.ptime[1], 10);
        ck_assert_int_eq(calls.ptime[2], 10); /* not 99, not -5 */
        ck_assert_output(drv, "out", "k", "good", 10);
        ck_assert_output(drv, "out", "k", "good", 5);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_str_eq(
            log.text,
            "4 RECORD: skipping record at topic \"in\" partition 0 offset 1: "
            "node \"KSTREAM-SOURCE-0000000000\": the timestamp extractor "
            "returned -5 (negative: invalid)\n");
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":3,"
                            "\"processed\":2,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":1,"
                            "\"stream_time\":10,\"operators\":{}}]}");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

static int boom(sluice_context_t *ctx, const sluice_record_t *rec,
                void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)ctx, (void)opaque;
        return (v->type == SLUICE_VALUE_STRING &&
                !strcmp(v->u.bytes.data, "boom")) ||
               (v->type == SLUICE_VALUE_INT64 && v->u.i64 == 666);
}

/* A record that fails after a dropped one gets its own message, not the
 * drop's (the task's message is per record). */
START_TEST(failure_after_a_drop_has_its_own_message) {
        sluice_processor_t p = {NULL, boom, NULL, NULL};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_driver_t *drv;
        sluice_stream_set_timestamp_extractor(s, bad_is_negative, NULL);
        sluice_stream_process(s, &p, NULL, 0);
        drv = driver(t, ts_conf(NULL, NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "bad", 1), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "boom", 2), SLUICE_ERR_CALLBACK);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-PROCESSOR-0000000001\": process "
                         "callback failed (record at topic \"in\" partition 0 "
                         "offset 1)");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);

        /* the same after a record skipped as undecodable */
        t = sluice_topology_new();
        sluice_stream_process(sluice_stream_from(t, "in", sluice_serde_string(),
                                                 sluice_serde_int64()),
                              &p, NULL, 0);
        {
                sluice_conf_t *c = ts_conf(NULL, NULL);
                char v[8];
                tu_set(c, "default.deserialization.exception.handler",
                       "log_and_continue");
                drv = driver(t, c);
                ck_assert_int_eq(pipe_v(drv, "in", "abc", 1), 0);
                ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1,
                                                    be64_str(666, v), 8, 2,
                                                    NULL, 0),
                                 SLUICE_ERR_CALLBACK);
        }
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-PROCESSOR-0000000001\": process "
                         "callback failed (record at topic \"in\" partition 0 "
                         "offset 1)");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- default.timestamp.extractor ---- */

/* The default fails a record with a negative timestamp, fatally: the
 * processing.exception.handler is not asked (Kafka Streams throws a
 * StreamsException from FailOnInvalidTimestamp). */
START_TEST(fail_on_invalid_is_the_default) {
        sluice_topology_t *t = passthrough();
        sluice_conf_t *c     = ts_conf(NULL, NULL);
        sluice_driver_t *drv;
        ck_assert_str_eq(sluice_conf_get(c, "default.timestamp.extractor"),
                         "fail_on_invalid");
        tu_set(c, "processing.exception.handler", "log_and_continue");
        drv = driver(t, c);
        ck_assert_int_eq(pipe_v(drv, "in", "v0", 0), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v1", -1), SLUICE_ERR_TIMESTAMP);
        ck_assert_str_eq(
            sluice_driver_last_error(drv),
            "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) "
            "timestamp -1 (default.timestamp.extractor=fail_on_invalid; "
            "log_and_skip_on_invalid, use_partition_time_on_invalid or a "
            "timestamp extractor would process it) (record at topic \"in\" "
            "partition 0 offset 1)");
        ck_assert_output(drv, "out", "k", "v0", 0);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":2,"
                            "\"processed\":1,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":0,"
                            "\"stream_time\":0,\"operators\":{}}]}");
        sluice_driver_destroy(drv);

        /* no conf at all: the same */
        drv = driver(t, NULL);
        ck_assert_int_eq(pipe_v(drv, "in", "v", -7), SLUICE_ERR_TIMESTAMP);
        ck_assert_ptr_nonnull(strstr(sluice_driver_last_error(drv),
                                     "invalid (negative) timestamp -7 "));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_TIMESTAMP),
                         "Invalid record timestamp");
}
END_TEST

START_TEST(log_and_skip_on_invalid_drops_and_counts) {
        log_t log;
        sluice_topology_t *t = passthrough();
        sluice_driver_t *drv =
            driver(t, ts_conf("log_and_skip_on_invalid", &log));
        ck_assert_int_eq(pipe_v(drv, "in", "v0", 20), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v1", -1), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v2", -5), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v3", 10), 0);
        ck_assert_str_eq(sluice_driver_last_error(drv), "");
        ck_assert_output(drv, "out", "k", "v0", 20);
        ck_assert_output(drv, "out", "k", "v3", 10);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_str_eq(
            log.text,
            "4 RECORD: skipping record at topic \"in\" partition 0 offset 1: "
            "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) timestamp "
            "-1 (default.timestamp.extractor=log_and_skip_on_invalid)\n"
            "4 RECORD: skipping record at topic \"in\" partition 0 offset 2: "
            "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) timestamp "
            "-5 (default.timestamp.extractor=log_and_skip_on_invalid)\n");
        /* stream time is 20: the skipped ones moved nothing */
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":4,"
                            "\"processed\":2,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":2,"
                            "\"stream_time\":20,\"operators\":{}}]}");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

/* Kafka Streams' class names work as the value, with or without the
 * package, and a copied conf keeps the choice. */
START_TEST(kafka_streams_class_names_are_aliases) {
        sluice_topology_t *t = passthrough();
        sluice_conf_t *c     = ts_conf("org.apache.kafka.streams.processor."
                                       "LogAndSkipOnInvalidTimestamp",
                                       NULL);
        sluice_conf_t *dup   = sluice_conf_dup(c);
        sluice_driver_t *drv;
        sluice_conf_destroy(c);
        ck_assert_str_eq(sluice_conf_get(dup, "default.timestamp.extractor"),
                         "org.apache.kafka.streams.processor."
                         "LogAndSkipOnInvalidTimestamp");
        drv = driver(t, dup);
        ck_assert_int_eq(pipe_v(drv, "in", "v", -1), 0);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);

        drv = driver(t, ts_conf("UsePartitionTimeOnInvalidTimestamp", NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "v", 8), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v", -1), 0);
        ck_assert_output(drv, "out", "k", "v", 8);
        ck_assert_output(drv, "out", "k", "v", 8);
        sluice_driver_destroy(drv);

        drv = driver(t, ts_conf("FailOnInvalidTimestamp", NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "v", -1), SLUICE_ERR_TIMESTAMP);
        sluice_driver_destroy(drv);
        drv = driver(t, ts_conf("org.apache.kafka.streams.processor."
                                "FailOnInvalidTimestamp",
                                NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "v", -1), SLUICE_ERR_TIMESTAMP);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* The partition time replaces a negative timestamp; before there is one,
 * the record fails as under fail_on_invalid. Each topic has its own. */
START_TEST(use_partition_time_on_invalid_substitutes) {
        const char *topics[] = {"a", "b"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_from_topics(t, topics, 2,
                                                   sluice_serde_string(),
                                                   sluice_serde_string()),
                         "out", NULL, NULL);
        drv = driver(t, ts_conf("use_partition_time_on_invalid", NULL));
        ck_assert_int_eq(pipe_v(drv, "a", "a0", -1), SLUICE_ERR_TIMESTAMP);
        ck_assert_str_eq(
            sluice_driver_last_error(drv),
            "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) "
            "timestamp -1 and no partition time yet to use instead "
            "(default.timestamp.extractor=use_partition_time_on_invalid) "
            "(record at topic \"a\" partition 0 offset 0)");
        ck_assert_int_eq(pipe_v(drv, "a", "a1", 100), 0);
        ck_assert_int_eq(pipe_v(drv, "a", "a2", -1), 0);
        ck_assert_int_eq(pipe_v(drv, "a", "a3", 40), 0);
        ck_assert_int_eq(pipe_v(drv, "a", "a4", -9), 0);
        /* b has no partition time yet, whatever a has */
        ck_assert_int_eq(pipe_v(drv, "b", "b0", -1), SLUICE_ERR_TIMESTAMP);
        ck_assert_str_eq(
            sluice_driver_last_error(drv),
            "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) "
            "timestamp -1 and no partition time yet to use instead "
            "(default.timestamp.extractor=use_partition_time_on_invalid) "
            "(record at topic \"b\" partition 0 offset 0)");
        ck_assert_int_eq(pipe_v(drv, "b", "b1", 7), 0);
        ck_assert_int_eq(pipe_v(drv, "b", "b2", -1), 0);
        ck_assert_output(drv, "out", "k", "a1", 100);
        ck_assert_output(drv, "out", "k", "a2", 100);
        ck_assert_output(drv, "out", "k", "a3", 40);
        ck_assert_output(drv, "out", "k", "a4", 100);
        ck_assert_output(drv, "out", "k", "b1", 7);
        ck_assert_output(drv, "out", "k", "b2", 7);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":8,"
                            "\"processed\":6,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":0,"
                            "\"stream_time\":100,\"operators\":{}}]}");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(conf_values_and_messages) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        const char *ok[] = {
            "fail_on_invalid",
            "log_and_skip_on_invalid",
            "use_partition_time_on_invalid",
            "FailOnInvalidTimestamp",
            "LogAndSkipOnInvalidTimestamp",
            "UsePartitionTimeOnInvalidTimestamp",
            "org.apache.kafka.streams.processor.FailOnInvalidTimestamp",
            "org.apache.kafka.streams.processor.LogAndSkipOnInvalidTimestamp",
            ("org.apache.kafka.streams.processor."
             "UsePartitionTimeOnInvalidTimestamp")};
        const char *bad[] = {
            "", "fail", "FAIL_ON_INVALID",
            "org.apache.kafka.streams.processor.fail_on_invalid",
            "org.apache.kafka.streams.processor.WallclockTimestampExtractor",
            "org.apache.kafka.streams.FailOnInvalidTimestamp"};
        size_t i;
        for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ck_assert_msg(sluice_conf_set(c, "default.timestamp.extractor",
                                              ok[i], err, sizeof(err)) == 0,
                              "%s: %s", ok[i], err);
                ck_assert_str_eq(
                    sluice_conf_get(c, "default.timestamp.extractor"), ok[i]);
        }
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char want[1024];
                ck_assert_int_eq(sluice_conf_set(c,
                                                 "default.timestamp.extractor",
                                                 bad[i], err, sizeof(err)),
                                 SLUICE_ERR_INVALID_CONF);
                snprintf(want, sizeof(want),
                         "Invalid value \"%s\" for configuration property "
                         "\"default.timestamp.extractor\": expected "
                         "fail_on_invalid, log_and_skip_on_invalid or "
                         "use_partition_time_on_invalid (or Kafka Streams' "
                         "FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp"
                         ", UsePartitionTimeOnInvalidTimestamp, with or "
                         "without the package "
                         "org.apache.kafka.streams.processor)",
                         bad[i]);
                ck_assert_str_eq(err, want);
        }
        /* a refused value leaves the last good one */
        ck_assert_str_eq(sluice_conf_get(c, "default.timestamp.extractor"),
                         ok[sizeof(ok) / sizeof(ok[0]) - 1]);
        sluice_conf_destroy(c);
}
END_TEST

/* ---- builder ---- */

static int upper1(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_value(rec, sluice_str("X"));
}

static void expect_mistake(sluice_topology_t *t, const char *want) {
        char err[1024];
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(err, want);
        ck_assert_ptr_null(sluice_driver_new(t, NULL, err, sizeof(err)));
        ck_assert_str_eq(err, want);
        sluice_topology_destroy(t);
}

START_TEST(builder_refuses_non_sources) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", NULL, NULL);
        sluice_stream_t *m   = sluice_stream_map_values(s, upper1, NULL);
        sluice_table_t *tbl;
        char err[512];
        sluice_driver_t *drv;

        ck_assert_int_eq(sluice_stream_set_timestamp_extractor(NULL,
                                                               ts_from_json,
                                                               NULL),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_int_eq(sluice_table_set_timestamp_extractor(NULL,
                                                              ts_from_json,
                                                              NULL),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_int_eq(
            sluice_stream_set_timestamp_extractor(m, ts_from_json, NULL),
            SLUICE_ERR_TOPOLOGY);
        expect_mistake(t, "sluice_stream_set_timestamp_extractor: the stream "
                          "of node \"KSTREAM-MAPVALUES-0000000001\" is not a "
                          "source stream (only a stream from "
                          "sluice_stream_from*() takes a timestamp "
                          "extractor)");

        t = sluice_topology_new();
        s = sluice_stream_from(t, "in", NULL, NULL);
        ck_assert_int_eq(sluice_stream_set_timestamp_extractor(s, NULL, NULL),
                         SLUICE_ERR_TOPOLOGY);
        expect_mistake(t, "sluice_stream_set_timestamp_extractor: callback "
                          "is NULL");

        t = sluice_topology_new();
        s = sluice_stream_repartition(
            sluice_stream_from(t, "in", NULL, NULL), "again", 0);
        ck_assert_int_eq(
            sluice_stream_set_timestamp_extractor(s, ts_from_json, NULL),
            SLUICE_ERR_TOPOLOGY);
        expect_mistake(t, "sluice_stream_set_timestamp_extractor: node "
                          "\"again-repartition-source\" reads a repartition "
                          "topic (only a stream from sluice_stream_from*() "
                          "takes a timestamp extractor)");

        t   = sluice_topology_new();
        tbl = sluice_table_map_values(
            sluice_table_from(t, "tin", NULL, NULL, "rows"), upper1, NULL,
            NULL);
        ck_assert_int_eq(
            sluice_table_set_timestamp_extractor(tbl, ts_from_json, NULL),
            SLUICE_ERR_TOPOLOGY);
        expect_mistake(t, "sluice_table_set_timestamp_extractor: the table of "
                          "node \"KTABLE-MAPVALUES-0000000002\" is not a "
                          "source table (only a table from "
                          "sluice_table_from() takes a timestamp extractor)");

        /* handles of the source itself are fine; a frozen topology
         * refuses */
        t = sluice_topology_new();
        s = sluice_stream_named(sluice_stream_from(t, "in", NULL, NULL),
                                "src");
        ck_assert_int_eq(sluice_stream_set_timestamp_extractor(
                             sluice_stream_with_serdes(s, NULL, NULL),
                             ts_from_json, NULL),
                         0);
        sluice_stream_to(s, "out", NULL, NULL);
        drv = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        ck_assert_int_eq(
            sluice_stream_set_timestamp_extractor(s, ts_from_json, NULL),
            SLUICE_ERR_TOPOLOGY);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- metrics ---- */

/* The "operators" object is what nodes with a metrics hook add (the
 * windowed operators' late records): shown here with a source given one. */
static void fake_metrics(const sl_task_t *task, const sl_node_t *node,
                         json_t *operators) {
        json_object_set_new(operators, node->name,
                            json_pack("{s:I}", "late_records",
                                      (json_int_t)task->processed * 10));
}

START_TEST(driver_metrics_per_task_with_operators) {
        sluice_topology_t *t = sluice_topology_new();
        sl_node_ops_t ops    = sl_source_ops;
        sluice_driver_t *drv;
        ops.metrics = fake_metrics;
        /* two sub-topologies: in -> rekey -> repartition -> out */
        sluice_stream_to(sluice_stream_repartition(
                             sluice_stream_from(t, "in", NULL, NULL), "r", 0),
                         "out", NULL, NULL);
        t->nodes[0]->ops = &ops;
        drv              = driver(t, ts_conf("log_and_skip_on_invalid", NULL));
        ck_assert_int_eq(pipe_v(drv, "in", "v", 5), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v", -1), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v", 9), 0);
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":3,"
                            "\"processed\":2,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":1,"
                            "\"stream_time\":9,\"operators\":{"
                            "\"KSTREAM-SOURCE-0000000000\":{"
                            "\"late_records\":20}}},"
                            "{\"task\":\"1_0\",\"consumed\":2,"
                            "\"processed\":2,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":0,"
                            "\"stream_time\":9,\"operators\":{}}]}");
        ck_assert_ptr_null(sluice_driver_metrics_json(NULL));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- the app (embedded cluster) ---- */

typedef struct {
        sluice_app_t *app;
        const char *want;
} metrics_wait_t;

static int metrics_have(void *arg) {
        metrics_wait_t *w = arg;
        char *m           = sluice_app_metrics_json(w->app);
        int r             = m && strstr(m, w->want);
        free(m);
        return r;
}

static const char *key_of(int i, char *b, size_t n) {
        snprintf(b, n, "key-%d", i);
        return b;
}
static const char *value_of(int i, char *b, size_t n) {
        snprintf(b, n, "%s", i % 5 == 4 ? "bad" : "good");
        return b;
}

/* The app counts the records an extractor drops, per thread and per task,
 * and commits their offsets like processed ones'. */
START_TEST(app_metrics_count_invalid_timestamps) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_conf_t *c     = ts_conf(NULL, NULL);
        metrics_wait_t w;
        sluice_app_t *app;
        json_t *root, *tasks;
        json_error_t jerr;
        char *m;
        size_t i;
        int64_t committed = 0;
        json_int_t per_task = 0;
        int p;
        /* the callback runs on the stream thread: no log of calls here */
        sluice_stream_set_timestamp_extractor(s, bad_is_negative, NULL);
        sluice_stream_to(s, "out", NULL, NULL);
        tu_set(c, "application.id", "ts-app");
        tu_set(c, "sluice.embedded", "true");
        tu_set(c, "commit.interval.ms", "100");
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "in", 50,
                                    key_of, value_of, -1),
                         0);
        w.app  = app;
        w.want = "\"skipped\":{\"deserialization\":0,\"null_key_or_value\":0,"
                 "\"invalid_timestamp\":10},\"skipped_invalid_timestamp\":10,";
        ck_assert_msg(ku_wait_for(metrics_have, &w, 30000),
                      "metrics never showed 10 skipped");
        ck_assert_uint_eq(sluice_app_processed(app), 40);
        m = sluice_app_metrics_json(app);
        ck_assert_ptr_nonnull(m);
        root = json_loads(m, 0, &jerr);
        ck_assert_msg(root != NULL, "%s: %s", jerr.text, m);
        tasks = json_object_get(json_array_get(json_object_get(root, "threads"),
                                               0),
                                "tasks");
        ck_assert_uint_eq(json_array_size(tasks), 4);
        for (i = 0; i < json_array_size(tasks); i++) {
                json_t *task = json_array_get(tasks, i);
                json_int_t n = json_integer_value(
                    json_object_get(task, "skipped_invalid_timestamp"));
                /* "skipped" counts every reason */
                ck_assert_int_eq(json_integer_value(
                                     json_object_get(task, "skipped")),
                                 n);
                ck_assert(json_is_object(json_object_get(task, "operators")));
                ck_assert_uint_eq(
                    json_object_size(json_object_get(task, "operators")), 0);
                per_task += n;
        }
        ck_assert_int_eq(per_task, 10);
        json_decref(root);
        free(m);
        sluice_app_close(app);
        /* every offset was committed, the dropped records' too */
        for (p = 0; p < 4; p++) {
                int64_t off = ku_committed(sluice_app_bootstrap_servers(app),
                                           "ts-app", "in", p);
                if (off > 0)
                        committed += off;
        }
        ck_assert_int_eq(committed, 50);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

typedef struct {
        sluice_app_t *app;
        const char *bootstrap;
} app_wait_t;

static int app_failed(void *arg) {
        return sluice_app_state(((app_wait_t *)arg)->app) == SLUICE_APP_ERROR;
}
static int offset_1_committed(void *arg) {
        app_wait_t *w = arg;
        return ku_committed(w->bootstrap, "ts-fail", "in", 0) == 1;
}

/* A record without a timestamp (-1) on a cluster stops the app under the
 * default, naming it; the records before it are committed, it is not. */
START_TEST(app_stops_at_a_record_without_timestamp) {
        char err[512];
        sluice_topology_t *t = passthrough();
        sluice_conf_t *c     = ts_conf(NULL, NULL);
        app_wait_t w;
        sluice_app_t *app;
        tu_set(c, "application.id", "ts-fail");
        tu_set(c, "sluice.embedded", "true");
        tu_set(c, "commit.interval.ms", "100");
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app       = app;
        w.bootstrap = sluice_app_bootstrap_servers(app);
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "k", 1, "v", 1, 5),
                         0);
        ck_assert_msg(ku_wait_for(offset_1_committed, &w, 30000),
                      "the first record was never committed");
        ck_assert_int_eq(
            ku_produce_raw(w.bootstrap, "in", 0, "k", 1, "v", 1, -1), 0);
        ck_assert_msg(ku_wait_for(app_failed, &w, 30000), "no ERROR");
        ck_assert_msg(
            strstr(sluice_app_error(app),
                   "node \"KSTREAM-SOURCE-0000000000\": invalid (negative) "
                   "timestamp -1 (default.timestamp.extractor=fail_on_invalid;"
                   " log_and_skip_on_invalid, use_partition_time_on_invalid "
                   "or a timestamp extractor would process it) (record at "
                   "topic \"in\" partition 0 offset 1)"),
            "%s", sluice_app_error(app));
        sluice_app_close(app);
        ck_assert_int_eq(ku_committed(w.bootstrap, "ts-fail", "in", 0), 1);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_timestamps(void) {
        Suite *s  = suite_create("timestamps");
        TCase *tc = tcase_create("extractor");
        tcase_add_test(tc, extractor_gets_each_topics_partition_time);
        tcase_add_test(tc, partition_time_is_per_partition);
        tcase_add_test(tc, aggregation_and_table_see_extracted_time);
        tcase_add_test(tc, stream_time_and_punctuation_follow_extracted_time);
        tcase_add_test(tc, extractor_returning_negative_drops_the_record);
        tcase_add_test(tc, failure_after_a_drop_has_its_own_message);
        suite_add_tcase(s, tc);
        tc = tcase_create("policies");
        tcase_add_test(tc, fail_on_invalid_is_the_default);
        tcase_add_test(tc, log_and_skip_on_invalid_drops_and_counts);
        tcase_add_test(tc, kafka_streams_class_names_are_aliases);
        tcase_add_test(tc, use_partition_time_on_invalid_substitutes);
        tcase_add_test(tc, conf_values_and_messages);
        suite_add_tcase(s, tc);
        tc = tcase_create("builder");
        tcase_add_test(tc, builder_refuses_non_sources);
        suite_add_tcase(s, tc);
        tc = tcase_create("metrics");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, driver_metrics_per_task_with_operators);
        tcase_add_test(tc, app_metrics_count_invalid_timestamps);
        tcase_add_test(tc, app_stops_at_a_record_without_timestamp);
        suite_add_tcase(s, tc);
        return s;
}
