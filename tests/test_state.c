/*
 * test_state.c - stateful operators through the test driver: count,
 * reduce, aggregate, tables (from a topic, filter, map_values, group_by
 * with subtractors), the record cache on and off, changelog records, local
 * reads, processors with stores and punctuation, and the builder's
 * messages for stateful mistakes.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "test_util.h"
#include "test_list.h"
#include "sluice.h"
#include "../lib/state.h" /* sl_checkpoint_read() */

#define APP "st"
#define CLOG(store) APP "-" store "-changelog"

static char err[512];

static sluice_conf_t *conf_with(const char *cache, const char *store) {
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(c, "application.id", APP, err,
                                         sizeof err),
                         0);
        if (cache)
                ck_assert_int_eq(sluice_conf_set(c,
                                                 "statestore.cache.max.bytes",
                                                 cache, err, sizeof err),
                                 0);
        if (store)
                ck_assert_int_eq(sluice_conf_set(c, "default.dsl.store", store,
                                                 err, sizeof err),
                                 0);
        return c;
}

static int64_t be64(const void *p, size_t len) {
        const unsigned char *b = p;
        uint64_t v             = 0;
        size_t i;
        ck_assert_uint_eq(len, 8);
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return (int64_t)v;
}

/* The next output on @topic: key @k, int64 value @n (or null if @null),
 * timestamp @ts. */
static void expect_count(sluice_driver_t *drv, const char *topic,
                         const char *k, int64_t n, int null, int64_t ts) {
        const sluice_output_t *o = sluice_driver_read(drv, topic);
        ck_assert_msg(o != NULL, "no output on %s (expected %s=%lld)", topic,
                      k, (long long)n);
        ck_assert_uint_eq(o->key_len, strlen(k));
        ck_assert_mem_eq(o->key, k, o->key_len);
        if (null)
                ck_assert_ptr_null(o->value);
        else {
                ck_assert_ptr_nonnull(o->value);
                ck_assert_int_eq(be64(o->value, o->value_len), n);
        }
        ck_assert_int_eq(o->timestamp, ts);
}

/* flat_map_values: one value per space-separated word, key unchanged */
static int words(const sluice_record_t *rec, sluice_emitter_t *out,
                 void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *s           = v->u.bytes.data;
        size_t n = v->u.bytes.len, i = 0;
        (void)opaque;
        while (i < n) {
                size_t j;
                while (i < n && s[i] == ' ')
                        i++;
                for (j = i; j < n && s[j] != ' '; j++)
                        ;
                if (j > i) {
                        int e = sluice_emit_value(out, sluice_strn(s + i, j - i));
                        if (e)
                                return e;
                }
                i = j;
        }
        return 0;
}

/* key k, "x y z" -> count per key (no repartition: the key is kept) */
static sluice_topology_t *count_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_table_t *c    = sluice_grouped_count(
            sluice_stream_group_by_key(sluice_stream_flat_map_values(s, words,
                                                                     NULL),
                                       NULL, NULL),
            "counts");
        sluice_stream_to(sluice_table_to_stream(c), "out", NULL, NULL);
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof err), 0);
        return t;
}

START_TEST(count_cache_on_collapses_one_records_updates) {
        sluice_topology_t *t = count_topology();
        sluice_driver_t *drv =
            sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "u1", "a b c", 100),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "u2", "a", 50), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "u1", "d", 90), 0);
        /* three updates of u1 in one record: one output, one changelog
         * record */
        expect_count(drv, "out", "u1", 3, 0, 100);
        expect_count(drv, "out", "u2", 1, 0, 50);
        /* aggregate timestamp: max(record, previous aggregate) */
        expect_count(drv, "out", "u1", 4, 0, 100);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_uint_eq(sluice_driver_queued(drv, CLOG("counts")), 3);
        expect_count(drv, CLOG("counts"), "u1", 3, 0, 100);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(count_cache_off_forwards_every_update) {
        sluice_topology_t *t = count_topology();
        sluice_driver_t *drv =
            sluice_driver_new(t, conf_with("0", NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "u1", "a b c", 100),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "u1", "d", 90), 0);
        expect_count(drv, "out", "u1", 1, 0, 100);
        expect_count(drv, "out", "u1", 2, 0, 100);
        expect_count(drv, "out", "u1", 3, 0, 100);
        expect_count(drv, "out", "u1", 4, 0, 100);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_uint_eq(sluice_driver_queued(drv, CLOG("counts")), 4);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* last-write order: a key written again moves behind the others */
static int emit_keys(const sluice_record_t *rec, sluice_emitter_t *out,
                     void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *s           = v->u.bytes.data;
        size_t i;
        (void)opaque;
        for (i = 0; i < v->u.bytes.len; i++) {
                int e = sluice_emit(out, sluice_strn(s + i, 1),
                                    sluice_strn(s + i, 1));
                if (e)
                        return e;
        }
        return 0;
}

START_TEST(group_by_key_after_flat_map_repartitions) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_stream_t *k   = sluice_stream_flat_map(s, emit_keys, NULL);
        sluice_table_t *c    = sluice_grouped_count(
            sluice_stream_group_by_key(k, NULL, NULL), "letters");
        sluice_driver_t *drv;
        char *desc;
        sluice_stream_to(sluice_table_to_stream(c), "out", NULL, NULL);
        /* the key may have changed: a repartition topic named after the
         * store splits the topology */
        desc = sluice_topology_describe(t);
        ck_assert_ptr_nonnull(strstr(desc, "Sink: letters-repartition-sink "
                                           "(topic: letters-repartition)"));
        ck_assert_ptr_nonnull(strstr(desc, "Sub-topology: 1\n    Source: "
                                           "letters-repartition-source"));
        free(desc);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", NULL, "aba", 7), 0);
        /* each letter comes back through the repartition topic as its own
         * record (and commit): no collapse */
        expect_count(drv, "out", "a", 1, 0, 7);
        expect_count(drv, "out", "b", 1, 0, 7);
        expect_count(drv, "out", "a", 2, 0, 7);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        /* the repartition topic is internal: never captured */
        ck_assert_uint_eq(sluice_driver_queued(drv, APP "-letters-repartition"),
                          0);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(stream_aggregation_drops_null_keys_and_values) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_table_t *c    = sluice_grouped_count(
            sluice_stream_group_by_key(s, NULL, NULL), NULL);
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(c), "out", NULL, NULL);
        /* the generated store name, as Kafka Streams makes it */
        ck_assert_str_eq(sluice_table_store_name(c),
                         "KSTREAM-AGGREGATE-STATE-STORE-0000000001");
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", NULL, "x", 1), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", NULL, 2), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "x", 3), 0);
        expect_count(drv, "out", "k", 1, 0, 3);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* reduce: the longest string so far */
