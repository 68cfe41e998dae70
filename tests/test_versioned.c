/*
 * test_versioned.c - versioned tables (KIP-889 / KIP-914) and the grace
 * buffer (KIP-923): point-in-time lookups through the test driver and the
 * store functions, versions in and out of order, tombstones, history
 * retention, refused puts, what the table forwards, restore from the
 * changelog and from a reopened persistent store, the cache on and off,
 * the memory and LMDB backends; and the grace buffer's order, deadline,
 * changelog and restore.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_util.h"
#include "test_list.h"
#include "test_util.h"
#include "sluice.h"
#include "../lib/task.h"
#include "../lib/versioned.h"

#define APP "vt"
#define STORE "vstore"
#define CLOG APP "-" STORE "-changelog"

static char err[512];

/* The backends every driver test runs on (_i of a loop test: 0 memory with
 * the cache on, 1 memory with the cache off, 2 LMDB cache on, 3 LMDB off). */
static const char *backend_of(int i) {
        return i < 2 ? "in_memory" : "lmdb";
}
static const char *cache_of(int i) {
        return i % 2 ? "0" : "10485760";
}

static sluice_conf_t *vconf(int i, const char *dir) {
        sluice_conf_t *c = sluice_conf_new();
        tu_set(c, "application.id", APP);
        tu_set(c, "statestore.cache.max.bytes", cache_of(i));
        tu_set(c, "default.dsl.store", backend_of(i));
        if (dir)
                tu_set(c, "state.dir", dir);
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        return c;
}

/* tin (string, string) -> versioned table STORE -> to_stream -> tout */
static sluice_topology_t *vtopology(int64_t history) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "tin", sluice_serde_string(),
                                                 sluice_serde_string(), STORE);
        ck_assert_int_eq(sluice_table_set_versioned(tbl, history), 0);
        sluice_stream_to(sluice_table_to_stream(tbl), "tout", NULL, NULL);
        return t;
}

static sluice_driver_t *vdriver(sluice_topology_t *t, int i,
                                const char *dir) {
        sluice_driver_t *d = sluice_driver_new(t, vconf(i, dir), err,
                                               sizeof err);
        ck_assert_msg(d != NULL, "%s", err);
        return d;
}

static void put(sluice_driver_t *d, const char *k, const char *v,
                int64_t ts) {
        ck_assert_msg(sluice_driver_pipe_str(d, "tin", k, v, ts) == 0, "%s",
                      sluice_driver_last_error(d));
}

typedef struct got_s {
        int n;
        char value[64];
        int64_t from, to;
} got_t;

static void on_version(const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t valid_from,
                       int64_t valid_to, void *opaque) {
        got_t *g = opaque;
        (void)key;
        (void)key_len;
        ck_assert_ptr_nonnull(value);
        ck_assert_uint_lt(value_len, sizeof(g->value));
        memcpy(g->value, value, value_len);
        g->value[value_len] = '\0';
        g->from             = valid_from;
        g->to               = valid_to;
        g->n++;
}

/* The version of @k at @as_of is @v [from, to); @v NULL: none. */
static void expect_at(sluice_driver_t *d, const char *k, int64_t as_of,
                      const char *v, int64_t from, int64_t to) {
        got_t g = {0};
        int r   = sluice_driver_versioned_get(d, STORE, k, strlen(k), as_of,
                                              on_version, &g);
        if (!v) {
                ck_assert_msg(r == 0, "%s as of %lld: found \"%s\" [%lld, %lld)",
                              k, (long long)as_of, g.value, (long long)g.from,
                              (long long)g.to);
                ck_assert_int_eq(g.n, 0);
                return;
        }
        ck_assert_msg(r == 1, "%s as of %lld: none (%d), expected %s", k,
                      (long long)as_of, r, v);
        ck_assert_int_eq(g.n, 1);
        ck_assert_str_eq(g.value, v);
        ck_assert_int_eq(g.from, from);
        ck_assert_int_eq(g.to, to);
}

/* The next output on tout: @k = @v (NULL: null) at @ts. */
static void expect_out(sluice_driver_t *d, const char *k, const char *v,
                       int64_t ts) {
        const sluice_output_t *o = sluice_driver_read(d, "tout");
        ck_assert_msg(o != NULL, "no output (expected %s=%s@%lld)", k,
                      v ? v : "null", (long long)ts);
        ck_assert_uint_eq(o->key_len, strlen(k));
        ck_assert_mem_eq(o->key, k, o->key_len);
        if (!v)
                ck_assert_ptr_null(o->value);
        else {
                ck_assert_ptr_nonnull(o->value);
                ck_assert_uint_eq(o->value_len, strlen(v));
                ck_assert_mem_eq(o->value, v, o->value_len);
        }
        ck_assert_int_eq(o->timestamp, ts);
}

#define L SLUICE_TS_LATEST

/* ---- through the driver ---- */

