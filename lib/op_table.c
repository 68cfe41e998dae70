/*
 * op_table.c - tables: sluice_table_from() (a source materialized in a
 * store), filter, filter_not, map_values and to_stream on a table, and
 * what their nodes do. Table records carry Change(new, old); old values
 * are computed only where a table group_by below needs them
 * (node->send_old, set at freeze by sl_table_freeze()). Also the flush of
 * every store owner (a table source, an aggregation): a cached update
 * written through and forwarded as Change(new, old).
 *
 * Semantics are Kafka Streams' (KTableSource, KTableFilter,
 * KTableMapValues; see notes/kafka-streams-semantics.md §7).
 */
#include "op.h"
#include "versioned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the nodes do ---- */

int sl_forward_change(sl_task_t *task, const sl_node_t *node,
                      const sluice_serde_t *value_serde,
                      const sluice_record_t *rec, sluice_value_t key,
                          const void *raw_key, size_t raw_key_len,
                          sluice_value_t value, int value_owned,
                          const void *raw_value, size_t raw_value_len,
                          sluice_value_t old, int old_owned, int64_t ts) {
        sluice_record_t out;
        int err;
        if (rec) {
                out = *rec;
        } else {
                memset(&out, 0, sizeof(out));
                out.partition = task->partition;
                out.offset    = -1;
                out.task      = task;
        }
        out.flags = SL_REC_HAS_OLD | (rec ? rec->flags & SL_REC_WINDOWED : 0u);
        out.key             = key;
        out.raw_key         = raw_key;
        out.raw_key_len     = raw_key_len;
        out.raw_key_serde   = raw_key ? node->key_serde : NULL;
        out.value           = value;
        /* raw bytes only where they outlive the forward (a cache entry) */
        out.raw_value       = raw_value;
        out.raw_value_len   = raw_value_len;
        out.raw_value_serde = raw_value ? value_serde : NULL;
        out.old             = node->send_old ? old : sluice_null();
        out.timestamp       = ts;
        if (value_owned)
                out.flags |= SL_REC_VALUE_OWNED;
        if (old_owned) {
                if (node->send_old)
                        out.flags |= SL_REC_OLD_OWNED;
                else
                        sl_value_release(&old);
        }
        err = sl_forward(task, node, &out);
        sl_record_release(&out);
        return err;
}

/*
 * A versioned table's source (KTableSource over a versioned store,
 * KIP-914): the old value is the latest version before the put; a put the
 * store refuses (older than its stream time - history retention) is
 * dropped and not forwarded; an out-of-order one is forwarded marked
 * SL_REC_NOT_LATEST (Change.isLatest false). No record cache.
 */

/* Forward a view of @rec (rec keeps what it owns) with its old value
 * (@old, owned by the view if @old_owned and the node sends old values,
 * else released here) and @flags added. */
static int forward_with_old(sl_task_t *task, const sl_node_t *node,
                            const sluice_record_t *rec, sluice_value_t old,
                            int old_owned, unsigned flags) {
        sluice_record_t out = *rec;
        int err;
        out.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                       SL_REC_OLD_OWNED);
        out.flags |= SL_REC_HAS_OLD | flags;
        out.old = node->send_old ? old : sluice_null();
        if (old_owned && node->send_old)
                out.flags |= SL_REC_OLD_OWNED;
        else
                sl_op_release_if(&old, old_owned);
        err = sl_forward(task, node, &out);
        sl_record_release(&out);
        return err;
}

static int versioned_source_process(sl_task_t *task, const sl_node_t *node,
                                    sluice_record_t *rec, sluice_kv_t *kv,
                                    const void *k, size_t klen, const void *v,
                                    size_t vlen) {
        sluice_value_t old = sluice_null();
        int old_owned = 0, err, r;
        int64_t valid_to;
        if (node->send_old) {
                const void *stored;
                size_t slen;
                r = sl_versioned_get(kv, k, klen, SLUICE_TS_LATEST, &stored,
                                     &slen, NULL, NULL);
                if (r < 0)
                        return sl_op_store_fail(task, node, r);
                if (r && (err = sl_op_decode(task, node, node->value_serde,
                                             stored, slen, &old, &old_owned)))
                        return err;
        }
        r = sl_versioned_put(kv, k, klen, v, vlen, rec->timestamp, &valid_to);
        if (r <= 0) {
                sl_op_release_if(&old, old_owned);
                if (r < 0)
                        return sl_op_store_fail(task, node, r);
                task->dropped++; /* expired: Kafka Streams' dropped-records */
                return 0;
        }
        return forward_with_old(task, node, rec, old, old_owned,
                                SL_REC_VERSIONED |
                                    (valid_to != SLUICE_TS_LATEST
                                         ? SL_REC_NOT_LATEST
                                         : 0));
}