static int longest(const sluice_value_t *agg, const sluice_value_t *v,
                   sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = v->u.bytes.len > agg->u.bytes.len ? *v : *agg;
        return 0;
}

START_TEST(reduce_keeps_first_value_then_reduces) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_table_t *r    = sluice_grouped_reduce(
            sluice_stream_group_by_key(s, NULL, NULL), longest, NULL, NULL,
            "longest");
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(r), "out", NULL, NULL);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe_str(drv, "in", "k", "abc", 10);
        sluice_driver_pipe_str(drv, "in", "k", "a", 20);
        sluice_driver_pipe_str(drv, "in", "k", "abcdef", 5);
        sluice_driver_pipe_str(drv, "in", "j", "zz", 1);
        ck_assert_output(drv, "out", "k", "abc", 10);
        ck_assert_output(drv, "out", "k", "abc", 20);
        ck_assert_output(drv, "out", "k", "abcdef", 20);
        ck_assert_output(drv, "out", "j", "zz", 1);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* aggregate: {"n": count, "sum": total of int values} as JSON, edited in
 * place */
static int agg_init(sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_json_new(json_pack("{s:i,s:i}", "n", 0, "sum", 0));
        return 0;
}
static int agg_add(const sluice_value_t *key, const sluice_value_t *value,
                   const sluice_value_t *agg, sluice_value_t *out,
                   void *opaque) {
        json_t *j = agg->u.json;
        (void)key;
        (void)opaque;
        json_object_set_new(
            j, "n", json_integer(json_integer_value(json_object_get(j, "n")) + 1));
        json_object_set_new(
            j, "sum",
            json_integer(json_integer_value(json_object_get(j, "sum")) +
                         atoi(value->u.bytes.data)));
        *out = *agg; /* handed back: edited in place */
        return 0;
}

START_TEST(aggregate_json_with_initializer) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_table_t *a    = sluice_grouped_aggregate(
            sluice_stream_group_by_key(s, NULL, NULL), agg_init, agg_add, NULL,
            NULL, sluice_serde_json(), "stats");
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(a), "out", NULL, NULL);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "5", 1), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "7", 2), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "q", "1", 3), 0);
        ck_assert_output(drv, "out", "k", "{\"n\":1,\"sum\":5}", 1);
        ck_assert_output(drv, "out", "k", "{\"n\":2,\"sum\":12}", 2);
        ck_assert_output(drv, "out", "q", "{\"n\":1,\"sum\":1}", 3);
        ck_assert_output(drv, CLOG("stats"), "k", "{\"n\":1,\"sum\":5}", 1);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

typedef struct {
        char buf[64];
        int64_t ts;
        int calls;
} got_t;

static int got_cb(const void *k, size_t klen, const void *v, size_t vlen,
                  int64_t ts, void *opaque) {
        got_t *g = opaque;
        (void)k;
        (void)klen;
        snprintf(g->buf, sizeof g->buf, "%.*s", (int)vlen, (const char *)v);
        g->ts = ts;
        g->calls++;
        return 0;
}

static int list_cb(const void *k, size_t klen, const void *v, size_t vlen,
                   int64_t ts, void *opaque) {
        char *acc = opaque;
        size_t n  = strlen(acc);
        (void)ts;
        snprintf(acc + n, 256 - n, "%.*s=%.*s;", (int)klen, (const char *)k,
                 (int)vlen, (const char *)v);
        return 0;
}

static int count_list_cb(const void *k, size_t klen, const void *v,
                         size_t vlen, int64_t ts, void *opaque) {
        char *acc = opaque;
        size_t n  = strlen(acc);
        (void)ts;
        snprintf(acc + n, 256 - n, "%.*s=%lld;", (int)klen, (const char *)k,
                 (long long)be64(v, vlen));
        return 0;
}

