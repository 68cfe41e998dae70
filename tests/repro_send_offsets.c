/*
 * repro_send_offsets.c - does rd_kafka_send_offsets_to_transaction() keep
 * its timeout when the consumer group's coordinator goes away? Two
 * librdkafka issues say it does not:
 *
 *   #5456  the coordinator request's timeout (creq_ts_timeout) is never
 *          checked: with the group coordinator down, the call blocks past
 *          its timeout;
 *   #5511  a coordinator that disappears from the metadata is
 *          decommissioned but stays cached as the group's coordinator, and
 *          nothing triggers the request again until a connection to some
 *          other broker goes up or down.
 *
 * Both cases run a transactional producer on librdkafka's mock cluster
 * (three brokers, no real broker needed), make the call with a 2000 ms
 * timeout on a thread of their own and wait 15 s for it:
 *   1. the group's coordinator goes down before the call. The mock drops a
 *      broker that is down from its metadata, so the client decommissions
 *      it: #5456 and #5511 at once. If the call blocks, the coordinator is
 *      brought back, and 15 s later (if it still blocks) the connection to
 *      another broker is dropped for 1.5 s;
 *   2. the coordinator a first call used is decommissioned and goes down
 *      between two calls, another broker coordinating the group.
 * Seen with 2.14.2: case 1 blocks for good - the coordinator coming back
 * ends nothing, the other broker's dropped connection does, ~0.5 s later;
 * case 2 returns at once (the next call looks the coordinator up anew).
 *
 *   make repro-librdkafka     (build/tests/repro_send_offsets, ~35 s)
 *
 * One line per case: "#<issue> ...: PRESENT (...)" or "...: not seen
 * (...)"; exit 0 either way (1 on a setup error). Sluice's answer
 * (lib/txn.c): the call runs on a helper thread and is waited for until the
 * transaction's deadline; past it, the producer is left to the helper and a
 * new one fences it, and the batch is processed again.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define CALL_TIMEOUT_MS 2000
#define WAIT_MS 15000
#define GROUP "repro-group"
#define TOPIC "repro-topic"

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

typedef struct {
        rd_kafka_t *rk;
        mtx_t lock;
        cnd_t done_cnd;
        int done;
        int64_t took_ms;
        char result[512];
} call_t;

static int send_offsets(void *arg) {
        call_t *c = arg;
        rd_kafka_topic_partition_list_t *offs =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_consumer_group_metadata_t *cgmd =
            rd_kafka_consumer_group_metadata_new(GROUP);
        int64_t t0 = now_ms();
        rd_kafka_error_t *e;
        rd_kafka_topic_partition_list_add(offs, TOPIC, 0)->offset = 1;
        e = rd_kafka_send_offsets_to_transaction(c->rk, offs, cgmd,
                                                 CALL_TIMEOUT_MS);
        mtx_lock(&c->lock);
        c->took_ms = now_ms() - t0;
        snprintf(c->result, sizeof(c->result), "%s",
                 e ? rd_kafka_error_string(e) : "success");
        c->done = 1;
        cnd_signal(&c->done_cnd);
        mtx_unlock(&c->lock);
        if (e)
                rd_kafka_error_destroy(e);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offs);
        return 0;
}

/* Start the call; 1 if it returned within WAIT_MS. */
static int call_and_wait(call_t *c, thrd_t *thr) {
        struct timespec until;
        int64_t t0 = now_ms(), end = t0 + WAIT_MS;
        c->done = 0;
        thrd_create(thr, send_offsets, c);
        mtx_lock(&c->lock);
        while (!c->done && now_ms() < end) {
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += 1;
                cnd_timedwait(&c->done_cnd, &c->lock, &until);
        }
        mtx_unlock(&c->lock);
        return c->done;
}

static rd_kafka_t *txn_producer(const char *bootstrap, const char *txn_id) {
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_error_t *e;
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "transactional.id", txn_id, NULL, 0);
        if (getenv("REPRO_DEBUG"))
                rd_kafka_conf_set(conf, "debug", getenv("REPRO_DEBUG"), NULL,
                                  0);
        else
                rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
        /* notice a broker gone from the metadata soon (#5511) */
        rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "500",
                          NULL, 0);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
                fprintf(stderr, "repro: %s\n", err);
                exit(1);
        }
        if ((e = rd_kafka_init_transactions(rk, 10000)) ||
            (e = rd_kafka_begin_transaction(rk))) {
                fprintf(stderr, "repro: %s\n", rd_kafka_error_string(e));
                exit(1);
        }
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_VALUE("x", 1),
                          RD_KAFKA_V_END);
        rd_kafka_flush(rk, 10000);
        return rk;
}

static void report(const char *issue, const char *what, int returned,
                   const call_t *c, const char *ended_by, int64_t after_ms) {
        if (!returned || c->took_ms > CALL_TIMEOUT_MS + 3000)
                printf("%s %s: PRESENT (timeout %d ms: still blocked after "
                       "%d ms; it returned %lld ms after %s: %s)\n",
                       issue, what, CALL_TIMEOUT_MS, WAIT_MS,
                       (long long)after_ms, ended_by, c->result);
        else
                printf("%s %s: not seen (returned after %lld ms: %s)\n", issue,
                       what, (long long)c->took_ms, c->result);
        fflush(stdout);
}

