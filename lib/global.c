/*
 * global.c - global tables (Kafka Streams' GlobalKTable): the builder
 * call, the global stores (every instance holds every partition of the
 * topic), their bootstrap and the global thread that keeps them current.
 *
 * How it runs (see global.h for the locking):
 *   - sluice_app_start() calls sl_global_start() before any stream thread
 *     subscribes: one consumer without a group (assign(), never commit)
 *     reads every partition of every global topic from the beginning until
 *     it reaches the end offsets the topics had when the bootstrap began
 *     (GlobalStateManagerImpl.restoreState: bootstrap to the end offsets
 *     before the stream threads start). The next offset of each partition
 *     is tracked here (the topic is the store's changelog: no changelog
 *     topic is written, and nothing is committed to the group). In memory
 *     every start bootstraps from the beginning; a persistent store
 *     (default.dsl.store) keeps the offsets it reflects in
 *     <instance dir>/global/.checkpoint, as Kafka Streams' global state
 *     directory does, and a start goes on from them.
 *   - then the global thread (GlobalStreamThread) polls the same consumer
 *     and applies every record as it comes; in host-driven mode
 *     sluice_app_step() calls sl_global_step() instead.
 *   - the test driver applies a record piped into a global topic at once.
 */
#include "global.h"

#include "app.h"
#include "conf.h"
#include "op.h"
#include "state.h"
#include "task.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- builder ---- */

static char *gen_name(sluice_topology_t *t, const char *prefix) {
        char buf[340];
        snprintf(buf, sizeof(buf), "%s%010d", prefix, t->name_seq++);
        return sl_strdup(buf);
}

