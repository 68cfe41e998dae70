/*
 * test_ops.c - every stateless operator through the test driver: exact
 * output sequences; keys, values, timestamps and headers kept or changed as
 * documented; raw bytes passed through where the value did not change.
 */
#include "helpers.h"
#include "test_list.h"

#include <jansson.h>
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

static sluice_stream_t *src_str(const char *topic) {
        return sluice_stream_from(t, topic, sluice_serde_string(),
                                  sluice_serde_string());
}

static void start(void) {
        char err[512];
        drv = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_msg(drv != NULL, "driver: %s", err);
}

static void pipe_ok(const char *topic, const char *k, const char *v,
                    int64_t ts) {
        int rc = sluice_driver_pipe_str(drv, topic, k, v, ts);
        ck_assert_msg(rc == 0, "pipe: %s", sluice_driver_last_error(drv));
}

/* ---- callbacks ---- */

static int swap_kv(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *k = sluice_record_key(rec);
        const sluice_value_t *v = sluice_record_value(rec);
        char kb[64], vb[64];
        (void)opaque;
        snprintf(kb, sizeof(kb), "%s", (const char *)k->u.bytes.data);
        snprintf(vb, sizeof(vb), "%s", (const char *)v->u.bytes.data);
        if (sluice_record_set_key(rec, sluice_str(vb)))
                return -1;
        return sluice_record_set_value(rec, sluice_str(kb));
}

static int append_suffix(sluice_record_t *rec, void *opaque) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s%s",
                 (const char *)sluice_record_value(rec)->u.bytes.data,
                 (const char *)opaque);
        return sluice_record_set_value(rec, sluice_str(buf));
}

static int key_from_value_prefix(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return sluice_record_set_key(rec, sluice_strn(v->u.bytes.data, 1));
}

static int bad_set_key(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, sluice_str("nope"));
}

static int bad_set_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_value(rec, sluice_str("nope"));
}

static int failing_map(sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return -1;
}

static bool starts_with(const sluice_record_t *rec, void *opaque) {
        const char *v = sluice_record_value(rec)->u.bytes.data;
        return v && !strncmp(v, opaque, strlen(opaque));
}

/* Split the value on spaces: one record per word, keyed by the word. */
static int split_words(const sluice_record_t *rec, sluice_emitter_t *out,
                       void *opaque) {
        const char *p = sluice_record_value(rec)->u.bytes.data;
        (void)opaque;
        while (*p) {
                size_t n = strcspn(p, " ");
                if (n) {
                        int err = opaque ? sluice_emit_value(out, sluice_strn(p, n))
                                         : sluice_emit(out, sluice_strn(p, n),
                                                       sluice_strn(p, n));
                        if (err)
                                return err;
                }
                p += n;
                while (*p == ' ')
                        p++;
        }
        return 0;
}

static int emit_with_key_in_values(const sluice_record_t *rec,
                                   sluice_emitter_t *out, void *opaque) {
        (void)rec;
        (void)opaque;
        return sluice_emit(out, sluice_str("k"), sluice_str("v"));
}

typedef struct {
        char seen[8][64];
        int n;
} seen_t;

static void remember(const sluice_record_t *rec, void *opaque) {
        seen_t *s = opaque;
        if (s->n < 8)
                snprintf(s->seen[s->n++], 64, "%s=%s@%lld",
                         (const char *)sluice_record_key(rec)->u.bytes.data,
                         (const char *)sluice_record_value(rec)->u.bytes.data,
                         (long long)sluice_record_timestamp(rec));
}

/* ---- map family ---- */

START_TEST(map_changes_key_and_value_keeps_timestamp) {
        sluice_stream_to(sluice_stream_map(src_str("in"), swap_kv, NULL), "out",
                         NULL, NULL);
        start();
        pipe_ok("in", "a", "1", 10);
        pipe_ok("in", "b", "2", 20);
        ck_assert_output(drv, "out", "1", "a", 10);
        ck_assert_output(drv, "out", "2", "b", 20);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
}
END_TEST

START_TEST(map_values_changes_value_only) {
        sluice_stream_to(sluice_stream_map_values(src_str("in"), append_suffix,
                                                  "!"),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "a", "x", 1);
        pipe_ok("in", NULL, "y", 2);
        ck_assert_output(drv, "out", "a", "x!", 1);
        ck_assert_output(drv, "out", NULL, "y!", 2);
}
END_TEST

