/*
 * task.h - one task: runs records of its sub-topology through the nodes,
 * depth-first. The same code runs under the test driver and the Kafka
 * runtime; they differ only in the sink writer they plug in.
 */
#ifndef SLUICE_TASK_H
#define SLUICE_TASK_H

#include "common.h"
#include "topology.h"

/* Where a sink's output goes. @partition is -1 if left to the producer. */
typedef int(sl_write_fn)(void *opaque, const sl_node_t *sink,
                         const char *topic, int32_t partition, const void *key,
                         size_t key_len, const void *value, size_t value_len,
                         int64_t timestamp, const sluice_header_t *headers,
                         size_t header_cnt, char *errstr, size_t errstr_size);
/* Partition count of @topic for a sink's partitioner; < 1 if unknown. */
typedef int32_t(sl_partition_cnt_fn)(void *opaque, const char *topic);

/* Record flags. */
#define SL_REC_KEY_OWNED 0x1u    /* this record releases key's JSON/object */
#define SL_REC_VALUE_OWNED 0x2u  /* this record releases value's JSON/object */
#define SL_REC_HDRS_PRIVATE 0x4u /* headers array is this record's copy */
#define SL_REC_KEY_SET 0x8u      /* key set by the current callback */
#define SL_REC_VALUE_SET 0x10u   /* value set by the current callback */

typedef struct sl_task_s sl_task_t;

struct sluice_record_s {
        sluice_value_t key, value;
        int64_t timestamp;
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
        uint64_t dead_lettered; /* undecodable, sent to the DLQ topic */
        uint64_t produced;      /* records written by sinks */
};

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
