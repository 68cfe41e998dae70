/*
 * topology.c - the builder's common part (nodes, streams, sources, sinks,
 * repartitions, stores), validation, the sub-topology split, and describe
 * (text and DOT). Each operator family's builder calls are in its
 * lib/op_<family>.c, with what its nodes do.
 *
 * Builder mistakes never crash: the first one is kept in t->error and
 * reported by sluice_topology_validate() and by whoever freezes the
 * topology (the test driver, the app).
 */
#include "topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kafka Streams' generated name prefixes, per node kind. */
static const char *kind_prefix(sl_node_kind_t kind) {
        switch (kind) {
        case SL_NODE_SOURCE: return "KSTREAM-SOURCE-";
        case SL_NODE_MAP: return "KSTREAM-MAP-";
        case SL_NODE_MAP_VALUES: return "KSTREAM-MAPVALUES-";
        case SL_NODE_SELECT_KEY: return "KSTREAM-KEY-SELECT-";
        case SL_NODE_FILTER: return "KSTREAM-FILTER-";
        case SL_NODE_FILTER_NOT: return "KSTREAM-FILTER-";
        case SL_NODE_FLAT_MAP: return "KSTREAM-FLATMAP-";
        case SL_NODE_FLAT_MAP_VALUES: return "KSTREAM-FLATMAPVALUES-";
        case SL_NODE_PEEK: return "KSTREAM-PEEK-";
        case SL_NODE_FOREACH: return "KSTREAM-FOREACH-";
        case SL_NODE_MERGE: return "KSTREAM-MERGE-";
        case SL_NODE_BRANCH: return "KSTREAM-BRANCH-";
        case SL_NODE_BRANCH_CHILD: return "KSTREAM-BRANCHCHILD-";
        case SL_NODE_SINK: return "KSTREAM-SINK-";
        case SL_NODE_AGGREGATE: return "KSTREAM-AGGREGATE-";
        case SL_NODE_TABLE_AGGREGATE: return "KTABLE-AGGREGATE-";
        case SL_NODE_TABLE_SOURCE: return "KTABLE-SOURCE-";
        case SL_NODE_TABLE_FILTER:
        case SL_NODE_TABLE_FILTER_NOT: return "KTABLE-FILTER-";
        case SL_NODE_TABLE_MAP_VALUES: return "KTABLE-MAPVALUES-";
        case SL_NODE_TO_STREAM: return "KTABLE-TOSTREAM-";
        case SL_NODE_TABLE_GROUP_BY: return "KTABLE-SELECT-";
        case SL_NODE_PROCESSOR: return "KSTREAM-PROCESSOR-";
        case SL_NODE_WINDOW_AGGREGATE: return "KSTREAM-AGGREGATE-";
        case SL_NODE_SUPPRESS: return "KTABLE-SUPPRESS-";
        case SL_NODE_STREAM_TABLE_JOIN: return "KSTREAM-JOIN-";
        case SL_NODE_STREAM_JOIN: return "KSTREAM-JOINTHIS-";
        case SL_NODE_STREAM_JOIN_MERGE: return "KSTREAM-MERGE-";
        case SL_NODE_TABLE_JOIN: return "KTABLE-JOINTHIS-";
        case SL_NODE_TABLE_JOIN_MERGE: return "KTABLE-MERGE-";
        case SL_NODE_FK_SEND:
                return "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-";
        case SL_NODE_FK_JOIN: return "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-";
        }
        return "KSTREAM-";
}

static int stores_freeze(sluice_topology_t *t, const char *app_id,
                         char *errstr, size_t errstr_size);
static void stores_free(sluice_topology_t *t);

/* t->error when even the message could not be allocated */
static char oom_error[] = "out of memory";

/* Record the first builder mistake. */
void sl_topo_error(sluice_topology_t *t, const char *fmt, ...)
    SL_PRINTF(2, 3);
void sl_topo_error(sluice_topology_t *t, const char *fmt, ...) {
        char buf[SL_ERRSTR_SIZE];
        va_list ap;
        if (t->error)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        t->error = sl_strdup(buf);
        if (!t->error) /* remember that something failed, even without text */
                t->error = oom_error;
}

int sl_grow(void **arr, size_t *cap, size_t cnt, size_t elem) {
        void *p;
        size_t ncap;
        if (cnt < *cap)
                return 0;
        ncap = *cap ? *cap * 2 : 8;
        p    = realloc(*arr, ncap * elem);
        if (!p)
                return -1;
        *arr = p;
        *cap = ncap;
        return 0;
}

sluice_topology_t *sluice_topology_new(void) {
        return calloc(1, sizeof(sluice_topology_t));
}

static void node_free(sl_node_t *n) {
        size_t i;
        free(n->name);
        free(n->priv);
        for (i = 0; i < n->topic_cnt; i++)
                free(n->topics[i]);
        free(n->topics);
        free(n->pattern);
        if (n->has_re)
                regfree(&n->re);
        free(n->topic);
        free(n->stores);
        free(n->children);
        free(n->parents);
        free(n);
}

