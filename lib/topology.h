/*
 * topology.h - the processor graph the builder makes and tasks run.
 */
#ifndef SLUICE_TOPOLOGY_H
#define SLUICE_TOPOLOGY_H

#include "common.h"

#include <regex.h>

typedef enum {
        SL_NODE_SOURCE,
        SL_NODE_MAP,
        SL_NODE_MAP_VALUES,
        SL_NODE_SELECT_KEY,
        SL_NODE_FILTER,
        SL_NODE_FILTER_NOT,
        SL_NODE_FLAT_MAP,
        SL_NODE_FLAT_MAP_VALUES,
        SL_NODE_PEEK,
        SL_NODE_FOREACH,
        SL_NODE_MERGE,
        SL_NODE_BRANCH,
        SL_NODE_BRANCH_CHILD,
        SL_NODE_SINK,
        /* stateful and table nodes */
        SL_NODE_AGGREGATE,       /* stream count/reduce/aggregate */
        SL_NODE_TABLE_AGGREGATE, /* table count/reduce/aggregate */
        SL_NODE_TABLE_SOURCE,    /* materializes a table read from a topic */
        SL_NODE_TABLE_FILTER,
        SL_NODE_TABLE_FILTER_NOT,
        SL_NODE_TABLE_MAP_VALUES,
        SL_NODE_TO_STREAM,
        SL_NODE_TABLE_GROUP_BY, /* table rows -> Change(new, old) per key */
        SL_NODE_PROCESSOR,
        SL_NODE_WINDOW_AGGREGATE, /* windowed count/reduce/aggregate */
        SL_NODE_SUPPRESS,         /* a table's suppress() buffer */
        /* joins (lib/op_join.c) */
        SL_NODE_STREAM_TABLE_JOIN, /* a stream record looks its key up */
        SL_NODE_STREAM_JOIN,       /* one side of a stream-stream join */
        SL_NODE_STREAM_JOIN_MERGE, /* both sides' results */
        SL_NODE_TABLE_JOIN,        /* one side of a table-table join */
        SL_NODE_TABLE_JOIN_MERGE,  /* both sides' results: the table */
        SL_NODE_FK_SEND, /* foreign-key join: a left row's subscriptions */
        SL_NODE_FK_JOIN  /* foreign-key join: its other nodes */
} sl_node_kind_t;

/* A state store of the topology; one instance per task of its
 * sub-topology. */
typedef struct sl_store_def_s {
        char *name;
        char *type;      /* backend name; NULL: the conf's default */
        char *changelog; /* "<app>-<name>-changelog", set at freeze */
        int idx;         /* in t->stores */
        int subtopology; /* set at freeze */
        /* DSL stores: serdes of keys and values in the store (decoding
         * them for the cache's forwards and for describe); NULL: bytes */
        const sluice_serde_t *key_serde, *value_serde;
        struct sl_node_s *owner; /* forwards the store's updates; or NULL */
        /* window stores: how long windows live (their changelog is
         * compact,delete with a day more than this); 0: not windowed */
        int64_t retention_ms;
        /* versioned stores (lib/versioned.c, sluice_table_set_versioned()):
         * non-zero, with the history retention and its segment interval */
        int versioned;
        int64_t history_ms, segment_ms;
} sl_store_def_t;

typedef struct sl_node_s sl_node_t;
typedef struct sl_task_s sl_task_t;

/*
 * What a node does: each operator family (lib/op_<family>.c) fills in one
 * table per kind of node it builds, and the task calls through it; task.c
 * never asks what kind a node is. Only process is required.
 */
typedef struct sl_node_ops_s {
        const char *family; /* "stateless", "aggregate", ... */
        /* A record arrives from a parent: do the node's work and hand what
         * comes out to sl_forward(). 0 or an error (sl_fail()). */
        int (*process)(sl_task_t *task, const sl_node_t *node,
                       sluice_record_t *rec);
        /* Store owners: a cached update of the node's store leaves the
         * cache (commit or eviction): write it through and forward it.
         * 0 or an error (task->errstr). */
        int (*flush)(sl_task_t *task, const sl_node_t *node, sluice_kv_t *kv,
                     const void *key, size_t klen, const void *value,
                     size_t vlen, int64_t ts);
        /* The task starts (its stores open, not yet restored): set up the
         * node's per-task state, task->node_state[node->id]. */
        int (*open)(sl_task_t *task, const sl_node_t *node, char *errstr,
                    size_t errstr_size);
        /* The stores are restored: the user's init. */
        int (*ready)(sl_task_t *task, const sl_node_t *node, char *errstr,
                     size_t errstr_size);
        /* At a commit, after every cache of the task was flushed: write
         * what the node keeps besides its records, expire old ones. */
        int (*commit)(sl_task_t *task, const sl_node_t *node);
        /* Run the node's punctuations of @type due at @now. */
        int (*punctuate)(sl_task_t *task, const sl_node_t *node,
                         sluice_punctuation_t type, int64_t now);
        /* The task ends: the user's close, then free the per-task state. */
        void (*close)(sl_task_t *task, const sl_node_t *node);
        /* Metrics: add the node's own counters for @task to @operators, an
         * object keyed by node name (e.g. {"<name>":{"late_records":n}}),
         * for sluice_driver_metrics_json() and sluice_app_metrics_json();
         * on the task's thread, between records (a local query may hold
         * the task's lock on another thread meanwhile: read the node's
         * own counters, not its stores). An entry it cannot add is left
         * out. */
        void (*metrics)(const sl_task_t *task, const sl_node_t *node,
                        struct json_t *operators);
} sl_node_ops_t;

