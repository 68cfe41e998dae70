/*
 * conf.c - configuration: Sluice's own keys, validated here; every other key
 * validated by librdkafka and kept to configure the clients created later.
 */
#include "conf.h"
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

/* Keys Sluice sets on its clients itself; a user value would break it. */
static const struct {
        const char *key;
        const char *why;
} sl_owned_keys[] = {
    {"group.id", "Sluice uses application.id as the consumer group"},
    {"enable.auto.commit", "Sluice commits offsets itself"},
    {"auto.commit.enable", "Sluice commits offsets itself"},
    {"enable.auto.offset.store", "Sluice stores offsets itself"},
    {"transactional.id",
     "Sluice derives it from application.id under exactly-once"},
    {"isolation.level", "Sluice sets it from processing.guarantee"},
    {"partition.assignment.strategy",
     "Sluice uses cooperative-sticky assignment under group.protocol=classic; "
     "under group.protocol=consumer the broker assigns (group.remote.assignor)"},
    {"enable.partition.eof", "Sluice manages end-of-partition events"},
};

int sl_rdkafka_version_check(char *errstr, size_t errstr_size) {
        int v = rd_kafka_version();
        if (v < SLUICE_MIN_RDKAFKA_VERSION) {
                sl_errstr(errstr, errstr_size,
                          "librdkafka %s is too old: Sluice needs 2.10.1 or "
                          "later (older versions duplicate records or hang "
                          "the consumer group on rebalances)",
                          rd_kafka_version_str());
                return -1;
        }
        return 0;
}

sluice_conf_t *sluice_conf_new(void) {
        sluice_conf_t *conf = calloc(1, sizeof(*conf));
        if (!conf)
                return NULL;
        conf->guarantee          = SL_ALOS;
        conf->commit_interval_ms = -1;
        conf->num_stream_threads = 1;
        conf->embedded_partitions = 4;
        conf->cache_max_bytes    = 10485760; /* Kafka Streams' 10 MiB */
        conf->join_emit_interval_ms = 1000;
        conf->log_level          = SLUICE_LOG_NOTICE;
        return conf;
}

static void prop_free(sl_prop_t *p) {
        free(p->key);
        free(p->value);
        free(p->full);
}

void sluice_conf_destroy(sluice_conf_t *conf) {
        size_t i;
        if (!conf)
                return;
        for (i = 0; i < conf->prop_cnt; i++)
                prop_free(&conf->props[i]);
        free(conf->props);
        free(conf->application_id);
        free(conf->state_dir);
        free(conf->dlq_topic);
        free(conf->default_store);
        free(conf->store_types);
        free(conf);
}

