/*
 * op_join.c - joins: stream-table (inner, left), stream-stream within a
 * join window (inner, left, outer) and table-table (inner, left, outer),
 * and the foreign-key table-table join (inner, left), their builder
 * calls and what their nodes do.
 *
 * Semantics are Kafka Streams' (KStreamKTableJoinProcessor,
 * KStreamKStreamJoin, KTableKTable{Inner,Left,Right,Outer}Join; see
 * notes/kafka-streams-semantics.md §6, §8-§11).
 *
 * Nodes, as Kafka Streams builds them:
 *   stream-table   stream -> KSTREAM-JOIN (reads the table's store)
 *   stream-stream  left -> KSTREAM-JOINTHIS \
 *                                            KSTREAM-MERGE
 *                  right -> KSTREAM-JOINOTHER /
 *                  each side writes its record to its own window store,
 *                  then probes the other side's (OUTERTHIS / OUTEROTHER
 *                  for the sides that emit unmatched records)
 *   table-table    left -> KTABLE-JOINTHIS \
 *                                            KTABLE-MERGE (the result)
 *                  right -> KTABLE-JOINOTHER /
 *   foreign-key    left -> KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION -> topic
 *                  -> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR (+ right's
 *                  KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR) -> topic ->
 *                  KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR
 *                  (the result), see "foreign-key" below
 * Join nodes are marked copartition: their inputs' source topics must be
 * co-partitioned (sl_topology_copartition_groups()).
 */
#include "conf.h"
#include "op.h"
#include "versioned.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JN_INNER, JN_LEFT, JN_OUTER } jn_kind_t;

/* A join node's fields (node->priv). */
typedef struct jn_s {
        jn_kind_t kind;
        int left_side;       /* this node handles the left input */
        sluice_value_joiner_cb *joiner;
        /* stream-table: the table's node (its value getter); with a grace
         * period (KIP-923) the buffer's store, the period and the stream's
         * serdes (the buffer keeps the records' bytes) */
        const sl_node_t *table;
        int grace_store;
        int64_t grace_ms;
        const sluice_serde_t *stream_ks, *stream_vs;
        /* table-table: the other input's table node */
        const sl_node_t *other;
        const sluice_serde_t *other_key_serde;
        /* stream-stream: this side's window (a left record at t joins
         * right ones in [t - before, t + after]; the right side's node
         * has them swapped), the stores, the other side's node, and the
         * serdes of this side's and the other side's values */
        int64_t before, after, grace, retention, seg_ms;
        int64_t w_before, w_after; /* the window's own before / after */
        int this_store, other_store, outer_store; /* outer: -1 inner */
        int outer_this; /* this side's unmatched records come out */
        const sl_node_t *partner, *left_node;
        const sluice_serde_t *this_vs, *other_vs;
} jn_t;

/* ---- the joiner ---- */

/* joiner(key, left, right) into *out (owned per *owned); NULL sides are
 * absent. */
static int call_joiner(sl_task_t *task, const sl_node_t *node,
                       const sluice_value_t *key, const sluice_value_t *left,
                       const sluice_value_t *right, sluice_value_t *out,
                       int *owned) {
        const jn_t *J = node->priv;
        sluice_value_t res = sluice_null();
        const sluice_value_t *in[2];
        int i, err;
        *owned = 0;
        if (J->joiner(key, left, right, &res, node->opaque))
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "value joiner failed");
        in[0] = left;
        in[1] = right;
        for (i = 0; i < 2; i++) {
                if (!in[i])
                        continue;
                /* an input handed back is shared, not taken over */
                if (res.type == SLUICE_VALUE_JSON &&
                    in[i]->type == SLUICE_VALUE_JSON &&
                    res.u.json == in[i]->u.json) {
                        json_incref(res.u.json);
                        *out   = res;
                        *owned = 1;
                        return 0;
                }
                if (res.type == SLUICE_VALUE_OBJECT &&
                    in[i]->type == SLUICE_VALUE_OBJECT &&
                    res.u.obj.ptr == in[i]->u.obj.ptr)
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                                       "the value joiner returned an input "
                                       "object (objects cannot be shared)");
        }
        if ((err = sl_value_adopt(task, &res, owned)))
                return sl_fail(task, node, err, "%s", "out of memory");
        *out = res;
        return 0;
}

/* Forward @out, a copy of the input record whose flags, key and old value
 * the caller set, with the join's @value (taken over per @owned) at @ts,
 * then release what @out owns: how every join node hands on a result. */
static int join_emit(sl_task_t *task, const sl_node_t *node,
                     sluice_record_t *out, sluice_value_t value, int owned,
                     int64_t ts) {
        int err;
        out->value           = value;
        out->raw_value       = NULL;
        out->raw_value_len   = 0;
        out->raw_value_serde = NULL;
        out->timestamp       = ts;
        if (owned)
                out->flags |= SL_REC_VALUE_OWNED;
        err = sl_forward(task, node, out);
        sl_record_release(out);
        return err;
}

/* Forward a view of @rec with @value (taken over per @owned) at @ts. */
static int forward_value(sl_task_t *task, const sl_node_t *node,
                         const sluice_record_t *rec, sluice_value_t value,
                         int owned, int64_t ts) {
        sluice_record_t out = *rec;
        out.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                       SL_REC_OLD_OWNED | SL_REC_HAS_OLD | SL_REC_KEY_SET |
                       SL_REC_VALUE_SET);
        out.old = sluice_null();
        return join_emit(task, node, &out, value, owned, ts);
}

/* ---- stream-table ---- */

/*
 * The table's value for the stream record's key, as of @ts (the stream
 * record's timestamp). The one place a stream-table join reads its table:
 * a versioned table (KIP-889/914) makes this get(key, as_of = ts).
 * 1 with *out (owned per *owned), 0 if absent, < 0 an error.
 */
static int join_lookup(sl_task_t *task, const sl_node_t *node,
                       const sluice_record_t *rec, int64_t ts,
                       sluice_value_t *out, int *owned) {
        const jn_t *J = node->priv;
        const void *k;
        size_t klen;
        int64_t vts;
        int err;
        if ((err = sl_op_key_bytes(task, node, rec, J->other_key_serde,
                                   &task->kbuf, &k, &klen)))
                return err;
        /* a versioned table: the version valid at @ts (KIP-914); any
         * other: the current row */
        return sl_table_lookup(task, J->table, k, klen, &rec->key, ts, out,
                               owned, &vts);
}

/* Join a stream record now: the table as of its timestamp. */
static int stream_table_join_now(sl_task_t *task, const sl_node_t *node,
                                 sluice_record_t *rec) {
        const jn_t *J = node->priv;
        sluice_value_t tv = sluice_null(), res;
        int t_owned = 0, r_owned, found = 0, err;

        if (rec->value.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if (rec->key.type == SLUICE_VALUE_NULL) {
                /* KIP-962: a left join keeps a null-key record */
                if (J->kind != JN_LEFT) {
                        task->dropped++;
                        return 0;
                }
        } else if ((found = join_lookup(task, node, rec, rec->timestamp, &tv,
                                        &t_owned)) < 0) {
                return found;
        }
        if (!found && J->kind != JN_LEFT)
                return 0;
        err = call_joiner(task, node, &rec->key, &rec->value,
                          found ? &tv : NULL, &res, &r_owned);
        sl_op_release_if(&tv, t_owned);
        if (err)
                return err;
        return forward_value(task, node, rec, res, r_owned, rec->timestamp);
}

static int stream_table_process(sl_task_t *task, const sl_node_t *node,
                                sluice_record_t *rec) {
        return stream_table_join_now(task, node, rec);
}

/* With a grace period (KIP-923, a versioned table): stream records wait in
 * a time-ordered buffer (versioned.c's sl_gbuf_t, node_state) until
 * stream time - grace passes them, then join in timestamp order, each
 * against the table as of its own time. A record already older than that
 * joins at once. What is dropped anyway (a null value; a null key unless
 * left) is dropped before it is buffered. Released records carry their
 * key, value and timestamp; their headers and origin are not kept. */
typedef struct gb_ctx_s {
        sl_task_t *task;
        const sl_node_t *node;
} gb_ctx_t;

static int gb_release_one(const void *key, size_t klen, const void *value,
                          size_t vlen, int64_t ts, void *opaque) {
        gb_ctx_t *c   = opaque;
        const jn_t *J = c->node->priv;
        sluice_record_t rec;
        int owned = 0, err;
        memset(&rec, 0, sizeof(rec));
        rec.key       = sluice_null();
        rec.value     = sluice_null();
        rec.old       = sluice_null();
        rec.partition = c->task->partition;
        rec.offset    = -1;
        rec.task      = c->task;
        rec.timestamp = ts;
        if (key) {
                if ((err = sl_op_decode(c->task, c->node, J->stream_ks, key,
                                        klen, &rec.key, &owned)))
                        return err;
                if (owned)
                        rec.flags |= SL_REC_KEY_OWNED;
        }
        if (value) {
                if ((err = sl_op_decode(c->task, c->node, J->stream_vs, value,
                                        vlen, &rec.value, &owned))) {
                        sl_record_release(&rec);
                        return err;
                }
                if (owned)
                        rec.flags |= SL_REC_VALUE_OWNED;
        }
        err = stream_table_join_now(c->task, c->node, &rec);
        sl_record_release(&rec);
        return err;
}

static int stream_table_grace_process(sl_task_t *task, const sl_node_t *node,
                                      sluice_record_t *rec) {
        const jn_t *J  = node->priv;
        sl_gbuf_t *buf = task->node_state[node->id];
        const void *k = NULL, *v;
        size_t klen = 0, vlen;
        gb_ctx_t ctx;
        int r, err;
        int64_t n;
        if (rec->value.type == SLUICE_VALUE_NULL ||
            (rec->key.type == SLUICE_VALUE_NULL && J->kind != JN_LEFT)) {
                task->dropped++;
                return 0;
        }
        if (rec->key.type != SLUICE_VALUE_NULL &&
            (err = sl_op_key_bytes(task, node, rec, J->stream_ks, &task->kbuf,
                                   &k, &klen)))
                return err;
        if ((err = sl_op_value_bytes(task, node, &rec->value, J->stream_vs,
                                     &task->vbuf, &v, &vlen)))
                return err;
        if ((r = sl_gbuf_add(buf, k, klen, v, vlen, rec->timestamp)) < 0)
                return sl_op_store_fail(task, node, r);
        if (r == 0)
                return stream_table_join_now(task, node, rec);
        ctx.task = task;
        ctx.node = node;
        if ((n = sl_gbuf_release(buf, gb_release_one, &ctx)) < 0)
                return task->errstr[0] ? (int)n : sl_op_store_fail(task, node, (int)n);
        return 0;
}

static int stream_table_grace_ready(sl_task_t *task, const sl_node_t *node,
                                    char *errstr, size_t errstr_size) {
        const jn_t *J = node->priv;
        sl_gbuf_t *buf;
        if (sl_gbuf_open(task->kvs[J->grace_store], J->grace_ms, &buf)) {
                snprintf(errstr, errstr_size, "node \"%s\": %s", node->name,
                         task->errstr);
                return SLUICE_ERR_STATE;
        }
        task->node_state[node->id] = buf;
        return 0;
}

static int stream_table_grace_commit(sl_task_t *task, const sl_node_t *node) {
        sl_gbuf_t *buf = task->node_state[node->id];
        int r;
        if (buf && (r = sl_gbuf_commit(buf)) < 0)
                return sl_op_store_fail(task, node, r);
        return 0;
}

static void stream_table_grace_close(sl_task_t *task, const sl_node_t *node) {
        sl_gbuf_close(task->node_state[node->id]);
        task->node_state[node->id] = NULL;
}

static void stream_table_grace_metrics(const sl_task_t *task,
                                       const sl_node_t *node,
                                       struct json_t *operators) {
        const sl_gbuf_t *buf = task->node_state[node->id];
        json_t *o;
        if (!buf || !(o = json_object()))
                return;
        json_object_set_new(o, "buffered",
                            json_integer((json_int_t)sl_gbuf_count(buf)));
        json_object_set_new(o, "stream_time",
                            json_integer(sl_gbuf_stream_time(buf)));
        json_object_set_new(operators, node->name, o); /* takes o */
}

/* ---- table-table ---- */

static int table_join_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        const jn_t *J = node->priv;
        /* the merge below: it forwards old values if someone needs them */
        int send_old = node->child_cnt == 1 && node->children[0]->send_old;
        const sluice_value_t *nv = &rec->value, *ov = &rec->old;
        int has_new = nv->type != SLUICE_VALUE_NULL;
        int has_old = (rec->flags & SL_REC_HAS_OLD) &&
                      ov->type != SLUICE_VALUE_NULL;
        sluice_value_t other = sluice_null(), jn = sluice_null(),
                       jo = sluice_null();
        int o_owned = 0, n_owned = 0, old_owned = 0, found, err = 0;
        int64_t ots = -1, ts;
        const void *k;
        size_t klen;
        /* which of this side's values the result has: this side's own
         * (left, inner) or a missing other side allowed (outer) */
        int emit_new, emit_old;

        /* a null key, or an out-of-order update of a versioned table
         * (KIP-914: a table-table join skips those, and counts them) */
        if (rec->key.type == SLUICE_VALUE_NULL ||
            (rec->flags & SL_REC_NOT_LATEST)) {
                task->dropped++;
                return 0;
        }
        if ((err = sl_op_key_bytes(task, node, rec, J->other_key_serde,
                                   &task->kbuf, &k, &klen)))
                return err;
        if ((found = sl_table_lookup(task, J->other, k, klen, &rec->key,
                                     SLUICE_TS_LATEST, &other, &o_owned,
                                     &ots)) < 0)
                return found;
        switch (J->kind) {
        case JN_INNER:
                if (!found)
                        return 0;
                emit_new = has_new;
                emit_old = has_old;
                break;
        case JN_LEFT:
                if (J->left_side) {
                        if (!found && !has_new && !has_old)
                                return 0;
                        emit_new = has_new;
                        emit_old = has_old;
                } else {
                        /* KTableKTableRightJoin: the left row decides; a
                         * right delete is joiner(left, null), never a
                         * tombstone */
                        if (!found)
                                return 0;
                        emit_new = emit_old = 1;
                }
                break;
        default:
                if (!found && !has_new && !has_old)
                        return 0;
                emit_new = found || has_new;
                emit_old = found || has_old;
                break;
        }
        ts = found && ots > rec->timestamp ? ots : rec->timestamp;
        {
                const sluice_value_t *o = found ? &other : NULL;
                const sluice_value_t *n = has_new ? nv : NULL;
                const sluice_value_t *p = has_old ? ov : NULL;
                if (emit_new)
                        err = J->left_side
                                  ? call_joiner(task, node, &rec->key, n, o,
                                                &jn, &n_owned)
                                  : call_joiner(task, node, &rec->key, o, n,
                                                &jn, &n_owned);
                if (!err && send_old && emit_old)
                        err = J->left_side
                                  ? call_joiner(task, node, &rec->key, p, o,
                                                &jo, &old_owned)
                                  : call_joiner(task, node, &rec->key, o, p,
                                                &jo, &old_owned);
        }
        sl_op_release_if(&other, o_owned);
        if (err) {
                sl_op_release_if(&jn, n_owned);
                return err;
        }
        {
                sluice_record_t out = *rec;
                out.flags = SL_REC_HAS_OLD | (old_owned ? SL_REC_OLD_OWNED : 0u);
                out.old   = jo;
                return join_emit(task, node, &out, jn, n_owned, ts);
        }
}

