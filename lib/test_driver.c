/*
 * test_driver.c - run a topology without Kafka or threads (Kafka Streams'
 * TopologyTestDriver for C).
 *
 * One task per sub-topology, partition 0. Sinks write into per-topic output
 * queues; each queue stores its records back to back in large chunks, so
 * piping and reading records allocates nothing in the steady state. Output
 * to a topic that a source reads is also fed back in, after the record that
 * produced it, in order.
 */
#include "conf.h"
#include "global.h"
#include "task.h"
#include "versioned.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_chunk_s {
        struct out_chunk_s *next;
        size_t size, used, read;
        /* followed by size bytes */
} out_chunk_t;

typedef struct out_queue_s {
        char *topic;
        int32_t partition_cnt;
        out_chunk_t *head, *tail, *spare;
        size_t queued;
        sluice_output_t *last; /* returned by the last read */
        int feedback;          /* a source reads the topic: -1 not known */
} out_queue_t;

/* An output to feed back into a source, copied. */
typedef struct feedback_s {
        struct feedback_s *next;
        char *topic;
        void *key, *value;
        size_t key_len, value_len;
        int key_null, value_null;
        int64_t timestamp;
        sluice_header_t *headers;
        size_t header_cnt;
} feedback_t;

/* How many records one pipe may feed back into sources. */
#define SL_DRIVER_MAX_FEEDBACK 100000

typedef struct in_topic_s {
        char *topic;
        sl_node_t *source;
        int64_t next_offset;
} in_topic_t;

struct sluice_driver_s {
        sluice_topology_t *t;
        sluice_conf_t *conf;
        sl_task_t *tasks; /* one per sub-topology */
        int task_cnt;
        in_topic_t *in;
        size_t in_cnt, in_cap;
        out_queue_t *out;
        size_t out_cnt, out_cap;
        out_queue_t *last_out; /* cache for consecutive writes */
        /* queue index + 1 per fixed-topic sink node and per changelog
         * (0: not looked up yet): no name lookups per record */
        size_t *node_q, *clog_q;
        feedback_t *fb_head, *fb_tail;
        sluice_header_t *hdr_scratch;
        size_t hdr_scratch_cap;
        char errstr[SL_ERRSTR_SIZE + 128];
        sl_cache_budget_t budget; /* the record cache, all tasks */
        int clog_write_store;     /* store of the changelog write, or -1 */
        int64_t wall_ms;          /* the driver's wall clock */
        sl_global_t *global;      /* global stores (NULL: none) */
        int64_t *global_offsets;  /* next offset per global topic */
};

static out_queue_t *out_queue(sluice_driver_t *drv, const char *topic,
                              int create) {
        size_t i;
        if (drv->last_out && !strcmp(drv->last_out->topic, topic))
                return drv->last_out;
        for (i = 0; i < drv->out_cnt; i++)
                if (!strcmp(drv->out[i].topic, topic))
                        return drv->last_out = &drv->out[i];
        if (!create)
                return NULL;
        if (drv->out_cnt == drv->out_cap) {
                size_t cap     = drv->out_cap ? drv->out_cap * 2 : 8;
                out_queue_t *o = realloc(drv->out, cap * sizeof(*o));
                if (!o)
                        return NULL;
                drv->out      = o;
                drv->out_cap  = cap;
                drv->last_out = NULL; /* pointed into the old array */
        }
        memset(&drv->out[drv->out_cnt], 0, sizeof(out_queue_t));
        drv->out[drv->out_cnt].topic = sl_strdup(topic);
        if (!drv->out[drv->out_cnt].topic)
                return NULL;
        drv->out[drv->out_cnt].partition_cnt = 1;
        drv->out[drv->out_cnt].feedback      = -1;
        return drv->last_out = &drv->out[drv->out_cnt++];
}

static int32_t drv_partition_cnt(void *opaque, const char *topic) {
        out_queue_t *q = out_queue(opaque, topic, 1);
        return q ? q->partition_cnt : 1;
}

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

