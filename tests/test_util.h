/*
 * test_util.h - helpers several unit suites share: temporary directories,
 * the word-count-like topology the state and fault tests run, and a conf
 * setter that fails the test with librdkafka's or Sluice's message.
 */
#ifndef SLUICE_TEST_UTIL_H
#define SLUICE_TEST_UTIL_H

#include <stddef.h>

#include "sluice.h"

/* rm -rf @path (no error if absent). */
void tu_rm_rf(const char *path);
/* A new directory /tmp/sluice-test-<tag>-XXXXXX into @dir. */
void tu_tmpdir(char *dir, size_t size, const char *tag);
/* in (string, string) -> group_by_key -> count "counts" -> to_stream -> out */
sluice_topology_t *tu_count_topology(void);
/* sluice_conf_set() that must succeed. */
void tu_set(sluice_conf_t *c, const char *key, const char *value);

#endif
