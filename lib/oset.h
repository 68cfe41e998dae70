/*
 * oset.h - an ordered map from byte-string keys (sl_key_cmp order) to a
 * pointer. Not thread-safe: one thread at a time per set. The set owns
 * copies of the keys; values are the caller's.
 *
 * Interim implementation (a sorted array); replaced by the real ordered
 * structure.
 */
#ifndef SLUICE_OSET_H
#define SLUICE_OSET_H

#include <stddef.h>

typedef struct sl_oset_s sl_oset_t;
typedef struct sl_onode_s sl_onode_t;

sl_oset_t *sl_oset_new(void);
void sl_oset_free(sl_oset_t *s, void (*free_val)(void *));
sl_onode_t *sl_oset_put(sl_oset_t *s, const void *key, size_t klen, void *val,
                        int *created);
sl_onode_t *sl_oset_find(const sl_oset_t *s, const void *key, size_t klen);
sl_onode_t *sl_oset_seek(const sl_oset_t *s, const void *key, size_t klen);
sl_onode_t *sl_oset_first(const sl_oset_t *s);
sl_onode_t *sl_oset_next(const sl_onode_t *n);
void *sl_oset_remove(sl_oset_t *s, sl_onode_t *n);
size_t sl_oset_count(const sl_oset_t *s);
const void *sl_onode_key(const sl_onode_t *n, size_t *klen);
void *sl_onode_val(const sl_onode_t *n);
void sl_onode_set_val(sl_onode_t *n, void *val);
size_t sl_oset_bytes(const sl_oset_t *s);

#endif
