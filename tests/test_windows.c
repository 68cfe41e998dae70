/*
 * test_windows.c - windowed aggregations through the test driver: exact
 * outputs (key, window, value, timestamp) for tumbling, hopping, sliding
 * and session windows, in order, out of order and late, at the grace
 * boundary, with both emit strategies and the cache on and off; session
 * merges and their tombstones; sliding windows' left and right windows;
 * suppression; retention and expiry; late-record counts and the late
 * topic; windowed serdes and window queries; the builder's refusals.
 *
 * Expected outputs follow Kafka Streams' rules (notes/kafka-streams-
 * semantics.md §2-§6); tests/ksdiff checks the same against Kafka
 * Streams itself on random inputs.
 */
#include "helpers.h"
#include "test_list.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static sluice_topology_t *t;
static sluice_driver_t *drv;

static void setup(void) {
        t   = sluice_topology_new();
        drv = NULL;
}
static void teardown(void) {
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}

static uint64_t be64(const unsigned char *p) {
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

enum { AGG_COUNT, AGG_SUM, AGG_CONCAT };

static int sum_reduce(const sluice_value_t *agg, const sluice_value_t *v,
                      sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_int64(agg->u.i64 + v->u.i64);
        return 0;
}

static int concat_init(sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_str("");
        return 0;
}

static int concat_add(const sluice_value_t *key, const sluice_value_t *v,
                      const sluice_value_t *agg, sluice_value_t *out,
                      void *opaque) {
        /* static: Sluice copies the string after the callback returns */
        static char buf[512];
        (void)key;
        (void)opaque;
        if (v->type == SLUICE_VALUE_NULL)
                snprintf(buf, sizeof(buf), "%s,null",
                         (const char *)agg->u.bytes.data);
        else
                snprintf(buf, sizeof(buf), "%s,%" PRId64,
                         (const char *)agg->u.bytes.data, v->u.i64);
        *out = sluice_str(buf);
        return 0;
}

static int concat_merge(const sluice_value_t *key, const sluice_value_t *a,
                        const sluice_value_t *b, sluice_value_t *out,
                        void *opaque) {
        /* static: Sluice copies the string after the callback returns */
        static char buf[512];
        (void)key;
        (void)opaque;
        snprintf(buf, sizeof(buf), "%s|%s", (const char *)a->u.bytes.data,
                 (const char *)b->u.bytes.data);
        *out = sluice_str(buf);
        return 0;
}

/* in (string keys, int64 values) -> window -> aggregate -> out. */
static sluice_windowed_t *windowed(sluice_windows_t w) {
        sluice_stream_t *s =
            sluice_stream_from(t, "in", sluice_serde_string(),
                               sluice_serde_int64());
        return sluice_grouped_windowed_by(
            sluice_stream_group_by_key(s, NULL, NULL), w);
}

static sluice_table_t *aggregate_s(sluice_windowed_t *w, int agg,
                                   int session) {
        switch (agg) {
        case AGG_COUNT: return sluice_windowed_count(w, "win");
        case AGG_SUM: return sluice_windowed_reduce(w, sum_reduce, NULL, "win");
        default:
                return sluice_windowed_aggregate(
                    w, concat_init, concat_add,
                    session ? concat_merge : NULL, NULL,
                    sluice_serde_string(), "win");
        }
}
#define aggregate(w, agg) aggregate_s(w, agg, 0)

static void start_cache(int cache) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        sluice_table_t *tbl = NULL;
        (void)tbl;
        ck_assert_int_eq(sluice_conf_set(conf, "statestore.cache.max.bytes",
                                         cache ? "10485760" : "0", err,
                                         sizeof(err)),
                         SLUICE_OK);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "driver: %s", err);
}

static void to_out(sluice_table_t *tbl, const sluice_serde_t *vs) {
        ck_assert_ptr_nonnull(
            sluice_stream_to(sluice_table_to_stream(tbl), "out",
                             sluice_serde_string(), vs));
}

static void pipe_ts(const char *k, int64_t v, int64_t ts) {
        unsigned char b[8];
        int i, rc;
        for (i = 0; i < 8; i++)
                b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
        rc = sluice_driver_pipe(drv, "in", k, strlen(k), b, 8, ts, NULL, 0);
        ck_assert_msg(rc == 0, "pipe: %s", sluice_driver_last_error(drv));
}

