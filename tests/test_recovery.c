/*
 * test_recovery.c - local state that was removed, emptied, damaged or is
 * held by another process: restored from the changelog, never trusted
 * silently, never a crash loop.
 *
 * The lmdb backend on its own first: the changelog offset it keeps in its
 * own commit (and hides from the store's keys), and the damaged files it
 * refuses with SLUICE_ERR_CORRUPT instead of mapping them (a truncated
 * data.mdb used to be a SIGBUS at every start). Then the runtime on a mock
 * cluster that outlives the apps, restarted over the same state.dir after
 * each kind of damage: where the restore starts, what it restores, what it
 * says, and the counts after one more record. Then the instance
 * directories two apps of one process get, and a store another process
 * holds, which the test driver waits for.
 */
#include "helpers.h"
#include "test_util.h"
#include "kafka_util.h"
#include "test_list.h"

#include <dirent.h>
#include <errno.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

/* A literal with its length: K("ab") is 2 bytes. */
#define K(s) (s), (sizeof(s) - 1)

/* ---- files and directories ---- */

static void rm_rf(const char *path) {
        tu_rm_rf(path);
}

static void make_tmpdir(char *dir, size_t size) {
        tu_tmpdir(dir, size, "recovery");
}

static int exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0;
}

static long long file_size(const char *path) {
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path,
                      strerror(errno));
        return (long long)st.st_size;
}

/* The whole file, NUL-terminated (free it), or NULL; *len its size. */
static char *slurp(const char *path, size_t *len) {
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;
        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)n + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        fclose(f);
        if (len)
                *len = (size_t)n;
        return buf;
}

