/*
 * custom_store.c - a state store backend of your own, written against
 * nothing but <sluice.h>, and a word count that keeps its counts in it.
 *
 * A backend is a sluice_store_type_t: a version, a name and a dozen
 * functions over an ordered map of bytes. This one, "sorted-array", keeps
 * the records in one array sorted by key: a binary search finds a key, an
 * insert or delete moves the tail with memmove(). That is a fine store for
 * a few thousand keys and a poor one for millions; it is here to show the
 * contract, which every backend (the built-in ones included) passes in
 * tests/test_store.c. It is not persistent: Sluice restores it from its
 * changelog whenever a task opens it.
 *
 * main() registers the backend on a conf under its name, picks it for the
 * store "counts" with sluice_topology_set_store_type(), runs the word count
 * on the test driver, and prints the counts read back from the store.
 * `make examples` builds it; `build/examples/custom_store` runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice.h>

/* What tests/test_store.c uses (it compiles this file without main()). */
const sluice_store_type_t *custom_store_type(void);

typedef struct sa_rec_s {
        unsigned char *kv; /* key bytes, then value bytes, one allocation */
        size_t klen, vlen;
} sa_rec_t;

typedef struct sa_store_s {
        sa_rec_t *recs; /* sorted by key */
        size_t cnt, cap;
} sa_store_t;

typedef struct sa_iter_s {
        const sa_store_t *s;
        size_t i, end; /* records [i, end) are left to return */
} sa_iter_t;

