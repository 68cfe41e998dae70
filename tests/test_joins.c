/*
 * test_joins.c - joins through the test driver: exact outputs (key, value,
 * timestamp, in order) of stream-table (inner, left), stream-stream
 * (inner, left, outer), table-table (inner, left, outer) and foreign-key
 * (inner, left) joins: out of
 * order arrivals, tombstones, window boundaries and grace, null keys and
 * values, the cache on and off; co-partitioning (repartition of a side
 * whose key changed, the co-partition groups); describe; the builder's
 * refusals.
 *
 * Expected outputs follow Kafka Streams' rules (notes/kafka-streams-
 * semantics.md §6, §8-§11); tests/ksdiff checks the same against Kafka
 * Streams itself on random inputs.
 */
#include "helpers.h"
#include "test_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/topology.h" /* sl_topology_copartition_groups() */

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

static void start_cache(int cache) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(conf, "application.id", "jn", err,
                                         sizeof(err)),
                         SLUICE_OK);
        ck_assert_int_eq(sluice_conf_set(conf, "statestore.cache.max.bytes",
                                         cache ? "10485760" : "0", err,
                                         sizeof(err)),
                         SLUICE_OK);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "driver: %s", err);
}

/* "left+right", an absent side "null", a null key "K=null:" in front */
static int joiner(const sluice_value_t *key, const sluice_value_t *l,
                  const sluice_value_t *r, sluice_value_t *out,
                  void *opaque) {
        /* static: Sluice copies the string after the callback returns */
        static char buf[256];
        ck_assert_ptr_nonnull(key);
        ck_assert(!l || l->type != SLUICE_VALUE_NULL);
        ck_assert(!r || r->type != SLUICE_VALUE_NULL);
        snprintf(buf, sizeof(buf), "%s%.*s+%.*s",
                 key->type == SLUICE_VALUE_NULL ? "K=null:" : "",
                 l ? (int)l->u.bytes.len : 4,
                 l ? (const char *)l->u.bytes.data : "null",
                 r ? (int)r->u.bytes.len : 4,
                 r ? (const char *)r->u.bytes.data : "null");
        if (opaque)
                ++*(int *)opaque;
        *out = sluice_str(buf);
        return 0;
}

static sluice_stream_t *stream(const char *topic) {
        return sluice_stream_from(t, topic, sluice_serde_string(),
                                  sluice_serde_string());
}
static sluice_table_t *table(const char *topic, const char *store) {
        return sluice_table_from(t, topic, sluice_serde_string(),
                                 sluice_serde_string(), store);
}
static void to_out(sluice_stream_t *s) {
        ck_assert_ptr_nonnull(
            sluice_stream_to(s, "out", NULL, sluice_serde_string()));
}
static void table_out(sluice_table_t *tbl) {
        to_out(sluice_table_to_stream(tbl));
}
static void pipe_(const char *topic, const char *k, const char *v,
                  int64_t ts) {
        ck_assert_int_eq(sluice_driver_pipe_str(drv, topic, k, v, ts), 0);
}
#define expect(k, v, ts) ck_assert_output(drv, "out", k, v, ts)
#define expect_none() ck_assert_ptr_null(sluice_driver_read(drv, "out"))

static void expect_mistake(const char *what) {
        char err[512];
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_msg(strstr(err, what) != NULL, "got: %s", err);
}

/* ---- stream-table ---- */

START_TEST(stream_table_inner_joins_the_current_row) {
        sluice_table_t *tbl = table("tbl", "rows");
        to_out(sluice_stream_join_table(stream("s"), tbl, joiner, NULL,
                                        sluice_serde_string()));
        start_cache(_i);
        pipe_("s", "a", "s1", 10);   /* no row yet: nothing */
        pipe_("tbl", "a", "t1", 20); /* a table update joins nothing */
        expect_none();
        pipe_("s", "a", "s2", 5); /* the row now, whatever its time */
        expect("a", "s2+t1", 5);
        pipe_("tbl", "a", "t2", 30);
        pipe_("s", "a", "s3", 40);
        expect("a", "s3+t2", 40);
        pipe_("tbl", "a", NULL, 50); /* tombstone: row gone */
        pipe_("s", "a", "s4", 60);
        pipe_("s", "b", "s5", 60);
        pipe_("s", NULL, "s6", 60); /* null key: dropped */
        pipe_("s", "a", NULL, 60);  /* null value: dropped */
        expect_none();
}
END_TEST

START_TEST(stream_table_left_keeps_unmatched_and_null_keys) {
        sluice_table_t *tbl = table("tbl", "rows");
        to_out(sluice_stream_left_join_table(stream("s"), tbl, joiner, NULL,
                                             sluice_serde_string()));
        start_cache(_i);
        pipe_("s", "a", "s1", 10);
        expect("a", "s1+null", 10);
        pipe_("tbl", "a", "t1", 20);
        expect_none();
        pipe_("s", "a", "s2", 15);
        expect("a", "s2+t1", 15);
        pipe_("tbl", "a", NULL, 25);
        pipe_("s", "a", "s3", 30);
        expect("a", "s3+null", 30);
        /* KIP-962: a null key with a value joins null */
        pipe_("s", NULL, "s4", 35);
        expect(NULL, "K=null:s4+null", 35);
        pipe_("s", "a", NULL, 40); /* null value: dropped */
        pipe_("s", NULL, NULL, 40);
        expect_none();
}
END_TEST

static bool not_x(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return !(v->u.bytes.len && ((const char *)v->u.bytes.data)[0] == 'x');
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

START_TEST(stream_table_reads_through_filter_and_map_values) {
        sluice_table_t *tbl = sluice_table_map_values(
            sluice_table_filter(table("tbl", "rows"), not_x, NULL), upper,
            NULL, sluice_serde_string());
        to_out(sluice_stream_left_join_table(stream("s"), tbl, joiner, NULL,
                                             sluice_serde_string()));
        start_cache(1);
        pipe_("tbl", "a", "ok", 1);
        pipe_("tbl", "b", "xno", 2);
        pipe_("s", "a", "s1", 3);
        pipe_("s", "b", "s2", 4);
        expect("a", "s1+OK", 3);
        expect("b", "s2+null", 4);
        expect_none();
}
END_TEST

static int new_key(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        /* the first letter of the value is the new key */
        return sluice_record_set_key(rec, sluice_strn(v->u.bytes.data, 1));
}

START_TEST(stream_table_repartitions_a_changed_key) {
        sluice_table_t *tbl = table("tbl", "rows");
        sluice_stream_t *s  = sluice_stream_select_key(stream("s"), new_key,
                                                       NULL);
        char *d;
        to_out(sluice_stream_join_table(s, tbl, joiner, NULL,
                                        sluice_serde_string()));
        start_cache(1);
        pipe_("tbl", "a", "t1", 1);
        pipe_("s", "zz", "a-value", 2);
        expect("a", "a-value+t1", 2);
        ck_assert_uint_eq(
            sluice_driver_queued(drv, "jn-KSTREAM-KEY-SELECT-0000000003-"
                                      "repartition"),
            0);
        d = sluice_topology_describe(t);
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KSTREAM-JOIN-0000000006 (stores: [rows])\n"
               "      --> KSTREAM-SINK-0000000007\n"
               "      <-- KSTREAM-KEY-SELECT-0000000003-repartition-"
               "source\n"));
        free(d);
        {
                sl_copartition_group_t *g;
                size_t n;
                ck_assert_int_eq(sl_topology_copartition_groups(t, &g, &n), 0);
                ck_assert_uint_eq(n, 1);
                ck_assert_uint_eq(g[0].topic_cnt, 2);
                ck_assert_str_eq(
                    g[0].topics[0],
                    "jn-KSTREAM-KEY-SELECT-0000000003-repartition");
                ck_assert_str_eq(g[0].topics[1], "tbl");
                sl_copartition_groups_free(g, n);
        }
}
END_TEST