/* Room for @need bytes at the queue's tail. */
static unsigned char *queue_alloc(out_queue_t *q, size_t need) {
        out_chunk_t *c = q->tail;
        if (!c || c->size - c->used < need) {
                size_t size = 64 * 1024;
                if (need > SIZE_MAX / 4)
                        return NULL;
                while (size < need)
                        size *= 2;
                if (q->spare && q->spare->size >= need) {
                        c        = q->spare;
                        q->spare = NULL;
                } else {
                        c = malloc(sizeof(*c) + size);
                        if (!c)
                                return NULL;
                        c->size = size;
                }
                c->next = NULL;
                c->used = c->read = 0;
                if (q->tail)
                        q->tail->next = c;
                else
                        q->head = c;
                q->tail = c;
        }
        {
                unsigned char *p = (unsigned char *)(c + 1) + c->used;
                c->used += need;
                return p;
        }
}

static int drv_write(void *opaque, const sl_node_t *sink, const char *topic,
                     int32_t partition, const void *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp,
                     const sluice_header_t *headers, size_t header_cnt,
                     char *errstr, size_t errstr_size) {
        sluice_driver_t *drv = opaque;
        out_queue_t *q;
        sluice_output_t *o;
        size_t need, i, *slot = NULL;
        unsigned char *p;

        /* internal (repartition) topics are fed back, not captured */
        if (sink && sink->kind == SL_NODE_SINK && sink->internal)
                goto feedback;
        /* a fixed topic's queue is remembered per node (a topic callback
         * may reuse one buffer for several names: looked up by name) */
        if (sink && sink->kind == SL_NODE_SINK && sink->topic == topic)
                slot = &drv->node_q[sink->id];
        else if (!sink && drv->clog_write_store >= 0)
                slot = &drv->clog_q[drv->clog_write_store];
        if (slot && *slot) {
                q = &drv->out[*slot - 1];
        } else {
                if (!(q = out_queue(drv, topic, 1)))
                        goto oom;
                if (slot)
                        *slot = (size_t)(q - drv->out) + 1;
        }
        if (q->feedback < 0)
                q->feedback = sl_topology_source_for(drv->t, topic) != NULL ||
                              sl_global_by_topic(drv->t, topic) >= 0;
        need = ALIGN16(sizeof(*o)) + ALIGN16(header_cnt * sizeof(sluice_header_t)) +
               key_len + value_len;
        for (i = 0; i < header_cnt; i++)
                need += strlen(headers[i].name) + 1 + headers[i].len;
        need = ALIGN16(need);
        p    = queue_alloc(q, need);
        if (!p)
                goto oom;
        o = (sluice_output_t *)p;
        p += ALIGN16(sizeof(*o));
        o->topic      = q->topic;
        o->partition  = partition;
        o->timestamp  = timestamp;
        o->header_cnt = header_cnt;
        o->headers    = header_cnt ? (sluice_header_t *)p : NULL;
        p += ALIGN16(header_cnt * sizeof(sluice_header_t));
        o->key_len = key_len;
        o->key     = key ? p : NULL;
        if (key_len)
                memcpy(p, key, key_len);
        p += key_len;
        o->value_len = value_len;
        o->value     = value ? p : NULL;
        if (value_len)
                memcpy(p, value, value_len);
        p += value_len;
        for (i = 0; i < header_cnt; i++) {
                sluice_header_t *h = (sluice_header_t *)o->headers + i;
                size_t n           = strlen(headers[i].name) + 1;
                memcpy(p, headers[i].name, n);
                h->name = (char *)p;
                p += n;
                h->len   = headers[i].len;
                h->value = headers[i].value ? p : NULL;
                if (headers[i].len)
                        memcpy(p, headers[i].value, headers[i].len);
                p += headers[i].len;
        }
        q->queued++;
        if (!q->feedback)
                return 0;

feedback:
        /* Written to a topic the topology reads: feed it back in. */
        if (sl_topology_source_for(drv->t, topic)) {
                feedback_t *fb = calloc(1, sizeof(*fb));
                if (!fb)
                        goto oom;
                fb->topic      = sl_strdup(topic);
                fb->key        = malloc(key_len + 1);
                fb->value      = malloc(value_len + 1);
                fb->headers    = calloc(header_cnt + 1, sizeof(*fb->headers));
                fb->key_null   = key == NULL;
                fb->value_null = value == NULL;
                fb->key_len    = key_len;
                fb->value_len  = value_len;
                fb->timestamp  = timestamp;
                if (!fb->topic || !fb->key || !fb->value || !fb->headers) {
                        free(fb->topic);
                        free(fb->key);
                        free(fb->value);
                        free(fb->headers);
                        free(fb);
                        goto oom;
                }
                if (key_len)
                        memcpy(fb->key, key, key_len);
                if (value_len)
                        memcpy(fb->value, value, value_len);
                for (i = 0; i < header_cnt; i++) {
                        const sluice_header_t *h = &headers[i];
                        char *nm                 = sl_strdup(h->name);
                        void *v                  = h->value ? malloc(h->len + 1)
                                                            : NULL;
                        if (!nm || (h->value && !v)) {
                                free(nm);
                                free(v);
                                break;
                        }
                        if (v && h->len)
                                memcpy(v, h->value, h->len);
                        fb->headers[i].name  = nm;
                        fb->headers[i].value = v;
                        fb->headers[i].len   = h->len;
                        fb->header_cnt++;
                }
                if (drv->fb_tail)
                        drv->fb_tail->next = fb;
                else
                        drv->fb_head = fb;
                drv->fb_tail = fb;
        }
        return 0;
oom:
        sl_errstr(errstr, errstr_size, "test driver: out of memory");
        return SLUICE_ERR_NOMEM;
}

