/*
 * test_placement.c - co-partitioned task placement on the embedded mock
 * cluster: a task reads partition p of every source topic of its
 * sub-topology, so one consumer (one thread, one instance) owns them all,
 * under both group protocols; and topics that must be co-partitioned but
 * have different partition counts stop the app at start, naming both.
 * (Rebalances between instances on a real broker: tests/integration/.)
 */
#include "helpers.h"
#include "kafka_util.h"
#include "test_util.h"
#include "test_list.h"

#include "../lib/topology.h"

#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *key_of(int i, char *b, size_t n) {
        snprintf(b, n, "key-%d", i);
        return b;
}
static const char *value_of(int i, char *b, size_t n) {
        snprintf(b, n, "value-%d", i);
        return b;
}

/* left + right -> count per key, one sub-topology with two source
 * topics; @merge_out: the merge node (NULL: not wanted). */
static sluice_topology_t *two_topic_count(sl_node_t **merge_out) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *l   = sluice_stream_from(t, "left", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_stream_t *r = sluice_stream_from(t, "right", sluice_serde_string(),
                                                sluice_serde_string());
        sluice_stream_t *m = sluice_stream_merge(l, r);
        sluice_table_t *counts;
        if (merge_out)
                *merge_out = m->node;
        counts = sluice_grouped_count(sluice_stream_group_by_key(m, NULL, NULL),
                                      "counts");
        sluice_stream_to(sluice_table_to_stream(counts), "counted", NULL, NULL);
        return t;
}

static sluice_conf_t *conf_for(const char *protocol, const char *partitions) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(c, "application.id", "placement", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "sluice.embedded", "true", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "num.stream.threads", "2", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "commit.interval.ms", "100", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "sluice.metrics.log.interval.ms",
                                         "100", err, sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "sluice.embedded.partitions",
                                         partitions,
                                         err, sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "group.protocol", protocol, err,
                                         sizeof(err)),
                         0);
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        return c;
}

typedef struct {
        sluice_app_t *app;
        uint64_t want;
} processed_t;
static int processed_all(void *arg) {
        processed_t *p = arg;
        return sluice_app_processed(p->app) == p->want;
}

typedef struct {
        sluice_app_t *app;
        int partitions;
} placed_t;

/*
 * From the metrics: every task 0_p (p < partitions) is on exactly one thread, its
 * inputs are left-p and right-p, both threads hold some, and no other
 * partition is assigned anywhere. 1 when all of that holds, 0 otherwise
 * (the metrics may not show the last rebalance yet).
 */