static void spit(const char *path, const void *data, size_t len) {
        FILE *f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
        if (len)
                ck_assert_int_eq(fwrite(data, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
}

static void cut_to(const char *path, long long size) {
        ck_assert_msg(truncate(path, (off_t)size) == 0, "truncate %s: %s",
                      path, strerror(errno));
        ck_assert_int_eq(file_size(path), size);
}

/* The entries of @dir whose name starts with @prefix: how many, the
 * first one's name into @first. */
static int count_prefixed(const char *dir, const char *prefix, char *first,
                          size_t first_size) {
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;
        ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
        while ((e = readdir(d)))
                if (!strncmp(e->d_name, prefix, strlen(prefix))) {
                        if (!n && first)
                                snprintf(first, first_size, "%s", e->d_name);
                        n++;
                }
        closedir(d);
        return n;
}

/* ---- log lines, collected from any thread ---- */

typedef struct logbuf_s {
        mtx_t mu;
        char *buf; /* "<level>|<facility>|<message>\n" per line */
        size_t len, cap;
        int release_fd; /* >= 0: written to at the first "retrying" line */
        int retries;
} logbuf_t;

static void log_init(logbuf_t *l) {
        memset(l, 0, sizeof(*l));
        ck_assert_int_eq(mtx_init(&l->mu, mtx_plain), thrd_success);
        l->release_fd = -1;
}

static void log_free(logbuf_t *l) {
        mtx_destroy(&l->mu);
        free(l->buf);
        l->buf = NULL;
}

static void log_collect(sluice_log_level_t level, const char *facility,
                        const char *message, void *opaque) {
        logbuf_t *l = opaque;
        size_t need = strlen(facility) + strlen(message) + 16;
        mtx_lock(&l->mu);
        if (l->len + need > l->cap) {
                size_t cap = (l->len + need) * 2;
                char *b    = realloc(l->buf, cap);
                if (!b) {
                        mtx_unlock(&l->mu);
                        return;
                }
                l->buf = b;
                l->cap = cap;
        }
        l->len += (size_t)snprintf(l->buf + l->len, l->cap - l->len,
                                   "%d|%s|%s\n", (int)level, facility, message);
        if (strstr(message, "; retrying in ") && l->retries++ == 0 &&
            l->release_fd >= 0 && write(l->release_fd, "x", 1) != 1)
                l->release_fd = -1;
        mtx_unlock(&l->mu);
}

/* How many lines of @level (and @facility, NULL: any) contain @needle;
 * the first into @line. */
static int log_find_in(logbuf_t *l, sluice_log_level_t level,
                       const char *facility, const char *needle, char *line,
                       size_t line_size) {
        char prefix[64];
        const char *p;
        int n = 0;
        snprintf(prefix, sizeof(prefix), "%d|%s", (int)level,
                 facility ? facility : "");
        mtx_lock(&l->mu);
        for (p = l->buf; p && p < l->buf + l->len;) {
                const char *end = strchr(p, '\n');
                size_t len      = end ? (size_t)(end - p) : strlen(p);
                char tmp[4096];
                snprintf(tmp, sizeof(tmp), "%.*s", (int)len, p);
                if (!strncmp(tmp, prefix, strlen(prefix)) &&
                    strstr(tmp, needle)) {
                        if (!n && line)
                                snprintf(line, line_size, "%s", tmp);
                        n++;
                }
                p += len + 1;
        }
        mtx_unlock(&l->mu);
        return n;
}

/* For a failure's diagnosis: what the app said. */
static void log_dump(logbuf_t *l) {
        mtx_lock(&l->mu);
        fprintf(stderr, "log of the failed run:\n%.*s", (int)l->len,
                l->buf ? l->buf : "");
        mtx_unlock(&l->mu);
}

static int log_find(logbuf_t *l, sluice_log_level_t level, const char *needle,
                    char *line, size_t line_size) {
        return log_find_in(l, level, NULL, needle, line, line_size);
}

/* Sluice's warnings about local state and restoring (librdkafka's own
 * lines, e.g. a connection closed at shutdown, are not counted). */
static int state_warnings(logbuf_t *l, char *line, size_t line_size) {
        char other[4096] = "";
        int n = log_find_in(l, SLUICE_LOG_WARNING, "STATE|", "", line,
                            line_size);
        int m = log_find_in(l, SLUICE_LOG_WARNING, "RESTORE|", "", other,
                            sizeof(other));
        if (!n && m && line)
                snprintf(line, line_size, "%s", other);
        return n + m;
}

/* ======================== the lmdb backend ======================== */

static const sluice_store_type_t *lmdb_type(void) {
        const sluice_store_type_t *t = sluice_store_type_lmdb();
        ck_assert_msg(t != NULL, "lmdb missing (this build requires it)");
        return t;
}

static void *lm_open_ok(const char *path) {
        const sluice_store_type_t *t = lmdb_type();
        char err[512] = "";
        void *h       = NULL;
        int rc        = t->open(t, path, "counts", &h, err, sizeof(err));
        ck_assert_msg(rc == 0, "open %s: %d %s", path, rc, err);
        ck_assert_ptr_nonnull(h);
        return h;
}

/* Every key in order, "k=v;" each, into @out. @returns the count. */
static int lm_keys(void *h, char *out, size_t size) {
        const sluice_store_type_t *t = lmdb_type();
        void *it                     = NULL;
        const void *k, *v;
        size_t kl, vl;
        int n = 0, r;
        out[0] = '\0';
        ck_assert_int_eq(t->iter_open(h, NULL, 0, NULL, 0, &it), 0);
        while ((r = t->iter_next(it, &k, &kl, &v, &vl)) == 1) {
                size_t len = strlen(out);
                snprintf(out + len, size - len, "%.*s=%.*s;", (int)kl,
                         (const char *)k, (int)vl, (const char *)v);
                n++;
        }
        ck_assert_int_eq(r, 0);
        t->iter_close(it);
        return n;
}

/* Open must refuse @path with SLUICE_ERR_CORRUPT and a message that
 * contains @why, the path and the store's name, leaving data.mdb as it
 * was (a plain call: a SIGBUS here is the bug this guards against). */
static void expect_corrupt(const char *path, const char *why) {
        const sluice_store_type_t *t = lmdb_type();
        char err[512] = "", file[4200];
        void *h       = NULL;
        long long before;
        int rc;
        snprintf(file, sizeof(file), "%s/data.mdb", path);
        before = file_size(file);
        rc     = t->open(t, path, "counts", &h, err, sizeof(err));
        ck_assert_msg(rc == SLUICE_ERR_CORRUPT, "open %s (%lld bytes): %d %s",
                      file, before, rc, err);
        ck_assert_ptr_null(h);
        ck_assert_msg(strstr(err, why) && strstr(err, path) &&
                          strstr(err, "lmdb store \"counts\""),
                      "want \"%s\" in: %s", why, err);
        ck_assert_int_eq(file_size(file), before);
}

/* The changelog offset rides in the store's own commit, and is no key of
 * the store: not counted, not iterated. Damaged files are refused. */
START_TEST(lmdb_offset_and_damaged_files) {
        const sluice_store_type_t *t = lmdb_type();
        char dir[64], path[128], file[160], err[512] = "", keys[256];
        char *good, *bad;
        size_t good_len;
        int64_t off = -7;
        void *h;
        make_tmpdir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/0_0/counts", dir);
        snprintf(file, sizeof(file), "%s/data.mdb", path);
        ck_assert_int_eq(t->version, 2);
        ck_assert_ptr_nonnull(t->flush_offset);
        ck_assert_ptr_nonnull(t->read_offset);

        /* a new store holds no offset */
        h = lm_open_ok(path);
        ck_assert_int_eq(t->read_offset(h, &off), 0);
        ck_assert_int_eq(off, -7);
        ck_assert_int_eq(t->put(h, K("a"), K("1")), 0);
        ck_assert_int_eq(t->put(h, K("b"), K("2")), 0);
        ck_assert_int_eq(t->put(h, K(""), K("empty key")), 0);
        ck_assert_int_eq(t->flush_offset(h, 42, err, sizeof(err)), 0);
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, 42);
        ck_assert_uint_eq(t->approximate_count(h), 3);
        ck_assert_int_eq(lm_keys(h, keys, sizeof(keys)), 3);
        ck_assert_str_eq(keys, "=empty key;a=1;b=2;");
        /* a range from the last data key ends before the offset record */
        {
                void *it = NULL;
                const void *k, *v;
                size_t kl, vl;
                ck_assert_int_eq(t->iter_open(h, K("b"), NULL, 0, &it), 0);
                ck_assert_int_eq(t->iter_next(it, &k, &kl, &v, &vl), 1);
                ck_assert_uint_eq(kl, 1);
                ck_assert_mem_eq(k, "b", 1);
                ck_assert_int_eq(t->iter_next(it, &k, &kl, &v, &vl), 0);
                t->iter_close(it);
        }
        t->close(h);

        /* it survives the close, with the data */
        h = lm_open_ok(path);
        off = -7;
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, 42);
        ck_assert_uint_eq(t->approximate_count(h), 3);
        /* a later commit moves it; the largest offset fits */
        ck_assert_int_eq(t->put(h, K("c"), K("3")), 0);
        ck_assert_int_eq(t->flush_offset(h, INT64_MAX, err, sizeof(err)), 0);
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, INT64_MAX);
        ck_assert_uint_eq(t->approximate_count(h), 4);
        /* -1 forgets it, keeps the data; forgetting twice is no error */
        ck_assert_int_eq(t->flush_offset(h, -1, err, sizeof(err)), 0);
        off = -7;
        ck_assert_int_eq(t->read_offset(h, &off), 0);
        ck_assert_int_eq(off, -7);
        ck_assert_int_eq(t->flush_offset(h, -1, err, sizeof(err)), 0);
        ck_assert_uint_eq(t->approximate_count(h), 4);
        ck_assert_int_eq(lm_keys(h, keys, sizeof(keys)), 4);
        ck_assert_str_eq(keys, "=empty key;a=1;b=2;c=3;");
        ck_assert_int_eq(t->flush_offset(h, 5, err, sizeof(err)), 0);
        t->close(h);
        h = lm_open_ok(path);
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, 5);
        t->close(h);

        /* a copy of the healthy file, for each kind of damage */
        good = slurp(file, &good_len);
        ck_assert_ptr_nonnull(good);
        ck_assert_uint_ge(good_len, 3 * 4096); /* 2 meta pages + data */

        /* half of it: the meta page's last page is past the end */
        cut_to(file, (long long)good_len / 2);
        expect_corrupt(path, good_len / 2 >= 2 * 4096
                                 ? "data.mdb is truncated: "
                                 : "meta pages are incomplete");
        /* one page: the second meta page is missing */
        spit(file, good, good_len);
        cut_to(file, 4096);
        expect_corrupt(path, "data.mdb (4096 bytes) is truncated or "
                             "damaged: its meta pages are incomplete");
        /* the magic, but neither meta page of a version LMDB writes */
        bad = malloc(good_len > 3 * 4096 ? good_len : 3 * 4096);
        ck_assert_ptr_nonnull(bad);
        memcpy(bad, good, good_len);
        bad[16 + 4] = 9;
        bad[4096 + 16 + 4] = 9;
        spit(file, bad, good_len);
        expect_corrupt(path, "data.mdb has no valid meta page");
        /* not LMDB at all */
        spit(file, "hello", 5);
        expect_corrupt(path, "data.mdb (5 bytes) is not an LMDB file");
        memset(bad, 'x', 4096 * 3);
        spit(file, bad, 4096 * 3);
        expect_corrupt(path, "data.mdb (12288 bytes) is not an LMDB file");
        free(bad);

        /* emptied to 0 bytes: a new, empty store with no offset */
        cut_to(file, 0);
        h = lm_open_ok(path);
        ck_assert_uint_eq(t->approximate_count(h), 0);
        ck_assert_int_eq(lm_keys(h, keys, sizeof(keys)), 0);
        off = -7;
        ck_assert_int_eq(t->read_offset(h, &off), 0);
        ck_assert_int_eq(off, -7);
        ck_assert_int_eq(t->put(h, K("new"), K("1")), 0);
        ck_assert_int_eq(t->flush_offset(h, 1, err, sizeof(err)), 0);
        t->close(h);
        h = lm_open_ok(path);
        ck_assert_uint_eq(t->approximate_count(h), 1);
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, 1);
        t->close(h);

        /* and the healthy copy opens again, as it was */
        spit(file, good, good_len);
        h = lm_open_ok(path);
        ck_assert_int_eq(t->read_offset(h, &off), 1);
        ck_assert_int_eq(off, 5);
        ck_assert_int_eq(lm_keys(h, keys, sizeof(keys)), 4);
        ck_assert_str_eq(keys, "=empty key;a=1;b=2;c=3;");
        t->close(h);
        free(good);
        rm_rf(dir);
}
END_TEST