sluice_global_table_t *
sluice_global_table_from(sluice_topology_t *t, const char *topic,
                         const sluice_serde_t *key_serde,
                         const sluice_serde_t *value_serde,
                         const char *store_name) {
        static const char *call = "sluice_global_table_from";
        sluice_global_table_t *g;
        char pfx[300];
        size_t i;
        if (!t)
                return NULL;
        if (sl_topo_check_open(t, call))
                return NULL;
        if (!topic || !*topic) {
                sl_topo_error(t, "%s: topic is NULL or empty", call);
                return NULL;
        }
        if (!sl_topic_name_valid(topic, NULL, 0)) {
                sl_topo_error(t, "%s: \"%s\" is not a valid topic name", call,
                              topic);
                return NULL;
        }
        if (sl_serde_check(t, call, "key", key_serde) ||
            sl_serde_check(t, call, "value", value_serde))
                return NULL;
        if (!key_serde || !value_serde) {
                sl_topo_error(t, "%s: key and value serdes are required "
                                 "(the store decodes its rows)",
                              call);
                return NULL;
        }
        for (i = 0; i < t->global_cnt; i++)
                if (!strcmp(t->globals[i]->topic, topic)) {
                        sl_topo_error(t, "%s: topic \"%s\" is already the "
                                         "source of a global table",
                                      call, topic);
                        return NULL;
                }
        if (store_name && (sl_topology_store(t, store_name) ||
                           sl_global_by_store(t, store_name) >= 0)) {
                sl_topo_error(t, "%s: a store named \"%s\" already exists",
                              call, store_name);
                return NULL;
        }
        if (store_name && !*store_name) {
                sl_topo_error(t, "%s: store name is empty", call);
                return NULL;
        }
        if (sl_grow((void **)&t->globals, &t->global_cap, t->global_cnt,
                    sizeof(*t->globals)) ||
            !(g = calloc(1, sizeof(*g)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        /* Kafka Streams' order of names: the store's, the source's, the
         * processor's (StreamsBuilder.globalTable) */
        snprintf(pfx, sizeof(pfx), "%s-STATE-STORE-", topic);
        g->t              = t;
        g->idx            = (int)t->global_cnt;
        g->topic          = sl_strdup(topic);
        g->store          = store_name ? sl_strdup(store_name)
                                       : gen_name(t, pfx);
        g->source_name    = gen_name(t, "KSTREAM-SOURCE-");
        g->processor_name = gen_name(t, "KTABLE-SOURCE-");
        g->key_serde      = key_serde;
        g->value_serde    = value_serde;
        t->globals[t->global_cnt++] = g;
        if (!g->topic || !g->store || !g->source_name || !g->processor_name) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        return g;
}

void sl_global_defs_free(sluice_topology_t *t) {
        size_t i;
        for (i = 0; i < t->global_cnt; i++) {
                free(t->globals[i]->topic);
                free(t->globals[i]->store);
                free(t->globals[i]->source_name);
                free(t->globals[i]->processor_name);
                free(t->globals[i]);
        }
        free(t->globals);
}

int sl_global_freeze(const sluice_topology_t *t, char *errstr,
                     size_t errstr_size) {
        size_t i;
        for (i = 0; i < t->global_cnt; i++) {
                const sluice_global_table_t *g = t->globals[i];
                const sl_node_t *src = sl_topology_source_for(t, g->topic);
                if (src) {
                        sl_errstr(errstr, errstr_size,
                                  "topic \"%s\" is the source of global "
                                  "table \"%s\" and is read by source %s "
                                  "too: a topic feeds one source only",
                                  g->topic, g->store, src->name);
                        return -1;
                }
                if (sl_topology_store(t, g->store)) {
                        sl_errstr(errstr, errstr_size,
                                  "a store named \"%s\" already exists "
                                  "(global table of topic \"%s\")",
                                  g->store, g->topic);
                        return -1;
                }
        }
        return 0;
}

void sl_global_describe(const sluice_topology_t *t, int first,
                        sl_str_t *s) {
        size_t i;
        for (i = 0; i < t->global_cnt; i++) {
                const sluice_global_table_t *g = t->globals[i];
                sl_str_printf(s,
                              "   Sub-topology: %d for global store (will "
                              "not generate tasks)\n"
                              "    Source: %s (topics: [%s])\n"
                              "      --> %s\n"
                              "    Processor: %s (stores: [%s])\n"
                              "      --> none\n"
                              "      <-- %s\n\n",
                              first + (int)i, g->source_name, g->topic,
                              g->processor_name, g->processor_name, g->store,
                              g->source_name);
        }
}

int sl_global_by_topic(const sluice_topology_t *t, const char *topic) {
        size_t i;
        for (i = 0; t && topic && i < t->global_cnt; i++)
                if (!strcmp(t->globals[i]->topic, topic))
                        return (int)i;
        return -1;
}

int sl_global_by_store(const sluice_topology_t *t, const char *store) {
        size_t i;
        for (i = 0; t && store && i < t->global_cnt; i++)
                if (!strcmp(t->globals[i]->store, store))
                        return (int)i;
        return -1;
}

/* ---- stores ---- */

/* .checkpoint of @g->dir: the offset of (@store, @p), or -1. */
static int64_t ckpt_read(const sl_global_t *g, const char *store, int32_t p) {
        char path[4096], name[512];
        long long off;
        int part;
        int64_t r = -1;
        FILE *f;
        snprintf(path, sizeof(path), "%s/.checkpoint", g->dir);
        if (!(f = fopen(path, "r")))
                return -1;
        while (fscanf(f, "%511s %d %lld", name, &part, &off) == 3)
                if (!strcmp(name, store) && part == p && off >= 0)
                        r = off;
        fclose(f);
        return r;
}

int sl_global_checkpoint(sl_global_t *g) {
        char path[4096], tmp[4200], why[SL_ERRSTR_SIZE];
        size_t i;
        int32_t p;
        FILE *f;
        int rc = 0;
        if (!g || !g->persistent)
                return 0;
        snprintf(path, sizeof(path), "%s/.checkpoint", g->dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        pthread_mutex_lock(&g->lock);
        /* the data first, then the offsets that say what it reflects */
        for (i = 0; i < g->cnt && !rc; i++)
                if (g->stores[i].type->flush(g->stores[i].h, why,
                                             sizeof(why)))
                        rc = -1;
        if (!rc && !(f = fopen(tmp, "w")))
                rc = -1;
        for (i = 0; !rc && i < g->cnt; i++)
                for (p = 0; p < g->stores[i].partition_cnt; p++)
                        fprintf(f, "%s %d %lld\n", g->stores[i].def->store,
                                (int)p, (long long)g->stores[i].next[p]);
        if (!rc && (fflush(f) || fsync(fileno(f))))
                rc = -1;
        if (!rc && fclose(f))
                rc = -1;
        if (!rc && rename(tmp, path))
                rc = -1;
        pthread_mutex_unlock(&g->lock);
        if (rc)
                sl_log(g->conf, SLUICE_LOG_WARNING, "GLOBAL",
                       "cannot write %s (the next start bootstraps from "
                       "older offsets)",
                       path);
        return rc;
}

int sl_global_new(const sluice_topology_t *t, const sluice_conf_t *conf,
                  const char *state_base, sl_global_t **out, char *errstr,
                  size_t errstr_size) {
        sl_global_t *g;
        size_t i;
        *out = NULL;
        if (!t->global_cnt)
                return 0;
        if (!(g = calloc(1, sizeof(*g))) ||
            !(g->stores = calloc(t->global_cnt, sizeof(*g->stores)))) {
                free(g);
                sl_errstr(errstr, errstr_size, "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        g->t    = t;
        g->conf = conf;
        atomic_init(&g->running, 0);
        if (pthread_mutex_init(&g->lock, NULL)) {
                free(g->stores);
                free(g);
                sl_errstr(errstr, errstr_size, "cannot create a mutex");
                return SLUICE_ERR_NOMEM;
        }
        for (i = 0; i < t->global_cnt; i++) {
                sl_gstore_t *st = &g->stores[i];
                sl_store_def_t def;
                char path[4096];
                int err;
                st->def = t->globals[i];
                memset(&def, 0, sizeof(def));
                def.name = st->def->store;
                /* the conf's default.dsl.store; in memory without a state
                 * directory (the test driver) */
                st->type = state_base ? sl_store_type_for(conf, &def, errstr,
                                                          errstr_size)
                                      : sluice_store_type_memory();
                if (!st->type) {
                        g->cnt = i;
                        sl_global_destroy(g);
                        return SLUICE_ERR_STATE;
                }
                path[0] = '\0';
                if (st->type->persistent) {
                        if (!g->dir) {
                                size_t len = strlen(state_base) + 8;
                                if (!(g->dir = malloc(len))) {
                                        g->cnt = i;
                                        sl_global_destroy(g);
                                        sl_errstr(errstr, errstr_size,
                                                  "out of memory");
                                        return SLUICE_ERR_NOMEM;
                                }
                                snprintf(g->dir, len, "%s/global", state_base);
                        }
                        g->persistent = 1;
                        snprintf(path, sizeof(path), "%s/%s", g->dir,
                                 st->def->store);
                        if (sl_mkdirs(path, errstr, errstr_size)) {
                                g->cnt = i;
                                sl_global_destroy(g);
                                return SLUICE_ERR_STATE;
                        }
                }
                if ((err = st->type->open(st->type, path, st->def->store,
                                          &st->h, errstr, errstr_size))) {
                        g->cnt = i;
                        sl_global_destroy(g);
                        return err;
                }
                g->cnt = i + 1;
        }
        *out = g;
        return 0;
}

void sl_global_destroy(sl_global_t *g) {
        size_t i;
        if (!g)
                return;
        if (g->started) {
                thrd_join(g->thr, NULL);
                g->started = 0;
        }
        if (g->q)
                rd_kafka_queue_destroy(g->q);
        if (g->consumer) {
                rd_kafka_consumer_close(g->consumer);
                rd_kafka_destroy(g->consumer);
        }
        /* what was applied is checkpointed (persistent stores) */
        if (g->consumer)
                sl_global_checkpoint(g);
        for (i = 0; i < g->cnt; i++) {
                g->stores[i].type->close(g->stores[i].h);
                free(g->stores[i].next);
                free(g->stores[i].end);
                free(g->stores[i].ckpt);
        }
        free(g->stores);
        free(g->dir);
        free(g->buf.data);
        pthread_mutex_destroy(&g->lock);
        free(g);
}

int sl_global_apply(sl_global_t *g, int idx, const void *key, size_t klen,
                    const void *value, size_t vlen, int64_t ts, char *errstr,
                    size_t errstr_size) {
        sl_gstore_t *st = &g->stores[idx];
        int err         = 0;
        pthread_mutex_lock(&g->lock);
        if (!key) {
                /* a table has no row without a key (KTableSource) */
                st->skipped++;
                pthread_mutex_unlock(&g->lock);
                return 0;
        }
        if (!value) {
                err = st->type->del(st->h, key, klen);
        } else {
                /* the layout of every store: timestamp, then the value */
                g->buf.len = 0;
                if (sluice_buf_reserve(&g->buf, vlen + 8)) {
                        err = SLUICE_ERR_NOMEM;
                } else {
                        sl_put_be64(g->buf.data, (uint64_t)ts);
                        if (vlen)
                                memcpy(g->buf.data + 8, value, vlen);
                        err = st->type->put(st->h, key, klen, g->buf.data,
                                            vlen + 8);
                }
        }
        if (!err)
                st->records++;
        pthread_mutex_unlock(&g->lock);
        if (err)
                sl_errstr(errstr, errstr_size,
                          "global store \"%s\": write failed (error %d)",
                          st->def->store, err);
        return err;
}

int sl_global_get(sl_global_t *g, int idx, const void *key, size_t klen,
                  sluice_kv_cb *cb, void *opaque) {
        sl_gstore_t *st = &g->stores[idx];
        const void *v;
        size_t vlen;
        int r;
        pthread_mutex_lock(&g->lock);
        r = st->type->get(st->h, key, klen, &v, &vlen);
        if (r > 0 && vlen >= 8)
                cb(key, klen, (const unsigned char *)v + 8, vlen - 8,
                   (int64_t)sl_get_be64(v), opaque);
        pthread_mutex_unlock(&g->lock);
        return r;
}

int64_t sl_global_range(sl_global_t *g, int idx, const void *from,
                        size_t from_len, const void *to, size_t to_len,
                        sluice_kv_cb *cb, void *opaque) {
        sl_gstore_t *st = &g->stores[idx];
        const void *k, *v;
        size_t klen, vlen;
        void *it;
        int64_t n = 0;
        int r;
        pthread_mutex_lock(&g->lock);
        if ((r = st->type->iter_open(st->h, from, from_len, to, to_len,
                                     &it))) {
                pthread_mutex_unlock(&g->lock);
                return r;
        }
        while ((r = st->type->iter_next(it, &k, &klen, &v, &vlen)) > 0) {
                if (vlen < 8)
                        continue;
                n++;
                if (cb(k, klen, (const unsigned char *)v + 8, vlen - 8,
                       (int64_t)sl_get_be64(v), opaque))
                        break;
        }
        st->type->iter_close(it);
        pthread_mutex_unlock(&g->lock);
        return r < 0 ? r : n;
}

int sl_global_lookup(sl_task_t *task, const sl_node_t *node, int idx,
                     const void *k, size_t klen, sluice_value_t *out,
                     int *owned) {
        sl_global_t *g = task->global;
        sl_gstore_t *st;
        const void *v;
        size_t vlen;
        int r, err = 0;
        *owned = 0;
        if (!g || idx < 0 || (size_t)idx >= g->cnt)
                return sl_fail(task, node, SLUICE_ERR_STATE, "%s",
                               "the global store is not open");
        st = &g->stores[idx];
        pthread_mutex_lock(&g->lock);
        r = st->type->get(st->h, k, klen, &v, &vlen);
        /* decoded under the lock: the backend's bytes are borrowed until
         * the writer's next call (strings are copied into the arena) */
        if (r > 0 && vlen >= 8)
                err = sl_op_decode(task, node, st->def->value_serde,
                                   (const unsigned char *)v + 8, vlen - 8,
                                   out, owned);
        pthread_mutex_unlock(&g->lock);
        if (r < 0)
                return sl_fail(task, node, r, "%s",
                               "global store lookup failed");
        if (err)
                return err;
        return r > 0 && vlen >= 8;
}

/* ---- the Kafka runtime ---- */

static void g_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                     const char *buf) {
        sl_global_t *g = rd_kafka_opaque(rk);
        sl_log(g->conf,
               level <= 3   ? SLUICE_LOG_ERR
               : level <= 4 ? SLUICE_LOG_WARNING
                            : SLUICE_LOG_DEBUG,
               fac, "global consumer: %s", buf);
}

static rd_kafka_t *g_consumer_new(sl_global_t *g, sluice_app_t *app,
                                  char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char id[300], rkerr[SL_ERRSTR_SIZE];
        rd_kafka_t *rk;
        if (!c) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return NULL;
        }
        snprintf(id, sizeof(id), "%s-GlobalStreamThread-global-consumer",
                 app->conf->application_id);
#define SET(k, v)                                                              \
        if (rd_kafka_conf_set(c, k, v, rkerr, sizeof(rkerr))) {                \
                sl_errstr(errstr, errstr_size, "%s: %s", k, rkerr);            \
                rd_kafka_conf_destroy(c);                                      \
                return NULL;                                                   \
        }
        SET("client.id", id);
        /* assigned partitions only: never joins a group, never commits
         * (group.id only satisfies the API) */
        SET("group.id", id);
        SET("enable.auto.commit", "false");
        SET("enable.auto.offset.store", "false");
        SET("auto.offset.reset", "earliest");
        SET("enable.partition.eof", "true");
        SET("fetch.queue.backoff.ms", "10");
        if (app->conf->guarantee == SL_EOS_V2)
                SET("isolation.level", "read_committed");
        if (sl_conf_apply(app->conf, SL_SCOPE_CONSUMER, c, errstr,
                          errstr_size)) {
                rd_kafka_conf_destroy(c);
                return NULL;
        }
        if (app->bootstrap)
                SET("bootstrap.servers", app->bootstrap);
#undef SET
        rd_kafka_conf_set_opaque(c, g);
        rd_kafka_conf_set_log_cb(c, g_log_cb);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, rkerr, sizeof(rkerr)))) {
                rd_kafka_conf_destroy(c);
                sl_errstr(errstr, errstr_size,
                          "cannot create the global consumer: %s", rkerr);
                return NULL;
        }
        return rk;
}

/* Apply one polled message (records and errors). 0 or -1 (errstr). */
static int g_handle(sl_global_t *g, rd_kafka_message_t *m, char *errstr,
                    size_t errstr_size) {
        const char *topic;
        int idx;
        sl_gstore_t *st;
        rd_kafka_timestamp_type_t tstype;
        int64_t ts;
        if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        /* the end: past transaction markers, and where a
                         * compacted topic's last records are gone */
                        idx = m->rkt ? sl_global_by_topic(
                                           g->t, rd_kafka_topic_name(m->rkt))
                                     : -1;
                        pthread_mutex_lock(&g->lock);
                        if (idx >= 0 && m->partition >= 0 &&
                            m->partition < g->stores[idx].partition_cnt &&
                            g->stores[idx].next[m->partition] < m->offset)
                                g->stores[idx].next[m->partition] = m->offset;
                        pthread_mutex_unlock(&g->lock);
                        return 0;
                }
                if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                    m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                        sl_errstr(errstr, errstr_size, "global consumer: %s",
                                  rd_kafka_message_errstr(m));
                        return -1;
                }
                sl_log(g->conf, SLUICE_LOG_WARNING, "GLOBAL",
                       "global consumer: %s", rd_kafka_message_errstr(m));
                return 0;
        }
        topic = rd_kafka_topic_name(m->rkt);
        if ((idx = sl_global_by_topic(g->t, topic)) < 0)
                return 0;
        st = &g->stores[idx];
        ts = rd_kafka_message_timestamp(m, &tstype);
        if (sl_global_apply(g, idx, m->key, m->key_len, m->payload, m->len,
                            ts, errstr, errstr_size))
                return -1;
        pthread_mutex_lock(&g->lock);
        g->consumed++;
        if (m->partition >= 0 && m->partition < st->partition_cnt)
                st->next[m->partition] = m->offset + 1;
        pthread_mutex_unlock(&g->lock);
        return 0;
}

