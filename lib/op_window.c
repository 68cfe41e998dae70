/*
 * op_window.c - windowed aggregations (tumbling, hopping, sliding and
 * session windows; count, reduce, aggregate; emit on update or on window
 * close), suppress() on tables, the window stores behind them, windowed
 * serdes and local queries of windows.
 *
 * Semantics are Kafka Streams' (KStreamWindowAggregate,
 * KStreamSlidingWindowAggregate, KStreamSessionWindowAggregate,
 * AbstractKStreamTimeWindowAggregateProcessor, KTableSuppressProcessor;
 * notes/kafka-streams-semantics.md §1-§6); where Sluice differs on purpose,
 * tests/ksdiff/DEVIATIONS says so.
 *
 * Window store layout (one ordered key-value store per operator and task,
 * on any backend, changelogged like every store):
 *
 *     time and sliding windows:  [segment][key bytes][start]
 *     session windows:           [segment][key bytes][end][start]
 *     the operator's own record: [ff x 8]["meta"] -> [stream time]
 *                                [closed up to][newest window time]
 *
 * with 8-byte big-endian integers; segment = start (sessions: end) divided
 * by the segment interval, max(retention / 2, 60 s) as Kafka Streams' segmented
 * stores. A key's windows in a time range are a few contiguous ranges (one
 * per segment), and expiry drops whole segments from the front of the store
 * as stream time moves, so a long-running job's store stays bounded without
 * ever scanning it. Expired windows are deleted in the backend only, not
 * written to the changelog: the changelog is compact,delete with a day more
 * than the retention (Kafka Streams' windowstore.changelog.additional
 * .retention.ms), and what a restore brings back that has expired is
 * dropped again before the first record.
 *
 * Emit-final keeps the windows not yet emitted in an ordered set per task
 * (close order: end, key bytes, start), rebuilt from the store after a
 * restore; the stream time and the last close time emitted live in the meta
 * record, so a restart neither re-opens closed windows nor re-emits.
 */
#include "op.h"
#include "oset.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG_MIN_MS 60000
#define META_KEY "\xff\xff\xff\xff\xff\xff\xff\xffmeta"
#define META_KEY_LEN 12

/* A windowed aggregation node's fields (node->priv). */
typedef struct sl_win_s {
        sl_agg_t agg; /* first: what sl_agg_step() reads */
        sluice_merger_cb *merger;
        sluice_windows_t w;
        int emit_final;
        int64_t retention, seg_ms;
        int has_late_topic;
        char late_topic[256];
} sl_win_t;

/* sluice_windowed_t: a windowed grouping and its options. */
struct sluice_windowed_s {
        sluice_grouped_t *g;
        sluice_windows_t w;
        int emit_final;
        int64_t retention; /* 0: default */
        char *late_topic;
        int used;
};

/* What a window operator keeps per task (task->node_state). */
typedef struct win_task_s {
        int64_t observed;  /* the operator's stream time, -1: none */
        int64_t emitted;   /* close time emitted up to, -1: none */
        int64_t meta_obs, meta_emitted, meta_max; /* as the meta record
                                                     holds them */
        int64_t live_seg;  /* segments below were dropped */
        int64_t max_t1;    /* the largest start (sessions: end) written */
        int64_t flushed_max; /* ... that reached the backend */
        int64_t commit_obs, commit_emitted; /* as of the last commit */
        uint64_t late;     /* records dropped as late */
        sl_oset_t *pending; /* emit-final: windows not yet emitted */
        sluice_buf_t ck;    /* composite key scratch */
        sluice_buf_t pk;    /* pending key scratch */
        sluice_buf_t key;   /* the record's key bytes, which must outlive
                               writes (task->kbuf does not: a cache
                               eviction's sinks reuse it) */
} win_task_t;

/* ---- window specifications ---- */

sluice_windows_t sluice_windows_tumbling(int64_t size_ms, int64_t grace_ms) {
        sluice_windows_t w = {SLUICE_WINDOW_TIME, size_ms, size_ms, grace_ms};
        return w;
}

sluice_windows_t sluice_windows_hopping(int64_t size_ms, int64_t advance_ms,
                                        int64_t grace_ms) {
        sluice_windows_t w = {SLUICE_WINDOW_TIME, size_ms, advance_ms,
                              grace_ms};
        return w;
}

sluice_windows_t sluice_windows_sliding(int64_t difference_ms,
                                        int64_t grace_ms) {
        sluice_windows_t w = {SLUICE_WINDOW_SLIDING, difference_ms, 0,
                              grace_ms};
        return w;
}

sluice_windows_t sluice_windows_session(int64_t gap_ms, int64_t grace_ms) {
        sluice_windows_t w = {SLUICE_WINDOW_SESSION, gap_ms, 0, grace_ms};
        return w;
}

/* ---- keys ---- */

static int is_session(const sl_win_t *W) {
        return W->w.type == SLUICE_WINDOW_SESSION;
}

/* The time a window is segmented and expired by: its start, a session's
 * end. */
static int64_t seg_of(const sl_win_t *W, int64_t t) {
        return t < 0 ? 0 : t / W->seg_ms;
}

/* [seg][key][t1]([t2]) into @b. */
static int ckey(sluice_buf_t *b, int64_t seg, const void *k, size_t klen,
                int64_t t1, int64_t t2, int two) {
        size_t n = 8 + klen + (two ? 16u : 8u);
        b->len   = 0;
        if (sluice_buf_reserve(b, n))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(b->data, (uint64_t)seg);
        if (klen)
                memcpy(b->data + 8, k, klen);
        sl_put_be64(b->data + 8 + klen, (uint64_t)t1);
        if (two)
                sl_put_be64(b->data + 16 + klen, (uint64_t)t2);
        b->len = n;
        return 0;
}

/* A window store key's parts: 0, or -1 if it is not one (the meta
 * record). */
static int ckey_parse(const sl_win_t *W, const void *key, size_t klen,
                      const unsigned char **k, size_t *kl, int64_t *start,
                      int64_t *end) {
        const unsigned char *p = key;
        size_t tail            = is_session(W) ? 16 : 8;
        if (klen < 8 + tail || (klen == META_KEY_LEN &&
                                !memcmp(key, META_KEY, META_KEY_LEN)))
                return -1;
        *k  = p + 8;
        *kl = klen - 8 - tail;
        if (is_session(W)) {
                *end   = (int64_t)sl_get_be64(p + klen - 16);
                *start = (int64_t)sl_get_be64(p + klen - 8);
        } else {
                *start = (int64_t)sl_get_be64(p + klen - 8);
                *end   = *start + W->w.size_ms;
        }
        return 0;
}

/* The emit-final order of a window: Kafka Streams' time-ordered stores,
 * (start, key) for time and sliding windows, (end, key, start) for
 * sessions. */
static int pkey(const sl_win_t *W, sluice_buf_t *b, const void *k,
                size_t klen, int64_t start, int64_t end) {
        int s    = is_session(W);
        size_t n = klen + (s ? 16u : 8u);
        b->len   = 0;
        if (sluice_buf_reserve(b, n))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(b->data, (uint64_t)(s ? end : start));
        if (klen)
                memcpy(b->data + 8, k, klen);
        if (s)
                sl_put_be64(b->data + 8 + klen, (uint64_t)start);
        b->len = n;
        return 0;
}

static void pkey_parse(const sl_win_t *W, const unsigned char *p, size_t n,
                       const unsigned char **k, size_t *kl, int64_t *start,
                       int64_t *end) {
        if (is_session(W)) {
                *end   = (int64_t)sl_get_be64(p);
                *start = (int64_t)sl_get_be64(p + n - 8);
                *k     = p + 8;
                *kl    = n - 16;
        } else {
                *start = (int64_t)sl_get_be64(p);
                *end   = *start + W->w.size_ms;
                *k     = p + 8;
                *kl    = n - 8;
        }
}

/* ---- closing ---- */

/* Updates go to a window while this holds (Kafka Streams' late checks). */
static int window_open(const sl_win_t *W, int64_t end, int64_t observed) {
        switch (W->w.type) {
        case SLUICE_WINDOW_TIME:
                return end > observed - W->w.grace_ms;
        case SLUICE_WINDOW_SLIDING:
                return end >= observed - W->w.grace_ms;
        default:
                return end >= observed - W->w.grace_ms - W->w.size_ms;
        }
}

/* Windows before this time (start; sessions: end) have expired. */
static int64_t expiry_bound(const sl_win_t *W, int64_t observed) {
        return observed - W->retention +
               (W->w.type == SLUICE_WINDOW_TIME ? 1 : 0);
}

/* Kafka Streams' record cache keeps returning windows that its store
 * already hides past the retention (until it evicts them, which a commit
 * does not): with the cache on, every window written is seen. Under
 * emit-final only time windows keep the cache there. */
static int cache_shows_all(const sl_task_t *task, const sl_win_t *W) {
        return task->budget && task->budget->max &&
               (!W->emit_final || W->w.type == SLUICE_WINDOW_TIME);
}

/* ---- per task ---- */

