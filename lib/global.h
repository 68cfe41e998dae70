/*
 * global.h - global tables (Kafka Streams' GlobalKTable): their builder
 * handle, the stores every instance holds in full, and the global thread
 * that bootstraps and then follows their topics (lib/global.c).
 *
 * Concurrency: one mutex (sl_global_t.lock) guards every global store's
 * backend and counters. The global thread (or, in host-driven mode and
 * under the test driver, the one thread that drives everything) is the
 * only writer; stream tasks on any stream thread (join lookups) and local
 * queries on any thread are readers, each holding the lock for one get
 * (and the decoding of its value into the task's arena) or for one range
 * with its callback. A stream thread may hold its task's lock when it
 * takes this one; nothing that holds this lock takes any other Sluice
 * lock, so there is no lock-order cycle. The store's bytes never leave
 * the lock (a lookup decodes them under it).
 */
#ifndef SLUICE_GLOBAL_H
#define SLUICE_GLOBAL_H

#include "common.h"
#include "topology.h"

#include <pthread.h>
#include <stdatomic.h>
#include <threads.h>

#include <librdkafka/rdkafka.h>

/* A global table of the topology (the builder's handle). */
struct sluice_global_table_s {
        sluice_topology_t *t;
        int idx; /* in t->globals */
        char *topic;
        char *store;            /* the store's name */
        char *source_name;      /* describe: KSTREAM-SOURCE-<n> */
        char *processor_name;   /* describe: KTABLE-SOURCE-<n> */
        const sluice_serde_t *key_serde, *value_serde;
};

/* One global store at run time. */
typedef struct sl_gstore_s {
        const sluice_global_table_t *def;
        const sluice_store_type_t *type;
        void *h;
        int32_t partition_cnt;
        int64_t *next; /* per partition: the next offset to apply */
        int64_t *end;  /* per partition: the end offset at bootstrap */
        int64_t *ckpt; /* per partition: the checkpointed next offset
                          (-1: none), read at open, used by the assign */
        uint64_t records; /* updates applied (puts and deletes) */
        uint64_t skipped; /* null-key records (not stored) */
} sl_gstore_t;

typedef struct sl_global_s {
        const sluice_topology_t *t;
        const sluice_conf_t *conf;
        /* guards stores' backends, counters, buf; a POSIX mutex, not C11's
         * mtx_t: ThreadSanitizer sees glibc's pthread_mutex_lock but not
         * the mtx_lock that calls it internally, and this lock is the one
         * shared across threads by design */
        pthread_mutex_t lock;
        sl_gstore_t *stores;
        size_t cnt;
        sluice_buf_t buf; /* the writer's timestamp + value scratch */
        /* persistent backends: <state base>/global holds a directory per
         * store and .checkpoint ("<store> <partition> <next offset>" per
         * line), written after a flush of every store; NULL: in memory */
        char *dir;
        int persistent;
        int64_t last_ckpt_ms;

        /* the Kafka runtime (sl_global_start()) */
        rd_kafka_t *consumer;
        rd_kafka_queue_t *q;
        thrd_t thr;
        int started;         /* the thread runs */
        atomic_int *stop;    /* the app is stopping */
        atomic_int running;  /* bootstrapped and following */
        uint64_t consumed;   /* records polled (lock) */
        int64_t bootstrap_ms; /* how long the bootstrap took (lock) */
        char error[SL_ERRSTR_SIZE]; /* set before app fails */
        struct sluice_app_s *app;
} sl_global_t;

/* Open the global stores of @t (none: *out = NULL, 0) with the conf's
 * default.dsl.store; a persistent one lives under @state_base/global
 * (NULL: every store in memory, as the test driver's). 0 or an error
 * with errstr. */
int sl_global_new(const sluice_topology_t *t, const sluice_conf_t *conf,
                  const char *state_base, sl_global_t **out, char *errstr,
                  size_t errstr_size);
/* Persistent stores: flush them and write .checkpoint. 0 or -1. */
int sl_global_checkpoint(sl_global_t *g);
/* Stop the thread (if started), close the consumer, the stores. */
void sl_global_destroy(sl_global_t *g);

/* The global table whose topic is @topic, or -1. */
int sl_global_by_topic(const sluice_topology_t *t, const char *topic);
/* The global table whose store is @store, or -1. */
int sl_global_by_store(const sluice_topology_t *t, const char *store);

/* Apply a record of global table @idx's topic: @value NULL deletes; a
 * NULL key is skipped. Takes the lock. 0 or an error with errstr. */
int sl_global_apply(sl_global_t *g, int idx, const void *key, size_t klen,
                    const void *value, size_t vlen, int64_t ts, char *errstr,
                    size_t errstr_size);

/* Local queries: as sluice_kv_get() / sluice_kv_range() on global store
 * @idx, under the lock (held while @cb runs). */
int sl_global_get(sl_global_t *g, int idx, const void *key, size_t klen,
                  sluice_kv_cb *cb, void *opaque);
int64_t sl_global_range(sl_global_t *g, int idx, const void *from,
                        size_t from_len, const void *to, size_t to_len,
                        sluice_kv_cb *cb, void *opaque);

/* A join's lookup of key bytes @k in global store @idx: 1 with the value
 * decoded by the table's value serde into *out (owned per *owned;
 * strings in @task's arena), 0 if absent, < 0 an error (sl_fail() for
 * @node). */
int sl_global_lookup(sl_task_t *task, const sl_node_t *node, int idx,
                     const void *k, size_t klen, sluice_value_t *out,
                     int *owned);

/* The Kafka runtime. Start: create the global consumer, assign every
 * partition of every global topic from the beginning, and apply records
 * until each partition reached the end offset it had when the bootstrap
 * began (blocking, on the caller's thread; @app->stop aborts it). Then,
 * unless the app is host-driven, start the global thread, which follows
 * the topics until the app stops. 0 or -1 with errstr. */
int sl_global_start(sl_global_t *g, struct sluice_app_s *app, char *errstr,
                    size_t errstr_size);
/* Host-driven: apply up to @budget records without blocking. Returns how
 * many, or -1 after an error (app failed). */
int sl_global_step(sl_global_t *g, int budget);
/* Metrics: the "global" object of sluice_app_metrics_json() appended to
 * @s (the lock taken). */
void sl_global_metrics(sl_global_t *g, sl_str_t *s);

#endif
