/*
 * state_ops.c - what processor nodes do with a record, and a task's state:
 * opening its stores, flushing caches at commit, checkpoints, processor
 * contexts and punctuation. (Aggregations are in op_aggregate.c, tables
 * in op_table.c.)
 */
#include "conf.h"
#include "state.h"
#include "task.h"

#include <stdlib.h>
#include <string.h>

struct sluice_context_s {
        sl_task_t *task;
        const sl_node_t *node;
        const sluice_record_t *rec; /* the current record, NULL in a
                                       punctuation */
        int64_t ts;                 /* current record's / punctuation's */
        int in_init;
};

typedef struct sl_punct_s {
        sluice_context_t *ctx;
        sluice_punctuation_t type;
        int64_t interval, next;
        sluice_punctuate_cb *cb;
        void *opaque;
} sl_punct_t;

/* ---- processors ---- */

static int processor(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *rec) {
        sluice_context_t *ctx = task->ctxs[node->id];
        int r;
        ctx->rec = rec;
        ctx->ts  = rec->timestamp;
        r        = node->proc.process(ctx, rec, node->proc.opaque);
        ctx->rec = NULL;
        if (r && task->errstr[0] == '\0')
                return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                               "%s callback failed", "process");
        if (r)
                return r < 0 ? r : SLUICE_ERR_CALLBACK;
        return 0;
}

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
        if (sl_grow((void **)&task->puncts, &task->punct_cap, task->punct_cnt,
                    sizeof(*task->puncts)))
                return SLUICE_ERR_NOMEM;
        p           = &task->puncts[task->punct_cnt++];
        p->ctx      = ctx;
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

/* Run the punctuations of @type due at @now (each at most once: a jump
 * over several intervals runs it once, as Kafka Streams). */
static int punctuate(sl_task_t *task, sluice_punctuation_t type,
                     int64_t now) {
        size_t i;
        for (i = 0; i < task->punct_cnt; i++) {
                sl_punct_t *p = &task->puncts[i];
                int r;
                if (p->type != type || now < p->next)
                        continue;
                p->next += p->interval *
                           ((now - p->next) / p->interval + 1);
                p->ctx->ts  = now;
                p->ctx->rec = NULL;
                r           = p->cb(p->ctx, now, p->opaque);
                if (r) {
                        if (task->errstr[0] == '\0' || r > 0)
                                sl_fail(task, p->ctx->node,
                                        SLUICE_ERR_CALLBACK,
                                        "%s callback failed", "punctuation");
                        return r < 0 ? r : SLUICE_ERR_CALLBACK;
                }
        }
        return 0;
}

int sl_task_punctuate_stream(sl_task_t *task) {
        if (task->stream_time < 0)
                return 0;
        return punctuate(task, SLUICE_PUNCTUATE_STREAM_TIME,
                         task->stream_time);
}

int sl_task_punctuate_wall(sl_task_t *task, int64_t now_ms) {
        int err;
        task->wall_time = now_ms;
        if (!task->punct_cnt)
                return 0;
        err = punctuate(task, SLUICE_PUNCTUATE_WALL_CLOCK, now_ms);
        sl_arena_reset(&task->arena);
        return err;
}

/* ---- the task's state ---- */

static int state_process(sl_task_t *task, const sl_node_t *node,
                         sluice_record_t *rec) {
        switch (node->kind) {
        case SL_NODE_PROCESSOR: return processor(task, node, rec);
        default: break;
        }
        return sl_fail(task, node, SLUICE_ERR_STATE, "%s",
                       "unknown node kind");
}

/* Interim: the stateful nodes share one table until their families have
 * files of their own. */
const sl_node_ops_t sl_state_ops = {"state", state_process, NULL, NULL,
                                    NULL,    NULL,          NULL};

