/*
 * store_memory.c - the built-in in-memory store backend, "in_memory".
 *
 * An open-addressing hash table (linear probing, tombstones) whose slots
 * hold small records inline: a slot is 40 bytes, and a key and value of
 * up to 32 bytes together live in it, so a lookup costs one cache miss at
 * sizes far beyond the CPU's caches (a 16-byte key with Sluice's 16-byte
 * timestamped count is the common case). Larger records live in a separate
 * allocation the slot points to.
 *
 * Ordered access (range scans, full iteration) goes through an ordered
 * index of the keys (lib/oset.h, a B+tree; each key's value there is its
 * hash, for the lookup of the record), built by the first iter_open() and
 * from then on kept up to date by every put of a new key and every delete:
 * a scan costs O(log n + k) however writes and scans interleave. A store
 * that is never scanned (an aggregation's, as a rule) never has one and
 * pays nothing for it on its puts and deletes; one that is pays O(log n)
 * more on those (not on updates of a present key, nor on gets). The index
 * holds no pointers into the table, so growing the table leaves it be.
 *
 * Memory: 40 bytes per slot at a load factor between 3/8 and 3/4 (at 1M
 * records: 2M slots, 80 MB), plus the out-of-line records, plus about 70
 * bytes per record of index (for 16-byte keys) once ordered access was
 * used.
 */
#include "common.h"
#include "oset.h"

#include <stdlib.h>
#include <string.h>

#define INLINE_MAX 32

enum { S_EMPTY = 0, S_TOMB, S_INLINE, S_OUT };

typedef struct mem_out_s {
        uint32_t klen, vlen;
        /* key bytes, then value bytes */
} mem_out_t;

typedef struct mem_slot_s {
        uint32_t hash;
        uint8_t state;
        uint8_t klen, vlen; /* S_INLINE */
        uint8_t pad;
        union {
                unsigned char data[INLINE_MAX]; /* key, then value */
                mem_out_t *out;                 /* S_OUT */
        } u;
} mem_slot_t;

typedef struct mem_store_s {
        mem_slot_t *slots;
        size_t cap;       /* power of two */
        size_t cnt;       /* live records */
        size_t used;      /* live + tombstones */
        sl_oset_t *index; /* key -> hash, from the first iter_open() on */
} mem_store_t;

typedef struct mem_iter_s {
        mem_store_t *m;
        const sl_onode_t *n; /* the next record's index entry; NULL: done */
        const void *to;
        size_t to_len;
        int has_to;
} mem_iter_t;

static inline const unsigned char *slot_key(const mem_slot_t *s,
                                            size_t *klen) {
        if (s->state == S_INLINE) {
                *klen = s->klen;
                return s->u.data;
        }
        *klen = s->u.out->klen;
        return (const unsigned char *)(s->u.out + 1);
}

static inline const unsigned char *slot_val(const mem_slot_t *s,
                                            size_t *vlen) {
        if (s->state == S_INLINE) {
                *vlen = s->vlen;
                return s->u.data + s->klen;
        }
        *vlen = s->u.out->vlen;
        return (const unsigned char *)(s->u.out + 1) + s->u.out->klen;
}

static int slot_cmp(const void *pa, const void *pb) {
        const mem_slot_t *a = *(mem_slot_t *const *)pa,
                         *b = *(mem_slot_t *const *)pb;
        size_t al, bl;
        const unsigned char *ak = slot_key(a, &al), *bk = slot_key(b, &bl);
        return sl_key_cmp(ak, al, bk, bl);
}

/* Slot of @key, or of the slot it would go to when absent (the first
 * tombstone on the way): *found says which. */
static size_t find_slot(const mem_store_t *m, const void *key, size_t klen,
                        uint32_t h, int *found) {
        size_t mask = m->cap - 1, i = h & mask, tomb = (size_t)-1;
        for (;;) {
                const mem_slot_t *s = &m->slots[i];
                if (s->state == S_EMPTY) {
                        *found = 0;
                        return tomb != (size_t)-1 ? tomb : i;
                }
                if (s->state == S_TOMB) {
                        if (tomb == (size_t)-1)
                                tomb = i;
                } else if (s->hash == h) {
                        size_t sl;
                        const unsigned char *sk = slot_key(s, &sl);
                        if (sl == klen && !memcmp(sk, key, klen)) {
                                *found = 1;
                                return i;
                        }
                }
                i = (i + 1) & mask;
        }
}