START_TEST(map_values_may_not_change_key) {
        sluice_stream_to(sluice_stream_map_values(src_str("in"), bad_set_key,
                                                  NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "a", "x", 1),
                         SLUICE_ERR_CALLBACK);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-MAPVALUES-0000000001\": map_values "
                         "callback changed the key (record at topic \"in\" "
                         "partition 0 offset 0)");
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 0);
}
END_TEST

START_TEST(select_key_keeps_value_bytes) {
        sluice_stream_to(sluice_stream_select_key(src_str("in"),
                                                  key_from_value_prefix, NULL),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "old", "hello", 5);
        ck_assert_output(drv, "out", "h", "hello", 5);
}
END_TEST

START_TEST(select_key_may_not_change_value) {
        sluice_stream_to(sluice_stream_select_key(src_str("in"), bad_set_value,
                                                  NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "a", "x", 1),
                         SLUICE_ERR_CALLBACK);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "select_key callback changed the value"));
}
END_TEST

START_TEST(callback_failure_message) {
        sluice_stream_to(sluice_stream_named(sluice_stream_map(src_str("in"),
                                                               failing_map,
                                                               NULL),
                                             "explode"),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "a", "b", 0),
                         SLUICE_ERR_CALLBACK);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "a", "b", 0),
                         SLUICE_ERR_CALLBACK);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"explode\": map callback failed (record at "
                         "topic \"in\" partition 0 offset 1)");
}
END_TEST

/* ---- filters ---- */

START_TEST(filter_and_filter_not_are_complements) {
        sluice_stream_t *s = src_str("in");
        sluice_stream_to(sluice_stream_filter(s, starts_with, "a"), "yes", NULL,
                         NULL);
        sluice_stream_to(sluice_stream_filter_not(s, starts_with, "a"), "no",
                         NULL, NULL);
        start();
        pipe_ok("in", "1", "apple", 1);
        pipe_ok("in", "2", "banana", 2);
        pipe_ok("in", "3", "avocado", 3);
        ck_assert_uint_eq(sluice_driver_queued(drv, "yes"), 2);
        ck_assert_uint_eq(sluice_driver_queued(drv, "no"), 1);
        ck_assert_output(drv, "yes", "1", "apple", 1);
        ck_assert_output(drv, "yes", "3", "avocado", 3);
        ck_assert_output(drv, "no", "2", "banana", 2);
}
END_TEST

/* ---- flat maps ---- */

START_TEST(flat_map_emits_each_word_in_order) {
        sluice_stream_to(sluice_stream_flat_map(src_str("in"), split_words,
                                                NULL),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "line1", "the quick  fox", 7);
        pipe_ok("in", "line2", "", 8);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 3);
        ck_assert_output(drv, "out", "the", "the", 7);
        ck_assert_output(drv, "out", "quick", "quick", 7);
        ck_assert_output(drv, "out", "fox", "fox", 7);
}
END_TEST

START_TEST(flat_map_values_keeps_key) {
        sluice_stream_to(sluice_stream_flat_map_values(src_str("in"),
                                                       split_words, "v"),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "k", "a b", 3);
        ck_assert_output(drv, "out", "k", "a", 3);
        ck_assert_output(drv, "out", "k", "b", 3);
}
END_TEST

START_TEST(flat_map_values_may_not_emit_key) {
        sluice_stream_to(sluice_stream_flat_map_values(
                             src_str("in"), emit_with_key_in_values, NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 0),
                         SLUICE_ERR_CALLBACK);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "flat_map_values may not change the key"));
}
END_TEST

/* ---- peek, foreach ---- */

START_TEST(peek_sees_records_and_passes_them_on) {
        seen_t seen = {0};
        sluice_stream_to(sluice_stream_peek(src_str("in"), remember, &seen),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "a", "1", 100);
        pipe_ok("in", "b", "2", 200);
        ck_assert_int_eq(seen.n, 2);
        ck_assert_str_eq(seen.seen[0], "a=1@100");
        ck_assert_str_eq(seen.seen[1], "b=2@200");
        ck_assert_output(drv, "out", "a", "1", 100);
        ck_assert_output(drv, "out", "b", "2", 200);
}
END_TEST

START_TEST(foreach_is_terminal) {
        seen_t seen = {0};
        ck_assert_int_eq(sluice_stream_foreach(src_str("in"), remember, &seen),
                         0);
        start();
        pipe_ok("in", "x", "y", 1);
        ck_assert_int_eq(seen.n, 1);
        ck_assert_str_eq(seen.seen[0], "x=y@1");
}
END_TEST

/* ---- branch, merge ---- */

