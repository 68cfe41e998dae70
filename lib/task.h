/*
 * task.h - one task: runs records of its sub-topology through the nodes,
 * depth-first. The same code runs under the test driver and the Kafka
 * runtime; they differ only in the sink writer they plug in.
 */
#ifndef SLUICE_TASK_H
#define SLUICE_TASK_H

#include "common.h"
#include "state.h"

#include <stdatomic.h>
#include <threads.h>
#include "topology.h"

/* Where a sink's output goes. @partition is -1 if left to the producer. */
typedef int(sl_write_fn)(void *opaque, const sl_node_t *sink,
                         const char *topic, int32_t partition, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         int64_t timestamp, const sluice_header_t *headers,
                         size_t header_cnt, char *errstr, size_t errstr_size);
/* Write a store update to its changelog (partition = the task's). */
typedef int(sl_clog_write_fn)(void *opaque, sluice_kv_t *kv, const void *key,
                              size_t key_len, const void *value,
                              size_t value_len, int64_t timestamp,
                              char *errstr, size_t errstr_size);
/* Partition count of @topic for a sink's partitioner; < 1 if unknown. */
typedef int32_t(sl_partition_cnt_fn)(void *opaque, const char *topic);

/* Record flags. */
#define SL_REC_KEY_OWNED 0x1u    /* this record releases key's JSON/object */
#define SL_REC_VALUE_OWNED 0x2u  /* this record releases value's JSON/object */
#define SL_REC_HDRS_PRIVATE 0x4u /* headers array is this record's copy */
#define SL_REC_KEY_SET 0x8u      /* key set by the current callback */
#define SL_REC_VALUE_SET 0x10u   /* value set by the current callback */
#define SL_REC_OLD_OWNED 0x20u   /* this record releases old's JSON/object */
#define SL_REC_HAS_OLD 0x40u     /* a table update: old holds the old value */
#define SL_REC_WIN_TIME 0x80u    /* key is windowed: time/sliding window */
#define SL_REC_WIN_SESSION 0x100u /* key is windowed: session window */
#define SL_REC_WINDOWED (SL_REC_WIN_TIME | SL_REC_WIN_SESSION)
/* a table update from a versioned table (lib/versioned.h, KIP-914): */
#define SL_REC_VERSIONED 0x200u  /* ... its table is versioned */
#define SL_REC_NOT_LATEST 0x400u /* ... out of order: not the latest
                                    version once put (Change.isLatest
                                    false); a table group_by, table-table
                                    and foreign-key joins drop it */
#define SL_REC_VERSION_FLAGS (SL_REC_VERSIONED | SL_REC_NOT_LATEST)

struct sluice_record_s {
        sluice_value_t key, value;
        sluice_value_t old; /* table updates (SL_REC_HAS_OLD) */
        int64_t timestamp;
        int64_t win_start, win_end; /* SL_REC_WINDOWED: the key's window */
        const sluice_header_t *headers;
        size_t header_cnt;
        unsigned flags;
        /* The bytes key/value arrived as, while unchanged; the serde that
         * decoded them (a sink with the same serde writes these bytes). */
        const void *raw_key, *raw_value;
        size_t raw_key_len, raw_value_len;
        const sluice_serde_t *raw_key_serde, *raw_value_serde;
        /* origin */
        const char *topic;
        int32_t partition;
        int64_t offset;
        sl_task_t *task;
};

/* The partition time of one input partition of a task (lib/timestamp.c):
 * the largest timestamp decided for its records, -1 before the first. */
typedef struct sl_part_time_s {
        char *topic;
        int32_t partition;
        int64_t time;
} sl_part_time_t;

struct sl_task_s {
        const sluice_topology_t *t;
        const sluice_conf_t *conf;
        int subtopology;
        int32_t partition;
        sl_arena_t arena;     /* per input record */
        sluice_buf_t kbuf, vbuf; /* sink serialization scratch */
        sl_write_fn *write;
        sl_partition_cnt_fn *partition_cnt;
        void *io_opaque;
        char errstr[SL_ERRSTR_SIZE];
        /* counters, read by the owner of the task */
        uint64_t consumed;      /* records handed to sl_task_process */
        uint64_t processed;     /* ... that went through without error */
        uint64_t skipped;       /* undecodable, skipped by the handler */
        uint64_t dead_lettered; /* undecodable or unprocessable, to the DLQ */
        uint64_t skipped_processing; /* failed processing, skipped */
        size_t dlq_max;         /* largest record the DLQ takes; 0: any */
        atomic_int *stop;       /* the app is stopping (NULL: driver) */
        int broken;             /* a store flush failed: nothing it holds
                                   may be vouched for, no record routed */
        int64_t bad_log_ms;     /* rate limit of bad-record log lines */
        uint64_t bad_logged, bad_unlogged;
        uint64_t produced;      /* records written by sinks */
        uint64_t dropped;       /* null key/value at an aggregation etc. */
        uint64_t skipped_invalid_timestamp; /* timestamp < 0: dropped */

