/*
 * task.c - records and their journey through a task's nodes, the task's
 * own nodes (sources, sinks), and its life: stores opened, nodes readied,
 * punctuated and closed through their ops tables, caches flushed at
 * commit, checkpoints. No operator is known here by name.
 *
 * A record is a struct on the C stack, never allocated. Keys and values are
 * decoded once at the source; strings live in the task's arena, which is
 * rewound after each input record. A node hands its record to its children
 * depth-first: the last child gets the record itself, the others a shallow
 * copy that owns nothing (a child that edits a shared JSON value gets a deep
 * copy, see sluice_record_json_edit()).
 */
#include "task.h"
#include "conf.h"
#include "state.h"

#include <stdio.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- record accessors ---- */

const sluice_value_t *sluice_record_key(const sluice_record_t *rec) {
        return &rec->key;
}
const sluice_value_t *sluice_record_value(const sluice_record_t *rec) {
        return &rec->value;
}
int64_t sluice_record_timestamp(const sluice_record_t *rec) {
        return rec->timestamp;
}
const char *sluice_record_topic(const sluice_record_t *rec) {
        return rec->topic;
}
int32_t sluice_record_partition(const sluice_record_t *rec) {
        return rec->partition;
}
int64_t sluice_record_offset(const sluice_record_t *rec) {
        return rec->offset;
}
size_t sluice_record_header_count(const sluice_record_t *rec) {
        return rec->header_cnt;
}
const sluice_header_t *sluice_record_header(const sluice_record_t *rec,
                                            size_t idx) {
        return idx < rec->header_cnt ? &rec->headers[idx] : NULL;
}
const sluice_header_t *sluice_record_header_last(const sluice_record_t *rec,
                                                 const char *name) {
        size_t i = rec->header_cnt;
        while (i-- > 0)
                if (!strcmp(rec->headers[i].name, name))
                        return &rec->headers[i];
        return NULL;
}

void sl_value_release(sluice_value_t *v) {
        if (v->type == SLUICE_VALUE_JSON)
                json_decref(v->u.json);
        else if (v->type == SLUICE_VALUE_OBJECT && v->u.obj.free_fn)
                v->u.obj.free_fn(v->u.obj.ptr);
        v->type = SLUICE_VALUE_NULL;
}

void sl_record_release(sluice_record_t *rec) {
        if (rec->flags & SL_REC_KEY_OWNED)
                sl_value_release(&rec->key);
        if (rec->flags & SL_REC_VALUE_OWNED)
                sl_value_release(&rec->value);
        if (rec->flags & SL_REC_OLD_OWNED)
                sl_value_release(&rec->old);
        rec->flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                        SL_REC_OLD_OWNED);
}

/* Make @v the record's own: copy bytes/strings into the arena (strings get a
 * NUL), take JSON/objects over. Sets *owned. */
int sl_value_adopt(sl_task_t *task, sluice_value_t *v, int *owned) {
        *owned = 0;
        if (v->type == SLUICE_VALUE_BYTES || v->type == SLUICE_VALUE_STRING) {
                size_t n = v->u.bytes.len;
                char *p  = sl_arena_alloc(&task->arena, n + 1);
                if (!p)
                        return SLUICE_ERR_NOMEM;
                if (n)
                        memcpy(p, v->u.bytes.data, n);
                p[n]           = '\0';
                v->u.bytes.data = p;
        } else if (v->type == SLUICE_VALUE_JSON ||
                   v->type == SLUICE_VALUE_OBJECT) {
                *owned = 1;
        }
        return 0;
}

/* Is @v the very JSON value / object @cur already holds? */
static int same_ref(const sluice_value_t *v, const sluice_value_t *cur) {
        return (v->type == SLUICE_VALUE_JSON && cur->type == SLUICE_VALUE_JSON &&
                v->u.json == cur->u.json) ||
               (v->type == SLUICE_VALUE_OBJECT &&
                cur->type == SLUICE_VALUE_OBJECT &&
                v->u.obj.ptr == cur->u.obj.ptr);
}

int sluice_record_window(const sluice_record_t *rec, int64_t *start,
                         int64_t *end) {
        if (!rec || !(rec->flags & SL_REC_WINDOWED))
                return 0;
        if (start)
                *start = rec->win_start;
        if (end)
                *end = rec->win_end;
        return 1;
}

int sl_window_key_append(sluice_buf_t *buf, const void *k, size_t klen,
                         const sluice_record_t *rec) {
        unsigned char *p;
        size_t extra = (rec->flags & SL_REC_WIN_SESSION) ? 16 : 8;
        if ((const unsigned char *)k == buf->data) {
                /* serialized into buf already: append */
                if (sluice_buf_reserve(buf, extra))
                        return SLUICE_ERR_NOMEM;
        } else {
                buf->len = 0;
                if (sluice_buf_reserve(buf, klen + extra))
                        return SLUICE_ERR_NOMEM;
                if (klen)
                        memcpy(buf->data, k, klen);
                buf->len = klen;
        }
        p = buf->data + buf->len;
        if (rec->flags & SL_REC_WIN_SESSION) {
                sl_put_be64(p, (uint64_t)rec->win_end);
                sl_put_be64(p + 8, (uint64_t)rec->win_start);
        } else {
                sl_put_be64(p, (uint64_t)rec->win_start);
        }
        buf->len += extra;
        return 0;
}

