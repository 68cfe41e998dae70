/*
 * test_conf.c - configuration: defaults of Sluice's own keys, good and bad
 * values of each (error code and the exact message naming key and value),
 * unknown keys, librdkafka passthrough keys (plain and with a client
 * prefix), keys Sluice owns and refuses, overwriting, sluice_conf_dup(),
 * NULL arguments, errstr truncation and the log callback setter.
 */
#include "test_list.h"
#include "helpers.h"

#include <stdio.h>
#include <string.h>

/* Set key=value and check it succeeds and reads back as @p expect. */
#define ck_assert_conf_ok(conf, key, value, expect)                            \
        do {                                                                   \
                char e_[512] = "";                                             \
                ck_assert_int_eq(sluice_conf_set(conf, key, value, e_,         \
                                                 sizeof(e_)),                  \
                                 SLUICE_OK);                                   \
                ck_assert_pstr_eq(sluice_conf_get(conf, key), expect);         \
        } while (0)

/* Set key=value and check it fails with @p code and exactly @p msg. */
#define ck_assert_conf_err(conf, key, value, code, msg)                        \
        do {                                                                   \
                char e_[512] = "";                                             \
                ck_assert_int_eq(sluice_conf_set(conf, key, value, e_,         \
                                                 sizeof(e_)),                  \
                                 code);                                        \
                ck_assert_str_eq(e_, msg);                                     \
        } while (0)

/* The message Sluice writes for a bad value of one of its own keys. */
static const char *bad_value_msg(char *dst, size_t size, const char *key,
                                 const char *value, const char *expected) {
        snprintf(dst, size,
                 "Invalid value \"%s\" for configuration property \"%s\": %s",
                 value, key, expected);
        return dst;
}

#define APP_ID_EXPECTED                                                        \
        "expected 1 to 200 characters of a-z A-Z 0-9 . _ - (it prefixes "      \
        "internal topic names)"
#define GUARANTEE_EXPECTED                                                     \
        "expected at_least_once, exactly_once_v2 or exactly_once"
#define COMMIT_EXPECTED "expected an integer from 0 to 2147483647"
#define THREADS_EXPECTED                                                       \
        "expected an integer from 0 to 1024 (0: the host drives the app)"