START_TEST(branch_first_match_wins_default_last) {
        sluice_predicate_cb *preds[3] = {starts_with, starts_with, NULL};
        void *ops[3]                  = {"a", "ab", NULL};
        sluice_stream_t *out[3];
        ck_assert_int_eq(sluice_stream_branch(src_str("in"), 3, preds, ops, out),
                         0);
        sluice_stream_to(out[0], "a", NULL, NULL);
        sluice_stream_to(out[1], "ab", NULL, NULL);
        sluice_stream_to(out[2], "rest", NULL, NULL);
        start();
        pipe_ok("in", "1", "abc", 1); /* matches both: first wins */
        pipe_ok("in", "2", "xyz", 2);
        pipe_ok("in", "3", "a", 3);
        ck_assert_uint_eq(sluice_driver_queued(drv, "a"), 2);
        ck_assert_uint_eq(sluice_driver_queued(drv, "ab"), 0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "rest"), 1);
        ck_assert_output(drv, "a", "1", "abc", 1);
        ck_assert_output(drv, "a", "3", "a", 3);
        ck_assert_output(drv, "rest", "2", "xyz", 2);
}
END_TEST

START_TEST(branch_without_default_drops_unmatched) {
        sluice_predicate_cb *preds[1] = {starts_with};
        void *ops[1]                  = {"a"};
        sluice_stream_t *out[1];
        sluice_stream_branch(src_str("in"), 1, preds, ops, out);
        sluice_stream_to(out[0], "a", NULL, NULL);
        start();
        pipe_ok("in", "1", "b", 1);
        ck_assert_uint_eq(sluice_driver_queued(drv, "a"), 0);
}
END_TEST

START_TEST(merge_interleaves_in_arrival_order) {
        sluice_stream_t *m = sluice_stream_merge(src_str("left"),
                                                 src_str("right"));
        sluice_stream_to(m, "out", NULL, NULL);
        start();
        pipe_ok("left", "l", "1", 1);
        pipe_ok("right", "r", "2", 2);
        pipe_ok("left", "l", "3", 3);
        ck_assert_output(drv, "out", "l", "1", 1);
        ck_assert_output(drv, "out", "r", "2", 2);
        ck_assert_output(drv, "out", "l", "3", 3);
}
END_TEST

/* ---- fan-out: siblings do not see each other's changes ---- */

static int json_add_field(sluice_record_t *rec, void *opaque) {
        json_t *v = sluice_record_json_edit(rec);
        return json_object_set_new(v, opaque, json_true());
}

START_TEST(sibling_edits_are_private) {
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_json());
        sluice_stream_to(sluice_stream_map_values(s, json_add_field, "x"),
                         "with-x", NULL, NULL);
        sluice_stream_to(s, "plain", NULL, NULL);
        sluice_stream_to(sluice_stream_map_values(s, json_add_field, "y"),
                         "with-y", NULL, NULL);
        start();
        pipe_ok("in", "k", "{\"a\": 1}", 1);
        ck_assert_output(drv, "with-x", "k", "{\"a\":1,\"x\":true}", 1);
        ck_assert_output(drv, "plain", "k", "{\"a\": 1}", 1); /* raw bytes */
        ck_assert_output(drv, "with-y", "k", "{\"a\":1,\"y\":true}", 1);
}
END_TEST

/* ---- serdes through operators ---- */

static int to_length(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_value(
            rec, sluice_int64((int64_t)sluice_record_value(rec)->u.bytes.len));
}

START_TEST(with_serdes_declares_new_value_type) {
        static const unsigned char eight[8] = {0, 0, 0, 0, 0, 0, 0, 5};
        sluice_stream_t *s = sluice_stream_map_values(src_str("in"), to_length,
                                                      NULL);
        sluice_stream_to(sluice_stream_with_serdes(s, NULL, sluice_serde_int64()),
                         "lengths", NULL, NULL);
        start();
        pipe_ok("in", "k", "hello", 1);
        {
                const sluice_output_t *o = sluice_driver_read(drv, "lengths");
                ck_assert_ptr_nonnull(o);
                ck_assert_uint_eq(o->value_len, 8);
                ck_assert_mem_eq(o->value, eight, 8);
        }
}
END_TEST

START_TEST(wrong_sink_serde_fails_record) {
        sluice_stream_t *s = sluice_stream_map_values(src_str("in"), to_length,
                                                      NULL);
        sluice_stream_to(s, "out", NULL, NULL); /* still says string */
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "abc", 1),
                         SLUICE_ERR_SERDE);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-SINK-0000000002\": value: serde "
                         "\"string\" cannot serialize a int64 value (record "
                         "at topic \"in\" partition 0 offset 0)");
}
END_TEST