/* A key longer than LMDB allows: refused at the put, with the reason. */
START_TEST(lmdb_key_too_long_says_why) {
        const sluice_store_type_t *t = lmdb_type();
        char dir[64], path[128], err[512] = "";
        unsigned char k[600];
        const void *v;
        size_t vl;
        void *h;
        make_tmpdir(dir, sizeof(dir));
        snprintf(path, sizeof(path), "%s/s", dir);
        ck_assert_uint_eq(t->max_key_len, 510);
        ck_assert_ptr_nonnull(t->last_error);
        h = lm_open_ok(path);
        ck_assert_ptr_null(t->last_error(h)); /* nothing failed yet */
        memset(k, 'k', sizeof(k));
        ck_assert_int_eq(t->put(h, k, 600, K("v")), SLUICE_ERR_INVALID_ARG);
        ck_assert_ptr_nonnull(t->last_error(h));
        ck_assert_str_eq(t->last_error(h),
                         "MDB_BAD_VALSIZE: key is 600 bytes, lmdb allows 510");
        ck_assert_int_eq(t->put(h, k, 511, K("v")), SLUICE_ERR_INVALID_ARG);
        ck_assert_str_eq(t->last_error(h),
                         "MDB_BAD_VALSIZE: key is 511 bytes, lmdb allows 510");
        /* not sticky: the longest key goes in, and is committed */
        ck_assert_int_eq(t->put(h, k, 510, K("v")), 0);
        ck_assert_int_eq(t->flush(h, err, sizeof(err)), 0);
        ck_assert_int_eq(t->get(h, k, 510, &v, &vl), 1);
        ck_assert_uint_eq(vl, 1);
        ck_assert_int_eq(t->get(h, k, 600, &v, &vl), 0);
        ck_assert_uint_eq(t->approximate_count(h), 1);
        t->close(h);
        rm_rf(dir);
}
END_TEST

