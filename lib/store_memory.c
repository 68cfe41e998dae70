/*
 * store_memory.c - the built-in in-memory store backend, "in_memory".
 *
 * An open-addressing hash table (linear probing, tombstones) whose slots
 * hold small records inline: a slot is an 8-byte header and an inline area
 * of 32 to 64 bytes, chosen per store at each resize from the sizes of the
 * records it holds (the size that takes the least memory, slots and
 * out-of-line records together; it only grows). A record that fits lives
 * in its slot, so a lookup costs one cache miss at sizes far beyond the
 * CPU's caches: a 16-byte key with Sluice's 16-byte timestamped count
 * fits the first 32 bytes; a table row of 16 bytes with its timestamp
 * takes the store to 40. Larger records live in a separate allocation the
 * slot points to. A table of 2 MB or more asks for transparent huge pages,
 * so that the miss is not also a TLB miss.
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
 * Memory: 40 to 72 bytes per slot at a load factor between 3/8 and 3/4
 * (at 1M records of up to 32 bytes: 2M slots, 80 MB; of 40 bytes: 96 MB),
 * plus the out-of-line records, plus about 70 bytes per record of index
 * (for 16-byte keys) once ordered access was used.
 */
#define _DEFAULT_SOURCE 1 /* madvise(MADV_HUGEPAGE) */
#include "common.h"
#include "oset.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* A slot is an 8-byte header and an inline area of m->inl bytes (a
 * multiple of 8, INLINE_MIN to INLINE_LIMIT), chosen per store: it starts
 * at INLINE_MIN and only grows, at a rehash, to whichever size takes the
 * least memory for the records the store holds then (see pick_inline()).
 * A record that fits inline costs one cache miss per lookup; one that does
 * not lives in a malloc'd mem_out_t the inline area's first 8 bytes point
 * to, a second miss. */
#define INLINE_MIN 32
#define INLINE_LIMIT 64
#define SLOT_HDR 8
/* live records by klen + vlen: (INLINE_MIN - 8, 8k + 8] for bucket k >= 1
 * up to INLINE_LIMIT, then one bucket for larger ones; bucket 0 holds
 * every record of up to INLINE_MIN bytes */
#define NBUCKETS ((INLINE_LIMIT - INLINE_MIN) / 8 + 2)

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
        /* then the inline area: key, then value (S_INLINE), or a
         * mem_out_t * (S_OUT) */
} mem_slot_t;

typedef struct mem_store_s {
        unsigned char *slots; /* cap slots of stride bytes */
        size_t stride;        /* SLOT_HDR + inl */
        size_t inl;           /* inline bytes per slot */
        size_t cap;           /* power of two */
        size_t cnt;           /* live records */
        size_t used;          /* live + tombstones */
        size_t by_size[NBUCKETS]; /* live records per size bucket */
        sl_oset_t *index; /* key -> hash, from the first iter_open() on */
} mem_store_t;

typedef struct mem_iter_s {
        mem_store_t *m;
        const sl_onode_t *n; /* the next record's index entry; NULL: done */
        const void *to;
        size_t to_len;
        int has_to;
} mem_iter_t;

static inline mem_slot_t *slot_at(const mem_store_t *m, size_t i) {
        return (mem_slot_t *)(void *)(m->slots + i * m->stride);
}

static inline unsigned char *slot_data(const mem_slot_t *s) {
        return (unsigned char *)s + SLOT_HDR;
}

static inline mem_out_t *slot_out(const mem_slot_t *s) {
        mem_out_t *o;
        memcpy(&o, slot_data(s), sizeof(o));
        return o;
}

static inline void slot_set_out(mem_slot_t *s, mem_out_t *o) {
        memcpy(slot_data(s), &o, sizeof(o));
}

static inline size_t size_bucket(size_t len) {
        if (len <= INLINE_MIN)
                return 0;
        if (len > INLINE_LIMIT)
                return NBUCKETS - 1;
        return (len - INLINE_MIN + 7) / 8;
}

static inline const unsigned char *slot_key(const mem_slot_t *s,
                                            size_t *klen) {
        if (s->state == S_INLINE) {
                *klen = s->klen;
                return slot_data(s);
        }
        *klen = slot_out(s)->klen;
        return (const unsigned char *)(slot_out(s) + 1);
}