START_TEST(null_key_and_tombstone_pass_through) {
        sluice_stream_to(src_str("in"), "out", NULL, NULL);
        start();
        pipe_ok("in", NULL, NULL, 4);
        pipe_ok("in", "", "", 5);
        ck_assert_output(drv, "out", NULL, NULL, 4);
        ck_assert_output(drv, "out", "", "", 5);
}
END_TEST

/* ---- timestamps and headers ---- */

static int bump_ts_and_tag(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        sluice_record_set_timestamp(rec, sluice_record_timestamp(rec) + 1000);
        sluice_record_header_remove(rec, "drop");
        return sluice_record_header_add(rec, "seen-by", "map", 3);
}

START_TEST(headers_preserved_and_changed_as_documented) {
        sluice_header_t in[3] = {{"trace", "t-1", 3},
                                 {"drop", "x", 1},
                                 {"nullh", NULL, 0}};
        const sluice_output_t *plain, *mapped;
        sluice_stream_t *s = src_str("in");
        sluice_stream_to(s, "plain", NULL, NULL);
        sluice_stream_to(sluice_stream_map(s, bump_ts_and_tag, NULL), "mapped",
                         NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "v", 1, 50, in, 3),
                         0);
        plain = sluice_driver_read(drv, "plain");
        ck_assert_ptr_nonnull(plain);
        ck_assert_int_eq(plain->timestamp, 50);
        ck_assert_uint_eq(plain->header_cnt, 3);
        ck_assert_str_eq(plain->headers[0].name, "trace");
        ck_assert_mem_eq(plain->headers[0].value, "t-1", 3);
        ck_assert_str_eq(plain->headers[1].name, "drop");
        ck_assert_ptr_null(plain->headers[2].value);

        mapped = sluice_driver_read(drv, "mapped");
        ck_assert_ptr_nonnull(mapped);
        ck_assert_int_eq(mapped->timestamp, 1050);
        ck_assert_uint_eq(mapped->header_cnt, 3);
        ck_assert_str_eq(mapped->headers[0].name, "trace");
        ck_assert_str_eq(mapped->headers[1].name, "nullh");
        ck_assert_str_eq(mapped->headers[2].name, "seen-by");
        ck_assert_uint_eq(mapped->headers[2].len, 3);
        ck_assert_mem_eq(mapped->headers[2].value, "map", 3);
}
END_TEST

static bool has_trace(const sluice_record_t *rec, void *opaque) {
        const sluice_header_t *h = sluice_record_header_last(rec, "trace");
        (void)opaque;
        return h && sluice_record_header_count(rec) == 2 &&
               sluice_record_header(rec, 5) == NULL &&
               !strcmp(sluice_record_topic(rec), "in") &&
               sluice_record_partition(rec) == 0 &&
               sluice_record_offset(rec) == 0 && h->len == 2 &&
               !memcmp(h->value, "t2", 2);
}

START_TEST(record_accessors_see_origin_and_last_header) {
        sluice_header_t in[2] = {{"trace", "t1", 2}, {"trace", "t2", 2}};
        sluice_stream_to(sluice_stream_filter(src_str("in"), has_trace, NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", "k", 1, "v", 1, 1, in, 2),
                         0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 1);
}
END_TEST

/* ---- dynamic topics and partitioners ---- */

static const char *topic_by_key(const sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_key(rec)->u.bytes.data;
}

static int32_t last_byte_partitioner(const sluice_record_t *rec,
                                     const void *key, size_t key_len,
                                     int32_t cnt, void *opaque) {
        (void)rec;
        (void)opaque;
        if (!key_len)
                return -1;
        return ((const unsigned char *)key)[key_len - 1] % cnt;
}

START_TEST(dynamic_topic_and_partitioner) {
        sluice_sink_t *sink = sluice_stream_to_dynamic(src_str("in"),
                                                       topic_by_key, NULL, NULL,
                                                       NULL);
        ck_assert_ptr_nonnull(sink);
        ck_assert_int_eq(sluice_sink_set_partitioner(sink,
                                                     last_byte_partitioner,
                                                     NULL),
                         0);
        start();
        ck_assert_int_eq(sluice_driver_set_partitions(drv, "red", 4), 0);
        ck_assert_int_eq(sluice_driver_set_partitions(drv, "red", 0),
                         SLUICE_ERR_INVALID_ARG);
        pipe_ok("in", "red", "1", 1);  /* 'd' = 100 -> 100 % 4 = 0 */
        pipe_ok("in", "blue", "2", 2); /* 'e' = 101 -> 101 % 1 = 0 */
        pipe_ok("in", "redd", "3", 3);
        {
                const sluice_output_t *o = sluice_driver_read(drv, "red");
                ck_assert_int_eq(o->partition, 0);
                ck_assert_str_eq(o->topic, "red");
        }
        ck_assert_output(drv, "blue", "blue", "2", 2);
        ck_assert_uint_eq(sluice_driver_queued(drv, "redd"), 1);
}
END_TEST

static int32_t bad_partitioner(const sluice_record_t *rec, const void *key,
                               size_t key_len, int32_t cnt, void *opaque) {
        (void)rec;
        (void)key;
        (void)key_len;
        (void)opaque;
        return cnt; /* one past the end */
}

START_TEST(partitioner_out_of_range_fails_record) {
        sluice_sink_t *sink = sluice_stream_to(src_str("in"), "out", NULL, NULL);
        sluice_sink_set_partitioner(sink, bad_partitioner, NULL);
        start();
        sluice_driver_set_partitions(drv, "out", 3);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 0),
                         SLUICE_ERR_CALLBACK);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "partitioner returned partition 3 of 3 partitions"));
}
END_TEST

