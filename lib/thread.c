/*
 * thread.c - one stream thread: a consumer in the app's group, a producer
 * for everything its tasks write, and the tasks of the partitions it holds.
 *
 * The commit path is one place, thread_commit(): flush the producer (every
 * output of the processed records is then acknowledged), then commit the
 * offsets of the processed records + 1. Exactly-once will wrap the same
 * place in a transaction. Offsets are tracked per record processed, never
 * taken from the consumer's position.
 */
#include "app.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The thread failed: the app goes to ERROR with @fmt as its error, and
 * this thread commits nothing more. What its tasks hold (caches, stores)
 * may no longer match the records it processed, e.g. after a store write
 * failed half-way through a flush: committing offsets or a checkpoint now
 * would vouch for updates that were lost. The records since the last
 * commit are processed again after a restart (at-least-once). */
static void thr_fail(sl_thread_t *thr, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void thr_fail(sl_thread_t *thr, const char *fmt, ...) {
        char buf[SL_ERRSTR_SIZE * 2];
        va_list ap;
        thr->fatal = 1;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        sl_app_fail(thr->app, "%s", buf);
}

/* ---- tasks ---- */

static int32_t thr_partition_cnt(void *opaque, const char *topic);
static int thr_write(void *opaque, const sl_node_t *sink, const char *topic,
                     int32_t partition, const void *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp,
                     const sluice_header_t *headers, size_t header_cnt,
                     char *errstr, size_t errstr_size);

static int thr_clog_write(void *opaque, sluice_kv_t *kv, const void *key,
                          size_t key_len, const void *value,
                          size_t value_len, int64_t timestamp, char *errstr,
                          size_t errstr_size);
static int restore_begin(sl_thread_t *thr, sl_task_t *task);
static int rk_fatal_check(sl_thread_t *thr);
static void restore_forget(sl_thread_t *thr, sl_task_t *task);

/* The task's stores are up to date: processors may start (their init
 * runs after restore, as in Kafka Streams). 0, or -1 with the app failed. */
static int task_ready(sl_thread_t *thr, sl_task_t *task) {
        char why[SL_ERRSTR_SIZE];
        if (sl_task_ready(task, why, sizeof(why))) {
                thr_fail(thr, "thread %d: task %d_%d: %s", thr->idx,
                            task->subtopology, (int)task->partition, why);
                return -1;
        }
        return 0;
}
static rd_kafka_conf_t *client_conf(sl_thread_t *thr, sl_scope_t scope,
                                    const char *role, int grouped,
                                    char *errstr, size_t errstr_size);
static rd_kafka_t *client_new(sl_thread_t *thr, rd_kafka_type_t type,
                               int grouped, char *errstr, size_t errstr_size);

/* The delivery slot of a store's changelog partition (kept across tasks:
 * librdkafka may report after a task closed). */
static sl_clog_slot_t *slot_get(sl_thread_t *thr, int store,
                                int32_t partition) {
        size_t i;
        sl_clog_slot_t *s, **arr;
        for (i = 0; i < thr->slot_cnt; i++)
                if (thr->slots[i]->store == store &&
                    thr->slots[i]->partition == partition)
                        return thr->slots[i];
        arr = realloc(thr->slots, (thr->slot_cnt + 1) * sizeof(*arr));
        if (!arr)
                return NULL;
        thr->slots = arr;
        if (!(s = calloc(1, sizeof(*s))))
                return NULL;
        s->store                    = store;
        s->partition                = partition;
        thr->slots[thr->slot_cnt++] = s;
        return s;
}

/* Serve delivery reports until none of @slot's records is in flight
 * (bounded by message.timeout.ms: each is then delivered or failed). */
static void drain_slot(sl_thread_t *thr, sl_clog_slot_t *slot) {
        while (slot->inflight > 0 && rd_kafka_outq_len(thr->producer) > 0)
                rd_kafka_poll(thr->producer, 100);
        slot->inflight = 0;
}

/* The task of (@sub, @partition), created (stores opened, restore begun)
 * if new. NULL after a failure (the app is failed with the reason). */
static sl_task_t *task_get(sl_thread_t *thr, int sub, int32_t partition) {
        size_t i;
        sl_app_task_t *at;
        char why[SL_ERRSTR_SIZE];
        for (i = 0; i < thr->task_cnt; i++)
                if (thr->tasks[i]->sub == sub &&
                    thr->tasks[i]->partition == partition)
                        return &thr->tasks[i]->task;
        if (thr->task_cnt == thr->task_cap) {
                size_t cap = thr->task_cap ? thr->task_cap * 2 : 16;
                sl_app_task_t **ts;
                /* local queries walk the array: move it under their lock */
                mtx_lock(&thr->tasks_lock);
                ts = realloc(thr->tasks, cap * sizeof(*ts));
                if (ts) {
                        thr->tasks    = ts;
                        thr->task_cap = cap;
                }
                mtx_unlock(&thr->tasks_lock);
                if (!ts)
                        goto oom;
        }
        at = calloc(1, sizeof(*at));
        if (!at)
                goto oom;
        at->sub       = sub;
        at->partition = partition;
        sl_task_init(&at->task, thr->app->t, thr->app->conf, sub, partition,
                     thr_write, thr_partition_cnt, thr);
        at->task.global = thr->app->global;
        at->task.clog_write = thr_clog_write;
        at->task.stop       = &thr->app->stop;
        /* what both the producer and the dead-letter topic take */
        at->task.dlq_max = thr->dlq_max;
        if (thr->app->dlq_topic_max > 0 &&
            (uint64_t)thr->app->dlq_topic_max < (uint64_t)at->task.dlq_max)
                at->task.dlq_max = (size_t)thr->app->dlq_topic_max;
        at->task.wall_time  = sl_now_ms(); /* wall-clock schedules start now */
        if (sl_task_start(&at->task, thr->app->state_base,
                          &thr->budget, 1, why, sizeof(why))) {
                thr_fail(thr, "thread %d: task %d_%d: %s", thr->idx,
                            sub, (int)partition, why);
                sl_task_destroy(&at->task);
                free(at);
                return NULL;
        }
        for (i = 0; i < at->task.kv_cnt; i++)
                if (at->task.kvs[i]) {
                        sl_clog_slot_t *slot = slot_get(thr, (int)i, partition);
                        if (!slot) {
                                sl_task_destroy(&at->task);
                                free(at);
                                goto oom;
                        }
                        /* records of an earlier task on this slot (closed
                         * without a commit, e.g. a lost assignment) must
                         * report before the slot starts over: a late
                         * report would vouch for offsets this task's
                         * restore never read */
                        if (slot->inflight > 0)
                                drain_slot(thr, slot);
                        slot->last           = -1;
                        at->task.kvs[i]->slot = slot;
                }
        /* restoring stores are marked before local queries can see them */
        if (restore_begin(thr, &at->task)) {
                restore_forget(thr, &at->task);
                sl_task_destroy(&at->task);
                free(at);
                return NULL;
        }
        if (!at->task.restoring && task_ready(thr, &at->task)) {
                sl_task_destroy(&at->task);
                free(at);
                return NULL;
        }
        mtx_lock(&thr->tasks_lock);
        thr->tasks[thr->task_cnt++] = at;
        mtx_unlock(&thr->tasks_lock);
        sl_log(thr->app->conf, SLUICE_LOG_INFO, "TASK",
               "thread %d: task %d_%d created", thr->idx, sub,
               (int)partition);
        return &at->task;
oom:
        thr_fail(thr, "thread %d: out of memory", thr->idx);
        return NULL;
}

static void task_close(sl_thread_t *thr, size_t i) {
        sl_app_task_t *at = thr->tasks[i];
        thr->closed_consumed += at->task.consumed;
        thr->closed_processed += at->task.processed;
        thr->closed_produced += at->task.produced;
        thr->closed_skipped += at->task.skipped;
        thr->closed_dropped += at->task.dropped;
        thr->closed_skipped_ts += at->task.skipped_invalid_timestamp;
        thr->closed_dead_lettered += at->task.dead_lettered;
        sl_log(thr->app->conf, SLUICE_LOG_INFO, "TASK",
               "thread %d: task %d_%d closed", thr->idx, at->sub,
               (int)at->partition);
        restore_forget(thr, &at->task);
        /* unreachable for local queries before it goes */
        mtx_lock(&thr->tasks_lock);
        thr->tasks[i] = thr->tasks[--thr->task_cnt];
        mtx_unlock(&thr->tasks_lock);
        sl_task_destroy(&at->task);
        free(at);
}

/* ---- producing ---- */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
                      void *opaque) {
        sl_thread_t *thr = opaque;
        (void)rk;
        if (m->_private) { /* a changelog record */
                sl_clog_slot_t *slot = m->_private;
                slot->inflight--;
                if (!m->err && m->offset > slot->last)
                        slot->last = m->offset;
        }
        if (m->err && !thr->delivery_failed) {
                thr->delivery_failed  = 1;
                thr->delivery_errcode = m->err;
                snprintf(thr->delivery_err, sizeof(thr->delivery_err),
                         "record to topic \"%s\" was not delivered: %s",
                         rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        }
}

/* The producer's handle for @topic, made once. Looked up by name: a topic
 * callback may reuse one buffer for several topics. */
static rd_kafka_topic_t *thr_topic(sl_thread_t *thr, const char *topic) {
        size_t i;
        void *p;
        for (i = 0; i < thr->rkt_cnt; i++)
                if (!strcmp(thr->rkts[i].name, topic))
                        return thr->rkts[i].rkt;
        p = realloc(thr->rkts, (thr->rkt_cnt + 1) * sizeof(*thr->rkts));
        if (!p)
                return NULL;
        thr->rkts = p;
        i         = thr->rkt_cnt;
        if (!(thr->rkts[i].name = sl_strdup(topic)))
                return NULL;
        if (!(thr->rkts[i].rkt = rd_kafka_topic_new(thr->producer, topic,
                                                    NULL))) {
                free(thr->rkts[i].name);
                return NULL;
        }
        thr->rkt_cnt++;
        return thr->rkts[i].rkt;
}

static int produce(sl_thread_t *thr, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value,
                   size_t value_len, int64_t timestamp,
                   const sluice_header_t *headers, size_t header_cnt,
                   void *msg_opaque, char *errstr, size_t errstr_size) {
        rd_kafka_topic_t *rkt  = thr_topic(thr, topic);
        rd_kafka_headers_t *hs = NULL;
        rd_kafka_resp_err_t err;
        size_t i;
        if (!rkt) {
                sl_errstr(errstr, errstr_size, "cannot produce to \"%s\": %s",
                          topic, rd_kafka_err2str(rd_kafka_last_error()));
                return -1;
        }
        /* exactly-once: never a record outside a transaction */
        if (thr->eos && !thr->txn_open &&
            sl_txn_begin(thr, errstr, errstr_size))
                return -1;
        if (header_cnt) {
                hs = rd_kafka_headers_new(header_cnt);
                for (i = 0; i < header_cnt; i++)
                        rd_kafka_header_add(hs, headers[i].name, -1,
                                            headers[i].value,
                                            (ssize_t)headers[i].len);
        }
        for (;;) {
                /* hs NULL: no headers (librdkafka accepts NULL here) */
                err = rd_kafka_producev(
                    thr->producer, RD_KAFKA_V_RKT(rkt),
                    RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA
                                                       : partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY((void *)key, key_len),
                    RD_KAFKA_V_VALUE((void *)value, value_len),
                    RD_KAFKA_V_TIMESTAMP(timestamp), RD_KAFKA_V_HEADERS(hs),
                    RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                /* back-pressure: let deliveries drain, then retry */
                rd_kafka_poll(thr->producer, 10);
        }
        if (err) {
                if (hs)
                        rd_kafka_headers_destroy(hs);
                /* the transaction is in an error state (a failed delivery,
                 * a timeout): the thread aborts it and processes again */
                if (thr->eos && err == RD_KAFKA_RESP_ERR__STATE)
                        thr->txn_broken = 1;
                sl_errstr(errstr, errstr_size, "cannot produce to \"%s\": %s",
                          topic, rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

static int thr_write(void *opaque, const sl_node_t *sink, const char *topic,
                     int32_t partition, const void *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp,
                     const sluice_header_t *headers, size_t header_cnt,
                     char *errstr, size_t errstr_size) {
        (void)sink;
        return produce(opaque, topic, partition, key, key_len, value,
                       value_len, timestamp, headers, header_cnt, NULL,
                       errstr, errstr_size);
}

/* A store update to its changelog partition (= the task's); the delivery
 * report records its offset in the store's slot, for the checkpoint. */
static int thr_clog_write(void *opaque, sluice_kv_t *kv, const void *key,
                          size_t key_len, const void *value,
                          size_t value_len, int64_t timestamp, char *errstr,
                          size_t errstr_size) {
        int err = produce(opaque, kv->def->changelog, kv->task->partition, key,
                          key_len, value, value_len, timestamp, NULL, 0,
                          kv->slot, errstr, errstr_size);
        if (!err && kv->slot)
                kv->slot->inflight++; /* until its delivery report */
        return err;
}

static int32_t thr_partition_cnt(void *opaque, const char *topic) {
        sl_thread_t *thr = opaque;
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        int32_t cnt = -1;
        size_t i;
        sl_part_cnt_t *p;
        for (i = 0; i < thr->pcnt_cnt; i++)
                if (!strcmp(thr->pcnt[i].topic, topic))
                        return thr->pcnt[i].cnt;
        rkt = rd_kafka_topic_new(thr->producer, topic, NULL);
        if (!rkt)
                return -1;
        if (rd_kafka_metadata(thr->producer, 0, rkt, &md, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        cnt = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        if (cnt < 1)
                return -1;
        p = realloc(thr->pcnt, (thr->pcnt_cnt + 1) * sizeof(*p));
        if (!p)
                return cnt;
        thr->pcnt                      = p;
        thr->pcnt[thr->pcnt_cnt].topic = sl_strdup(topic);
        if (!thr->pcnt[thr->pcnt_cnt].topic)
                return cnt;
        thr->pcnt[thr->pcnt_cnt++].cnt = cnt;
        return cnt;
}

/* ---- committing ---- */

static void assign_tasks(sl_thread_t *thr,
                         const rd_kafka_topic_partition_list_t *parts);

/* The thread's task @task is embedded in. */
static sl_app_task_t *app_task_of(sl_task_t *task) {
        return (sl_app_task_t *)(void *)((char *)task -
                                         offsetof(sl_app_task_t, task));
}

/* Is @topic/@partition one of the partitions a revocation takes away? */
static int leaving(const sl_thread_t *thr, const char *topic,
                   int32_t partition) {
        return thr->leaving &&
               rd_kafka_topic_partition_list_find(
                   (rd_kafka_topic_partition_list_t *)thr->leaving, topic,
                   partition);
}

static rd_kafka_t *client_new(sl_thread_t *thr, rd_kafka_type_t type,
                               int grouped, char *errstr, size_t errstr_size);

/*
 * Exactly-once, after an aborted transaction: put the thread back where
 * the last commit left it. Every input partition processed since then
 * rewinds to its first record since then, and every task that took part
 * is closed (its stores drop what they hold uncommitted: the cache, LMDB's
 * open write transaction, a memory store entirely) and, if it has stores,
 * made again at once: restored from its changelog, read committed, to the
 * last committed state (a persistent store from the offset it recorded at
 * the last commit), its inputs paused meanwhile. The batch is then
 * processed again. Partitions a revocation is taking away are neither
 * rewound nor rebuilt. 0, or -1 with the thread failed.
 */
static int txn_rewind(sl_thread_t *thr, const char *why) {
        rd_kafka_topic_partition_list_t *asg = NULL, *keep;
        size_t i;
        int k, rewound = 0, rebuilt = 0;
        if (thr->rewind) {
                keep = rd_kafka_topic_partition_list_new(thr->rewind->cnt);
                for (k = 0; k < thr->rewind->cnt; k++)
                        if (!leaving(thr, thr->rewind->elems[k].topic,
                                     thr->rewind->elems[k].partition))
                                rd_kafka_topic_partition_list_add(
                                    keep, thr->rewind->elems[k].topic,
                                    thr->rewind->elems[k].partition)
                                    ->offset = thr->rewind->elems[k].offset;
                rd_kafka_topic_partition_list_destroy(thr->rewind);
                thr->rewind = NULL;
                if (keep->cnt) {
                        rd_kafka_error_t *e = rd_kafka_seek_partitions(
                            thr->consumer, keep, 30000);
                        const char *bad = e ? rd_kafka_error_string(e) : NULL;
                        for (k = 0; !bad && k < keep->cnt; k++)
                                if (keep->elems[k].err)
                                        bad = rd_kafka_err2str(
                                            keep->elems[k].err);
                        if (bad) {
                                thr_fail(thr,
                                         "thread %d: %s; after the abort, "
                                         "the input could not be rewound: "
                                         "%s",
                                         thr->idx, why, bad);
                                if (e)
                                        rd_kafka_error_destroy(e);
                                rd_kafka_topic_partition_list_destroy(keep);
                                return -1;
                        }
                        rewound = keep->cnt;
                }
                rd_kafka_topic_partition_list_destroy(keep);
        }
        if (thr->pending) {
                rd_kafka_topic_partition_list_destroy(thr->pending);
                thr->pending = NULL;
        }
        thr->off_topic = NULL;
        i = 0;
        while (i < thr->task_cnt) {
                if (thr->tasks[i]->dirty) {
                        task_close(thr, i);
                        rebuilt++;
                } else {
                        i++;
                }
        }
        /* the stateful ones again, as on an assignment (not when the app
         * stops: nothing is processed again then) */
        if (!atomic_load(&thr->app->stop) &&
            !rd_kafka_assignment(thr->consumer, &asg) && asg) {
                keep = rd_kafka_topic_partition_list_new(asg->cnt);
                for (k = 0; k < asg->cnt; k++)
                        if (!leaving(thr, asg->elems[k].topic,
                                     asg->elems[k].partition))
                                rd_kafka_topic_partition_list_add(
                                    keep, asg->elems[k].topic,
                                    asg->elems[k].partition);
                if (keep->cnt)
                        assign_tasks(thr, keep);
                rd_kafka_topic_partition_list_destroy(keep);
                rd_kafka_topic_partition_list_destroy(asg);
        }
        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
               "thread %d: transaction aborted: %d input partition(s) "
               "rewound to the last commit, %d task(s) rebuilt from their "
               "changelogs; processing them again",
               thr->idx, rewound, rebuilt);
        return thr->fatal ? -1 : 0;
}

static int txn_renew(sl_thread_t *thr, const char *why);

/*
 * Fenced, but by its own transaction's age: a broker aborts a transaction
 * that outlived transaction.timeout.ms and bumps the producer's epoch, and
 * librdkafka then reports the producer fenced, exactly as when another
 * producer took over its transactional.id. The two are told apart by the
 * transaction's age: younger than the timeout, the broker cannot have
 * aborted it, so another producer did (a zombie, or two instances with
 * one identity), and the thread stops. Older (a coordinator that stayed
 * away longer than the timeout), the thread renews its producer, once a
 * minute at most: fenced again that soon, it stops too.
 */
#define SL_TXN_RENEW_MIN_MS 60000
static int txn_fenced_by_timeout(sl_thread_t *thr) {
        int64_t now = sl_now_ms();
        rd_kafka_resp_err_t err;
        if (!thr->eos || !thr->producer)
                return 0;
        err = rd_kafka_fatal_error(thr->producer, NULL, 0);
        if (err != RD_KAFKA_RESP_ERR__FENCED &&
            err != RD_KAFKA_RESP_ERR_PRODUCER_FENCED &&
            err != RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
                return 0;
        return thr->txn_begin_ms > 0 &&
               now >= thr->txn_begin_ms + thr->txn_timeout_ms &&
               (!thr->renewed_ms ||
                now - thr->renewed_ms >= SL_TXN_RENEW_MIN_MS);
}

/* The transaction cannot commit (@why): abort it, rewind, rebuild. 0, or
 * -1 with the thread failed (the abort failed). */
static int txn_recover(sl_thread_t *thr, const char *why) {
        char err[SL_ERRSTR_SIZE];
        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
               "thread %d: %s: aborting the transaction", thr->idx, why);
        if (sl_txn_abort(thr, err, sizeof(err))) {
                if (txn_fenced_by_timeout(thr))
                        return txn_renew(thr, err);
                thr_fail(thr, "thread %d: %s; the transaction could not be "
                              "aborted: %s",
                         thr->idx, why, err);
                return -1;
        }
        thr->aborts++;
        return txn_rewind(thr, why);
}

/* The producer was fenced for its transaction's age, or handed to the
 * helper of a send_offsets_to_transaction() that did not return (txn.c)
 * (@why): a new one for the same transactional.id (its init fences the
 * old one, whose transaction the broker aborts), then rewind and rebuild
 * as after an abort. 0, or -1 with the thread failed. */
static int txn_renew(sl_thread_t *thr, const char *why) {
        char err[SL_ERRSTR_SIZE];
        size_t i;
        if (thr->producer_abandoned)
                sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                       "thread %d: %s; leaving that producer to finish the "
                       "call on its own and starting a new producer for "
                       "transactional.id %s-%s-%d, which fences it",
                       thr->idx, why, thr->app->conf->application_id,
                       thr->app->txn_identity, thr->idx + 1);
        else
                sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                       "thread %d: %s: the broker aborted the transaction, "
                       "older than transaction.timeout.ms (%d ms), and "
                       "fenced its producer; starting a new producer for "
                       "transactional.id %s-%s-%d",
                       thr->idx, why, thr->txn_timeout_ms,
                       thr->app->conf->application_id, thr->app->txn_identity,
                       thr->idx + 1);
        for (i = 0; i < thr->rkt_cnt; i++) {
                rd_kafka_topic_destroy(thr->rkts[i].rkt);
                free(thr->rkts[i].name);
        }
        thr->rkt_cnt = 0;
        if (thr->pq) {
                /* an abandoned producer may outlive the app: it must not
                 * write to the host's wake-up pipe any more */
                if (thr->app->host_driven)
                        rd_kafka_queue_io_event_enable(thr->pq, -1, NULL, 0);
                rd_kafka_queue_destroy(thr->pq);
                thr->pq = NULL;
        }
        if (!thr->producer_abandoned)
                rd_kafka_destroy(thr->producer);
        thr->producer_abandoned = 0;
        thr->producer         = NULL;
        thr->rk_fatal         = 0;
        thr->rk_fatal_msg[0]  = '\0';
        thr->txn_open         = 0;
        thr->txn_broken       = 0;
        thr->delivery_failed  = 0;
        thr->delivery_errcode = RD_KAFKA_RESP_ERR_NO_ERROR;
        thr->renewed_ms       = sl_now_ms();
        if (!(thr->producer = client_new(thr, RD_KAFKA_PRODUCER, 1, err,
                                         sizeof(err))) ||
            sl_txn_init(thr, err, sizeof(err))) {
                thr_fail(thr, "thread %d: %s; a new producer: %s", thr->idx,
                         why, err);
                return -1;
        }
        thr->pq = rd_kafka_queue_get_main(thr->producer);
        if (thr->app->host_driven)
                rd_kafka_queue_io_event_enable(thr->pq, thr->app->wake_fd[1],
                                               "p", 1);
        thr->aborts++;
        return txn_rewind(thr, why);
}

/* Flush every output, then commit what was processed: at-least-once,
 * flush then commit the offsets; exactly-once, one transaction. Then the
 * stores record the changelog offsets they reflect. 0 (also after an
 * aborted transaction the thread recovered from), or -1 (fatal, app
 * error set). */
static int thread_commit(sl_thread_t *thr) {
        rd_kafka_resp_err_t err;
        int64_t t0;
        uint64_t us;
        size_t i;
        int stateful = 0, some = 1;
        if (thr->fatal)
                return -1; /* nothing more is vouched for: see thr_fail() */
        /* the record caches first: what they hold goes to the changelogs
         * and downstream, and is then flushed with the rest */
        for (i = 0; i < thr->task_cnt; i++) {
                sl_task_t *task = &thr->tasks[i]->task;
                int ferr;
                if (!task->kv_cnt)
                        continue;
                stateful = 1;
                mtx_lock(&task->lock);
                ferr = sl_task_flush(task);
                mtx_unlock(&task->lock);
                if (ferr) {
                        if (thr->eos && thr->txn_broken && !thr->rk_fatal)
                                return txn_recover(thr, task->errstr);
                        if (txn_fenced_by_timeout(thr))
                                return txn_renew(thr, task->errstr);
                        thr_fail(thr, "thread %d: task %d_%d: %s",
                                    thr->idx, thr->tasks[i]->sub,
                                    (int)thr->tasks[i]->partition,
                                    task->errstr);
                        return -1;
                }
        }
        if ((!thr->pending || thr->pending->cnt == 0) && !stateful &&
            !thr->txn_open)
                return 0;
        t0 = sl_now_ms();
        if (thr->eos) {
                char why[SL_ERRSTR_SIZE * 2];
                int r;
                some = thr->txn_open || (thr->pending && thr->pending->cnt);
                r = sl_txn_commit(thr, thr->pending, why, sizeof(why));
                if (r > 0 && thr->producer_abandoned)
                        return txn_renew(thr, why);
                if (r > 0)
                        return txn_recover(thr, why);
                if (r < 0 && txn_fenced_by_timeout(thr))
                        return txn_renew(thr, why);
                if (r < 0) {
                        thr_fail(thr,
                                 "thread %d: %s; the transaction was not "
                                 "committed, its records will be processed "
                                 "again",
                                 thr->idx, why);
                        return -1;
                }
        } else {
                /* librdkafka retries until message.timeout.ms; a broker
                 * outage waits here rather than committing offsets of lost
                 * output */
                while ((err = rd_kafka_flush(thr->producer, 1000)) ==
                           RD_KAFKA_RESP_ERR__TIMED_OUT &&
                       !thr->rk_fatal)
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "COMMIT",
                               "thread %d: still waiting for %d record(s) to "
                               "be delivered before committing",
                               thr->idx, rd_kafka_outq_len(thr->producer));
                if (rk_fatal_check(thr))
                        return -1;
                if (thr->delivery_failed) {
                        thr_fail(thr,
                                    "thread %d: %s; offsets not committed, the "
                                    "records will be processed again",
                                    thr->idx, thr->delivery_err);
                        return -1;
                }
        }
        /* the changelogs are durable (exactly-once: committed): the stores
         * may say so */
        for (i = 0; i < thr->task_cnt; i++) {
                sl_task_t *task = &thr->tasks[i]->task;
                int cerr = 0;
                thr->tasks[i]->dirty = 0;
                if (task->kv_cnt) {
                        mtx_lock(&task->lock);
                        cerr = sl_task_checkpoint(task, 1);
                        mtx_unlock(&task->lock);
                }
                /* a store that could not make its writes durable: its
                 * offset must not move, nor the input's (a checkpoint
                 * file that cannot be written is only a warning there) */
                if (cerr) {
                        thr_fail(thr, "thread %d: task %d_%d: %s", thr->idx,
                                 thr->tasks[i]->sub,
                                 (int)thr->tasks[i]->partition, task->errstr);
                        return -1;
                }
        }
        if (thr->eos) {
                /* the offsets went with the transaction */
                if (thr->rewind) {
                        rd_kafka_topic_partition_list_destroy(thr->rewind);
                        thr->rewind = NULL;
                }
                if (!some)
                        return 0; /* no transaction: nothing committed */
        } else {
                if (!thr->pending || thr->pending->cnt == 0)
                        return 0;
                err = rd_kafka_commit(thr->consumer, thr->pending, 0);
                if (err == RD_KAFKA_RESP_ERR__FATAL) {
                        thr_fail(thr, "thread %d: commit failed: %s",
                                 thr->idx, rd_kafka_err2str(err));
                        return -1;
                }
                if (err) {
                        /* e.g. a rebalance in progress: keep the offsets,
                         * the next commit (periodic, revocation, close)
                         * tries them again */
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "COMMIT",
                               "thread %d: commit failed (will retry): %s",
                               thr->idx, rd_kafka_err2str(err));
                        return 0;
                }
        }
        us = (uint64_t)(sl_now_ms() - t0) * 1000u;
        thr->commits++;
        thr->commit_us_total += us;
        if (us > thr->commit_us_max)
                thr->commit_us_max = us;
        if (thr->pending) {
                rd_kafka_topic_partition_list_destroy(thr->pending);
                thr->pending = NULL;
        }
        return 0;
}

static void remember_offset(sl_thread_t *thr, const char *topic,
                            int32_t partition, int64_t next) {
        rd_kafka_topic_partition_t *p = NULL;
        if (!thr->pending) {
                thr->pending   = rd_kafka_topic_partition_list_new(8);
                thr->off_topic = NULL;
        } else if (thr->off_topic == topic &&
                   thr->off_partition == partition) {
                /* the common case: the partition of the previous record */
                thr->pending->elems[thr->off_idx].offset = next;
                return;
        } else {
                p = rd_kafka_topic_partition_list_find(thr->pending, topic,
                                                       partition);
        }
        if (!p) {
                p = rd_kafka_topic_partition_list_add(thr->pending, topic,
                                                      partition);
                /* exactly-once: the first record of this partition since
                 * the last commit, where an abort rewinds to */
                if (thr->eos) {
                        if (!thr->rewind)
                                thr->rewind =
                                    rd_kafka_topic_partition_list_new(8);
                        if (!rd_kafka_topic_partition_list_find(
                                thr->rewind, topic, partition))
                                rd_kafka_topic_partition_list_add(
                                    thr->rewind, topic, partition)
                                    ->offset = next - 1;
                }
        }
        p->offset          = next;
        thr->off_topic     = topic;
        thr->off_partition = partition;
        thr->off_idx       = (int)(p - thr->pending->elems);
}

/* ---- restoring ---- */

typedef struct sl_restoring_s {
        sluice_kv_t *kv;
        int64_t pos; /* next offset to apply */
} sl_restoring_t;

static void restore_report(sl_thread_t *thr, sluice_kv_t *kv,
                           sluice_restore_phase_t phase, int64_t pos) {
        const sluice_conf_t *conf = thr->app->conf;
        sluice_restore_info_t info;
        int64_t now = sl_now_ms(), el = now - kv->restore_t0_ms;
        static const char *const names[] = {"started", "progress",
                                            "finished"};
        info.phase        = phase;
        info.store        = kv->def->name;
        info.topic        = kv->def->changelog;
        info.partition    = kv->task->partition;
        info.start_offset = kv->restore_start;
        info.end_offset   = kv->restore_end;
        info.restored     = kv->restored;
        info.remaining    = kv->restore_end > pos
                                ? (uint64_t)(kv->restore_end - pos)
                                : 0;
        info.rate = el > 0 ? (double)kv->restored * 1000.0 / (double)el : 0.0;
        sl_log(conf, SLUICE_LOG_INFO, "RESTORE",
               "thread %d: store \"%s\" partition %d: %s, %llu record(s) "
               "restored, %llu remaining (offsets %lld..%lld), %.0f "
               "records/s",
               thr->idx, info.store, (int)info.partition, names[phase],
               (unsigned long long)info.restored,
               (unsigned long long)info.remaining,
               (long long)info.start_offset, (long long)info.end_offset,
               info.rate);
        if (conf->restore_cb)
                conf->restore_cb(&info, conf->restore_opaque);
        kv->restore_log_ms = now;
}

static int restorer_new(sl_thread_t *thr) {
        char why[SL_ERRSTR_SIZE];
        if (!(thr->restorer =
                  client_new(thr, RD_KAFKA_CONSUMER, 0, why, sizeof(why)))) {
                thr_fail(thr, "thread %d: %s", thr->idx, why);
                return -1;
        }
        rd_kafka_poll_set_consumer(thr->restorer);
        if (thr->app->host_driven) {
                /* the host's fd wakes up for changelog records too */
                thr->rq = rd_kafka_queue_get_consumer(thr->restorer);
                rd_kafka_queue_io_event_enable(thr->rq, thr->app->wake_fd[1],
                                               "r", 1);
        }
        return 0;
}

/* Resume the input partitions of @task, whose stores are restored. */
static void task_resume(sl_thread_t *thr, sl_task_t *task) {
        rd_kafka_topic_partition_list_t *asg = NULL, *mine;
        int i;
        if (rd_kafka_assignment(thr->consumer, &asg) || !asg)
                return;
        mine = rd_kafka_topic_partition_list_new(asg->cnt);
        for (i = 0; i < asg->cnt; i++) {
                const sl_node_t *src =
                    sl_topology_source_for(thr->app->t, asg->elems[i].topic);
                if (src && src->subtopology == task->subtopology &&
                    asg->elems[i].partition == task->partition)
                        rd_kafka_topic_partition_list_add(
                            mine, asg->elems[i].topic, asg->elems[i].partition);
        }
        rd_kafka_resume_partitions(thr->consumer, mine);
        rd_kafka_topic_partition_list_destroy(mine);
        rd_kafka_topic_partition_list_destroy(asg);
        sl_log(thr->app->conf, SLUICE_LOG_INFO, "RESTORE",
               "thread %d: task %d_%d restored, processing", thr->idx,
               task->subtopology, (int)task->partition);
}

/* A store instance is up to date. */
static void restore_done(sl_thread_t *thr, size_t i) {
        sluice_kv_t *kv = thr->rst[i].kv;
        sl_task_t *task = kv->task;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_error_t *e;
        rd_kafka_topic_partition_list_add(l, kv->def->changelog,
                                          task->partition);
        if ((e = rd_kafka_incremental_unassign(thr->restorer, l)))
                rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(l);
        /* reported before local reads can see the store */
        restore_report(thr, kv, SLUICE_RESTORE_END, kv->restore_end);
        mtx_lock(&task->lock);
        kv->restoring  = 0;
        kv->checkpoint = kv->restore_end; /* what it now reflects */
        mtx_unlock(&task->lock);
        thr->rst[i] = thr->rst[--thr->rst_cnt];
        if (--task->restoring == 0 && !task_ready(thr, task))
                task_resume(thr, task);
}

/* The changelog partition's log start and end. A changelog the app just
 * created may have no leader for a moment (NOT_LEADER, unknown partition):
 * retried for up to 15 s. */
static rd_kafka_resp_err_t changelog_ends(sl_thread_t *thr, const char *topic,
                                          int32_t partition, int64_t *lo,
                                          int64_t *hi) {
        int64_t deadline = sl_now_ms() + 15000;
        for (;;) {
                rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                    thr->restorer, topic, partition, lo, hi, 5000);
                struct timespec pause = {0, 100 * 1000 * 1000};
                if (!err || sl_now_ms() >= deadline ||
                    atomic_load(&thr->app->stop))
                        return err;
                switch (err) {
                case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
                case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
                case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
                case RD_KAFKA_RESP_ERR__TIMED_OUT:
                case RD_KAFKA_RESP_ERR__TRANSPORT:
                case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
                        break;
                default:
                        return err;
                }
                sl_log(thr->app->conf, SLUICE_LOG_DEBUG, "RESTORE",
                       "thread %d: changelog \"%s\" partition %d: %s "
                       "(retrying)",
                       thr->idx, topic, (int)partition, rd_kafka_err2str(err));
                nanosleep(&pause, NULL); /* a retry's back-off */
        }
}

/* Open the restore of @task's stores: from the checkpoint (persistent) or
 * the log start, to the changelog's end now. Its input partitions stay
 * paused until every store is done; other tasks go on meanwhile. */
static int restore_begin(sl_thread_t *thr, sl_task_t *task) {
        rd_kafka_topic_partition_list_t *l;
        size_t i;
        rd_kafka_error_t *e;
        if (!task->kv_cnt)
                return 0;
        if (!thr->restorer && restorer_new(thr))
                return -1;
        l = rd_kafka_topic_partition_list_new((int)task->kv_cnt);
        for (i = 0; i < task->kv_cnt; i++) {
                sluice_kv_t *kv = task->kvs[i];
                int64_t lo = 0, hi = 0, start;
                rd_kafka_resp_err_t err;
                if (!kv)
                        continue;
                err = changelog_ends(thr, kv->def->changelog, task->partition,
                                     &lo, &hi);
                if (err) {
                        thr_fail(thr,
                                    "thread %d: cannot read the end of "
                                    "changelog \"%s\" partition %d: %s",
                                    thr->idx, kv->def->changelog,
                                    (int)task->partition,
                                    rd_kafka_err2str(err));
                        rd_kafka_topic_partition_list_destroy(l);
                        return -1;
                }
                start = lo;
                if (kv->type->persistent && kv->checkpoint > hi) {
                        /* the changelog is not the one the store reflects
                         * (recreated?): start over from it */
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "RESTORE",
                               "store \"%s\" partition %d: checkpoint %lld "
                               "is past the changelog's end %lld (was the "
                               "topic recreated?); wiping the store and "
                               "restoring all of the changelog",
                               kv->def->name, (int)task->partition,
                               (long long)kv->checkpoint, (long long)hi);
                        if (sl_kv_wipe(kv)) {
                                thr_fail(thr,
                                            "thread %d: store \"%s\": "
                                            "cannot wipe it for a full "
                                            "restore",
                                            thr->idx, kv->def->name);
                                rd_kafka_topic_partition_list_destroy(l);
                                return -1;
                        }
                        kv->checkpoint = -1;
                } else if (kv->type->persistent && kv->checkpoint > lo) {
                        start = kv->checkpoint;
                }
                kv->restore_start = start;
                kv->restore_end   = hi;
                kv->restored      = 0;
                kv->restore_t0_ms = sl_now_ms();
                restore_report(thr, kv, SLUICE_RESTORE_START, start);
                if (start >= hi) {
                        kv->checkpoint = hi;
                        restore_report(thr, kv, SLUICE_RESTORE_END, hi);
                        continue;
                }
                if (sl_grow((void **)&thr->rst, &thr->rst_cap, thr->rst_cnt,
                            sizeof(*thr->rst))) {
                        rd_kafka_topic_partition_list_destroy(l);
                        thr_fail(thr, "out of memory");
                        return -1;
                }
                kv->restoring                 = 1;
                thr->rst[thr->rst_cnt].kv     = kv;
                thr->rst[thr->rst_cnt++].pos  = start;
                task->restoring++;
                rd_kafka_topic_partition_list_add(l, kv->def->changelog,
                                                  task->partition)
                    ->offset = start;
        }
        if (l->cnt && (e = rd_kafka_incremental_assign(thr->restorer, l))) {
                thr_fail(thr, "thread %d: restore: %s", thr->idx,
                            rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                rd_kafka_topic_partition_list_destroy(l);
                return -1;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return 0;
}

/* A task closes: drop its restores in progress. */
static void restore_forget(sl_thread_t *thr, sl_task_t *task) {
        size_t i = 0;
        while (i < thr->rst_cnt) {
                sluice_kv_t *kv = thr->rst[i].kv;
                rd_kafka_topic_partition_list_t *l;
                rd_kafka_error_t *e;
                if (kv->task != task) {
                        i++;
                        continue;
                }
                l = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(l, kv->def->changelog,
                                                  task->partition);
                if ((e = rd_kafka_incremental_unassign(thr->restorer, l)))
                        rd_kafka_error_destroy(e);
                rd_kafka_topic_partition_list_destroy(l);
                thr->rst[i] = thr->rst[--thr->rst_cnt];
        }
}

/* Apply up to @budget changelog records. Returns how many, or -1. */
static int restore_step(sl_thread_t *thr, int budget) {
        int done = 0;
        int64_t now;
        size_t i;
        while (done < budget && thr->rst_cnt) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(thr->restorer, 0);
                const char *topic;
                sl_restoring_t *r = NULL;
                if (!m)
                        break;
                done++;
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        rd_kafka_resp_err_t e = m->err;
                        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                            e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                            e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                            e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                            e == RD_KAFKA_RESP_ERR__FATAL) {
                                /* a restore that cannot finish: say so
                                 * rather than stay paused */
                                thr_fail(thr,
                                            "thread %d: restoring from "
                                            "\"%s\" partition %d: %s",
                                            thr->idx,
                                            m->rkt ? rd_kafka_topic_name(m->rkt)
                                                   : "?",
                                            (int)m->partition,
                                            rd_kafka_message_errstr(m));
                                rd_kafka_message_destroy(m);
                                return -1;
                        }
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "RESTORE",
                               "thread %d: %s (retrying)", thr->idx,
                               rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
                for (i = 0; i < thr->rst_cnt; i++)
                        if (thr->rst[i].kv->task->partition == m->partition &&
                            !strcmp(thr->rst[i].kv->def->changelog, topic)) {
                                r = &thr->rst[i];
                                break;
                        }
                if (!r) { /* a late one for a closed task */
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (!m->err) {
                        sluice_kv_t *kv = r->kv;
                        int err;
                        mtx_lock(&kv->task->lock);
                        err = sl_kv_restore(kv, m->key ? m->key : "",
                                            m->key_len, m->payload, m->len,
                                            rd_kafka_message_timestamp(m,
                                                                       NULL));
                        mtx_unlock(&kv->task->lock);
                        if (err) {
                                thr_fail(thr,
                                            "thread %d: store \"%s\": "
                                            "restore write failed at "
                                            "changelog offset %lld",
                                            thr->idx, kv->def->name,
                                            (long long)m->offset);
                                rd_kafka_message_destroy(m);
                                return -1;
                        }
                        kv->restored++;
                        thr->restored++;
                        /* bound what a persistent backend holds
                         * uncommitted */
                        if (kv->restored % 100000 == 0 &&
                            kv->type->persistent) {
                                char why[SL_ERRSTR_SIZE] = "";
                                if (kv->type->flush(kv->h, why, sizeof(why)))
                                        sl_log(thr->app->conf,
                                               SLUICE_LOG_WARNING, "RESTORE",
                                               "store \"%s\": flush: %s",
                                               kv->def->name, why);
                        }
                        r->pos = m->offset + 1;
                } else {
                        r->pos = m->offset; /* EOF: the end offset */
                }
                rd_kafka_message_destroy(m);
                if (r->pos >= r->kv->restore_end)
                        restore_done(thr, (size_t)(r - thr->rst));
        }
        now = sl_now_ms();
        for (i = 0; i < thr->rst_cnt; i++)
                if (now - thr->rst[i].kv->restore_log_ms >= 1000)
                        restore_report(thr, thr->rst[i].kv,
                                       SLUICE_RESTORE_PROGRESS,
                                       thr->rst[i].pos);
        return done;
}

/* Partitions just assigned: make their tasks now, so that stores restore
 * before processing; pause the inputs of tasks that restore. */
static void assign_tasks(sl_thread_t *thr,
                         const rd_kafka_topic_partition_list_t *parts) {
        rd_kafka_topic_partition_list_t *pause =
            rd_kafka_topic_partition_list_new(parts->cnt);
        int i;
        /* a pause outlives a revocation in librdkafka: a partition paused
         * for an earlier restore must not stay paused */
        rd_kafka_resume_partitions(thr->consumer,
                                   (rd_kafka_topic_partition_list_t *)parts);
        for (i = 0; i < parts->cnt; i++) {
                const sl_node_t *src =
                    sl_topology_source_for(thr->app->t, parts->elems[i].topic);
                sl_task_t *task;
                size_t k;
                int stateful = 0;
                if (!src)
                        continue;
                for (k = 0; k < thr->app->t->store_cnt; k++)
                        if (thr->app->t->stores[k]->subtopology ==
                            src->subtopology)
                                stateful = 1;
                if (!stateful)
                        continue; /* made on its first record */
                task = task_get(thr, src->subtopology,
                                parts->elems[i].partition);
                if (!task)
                        break; /* the app failed: make no more */
                if (task->restoring)
                        rd_kafka_topic_partition_list_add(
                            pause, parts->elems[i].topic,
                            parts->elems[i].partition);
        }
        if (pause->cnt)
                rd_kafka_pause_partitions(thr->consumer, pause);
        rd_kafka_topic_partition_list_destroy(pause);
}

/* ---- rebalancing ---- */

/*
 * @parts, the group's assignment or revocation of lead topics (and of
 * pattern-matched topics), with partition p of every topic that follows a
 * lead topic's partition p (app->placement): a new list to destroy. The
 * group never sees those followers, so they come and go only with their
 * lead partition, and one consumer holds all of a task's inputs. NULL if
 * out of memory.
 */
static rd_kafka_topic_partition_list_t *
placement_extend(const sl_thread_t *thr,
                 const rd_kafka_topic_partition_list_t *parts) {
        rd_kafka_topic_partition_list_t *all =
            rd_kafka_topic_partition_list_copy(parts);
        int i;
        size_t k, j;
        if (!all)
                return NULL;
        for (i = 0; i < parts->cnt; i++)
                for (k = 0; k < thr->app->placement_cnt; k++) {
                        const sl_placement_t *pl = &thr->app->placement[k];
                        if (strcmp(pl->lead.topic, parts->elems[i].topic))
                                continue;
                        for (j = 0; j < pl->other_cnt; j++)
                                if (parts->elems[i].partition <
                                    pl->others[j].cnt)
                                        rd_kafka_topic_partition_list_add(
                                            all, pl->others[j].topic,
                                            parts->elems[i].partition);
                }
        return all;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *group_parts,
                         void *opaque) {
        sl_thread_t *thr = opaque;
        rd_kafka_error_t *error = NULL;
        rd_kafka_topic_partition_list_t *parts =
            placement_extend(thr, group_parts);
        int i;
        if (!parts) {
                /* nothing sound can follow: stop the app */
                thr_fail(thr, "thread %d: out of memory", thr->idx);
                parts = group_parts;
        }
        thr->rebalances++;
        /* the app is rebalancing until every thread has its assignment
         * again (Kafka Streams' REBALANCING; also after a lost one) */
        sl_app_set_state(thr->app, SLUICE_APP_REBALANCING);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                sl_log(thr->app->conf, SLUICE_LOG_INFO, "REBALANCE",
                       "thread %d: %d partition(s) assigned", thr->idx,
                       parts->cnt);
                error = rd_kafka_incremental_assign(rk, parts);
                if (!error)
                        assign_tasks(thr, parts);
                atomic_store(&thr->assigned, 1);
                sl_app_thread_assigned(thr->app);
        } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                atomic_store(&thr->assigned, 0); /* until the next assign */
                sl_log(thr->app->conf, SLUICE_LOG_INFO, "REBALANCE",
                       "thread %d: %d partition(s) revoked", thr->idx,
                       parts->cnt);
                /* commit what was processed while we still own it (not
                 * after a fatal error: thread_commit refuses then);
                 * exactly-once: commit the transaction, or abort it (and
                 * rewind and rebuild the tasks that stay), before the
                 * partitions go */
                thr->leaving = parts;
                if (!rd_kafka_assignment_lost(rk))
                        thread_commit(thr);
                else if (thr->eos && thr->txn_open && !thr->fatal)
                        /* lost: its offsets would be refused */
                        txn_recover(thr, "the assignment was lost");
                thr->leaving = NULL;
                for (i = 0; i < parts->cnt; i++) {
                        /* no longer ours: if the commit failed, the new
                         * owner processes these again (at-least-once) */
                        if (thr->pending)
                                rd_kafka_topic_partition_list_del(
                                    thr->pending, parts->elems[i].topic,
                                    parts->elems[i].partition);
                        if (thr->rewind)
                                rd_kafka_topic_partition_list_del(
                                    thr->rewind, parts->elems[i].topic,
                                    parts->elems[i].partition);
                        thr->off_topic = NULL; /* indexes moved */
                }
                for (i = 0; i < parts->cnt; i++) {
                        const sl_node_t *src = sl_topology_source_for(
                            thr->app->t, parts->elems[i].topic);
                        size_t j;
                        if (!src)
                                continue;
                        for (j = 0; j < thr->task_cnt; j++)
                                if (thr->tasks[j]->sub == src->subtopology &&
                                    thr->tasks[j]->partition ==
                                        parts->elems[i].partition) {
                                        task_close(thr, j);
                                        break;
                                }
                }
                error = rd_kafka_incremental_unassign(rk, parts);
        } else {
                sl_log(thr->app->conf, SLUICE_LOG_ERR, "REBALANCE",
                       "thread %d: rebalance error: %s", thr->idx,
                       rd_kafka_err2str(err));
                error = rd_kafka_incremental_unassign(rk, parts);
        }
        if (error) {
                sl_log(thr->app->conf, SLUICE_LOG_ERR, "REBALANCE",
                       "thread %d: %s", thr->idx, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        if (parts != group_parts)
                rd_kafka_topic_partition_list_destroy(parts);
}

/* ---- clients ---- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        sl_thread_t *thr = rd_kafka_opaque(rk);
        /* a connection's failure (TLS, SASL, resolution) is only logged
         * while nobody polls (e.g. the metadata read at start): keep it
         * for the app's error message; librdkafka calls this from its own
         * threads */
        if (level <= 4 && (!strcmp(fac, "FAIL") || !strcmp(fac, "ERROR"))) {
                mtx_lock(&thr->lock);
                snprintf(thr->rk_error, sizeof(thr->rk_error), "%s", buf);
                mtx_unlock(&thr->lock);
        }
        sl_log(thr->app->conf, (sluice_log_level_t)level, fac, "%s: %s",
               rd_kafka_name(rk), buf);
}