/* ======================== the runtime ======================== */

#define APP "rec-app"
#define CHANGELOG APP "-counts-changelog"

/* A mock cluster of the test's own, so that it outlives the apps. */
typedef struct cluster_s {
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mock;
        char bs[256];
} cluster_t;

static void cluster_new(cluster_t *c, const char *app_id) {
        char err[512], changelog[256];
        rd_kafka_conf_t *mc = rd_kafka_conf_new();
        rd_kafka_conf_set(mc, "log_level", "3", NULL, 0);
        c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, mc, err, sizeof(err));
        ck_assert_msg(c->rk != NULL, "%s", err);
        c->mock = rd_kafka_mock_cluster_new(c->rk, 1);
        ck_assert_ptr_nonnull(c->mock);
        snprintf(c->bs, sizeof(c->bs), "%s",
                 rd_kafka_mock_cluster_bootstraps(c->mock));
        /* one member per run: no reason to wait for more */
        rd_kafka_mock_group_initial_rebalance_delay_ms(c->mock, 0);
        /* the mock has no CreateTopics: every topic is made here */
        snprintf(changelog, sizeof(changelog), "%s-counts-changelog", app_id);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mock, "in", 1, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mock, "out", 1, 1), 0);
        ck_assert_int_eq(rd_kafka_mock_topic_create(c->mock, changelog, 1, 1),
                         0);
}

static void cluster_destroy(cluster_t *c) {
        rd_kafka_mock_cluster_destroy(c->mock);
        rd_kafka_destroy(c->rk);
}

static void produce_one(const char *bootstrap, const char *topic,
                        const char *key) {
        ck_assert_int_eq(ku_produce_raw(bootstrap, topic, 0, key, strlen(key),
                                        "x", 1, 0),
                         0);
}

static sluice_topology_t *count_topology(void) {
        return tu_count_topology();
}

static void cset(sluice_conf_t *c, const char *k, const char *v) {
        tu_set(c, k, v);
}

/* What the restore callback saw for partition 0 of "counts". */
typedef struct restores_s {
        mtx_t mu;
        int starts, ends;
        uint64_t restored;
        int64_t start_offset, end_offset;
} restores_t;

static void on_restore(const sluice_restore_info_t *info, void *opaque) {
        restores_t *r = opaque;
        if (info->partition != 0 || strcmp(info->store, "counts"))
                return;
        mtx_lock(&r->mu);
        if (info->phase == SLUICE_RESTORE_START)
                r->starts++;
        if (info->phase == SLUICE_RESTORE_END) {
                r->ends++;
                r->restored     = info->restored;
                r->start_offset = info->start_offset;
                r->end_offset   = info->end_offset;
        }
        mtx_unlock(&r->mu);
}

static int restore_ended(void *arg) {
        restores_t *r = arg;
        int done;
        mtx_lock(&r->mu);
        done = r->ends > 0;
        mtx_unlock(&r->mu);
        return done;
}

static int64_t be64_get(const void *p) {
        const unsigned char *b = p;
        int64_t v              = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | b[i];
        return v;
}

static int got_count(const void *k, size_t klen, const void *v, size_t vlen,
                     int64_t ts, void *opaque) {
        int64_t *n = opaque;
        (void)k;
        (void)klen;
        (void)ts;
        ck_assert_uint_eq(vlen, 8);
        *n = be64_get(v);
        return 0;
}

/* One life of the app over the shared state.dir. */
typedef struct run_s {
        sluice_topology_t *t;
        sluice_app_t *app;
        logbuf_t log;
        restores_t rs;
} run_t;

typedef struct count_wait_s {
        sluice_app_t *app;
        const char *key;
        int64_t want;
} count_wait_t;

static int count_reached(void *arg) {
        count_wait_t *w = arg;
        int64_t n       = -1;
        return sluice_app_store_get(w->app, "counts", w->key, strlen(w->key),
                                    got_count, &n) == 1 &&
               n == w->want;
}