int sluice_record_set_key(sluice_record_t *rec, sluice_value_t key) {
        int owned, err;
        if (same_ref(&key, &rec->key)) { /* handed back: nothing changes */
                rec->flags |= SL_REC_KEY_SET;
                rec->raw_key_serde = NULL;
                return 0;
        }
        if ((err = sl_value_adopt(rec->task, &key, &owned)))
                return err;
        if (rec->flags & SL_REC_KEY_OWNED)
                sl_value_release(&rec->key);
        rec->key = key;
        /* a new key is not windowed (Kafka Streams: a K, not a Windowed<K>) */
        rec->flags =
            (rec->flags & ~(SL_REC_KEY_OWNED | SL_REC_WINDOWED)) |
            SL_REC_KEY_SET | (owned ? SL_REC_KEY_OWNED : 0u);
        rec->raw_key_serde = NULL;
        return 0;
}

int sluice_record_set_value(sluice_record_t *rec, sluice_value_t value) {
        int owned, err;
        if (same_ref(&value, &rec->value)) {
                rec->flags |= SL_REC_VALUE_SET;
                rec->raw_value_serde = NULL;
                return 0;
        }
        if ((err = sl_value_adopt(rec->task, &value, &owned)))
                return err;
        if (rec->flags & SL_REC_VALUE_OWNED)
                sl_value_release(&rec->value);
        rec->value = value;
        rec->flags =
            (rec->flags & ~SL_REC_VALUE_OWNED) | SL_REC_VALUE_SET |
            (owned ? SL_REC_VALUE_OWNED : 0u);
        rec->raw_value_serde = NULL;
        return 0;
}

json_t *sluice_record_json_edit(sluice_record_t *rec) {
        json_t *j;
        if (rec->value.type != SLUICE_VALUE_JSON || !rec->value.u.json)
                return NULL;
        j = rec->value.u.json;
        if (!(rec->flags & SL_REC_VALUE_OWNED) || j->refcount > 1) {
                /* shared (a sibling branch, another record, a reference the
                 * user kept): copy on write */
                json_t *copy = json_deep_copy(j);
                if (!copy)
                        return NULL;
                if (rec->flags & SL_REC_VALUE_OWNED)
                        json_decref(j);
                rec->value.u.json = copy;
                rec->flags |= SL_REC_VALUE_OWNED;
        }
        rec->flags |= SL_REC_VALUE_SET;
        rec->raw_value_serde = NULL;
        return rec->value.u.json;
}

void sluice_record_set_timestamp(sluice_record_t *rec, int64_t ts) {
        rec->timestamp = ts;
}

/* Give the record a private, writable headers array with room for @extra. */
static sluice_header_t *headers_private(sluice_record_t *rec, size_t extra) {
        sluice_header_t *h = sl_arena_alloc(
            &rec->task->arena, (rec->header_cnt + extra) * sizeof(*h) + 1);
        if (!h)
                return NULL;
        if (rec->header_cnt)
                memcpy(h, rec->headers, rec->header_cnt * sizeof(*h));
        rec->headers = h;
        rec->flags |= SL_REC_HDRS_PRIVATE;
        return h;
}

int sluice_record_header_add(sluice_record_t *rec, const char *name,
                             const void *value, size_t len) {
        sluice_header_t *h;
        size_t nlen = strlen(name);
        char *n     = sl_arena_alloc(&rec->task->arena, nlen + 1);
        void *v     = NULL;
        if (!n)
                return SLUICE_ERR_NOMEM;
        memcpy(n, name, nlen + 1);
        if (value) {
                v = sl_arena_alloc(&rec->task->arena, len ? len : 1);
                if (!v)
                        return SLUICE_ERR_NOMEM;
                if (len)
                        memcpy(v, value, len);
        }
        /* always copy: arena arrays cannot grow in place */
        h = headers_private(rec, 1);
        if (!h)
                return SLUICE_ERR_NOMEM;
        h[rec->header_cnt].name  = n;
        h[rec->header_cnt].value = v;
        h[rec->header_cnt].len   = value ? len : 0;
        rec->header_cnt++;
        return 0;
}

size_t sluice_record_header_remove(sluice_record_t *rec, const char *name) {
        size_t i, j = 0, removed = 0;
        sluice_header_t *h;
        for (i = 0; i < rec->header_cnt; i++)
                if (!strcmp(rec->headers[i].name, name))
                        removed++;
        if (!removed)
                return 0;
        if (!(rec->flags & SL_REC_HDRS_PRIVATE)) {
                if (!headers_private(rec, 0))
                        return 0;
        }
        h = (sluice_header_t *)rec->headers;
        for (i = 0; i < rec->header_cnt; i++)
                if (strcmp(h[i].name, name))
                        h[j++] = h[i];
        rec->header_cnt = j;
        return removed;
}