START_TEST(in_order_versions) {
        char dir[256];
        sluice_topology_t *t;
        sluice_driver_t *d;
        tu_tmpdir(dir, sizeof dir, "vin");
        t = vtopology(1000);
        d = vdriver(t, _i, dir);
        put(d, "k", "a", 10);
        put(d, "k", "b", 20);
        put(d, "k", "c", 30);
        expect_out(d, "k", "a", 10);
        expect_out(d, "k", "b", 20);
        expect_out(d, "k", "c", 30);
        ck_assert_ptr_null(sluice_driver_read(d, "tout"));
        expect_at(d, "k", 0, NULL, 0, 0);
        expect_at(d, "k", 9, NULL, 0, 0);   /* before the first version */
        expect_at(d, "k", 10, "a", 10, 20); /* at it */
        expect_at(d, "k", 19, "a", 10, 20); /* just before the next */
        expect_at(d, "k", 20, "b", 20, 30);
        expect_at(d, "k", 29, "b", 20, 30);
        expect_at(d, "k", 30, "c", 30, L);
        expect_at(d, "k", 1000000, "c", 30, L);
        expect_at(d, "k", L, "c", 30, L);
        expect_at(d, "k", -1, NULL, 0, 0);
        expect_at(d, "other", L, NULL, 0, 0);
        /* a range over a versioned store is refused */
        ck_assert_int_eq(sluice_driver_store_range(d, STORE, NULL, 0, NULL, 0,
                                                   NULL, NULL),
                         SLUICE_ERR_INVALID_ARG);
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

static int latest_cb(const void *key, size_t key_len, const void *value,
                     size_t value_len, int64_t ts, void *opaque) {
        got_t *g = opaque;
        (void)key;
        (void)key_len;
        memcpy(g->value, value, value_len);
        g->value[value_len] = '\0';
        g->from             = ts;
        g->n++;
        return 0;
}

START_TEST(store_get_is_the_latest) {
        sluice_topology_t *t = vtopology(1000);
        sluice_driver_t *d   = vdriver(t, 1, NULL);
        got_t g              = {0};
        put(d, "k", "a", 10);
        put(d, "k", "b", 5); /* out of order: not the latest */
        ck_assert_int_eq(
            sluice_driver_store_get(d, STORE, "k", 1, latest_cb, &g), 1);
        ck_assert_str_eq(g.value, "a");
        ck_assert_int_eq(g.from, 10);
        put(d, "k", NULL, 11);
        ck_assert_int_eq(
            sluice_driver_store_get(d, STORE, "k", 1, latest_cb, &g), 0);
        ck_assert_int_eq(g.n, 1);
        ck_assert_int_eq(sluice_driver_versioned_get(d, "nope", "k", 1, L,
                                                     on_version, &g),
                         SLUICE_ERR_STATE);
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(out_of_order_versions) {
        char dir[256];
        sluice_topology_t *t;
        sluice_driver_t *d;
        tu_tmpdir(dir, sizeof dir, "vooo");
        t = vtopology(1000);
        d = vdriver(t, _i, dir);
        put(d, "k", "a", 10);
        put(d, "k", "c", 30);
        put(d, "k", "b", 20); /* into the history, between a and c */
        put(d, "k", "z", 5);  /* before the first */
        /* every accepted update is forwarded, in arrival order */
        expect_out(d, "k", "a", 10);
        expect_out(d, "k", "c", 30);
        expect_out(d, "k", "b", 20);
        expect_out(d, "k", "z", 5);
        expect_at(d, "k", 4, NULL, 0, 0);
        expect_at(d, "k", 5, "z", 5, 10);
        expect_at(d, "k", 9, "z", 5, 10);
        expect_at(d, "k", 10, "a", 10, 20);
        expect_at(d, "k", 19, "a", 10, 20);
        expect_at(d, "k", 20, "b", 20, 30);
        expect_at(d, "k", 29, "b", 20, 30);
        expect_at(d, "k", 30, "c", 30, L);
        /* a put at a version's timestamp replaces it, in the history and
         * the latest */
        put(d, "k", "b2", 20);
        put(d, "k", "c2", 30);
        expect_at(d, "k", 19, "a", 10, 20);
        expect_at(d, "k", 20, "b2", 20, 30);
        expect_at(d, "k", 30, "c2", 30, L);
        /* into the middle of a version */
        put(d, "k", "a5", 15);
        expect_at(d, "k", 14, "a", 10, 15);
        expect_at(d, "k", 15, "a5", 15, 20);
        expect_at(d, "k", 20, "b2", 20, 30);
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(tombstones) {
        char dir[256];
        sluice_topology_t *t;
        sluice_driver_t *d;
        tu_tmpdir(dir, sizeof dir, "vtomb");
        t = vtopology(1000);
        d = vdriver(t, _i, dir);
        put(d, "k", "a", 10);
        put(d, "k", NULL, 20);
        put(d, "k", "c", 30);
        expect_out(d, "k", "a", 10);
        expect_out(d, "k", NULL, 20);
        expect_out(d, "k", "c", 30);
        expect_at(d, "k", 15, "a", 10, 20);
        expect_at(d, "k", 20, NULL, 0, 0);
        expect_at(d, "k", 29, NULL, 0, 0);
        expect_at(d, "k", 30, "c", 30, L);
        /* a tombstone as the latest version */
        put(d, "k", NULL, 40);
        expect_at(d, "k", L, NULL, 0, 0);
        expect_at(d, "k", 40, NULL, 0, 0);
        expect_at(d, "k", 39, "c", 30, 40);
        /* out of order, a tombstone cuts a version short ... */
        put(d, "k", NULL, 12);
        expect_at(d, "k", 11, "a", 10, 12);
        expect_at(d, "k", 12, NULL, 0, 0);
        expect_at(d, "k", 19, NULL, 0, 0);
        /* ... a value fills a tombstone's gap up to the next version ... */
        put(d, "k", "d", 25);
        expect_at(d, "k", 24, NULL, 0, 0);
        expect_at(d, "k", 25, "d", 25, 30);
        /* ... a value at a tombstone's timestamp replaces it ... */
        put(d, "k", "e", 20);
        expect_at(d, "k", 20, "e", 20, 25);
        expect_at(d, "k", 12, NULL, 0, 0);
        /* ... a tombstone at a version's timestamp deletes it, and before
         * every version is a no-op for lookups */
        put(d, "k", NULL, 25);
        expect_at(d, "k", 24, "e", 20, 25);
        expect_at(d, "k", 25, NULL, 0, 0);
        expect_at(d, "k", 30, "c", 30, 40);
        put(d, "k", NULL, 1);
        expect_at(d, "k", 1, NULL, 0, 0);
        expect_at(d, "k", 10, "a", 10, 12);
        /* a value after the latest tombstone */
        put(d, "k", "f", 50);
        expect_at(d, "k", 45, NULL, 0, 0);
        expect_at(d, "k", 50, "f", 50, L);
        /* a tombstone for a key never written */
        put(d, "n", NULL, 50);
        expect_at(d, "n", L, NULL, 0, 0);
        /* two tombstones in a row: a record put between them is valid
         * until the second, not until the next value */
        put(d, "m", "a", 10);
        put(d, "m", NULL, 20);
        put(d, "m", NULL, 30);
        put(d, "m", "c", 40);
        put(d, "m", "b", 25);
        expect_at(d, "m", 19, "a", 10, 20);
        expect_at(d, "m", 24, NULL, 0, 0);
        expect_at(d, "m", 25, "b", 25, 30);
        expect_at(d, "m", 30, NULL, 0, 0);
        expect_at(d, "m", 40, "c", 40, L);
        put(d, "m", "z", 5); /* before the first version */
        expect_at(d, "m", 5, "z", 5, 10);
        put(d, "m", NULL, 2);
        put(d, "m", "y", 1); /* valid until the tombstone at 2 */
        expect_at(d, "m", 1, "y", 1, 2);
        expect_at(d, "m", 2, NULL, 0, 0);
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

static uint64_t dropped_of(sluice_driver_t *d) {
        char *m = sluice_driver_metrics_json(d);
        const char *p;
        unsigned long long n = 999;
        ck_assert_ptr_nonnull(m);
        p = strstr(m, "\"dropped\":");
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p, "\"dropped\":%llu", &n), 1);
        free(m);
        return n;
}

START_TEST(history_retention) {
        char dir[256];
        sluice_topology_t *t;
        sluice_driver_t *d;
        tu_tmpdir(dir, sizeof dir, "vret");
        t = vtopology(100);
        d = vdriver(t, _i, dir);
        put(d, "k", "a", 0);
        put(d, "k", "b", 50);
        put(d, "z", "only", 10);
        put(d, "k", "c", 200); /* stream time 200: history from 100 on */
        expect_out(d, "k", "a", 0);
        expect_out(d, "k", "b", 50);
        expect_out(d, "z", "only", 10);
        expect_out(d, "k", "c", 200);
        expect_at(d, "k", 100, "b", 50, 200); /* at the bound: served */
        expect_at(d, "k", 199, "b", 50, 200);
        expect_at(d, "k", 99, NULL, 0, 0);    /* past it: not served */
        expect_at(d, "k", 50, NULL, 0, 0);
        expect_at(d, "k", 0, NULL, 0, 0);
        /* the latest version never expires */
        expect_at(d, "z", 20, "only", 10, L);
        expect_at(d, "z", 10, "only", 10, L);
        expect_at(d, "z", 9, NULL, 0, 0);
        /* a put older than stream time - retention is refused: not
         * stored, not forwarded, counted as dropped */
        ck_assert_uint_eq(dropped_of(d), 0);
        put(d, "k", "late", 99);
        ck_assert_ptr_null(sluice_driver_read(d, "tout"));
        ck_assert_uint_eq(dropped_of(d), 1);
        expect_at(d, "k", 100, "b", 50, 200);
        /* at the bound it is accepted */
        put(d, "k", "edge", 100);
        expect_out(d, "k", "edge", 100);
        expect_at(d, "k", 100, "edge", 100, 200);
        expect_at(d, "k", 99, NULL, 0, 0);
        /* stream time moves with other keys too */
        put(d, "y", "x", 1000);
        expect_out(d, "y", "x", 1000);
        expect_at(d, "k", 900, "c", 200, L);
        /* older than the retention: the latest still answers when it is
         * not newer than the lookup, the history does not */
        expect_at(d, "k", 899, "c", 200, L);
        expect_at(d, "k", 199, NULL, 0, 0);
        expect_at(d, "k", 100, NULL, 0, 0);
        put(d, "k", "late2", 899);
        ck_assert_ptr_null(sluice_driver_read(d, "tout"));
        ck_assert_uint_eq(dropped_of(d), 2);
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(zero_retention) {
        sluice_topology_t *t = vtopology(0);
        sluice_driver_t *d   = vdriver(t, _i % 2, NULL);
        put(d, "k", "a", 10);
        put(d, "k", "b", 20);
        expect_at(d, "k", 20, "b", 20, L);
        expect_at(d, "k", 19, NULL, 0, 0); /* no history at all */
        put(d, "k", "old", 19);            /* and no grace */
        put(d, "k", "same", 20);           /* the latest's own time is ok */
        expect_out(d, "k", "a", 10);
        expect_out(d, "k", "b", 20);
        expect_out(d, "k", "same", 20);
        ck_assert_ptr_null(sluice_driver_read(d, "tout"));
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
}
END_TEST

/* The changelog: one record per accepted put, as it came. */
START_TEST(changelog_records) {
        sluice_topology_t *t = vtopology(100);
        sluice_driver_t *d   = vdriver(t, _i, NULL);
        const sluice_output_t *o;
        put(d, "k", "a", 10);
        put(d, "k", "b", 5);
        put(d, "k", NULL, 20);
        put(d, "x", "y", 500);
        put(d, "k", "late", 10); /* refused: not logged */
        {
                static const struct {
                        const char *k, *v;
                        int64_t ts;
                } want[] = {{"k", "a", 10},
                            {"k", "b", 5},
                            {"k", NULL, 20},
                            {"x", "y", 500}};
                size_t i;
                for (i = 0; i < 4; i++) {
                        o = sluice_driver_read(d, CLOG);
                        ck_assert_ptr_nonnull(o);
                        ck_assert_mem_eq(o->key, want[i].k, 1);
                        if (want[i].v) {
                                ck_assert_uint_eq(o->value_len,
                                                  strlen(want[i].v));
                                ck_assert_mem_eq(o->value, want[i].v,
                                                 o->value_len);
                        } else
                                ck_assert_ptr_null(o->value);
                        ck_assert_int_eq(o->timestamp, want[i].ts);
                }
        }
        ck_assert_ptr_null(sluice_driver_read(d, CLOG));
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
}
END_TEST

/* Out-of-order updates reach to_stream but not an aggregation over a
 * table group_by (KTableRepartitionMap drops !isLatest). */
static int by_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

static void expect_count(sluice_driver_t *d, const char *k, int64_t n,
                         int64_t ts) {
        const sluice_output_t *o = sluice_driver_read(d, "counts");
        unsigned char b[8];
        int i;
        ck_assert_msg(o != NULL, "no count (expected %s=%lld)", k,
                      (long long)n);
        ck_assert_uint_eq(o->key_len, strlen(k));
        ck_assert_mem_eq(o->key, k, o->key_len);
        for (i = 0; i < 8; i++)
                b[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        ck_assert_uint_eq(o->value_len, 8);
        ck_assert_mem_eq(o->value, b, 8);
        ck_assert_int_eq(o->timestamp, ts);
}

START_TEST(group_by_skips_out_of_order) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "tin", sluice_serde_string(),
                                                 sluice_serde_string(), STORE);
        sluice_driver_t *d;
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 1000), 0);
        sluice_stream_to(
            sluice_table_to_stream(sluice_grouped_count(
                sluice_table_group_by(tbl, by_value, NULL, NULL, NULL),
                "per-value")),
            "counts", NULL, NULL);
        d = vdriver(t, _i, NULL);
        put(d, "u1", "x", 10);
        put(d, "u1", "y", 5); /* out of order: the aggregate ignores it */
        put(d, "u1", "z", 20);
        expect_count(d, "x", 1, 10);
        expect_count(d, "x", 0, 20);
        expect_count(d, "z", 1, 20);
        ck_assert_ptr_null(sluice_driver_read(d, "counts"));
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
}
END_TEST