/* librdkafka's errors (TLS, SASL, resolution, ...) carry the cause that a
 * later call only reports as "Broker transport failure": the last one is
 * kept for the app's error message (sl_thread_last_error). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        sl_thread_t *thr = opaque;
        mtx_lock(&thr->lock);
        /* "all brokers are down" follows the cause: keep the cause */
        if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || !thr->rk_error[0])
                snprintf(thr->rk_error, sizeof(thr->rk_error), "%s", reason);
        mtx_unlock(&thr->lock);
        if (err == RD_KAFKA_RESP_ERR__FATAL && !thr->rk_fatal) {
                /* e.g. the idempotent producer's: only noted here (this
                 * may run under a task's lock, inside a produce); the
                 * step and the commit fail the thread (rk_fatal_check) */
                rd_kafka_fatal_error(rk, thr->rk_fatal_msg,
                                     sizeof(thr->rk_fatal_msg));
                thr->rk_fatal = rk == thr->producer ? 1 : 2;
                return;
        }
        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "KAFKA", "thread %d: %s: %s",
               thr->idx, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* A fatal error librdkafka reported: fail the thread (outside any task
 * lock). -1 if there was one. */
static int rk_fatal_check(sl_thread_t *thr) {
        if (!thr->rk_fatal)
                return 0;
        if (thr->rk_fatal == 1 && !thr->fatal && txn_fenced_by_timeout(thr)) {
                char why[SL_ERRSTR_SIZE + 32];
                snprintf(why, sizeof(why), "fatal producer error: %s",
                         thr->rk_fatal_msg);
                return txn_renew(thr, why);
        }
        if (!thr->fatal) {
                char hint[SL_ERRSTR_SIZE] = "";
                if (thr->rk_fatal == 1)
                        sl_txn_fenced_hint(thr, thr->rk_fatal_msg, hint,
                                           sizeof(hint));
                thr_fail(thr, "thread %d: fatal %s error: %s%s", thr->idx,
                         thr->rk_fatal == 1 ? "producer" : "client",
                         thr->rk_fatal_msg, hint);
        }
        return -1;
}

