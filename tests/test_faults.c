/*
 * test_faults.c - what a fault does to offsets, checkpoints and the app's
 * state: a store or changelog write that fails at the commit's flush, a
 * record a store cannot hold, the processing and dead-letter handlers, a
 * close that fails, settings that would weaken the guarantee.
 *
 * Each of these lost data or lied about it before issue 8: the close path
 * committed the offsets of records whose updates the failed flush had
 * dropped, a 600-byte LMDB key failed the whole commit with no reason, an
 * oversized dead letter failed the app at every start, a failed close
 * ended in NOT_RUNNING, and exactly_once_v2 ran as at-least-once (now it
 * runs, and what would break its transactions is refused).
 */
#include "helpers.h"
#include "test_util.h"
#include "kafka_util.h"
#include "test_list.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <unistd.h>

/* ---- a log that tests can read (lines come from stream threads) ---- */

typedef struct {
        mtx_t lock;
        char text[16384];
} log_t;

static void log_init(log_t *l) {
        mtx_init(&l->lock, mtx_plain);
        l->text[0] = '\0';
}
static void on_log(sluice_log_level_t level, const char *fac, const char *msg,
                   void *opaque) {
        log_t *l = opaque;
        size_t n;
        (void)level;
        mtx_lock(&l->lock);
        n = strlen(l->text);
        snprintf(l->text + n, sizeof(l->text) - n, "%s: %s\n", fac, msg);
        mtx_unlock(&l->lock);
}
static int log_has(log_t *l, const char *what) {
        int r;
        mtx_lock(&l->lock);
        r = strstr(l->text, what) != NULL;
        mtx_unlock(&l->lock);
        return r;
}

typedef struct {
        sluice_app_t *app;
        sluice_app_state_t want;
        const char *bootstrap, *group;
        int64_t offset;
} wait_t;
static int app_in_state(void *arg) {
        wait_t *w = arg;
        return sluice_app_state(w->app) == w->want;
}
static int committed_is(void *arg) {
        wait_t *w = arg;
        return ku_committed(w->bootstrap, w->group, "in", 0) == w->offset;
}

static char *read_file(const char *path) {
        static char buf[4096];
        FILE *f = fopen(path, "r");
        size_t n;
        if (!f)
                return NULL;
        n      = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return buf;
}

/* ---- a persistent backend whose writes fail for one key ----
 * The memory store underneath, persistent = 1 (so Sluice keeps a
 * checkpoint file for it), and a put of "poison" that fails as a full disk
 * would, with the reason through last_error(). */

typedef struct {
        void *mem;
        int fail_flush; /* "flushfail" was put: the next flush fails */
        char err[128];
} failing_t;

static const sluice_store_type_t *mem(void) {
        return sluice_store_type_memory();
}
static int f_open(const sluice_store_type_t *type, const char *path,
                  const char *name, void **store, char *errstr,
                  size_t errstr_size) {
        failing_t *f = calloc(1, sizeof(*f));
        int r;
        (void)type;
        if (!f)
                return SLUICE_ERR_NOMEM;
        if ((r = mem()->open(mem(), path, name, &f->mem, errstr,
                             errstr_size))) {
                free(f);
                return r;
        }
        *store = f;
        return 0;
}
static void f_close(void *s) {
        failing_t *f = s;
        mem()->close(f->mem);
        free(f);
}
static int f_get(void *s, const void *k, size_t kl, const void **v,
                 size_t *vl) {
        return mem()->get(((failing_t *)s)->mem, k, kl, v, vl);
}
static int f_put(void *s, const void *k, size_t kl, const void *v,
                 size_t vl) {
        failing_t *f = s;
        if (kl == 6 && !memcmp(k, "poison", 6)) {
                snprintf(f->err, sizeof(f->err),
                         "No space left on device (test)");
                return SLUICE_ERR_STATE;
        }
        if (kl == 9 && !memcmp(k, "flushfail", 9))
                f->fail_flush = 1;
        return mem()->put(f->mem, k, kl, v, vl);
}
static int f_del(void *s, const void *k, size_t kl) {
        return mem()->del(((failing_t *)s)->mem, k, kl);
}
static int f_iter_open(void *s, const void *from, size_t fl, const void *to,
                       size_t tl, void **it) {
        return mem()->iter_open(((failing_t *)s)->mem, from, fl, to, tl, it);
}
static int f_iter_next(void *it, const void **k, size_t *kl, const void **v,
                       size_t *vl) {
        return mem()->iter_next(it, k, kl, v, vl);
}
static void f_iter_close(void *it) {
        mem()->iter_close(it);
}
static int f_flush(void *s, char *errstr, size_t errstr_size) {
        failing_t *f = s;
        if (f->fail_flush) {
                snprintf(errstr, errstr_size, "Input/output error (test)");
                return SLUICE_ERR_STATE;
        }
        return mem()->flush(f->mem, errstr, errstr_size);
}
static uint64_t f_count(void *s) {
        return mem()->approximate_count(((failing_t *)s)->mem);
}
static const char *f_last_error(void *s) {
        failing_t *f = s;
        return f->err[0] ? f->err : NULL;
}