START_TEST(table_from_topic_tombstone_deletes) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "users", sluice_serde_string(),
                                                 sluice_serde_string(), NULL);
        sluice_driver_t *drv;
        got_t g   = {{0}, 0, 0};
        char all[256] = "";
        sluice_stream_to(sluice_table_to_stream(tbl), "out", NULL, NULL);
        ck_assert_str_eq(sluice_table_store_name(tbl),
                         "users-STATE-STORE-0000000000");
        drv = sluice_driver_new(t, conf_with(_i ? "0" : NULL, NULL), err,
                                sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe_str(drv, "users", "u1", "ann", 1);
        sluice_driver_pipe_str(drv, "users", "u2", "bob", 2);
        sluice_driver_pipe_str(drv, "users", "u1", "amy", 3);
        sluice_driver_pipe_str(drv, "users", "u2", NULL, 4);
        sluice_driver_pipe_str(drv, "users", NULL, "nokey", 5);
        ck_assert_output(drv, "out", "u1", "ann", 1);
        ck_assert_output(drv, "out", "u2", "bob", 2);
        ck_assert_output(drv, "out", "u1", "amy", 3);
        ck_assert_output(drv, "out", "u2", NULL, 4);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        /* the store: u1 = amy, u2 deleted */
        ck_assert_int_eq(sluice_driver_store_get(
                             drv, "users-STATE-STORE-0000000000", "u1", 2,
                             got_cb, &g),
                         1);
        ck_assert_str_eq(g.buf, "amy");
        ck_assert_int_eq(g.ts, 3);
        ck_assert_int_eq(sluice_driver_store_get(
                             drv, "users-STATE-STORE-0000000000", "u2", 2,
                             got_cb, &g),
                         0);
        ck_assert_int_eq(sluice_driver_store_range(
                             drv, "users-STATE-STORE-0000000000", NULL, 0,
                             NULL, 0, list_cb, all),
                         1);
        ck_assert_str_eq(all, "u1=amy;");
        /* the changelog has the tombstone */
        ck_assert_uint_eq(
            sluice_driver_queued(drv, CLOG("users-STATE-STORE-0000000000")),
            4);
        ck_assert_int_eq(sluice_driver_store_get(drv, "nope", "u1", 2, got_cb,
                                                 &g),
                         SLUICE_ERR_STATE);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

static bool starts_keep(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return v->u.bytes.len >= 4 && !memcmp(v->u.bytes.data, "keep", 4);
}

static int upper(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char buf[64];
        size_t i;
        (void)opaque;
        for (i = 0; i < v->u.bytes.len && i < sizeof buf; i++)
                buf[i] = (char)(((const char *)v->u.bytes.data)[i] & ~0x20);
        return sluice_record_set_value(rec, sluice_strn(buf, i));
}

START_TEST(table_filter_and_map_values) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "in", sluice_serde_string(),
                                                 sluice_serde_string(), "src");
        sluice_table_t *f    = sluice_table_filter(tbl, starts_keep, NULL);
        sluice_table_t *m = sluice_table_map_values(f, upper, NULL, NULL);
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(f), "filtered", NULL, NULL);
        sluice_stream_to(sluice_table_to_stream(m), "mapped", NULL,
                         sluice_serde_string());
        ck_assert_ptr_null(sluice_table_store_name(f));
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe_str(drv, "in", "a", "keepme", 1);
        sluice_driver_pipe_str(drv, "in", "b", "drop", 2);
        sluice_driver_pipe_str(drv, "in", "a", NULL, 3);
        /* a row that fails the filter becomes a delete only if it was
         * there: the table source is materialized, so the filter gets old
         * values and drops the tombstone for "b" (Kafka Streams'
         * KTableFilter over a materialized parent) */
        ck_assert_output(drv, "filtered", "a", "keepme", 1);
        ck_assert_output(drv, "filtered", "a", NULL, 3);
        ck_assert_ptr_null(sluice_driver_read(drv, "filtered"));
        ck_assert_output(drv, "mapped", "a", "KEEPME", 1);
        ck_assert_output(drv, "mapped", "a", NULL, 3);
        ck_assert_ptr_null(sluice_driver_read(drv, "mapped"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* table user -> region, regrouped by region */
static int by_region(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

START_TEST(table_group_by_count_subtracts_old_rows) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *users =
            sluice_table_from(t, "users", sluice_serde_string(),
                              sluice_serde_string(), "users");
        sluice_table_t *per   = sluice_grouped_count(
            sluice_table_group_by(users, by_region, NULL, NULL, NULL),
            "per-region");
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(per), "out", NULL, NULL);
        drv = sluice_driver_new(t, conf_with(_i ? "0" : NULL, NULL), err,
                                sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe_str(drv, "users", "u1", "eu", 1);
        sluice_driver_pipe_str(drv, "users", "u2", "eu", 2);
        sluice_driver_pipe_str(drv, "users", "u1", "us", 3);
        sluice_driver_pipe_str(drv, "users", "u2", "eu", 4); /* same group */
        sluice_driver_pipe_str(drv, "users", "u2", NULL, 5);
        expect_count(drv, "out", "eu", 1, 0, 1);
        expect_count(drv, "out", "eu", 2, 0, 2);
        /* moved: subtracted from the old group first, then added */
        expect_count(drv, "out", "eu", 1, 0, 3);
        expect_count(drv, "out", "us", 1, 0, 3);
        /* the same key: one Change(new, old): -1 +1 */
        expect_count(drv, "out", "eu", 1, 0, 4);
        /* deleted: 0 stays 0, not a delete */
        expect_count(drv, "out", "eu", 0, 0, 5);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* table reduce with subtractor: total of int64 values per group */
static int sum_add(const sluice_value_t *agg, const sluice_value_t *v,
                   sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_int64(agg->u.i64 + v->u.i64);
        return 0;
}
static int sum_sub(const sluice_value_t *agg, const sluice_value_t *v,
                   sluice_value_t *out, void *opaque) {
        (void)opaque;
        /* an empty group goes away */
        *out = agg->u.i64 - v->u.i64 ? sluice_int64(agg->u.i64 - v->u.i64)
                                     : sluice_null();
        return 0;
}
static int region_of(sluice_record_t *rec, void *opaque) {
        /* key "eu:u1" -> group "eu" */
        const sluice_value_t *k = sluice_record_key(rec);
        (void)opaque;
        return sluice_record_set_key(rec, sluice_strn(k->u.bytes.data, 2));
}

START_TEST(table_reduce_with_subtractor_deletes_empty_group) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *acc =
            sluice_table_from(t, "balances", sluice_serde_string(),
                              sluice_serde_int64(), "balances");
        sluice_table_t *tot = sluice_grouped_reduce(
            sluice_table_group_by(acc, region_of, NULL, NULL, NULL), sum_add,
            sum_sub, NULL, "totals");
        sluice_driver_t *drv;
        unsigned char v10[8] = {0, 0, 0, 0, 0, 0, 0, 10},
                      v5[8]  = {0, 0, 0, 0, 0, 0, 0, 5};
        sluice_stream_to(sluice_table_to_stream(tot), "out", NULL, NULL);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe(drv, "balances", "eu:a", 4, v10, 8, 1, NULL, 0);
        sluice_driver_pipe(drv, "balances", "eu:b", 4, v5, 8, 2, NULL, 0);
        sluice_driver_pipe(drv, "balances", "eu:a", 4, v5, 8, 3, NULL, 0);
        sluice_driver_pipe(drv, "balances", "eu:a", 4, NULL, 0, 4, NULL, 0);
        sluice_driver_pipe(drv, "balances", "eu:b", 4, NULL, 0, 5, NULL, 0);
        expect_count(drv, "out", "eu", 10, 0, 1);
        expect_count(drv, "out", "eu", 15, 0, 2);
        expect_count(drv, "out", "eu", 10, 0, 3);
        expect_count(drv, "out", "eu", 5, 0, 4);
        expect_count(drv, "out", "eu", 0, 1, 5); /* deleted */
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(persistent_store_in_driver) {
        char dir[] = "/tmp/sluice-st-XXXXXX", cmd[128], all[256] = "";
        sluice_topology_t *t = count_topology();
        sluice_conf_t *c     = conf_with(NULL, "lmdb");
        sluice_driver_t *drv;
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(sluice_conf_set(c, "state.dir", dir, err, sizeof err),
                         0);
        drv = sluice_driver_new(t, c, err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        sluice_driver_pipe_str(drv, "in", "b", "x y", 1);
        sluice_driver_pipe_str(drv, "in", "a", "x", 2);
        expect_count(drv, "out", "b", 2, 0, 1);
        expect_count(drv, "out", "a", 1, 0, 2);
        ck_assert_int_eq(sluice_driver_store_range(drv, "counts", NULL, 0,
                                                   NULL, 0, count_list_cb, all),
                         2);
        ck_assert_str_eq(all, "a=1;b=2;");
        sluice_driver_destroy(drv);
        /* the store lives in state.dir/<application.id>/<task>/<store> */
        snprintf(cmd, sizeof cmd, "%s/" APP "/0_0/counts", dir);
        ck_assert_int_eq(access(cmd, F_OK), 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        ck_assert_int_eq(system(cmd), 0);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- processor API ---- */

typedef struct {
        int inits, closes, punct;
        int64_t punct_ts[8];
} proc_state_t;

static int emit_entry(const void *k, size_t klen, const void *v, size_t vlen,
                      int64_t ts, void *opaque) {
        sluice_context_t *ctx = opaque;
        (void)ts;
        return sluice_context_forward(ctx, sluice_strn(k, klen),
                                      sluice_bytes(v, vlen));
}

static int on_punct(sluice_context_t *ctx, int64_t ts, void *opaque) {
        proc_state_t *ps = opaque;
        if (ps->punct < 8)
                ps->punct_ts[ps->punct] = ts;
        ps->punct++;
        /* forward the whole store, in key order */
        return sluice_kv_range(sluice_context_store(ctx, "seen"), NULL, 0, NULL,
                               0, emit_entry, ctx) < 0;
}

static int p_init(sluice_context_t *ctx, void *opaque) {
        proc_state_t *ps = opaque;
        ps->inits++;
        ck_assert_ptr_nonnull(sluice_context_store(ctx, "seen"));
        ck_assert_ptr_null(sluice_context_store(ctx, "other"));
        return sluice_context_schedule(ctx, SLUICE_PUNCTUATE_STREAM_TIME, 10,
                                       on_punct, opaque);
}

static int p_process(sluice_context_t *ctx, const sluice_record_t *rec,
                     void *opaque) {
        const sluice_value_t *k = sluice_record_key(rec);
        (void)opaque;
        /* the latest value per key */
        return sluice_kv_put(sluice_context_store(ctx, "seen"),
                             k->u.bytes.data, k->u.bytes.len,
                             sluice_record_value(rec)->u.bytes.data,
                             sluice_record_value(rec)->u.bytes.len,
                             sluice_record_timestamp(rec));
}

static void p_close(sluice_context_t *ctx, void *opaque) {
        (void)ctx;
        ((proc_state_t *)opaque)->closes++;
}

START_TEST(processor_with_store_and_stream_time_punctuation) {
        proc_state_t ps      = {0, 0, 0, {0}};
        sluice_processor_t p = {p_init, p_process, p_close, &ps};
        const char *stores[] = {"seen"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_driver_t *drv;
        char *desc;
        ck_assert_int_eq(sluice_topology_add_store(t, "seen"), 0);
        sluice_stream_to(sluice_stream_process(s, &p, stores, 1), "out",
                         sluice_serde_string(), sluice_serde_string());
        desc = sluice_topology_describe(t);
        ck_assert_ptr_nonnull(strstr(desc, "Processor: KSTREAM-PROCESSOR-"
                                           "0000000001 (stores: [seen])"));
        free(desc);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(ps.inits, 1);
        /* stream time 0 reaches the first schedule (0): punctuates after
         * the record was processed */
        sluice_driver_pipe_str(drv, "in", "b", "1", 0);
        ck_assert_int_eq(ps.punct, 1);
        ck_assert_int_eq(ps.punct_ts[0], 0);
        ck_assert_output(drv, "out", "b", "1", 0);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_pipe_str(drv, "in", "a", "2", 5);
        ck_assert_int_eq(ps.punct, 1);
        /* 25 jumps over 10 and 20: one run, at stream time 25 */
        sluice_driver_pipe_str(drv, "in", "b", "3", 25);
        ck_assert_int_eq(ps.punct, 2);
        ck_assert_int_eq(ps.punct_ts[1], 25);
        ck_assert_output(drv, "out", "a", "2", 25);
        ck_assert_output(drv, "out", "b", "3", 25);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        /* older records do not move stream time back */
        sluice_driver_pipe_str(drv, "in", "c", "4", 12);
        ck_assert_int_eq(ps.punct, 2);
        sluice_driver_pipe_str(drv, "in", "c", "5", 30);
        ck_assert_int_eq(ps.punct, 3);
        ck_assert_int_eq(ps.punct_ts[2], 30);
        /* the store's writes went to its changelog */
        ck_assert_uint_eq(sluice_driver_queued(drv, CLOG("seen")), 5);
        sluice_driver_destroy(drv);
        ck_assert_int_eq(ps.closes, 1);
        sluice_topology_destroy(t);
}
END_TEST

static int wall_punct(sluice_context_t *ctx, int64_t ts, void *opaque) {
        (void)opaque;
        return sluice_context_forward(ctx, sluice_str("tick"),
                                      sluice_int64(ts));
}
static int wall_init(sluice_context_t *ctx, void *opaque) {
        (void)opaque;
        ck_assert_int_eq(sluice_context_forward(ctx, sluice_str("x"),
                                                sluice_str("y")),
                         SLUICE_ERR_STATE); /* not from init */
        ck_assert_int_eq(sluice_context_schedule(ctx,
                                                 SLUICE_PUNCTUATE_WALL_CLOCK,
                                                 0, wall_punct, NULL),
                         SLUICE_ERR_INVALID_ARG);
        return sluice_context_schedule(ctx, SLUICE_PUNCTUATE_WALL_CLOCK, 100,
                                       wall_punct, NULL);
}
static int nop_process(sluice_context_t *ctx, const sluice_record_t *rec,
                       void *opaque) {
        (void)ctx;
        (void)rec;
        (void)opaque;
        return 0;
}

START_TEST(wall_clock_punctuation_follows_driver_clock) {
        sluice_processor_t p = {wall_init, nop_process, NULL, NULL};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", NULL, NULL);
        sluice_driver_t *drv;
        const sluice_output_t *o;
        sluice_stream_to(sluice_stream_process(s, &p, NULL, 0), "out",
                         sluice_serde_string(), sluice_serde_int64());
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 99), 0);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 1), 0);
        o = sluice_driver_read(drv, "out");
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(be64(o->value, o->value_len), 100);
        ck_assert_int_eq(o->timestamp, 100);
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 250), 0);
        o = sluice_driver_read(drv, "out");
        ck_assert_int_eq(be64(o->value, o->value_len), 350);
        ck_assert_ptr_null(sluice_driver_read(drv, "out"));
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- ranges over the record cache and the backend ---- */

/* A range's records as "key=value,key=value,..." */
typedef struct {
        char s[2048];
        size_t len;
} joined_t;

static int join_cb(const void *k, size_t klen, const void *v, size_t vlen,
                   int64_t ts, void *opaque) {
        joined_t *j = opaque;
        int n       = snprintf(j->s + j->len, sizeof j->s - j->len, "%s%.*s=%.*s",
                               j->len ? "," : "", (int)klen, (const char *)k,
                               (int)vlen, (const char *)v);
        (void)ts;
        if (n > 0 && (size_t)n < sizeof j->s - j->len)
                j->len += (size_t)n;
        return 0;
}

static void range_str(sluice_kv_t *kv, const char *from, const char *to,
                      joined_t *j, int64_t *visited) {
        j->len  = 0;
        j->s[0] = '\0';
        *visited = sluice_kv_range(kv, from, from ? strlen(from) : 0, to,
                                   to ? strlen(to) : 0, join_cb, j);
}

static int put_str(sluice_kv_t *kv, const char *k, const char *v) {
        return sluice_kv_put(kv, k, strlen(k), v, strlen(v), 1);
}

typedef struct {
        int phase;
        joined_t r[6];
        int64_t n[6];
        int err;
} cache_ranges_t;

static int cache_ranges_process(sluice_context_t *ctx,
                                const sluice_record_t *rec, void *opaque) {
        cache_ranges_t *c = opaque;
        sluice_kv_t *kv   = sluice_context_store(ctx, "w");
        char k[16], v[16];
        int i;
        (void)rec;
        switch (c->phase++) {
        case 0: /* k01..k20, flushed at this record's commit */
                for (i = 1; i <= 20; i++) {
                        snprintf(k, sizeof k, "k%02d", i);
                        snprintf(v, sizeof v, "b%d", i);
                        c->err |= put_str(kv, k, v);
                }
                break;
        case 1: /* cached on top of them: an override, a delete, keys
                 * between, before, after, and a prefix of k10.. */
                c->err |= put_str(kv, "k05", "c5");
                c->err |= sluice_kv_delete(kv, "k07", 3);
                c->err |= put_str(kv, "k10a", "ca");
                c->err |= put_str(kv, "k00", "c0");
                c->err |= put_str(kv, "k99", "c99");
                c->err |= put_str(kv, "k1", "cp");
                range_str(kv, "k03", "k12", &c->r[0], &c->n[0]);
                range_str(kv, NULL, NULL, &c->r[1], &c->n[1]);
                range_str(kv, "k06x", "k10", &c->r[2], &c->n[2]);
                range_str(kv, "k9", NULL, &c->r[3], &c->n[3]);
                /* written again after a range: kept in order */
                c->err |= put_str(kv, "k05", "c5'");
                c->err |= put_str(kv, "k055", "c55");
                range_str(kv, NULL, "k06", &c->r[4], &c->n[4]);
                break;
        case 2: /* all of it flushed; more cached on top */
                c->err |= put_str(kv, "k06", "d6");
                c->err |= sluice_kv_delete(kv, "k10a", 4);
                c->err |= sluice_kv_delete(kv, "k1", 2);
                range_str(kv, "k03", "k12", &c->r[5], &c->n[5]);
                break;
        }
        return 0;
}

/* sluice_kv_range() over a store with records in the backend and newer
 * ones in the cache: one merged order, the cache's value where both have
 * the key, a cached delete hiding the backend's record. */
START_TEST(range_merges_cache_and_backend) {
        static const char *const types[] = {"in_memory", "lmdb"};
        cache_ranges_t c     = {0};
        sluice_processor_t p = {NULL, cache_ranges_process, NULL, &c};
        const char *stores[] = {"w"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        char dir[64];
        sluice_conf_t *conf = conf_with(NULL, types[_i]);
        tu_tmpdir(dir, sizeof dir, "range");
        tu_set(conf, "state.dir", dir);
        ck_assert_int_eq(sluice_topology_add_store(t, "w"), 0);
        ck_assert_int_eq(sluice_topology_set_store_type(t, "w", types[_i]), 0);
        sluice_stream_process(sluice_stream_from(t, "in", NULL, NULL), &p,
                              stores, 1);
        drv = sluice_driver_new(t, conf, err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "x", "1", 1), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "x", "2", 2), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "x", "3", 3), 0);
        ck_assert_int_eq(c.err, 0);
        ck_assert_str_eq(c.r[0].s, "k03=b3,k04=b4,k05=c5,k06=b6,k08=b8,k09=b9,"
                                   "k1=cp,k10=b10,k10a=ca,k11=b11,k12=b12");
        ck_assert_int_eq(c.n[0], 11);
        ck_assert_str_eq(c.r[1].s,
                         "k00=c0,k01=b1,k02=b2,k03=b3,k04=b4,k05=c5,k06=b6,"
                         "k08=b8,k09=b9,k1=cp,k10=b10,k10a=ca,k11=b11,k12=b12,"
                         "k13=b13,k14=b14,k15=b15,k16=b16,k17=b17,k18=b18,"
                         "k19=b19,k20=b20,k99=c99");
        ck_assert_int_eq(c.n[1], 23);
        ck_assert_str_eq(c.r[2].s, "k08=b8,k09=b9,k1=cp,k10=b10");
        ck_assert_str_eq(c.r[3].s, "k99=c99");
        ck_assert_str_eq(c.r[4].s,
                         "k00=c0,k01=b1,k02=b2,k03=b3,k04=b4,k05=c5',k055=c55,"
                         "k06=b6");
        ck_assert_str_eq(c.r[5].s, "k03=b3,k04=b4,k05=c5',k055=c55,k06=d6,"
                                   "k08=b8,k09=b9,k10=b10,k11=b11,k12=b12");
        ck_assert_int_eq(c.n[5], 10);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

/* Random puts and deletes over keys that prefix each other, a range
 * checked against a model after each, many per record (so the cache holds
 * a mix of new keys, overrides and deletes over the flushed ones), with
 * the default cache and with one so small that writes flush it. */
#define RM_KEYS 120
typedef struct {
        char key[RM_KEYS][12]; /* sorted */
        int present[RM_KEYS];
        int val[RM_KEYS];
        uint64_t rnd;
        int ops_done;
        char fail[256];
} range_model_t;

static uint64_t rm_rnd(range_model_t *m) {
        m->rnd ^= m->rnd >> 12;
        m->rnd ^= m->rnd << 25;
        m->rnd ^= m->rnd >> 27;
        return m->rnd * 0x2545f4914f6cdd1dull;
}

static int rm_key_cmp(const void *a, const void *b) {
        return strcmp(a, b); /* no NULs: memcmp order, shorter first */
}

static int range_model_process(sluice_context_t *ctx,
                               const sluice_record_t *rec, void *opaque) {
        range_model_t *m = opaque;
        sluice_kv_t *kv  = sluice_context_store(ctx, "w");
        int op;
        (void)rec;
        for (op = 0; op < 40 && !m->fail[0]; op++, m->ops_done++) {
                size_t i = (size_t)(rm_rnd(m) % RM_KEYS), lo, hi, j;
                joined_t got, want = {{0}, 0};
                int64_t n, wn = 0;
                char v[16];
                if (rm_rnd(m) % 3) {
                        m->val[i]     = m->ops_done;
                        m->present[i] = 1;
                        snprintf(v, sizeof v, "%d", m->val[i]);
                        if (put_str(kv, m->key[i], v))
                                snprintf(m->fail, sizeof m->fail, "put failed");
                } else {
                        m->present[i] = 0;
                        if (sluice_kv_delete(kv, m->key[i],
                                             strlen(m->key[i])))
                                snprintf(m->fail, sizeof m->fail,
                                         "delete failed");
                }
                lo = (size_t)(rm_rnd(m) % RM_KEYS);
                hi = lo + (size_t)(rm_rnd(m) % 12);
                if (hi >= RM_KEYS)
                        hi = RM_KEYS - 1;
                for (j = lo; j <= hi; j++)
                        if (m->present[j]) {
                                snprintf(v, sizeof v, "%d", m->val[j]);
                                join_cb(m->key[j], strlen(m->key[j]), v,
                                        strlen(v), 0, &want);
                                wn++;
                        }
                range_str(kv, m->key[lo], m->key[hi], &got, &n);
                if (n != wn || strcmp(got.s, want.s))
                        snprintf(m->fail, sizeof m->fail,
                                 "op %d: [%s, %s] gave %lld: %.60s, want "
                                 "%lld: %.60s",
                                 m->ops_done, m->key[lo], m->key[hi],
                                 (long long)n, got.s, (long long)wn, want.s);
        }
        return 0;
}

START_TEST(range_random_against_a_model) {
        static const char *const types[] = {"in_memory", "lmdb"};
        static const char *const caches[] = {NULL, "600"};
        range_model_t *m     = calloc(1, sizeof(*m));
        sluice_processor_t p = {NULL, range_model_process, NULL, m};
        const char *stores[] = {"w"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_conf_t *conf = conf_with(caches[_i % 2], types[_i / 2]);
        char dir[64];
        int i;
        ck_assert_ptr_nonnull(m);
        for (i = 0; i < RM_KEYS; i++) /* p<n>, p<n>|, p<n>|x: p1 < p1| <
                                        * p1|x < p10 */
                snprintf(m->key[i], sizeof m->key[i],
                         i % 3 == 0 ? "p%d" : i % 3 == 1 ? "p%d|" : "p%d|x",
                         i / 3);
        qsort(m->key, RM_KEYS, sizeof m->key[0], rm_key_cmp);
        for (i = 1; i < RM_KEYS; i++)
                ck_assert_int_lt(strcmp(m->key[i - 1], m->key[i]), 0);
        m->rnd = 0x77 + (uint64_t)_i;
        tu_tmpdir(dir, sizeof dir, "range");
        tu_set(conf, "state.dir", dir);
        ck_assert_int_eq(sluice_topology_add_store(t, "w"), 0);
        ck_assert_int_eq(sluice_topology_set_store_type(t, "w", types[_i / 2]),
                         0);
        sluice_stream_process(sluice_stream_from(t, "in", NULL, NULL), &p,
                              stores, 1);
        drv = sluice_driver_new(t, conf, err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        for (i = 0; i < 100; i++) {
                ck_assert_int_eq(
                    sluice_driver_pipe_str(drv, "in", "x", "1", i), 0);
                ck_assert_msg(!m->fail[0], "%s", m->fail);
        }
        ck_assert_int_eq(m->ops_done, 4000);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        free(m);
}
END_TEST

/* ---- regressions from review ---- */

/* writes back, from a get callback, the value it was handed */
static int put_back(const void *k, size_t klen, const void *v, size_t vlen,
                    int64_t ts, void *opaque) {
        return sluice_kv_put(opaque, k, klen, v, vlen, ts + 1);
}
static int seen_process(sluice_context_t *ctx, const sluice_record_t *rec,
                        void *opaque) {
        sluice_kv_t *kv         = sluice_context_store(ctx, "seen");
        const sluice_value_t *k = sluice_record_key(rec);
        (void)opaque;
        if (sluice_kv_put(kv, k->u.bytes.data, k->u.bytes.len, "v", 1,
                          sluice_record_timestamp(rec)))
                return -1;
        /* a second write of the same key, from the borrowed value */
        return sluice_kv_get(kv, k->u.bytes.data, k->u.bytes.len, put_back,
                             kv) == 1
                   ? 0
                   : -1;
}

START_TEST(store_written_by_a_later_store_flushes_in_the_same_commit) {
        /* "seen" is made before the table, so its index is lower: the
         * commit must still flush what the table's flush writes into it */
        sluice_processor_t p = {NULL, seen_process, NULL, NULL};
        const char *stores[] = {"seen"};
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl;
        sluice_driver_t *drv;
        got_t g = {{0}, 0, 0};
        ck_assert_int_eq(sluice_topology_add_store(t, "seen"), 0);
        tbl = sluice_table_from(t, "in", sluice_serde_string(),
                                sluice_serde_string(), "tbl");
        sluice_stream_process(sluice_table_to_stream(tbl), &p, stores, 1);
        drv = sluice_driver_new(t, conf_with(NULL, NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "x", 5), 0);
        ck_assert_uint_eq(sluice_driver_queued(drv, CLOG("tbl")), 1);
        ck_assert_uint_eq(sluice_driver_queued(drv, CLOG("seen")), 1);
        ck_assert_int_eq(sluice_driver_store_get(drv, "seen", "k", 1, got_cb,
                                                 &g),
                         1);
        ck_assert_str_eq(g.buf, "v");
        ck_assert_int_eq(g.ts, 6);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* "latest wins": the reducer hands back the record's own JSON value */
static int latest(const sluice_value_t *agg, const sluice_value_t *v,
                  sluice_value_t *out, void *opaque) {
        (void)agg;
        (void)opaque;
        *out = *v;
        return 0;
}

START_TEST(reducer_returning_the_input_value_shares_it) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_json());
        sluice_table_t *r    = sluice_grouped_reduce(
            sluice_stream_group_by_key(s, NULL, NULL), latest, NULL, NULL,
            "latest");
        sluice_driver_t *drv;
        sluice_stream_to(sluice_table_to_stream(r), "out", NULL, NULL);
        drv = sluice_driver_new(t, conf_with("0", NULL), err, sizeof err);
        ck_assert_msg(drv, "%s", err);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "{\"a\":1}", 1),
                         0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "[2]", 2), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "k", "3", 3), 0);
        ck_assert_output(drv, "out", "k", "{\"a\":1}", 1);
        ck_assert_output(drv, "out", "k", "[2]", 2);
        ck_assert_output(drv, "out", "k", "3", 3);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- mistakes ---- */

