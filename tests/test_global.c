/*
 * test_global.c - global tables (GlobalKTable) and stream-global-table
 * joins: exact outputs through the test driver (inner and left, a key
 * extractor reading the value, a null extracted key, updates and
 * tombstones in the table, null stream keys and values), local queries
 * of the global store, describe's "for global store" sub-topology, the
 * builder's refusals; and on the embedded cluster a 3-partition global
 * topic joined by a 2-partition stream on 2 threads: the first stream
 * record sees the whole table (bootstrap before processing), a later
 * update is seen by later records, metrics show the global thread, and
 * the app closes cleanly.
 */
#include "helpers.h"
#include "kafka_util.h"
#include "test_list.h"
#include "test_util.h"

#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/app.h"    /* the embedded cluster, to make its topics */
#include "../lib/global.h" /* the store's lock, without Kafka */

#include <pthread.h>

static sluice_topology_t *t;
static sluice_driver_t *drv;

static void setup(void) {
        t   = sluice_topology_new();
        drv = NULL;
}
static void teardown(void) {
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}

static void start(void) {
        char err[512];
        sluice_conf_t *conf = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(conf, "application.id", "gl", err,
                                         sizeof(err)),
                         SLUICE_OK);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "driver: %s", err);
}

/* The table key is the stream value's part before ':'; no ':' means no
 * key (null). */
static int key_before_colon(const sluice_value_t *key,
                            const sluice_value_t *value, sluice_value_t *out,
                            void *opaque) {
        const char *v = (const char *)value->u.bytes.data;
        const char *c = memchr(v, ':', value->u.bytes.len);
        (void)key;
        (void)opaque;
        *out = c ? sluice_strn(v, (size_t)(c - v)) : sluice_null();
        return 0;
}

/* "stream+row" ("null" for no row), "K=null:" in front for a null key */
static int joiner(const sluice_value_t *key, const sluice_value_t *l,
                  const sluice_value_t *r, sluice_value_t *out,
                  void *opaque) {
        /* not on the stack: Sluice copies the string after the callback
         * returns; per thread: the app's stream threads join at once */
        static _Thread_local char buf[256];
        (void)opaque;
        ck_assert_ptr_nonnull(l);
        snprintf(buf, sizeof(buf), "%s%.*s+%.*s",
                 key->type == SLUICE_VALUE_NULL ? "K=null:" : "",
                 (int)l->u.bytes.len, (const char *)l->u.bytes.data,
                 r ? (int)r->u.bytes.len : 4,
                 r ? (const char *)r->u.bytes.data : "null");
        *out = sluice_str(buf); /* copied by Sluice when this returns */
        return 0;
}

static sluice_global_table_t *gtable(const char *topic, const char *store) {
        return sluice_global_table_from(t, topic, sluice_serde_string(),
                                        sluice_serde_string(), store);
}
static sluice_stream_t *stream(const char *topic) {
        return sluice_stream_from(t, topic, sluice_serde_string(),
                                  sluice_serde_string());
}
static void to_out(sluice_stream_t *s) {
        ck_assert_ptr_nonnull(
            sluice_stream_to(s, "out", NULL, sluice_serde_string()));
}
static void pipe_(const char *topic, const char *k, const char *v,
                  int64_t ts) {
        ck_assert_int_eq(sluice_driver_pipe_str(drv, topic, k, v, ts), 0);
}
#define expect(k, v, ts) ck_assert_output(drv, "out", k, v, ts)
#define expect_none() ck_assert_ptr_null(sluice_driver_read(drv, "out"))

static void expect_mistake(const char *what) {
        char err[512];
        ck_assert_int_eq(sluice_topology_validate(t, err, sizeof(err)),
                         SLUICE_ERR_TOPOLOGY);
        ck_assert_msg(strstr(err, what) != NULL, "got: %s", err);
}

/* ---- through the driver ---- */

