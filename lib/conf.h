/*
 * conf.h - the configuration object's internals.
 */
#ifndef SLUICE_CONF_H
#define SLUICE_CONF_H

#include "sluice.h"

typedef enum {
        SL_ALOS = 0, /* at_least_once */
        SL_EOS_V2    /* exactly_once_v2 */
} sl_guarantee_t;

/* default.deserialization.exception.handler */
enum { SL_DESER_FAIL = 0, SL_DESER_CONTINUE, SL_DESER_DLQ };

/* default.timestamp.extractor: what a negative Kafka timestamp does at a
 * source without an extractor callback (lib/timestamp.c) */
enum { SL_TS_FAIL = 0, SL_TS_SKIP, SL_TS_PARTITION_TIME };

/* Which clients a passthrough property applies to. */
typedef enum {
        SL_SCOPE_SLUICE = -1, /* one of Sluice's own keys */
        SL_SCOPE_ALL = 0,
        SL_SCOPE_CONSUMER,
        SL_SCOPE_PRODUCER,
        SL_SCOPE_ADMIN
} sl_scope_t;

typedef struct sl_prop_s {
        sl_scope_t scope;
        char *key;   /* without the scope prefix */
        char *value;
        char *full;  /* the key as the user wrote it */
} sl_prop_t;

struct sluice_conf_s {
        /* Sluice's own keys, parsed */
        char *application_id;
        char *state_dir;
        sl_guarantee_t guarantee;
        int commit_interval_ms; /* -1: default for the guarantee */
        int num_stream_threads;
        int deser_handler;       /* SL_DESER_* */
        int proc_handler;        /* processing.exception.handler, SL_DESER_* */
        char *dlq_topic;         /* errors.deadletterqueue.topic.name */
        int metrics_log_ms;      /* sluice.metrics.log.interval.ms */
        /* sluice.task.placement: 0 together (one lead topic for the whole
         * topology), 1 per_subtopology (one per sub-topology) */
        int placement_per_sub;
        int embedded;            /* sluice.embedded */
        int embedded_partitions; /* sluice.embedded.partitions */
        char *default_store;     /* default.dsl.store; NULL: in_memory */
        int64_t cache_max_bytes; /* statestore.cache.max.bytes */
        int ts_extractor;        /* default.timestamp.extractor, SL_TS_* */
        /* __emit.interval.ms.kstreams.outer.join.spurious.results.fix__:
         * left/outer stream-stream joins look for closed windows at most
         * this often (wall clock; Kafka Streams' internal config) */
        int join_emit_interval_ms;

        /* store types registered with sluice_conf_register_store() */
        const sluice_store_type_t **store_types;
        size_t store_type_cnt;
        sluice_restore_cb *restore_cb;
        void *restore_opaque;

        /* every key set, in order: Sluice's own and passthrough */
        sl_prop_t *props;
        size_t prop_cnt, prop_cap;

        sluice_log_cb *log_cb;
        sluice_log_level_t log_level;
        void *log_opaque;
};

/* Apply the passthrough properties for a client of @scope to @rkconf.
 * Returns 0 or -1 with errstr. */
struct rd_kafka_conf_s;
int sl_conf_apply(const sluice_conf_t *conf, sl_scope_t scope,
                  struct rd_kafka_conf_s *rkconf, char *errstr,
                  size_t errstr_size);

/* 1 if the user set @key (without prefix) for clients of @scope. */
int sl_conf_has(const sluice_conf_t *conf, sl_scope_t scope, const char *key);

/* The consumer group settings of stream thread @thread_idx's consumer (the
 * one in the app's group), after sl_conf_apply(): the assignor under the
 * classic protocol, the thread's group.instance.id. 0 or -1 with errstr. */
int sl_conf_group_setup(const sluice_conf_t *conf,
                        struct rd_kafka_conf_s *rkconf, int thread_idx,
                        char *errstr, size_t errstr_size);

/* Effective commit interval (default depends on the guarantee). */
int sl_conf_commit_interval_ms(const sluice_conf_t *conf);

/* Under exactly_once_v2: the producers' transaction.timeout.ms, the user's
 * (transaction.timeout.ms or producer.transaction.timeout.ms) or Kafka
 * Streams' default 10000; -1 if the user's value is not a number. */
#define SL_TXN_TIMEOUT_DEFAULT_MS 10000
int sl_conf_txn_timeout_ms(const sluice_conf_t *conf);

/* 0 if the linked librdkafka is new enough, else fills errstr. */
int sl_rdkafka_version_check(char *errstr, size_t errstr_size);

#endif