static const sluice_store_type_t failing_type = {
    .version           = SLUICE_STORE_VERSION,
    .name              = "failing",
    .persistent        = 1,
    .open              = f_open,
    .close             = f_close,
    .get               = f_get,
    .put               = f_put,
    .del               = f_del,
    .iter_open         = f_iter_open,
    .iter_next         = f_iter_next,
    .iter_close        = f_iter_close,
    .flush             = f_flush,
    .approximate_count = f_count,
    .last_error        = f_last_error,
};

static sluice_conf_t *embedded(const char *app_id, log_t *log) {
        sluice_conf_t *c = sluice_conf_new();
        tu_set(c, "application.id", app_id);
        tu_set(c, "sluice.embedded", "true");
        tu_set(c, "commit.interval.ms", "100");
        sluice_conf_set_log_cb(c, on_log, SLUICE_LOG_INFO, log);
        return c;
}


/* Issue 8, case 1: a store write that fails during the commit's cache
 * flush. The records whose updates the flush held ("poison", and "c"
 * after it in the cache) must not have their offsets committed, and the
 * checkpoint must not move: a restart processes them again. */
START_TEST(store_write_failure_at_flush_commits_nothing) {
        char err[512], dir[] = "/tmp/sluice-faults-XXXXXX", path[700];
        char *cp, before[4096];
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf;
        sluice_app_t *app;
        ku_record_t *recs;
        wait_t w;
        int got;
        log_init(&log);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        conf = embedded("faults-flush", &log);
        tu_set(conf, "state.dir", dir);
        ck_assert_int_eq(sluice_conf_register_store(conf, &failing_type, err,
                                                    sizeof(err)),
                         0);
        tu_set(conf, "default.dsl.store", "failing");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app       = app;
        w.bootstrap = sluice_app_bootstrap_servers(app);
        w.group     = "faults-flush";
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "a", 1, "x", 1, 1), 0);
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "b", 1, "x", 1, 2), 0);
        w.offset = 2;
        ck_assert_msg(ku_wait_for(committed_is, &w, 30000),
                      "offsets of a, b never committed");
        /* the checkpoint vouches for the changelog records of a and b */
        snprintf(path, sizeof(path), "%s/faults-flush/0/0_0/.checkpoint", dir);
        cp = read_file(path);
        ck_assert_ptr_nonnull(cp);
        ck_assert_str_eq(cp, "2 counts\n");
        snprintf(before, sizeof(before), "%s", cp);

        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "poison", 6, "x",
                                        1, 3),
                         0);
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "c", 1, "x", 1, 4), 0);
        w.want = SLUICE_APP_ERROR;
        ck_assert_msg(ku_wait_for(app_in_state, &w, 30000), "no ERROR");
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        /* the backend's own reason, named */
        ck_assert_msg(strstr(sluice_app_error(app),
                             "store \"counts\": write failed (type failing): "
                             "No space left on device (test)"),
                      "%s", sluice_app_error(app));
        /* nothing past a and b is vouched for: not the offsets ... */
        ck_assert_int_eq(ku_committed(w.bootstrap, w.group, "in", 0), 2);
        /* ... nor the checkpoint */
        ck_assert_str_eq(read_file(path), before);
        /* and only a and b were counted downstream */
        got = ku_consume(w.bootstrap, "out", 3, 2000, &recs);
        ck_assert_int_eq(got, 2);
        ck_assert_str_eq(recs[0].key, "a");
        ck_assert_str_eq(recs[1].key, "b");
        ku_free(recs, got);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

