/*
 * app.h - the application runtime's internals: the app and its stream
 * threads (thread.c runs one; app.c owns them all).
 */
#ifndef SLUICE_APP_H
#define SLUICE_APP_H

#include "conf.h"
#include "task.h"

#include <stdatomic.h>
#include <threads.h>

#include <librdkafka/rdkafka.h>

typedef struct sl_app_task_s {
        int sub;
        int32_t partition;
        int dirty; /* processed or punctuated since the last commit: an
                      aborted transaction holds some of its updates */
        sl_task_t task;
} sl_app_task_t;

typedef struct sl_part_cnt_s {
        char *topic;
        int32_t cnt;
} sl_part_cnt_t;

/*
 * Co-partitioned placement (see README, "Co-partitioning"): a task covers
 * partition p of every exact-named source topic of its sub-topology, and
 * one consumer must own them all. The group assigns only one lead topic
 * per group of topics (the one with the most partitions, the first of
 * them in node order); a thread that is given partition p of a lead topic
 * assigns itself partition p of the others (those that have one), and
 * gives them up with it. One group holds every source topic of the
 * topology (sluice.task.placement=together: partition p of every
 * sub-topology together, which balances each sub-topology's tasks), or
 * one group each sub-topology's (per_subtopology). Built by
 * sluice_app_start() from the cluster's metadata before the threads
 * start, read-only after: the threads read it without a lock.
 */
typedef struct sl_placement_s {
        int sub; /* -1: every sub-topology */
        sl_part_cnt_t lead;    /* subscribed */
        sl_part_cnt_t *others; /* follow the lead's partitions */
        size_t other_cnt;
} sl_placement_t;

/* What a thread publishes for sluice_app_metrics_json(), under its lock. */
typedef struct sl_task_metrics_s {
        int sub;
        int32_t partition;
        uint64_t consumed, processed, produced, skipped, dead_lettered;
        uint64_t skipped_invalid_timestamp;
        char *operators; /* the nodes' own counters, a JSON object */
        char *inputs; /* its assigned input partitions, a JSON array */
} sl_task_metrics_t;

typedef struct sl_lag_s {
        char *topic;
        int32_t partition;
        int64_t position, high, lag;
} sl_lag_t;

typedef struct sl_thread_metrics_s {
        uint64_t consumed, processed, produced, skipped, dead_lettered;
        uint64_t dropped; /* null key or value at an aggregation */
        uint64_t skipped_invalid_timestamp;
        uint64_t commits, commit_us_total, commit_us_max, rebalances;
        uint64_t aborts; /* transactions aborted (exactly_once_v2) */
        uint64_t abandoned; /* producers left to a send_offsets call that
                             * has not returned yet (txn.c) */
        sl_task_metrics_t *tasks;
        size_t task_cnt;
        sl_lag_t *lag;
        size_t lag_cnt;
        char *consumer_stats, *producer_stats; /* librdkafka's JSON */
} sl_thread_metrics_t;

typedef struct sl_txn_call_s sl_txn_call_t;