static int table_source_process(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec) {
        sluice_kv_t *kv = task->kvs[node->store];
        const void *k, *v = NULL, *stored;
        size_t klen, vlen = 0, slen;
        sluice_value_t old = sluice_null();
        int old_owned = 0, err, w;
        int64_t sts;

        if (rec->key.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if ((err = sl_op_key_bytes(task, node, rec, node->key_serde, &task->kbuf,
                             &k, &klen)))
                return err;
        if (rec->value.type != SLUICE_VALUE_NULL) {
                if (rec->raw_value_serde == node->value_serde &&
                    rec->raw_value) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else if ((err = sl_op_value_bytes(task, node, &rec->value,
                                              node->value_serde, &task->vbuf,
                                              &v, &vlen))) {
                        return err;
                }
        }
        task->errstr[0] = '\0';
        if (kv->def->versioned)
                return versioned_source_process(task, node, rec, kv, k, klen,
                                                v, vlen);
        if (node->send_old) {
                int found = sl_kv_get(kv, k, klen, &stored, &slen, &sts);
                if (found < 0)
                        return sl_op_store_fail(task, node, found);
                if (found && (err = sl_op_decode(task, node, node->value_serde,
                                              stored, slen, &old,
                                              &old_owned)))
                        return err;
        }
        w = sl_kv_write(kv, k, klen, v, vlen, rec->timestamp);
        if (w < 0) {
                sl_op_release_if(&old, old_owned);
                return sl_op_store_fail(task, node, w);
        }
        if (w > 0) {
                sl_op_release_if(&old, old_owned);
                return 0;
        }
        return forward_with_old(task, node, rec, old, old_owned, 0);
}

int sl_table_flush(sl_task_t *task, const sl_node_t *node, sluice_kv_t *kv,
                   const void *key, size_t klen, const void *value,
                   size_t vlen, int64_t ts) {
        const sluice_serde_t *vs = kv->def->value_serde;
        sluice_value_t k, v, old = sluice_null();
        int k_owned, v_owned, old_owned = 0, err;

        task->errstr[0] = '\0';
        if (node->send_old || !value) {
                const void *stored;
                size_t slen;
                int64_t sts;
                int found = sl_kv_get(kv, key, klen, &stored, &slen, &sts);
                if (found < 0)
                        return sl_op_store_fail(task, node, found);
                /* a delete of a key the store never had: nothing to
                 * write or forward (Kafka Streams' caching store skips a
                 * key null in both) */
                if (!found && !value)
                        return 0;
                if (found && node->send_old &&
                    (err = sl_op_decode(task, node, vs, stored, slen, &old,
                                     &old_owned)))
                        return err;
        }
        if ((err = sl_kv_write_flushed(kv, key, klen, value, vlen, ts))) {
                sl_op_release_if(&old, old_owned);
                return sl_op_store_fail(task, node, err);
        }
        if ((err = sl_op_decode(task, node, kv->def->key_serde, key, klen, &k,
                             &k_owned))) {
                sl_op_release_if(&old, old_owned);
                return err;
        }
        if ((err = sl_op_decode(task, node, vs, value, vlen, &v, &v_owned))) {
                sl_op_release_if(&k, k_owned);
                sl_op_release_if(&old, old_owned);
                return err;
        }
        err = sl_forward_change(task, node, vs, NULL, k, key, klen, v, v_owned,
                             value, vlen, old, old_owned, ts);
        sl_op_release_if(&k, k_owned);
        return err;
}

/* Apply a table node's callback to a shallow copy of @rec holding @v.
 * filter: *keep; map_values: *out (owned per *owned). */
static int table_apply(sl_task_t *task, const sl_node_t *node,
                       const sluice_record_t *rec, sluice_value_t v,
                       int *keep, sluice_value_t *out, int *owned) {
        sluice_record_t tmp = *rec;
        tmp.flags           = 0;
        tmp.value           = v;
        tmp.raw_value_serde = NULL;
        if (node->kind != SL_NODE_TABLE_MAP_VALUES) {
                int r = node->cb.pred(&tmp, node->opaque);
                *keep = node->kind == SL_NODE_TABLE_FILTER ? r : !r;
                return 0;
        }
        if (node->cb.map(&tmp, node->opaque)) {
                sl_record_release(&tmp);
                return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                               "%s callback failed", "map_values");
        }
        if (tmp.flags & SL_REC_KEY_SET) {
                sl_record_release(&tmp);
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "map_values callback changed the key");
        }
        *out   = tmp.value;
        *owned = (tmp.flags & SL_REC_VALUE_OWNED) != 0;
        return 0;
}