int sl_task_start(sl_task_t *task, const char *state_base,
                  sl_cache_budget_t *budget, int locking, char *errstr,
                  size_t errstr_size) {
        const sluice_topology_t *t = task->t;
        size_t i;
        if (task->started)
                return 0;
        task->started = 1;
        task->budget  = budget;
        if (locking) {
                if (mtx_init(&task->lock, mtx_plain) != thrd_success) {
                        sl_errstr(errstr, errstr_size,
                                  "cannot create a mutex");
                        return SLUICE_ERR_STATE;
                }
                task->locking = 1;
        }
        if (!(task->dir = sl_task_dir(state_base, task->subtopology,
                                      task->partition)))
                goto oom;
        {
                char why[SL_ERRSTR_SIZE];
                if (sl_checkpoint_check(task->dir, why, sizeof(why)))
                        sl_log(task->conf, SLUICE_LOG_WARNING, "STATE",
                               "task %d_%d: the checkpoint file is damaged "
                               "(%s): its offsets are not trusted; stores "
                               "that keep their own offset use it, the "
                               "others restore all of their changelog",
                               task->subtopology, (int)task->partition, why);
        }
        for (i = 0; i < t->store_cnt; i++) {
                int err;
                if (t->stores[i]->subtopology != task->subtopology)
                        continue;
                /* kv_cnt stays 0 for a task without stores */
                if (!task->kvs) {
                        if (!(task->kvs = calloc(t->store_cnt,
                                                 sizeof(*task->kvs))))
                                goto oom;
                        task->kv_cnt = t->store_cnt;
                }
                if ((err = sl_kv_open(task, t->stores[i], &task->kvs[i],
                                      errstr, errstr_size)))
                        return err;
        }
        /* processors: a context each; init runs once the stores are
         * restored (sl_task_ready) */
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                sluice_context_t *ctx;
                if (n->kind != SL_NODE_PROCESSOR ||
                    n->subtopology != task->subtopology)
                        continue;
                if (!task->ctxs &&
                    !(task->ctxs = calloc(t->node_cnt, sizeof(*task->ctxs))))
                        goto oom;
                if (!(ctx = calloc(1, sizeof(*ctx))))
                        goto oom;
                ctx->task           = task;
                ctx->node           = n;
                ctx->ts             = -1;
                task->ctxs[n->id]   = ctx;
        }
        return 0;
oom:
        sl_errstr(errstr, errstr_size, "out of memory");
        return SLUICE_ERR_NOMEM;
}

int sl_task_ready(sl_task_t *task, char *errstr, size_t errstr_size) {
        size_t i;
        if (task->ready || !task->ctxs) {
                task->ready = 1;
                return 0;
        }
        task->ready = 1;
        for (i = 0; i < task->t->node_cnt; i++) {
                sluice_context_t *ctx = task->ctxs[i];
                int r;
                if (!ctx || !ctx->node->proc.init)
                        continue;
                ctx->in_init = 1;
                r = ctx->node->proc.init(ctx, ctx->node->proc.opaque);
                ctx->in_init = 0;
                if (r) {
                        sl_errstr(errstr, errstr_size,
                                  "node \"%s\": init callback failed",
                                  ctx->node->name);
                        return SLUICE_ERR_CALLBACK;
                }
        }
        return 0;
}

void sl_task_state_free(sl_task_t *task) {
        size_t i;
        const sluice_topology_t *t = task->t;
        if (task->ctxs) {
                for (i = 0; i < t->node_cnt; i++) {
                        sluice_context_t *ctx = task->ctxs[i];
                        if (!ctx)
                                continue;
                        if (ctx->node->proc.close)
                                ctx->node->proc.close(ctx,
                                                      ctx->node->proc.opaque);
                        free(ctx);
                }
                free(task->ctxs);
                task->ctxs = NULL;
        }
        for (i = 0; i < task->kv_cnt; i++)
                sl_kv_close(task->kvs[i]);
        free(task->kvs);
        task->kvs    = NULL;
        task->kv_cnt = 0;
        free(task->puncts);
        task->puncts    = NULL;
        task->punct_cnt = 0;
        free(task->dir);
        task->dir = NULL;
        if (task->locking)
                mtx_destroy(&task->lock);
        task->locking = 0;
}