/* ---- processing ---- */

int sl_fail(sl_task_t *task, const sl_node_t *node, int err,
                const char *fmt, const char *arg) {
        char msg[SL_ERRSTR_SIZE];
        sl_errstr(msg, sizeof(msg), fmt, arg);
        sl_errstr(task->errstr, sizeof(task->errstr), "node \"%s\": %s",
                  node->name, msg);
        return err;
}

int sl_forward_many(sl_task_t *task, const sl_node_t *node,
                    sluice_record_t *rec) {
        size_t i, n = node->child_cnt;
        for (i = 0; i + 1 < n; i++) {
                sluice_record_t copy = *rec;
                int err;
                copy.flags &= ~(SL_REC_KEY_OWNED | SL_REC_VALUE_OWNED |
                                SL_REC_OLD_OWNED | SL_REC_HDRS_PRIVATE);
                err = sl_process(task, node->children[i], &copy);
                sl_record_release(&copy);
                if (err)
                        return err;
        }
        if (n)
                return sl_process(task, node->children[n - 1], rec);
        return 0;
}

/* A value emitted from the input record itself is shared, not taken over:
 * take a reference of our own (objects cannot be shared: refuse). */
static int emit_share(const sluice_record_t *in, sluice_value_t *v) {
        if (v->type == SLUICE_VALUE_JSON &&
            ((in->key.type == SLUICE_VALUE_JSON && in->key.u.json == v->u.json) ||
             (in->value.type == SLUICE_VALUE_JSON &&
              in->value.u.json == v->u.json)))
                json_incref(v->u.json);
        else if (v->type == SLUICE_VALUE_OBJECT &&
                 ((in->key.type == SLUICE_VALUE_OBJECT &&
                   in->key.u.obj.ptr == v->u.obj.ptr) ||
                  (in->value.type == SLUICE_VALUE_OBJECT &&
                   in->value.u.obj.ptr == v->u.obj.ptr)))
                return -1;
        return 0;
}

static int emit(sluice_emitter_t *out, const sluice_value_t *key,
                sluice_value_t value) {
        const sluice_record_t *in = out->in;
        sluice_record_t rec;
        int err, owned;
        sluice_value_t k;

        int kbad = 0, vbad;

        if (key) {
                k    = *key;
                kbad = emit_share(in, &k);
        }
        vbad = emit_share(in, &value);
        if (out->err || kbad || vbad) {
                /* refuse, releasing what was handed over */
                if (key && !kbad)
                        sl_value_release(&k);
                if (!vbad)
                        sl_value_release(&value);
                if (!out->err)
                        out->err = sl_fail(out->task, out->node,
                                        SLUICE_ERR_CALLBACK, "%s",
                                        "the input's object key or value "
                                        "cannot be emitted (objects cannot "
                                        "be shared)");
                return out->err;
        }

        /* A fresh record: the input's metadata, no raw bytes unless the key
         * is the input's own. */
        rec                 = *in;
        rec.flags           = key ? 0u : in->flags & SL_REC_WINDOWED;
        rec.raw_value_serde = NULL;
        if (out->has_ts)
                rec.timestamp = out->ts;
        if (key) {
                rec.raw_key_serde = NULL;
                if ((err = sl_value_adopt(out->task, &k, &owned))) {
                        sl_value_release(&value);
                        return out->err = err;
                }
                rec.key = k;
                if (owned)
                        rec.flags |= SL_REC_KEY_OWNED;
        }
        if ((err = sl_value_adopt(out->task, &value, &owned))) {
                sl_record_release(&rec);
                return out->err = err;
        }
        rec.value = value;
        if (owned)
                rec.flags |= SL_REC_VALUE_OWNED;
        err = sl_forward(out->task, out->node, &rec);
        sl_record_release(&rec);
        return out->err = err;
}

int sluice_emit(sluice_emitter_t *out, sluice_value_t key,
                sluice_value_t value) {
        if (out->values_only && !out->err)
                out->err = sl_fail(out->task, out->node, SLUICE_ERR_CALLBACK,
                                "%s: flat_map_values may not change the key "
                                "(use sluice_emit_value)",
                                "sluice_emit");
        return emit(out, &key, value);
}

int sluice_emit_value(sluice_emitter_t *out, sluice_value_t value) {
        return emit(out, NULL, value);
}

int sl_emit_from(sl_task_t *task, const sl_node_t *node,
                 const sluice_record_t *in, sluice_value_t key,
                 sluice_value_t value, int64_t timestamp) {
        sluice_record_t base;
        sluice_emitter_t out = {task, node, in, 0, 0, 1, timestamp};
        if (!in) { /* from a punctuation: no input record */
                memset(&base, 0, sizeof(base));
                base.key.type   = SLUICE_VALUE_NULL;
                base.value.type = SLUICE_VALUE_NULL;
                base.partition  = task->partition;
                base.offset     = -1;
                base.task       = task;
                out.in          = &base;
        }
        return emit(&out, &key, value);
}