/* ---- table-table ---- */

START_TEST(table_inner_join) {
        table_out(sluice_table_join(table("l", "ls"), table("r", "rs"),
                                    joiner, NULL, sluice_serde_string()));
        start_cache(_i);
        pipe_("l", "a", "l1", 10);
        expect_none();
        pipe_("r", "a", "r1", 5);
        expect("a", "l1+r1", 10); /* max of both */
        pipe_("r", "a", "r2", 20);
        expect("a", "l1+r2", 20);
        pipe_("l", "a", "l2", 15);
        expect("a", "l2+r2", 20);
        pipe_("l", "a", NULL, 30); /* this side deleted: tombstone */
        expect("a", NULL, 30);
        pipe_("r", "a", NULL, 31); /* left gone: nothing */
        pipe_("r", "b", "r3", 32);
        pipe_("l", "b", NULL, 33); /* never there: the source sends
                                      nothing with the cache, Change(null,
                                      null) without: a tombstone */
        if (!_i)
                expect("b", NULL, 33);
        pipe_("l", NULL, "x", 34); /* null key: dropped */
        expect_none();
}
END_TEST

START_TEST(table_left_join) {
        table_out(sluice_table_left_join(table("l", "ls"), table("r", "rs"),
                                         joiner, NULL, sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "a", "r0", 1); /* no left row: nothing */
        expect_none();
        pipe_("l", "a", "l1", 10);
        expect("a", "l1+r0", 10);
        pipe_("l", "b", "l2", 11);
        expect("b", "l2+null", 11);
        pipe_("r", "b", "r1", 12);
        expect("b", "l2+r1", 12);
        pipe_("r", "b", NULL, 13); /* right deleted: joiner(left, null) */
        expect("b", "l2+null", 13);
        pipe_("l", "b", NULL, 14); /* left deleted: tombstone */
        expect("b", NULL, 14);
        pipe_("l", "c", NULL, 15); /* neither ever existed: nothing */
        pipe_("r", "c", NULL, 16);
        expect_none();
}
END_TEST

START_TEST(table_outer_join) {
        table_out(sluice_table_outer_join(table("l", "ls"), table("r", "rs"),
                                          joiner, NULL,
                                          sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "a", "r1", 5);
        expect("a", "null+r1", 5);
        pipe_("l", "a", "l1", 3);
        expect("a", "l1+r1", 5);
        pipe_("r", "a", NULL, 7);
        expect("a", "l1+null", 7);
        pipe_("l", "a", NULL, 8); /* the last side gone: tombstone */
        expect("a", NULL, 8);
        pipe_("l", "c", NULL, 9); /* neither: nothing */
        pipe_("r", "c", NULL, 9);
        expect_none();
}
END_TEST

/* A filter below a join gets old values: a row filtered out that was
 * never in the result yields no tombstone. */
static bool no_null_side(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char buf[128];
        size_t n = v->u.bytes.len < sizeof(buf) - 1 ? v->u.bytes.len
                                                    : sizeof(buf) - 1;
        (void)opaque;
        memcpy(buf, v->u.bytes.data, n);
        buf[n] = '\0';
        return !strstr(buf, "null");
}

START_TEST(table_join_then_filter_sends_no_spurious_tombstones) {
        table_out(sluice_table_filter(
            sluice_table_outer_join(table("l", "ls"), table("r", "rs"), joiner,
                                    NULL, sluice_serde_string()),
            no_null_side, NULL));
        start_cache(1);
        pipe_("l", "a", "l1", 1); /* l1+null: filtered out, never there */
        expect_none();
        pipe_("r", "a", "r1", 2);
        expect("a", "l1+r1", 2);
        pipe_("r", "a", NULL, 3); /* l1+null: filtered, was there */
        expect("a", NULL, 3);
        pipe_("l", "a", NULL, 4); /* a tombstone, but already gone */
        expect_none();
}
END_TEST

START_TEST(table_join_describe_and_copartition) {
        char *d;
        sl_copartition_group_t *g;
        size_t n;
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        table_out(sluice_table_join(l, r, joiner, NULL, sluice_serde_string()));
        start_cache(1);
        d = sluice_topology_describe(t);
        ck_assert_str_eq(
            d, "Topologies:\n"
               "   Sub-topology: 0\n"
               "    Source: KSTREAM-SOURCE-0000000000 (topics: [l])\n"
               "      --> KTABLE-SOURCE-0000000001\n"
               "    Processor: KTABLE-SOURCE-0000000001 (stores: [ls])\n"
               "      --> KTABLE-JOINTHIS-0000000004\n"
               "      <-- KSTREAM-SOURCE-0000000000\n"
               "    Source: KSTREAM-SOURCE-0000000002 (topics: [r])\n"
               "      --> KTABLE-SOURCE-0000000003\n"
               "    Processor: KTABLE-SOURCE-0000000003 (stores: [rs])\n"
               "      --> KTABLE-JOINOTHER-0000000005\n"
               "      <-- KSTREAM-SOURCE-0000000002\n"
               "    Processor: KTABLE-JOINTHIS-0000000004 (stores: [rs])\n"
               "      --> KTABLE-MERGE-0000000006\n"
               "      <-- KTABLE-SOURCE-0000000001\n"
               "    Processor: KTABLE-JOINOTHER-0000000005 (stores: [ls])\n"
               "      --> KTABLE-MERGE-0000000006\n"
               "      <-- KTABLE-SOURCE-0000000003\n"
               "    Processor: KTABLE-MERGE-0000000006 (stores: [])\n"
               "      --> KTABLE-TOSTREAM-0000000007\n"
               "      <-- KTABLE-JOINTHIS-0000000004, "
               "KTABLE-JOINOTHER-0000000005\n"
               "    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])\n"
               "      --> KSTREAM-SINK-0000000008\n"
               "      <-- KTABLE-MERGE-0000000006\n"
               "    Sink: KSTREAM-SINK-0000000008 (topic: out)\n"
               "      <-- KTABLE-TOSTREAM-0000000007\n\n");
        free(d);
        ck_assert_int_eq(sl_topology_copartition_groups(t, &g, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(g[0].subtopology, 0);
        ck_assert_uint_eq(g[0].topic_cnt, 2);
        ck_assert_str_eq(g[0].topics[0], "l");
        ck_assert_str_eq(g[0].topics[1], "r");
        sl_copartition_groups_free(g, n);
}
END_TEST

/* ---- foreign-key table-table joins ---- */

/* A left value "FK:payload": the foreign key before the ':' (none if
 * empty). */
static int fk_of(const sluice_value_t *key, const sluice_value_t *v,
                 sluice_value_t *fk, void *opaque) {
        const char *p = v->u.bytes.data, *c;
        (void)key;
        (void)opaque;
        c = memchr(p, ':', v->u.bytes.len);
        if (c && c > p)
                *fk = sluice_strn(p, (size_t)(c - p));
        return 0;
}

START_TEST(fk_inner_join) {
        table_out(sluice_table_fk_join(table("l", "ls"), table("r", "rs"),
                                       fk_of, joiner, NULL,
                                       sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "A", "ra", 5);
        pipe_("l", "1", "A:x", 10);
        expect("1", "A:x+ra", 10); /* max(left, right) */
        pipe_("l", "2", "B:y", 11);  /* no right row: nothing */
        expect_none();
        pipe_("r", "B", "rb", 12); /* a right insert: its subscribers */
        expect("2", "B:y+rb", 12);
        pipe_("r", "A", "ra2", 13);
        expect("1", "A:x+ra2", 13);
        pipe_("l", "1", "B:z", 14); /* the foreign key changes */
        expect("1", "B:z+rb", 14);
        pipe_("r", "A", "ra3", 15); /* unsubscribed from A */
        expect_none();
        pipe_("r", "B", NULL, 16); /* a right delete: a tombstone each, in
                                      primary-key order */
        expect("1", NULL, 16);
        expect("2", NULL, 16);
        pipe_("l", "2", "C:w", 17); /* changed to a missing row */
        expect("2", NULL, 17);
        pipe_("l", "1", ":n", 18); /* a null foreign key: unsubscribe, a
                                      tombstone */
        expect("1", NULL, 18);
        pipe_("l", "2", NULL, 19); /* a left delete */
        expect("2", NULL, 19);
        pipe_("r", "C", "rc", 20); /* nobody subscribes to C any more */
        pipe_("r", "B", "rb2", 21);
        expect_none();
        pipe_("r", "D", "rd", 100);
        pipe_("l", "3", "D:q", 50);
        expect("3", "D:q+rd", 100);
        pipe_("l", "3", "D:q2", 60); /* the same key: updated */
        expect("3", "D:q2+rd", 100);
        pipe_("l", "4", "E:q", 61); /* an insert without a row: nothing, */
        pipe_("l", "4", "E:q3", 62); /* an update with the same key too */
        pipe_("l", NULL, "D:x", 63);  /* a null key: dropped */
        expect_none();
}
END_TEST

START_TEST(fk_left_join) {
        table_out(sluice_table_fk_left_join(table("l", "ls"),
                                            table("r", "rs"), fk_of, joiner,
                                            NULL, sluice_serde_string()));
        start_cache(_i);
        pipe_("l", "1", "A:x", 10);
        expect("1", "A:x+null", 10);
        pipe_("r", "A", "ra", 11);
        expect("1", "A:x+ra", 11);
        pipe_("l", "1", ":n", 12); /* a null foreign key: joiner(l, null) */
        expect("1", ":n+null", 12);
        pipe_("r", "A", "ra2", 13);
        expect_none();
        pipe_("l", "1", "A:y", 14);
        expect("1", "A:y+ra2", 14);
        pipe_("r", "A", NULL, 15); /* a right delete: joiner(l, null) */
        expect("1", "A:y+null", 15);
        pipe_("l", "1", "A:z", 16); /* the same key, no row */
        expect("1", "A:z+null", 16);
        pipe_("l", "1", NULL, 17); /* a left delete: a tombstone */
        expect("1", NULL, 17);
        pipe_("l", "9", NULL, 18); /* never there */
        pipe_("r", "A", "ra3", 19);
        expect_none();
}
END_TEST

/* A response whose hash is not the left row's current one is stale: in
 * the driver (as in Kafka Streams' TopologyTestDriver) every piped record
 * runs to completion, internal topics included, so two left updates never
 * overtake a response; pipe responses into the internal topic directly. */
START_TEST(fk_join_drops_stale_responses) {
        static const char topic[] =
            "jn-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic";
        unsigned char stale[1 + 16 + 2];
        table_out(sluice_table_fk_join(table("l", "ls"), table("r", "rs"),
                                       fk_of, joiner, NULL,
                                       sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "A", "ra", 1);
        pipe_("l", "1", "A:x", 2);
        expect("1", "A:x+ra", 2);
        /* a hash of some other left value, a right value "rz" */
        memset(stale, 0x5a, sizeof(stale));
        stale[0] = 0x40;
        memcpy(stale + 17, "rz", 2);
        ck_assert_int_eq(sluice_driver_pipe(drv, topic, "1", 1, stale,
                                            sizeof(stale), 3, NULL, 0),
                         0);
        /* no hash (a deleted left value's) while the row exists */
        stale[0] = 0x80;
        ck_assert_int_eq(
            sluice_driver_pipe(drv, topic, "1", 1, stale, 1, 4, NULL, 0), 0);
        expect_none();
        /* no hash for a row that is gone: current, a tombstone */
        ck_assert_int_eq(
            sluice_driver_pipe(drv, topic, "7", 1, stale, 1, 5, NULL, 0), 0);
        expect("7", NULL, 5);
        /* the current row's own subscription still answers */
        pipe_("r", "A", "ra2", 6);
        expect("1", "A:x+ra2", 6);
}
END_TEST

/* KIP-914: out-of-order updates of a versioned table on either side of a
 * foreign-key join are dropped (SubscriptionSendProcessorSupplier,
 * ForeignTableJoinProcessorSupplier), and the join reads latest rows. */
START_TEST(fk_join_skips_out_of_order_versions) {
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        ck_assert_int_eq(sluice_table_set_versioned(l, 1000), 0);
        ck_assert_int_eq(sluice_table_set_versioned(r, 1000), 0);
        table_out(sluice_table_fk_left_join(l, r, fk_of, joiner, NULL,
                                            sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "A", "ra", 5);
        pipe_("l", "1", "A:x", 10);
        expect("1", "A:x+ra", 10);
        pipe_("l", "1", "B:y", 7); /* older than the latest: dropped */
        pipe_("r", "A", "old", 4);
        expect_none();
        pipe_("r", "A", "ra2", 20); /* still subscribed to A */
        expect("1", "A:x+ra2", 20);
        pipe_("l", "1", "B:z", 30);
        expect("1", "B:z+null", 30);
}
END_TEST

START_TEST(fk_join_describe_and_copartition) {
        char *d;
        sl_copartition_group_t *g;
        size_t n;
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        table_out(sluice_table_fk_join(l, r, fk_of, joiner, NULL,
                                       sluice_serde_string()));
        start_cache(1);
        d = sluice_topology_describe(t);
        /* the right side (the subscription store beside the right
         * table's) and the left side (the responses beside the left
         * table) are two sub-topologies */
        /* Kafka Streams 4.4.0's names and numbers for the same
         * topology (its describe) */
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
               "0000000005 (stores: [])\n"
               "      --> KTABLE-SINK-0000000006\n"));
        ck_assert_ptr_nonnull(strstr(
            d, "    Source: KTABLE-SOURCE-0000000007 (topics: "
               "[jn-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
               "0000000004-topic])\n"));
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-"
               "0000000009 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-"
               "STORE-0000000008, rs])\n"));
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-"
               "0000000011 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-"
               "STORE-0000000008])\n"));
        ck_assert_ptr_nonnull(strstr(
            d, "    Sink: KTABLE-SINK-0000000013 (topic: "
               "jn-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-"
               "topic)\n"));
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-"
               "PROCESSOR-0000000015 (stores: [ls])\n"
               "      --> KTABLE-TOSTREAM-0000000018\n"));
        ck_assert_ptr_nonnull(strstr(d, "   Sub-topology: 1\n"));
        ck_assert_ptr_null(strstr(d, "   Sub-topology: 2\n"));
        free(d);
        ck_assert_int_eq(sl_topology_copartition_groups(t, &g, &n), 0);
        ck_assert_uint_eq(n, 2);
        /* the subscriptions with the right table's topic, the responses
         * with the left's */
        {
                size_t i;
                for (i = 0; i < n; i++) {
                        /* the group with the right table's topic */
                        int right = !strcmp(g[i].topics[0], "r") ||
                                    !strcmp(g[i].topics[1], "r");
                        const char *want =
                            right ? "jn-KTABLE-FK-JOIN-SUBSCRIPTION-"
                                    "REGISTRATION-0000000004-topic"
                                  : "jn-KTABLE-FK-JOIN-SUBSCRIPTION-"
                                    "RESPONSE-0000000012-topic";
                        ck_assert_uint_eq(g[i].topic_cnt, 2);
                        ck_assert(!strcmp(g[i].topics[0], want) ||
                                  !strcmp(g[i].topics[1], want));
                        ck_assert(right || !strcmp(g[i].topics[0], "l") ||
                                  !strcmp(g[i].topics[1], "l"));
                }
        }
        sl_copartition_groups_free(g, n);
}
END_TEST