/* Every output so far, one line each: "key@start[/end]=value ts"; time
 * windows show their start only (the bytes carry nothing else), sessions
 * start/end. @session: the key has end and start. */
static char *drain(int session, int string_values) {
        static char buf[8192];
        const sluice_output_t *o;
        size_t n = 0;
        buf[0]   = '\0';
        while ((o = sluice_driver_read(drv, "out"))) {
                size_t tail = session ? 16 : 8;
                const unsigned char *k = o->key;
                char val[256];
                ck_assert_uint_ge(o->key_len, tail);
                if (!o->value)
                        snprintf(val, sizeof(val), "null");
                else if (string_values)
                        snprintf(val, sizeof(val), "%.*s", (int)o->value_len,
                                 (const char *)o->value);
                else
                        snprintf(val, sizeof(val), "%" PRId64,
                                 (int64_t)be64(o->value));
                if (session)
                        n += (size_t)snprintf(
                            buf + n, sizeof(buf) - n,
                            "%.*s@%" PRId64 "/%" PRId64 "=%s %" PRId64 "\n",
                            (int)(o->key_len - tail), (const char *)k,
                            (int64_t)be64(k + o->key_len - 8),
                            (int64_t)be64(k + o->key_len - 16), val,
                            o->timestamp);
                else
                        n += (size_t)snprintf(
                            buf + n, sizeof(buf) - n,
                            "%.*s@%" PRId64 "=%s %" PRId64 "\n",
                            (int)(o->key_len - tail), (const char *)k,
                            (int64_t)be64(k + o->key_len - 8), val,
                            o->timestamp);
        }
        return buf;
}

/* Outputs with plain (not windowed) string keys and int64 values. */
static char *drain_plain(void) {
        static char buf[4096];
        const sluice_output_t *o;
        size_t n = 0;
        buf[0]   = '\0';
        while ((o = sluice_driver_read(drv, "out")))
                n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                                      "%.*s=%" PRId64 " %" PRId64 "\n",
                                      (int)o->key_len, (const char *)o->key,
                                      o->value ? (int64_t)be64(o->value) : -1,
                                      o->timestamp);
        return buf;
}

/* ---- tumbling ---- */

START_TEST(tumbling_count_in_order_and_out_of_order) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 0));
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(1);
        pipe_ts("a", 1, 1);
        pipe_ts("a", 1, 5);
        pipe_ts("b", 1, 9);
        pipe_ts("a", 1, 12);
        pipe_ts("a", 1, 11); /* out of order: [10,20) keeps time 12 */
        pipe_ts("b", 1, 7);  /* [0,10) closed at stream time 10: late */
        ck_assert_str_eq(drain(0, 0), "a@0=1 1\n"
                                      "a@0=2 5\n"
                                      "b@0=1 9\n"
                                      "a@10=1 12\n"
                                      "a@10=2 12\n");
}
END_TEST

START_TEST(tumbling_late_at_the_grace_boundary) {
        /* size 10, grace 5: [0,10) closes when stream time >= 15 */
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 5));
        char *m;
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(0);
        pipe_ts("a", 1, 2);
        pipe_ts("a", 1, 14); /* stream time 14: [0,10) open until 15 */
        pipe_ts("a", 1, 9);  /* 1 ms before the close: counted */
        pipe_ts("a", 1, 15); /* stream time 15 = end + grace: closed */
        pipe_ts("a", 1, 9);  /* late: dropped */
        ck_assert_str_eq(drain(0, 0), "a@0=1 2\n"
                                      "a@10=1 14\n"
                                      "a@0=2 9\n"
                                      "a@10=2 15\n");
        m = sluice_driver_metrics_json(drv);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "\"late_records\":1,"), "%s", m);
        free(m);
}
END_TEST

