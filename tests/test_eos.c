/*
 * test_eos.c - exactly_once_v2 on librdkafka's mock cluster: commits are
 * transactions (InitProducerId, AddPartitionsToTxn, TxnOffsetCommit,
 * EndTxn seen by the cluster), an aborted transaction rewinds the input
 * and rebuilds the stores to their last committed state (exact counts and
 * exactly one output per input afterwards), a fenced producer stops its
 * app with the reason, the LMDB store's own offset moves only with a
 * committed transaction, and the instance's transactional identity.
 *
 * What the mock cannot show is proven on a real cluster by
 * tests/integration/chaos.sh: the mock filters no aborted records for a
 * read_committed consumer and stores no offsets sent with a transaction.
 * So the aborts here are made where no record of the aborted transaction
 * reaches a log: AddPartitionsToTxn fails (the cluster refuses the
 * partitions), and librdkafka then sends none of the transaction's records.
 */
#include "helpers.h"
#include "kafka_util.h"
#include "test_list.h"
#include "test_util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

/* Kafka's API keys the tests look for or fail */
#define API_PRODUCE 0
#define API_INIT_PRODUCER_ID 22
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_END_TXN 26
#define API_TXN_OFFSET_COMMIT 28

#define KEYS 10

/* ---- a log the tests read ---- */

typedef struct {
        mtx_t lock;
        char text[65536];
} log_t;

static void on_log(sluice_log_level_t level, const char *fac, const char *msg,
                   void *opaque) {
        log_t *l = opaque;
        size_t n;
        (void)level;
        mtx_lock(&l->lock);
        n = strlen(l->text);
        if (n + 1 < sizeof(l->text))
                snprintf(l->text + n, sizeof(l->text) - n, "%s: %s\n", fac,
                         msg);
        mtx_unlock(&l->lock);
}

/* The log's last 3000 characters (Check's messages are bounded). */
static const char *log_tail(log_t *l) {
        size_t n = strlen(l->text);
        return n > 3000 ? l->text + n - 3000 : l->text;
}

static int log_has(log_t *l, const char *what) {
        int r;
        mtx_lock(&l->lock);
        r = strstr(l->text, what) != NULL;
        mtx_unlock(&l->lock);
        return r;
}

/* ---- restores the listener saw ---- */

typedef struct {
        mtx_t lock;
        int ends;               /* END events */
        int64_t start[64], end[64];
        uint64_t restored[64];
} restores_t;

static void on_restore(const sluice_restore_info_t *info, void *opaque) {
        restores_t *r = opaque;
        if (info->phase != SLUICE_RESTORE_END)
                return;
        mtx_lock(&r->lock);
        if (r->ends < 64) {
                r->start[r->ends]    = info->start_offset;
                r->end[r->ends]      = info->end_offset;
                r->restored[r->ends] = info->restored;
        }
        r->ends++;
        mtx_unlock(&r->lock);
}

/* ---- the cluster ---- */

typedef struct {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        const char *bootstrap;
} cluster_t;

static void cluster_new(cluster_t *c, const char *app_id) {
        char err[512], clog[256];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_conf_set(rc, "log_level", "0", NULL, 0);
        c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        ck_assert_msg(c->rk != NULL, "%s", err);
        c->mc = rd_kafka_mock_cluster_new(c->rk, 1);
        ck_assert_ptr_nonnull(c->mc);
        c->bootstrap = rd_kafka_mock_cluster_bootstraps(c->mc);
        /* one member at a time: no reason to wait for more */
        rd_kafka_mock_group_initial_rebalance_delay_ms(c->mc, 0);
        rd_kafka_mock_start_request_tracking(c->mc);
        /* the mock has no CreateTopics: the app's changelog is made here */
        snprintf(clog, sizeof(clog), "%s-counts-changelog", app_id);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mc, "in", 2, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mc, "out", 2, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mc, clog, 2, 1), 0);
}

static void cluster_destroy(cluster_t *c) {
        rd_kafka_mock_cluster_destroy(c->mc);
        rd_kafka_destroy(c->rk);
}

/* The last transaction the cluster saw has ended: its EndTxn came after
 * the last AddPartitionsToTxn and AddOffsetsToTxn (a transaction's first
 * requests). */
#define API_ADD_OFFSETS_TO_TXN 25
static int txn_settled(void *arg) {
        cluster_t *c = arg;
        size_t n = 0, i;
        long last_begin = -1, last_end = -1;
        rd_kafka_mock_request_t **reqs = rd_kafka_mock_get_requests(c->mc, &n);
        for (i = 0; i < n; i++) {
                int api = rd_kafka_mock_request_api_key(reqs[i]);
                if (api == API_ADD_PARTITIONS_TO_TXN ||
                    api == API_ADD_OFFSETS_TO_TXN)
                        last_begin = (long)i;
                else if (api == API_END_TXN)
                        last_end = (long)i;
        }
        rd_kafka_mock_request_destroy_array(reqs, n);
        return last_end > last_begin;
}