sluice_conf_t *sluice_conf_dup(const sluice_conf_t *src) {
        sluice_conf_t *conf;
        size_t i;
        if (!src)
                return NULL;
        conf = sluice_conf_new();
        if (!conf)
                return NULL;
        conf->guarantee          = src->guarantee;
        conf->commit_interval_ms = src->commit_interval_ms;
        conf->num_stream_threads = src->num_stream_threads;
        conf->embedded           = src->embedded;
        conf->metrics_log_ms     = src->metrics_log_ms;
        conf->placement_per_sub  = src->placement_per_sub;
        conf->embedded_partitions = src->embedded_partitions;
        conf->log_cb             = src->log_cb;
        conf->log_level          = src->log_level;
        conf->log_opaque         = src->log_opaque;
        conf->application_id     = sl_strdup(src->application_id);
        conf->state_dir          = sl_strdup(src->state_dir);
        conf->deser_handler      = src->deser_handler;
        conf->proc_handler       = src->proc_handler;
        conf->dlq_topic          = sl_strdup(src->dlq_topic);
        conf->default_store      = sl_strdup(src->default_store);
        conf->cache_max_bytes    = src->cache_max_bytes;
        conf->join_emit_interval_ms = src->join_emit_interval_ms;
        conf->ts_extractor       = src->ts_extractor;
        conf->restore_cb         = src->restore_cb;
        conf->restore_opaque     = src->restore_opaque;
        if (src->store_type_cnt) {
                conf->store_types = malloc(src->store_type_cnt *
                                           sizeof(*conf->store_types));
                if (!conf->store_types)
                        goto oom;
                memcpy(conf->store_types, src->store_types,
                       src->store_type_cnt * sizeof(*conf->store_types));
                conf->store_type_cnt = src->store_type_cnt;
        }
        if ((src->default_store && !conf->default_store) ||
            (src->application_id && !conf->application_id) ||
            (src->state_dir && !conf->state_dir) ||
            (src->dlq_topic && !conf->dlq_topic))
                goto oom;
        if (src->prop_cnt) {
                conf->props = calloc(src->prop_cnt, sizeof(*conf->props));
                if (!conf->props)
                        goto oom;
                conf->prop_cap = src->prop_cnt;
                for (i = 0; i < src->prop_cnt; i++) {
                        sl_prop_t *d = &conf->props[i];
                        d->scope     = src->props[i].scope;
                        d->key       = sl_strdup(src->props[i].key);
                        d->value     = sl_strdup(src->props[i].value);
                        d->full      = sl_strdup(src->props[i].full);
                        conf->prop_cnt++;
                        if (!d->key || !d->value || !d->full)
                                goto oom;
                }
        }
        return conf;
oom:
        sluice_conf_destroy(conf);
        return NULL;
}