START_TEST(tumbling_emit_final) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 2));
        ck_assert_int_eq(sluice_windowed_set_emit_final(w), 0);
        to_out(aggregate(w, AGG_SUM), sluice_serde_int64());
        start_cache(1);
        pipe_ts("b", 5, 3);
        pipe_ts("a", 1, 1);
        pipe_ts("a", 2, 8);
        pipe_ts("a", 4, 11); /* stream time 11: [0,10) open till 12 */
        ck_assert_str_eq(drain(0, 0), "");
        pipe_ts("a", 8, 9);  /* in grace */
        pipe_ts("c", 1, 12); /* 12 = end + grace: [0,10) closes */
        ck_assert_str_eq(drain(0, 0), "a@0=11 9\n"
                                      "b@0=5 3\n");
        pipe_ts("c", 1, 30);
        ck_assert_str_eq(drain(0, 0), "a@10=4 11\n"
                                      "c@10=1 12\n");
}
END_TEST

START_TEST(emit_final_survives_a_jump_in_stream_time) {
        /* stream time jumps far past the windows' retention: each window
         * still comes out once (Kafka Streams loses them:
         * tests/ksdiff/DEVIATIONS) */
        sluice_windowed_t *w = windowed(sluice_windows_hopping(10, 5, 0));
        ck_assert_int_eq(sluice_windowed_set_emit_final(w), 0);
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(_i);
        pipe_ts("a", 1, 7);
        pipe_ts("b", 1, 12);
        pipe_ts("z", 1, 1000);
        ck_assert_str_eq(drain(0, 0), "a@0=1 7\n"
                                      "a@5=1 7\n"
                                      "b@5=1 12\n"
                                      "b@10=1 12\n");
        pipe_ts("z", 1, 2000);
        ck_assert_str_eq(drain(0, 0), "z@995=1 1000\n"
                                      "z@1000=1 1000\n");
}
END_TEST

START_TEST(hopping_aggregate_and_partially_late) {
        /* size 10 advancing by 5: ts 12 is in [5,15) and [10,20) */
        sluice_windowed_t *w = windowed(sluice_windows_hopping(10, 5, 0));
        to_out(aggregate(w, AGG_CONCAT), sluice_serde_string());
        start_cache(0);
        pipe_ts("a", 1, 12);
        pipe_ts("a", 2, 3);  /* only in [0,10), closed at 10: late */
        pipe_ts("a", 3, 16); /* stream 16: [5,15) closed at 15 */
        pipe_ts("a", 4, 13); /* late for [5,15), lands in [10,20) */
        ck_assert_str_eq(drain(0, 1), "a@5=,1 12\n"
                                      "a@10=,1 12\n"
                                      "a@10=,1,3 16\n"
                                      "a@15=,3 16\n"
                                      "a@10=,1,3,4 16\n");
}
END_TEST


/* ---- sessions ---- */

static void session_records(void) {
        pipe_ts("a", 1, 10);
        pipe_ts("a", 1, 20);
        pipe_ts("a", 1, 14); /* bridges nothing: [10,10] grows to [10,14] */
        pipe_ts("a", 1, 17); /* bridges [10,14] and [20,20] */
}

START_TEST(session_merges_with_tombstones) {
        sluice_windowed_t *w = windowed(sluice_windows_session(5, 10));
        to_out(aggregate_s(w, AGG_COUNT, 1), sluice_serde_int64());
        start_cache(_i);
        session_records();
        ck_assert_str_eq(drain(1, 0), "a@10/10=1 10\n"
                                      "a@20/20=1 20\n"
                                      "a@10/10=null 10\n"
                                      "a@10/14=2 14\n"
                                      "a@10/14=null 14\n"
                                      "a@20/20=null 20\n"
                                      "a@10/20=4 20\n");
        /* inside [10,20]: the session is rewritten; without the cache the
         * tombstone comes out too, with it they collapse */
        pipe_ts("a", 1, 15);
        ck_assert_str_eq(drain(1, 0), _i ? "a@10/20=5 20\n"
                                         : "a@10/20=null 20\n"
                                           "a@10/20=5 20\n");
}
END_TEST