/* A backend whose flush at the commit fails (the disk full LMDB sees at
 * its commit): the app stops, and neither its offset nor the input's
 * moves. Before, the commit only logged it and committed the offsets. */
START_TEST(store_flush_failure_at_commit_commits_nothing) {
        char err[512], dir[] = "/tmp/sluice-faults-XXXXXX";
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf;
        sluice_app_t *app;
        wait_t w;
        log_init(&log);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        conf = embedded("faults-sync", &log);
        tu_set(conf, "state.dir", dir);
        ck_assert_int_eq(sluice_conf_register_store(conf, &failing_type, err,
                                                    sizeof(err)),
                         0);
        tu_set(conf, "default.dsl.store", "failing");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app       = app;
        w.bootstrap = sluice_app_bootstrap_servers(app);
        w.group     = "faults-sync";
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "a", 1, "x", 1, 1), 0);
        w.offset = 1;
        ck_assert(ku_wait_for(committed_is, &w, 30000));
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "flushfail", 9,
                                        "x", 1, 2),
                         0);
        w.want = SLUICE_APP_ERROR;
        ck_assert_msg(ku_wait_for(app_in_state, &w, 30000), "no ERROR");
        sluice_app_close(app);
        ck_assert_msg(strstr(sluice_app_error(app),
                             "store \"counts\": flush failed: Input/output "
                             "error (test)"),
                      "%s", sluice_app_error(app));
        ck_assert_int_eq(ku_committed(w.bootstrap, w.group, "in", 0), 1);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST

static int fail_on_bad_key(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *k = sluice_record_key(rec);
        (void)opaque;
        return k->u.bytes.len == 3 && !memcmp(k->u.bytes.data, "bad", 3) ? -1
                                                                        : 0;
}

/* A record cache over its budget flushes other records' updates while one
 * record is processed: a failure there is the machinery's, not that
 * record's, and must not be routed to the processing handler (which would
 * skip it and commit past updates the flush dropped). */
START_TEST(eviction_flush_failure_is_not_a_bad_record) {
        char err[512];
        log_t log;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *conf  = embedded("faults-evict", &log);
        sluice_app_t *app;
        const char *keys[] = {"bad", "a", "b", "c", "d", "e", "f"};
        wait_t w;
        int i;
        log_init(&log);
        sluice_stream_to(
            sluice_stream_map_values(
                sluice_table_to_stream(sluice_grouped_count(
                    sluice_stream_group_by_key(
                        sluice_stream_from(t, "in", sluice_serde_string(),
                                           sluice_serde_string()),
                        NULL, NULL),
                    "counts")),
                fail_on_bad_key, NULL),
            "out", NULL, NULL);
        tu_set(conf, "statestore.cache.max.bytes", "330");
        tu_set(conf, "commit.interval.ms", "600000");
        tu_set(conf, "processing.exception.handler", "log_and_continue");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app       = app;
        w.bootstrap = sluice_app_bootstrap_servers(app);
        w.group     = "faults-evict";
        for (i = 0; i < 7; i++)
                ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, keys[i],
                                                strlen(keys[i]), "x", 1, i),
                                 0);
        w.want = SLUICE_APP_ERROR;
        ck_assert_msg(ku_wait_for(app_in_state, &w, 30000),
                      "the failed eviction flush was routed as a bad record");
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        ck_assert(ku_committed(w.bootstrap, w.group, "in", 0) < 7);
        ck_assert(!log_has(&log, "skipping unprocessable record"));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

/* The same path for a changelog write the producer refuses (a record over
 * its message.max.bytes). */
