/*
 * test_driver.c - the test driver itself: topics in and out, offsets, order,
 * feedback into sources, patterns, error reporting, ownership, and the
 * promise that a value is decoded once and encoded at most once.
 */
#include "helpers.h"
#include "test_list.h"

#include <stdio.h>
#include <stdlib.h>

static bool yes(const sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return true;
}

static int offset_as_value(sluice_record_t *rec, void *opaque) {
        char buf[32];
        (void)opaque;
        snprintf(buf, sizeof(buf), "%s@%lld", sluice_record_topic(rec),
                 (long long)sluice_record_offset(rec));
        return sluice_record_set_value(rec, sluice_str(buf));
}

static sluice_driver_t *new_driver(sluice_topology_t *t) {
        char err[512];
        sluice_driver_t *drv = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        return drv;
}

START_TEST(unknown_topic_is_an_error) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL), "out", NULL,
                         NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "nope", "k", "v", 0),
                         SLUICE_ERR_UNKNOWN_TOPIC);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "topic \"nope\" is not read by any source of the "
                         "topology");
        ck_assert_ptr_null(sluice_driver_read(drv, "nope"));
        ck_assert_uint_eq(sluice_driver_queued(drv, "nope"), 0);
        /* a good pipe clears the message */
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 0), 0);
        ck_assert_str_eq(sluice_driver_last_error(drv), "");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(invalid_arguments) {
        char err[512];
        sluice_header_t noname = {NULL, "v", 1};
        sluice_topology_t *t   = sluice_topology_new();
        sluice_driver_t *drv;
        ck_assert_ptr_null(sluice_driver_new(NULL, NULL, err, sizeof(err)));
        ck_assert_str_eq(err, "sluice_driver_new: topology is NULL");
        sluice_stream_from(t, "in", NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe(drv, NULL, "k", 1, "v", 1, 0, NULL,
                                            0),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "v", 1, 0,
                                            &noname, 1),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "sluice_driver_pipe: header 0 has no name");
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "v", 1, 0, NULL,
                                            2),
                         SLUICE_ERR_INVALID_ARG);
        {
                sluice_header_t nullval = {"h", NULL, 3};
                ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "v", 1,
                                                    0, &nullval, 1),
                                 SLUICE_ERR_INVALID_ARG);
                ck_assert_str_eq(sluice_driver_last_error(drv),
                                 "sluice_driver_pipe: header 0 (\"h\") has a "
                                 "NULL value of length 3");
        }
        sluice_driver_destroy(drv);
        sluice_driver_destroy(NULL);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(offsets_count_per_topic) {
        sluice_topology_t *t = sluice_topology_new();
        const char *topics[2] = {"a", "b"};
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_map_values(sluice_stream_from_topics(
                                                      t, topics, 2,
                                                      sluice_serde_string(),
                                                      sluice_serde_string()),
                                                  offset_as_value, NULL),
                         "out", NULL, NULL);
        drv = new_driver(t);
        sluice_driver_pipe_str(drv, "a", "k", "v", 1);
        sluice_driver_pipe_str(drv, "a", "k", "v", 2);
        sluice_driver_pipe_str(drv, "b", "k", "v", 3);
        sluice_driver_pipe_str(drv, "a", "k", "v", 4);
        ck_assert_output(drv, "out", "k", "a@0", 1);
        ck_assert_output(drv, "out", "k", "a@1", 2);
        ck_assert_output(drv, "out", "k", "b@0", 3);
        ck_assert_output(drv, "out", "k", "a@2", 4);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(many_records_keep_order) {
        /* enough bytes to span several output chunks, read in batches */
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        char k[32], v[300];
        int i, next = 0;
        sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL), "out", NULL,
                         NULL);
        drv = new_driver(t);
        memset(v, 'x', sizeof(v) - 1);
        v[sizeof(v) - 1] = '\0';
        for (i = 0; i < 5000; i++) {
                snprintf(k, sizeof(k), "key-%d", i);
                ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", k, v, i), 0);
                if (i % 1000 == 999) {
                        ck_assert_uint_eq(sluice_driver_queued(drv, "out"),
                                          (size_t)(i + 1 - next));
                        for (; next <= i - 10; next++) {
                                snprintf(k, sizeof(k), "key-%d", next);
                                ck_assert_output(drv, "out", k, v, next);
                        }
                }
        }
        for (; next < 5000; next++) {
                snprintf(k, sizeof(k), "key-%d", next);
                ck_assert_output(drv, "out", k, v, next);
        }
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 0);
        /* the queue is reusable after draining */
        sluice_driver_pipe_str(drv, "in", "again", "1", 9);
        ck_assert_output(drv, "out", "again", "1", 9);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(output_to_source_topic_is_processed_again) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_filter(sluice_stream_from(t, "in", NULL,
                                                                 NULL),
                                              yes, NULL),
                         "middle", NULL, NULL);
        sluice_stream_to(sluice_stream_map_values(
                             sluice_stream_from(t, "middle",
                                                sluice_serde_string(),
                                                sluice_serde_string()),
                             offset_as_value, NULL),
                         "final", NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 5), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", NULL, "w", 6), 0);
        /* captured on the way through, and processed by the second source */
        ck_assert_output(drv, "middle", "k", "v", 5);
        ck_assert_output(drv, "middle", NULL, "w", 6);
        ck_assert_output(drv, "final", "k", "middle@0", 5);
        ck_assert_output(drv, "final", NULL, "middle@1", 6);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(pattern_source_matches_whole_name) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_from_pattern(t, "logs-[a-z]+", NULL,
                                                    NULL),
                         "out", NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "logs-app", "k", "1", 1),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "logs-db", "k", "2", 2),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "logs-app2", "k", "3", 3),
                         SLUICE_ERR_UNKNOWN_TOPIC);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "xlogs-app", "k", "4", 4),
                         SLUICE_ERR_UNKNOWN_TOPIC);
        ck_assert_output(drv, "out", "k", "1", 1);
        ck_assert_output(drv, "out", "k", "2", 2);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(undecodable_records_fail_with_offset_and_lose_nothing_else) {
        static const unsigned char eight[8] = {0, 0, 0, 0, 0, 0, 0, 42};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_from(t, "in", sluice_serde_string(),
                                            sluice_serde_int64()),
                         "out", NULL, NULL);
        sluice_stream_to(sluice_stream_from(t, "json", sluice_serde_string(),
                                            sluice_serde_json()),
                         "jout", NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, eight, 8, 1, NULL,
                                            0),
                         0);
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "abc", 3, 2, NULL,
                                            0),
                         SLUICE_ERR_SERDE);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-SOURCE-0000000000\": cannot "
                         "deserialize value: serde \"int64\": expected 8 "
                         "bytes, got 3 (record at topic \"in\" partition 0 "
                         "offset 1)");
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, eight, 8, 3, NULL,
                                            0),
                         0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 2);

        ck_assert_int_eq(sluice_driver_pipe_str(drv, "json", "k", "{\"a\":", 4),
                         SLUICE_ERR_SERDE);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "node \"KSTREAM-SOURCE-0000000002\": cannot "
                         "deserialize value: serde \"json\": "));
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "(record at topic \"json\" partition 0 offset 0)"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* A serde that counts its calls, over the JSON serde. */
typedef struct {
        int decodes, encodes;
} counts_t;