START_TEST(session_aggregate_merger_and_late) {
        /* gap 5, grace 0: a session closes when stream time passes its end
         * + gap */
        sluice_windowed_t *w = windowed(sluice_windows_session(5, 0));
        char *m;
        to_out(aggregate_s(w, AGG_CONCAT, 1), sluice_serde_string());
        start_cache(1);
        pipe_ts("a", 1, 10);
        pipe_ts("a", 2, 20);
        pipe_ts("a", 3, 16); /* within 5 of [20,20], not of [10,10] */
        pipe_ts("b", 4, 40); /* stream 40 */
        pipe_ts("a", 5, 30); /* [30,30] ends before 35: late */
        ck_assert_str_eq(drain(1, 1), "a@10/10=,1 10\n"
                                      "a@20/20=,2 20\n"
                                      "a@20/20=null 20\n"
                                      "a@16/20=|,2,3 20\n"
                                      "b@40/40=,4 40\n");
        m = sluice_driver_metrics_json(drv);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "\"late_records\":1"), "%s", m);
        free(m);
}
END_TEST


/* JSON aggregates a callback edits in place and hands back */
static int j_init(sluice_value_t *out, void *o) {
        (void)o;
        *out = sluice_json_new(json_integer(0));
        return 0;
}
static int j_add(const sluice_value_t *k, const sluice_value_t *v,
                 const sluice_value_t *agg, sluice_value_t *out, void *o) {
        (void)k;
        (void)v;
        (void)o;
        json_integer_set(agg->u.json, json_integer_value(agg->u.json) + 1);
        *out = *agg;
        return 0;
}
static int j_merge(const sluice_value_t *k, const sluice_value_t *a,
                   const sluice_value_t *b, sluice_value_t *out, void *o) {
        (void)k;
        (void)o;
        json_integer_set(a->u.json, json_integer_value(a->u.json) +
                                        json_integer_value(b->u.json));
        *out = *a;
        return 0;
}
static int j_merge_other(const sluice_value_t *k, const sluice_value_t *a,
                         const sluice_value_t *b, sluice_value_t *out,
                         void *o) {
        (void)k;
        (void)o;
        json_integer_set(b->u.json, json_integer_value(a->u.json) +
                                        json_integer_value(b->u.json));
        *out = *b;
        return 0;
}

START_TEST(session_merger_may_hand_back_an_aggregate) {
        /* gap 10, grace 10: [10,12] is still seen when 21 bridges it */
        sluice_windowed_t *w = windowed(sluice_windows_session(10, 10));
        to_out(sluice_windowed_aggregate(w, j_init, j_add,
                                         _i ? j_merge_other : j_merge, NULL,
                                         sluice_serde_json(), "win"),
               sluice_serde_json());
        start_cache(0);
        pipe_ts("a", 1, 10);
        pipe_ts("a", 1, 12); /* merges [10,10] */
        pipe_ts("a", 1, 30); /* a new session */
        pipe_ts("a", 1, 21); /* bridges [10,12] and [30,30] */
        ck_assert_str_eq(drain(1, 1), "a@10/10=1 10\n"
                                      "a@10/10=null 10\n"
                                      "a@10/12=2 12\n"
                                      "a@30/30=1 30\n"
                                      "a@10/12=null 12\n"
                                      "a@30/30=null 30\n"
                                      "a@10/30=4 30\n");
}
END_TEST

/* ---- sliding ---- */

START_TEST(sliding_left_and_right_windows) {
        sluice_windowed_t *w = windowed(sluice_windows_sliding(10, 0));
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(0);
        pipe_ts("a", 1, 20); /* left window [10,20] */
        pipe_ts("a", 1, 25); /* 20's right window [21,31]; left [15,25] */
        pipe_ts("a", 1, 22); /* updates [21,31], [15,25]; its left window
                                [12,22] is closed (stream time 25); its
                                right window [23,33] holds 25 */
        ck_assert_str_eq(drain(0, 0), "a@10=1 20\n"
                                      "a@21=1 25\n"
                                      "a@15=2 25\n"
                                      "a@21=2 25\n"
                                      "a@15=3 25\n"
                                      "a@23=1 25\n");
}
END_TEST

START_TEST(sliding_early_records) {
        sluice_windowed_t *w = windowed(sluice_windows_sliding(10, 0));
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(0);
        pipe_ts("a", 1, 3); /* before the first full window: [0,10] */
        pipe_ts("a", 1, 5); /* 3's right window [4,14]; [0,10] again */
        ck_assert_str_eq(drain(0, 0), "a@0=1 3\n"
                                      "a@4=1 5\n"
                                      "a@0=2 5\n");
}
END_TEST