static void expect_topology_error(sluice_topology_t *t, const char *msg) {
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof err),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(err, msg);
        sluice_topology_destroy(t);
}

START_TEST(stateful_builder_mistakes_are_named) {
        sluice_topology_t *t;
        sluice_processor_t p = {NULL, nop_process, NULL, NULL};
        const char *nope[]   = {"nope"};

        t = sluice_topology_new();
        sluice_grouped_reduce(
            sluice_table_group_by(sluice_table_from(t, "a", NULL, NULL, NULL),
                                  by_region, NULL, NULL, NULL),
            sum_add, NULL, NULL, NULL);
        expect_topology_error(t, "sluice_grouped_reduce: a grouped table needs "
                                 "a subtractor (rows that change or leave a "
                                 "group are subtracted)");

        t = sluice_topology_new();
        sluice_grouped_reduce(sluice_stream_group_by_key(
                                  sluice_stream_from(t, "a", NULL, NULL), NULL,
                                  NULL),
                              sum_add, sum_sub, NULL, NULL);
        expect_topology_error(t, "sluice_grouped_reduce: a grouped stream "
                                 "takes no subtractor (pass NULL)");

        t = sluice_topology_new();
        sluice_grouped_count(sluice_stream_group_by_key(
                                 sluice_stream_from(t, "a", NULL, NULL), NULL,
                                 NULL),
                             "bad/name");
        expect_topology_error(t, "sluice_grouped_count: store name "
                                 "\"bad/name\" cannot name its changelog topic "
                                 "(legal: a-z A-Z 0-9 . _ -, at most 180)");

        t = sluice_topology_new();
        sluice_grouped_count(sluice_stream_group_by_key(
                                 sluice_stream_from(t, "a", NULL, NULL), NULL,
                                 NULL),
                             "c");
        sluice_grouped_count(sluice_stream_group_by_key(
                                 sluice_stream_from(t, "b", NULL, NULL), NULL,
                                 NULL),
                             "c");
        expect_topology_error(t, "sluice_grouped_count: a store named \"c\" "
                                 "already exists");

        t = sluice_topology_new();
        sluice_stream_process(sluice_stream_from(t, "a", NULL, NULL), &p, nope,
                              1);
        expect_topology_error(t, "sluice_stream_process: no store named "
                                 "\"nope\" (add it with "
                                 "sluice_topology_add_store())");

        t = sluice_topology_new();
        sluice_stream_from(t, "a", NULL, NULL);
        sluice_topology_set_store_type(t, "missing", "lmdb");
        expect_topology_error(t, "sluice_topology_set_store_type: no store "
                                 "named \"missing\" (set the type after the "
                                 "operator that makes it)");
}
END_TEST