void sl_thread_last_error(sl_thread_t *thr, char *buf, size_t size) {
        mtx_lock(&thr->lock);
        snprintf(buf, size, "%s", thr->rk_error);
        mtx_unlock(&thr->lock);
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        sl_thread_t *thr = opaque;
        char *copy       = malloc(len + 1);
        if (!copy || rk == thr->restorer) {
                free(copy);
                return 0;
        }
        memcpy(copy, json, len);
        copy[len] = '\0';
        mtx_lock(&thr->lock);
        if (rk == thr->consumer) {
                free(thr->m.consumer_stats);
                thr->m.consumer_stats = copy;
        } else {
                free(thr->m.producer_stats);
                thr->m.producer_stats = copy;
        }
        mtx_unlock(&thr->lock);
        return 0;
}

static rd_kafka_conf_t *client_conf(sl_thread_t *thr, sl_scope_t scope,
                                    const char *role, int grouped,
                                    char *errstr, size_t errstr_size) {
        sluice_app_t *app = thr->app;
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char id[300], rkerr[SL_ERRSTR_SIZE];
        if (!c)
                return NULL;
        snprintf(id, sizeof(id), "%s-StreamThread-%d-%s",
                 app->conf->application_id, thr->idx + 1, role);
/* librdkafka prefetches up to queued.min.messages (100000 by default) per
 * partition: with 4 input partitions that was most of a busy app's memory
 * (bench/peers, peak RSS: pipe 80 -> 45 MB, enrich 146 -> 75, json 91 -> 32
 * with 10000), and a thread that takes 1000 records a step never needs
 * that much ahead; with fetch.queue.backoff.ms 10 the fetcher refills the
 * queue long before it runs dry. consumer.queued.min.messages overrides. */
#define SL_PREFETCH_MESSAGES "10000"
#define SET(k, v)                                                              \
        if (rd_kafka_conf_set(c, k, v, rkerr, sizeof(rkerr))) {                \
                sl_errstr(errstr, errstr_size, "%s: %s", k, rkerr);            \
                rd_kafka_conf_destroy(c);                                      \
                return NULL;                                                   \
        }
        SET("client.id", id);
        if (scope == SL_SCOPE_CONSUMER && !grouped) {
                /* the restore consumer: assigned partitions only, never
                 * joins or commits (group.id only satisfies the API) */
                SET("group.id", id);
                SET("enable.auto.commit", "false");
                SET("enable.auto.offset.store", "false");
                SET("auto.offset.reset", "earliest");
                SET("enable.partition.eof", "true");
                SET("fetch.queue.backoff.ms", "10");
                SET("queued.min.messages", SL_PREFETCH_MESSAGES);
                /* exactly-once: aborted changelog records never restore */
                if (thr->eos)
                        SET("isolation.level", "read_committed");
        } else if (scope == SL_SCOPE_CONSUMER) {
                SET("group.id", app->conf->application_id);
                SET("enable.auto.commit", "false");
                SET("enable.auto.offset.store", "false");
                SET("auto.offset.reset", "earliest"); /* Kafka Streams' */
                /* librdkafka's default (1000) idles a busy thread: once its
                 * local queue is full it stops fetching for a second, while
                 * the thread drains 100k records in a fraction of that
                 * (bench/pipe: ~170k records/s with it, ~1.1M without) */
                SET("fetch.queue.backoff.ms", "10");
                SET("queued.min.messages", SL_PREFETCH_MESSAGES);
                /* exactly-once: inputs and repartition topics as committed
                 * (the offsets it fetches are then the stable ones) */
                if (thr->eos)
                        SET("isolation.level", "read_committed");
        } else {
                /* the Java clients' partitioner: keys land where a Java
                 * producer (and Kafka Streams) would put them */
                SET("partitioner", "murmur2_random");
                SET("acks", "all");
                /* no reordered or doubled retries of changelog and output
                 * batches (the Java producer's default since 3.0), unless
                 * the user chose acks or idempotence themselves */
                if (!sl_conf_has(app->conf, SL_SCOPE_PRODUCER, "acks") &&
                    !sl_conf_has(app->conf, SL_SCOPE_PRODUCER,
                                 "request.required.acks") &&
                    !sl_conf_has(app->conf, SL_SCOPE_PRODUCER,
                                 "enable.idempotence"))
                        SET("enable.idempotence", "true");
                if (app->conf->dlq_topic && !app->conf->embedded &&
                    !sluice_conf_get(app->conf, "message.max.bytes") &&
                    !sluice_conf_get(app->conf, "producer.message.max.bytes"))
                        SET("message.max.bytes", SL_DLQ_PRODUCER_MAX);
                if (thr->eos) {
                        /* one transactional producer per thread (KIP-447),
                         * its id stable across restarts of this instance:
                         * a restarted instance fences its own zombie */
                        char txn_id[600], v[32];
                        snprintf(txn_id, sizeof(txn_id), "%s-%s-%d",
                                 app->conf->application_id,
                                 app->txn_identity, thr->idx + 1);
                        SET("transactional.id", txn_id);
                        /* Kafka Streams' 10 s unless the user set one
                         * (then applied below, with their other keys) */
                        snprintf(v, sizeof(v), "%d", SL_TXN_TIMEOUT_DEFAULT_MS);
                        SET("transaction.timeout.ms", v);
                }
        }
        if (sl_conf_apply(app->conf, scope, c, errstr, errstr_size) ||
            (scope == SL_SCOPE_CONSUMER && grouped &&
             sl_conf_group_setup(app->conf, c, thr->idx, errstr,
                                 errstr_size))) {
                rd_kafka_conf_destroy(c);
                return NULL;
        }
        if (app->bootstrap)
                SET("bootstrap.servers", app->bootstrap);
#undef SET
        rd_kafka_conf_set_opaque(c, thr);
        rd_kafka_conf_set_log_cb(c, log_cb);
        rd_kafka_conf_set_stats_cb(c, stats_cb);
        rd_kafka_conf_set_error_cb(c, error_cb);
        if (scope == SL_SCOPE_CONSUMER && grouped)
                rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
        else if (scope != SL_SCOPE_CONSUMER)
                rd_kafka_conf_set_dr_msg_cb(c, dr_msg_cb);
        return c;
}