START_TEST(global_inner_join_by_a_key_from_the_value) {
        sluice_global_table_t *g = gtable("g", "gs");
        to_out(sluice_stream_join_global(stream("s"), g, key_before_colon,
                                         joiner, NULL, sluice_serde_string()));
        start();
        pipe_("s", "a", "k1:x", 10); /* no row yet */
        expect_none();
        pipe_("g", "k1", "v1", 20); /* a table update joins nothing */
        expect_none();
        pipe_("s", "a", "k1:y", 5); /* the current row, whatever the time */
        expect("a", "k1:y+v1", 5);
        pipe_("s", "b", "k2:y", 30); /* no row */
        pipe_("s", "c", "nokey", 30); /* null extracted key: dropped */
        pipe_("s", "d", NULL, 30);    /* null value: dropped */
        expect_none();
        pipe_("s", NULL, "k1:z", 31); /* a null stream key joins */
        expect(NULL, "K=null:k1:z+v1", 31);
        pipe_("g", "k1", "v2", 40); /* update */
        pipe_("s", "e", "k1:w", 41);
        expect("e", "k1:w+v2", 41);
        pipe_("g", "k1", NULL, 50); /* tombstone */
        pipe_("s", "f", "k1:q", 51);
        expect_none();
        pipe_("g", NULL, "nokey-row", 52); /* null key: not a row */
        pipe_("s", "g", "k1:r", 53);
        expect_none();
}
END_TEST

START_TEST(global_left_join_keeps_what_finds_no_row) {
        sluice_global_table_t *g = gtable("g", "gs");
        to_out(sluice_stream_left_join_global(stream("s"), g,
                                              key_before_colon, joiner, NULL,
                                              sluice_serde_string()));
        start();
        pipe_("s", "a", "k1:x", 10);
        expect("a", "k1:x+null", 10);
        pipe_("g", "k1", "v1", 20);
        expect_none();
        pipe_("s", "a", "k1:y", 21);
        expect("a", "k1:y+v1", 21);
        pipe_("s", "c", "nokey", 22); /* null extracted key: joins NULL */
        expect("c", "nokey+null", 22);
        pipe_("s", "d", NULL, 23); /* null value: dropped */
        expect_none();
        pipe_("s", NULL, "k1:n", 24);
        expect(NULL, "K=null:k1:n+v1", 24);
        pipe_("g", "k1", NULL, 30);
        pipe_("s", "a", "k1:z", 31);
        expect("a", "k1:z+null", 31);
        expect_none();
}
END_TEST

/* The stream's key changed (select_key): no repartition, one task's
 * sub-topology, and the join still finds every row. */
static int key_to_value(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_value(rec));
}

START_TEST(global_join_needs_no_repartition) {
        char *d;
        sluice_global_table_t *g = gtable("g", "gs");
        to_out(sluice_stream_join_global(
            sluice_stream_select_key(stream("s"), key_to_value, NULL), g,
            key_before_colon, joiner, NULL, sluice_serde_string()));
        start();
        d = sluice_topology_describe(t);
        ck_assert_ptr_nonnull(d);
        ck_assert_msg(!strstr(d, "repartition"), "%s", d);
        ck_assert_msg(strstr(d, "   Sub-topology: 0\n"), "%s", d);
        ck_assert_msg(
            strstr(d, "   Sub-topology: 1 for global store (will not "
                      "generate tasks)\n"
                      "    Source: KSTREAM-SOURCE-0000000000 (topics: [g])\n"
                      "      --> KTABLE-SOURCE-0000000001\n"
                      "    Processor: KTABLE-SOURCE-0000000001 (stores: "
                      "[gs])\n"
                      "      --> none\n"
                      "      <-- KSTREAM-SOURCE-0000000000\n"),
            "%s", d);
        free(d);
        pipe_("g", "k9", "v9", 1);
        pipe_("s", "old", "k9:x", 2);
        expect("k9:x", "k9:x+v9", 2);
}
END_TEST

typedef struct {
        char seen[512];
        int n;
} visits_t;

static int visit(const void *key, size_t klen, const void *value,
                 size_t vlen, int64_t ts, void *opaque) {
        visits_t *v = opaque;
        size_t used = strlen(v->seen);
        snprintf(v->seen + used, sizeof(v->seen) - used, "%.*s=%.*s@%lld;",
                 (int)klen, (const char *)key, (int)vlen,
                 (const char *)value, (long long)ts);
        v->n++;
        return 0;
}

START_TEST(global_store_local_queries) {
        visits_t v = {{0}, 0};
        gtable("g", "gs");
        to_out(stream("s")); /* a topology needs a stream */
        start();
        pipe_("g", "b", "2", 7);
        pipe_("g", "a", "1", 5);
        pipe_("g", "c", "3", 9);
        pipe_("g", "c", NULL, 10);
        ck_assert_int_eq(sluice_driver_store_get(drv, "gs", "a", 1, visit, &v),
                         1);
        ck_assert_str_eq(v.seen, "a=1@5;");
        ck_assert_int_eq(sluice_driver_store_get(drv, "gs", "c", 1, visit, &v),
                         0);
        v.seen[0] = '\0';
        ck_assert_int_eq(sluice_driver_store_range(drv, "gs", NULL, 0, NULL, 0,
                                                   visit, &v),
                         2);
        ck_assert_str_eq(v.seen, "a=1@5;b=2@7;");
}
END_TEST

