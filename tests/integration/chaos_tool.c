/*
 * chaos_tool.c - the client side of tests/integration/chaos.sh: creates
 * its topics, produces the input, tells which broker leads the most
 * partitions and whether the app has caught up, and verifies the outputs.
 * A plain librdkafka program: nothing of Sluice is used to check Sluice.
 *
 * The input: N records, record i keyed "i<i>" (a unique id) with the value
 * "k<key> <amount>", key = mix(seed, i) % KEYS, amount = 1 + mix(seed, i +
 * N) % 1000. The app (tests/integration/app_chaos.c) writes the records of
 * even amount to the copy topic as they came, and per key the running sum
 * of the amounts to the sums topic.
 *
 * Usage: chaos_tool COMMAND --bootstrap B [options]
 *   create   --topics T1,T2,... --partitions P [--rf R] [--min-isr M]
 *   produce  --topic T --records N --keys K --seed S
 *   leader                               the broker id leading the most
 *                                        partitions (all topics, the
 *                                        internal ones included)
 *   lag      --group G --topics T1,...  the records between the group's
 *                                        committed offsets and the ends
 *                                        (markers count too)
 *   caught-up --group G --topics T1,...  exit 0 when every partition's
 *                                        committed offset has no committed
 *                                        record after it (read_committed:
 *                                        markers and aborted records do
 *                                        not count), else 1 printing what
 *                                        remains
 *   verify   --copy T --sums T --records N --keys K --seed S
 *            [--isolation read_committed|read_uncommitted]
 *            prints one VERIFY line; exit 0 iff every expected input is in
 *            the copy exactly once, nothing else is, and every key's last
 *            sum is the sum of its inputs
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

static struct {
        const char *bootstrap, *topic, *topics, *group, *copy, *sums;
        const char *isolation;
        long records, keys, seed;
        int partitions, rf, min_isr;
} opt = {NULL, NULL, NULL, NULL, NULL, NULL, "read_committed",
         0,    1000, 1,    6,    3,    2};

static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "chaos_tool: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(2);
}

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}
static long key_of(long i) {
        return (long)(mix((uint64_t)opt.seed * 1000003u + (uint64_t)i) %
                      (uint64_t)opt.keys);
}
static long amount_of(long i) {
        return 1 + (long)(mix((uint64_t)opt.seed * 1000003u +
                              (uint64_t)(i + opt.records)) %
                          1000u);
}

static rd_kafka_conf_t *base_conf(void) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        if (rd_kafka_conf_set(c, "bootstrap.servers", opt.bootstrap, err,
                              sizeof(err)))
                die("%s", err);
        rd_kafka_conf_set(c, "log_level", "3", NULL, 0);
        return c;
}

static rd_kafka_t *client(rd_kafka_type_t type, rd_kafka_conf_t *c) {
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof(err));
        if (!rk)
                die("%s", err);
        return rk;
}

/* ---- create ---- */

static int cmd_create(void) {
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, base_conf());
        rd_kafka_NewTopic_t *nts[16];
        char *list = strdup(opt.topics), *tok, *save = NULL, err[512], v[16];
        size_t n = 0, i, cnt = 0;
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        int rc = 0;
        for (tok = strtok_r(list, ",", &save); tok && n < 16;
             tok = strtok_r(NULL, ",", &save)) {
                if (!(nts[n] = rd_kafka_NewTopic_new(tok, opt.partitions,
                                                     opt.rf, err, sizeof(err))))
                        die("%s", err);
                snprintf(v, sizeof(v), "%d", opt.min_isr);
                rd_kafka_NewTopic_set_config(nts[n], "min.insync.replicas", v);
                n++;
        }
        rd_kafka_CreateTopics(rk, nts, n, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (i = 0; i < cnt; i++)
                if (rd_kafka_topic_result_error(res[i]) &&
                    rd_kafka_topic_result_error(res[i]) !=
                        RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        fprintf(stderr, "chaos_tool: %s: %s\n",
                                rd_kafka_topic_result_name(res[i]),
                                rd_kafka_topic_result_error_string(res[i]));
                        rc = 2;
                }
        rd_kafka_event_destroy(ev);
        for (i = 0; i < n; i++)
                rd_kafka_NewTopic_destroy(nts[i]);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        free(list);
        return rc;
}

