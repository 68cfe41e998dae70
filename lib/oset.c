/* oset.c - interim ordered set: a doubly linked sorted list (O(n) insert);
 * replaced by the real structure. */
#include "oset.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>

struct sl_onode_s {
        struct sl_onode_s *prev, *next;
        void *val;
        size_t klen;
        unsigned char key[];
};

struct sl_oset_s {
        sl_onode_t *head, *tail;
        size_t cnt, bytes;
};

sl_oset_t *sl_oset_new(void) { return calloc(1, sizeof(sl_oset_t)); }

void sl_oset_free(sl_oset_t *s, void (*free_val)(void *)) {
        sl_onode_t *n, *next;
        if (!s)
                return;
        for (n = s->head; n; n = next) {
                next = n->next;
                if (free_val)
                        free_val(n->val);
                free(n);
        }
        free(s);
}

sl_onode_t *sl_oset_seek(const sl_oset_t *s, const void *key, size_t klen) {
        sl_onode_t *n;
        if (!key)
                return s->head;
        for (n = s->head; n; n = n->next)
                if (sl_key_cmp(n->key, n->klen, key, klen) >= 0)
                        return n;
        return NULL;
}

sl_onode_t *sl_oset_find(const sl_oset_t *s, const void *key, size_t klen) {
        sl_onode_t *n = sl_oset_seek(s, key, klen);
        return n && !sl_key_cmp(n->key, n->klen, key, klen) ? n : NULL;
}

sl_onode_t *sl_oset_put(sl_oset_t *s, const void *key, size_t klen, void *val,
                        int *created) {
        sl_onode_t *at = sl_oset_seek(s, key, klen), *n;
        if (at && !sl_key_cmp(at->key, at->klen, key, klen)) {
                *created = 0;
                return at;
        }
        if (!(n = malloc(sizeof(*n) + (klen ? klen : 1))))
                return NULL;
        n->val  = val;
        n->klen = klen;
        if (klen)
                memcpy(n->key, key, klen);
        n->next = at;
        n->prev = at ? at->prev : s->tail;
        if (n->prev)
                n->prev->next = n;
        else
                s->head = n;
        if (at)
                at->prev = n;
        else
                s->tail = n;
        s->cnt++;
        s->bytes += sizeof(*n) + klen;
        *created = 1;
        return n;
}

sl_onode_t *sl_oset_first(const sl_oset_t *s) { return s->head; }
sl_onode_t *sl_oset_next(const sl_onode_t *n) { return n->next; }

void *sl_oset_remove(sl_oset_t *s, sl_onode_t *n) {
        void *v = n->val;
        if (n->prev)
                n->prev->next = n->next;
        else
                s->head = n->next;
        if (n->next)
                n->next->prev = n->prev;
        else
                s->tail = n->prev;
        s->cnt--;
        s->bytes -= sizeof(*n) + n->klen;
        free(n);
        return v;
}

size_t sl_oset_count(const sl_oset_t *s) { return s->cnt; }
const void *sl_onode_key(const sl_onode_t *n, size_t *klen) {
        *klen = n->klen;
        return n->key;
}
void *sl_onode_val(const sl_onode_t *n) { return n->val; }
void sl_onode_set_val(sl_onode_t *n, void *val) { n->val = val; }
size_t sl_oset_bytes(const sl_oset_t *s) { return s->bytes; }
