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

/* Block until @cond(arg) is true or @timeout_ms passed. Returns 1 / 0. */
int ku_wait_for(int (*cond)(void *arg), void *arg, int timeout_ms);

#endif