/* ---- suppress ---- */

START_TEST(suppress_until_window_closes) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 0));
        sluice_table_t *tbl  = aggregate(w, AGG_COUNT);
        to_out(sluice_table_suppress_until_window_closes(tbl, NULL),
               sluice_serde_int64());
        start_cache(_i);
        pipe_ts("b", 1, 5);
        pipe_ts("a", 1, 1);
        pipe_ts("a", 1, 2);
        ck_assert_str_eq(drain(0, 0), "");
        pipe_ts("a", 1, 11);
        ck_assert_str_eq(drain(0, 0), "a@0=2 2\n"
                                      "b@0=1 5\n");
        pipe_ts("c", 1, 21);
        ck_assert_str_eq(drain(0, 0), "a@10=1 11\n");
}
END_TEST

static int count_key(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        (void)rec;
        return 0;
}

START_TEST(suppress_until_time_limit_on_a_table) {
        sluice_stream_t *s =
            sluice_stream_from(t, "in", sluice_serde_string(),
                               sluice_serde_int64());
        sluice_table_t *c = sluice_grouped_count(
            sluice_stream_group_by_key(s, NULL, NULL), "counts");
        (void)count_key;
        ck_assert_ptr_nonnull(
            sluice_stream_to(sluice_table_to_stream(
                                 sluice_table_suppress_until_time_limit(
                                     c, 5, 0, "limit")),
                             "out", sluice_serde_string(),
                             sluice_serde_int64()));
        start_cache(1);
        pipe_ts("a", 1, 1);
        pipe_ts("a", 1, 3); /* a's buffer time stays 1 */
        pipe_ts("b", 1, 4);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 0);
        pipe_ts("a", 1, 6); /* 1 <= 6 - 5: a goes, with its latest value */
        ck_assert_str_eq(drain_plain(), "a=3 6\n");
        pipe_ts("b", 1, 9);
        ck_assert_str_eq(drain_plain(), "b=2 9\n");
}
END_TEST

/* ---- late topic, queries, serdes ---- */

START_TEST(late_records_go_to_the_late_topic) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 0));
        const sluice_output_t *o;
        ck_assert_int_eq(sluice_windowed_set_late_topic(w, "late"), 0);
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(1);
        pipe_ts("a", 7, 15);
        pipe_ts("b", 9, 4); /* [0,10) closed at 10 */
        ck_assert_str_eq(drain(0, 0), "a@10=1 15\n");
        o = sluice_driver_read(drv, "late");
        ck_assert_ptr_nonnull(o);
        ck_assert_uint_eq(o->key_len, 1);
        ck_assert_mem_eq(o->key, "b", 1);
        ck_assert_uint_eq(o->value_len, 8);
        ck_assert_int_eq((int64_t)be64(o->value), 9);
        ck_assert_int_eq(o->timestamp, 4);
        ck_assert_ptr_null(sluice_driver_read(drv, "late"));
}
END_TEST

typedef struct seen_s {
        char buf[1024];
        size_t n;
} seen_t;

static int window_visit(const void *key, size_t key_len, int64_t start,
                        int64_t end, const void *value, size_t value_len,
                        int64_t ts, void *opaque) {
        seen_t *s = opaque;
        ck_assert_uint_eq(value_len, 8);
        s->n += (size_t)snprintf(s->buf + s->n, sizeof(s->buf) - s->n,
                                 "%.*s[%" PRId64 ",%" PRId64 ")=%" PRId64
                                 " %" PRId64 ";",
                                 (int)key_len, (const char *)key, start, end,
                                 (int64_t)be64(value), ts);
        return 0;
}