START_TEST(builder_refuses_fk_join_mistakes) {
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        ck_assert_ptr_null(sluice_table_fk_join(l, r, NULL, joiner, NULL,
                                                sluice_serde_string()));
        expect_mistake("sluice_table_fk_join: foreign-key extractor is NULL");
}
END_TEST

START_TEST(builder_refuses_fk_join_without_stores_or_serdes) {
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        /* a join's result has no store to look rows up in */
        sluice_table_t *j =
            sluice_table_join(l, r, joiner, NULL, sluice_serde_string());
        ck_assert_ptr_null(sluice_table_fk_left_join(
            l, j, fk_of, joiner, NULL, sluice_serde_string()));
        expect_mistake("sluice_table_fk_left_join: the right table has no "
                       "store to look rows up in");
}
END_TEST

START_TEST(builder_refuses_fk_join_with_unknown_serdes) {
        /* map_values without a serde: the left values' serde is unknown */
        sluice_table_t *l =
            sluice_table_map_values(table("l", "ls"), upper, NULL, NULL);
        ck_assert_ptr_null(sluice_table_fk_join(l, table("r", "rs"), fk_of,
                                                joiner, NULL,
                                                sluice_serde_string()));
        expect_mistake("sluice_table_fk_join: the serdes of both tables' "
                       "keys and values must be known");
}
END_TEST

