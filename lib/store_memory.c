/*
 * store_memory.c - the built-in in-memory store backend, "in_memory".
 *
 * Point operations go to an open-addressing hash table of entries (key and
 * value in one allocation). Ordered access (range scans, full iteration)
 * uses a sorted array of entry pointers that exists only once something
 * asked for order: a store that is only counted into (the common case)
 * never pays for it. Once it exists, new keys are appended to a pending
 * list and merged in at the next scan (sort the few new ones, one merge
 * pass), and deleted keys are compacted out in the same pass.
 *
 * Memory per record: a 16-byte entry header + key + value, rounded up by
 * malloc; 8-16 bytes of table slot (the load factor stays between 3/8 and
 * 3/4); and, once ordered access was used, 8 bytes of index.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#define ENT_DEAD 0x80000000u   /* deleted, waiting for the next merge */
#define ENT_SORTED 0x40000000u /* pos indexes mem->sorted (else pending) */
#define ENT_KLEN_MASK 0x3fffffffu

typedef struct mem_ent_s {
        uint32_t hash;
        uint32_t klen; /* | ENT_* flags */
        uint32_t vlen;
        uint32_t pos; /* in sorted or pending, when indexed */
        /* key bytes, then value bytes */
} mem_ent_t;

/* A slot: 0 empty, TOMB deleted, else the entry's address with 16 bits of
 * its key's hash in the top bits (unused by user-space addresses on the
 * 64-bit platforms we know; checked, with a fallback to plain pointers),
 * so a probe that misses rarely has to read the entry: at 1M keys that
 * read is a cache miss, and it was most of a count's time. */
typedef uintptr_t mem_slot_t;
#define TOMB ((mem_slot_t)1)

typedef struct mem_store_s {
        mem_slot_t *slots;
        size_t cap;        /* power of two */
        size_t cnt;        /* live entries */
        size_t used;       /* live + tombstones */
        int indexed;       /* sorted/pending are maintained */
        mem_ent_t **sorted, **pending;
        size_t sorted_cnt, sorted_cap, pending_cnt, pending_cap;
        size_t dead_cnt; /* dead entries still referenced by the index */
        int notag;       /* an address used the top bits: no tags */
} mem_store_t;

typedef struct mem_iter_s {
        mem_store_t *m;
        size_t i;
        const void *to;
        size_t to_len;
        int has_to;
} mem_iter_t;

#if UINTPTR_MAX > 0xffffffffu
#define TAG_SHIFT 48
#define PTR_BITS (((uintptr_t)1 << TAG_SHIFT) - 1)
static inline mem_ent_t *slot_ent(const mem_store_t *m, mem_slot_t s) {
        return (mem_ent_t *)(m->notag ? s : s & PTR_BITS);
}
static inline mem_slot_t slot_make(const mem_store_t *m, mem_ent_t *e,
                                   uint64_t h) {
        return m->notag ? (mem_slot_t)e
                        : (mem_slot_t)e | (mem_slot_t)(h >> TAG_SHIFT)
                                              << TAG_SHIFT;
}
/* Could the slot hold the key of hash @h? */
static inline int slot_may_match(const mem_store_t *m, mem_slot_t s,
                                 uint64_t h) {
        return m->notag || (s >> TAG_SHIFT) == (h >> TAG_SHIFT);
}
static inline int addr_taggable(const void *p) {
        return ((uintptr_t)p >> TAG_SHIFT) == 0;
}
#else
static inline mem_ent_t *slot_ent(const mem_store_t *m, mem_slot_t s) {
        (void)m;
        return (mem_ent_t *)s;
}
static inline mem_slot_t slot_make(const mem_store_t *m, mem_ent_t *e,
                                   uint64_t h) {
        (void)m;
        (void)h;
        return (mem_slot_t)e;
}
static inline int slot_may_match(const mem_store_t *m, mem_slot_t s,
                                 uint64_t h) {
        (void)m;
        (void)s;
        (void)h;
        return 1;
}
static inline int addr_taggable(const void *p) {
        (void)p;
        return 0;
}
#endif

