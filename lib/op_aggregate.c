/*
 * op_aggregate.c - groupings and aggregations: group_by_key and group_by
 * on a stream, group_by on a table (its node maps rows to groups), count,
 * reduce and aggregate on a grouping, and what their nodes do.
 *
 * Names follow Kafka Streams: KSTREAM-AGGREGATE-<n> with the store
 * KSTREAM-AGGREGATE-STATE-STORE-<n>; a grouping that must repartition
 * uses the topic <application.id>-<store>-repartition.
 *
 * Semantics are Kafka Streams' (KStreamAggregate, KStreamReduce,
 * KTableRepartitionMap, KTableAggregate, KTableReduce; see
 * notes/kafka-streams-semantics.md §6-7):
 *  - stream aggregations drop records with a null key or value;
 *  - an aggregate's timestamp is the record's, or max(record, previous
 *    aggregate) once one exists.
 */
#include "op.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- what the nodes do ---- */

/* Adopt what a callback produced as the new aggregate (@prev: the value it
 * was given, released unless handed back). */
static int adopt_result(sl_task_t *task, sluice_value_t *res,
                        sluice_value_t *prev, int *prev_owned, int *owned) {
        int same = prev->type == res->type &&
                   ((res->type == SLUICE_VALUE_JSON &&
                     res->u.json == prev->u.json) ||
                    (res->type == SLUICE_VALUE_OBJECT &&
                     res->u.obj.ptr == prev->u.obj.ptr));
        if (same) { /* handed back: the reference moves over */
                *owned      = *prev_owned;
                *prev_owned = 0;
                return 0;
        }
        return sl_value_adopt(task, res, owned);
}

/* Run one aggregation step: @agg (owned per *agg_owned, NULL type when
 * none) combined with @v by @adder (or subtractor). */
int sl_agg_step(sl_task_t *task, const sl_node_t *node, int add,
                    const sluice_value_t *key, const sluice_value_t *v,
                    sluice_value_t *agg, int *agg_owned) {
        const sl_agg_t *ag = node->priv;
        sluice_value_t res = sluice_null();
        int owned = 0, err;
        if (ag->kind == SL_AGG_COUNT) {
                int64_t c = agg->type == SLUICE_VALUE_INT64 ? agg->u.i64 : 0;
                *agg      = sluice_int64(add ? c + 1 : c - 1);
                return 0;
        }
        if (ag->kind == SL_AGG_REDUCE) {
                if (add && agg->type == SLUICE_VALUE_NULL) {
                        /* the first value is the aggregate as it is (shared
                         * below, like a value a callback hands back) */
                        res = *v;
                } else if ((add ? ag->red_add : ag->red_sub)(
                               agg, v, &res, node->opaque)) {
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                       "%s callback failed",
                                       add ? "reduce adder"
                                           : "reduce subtractor");
                }
        } else {
                if (add && agg->type == SLUICE_VALUE_NULL) {
                        sluice_value_t init = sluice_null();
                        if (ag->init(&init, node->opaque))
                                return sl_fail(task, node,
                                               SLUICE_ERR_CALLBACK, "%s",
                                               "initializer failed");
                        if ((err = sl_value_adopt(task, &init, &owned)))
                                return err;
                        sl_op_release_if(agg, *agg_owned);
                        *agg       = init;
                        *agg_owned = owned;
                }
                if ((add ? ag->agg_add : ag->agg_sub)(key, v, agg, &res,
                                                          node->opaque))
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                       "%s callback failed",
                                       add ? "aggregate adder"
                                           : "aggregate subtractor");
        }
        /* the input value handed back is shared, not taken over */
        if (res.type == v->type && res.type == SLUICE_VALUE_JSON &&
            res.u.json == v->u.json) {
                json_incref(res.u.json);
        } else if (res.type == v->type && res.type == SLUICE_VALUE_OBJECT &&
                   res.u.obj.ptr == v->u.obj.ptr) {
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "an aggregation callback returned the "
                               "record's object value (objects cannot be "
                               "shared)");
        }
        if ((err = adopt_result(task, &res, agg, agg_owned, &owned)))
                return err;
        sl_op_release_if(agg, *agg_owned);
        *agg       = res;
        *agg_owned = owned;
        return 0;
}