/* ---- the builder's refusals ---- */

START_TEST(builder_refuses_a_null_joiner) {
        ck_assert_ptr_null(sluice_stream_join_table(
            stream("s"), table("tbl", NULL), NULL, NULL, NULL));
        expect_mistake("sluice_stream_join_table: joiner is NULL");
}
END_TEST

START_TEST(builder_refuses_other_topologies) {
        sluice_topology_t *t2 = sluice_topology_new();
        sluice_table_t *other = sluice_table_from(t2, "x", NULL, NULL, NULL);
        ck_assert_ptr_null(sluice_table_left_join(table("tbl", NULL), other,
                                                  joiner, NULL, NULL));
        expect_mistake("sluice_table_left_join: the tables belong to "
                       "different topologies");
        sluice_topology_destroy(t2);
}
END_TEST

START_TEST(builder_refuses_a_table_without_a_store) {
        sluice_table_t *j = sluice_table_join(table("l", NULL), table("r", NULL),
                                              joiner, NULL, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_ptr_null(
            sluice_stream_join_table(stream("s"), j, joiner, NULL, NULL));
        expect_mistake("sluice_stream_join_table: the table has no store");
}
END_TEST

/* ---- stream-stream ---- */

static void start_interval(int cache, const char *interval) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(conf, "application.id", "jn", err,
                                         sizeof(err)),
                         SLUICE_OK);
        ck_assert_int_eq(sluice_conf_set(conf, "statestore.cache.max.bytes",
                                         cache ? "10485760" : "0", err,
                                         sizeof(err)),
                         SLUICE_OK);
        if (interval)
                ck_assert_int_eq(
                    sluice_conf_set(conf,
                                    "__emit.interval.ms.kstreams.outer.join."
                                    "spurious.results.fix__",
                                    interval, err, sizeof(err)),
                    SLUICE_OK);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "driver: %s", err);
}

START_TEST(stream_inner_join_window_boundaries) {
        to_out(sluice_stream_join(stream("l"), stream("r"),
                                  sluice_join_windows(10, 0), joiner, NULL,
                                  sluice_serde_string(), NULL));
        start_cache(_i);
        pipe_("l", "a", "l1", 100);
        expect_none();
        pipe_("r", "a", "r1", 110); /* exactly t + after */
        expect("a", "l1+r1", 110);
        pipe_("r", "a", "r2", 89); /* 1 ms before t - before */
        expect_none();
        pipe_("r", "a", "r3", 90); /* exactly t - before */
        expect("a", "l1+r3", 100);
        pipe_("l", "a", "l2", 121); /* 1 ms after r1 + after */
        expect_none();
        pipe_("l", "a", "l3", 120); /* r1 and (not expired) r2? no: r2 is
                                       at 89, outside [110, 130] */
        expect("a", "l3+r1", 120);
        pipe_("l", "b", "x", 120);
        pipe_("l", NULL, "x", 120);
        pipe_("l", "a", NULL, 120);
        pipe_("r", NULL, "y", 120);
        expect_none();
        /* duplicates are kept: both r1s join */
        pipe_("r", "c", "r1", 200);
        pipe_("r", "c", "r1", 200);
        pipe_("l", "c", "l5", 195);
        expect("c", "l5+r1", 200);
        expect("c", "l5+r1", 200);
        expect_none();
}
END_TEST

START_TEST(stream_join_asymmetric_window_and_retention) {
        /* before 5, after 20: a left at t joins right in [t-5, t+20]; a
         * right at t joins left in [t-20, t+5]; records kept 25 ms */
        to_out(sluice_stream_join(stream("l"), stream("r"),
                                  sluice_join_windows_asym(5, 20, 0), joiner,
                                  NULL, sluice_serde_string(), "j"));
        start_cache(1);
        pipe_("l", "a", "l1", 100);
        pipe_("r", "a", "r1", 95);  /* l1 in [75, 100] */
        expect("a", "l1+r1", 100);
        pipe_("r", "a", "r2", 121); /* [101, 126]: no */
        pipe_("r", "a", "r3", 94);  /* [74, 99]: no */
        expect_none();
        pipe_("r", "a", "r4", 120); /* [100, 125] */
        expect("a", "l1+r4", 120);
        /* the right store's stream time is 121: a late left record sees
         * only right records > 121 - 25 = 96 */
        pipe_("l", "a", "l2", 94); /* [89, 114]: r1 (95) and r3 (94) are
                                      hidden */
        expect_none();
        pipe_("l", "a", "l3", 97); /* [92, 117] */
        expect_none();
        pipe_("l", "a", "l4", 101); /* [96, 121]: r2 and r4 */
        expect("a", "l4+r4", 120);
        expect("a", "l4+r2", 121);
        expect_none();
        /* the left store's records before 101 - 25 are hidden too */
        pipe_("r", "a", "r5", 95); /* [75, 100], all > 101 - 25: l2 (94),
                                      l3 (97), l1 (100), oldest first */
        expect("a", "l2+r5", 95);
        expect("a", "l3+r5", 97);
        expect("a", "l1+r5", 100);
        expect_none();
}
END_TEST