static inline unsigned char *ent_key(mem_ent_t *e) {
        return (unsigned char *)(e + 1);
}
static inline size_t ent_klen(const mem_ent_t *e) {
        return e->klen & ENT_KLEN_MASK;
}
static inline unsigned char *ent_val(mem_ent_t *e) {
        return ent_key(e) + ent_klen(e);
}


static int ent_cmp(const void *pa, const void *pb) {
        mem_ent_t *a = *(mem_ent_t *const *)pa, *b = *(mem_ent_t *const *)pb;
        return sl_key_cmp(ent_key(a), ent_klen(a), ent_key(b), ent_klen(b));
}

/* Slot of @key, or of the empty slot it would go to (first tombstone on
 * the way preferred) when absent: *found says which. */
static size_t find_slot(const mem_store_t *m, const void *key, size_t klen,
                        uint64_t h, int *found) {
        size_t mask = m->cap - 1, i = (uint32_t)h & mask, tomb = (size_t)-1;
        for (;;) {
                mem_slot_t s = m->slots[i];
                mem_ent_t *e;
                if (!s) {
                        *found = 0;
                        return tomb != (size_t)-1 ? tomb : i;
                }
                if (s == TOMB) {
                        if (tomb == (size_t)-1)
                                tomb = i;
                } else if (slot_may_match(m, s, h) &&
                           (e = slot_ent(m, s))->hash == (uint32_t)h &&
                           ent_klen(e) == klen &&
                           !memcmp(ent_key(e), key, klen)) {
                        *found = 1;
                        return i;
                }
                i = (i + 1) & mask;
        }
}

static int grow(mem_store_t *m) {
        /* rehash when live + tombstones pass 3/4; double only if live
         * entries alone pass 3/8 (otherwise tombstones are the problem) */
        size_t ncap = m->cnt * 8 >= m->cap * 3 ? m->cap * 2 : m->cap, i;
        mem_slot_t *ns = calloc(ncap, sizeof(*ns));
        if (!ns)
                return -1;
        for (i = 0; i < m->cap; i++) {
                mem_slot_t s = m->slots[i];
                size_t j;
                if (!s || s == TOMB)
                        continue;
                /* the slot keeps its tag */
                j = slot_ent(m, s)->hash & (ncap - 1);
                while (ns[j])
                        j = (j + 1) & (ncap - 1);
                ns[j] = s;
        }
        free(m->slots);
        m->slots = ns;
        m->cap   = ncap;
        m->used  = m->cnt;
        return 0;
}

/* An entry at an address with high bits set: stop tagging (once). */
static void untag_all(mem_store_t *m) {
        size_t i;
        for (i = 0; i < m->cap; i++)
                if (m->slots[i] && m->slots[i] != TOMB)
                        m->slots[i] = (mem_slot_t)slot_ent(m, m->slots[i]);
        m->notag = 1;
}

static int ptr_push(mem_ent_t ***arr, size_t *cnt, size_t *cap, mem_ent_t *e) {
        if (*cnt == *cap) {
                size_t ncap    = *cap ? *cap * 2 : 64;
                mem_ent_t **na = realloc(*arr, ncap * sizeof(*na));
                if (!na)
                        return -1;
                *arr = na;
                *cap = ncap;
        }
        (*arr)[(*cnt)++] = e;
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
        /* dead entries live only in the index; before the live ones go */
        for (i = 0; i < m->sorted_cnt; i++)
                if (m->sorted[i]->klen & ENT_DEAD)
                        free(m->sorted[i]);
        for (i = 0; i < m->pending_cnt; i++)
                if (m->pending[i]->klen & ENT_DEAD)
                        free(m->pending[i]);
        for (i = 0; i < m->cap; i++)
                if (m->slots[i] && m->slots[i] != TOMB)
                        free(slot_ent(m, m->slots[i]));
        free(m->slots);
        free(m->sorted);
        free(m->pending);
        free(m);
}

