/*
 * app.c - the running application: its stream threads (or the host's loop
 * driving one through sluice_app_step()), its state, the embedded mock
 * cluster, topic checks and creation, and metrics.
 */
/* flock() */
#define _DEFAULT_SOURCE 1
#include "app.h"
#include "global.h"
#include "versioned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka_mock.h>

const char *sluice_app_state_name(sluice_app_state_t state) {
        switch (state) {
        case SLUICE_APP_CREATED: return "CREATED";
        case SLUICE_APP_REBALANCING: return "REBALANCING";
        case SLUICE_APP_RUNNING: return "RUNNING";
        case SLUICE_APP_PENDING_SHUTDOWN: return "PENDING_SHUTDOWN";
        case SLUICE_APP_NOT_RUNNING: return "NOT_RUNNING";
        case SLUICE_APP_ERROR: return "ERROR";
        }
        return "UNKNOWN";
}

/* Kafka Streams' transitions; anything else is ignored. */
static int transition_ok(sluice_app_state_t from, sluice_app_state_t to) {
        switch (from) {
        case SLUICE_APP_CREATED:
                return to == SLUICE_APP_REBALANCING ||
                       to == SLUICE_APP_PENDING_SHUTDOWN ||
                       to == SLUICE_APP_ERROR;
        case SLUICE_APP_REBALANCING:
        case SLUICE_APP_RUNNING:
                return to != from && to != SLUICE_APP_CREATED &&
                       to != SLUICE_APP_NOT_RUNNING;
        case SLUICE_APP_PENDING_SHUTDOWN:
                /* a fatal error while closing is an error, not a clean
                 * stop (Kafka Streams' PENDING_ERROR, folded into one) */
                return to == SLUICE_APP_NOT_RUNNING || to == SLUICE_APP_ERROR;
        case SLUICE_APP_NOT_RUNNING:
        case SLUICE_APP_ERROR: return 0;
        }
        return 0;
}

void sl_app_set_state(sluice_app_t *app, sluice_app_state_t state) {
        sluice_app_state_t old;
        mtx_lock(&app->lock);
        old = app->state;
        if (!transition_ok(old, state)) {
                mtx_unlock(&app->lock);
                return;
        }
        app->state = state;
        /* under the lock, so listeners see transitions in order */
        if (app->state_cb)
                app->state_cb(app, old, state, app->state_opaque);
        cnd_broadcast(&app->changed);
        mtx_unlock(&app->lock);
        sl_log(app->conf, SLUICE_LOG_INFO, "STATE", "%s -> %s",
               sluice_app_state_name(old), sluice_app_state_name(state));
}

void sl_app_fail(sluice_app_t *app, const char *fmt, ...) {
        char buf[sizeof(app->error)];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        mtx_lock(&app->lock);
        if (!app->error[0])
                memcpy(app->error, buf, sizeof(buf));
        mtx_unlock(&app->lock);
        sl_log(app->conf, SLUICE_LOG_ERR, "APP", "%s", buf);
        atomic_store(&app->stop, 1);
        sl_app_set_state(app, SLUICE_APP_ERROR);
}

void sl_app_thread_assigned(sluice_app_t *app) {
        int i, all = 1;
        /* each thread sets its own flag before calling this */
        for (i = 0; i < app->thread_cnt; i++)
                if (!atomic_load(&app->threads[i].assigned))
                        all = 0;
        if (all)
                sl_app_set_state(app, SLUICE_APP_RUNNING);
}

/* ---- topics: one seam for the real cluster and the mock ---- */

/* A topic just created has no leaders for a moment; the first rebalance
 * would find its partitions unknown. Wait (up to 30 s) until every one of
 * its @partitions has a leader; past that, restores retry on their own. */
static void topic_wait_leaders(rd_kafka_t *rk, const char *topic,
                               int partitions) {
        int64_t deadline = sl_now_ms() + 30000;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        if (!rkt)
                return;
        while (sl_now_ms() < deadline) {
                const struct rd_kafka_metadata *md = NULL;
                struct timespec pause = {0, 50 * 1000 * 1000};
                int ok = 0, k;
                if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000) && md) {
                        if (md->topic_cnt == 1 && !md->topics[0].err &&
                            md->topics[0].partition_cnt == partitions) {
                                ok = 1;
                                for (k = 0; k < partitions; k++)
                                        if (md->topics[0].partitions[k].err ||
                                            md->topics[0].partitions[k].leader <
                                                0)
                                                ok = 0;
                        }
                        rd_kafka_metadata_destroy(md);
                }
                if (ok)
                        break;
                nanosleep(&pause, NULL); /* metadata is polled, no event */
        }
        rd_kafka_topic_destroy(rkt);
}

/* Create @topic with @partitions: directly on the embedded cluster (the mock
 * has no CreateTopics), through the Admin API elsewhere. An existing topic
 * is fine. */
static int topic_create_with(sluice_app_t *app, const char *topic,
                             int partitions, int compact, int64_t max_bytes,
                             int64_t delete_ms, int64_t lag_ms, char *errstr,
                             size_t errstr_size);
static int topic_create(sluice_app_t *app, const char *topic, int partitions,
                        int compact, char *errstr, size_t errstr_size) {
        return topic_create_with(app, topic, partitions, compact, 0, 0, 0,
                                 errstr, errstr_size);
}

/* The broker's max.message.bytes of @topic (DescribeConfigs), or -1 if it
 * cannot be read. */
