/*
 * oset.c - the ordered map of oset.h: a B+tree whose nodes compare 8-byte
 * key heads, over entries allocated one by one.
 *
 * Entries (sl_onode_t) hold their key and value, never move, and know
 * their leaf. A leaf holds up to LEAF_MAX entry pointers in key order and,
 * next to each, the entry's head: 8 bytes of its key from offset d, as a
 * big-endian number, where d is the length of a prefix that every key in
 * the leaf's range shares. Two keys that share d bytes and have different
 * heads compare as their heads do, so a search reads a node's own memory
 * and looks at a key elsewhere only when the heads are equal. Inner nodes
 * hold separator keys (copies: the shortest prefix of a leaf's first key
 * that is above its left neighbour's last) with their heads the same way.
 * Leaves are linked both ways: the successor of an entry is the next slot
 * of its leaf or the first of the next leaf.
 *
 * A node's range is bounded by the separators above it; where it reaches
 * an end of the tree, by the set's smallest or largest key. d is the
 * common prefix of those two bounds: every key in between shares it. A key
 * below the smallest or above the largest is handled before any search
 * (it goes to an end, and the nodes along that edge get their d again),
 * so a search only ever meets keys that share the prefixes of the nodes
 * it passes. Keys with a long common prefix ("key-000000123456",
 * <user key><timestamp>) then still differ within their heads.
 *
 * Why this shape (see oset.h for why not a skip list): at 1M entries, a
 * search misses the cache about once per level below the upper ones (the
 * lines of a node are prefetched together and scanned without a
 * dependent chain of loads), once for the leaf and once for the entry;
 * a skip list or a binary tree misses ~20 times.
 *
 * Invariants: a leaf other than the root holds an entry; an inner node has
 * a child; a node's d is never more than the common prefix of its bounds
 * (recomputed whenever they change: a split narrows ranges, the removal
 * of a node or a new smallest or largest key widens them). A removal
 * merges a node below a quarter full with a sibling when both fit in
 * three quarters of one, so the tree stays O(log n) high and O(n) large.
 */
#include "oset.h"
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LEAF_MAX 32
#define INNER_MAX 32
#define LEAF_MIN (LEAF_MAX / 4)
#define INNER_MIN (INNER_MAX / 4)
#define LEAF_MERGED_MAX (LEAF_MAX * 3 / 4)
#define INNER_MERGED_MAX (INNER_MAX * 3 / 4)
#define MAX_HEIGHT 40 /* each level multiplies the entries by 8 or more */

typedef struct okey_s {
        uint32_t len;
        unsigned char b[];
} okey_t;

typedef struct bnode_s bnode_t;
typedef struct binner_s binner_t;
typedef struct bleaf_s bleaf_t;

struct bnode_s {
        binner_t *parent;
        uint32_t cnt; /* entries (leaf) or children (inner) */
        uint32_t d;   /* bytes every key of the node's range begins with */
        int leaf;
};

/* One slot more than the maximum: an insert overflows, then splits. */
struct bleaf_s {
        bnode_t h;
        bleaf_t *prev, *next;
        uint64_t head[LEAF_MAX + 1];
        sl_onode_t *ent[LEAF_MAX + 1];
};

struct binner_s {
        bnode_t h;
        /* keys of child[i] are >= sep[i] (i > 0) and < sep[i + 1];
         * sep[0] is NULL */
        uint64_t head[INNER_MAX + 1];
        okey_t *sep[INNER_MAX + 1];
        bnode_t *child[INNER_MAX + 1];
};

struct sl_onode_s {
        void *val;
        bleaf_t *leaf;
        uint32_t klen;
        uint32_t pos; /* its index in leaf->ent when last set: a hint */
        unsigned char key[];
};

struct sl_oset_s {
        bnode_t *root;         /* a leaf (maybe empty) until the first split */
        bleaf_t *first, *last; /* the leaves at the ends */
        size_t cnt, bytes;
};

/* ---- keys ---- */

