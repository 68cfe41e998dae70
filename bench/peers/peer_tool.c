/*
 * bench/peers/peer_tool.c - the Kafka side of the side-by-side harness
 * (bench/peers/run): it makes the inputs, checks the outputs and measures
 * latency, the same way whichever system (Sluice, Kafka Streams, Quix
 * Streams) did the processing. The systems themselves are
 * bench/peers/sluice_peer.c, bench/peers/kafka-streams/ and
 * bench/peers/quix/.
 *
 * Every record is a pure function of its index i (a splitmix64 hash of i,
 * no sequential generator), so `verify` recomputes what a correct output
 * holds from the same N without any file passed between the steps.
 *
 *   peer_tool create BOOT TOPIC PARTITIONS
 *   peer_tool load   BOOT WORKLOAD TOPIC N [--table TOPIC] [--base MS]
 *   peer_tool verify BOOT WORKLOAD TOPIC PARTITIONS N [--base MS]
 *                    [--timeout S]
 *   peer_tool feed   BOOT WORKLOAD IN OUT PARTITIONS RATE WARMUP_S MEASURE_S
 *                    [--tail S]
 *   peer_tool caught-up BOOT GROUP TOPIC PARTITIONS TIMEOUT_S
 *
 * Workloads (what a correct output is):
 *   pipe      100-byte values, keys k<i>; map flips the case of byte 12,
 *             filter drops the 1 in 10000 with '#' at byte 11. Output: the
 *             kept records, each value checked.
 *   wordcount lines of 8 words drawn from 10,000 (w0000..w9999). Output:
 *             word -> count (int64, 8 bytes big-endian, Kafka's LongSerde);
 *             the last count of every word must equal its count in the input.
 *   windows   keys w<k>, k drawn from 100,000, timestamps --base + i / 10 ms
 *             (the loader prints the base it chose); a count per key in
 *             1-minute tumbling windows. Output key: key bytes + the window
 *             start as 8 bytes big-endian (TimeWindowedSerializer), value
 *             int64. The last count of every (key, window) must equal the
 *             input's.
 *   enrich    a table topic of 100,000 keys t<k> -> "name-<k>|region-..|.."
 *             (timestamps before every stream record's), a stream of
 *             100-byte values keyed by a random t<k>. Output: stream value
 *             "|" table value, every record checked.
 *   json      ~300-byte JSON objects with a 64-bit "id" above 2^53; keep
 *             "ok": true (9 in 10), add "tier": "gold" when amount >= 500
 *             else "std". Output: the kept records; one in 8 is parsed and
 *             its id (exact), user and tier checked.
 *
 * verify reads the output topic from the beginning (read_committed) and
 * prints `{"complete_ms": T}` the moment the output is complete (a counted
 * workload has every record, a stateful one has every key at its final
 * value), then goes on to the end of every partition and prints the verdict
 * `{"ok": true|false, ...}`; exit 0 only when it is right.
 *
 * feed produces RATE records/s (timestamps = the produce time) into IN
 * while reading OUT: until the first output appears (the system has joined
 * its group and runs: at most 300 s), then WARMUP_S + MEASURE_S seconds,
 * then TAIL more seconds of OUT only; latency is the time an output record
 * became visible minus its timestamp, for output records whose timestamp
 * falls in the measured window. Prints {"n":..,"p50_ms":..,"p99_ms":..,"p999_ms":..,...}.
 *
 * caught-up waits until consumer group GROUP has committed the end of
 * every partition of TOPIC (the enrich workload's table, before its latency
 * is measured: a warm-up that still loads the table would time the load);
 * exit 1 after TIMEOUT_S.
 */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "peer_tool"
#include "../bench_util.h"

enum { W_PIPE, W_WORDCOUNT, W_WINDOWS, W_ENRICH, W_JSON };
static const char *const wl_names[] = {"pipe", "wordcount", "windows",
                                       "enrich", "json"};