START_TEST(stream_left_join_emits_unmatched_when_closed) {
        to_out(sluice_stream_left_join(stream("l"), stream("r"),
                                       sluice_join_windows(10, 5), joiner,
                                       NULL, sluice_serde_string(), NULL));
        start_interval(_i, "0");
        pipe_("l", "a", "l1", 100); /* held: its window closes after 115 */
        pipe_("r", "b", "r1", 105); /* right side: never unmatched */
        pipe_("r", "a", "r2", 111); /* [101, 121] misses l1 */
        pipe_("l", "c", "l2", 115); /* stream time 115: not closed yet */
        expect_none();
        pipe_("l", "d", "l3", 116); /* 116 > 100 + 10 + 5 */
        expect("a", "l1+null", 100);
        expect_none();
        /* a late record whose window is closed: out at once */
        pipe_("l", "e", "l4", 90);
        expect("e", "l4+null", 90);
        /* a late record is not a trigger (ts != stream time) */
        pipe_("l", "f", "l5", 110); /* held: 120 >= 116 */
        expect_none();
        /* a match deletes the held record */
        pipe_("r", "d", "r3", 117);
        expect("d", "l3+r3", 117);
        pipe_("r", "z", "r4", 200); /* stream time 200: c (115) and f
                                       (110) close, in time order */
        expect("f", "l5+null", 110);
        expect("c", "l2+null", 115);
        expect_none();
        /* KIP-962: a null-key left record comes out at once */
        pipe_("l", NULL, "n", 201);
        expect(NULL, "K=null:n+null", 201);
        pipe_("r", NULL, "n", 201); /* the right side drops it */
        pipe_("l", "a", NULL, 201);
        expect_none();
}
END_TEST

START_TEST(stream_outer_join_both_sides) {
        to_out(sluice_stream_outer_join(stream("l"), stream("r"),
                                        sluice_join_windows_asym(3, 10, 0),
                                        joiner, NULL, sluice_serde_string(),
                                        NULL));
        start_interval(0, "0");
        pipe_("r", "a", "r1", 100); /* a right record's window closes
                                       after t + before(3) + grace */
        pipe_("l", "b", "l1", 100); /* a left one's after t + after(10) */
        pipe_("l", "a", "l2", 102); /* r1 in [97, 112] */
        expect("a", "l2+r1", 102);
        pipe_("r", "c", "r2", 103);
        pipe_("r", "c", "r3", 103); /* same key and time: one list */
        expect_none();
        pipe_("r", "x", "r4", 107); /* 107 > 103 + 3: r2, r3 */
        expect("c", "null+r2", 103);
        expect("c", "null+r3", 103);
        expect_none();
        /* the scan left its oldest time at r2's 103 (Kafka Streams keeps
         * the last record it looked at), and a left record checks
         * 103 + after(10) first: no scan */
        pipe_("l", "y", "l3", 111);
        expect_none();
        /* a right record checks 103 + before(3): l1 (100 + 10 < 120) and
         * r4 (107 + 3 < 120) come out, l3 (111 + 10) waits */
        pipe_("r", "q", "r5", 120);
        expect("b", "l1+null", 100);
        expect("x", "null+r4", 107);
        expect_none();
        pipe_("r", NULL, "n", 120); /* both sides keep null keys */
        expect(NULL, "K=null:null+n", 120);
}
END_TEST

START_TEST(stream_left_join_throttles_on_the_wall_clock) {
        to_out(sluice_stream_left_join(stream("l"), stream("r"),
                                       sluice_join_windows(10, 0), joiner,
                                       NULL, sluice_serde_string(), NULL));
        start_interval(1, "1000"); /* Kafka Streams' default (its
                                      TopologyTestDriver's is 0, as
                                      Sluice's driver's) */
        /* the first record's scan (nothing to emit) arms the throttle */
        pipe_("l", "a", "l1", 100);
        pipe_("l", "b", "l2", 105);
        pipe_("l", "c", "l3", 111); /* a closed, but throttled */
        expect_none();
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 1000), 0);
        pipe_("l", "d", "l4", 112);
        expect("a", "l1+null", 100);
        expect_none();
        /* b (105) waits: the scan left the oldest time at c's 111 */
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 1000), 0);
        pipe_("l", "e", "l5", 116);
        expect_none();
        pipe_("l", "f", "l6", 123); /* 111 + 10 < 123: b, c, d */
        expect("b", "l2+null", 105);
        expect("c", "l3+null", 111);
        expect("d", "l4+null", 112);
        expect_none();
        pipe_("l", "g", "l7", 130); /* e closed (126), throttled */
        expect_none();
        ck_assert_int_eq(sluice_driver_advance_wall_clock(drv, 1000), 0);
        pipe_("l", "h", "l8", 131);
        expect("e", "l5+null", 116);
        expect_none();
}
END_TEST

START_TEST(stream_left_join_in_the_driver_is_unthrottled_by_default) {
        to_out(sluice_stream_left_join(stream("l"), stream("r"),
                                       sluice_join_windows(10, 0), joiner,
                                       NULL, sluice_serde_string(), NULL));
        start_cache(1); /* no emit interval set: 0, as TopologyTestDriver */
        pipe_("l", "a", "l1", 100);
        pipe_("l", "b", "l2", 111);
        expect("a", "l1+null", 100);
        pipe_("l", "c", "l3", 122);
        expect("b", "l2+null", 111);
        expect_none();
}
END_TEST