START_TEST(global_generated_store_name) {
        char *d;
        sluice_global_table_t *g =
            sluice_global_table_from(t, "g", sluice_serde_string(),
                                     sluice_serde_string(), NULL);
        ck_assert_ptr_nonnull(g);
        to_out(sluice_stream_join_global(stream("s"), g, key_before_colon,
                                         joiner, NULL, sluice_serde_string()));
        start();
        d = sluice_topology_describe(t);
        ck_assert_msg(strstr(d, "(stores: [g-STATE-STORE-0000000000])"), "%s",
                      d);
        free(d);
        pipe_("g", "k", "v", 1);
        pipe_("s", "a", "k:1", 2);
        expect("a", "k:1+v", 2);
}
END_TEST

START_TEST(global_builder_mistakes) {
        sluice_global_table_t *g = gtable("g", "gs");
        sluice_topology_t *other;
        ck_assert_ptr_nonnull(g);
        ck_assert_ptr_null(sluice_stream_join_global(
            stream("s"), g, NULL, joiner, NULL, sluice_serde_string()));
        expect_mistake("sluice_stream_join_global: key extractor is NULL");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        g = gtable("g", "gs");
        ck_assert_ptr_null(sluice_stream_left_join_global(
            stream("s"), g, key_before_colon, NULL, NULL, NULL));
        expect_mistake("sluice_stream_left_join_global: joiner is NULL");
        sluice_topology_destroy(t);

        t     = sluice_topology_new();
        other = sluice_topology_new();
        g     = sluice_global_table_from(other, "g", sluice_serde_string(),
                                         sluice_serde_string(), "gs");
        ck_assert_ptr_null(sluice_stream_join_global(
            stream("s"), g, key_before_colon, joiner, NULL, NULL));
        expect_mistake("belong to different topologies");
        sluice_topology_destroy(other);
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_nonnull(gtable("g", "gs"));
        ck_assert_ptr_null(gtable("g2", "gs"));
        expect_mistake("a store named \"gs\" already exists");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_nonnull(gtable("g", "gs"));
        ck_assert_ptr_null(gtable("g", "gs2"));
        expect_mistake("topic \"g\" is already the source of a global table");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_nonnull(gtable("g", "gs"));
        to_out(stream("g"));
        expect_mistake("topic \"g\" is the source of global table \"gs\"");
        sluice_topology_destroy(t);

        t = sluice_topology_new();
        ck_assert_ptr_null(sluice_global_table_from(t, "g", NULL,
                                                    sluice_serde_string(),
                                                    "gs"));
        expect_mistake("sluice_global_table_from: key and value serdes are "
                       "required");
}
END_TEST

/* ---- the lock: one writer, readers on other threads ----
 * (run under ThreadSanitizer, this is the global store's concurrency
 * without Kafka clients: see README, "Tests") */

typedef struct {
        sl_global_t *g;
        int rounds;
        int bad; /* a reader saw a value that is no update's */
} race_t;

static void *race_writer(void *arg) {
        race_t *r = arg;
        char v[32], err[256];
        int i;
        for (i = 0; i < r->rounds; i++) {
                int n = snprintf(v, sizeof(v), "value-%d", i);
                if (sl_global_apply(r->g, 0, "k", 1, i % 7 == 6 ? NULL : v,
                                    (size_t)n, i, err, sizeof(err)))
                        r->bad++;
        }
        return NULL;
}

static int race_check(const void *key, size_t klen, const void *value,
                      size_t vlen, int64_t ts, void *opaque) {
        char want[32];
        int n = snprintf(want, sizeof(want), "value-%lld", (long long)ts);
        (void)key;
        (void)klen;
        if ((size_t)n != vlen || memcmp(value, want, vlen))
                ++*(int *)opaque;
        return 0;
}

static void *race_reader(void *arg) {
        race_t *r = arg;
        int i, bad = 0;
        for (i = 0; i < r->rounds; i++) {
                if (sl_global_get(r->g, 0, "k", 1, race_check, &bad) < 0)
                        bad++;
                if (sl_global_range(r->g, 0, NULL, 0, NULL, 0, race_check,
                                    &bad) < 0)
                        bad++;
        }
        return bad ? arg : NULL;
}