#define VOCAB 10000
#define WIN_KEYS 100000
#define TABLE_KEYS 100000
#define MINUTE_MS 60000
#define PER_MS 10 /* windows: records per ms of event time */
#define VALUE_SIZE 100
#define MARK_AT 11
#define FLIP_AT 12
#define JSON_ID_BASE 9007199254740993LL /* 2^53 + 1: a double loses it */
#define JSON_SAMPLE 8

static int workload_of(const char *name) {
        int w;
        for (w = 0; w < 5; w++)
                if (!strcmp(name, wl_names[w]))
                        return w;
        die("unknown workload %s", name);
        return -1;
}

static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}

static int64_t realtime_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t realtime_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the records ---- */

typedef struct {
        char key[32];
        size_t key_len;
        char val[512];
        size_t val_len;
} rec_t;

static void pipe_value(char *val, long i) {
        int k;
        char head[16];
        snprintf(head, sizeof(head), "%010ld ", i % 10000000000L);
        for (k = 0; k < VALUE_SIZE; k++)
                val[k] = (char)('a' + k % 26);
        memcpy(val, head, 11);
        val[MARK_AT] = i % 10000 == 9999 ? '#' : 'm';
}

static unsigned word_of(long i, int k) {
        return (unsigned)(mix((uint64_t)i * 8 + (uint64_t)k) % VOCAB);
}

static long win_key_of(long i) {
        return (long)(mix((uint64_t)i ^ 0x5555ull) % WIN_KEYS);
}

static long table_key_of(long i) {
        return (long)(mix((uint64_t)i ^ 0xaaaaull) % TABLE_KEYS);
}

static int table_value(char *out, size_t cap, long k) {
        return snprintf(out, cap, "name-%07ld|region-%02ld|tier-%ld", k,
                        k % 37, k % 5);
}

static long json_cents(long i) {
        return (long)(mix((uint64_t)i ^ 0x3333ull) % 100000);
}

static int json_ok(long i) { return i % 10 != 9; }

/* record @i of workload @w (stream side) */
static void make_record(int w, long i, rec_t *r) {
        int n;
        unsigned k;
        switch (w) {
        case W_PIPE:
                r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "k%07ld",
                                              i % 10000000);
                pipe_value(r->val, i);
                r->val_len = VALUE_SIZE;
                break;
        case W_WORDCOUNT:
                r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "k%07ld",
                                              i % 10000000);
                for (k = 0, n = 0; k < 8; k++)
                        n += snprintf(r->val + n, sizeof(r->val) - (size_t)n,
                                      k ? " w%04u" : "w%04u", word_of(i, (int)k));
                r->val_len = (size_t)n;
                break;
        case W_WINDOWS:
                r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "w%07ld",
                                              win_key_of(i));
                pipe_value(r->val, i);
                r->val_len = VALUE_SIZE;
                break;
        case W_ENRICH:
                r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "t%07ld",
                                              table_key_of(i));
                pipe_value(r->val, i);
                r->val[MARK_AT] = 'm'; /* nothing filtered */
                r->val_len      = VALUE_SIZE;
                break;
        default: {
                long c     = json_cents(i);
                r->key_len = (size_t)snprintf(r->key, sizeof(r->key), "k%07ld",
                                              i % 10000000);
                n          = snprintf(
                    r->val, sizeof(r->val),
                    "{\"id\":%lld,\"user\":\"u%07ld\",\"amount\":%ld.%02ld,"
                    "\"currency\":\"EUR\",\"country\":\"%s\",\"ok\":%s,"
                    "\"ts\":%lld,\"device\":{\"os\":\"android\",\"version\":"
                    "\"14.2\",\"model\":\"Pixel 8\",\"app\":\"shop-3.1.4\"},"
                    "\"tags\":[\"promo\",\"mobile\",\"returning\"],"
                    "\"session\":\"s-%016llx\",\"note\":\"order placed via "
                    "checkout flow B with saved card\"}",
                    JSON_ID_BASE + i, i % 1000000, c / 100, c % 100,
                    i % 3 ? "DE" : "FR", json_ok(i) ? "true" : "false",
                    1700000000000LL + i, (unsigned long long)mix((uint64_t)i));
                r->val_len = (size_t)n;
        }
        }
}

