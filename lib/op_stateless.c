/*
 * op_stateless.c - the stateless operators: map, map_values, select_key,
 * filter, filter_not, flat_map, flat_map_values, peek, foreach, merge and
 * branch. Each has its builder call and its node table here; a record
 * goes through one of them with one indirect call and no lookups.
 */
#include "task.h"

#include <stdlib.h>
#include <string.h>

/* ---- what the nodes do ---- */

/* Run a map-like callback; @what names it in errors. */
static int run_map(sl_task_t *task, const sl_node_t *node,
                   sluice_record_t *rec, const char *what) {
        rec->flags &= ~(SL_REC_KEY_SET | SL_REC_VALUE_SET);
        if (node->cb.map(rec, node->opaque))
                return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                               "%s callback failed", what);
        return 0;
}

static int map_process(sl_task_t *task, const sl_node_t *node,
                       sluice_record_t *rec) {
        int err = run_map(task, node, rec, "map");
        return err ? err : sl_forward(task, node, rec);
}

static int map_values_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        int err = run_map(task, node, rec, "map");
        if (err)
                return err;
        if (rec->flags & SL_REC_KEY_SET)
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "map_values callback changed the key");
        return sl_forward(task, node, rec);
}

static int select_key_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        int err = run_map(task, node, rec, "map");
        if (err)
                return err;
        if (rec->flags & SL_REC_VALUE_SET)
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "select_key callback changed the value");
        return sl_forward(task, node, rec);
}

static int filter_process(sl_task_t *task, const sl_node_t *node,
                          sluice_record_t *rec) {
        if (!node->cb.pred(rec, node->opaque))
                return 0;
        return sl_forward(task, node, rec);
}

static int filter_not_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        if (node->cb.pred(rec, node->opaque))
                return 0;
        return sl_forward(task, node, rec);
}

static int flat_map_run(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec, int values_only) {
        sluice_emitter_t out = {task, node, rec, values_only, 0, 0, 0};
        int err              = node->cb.flat(rec, &out, node->opaque);
        /* a failed emit fails the record, whatever the callback returned
         * after it */
        if (out.err)
                return out.err;
        if (err)
                return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                               "%s callback failed", "flat_map");
        return 0;
}

static int flat_map_process(sl_task_t *task, const sl_node_t *node,
                            sluice_record_t *rec) {
        return flat_map_run(task, node, rec, 0);
}

static int flat_map_values_process(sl_task_t *task, const sl_node_t *node,
                                   sluice_record_t *rec) {
        return flat_map_run(task, node, rec, 1);
}

static int peek_process(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec) {
        node->cb.foreach(rec, node->opaque);
        return sl_forward(task, node, rec);
}

static int foreach_process(sl_task_t *task, const sl_node_t *node,
                           sluice_record_t *rec) {
        (void)task;
        node->cb.foreach(rec, node->opaque);
        return 0;
}

/* merge, a branch's children: the record goes on as it is */
static int pass_process(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec) {
        return sl_forward(task, node, rec);
}

/* A branch node's predicates, one per child in order (NULL: default). */
typedef struct sl_branch_s {
        size_t cnt;
        struct {
                sluice_predicate_cb *pred;
                void *opaque;
        } arm[];
} sl_branch_t;

static int branch_process(sl_task_t *task, const sl_node_t *node,
                          sluice_record_t *rec) {
        const sl_branch_t *b = node->priv;
        size_t i;
        for (i = 0; i < node->child_cnt; i++)
                if (!b->arm[i].pred || b->arm[i].pred(rec, b->arm[i].opaque))
                        return sl_process(task, node->children[i], rec);
        return 0;
}

#define SL_STATELESS(name, fn)                                                 \
        static const sl_node_ops_t name = {.family  = "stateless",         \
                                           .process = fn}