/* ---- the task's own nodes: sources and sinks ---- */

/* A source's records enter at sl_task_process(); as a node it hands them
 * on. */
static int source_process(sl_task_t *task, const sl_node_t *node,
                          sluice_record_t *rec) {
        return sl_forward(task, node, rec);
}

/* A sink serializes the record (or reuses its raw bytes) and writes it. */
static int sink_process(sl_task_t *task, const sl_node_t *node,
                        sluice_record_t *rec) {
        const char *topic = node->topic;
        const void *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        int32_t partition = -1;
        char why[SL_ERRSTR_SIZE];

        if (!topic) {
                topic = node->topic_cb(rec, node->topic_opaque);
                if (!topic)
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                    "%s",
                                    "topic callback returned NULL");
        }
        if (rec->key.type != SLUICE_VALUE_NULL) {
                if (rec->raw_key_serde == node->key_serde) {
                        k    = rec->raw_key;
                        klen = rec->raw_key_len;
                } else {
                        task->kbuf.len = 0;
                        if (node->key_serde->serialize(
                                node->key_serde, &rec->key,
                                &task->kbuf, &k, &klen, why,
                                sizeof(why)))
                                return sl_fail(task, node,
                                            SLUICE_ERR_SERDE,
                                            "key: %s", why);
                }
        }
        if (rec->value.type != SLUICE_VALUE_NULL) {
                if (rec->raw_value_serde == node->value_serde) {
                        v    = rec->raw_value;
                        vlen = rec->raw_value_len;
                } else {
                        task->vbuf.len = 0;
                        if (node->value_serde->serialize(
                                node->value_serde, &rec->value,
                                &task->vbuf, &v, &vlen, why,
                                sizeof(why)))
                                return sl_fail(task, node,
                                            SLUICE_ERR_SERDE,
                                            "value: %s", why);
                }
                /* serializers may return NULL for empty output */
                if (!v)
                        v = "";
        }
        if (k == NULL && rec->key.type != SLUICE_VALUE_NULL)
                k = "";
        if (k && (rec->flags & SL_REC_WINDOWED)) {
                /* Kafka Streams' windowed serdes: key, then the start
                 * (time windows) or the end and the start (sessions) */
                int err = sl_window_key_append(&task->kbuf, k, klen, rec);
                if (err)
                        return sl_fail(task, node, err, "%s",
                                       "out of memory");
                k    = task->kbuf.data;
                klen = task->kbuf.len;
        }
        if (node->change) {
                /* Change(new, old) on an internal topic */
                const void *o = NULL;
                size_t olen = 0;
                sl_change_t c;
                int cerr;
                if ((rec->flags & SL_REC_HAS_OLD) &&
                    rec->old.type != SLUICE_VALUE_NULL) {
                        if (sl_encode(node->value_serde, &rec->old,
                                      &task->obuf, &o, &olen, why,
                                      sizeof(why)))
                                return sl_fail(task, node,
                                               SLUICE_ERR_SERDE,
                                               "old value: %s", why);
                        if (!o)
                                o = "";
                }
                c.new_v   = v;
                c.new_len = vlen;
                c.old_v   = o;
                c.old_len = olen;
                if ((cerr = sl_change_encode(&c, &task->cbuf)))
                        return sl_fail(task, node, cerr, "%s",
                                       cerr == SLUICE_ERR_NOMEM
                                           ? "out of memory"
                                           : "value too long for a "
                                             "change record");
                v    = task->cbuf.data;
                vlen = task->cbuf.len;
        }
        if (node->part_cb) {
                int32_t cnt = task->partition_cnt(task->io_opaque,
                                                  topic);
                partition   = node->part_cb(rec, k, klen, cnt,
                                            node->part_opaque);
                if (partition < -1 || partition >= cnt) {
                        char num[64];
                        sl_errstr(num, sizeof(num),
                                  "%d of %d partitions",
                                  (int)partition, (int)cnt);
                        return sl_fail(task, node, SLUICE_ERR_CALLBACK,
                                    "partitioner returned partition "
                                    "%s",
                                    num);
                }
        }
        {
                int werr = task->write(task->io_opaque, node, topic,
                                       partition, k, klen, v, vlen,
                                       rec->timestamp, rec->headers,
                                       rec->header_cnt, why,
                                       sizeof(why));
                if (werr)
                        return sl_fail(task, node,
                                    werr < 0 && werr != -1
                                        ? werr
                                        : SLUICE_ERR_STATE,
                                    "%s", why);
        }
        task->produced++;
        return 0;
}

const sl_node_ops_t sl_source_ops = {.family  = "source",
                                     .process = source_process};
const sl_node_ops_t sl_sink_ops   = {.family = "sink", .process = sink_process};