START_TEST(global_store_one_writer_many_readers) {
        char err[256];
        sl_global_t *g = NULL;
        race_t r;
        pthread_t w, rd[2];
        void *res;
        int i;
        gtable("g", "gs");
        to_out(stream("s"));
        ck_assert_int_eq(sl_topology_freeze(t, "race", err, sizeof(err)), 0);
        ck_assert_int_eq(sl_global_new(t, NULL, NULL, &g, err, sizeof(err)), 0);
        ck_assert_ptr_nonnull(g);
        r.g      = g;
        r.rounds = 20000;
        r.bad    = 0;
        /* pthreads: ThreadSanitizer here does not see C11 threads start */
        ck_assert_int_eq(pthread_create(&w, NULL, race_writer, &r), 0);
        for (i = 0; i < 2; i++)
                ck_assert_int_eq(pthread_create(&rd[i], NULL, race_reader, &r),
                                 0);
        pthread_join(w, NULL);
        for (i = 0; i < 2; i++) {
                pthread_join(rd[i], &res);
                ck_assert_ptr_null(res);
        }
        ck_assert_int_eq(r.bad, 0);
        ck_assert_uint_eq(g->stores[0].records, 20000);
        sl_global_destroy(g);
}
END_TEST

/* ---- on the embedded cluster ---- */

typedef struct {
        sluice_app_t *app;
        const char *key;
        const char *want;
        char got[64];
} gwait_t;

static int copy_value(const void *key, size_t klen, const void *value,
                      size_t vlen, int64_t ts, void *opaque) {
        gwait_t *w = opaque;
        (void)key;
        (void)klen;
        (void)ts;
        snprintf(w->got, sizeof(w->got), "%.*s", (int)vlen,
                 (const char *)value);
        return 0;
}

/* The global store (queried from this thread) holds key = want. */
static int global_has(void *arg) {
        gwait_t *w = arg;
        w->got[0]  = '\0';
        return sluice_app_store_get(w->app, "gs", w->key, strlen(w->key),
                                    copy_value, w) == 1 &&
               !strcmp(w->got, w->want);
}

static int running(void *arg) {
        return sluice_app_state(arg) == SLUICE_APP_RUNNING;
}

static sluice_conf_t *embedded_conf(const char *threads) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(c, "application.id", "global-test",
                                         err, sizeof(err)),
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

static void produce(const char *bootstrap, const char *topic, int32_t p,
                    const char *k, const char *v, int64_t ts) {
        ck_assert_int_eq(ku_produce_raw(bootstrap, topic, p, k, strlen(k), v,
                                        v ? strlen(v) : 0, ts),
                         0);
}

/* Find the output whose key is @key (keys are unique per test). */
static const ku_record_t *find(const ku_record_t *recs, int n,
                               const char *key) {
        int i;
        for (i = 0; i < n; i++)
                if (recs[i].key && !strcmp(recs[i].key, key))
                        return &recs[i];
        return NULL;
}