static bool keep_all(const sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return true;
}

START_TEST(builder_mistakes) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "tin", NULL, NULL, STORE);
        sluice_table_t *f;
        char e[512];
        ck_assert_int_eq(sluice_table_set_versioned(NULL, 10),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_int_eq(sluice_table_set_versioned(tbl, -1),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_int_eq(sluice_topology_validate(t, e, sizeof e),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(e, "sluice_table_set_versioned: history retention "
                            "-1 ms is negative");
        sluice_topology_destroy(t);

        t   = sluice_topology_new();
        tbl = sluice_table_from(t, "tin", NULL, NULL, STORE);
        f   = sluice_table_filter(tbl, keep_all, NULL);
        ck_assert_int_eq(sluice_table_set_versioned(f, 10),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_int_eq(sluice_topology_validate(t, e, sizeof e),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_msg(strstr(e, "is not a source table") != NULL, "%s", e);
        sluice_topology_destroy(t);

        /* what a join's builder asks: the versioned store behind a table,
         * through filters and map_values, or -1 */
        t   = sluice_topology_new();
        tbl = sluice_table_from(t, "tin", sluice_serde_string(),
                                sluice_serde_string(), STORE);
        f   = sluice_table_filter(tbl, keep_all, NULL);
        ck_assert_int_eq(sl_table_versioned_store(f->node), -1);
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 10), 0);
        ck_assert_int_eq(sl_table_versioned_store(tbl->node), tbl->store);
        ck_assert_int_eq(sl_table_versioned_store(f->node), tbl->store);
        ck_assert_int_eq(
            sl_table_versioned_store(
                sluice_table_from(t, "other", NULL, NULL, "plain")->node),
            -1);
        sluice_topology_destroy(t);

        /* suppress() of a versioned table (through a filter), whichever
         * call came first, as Kafka Streams' TopologyException */
        t   = sluice_topology_new();
        tbl = sluice_table_from(t, "tin", sluice_serde_string(),
                                sluice_serde_string(), STORE);
        f   = sluice_table_filter(tbl, keep_all, NULL);
        ck_assert_ptr_nonnull(
            sluice_table_suppress_until_time_limit(f, 10, 0, "sup"));
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 10), 0);
        ck_assert_ptr_null(sluice_driver_new(t, NULL, e, sizeof e));
        ck_assert_msg(strstr(e, "suppress() is only supported for "
                                "non-versioned tables") != NULL,
                      "%s", e);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- the store directly ---- */

#define CLOG_MAX 1024
typedef struct clog_s {
        int n;
        char *key[CLOG_MAX], *value[CLOG_MAX];
        size_t klen[CLOG_MAX], vlen[CLOG_MAX];
        int64_t ts[CLOG_MAX];
} clog_t;

static int collect_clog(void *opaque, sluice_kv_t *kv, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        int64_t timestamp, char *errstr, size_t errstr_size) {
        clog_t *c = opaque;
        (void)kv;
        (void)errstr;
        (void)errstr_size;
        ck_assert_int_lt(c->n, CLOG_MAX);
        c->key[c->n] = malloc(key_len + 1);
        memcpy(c->key[c->n], key, key_len);
        c->klen[c->n]  = key_len;
        c->value[c->n] = value ? malloc(value_len + 1) : NULL;
        if (value)
                memcpy(c->value[c->n], value, value_len);
        c->vlen[c->n] = value_len;
        c->ts[c->n++] = timestamp;
        return 0;
}

static void clog_free(clog_t *c) {
        int i;
        for (i = 0; i < c->n; i++) {
                free(c->key[i]);
                free(c->value[i]);
        }
        c->n = 0;
}

/* A started task holding the store of sub-topology 0 of @t. */
typedef struct harness_s {
        sl_task_t task;
        sluice_conf_t *conf;
        sl_cache_budget_t budget;
        clog_t clog;
        char dir[256];
} harness_t;

static sluice_kv_t *harness_start(harness_t *h, const sluice_topology_t *t,
                                  const char *backend, const char *dir) {
        char e[512];
        memset(&h->task, 0, sizeof(h->task));
        h->conf = sluice_conf_new();
        tu_set(h->conf, "default.dsl.store", backend);
        sluice_conf_set_log_cb(h->conf, NULL, SLUICE_LOG_ERR, NULL);
        sl_task_init(&h->task, t, h->conf, 0, 0, NULL, NULL, &h->clog);
        h->task.clog_write = collect_clog;
        ck_assert_msg(sl_task_start(&h->task, dir, &h->budget, 0, e,
                                    sizeof e) == 0,
                      "%s", e);
        ck_assert_int_ge(h->task.kv_cnt, 1);
        ck_assert_ptr_nonnull(h->task.kvs[0]);
        return h->task.kvs[0];
}

static void harness_stop(harness_t *h) {
        sl_task_destroy(&h->task);
        sluice_conf_destroy(h->conf);
}

static sluice_topology_t *frozen(int64_t history, int versioned) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *tbl  = sluice_table_from(t, "tin", NULL, NULL, STORE);
        char e[512];
        if (versioned)
                ck_assert_int_eq(sluice_table_set_versioned(tbl, history), 0);
        ck_assert_msg(sl_topology_freeze(t, APP, e, sizeof e) == 0, "%s", e);
        return t;
}