START_TEST(unknown_store_type_fails_at_creation_naming_key) {
        sluice_topology_t *t = count_topology();
        sluice_conf_t *c     = conf_with(NULL, "rocks");
        sluice_driver_t *drv = sluice_driver_new(t, c, err, sizeof err);
        ck_assert_ptr_null(drv);
        sluice_conf_destroy(c); /* not taken over on failure */
        ck_assert_str_eq(err, "store \"counts\": default.dsl.store=rocks names "
                              "no store type (built in: in_memory, lmdb; "
                              "others must be registered with "
                              "sluice_conf_register_store())");
        sluice_topology_destroy(t);

        t = count_topology();
        ck_assert_int_eq(sluice_topology_set_store_type(t, "counts", "mine"), 0);
        c   = conf_with(NULL, NULL);
        drv = sluice_driver_new(t, c, err, sizeof err);
        ck_assert_ptr_null(drv);
        sluice_conf_destroy(c);
        ck_assert_str_eq(err, "store \"counts\": sluice_topology_set_store_type"
                              "=mine names no store type (built in: "
                              "in_memory, lmdb; others must be registered "
                              "with sluice_conf_register_store())");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(cache_conf_values) {
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_str_eq(sluice_conf_get(c, "statestore.cache.max.bytes"),
                         "10485760");
        ck_assert_str_eq(sluice_conf_get(c, "default.dsl.store"), "in_memory");
        ck_assert_int_eq(sluice_conf_set(c, "statestore.cache.max.bytes", "-1",
                                         err, sizeof err),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_ptr_nonnull(strstr(err, "statestore.cache.max.bytes"));
        ck_assert_int_eq(sluice_conf_set(c, "statestore.cache.max.bytes", "0",
                                         err, sizeof err),
                         0);
        ck_assert_str_eq(sluice_conf_get(c, "statestore.cache.max.bytes"), "0");
        sluice_conf_destroy(c);
}
END_TEST

/* A checkpoint file as a crash or a hand may leave it: the store's offset,
 * or -1 (none: restore everything) when it has no line or its line holds
 * no offset >= 0. tests/fuzz/fuzz_checkpoint.c found "-4store" read as -4
 * (tests/fuzz/corpus/checkpoint/crash-negative-offset). */
START_TEST(checkpoint_read_returns_an_offset_or_none) {
        static const struct {
                const char *text;
                long long want;
        } cases[] = {
            {"42 store\n", 42},
            {"0 other\n17 store\n99999 third\n", 17},
            {"9223372036854775807 store\n", 9223372036854775807LL},
            {"17 other\n", -1},
            {"", -1},
            {"garbage\nstore 12\n", -1},
            {"h2re\n9store\n-4store", -1},
            {"-4 store\n", -1},
            {"5 store\n-1 store\n", -1},
        };
        char dir[] = "/tmp/sluice-ck-XXXXXX", path[64];
        size_t i;
        FILE *f;
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/.checkpoint", dir);
        ck_assert_int_eq(sl_checkpoint_read(dir, "store"), -1); /* no file */
        for (i = 0; i < sizeof cases / sizeof *cases; i++) {
                ck_assert_ptr_nonnull(f = fopen(path, "w"));
                fputs(cases[i].text, f);
                ck_assert_int_eq(fclose(f), 0);
                ck_assert_msg(sl_checkpoint_read(dir, "store") == cases[i].want,
                              "case %zu: got %lld, want %lld", i,
                              (long long)sl_checkpoint_read(dir, "store"),
                              cases[i].want);
        }
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST


Suite *suite_state(void) {
        Suite *s  = suite_create("state");
        TCase *tc = tcase_create("state");
        tcase_add_test(tc, count_cache_on_collapses_one_records_updates);
        tcase_add_test(tc, count_cache_off_forwards_every_update);
        tcase_add_test(tc, group_by_key_after_flat_map_repartitions);
        tcase_add_test(tc, stream_aggregation_drops_null_keys_and_values);
        tcase_add_test(tc, reduce_keeps_first_value_then_reduces);
        tcase_add_test(tc, aggregate_json_with_initializer);
        /* loop: cache on (0) and off (1) */
        tcase_add_loop_test(tc, table_from_topic_tombstone_deletes, 0, 2);
        tcase_add_test(tc, table_filter_and_map_values);
        tcase_add_loop_test(tc, table_group_by_count_subtracts_old_rows, 0, 2);
        tcase_add_test(tc, table_reduce_with_subtractor_deletes_empty_group);
        tcase_add_test(tc, persistent_store_in_driver);
        tcase_add_test(tc, processor_with_store_and_stream_time_punctuation);
        tcase_add_test(tc, wall_clock_punctuation_follows_driver_clock);
        tcase_add_loop_test(tc, range_merges_cache_and_backend, 0, 2);
        tcase_add_loop_test(tc, range_random_against_a_model, 0, 4);
        tcase_add_test(tc,
                       store_written_by_a_later_store_flushes_in_the_same_commit);
        tcase_add_test(tc, reducer_returning_the_input_value_shares_it);
        tcase_add_test(tc, stateful_builder_mistakes_are_named);
        tcase_add_test(tc, unknown_store_type_fails_at_creation_naming_key);
        tcase_add_test(tc, cache_conf_values);
        tcase_add_test(tc, checkpoint_read_returns_an_offset_or_none);
        suite_add_tcase(s, tc);
        return s;
}