static int counting_decode(const sluice_serde_t *serde, const void *data,
                           size_t len, sluice_value_t *out, char *errstr,
                           size_t errstr_size) {
        const sluice_serde_t *json = sluice_serde_json();
        ((counts_t *)serde->opaque)->decodes++;
        return json->deserialize(json, data, len, out, errstr, errstr_size);
}

static int counting_encode(const sluice_serde_t *serde,
                           const sluice_value_t *in, sluice_buf_t *buf,
                           const void **out, size_t *out_len, char *errstr,
                           size_t errstr_size) {
        const sluice_serde_t *json = sluice_serde_json();
        ((counts_t *)serde->opaque)->encodes++;
        return json->serialize(json, in, buf, out, out_len, errstr,
                               errstr_size);
}

static void look(const sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
}

static int touch(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_json_edit(rec) ? 0 : -1;
}

START_TEST(json_decoded_once_encoded_only_when_changed) {
        counts_t c              = {0, 0};
        sluice_serde_t counting = {SLUICE_SERDE_VERSION, "counting-json",
                                   counting_decode, counting_encode, &c};
        sluice_topology_t *t    = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_string(),
                                                &counting);
        s = sluice_stream_peek(sluice_stream_filter(s, yes, NULL), look, NULL);
        sluice_stream_to(s, "unchanged", NULL, NULL);
        sluice_stream_to(sluice_stream_map_values(s, touch, NULL), "changed",
                         NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "{ \"n\" : 1 }", 1),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "[1, 2]", 2), 0);
        ck_assert_int_eq(c.decodes, 2); /* once per record, not per operator */
        ck_assert_int_eq(c.encodes, 2); /* only on the "changed" path */
        ck_assert_output(drv, "unchanged", "k", "{ \"n\" : 1 }", 1);
        ck_assert_output(drv, "unchanged", "k", "[1, 2]", 2);
        ck_assert_output(drv, "changed", "k", "{\"n\":1}", 1);
        ck_assert_output(drv, "changed", "k", "[1,2]", 2);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(driver_owns_conf) {
        char err[512];
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        ck_assert_int_eq(sluice_conf_set(conf, "application.id", "test", err,
                                         sizeof(err)),
                         0);
        sluice_stream_from(t, "in", NULL, NULL);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_ptr_nonnull(drv);
        sluice_driver_destroy(drv); /* frees conf: valgrind/ASan would see */
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(failed_driver_new_leaves_conf_to_caller) {
        char err[512];
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_topology_t *t = sluice_topology_new();
        ck_assert_ptr_null(sluice_driver_new(t, conf, err, sizeof(err)));
        ck_assert_str_eq(sluice_conf_get(conf, "processing.guarantee"),
                         "at_least_once"); /* still ours, still valid */
        sluice_conf_destroy(conf);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(feedback_cycle_is_stopped) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_stream_to(sluice_stream_from(t, "loop", NULL, NULL), "loop",
                         NULL, NULL);
        drv = new_driver(t);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "loop", "k", "v", 1),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "one piped record caused more than 100000 records "
                         "to be fed back into the topology (last to topic "
                         "\"loop\"): a cycle?");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* An int64 source; returns a driver configured with @handler. */