/* The node a table's rows come from: @nd itself, or the store owner
 * above a chain of filter / map_values nodes; NULL if the chain reaches
 * no key-value store (a suppression, a join, a windowed table). */
static const sl_node_t *table_root(const sl_node_t *nd) {
        while (nd->store < 0 && nd->parent_cnt == 1 &&
               (nd->kind == SL_NODE_TABLE_FILTER ||
                nd->kind == SL_NODE_TABLE_FILTER_NOT ||
                nd->kind == SL_NODE_TABLE_MAP_VALUES))
                nd = nd->parents[0];
        if (nd->store < 0 || (nd->kind != SL_NODE_TABLE_SOURCE &&
                              nd->kind != SL_NODE_TABLE_AGGREGATE &&
                              nd->kind != SL_NODE_AGGREGATE))
                return NULL;
        return nd;
}

int sl_table_store_of(const sluice_table_t *tbl) {
        const sl_node_t *root = table_root(tbl->node);
        return root ? root->store : -1;
}

/* Apply the filter / map_values nodes from below @root down to @nd to
 * *v (a value getter's view): 0 with *v (absent: NULL type). */
static int table_view(sl_task_t *task, const sl_node_t *root,
                      const sl_node_t *nd, const sluice_value_t *key,
                      int64_t ts, sluice_value_t *v, int *owned) {
        sluice_record_t tmp;
        int keep, err;
        if (nd == root || v->type == SLUICE_VALUE_NULL)
                return 0;
        if ((err = table_view(task, root, nd->parents[0], key, ts, v, owned)))
                return err;
        if (v->type == SLUICE_VALUE_NULL)
                return 0;
        memset(&tmp, 0, sizeof(tmp));
        tmp.key       = *key;
        tmp.timestamp = ts;
        tmp.partition = task->partition;
        tmp.offset    = -1;
        tmp.task      = task;
        if (nd->kind == SL_NODE_TABLE_MAP_VALUES) {
                sluice_value_t nv = sluice_null();
                int n_owned       = 0;
                if ((err = table_apply(task, nd, &tmp, *v, &keep, &nv,
                                       &n_owned)))
                        return err;
                if (nv.type == SLUICE_VALUE_JSON && v->type == SLUICE_VALUE_JSON &&
                    nv.u.json == v->u.json) {
                        /* handed back as it is: still ours */
                        return 0;
                }
                sl_op_release_if(v, *owned);
                *v     = nv;
                *owned = n_owned;
                return 0;
        }
        table_apply(task, nd, &tmp, *v, &keep, NULL, NULL);
        if (!keep) {
                sl_op_release_if(v, *owned);
                *v     = sluice_null();
                *owned = 0;
        }
        return 0;
}

int sl_table_lookup(sl_task_t *task, const sl_node_t *tnode,
                    const void *k, size_t klen, const sluice_value_t *key,
                    int64_t as_of, sluice_value_t *out, int *owned,
                    int64_t *ts) {
        const sl_node_t *root = table_root(tnode);
        sluice_kv_t *kv;
        const void *stored;
        size_t slen;
        int found, err;
        *out   = sluice_null();
        *owned = 0;
        *ts    = -1;
        if (!root)
                return sl_fail(task, tnode, SLUICE_ERR_STATE, "%s",
                               "the table has no store to read");
        kv              = task->kvs[root->store];
        task->errstr[0] = '\0';
        if (sl_versioned_is(kv))
                found = sl_versioned_get(kv, k, klen, as_of, &stored, &slen,
                                         ts, NULL);
        else
                found = sl_kv_get(kv, k, klen, &stored, &slen, ts);
        if (found < 0)
                return sl_op_store_fail(task, tnode, found);
        if (!found)
                return 0;
        if ((err = sl_op_decode(task, tnode, kv->def->value_serde, stored, slen,
                             out, owned)))
                return err;
        if ((err = table_view(task, root, tnode, key, *ts, out, owned))) {
                sl_op_release_if(out, *owned);
                *out   = sluice_null();
                *owned = 0;
                return err;
        }
        return out->type != SLUICE_VALUE_NULL;
}