static int placed_together(void *arg) {
        const placed_t *pl = arg;
        char *s            = sluice_app_metrics_json(pl->app);
        json_t *root      = s ? json_loads(s, 0, NULL) : NULL;
        json_t *threads   = json_object_get(root, "threads");
        int owner[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, ok = root != NULL, busy = 0;
        size_t i, k;
        free(s);
        for (i = 0; ok && i < json_array_size(threads); i++) {
                json_t *thr   = json_array_get(threads, i);
                json_t *tasks = json_object_get(thr, "tasks");
                json_t *lag   = json_object_get(thr, "lag");
                int mine = 0;
                for (k = 0; ok && k < json_array_size(tasks); k++) {
                        json_t *task   = json_array_get(tasks, k);
                        json_t *inputs = json_object_get(task, "inputs");
                        int p;
                        if (sscanf(json_string_value(
                                       json_object_get(task, "task")),
                                   "0_%d", &p) != 1 ||
                            p < 0 || p >= pl->partitions || owner[p] != -1 ||
                            json_array_size(inputs) != 2) {
                                ok = 0;
                                break;
                        }
                        owner[p] = (int)i;
                        mine++;
                        ok = !strcmp(json_string_value(json_object_get(
                                         json_array_get(inputs, 0), "topic")),
                                     "left") &&
                             json_integer_value(json_object_get(
                                 json_array_get(inputs, 0), "partition")) == p &&
                             !strcmp(json_string_value(json_object_get(
                                         json_array_get(inputs, 1), "topic")),
                                     "right") &&
                             json_integer_value(json_object_get(
                                 json_array_get(inputs, 1), "partition")) == p;
                }
                /* the thread's whole assignment is its tasks' inputs */
                if (json_array_size(lag) != (size_t)(2 * mine))
                        ok = 0;
                busy += mine > 0;
        }
        for (i = 0; i < (size_t)pl->partitions; i++)
                ok = ok && owner[i] >= 0;
        json_decref(root);
        return ok && busy == 2;
}

/* a count as the store keeps it: int64, big-endian */
static int64_t be64_get(const void *p) {
        const unsigned char *b = p;
        int64_t v              = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

static int sum_counts(const void *k, size_t klen, const void *v, size_t vlen,
                      int64_t ts, void *opaque) {
        (void)k;
        (void)klen;
        (void)ts;
        ck_assert_uint_eq(vlen, 8);
        *(int64_t *)opaque += be64_get(v);
        return 0;
}

/* Every key counted twice, read through local queries (which refuse while
 * a store restores, after a task moved). */
static int counted_twice(void *arg) {
        int64_t total = 0;
        return sluice_app_store_range(arg, "counts", NULL, 0, NULL, 0,
                                      sum_counts, &total) == 200 &&
               total == 400;
}

static void two_threads_hold_whole_tasks(const char *protocol,
                                         int partitions) {
        char err[512], pstr[16];
        sluice_topology_t *t = two_topic_count(NULL);
        sluice_app_t *app;
        processed_t want;
        placed_t pl;
        snprintf(pstr, sizeof(pstr), "%d", partitions);
        app = sluice_app_new(t, conf_for(protocol, pstr), err, sizeof(err));
        const char *bs;
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        bs = sluice_app_bootstrap_servers(app);
        /* the same keys into both topics: each key's two records meet in
         * one task, counted 2 */
        ck_assert_int_eq(ku_produce(bs, "left", 200, key_of, value_of, -1), 0);
        ck_assert_int_eq(ku_produce(bs, "right", 200, key_of, value_of, -1), 0);
        want.app  = app;
        want.want = 400;
        ck_assert(ku_wait_for(processed_all, &want, 90000));
        /* both threads joined: placement settles within the deadline */
        pl.app        = app;
        pl.partitions = partitions;
        ck_assert(ku_wait_for(placed_together, &pl, 90000));
        ck_assert(ku_wait_for(counted_twice, app, 30000));
        ck_assert_uint_eq(sluice_app_processed(app), 400);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}

START_TEST(both_topics_of_a_task_on_one_thread_classic) {
        two_threads_hold_whole_tasks("classic", 4);
}
END_TEST

/* An odd count: cooperative-sticky, placing the 6 partitions of both
 * topics one by one, splits tasks across the threads (seen: without the
 * placement this case fails; with 4 partitions, or under the mock's
 * consumer-protocol assignor, the split does not happen to show). */
START_TEST(both_topics_of_a_task_on_one_thread_classic_odd) {
        two_threads_hold_whole_tasks("classic", 3);
}
END_TEST

START_TEST(both_topics_of_a_task_on_one_thread_consumer_protocol) {
        two_threads_hold_whole_tasks("consumer", 3);
}
END_TEST

/* Each of the two threads holds 2 of the 4 tasks of each sub-topology,
 * each task its own partition of each of its topics. */
static int balanced(void *arg) {
        char *s         = sluice_app_metrics_json(arg);
        json_t *root    = s ? json_loads(s, 0, NULL) : NULL;
        json_t *threads = json_object_get(root, "threads");
        int ok          = json_array_size(threads) == 2;
        size_t i, k;
        free(s);
        for (i = 0; ok && i < json_array_size(threads); i++) {
                json_t *tasks = json_object_get(json_array_get(threads, i),
                                                "tasks");
                int n[2] = {0, 0};
                for (k = 0; k < json_array_size(tasks); k++) {
                        json_t *task = json_array_get(tasks, k);
                        json_t *in   = json_object_get(task, "inputs");
                        int sub, p;
                        size_t j;
                        if (sscanf(json_string_value(
                                       json_object_get(task, "task")),
                                   "%d_%d", &sub, &p) != 2 ||
                            sub < 0 || sub > 1 ||
                            json_array_size(in) != (sub ? 1u : 2u)) {
                                ok = 0;
                                break;
                        }
                        for (j = 0; j < json_array_size(in); j++)
                                ok = ok && json_integer_value(json_object_get(
                                               json_array_get(in, j),
                                               "partition")) == p;
                        n[sub]++;
                }
                ok = ok && n[0] == 2 && n[1] == 2;
        }
        json_decref(root);
        return ok;
}

/* Two stateful sub-topologies (the count, and a count behind a
 * repartition topic): with sluice.task.placement=together partition p
 * of both goes to one thread, so each thread holds half of each. (The
 * mock's assignors happen to balance per_subtopology here too; the
 * imbalance this prevents shows on a real broker: placement_it
 * --second, README "Co-partitioning".) */
static void two_subtopologies_balanced(const char *protocol) {
        char err[512];
        sl_node_t *merge;
        sluice_topology_t *t = two_topic_count(&merge);
        sluice_app_t *app;
        processed_t want;
        /* the merge's second child: through a repartition topic into a
         * second count */
        sluice_stream_t m = {t, merge, sluice_serde_string(),
                             sluice_serde_string(), 0};
        sluice_grouped_count(
            sluice_stream_group_by_key(sluice_stream_repartition(&m, "again", 0),
                                       NULL, NULL),
            "counts2");
        app = sluice_app_new(t, conf_for(protocol, "4"), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "left",
                                    100, key_of, value_of, -1),
                         0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "right",
                                    100, key_of, value_of, -1),
                         0);
        want.app  = app;
        want.want = 400; /* each record twice: once per sub-topology */
        ck_assert(ku_wait_for(processed_all, &want, 90000));
        ck_assert(ku_wait_for(balanced, app, 90000));
        ck_assert_uint_eq(sluice_app_processed(app), 400);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}

