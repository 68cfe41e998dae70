/*
 * txn.c - exactly-once commits (processing.guarantee=exactly_once_v2): a
 * stream thread's producer is transactional (one transactional.id per
 * thread, KIP-447), and every commit is one transaction holding what the
 * thread's tasks wrote since the last one (outputs, changelog and
 * repartition records) and the offsets of the input records they
 * processed, sent with the consumer's group metadata.
 *
 * A transaction begins with the first record produced after a commit
 * (sl_txn_begin() from thread.c's produce()), or at the commit itself when
 * only offsets moved. Its commit (sl_txn_commit()) waits until every
 * record is acknowledged, adds the offsets, commits; what can be retried
 * is retried while the broker still holds the transaction open
 * (transaction.timeout.ms from its first record), and what cannot tells
 * the caller to abort. thread.c then aborts (sl_txn_abort()), rewinds the
 * inputs and rebuilds the tasks' stores from their changelogs (read
 * committed: the aborted records never come back), and processes the
 * batch again. Only after a commit succeeded do the stores record the
 * changelog offset they now reflect, so a persistent store's own offset
 * always names committed state.
 */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long one librdkafka call may take before it is logged and retried
 * (the transaction's deadline bounds the whole). */
#define SL_TXN_CALL_MS 5000

static int remaining(int64_t deadline) {
        int64_t left = deadline - sl_now_ms();
        return left < 0 ? 0 : left > SL_TXN_CALL_MS ? SL_TXN_CALL_MS : (int)left;
}

int sl_txn_init(sl_thread_t *thr, char *errstr, size_t errstr_size) {
        /* long enough for the coordinator to fence a zombie and abort its
         * transaction (bounded by its transaction.timeout.ms) */
        int64_t deadline = sl_now_ms() + 2 * (int64_t)thr->txn_timeout_ms +
                           30000;
        for (;;) {
                rd_kafka_error_t *e =
                    rd_kafka_init_transactions(thr->producer, SL_TXN_CALL_MS);
                if (!e)
                        return 0;
                if (rd_kafka_error_is_retriable(e) &&
                    sl_now_ms() < deadline && !atomic_load(&thr->app->stop)) {
                        sl_log(thr->app->conf, SLUICE_LOG_INFO, "EOS",
                               "thread %d: initializing transactions: %s "
                               "(retrying)",
                               thr->idx, rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        continue;
                }
                sl_errstr(errstr, errstr_size,
                          "thread %d: cannot initialize transactions "
                          "(transactional.id %s-%s-%d): %s",
                          thr->idx, thr->app->conf->application_id,
                          thr->app->txn_identity, thr->idx + 1,
                          rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return -1;
        }
}

int sl_txn_begin(sl_thread_t *thr, char *errstr, size_t errstr_size) {
        rd_kafka_error_t *e;
        if (thr->txn_open)
                return 0;
        if ((e = rd_kafka_begin_transaction(thr->producer))) {
                sl_errstr(errstr, errstr_size,
                          "cannot begin a transaction: %s",
                          rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
                return -1;
        }
        thr->txn_open     = 1;
        thr->txn_begin_ms = sl_now_ms();
        return 0;
}

const char *sl_txn_fenced_hint(const sl_thread_t *thr, const char *msg,
                               char *buf, size_t size) {
        buf[0] = '\0';
        if (thr->eos && strstr(msg, "fenced"))
                snprintf(buf, size,
                         " (another producer with transactional.id %s-%s-%d "
                         "took over: another instance with this one's "
                         "identity, or this instance restarted while its "
                         "zombie still ran)",
                         thr->app->conf->application_id,
                         thr->app->txn_identity, thr->idx + 1);
        return buf;
}

/* A delivery error that a new attempt cannot cure: the record itself, or
 * the app's rights, are at fault. */
static int delivery_permanent(rd_kafka_resp_err_t err) {
        switch (err) {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_INVALID_RECORD:
        case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
                return 1;
        default:
                return 0;
        }
}

/* What to do after a failed transactional call: -1 fatal, 1 abort, 0 call
 * again (retriable, and the transaction still stands). Fills @why. */
static int txn_error(sl_thread_t *thr, rd_kafka_error_t *e, const char *what,
                     int64_t deadline, char *why, size_t why_size) {
        char hint[SL_ERRSTR_SIZE];
        int r;
        sl_errstr(why, why_size, "%s: %s%s", what, rd_kafka_error_string(e),
                  rd_kafka_error_is_fatal(e)
                      ? sl_txn_fenced_hint(thr, rd_kafka_error_string(e),
                                           hint, sizeof(hint))
                      : "");
        if (rd_kafka_error_is_fatal(e))
                r = -1;
        else if (rd_kafka_error_txn_requires_abort(e))
                r = 1;
        else if (rd_kafka_error_is_retriable(e))
                r = sl_now_ms() < deadline ? 0 : 1;
        else
                r = -1; /* a state the commit path never asks for */
        if (r == 0)
                sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                       "thread %d: %s (retrying)", thr->idx, why);
        rd_kafka_error_destroy(e);
        return r;
}

/* ---- send_offsets_to_transaction(), on a path of its own ----
 *
 * librdkafka 2.14.2 does not keep this call's timeout when the group's
 * coordinator goes away (its coordinator request never checks its
 * deadline, librdkafka #5456), and a coordinator the client decommissions
 * (a broker gone from the metadata, as a killed KRaft broker is) stays
 * cached: nothing triggers the request again until some connection to a
 * broker goes up or down (#5511). tests/repro_send_offsets.c shows both.
 * So the call runs on a helper thread and the stream thread waits for it
 * until the transaction's deadline. Past that, the producer is handed to
 * the helper, which frees it whenever the call ends, and the thread goes
 * on with a new producer of the same transactional.id: its
 * init_transactions() fences the old one and has the broker abort its
 * transaction, and the batch is processed again (thread.c, txn_renew()).
 * The old producer's callbacks cannot reach the thread any more: its log
 * lines wait on its own queue (log.queue), which nobody serves after the
 * handover, and every other callback runs only in a poll. */
struct sl_txn_call_s {
        thrd_t thr;
        mtx_t lock;
        cnd_t cnd;
        int pending;   /* a call is posted, or under way */
        int quit;      /* the owner is done with the helper */
        int abandoned; /* the owner went on without the call in progress */
        int finished;  /* abandoned, and the call and its producer are done */
        int orphaned;  /* nobody joins it: it frees itself when finished */
        struct sl_txn_call_s *next; /* the thread's abandoned helpers */
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_consumer_group_metadata_t *cgmd;
        int timeout_ms;
        rd_kafka_error_t *error;
};

static void call_free(sl_txn_call_t *c) {
        if (c->error)
                rd_kafka_error_destroy(c->error);
        if (c->offsets)
                rd_kafka_topic_partition_list_destroy(c->offsets);
        if (c->cgmd)
                rd_kafka_consumer_group_metadata_destroy(c->cgmd);
        cnd_destroy(&c->cnd);
        mtx_destroy(&c->lock);
        free(c);
}

static int call_main(void *arg) {
        sl_txn_call_t *c = arg;
        mtx_lock(&c->lock);
        for (;;) {
                rd_kafka_error_t *e;
                while (!c->pending && !c->quit)
                        cnd_wait(&c->cnd, &c->lock);
                if (!c->pending)
                        break;
                mtx_unlock(&c->lock);
                e = rd_kafka_send_offsets_to_transaction(c->rk, c->offsets,
                                                         c->cgmd,
                                                         c->timeout_ms);
                mtx_lock(&c->lock);
                c->error   = e;
                c->pending = 0;
                cnd_broadcast(&c->cnd);
                if (c->abandoned) {
                        /* the producer is this thread's now: fenced by
                         * its successor, it only has to go */
                        mtx_unlock(&c->lock);
                        rd_kafka_destroy(c->rk);
                        mtx_lock(&c->lock);
                        c->finished = 1;
                        cnd_broadcast(&c->cnd);
                        if (c->orphaned) {
                                mtx_unlock(&c->lock);
                                call_free(c);
                                return 0;
                        }
                        break;
                }
        }
        mtx_unlock(&c->lock);
        return 0;
}

/* send_offsets_to_transaction(), waited for until @wait_until; @cgmd is
 * taken over. NULL and *abandoned = 1 when it did not return: the
 * producer belongs to the helper from then on (thr->producer must not be
 * used again). */
static rd_kafka_error_t *
send_offsets(sl_thread_t *thr, const rd_kafka_topic_partition_list_t *offsets,
             rd_kafka_consumer_group_metadata_t *cgmd, int timeout_ms,
             int64_t wait_until, int *abandoned) {
        sl_txn_call_t *c = thr->call;
        rd_kafka_error_t *e;
        *abandoned = 0;
        if (!c) {
                if (!(c = calloc(1, sizeof(*c)))) {
                        rd_kafka_consumer_group_metadata_destroy(cgmd);
                        return rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL,
                                                  "out of memory");
                }
                if (mtx_init(&c->lock, mtx_plain) != thrd_success ||
                    cnd_init(&c->cnd) != thrd_success ||
                    thrd_create(&c->thr, call_main, c) != thrd_success) {
                        free(c);
                        rd_kafka_consumer_group_metadata_destroy(cgmd);
                        return rd_kafka_error_new(
                            RD_KAFKA_RESP_ERR__FAIL,
                            "cannot start the transaction helper thread");
                }
                thr->call = c;
        }
        mtx_lock(&c->lock);
        c->rk         = thr->producer;
        c->offsets    = rd_kafka_topic_partition_list_copy(offsets);
        c->cgmd       = cgmd;
        c->timeout_ms = timeout_ms;
        c->error      = NULL;
        c->pending    = 1;
        cnd_broadcast(&c->cnd);
        while (c->pending && sl_now_ms() < wait_until) {
                struct timespec ts;
                timespec_get(&ts, TIME_UTC);
                ts.tv_nsec += 200 * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                cnd_timedwait(&c->cnd, &c->lock, &ts);
        }
        if (c->pending) {
                c->abandoned = 1;
                mtx_unlock(&c->lock);
                c->next        = thr->abandoned;
                thr->abandoned = c;
                thr->call      = NULL;
                *abandoned     = 1;
                return NULL;
        }
        e        = c->error;
        c->error = NULL;
        rd_kafka_topic_partition_list_destroy(c->offsets);
        rd_kafka_consumer_group_metadata_destroy(c->cgmd);
        c->offsets = NULL;
        c->cgmd    = NULL;
        mtx_unlock(&c->lock);
        return e;
}

int sl_txn_commit(sl_thread_t *thr,
                  const rd_kafka_topic_partition_list_t *offsets, char *why,
                  size_t why_size) {
        int64_t deadline, t0 = sl_now_ms(), t1, t2;
        rd_kafka_error_t *e;
        int r;
        if (!thr->txn_open && (!offsets || !offsets->cnt))
                return 0;
        if (thr->txn_broken) {
                sl_errstr(why, why_size,
                          "a record was refused by the transaction");
                return 1;
        }
        if (sl_txn_begin(thr, why, why_size))
                return -1;
        deadline = thr->txn_begin_ms + thr->txn_timeout_ms;

        if (thr->rk_fatal) {
                char hint[SL_ERRSTR_SIZE];
                sl_errstr(why, why_size, "fatal producer error: %s%s",
                          thr->rk_fatal_msg,
                          sl_txn_fenced_hint(thr, thr->rk_fatal_msg, hint,
                                             sizeof(hint)));
                return -1;
        }
        if (thr->delivery_failed) {
                sl_errstr(why, why_size, "%s", thr->delivery_err);
                return delivery_permanent(thr->delivery_errcode) ? -1 : 1;
        }

        t1 = sl_now_ms();
        /* The input offsets, committed with the records or not at all,
         * with the consumer's group metadata as it is now (its generation
         * fences a zombie of this thread's group member). Sent while the
         * records may still be in flight: commit_transaction() waits for
         * every one of them, so these round trips overlap their
         * acknowledgements instead of following them. */
        while (offsets && offsets->cnt) {
                int left = remaining(deadline), gone;
                /* past the call's own timeout, and then some */
                int64_t wait_until =
                    (sl_now_ms() > deadline ? sl_now_ms() : deadline) +
                    SL_TXN_CALL_MS;
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(thr->consumer);
                if (!cgmd) {
                        sl_errstr(why, why_size,
                                  "the consumer has no group metadata");
                        return -1;
                }
                e = send_offsets(thr, offsets, cgmd, left > 0 ? left : 1000,
                                 wait_until, &gone);
                if (gone) {
                        sl_errstr(why, why_size,
                                  "send_offsets_to_transaction() did not "
                                  "return within %lld ms, past its timeout "
                                  "(librdkafka #5456/#5511: the group's "
                                  "coordinator went away)",
                                  (long long)(sl_now_ms() - t1));
                        thr->producer_abandoned = 1;
                        return 1;
                }
                if (!e)
                        break;
                if ((r = txn_error(thr, e, "sending the offsets", deadline,
                                   why, why_size)))
                        return r;
        }

        t2 = sl_now_ms();
        /* The commit waits until every record is acknowledged (librdkafka
         * retries meanwhile: a broker that is down makes it wait; a record
         * that cannot be delivered within transaction.timeout.ms makes the
         * transaction abortable), then ends the transaction. A commit that
         * timed out is still under way in librdkafka: only calling it again
         * may follow (an abort now would be refused as a conflicting
         * call), so a retriable failure is retried past the deadline too,
         * until the broker says how it ended; a closing app gives up once
         * the broker has certainly aborted it. */
        for (;;) {
                e = rd_kafka_commit_transaction(thr->producer, SL_TXN_CALL_MS);
                if (!e)
                        break;
                if (rd_kafka_error_is_retriable(e) &&
                    !rd_kafka_error_txn_requires_abort(e) &&
                    !rd_kafka_error_is_fatal(e)) {
                        if (atomic_load(&thr->app->stop) &&
                            sl_now_ms() >= deadline + thr->txn_timeout_ms) {
                                sl_errstr(why, why_size,
                                          "committing: %s (giving up: the "
                                          "app is closing)",
                                          rd_kafka_error_string(e));
                                rd_kafka_error_destroy(e);
                                return -1;
                        }
                        sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                               "thread %d: committing: %s (retrying)",
                               thr->idx, rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        continue;
                }
                return txn_error(thr, e, "committing", deadline, why,
                                 why_size) < 0
                           ? -1
                           : 1;
        }
        thr->txn_open = 0;
        sl_log(thr->app->conf, SLUICE_LOG_DEBUG, "EOS",
               "thread %d: transaction committed in %lld ms (checks %lld, "
               "offsets %lld, flush and commit %lld)",
               thr->idx, (long long)(sl_now_ms() - t0), (long long)(t1 - t0),
               (long long)(t2 - t1), (long long)(sl_now_ms() - t2));
        return 0;
}

int sl_txn_abort(sl_thread_t *thr, char *why, size_t why_size) {
        int64_t give_up = sl_now_ms() + 2 * (int64_t)thr->txn_timeout_ms;
        if (!thr->txn_open)
                goto done;
        for (;;) {
                rd_kafka_error_t *e =
                    rd_kafka_abort_transaction(thr->producer, SL_TXN_CALL_MS);
                if (!e)
                        break;
                if (rd_kafka_error_is_fatal(e) ||
                    !rd_kafka_error_is_retriable(e) ||
                    (atomic_load(&thr->app->stop) && sl_now_ms() >= give_up)) {
                        sl_errstr(why, why_size, "aborting: %s",
                                  rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        return -1;
                }
                sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                       "thread %d: aborting the transaction: %s (retrying)",
                       thr->idx, rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
        }
        thr->txn_open = 0;
done:
        /* the purged records' reports are in: none of them counts */
        rd_kafka_poll(thr->producer, 0);
        thr->delivery_failed  = 0;
        thr->delivery_errcode = RD_KAFKA_RESP_ERR_NO_ERROR;
        thr->delivery_err[0]  = '\0';
        thr->txn_broken       = 0;
        return 0;
}

unsigned sl_txn_abandoned_pending(sl_thread_t *thr) {
        sl_txn_call_t *c;
        unsigned n = 0;
        for (c = thr->abandoned; c; c = c->next) {
                mtx_lock(&c->lock);
                n += !c->finished;
                mtx_unlock(&c->lock);
        }
        return n;
}

/* How long a closing thread waits for an abandoned call to end. */
#define SL_TXN_ORPHAN_WAIT_MS 10000

void sl_txn_destroy(sl_thread_t *thr) {
        sl_txn_call_t *c = thr->call, *next;
        int64_t until    = sl_now_ms() + SL_TXN_ORPHAN_WAIT_MS;
        if (c) {
                mtx_lock(&c->lock);
                c->quit = 1;
                cnd_broadcast(&c->cnd);
                mtx_unlock(&c->lock);
                thrd_join(c->thr, NULL);
                call_free(c);
                thr->call = NULL;
        }
        /* the abandoned ones: joined once their call ended (a connection
         * going up or down anywhere in their producer re-triggers it);
         * one that never ends is left to free itself if it ever does */
        for (c = thr->abandoned; c; c = next) {
                next = c->next;
                mtx_lock(&c->lock);
                while (!c->finished && sl_now_ms() < until) {
                        struct timespec ts;
                        timespec_get(&ts, TIME_UTC);
                        ts.tv_sec++;
                        cnd_timedwait(&c->cnd, &c->lock, &ts);
                }
                if (c->finished) {
                        mtx_unlock(&c->lock);
                        thrd_join(c->thr, NULL);
                        call_free(c);
                        continue;
                }
                c->orphaned = 1;
                mtx_unlock(&c->lock);
                thrd_detach(c->thr);
                sl_log(thr->app->conf, SLUICE_LOG_WARNING, "EOS",
                       "thread %d: a send_offsets_to_transaction() call "
                       "abandoned earlier (librdkafka #5456/#5511) has not "
                       "returned; its producer and helper thread are left "
                       "to end on their own",
                       thr->idx);
        }
        thr->abandoned = NULL;
}