/* A store update to its changelog: queued like any output (readable with
 * sluice_driver_read() under the changelog's name), never fed back. */
static int drv_clog_write(void *opaque, sluice_kv_t *kv, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          int64_t timestamp, char *errstr,
                          size_t errstr_size) {
        sluice_driver_t *drv = opaque;
        int err;
        drv->clog_write_store = kv->def->idx;
        err = drv_write(opaque, NULL, kv->def->changelog, 0, key, key_len,
                        value, value_len, timestamp, NULL, 0, errstr,
                        errstr_size);
        drv->clog_write_store = -1;
        return err;
}

static void feedback_free(feedback_t *fb) {
        size_t i;
        for (i = 0; i < fb->header_cnt; i++) {
                free((char *)fb->headers[i].name);
                free((void *)fb->headers[i].value);
        }
        free(fb->headers);
        free(fb->topic);
        free(fb->key);
        free(fb->value);
        free(fb);
}

sluice_driver_t *sluice_driver_new(sluice_topology_t *t, sluice_conf_t *conf,
                                   char *errstr, size_t errstr_size) {
        sluice_driver_t *drv;
        int i;
        if (!t) {
                sl_errstr(errstr, errstr_size, "sluice_driver_new: topology "
                                               "is NULL");
                return NULL;
        }
        if (sl_rdkafka_version_check(errstr, errstr_size) ||
            sl_task_conf_check(conf, errstr, errstr_size))
                return NULL;
        if (sl_topology_freeze(t,
                               conf && conf->application_id
                                   ? conf->application_id
                                   : "sluice-test-driver",
                               errstr, errstr_size))
                return NULL;
        drv = calloc(1, sizeof(*drv));
        if (!drv)
                goto oom;
        drv->t                = t;
        drv->task_cnt         = t->subtopology_cnt;
        drv->clog_write_store = -1;
        drv->node_q = calloc(t->node_cnt + 1, sizeof(*drv->node_q));
        drv->clog_q = calloc(t->store_cnt + 1, sizeof(*drv->clog_q));
        if (!drv->node_q || !drv->clog_q) {
                free(drv->node_q);
                free(drv->clog_q);
                free(drv);
                goto oom;
        }
        drv->tasks    = calloc((size_t)drv->task_cnt, sizeof(sl_task_t));
        if (!drv->tasks) {
                free(drv->node_q);
                free(drv->clog_q);
                free(drv);
                goto oom;
        }
        drv->budget.max =
            conf ? (size_t)conf->cache_max_bytes : (size_t)10485760;
        /* global stores: written by pipe_one() at once, as TTD does */
        if (sl_global_new(t, conf, NULL, &drv->global, errstr, errstr_size) ||
            (t->global_cnt &&
             !(drv->global_offsets =
                   calloc(t->global_cnt, sizeof(int64_t))))) {
                if (drv->global && !drv->global_offsets)
                        sl_errstr(errstr, errstr_size, "out of memory");
                sl_global_destroy(drv->global);
                free(drv->tasks);
                free(drv->node_q);
                free(drv->clog_q);
                free(drv);
                return NULL;
        }
        for (i = 0; i < drv->task_cnt; i++) {
                sl_task_init(&drv->tasks[i], t, conf, i, 0, drv_write,
                             drv_partition_cnt, drv);
                drv->tasks[i].clog_write = drv_clog_write;
                drv->tasks[i].global     = drv->global;
        }
        for (i = 0; i < drv->task_cnt; i++) {
                /* the driver has no instance: <state.dir>/<app>/<task> */
                char *base = sl_state_base(conf, t->app_id);
                int serr   = !base ? (sl_errstr(errstr, errstr_size,
                                              "out of memory"),
                                    SLUICE_ERR_NOMEM)
                                   : sl_task_start(&drv->tasks[i], base,
                                                   &drv->budget, 0, errstr,
                                                   errstr_size);
                free(base);
                if (serr || sl_task_ready(&drv->tasks[i], errstr, errstr_size)) {
                        int k;
                        for (k = 0; k < drv->task_cnt; k++)
                                sl_task_destroy(&drv->tasks[k]);
                        sl_global_destroy(drv->global);
                        free(drv->global_offsets);
                        free(drv->tasks);
                        free(drv->node_q);
                        free(drv->clog_q);
                        free(drv);
                        return NULL;
                }
        }
        drv->conf = conf; /* owned from here on */
        return drv;
oom:
        sl_errstr(errstr, errstr_size, "out of memory");
        return NULL;
}