SL_STATELESS(map_ops, map_process);
SL_STATELESS(map_values_ops, map_values_process);
SL_STATELESS(select_key_ops, select_key_process);
SL_STATELESS(filter_ops, filter_process);
SL_STATELESS(filter_not_ops, filter_not_process);
SL_STATELESS(flat_map_ops, flat_map_process);
SL_STATELESS(flat_map_values_ops, flat_map_values_process);
SL_STATELESS(peek_ops, peek_process);
SL_STATELESS(foreach_ops, foreach_process);
SL_STATELESS(merge_ops, pass_process);
SL_STATELESS(branch_ops, branch_process);
SL_STATELESS(branch_child_ops, pass_process);

/* ---- builder calls ---- */

/* A one-parent operator node with a callback. */
static sluice_stream_t *op_new(sluice_stream_t *s, const char *call,
                               sl_node_kind_t kind, const sl_node_ops_t *ops,
                               void (*cb)(void), void *opaque) {
        sl_node_t *n;
        if (!s)
                return NULL;
        if (sl_topo_check_open(s->t, call))
                return NULL;
        if (!cb) {
                sl_topo_error(s->t, "%s: callback is NULL", call);
                return NULL;
        }
        n = sl_node_new(s->t, kind, ops, s->node);
        if (!n)
                return NULL;
        n->opaque = opaque;
        switch (kind) {
        case SL_NODE_MAP:
        case SL_NODE_MAP_VALUES:
        case SL_NODE_SELECT_KEY: n->cb.map = (sluice_map_cb *)cb; break;
        case SL_NODE_FILTER:
        case SL_NODE_FILTER_NOT: n->cb.pred = (sluice_predicate_cb *)cb; break;
        case SL_NODE_FLAT_MAP:
        case SL_NODE_FLAT_MAP_VALUES:
                n->cb.flat = (sluice_flat_map_cb *)cb;
                break;
        default: n->cb.foreach = (sluice_foreach_cb *)cb; break;
        }
        {
                sluice_stream_t *out =
                    sl_stream_new(s->t, n, s->key_serde, s->value_serde);
                /* a grouping after a key change repartitions first */
                if (out)
                        out->key_changed =
                            s->key_changed || kind == SL_NODE_MAP ||
                            kind == SL_NODE_SELECT_KEY ||
                            kind == SL_NODE_FLAT_MAP;
                return out;
        }
}

#define OP(s, call, kind, ops, cb, opaque)                                     \
        op_new(s, call, kind, &ops, (void (*)(void))(cb), opaque)

sluice_stream_t *sluice_stream_map(sluice_stream_t *s, sluice_map_cb *cb,
                                   void *opaque) {
        return OP(s, "sluice_stream_map", SL_NODE_MAP, map_ops, cb, opaque);
}
sluice_stream_t *sluice_stream_map_values(sluice_stream_t *s,
                                          sluice_map_cb *cb, void *opaque) {
        return OP(s, "sluice_stream_map_values", SL_NODE_MAP_VALUES,
                  map_values_ops, cb, opaque);
}
sluice_stream_t *sluice_stream_select_key(sluice_stream_t *s,
                                          sluice_map_cb *cb, void *opaque) {
        return OP(s, "sluice_stream_select_key", SL_NODE_SELECT_KEY,
                  select_key_ops, cb, opaque);
}
sluice_stream_t *sluice_stream_filter(sluice_stream_t *s,
                                      sluice_predicate_cb *cb, void *opaque) {
        return OP(s, "sluice_stream_filter", SL_NODE_FILTER, filter_ops, cb,
                  opaque);
}
sluice_stream_t *sluice_stream_filter_not(sluice_stream_t *s,
                                          sluice_predicate_cb *cb,
                                          void *opaque) {
        return OP(s, "sluice_stream_filter_not", SL_NODE_FILTER_NOT,
                  filter_not_ops, cb, opaque);
}
sluice_stream_t *sluice_stream_flat_map(sluice_stream_t *s,
                                        sluice_flat_map_cb *cb, void *opaque) {
        return OP(s, "sluice_stream_flat_map", SL_NODE_FLAT_MAP, flat_map_ops,
                  cb, opaque);
}
sluice_stream_t *sluice_stream_flat_map_values(sluice_stream_t *s,
                                               sluice_flat_map_cb *cb,
                                               void *opaque) {
        return OP(s, "sluice_stream_flat_map_values", SL_NODE_FLAT_MAP_VALUES,
                  flat_map_values_ops, cb, opaque);
}
sluice_stream_t *sluice_stream_peek(sluice_stream_t *s, sluice_foreach_cb *cb,
                                    void *opaque) {
        return OP(s, "sluice_stream_peek", SL_NODE_PEEK, peek_ops, cb, opaque);
}
int sluice_stream_foreach(sluice_stream_t *s, sluice_foreach_cb *cb,
                          void *opaque) {
        if (!s)
                return SLUICE_ERR_INVALID_ARG;
        return OP(s, "sluice_stream_foreach", SL_NODE_FOREACH, foreach_ops, cb,
                  opaque)
                   ? 0
                   : SLUICE_ERR_TOPOLOGY;
}