static int vput(sluice_kv_t *kv, const char *k, const char *v, int64_t ts,
                int64_t *valid_to) {
        return sl_versioned_put(kv, k, strlen(k), v, v ? strlen(v) : 0, ts,
                                valid_to);
}

/* The return codes of a put: KS's validTo / VALID_TO_UNDEFINED / NOT_PUT. */
START_TEST(store_put_returns) {
        char dir[256];
        sluice_topology_t *t = frozen(100, 1);
        harness_t h          = {0};
        sluice_kv_t *kv;
        int64_t vt = 0;
        tu_tmpdir(dir, sizeof dir, "vput");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        ck_assert(sl_versioned_is(kv));
        ck_assert_int_eq(sl_versioned_stream_time(kv), -1);
        ck_assert_int_eq(vput(kv, "k", "a", 10, &vt), 1);
        ck_assert_int_eq(vt, L);
        ck_assert_int_eq(vput(kv, "k", "c", 30, &vt), 1);
        ck_assert_int_eq(vt, L);
        ck_assert_int_eq(vput(kv, "k", "b", 20, &vt), 1);
        ck_assert_int_eq(vt, 30);
        ck_assert_int_eq(vput(kv, "k", "z", 1, &vt), 1);
        ck_assert_int_eq(vt, 10);
        ck_assert_int_eq(vput(kv, "k", "b2", 20, &vt), 1); /* replace */
        ck_assert_int_eq(vt, 30);
        ck_assert_int_eq(vput(kv, "k", "c2", 30, &vt), 1);
        ck_assert_int_eq(vt, L);
        ck_assert_int_eq(vput(kv, "k", NULL, 40, &vt), 1);
        ck_assert_int_eq(vt, L);
        ck_assert_int_eq(vput(kv, "k", "d", 35, &vt), 1); /* before the
                                                            tombstone */
        ck_assert_int_eq(vt, 40);
        ck_assert_int_eq(sl_versioned_stream_time(kv), 40);
        ck_assert_int_eq(vput(kv, "x", "x", 300, &vt), 1);
        vt = 7;
        ck_assert_int_eq(vput(kv, "k", "late", 199, &vt), 0); /* NOT_PUT */
        ck_assert_int_eq(vt, 7);
        ck_assert_int_eq(sl_versioned_stream_time(kv), 300);
        ck_assert_int_eq(h.clog.n, 9); /* every accepted put, once */
        {
                const void *v;
                size_t vlen;
                int64_t from, to;
                ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 35, &v, &vlen,
                                                  &from, &to),
                                 0); /* 35 < 300 - 100 */
                ck_assert_int_eq(sl_versioned_get(kv, "x", 1, 300, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_uint_eq(vlen, 1);
                ck_assert_mem_eq(v, "x", 1);
                ck_assert_int_eq(from, 300);
                ck_assert_int_eq(to, L);
        }
        /* a plain store is not versioned */
        clog_free(&h.clog);
        harness_stop(&h);
        sluice_topology_destroy(t);
        t  = frozen(0, 0);
        kv = harness_start(&h, t, "in_memory", dir);
        ck_assert(!sl_versioned_is(kv));
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 1, NULL, NULL, NULL,
                                          NULL),
                         SLUICE_ERR_INVALID_ARG);
        harness_stop(&h);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

/* Backend records of the store (to see expiry). */
static uint64_t backend_count(sluice_kv_t *kv) {
        void *it;
        const void *k, *v;
        size_t kl, vl;
        uint64_t n = 0;
        ck_assert_int_eq(kv->type->iter_open(kv->h, NULL, 0, NULL, 0, &it), 0);
        while (kv->type->iter_next(it, &k, &kl, &v, &vl) > 0)
                n++;
        kv->type->iter_close(it);
        return n;
}

/* History past the retention leaves the backend at a commit, whole
 * segments at a time (2 s for a retention of 1 s), with the latest
 * tombstones past it; the latest values stay. */