int sl_decode(sl_task_t *task, const sluice_serde_t *serde, const void *data,
              size_t len, sluice_value_t *out, int *owned, char *why,
              size_t why_size) {
        *owned = 0;
        if (!data) {
                *out = sluice_null();
                return 0;
        }
        if (serde->deserialize(serde, data, len, out, why, why_size))
                return SLUICE_ERR_SERDE;
        if (out->type == SLUICE_VALUE_STRING ||
            out->type == SLUICE_VALUE_BYTES)
                return sl_value_adopt(task, out, owned); /* outlive data */
        *owned = out->type == SLUICE_VALUE_JSON ||
                 out->type == SLUICE_VALUE_OBJECT;
        return 0;
}

int sl_encode(const sluice_serde_t *serde, const sluice_value_t *v,
              sluice_buf_t *buf, const void **out, size_t *out_len, char *why,
              size_t why_size) {
        buf->len = 0;
        return serde->serialize(serde, v, buf, out, out_len, why, why_size)
                   ? SLUICE_ERR_SERDE
                   : 0;
}

/* ---- the Change(new, old) encoding (see task.h) ---- */

int sl_change_encode(const sl_change_t *c, sluice_buf_t *buf) {
        unsigned char *p;
        size_t need;
        buf->len = 0;
        if (c->new_len > UINT32_MAX)
                return SLUICE_ERR_SERDE;
        if (c->old_len > SIZE_MAX - 5 - c->new_len)
                return SLUICE_ERR_NOMEM;
        need = 5 + c->new_len + c->old_len;
        if (sluice_buf_reserve(buf, need))
                return SLUICE_ERR_NOMEM;
        p    = buf->data;
        p[0] = (unsigned char)((c->new_v ? 1 : 0) | (c->old_v ? 2 : 0));
        p[1] = (unsigned char)(c->new_len >> 24);
        p[2] = (unsigned char)(c->new_len >> 16);
        p[3] = (unsigned char)(c->new_len >> 8);
        p[4] = (unsigned char)c->new_len;
        if (c->new_len)
                memcpy(p + 5, c->new_v, c->new_len);
        if (c->old_len)
                memcpy(p + 5 + c->new_len, c->old_v, c->old_len);
        buf->len = need;
        return 0;
}

int sl_change_decode(const void *data, size_t len, sl_change_t *out) {
        const unsigned char *p = data;
        size_t nlen;
        if (!p || len < 5)
                return -1;
        nlen = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 |
               p[4];
        if (nlen > len - 5)
                return -1;
        out->new_v   = (p[0] & 1) ? p + 5 : NULL;
        out->new_len = (p[0] & 1) ? nlen : 0;
        out->old_v   = (p[0] & 2) ? p + 5 + nlen : NULL;
        out->old_len = (p[0] & 2) ? len - 5 - nlen : 0;
        return 0;
}

/* ---- task ---- */

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
        /* the nodes with per-task work (processors' contexts); their
         * ready (init) runs once the stores are restored */
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n     = t->nodes[i];
                const sl_node_ops_t *o = n->ops;
                int err;
                if (n->subtopology != task->subtopology ||
                    (!o->open && !o->ready && !o->punctuate && !o->close &&
                     !o->commit && !o->metrics))
                        continue;
                if (!task->hooked &&
                    (!(task->hooked = calloc(t->node_cnt,
                                             sizeof(*task->hooked))) ||
                     !(task->node_state = calloc(t->node_cnt,
                                                 sizeof(void *)))))
                        goto oom;
                task->hooked[task->hooked_cnt++] = n;
                if (o->open && (err = o->open(task, n, errstr, errstr_size)))
                        return err;
        }
        return 0;
oom:
        sl_errstr(errstr, errstr_size, "out of memory");
        return SLUICE_ERR_NOMEM;
}

int sl_task_ready(sl_task_t *task, char *errstr, size_t errstr_size) {
        size_t i;
        if (task->ready)
                return 0;
        task->ready = 1;
        for (i = 0; i < task->hooked_cnt; i++) {
                const sl_node_t *n = task->hooked[i];
                int err;
                if (n->ops->ready &&
                    (err = n->ops->ready(task, n, errstr, errstr_size)))
                        return err;
        }
        return 0;
}