static const char *null_topic(const sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return NULL;
}

START_TEST(dynamic_topic_null_fails_record) {
        sluice_stream_to_dynamic(src_str("in"), null_topic, NULL, NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 0),
                         SLUICE_ERR_CALLBACK);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "topic callback returned NULL"));
}
END_TEST

/* ---- values of every type through a map ---- */

static void free_point(void *p) {
        free(p);
}

static int to_object(sluice_record_t *rec, void *opaque) {
        int *p = malloc(sizeof(int));
        (void)opaque;
        if (!p)
                return -1;
        *p = (int)sluice_record_value(rec)->u.bytes.len;
        return sluice_record_set_value(rec, sluice_object_new(p, free_point));
}

static int object_serialize(const sluice_serde_t *serde,
                            const sluice_value_t *in, sluice_buf_t *buf,
                            const void **out, size_t *out_len, char *errstr,
                            size_t errstr_size) {
        int n;
        (void)serde;
        (void)errstr;
        (void)errstr_size;
        if (sluice_buf_reserve(buf, 32))
                return -1;
        n = snprintf((char *)buf->data, 32, "len=%d", *(int *)in->u.obj.ptr);
        *out     = buf->data;
        *out_len = (size_t)n;
        return 0;
}

static int object_deserialize(const sluice_serde_t *serde, const void *data,
                              size_t len, sluice_value_t *out, char *errstr,
                              size_t errstr_size) {
        (void)serde;
        (void)data;
        (void)len;
        (void)out;
        snprintf(errstr, errstr_size, "write-only");
        return -1;
}

START_TEST(user_serde_and_object_values) {
        static const sluice_serde_t lenserde = {SLUICE_SERDE_VERSION, "len",
                                                object_deserialize,
                                                object_serialize, NULL};
        sluice_stream_t *s = sluice_stream_map_values(src_str("in"), to_object,
                                                      NULL);
        sluice_stream_to(s, "out", NULL, &lenserde);
        start();
        pipe_ok("in", "k", "four", 9);
        ck_assert_output(drv, "out", "k", "len=4", 9);
}
END_TEST


/* ---- ownership corner cases (found in review) ---- */

static int emit_input_json_twice(const sluice_record_t *rec,
                                 sluice_emitter_t *out, void *opaque) {
        json_t *v = sluice_record_value(rec)->u.json;
        int err;
        (void)opaque;
        /* handing the input's own value back shares it */
        if ((err = sluice_emit_value(out, sluice_json_new(v))))
                return err;
        return sluice_emit_value(out, sluice_json_new(v));
}

START_TEST(edit_after_shared_emit_copies) {
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_json());
        sluice_stream_t *twice = sluice_stream_flat_map_values(
            s, emit_input_json_twice, NULL);
        sluice_stream_to(sluice_stream_map_values(twice, json_add_field, "f"),
                         "edited", NULL, NULL);
        sluice_stream_to(s, "plain", NULL, NULL);
        start();
        pipe_ok("in", "k", "{\"a\":1}", 1);
        /* each copy edited on its own: no "f" added twice, input intact */
        ck_assert_output(drv, "edited", "k", "{\"a\":1,\"f\":true}", 1);
        ck_assert_output(drv, "edited", "k", "{\"a\":1,\"f\":true}", 1);
        ck_assert_output(drv, "plain", "k", "{\"a\":1}", 1);
}
END_TEST