void sluice_topology_destroy(sluice_topology_t *t) {
        size_t i;
        if (!t)
                return;
        for (i = 0; i < t->node_cnt; i++)
                node_free(t->nodes[i]);
        for (i = 0; i < t->stream_cnt; i++)
                free(t->streams[i]);
        for (i = 0; i < t->sink_cnt; i++)
                free(t->sinks[i]);
        free(t->nodes);
        free(t->streams);
        free(t->sinks);
        stores_free(t);
        sl_global_defs_free(t);
        free(t->app_id);
        if (t->error != oom_error)
                free(t->error);
        free(t);
}

/* A builder call on a frozen topology changes nothing, not even t->error:
 * drivers and apps on other threads read the topology. */
int sl_topo_check_open(sluice_topology_t *t, const char *call) {
        (void)call;
        return t->frozen ? -1 : 0;
}

int sl_node_link(sl_node_t *parent, sl_node_t *child) {
        if (sl_grow((void **)&parent->children, &parent->child_cap,
                 parent->child_cnt, sizeof(sl_node_t *)) ||
            sl_grow((void **)&child->parents, &child->parent_cap,
                 child->parent_cnt, sizeof(sl_node_t *)))
                return -1;
        parent->children[parent->child_cnt++] = child;
        child->parents[child->parent_cnt++]   = parent;
        return 0;
}

sl_node_t *sl_node_new(sluice_topology_t *t, sl_node_kind_t kind,
                       const sl_node_ops_t *ops, sl_node_t *parent) {
        char name[64];
        sl_node_t *n;
        if (sl_grow((void **)&t->nodes, &t->node_cap, t->node_cnt,
                 sizeof(sl_node_t *)))
                goto oom;
        n = calloc(1, sizeof(*n));
        if (!n)
                goto oom;
        n->ops   = ops;
        n->kind  = kind;
        n->id    = (int)t->node_cnt;
        n->store = -1;
        snprintf(name, sizeof(name), "%s%010d", kind_prefix(kind),
                 t->name_seq++);
        n->name = sl_strdup(name);
        if (!n->name) {
                free(n);
                goto oom;
        }
        t->nodes[t->node_cnt++] = n;
        if (parent && sl_node_link(parent, n))
                goto oom;
        return n;
oom:
        sl_topo_error(t, "out of memory while adding a node");
        return NULL;
}

sluice_stream_t *sl_stream_new(sluice_topology_t *t, sl_node_t *node,
                                   const sluice_serde_t *ks,
                                   const sluice_serde_t *vs) {
        sluice_stream_t *s;
        if (!node)
                return NULL;
        if (sl_grow((void **)&t->streams, &t->stream_cap, t->stream_cnt,
                 sizeof(*t->streams)) ||
            !(s = calloc(1, sizeof(*s)))) {
                sl_topo_error(t, "out of memory while adding a stream");
                return NULL;
        }
        s->t                        = t;
        s->node                     = node;
        s->key_serde                = ks;
        s->value_serde              = vs;
        t->streams[t->stream_cnt++] = s;
        return s;
}

int sl_serde_check(sluice_topology_t *t, const char *call,
                       const char *what, const sluice_serde_t *serde) {
        if (!serde)
                return 0;
        if (serde->version != SLUICE_SERDE_VERSION || !serde->serialize ||
            !serde->deserialize) {
                sl_topo_error(t,
                             "%s: %s serde \"%s\" is not a valid "
                             "sluice_serde_t (version %d, expected %d, and "
                             "both functions set)",
                             call, what, serde->name ? serde->name : "?",
                             serde->version, SLUICE_SERDE_VERSION);
                return -1;
        }
        return 0;
}

/* Is @topic already read by a source? */
static const sl_node_t *topic_source(const sluice_topology_t *t,
                                     const char *topic) {
        size_t i, j;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                if (n->kind != SL_NODE_SOURCE)
                        continue;
                for (j = 0; j < n->topic_cnt; j++)
                        if (!strcmp(n->topics[j], topic))
                                return n;
        }
        return NULL;
}