static int win_open(sl_task_t *task, const sl_node_t *node, char *errstr,
                    size_t errstr_size) {
        const sl_win_t *W = node->priv;
        win_task_t *ws    = calloc(1, sizeof(*ws));
        if (!ws || (W->emit_final && !(ws->pending = sl_oset_new()))) {
                free(ws);
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        ws->observed = ws->emitted = ws->meta_obs = ws->meta_emitted = -1;
        ws->max_t1 = ws->meta_max = ws->flushed_max = -1;
        ws->commit_obs = ws->commit_emitted = -1;
        task->node_state[node->id] = ws;
        return 0;
}

static void win_close(sl_task_t *task, const sl_node_t *node) {
        win_task_t *ws = task->node_state[node->id];
        if (!ws)
                return;
        sl_oset_free(ws->pending, NULL);
        free(ws->ck.data);
        free(ws->pk.data);
        free(ws->key.data);
        free(ws);
        task->node_state[node->id] = NULL;
}

int sl_window_drop_segments(sl_task_t *task, const sl_node_t *node,
                            sluice_kv_t *kv, int64_t live) {
        unsigned char to[8];
        char why[SL_ERRSTR_SIZE];
        sl_put_be64(to, (uint64_t)live);
        for (;;) {
                /* in batches: writes wait until the iterator is closed */
                void *it;
                const void *k, *v;
                size_t klen, vlen, n = 0, i, off = 0;
                sluice_buf_t keys = {0};
                size_t lens[256];
                int r;
                if (kv->type->iter_open(kv->h, NULL, 0, to, sizeof(to), &it))
                        return sl_fail(task, node, SLUICE_ERR_STATE, "%s",
                                       "window store: cannot scan to expire");
                while (n < 256 && (r = kv->type->iter_next(it, &k, &klen, &v,
                                                           &vlen)) > 0) {
                        if (sl_key_cmp(k, klen, to, sizeof(to)) >= 0)
                                break;
                        if (sluice_buf_reserve(&keys, klen)) {
                                kv->type->iter_close(it);
                                free(keys.data);
                                return sl_fail(task, node, SLUICE_ERR_NOMEM,
                                               "%s", "out of memory");
                        }
                        memcpy(keys.data + keys.len, k, klen);
                        keys.len += klen;
                        lens[n++] = klen;
                }
                kv->type->iter_close(it);
                for (i = 0; i < n; i++) {
                        int derr = kv->type->del(kv->h, keys.data + off,
                                                 lens[i]);
                        if (derr < 0) {
                                free(keys.data);
                                return sl_fail(
                                    task, node, SLUICE_ERR_STATE, "%s",
                                    sl_kv_reason(kv, derr, why, sizeof(why)));
                        }
                        off += lens[i];
                }
                free(keys.data);
                if (n < 256)
                        break;
        }
        return 0;
}

/* Delete the segments below the live one from the backend (not the
 * changelog: see the top of the file). The cache is clean here (commit)
 * or was never used (restore). */
static int expire(sl_task_t *task, const sl_node_t *node, win_task_t *ws) {
        const sl_win_t *W = node->priv;
        int64_t live;
        int err;

        if (ws->observed < 0)
                return 0;
        live = seg_of(W, expiry_bound(W, ws->observed));
        if (live <= ws->live_seg)
                return 0;
        if ((err = sl_window_drop_segments(task, node, task->kvs[node->store],
                                           live)))
                return err;
        ws->live_seg = live;
        return 0;
}

/*
 * The meta record holds the stream time and the close time emitted as of
 * the commit before this one: this commit's outputs and offsets are not
 * known to be delivered until its producer flush, and a restart that
 * replays records past a stream time their outputs never reached would
 * drop them as late (or never emit a final result that was in flight). A
 * commit flushes the previous one's values, which its flush made safe.
 */
static int meta_write(sl_task_t *task, const sl_node_t *node,
                      win_task_t *ws) {
        unsigned char v[24];
        int err;
        int64_t obs = ws->commit_obs, emitted = ws->commit_emitted;
        ws->commit_obs     = ws->observed;
        ws->commit_emitted = ws->emitted;
        if (obs == ws->meta_obs && emitted == ws->meta_emitted &&
            ws->max_t1 == ws->meta_max)
                return 0;
        sl_put_be64(v, (uint64_t)obs);
        sl_put_be64(v + 8, (uint64_t)emitted);
        sl_put_be64(v + 16, (uint64_t)ws->max_t1);
        task->errstr[0] = '\0';
        if ((err = sl_kv_write_flushed(task->kvs[node->store], META_KEY,
                                       META_KEY_LEN, v, sizeof(v),
                                       obs)))
                return sl_op_store_fail(task, node, err);
        ws->meta_obs     = obs;
        ws->meta_emitted = emitted;
        ws->meta_max     = ws->max_t1;
        return 0;
}

static int win_commit(sl_task_t *task, const sl_node_t *node) {
        win_task_t *ws = task->node_state[node->id];
        int err;
        if ((err = meta_write(task, node, ws)))
                return err;
        return expire(task, node, ws);
}

/* After a restore: the newest window time, and the emit-final set: every
 * window the last close time emitted has not covered. */
typedef struct rebuild_s {
        const sl_win_t *W;
        win_task_t *ws;
        int err;
} rebuild_t;

static int rebuild_visit(const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t ts, void *opaque) {
        rebuild_t *rb = opaque;
        const unsigned char *k;
        size_t kl;
        int64_t start, end;
        int created;
        (void)value;
        (void)vlen;
        (void)ts;
        if (ckey_parse(rb->W, key, klen, &k, &kl, &start, &end))
                return 0;
        if ((is_session(rb->W) ? end : start) > rb->ws->max_t1)
                rb->ws->max_t1 = rb->ws->flushed_max =
                    is_session(rb->W) ? end : start;
        if (!rb->W->emit_final ||
            (rb->ws->emitted >= 0 && !window_open(rb->W, end, rb->ws->emitted)))
                return 0;
        if (pkey(rb->W, &rb->ws->pk, k, kl, start, end) ||
            !sl_oset_put(rb->ws->pending, rb->ws->pk.data, rb->ws->pk.len,
                         NULL, &created)) {
                rb->err = SLUICE_ERR_NOMEM;
                return 1;
        }
        return 0;
}

static int win_ready(sl_task_t *task, const sl_node_t *node, char *errstr,
                     size_t errstr_size) {
        const sl_win_t *W = node->priv;
        win_task_t *ws    = task->node_state[node->id];
        sluice_kv_t *kv   = task->kvs[node->store];
        const void *v;
        size_t vlen;
        int64_t ts;
        int r = sl_kv_get(kv, META_KEY, META_KEY_LEN, &v, &vlen, &ts);
        if (r < 0) {
                sl_errstr(errstr, errstr_size,
                          "window store \"%s\": cannot read its stream time",
                          kv->def->name);
                return SLUICE_ERR_STATE;
        }
        if (r && vlen == 24) {
                ws->observed = ws->meta_obs =
                    (int64_t)sl_get_be64(v);
                ws->emitted = ws->meta_emitted =
                    (int64_t)sl_get_be64((const unsigned char *)v + 8);
                ws->max_t1 = ws->meta_max =
                    (int64_t)sl_get_be64((const unsigned char *)v + 16);
                ws->commit_obs     = ws->observed;
                ws->commit_emitted = ws->emitted;
        }
        if (expire(task, node, ws)) {
                sl_errstr(errstr, errstr_size, "%s", task->errstr);
                return SLUICE_ERR_STATE;
        }
        {
                /* restored windows may be newer than the stream time the
                 * meta record kept (they reach the changelog between
                 * commits); and emit-final's set of open windows */
                rebuild_t rb = {W, ws, 0};
                if (sl_kv_range(kv, NULL, 0, NULL, 0, rebuild_visit, &rb) <
                        0 ||
                    rb.err) {
                        sl_errstr(errstr, errstr_size,
                                  "window store \"%s\": cannot list its open "
                                  "windows",
                                  kv->def->name);
                        return SLUICE_ERR_STATE;
                }
        }
        return 0;
}

/* ---- values ---- */

static int agg_decode(sl_task_t *task, const sl_node_t *node,
                      const void *data, size_t len, sluice_value_t *out,
                      int *owned) {
        const sl_win_t *W = node->priv;
        *owned            = 0;
        if (W->agg.kind == SL_AGG_COUNT) {
                if (len != 8)
                        return sl_fail(task, node, SLUICE_ERR_SERDE, "%s",
                                       "stored count is not 8 bytes");
                *out = sluice_int64((int64_t)sl_get_be64(data));
                return 0;
        }
        return sl_op_decode(task, node, W->agg.serde, data, len, out, owned);
}

/* A record to forward from @node for window [start, end] of @key. */
static sluice_record_t win_template(sl_task_t *task, const sl_node_t *node,
                                    const sluice_record_t *rec, int64_t start,
                                    int64_t end) {
        const sl_win_t *W = node->priv;
        sluice_record_t t;
        if (rec) {
                t = *rec;
        } else {
                memset(&t, 0, sizeof(t));
                t.partition = task->partition;
                t.offset    = -1;
                t.task      = task;
        }
        t.flags     = is_session(W) ? SL_REC_WIN_SESSION : SL_REC_WIN_TIME;
        t.win_start = start;
        t.win_end   = end;
        return t;
}

/* Forward Change(@agg, null) for a window; @agg is taken over. */
static int win_forward(sl_task_t *task, const sl_node_t *node,
                       const sluice_record_t *rec, sluice_value_t key,
                       const void *raw_key, size_t raw_key_len, int64_t start,
                       int64_t end, sluice_value_t agg, int agg_owned,
                       int64_t ts) {
        const sl_win_t *W   = node->priv;
        sluice_record_t tpl = win_template(task, node, rec, start, end);
        return sl_forward_change(task, node, W->agg.serde, &tpl, key, raw_key,
                                 raw_key_len, agg, agg_owned, NULL, 0,
                                 sluice_null(), 0, ts);
}

static int pending_add(sl_task_t *task, const sl_node_t *node,
                       win_task_t *ws, const void *k, size_t klen,
                       int64_t start, int64_t end) {
        const sl_win_t *W = node->priv;
        int created;
        if (!W->emit_final)
                return 0;
        if (pkey(W, &ws->pk, k, klen, start, end) ||
            !sl_oset_put(ws->pending, ws->pk.data, ws->pk.len, NULL, &created))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        return 0;
}

/* Write @agg (NULL type: delete) for a window and, unless the cache took
 * it or the operator emits only final results, forward it. @agg is taken
 * over. */
static int win_put(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                   const sluice_record_t *rec, const void *k, size_t klen,
                   int64_t start, int64_t end, sluice_value_t agg,
                   int agg_owned, int64_t ts) {
        const sl_win_t *W = node->priv;
        sluice_kv_t *kv   = task->kvs[node->store];
        const void *nb    = NULL;
        size_t nlen       = 0;
        int err, w;
        int64_t seg_t = is_session(W) ? end : start;

        if (agg.type != SLUICE_VALUE_NULL) {
                if (W->agg.kind == SL_AGG_COUNT) {
                        if (sluice_buf_reserve(&task->vbuf, 8)) {
                                err = SLUICE_ERR_NOMEM;
                                goto fail;
                        }
                        sl_put_be64(task->vbuf.data, (uint64_t)agg.u.i64);
                        nb   = task->vbuf.data;
                        nlen = 8;
                } else if ((err = sl_op_value_bytes(task, node, &agg,
                                                    W->agg.serde, &task->vbuf,
                                                    &nb, &nlen))) {
                        goto fail;
                }
        }
        if ((err = ckey(&ws->ck, seg_of(W, seg_t), k, klen,
                        is_session(W) ? end : start, start, is_session(W))))
                goto fail;
        if (seg_t > ws->max_t1)
                ws->max_t1 = seg_t;
        task->errstr[0] = '\0';
        w = sl_kv_write(kv, ws->ck.data, ws->ck.len, nb, nlen, ts);
        if (w < 0) {
                err = sl_op_store_fail(task, node, w);
                goto fail;
        }
        if (agg.type != SLUICE_VALUE_NULL &&
            (err = pending_add(task, node, ws, k, klen, start, end)))
                goto fail;
        if (w == 0 && !W->emit_final)
                return win_forward(task, node, rec, rec->key,
                                   rec->raw_key_serde == node->key_serde
                                       ? rec->raw_key
                                       : NULL,
                                   rec->raw_key_len, start, end, agg,
                                   agg_owned, ts);
        sl_op_release_if(&agg, agg_owned);
        return 0;
fail:
        sl_op_release_if(&agg, agg_owned);
        return err == SLUICE_ERR_NOMEM
                   ? sl_fail(task, node, err, "%s", "out of memory")
                   : err;
}

/* The stored aggregate of a window: 1 with it (and its timestamp), 0 if
 * absent, or an error. */
static int win_get(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                   const void *k, size_t klen, int64_t start, int64_t end,
                   sluice_value_t *agg, int *owned, int64_t *ts) {
        const sl_win_t *W = node->priv;
        const void *stored;
        size_t slen;
        int found, err;
        int64_t seg_t = is_session(W) ? end : start;
        if (ckey(&ws->ck, seg_of(W, seg_t), k, klen,
                 is_session(W) ? end : start, start, is_session(W)))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        task->errstr[0] = '\0';
        found = sl_kv_get(task->kvs[node->store], ws->ck.data, ws->ck.len,
                          &stored, &slen, ts);
        if (found < 0)
                return sl_op_store_fail(task, node, found);
        if (!found)
                return 0;
        if ((err = agg_decode(task, node, stored, slen, agg, owned)))
                return err;
        return 1;
}

/* Copy of a found window (a scan's records are borrowed). */
typedef struct found_s {
        int64_t start, end, ts;
        size_t voff, vlen;
} found_t;

typedef struct scan_s {
        const sl_win_t *W;
        const void *k;
        size_t klen;
        int64_t lo, hi; /* sessions: end >= lo, start <= hi; else start */
        int64_t live;   /* older windows (start; sessions: end) are past
                           the store's retention: not seen */
        found_t *f;
        size_t cnt, cap;
        sluice_buf_t vals;
        int err;
} scan_t;

static int scan_visit(const void *key, size_t klen, const void *value,
                      size_t vlen, int64_t ts, void *opaque) {
        scan_t *s = opaque;
        const unsigned char *k;
        size_t kl;
        int64_t start, end;
        if (ckey_parse(s->W, key, klen, &k, &kl, &start, &end) ||
            kl != s->klen || (kl && memcmp(k, s->k, kl)))
                return 0; /* another key (a longer one sorts in between) */
        if (is_session(s->W) ? (end < s->lo || start > s->hi || end < s->live)
                             : (start < s->lo || start > s->hi ||
                                start < s->live))
                return 0;
        if (sl_grow((void **)&s->f, &s->cap, s->cnt, sizeof(*s->f)) ||
            sluice_buf_reserve(&s->vals, vlen)) {
                s->err = SLUICE_ERR_NOMEM;
                return 1;
        }
        s->f[s->cnt].start = start;
        s->f[s->cnt].end   = end;
        s->f[s->cnt].ts    = ts;
        s->f[s->cnt].voff  = s->vals.len;
        s->f[s->cnt].vlen  = vlen;
        if (vlen)
                memcpy(s->vals.data + s->vals.len, value, vlen);
        s->vals.len += vlen;
        s->cnt++;
        return 0;
}

/* The windows of key @k with start (sessions: end) in [t_lo, t_hi] and the
 * filter of @s, in store order, into @s. */
static int scan_key(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                    scan_t *s, int64_t t_lo, int64_t t_hi) {
        const sl_win_t *W = node->priv;
        sluice_kv_t *kv   = task->kvs[node->store];
        sluice_buf_t to   = {0};
        int64_t seg;
        if (t_lo < 0)
                t_lo = 0;
        /* as Kafka Streams' segmented stores: a window is seen while its
         * time is within the retention of the newest one written (so a
         * session that suppression has emitted as final is never merged
         * into again) */
        s->live = ws->max_t1 >= 0 && !cache_shows_all(task, W)
                      ? ws->max_t1 - W->retention +
                            /* its time-ordered store under emit-final
                             * keeps one millisecond more */
                            (W->w.type == SLUICE_WINDOW_SLIDING &&
                                     W->emit_final
                                 ? 0
                                 : 1)
                      : INT64_MIN;
        for (seg = seg_of(W, t_lo); seg <= seg_of(W, t_hi); seg++) {
                int64_t r;
                if (ckey(&ws->ck, seg, s->k, s->klen, t_lo, 0,
                         is_session(W)) ||
                    ckey(&to, seg, s->k, s->klen, t_hi, INT64_MAX,
                         is_session(W))) {
                        free(to.data);
                        return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                       "out of memory");
                }
                r = sl_kv_range(kv, ws->ck.data, ws->ck.len, to.data, to.len,
                                scan_visit, s);
                if (r < 0 || s->err) {
                        free(to.data);
                        return s->err ? sl_fail(task, node, s->err, "%s",
                                                "out of memory")
                                      : sl_op_store_fail(task, node,
                                                         (int)r);
                }
        }
        free(to.data);
        return 0;
}

