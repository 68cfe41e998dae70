/*
 * test_app.c - the application runtime on the embedded mock cluster: a
 * topology over a 4-partition topic, the state listener's sequence, a clean
 * close that commits, the host-driven step function, and creation errors.
 * (What the mock cannot prove - groups across processes, SIGKILL - runs
 * against a real broker in tests/integration/.)
 */
#include "helpers.h"
#include "kafka_util.h"
#include "test_util.h"
#include "test_list.h"

#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

static int upper(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char buf[64];
        size_t i;
        (void)opaque;
        for (i = 0; i < v->u.bytes.len && i < sizeof(buf); i++) {
                char c = ((const char *)v->u.bytes.data)[i];
                buf[i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        return sluice_record_set_value(rec, sluice_strn(buf, i));
}

static const char *key_of(int i, char *b, size_t n) {
        snprintf(b, n, "key-%d", i);
        return b;
}
static const char *value_of(int i, char *b, size_t n) {
        snprintf(b, n, "value-%d", i);
        return b;
}

static sluice_topology_t *upper_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_to(sluice_stream_map_values(
                             sluice_stream_from(t, "in", sluice_serde_string(),
                                                sluice_serde_string()),
                             upper, NULL),
                         "out", NULL, NULL);
        return t;
}

static sluice_conf_t *embedded_conf(const char *threads) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(c, "application.id", "app-test", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "sluice.embedded", "true", err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "num.stream.threads", threads, err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "commit.interval.ms", "100", err,
                                         sizeof(err)),
                         0);
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        return c;
}

typedef struct {
        sluice_app_state_t seen[16];
        int n;
} states_t;

static void on_state(sluice_app_t *app, sluice_app_state_t old,
                     sluice_app_state_t new_state, void *opaque) {
        states_t *s = opaque;
        (void)app;
        (void)old;
        if (s->n < 16)
                s->seen[s->n++] = new_state;
}

static int app_running(void *arg) {
        return sluice_app_state(arg) == SLUICE_APP_RUNNING;
}

/* Every output record is the input's value uppercased, same key, and per
 * partition in input order. */
static void check_outputs(const char *bootstrap, int n) {
        ku_record_t *recs;
        /* a deadline, not a pause: two threads joining the embedded
         * cluster's group can take a rebalance or two on a loaded
         * machine before both consume */
        int got = ku_consume(bootstrap, "out", n, 90000, &recs), i;
        int *seen = calloc((size_t)n, sizeof(int));
        int64_t last[4] = {-1, -1, -1, -1};
        ck_assert_int_eq(got, n);
        for (i = 0; i < got; i++) {
                int k;
                char want[64];
                ck_assert_int_eq(sscanf(recs[i].key, "key-%d", &k), 1);
                ck_assert(k >= 0 && k < n);
                snprintf(want, sizeof(want), "VALUE-%d", k);
                ck_assert_str_eq(recs[i].value, want);
                seen[k]++;
                /* keys are increasing per input partition; output keeps
                 * the key, so the same partition and order */
                ck_assert(recs[i].partition >= 0 && recs[i].partition < 4);
                ck_assert_int_gt(k, last[recs[i].partition]);
                last[recs[i].partition] = k;
        }
        for (i = 0; i < n; i++)
                ck_assert_int_eq(seen[i], 1);
        free(seen);
        ku_free(recs, got);
}

START_TEST(embedded_app_processes_every_record) {
        char err[512];
        states_t st          = {{0}, 0};
        sluice_topology_t *t = upper_topology();
        sluice_app_t *app    = sluice_app_new(t, embedded_conf("2"), err,
                                              sizeof(err));
        char *metrics;
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_CREATED);
        sluice_app_set_state_cb(app, on_state, &st);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)),
                         SLUICE_ERR_STATE);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "in", 200,
                                    key_of, value_of, -1),
                         0);
        check_outputs(sluice_app_bootstrap_servers(app), 200);
        ck_assert(ku_wait_for(app_running, app, 30000));
        ck_assert_uint_eq(sluice_app_processed(app), 200);
        metrics = sluice_app_metrics_json(app);
        ck_assert_ptr_nonnull(metrics);
        ck_assert(strstr(metrics, "\"application.id\":\"app-test\""));
        ck_assert(strstr(metrics, "\"processed\":200"));
        free(metrics);
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        ck_assert_str_eq(sluice_app_error(app), "");
        ck_assert_int_ge(st.n, 4);
        ck_assert_int_eq(st.seen[0], SLUICE_APP_REBALANCING);
        ck_assert_int_eq(st.seen[st.n - 2], SLUICE_APP_PENDING_SHUTDOWN);
        ck_assert_int_eq(st.seen[st.n - 1], SLUICE_APP_NOT_RUNNING);
        {
                int i, running = 0;
                for (i = 0; i < st.n; i++)
                        running |= st.seen[i] == SLUICE_APP_RUNNING;
                ck_assert(running);
        }
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