static int grow(mem_store_t *m) {
        /* rehash when live + tombstones pass 3/4; double only if live
         * records alone pass 1/2 (otherwise tombstones are the problem:
         * churn at a steady size keeps the size) */
        size_t ncap = m->cnt * 2 >= m->cap ? m->cap * 2 : m->cap, i;
        mem_slot_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
                return -1;
        for (i = 0; i < m->cap; i++) {
                const mem_slot_t *s = &m->slots[i];
                size_t j;
                if (s->state != S_INLINE && s->state != S_OUT)
                        continue;
                j = s->hash & (ncap - 1);
                while (ns[j].state != S_EMPTY)
                        j = (j + 1) & (ncap - 1);
                ns[j] = *s;
        }
        free(m->slots);
        m->slots = ns;
        m->cap   = ncap;
        m->used  = m->cnt;
        return 0;
}

static int mem_open(const sluice_store_type_t *type, const char *path,
                    const char *store_name, void **store, char *errstr,
                    size_t errstr_size) {
        mem_store_t *m = calloc(1, sizeof(*m));
        (void)type;
        (void)path;
        if (m) {
                m->cap   = 64;
                m->slots = calloc(m->cap, sizeof(*m->slots));
        }
        if (!m || !m->slots) {
                free(m);
                sl_errstr(errstr, errstr_size,
                          "store \"%s\": out of memory", store_name);
                return SLUICE_ERR_NOMEM;
        }
        *store = m;
        return 0;
}

static void mem_close(void *store) {
        mem_store_t *m = store;
        size_t i;
        for (i = 0; i < m->cap; i++)
                if (m->slots[i].state == S_OUT)
                        free(m->slots[i].u.out);
        free(m->slots);
        sl_oset_free(m->index, NULL);
        free(m);
}

static int mem_get(void *store, const void *key, size_t klen,
                   const void **value, size_t *vlen) {
        mem_store_t *m = store;
        int found;
        size_t i = find_slot(m, key, klen, (uint32_t)sl_hash64(key, klen),
                             &found);
        if (!found)
                return 0;
        *value = slot_val(&m->slots[i], vlen);
        return 1;
}

/* Fill @s with @key / @value (@value may point into @s's own record: it is
 * copied before the old out-of-line record is freed). */
static int slot_set(mem_slot_t *s, const void *key, size_t klen,
                    const void *value, size_t vlen) {
        if (klen + vlen <= INLINE_MAX) {
                mem_out_t *old = s->state == S_OUT ? s->u.out : NULL;
                unsigned char tmp[INLINE_MAX];
                /* through a copy: key or value may be in the slot or in
                 * the old record */
                if (vlen)
                        memcpy(tmp + klen, value, vlen);
                if (klen)
                        memcpy(tmp, key, klen);
                memcpy(s->u.data, tmp, klen + vlen);
                s->state = S_INLINE;
                s->klen  = (uint8_t)klen;
                s->vlen  = (uint8_t)vlen;
                free(old);
                return 0;
        }
        {
                mem_out_t *o   = malloc(sizeof(*o) + klen + vlen);
                mem_out_t *old = s->state == S_OUT ? s->u.out : NULL;
                if (!o)
                        return SLUICE_ERR_NOMEM;
                o->klen = (uint32_t)klen;
                o->vlen = (uint32_t)vlen;
                if (klen)
                        memcpy(o + 1, key, klen);
                if (vlen)
                        memcpy((unsigned char *)(o + 1) + klen, value, vlen);
                s->state = S_OUT;
                s->u.out = o;
                free(old);
                return 0;
        }
}

static int mem_put(void *store, const void *key, size_t klen,
                   const void *value, size_t vlen) {
        mem_store_t *m = store;
        uint32_t h     = (uint32_t)sl_hash64(key, klen);
        int found, err;
        size_t i;
        mem_slot_t *s;

        if (klen > UINT32_MAX || vlen > UINT32_MAX)
                return SLUICE_ERR_INVALID_ARG;
        i = find_slot(m, key, klen, h, &found);
        s = &m->slots[i];
        if (found) {
                size_t ol;
                const unsigned char *ok = slot_key(s, &ol);
                if (s->state == S_INLINE && klen + vlen <= INLINE_MAX) {
                        /* the common case: in place */
                        if (vlen)
                                memmove(s->u.data + klen, value, vlen);
                        s->vlen = (uint8_t)vlen;
                        return 0;
                }
                return slot_set(s, ok, ol, value, vlen);
        }
        if (s->state == S_EMPTY && (m->used + 1) * 4 > m->cap * 3) {
                if (grow(m))
                        return SLUICE_ERR_NOMEM;
                i = find_slot(m, key, klen, h, &found);
                s = &m->slots[i];
        }
        {
                uint8_t prev = s->state; /* empty or a tombstone */
                s->state     = S_EMPTY;  /* nothing of it to free */
                s->hash      = h;
                if ((err = slot_set(s, key, klen, value, vlen))) {
                        s->state = prev; /* keep probe chains intact */
                        return err;
                }
                if (m->index && !sl_oset_put(m->index, key, klen,
                                             (void *)(uintptr_t)h, NULL)) {
                        if (s->state == S_OUT)
                                free(s->u.out);
                        s->state = prev;
                        return SLUICE_ERR_NOMEM;
                }
                if (prev == S_EMPTY)
                        m->used++;
        }
        m->cnt++;
        return 0;
}