        /* timestamps (lib/timestamp.c) */
        int ts_policy;          /* default.timestamp.extractor, SL_TS_* */
        sl_part_time_t *ptimes; /* partition time per input partition, kept
                                   where something reads it: sources with
                                   an extractor, or every one under
                                   use_partition_time_on_invalid */
        size_t ptime_cnt, ptime_cap, ptime_last;

        /* state */
        char *dir;              /* <state base>/<sub>_<partition> */
        sluice_kv_t **kvs;      /* by store index; NULL: not this task's */
        size_t kv_cnt;
        sl_cache_budget_t *budget; /* shared by the owner's tasks */
        sl_clog_write_fn *clog_write; /* NULL: no changelog */
        /* the task's nodes with per-task work (ops->open, ready,
         * punctuate, close), in node order, and that work's state by node
         * id (a processor's context) */
        const sl_node_t **hooked;
        size_t hooked_cnt;
        void **node_state;
        size_t punct_cnt;       /* punctuations the nodes scheduled */
        int64_t stream_time;    /* -1 until the first record */
        int64_t wall_time;      /* of the last wall-clock check */
        int started;            /* sl_task_start() ran */
        int ready;              /* sl_task_ready() ran: processors inited */
        int restoring;          /* stores still restoring */
        int locking;            /* lock guards the stores (app mode) */
        /* the global stores (lib/global.h; NULL: none), shared by every
         * task of the app or driver, read under their own lock */
        struct sl_global_s *global;
        mtx_t lock;
        sluice_buf_t obuf, cbuf; /* change records: old value, whole */
};

/* Open the task's stores (processors' init waits for sl_task_ready()).
 * @budget is shared by
 * the owner's tasks; @locking: local queries come from other threads.
 * Its directory is <state_base>/<sub>_<partition>.
 * 0 or an error with errstr. */
int sl_task_start(sl_task_t *task, const char *state_base,
                  sl_cache_budget_t *budget, int locking, char *errstr,
                  size_t errstr_size);
/* The stores are restored: run processors' init. 0 or an error. */
int sl_task_ready(sl_task_t *task, char *errstr, size_t errstr_size);
/* Flush every store's cache (forwarding its updates). 0 or an error. */
int sl_task_flush(sl_task_t *task);
/* After the changelog is durable: flush the backends and write the
 * checkpoint of the persistent ones. 0 or an error (task->errstr). */
int sl_task_checkpoint(sl_task_t *task, int write_file);
/* Run the wall-clock punctuations due at @now_ms. 0 or an error. */
int sl_task_punctuate_wall(sl_task_t *task, int64_t now_ms);
/* Close the nodes (ops->close) and the stores (sl_task_destroy calls
 * it). */
void sl_task_state_free(sl_task_t *task);
/* Stream-time punctuations due after a record. 0 or an error. */
int sl_task_punctuate_stream(sl_task_t *task);
/* A store instance of the task by name, or NULL. */
sluice_kv_t *sl_task_kv(const sl_task_t *task, const char *store);

/* task.c internals shared with the operator files */

/* Run @rec through @node: what every parent does for each child. */
static inline int sl_process(sl_task_t *task, const sl_node_t *node,
                             sluice_record_t *rec) {
        return node->ops->process(task, node, rec);
}
/* sl_forward() for no child or several (the others get shallow copies
 * that own nothing, the last one the record itself). */
int sl_forward_many(sl_task_t *task, const sl_node_t *node,
                    sluice_record_t *rec);
/* Hand @rec to @node's children, depth-first. Inline: the one-child case
 * is every record's path through a stateless chain. */
static inline int sl_forward(sl_task_t *task, const sl_node_t *node,
                             sluice_record_t *rec) {
        if (SL_LIKELY(node->child_cnt == 1))
                return sl_process(task, node->children[0], rec);
        return sl_forward_many(task, node, rec);
}
/* What sluice_emit() writes through: a flat_map's or a processor's
 * records, each a fresh record with the input's metadata. */
struct sluice_emitter_s {
        sl_task_t *task;
        const sl_node_t *node;
        const sluice_record_t *in;
        int values_only;
        int err; /* first error; later emits are refused with it */
        int has_ts;
        int64_t ts; /* the emitted records' timestamp, if has_ts */
};
int sl_fail(sl_task_t *task, const sl_node_t *node, int err, const char *fmt,
            const char *arg);
int sl_value_adopt(sl_task_t *task, sluice_value_t *v, int *owned);
void sl_value_release(sluice_value_t *v);
void sl_record_release(sluice_record_t *rec);
/* Decode @data with @serde into @out (strings copied into the arena, so
 * they outlive @data); *owned: out holds a JSON/object reference. */