START_TEST(changelog_write_refused_commits_nothing) {
        char err[512], big[3000];
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_conf_t *conf  = embedded("faults-clog", &log);
        sluice_app_t *app;
        wait_t w;
        log_init(&log);
        tu_set(conf, "producer.message.max.bytes", "2000");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.app       = app;
        w.bootstrap = sluice_app_bootstrap_servers(app);
        w.group     = "faults-clog";
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "a", 1, "x", 1, 1), 0);
        w.offset = 1;
        ck_assert(ku_wait_for(committed_is, &w, 30000));
        memset(big, 'k', sizeof(big));
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, big, sizeof(big),
                                        "x", 1, 2),
                         0);
        w.want = SLUICE_APP_ERROR;
        ck_assert(ku_wait_for(app_in_state, &w, 30000));
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        ck_assert_msg(strstr(sluice_app_error(app), "too large"), "%s",
                      sluice_app_error(app));
        ck_assert_int_eq(ku_committed(w.bootstrap, w.group, "in", 0), 1);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

/* ---- a record a store cannot hold, and the processing handler ---- */

#ifdef SLUICE_HAVE_LMDB
static sluice_driver_t *lmdb_driver(sluice_topology_t *t, const char *dir,
                                    const char *handler, log_t *log) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        sluice_driver_t *d;
        tu_set(c, "application.id", "faults-lmdb");
        tu_set(c, "state.dir", dir);
        tu_set(c, "default.dsl.store", "lmdb");
        if (handler)
                tu_set(c, "processing.exception.handler", handler);
        tu_set(c, "errors.deadletterqueue.topic.name", "dlq");
        sluice_conf_set_log_cb(c, on_log, SLUICE_LOG_WARNING, log);
        d = sluice_driver_new(t, c, err, sizeof(err));
        ck_assert_msg(d != NULL, "%s", err); /* it owns c now */
        return d;
}

/* Issue 8, case 7: LMDB's 511-byte key limit is refused at the put, with
 * the record at hand and a reason, instead of failing the commit later. */
START_TEST(lmdb_long_key_fails_the_record_not_the_commit) {
        char dir[] = "/tmp/sluice-faults-XXXXXX", key[601];
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_driver_t *d;
        const sluice_output_t *o;
        size_t i;
        log_init(&log);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        memset(key, 'w', 600);
        key[600] = '\0';
        ck_assert_uint_eq(sluice_store_type_lmdb()->max_key_len, 510);

        /* log_and_fail (the default): the record fails, named */
        d = lmdb_driver(t, dir, NULL, &log);
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", key, "x", 1),
                         SLUICE_ERR_TOO_LARGE);
        ck_assert_msg(strstr(sluice_driver_last_error(d),
                             "store \"counts\": key is 600 bytes, lmdb allows "
                             "at most 510"),
                      "%s", sluice_driver_last_error(d));
        sluice_driver_destroy(d);

        /* log_and_continue: skipped with a warning, the next one counted */
        d = lmdb_driver(t, dir, "log_and_continue", &log);
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", key, "x", 1), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", "a", "x", 2), 0);
        o = sluice_driver_read(d, "out");
        ck_assert_ptr_nonnull(o);
        ck_assert_uint_eq(o->key_len, 1);
        ck_assert_ptr_null(sluice_driver_read(d, "out"));
        ck_assert(log_has(&log, "skipping unprocessable record at topic "
                                "\"in\" partition 0 offset 0: "));
        sluice_driver_destroy(d);

        /* dead_letter: the record as it came, the reason in a header */
        d = lmdb_driver(t, dir, "dead_letter", &log);
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", key, "x", 1), 0);
        o = sluice_driver_read(d, "dlq");
        ck_assert_ptr_nonnull(o);
        ck_assert_uint_eq(o->key_len, 600);
        ck_assert_mem_eq(o->key, key, 600);
        for (i = 0; i < o->header_cnt; i++)
                if (!strcmp(o->headers[i].name, "__streams.errors.message"))
                        break;
        ck_assert_uint_lt(i, o->header_cnt);
        {
                char msg[600];
                snprintf(msg, sizeof(msg), "%.*s", (int)o->headers[i].len,
                         (const char *)o->headers[i].value);
                ck_assert_msg(strstr(msg, "store \"counts\": key is 600 "
                                          "bytes, lmdb allows at most 510"),
                              "%s", msg);
        }
        ck_assert(log_has(&log, "dead-lettered unprocessable record at topic "
                                "\"in\" partition 0 offset 0"));
        sluice_driver_destroy(d);
        sluice_topology_destroy(t);
        tu_rm_rf(dir);
        mtx_destroy(&log.lock);
}
END_TEST
#endif