static int mem_del(void *store, const void *key, size_t klen) {
        mem_store_t *m = store;
        int found;
        size_t i = find_slot(m, key, klen, (uint32_t)sl_hash64(key, klen),
                             &found);
        mem_slot_t *s;
        if (!found)
                return 0;
        s = &m->slots[i];
        if (m->index) {
                size_t kl;
                const unsigned char *k = slot_key(s, &kl);
                sl_onode_t *n          = sl_oset_find(m->index, k, kl);
                if (n)
                        sl_oset_remove(m->index, n);
        }
        if (s->state == S_OUT)
                free(s->u.out);
        s->state = S_TOMB;
        m->cnt--;
        return 0;
}

/* The first iter_open(): index every record, in key order (sorted, then
 * appended: each append is O(1) and leaves the tree's leaves full). */
static int index_build(mem_store_t *m) {
        mem_slot_t **sorted = malloc((m->cnt ? m->cnt : 1) * sizeof(*sorted));
        sl_oset_t *index    = sl_oset_new();
        size_t i, c = 0;
        if (!sorted || !index) {
                free(sorted);
                sl_oset_free(index, NULL);
                return SLUICE_ERR_NOMEM;
        }
        for (i = 0; i < m->cap; i++)
                if (m->slots[i].state == S_INLINE ||
                    m->slots[i].state == S_OUT)
                        sorted[c++] = &m->slots[i];
        if (c)
                qsort(sorted, c, sizeof(*sorted), slot_cmp);
        for (i = 0; i < c; i++) {
                size_t kl;
                const unsigned char *k = slot_key(sorted[i], &kl);
                if (!sl_oset_put(index, k, kl,
                                 (void *)(uintptr_t)sorted[i]->hash, NULL)) {
                        free(sorted);
                        sl_oset_free(index, NULL);
                        return SLUICE_ERR_NOMEM;
                }
        }
        free(sorted);
        m->index = index;
        return 0;
}

static int mem_iter_open(void *store, const void *from, size_t from_len,
                         const void *to, size_t to_len, void **iter) {
        mem_store_t *m = store;
        mem_iter_t *it;
        int err;
        if (!m->index && (err = index_build(m)))
                return err;
        if (!(it = calloc(1, sizeof(*it))))
                return SLUICE_ERR_NOMEM;
        it->m      = m;
        it->n      = sl_oset_seek(m->index, from, from_len);
        it->to     = to;
        it->to_len = to_len;
        it->has_to = to != NULL;
        *iter      = it;
        return 0;
}

static int mem_iter_next(void *iter, const void **key, size_t *klen,
                         const void **value, size_t *vlen) {
        mem_iter_t *it = iter;
        const mem_slot_t *s;
        const void *k;
        size_t kl, i;
        int found;
        if (!it->n)
                return 0;
        k = sl_onode_key(it->n, &kl);
        if (it->has_to && sl_key_cmp(k, kl, it->to, it->to_len) > 0) {
                it->n = NULL;
                return 0;
        }
        /* the record, by the hash the index keeps (the store is not
         * written while an iterator is open: it is there) */
        i = find_slot(it->m, k, kl, (uint32_t)(uintptr_t)sl_onode_val(it->n),
                      &found);
        if (!found)
                return SLUICE_ERR_STATE;
        s      = &it->m->slots[i];
        *key   = slot_key(s, klen);
        *value = slot_val(s, vlen);
        it->n  = sl_oset_next(it->n);
        return 1;
}

static void mem_iter_close(void *iter) {
        free(iter);
}

static int mem_flush(void *store, char *errstr, size_t errstr_size) {
        (void)store;
        (void)errstr;
        (void)errstr_size;
        return 0;
}

static uint64_t mem_count(void *store) {
        return ((mem_store_t *)store)->cnt;
}

static const sluice_store_type_t memory_type = {
    .version           = SLUICE_STORE_VERSION,
    .name              = "in_memory",
    .persistent        = 0,
    .opaque            = NULL,
    .open              = mem_open,
    .close             = mem_close,
    .get               = mem_get,
    .put               = mem_put,
    .del               = mem_del,
    .iter_open         = mem_iter_open,
    .iter_next         = mem_iter_next,
    .iter_close        = mem_iter_close,
    .flush             = mem_flush,
    .approximate_count = mem_count,
};

const sluice_store_type_t *sluice_store_type_memory(void) {
        return &memory_type;
}