static int mem_get(void *store, const void *key, size_t klen,
                   const void **value, size_t *vlen) {
        mem_store_t *m = store;
        int found;
        size_t i = find_slot(m, key, klen, sl_hash64(key, klen), &found);
        if (!found)
                return 0;
        *value = ent_val(slot_ent(m, m->slots[i]));
        *vlen  = slot_ent(m, m->slots[i])->vlen;
        return 1;
}

static int mem_put(void *store, const void *key, size_t klen,
                   const void *value, size_t vlen) {
        mem_store_t *m = store;
        uint64_t h     = sl_hash64(key, klen);
        int found;
        size_t i;
        mem_ent_t *e, *ne;

        if (klen > ENT_KLEN_MASK || vlen > UINT32_MAX)
                return SLUICE_ERR_INVALID_ARG;
        i = find_slot(m, key, klen, h, &found);
        if (found) {
                e = slot_ent(m, m->slots[i]);
                if (e->vlen == vlen) { /* the common case: in place */
                        if (vlen)
                                memmove(ent_val(e), value, vlen);
                        return 0;
                }
                /* a new entry before the old one goes (@value may be
                 * the old one's, returned by a get) */
                ne = malloc(sizeof(*e) + klen + vlen);
                if (!ne)
                        return SLUICE_ERR_NOMEM;
                memcpy(ne, e, sizeof(*e) + klen);
                ne->vlen = (uint32_t)vlen;
                if (vlen)
                        memcpy(ent_val(ne), value, vlen);
                free(e);
                if (!m->notag && !addr_taggable(ne))
                        untag_all(m);
                m->slots[i] = slot_make(m, ne, h);
                if (m->indexed) {
                        if (ne->klen & ENT_SORTED)
                                m->sorted[ne->pos] = ne;
                        else
                                m->pending[ne->pos] = ne;
                }
                return 0;
        }
        if (m->slots[i] != TOMB && (m->used + 1) * 4 > m->cap * 3) {
                if (grow(m))
                        return SLUICE_ERR_NOMEM;
                i = find_slot(m, key, klen, h, &found);
        }
        ne = malloc(sizeof(*ne) + klen + vlen);
        if (!ne)
                return SLUICE_ERR_NOMEM;
        ne->hash = (uint32_t)h;
        ne->klen = (uint32_t)klen;
        ne->vlen = (uint32_t)vlen;
        ne->pos  = 0;
        if (klen)
                memcpy(ent_key(ne), key, klen);
        if (vlen)
                memcpy(ent_val(ne), value, vlen);
        if (m->indexed) {
                ne->pos = (uint32_t)m->pending_cnt;
                if (ptr_push(&m->pending, &m->pending_cnt, &m->pending_cap,
                             ne)) {
                        free(ne);
                        return SLUICE_ERR_NOMEM;
                }
        }
        if (m->slots[i] != TOMB)
                m->used++;
        if (!m->notag && !addr_taggable(ne))
                untag_all(m);
        m->slots[i] = slot_make(m, ne, h);
        m->cnt++;
        return 0;
}

static int mem_del(void *store, const void *key, size_t klen) {
        mem_store_t *m = store;
        int found;
        size_t i = find_slot(m, key, klen, sl_hash64(key, klen), &found);
        mem_ent_t *e;
        if (!found)
                return 0;
        e           = slot_ent(m, m->slots[i]);
        m->slots[i] = TOMB;
        m->cnt--;
        if (m->indexed) {
                e->klen |= ENT_DEAD; /* freed when the index drops it */
                m->dead_cnt++;
        } else {
                free(e);
        }
        return 0;
}

/* Bring the sorted index up to date: sort the pending entries, merge them
 * in, drop dead ones. */