/* A call still blocked. What re-triggers librdkafka's coordinator request
 * is a connection to a broker going up or down; the coordinator coming
 * back is not one once the client decommissioned it (#5511), so the
 * connection to @other (broker 1, which the producer uses) is dropped
 * next. Returns the ms from the first step to the end of the call
 * (joined); exits if nothing ends it. */
static int64_t unblock(rd_kafka_mock_cluster_t *mc, call_t *c, thrd_t thr,
                       int32_t coordinator, int32_t other,
                       const char **ended_by) {
        int64_t t0 = now_ms(), end;
        int done;
        rd_kafka_mock_broker_set_up(mc, coordinator);
        *ended_by = "the coordinator came back";
        for (end = now_ms() + WAIT_MS;; pause_ms(100)) {
                mtx_lock(&c->lock);
                done = c->done;
                mtx_unlock(&c->lock);
                if (done || now_ms() >= end)
                        break;
        }
        if (!done) {
                rd_kafka_mock_broker_set_down(mc, other);
                pause_ms(500);
                rd_kafka_mock_broker_set_up(mc, other);
                *ended_by = "the coordinator came back (without effect) and "
                            "the connection to another broker was dropped";
                for (end = now_ms() + WAIT_MS;; pause_ms(100)) {
                        mtx_lock(&c->lock);
                        done = c->done;
                        mtx_unlock(&c->lock);
                        if (done || now_ms() >= end)
                                break;
                }
        }
        if (!done) {
                printf("the call is still blocked: giving up\n");
                fflush(stdout);
                _Exit(0); /* nothing ends it: no cleanup is possible */
        }
        thrd_join(thr, NULL);
        return now_ms() - t0;
}

int main(void) {
        char err[512];
        rd_kafka_conf_t *mconf = rd_kafka_conf_new();
        rd_kafka_t *mrk;
        rd_kafka_mock_cluster_t *mc;
        const char *bs, *ended_by = "";
        call_t c;
        thrd_t thr;
        int returned;
        int64_t extra = 0;

        printf("librdkafka %s\n", rd_kafka_version_str());
        fflush(stdout);
        rd_kafka_conf_set(mconf, "log_level", "0", NULL, 0);
        if (!(mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err))) ||
            !(mc = rd_kafka_mock_cluster_new(mrk, 3))) {
                fprintf(stderr, "repro: cannot start the mock cluster\n");
                return 1;
        }
        bs = rd_kafka_mock_cluster_bootstraps(mc);
        rd_kafka_mock_topic_create(mc, TOPIC, 1, 3);
        rd_kafka_mock_partition_set_leader(mc, TOPIC, 0, 1);
        rd_kafka_mock_coordinator_set(mc, "transaction", "repro-txn-1", 1);
        rd_kafka_mock_coordinator_set(mc, "transaction", "repro-txn-2", 1);
        rd_kafka_mock_coordinator_set(mc, "group", GROUP, 2);
        memset(&c, 0, sizeof(c));
        mtx_init(&c.lock, mtx_plain);
        cnd_init(&c.done_cnd);

        /* #5456: the group coordinator goes down before the call */
        c.rk = txn_producer(bs, "repro-txn-1");
        rd_kafka_mock_broker_set_down(mc, 2);
        returned = call_and_wait(&c, &thr);
        if (returned) {
                thrd_join(thr, NULL);
                rd_kafka_mock_broker_set_up(mc, 2);
        } else {
                extra = unblock(mc, &c, thr, 2, 1, &ended_by);
        }
        report("#5456", "send_offsets_to_transaction() with the group "
                        "coordinator down",
               returned, &c, ended_by, extra);
        rd_kafka_error_destroy(rd_kafka_abort_transaction(c.rk, 10000));
        rd_kafka_destroy(c.rk);

        /* #5511: the coordinator, cached by a first call, leaves the
         * cluster; another broker coordinates the group */
        rd_kafka_mock_coordinator_set(mc, "group", GROUP, 3);
        c.rk = txn_producer(bs, "repro-txn-2");
        if (!call_and_wait(&c, &thr) || strcmp(c.result, "success")) {
                fprintf(stderr, "repro: the first call failed: %s\n",
                        c.result);
                return 1;
        }
        thrd_join(thr, NULL);
        rd_kafka_mock_coordinator_set(mc, "group", GROUP, 1);
        rd_kafka_mock_broker_decommission(mc, 3);
        rd_kafka_mock_broker_set_down(mc, 3);
        /* the producer's metadata refresh (every 500 ms) drops broker 3 */
        pause_ms(3000);
        returned = call_and_wait(&c, &thr);
        if (returned)
                thrd_join(thr, NULL);
        else
                extra = unblock(mc, &c, thr, 3, 2, &ended_by);
        report("#5511", "send_offsets_to_transaction() after the group "
                        "coordinator was decommissioned",
               returned, &c, ended_by, extra);
        rd_kafka_error_destroy(rd_kafka_abort_transaction(c.rk, 10000));
        rd_kafka_destroy(c.rk);

        cnd_destroy(&c.done_cnd);
        mtx_destroy(&c.lock);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(mrk);
        return 0;
}