static int fail_on_bad(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return v->u.bytes.len == 3 && !memcmp(v->u.bytes.data, "bad", 3)
                   ? -1
                   : 0;
}

/* A callback that fails: log_and_fail stops, log_and_continue skips it
 * (Kafka Streams' processing.exception.handler, KIP-1033). */
START_TEST(processing_handler_routes_callback_failures) {
        char err[512];
        log_t log;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c;
        sluice_driver_t *d;
        log_init(&log);
        sluice_stream_to(
            sluice_stream_map_values(sluice_stream_from(t, "in",
                                                        sluice_serde_string(),
                                                        sluice_serde_string()),
                                     fail_on_bad, NULL),
            "out", NULL, NULL);
        d = sluice_driver_new(t, NULL, err, sizeof(err));
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", "k", "bad", 1),
                         SLUICE_ERR_CALLBACK);
        sluice_driver_destroy(d);
        c = sluice_conf_new();
        tu_set(c, "processing.exception.handler", "log_and_continue");
        sluice_conf_set_log_cb(c, on_log, SLUICE_LOG_WARNING, &log);
        d = sluice_driver_new(t, c, err, sizeof(err));
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", "k", "bad", 1), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(d, "in", "k", "good", 2), 0);
        ck_assert_output(d, "out", "k", "good", 2);
        ck_assert_ptr_null(sluice_driver_read(d, "out"));
        ck_assert(log_has(&log, "skipping unprocessable record"));
        sluice_driver_destroy(d);
        /* dead_letter needs a topic: refused at creation, key named */
        c = sluice_conf_new();
        tu_set(c, "processing.exception.handler", "dead_letter");
        ck_assert_ptr_null(sluice_driver_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "processing.exception.handler=dead_letter needs "
                              "errors.deadletterqueue.topic.name");
        ck_assert_int_eq(sluice_conf_set(c, "processing.exception.handler",
                                         "ignore", err, sizeof(err)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_str_eq(err, "Invalid value \"ignore\" for configuration "
                              "property \"processing.exception.handler\": "
                              "expected log_and_fail, log_and_continue or "
                              "dead_letter");
        sluice_conf_destroy(c);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

/* ---- dead letters that do not fit ---- */

typedef struct {
        const char *bootstrap;
        int n;
} out_wait_t;
static int out_has_one(void *arg) {
        out_wait_t *w = arg;
        ku_record_t *recs;
        int got = ku_consume(w->bootstrap, "out", 1, 200, &recs);
        ku_free(recs, got);
        return got >= 1;
}

/* Issue 8, case 5: an undecodable record larger than the producer sends
 * went nowhere and failed the app at every start. Now a truncated copy,
 * with a header saying so, and the app goes on. */
START_TEST(oversized_dead_letter_is_truncated_not_fatal) {
        char err[512];
        log_t log;
        size_t big = 1500000, i;
        char *junk = malloc(big);
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *conf  = embedded("faults-dlq", &log);
        sluice_app_t *app;
        ku_record_t *recs;
        out_wait_t w;
        int got;
        log_init(&log);
        ck_assert_ptr_nonnull(junk);
        memset(junk, '{', big); /* not JSON */
        sluice_stream_to(sluice_stream_from(t, "in", sluice_serde_string(),
                                            sluice_serde_json()),
                         "out", NULL, NULL);
        tu_set(conf, "default.deserialization.exception.handler", "dead_letter");
        tu_set(conf, "errors.deadletterqueue.topic.name", "dlq");
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        w.bootstrap = sluice_app_bootstrap_servers(app);
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "k", 1, junk,
                                        big, 1),
                         0);
        ck_assert_int_eq(ku_produce_raw(w.bootstrap, "in", 0, "k", 1, "1", 1, 2),
                         0);
        ck_assert_msg(ku_wait_for(out_has_one, &w, 30000),
                      "the record after the oversized one never came out");
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_RUNNING);
        got = ku_consume(w.bootstrap, "dlq", 1, 10000, &recs);
        ck_assert_int_eq(got, 1);
        ck_assert_ptr_nonnull(recs[0].value);
        ck_assert_uint_lt(strlen(recs[0].value), 1000000);
        ck_assert_uint_gt(strlen(recs[0].value), 900000);
        for (i = 0; recs[0].value[i]; i++)
                ck_assert_int_eq(recs[0].value[i], '{');
        ku_free(recs, got);
        ck_assert(log_has(&log, "too large for the dead-letter topic \"dlq\""));
        ck_assert(log_has(&log, "of 1500000 bytes"));
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_NOT_RUNNING);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        free(junk);
        mtx_destroy(&log.lock);
}
END_TEST