/* A client of the thread: its consumer (@grouped), producer, or restore
 * consumer (not grouped). */
static rd_kafka_t *client_new(sl_thread_t *thr, rd_kafka_type_t type,
                               int grouped, char *errstr,
                               size_t errstr_size) {
        const char *role = type == RD_KAFKA_PRODUCER ? "producer"
                           : grouped                 ? "consumer"
                                                     : "restore-consumer";
        char rkerr[SL_ERRSTR_SIZE];
        rd_kafka_t *rk;
        rd_kafka_conf_t *c = client_conf(
            thr, type == RD_KAFKA_CONSUMER ? SL_SCOPE_CONSUMER : SL_SCOPE_PRODUCER,
            role, grouped, errstr, errstr_size);
        if (!c)
                return NULL;
        /* exactly-once: a producer may be handed to a helper thread that
         * outlives the app (txn.c): its log lines then wait on a queue
         * nobody serves, instead of reaching the app from librdkafka's
         * threads */
        if (type == RD_KAFKA_PRODUCER && thr->eos &&
            rd_kafka_conf_set(c, "log.queue", "true", rkerr, sizeof(rkerr))) {
                rd_kafka_conf_destroy(c);
                sl_errstr(errstr, errstr_size, "log.queue: %s", rkerr);
                return NULL;
        }
        if (!(rk = rd_kafka_new(type, c, rkerr, sizeof(rkerr)))) {
                rd_kafka_conf_destroy(c);
                sl_errstr(errstr, errstr_size, "cannot create %s: %s", role,
                          rkerr);
                return NULL;
        }
        if (type == RD_KAFKA_PRODUCER && thr->eos)
                rd_kafka_set_log_queue(rk, NULL); /* served by its polls */
        return rk;
}