/* group.protocol=consumer (KIP-848, which the embedded cluster speaks):
 * the consumers are made without a client-side assignor (librdkafka
 * refuses one under it), and two stream threads share the input. */
START_TEST(embedded_app_on_the_consumer_group_protocol) {
        char err[512];
        sluice_topology_t *t = upper_topology();
        sluice_conf_t *c     = embedded_conf("2");
        sluice_app_t *app;
        ck_assert_int_eq(sluice_conf_set(c, "group.protocol", "consumer", err,
                                         sizeof(err)),
                         0);
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "in", 200,
                                    key_of, value_of, -1),
                         0);
        check_outputs(sluice_app_bootstrap_servers(app), 200);
        ck_assert_uint_eq(sluice_app_processed(app), 200);
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

static void count_metrics_lines(sluice_log_level_t level, const char *fac,
                                const char *msg, void *opaque) {
        (void)level;
        if (!strcmp(fac, "METRICS") && strstr(msg, "\"threads\":[{\"thread\":0"))
                (*(int *)opaque)++;
}

START_TEST(host_driven_app_with_poll) {
        char err[512];
        int metrics_lines    = 0;
        sluice_topology_t *t = upper_topology();
        sluice_conf_t *conf  = embedded_conf("0");
        sluice_app_t *app;
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.metrics.log.interval.ms",
                                         "50", err, sizeof(err)),
                         0);
        sluice_conf_set_log_cb(conf, count_metrics_lines, SLUICE_LOG_INFO,
                               &metrics_lines);
        app = sluice_app_new(t, conf, err, sizeof(err));
        struct pollfd p;
        int rounds = 0;
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_ge(sluice_app_fd(app), 0);
        ck_assert_int_eq(sluice_app_run(app, err, sizeof(err)),
                         SLUICE_ERR_STATE); /* the host drives this one */
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "in", 100,
                                    key_of, value_of, -1),
                         0);
        p.fd     = sluice_app_fd(app);
        p.events = POLLIN;
        /* the host's loop: step, and wait on the fd when told to */
        while (sluice_app_processed(app) < 100 && rounds++ < 2000) {
                int more = sluice_app_step(app, 10);
                ck_assert_int_ge(more, 0);
                if (!more)
                        poll(&p, 1, sluice_app_timeout_ms(app));
        }
        ck_assert_uint_eq(sluice_app_processed(app), 100);
        /* the loop ran long enough to log metrics at least once */
        while (metrics_lines == 0 && rounds++ < 2000) {
                ck_assert_int_ge(sluice_app_step(app, 10), 0);
                poll(&p, 1, sluice_app_timeout_ms(app));
        }
        ck_assert_int_gt(metrics_lines, 0);
        sluice_app_close(app); /* commits on this thread */
        check_outputs(sluice_app_bootstrap_servers(app), 100);
        ck_assert_int_eq(sluice_app_step(app, 10), SLUICE_ERR_STATE);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(app_creation_errors) {
        char err[512];
        sluice_topology_t *t = upper_topology();
        sluice_conf_t *c     = sluice_conf_new();
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "configuration property \"application.id\" is "
                              "required");
        sluice_conf_set(c, "application.id", "x", err, sizeof(err));
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "configuration property \"bootstrap.servers\" "
                              "is required (or sluice.embedded=true)");
        ck_assert_ptr_null(sluice_app_new(NULL, c, err, sizeof(err)));
        sluice_conf_destroy(c);
        sluice_topology_destroy(t);

        t = sluice_topology_new(); /* no source */
        c = embedded_conf("1");
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "the topology has no source: add one with "
                              "sluice_stream_from()");
        sluice_conf_destroy(c);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(missing_source_topic_is_named) {
        /* a cluster of our own, without the topic, as a "real" one */
        char err[512];
        rd_kafka_conf_t *mc = rd_kafka_conf_new();
        rd_kafka_conf_set(mc, "log_level", "3", NULL, 0);
        rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mc, err, sizeof(err));
        rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(mrk, 1);
        sluice_topology_t *t = upper_topology();
        sluice_conf_t *c     = sluice_conf_new();
        sluice_app_t *app;
        sluice_conf_set(c, "application.id", "missing", err, sizeof(err));
        sluice_conf_set(c, "bootstrap.servers",
                        rd_kafka_mock_cluster_bootstraps(mock), err,
                        sizeof(err));
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR - 1, NULL);
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)),
                         SLUICE_ERR_STATE);
        ck_assert_str_eq(err, "source topic \"in\" does not exist; create it "
                              "first");
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        ck_assert_str_eq(sluice_app_error(app), err);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(mrk);
}
END_TEST