/* Bytes [d, d + 8) of a key, zero-padded, as a big-endian number. */
static inline uint64_t key_head(const unsigned char *k, size_t klen,
                                uint32_t d) {
        unsigned char b[8] = {0};
        size_t n;
        if (klen <= d)
                return 0;
        n = klen - d < 8 ? klen - d : 8;
        memcpy(b, k + d, n);
        return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 |
               (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
               (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 |
               (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

static size_t lcp(const unsigned char *a, size_t alen, const unsigned char *b,
                  size_t blen) {
        size_t n = alen < blen ? alen : blen, i = 0;
        while (i < n && a[i] == b[i])
                i++;
        return i;
}

static inline int ent_cmp(const sl_onode_t *e, const void *key, size_t klen) {
        return sl_key_cmp(e->key, e->klen, key, klen);
}

/* ---- nodes ---- */

static bleaf_t *leaf_new(sl_oset_t *s) {
        bleaf_t *l = calloc(1, sizeof(*l));
        if (l) {
                l->h.leaf = 1;
                s->bytes += sizeof(*l);
        }
        return l;
}

static void leaf_free(sl_oset_t *s, bleaf_t *l) {
        s->bytes -= sizeof(*l);
        free(l);
}

static void inner_free(sl_oset_t *s, binner_t *x) {
        s->bytes -= sizeof(*x);
        free(x);
}

static void okey_free(sl_oset_t *s, okey_t *k) {
        s->bytes -= sizeof(*k) + k->len;
        free(k);
}

static inline sl_onode_t *min_ent(const sl_oset_t *s) {
        return s->first->h.cnt ? s->first->ent[0] : NULL;
}

static inline sl_onode_t *max_ent(const sl_oset_t *s) {
        return s->last->h.cnt ? s->last->ent[s->last->h.cnt - 1] : NULL;
}

static uint32_t child_index(const binner_t *p, const bnode_t *x) {
        uint32_t i = 0;
        while (p->child[i] != x)
                i++;
        return i;
}

/* The common prefix of @x's bounds: the separators above it, or at an end
 * of the tree the smallest or largest key. */
static uint32_t bounds_lcp(const sl_oset_t *s, const bnode_t *x) {
        const unsigned char *lo = NULL, *hi = NULL;
        size_t lolen = 0, hilen = 0;
        const sl_onode_t *e;
        while (x->parent && (!lo || !hi)) {
                const binner_t *p = x->parent;
                uint32_t j        = child_index(p, x);
                if (!lo && j > 0) {
                        lo    = p->sep[j]->b;
                        lolen = p->sep[j]->len;
                }
                if (!hi && j + 1 < p->h.cnt) {
                        hi    = p->sep[j + 1]->b;
                        hilen = p->sep[j + 1]->len;
                }
                x = &p->h;
        }
        if (!lo) {
                if (!(e = min_ent(s)))
                        return 0;
                lo    = e->key;
                lolen = e->klen;
        }
        if (!hi) {
                if (!(e = max_ent(s)))
                        return 0;
                hi    = e->key;
                hilen = e->klen;
        }
        return (uint32_t)lcp(lo, lolen, hi, hilen);
}

/* Take the heads of slots [from, to) of @x at its d (every key read). */
static void reload_heads(bnode_t *x, uint32_t from, uint32_t to) {
        uint32_t i;
        if (x->leaf) {
                bleaf_t *l = (bleaf_t *)x;
                for (i = from; i < to; i++)
                        l->head[i] = key_head(l->ent[i]->key, l->ent[i]->klen,
                                              x->d);
        } else {
                binner_t *in = (binner_t *)x;
                for (i = from ? from : 1; i < to; i++)
                        in->head[i] = key_head(in->sep[i]->b, in->sep[i]->len,
                                               x->d);
        }
}

/* Bring @x's d up to date with its bounds. */
static void refresh_d(const sl_oset_t *s, bnode_t *x) {
        uint32_t d = bounds_lcp(s, x);
        if (d != x->d) {
                x->d = d;
                reload_heads(x, 0, x->cnt);
        }
}

/* One bound of @x moved (@right: its upper one): refresh it and the nodes
 * below it on that side, whose range ends there too. */
static void refresh_spine(const sl_oset_t *s, bnode_t *x, int right) {
        for (;;) {
                refresh_d(s, x);
                if (x->leaf)
                        return;
                x = ((binner_t *)x)->child[right ? x->cnt - 1 : 0];
        }
}

/* The set has a new smallest (@right: largest) key: refresh the nodes
 * along that edge of the tree, from the top, carrying their other bound
 * down (rather than looking for it from each node up: appends of rising
 * keys come here every time). */
static void refresh_end(const sl_oset_t *s, int right) {
        const sl_onode_t *end = right ? max_ent(s) : min_ent(s);
        const sl_onode_t *far = right ? min_ent(s) : max_ent(s);
        const unsigned char *other = far->key;
        size_t olen                = far->klen;
        bnode_t *x                 = s->root;
        for (;;) {
                uint32_t d = (uint32_t)lcp(end->key, end->klen, other, olen);
                binner_t *in;
                uint32_t j;
                if (d != x->d) {
                        x->d = d;
                        reload_heads(x, 0, x->cnt);
                }
                if (x->leaf)
                        return;
                in = (binner_t *)x;
                j  = right ? x->cnt - 1 : 0;
                /* the child's other bound: its separator, or ours */
                if (right && j > 0) {
                        other = in->sep[j]->b;
                        olen  = in->sep[j]->len;
                } else if (!right && x->cnt > 1) {
                        other = in->sep[1]->b;
                        olen  = in->sep[1]->len;
                }
                x = in->child[j];
        }
}

/* ---- search ---- */

/* Ask for every cache line of a node at once: its header, heads and
 * pointers then arrive together, not one miss after another. */
static inline void prefetch_node(const void *p) {
#if defined(__GNUC__)
        const char *c = p;
        size_t i;
        for (i = 0; i < sizeof(binner_t); i += 64)
                __builtin_prefetch(c + i);
#else
        (void)p;
#endif
}

/*
 * Searching a node: count the heads below the query's, then, across the
 * slots whose head equals it (often none, at most a few unless many keys
 * share more than d + 8 bytes), compare keys, halving. A counting loop
 * rather than a binary search over the heads: its loads do not depend on
 * each other, so a node's cache lines arrive together.
 */
static inline uint32_t heads_below(const uint64_t *head, uint32_t from,
                                   uint32_t to, uint64_t qh) {
        uint32_t i, n = 0;
        for (i = from; i < to; i++)
                n += head[i] < qh;
        return from + n;
}

static inline uint32_t heads_equal_end(const uint64_t *head, uint32_t i,
                                       uint32_t to, uint64_t qh) {
        while (i < to && head[i] == qh)
                i++;
        return i;
}

/* The child of @x whose range holds q: the last i > 0 with sep[i] <= q,
 * else 0. */
static uint32_t inner_find(const binner_t *x, const void *q, size_t qlen) {
        uint64_t qh = key_head(q, qlen, x->h.d);
        uint32_t lo = heads_below(x->head, 1, x->h.cnt, qh);
        uint32_t hi = heads_equal_end(x->head, lo, x->h.cnt, qh);
        while (lo < hi) { /* the first separator > q */
                uint32_t mid = (lo + hi) / 2;
                if (sl_key_cmp(x->sep[mid]->b, x->sep[mid]->len, q, qlen) <= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo - 1;
}

/* The leaf whose range holds q (min <= q <= max). */
static bleaf_t *descend(const sl_oset_t *s, const void *q, size_t qlen) {
        bnode_t *x = s->root;
        while (!x->leaf) {
                const binner_t *in = (const binner_t *)x;
                x                  = in->child[inner_find(in, q, qlen)];
                prefetch_node(x);
        }
        return (bleaf_t *)x;
}

/* The first slot of @l whose key is >= q (> q with @gt); *eq = 1 if that
 * slot's key is q (never with @gt). */
static uint32_t leaf_find(const bleaf_t *l, const void *q, size_t qlen, int gt,
                          int *eq) {
        uint64_t qh = key_head(q, qlen, l->h.d);
        uint32_t lo = heads_below(l->head, 0, l->h.cnt, qh);
        uint32_t hi = heads_equal_end(l->head, lo, l->h.cnt, qh);
        *eq         = 0;
        while (lo < hi) {
                uint32_t mid = (lo + hi) / 2;
                int c        = ent_cmp(l->ent[mid], q, qlen);
                if (c < 0 || (c == 0 && gt)) {
                        lo = mid + 1;
                } else {
                        *eq = c == 0; /* then mid is where lo ends */
                        hi  = mid;
                }
        }
        return lo;
}

/* Where q stands against the set's ends: -2 below the smallest key (or
 * the set is empty), -1 equal to it, 2 above the largest, 1 equal to it,
 * 0 strictly between (then a search may run). */
static int against_ends(const sl_oset_t *s, const void *q, size_t qlen) {
        const sl_onode_t *lo = min_ent(s), *hi = max_ent(s);
        int c;
        if (!lo)
                return -2;
        if ((c = sl_key_cmp(q, qlen, lo->key, lo->klen)) <= 0)
                return c < 0 ? -2 : -1;
        if ((c = sl_key_cmp(q, qlen, hi->key, hi->klen)) >= 0)
                return c > 0 ? 2 : 1;
        return 0;
}

/* The index of @e in its leaf: its hint, a neighbour of it (one insert or
 * removal before it since), or a scan. */
static uint32_t ent_index(const sl_onode_t *e) {
        const bleaf_t *l = e->leaf;
        uint32_t i       = e->pos;
        if (i < l->h.cnt && l->ent[i] == e)
                return i;
        if (i + 1 < l->h.cnt && l->ent[i + 1] == e)
                return i + 1;
        if (i && i - 1 < l->h.cnt && l->ent[i - 1] == e)
                return i - 1;
        for (i = 0; l->ent[i] != e; i++)
                ;
        return i;
}

/* ---- the API: reads ---- */

sl_oset_t *sl_oset_new(void) {
        sl_oset_t *s = calloc(1, sizeof(*s));
        bleaf_t *l;
        if (!s)
                return NULL;
        s->bytes = sizeof(*s);
        if (!(l = leaf_new(s))) {
                free(s);
                return NULL;
        }
        s->root  = &l->h;
        s->first = s->last = l;
        return s;
}

sl_onode_t *sl_oset_find(const sl_oset_t *s, const void *key, size_t klen) {
        const bleaf_t *l;
        uint32_t i;
        int eq;
        switch (against_ends(s, key, klen)) {
        case -1: return min_ent(s);
        case 1: return max_ent(s);
        case 0: break;
        default: return NULL;
        }
        l = descend(s, key, klen);
        i = leaf_find(l, key, klen, 0, &eq);
        return eq ? l->ent[i] : NULL;
}

sl_onode_t *sl_oset_first(const sl_oset_t *s) {
        return min_ent(s);
}

sl_onode_t *sl_oset_last(const sl_oset_t *s) {
        return max_ent(s);
}

sl_onode_t *sl_oset_seek(const sl_oset_t *s, const void *key, size_t klen) {
        const bleaf_t *l;
        uint32_t i;
        int eq;
        if (!key)
                return min_ent(s);
        switch (against_ends(s, key, klen)) {
        case -2:
        case -1: return min_ent(s);
        case 1: return max_ent(s);
        case 2: return NULL;
        }
        l = descend(s, key, klen);
        i = leaf_find(l, key, klen, 0, &eq);
        if (i < l->h.cnt)
                return l->ent[i];
        return l->next->ent[0]; /* q < max: there is a next leaf, not empty */
}

sl_onode_t *sl_oset_seek_le(const sl_oset_t *s, const void *key,
                            size_t klen) {
        const bleaf_t *l;
        uint32_t i;
        int eq;
        if (!key)
                return max_ent(s);
        switch (against_ends(s, key, klen)) {
        case -2: return NULL;
        case -1: return min_ent(s);
        case 1:
        case 2: return max_ent(s);
        }
        l = descend(s, key, klen);
        i = leaf_find(l, key, klen, 1, &eq);
        if (i > 0)
                return l->ent[i - 1];
        return l->prev->ent[l->prev->h.cnt - 1]; /* q > min: as above */
}

sl_onode_t *sl_oset_next(const sl_onode_t *n) {
        const bleaf_t *l = n->leaf;
        uint32_t i       = ent_index(n);
        if (i + 1 < l->h.cnt)
                return l->ent[i + 1];
        return l->next ? l->next->ent[0] : NULL;
}

size_t sl_oset_count(const sl_oset_t *s) {
        return s->cnt;
}

const void *sl_onode_key(const sl_onode_t *n, size_t *klen) {
        *klen = n->klen;
        return n->key;
}

void *sl_onode_val(const sl_onode_t *n) {
        return n->val;
}

void sl_onode_set_val(sl_onode_t *n, void *val) {
        n->val = val;
}

size_t sl_oset_bytes(const sl_oset_t *s) {
        return s->bytes;
}

/* ---- insertion ---- */

/* Put @sep / @child at slot @i of @x (one slot may overflow). */
static void inner_put(binner_t *x, uint32_t i, okey_t *sep, bnode_t *child) {
        uint32_t n = x->h.cnt - i;
        memmove(&x->sep[i + 1], &x->sep[i], n * sizeof(x->sep[0]));
        memmove(&x->head[i + 1], &x->head[i], n * sizeof(x->head[0]));
        memmove(&x->child[i + 1], &x->child[i], n * sizeof(x->child[0]));
        x->sep[i]     = sep;
        x->head[i]    = key_head(sep->b, sep->len, x->h.d);
        x->child[i]   = child;
        child->parent = x;
        x->h.cnt++;
}

/*
 * @right was split off @left (it follows it, @sep between them): link it
 * into the parent, splitting each inner node that overflows into one of
 * @spare (the caller allocated one per full ancestor, plus a new root if
 * they all are: nothing here fails). The inner nodes whose range narrowed
 * go to @split (*nsplit of them), for refresh_d() once all is linked.
 * @append: @right holds a new largest key; then a node that overflows
 * keeps all it can and hands only the new child on, as more keys will
 * follow (rising keys then fill the tree rather than half fill it).
 */
static void link_split(sl_oset_t *s, bnode_t *left, okey_t *sep,
                       bnode_t *right, int append, binner_t **spare,
                       bnode_t **split, int *nsplit) {
        for (;;) {
                binner_t *p = left->parent, *y;
                uint32_t m, i;
                if (!p) { /* a new root */
                        p            = *spare++;
                        p->h.cnt     = 1;
                        p->h.d       = left->d; /* refreshed by the caller */
                        p->child[0]  = left;
                        left->parent = p;
                        inner_put(p, 1, sep, right);
                        s->root            = &p->h;
                        split[(*nsplit)++] = &p->h;
                        return;
                }
                inner_put(p, child_index(p, left) + 1, sep, right);
                if (p->h.cnt <= INNER_MAX)
                        return;
                /* p overflowed: its upper half goes to y, the separator
                 * between the halves up a level */
                y        = *spare++;
                m        = append ? INNER_MAX : p->h.cnt / 2;
                y->h.cnt = p->h.cnt - m;
                y->h.d   = p->h.d;
                for (i = 0; i < y->h.cnt; i++) {
                        y->child[i]         = p->child[m + i];
                        y->child[i]->parent = y;
                        y->sep[i]           = i ? p->sep[m + i] : NULL;
                        y->head[i]          = i ? p->head[m + i] : 0;
                }
                sep                = p->sep[m];
                p->h.cnt           = m;
                split[(*nsplit)++] = &p->h;
                split[(*nsplit)++] = &y->h;
                left               = &p->h;
                right              = &y->h;
        }
}

/* The shortest key > @a and <= @b (a < b): b's prefix one byte longer
 * than what they share. */
static okey_t *sep_between(sl_oset_t *s, const sl_onode_t *a,
                           const sl_onode_t *b) {
        size_t n  = lcp(a->key, a->klen, b->key, b->klen) + 1;
        okey_t *k = malloc(sizeof(*k) + n);
        if (k) {
                k->len = (uint32_t)n;
                memcpy(k->b, b->key, n);
                s->bytes += sizeof(*k) + n;
        }
        return k;
}

/* Split @l, which overflowed by one (@append: with a new largest key, see
 * link_split()). -1 on OOM (then nothing changed). */
static int leaf_split(sl_oset_t *s, bleaf_t *l, int append) {
        binner_t *spare[MAX_HEIGHT + 1];
        bnode_t *split[2 * MAX_HEIGHT + 1];
        int nspare = 0, nsplit = 0, k;
        const bnode_t *x;
        bleaf_t *r;
        okey_t *sep;
        uint32_t m = append ? LEAF_MAX : l->h.cnt / 2, i;
        /* every allocation first: an inner node per full ancestor, and a
         * new root if they all are */
        for (x = &l->h; x->parent && x->parent->h.cnt == INNER_MAX;
             x = &x->parent->h)
                nspare++;
        if (!x->parent)
                nspare++;
        if (nspare > MAX_HEIGHT)
                return -1; /* cannot happen: 8^40 entries */
        r   = leaf_new(s);
        sep = r ? sep_between(s, l->ent[m - 1], l->ent[m]) : NULL;
        for (k = 0; sep && k < nspare; k++) {
                if (!(spare[k] = calloc(1, sizeof(*spare[k]))))
                        break;
                s->bytes += sizeof(*spare[k]);
        }
        if (!sep || k < nspare) {
                while (k > 0)
                        inner_free(s, spare[--k]);
                if (sep)
                        okey_free(s, sep);
                if (r)
                        leaf_free(s, r);
                return -1;
        }
        r->h.cnt = l->h.cnt - m;
        r->h.d   = l->h.d;
        memcpy(r->head, l->head + m, r->h.cnt * sizeof(r->head[0]));
        memcpy(r->ent, l->ent + m, r->h.cnt * sizeof(r->ent[0]));
        l->h.cnt = m;
        r->prev  = l;
        r->next  = l->next;
        if (l->next)
                l->next->prev = r;
        else
                s->last = r;
        l->next = r;
        link_split(s, &l->h, sep, &r->h, append, spare, split, &nsplit);
        /* the moved entries learn their leaf, and their heads at r's d */
        r->h.d = bounds_lcp(s, &r->h);
        for (i = 0; i < r->h.cnt; i++) {
                sl_onode_t *e = r->ent[i];
                e->leaf       = r;
                e->pos        = i;
                r->head[i]    = key_head(e->key, e->klen, r->h.d);
        }
        refresh_d(s, &l->h);
        while (nsplit > 0)
                refresh_d(s, split[--nsplit]);
        return 0;
}

sl_onode_t *sl_oset_put(sl_oset_t *s, const void *key, size_t klen, void *val,
                        int *created) {
        bleaf_t *l;
        sl_onode_t *e;
        uint32_t i;
        int eq, end;
        switch ((end = against_ends(s, key, klen))) {
        case -1:
        case 1:
                if (created)
                        *created = 0;
                return end < 0 ? min_ent(s) : max_ent(s);
        case -2: /* a new smallest key: before the first */
                l = s->first;
                i = 0;
                break;
        case 2: /* a new largest key: after the last */
                l = s->last;
                i = l->h.cnt;
                break;
        default:
                l = descend(s, key, klen);
                i = leaf_find(l, key, klen, 0, &eq);
                if (eq) {
                        if (created)
                                *created = 0;
                        return l->ent[i];
                }
        }
        if (klen > UINT32_MAX || !(e = malloc(sizeof(*e) + klen)))
                return NULL;
        e->val  = val;
        e->leaf = l;
        e->pos  = i;
        e->klen = (uint32_t)klen;
        if (klen)
                memcpy(e->key, key, klen);
        memmove(&l->ent[i + 1], &l->ent[i], (l->h.cnt - i) * sizeof(l->ent[0]));
        memmove(&l->head[i + 1], &l->head[i],
                (l->h.cnt - i) * sizeof(l->head[0]));
        l->ent[i]  = e;
        l->head[i] = key_head(e->key, klen, l->h.d);
        l->h.cnt++;
        if (l->h.cnt > LEAF_MAX && leaf_split(s, l, end == 2)) {
                l->h.cnt--;
                memmove(&l->ent[i], &l->ent[i + 1],
                        (l->h.cnt - i) * sizeof(l->ent[0]));
                memmove(&l->head[i], &l->head[i + 1],
                        (l->h.cnt - i) * sizeof(l->head[0]));
                free(e);
                return NULL;
        }
        s->cnt++;
        s->bytes += sizeof(*e) + klen;
        /* a new end widened the ranges along that edge of the tree */
        if (end == -2 || end == 2)
                refresh_end(s, end > 0);
        if (created)
                *created = 1;
        return e;
}

/* ---- removal ---- */

/* Take child @j (and the separator that bounds it) out of @p; its range
 * goes to a neighbour, refreshed unless @quiet (a merge does it). The
 * separator is freed unless @keep_sep (a merge moves it down). */
static void inner_drop(sl_oset_t *s, binner_t *p, uint32_t j, int keep_sep,
                       int quiet) {
        /* the separator that goes: child j's own, or for the first child
         * the next one's (that child becomes the first) */
        uint32_t k = j ? j : 1, n;
        if (k < p->h.cnt) {
                if (!keep_sep)
                        okey_free(s, p->sep[k]);
                n = p->h.cnt - k - 1;
                memmove(&p->sep[k], &p->sep[k + 1], n * sizeof(p->sep[0]));
                memmove(&p->head[k], &p->head[k + 1], n * sizeof(p->head[0]));
        }
        n = p->h.cnt - j - 1;
        memmove(&p->child[j], &p->child[j + 1], n * sizeof(p->child[0]));
        p->h.cnt--;
        p->sep[0]  = NULL;
        p->head[0] = 0;
        if (quiet || !p->h.cnt)
                return;
        if (j)
                refresh_spine(s, p->child[j - 1], 1); /* its upper bound */
        else
                refresh_spine(s, p->child[0], 0); /* its lower bound */
}

static void inner_rebalance(sl_oset_t *s, binner_t *p);

/* Move right sibling @b (child @j + 1 of their parent) into @a; free @b. */
static void merge(sl_oset_t *s, bnode_t *a, bnode_t *b, uint32_t j) {
        binner_t *p = a->parent;
        uint32_t na = a->cnt, i;
        if (a->leaf) {
                bleaf_t *la = (bleaf_t *)a, *lb = (bleaf_t *)b;
                uint32_t da = a->d, db = b->d;
                for (i = 0; i < b->cnt; i++) {
                        sl_onode_t *e    = lb->ent[i];
                        e->leaf          = la;
                        e->pos           = na + i;
                        la->ent[na + i]  = e;
                        la->head[na + i] = lb->head[i];
                }
                a->cnt += b->cnt;
                la->next = lb->next;
                if (lb->next)
                        lb->next->prev = la;
                else
                        s->last = la;
                inner_drop(s, p, j + 1, 0, 1);
                leaf_free(s, lb);
                /* a's range is both ranges now */
                a->d = bounds_lcp(s, a);
                if (a->d != da)
                        reload_heads(a, 0, na);
                if (a->d != db)
                        reload_heads(a, na, a->cnt);
        } else {
                binner_t *xa = (binner_t *)a, *xb = (binner_t *)b;
                /* the separator between them comes down */
                xa->sep[na] = p->sep[j + 1];
                for (i = 0; i < b->cnt; i++) {
                        if (i)
                                xa->sep[na + i] = xb->sep[i];
                        xa->child[na + i]         = xb->child[i];
                        xa->child[na + i]->parent = xa;
                }
                a->cnt += b->cnt;
                inner_drop(s, p, j + 1, 1, 1);
                inner_free(s, xb);
                a->d = bounds_lcp(s, a);
                reload_heads(a, 0, a->cnt);
        }
        inner_rebalance(s, p);
}

/* @x (not the root) lost a slot: below a quarter, merge it with its
 * smaller sibling if they fit in three quarters. */
static void maybe_merge(sl_oset_t *s, bnode_t *x, uint32_t min,
                        uint32_t merged_max) {
        binner_t *p = x->parent;
        uint32_t j;
        bnode_t *l, *r;
        if (x->cnt >= min)
                return;
        j = child_index(p, x);
        l = j ? p->child[j - 1] : NULL;
        r = j + 1 < p->h.cnt ? p->child[j + 1] : NULL;
        if (l && (!r || l->cnt <= r->cnt) && l->cnt + x->cnt <= merged_max)
                merge(s, l, x, j - 1);
        else if (r && r->cnt + x->cnt <= merged_max)
                merge(s, x, r, j);
}

/* @p lost a child. */
static void inner_rebalance(sl_oset_t *s, binner_t *p) {
        binner_t *gp = p->h.parent;
        if (!gp) {
                if (p->h.cnt == 1) { /* its only child becomes the root */
                        bnode_t *c = p->child[0];
                        c->parent  = NULL;
                        s->root    = c;
                        inner_free(s, p);
                        refresh_d(s, c);
                }
                return;
        }
        if (!p->h.cnt) {
                inner_drop(s, gp, child_index(gp, &p->h), 0, 0);
                inner_free(s, p);
                inner_rebalance(s, gp);
                return;
        }
        maybe_merge(s, &p->h, INNER_MIN, INNER_MERGED_MAX);
}

void *sl_oset_remove(sl_oset_t *s, sl_onode_t *n) {
        bleaf_t *l = n->leaf;
        uint32_t i = ent_index(n), rest;
        void *val  = n->val;
        rest       = l->h.cnt - i - 1;
        memmove(&l->ent[i], &l->ent[i + 1], rest * sizeof(l->ent[0]));
        memmove(&l->head[i], &l->head[i + 1], rest * sizeof(l->head[0]));
        l->h.cnt--;
        s->cnt--;
        s->bytes -= sizeof(*n) + n->klen;
        free(n);
        /* (a smallest or largest key gone narrows ranges: every d stays
         * valid) */
        if (!l->h.parent)
                return val; /* the root leaf may be empty */
        if (!l->h.cnt) {
                binner_t *p = l->h.parent;
                if (l->prev)
                        l->prev->next = l->next;
                else
                        s->first = l->next;
                if (l->next)
                        l->next->prev = l->prev;
                else
                        s->last = l->prev;
                inner_drop(s, p, child_index(p, &l->h), 0, 0);
                leaf_free(s, l);
                inner_rebalance(s, p);
                return val;
        }
        maybe_merge(s, &l->h, LEAF_MIN, LEAF_MERGED_MAX);
        return val;
}

/* ---- clearing ---- */

/* Free @x and what is below it, except leaf @keep (only emptied). */
static void node_free(bnode_t *x, const bnode_t *keep,
                      void (*free_val)(void *)) {
        uint32_t i;
        if (x->leaf) {
                bleaf_t *l = (bleaf_t *)x;
                for (i = 0; i < x->cnt; i++) {
                        if (free_val)
                                free_val(l->ent[i]->val);
                        free(l->ent[i]);
                }
                if (x != keep)
                        free(l);
                return;
        }
        for (i = 0; i < x->cnt; i++) {
                node_free(((binner_t *)x)->child[i], keep, free_val);
                if (i)
                        free(((binner_t *)x)->sep[i]);
        }
        free(x);
}

void sl_oset_clear(sl_oset_t *s, void (*free_val)(void *)) {
        bleaf_t *l;
        if (!s)
                return;
        /* the first leaf stays, as the empty root: clearing allocates
         * nothing */
        l = s->first;
        node_free(s->root, &l->h, free_val);
        l->h.parent = NULL;
        l->h.cnt    = 0;
        l->h.d      = 0;
        l->prev = l->next = NULL;
        s->root           = &l->h;
        s->last           = l;
        s->cnt            = 0;
        s->bytes          = sizeof(*s) + sizeof(*l);
}

void sl_oset_free(sl_oset_t *s, void (*free_val)(void *)) {
        if (!s)
                return;
        node_free(s->root, NULL, free_val);
        free(s);
}

/* ---- checking (tests) ---- */

typedef struct check_s {
        const sl_oset_t *s;
        const bleaf_t *prev_leaf; /* in-order leaf walk */
        size_t cnt, bytes;
        int leaf_depth;
} check_t;

#define CHECK(c)                                                               \
        do {                                                                   \
                if (!(c))                                                      \
                        return -1;                                             \
        } while (0)

/* @x with bounds [lo, hi) (NULL: open; then the set's end keys stand in
 * for d), at @depth. */
static int check_node(check_t *c, const bnode_t *x, const binner_t *parent,
                      const unsigned char *lo, size_t lolen,
                      const unsigned char *hi, size_t hilen, int depth) {
        const sl_onode_t *mn = min_ent(c->s), *mx = max_ent(c->s);
        const unsigned char *dlo = lo ? lo : mn ? mn->key : NULL;
        const unsigned char *dhi = hi ? hi : mx ? mx->key : NULL;
        size_t dlolen = lo ? lolen : mn ? mn->klen : 0;
        size_t dhilen = hi ? hilen : mx ? mx->klen : 0;
        uint32_t i;
        CHECK(x->parent == parent);
        CHECK(x->cnt <= (x->leaf ? LEAF_MAX : INNER_MAX));
        if (dlo && dhi)
                CHECK(x->d <= lcp(dlo, dlolen, dhi, dhilen));
        else
                CHECK(c->s->cnt == 0);
        if (x->leaf) {
                const bleaf_t *l = (const bleaf_t *)x;
                CHECK(x->cnt > 0 || !parent);
                CHECK(c->leaf_depth < 0 || c->leaf_depth == depth);
                c->leaf_depth = depth;
                CHECK(l->prev == c->prev_leaf);
                CHECK(c->prev_leaf ? c->prev_leaf->next == l
                                   : c->s->first == l);
                c->prev_leaf = l;
                c->bytes += sizeof(*l);
                for (i = 0; i < x->cnt; i++) {
                        const sl_onode_t *e = l->ent[i];
                        CHECK(e->leaf == l);
                        CHECK(l->head[i] == key_head(e->key, e->klen, x->d));
                        CHECK(!lo || sl_key_cmp(e->key, e->klen, lo, lolen) >= 0);
                        CHECK(!hi || sl_key_cmp(e->key, e->klen, hi, hilen) < 0);
                        CHECK(!i || ent_cmp(l->ent[i - 1], e->key, e->klen) < 0);
                        c->cnt++;
                        c->bytes += sizeof(*e) + e->klen;
                }
                return 0;
        } else {
                const binner_t *in = (const binner_t *)x;
                CHECK(x->cnt > 0);
                CHECK(!parent || x->cnt > 0);
                CHECK(in->sep[0] == NULL);
                c->bytes += sizeof(*in);
                for (i = 1; i < x->cnt; i++) {
                        const okey_t *k = in->sep[i];
                        CHECK(in->head[i] == key_head(k->b, k->len, x->d));
                        CHECK(!lo || sl_key_cmp(k->b, k->len, lo, lolen) > 0);
                        CHECK(!hi || sl_key_cmp(k->b, k->len, hi, hilen) < 0);
                        CHECK(i == 1 || sl_key_cmp(in->sep[i - 1]->b,
                                                   in->sep[i - 1]->len, k->b,
                                                   k->len) < 0);
                        c->bytes += sizeof(*k) + k->len;
                }
                for (i = 0; i < x->cnt; i++) {
                        const okey_t *a = i ? in->sep[i] : NULL;
                        const okey_t *b = i + 1 < x->cnt ? in->sep[i + 1] : NULL;
                        CHECK(check_node(c, in->child[i], in, a ? a->b : lo,
                                         a ? a->len : lolen, b ? b->b : hi,
                                         b ? b->len : hilen, depth + 1) == 0);
                }
                return 0;
        }
}

int sl_oset_check(const sl_oset_t *s) {
        check_t c = {s, NULL, 0, sizeof(*s), -1};
        CHECK(s->root && !s->root->parent);
        CHECK(check_node(&c, s->root, NULL, NULL, 0, NULL, 0, 0) == 0);
        CHECK(c.prev_leaf == s->last && !s->last->next);
        CHECK(c.cnt == s->cnt);
        CHECK(c.bytes == s->bytes);
        return 0;
}