static int64_t topic_max_bytes(sluice_app_t *app, const char *topic) {
        rd_kafka_t *rk = app->threads[0].producer;
        rd_kafka_ConfigResource_t *cr =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        int64_t r = -1;
        rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        if (ev && !rd_kafka_event_error(ev)) {
                const rd_kafka_DescribeConfigs_result_t *res =
                    rd_kafka_event_DescribeConfigs_result(ev);
                size_t n = 0, i, m = 0;
                const rd_kafka_ConfigResource_t **rs =
                    res ? rd_kafka_DescribeConfigs_result_resources(res, &n)
                        : NULL;
                const rd_kafka_ConfigEntry_t **ents =
                    n == 1 && !rd_kafka_ConfigResource_error(rs[0])
                        ? rd_kafka_ConfigResource_configs(rs[0], &m)
                        : NULL;
                for (i = 0; ents && i < m; i++)
                        if (!strcmp(rd_kafka_ConfigEntry_name(ents[i]),
                                    "max.message.bytes") &&
                            rd_kafka_ConfigEntry_value(ents[i]))
                                r = strtoll(rd_kafka_ConfigEntry_value(ents[i]),
                                            NULL, 10);
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_ConfigResource_destroy(cr);
        return r;
}

/* @delete_ms > 0: also delete records older than that (a window store's
 * changelog: compact,delete, as Kafka Streams). */
static int topic_create_with(sluice_app_t *app, const char *topic,
                             int partitions, int compact, int64_t max_bytes,
                             int64_t delete_ms, int64_t lag_ms, char *errstr,
                             size_t errstr_size) {
        rd_kafka_t *rk = app->threads[0].producer;
        rd_kafka_NewTopic_t *nt;
        rd_kafka_AdminOptions_t *opts;
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tr;
        rd_kafka_resp_err_t err;
        char why[SL_ERRSTR_SIZE];
        size_t cnt = 0;

        if (app->mock) {
                err = rd_kafka_mock_topic_create(app->mock, topic, partitions,
                                                 1);
                if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        sl_errstr(errstr, errstr_size,
                                  "cannot create topic \"%s\": %s", topic,
                                  rd_kafka_err2str(err));
                        return -1;
                }
                return 0;
        }
        nt = rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof(why));
        if (!nt) {
                sl_errstr(errstr, errstr_size, "cannot create topic \"%s\": %s",
                          topic, why);
                return -1;
        }
        if (max_bytes > 0) {
                char v[32];
                snprintf(v, sizeof(v), "%lld", (long long)max_bytes);
                if (rd_kafka_NewTopic_set_config(nt, "max.message.bytes", v)) {
                        rd_kafka_NewTopic_destroy(nt);
                        sl_errstr(errstr, errstr_size,
                                  "cannot create topic \"%s\": cannot set "
                                  "max.message.bytes",
                                  topic);
                        return -1;
                }
        }
        /* changelogs keep the latest record per key */
        if (delete_ms > 0) {
                char v[32];
                snprintf(v, sizeof(v), "%lld", (long long)delete_ms);
                if (rd_kafka_NewTopic_set_config(nt, "retention.ms", v)) {
                        rd_kafka_NewTopic_destroy(nt);
                        sl_errstr(errstr, errstr_size,
                                  "cannot create topic \"%s\": cannot set "
                                  "retention.ms",
                                  topic);
                        return -1;
                }
        }
        /* a versioned store's: its history stays uncompacted for the
         * history retention and a day (VersionedChangelogTopicConfig) */
        if (lag_ms > 0) {
                char v[32];
                snprintf(v, sizeof(v), "%lld", (long long)lag_ms);
                if (rd_kafka_NewTopic_set_config(nt, "min.compaction.lag.ms",
                                                 v)) {
                        rd_kafka_NewTopic_destroy(nt);
                        sl_errstr(errstr, errstr_size,
                                  "cannot create topic \"%s\": cannot set "
                                  "min.compaction.lag.ms",
                                  topic);
                        return -1;
                }
        }
        if (compact && rd_kafka_NewTopic_set_config(
                           nt, "cleanup.policy",
                           delete_ms > 0 ? "compact,delete" : "compact")) {
                rd_kafka_NewTopic_destroy(nt);
                sl_errstr(errstr, errstr_size,
                          "cannot create topic \"%s\": cannot set "
                          "cleanup.policy",
                          topic);
                return -1;
        }
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, NULL, 0);
        q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        ev  = rd_kafka_queue_poll(q, 60000);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        snprintf(why, sizeof(why), "%s",
                 ev && err ? rd_kafka_event_error_string(ev)
                           : rd_kafka_err2str(err));
        if (ev && !err) {
                res = rd_kafka_event_CreateTopics_result(ev);
                tr  = res ? rd_kafka_CreateTopics_result_topics(res, &cnt)
                          : NULL;
                if (cnt == 1) {
                        err = rd_kafka_topic_result_error(tr[0]);
                        snprintf(why, sizeof(why), "%s",
                                 rd_kafka_topic_result_error_string(tr[0])
                                     ? rd_kafka_topic_result_error_string(
                                           tr[0])
                                     : rd_kafka_err2str(err));
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_NewTopic_destroy(nt);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                sl_errstr(errstr, errstr_size, "cannot create topic \"%s\": %s",
                          topic, why);
                return -1;
        }
        if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                return 0;
        sl_log(app->conf, SLUICE_LOG_INFO, "TOPIC",
               "created topic \"%s\" with %d partition(s)%s", topic, partitions,
               compact ? ", compacted" : "");
        topic_wait_leaders(rk, topic, partitions);
        return 0;
}

/* Partition count of @topic in @md, or -1 if absent. */
static int md_partitions(const struct rd_kafka_metadata *md,
                         const char *topic) {
        int k;
        for (k = 0; k < md->topic_cnt; k++)
                if (!strcmp(md->topics[k].topic, topic))
                        return md->topics[k].err ? -1
                                                 : md->topics[k].partition_cnt;
        return -1;
}

static int read_metadata(sluice_app_t *app, const struct rd_kafka_metadata **md,
                         char *errstr, size_t errstr_size) {
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(app->threads[0].consumer, 1, NULL, md, 30000);
        if (err) {
                char cause[SL_ERRSTR_SIZE];
                sl_thread_last_error(&app->threads[0], cause, sizeof(cause));
                sl_errstr(errstr, errstr_size,
                          "cannot read the cluster's topics from %s: %s%s%s%s",
                          sluice_app_bootstrap_servers(app),
                          rd_kafka_err2str(err), cause[0] ? " (librdkafka: " : "",
                          cause, cause[0] ? ")" : "");
                return -1;
        }
        return 0;
}

/* Largest partition count of the sources upstream of @n (internal sources
 * use @counts, computed earlier in node order). */
static int upstream_partitions(const sluice_app_t *app, const sl_node_t *n,
                               const struct rd_kafka_metadata *md,
                               const int *counts) {
        size_t i;
        int best = 0, c;
        if (n->kind == SL_NODE_SOURCE) {
                if (n->internal)
                        return counts[n->id];
                for (i = 0; i < n->topic_cnt; i++)
                        if ((c = md_partitions(md, n->topics[i])) > best)
                                best = c;
                return best;
        }
        for (i = 0; i < n->parent_cnt; i++)
                if ((c = upstream_partitions(app, n->parents[i], md, counts)) >
                    best)
                        best = c;
        return best;
}

/* Partition count of source topic @topic: an internal one's from @counts
 * (set by prepare_topics), else the cluster's; -1 if unknown. */
static int source_partitions(const sluice_app_t *app,
                             const struct rd_kafka_metadata *md,
                             const int *counts, const char *topic) {
        const sl_node_t *n = sl_topology_source_for(app->t, topic);
        if (n && n->internal)
                return counts[n->id];
        return md_partitions(md, topic);
}

/* Topics that must be co-partitioned have one partition count each, as
 * Kafka Streams' CopartitionedTopicsEnforcer demands: else a task would
 * read partition p of one and find no partition p in the other. */
static int check_copartitioned(const sluice_app_t *app,
                               const struct rd_kafka_metadata *md,
                               const int *counts, char *errstr,
                               size_t errstr_size) {
        const sluice_topology_t *t = app->t;
        int sub;
        for (sub = 0; sub < t->subtopology_cnt; sub++) {
                size_t cnt = sl_topology_copartition_topics(t, sub, NULL, 0),
                       i;
                const char **names;
                int first, c;
                if (cnt < 2)
                        continue;
                if (!(names = malloc(cnt * sizeof(*names)))) {
                        sl_errstr(errstr, errstr_size, "out of memory");
                        return -1;
                }
                sl_topology_copartition_topics(t, sub, names, cnt);
                first = source_partitions(app, md, counts, names[0]);
                for (i = 1; i < cnt; i++)
                        if ((c = source_partitions(app, md, counts,
                                                   names[i])) != first) {
                                sl_errstr(errstr, errstr_size,
                                          "topics \"%s\" (%d partitions) and "
                                          "\"%s\" (%d partitions) must be "
                                          "co-partitioned (sub-topology %d "
                                          "reads them together): give them "
                                          "the same number of partitions",
                                          names[0], first, names[i], c, sub);
                                free(names);
                                return -1;
                        }
                free(names);
        }
        return 0;
}