static int aggregate(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *rec, int table) {
        const sl_agg_t *ag = node->priv;
        sluice_kv_t *kv    = task->kvs[node->store];
        const void *k, *stored, *nb;
        size_t klen, slen, nlen;
        int64_t ts = rec->timestamp, sts = 0;
        sluice_value_t agg = sluice_null(), old = sluice_null();
        int agg_owned = 0, old_owned = 0, found, err, is_new_null, w;
        sluice_value_t newv, oldv;

        if (rec->key.type == SLUICE_VALUE_NULL ||
            (!table && rec->value.type == SLUICE_VALUE_NULL)) {
                task->dropped++; /* as Kafka Streams: skipped, counted */
                return 0;
        }
        if ((err = sl_op_key_bytes(task, node, rec, node->key_serde, &task->kbuf,
                             &k, &klen)))
                return err;
        task->errstr[0] = '\0';
        found = sl_kv_get(kv, k, klen, &stored, &slen, &sts);
        if (found < 0)
                return sl_op_store_fail(task, node, found);
        if (found) {
                if (ag->kind == SL_AGG_COUNT) {
                        /* int64 big-endian: no serde round trip */
                        const unsigned char *p = stored;
                        uint64_t c = 0;
                        size_t i;
                        if (slen != 8)
                                return sl_fail(task, node, SLUICE_ERR_SERDE,
                                               "%s",
                                               "stored count is not 8 bytes");
                        for (i = 0; i < 8; i++)
                                c = c << 8 | p[i];
                        agg = sluice_int64((int64_t)c);
                } else if ((err = sl_op_decode(task, node, ag->serde,
                                            stored, slen, &agg, &agg_owned))) {
                        return err;
                }
                if (ts < sts)
                        ts = sts;
                if (node->send_old) {
                        if (ag->kind == SL_AGG_COUNT || !agg_owned)
                                old = agg;
                        else if ((err = sl_op_decode(task, node, ag->serde,
                                                  stored, slen, &old,
                                                  &old_owned)))
                                goto out;
                }
        }
        newv = rec->value;
        oldv = (rec->flags & SL_REC_HAS_OLD) ? rec->old : sluice_null();
        if (table) {
                /* subtract the old row (if there is an aggregate), then
                 * add the new one */
                if (oldv.type != SLUICE_VALUE_NULL && found &&
                    (err = sl_agg_step(task, node, 0, &rec->key, &oldv, &agg,
                                    &agg_owned)))
                        goto out;
                if (newv.type != SLUICE_VALUE_NULL &&
                    (err = sl_agg_step(task, node, 1, &rec->key, &newv, &agg,
                                    &agg_owned)))
                        goto out;
                if (oldv.type == SLUICE_VALUE_NULL &&
                    newv.type == SLUICE_VALUE_NULL)
                        goto out; /* nothing changed */
        } else if ((err = sl_agg_step(task, node, 1, &rec->key, &newv, &agg,
                                   &agg_owned))) {
                goto out;
        }
        is_new_null = agg.type == SLUICE_VALUE_NULL;
        nb          = NULL;
        nlen        = 0;
        if (!is_new_null &&
            (err = sl_op_value_bytes(task, node, &agg, ag->serde, &task->vbuf,
                               &nb, &nlen)))
                goto out;
        task->errstr[0] = '\0';
        w = sl_kv_write(kv, k, klen, nb, nlen, ts);
        if (w < 0) {
                err = sl_op_store_fail(task, node, w);
                goto out;
        }
        if (w == 0) { /* written through: forward now */
                err = sl_forward_change(task, node, ag->serde, rec, rec->key,
                                     rec->raw_key_serde == node->key_serde
                                         ? rec->raw_key
                                         : NULL,
                                     rec->raw_key_len, agg, agg_owned, NULL,
                                     0, old, old_owned, ts);
                return err;
        }
out:
        sl_op_release_if(&agg, agg_owned);
        sl_op_release_if(&old, old_owned);
        return err;
}

static int stream_aggregate_process(sl_task_t *task, const sl_node_t *node,
                                    sluice_record_t *rec) {
        return aggregate(task, node, rec, 0);
}

static int table_aggregate_process(sl_task_t *task, const sl_node_t *node,
                                   sluice_record_t *rec) {
        return aggregate(task, node, rec, 1);
}