sluice_stream_t *sluice_stream_merge(sluice_stream_t *a, sluice_stream_t *b) {
        sl_node_t *n;
        if (!a || !b)
                return NULL;
        if (a->t != b->t) {
                sl_topo_error(a->t, "sluice_stream_merge: the streams belong "
                                   "to different topologies");
                sl_topo_error(b->t, "sluice_stream_merge: the streams belong "
                                   "to different topologies");
                return NULL;
        }
        if (sl_topo_check_open(a->t, "sluice_stream_merge"))
                return NULL;
        if (a->node == b->node) {
                sl_topo_error(a->t, "sluice_stream_merge: a stream cannot be "
                                   "merged with itself");
                return NULL;
        }
        n = sl_node_new(a->t, SL_NODE_MERGE, &merge_ops, a->node);
        if (!n)
                return NULL;
        if (sl_node_link(b->node, n)) {
                sl_topo_error(a->t, "out of memory");
                return NULL;
        }
        /* serdes survive a merge only where both sides agree */
        {
                sluice_stream_t *out = sl_stream_new(
                    a->t, n,
                    a->key_serde == b->key_serde ? a->key_serde : NULL,
                    a->value_serde == b->value_serde ? a->value_serde : NULL);
                if (out)
                        out->key_changed = a->key_changed || b->key_changed;
                return out;
        }
}

int sluice_stream_branch(sluice_stream_t *s, size_t n,
                         sluice_predicate_cb *const *preds,
                         void *const *opaques, sluice_stream_t **out) {
        sluice_topology_t *t;
        sl_node_t *br;
        sl_branch_t *b;
        size_t i;
        if (!s)
                return SLUICE_ERR_INVALID_ARG;
        t = s->t;
        if (sl_topo_check_open(t, "sluice_stream_branch"))
                return SLUICE_ERR_TOPOLOGY;
        if (n == 0 || !preds || !out) {
                sl_topo_error(t, "sluice_stream_branch: needs at least one "
                                "predicate and an output array");
                return SLUICE_ERR_TOPOLOGY;
        }
        for (i = 0; i + 1 < n; i++)
                if (!preds[i]) {
                        sl_topo_error(t,
                                     "sluice_stream_branch: predicate %zu "
                                     "of %zu is NULL; only the last (the "
                                     "default branch) may be",
                                     i, n);
                        return SLUICE_ERR_TOPOLOGY;
                }
        br = sl_node_new(t, SL_NODE_BRANCH, &branch_ops, s->node);
        if (!br)
                return SLUICE_ERR_NOMEM;
        b = calloc(1, sizeof(*b) + n * sizeof(b->arm[0]));
        if (!b) {
                sl_topo_error(t, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        b->cnt   = n;
        br->priv = b;
        for (i = 0; i < n; i++) {
                sl_node_t *child;
                b->arm[i].pred   = preds[i];
                b->arm[i].opaque = opaques ? opaques[i] : NULL;
                child = sl_node_new(t, SL_NODE_BRANCH_CHILD, &branch_child_ops,
                                    br);
                out[i] = sl_stream_new(t, child, s->key_serde, s->value_serde);
                if (!out[i])
                        return SLUICE_ERR_NOMEM;
                out[i]->key_changed = s->key_changed;
        }
        return 0;
}