static void placement_free(sluice_app_t *app) {
        size_t i, j;
        for (i = 0; i < app->placement_cnt; i++) {
                for (j = 0; j < app->placement[i].other_cnt; j++)
                        free(app->placement[i].others[j].topic);
                free(app->placement[i].others);
                free(app->placement[i].lead.topic);
        }
        free(app->placement);
        app->placement     = NULL;
        app->placement_cnt = 0;
}

/* The exact-named source topics of sub-topology @sub (-1: of every
 * sub-topology) into @pl, the one with the most partitions (the first of
 * them in node order) leading. 0 (none: @pl left empty), 1, or -1 (out
 * of memory). */
static int placement_group(const sluice_app_t *app,
                           const struct rd_kafka_metadata *md,
                           const int *counts, int sub, sl_placement_t *pl) {
        const sluice_topology_t *t = app->t;
        size_t i, j, n = 0, lead = 0, k = 0;
        const char *lead_name = NULL;
        int most = -1;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                if (nd->kind != SL_NODE_SOURCE ||
                    (sub >= 0 && nd->subtopology != sub))
                        continue;
                for (j = 0; j < nd->topic_cnt; j++, n++) {
                        int c = source_partitions(app, md, counts,
                                                  nd->topics[j]);
                        if (c > most) {
                                most      = c;
                                lead      = n;
                                lead_name = nd->topics[j];
                        }
                }
        }
        if (!n)
                return 0; /* patterns only: the group assigns */
        pl->sub = sub;
        if (!(pl->lead.topic = sl_strdup(lead_name)))
                return -1;
        pl->lead.cnt = most;
        if (n > 1 && !(pl->others = calloc(n - 1, sizeof(*pl->others))))
                return -1;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *nd = t->nodes[i];
                if (nd->kind != SL_NODE_SOURCE ||
                    (sub >= 0 && nd->subtopology != sub))
                        continue;
                for (j = 0; j < nd->topic_cnt; j++, k++) {
                        sl_part_cnt_t *o;
                        if (k == lead)
                                continue;
                        o = &pl->others[pl->other_cnt];
                        if (!(o->topic = sl_strdup(nd->topics[j])))
                                return -1;
                        o->cnt = source_partitions(app, md, counts,
                                                   nd->topics[j]);
                        pl->other_cnt++;
                }
        }
        return 1;
}

/* app->placement: sluice.task.placement=together, one group of every
 * exact-named source topic (partition p of every sub-topology on one
 * consumer: each instance holds as many tasks of each sub-topology as
 * it holds partitions of the lead); per_subtopology, one group per
 * sub-topology (more members can share the work, but the group's
 * assignor may give one instance every task of one sub-topology). */
static int placement_build(sluice_app_t *app,
                           const struct rd_kafka_metadata *md,
                           const int *counts, char *errstr,
                           size_t errstr_size) {
        int groups = app->conf->placement_per_sub ? app->t->subtopology_cnt : 1;
        int g, r;
        placement_free(app);
        if (groups > 0 &&
            !(app->placement = calloc((size_t)groups, sizeof(*app->placement))))
                goto oom;
        for (g = 0; g < groups; g++) {
                r = placement_group(app, md, counts,
                                    app->conf->placement_per_sub ? g : -1,
                                    &app->placement[app->placement_cnt]);
                if (r != 0)
                        app->placement_cnt++; /* freed with the rest */
                if (r < 0)
                        goto oom;
        }
        return 0;
oom:
        sl_errstr(errstr, errstr_size, "out of memory");
        return -1;
}

/* Before the threads start: every source topic exists (on the embedded
 * cluster: is created), internal topics exist with the right partition
 * count, and so does the dead-letter topic. */
static int prepare_topics(sluice_app_t *app, char *errstr,
                          size_t errstr_size) {
        const sluice_topology_t *t         = app->t;
        const struct rd_kafka_metadata *md = NULL;
        int *counts = calloc(t->node_cnt + 1, sizeof(int)), rc = -1, c;
        size_t i, j;

        if (!counts) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (i = 0; app->mock && i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                for (j = 0; !n->internal && j < n->topic_cnt; j++)
                        if (topic_create(app, n->topics[j],
                                         app->conf->embedded_partitions, 0,
                                         errstr, errstr_size))
                                goto done;
                if (n->kind == SL_NODE_SINK && n->topic && !n->internal &&
                    topic_create(app, n->topic, app->conf->embedded_partitions,
                                 0, errstr, errstr_size))
                        goto done;
        }
        for (i = 0; app->mock && i < t->global_cnt; i++)
                if (topic_create(app, t->globals[i]->topic,
                                 app->conf->embedded_partitions, 0, errstr,
                                 errstr_size))
                        goto done;
        if (read_metadata(app, &md, errstr, errstr_size))
                goto done;
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                for (j = 0; !n->internal && j < n->topic_cnt; j++)
                        if (md_partitions(md, n->topics[j]) < 0) {
                                sl_errstr(errstr, errstr_size,
                                          "source topic \"%s\" does not "
                                          "exist; create it first",
                                          n->topics[j]);
                                goto done;
                        }
        }
        /* internal topics, upstream first (node order is build order) */
        for (i = 0; i < t->node_cnt; i++) {
                const sl_node_t *n = t->nodes[i];
                if (!n->internal || n->kind != SL_NODE_SOURCE)
                        continue;
                c = n->partitions
                        ? n->partitions
                        : upstream_partitions(app, n->peer, md, counts);
                if (c < 1) {
                        sl_errstr(errstr, errstr_size,
                                  "repartition topic \"%s\": cannot tell its "
                                  "partition count from the sources upstream "
                                  "(a pattern?); give one to "
                                  "sluice_stream_repartition()",
                                  n->topics[0]);
                        goto done;
                }
                counts[n->id] = c;
                if (md_partitions(md, n->topics[0]) < 0) {
                        if (topic_create(app, n->topics[0], c, 0, errstr,
                                         errstr_size))
                                goto done;
                } else if (md_partitions(md, n->topics[0]) != c) {
                        sl_errstr(errstr, errstr_size,
                                  "repartition topic \"%s\" has %d partitions, "
                                  "the topology needs %d",
                                  n->topics[0], md_partitions(md, n->topics[0]),
                                  c);
                        goto done;
                }
        }
        if (check_copartitioned(app, md, counts, errstr, errstr_size) ||
            placement_build(app, md, counts, errstr, errstr_size))
                goto done;
        if (app->conf->dlq_topic && !app->mock) {
                /* a dead letter is an input record plus a few headers: the
                 * topic takes the largest record any source topic takes,
                 * with room for them (else a big bad record could never
                 * leave, and would stop the app at every start) */
                int64_t most_bytes = 0, b;
                for (i = 0; i < t->node_cnt; i++)
                        for (j = 0; !t->nodes[i]->internal &&
                                    j < t->nodes[i]->topic_cnt;
                             j++)
                                if ((b = topic_max_bytes(
                                         app, t->nodes[i]->topics[j])) >
                                    most_bytes)
                                        most_bytes = b;
                if (most_bytes > 0)
                        app->dlq_topic_max = most_bytes + SL_DLQ_HEADROOM;
        }
        if (app->conf->dlq_topic && md_partitions(md, app->conf->dlq_topic) < 0) {
                int most = 1;
                for (i = 0; i < t->node_cnt; i++)
                        if (t->nodes[i]->kind == SL_NODE_SOURCE &&
                            (c = upstream_partitions(app, t->nodes[i], md,
                                                     counts)) > most)
                                most = c;
                if (topic_create_with(app, app->conf->dlq_topic,
                                      app->mock ? app->conf->embedded_partitions
                                                : most,
                                      0, app->dlq_topic_max, 0, 0, errstr,
                                      errstr_size))
                        goto done;
        } else if (app->conf->dlq_topic && !app->mock) {
                /* the user's: what it takes bounds what is sent whole */
                int64_t have = topic_max_bytes(app, app->conf->dlq_topic);
                if (have > 0 && have < app->dlq_topic_max)
                        sl_log(app->conf, SLUICE_LOG_WARNING, "TOPIC",
                               "dead-letter topic \"%s\" takes records of "
                               "up to %lld bytes (max.message.bytes), the "
                               "sources up to %lld: larger dead letters are "
                               "truncated",
                               app->conf->dlq_topic, (long long)have,
                               (long long)(app->dlq_topic_max -
                                           SL_DLQ_HEADROOM));
                if (have > 0)
                        app->dlq_topic_max = have;
        }
        /* changelogs: one partition per task of the store's
         * sub-topology, compacted */
        for (i = 0; i < t->store_cnt; i++) {
                const sl_store_def_t *d = t->stores[i];
                int want = 0, have;
                if (d->subtopology < 0)
                        continue; /* connected to no processor */
                for (j = 0; j < t->node_cnt; j++)
                        if (t->nodes[j]->kind == SL_NODE_SOURCE &&
                            t->nodes[j]->subtopology == d->subtopology &&
                            (c = upstream_partitions(app, t->nodes[j], md,
                                                     counts)) > want)
                                want = c;
                if (want < 1) {
                        sl_errstr(errstr, errstr_size,
                                  "changelog topic \"%s\": cannot tell its "
                                  "partition count from the sources "
                                  "upstream",
                                  d->changelog);
                        goto done;
                }
                have = md_partitions(md, d->changelog);
                if (have < 0) {
                        /* a window store's: what expired goes too, a
                         * day after the store let go of it (Kafka
                         * Streams' windowstore.changelog.additional
                         * .retention.ms) */
                        if (topic_create_with(app, d->changelog, want, 1, 0,
                                              d->retention_ms > 0
                                                  ? d->retention_ms + 86400000
                                                  : 0,
                                              d->versioned
                                                  ? (d->history_ms >
                                                             INT64_MAX -
                                                                 86400000
                                                         ? INT64_MAX
                                                         : d->history_ms +
                                                               86400000)
                                                  : 0,
                                              errstr, errstr_size))
                                goto done;
                } else if (have != want) {
                        sl_errstr(errstr, errstr_size,
                                  "changelog topic \"%s\" has %d "
                                  "partitions, the topology needs %d",
                                  d->changelog, have, want);
                        goto done;
                }
        }
        rc = 0;