/* A view of @r for forwarding: owns nothing (@r keeps its values). */
static sluice_record_t view_of(const sluice_record_t *r) {
        sluice_record_t v = *r;
        v.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED | SL_REC_OLD_OWNED |
                     SL_REC_HDRS_PRIVATE);
        v.flags |= SL_REC_HAS_OLD;
        return v;
}

/* KTableRepartitionMap: map the new and the old row to (key, value) and
 * send the changes to their groups: one Change(new, old) when the key
 * stays, else Change(null, old) to the old group, then Change(new, null)
 * to the new one. */
static int table_group_by_process(sl_task_t *task, const sl_node_t *node,
                          sluice_record_t *rec) {
        sluice_record_t nrec = *rec, orec = *rec, fwd;
        int has_new = rec->value.type != SLUICE_VALUE_NULL,
            has_old = (rec->flags & SL_REC_HAS_OLD) &&
                      rec->old.type != SLUICE_VALUE_NULL;
        int err = 0;
        const sl_node_t *sink = node->child_cnt ? node->children[0] : NULL;

        /* an out-of-order update of a versioned table: the aggregate
         * follows the latest versions only (KTableRepartitionMap, KIP-914) */
        if (rec->flags & SL_REC_NOT_LATEST)
                return 0;
        /* views of rec: what the callback sets, they own */
        nrec.flags = orec.flags = 0;
        orec.value              = rec->old;
        orec.raw_value_serde    = NULL;
        orec.old = nrec.old = sluice_null();
        if (has_new && node->cb.map(&nrec, node->opaque)) {
                err = sl_fail(task, node, SLUICE_ERR_CALLBACK,
                              "%s callback failed", "group_by");
                goto out;
        }
        if (has_old && node->cb.map(&orec, node->opaque)) {
                err = sl_fail(task, node, SLUICE_ERR_CALLBACK,
                              "%s callback failed", "group_by");
                goto out;
        }
        has_new = has_new && nrec.key.type != SLUICE_VALUE_NULL &&
                  nrec.value.type != SLUICE_VALUE_NULL;
        has_old = has_old && orec.key.type != SLUICE_VALUE_NULL &&
                  orec.value.type != SLUICE_VALUE_NULL;
        if (has_new && has_old && sink) {
                const void *a, *b;
                size_t alen, blen;
                if ((err = sl_op_key_bytes(task, node, &nrec, sink->key_serde,
                                     &task->kbuf, &a, &alen)) ||
                    (err = sl_op_key_bytes(task, node, &orec, sink->key_serde,
                                     &task->obuf, &b, &blen)))
                        goto out;
                if (alen == blen && !memcmp(a, b, alen)) {
                        fwd     = view_of(&nrec);
                        fwd.old = orec.value;
                        err     = sl_forward(task, node, &fwd);
                        sl_record_release(&fwd);
                        goto out;
                }
        }
        if (has_old) {
                fwd       = view_of(&orec);
                fwd.value = sluice_null();
                fwd.old   = orec.value;
                err       = sl_forward(task, node, &fwd);
                sl_record_release(&fwd);
                if (err)
                        goto out;
        }
        if (has_new) {
                fwd     = view_of(&nrec);
                fwd.old = sluice_null();
                err     = sl_forward(task, node, &fwd);
                sl_record_release(&fwd);
        }
out:
        sl_record_release(&nrec);
        sl_record_release(&orec);
        return err;
}

static const sl_node_ops_t stream_aggregate_ops = {
    .family = "aggregate", .process = stream_aggregate_process, .flush = sl_table_flush};
static const sl_node_ops_t table_aggregate_ops = {
    .family = "aggregate", .process = table_aggregate_process, .flush = sl_table_flush};
static const sl_node_ops_t table_group_by_ops = {
    .family = "aggregate", .process = table_group_by_process};

/* ---- builder calls ---- */