START_TEST(stream_join_repartitions_the_changed_side) {
        sluice_stream_t *l = sluice_stream_select_key(stream("l"), new_key,
                                                      NULL);
        char *d;
        sl_copartition_group_t *g;
        size_t n;
        to_out(sluice_stream_join(l, stream("r"), sluice_join_windows(10, 0),
                                  joiner, NULL, sluice_serde_string(), "j"));
        start_cache(1);
        pipe_("r", "a", "r1", 100);
        pipe_("l", "zz", "a-l", 100);
        expect("a", "a-l+r1", 100);
        expect_none();
        ck_assert_ptr_null(sluice_driver_read(drv, "jn-j-right-repartition"));
        d = sluice_topology_describe(t);
        ck_assert_ptr_nonnull(strstr(
            d, "    Processor: KSTREAM-JOINTHIS-0000000005 (stores: "
               "[j-this-join-store, j-other-join-store])\n"
               "      --> KSTREAM-MERGE-0000000007\n"
               "      <-- j-left-repartition-source\n"));
        ck_assert_ptr_null(strstr(d, "j-right"));
        free(d);
        ck_assert_int_eq(sl_topology_copartition_groups(t, &g, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(g[0].topic_cnt, 2);
        ck_assert_str_eq(g[0].topics[0], "jn-j-left-repartition");
        ck_assert_str_eq(g[0].topics[1], "r");
        sl_copartition_groups_free(g, n);
}
END_TEST

START_TEST(builder_refuses_bad_join_windows) {
        ck_assert_ptr_null(sluice_stream_join(
            stream("l"), stream("r"), sluice_join_windows_asym(-1, 5, 0),
            joiner, NULL, NULL, NULL));
        expect_mistake("sluice_stream_join: the join window's before, after "
                       "and grace must be >= 0 (got -1, 5, 0)");
}
END_TEST

START_TEST(builder_refuses_negative_grace) {
        ck_assert_ptr_null(sluice_stream_outer_join(
            stream("l"), stream("r"), sluice_join_windows(5, -1), joiner, NULL,
            NULL, NULL));
        expect_mistake("sluice_stream_outer_join: the join window's");
}
END_TEST

START_TEST(builder_refuses_streams_of_other_topologies) {
        sluice_topology_t *t2 = sluice_topology_new();
        sluice_stream_t *o    = sluice_stream_from(t2, "x", NULL, NULL);
        ck_assert_ptr_null(sluice_stream_left_join(stream("l"), o,
                                                   sluice_join_windows(5, 0),
                                                   joiner, NULL, NULL, NULL));
        expect_mistake("sluice_stream_left_join: the streams belong to "
                       "different topologies");
        sluice_topology_destroy(t2);
}
END_TEST

static int count_any(const void *key, size_t klen, const void *value,
                     size_t vlen, int64_t ts, void *opaque) {
        (void)key;
        (void)klen;
        (void)value;
        (void)vlen;
        (void)ts;
        (void)opaque;
        return 0;
}

START_TEST(stream_join_stores_are_logged_and_expire) {
        to_out(sluice_stream_join(stream("l"), stream("r"),
                                  sluice_join_windows(10, 0), joiner, NULL,
                                  sluice_serde_string(), "j"));
        start_cache(_i);
        pipe_("l", "a", "l1", 0);
        pipe_("l", "a", "l2", 10);
        pipe_("r", "a", "r1", 5);
        expect("a", "l1+r1", 5);
        expect("a", "l2+r1", 10);
        ck_assert_int_eq(sluice_driver_store_range(drv, "j-this-join-store",
                                                   NULL, 0, NULL, 0,
                                                   count_any, NULL),
                         2);
        /* segments are 60 s (retention 20 ms is less): a record 200 s on
         * drops the old ones at the commit, from the store only */
        pipe_("l", "b", "l3", 200000);
        ck_assert_int_eq(sluice_driver_store_range(drv, "j-this-join-store",
                                                   NULL, 0, NULL, 0,
                                                   count_any, NULL),
                         1);
        ck_assert_uint_eq(
            sluice_driver_queued(drv, "jn-j-this-join-store-changelog"), 3);
        ck_assert_uint_eq(
            sluice_driver_queued(drv, "jn-j-other-join-store-changelog"), 1);
        /* a record into an expired segment is not kept */
        pipe_("l", "a", "l4", 12); /* ... but it still joins (no late drop) */
        expect("a", "l4+r1", 12);
        ck_assert_uint_eq(
            sluice_driver_queued(drv, "jn-j-this-join-store-changelog"), 3);
        pipe_("r", "a", "r2", 12); /* l4 was never kept; l1/l2 are gone */
        expect_none();
        {
                /* the shared stream time and each store's, per side */
                char *m = sluice_driver_metrics_json(drv);
                ck_assert_ptr_nonnull(m);
                ck_assert_msg(strstr(m, "\"KSTREAM-JOINTHIS-0000000002\":{"
                                        "\"stream_time\":200000,"
                                        "\"store_stream_time\":200000}"),
                              "%s", m);
                ck_assert_msg(strstr(m, "\"KSTREAM-JOINOTHER-0000000003\":{"
                                        "\"stream_time\":200000,"
                                        "\"store_stream_time\":12}"),
                              "%s", m);
                free(m);
        }
}
END_TEST

static uint64_t be64(const void *p) {
        const unsigned char *b = p;
        uint64_t v             = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

static void expect_count(const char *k, int64_t n, int64_t ts) {
        const sluice_output_t *o = sluice_driver_read(drv, "out");
        ck_assert_msg(o != NULL, "no output (expected %s=%lld)", k,
                      (long long)n);
        ck_assert_uint_eq(o->key_len, strlen(k));
        ck_assert_mem_eq(o->key, k, o->key_len);
        ck_assert_uint_eq(o->value_len, 8);
        ck_assert_int_eq((int64_t)be64(o->value), n);
        ck_assert_int_eq(o->timestamp, ts);
}

static int by_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

/* A group_by below a table join needs the join's old values: the old
 * joined row is subtracted from its group. */
START_TEST(table_join_sends_old_values_to_a_group_by) {
        sluice_table_t *l = table("l", "ls"), *r = table("r", "rs");
        sluice_table_t *j =
            sluice_table_left_join(l, r, joiner, NULL, sluice_serde_string());
        ck_assert_ptr_nonnull(sluice_stream_to(
            sluice_table_to_stream(sluice_grouped_count(
                sluice_table_group_by(j, by_value, NULL, sluice_serde_string(),
                                      sluice_serde_string()),
                "per-row")),
            "out", sluice_serde_string(), sluice_serde_int64()));
        start_cache(_i);
        pipe_("l", "a", "l1", 1);
        expect_count("l1+null", 1, 1);
        pipe_("r", "a", "r1", 2);
        expect_count("l1+null", 0, 2);
        expect_count("l1+r1", 1, 2);
        pipe_("l", "a", NULL, 3);
        expect_count("l1+r1", 0, 3);
        expect_none();
}
END_TEST

START_TEST(describe_shows_a_left_join_and_its_stores) {
        char *d;
        sluice_stream_t *l = stream("l"), *r = stream("r");
        to_out(sluice_stream_left_join(l, r, sluice_join_windows(10, 0),
                                       joiner, NULL, sluice_serde_string(),
                                       NULL));
        d = sluice_topology_describe(t);
        ck_assert_str_eq(
            d, "Topologies:\n"
               "   Sub-topology: 0\n"
               "    Source: KSTREAM-SOURCE-0000000000 (topics: [l])\n"
               "      --> KSTREAM-JOINTHIS-0000000002\n"
               "    Source: KSTREAM-SOURCE-0000000001 (topics: [r])\n"
               "      --> KSTREAM-OUTEROTHER-0000000003\n"
               "    Processor: KSTREAM-JOINTHIS-0000000002 (stores: "
               "[KSTREAM-JOINTHIS-0000000002-store, "
               "KSTREAM-OUTEROTHER-0000000003-store, "
               "KSTREAM-OUTERSHARED-0000000002-store])\n"
               "      --> KSTREAM-MERGE-0000000004\n"
               "      <-- KSTREAM-SOURCE-0000000000\n"
               "    Processor: KSTREAM-OUTEROTHER-0000000003 (stores: "
               "[KSTREAM-OUTEROTHER-0000000003-store, "
               "KSTREAM-JOINTHIS-0000000002-store, "
               "KSTREAM-OUTERSHARED-0000000002-store])\n"
               "      --> KSTREAM-MERGE-0000000004\n"
               "      <-- KSTREAM-SOURCE-0000000001\n"
               "    Processor: KSTREAM-MERGE-0000000004 (stores: [])\n"
               "      --> KSTREAM-SINK-0000000005\n"
               "      <-- KSTREAM-JOINTHIS-0000000002, "
               "KSTREAM-OUTEROTHER-0000000003\n"
               "    Sink: KSTREAM-SINK-0000000005 (topic: out)\n"
               "      <-- KSTREAM-MERGE-0000000004\n\n");
        free(d);
}
END_TEST

START_TEST(builder_refuses_unknown_serdes) {
        /* map_values without a serde: the values' serde is unknown */
        sluice_stream_t *l = sluice_table_to_stream(
            sluice_table_map_values(table("l", NULL), upper, NULL, NULL));
        sluice_stream_t *r = stream("r");
        ck_assert_ptr_null(sluice_stream_join(l, r, sluice_join_windows(1, 0),
                                              joiner, NULL, NULL, NULL));
        expect_mistake("sluice_stream_join: the streams' serdes are unknown");
}
END_TEST

static int count_words_key(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

/* left value + "+" + the right int64 (or "null") */
static int joiner_count(const sluice_value_t *key, const sluice_value_t *l,
                        const sluice_value_t *r, sluice_value_t *out,
                        void *opaque) {
        static char buf[128];
        (void)key;
        (void)opaque;
        if (r)
                snprintf(buf, sizeof(buf), "%.*s+%lld", (int)l->u.bytes.len,
                         (const char *)l->u.bytes.data, (long long)r->u.i64);
        else
                snprintf(buf, sizeof(buf), "%.*s+null", (int)l->u.bytes.len,
                         (const char *)l->u.bytes.data);
        *out = sluice_str(buf);
        return 0;
}

/* Two joins, two sub-topologies, one group each; a stream joined with an
 * aggregation's table lands in the aggregation's sub-topology, grouped
 * with the aggregation's repartition topic. */
START_TEST(copartition_groups_per_sub_topology) {
        sl_copartition_group_t *g;
        size_t n;
        sluice_table_t *counts = sluice_grouped_count(
            sluice_stream_group_by(stream("words"), count_words_key, NULL,
                                   NULL, NULL),
            "counts");
        sluice_table_t *a = table("ta", "sa"), *b = table("tb", "sb");
        to_out(sluice_stream_left_join_table(stream("s"), counts,
                                             joiner_count, NULL,
                                             sluice_serde_string()));
        table_out(sluice_table_join(a, b, joiner, NULL, sluice_serde_string()));
        start_cache(1);
        ck_assert_int_eq(sl_topology_copartition_groups(t, &g, &n), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_int_eq(g[0].subtopology, 1);
        ck_assert_uint_eq(g[0].topic_cnt, 2);
        ck_assert_str_eq(g[0].topics[0], "s");
        ck_assert_str_eq(g[0].topics[1], "jn-counts-repartition");
        ck_assert_int_eq(g[1].subtopology, 2);
        ck_assert_uint_eq(g[1].topic_cnt, 2);
        ck_assert_str_eq(g[1].topics[0], "ta");
        ck_assert_str_eq(g[1].topics[1], "tb");
        sl_copartition_groups_free(g, n);
        /* and it runs: the count's row is there for the stream */
        pipe_("words", NULL, "x", 1);
        pipe_("words", NULL, "x", 1);
        pipe_("s", "x", "s1", 2);
        pipe_("s", "y", "s2", 3);
        expect("x", "s1+2", 2);
        expect("y", "s2+null", 3);
        expect_none();
}
END_TEST

/* ---- versioned tables (KIP-914) ---- */

/* A stream-table join against a versioned table reads the version valid
 * at the stream record's timestamp: get(key, as_of = ts). History
 * retention 100 ms: a lookup older than the versioned store's stream time
 * minus that sees only the latest version, if it is old enough. */
START_TEST(stream_table_join_reads_the_version_at_the_records_time) {
        sluice_table_t *tbl = table("tbl", "rows");
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 100), 0);
        to_out(sluice_stream_left_join_table(stream("s"), tbl, joiner, NULL,
                                             sluice_serde_string()));
        start_cache(_i);
        pipe_("tbl", "a", "v10", 10);
        pipe_("tbl", "a", "v20", 20);
        pipe_("tbl", "a", "v5", 5); /* out of order, inside the history */
        pipe_("s", "a", "s4", 4);   /* before the first version */
        expect("a", "s4+null", 4);
        pipe_("s", "a", "s5", 5); /* at a version's time: that version */
        expect("a", "s5+v5", 5);
        pipe_("s", "a", "s9", 9);
        expect("a", "s9+v5", 9);
        pipe_("s", "a", "s10", 10);
        expect("a", "s10+v10", 10);
        pipe_("s", "a", "s19", 19);
        expect("a", "s19+v10", 19);
        pipe_("s", "a", "s20", 20);
        expect("a", "s20+v20", 20);
        pipe_("s", "a", "s1000", 1000); /* the stream's time is not the
                                           table's: still the latest */
        expect("a", "s1000+v20", 1000);
        pipe_("tbl", "a", NULL, 30); /* a tombstone is a version too */
        pipe_("s", "a", "s29", 29);
        expect("a", "s29+v20", 29);
        pipe_("s", "a", "s30", 30);
        expect("a", "s30+null", 30);
        pipe_("tbl", "a", "v200", 200);
        pipe_("s", "a", "s150", 150); /* inside the history: the tombstone */
        expect("a", "s150+null", 150);
        pipe_("s", "a", "s99", 99); /* past it: only the latest, too new */
        expect("a", "s99+null", 99);
        pipe_("s", "a", "s250", 250);
        expect("a", "s250+v200", 250);
        expect_none();
}
END_TEST

START_TEST(stream_table_inner_join_on_a_versioned_table) {
        sluice_table_t *tbl = table("tbl", "rows");
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 1000), 0);
        to_out(sluice_stream_join_table(stream("s"), tbl, joiner, NULL,
                                        sluice_serde_string()));
        start_cache(_i);
        pipe_("tbl", "a", "v10", 10);
        pipe_("s", "a", "s9", 9); /* no version yet at 9: nothing */
        pipe_("s", "b", "s11", 11);
        expect_none();
        pipe_("s", "a", "s11", 11);
        expect("a", "s11+v10", 11);
        expect_none();
}
END_TEST

/* A table-table join skips an out-of-order update of a versioned table
 * (KIP-914: it is not the table's latest row). */
START_TEST(table_join_skips_out_of_order_versions) {
        sluice_table_t *l = table("l", "ls");
        ck_assert_int_eq(sluice_table_set_versioned(l, 1000), 0);
        table_out(sluice_table_join(l, table("r", "rs"), joiner, NULL,
                                    sluice_serde_string()));
        start_cache(_i);
        pipe_("r", "a", "r1", 1);
        pipe_("l", "a", "l10", 10);
        expect("a", "l10+r1", 10);
        pipe_("l", "a", "l5", 5); /* older than the latest: skipped */
        expect_none();
        pipe_("r", "a", "r2", 12); /* the left side is still l10 */
        expect("a", "l10+r2", 12);
        pipe_("l", "a", "l20", 20);
        expect("a", "l20+r2", 20);
        expect_none();
}
END_TEST

/* KIP-923: with a grace period, stream records wait until stream time -
 * grace passes them and join in timestamp order, each as of its time, so
 * a late table update is still seen. */
START_TEST(stream_table_join_with_grace_joins_in_time_order) {
        sluice_table_t *tbl = table("tbl", "rows");
        sluice_stream_t *j;
        char *d;
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 1000), 0);
        j = sluice_stream_left_join_table(stream("s"), tbl, joiner, NULL,
                                          sluice_serde_string());
        ck_assert_int_eq(sluice_stream_join_set_grace(j, 10), 0);
        to_out(j);
        d = sluice_topology_describe(t);
        ck_assert_msg(strstr(d, "KSTREAM-JOIN-0000000003-Buffer") != NULL,
                      "%s", d);
        free(d);
        start_cache(_i);
        pipe_("tbl", "a", "v10", 10);
        pipe_("s", "a", "s1", 15); /* waits: stream time 15, releases <= 5 */
        expect_none();
        pipe_("tbl", "a", "v12", 12); /* a table update, late */
        pipe_("s", "a", "s2", 20);    /* releases <= 10: nothing */
        expect_none();
        pipe_("s", "a", "s3", 26); /* releases <= 16: s1, as of 15 */
        expect("a", "s1+v12", 15);
        expect_none();
        pipe_("s", "a", "s4", 3); /* older than 26 - 10: joins at once */
        expect("a", "s4+null", 3);
        pipe_("s", "b", "s5", 27);
        pipe_("s", "a", NULL, 100); /* a null value: dropped, no release */
        expect_none();
        pipe_("s", "a", "s6", 40); /* releases <= 30, in time order */
        expect("a", "s2+v12", 20);
        expect("a", "s3+v12", 26);
        expect("b", "s5+null", 27);
        expect_none();
}
END_TEST