/* Every partition at (or past) its bootstrap end offset. */
static int g_caught_up(sl_global_t *g) {
        size_t i;
        int32_t p;
        int done = 1;
        pthread_mutex_lock(&g->lock);
        for (i = 0; i < g->cnt && done; i++)
                for (p = 0; p < g->stores[i].partition_cnt && done; p++)
                        if (g->stores[i].next[p] < g->stores[i].end[p])
                                done = 0;
        pthread_mutex_unlock(&g->lock);
        return done;
}

/* Delete every row of @st (a persistent store whose checkpoint cannot be
 * trusted: its rows may be older than the topic). 0 or -1. */
static int g_wipe(sl_gstore_t *st, char *errstr, size_t errstr_size) {
        for (;;) {
                const void *k, *v;
                size_t klen = 0, vlen = 0;
                void *it;
                char key[4096];
                int r;
                if (st->type->iter_open(st->h, NULL, 0, NULL, 0, &it))
                        goto fail;
                r = st->type->iter_next(it, &k, &klen, &v, &vlen);
                if (r > 0 && klen <= sizeof(key))
                        memcpy(key, k, klen);
                st->type->iter_close(it);
                if (r == 0)
                        return 0;
                if (r < 0 || klen > sizeof(key))
                        goto fail;
                if (st->type->del(st->h, key, klen))
                        goto fail;
        }
fail:
        sl_errstr(errstr, errstr_size,
                  "global store \"%s\": cannot empty it for a new "
                  "bootstrap",
                  st->def->store);
        return -1;
}