static int table_op_process(sl_task_t *task, const sl_node_t *node,
                    sluice_record_t *rec) {
        sluice_value_t nv = sluice_null(), ov = sluice_null();
        int n_owned = 0, o_owned = 0, keep, err;
        int has_old = (rec->flags & SL_REC_HAS_OLD) && node->send_old &&
                      rec->old.type != SLUICE_VALUE_NULL;

        if (node->kind == SL_NODE_TABLE_MAP_VALUES) {
                if (rec->value.type != SLUICE_VALUE_NULL &&
                    (err = table_apply(task, node, rec, rec->value, &keep,
                                       &nv, &n_owned)))
                        return err;
                if (has_old && (err = table_apply(task, node, rec, rec->old,
                                                  &keep, &ov, &o_owned))) {
                        sl_op_release_if(&nv, n_owned);
                        return err;
                }
        } else {
                if (rec->value.type != SLUICE_VALUE_NULL) {
                        table_apply(task, node, rec, rec->value, &keep, NULL,
                                    NULL);
                        if (keep)
                                nv = rec->value;
                }
                if (has_old) {
                        table_apply(task, node, rec, rec->old, &keep, NULL,
                                    NULL);
                        if (keep)
                                ov = rec->old;
                }
                /* nothing to say downstream (Kafka Streams skips this only
                 * when it sends old values, and not for versioned tables:
                 * KTableFilter's useVersionedSemantics) */
                if (node->send_old && !(rec->flags & SL_REC_VERSIONED) &&
                    nv.type == SLUICE_VALUE_NULL &&
                    ov.type == SLUICE_VALUE_NULL)
                        return 0;
                /* nv / ov are shared with rec, which still owns them */
        }
        {
                sluice_record_t out = *rec;
                out.flags = SL_REC_HAS_OLD |
                            (rec->flags &
                             (SL_REC_WINDOWED | SL_REC_VERSION_FLAGS));
                out.value           = nv;
                out.old             = ov;
                /* an unchanged value keeps its raw bytes */
                if (node->kind == SL_NODE_TABLE_MAP_VALUES ||
                    nv.type == SLUICE_VALUE_NULL)
                        out.raw_value_serde = NULL;
                if (n_owned)
                        out.flags |= SL_REC_VALUE_OWNED;
                if (o_owned)
                        out.flags |= SL_REC_OLD_OWNED;
                err = sl_forward(task, node, &out);
                sl_record_release(&out);
                return err;
        }
}

static int to_stream_process(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *rec) {
        rec->flags &= ~(SL_REC_HAS_OLD | SL_REC_VERSION_FLAGS);
        if (rec->flags & SL_REC_OLD_OWNED)
                sl_value_release(&rec->old);
        rec->flags &= ~SL_REC_OLD_OWNED;
        rec->old = sluice_null();
        return sl_forward(task, node, rec);
}

static const sl_node_ops_t table_source_ops = {
    .family = "table", .process = table_source_process, .flush = sl_table_flush};
/* A versioned table's store: expiry and its stream time at every commit,
 * and once restored (what the restore brought back that is past the
 * retention goes before the first record). */
static int versioned_commit(sl_task_t *task, const sl_node_t *node) {
        int err = sl_versioned_commit(task->kvs[node->store]);
        return err ? sl_op_store_fail(task, node, err) : 0;
}

static int versioned_ready(sl_task_t *task, const sl_node_t *node,
                           char *errstr, size_t errstr_size) {
        task->errstr[0] = '\0';
        if (sl_versioned_commit(task->kvs[node->store])) {
                sl_errstr(errstr, errstr_size, "%s", task->errstr);
                return SLUICE_ERR_STATE;
        }
        return 0;
}

static const sl_node_ops_t table_source_versioned_ops = {
    .family  = "table",
    .process = table_source_process,
    .ready   = versioned_ready,
    .commit  = versioned_commit};
static const sl_node_ops_t table_filter_ops = {
    .family = "table", .process = table_op_process};
static const sl_node_ops_t table_filter_not_ops = {
    .family = "table", .process = table_op_process};
static const sl_node_ops_t table_map_values_ops = {
    .family = "table", .process = table_op_process};
static const sl_node_ops_t to_stream_ops = {
    .family = "table", .process = to_stream_process};

