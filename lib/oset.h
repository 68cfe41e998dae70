/*
 * oset.h - an ordered map from byte-string keys to void * values, for the
 * places that need order with writes in between: the memory store's
 * range scans, the record cache's ranges, windowed operators' emit-final
 * bookkeeping. Not part of the public API.
 *
 * Order: that of sl_key_cmp() (common.h), the store order: memcmp() over
 * the common length, the shorter key first when one is a prefix of the
 * other. The empty key is the smallest.
 *
 * Why a B+tree (lib/oset.c tells how it works): an entry (sl_onode_t) is
 * allocated on its own and never moves, as callers keep pointers to
 * entries and sl_oset_next() has no set argument; the tree over them is a
 * B+tree whose nodes hold, beside each entry pointer, 8 bytes of the key
 * after the prefix all keys of the node share, so that a search compares
 * inside the node and touches an entry's key only on a tie. A skip list
 * (tried first: one allocation per entry, next[0] the successor) or a
 * balanced binary tree pays one cache miss per level: at 1M random 16-byte
 * keys about 20 misses a search, 3.3 us per insert on the machine this was
 * measured on, against ~0.5 us here (about one miss for the leaf and one
 * for the entry, the upper levels being in cache). Expected O(log n) for
 * put/find/seek/seek_le/remove, O(1) for first/last/next; about 70 bytes
 * an entry with a 16-byte key (the entry with its key, ~1.4 slots of 16
 * bytes in the leaves, the separators).
 *
 * Ownership: the set copies keys (freed when their entry is removed or
 * the set freed); values are the caller's: the set never looks at them,
 * and frees them only through sl_oset_free()'s / sl_oset_clear()'s
 * free_val. An entry pointer stays valid until that entry is removed (or
 * the set cleared or freed), whatever else is put or removed meanwhile.
 *
 * Thread-safety: none. One thread at a time per set, for reads too (the
 * const functions do not write, so concurrent readers without a writer are
 * safe, but nothing here promises more).
 */
#ifndef SLUICE_OSET_H
#define SLUICE_OSET_H

#include <stddef.h>

typedef struct sl_oset_s sl_oset_t;
typedef struct sl_onode_s sl_onode_t; /* an entry; stable address until
                                       * deleted */

/* A new empty set, or NULL on OOM. */
sl_oset_t *sl_oset_new(void);
/* Free @s and every entry; free_val (may be NULL) is called on each value,
 * in key order. @s may be NULL. */
void sl_oset_free(sl_oset_t *s, void (*free_val)(void *));
/* Remove every entry (free_val as for sl_oset_free()); @s stays usable. */
void sl_oset_clear(sl_oset_t *s, void (*free_val)(void *));

/* Insert @key (copied) -> @val, or find it: returns the entry (new or
 * existing), NULL on OOM (or a key over 4 GiB); *created = 1 if it was
 * inserted (then its value is @val), 0 if it existed (value unchanged).
 * @created may be NULL. @key may be NULL when @klen is 0. */
sl_onode_t *sl_oset_put(sl_oset_t *s, const void *key, size_t klen, void *val,
                        int *created);
/* The entry of exactly @key, or NULL. */
sl_onode_t *sl_oset_find(const sl_oset_t *s, const void *key, size_t klen);
/* First entry with key >= @key (@key NULL: the first entry), or NULL. */
sl_onode_t *sl_oset_seek(const sl_oset_t *s, const void *key, size_t klen);
/* Last entry with key <= @key (@key NULL: the last entry), or NULL. */
sl_onode_t *sl_oset_seek_le(const sl_oset_t *s, const void *key, size_t klen);
sl_onode_t *sl_oset_first(const sl_oset_t *s);
sl_onode_t *sl_oset_last(const sl_oset_t *s);
/* The entry after @n in key order, NULL at the end. O(1). */
sl_onode_t *sl_oset_next(const sl_onode_t *n);
/* Remove @n (an entry of @s; its key memory is freed; returns its value).
 * Taking next first, then deleting the current entry, is the supported way
 * to delete while iterating: removing @n invalidates @n only. */
void *sl_oset_remove(sl_oset_t *s, sl_onode_t *n);
size_t sl_oset_count(const sl_oset_t *s);

/* The entry's key (owned by the set, valid until the entry is removed). */
const void *sl_onode_key(const sl_onode_t *n, size_t *klen);
void *sl_onode_val(const sl_onode_t *n);
void sl_onode_set_val(sl_onode_t *n, void *val);

/* Memory the set uses, approx.: what it asked malloc for (the set, each
 * entry with its forward pointers and key), not the allocator's overhead. */
size_t sl_oset_bytes(const sl_oset_t *s);

/* For tests: walk all of @s and check its structure (order, links,
 * counts, the key heads nodes compare). 0 if sound, -1 if not. O(n). */
int sl_oset_check(const sl_oset_t *s);

#endif