static void wait_count(run_t *r, const char *key, int64_t want) {
        count_wait_t w = {r->app, key, want};
        int64_t n      = -1;
        int rc;
        if (ku_wait_for(count_reached, &w, 30000))
                return;
        rc = sluice_app_store_get(r->app, "counts", key, strlen(key),
                                  got_count, &n);
        log_dump(&r->log);
        ck_abort_msg("count of \"%s\": want %lld, have %lld (get: %d; app "
                     "%s: %s)",
                     key, (long long)want, (long long)n, rc,
                     sluice_app_state_name(sluice_app_state(r->app)),
                     sluice_app_error(r->app));
}

static void run_start(run_t *r, const char *bs, const char *state) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        memset(r, 0, sizeof(*r));
        log_init(&r->log);
        ck_assert_int_eq(mtx_init(&r->rs.mu, mtx_plain), thrd_success);
        r->rs.start_offset = r->rs.end_offset = -1;
        cset(c, "application.id", APP);
        cset(c, "bootstrap.servers", bs);
        cset(c, "state.dir", state);
        cset(c, "default.dsl.store", "lmdb");
        cset(c, "commit.interval.ms", "100");
        /* no record cache: one changelog record per input record */
        cset(c, "statestore.cache.max.bytes", "0");
        /* the mock waits a session timeout (less 1 s) for the members of
         * the last generation before it answers the next life's join */
        cset(c, "consumer.session.timeout.ms", "2500");
        cset(c, "consumer.heartbeat.interval.ms", "500");
        sluice_conf_set_log_cb(c, log_collect, SLUICE_LOG_INFO, &r->log);
        sluice_conf_set_restore_cb(c, on_restore, &r->rs);
        r->t   = count_topology();
        r->app = sluice_app_new(r->t, c, err, sizeof(err));
        ck_assert_msg(r->app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(r->app, err, sizeof(err)) == 0, "%s",
                      err);
        if (!ku_wait_for(restore_ended, &r->rs, 30000)) {
                log_dump(&r->log);
                ck_abort_msg("no restore end (app %s: %s)",
                             sluice_app_state_name(sluice_app_state(r->app)),
                             sluice_app_error(r->app));
        }
}

static void run_stop(run_t *r) {
        sluice_app_close(r->app);
        ck_assert_int_eq(sluice_app_state(r->app), SLUICE_APP_NOT_RUNNING);
        ck_assert_str_eq(sluice_app_error(r->app), "");
        sluice_app_destroy(r->app);
        sluice_topology_destroy(r->t);
        mtx_destroy(&r->rs.mu);
        log_free(&r->log);
}

/* The restore of this run: from @start to @end, @restored records. */
static void expect_restore(run_t *r, int64_t start, int64_t end,
                           uint64_t restored) {
        mtx_lock(&r->rs.mu);
        ck_assert_int_eq(r->rs.starts, 1);
        ck_assert_int_eq(r->rs.ends, 1);
        ck_assert_int_eq(r->rs.start_offset, start);
        ck_assert_int_eq(r->rs.end_offset, end);
        ck_assert_uint_eq(r->rs.restored, restored);
        mtx_unlock(&r->rs.mu);
}

/* ---- the kinds of damage, done between two lives ---- */

typedef struct paths_s {
        char state[64];
        char instance[128]; /* <state>/<app>/0 */
        char task[160];     /* .../0_0 */
        char store[192];    /* .../0_0/counts */
        char data[224];     /* .../0_0/counts/data.mdb */
        char checkpoint[224];
} paths_t;

static void damage_rm_store(const paths_t *p) {
        rm_rf(p->store);
        ck_assert(!exists(p->store));
}
static void damage_empty(const paths_t *p) {
        cut_to(p->data, 0);
}
static void damage_halve(const paths_t *p) {
        cut_to(p->data, file_size(p->data) / 2);
}
static void damage_garbage(const paths_t *p) {
        spit(p->data, "hello", 5);
}
static void damage_checkpoint(const paths_t *p) {
        ck_assert(exists(p->checkpoint));
        spit(p->checkpoint, "garbage\n\x01\x02", 10);
}
static void damage_no_checkpoint(const paths_t *p) {
        ck_assert_int_eq(unlink(p->checkpoint), 0);
}

typedef struct damage_s {
        const char *what;
        void (*fn)(const paths_t *p);
        int full;            /* restored from offset 0 */
        const char *warning; /* in a WARNING line, or NULL: none at all */
        const char *reason;  /* also in it, or NULL */
        int aside;           /* a counts.corrupt-* directory appears */
} damage_t;

static const damage_t damages[] = {
    {"store directory removed", damage_rm_store, 1, "holds no offset of its own",
     NULL, 0},
    {"data.mdb emptied", damage_empty, 1, "holds no offset of its own", NULL,
     0},
    {"data.mdb truncated to half", damage_halve, 1, "moved it aside",
     "truncated", 1},
    {"data.mdb replaced by garbage", damage_garbage, 1, "moved it aside",
     "data.mdb (5 bytes) is not an LMDB file", 1},
    {".checkpoint replaced by garbage", damage_checkpoint, 0,
     "the checkpoint file is damaged", "line 1 is not \"<offset> <store>\"",
     0},
    {".checkpoint removed", damage_no_checkpoint, 0, NULL, NULL, 0},
};
#define DAMAGE_CNT ((int)(sizeof(damages) / sizeof(damages[0])))