/* Sluice's key order: memcmp() over the common length, shorter first. */
static int sa_cmp(const void *a, size_t alen, const void *b, size_t blen) {
        size_t n = alen < blen ? alen : blen;
        int c    = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* First index whose key is >= @p key (or > @p key when @p after). */
static size_t sa_search(const sa_store_t *s, const void *key, size_t len,
                        int after) {
        size_t lo = 0, hi = s->cnt;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = sa_cmp(s->recs[mid].kv, s->recs[mid].klen, key, len);
                if (c < 0 || (after && c == 0))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int sa_found(const sa_store_t *s, size_t i, const void *key,
                    size_t len) {
        return i < s->cnt && s->recs[i].klen == len &&
               (!len || !memcmp(s->recs[i].kv, key, len));
}

static int sa_open(const sluice_store_type_t *type, const char *path,
                   const char *store_name, void **store, char *errstr,
                   size_t errstr_size) {
        sa_store_t *s = calloc(1, sizeof(*s));
        (void)type;
        (void)path; /* not persistent: nothing on disk */
        if (!s) {
                if (errstr_size)
                        snprintf(errstr, errstr_size,
                                 "store \"%s\": out of memory", store_name);
                return SLUICE_ERR_NOMEM;
        }
        *store = s;
        return 0;
}

static void sa_close(void *store) {
        sa_store_t *s = store;
        size_t i;
        for (i = 0; i < s->cnt; i++)
                free(s->recs[i].kv);
        free(s->recs);
        free(s);
}

static int sa_get(void *store, const void *key, size_t key_len,
                  const void **value, size_t *value_len) {
        sa_store_t *s = store;
        size_t i      = sa_search(s, key, key_len, 0);
        if (!sa_found(s, i, key, key_len))
                return 0;
        *value     = s->recs[i].kv + s->recs[i].klen;
        *value_len = s->recs[i].vlen;
        return 1;
}

static int sa_put(void *store, const void *key, size_t key_len,
                  const void *value, size_t value_len) {
        sa_store_t *s = store;
        size_t i      = sa_search(s, key, key_len, 0);
        unsigned char *kv;
        if (sa_found(s, i, key, key_len)) {
                /* +1: never malloc(0), whose result may be NULL */
                if (!(kv = malloc(key_len + value_len + 1)))
                        return SLUICE_ERR_NOMEM;
                /* a new buffer rather than realloc(): @p value may point
                 * into the old one (a value Sluice got from sa_get()) */
                memcpy(kv, s->recs[i].kv, key_len);
                if (value_len)
                        memcpy(kv + key_len, value, value_len);
                free(s->recs[i].kv);
                s->recs[i].kv   = kv;
                s->recs[i].vlen = value_len;
                return 0;
        }
        if (s->cnt == s->cap) {
                size_t cap     = s->cap ? s->cap * 2 : 16;
                sa_rec_t *recs = realloc(s->recs, cap * sizeof(*recs));
                if (!recs)
                        return SLUICE_ERR_NOMEM;
                s->recs = recs;
                s->cap  = cap;
        }
        if (!(kv = malloc(key_len + value_len + 1)))
                return SLUICE_ERR_NOMEM;
        if (key_len)
                memcpy(kv, key, key_len);
        if (value_len)
                memcpy(kv + key_len, value, value_len);
        memmove(&s->recs[i + 1], &s->recs[i],
                (s->cnt - i) * sizeof(*s->recs));
        s->recs[i].kv   = kv;
        s->recs[i].klen = key_len;
        s->recs[i].vlen = value_len;
        s->cnt++;
        return 0;
}

static int sa_del(void *store, const void *key, size_t key_len) {
        sa_store_t *s = store;
        size_t i      = sa_search(s, key, key_len, 0);
        if (!sa_found(s, i, key, key_len))
                return 0; /* absent is not an error */
        free(s->recs[i].kv);
        memmove(&s->recs[i], &s->recs[i + 1],
                (s->cnt - i - 1) * sizeof(*s->recs));
        s->cnt--;
        return 0;
}

/* Both ends are found here, once: Sluice does not change the store while
 * an iterator is open, so the indexes stay right (and the bounds need not
 * be kept). */
static int sa_iter_open(void *store, const void *from, size_t from_len,
                        const void *to, size_t to_len, void **iter) {
        const sa_store_t *s = store;
        sa_iter_t *it       = malloc(sizeof(*it));
        if (!it)
                return SLUICE_ERR_NOMEM;
        it->s   = s;
        it->i   = from ? sa_search(s, from, from_len, 0) : 0;
        it->end = to ? sa_search(s, to, to_len, 1) : s->cnt;
        *iter   = it;
        return 0;
}

static int sa_iter_next(void *iter, const void **key, size_t *key_len,
                        const void **value, size_t *value_len) {
        sa_iter_t *it = iter;
        const sa_rec_t *r;
        if (it->i >= it->end) /* also an empty range: from > to */
                return 0;
        r          = &it->s->recs[it->i++];
        *key       = r->kv;
        *key_len   = r->klen;
        *value     = r->kv + r->klen;
        *value_len = r->vlen;
        return 1;
}

static void sa_iter_close(void *iter) {
        free(iter);
}

static int sa_flush(void *store, char *errstr, size_t errstr_size) {
        (void)store; /* nothing to make durable */
        (void)errstr;
        (void)errstr_size;
        return 0;
}

static uint64_t sa_count(void *store) {
        return ((sa_store_t *)store)->cnt;
}

static const sluice_store_type_t sorted_array_type = {
    .version           = SLUICE_STORE_VERSION,
    .name              = "sorted-array",
    .persistent        = 0,
    .opaque            = NULL,
    .open              = sa_open,
    .close             = sa_close,
    .get               = sa_get,
    .put               = sa_put,
    .del               = sa_del,
    .iter_open         = sa_iter_open,
    .iter_next         = sa_iter_next,
    .iter_close        = sa_iter_close,
    .flush             = sa_flush,
    .approximate_count = sa_count,
};

const sluice_store_type_t *custom_store_type(void) {
        return &sorted_array_type;
}

#ifndef CUSTOM_STORE_NO_MAIN

#include <ctype.h>
#include <inttypes.h>

/* One record per word of the line, key and value the lower-cased word. */
static int split_words(const sluice_record_t *rec, sluice_emitter_t *out,
                       void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p, *end;
        int err;
        (void)opaque;
        if (v->type != SLUICE_VALUE_STRING)
                return 0; /* a null line has no words */
        p   = v->u.bytes.data;
        end = p + v->u.bytes.len;
        while (p < end) {
                char w[64];
                size_t len = 0;
                while (p < end && !isalnum((unsigned char)*p))
                        p++;
                for (; p < end && isalnum((unsigned char)*p); p++)
                        if (len < sizeof(w))
                                w[len++] = (char)tolower((unsigned char)*p);
                if (len && (err = sluice_emit(out, sluice_strn(w, len),
                                              sluice_strn(w, len))))
                        return err;
        }
        return 0;
}

/* sluice_serde_int64() writes 8 bytes, big-endian. */
static int print_count(const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t timestamp, void *opaque) {
        const unsigned char *b = value;
        uint64_t u             = 0;
        size_t i;
        (void)timestamp;
        (void)opaque;
        if (value_len != 8)
                return 1;
        for (i = 0; i < 8; i++)
                u = u << 8 | b[i];
        printf("  %-8.*s %" PRId64 "\n", (int)key_len, (const char *)key,
               (int64_t)u);
        return 0;
}

static const char *const lines[] = {
    "the quick brown fox",
    "jumps over the lazy dog",
    "the dog sleeps and the fox runs",
};

int main(void) {
        char err[512];
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv = NULL;
        sluice_stream_t *words;
        sluice_table_t *counts;
        int64_t n;
        size_t i;

        if (!conf || !t)
                return 1;
        if (sluice_conf_register_store(conf, custom_store_type(), err,
                                       sizeof(err))) {
                fprintf(stderr, "custom_store: %s\n", err);
                return 1;
        }
        words = sluice_stream_flat_map(
            sluice_stream_from(t, "lines", sluice_serde_string(),
                               sluice_serde_string()),
            split_words, NULL);
        counts = sluice_grouped_count(
            sluice_stream_group_by_key(words, NULL, NULL), "counts");
        sluice_stream_to(sluice_table_to_stream(counts), "counts-out",
                         sluice_serde_string(), sluice_serde_int64());
        /* "counts" lives in our backend; every other store would use
         * default.dsl.store (in_memory) */
        sluice_topology_set_store_type(t, "counts", "sorted-array");

        if (!(drv = sluice_driver_new(t, conf, err, sizeof(err)))) {
                fprintf(stderr, "custom_store: %s\n", err);
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 1;
        }
        for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                printf("  -> lines \"%s\"\n", lines[i]);
                if (sluice_driver_pipe_str(drv, "lines", NULL, lines[i],
                                           (int64_t)i)) {
                        fprintf(stderr, "custom_store: %s\n",
                                sluice_driver_last_error(drv));
                        sluice_driver_destroy(drv);
                        sluice_topology_destroy(t);
                        return 1;
                }
        }
        printf("%zu updates on counts-out; the store \"counts\" holds:\n",
               sluice_driver_queued(drv, "counts-out"));
        n = sluice_driver_store_range(drv, "counts", NULL, 0, NULL, 0,
                                      print_count, NULL);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        if (n < 0) {
                fprintf(stderr, "custom_store: reading the store failed\n");
                return 1;
        }
        return 0;
}

#endif /* CUSTOM_STORE_NO_MAIN */