/* Parse a whole decimal integer in [min, max]. */
static int parse_int(const char *s, long min, long max, int *out) {
        char *end;
        long v;
        if (!*s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return -1;
        *out = (int)v;
        return 0;
}

/* Record key=value (replacing an earlier value of the same key). */
static sluice_resp_t prop_store(sluice_conf_t *conf, sl_scope_t scope,
                                const char *full, const char *key,
                                const char *value) {
        size_t i;
        char *v = sl_strdup(value);
        if (!v)
                return SLUICE_ERR_NOMEM;
        for (i = 0; i < conf->prop_cnt; i++) {
                if (!strcmp(conf->props[i].full, full)) {
                        free(conf->props[i].value);
                        conf->props[i].value = v;
                        return SLUICE_OK;
                }
        }
        if (conf->prop_cnt == conf->prop_cap) {
                size_t cap   = conf->prop_cap ? conf->prop_cap * 2 : 16;
                sl_prop_t *p = realloc(conf->props, cap * sizeof(*p));
                if (!p) {
                        free(v);
                        return SLUICE_ERR_NOMEM;
                }
                conf->props    = p;
                conf->prop_cap = cap;
        }
        conf->props[conf->prop_cnt].scope = scope;
        conf->props[conf->prop_cnt].value = v;
        conf->props[conf->prop_cnt].key   = sl_strdup(key);
        conf->props[conf->prop_cnt].full  = sl_strdup(full);
        if (!conf->props[conf->prop_cnt].key ||
            !conf->props[conf->prop_cnt].full) {
                prop_free(&conf->props[conf->prop_cnt]);
                return SLUICE_ERR_NOMEM;
        }
        conf->prop_cnt++;
        return SLUICE_OK;
}

static sluice_resp_t invalid(char *errstr, size_t errstr_size, const char *key,
                             const char *value, const char *expected) {
        sl_errstr(errstr, errstr_size,
                  "Invalid value \"%s\" for configuration property \"%s\": %s",
                  value, key, expected);
        return SLUICE_ERR_INVALID_CONF;
}

/* Sluice's own keys. Returns 1 if @key is one (result in *res), else 0. */
static int set_own(sluice_conf_t *conf, const char *key, const char *value,
                   sluice_resp_t *res, char *errstr, size_t errstr_size) {
        int n;
        if (!strcmp(key, "application.id")) {
                char why[300];
                if (strlen(value) > 200 ||
                    !sl_topic_name_valid(value, why, sizeof(why))) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected 1 to 200 characters of "
                                       "a-z A-Z 0-9 . _ - (it prefixes "
                                       "internal topic names)");
                        return 1;
                }
                char *v = sl_strdup(value);
                if (!v) {
                        *res = SLUICE_ERR_NOMEM;
                        return 1;
                }
                free(conf->application_id);
                conf->application_id = v;
        } else if (!strcmp(key, "processing.guarantee")) {
                if (!strcmp(value, "at_least_once"))
                        conf->guarantee = SL_ALOS;
                else if (!strcmp(value, "exactly_once_v2") ||
                         !strcmp(value, "exactly_once"))
                        conf->guarantee = SL_EOS_V2;
                else {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected at_least_once, "
                                       "exactly_once_v2 or exactly_once");
                        return 1;
                }
        } else if (!strcmp(key, "commit.interval.ms")) {
                if (parse_int(value, 0, INT_MAX, &n)) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected an integer from 0 to "
                                       "2147483647");
                        return 1;
                }
                conf->commit_interval_ms = n;
        } else if (!strcmp(key, "__emit.interval.ms.kstreams.outer.join."
                                "spurious.results.fix__")) {
                if (parse_int(value, 0, INT_MAX, &n)) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected an integer from 0 to "
                                       "2147483647");
                        return 1;
                }
                conf->join_emit_interval_ms = n;
        } else if (!strcmp(key, "num.stream.threads")) {
                if (parse_int(value, 0, 1024, &n)) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected an integer from 0 to 1024 "
                                       "(0: the host drives the app)");
                        return 1;
                }
                conf->num_stream_threads = n;
        } else if (!strcmp(key, "default.deserialization.exception.handler") ||
                   !strcmp(key, "processing.exception.handler")) {
                int *h = key[0] == 'd' ? &conf->deser_handler
                                       : &conf->proc_handler;
                if (!strcmp(value, "log_and_fail"))
                        *h = SL_DESER_FAIL;
                else if (!strcmp(value, "log_and_continue"))
                        *h = SL_DESER_CONTINUE;
                else if (!strcmp(value, "dead_letter"))
                        *h = SL_DESER_DLQ;
                else {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected log_and_fail, "
                                       "log_and_continue or dead_letter");
                        return 1;
                }
        } else if (!strcmp(key, "sluice.instance.id")) {
                if (!*value || strlen(value) > 64 ||
                    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                  "OPQRSTUVWXYZ0123456789._-") !=
                        strlen(value) ||
                    !strcmp(value, ".") || !strcmp(value, "..")) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected 1 to 64 characters of "
                                       "a-z A-Z 0-9 . _ - (it names a "
                                       "directory under state.dir)");
                        return 1;
                }
        } else if (!strcmp(key, "errors.deadletterqueue.topic.name")) {
                char why[300];
                if (!sl_topic_name_valid(value, why, sizeof(why))) {
                        *res = invalid(errstr, errstr_size, key, value, why);
                        return 1;
                }
                char *v = sl_strdup(value);
                if (!v) {
                        *res = SLUICE_ERR_NOMEM;
                        return 1;
                }
                free(conf->dlq_topic);
                conf->dlq_topic = v;
        } else if (!strcmp(key, "sluice.metrics.log.interval.ms")) {
                if (parse_int(value, 0, INT_MAX, &n)) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected an integer from 0 (off) to "
                                       "2147483647");
                        return 1;
                }
                conf->metrics_log_ms = n;
        } else if (!strcmp(key, "sluice.task.placement")) {
                if (!strcmp(value, "together"))
                        conf->placement_per_sub = 0;
                else if (!strcmp(value, "per_subtopology"))
                        conf->placement_per_sub = 1;
                else {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected together or "
                                       "per_subtopology");
                        return 1;
                }
        } else if (!strcmp(key, "sluice.embedded")) {
                if (!strcmp(value, "true"))
                        conf->embedded = 1;
                else if (!strcmp(value, "false"))
                        conf->embedded = 0;
                else {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected true or false");
                        return 1;
                }
        } else if (!strcmp(key, "sluice.embedded.partitions")) {
                if (parse_int(value, 1, 1000, &n)) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected an integer from 1 to 1000");
                        return 1;
                }
                conf->embedded_partitions = n;
        } else if (!strcmp(key, "default.dsl.store")) {
                /* the name is checked against the registered types when a
                 * driver or app opens the stores */
                char *v;
                if (!*value) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected in_memory, lmdb "
                                       "(persistent) or a registered store "
                                       "type");
                        return 1;
                }
                if (!(v = sl_strdup(value))) {
                        *res = SLUICE_ERR_NOMEM;
                        return 1;
                }
                free(conf->default_store);
                conf->default_store = v;
        } else if (!strcmp(key, "statestore.cache.max.bytes") ||
                   !strcmp(key, "cache.max.bytes.buffering")) {
                char *end;
                long long b;
                errno = 0;
                b     = strtoll(value, &end, 10);
                if (!*value || *end || errno || b < 0) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected a byte count >= 0 (0 "
                                       "disables the record cache)");
                        return 1;
                }
                conf->cache_max_bytes = b;
        } else if (!strcmp(key, "default.timestamp.extractor")) {
                /* Sluice's names, and Kafka Streams' class names (with or
                 * without the package) for a config carried over */
                static const struct {
                        const char *name, *cls;
                        int policy;
                } ts[] = {
                    {"fail_on_invalid", "FailOnInvalidTimestamp", SL_TS_FAIL},
                    {"log_and_skip_on_invalid", "LogAndSkipOnInvalidTimestamp",
                     SL_TS_SKIP},
                    {"use_partition_time_on_invalid",
                     "UsePartitionTimeOnInvalidTimestamp",
                     SL_TS_PARTITION_TIME}};
                const char *pkg = "org.apache.kafka.streams.processor.";
                const char *cls = !strncmp(value, pkg, strlen(pkg))
                                      ? value + strlen(pkg)
                                      : value;
                size_t i;
                for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
                        if (!strcmp(value, ts[i].name) ||
                            !strcmp(cls, ts[i].cls))
                                break;
                if (i == sizeof(ts) / sizeof(ts[0])) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected fail_on_invalid, "
                                       "log_and_skip_on_invalid or "
                                       "use_partition_time_on_invalid (or "
                                       "Kafka Streams' FailOnInvalidTimestamp"
                                       ", LogAndSkipOnInvalidTimestamp, "
                                       "UsePartitionTimeOnInvalidTimestamp, "
                                       "with or without the package "
                                       "org.apache.kafka.streams.processor)");
                        return 1;
                }
                conf->ts_extractor = ts[i].policy;
        } else if (!strcmp(key, "state.dir")) {
                if (!*value) {
                        *res = invalid(errstr, errstr_size, key, value,
                                       "expected a directory path");
                        return 1;
                }
                char *v = sl_strdup(value);
                if (!v) {
                        *res = SLUICE_ERR_NOMEM;
                        return 1;
                }
                free(conf->state_dir);
                conf->state_dir = v;
        } else {
                return 0;
        }
        *res = prop_store(conf, SL_SCOPE_SLUICE, key, key, value);
        return 1;
}