static sluice_stream_t *source_new(sluice_topology_t *t, const char *call,
                                   const char *const *topics, size_t cnt,
                                   const char *pattern,
                                   const sluice_serde_t *ks,
                                   const sluice_serde_t *vs) {
        sl_node_t *n;
        size_t i;
        char why[SL_ERRSTR_SIZE];

        if (sl_topo_check_open(t, call) || sl_serde_check(t, call, "key", ks) ||
            sl_serde_check(t, call, "value", vs))
                return NULL;
        if (!ks)
                ks = sluice_serde_bytes();
        if (!vs)
                vs = sluice_serde_bytes();
        if (!pattern) {
                if (!topics || cnt == 0) {
                        sl_topo_error(t, "%s: no topic given", call);
                        return NULL;
                }
                for (i = 0; i < cnt; i++) {
                        const sl_node_t *other;
                        if (!sl_topic_name_valid(topics[i], why,
                                                 sizeof(why))) {
                                sl_topo_error(t, "%s: %s", call, why);
                                return NULL;
                        }
                        if ((other = topic_source(t, topics[i]))) {
                                sl_topo_error(t,
                                             "%s: topic \"%s\" is already "
                                             "read by source \"%s\"",
                                             call, topics[i], other->name);
                                return NULL;
                        }
                }
        }
        n = sl_node_new(t, SL_NODE_SOURCE, &sl_source_ops, NULL);
        if (!n)
                return NULL;
        n->key_serde   = ks;
        n->value_serde = vs;
        if (pattern) {
                /* anchor: the whole topic name must match, as in Kafka */
                size_t plen = strlen(pattern);
                char *full  = malloc(plen + 5);
                int rc;
                if (!full) {
                        sl_topo_error(t, "out of memory");
                        return NULL;
                }
                snprintf(full, plen + 5, "^(%s)$", pattern);
                rc = regcomp(&n->re, full, REG_EXTENDED | REG_NOSUB);
                free(full);
                if (rc) {
                        regerror(rc, &n->re, why, sizeof(why));
                        sl_topo_error(t, "%s: invalid pattern \"%s\": %s", call,
                                     pattern, why);
                        return NULL;
                }
                n->has_re  = 1;
                n->pattern = sl_strdup(pattern);
                if (!n->pattern) {
                        sl_topo_error(t, "out of memory");
                        return NULL;
                }
        } else {
                n->topics = calloc(cnt, sizeof(char *));
                if (!n->topics) {
                        sl_topo_error(t, "out of memory");
                        return NULL;
                }
                for (i = 0; i < cnt; i++) {
                        n->topics[i] = sl_strdup(topics[i]);
                        if (!n->topics[i]) {
                                sl_topo_error(t, "out of memory");
                                return NULL;
                        }
                        n->topic_cnt++;
                }
        }
        return sl_stream_new(t, n, ks, vs);
}

sluice_stream_t *sluice_stream_from(sluice_topology_t *t, const char *topic,
                                    const sluice_serde_t *key_serde,
                                    const sluice_serde_t *value_serde) {
        if (!t)
                return NULL;
        if (!topic) {
                sl_topo_error(t, "sluice_stream_from: topic is NULL");
                return NULL;
        }
        return source_new(t, "sluice_stream_from", &topic, 1, NULL, key_serde,
                          value_serde);
}

sluice_stream_t *sluice_stream_from_topics(sluice_topology_t *t,
                                           const char *const *topics,
                                           size_t topic_cnt,
                                           const sluice_serde_t *key_serde,
                                           const sluice_serde_t *value_serde) {
        size_t i, j;
        if (!t)
                return NULL;
        for (i = 0; topics && i < topic_cnt; i++) {
                if (!topics[i]) {
                        sl_topo_error(t, "sluice_stream_from_topics: topic "
                                        "%zu is NULL",
                                     i);
                        return NULL;
                }
                for (j = 0; j < i; j++)
                        if (!strcmp(topics[i], topics[j])) {
                                sl_topo_error(t,
                                             "sluice_stream_from_topics: "
                                             "topic \"%s\" is listed twice",
                                             topics[i]);
                                return NULL;
                        }
        }
        return source_new(t, "sluice_stream_from_topics", topics, topic_cnt,
                          NULL, key_serde, value_serde);
}

sluice_stream_t *sluice_stream_from_pattern(sluice_topology_t *t,
                                            const char *pattern,
                                            const sluice_serde_t *key_serde,
                                            const sluice_serde_t *value_serde) {
        if (!t)
                return NULL;
        if (!pattern || !*pattern) {
                sl_topo_error(t, "sluice_stream_from_pattern: pattern is "
                                "empty");
                return NULL;
        }
        return source_new(t, "sluice_stream_from_pattern", NULL, 0, pattern,
                          key_serde, value_serde);
}

sluice_stream_t *sluice_stream_named(sluice_stream_t *s, const char *name) {
        sluice_topology_t *t;
        size_t i;
        char *dup;
        if (!s)
                return NULL;
        t = s->t;
        if (sl_topo_check_open(t, "sluice_stream_named"))
                return s;
        if (!name || !*name) {
                sl_topo_error(t, "sluice_stream_named: name is empty");
                return s;
        }
        for (i = 0; i < t->node_cnt; i++) {
                if (t->nodes[i] != s->node && !strcmp(t->nodes[i]->name, name)) {
                        sl_topo_error(t,
                                     "sluice_stream_named: a node named "
                                     "\"%s\" already exists",
                                     name);
                        return s;
                }
        }
        dup = sl_strdup(name);
        if (!dup) {
                sl_topo_error(t, "out of memory");
                return s;
        }
        free(s->node->name);
        s->node->name = dup;
        return s;
}

sluice_stream_t *sluice_stream_with_serdes(sluice_stream_t *s,
                                           const sluice_serde_t *key_serde,
                                           const sluice_serde_t *value_serde) {
        if (!s)
                return NULL;
        if (sl_topo_check_open(s->t, "sluice_stream_with_serdes") ||
            sl_serde_check(s->t, "sluice_stream_with_serdes", "key", key_serde) ||
            sl_serde_check(s->t, "sluice_stream_with_serdes", "value",
                        value_serde))
                return NULL;
        {
                sluice_stream_t *out = sl_stream_new(
                    s->t, s->node, key_serde ? key_serde : s->key_serde,
                    value_serde ? value_serde : s->value_serde);
                if (out)
                        out->key_changed = s->key_changed;
                return out;
        }
}