/* ---- stream-stream ---- */

/*
 * Window stores of a stream-stream join, one per side and task, on any
 * backend, changelogged, never cached (as Kafka Streams' join stores):
 *
 *     [segment][key bytes][timestamp][sequence number] -> value bytes
 *
 * with big-endian integers (8, 8, 4 bytes); segment = timestamp / the
 * segment interval, max(retention / 2, 60 s). The sequence number keeps
 * duplicates (Kafka Streams' retainDuplicates). As Kafka Streams'
 * segmented stores: the store's stream time is the largest timestamp
 * written to it; a record whose segment is older than the one of
 * (stream time - retention) is not written; a fetch sees timestamps >
 * stream time - retention. Segments below that go at commit, from the
 * backend only (the changelog is compact,delete).
 *
 * The shared "outer" store of left and outer joins (a key-value store)
 * holds the records that joined nothing yet:
 *
 *     [timestamp][side: 0 right, 1 left][key bytes] -> a list of
 *     [u32 length][value bytes] (several records of one key and time)
 *
 * in Kafka Streams' order (TimestampedKeyAndJoinSide), so the oldest come
 * first when closed windows are emitted.
 */

/* What one side keeps per task (task->node_state); the left side's also
 * holds the state both sides share. */
typedef struct js_s {
        int64_t observed; /* the store's stream time; -1: none */
        int64_t live_seg; /* segments below were dropped */
        uint32_t seq;
        /* shared (the left node's) */
        int64_t stream_time; /* largest timestamp either side saw */
        int64_t min_time;    /* oldest record put in the outer store */
        int64_t next_emit;   /* wall clock of the next emit scan */
        int64_t interval;    /* between scans, ms of wall clock */
        sluice_buf_t ck;     /* store key scratch */
        sluice_buf_t key;    /* the record's key bytes */
        sluice_buf_t hits;   /* matches / outer records, copied out */
} js_t;

#define SEQ_LEN 4
#define EMIT_INTERVAL_KEY                                                      \
        "__emit.interval.ms.kstreams.outer.join.spurious.results.fix__"