typedef struct sl_thread_s {
        struct sluice_app_s *app;
        int idx;
        thrd_t thr;
        int started;
        rd_kafka_t *consumer, *producer;
        rd_kafka_queue_t *cq, *pq; /* consumer queue, producer main queue */
        rd_kafka_queue_t *rq;      /* the restore consumer's queue */
        int restore_more; /* the last step's restore used its whole share */
        sl_app_task_t **tasks;
        size_t task_cnt, task_cap;
        rd_kafka_topic_partition_list_t *pending; /* offsets to commit */
        int64_t last_commit_ms, last_publish_ms, last_metrics_log_ms;
        const char *src_topic; /* one-entry cache: topic -> source */
        const sl_node_t *src;
        sl_part_cnt_t *pcnt;
        size_t pcnt_cnt;
        /* producer topic handles, one per output topic written: producev()
         * with a topic name looks it up under the client's lock per record */
        struct {
                char *name;
                rd_kafka_topic_t *rkt;
        } *rkts;
        size_t rkt_cnt;
        /* where the last processed record's offset sits in pending */
        const char *off_topic;
        int32_t off_partition;
        int off_idx;
        sluice_header_t *hdrs;
        size_t hdr_cap;
        atomic_int assigned; /* got its first assignment (read by others) */
        int delivery_failed; /* a produced record was not delivered */
        int fatal;           /* failed: commits nothing more (thr_fail) */
        size_t dlq_max;      /* the producer's message.max.bytes */
        char rk_error[SL_ERRSTR_SIZE]; /* librdkafka's last error (lock) */
        int rk_fatal; /* a fatal error from error_cb: 1 producer, 2 other */
        char rk_fatal_msg[SL_ERRSTR_SIZE];
        char delivery_err[SL_ERRSTR_SIZE];
        /* counters of tasks closed so far */
        uint64_t closed_consumed, closed_processed, closed_produced,
            closed_skipped, closed_dead_lettered, closed_dropped,
            closed_skipped_ts;
        uint64_t commits, commit_us_total, commit_us_max, rebalances;

        /* exactly_once_v2 (txn.c): the producer is transactional, every
         * commit is one transaction */
        int eos;
        int txn_open;         /* begun (by the first produce) and not ended */
        int txn_broken;       /* a produce was refused: it must abort */
        int txn_timeout_ms;   /* the producer's transaction.timeout.ms */
        int64_t txn_begin_ms; /* when it began: the broker's clock starts */
        rd_kafka_resp_err_t delivery_errcode; /* of delivery_err */
        /* per partition, the first offset processed since the last
         * commit: where an abort rewinds the input to */
        rd_kafka_topic_partition_list_t *rewind;
        /* the partitions a revocation is taking away (NULL otherwise):
         * an abort during its commit neither rewinds nor rebuilds them */
        const rd_kafka_topic_partition_list_t *leaving;
        uint64_t aborts;
        int64_t renewed_ms; /* a fenced producer was last replaced */
        /* send_offsets' bounded path (txn.c); after it gave up, the
         * producer belongs to its helper thread: replace, never destroy */
        sl_txn_call_t *call, *abandoned;
        int producer_abandoned;

        /* state: the record cache's budget, changelog delivery slots,
         * and the store instances restoring (with their own consumer) */
        sl_cache_budget_t budget;
        sl_clog_slot_t **slots;
        size_t slot_cnt;
        rd_kafka_t *restorer;
        struct sl_restoring_s *rst;
        size_t rst_cnt, rst_cap;
        uint64_t restored; /* records restored, over all tasks */

        mtx_t lock;       /* guards m */
        mtx_t tasks_lock; /* guards the tasks array against readers on
                             other threads (local queries); never taken
                             while holding a task's lock */
        sl_thread_metrics_t m;
} sl_thread_t;

struct sluice_app_s {
        sluice_topology_t *t;
        sluice_conf_t *conf;
        char *bootstrap;
        rd_kafka_t *mock_rk;
        struct rd_kafka_mock_cluster_s *mock;
        sl_thread_t *threads;
        int thread_cnt; /* >= 1; with num.stream.threads=0, one host-driven */
        int host_driven;
        int wake_fd[2]; /* host mode: readable when the app has work */
        /* <state.dir>/<app>/<instance>: this instance's task directories,
         * held with an fcntl lock on its .lock (instance_fd) */
        char *state_base;
        char *instance_id;
        int instance_fd;
        /* exactly_once_v2: the instance's part of every thread's
         * transactional.id, <application.id>-<txn_identity>-<thread n>
         * (the pinned sluice.instance.id, or the directory's .identity) */
        char *txn_identity;
        /* the largest record the dead-letter topic takes (0: unknown, the
         * producer's limit applies), set before the threads start */
        int64_t dlq_topic_max;
        /* one per sub-topology with exact-named sources (thread.c) */
        sl_placement_t *placement;
        size_t placement_cnt;
        /* global tables' stores and their thread (lib/global.h; NULL:
         * none), bootstrapped by sluice_app_start() */
        struct sl_global_s *global;