int sl_task_flush(sl_task_t *task) {
        size_t i;
        int err = 0, dirty = 1;
        /* a store's flush forwards updates that may write other stores of
         * the task: again until every cache is clean */
        while (dirty && !err) {
                dirty = 0;
                for (i = 0; i < task->kv_cnt && !err; i++)
                        if (task->kvs[i] && task->kvs[i]->cached) {
                                err   = sl_kv_flush_cache(task->kvs[i]);
                                dirty = 1;
                        }
        }
        sl_arena_reset(&task->arena);
        return err;
}

int sl_task_checkpoint(sl_task_t *task, int write_file) {
        size_t i;
        int persistent = 0;
        for (i = 0; i < task->kv_cnt; i++) {
                sluice_kv_t *kv = task->kvs[i];
                char why[SL_ERRSTR_SIZE] = "";
                int64_t next;
                int err;
                if (!kv || kv->restoring)
                        continue;
                next = kv->checkpoint;
                if (kv->slot && kv->slot->last + 1 > next)
                        next = kv->slot->last + 1;
                /* a backend that keeps the offset commits it with the
                 * data; otherwise the file below records it */
                if (kv->type->version >= 2 && kv->type->flush_offset &&
                    next >= 0)
                        err = kv->type->flush_offset(kv->h, next, why,
                                                     sizeof(why));
                else
                        err = kv->type->flush(kv->h, why, sizeof(why));
                if (err) {
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "store \"%s\": flush failed: %s",
                                  kv->def->name, why);
                        return SLUICE_ERR_STATE;
                }
                kv->checkpoint = next;
                persistent |= kv->type->persistent;
        }
        /* the stores are durable; a file that cannot be written only
         * makes a restart restore more (backends without their own
         * offset), so it is a warning, not a failure */
        if (write_file && persistent &&
            sl_checkpoint_write(task->dir, task->kvs, task->kv_cnt,
                                task->errstr, sizeof(task->errstr)))
                sl_log(task->conf, SLUICE_LOG_WARNING, "COMMIT",
                       "task %d_%d: %s (a restart restores more of the "
                       "changelog)",
                       task->subtopology, (int)task->partition, task->errstr);
        return 0;
}

sluice_kv_t *sl_task_kv(const sl_task_t *task, const char *store) {
        size_t i;
        for (i = 0; i < task->kv_cnt; i++)
                if (task->kvs[i] && !strcmp(task->kvs[i]->def->name, store))
                        return task->kvs[i];
        return NULL;
}

/* ---- the store API processors use ---- */

typedef struct get_visit_s {
        sluice_kv_cb *cb;
        void *opaque;
} get_visit_t;

int sluice_kv_get(sluice_kv_t *kv, const void *key, size_t key_len,
                  sluice_kv_cb *cb, void *opaque) {
        const void *v;
        size_t vlen;
        int64_t ts;
        int r;
        if (!kv || !key || !cb)
                return SLUICE_ERR_INVALID_ARG;
        r = sl_kv_get(kv, key, key_len, &v, &vlen, &ts);
        if (r > 0)
                cb(key, key_len, v, vlen, ts, opaque);
        return r;
}

int sluice_kv_put(sluice_kv_t *kv, const void *key, size_t key_len,
                  const void *value, size_t value_len, int64_t timestamp) {
        int r;
        if (!kv || !key)
                return SLUICE_ERR_INVALID_ARG;
        r = sl_kv_write(kv, key, key_len, value, value_len, timestamp);
        return r < 0 ? r : 0;
}

int sluice_kv_delete(sluice_kv_t *kv, const void *key, size_t key_len) {
        return sluice_kv_put(kv, key, key_len, NULL, 0, 0);
}

int64_t sluice_kv_range(sluice_kv_t *kv, const void *from, size_t from_len,
                        const void *to, size_t to_len, sluice_kv_cb *cb,
                        void *opaque) {
        if (!kv || !cb)
                return SLUICE_ERR_INVALID_ARG;
        return sl_kv_range(kv, from, from_len, to, to_len, cb, opaque);
}