static int first_letter_key(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        /* "value-17" -> key "7": ten keys */
        return sluice_record_set_key(
            rec, sluice_strn((const char *)v->u.bytes.data + v->u.bytes.len - 1,
                             1));
}

START_TEST(embedded_repartition) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_app_t *app;
        ku_record_t *recs;
        int got, i, per_key[10] = {0};
        s = sluice_stream_repartition(
            sluice_stream_select_key(s, first_letter_key, NULL), "rekey", 0);
        sluice_stream_to(sluice_stream_map_values(s, upper, NULL), "out", NULL,
                         NULL);
        app = sluice_app_new(t, embedded_conf("1"), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce(sluice_app_bootstrap_servers(app), "in", 100,
                                    key_of, value_of, -1),
                         0);
        got = ku_consume(sluice_app_bootstrap_servers(app), "out", 100, 30000,
                         &recs);
        ck_assert_int_eq(got, 100);
        for (i = 0; i < got; i++) {
                int k = recs[i].key[0] - '0';
                ck_assert(k >= 0 && k < 10);
                ck_assert_int_eq(recs[i].value[strlen(recs[i].value) - 1],
                                 recs[i].key[0]);
                per_key[k]++;
        }
        for (i = 0; i < 10; i++)
                ck_assert_int_eq(per_key[i], 10);
        ku_free(recs, got);
        /* the internal topic was created with the input's 4 partitions, and
         * holds the 100 re-keyed records */
        got = ku_consume(sluice_app_bootstrap_servers(app),
                         "app-test-rekey-repartition", 100, 30000, &recs);
        ck_assert_int_eq(got, 100);
        for (i = 0; i < got; i++)
                ck_assert(recs[i].partition >= 0 && recs[i].partition < 4);
        ku_free(recs, got);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

/* ---- state on the embedded cluster ---- */

static void produce_raw(const char *bootstrap, const char *topic,
                        int32_t partition, const char *key, const void *value,
                        size_t len, int64_t ts) {
        ck_assert_int_eq(ku_produce_raw(bootstrap, topic, partition, key,
                                        strlen(key), value, len, ts),
                         0);
}