static int edit_then_set_same(sluice_record_t *rec, void *opaque) {
        json_t *j = sluice_record_json_edit(rec);
        (void)opaque;
        json_object_set_new(j, "x", json_integer(7));
        /* handing the record's own value back takes nothing over */
        return sluice_record_set_value(rec, sluice_json_new(j));
}

START_TEST(set_value_with_own_json_is_safe) {
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_json());
        sluice_stream_to(sluice_stream_map_values(s, edit_then_set_same, NULL),
                         "out", NULL, NULL);
        start();
        pipe_ok("in", "k", "{}", 1);
        ck_assert_output(drv, "out", "k", "{\"x\":7}", 1);
}
END_TEST

START_TEST(json_edit_of_non_json_is_null) {
        sluice_stream_to(sluice_stream_map_values(src_str("in"), json_add_field,
                                                  "x"),
                         "out", NULL, NULL);
        start();
        /* json_object_set_new(NULL, ...) fails: the callback reports it */
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 1),
                         SLUICE_ERR_CALLBACK);
}
END_TEST

static int emit_ignoring_errors(const sluice_record_t *rec,
                                sluice_emitter_t *out, void *opaque) {
        (void)rec;
        (void)opaque;
        sluice_emit_value(out, sluice_int64(1)); /* fails at the sink */
        sluice_emit_value(out, sluice_str("after"));
        return 0; /* and pretends all went well */
}

START_TEST(failed_emit_fails_record_even_if_callback_returns_zero) {
        sluice_stream_to(sluice_stream_flat_map_values(
                             src_str("in"), emit_ignoring_errors, NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 1),
                         SLUICE_ERR_SERDE);
        ck_assert_str_eq(sluice_driver_last_error(drv),
                         "node \"KSTREAM-SINK-0000000002\": value: serde "
                         "\"string\" cannot serialize a int64 value (record "
                         "at topic \"in\" partition 0 offset 0)");
        /* the emit after the failure was refused */
        ck_assert_uint_eq(sluice_driver_queued(drv, "out"), 0);
}
END_TEST

static int flat_fails(const sluice_record_t *rec, sluice_emitter_t *out,
                      void *opaque) {
        (void)rec;
        (void)out;
        (void)opaque;
        return 42;
}

START_TEST(flat_map_callback_error_code) {
        sluice_stream_to(sluice_stream_flat_map(src_str("in"), flat_fails, NULL),
                         "out", NULL, NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "v", 1),
                         SLUICE_ERR_CALLBACK);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "node \"KSTREAM-FLATMAP-0000000001\": flat_map "
                         "callback failed"));
}
END_TEST

static int tag_a(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_header_add(rec, "a", "1", 1);
}

START_TEST(header_changes_are_private_to_a_branch) {
        sluice_stream_t *s = src_str("in");
        sluice_stream_to(sluice_stream_map(s, tag_a, NULL), "tagged", NULL,
                         NULL); /* first child: works on a copy */
        sluice_stream_to(s, "untagged", NULL, NULL);
        start();
        pipe_ok("in", "k", "v", 1);
        {
                const sluice_output_t *o = sluice_driver_read(drv, "tagged");
                ck_assert_uint_eq(o->header_cnt, 1);
                ck_assert_str_eq(o->headers[0].name, "a");
                o = sluice_driver_read(drv, "untagged");
                ck_assert_uint_eq(o->header_cnt, 0);
        }
}
END_TEST

static int emit_big(const sluice_record_t *rec, sluice_emitter_t *out,
                    void *opaque) {
        static char buf[8192];
        int i, err;
        (void)rec;
        (void)opaque;
        for (i = 0; i < 50; i++) {
                memset(buf, 'a' + i % 26, sizeof(buf) - 1);
                buf[sizeof(buf) - 1] = '\0';
                if ((err = sluice_emit_value(out, sluice_str(buf))))
                        return err;
        }
        return 0;
}

START_TEST(large_values_grow_the_arena) {
        int i, round;
        sluice_stream_to(sluice_stream_flat_map_values(src_str("in"), emit_big,
                                                       NULL),
                         "out", NULL, NULL);
        start();
        for (round = 0; round < 2; round++) { /* second round: reused arena */
                pipe_ok("in", "k", "v", round);
                for (i = 0; i < 50; i++) {
                        const sluice_output_t *o = sluice_driver_read(drv, "out");
                        ck_assert_ptr_nonnull(o);
                        ck_assert_uint_eq(o->value_len, 8191);
                        ck_assert_int_eq(((const char *)o->value)[0],
                                         'a' + i % 26);
                        ck_assert_int_eq(((const char *)o->value)[8190],
                                         'a' + i % 26);
                }
        }
}
END_TEST