void sl_task_state_free(sl_task_t *task) {
        size_t i;
        for (i = 0; i < task->hooked_cnt; i++)
                if (task->hooked[i]->ops->close)
                        task->hooked[i]->ops->close(task, task->hooked[i]);
        free(task->hooked);
        free(task->node_state);
        task->hooked     = NULL;
        task->node_state = NULL;
        task->hooked_cnt = 0;
        for (i = 0; i < task->kv_cnt; i++)
                sl_kv_close(task->kvs[i]);
        free(task->kvs);
        task->kvs       = NULL;
        task->kv_cnt    = 0;
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
        /* the nodes' own commit work (a window store's expiry), on clean
         * caches */
        for (i = 0; i < task->hooked_cnt && !err; i++)
                if (task->hooked[i]->ops->commit)
                        err = task->hooked[i]->ops->commit(task,
                                                           task->hooked[i]);
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

int sl_task_metrics_operators(const sl_task_t *task, json_t *obj) {
        size_t i;
        if (!obj)
                return -1;
        for (i = 0; i < task->hooked_cnt; i++)
                if (task->hooked[i]->ops->metrics)
                        task->hooked[i]->ops->metrics(task, task->hooked[i],
                                                      obj);
        return 0;
}

sluice_kv_t *sl_task_kv(const sl_task_t *task, const char *store) {
        size_t i;
        for (i = 0; i < task->kv_cnt; i++)
                if (task->kvs[i] && !strcmp(task->kvs[i]->def->name, store))
                        return task->kvs[i];
        return NULL;
}

/* Run the punctuations of @type due at @now, node by node. */
static int punctuate(sl_task_t *task, sluice_punctuation_t type,
                     int64_t now) {
        size_t i;
        for (i = 0; i < task->hooked_cnt; i++) {
                const sl_node_t *n = task->hooked[i];
                int err;
                if (n->ops->punctuate &&
                    (err = n->ops->punctuate(task, n, type, now)))
                        return err;
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


void sl_task_init(sl_task_t *task, const sluice_topology_t *t,
                  const sluice_conf_t *conf, int subtopology,
                  int32_t partition, sl_write_fn *write,
                  sl_partition_cnt_fn *partition_cnt, void *io_opaque) {
        memset(task, 0, sizeof(*task));
        task->t             = t;
        task->conf          = conf;
        task->subtopology   = subtopology;
        task->partition     = partition;
        task->write         = write;
        task->partition_cnt = partition_cnt;
        task->io_opaque     = io_opaque;
        task->stream_time   = -1;
        task->ts_policy     = conf ? conf->ts_extractor : SL_TS_FAIL;
        sl_arena_init(&task->arena);
}

void sl_task_destroy(sl_task_t *task) {
        sl_task_state_free(task);
        sl_ts_free(task);
        sl_arena_free(&task->arena);
        free(task->obuf.data);
        free(task->cbuf.data);
        free(task->kbuf.data);
        free(task->vbuf.data);
        task->kbuf.data = task->vbuf.data = NULL;
}

/* Decode one side of an input record. */
static int decode(sl_task_t *task, const sl_node_t *source,
                  const sluice_serde_t *serde, const char *what,
                  const void *data, size_t len, sluice_value_t *out,
                  int *owned) {
        char why[SL_ERRSTR_SIZE];
        *owned = 0;
        if (!data) {
                *out = sluice_null();
                return 0;
        }
        if (serde->deserialize(serde, data, len, out, why, sizeof(why))) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "node \"%s\": cannot deserialize %s: %s",
                          source->name, what, why);
                return SLUICE_ERR_SERDE;
        }
        if (out->type == SLUICE_VALUE_STRING)
                return sl_value_adopt(task, out, owned); /* add the NUL */
        *owned = out->type == SLUICE_VALUE_JSON ||
                 out->type == SLUICE_VALUE_OBJECT;
        return 0;
}

int sl_task_conf_check(const sluice_conf_t *conf, char *errstr,
                       size_t errstr_size) {
        if (conf && conf->deser_handler == SL_DESER_DLQ && !conf->dlq_topic) {
                sl_errstr(errstr, errstr_size,
                          "default.deserialization.exception.handler="
                          "dead_letter needs "
                          "errors.deadletterqueue.topic.name");
                return -1;
        }
        if (conf && conf->proc_handler == SL_DESER_DLQ && !conf->dlq_topic) {
                sl_errstr(errstr, errstr_size,
                          "processing.exception.handler=dead_letter needs "
                          "errors.deadletterqueue.topic.name");
                return -1;
        }
        return 0;
}

/* Dead-letter and skip logs: at most this many lines per task a second,
 * then one line saying how many were not logged. */
#define SL_BAD_LOG_PER_SEC 10

void sl_bad_record_log(sl_task_t *task, const char *what, const char *topic,
                       int32_t partition, int64_t offset) {
        int64_t now = sl_now_ms();
        if (now - task->bad_log_ms >= 1000) {
                if (task->bad_unlogged)
                        sl_log(task->conf, SLUICE_LOG_WARNING, "RECORD",
                               "%llu more bad record(s) not logged in the "
                               "last second (see the metrics)",
                               (unsigned long long)task->bad_unlogged);
                task->bad_log_ms   = now;
                task->bad_logged   = 0;
                task->bad_unlogged = 0;
        }
        if (task->bad_logged >= SL_BAD_LOG_PER_SEC) {
                task->bad_unlogged++;
                return;
        }
        task->bad_logged++;
        sl_log(task->conf, SLUICE_LOG_WARNING, "RECORD",
               "%s record at topic \"%s\" partition %d offset %lld: %s",
               what, topic, (int)partition, (long long)offset, task->errstr);
}

/* Write the record as it came to the dead-letter topic, the reason in
 * headers (Kafka Streams' names). A record larger than the producer can
 * send (task->dlq_max) goes as a truncated copy with a header saying so,
 * rather than fail the app at every start (a poison pill). */
static int dead_letter(sl_task_t *task, const sl_node_t *source,
                       const char *topic, int32_t partition, int64_t offset,
                       const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t timestamp,
                       const sluice_header_t *headers, size_t header_cnt) {
        const sluice_conf_t *conf = task->conf;
        char pbuf[16], obuf[24], tbuf[128], why[SL_ERRSTR_SIZE];
        size_t hn = header_cnt + 4, i, size = key_len + value_len;
        sluice_header_t *h =
            sl_arena_alloc(&task->arena, (header_cnt + 5) * sizeof(*h));
        if (!h)
                return SLUICE_ERR_NOMEM;
        if (header_cnt)
                memcpy(h, headers, header_cnt * sizeof(*h));
        snprintf(pbuf, sizeof(pbuf), "%d", (int)partition);
        snprintf(obuf, sizeof(obuf), "%lld", (long long)offset);
        h[header_cnt].name      = "__streams.errors.message";
        h[header_cnt].value     = task->errstr;
        h[header_cnt].len       = strlen(task->errstr);
        h[header_cnt + 1].name  = "__streams.errors.topic";
        h[header_cnt + 1].value = topic;
        h[header_cnt + 1].len   = strlen(topic);
        h[header_cnt + 2].name  = "__streams.errors.partition";
        h[header_cnt + 2].value = pbuf;
        h[header_cnt + 2].len   = strlen(pbuf);
        h[header_cnt + 3].name  = "__streams.errors.offset";
        h[header_cnt + 3].value = obuf;
        h[header_cnt + 3].len   = strlen(obuf);
        for (i = 0; i < hn; i++)
                size += strlen(h[i].name) + h[i].len + 16;
        if (task->dlq_max && size + 512 > task->dlq_max) {
                /* room for the record's overhead and the header below */
                size_t room = task->dlq_max > size - key_len - value_len + 1024
                                  ? task->dlq_max -
                                        (size - key_len - value_len) - 1024
                                  : 0;
                size_t klen = key_len < room / 2 ? key_len : room / 2;
                size_t vlen = value_len < room - klen ? value_len : room - klen;
                snprintf(tbuf, sizeof(tbuf),
                         "key %zu of %zu bytes, value %zu of %zu bytes",
                         klen, key_len, vlen, value_len);
                h[hn].name  = "__sluice.errors.truncated";
                h[hn].value = tbuf;
                h[hn].len   = strlen(tbuf);
                hn++;
                sl_log(conf, SLUICE_LOG_WARNING, "RECORD",
                       "record at topic \"%s\" partition %d offset %lld is "
                       "too large for the dead-letter topic \"%s\" (the "
                       "producer sends at most %zu bytes): writing a "
                       "truncated copy (%s)",
                       topic, (int)partition, (long long)offset,
                       conf->dlq_topic, task->dlq_max, tbuf);
                key_len   = klen;
                value_len = vlen;
                if (!room) {
                        /* its headers alone exceed the limit: skipped and
                         * counted, rather than fail at every start */
                        sl_log(conf, SLUICE_LOG_ERR, "RECORD",
                               "record at topic \"%s\" partition %d offset "
                               "%lld: not even its headers fit the "
                               "dead-letter topic \"%s\": skipped",
                               topic, (int)partition, (long long)offset,
                               conf->dlq_topic);
                        task->skipped_processing++;
                        return 0;
                }
        }
        if (task->write(task->io_opaque, source, conf->dlq_topic, -1, key,
                        key_len, value, value_len, timestamp, h, hn, why,
                        sizeof(why))) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "node \"%s\": cannot write to the dead-letter "
                          "topic \"%s\": %s",
                          source->name, conf->dlq_topic, why);
                return SLUICE_ERR_STATE;
        }
        task->dead_lettered++;
        return 0;
}