void sluice_driver_destroy(sluice_driver_t *drv) {
        size_t i;
        int k;
        if (!drv)
                return;
        for (k = 0; k < drv->task_cnt; k++)
                sl_task_destroy(&drv->tasks[k]);
        free(drv->tasks);
        sl_global_destroy(drv->global);
        free(drv->global_offsets);
        for (i = 0; i < drv->in_cnt; i++)
                free(drv->in[i].topic);
        free(drv->in);
        for (i = 0; i < drv->out_cnt; i++) {
                out_queue_t *q = &drv->out[i];
                out_chunk_t *c = q->head;
                while (c) {
                        out_chunk_t *next = c->next;
                        free(c);
                        c = next;
                }
                free(q->spare);
                free(q->topic);
        }
        free(drv->out);
        while (drv->fb_head) {
                feedback_t *next = drv->fb_head->next;
                feedback_free(drv->fb_head);
                drv->fb_head = next;
        }
        free(drv->hdr_scratch);
        free(drv->node_q);
        free(drv->clog_q);
        sluice_conf_destroy(drv->conf);
        free(drv);
}

/* The input side of @topic: its source and offset counter. */
static in_topic_t *in_topic(sluice_driver_t *drv, const char *topic) {
        size_t i;
        sl_node_t *src;
        for (i = 0; i < drv->in_cnt; i++)
                if (!strcmp(drv->in[i].topic, topic))
                        return &drv->in[i];
        src = sl_topology_source_for(drv->t, topic);
        if (!src)
                return NULL;
        if (drv->in_cnt == drv->in_cap) {
                size_t cap    = drv->in_cap ? drv->in_cap * 2 : 8;
                in_topic_t *n = realloc(drv->in, cap * sizeof(*n));
                if (!n)
                        return NULL;
                drv->in     = n;
                drv->in_cap = cap;
        }
        drv->in[drv->in_cnt].topic = sl_strdup(topic);
        if (!drv->in[drv->in_cnt].topic)
                return NULL;
        drv->in[drv->in_cnt].source      = src;
        drv->in[drv->in_cnt].next_offset = 0;
        return &drv->in[drv->in_cnt++];
}

