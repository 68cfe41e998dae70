/*
 * test_store.c - the state store contract, written once and run against
 * every backend: the built-in in_memory and lmdb, and examples/
 * custom_store.c's "sorted-array" (a user's backend, public header only).
 *
 * The contract: the type's fields; get/put/del with exact bytes, empty
 * values and empty keys, binary keys; memcmp order with the shorter key
 * first; inclusive ranges, open at either end, empty, with bounds that are
 * not keys; exact counts; reads while iterating; persistence across close
 * for a persistent backend (after a flush), emptiness for the others; and
 * 10,000 random operations checked against a sorted-array model.
 *
 * Then what only the lmdb backend promises (the key size limit, creating
 * its directory, close() dropping what was not flushed, a SIGKILL keeping the last flush, its
 * lock against a second process), and a word count on the test driver with
 * its counts in each backend.
 */
#include "helpers.h"
#include "test_util.h"
#include "test_list.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* examples/custom_store.c, compiled into this binary without its main() */
const sluice_store_type_t *custom_store_type(void);

typedef struct backend_s {
        const char *name;
        const sluice_store_type_t *(*type)(void);
        int persistent;
} backend_t;

static const backend_t backends[] = {
    {"in_memory", sluice_store_type_memory, 0},
    {"lmdb", sluice_store_type_lmdb, 1},
    {"sorted-array", custom_store_type, 0},
};
#define BACKEND_CNT ((int)(sizeof(backends) / sizeof(backends[0])))
#define LMDB 1 /* index in backends[] */

/* A literal with its length, NULs included: K("a\0b") is 3 bytes. */
#define K(s) (s), (sizeof(s) - 1)

/* ---- temporary directories ---- */

static void rm_rf(const char *path) {
        tu_rm_rf(path);
}

static void make_tmpdir(char *dir, size_t size) {
        tu_tmpdir(dir, size, "store");
}

/* ---- an open instance of one backend ---- */

typedef struct st_s {
        const backend_t *b;
        const sluice_store_type_t *type;
        char dir[64];   /* the test's temporary directory */
        char path[128]; /* the instance's directory in it */
        void *h;        /* the open instance, or NULL */
} st_t;

static void st_open(st_t *st) {
        char err[512] = "";
        int rc        = st->type->open(st->type, st->path, "test-store", &st->h,
                                       err, sizeof(err));
        ck_assert_msg(rc == 0, "%s: open %s: %d %s", st->b->name, st->path,
                      rc, err);
        ck_assert_ptr_nonnull(st->h);
}

static void st_close(st_t *st) {
        st->type->close(st->h);
        st->h = NULL;
}

/* A fresh instance of backends[i] in a new directory (which Sluice
 * creates before it opens an instance). */
static void st_setup(st_t *st, int i) {
        memset(st, 0, sizeof(*st));
        st->b    = &backends[i];
        st->type = st->b->type();
        ck_assert_msg(st->type != NULL,
                      "%s: backend missing (this build requires it)",
                      st->b->name);
        make_tmpdir(st->dir, sizeof(st->dir));
        snprintf(st->path, sizeof(st->path), "%s/0_0", st->dir);
        ck_assert_int_eq(mkdir(st->path, 0755), 0);
        st_open(st);
}

static void st_teardown(st_t *st) {
        if (st->h)
                st_close(st);
        rm_rf(st->dir);
}

static void st_put(st_t *st, const void *k, size_t kl, const void *v,
                   size_t vl) {
        int rc = st->type->put(st->h, k, kl, v, vl);
        ck_assert_msg(rc == 0, "%s: put of a %zu-byte key: %d", st->b->name,
                      kl, rc);
}

static void st_del(st_t *st, const void *k, size_t kl) {
        int rc = st->type->del(st->h, k, kl);
        ck_assert_msg(rc == 0, "%s: del of a %zu-byte key: %d", st->b->name,
                      kl, rc);
}

/* Check that @p k holds exactly @p v (NULL: that it is absent). */
static void st_expect(st_t *st, const void *k, size_t kl, const void *v,
                      size_t vl) {
        const void *got = NULL;
        size_t got_len  = (size_t)-1;
        int rc          = st->type->get(st->h, k, kl, &got, &got_len);
        if (!v) {
                ck_assert_msg(rc == 0, "%s: get of an absent key: %d",
                              st->b->name, rc);
                return;
        }
        ck_assert_msg(rc == 1, "%s: get of a %zu-byte key: %d", st->b->name,
                      kl, rc);
        ck_assert_msg(got_len == vl, "%s: value of %zu bytes, expected %zu",
                      st->b->name, got_len, vl);
        ck_assert_ptr_nonnull(got);
        if (vl)
                ck_assert_mem_eq(got, v, vl);
}

#define PUT(st, k, v) st_put(st, K(k), K(v))
#define EXPECT(st, k, v) st_expect(st, K(k), K(v))
#define ABSENT(st, k) st_expect(st, K(k), NULL, 0)

/* ---- records, and the reference model: a sorted array of them ---- */

typedef struct kv_s {
        unsigned char *k, *v;
        size_t kl, vl;
} kv_t;

typedef struct kvs_s {
        kv_t *a;
        size_t n, cap;
} kvs_t;

static int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
        size_t n = al < bl ? al : bl;
        int c    = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return al < bl ? -1 : al > bl;
}

static unsigned char *dup_bytes(const void *p, size_t n) {
        unsigned char *d = malloc(n + 1);
        ck_assert_ptr_nonnull(d);
        if (n)
                memcpy(d, p, n);
        return d;
}

static void kvs_insert(kvs_t *s, size_t i, const void *k, size_t kl,
                       const void *v, size_t vl) {
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 64;
                s->a   = realloc(s->a, s->cap * sizeof(*s->a));
                ck_assert_ptr_nonnull(s->a);
        }
        memmove(&s->a[i + 1], &s->a[i], (s->n - i) * sizeof(*s->a));
        s->a[i].k  = dup_bytes(k, kl);
        s->a[i].kl = kl;
        s->a[i].v  = dup_bytes(v, vl);
        s->a[i].vl = vl;
        s->n++;
}

static void kvs_free(kvs_t *s) {
        size_t i;
        for (i = 0; i < s->n; i++) {
                free(s->a[i].k);
                free(s->a[i].v);
        }
        free(s->a);
        memset(s, 0, sizeof(*s));
}