sluice_resp_t sluice_conf_set(sluice_conf_t *conf, const char *key,
                              const char *value, char *errstr,
                              size_t errstr_size) {
        static const struct {
                const char *prefix;
                sl_scope_t scope;
        } scopes[] = {{"consumer.", SL_SCOPE_CONSUMER},
                      {"producer.", SL_SCOPE_PRODUCER},
                      {"admin.", SL_SCOPE_ADMIN}};
        sl_scope_t scope = SL_SCOPE_ALL;
        const char *rkkey;
        sluice_resp_t res;
        rd_kafka_conf_t *rkc;
        rd_kafka_conf_res_t rr;
        size_t i;

        if (!conf || !key || !value) {
                sl_errstr(errstr, errstr_size,
                          "sluice_conf_set: conf, key and value must not be "
                          "NULL");
                return SLUICE_ERR_INVALID_ARG;
        }
        if (sl_rdkafka_version_check(errstr, errstr_size))
                return SLUICE_ERR_VERSION;

        if (set_own(conf, key, value, &res, errstr, errstr_size))
                return res;

        rkkey = key;
        for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
                size_t n = strlen(scopes[i].prefix);
                if (!strncmp(key, scopes[i].prefix, n)) {
                        scope = scopes[i].scope;
                        rkkey = key + n;
                        break;
                }
        }
        for (i = 0; i < sizeof(sl_owned_keys) / sizeof(sl_owned_keys[0]);
             i++) {
                if (!strcmp(rkkey, sl_owned_keys[i].key)) {
                        sl_errstr(errstr, errstr_size,
                                  "Configuration property \"%s\" cannot be "
                                  "set: %s",
                                  key, sl_owned_keys[i].why);
                        return SLUICE_ERR_INVALID_CONF;
                }
        }

        /* Let librdkafka judge name and value on a scratch conf. */
        rkc = rd_kafka_conf_new();
        if (!rkc)
                return SLUICE_ERR_NOMEM;
        {
                char rkerr[SL_ERRSTR_SIZE];
                rr = rd_kafka_conf_set(rkc, rkkey, value, rkerr,
                                       sizeof(rkerr));
                if (rr == RD_KAFKA_CONF_UNKNOWN) {
                        sl_errstr(errstr, errstr_size,
                                  "No such configuration property: \"%s\"",
                                  key);
                        res = SLUICE_ERR_UNKNOWN_CONF;
                } else if (rr == RD_KAFKA_CONF_INVALID) {
                        sl_errstr(errstr, errstr_size,
                                  "Invalid value \"%s\" for configuration "
                                  "property \"%s\": %s",
                                  value, key, rkerr);
                        res = SLUICE_ERR_INVALID_CONF;
                } else {
                        res = prop_store(conf, scope, key, rkkey, value);
                }
        }
        rd_kafka_conf_destroy(rkc);
        return res;
}