START_TEST(store_expiry) {
        char dir[256];
        sluice_topology_t *t = frozen(1000, 1);
        harness_t h          = {0};
        sluice_kv_t *kv;
        int64_t vt;
        tu_tmpdir(dir, sizeof dir, "vexp");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        ck_assert_int_eq(kv->def->segment_ms, 2000);
        ck_assert_int_eq(vput(kv, "a", "1", 100, &vt), 1);
        ck_assert_int_eq(vput(kv, "a", "2", 200, &vt), 1); /* 1 -> history */
        ck_assert_int_eq(vput(kv, "t", "x", 100, &vt), 1);
        ck_assert_int_eq(vput(kv, "t", NULL, 300, &vt), 1); /* + marker */
        ck_assert_int_eq(sl_versioned_commit(kv), 0);
        /* latest a, latest t (tombstone), a's and t's history, t's
         * marker, the meta record */
        ck_assert_uint_eq(backend_count(kv), 6);
        ck_assert_int_eq(vput(kv, "b", "1", 2500, &vt), 1);
        ck_assert_int_eq(sl_versioned_commit(kv), 0);
        /* bound 1500: segment 0 (valid_to < 2000) can still be read */
        ck_assert_uint_eq(backend_count(kv), 7);
        ck_assert_int_eq(vput(kv, "b", "2", 4100, &vt), 1);
        ck_assert_int_eq(sl_versioned_commit(kv), 0);
        /* bound 3100: segment 0 goes, the marker takes t's tombstone
         * along; left: latest a, latest b, b's history, the meta record */
        ck_assert_uint_eq(backend_count(kv), 4);
        {
                const void *v;
                size_t vlen;
                int64_t from, to;
                ck_assert_int_eq(sl_versioned_get(kv, "a", 1, L, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_int_eq(from, 200);
                ck_assert_int_eq(sl_versioned_get(kv, "a", 1, 250, &v, &vlen,
                                                  &from, &to),
                                 1); /* the latest never expires */
                ck_assert_int_eq(sl_versioned_get(kv, "t", 1, L, &v, &vlen,
                                                  &from, &to),
                                 0);
                ck_assert_int_eq(sl_versioned_get(kv, "b", 1, 3100, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_mem_eq(v, "1", 1);
                ck_assert_int_eq(from, 2500);
                ck_assert_int_eq(to, 4100);
        }
        /* a new version of t after its tombstone went */
        ck_assert_int_eq(vput(kv, "t", "y", 3200, &vt), 1);
        ck_assert_int_eq(vt, L);
        clog_free(&h.clog);
        harness_stop(&h);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

/* A store rebuilt from its changelog (records replayed through
 * sl_kv_restore) answers every lookup as the original, and refuses what the
 * original refused. */
static const struct {
        const char *k, *v;
        int64_t ts;
} script[] = {{"a", "1", 10},  {"a", "3", 30},  {"a", "2", 20},
              {"b", "x", 15},  {"a", NULL, 40}, {"b", NULL, 12},
              {"c", "c", 100}, {"a", "4", 35},  {"a", "5", 300},
              {"b", "y", 280}, {"a", "old", 150}, /* refused: < 300-100 */
              {"c", "d", 250}, {"a", NULL, 290}, {"d", NULL, 301}};

START_TEST(restore_from_changelog) {
        char dir[256], dir2[256];
        sluice_topology_t *t = frozen(100, 1);
        harness_t h = {0}, h2 = {0};
        sluice_kv_t *kv, *kv2;
        size_t i;
        int accepted = 0, r;
        const char *keys[] = {"a", "b", "c", "d", "e"};
        int64_t as_of;
        tu_tmpdir(dir, sizeof dir, "vrs1");
        tu_tmpdir(dir2, sizeof dir2, "vrs2");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        for (i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
                r = vput(kv, script[i].k, script[i].v, script[i].ts, NULL);
                ck_assert_int_ge(r, 0);
                accepted += r;
                if (i % 3 == 2)
                        ck_assert_int_eq(sl_versioned_commit(kv), 0);
        }
        ck_assert_int_eq(accepted, 13);
        ck_assert_int_eq(h.clog.n, 13);
        kv2 = harness_start(&h2, t, _i ? "lmdb" : "in_memory", dir2);
        for (i = 0; i < (size_t)h.clog.n; i++)
                ck_assert_int_eq(sl_kv_restore(kv2, h.clog.key[i],
                                               h.clog.klen[i],
                                               h.clog.value[i], h.clog.vlen[i],
                                               h.clog.ts[i]),
                                 0);
        ck_assert_int_eq(sl_versioned_commit(kv2), 0);
        ck_assert_int_eq(h2.clog.n, 0); /* a restore writes no changelog */
        ck_assert_int_eq(sl_versioned_stream_time(kv2), 301);
        for (i = 0; i < 5; i++)
                for (as_of = -1; as_of <= 310; as_of++) {
                        const void *v1, *v2;
                        size_t l1, l2;
                        int64_t f1, f2, t1, t2;
                        int r1 = sl_versioned_get(kv, keys[i], 1, as_of, &v1,
                                                  &l1, &f1, &t1);
                        char c1[16] = "";
                        if (r1 > 0)
                                memcpy(c1, v1, l1);
                        r = sl_versioned_get(kv2, keys[i], 1, as_of, &v2, &l2,
                                             &f2, &t2);
                        ck_assert_msg(r1 == r, "%s as of %lld: %d vs %d",
                                      keys[i], (long long)as_of, r1, r);
                        if (r > 0) {
                                ck_assert_uint_eq(l1, l2);
                                ck_assert_mem_eq(c1, v2, l2);
                                ck_assert_int_eq(f1, f2);
                                ck_assert_int_eq(t1, t2);
                        }
                }
        /* spot checks: stream time 301, history from 201 on */
        {
                const void *v;
                size_t vlen;
                int64_t from, to;
                ck_assert_int_eq(sl_versioned_get(kv2, "a", 1, 300, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_mem_eq(v, "5", 1);
                ck_assert_int_eq(from, 300);
                ck_assert_int_eq(to, L);
                /* a's tombstone at 40 holds until 300 (the one at 290 fell
                 * into that gap) */
                ck_assert_int_eq(sl_versioned_get(kv2, "a", 1, 295, &v, &vlen,
                                                  &from, &to),
                                 0);
                ck_assert_int_eq(sl_versioned_get(kv2, "c", 1, 260, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_mem_eq(v, "d", 1);
                ck_assert_int_eq(from, 250);
                ck_assert_int_eq(to, L);
                ck_assert_int_eq(sl_versioned_get(kv2, "c", 1, 249, &v, &vlen,
                                                  &from, &to),
                                 1);
                ck_assert_mem_eq(v, "c", 1);
                ck_assert_int_eq(to, 250);
                ck_assert_int_eq(sl_versioned_get(kv2, "b", 1, 200, &v, &vlen,
                                                  &from, &to),
                                 0); /* b's tombstone at 12 and y at 280 */
                ck_assert_int_eq(sl_versioned_get(kv2, "b", 1, 280, &v, &vlen,
                                                  &from, &to),
                                 1);
        }
        /* the refused put is refused again after the restore */
        ck_assert_int_eq(vput(kv2, "a", "old", 150, NULL), 0);
        clog_free(&h.clog);
        clog_free(&h2.clog);
        harness_stop(&h);
        harness_stop(&h2);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        tu_rm_rf(dir2);
}
END_TEST

/* An LMDB store reopened (after a commit and its checkpoint) gives the same
 * lookups and the same stream time: a put past the retention is still
 * refused. (The test driver never makes its LMDB writes durable, so the
 * store is driven here as the app's tasks drive it.) */
START_TEST(reopened_persistent_store) {
        char dir[256], e[512];
        sluice_topology_t *t = frozen(100, 1);
        harness_t h          = {0};
        sl_clog_slot_t slot  = {0};
        sluice_kv_t *kv;
        int64_t vt;
        const void *v;
        size_t vlen;
        int64_t from, to;
        tu_tmpdir(dir, sizeof dir, "vreopen");
        kv = harness_start(&h, t, "lmdb", dir);
        ck_assert_int_eq(sl_task_ready(&h.task, e, sizeof e), 0);
        ck_assert_int_eq(vput(kv, "k", "a", 10, &vt), 1);
        ck_assert_int_eq(vput(kv, "k", "c", 150, &vt), 1);
        ck_assert_int_eq(vput(kv, "k", "b", 60, &vt), 1);
        ck_assert_int_eq(vput(kv, "k", NULL, 170, &vt), 1);
        ck_assert_int_eq(sl_task_flush(&h.task), 0); /* the commit hooks */
        /* the changelog's offsets, as the runtime reports them: the
         * checkpoint vouches for the store's data */
        slot.store     = 0;
        slot.partition = 0;
        slot.last      = h.clog.n - 1;
        kv->slot       = &slot;
        ck_assert_int_eq(sl_task_checkpoint(&h.task, 1), 0);
        kv->slot = NULL;
        clog_free(&h.clog);
        harness_stop(&h);

        kv = harness_start(&h, t, "lmdb", dir);
        ck_assert_int_eq(sl_task_ready(&h.task, e, sizeof e), 0);
        ck_assert_int_eq(sl_versioned_stream_time(kv), 170);
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 69, &v, &vlen, &from,
                                          &to),
                         0);
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 70, &v, &vlen, &from,
                                          &to),
                         1);
        ck_assert_mem_eq(v, "b", 1);
        ck_assert_int_eq(from, 60);
        ck_assert_int_eq(to, 150);
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 169, &v, &vlen, &from,
                                          &to),
                         1);
        ck_assert_mem_eq(v, "c", 1);
        ck_assert_int_eq(to, 170);
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, L, &v, &vlen, &from,
                                          &to),
                         0);
        ck_assert_int_eq(vput(kv, "k", "late", 69, &vt), 0);
        ck_assert_int_eq(vput(kv, "k", "d", 70, &vt), 1);
        ck_assert_int_eq(vt, 150);
        ck_assert_int_eq(sl_versioned_get(kv, "k", 1, 70, &v, &vlen, &from,
                                          &to),
                         1);
        ck_assert_mem_eq(v, "d", 1);
        ck_assert_int_eq(to, 150);
        clog_free(&h.clog);
        harness_stop(&h);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

/*
 * Against a model of Kafka Streams' semantics (RocksDBVersionedStore): per
 * key every version ever accepted, sorted by time (a put at a version's time
 * replaces it); a put below stream time - retention is refused; a lookup
 * as of t returns the latest version if its time <= t (unless a
 * tombstone), else nothing if t < stream time - retention, else the version
 * with the largest time <= t (unless a tombstone), valid until the next
 * version's time. Random puts in and out of order over 4 keys, with
 * commits (expiry) between them; every lookup and every put's valid_to
 * compared, on both backends, then again after a restore from the
 * changelog.
 */
#define MK 4
#define MV 512
typedef struct mver_s {
        int64_t ts;
        int val; /* -1: tombstone */
} mver_t;

typedef struct model_s {
        mver_t v[MK][MV];
        int n[MK];
        int64_t obs, hist;
} model_t;

/* 1 put (*vt), 0 refused. */
static int model_put(model_t *m, int k, int val, int64_t ts, int64_t *vt) {
        int i, j;
        if (m->obs >= 0 && ts < m->obs - m->hist)
                return 0;
        if (ts > m->obs)
                m->obs = ts;
        for (i = 0; i < m->n[k] && m->v[k][i].ts < ts; i++)
                ;
        if (i < m->n[k] && m->v[k][i].ts == ts) {
                m->v[k][i].val = val;
        } else {
                ck_assert_int_lt(m->n[k], MV);
                for (j = m->n[k]; j > i; j--)
                        m->v[k][j] = m->v[k][j - 1];
                m->v[k][i].ts  = ts;
                m->v[k][i].val = val;
                m->n[k]++;
        }
        *vt = i + 1 < m->n[k] ? m->v[k][i + 1].ts : L;
        return 1;
}

/* 1 with *val, *from, *to; 0 none. */
static int model_get(const model_t *m, int k, int64_t as_of, int *val,
                     int64_t *from, int64_t *to) {
        int i, n = m->n[k];
        if (!n || as_of < 0)
                return 0;
        if (m->v[k][n - 1].ts <= as_of) {
                if (m->v[k][n - 1].val < 0)
                        return 0;
                *val  = m->v[k][n - 1].val;
                *from = m->v[k][n - 1].ts;
                *to   = L;
                return 1;
        }
        if (m->obs >= 0 && as_of < m->obs - m->hist)
                return 0;
        for (i = n - 1; i >= 0 && m->v[k][i].ts > as_of; i--)
                ;
        if (i < 0 || m->v[k][i].val < 0)
                return 0;
        *val  = m->v[k][i].val;
        *from = m->v[k][i].ts;
        *to   = m->v[k][i + 1].ts;
        return 1;
}

static int model_found; /* lookups that found a version (coverage) */

static void model_check(const model_t *m, sluice_kv_t *kv, int64_t hi) {
        int k;
        int64_t as_of;
        for (k = 0; k < MK; k++) {
                char key = (char)('a' + k);
                for (as_of = -1; as_of <= hi + 2; as_of++) {
                        const void *v;
                        size_t vlen;
                        int64_t f = 0, t = 0, mf = 0, mt = 0;
                        int mval = 0, got;
                        int want = model_get(m, k, as_of, &mval, &mf, &mt);
                        got = sl_versioned_get(kv, &key, 1, as_of, &v, &vlen,
                                               &f, &t);
                        ck_assert_msg(got == want,
                                      "key %c as of %lld: store %d, model %d",
                                      key, (long long)as_of, got, want);
                        if (want) {
                                char buf[16];
                                model_found++;
                                snprintf(buf, sizeof buf, "%d", mval);
                                ck_assert_uint_eq(vlen, strlen(buf));
                                ck_assert_mem_eq(v, buf, vlen);
                                ck_assert_msg(f == mf && t == mt,
                                              "key %c as of %lld: [%lld, %lld) "
                                              "vs model [%lld, %lld)",
                                              key, (long long)as_of,
                                              (long long)f, (long long)t,
                                              (long long)mf, (long long)mt);
                        }
                }
        }
}

START_TEST(against_a_model) {
        char dir[256], dir2[256];
        sluice_topology_t *t = frozen(150, 1);
        harness_t h = {0}, h2 = {0};
        sluice_kv_t *kv, *kv2;
        static model_t m;
        unsigned seed = 12345u + (unsigned)_i;
        int i, refused = 0, ooo = 0;
        int64_t base = 0;
        memset(&m, 0, sizeof m);
        model_found = 0;
        m.obs  = -1;
        m.hist = 150;
        tu_tmpdir(dir, sizeof dir, "vmodel");
        tu_tmpdir(dir2, sizeof dir2, "vmodel2");
        kv = harness_start(&h, t, _i % 2 ? "lmdb" : "in_memory", dir);
        for (i = 0; i < 400; i++) {
                int k, val, r, mr;
                int64_t ts, vt = -7, mvt = -7;
                char key, buf[16];
                seed = seed * 1103515245u + 12345u;
                k    = (int)((seed >> 8) % MK);
                key  = (char)('a' + k);
                /* time moves forward slowly; records land up to 200
                 * before it (some past the retention) */
                if (i % 10 == 0)
                        base += 25;
                ts  = base + (int64_t)((seed >> 16) % 40) -
                      (int64_t)((seed >> 4) % 200);
                if (ts < 0)
                        ts = (int64_t)((seed >> 20) % 5);
                val = (int)((seed >> 12) % 4) == 0 ? -1
                                                    : (int)((seed >> 3) % 1000);
                snprintf(buf, sizeof buf, "%d", val);
                r   = sl_versioned_put(kv, &key, 1, val < 0 ? NULL : buf,
                                       strlen(buf), ts, &vt);
                mr  = model_put(&m, k, val, ts, &mvt);
                ck_assert_msg(r == mr, "put %d %c@%lld: store %d, model %d",
                              i, key, (long long)ts, r, mr);
                refused += !r;
                ooo += r == 1 && vt != L;
                if (r == 1)
                        ck_assert_msg(vt == mvt,
                                      "put %d %c@%lld: valid_to %lld vs %lld",
                                      i, key, (long long)ts, (long long)vt,
                                      (long long)mvt);
                if (i % 7 == 0)
                        ck_assert_int_eq(sl_versioned_commit(kv), 0);
                if (i % 50 == 49)
                        model_check(&m, kv, m.obs);
        }
        ck_assert_int_eq(sl_versioned_commit(kv), 0);
        model_check(&m, kv, m.obs);
        /* the walk covers every case: refused puts, out-of-order ones,
         * lookups that find history */
        ck_assert_msg(refused > 20 && ooo > 50 && model_found > 1000,
                      "refused %d, out of order %d, found %d", refused, ooo,
                      model_found);
        /* the same from the changelog */
        kv2 = harness_start(&h2, t, _i % 2 ? "lmdb" : "in_memory", dir2);
        for (i = 0; i < h.clog.n; i++)
                ck_assert_int_eq(sl_kv_restore(kv2, h.clog.key[i],
                                               h.clog.klen[i],
                                               h.clog.value[i], h.clog.vlen[i],
                                               h.clog.ts[i]),
                                 0);
        ck_assert_int_eq(sl_versioned_commit(kv2), 0);
        model_check(&m, kv2, m.obs);
        clog_free(&h.clog);
        clog_free(&h2.clog);
        harness_stop(&h);
        harness_stop(&h2);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        tu_rm_rf(dir2);
}
END_TEST

/* ---- the grace buffer ---- */

typedef struct rel_s {
        int n;
        char what[32][32];
        int fail_at; /* -1: never */
} rel_t;

static int on_release(const void *key, size_t klen, const void *value,
                      size_t vlen, int64_t ts, void *opaque) {
        rel_t *r = opaque;
        if (r->n == r->fail_at)
                return SLUICE_ERR_CALLBACK;
        snprintf(r->what[r->n++], sizeof(r->what[0]), "%.*s=%.*s@%lld",
                 key ? (int)klen : 4, key ? (const char *)key : "null",
                 value ? (int)vlen : 4, value ? (const char *)value : "null",
                 (long long)ts);
        return 0;
}

static int gadd(sl_gbuf_t *b, const char *k, const char *v, int64_t ts) {
        return sl_gbuf_add(b, k, k ? strlen(k) : 0, v, v ? strlen(v) : 0, ts);
}

START_TEST(grace_buffer_order) {
        char dir[256];
        sluice_topology_t *t = frozen(0, 0);
        harness_t h          = {0};
        sluice_kv_t *kv;
        sl_gbuf_t *b;
        rel_t r = {.fail_at = -1};
        tu_tmpdir(dir, sizeof dir, "gbo");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        ck_assert_int_eq(sl_gbuf_open(kv, 10, &b), 0);
        ck_assert_int_eq(sl_gbuf_stream_time(b), -1);
        ck_assert_int_eq(gadd(b, "k", "1", 100), 1);
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 0);
        ck_assert_int_eq(gadd(b, "k", "2", 95), 1);  /* within the grace */
        ck_assert_int_eq(gadd(b, "b", "3", 95), 1);  /* same ts, key "b" */
        ck_assert_int_eq(gadd(b, "k", "4", 95), 1);  /* same ts and key */
        ck_assert_int_eq(gadd(b, "k", "5", 90), 1);  /* at the deadline */
        ck_assert_int_eq(gadd(b, "k", "6", 89), 0);  /* past it: not kept */
        ck_assert_int_eq(gadd(b, NULL, "7", 96), 1); /* null key */
        ck_assert_int_eq(gadd(b, "k", NULL, 97), 1); /* null value */
        ck_assert_uint_eq(sl_gbuf_count(b), 7);
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 1); /* <= 90 */
        ck_assert_str_eq(r.what[0], "k=5@90");
        ck_assert_int_eq(gadd(b, "k", "8", 105), 1); /* deadline 95 */
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 3);
        ck_assert_str_eq(r.what[1], "b=3@95");
        ck_assert_str_eq(r.what[2], "k=2@95");
        ck_assert_str_eq(r.what[3], "k=4@95");
        ck_assert_int_eq(gadd(b, "a", "9", 112), 1); /* deadline 102 */
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 3);
        /* the null key sorts as an empty key */
        ck_assert_str_eq(r.what[4], "null=7@96");
        ck_assert_str_eq(r.what[5], "k=null@97");
        ck_assert_str_eq(r.what[6], "k=1@100");
        ck_assert_uint_eq(sl_gbuf_count(b), 2);
        ck_assert_int_eq(sl_gbuf_stream_time(b), 112);
        /* a failing callback stops the release and keeps its record */
        r.fail_at = r.n;
        ck_assert_int_eq(gadd(b, "z", "10", 200), 1);
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r),
                         SLUICE_ERR_CALLBACK);
        ck_assert_uint_eq(sl_gbuf_count(b), 3);
        r.fail_at = -1;
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 2);
        ck_assert_str_eq(r.what[7], "k=8@105");
        ck_assert_str_eq(r.what[8], "a=9@112");
        ck_assert_uint_eq(sl_gbuf_count(b), 1);
        /* every add kept and every release went to the changelog: 10 adds,
         * 9 deletes */
        ck_assert_int_eq(h.clog.n, 10 + 9);
        sl_gbuf_close(b);
        clog_free(&h.clog);
        harness_stop(&h);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
}
END_TEST

