/*
 * kafka_util.c - see kafka_util.h.
 */
#include "kafka_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ku_wait_for(int (*cond)(void *arg), void *arg, int timeout_ms) {
        int64_t end = now_ms() + timeout_ms;
        struct timespec tick = {0, 10 * 1000 * 1000};
        while (!cond(arg)) {
                if (now_ms() > end)
                        return 0;
                nanosleep(&tick, NULL); /* poll interval, not a stand-in */
        }
        return 1;
}

int ku_produce(const char *bootstrap, const char *topic, int n,
               const char *(*key_of)(int i, char *buf, size_t size),
               const char *(*value_of)(int i, char *buf, size_t size),
               int32_t partition) {
        char err[512], kb[256], vb[1024];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *p;
        int i, rc = 0;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!p) {
                fprintf(stderr, "ku_produce: %s\n", err);
                return -1;
        }
        for (i = 0; i < n && !rc; i++) {
                const char *k = key_of ? key_of(i, kb, sizeof(kb)) : NULL;
                const char *v = value_of ? value_of(i, vb, sizeof(vb)) : NULL;
                rd_kafka_resp_err_t e;
                do {
                        e = rd_kafka_producev(
                            p, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY((void *)k, k ? strlen(k) : 0),
                            RD_KAFKA_V_VALUE((void *)v, v ? strlen(v) : 0),
                            RD_KAFKA_V_END);
                        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(p, 10);
                } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
                if (e) {
                        fprintf(stderr, "ku_produce: %s\n", rd_kafka_err2str(e));
                        rc = -1;
                }
        }
        if (rd_kafka_flush(p, 30000))
                rc = -1;
        rd_kafka_destroy(p);
        return rc;
}

static char *dup_n(const void *p, size_t n) {
        char *s;
        if (!p)
                return NULL;
        s = malloc(n + 1);
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

int ku_consume(const char *bootstrap, const char *topic, int want,
               int timeout_ms, ku_record_t **out) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_topic_t *rkt;
        ku_record_t *recs = calloc((size_t)want + 1, sizeof(*recs));
        int n = 0, i;
        int64_t end = now_ms() + timeout_ms;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "ku-reader", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        *out = recs;
        if (!rk)
                return 0;
        rkt = rd_kafka_topic_new(rk, topic, NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000)) {
                rd_kafka_topic_destroy(rkt);
                rd_kafka_destroy(rk);
                return 0;
        }
        parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (i = 0; i < md->topics[0].partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_assign(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        while (n < want && now_ms() < end) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        recs[n].key       = dup_n(m->key, m->key_len);
                        recs[n].value     = dup_n(m->payload, m->len);
                        recs[n].partition = m->partition;
                        recs[n].offset    = m->offset;
                        recs[n].timestamp = rd_kafka_message_timestamp(m, NULL);
                        n++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

void ku_free(ku_record_t *recs, int n) {
        int i;
        for (i = 0; i < n; i++) {
                free(recs[i].key);
                free(recs[i].value);
        }
        free(recs);
}

int ku_produce_raw(const char *bootstrap, const char *topic, int32_t partition,
                   const void *key, size_t key_len, const void *value,
                   size_t value_len, int64_t timestamp) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *p;
        int rc;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        /* tests send records larger than an app's producer may */
        rd_kafka_conf_set(c, "message.max.bytes", "10000000", NULL, 0);
        p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!p) {
                fprintf(stderr, "ku_produce_raw: %s\n", err);
                return -1;
        }
        rc = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                               RD_KAFKA_V_PARTITION(partition),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                               RD_KAFKA_V_KEY((void *)key, key_len),
                               RD_KAFKA_V_VALUE((void *)value, value_len),
                               RD_KAFKA_V_TIMESTAMP(timestamp),
                               RD_KAFKA_V_END)
                 ? -1
                 : 0;
        if (!rc && rd_kafka_flush(p, 10000))
                rc = -1;
        rd_kafka_destroy(p);
        return rc;
}

int64_t ku_committed(const char *bootstrap, const char *group,
                     const char *topic, int32_t partition) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_t *k;
        int64_t off = -2;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        /* reads the group's offsets; never joins it */
        k = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        if (!k) {
                fprintf(stderr, "ku_committed: %s\n", err);
                return -2;
        }
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        if (!rd_kafka_committed(k, l, 10000) && !l->elems[0].err)
                off = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(k);
        return off;
}

int ku_topic_ready(rd_kafka_t *rk, const char *topic, int partitions) {
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int ok                = 0, i;
        if (!rkt)
                return 0;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
                ok = md->topic_cnt == 1 && !md->topics[0].err &&
                     md->topics[0].partition_cnt == partitions;
                for (i = 0; ok && i < partitions; i++)
                        ok = !md->topics[0].partitions[i].err &&
                             md->topics[0].partitions[i].leader >= 0;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        return ok;
}