done:
        if (md)
                rd_kafka_metadata_destroy(md);
        free(counts);
        return rc;
}

/* ---- the instance's state directory ---- */

/* How many instances of one app may share a host's state.dir before
 * taking a directory fails (each needs its own). */
#define SL_INSTANCE_SLOTS 64

/* Lock <dir>/.lock with flock(): held per open file, so a second app in
 * the same process is kept out too (fcntl locks are per process), and
 * released when the app closes it or the process dies. The holder's pid
 * is written into the file for the message another instance gives.
 * 1 if taken, 0 if held elsewhere (*@holder: its pid, 0 if unknown), -1
 * on error (errno). */
static int instance_lock(const char *dir, int *fd_out, long *holder) {
        char path[4200], pid[32] = "";
        ssize_t n;
        int fd;
        snprintf(path, sizeof(path), "%s/.lock", dir);
        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
                return -1;
        if (!flock(fd, LOCK_EX | LOCK_NB)) {
                int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
                /* the pid is for messages only: a failure is no error */
                if (!ftruncate(fd, 0))
                        (void)!pwrite(fd, pid, (size_t)len, 0);
                *fd_out = fd;
                return 1;
        }
        if (errno != EWOULDBLOCK) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        n       = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        *holder = strtol(pid, NULL, 10);
        close(fd);
        return 0;
}

/* The instance's transactional identity when sluice.instance.id is not
 * pinned: 16 random hex digits kept in <dir>/.identity, made by the first
 * instance that takes the directory and read by every later one, so that
 * a restarted instance has the transactional.id of the one that died
 * (its init fences that zombie at once) while instances on other hosts,
 * or in other state directories of one host, never share one. Called
 * with the directory locked. 0, or -1 with errstr. */