/* ---- produce ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        if (m->err)
                *(int *)opaque = 1;
}

static int cmd_produce(void) {
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *p;
        int failed = 0;
        long i;
        char k[32], v[64];
        rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "20", NULL, 0);
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set_opaque(c, &failed);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        p = client(RD_KAFKA_PRODUCER, c);
        for (i = 0; i < opt.records && !failed; i++) {
                rd_kafka_resp_err_t e;
                int kl = snprintf(k, sizeof(k), "i%ld", i);
                int vl = snprintf(v, sizeof(v), "k%ld %ld", key_of(i),
                                  amount_of(i));
                while ((e = rd_kafka_producev(
                            p, RD_KAFKA_V_TOPIC(opt.topic),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(k, (size_t)kl),
                            RD_KAFKA_V_VALUE(v, (size_t)vl), RD_KAFKA_V_END)) ==
                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                if (e)
                        die("produce: %s", rd_kafka_err2str(e));
                rd_kafka_poll(p, 0);
        }
        if (rd_kafka_flush(p, 120000) || failed)
                die("produce: not every record was delivered");
        rd_kafka_destroy(p);
        printf("PRODUCED %ld\n", opt.records);
        return 0;
}

/* ---- leader ---- */

static int cmd_leader(void) {
        rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, base_conf());
        const struct rd_kafka_metadata *md;
        int counts[64] = {0}, t, p, best = -1;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
        if (e)
                die("metadata: %s", rd_kafka_err2str(e));
        for (t = 0; t < md->topic_cnt; t++)
                for (p = 0; p < md->topics[t].partition_cnt; p++) {
                        int l = md->topics[t].partitions[p].leader;
                        if (l >= 0 && l < 64)
                                counts[l]++;
                }
        for (t = 0; t < 64; t++)
                if (counts[t] && (best < 0 || counts[t] > counts[best]))
                        best = t;
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        if (best < 0)
                die("no partition has a leader");
        printf("%d %d\n", best, counts[best]);
        return 0;
}

/* ---- caught-up ---- */

/* The partitions of @topics (comma-separated). */
static rd_kafka_topic_partition_list_t *partitions_of(rd_kafka_t *rk,
                                                      const char *topics) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(32);
        char *list = strdup(topics), *tok, *save = NULL;
        for (tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
                const struct rd_kafka_metadata *md;
                rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, tok, NULL);
                int p;
                if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) ||
                    md->topic_cnt != 1 || md->topics[0].err)
                        die("metadata of %s", tok);
                for (p = 0; p < md->topics[0].partition_cnt; p++)
                        rd_kafka_topic_partition_list_add(l, tok, p);
                rd_kafka_metadata_destroy(md);
                rd_kafka_topic_destroy(rkt);
        }
        free(list);
        return l;
}

static int cmd_lag(void) {
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        long long lag = 0;
        int i;
        rd_kafka_conf_set(c, "group.id", opt.group, NULL, 0);
        rd_kafka_conf_set(c, "isolation.level", "read_committed", NULL, 0);
        rk    = client(RD_KAFKA_CONSUMER, c);
        parts = partitions_of(rk, opt.topics);
        if (rd_kafka_committed(rk, parts, 30000))
                die("committed offsets of group %s", opt.group);
        for (i = 0; i < parts->cnt; i++) {
                int64_t lo = 0, hi = 0, off = parts->elems[i].offset;
                if (rd_kafka_query_watermark_offsets(
                        rk, parts->elems[i].topic, parts->elems[i].partition,
                        &lo, &hi, 10000))
                        die("watermarks");
                lag += hi - (off < 0 ? lo : off);
        }
        printf("%lld\n", lag);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_destroy(rk);
        return 0;
}