/* Partition counts and end offsets; assign everything from the start. */
static int g_assign(sl_global_t *g, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *parts =
            rd_kafka_topic_partition_list_new(16);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e;
        size_t i;
        int k, rc = -1;
        e = rd_kafka_metadata(g->consumer, 1, NULL, &md, 10000);
        if (e) {
                sl_errstr(errstr, errstr_size,
                          "global tables: cannot read the cluster's "
                          "metadata: %s",
                          rd_kafka_err2str(e));
                goto done;
        }
        for (i = 0; i < g->cnt; i++) {
                sl_gstore_t *st                   = &g->stores[i];
                const struct rd_kafka_metadata_topic *mt = NULL;
                int32_t p;
                for (k = 0; k < md->topic_cnt; k++)
                        if (!strcmp(md->topics[k].topic, st->def->topic))
                                mt = &md->topics[k];
                if (!mt || mt->err || mt->partition_cnt < 1) {
                        sl_errstr(errstr, errstr_size,
                                  "global table \"%s\": topic \"%s\" does "
                                  "not exist; create it first",
                                  st->def->store, st->def->topic);
                        goto done;
                }
                st->partition_cnt = mt->partition_cnt;
                st->next = calloc((size_t)mt->partition_cnt, sizeof(int64_t));
                st->end  = calloc((size_t)mt->partition_cnt, sizeof(int64_t));
                if (!st->next || !st->end) {
                        sl_errstr(errstr, errstr_size, "out of memory");
                        goto done;
                }
                for (p = 0; p < mt->partition_cnt; p++) {
                        int64_t lo = 0, hi = 0;
                        e = rd_kafka_query_watermark_offsets(
                            g->consumer, st->def->topic, p, &lo, &hi, 10000);
                        if (e) {
                                sl_errstr(errstr, errstr_size,
                                          "global table \"%s\": end offset "
                                          "of %s [%d]: %s",
                                          st->def->store, st->def->topic,
                                          (int)p, rd_kafka_err2str(e));
                                goto done;
                        }
                        st->next[p] = lo;
                        st->end[p]  = hi;
                        rd_kafka_topic_partition_list_add(parts,
                                                          st->def->topic, p)
                            ->offset = RD_KAFKA_OFFSET_BEGINNING;
                }
                /* a persistent store goes on from its checkpoint, if every
                 * partition has one the topic still holds; otherwise it
                 * is emptied and bootstrapped from the beginning */
                if (g->persistent && st->type->persistent) {
                        int all = 1;
                        for (p = 0; p < mt->partition_cnt && all; p++) {
                                int64_t c = ckpt_read(g, st->def->store, p);
                                if (c < st->next[p] || c > st->end[p])
                                        all = 0;
                        }
                        if (all) {
                                for (p = 0; p < mt->partition_cnt; p++) {
                                        int64_t c =
                                            ckpt_read(g, st->def->store, p);
                                        st->next[p] = c;
                                        rd_kafka_topic_partition_list_find(
                                            parts, st->def->topic, p)
                                            ->offset = c;
                                }
                        } else if (g_wipe(st, errstr, errstr_size)) {
                                goto done;
                        }
                }
        }
        if ((e = rd_kafka_assign(g->consumer, parts))) {
                sl_errstr(errstr, errstr_size,
                          "global consumer: assign: %s", rd_kafka_err2str(e));
                goto done;
        }
        rc = 0;
done:
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_partition_list_destroy(parts);
        return rc;
}