/* ---- topics ---- */

static void topic_create(const char *boot, const char *topic, int parts) {
        rd_kafka_t *rk      = admin_client(boot);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        char err[512];
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof(err));
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t n;
        if (!nt)
                die("%s", err);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || (rd_kafka_topic_result_error(res[0]) &&
                       rd_kafka_topic_result_error(res[0]) !=
                           RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
                die("cannot create topic: %s",
                    n ? rd_kafka_topic_result_error_string(res[0]) : "?");
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* ---- load ---- */

static void produce_ts(rd_kafka_t *rk, const char *topic, const void *key,
                       size_t key_len, const void *val, size_t val_len,
                       int64_t ts) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, key_len),
                    RD_KAFKA_V_VALUE((void *)(uintptr_t)val, val_len),
                    RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END))) {
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        die("produce: %s", rd_kafka_err2str(err));
                rd_kafka_poll(rk, 10);
        }
}

static int cmd_load(int argc, char **argv) {
        static const char *const props[][2] = {
            {"linger.ms", "20"},
            {"queue.buffering.max.messages", "1000000"},
            {"enable.idempotence", "true"}, /* each partition in order */
        };
        const char *boot = argv[2], *topic = argv[4], *table = NULL;
        int w            = workload_of(argv[3]);
        long n           = atol(argv[5]), i;
        int64_t base     = -1, now = realtime_ms();
        double t0        = wall_now();
        rd_kafka_t *rk;
        rec_t r;
        for (i = 6; i + 1 < argc; i += 2)
                if (!strcmp(argv[i], "--table"))
                        table = argv[i + 1];
                else if (!strcmp(argv[i], "--base"))
                        base = atoll(argv[i + 1]);
        /* event time ends 1-2 minutes before now, from a minute boundary */
        if (base < 0)
                base = (now - n / PER_MS - MINUTE_MS) / MINUTE_MS * MINUTE_MS;
        rk = load_producer(boot, props, sizeof(props) / sizeof(props[0]));
        if (w == W_ENRICH) {
                char key[32], val[128];
                long k;
                if (!table)
                        die("%s", "enrich needs --table TOPIC");
                /* the table first, its timestamps before the stream's */
                for (k = 0; k < TABLE_KEYS; k++) {
                        int kl = snprintf(key, sizeof(key), "t%07ld", k);
                        int vl = table_value(val, sizeof(val), k);
                        produce_ts(rk, table, key, (size_t)kl, val, (size_t)vl,
                                   base - 3600000);
                }
                flush_all(rk);
        }
        for (i = 0; i < n; i++) {
                make_record(w, i, &r);
                produce_ts(rk, topic, r.key, r.key_len, r.val, r.val_len,
                           base + i / PER_MS);
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        flush_all(rk);
        if (load_failed)
                die("%s", "some input records were not delivered");
        rd_kafka_destroy(rk);
        printf("{\"loaded\": %ld, \"workload\": \"%s\", \"topic\": \"%s\", "
               "\"base\": %lld, \"seconds\": %.2f}\n",
               n, wl_names[w], topic, (long long)base, wall_now() - t0);
        return 0;
}

/* ---- expected state ---- */

/* open addressing: windows' (key, window index) -> count */
typedef struct {
        uint64_t *keys; /* 0: empty; else key + 1 */
        int64_t *want, *got;
        size_t cap, used;
} map_t;

static void map_init(map_t *m, size_t n) {
        m->cap = 16;
        while (m->cap < n * 2)
                m->cap <<= 1;
        m->keys = calloc(m->cap, sizeof(uint64_t));
        m->want = calloc(m->cap, sizeof(int64_t));
        m->got  = calloc(m->cap, sizeof(int64_t));
        m->used = 0;
        if (!m->keys || !m->want || !m->got)
                die("%s", "out of memory");
}

/* the slot of @k; @add: create it (else -1 when absent) */
static long map_slot(map_t *m, uint64_t k, int add) {
        size_t s = (size_t)mix(k) & (m->cap - 1);
        while (m->keys[s]) {
                if (m->keys[s] == k + 1)
                        return (long)s;
                s = (s + 1) & (m->cap - 1);
        }
        if (!add)
                return -1;
        if (m->used * 2 >= m->cap)
                die("%s", "map full");
        m->keys[s] = k + 1;
        m->used++;
        return (long)s;
}

/* ---- verify ---- */

typedef struct {
        int w;
        long n;
        int64_t base;
        long expect;   /* counted workloads: output records */
        map_t m;       /* stateful: last values */
        long matched;  /* stateful: keys at their final value */
        long records;  /* output records read */
        long bad;      /* malformed or wrong records */
        char first_bad[256];
        long samples;  /* json: records parsed */
} verify_t;

static void expect_init(verify_t *v) {
        long i;
        int k;
        if (v->w == W_PIPE) {
                v->expect = 0;
                for (i = 0; i < v->n; i++)
                        v->expect += i % 10000 != 9999;
        } else if (v->w == W_JSON) {
                v->expect = 0;
                for (i = 0; i < v->n; i++)
                        v->expect += json_ok(i);
        } else if (v->w == W_ENRICH) {
                v->expect = v->n;
        } else if (v->w == W_WORDCOUNT) {
                map_init(&v->m, VOCAB);
                for (i = 0; i < v->n; i++)
                        for (k = 0; k < 8; k++)
                                v->m.want[map_slot(&v->m, word_of(i, k), 1)]++;
        } else {
                map_init(&v->m, (size_t)(v->n < 4000000 ? v->n : 4000000) + 16);
                for (i = 0; i < v->n; i++) {
                        int64_t ts = v->base + i / PER_MS;
                        uint64_t wi = (uint64_t)(ts / MINUTE_MS);
                        uint64_t key =
                            (uint64_t)win_key_of(i) << 32 | (wi & 0xffffffffu);
                        v->m.want[map_slot(&v->m, key, 1)]++;
                }
        }
}

static void note_bad(verify_t *v, const char *what, const rd_kafka_message_t *m) {
        if (!v->bad++)
                snprintf(v->first_bad, sizeof(v->first_bad),
                         "%s (partition %d offset %lld, %zu-byte value)", what,
                         (int)m->partition, (long long)m->offset, m->len);
}

/* one output record */
static void verify_one(verify_t *v, const rd_kafka_message_t *m) {
        const unsigned char *val = m->payload;
        const char *key          = m->key;
        v->records++;
        switch (v->w) {
        case W_PIPE:
                if (m->len != VALUE_SIZE || val[MARK_AT] == '#' ||
                    val[FLIP_AT] != ('a' + FLIP_AT % 26 - 0x20))
                        note_bad(v, "pipe value not mapped or not filtered", m);
                break;
        case W_ENRICH: {
                char tv[128];
                long k;
                int tl;
                if (m->key_len != 8 || key[0] != 't' ||
                    (k = atol(key + 1)) < 0 || k >= TABLE_KEYS) {
                        note_bad(v, "enrich: bad key", m);
                        break;
                }
                tl = table_value(tv, sizeof(tv), k);
                if (m->len != VALUE_SIZE + 1 + (size_t)tl ||
                    val[VALUE_SIZE] != '|' ||
                    memcmp(val + VALUE_SIZE + 1, tv, (size_t)tl))
                        note_bad(v, "enrich: value not joined with its table "
                                    "value", m);
                break;
        }
        case W_JSON: {
                json_error_t je;
                json_t *j;
                long long id;
                long i;
                char user[16];
                const char *tier, *u;
                if (m->offset % JSON_SAMPLE)
                        break;
                v->samples++;
                if (!(j = json_loadb((const char *)val, m->len, 0, &je))) {
                        note_bad(v, "json: does not parse", m);
                        break;
                }
                id   = json_integer_value(json_object_get(j, "id"));
                i    = (long)(id - JSON_ID_BASE);
                tier = json_string_value(json_object_get(j, "tier"));
                u    = json_string_value(json_object_get(j, "user"));
                snprintf(user, sizeof(user), "u%07ld", i % 1000000);
                if (!json_is_integer(json_object_get(j, "id")) || i < 0 ||
                    i >= v->n || !json_ok(i) || !tier || !u ||
                    strcmp(u, user) ||
                    strcmp(tier, json_cents(i) >= 50000 ? "gold" : "std") ||
                    !json_is_true(json_object_get(j, "ok")))
                        note_bad(v, "json: id, user, ok or tier wrong", m);
                json_decref(j);
                break;
        }
        case W_WORDCOUNT:
        case W_WINDOWS: {
                uint64_t k;
                long s;
                int64_t c;
                if (m->len != 8) {
                        note_bad(v, "count: value is not 8 bytes", m);
                        break;
                }
                c = get_be64(val);
                if (v->w == W_WORDCOUNT) {
                        if (m->key_len != 5 || key[0] != 'w') {
                                note_bad(v, "wordcount: bad key", m);
                                break;
                        }
                        k = (uint64_t)atol(key + 1);
                } else {
                        char kb[16];
                        int64_t start;
                        if (m->key_len != 16 || key[0] != 'w') {
                                note_bad(v, "windows: bad windowed key", m);
                                break;
                        }
                        memcpy(kb, key + 1, 7);
                        kb[7] = '\0';
                        start = get_be64(key + 8);
                        if (start % MINUTE_MS) {
                                note_bad(v, "windows: start not on a minute",
                                         m);
                                break;
                        }
                        k = (uint64_t)atol(kb) << 32 |
                            ((uint64_t)(start / MINUTE_MS) & 0xffffffffu);
                }
                if ((s = map_slot(&v->m, k, 0)) < 0) {
                        note_bad(v, "count: a key (or window) not in the input",
                                 m);
                        break;
                }
                if (v->m.got[s] == v->m.want[s])
                        v->matched--;
                v->m.got[s] = c;
                if (c == v->m.want[s])
                        v->matched++;
                if (c > v->m.want[s])
                        note_bad(v, "count: above the input's", m);
                break;
        }
        }
}

static int complete(const verify_t *v) {
        if (v->w == W_WORDCOUNT || v->w == W_WINDOWS)
                return v->matched == (long)v->m.used;
        return v->records >= v->expect;
}

static rd_kafka_t *reader(const char *boot, const char *topic, int parts,
                          int64_t start, const char *extra_fetch_wait) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *tp =
            rd_kafka_topic_partition_list_new(parts);
        rd_kafka_t *rk;
        int p;
        const char *const props[][2] = {
            {"bootstrap.servers", boot},
            {"group.id", "peer-tool-reader"}, /* assign(): never joins */
            {"enable.auto.commit", "false"},
            {"isolation.level", "read_committed"},
            {"enable.partition.eof", "true"},
            {"fetch.wait.max.ms", extra_fetch_wait},
            {"queued.max.messages.kbytes", "262144"},
        };
        for (p = 0; p < (int)(sizeof(props) / sizeof(props[0])); p++)
                if (rd_kafka_conf_set(c, props[p][0], props[p][1], err,
                                      sizeof(err)))
                        die("%s", err);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err))))
                die("%s", err);
        rd_kafka_poll_set_consumer(rk);
        for (p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(tp, topic, p)->offset = start;
        if (rd_kafka_assign(rk, tp))
                die("%s", "assign failed");
        rd_kafka_topic_partition_list_destroy(tp);
        return rk;
}

