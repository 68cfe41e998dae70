/*
 * test_timestamps.c - what a record's timestamp is: an extractor callback
 * per source with the partition time it is given, the extracted time
 * downstream (sinks, aggregations, stream time and its punctuation), each
 * default.timestamp.extractor policy on negative Kafka timestamps, records
 * dropped for a negative extracted timestamp, the metrics that count them
 * (driver and app), the conf key and the builder's mistakes.
 */
#include "helpers.h"
#include "test_list.h"

#include "../lib/task.h" /* a node with a metrics hook */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- helpers ---- */

static sluice_driver_t *driver(sluice_topology_t *t, sluice_conf_t *c) {
        char err[512];
        sluice_driver_t *drv = sluice_driver_new(t, c, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        return drv;
}

static int pipe_v(sluice_driver_t *drv, const char *topic, const char *value,
                  int64_t ts) {
        return sluice_driver_pipe_str(drv, topic, "k", value, ts);
}

static void expect_metrics(sluice_driver_t *drv, const char *want) {
        char *m = sluice_driver_metrics_json(drv);
        ck_assert_ptr_nonnull(m);
        ck_assert_str_eq(m, want);
        free(m);
}

/* ---- default.timestamp.extractor ---- */

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
            "org.apache.kafka.streams.processor."
            "UsePartitionTimeOnInvalidTimestamp"};
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
        drv              = driver(t, NULL);
        ck_assert_int_eq(pipe_v(drv, "in", "v", 5), 0);
        ck_assert_int_eq(pipe_v(drv, "in", "v", 9), 0);
        expect_metrics(drv, "{\"tasks\":[{\"task\":\"0_0\",\"consumed\":2,"
                            "\"processed\":2,\"dropped\":0,"
                            "\"skipped_invalid_timestamp\":0,"
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

Suite *suite_timestamps(void) {
        Suite *s  = suite_create("timestamps");
        TCase *tc = tcase_create("policies");
        tcase_add_test(tc, conf_values_and_messages);
        suite_add_tcase(s, tc);
        tc = tcase_create("metrics");
        tcase_add_test(tc, driver_metrics_per_task_with_operators);
        suite_add_tcase(s, tc);
        return s;
}
