/*
 * state_ops.c - what stateful, table and processor nodes do with a record,
 * and a task's state: opening its stores, flushing caches at commit,
 * checkpoints, processor contexts and punctuation.
 *
 * Semantics are Kafka Streams' (KStreamAggregate, KStreamReduce,
 * KTableSource, KTableFilter, KTableMapValues, KTableRepartitionMap,
 * KTableAggregate, KTableReduce; see notes/kafka-streams-semantics.md §6-7):
 *  - stream aggregations drop records with a null key or value;
 *  - an aggregate's timestamp is the record's, or max(record, previous
 *    aggregate) once one exists;
 *  - tables carry Change(new, old); old values are computed only where a
 *    table group_by below needs them (node->send_old).
 */
#include "conf.h"
#include "state.h"
#include "task.h"

#include <jansson.h>
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

/* ---- helpers ---- */

static int store_fail(sl_task_t *task, const sl_node_t *node, int err) {
        if (err == SLUICE_ERR_NOMEM)
                return sl_fail(task, node, err, "%s", "out of memory");
        /* task->errstr names the store already unless a backend failed */
        if (!task->errstr[0])
                return sl_fail(task, node, err, "%s", "store access failed");
        return err;
}

/* The key's bytes: the raw ones when unchanged, else encoded into @buf. */
static int key_bytes(sl_task_t *task, const sl_node_t *node,
                     const sluice_record_t *rec, const sluice_serde_t *serde,
                     sluice_buf_t *buf, const void **k, size_t *klen) {
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

static int value_bytes(sl_task_t *task, const sl_node_t *node,
                       const sluice_value_t *v, const sluice_serde_t *serde,
                       sluice_buf_t *buf, const void **out, size_t *len) {
        char why[SL_ERRSTR_SIZE];
        if (sl_encode(serde, v, buf, out, len, why, sizeof(why)))
                return sl_fail(task, node, SLUICE_ERR_SERDE, "value: %s", why);
        if (!*out)
                *out = "";
        return 0;
}

static int decode_at(sl_task_t *task, const sl_node_t *node,
                     const sluice_serde_t *serde, const void *data,
                     size_t len, sluice_value_t *out, int *owned) {
        char why[SL_ERRSTR_SIZE];
        if (sl_decode(task, serde, data, len, out, owned, why, sizeof(why)))
                return sl_fail(task, node, SLUICE_ERR_SERDE,
                               "cannot decode the stored value: %s", why);
        return 0;
}

static void release_if(sluice_value_t *v, int owned) {
        if (owned)
                sl_value_release(v);
}

/* Forward Change(@value, @old) for @key from @node: a fresh record with
 * @rec's metadata (NULL: none) at @ts. Takes over value/old (owned flags). */
static int forward_change(sl_task_t *task, const sl_node_t *node,
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
        out.flags           = SL_REC_HAS_OLD;
        out.key             = key;
        out.raw_key         = raw_key;
        out.raw_key_len     = raw_key_len;
        out.raw_key_serde   = raw_key ? node->key_serde : NULL;
        out.value           = value;
        /* raw bytes only where they outlive the forward (a cache entry) */
        out.raw_value       = raw_value;
        out.raw_value_len   = raw_value_len;
        out.raw_value_serde = raw_value ? node->agg_serde ? node->agg_serde
                                                          : node->value_serde
                                        : NULL;
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

/* ---- aggregations ---- */

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
static int agg_step(sl_task_t *task, const sl_node_t *node, int add,
                    const sluice_value_t *key, const sluice_value_t *v,
                    sluice_value_t *agg, int *agg_owned) {
        sluice_value_t res = sluice_null();
        int owned = 0, err;
        if (node->agg == SL_AGG_COUNT) {
                int64_t c = agg->type == SLUICE_VALUE_INT64 ? agg->u.i64 : 0;
                *agg      = sluice_int64(add ? c + 1 : c - 1);
                return 0;
        }
        if (node->agg == SL_AGG_REDUCE) {
                if (add && agg->type == SLUICE_VALUE_NULL) {
                        /* the first value is the aggregate as it is (shared
                         * below, like a value a callback hands back) */
                        res = *v;
                } else if ((add ? node->red_add : node->red_sub)(
                               agg, v, &res, node->opaque)) {
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                       "%s callback failed",
                                       add ? "reduce adder"
                                           : "reduce subtractor");
                }
        } else {
                if (add && agg->type == SLUICE_VALUE_NULL) {
                        sluice_value_t init = sluice_null();
                        if (node->init(&init, node->opaque))
                                return sl_fail(task, node,
                                               SLUICE_ERR_CALLBACK, "%s",
                                               "initializer failed");
                        if ((err = sl_value_adopt(task, &init, &owned)))
                                return err;
                        release_if(agg, *agg_owned);
                        *agg       = init;
                        *agg_owned = owned;
                }
                if ((add ? node->agg_add : node->agg_sub)(key, v, agg, &res,
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
        release_if(agg, *agg_owned);
        *agg       = res;
        *agg_owned = owned;
        return 0;
}

static int aggregate(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *rec) {
        sluice_kv_t *kv = task->kvs[node->store];
        const void *k, *stored, *nb;
        size_t klen, slen, nlen;
        int64_t ts = rec->timestamp, sts = 0;
        sluice_value_t agg = sluice_null(), old = sluice_null();
        int agg_owned = 0, old_owned = 0, found, err, table,
            is_new_null, w;
        sluice_value_t newv, oldv;

        table = node->kind == SL_NODE_TABLE_AGGREGATE;
        if (rec->key.type == SLUICE_VALUE_NULL ||
            (!table && rec->value.type == SLUICE_VALUE_NULL)) {
                task->dropped++; /* as Kafka Streams: skipped, counted */
                return 0;
        }
        if ((err = key_bytes(task, node, rec, node->key_serde, &task->kbuf,
                             &k, &klen)))
                return err;
        task->errstr[0] = '\0';
        found = sl_kv_get(kv, k, klen, &stored, &slen, &sts);
        if (found < 0)
                return store_fail(task, node, found);
        if (found) {
                if (node->agg == SL_AGG_COUNT) {
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
                } else if ((err = decode_at(task, node, node->agg_serde,
                                            stored, slen, &agg, &agg_owned))) {
                        return err;
                }
                if (ts < sts)
                        ts = sts;
                if (node->send_old) {
                        if (node->agg == SL_AGG_COUNT || !agg_owned)
                                old = agg;
                        else if ((err = decode_at(task, node, node->agg_serde,
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
                    (err = agg_step(task, node, 0, &rec->key, &oldv, &agg,
                                    &agg_owned)))
                        goto out;
                if (newv.type != SLUICE_VALUE_NULL &&
                    (err = agg_step(task, node, 1, &rec->key, &newv, &agg,
                                    &agg_owned)))
                        goto out;
                if (oldv.type == SLUICE_VALUE_NULL &&
                    newv.type == SLUICE_VALUE_NULL)
                        goto out; /* nothing changed */
        } else if ((err = agg_step(task, node, 1, &rec->key, &newv, &agg,
                                   &agg_owned))) {
                goto out;
        }
        is_new_null = agg.type == SLUICE_VALUE_NULL;
        nb          = NULL;
        nlen        = 0;
        if (!is_new_null &&
            (err = value_bytes(task, node, &agg, node->agg_serde, &task->vbuf,
                               &nb, &nlen)))
                goto out;
        task->errstr[0] = '\0';
        w = sl_kv_write(kv, k, klen, nb, nlen, ts);
        if (w < 0) {
                err = store_fail(task, node, w);
                goto out;
        }
        if (w == 0) { /* written through: forward now */
                err = forward_change(task, node, rec, rec->key,
                                     rec->raw_key_serde == node->key_serde
                                         ? rec->raw_key
                                         : NULL,
                                     rec->raw_key_len, agg, agg_owned, NULL,
                                     0, old, old_owned, ts);
                return err;
        }
out:
        release_if(&agg, agg_owned);
        release_if(&old, old_owned);
        return err;
}

/* ---- tables ---- */

static int table_source(sl_task_t *task, const sl_node_t *node,
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
        if ((err = key_bytes(task, node, rec, node->key_serde, &task->kbuf,
                             &k, &klen)))
                return err;
        if (rec->value.type != SLUICE_VALUE_NULL) {
                if (rec->raw_value_serde == node->value_serde &&
                    rec->raw_value) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else if ((err = value_bytes(task, node, &rec->value,
                                              node->value_serde, &task->vbuf,
                                              &v, &vlen))) {
                        return err;
                }
        }
        task->errstr[0] = '\0';
        if (node->send_old) {
                int found = sl_kv_get(kv, k, klen, &stored, &slen, &sts);
                if (found < 0)
                        return store_fail(task, node, found);
                if (found && (err = decode_at(task, node, node->value_serde,
                                              stored, slen, &old,
                                              &old_owned)))
                        return err;
        }
        w = sl_kv_write(kv, k, klen, v, vlen, rec->timestamp);
        if (w < 0) {
                release_if(&old, old_owned);
                return store_fail(task, node, w);
        }
        if (w > 0) {
                release_if(&old, old_owned);
                return 0;
        }
        {
                /* forward a view of the record (rec keeps what it owns)
                 * with its old value */
                sluice_record_t out = *rec;
                out.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                               SL_REC_OLD_OWNED);
                out.flags |= SL_REC_HAS_OLD;
                out.old = node->send_old ? old : sluice_null();
                if (old_owned && node->send_old)
                        out.flags |= SL_REC_OLD_OWNED;
                else
                        release_if(&old, old_owned);
                err = sl_forward(task, node, &out);
                sl_record_release(&out);
                return err;
        }
}

int sl_state_forward_flushed(sluice_kv_t *kv, const void *key, size_t klen,
                             const void *value, size_t vlen, int64_t ts) {
        sl_task_t *task       = kv->task;
        const sl_node_t *node = kv->def->owner;
        const sluice_serde_t *vs = kv->def->value_serde;
        sluice_value_t k, v, old = sluice_null();
        int k_owned, v_owned, old_owned = 0, err;

        task->errstr[0] = '\0';
        if (node->send_old) {
                const void *stored;
                size_t slen;
                int64_t sts;
                int found = sl_kv_get(kv, key, klen, &stored, &slen, &sts);
                if (found < 0)
                        return store_fail(task, node, found);
                if (found && (err = decode_at(task, node, vs, stored, slen,
                                              &old, &old_owned)))
                        return err;
        }
        if ((err = sl_kv_write_flushed(kv, key, klen, value, vlen, ts))) {
                release_if(&old, old_owned);
                return store_fail(task, node, err);
        }
        if ((err = decode_at(task, node, kv->def->key_serde, key, klen, &k,
                             &k_owned))) {
                release_if(&old, old_owned);
                return err;
        }
        if ((err = decode_at(task, node, vs, value, vlen, &v, &v_owned))) {
                release_if(&k, k_owned);
                release_if(&old, old_owned);
                return err;
        }
        err = forward_change(task, node, NULL, k, key, klen, v, v_owned,
                             value, vlen, old, old_owned, ts);
        release_if(&k, k_owned);
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

static int table_op(sl_task_t *task, const sl_node_t *node,
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
                        release_if(&nv, n_owned);
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
                 * when it sends old values) */
                if (node->send_old && nv.type == SLUICE_VALUE_NULL &&
                    ov.type == SLUICE_VALUE_NULL)
                        return 0;
                /* nv / ov are shared with rec, which still owns them */
        }
        {
                sluice_record_t out = *rec;
                out.flags           = SL_REC_HAS_OLD;
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

static int to_stream(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *rec) {
        rec->flags &= ~SL_REC_HAS_OLD;
        if (rec->flags & SL_REC_OLD_OWNED)
                sl_value_release(&rec->old);
        rec->flags &= ~SL_REC_OLD_OWNED;
        rec->old = sluice_null();
        return sl_forward(task, node, rec);
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
static int table_group_by(sl_task_t *task, const sl_node_t *node,
                          sluice_record_t *rec) {
        sluice_record_t nrec = *rec, orec = *rec, fwd;
        int has_new = rec->value.type != SLUICE_VALUE_NULL,
            has_old = (rec->flags & SL_REC_HAS_OLD) &&
                      rec->old.type != SLUICE_VALUE_NULL;
        int err = 0;
        const sl_node_t *sink = node->child_cnt ? node->children[0] : NULL;

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
                if ((err = key_bytes(task, node, &nrec, sink->key_serde,
                                     &task->kbuf, &a, &alen)) ||
                    (err = key_bytes(task, node, &orec, sink->key_serde,
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
        case SL_NODE_AGGREGATE:
        case SL_NODE_TABLE_AGGREGATE: return aggregate(task, node, rec);
        case SL_NODE_TABLE_SOURCE: return table_source(task, node, rec);
        case SL_NODE_TABLE_FILTER:
        case SL_NODE_TABLE_FILTER_NOT:
        case SL_NODE_TABLE_MAP_VALUES: return table_op(task, node, rec);
        case SL_NODE_TO_STREAM: return to_stream(task, node, rec);
        case SL_NODE_TABLE_GROUP_BY: return table_group_by(task, node, rec);
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