/* Consumer group keys: set for all clients, they reach only the consumers
 * (a producer would warn that it ignores them); group.instance.id reaches
 * only the group's consumers, one id per stream thread
 * (sl_conf_group_setup). */
static int is_group_key(const char *key) {
        return !strcmp(key, "group.protocol") ||
               !strcmp(key, "group.remote.assignor") ||
               !strcmp(key, "group.instance.id");
}

int sl_conf_apply(const sluice_conf_t *conf, sl_scope_t scope,
                  rd_kafka_conf_t *rkconf, char *errstr, size_t errstr_size) {
        size_t i;
        for (i = 0; i < conf->prop_cnt; i++) {
                const sl_prop_t *p = &conf->props[i];
                char rkerr[SL_ERRSTR_SIZE];
                if (p->scope != SL_SCOPE_ALL && p->scope != scope)
                        continue;
                if (is_group_key(p->key) &&
                    (!strcmp(p->key, "group.instance.id") ||
                     (p->scope == SL_SCOPE_ALL && scope != SL_SCOPE_CONSUMER)))
                        continue;
                if (rd_kafka_conf_set(rkconf, p->key, p->value, rkerr,
                                      sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
                        sl_errstr(errstr, errstr_size,
                                  "configuration property \"%s\": %s",
                                  p->full, rkerr);
                        return -1;
                }
        }
        return 0;
}

/* The last value set for librdkafka key @key reaching clients of @scope,
 * or NULL. */
static const char *scope_prop(const sluice_conf_t *conf, sl_scope_t scope,
                              const char *key) {
        const char *v = NULL;
        size_t i;
        for (i = 0; i < conf->prop_cnt; i++)
                if ((conf->props[i].scope == SL_SCOPE_ALL ||
                     conf->props[i].scope == scope) &&
                    !strcmp(conf->props[i].key, key))
                        v = conf->props[i].value;
        return v;
}

int sl_conf_has(const sluice_conf_t *conf, sl_scope_t scope,
                const char *key) {
        return scope_prop(conf, scope, key) != NULL;
}

int sl_conf_group_setup(const sluice_conf_t *conf, rd_kafka_conf_t *rkconf,
                        int thread_idx, char *errstr, size_t errstr_size) {
        char v[300], rkerr[SL_ERRSTR_SIZE];
        size_t n = sizeof(v);
        const char *id;
        /* KIP-848 (group.protocol=consumer): the broker assigns, always
         * incrementally, and librdkafka refuses a client-side assignor */
        if (rd_kafka_conf_get(rkconf, "group.protocol", v, &n) !=
                RD_KAFKA_CONF_OK ||
            strcmp(v, "consumer")) {
                if (rd_kafka_conf_set(rkconf, "partition.assignment.strategy",
                                      "cooperative-sticky", rkerr,
                                      sizeof(rkerr))) {
                        sl_errstr(errstr, errstr_size,
                                  "partition.assignment.strategy: %s", rkerr);
                        return -1;
                }
        }
        /* static membership: one member per thread, named as Kafka
         * Streams names them (<group.instance.id>-<thread number>) */
        if ((id = scope_prop(conf, SL_SCOPE_CONSUMER, "group.instance.id"))) {
                snprintf(v, sizeof(v), "%s-%d", id, thread_idx + 1);
                if (rd_kafka_conf_set(rkconf, "group.instance.id", v, rkerr,
                                      sizeof(rkerr))) {
                        sl_errstr(errstr, errstr_size,
                                  "group.instance.id: %s", rkerr);
                        return -1;
                }
        }
        return 0;
}

int sl_conf_commit_interval_ms(const sluice_conf_t *conf) {
        if (conf->commit_interval_ms >= 0)
                return conf->commit_interval_ms;
        return conf->guarantee == SL_EOS_V2 ? 100 : 30000;
}

int sl_conf_txn_timeout_ms(const sluice_conf_t *conf) {
        const char *v = scope_prop(conf, SL_SCOPE_PRODUCER,
                                   "transaction.timeout.ms");
        int n;
        if (!v)
                return SL_TXN_TIMEOUT_DEFAULT_MS;
        /* librdkafka checked it when it was set: 1000..INT_MAX */
        return parse_int(v, 0, INT_MAX, &n) ? -1 : n;
}

const char *sluice_conf_get(const sluice_conf_t *conf, const char *key) {
        size_t i;
        if (!conf || !key)
                return NULL;
        if (!strcmp(key, "processing.guarantee"))
                return conf->guarantee == SL_EOS_V2 ? "exactly_once_v2"
                                                    : "at_least_once";
        if (!strcmp(key, "state.dir"))
                return conf->state_dir ? conf->state_dir : "/tmp/sluice";
        for (i = 0; i < conf->prop_cnt; i++)
                if (!strcmp(conf->props[i].full, key))
                        return conf->props[i].value;
        /* defaults of keys that were not set */
        if (!strcmp(key, "commit.interval.ms"))
                return conf->guarantee == SL_EOS_V2 ? "100" : "30000";
        if (!strcmp(key, "num.stream.threads"))
                return "1";
        if (!strcmp(key, "__emit.interval.ms.kstreams.outer.join."
                         "spurious.results.fix__"))
                return "1000";
        if (!strcmp(key, "sluice.embedded"))
                return "false";
        if (!strcmp(key, "sluice.metrics.log.interval.ms"))
                return "0";
        if (!strcmp(key, "sluice.task.placement"))
                return "together";
        if (!strcmp(key, "default.deserialization.exception.handler") ||
            !strcmp(key, "processing.exception.handler"))
                return "log_and_fail";
        if (!strcmp(key, "sluice.embedded.partitions"))
                return "4";
        if (!strcmp(key, "default.dsl.store"))
                return "in_memory";
        if (!strcmp(key, "statestore.cache.max.bytes"))
                return "10485760";
        if (!strcmp(key, "default.timestamp.extractor"))
                return "fail_on_invalid";
        return NULL;
}

sluice_resp_t sluice_conf_register_store(sluice_conf_t *conf,
                                         const sluice_store_type_t *type,
                                         char *errstr, size_t errstr_size) {
        static const char *const builtin[] = {"in_memory", "memory", "lmdb",
                                              "persistent"};
        const sluice_store_type_t **arr;
        size_t i;
        if (!conf || !type) {
                sl_errstr(errstr, errstr_size, "conf or type is NULL");
                return SLUICE_ERR_INVALID_ARG;
        }
        if (type->version < 1 || type->version > SLUICE_STORE_VERSION) {
                sl_errstr(errstr, errstr_size,
                          "store type \"%s\": version %d, expected 1 to %d "
                          "(SLUICE_STORE_VERSION)",
                          type->name ? type->name : "?", type->version,
                          SLUICE_STORE_VERSION);
                return SLUICE_ERR_INVALID_ARG;
        }
        if (!type->name || !*type->name ||
            strspn(type->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                               "TUVWXYZ0123456789._-") != strlen(type->name)) {
                sl_errstr(errstr, errstr_size,
                          "store type name \"%s\" is not [a-zA-Z0-9._-]+",
                          type->name ? type->name : "(null)");
                return SLUICE_ERR_INVALID_ARG;
        }
        if (!type->open || !type->close || !type->get || !type->put ||
            !type->del || !type->iter_open || !type->iter_next ||
            !type->iter_close || !type->flush || !type->approximate_count) {
                sl_errstr(errstr, errstr_size,
                          "store type \"%s\": every function must be set",
                          type->name);
                return SLUICE_ERR_INVALID_ARG;
        }
        if (type->version >= 2 && !type->flush_offset != !type->read_offset) {
                sl_errstr(errstr, errstr_size,
                          "store type \"%s\": flush_offset and read_offset "
                          "go together (set both or neither)",
                          type->name);
                return SLUICE_ERR_INVALID_ARG;
        }
        for (i = 0; i < sizeof(builtin) / sizeof(*builtin); i++)
                if (!strcmp(builtin[i], type->name)) {
                        sl_errstr(errstr, errstr_size,
                                  "store type name \"%s\" is built in",
                                  type->name);
                        return SLUICE_ERR_INVALID_ARG;
                }
        for (i = 0; i < conf->store_type_cnt; i++)
                if (!strcmp(conf->store_types[i]->name, type->name)) {
                        sl_errstr(errstr, errstr_size,
                                  "store type \"%s\" is already registered",
                                  type->name);
                        return SLUICE_ERR_INVALID_ARG;
                }
        arr = realloc(conf->store_types,
                      (conf->store_type_cnt + 1) * sizeof(*arr));
        if (!arr) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        arr[conf->store_type_cnt++] = type;
        conf->store_types           = arr;
        return SLUICE_OK;
}

void sluice_conf_set_restore_cb(sluice_conf_t *conf, sluice_restore_cb *cb,
                                void *opaque) {
        if (!conf)
                return;
        conf->restore_cb     = cb;
        conf->restore_opaque = opaque;
}

void sluice_conf_set_log_cb(sluice_conf_t *conf, sluice_log_cb *cb,
                            sluice_log_level_t max_level, void *opaque) {
        if (!conf)
                return;
        conf->log_cb     = cb;
        conf->log_level  = max_level;
        conf->log_opaque = opaque;
}