/* First index with key >= @p k (> @p k when @p after). */
static size_t model_bound(const kvs_t *m, const void *k, size_t kl,
                          int after) {
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c      = key_cmp(m->a[mid].k, m->a[mid].kl, k, kl);
                if (c < 0 || (after && c == 0))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int model_has(const kvs_t *m, size_t i, const void *k, size_t kl) {
        return i < m->n && !key_cmp(m->a[i].k, m->a[i].kl, k, kl);
}

static void model_put(kvs_t *m, const void *k, size_t kl, const void *v,
                      size_t vl) {
        size_t i = model_bound(m, k, kl, 0);
        if (model_has(m, i, k, kl)) {
                free(m->a[i].v);
                m->a[i].v  = dup_bytes(v, vl);
                m->a[i].vl = vl;
        } else {
                kvs_insert(m, i, k, kl, v, vl);
        }
}

static void model_del(kvs_t *m, const void *k, size_t kl) {
        size_t i = model_bound(m, k, kl, 0);
        if (!model_has(m, i, k, kl))
                return;
        free(m->a[i].k);
        free(m->a[i].v);
        memmove(&m->a[i], &m->a[i + 1], (m->n - i - 1) * sizeof(*m->a));
        m->n--;
}

/* Put into both the store and the model. */
static void both_put(st_t *st, kvs_t *m, const void *k, size_t kl,
                     const void *v, size_t vl) {
        st_put(st, k, kl, v, vl);
        model_put(m, k, kl, v, vl);
}

/* Every record of [from, to] (NULL: open), copied, in the store's order. */
static void scan(st_t *st, const void *from, size_t fl, const void *to,
                 size_t tl, kvs_t *out) {
        void *it = NULL;
        const void *k, *v;
        size_t kl, vl;
        int rc = st->type->iter_open(st->h, from, fl, to, tl, &it);
        ck_assert_msg(rc == 0, "%s: iter_open: %d", st->b->name, rc);
        while ((rc = st->type->iter_next(it, &k, &kl, &v, &vl)) == 1)
                kvs_insert(out, out->n, k, kl, v, vl);
        ck_assert_msg(rc == 0, "%s: iter_next: %d", st->b->name, rc);
        st->type->iter_close(it);
}

/* The store's [from, to] must be exactly the model's. @returns its size. */
static size_t check_range(st_t *st, const kvs_t *m, const void *from,
                          size_t fl, const void *to, size_t tl) {
        kvs_t got = {0};
        size_t lo = from ? model_bound(m, from, fl, 0) : 0;
        size_t hi = to ? model_bound(m, to, tl, 1) : m->n, i;
        if (hi < lo)
                hi = lo;
        scan(st, from, fl, to, tl, &got);
        ck_assert_msg(got.n == hi - lo,
                      "%s: range of %zu records, expected %zu", st->b->name,
                      got.n, hi - lo);
        for (i = 0; i < got.n; i++) {
                const kv_t *g = &got.a[i], *w = &m->a[lo + i];
                ck_assert_msg(!key_cmp(g->k, g->kl, w->k, w->kl),
                              "%s: record %zu of the range has the wrong key",
                              st->b->name, i);
                ck_assert_msg(g->vl == w->vl &&
                                  (!g->vl || !memcmp(g->v, w->v, g->vl)),
                              "%s: record %zu of the range has the wrong "
                              "value",
                              st->b->name, i);
        }
        kvs_free(&got);
        return hi - lo;
}

static void check_all(st_t *st, const kvs_t *m) {
        check_range(st, m, NULL, 0, NULL, 0);
        ck_assert_msg(st->type->approximate_count(st->h) == m->n,
                      "%s: count %llu, expected %zu", st->b->name,
                      (unsigned long long)st->type->approximate_count(st->h),
                      m->n);
}

/* xorshift64*: the same "random" operations on every run */
static uint64_t rnd_state;
static uint64_t rnd(void) {
        rnd_state ^= rnd_state >> 12;
        rnd_state ^= rnd_state << 25;
        rnd_state ^= rnd_state >> 27;
        return rnd_state * 0x2545f4914f6cdd1dull;
}
static size_t rnd_below(size_t n) {
        return (size_t)(rnd() % n);
}

/* 1000 keys k0000..k0999, prefixes of each other, the empty key, binary
 * ones; put in a shuffled order with values that tell them apart. */
static void put_ordering_set(st_t *st, kvs_t *m) {
        static const struct {
                const char *k;
                size_t len;
        } extra[] = {{K("a")},      {K("ab")},     {K("abc")}, {K("b")},
                     {K("\x00")},   {K("\x00\x00")}, {K("\xff")},
                     {K("\xff\xff")}, {K("")},     {K("k")},   {K("k0")},
                     {K("k00")},    {K("a\x00")},  {K("a\x00z")}};
        char keys[1000 + sizeof(extra) / sizeof(extra[0])][8];
        size_t lens[sizeof(keys) / sizeof(keys[0])];
        size_t order[sizeof(keys) / sizeof(keys[0])], n = 0, i;
        for (i = 0; i < 1000; i++) {
                snprintf(keys[n], sizeof(keys[n]), "k%04zu", i);
                lens[n++] = 5;
        }
        for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
                memcpy(keys[n], extra[i].k, extra[i].len);
                lens[n++] = extra[i].len;
        }
        for (i = 0; i < n; i++)
                order[i] = i;
        rnd_state = 42;
        for (i = n - 1; i > 0; i--) {
                size_t j = rnd_below(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }
        for (i = 0; i < n; i++) {
                char v[32];
                size_t j = order[i];
                int vl   = snprintf(v, sizeof(v), "value-%zu", j);
                both_put(st, m, keys[j], lens[j], v, (size_t)vl);
        }
}

/* ======================== the contract ======================== */

START_TEST(type_fields) {
        const backend_t *b             = &backends[_i];
        const sluice_store_type_t *type = b->type();
        const char *p;
        ck_assert_msg(type != NULL, "%s: backend missing", b->name);
        ck_assert_ptr_eq(b->type(), type); /* static */
        ck_assert_int_eq(type->version, SLUICE_STORE_VERSION);
        ck_assert_ptr_nonnull(type->name);
        ck_assert_str_eq(type->name, b->name);
        for (p = type->name; *p; p++)
                ck_assert_msg(strchr("abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789_.-",
                                     *p),
                              "%s: bad character in the name", b->name);
        ck_assert_int_eq(type->persistent, b->persistent);
        ck_assert_ptr_nonnull(type->open);
        ck_assert_ptr_nonnull(type->close);
        ck_assert_ptr_nonnull(type->get);
        ck_assert_ptr_nonnull(type->put);
        ck_assert_ptr_nonnull(type->del);
        ck_assert_ptr_nonnull(type->iter_open);
        ck_assert_ptr_nonnull(type->iter_next);
        ck_assert_ptr_nonnull(type->iter_close);
        ck_assert_ptr_nonnull(type->flush);
        ck_assert_ptr_nonnull(type->approximate_count);
}
END_TEST

START_TEST(fresh_store_is_empty) {
        st_t st;
        kvs_t none = {0};
        char err[256] = "";
        st_setup(&st, _i);
        ABSENT(&st, "nope");
        ABSENT(&st, "");
        check_all(&st, &none);
        check_range(&st, &none, K("a"), K("z"));
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        st_teardown(&st);
}
END_TEST

START_TEST(put_then_get_exact_bytes) {
        st_t st;
        char k[] = "key", v[] = "value\0with\xff" "bytes";
        st_setup(&st, _i);
        st_put(&st, k, 3, v, sizeof(v) - 1);
        /* the backend copied both: our buffers may change now */
        memset(k, 'x', sizeof(k));
        memset(v, 'x', sizeof(v));
        EXPECT(&st, "key", "value\0with\xff" "bytes");
        ABSENT(&st, "ke");
        ABSENT(&st, "key\0");
        ABSENT(&st, "keyy");
        ck_assert_uint_eq(st.type->approximate_count(st.h), 1);
        st_teardown(&st);
}
END_TEST

START_TEST(overwrite) {
        st_t st;
        st_setup(&st, _i);
        PUT(&st, "k", "one");
        PUT(&st, "k", "two"); /* same size */
        EXPECT(&st, "k", "two");
        PUT(&st, "k", "a longer value than before");
        EXPECT(&st, "k", "a longer value than before");
        PUT(&st, "k", "s");
        EXPECT(&st, "k", "s");
        ck_assert_uint_eq(st.type->approximate_count(st.h), 1);
        st_teardown(&st);
}
END_TEST

START_TEST(delete) {
        st_t st;
        st_setup(&st, _i);
        PUT(&st, "a", "1");
        PUT(&st, "b", "2");
        st_del(&st, K("a"));
        ABSENT(&st, "a");
        EXPECT(&st, "b", "2");
        ck_assert_uint_eq(st.type->approximate_count(st.h), 1);
        st_del(&st, K("a"));     /* again */
        st_del(&st, K("never")); /* never there */
        st_del(&st, K(""));
        ck_assert_uint_eq(st.type->approximate_count(st.h), 1);
        PUT(&st, "a", "back");
        EXPECT(&st, "a", "back");
        st_del(&st, K("b"));
        st_del(&st, K("a"));
        ck_assert_uint_eq(st.type->approximate_count(st.h), 0);
        st_teardown(&st);
}
END_TEST

START_TEST(empty_value_and_empty_key) {
        st_t st;
        kvs_t m = {0};
        st_setup(&st, _i);
        both_put(&st, &m, K("k"), K(""));
        st_expect(&st, K("k"), "", 0); /* present, zero bytes */
        ABSENT(&st, "other");
        /* the empty key (Kafka allows it) is a key like any other: first */
        both_put(&st, &m, K(""), K("empty key"));
        EXPECT(&st, "", "empty key");
        both_put(&st, &m, K("\x00"), K(""));
        check_all(&st, &m);
        ck_assert_uint_eq(check_range(&st, &m, K(""), K("")), 1);
        st_del(&st, K(""));
        model_del(&m, K(""));
        ABSENT(&st, "");
        st_expect(&st, K("k"), "", 0);
        check_all(&st, &m);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

START_TEST(binary_keys) {
        st_t st;
        kvs_t m = {0};
        st_setup(&st, _i);
        both_put(&st, &m, K("a\0b"), K("1"));
        both_put(&st, &m, K("a\0"), K("2"));
        both_put(&st, &m, K("a"), K("3"));
        both_put(&st, &m, K("a\0\0"), K("4"));
        both_put(&st, &m, K("\0"), K("5"));
        both_put(&st, &m, K("\0\0\0\0"), K("6"));
        both_put(&st, &m, K("\xff\0"), K("7"));
        EXPECT(&st, "a\0b", "1");
        EXPECT(&st, "a\0", "2");
        EXPECT(&st, "a", "3");
        EXPECT(&st, "a\0\0", "4");
        EXPECT(&st, "\0", "5");
        EXPECT(&st, "\0\0\0\0", "6");
        EXPECT(&st, "\xff\0", "7");
        ABSENT(&st, "a\0c");
        ABSENT(&st, "\0\0");
        check_all(&st, &m); /* "\0" "\0\0\0\0" "a" "a\0" "a\0\0" "a\0b" ... */
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

START_TEST(big_values) {
        st_t st;
        size_t n         = 1 << 20, i;
        unsigned char *v = malloc(n);
        ck_assert_ptr_nonnull(v);
        for (i = 0; i < n; i++)
                v[i] = (unsigned char)(i * 7 + (i >> 8));
        st_setup(&st, _i);
        st_put(&st, K("big"), v, n);
        for (i = 0; i < 100; i++) {
                char k[16];
                snprintf(k, sizeof(k), "mid%03zu", i);
                st_put(&st, k, strlen(k), v + i, 3000 + i);
        }
        st_expect(&st, K("big"), v, n);
        st_expect(&st, K("mid042"), v + 42, 3042);
        PUT(&st, "big", "small now");
        EXPECT(&st, "big", "small now");
        st_put(&st, K("mid042"), v, n);
        st_expect(&st, K("mid042"), v, n);
        free(v);
        st_teardown(&st);
}
END_TEST

/* Full iteration is memcmp order, the shorter key first, whatever the
 * order of the puts. */
START_TEST(iteration_order) {
        st_t st;
        kvs_t m = {0}, got = {0};
        static const struct {
                const char *k;
                size_t len;
        } first[] = {{K("")},    {K("\x00")}, {K("\x00\x00")}, {K("a")},
                     {K("a\x00")}, {K("a\x00z")}, {K("ab")},     {K("abc")},
                     {K("b")},   {K("k")},    {K("k0")},       {K("k00")},
                     {K("k0000")}};
        size_t i;
        st_setup(&st, _i);
        put_ordering_set(&st, &m);
        check_all(&st, &m);
        /* and spelled out, not only as the model says */
        scan(&st, NULL, 0, NULL, 0, &got);
        ck_assert_uint_eq(got.n, 1014);
        for (i = 0; i < sizeof(first) / sizeof(first[0]); i++)
                ck_assert_msg(!key_cmp(got.a[i].k, got.a[i].kl, first[i].k,
                                       first[i].len),
                              "%s: key %zu out of order", st.b->name, i);
        ck_assert_int_eq(key_cmp(got.a[1011].k, got.a[1011].kl, K("k0999")),
                         0);
        ck_assert_int_eq(key_cmp(got.a[1012].k, got.a[1012].kl, K("\xff")), 0);
        ck_assert_int_eq(
            key_cmp(got.a[1013].k, got.a[1013].kl, K("\xff\xff")), 0);
        for (i = 1; i < got.n; i++)
                ck_assert(key_cmp(got.a[i - 1].k, got.a[i - 1].kl, got.a[i].k,
                                  got.a[i].kl) < 0);
        kvs_free(&got);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

START_TEST(ranges) {
        st_t st;
        kvs_t m = {0};
        st_setup(&st, _i);
        put_ordering_set(&st, &m);
        /* inclusive at both ends */
        ck_assert_uint_eq(check_range(&st, &m, K("k0100"), K("k0199")), 100);
        ck_assert_uint_eq(check_range(&st, &m, K("k0500"), K("k0500")), 1);
        ck_assert_uint_eq(check_range(&st, &m, K("abc"), K("abc")), 1);
        /* open at one end */
        ck_assert_uint_eq(check_range(&st, &m, K("k0990"), NULL, 0), 12);
        ck_assert_uint_eq(check_range(&st, &m, NULL, 0, K("abc")), 8);
        ck_assert_uint_eq(check_range(&st, &m, NULL, 0, K("")), 1);
        ck_assert_uint_eq(check_range(&st, &m, K(""), NULL, 0), m.n);
        /* empty: from > to, and between two neighbours */
        ck_assert_uint_eq(check_range(&st, &m, K("b"), K("a")), 0);
        ck_assert_uint_eq(check_range(&st, &m, K("k0200"), K("k0100")), 0);
        ck_assert_uint_eq(check_range(&st, &m, K("k0100a"), K("k0100z")), 0);
        ck_assert_uint_eq(check_range(&st, &m, K("zzz"), K("zzz")), 0);
        ck_assert_uint_eq(check_range(&st, &m, K("\xff\xff\xff"), NULL, 0),
                          0);
        /* bounds that are not keys */
        ck_assert_uint_eq(check_range(&st, &m, K("k0100x"), K("k0102x")), 2);
        ck_assert_uint_eq(check_range(&st, &m, K("aa"), K("k\x00")), 4);
        ck_assert_uint_eq(check_range(&st, &m, K("a"), K("a\xff")), 5);
        /* a prefix bound: "k" itself and everything it prefixes */
        ck_assert_uint_eq(check_range(&st, &m, K("k"), K("k\xff")), 1003);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

START_TEST(counts_and_iteration_after_deletes) {
        st_t st;
        kvs_t m = {0};
        size_t i;
        st_setup(&st, _i);
        put_ordering_set(&st, &m);
        check_all(&st, &m);
        for (i = 0; i < 1000; i += 3) {
                char k[8];
                snprintf(k, sizeof(k), "k%04zu", i);
                st_del(&st, k, 5);
                model_del(&m, k, 5);
        }
        st_del(&st, K(""));
        model_del(&m, K(""));
        st_del(&st, K("\xff\xff"));
        model_del(&m, K("\xff\xff"));
        ck_assert_uint_eq(m.n, 1014 - 334 - 2);
        check_all(&st, &m);
        ck_assert_uint_eq(check_range(&st, &m, K("k0000"), K("k0009")), 6);
        ck_assert_uint_eq(check_range(&st, &m, K("k0003"), K("k0003")), 0);
        ABSENT(&st, "k0003");
        EXPECT(&st, "k0004", "value-4");
        /* deleting everything */
        while (m.n) {
                kv_t *r = &m.a[rnd_below(m.n)];
                st_del(&st, r->k, r->kl);
                model_del(&m, r->k, r->kl);
        }
        check_all(&st, &m);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* Sluice writes nothing while an iterator is open, but it may read: a get,
 * or a second iterator. */
START_TEST(reads_while_iterating) {
        st_t st;
        kvs_t m = {0};
        void *a = NULL, *b = NULL;
        const void *k, *v;
        size_t kl, vl, i;
        st_setup(&st, _i);
        put_ordering_set(&st, &m);
        ck_assert_int_eq(st.type->iter_open(st.h, K("k0100"), K("k0199"), &a),
                         0);
        ck_assert_int_eq(st.type->iter_open(st.h, K("k0500"), NULL, 0, &b), 0);
        for (i = 0; i < 100; i++) {
                char want[8];
                snprintf(want, sizeof(want), "k%04zu", 100 + i);
                ck_assert_int_eq(st.type->iter_next(a, &k, &kl, &v, &vl), 1);
                ck_assert_int_eq(key_cmp(k, kl, want, 5), 0);
                snprintf(want, sizeof(want), "k%04zu", 500 + i);
                ck_assert_int_eq(st.type->iter_next(b, &k, &kl, &v, &vl), 1);
                ck_assert_int_eq(key_cmp(k, kl, want, 5), 0);
                EXPECT(&st, "k0042", "value-42");
                ABSENT(&st, "k0042x");
        }
        ck_assert_int_eq(st.type->iter_next(a, &k, &kl, &v, &vl), 0);
        st.type->iter_close(a);
        ck_assert_int_eq(st.type->iter_next(b, &k, &kl, &v, &vl), 1);
        ck_assert_int_eq(key_cmp(k, kl, K("k0600")), 0);
        st.type->iter_close(b);
        ck_assert_uint_eq(st.type->approximate_count(st.h), m.n);
        /* and writing again once they are closed */
        PUT(&st, "k0100", "new");
        EXPECT(&st, "k0100", "new");
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* After a flush, a persistent backend has its data again when the same
 * path is opened; any other starts empty (Sluice restores it). */
START_TEST(flush_close_reopen) {
        st_t st;
        kvs_t m = {0}, none = {0};
        char err[256] = "";
        st_setup(&st, _i);
        both_put(&st, &m, K("a"), K("1"));
        both_put(&st, &m, K("b"), K("2"));
        both_put(&st, &m, K("c"), K("3"));
        st_del(&st, K("b"));
        model_del(&m, K("b"));
        ck_assert_msg(st.type->flush(st.h, err, sizeof(err)) == 0, "%s: %s",
                      st.b->name, err);
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0); /* idle */
        st_close(&st);
        st_open(&st);
        if (st.b->persistent) {
                EXPECT(&st, "a", "1");
                ABSENT(&st, "b");
                check_all(&st, &m);
                /* and again, with changes on top */
                both_put(&st, &m, K("a"), K("one"));
                both_put(&st, &m, K("d"), K("4"));
                st_del(&st, K("c"));
                model_del(&m, K("c"));
                ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
                st_close(&st);
                st_open(&st);
                check_all(&st, &m);
        } else {
                check_all(&st, &none);
        }
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* 10,000 random operations on keys that prefix each other, checked against
 * the model all along; a persistent backend is flushed now and then, and
 * closed and reopened half way. */
START_TEST(random_operations) {
        st_t st;
        kvs_t m = {0};
        static const unsigned char alphabet[] = {0x00, 0x01, 'a',  'b',
                                                 0x7f, 0x80, 0xfe, 0xff};
        unsigned char pool[300][12], v[64];
        size_t pool_len[300], i, j;
        char err[256] = "";
        st_setup(&st, _i);
        rnd_state = 0x5eed + (uint64_t)_i;
        for (i = 0; i < 300; i++) {
                pool_len[i] = rnd_below(13);
                for (j = 0; j < pool_len[i]; j++)
                        pool[i][j] = alphabet[rnd_below(sizeof(alphabet))];
        }
        for (i = 0; i < 10000; i++) {
                size_t p = rnd_below(300), op = rnd_below(100);
                const unsigned char *k = pool[p];
                size_t kl = pool_len[p];
                if (op < 50) {
                        size_t vl = rnd_below(sizeof(v) + 1);
                        for (j = 0; j < vl; j++)
                                v[j] = (unsigned char)rnd();
                        both_put(&st, &m, k, kl, v, vl);
                } else if (op < 75) {
                        st_del(&st, k, kl);
                        model_del(&m, k, kl);
                } else if (op < 95) {
                        size_t at = model_bound(&m, k, kl, 0);
                        if (model_has(&m, at, k, kl))
                                st_expect(&st, k, kl, m.a[at].v, m.a[at].vl);
                        else
                                st_expect(&st, k, kl, NULL, 0);
                } else {
                        size_t q = rnd_below(300);
                        int open = (int)rnd_below(4);
                        check_range(&st, &m, open == 1 ? NULL : k, kl,
                                    open == 2 ? NULL : pool[q], pool_len[q]);
                }
                if (st.b->persistent && i % 997 == 996)
                        ck_assert_msg(st.type->flush(st.h, err,
                                                     sizeof(err)) == 0,
                                      "%s", err);
                if (st.b->persistent && i == 5000) {
                        ck_assert_int_eq(st.type->flush(st.h, err,
                                                        sizeof(err)),
                                         0);
                        st_close(&st);
                        st_open(&st);
                        check_all(&st, &m);
                }
        }
        check_all(&st, &m);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* Records of 24 to 80 bytes, key and value together, through many resizes
 * of the memory backend's hash table: its slots' inline area is chosen at
 * each resize from the sizes it holds (32 bytes at first, larger once
 * most records are larger), so records move between a slot and their own
 * allocation, both ways, as the store grows and as values are rewritten
 * to other sizes. Every record must stay exactly what was put last,
 * through gets and scans, with an ordered index opened half-way. */
START_TEST(record_sizes_across_growth) {
        st_t st;
        kvs_t m = {0};
        unsigned char k[16], v[80];
        size_t i, j, n = 20000;
        st_setup(&st, _i);
        rnd_state = 0xb0a7 + (uint64_t)_i;
        for (i = 0; i < 3 * n; i++) {
                /* first mostly 40-byte records (16 + 24), then mixed */
                size_t key = i < n ? i : rnd_below(n), vl;
                if (i < n)
                        vl = i % 10 ? 24 : 8 + rnd_below(48);
                else
                        vl = rnd_below(65);
                snprintf((char *)k, sizeof(k), "k%014zu", key);
                for (j = 0; j < vl; j++)
                        v[j] = (unsigned char)(key + j * 7 + i);
                if (i >= n && i % 7 == 0) {
                        st_del(&st, k, 16);
                        model_del(&m, k, 16);
                } else {
                        both_put(&st, &m, k, 16, v, vl);
                }
                if (i == n / 2 || i == 2 * n)
                        check_all(&st, &m); /* opens the ordered index */
        }
        for (i = 0; i < n; i++) {
                size_t at;
                snprintf((char *)k, sizeof(k), "k%014zu", i);
                at = model_bound(&m, k, 16, 0);
                if (model_has(&m, at, k, 16))
                        st_expect(&st, k, 16, m.a[at].v, m.a[at].vl);
                else
                        st_expect(&st, k, 16, NULL, 0);
        }
        check_all(&st, &m);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* Range scans between writes: a short scan after every put and delete,
 * over keys that prefix each other, while the store grows from empty past
 * many resizes of a hash table and shrinks again (the memory backend
 * keeps its ordered index up to date from the first scan on, rather than
 * re-sorting at the next scan). */
START_TEST(scans_interleaved_with_writes) {
        st_t st;
        kvs_t m = {0};
        char k[32], v[32];
        size_t i;
        st_setup(&st, _i);
        rnd_state = 0xabc + (uint64_t)_i;
        check_all(&st, &m); /* the first scan: of the empty store */
        for (i = 0; i < 8000; i++) {
                /* "u<n>", "u<n>|<m>", "u<n>|<m>x": each a prefix of the
                 * next */
                size_t u = rnd_below(400), w = rnd_below(10), kind = rnd_below(3);
                int kl = kind == 0   ? snprintf(k, sizeof(k), "u%zu", u)
                         : kind == 1 ? snprintf(k, sizeof(k), "u%zu|%zu", u, w)
                                     : snprintf(k, sizeof(k), "u%zu|%zux", u, w);
                size_t at, lo, hi;
                /* grow for the first two thirds, then mostly delete */
                if (rnd_below(100) < (i < 5500 ? 75u : 15u)) {
                        int vl = snprintf(v, sizeof(v), "v%zu", i);
                        both_put(&st, &m, k, (size_t)kl, v, (size_t)vl);
                } else {
                        st_del(&st, k, (size_t)kl);
                        model_del(&m, k, (size_t)kl);
                }
                /* about ten records from a key near the one written */
                at = model_bound(&m, k, (size_t)kl, 0);
                lo = at > 3 ? at - 3 : 0;
                hi = lo + 10 < m.n ? lo + 10 : m.n;
                if (hi > lo)
                        ck_assert_uint_eq(check_range(&st, &m, m.a[lo].k,
                                                      m.a[lo].kl,
                                                      m.a[hi - 1].k,
                                                      m.a[hi - 1].kl),
                                          hi - lo);
                /* and the written key itself, there or not */
                check_range(&st, &m, k, (size_t)kl, k, (size_t)kl);
                if (i % 1000 == 999)
                        check_all(&st, &m);
        }
        check_all(&st, &m);
        kvs_free(&m);
        st_teardown(&st);
}
END_TEST

/* Keys that prefix each other (and the empty key, binary ones) put one
 * by one after a first scan, the order checked as they come. */
START_TEST(prefix_keys_put_after_a_scan) {
        st_t st;
        kvs_t m = {0}, all = {0};
        size_t i, order[1014];
        st_setup(&st, _i);
        put_ordering_set(&st, &all); /* the keys, to draw from */
        for (i = 0; i < all.n; i++)
                st_del(&st, all.a[i].k, all.a[i].kl);
        check_all(&st, &m); /* empty, and scanned */
        ck_assert_uint_eq(all.n, 1014);
        for (i = 0; i < all.n; i++)
                order[i] = i;
        rnd_state = 99;
        for (i = all.n - 1; i > 0; i--) {
                size_t j = rnd_below(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }
        for (i = 0; i < all.n; i++) {
                const kv_t *r = &all.a[order[i]];
                size_t at, lo, hi;
                both_put(&st, &m, r->k, r->kl, r->v, r->vl);
                /* the key among its neighbours: "a" before "a\0" before
                 * "ab", "k" before "k0" before "k0000" */
                at = model_bound(&m, r->k, r->kl, 0);
                lo = at > 2 ? at - 2 : 0;
                hi = at + 3 < m.n ? at + 3 : m.n;
                ck_assert_uint_eq(check_range(&st, &m, m.a[lo].k, m.a[lo].kl,
                                              m.a[hi - 1].k, m.a[hi - 1].kl),
                                  hi - lo);
                if (i % 200 == 199)
                        check_all(&st, &m);
        }
        check_all(&st, &m);
        kvs_free(&m);
        kvs_free(&all);
        st_teardown(&st);
}
END_TEST

/* ======================== lmdb only ======================== */

static void lmdb_setup(st_t *st) {
        st_setup(st, LMDB);
}

/* LMDB's keys are at most 511 bytes, one of which the backend uses. */
START_TEST(lmdb_key_size_limit) {
        st_t st;
        unsigned char k[600];
        kvs_t got = {0};
        char err[256] = "";
        memset(k, 'p', sizeof(k));
        lmdb_setup(&st);
        st_put(&st, k, 510, K("longest"));
        ck_assert_int_lt(st.type->put(st.h, k, 511, K("too long")), 0);
        ck_assert_int_lt(st.type->put(st.h, k, 600, K("too long")), 0);
        st_expect(&st, k, 511, NULL, 0); /* cannot be there */
        st_expect(&st, k, 510, K("longest"));
        st_del(&st, k, 511); /* absent */
        /* not sticky: the store goes on */
        k[509] = 'q'; /* "ppp...pq" > "ppp...pp" */
        st_put(&st, k, 510, K("q"));
        /* a lower bound longer than any key: "ppp...ppp" (511) is past
         * "ppp...pp" (510) and before "ppp...pq" */
        k[509] = 'p';
        scan(&st, k, 511, NULL, 0, &got);
        ck_assert_uint_eq(got.n, 1);
        ck_assert_uint_eq(got.a[0].kl, 510);
        ck_assert_int_eq(got.a[0].k[509], 'q');
        kvs_free(&got);
        scan(&st, k, 510, k, 600, &got);
        ck_assert_uint_eq(got.n, 1);
        kvs_free(&got);
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        ck_assert_uint_eq(st.type->approximate_count(st.h), 2);
        st_teardown(&st);
}
END_TEST

START_TEST(lmdb_creates_its_directory) {
        st_t st;
        struct stat sb;
        char file[256], err[256] = "";
        lmdb_setup(&st);
        st_close(&st);
        snprintf(st.path, sizeof(st.path), "%s/a/b/c", st.dir);
        st_open(&st);
        PUT(&st, "k", "v");
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        snprintf(file, sizeof(file), "%s/data.mdb", st.path);
        ck_assert_int_eq(stat(file, &sb), 0);
        st_teardown(&st);
}
END_TEST

START_TEST(lmdb_open_error_names_the_path) {
        st_t st;
        char err[512] = "";
        void *h       = NULL;
        FILE *f;
        lmdb_setup(&st);
        st_close(&st);
        snprintf(st.path, sizeof(st.path), "%s/file", st.dir);
        ck_assert_ptr_nonnull(f = fopen(st.path, "w"));
        fclose(f);
        ck_assert_int_lt(
            st.type->open(st.type, st.path, "test-store", &h, err, sizeof(err)),
            0);
        ck_assert_msg(strstr(err, st.path) && strstr(err, "test-store"),
                      "message: %s", err);
        st_teardown(&st);
}
END_TEST

/* What close() does with writes not flushed: it drops them, so the store
 * is exactly its last flush, which its offset record describes (a close
 * after a failure must not keep writes whose changelog records never
 * left). */
START_TEST(lmdb_close_drops_unflushed) {
        st_t st;
        lmdb_setup(&st);
        char err[256];
        PUT(&st, "a", "1");
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        PUT(&st, "k", "v");
        st_close(&st);
        st_open(&st);
        EXPECT(&st, "a", "1");
        ABSENT(&st, "k");
        st_teardown(&st);
}
END_TEST

/* A child process runs @p fn, writes its answer ('y' or 'n') to the
 * parent and waits to be SIGKILLed from outside, as a crash would end it
 * (and so that valgrind, which cannot catch that, reports no leaks for it).
 * @returns the answer. */
static char in_child_then_kill(char (*fn)(const st_t *), const st_t *st) {
        int fds[2], status;
        char answer = '?';
        pid_t pid;
        ck_assert_int_eq(pipe(fds), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(fds[0]);
                answer = fn(st);
                if (write(fds[1], &answer, 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(fds[1]);
        if (read(fds[0], &answer, 1) != 1)
                answer = '?'; /* it died first */
        close(fds[0]);
        kill(pid, SIGKILL);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) || WIFEXITED(status));
        return answer;
}

/* Writes: some flushed, then more (overwrite, delete, 5000 new) not. */
static char write_and_leave_unflushed(const st_t *st) {
        const sluice_store_type_t *t = st->type;
        char err[256];
        void *h;
        int i;
        if (t->open(t, st->path, "test-store", &h, err, sizeof(err)) ||
            t->put(h, K("flushed"), K("1")) || t->put(h, K("gone"), K("1")) ||
            t->flush(h, err, sizeof(err)) || t->put(h, K("flushed"), K("2")) ||
            t->del(h, K("gone")))
                return 'n';
        for (i = 0; i < 5000; i++) {
                char k[16];
                snprintf(k, sizeof(k), "late%d", i);
                if (t->put(h, k, strlen(k), K("x")))
                        return 'n';
        }
        return 'y';
}

/* What Sluice relies on: a process killed without warning leaves the store
 * at its last flush, not a write later. */
START_TEST(lmdb_sigkill_keeps_the_last_flush) {
        st_t st;
        lmdb_setup(&st);
        st_close(&st);
        ck_assert_int_eq(in_child_then_kill(write_and_leave_unflushed, &st),
                         'y');
        st_open(&st);
        EXPECT(&st, "flushed", "1");
        EXPECT(&st, "gone", "1");
        ABSENT(&st, "late0");
        ABSENT(&st, "late4999");
        ck_assert_uint_eq(st.type->approximate_count(st.h), 2);
        /* and it takes writes again */
        PUT(&st, "after", "x");
        EXPECT(&st, "after", "x");
        st_teardown(&st);
}
END_TEST

static char open_is_refused(const st_t *st) {
        char err[256] = "";
        void *h       = NULL;
        int rc = st->type->open(st->type, st->path, "test-store", &h, err,
                                sizeof(err));
        return rc < 0 && strstr(err, "in use by another process") ? 'y' : 'n';
}

/* Another process cannot open an instance that is open. */
START_TEST(lmdb_locked_against_another_process) {
        st_t st;
        lmdb_setup(&st);
        PUT(&st, "k", "v");
        ck_assert_int_eq(in_child_then_kill(open_is_refused, &st), 'y');
        EXPECT(&st, "k", "v");
        st_teardown(&st);
}
END_TEST

/* Sluice writes nothing while an iterator is open; the lmdb backend refuses
 * to (and to commit, which would end the iterator's cursor). */
START_TEST(lmdb_no_writes_while_iterating) {
        st_t st;
        void *it = NULL;
        char err[256] = "";
        const void *k, *v;
        size_t kl, vl;
        lmdb_setup(&st);
        PUT(&st, "a", "1");
        PUT(&st, "b", "2");
        ck_assert_int_eq(st.type->iter_open(st.h, NULL, 0, NULL, 0, &it), 0);
        ck_assert_int_eq(st.type->iter_next(it, &k, &kl, &v, &vl), 1);
        ck_assert_int_lt(st.type->put(st.h, K("c"), K("3")), 0);
        ck_assert_int_lt(st.type->del(st.h, K("a")), 0);
        ck_assert_int_lt(st.type->flush(st.h, err, sizeof(err)), 0);
        ck_assert_ptr_nonnull(strstr(err, "iterator"));
        ck_assert_int_eq(st.type->iter_next(it, &k, &kl, &v, &vl), 1);
        ck_assert_int_eq(key_cmp(k, kl, K("b")), 0);
        st.type->iter_close(it);
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        /* a read-only iterator after the flush, same rule */
        ck_assert_int_eq(st.type->iter_open(st.h, NULL, 0, NULL, 0, &it), 0);
        ck_assert_int_lt(st.type->put(st.h, K("c"), K("3")), 0);
        st.type->iter_close(it);
        PUT(&st, "c", "3");
        ck_assert_int_eq(st.type->flush(st.h, err, sizeof(err)), 0);
        ck_assert_uint_eq(st.type->approximate_count(st.h), 3);
        st_teardown(&st);
}
END_TEST

/* ======================== in a topology ======================== */

/* The custom backend, counting its opens: proof the topology used it. */
static int spy_opens;
static int spy_open(const sluice_store_type_t *type, const char *path,
                    const char *store_name, void **store, char *errstr,
                    size_t errstr_size) {
        const sluice_store_type_t *real = custom_store_type();
        (void)type;
        spy_opens++;
        return real->open(real, path, store_name, store, errstr, errstr_size);
}

static int split_words(const sluice_record_t *rec, sluice_emitter_t *out,
                       void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p = v->u.bytes.data, *end = p + v->u.bytes.len;
        int err;
        (void)opaque;
        while (p < end) {
                const char *w;
                while (p < end && *p == ' ')
                        p++;
                for (w = p; p < end && *p != ' '; p++)
                        ;
                if (p > w &&
                    (err = sluice_emit(out, sluice_strn(w, (size_t)(p - w)),
                                       sluice_strn(w, (size_t)(p - w)))))
                        return err;
        }
        return 0;
}

static int64_t be64(const void *p) {
        const unsigned char *b = p;
        uint64_t u             = 0;
        int i;
        for (i = 0; i < 8; i++)
                u = u << 8 | b[i];
        return (int64_t)u;
}

typedef struct seen_s {
        char keys[16][16];
        int64_t counts[16];
        int n;
} seen_t;

static int collect(const void *key, size_t key_len, const void *value,
                   size_t value_len, int64_t timestamp, void *opaque) {
        seen_t *s = opaque;
        (void)timestamp;
        ck_assert_uint_eq(value_len, 8);
        ck_assert_uint_lt(key_len, sizeof(s->keys[0]));
        ck_assert_int_lt(s->n, 16);
        memcpy(s->keys[s->n], key, key_len);
        s->keys[s->n][key_len] = '\0';
        s->counts[s->n++]      = be64(value);
        return 0;
}

static void expect_count_out(sluice_driver_t *drv, const char *word,
                             int64_t count) {
        const sluice_output_t *o = sluice_driver_read(drv, "counts-out");
        ck_assert_msg(o != NULL, "no output for \"%s\"", word);
        ck_assert_uint_eq(o->key_len, strlen(word));
        ck_assert_mem_eq(o->key, word, o->key_len);
        ck_assert_uint_eq(o->value_len, 8);
        ck_assert_msg(be64(o->value) == count, "%s: %lld, expected %lld",
                      word, (long long)be64(o->value), (long long)count);
}

/* A word count whose store "counts" uses backends[_i]: the sink's updates
 * and the store's contents, read back through the driver. */
START_TEST(word_count_on_the_driver) {
        static const char *const words[] = {"a",    "and",   "dog", "fox",
                                            "lazy", "quick", "the"};
        static const int64_t counts[]    = {1, 1, 2, 2, 1, 1, 3};
        const backend_t *b               = &backends[_i];
        static sluice_store_type_t spy;
        char err[512] = "", dir[64] = "";
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        sluice_table_t *tbl;
        seen_t seen;
        size_t i;

        ck_assert_msg(b->type() != NULL, "%s: backend missing", b->name);
        if (b->type() == custom_store_type()) {
                spy      = *custom_store_type();
                spy.open = spy_open;
                ck_assert_msg(sluice_conf_register_store(conf, &spy, err,
                                                         sizeof(err)) == 0,
                              "%s", err);
        }
        if (b->persistent) {
                make_tmpdir(dir, sizeof(dir));
                ck_assert_int_eq(sluice_conf_set(conf, "state.dir", dir, err,
                                                 sizeof(err)),
                                 SLUICE_OK);
        }
        tbl = sluice_grouped_count(
            sluice_stream_group_by_key(
                sluice_stream_flat_map(
                    sluice_stream_from(t, "lines", sluice_serde_string(),
                                       sluice_serde_string()),
                    split_words, NULL),
                NULL, NULL),
            "counts");
        ck_assert_ptr_nonnull(
            sluice_stream_to(sluice_table_to_stream(tbl), "counts-out",
                             sluice_serde_string(), sluice_serde_int64()));
        ck_assert_int_eq(sluice_topology_set_store_type(t, "counts", b->name),
                         0);
        drv = sluice_driver_new(t, conf, err, sizeof(err));
        ck_assert_msg(drv != NULL, "%s: %s", b->name, err);

        ck_assert_int_eq(
            sluice_driver_pipe_str(drv, "lines", NULL, "the quick fox", 10), 0);
        ck_assert_int_eq(
            sluice_driver_pipe_str(drv, "lines", NULL, "the lazy dog", 20), 0);
        ck_assert_int_eq(sluice_driver_pipe_str(drv, "lines", NULL,
                                                "a dog and the fox", 30),
                         0);
        /* one update per word and line (each line is committed on its own,
         * and no word repeats within a line), in the order of the words */
        expect_count_out(drv, "the", 1);
        expect_count_out(drv, "quick", 1);
        expect_count_out(drv, "fox", 1);
        expect_count_out(drv, "the", 2);
        expect_count_out(drv, "lazy", 1);
        expect_count_out(drv, "dog", 1);
        expect_count_out(drv, "a", 1);
        expect_count_out(drv, "dog", 2);
        expect_count_out(drv, "and", 1);
        expect_count_out(drv, "the", 3);
        expect_count_out(drv, "fox", 2);
        ck_assert_ptr_null(sluice_driver_read(drv, "counts-out"));

        for (i = 0; i < 7; i++) {
                memset(&seen, 0, sizeof(seen));
                ck_assert_int_eq(sluice_driver_store_get(drv, "counts",
                                                         words[i],
                                                         strlen(words[i]),
                                                         collect, &seen),
                                 1);
                ck_assert_int_eq(seen.n, 1);
                ck_assert_str_eq(seen.keys[0], words[i]);
                ck_assert_int_eq(seen.counts[0], counts[i]);
        }
        memset(&seen, 0, sizeof(seen));
        ck_assert_int_eq(sluice_driver_store_get(drv, "counts", K("cat"),
                                                 collect, &seen),
                         0);
        ck_assert_int_eq(seen.n, 0);
        /* in key order */
        ck_assert_int_eq(sluice_driver_store_range(drv, "counts", NULL, 0,
                                                   NULL, 0, collect, &seen),
                         7);
        for (i = 0; i < 7; i++) {
                ck_assert_str_eq(seen.keys[i], words[i]);
                ck_assert_int_eq(seen.counts[i], counts[i]);
        }
        memset(&seen, 0, sizeof(seen));
        ck_assert_int_eq(sluice_driver_store_range(drv, "counts", K("b"),
                                                   K("lazy"), collect, &seen),
                         3);
        ck_assert_str_eq(seen.keys[0], "dog");
        ck_assert_str_eq(seen.keys[2], "lazy");
        if (b->type() == custom_store_type())
                ck_assert_int_ge(spy_opens, 1);

        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        if (*dir)
                rm_rf(dir);
}
END_TEST

Suite *suite_store(void) {
        Suite *s   = suite_create("store");
        TCase *tc  = tcase_create("contract");
        TCase *lm  = tcase_create("lmdb");
        TCase *drv = tcase_create("driver");
        tcase_add_loop_test(tc, type_fields, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, fresh_store_is_empty, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, put_then_get_exact_bytes, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, overwrite, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, delete, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, empty_value_and_empty_key, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, binary_keys, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, big_values, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, iteration_order, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, ranges, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, counts_and_iteration_after_deletes, 0,
                            BACKEND_CNT);
        tcase_add_loop_test(tc, reads_while_iterating, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, flush_close_reopen, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, random_operations, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, scans_interleaved_with_writes, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, record_sizes_across_growth, 0, BACKEND_CNT);
        tcase_add_loop_test(tc, prefix_keys_put_after_a_scan, 0, BACKEND_CNT);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tcase_add_test(lm, lmdb_key_size_limit);
        tcase_add_test(lm, lmdb_creates_its_directory);
        tcase_add_test(lm, lmdb_open_error_names_the_path);
        tcase_add_test(lm, lmdb_close_drops_unflushed);
        tcase_add_test(lm, lmdb_sigkill_keeps_the_last_flush);
        tcase_add_test(lm, lmdb_locked_against_another_process);
        tcase_add_test(lm, lmdb_no_writes_while_iterating);
        tcase_set_timeout(lm, 60);
        suite_add_tcase(s, lm);

        tcase_add_loop_test(drv, word_count_on_the_driver, 0, BACKEND_CNT);
        tcase_set_timeout(drv, 60);
        suite_add_tcase(s, drv);
        return s;
}