/* How many requests of @api the cluster saw since tracking started. */
static int requests_of(cluster_t *c, int api) {
        size_t n = 0, i;
        int cnt = 0;
        rd_kafka_mock_request_t **reqs = rd_kafka_mock_get_requests(c->mc, &n);
        for (i = 0; i < n; i++)
                if (rd_kafka_mock_request_api_key(reqs[i]) == api)
                        cnt++;
        rd_kafka_mock_request_destroy_array(reqs, n);
        return cnt;
}

static sluice_conf_t *eos_conf(const cluster_t *c, const char *app_id,
                               const char *state_dir, log_t *log) {
        sluice_conf_t *conf = sluice_conf_new();
        tu_set(conf, "application.id", app_id);
        tu_set(conf, "bootstrap.servers", c->bootstrap);
        tu_set(conf, "processing.guarantee", "exactly_once_v2");
        tu_set(conf, "state.dir", state_dir);
        /* the mock waits a session timeout (less 1 s) for the members of
         * the last generation before a rejoin completes */
        tu_set(conf, "consumer.session.timeout.ms", "2500");
        tu_set(conf, "consumer.heartbeat.interval.ms", "500");
        /* EOS_DEBUG=1: Sluice's debug lines and librdkafka's "eos" ones */
        if (getenv("EOS_DEBUG"))
                tu_set(conf, "producer.debug", "eos");
        sluice_conf_set_log_cb(conf, log ? on_log : NULL,
                               getenv("EOS_DEBUG") ? SLUICE_LOG_DEBUG
                                                   : SLUICE_LOG_INFO,
                               log);
        return conf;
}

/* ---- input: key k<i % KEYS>, value v<i> ---- */

static const char *key_of(int i, char *b, size_t n) {
        snprintf(b, n, "k%d", i % KEYS);
        return b;
}
static const char *value_of(int i, char *b, size_t n) {
        snprintf(b, n, "v%d", i);
        return b;
}
/* records first..first+n-1, by key */
static void produce_range(const cluster_t *c, int first, int n) {
        char err[512], kb[32], vb[32];
        rd_kafka_conf_t *pc = rd_kafka_conf_new();
        rd_kafka_t *p;
        int i;
        rd_kafka_conf_set(pc, "bootstrap.servers", c->bootstrap, NULL, 0);
        rd_kafka_conf_set(pc, "partitioner", "murmur2_random", NULL, 0);
        p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
        ck_assert_msg(p != NULL, "%s", err);
        for (i = first; i < first + n; i++) {
                key_of(i, kb, sizeof(kb));
                value_of(i, vb, sizeof(vb));
                ck_assert_int_eq(
                    rd_kafka_producev(p, RD_KAFKA_V_TOPIC("in"),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_KEY(kb, strlen(kb)),
                                      RD_KAFKA_V_VALUE(vb, strlen(vb)),
                                      RD_KAFKA_V_END),
                    0);
        }
        ck_assert_int_eq(rd_kafka_flush(p, 30000), 0);
        rd_kafka_destroy(p);
}

/* ---- waiting ---- */

typedef struct {
        sluice_app_t *app;
        int64_t want[KEYS]; /* the count every key must show */
} counts_t;

static int64_t be64(const void *p) {
        const unsigned char *b = p;
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return (int64_t)v;
}

static int got_count(const void *k, size_t kl, const void *v, size_t vl,
                     int64_t ts, void *opaque) {
        (void)k;
        (void)kl;
        (void)ts;
        *(int64_t *)opaque = vl == 8 ? be64(v) : -1;
        return 0;
}

static int64_t count_of(sluice_app_t *app, int key) {
        char k[16];
        int64_t c = 0;
        int r;
        snprintf(k, sizeof(k), "k%d", key);
        r = sluice_app_store_get(app, "counts", k, strlen(k), got_count, &c);
        return r == 1 ? c : r == 0 ? 0 : -1;
}

/* every key's count is what it must be */
static int counts_are(void *arg) {
        counts_t *c = arg;
        int k;
        for (k = 0; k < KEYS; k++)
                if (count_of(c->app, k) != c->want[k])
                        return 0;
        return 1;
}

static void want_counts(counts_t *c, int records) {
        int k;
        for (k = 0; k < KEYS; k++)
                c->want[k] = records / KEYS + (k < records % KEYS);
}

static uint64_t metric(sluice_app_t *app, const char *name) {
        char *json = sluice_app_metrics_json(app), key[64];
        const char *p;
        uint64_t sum = 0;
        snprintf(key, sizeof(key), "\"%s\":", name);
        for (p = json; p && (p = strstr(p, key)); p += strlen(key))
                sum += strtoull(p + strlen(key), NULL, 10);
        free(json);
        return sum;
}

typedef struct {
        sluice_app_t *app;
        const char *name;
        uint64_t min;
} metric_t;
static int metric_reached(void *arg) {
        metric_t *m = arg;
        return metric(m->app, m->name) >= m->min;
}