static int pipe_one(sluice_driver_t *drv, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    int64_t timestamp, const sluice_header_t *headers,
                    size_t header_cnt) {
        in_topic_t *in;
        sl_task_t *task;
        int64_t offset;
        int err, gi = sl_global_by_topic(drv->t, topic);
        (void)headers;
        if (gi >= 0) {
                /* a global table's topic: its store is updated before the
                 * call returns (TopologyTestDriver's global stores) */
                offset = drv->global_offsets[gi]++;
                err    = sl_global_apply(drv->global, gi, key, key_len, value,
                                         value_len, timestamp, drv->errstr,
                                         sizeof(drv->errstr));
                (void)offset;
                return err;
        }
        in = in_topic(drv, topic);
        if (!in) {
                snprintf(drv->errstr, sizeof(drv->errstr),
                         "topic \"%s\" is not read by any source of the "
                         "topology",
                         topic);
                return SLUICE_ERR_UNKNOWN_TOPIC;
        }
        task   = &drv->tasks[in->source->subtopology];
        offset = in->next_offset++;
        err = sl_task_process(task, in->source, in->topic, 0, offset, key,
                              key_len, value, value_len, timestamp, headers,
                              header_cnt);
        /* commit after every record, as TopologyTestDriver: the record
         * caches flush (what they forward may feed back) */
        if (!err)
                err = sl_task_flush(task);
        if (err)
                snprintf(drv->errstr, sizeof(drv->errstr),
                         "%s (record at topic \"%s\" partition 0 offset %lld)",
                         task->errstr, topic, (long long)offset);
        return err;
}

static int drain_feedback(sluice_driver_t *drv, int err);

int sluice_driver_pipe(sluice_driver_t *drv, const char *topic,
                       const void *key, size_t key_len, const void *value,
                       size_t value_len, int64_t timestamp,
                       const sluice_header_t *headers, size_t header_cnt) {
        int err;
        size_t i;
        if (!drv || !topic || (header_cnt && !headers)) {
                if (drv)
                        snprintf(drv->errstr, sizeof(drv->errstr),
                                 "sluice_driver_pipe: invalid argument");
                return SLUICE_ERR_INVALID_ARG;
        }
        for (i = 0; i < header_cnt; i++) {
                if (!headers[i].name) {
                        snprintf(drv->errstr, sizeof(drv->errstr),
                                 "sluice_driver_pipe: header %zu has no "
                                 "name",
                                 i);
                        return SLUICE_ERR_INVALID_ARG;
                }
                if (!headers[i].value && headers[i].len) {
                        snprintf(drv->errstr, sizeof(drv->errstr),
                                 "sluice_driver_pipe: header %zu (\"%s\") "
                                 "has a NULL value of length %zu",
                                 i, headers[i].name, headers[i].len);
                        return SLUICE_ERR_INVALID_ARG;
                }
        }
        drv->errstr[0] = '\0';
        err = pipe_one(drv, topic, key, key_len, value, value_len, timestamp,
                       headers, header_cnt);
        return drain_feedback(drv, err);
}

/* Process what went to topics the topology reads, in order; a topology
 * that feeds itself forever is stopped. */
static int drain_feedback(sluice_driver_t *drv, int err) {
        int rounds = 0;
        while (drv->fb_head) {
                if (!err && ++rounds > SL_DRIVER_MAX_FEEDBACK) {
                        snprintf(drv->errstr, sizeof(drv->errstr),
                                 "one piped record caused more than %d "
                                 "records to be fed back into the topology "
                                 "(last to topic \"%s\"): a cycle?",
                                 SL_DRIVER_MAX_FEEDBACK, drv->fb_head->topic);
                        err = SLUICE_ERR_TOPOLOGY;
                }
                feedback_t *fb = drv->fb_head;
                drv->fb_head   = fb->next;
                if (!drv->fb_head)
                        drv->fb_tail = NULL;
                if (!err)
                        err = pipe_one(drv, fb->topic,
                                       fb->key_null ? NULL : fb->key,
                                       fb->key_len,
                                       fb->value_null ? NULL : fb->value,
                                       fb->value_len, fb->timestamp,
                                       fb->headers, fb->header_cnt);
                feedback_free(fb);
        }
        return err;
}

