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

#include <stdio.h>
#include <stdlib.h>

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

Suite *suite_timestamps(void) {
        Suite *s  = suite_create("timestamps");
        TCase *tc = tcase_create("policies");
        tcase_add_test(tc, conf_values_and_messages);
        suite_add_tcase(s, tc);
        return s;
}