int sl_table_versioned_store(const sl_node_t *node) {
        while (node && node->parent_cnt == 1 &&
               (node->kind == SL_NODE_TABLE_FILTER ||
                node->kind == SL_NODE_TABLE_FILTER_NOT ||
                node->kind == SL_NODE_TABLE_MAP_VALUES))
                node = node->parents[0];
        if (!node || node->ops != &table_source_versioned_ops)
                return -1;
        return node->store;
}

static int table_passes_old(const sl_node_t *nd) {
        return nd->ops == &table_filter_ops ||
               nd->ops == &table_filter_not_ops ||
               nd->ops == &table_map_values_ops;
}

int sl_table_send_old(sl_node_t *nd) {
        for (;;) {
                nd->send_old = 1;
                if (!table_passes_old(nd) || nd->parent_cnt != 1)
                        return nd->store >= 0 ||
                               nd->kind == SL_NODE_TABLE_JOIN_MERGE;
                nd = nd->parents[0];
        }
}

/*
 * Old values flow from a table to a group_by (or a join) below it: the
 * table nodes between them forward Change(new, old) with the old value
 * filled in. And a filter whose table has a store above it sends old
 * values as Kafka Streams' KTableFilter does when its parent is
 * materialized (a Sluice table source always is): a row that was never
 * there, or was already filtered out, then yields no tombstone.
 * suppress() of a versioned table is refused, as Kafka Streams does
 * (InternalStreamsBuilder.enableVersionedSemantics): its buffer would
 * reorder versions by arrival.
 */
int sl_table_freeze(sluice_topology_t *t, char *errstr, size_t errstr_size) {
        size_t i;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                if (nd->kind == SL_NODE_SUPPRESS && nd->parent_cnt == 1 &&
                    sl_table_versioned_store(nd->parents[0]) >= 0) {
                        sl_errstr(errstr, errstr_size,
                                  "suppress node \"%s\": suppress() is only "
                                  "supported for non-versioned tables (the "
                                  "versioned table is upstream)",
                                  nd->name);
                        return -1;
                }
        }
        for (i = 0; i < t->node_cnt; i++) {
                sl_node_t *nd = t->nodes[i];
                if (nd->kind == SL_NODE_TABLE_GROUP_BY ||
                    nd->kind == SL_NODE_TABLE_JOIN ||
                    nd->kind == SL_NODE_FK_SEND) {
                        /* a join reads its inputs' old values (Kafka
                         * Streams enables them on both) */
                        if (nd->parent_cnt == 1)
                                sl_table_send_old(nd->parents[0]);
                        continue;
                }
                if (nd->ops != &table_filter_ops &&
                    nd->ops != &table_filter_not_ops)
                        continue;
                {
                        /* only where a store is above it */
                        const sl_node_t *up = nd;
                        while (table_passes_old(up) && up->parent_cnt == 1)
                                up = up->parents[0];
                        if (up->store >= 0 ||
                            up->kind == SL_NODE_TABLE_JOIN_MERGE)
                                sl_table_send_old(nd);
                }
        }
        return 0;
}

/* ---- builder calls ---- */