START_TEST(builder_refuses_grace_without_a_versioned_table) {
        sluice_stream_t *j = sluice_stream_join_table(
            stream("s"), table("tbl", "rows"), joiner, NULL,
            sluice_serde_string());
        char e[512];
        ck_assert_int_eq(sluice_stream_join_set_grace(j, 5), 0);
        to_out(j);
        /* found when the topology is built (set_versioned may come later) */
        ck_assert_ptr_null(sluice_driver_new(t, NULL, e, sizeof e));
        ck_assert_msg(strstr(e, "join node \"KSTREAM-JOIN-0000000003\": a "
                                "grace period (sluice_stream_join_set_grace) "
                                "needs a versioned table "
                                "(sluice_table_set_versioned)") != NULL,
                      "%s", e);
}
END_TEST

START_TEST(builder_refuses_grace_longer_than_the_history) {
        sluice_table_t *tbl = table("tbl", "rows");
        sluice_stream_t *j  = sluice_stream_join_table(
            stream("s"), tbl, joiner, NULL, sluice_serde_string());
        char e[512];
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 10), 0);
        ck_assert_int_eq(sluice_stream_join_set_grace(j, 11), 0);
        to_out(j);
        /* Kafka Streams: "History retention must be at least grace
         * period." */
        ck_assert_ptr_null(sluice_driver_new(t, NULL, e, sizeof e));
        ck_assert_msg(strstr(e, "the grace period (11 ms) is longer than "
                                "the versioned table's history retention "
                                "(10 ms)") != NULL,
                      "%s", e);
}
END_TEST

