/*
 * ops_state.c - the builder for stateful operators: groupings,
 * aggregations, tables, processors and their stores. What the nodes do at
 * run time is in state_ops.c.
 *
 * Names follow Kafka Streams: KSTREAM-AGGREGATE-<n> with the store
 * KSTREAM-AGGREGATE-STATE-STORE-<n>, KTABLE-SOURCE-<n> with the store
 * <topic>-STATE-STORE-<n>; a grouping that must repartition uses the topic
 * <application.id>-<store>-repartition; every store has the changelog
 * <application.id>-<store>-changelog.
 */
#include "topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sl_store_def_t *sl_topology_store(const sluice_topology_t *t,
                                  const char *name) {
        size_t i;
        for (i = 0; i < t->store_cnt; i++)
                if (!strcmp(t->stores[i]->name, name))
                        return t->stores[i];
        return NULL;
}

/* A new store; @name NULL: "<prefix><n>" with the next node number.
 * Returns its index, or -1 (error recorded). */
static int store_new(sluice_topology_t *t, const char *call, const char *name,
                     const char *prefix, const sluice_serde_t *ks,
                     const sluice_serde_t *vs, sl_node_t *owner) {
        char gen[300], topic[320];
        sl_store_def_t *d;
        if (!name) {
                snprintf(gen, sizeof(gen), "%s%010d", prefix, t->name_seq++);
                name = gen;
        }
        snprintf(topic, sizeof(topic), "%s-changelog", name);
        if (!*name || strlen(name) > 180 ||
            !sl_topic_name_valid(topic, NULL, 0)) {
                sl_topo_error(t,
                              "%s: store name \"%s\" cannot name its "
                              "changelog topic (legal: a-z A-Z 0-9 . _ -, "
                              "at most 180)",
                              call, name);
                return -1;
        }
        if (sl_topology_store(t, name)) {
                sl_topo_error(t, "%s: a store named \"%s\" already exists",
                              call, name);
                return -1;
        }
        if (sl_grow((void **)&t->stores, &t->store_cap, t->store_cnt,
                    sizeof(*t->stores)) ||
            !(d = calloc(1, sizeof(*d)))) {
                sl_topo_error(t, "out of memory");
                return -1;
        }
        if (!(d->name = sl_strdup(name))) {
                free(d);
                sl_topo_error(t, "out of memory");
                return -1;
        }
        d->idx         = (int)t->store_cnt;
        d->subtopology = -1;
        d->key_serde   = ks;
        d->value_serde = vs;
        d->owner       = owner;
        t->stores[t->store_cnt++] = d;
        return d->idx;
}