START_TEST(test_conf_defaults) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_ptr_nonnull(conf);
        ck_assert_str_eq(sluice_conf_get(conf, "processing.guarantee"),
                         "at_least_once");
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "30000");
        ck_assert_str_eq(sluice_conf_get(conf, "num.stream.threads"), "1");
        ck_assert_str_eq(sluice_conf_get(conf, "state.dir"), "/tmp/sluice");
        ck_assert_ptr_null(sluice_conf_get(conf, "application.id"));
        ck_assert_ptr_null(sluice_conf_get(conf, "bootstrap.servers"));
        ck_assert_ptr_null(sluice_conf_get(conf, "no.such.key"));
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_commit_interval_default_follows_guarantee) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_conf_ok(conf, "processing.guarantee", "exactly_once_v2",
                          "exactly_once_v2");
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "100");
        /* and back again */
        ck_assert_conf_ok(conf, "processing.guarantee", "at_least_once",
                          "at_least_once");
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "30000");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_commit_interval_explicit_wins) {
        sluice_conf_t *conf = sluice_conf_new();
        /* set before the guarantee */
        ck_assert_conf_ok(conf, "commit.interval.ms", "5000", "5000");
        ck_assert_conf_ok(conf, "processing.guarantee", "exactly_once_v2",
                          "exactly_once_v2");
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "5000");
        sluice_conf_destroy(conf);

        /* set after the guarantee, including the default's own value */
        conf = sluice_conf_new();
        ck_assert_conf_ok(conf, "processing.guarantee", "exactly_once_v2",
                          "exactly_once_v2");
        ck_assert_conf_ok(conf, "commit.interval.ms", "30000", "30000");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_application_id_good) {
        sluice_conf_t *conf = sluice_conf_new();
        char id[201];
        ck_assert_conf_ok(conf, "application.id", "wordcount",
                          "wordcount");
        ck_assert_conf_ok(conf, "application.id", "My_App-1.v2",
                          "My_App-1.v2");
        memset(id, 'a', 200);
        id[200] = '\0';
        ck_assert_conf_ok(conf, "application.id", id, id); /* 200: the max */
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_application_id_bad) {
        static const char *const bad[] = {"",      "a b", "x/y",
                                          "app:1", "caf\xc3\xa9"};
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512], id[202];
        size_t i;
        ck_assert_conf_ok(conf, "application.id", "good", "good");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_conf_err(conf, "application.id", bad[i],
                                   SLUICE_ERR_INVALID_CONF,
                                   bad_value_msg(msg, sizeof(msg),
                                                 "application.id", bad[i],
                                                 APP_ID_EXPECTED));
        }
        memset(id, 'a', 201);
        id[201] = '\0';
        ck_assert_conf_err(conf, "application.id", id,
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg), "application.id",
                                         id, APP_ID_EXPECTED));
        /* a refused value leaves the previous one */
        ck_assert_str_eq(sluice_conf_get(conf, "application.id"), "good");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_processing_guarantee_values) {
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512];
        ck_assert_conf_ok(conf, "processing.guarantee", "exactly_once_v2",
                          "exactly_once_v2");
        ck_assert_conf_ok(conf, "processing.guarantee", "at_least_once",
                          "at_least_once");
        /* the alias reads back as the canonical name */
        ck_assert_conf_ok(conf, "processing.guarantee", "exactly_once",
                          "exactly_once_v2");
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "100");
        ck_assert_conf_err(conf, "processing.guarantee", "maybe",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "processing.guarantee", "maybe",
                                         GUARANTEE_EXPECTED));
        ck_assert_conf_err(conf, "processing.guarantee", "",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "processing.guarantee", "",
                                         GUARANTEE_EXPECTED));
        ck_assert_str_eq(sluice_conf_get(conf, "processing.guarantee"),
                         "exactly_once_v2");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_commit_interval_values) {
        static const char *const bad[] = {"-1", "abc", "10x", "99999999999",
                                          "2147483648", ""};
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512];
        size_t i;
        ck_assert_conf_ok(conf, "commit.interval.ms", "0", "0");
        ck_assert_conf_ok(conf, "commit.interval.ms", "2147483647",
                          "2147483647");
        ck_assert_conf_ok(conf, "commit.interval.ms", "250", "250");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_conf_err(conf, "commit.interval.ms", bad[i],
                                   SLUICE_ERR_INVALID_CONF,
                                   bad_value_msg(msg, sizeof(msg),
                                                 "commit.interval.ms", bad[i],
                                                 COMMIT_EXPECTED));
        }
        ck_assert_str_eq(sluice_conf_get(conf, "commit.interval.ms"), "250");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_join_emit_interval_values) {
        static const char *const key =
            "__emit.interval.ms.kstreams.outer.join.spurious.results.fix__";
        static const char *const bad[] = {"-1", "x", "2147483648", ""};
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512];
        size_t i;
        /* Kafka Streams' internal setting, under its own name */
        ck_assert_str_eq(sluice_conf_get(conf, key), "1000");
        ck_assert_conf_ok(conf, key, "0", "0");
        ck_assert_conf_ok(conf, key, "250", "250");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ck_assert_conf_err(conf, key, bad[i], SLUICE_ERR_INVALID_CONF,
                                   bad_value_msg(msg, sizeof(msg), key, bad[i],
                                                 COMMIT_EXPECTED));
        ck_assert_str_eq(sluice_conf_get(conf, key), "250");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_num_stream_threads_values) {
        static const char *const bad[] = {"-1", "1025", "", "2.5", "two"};
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512];
        size_t i;
        ck_assert_conf_ok(conf, "num.stream.threads", "0", "0");
        ck_assert_conf_ok(conf, "num.stream.threads", "1024", "1024");
        ck_assert_conf_ok(conf, "num.stream.threads", "4", "4");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_conf_err(conf, "num.stream.threads", bad[i],
                                   SLUICE_ERR_INVALID_CONF,
                                   bad_value_msg(msg, sizeof(msg),
                                                 "num.stream.threads", bad[i],
                                                 THREADS_EXPECTED));
        }
        ck_assert_str_eq(sluice_conf_get(conf, "num.stream.threads"), "4");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_state_dir_values) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_conf_ok(conf, "state.dir", "/var/lib/sluice",
                          "/var/lib/sluice");
        ck_assert_conf_ok(conf, "state.dir", "relative/dir", "relative/dir");
        ck_assert_conf_err(conf, "state.dir", "", SLUICE_ERR_INVALID_CONF,
                           "Invalid value \"\" for configuration property "
                           "\"state.dir\": expected a directory path");
        ck_assert_str_eq(sluice_conf_get(conf, "state.dir"), "relative/dir");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_unknown_key) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_conf_err(conf, "foo.bar", "1", SLUICE_ERR_UNKNOWN_CONF,
                           "No such configuration property: \"foo.bar\"");
        ck_assert_ptr_null(sluice_conf_get(conf, "foo.bar"));
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_rdkafka_passthrough) {
        sluice_conf_t *conf = sluice_conf_new();
        char e[512] = "";
        ck_assert_conf_ok(conf, "security.protocol", "plaintext", "plaintext");
        ck_assert_conf_ok(conf, "bootstrap.servers", "localhost:9092",
                          "localhost:9092");

        ck_assert_int_eq(
            sluice_conf_set(conf, "security.protocol", "bogus", e, sizeof(e)),
            SLUICE_ERR_INVALID_CONF);
        ck_assert_msg(!strncmp(e,
                               "Invalid value \"bogus\" for configuration "
                               "property \"security.protocol\": ",
                               strlen("Invalid value \"bogus\" for "
                                      "configuration property "
                                      "\"security.protocol\": ")),
                      "unexpected message: %s", e);
        /* librdkafka's reason follows */
        ck_assert_uint_gt(strlen(e), strlen("Invalid value \"bogus\" for "
                                            "configuration property "
                                            "\"security.protocol\": "));
        ck_assert_str_eq(sluice_conf_get(conf, "security.protocol"),
                         "plaintext");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_rdkafka_client_prefixes) {
        sluice_conf_t *conf = sluice_conf_new();
        char e[512] = "";
        ck_assert_conf_ok(conf, "consumer.fetch.wait.max.ms", "10", "10");
        ck_assert_conf_ok(conf, "producer.linger.ms", "5", "5");
        ck_assert_conf_ok(conf, "admin.socket.timeout.ms", "7000", "7000");
        /* the prefixed key is its own key: the plain one stays unset */
        ck_assert_ptr_null(sluice_conf_get(conf, "fetch.wait.max.ms"));
        ck_assert_ptr_null(sluice_conf_get(conf, "linger.ms"));

        ck_assert_conf_err(conf, "consumer.no.such.key", "1",
                           SLUICE_ERR_UNKNOWN_CONF,
                           "No such configuration property: "
                           "\"consumer.no.such.key\"");

        /* the value is checked by librdkafka under the prefix too */
        ck_assert_int_eq(sluice_conf_set(conf, "producer.linger.ms", "soon", e,
                                         sizeof(e)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_ptr_nonnull(strstr(e, "\"producer.linger.ms\""));
        ck_assert_ptr_nonnull(strstr(e, "\"soon\""));
        ck_assert_str_eq(sluice_conf_get(conf, "producer.linger.ms"), "5");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_owned_keys_refused) {
        static const char *const owned[] = {
            "group.id",          "enable.auto.commit", "transactional.id",
            "isolation.level",   "consumer.group.id",
            "producer.transactional.id"};
        sluice_conf_t *conf = sluice_conf_new();
        char e[512], want[128];
        size_t i;
        ck_assert_conf_err(conf, "group.id", "mygroup",
                           SLUICE_ERR_INVALID_CONF,
                           "Configuration property \"group.id\" cannot be "
                           "set: Sluice uses application.id as the consumer "
                           "group");
        for (i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
                e[0] = '\0';
                ck_assert_int_eq(
                    sluice_conf_set(conf, owned[i], "x", e, sizeof(e)),
                    SLUICE_ERR_INVALID_CONF);
                snprintf(want, sizeof(want),
                         "Configuration property \"%s\" cannot be set: ",
                         owned[i]);
                ck_assert_msg(!strncmp(e, want, strlen(want)),
                              "%s: unexpected message: %s", owned[i], e);
                ck_assert_ptr_null(sluice_conf_get(conf, owned[i]));
        }
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_set_twice_keeps_last) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_conf_ok(conf, "application.id", "first", "first");
        ck_assert_conf_ok(conf, "application.id", "second", "second");
        ck_assert_conf_ok(conf, "commit.interval.ms", "1", "1");
        ck_assert_conf_ok(conf, "commit.interval.ms", "2", "2");
        ck_assert_conf_ok(conf, "state.dir", "/a", "/a");
        ck_assert_conf_ok(conf, "state.dir", "/b", "/b");
        ck_assert_conf_ok(conf, "consumer.fetch.wait.max.ms", "10", "10");
        ck_assert_conf_ok(conf, "consumer.fetch.wait.max.ms", "20", "20");
        ck_assert_conf_ok(conf, "security.protocol", "plaintext", "plaintext");
        ck_assert_conf_ok(conf, "security.protocol", "ssl", "ssl");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_dup_is_deep_copy) {
        sluice_conf_t *orig = sluice_conf_new(), *dup;
        ck_assert_conf_ok(orig, "application.id", "app", "app");
        ck_assert_conf_ok(orig, "processing.guarantee", "exactly_once",
                          "exactly_once_v2");
        ck_assert_conf_ok(orig, "num.stream.threads", "3", "3");
        ck_assert_conf_ok(orig, "state.dir", "/data", "/data");
        ck_assert_conf_ok(orig, "security.protocol", "plaintext", "plaintext");
        ck_assert_conf_ok(orig, "consumer.fetch.wait.max.ms", "10", "10");

        dup = sluice_conf_dup(orig);
        ck_assert_ptr_nonnull(dup);
        ck_assert_str_eq(sluice_conf_get(dup, "application.id"), "app");
        ck_assert_str_eq(sluice_conf_get(dup, "processing.guarantee"),
                         "exactly_once_v2");
        ck_assert_str_eq(sluice_conf_get(dup, "commit.interval.ms"), "100");
        ck_assert_str_eq(sluice_conf_get(dup, "num.stream.threads"), "3");
        ck_assert_str_eq(sluice_conf_get(dup, "state.dir"), "/data");
        ck_assert_str_eq(sluice_conf_get(dup, "security.protocol"),
                         "plaintext");
        ck_assert_str_eq(sluice_conf_get(dup, "consumer.fetch.wait.max.ms"),
                         "10");
        ck_assert_ptr_ne(sluice_conf_get(dup, "application.id"),
                         sluice_conf_get(orig, "application.id"));

        /* changing the copy leaves the original alone */
        ck_assert_conf_ok(dup, "application.id", "other", "other");
        ck_assert_conf_ok(dup, "processing.guarantee", "at_least_once",
                          "at_least_once");
        ck_assert_conf_ok(dup, "state.dir", "/elsewhere", "/elsewhere");
        ck_assert_conf_ok(dup, "consumer.fetch.wait.max.ms", "99", "99");
        ck_assert_conf_ok(dup, "producer.linger.ms", "5", "5");
        ck_assert_str_eq(sluice_conf_get(orig, "application.id"), "app");
        ck_assert_str_eq(sluice_conf_get(orig, "processing.guarantee"),
                         "exactly_once_v2");
        ck_assert_str_eq(sluice_conf_get(orig, "state.dir"), "/data");
        ck_assert_str_eq(sluice_conf_get(orig, "consumer.fetch.wait.max.ms"),
                         "10");
        ck_assert_ptr_null(sluice_conf_get(orig, "producer.linger.ms"));

        /* the copy outlives the original */
        sluice_conf_destroy(orig);
        ck_assert_str_eq(sluice_conf_get(dup, "security.protocol"),
                         "plaintext");
        ck_assert_str_eq(sluice_conf_get(dup, "num.stream.threads"), "3");
        sluice_conf_destroy(dup);
}
END_TEST

START_TEST(test_conf_dup_of_fresh_conf) {
        sluice_conf_t *orig = sluice_conf_new();
        sluice_conf_t *dup  = sluice_conf_dup(orig);
        ck_assert_ptr_nonnull(dup);
        ck_assert_str_eq(sluice_conf_get(dup, "processing.guarantee"),
                         "at_least_once");
        ck_assert_str_eq(sluice_conf_get(dup, "commit.interval.ms"), "30000");
        ck_assert_str_eq(sluice_conf_get(dup, "state.dir"), "/tmp/sluice");
        ck_assert_ptr_null(sluice_conf_get(dup, "application.id"));
        sluice_conf_destroy(orig);
        sluice_conf_destroy(dup);
}
END_TEST

START_TEST(test_conf_null_args) {
        sluice_conf_t *conf = sluice_conf_new();
        const char *msg =
            "sluice_conf_set: conf, key and value must not be NULL";
        char e[512];
        e[0] = '\0';
        ck_assert_int_eq(sluice_conf_set(NULL, "state.dir", "/x", e,
                                         sizeof(e)),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_str_eq(e, msg);
        e[0] = '\0';
        ck_assert_int_eq(sluice_conf_set(conf, NULL, "/x", e, sizeof(e)),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_str_eq(e, msg);
        e[0] = '\0';
        ck_assert_int_eq(sluice_conf_set(conf, "state.dir", NULL, e,
                                         sizeof(e)),
                         SLUICE_ERR_INVALID_ARG);
        ck_assert_str_eq(e, msg);
        ck_assert_str_eq(sluice_conf_get(conf, "state.dir"), "/tmp/sluice");

        ck_assert_ptr_null(sluice_conf_get(NULL, "state.dir"));
        ck_assert_ptr_null(sluice_conf_get(conf, NULL));
        ck_assert_ptr_null(sluice_conf_dup(NULL));
        sluice_conf_destroy(NULL);
        sluice_conf_set_log_cb(NULL, NULL, SLUICE_LOG_DEBUG, NULL);
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_errstr_truncated_and_terminated) {
        sluice_conf_t *conf = sluice_conf_new();
        char e[32];
        size_t i;

        /* unknown key: "No such configuration property: ..." */
        memset(e, 'X', sizeof(e));
        ck_assert_int_eq(sluice_conf_set(conf, "foo.bar", "1", e, 8),
                         SLUICE_ERR_UNKNOWN_CONF);
        ck_assert_str_eq(e, "No such");
        for (i = 8; i < sizeof(e); i++)
                ck_assert_int_eq(e[i], 'X');

        /* bad value of a Sluice key */
        memset(e, 'X', sizeof(e));
        ck_assert_int_eq(sluice_conf_set(conf, "num.stream.threads", "-1", e,
                                         8),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_str_eq(e, "Invalid");
        for (i = 8; i < sizeof(e); i++)
                ck_assert_int_eq(e[i], 'X');

        /* bad value judged by librdkafka */
        memset(e, 'X', sizeof(e));
        ck_assert_int_eq(sluice_conf_set(conf, "security.protocol", "bogus",
                                         e, 8),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_str_eq(e, "Invalid");
        for (i = 8; i < sizeof(e); i++)
                ck_assert_int_eq(e[i], 'X');

        /* one byte: just the terminator */
        memset(e, 'X', sizeof(e));
        ck_assert_int_eq(sluice_conf_set(conf, "group.id", "g", e, 1),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_int_eq(e[0], '\0');
        ck_assert_int_eq(e[1], 'X');

        /* no buffer at all */
        ck_assert_int_eq(sluice_conf_set(conf, "foo.bar", "1", NULL, 0),
                         SLUICE_ERR_UNKNOWN_CONF);
        ck_assert_int_eq(sluice_conf_set(conf, "state.dir", "", NULL, 0),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_int_eq(sluice_conf_set(conf, "state.dir", "/s", NULL, 0),
                         SLUICE_OK);
        ck_assert_str_eq(sluice_conf_get(conf, "state.dir"), "/s");
        sluice_conf_destroy(conf);
}
END_TEST

/* If anything is logged, it comes with a level, a facility, a message and
 * the opaque given at registration. */
static void count_log(sluice_log_level_t level, const char *facility,
                      const char *message, void *opaque) {
        ck_assert_int_ge(level, SLUICE_LOG_ERR);
        ck_assert_int_le(level, SLUICE_LOG_DEBUG);
        ck_assert_ptr_nonnull(facility);
        ck_assert_ptr_nonnull(message);
        ck_assert_ptr_nonnull(opaque);
        (*(int *)opaque)++;
}

START_TEST(test_conf_log_cb_set_and_dup) {
        sluice_conf_t *conf = sluice_conf_new(), *dup;
        int calls           = 0;
        sluice_conf_set_log_cb(conf, count_log, SLUICE_LOG_DEBUG, &calls);
        ck_assert_conf_ok(conf, "application.id", "logged", "logged");
        dup = sluice_conf_dup(conf);
        ck_assert_ptr_nonnull(dup);
        ck_assert_str_eq(sluice_conf_get(dup, "application.id"), "logged");
        /* restoring the default is allowed too */
        sluice_conf_set_log_cb(dup, NULL, SLUICE_LOG_ERR, NULL);
        ck_assert_conf_ok(dup, "num.stream.threads", "2", "2");
        sluice_conf_destroy(dup);
        ck_assert_conf_ok(conf, "num.stream.threads", "3", "3");
        sluice_conf_destroy(conf);
}
END_TEST

START_TEST(test_conf_runtime_keys) {
        sluice_conf_t *conf = sluice_conf_new();
        char msg[512];
        ck_assert_str_eq(sluice_conf_get(conf,
                                         "default.deserialization.exception."
                                         "handler"),
                         "log_and_fail");
        ck_assert_str_eq(sluice_conf_get(conf, "sluice.embedded"), "false");
        ck_assert_str_eq(sluice_conf_get(conf, "sluice.embedded.partitions"),
                         "4");
        ck_assert_conf_ok(conf, "default.deserialization.exception.handler",
                          "dead_letter", "dead_letter");
        ck_assert_conf_err(conf, "default.deserialization.exception.handler",
                           "ignore", SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "default.deserialization.exception."
                                         "handler",
                                         "ignore",
                                         "expected log_and_fail, "
                                         "log_and_continue or dead_letter"));
        ck_assert_conf_ok(conf, "errors.deadletterqueue.topic.name", "dlq-1",
                          "dlq-1");
        ck_assert_conf_err(conf, "errors.deadletterqueue.topic.name", "a b",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "errors.deadletterqueue.topic.name",
                                         "a b",
                                         "topic name \"a b\" has an illegal "
                                         "character ' ' (legal: a-z A-Z 0-9 "
                                         ". _ -)"));
        ck_assert_conf_ok(conf, "sluice.embedded", "true", "true");
        ck_assert_conf_err(conf, "sluice.embedded", "yes",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg), "sluice.embedded",
                                         "yes", "expected true or false"));
        ck_assert_conf_ok(conf, "sluice.embedded.partitions", "8", "8");
        ck_assert_conf_err(conf, "sluice.embedded.partitions", "0",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "sluice.embedded.partitions", "0",
                                         "expected an integer from 1 to "
                                         "1000"));
        ck_assert_str_eq(sluice_conf_get(conf, "sluice.task.placement"),
                         "together");
        ck_assert_conf_ok(conf, "sluice.task.placement", "per_subtopology",
                          "per_subtopology");
        ck_assert_conf_ok(conf, "sluice.task.placement", "together",
                          "together");
        ck_assert_conf_err(conf, "sluice.task.placement", "range",
                           SLUICE_ERR_INVALID_CONF,
                           bad_value_msg(msg, sizeof(msg),
                                         "sluice.task.placement", "range",
                                         "expected together or "
                                         "per_subtopology"));
        sluice_conf_destroy(conf);
}
END_TEST

/* The consumer group protocol (KIP-848): group.protocol and
 * group.remote.assignor pass through to librdkafka, checked by it;
 * group.instance.id too; the client-side assignor stays Sluice's. */
START_TEST(test_conf_group_protocol_keys) {
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_conf_ok(conf, "group.protocol", "consumer", "consumer");
        ck_assert_conf_ok(conf, "group.protocol", "classic", "classic");
        ck_assert_conf_ok(conf, "consumer.group.protocol", "consumer",
                          "consumer");
        ck_assert_conf_ok(conf, "group.remote.assignor", "range", "range");
        ck_assert_conf_ok(conf, "group.instance.id", "node-a", "node-a");
        ck_assert_conf_err(conf, "group.protocol", "eager",
                           SLUICE_ERR_INVALID_CONF,
                           "Invalid value \"eager\" for configuration "
                           "property \"group.protocol\": Invalid value "
                           "\"eager\" for configuration property "
                           "\"group.protocol\"");
        ck_assert_conf_err(
            conf, "partition.assignment.strategy", "range",
            SLUICE_ERR_INVALID_CONF,
            "Configuration property \"partition.assignment.strategy\" "
            "cannot be set: Sluice uses cooperative-sticky assignment under "
            "group.protocol=classic; under group.protocol=consumer the broker "
            "assigns (group.remote.assignor)");
        sluice_conf_destroy(conf);
}
END_TEST

Suite *suite_conf(void) {
        Suite *s  = suite_create("conf");
        TCase *tc = tcase_create("conf");
        tcase_add_test(tc, test_conf_defaults);
        tcase_add_test(tc, test_conf_commit_interval_default_follows_guarantee);
        tcase_add_test(tc, test_conf_commit_interval_explicit_wins);
        tcase_add_test(tc, test_conf_application_id_good);
        tcase_add_test(tc, test_conf_application_id_bad);
        tcase_add_test(tc, test_conf_processing_guarantee_values);
        tcase_add_test(tc, test_conf_commit_interval_values);
        tcase_add_test(tc, test_conf_join_emit_interval_values);
        tcase_add_test(tc, test_conf_num_stream_threads_values);
        tcase_add_test(tc, test_conf_state_dir_values);
        tcase_add_test(tc, test_conf_unknown_key);
        tcase_add_test(tc, test_conf_rdkafka_passthrough);
        tcase_add_test(tc, test_conf_rdkafka_client_prefixes);
        tcase_add_test(tc, test_conf_owned_keys_refused);
        tcase_add_test(tc, test_conf_set_twice_keeps_last);
        tcase_add_test(tc, test_conf_dup_is_deep_copy);
        tcase_add_test(tc, test_conf_dup_of_fresh_conf);
        tcase_add_test(tc, test_conf_null_args);
        tcase_add_test(tc, test_conf_errstr_truncated_and_terminated);
        tcase_add_test(tc, test_conf_log_cb_set_and_dup);
        tcase_add_test(tc, test_conf_runtime_keys);
        tcase_add_test(tc, test_conf_group_protocol_keys);
        suite_add_tcase(s, tc);
        return s;
}