int sl_decode(sl_task_t *task, const sluice_serde_t *serde, const void *data,
              size_t len, sluice_value_t *out, int *owned, char *why,
              size_t why_size);
/* Encode @v with @serde into @buf (or point at @v's own bytes). */
int sl_encode(const sluice_serde_t *serde, const sluice_value_t *v,
              sluice_buf_t *buf, const void **out, size_t *out_len, char *why,
              size_t why_size);
/* Change(new, old), the value a table's group_by writes to its repartition
 * topic for the aggregation behind it:
 *     [flags: 1 new, 2 old][u32 big-endian length of new][new][old]
 * A NULL new_v / old_v is absent (Kafka null); its length is 0. */
typedef struct sl_change_s {
        const void *new_v, *old_v;
        size_t new_len, old_len;
} sl_change_t;
/* Encode @c into @buf (from buf->len = 0). Returns 0, SLUICE_ERR_NOMEM, or
 * SLUICE_ERR_SERDE if new is longer than the u32 length can say. */
int sl_change_encode(const sl_change_t *c, sluice_buf_t *buf);
/* Decode @len bytes at @data (NULL: a Kafka null) into @out, pointing into
 * @data. Returns 0, or -1 for a malformed record. */
int sl_change_decode(const void *data, size_t len, sl_change_t *out);
/* Kafka Streams' windowed key bytes of @rec (SL_REC_WINDOWED): @k (the
 * key's bytes; may be @buf's own data) then the window, into @buf. */
int sl_window_key_append(sluice_buf_t *buf, const void *k, size_t klen,
                         const sluice_record_t *rec);
/* op_window.c: if @serde is a windowed serde, the window of the key
 * bytes @data: 1 with the flags (SL_REC_WIN_*) and bounds, else 0. */
int sl_window_key_read(const sluice_serde_t *serde, const void *data,
                       size_t len, unsigned *flags, int64_t *start,
                       int64_t *end);
/* A skipped or dead-lettered record: a WARNING "<what> record at topic
 * ... offset ...: <task->errstr>", at most 10 lines a second per task. */
void sl_bad_record_log(sl_task_t *task, const char *what, const char *topic,
                       int32_t partition, int64_t offset);
/* Add the operators' own counters (ops->metrics) of @task's nodes to the
 * JSON object @obj. 0, or -1 if @obj is NULL. */
int sl_task_metrics_operators(const sl_task_t *task, struct json_t *obj);

/* lib/timestamp.c: decide the timestamp of @rec, just decoded at @source
 * (rec->timestamp holds the Kafka one): the source's extractor, else the
 * conf's default.timestamp.extractor; the partition time follows. Returns
 * 1: rec->timestamp is set, process the record; 0: dropped (negative:
 * logged, counted in skipped_invalid_timestamp); < 0: the record fails
 * (SLUICE_ERR_TIMESTAMP, SLUICE_ERR_NOMEM; task->errstr says why). */
int sl_ts_extract(sl_task_t *task, const sl_node_t *source,
                  sluice_record_t *rec);
/* lib/timestamp.c: free the partition-time table. */
void sl_ts_free(sl_task_t *task);

/* The emitter a processor's context forwards through (task.c). */
int sl_emit_from(sl_task_t *task, const sl_node_t *node,
                 const sluice_record_t *in, sluice_value_t key,
                 sluice_value_t value, int64_t timestamp);

void sl_task_init(sl_task_t *task, const sluice_topology_t *t,
                  const sluice_conf_t *conf, int subtopology,
                  int32_t partition, sl_write_fn *write,
                  sl_partition_cnt_fn *partition_cnt, void *io_opaque);
void sl_task_destroy(sl_task_t *task);

/*
 * Check the conf's runtime settings that the task relies on (e.g. the
 * dead-letter handler needs its topic). conf may be NULL. 0 or -1+errstr.
 */
int sl_task_conf_check(const sluice_conf_t *conf, char *errstr,
                       size_t errstr_size);

/*
 * Process one input record that @source read from @topic. @key / @value NULL
 * are Kafka nulls. A record the source cannot decode goes to the conf's
 * deserialization handler (fail: the error; log_and_continue: logged,
 * counted, 0; dead_letter: written as it came to the DLQ topic with the
 * reason in headers, 0). Returns 0, or an error with task->errstr set.
 */
int sl_task_process(sl_task_t *task, const sl_node_t *source,
                    const char *topic, int32_t partition, int64_t offset,
                    const void *key, size_t key_len, const void *value,
                    size_t value_len, int64_t timestamp,
                    const sluice_header_t *headers, size_t header_cnt);

#endif