/* A record that could not be decoded (@handler: the deserialization one)
 * or processed (the processing one): log and fail, log and skip, or
 * dead-letter. 0 if the record is done with, else the error. */
static int record_failed(sl_task_t *task, int handler, int err,
                         const char *what, const sl_node_t *source,
                         const char *topic, int32_t partition, int64_t offset,
                         const void *key, size_t key_len, const void *value,
                         size_t value_len, int64_t timestamp,
                         const sluice_header_t *headers, size_t header_cnt) {
        if (handler == SL_DESER_FAIL)
                return err;
        if (handler == SL_DESER_CONTINUE) {
                char msg[64];
                snprintf(msg, sizeof(msg), "skipping %s", what);
                sl_bad_record_log(task, msg, topic, partition, offset);
                if (err == SLUICE_ERR_SERDE)
                        task->skipped++;
                else
                        task->skipped_processing++;
                return 0;
        }
        err = dead_letter(task, source, topic, partition, offset, key, key_len,
                          value, value_len, timestamp, headers, header_cnt);
        if (!err) {
                char msg[64];
                snprintf(msg, sizeof(msg), "dead-lettered %s", what);
                sl_bad_record_log(task, msg, topic, partition, offset);
        }
        return err;
}

int sl_task_process(sl_task_t *task, const sl_node_t *source,
                    const char *topic, int32_t partition, int64_t offset,
                    const void *key, size_t key_len, const void *value,
                    size_t value_len, int64_t timestamp,
                    const sluice_header_t *headers, size_t header_cnt) {
        sluice_record_t rec;
        int err, owned;

        task->consumed++;
        /* the message is this record's: a skipped record's must not stand
         * for a later failure (operators check for one of their own) */
        task->errstr[0]     = '\0';
        rec.flags           = 0;
        rec.timestamp       = timestamp;
        rec.headers         = headers;
        rec.header_cnt      = header_cnt;
        rec.topic           = topic;
        rec.partition       = partition;
        rec.offset          = offset;
        rec.task            = task;
        rec.raw_key         = key;
        rec.raw_key_len     = key_len;
        rec.raw_key_serde   = source->key_serde;
        rec.raw_value       = value;
        rec.raw_value_len   = value_len;
        rec.raw_value_serde = source->value_serde;
        rec.value.type      = SLUICE_VALUE_NULL;
        rec.old.type        = SLUICE_VALUE_NULL;
        {
                /* a windowed key: the record gets its window, the key
                 * bytes are the inner key's */
                unsigned wf;
                if (sl_window_key_read(source->key_serde, key, key_len, &wf,
                                       &rec.win_start, &rec.win_end)) {
                        rec.flags |= wf;
                        rec.raw_key_len -= wf & SL_REC_WIN_SESSION ? 16 : 8;
                        rec.raw_key_serde =
                            ((const sluice_windowed_serde_t *)(const void *)
                                 source->key_serde)
                                ->inner;
                }
        }

        err = decode(task, source, source->key_serde, "key", key, key_len,
                     &rec.key, &owned);
        if (!err && source->change) {
                /* Change(new, old) from a table's group_by (see the sink) */
                sl_change_t c;
                if (owned)
                        rec.flags |= SL_REC_KEY_OWNED;
                if (sl_change_decode(value, value_len, &c)) {
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "node \"%s\": malformed change record",
                                  source->name);
                        err = SLUICE_ERR_SERDE;
                } else {
                        rec.raw_value     = c.new_v;
                        rec.raw_value_len = c.new_len;
                        rec.flags |= SL_REC_HAS_OLD;
                        err = decode(task, source, source->value_serde,
                                     "value", c.new_v, c.new_len, &rec.value,
                                     &owned);
                        if (!err && owned)
                                rec.flags |= SL_REC_VALUE_OWNED;
                        if (!err)
                                err = decode(task, source,
                                             source->value_serde, "old value",
                                             c.old_v, c.old_len, &rec.old,
                                             &owned);
                        if (!err && owned)
                                rec.flags |= SL_REC_OLD_OWNED;
                }
        } else if (!err) {
                if (owned)
                        rec.flags |= SL_REC_KEY_OWNED;
                err = decode(task, source, source->value_serde, "value", value,
                             value_len, &rec.value, &owned);
                if (!err && owned)
                        rec.flags |= SL_REC_VALUE_OWNED;
        }
        if (err == SLUICE_ERR_SERDE) {
                sl_record_release(&rec);
                err = record_failed(task,
                                    task->conf ? task->conf->deser_handler
                                               : SL_DESER_FAIL,
                                    err, "undecodable", source, topic,
                                    partition, offset, key, key_len, value,
                                    value_len, timestamp, headers, header_cnt);
                sl_arena_reset(&task->arena);
                return err;
        }
        /* the record's timestamp: the Kafka one unless an extractor
         * decides, or it is negative (lib/timestamp.c); a dropped record
         * is done with (its offset counts), moving no time */
        if (!err && SL_UNLIKELY(source->ts_cb || timestamp < 0 ||
                                task->ts_policy == SL_TS_PARTITION_TIME)) {
                int r = sl_ts_extract(task, source, &rec);
                if (r <= 0) {
                        sl_record_release(&rec);
                        sl_arena_reset(&task->arena);
                        return r;
                }
        }
        /* stream time: the largest timestamp processed (Kafka Streams'
         * partition group stream time) */
        if (!err && rec.timestamp > task->stream_time)
                task->stream_time = rec.timestamp;
        if (!err)
                err = sl_forward(task, source, &rec);
        if (!err)
                task->processed++;
        sl_record_release(&rec);
        /* a callback that failed, or a record a store cannot hold: the
         * processing.exception.handler decides (Kafka Streams' KIP-1033);
         * failures of the machinery itself (a store, the producer) stay
         * fatal. What the record did before it failed stays done. */
        if ((err == SLUICE_ERR_CALLBACK || err == SLUICE_ERR_TOO_LARGE) &&
            !task->broken && task->conf &&
            task->conf->proc_handler != SL_DESER_FAIL)
                err = record_failed(task, task->conf->proc_handler, err,
                                    "unprocessable", source, topic, partition,
                                    offset, key, key_len, value, value_len,
                                    timestamp, headers, header_cnt);
        if (!err && task->punct_cnt)
                err = sl_task_punctuate_stream(task);
        sl_arena_reset(&task->arena);
        return err;
}
