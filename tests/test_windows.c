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
        char buf[512];
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
        char buf[512];
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
        (void)m;
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
        (void)m; /* METRICS */
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

Suite *suite_windows(void) {
        Suite *s  = suite_create("windows");
        TCase *tc = tcase_create("windows");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, tumbling_count_in_order_and_out_of_order);
        tcase_add_test(tc, tumbling_late_at_the_grace_boundary);
        tcase_add_test(tc, tumbling_emit_final);
        tcase_add_test(tc, hopping_aggregate_and_partially_late);
        tcase_add_loop_test(tc, session_merges_with_tombstones, 0, 2);
        tcase_add_test(tc, session_aggregate_merger_and_late);
        tcase_add_test(tc, sliding_left_and_right_windows);
        tcase_add_test(tc, sliding_early_records);
        tcase_add_loop_test(tc, suppress_until_window_closes, 0, 2);
        tcase_add_test(tc, suppress_until_time_limit_on_a_table);
        suite_add_tcase(s, tc);
        return s;
}