static int cmd_verify(int argc, char **argv) {
        const char *boot = argv[2], *topic = argv[4];
        int parts        = atoi(argv[5]), i, eofs = 0, done = 0;
        long timeout_s   = 600;
        double t0, idle_since = 0;
        verify_t v;
        rd_kafka_t *rk;
        char *at_eof;
        memset(&v, 0, sizeof(v));
        v.w    = workload_of(argv[3]);
        v.n    = atol(argv[6]);
        v.base = -1;
        for (i = 7; i + 1 < argc; i += 2)
                if (!strcmp(argv[i], "--base"))
                        v.base = atoll(argv[i + 1]);
                else if (!strcmp(argv[i], "--timeout"))
                        timeout_s = atol(argv[i + 1]);
        if (v.w == W_WINDOWS && v.base < 0)
                die("%s", "windows needs --base (from load)");
        expect_init(&v);
        at_eof = calloc((size_t)parts, 1);
        rk     = reader(boot, topic, parts, RD_KAFKA_OFFSET_BEGINNING, "50");
        t0     = wall_now();
        for (;;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m) {
                        /* after completion: every partition at its end and
                         * 2 s without anything new */
                        if (done && eofs == parts && wall_now() - idle_since > 2)
                                break;
                        if (!done && wall_now() - t0 > (double)timeout_s)
                                break;
                        continue;
                }
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (m->partition >= 0 && m->partition < parts &&
                            !at_eof[m->partition]) {
                                at_eof[m->partition] = 1;
                                eofs++;
                        }
                } else if (m->err) {
                        fprintf(stderr, "peer_tool: consumer: %s\n",
                                rd_kafka_message_errstr(m));
                } else {
                        if (m->partition >= 0 && m->partition < parts &&
                            at_eof[m->partition]) {
                                at_eof[m->partition] = 0;
                                eofs--;
                        }
                        verify_one(&v, m);
                        idle_since = wall_now();
                        if (!done && complete(&v)) {
                                done = 1;
                                printf("{\"complete_ms\": %lld}\n",
                                       (long long)realtime_ms());
                                fflush(stdout);
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        {
                int counted = v.w != W_WORDCOUNT && v.w != W_WINDOWS;
                int ok      = done && !v.bad && complete(&v) &&
                         (!counted || v.records == v.expect);
                printf("{\"ok\": %s, \"workload\": \"%s\", \"records\": %ld, ",
                       ok ? "true" : "false", wl_names[v.w], v.records);
                if (counted)
                        printf("\"expected_records\": %ld, ", v.expect);
                else
                        printf("\"keys\": %zu, \"keys_at_final_value\": %ld, ",
                               v.m.used, v.matched);
                if (v.w == W_JSON)
                        printf("\"parsed_samples\": %ld, ", v.samples);
                printf("\"bad\": %ld, \"first_bad\": \"%s\", \"complete\": %s}\n",
                       v.bad, v.first_bad, done ? "true" : "false");
                free(at_eof);
                return ok ? 0 : 1;
        }
}

/* ---- feed: latency at a fixed rate ---- */

typedef struct {
        const char *boot, *topic;
        int parts;
        atomic_int stop;
        atomic_llong first_ms;       /* when the first output came; 0: none */
        atomic_llong from_ms, to_ms; /* the measured window of timestamps */
        int32_t *lat_us;        /* latencies of measured outputs */
        int64_t *ts_ms;         /* their produce timestamps (traced only) */
        size_t n, cap;
        long outputs;
} lat_t;

static void *lat_reader(void *arg) {
        lat_t *l       = arg;
        rd_kafka_t *rk = reader(l->boot, l->topic, l->parts,
                                RD_KAFKA_OFFSET_BEGINNING, "5");
        while (!atomic_load(&l->stop)) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
                int64_t now = realtime_us(), ts;
                if (!m)
                        continue;
                if (!m->err) {
                        l->outputs++;
                        if (!atomic_load(&l->first_ms))
                                atomic_store(&l->first_ms, now / 1000);
                        ts = rd_kafka_message_timestamp(m, NULL);
                        if (ts >= atomic_load(&l->from_ms) &&
                            ts < atomic_load(&l->to_ms)) {
                                if (l->n == l->cap) {
                                        l->cap = l->cap ? l->cap * 2 : 1 << 16;
                                        l->lat_us = realloc(
                                            l->lat_us, l->cap * sizeof(int32_t));
                                        if (!l->lat_us)
                                                die("%s", "out of memory");
                                        if (getenv("PEERS_FEED_TRACE") &&
                                            !(l->ts_ms = realloc(
                                                  l->ts_ms,
                                                  l->cap * sizeof(int64_t))))
                                                die("%s", "out of memory");
                                }
                                if (l->ts_ms)
                                        l->ts_ms[l->n] = ts;
                                l->lat_us[l->n++] =
                                    (int32_t)(now - ts * 1000 > INT32_MAX
                                                  ? INT32_MAX
                                                  : now - ts * 1000);
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return NULL;
}

static int cmp_i32(const void *a, const void *b) {
        int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
        return x < y ? -1 : x > y;
}

static double pct(const lat_t *l, double p) {
        size_t i;
        if (!l->n)
                return -1;
        i = (size_t)(p * (double)(l->n - 1) + 0.5);
        return (double)l->lat_us[i] / 1000.0;
}

static int cmd_feed(int argc, char **argv) {
        static const char *const props[][2] = {
            {"linger.ms", "1"},
            {"queue.buffering.max.messages", "1000000"},
        };
        lat_t l;
        pthread_t th;
        const char *boot = argv[2], *in = argv[4];
        int w            = workload_of(argv[3]);
        double rate = atof(argv[7]), warm = atof(argv[8]), meas = atof(argv[9]);
        double tail = 10, t0, now, t_end = 0, t_first = 0;
        long i = 0, produced_measured = 0, expected = 0;
        rd_kafka_t *rk;
        rec_t r;
        int a;
        for (a = 10; a + 1 < argc; a += 2)
                if (!strcmp(argv[a], "--tail"))
                        tail = atof(argv[a + 1]);
        memset(&l, 0, sizeof(l));
        l.boot  = boot;
        l.topic = argv[5];
        l.parts = atoi(argv[6]);
        /* nothing is measured until the first output sets the window */
        atomic_init(&l.stop, 0);
        atomic_init(&l.first_ms, 0);
        atomic_init(&l.from_ms, INT64_MAX);
        atomic_init(&l.to_ms, INT64_MAX);
        if (pthread_create(&th, NULL, lat_reader, &l))
                die("%s", "pthread_create failed");
        rk    = load_producer(boot, props, sizeof(props) / sizeof(props[0]));
        t0 = wall_now();
        /* paced: at every ms, what the rate owes since the start */
        while (!t_end || (now = wall_now()) < t_end) {
                long long first = atomic_load(&l.first_ms);
                now             = wall_now();
                if (!t_end && first) {
                        atomic_store(&l.from_ms,
                                     first + (long long)(warm * 1000));
                        atomic_store(&l.to_ms, first + (long long)((warm +
                                                                    meas) *
                                                                   1000));
                        t_first = now - t0;
                        t_end   = now + warm + meas;
                }
                if (!t_end && now - t0 > 300)
                        die("%s", "feed: no output within 300 s");
                long owed = (long)((now - t0) * rate);
                while (i < owed) {
                        int64_t ts = realtime_ms();
                        make_record(w, i, &r);
                        produce_ts(rk, in, r.key, r.key_len, r.val, r.val_len,
                                   ts);
                        if (ts >= atomic_load(&l.from_ms) &&
                            ts < atomic_load(&l.to_ms))
                                produced_measured++;
                        i++;
                }
                rd_kafka_poll(rk, 0);
                sleep_ms(1);
        }
        flush_all(rk);
        rd_kafka_destroy(rk);
        while (wall_now() < t_end + tail)
                sleep_ms(100);
        atomic_store(&l.stop, 1);
        pthread_join(th, NULL);
        if (l.ts_ms) {
                /* PEERS_FEED_TRACE=FILE: every measured output's produce
                 * timestamp (ms) and latency (us), to see when the slow
                 * ones were produced */
                FILE *f = fopen(getenv("PEERS_FEED_TRACE"), "w");
                size_t k;
                if (!f)
                        die("cannot write %s", getenv("PEERS_FEED_TRACE"));
                for (k = 0; k < l.n; k++)
                        fprintf(f, "%lld %d\n", (long long)l.ts_ms[k],
                                (int)l.lat_us[k]);
                fclose(f);
                free(l.ts_ms);
        }
        qsort(l.lat_us, l.n, sizeof(int32_t), cmp_i32);
        /* what a correct system wrote for the records produced (stateful
         * workloads: as many as the record cache lets through, -1) */
        if (w == W_PIPE || w == W_JSON || w == W_ENRICH) {
                long k;
                for (k = 0; k < i; k++)
                        expected += w == W_PIPE   ? k % 10000 != 9999
                                    : w == W_JSON ? json_ok(k)
                                                  : 1;
        } else
                expected = -1;
        printf("{\"workload\": \"%s\", \"rate\": %.0f, \"warmup_s\": %.0f, "
               "\"measure_s\": %.0f, \"first_output_s\": %.2f, "
               "\"produced\": %ld, \"expected_outputs\": %ld, "
               "\"produced_measured\": %ld, \"outputs\": %ld, \"n\": %zu, "
               "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"p999_ms\": %.2f, "
               "\"max_ms\": %.2f}\n",
               wl_names[w], rate, warm, meas, t_first, i, expected,
               produced_measured,
               l.outputs,
               l.n, pct(&l, 0.5), pct(&l, 0.99), pct(&l, 0.999),
               pct(&l, 1.0));
        free(l.lat_us);
        return 0;
}

static int cmd_caught_up(char **argv) {
        char err[512];
        const char *boot = argv[2], *group = argv[3], *topic = argv[4];
        int parts = atoi(argv[5]), p;
        double t0 = wall_now(), timeout = atof(argv[6]);
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        if (rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof(err)) ||
            rd_kafka_conf_set(c, "group.id", group, err, sizeof(err)))
                die("%s", err);
        /* committed() only: this consumer never joins the group */
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err))))
                die("%s", err);
        while (wall_now() - t0 < timeout) {
                rd_kafka_topic_partition_list_t *tp =
                    rd_kafka_topic_partition_list_new(parts);
                int behind = 0;
                for (p = 0; p < parts; p++)
                        rd_kafka_topic_partition_list_add(tp, topic, p);
                if (!rd_kafka_committed(rk, tp, 10000))
                        for (p = 0; p < parts; p++) {
                                int64_t lo = 0, hi = 0;
                                if (rd_kafka_query_watermark_offsets(
                                        rk, topic, p, &lo, &hi, 10000) ||
                                    tp->elems[p].offset < hi)
                                        behind = 1;
                        }
                else
                        behind = 1;
                rd_kafka_topic_partition_list_destroy(tp);
                if (!behind) {
                        rd_kafka_destroy(rk);
                        printf("{\"caught_up_s\": %.2f}\n", wall_now() - t0);
                        return 0;
                }
                sleep_ms(200);
        }
        rd_kafka_destroy(rk);
        printf("{\"caught_up_s\": -1}\n");
        return 1;
}