sluice_table_t *sl_table_new(sluice_topology_t *t, sl_node_t *node,
                                 const sluice_serde_t *ks,
                                 const sluice_serde_t *vs, int store) {
        sluice_table_t *tbl;
        if (!node)
                return NULL;
        if (sl_grow((void **)&t->tables, &t->table_cap, t->table_cnt,
                    sizeof(*t->tables)) ||
            !(tbl = calloc(1, sizeof(*tbl)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        tbl->t                    = t;
        tbl->node                 = node;
        tbl->key_serde            = ks;
        tbl->value_serde          = vs;
        tbl->store                = store;
        t->tables[t->table_cnt++] = tbl;
        return tbl;
}

/* ---- tables ---- */

sluice_table_t *sluice_table_from(sluice_topology_t *t, const char *topic,
                                  const sluice_serde_t *key_serde,
                                  const sluice_serde_t *value_serde,
                                  const char *store) {
        const char *call = "sluice_table_from";
        sluice_stream_t *src;
        sl_node_t *n;
        char gen[300];
        int idx;
        if (!t || sl_topo_check_open(t, call))
                return NULL;
        if (!topic) {
                sl_topo_error(t, "%s: topic is NULL", call);
                return NULL;
        }
        if (!store) {
                /* "<topic>-STATE-STORE-<n>", numbered before the source as
                 * Kafka Streams does */
                snprintf(gen, sizeof(gen), "%s-STATE-STORE-%010d", topic,
                         t->name_seq++);
                store = gen;
        }
        if (!(src = sluice_stream_from(t, topic, key_serde, value_serde)))
                return NULL;
        if (!(n = sl_node_new(t, SL_NODE_TABLE_SOURCE, &table_source_ops,
                               src->node)))
                return NULL;
        n->key_serde   = src->key_serde;
        n->value_serde = src->value_serde;
        idx = sl_store_new(t, call, store, "", src->key_serde, src->value_serde,
                        n);
        if (idx < 0)
                return NULL;
        n->store = idx;
        return sl_table_new(t, n, src->key_serde, src->value_serde, idx);
}

int sluice_table_set_versioned(sluice_table_t *tbl,
                               int64_t history_retention_ms) {
        const char *call = "sluice_table_set_versioned";
        sl_store_def_t *d;
        if (!tbl)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(tbl->t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (tbl->node->ops != &table_source_ops &&
            tbl->node->ops != &table_source_versioned_ops) {
                sl_topo_error(tbl->t,
                              "%s: the table of node \"%s\" is not a source "
                              "table (only a table from sluice_table_from() "
                              "can be versioned)",
                              call, tbl->node->name);
                return SLUICE_ERR_TOPOLOGY;
        }
        if (history_retention_ms < 0) {
                sl_topo_error(tbl->t,
                              "%s: history retention %lld ms is negative",
                              call, (long long)history_retention_ms);
                return SLUICE_ERR_TOPOLOGY;
        }
        d             = tbl->t->stores[tbl->store];
        d->versioned  = 1;
        d->history_ms = history_retention_ms;
        d->segment_ms = sl_versioned_segment_ms(history_retention_ms);
        tbl->node->ops = &table_source_versioned_ops;
        return 0;
}

static sluice_table_t *table_op(sluice_table_t *tbl, const char *call,
                                sl_node_kind_t kind,
                                const sl_node_ops_t *ops, void (*cb)(void),
                                void *opaque, const sluice_serde_t *vs) {
        sl_node_t *n;
        if (!tbl || sl_topo_check_open(tbl->t, call))
                return NULL;
        if (!cb) {
                sl_topo_error(tbl->t, "%s: callback is NULL", call);
                return NULL;
        }
        if (!(n = sl_node_new(tbl->t, kind, ops, tbl->node)))
                return NULL;
        if (kind == SL_NODE_TABLE_MAP_VALUES)
                n->cb.map = (sluice_map_cb *)cb;
        else
                n->cb.pred = (sluice_predicate_cb *)cb;
        n->opaque = opaque;
        return sl_table_new(tbl->t, n, tbl->key_serde, vs, -1);
}

sluice_table_t *sluice_table_filter(sluice_table_t *tbl,
                                    sluice_predicate_cb *cb, void *opaque) {
        return table_op(tbl, "sluice_table_filter", SL_NODE_TABLE_FILTER,
                        &table_filter_ops, (void (*)(void))cb, opaque,
                        tbl ? tbl->value_serde : NULL);
}

sluice_table_t *sluice_table_filter_not(sluice_table_t *tbl,
                                        sluice_predicate_cb *cb,
                                        void *opaque) {
        return table_op(tbl, "sluice_table_filter_not",
                        SL_NODE_TABLE_FILTER_NOT, &table_filter_not_ops,
                        (void (*)(void))cb, opaque,
                        tbl ? tbl->value_serde : NULL);
}

sluice_table_t *sluice_table_map_values(sluice_table_t *tbl, sluice_map_cb *cb,
                                        void *opaque,
                                        const sluice_serde_t *value_serde) {
        if (tbl && sl_serde_check(tbl->t, "sluice_table_map_values", "value",
                                  value_serde))
                return NULL;
        return table_op(tbl, "sluice_table_map_values",
                        SL_NODE_TABLE_MAP_VALUES, &table_map_values_ops,
                        (void (*)(void))cb, opaque,
                        value_serde);
}

sluice_stream_t *sluice_table_to_stream(sluice_table_t *tbl) {
        sl_node_t *n;
        if (!tbl || sl_topo_check_open(tbl->t, "sluice_table_to_stream"))
                return NULL;
        if (!(n = sl_node_new(tbl->t, SL_NODE_TO_STREAM, &to_stream_ops,
                               tbl->node)))
                return NULL;
        return sl_stream_new(tbl->t, n, tbl->key_serde, tbl->value_serde);
}

const char *sluice_table_store_name(const sluice_table_t *tbl) {
        if (!tbl || tbl->store < 0)
                return NULL;
        return tbl->t->stores[tbl->store]->name;
}