int sl_thread_init(sl_thread_t *thr, sluice_app_t *app, int idx, char *errstr,
                   size_t errstr_size) {
        memset(thr, 0, sizeof(*thr));
        atomic_init(&thr->assigned, 0);
        thr->app = app;
        thr->idx = idx;
        thr->eos = app->conf->guarantee == SL_EOS_V2;
        thr->txn_timeout_ms = sl_conf_txn_timeout_ms(app->conf);
        /* statestore.cache.max.bytes is for the app: split between
         * threads, as Kafka Streams does */
        thr->budget.max = (size_t)(app->conf->cache_max_bytes /
                                   (app->thread_cnt > 0 ? app->thread_cnt : 1));
        if (mtx_init(&thr->lock, mtx_plain) != thrd_success ||
            mtx_init(&thr->tasks_lock, mtx_plain) != thrd_success) {
                sl_errstr(errstr, errstr_size, "cannot create a mutex");
                return -1;
        }
        if (!(thr->consumer = client_new(thr, RD_KAFKA_CONSUMER, 1, errstr,
                                         errstr_size)))
                return -1;
        rd_kafka_poll_set_consumer(thr->consumer);
        if (!(thr->producer = client_new(thr, RD_KAFKA_PRODUCER, 1, errstr,
                                         errstr_size)))
                return -1;
        {
                /* the largest record the producer sends: a dead letter
                 * beyond it goes as a truncated copy (task.c) */
                char v[32];
                size_t vs = sizeof(v);
                if (rd_kafka_conf_get(rd_kafka_conf(thr->producer),
                                      "message.max.bytes", v, &vs) ==
                    RD_KAFKA_CONF_OK)
                        thr->dlq_max = (size_t)strtoull(v, NULL, 10);
        }
        thr->cq = rd_kafka_queue_get_consumer(thr->consumer);
        thr->pq = rd_kafka_queue_get_main(thr->producer);
        if (app->host_driven) {
                rd_kafka_queue_io_event_enable(thr->cq, app->wake_fd[1], "c", 1);
                rd_kafka_queue_io_event_enable(thr->pq, app->wake_fd[1], "p", 1);
        }
        thr->last_commit_ms = thr->last_metrics_log_ms = sl_now_ms();
        return 0;
}

