/*
 * op.h - what the stateful operator files (op_aggregate.c, op_table.c,
 * op_processor.c) share: the bytes of keys and values for their stores,
 * store errors, and the Change(new, old) records tables forward.
 */
#ifndef SLUICE_OP_H
#define SLUICE_OP_H

#include "state.h"
#include "task.h"

static inline int sl_op_store_fail(sl_task_t *task, const sl_node_t *node,
                                   int err) {
        if (err == SLUICE_ERR_NOMEM)
                return sl_fail(task, node, err, "%s", "out of memory");
        /* task->errstr names the store already unless a backend failed */
        if (!task->errstr[0])
                return sl_fail(task, node, err, "%s", "store access failed");
        return err;
}

/* The key's bytes: the raw ones when unchanged, else encoded into @buf. */
static inline int sl_op_key_bytes(sl_task_t *task, const sl_node_t *node,
                                  const sluice_record_t *rec,
                                  const sluice_serde_t *serde,
                                  sluice_buf_t *buf, const void **k,
                                  size_t *klen) {
        char why[SL_ERRSTR_SIZE];
        if (rec->raw_key_serde == serde && rec->raw_key) {
                *k    = rec->raw_key;
                *klen = rec->raw_key_len;
                return 0;
        }
        if (sl_encode(serde, &rec->key, buf, k, klen, why, sizeof(why)))
                return sl_fail(task, node, SLUICE_ERR_SERDE, "key: %s", why);
        if (!*k)
                *k = "";
        return 0;
}

static inline int sl_op_value_bytes(sl_task_t *task, const sl_node_t *node,
                                    const sluice_value_t *v,
                                    const sluice_serde_t *serde,
                                    sluice_buf_t *buf, const void **out,
                                    size_t *len) {
        char why[SL_ERRSTR_SIZE];
        if (sl_encode(serde, v, buf, out, len, why, sizeof(why)))
                return sl_fail(task, node, SLUICE_ERR_SERDE, "value: %s", why);
        if (!*out)
                *out = "";
        return 0;
}

/* Decode a stored key or value. */
static inline int sl_op_decode(sl_task_t *task, const sl_node_t *node,
                               const sluice_serde_t *serde, const void *data,
                               size_t len, sluice_value_t *out, int *owned) {
        char why[SL_ERRSTR_SIZE];
        if (sl_decode(task, serde, data, len, out, owned, why, sizeof(why)))
                return sl_fail(task, node, SLUICE_ERR_SERDE,
                               "cannot decode the stored value: %s", why);
        return 0;
}

static inline void sl_op_release_if(sluice_value_t *v, int owned) {
        if (owned)
                sl_value_release(v);
}

/* What an aggregation node computes. */
typedef enum { SL_AGG_COUNT, SL_AGG_REDUCE, SL_AGG_AGGREGATE } sl_agg_kind_t;

/* An aggregation node's own fields (node->priv, or its first member); the
 * callbacks' opaque is node->opaque. */
typedef struct sl_agg_s {
        sl_agg_kind_t kind;
        sluice_initializer_cb *init;
        sluice_aggregator_cb *agg_add, *agg_sub;
        sluice_reducer_cb *red_add, *red_sub;
        const sluice_serde_t *serde; /* the aggregate's (store value) */
} sl_agg_t;

/* op_aggregate.c: one aggregation step of @node (its priv starts with an
 * sl_agg_t): @agg (owned per *agg_owned; NULL type when there is none yet:
 * the initializer runs, or a reduce takes @v as it is) combined with @v by
 * the adder (@add) or the subtractor. */
int sl_agg_step(sl_task_t *task, const sl_node_t *node, int add,
                const sluice_value_t *key, const sluice_value_t *v,
                sluice_value_t *agg, int *agg_owned);

/* op_table.c: forward Change(@value, @old) for @key from @node, a fresh
 * record with @rec's metadata (NULL: none) at @ts; @raw_value's bytes
 * (NULL: none) are in @value_serde. Takes over value/old (owned flags). */
int sl_forward_change(sl_task_t *task, const sl_node_t *node,
                      const sluice_serde_t *value_serde,
                      const sluice_record_t *rec, sluice_value_t key,
                      const void *raw_key, size_t raw_key_len,
                      sluice_value_t value, int value_owned,
                      const void *raw_value, size_t raw_value_len,
                      sluice_value_t old, int old_owned, int64_t ts);
/* op_table.c: the flush of a store owner (a table source, an
 * aggregation): read the old value (when forwarded), write the entry
 * through, forward Change(new, old). */
int sl_table_flush(sl_task_t *task, const sl_node_t *node, sluice_kv_t *kv,
                   const void *key, size_t klen, const void *value,
                   size_t vlen, int64_t ts);
/* op_table.c: a new table handle of @node (materialized in @store, or
 * -1). NULL on error (recorded in @t). */
sluice_table_t *sl_table_new(sluice_topology_t *t, sl_node_t *node,
                             const sluice_serde_t *ks,
                             const sluice_serde_t *vs, int store);

/* op_window.c: delete from @kv's backend (not its changelog: window
 * changelogs are compact,delete) every record whose key sorts below the
 * 8-byte big-endian segment number @live, the layout of the segmented
 * window stores (windowed aggregations, stream-stream joins). The cache
 * must be clean. 0 or an error (sl_fail() for @node). */
int sl_window_drop_segments(sl_task_t *task, const sl_node_t *node,
                            sluice_kv_t *kv, int64_t live);
/* op_table.c: @nd and the filter / map_values nodes above it up to a
 * store owner forward old values (send_old). Returns 1 if that chain
 * reached a node with a store. */
int sl_table_send_old(sl_node_t *nd);
/* op_table.c: the store a table's rows are read from (its own, or the
 * one above its filter / map_values nodes), or -1 if there is none to
 * read (a suppression, a join result, a windowed table). */
int sl_table_store_of(const sluice_table_t *tbl);
/* op_table.c: the value getter of the table at @tnode: the row of key
 * bytes @k (decoded @key, for the callbacks of filter / map_values nodes
 * between the store and @tnode). A versioned table gives the version
 * valid at @as_of (SLUICE_TS_LATEST: its latest), any other table its
 * current row whatever @as_of. 1 with *out (owned per *owned) and its
 * timestamp *ts (a version's: when it became valid); 0 if absent (or
 * filtered out); < 0 an error. */
int sl_table_lookup(sl_task_t *task, const sl_node_t *tnode,
                    const void *k, size_t klen, const sluice_value_t *key,
                    int64_t as_of, sluice_value_t *out, int *owned,
                    int64_t *ts);

#endif
