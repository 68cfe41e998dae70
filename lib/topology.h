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
        SL_NODE_SINK
} sl_node_kind_t;

typedef struct sl_node_s sl_node_t;

struct sl_node_s {
        sl_node_kind_t kind;
        int id;       /* creation order, index in topology->nodes */
        char *name;   /* unique in the topology */
        int subtopology; /* set by sl_topology_freeze() / describe */

        union {
                sluice_map_cb *map;
                sluice_predicate_cb *pred;
                sluice_foreach_cb *foreach;
                sluice_flat_map_cb *flat;
        } cb;
        void *opaque;

        /* SL_NODE_BRANCH: one predicate per child, in order (NULL: default) */
        sluice_predicate_cb **preds;
        void **pred_opaques;

        /* SL_NODE_SOURCE */
        char **topics;
        size_t topic_cnt;
        char *pattern;
        regex_t re;
        int has_re;

        /* SL_NODE_SOURCE and SL_NODE_SINK */
        const sluice_serde_t *key_serde, *value_serde;

        /* repartition pairs: an internal sink and the source reading its
         * topic "<application.id>-<name>-repartition" (resolved at freeze;
         * before, topic / topics[0] hold "<name>-repartition") */
        int internal;
        int32_t partitions; /* 0: the upstream sources' count */
        sl_node_t *peer;    /* sink <-> source of the pair */

        /* SL_NODE_SINK */
        char *topic; /* NULL: topic_cb chooses */
        sluice_topic_cb *topic_cb;
        void *topic_opaque;
        sluice_partitioner_cb *part_cb;
        void *part_opaque;

        sl_node_t **children;
        size_t child_cnt, child_cap;
        sl_node_t **parents;
        size_t parent_cnt, parent_cap;
};

struct sluice_stream_s {
        sluice_topology_t *t;
        sl_node_t *node;
        const sluice_serde_t *key_serde, *value_serde; /* NULL: unknown */
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
        char *error; /* the first builder mistake, or NULL */
        int frozen;
        char *app_id; /* internal topic names were resolved with it */
        int subtopology_cnt;
};

/*
 * Validate and freeze @t for @app_id (idempotent for the same id): after
 * this the graph is immutable, node->subtopology is set and internal topics
 * carry their full names. Returns 0 or SLUICE_ERR_TOPOLOGY with errstr.
 */
int sl_topology_freeze(sluice_topology_t *t, const char *app_id, char *errstr,
                       size_t errstr_size);

/* The source node that reads @topic (exact names first, then patterns). */
sl_node_t *sl_topology_source_for(const sluice_topology_t *t,
                                  const char *topic);

#endif