struct sl_node_s {
        const sl_node_ops_t *ops; /* set by the builder call */
        sl_node_kind_t kind;      /* names, describe, the builder's checks */
        int id;       /* creation order, index in topology->nodes */
        char *name;   /* unique in the topology */
        int subtopology; /* set by sl_topology_freeze() / describe */

        /* the user's callback and its opaque (most operators take one) */
        union {
                sluice_map_cb *map;
                sluice_predicate_cb *pred;
                sluice_foreach_cb *foreach;
                sluice_flat_map_cb *flat;
        } cb;
        void *opaque;
        /* the family's own fields (a struct of its file), one allocation
         * freed with the node; NULL: none */
        void *priv;

        /* SL_NODE_SOURCE */
        char **topics;
        size_t topic_cnt;
        char *pattern;
        regex_t re;
        int has_re;
        /* its timestamp extractor (lib/timestamp.c); NULL: the conf's
         * default.timestamp.extractor */
        sluice_timestamp_extractor_cb *ts_cb;
        void *ts_opaque;

        /* SL_NODE_SOURCE and SL_NODE_SINK, and the stateful nodes: their
         * keys and values */
        const sluice_serde_t *key_serde, *value_serde;

        /* repartition pairs: an internal sink and the source reading its
         * topic "<application.id>-<name>-repartition" (resolved at freeze;
         * before, topic / topics[0] hold "<name>-repartition") */
        int internal;
        int32_t partitions; /* 0: the upstream sources' count */
        sl_node_t *peer;    /* sink <-> source of the pair */
        int change;         /* the pair carries Change(new, old) */

        /* SL_NODE_SINK */
        char *topic; /* NULL: topic_cb chooses */
        sluice_topic_cb *topic_cb;
        void *topic_opaque;
        sluice_partitioner_cb *part_cb;
        void *part_opaque;

        /* stores: the one the node owns (-1: none); a processor's
         * connected stores */
        int store;
        int *stores;
        size_t store_cnt;
        int send_old; /* forward old values too (a table group_by below) */
        /* a join: the source topics its inputs come from must be
         * co-partitioned (sl_topology_copartition_groups(); the runtime's
         * placement and partition-count check:
         * sl_topology_copartition_topics()) */
        int copartition;

        sl_node_t **children;
        size_t child_cnt, child_cap;
        sl_node_t **parents;
        size_t parent_cnt, parent_cap;
};

struct sluice_stream_s {
        sluice_topology_t *t;
        sl_node_t *node;
        const sluice_serde_t *key_serde, *value_serde; /* NULL: unknown */
        int key_changed; /* a grouping must repartition first */
};

struct sluice_table_s {
        sluice_topology_t *t;
        sl_node_t *node;
        const sluice_serde_t *key_serde, *value_serde;
        int store; /* materialized in t->stores[store], or -1 */
};

struct sluice_grouped_s {
        sluice_topology_t *t;
        sl_node_t *node; /* the stream/table node before any repartition */
        const sluice_serde_t *key_serde, *value_serde;
        int repartition; /* needs one (named after the store) */
        int table;       /* a grouped table: Change(new, old) records */
};

struct sluice_sink_s {
        sluice_topology_t *t;
        sl_node_t *node;
};

struct sluice_topology_s {
        sl_node_t **nodes;
        size_t node_cnt, node_cap;
        sluice_stream_t **streams;
        size_t stream_cnt, stream_cap;
        sluice_sink_t **sinks;
        size_t sink_cnt, sink_cap;
        sl_store_def_t **stores;
        size_t store_cnt, store_cap;
        sluice_table_t **tables;
        size_t table_cnt, table_cap;
        sluice_grouped_t **groupeds;
        size_t grouped_cnt, grouped_cap;
        sluice_windowed_t **windoweds;
        size_t windowed_cnt, windowed_cap;
        /* global tables (lib/global.c): not nodes of any sub-topology */
        sluice_global_table_t **globals;
        size_t global_cnt, global_cap;
        char *error; /* the first builder mistake, or NULL */
        int frozen;
        char *app_id; /* internal topic names were resolved with it */
        int subtopology_cnt;
        int name_seq; /* generated names' numbers: nodes and stores share
                         it, as in Kafka Streams */
};

/*
 * Validate and freeze @t for @app_id (idempotent for the same id): after
 * this the graph is immutable, node->subtopology is set and internal topics
 * carry their full names. Returns 0 or SLUICE_ERR_TOPOLOGY with errstr.
 */
int sl_topology_freeze(sluice_topology_t *t, const char *app_id, char *errstr,
                       size_t errstr_size);