START_TEST(two_subtopologies_balanced_classic) {
        two_subtopologies_balanced("classic");
}
END_TEST

START_TEST(two_subtopologies_balanced_consumer_protocol) {
        two_subtopologies_balanced("consumer");
}
END_TEST

/* A real join: orders (a stream) left-joined with customers (a table),
 * 3 partitions each, two stream threads. Every order must find its
 * customer: the join reads the table's store in its own task, so if
 * partition p of "customers" were on the other thread, the order would
 * join NULL. */
static int join_cust(const sluice_value_t *key, const sluice_value_t *l,
                     const sluice_value_t *r, sluice_value_t *out,
                     void *opaque) {
        static _Thread_local char buf[128];
        (void)key;
        (void)opaque;
        snprintf(buf, sizeof(buf), "%.*s+%.*s", (int)l->u.bytes.len,
                 (const char *)l->u.bytes.data, r ? (int)r->u.bytes.len : 4,
                 r ? (const char *)r->u.bytes.data : "null");
        *out = sluice_str(buf);
        return 0;
}
static const char *cust_of(int i, char *b, size_t n) {
        snprintf(b, n, "c-%d", i);
        return b;
}
static const char *order_key(int i, char *b, size_t n) {
        snprintf(b, n, "key-%d", i % 30);
        return b;
}

static void join_finds_every_row(const char *protocol) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *cust = sluice_table_from(
            t, "customers", sluice_serde_string(), sluice_serde_string(),
            "customers");
        sluice_stream_t *orders = sluice_stream_from(
            t, "orders", sluice_serde_string(), sluice_serde_string());
        sluice_app_t *app;
        processed_t want;
        ku_record_t *recs = NULL;
        const char *bs;
        int got, i;
        sluice_stream_to(sluice_stream_left_join_table(orders, cust, join_cust,
                                                       NULL,
                                                       sluice_serde_string()),
                         "enriched", NULL, NULL);
        app = sluice_app_new(t, conf_for(protocol, "3"), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        bs = sluice_app_bootstrap_servers(app);
        ck_assert_int_eq(ku_produce(bs, "customers", 30, key_of, cust_of, -1),
                         0);
        want.app  = app;
        want.want = 30;
        ck_assert(ku_wait_for(processed_all, &want, 90000));
        ck_assert_int_eq(ku_produce(bs, "orders", 90, order_key, value_of, -1),
                         0);
        want.want = 120;
        ck_assert(ku_wait_for(processed_all, &want, 90000));
        got = ku_consume(bs, "enriched", 90, 30000, &recs);
        ck_assert_int_eq(got, 90);
        for (i = 0; i < got; i++) {
                int k, v, c;
                ck_assert_msg(sscanf(recs[i].key, "key-%d", &k) == 1, "%s",
                              recs[i].key);
                ck_assert_msg(sscanf(recs[i].value, "value-%d+c-%d", &v, &c) ==
                                      2 && v % 30 == k && c == k,
                              "order %s joined %s", recs[i].key,
                              recs[i].value);
        }
        ku_free(recs, got);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}

START_TEST(stream_table_join_finds_every_row_classic) {
        join_finds_every_row("classic");
}
END_TEST

START_TEST(stream_table_join_finds_every_row_consumer_protocol) {
        join_finds_every_row("consumer");
}
END_TEST