sluice_stream_t *sluice_stream_repartition(sluice_stream_t *s,
                                           const char *name,
                                           int32_t partitions) {
        return sl_repartition(s, "sluice_stream_repartition", name,
                              partitions, 0);
}

sluice_stream_t *sl_repartition(sluice_stream_t *s, const char *call,
                                const char *name, int32_t partitions,
                                int change) {
        char gen[64], buf[SL_ERRSTR_SIZE];
        if (!s)
                return NULL;
        if (!name) {
                snprintf(gen, sizeof(gen), "KSTREAM-REPARTITION-%010d",
                         s->t->name_seq++);
                name = gen;
        }
        snprintf(buf, sizeof(buf), "%s-repartition", name);
        return sl_internal_topic(s, call, buf, name, partitions, change);
}

sluice_stream_t *sl_internal_topic(sluice_stream_t *s, const char *call,
                                   const char *buf, const char *name,
                                   int32_t partitions, int change) {
        sluice_topology_t *t;
        sl_node_t *sink, *src;
        size_t i;
        if (!s)
                return NULL;
        t = s->t;
        if (sl_topo_check_open(t, call))
                return NULL;
        if (partitions < 0) {
                sl_topo_error(t, "%s: partitions must be 0 (as the input) or more",
                              call);
                return NULL;
        }
        if (!s->key_serde || !s->value_serde) {
                sl_topo_error(t, "%s: the stream's serdes are unknown; pass them "
                                 "or declare them with "
                                 "sluice_stream_with_serdes()",
                              call);
                return NULL;
        }
        if (!sl_topic_name_valid(buf, NULL, 0) || strlen(buf) > 200) {
                sl_topo_error(t,
                              "%s: \"%s\" cannot name a topic (legal: a-z "
                              "A-Z 0-9 . _ -)",
                              call, name);
                return NULL;
        }
        for (i = 0; i < t->node_cnt; i++)
                if (t->nodes[i]->internal && t->nodes[i]->kind == SL_NODE_SINK &&
                    !strcmp(t->nodes[i]->topic, buf)) {
                        sl_topo_error(t,
                                      "%s: a repartition named \"%s\" "
                                      "already exists",
                                      call, name);
                        return NULL;
                }
        if (!(sink = sl_node_new(t, SL_NODE_SINK, &sl_sink_ops, s->node)) ||
            !(src = sl_node_new(t, SL_NODE_SOURCE, &sl_source_ops, NULL)))
                return NULL;
        sink->internal = src->internal = 1;
        sink->change = src->change = change;
        sink->partitions = src->partitions = partitions;
        sink->peer                         = src;
        src->peer                          = sink;
        sink->key_serde = src->key_serde = s->key_serde;
        sink->value_serde = src->value_serde = s->value_serde;
        free(sink->name);
        free(src->name);
        sink->name  = malloc(strlen(buf) + 8);
        src->name   = malloc(strlen(buf) + 8);
        sink->topic = sl_strdup(buf);
        src->topics = calloc(1, sizeof(char *));
        if (!sink->name || !src->name || !sink->topic || !src->topics ||
            !(src->topics[0] = sl_strdup(buf))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        src->topic_cnt = 1;
        snprintf(sink->name, strlen(buf) + 8, "%s-sink", buf);
        snprintf(src->name, strlen(buf) + 8, "%s-source", buf);
        return sl_stream_new(t, src, s->key_serde, s->value_serde);
}

static sluice_sink_t *sink_new(sluice_stream_t *s, const char *call,
                               const char *topic, sluice_topic_cb *cb,
                               void *opaque, const sluice_serde_t *ks,
                               const sluice_serde_t *vs) {
        sluice_topology_t *t;
        sl_node_t *n;
        sluice_sink_t *sink;
        char why[SL_ERRSTR_SIZE];
        if (!s)
                return NULL;
        t = s->t;
        if (sl_topo_check_open(t, call) || sl_serde_check(t, call, "key", ks) ||
            sl_serde_check(t, call, "value", vs))
                return NULL;
        if (!cb && !sl_topic_name_valid(topic, why, sizeof(why))) {
                sl_topo_error(t, "%s: %s", call, why);
                return NULL;
        }
        if (cb == NULL && topic == NULL) {
                sl_topo_error(t, "%s: topic callback is NULL", call);
                return NULL;
        }
        if (!ks)
                ks = s->key_serde;
        if (!vs)
                vs = s->value_serde;
        if (!ks || !vs) {
                sl_topo_error(t,
                             "%s(%s): the stream's %s serde is unknown (the "
                             "streams merged into it have different serdes); "
                             "pass one",
                             call, topic ? topic : "dynamic",
                             !ks ? "key" : "value");
                return NULL;
        }
        n = sl_node_new(t, SL_NODE_SINK, &sl_sink_ops, s->node);
        if (!n)
                return NULL;
        n->key_serde    = ks;
        n->value_serde  = vs;
        n->topic_cb     = cb;
        n->topic_opaque = opaque;
        if (topic && !(n->topic = sl_strdup(topic))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        if (sl_grow((void **)&t->sinks, &t->sink_cap, t->sink_cnt,
                 sizeof(*t->sinks)) ||
            !(sink = calloc(1, sizeof(*sink)))) {
                sl_topo_error(t, "out of memory");
                return NULL;
        }
        sink->t                  = t;
        sink->node               = n;
        t->sinks[t->sink_cnt++] = sink;
        return sink;
}

sluice_sink_t *sluice_stream_to(sluice_stream_t *s, const char *topic,
                                const sluice_serde_t *key_serde,
                                const sluice_serde_t *value_serde) {
        if (s && !topic) {
                sl_topo_error(s->t, "sluice_stream_to: topic is NULL");
                return NULL;
        }
        return sink_new(s, "sluice_stream_to", topic, NULL, NULL, key_serde,
                        value_serde);
}

sluice_sink_t *sluice_stream_to_dynamic(sluice_stream_t *s,
                                        sluice_topic_cb *cb, void *opaque,
                                        const sluice_serde_t *key_serde,
                                        const sluice_serde_t *value_serde) {
        if (s && !cb) {
                sl_topo_error(s->t,
                             "sluice_stream_to_dynamic: topic callback is "
                             "NULL");
                return NULL;
        }
        return sink_new(s, "sluice_stream_to_dynamic", NULL, cb, opaque,
                        key_serde, value_serde);
}

int sluice_sink_set_partitioner(sluice_sink_t *sink, sluice_partitioner_cb *cb,
                                void *opaque) {
        if (!sink)
                return SLUICE_ERR_INVALID_ARG;
        if (sl_topo_check_open(sink->t, "sluice_sink_set_partitioner"))
                return SLUICE_ERR_TOPOLOGY;
        sink->node->part_cb     = cb;
        sink->node->part_opaque = opaque;
        return 0;
}

/* ---- stores (every store has the changelog
 * <application.id>-<store>-changelog) ---- */

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

/* Freeze-time work for stores: changelog names, sub-topologies, which
 * table nodes send old values. 0 or an error with errstr. */
static int stores_freeze(sluice_topology_t *t, const char *app_id,
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
        /* a processor store belongs to one sub-topology; so does one a
         * node keeps without forwarding its flushes (a suppression) */
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                if (nd->store >= 0 && t->stores[nd->store]->subtopology < 0)
                        t->stores[nd->store]->subtopology = nd->subtopology;
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
        if (sl_table_freeze(t, errstr, errstr_size) ||
            sl_join_freeze(t, errstr, errstr_size) ||
            sl_global_freeze(t, errstr, errstr_size))
                return SLUICE_ERR_TOPOLOGY;
        return 0;
}

static void stores_free(sluice_topology_t *t) {
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
        for (i = 0; i < t->windowed_cnt; i++)
                free(t->windoweds[i]);
        free(t->stores);
        free(t->tables);
        free(t->groupeds);
        free(t->windoweds);
}

/* ---- validation and sub-topologies ---- */

/* Do @a and @b touch one store (one owns it or is connected to it, the
 * other is connected to it)? Such nodes run in one sub-topology, as Kafka
 * Streams groups processors that share a store. */
static int share_store(const sl_node_t *a, const sl_node_t *b) {
        size_t i, j;
        for (i = 0; i < a->store_cnt; i++) {
                if (b->store == a->stores[i])
                        return 1;
                for (j = 0; j < b->store_cnt; j++)
                        if (b->stores[j] == a->stores[i])
                                return 1;
        }
        for (j = 0; j < b->store_cnt; j++)
                if (a->store >= 0 && a->store == b->stores[j])
                        return 1;
        return 0;
}

/* Label each node with its connected component (via parent/child edges,
 * and between nodes that share a store); components are numbered in the
 * order of their lowest node id. Returns the number of components. */
int sl_label_subtopologies(const sluice_topology_t *t, int *labels) {
        size_t i;
        int next = 0;
        sl_node_t **stack;
        for (i = 0; i < t->node_cnt; i++)
                labels[i] = -1;
        stack = malloc((t->node_cnt + 1) * sizeof(*stack));
        if (!stack)
                return -1;
        for (i = 0; i < t->node_cnt; i++) {
                size_t sp = 0;
                if (labels[i] >= 0)
                        continue;
                labels[i]   = next;
                stack[sp++] = t->nodes[i];
                while (sp > 0) {
                        sl_node_t *n = stack[--sp];
                        size_t j;
                        for (j = 0; j < n->child_cnt + n->parent_cnt; j++) {
                                sl_node_t *m = j < n->child_cnt
                                                   ? n->children[j]
                                                   : n->parents[j - n->child_cnt];
                                if (labels[m->id] < 0) {
                                        labels[m->id] = next;
                                        stack[sp++]   = m;
                                }
                        }
                        if (n->store < 0 && !n->store_cnt)
                                continue;
                        for (j = 0; j < t->node_cnt; j++) {
                                sl_node_t *m = t->nodes[j];
                                if (labels[j] < 0 &&
                                    (share_store(n, m) || share_store(m, n))) {
                                        labels[j]   = next;
                                        stack[sp++] = m;
                                }
                        }
                }
                next++;
        }
        free(stack);
        return next;
}

sluice_resp_t sluice_topology_validate(const sluice_topology_t *t,
                                       char *errstr, size_t errstr_size) {
        size_t i;
        int sources = 0;
        if (!t) {
                sl_errstr(errstr, errstr_size, "topology is NULL");
                return SLUICE_ERR_INVALID_ARG;
        }
        if (t->error) {
                sl_errstr(errstr, errstr_size, "%s", t->error);
                return SLUICE_ERR_TOPOLOGY;
        }
        for (i = 0; i < t->node_cnt; i++)
                if (t->nodes[i]->kind == SL_NODE_SOURCE)
                        sources++;
        if (!sources) {
                sl_errstr(errstr, errstr_size,
                          "the topology has no source: add one with "
                          "sluice_stream_from()");
                return SLUICE_ERR_TOPOLOGY;
        }
        if (sl_global_freeze(t, errstr, errstr_size))
                return SLUICE_ERR_TOPOLOGY;
        return SLUICE_OK;
}

/* "<app_id>-<suffix>", or NULL on OOM */
static char *prefixed(const char *app_id, const char *suffix) {
        size_t n = strlen(app_id) + strlen(suffix) + 2;
        char *r  = malloc(n);
        if (r)
                snprintf(r, n, "%s-%s", app_id, suffix);
        return r;
}

int sl_topology_freeze(sluice_topology_t *t, const char *app_id, char *errstr,
                       size_t errstr_size) {
        int *labels, n;
        size_t i;
        if (t->frozen) {
                if (strcmp(t->app_id, app_id)) {
                        sl_errstr(errstr, errstr_size,
                                  "the topology is already in use with "
                                  "application.id \"%s\" (its internal "
                                  "topics are named after it)",
                                  t->app_id);
                        return SLUICE_ERR_TOPOLOGY;
                }
                return 0;
        }
        if (sluice_topology_validate(t, errstr, errstr_size))
                return SLUICE_ERR_TOPOLOGY;
        if (!(t->app_id = sl_strdup(app_id)))
                goto oom;
        for (i = 0; i < t->node_cnt; i++) {
                sl_node_t *nd = t->nodes[i];
                char **slot, *full;
                if (!nd->internal)
                        continue;
                /* only now: a map or filter node has no topics array */
                slot = nd->kind == SL_NODE_SINK ? &nd->topic : &nd->topics[0];
                if (!(full = prefixed(app_id, *slot)))
                        goto oom;
                free(*slot);
                *slot = full;
        }
        labels = malloc(t->node_cnt * sizeof(int));
        if (!labels || (n = sl_label_subtopologies(t, labels)) < 0) {
                free(labels);
                goto oom;
        }
        for (i = 0; i < t->node_cnt; i++)
                t->nodes[i]->subtopology = labels[i];
        free(labels);
        t->subtopology_cnt = n;
        {
                int err = stores_freeze(t, app_id, errstr,
                                                   errstr_size);
                if (err)
                        return err;
        }
        t->frozen          = 1;
        return 0;
oom:
        sl_errstr(errstr, errstr_size, "out of memory");
        return SLUICE_ERR_NOMEM;
}

sl_node_t *sl_topology_source_for(const sluice_topology_t *t,
                                  const char *topic) {
        size_t i;
        const sl_node_t *n = topic_source(t, topic);
        if (n)
                return (sl_node_t *)n;
        for (i = 0; i < t->node_cnt; i++) {
                sl_node_t *m = t->nodes[i];
                if (m->kind == SL_NODE_SOURCE && m->has_re &&
                    regexec(&m->re, topic, 0, NULL, 0) == 0)
                        return m;
        }
        return NULL;
}

size_t sl_topology_copartition_topics(const sluice_topology_t *t, int sub,
                                      const char **out, size_t size) {
        size_t i, j, cnt = 0;
        int wanted = 0;
        for (i = 0; i < t->node_cnt; i++)
                if (t->nodes[i]->subtopology == sub &&
                    t->nodes[i]->copartition)
                        wanted = 1;
        for (i = 0; wanted && i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                if (n->kind != SL_NODE_SOURCE || n->subtopology != sub)
                        continue;
                for (j = 0; j < n->topic_cnt; j++, cnt++)
                        if (cnt < size)
                                out[cnt] = n->topics[j];
        }
        return cnt;
}

/* ---- describe ---- */

static void describe_list(sl_str_t *s, const char *arrow, sl_node_t **nodes,
                          size_t cnt) {
        size_t i;
        sl_str_printf(s, "      %s ", arrow);
        if (!cnt)
                sl_str_printf(s, "none");
        for (i = 0; i < cnt; i++)
                sl_str_printf(s, "%s%s", i ? ", " : "", nodes[i]->name);
        sl_str_printf(s, "\n");
}

static void describe_topics(sl_str_t *s, const sl_node_t *n) {
        size_t i;
        if (n->pattern) {
                sl_str_printf(s, "(topics: %s)", n->pattern);
                return;
        }
        sl_str_printf(s, "(topics: [");
        for (i = 0; i < n->topic_cnt; i++)
                sl_str_printf(s, "%s%s", i ? ", " : "", n->topics[i]);
        sl_str_printf(s, "])");
}

char *sluice_topology_describe(const sluice_topology_t *t) {
        sl_str_t s = {0};
        int *labels = NULL, cnt = 0, sub;
        size_t i;
        if (!t)
                return NULL;
        if (t->node_cnt &&
            (!(labels = malloc(t->node_cnt * sizeof(int))) ||
             (cnt = sl_label_subtopologies(t, labels)) < 0)) {
                free(labels);
                return NULL;
        }
        if (!t->node_cnt)
                cnt = 0;
        sl_str_printf(&s, "Topologies:\n");
        for (sub = 0; sub < cnt; sub++) {
                sl_str_printf(&s, "   Sub-topology: %d\n", sub);
                for (i = 0; i < t->node_cnt; i++) {
                        const sl_node_t *n = t->nodes[i];
                        if (labels[i] != sub)
                                continue;
                        if (n->kind == SL_NODE_SOURCE) {
                                sl_str_printf(&s, "    Source: %s ", n->name);
                                describe_topics(&s, n);
                                sl_str_printf(&s, "\n");
                                describe_list(&s, "-->", n->children,
                                              n->child_cnt);
                        } else if (n->kind == SL_NODE_SINK) {
                                if (n->topic)
                                        sl_str_printf(&s,
                                                      "    Sink: %s (topic: "
                                                      "%s)\n",
                                                      n->name, n->topic);
                                else
                                        sl_str_printf(&s,
                                                      "    Sink: %s (topic "
                                                      "extractor)\n",
                                                      n->name);
                                describe_list(&s, "<--", n->parents,
                                              n->parent_cnt);
                        } else {
                                size_t k;
                                sl_str_printf(&s,
                                              "    Processor: %s (stores: [",
                                              n->name);
                                if (n->store >= 0)
                                        sl_str_printf(
                                            &s, "%s",
                                            t->stores[n->store]->name);
                                for (k = 0; k < n->store_cnt; k++)
                                        sl_str_printf(
                                            &s, "%s%s", k ? ", " : "",
                                            t->stores[n->stores[k]]->name);
                                sl_str_printf(&s, "])\n");
                                describe_list(&s, "-->", n->children,
                                              n->child_cnt);
                                describe_list(&s, "<--", n->parents,
                                              n->parent_cnt);
                        }
                }
                sl_str_printf(&s, "\n");
        }
        sl_global_describe(t, cnt, &s);
        free(labels);
        return sl_str_take(&s);
}

/* DOT string literal: escape quotes and backslashes. */
static void dot_quoted(sl_str_t *s, const char *prefix, const char *text) {
        sl_str_printf(s, "\"%s", prefix);
        for (; *text; text++) {
                if (*text == '"' || *text == '\\')
                        sl_str_printf(s, "\\%c", *text);
                else
                        sl_str_printf(s, "%c", *text);
        }
        sl_str_printf(s, "\"");
}

char *sluice_topology_describe_dot(const sluice_topology_t *t) {
        sl_str_t s = {0};
        int *labels = NULL, cnt = 0, sub;
        size_t i, j;
        if (!t)
                return NULL;
        if (t->node_cnt &&
            (!(labels = malloc(t->node_cnt * sizeof(int))) ||
             (cnt = sl_label_subtopologies(t, labels)) < 0)) {
                free(labels);
                return NULL;
        }
        sl_str_printf(&s, "digraph topology {\n  rankdir=LR;\n  node "
                          "[fontname=\"Helvetica\", fontsize=10];\n");
        for (sub = 0; sub < cnt; sub++) {
                sl_str_printf(&s,
                              "  subgraph cluster_%d {\n    label=\"Sub-"
                              "topology %d\";\n    style=rounded;\n",
                              sub, sub);
                for (i = 0; i < t->node_cnt; i++) {
                        const sl_node_t *n = t->nodes[i];
                        if (labels[i] != sub)
                                continue;
                        sl_str_printf(&s, "    ");
                        dot_quoted(&s, "", n->name);
                        sl_str_printf(&s, " [shape=%s];\n",
                                      n->kind == SL_NODE_SOURCE ||
                                              n->kind == SL_NODE_SINK
                                          ? "invhouse"
                                          : "box");
                }
                sl_str_printf(&s, "  }\n");
        }
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                for (j = 0; j < n->child_cnt; j++) {
                        sl_str_printf(&s, "  ");
                        dot_quoted(&s, "", n->name);
                        sl_str_printf(&s, " -> ");
                        dot_quoted(&s, "", n->children[j]->name);
                        sl_str_printf(&s, ";\n");
                }
                if (n->kind == SL_NODE_SOURCE) {
                        const char *label = n->pattern;
                        for (j = 0; j < (label ? 1 : n->topic_cnt); j++) {
                                const char *topic = label ? label : n->topics[j];
                                sl_str_printf(&s, "  ");
                                dot_quoted(&s, "topic:", topic);
                                sl_str_printf(&s, " [shape=ellipse, label=");
                                dot_quoted(&s, "", topic);
                                sl_str_printf(&s, "];\n  ");
                                dot_quoted(&s, "topic:", topic);
                                sl_str_printf(&s, " -> ");
                                dot_quoted(&s, "", n->name);
                                sl_str_printf(&s, ";\n");
                        }
                } else if (n->kind == SL_NODE_SINK) {
                        const char *topic = n->topic ? n->topic : "(dynamic)";
                        sl_str_printf(&s, "  ");
                        dot_quoted(&s, "topic:", topic);
                        sl_str_printf(&s, " [shape=ellipse, label=");
                        dot_quoted(&s, "", topic);
                        sl_str_printf(&s, "];\n  ");
                        dot_quoted(&s, "", n->name);
                        sl_str_printf(&s, " -> ");
                        dot_quoted(&s, "topic:", topic);
                        sl_str_printf(&s, ";\n");
                }
        }
        sl_str_printf(&s, "}\n");
        free(labels);
        return sl_str_take(&s);
}

/* ---- co-partitioning ---- */

/* Add the source topics upstream of @n (through parents, and through the
 * owners of the stores it reads) to @g. 0 or -1 (OOM). */
static int copart_collect(const sluice_topology_t *t, const sl_node_t *n,
                          char *seen, sl_copartition_group_t *g) {
        size_t i, j;
        if (seen[n->id])
                return 0;
        seen[n->id] = 1;
        if (n->kind == SL_NODE_SOURCE) {
                if (n->pattern)
                        return 0;
                for (i = 0; i < n->topic_cnt; i++) {
                        char **tp;
                        for (j = 0; j < g->topic_cnt; j++)
                                if (!strcmp(g->topics[j], n->topics[i]))
                                        break;
                        if (j < g->topic_cnt)
                                continue;
                        tp = realloc(g->topics,
                                     (g->topic_cnt + 1) * sizeof(char *));
                        if (!tp)
                                return -1;
                        g->topics                 = tp;
                        g->topics[g->topic_cnt++] = n->topics[i];
                }
                return 0;
        }
        for (i = 0; i < n->parent_cnt; i++)
                if (copart_collect(t, n->parents[i], seen, g))
                        return -1;
        for (i = 0; i < n->store_cnt; i++) {
                const sl_node_t *owner = t->stores[n->stores[i]]->owner;
                if (owner && copart_collect(t, owner, seen, g))
                        return -1;
        }
        return 0;
}

static int copart_overlap(const sl_copartition_group_t *a,
                          const sl_copartition_group_t *b) {
        size_t i, j;
        for (i = 0; i < a->topic_cnt; i++)
                for (j = 0; j < b->topic_cnt; j++)
                        if (!strcmp(a->topics[i], b->topics[j]))
                                return 1;
        return 0;
}

int sl_topology_copartition_groups(const sluice_topology_t *t,
                                   sl_copartition_group_t **groups,
                                   size_t *cnt) {
        sl_copartition_group_t *g = NULL;
        size_t n = 0, i, k;
        char *seen = NULL;
        *groups    = NULL;
        *cnt       = 0;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                sl_copartition_group_t cur = {nd->subtopology, NULL, 0};
                /* one group per join: the merge of a two-sided join is
                 * reached from both sides, so start from the first side */
                if (!nd->copartition)
                        continue;
                if (!seen && !(seen = malloc(t->node_cnt)))
                        goto oom;
                memset(seen, 0, t->node_cnt);
                if (nd->kind == SL_NODE_STREAM_JOIN ||
                    nd->kind == SL_NODE_TABLE_JOIN) {
                        /* both sides: through the merge's parents */
                        const sl_node_t *m = nd->child_cnt ? nd->children[0]
                                                           : nd;
                        if (copart_collect(t, m, seen, &cur))
                                goto oom_cur;
                } else if (copart_collect(t, nd, seen, &cur)) {
                        goto oom_cur;
                }
                /* merge into a group of the same sub-topology sharing a
                 * topic (or the same topics) */
                for (k = 0; k < n; k++) {
                        size_t j;
                        if (g[k].subtopology != cur.subtopology ||
                            !copart_overlap(&g[k], &cur))
                                continue;
                        for (j = 0; j < cur.topic_cnt; j++) {
                                sl_copartition_group_t one = {0, &cur.topics[j],
                                                              1};
                                char **tp;
                                if (copart_overlap(&g[k], &one))
                                        continue;
                                tp = realloc(g[k].topics,
                                             (g[k].topic_cnt + 1) *
                                                 sizeof(char *));
                                if (!tp)
                                        goto oom_cur;
                                g[k].topics                    = tp;
                                g[k].topics[g[k].topic_cnt++] = cur.topics[j];
                        }
                        break;
                }
                if (k < n) {
                        free(cur.topics);
                        continue;
                }
                {
                        sl_copartition_group_t *ng =
                            realloc(g, (n + 1) * sizeof(*g));
                        if (!ng)
                                goto oom_cur;
                        g      = ng;
                        g[n++] = cur;
                }
                continue;
        oom_cur:
                free(cur.topics);
                goto oom;
        }
        free(seen);
        *groups = g;
        *cnt    = n;
        return 0;
oom:
        free(seen);
        sl_copartition_groups_free(g, n);
        return SLUICE_ERR_NOMEM;
}

void sl_copartition_groups_free(sl_copartition_group_t *groups, size_t cnt) {
        size_t i;
        for (i = 0; i < cnt; i++)
                free(groups[i].topics);
        free(groups);
}
