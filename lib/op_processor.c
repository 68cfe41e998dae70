/*
 * op_processor.c - the Processor API: sluice_stream_process() and what a
 * processor node does: its context (one per task, the node's per-task
 * state), the stores connected to it, forwarding, and the punctuations
 * it schedules in init.
 */
#include "task.h"

#include <stdlib.h>
#include <string.h>

typedef struct sl_punct_s {
        sluice_punctuation_t type;
        int64_t interval, next;
        sluice_punctuate_cb *cb;
        void *opaque;
} sl_punct_t;

/* A processor's per-task state (task->node_state[node->id]). */
struct sluice_context_s {
        sl_task_t *task;
        const sl_node_t *node;
        const sluice_processor_t *proc; /* node->priv */
        const sluice_record_t *rec; /* the current record, NULL in a
                                       punctuation */
        int64_t ts;                 /* current record's / punctuation's */
        int in_init;
        sl_punct_t *puncts; /* scheduled in init, in order */
        size_t punct_cnt, punct_cap;
};

/* ---- what the nodes do ---- */

static int processor_process(sl_task_t *task, const sl_node_t *node,
                             sluice_record_t *rec) {
        sluice_context_t *ctx = task->node_state[node->id];
        int r;
        ctx->rec = rec;
        ctx->ts  = rec->timestamp;
        r        = ctx->proc->process(ctx, rec, ctx->proc->opaque);
        ctx->rec = NULL;
        if (r && task->errstr[0] == '\0')
                return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                               "%s callback failed", "process");
        if (r)
                return r < 0 ? r : SLUICE_ERR_CALLBACK;
        return 0;
}

/* The task starts: a context; init waits for the stores (ready). */
static int processor_open(sl_task_t *task, const sl_node_t *node,
                          char *errstr, size_t errstr_size) {
        sluice_context_t *ctx = calloc(1, sizeof(*ctx));
        if (!ctx) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        ctx->task                   = task;
        ctx->node                   = node;
        ctx->proc                   = node->priv;
        ctx->ts                     = -1;
        task->node_state[node->id] = ctx;
        return 0;
}

static int processor_ready(sl_task_t *task, const sl_node_t *node,
                           char *errstr, size_t errstr_size) {
        sluice_context_t *ctx = task->node_state[node->id];
        int r;
        if (!ctx || !ctx->proc->init)
                return 0;
        ctx->in_init = 1;
        r            = ctx->proc->init(ctx, ctx->proc->opaque);
        ctx->in_init = 0;
        if (r) {
                sl_errstr(errstr, errstr_size,
                          "node \"%s\": init callback failed", node->name);
                return SLUICE_ERR_CALLBACK;
        }
        return 0;
}

/* Run the punctuations of @type due at @now (each at most once: a jump
 * over several intervals runs it once, as Kafka Streams). */
static int processor_punctuate(sl_task_t *task, const sl_node_t *node,
                               sluice_punctuation_t type, int64_t now) {
        sluice_context_t *ctx = task->node_state[node->id];
        size_t i;
        for (i = 0; ctx && i < ctx->punct_cnt; i++) {
                sl_punct_t *p = &ctx->puncts[i];
                int r;
                if (p->type != type || now < p->next)
                        continue;
                p->next += p->interval *
                           ((now - p->next) / p->interval + 1);
                ctx->ts  = now;
                ctx->rec = NULL;
                r        = p->cb(ctx, now, p->opaque);
                if (r) {
                        if (task->errstr[0] == '\0' || r > 0)
                                sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                        "%s callback failed", "punctuation");
                        return r < 0 ? r : SLUICE_ERR_CALLBACK;
                }
        }
        return 0;
}

static void processor_close(sl_task_t *task, const sl_node_t *node) {
        sluice_context_t *ctx = task->node_state[node->id];
        if (!ctx)
                return;
        if (ctx->proc->close)
                ctx->proc->close(ctx, ctx->proc->opaque);
        free(ctx->puncts);
        free(ctx);
        task->node_state[node->id] = NULL;
}

static const sl_node_ops_t processor_ops = {
    .family    = "processor",
    .process   = processor_process,
    .open      = processor_open,
    .ready     = processor_ready,
    .punctuate = processor_punctuate,
    .close     = processor_close};

/* ---- the context API ---- */

sluice_kv_t *sluice_context_store(sluice_context_t *ctx, const char *name) {
        size_t i;
        if (!ctx || !name)
                return NULL;
        for (i = 0; i < ctx->node->store_cnt; i++) {
                int idx = ctx->node->stores[i];
                if (!strcmp(ctx->task->t->stores[idx]->name, name))
                        return ctx->task->kvs[idx];
        }
        return NULL;
}

int sluice_context_forward_ts(sluice_context_t *ctx, sluice_value_t key,
                              sluice_value_t value, int64_t timestamp) {
        if (!ctx || ctx->in_init)
                return SLUICE_ERR_STATE;
        return sl_emit_from(ctx->task, ctx->node, ctx->rec, key, value,
                            timestamp);
}

int sluice_context_forward(sluice_context_t *ctx, sluice_value_t key,
                           sluice_value_t value) {
        return sluice_context_forward_ts(ctx, key, value, ctx ? ctx->ts : 0);
}

int sluice_context_schedule(sluice_context_t *ctx, sluice_punctuation_t type,
                            int64_t interval_ms, sluice_punctuate_cb *cb,
                            void *opaque) {
        sl_task_t *task;
        sl_punct_t *p;
        if (!ctx || !cb || interval_ms <= 0 ||
            (type != SLUICE_PUNCTUATE_STREAM_TIME &&
             type != SLUICE_PUNCTUATE_WALL_CLOCK))
                return SLUICE_ERR_INVALID_ARG;
        if (!ctx->in_init)
                return SLUICE_ERR_STATE;
        task = ctx->task;
        if (sl_grow((void **)&ctx->puncts, &ctx->punct_cap, ctx->punct_cnt,
                    sizeof(*ctx->puncts)))
                return SLUICE_ERR_NOMEM;
        p = &ctx->puncts[ctx->punct_cnt++];
        task->punct_cnt++; /* the task asks for punctuations */
        p->type     = type;
        p->interval = interval_ms;
        /* stream time: from 0, as Kafka Streams; wall clock: one interval
         * from now */
        p->next   = type == SLUICE_PUNCTUATE_STREAM_TIME
                        ? 0
                        : task->wall_time + interval_ms;
        p->cb     = cb;
        p->opaque = opaque;
        return 0;
}

int64_t sluice_context_timestamp(const sluice_context_t *ctx) {
        return ctx ? ctx->ts : -1;
}
int32_t sluice_context_partition(const sluice_context_t *ctx) {
        return ctx ? ctx->task->partition : -1;
}
int64_t sluice_context_stream_time(const sluice_context_t *ctx) {
        return ctx ? ctx->task->stream_time : -1;
}

/* ---- builder call ---- */

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
        if (!(n = sl_node_new(s->t, SL_NODE_PROCESSOR, &processor_ops,
                               s->node)))
                return NULL;
        if (!(n->priv = malloc(sizeof(*proc)))) {
                sl_topo_error(s->t, "out of memory");
                return NULL;
        }
        *(sluice_processor_t *)n->priv = *proc;
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