static inline const unsigned char *slot_val(const mem_slot_t *s,
                                            size_t *vlen) {
        if (s->state == S_INLINE) {
                *vlen = s->vlen;
                return slot_data(s) + s->klen;
        }
        *vlen = slot_out(s)->vlen;
        return (const unsigned char *)(slot_out(s) + 1) + slot_out(s)->klen;
}

static inline size_t slot_len(const mem_slot_t *s) {
        size_t kl, vl;
        (void)slot_key(s, &kl);
        (void)slot_val(s, &vl);
        return kl + vl;
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
                const mem_slot_t *s = slot_at(m, i);
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

/* The inline size, of those from the current one up to INLINE_LIMIT,
 * whose table of @ncap slots and out-of-line records together take the
 * least memory for the records held now (an out-of-line record costs a
 * malloc chunk: its mem_out_t, the bytes, the allocator's 8-byte header,
 * rounded up to 16). Ties go to the smaller size. */
static size_t pick_inline(const mem_store_t *m, size_t ncap) {
        size_t best = m->inl, inl;
        double best_cost = -1;
        for (inl = m->inl; inl <= INLINE_LIMIT; inl += 8) {
                double cost = (double)ncap * (double)(SLOT_HDR + inl);
                size_t b;
                for (b = size_bucket(inl) + 1; b < NBUCKETS - 1; b++) {
                        size_t len   = INLINE_MIN + 8 * b;
                        size_t chunk = (sizeof(mem_out_t) + len + 8 + 15) /
                                       16 * 16;
                        cost += (double)m->by_size[b] * (double)chunk;
                }
                if (best_cost < 0 || cost < best_cost) {
                        best_cost = cost;
                        best      = inl;
                }
        }
        return best;
}

/* A zeroed slot array of @n slots of @stride bytes (free() frees it).
 * One of 2 MB or more is aligned to 2 MB and asked to be backed by huge
 * pages where the kernel leaves that to the program (transparent huge
 * pages in "madvise" mode): a lookup at a uniform key of a large table
 * misses the caches once, and with 4 kB pages it misses the TLB too, a
 * page walk on top of the miss. */
static unsigned char *slots_alloc(size_t n, size_t stride) {
        size_t bytes = n * stride;
        void *p      = NULL;
        if (n && bytes / n != stride)
                return NULL;
        if (bytes < ((size_t)2 << 20))
                return calloc(n, stride);
        if (posix_memalign(&p, (size_t)2 << 20, bytes))
                return NULL;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* advice: may be refused */
#endif
        memset(p, 0, bytes);
        return p;
}

static int grow(mem_store_t *m) {
        /* rehash when live + tombstones pass 3/4; double only if live
         * records alone pass 1/2 (otherwise tombstones are the problem:
         * churn at a steady size keeps the size) */
        size_t ncap = m->cnt * 2 >= m->cap ? m->cap * 2 : m->cap, i;
        size_t ninl = pick_inline(m, ncap), nstride = SLOT_HDR + ninl;
        unsigned char *ns = slots_alloc(ncap, nstride);
        if (!ns)
                return -1;
        for (i = 0; i < m->cap; i++) {
                const mem_slot_t *s = slot_at(m, i);
                mem_slot_t *d;
                size_t j;
                if (s->state != S_INLINE && s->state != S_OUT)
                        continue;
                j = s->hash & (ncap - 1);
                while (((mem_slot_t *)(void *)(ns + j * nstride))->state !=
                       S_EMPTY)
                        j = (j + 1) & (ncap - 1);
                d = (mem_slot_t *)(void *)(ns + j * nstride);
                if (s->state == S_OUT && slot_len(s) <= ninl) {
                        /* fits the larger inline area now */
                        mem_out_t *o = slot_out(s);
                        d->hash      = s->hash;
                        d->state     = S_INLINE;
                        d->klen      = (uint8_t)o->klen;
                        d->vlen      = (uint8_t)o->vlen;
                        memcpy(slot_data(d), o + 1, o->klen + o->vlen);
                        free(o);
                } else {
                        /* the inline area never shrinks: a copy fits */
                        memcpy(d, s, m->stride);
                }
        }
        free(m->slots);
        m->slots  = ns;
        m->cap    = ncap;
        m->inl    = ninl;
        m->stride = nstride;
        m->used   = m->cnt;
        return 0;
}

static int mem_open(const sluice_store_type_t *type, const char *path,
                    const char *store_name, void **store, char *errstr,
                    size_t errstr_size) {
        mem_store_t *m = calloc(1, sizeof(*m));
        (void)type;
        (void)path;
        if (m) {
                m->cap    = 64;
                m->inl    = INLINE_MIN;
                m->stride = SLOT_HDR + INLINE_MIN;
                m->slots  = calloc(m->cap, m->stride);
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
                if (slot_at(m, i)->state == S_OUT)
                        free(slot_out(slot_at(m, i)));
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
        *value = slot_val(slot_at(m, i), vlen);
        return 1;
}

/* Fill @s with @key / @value (@value may point into @s's own record: it is
 * copied before the old out-of-line record is freed). */
static int slot_set(const mem_store_t *m, mem_slot_t *s, const void *key,
                    size_t klen, const void *value, size_t vlen) {
        if (klen + vlen <= m->inl) {
                mem_out_t *old = s->state == S_OUT ? slot_out(s) : NULL;
                unsigned char tmp[INLINE_LIMIT];
                /* through a copy: key or value may be in the slot or in
                 * the old record */
                if (vlen)
                        memcpy(tmp + klen, value, vlen);
                if (klen)
                        memcpy(tmp, key, klen);
                memcpy(slot_data(s), tmp, klen + vlen);
                s->state = S_INLINE;
                s->klen  = (uint8_t)klen;
                s->vlen  = (uint8_t)vlen;
                free(old);
                return 0;
        }
        {
                mem_out_t *o   = malloc(sizeof(*o) + klen + vlen);
                mem_out_t *old = s->state == S_OUT ? slot_out(s) : NULL;
                if (!o)
                        return SLUICE_ERR_NOMEM;
                o->klen = (uint32_t)klen;
                o->vlen = (uint32_t)vlen;
                if (klen)
                        memcpy(o + 1, key, klen);
                if (vlen)
                        memcpy((unsigned char *)(o + 1) + klen, value, vlen);
                s->state = S_OUT;
                slot_set_out(s, o);
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

        if (klen > UINT32_MAX || vlen > UINT32_MAX ||
            klen + vlen < klen)
                return SLUICE_ERR_INVALID_ARG;
        i = find_slot(m, key, klen, h, &found);
        s = slot_at(m, i);
        if (found) {
                size_t ol, ob = size_bucket(slot_len(s)),
                           nb = size_bucket(klen + vlen);
                const unsigned char *ok = slot_key(s, &ol);
                if (s->state == S_INLINE && klen + vlen <= m->inl) {
                        /* the common case: in place */
                        if (vlen)
                                memmove(slot_data(s) + klen, value, vlen);
                        s->vlen = (uint8_t)vlen;
                } else if ((err = slot_set(m, s, ok, ol, value, vlen)))
                        return err;
                m->by_size[ob]--;
                m->by_size[nb]++;
                return 0;
        }
        if (s->state == S_EMPTY && (m->used + 1) * 4 > m->cap * 3) {
                if (grow(m))
                        return SLUICE_ERR_NOMEM;
                i = find_slot(m, key, klen, h, &found);
                s = slot_at(m, i);
        }
        {
                uint8_t prev = s->state; /* empty or a tombstone */
                s->state     = S_EMPTY;  /* nothing of it to free */
                s->hash      = h;
                if ((err = slot_set(m, s, key, klen, value, vlen))) {
                        s->state = prev; /* keep probe chains intact */
                        return err;
                }
                if (m->index && !sl_oset_put(m->index, key, klen,
                                             (void *)(uintptr_t)h, NULL)) {
                        if (s->state == S_OUT)
                                free(slot_out(s));
                        s->state = prev;
                        return SLUICE_ERR_NOMEM;
                }
                if (prev == S_EMPTY)
                        m->used++;
        }
        m->cnt++;
        m->by_size[size_bucket(klen + vlen)]++;
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
        s = slot_at(m, i);
        m->by_size[size_bucket(slot_len(s))]--;
        if (m->index) {
                size_t kl;
                const unsigned char *k = slot_key(s, &kl);
                sl_onode_t *n          = sl_oset_find(m->index, k, kl);
                if (n)
                        sl_oset_remove(m->index, n);
        }
        if (s->state == S_OUT)
                free(slot_out(s));
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
                if (slot_at(m, i)->state == S_INLINE ||
                    slot_at(m, i)->state == S_OUT)
                        sorted[c++] = slot_at(m, i);
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
        s      = slot_at(it->m, i);
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