START_TEST(embedded_global_table_bootstraps_before_processing) {
        char err[512], *m;
        sluice_topology_t *top = t; /* the fixture's: it destroys it */
        sluice_global_table_t *g;
        sluice_app_t *app;
        const char *bs;
        ku_record_t *recs;
        const ku_record_t *r;
        gwait_t w;
        int n, i;

        g = gtable("gt", "gs");
        to_out(sluice_stream_join_global(stream("st"), g, key_before_colon,
                                         joiner, NULL, sluice_serde_string()));
        app = sluice_app_new(top, embedded_conf("2"), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        /* the topics with their own partition counts (the app creates
         * only what is missing) */
        ck_assert_int_eq(rd_kafka_mock_topic_create(app->mock, "gt", 3, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(app->mock, "st", 2, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(app->mock, "out", 2, 1),
                         0);
        bs = sluice_app_bootstrap_servers(app);
        /* the whole table, spread over all 3 partitions, before start */
        for (i = 0; i < 30; i++) {
                char k[16], v[16];
                snprintf(k, sizeof(k), "k%d", i);
                snprintf(v, sizeof(v), "v%d", i);
                produce(bs, "gt", i % 3, k, v, 1000 + i);
        }
        /* stream records waiting before start: the very first one must
         * see every row, from every partition */
        for (i = 0; i < 30; i++) {
                char k[16], v[16];
                snprintf(k, sizeof(k), "s%d", i);
                snprintf(v, sizeof(v), "k%d:x", 29 - i);
                produce(bs, "st", i % 2, k, v, 2000 + i);
        }
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        /* start returned: bootstrapped; queries see every row at once */
        w.app  = app;
        w.key  = "k0";
        w.want = "v0";
        ck_assert(global_has(&w));
        w.key  = "k29";
        w.want = "v29";
        ck_assert(global_has(&w));
        n = ku_consume(bs, "out", 30, 90000, &recs);
        ck_assert_int_eq(n, 30);
        for (i = 0; i < 30; i++) {
                char k[16], v[32];
                snprintf(k, sizeof(k), "s%d", i);
                snprintf(v, sizeof(v), "k%d:x+v%d", 29 - i, 29 - i);
                ck_assert_msg((r = find(recs, n, k)) != NULL, "no %s", k);
                ck_assert_str_eq(r->value, v);
                ck_assert_int_eq(r->timestamp, 2000 + i);
        }
        ku_free(recs, n);

        /* a later update of the table, seen by later stream records */
        produce(bs, "gt", 1, "k1", "v1-new", 3000);
        w.key  = "k1";
        w.want = "v1-new";
        ck_assert(ku_wait_for(global_has, &w, 30000));
        produce(bs, "st", 0, "late0", "k1:y", 3001);
        produce(bs, "st", 1, "late1", "k1:z", 3002);
        n = ku_consume(bs, "out", 32, 90000, &recs);
        ck_assert_int_eq(n, 32);
        ck_assert_str_eq(find(recs, n, "late0")->value, "k1:y+v1-new");
        ck_assert_str_eq(find(recs, n, "late1")->value, "k1:z+v1-new");
        ku_free(recs, n);

        ck_assert(ku_wait_for(running, app, 30000));
        m = sluice_app_metrics_json(app);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "\"global\":{\"thread\":\"global-test-"
                                "GlobalStreamThread\",\"running\":true,"
                                "\"consumed\":31,"),
                      "%s", m);
        ck_assert_msg(strstr(m, "{\"store\":\"gs\",\"topic\":\"gt\","
                                "\"updates\":31,\"skipped_null_key\":0,"
                                "\"approximate_count\":30,\"partitions\":["
                                "{\"partition\":0,\"position\":10},"
                                "{\"partition\":1,\"position\":11},"
                                "{\"partition\":2,\"position\":10}]}"),
                      "%s", m);
        free(m);
        /* a range over the global store sees all of it, from here */
        {
                visits_t v = {{0}, 0};
                ck_assert_int_eq(sluice_app_store_range(app, "gs", "k1", 2,
                                                        "k1", 2, visit, &v),
                                 1);
                ck_assert_str_eq(v.seen, "k1=v1-new@3000;");
        }
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
}
END_TEST

/* num.stream.threads=0: the host's loop drives the global consumer too
 * (bootstrap still in sluice_app_start()) */
START_TEST(embedded_global_table_host_driven) {
        char err[512];
        sluice_global_table_t *g;
        sluice_app_t *app;
        const char *bs;
        struct pollfd p;
        gwait_t w;
        int rounds = 0;

        g = gtable("gt", "gs");
        to_out(sluice_stream_left_join_global(stream("st"), g,
                                              key_before_colon, joiner, NULL,
                                              sluice_serde_string()));
        app = sluice_app_new(t, embedded_conf("0"), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(rd_kafka_mock_topic_create(app->mock, "gt", 3, 1), 0);
        bs = sluice_app_bootstrap_servers(app);
        produce(bs, "gt", 2, "k", "v-old", 1);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app  = app;
        w.key  = "k";
        w.want = "v-old";
        ck_assert(global_has(&w)); /* bootstrapped by start */
        produce(bs, "gt", 0, "k", "v-new", 2);
        p.fd     = sluice_app_fd(app);
        p.events = POLLIN;
        w.want   = "v-new";
        /* the host's loop until the update is applied (a deadline of
         * rounds, each waiting on the fd at most 100 ms) */
        while (!global_has(&w) && rounds++ < 600) {
                int more = sluice_app_step(app, 10);
                ck_assert_int_ge(more, 0);
                if (!more)
                        poll(&p, 1, sluice_app_timeout_ms(app));
        }
        ck_assert(global_has(&w));
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
}
END_TEST

/* A persistent global store (default.dsl.store=lmdb) goes on from its
 * .checkpoint: a second app on the same state.dir and cluster reads only
 * what was written after the first closed, and holds every row. */
static sluice_app_t *ckpt_app(const char *bootstrap, const char *dir) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        sluice_app_t *app;
        tu_set(c, "application.id", "global-ckpt");
        tu_set(c, "bootstrap.servers", bootstrap);
        tu_set(c, "state.dir", dir);
        tu_set(c, "default.dsl.store", "lmdb");
        tu_set(c, "num.stream.threads", "1");
        tu_set(c, "commit.interval.ms", "100");
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        return app;
}

START_TEST(global_store_resumes_from_its_checkpoint) {
        char err[512], dir[256], *m;
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        const char *bs;
        sluice_app_t *app;
        visits_t v = {{0}, 0};
        int i;

        rd_kafka_conf_set(rc, "log_level", "0", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        mc = rd_kafka_mock_cluster_new(rk, 1);
        ck_assert_ptr_nonnull(mc);
        bs = rd_kafka_mock_cluster_bootstraps(mc);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "gt", 3, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "st", 2, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "out", 2, 1), 0);
        tu_tmpdir(dir, sizeof(dir), "global-ckpt");
        to_out(sluice_stream_join_global(stream("st"), gtable("gt", "gs"),
                                         key_before_colon, joiner, NULL,
                                         sluice_serde_string()));
        for (i = 0; i < 9; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                produce(bs, "gt", i % 3, k, "first", 10 + i);
        }
        app = ckpt_app(bs, dir);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);

        produce(bs, "gt", 1, "k1", "second", 100);
        produce(bs, "gt", 2, "k9", "second", 101);
        app = ckpt_app(bs, dir);
        m = sluice_app_metrics_json(app);
        /* only the two records after the checkpoint were read */
        ck_assert_msg(strstr(m, "\"consumed\":2,"), "%s", m);
        ck_assert_msg(strstr(m, "\"approximate_count\":10,"), "%s", m);
        free(m);
        ck_assert_int_eq(sluice_app_store_range(app, "gs", NULL, 0, NULL, 0,
                                                visit, &v),
                         10);
        ck_assert_str_eq(v.seen, "k0=first@10;k1=second@100;k2=first@12;"
                                 "k3=first@13;k4=first@14;k5=first@15;"
                                 "k6=first@16;k7=first@17;k8=first@18;"
                                 "k9=second@101;");
        {
                /* a checkpoint past the topic's end is not trusted: the
                 * third start empties the store and reads all 11 */
                char path[512];
                FILE *f;
                snprintf(path, sizeof(path), "%s/global/.checkpoint",
                         app->state_base);
                sluice_app_close(app);
                ck_assert_str_eq(sluice_app_error(app), "");
                sluice_app_destroy(app);
                f = fopen(path, "w");
                ck_assert_ptr_nonnull(f);
                fprintf(f, "gs 0 999\ngs 1 0\ngs 2 0\n");
                fclose(f);
        }
        app = ckpt_app(bs, dir);
        m   = sluice_app_metrics_json(app);
        ck_assert_msg(strstr(m, "\"consumed\":11,"), "%s", m);
        ck_assert_msg(strstr(m, "\"approximate_count\":10,"), "%s", m);
        free(m);
        sluice_app_close(app);
        ck_assert_str_eq(sluice_app_error(app), "");
        sluice_app_destroy(app);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        tu_rm_rf(dir);
}
END_TEST

Suite *suite_global(void) {
        Suite *s   = suite_create("global");
        TCase *drv_tc = tcase_create("driver");
        TCase *app_tc = tcase_create("embedded");
        tcase_add_checked_fixture(drv_tc, setup, teardown);
        tcase_add_test(drv_tc, global_inner_join_by_a_key_from_the_value);
        tcase_add_test(drv_tc, global_left_join_keeps_what_finds_no_row);
        tcase_add_test(drv_tc, global_join_needs_no_repartition);
        tcase_add_test(drv_tc, global_store_local_queries);
        tcase_add_test(drv_tc, global_generated_store_name);
        tcase_add_test(drv_tc, global_builder_mistakes);
        tcase_add_test(drv_tc, global_store_one_writer_many_readers);
        suite_add_tcase(s, drv_tc);
        tcase_add_checked_fixture(app_tc, setup, teardown);
        tcase_set_timeout(app_tc, 240);
        tcase_add_test(app_tc,
                       embedded_global_table_bootstraps_before_processing);
        tcase_add_test(app_tc, embedded_global_table_host_driven);
        tcase_add_test(app_tc, global_store_resumes_from_its_checkpoint);
        suite_add_tcase(s, app_tc);
        return s;
}