/* ---- a close that fails ---- */

typedef struct {
        sluice_app_t *app;
        uint64_t n;
} processed_t;
static int processed_reached(void *arg) {
        processed_t *p = arg;
        return sluice_app_processed(p->app) >= p->n;
}

/* Issue 8, case 6: an output that cannot be delivered at close used to end
 * in NOT_RUNNING (PENDING_SHUTDOWN -> ERROR was refused). */
START_TEST(failed_close_ends_in_error) {
        char err[512];
        log_t log;
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_app_t *app;
        processed_t p;
        log_init(&log);
        rd_kafka_conf_set(rc, "log_level", "0", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        ck_assert_ptr_nonnull(rk);
        mc = rd_kafka_mock_cluster_new(rk, 1);
        ck_assert_ptr_nonnull(mc);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "in", 1, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "out", 1, 1), 0);
        sluice_stream_to(sluice_stream_from(t, "in", sluice_serde_string(),
                                            sluice_serde_string()),
                         "out", NULL, NULL);
        tu_set(conf, "application.id", "faults-close");
        tu_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc));
        tu_set(conf, "commit.interval.ms", "600000");
        tu_set(conf, "producer.message.timeout.ms", "5000");
        sluice_conf_set_log_cb(conf, on_log, SLUICE_LOG_WARNING, &log);
        app = sluice_app_new(t, conf, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(ku_produce_raw(rd_kafka_mock_cluster_bootstraps(mc),
                                        "in", 0, "k", 1, "v", 1, 1),
                         0);
        /* the app's output is refused for good (not retriable): nothing
         * notices until the commit, which only the close runs here */
        rd_kafka_mock_push_request_errors(
            mc, 0 /* Produce */, 5, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
        p.app = app;
        p.n   = 1;
        ck_assert(ku_wait_for(processed_reached, &p, 30000));
        sluice_app_close(app);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        ck_assert_msg(strstr(sluice_app_error(app), "was not delivered"), "%s",
                      sluice_app_error(app));
        /* and the input offset was not committed for the lost output */
        ck_assert_int_eq(ku_committed(rd_kafka_mock_cluster_bootstraps(mc),
                                      "faults-close", "in", 0),
                         RD_KAFKA_OFFSET_INVALID);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        mtx_destroy(&log.lock);
}
END_TEST

/* ---- honest status: a rebalance after RUNNING ---- */

typedef struct {
        mtx_t lock;
        sluice_app_state_t seen[32];
        int n;
} states_t;
static void on_state(sluice_app_t *app, sluice_app_state_t old,
                     sluice_app_state_t new_state, void *opaque) {
        states_t *st = opaque;
        (void)app;
        (void)old;
        mtx_lock(&st->lock);
        if (st->n < 32)
                st->seen[st->n++] = new_state;
        mtx_unlock(&st->lock);
}
/* RUNNING, then REBALANCING, then RUNNING again */
static int rebalanced_and_running(void *arg) {
        states_t *st = arg;
        int i, phase = 0;
        mtx_lock(&st->lock);
        for (i = 0; i < st->n; i++) {
                if (phase == 0 && st->seen[i] == SLUICE_APP_RUNNING)
                        phase = 1;
                else if (phase == 1 && st->seen[i] == SLUICE_APP_REBALANCING)
                        phase = 2;
                else if (phase == 2 && st->seen[i] == SLUICE_APP_RUNNING)
                        phase = 3;
        }
        mtx_unlock(&st->lock);
        return phase == 3;
}

/* Issue 8, case 7: the state stayed RUNNING through later rebalances
 * (a lost assignment included). A second instance joining the group
 * takes partitions from the first: the first goes through REBALANCING. */
START_TEST(state_is_rebalancing_during_a_later_rebalance) {
        char err[512];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        sluice_topology_t *t = sluice_topology_new();
        sluice_app_t *a, *b;
        states_t st;
        wait_t w;
        int k;
        mtx_init(&st.lock, mtx_plain);
        st.n = 0;
        rd_kafka_conf_set(rc, "log_level", "0", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, err, sizeof(err));
        ck_assert_ptr_nonnull(rk);
        mc = rd_kafka_mock_cluster_new(rk, 1);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "in", 4, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(mc, "out", 4, 1), 0);
        sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL), "out", NULL,
                         NULL);
        for (k = 0; k < 2; k++) {
                sluice_conf_t *c = sluice_conf_new();
                tu_set(c, "application.id", "faults-rebalance");
                tu_set(c, "bootstrap.servers",
                    rd_kafka_mock_cluster_bootstraps(mc));
                /* the mock holds a join for the session timeout */
                tu_set(c, "consumer.session.timeout.ms", "2500");
                tu_set(c, "consumer.heartbeat.interval.ms", "500");
                sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
                if (k == 0) {
                        a = sluice_app_new(t, c, err, sizeof(err));
                        ck_assert_msg(a != NULL, "%s", err);
                        sluice_app_set_state_cb(a, on_state, &st);
                        ck_assert_int_eq(sluice_app_start(a, err, sizeof(err)),
                                         0);
                        w.app  = a;
                        w.want = SLUICE_APP_RUNNING;
                        ck_assert(ku_wait_for(app_in_state, &w, 30000));
                } else {
                        b = sluice_app_new(t, c, err, sizeof(err));
                        ck_assert_msg(b != NULL, "%s", err);
                        ck_assert_int_eq(sluice_app_start(b, err, sizeof(err)),
                                         0);
                }
        }
        ck_assert_msg(ku_wait_for(rebalanced_and_running, &st, 60000),
                      "the first instance never went through REBALANCING "
                      "back to RUNNING (%d transitions)",
                      st.n);
        sluice_app_destroy(b);
        sluice_app_destroy(a);
        sluice_topology_destroy(t);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        mtx_destroy(&st.lock);
}
END_TEST