static int cmd_caught_up(void) {
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts, *probe;
        int i, behind = 0;
        int64_t deadline;
        rd_kafka_conf_set(c, "group.id", opt.group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
        /* committed() waits for the stable offsets then */
        rd_kafka_conf_set(c, "isolation.level", "read_committed", NULL, 0);
        rk    = client(RD_KAFKA_CONSUMER, c);
        parts = partitions_of(rk, opt.topics);
        if (rd_kafka_committed(rk, parts, 30000))
                die("committed offsets of group %s", opt.group);
        /* from each committed offset: is there a committed record, or an
         * open transaction (the end read_committed stops at, the last
         * stable offset, is then below the high watermark)? */
        probe = rd_kafka_topic_partition_list_new(parts->cnt);
        for (i = 0; i < parts->cnt; i++) {
                int64_t lo = 0, hi = 0, off = parts->elems[i].offset;
                if (rd_kafka_query_watermark_offsets(
                        rk, parts->elems[i].topic, parts->elems[i].partition,
                        &lo, &hi, 10000))
                        die("watermarks");
                if (off < 0)
                        off = lo;
                if (off < hi) {
                        rd_kafka_topic_partition_t *e =
                            rd_kafka_topic_partition_list_add(
                                probe, parts->elems[i].topic,
                                parts->elems[i].partition);
                        e->offset = off;
                        e->opaque = (void *)(intptr_t)hi;
                }
        }
        if (probe->cnt) {
                int pending = probe->cnt;
                rd_kafka_assign(rk, probe);
                deadline = now_ms() + 10000;
                while (pending > 0 && now_ms() < deadline) {
                        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                        rd_kafka_topic_partition_t *e;
                        if (!m)
                                continue;
                        e = m->rkt ? rd_kafka_topic_partition_list_find(
                                         probe, rd_kafka_topic_name(m->rkt),
                                         m->partition)
                                   : NULL;
                        if (e && e->offset >= 0 &&
                            (!m->err ||
                             m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
                                if (!m->err ||
                                    m->offset < (int64_t)(intptr_t)e->opaque) {
                                        printf("behind: %s [%d] from %lld%s\n",
                                               e->topic, (int)e->partition,
                                               (long long)e->offset,
                                               m->err ? " (a transaction is "
                                                        "open)"
                                                      : "");
                                        behind++;
                                }
                                e->offset = -1; /* answered */
                                pending--;
                        }
                        rd_kafka_message_destroy(m);
                }
                if (pending > 0) {
                        printf("behind: %d partition(s) did not answer\n",
                               pending);
                        behind += pending;
                }
        }
        rd_kafka_topic_partition_list_destroy(probe);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return behind ? 1 : 0;
}

/* ---- verify ---- */

typedef void(record_fn)(const rd_kafka_message_t *m, void *arg);

/* Read every partition of @topic from its start to its end (at
 * read_committed: to where no transaction is open); @fn per record. */
static long read_all(const char *topic, record_fn *fn, void *arg) {
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts;
        int64_t *hi, deadline = now_ms() + 300000;
        int i, left;
        long n = 0;
        rd_kafka_conf_set(c, "group.id", "chaos-verify", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.partition.eof", "true", NULL, 0);
        rd_kafka_conf_set(c, "isolation.level", opt.isolation, NULL, 0);
        rk    = client(RD_KAFKA_CONSUMER, c);
        parts = partitions_of(rk, topic);
        hi    = calloc((size_t)parts->cnt, sizeof(*hi));
        for (i = 0; i < parts->cnt; i++) {
                int64_t lo;
                if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi[i],
                                                     10000))
                        die("watermarks of %s", topic);
                parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        rd_kafka_assign(rk, parts);
        left = parts->cnt;
        for (i = 0; i < parts->cnt; i++)
                if (hi[i] == 0) {
                        hi[i] = -1; /* empty: done */
                        left--;
                }
        while (left > 0) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
                if (now_ms() > deadline)
                        die("%s: not read to its end in 300 s", topic);
                if (!m)
                        continue;
                if (!m->err) {
                        fn(m, arg);
                        n++;
                }
                if ((!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) &&
                    m->partition >= 0 && m->partition < parts->cnt &&
                    hi[m->partition] >= 0 &&
                    m->offset + (m->err ? 0 : 1) >= hi[m->partition]) {
                        hi[m->partition] = -1;
                        left--;
                } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        fprintf(stderr, "chaos_tool: %s: %s\n", topic,
                                rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
        }
        free(hi);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

typedef struct {
        unsigned char *seen; /* per id, saturating */
        long bad;            /* not one of the inputs as it came */
} copy_t;

static void on_copy(const rd_kafka_message_t *m, void *arg) {
        copy_t *c = arg;
        char k[32], v[64], want[64];
        long id;
        if (!m->key || m->key_len >= sizeof(k) || !m->payload ||
            m->len >= sizeof(v)) {
                c->bad++;
                return;
        }
        memcpy(k, m->key, m->key_len);
        k[m->key_len] = '\0';
        memcpy(v, m->payload, m->len);
        v[m->len] = '\0';
        if (sscanf(k, "i%ld", &id) != 1 || id < 0 || id >= opt.records) {
                c->bad++;
                return;
        }
        snprintf(want, sizeof(want), "k%ld %ld", key_of(id), amount_of(id));
        if (strcmp(v, want)) {
                c->bad++;
                return;
        }
        if (c->seen[id] < 255)
                c->seen[id]++;
}

typedef struct {
        int64_t *last;    /* per key: the last sum seen, -1 none */
        long regressions; /* a sum not above the key's previous one */
        long bad;
} sums_t;

static void on_sum(const rd_kafka_message_t *m, void *arg) {
        sums_t *s = arg;
        char k[32];
        long key;
        int64_t v = 0;
        size_t i;
        if (!m->key || m->key_len >= sizeof(k) || !m->payload || m->len != 8) {
                s->bad++;
                return;
        }
        memcpy(k, m->key, m->key_len);
        k[m->key_len] = '\0';
        if (sscanf(k, "k%ld", &key) != 1 || key < 0 || key >= opt.keys) {
                s->bad++;
                return;
        }
        for (i = 0; i < 8; i++)
                v = (int64_t)((uint64_t)v << 8 |
                              ((const unsigned char *)m->payload)[i]);
        /* amounts are positive: each update is above the last one, unless
         * an update was applied again from an older state */
        if (s->last[key] >= 0 && v <= s->last[key])
                s->regressions++;
        s->last[key] = v;
}

static int cmd_verify(void) {
        copy_t c = {calloc((size_t)opt.records, 1), 0};
        sums_t s = {malloc((size_t)opt.keys * sizeof(int64_t)), 0, 0};
        int64_t *want = calloc((size_t)opt.keys, sizeof(int64_t));
        long i, expected = 0, dups = 0, missing = 0, unexpected = 0, wrong = 0,
                nosum = 0, copy_n, sums_n;
        for (i = 0; i < opt.keys; i++)
                s.last[i] = -1;
        copy_n = read_all(opt.copy, on_copy, &c);
        sums_n = read_all(opt.sums, on_sum, &s);
        for (i = 0; i < opt.records; i++) {
                int keep = amount_of(i) % 2 == 0;
                want[key_of(i)] += amount_of(i);
                expected += keep;
                if (keep && c.seen[i] == 0)
                        missing++;
                if (keep && c.seen[i] > 1)
                        dups += c.seen[i] - 1;
                if (!keep && c.seen[i])
                        unexpected += c.seen[i];
        }
        for (i = 0; i < opt.keys; i++) {
                if (s.last[i] < 0)
                        nosum++;
                else if (s.last[i] != want[i])
                        wrong++;
        }
        printf("VERIFY %s copy: records=%ld expected=%ld duplicates=%ld "
               "missing=%ld unexpected=%ld malformed=%ld; sums: records=%ld "
               "keys=%ld wrong=%ld missing=%ld regressions=%ld "
               "malformed=%ld\n",
               opt.isolation, copy_n, expected, dups, missing, unexpected,
               c.bad, sums_n, opt.keys, wrong, nosum, s.regressions, s.bad);
        free(c.seen);
        free(s.last);
        free(want);
        return dups || missing || unexpected || c.bad || wrong || nosum ||
                       s.bad
                   ? 1
                   : 0;
}

static void usage(void) {
        fprintf(stderr,
                "usage: chaos_tool create|produce|leader|lag|caught-up|verify "
                "--bootstrap B [options] (see the top of chaos_tool.c)\n");
        exit(64);
}

int main(int argc, char **argv) {
        const char *cmd;
        int i;
        if (argc < 2)
                usage();
        cmd = argv[1];
        for (i = 2; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!v)
                        usage();
                if (!strcmp(a, "--bootstrap"))
                        opt.bootstrap = v;
                else if (!strcmp(a, "--topic"))
                        opt.topic = v;
                else if (!strcmp(a, "--topics"))
                        opt.topics = v;
                else if (!strcmp(a, "--group"))
                        opt.group = v;
                else if (!strcmp(a, "--copy"))
                        opt.copy = v;
                else if (!strcmp(a, "--sums"))
                        opt.sums = v;
                else if (!strcmp(a, "--isolation"))
                        opt.isolation = v;
                else if (!strcmp(a, "--records"))
                        opt.records = atol(v);
                else if (!strcmp(a, "--keys"))
                        opt.keys = atol(v);
                else if (!strcmp(a, "--seed"))
                        opt.seed = atol(v);
                else if (!strcmp(a, "--partitions"))
                        opt.partitions = atoi(v);
                else if (!strcmp(a, "--rf"))
                        opt.rf = atoi(v);
                else if (!strcmp(a, "--min-isr"))
                        opt.min_isr = atoi(v);
                else
                        usage();
                i++;
        }
        if (!opt.bootstrap)
                usage();
        if (!strcmp(cmd, "create") && opt.topics)
                return cmd_create();
        if (!strcmp(cmd, "produce") && opt.topic && opt.records > 0 &&
            opt.keys > 0)
                return cmd_produce();
        if (!strcmp(cmd, "leader"))
                return cmd_leader();
        if (!strcmp(cmd, "lag") && opt.group && opt.topics)
                return cmd_lag();
        if (!strcmp(cmd, "caught-up") && opt.group && opt.topics)
                return cmd_caught_up();
        if (!strcmp(cmd, "verify") && opt.copy && opt.sums &&
            opt.records > 0 && opt.keys > 0)
                return cmd_verify();
        usage();
        return 64;
}