/* Java's long addition (wraps instead of overflowing). */
static int64_t jadd(int64_t a, int64_t b) {
        return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t js_seg(const jn_t *J, int64_t ts) {
        return ts < 0 ? 0 : ts / J->seg_ms;
}

static int ss_open(sl_task_t *task, const sl_node_t *node, char *errstr,
                   size_t errstr_size) {
        js_t *st = calloc(1, sizeof(*st));
        if (!st) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        st->observed = st->stream_time = -1;
        st->min_time                   = INT64_MAX;
        /* Kafka Streams' internal setting; its default is 1000, except
         * that TopologyTestDriver (4.4.0) sets it to 0 when absent, and
         * so does Sluice's test driver (a task without a stop flag) */
        st->interval = task->conf ? task->conf->join_emit_interval_ms : 1000;
        if (!task->stop &&
            (!task->conf || !sl_conf_has(task->conf, SL_SCOPE_SLUICE,
                                         EMIT_INTERVAL_KEY)))
                st->interval = 0;
        task->node_state[node->id] = st;
        return 0;
}

static void ss_close(sl_task_t *task, const sl_node_t *node) {
        js_t *st = task->node_state[node->id];
        if (!st)
                return;
        free(st->ck.data);
        free(st->key.data);
        free(st->hits.data);
        free(st);
        task->node_state[node->id] = NULL;
}

typedef struct ready_s {
        js_t *st;
        size_t klen_min;
} ready_t;

static int ready_visit(const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t ts, void *opaque) {
        ready_t *r = opaque;
        const unsigned char *p = key;
        uint32_t seq;
        (void)value;
        (void)vlen;
        if (klen < 8 + 8 + SEQ_LEN)
                return 0;
        ts  = (int64_t)sl_get_be64(p + klen - 8 - SEQ_LEN);
        seq = (uint32_t)sl_get_be64(p + klen - 8) & 0xffffffffu;
        if (ts > r->st->observed)
                r->st->observed = ts;
        if (seq >= r->st->seq)
                r->st->seq = seq + 1;
        return 0;
}

/* After a restore: the store's stream time and next sequence number; the
 * shared stream time starts from both stores'. */
static int ss_ready(sl_task_t *task, const sl_node_t *node, char *errstr,
                    size_t errstr_size) {
        const jn_t *J = node->priv;
        js_t *st      = task->node_state[node->id];
        js_t *sh      = task->node_state[J->left_node->id];
        ready_t r     = {st, 0};
        if (sl_kv_range(task->kvs[J->this_store], NULL, 0, NULL, 0,
                        ready_visit, &r) < 0) {
                sl_errstr(errstr, errstr_size,
                          "join store \"%s\": cannot read it",
                          task->kvs[J->this_store]->def->name);
                return SLUICE_ERR_STATE;
        }
        if (sh && st->observed > sh->stream_time)
                sh->stream_time = st->observed;
        return 0;
}

/* Drop the segments below the live one from the backend (op_window.c's
 * helper: the same segmented layout). */
static int ss_commit(sl_task_t *task, const sl_node_t *node) {
        const jn_t *J = node->priv;
        js_t *st      = task->node_state[node->id];
        int64_t live;
        int err;
        if (st->observed < 0)
                return 0;
        live = js_seg(J, st->observed - J->retention);
        if (live <= st->live_seg)
                return 0;
        if ((err = sl_window_drop_segments(task, node,
                                           task->kvs[J->this_store], live)))
                return err;
        st->live_seg = live;
        return 0;
}

/* [seg][key][ts][seq] into @b. */
static int js_key(sluice_buf_t *b, int64_t seg, const void *k, size_t klen,
                  int64_t ts, uint32_t seq) {
        size_t n = 8 + klen + 8 + SEQ_LEN;
        b->len   = 0;
        if (sluice_buf_reserve(b, n))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(b->data, (uint64_t)seg);
        if (klen)
                memcpy(b->data + 8, k, klen);
        sl_put_be64(b->data + 8 + klen, (uint64_t)ts);
        b->data[8 + klen + 8]     = (unsigned char)(seq >> 24);
        b->data[8 + klen + 8 + 1] = (unsigned char)(seq >> 16);
        b->data[8 + klen + 8 + 2] = (unsigned char)(seq >> 8);
        b->data[8 + klen + 8 + 3] = (unsigned char)seq;
        b->len                    = n;
        return 0;
}

/* Kafka Streams' KStreamJoinWindow: keep the record in this side's store
 * (unless its segment has expired). */
static int js_put(sl_task_t *task, const sl_node_t *node, js_t *st,
                  const void *k, size_t klen, const sluice_record_t *rec) {
        const jn_t *J = node->priv;
        const void *v;
        size_t vlen;
        int err;
        int64_t ts = rec->timestamp;
        if (ts > st->observed)
                st->observed = ts;
        if (js_seg(J, ts) < js_seg(J, st->observed - J->retention))
                return 0; /* Kafka Streams: "Skipping record for expired
                             segment" */
        if (rec->raw_value_serde == J->this_vs && rec->raw_value) {
                v    = rec->raw_value;
                vlen = rec->raw_value_len;
        } else if ((err = sl_op_value_bytes(task, node, &rec->value, J->this_vs,
                                            &task->vbuf, &v, &vlen))) {
                return err;
        }
        if ((err = js_key(&st->ck, js_seg(J, ts), k, klen, ts, st->seq++)))
                return sl_fail(task, node, err, "%s", "out of memory");
        task->errstr[0] = '\0';
        if ((err = sl_kv_write_flushed(task->kvs[J->this_store], st->ck.data,
                                       st->ck.len, v, vlen, ts)))
                return sl_op_store_fail(task, node, err);
        return 0;
}

/* Matches copied out of a fetch: [i64 ts][u32 len][value bytes]... */
typedef struct fetch_s {
        sluice_buf_t *out;
        const void *k;
        size_t klen;
        int64_t from, to;
        int err;
} fetch_t;

static int fetch_visit(const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t ts, void *opaque) {
        fetch_t *f             = opaque;
        const unsigned char *p = key;
        (void)ts;
        /* a longer key sharing the prefix: not ours */
        if (klen != 8 + f->klen + 8 + SEQ_LEN ||
            (f->klen && memcmp(p + 8, f->k, f->klen)))
                return 0;
        ts = (int64_t)sl_get_be64(p + 8 + f->klen);
        if (ts < f->from || ts > f->to)
                return 0;
        if (sluice_buf_reserve(f->out, 12 + vlen)) {
                f->err = SLUICE_ERR_NOMEM;
                return 1;
        }
        sl_put_be64(f->out->data + f->out->len, (uint64_t)ts);
        f->out->data[f->out->len + 8]  = (unsigned char)(vlen >> 24);
        f->out->data[f->out->len + 9]  = (unsigned char)(vlen >> 16);
        f->out->data[f->out->len + 10] = (unsigned char)(vlen >> 8);
        f->out->data[f->out->len + 11] = (unsigned char)vlen;
        if (vlen)
                memcpy(f->out->data + f->out->len + 12, value, vlen);
        f->out->len += 12 + vlen;
        return 0;
}

static uint32_t get_be32(const unsigned char *p) {
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
               (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static void put_be32(unsigned char *p, uint32_t v) {
        p[0] = (unsigned char)(v >> 24);
        p[1] = (unsigned char)(v >> 16);
        p[2] = (unsigned char)(v >> 8);
        p[3] = (unsigned char)v;
}

/* The other side's records of key @k in [@from, @to] that its store still
 * shows (ts > its stream time - retention), oldest first, into @out. */
static int js_fetch(sl_task_t *task, const sl_node_t *node, const js_t *other,
                    const void *k, size_t klen, int64_t from, int64_t to,
                    js_t *st) {
        const jn_t *J = node->priv;
        fetch_t f     = {&st->hits, k, klen, from, to, 0};
        int64_t seg;
        sluice_buf_t lo = {0}, hi = {0};
        int err = 0;
        st->hits.len = 0;
        if (other->observed >= 0 &&
            jadd(other->observed, -J->retention) + 1 > f.from)
                f.from = jadd(other->observed, -J->retention) + 1;
        if (f.to < f.from || other->observed < 0)
                return 0;
        for (seg = js_seg(J, f.from); seg <= js_seg(J, f.to) && !err; seg++) {
                if (js_key(&lo, seg, k, klen, f.from, 0) ||
                    js_key(&hi, seg, k, klen, f.to, UINT32_MAX)) {
                        err = SLUICE_ERR_NOMEM;
                        break;
                }
                task->errstr[0] = '\0';
                if (sl_kv_range(task->kvs[J->other_store], lo.data, lo.len,
                                hi.data, hi.len, fetch_visit, &f) < 0)
                        err = SLUICE_ERR_STATE;
                else if (f.err)
                        err = f.err;
        }
        free(lo.data);
        free(hi.data);
        if (err == SLUICE_ERR_NOMEM)
                return sl_fail(task, node, err, "%s", "out of memory");
        if (err)
                return sl_op_store_fail(task, node, err);
        return 0;
}

/* The outer store's key (ts, side, key) into @b. */
static int outer_key(sluice_buf_t *b, int64_t ts, int left, const void *k,
                     size_t klen) {
        b->len = 0;
        if (sluice_buf_reserve(b, 9 + klen))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(b->data, (uint64_t)ts);
        b->data[8] = left ? 1 : 0;
        if (klen)
                memcpy(b->data + 9, k, klen);
        b->len = 9 + klen;
        return 0;
}

/* Delete (@v NULL) or append @v to the outer store's list at (ts, side,
 * key). */
static int outer_write(sl_task_t *task, const sl_node_t *node, js_t *st,
                       int64_t ts, int left, const void *k, size_t klen,
                       const void *v, size_t vlen) {
        const jn_t *J   = node->priv;
        sluice_kv_t *kv = task->kvs[J->outer_store];
        const void *cur = NULL;
        size_t clen     = 0;
        int64_t cts;
        int found, err;
        sluice_buf_t val = {0};
        if (outer_key(&st->ck, ts, left, k, klen))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        task->errstr[0] = '\0';
        if ((found = sl_kv_get(kv, st->ck.data, st->ck.len, &cur, &clen,
                               &cts)) < 0)
                return sl_op_store_fail(task, node, found);
        if (!v) {
                if (!found)
                        return 0;
                if ((err = sl_kv_write_flushed(kv, st->ck.data, st->ck.len,
                                               NULL, 0, ts)))
                        return sl_op_store_fail(task, node, err);
                return 0;
        }
        if (sluice_buf_reserve(&val, (found ? clen : 0) + 4 + vlen))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (found && clen)
                memcpy(val.data, cur, clen);
        val.len = found ? clen : 0;
        put_be32(val.data + val.len, (uint32_t)vlen);
        if (vlen)
                memcpy(val.data + val.len + 4, v, vlen);
        val.len += 4 + vlen;
        err = sl_kv_write_flushed(kv, st->ck.data, st->ck.len, val.data,
                                  val.len, ts);
        free(val.data);
        if (err)
                return sl_op_store_fail(task, node, err);
        return 0;
}

/* Forward joiner(key, value of @left_side, NULL) (or the mirror) for an
 * unmatched record: key bytes @k (decoded as the join's key), value bytes
 * @v, at @ts, with @rec's headers. */
static int emit_unmatched(sl_task_t *task, const sl_node_t *node,
                          const sluice_record_t *rec, int left_side,
                          const void *k, size_t klen, const void *v,
                          size_t vlen, int64_t ts) {
        const jn_t *J = node->priv;
        const sluice_serde_t *vs =
            left_side == J->left_side ? J->this_vs : J->other_vs;
        sluice_value_t key, val, res;
        int k_owned, v_owned, r_owned, err;
        sluice_record_t out = *rec;
        if ((err = sl_op_decode(task, node, node->key_serde, k, klen, &key,
                                &k_owned)))
                return err;
        if ((err = sl_op_decode(task, node, vs, v, vlen, &val, &v_owned))) {
                sl_op_release_if(&key, k_owned);
                return err;
        }
        err = left_side ? call_joiner(task, node, &key, &val, NULL, &res,
                                      &r_owned)
                        : call_joiner(task, node, &key, NULL, &val, &res,
                                      &r_owned);
        sl_op_release_if(&val, v_owned);
        if (err) {
                sl_op_release_if(&key, k_owned);
                return err;
        }
        out.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                       SL_REC_OLD_OWNED | SL_REC_HAS_OLD | SL_REC_KEY_SET |
                       SL_REC_VALUE_SET | SL_REC_WINDOWED);
        out.key             = key;
        out.raw_key         = k;
        out.raw_key_len     = klen;
        out.raw_key_serde   = node->key_serde;
        out.old             = sluice_null();
        if (k_owned)
                out.flags |= SL_REC_KEY_OWNED;
        return join_emit(task, node, &out, res, r_owned, ts);
}

/* The outer store's scan: entries to emit are copied out as
 * [u32 key len][key (ts, side, key)][u32 value len][list]. */
typedef struct scan_s {
        const jn_t *J;
        js_t *sh;
        sluice_buf_t *out;
        int left_open, right_open;
        int err;
} scan_t;

static int scan_visit(const void *key, size_t klen, const void *value,
                      size_t vlen, int64_t ts, void *opaque) {
        scan_t *sc             = opaque;
        const unsigned char *p = key;
        int left;
        int64_t look;
        (void)ts;
        if (klen < 9)
                return 0;
        ts   = (int64_t)sl_get_be64(p);
        left = p[8] == 1;
        /* as Kafka Streams: the time of the last record looked at, even
         * one left in the store (or the one the scan stops at) */
        sc->sh->min_time = ts;
        if (sc->left_open && sc->right_open)
                return 1;
        /* the window of a left record closes after the join window's
         * after, a right one's after its before */
        look = left ? sc->J->w_after : sc->J->w_before;
        if (jadd(jadd(ts, look), sc->J->grace) >= sc->sh->stream_time) {
                if (left)
                        sc->left_open = 1;
                else
                        sc->right_open = 1;
                return 0;
        }
        if (sluice_buf_reserve(sc->out, 8 + klen + vlen)) {
                sc->err = SLUICE_ERR_NOMEM;
                return 1;
        }
        put_be32(sc->out->data + sc->out->len, (uint32_t)klen);
        memcpy(sc->out->data + sc->out->len + 4, key, klen);
        put_be32(sc->out->data + sc->out->len + 4 + klen, (uint32_t)vlen);
        if (vlen)
                memcpy(sc->out->data + sc->out->len + 8 + klen, value, vlen);
        sc->out->len += 8 + klen + vlen;
        return 0;
}

/* Kafka Streams' emitNonJoinedOuterRecords: the unmatched records whose
 * window has closed, oldest first, then deleted. */
static int emit_outer(sl_task_t *task, const sl_node_t *node,
                      const sluice_record_t *rec, js_t *sh) {
        const jn_t *J   = node->priv;
        sluice_kv_t *kv = task->kvs[J->outer_store];
        int64_t now     = task->wall_time;
        sluice_buf_t buf = {0};
        scan_t sc        = {J, sh, &buf, 0, 0, 0};
        size_t off       = 0;
        int err          = 0;

        /* only if there may be something to emit */
        if (jadd(jadd(sh->min_time, J->after), J->grace) >= sh->stream_time)
                return 0;
        /* at most once per interval of wall-clock time */
        if (now < sh->next_emit)
                return 0;
        sh->next_emit = now + sh->interval;
        sh->min_time = INT64_MAX;

        task->errstr[0] = '\0';
        if (sl_kv_range(kv, NULL, 0, NULL, 0, scan_visit, &sc) < 0) {
                free(buf.data);
                return sl_op_store_fail(task, node, SLUICE_ERR_STATE);
        }
        if (sc.err) {
                free(buf.data);
                return sl_fail(task, node, sc.err, "%s", "out of memory");
        }
        while (off < buf.len && !err) {
                const unsigned char *p = buf.data + off;
                uint32_t klen          = get_be32(p);
                const unsigned char *k = p + 4;
                uint32_t vlen          = get_be32(k + klen);
                const unsigned char *v = k + klen + 4, *end = v + vlen;
                int64_t ts             = (int64_t)sl_get_be64(k);
                int left               = k[8] == 1;
                while (v + 4 <= end && !err) {
                        uint32_t n = get_be32(v);
                        err = emit_unmatched(task, node, rec, left, k + 9,
                                             klen - 9, v + 4, n, ts);
                        v += 4 + n;
                }
                if (!err && (err = sl_kv_write_flushed(kv, k, klen, NULL, 0,
                                                       ts)))
                        err = sl_op_store_fail(task, node, err);
                off += 8 + klen + vlen;
        }
        free(buf.data);
        return err;
}

static int stream_join_process(sl_task_t *task, const sl_node_t *node,
                               sluice_record_t *rec) {
        const jn_t *J = node->priv;
        js_t *st      = task->node_state[node->id];
        js_t *other   = task->node_state[J->partner->id];
        js_t *sh      = task->node_state[J->left_node->id];
        int64_t ts    = rec->timestamp;
        int64_t from  = ts - J->before < 0 ? 0 : ts - J->before;
        int64_t to    = jadd(ts, J->after) < 0 ? 0 : jadd(ts, J->after);
        const void *k;
        size_t klen, off;
        int err, matched = 0;

        if (ts > sh->stream_time)
                sh->stream_time = ts;
        if (rec->key.type == SLUICE_VALUE_NULL &&
            rec->value.type != SLUICE_VALUE_NULL && J->outer_this) {
                /* KIP-962: an outer side keeps a null-key record */
                sluice_value_t res;
                int r_owned;
                if ((err = J->left_side
                               ? call_joiner(task, node, &rec->key,
                                             &rec->value, NULL, &res, &r_owned)
                               : call_joiner(task, node, &rec->key, NULL,
                                             &rec->value, &res, &r_owned)))
                        return err;
                return forward_value(task, node, rec, res, r_owned, ts);
        }
        if (rec->key.type == SLUICE_VALUE_NULL ||
            rec->value.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        /* the key's bytes outlive the writes below (task->kbuf may not) */
        if ((err = sl_op_key_bytes(task, node, rec, node->key_serde,
                                   &task->kbuf, &k, &klen)))
                return err;
        st->key.len = 0;
        if (sluice_buf_reserve(&st->key, klen ? klen : 1))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (klen)
                memcpy(st->key.data, k, klen);
        st->key.len = klen;
        k           = st->key.data;
        if ((err = js_put(task, node, st, k, klen, rec)))
                return err;
        if (J->outer_store >= 0 && ts == sh->stream_time &&
            (err = emit_outer(task, node, rec, sh)))
                return err;
        if ((err = js_fetch(task, node, other, k, klen, from, to, st)))
                return err;
        for (off = 0; off < st->hits.len && !err;) {
                const unsigned char *p = st->hits.data + off;
                int64_t ots            = (int64_t)sl_get_be64(p);
                uint32_t vlen          = get_be32(p + 8);
                sluice_value_t ov, res;
                int o_owned, r_owned;
                matched = 1;
                /* copied out: the forwards below may reuse the buffer */
                off += 12 + vlen;
                if (J->outer_store >= 0 &&
                    (err = outer_write(task, node, st, ots, !J->left_side, k,
                                       klen, NULL, 0)))
                        break;
                if ((err = sl_op_decode(task, node, J->other_vs, p + 12, vlen,
                                        &ov, &o_owned)))
                        break;
                err = J->left_side ? call_joiner(task, node, &rec->key,
                                                 &rec->value, &ov, &res,
                                                 &r_owned)
                                   : call_joiner(task, node, &rec->key, &ov,
                                                 &rec->value, &res, &r_owned);
                sl_op_release_if(&ov, o_owned);
                if (!err)
                        err = forward_value(task, node, rec, res, r_owned,
                                            ots > ts ? ots : ts);
        }
        if (err || matched || !J->outer_this)
                return err;
        if (J->outer_store < 0 || to < sh->stream_time) {
                /* its window has closed already: out now */
                sluice_value_t res;
                int r_owned;
                if ((err = J->left_side
                               ? call_joiner(task, node, &rec->key,
                                             &rec->value, NULL, &res, &r_owned)
                               : call_joiner(task, node, &rec->key, NULL,
                                             &rec->value, &res, &r_owned)))
                        return err;
                return forward_value(task, node, rec, res, r_owned, ts);
        }
        if (ts < sh->min_time)
                sh->min_time = ts;
        {
                const void *v;
                size_t vlen;
                if (rec->raw_value_serde == J->this_vs && rec->raw_value) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else if ((err = sl_op_value_bytes(task, node, &rec->value,
                                                    J->this_vs, &task->vbuf,
                                                    &v, &vlen))) {
                        return err;
                }
                return outer_write(task, node, st, ts, J->left_side, k, klen,
                                   v, vlen);
        }
}

static void ss_metrics(const sl_task_t *task, const sl_node_t *node,
                       struct json_t *operators) {
        const jn_t *J  = node->priv;
        const js_t *st = task->node_state[node->id];
        const js_t *sh = task->node_state[J->left_node->id];
        json_t *o;
        if (!st || !sh || !(o = json_object()))
                return;
        json_object_set_new(o, "stream_time", json_integer(sh->stream_time));
        json_object_set_new(o, "store_stream_time",
                            json_integer(st->observed));
        json_object_set_new(operators, node->name, o);
}

static const sl_node_ops_t stream_join_ops = {.family    = "join",
                                              .process   = stream_join_process,
                                              .open      = ss_open,
                                              .ready     = ss_ready,
                                              .commit    = ss_commit,
                                              .close     = ss_close,
                                              .metrics   = ss_metrics};

static int merge_process(sl_task_t *task, const sl_node_t *node,
                         sluice_record_t *rec) {
        return sl_forward(task, node, rec);
}

static const sl_node_ops_t stream_table_ops = {
    .family = "join", .process = stream_table_process};
static const sl_node_ops_t stream_table_grace_ops = {
    .family    = "join",
    .process   = stream_table_grace_process,
    .ready     = stream_table_grace_ready,
    .commit    = stream_table_grace_commit,
    .close     = stream_table_grace_close,
    .metrics   = stream_table_grace_metrics};
static const sl_node_ops_t table_join_ops = {
    .family = "join", .process = table_join_process};
static const sl_node_ops_t merge_ops = {.family  = "join",
                                        .process = merge_process};

/* ---- builder ---- */

/* Give @n the name "<prefix><its number>" (Kafka Streams names join
 * nodes by their role, e.g. KSTREAM-OUTERTHIS-0000000004). */
static int rename_node(sluice_topology_t *t, sl_node_t *n,
                       const char *prefix) {
        const char *num = strrchr(n->name, '-');
        size_t len;
        char *name;
        if (!num)
                return 0;
        len  = strlen(prefix) + strlen(num + 1) + 1;
        name = malloc(len);
        if (!name) {
                sl_topo_error(t, "out of memory");
                return -1;
        }
        snprintf(name, len, "%s%s", prefix, num + 1);
        free(n->name);
        n->name = name;
        return 0;
}

/* A join node of @kind below @parent with its own jn_t. */
static sl_node_t *join_node(sluice_topology_t *t, sl_node_kind_t kind,
                            const sl_node_ops_t *ops, sl_node_t *parent,
                            const char *prefix, jn_kind_t jk, int left_side,
                            sluice_value_joiner_cb *joiner, void *opaque) {
        sl_node_t *n;
        jn_t *J = calloc(1, sizeof(*J));
        if (!J) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        if (!(n = sl_node_new(t, kind, ops, parent))) {
                free(J);
                return NULL;
        }
        n->priv        = J;
        n->opaque      = opaque;
        n->copartition = 1;
        J->kind        = jk;
        J->left_side   = left_side;
        J->joiner      = joiner;
        if (prefix && rename_node(t, n, prefix))
                return NULL;
        return n;
}

/* Connect @n to the store @idx (describe lists it; the store and @n
 * belong to one sub-topology). */
static int connect_store(sluice_topology_t *t, sl_node_t *n, int idx) {
        int *s = realloc(n->stores, (n->store_cnt + 1) * sizeof(int));
        if (!s) {
                sl_topo_error(t, "out of memory");
                return -1;
        }
        n->stores                 = s;
        n->stores[n->store_cnt++] = idx;
        return 0;
}

/* A stream input of a join: itself, or (its key changed upstream) a
 * repartition of it named @name (NULL: after its node). */
static sluice_stream_t *copartitioned(sluice_stream_t *s, const char *call,
                                      const char *name) {
        if (!s->key_changed)
                return s;
        return sl_repartition(s, call, name ? name : s->node->name, 0, 0);
}

/* The checks every join's builder call makes first: an open topology,
 * the other input @other of the same one (@both names the inputs in the
 * message: "the tables"), a joiner. 0, or -1 with the mistake recorded. */
static int join_args(sluice_topology_t *t, const sluice_topology_t *other,
                     const char *call, const char *both,
                     sluice_value_joiner_cb *joiner) {
        if (sl_topo_check_open(t, call))
                return -1;
        if (other != t) {
                sl_topo_error(t, "%s: %s belong to different topologies",
                              call, both);
                return -1;
        }
        if (!joiner) {
                sl_topo_error(t, "%s: joiner is NULL", call);
                return -1;
        }
        return 0;
}

/* The stores a table-table join reads its inputs' rows from: 0 with *ls
 * and *rs, or -1 with the mistake recorded. */
static int join_table_stores(sluice_topology_t *t, const char *call,
                             const sluice_table_t *l,
                             const sluice_table_t *r, int *ls, int *rs) {
        *ls = sl_table_store_of(l);
        *rs = sl_table_store_of(r);
        if (*ls < 0 || *rs < 0) {
                sl_topo_error(t, "%s: the %s table has no store to look rows "
                                 "up in (a suppressed, joined or windowed "
                                 "table)",
                              call, *ls < 0 ? "left" : "right");
                return -1;
        }
        return 0;
}

static sluice_stream_t *stream_table(sluice_stream_t *s, sluice_table_t *tbl,
                                     jn_kind_t kind, const char *call,
                                     sluice_value_joiner_cb *joiner,
                                     void *opaque,
                                     const sluice_serde_t *value_serde) {
        sluice_topology_t *t;
        sl_node_t *n;
        jn_t *J;
        int store;
        if (!s || !tbl)
                return NULL;
        t = s->t;
        if (join_args(t, tbl->t, call, "the stream and the table", joiner) ||
            sl_serde_check(t, call, "value", value_serde))
                return NULL;
        if ((store = sl_table_store_of(tbl)) < 0) {
                sl_topo_error(t, "%s: the table has no store to look rows "
                                 "up in (a suppressed, joined or windowed "
                                 "table); materialize it first",
                              call);
                return NULL;
        }
        if (!(s = copartitioned(s, call, NULL)))
                return NULL;
        if (!(n = join_node(t, SL_NODE_STREAM_TABLE_JOIN, &stream_table_ops,
                            s->node, NULL, kind, 1, joiner, opaque)))
                return NULL;
        J                  = n->priv;
        J->table           = tbl->node;
        J->other_key_serde = t->stores[store]->key_serde;
        J->grace_store     = -1;
        J->stream_ks       = s->key_serde;
        J->stream_vs       = s->value_serde;
        if (connect_store(t, n, store))
                return NULL;
        return sl_stream_new(t, n, s->key_serde, value_serde);
}

sluice_stream_t *sluice_stream_join_table(sluice_stream_t *s,
                                          sluice_table_t *tbl,
                                          sluice_value_joiner_cb *joiner,
                                          void *opaque,
                                          const sluice_serde_t *value_serde) {
        return stream_table(s, tbl, JN_INNER, "sluice_stream_join_table",
                            joiner, opaque, value_serde);
}

sluice_stream_t *
sluice_stream_left_join_table(sluice_stream_t *s, sluice_table_t *tbl,
                              sluice_value_joiner_cb *joiner, void *opaque,
                              const sluice_serde_t *value_serde) {
        return stream_table(s, tbl, JN_LEFT, "sluice_stream_left_join_table",
                            joiner, opaque, value_serde);
}

int sluice_stream_join_set_grace(sluice_stream_t *joined, int64_t grace_ms) {
        static const char *call = "sluice_stream_join_set_grace";
        sluice_topology_t *t;
        sl_node_t *n;
        jn_t *J;
        char name[300];
        if (!joined)
                return SLUICE_ERR_INVALID_ARG;
        t = joined->t;
        n = joined->node;
        if (sl_topo_check_open(t, call))
                return SLUICE_ERR_TOPOLOGY;
        if (n->ops != &stream_table_ops) {
                sl_topo_error(t, "%s: the stream is not what a stream-table "
                                 "join returned%s",
                              call,
                              n->ops == &stream_table_grace_ops
                                  ? " (its grace period is set already)"
                                  : "");
                return SLUICE_ERR_TOPOLOGY;
        }
        if (grace_ms < 0) {
                sl_topo_error(t, "%s: grace_ms must be >= 0 (got %lld)", call,
                              (long long)grace_ms);
                return SLUICE_ERR_TOPOLOGY;
        }
        J = n->priv;
        if (sl_serde_check(t, call, "stream key", J->stream_ks) ||
            sl_serde_check(t, call, "stream value", J->stream_vs))
                return SLUICE_ERR_TOPOLOGY;
        snprintf(name, sizeof(name), "%s-Buffer", n->name);
        if ((J->grace_store = sl_store_new(t, call, name, "",
                                           sluice_serde_bytes(),
                                           sluice_serde_bytes(), NULL)) < 0 ||
            connect_store(t, n, J->grace_store))
                return SLUICE_ERR_TOPOLOGY;
        J->grace_ms = grace_ms;
        n->ops      = &stream_table_grace_ops;
        return SLUICE_OK;
}

int sl_join_freeze(sluice_topology_t *t, char *errstr, size_t errstr_size) {
        size_t i;
        int vs;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                const jn_t *J;
                if (n->ops != &stream_table_grace_ops)
                        continue;
                J = n->priv;
                if ((vs = sl_table_versioned_store(J->table)) < 0) {
                        sl_errstr(errstr, errstr_size,
                                  "join node \"%s\": a grace period "
                                  "(sluice_stream_join_set_grace) needs a "
                                  "versioned table "
                                  "(sluice_table_set_versioned)",
                                  n->name);
                        return -1;
                }
                /* Kafka Streams refuses it too (KStreamImpl.doStreamTableJoin:
                 * "History retention must be at least grace period.") */
                if (t->stores[vs]->history_ms < J->grace_ms) {
                        sl_errstr(errstr, errstr_size,
                                  "join node \"%s\": the grace period (%lld "
                                  "ms) is longer than the versioned table's "
                                  "history retention (%lld ms)",
                                  n->name, (long long)J->grace_ms,
                                  (long long)t->stores[vs]->history_ms);
                        return -1;
                }
        }
        return 0;
}

sluice_join_windows_t sluice_join_windows(int64_t difference_ms,
                                          int64_t grace_ms) {
        sluice_join_windows_t w = {difference_ms, difference_ms, grace_ms};
        return w;
}

sluice_join_windows_t sluice_join_windows_asym(int64_t before_ms,
                                               int64_t after_ms,
                                               int64_t grace_ms) {
        sluice_join_windows_t w = {before_ms, after_ms, grace_ms};
        return w;
}

/* A join store named @name + @suffix (@name NULL: @node's name +
 * "-store"); @retention > 0: a window store. */
static int join_store(sluice_topology_t *t, const char *call,
                      const char *name, const char *suffix,
                      const sl_node_t *node, const sluice_serde_t *ks,
                      const sluice_serde_t *vs, int64_t retention) {
        char buf[300];
        int idx;
        if (name)
                snprintf(buf, sizeof(buf), "%s%s", name, suffix);
        else
                snprintf(buf, sizeof(buf), "%s-store", node->name);
        idx = sl_store_new(t, call, buf, "", ks, vs, NULL);
        if (idx >= 0)
                t->stores[idx]->retention_ms = retention;
        return idx;
}

static sluice_stream_t *stream_stream(sluice_stream_t *l, sluice_stream_t *r,
                                      sluice_join_windows_t w, jn_kind_t kind,
                                      const char *call,
                                      sluice_value_joiner_cb *joiner,
                                      void *opaque,
                                      const sluice_serde_t *value_serde,
                                      const char *name) {
        sluice_topology_t *t;
        sl_node_t *a, *b, *m;
        jn_t *A, *B;
        char rn[256];
        int64_t retention;
        if (!l || !r)
                return NULL;
        t = l->t;
        if (join_args(t, r->t, call, "the streams", joiner))
                return NULL;
        if (w.before_ms < 0 || w.after_ms < 0 || w.grace_ms < 0) {
                sl_topo_error(t, "%s: the join window's before, after and "
                                 "grace must be >= 0 (got %lld, %lld, %lld)",
                              call, (long long)w.before_ms,
                              (long long)w.after_ms, (long long)w.grace_ms);
                return NULL;
        }
        if (w.before_ms > INT64_MAX / 4 || w.after_ms > INT64_MAX / 4 ||
            w.grace_ms > INT64_MAX / 4) {
                sl_topo_error(t, "%s: the join window is too large", call);
                return NULL;
        }
        if (!l->key_serde || !l->value_serde || !r->value_serde) {
                sl_topo_error(t, "%s: the streams' serdes are unknown (they "
                                 "write the join stores); declare them with "
                                 "sluice_stream_with_serdes()",
                              call);
                return NULL;
        }
        if (sl_serde_check(t, call, "value", value_serde))
                return NULL;
        if (name) {
                snprintf(rn, sizeof(rn), "%s-left", name);
                if (!(l = copartitioned(l, call, rn)))
                        return NULL;
                snprintf(rn, sizeof(rn), "%s-right", name);
                if (!(r = copartitioned(r, call, rn)))
                        return NULL;
        } else if (!(l = copartitioned(l, call, NULL)) ||
                   !(r = copartitioned(r, call, NULL))) {
                return NULL;
        }
        retention = w.before_ms + w.after_ms + w.grace_ms;
        if (!(a = join_node(t, SL_NODE_STREAM_JOIN, &stream_join_ops, l->node,
                            kind == JN_OUTER ? "KSTREAM-OUTERTHIS-"
                                             : "KSTREAM-JOINTHIS-",
                            kind, 1, joiner, opaque)) ||
            !(b = join_node(t, SL_NODE_STREAM_JOIN, &stream_join_ops, r->node,
                            kind != JN_INNER ? "KSTREAM-OUTEROTHER-"
                                             : "KSTREAM-JOINOTHER-",
                            kind, 0, joiner, opaque)))
                return NULL;
        A = a->priv;
        B = b->priv;
        a->key_serde = b->key_serde = l->key_serde;
        A->this_vs = B->other_vs = l->value_serde;
        A->other_vs = B->this_vs = r->value_serde;
        A->w_before = B->w_before = w.before_ms;
        A->w_after = B->w_after = w.after_ms;
        A->before               = w.before_ms;
        A->after                = w.after_ms;
        B->before               = w.after_ms;
        B->after                = w.before_ms;
        A->grace = B->grace = w.grace_ms;
        A->retention = B->retention = retention;
        A->seg_ms = B->seg_ms =
            retention / 2 > 60000 ? retention / 2 : 60000;
        A->partner = b;
        B->partner = a;
        A->left_node = B->left_node = a;
        A->outer_this               = kind != JN_INNER;
        B->outer_this               = kind == JN_OUTER;
        A->outer_store = B->outer_store = -1;
        if ((A->this_store = join_store(
                 t, call, name,
                 kind == JN_OUTER ? "-outer-this-join-store"
                                  : "-this-join-store",
                 a, l->key_serde, l->value_serde, retention)) < 0 ||
            (A->other_store = join_store(
                 t, call, name,
                 kind != JN_INNER ? "-outer-other-join-store"
                                  : "-other-join-store",
                 b, l->key_serde, r->value_serde, retention)) < 0)
                return NULL;
        B->this_store  = A->other_store;
        B->other_store = A->this_store;
        if (kind != JN_INNER) {
                char gen[64];
                const char *num = strrchr(a->name, '-');
                snprintf(gen, sizeof(gen), "KSTREAM-OUTERSHARED-%s",
                         num ? num + 1 : "");
                if (name)
                        A->outer_store = join_store(
                            t, call, name, "-outer-shared-join-store", a,
                            NULL, NULL, 0);
                else {
                        char sn[96];
                        snprintf(sn, sizeof(sn), "%s-store", gen);
                        A->outer_store =
                            sl_store_new(t, call, sn, "", NULL, NULL, NULL);
                }
                if (A->outer_store < 0)
                        return NULL;
                B->outer_store = A->outer_store;
        }
        if (connect_store(t, a, A->this_store) ||
            connect_store(t, a, A->other_store) ||
            connect_store(t, b, B->this_store) ||
            connect_store(t, b, B->other_store) ||
            (A->outer_store >= 0 && (connect_store(t, a, A->outer_store) ||
                                     connect_store(t, b, B->outer_store))))
                return NULL;
        if (!(m = sl_node_new(t, SL_NODE_STREAM_JOIN_MERGE, &merge_ops, a)) ||
            sl_node_link(b, m)) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        return sl_stream_new(t, m, l->key_serde, value_serde);
}

sluice_stream_t *sluice_stream_join(sluice_stream_t *left,
                                    sluice_stream_t *right,
                                    sluice_join_windows_t w,
                                    sluice_value_joiner_cb *joiner,
                                    void *opaque,
                                    const sluice_serde_t *value_serde,
                                    const char *name) {
        return stream_stream(left, right, w, JN_INNER, "sluice_stream_join",
                             joiner, opaque, value_serde, name);
}

sluice_stream_t *sluice_stream_left_join(sluice_stream_t *left,
                                         sluice_stream_t *right,
                                         sluice_join_windows_t w,
                                         sluice_value_joiner_cb *joiner,
                                         void *opaque,
                                         const sluice_serde_t *value_serde,
                                         const char *name) {
        return stream_stream(left, right, w, JN_LEFT, "sluice_stream_left_join",
                             joiner, opaque, value_serde, name);
}

sluice_stream_t *sluice_stream_outer_join(sluice_stream_t *left,
                                          sluice_stream_t *right,
                                          sluice_join_windows_t w,
                                          sluice_value_joiner_cb *joiner,
                                          void *opaque,
                                          const sluice_serde_t *value_serde,
                                          const char *name) {
        return stream_stream(left, right, w, JN_OUTER,
                             "sluice_stream_outer_join", joiner, opaque,
                             value_serde, name);
}

static sluice_table_t *table_table(sluice_table_t *l, sluice_table_t *r,
                                   jn_kind_t kind, const char *call,
                                   sluice_value_joiner_cb *joiner,
                                   void *opaque,
                                   const sluice_serde_t *value_serde) {
        static const char *const names[3][2] = {
            {"KTABLE-JOINTHIS-", "KTABLE-JOINOTHER-"},
            {"KTABLE-LEFTTHIS-", "KTABLE-LEFTOTHER-"},
            {"KTABLE-OUTERTHIS-", "KTABLE-OUTEROTHER-"}};
        sluice_topology_t *t;
        sl_node_t *a, *b, *m;
        int ls, rs;
        jn_t *J;
        if (!l || !r)
                return NULL;
        t = l->t;
        if (join_args(t, r->t, call, "the tables", joiner) ||
            sl_serde_check(t, call, "value", value_serde) ||
            join_table_stores(t, call, l, r, &ls, &rs))
                return NULL;
        if (!(a = join_node(t, SL_NODE_TABLE_JOIN, &table_join_ops, l->node,
                            names[kind][0], kind, 1, joiner, opaque)) ||
            !(b = join_node(t, SL_NODE_TABLE_JOIN, &table_join_ops, r->node,
                            names[kind][1], kind, 0, joiner, opaque)))
                return NULL;
        J                  = a->priv;
        J->other           = r->node;
        J->other_key_serde = t->stores[rs]->key_serde;
        J                  = b->priv;
        J->other           = l->node;
        J->other_key_serde = t->stores[ls]->key_serde;
        if (connect_store(t, a, rs) || connect_store(t, b, ls))
                return NULL;
        if (!(m = sl_node_new(t, SL_NODE_TABLE_JOIN_MERGE, &merge_ops, a)) ||
            sl_node_link(b, m)) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        m->key_serde   = l->key_serde;
        m->value_serde = value_serde;
        return sl_table_new(t, m, l->key_serde, value_serde, -1);
}

sluice_table_t *sluice_table_join(sluice_table_t *left, sluice_table_t *right,
                                  sluice_value_joiner_cb *joiner, void *opaque,
                                  const sluice_serde_t *value_serde) {
        return table_table(left, right, JN_INNER, "sluice_table_join", joiner,
                           opaque, value_serde);
}

sluice_table_t *sluice_table_left_join(sluice_table_t *left,
                                       sluice_table_t *right,
                                       sluice_value_joiner_cb *joiner,
                                       void *opaque,
                                       const sluice_serde_t *value_serde) {
        return table_table(left, right, JN_LEFT, "sluice_table_left_join",
                           joiner, opaque, value_serde);
}

sluice_table_t *sluice_table_outer_join(sluice_table_t *left,
                                        sluice_table_t *right,
                                        sluice_value_joiner_cb *joiner,
                                        void *opaque,
                                        const sluice_serde_t *value_serde) {
        return table_table(left, right, JN_OUTER, "sluice_table_outer_join",
                           joiner, opaque, value_serde);
}

/* ---- stream-global-table (lib/global.c holds the store) ----
 *
 * Kafka Streams' KStreamGlobalKTableJoin (a KStreamKTableJoinProcessor
 * with a key mapper): the stream record's (key, value) is mapped to the
 * table's key, looked up in the global store (under its lock, see
 * global.h), and joined. A null stream value is dropped; a null mapped
 * key is dropped by an inner join and joins NULL in a left join. Nothing
 * needs co-partitioning (every instance holds the whole table), so the
 * node is not marked copartition and its input is never repartitioned. */

#include "global.h"

typedef struct gj_s {
        jn_t jn; /* first: call_joiner() reads node->priv as a jn_t */
        int global; /* index in t->globals */
        sluice_global_key_cb *key_cb;
        const sluice_serde_t *gkey_serde;
} gj_t;

static int stream_global_process(sl_task_t *task, const sl_node_t *node,
                                 sluice_record_t *rec) {
        const gj_t *G = node->priv;
        sluice_value_t mk = sluice_null(), tv = sluice_null(), res;
        int mk_owned = 0, t_owned = 0, r_owned, found = 0, err;
        const void *k;
        size_t klen;
        char why[SL_ERRSTR_SIZE];

        if (rec->value.type == SLUICE_VALUE_NULL) {
                task->dropped++;
                return 0;
        }
        if (G->key_cb(&rec->key, &rec->value, &mk, node->opaque))
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "key extractor failed");
        if ((err = sl_value_adopt(task, &mk, &mk_owned)))
                return sl_fail(task, node, err, "%s", "out of memory");
        if (mk.type == SLUICE_VALUE_NULL) {
                if (G->jn.kind != JN_LEFT) {
                        task->dropped++;
                        return 0;
                }
        } else {
                err = sl_encode(G->gkey_serde, &mk, &task->kbuf, &k, &klen,
                                why, sizeof(why));
                if (err) {
                        sl_op_release_if(&mk, mk_owned);
                        return sl_fail(task, node, SLUICE_ERR_SERDE,
                                       "extracted key: %s", why);
                }
                if (!k)
                        k = "";
                found = sl_global_lookup(task, node, G->global, k, klen, &tv,
                                         &t_owned);
        }
        sl_op_release_if(&mk, mk_owned);
        if (found < 0)
                return found;
        if (!found && G->jn.kind != JN_LEFT)
                return 0;
        err = call_joiner(task, node, &rec->key, &rec->value,
                          found ? &tv : NULL, &res, &r_owned);
        sl_op_release_if(&tv, t_owned);
        if (err)
                return err;
        return forward_value(task, node, rec, res, r_owned, rec->timestamp);
}

static const sl_node_ops_t stream_global_ops = {
    .family  = "join",
    .process = stream_global_process,
};

static sluice_stream_t *stream_global(sluice_stream_t *s,
                                      sluice_global_table_t *gt,
                                      jn_kind_t kind, const char *call,
                                      sluice_global_key_cb *key_cb,
                                      sluice_value_joiner_cb *joiner,
                                      void *opaque,
                                      const sluice_serde_t *value_serde) {
        sluice_topology_t *t;
        sl_node_t *n;
        gj_t *G;
        if (!s || !gt)
                return NULL;
        t = s->t;
        if (sl_topo_check_open(t, call))
                return NULL;
        if (gt->t != t) {
                sl_topo_error(t, "%s: the stream and the global table belong "
                                 "to different topologies",
                              call);
                return NULL;
        }
        if (!key_cb) {
                sl_topo_error(t, "%s: key extractor is NULL", call);
                return NULL;
        }
        if (!joiner) {
                sl_topo_error(t, "%s: joiner is NULL", call);
                return NULL;
        }
        if (sl_serde_check(t, call, "value", value_serde))
                return NULL;
        if (!(G = calloc(1, sizeof(*G)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        if (!(n = sl_node_new(t, SL_NODE_STREAM_TABLE_JOIN, &stream_global_ops,
                              s->node))) {
                free(G);
                return NULL;
        }
        n->priv       = G;
        n->opaque     = opaque;
        G->jn.kind    = kind;
        G->jn.joiner  = joiner;
        G->jn.grace_store = -1;
        G->global     = gt->idx;
        G->key_cb     = key_cb;
        G->gkey_serde = gt->key_serde;
        return sl_stream_new(t, n, s->key_serde, value_serde);
}

sluice_stream_t *sluice_stream_join_global(sluice_stream_t *s,
                                           sluice_global_table_t *gt,
                                           sluice_global_key_cb *key_extractor,
                                           sluice_value_joiner_cb *joiner,
                                           void *opaque,
                                           const sluice_serde_t *value_serde) {
        return stream_global(s, gt, JN_INNER, "sluice_stream_join_global",
                             key_extractor, joiner, opaque, value_serde);
}

sluice_stream_t *sluice_stream_left_join_global(
    sluice_stream_t *s, sluice_global_table_t *gt,
    sluice_global_key_cb *key_extractor, sluice_value_joiner_cb *joiner,
    void *opaque, const sluice_serde_t *value_serde) {
        return stream_global(s, gt, JN_LEFT, "sluice_stream_left_join_global",
                             key_extractor, joiner, opaque, value_serde);
}

/* ---- foreign-key table-table join (KIP-213) ----
 *
 * Kafka Streams' foreignkeyjoin/ processors, as nodes:
 *
 *   left table -> KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-n (send):
 *       per left update, subscriptions (fk, pk, hash, instruction) to
 *       the internal topic "<app>-KTABLE-FK-JOIN-SUBSCRIPTION-
 *       REGISTRATION-n-topic", keyed by the foreign key's bytes
 *       (SubscriptionSendProcessorSupplier)
 *   that topic -> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-m (receive):
 *       the subscription store [u32 fk length][fk][pk] -> subscription
 *       is updated, then the right table is looked up and a response
 *       (hash, right value) sent per instruction to "<app>-KTABLE-FK-
 *       JOIN-SUBSCRIPTION-RESPONSE-r-topic", keyed by the primary key
 *       (SubscriptionReceiveProcessorSupplier and
 *       SubscriptionJoinProcessorSupplier, one node here)
 *   right table -> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-f (foreign):
 *       a right update scans the subscriptions of its key and responds
 *       to each (ForeignTableJoinProcessorSupplier)
 *   response topic -> KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-
 *       PROCESSOR-s (resolve): a response whose hash is not the left
 *       row's current one is stale and dropped; else joiner(left, right)
 *       or a tombstone (ResponseJoinProcessorSupplier)
 *
 * Subscription bytes are Kafka Streams' SubscriptionWrapper v1:
 * [version 1 | 0x80 if no hash][instruction][16-byte hash][pk][i32
 * partition]; a response is [0 | 0x80 if no hash | 0x40 if a right
 * value][16-byte hash][right value bytes].
 */

enum {
        FK_DELETE_KEY_NO_PROPAGATE              = 0,
        FK_DELETE_KEY_AND_PROPAGATE             = 1,
        FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE = 2,
        FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE   = 3
};

/* A foreign-key join node's fields (node->priv). */
typedef struct fk_s {
        jn_kind_t kind; /* JN_INNER or JN_LEFT */
        sluice_fk_extractor_cb *extract;
        sluice_value_joiner_cb *joiner;
        const sl_node_t *left, *right; /* the tables' nodes */
        const sluice_serde_t *pk_serde, *lv_serde; /* the left table's */
        const sluice_serde_t *fk_serde, *rv_serde; /* the right table's */
        int sub_store;
} fk_t;

/* MurmurHash3 x64 128 (Austin Appleby's, public domain), as Kafka
 * Streams' Murmur3.hash128 with its seed 104729. */
static uint64_t fk_rotl(uint64_t x, int r) {
        return (x << r) | (x >> (64 - r));
}
static uint64_t fk_fmix(uint64_t k) {
        k ^= k >> 33;
        k *= 0xff51afd7ed558ccdULL;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 33;
        return k;
}
static uint64_t fk_le64(const unsigned char *p) {
        uint64_t v = 0;
        int i;
        for (i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}
static void fk_hash(const void *data, size_t len, unsigned char out[16]) {
        const unsigned char *p = data;
        const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
        uint64_t h1 = 104729, h2 = 104729, k1, k2;
        size_t i, nblocks = len / 16, rem = len % 16;
        const unsigned char *tail;
        for (i = 0; i < nblocks; i++) {
                k1 = fk_le64(p + i * 16);
                k2 = fk_le64(p + i * 16 + 8);
                k1 *= c1;
                k1 = fk_rotl(k1, 31);
                k1 *= c2;
                h1 ^= k1;
                h1 = fk_rotl(h1, 27);
                h1 += h2;
                h1 = h1 * 5 + 0x52dce729;
                k2 *= c2;
                k2 = fk_rotl(k2, 33);
                k2 *= c1;
                h2 ^= k2;
                h2 = fk_rotl(h2, 31);
                h2 += h1;
                h2 = h2 * 5 + 0x38495ab5;
        }
        tail = p + nblocks * 16;
        k1 = k2 = 0;
        for (i = rem; i > 8; i--)
                k2 ^= (uint64_t)tail[i - 1] << (8 * (i - 9));
        if (rem > 8) {
                k2 *= c2;
                k2 = fk_rotl(k2, 33);
                k2 *= c1;
                h2 ^= k2;
        }
        for (i = rem < 8 ? rem : 8; i > 0; i--)
                k1 ^= (uint64_t)tail[i - 1] << (8 * (i - 1));
        if (rem) {
                k1 *= c1;
                k1 = fk_rotl(k1, 31);
                k1 *= c2;
                h1 ^= k1;
        }
        h1 ^= (uint64_t)len;
        h2 ^= (uint64_t)len;
        h1 += h2;
        h2 += h1;
        h1 = fk_fmix(h1);
        h2 = fk_fmix(h2);
        h1 += h2;
        h2 += h1;
        for (i = 0; i < 8; i++) {
                out[i]     = (unsigned char)(h1 >> (56 - 8 * i));
                out[8 + i] = (unsigned char)(h2 >> (56 - 8 * i));
        }
}

/* Append @n bytes to @b (after any append, b->data is not NULL). */
static int fk_append(sluice_buf_t *b, const void *p, size_t n) {
        if (sluice_buf_reserve(b, n ? n : 1))
                return SLUICE_ERR_NOMEM;
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

/* Forward a record of @rec's metadata with @key and @value (bytes; NULL:
 * null) at @ts: what goes to an internal topic. */
static int fk_forward_bytes(sl_task_t *task, const sl_node_t *node,
                            const sluice_record_t *rec, const void *key,
                            size_t klen, const void *value, size_t vlen,
                            int64_t ts) {
        sluice_record_t out = *rec;
        out.flags           = 0;
        out.key             = key ? sluice_bytes(key, klen) : sluice_null();
        out.old             = sluice_null();
        out.raw_key         = NULL;
        out.raw_key_len     = 0;
        out.raw_key_serde   = NULL;
        return join_emit(task, node, &out,
                         value ? sluice_bytes(value, vlen) : sluice_null(), 0,
                         ts);
}

/* The foreign key of the left row (@key, @v) as bytes in @b (*null: the
 * extractor returned a null key). */
static int fk_extract(sl_task_t *task, const sl_node_t *node,
                      const sluice_value_t *key, const sluice_value_t *v,
                      sluice_buf_t *b, int *null) {
        const fk_t *F    = node->priv;
        sluice_value_t fk = sluice_null();
        const void *p;
        size_t n;
        char why[SL_ERRSTR_SIZE];
        int err = 0, shared;
        b->len = 0;
        if (F->extract(key, v, &fk, node->opaque))
                return sl_fail(task, node, SLUICE_ERR_CALLBACK, "%s",
                               "foreign-key extractor failed");
        shared = (fk.type == SLUICE_VALUE_JSON &&
                  ((v->type == SLUICE_VALUE_JSON && fk.u.json == v->u.json) ||
                   (key->type == SLUICE_VALUE_JSON &&
                    fk.u.json == key->u.json))) ||
                 (fk.type == SLUICE_VALUE_OBJECT &&
                  ((v->type == SLUICE_VALUE_OBJECT &&
                    fk.u.obj.ptr == v->u.obj.ptr) ||
                   (key->type == SLUICE_VALUE_OBJECT &&
                    fk.u.obj.ptr == key->u.obj.ptr)));
        *null = fk.type == SLUICE_VALUE_NULL;
        if (!*null) {
                sluice_buf_t tmp = {NULL, 0, 0};
                if (sl_encode(F->fk_serde, &fk, &tmp, &p, &n, why,
                              sizeof(why)))
                        err = sl_fail(task, node, SLUICE_ERR_SERDE,
                                      "foreign key: %s", why);
                else if (fk_append(b, p ? p : "", n))
                        err = sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                      "out of memory");
                free(tmp.data);
        }
        if (!shared)
                sl_op_release_if(&fk, fk.type == SLUICE_VALUE_JSON ||
                                          fk.type == SLUICE_VALUE_OBJECT);
        return err;
}

/* Send one subscription for @fk (NULL: a null foreign key). */
static int fk_subscribe(sl_task_t *task, const sl_node_t *node,
                        const sluice_record_t *rec, const sluice_buf_t *fk,
                        const unsigned char *hash, int instruction,
                        const void *pk, size_t pklen) {
        sluice_buf_t b = {NULL, 0, 0};
        unsigned char hdr[2], part[4];
        uint32_t p = (uint32_t)task->partition;
        int err;
        hdr[0]  = (unsigned char)(1 | (hash ? 0 : 0x80));
        hdr[1]  = (unsigned char)instruction;
        part[0] = (unsigned char)(p >> 24);
        part[1] = (unsigned char)(p >> 16);
        part[2] = (unsigned char)(p >> 8);
        part[3] = (unsigned char)p;
        if (fk_append(&b, hdr, 2) || (hash && fk_append(&b, hash, 16)) ||
            fk_append(&b, pk, pklen) || fk_append(&b, part, 4)) {
                free(b.data);
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        }
        err = fk_forward_bytes(task, node, rec, fk ? fk->data : NULL,
                               fk ? fk->len : 0, b.data, b.len,
                               rec->timestamp);
        free(b.data);
        return err;
}

static int fk_send_process(sl_task_t *task, const sl_node_t *node,
                           sluice_record_t *rec) {
        const fk_t *F = node->priv;
        const sluice_value_t *nv = &rec->value, *ov = &rec->old;
        int has_new = nv->type != SLUICE_VALUE_NULL;
        int has_old = (rec->flags & SL_REC_HAS_OLD) &&
                      ov->type != SLUICE_VALUE_NULL;
        sluice_buf_t nfk = {NULL, 0, 0}, ofk = {NULL, 0, 0},
                     pkb = {NULL, 0, 0};
        unsigned char hash[16];
        const unsigned char *h = NULL;
        int n_null = 1, o_null = 1, err = 0, changed;
        const void *k, *v;
        size_t klen, vlen;

        /* a null key; an out-of-order update of a versioned table
         * (KIP-914) */
        if (rec->key.type == SLUICE_VALUE_NULL ||
            (rec->flags & SL_REC_NOT_LATEST)) {
                task->dropped++;
                return 0;
        }
        if (!has_new && !has_old)
                return 0; /* deleting what was not there */
        if ((err = sl_op_key_bytes(task, node, rec, F->pk_serde, &task->kbuf,
                                   &k, &klen)) ||
            fk_append(&pkb, k, klen)) {
                err = err ? err
                          : sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                    "out of memory");
                goto out;
        }
        if (has_new) {
                if ((err = sl_op_value_bytes(task, node, nv, F->lv_serde,
                                             &task->vbuf, &v, &vlen)))
                        goto out;
                fk_hash(v, vlen, hash);
                h = hash;
                if ((err = fk_extract(task, node, &rec->key, nv, &nfk,
                                      &n_null)))
                        goto out;
        }
        if (has_old &&
            (err = fk_extract(task, node, &rec->key, ov, &ofk, &o_null)))
                goto out;
        changed = n_null != o_null ||
                  (!n_null && (nfk.len != ofk.len ||
                               memcmp(nfk.data, ofk.data, nfk.len)));
        if (F->kind == JN_LEFT) {
                /* every update gets a response (a null foreign key
                 * too: the receiving side answers it without a lookup) */
                if (!o_null && changed &&
                    (err = fk_subscribe(task, node, rec, &ofk, h,
                                        FK_DELETE_KEY_NO_PROPAGATE, pkb.data,
                                        pkb.len)))
                        goto out;
                err = fk_subscribe(task, node, rec, n_null ? NULL : &nfk, h,
                                   FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
                                   pkb.data, pkb.len);
                goto out;
        }
        if (!has_new || n_null) {
                if (has_new)
                        task->dropped++; /* a null foreign key */
                if (!o_null)
                        err = fk_subscribe(task, node, rec, &ofk, h,
                                           FK_DELETE_KEY_AND_PROPAGATE,
                                           pkb.data, pkb.len);
                goto out;
        }
        if (!o_null && changed) {
                if ((err = fk_subscribe(task, node, rec, &ofk, h,
                                        FK_DELETE_KEY_NO_PROPAGATE, pkb.data,
                                        pkb.len)))
                        goto out;
                err = fk_subscribe(task, node, rec, &nfk, h,
                                   FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
                                   pkb.data, pkb.len);
                goto out;
        }
        err = fk_subscribe(task, node, rec, &nfk, h,
                           FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE, pkb.data,
                           pkb.len);
out:
        free(nfk.data);
        free(ofk.data);
        free(pkb.data);
        return err;
}

/* Send a response for @pk with the subscription's @hash (NULL: none) and
 * the right value's bytes @rv (NULL: none). */
static int fk_respond(sl_task_t *task, const sl_node_t *node,
                      const sluice_record_t *rec, const void *pk,
                      size_t pklen, const unsigned char *hash,
                      const void *rv, size_t rvlen, int64_t ts) {
        sluice_buf_t b = {NULL, 0, 0};
        unsigned char hdr = (unsigned char)((hash ? 0 : 0x80) |
                                            (rv ? 0x40 : 0));
        int err;
        if (fk_append(&b, &hdr, 1) || (hash && fk_append(&b, hash, 16)) ||
            (rv && fk_append(&b, rv, rvlen))) {
                free(b.data);
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        }
        err = fk_forward_bytes(task, node, rec, pk, pklen, b.data, b.len, ts);
        free(b.data);
        return err;
}

/* A subscription's parts (borrowed from its bytes). 0 or -1 (malformed). */
typedef struct fk_sub_s {
        int instruction;
        const unsigned char *hash; /* NULL: none */
        const unsigned char *pk;
        size_t pklen;
} fk_sub_t;

static int fk_sub_parse(const void *data, size_t len, fk_sub_t *s) {
        const unsigned char *p = data;
        size_t need;
        if (len < 6 || (p[0] & 0x7f) != 1 || p[1] > 3)
                return -1;
        need = (p[0] & 0x80) ? 6 : 22;
        if (len < need)
                return -1;
        s->instruction = p[1];
        s->hash        = (p[0] & 0x80) ? NULL : p + 2;
        s->pk          = p + need - 4;
        s->pklen       = len - need;
        return 0;
}

/* The right table's row for foreign key bytes @fk: 1 with its bytes in
 * @b and timestamp *ts, 0 if absent, < 0 an error. */
static int fk_right_row(sl_task_t *task, const sl_node_t *node,
                        const void *fk, size_t fklen, sluice_buf_t *b,
                        int64_t *ts) {
        const fk_t *F = node->priv;
        sluice_value_t key = sluice_null(), v = sluice_null();
        int k_owned = 0, v_owned = 0, found, err = 0;
        const void *p;
        size_t n;
        char why[SL_ERRSTR_SIZE];
        if ((err = sl_op_decode(task, node, F->fk_serde, fk, fklen, &key,
                                &k_owned)))
                return err;
        found = sl_table_lookup(task, F->right, fk, fklen, &key,
                                SLUICE_TS_LATEST, &v, &v_owned, ts);
        if (found > 0) {
                sluice_buf_t tmp = {NULL, 0, 0};
                b->len = 0;
                if (sl_encode(F->rv_serde, &v, &tmp, &p, &n, why,
                              sizeof(why)))
                        err = sl_fail(task, node, SLUICE_ERR_SERDE,
                                      "right value: %s", why);
                else if (fk_append(b, p ? p : "", n))
                        err = sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                      "out of memory");
                free(tmp.data);
        }
        sl_op_release_if(&v, v_owned);
        sl_op_release_if(&key, k_owned);
        return err ? err : found;
}

/* The subscription store's key: [u32 fk length][fk][pk]. */
static int fk_sub_key(sluice_buf_t *b, const void *fk, size_t fklen,
                      const void *pk, size_t pklen) {
        unsigned char l[4];
        b->len = 0;
        l[0]   = (unsigned char)(fklen >> 24);
        l[1]   = (unsigned char)(fklen >> 16);
        l[2]   = (unsigned char)(fklen >> 8);
        l[3]   = (unsigned char)fklen;
        return fk_append(b, l, 4) || fk_append(b, fk, fklen) ||
                       fk_append(b, pk, pklen)
                   ? SLUICE_ERR_NOMEM
                   : 0;
}

static int fk_receive_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        const fk_t *F = node->priv;
        sluice_kv_t *kv = task->kvs[F->sub_store];
        const void *fk = NULL, *sv;
        size_t fklen = 0, svlen;
        sluice_buf_t key = {NULL, 0, 0}, rv = {NULL, 0, 0};
        fk_sub_t s;
        int found = 0, err = 0;
        int64_t rts = -1, ts;

        if (rec->value.type != SLUICE_VALUE_BYTES &&
            rec->value.type != SLUICE_VALUE_STRING)
                return sl_fail(task, node, SLUICE_ERR_SERDE, "%s",
                               "malformed subscription");
        sv    = rec->value.u.bytes.data;
        svlen = rec->value.u.bytes.len;
        if (fk_sub_parse(sv, svlen, &s))
                return sl_fail(task, node, SLUICE_ERR_SERDE, "%s",
                               "malformed subscription");
        if (rec->key.type != SLUICE_VALUE_NULL) {
                fk    = rec->key.u.bytes.data;
                fklen = rec->key.u.bytes.len;
        } else if (s.instruction != FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE) {
                task->dropped++;
                return 0;
        }
        if (fk) {
                int r;
                if (fk_sub_key(&key, fk, fklen, s.pk, s.pklen)) {
                        err = sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                      "out of memory");
                        goto out;
                }
                if (s.instruction == FK_DELETE_KEY_AND_PROPAGATE ||
                    s.instruction == FK_DELETE_KEY_NO_PROPAGATE)
                        r = sluice_kv_delete(kv, key.data, key.len);
                else
                        r = sluice_kv_put(kv, key.data, key.len, sv, svlen,
                                          rec->timestamp);
                if (r < 0) {
                        err = sl_op_store_fail(task, node, r);
                        goto out;
                }
                if ((found = fk_right_row(task, node, fk, fklen, &rv,
                                          &rts)) < 0) {
                        err = found;
                        goto out;
                }
        }
        ts = found && rts > rec->timestamp ? rts : rec->timestamp;
        switch (s.instruction) {
        case FK_DELETE_KEY_AND_PROPAGATE:
                err = fk_respond(task, node, rec, s.pk, s.pklen, s.hash, NULL,
                                 0, ts);
                break;
        case FK_PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE:
                err = fk_respond(task, node, rec, s.pk, s.pklen, s.hash,
                                 found ? rv.data : NULL, rv.len, ts);
                break;
        case FK_PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE:
                if (found)
                        err = fk_respond(task, node, rec, s.pk, s.pklen,
                                         s.hash, rv.data, rv.len, ts);
                break;
        default: /* DELETE_KEY_NO_PROPAGATE */
                break;
        }
out:
        free(key.data);
        free(rv.data);
        return err;
}

/* A right update: respond to every subscriber of its key. */
typedef struct fk_scan_s {
        sl_task_t *task;
        const sl_node_t *node;
        const sluice_record_t *rec;
        const void *prefix;
        size_t prefix_len;
        const void *rv; /* NULL: deleted */
        size_t rvlen;
        int err;
} fk_scan_t;

static int fk_scan_visit(const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t ts, void *opaque) {
        fk_scan_t *c = opaque;
        fk_sub_t s;
        (void)ts;
        if (klen < c->prefix_len || memcmp(key, c->prefix, c->prefix_len))
                return 1; /* past this foreign key's subscriptions */
        if (fk_sub_parse(value, vlen, &s)) {
                c->err = sl_fail(c->task, c->node, SLUICE_ERR_STATE, "%s",
                                 "malformed stored subscription");
                return 1;
        }
        /* the primary key from the store key, the hash from the value */
        c->err = fk_respond(c->task, c->node, c->rec,
                            (const unsigned char *)key + c->prefix_len,
                            klen - c->prefix_len, s.hash, c->rv, c->rvlen,
                            c->rec->timestamp);
        return c->err != 0;
}

static int fk_foreign_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        const fk_t *F = node->priv;
        sluice_buf_t prefix = {NULL, 0, 0}, rv = {NULL, 0, 0};
        const void *k, *p;
        size_t klen, n;
        fk_scan_t c;
        int64_t r;
        char why[SL_ERRSTR_SIZE];
        int err = 0;
        if (rec->key.type == SLUICE_VALUE_NULL ||
            (rec->flags & SL_REC_NOT_LATEST)) {
                task->dropped++;
                return 0;
        }
        if ((err = sl_op_key_bytes(task, node, rec, F->fk_serde, &task->kbuf,
                                   &k, &klen)))
                return err;
        if (fk_sub_key(&prefix, k, klen, NULL, 0))
                return sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                               "out of memory");
        if (rec->value.type != SLUICE_VALUE_NULL) {
                sluice_buf_t tmp = {NULL, 0, 0};
                if (sl_encode(F->rv_serde, &rec->value, &tmp, &p, &n, why,
                              sizeof(why)))
                        err = sl_fail(task, node, SLUICE_ERR_SERDE,
                                      "right value: %s", why);
                else if (fk_append(&rv, p ? p : "", n))
                        err = sl_fail(task, node, SLUICE_ERR_NOMEM, "%s",
                                      "out of memory");
                free(tmp.data);
        }
        if (!err) {
                c.task       = task;
                c.node       = node;
                c.rec        = rec;
                c.prefix     = prefix.data;
                c.prefix_len = prefix.len;
                c.rv         = rec->value.type != SLUICE_VALUE_NULL ? rv.data
                                                                    : NULL;
                c.rvlen      = rv.len;
                c.err        = 0;
                r = sluice_kv_range(task->kvs[F->sub_store], prefix.data,
                                    prefix.len, NULL, 0, fk_scan_visit, &c);
                if (c.err)
                        err = c.err;
                else if (r < 0)
                        err = sl_op_store_fail(task, node, (int)r);
        }
        free(prefix.data);
        free(rv.data);
        return err;
}