        atomic_int stop;
        atomic_uint_fast64_t processed;
        mtx_t lock; /* recursive; guards state, error, listener order */
        cnd_t changed; /* signalled on every state change */
        sluice_app_state_t state;
        char error[SL_ERRSTR_SIZE + 256];
        sluice_state_cb *state_cb;
        void *state_opaque;
        int closed;
};

/* thread.c */
int sl_thread_init(sl_thread_t *thr, struct sluice_app_s *app, int idx,
                   char *errstr, size_t errstr_size);
int sl_thread_subscribe(sl_thread_t *thr, char *errstr, size_t errstr_size);
/* Handle up to @budget consumer messages (records and error events),
 * waiting at most @timeout_ms for the first. Returns how many, or -1 after a
 * fatal error (app error set). */
int sl_thread_step(sl_thread_t *thr, int budget, int timeout_ms);
/* Final commit, leave the group, destroy the clients and tasks. */
void sl_thread_close(sl_thread_t *thr);
void sl_thread_destroy(sl_thread_t *thr);
int sl_thread_main(void *arg);
void sl_thread_publish(sl_thread_t *thr);
/* librdkafka's last error event on the thread's clients ("" if none). */
void sl_thread_last_error(sl_thread_t *thr, char *buf, size_t size);

/* txn.c: the transactional producer of a stream thread (exactly_once_v2).
 * Each is called on the thread that owns @thr. */
/* init_transactions(), retried while librdkafka says it may be (a
 * previous producer of the same transactional.id is being fenced and its
 * transaction aborted). 0, or -1 with errstr. */
int sl_txn_init(sl_thread_t *thr, char *errstr, size_t errstr_size);
/* begin_transaction() unless one is open. 0, or -1 with errstr. */
int sl_txn_begin(sl_thread_t *thr, char *errstr, size_t errstr_size);
/* Commit the open transaction (if none is open, one is begun when
 * @offsets holds any): wait until every record produced in it is
 * acknowledged, add @offsets with the consumer's group metadata, commit.
 * Retriable errors are retried within transaction.timeout.ms.
 * Returns 0 when committed (or nothing was open), 1 when the transaction
 * must be aborted (@why says why; sl_txn_abort() next), -1 on a fatal
 * error (@why). */
int sl_txn_commit(sl_thread_t *thr,
                  const rd_kafka_topic_partition_list_t *offsets, char *why,
                  size_t why_size);
/* Abort the open transaction (nothing if none): its records are purged
 * or marked aborted, its offsets dropped. 0, or -1 with @why (fatal, or
 * the app is closing and the coordinator stayed unreachable: the broker
 * aborts it after transaction.timeout.ms). */
int sl_txn_abort(sl_thread_t *thr, char *why, size_t why_size);
/* @msg (a fatal producer error) says the producer was fenced: the hint
 * for the app's error, naming the transactional.id, into @buf ("" if not
 * fenced). */
const char *sl_txn_fenced_hint(const sl_thread_t *thr, const char *msg,
                               char *buf, size_t size);
/* Free what the transactional path holds (at thread destroy). */
void sl_txn_destroy(sl_thread_t *thr);
/* How many producers @thr left to a send_offsets_to_transaction() call
 * that has not returned yet. The thread's own (reads its list). */
unsigned sl_txn_abandoned_pending(sl_thread_t *thr);

/* Room for the error headers of a dead letter over the input's size. */
#define SL_DLQ_HEADROOM (64 * 1024)
/* The producer's message.max.bytes when a dead-letter topic is configured
 * on a real cluster and the user set none: the broker's topic limits then
 * decide, and dead letters as large as the inputs leave whole. */
#define SL_DLQ_PRODUCER_MAX "16777216"

/* app.c */
void sl_app_fail(struct sluice_app_s *app, const char *fmt, ...)
    SL_PRINTF(2, 3);
void sl_app_thread_assigned(struct sluice_app_s *app);
void sl_app_set_state(struct sluice_app_s *app, sluice_app_state_t state);

#endif