/* Values "V0".."V<n-1>" of "out", each seen at least once. */
typedef struct {
        const char *bootstrap;
        int n;
        int seen[256];
} seen_t;
static int all_came_out(void *arg) {
        seen_t *s = arg;
        ku_record_t *recs;
        int n = ku_consume(s->bootstrap, "out", 100000, 2000, &recs), i;
        memset(s->seen, 0, sizeof(s->seen));
        for (i = 0; i < n; i++) {
                int v = -1;
                if (recs[i].value && sscanf(recs[i].value, "V%d", &v) == 1 &&
                    v >= 0 && v < s->n)
                        s->seen[v]++;
        }
        ku_free(recs, n);
        for (i = 0; i < s->n; i++)
                if (!s->seen[i])
                        return 0;
        return 1;
}

static int none_abandoned(void *arg) {
        return metric(arg, "producers_abandoned") == 0;
}

typedef struct {
        sluice_app_t *app;
        sluice_app_state_t want;
} state_t;
static int in_state(void *arg) {
        state_t *s = arg;
        return sluice_app_state(s->app) == s->want;
}

/* ---- tests ---- */

/* Commits are transactions: the cluster sees the producer initialized,
 * its partitions added, the offsets sent with the transaction and the
 * transaction ended; the counts are exact and no transaction aborted. */