static int frees;
static void count_free(void *p) {
        frees++;
        free(p);
}
static int to_counted_object(sluice_record_t *rec, void *opaque) {
        int *p = malloc(sizeof(int));
        (void)opaque;
        *p     = 3;
        return sluice_record_set_value(rec, sluice_object_new(p, count_free));
}

START_TEST(object_freed_once_with_fan_out) {
        static const sluice_serde_t lenserde = {SLUICE_SERDE_VERSION, "len",
                                                object_deserialize,
                                                object_serialize, NULL};
        sluice_stream_t *s = sluice_stream_map_values(src_str("in"),
                                                      to_counted_object, NULL);
        sluice_stream_to(s, "a", NULL, &lenserde);
        sluice_stream_to(s, "b", NULL, &lenserde);
        sluice_stream_to(s, "c", NULL, &lenserde);
        frees = 0;
        start();
        pipe_ok("in", "k", "v", 1);
        pipe_ok("in", "k", "v", 2);
        ck_assert_int_eq(frees, 2);
        ck_assert_output(drv, "a", "k", "len=3", 1);
        ck_assert_output(drv, "c", "k", "len=3", 1);
}
END_TEST

START_TEST(exact_topic_wins_over_pattern) {
        sluice_stream_to(src_str("logs-app"), "exact", NULL, NULL);
        sluice_stream_to(sluice_stream_from_pattern(t, "logs-.*", NULL, NULL),
                         "pattern", NULL, NULL);
        start();
        pipe_ok("logs-app", "k", "1", 1);
        pipe_ok("logs-db", "k", "2", 2);
        ck_assert_output(drv, "exact", "k", "1", 1);
        ck_assert_output(drv, "pattern", "k", "2", 2);
        ck_assert_uint_eq(sluice_driver_queued(drv, "exact"), 0);
        ck_assert_uint_eq(sluice_driver_queued(drv, "pattern"), 0);
}
END_TEST

START_TEST(sink_key_serde_differs_from_source) {
        static const unsigned char seven[4] = {0, 0, 0, 7};
        sluice_stream_t *s = sluice_stream_from(t, "in", sluice_serde_int32(),
                                                sluice_serde_string());
        /* bytes for the key at the sink: re-encoded (zero copy) by it */
        sluice_stream_to(s, "out", sluice_serde_bytes(), NULL);
        start();
        ck_assert_int_eq(sluice_driver_pipe(drv, "in", seven, 4, "v", 1, 1,
                                            NULL, 0),
                         SLUICE_ERR_SERDE);
        ck_assert(strstr(sluice_driver_last_error(drv),
                         "key: serde \"bytes\" cannot serialize a int32 "
                         "value"));
}
END_TEST

START_TEST(merge_of_two_serdes_passes_each_records_bytes) {
        sluice_stream_t *a = sluice_stream_from(t, "a", sluice_serde_string(),
                                                sluice_serde_json());
        sluice_stream_t *b = sluice_stream_from(t, "b", sluice_serde_string(),
                                                sluice_serde_string());
        sluice_stream_to(sluice_stream_merge(a, b), "out", NULL,
                         sluice_serde_json());
        start();
        pipe_ok("a", "k", "{ \"x\" : 1 }", 1); /* same serde: bytes as is */
        ck_assert_output(drv, "out", "k", "{ \"x\" : 1 }", 1);
        /* a string value cannot be written by the JSON serde */
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "b", "k", "text", 2),
                         SLUICE_ERR_SERDE);
}
END_TEST

/* ---- repartition ---- */

START_TEST(repartition_through_internal_topic) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        sluice_stream_t *s  = sluice_stream_select_key(src_str("in"),
                                                       key_from_value_prefix,
                                                       NULL);
        s = sluice_stream_repartition(s, "by-letter", 0);
        ck_assert_ptr_nonnull(s);
        sluice_stream_to(sluice_stream_map_values(s, append_suffix, "+"), "out",
                         NULL, NULL);
        ck_assert_int_eq(sluice_conf_set(conf, "application.id", "myapp", err,
                                         sizeof(err)),
                         0);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        pipe_ok("in", "1", "apple", 10);
        pipe_ok("in", "2", "berry", 20);
        ck_assert_output(drv, "out", "a", "apple+", 10);
        ck_assert_output(drv, "out", "b", "berry+", 20);
        /* fed back in, not captured */
        ck_assert_uint_eq(sluice_driver_queued(drv, "myapp-by-letter-repartition"),
                          0);
        {
                char *d = sluice_topology_describe(t);
                ck_assert(strstr(d, "    Sink: by-letter-repartition-sink "
                                    "(topic: myapp-by-letter-repartition)\n"));
                ck_assert(strstr(d, "   Sub-topology: 1\n    Source: "
                                    "by-letter-repartition-source (topics: "
                                    "[myapp-by-letter-repartition])\n"));
                free(d);
        }
        {
                /* the topology is bound to its application.id now */
                sluice_conf_t *other = sluice_conf_new();
                sluice_conf_set(other, "application.id", "other", err,
                                sizeof(err));
                ck_assert_ptr_null(sluice_driver_new(t, other, err, sizeof(err)));
                ck_assert_str_eq(err, "the topology is already in use with "
                                      "application.id \"myapp\" (its internal "
                                      "topics are named after it)");
                sluice_conf_destroy(other);
        }
}
END_TEST