static int index_update(mem_store_t *m) {
        size_t i, j, k, n;
        mem_ent_t **out;
        if (!m->indexed) {
                /* first ordered access: index everything */
                size_t c = 0;
                free(m->sorted);
                m->sorted = malloc((m->cnt ? m->cnt : 1) * sizeof(*m->sorted));
                if (!m->sorted)
                        return SLUICE_ERR_NOMEM;
                for (i = 0; i < m->cap; i++)
                        if (m->slots[i] && m->slots[i] != TOMB)
                                m->sorted[c++] = slot_ent(m, m->slots[i]);
                qsort(m->sorted, c, sizeof(*m->sorted), ent_cmp);
                for (i = 0; i < c; i++) {
                        m->sorted[i]->pos = (uint32_t)i;
                        m->sorted[i]->klen |= ENT_SORTED;
                }
                m->sorted_cnt = c;
                m->sorted_cap = c ? c : 1;
                m->indexed    = 1;
                return 0;
        }
        if (!m->pending_cnt && !m->dead_cnt)
                return 0;
        /* drop dead pending entries, sort the rest */
        for (i = j = 0; i < m->pending_cnt; i++) {
                if (m->pending[i]->klen & ENT_DEAD) {
                        free(m->pending[i]);
                        m->dead_cnt--;
                } else {
                        m->pending[j++] = m->pending[i];
                }
        }
        m->pending_cnt = j;
        if (m->pending_cnt)
                qsort(m->pending, m->pending_cnt, sizeof(*m->pending),
                      ent_cmp);
        n   = m->sorted_cnt + m->pending_cnt;
        out = malloc((n ? n : 1) * sizeof(*out));
        if (!out)
                return SLUICE_ERR_NOMEM;
        for (i = j = k = 0; i < m->sorted_cnt || j < m->pending_cnt;) {
                mem_ent_t *e;
                if (i < m->sorted_cnt && (m->sorted[i]->klen & ENT_DEAD)) {
                        free(m->sorted[i++]);
                        m->dead_cnt--;
                        continue;
                }
                if (j >= m->pending_cnt ||
                    (i < m->sorted_cnt &&
                     ent_cmp(&m->sorted[i], &m->pending[j]) < 0))
                        e = m->sorted[i++];
                else
                        e = m->pending[j++];
                e->klen |= ENT_SORTED;
                e->pos    = (uint32_t)k;
                out[k++] = e;
        }
        free(m->sorted);
        m->sorted      = out;
        m->sorted_cnt  = k;
        m->sorted_cap  = n ? n : 1;
        m->pending_cnt = 0;
        return 0;
}

/* First position in sorted with key >= @key. */
static size_t lower_bound(const mem_store_t *m, const void *key, size_t klen) {
        size_t lo = 0, hi = m->sorted_cnt;
        while (lo < hi) {
                size_t mid   = lo + (hi - lo) / 2;
                mem_ent_t *e = m->sorted[mid];
                if (sl_key_cmp(ent_key(e), ent_klen(e), key, klen) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int mem_iter_open(void *store, const void *from, size_t from_len,
                         const void *to, size_t to_len, void **iter) {
        mem_store_t *m = store;
        mem_iter_t *it;
        int err = index_update(m);
        if (err)
                return err;
        if (!(it = calloc(1, sizeof(*it))))
                return SLUICE_ERR_NOMEM;
        it->m      = m;
        it->i      = from ? lower_bound(m, from, from_len) : 0;
        it->to     = to;
        it->to_len = to_len;
        it->has_to = to != NULL;
        *iter      = it;
        return 0;
}

static int mem_iter_next(void *iter, const void **key, size_t *klen,
                         const void **value, size_t *vlen) {
        mem_iter_t *it = iter;
        mem_ent_t *e;
        if (it->i >= it->m->sorted_cnt)
                return 0;
        e = it->m->sorted[it->i];
        if (it->has_to && sl_key_cmp(ent_key(e), ent_klen(e), it->to,
                                  it->to_len) > 0)
                return 0;
        it->i++;
        *key   = ent_key(e);
        *klen  = ent_klen(e);
        *value = ent_val(e);
        *vlen  = e->vlen;
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