static int fk_resolve_process(sl_task_t *task, const sl_node_t *node,
                              sluice_record_t *rec) {
        const fk_t *F = node->priv;
        const unsigned char *p;
        const unsigned char *hash, *rvb;
        size_t len, need, rvlen;
        sluice_value_t pk = sluice_null(), lv = sluice_null(),
                       rv = sluice_null(), res = sluice_null();
        int pk_owned = 0, lv_owned = 0, rv_owned = 0, res_owned = 0, found;
        int err = 0, match;
        unsigned char cur[16];
        int64_t lts;
        const void *v;
        size_t vlen;
        sluice_record_t out;

        if (rec->key.type == SLUICE_VALUE_NULL ||
            (rec->value.type != SLUICE_VALUE_BYTES &&
             rec->value.type != SLUICE_VALUE_STRING))
                return sl_fail(task, node, SLUICE_ERR_SERDE, "%s",
                               "malformed subscription response");
        p    = rec->value.u.bytes.data;
        len  = rec->value.u.bytes.len;
        need = len && !(p[0] & 0x80) ? 17 : 1;
        if (len < need)
                return sl_fail(task, node, SLUICE_ERR_SERDE, "%s",
                               "malformed subscription response");
        hash  = need == 17 ? p + 1 : NULL;
        rvb   = (p[0] & 0x40) ? p + need : NULL;
        rvlen = len - need;
        if ((err = sl_op_decode(task, node, F->pk_serde,
                                rec->key.u.bytes.data, rec->key.u.bytes.len,
                                &pk, &pk_owned)))
                return err;
        if ((found = sl_table_lookup(task, F->left, rec->key.u.bytes.data,
                                     rec->key.u.bytes.len, &pk,
                                     SLUICE_TS_LATEST, &lv, &lv_owned,
                                     &lts)) < 0) {
                err = found;
                goto out;
        }
        if (found) {
                if ((err = sl_op_value_bytes(task, node, &lv, F->lv_serde,
                                             &task->vbuf, &v, &vlen)))
                        goto out;
                fk_hash(v, vlen, cur);
        }
        /* a response to an older left value is stale (Kafka Streams
         * compares the hashes; none on both sides is a match) */
        match = found ? hash && !memcmp(hash, cur, 16) : !hash;
        if (!match)
                goto out;
        if (!rvb && (F->kind != JN_LEFT || !found)) {
                res = sluice_null(); /* a tombstone */
        } else {
                if (rvb && (err = sl_op_decode(task, node, F->rv_serde, rvb,
                                               rvlen, &rv, &rv_owned)))
                        goto out;
                {
                        /* call_joiner reads node->priv as a jn_t: only
                         * its joiner field */
                        sluice_value_t r = sluice_null();
                        if (F->joiner(&pk, found ? &lv : NULL,
                                      rvb ? &rv : NULL, &r, node->opaque)) {
                                err = sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                              "%s", "value joiner failed");
                                goto out;
                        }
                        if ((r.type == SLUICE_VALUE_JSON &&
                             ((found && lv.type == SLUICE_VALUE_JSON &&
                               r.u.json == lv.u.json) ||
                              (rvb && rv.type == SLUICE_VALUE_JSON &&
                               r.u.json == rv.u.json)))) {
                                json_incref(r.u.json);
                                res_owned = 1;
                        } else if (r.type == SLUICE_VALUE_OBJECT &&
                                   ((found &&
                                     lv.type == SLUICE_VALUE_OBJECT &&
                                     r.u.obj.ptr == lv.u.obj.ptr) ||
                                    (rvb && rv.type == SLUICE_VALUE_OBJECT &&
                                     r.u.obj.ptr == rv.u.obj.ptr))) {
                                err = sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                              "%s",
                                              "the value joiner returned an "
                                              "input object (objects cannot "
                                              "be shared)");
                                goto out;
                        } else if ((err = sl_value_adopt(task, &r,
                                                         &res_owned))) {
                                err = sl_fail(task, node, err, "%s",
                                              "out of memory");
                                goto out;
                        }
                        res = r;
                }
        }
        out               = *rec;
        out.flags         = SL_REC_HAS_OLD | (pk_owned ? SL_REC_KEY_OWNED : 0u);
        out.key           = pk;
        out.old           = sluice_null();
        out.raw_key       = rec->key.u.bytes.data;
        out.raw_key_len   = rec->key.u.bytes.len;
        out.raw_key_serde = F->pk_serde;
        pk_owned          = 0;
        err = join_emit(task, node, &out, res, res_owned, rec->timestamp);