static void expect_checkpoint_file(const paths_t *p, int64_t offset) {
        char want[64], *have = slurp(p->checkpoint, NULL);
        ck_assert_msg(have != NULL, "no %s", p->checkpoint);
        snprintf(want, sizeof(want), "%lld counts\n", (long long)offset);
        ck_assert_str_eq(have, want);
        free(have);
}

/* A count over LMDB on a cluster that outlives the app, restarted after
 * each kind of damage to its local state: a store without its own offset
 * and a damaged one are restored in full (the damaged one moved aside), a
 * damaged or missing checkpoint file is replaced by the store's own
 * offset; never a silent reset of the counts. */
START_TEST(app_restores_damaged_local_state) {
        cluster_t cl;
        paths_t p;
        run_t r;
        char line[4096], base[600], aside[512], name[256];
        int64_t clog = 0, a = 0; /* changelog records so far, count of a */
        int i;
        make_tmpdir(p.state, sizeof(p.state));
        snprintf(p.instance, sizeof(p.instance), "%s/" APP "/0", p.state);
        snprintf(p.task, sizeof(p.task), "%s/0_0", p.instance);
        snprintf(p.store, sizeof(p.store), "%s/counts", p.task);
        snprintf(p.data, sizeof(p.data), "%s/data.mdb", p.store);
        snprintf(p.checkpoint, sizeof(p.checkpoint), "%s/.checkpoint", p.task);
        cluster_new(&cl, APP);

        /* 1: a, a, b from nothing */
        run_start(&r, cl.bs, p.state);
        expect_restore(&r, 0, 0, 0);
        snprintf(line, sizeof(line), "instance 0: local state in \"%s\"",
                 p.instance);
        ck_assert_int_eq(log_find(&r.log, SLUICE_LOG_INFO, line, NULL, 0), 1);
        produce_one(cl.bs, "in", "a");
        produce_one(cl.bs, "in", "a");
        produce_one(cl.bs, "in", "b");
        wait_count(&r, "a", 2);
        wait_count(&r, "b", 1);
        run_stop(&r);
        clog = 3;
        a    = 2;
        /* <state.dir>/<application.id>/<instance>/<sub>_<partition>/<store> */
        ck_assert_msg(exists(p.data), "no %s", p.data);
        snprintf(line, sizeof(line), "%s/sluice.lock", p.store);
        ck_assert(exists(line));
        snprintf(line, sizeof(line), "%s/.lock", p.instance);
        ck_assert(exists(line));
        snprintf(line, sizeof(line), "%s/" APP "/0_0", p.state);
        ck_assert(!exists(line)); /* not the driver's layout */
        expect_checkpoint_file(&p, clog);

        /* 2: intact: restored from the store's own offset, nothing to do */
        run_start(&r, cl.bs, p.state);
        expect_restore(&r, clog, clog, 0);
        wait_count(&r, "a", a);
        wait_count(&r, "b", 1);
        ck_assert_int_eq(state_warnings(&r.log, NULL, 0), 0);
        produce_one(cl.bs, "in", "a");
        wait_count(&r, "a", ++a);
        run_stop(&r);
        expect_checkpoint_file(&p, ++clog);

        for (i = 0; i < DAMAGE_CNT; i++) {
                const damage_t *d = &damages[i];
                int warnings;
                damages[i].fn(&p);
                run_start(&r, cl.bs, p.state);
                if (d->full)
                        expect_restore(&r, 0, clog, (uint64_t)clog);
                else
                        expect_restore(&r, clog, clog, 0);
                /* the counts as they were, then one more */
                wait_count(&r, "a", a);
                wait_count(&r, "b", 1);
                line[0]  = '\0';
                warnings = state_warnings(&r.log, line, sizeof(line));
                if (d->warning) {
                        ck_assert_msg(warnings == 1, "%s: %d warnings: %s",
                                      d->what, warnings, line);
                        ck_assert_msg(strstr(line, d->warning) &&
                                          (!d->reason ||
                                           strstr(line, d->reason)),
                                      "%s: want \"%s\" / \"%s\" in: %s",
                                      d->what, d->warning,
                                      d->reason ? d->reason : "", line);
                } else {
                        ck_assert_msg(warnings == 0, "%s: %s", d->what, line);
                }
                if (d->aside) {
                        ck_assert_int_eq(count_prefixed(p.task,
                                                        "counts.corrupt-",
                                                        name, sizeof(name)),
                                         1);
                        snprintf(aside, sizeof(aside), "%s/%s", p.task, name);
                        /* the warning names where it went */
                        ck_assert_msg(strstr(line, aside), "%s not in: %s",
                                      aside, line);
                        /* the damaged file, kept as it was for a look */
                        snprintf(base, sizeof(base), "%s/data.mdb", aside);
                        ck_assert(exists(base));
                        if (d->fn == damage_garbage)
                                ck_assert_int_eq(file_size(base), 5);
                        /* looked at: gone (two in one second would share
                         * a name) */
                        rm_rf(aside);
                } else {
                        ck_assert_int_eq(count_prefixed(p.task,
                                                        "counts.corrupt-",
                                                        NULL, 0),
                                         0);
                }
                produce_one(cl.bs, "in", "a");
                wait_count(&r, "a", ++a);
                wait_count(&r, "b", 1);
                run_stop(&r);
                expect_checkpoint_file(&p, ++clog);
        }

        /* the changelog holds one record per input record, no more */
        {
                ku_record_t *recs;
                int got = ku_consume(cl.bs, CHANGELOG, (int)clog + 1, 1000,
                                     &recs);
                ck_assert_int_eq(got, clog);
                ku_free(recs, got);
        }
        cluster_destroy(&cl);
        rm_rf(p.state);
}
END_TEST

