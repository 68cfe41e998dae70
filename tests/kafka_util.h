/*
 * kafka_util.h - produce and read records for tests that run an app against
 * a cluster (the embedded mock or a real broker). Waiting is always for a
 * condition with a deadline, never a fixed sleep.
 */
#ifndef SLUICE_TEST_KAFKA_UTIL_H
#define SLUICE_TEST_KAFKA_UTIL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ku_record_s {
        char *key, *value; /* NUL-terminated copies; NULL for Kafka null */
        int32_t partition;
        int64_t offset, timestamp;
} ku_record_t;

/* Produce @n records (key i / value i from the callbacks, partition -1 =
 * by key) and flush. Returns 0 or -1. */
int ku_produce(const char *bootstrap, const char *topic, int n,
               const char *(*key_of)(int i, char *buf, size_t size),
               const char *(*value_of)(int i, char *buf, size_t size),
               int32_t partition);

/* Read every partition of @topic from the beginning until @want records
 * arrived or @timeout_ms passed. Returns the count read (records in *out,
 * free with ku_free). */
int ku_consume(const char *bootstrap, const char *topic, int want,
               int timeout_ms, ku_record_t **out);
void ku_free(ku_record_t *recs, int n);

/* Produce one record (bytes; NULL = Kafka null) to @partition with
 * @timestamp, and flush. Its producer sends up to 10 MB. 0 or -1. */
int ku_produce_raw(const char *bootstrap, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value,
                   size_t value_len, int64_t timestamp);

/* The offset @group committed for @topic/@partition: >= 0, -1001 if none
 * (RD_KAFKA_OFFSET_INVALID), -2 on error. Does not join the group. */
int64_t ku_committed(const char *bootstrap, const char *group,
                     const char *topic, int32_t partition);

/* Block until @cond(arg) is true or @timeout_ms passed. Returns 1 / 0. */
int ku_wait_for(int (*cond)(void *arg), void *arg, int timeout_ms);

/* 1 if @topic exists with @partitions partitions, each with a leader, in
 * @rk's view of the cluster's metadata (5 s at most), else 0. */
int ku_topic_ready(rd_kafka_t *rk, const char *topic, int partitions);

#endif
