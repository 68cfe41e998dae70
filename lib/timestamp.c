/*
 * timestamp.c - what a record's timestamp is: the builder calls that give
 * a source an extractor callback, `default.timestamp.extractor` for a
 * negative Kafka timestamp at a source without one, and the partition
 * time of each input partition of a task (Kafka Streams' RecordQueue and
 * TimestampExtractor; see the header's "Timestamps").
 *
 * sl_task_process() calls sl_ts_extract() only when there is something to
 * decide: a source with an extractor, a negative timestamp, or a conf that
 * substitutes partition time (then every partition's time is kept). The
 * common record - no extractor, a valid timestamp - costs one branch.
 *
 * Thread-safety: the builder calls as every builder call (one thread, before
 * the topology is frozen); sl_ts_extract() on the task's thread, with the
 * task's own table.
 */
#include "conf.h"
#include "task.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- builder ---- */

/* @src takes @cb (a second call replaces the first). */
static int set_extractor(sl_node_t *src, sluice_timestamp_extractor_cb *cb,
                         void *opaque) {
        src->ts_cb     = cb;
        src->ts_opaque = opaque;
        return 0;
}

int sluice_stream_set_timestamp_extractor(sluice_stream_t *s,
                                          sluice_timestamp_extractor_cb *cb,
                                          void *opaque) {
        const char *call = "sluice_stream_set_timestamp_extractor";
        if (!s)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(s->t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (!cb) {
                sl_topo_error(s->t, "%s: callback is NULL", call);
                return SLUICE_ERR_TOPOLOGY;
        }
        if (s->node->kind != SL_NODE_SOURCE) {
                sl_topo_error(s->t,
                              "%s: the stream of node \"%s\" is not a source "
                              "stream (only a stream from "
                              "sluice_stream_from*() takes a timestamp "
                              "extractor)",
                              call, s->node->name);
                return SLUICE_ERR_TOPOLOGY;
        }
        if (s->node->internal) {
                sl_topo_error(s->t,
                              "%s: node \"%s\" reads a repartition topic "
                              "(only a stream from sluice_stream_from*() "
                              "takes a timestamp extractor)",
                              call, s->node->name);
                return SLUICE_ERR_TOPOLOGY;
        }
        return set_extractor(s->node, cb, opaque);
}

int sluice_table_set_timestamp_extractor(sluice_table_t *tbl,
                                         sluice_timestamp_extractor_cb *cb,
                                         void *opaque) {
        const char *call = "sluice_table_set_timestamp_extractor";
        sl_node_t *n;
        if (!tbl)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(tbl->t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (!cb) {
                sl_topo_error(tbl->t, "%s: callback is NULL", call);
                return SLUICE_ERR_TOPOLOGY;
        }
        n = tbl->node;
        /* sluice_table_from(): a source, then the node materializing it */
        if (n->kind != SL_NODE_TABLE_SOURCE || n->parent_cnt != 1 ||
            n->parents[0]->kind != SL_NODE_SOURCE) {
                sl_topo_error(tbl->t,
                              "%s: the table of node \"%s\" is not a source "
                              "table (only a table from sluice_table_from() "
                              "takes a timestamp extractor)",
                              call, n->name);
                return SLUICE_ERR_TOPOLOGY;
        }
        return set_extractor(n->parents[0], cb, opaque);
}

/* ---- partition time ---- */

/* The partition-time entry of @topic / @partition, made at -1 if new; NULL
 * on OOM. The last one found is tried first: a task reads few partitions,
 * usually one. */
static sl_part_time_t *ptime_of(sl_task_t *task, const char *topic,
                                int32_t partition) {
        sl_part_time_t *p;
        size_t i;
        if (SL_LIKELY(task->ptime_cnt)) {
                p = &task->ptimes[task->ptime_last];
                if (p->partition == partition && !strcmp(p->topic, topic))
                        return p;
        }
        for (i = 0; i < task->ptime_cnt; i++) {
                p = &task->ptimes[i];
                if (p->partition == partition && !strcmp(p->topic, topic)) {
                        task->ptime_last = i;
                        return p;
                }
        }
        if (sl_grow((void **)&task->ptimes, &task->ptime_cap, task->ptime_cnt,
                    sizeof(*task->ptimes)))
                return NULL;
        p = &task->ptimes[task->ptime_cnt];
        if (!(p->topic = sl_strdup(topic)))
                return NULL;
        p->partition     = partition;
        p->time          = -1;
        task->ptime_last = task->ptime_cnt++;
        return p;
}

void sl_ts_free(sl_task_t *task) {
        size_t i;
        for (i = 0; i < task->ptime_cnt; i++)
                free(task->ptimes[i].topic);
        free(task->ptimes);
        task->ptimes    = NULL;
        task->ptime_cnt = task->ptime_cap = task->ptime_last = 0;
}

/* ---- deciding ---- */

/* A record whose timestamp came out negative: logged (task->errstr says
 * why), counted, dropped. */
static int drop(sl_task_t *task, const sluice_record_t *rec) {
        task->skipped_invalid_timestamp++;
        sl_bad_record_log(task, "skipping", rec->topic, rec->partition,
                          rec->offset);
        return 0;
}

int sl_ts_extract(sl_task_t *task, const sl_node_t *source,
                  sluice_record_t *rec) {
        int64_t ts = rec->timestamp;
        sl_part_time_t *pt = NULL;
        if (source->ts_cb || task->ts_policy == SL_TS_PARTITION_TIME) {
                if (!(pt = ptime_of(task, rec->topic, rec->partition))) {
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": out of memory", source->name);
                        return SLUICE_ERR_NOMEM;
                }
        }
        if (source->ts_cb) {
                ts = source->ts_cb(rec, pt->time, source->ts_opaque);
                if (ts < 0) {
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": the timestamp extractor "
                                  "returned %" PRId64
                                  " (negative: invalid)",
                                  source->name, ts);
                        return drop(task, rec);
                }
        } else if (ts < 0) {
                switch (task->ts_policy) {
                case SL_TS_SKIP:
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": invalid (negative) timestamp "
                                  "%" PRId64
                                  " (default.timestamp.extractor="
                                  "log_and_skip_on_invalid)",
                                  source->name, ts);
                        return drop(task, rec);
                case SL_TS_PARTITION_TIME:
                        if (pt->time >= 0) {
                                ts = pt->time;
                                break;
                        }
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": invalid (negative) timestamp "
                                  "%" PRId64
                                  " and no partition time yet to use "
                                  "instead (default.timestamp.extractor="
                                  "use_partition_time_on_invalid)",
                                  source->name, rec->timestamp);
                        return SLUICE_ERR_TIMESTAMP;
                default:
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": invalid (negative) timestamp "
                                  "%" PRId64
                                  " (default.timestamp.extractor="
                                  "fail_on_invalid; log_and_skip_on_invalid, "
                                  "use_partition_time_on_invalid or a "
                                  "timestamp extractor would process it)",
                                  source->name, ts);
                        return SLUICE_ERR_TIMESTAMP;
                }
        }
        if (pt && ts > pt->time)
                pt->time = ts;
        rec->timestamp = ts;
        return 1;
}
