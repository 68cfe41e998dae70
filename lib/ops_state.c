/*
 * ops_state.c - the topology's stores and the processor builder call;
 * their freeze and free. (Groupings and aggregations are in
 * op_aggregate.c, tables in op_table.c.)
 *
 * Every store has the changelog <application.id>-<store>-changelog.
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
int sl_store_new(sluice_topology_t *t, const char *call, const char *name,
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
        return sl_store_new(t, call, name, "", NULL, NULL, NULL) < 0
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
        sl_table_freeze(t);
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