START_TEST(eos_commits_are_transactions) {
        char err[512], dir[256];
        cluster_t c;
        log_t log;
        counts_t want;
        sluice_topology_t *t = tu_count_topology();
        sluice_app_t *app;
        metric_t m;
        mtx_init(&log.lock, mtx_plain);
        log.text[0] = '\0';
        tu_tmpdir(dir, sizeof(dir), "eos-commit");
        cluster_new(&c, "eos-commit");
        app = sluice_app_new(t, eos_conf(&c, "eos-commit", dir, &log), err,
                             sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        produce_range(&c, 0, 200);
        want.app = app;
        want_counts(&want, 200);
        ck_assert_msg(ku_wait_for(counts_are, &want, 30000),
                      "counts never reached 200 records' worth");
        m.app  = app;
        m.name = "commits";
        m.min  = 1;
        ck_assert(ku_wait_for(metric_reached, &m, 10000));
        ck_assert_int_ge(requests_of(&c, API_INIT_PRODUCER_ID), 1);
        ck_assert_int_ge(requests_of(&c, API_ADD_PARTITIONS_TO_TXN), 1);
        ck_assert_int_ge(requests_of(&c, API_TXN_OFFSET_COMMIT), 1);
        ck_assert_int_ge(requests_of(&c, API_END_TXN), 1);
        ck_assert_uint_eq(metric(app, "transactions_aborted"), 0);
        /* the identity: <application.id>-<16 hex digits>-<thread> */
        ck_assert_msg(log_has(&log, "transactional.id eos-commit-"), "%s",
                      log.text);
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* An abortable error mid-stream (the cluster refuses the transaction's
 * partitions): the transaction aborts, the inputs rewind to the last
 * commit and the stores come back to their last committed state, so after
 * processing the batch again every count is exact - the aborted updates
 * were not kept, and none was lost. Run with the record cache on (the
 * abort surfaces at the commit's cache flush) and off (at a record's own
 * write), on the memory store (restored in full) and LMDB (only from its
 * own offset: nothing, the aborted transaction moved it not). */
static void abort_rewinds(const char *store, const char *cache) {
        char err[512], dir[256], app_id[64];
        cluster_t c;
        log_t log;
        restores_t rst;
        counts_t want;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf;
        sluice_app_t *app;
        metric_t m;
        int i, ends_before;
        mtx_init(&log.lock, mtx_plain);
        mtx_init(&rst.lock, mtx_plain);
        log.text[0] = '\0';
        rst.ends    = 0;
        snprintf(app_id, sizeof(app_id), "eos-abort-%s-%s", store, cache);
        tu_tmpdir(dir, sizeof(dir), "eos-abort");
        cluster_new(&c, app_id);
        conf = eos_conf(&c, app_id, dir, &log);
        tu_set(conf, "default.dsl.store", store);
        tu_set(conf, "statestore.cache.max.bytes", cache);
        sluice_conf_set_restore_cb(conf, on_restore, &rst);
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        want.app = app;
        produce_range(&c, 0, 100);
        want_counts(&want, 100);
        ck_assert(ku_wait_for(counts_are, &want, 30000));
        /* committed: the next batch is a transaction of its own */
        ck_assert(ku_wait_for(txn_settled, &c, 10000));
        m.app = app;
        mtx_lock(&rst.lock);
        ends_before = rst.ends;
        mtx_unlock(&rst.lock);
        /* the next transaction's partitions are refused: abortable */
        rd_kafka_mock_push_request_errors(
            c.mc, API_ADD_PARTITIONS_TO_TXN, 1,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        produce_range(&c, 100, 100);
        m.name = "transactions_aborted";
        m.min  = 1;
        ck_assert_msg(ku_wait_for(metric_reached, &m, 30000),
                      "no transaction aborted: %s", log_tail(&log));
        want_counts(&want, 200);
        ck_assert_msg(ku_wait_for(counts_are, &want, 30000),
                      "counts not exact after the abort (k0 %lld, want "
                      "%lld)",
                      (long long)count_of(app, 0), (long long)want.want[0]);
        ck_assert_uint_eq(metric(app, "transactions_aborted"), 1);
        ck_assert(sluice_app_state(app) == SLUICE_APP_RUNNING);
        ck_assert_msg(log_has(&log, "aborting the transaction") &&
                          log_has(&log, "rewound to the last commit"),
                      "%s", log_tail(&log));
        /* the rebuilt stores restored: LMDB nothing (its offset stayed at
         * the last commit, where the changelog ends), memory all of it */
        mtx_lock(&rst.lock);
        ck_assert_int_gt(rst.ends, ends_before);
        for (i = ends_before; i < rst.ends && i < 64; i++) {
                if (!strcmp(store, "lmdb"))
                        ck_assert_uint_eq(rst.restored[i], 0);
                else
                        ck_assert_int_eq(rst.start[i], 0);
        }
        mtx_unlock(&rst.lock);
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
        mtx_destroy(&rst.lock);
}

START_TEST(eos_abort_rewinds_memory_cached) {
        abort_rewinds("in_memory", "10485760");
}
END_TEST
START_TEST(eos_abort_rewinds_memory_uncached) {
        abort_rewinds("in_memory", "0");
}
END_TEST
#ifdef SLUICE_HAVE_LMDB
START_TEST(eos_abort_rewinds_lmdb_cached) {
        abort_rewinds("lmdb", "10485760");
}
END_TEST
START_TEST(eos_abort_rewinds_lmdb_uncached) {
        abort_rewinds("lmdb", "0");
}
END_TEST
#endif

/* A stateless pipe through an abort: every input comes out exactly once
 * (the mock filters nothing, and nothing of the aborted transaction was
 * written: a duplicate would be a rewind to the wrong place, a gap one
 * that skipped). */
static int upper(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char buf[64];
        size_t i;
        (void)opaque;
        for (i = 0; i < v->u.bytes.len && i < sizeof(buf); i++) {
                char ch = ((const char *)v->u.bytes.data)[i];
                buf[i]  = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
        }
        return sluice_record_set_value(rec, sluice_strn(buf, i));
}

START_TEST(eos_abort_output_exactly_once) {
        char err[512], dir[256];
        cluster_t c;
        log_t log;
        sluice_topology_t *t = sluice_topology_new();
        sluice_app_t *app;
        ku_record_t *recs;
        metric_t m;
        int *seen, n, i;
        mtx_init(&log.lock, mtx_plain);
        log.text[0] = '\0';
        sluice_stream_to(sluice_stream_map_values(
                             sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_string()),
                             upper, NULL),
                         "out", NULL, NULL);
        tu_tmpdir(dir, sizeof(dir), "eos-pipe");
        cluster_new(&c, "eos-pipe");
        app = sluice_app_new(t, eos_conf(&c, "eos-pipe", dir, &log), err,
                             sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        produce_range(&c, 0, 300);
        m.app  = app;
        m.name = "processed";
        m.min  = 300;
        ck_assert(ku_wait_for(metric_reached, &m, 30000));
        ck_assert(ku_wait_for(txn_settled, &c, 10000));
        rd_kafka_mock_push_request_errors(
            c.mc, API_ADD_PARTITIONS_TO_TXN, 1,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        produce_range(&c, 300, 300);
        m.name = "transactions_aborted";
        m.min  = 1;
        ck_assert_msg(ku_wait_for(metric_reached, &m, 30000), "%s", log_tail(&log));
        /* the batch again, committed */
        n = ku_consume(c.bootstrap, "out", 600, 30000, &recs);
        ku_free(recs, n);
        ck_assert_int_ge(n, 600);
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        /* all 600 out, each once: read past 600 to see extras */
        n    = ku_consume(c.bootstrap, "out", 601, 3000, &recs);
        seen = calloc(600, sizeof(int));
        ck_assert_int_eq(n, 600);
        for (i = 0; i < n; i++) {
                int v = -1;
                ck_assert_int_eq(sscanf(recs[i].value, "V%d", &v), 1);
                ck_assert(v >= 0 && v < 600);
                seen[v]++;
        }
        for (i = 0; i < 600; i++)
                ck_assert_msg(seen[i] == 1, "input %d came out %d times", i,
                              seen[i]);
        free(seen);
        ku_free(recs, n);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* A zombie fenced: the cluster answers the app's next transaction with
 * PRODUCER_FENCED, as it does once another producer initialized the
 * thread's transactional.id (the mock does not fence by epoch itself, so
 * the answer is injected; tests/integration/chaos.sh has real zombies).
 * The thread stops, the app goes to ERROR through the listener,
 * sluice_app_error() says why and names the transactional.id, and the
 * close neither hangs nor commits. */
static void on_state(sluice_app_t *app, sluice_app_state_t old,
                     sluice_app_state_t new_state, void *opaque) {
        (void)app;
        (void)old;
        if (new_state == SLUICE_APP_ERROR)
                atomic_store((atomic_int *)opaque, 1);
}

START_TEST(eos_fenced_producer_stops_the_app) {
        char err[512], dir[256];
        cluster_t c;
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf;
        sluice_app_t *app;
        counts_t want;
        state_t st;
        atomic_int errored;
        atomic_init(&errored, 0);
        mtx_init(&log.lock, mtx_plain);
        log.text[0] = '\0';
        tu_tmpdir(dir, sizeof(dir), "eos-fence");
        cluster_new(&c, "eos-fence");
        conf = eos_conf(&c, "eos-fence", dir, &log);
        tu_set(conf, "sluice.instance.id", "pod-7");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        sluice_app_set_state_cb(app, on_state, &errored);
        ck_assert_msg(log_has(&log, "transactional.id eos-fence-pod-7-<thread "
                                    "1..1>"),
                      "%s", log_tail(&log));
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        produce_range(&c, 0, 50);
        want.app = app;
        want_counts(&want, 50);
        ck_assert(ku_wait_for(counts_are, &want, 30000));
        rd_kafka_mock_push_request_errors(c.mc, API_ADD_PARTITIONS_TO_TXN, 1,
                                          RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
        produce_range(&c, 50, 50);
        st.app  = app;
        st.want = SLUICE_APP_ERROR;
        ck_assert_msg(ku_wait_for(in_state, &st, 30000), "not fenced: %s",
                      log_tail(&log));
        ck_assert(atomic_load(&errored));
        ck_assert_msg(strstr(sluice_app_error(app), "fenced") &&
                          strstr(sluice_app_error(app), "another producer "
                                                        "with transactional.id "
                                                        "eos-fence-pod-7-1 "
                                                        "took over"),
                      "%s", sluice_app_error(app));
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* librdkafka #5456/#5511: the group's coordinator goes down during a
 * commit, and send_offsets_to_transaction() would block past its timeout
 * for as long as no connection changes state. The thread waits for it
 * until the transaction's deadline (transaction.timeout.ms 3000 here),
 * then leaves that producer to its helper and goes on with a new one:
 * the app stays RUNNING and every input comes out (the mock filters no
 * aborted record, so "exactly once" is tests/integration/chaos.sh's).
 * Once the coordinator is back and a connection drops, the abandoned call
 * returns and the close joins its helper. */
START_TEST(eos_send_offsets_hang_is_bounded) {
        char err[512], dir[256];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        cluster_t c;
        log_t log;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *conf;
        sluice_app_t *app;
        metric_t m;
        seen_t seen_all;
        int i, p;
        mtx_init(&log.lock, mtx_plain);
        log.text[0] = '\0';
        sluice_stream_to(sluice_stream_map_values(
                             sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_string()),
                             upper, NULL),
                         "out", NULL, NULL);
        tu_tmpdir(dir, sizeof(dir), "eos-hang");
        rd_kafka_conf_set(rc, "log_level", "0", NULL, 0);
        c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        ck_assert_msg(c.rk != NULL, "%s", err);
        c.mc = rd_kafka_mock_cluster_new(c.rk, 3);
        ck_assert_ptr_nonnull(c.mc);
        c.bootstrap = rd_kafka_mock_cluster_bootstraps(c.mc);
        rd_kafka_mock_group_initial_rebalance_delay_ms(c.mc, 0);
        rd_kafka_mock_start_request_tracking(c.mc);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c.mc, "in", 2, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c.mc, "out", 2, 1), 0);
        for (p = 0; p < 2; p++) {
                rd_kafka_mock_partition_set_leader(c.mc, "in", p, 1);
                rd_kafka_mock_partition_set_leader(c.mc, "out", p, 1);
        }
        rd_kafka_mock_coordinator_set(c.mc, "transaction", "eos-hang-h-1", 1);
        rd_kafka_mock_coordinator_set(c.mc, "group", "eos-hang", 2);
        conf = eos_conf(&c, "eos-hang", dir, &log);
        tu_set(conf, "sluice.instance.id", "h");
        tu_set(conf, "transaction.timeout.ms", "3000");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        produce_range(&c, 0, 100);
        m.app  = app;
        m.name = "processed";
        m.min  = 100;
        ck_assert(ku_wait_for(metric_reached, &m, 30000));
        ck_assert(ku_wait_for(txn_settled, &c, 10000));
        /* the group moves to broker 3 as broker 2 goes down: the
         * producer's cached coordinator is gone */
        rd_kafka_mock_coordinator_set(c.mc, "group", "eos-hang", 3);
        rd_kafka_mock_broker_set_down(c.mc, 2);
        produce_range(&c, 100, 100);
        m.name = "transactions_aborted";
        m.min  = 1;
        ck_assert_msg(ku_wait_for(metric_reached, &m, 30000), "%s",
                      log_tail(&log));
        /* the mock keeps aborted records: count distinct values, for as
         * long as some are missing */
        seen_all.bootstrap = c.bootstrap;
        seen_all.n         = 200;
        ku_wait_for(all_came_out, &seen_all, 60000);
        if (!log_has(&log, "leaving that producer"))
                ck_abort_msg("no abandoned call: %s", log_tail(&log));
        for (i = 0; i < 200; i++)
                ck_assert_msg(seen_all.seen[i] >= 1, "input %d never came out",
                              i);
        ck_assert(sluice_app_state(app) == SLUICE_APP_RUNNING);
        ck_assert_msg(log_has(&log, "did not return within"), "%s",
                      log_tail(&log));
        /* what re-triggers the abandoned call: its coordinator's broker
         * back, and a connection of its producer that goes down and, more
         * than librdkafka's 1 s between coordinator queries later, up.
         * Until it returned: under valgrind one fault may pass before the
         * producer noticed it */
        rd_kafka_mock_broker_set_up(c.mc, 2);
        for (i = 0; i < 10 && metric(app, "producers_abandoned"); i++) {
                struct timespec down = {1, 500 * 1000 * 1000};
                rd_kafka_mock_broker_set_down(c.mc, 1);
                nanosleep(&down, NULL); /* the fault's duration */
                rd_kafka_mock_broker_set_up(c.mc, 1);
                ku_wait_for(none_abandoned, app, 5000);
        }
        ck_assert_msg(metric(app, "producers_abandoned") == 0,
                      "the abandoned call never returned: %s",
                      log_tail(&log));
        sluice_app_close(app);
        sluice_app_destroy(app);
        ck_assert_msg(!log_has(&log, "has not returned"), "%s",
                      log_tail(&log));
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* The identity: a directory keeps its .identity across restarts (the same
 * transactional.id fences the zombie), a second instance beside it gets
 * another, and a stateless app under exactly-once takes a directory too. */
static void identity_of(const char *log, char *out, size_t n) {
        const char *p = strstr(log, "transactional.id eos-id-");
        size_t len;
        ck_assert_ptr_nonnull(p);
        p += strlen("transactional.id eos-id-");
        len = strcspn(p, "-");
        ck_assert_uint_lt(len, n);
        memcpy(out, p, len);
        out[len] = '\0';
}

START_TEST(eos_identity_is_stable_per_directory) {
        char err[512], dir[256], a1[64], a2[64], b[64];
        cluster_t c;
        log_t la, lb;
        sluice_topology_t *t = sluice_topology_new();
        sluice_app_t *a, *bb;
        sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL), "out", NULL,
                         NULL);
        mtx_init(&la.lock, mtx_plain);
        mtx_init(&lb.lock, mtx_plain);
        la.text[0] = lb.text[0] = '\0';
        tu_tmpdir(dir, sizeof(dir), "eos-id");
        cluster_new(&c, "eos-id");
        a = sluice_app_new(t, eos_conf(&c, "eos-id", dir, &la), err,
                           sizeof(err));
        ck_assert_msg(a != NULL, "%s", err);
        bb = sluice_app_new(t, eos_conf(&c, "eos-id", dir, &lb), err,
                            sizeof(err));
        ck_assert_msg(bb != NULL, "%s", err);
        identity_of(la.text, a1, sizeof(a1));
        identity_of(lb.text, b, sizeof(b));
        ck_assert_uint_eq(strlen(a1), 16);
        ck_assert_str_ne(a1, b);
        sluice_app_destroy(a);
        la.text[0] = '\0';
        /* the first directory is free again: the same identity */
        a = sluice_app_new(t, eos_conf(&c, "eos-id", dir, &la), err,
                           sizeof(err));
        ck_assert_msg(a != NULL, "%s", err);
        identity_of(la.text, a2, sizeof(a2));
        ck_assert_str_eq(a1, a2);
        sluice_app_destroy(a);
        sluice_app_destroy(bb);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&la.lock);
        mtx_destroy(&lb.lock);
}
END_TEST

#ifdef SLUICE_HAVE_LMDB
/* The LMDB store's own offset names committed state: after a clean close
 * it is where the changelog ends; reopened, the store restores nothing. */
static int watermarks(const cluster_t *c, const char *topic, int p,
                      int64_t *lo, int64_t *hi) {
        char err[512];
        rd_kafka_conf_t *cc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        int r;
        rd_kafka_conf_set(cc, "bootstrap.servers", c->bootstrap, NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, cc, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        r = rd_kafka_query_watermark_offsets(rk, topic, p, lo, hi, 10000);
        rd_kafka_destroy(rk);
        return r;
}

static int64_t lmdb_offset(const char *dir, const char *app_id,
                           int partition) {
        const sluice_store_type_t *ty = sluice_store_type_lmdb();
        char path[512], err[512];
        void *h;
        int64_t off = -1;
        snprintf(path, sizeof(path), "%s/%s/0/0_%d/counts", dir, app_id,
                 partition);
        ck_assert_msg(ty->open(ty, path, "counts", &h, err, sizeof(err)) == 0,
                      "%s", err);
        if (ty->read_offset(h, &off) != 1)
                off = -1;
        ty->close(h);
        return off;
}

START_TEST(eos_lmdb_offset_moves_with_commits) {
        char err[512], dir[256];
        cluster_t c;
        log_t log;
        restores_t rst;
        counts_t want;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf;
        sluice_app_t *app;
        int p, i;
        mtx_init(&log.lock, mtx_plain);
        mtx_init(&rst.lock, mtx_plain);
        log.text[0] = '\0';
        rst.ends    = 0;
        tu_tmpdir(dir, sizeof(dir), "eos-lmdb");
        cluster_new(&c, "eos-lmdb");
        conf = eos_conf(&c, "eos-lmdb", dir, &log);
        tu_set(conf, "default.dsl.store", "lmdb");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        produce_range(&c, 0, 100);
        want.app = app;
        want_counts(&want, 100);
        ck_assert(ku_wait_for(counts_are, &want, 30000));
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        sluice_app_destroy(app);
        for (p = 0; p < 2; p++) {
                int64_t lo = -1, hi = -1;
                char clog[64];
                snprintf(clog, sizeof(clog), "eos-lmdb-counts-changelog");
                ck_assert_int_eq(watermarks(&c, clog, p, &lo, &hi), 0);
                ck_assert_int_gt(hi, 0);
                ck_assert_int_eq(lmdb_offset(dir, "eos-lmdb", p), hi);
        }
        /* again: both partitions restore nothing (offsets = ends) */
        conf = eos_conf(&c, "eos-lmdb", dir, &log);
        tu_set(conf, "default.dsl.store", "lmdb");
        sluice_conf_set_restore_cb(conf, on_restore, &rst);
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);
        {
                state_t st = {app, SLUICE_APP_RUNNING};
                ck_assert_msg(ku_wait_for(in_state, &st, 30000), "%s",
                              log_tail(&log));
        }
        mtx_lock(&rst.lock);
        ck_assert_int_eq(rst.ends, 2);
        for (i = 0; i < 2; i++) {
                ck_assert_uint_eq(rst.restored[i], 0);
                ck_assert_int_eq(rst.start[i], rst.end[i]);
        }
        mtx_unlock(&rst.lock);
        /* (the counts are not checked again: the mock kept no offset of
         * the transactions, so this app processes the input once more) */
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        cluster_destroy(&c);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
        mtx_destroy(&rst.lock);
}
END_TEST
#endif

/* ---- the stores' offsets under exactly-once, through the driver ----
 * A store opened under exactly_once_v2 is trusted only for the changelog
 * offset it committed itself (flush_offset(), which Sluice calls after a
 * transaction committed): LMDB's data and offset are kept. A persistent
 * backend without flush_offset() (a version 1 one here) cannot say which
 * state it holds: it is wiped, with the warning, even where a checkpoint
 * file vouches for it - which at-least-once trusts. The driver opens the
 * stores as the runtime does (state.dir/<app>/<sub>_<partition>/<store>).
 */

static void mkdir_p(const char *path) {
        char p[512];
        size_t i;
        snprintf(p, sizeof(p), "%s", path);
        for (i = 1; p[i]; i++)
                if (p[i] == '/') {
                        p[i] = '\0';
                        mkdir(p, 0755);
                        p[i] = '/';
                }
        mkdir(p, 0755);
}

/* A version 1 persistent backend over one memory-store instance that
 * lives in the type's opaque, so that what it holds survives close and
 * open, as on disk. */
typedef struct {
        void *h;
} keep_t;
static const sluice_store_type_t *m(void) {
        return sluice_store_type_memory();
}
static int k_open(const sluice_store_type_t *type, const char *path,
                  const char *name, void **store, char *errstr,
                  size_t errstr_size) {
        keep_t *k = type->opaque;
        if (!k->h && m()->open(m(), path, name, &k->h, errstr, errstr_size))
                return SLUICE_ERR_STATE;
        *store = k->h;
        return 0;
}
static void k_close(void *store) {
        (void)store; /* kept: it is the "disk" */
}

static sluice_store_type_t keep_type(keep_t *k) {
        sluice_store_type_t t;
        memset(&t, 0, sizeof(t));
        t.version           = 1;
        t.name              = "keep";
        t.persistent        = 1;
        t.opaque            = k;
        t.open              = k_open;
        t.close             = k_close;
        t.get               = m()->get;
        t.put               = m()->put;
        t.del               = m()->del;
        t.iter_open         = m()->iter_open;
        t.iter_next         = m()->iter_next;
        t.iter_close        = m()->iter_close;
        t.flush             = m()->flush;
        t.approximate_count = m()->approximate_count;
        return t;
}

static int found(const void *k, size_t kl, const void *v, size_t vl,
                 int64_t ts, void *opaque) {
        (void)k;
        (void)kl;
        (void)v;
        (void)vl;
        (void)ts;
        (*(int *)opaque)++;
        return 0;
}

/* A driver on @dir under @guarantee with the store type @type (NULL:
 * lmdb); 1 if its "counts" holds key "a". */
static int driver_has_a(const char *dir, const char *guarantee,
                        const sluice_store_type_t *type, log_t *log) {
        char err[512];
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *c     = sluice_conf_new();
        sluice_driver_t *drv;
        int hits = 0;
        tu_set(c, "application.id", "eos-drv");
        tu_set(c, "state.dir", dir);
        tu_set(c, "processing.guarantee", guarantee);
        if (type) {
                ck_assert_int_eq(sluice_conf_register_store(c, type, err,
                                                            sizeof(err)),
                                 0);
                tu_set(c, "default.dsl.store", "keep");
        } else {
                tu_set(c, "default.dsl.store", "lmdb");
        }
        sluice_conf_set_log_cb(c, on_log, SLUICE_LOG_WARNING, log);
        drv = sluice_driver_new(t, c, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        sluice_driver_store_get(drv, "counts", "a", 1, found, &hits);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return hits;
}

START_TEST(eos_stores_trusted_only_with_their_own_offset) {
        char dir[256], path[512], err[512];
        unsigned char v[16] = {0};
        log_t log;
        keep_t k = {NULL};
        sluice_store_type_t kt = keep_type(&k);
        FILE *f;
        mtx_init(&log.lock, mtx_plain);
        log.text[0] = '\0';
        tu_tmpdir(dir, sizeof(dir), "eos-drv");
#ifdef SLUICE_HAVE_LMDB
        {
                /* LMDB with "a" and the committed offset 7 */
                const sluice_store_type_t *ty = sluice_store_type_lmdb();
                void *h;
                snprintf(path, sizeof(path), "%s/eos-drv/0_0/counts", dir);
                ck_assert_int_eq(ty->open(ty, path, "counts", &h, err,
                                          sizeof(err)),
                                 0);
                v[15] = 1; /* 8 bytes of timestamp, then the count 1 */
                ck_assert_int_eq(ty->put(h, "a", 1, v, 16), 0);
                ck_assert_int_eq(ty->flush_offset(h, 7, err, sizeof(err)), 0);
                ty->close(h);
                ck_assert_int_eq(driver_has_a(dir, "exactly_once_v2", NULL,
                                              &log),
                                 1);
                ck_assert_msg(!log_has(&log, "wiping"), "%s", log_tail(&log));
        }
#endif
        /* the version 1 backend with "a", and a checkpoint file that says
         * it reflects the changelog up to offset 7 */
        {
                void *h;
                ck_assert_int_eq(kt.open(&kt, dir, "counts", &h, err,
                                         sizeof(err)),
                                 0);
                v[15] = 1;
                ck_assert_int_eq(kt.put(h, "a", 1, v, 16), 0);
        }
        snprintf(path, sizeof(path), "%s/eos-drv/0_0", dir);
        mkdir_p(path);
        snprintf(path, sizeof(path), "%s/eos-drv/0_0/.checkpoint", dir);
        ck_assert_ptr_nonnull(f = fopen(path, "w"));
        fprintf(f, "7 counts\n");
        fclose(f);
        /* at-least-once trusts the file */
        ck_assert_int_eq(driver_has_a(dir, "at_least_once", &kt, &log), 1);
        ck_assert_msg(!log_has(&log, "wiping"), "%s", log_tail(&log));
        /* exactly-once cannot: wiped, said so */
        ck_assert_int_eq(driver_has_a(dir, "exactly_once_v2", &kt, &log), 0);
        ck_assert_msg(log_has(&log, "under exactly_once_v2 a persistent "
                                    "store must commit its changelog offset "
                                    "with its data") &&
                          log_has(&log, "wiping it, restoring all of the "
                                        "changelog"),
                      "%s", log_tail(&log));
        m()->close(k.h);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* One case per concern: CK_RUN_CASE=abort runs only those. */
static TCase *eos_case(Suite *s, const char *name) {
        TCase *tc = tcase_create(name);
        tcase_set_timeout(tc, 300);
        suite_add_tcase(s, tc);
        return tc;
}

Suite *suite_eos(void) {
        Suite *s = suite_create("eos");
        TCase *tc;
        tc = eos_case(s, "commit");
        tcase_add_test(tc, eos_commits_are_transactions);
#ifdef SLUICE_HAVE_LMDB
        tcase_add_test(tc, eos_lmdb_offset_moves_with_commits);
#endif
        tc = eos_case(s, "abort");
        tcase_add_test(tc, eos_abort_rewinds_memory_cached);
        tcase_add_test(tc, eos_abort_rewinds_memory_uncached);
#ifdef SLUICE_HAVE_LMDB
        tcase_add_test(tc, eos_abort_rewinds_lmdb_cached);
        tcase_add_test(tc, eos_abort_rewinds_lmdb_uncached);
#endif
        tcase_add_test(tc, eos_abort_output_exactly_once);
        tc = eos_case(s, "fence");
        tcase_add_test(tc, eos_fenced_producer_stops_the_app);
        tc = eos_case(s, "hang");
        tcase_add_test(tc, eos_send_offsets_hang_is_bounded);
        tc = eos_case(s, "stores");
        tcase_add_test(tc, eos_stores_trusted_only_with_their_own_offset);
        tc = eos_case(s, "identity");
        tcase_add_test(tc, eos_identity_is_stable_per_directory);
        return s;
}