START_TEST(builder_refuses_grace_on_other_streams) {
        sluice_stream_t *s = stream("s");
        sluice_table_t *tbl = table("tbl", "rows");
        sluice_stream_t *j;
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 100), 0);
        ck_assert_int_eq(sluice_stream_join_set_grace(s, 5),
                         SLUICE_ERR_TOPOLOGY);
        expect_mistake("sluice_stream_join_set_grace: the stream is not what "
                       "a stream-table join returned");
        sluice_topology_destroy(t);
        t = sluice_topology_new();
        tbl = table("tbl", "rows");
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 100), 0);
        j = sluice_stream_join_table(stream("s"), tbl, joiner, NULL,
                                     sluice_serde_string());
        ck_assert_int_eq(sluice_stream_join_set_grace(j, -1),
                         SLUICE_ERR_TOPOLOGY);
        expect_mistake("sluice_stream_join_set_grace: grace_ms must be >= 0 "
                       "(got -1)");
        sluice_topology_destroy(t);
        t   = sluice_topology_new();
        tbl = table("tbl", "rows");
        ck_assert_int_eq(sluice_table_set_versioned(tbl, 100), 0);
        j = sluice_stream_join_table(stream("s"), tbl, joiner, NULL,
                                     sluice_serde_string());
        ck_assert_int_eq(sluice_stream_join_set_grace(j, 5), 0);
        ck_assert_int_eq(sluice_stream_join_set_grace(j, 5),
                         SLUICE_ERR_TOPOLOGY);
        expect_mistake("sluice_stream_join_set_grace: the stream is not what "
                       "a stream-table join returned (its grace period is "
                       "set already)");
}
END_TEST

Suite *suite_joins(void) {
        Suite *s  = suite_create("joins");
        TCase *tc = tcase_create("joins");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, stream_table_inner_joins_the_current_row, 0,
                            2);
        tcase_add_loop_test(tc, stream_table_left_keeps_unmatched_and_null_keys,
                            0, 2);
        tcase_add_test(tc, stream_table_reads_through_filter_and_map_values);
        tcase_add_test(tc, stream_table_repartitions_a_changed_key);
        tcase_add_loop_test(tc, table_inner_join, 0, 2);
        tcase_add_loop_test(tc, table_left_join, 0, 2);
        tcase_add_loop_test(tc, table_outer_join, 0, 2);
        tcase_add_test(tc, table_join_then_filter_sends_no_spurious_tombstones);
        tcase_add_test(tc, table_join_describe_and_copartition);
        tcase_add_loop_test(tc, fk_inner_join, 0, 2);
        tcase_add_loop_test(tc, fk_left_join, 0, 2);
        tcase_add_loop_test(tc, fk_join_drops_stale_responses, 0, 2);
        tcase_add_loop_test(tc, fk_join_skips_out_of_order_versions, 0, 2);
        tcase_add_test(tc, fk_join_describe_and_copartition);
        tcase_add_test(tc, builder_refuses_fk_join_mistakes);
        tcase_add_test(tc, builder_refuses_fk_join_without_stores_or_serdes);
        tcase_add_test(tc, builder_refuses_fk_join_with_unknown_serdes);
        tcase_add_test(tc, builder_refuses_grace_longer_than_the_history);
        tcase_add_loop_test(tc, stream_inner_join_window_boundaries, 0, 2);
        tcase_add_test(tc, stream_join_asymmetric_window_and_retention);
        tcase_add_loop_test(tc, stream_left_join_emits_unmatched_when_closed,
                            0, 2);
        tcase_add_test(tc, stream_outer_join_both_sides);
        tcase_add_test(tc, stream_left_join_throttles_on_the_wall_clock);
        tcase_add_test(tc,
                       stream_left_join_in_the_driver_is_unthrottled_by_default);
        tcase_add_test(tc, stream_join_repartitions_the_changed_side);
        tcase_add_loop_test(tc, stream_join_stores_are_logged_and_expire, 0,
                            2);
        tcase_add_loop_test(tc, table_join_sends_old_values_to_a_group_by, 0,
                            2);
        tcase_add_test(tc, copartition_groups_per_sub_topology);
        tcase_add_test(tc, describe_shows_a_left_join_and_its_stores);
        tcase_add_test(tc, builder_refuses_unknown_serdes);
        tcase_add_test(tc, builder_refuses_bad_join_windows);
        tcase_add_test(tc, builder_refuses_negative_grace);
        tcase_add_test(tc, builder_refuses_streams_of_other_topologies);
        tcase_add_test(tc, builder_refuses_a_null_joiner);
        tcase_add_test(tc, builder_refuses_other_topologies);
        tcase_add_test(tc, builder_refuses_a_table_without_a_store);
        tcase_add_loop_test(
            tc, stream_table_join_reads_the_version_at_the_records_time, 0, 2);
        tcase_add_loop_test(tc, stream_table_inner_join_on_a_versioned_table,
                            0, 2);
        tcase_add_loop_test(tc, table_join_skips_out_of_order_versions, 0, 2);
        tcase_add_loop_test(
            tc, stream_table_join_with_grace_joins_in_time_order, 0, 2);
        tcase_add_test(tc, builder_refuses_grace_without_a_versioned_table);
        tcase_add_test(tc, builder_refuses_grace_on_other_streams);
        suite_add_tcase(s, tc);
        return s;
}