/* ======================== instance directories ======================== */

#define IAPP "rec-inst"

static sluice_app_t *inst_app(const char *bs, const char *state,
                              const char *store, const char *instance,
                              logbuf_t *log, sluice_topology_t *t, char *err,
                              size_t err_size) {
        sluice_conf_t *c = sluice_conf_new();
        sluice_app_t *app;
        cset(c, "application.id", IAPP);
        cset(c, "bootstrap.servers", bs);
        cset(c, "state.dir", state);
        cset(c, "default.dsl.store", store);
        if (instance)
                cset(c, "sluice.instance.id", instance);
        sluice_conf_set_log_cb(c, log_collect, SLUICE_LOG_INFO, log);
        app = sluice_app_new(t, c, err, err_size);
        if (!app)
                sluice_conf_destroy(c); /* not taken on failure */
        return app;
}

/* Apps of one application.id and state.dir each take their own
 * directory, in one process too; a pinned one that is taken is refused. */
START_TEST(instances_take_their_own_directory) {
        cluster_t cl;
        logbuf_t la, lb, lc, ld, le;
        sluice_topology_t *ta = count_topology(), *tb = count_topology(),
                          *tc = count_topology(), *td = count_topology(),
                          *te = count_topology(), *tm = count_topology();
        sluice_app_t *a, *b, *c, *d, *e, *m;
        char state[64], dir[256], want[512], err[512], *pid;
        sluice_conf_t *conf;
        make_tmpdir(state, sizeof(state));
        cluster_new(&cl, IAPP);
        log_init(&la);
        log_init(&lb);
        log_init(&lc);
        log_init(&ld);
        log_init(&le);

        a = inst_app(cl.bs, state, "lmdb", NULL, &la, ta, err, sizeof(err));
        ck_assert_msg(a != NULL, "%s", err);
        b = inst_app(cl.bs, state, "lmdb", NULL, &lb, tb, err, sizeof(err));
        ck_assert_msg(b != NULL, "%s", err);
        snprintf(want, sizeof(want), "instance 0: local state in \"%s/" IAPP
                                     "/0\"",
                 state);
        ck_assert_int_eq(log_find(&la, SLUICE_LOG_INFO, want, NULL, 0), 1);
        snprintf(want, sizeof(want), "instance 1: local state in \"%s/" IAPP
                                     "/1\"",
                 state);
        ck_assert_int_eq(log_find(&lb, SLUICE_LOG_INFO, want, NULL, 0), 1);
        /* the lock file names its holder */
        snprintf(dir, sizeof(dir), "%s/" IAPP "/1/.lock", state);
        ck_assert_ptr_nonnull(pid = slurp(dir, NULL));
        snprintf(want, sizeof(want), "%ld\n", (long)getpid());
        ck_assert_str_eq(pid, want);
        free(pid);
        snprintf(dir, sizeof(dir), "%s/" IAPP "/2", state);
        ck_assert(!exists(dir));

        /* the first one gone, its directory is the next one's */
        sluice_app_destroy(a);
        c = inst_app(cl.bs, state, "lmdb", NULL, &lc, tc, err, sizeof(err));
        ck_assert_msg(c != NULL, "%s", err);
        snprintf(want, sizeof(want), "instance 0: local state in \"%s/" IAPP
                                     "/0\"",
                 state);
        ck_assert_int_eq(log_find(&lc, SLUICE_LOG_INFO, want, NULL, 0), 1);

        /* pinned: x, then x again */
        d = inst_app(cl.bs, state, "lmdb", "x", &ld, td, err, sizeof(err));
        ck_assert_msg(d != NULL, "%s", err);
        snprintf(want, sizeof(want), "instance x: local state in \"%s/" IAPP
                                     "/x\"",
                 state);
        ck_assert_int_eq(log_find(&ld, SLUICE_LOG_INFO, want, NULL, 0), 1);
        e = inst_app(cl.bs, state, "lmdb", "x", &le, te, err, sizeof(err));
        ck_assert_ptr_null(e);
        snprintf(want, sizeof(want),
                 "configuration property \"sluice.instance.id\"=x: its state "
                 "directory \"%s/" IAPP "/x\" is held by another process "
                 "(pid %ld)",
                 state, (long)getpid());
        ck_assert_str_eq(err, want);

        /* an instance id names a directory: nothing that leaves state.dir */
        conf = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.instance.id", "../x",
                                         err, sizeof(err)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_str_eq(err, "Invalid value \"../x\" for configuration "
                              "property \"sluice.instance.id\": expected 1 "
                              "to 64 characters of a-z A-Z 0-9 . _ - (it "
                              "names a directory under state.dir)");
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.instance.id", "..",
                                         err, sizeof(err)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.instance.id", "",
                                         err, sizeof(err)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.instance.id", "a/b",
                                         err, sizeof(err)),
                         SLUICE_ERR_INVALID_CONF);
        ck_assert_int_eq(sluice_conf_set(conf, "sluice.instance.id", "host-1.a_b",
                                         err, sizeof(err)),
                         0);
        sluice_conf_destroy(conf);

        /* an app without a persistent store takes no directory */
        sluice_app_destroy(b);
        sluice_app_destroy(c);
        sluice_app_destroy(d);
        log_free(&lb);
        log_init(&lb);
        rm_rf(state);
        m = inst_app(cl.bs, state, "in_memory", NULL, &lb, tm, err,
                     sizeof(err));
        ck_assert_msg(m != NULL, "%s", err);
        ck_assert(!exists(state));
        ck_assert_int_eq(log_find(&lb, SLUICE_LOG_INFO, "local state in", NULL,
                                  0),
                         0);
        sluice_app_destroy(m);

        log_free(&la);
        log_free(&lb);
        log_free(&lc);
        log_free(&ld);
        log_free(&le);
        sluice_topology_destroy(ta);
        sluice_topology_destroy(tb);
        sluice_topology_destroy(tc);
        sluice_topology_destroy(td);
        sluice_topology_destroy(te);
        sluice_topology_destroy(tm);
        cluster_destroy(&cl);
        rm_rf(state);
}
END_TEST