static int instance_identity(const char *dir, char *out, size_t out_size,
                             char *errstr, size_t errstr_size) {
        char path[4200], tmp[4300], buf[64];
        unsigned char rnd[8];
        ssize_t n;
        int fd, i, ok = 1;
        snprintf(path, sizeof(path), "%s/.identity", dir);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
                n = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                buf[n > 0 ? n : 0] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                for (i = 0; buf[i]; i++)
                        if (!strchr("0123456789abcdef", buf[i]))
                                ok = 0;
                if (ok && i == 16) {
                        snprintf(out, out_size, "%s", buf);
                        return 0;
                }
                /* damaged: a new identity (zombies of the old one are
                 * then fenced by their group generation only) */
        }
        if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0 ||
            read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
                sl_errstr(errstr, errstr_size,
                          "cannot read /dev/urandom for the instance's "
                          "identity: %s",
                          strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        for (i = 0; i < 8; i++)
                snprintf(buf + 2 * i, 3, "%02x", rnd[i]);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                       0644)) < 0 ||
            write(fd, buf, 16) != 16 || write(fd, "\n", 1) != 1 ||
            fsync(fd) || close(fd) || rename(tmp, path)) {
                sl_errstr(errstr, errstr_size,
                          "cannot write the instance's identity \"%s\": %s",
                          path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        snprintf(out, out_size, "%s", buf);
        return 0;
}

/*
 * Take this instance's directory under <state.dir>/<application.id>:
 * `sluice.instance.id` if set, else the first of 0, 1, 2, ... that no
 * other live process holds. Two instances on one host (the default
 * state.dir is shared by every app) thus never open the same task
 * directory, and a restarted instance, alone again, gets its old one back
 * with its local state. Apps with a persistent store need one, and so
 * does every app under exactly_once_v2: its transactional.id comes from
 * the directory's identity (instance_identity()) or the pinned name.
 */
static int instance_take(sluice_app_t *app, char *errstr, size_t errstr_size) {
        const sluice_topology_t *t = app->t;
        char *base, dir[4096], id[32];
        const char *pinned = sluice_conf_get(app->conf, "sluice.instance.id");
        size_t k;
        int slot, persistent = 0, eos = app->conf->guarantee == SL_EOS_V2;
        char ident[64];
        long holder = 0;
        for (k = 0; k < t->store_cnt; k++) {
                const sluice_store_type_t *ty =
                    sl_store_type_for(app->conf, t->stores[k], NULL, 0);
                if (ty && ty->persistent)
                        persistent = 1;
        }
        if (!(base = sl_state_base(app->conf, app->conf->application_id))) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (slot = 0; slot < (pinned ? 1 : SL_INSTANCE_SLOTS); slot++) {
                int r;
                snprintf(id, sizeof(id), "%d", slot);
                snprintf(dir, sizeof(dir), "%s/%s", base, pinned ? pinned : id);
                if (!persistent && !eos)
                        break; /* named, not created: nothing is kept */
                if (sl_mkdirs(dir, errstr, errstr_size)) {
                        free(base);
                        return -1;
                }
                r = instance_lock(dir, &app->instance_fd, &holder);
                if (r > 0)
                        break;
                if (r < 0) {
                        sl_errstr(errstr, errstr_size,
                                  "state directory \"%s\": cannot lock it: %s",
                                  dir, strerror(errno));
                        free(base);
                        return -1;
                }
                if (pinned) {
                        sl_errstr(errstr, errstr_size,
                                  "configuration property "
                                  "\"sluice.instance.id\"=%s: its state "
                                  "directory \"%s\" is held by another "
                                  "process (pid %ld)",
                                  pinned, dir, holder);
                        free(base);
                        return -1;
                }
        }
        free(base);
        if (slot == SL_INSTANCE_SLOTS) {
                sl_errstr(errstr, errstr_size,
                          "state.dir: %d instances of \"%s\" already hold "
                          "directories under it; give each its own state.dir",
                          SL_INSTANCE_SLOTS, app->conf->application_id);
                return -1;
        }
        if (eos && !pinned &&
            instance_identity(dir, ident, sizeof(ident), errstr, errstr_size))
                return -1;
        if (!(app->state_base = sl_strdup(dir)) ||
            !(app->instance_id = sl_strdup(pinned ? pinned : id)) ||
            (eos && !(app->txn_identity = sl_strdup(pinned ? pinned
                                                           : ident)))) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return -1;
        }
        if (persistent)
                sl_log(app->conf, SLUICE_LOG_INFO, "STATE",
                       "instance %s: local state in \"%s\"", app->instance_id,
                       dir);
        if (eos)
                sl_log(app->conf, SLUICE_LOG_INFO, "EOS",
                       "instance %s: transactional.id %s-%s-<thread 1..%d>",
                       app->instance_id, app->conf->application_id,
                       app->txn_identity, app->thread_cnt);
        return 0;
}

/* ---- lifecycle ---- */

/* Free what sluice_app_new() made (threads, embedded cluster, the conf if
 * it was taken over). */
static void app_free(sluice_app_t *app) {
        int i;
        for (i = 0; app->threads && i < app->thread_cnt; i++)
                sl_thread_destroy(&app->threads[i]);
        free(app->threads);
        sl_global_destroy(app->global);
        if (app->mock)
                rd_kafka_mock_cluster_destroy(app->mock);
        if (app->mock_rk)
                rd_kafka_destroy(app->mock_rk);
        if (app->wake_fd[0] >= 0) {
                close(app->wake_fd[0]);
                close(app->wake_fd[1]);
        }
        free(app->bootstrap);
        if (app->instance_fd >= 0)
                close(app->instance_fd); /* the lock goes with it */
        free(app->state_base);
        free(app->instance_id);
        free(app->txn_identity);
        placement_free(app);
        sluice_conf_destroy(app->conf);
        cnd_destroy(&app->changed);
        mtx_destroy(&app->lock);
        free(app);
}

/* The value a client of @scope would get for @key (aliases and defaults
 * resolved by librdkafka), into @buf; "" if it cannot be read. */
static const char *client_value(const sluice_conf_t *conf, sl_scope_t scope,
                                const char *key, char *buf, size_t size) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char why[SL_ERRSTR_SIZE];
        size_t n = size;
        buf[0]   = '\0';
        if (c && !sl_conf_apply(conf, scope, c, why, sizeof(why)) &&
            rd_kafka_conf_get(c, key, buf, &n) != RD_KAFKA_CONF_OK) {
                /* a topic-level property lives in the default topic conf */
                rd_kafka_topic_conf_t *tc =
                    rd_kafka_conf_get_default_topic_conf(c);
                n = size;
                if (!tc || rd_kafka_topic_conf_get(tc, key, buf, &n) !=
                               RD_KAFKA_CONF_OK)
                        buf[0] = '\0';
        }
        if (c)
                rd_kafka_conf_destroy(c);
        return buf;
}

/* Settings that would quietly weaken the processing guarantee: refused
 * where the library cannot keep the promise, warned about where the user
 * may mean it. 0, or -1 with errstr naming the key. */
static int app_guarantee_check(const sluice_topology_t *t,
                               const sluice_conf_t *conf, char *errstr,
                               size_t errstr_size) {
        char v[64];
        if (conf->guarantee == SL_EOS_V2) {
                /* the producers are transactional: idempotent, acks=all,
                 * and each transaction must outlive the commit interval
                 * (Kafka Streams refuses the same) */
                int txn = sl_conf_txn_timeout_ms(conf),
                    interval = sl_conf_commit_interval_ms(conf);
                if (txn < interval) {
                        sl_errstr(errstr, errstr_size,
                                  "configuration property "
                                  "\"transaction.timeout.ms\"=%d is below "
                                  "commit.interval.ms=%d: under "
                                  "exactly_once_v2 a transaction stays open "
                                  "from one commit to the next, and the "
                                  "broker would abort every one of them",
                                  txn, interval);
                        return -1;
                }
                client_value(conf, SL_SCOPE_PRODUCER, "enable.idempotence", v,
                             sizeof(v));
                if (!strcmp(v, "false") &&
                    sl_conf_has(conf, SL_SCOPE_PRODUCER,
                                "enable.idempotence")) {
                        sl_errstr(errstr, errstr_size,
                                  "configuration property "
                                  "\"enable.idempotence\"=false: "
                                  "exactly_once_v2 needs the idempotent, "
                                  "transactional producer");
                        return -1;
                }
                client_value(conf, SL_SCOPE_PRODUCER, "acks", v, sizeof(v));
                if (!strcmp(v, "0") || !strcmp(v, "1")) {
                        sl_errstr(errstr, errstr_size,
                                  "configuration property \"acks\"=%s: "
                                  "exactly_once_v2 needs acks=all",
                                  v);
                        return -1;
                }
        }
        client_value(conf, SL_SCOPE_PRODUCER, "acks", v, sizeof(v));
        if (!strcmp(v, "0") || !strcmp(v, "1"))
                sl_log(conf, SLUICE_LOG_WARNING, "CONFIG",
                       "configuration property \"acks\"=%s weakens "
                       "processing.guarantee=at_least_once: an output or "
                       "changelog record acknowledged by %s can be lost "
                       "when a broker fails (Sluice's default: all)",
                       v, v[0] == '0' ? "no broker" : "the leader alone");
        client_value(conf, SL_SCOPE_PRODUCER, "enable.idempotence", v,
                     sizeof(v));
        if (!strcmp(v, "false") && sluice_conf_get(conf, "enable.idempotence"))
                sl_log(conf, SLUICE_LOG_WARNING, "CONFIG",
                       "configuration property \"enable.idempotence\"=false: "
                       "a retried produce may write an output twice or out "
                       "of order");
        else if (!strcmp(v, "false") &&
                 sluice_conf_get(conf, "producer.enable.idempotence"))
                sl_log(conf, SLUICE_LOG_WARNING, "CONFIG",
                       "configuration property "
                       "\"producer.enable.idempotence\"=false: a retried "
                       "produce may write an output twice or out of order");
        client_value(conf, SL_SCOPE_CONSUMER, "auto.offset.reset", v,
                     sizeof(v));
        if (t->store_cnt && (!strcmp(v, "latest") || !strcmp(v, "largest") ||
                             !strcmp(v, "end")))
                sl_log(conf, SLUICE_LOG_WARNING, "CONFIG",
                       "configuration property \"auto.offset.reset\"=latest "
                       "on an application with state: a partition with no "
                       "committed offset (new, or its offsets expired) "
                       "starts at its end, and its earlier records never "
                       "reach the stores");
        return 0;
}