START_TEST(repartition_mistakes) {
        sluice_stream_t *s = src_str("in");
        char err[512];
        ck_assert_ptr_null(sluice_stream_repartition(s, "x", -1));
        sluice_topology_validate(t, err, sizeof(err));
        ck_assert_str_eq(err, "sluice_stream_repartition: partitions must be 0 "
                              "(as the input) or more");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        s = src_str("in");
        ck_assert_ptr_nonnull(sluice_stream_repartition(s, "x", 0));
        ck_assert_ptr_null(sluice_stream_repartition(s, "x", 2));
        sluice_topology_validate(t, err, sizeof(err));
        ck_assert_str_eq(err, "sluice_stream_repartition: a repartition named "
                              "\"x\" already exists");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_repartition(src_str("in"), "a b", 0));
        sluice_topology_validate(t, err, sizeof(err));
        ck_assert_str_eq(err, "sluice_stream_repartition: \"a b\" cannot name "
                              "a topic (legal: a-z A-Z 0-9 . _ -)");
}
END_TEST

Suite *suite_ops(void) {
        Suite *s = suite_create("ops");
        TCase *tc = tcase_create("stateless");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, map_changes_key_and_value_keeps_timestamp);
        tcase_add_test(tc, map_values_changes_value_only);
        tcase_add_test(tc, map_values_may_not_change_key);
        tcase_add_test(tc, select_key_keeps_value_bytes);
        tcase_add_test(tc, select_key_may_not_change_value);
        tcase_add_test(tc, callback_failure_message);
        tcase_add_test(tc, filter_and_filter_not_are_complements);
        tcase_add_test(tc, flat_map_emits_each_word_in_order);
        tcase_add_test(tc, flat_map_values_keeps_key);
        tcase_add_test(tc, flat_map_values_may_not_emit_key);
        tcase_add_test(tc, peek_sees_records_and_passes_them_on);
        tcase_add_test(tc, foreach_is_terminal);
        tcase_add_test(tc, branch_first_match_wins_default_last);
        tcase_add_test(tc, branch_without_default_drops_unmatched);
        tcase_add_test(tc, merge_interleaves_in_arrival_order);
        tcase_add_test(tc, sibling_edits_are_private);
        tcase_add_test(tc, with_serdes_declares_new_value_type);
        tcase_add_test(tc, wrong_sink_serde_fails_record);
        tcase_add_test(tc, null_key_and_tombstone_pass_through);
        tcase_add_test(tc, headers_preserved_and_changed_as_documented);
        tcase_add_test(tc, record_accessors_see_origin_and_last_header);
        tcase_add_test(tc, dynamic_topic_and_partitioner);
        tcase_add_test(tc, partitioner_out_of_range_fails_record);
        tcase_add_test(tc, dynamic_topic_null_fails_record);
        tcase_add_test(tc, user_serde_and_object_values);
        tcase_add_test(tc, edit_after_shared_emit_copies);
        tcase_add_test(tc, set_value_with_own_json_is_safe);
        tcase_add_test(tc, json_edit_of_non_json_is_null);
        tcase_add_test(tc,
                       failed_emit_fails_record_even_if_callback_returns_zero);
        tcase_add_test(tc, flat_map_callback_error_code);
        tcase_add_test(tc, header_changes_are_private_to_a_branch);
        tcase_add_test(tc, large_values_grow_the_arena);
        tcase_add_test(tc, object_freed_once_with_fan_out);
        tcase_add_test(tc, exact_topic_wins_over_pattern);
        tcase_add_test(tc, sink_key_serde_differs_from_source);
        tcase_add_test(tc, merge_of_two_serdes_passes_each_records_bytes);
        tcase_add_test(tc, repartition_through_internal_topic);
        tcase_add_test(tc, repartition_mistakes);
        suite_add_tcase(s, tc);
        return s;
}