START_TEST(window_fetch_by_key_and_time) {
        sluice_windowed_t *w = windowed(sluice_windows_hopping(10, 5, 100));
        seen_t seen = {{0}, 0};
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(1);
        pipe_ts("a", 1, 7);   /* [0,10) [5,15) */
        pipe_ts("b", 1, 8);   /* [0,10) [5,15) */
        pipe_ts("a", 1, 12);  /* [5,15) [10,20) */
        pipe_ts("ab", 1, 12); /* a longer key sorts between a's windows */
        ck_assert_int_eq(sluice_driver_window_fetch(drv, "win", "a", 1, 0, 10,
                                                    window_visit, &seen),
                         3);
        ck_assert_str_eq(seen.buf, "a[0,10)=1 7;a[5,15)=2 12;a[10,20)=1 12;");
        seen.n = 0;
        seen.buf[0] = '\0';
        ck_assert_int_eq(sluice_driver_window_fetch(drv, "win", NULL, 0, 5, 5,
                                                    window_visit, &seen),
                         3);
        ck_assert_str_eq(seen.buf, "a[5,15)=2 12;ab[5,15)=1 12;b[5,15)=1 8;");
        ck_assert_int_eq(sluice_driver_window_fetch(drv, "nope", NULL, 0, 0,
                                                    10, window_visit, &seen),
                         SLUICE_ERR_STATE);
}
END_TEST

START_TEST(windowed_serde_reads_windowed_keys) {
        /* the output of a windowed count read back as windowed keys */
        sluice_windowed_serde_t ws;
        const sluice_serde_t *kser =
            sluice_serde_time_windowed(&ws, sluice_serde_string(), 10);
        sluice_stream_t *s = sluice_stream_from(t, "counts", kser,
                                                sluice_serde_int64());
        unsigned char key[9] = {'k', 0, 0, 0, 0, 0, 0, 0, 20}, v[8] = {0};
        const sluice_output_t *o;
        ck_assert_ptr_nonnull(kser);
        ck_assert_ptr_nonnull(
            sluice_stream_to(s, "copy", sluice_serde_string(),
                             sluice_serde_int64()));
        ck_assert_ptr_nonnull(
            sluice_stream_to(s, "same", kser, sluice_serde_int64()));
        start_cache(1);
        ck_assert_int_eq(sluice_driver_pipe(drv, "counts", key, sizeof(key),
                                            v, sizeof(v), 25, NULL, 0),
                         0);
        /* the window goes with the record: both sinks write the key and
         * its window again */
        o = sluice_driver_read(drv, "copy");
        ck_assert_uint_eq(o->key_len, 9);
        ck_assert_mem_eq(o->key, key, 9);
        o = sluice_driver_read(drv, "same");
        ck_assert_uint_eq(o->key_len, 9);
        ck_assert_mem_eq(o->key, key, 9);
        ck_assert_int_eq(sluice_driver_pipe(drv, "counts", "short", 5, v,
                                            sizeof(v), 25, NULL, 0),
                         SLUICE_ERR_SERDE);
        ck_assert_msg(strstr(sluice_driver_last_error(drv),
                             "a windowed key needs at least 8 bytes, got 5"),
                      "%s", sluice_driver_last_error(drv));
}
END_TEST

static int rekey(sluice_record_t *rec, void *opaque) {
        int64_t start = 0, end = 0;
        char buf[64];
        (void)opaque;
        ck_assert_int_eq(sluice_record_window(rec, &start, &end), 1);
        snprintf(buf, sizeof(buf), "%s@%" PRId64 "-%" PRId64,
                 (const char *)sluice_record_key(rec)->u.bytes.data, start,
                 end);
        return sluice_record_set_key(rec, sluice_str(buf));
}

START_TEST(a_new_key_drops_the_window) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 0));
        sluice_stream_t *s   = sluice_table_to_stream(aggregate(w, AGG_COUNT));
        ck_assert_ptr_nonnull(sluice_stream_to(
            sluice_stream_select_key(s, rekey, NULL), "out",
            sluice_serde_string(), sluice_serde_int64()));
        start_cache(0);
        pipe_ts("a", 1, 13);
        ck_assert_str_eq(drain_plain(), "a@10-20=1 13\n");
}
END_TEST

/* ---- expiry, restarts ---- */

static int count_any(const void *key, size_t key_len, const void *value,
                     size_t value_len, int64_t ts, void *opaque) {
        (void)key;
        (void)key_len;
        (void)value;
        (void)value_len;
        (void)ts;
        (void)opaque;
        return 0;
}