static void usage(void) {
        fprintf(stderr,
                "usage: peer_tool create BOOT TOPIC PARTITIONS\n"
                "       peer_tool load BOOT WORKLOAD TOPIC N [--table TOPIC] "
                "[--base MS]\n"
                "       peer_tool verify BOOT WORKLOAD TOPIC PARTITIONS N "
                "[--base MS] [--timeout S]\n"
                "       peer_tool feed BOOT WORKLOAD IN OUT PARTITIONS RATE "
                "WARMUP_S MEASURE_S [--tail S]\n"
                "       peer_tool caught-up BOOT GROUP TOPIC PARTITIONS "
                "TIMEOUT_S\n"
                "workloads: pipe wordcount windows enrich json\n");
        exit(2);
}

int main(int argc, char **argv) {
        if (argc >= 5 && !strcmp(argv[1], "create")) {
                topic_create(argv[2], argv[3], atoi(argv[4]));
                return 0;
        }
        if (argc >= 6 && !strcmp(argv[1], "load"))
                return cmd_load(argc, argv);
        if (argc >= 7 && !strcmp(argv[1], "verify"))
                return cmd_verify(argc, argv);
        if (argc >= 7 && !strcmp(argv[1], "caught-up"))
                return cmd_caught_up(argv);
        if (argc >= 10 && !strcmp(argv[1], "feed"))
                return cmd_feed(argc, argv);
        usage();
        return 2;
}
