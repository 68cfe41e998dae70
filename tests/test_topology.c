/*
 * test_topology.c - the builder: every mistake is reported with its message
 * (never a crash), a frozen topology refuses changes, and describe prints
 * the sub-topologies exactly (text and DOT).
 */
#include "helpers.h"
#include "test_list.h"

#include <stdlib.h>

static bool yes(const sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return true;
}
static int nop(sluice_record_t *rec, void *opaque) {
        (void)rec;
        (void)opaque;
        return 0;
}

/* The topology's first recorded mistake, via validate and driver_new. */
static void assert_error(sluice_topology_t *t, const char *want) {
        char err[512];
        sluice_driver_t *drv;
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_str_eq(err, want);
        drv = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_ptr_null(drv);
        ck_assert_str_eq(err, want);
}

START_TEST(empty_topology_has_no_source) {
        sluice_topology_t *t = sluice_topology_new();
        assert_error(t, "the topology has no source: add one with "
                        "sluice_stream_from()");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(bad_topic_names) {
        sluice_topology_t *t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from(t, "has space", NULL, NULL));
        assert_error(t, "sluice_stream_from: topic name \"has space\" has an "
                        "illegal character ' ' (legal: a-z A-Z 0-9 . _ -)");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from(t, "", NULL, NULL));
        assert_error(t, "sluice_stream_from: topic name is empty");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from(t, NULL, NULL, NULL));
        assert_error(t, "sluice_stream_from: topic is NULL");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from(t, "..", NULL, NULL));
        assert_error(t, "sluice_stream_from: topic name \"..\" is not allowed");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(topic_read_twice) {
        sluice_topology_t *t = sluice_topology_new();
        const char *both[2]  = {"b", "a"};
        ck_assert_ptr_nonnull(sluice_stream_from(t, "a", NULL, NULL));
        ck_assert_ptr_null(sluice_stream_from_topics(t, both, 2, NULL, NULL));
        assert_error(t, "sluice_stream_from_topics: topic \"a\" is already "
                        "read by source \"KSTREAM-SOURCE-0000000000\"");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        both[1] = "b";
        ck_assert_ptr_null(sluice_stream_from_topics(t, both, 2, NULL, NULL));
        assert_error(t, "sluice_stream_from_topics: topic \"b\" is listed "
                        "twice");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(null_callbacks_and_first_error_wins) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", NULL, NULL);
        ck_assert_ptr_null(sluice_stream_map(s, NULL, NULL));
        ck_assert_ptr_null(sluice_stream_filter(s, NULL, NULL));
        assert_error(t, "sluice_stream_map: callback is NULL");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(null_stream_propagates) {
        /* NULL in, NULL out: a chain after a failed call does not crash */
        ck_assert_ptr_null(sluice_stream_map(NULL, nop, NULL));
        ck_assert_ptr_null(sluice_stream_filter(NULL, yes, NULL));
        ck_assert_ptr_null(sluice_stream_to(NULL, "x", NULL, NULL));
        ck_assert_int_eq(sluice_stream_foreach(NULL, NULL, NULL),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_ptr_null(sluice_stream_merge(NULL, NULL));
        ck_assert_int_eq(sluice_sink_set_partitioner(NULL, NULL, NULL),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_ptr_null(sluice_stream_from(NULL, "x", NULL, NULL));
        ck_assert_int_eq(sluice_topology_validate(NULL, NULL, 0),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_ptr_null(sluice_topology_describe(NULL));
}
END_TEST

START_TEST(branch_mistakes) {
        sluice_predicate_cb *preds[2] = {NULL, yes};
        sluice_stream_t *out[2];
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", NULL, NULL);
        ck_assert_int_eq(sluice_stream_branch(s, 2, preds, NULL, out),
                         SLUICE_ERR_TOPOLOGY);
        assert_error(t, "sluice_stream_branch: predicate 0 of 2 is NULL; only "
                        "the last (the default branch) may be");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        s = sluice_stream_from(t, "in", NULL, NULL);
        ck_assert_int_eq(sluice_stream_branch(s, 0, preds, NULL, out),
                         SLUICE_ERR_TOPOLOGY);
        assert_error(t, "sluice_stream_branch: needs at least one predicate "
                        "and an output array");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(merge_mistakes) {
        sluice_topology_t *t1 = sluice_topology_new();
        sluice_topology_t *t2 = sluice_topology_new();
        sluice_stream_t *a    = sluice_stream_from(t1, "a", NULL, NULL);
        sluice_stream_t *b    = sluice_stream_from(t2, "b", NULL, NULL);
        ck_assert_ptr_null(sluice_stream_merge(a, b));
        assert_error(t1, "sluice_stream_merge: the streams belong to "
                         "different topologies");
        ck_assert_ptr_null(sluice_stream_merge(b, b));
        sluice_topology_destroy(t1);
        sluice_topology_destroy(t2);

        t1 = sluice_topology_new();
        a  = sluice_stream_from(t1, "a", NULL, NULL);
        ck_assert_ptr_null(sluice_stream_merge(a, a));
        assert_error(t1, "sluice_stream_merge: a stream cannot be merged with "
                         "itself");
        sluice_topology_destroy(t1);
}
END_TEST

START_TEST(merge_of_different_serdes_needs_sink_serdes) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *m   = sluice_stream_merge(
            sluice_stream_from(t, "a", sluice_serde_string(),
                               sluice_serde_string()),
            sluice_stream_from(t, "b", sluice_serde_string(),
                               sluice_serde_json()));
        ck_assert_ptr_nonnull(m);
        /* with an explicit value serde it is fine */
        ck_assert_ptr_nonnull(
            sluice_stream_to(m, "ok", NULL, sluice_serde_bytes()));
        ck_assert_int_eq(sluice_topology_validate(t, NULL, 0), SLUICE_OK);
        ck_assert_ptr_null(sluice_stream_to(m, "out", NULL, NULL));
        assert_error(t, "sluice_stream_to(out): the stream's value serde is "
                        "unknown (the streams merged into it have different "
                        "serdes); pass one");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(invalid_user_serde) {
        static const sluice_serde_t bad = {99, "bad", NULL, NULL, NULL};
        sluice_topology_t *t            = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from(t, "in", &bad, NULL));
        assert_error(t, "sluice_stream_from: key serde \"bad\" is not a valid "
                        "sluice_serde_t (version 99, expected 1, and both "
                        "functions set)");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(bad_pattern_and_sink_topic) {
        sluice_topology_t *t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_from_pattern(t, "a(", NULL, NULL));
        {
                char err[512];
                ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                                 SLUICE_ERR_TOPOLOGY);
                ck_assert(!strncmp(err,
                                   "sluice_stream_from_pattern: invalid "
                                   "pattern \"a(\": ",
                                   strlen("sluice_stream_from_pattern: "
                                          "invalid pattern \"a(\": ")));
        }
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL),
                                            "bad/topic", NULL, NULL));
        assert_error(t, "sluice_stream_to: topic name \"bad/topic\" has an "
                        "illegal character '/' (legal: a-z A-Z 0-9 . _ -)");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(duplicate_names) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_named(
            sluice_stream_from(t, "in", NULL, NULL), "source");
        sluice_stream_named(sluice_stream_map(s, nop, NULL), "source");
        assert_error(t, "sluice_stream_named: a node named \"source\" already "
                        "exists");
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(frozen_topology_refuses_changes) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", NULL, NULL);
        sluice_driver_t *d1  = sluice_driver_new(t, NULL, err, sizeof(err));
        sluice_driver_t *d2  = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_ptr_nonnull(d1);
        ck_assert_ptr_nonnull(d2); /* one topology, several drivers */
        /* builder calls now return NULL and change nothing */
        ck_assert_ptr_null(sluice_stream_map(s, nop, NULL));
        ck_assert_ptr_null(sluice_stream_to(s, "out", NULL, NULL));
        ck_assert_ptr_null(sluice_stream_from(t, "other", NULL, NULL));
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_OK);
        ck_assert_int_eq(sluice_driver_pipe_str(d1, "in", "k", "v", 1), 0);
        ck_assert_uint_eq(sluice_driver_queued(d1, "out"), 0);
        sluice_driver_destroy(d1);
        sluice_driver_destroy(d2);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(describe_text) {
        sluice_topology_t *t = sluice_topology_new();
        const char *topics[2] = {"a", "b"};
        sluice_stream_t *s   = sluice_stream_from_topics(t, topics, 2, NULL,
                                                         NULL);
        sluice_stream_t *f   = sluice_stream_filter(s, yes, NULL);
        char *d;
        sluice_stream_to(sluice_stream_map_values(f, nop, NULL), "out", NULL,
                         NULL);
        sluice_stream_to(f, "all", NULL, NULL);
        /* a second, unconnected sub-topology reading what the first wrote */
        sluice_stream_to(sluice_stream_named(sluice_stream_from(t, "out", NULL,
                                                                NULL),
                                             "out-reader"),
                         "final", NULL, NULL);
        d = sluice_topology_describe(t);
        ck_assert_str_eq(d,
                         "Topologies:\n"
                         "   Sub-topology: 0\n"
                         "    Source: KSTREAM-SOURCE-0000000000 (topics: [a, b])\n"
                         "      --> KSTREAM-FILTER-0000000001\n"
                         "    Processor: KSTREAM-FILTER-0000000001 (stores: [])\n"
                         "      --> KSTREAM-MAPVALUES-0000000002, KSTREAM-SINK-0000000004\n"
                         "      <-- KSTREAM-SOURCE-0000000000\n"
                         "    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])\n"
                         "      --> KSTREAM-SINK-0000000003\n"
                         "      <-- KSTREAM-FILTER-0000000001\n"
                         "    Sink: KSTREAM-SINK-0000000003 (topic: out)\n"
                         "      <-- KSTREAM-MAPVALUES-0000000002\n"
                         "    Sink: KSTREAM-SINK-0000000004 (topic: all)\n"
                         "      <-- KSTREAM-FILTER-0000000001\n"
                         "\n"
                         "   Sub-topology: 1\n"
                         "    Source: out-reader (topics: [out])\n"
                         "      --> KSTREAM-SINK-0000000006\n"
                         "    Sink: KSTREAM-SINK-0000000006 (topic: final)\n"
                         "      <-- out-reader\n"
                         "\n");
        free(d);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(describe_dot) {
        sluice_topology_t *t = sluice_topology_new();
        char *d;
        sluice_stream_to(sluice_stream_named(sluice_stream_from_pattern(
                                                 t, "logs-.*", NULL, NULL),
                                             "say \"hi\""),
                         "out", NULL, NULL);
        d = sluice_topology_describe_dot(t);
        ck_assert_str_eq(
            d, "digraph topology {\n"
               "  rankdir=LR;\n"
               "  node [fontname=\"Helvetica\", fontsize=10];\n"
               "  subgraph cluster_0 {\n"
               "    label=\"Sub-topology 0\";\n"
               "    style=rounded;\n"
               "    \"say \\\"hi\\\"\" [shape=invhouse];\n"
               "    \"KSTREAM-SINK-0000000001\" [shape=invhouse];\n"
               "  }\n"
               "  \"say \\\"hi\\\"\" -> \"KSTREAM-SINK-0000000001\";\n"
               "  \"topic:logs-.*\" [shape=ellipse, label=\"logs-.*\"];\n"
               "  \"topic:logs-.*\" -> \"say \\\"hi\\\"\";\n"
               "  \"topic:out\" [shape=ellipse, label=\"out\"];\n"
               "  \"KSTREAM-SINK-0000000001\" -> \"topic:out\";\n"
               "}\n");
        free(d);
        d = sluice_topology_describe(t);
        ck_assert(strstr(d, "Source: say \"hi\" (topics: logs-.*)\n"));
        free(d);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(describe_empty) {
        sluice_topology_t *t = sluice_topology_new();
        char *d              = sluice_topology_describe(t);
        ck_assert_str_eq(d, "Topologies:\n");
        free(d);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_topology(void) {
        Suite *s  = suite_create("topology");
        TCase *tc = tcase_create("builder");
        tcase_add_test(tc, empty_topology_has_no_source);
        tcase_add_test(tc, bad_topic_names);
        tcase_add_test(tc, topic_read_twice);
        tcase_add_test(tc, null_callbacks_and_first_error_wins);
        tcase_add_test(tc, null_stream_propagates);
        tcase_add_test(tc, branch_mistakes);
        tcase_add_test(tc, merge_mistakes);
        tcase_add_test(tc, merge_of_different_serdes_needs_sink_serdes);
        tcase_add_test(tc, invalid_user_serde);
        tcase_add_test(tc, bad_pattern_and_sink_topic);
        tcase_add_test(tc, duplicate_names);
        tcase_add_test(tc, frozen_topology_refuses_changes);
        suite_add_tcase(s, tc);
        tc = tcase_create("describe");
        tcase_add_test(tc, describe_text);
        tcase_add_test(tc, describe_dot);
        tcase_add_test(tc, describe_empty);
        suite_add_tcase(s, tc);
        return s;
}