int sl_thread_subscribe(sl_thread_t *thr, char *errstr, size_t errstr_size) {
        const sluice_topology_t *t = thr->app->t;
        rd_kafka_topic_partition_list_t *topics =
            rd_kafka_topic_partition_list_new(8);
        rd_kafka_resp_err_t err;
        size_t i;
        /* exact names: only each sub-topology's lead topic; the rest
         * follow it (placement_extend) */
        for (i = 0; i < thr->app->placement_cnt; i++)
                rd_kafka_topic_partition_list_add(
                    topics, thr->app->placement[i].lead.topic,
                    RD_KAFKA_PARTITION_UA);
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                if (n->kind != SL_NODE_SOURCE)
                        continue;
                if (n->pattern) {
                        /* librdkafka: a leading ^ marks a regex */
                        size_t len = strlen(n->pattern) + 5;
                        char *re   = malloc(len);
                        if (!re)
                                continue;
                        snprintf(re, len, "^(%s)$", n->pattern);
                        rd_kafka_topic_partition_list_add(topics, re,
                                                          RD_KAFKA_PARTITION_UA);
                        free(re);
                }
        }
        err = rd_kafka_subscribe(thr->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (err) {
                sl_errstr(errstr, errstr_size, "cannot subscribe: %s",
                          rd_kafka_err2str(err));
                return -1;
        }
        return 0;
}