int sluice_driver_pipe_str(sluice_driver_t *drv, const char *topic,
                           const char *key, const char *value,
                           int64_t timestamp) {
        return sluice_driver_pipe(drv, topic, key, key ? strlen(key) : 0,
                                  value, value ? strlen(value) : 0, timestamp,
                                  NULL, 0);
}

const char *sluice_driver_last_error(const sluice_driver_t *drv) {
        return drv ? drv->errstr : "";
}

const sluice_output_t *sluice_driver_read(sluice_driver_t *drv,
                                          const char *topic) {
        out_queue_t *q;
        out_chunk_t *c;
        sluice_output_t *o;
        if (!drv || !topic || !(q = out_queue(drv, topic, 0)))
                return NULL;
        /* recycle fully read chunks; the previous record dies here */
        while ((c = q->head) && c->read == c->used) {
                if (c == q->tail) {
                        c->read = c->used = 0;
                        break;
                }
                q->head = c->next;
                if (!q->spare)
                        q->spare = c;
                else
                        free(c);
        }
        if (!c || c->read == c->used)
                return NULL;
        o = (sluice_output_t *)((unsigned char *)(c + 1) + c->read);
        {
                size_t sz = ALIGN16(sizeof(*o)) +
                            ALIGN16(o->header_cnt * sizeof(sluice_header_t)) +
                            o->key_len + o->value_len;
                size_t i;
                for (i = 0; i < o->header_cnt; i++)
                        sz += strlen(o->headers[i].name) + 1 +
                              o->headers[i].len;
                c->read += ALIGN16(sz);
        }
        q->queued--;
        return o;
}

size_t sluice_driver_queued(const sluice_driver_t *drv, const char *topic) {
        size_t i;
        if (!drv || !topic)
                return 0;
        for (i = 0; i < drv->out_cnt; i++)
                if (!strcmp(drv->out[i].topic, topic))
                        return drv->out[i].queued;
        return 0;
}

int sluice_driver_set_partitions(sluice_driver_t *drv, const char *topic,
                                 int32_t cnt) {
        out_queue_t *q;
        if (!drv || !topic || cnt < 1)
                return SLUICE_ERR_INVALID_ARG;
        q = out_queue(drv, topic, 1);
        if (!q)
                return SLUICE_ERR_NOMEM;
        q->partition_cnt = cnt;
        return 0;
}

/* ---- stores and time ---- */

static sluice_kv_t *drv_kv(sluice_driver_t *drv, const char *store) {
        int i;
        for (i = 0; drv && store && i < drv->task_cnt; i++) {
                sluice_kv_t *kv = sl_task_kv(&drv->tasks[i], store);
                if (kv)
                        return kv;
        }
        return NULL;
}

int sluice_driver_store_get(sluice_driver_t *drv, const char *store,
                            const void *key, size_t key_len, sluice_kv_cb *cb,
                            void *opaque) {
        sluice_kv_t *kv;
        int gi = drv ? sl_global_by_store(drv->t, store) : -1;
        if (gi >= 0)
                return key && cb ? sl_global_get(drv->global, gi, key,
                                                 key_len, cb, opaque)
                                 : SLUICE_ERR_INVALID_ARG;
        kv = drv_kv(drv, store);
        if (!kv)
                return SLUICE_ERR_STATE;
        return sluice_kv_get(kv, key, key_len, cb, opaque);
}