out:
        sl_op_release_if(&rv, rv_owned);
        sl_op_release_if(&lv, lv_owned);
        sl_op_release_if(&pk, pk_owned);
        return err;
}

static const sl_node_ops_t fk_send_ops    = {.family  = "join",
                                             .process = fk_send_process};
static const sl_node_ops_t fk_receive_ops = {.family  = "join",
                                             .process = fk_receive_process};
static const sl_node_ops_t fk_foreign_ops = {.family  = "join",
                                             .process = fk_foreign_process};
static const sl_node_ops_t fk_resolve_ops = {.family  = "join",
                                             .process = fk_resolve_process};

/* A foreign-key join node of @kind below @parent (NULL: none yet) named
 * "<prefix><number>", sharing @F (freed with the first node: only the
 * send node owns it; the others get a copy). */
static sl_node_t *fk_node(sluice_topology_t *t, sl_node_kind_t kind,
                          const sl_node_ops_t *ops, sl_node_t *parent,
                          const char *prefix, const fk_t *F, void *opaque) {
        sl_node_t *n;
        fk_t *c = malloc(sizeof(*c));
        if (!c) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        *c = *F;
        if (!(n = sl_node_new(t, kind, ops, parent))) {
                free(c);
                return NULL;
        }
        n->priv   = c;
        n->opaque = opaque;
        if (prefix && rename_node(t, n, prefix))
                return NULL;
        return n;
}