/* ---- processing ---- */

static int process(sl_thread_t *thr, rd_kafka_message_t *m) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        const sl_node_t *src;
        sl_task_t *task;
        rd_kafka_headers_t *hs = NULL;
        size_t hcnt = 0;
        uint64_t before;
        int stateful;
        int err;

        if (thr->src_topic == topic) {
                src = thr->src;
        } else {
                src = sl_topology_source_for(thr->app->t, topic);
                if (!src) {
                        thr_fail(thr, "no source reads topic \"%s\"",
                                    topic);
                        return -1;
                }
                thr->src_topic = topic;
                thr->src       = src;
        }
        task = task_get(thr, src->subtopology, m->partition);
        if (!task)
                return -1; /* the app is failed with the reason */
        if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size, n = rd_kafka_header_cnt(hs);
                if (n > thr->hdr_cap) {
                        sluice_header_t *h = realloc(thr->hdrs, n * sizeof(*h));
                        if (!h) {
                                thr_fail(thr, "out of memory");
                                return -1;
                        }
                        thr->hdrs    = h;
                        thr->hdr_cap = n;
                }
                for (hcnt = 0; hcnt < n && !rd_kafka_header_get_all(
                                               hs, hcnt, &name, &val, &size);
                     hcnt++) {
                        thr->hdrs[hcnt].name  = name;
                        thr->hdrs[hcnt].value = val;
                        thr->hdrs[hcnt].len   = size;
                }
        }
        before = task->processed;
        /* exactly-once: noted before, so that an abort rewinds to it even
         * when the record fails half-way (nothing of pending is committed
         * then: the transaction aborts, or the thread fails) */
        if (thr->eos) {
                remember_offset(thr, topic, m->partition, m->offset + 1);
                app_task_of(task)->dirty = 1;
        }
        /* local queries only reach tasks with stores: a stateless task
         * takes no lock per record */
        stateful = task->kv_cnt != 0;
        if (stateful)
                mtx_lock(&task->lock);
        err = sl_task_process(task, src, topic, m->partition, m->offset, m->key,
                              m->key_len, m->payload, m->len,
                              rd_kafka_message_timestamp(m, NULL), thr->hdrs,
                              hcnt);
        if (stateful)
                mtx_unlock(&task->lock);
        if (err) {
                char why[SL_ERRSTR_SIZE * 2];
                snprintf(why, sizeof(why),
                         "%s (record at topic \"%s\" partition %d offset "
                         "%lld)",
                         task->errstr, topic, (int)m->partition,
                         (long long)m->offset);
                /* the transaction refused a record: abort, process again
                 * (the task is rebuilt: @task is gone after this) */
                if (thr->eos && thr->txn_broken && !thr->rk_fatal)
                        return txn_recover(thr, why);
                if (txn_fenced_by_timeout(thr))
                        return txn_renew(thr, why);
                thr_fail(thr, "thread %d: %s", thr->idx, why);
                return -1;
        }
        /* done with, processed or skipped: its offset can be committed */
        if (!thr->eos)
                remember_offset(thr, topic, m->partition, m->offset + 1);
        if (task->processed > before)
                atomic_fetch_add(&thr->app->processed, 1);
        return 0;
}

int sl_thread_step(sl_thread_t *thr, int budget, int timeout_ms) {
        int done = 0, interval = sl_conf_commit_interval_ms(thr->app->conf);
        int64_t now;
        size_t i;
        int restored = 0;
        thr->restore_more = 0;
        if (thr->rst_cnt) {
                /* restoring: up to half the budget of changelog records,
                 * then the records of tasks that do not restore (the main
                 * consumer is polled every step: rebalances go on) */
                int share = budget > 1 ? budget / 2 : 1;
                restored  = restore_step(thr, share);
                if (restored < 0)
                        return -1;
                thr->restore_more = restored >= share;
                /* records waiting: do not wait; none yet: wait briefly */
                timeout_ms = restored ? 0
                                      : (timeout_ms < 5 ? timeout_ms : 5);
        }
        while (done < budget && !atomic_load(&thr->app->stop)) {
                rd_kafka_message_t *m =
                    rd_kafka_consumer_poll(thr->consumer, done ? 0 : timeout_ms);
                if (!m)
                        break;
                if (m->err) {
                        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                                rd_kafka_resp_err_t ferr = m->err;
                                char fstr[512];
                                if (ferr == RD_KAFKA_RESP_ERR__FATAL) {
                                        rd_kafka_fatal_error(thr->consumer, fstr,
                                                             sizeof(fstr));
                                        rd_kafka_message_destroy(m);
                                        thr_fail(thr,
                                                    "thread %d: fatal consumer "
                                                    "error: %s",
                                                    thr->idx, fstr);
                                        return -1;
                                }
                                /* transient: librdkafka retries by itself */
                                sl_log(thr->app->conf, SLUICE_LOG_WARNING,
                                       "CONSUME", "thread %d: %s", thr->idx,
                                       rd_kafka_message_errstr(m));
                        }
                        rd_kafka_message_destroy(m);
                        done++; /* events count against the budget too */
                        continue;
                }
                if (process(thr, m)) {
                        rd_kafka_message_destroy(m);
                        return -1;
                }
                rd_kafka_message_destroy(m);
                done++;
        }
        if (thr->producer)
                rd_kafka_poll(thr->producer, 0); /* delivery reports */
        if (rk_fatal_check(thr))
                return -1;
        now = sl_now_ms();
        for (i = 0; i < thr->task_cnt; i++) {
                sl_task_t *task = &thr->tasks[i]->task;
                int perr;
                /* every task's wall clock moves, punctuations or not:
                 * operators read it (a left/outer join's emit interval) */
                task->wall_time = now;
                if (!task->punct_cnt || task->restoring)
                        continue;
                thr->tasks[i]->dirty = 1;
                mtx_lock(&task->lock);
                perr = sl_task_punctuate_wall(task, now);
                mtx_unlock(&task->lock);
                if (perr && ((thr->eos && thr->txn_broken && !thr->rk_fatal) ||
                             txn_fenced_by_timeout(thr))) {
                        if (thr->rk_fatal ? txn_renew(thr, task->errstr)
                                          : txn_recover(thr, task->errstr))
                                return -1;
                        break; /* the tasks were rebuilt */
                }
                if (perr) {
                        thr_fail(thr, "thread %d: %s", thr->idx,
                                    task->errstr);
                        return -1;
                }
        }
        if (now - thr->last_commit_ms >= interval) {
                thr->last_commit_ms = now;
                if (thread_commit(thr))
                        return -1;
        }
        if (now - thr->last_publish_ms >= 100) {
                thr->last_publish_ms = now;
                sl_thread_publish(thr);
        }
        if (thr->idx == 0 && thr->app->conf->metrics_log_ms > 0 &&
            now - thr->last_metrics_log_ms >= thr->app->conf->metrics_log_ms) {
                char *json = sluice_app_metrics_json(thr->app);
                thr->last_metrics_log_ms = now;
                if (json)
                        sl_log(thr->app->conf, SLUICE_LOG_INFO, "METRICS",
                               "%s", json);
                free(json);
        }
        return done + restored;
}