/* ======================== a store in use elsewhere ======================== */

#define DAPP "rec-drv"

/* The child: open the store at @path, say so on @ready, hold it until a
 * byte (or EOF) arrives on @release, close it, then wait to be killed
 * (or for EOF: the parent died). Store functions only. */
static void hold_store(const char *path, int ready, int release) {
        const sluice_store_type_t *t = sluice_store_type_lmdb();
        char err[512], c = 'n';
        void *h = NULL;
        if (t && !t->open(t, path, "counts", &h, err, sizeof(err)))
                c = 'y';
        if (write(ready, &c, 1) != 1 || c != 'y')
                _exit(1);
        while (read(release, &c, 1) < 0 && errno == EINTR)
                ;
        t->close(h);
        while (read(release, &c, 1) != 0)
                ;
        _exit(0);
}

/* The store of a task another process holds: the driver retries with
 * back-off, saying who holds it, and opens it once it is free. */
START_TEST(busy_store_is_waited_for) {
        char state[64], path[256], want[512], line[4096], err[512], c = '?';
        int ready[2], release[2], status;
        sluice_topology_t *t;
        sluice_conf_t *conf;
        sluice_driver_t *drv;
        logbuf_t log;
        int64_t n = -1;
        pid_t pid;
        make_tmpdir(state, sizeof(state));
        /* the driver's layout: <state.dir>/<app>/<sub>_<partition>/<store> */
        snprintf(path, sizeof(path), "%s/" DAPP "/0_0/counts", state);
        ck_assert_int_eq(pipe(ready), 0);
        ck_assert_int_eq(pipe(release), 0);
        pid = fork(); /* before anything of librdkafka's exists here */
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(ready[0]);
                close(release[1]);
                hold_store(path, ready[1], release[0]);
        }
        close(ready[1]);
        close(release[0]);
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        ck_assert_int_eq(c, 'y'); /* the child holds it now */
        close(ready[0]);

        log_init(&log);
        log.release_fd = release[1]; /* freed at the first retry */
        conf = sluice_conf_new();
        cset(conf, "application.id", DAPP);
        cset(conf, "state.dir", state);
        cset(conf, "default.dsl.store", "lmdb");
        sluice_conf_set_log_cb(conf, log_collect, SLUICE_LOG_INFO, &log);
        t   = count_topology();
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s", err);
        /* the first attempt found it held by the child, and said so */
        snprintf(want, sizeof(want),
                 "store \"counts\" partition 0: lmdb store \"counts\" in %s: "
                 "in use by another process (pid %ld); retrying in 50 ms",
                 path, (long)pid);
        ck_assert_msg(log_find(&log, SLUICE_LOG_INFO, want, line,
                               sizeof(line)) == 1,
                      "want: %s", want);
        ck_assert_int_ge(log.retries, 1);
        ck_assert_int_eq(log_find(&log, SLUICE_LOG_INFO, "retrying in", NULL,
                                  0),
                         log.retries);
        /* and the store works */
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "in", "a", "x", 1), 0);
        ck_assert_int_eq(sluice_driver_store_get(drv, "counts", "a", 1,
                                                 got_count, &n),
                         1);
        ck_assert_int_eq(n, 1);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        close(release[1]);
        log_free(&log);
        rm_rf(state);
}
END_TEST

Suite *suite_recovery(void) {
        Suite *s  = suite_create("recovery");
        TCase *tc = tcase_create("recovery");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, lmdb_offset_and_damaged_files);
        tcase_add_test(tc, lmdb_key_too_long_says_why);
        tcase_add_test(tc, app_restores_damaged_local_state);
        tcase_add_test(tc, instances_take_their_own_directory);
        tcase_add_test(tc, busy_store_is_waited_for);
        suite_add_tcase(s, tc);
        return s;
}