static int count_window(const void *key, size_t key_len, int64_t start,
                        int64_t end, const void *value, size_t value_len,
                        int64_t ts, void *opaque) {
        (void)key;
        (void)key_len;
        (void)start;
        (void)end;
        (void)value;
        (void)value_len;
        (void)ts;
        (void)opaque;
        return 0;
}

static int64_t count_windows(void) {
        seen_t seen = {{0}, 0};
        (void)seen;
        return sluice_driver_store_range(drv, "win", NULL, 0, NULL, 0,
                                         count_any, NULL);
}

START_TEST(expiry_keeps_the_store_bounded) {
        /* 100k records of advancing time over 10 keys, 1 s windows: the
         * store holds the windows of its retention, not of the run */
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(1000, 0));
        int64_t i, most = 0;
        char k[8];
        ck_assert_int_eq(sluice_windowed_set_retention(w, 5000), 0);
        to_out(aggregate(w, AGG_COUNT), sluice_serde_int64());
        start_cache(1);
        for (i = 0; i < 100000; i++) {
                snprintf(k, sizeof(k), "k%d", (int)(i % 10));
                pipe_ts(k, 1, i * 10); /* 1000 s of stream time */
                if (i % 1000 == 999) {
                        int64_t n = count_windows();
                        if (n > most)
                                most = n;
                }
                while (sluice_driver_read(drv, "out"))
                        ;
        }
        /* 60 s segments (the minimum) + the 5 s retention: at most ~66
         * windows per key alive, against 1000 made per key */
        ck_assert_int_le(most, 10 * 66 + 1);
        ck_assert_int_ge(most, 10 * 5);
        /* what is past the retention is not visible to queries either */
        ck_assert_int_eq(sluice_driver_window_fetch(drv, "win", "k1", 2, 0,
                                                    1000000, count_window,
                                                    NULL),
                         5);
}
END_TEST


/* ---- the builder ---- */

START_TEST(builder_refuses_bad_windows) {
        static const struct {
                sluice_windows_t w;
                const char *msg;
        } bad[] = {
            {{SLUICE_WINDOW_TIME, 0, 0, 0},
             "sluice_grouped_windowed_by: the window size must be > 0"},
            {{SLUICE_WINDOW_TIME, -5, -5, 0},
             "sluice_grouped_windowed_by: the window size must be > 0"},
            {{SLUICE_WINDOW_TIME, 10, 20, 0},
             "sluice_grouped_windowed_by: the advance must be > 0 and <= the "
             "size"},
            {{SLUICE_WINDOW_SESSION, 0, 0, 0},
             "sluice_grouped_windowed_by: the inactivity gap must be > 0"},
            {{SLUICE_WINDOW_SLIDING, -1, 0, 0},
             "sluice_grouped_windowed_by: the time difference must be > 0"},
            {{SLUICE_WINDOW_TIME, 10, 10, -1},
             "sluice_grouped_windowed_by: the grace period must be >= 0"},
        };
        size_t i;
        char err[512];
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sluice_topology_t *t2 = sluice_topology_new();
                sluice_stream_t *s =
                    sluice_stream_from(t2, "in", sluice_serde_string(),
                                       sluice_serde_int64());
                ck_assert_ptr_null(sluice_grouped_windowed_by(
                    sluice_stream_group_by_key(s, NULL, NULL), bad[i].w));
                ck_assert_int_eq(sluice_topology_validate(t2, err,
                                                          sizeof(err)),
                                 SLUICE_ERR_TOPOLOGY);
                ck_assert_str_eq(err, bad[i].msg);
                sluice_topology_destroy(t2);
        }
}
END_TEST