/* A buffer rebuilt from its changelog releases the same records in the same
 * order, with the same stream time and fresh sequence numbers. */
START_TEST(grace_buffer_restore) {
        char dir[256], dir2[256];
        sluice_topology_t *t = frozen(0, 0);
        harness_t h = {0}, h2 = {0};
        sluice_kv_t *kv, *kv2;
        sl_gbuf_t *b, *b2;
        rel_t r = {.fail_at = -1};
        int i;
        tu_tmpdir(dir, sizeof dir, "gbr1");
        tu_tmpdir(dir2, sizeof dir2, "gbr2");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        ck_assert_int_eq(sl_gbuf_open(kv, 50, &b), 0);
        ck_assert_int_eq(gadd(b, "k", "1", 100), 1);
        ck_assert_int_eq(gadd(b, "k", "2", 60), 1);
        ck_assert_int_eq(sl_gbuf_commit(b), 0);
        ck_assert_int_eq(gadd(b, "k", "3", 70), 1);
        ck_assert_int_eq(gadd(b, "k", "4", 60), 1);
        ck_assert_int_eq(gadd(b, "j", "5", 120), 1); /* deadline 70 */
        ck_assert_int_eq(sl_gbuf_release(b, on_release, &r), 3);
        ck_assert_str_eq(r.what[0], "k=2@60");
        ck_assert_str_eq(r.what[1], "k=4@60");
        ck_assert_str_eq(r.what[2], "k=3@70");
        ck_assert_int_eq(gadd(b, "k", "6", 100), 1);
        sl_gbuf_close(b);

        kv2 = harness_start(&h2, t, _i ? "lmdb" : "in_memory", dir2);
        for (i = 0; i < h.clog.n; i++)
                ck_assert_int_eq(sl_kv_restore(kv2, h.clog.key[i],
                                               h.clog.klen[i],
                                               h.clog.value[i], h.clog.vlen[i],
                                               h.clog.ts[i]),
                                 0);
        ck_assert_int_eq(sl_gbuf_open(kv2, 50, &b2), 0);
        ck_assert_uint_eq(sl_gbuf_count(b2), 3);
        ck_assert_int_eq(sl_gbuf_stream_time(b2), 120);
        ck_assert_int_eq(gadd(b2, "k", "7", 69), 0); /* still too late */
        ck_assert_int_eq(gadd(b2, "k", "8", 100), 1); /* after "k=6@100" */
        ck_assert_int_eq(gadd(b2, "x", "9", 160), 1); /* deadline 110 */
        ck_assert_int_eq(sl_gbuf_release(b2, on_release, &r), 3);
        ck_assert_str_eq(r.what[3], "k=1@100");
        ck_assert_str_eq(r.what[4], "k=6@100");
        ck_assert_str_eq(r.what[5], "k=8@100");
        ck_assert_uint_eq(sl_gbuf_count(b2), 2);
        ck_assert_int_eq(sl_gbuf_commit(b2), 0);
        sl_gbuf_close(b2);
        clog_free(&h.clog);
        clog_free(&h2.clog);
        harness_stop(&h);
        harness_stop(&h2);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        tu_rm_rf(dir2);
}
END_TEST