/* Poll once (up to @budget messages, waiting @timeout_ms for the first).
 * Returns how many, or -1 with errstr. */
static int g_poll(sl_global_t *g, int budget, int timeout_ms, char *errstr,
                  size_t errstr_size) {
        int n = 0;
        while (n < budget) {
                rd_kafka_message_t *m =
                    rd_kafka_consume_queue(g->q, n ? 0 : timeout_ms);
                int err;
                if (!m)
                        break;
                err = g_handle(g, m, errstr, errstr_size);
                rd_kafka_message_destroy(m);
                if (err)
                        return -1;
                n++;
        }
        return n;
}

/* Every commit.interval.ms, as the stream threads' stores. */
static void g_maybe_checkpoint(sl_global_t *g) {
        int64_t now = sl_now_ms();
        if (!g->persistent ||
            now - g->last_ckpt_ms < sl_conf_commit_interval_ms(g->conf))
                return;
        g->last_ckpt_ms = now;
        sl_global_checkpoint(g);
}

static int g_thread_main(void *arg) {
        sl_global_t *g = arg;
        char errstr[SL_ERRSTR_SIZE];
        while (!atomic_load(g->stop)) {
                if (g_poll(g, 1000, 100, errstr, sizeof(errstr)) < 0) {
                        sl_app_fail(g->app, "global thread: %s", errstr);
                        break;
                }
                g_maybe_checkpoint(g);
        }
        atomic_store(&g->running, 0);
        return 0;
}