int64_t sluice_driver_store_range(sluice_driver_t *drv, const char *store,
                                  const void *from, size_t from_len,
                                  const void *to, size_t to_len,
                                  sluice_kv_cb *cb, void *opaque) {
        sluice_kv_t *kv;
        int gi = drv ? sl_global_by_store(drv->t, store) : -1;
        if (gi >= 0)
                return cb ? sl_global_range(drv->global, gi, from, from_len,
                                            to, to_len, cb, opaque)
                          : SLUICE_ERR_INVALID_ARG;
        kv = drv_kv(drv, store);
        if (!kv)
                return SLUICE_ERR_STATE;
        if (sl_versioned_is(kv))
                return SLUICE_ERR_INVALID_ARG; /* only lookups by key */
        return sluice_kv_range(kv, from, from_len, to, to_len, cb, opaque);
}

int64_t sluice_driver_window_fetch(sluice_driver_t *drv, const char *store,
                                   const void *key, size_t key_len,
                                   int64_t time_from, int64_t time_to,
                                   sluice_window_cb *cb, void *opaque) {
        sluice_kv_t *kv = drv && store && cb ? drv_kv(drv, store) : NULL;
        if (!kv)
                return drv && store && cb ? SLUICE_ERR_STATE
                                          : SLUICE_ERR_INVALID_ARG;
        return sl_window_fetch(kv, key, key_len, time_from, time_to, cb,
                               opaque);
}

int sluice_driver_versioned_get(sluice_driver_t *drv, const char *store,
                                const void *key, size_t key_len,
                                int64_t as_of, sluice_version_cb *cb,
                                void *opaque) {
        sluice_kv_t *kv;
        const void *v;
        size_t vlen;
        int64_t from, to;
        int r;
        if (!drv || !store || !key || !cb)
                return SLUICE_ERR_INVALID_ARG;
        if (!(kv = drv_kv(drv, store)))
                return SLUICE_ERR_STATE;
        if (!sl_versioned_is(kv))
                return SLUICE_ERR_INVALID_ARG;
        r = sl_versioned_get(kv, key, key_len, as_of, &v, &vlen, &from, &to);
        if (r > 0)
                cb(key, key_len, v, vlen, from, to, opaque);
        return r;
}

int sluice_driver_advance_wall_clock(sluice_driver_t *drv, int64_t ms) {
        int i, err = 0;
        if (!drv || ms < 0)
                return SLUICE_ERR_INVALID_ARG;
        drv->errstr[0] = '\0';
        drv->wall_ms += ms;
        for (i = 0; i < drv->task_cnt && !err; i++) {
                sl_task_t *task = &drv->tasks[i];
                err = sl_task_punctuate_wall(task, drv->wall_ms);
                if (!err)
                        err = sl_task_flush(task);
                if (err)
                        snprintf(drv->errstr, sizeof(drv->errstr), "%s",
                                 task->errstr);
        }
        return drain_feedback(drv, err);
}

/* ---- metrics ---- */

char *sluice_driver_metrics_json(const sluice_driver_t *drv) {
        json_t *root, *tasks;
        char *out = NULL;
        int i;
        if (!drv)
                return NULL;
        root  = json_object();
        tasks = json_array();
        if (!root || !tasks || json_object_set_new(root, "tasks", tasks)) {
                json_decref(root);
                return NULL;
        }
        for (i = 0; i < drv->task_cnt; i++) {
                const sl_task_t *task = &drv->tasks[i];
                char id[32];
                json_t *ops = json_object(), *o;
                snprintf(id, sizeof(id), "%d_%d", task->subtopology,
                         (int)task->partition);
                if (!ops || sl_task_metrics_operators(task, ops)) {
                        json_decref(ops);
                        goto done;
                }
                o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "task", id,
                              "consumed", (json_int_t)task->consumed,
                              "processed", (json_int_t)task->processed,
                              "dropped", (json_int_t)task->dropped,
                              "skipped_invalid_timestamp",
                              (json_int_t)task->skipped_invalid_timestamp,
                              "stream_time", (json_int_t)task->stream_time,
                              "operators", ops); /* steals ops */
                if (!o || json_array_append_new(tasks, o))
                        goto done;
        }
        out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
        json_decref(root);
        return out;
}