static void scan_free(scan_t *s) {
        free(s->f);
        free(s->vals.data);
}

/* The record's key bytes, copied into ws->key. */
static int key_bytes(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                     const sluice_record_t *rec, const void **k,
                     size_t *klen) {
        const void *k0;
        int err;
        if ((err = sl_op_key_bytes(task, node, rec, node->key_serde,
                                   &task->kbuf, &k0, klen)))
                return err;
        ws->key.len = 0;
        if (sluice_buf_reserve(&ws->key, *klen ? *klen : 1))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (*klen)
                memcpy(ws->key.data, k0, *klen);
        ws->key.len = *klen;
        *k          = ws->key.data;
        return 0;
}

/* ---- late records ---- */

static int late(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                const sluice_record_t *rec, const void *k, size_t klen) {
        const sl_win_t *W = node->priv;
        const void *v     = NULL;
        size_t vlen       = 0;
        char why[SL_ERRSTR_SIZE];
        int err;
        ws->late++;
        if (!W->has_late_topic)
                return 0;
        /* as it reached the operator: key and value in the grouped serdes */
        if (rec->value.type != SLUICE_VALUE_NULL) {
                if (rec->raw_value_serde == node->value_serde &&
                    rec->raw_value) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else if ((err = sl_op_value_bytes(task, node, &rec->value,
                                                    node->value_serde,
                                                    &task->vbuf, &v,
                                                    &vlen))) {
                        return err;
                }
        }
        if ((err = task->write(task->io_opaque, node, W->late_topic, -1, k,
                               klen, v, vlen, rec->timestamp, rec->headers,
                               rec->header_cnt, why, sizeof(why))))
                return sl_fail(task, node,
                               err < 0 && err != -1 ? err : SLUICE_ERR_STATE,
                               "late topic: %s", why);
        task->produced++;
        return 0;
}

/* ---- emit final ---- */

static int emit_final(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                      const sluice_record_t *rec) {
        const sl_win_t *W = node->priv;
        sl_onode_t *n, *next;
        int err = 0;
        if (!W->emit_final || ws->observed < 0)
                return 0;
        for (n = sl_oset_first(ws->pending); n && !err; n = next) {
                const unsigned char *k, *pk;
                size_t kl, pklen;
                int64_t start, end, ts;
                sluice_value_t agg = sluice_null(), key;
                int owned = 0, found, k_owned;
                pk = sl_onode_key(n, &pklen);
                pkey_parse(W, pk, pklen, &k, &kl, &start, &end);
                if (window_open(W, end, ws->observed))
                        break;
                next  = sl_oset_next(n);
                found = win_get(task, node, ws, k, kl, start, end, &agg,
                                &owned, &ts);
                if (found < 0) {
                        err = found;
                        break;
                }
                if (found) {
                        if ((err = sl_op_decode(task, node, node->key_serde,
                                                k, kl, &key, &k_owned))) {
                                sl_op_release_if(&agg, owned);
                                break;
                        }
                        /* the raw key bytes live in the set's entry,
                         * removed below: no raw bytes */
                        err = win_forward(task, node, rec, key, NULL, 0,
                                          start, end, agg, owned,
                                          is_session(W) ? end : ts);
                        sl_op_release_if(&key, k_owned);
                }
                sl_oset_remove(ws->pending, n);
        }
        if (!err)
                ws->emitted = ws->observed;
        return err;
}

/* ---- time windows (tumbling, hopping) ---- */