int sl_global_start(sl_global_t *g, sluice_app_t *app, char *errstr,
                    size_t errstr_size) {
        int64_t t0 = sl_now_ms();
        g->app  = app;
        g->stop = &app->stop;
        if (!(g->consumer = g_consumer_new(g, app, errstr, errstr_size)))
                return -1;
        g->q = rd_kafka_queue_get_consumer(g->consumer);
        if (!g->q) {
                sl_errstr(errstr, errstr_size,
                          "global consumer: no consumer queue");
                return -1;
        }
        if (g_assign(g, errstr, errstr_size))
                return -1;
        /* bootstrap: every stream task waits for this (the threads start
         * after it returns) */
        while (!g_caught_up(g)) {
                if (atomic_load(g->stop)) {
                        sl_errstr(errstr, errstr_size,
                                  "the app was closed while its global "
                                  "stores were bootstrapping");
                        return -1;
                }
                if (g_poll(g, 10000, 100, errstr, errstr_size) < 0)
                        return -1;
        }
        pthread_mutex_lock(&g->lock);
        g->bootstrap_ms = sl_now_ms() - t0;
        pthread_mutex_unlock(&g->lock);
        sl_log(app->conf, SLUICE_LOG_INFO, "GLOBAL",
               "global stores bootstrapped in %lld ms",
               (long long)(sl_now_ms() - t0));
        atomic_store(&g->running, 1);
        if (app->host_driven) {
                rd_kafka_queue_io_event_enable(g->q, app->wake_fd[1], "g", 1);
                return 0;
        }
        if (thrd_create(&g->thr, g_thread_main, g) != thrd_success) {
                sl_errstr(errstr, errstr_size,
                          "cannot start the global thread");
                return -1;
        }
        g->started = 1;
        return 0;
}