static sluice_driver_t *handler_driver(sluice_topology_t *t, const char *handler,
                                       const char *dlq) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        sluice_driver_t *drv;
        ck_assert_int_eq(sluice_conf_set(conf,
                                         "default.deserialization.exception."
                                         "handler",
                                         handler, err, sizeof(err)),
                         0);
        if (dlq)
                ck_assert_int_eq(sluice_conf_set(conf,
                                                 "errors.deadletterqueue.topic."
                                                 "name",
                                                 dlq, err, sizeof(err)),
                                 0);
        /* quiet: the skip is logged at warning level */
        sluice_conf_set_log_cb(conf, NULL, SLUICE_LOG_ERR, NULL);
        sluice_stream_to(sluice_stream_from(t, "in", sluice_serde_string(),
                                            sluice_serde_int64()),
                         "out", NULL, NULL);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        return drv;
}

START_TEST(deserialization_handler_continue_skips) {
        static const unsigned char eight[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv = handler_driver(t, "log_and_continue", NULL);
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "bad", 3, 1,
                                            NULL, 0),
                         0);
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, eight, 8, 2,
                                            NULL, 0),
                         0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 1);
        ck_assert_int_eq(sluice_driver_read(drv, "out")->timestamp, 2);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(deserialization_handler_dead_letter) {
        sluice_header_t h    = {"trace", "t9", 2};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv = handler_driver(t, "dead_letter", "in-dlq");
        const sluice_output_t *o;
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "bad", 3, 7, &h,
                                            1),
                         0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 0);
        o = sluice_driver_read(drv, "in-dlq");
        ck_assert_ptr_nonnull(o);
        /* the record as it came, with the reason and origin in headers */
        ck_assert_mem_eq(o->key, "k", 1);
        ck_assert_uint_eq(o->value_len, 3);
        ck_assert_mem_eq(o->value, "bad", 3);
        ck_assert_int_eq(o->timestamp, 7);
        ck_assert_int_eq(o->partition, -1);
        ck_assert_uint_eq(o->header_cnt, 5);
        ck_assert_str_eq(o->headers[0].name, "trace");
        ck_assert_str_eq(o->headers[1].name, "__streams.errors.message");
        ck_assert_uint_eq(o->headers[1].len,
                          strlen("node \"KSTREAM-SOURCE-0000000000\": cannot "
                                 "deserialize value: serde \"int64\": "
                                 "expected 8 bytes, got 3"));
        ck_assert_mem_eq(o->headers[1].value,
                         "node \"KSTREAM-SOURCE-0000000000\": cannot "
                         "deserialize value: serde \"int64\": expected 8 "
                         "bytes, got 3",
                         o->headers[1].len);
        ck_assert_str_eq(o->headers[2].name, "__streams.errors.topic");
        ck_assert_mem_eq(o->headers[2].value, "in", 2);
        ck_assert_str_eq(o->headers[3].name, "__streams.errors.partition");
        ck_assert_mem_eq(o->headers[3].value, "0", 1);
        ck_assert_str_eq(o->headers[4].name, "__streams.errors.offset");
        ck_assert_mem_eq(o->headers[4].value, "0", 1);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(dead_letter_needs_a_topic) {
        char err[512];
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_from(t, "in", NULL, NULL);
        sluice_conf_set(conf, "default.deserialization.exception.handler",
                        "dead_letter", err, sizeof(err));
        ck_assert_ptr_null(sluice_driver_new(t, conf, err, sizeof(err)));
        ck_assert_str_eq(err, "default.deserialization.exception.handler="
                              "dead_letter needs "
                              "errors.deadletterqueue.topic.name");
        sluice_conf_destroy(conf);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_driver(void) {
        Suite *s  = suite_create("driver");
        TCase *tc = tcase_create("driver");
        tcase_add_test(tc, unknown_topic_is_an_error);
        tcase_add_test(tc, invalid_arguments);
        tcase_add_test(tc, offsets_count_per_topic);
        tcase_add_test(tc, many_records_keep_order);
        tcase_add_test(tc, output_to_source_topic_is_processed_again);
        tcase_add_test(tc, pattern_source_matches_whole_name);
        tcase_add_test(tc,
                       undecodable_records_fail_with_offset_and_lose_nothing_else);
        tcase_add_test(tc, json_decoded_once_encoded_only_when_changed);
        tcase_add_test(tc, driver_owns_conf);
        tcase_add_test(tc, failed_driver_new_leaves_conf_to_caller);
        tcase_add_test(tc, feedback_cycle_is_stopped);
        tcase_add_test(tc, deserialization_handler_continue_skips);
        tcase_add_test(tc, deserialization_handler_dead_letter);
        tcase_add_test(tc, dead_letter_needs_a_topic);
        suite_add_tcase(s, tc);
        return s;
}