static sluice_table_t *table_new(sluice_topology_t *t, sl_node_t *node,
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
        if (!(n = sl_node_new(tbl->t, SL_NODE_TABLE_GROUP_BY, &sl_state_ops,
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
                        &sl_state_ops, parent);
        if (!n)
                return NULL;
        n->agg         = kind;
        n->agg_serde   = agg_serde;
        n->key_serde   = g->key_serde;
        n->value_serde = g->value_serde;
        idx = store_new(t, call, store, "", g->key_serde, agg_serde, n);
        if (idx < 0)
                return NULL;
        n->store = idx;
        return table_new(t, n, g->key_serde, agg_serde, idx);
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
                tbl->node->red_add = adder;
                tbl->node->red_sub = subtractor;
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
                tbl->node->init    = init;
                tbl->node->agg_add = adder;
                tbl->node->agg_sub = subtractor;
                tbl->node->opaque  = opaque;
        }
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
        if (!(n = sl_node_new(t, SL_NODE_TABLE_SOURCE, &sl_state_ops,
                               src->node)))
                return NULL;
        n->key_serde   = src->key_serde;
        n->value_serde = src->value_serde;
        idx = store_new(t, call, store, "", src->key_serde, src->value_serde,
                        n);
        if (idx < 0)
                return NULL;
        n->store = idx;
        return table_new(t, n, src->key_serde, src->value_serde, idx);
}

static sluice_table_t *table_op(sluice_table_t *tbl, const char *call,
                                sl_node_kind_t kind, void (*cb)(void),
                                void *opaque, const sluice_serde_t *vs) {
        sl_node_t *n;
        if (!tbl || sl_topo_check_open(tbl->t, call))
                return NULL;
        if (!cb) {
                sl_topo_error(tbl->t, "%s: callback is NULL", call);
                return NULL;
        }
        if (!(n = sl_node_new(tbl->t, kind, &sl_state_ops, tbl->node)))
                return NULL;
        if (kind == SL_NODE_TABLE_MAP_VALUES)
                n->cb.map = (sluice_map_cb *)cb;
        else
                n->cb.pred = (sluice_predicate_cb *)cb;
        n->opaque = opaque;
        return table_new(tbl->t, n, tbl->key_serde, vs, -1);
}

sluice_table_t *sluice_table_filter(sluice_table_t *tbl,
                                    sluice_predicate_cb *cb, void *opaque) {
        return table_op(tbl, "sluice_table_filter", SL_NODE_TABLE_FILTER,
                        (void (*)(void))cb, opaque,
                        tbl ? tbl->value_serde : NULL);
}

sluice_table_t *sluice_table_filter_not(sluice_table_t *tbl,
                                        sluice_predicate_cb *cb,
                                        void *opaque) {
        return table_op(tbl, "sluice_table_filter_not",
                        SL_NODE_TABLE_FILTER_NOT, (void (*)(void))cb, opaque,
                        tbl ? tbl->value_serde : NULL);
}

sluice_table_t *sluice_table_map_values(sluice_table_t *tbl, sluice_map_cb *cb,
                                        void *opaque,
                                        const sluice_serde_t *value_serde) {
        if (tbl && sl_serde_check(tbl->t, "sluice_table_map_values", "value",
                                  value_serde))
                return NULL;
        return table_op(tbl, "sluice_table_map_values",
                        SL_NODE_TABLE_MAP_VALUES, (void (*)(void))cb, opaque,
                        value_serde);
}

sluice_stream_t *sluice_table_to_stream(sluice_table_t *tbl) {
        sl_node_t *n;
        if (!tbl || sl_topo_check_open(tbl->t, "sluice_table_to_stream"))
                return NULL;
        if (!(n = sl_node_new(tbl->t, SL_NODE_TO_STREAM, &sl_state_ops,
                               tbl->node)))
                return NULL;
        return sl_stream_new(tbl->t, n, tbl->key_serde, tbl->value_serde);
}

const char *sluice_table_store_name(const sluice_table_t *tbl) {
        if (!tbl || tbl->store < 0)
                return NULL;
        return tbl->t->stores[tbl->store]->name;
}

/* ---- stores and processors ---- */

int sluice_topology_set_store_type(sluice_topology_t *t, const char *store,
                                   const char *type) {
        const char *call = "sluice_topology_set_store_type";
        sl_store_def_t *d;
        char *dup;
        if (!t)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (!store || !type || !*type) {
                sl_topo_error(t, "%s: store and type must be given", call);
                return SLUICE_ERR_TOPOLOGY;
        }
        if (!(d = sl_topology_store(t, store))) {
                sl_topo_error(t, "%s: no store named \"%s\" (set the type "
                                 "after the operator that makes it)",
                              call, store);
                return SLUICE_ERR_TOPOLOGY;
        }
        if (!(dup = sl_strdup(type))) {
                sl_topo_error(t, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        free(d->type);
        d->type = dup;
        return 0;
}

int sluice_topology_add_store(sluice_topology_t *t, const char *name) {
        const char *call = "sluice_topology_add_store";
        if (!t)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (!name) {
                sl_topo_error(t, "%s: name is NULL", call);
                return SLUICE_ERR_TOPOLOGY;
        }
        return store_new(t, call, name, "", NULL, NULL, NULL) < 0
                   ? SLUICE_ERR_TOPOLOGY
                   : 0;
}

sluice_stream_t *sluice_stream_process(sluice_stream_t *s,
                                       const sluice_processor_t *proc,
                                       const char *const *stores,
                                       size_t store_cnt) {
        const char *call = "sluice_stream_process";
        sluice_stream_t *out;
        sl_node_t *n;
        size_t i;
        if (!s || sl_topo_check_open(s->t, call))
                return NULL;
        if (!proc || !proc->process) {
                sl_topo_error(s->t, "%s: processor or its process function "
                                    "is NULL",
                              call);
                return NULL;
        }
        if (store_cnt && !stores) {
                sl_topo_error(s->t, "%s: stores is NULL", call);
                return NULL;
        }
        for (i = 0; i < store_cnt; i++) {
                sl_store_def_t *d = stores[i] ? sl_topology_store(s->t, stores[i])
                                              : NULL;
                if (!d) {
                        sl_topo_error(s->t,
                                      "%s: no store named \"%s\" (add it "
                                      "with sluice_topology_add_store())",
                                      call, stores[i] ? stores[i] : "(null)");
                        return NULL;
                }
                if (d->owner) {
                        sl_topo_error(s->t,
                                      "%s: store \"%s\" belongs to node "
                                      "\"%s\"",
                                      call, d->name, d->owner->name);
                        return NULL;
                }
        }
        if (!(n = sl_node_new(s->t, SL_NODE_PROCESSOR, &sl_state_ops,
                               s->node)))
                return NULL;
        n->proc = *proc;
        if (store_cnt && !(n->stores = calloc(store_cnt, sizeof(int)))) {
                sl_topo_error(s->t, "out of memory");
                return NULL;
        }
        for (i = 0; i < store_cnt; i++)
                n->stores[i] = sl_topology_store(s->t, stores[i])->idx;
        n->store_cnt = store_cnt;
        out = sl_stream_new(s->t, n, NULL, NULL);
        if (out)
                out->key_changed = 1; /* as Kafka Streams assumes */
        return out;
}

/* ---- freeze and free ---- */

int sl_topology_state_freeze(sluice_topology_t *t, const char *app_id,
                             char *errstr, size_t errstr_size) {
        size_t i, j;
        for (i = 0; i < t->store_cnt; i++) {
                sl_store_def_t *d = t->stores[i];
                size_t n = strlen(app_id) + strlen(d->name) + 12;
                if (!(d->changelog = malloc(n))) {
                        sl_errstr(errstr, errstr_size, "out of memory");
                        return SLUICE_ERR_NOMEM;
                }
                snprintf(d->changelog, n, "%s-%s-changelog", app_id, d->name);
                if (d->owner)
                        d->subtopology = d->owner->subtopology;
        }
        /* a processor store belongs to one sub-topology */
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                for (j = 0; j < nd->store_cnt; j++) {
                        sl_store_def_t *d = t->stores[nd->stores[j]];
                        if (d->subtopology < 0) {
                                d->subtopology = nd->subtopology;
                        } else if (d->subtopology != nd->subtopology) {
                                sl_errstr(errstr, errstr_size,
                                          "store \"%s\" is used by "
                                          "processors of different "
                                          "sub-topologies (%d and %d); a "
                                          "store belongs to one",
                                          d->name, d->subtopology,
                                          nd->subtopology);
                                return SLUICE_ERR_TOPOLOGY;
                        }
                }
        }
        /* old values flow from a table to a group_by below it */
        for (i = 0; i < t->node_cnt; i++) {
                sl_node_t *nd = t->nodes[i];
                if (nd->kind != SL_NODE_TABLE_GROUP_BY)
                        continue;
                while (nd->parent_cnt == 1) {
                        nd           = nd->parents[0];
                        nd->send_old = 1;
                        if (nd->kind != SL_NODE_TABLE_FILTER &&
                            nd->kind != SL_NODE_TABLE_FILTER_NOT &&
                            nd->kind != SL_NODE_TABLE_MAP_VALUES)
                                break;
                }
        }
        return 0;
}

void sl_topology_state_free(sluice_topology_t *t) {
        size_t i;
        for (i = 0; i < t->store_cnt; i++) {
                free(t->stores[i]->name);
                free(t->stores[i]->type);
                free(t->stores[i]->changelog);
                free(t->stores[i]);
        }
        for (i = 0; i < t->table_cnt; i++)
                free(t->tables[i]);
        for (i = 0; i < t->grouped_cnt; i++)
                free(t->groupeds[i]);
        free(t->stores);
        free(t->tables);
        free(t->groupeds);
}