int sl_global_step(sl_global_t *g, int budget) {
        char errstr[SL_ERRSTR_SIZE];
        int n;
        if (!g || !g->q)
                return 0;
        if ((n = g_poll(g, budget, 0, errstr, sizeof(errstr))) < 0)
                sl_app_fail(g->app, "global thread: %s", errstr);
        else
                g_maybe_checkpoint(g);
        return n;
}

void sl_global_metrics(sl_global_t *g, sl_str_t *s) {
        size_t i;
        int32_t p;
        pthread_mutex_lock(&g->lock);
        sl_str_printf(s,
                      "\"global\":{\"thread\":\"%s-GlobalStreamThread\","
                      "\"running\":%s,\"consumed\":%llu,"
                      "\"bootstrap_ms\":%lld,\"stores\":[",
                      g->conf->application_id,
                      atomic_load(&g->running) ? "true" : "false",
                      (unsigned long long)g->consumed,
                      (long long)g->bootstrap_ms);
        for (i = 0; i < g->cnt; i++) {
                sl_gstore_t *st = &g->stores[i];
                sl_str_printf(s,
                              "%s{\"store\":\"%s\",\"topic\":\"%s\","
                              "\"updates\":%llu,\"skipped_null_key\":%llu,"
                              "\"approximate_count\":%llu,\"partitions\":[",
                              i ? "," : "", st->def->store, st->def->topic,
                              (unsigned long long)st->records,
                              (unsigned long long)st->skipped,
                              (unsigned long long)st->type->approximate_count(
                                  st->h));
                for (p = 0; p < st->partition_cnt; p++)
                        sl_str_printf(s,
                                      "%s{\"partition\":%d,\"position\":%lld}",
                                      p ? "," : "", (int)p,
                                      (long long)st->next[p]);
                sl_str_printf(s, "]}");
        }
        sl_str_printf(s, "]}");
        pthread_mutex_unlock(&g->lock);
}