START_TEST(builder_refuses_bad_options) {
        char err[512];
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(10, 5));
        ck_assert_int_eq(sluice_windowed_set_retention(w, 14),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(err, "sluice_windowed_set_retention: retention 14 ms "
                              "is less than the window's size plus grace "
                              "(15 ms)");
        sluice_topology_destroy(t);
        t = sluice_topology_new();
        w = windowed(sluice_windows_session(10, 0));
        ck_assert_ptr_null(sluice_windowed_aggregate(
            w, concat_init, concat_add, NULL, NULL, sluice_serde_string(),
            NULL));
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(err, "sluice_windowed_aggregate: session windows "
                              "need a merger (sessions that a record "
                              "bridges are merged)");
        sluice_topology_destroy(t);
        t = sluice_topology_new();
        {
                sluice_stream_t *s =
                    sluice_stream_from(t, "in", sluice_serde_string(),
                                       sluice_serde_int64());
                sluice_table_t *c = sluice_grouped_count(
                    sluice_stream_group_by_key(s, NULL, NULL), NULL);
                ck_assert_ptr_null(
                    sluice_table_suppress_until_window_closes(c, NULL));
                ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                                 SLUICE_ERR_TOPOLOGY);
                ck_assert_str_eq(
                    err, "sluice_table_suppress_until_window_closes: the "
                         "table is not windowed (suppress until the window "
                         "closes needs a windowed aggregation upstream)");
        }
}
END_TEST

START_TEST(describe_shows_windowed_operators) {
        sluice_windowed_t *w = windowed(sluice_windows_tumbling(60000, 0));
        char *d;
        to_out(sluice_table_suppress_until_window_closes(
                   sluice_windowed_count(w, NULL), NULL),
               sluice_serde_int64());
        d = sluice_topology_describe(t);
        ck_assert_str_eq(
            d, "Topologies:\n"
               "   Sub-topology: 0\n"
               "    Source: KSTREAM-SOURCE-0000000000 (topics: [in])\n"
               "      --> KSTREAM-AGGREGATE-0000000002\n"
               "    Processor: KSTREAM-AGGREGATE-0000000002 (stores: "
               "[KSTREAM-AGGREGATE-STATE-STORE-0000000001])\n"
               "      --> KTABLE-SUPPRESS-0000000003\n"
               "      <-- KSTREAM-SOURCE-0000000000\n"
               "    Processor: KTABLE-SUPPRESS-0000000003 (stores: "
               "[KTABLE-SUPPRESS-STATE-STORE-0000000004])\n"
               "      --> KTABLE-TOSTREAM-0000000005\n"
               "      <-- KSTREAM-AGGREGATE-0000000002\n"
               "    Processor: KTABLE-TOSTREAM-0000000005 (stores: [])\n"
               "      --> KSTREAM-SINK-0000000006\n"
               "      <-- KTABLE-SUPPRESS-0000000003\n"
               "    Sink: KSTREAM-SINK-0000000006 (topic: out)\n"
               "      <-- KTABLE-TOSTREAM-0000000005\n\n");
        free(d);
}
END_TEST

Suite *suite_windows(void) {
        Suite *s  = suite_create("windows");
        TCase *tc = tcase_create("windows");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, tumbling_count_in_order_and_out_of_order);
        tcase_add_test(tc, tumbling_late_at_the_grace_boundary);
        tcase_add_test(tc, tumbling_emit_final);
        tcase_add_test(tc, hopping_aggregate_and_partially_late);
        tcase_add_loop_test(tc, emit_final_survives_a_jump_in_stream_time, 0,
                            2);
        tcase_add_loop_test(tc, session_merges_with_tombstones, 0, 2);
        tcase_add_test(tc, session_aggregate_merger_and_late);
        tcase_add_loop_test(tc, session_merger_may_hand_back_an_aggregate, 0,
                            2);
        tcase_add_test(tc, sliding_left_and_right_windows);
        tcase_add_test(tc, sliding_early_records);
        tcase_add_loop_test(tc, suppress_until_window_closes, 0, 2);
        tcase_add_test(tc, suppress_until_time_limit_on_a_table);
        tcase_add_test(tc, late_records_go_to_the_late_topic);
        tcase_add_test(tc, window_fetch_by_key_and_time);
        tcase_add_test(tc, windowed_serde_reads_windowed_keys);
        tcase_add_test(tc, a_new_key_drops_the_window);
        tcase_add_test(tc, expiry_keeps_the_store_bounded);
        tcase_add_test(tc, builder_refuses_bad_windows);
        tcase_add_test(tc, builder_refuses_bad_options);
        tcase_add_test(tc, describe_shows_windowed_operators);
        suite_add_tcase(s, tc);
        return s;
}