void sl_thread_close(sl_thread_t *thr) {
        if (!thr->consumer)
                return;
        /* after a fatal error nothing is committed (thr_fail()); a
         * commit that fails here fails the app: it ends in ERROR */
        if (!thr->fatal)
                thread_commit(thr);
        else if (thr->eos && thr->txn_open && !thr->rk_fatal) {
                /* its records must not hold back read_committed readers
                 * until the broker's timeout: abort it now */
                char why[SL_ERRSTR_SIZE];
                if (sl_txn_abort(thr, why, sizeof(why)))
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                               "thread %d: %s (the broker aborts it after "
                               "transaction.timeout.ms)",
                               thr->idx, why);
        }
        /* leaves the group; revokes (and closes) the remaining tasks */
        rd_kafka_consumer_close(thr->consumer);
        while (thr->task_cnt)
                task_close(thr, thr->task_cnt - 1);
        if (thr->eos) {
                /* every record went with a transaction that committed or
                 * aborted: nothing is left to deliver */
        } else if (rd_kafka_flush(thr->producer, 10000) && !thr->fatal)
                thr_fail(thr, "thread %d: %d record(s) still undelivered at "
                              "close",
                         thr->idx, rd_kafka_outq_len(thr->producer));
        else if (thr->delivery_failed && !thr->fatal)
                thr_fail(thr, "thread %d: %s", thr->idx, thr->delivery_err);
        sl_thread_publish(thr);
}

int sl_thread_main(void *arg) {
        sl_thread_t *thr = arg;
        while (!atomic_load(&thr->app->stop))
                if (sl_thread_step(thr, 1000, 100) < 0)
                        break;
        sl_thread_close(thr);
        return 0;
}

/* What sl_thread_publish() put in thr->m.tasks. */
static void task_metrics_free(sl_task_metrics_t *tm, size_t n) {
        size_t i;
        for (i = 0; tm && i < n; i++) {
                free(tm[i].operators);
                free(tm[i].inputs);
        }
        free(tm);
}

void sl_thread_destroy(sl_thread_t *thr) {
        size_t i;
        while (thr->task_cnt)
                task_close(thr, thr->task_cnt - 1);
        free(thr->tasks);
        if (thr->pending)
                rd_kafka_topic_partition_list_destroy(thr->pending);
        if (thr->rewind)
                rd_kafka_topic_partition_list_destroy(thr->rewind);
        sl_txn_destroy(thr);
        if (thr->cq)
                rd_kafka_queue_destroy(thr->cq);
        if (thr->pq)
                rd_kafka_queue_destroy(thr->pq);
        if (thr->consumer)
                rd_kafka_destroy(thr->consumer);
        for (i = 0; i < thr->rkt_cnt; i++) {
                rd_kafka_topic_destroy(thr->rkts[i].rkt);
                free(thr->rkts[i].name);
        }
        free(thr->rkts);
        if (thr->producer)
                rd_kafka_destroy(thr->producer);
        for (i = 0; i < thr->pcnt_cnt; i++)
                free(thr->pcnt[i].topic);
        free(thr->pcnt);
        free(thr->hdrs);
        task_metrics_free(thr->m.tasks, thr->m.task_cnt);
        for (i = 0; i < thr->m.lag_cnt; i++)
                free(thr->m.lag[i].topic);
        free(thr->m.lag);
        free(thr->m.consumer_stats);
        free(thr->m.producer_stats);
        if (thr->rq)
                rd_kafka_queue_destroy(thr->rq);
        if (thr->restorer)
                rd_kafka_destroy(thr->restorer);
        free(thr->rst);
        for (i = 0; i < thr->slot_cnt; i++)
                free(thr->slots[i]);
        free(thr->slots);
        mtx_destroy(&thr->lock);
        mtx_destroy(&thr->tasks_lock);
}

/* ---- metrics ---- */

/* The task's operators' counters as a JSON object (NULL on OOM). */
static char *task_operators_json(const sl_task_t *task) {
        json_t *ops = json_object();
        char *s     = NULL;
        if (ops && !sl_task_metrics_operators(task, ops))
                s = json_dumps(ops, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(ops);
        return s;
}

/* The partitions of @asg task @sub_@partition reads, as a JSON array of
 * {"topic","partition"}; NULL if out of memory. */
static char *task_inputs_json(const sl_thread_t *thr, int sub,
                              int32_t partition,
                              const rd_kafka_topic_partition_list_t *asg) {
        sl_str_t s = {0};
        int k, n = 0;
        sl_str_printf(&s, "[");
        for (k = 0; k < asg->cnt; k++) {
                const sl_node_t *src;
                if (asg->elems[k].partition != partition)
                        continue;
                src = sl_topology_source_for(thr->app->t, asg->elems[k].topic);
                if (!src || src->subtopology != sub)
                        continue;
                sl_str_printf(&s, "%s{\"topic\":\"%s\",\"partition\":%d}",
                              n++ ? "," : "", asg->elems[k].topic,
                              (int)partition);
        }
        sl_str_printf(&s, "]");
        return sl_str_take(&s);
}

void sl_thread_publish(sl_thread_t *thr) {
        sl_task_metrics_t *tm = NULL;
        sl_lag_t *lag         = NULL;
        size_t i, lag_cnt = 0;
        rd_kafka_topic_partition_list_t *asg = NULL;
        uint64_t consumed = thr->closed_consumed,
                 processed = thr->closed_processed,
                 produced = thr->closed_produced, skipped = thr->closed_skipped,
                 dead = thr->closed_dead_lettered, dropped = thr->closed_dropped,
                 skipped_ts = thr->closed_skipped_ts;
        uint64_t abandoned = sl_txn_abandoned_pending(thr);

        if (thr->task_cnt && !(tm = calloc(thr->task_cnt, sizeof(*tm))))
                return;
        for (i = 0; i < thr->task_cnt; i++) {
                const sl_task_t *t = &thr->tasks[i]->task;
                tm[i].sub          = thr->tasks[i]->sub;
                tm[i].partition    = thr->tasks[i]->partition;
                tm[i].consumed     = t->consumed;
                tm[i].processed    = t->processed;
                tm[i].produced     = t->produced;
                tm[i].skipped      = t->skipped + t->dropped +
                                t->skipped_invalid_timestamp; /* all reasons */
                tm[i].dead_lettered = t->dead_lettered;
                tm[i].skipped_invalid_timestamp = t->skipped_invalid_timestamp;
                tm[i].operators    = task_operators_json(t);
                skipped_ts += t->skipped_invalid_timestamp;
                consumed += t->consumed;
                processed += t->processed;
                produced += t->produced;
                skipped += t->skipped;
                dropped += t->dropped;
                dead += t->dead_lettered;
        }
        /* lag per assigned partition, from the client's cached watermarks */
        if (thr->consumer && !rd_kafka_assignment(thr->consumer, &asg) && asg) {
                rd_kafka_position(thr->consumer, asg);
                for (i = 0; tm && i < thr->task_cnt; i++)
                        tm[i].inputs = task_inputs_json(thr, tm[i].sub,
                                                        tm[i].partition, asg);
                if (asg->cnt && (lag = calloc((size_t)asg->cnt, sizeof(*lag)))) {
                        int k;
                        for (k = 0; k < asg->cnt; k++) {
                                int64_t lo = -1, hi = -1;
                                rd_kafka_get_watermark_offsets(
                                    thr->consumer, asg->elems[k].topic,
                                    asg->elems[k].partition, &lo, &hi);
                                lag[lag_cnt].topic = sl_strdup(asg->elems[k].topic);
                                if (!lag[lag_cnt].topic)
                                        break;
                                lag[lag_cnt].partition = asg->elems[k].partition;
                                lag[lag_cnt].position  = asg->elems[k].offset;
                                lag[lag_cnt].high      = hi;
                                lag[lag_cnt].lag =
                                    hi >= 0 && asg->elems[k].offset >= 0
                                        ? hi - asg->elems[k].offset
                                        : -1;
                                lag_cnt++;
                        }
                }
                rd_kafka_topic_partition_list_destroy(asg);
        }
        mtx_lock(&thr->lock);
        task_metrics_free(thr->m.tasks, thr->m.task_cnt);
        for (i = 0; i < thr->m.lag_cnt; i++)
                free(thr->m.lag[i].topic);
        free(thr->m.lag);
        thr->m.tasks           = tm;
        thr->m.task_cnt        = tm ? thr->task_cnt : 0;
        thr->m.lag             = lag;
        thr->m.lag_cnt         = lag_cnt;
        thr->m.consumed        = consumed;
        thr->m.processed       = processed;
        thr->m.produced        = produced;
        thr->m.skipped         = skipped;
        thr->m.dropped         = dropped;
        thr->m.skipped_invalid_timestamp = skipped_ts;
        thr->m.dead_lettered   = dead;
        thr->m.commits         = thr->commits;
        thr->m.commit_us_total = thr->commit_us_total;
        thr->m.commit_us_max   = thr->commit_us_max;
        thr->m.rebalances      = thr->rebalances;
        thr->m.aborts          = thr->aborts;
        thr->m.abandoned       = abandoned;
        mtx_unlock(&thr->lock);
}