/* Name the internal topic's pair whose source is @src as Kafka Streams
 * does: KTABLE-SINK-<n>, KTABLE-SOURCE-<n + 1>, the numbers the pair's
 * nodes took. */
static int fk_pair_names(sluice_topology_t *t, sl_node_t *src) {
        sl_node_t *nodes[2];
        static const char *const prefix[2] = {"KTABLE-SINK-",
                                              "KTABLE-SOURCE-"};
        int i, seq = t->name_seq - 2;
        nodes[0] = src->peer;
        nodes[1] = src;
        for (i = 0; i < 2; i++) {
                char *name = malloc(32);
                if (!name) {
                        sl_topo_error(t, "out of memory");
                        return -1;
                }
                snprintf(name, 32, "%s%010d", prefix[i], seq + i);
                free(nodes[i]->name);
                nodes[i]->name = name;
        }
        return 0;
}

static sluice_table_t *fk_join(sluice_table_t *l, sluice_table_t *r,
                               sluice_fk_extractor_cb *extract,
                               sluice_value_joiner_cb *joiner, void *opaque,
                               const sluice_serde_t *value_serde,
                               jn_kind_t kind, const char *call) {
        sluice_topology_t *t;
        sl_node_t *send, *recv, *foreign, *resolve;
        sluice_stream_t tmp, *sub, *resp;
        fk_t F;
        int ls, rs;
        char topic[128];
        if (!l || !r)
                return NULL;
        t = l->t;
        if (sl_topo_check_open(t, call))
                return NULL;
        if (!extract) {
                sl_topo_error(t, "%s: foreign-key extractor is NULL", call);
                return NULL;
        }
        if (join_args(t, r->t, call, "the tables", joiner) ||
            sl_serde_check(t, call, "value", value_serde) ||
            join_table_stores(t, call, l, r, &ls, &rs))
                return NULL;
        if (!l->key_serde || !l->value_serde || !r->key_serde ||
            !r->value_serde) {
                sl_topo_error(t, "%s: the serdes of both tables' keys and "
                                 "values must be known (the join's internal "
                                 "topics carry their bytes)",
                              call);
                return NULL;
        }
        memset(&F, 0, sizeof(F));
        F.kind      = kind;
        F.extract   = extract;
        F.joiner    = joiner;
        F.left      = l->node;
        F.right     = r->node;
        F.pk_serde  = t->stores[ls]->key_serde ? t->stores[ls]->key_serde
                                               : l->key_serde;
        F.lv_serde  = l->value_serde;
        F.fk_serde  = t->stores[rs]->key_serde ? t->stores[rs]->key_serde
                                               : r->key_serde;
        F.rv_serde  = r->value_serde;
        F.sub_store = -1;

        /* Kafka Streams' names and numbers (StreamsBuilder's describe of
         * KTableImpl.doJoinOnForeignKey): the registration topic's
         * number, the send node, its sink and the source, the store, the
         * two right-side processors (one node here), the foreign-table
         * processor, the response topic's number, its sink and source,
         * the resolver, the output node and its store (none here) */
        snprintf(topic, sizeof(topic),
                 "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-%010d-topic",
                 t->name_seq++);
        if (!(send = fk_node(t, SL_NODE_FK_SEND, &fk_send_ops, l->node,
                             NULL, &F, opaque)))
                return NULL;
        memset(&tmp, 0, sizeof(tmp));
        tmp.t           = t;
        tmp.node        = send;
        tmp.key_serde   = sluice_serde_bytes();
        tmp.value_serde = sluice_serde_bytes();
        if (!(sub = sl_internal_topic(&tmp, call, topic, send->name, 0, 0)) ||
            fk_pair_names(t, sub->node))
                return NULL;
        if ((F.sub_store = sl_store_new(
                 t, call, NULL, "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-",
                 sluice_serde_bytes(), sluice_serde_bytes(), NULL)) < 0)
                return NULL;
        /* the right side: subscriptions in, responses out */
        if (!(recv = fk_node(t, SL_NODE_FK_JOIN, &fk_receive_ops, sub->node,
                             NULL, &F, opaque)) ||
            connect_store(t, recv, F.sub_store) ||
            connect_store(t, recv, rs))
                return NULL;
        recv->copartition = 1;
        t->name_seq++; /* SubscriptionJoinProcessorSupplier's node */
        if (!(foreign = fk_node(t, SL_NODE_FK_JOIN, &fk_foreign_ops, r->node,
                                NULL, &F, opaque)) ||
            connect_store(t, foreign, F.sub_store))
                return NULL;
        snprintf(topic, sizeof(topic),
                 "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-%010d-topic",
                 t->name_seq++);
        tmp.node = recv;
        if (!(resp = sl_internal_topic(&tmp, call, topic, topic, 0, 0)) ||
            fk_pair_names(t, resp->node))
                return NULL;
        if (sl_node_link(foreign, resp->node->peer)) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        /* the left side: responses in, the result out */
        if (!(resolve = fk_node(
                  t, SL_NODE_FK_JOIN, &fk_resolve_ops, resp->node,
                  "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-",
                  &F, opaque)) ||
            connect_store(t, resolve, ls))
                return NULL;
        t->name_seq += 2; /* KTABLE-FK-JOIN-OUTPUT and its store name */
        resolve->copartition = 1;
        resolve->key_serde   = l->key_serde;
        resolve->value_serde = value_serde;
        return sl_table_new(t, resolve, l->key_serde, value_serde, -1);
}

sluice_table_t *sluice_table_fk_join(sluice_table_t *left,
                                     sluice_table_t *right,
                                     sluice_fk_extractor_cb *fk_extractor,
                                     sluice_value_joiner_cb *joiner,
                                     void *opaque,
                                     const sluice_serde_t *value_serde) {
        return fk_join(left, right, fk_extractor, joiner, opaque, value_serde,
                       JN_INNER, "sluice_table_fk_join");
}

sluice_table_t *sluice_table_fk_left_join(sluice_table_t *left,
                                          sluice_table_t *right,
                                          sluice_fk_extractor_cb *fk_extractor,
                                          sluice_value_joiner_cb *joiner,
                                          void *opaque,
                                          const sluice_serde_t *value_serde) {
        return fk_join(left, right, fk_extractor, joiner, opaque, value_serde,
                       JN_LEFT, "sluice_table_fk_left_join");
}