/* A cluster of our own with "left" at @left and "right" at @right
 * partitions; the app of two_topic_count() over it, its merge marked
 * copartition when @flag (as a join marks its node). Returns start's
 * code, its message in @err. */
static int start_over(int left, int right, int flag, char *err,
                      size_t size) {
        rd_kafka_conf_t *mc = rd_kafka_conf_new();
        rd_kafka_t *mrk;
        rd_kafka_mock_cluster_t *mock;
        sl_node_t *merge;
        sluice_topology_t *t = two_topic_count(&merge);
        sluice_conf_t *c     = sluice_conf_new();
        sluice_app_t *app;
        int rc;
        rd_kafka_conf_set(mc, "log_level", "3", NULL, 0);
        mrk  = rd_kafka_new(RD_KAFKA_PRODUCER, mc, err, size);
        mock = rd_kafka_mock_cluster_new(mrk, 1);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "left", left, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "right", right, 1),
                         0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mock, "counted", 4, 1), 0);
        /* the mock has no CreateTopics: the changelog the app would make,
         * one partition per task */
        ck_assert_int_eq(rd_kafka_mock_topic_create(
                             mock, "copart-counts-changelog",
                             left > right ? left : right, 1),
                         0);
        merge->copartition = flag;
        sluice_conf_set(c, "application.id", "copart", err, size);
        sluice_conf_set(c, "bootstrap.servers",
                        rd_kafka_mock_cluster_bootstraps(mock), err, size);
        sluice_conf_set(c, "num.stream.threads", "1", err, size);
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR - 1, NULL);
        app = sluice_app_new(t, c, err, size);
        ck_assert_msg(app != NULL, "%s", err);
        rc = sluice_app_start(app, err, size);
        if (rc)
                ck_assert_str_eq(sluice_app_error(app), err);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(mrk);
        return rc;
}

START_TEST(different_partition_counts_refused_when_copartitioned) {
        char err[512];
        ck_assert_int_eq(start_over(4, 8, 1, err, sizeof(err)),
                         SLUICE_ERR_STATE);
        ck_assert_str_eq(err, "topics \"left\" (4 partitions) and \"right\" "
                              "(8 partitions) must be co-partitioned "
                              "(sub-topology 0 reads them together): give "
                              "them the same number of partitions");
        /* equal counts start */
        ck_assert_msg(start_over(4, 4, 1, err, sizeof(err)) == 0, "%s", err);
        /* a merge need not be co-partitioned: unequal counts start */
        ck_assert_int_eq(start_over(4, 8, 0, err, sizeof(err)), 0);
}
END_TEST

/* The topology's report: the source topics of a sub-topology with a
 * copartition node, in node order; none without one. */
START_TEST(copartition_topics_reported) {
        char err[512];
        const char *names[4] = {NULL, NULL, NULL, NULL};
        sl_node_t *merge;
        sluice_topology_t *t = two_topic_count(&merge);
        ck_assert_int_eq(sl_topology_freeze(t, "x", err, sizeof(err)), 0);
        ck_assert_uint_eq(sl_topology_copartition_topics(t, 0, names, 4), 0);
        merge->copartition = 1;
        ck_assert_uint_eq(sl_topology_copartition_topics(t, 0, names, 1), 2);
        ck_assert_str_eq(names[0], "left");
        ck_assert_ptr_null(names[1]);
        ck_assert_uint_eq(sl_topology_copartition_topics(t, 0, names, 4), 2);
        ck_assert_str_eq(names[1], "right");
        ck_assert_uint_eq(sl_topology_copartition_topics(t, 1, names, 4), 0);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_placement(void) {
        Suite *s  = suite_create("placement");
        TCase *tc = tcase_create("embedded");
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, both_topics_of_a_task_on_one_thread_classic);
        tcase_add_test(tc, both_topics_of_a_task_on_one_thread_classic_odd);
        tcase_add_test(tc, stream_table_join_finds_every_row_classic);
        tcase_add_test(tc, stream_table_join_finds_every_row_consumer_protocol);
        tcase_add_test(tc, both_topics_of_a_task_on_one_thread_consumer_protocol);
        tcase_add_test(tc, two_subtopologies_balanced_classic);
        tcase_add_test(tc, two_subtopologies_balanced_consumer_protocol);
        tcase_add_test(tc, different_partition_counts_refused_when_copartitioned);
        tcase_add_test(tc, copartition_topics_reported);
        suite_add_tcase(s, tc);
        return s;
}