/* Builder internals shared by topology.c and the operator files. */
void sl_topo_error(sluice_topology_t *t, const char *fmt, ...)
    SL_PRINTF(2, 3);
int sl_grow(void **arr, size_t *cap, size_t cnt, size_t elem);
int sl_topo_check_open(sluice_topology_t *t, const char *call);
/* A new node of @kind doing @ops, child of @parent (may be NULL). */
sl_node_t *sl_node_new(sluice_topology_t *t, sl_node_kind_t kind,
                       const sl_node_ops_t *ops, sl_node_t *parent);
/* Link @child below @parent (one more parent: a merge). 0 or -1 (OOM). */
int sl_node_link(sl_node_t *parent, sl_node_t *child);
/* The task's own nodes (task.c, not an operator family): a source hands
 * its records on, a sink writes them out. */
extern const sl_node_ops_t sl_source_ops, sl_sink_ops;
sluice_stream_t *sl_stream_new(sluice_topology_t *t, sl_node_t *node,
                               const sluice_serde_t *ks,
                               const sluice_serde_t *vs);
int sl_serde_check(sluice_topology_t *t, const char *call, const char *what,
                   const sluice_serde_t *serde);
int sl_label_subtopologies(const sluice_topology_t *t, int *labels);
/* A new sluice_stream_repartition() pair; @change: it carries
 * Change(new, old) records of a table. */
sluice_stream_t *sl_repartition(sluice_stream_t *s, const char *call,
                                const char *name, int32_t partitions,
                                int change);
/* The same for an internal topic named @topic ("<app>-" comes at
 * freeze), the name of a join's own topics (a foreign-key join's
 * "...-topic"); @name: the user's or generated name in messages. */
sluice_stream_t *sl_internal_topic(sluice_stream_t *s, const char *call,
                                   const char *topic, const char *name,
                                   int32_t partitions, int change);
/* A new store; @name NULL: "<prefix><n>" with the next node number;
 * @owner forwards its updates (NULL: a processor's store). Returns its
 * index, or -1 (error recorded). */
int sl_store_new(sluice_topology_t *t, const char *call, const char *name,
                 const char *prefix, const sluice_serde_t *ks,
                 const sluice_serde_t *vs, sl_node_t *owner);
/* op_table.c: mark the table nodes that forward old values (send_old);
 * refuse what versioned tables cannot do. 0 or -1 with errstr. */
int sl_table_freeze(sluice_topology_t *t, char *errstr, size_t errstr_size);
/* op_join.c: refuse what joins cannot do once every table is known (a
 * grace period over a table that is not versioned). 0 or -1 with errstr. */
int sl_join_freeze(sluice_topology_t *t, char *errstr, size_t errstr_size);
/* global.c: refuse a global topic that a source reads too, a store
 * name taken twice. 0 or -1 with errstr. */
int sl_global_freeze(const sluice_topology_t *t, char *errstr,
                     size_t errstr_size);
/* global.c: describe's "for global store" sub-topologies, numbered from
 * @first; free the global tables' handles. */
void sl_global_describe(const sluice_topology_t *t, int first,
                        sl_str_t *s);
void sl_global_defs_free(sluice_topology_t *t);
/* The store named @name, or NULL. */
sl_store_def_t *sl_topology_store(const sluice_topology_t *t,
                                  const char *name);
/* The source node that reads @topic (exact names first, then patterns). */
sl_node_t *sl_topology_source_for(const sluice_topology_t *t,
                                  const char *topic);

/*
 * Co-partitioning: for each join node (node->copartition), the source
 * topics its inputs read, directly or through the stores it reads (a
 * stream-table join's table), within its sub-topology; groups of one
 * sub-topology that share a topic are one group. Every topic of a group
 * must have the same partition count, and a repartition topic in a group
 * takes the count of the group's external topics (Kafka Streams'
 * CopartitionedTopicsEnforcer); the runtime (app.c / thread.c) checks and
 * places them, the builder only reports them.
 *
 * Call on a frozen topology (the names of internal topics are full then).
 * Pattern sources are left out (their topics are known only at run time).
 * Fills *groups (malloc'ed, free with sl_copartition_groups_free()) and
 * *cnt, in sub-topology order, topics in node order without duplicates.
 * Returns 0, or SLUICE_ERR_NOMEM.
 */
typedef struct sl_copartition_group_s {
        int subtopology;
        char **topics; /* borrowed from the topology's nodes */
        size_t topic_cnt;
} sl_copartition_group_t;
int sl_topology_copartition_groups(const sluice_topology_t *t,
                                   sl_copartition_group_t **groups,
                                   size_t *cnt);
void sl_copartition_groups_free(sl_copartition_group_t *groups, size_t cnt);

/*
 * The source topics of sub-topology @sub that must be co-partitioned
 * (equal partition counts, partition p of each read by one task): every
 * exact-named source topic of @sub, internal ones by their full names,
 * when a node of @sub has copartition set; none otherwise. Up to @size
 * names (borrowed from the frozen topology) go to @out in node order.
 * Returns how many there are (may exceed @size).
 */
size_t sl_topology_copartition_topics(const sluice_topology_t *t, int sub,
                                      const char **out, size_t size);

#endif