/* The buffer against a model: random records around a moving clock, each
 * either handled at once (too late) or buffered and released in (ts, key,
 * arrival) order once ts <= stream time - grace; halfway the buffer is
 * rebuilt from its changelog into a fresh store and goes on. */
typedef struct gm_rec_s {
        int64_t ts;
        int key, seq, id;
} gm_rec_t;

typedef struct gm_log_s {
        int ids[2048];
        int n;
} gm_log_t;

static int gm_on_release(const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t ts, void *opaque) {
        gm_log_t *l = opaque;
        char buf[16];
        (void)key;
        (void)klen;
        (void)ts;
        ck_assert_uint_lt(vlen, sizeof buf);
        memcpy(buf, value, vlen);
        buf[vlen] = '\0';
        l->ids[l->n++] = atoi(buf);
        return 0;
}

static int gm_cmp(const void *a, const void *b) {
        const gm_rec_t *x = a, *y = b;
        if (x->ts != y->ts)
                return x->ts < y->ts ? -1 : 1;
        if (x->key != y->key)
                return x->key - y->key;
        return x->seq - y->seq;
}

START_TEST(grace_buffer_against_a_model) {
        char dir[256], dir2[256];
        sluice_topology_t *t = frozen(0, 0);
        harness_t h = {0}, h2 = {0};
        sluice_kv_t *kv;
        sl_gbuf_t *b;
        static gm_rec_t pend[2048];
        static gm_log_t got, want;
        int np = 0, i, seq = 0, now_cnt = 0;
        int64_t obs = -1, base = 0;
        unsigned seed = 777u + (unsigned)_i;
        const int64_t grace = 30;
        memset(&got, 0, sizeof got);
        memset(&want, 0, sizeof want);
        tu_tmpdir(dir, sizeof dir, "gbm");
        tu_tmpdir(dir2, sizeof dir2, "gbm2");
        kv = harness_start(&h, t, _i ? "lmdb" : "in_memory", dir);
        ck_assert_int_eq(sl_gbuf_open(kv, grace, &b), 0);
        for (i = 0; i < 600; i++) {
                char key, val[16];
                int k, r, j, due;
                int64_t ts;
                seed = seed * 1103515245u + 12345u;
                if (i % 5 == 0)
                        base += 7;
                k   = (int)((seed >> 9) % 3);
                key = (char)('a' + k);
                ts  = base - (int64_t)((seed >> 13) % 45);
                if (ts < 0)
                        ts = 0;
                snprintf(val, sizeof val, "%d", i);
                if (i == 300) {
                        /* a restart: the changelog replayed into a new
                         * store, the buffer opened on it */
                        sl_gbuf_commit(b);
                        sl_gbuf_close(b);
                        kv = harness_start(&h2, t, _i ? "lmdb" : "in_memory",
                                           dir2);
                        for (j = 0; j < h.clog.n; j++)
                                ck_assert_int_eq(
                                    sl_kv_restore(kv, h.clog.key[j],
                                                  h.clog.klen[j],
                                                  h.clog.value[j],
                                                  h.clog.vlen[j], h.clog.ts[j]),
                                    0);
                        ck_assert_int_eq(sl_gbuf_open(kv, grace, &b), 0);
                        ck_assert_uint_eq(sl_gbuf_count(b), (uint64_t)np);
                        ck_assert_int_eq(sl_gbuf_stream_time(b), obs);
                }
                r = sl_gbuf_add(b, &key, 1, val, strlen(val), ts);
                if (obs >= 0 && obs - grace > ts) {
                        ck_assert_int_eq(r, 0);
                        now_cnt++;
                        continue; /* the caller handles it now */
                }
                ck_assert_int_eq(r, 1);
                if (ts > obs)
                        obs = ts;
                pend[np].ts    = ts;
                pend[np].key   = k;
                pend[np].seq   = seq++;
                pend[np++].id  = i;
                qsort(pend, (size_t)np, sizeof pend[0], gm_cmp);
                for (due = 0; due < np && pend[due].ts <= obs - grace; due++)
                        want.ids[want.n++] = pend[due].id;
                memmove(pend, pend + due, (size_t)(np - due) * sizeof pend[0]);
                np -= due;
                ck_assert_int_eq(sl_gbuf_release(b, gm_on_release, &got), due);
                if (i % 40 == 0)
                        ck_assert_int_eq(sl_gbuf_commit(b), 0);
        }
        ck_assert_int_eq(got.n, want.n);
        for (i = 0; i < want.n; i++)
                ck_assert_int_eq(got.ids[i], want.ids[i]);
        ck_assert_uint_eq(sl_gbuf_count(b), (uint64_t)np);
        ck_assert_msg(now_cnt > 20 && want.n > 300, "late %d, released %d",
                      now_cnt, want.n);
        sl_gbuf_close(b);
        clog_free(&h.clog);
        clog_free(&h2.clog);
        harness_stop(&h);
        harness_stop(&h2);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        tu_rm_rf(dir2);
}
END_TEST