/* Issue 8, case 7: a TLS failure at start read "Local: Broker transport
 * failure", the cause only in librdkafka's log. */
START_TEST(tls_failure_at_start_names_the_cause) {
        char err[1024];
        log_t log;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c;
        sluice_app_t *app;
        log_init(&log);
        sluice_stream_to(sluice_stream_from(t, "in", NULL, NULL), "out", NULL,
                         NULL);
        c = embedded("faults-tls", &log);
        /* the embedded cluster speaks plaintext: the handshake fails */
        tu_set(c, "security.protocol", "ssl");
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_ne(sluice_app_start(app, err, sizeof(err)), 0);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        ck_assert_msg(strstr(sluice_app_error(app),
                             "cannot read the cluster's topics from ") &&
                          strstr(sluice_app_error(app), "(librdkafka: ") &&
                          strstr(sluice_app_error(app), "SSL"),
                      "%s", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        mtx_destroy(&log.lock);
}
END_TEST

/* ---- settings that weaken the guarantee ---- */

START_TEST(guarantee_weakening_settings) {
        char err[512], dir[256];
        log_t log;
        sluice_topology_t *t = tu_count_topology();
        sluice_topology_t *s = sluice_topology_new();
        sluice_conf_t *c;
        sluice_app_t *app;
        log_init(&log);
        sluice_stream_to(sluice_stream_from(s, "in", NULL, NULL), "out", NULL,
                         NULL);
        /* exactly_once_v2 runs (tests/test_eos.c); what would break its
         * transactions is refused, naming the key */
        tu_tmpdir(dir, sizeof(dir), "faults-eos");
        c = embedded("faults-warn", &log);
        tu_set(c, "state.dir", dir);
        tu_set(c, "processing.guarantee", "exactly_once_v2");
        tu_set(c, "commit.interval.ms", "20000");
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "configuration property "
                              "\"transaction.timeout.ms\"=10000 is below "
                              "commit.interval.ms=20000: under "
                              "exactly_once_v2 a transaction stays open from "
                              "one commit to the next, and the broker would "
                              "abort every one of them");
        sluice_conf_destroy(c);
        c = embedded("faults-warn", &log);
        tu_set(c, "state.dir", dir);
        tu_set(c, "processing.guarantee", "exactly_once");
        tu_set(c, "producer.transaction.timeout.ms", "60000");
        tu_set(c, "commit.interval.ms", "20000");
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        sluice_app_destroy(app);
        c = embedded("faults-warn", &log);
        tu_set(c, "state.dir", dir);
        tu_set(c, "processing.guarantee", "exactly_once_v2");
        tu_set(c, "enable.idempotence", "false");
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "configuration property "
                              "\"enable.idempotence\"=false: exactly_once_v2 "
                              "needs the idempotent, transactional producer");
        sluice_conf_destroy(c);
        c = embedded("faults-warn", &log);
        tu_set(c, "state.dir", dir);
        tu_set(c, "processing.guarantee", "exactly_once_v2");
        tu_set(c, "producer.acks", "1");
        ck_assert_ptr_null(sluice_app_new(t, c, err, sizeof(err)));
        ck_assert_str_eq(err, "configuration property \"acks\"=1: "
                              "exactly_once_v2 needs acks=all");
        sluice_conf_destroy(c);
        tu_rm_rf(dir);
        /* acks=0, idempotence off, latest with state: warned, named */
        c = embedded("faults-warn", &log);
        tu_set(c, "producer.acks", "0");
        tu_set(c, "enable.idempotence", "false");
        tu_set(c, "consumer.auto.offset.reset", "latest");
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert(log_has(&log, "configuration property \"acks\"=0 weakens "
                                "processing.guarantee=at_least_once"));
        ck_assert(log_has(&log, "configuration property "
                                "\"enable.idempotence\"=false"));
        ck_assert(log_has(&log, "configuration property "
                                "\"auto.offset.reset\"=latest on an "
                                "application with state"));
        sluice_app_destroy(app);
        /* latest on a stateless app is the user's business */
        log.text[0] = '\0';
        c = embedded("faults-warn2", &log);
        tu_set(c, "auto.offset.reset", "latest");
        app = sluice_app_new(s, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(!log_has(&log, "on an application with state"), "%s",
                      log.text);
        ck_assert(!log_has(&log, "weakens"));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        sluice_topology_destroy(s);
        mtx_destroy(&log.lock);
}
END_TEST

Suite *suite_faults(void) {
        Suite *s  = suite_create("faults");
        TCase *tc = tcase_create("faults");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, store_write_failure_at_flush_commits_nothing);
        tcase_add_test(tc, changelog_write_refused_commits_nothing);
        tcase_add_test(tc, store_flush_failure_at_commit_commits_nothing);
        tcase_add_test(tc, eviction_flush_failure_is_not_a_bad_record);
#ifdef SLUICE_HAVE_LMDB
        tcase_add_test(tc, lmdb_long_key_fails_the_record_not_the_commit);
#endif
        tcase_add_test(tc, processing_handler_routes_callback_failures);
        tcase_add_test(tc, oversized_dead_letter_is_truncated_not_fatal);
        tcase_add_test(tc, failed_close_ends_in_error);
        tcase_add_test(tc, guarantee_weakening_settings);
        tcase_add_test(tc, state_is_rebalancing_during_a_later_rebalance);
        tcase_add_test(tc, tls_failure_at_start_names_the_cause);
        suite_add_tcase(s, tc);
        return s;
}
