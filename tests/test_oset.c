/*
 * test_oset.c - lib/oset.c, the ordered map under the memory store's and
 * the record cache's range scans.
 *
 * The order (memcmp, the shorter key first, the empty key smallest);
 * put's created flag and unchanged values; seek (first >= key) and
 * seek_le (last <= key) on keys and between them; deleting while
 * iterating; clear and reuse; the values handed to free_val; the memory
 * count; then random operations checked against a sorted array, over
 * keys that share long prefixes, rising and falling keys and a FIFO (what
 * windows do), with the tree's own check after each batch; and 1M
 * entries.
 */
#include "test_list.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/oset.h"

/* A literal with its length, NULs included. */
#define K(s) (s), (sizeof(s) - 1)

/* For loops of many checks: Check's ck_assert records every passing one
 * (a write to its log), this only fails. */
#define REQUIRE(c)                                                             \
        do {                                                                   \
                if (!(c))                                                      \
                        ck_abort_msg("line %d: %s", __LINE__, #c);             \
        } while (0)

static int key_cmp(const void *a, size_t al, const void *b, size_t bl) {
        size_t n = al < bl ? al : bl;
        int c    = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return al < bl ? -1 : al > bl;
}

static void expect_key(const sl_onode_t *n, const void *k, size_t kl) {
        size_t got_len;
        const void *got;
        if (!n)
                ck_abort_msg("no entry, expected a key of %zu bytes", kl);
        got = sl_onode_key(n, &got_len);
        if (key_cmp(got, got_len, k, kl))
                ck_abort_msg("key of %zu bytes, expected one of %zu", got_len,
                             kl);
}

/* xorshift64*: the same operations on every run */
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

/* ---- the reference: a sorted array ---- */

typedef struct ref_ent_s {
        unsigned char k[40];
        size_t kl;
        uintptr_t v;
} ref_ent_t;

typedef struct ref_s {
        ref_ent_t *a;
        size_t n, cap;
} ref_t;

/* first index with key >= k (> k with @after) */
static size_t ref_bound(const ref_t *r, const void *k, size_t kl, int after) {
        size_t lo = 0, hi = r->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c      = key_cmp(r->a[mid].k, r->a[mid].kl, k, kl);
                if (c < 0 || (after && c == 0))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int ref_has(const ref_t *r, size_t i, const void *k, size_t kl) {
        return i < r->n && !key_cmp(r->a[i].k, r->a[i].kl, k, kl);
}

static void ref_insert(ref_t *r, size_t i, const void *k, size_t kl,
                       uintptr_t v) {
        if (r->n == r->cap) {
                r->cap = r->cap ? r->cap * 2 : 256;
                r->a   = realloc(r->a, r->cap * sizeof(*r->a));
                ck_assert_ptr_nonnull(r->a);
        }
        memmove(&r->a[i + 1], &r->a[i], (r->n - i) * sizeof(*r->a));
        ck_assert_uint_le(kl, sizeof(r->a[i].k));
        if (kl)
                memcpy(r->a[i].k, k, kl);
        r->a[i].kl = kl;
        r->a[i].v  = v;
        r->n++;
}

static void ref_erase(ref_t *r, size_t i) {
        memmove(&r->a[i], &r->a[i + 1], (r->n - i - 1) * sizeof(*r->a));
        r->n--;
}

/* The set holds exactly the reference, in its order, with its values. */
static void expect_same(const sl_oset_t *s, const ref_t *r) {
        const sl_onode_t *n = sl_oset_first(s);
        size_t i;
        ck_assert_int_eq(sl_oset_check(s), 0);
        ck_assert_uint_eq(sl_oset_count(s), r->n);
        for (i = 0; i < r->n; i++, n = sl_oset_next(n)) {
                expect_key(n, r->a[i].k, r->a[i].kl);
                REQUIRE(sl_onode_val(n) == (void *)r->a[i].v);
        }
        REQUIRE(n == NULL);
        if (r->n)
                expect_key(sl_oset_last(s), r->a[r->n - 1].k,
                           r->a[r->n - 1].kl);
        else
                ck_assert_ptr_null(sl_oset_last(s));
}

/* seek, seek_le and find of @k agree with the reference */
static void expect_lookups(const sl_oset_t *s, const ref_t *r, const void *k,
                           size_t kl) {
        size_t ge = ref_bound(r, k, kl, 0), gt = ref_bound(r, k, kl, 1);
        const sl_onode_t *n = sl_oset_seek(s, k, kl);
        if (ge < r->n)
                expect_key(n, r->a[ge].k, r->a[ge].kl);
        else
                REQUIRE(n == NULL);
        n = sl_oset_seek_le(s, k, kl);
        if (gt > 0)
                expect_key(n, r->a[gt - 1].k, r->a[gt - 1].kl);
        else
                REQUIRE(n == NULL);
        n = sl_oset_find(s, k, kl);
        if (ref_has(r, ge, k, kl)) {
                expect_key(n, k, kl);
                REQUIRE(sl_onode_val(n) == (void *)r->a[ge].v);
        } else {
                REQUIRE(n == NULL);
        }
}

/* ======================== the basics ======================== */

START_TEST(empty_set) {
        sl_oset_t *s = sl_oset_new();
        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(sl_oset_count(s), 0);
        ck_assert_ptr_null(sl_oset_first(s));
        ck_assert_ptr_null(sl_oset_last(s));
        ck_assert_ptr_null(sl_oset_seek(s, NULL, 0));
        ck_assert_ptr_null(sl_oset_seek(s, K("a")));
        ck_assert_ptr_null(sl_oset_seek(s, K("")));
        ck_assert_ptr_null(sl_oset_seek_le(s, K("a")));
        ck_assert_ptr_null(sl_oset_seek_le(s, NULL, 0));
        ck_assert_ptr_null(sl_oset_find(s, K("a")));
        ck_assert_ptr_null(sl_oset_find(s, K("")));
        ck_assert_int_eq(sl_oset_check(s), 0);
        ck_assert_uint_gt(sl_oset_bytes(s), 0);
        sl_oset_clear(s, NULL);
        ck_assert_int_eq(sl_oset_check(s), 0);
        sl_oset_free(s, NULL);
        sl_oset_free(NULL, NULL);
        sl_oset_clear(NULL, NULL);
}
END_TEST

START_TEST(put_find_created_and_values) {
        sl_oset_t *s = sl_oset_new();
        int a = 1, b = 2, created = -1;
        sl_onode_t *n = sl_oset_put(s, K("key"), &a, &created), *m;
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(created, 1);
        ck_assert_ptr_eq(sl_onode_val(n), &a);
        /* again: the same entry, its value unchanged */
        m = sl_oset_put(s, K("key"), &b, &created);
        ck_assert_ptr_eq(m, n);
        ck_assert_int_eq(created, 0);
        ck_assert_ptr_eq(sl_onode_val(n), &a);
        sl_onode_set_val(n, &b);
        ck_assert_ptr_eq(sl_onode_val(sl_oset_find(s, K("key"))), &b);
        ck_assert_uint_eq(sl_oset_count(s), 1);
        /* created may be NULL; the key was copied */
        {
                char k[4] = "abc";
                ck_assert_ptr_nonnull(sl_oset_put(s, k, 3, NULL, NULL));
                memcpy(k, "zzz", 3);
                expect_key(sl_oset_find(s, K("abc")), K("abc"));
                ck_assert_ptr_null(sl_oset_find(s, K("zzz")));
        }
        ck_assert_ptr_null(sl_oset_find(s, K("ke")));
        ck_assert_ptr_null(sl_oset_find(s, K("keyy")));
        ck_assert_ptr_eq(sl_oset_remove(s, n), &b);
        ck_assert_ptr_null(sl_oset_find(s, K("key")));
        ck_assert_uint_eq(sl_oset_count(s), 1);
        ck_assert_int_eq(sl_oset_check(s), 0);
        sl_oset_free(s, NULL);
}
END_TEST

/* memcmp order, the shorter key first; the empty key smallest, as NULL
 * with length 0 too */
START_TEST(prefix_order) {
        static const struct {
                const char *k;
                size_t len;
        } order[] = {{K("")},         {K("\x00")},   {K("\x00\x00")},
                     {K("\x00\x01")}, {K("a")},      {K("a\x00")},
                     {K("a\x00z")},   {K("ab")},     {K("abc")},
                     {K("abcdefghij")}, {K("abcdefghijk")}, {K("abd")},
                     {K("b")},        {K("\x7f")},   {K("\x80")},
                     {K("\xff")},     {K("\xff\xff")}};
        const size_t n = sizeof(order) / sizeof(order[0]);
        size_t perm[sizeof(order) / sizeof(order[0])], i, round;
        for (round = 0; round < 20; round++) {
                sl_oset_t *s = sl_oset_new();
                const sl_onode_t *e;
                for (i = 0; i < n; i++)
                        perm[i] = i;
                rnd_state = 7 + round;
                for (i = n - 1; i > 0; i--) {
                        size_t j = rnd_below(i + 1), t = perm[i];
                        perm[i]  = perm[j];
                        perm[j]  = t;
                }
                for (i = 0; i < n; i++) {
                        size_t j = perm[i];
                        ck_assert_ptr_nonnull(sl_oset_put(
                            s, j == 0 ? NULL : order[j].k, order[j].len,
                            (void *)(uintptr_t)(j + 1), NULL));
                }
                ck_assert_int_eq(sl_oset_check(s), 0);
                for (i = 0, e = sl_oset_first(s); i < n;
                     i++, e = sl_oset_next(e)) {
                        expect_key(e, order[i].k, order[i].len);
                        ck_assert_ptr_eq(sl_onode_val(e),
                                         (void *)(uintptr_t)(i + 1));
                }
                ck_assert_ptr_null(e);
                /* the empty key: NULL or not */
                expect_key(sl_oset_find(s, NULL, 0), K(""));
                expect_key(sl_oset_find(s, K("")), K(""));
                expect_key(sl_oset_seek(s, K("")), K(""));
                sl_oset_free(s, NULL);
        }
}
END_TEST

START_TEST(seek_semantics) {
        sl_oset_t *s = sl_oset_new();
        char k[16];
        int i;
        /* k010, k020, ..., k990 */
        for (i = 10; i < 1000; i += 10) {
                snprintf(k, sizeof(k), "k%03d", i);
                ck_assert_ptr_nonnull(sl_oset_put(s, k, 4, NULL, NULL));
        }
        /* on keys */
        expect_key(sl_oset_seek(s, K("k500")), K("k500"));
        expect_key(sl_oset_seek_le(s, K("k500")), K("k500"));
        /* between keys */
        expect_key(sl_oset_seek(s, K("k501")), K("k510"));
        expect_key(sl_oset_seek_le(s, K("k501")), K("k500"));
        expect_key(sl_oset_seek(s, K("k50")), K("k500"));
        expect_key(sl_oset_seek_le(s, K("k50")), K("k490"));
        expect_key(sl_oset_seek(s, K("k500\x00")), K("k510"));
        expect_key(sl_oset_seek_le(s, K("k500\x00")), K("k500"));
        /* before the first, after the last, at the ends */
        expect_key(sl_oset_seek(s, K("")), K("k010"));
        expect_key(sl_oset_seek(s, NULL, 0), K("k010"));
        expect_key(sl_oset_seek(s, K("a")), K("k010"));
        ck_assert_ptr_null(sl_oset_seek_le(s, K("a")));
        ck_assert_ptr_null(sl_oset_seek_le(s, K("k00")));
        expect_key(sl_oset_seek_le(s, K("k010")), K("k010"));
        expect_key(sl_oset_seek(s, K("k990")), K("k990"));
        ck_assert_ptr_null(sl_oset_seek(s, K("k991")));
        ck_assert_ptr_null(sl_oset_seek(s, K("l")));
        expect_key(sl_oset_seek_le(s, K("l")), K("k990"));
        expect_key(sl_oset_seek_le(s, NULL, 0), K("k990"));
        ck_assert_ptr_null(sl_oset_find(s, K("k501")));
        ck_assert_ptr_null(sl_oset_find(s, K("a")));
        ck_assert_ptr_null(sl_oset_find(s, K("l")));
        sl_oset_free(s, NULL);
}
END_TEST

START_TEST(delete_while_iterating) {
        sl_oset_t *s = sl_oset_new();
        sl_onode_t *n, *next;
        char k[16];
        size_t i, left;
        for (i = 0; i < 5000; i++) {
                snprintf(k, sizeof(k), "key-%05zu", i);
                ck_assert_ptr_nonnull(
                    sl_oset_put(s, k, strlen(k), (void *)(uintptr_t)i, NULL));
        }
        /* every third entry, taking next first */
        for (n = sl_oset_first(s); n; n = next) {
                next = sl_oset_next(n);
                if ((uintptr_t)sl_onode_val(n) % 3 == 0)
                        sl_oset_remove(s, n);
        }
        ck_assert_int_eq(sl_oset_check(s), 0);
        ck_assert_uint_eq(sl_oset_count(s), 5000 - 1667);
        for (i = 0, n = sl_oset_first(s); n; n = sl_oset_next(n), i++) {
                uintptr_t v = (uintptr_t)sl_onode_val(n);
                ck_assert_uint_ne(v % 3, 0);
                ck_assert_uint_eq(v, i + i / 2 + 1);
        }
        /* a range of them, from a seek */
        for (n = sl_oset_seek(s, K("key-01000")); n; n = next) {
                size_t kl;
                const void *key = sl_onode_key(n, &kl);
                if (key_cmp(key, kl, K("key-01999")) > 0)
                        break;
                next = sl_oset_next(n);
                sl_oset_remove(s, n);
        }
        ck_assert_int_eq(sl_oset_check(s), 0);
        expect_key(sl_oset_seek(s, K("key-01000")), K("key-02000"));
        expect_key(sl_oset_seek_le(s, K("key-01999")), K("key-00998"));
        /* and all of the rest */
        left = sl_oset_count(s);
        for (n = sl_oset_first(s); n; n = next, left--) {
                next = sl_oset_next(n);
                sl_oset_remove(s, n);
                ck_assert_uint_eq(sl_oset_count(s), left - 1);
        }
        ck_assert_uint_eq(sl_oset_count(s), 0);
        ck_assert_ptr_null(sl_oset_first(s));
        ck_assert_int_eq(sl_oset_check(s), 0);
        sl_oset_free(s, NULL);
}
END_TEST

static int freed_vals;
static void count_free(void *v) {
        freed_vals++;
        free(v);
}

START_TEST(free_val_clear_and_reuse) {
        sl_oset_t *s = sl_oset_new();
        size_t empty = sl_oset_bytes(s), i, full;
        char k[16];
        for (i = 0; i < 1000; i++) {
                snprintf(k, sizeof(k), "%zu", i * 7919 % 1000);
                ck_assert_ptr_nonnull(
                    sl_oset_put(s, k, strlen(k), malloc(8), NULL));
        }
        full = sl_oset_bytes(s);
        /* at least the keys and a pointer each */
        ck_assert_uint_gt(full, empty + 1000 * (8 + 3));
        freed_vals = 0;
        sl_oset_clear(s, count_free);
        ck_assert_int_eq(freed_vals, 1000);
        ck_assert_uint_eq(sl_oset_count(s), 0);
        ck_assert_uint_eq(sl_oset_bytes(s), empty);
        ck_assert_ptr_null(sl_oset_first(s));
        ck_assert_int_eq(sl_oset_check(s), 0);
        /* usable again */
        for (i = 0; i < 500; i++) {
                snprintf(k, sizeof(k), "%zu", i);
                ck_assert_ptr_nonnull(
                    sl_oset_put(s, k, strlen(k), malloc(8), NULL));
        }
        ck_assert_int_eq(sl_oset_check(s), 0);
        /* removing gives the values back */
        free(sl_oset_remove(s, sl_oset_find(s, K("42"))));
        freed_vals = 0;
        sl_oset_free(s, count_free);
        ck_assert_int_eq(freed_vals, 499);
}
END_TEST

START_TEST(bytes_follow_entries) {
        sl_oset_t *s = sl_oset_new();
        size_t empty = sl_oset_bytes(s), i;
        char k[16];
        for (i = 0; i < 20000; i++) {
                snprintf(k, sizeof(k), "%zu", i * 7919 % 20000);
                sl_oset_put(s, k, strlen(k), NULL, NULL);
        }
        ck_assert_uint_gt(sl_oset_bytes(s), empty + 20000 * 16);
        /* under 100 bytes an entry for short keys */
        ck_assert_uint_lt(sl_oset_bytes(s), empty + 20000 * 100);
        for (i = 0; i < 20000; i++) {
                snprintf(k, sizeof(k), "%zu", i);
                sl_oset_remove(s, sl_oset_find(s, k, strlen(k)));
        }
        ck_assert_uint_eq(sl_oset_count(s), 0);
        ck_assert_uint_eq(sl_oset_bytes(s), empty);
        ck_assert_int_eq(sl_oset_check(s), 0);
        /* rising keys (appends) fill the leaves: an entry (24 bytes and
         * its 12-byte key), one slot of 16 bytes and a 32nd of a leaf's
         * header and spare slot, a separator now and then: 55 bytes (66
         * in random order, leaves being 70% full) */
        for (i = 0; i < 20000; i++) {
                snprintf(k, sizeof(k), "t|%010zu", i);
                sl_oset_put(s, k, strlen(k), NULL, NULL);
        }
        ck_assert_int_eq(sl_oset_check(s), 0);
        ck_assert_uint_lt(sl_oset_bytes(s), empty + 20000 * 58);
        sl_oset_free(s, NULL);
}
END_TEST

/* ======================== against the reference ======================== */

enum {
        KEYS_SHORT,   /* 0-6 bytes of a 4-letter alphabet: prefixes galore */
        KEYS_PREFIX,  /* a 20-byte shared prefix, then 0-8 bytes */
        KEYS_BINARY,  /* 0-24 random bytes */
        KEYS_NUMBERS, /* "key-%012u": the bench's keys */
        KEYS_GROUPS,  /* 3 groups of 24 shared bytes, then 0-6 bytes: the
                       * nodes over two groups see equal heads */
        KEYS_KINDS
};

static size_t make_key(int kind, unsigned char *k) {
        static const unsigned char alpha[] = {0x00, 'a', 'b', 0xff};
        size_t n, i;
        switch (kind) {
        case KEYS_SHORT:
                n = rnd_below(7);
                for (i = 0; i < n; i++)
                        k[i] = alpha[rnd_below(4)];
                return n;
        case KEYS_PREFIX:
                memcpy(k, "user-4711|window|000", 20);
                n = rnd_below(9);
                for (i = 0; i < n; i++)
                        k[20 + i] = alpha[rnd_below(4)];
                return 20 + n;
        case KEYS_BINARY:
                n = rnd_below(25);
                for (i = 0; i < n; i++)
                        k[i] = (unsigned char)rnd();
                return n;
        case KEYS_GROUPS:
                memcpy(k, "group-", 6);
                memset(k + 6, 'a' + (int)rnd_below(3), 18);
                n = rnd_below(7);
                for (i = 0; i < n; i++)
                        k[24 + i] = alpha[rnd_below(4)];
                return 24 + n;
        default: {
                char b[24];
                snprintf(b, sizeof(b), "key-%012u",
                         (unsigned)rnd_below(20000));
                memcpy(k, b, 16);
                return 16;
        }
        }
}

/* Random puts, removes, overwrites and lookups of one kind of key,
 * checked against the reference; the whole set every 500 operations. */
START_TEST(random_against_reference) {
        int kind     = _i % KEYS_KINDS;
        sl_oset_t *s = sl_oset_new();
        ref_t r      = {0};
        unsigned char k[40];
        size_t op, kl;
        rnd_state = 0x5eed + (uint64_t)_i;
        for (op = 0; op < 40000; op++) {
                size_t what = rnd_below(100), i;
                /* the mix drifts: grow for a while, then shrink */
                int growing = (op / 10000) % 2 == 0;
                kl          = make_key(kind, k);
                i           = ref_bound(&r, k, kl, 0);
                if (what < (growing ? 45u : 20u)) {
                        int created = -1;
                        uintptr_t v = op + 1;
                        sl_onode_t *n = sl_oset_put(s, k, kl, (void *)v,
                                                    &created);
                        ck_assert_ptr_nonnull(n);
                        ck_assert_int_eq(created, !ref_has(&r, i, k, kl));
                        if (created)
                                ref_insert(&r, i, k, kl, v);
                        else
                                ck_assert_ptr_eq(sl_onode_val(n),
                                                 (void *)r.a[i].v);
                } else if (what < 70) {
                        /* remove a present key: the drawn one or one of
                         * the reference's */
                        if (!ref_has(&r, i, k, kl)) {
                                if (!r.n)
                                        continue;
                                i  = rnd_below(r.n);
                                kl = r.a[i].kl;
                                memcpy(k, r.a[i].k, kl);
                        }
                        ck_assert_ptr_eq(
                            sl_oset_remove(s, sl_oset_find(s, k, kl)),
                            (void *)r.a[i].v);
                        ref_erase(&r, i);
                } else if (what < 75 && r.n) {
                        /* overwrite a value */
                        i = rnd_below(r.n);
                        r.a[i].v += 1000000;
                        sl_onode_set_val(sl_oset_find(s, r.a[i].k, r.a[i].kl),
                                         (void *)r.a[i].v);
                } else {
                        expect_lookups(s, &r, k, kl);
                }
                if (op % 500 == 499)
                        expect_same(s, &r);
        }
        expect_same(s, &r);
        free(r.a);
        sl_oset_free(s, NULL);
}
END_TEST

/* Rising keys appended, falling keys prepended, and a FIFO: new keys at
 * the end, the oldest removed from the front (windows expiring). */
START_TEST(ends_rising_falling_fifo) {
        sl_oset_t *s = sl_oset_new();
        ref_t r      = {0};
        char k[32];
        size_t i;
        for (i = 0; i < 6000; i++) { /* rising: "w|<ts>" */
                snprintf(k, sizeof(k), "w|%010zu", 1000000 + i * 3);
                ck_assert_ptr_nonnull(sl_oset_put(s, k, strlen(k),
                                                  (void *)(i + 1), NULL));
                ref_insert(&r, r.n, k, strlen(k), i + 1);
                if (i % 1000 == 999)
                        expect_same(s, &r);
        }
        for (i = 0; i < 6000; i++) { /* falling, below all of them */
                snprintf(k, sizeof(k), "w|%010zu", 999999 - i * 7);
                ck_assert_ptr_nonnull(sl_oset_put(s, k, strlen(k),
                                                  (void *)(i + 7000), NULL));
                ref_insert(&r, 0, k, strlen(k), i + 7000);
                if (i % 1000 == 999)
                        expect_same(s, &r);
        }
        for (i = 0; i < 30000; i++) { /* FIFO */
                sl_onode_t *first = sl_oset_first(s);
                snprintf(k, sizeof(k), "w|%010zu", 2000000 + i);
                ck_assert_ptr_nonnull(sl_oset_put(s, k, strlen(k),
                                                  (void *)(i + 20000), NULL));
                ref_insert(&r, r.n, k, strlen(k), i + 20000);
                ck_assert_ptr_eq(sl_oset_remove(s, first), (void *)r.a[0].v);
                ref_erase(&r, 0);
                if (i % 3000 == 2999) {
                        expect_same(s, &r);
                        expect_lookups(s, &r, K("w|0002010000"));
                        expect_lookups(s, &r, K("w|00020100005"));
                }
        }
        /* a key below everything after all that */
        ck_assert_ptr_nonnull(sl_oset_put(s, K("a"), (void *)1, NULL));
        ref_insert(&r, 0, K("a"), 1);
        expect_same(s, &r);
        free(r.a);
        sl_oset_free(s, NULL);
}
END_TEST

/* Holes: runs of neighbouring keys removed in a random order, each about
 * a leaf wide, so that leaves empty out between full ones (and are
 * dropped rather than merged) as well as merge; with random keys put back
 * in between. */
START_TEST(holes) {
        sl_oset_t *s = sl_oset_new();
        ref_t r      = {0};
        unsigned char k[40];
        size_t round, i, kl;
        rnd_state = 0x401e5 + (uint64_t)_i;
        for (i = 0; i < 20000; i++) {
                size_t at;
                kl = make_key(_i ? KEYS_PREFIX : KEYS_NUMBERS, k);
                at = ref_bound(&r, k, kl, 0);
                if (!ref_has(&r, at, k, kl)) {
                        ck_assert_ptr_nonnull(
                            sl_oset_put(s, k, kl, (void *)(i + 1), NULL));
                        ref_insert(&r, at, k, kl, i + 1);
                }
        }
        for (round = 0; round < 300 && r.n > 100; round++) {
                size_t w = 8 + rnd_below(40), from = rnd_below(r.n - w), j;
                size_t idx[48];
                for (j = 0; j < w; j++)
                        idx[j] = from + j;
                for (j = w - 1; j > 0; j--) {
                        size_t t = rnd_below(j + 1), x = idx[j];
                        idx[j]   = idx[t];
                        idx[t]   = x;
                }
                /* remove them, highest index first so that the
                 * reference's indices stay right */
                for (j = 0; j < w; j++) {
                        size_t at = idx[j];
                        ck_assert_ptr_eq(sl_oset_remove(
                                             s, sl_oset_find(s, r.a[at].k,
                                                             r.a[at].kl)),
                                         (void *)r.a[at].v);
                        r.a[at].v = 0; /* removed */
                }
                for (j = from + w; j-- > from;)
                        ref_erase(&r, j);
                ck_assert_int_eq(sl_oset_check(s), 0);
                for (j = 0; j < 10; j++) {
                        size_t at;
                        kl = make_key(_i ? KEYS_PREFIX : KEYS_NUMBERS, k);
                        at = ref_bound(&r, k, kl, 0);
                        expect_lookups(s, &r, k, kl);
                        if (!ref_has(&r, at, k, kl)) {
                                ck_assert_ptr_nonnull(sl_oset_put(
                                    s, k, kl, (void *)(round + 1), NULL));
                                ref_insert(&r, at, k, kl, round + 1);
                        }
                }
        }
        expect_same(s, &r);
        free(r.a);
        sl_oset_free(s, NULL);
}
END_TEST

/* 1M random 16-byte keys: all there, in order, found; then half removed. */
START_TEST(one_million) {
        const size_t n = 1000000;
        unsigned char(*keys)[16] = malloc(n * 16);
        sl_oset_t *s             = sl_oset_new();
        const sl_onode_t *e, *prev = NULL;
        size_t i, cnt = 0;
        ck_assert_ptr_nonnull(keys);
        rnd_state = 1;
        for (i = 0; i < n; i++) {
                uint64_t a = rnd(), b = rnd();
                memcpy(keys[i], &a, 8);
                memcpy(keys[i] + 8, &b, 8);
                REQUIRE(sl_oset_put(s, keys[i], 16, (void *)(i + 1), NULL));
        }
        ck_assert_uint_eq(sl_oset_count(s), n);
        for (e = sl_oset_first(s); e; prev = e, e = sl_oset_next(e), cnt++) {
                size_t a, b;
                const void *ka, *kb;
                if (!prev)
                        continue;
                ka = sl_onode_key(prev, &a);
                kb = sl_onode_key(e, &b);
                REQUIRE(key_cmp(ka, a, kb, b) < 0);
        }
        ck_assert_uint_eq(cnt, n);
        for (i = 0; i < n; i++) {
                e = sl_oset_find(s, keys[i], 16);
                REQUIRE(e && sl_onode_val(e) == (void *)(i + 1));
        }
        for (i = 0; i < n; i += 2)
                sl_oset_remove(s, sl_oset_find(s, keys[i], 16));
        ck_assert_uint_eq(sl_oset_count(s), n / 2);
        ck_assert_int_eq(sl_oset_check(s), 0);
        for (i = 0; i < n; i += 7)
                REQUIRE((sl_oset_find(s, keys[i], 16) != NULL) == (i % 2));
        free(keys);
        sl_oset_free(s, NULL);
}
END_TEST

Suite *suite_oset(void) {
        Suite *s  = suite_create("oset");
        TCase *tc = tcase_create("oset");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, empty_set);
        tcase_add_test(tc, put_find_created_and_values);
        tcase_add_test(tc, prefix_order);
        tcase_add_test(tc, seek_semantics);
        tcase_add_test(tc, delete_while_iterating);
        tcase_add_test(tc, free_val_clear_and_reuse);
        tcase_add_test(tc, bytes_follow_entries);
        tcase_add_loop_test(tc, random_against_reference, 0, 2 * KEYS_KINDS);
        tcase_add_test(tc, ends_rising_falling_fifo);
        tcase_add_loop_test(tc, holes, 0, 2);
        tcase_add_test(tc, one_million);
        suite_add_tcase(s, tc);
        return s;
}