/* ---- on the embedded cluster: restore by the runtime, local queries ---- */

typedef struct vwait_s {
        sluice_app_t *app;
        const char *key, *want;
        int64_t as_of;
} vwait_t;

static int version_is(void *arg) {
        vwait_t *w = arg;
        got_t g    = {0};
        return sluice_app_versioned_get(w->app, STORE, w->key, strlen(w->key),
                                        w->as_of, on_version, &g) == 1 &&
               !strcmp(g.value, w->want);
}

static void app_expect_at(sluice_app_t *app, const char *k, int64_t as_of,
                          const char *v, int64_t from, int64_t to) {
        got_t g = {0};
        int r   = sluice_app_versioned_get(app, STORE, k, strlen(k), as_of,
                                           on_version, &g);
        if (!v) {
                ck_assert_msg(r == 0, "%s as of %lld: %d \"%s\"", k,
                              (long long)as_of, r, g.value);
                return;
        }
        ck_assert_msg(r == 1, "%s as of %lld: %d", k, (long long)as_of, r);
        ck_assert_str_eq(g.value, v);
        ck_assert_int_eq(g.from, from);
        ck_assert_int_eq(g.to, to);
}

/* An earlier life's changelog (puts in arrival order, one the store
 * refused then: it is refused again) restores into the same history; the
 * app then takes an out-of-order record and the lookups see it. */
START_TEST(app_restores_and_answers_lookups) {
        char e[512];
        sluice_topology_t *t = vtopology(1000);
        sluice_conf_t *c     = sluice_conf_new();
        sluice_app_t *app;
        const char *bs;
        vwait_t w;
        ku_record_t *recs;
        int got;
        size_t i;
        static const struct {
                const char *k, *v;
                int64_t ts;
        } life[] = {{"k", "a", 10},    {"k", "c", 30},     {"k", "b", 20},
                    {"k", NULL, 40},   {"x", "y", 2000},   {"k", "late", 500},
                    {"k", "d", 1500}};
        tu_set(c, "application.id", APP);
        tu_set(c, "sluice.embedded", "true");
        tu_set(c, "num.stream.threads", "1");
        tu_set(c, "commit.interval.ms", "100");
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        app = sluice_app_new(t, c, e, sizeof e);
        ck_assert_msg(app != NULL, "%s", e);
        bs = sluice_app_bootstrap_servers(app);
        for (i = 0; i < sizeof(life) / sizeof(life[0]); i++)
                ck_assert_int_eq(ku_produce_raw(bs, CLOG, 0, life[i].k, 1,
                                                life[i].v,
                                                life[i].v ? strlen(life[i].v)
                                                          : 0,
                                                life[i].ts),
                                 0);
        ck_assert_int_eq(sluice_app_versioned_get(app, "nope", "k", 1, L,
                                                  on_version, NULL),
                         SLUICE_ERR_STATE);
        ck_assert_int_eq(sluice_app_start(app, e, sizeof e), 0);
        w.app   = app;
        w.key   = "x";
        w.want  = "y";
        w.as_of = L;
        ck_assert(ku_wait_for(version_is, &w, 30000));
        app_expect_at(app, "x", 2000, "y", 2000, L);
        app_expect_at(app, "k", L, "d", 1500, L);
        app_expect_at(app, "k", 1499, NULL, 0, 0); /* the tombstone's gap */
        app_expect_at(app, "k", 600, NULL, 0, 0);  /* "late" was refused */
        app_expect_at(app, "k", 35, NULL, 0, 0);   /* past the retention */
        /* a new record, out of order but within the retention */
        ck_assert_int_eq(ku_produce_raw(bs, "tin", 0, "k", 1, "e", 1, 1200),
                         0);
        w.key   = "k";
        w.want  = "e";
        w.as_of = 1200;
        ck_assert(ku_wait_for(version_is, &w, 30000));
        app_expect_at(app, "k", 1200, "e", 1200, 1500);
        app_expect_at(app, "k", 1199, NULL, 0, 0);
        app_expect_at(app, "k", 1500, "d", 1500, L);
        got = ku_consume(bs, "tout", 1, 30000, &recs);
        ck_assert_int_eq(got, 1);
        ck_assert_str_eq(recs[0].key, "k");
        ck_assert_str_eq(recs[0].value, "e");
        ck_assert_int_eq(recs[0].timestamp, 1200);
        ku_free(recs, got);
        sluice_app_close(app);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_versioned(void) {
        Suite *s  = suite_create("versioned");
        TCase *tc = tcase_create("core");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, in_order_versions, 0, 4);
        tcase_add_test(tc, store_get_is_the_latest);
        tcase_add_loop_test(tc, out_of_order_versions, 0, 4);
        tcase_add_loop_test(tc, tombstones, 0, 4);
        tcase_add_loop_test(tc, history_retention, 0, 4);
        tcase_add_loop_test(tc, zero_retention, 0, 2);
        tcase_add_loop_test(tc, changelog_records, 0, 2);
        tcase_add_loop_test(tc, group_by_skips_out_of_order, 0, 2);
        tcase_add_test(tc, builder_mistakes);
        tcase_add_loop_test(tc, store_put_returns, 0, 2);
        tcase_add_loop_test(tc, store_expiry, 0, 2);
        tcase_add_loop_test(tc, restore_from_changelog, 0, 2);
        tcase_add_loop_test(tc, against_a_model, 0, 4);
        tcase_add_test(tc, reopened_persistent_store);
        tcase_add_loop_test(tc, grace_buffer_order, 0, 2);
        tcase_add_loop_test(tc, grace_buffer_restore, 0, 2);
        tcase_add_loop_test(tc, grace_buffer_against_a_model, 0, 2);
        suite_add_tcase(s, tc);
        tc = tcase_create("embedded");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, app_restores_and_answers_lookups);
        suite_add_tcase(s, tc);
        return s;
}