static void be64_put(unsigned char *b, int64_t v) {
        int i;
        for (i = 7; i >= 0; i--, v >>= 8)
                b[i] = (unsigned char)(v & 0xff);
}
static int64_t be64_get(const void *p) {
        const unsigned char *b = p;
        int64_t v              = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

typedef struct {
        int starts, ends;
        uint64_t restored;
        int64_t start_offset, end_offset;
} restores_t;

/* called on the stream thread; the test reads it after a wait that
 * synchronizes through the app's lock (sluice_app_store_get) */
static void on_restore(const sluice_restore_info_t *info, void *opaque) {
        restores_t *r = opaque;
        if (info->partition != 0)
                return;
        if (info->phase == SLUICE_RESTORE_START)
                r->starts++;
        if (info->phase == SLUICE_RESTORE_END) {
                r->ends++;
                r->restored     = info->restored;
                r->start_offset = info->start_offset;
                r->end_offset   = info->end_offset;
        }
}

typedef struct {
        int64_t n, ts;
} count_t;
static int got_count(const void *k, size_t klen, const void *v, size_t vlen,
                     int64_t ts, void *opaque) {
        count_t *c = opaque;
        (void)k;
        (void)klen;
        ck_assert_uint_eq(vlen, 8);
        c->n  = be64_get(v);
        c->ts = ts;
        return 0;
}
static int append_key(const void *k, size_t klen, const void *v, size_t vlen,
                      int64_t ts, void *opaque) {
        char *acc = opaque;
        size_t n  = strlen(acc);
        (void)ts;
        snprintf(acc + n, 128 - n, "%.*s=%lld;", (int)klen, (const char *)k,
                 (long long)be64_get(v));
        (void)vlen;
        return 0;
}

typedef struct {
        sluice_app_t *app;
        const char *key;
        int64_t want;
} iq_wait_t;
static int iq_reached(void *arg) {
        iq_wait_t *w = arg;
        count_t c    = {0, 0};
        return sluice_app_store_get(w->app, "counts", w->key, strlen(w->key),
                                    got_count, &c) == 1 &&
               c.n == w->want;
}

/* Restore from the changelog before processing, local reads, and the
 * record cache: counts collapse until the commit (here: the close) and
 * come out in last-write order. */
START_TEST(embedded_count_restores_queries_and_collapses) {
        char err[512], all[128] = "";
        restores_t rs        = {0, 0, 0, -1, -1};
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf  = embedded_conf("1");
        sluice_app_t *app;
        unsigned char v[8];
        count_t c  = {0, 0};
        iq_wait_t w;
        ku_record_t *recs;
        int got;
        const char *bs;
        ck_assert_int_eq(sluice_conf_set(conf, "commit.interval.ms", "600000",
                                         err, sizeof(err)),
                         0);
        sluice_conf_set_restore_cb(conf, on_restore, &rs);
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        bs = sluice_app_bootstrap_servers(app);
        /* a changelog from an earlier life: a=5 then a=9, b=7 */
        be64_put(v, 5);
        produce_raw(bs, "app-test-counts-changelog", 0, "a", v, 8, 10);
        be64_put(v, 7);
        produce_raw(bs, "app-test-counts-changelog", 0, "b", v, 8, 20);
        be64_put(v, 9);
        produce_raw(bs, "app-test-counts-changelog", 0, "a", v, 8, 30);
        /* unknown stores are refused */
        ck_assert_int_eq(sluice_app_store_get(app, "nope", "a", 1, got_count,
                                              &c),
                         SLUICE_ERR_STATE);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app  = app;
        w.key  = "a";
        w.want = 9;
        ck_assert(ku_wait_for(iq_reached, &w, 30000));
        /* restored from offset 0 (a memory store) to the end, 3 records */
        ck_assert_int_eq(rs.starts, 1);
        ck_assert_int_eq(rs.ends, 1);
        ck_assert_uint_eq(rs.restored, 3);
        ck_assert_int_eq(rs.start_offset, 0);
        ck_assert_int_eq(rs.end_offset, 3);
        ck_assert_int_eq(sluice_app_store_get(app, "counts", "b", 1, got_count,
                                              &c),
                         1);
        ck_assert_int_eq(c.n, 7);
        ck_assert_int_eq(c.ts, 20);
        ck_assert_int_eq(sluice_app_store_get(app, "counts", "zz", 2,
                                              got_count, &c),
                         0);
        /* then a, b, a on partition 0: counted on top of the restored */
        produce_raw(bs, "in", 0, "a", "x", 1, 100);
        produce_raw(bs, "in", 0, "b", "x", 1, 101);
        produce_raw(bs, "in", 0, "a", "x", 1, 102);
        w.want = 11;
        ck_assert(ku_wait_for(iq_reached, &w, 30000));
        /* reads see the cache */
        ck_assert_int_eq(sluice_app_store_range(app, "counts", NULL, 0, NULL,
                                                0, append_key, all),
                         2);
        ck_assert_str_eq(all, "a=11;b=8;");
        /* nothing left the cache yet (no commit): no output */
        ck_assert_int_eq(ku_consume(bs, "out", 1, 500, &recs), 0);
        ku_free(recs, 0);
        sluice_app_close(app); /* commits: the cache flushes */
        got = ku_consume(bs, "out", 3, 5000, &recs);
        /* one record per key, in last-write order: b, then a */
        ck_assert_int_eq(got, 2);
        ck_assert_str_eq(recs[0].key, "b");
        ck_assert_str_eq(recs[1].key, "a");
        ck_assert_int_eq(recs[1].timestamp, 102);
        ku_free(recs, got);
        got = ku_consume(bs, "app-test-counts-changelog", 6, 5000, &recs);
        ck_assert_int_eq(got, 5);
        ku_free(recs, got);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST


/* A session restored from the changelog that ends after the stream time
 * the store kept (its meta record is written at commits) is still found
 * and merged into. */
START_TEST(restored_session_found_past_the_restored_stream_time) {
        char err[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s   = sluice_stream_from(t, "in", sluice_serde_string(),
                                                  sluice_serde_string());
        sluice_conf_t *conf = embedded_conf("1");
        sluice_app_t *app;
        unsigned char k[25], v[8];
        ku_record_t *recs;
        int got;
        const char *bs;
        sluice_stream_to(
            sluice_table_to_stream(sluice_windowed_count(
                sluice_grouped_windowed_by(
                    sluice_stream_group_by_key(s, NULL, NULL),
                    sluice_windows_session(100, 0)),
                "s")),
            "out", NULL, NULL);
        ck_assert_int_eq(sluice_conf_set(conf, "statestore.cache.max.bytes",
                                         "0", err, sizeof(err)),
                         0);
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        bs = sluice_app_bootstrap_servers(app);
        /* an earlier life's changelog: a's session [10,20] = 2 (segment,
         * "a", end, start), and no meta record */
        be64_put(k, 0);
        k[8] = 'a';
        be64_put(k + 9, 20);
        be64_put(k + 17, 10);
        be64_put(v, 2);
        ck_assert_int_eq(ku_produce_raw(bs, "app-test-s-changelog", 0, k,
                                        sizeof(k), v, 8, 20),
                         0);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        produce_raw(bs, "in", 0, "a", "x", 1, 15); /* inside [10,20] */
        /* without the cache: the old session's tombstone, then the merged
         * one (the same window) */
        got = ku_consume(bs, "out", 2, 10000, &recs);
        ck_assert_int_eq(got, 2);
        ck_assert_int_eq(be64_get((const unsigned char *)recs[0].key + 1), 20);
        ck_assert_int_eq(be64_get((const unsigned char *)recs[0].key + 9), 10);
        ck_assert_ptr_null(recs[0].value);
        ck_assert_int_eq(be64_get((const unsigned char *)recs[1].key + 1), 20);
        ck_assert_int_eq(be64_get((const unsigned char *)recs[1].key + 9), 10);
        ck_assert_ptr_nonnull(recs[1].value);
        ck_assert_int_eq(be64_get(recs[1].value), 3);
        ku_free(recs, got);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

/* A stream-stream left join in the app: an unmatched left record comes
 * out once its window closed, which the join checks at most once per
 * emit interval of wall-clock time. The app's wall clock must move for
 * every task, not only for those with wall-clock punctuations (it did
 * not: the record never came out). The interval is 1 ms here, so no
 * test waits on the clock: the second record is processed well after. */
static int ss_joiner(const sluice_value_t *k, const sluice_value_t *l,
                     const sluice_value_t *r, sluice_value_t *out,
                     void *opaque) {
        (void)k;
        (void)l;
        (void)opaque;
        *out = sluice_str(r ? "joined" : "left-only");
        return 0;
}

static int app_processed_one(void *arg) {
        return sluice_app_processed(arg) >= 1;
}

START_TEST(embedded_left_join_emits_unmatched_records) {
        char err[512];
        const int64_t H = 3600000, t0 = 1700000000000LL;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c     = embedded_conf("1");
        sluice_app_t *app;
        ku_record_t *recs = NULL;
        const char *bs;
        int got;
        sluice_stream_to(
            sluice_stream_left_join(
                sluice_stream_from(t, "l", sluice_serde_string(),
                                   sluice_serde_string()),
                sluice_stream_from(t, "r", sluice_serde_string(),
                                   sluice_serde_string()),
                sluice_join_windows_asym(0, H, 600000), ss_joiner, NULL,
                sluice_serde_string(), "lj"),
            "out", NULL, NULL);
        ck_assert_int_eq(
            sluice_conf_set(
                c, "__emit.interval.ms.kstreams.outer.join.spurious.results.fix__",
                "1", err, sizeof(err)),
            0);
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        bs = sluice_app_bootstrap_servers(app);
        ck_assert_int_eq(ku_produce_raw(bs, "l", 0, "a", 1, "v", 1, t0), 0);
        ck_assert(ku_wait_for(app_processed_one, app, 60000));
        /* 5 h later: the left record's window and grace are long closed */
        ck_assert_int_eq(ku_produce_raw(bs, "r", 0, "a", 1, "w", 1, t0 + 5 * H),
                         0);
        got = ku_consume(bs, "out", 1, 30000, &recs);
        ck_assert_int_eq(got, 1);
        ck_assert_str_eq(recs[0].key, "a");
        ck_assert_str_eq(recs[0].value, "left-only");
        ck_assert_int_eq(recs[0].timestamp, t0);
        ku_free(recs, got);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

Suite *suite_app(void) {
        Suite *s  = suite_create("app");
        TCase *tc = tcase_create("embedded");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, embedded_app_processes_every_record);
        tcase_add_test(tc, embedded_left_join_emits_unmatched_records);
        tcase_add_test(tc, embedded_app_on_the_consumer_group_protocol);
        tcase_add_test(tc, host_driven_app_with_poll);
        tcase_add_test(tc, app_creation_errors);
        tcase_add_test(tc, missing_source_topic_is_named);
        tcase_add_test(tc, embedded_repartition);
        tcase_add_test(tc, embedded_count_restores_queries_and_collapses);
        tcase_add_test(tc, restored_session_found_past_the_restored_stream_time);
        suite_add_tcase(s, tc);
        return s;
}