static int time_process(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec) {
        const sl_win_t *W = node->priv;
        win_task_t *ws    = task->node_state[node->id];
        const void *k;
        size_t klen;
        int64_t ts = rec->timestamp, start, size = W->w.size_ms,
                adv = W->w.advance_ms;
        int err, dropped = 0;

        if (rec->key.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if ((err = key_bytes(task, node, ws, rec, &k, &klen)))
                return err;
        if (ts > ws->observed)
                ws->observed = ts;
        /* TimeWindows.windowsFor: every window [start, start + size) that
         * holds ts, from the oldest */
        start = ts - size + adv;
        start = (start < 0 ? 0 : start) / adv * adv;
        for (; start <= ts; start += adv) {
                sluice_value_t agg = sluice_null();
                int owned = 0, found;
                int64_t sts = ts, end = start + size;
                if (!window_open(W, end, ws->observed)) {
                        dropped = 1;
                        continue;
                }
                found = win_get(task, node, ws, k, klen, start, end, &agg,
                                &owned, &sts);
                if (found < 0)
                        return found;
                if (!found || sts < ts)
                        sts = ts; /* max(record, aggregate) */
                if ((err = sl_agg_step(task, node, 1, &rec->key, &rec->value,
                                       &agg, &owned))) {
                        sl_op_release_if(&agg, owned);
                        return err;
                }
                if ((err = win_put(task, node, ws, rec, k, klen, start, end,
                                   agg, owned, sts)))
                        return err;
        }
        if (dropped && (err = late(task, node, ws, rec, k, klen)))
                return err;
        return emit_final(task, node, ws, rec);
}

/* ---- sliding windows (KIP-450) ---- */

/* updateWindowAndForward: add the record to the window [start, start + d]
 * holding @agg (or the initializer's value: @agg NULL type, @have 0). */
static int slide_update(sl_task_t *task, const sl_node_t *node,
                        win_task_t *ws, sluice_record_t *rec, const void *k,
                        size_t klen, int64_t start, sluice_value_t agg,
                        int owned, int64_t agg_ts, int have) {
        const sl_win_t *W = node->priv;
        int64_t end = start + W->w.size_ms, ts = rec->timestamp;
        int err;
        if (!window_open(W, end, ws->observed)) {
                sl_op_release_if(&agg, owned);
                return 0; /* that window closed: only it is skipped */
        }
        if ((err = sl_agg_step(task, node, 1, &rec->key, &rec->value, &agg,
                               &owned))) {
                sl_op_release_if(&agg, owned);
                return err;
        }
        return win_put(task, node, ws, rec, k, klen, start, end, agg, owned,
                       have && agg_ts > ts ? agg_ts : ts);
}

/* The aggregate of found window @i, decoded. */
static int found_agg(sl_task_t *task, const sl_node_t *node, scan_t *s,
                     size_t i, sluice_value_t *agg, int *owned) {
        return agg_decode(task, node, s->vals.data + s->f[i].voff,
                          s->f[i].vlen, agg, owned);
}

/* Put an existing aggregate as a new window (a record's right window)
 * without adding the record. */
static int slide_copy(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                      sluice_record_t *rec, const void *k, size_t klen,
                      int64_t start, scan_t *s, size_t i) {
        sluice_value_t agg;
        int owned, err;
        if ((err = found_agg(task, node, s, i, &agg, &owned)))
                return err;
        return win_put(task, node, ws, rec, k, klen, start,
                       start + ((const sl_win_t *)node->priv)->w.size_ms, agg,
                       owned, s->f[i].ts);
}

static int slide_found_update(sl_task_t *task, const sl_node_t *node,
                              win_task_t *ws, sluice_record_t *rec,
                              const void *k, size_t klen, scan_t *s,
                              size_t i) {
        sluice_value_t agg;
        int owned, err;
        if ((err = found_agg(task, node, s, i, &agg, &owned)))
                return err;
        return slide_update(task, node, ws, rec, k, klen, s->f[i].start, agg,
                            owned, s->f[i].ts, 1);
}

static int has_start(const scan_t *s, int64_t start) {
        size_t i;
        for (i = 0; i < s->cnt; i++)
                if (s->f[i].start == start)
                        return 1;
        return 0;
}

/* A record at t < d: the combined window [0, d] (processEarly). */
static int slide_early(sl_task_t *task, const sl_node_t *node, win_task_t *ws,
                       sluice_record_t *rec, const void *k, size_t klen,
                       scan_t *s) {
        int64_t t = rec->timestamp, prev = -1;
        long combined = -1, right = -1;
        int right_created = 0, err;
        size_t i;
        for (i = 0; i < s->cnt; i++) {
                int64_t st = s->f[i].start;
                if (st == 0) {
                        combined = (long)i;
                        if (s->f[i].ts < t)
                                prev = s->f[i].ts;
                } else if (st <= t) {
                        right = (long)i;
                        if ((err = slide_found_update(task, node, ws, rec, k,
                                                      klen, s, i)))
                                return err;
                } else if (st == t + 1) {
                        right_created = 1;
                }
        }
        if (right < 0 && combined >= 0 && s->f[combined].ts > t)
                right = combined;
        if (!right_created && right >= 0 && s->f[right].ts > t &&
            (err = slide_copy(task, node, ws, rec, k, klen, t + 1, s,
                              (size_t)right)))
                return err;
        if (prev >= 0 && !has_start(s, prev + 1) &&
            (err = slide_update(task, node, ws, rec, k, klen, prev + 1,
                                sluice_null(), 0, t, 0)))
                return err;
        if (combined < 0)
                return slide_update(task, node, ws, rec, k, klen, 0,
                                    sluice_null(), 0, t, 0);
        return slide_found_update(task, node, ws, rec, k, klen, s,
                                  (size_t)combined);
}

/* processReverse: the key's windows newest first. */
static int slide_reverse(sl_task_t *task, const sl_node_t *node,
                         win_task_t *ws, sluice_record_t *rec, const void *k,
                         size_t klen, scan_t *s) {
        const sl_win_t *W = node->priv;
        int64_t t = rec->timestamp, d = W->w.size_ms, prev = -1;
        long left = -1, right = -1;
        int left_created = 0, right_created = 0, err;
        size_t j;
        for (j = s->cnt; j-- > 0;) {
                int64_t st = s->f[j].start, end = st + d;
                if (st == t + 1) {
                        right_created = 1;
                } else if (end > t) {
                        if (right < 0)
                                right = (long)j;
                        if ((err = slide_found_update(task, node, ws, rec, k,
                                                      klen, s, j)))
                                return err;
                } else if (end == t) {
                        left_created = 1;
                        if ((err = slide_found_update(task, node, ws, rec, k,
                                                      klen, s, j)))
                                return err;
                        if (s->f[j].ts < t)
                                prev = s->f[j].ts;
                        else
                                return 0;
                } else {
                        left = (long)j;
                        prev = s->f[j].ts;
                        break;
                }
        }
        /* createWindows */
        if (prev >= 0 && !has_start(s, prev + 1) && prev + 1 + d >= t &&
            (err = slide_update(task, node, ws, rec, k, klen, prev + 1,
                                sluice_null(), 0, t, 0)))
                return err;
        if (!left_created) {
                if (prev >= 0 && t - d <= prev && left >= 0) {
                        sluice_value_t agg;
                        int owned;
                        if ((err = found_agg(task, node, s, (size_t)left, &agg,
                                             &owned)) ||
                            (err = slide_update(task, node, ws, rec, k, klen,
                                                t - d, agg, owned, t, 1)))
                                return err;
                } else if ((err = slide_update(task, node, ws, rec, k, klen,
                                               t - d, sluice_null(), 0, t,
                                               0))) {
                        return err;
                }
        }
        if (!right_created && right >= 0 && s->f[right].ts > t)
                return slide_copy(task, node, ws, rec, k, klen, t + 1, s,
                                  (size_t)right);
        return 0;
}

static int sliding_process(sl_task_t *task, const sl_node_t *node,
                           sluice_record_t *rec) {
        const sl_win_t *W = node->priv;
        win_task_t *ws    = task->node_state[node->id];
        const void *k;
        size_t klen;
        int64_t t = rec->timestamp, d = W->w.size_ms;
        scan_t s;
        int err;

        if (rec->key.type == SLUICE_VALUE_NULL ||
            rec->value.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if ((err = key_bytes(task, node, ws, rec, &k, &klen)))
                return err;
        if (t > ws->observed)
                ws->observed = t;
        if (t + 1 + d <= ws->observed - W->w.grace_ms)
                return late(task, node, ws, rec, k, klen);
        memset(&s, 0, sizeof(s));
        s.W    = W;
        s.k    = k;
        s.klen = klen;
        if (t < d) {
                s.lo = 0;
                s.hi = t + 1;
        } else {
                s.lo = t - 2 * d < 0 ? 0 : t - 2 * d;
                s.hi = t + 1;
        }
        err = scan_key(task, node, ws, &s, s.lo, s.hi);
        if (!err)
                err = t < d ? slide_early(task, node, ws, rec, k, klen, &s)
                            : slide_reverse(task, node, ws, rec, k, klen, &s);
        scan_free(&s);
        if (!err)
                err = emit_final(task, node, ws, rec);
        return err;
}

/* ---- session windows ---- */

/* The same JSON or object (a callback handed a value back). */
static int same_value(const sluice_value_t *a, const sluice_value_t *b) {
        return a->type == b->type &&
               ((a->type == SLUICE_VALUE_JSON && a->u.json == b->u.json) ||
                (a->type == SLUICE_VALUE_OBJECT &&
                 a->u.obj.ptr == b->u.obj.ptr));
}

/* Session merger: Kafka Streams' for count (a + b) and reduce (the
 * reducer); the user's for aggregate. */
static int session_merge(sl_task_t *task, const sl_node_t *node,
                         const sluice_value_t *key, sluice_value_t *agg,
                         int *owned, sluice_value_t *other, int other_owned) {
        const sl_win_t *W  = node->priv;
        sluice_value_t res = sluice_null();
        int r_owned, err;
        switch (W->agg.kind) {
        case SL_AGG_COUNT:
                *agg = sluice_int64(
                    (agg->type == SLUICE_VALUE_INT64 ? agg->u.i64 : 0) +
                    (other->type == SLUICE_VALUE_INT64 ? other->u.i64 : 0));
                return 0;
        case SL_AGG_REDUCE:
                if (agg->type == SLUICE_VALUE_NULL) {
                        *agg   = *other;
                        *owned = other_owned;
                        return 0;
                }
                /* the reducer combines them as a value into an aggregate */
                err = sl_agg_step(task, node, 1, key, other, agg, owned);
                sl_op_release_if(other, other_owned);
                return err;
        default:
                if (W->merger(key, agg, other, &res, node->opaque)) {
                        sl_op_release_if(other, other_owned);
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                                       "session merger callback failed");
                }
                if (same_value(&res, agg)) {
                        /* @agg edited in place and handed back */
                        sl_op_release_if(other, other_owned);
                        return 0;
                }
                if (same_value(&res, other)) {
                        /* the other session's aggregate handed back */
                        sl_op_release_if(agg, *owned);
                        *agg   = *other;
                        *owned = other_owned;
                        return 0;
                }
                sl_op_release_if(other, other_owned);
                if ((err = sl_value_adopt(task, &res, &r_owned)))
                        return err;
                sl_op_release_if(agg, *owned);
                *agg   = res;
                *owned = r_owned;
                return 0;
        }
}

static int session_process(sl_task_t *task, const sl_node_t *node,
                           sluice_record_t *rec) {
        const sl_win_t *W = node->priv;
        win_task_t *ws    = task->node_state[node->id];
        const void *k;
        size_t klen, i;
        int64_t t = rec->timestamp, gap = W->w.size_ms, mstart, mend;
        sluice_value_t agg = sluice_null();
        int owned = 0, err;
        scan_t s;

        if (rec->key.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if ((err = key_bytes(task, node, ws, rec, &k, &klen)))
                return err;
        if (t > ws->observed)
                ws->observed = t;
        memset(&s, 0, sizeof(s));
        s.W    = W;
        s.k    = k;
        s.klen = klen;
        s.lo   = t - gap;
        s.hi   = t + gap;
        /* findSessions(key, t - gap, t + gap): every session ending at or
         * after t - gap that starts by t + gap; no session ends after the
         * newest end written (restored windows included: see ready) */
        if ((err = scan_key(task, node, ws, &s, t - gap,
                            ws->max_t1 > ws->observed ? ws->max_t1
                                                      : ws->observed)))
                goto out;
        if (W->agg.kind == SL_AGG_AGGREGATE) {
                sluice_value_t init = sluice_null();
                if (W->agg.init(&init, node->opaque)) {
                        err = sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                                      "initializer failed");
                        goto out;
                }
                if ((err = sl_value_adopt(task, &init, &owned)))
                        goto out;
                agg = init;
        } else if (W->agg.kind == SL_AGG_COUNT) {
                agg = sluice_int64(0);
        }
        mstart = mend = t;
        for (i = 0; i < s.cnt; i++) {
                sluice_value_t other;
                int o_owned;
                if ((err = found_agg(task, node, &s, i, &other, &o_owned)) ||
                    (err = session_merge(task, node, &rec->key, &agg, &owned,
                                         &other, o_owned)))
                        goto out;
                if (s.f[i].start < mstart)
                        mstart = s.f[i].start;
                if (s.f[i].end > mend)
                        mend = s.f[i].end;
        }
        if (!window_open(W, mend, ws->observed)) {
                err = late(task, node, ws, rec, k, klen);
                goto out;
        }
        if (mstart != t || mend != t) {
                /* the merged-away sessions go, with tombstones */
                for (i = 0; i < s.cnt; i++)
                        if ((err = win_put(task, node, ws, rec, k, klen,
                                           s.f[i].start, s.f[i].end,
                                           sluice_null(), 0, s.f[i].end)))
                                goto out;
        }
        /* then the record (count: + 1; reduce: the first value as it is,
         * or the reducer; aggregate: the adder) */
        if ((err = sl_agg_step(task, node, 1, &rec->key, &rec->value, &agg,
                               &owned)))
                goto out;
        err   = win_put(task, node, ws, rec, k, klen, mstart, mend, agg,
                        owned, mend);
        agg   = sluice_null();
        owned = 0;
        if (!err)
                err = emit_final(task, node, ws, rec);
out:
        sl_op_release_if(&agg, owned);
        scan_free(&s);
        return err;
}

/* ---- the cache's flush: write through and forward (emit on update) ---- */

/* The newest window time in the backend before this flushed entry
 * (@t1) goes there. */
static int64_t task_state_max(const sl_task_t *task, const sl_node_t *node,
                              int64_t t1) {
        win_task_t *ws = task->node_state[node->id];
        int64_t m;
        if (!ws)
                return -1;
        m = ws->flushed_max;
        if (t1 > ws->flushed_max)
                ws->flushed_max = t1;
        return m;
}

static int win_flush(sl_task_t *task, const sl_node_t *node, sluice_kv_t *kv,
                     const void *key, size_t klen, const void *value,
                     size_t vlen, int64_t ts) {
        const sl_win_t *W = node->priv;
        const unsigned char *k;
        size_t kl;
        int64_t start, end, sts;
        sluice_value_t kv_key, v = sluice_null(), old = sluice_null();
        int k_owned, v_owned = 0, old_owned = 0, err, had = 0;
        const void *stored;
        size_t slen;
        int64_t newest;

        if (ckey_parse(W, key, klen, &k, &kl, &start, &end) || W->emit_final)
                goto through; /* the meta record; or nothing to forward */
        task->errstr[0] = '\0';
        had = sl_kv_get(kv, key, klen, &stored, &slen, &sts);
        if (had < 0)
                return sl_op_store_fail(task, node, had);
        if (!value && !had)
                goto through; /* null in both: Kafka Streams skips it */
        newest = task_state_max(task, node, is_session(W) ? end : start);
        if (!value &&
            (is_session(W) ? end : start) < newest - W->retention + 1)
                goto through; /* the store hid the old one: nothing to
                                 retract, as Kafka Streams sees it */
        if (had && node->send_old &&
            (err = agg_decode(task, node, stored, slen, &old, &old_owned)))
                return err;
        if ((err = sl_kv_write_flushed(kv, key, klen, value, vlen, ts))) {
                sl_op_release_if(&old, old_owned);
                return sl_op_store_fail(task, node, err);
        }
        if ((err = sl_op_decode(task, node, node->key_serde, k, kl, &kv_key,
                                &k_owned))) {
                sl_op_release_if(&old, old_owned);
                return err;
        }
        if (value && (err = agg_decode(task, node, value, vlen, &v, &v_owned))) {
                sl_op_release_if(&kv_key, k_owned);
                sl_op_release_if(&old, old_owned);
                return err;
        }
        {
                sluice_record_t tpl = win_template(task, node, NULL, start,
                                                   end);
                err = sl_forward_change(task, node, W->agg.serde, &tpl,
                                        kv_key, k, kl, v, v_owned, value,
                                        vlen, old, old_owned, ts);
        }
        sl_op_release_if(&kv_key, k_owned);
        return err;
through:
        if ((err = sl_kv_write_flushed(kv, key, klen, value, vlen, ts)))
                return sl_op_store_fail(task, node, err);
        return 0;
}

/* {"<node>":{"late_records":n,"stream_time":t,"windows_open":n}} in
 * the task's "operators" (sluice_app_metrics_json(), the driver's). */
static void win_metrics(const sl_task_t *task, const sl_node_t *node,
                        json_t *operators) {
        const sl_win_t *W    = node->priv;
        const win_task_t *ws = task->node_state[node->id];
        json_t *o;
        if (!ws || !(o = json_object()))
                return;
        json_object_set_new(o, "late_records",
                            json_integer((json_int_t)ws->late));
        json_object_set_new(o, "stream_time",
                            json_integer((json_int_t)ws->observed));
        if (W->emit_final)
                json_object_set_new(
                    o, "windows_pending",
                    json_integer((json_int_t)sl_oset_count(ws->pending)));
        json_object_set_new(operators, node->name, o);
}

#define WINDOW_OPS(fn)                                                         \
        {.family    = "window",                                                \
         .process   = fn,                                                      \
         .flush     = win_flush,                                               \
         .open      = win_open,                                                \
         .ready     = win_ready,                                               \
         .commit    = win_commit,                                              \
         .close     = win_close,                                               \
         .metrics   = win_metrics}
static const sl_node_ops_t time_ops    = WINDOW_OPS(time_process);
static const sl_node_ops_t sliding_ops = WINDOW_OPS(sliding_process);
static const sl_node_ops_t session_ops = WINDOW_OPS(session_process);

/* ---- builder calls ---- */

sluice_windowed_t *sluice_grouped_windowed_by(sluice_grouped_t *g,
                                              sluice_windows_t w) {
        const char *call = "sluice_grouped_windowed_by";
        sluice_topology_t *t;
        sluice_windowed_t *wd;
        const char *what = NULL;
        if (!g || sl_topo_check_open(g->t, call))
                return NULL;
        t = g->t;
        if (g->table) {
                sl_topo_error(t,
                              "%s: windows need a grouped stream, not a "
                              "grouped table",
                              call);
                return NULL;
        }
        switch (w.type) {
        case SLUICE_WINDOW_TIME:
                if (w.size_ms <= 0)
                        what = "the window size must be > 0";
                else if (w.advance_ms <= 0 || w.advance_ms > w.size_ms)
                        what = "the advance must be > 0 and <= the size";
                break;
        case SLUICE_WINDOW_SLIDING:
                if (w.size_ms <= 0)
                        what = "the time difference must be > 0";
                break;
        case SLUICE_WINDOW_SESSION:
                if (w.size_ms <= 0)
                        what = "the inactivity gap must be > 0";
                break;
        default:
                what = "unknown window type (use sluice_windows_*())";
        }
        if (!what && w.grace_ms < 0)
                what = "the grace period must be >= 0";
        if (what) {
                sl_topo_error(t, "%s: %s", call, what);
                return NULL;
        }
        if (sl_grow((void **)&t->windoweds, &t->windowed_cap, t->windowed_cnt,
                    sizeof(*t->windoweds)) ||
            !(wd = calloc(1, sizeof(*wd)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        wd->g                           = g;
        wd->w                           = w;
        t->windoweds[t->windowed_cnt++] = wd;
        return wd;
}

static int windowed_check(sluice_windowed_t *w, const char *call) {
        if (!w || sl_topo_check_open(w->g->t, call))
                return -1;
        if (w->used) {
                sl_topo_error(w->g->t,
                              "%s: set options before the aggregation", call);
                return -1;
        }
        return 0;
}

int sluice_windowed_set_emit_final(sluice_windowed_t *w) {
        if (windowed_check(w, "sluice_windowed_set_emit_final"))
                return SLUICE_ERR_TOPOLOGY;
        w->emit_final = 1;
        return 0;
}

/* Kafka Streams' window store retention: size + grace; sliding windows
 * 2 x the time difference + grace (a record reads windows that far
 * back); sessions gap + grace. */
static int64_t min_retention(const sluice_windows_t *w) {
        return (w->type == SLUICE_WINDOW_SLIDING ? 2 * w->size_ms
                                                 : w->size_ms) +
               w->grace_ms;
}

int sluice_windowed_set_retention(sluice_windowed_t *w, int64_t retention_ms) {
        const char *call = "sluice_windowed_set_retention";
        if (windowed_check(w, call))
                return SLUICE_ERR_TOPOLOGY;
        if (retention_ms < min_retention(&w->w)) {
                sl_topo_error(w->g->t,
                              "%s: retention %lld ms is less than the "
                              "window's %s plus grace (%lld ms)",
                              call, (long long)retention_ms,
                              w->w.type == SLUICE_WINDOW_SESSION ? "gap"
                              : w->w.type == SLUICE_WINDOW_SLIDING
                                  ? "twice the time difference"
                                  : "size",
                              (long long)min_retention(&w->w));
                return SLUICE_ERR_TOPOLOGY;
        }
        w->retention = retention_ms;
        return 0;
}

int sluice_windowed_set_late_topic(sluice_windowed_t *w, const char *topic) {
        const char *call = "sluice_windowed_set_late_topic";
        if (windowed_check(w, call))
                return SLUICE_ERR_TOPOLOGY;
        if (!topic || !*topic || strlen(topic) > 249) {
                sl_topo_error(w->g->t, "%s: topic name is empty or too long",
                              call);
                return SLUICE_ERR_TOPOLOGY;
        }
        free(w->late_topic);
        if (!(w->late_topic = sl_strdup(topic))) {
                sl_topo_error(w->g->t, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        return 0;
}

static sluice_table_t *windowed_new(sluice_windowed_t *wd, const char *call,
                                    sl_agg_kind_t kind, const char *store,
                                    const sluice_serde_t *agg_serde) {
        sluice_grouped_t *g  = wd->g;
        sluice_topology_t *t = g->t;
        sl_node_t *parent    = g->node, *n;
        sl_win_t *W;
        char gen[300];
        int idx;
        const sl_node_ops_t *ops = wd->w.type == SLUICE_WINDOW_TIME
                                       ? &time_ops
                                   : wd->w.type == SLUICE_WINDOW_SLIDING
                                       ? &sliding_ops
                                       : &session_ops;

        if (sl_topo_check_open(t, call) ||
            sl_serde_check(t, call, "aggregate", agg_serde))
                return NULL;
        if (wd->used) {
                sl_topo_error(t,
                              "%s: this windowed grouping has its "
                              "aggregation already",
                              call);
                return NULL;
        }
        if (!g->key_serde || (kind != SL_AGG_COUNT && !g->value_serde) ||
            (g->repartition && !g->value_serde)) {
                sl_topo_error(t,
                              "%s: the grouped stream's %s serde is unknown; "
                              "pass it to the group_by call",
                              call, !g->key_serde ? "key" : "value");
                return NULL;
        }
        if (!store) {
                snprintf(gen, sizeof(gen), "KSTREAM-AGGREGATE-STATE-STORE-%010d",
                         t->name_seq++);
                store = gen;
        }
        if (sl_topology_store(t, store)) {
                sl_topo_error(t, "%s: a store named \"%s\" already exists",
                              call, store);
                return NULL;
        }
        if (g->repartition) {
                sluice_stream_t tmp = {t, g->node, g->key_serde,
                                       g->value_serde, 0};
                sluice_stream_t *rs = sl_repartition(&tmp, call, store, 0, 0);
                if (!rs)
                        return NULL;
                parent = rs->node;
        }
        if (!(n = sl_node_new(t, SL_NODE_WINDOW_AGGREGATE, ops, parent)))
                return NULL;
        if (!(W = calloc(1, sizeof(*W)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        n->priv        = W;
        W->agg.kind    = kind;
        W->agg.serde   = agg_serde;
        W->w           = wd->w;
        W->emit_final  = wd->emit_final;
        W->retention   = wd->retention ? wd->retention : min_retention(&wd->w);
        W->seg_ms      = W->retention / 2 > SEG_MIN_MS ? W->retention / 2
                                                       : SEG_MIN_MS;
        if (wd->late_topic) {
                W->has_late_topic = 1;
                snprintf(W->late_topic, sizeof(W->late_topic), "%s",
                         wd->late_topic);
        }
        n->key_serde   = g->key_serde;
        n->value_serde = g->value_serde;
        idx = sl_store_new(t, call, store, "", g->key_serde, agg_serde, n);
        if (idx < 0)
                return NULL;
        t->stores[idx]->retention_ms = W->retention;
        n->store                     = idx;
        wd->used                     = 1;
        free(wd->late_topic);
        wd->late_topic = NULL;
        return sl_table_new(t, n, g->key_serde, agg_serde, idx);
}

sluice_table_t *sluice_windowed_count(sluice_windowed_t *w, const char *store) {
        if (!w)
                return NULL;
        return windowed_new(w, "sluice_windowed_count", SL_AGG_COUNT, store,
                            sluice_serde_int64());
}

sluice_table_t *sluice_windowed_reduce(sluice_windowed_t *w,
                                       sluice_reducer_cb *reducer,
                                       void *opaque, const char *store) {
        const char *call = "sluice_windowed_reduce";
        sluice_table_t *tbl;
        if (!w || sl_topo_check_open(w->g->t, call))
                return NULL;
        if (!reducer) {
                sl_topo_error(w->g->t, "%s: reducer is NULL", call);
                return NULL;
        }
        if (!w->g->value_serde) {
                sl_topo_error(w->g->t,
                              "%s: the grouped stream's value serde is "
                              "unknown; pass it to the group_by call",
                              call);
                return NULL;
        }
        tbl = windowed_new(w, call, SL_AGG_REDUCE, store, w->g->value_serde);
        if (tbl) {
                sl_win_t *W       = tbl->node->priv;
                W->agg.red_add    = reducer;
                tbl->node->opaque = opaque;
        }
        return tbl;
}

sluice_table_t *sluice_windowed_aggregate(sluice_windowed_t *w,
                                          sluice_initializer_cb *init,
                                          sluice_aggregator_cb *adder,
                                          sluice_merger_cb *merger,
                                          void *opaque,
                                          const sluice_serde_t *agg_serde,
                                          const char *store) {
        const char *call = "sluice_windowed_aggregate";
        sluice_table_t *tbl;
        if (!w || sl_topo_check_open(w->g->t, call))
                return NULL;
        if (!init || !adder) {
                sl_topo_error(w->g->t, "%s: %s is NULL", call,
                              !init ? "initializer" : "adder");
                return NULL;
        }
        if ((w->w.type == SLUICE_WINDOW_SESSION) != (merger != NULL)) {
                sl_topo_error(w->g->t,
                              merger ? "%s: only session windows take a "
                                       "merger (pass NULL)"
                                     : "%s: session windows need a merger "
                                       "(sessions that a record bridges are "
                                       "merged)",
                              call);
                return NULL;
        }
        if (!agg_serde) {
                sl_topo_error(w->g->t, "%s: the aggregate's serde is NULL",
                              call);
                return NULL;
        }
        tbl = windowed_new(w, call, SL_AGG_AGGREGATE, store, agg_serde);
        if (tbl) {
                sl_win_t *W       = tbl->node->priv;
                W->agg.init       = init;
                W->agg.agg_add    = adder;
                W->merger         = merger;
                tbl->node->opaque = opaque;
        }
        return tbl;
}

/* ---- suppress ---- */

/*
 * The buffer is a store of its own (changelogged, restored):
 *     [0x00][buffer time][key]  -> [1: value follows, 0: a delete][value]
 *     [0x01][key]               -> [buffer time]
 *     [0x02]                    -> [stream time]
 * where key is the record's key bytes with its window (as a sink writes
 * them) and the buffer time the window's end (untilWindowCloses) or the
 * time of the key's first buffered update (untilTimeLimit). Entries leave
 * in (buffer time, key) order, Kafka Streams' BufferKey order.
 */
typedef struct sl_sup_s {
        int until_close;
        int64_t duration; /* emit once buffer time <= stream time - this */
        size_t max_records;
        unsigned win_flags; /* the upstream window's SL_REC_WIN_* (0: none) */
        int64_t win_size;   /* time windows: end = start + size */
        const sluice_serde_t *value_serde;
} sl_sup_t;

typedef struct sup_task_s {
        int64_t observed, meta_obs;
        size_t count; /* entries buffered */
        sluice_buf_t key, ek, ik; /* record key; entry and index keys */
        sluice_buf_t first;       /* the oldest entry's key */
        sluice_buf_t val;
        int64_t first_ts;
} sup_task_t;

static int sup_count_visit(const void *key, size_t klen, const void *value,
                           size_t vlen, int64_t ts, void *opaque) {
        (void)key;
        (void)klen;
        (void)value;
        (void)vlen;
        (void)ts;
        ((sup_task_t *)opaque)->count++;
        return 0;
}

static int sup_open(sl_task_t *task, const sl_node_t *node, char *errstr,
                    size_t errstr_size) {
        sup_task_t *st = calloc(1, sizeof(*st));
        (void)node;
        if (!st) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        st->observed = st->meta_obs = -1;
        task->node_state[node->id]  = st;
        return 0;
}

static int sup_ready(sl_task_t *task, const sl_node_t *node, char *errstr,
                     size_t errstr_size) {
        sup_task_t *st  = task->node_state[node->id];
        sluice_kv_t *kv = task->kvs[node->store];
        const unsigned char from = 0x01, to = 0x01, meta = 0x02;
        const void *v;
        size_t vlen;
        int64_t ts;
        int r = sl_kv_get(kv, &meta, 1, &v, &vlen, &ts);
        if (r > 0 && vlen == 8)
                st->observed = st->meta_obs = (int64_t)sl_get_be64(v);
        /* the index entries: one per buffered key ("\x01" alone sorts
         * first, "\x01..." after it, "\x02" after all of them) */
        st->count = 0;
        if (r < 0 || sl_kv_range(kv, &from, 1, &meta, 1, sup_count_visit,
                                 st) < 0) {
                sl_errstr(errstr, errstr_size,
                          "suppression buffer \"%s\": cannot read it",
                          kv->def->name);
                return SLUICE_ERR_STATE;
        }
        (void)to;
        /* the meta record is in the range's upper bound */
        if (r > 0 && st->count)
                st->count--;
        return 0;
}

static void sup_close(sl_task_t *task, const sl_node_t *node) {
        sup_task_t *st = task->node_state[node->id];
        if (!st)
                return;
        free(st->key.data);
        free(st->ek.data);
        free(st->ik.data);
        free(st->first.data);
        free(st->val.data);
        free(st);
        task->node_state[node->id] = NULL;
}

static int sup_commit(sl_task_t *task, const sl_node_t *node) {
        sup_task_t *st = task->node_state[node->id];
        const unsigned char meta = 0x02;
        unsigned char v[8];
        int err;
        if (st->observed == st->meta_obs)
                return 0;
        sl_put_be64(v, (uint64_t)st->observed);
        task->errstr[0] = '\0';
        if ((err = sl_kv_write_flushed(task->kvs[node->store], &meta, 1, v,
                                       sizeof(v), st->observed)))
                return sl_op_store_fail(task, node, err);
        st->meta_obs = st->observed;
        return 0;
}

/* [tag](time)[key] into @b. */
static int sup_key(sluice_buf_t *b, unsigned char tag, int with_time,
                   int64_t time, const void *k, size_t klen) {
        size_t n = 1 + (with_time ? 8u : 0u) + klen;
        b->len   = 0;
        if (sluice_buf_reserve(b, n))
                return SLUICE_ERR_NOMEM;
        b->data[0] = tag;
        if (with_time)
                sl_put_be64(b->data + 1, (uint64_t)time);
        if (klen)
                memcpy(b->data + 1 + (with_time ? 8 : 0), k, klen);
        b->len = n;
        return 0;
}

static int sup_first_visit(const void *key, size_t klen, const void *value,
                           size_t vlen, int64_t ts, void *opaque) {
        sup_task_t *st = opaque;
        st->first.len  = 0;
        st->val.len    = 0;
        if (sluice_buf_reserve(&st->first, klen) ||
            sluice_buf_reserve(&st->val, vlen ? vlen : 1))
                return 1;
        memcpy(st->first.data, key, klen);
        st->first.len = klen;
        if (vlen)
                memcpy(st->val.data, value, vlen);
        st->val.len  = vlen;
        st->first_ts = ts;
        return 1;
}

/* Emit the oldest entry (and delete it). */
static int sup_emit_first(sl_task_t *task, const sl_node_t *node,
                          sup_task_t *st, const sluice_record_t *rec) {
        const sl_sup_t *S = node->priv;
        sluice_kv_t *kv   = task->kvs[node->store];
        const unsigned char *k = st->first.data + 9;
        size_t klen = st->first.len - 9, tail = 0;
        sluice_record_t tpl;
        sluice_value_t key, v = sluice_null();
        int k_owned, v_owned = 0, err, w;

        if (S->win_flags)
                tail = S->win_flags & SL_REC_WIN_SESSION ? 16 : 8;
        if (sup_key(&st->ik, 0x01, 0, 0, k, klen))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        task->errstr[0] = '\0';
        if ((w = sl_kv_write(kv, st->first.data, st->first.len, NULL, 0,
                             st->first_ts)) < 0 ||
            (w = sl_kv_write(kv, st->ik.data, st->ik.len, NULL, 0,
                             st->first_ts)) < 0)
                return sl_op_store_fail(task, node, w);
        if (st->count)
                st->count--;
        if (!st->val.len || st->val.data[0] == 0) {
                if (S->until_close)
                        return 0; /* deletes are not final results */
        } else if ((err = sl_op_decode(task, node, S->value_serde,
                                       st->val.data + 1, st->val.len - 1, &v,
                                       &v_owned))) {
                return err;
        }
        if (klen < tail)
                return sl_fail(task, node, SLUICE_ERR_STATE, "%s",
                               "suppression buffer: malformed key");
        if ((err = sl_op_decode(task, node, node->key_serde, k, klen - tail,
                                &key, &k_owned))) {
                sl_op_release_if(&v, v_owned);
                return err;
        }
        tpl       = *rec;
        tpl.flags = 0;
        if (tail == 16) {
                tpl.flags     = SL_REC_WIN_SESSION;
                tpl.win_end   = (int64_t)sl_get_be64(k + klen - 16);
                tpl.win_start = (int64_t)sl_get_be64(k + klen - 8);
        } else if (tail == 8) {
                tpl.flags     = SL_REC_WIN_TIME;
                tpl.win_start = (int64_t)sl_get_be64(k + klen - 8);
                tpl.win_end   = tpl.win_start + S->win_size;
        }
        err = sl_forward_change(task, node, S->value_serde, &tpl, key, NULL, 0,
                                v, v_owned, NULL, 0, sluice_null(), 0,
                                st->first_ts);
        sl_op_release_if(&key, k_owned);
        return err;
}

/* The oldest entry into st->first: 1, or 0 if the buffer is empty. */
static int sup_first(sl_task_t *task, const sl_node_t *node,
                     sup_task_t *st) {
        const unsigned char from = 0x00, to = 0x01;
        int64_t r;
        st->first.len = 0;
        r = sl_kv_range(task->kvs[node->store], &from, 1, &to, 1,
                        sup_first_visit, st);
        if (r < 0)
                return sl_op_store_fail(task, node, (int)r);
        /* "\x01" itself is the bound: only entries of the 0x00 space */
        return st->first.len > 9 && st->first.data[0] == 0x00;
}

static int sup_process(sl_task_t *task, const sl_node_t *node,
                       sluice_record_t *rec) {
        const sl_sup_t *S = node->priv;
        sup_task_t *st    = task->node_state[node->id];
        sluice_kv_t *kv   = task->kvs[node->store];
        const void *k0, *v = NULL, *stored;
        size_t klen, vlen = 0, slen;
        int64_t btime, sts;
        int err, found, w;

        if (rec->timestamp > st->observed)
                st->observed = rec->timestamp;
        if ((err = sl_op_key_bytes(task, node, rec, node->key_serde,
                                   &task->kbuf, &k0, &klen)))
                return err;
        st->key.len = 0;
        if (sluice_buf_reserve(&st->key, klen + 16))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (klen)
                memcpy(st->key.data, k0, klen);
        st->key.len = klen;
        if ((rec->flags & SL_REC_WINDOWED) &&
            sl_window_key_append(&st->key, st->key.data, klen, rec))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (S->until_close && !(rec->flags & SL_REC_WINDOWED))
                return sl_fail(task, node, SLUICE_ERR_STATE, "%s",
                               "suppress until the window closes got a "
                               "record without a window");
        btime = S->until_close ? rec->win_end : rec->timestamp;
        /* the key's entry so far: untilTimeLimit keeps its first time */
        if (sup_key(&st->ik, 0x01, 0, 0, st->key.data, st->key.len))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        task->errstr[0] = '\0';
        found = sl_kv_get(kv, st->ik.data, st->ik.len, &stored, &slen, &sts);
        if (found < 0)
                return sl_op_store_fail(task, node, found);
        if (found && slen == 8) {
                int64_t old = (int64_t)sl_get_be64(stored);
                if (!S->until_close)
                        btime = old;
                else if (old != btime) {
                        /* a window's end never changes; keep one entry */
                        if (sup_key(&st->ek, 0x00, 1, old, st->key.data,
                                    st->key.len))
                                return sl_fail(task, node, SLUICE_ERR_NOMEM,
                                               "%s", "out of memory");
                        if ((w = sl_kv_write(kv, st->ek.data, st->ek.len,
                                             NULL, 0, rec->timestamp)) < 0)
                                return sl_op_store_fail(task, node, w);
                }
        } else {
                found = 0;
        }
        /* the value: [1][bytes] or [0] for a delete */
        st->val.len = 0;
        if (rec->value.type != SLUICE_VALUE_NULL) {
                if (rec->raw_value_serde == S->value_serde && rec->raw_value) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else if ((err = sl_op_value_bytes(task, node, &rec->value,
                                                    S->value_serde,
                                                    &task->vbuf, &v,
                                                    &vlen))) {
                        return err;
                }
        }
        if (sluice_buf_reserve(&st->val, vlen + 1))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        st->val.data[0] = rec->value.type != SLUICE_VALUE_NULL;
        if (vlen)
                memcpy(st->val.data + 1, v, vlen);
        st->val.len = vlen + 1;
        if (sup_key(&st->ek, 0x00, 1, btime, st->key.data, st->key.len))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        {
                unsigned char tb[8];
                sl_put_be64(tb, (uint64_t)btime);
                if ((w = sl_kv_write(kv, st->ek.data, st->ek.len, st->val.data,
                                     st->val.len, rec->timestamp)) < 0 ||
                    (w = sl_kv_write(kv, st->ik.data, st->ik.len, tb,
                                     sizeof(tb), rec->timestamp)) < 0)
                        return sl_op_store_fail(task, node, w);
        }
        if (!found)
                st->count++;
        /* what is due, oldest first; then what does not fit */
        for (;;) {
                int r = sup_first(task, node, st);
                int64_t first_time;
                if (r < 0)
                        return r;
                if (!r)
                        break;
                first_time = (int64_t)sl_get_be64(st->first.data + 1);
                if (first_time > st->observed - S->duration &&
                    !(S->max_records && st->count > S->max_records))
                        break;
                if ((err = sup_emit_first(task, node, st, rec)))
                        return err;
        }
        return 0;
}

static const sl_node_ops_t suppress_ops = {.family  = "window",
                                           .process = sup_process,
                                           .open    = sup_open,
                                           .ready   = sup_ready,
                                           .commit  = sup_commit,
                                           .close   = sup_close};

static sluice_table_t *suppress_new(sluice_table_t *tbl, const char *call,
                                    int until_close, int64_t limit,
                                    size_t max_records, const char *name) {
        sluice_topology_t *t = tbl->t;
        const sl_node_t *up  = tbl->node;
        sl_node_t *n;
        sl_sup_t *S;
        char store[300];
        int idx;

        if (sl_topo_check_open(t, call))
                return NULL;
        if (!tbl->key_serde || !tbl->value_serde) {
                sl_topo_error(t,
                              "%s: the table's %s serde is unknown (name it "
                              "where the table is made)",
                              call, !tbl->key_serde ? "key" : "value");
                return NULL;
        }
        /* the windowed aggregation upstream (through table operators) */
        while (up && up->kind != SL_NODE_WINDOW_AGGREGATE &&
               (up->kind == SL_NODE_TABLE_FILTER ||
                up->kind == SL_NODE_TABLE_FILTER_NOT ||
                up->kind == SL_NODE_TABLE_MAP_VALUES ||
                up->kind == SL_NODE_SUPPRESS) &&
               up->parent_cnt == 1)
                up = up->parents[0];
        if (up && up->kind != SL_NODE_WINDOW_AGGREGATE)
                up = NULL;
        if (until_close && !up) {
                sl_topo_error(t,
                              "%s: the table is not windowed (suppress until "
                              "the window closes needs a windowed "
                              "aggregation upstream)",
                              call);
                return NULL;
        }
        if (!until_close && limit < 0) {
                sl_topo_error(t, "%s: the time limit must be >= 0", call);
                return NULL;
        }
        if (name && !*name) {
                sl_topo_error(t, "%s: the name is empty", call);
                return NULL;
        }
        if (!(n = sl_node_new(t, SL_NODE_SUPPRESS, &suppress_ops, tbl->node)))
                return NULL;
        if (name) {
                char *nn = sl_strdup(name);
                if (!nn) {
                        sl_topo_error(t, "out of memory");
                        return NULL;
                }
                free(n->name);
                n->name = nn;
                snprintf(store, sizeof(store), "%s-store", name);
        } else {
                snprintf(store, sizeof(store),
                         "KTABLE-SUPPRESS-STATE-STORE-%010d", t->name_seq++);
        }
        if (sl_topology_store(t, store)) {
                sl_topo_error(t, "%s: a store named \"%s\" already exists",
                              call, store);
                return NULL;
        }
        if (!(S = calloc(1, sizeof(*S)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        n->priv        = S;
        S->until_close = until_close;
        S->max_records = max_records;
        S->value_serde = tbl->value_serde;
        if (up) {
                const sl_win_t *W = up->priv;
                S->win_flags      = is_session(W) ? SL_REC_WIN_SESSION
                                                  : SL_REC_WIN_TIME;
                S->win_size       = W->w.size_ms;
                S->duration       = until_close
                                        ? W->w.grace_ms + (is_session(W)
                                                               ? W->w.size_ms
                                                               : 0)
                                        : limit;
        } else {
                S->duration = limit;
        }
        n->key_serde   = tbl->key_serde;
        n->value_serde = tbl->value_serde;
        /* bytes: the buffer's own layout */
        idx = sl_store_new(t, call, store, "", NULL, NULL, NULL);
        if (idx < 0)
                return NULL;
        n->store = idx;
        return sl_table_new(t, n, tbl->key_serde, tbl->value_serde, -1);
}

sluice_table_t *sluice_table_suppress_until_window_closes(sluice_table_t *tbl,
                                                          const char *name) {
        if (!tbl)
                return NULL;
        return suppress_new(tbl, "sluice_table_suppress_until_window_closes",
                            1, 0, 0, name);
}

sluice_table_t *sluice_table_suppress_until_time_limit(sluice_table_t *tbl,
                                                       int64_t limit_ms,
                                                       size_t max_records,
                                                       const char *name) {
        if (!tbl)
                return NULL;
        return suppress_new(tbl, "sluice_table_suppress_until_time_limit", 0,
                            limit_ms, max_records, name);
}

/* ---- local queries ---- */

typedef struct fetch_s {
        const sl_win_t *W;
        const void *k;
        size_t klen;
        int64_t from, to, bound;
        sluice_window_cb *cb;
        void *opaque;
        int64_t visited;
        int stop;
} fetch_t;

static int fetch_visit(const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t ts, void *opaque) {
        fetch_t *f = opaque;
        const unsigned char *k;
        size_t kl;
        int64_t start, end;
        if (ckey_parse(f->W, key, klen, &k, &kl, &start, &end))
                return 0;
        if (f->k && (kl != f->klen || (kl && memcmp(k, f->k, kl))))
                return 0;
        if (is_session(f->W) ? (end < f->from || start > f->to ||
                                end < f->bound)
                             : (start < f->from || start > f->to ||
                                start < f->bound))
                return 0; /* outside the range, or expired */
        f->visited++;
        if (f->cb(k, kl, start, end, value, vlen,
                  is_session(f->W) ? end : ts, f->opaque)) {
                f->stop = 1;
                return 1;
        }
        return 0;
}

int64_t sl_window_fetch(sluice_kv_t *kv, const void *key, size_t key_len,
                        int64_t from, int64_t to, sluice_window_cb *cb,
                        void *opaque) {
        const sl_node_t *node = kv->def->owner;
        const sl_win_t *W;
        win_task_t *ws;
        fetch_t f;
        sluice_buf_t lo = {0}, hi = {0};
        int64_t seg, last, r = 0;

        if (!node || node->kind != SL_NODE_WINDOW_AGGREGATE)
                return SLUICE_ERR_INVALID_ARG; /* not a window store */
        W  = node->priv;
        ws = kv->task->node_state ? kv->task->node_state[node->id] : NULL;
        memset(&f, 0, sizeof(f));
        f.W      = W;
        f.k      = key;
        f.klen   = key_len;
        f.from   = from;
        f.to     = to;
        f.cb     = cb;
        f.opaque = opaque;
        f.bound  = ws && ws->observed >= 0 ? expiry_bound(W, ws->observed)
                                           : INT64_MIN;
        if (to < from)
                return 0;
        /* sessions are segmented by their end, which can be any time
         * after @from up to the stream time */
        last = is_session(W) && ws && ws->observed > to ? ws->observed : to;
        for (seg = seg_of(W, from); seg <= seg_of(W, last) && !f.stop;
             seg++) {
                if (key) {
                        if (ckey(&lo, seg, key, key_len,
                                 is_session(W) ? from : from, 0,
                                 is_session(W)) ||
                            ckey(&hi, seg, key, key_len,
                                 is_session(W) ? INT64_MAX : to, INT64_MAX,
                                 is_session(W))) {
                                r = SLUICE_ERR_NOMEM;
                                break;
                        }
                } else {
                        if (sluice_buf_reserve(&lo, 8) ||
                            sluice_buf_reserve(&hi, 9)) {
                                r = SLUICE_ERR_NOMEM;
                                break;
                        }
                        sl_put_be64(lo.data, (uint64_t)seg);
                        lo.len = 8;
                        /* the whole segment: [seg] up to [seg + 1] */
                        sl_put_be64(hi.data, (uint64_t)(seg + 1));
                        hi.len = 8;
                }
                r = sl_kv_range(kv, lo.data, lo.len, hi.data, hi.len,
                                fetch_visit, &f);
                if (r < 0)
                        break;
        }
        free(lo.data);
        free(hi.data);
        return r < 0 ? r : f.visited;
}

/* ---- windowed serdes ---- */

static int windowed_deserialize(const sluice_serde_t *serde, const void *data,
                                size_t len, sluice_value_t *out, char *errstr,
                                size_t errstr_size) {
        const sluice_windowed_serde_t *ws = (const void *)serde;
        size_t tail = ws->size_ms < 0 ? 16 : 8;
        if (len < tail) {
                sl_errstr(errstr, errstr_size,
                          "a windowed key needs at least %zu bytes, got %zu",
                          tail, len);
                return -1;
        }
        return ws->inner->deserialize(ws->inner, data, len - tail, out,
                                      errstr, errstr_size);
}

static int windowed_serialize(const sluice_serde_t *serde,
                              const sluice_value_t *in, sluice_buf_t *buf,
                              const void **out, size_t *out_len, char *errstr,
                              size_t errstr_size) {
        /* the window travels with the record, not the value: a sink
         * appends it; alone, this writes the inner key */
        const sluice_windowed_serde_t *ws = (const void *)serde;
        return ws->inner->serialize(ws->inner, in, buf, out, out_len, errstr,
                                    errstr_size);
}

const sluice_serde_t *sluice_serde_time_windowed(sluice_windowed_serde_t *s,
                                                 const sluice_serde_t *inner,
                                                 int64_t size_ms) {
        if (!s || !inner || size_ms <= 0)
                return NULL;
        memset(s, 0, sizeof(*s));
        s->serde.version     = SLUICE_SERDE_VERSION;
        s->serde.name        = "time-windowed";
        s->serde.deserialize = windowed_deserialize;
        s->serde.serialize   = windowed_serialize;
        s->inner             = inner;
        s->size_ms           = size_ms;
        return &s->serde;
}

const sluice_serde_t *
sluice_serde_session_windowed(sluice_windowed_serde_t *s,
                              const sluice_serde_t *inner) {
        if (!s || !inner)
                return NULL;
        memset(s, 0, sizeof(*s));
        s->serde.version     = SLUICE_SERDE_VERSION;
        s->serde.name        = "session-windowed";
        s->serde.deserialize = windowed_deserialize;
        s->serde.serialize   = windowed_serialize;
        s->inner             = inner;
        s->size_ms           = -1;
        return &s->serde;
}

int sl_window_key_read(const sluice_serde_t *serde, const void *data,
                       size_t len, unsigned *flags, int64_t *start,
                       int64_t *end) {
        const sluice_windowed_serde_t *ws = (const void *)serde;
        const unsigned char *p            = data;
        if (!serde || serde->deserialize != windowed_deserialize || !data)
                return 0;
        if (ws->size_ms < 0) {
                if (len < 16)
                        return 0;
                *flags = SL_REC_WIN_SESSION;
                *end   = (int64_t)sl_get_be64(p + len - 16);
                *start = (int64_t)sl_get_be64(p + len - 8);
        } else {
                if (len < 8)
                        return 0;
                *flags = SL_REC_WIN_TIME;
                *start = (int64_t)sl_get_be64(p + len - 8);
                *end   = *start + ws->size_ms;
        }
        return 1;
}