sluice_app_t *sluice_app_new(sluice_topology_t *t, sluice_conf_t *conf,
                             char *errstr, size_t errstr_size) {
        sluice_app_t *app;
        int i;
        if (!t || !conf) {
                sl_errstr(errstr, errstr_size,
                          "sluice_app_new: topology and conf are required");
                return NULL;
        }
        if (sl_rdkafka_version_check(errstr, errstr_size) ||
            sl_task_conf_check(conf, errstr, errstr_size))
                return NULL;
        if (!conf->application_id) {
                sl_errstr(errstr, errstr_size,
                          "configuration property \"application.id\" is "
                          "required");
                return NULL;
        }
        if (!conf->embedded && !sluice_conf_get(conf, "bootstrap.servers")) {
                sl_errstr(errstr, errstr_size,
                          "configuration property \"bootstrap.servers\" is "
                          "required (or sluice.embedded=true)");
                return NULL;
        }
        if (sl_topology_freeze(t, conf->application_id, errstr, errstr_size))
                return NULL;
        /* after the freeze: it knows the stores then */
        if (app_guarantee_check(t, conf, errstr, errstr_size))
                return NULL;
        {
                /* every store's type exists (default.dsl.store, ...) */
                size_t k;
                for (k = 0; k < t->store_cnt; k++)
                        if (!sl_store_type_for(conf, t->stores[k], errstr,
                                               errstr_size))
                                return NULL;
        }
        app = calloc(1, sizeof(*app));
        if (!app) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return NULL;
        }
        app->t           = t;
        app->conf        = conf;
        app->wake_fd[0]  = app->wake_fd[1] = -1;
        app->instance_fd = -1;
        app->host_driven = conf->num_stream_threads == 0;
        app->thread_cnt  = app->host_driven ? 1 : conf->num_stream_threads;
        atomic_init(&app->stop, 0);
        atomic_init(&app->processed, 0);
        if (mtx_init(&app->lock, mtx_plain | mtx_recursive) != thrd_success ||
            cnd_init(&app->changed) != thrd_success) {
                free(app);
                sl_errstr(errstr, errstr_size, "cannot create a mutex");
                return NULL;
        }
        if (conf->embedded) {
                char rkerr[SL_ERRSTR_SIZE];
                rd_kafka_conf_t *c = rd_kafka_conf_new();
                rd_kafka_conf_set(c, "log_level", "3", NULL, 0);
                app->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, rkerr,
                                            sizeof(rkerr));
                if (!app->mock_rk) {
                        rd_kafka_conf_destroy(c);
                        sl_errstr(errstr, errstr_size,
                                  "cannot start the embedded cluster: %s",
                                  rkerr);
                        goto fail;
                }
                app->mock = rd_kafka_mock_cluster_new(app->mock_rk, 1);
                if (!app->mock) {
                        sl_errstr(errstr, errstr_size,
                                  "cannot start the embedded cluster");
                        goto fail;
                }
                app->bootstrap =
                    sl_strdup(rd_kafka_mock_cluster_bootstraps(app->mock));
                if (!app->bootstrap)
                        goto fail;
        }
        if (instance_take(app, errstr, errstr_size))
                goto fail;
        if (app->host_driven) {
                if (pipe(app->wake_fd)) {
                        sl_errstr(errstr, errstr_size, "pipe: %s",
                                  strerror(errno));
                        goto fail;
                }
                fcntl(app->wake_fd[0], F_SETFL, O_NONBLOCK);
                fcntl(app->wake_fd[1], F_SETFL, O_NONBLOCK);
        }
        if (sl_global_new(t, conf, app->state_base, &app->global,
                          errstr, errstr_size))
                goto fail;
        app->threads = calloc((size_t)app->thread_cnt, sizeof(sl_thread_t));
        if (!app->threads) {
                sl_errstr(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (i = 0; i < app->thread_cnt; i++) {
                if (sl_thread_init(&app->threads[i], app, i, errstr,
                                   errstr_size)) {
                        app->thread_cnt = i + 1; /* destroy what was made */
                        goto fail;
                }
        }
        return app;
fail:
        app->conf = NULL; /* not ours on failure */
        app_free(app);
        return NULL;
}

void sluice_app_set_state_cb(sluice_app_t *app, sluice_state_cb *cb,
                             void *opaque) {
        mtx_lock(&app->lock);
        app->state_cb     = cb;
        app->state_opaque = opaque;
        mtx_unlock(&app->lock);
}

int sluice_app_start(sluice_app_t *app, char *errstr, size_t errstr_size) {
        int i;
        if (sluice_app_state(app) != SLUICE_APP_CREATED) {
                sl_errstr(errstr, errstr_size,
                          "sluice_app_start: the app was already started");
                return SLUICE_ERR_STATE;
        }
        if (prepare_topics(app, errstr, errstr_size))
                goto fail;
        /* global stores: bootstrapped before any stream thread subscribes
         * (no task processes a record before they hold their topics up
         * to the end offsets of now), then followed by their thread */
        if (app->global && sl_global_start(app->global, app, errstr,
                                           errstr_size))
                goto fail;
        /* exactly-once: each thread's producer fences the zombie of its
         * transactional.id (and has its transaction aborted) first */
        for (i = 0; app->conf->guarantee == SL_EOS_V2 && i < app->thread_cnt;
             i++)
                if (sl_txn_init(&app->threads[i], errstr, errstr_size))
                        goto fail;
        for (i = 0; i < app->thread_cnt; i++)
                if (sl_thread_subscribe(&app->threads[i], errstr, errstr_size))
                        goto fail;
        sl_app_set_state(app, SLUICE_APP_REBALANCING);
        if (app->host_driven)
                return 0;
        for (i = 0; i < app->thread_cnt; i++) {
                if (thrd_create(&app->threads[i].thr, sl_thread_main,
                                &app->threads[i]) != thrd_success) {
                        sl_errstr(errstr, errstr_size,
                                  "cannot start stream thread %d", i);
                        goto fail;
                }
                app->threads[i].started = 1;
        }
        return 0;
fail:
        sl_app_fail(app, "%s", errstr);
        return SLUICE_ERR_STATE;
}

void sluice_app_close(sluice_app_t *app) {
        int i, err;
        if (!app)
                return;
        mtx_lock(&app->lock);
        if (app->closed) {
                mtx_unlock(&app->lock);
                return;
        }
        app->closed = 1;
        err         = app->state == SLUICE_APP_ERROR;
        cnd_broadcast(&app->changed);
        mtx_unlock(&app->lock);
        sl_app_set_state(app, SLUICE_APP_PENDING_SHUTDOWN);
        atomic_store(&app->stop, 1);
        for (i = 0; i < app->thread_cnt; i++) {
                if (app->threads[i].started)
                        thrd_join(app->threads[i].thr, NULL);
                else if (app->host_driven)
                        sl_thread_close(&app->threads[i]);
                app->threads[i].started = 0;
        }
        if (app->global && app->global->started) {
                thrd_join(app->global->thr, NULL);
                app->global->started = 0;
        }
        /* ignored if a thread failed while closing (ERROR stays) */
        if (!err)
                sl_app_set_state(app, SLUICE_APP_NOT_RUNNING);
}

void sluice_app_destroy(sluice_app_t *app) {
        if (!app)
                return;
        sluice_app_close(app);
        app_free(app);
}

int sluice_app_run(sluice_app_t *app, char *errstr, size_t errstr_size) {
        int err;
        if (!app)
                return SLUICE_ERR_INVALID_ARG;
        if (app->host_driven) {
                sl_errstr(errstr, errstr_size,
                          "sluice_app_run: with num.stream.threads=0 the "
                          "host drives the app with sluice_app_step()");
                return SLUICE_ERR_STATE;
        }
        if ((err = sluice_app_start(app, errstr, errstr_size)))
                return err;
        mtx_lock(&app->lock);
        /* until another thread's close has finished, or an error */
        while (app->state != SLUICE_APP_ERROR &&
               app->state != SLUICE_APP_NOT_RUNNING)
                cnd_wait(&app->changed, &app->lock);
        mtx_unlock(&app->lock);
        sluice_app_close(app);
        if (sluice_app_state(app) == SLUICE_APP_ERROR) {
                sl_errstr(errstr, errstr_size, "%s", app->error);
                return SLUICE_ERR_STATE;
        }
        return 0;
}

sluice_app_state_t sluice_app_state(const sluice_app_t *app) {
        sluice_app_state_t s;
        mtx_lock((mtx_t *)&app->lock);
        s = app->state;
        mtx_unlock((mtx_t *)&app->lock);
        return s;
}

const char *sluice_app_error(const sluice_app_t *app) {
        /* written once, before the state turns ERROR */
        return app->error;
}

const char *sluice_app_bootstrap_servers(const sluice_app_t *app) {
        return app->bootstrap ? app->bootstrap
                              : sluice_conf_get(app->conf, "bootstrap.servers");
}

uint64_t sluice_app_processed(const sluice_app_t *app) {
        return atomic_load(&((sluice_app_t *)app)->processed);
}

/* ---- the host's loop ---- */

int sluice_app_fd(const sluice_app_t *app) {
        return app && app->host_driven ? app->wake_fd[0] : -1;
}

int sluice_app_step(sluice_app_t *app, int budget) {
        char drain[64];
        int n;
        if (!app || !app->host_driven || budget < 1)
                return SLUICE_ERR_INVALID_ARG;
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                return SLUICE_ERR_STATE;
        if (app->closed)
                return SLUICE_ERR_STATE;
        /* edge-triggered wake-ups: empty the pipe before looking at the
         * queues, so a wake-up arriving during this step is not lost */
        while (read(app->wake_fd[0], drain, sizeof(drain)) > 0)
                ;
        n = sl_thread_step(&app->threads[0], budget, 0);
        if (n < 0)
                return SLUICE_ERR_STATE;
        /* the global thread's work, on the host's thread too */
        if (app->global) {
                int g = sl_global_step(app->global, budget);
                if (g < 0)
                        return SLUICE_ERR_STATE;
                if (g >= budget)
                        n = budget;
        }
        /* a restore in full swing is work that remains too */
        return n >= budget || app->threads[0].restore_more ? 1 : 0;
}

int sluice_app_timeout_ms(const sluice_app_t *app) {
        const sl_thread_t *thr;
        int64_t due;
        if (!app || !app->host_driven)
                return -1;
        thr = &app->threads[0];
        due = thr->last_commit_ms + sl_conf_commit_interval_ms(app->conf) -
              sl_now_ms();
        if (due < 0)
                due = 0;
        /* wake at least every 100 ms: rebalance and metrics work */
        return due < 100 ? (int)due : 100;
}

/* ---- metrics ---- */

char *sluice_app_metrics_json(const sluice_app_t *app) {
        sl_str_t s = {0};
        int i;
        size_t k;
        if (!app)
                return NULL;
        sl_str_printf(&s, "{\"application.id\":\"%s\",\"state\":\"%s\","
                          "\"processed\":%llu,\"threads\":[",
                      app->conf->application_id,
                      sluice_app_state_name(sluice_app_state(app)),
                      (unsigned long long)sluice_app_processed(app));
        for (i = 0; i < app->thread_cnt; i++) {
                sl_thread_t *thr = &app->threads[i];
                const sl_thread_metrics_t *m = &thr->m;
                mtx_lock(&thr->lock);
                sl_str_printf(
                    &s,
                    "%s{\"thread\":%d,\"consumed\":%llu,\"processed\":%llu,"
                    "\"produced\":%llu,\"skipped\":{\"deserialization\":%llu,"
                    "\"null_key_or_value\":%llu,\"invalid_timestamp\":%llu},"
                    "\"skipped_invalid_timestamp\":%llu,"
                    "\"dead_lettered\":%llu,\"commits\":%llu,"
                    "\"commit_latency_avg_ms\":%.3f,"
                    "\"commit_latency_max_ms\":%.3f,\"rebalances\":%llu,"
                    "\"transactions_aborted\":%llu,"
                    "\"producers_abandoned\":%llu,\"tasks\":[",
                    i ? "," : "", i, (unsigned long long)m->consumed,
                    (unsigned long long)m->processed,
                    (unsigned long long)m->produced,
                    (unsigned long long)m->skipped,
                    (unsigned long long)m->dropped,
                    (unsigned long long)m->skipped_invalid_timestamp,
                    (unsigned long long)m->skipped_invalid_timestamp,
                    (unsigned long long)m->dead_lettered,
                    (unsigned long long)m->commits,
                    m->commits ? (double)m->commit_us_total /
                                     (double)m->commits / 1000.0
                               : 0.0,
                    (double)m->commit_us_max / 1000.0,
                    (unsigned long long)m->rebalances,
                    (unsigned long long)m->aborts,
                    (unsigned long long)m->abandoned);
                for (k = 0; k < m->task_cnt; k++)
                        sl_str_printf(
                            &s,
                            "%s{\"task\":\"%d_%d\",\"consumed\":%llu,"
                            "\"processed\":%llu,\"produced\":%llu,"
                            "\"skipped\":%llu,\"dead_lettered\":%llu,"
                            "\"skipped_invalid_timestamp\":%llu,"
                            "\"inputs\":%s,\"operators\":%s}",
                            k ? "," : "", m->tasks[k].sub,
                            (int)m->tasks[k].partition,
                            (unsigned long long)m->tasks[k].consumed,
                            (unsigned long long)m->tasks[k].processed,
                            (unsigned long long)m->tasks[k].produced,
                            (unsigned long long)m->tasks[k].skipped,
                            (unsigned long long)m->tasks[k].dead_lettered,
                            (unsigned long long)m->tasks[k]
                                .skipped_invalid_timestamp,
                            m->tasks[k].inputs ? m->tasks[k].inputs : "[]",
                            m->tasks[k].operators ? m->tasks[k].operators
                                                  : "{}");
                sl_str_printf(&s, "],\"lag\":[");
                for (k = 0; k < m->lag_cnt; k++)
                        sl_str_printf(&s,
                                      "%s{\"topic\":\"%s\",\"partition\":%d,"
                                      "\"position\":%lld,\"end\":%lld,"
                                      "\"lag\":%lld}",
                                      k ? "," : "", m->lag[k].topic,
                                      (int)m->lag[k].partition,
                                      (long long)m->lag[k].position,
                                      (long long)m->lag[k].high,
                                      (long long)m->lag[k].lag);
                sl_str_printf(&s, "],\"librdkafka\":{\"consumer\":%s,"
                                  "\"producer\":%s}}",
                              m->consumer_stats ? m->consumer_stats : "null",
                              m->producer_stats ? m->producer_stats : "null");
                mtx_unlock(&thr->lock);
        }
        sl_str_printf(&s, "]");
        if (app->global) {
                sl_str_printf(&s, ",");
                sl_global_metrics(app->global, &s);
        }
        sl_str_printf(&s, "}");
        return sl_str_take(&s);
}

/* ---- local queries ---- */

/* Visit every local instance of @store: a get (@key) or a range. */
static int64_t app_store_query(sluice_app_t *app, const char *store,
                               const void *key, size_t key_len,
                               const void *from, size_t from_len,
                               const void *to, size_t to_len, int is_get,
                               sluice_kv_cb *cb, void *opaque) {
        int64_t total = 0, r = 0;
        int i;
        if (!app || !store || !cb || (is_get && !key))
                return SLUICE_ERR_INVALID_ARG;
        if ((i = sl_global_by_store(app->t, store)) >= 0) {
                /* a global store: whole on every instance, its own lock */
                if (!app->global || !atomic_load(&app->global->running))
                        return SLUICE_ERR_STATE; /* not bootstrapped */
                return is_get ? sl_global_get(app->global, i, key, key_len,
                                              cb, opaque)
                              : sl_global_range(app->global, i, from,
                                                from_len, to, to_len, cb,
                                                opaque);
        }
        if (!sl_topology_store(app->t, store))
                return SLUICE_ERR_STATE; /* no such store */
        for (i = 0; i < app->thread_cnt && r >= 0; i++) {
                sl_thread_t *thr = &app->threads[i];
                size_t k;
                mtx_lock(&thr->tasks_lock);
                for (k = 0; k < thr->task_cnt && r >= 0; k++) {
                        sl_task_t *task = &thr->tasks[k]->task;
                        sluice_kv_t *kv = sl_task_kv(task, store);
                        if (!kv)
                                continue;
                        mtx_lock(&task->lock);
                        if (kv->restoring)
                                r = SLUICE_ERR_STATE;
                        else if (is_get)
                                r = sluice_kv_get(kv, key, key_len, cb,
                                                  opaque);
                        else if (sl_versioned_is(kv))
                                r = SLUICE_ERR_INVALID_ARG; /* by key only */
                        else
                                r = sl_kv_range(kv, from, from_len, to,
                                                to_len, cb, opaque);
                        mtx_unlock(&task->lock);
                        if (r > 0)
                                total += r;
                        if (is_get && r > 0)
                                break; /* a key lives in one partition */
                }
                mtx_unlock(&thr->tasks_lock);
                if (is_get && total)
                        break;
        }
        return r < 0 ? r : total;
}

int64_t sluice_app_window_fetch(sluice_app_t *app, const char *store,
                                const void *key, size_t key_len,
                                int64_t time_from, int64_t time_to,
                                sluice_window_cb *cb, void *opaque) {
        int64_t total = 0, r = 0;
        int i;
        if (!app || !store || !cb)
                return SLUICE_ERR_INVALID_ARG;
        if (!sl_topology_store(app->t, store))
                return SLUICE_ERR_STATE; /* no such store */
        for (i = 0; i < app->thread_cnt && r >= 0; i++) {
                sl_thread_t *thr = &app->threads[i];
                size_t k;
                mtx_lock(&thr->tasks_lock);
                for (k = 0; k < thr->task_cnt && r >= 0; k++) {
                        sl_task_t *task = &thr->tasks[k]->task;
                        sluice_kv_t *kv = sl_task_kv(task, store);
                        if (!kv)
                                continue;
                        mtx_lock(&task->lock);
                        r = kv->restoring
                                ? SLUICE_ERR_STATE
                                : sl_window_fetch(kv, key, key_len, time_from,
                                                  time_to, cb, opaque);
                        mtx_unlock(&task->lock);
                        if (r > 0)
                                total += r;
                }
                mtx_unlock(&thr->tasks_lock);
        }
        return r < 0 ? r : total;
}

int sluice_app_versioned_get(sluice_app_t *app, const char *store,
                             const void *key, size_t key_len, int64_t as_of,
                             sluice_version_cb *cb, void *opaque) {
        int r = 0, i;
        if (!app || !store || !key || !cb)
                return SLUICE_ERR_INVALID_ARG;
        if (!sl_topology_store(app->t, store))
                return SLUICE_ERR_STATE; /* no such store */
        if (!sl_topology_store(app->t, store)->versioned)
                return SLUICE_ERR_INVALID_ARG;
        for (i = 0; i < app->thread_cnt && !r; i++) {
                sl_thread_t *thr = &app->threads[i];
                size_t k;
                mtx_lock(&thr->tasks_lock);
                for (k = 0; k < thr->task_cnt && !r; k++) {
                        sl_task_t *task = &thr->tasks[k]->task;
                        sluice_kv_t *kv = sl_task_kv(task, store);
                        const void *v;
                        size_t vlen;
                        int64_t from, to;
                        if (!kv)
                                continue;
                        mtx_lock(&task->lock);
                        if (kv->restoring)
                                r = SLUICE_ERR_STATE;
                        else if ((r = sl_versioned_get(kv, key, key_len,
                                                       as_of, &v, &vlen, &from,
                                                       &to)) > 0)
                                cb(key, key_len, v, vlen, from, to, opaque);
                        mtx_unlock(&task->lock);
                }
                mtx_unlock(&thr->tasks_lock);
        }
        return r;
}

int sluice_app_store_get(sluice_app_t *app, const char *store, const void *key,
                         size_t key_len, sluice_kv_cb *cb, void *opaque) {
        return (int)app_store_query(app, store, key, key_len, NULL, 0, NULL,
                                    0, 1, cb, opaque);
}

int64_t sluice_app_store_range(sluice_app_t *app, const char *store,
                               const void *from, size_t from_len,
                               const void *to, size_t to_len,
                               sluice_kv_cb *cb, void *opaque) {
        return app_store_query(app, store, NULL, 0, from, from_len, to,
                               to_len, 0, cb, opaque);
}