static sluice_grouped_t *grouped_new(sluice_topology_t *t, sl_node_t *node,
                                     const sluice_serde_t *ks,
                                     const sluice_serde_t *vs,
                                     int repartition, int table) {
        sluice_grouped_t *g;
        if (!node)
                return NULL;
        if (sl_grow((void **)&t->groupeds, &t->grouped_cap, t->grouped_cnt,
                    sizeof(*t->groupeds)) ||
            !(g = calloc(1, sizeof(*g)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        g->t                          = t;
        g->node                       = node;
        g->key_serde                  = ks;
        g->value_serde                = vs;
        g->repartition                = repartition;
        g->table                      = table;
        t->groupeds[t->grouped_cnt++] = g;
        return g;
}

/* ---- grouping ---- */

sluice_grouped_t *sluice_stream_group_by_key(sluice_stream_t *s,
                                             const sluice_serde_t *key_serde,
                                             const sluice_serde_t *value_serde) {
        const char *call = "sluice_stream_group_by_key";
        if (!s || sl_topo_check_open(s->t, call) ||
            sl_serde_check(s->t, call, "key", key_serde) ||
            sl_serde_check(s->t, call, "value", value_serde))
                return NULL;
        return grouped_new(s->t, s->node,
                           key_serde ? key_serde : s->key_serde,
                           value_serde ? value_serde : s->value_serde,
                           s->key_changed, 0);
}

sluice_grouped_t *sluice_stream_group_by(sluice_stream_t *s, sluice_map_cb *cb,
                                         void *opaque,
                                         const sluice_serde_t *key_serde,
                                         const sluice_serde_t *value_serde) {
        const char *call = "sluice_stream_group_by";
        sluice_stream_t *keyed;
        if (!s || sl_topo_check_open(s->t, call) ||
            sl_serde_check(s->t, call, "key", key_serde) ||
            sl_serde_check(s->t, call, "value", value_serde))
                return NULL;
        if (!cb) {
                sl_topo_error(s->t, "%s: callback is NULL", call);
                return NULL;
        }
        if (!(keyed = sluice_stream_select_key(s, cb, opaque)))
                return NULL;
        return grouped_new(s->t, keyed->node,
                           key_serde ? key_serde : s->key_serde,
                           value_serde ? value_serde : s->value_serde, 1, 0);
}

sluice_grouped_t *sluice_table_group_by(sluice_table_t *tbl, sluice_map_cb *cb,
                                        void *opaque,
                                        const sluice_serde_t *key_serde,
                                        const sluice_serde_t *value_serde) {
        const char *call = "sluice_table_group_by";
        sl_node_t *n;
        if (!tbl || sl_topo_check_open(tbl->t, call) ||
            sl_serde_check(tbl->t, call, "key", key_serde) ||
            sl_serde_check(tbl->t, call, "value", value_serde))
                return NULL;
        if (!cb) {
                sl_topo_error(tbl->t, "%s: callback is NULL", call);
                return NULL;
        }
        if (!(n = sl_node_new(tbl->t, SL_NODE_TABLE_GROUP_BY, &table_group_by_ops,
                               tbl->node)))
                return NULL;
        n->cb.map = cb;
        n->opaque = opaque;
        return grouped_new(tbl->t, n, key_serde ? key_serde : tbl->key_serde,
                           value_serde ? value_serde : tbl->value_serde, 1,
                           1);
}

/* ---- aggregations ---- */

static sluice_table_t *aggregate_new(sluice_grouped_t *g, const char *call,
                                     sl_agg_kind_t kind, const char *store,
                                     const sluice_serde_t *agg_serde) {
        sluice_topology_t *t = g->t;
        sl_node_t *parent = g->node, *n;
        sl_agg_t *ag;
        char gen[300];
        int idx;

        if (sl_topo_check_open(t, call) ||
            sl_serde_check(t, call, "aggregate", agg_serde))
                return NULL;
        if (!g->key_serde || (kind != SL_AGG_COUNT && !g->value_serde) ||
            (g->repartition && !g->value_serde)) {
                sl_topo_error(t,
                              "%s: the grouped stream's %s serde is unknown; "
                              "pass it to the group_by call",
                              call, !g->key_serde ? "key" : "value");
                return NULL;
        }
        if (!agg_serde) {
                sl_topo_error(t, "%s: the aggregate's serde is NULL", call);
                return NULL;
        }
        if (!store) {
                /* numbered before the node, as Kafka Streams does */
                snprintf(gen, sizeof(gen), "%s%010d",
                         g->table ? "KTABLE-AGGREGATE-STATE-STORE-"
                                  : "KSTREAM-AGGREGATE-STATE-STORE-",
                         t->name_seq++);
                store = gen;
        }
        if (sl_topology_store(t, store)) {
                sl_topo_error(t, "%s: a store named \"%s\" already exists",
                              call, store);
                return NULL;
        }
        if (g->repartition) {
                /* "<app>-<store>-repartition", as Kafka Streams names it */
                sluice_stream_t tmp = {t, g->node, g->key_serde,
                                       g->value_serde, 0};
                sluice_stream_t *rs =
                    sl_repartition(&tmp, call, store, 0, g->table);
                if (!rs)
                        return NULL;
                parent = rs->node;
        }
        n = sl_node_new(t, g->table ? SL_NODE_TABLE_AGGREGATE
                                    : SL_NODE_AGGREGATE,
                        g->table ? &table_aggregate_ops : &stream_aggregate_ops,
                        parent);
        if (!n)
                return NULL;
        if (!(ag = calloc(1, sizeof(*ag)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        n->priv        = ag;
        ag->kind       = kind;
        ag->serde      = agg_serde;
        n->key_serde   = g->key_serde;
        n->value_serde = g->value_serde;
        idx = sl_store_new(t, call, store, "", g->key_serde, agg_serde, n);
        if (idx < 0)
                return NULL;
        n->store = idx;
        return sl_table_new(t, n, g->key_serde, agg_serde, idx);
}

sluice_table_t *sluice_grouped_count(sluice_grouped_t *g, const char *store) {
        if (!g)
                return NULL;
        return aggregate_new(g, "sluice_grouped_count", SL_AGG_COUNT, store,
                             sluice_serde_int64());
}

/* A table grouping needs its subtractor, a stream grouping has none. */
static int subtractor_check(sluice_grouped_t *g, const char *call,
                            int has_adder, int has_sub) {
        if (!has_adder) {
                sl_topo_error(g->t, "%s: adder is NULL", call);
                return -1;
        }
        if (g->table && !has_sub) {
                sl_topo_error(g->t,
                              "%s: a grouped table needs a subtractor (rows "
                              "that change or leave a group are subtracted)",
                              call);
                return -1;
        }
        if (!g->table && has_sub) {
                sl_topo_error(g->t,
                              "%s: a grouped stream takes no subtractor "
                              "(pass NULL)",
                              call);
                return -1;
        }
        return 0;
}

sluice_table_t *sluice_grouped_reduce(sluice_grouped_t *g,
                                      sluice_reducer_cb *adder,
                                      sluice_reducer_cb *subtractor,
                                      void *opaque, const char *store) {
        const char *call = "sluice_grouped_reduce";
        sluice_table_t *tbl;
        if (!g || subtractor_check(g, call, adder != NULL, subtractor != NULL))
                return NULL;
        if (!g->value_serde) {
                sl_topo_error(g->t,
                              "%s: the grouped stream's value serde is "
                              "unknown; pass it to the group_by call",
                              call);
                return NULL;
        }
        tbl = aggregate_new(g, call, SL_AGG_REDUCE, store, g->value_serde);
        if (tbl) {
                sl_agg_t *ag       = tbl->node->priv;
                ag->red_add        = adder;
                ag->red_sub        = subtractor;
                tbl->node->opaque  = opaque;
        }
        return tbl;
}

sluice_table_t *sluice_grouped_aggregate(sluice_grouped_t *g,
                                         sluice_initializer_cb *init,
                                         sluice_aggregator_cb *adder,
                                         sluice_aggregator_cb *subtractor,
                                         void *opaque,
                                         const sluice_serde_t *agg_serde,
                                         const char *store) {
        const char *call = "sluice_grouped_aggregate";
        sluice_table_t *tbl;
        if (!g || subtractor_check(g, call, adder != NULL, subtractor != NULL))
                return NULL;
        if (!init) {
                sl_topo_error(g->t, "%s: initializer is NULL", call);
                return NULL;
        }
        tbl = aggregate_new(g, call, SL_AGG_AGGREGATE, store, agg_serde);
        if (tbl) {
                sl_agg_t *ag      = tbl->node->priv;
                ag->init          = init;
                ag->agg_add       = adder;
                ag->agg_sub       = subtractor;
                tbl->node->opaque = opaque;
        }
        return tbl;
}
