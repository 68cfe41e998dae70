/*
 * test_integration.c - Sluice's application runtime against a real Kafka
 * cluster, through real processes (tests/integration/app_upper.c, and
 * tests/integration/app_wordcount.c for state stores).
 *
 * The cluster comes from $SLUICE_TEST_BOOTSTRAP (host:port[,...]); without
 * it the runner fails and says so. tests/integration/run.sh documents how
 * to run it, and can start a local broker with scripts/kafka.
 *
 * Every run uses fresh topics and application ids (it-<pid>-<time>-...), so
 * runs never see each other's data. Waiting is always for a condition with
 * a deadline (records read from a topic, a line printed by a process, a
 * process exiting), never a fixed sleep.
 *
 * Environment:
 *   SLUICE_TEST_BOOTSTRAP   the cluster (required)
 *   SLUICE_TEST_APP_UPPER   the app_upper program (default: next to this
 *                           runner)
 *   SLUICE_TEST_APP_WORDCOUNT  the app_wordcount program (the same)
 *   SLUICE_TEST_KEEP_LOGS   keep the processes' logs even when all pass
 *
 * Prints Check's summary ("100%: Checks: N, Failures: 0, Errors: 0") and
 * exits 0 iff every test passed.
 */
#include "kafka_util.h"
#include "sluice.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *g_bootstrap;
static char g_app_upper[PATH_MAX];
static char g_app_wordcount[PATH_MAX];
static char g_logdir[1024];
static char g_run[64]; /* it-<pid>-<time>: prefix of every name */

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void name_of(char *buf, size_t size, const char *test,
                    const char *what) {
        snprintf(buf, size, "%s-%s-%s", g_run, test, what);
}

static rd_kafka_conf_t *base_conf(void) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        if (rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, err,
                              sizeof(err)))
                ck_abort_msg("bootstrap.servers: %s", err);
        rd_kafka_conf_set(c, "log_level", "3", NULL, 0);
        return c;
}

/* ------------------------------------------------------------------ */
/* topics: created with the Admin API, then waited for in the metadata */

/* Create each of @n topics (@names[i] with @parts[i] partitions, the
 * cluster's default replication factor) and wait until every partition has
 * a leader. */
static void create_topics(const char *const *names, const int *parts,
                          size_t n) {
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err,
                                      sizeof(err));
        rd_kafka_NewTopic_t *nt[8];
        rd_kafka_AdminOptions_t *opt;
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tr;
        size_t i, cnt;
        int64_t end;
        ck_assert_msg(rk != NULL, "admin client: %s", err);
        ck_assert(n <= 8);
        for (i = 0; i < n; i++) {
                nt[i] = rd_kafka_NewTopic_new(names[i], parts[i], -1, err,
                                              sizeof(err));
                ck_assert_msg(nt[i] != NULL, "NewTopic %s: %s", names[i], err);
        }
        opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err,
                                                    sizeof(err));
        rd_kafka_AdminOptions_set_request_timeout(opt, 30000, err, sizeof(err));
        q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, n, opt, q);
        ev = rd_kafka_queue_poll(q, 40000);
        ck_assert_msg(ev != NULL, "CreateTopics: no answer from %s in 40 s",
                      g_bootstrap);
        ck_assert_msg(!rd_kafka_event_error(ev), "CreateTopics: %s",
                      rd_kafka_event_error_string(ev));
        res = rd_kafka_event_CreateTopics_result(ev);
        tr  = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (i = 0; i < cnt; i++)
                ck_assert_msg(!rd_kafka_topic_result_error(tr[i]),
                              "cannot create topic %s: %s",
                              rd_kafka_topic_result_name(tr[i]),
                              rd_kafka_topic_result_error_string(tr[i]));
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_NewTopic_destroy_array(nt, n);
        end = now_ms() + 30000;
        for (i = 0; i < n; i++) {
                while (!ku_topic_ready(rk, names[i], parts[i]))
                        ck_assert_msg(now_ms() < end,
                                      "topic %s: no leaders after 30 s",
                                      names[i]);
        }
        rd_kafka_destroy(rk);
}

/* The value of config @key of topic @name, as the broker describes it
 * (into @buf), and the topic's partition count. */
static int topic_config(const char *name, const char *key, char *buf,
                        size_t size) {
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err,
                                      sizeof(err));
        rd_kafka_ConfigResource_t *cr =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const rd_kafka_DescribeConfigs_result_t *res;
        const rd_kafka_ConfigResource_t **rs;
        const rd_kafka_ConfigEntry_t **ents;
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        size_t n, i;
        int parts = -1;
        ck_assert_msg(rk != NULL, "admin client: %s", err);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        ck_assert_msg(ev && !rd_kafka_event_error(ev), "DescribeConfigs %s: %s",
                      name, ev ? rd_kafka_event_error_string(ev) : "timeout");
        res = rd_kafka_event_DescribeConfigs_result(ev);
        rs  = rd_kafka_DescribeConfigs_result_resources(res, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_msg(!rd_kafka_ConfigResource_error(rs[0]), "%s: %s", name,
                      rd_kafka_ConfigResource_error_string(rs[0]));
        ents = rd_kafka_ConfigResource_configs(rs[0], &n);
        buf[0] = '\0';
        for (i = 0; i < n; i++)
                if (!strcmp(rd_kafka_ConfigEntry_name(ents[i]), key) &&
                    rd_kafka_ConfigEntry_value(ents[i]))
                        snprintf(buf, size, "%s",
                                 rd_kafka_ConfigEntry_value(ents[i]));
        rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(cr);
        rd_kafka_queue_destroy(q);
        rkt = rd_kafka_topic_new(rk, name, NULL);
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 10000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        parts = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return parts;
}

/* ------------------------------------------------------------------ */
/* producing: idempotent (no duplicates or reordering of the input), with
 * the partition and offset of every record from its delivery report */

typedef struct {
        int32_t partition;
        int64_t offset;
        int err;
        int done;
} dr_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        dr_t *d = m->_private;
        (void)rk;
        (void)opaque;
        if (!d)
                return;
        d->partition = m->partition;
        d->offset    = m->offset;
        d->err       = m->err;
        d->done      = 1;
}

static rd_kafka_t *producer_new(void) {
        char err[512];
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *p;
        /* the partitioner Kafka's Java clients and Sluice's sinks use */
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        ck_assert_msg(p != NULL, "producer: %s", err);
        return p;
}

static void send_rec(rd_kafka_t *p, const char *topic, int32_t partition,
                     const void *key, size_t key_len, const void *value,
                     size_t value_len, dr_t *dr) {
        rd_kafka_resp_err_t e;
        for (;;) {
                e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY((void *)key, key_len),
                    RD_KAFKA_V_VALUE((void *)value, value_len),
                    RD_KAFKA_V_OPAQUE(dr), RD_KAFKA_V_END);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(p, 10);
        }
        ck_assert_msg(!e, "produce to %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_poll(p, 0);
}

/* Flush, and check that the @n reports in @drs all came back without an
 * error. */
static void flush_ok(rd_kafka_t *p, const dr_t *drs, int n) {
        int i;
        ck_assert_msg(rd_kafka_flush(p, 60000) == 0,
                      "producer: %d record(s) undelivered after 60 s",
                      rd_kafka_outq_len(p));
        for (i = 0; i < n; i++)
                ck_assert_msg(drs[i].done && !drs[i].err,
                              "input record %d not delivered: %s", i,
                              rd_kafka_err2str((rd_kafka_resp_err_t)drs[i].err));
}

static void be64(unsigned char *b, int64_t v) {
        int i;
        for (i = 7; i >= 0; i--) {
                b[i] = (unsigned char)((uint64_t)v & 0xff);
                v    = (int64_t)((uint64_t)v >> 8);
        }
}

static int64_t unbe64(const unsigned char *b) {
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = (v << 8) | b[i];
        return (int64_t)v;
}

/* ------------------------------------------------------------------ */
/* reading a topic: every partition from the beginning, accumulated */

typedef struct {
        char *name, *value; /* NUL-terminated copies (value NULL = null) */
        size_t len;
} hdr_t;

typedef struct {
        char *key;            /* NUL-terminated copy, NULL = null key */
        unsigned char *value; /* copy (NUL-terminated too), NULL = null */
        size_t value_len;
        int32_t partition;
        int64_t offset;
        hdr_t *hdrs;
        size_t hdr_cnt;
} rec_t;

typedef struct {
        rd_kafka_t *rk;
        char topic[256];
        int partitions;
        int64_t next[64]; /* next offset to read, per partition */
        rec_t *recs;
        size_t n, cap;
} reader_t;

static char *dup_n(const void *p, size_t n) {
        char *s;
        if (!p)
                return NULL;
        s = malloc(n + 1);
        ck_assert_ptr_nonnull(s);
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static reader_t *reader_new(const char *topic) {
        char err[512], group[300];
        rd_kafka_conf_t *c = base_conf();
        reader_t *r        = calloc(1, sizeof(*r));
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt;
        rd_kafka_topic_partition_list_t *parts;
        int i;
        ck_assert_ptr_nonnull(r);
        snprintf(r->topic, sizeof(r->topic), "%s", topic);
        snprintf(group, sizeof(group), "%s-reader", g_run);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.offset.store", "false", NULL, 0);
        r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        ck_assert_msg(r->rk != NULL, "reader: %s", err);
        rkt = rd_kafka_topic_new(r->rk, topic, NULL);
        ck_assert_msg(!rd_kafka_metadata(r->rk, 0, rkt, &md, 10000),
                      "reader: no metadata for %s", topic);
        ck_assert_msg(md->topic_cnt == 1 && !md->topics[0].err,
                      "reader: topic %s: %s", topic,
                      rd_kafka_err2str(md->topics[0].err));
        r->partitions = md->topics[0].partition_cnt;
        ck_assert(r->partitions > 0 && r->partitions <= 64);
        parts = rd_kafka_topic_partition_list_new(r->partitions);
        for (i = 0; i < r->partitions; i++)
                rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        ck_assert(!rd_kafka_assign(r->rk, parts));
        rd_kafka_topic_partition_list_destroy(parts);
        return r;
}

/* Read what arrives within @timeout_ms (returns after the first message
 * batch). */
static void reader_poll(reader_t *r, int timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, timeout_ms);
        while (m) {
                if (!m->err) {
                        rec_t *x;
                        rd_kafka_headers_t *hs;
                        if (r->n == r->cap) {
                                r->cap  = r->cap ? r->cap * 2 : 1024;
                                r->recs = realloc(r->recs,
                                                  r->cap * sizeof(*r->recs));
                                ck_assert_ptr_nonnull(r->recs);
                        }
                        x = &r->recs[r->n++];
                        memset(x, 0, sizeof(*x));
                        x->key       = dup_n(m->key, m->key_len);
                        x->value     = (unsigned char *)dup_n(m->payload,
                                                              m->len);
                        x->value_len = m->len;
                        x->partition = m->partition;
                        x->offset    = m->offset;
                        if (!rd_kafka_message_headers(m, &hs)) {
                                size_t i, hn = rd_kafka_header_cnt(hs);
                                const char *name;
                                const void *val;
                                size_t size;
                                x->hdrs = calloc(hn ? hn : 1, sizeof(hdr_t));
                                ck_assert_ptr_nonnull(x->hdrs);
                                for (i = 0; i < hn &&
                                            !rd_kafka_header_get_all(
                                                hs, i, &name, &val, &size);
                                     i++) {
                                        x->hdrs[i].name  = dup_n(name,
                                                                 strlen(name));
                                        x->hdrs[i].value = dup_n(val, size);
                                        x->hdrs[i].len   = size;
                                }
                                x->hdr_cnt = i;
                        }
                        if (m->partition >= 0 && m->partition < 64)
                                r->next[m->partition] = m->offset + 1;
                }
                rd_kafka_message_destroy(m);
                m = rd_kafka_consumer_poll(r->rk, 0);
        }
}

/* Read until @cond(r, arg) holds; 1, or 0 after @timeout_ms. */
static int reader_until(reader_t *r, int (*cond)(reader_t *, void *),
                        void *arg, int timeout_ms) {
        int64_t end = now_ms() + timeout_ms;
        while (!cond(r, arg)) {
                if (now_ms() > end)
                        return 0;
                reader_poll(r, 100);
        }
        return 1;
}

static int has_n(reader_t *r, void *arg) {
        return r->n >= *(size_t *)arg;
}

/* Read everything the topic holds now: until every partition reached the
 * high watermark it had when called. */
static void reader_to_end(reader_t *r, int timeout_ms) {
        int64_t high[64], lo;
        int64_t end = now_ms() + timeout_ms;
        int i, done = 0;
        for (i = 0; i < r->partitions; i++)
                ck_assert_msg(!rd_kafka_query_watermark_offsets(
                                  r->rk, r->topic, i, &lo, &high[i], 10000),
                              "watermarks of %s [%d]", r->topic, i);
        while (!done) {
                done = 1;
                for (i = 0; i < r->partitions; i++)
                        if (r->next[i] < high[i])
                                done = 0;
                if (done)
                        break;
                ck_assert_msg(now_ms() < end,
                              "%s: not read to its end in %d ms", r->topic,
                              timeout_ms);
                reader_poll(r, 100);
        }
}

static void reader_destroy(reader_t *r) {
        size_t i, j;
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
        for (i = 0; i < r->n; i++) {
                free(r->recs[i].key);
                free(r->recs[i].value);
                for (j = 0; j < r->recs[i].hdr_cnt; j++) {
                        free(r->recs[i].hdrs[j].name);
                        free(r->recs[i].hdrs[j].value);
                }
                free(r->recs[i].hdrs);
        }
        free(r->recs);
        free(r);
}

static const hdr_t *hdr(const rec_t *x, const char *name) {
        size_t i;
        for (i = x->hdr_cnt; i > 0; i--)
                if (!strcmp(x->hdrs[i - 1].name, name))
                        return &x->hdrs[i - 1];
        return NULL;
}

/* The sequence number of key "<prefix><n>", or -1. */
static int key_seq(const rec_t *x, const char *prefix) {
        size_t pl = strlen(prefix);
        char *endp;
        long v;
        if (!x->key || strncmp(x->key, prefix, pl))
                return -1;
        v = strtol(x->key + pl, &endp, 10);
        return *endp || v < 0 || v > INT_MAX ? -1 : (int)v;
}

/* The offset the group @group committed for @topic [@partition]
 * (RD_KAFKA_OFFSET_INVALID if none). */
static int64_t committed_offset(const char *group, const char *topic,
                                int32_t partition) {
        char err[512];
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *l;
        int64_t off;
        rd_kafka_resp_err_t e;
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        e = rd_kafka_committed(rk, l, 10000);
        ck_assert_msg(!e, "committed(): %s", rd_kafka_err2str(e));
        ck_assert_msg(!l->elems[0].err, "committed(): %s",
                      rd_kafka_err2str(l->elems[0].err));
        off = l->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk); /* never subscribed: leaves no group state */
        return off;
}

/* ------------------------------------------------------------------ */
/* app_upper processes: stdout through a pipe, stderr into a log file */

typedef struct {
        char label[64];
        char log[1200];
        pid_t pid;
        int fd; /* read end of its stdout */
        char out[65536];
        size_t out_len;
        int exited, status;
} proc_t;

#define MAX_PROCS 8
static proc_t *g_procs[MAX_PROCS];

/* Read what the process printed so far; reap it if it exited. */
static void proc_pump(proc_t *p) {
        ssize_t k;
        int st;
        while (p->fd >= 0 && p->out_len < sizeof(p->out) - 1 &&
               (k = read(p->fd, p->out + p->out_len,
                         sizeof(p->out) - 1 - p->out_len)) > 0)
                p->out_len += (size_t)k;
        p->out[p->out_len] = '\0';
        if (!p->exited && waitpid(p->pid, &st, WNOHANG) == p->pid) {
                p->exited = 1;
                p->status = st;
                /* what it wrote before exiting */
                while (p->fd >= 0 && p->out_len < sizeof(p->out) - 1 &&
                       (k = read(p->fd, p->out + p->out_len,
                                 sizeof(p->out) - 1 - p->out_len)) > 0)
                        p->out_len += (size_t)k;
                p->out[p->out_len] = '\0';
        }
}

/* The line of the output starting with @prefix (NULL if none). */
static const char *proc_line(const proc_t *p, const char *prefix) {
        const char *s = p->out;
        size_t pl     = strlen(prefix);
        while (s && *s) {
                if (!strncmp(s, prefix, pl))
                        return s;
                s = strchr(s, '\n');
                if (s)
                        s++;
        }
        return NULL;
}

/* Start @prog with --bootstrap and the arguments in @ap (NULL-terminated). */
static proc_t *spawn_prog(const char *prog, const char *label, va_list ap) {
        const char *argv[48];
        int argc = 0, pfd[2], i;
        const char *a;
        posix_spawn_file_actions_t fa;
        proc_t *p = calloc(1, sizeof(*p));
        ck_assert_ptr_nonnull(p);
        snprintf(p->label, sizeof(p->label), "%s", label);
        snprintf(p->log, sizeof(p->log), "%s/%s.log", g_logdir, label);
        argv[argc++] = prog;
        argv[argc++] = "--bootstrap";
        argv[argc++] = g_bootstrap;
        while ((a = va_arg(ap, char *)) && argc < 47)
                argv[argc++] = a;
        argv[argc] = NULL;
        ck_assert(!pipe(pfd));
        fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
        fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
        fcntl(pfd[0], F_SETFL, O_NONBLOCK);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, p->log,
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
        i = posix_spawn(&p->pid, prog, &fa, NULL, (char *const *)argv,
                        environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        ck_assert_msg(i == 0, "posix_spawn %s: %s", prog, strerror(i));
        p->fd = pfd[0];
        for (i = 0; i < MAX_PROCS; i++)
                if (!g_procs[i]) {
                        g_procs[i] = p;
                        break;
                }
        ck_assert(i < MAX_PROCS);
        return p;
}

/* Start app_upper with the given arguments (NULL-terminated) after
 * --bootstrap. */
static proc_t *spawn_app(const char *label, ...) {
        va_list ap;
        proc_t *p;
        va_start(ap, label);
        p = spawn_prog(g_app_upper, label, ap);
        va_end(ap);
        return p;
}

/* The same for app_wordcount. */
static proc_t *spawn_wc(const char *label, ...) {
        va_list ap;
        proc_t *p;
        va_start(ap, label);
        p = spawn_prog(g_app_wordcount, label, ap);
        va_end(ap);
        return p;
}

/* Wait until the process printed a line starting with @prefix; 1, or 0 if
 * it exited or @timeout_ms passed first. */
static int proc_wait_line(proc_t *p, const char *prefix, int timeout_ms) {
        int64_t end = now_ms() + timeout_ms;
        for (;;) {
                struct pollfd pf = {p->fd, POLLIN, 0};
                proc_pump(p);
                if (proc_line(p, prefix))
                        return 1;
                if (p->exited || now_ms() > end)
                        return 0;
                poll(&pf, 1, 50);
        }
}

/* Wait until the process exited; 1, or 0 after @timeout_ms. */
static int proc_wait_exit(proc_t *p, int timeout_ms) {
        int64_t end = now_ms() + timeout_ms;
        const struct timespec tick = {0, 20 * 1000 * 1000};
        for (;;) {
                proc_pump(p);
                if (p->exited)
                        return 1;
                if (now_ms() > end)
                        return 0;
                nanosleep(&tick, NULL); /* poll interval for waitpid */
        }
}

static void proc_signal(proc_t *p, int sig) {
        proc_pump(p);
        if (!p->exited)
                kill(p->pid, sig);
}

/* SIGTERM, then wait for a clean exit: status 0 and the PROCESSED line;
 * returns the count it printed. */
static unsigned long long proc_stop_clean(proc_t *p) {
        const char *l;
        unsigned long long n = 0;
        proc_signal(p, SIGTERM);
        ck_assert_msg(proc_wait_exit(p, 60000),
                      "%s did not exit within 60 s of SIGTERM (log: %s)",
                      p->label, p->log);
        ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
                      "%s: exit status %d, output \"%s\" (log: %s)", p->label,
                      p->status, p->out, p->log);
        l = proc_line(p, "PROCESSED ");
        ck_assert_msg(l && sscanf(l, "PROCESSED %llu", &n) == 1,
                      "%s: no PROCESSED line in \"%s\"", p->label, p->out);
        return n;
}

/* Teardown (and every test's end): no process outlives its test. A test
 * that fails exits without teardown; app_upper then notices its parent is
 * gone and exits by itself. */
static void kill_all(void) {
        int i;
        for (i = 0; i < MAX_PROCS; i++) {
                proc_t *p = g_procs[i];
                if (!p)
                        continue;
                proc_pump(p);
                if (!p->exited) {
                        kill(p->pid, SIGKILL);
                        waitpid(p->pid, &p->status, 0);
                }
                if (p->fd >= 0)
                        close(p->fd);
                free(p);
                g_procs[i] = NULL;
        }
}

static void wait_ready(proc_t *p) {
        ck_assert_msg(proc_wait_line(p, "READY", 60000),
                      "%s: not READY within 60 s; output \"%s\" (log: %s)",
                      p->label, p->out, p->log);
}

/* ------------------------------------------------------------------ */
/* a. ordered output over a 4-partition topic */

#define ORDER_N 20000

START_TEST(ordered_output_4_partitions) {
        char in[256], out[256], app[256], v[64], k[32];
        const char *names[2] = {in, out};
        const int parts[2]   = {4, 4};
        dr_t *dr             = calloc(ORDER_N, sizeof(*dr));
        int *seen            = calloc(ORDER_N, sizeof(int));
        int per_part[4]      = {0}, i;
        int64_t last_in_off[4] = {-1, -1, -1, -1}, t0;
        size_t want            = ORDER_N;
        unsigned long long processed;
        rd_kafka_t *prod;
        reader_t *r;
        proc_t *p = NULL;

        name_of(in, sizeof(in), "order", "in");
        name_of(out, sizeof(out), "order", "out");
        name_of(app, sizeof(app), "order", "app");
        create_topics(names, parts, 2);

        /* half before the app starts (it reads from the beginning), half
         * while it runs */
        prod = producer_new();
        for (i = 0; i < ORDER_N; i++) {
                if (i == ORDER_N / 2) {
                        flush_ok(prod, dr, i);
                        p = spawn_app("order", "--app-id", app, "--in", in,
                                      "--out", out, "--threads", "2",
                                      "--commit-ms", "500", (char *)NULL);
                        wait_ready(p);
                }
                snprintf(k, sizeof(k), "k-%06d", i);
                snprintf(v, sizeof(v), "v-%d-abc", i);
                send_rec(prod, in, RD_KAFKA_PARTITION_UA, k, strlen(k), v,
                         strlen(v), &dr[i]);
        }
        flush_ok(prod, dr, ORDER_N);
        rd_kafka_destroy(prod);
        for (i = 0; i < ORDER_N; i++)
                per_part[dr[i].partition]++;
        for (i = 0; i < 4; i++)
                ck_assert_msg(per_part[i] > 0, "input partition %d is empty",
                              i);

        t0 = now_ms();
        r  = reader_new(out);
        ck_assert_msg(reader_until(r, has_n, &want, 120000),
                      "%zu of %d records in the output after 120 s (log: %s)",
                      r->n, ORDER_N, p->log);
        printf("  order: %d records through 1 process (2 threads) in %lld ms "
               "after the last was produced\n",
               ORDER_N, (long long)(now_ms() - t0));
        fflush(stdout);
        processed = proc_stop_clean(p);
        reader_to_end(r, 30000); /* nothing more than the N */
        ck_assert_msg(r->n == ORDER_N, "%zu output records for %d inputs",
                      r->n, ORDER_N);
        ck_assert_msg(processed == ORDER_N, "processed %llu, expected %d",
                      processed, ORDER_N);
        /* the reader returns each partition in offset order */
        for (i = 0; i < (int)r->n; i++) {
                const rec_t *x = &r->recs[i];
                int s          = key_seq(x, "k-");
                char want_v[64];
                ck_assert_msg(s >= 0 && s < ORDER_N, "unexpected key %s",
                              x->key ? x->key : "(null)");
                snprintf(want_v, sizeof(want_v), "V-%d-ABC", s);
                ck_assert_msg(x->value && !strcmp((char *)x->value, want_v),
                              "key %s: value \"%s\", expected \"%s\"", x->key,
                              x->value ? (char *)x->value : "(null)", want_v);
                seen[s]++;
                /* same key, same partitioner: the input's partition */
                ck_assert_msg(x->partition == dr[s].partition,
                              "key %s: output partition %d, input %d", x->key,
                              (int)x->partition, (int)dr[s].partition);
                ck_assert_msg(dr[s].offset > last_in_off[x->partition],
                              "partition %d: input offset %lld after %lld "
                              "(out of order)",
                              (int)x->partition, (long long)dr[s].offset,
                              (long long)last_in_off[x->partition]);
                last_in_off[x->partition] = dr[s].offset;
        }
        for (i = 0; i < ORDER_N; i++)
                ck_assert_msg(seen[i] == 1, "input %d appears %d times", i,
                              seen[i]);
        /* a clean shutdown commits what was processed: every partition's
         * committed offset is its end */
        for (i = 0; i < 4; i++) {
                int64_t end_off = -1, c;
                int j;
                for (j = 0; j < ORDER_N; j++)
                        if (dr[j].partition == i && dr[j].offset + 1 > end_off)
                                end_off = dr[j].offset + 1;
                c = committed_offset(app, in, i);
                ck_assert_msg(c == end_off,
                              "partition %d: committed offset %lld after a "
                              "clean shutdown, end offset %lld: a restart "
                              "would process %lld records again (log: %s)",
                              i, (long long)c, (long long)end_off,
                              (long long)(end_off - (c < 0 ? 0 : c)), p->log);
        }

        reader_destroy(r);
        free(dr);
        free(seen);
        kill_all();
}
END_TEST

/* ------------------------------------------------------------------ */
/* b. scale-out over two processes, and SIGKILL of one */

#define SCALE_N1 4000       /* phase 1: both processes running */
#define SCALE_N2 12000      /* phase 2: flowing while one is killed */
#define SCALE_RATE 2000     /* records/s in phase 2 */
#define SCALE_COMMIT_MS 1000
/* 1.5 s: with 1 s, a run on a broker that had just started (JIT, first
 * segments) once counted 1982 duplicates against a bound of 1979 */
#define SCALE_SLACK_MS 1500

/* The bound on duplicates. A killed instance's duplicates are the records it
 * processed (and whose output reached the topic) after its last commit: the
 * survivor starts its partitions at the committed offsets. A stream thread
 * commits at the end of the first step ending >= commit.interval.ms (C)
 * after its previous commit; a step polls at most 1000 records with a
 * 100 ms timeout, and the commit waits for the flush. So at any instant
 * the uncommitted records were processed in the last C + (one step + one
 * flush) ms. The input flows at SCALE_RATE/s, far below what one thread
 * processes (> 20000/s here), so the killed instance has no backlog: what
 * it processed in that window was produced to its partitions in that
 * window. Bound: the records produced to the killed instance's partitions
 * in the SCALE_COMMIT_MS + SCALE_SLACK_MS before the kill (the slack covers
 * a step, the flush, and scheduling on a loaded 2-core machine). */

typedef struct {
        rd_kafka_t *prod;
        const char *topic;
        dr_t *dr;
        int64_t *t_ms; /* when each record was handed to the producer */
        atomic_int produced;
} pacer_t;

static void *pace(void *arg) {
        pacer_t *pc    = arg;
        int64_t start  = now_ms();
        char k[32], v[64];
        int i;
        for (i = SCALE_N1; i < SCALE_N1 + SCALE_N2; i++) {
                int64_t due = start + (int64_t)(i - SCALE_N1) * 1000 /
                                          SCALE_RATE;
                while (now_ms() < due)
                        rd_kafka_poll(pc->prod, (int)(due - now_ms()));
                snprintf(k, sizeof(k), "s-%06d", i);
                snprintf(v, sizeof(v), "v-%d-xyz", i);
                pc->t_ms[i] = now_ms();
                send_rec(pc->prod, pc->topic, RD_KAFKA_PARTITION_UA, k,
                         strlen(k), v, strlen(v), &pc->dr[i]);
                atomic_fetch_add(&pc->produced, 1);
        }
        return NULL;
}

static int half_produced(void *arg) {
        return atomic_load(&((pacer_t *)arg)->produced) >= SCALE_N2 / 2;
}

typedef struct {
        int *cnt;
        int total, distinct;
        size_t cursor;
} distinct_t;

static int all_distinct(reader_t *r, void *arg) {
        distinct_t *d = arg;
        for (; d->cursor < r->n; d->cursor++) {
                int s = key_seq(&r->recs[d->cursor], "s-");
                if (s >= 0 && s < d->total && d->cnt[s]++ == 0)
                        d->distinct++;
        }
        return d->distinct >= d->total;
}

START_TEST(scale_out_and_sigkill) {
        char in[256], out[256], app[256], k[32], v[64], commit[16];
        const char *names[2] = {in, out};
        const int parts[2]   = {4, 4};
        const int total      = SCALE_N1 + SCALE_N2;
        dr_t *dr             = calloc((size_t)total, sizeof(*dr));
        int64_t *t_ms        = calloc((size_t)total, sizeof(int64_t));
        int *cnt_a = calloc((size_t)total, sizeof(int)),
            *cnt_b = calloc((size_t)total, sizeof(int)),
            *cnt1  = calloc((size_t)total, sizeof(int)),
            *cnt   = calloc((size_t)total, sizeof(int));
        int p1_a = 0, p1_b = 0, victim_part[4] = {0}, taken_over[4] = {0};
        int dups = 0, bound = 0, i, victim_parts = 0;
        int64_t t_kill, dup_lo[4], dup_hi[4];
        int dup_n[4] = {0};
        char *session[] = {"--conf", "consumer.session.timeout.ms=6000",
                                 "--conf", "consumer.heartbeat.interval.ms=500"};
        distinct_t d1 = {cnt1, SCALE_N1, 0, 0}, d = {cnt, total, 0, 0};
        unsigned long long processed_b;
        pacer_t pc;
        pthread_t thr;
        reader_t *r;
        proc_t *a, *b;

        ck_assert(dr && t_ms && cnt_a && cnt_b && cnt1 && cnt);
        name_of(in, sizeof(in), "scale", "in");
        name_of(out, sizeof(out), "scale", "out");
        name_of(app, sizeof(app), "scale", "app");
        snprintf(commit, sizeof(commit), "%d", SCALE_COMMIT_MS);
        create_topics(names, parts, 2);

        /* two instances of one application, one stream thread each; a short
         * session timeout so that the group notices the killed one soon */
        a = spawn_app("scale-A", "--app-id", app, "--in", in, "--out", out,
                      "--threads", "1", "--commit-ms", commit, "--tag", "A",
                      session[0], session[1], session[2], session[3],
                      (char *)NULL);
        wait_ready(a);
        b = spawn_app("scale-B", "--app-id", app, "--in", in, "--out", out,
                      "--threads", "1", "--commit-ms", commit, "--tag", "B",
                      session[0], session[1], session[2], session[3],
                      (char *)NULL);
        wait_ready(b);

        /* phase 1: split between the two */
        pc.prod  = producer_new();
        pc.topic = in;
        pc.dr    = dr;
        pc.t_ms  = t_ms;
        atomic_init(&pc.produced, 0);
        for (i = 0; i < SCALE_N1; i++) {
                snprintf(k, sizeof(k), "s-%06d", i);
                snprintf(v, sizeof(v), "v-%d-xyz", i);
                t_ms[i] = now_ms();
                send_rec(pc.prod, in, RD_KAFKA_PARTITION_UA, k, strlen(k), v,
                         strlen(v), &dr[i]);
        }
        flush_ok(pc.prod, dr, SCALE_N1);
        r = reader_new(out);
        ck_assert_msg(reader_until(r, all_distinct, &d1, 120000),
                      "phase 1: %d of %d records in the output after 120 s "
                      "(logs: %s, %s)",
                      d1.distinct, SCALE_N1, a->log, b->log);
        for (i = 0; i < (int)r->n; i++) {
                const hdr_t *h = hdr(&r->recs[i], "x-instance");
                ck_assert_ptr_nonnull(h);
                if (!strcmp(h->value, "A"))
                        p1_a++;
                else if (!strcmp(h->value, "B"))
                        p1_b++;
        }
        printf("  scale: phase 1, %d records: A processed %d, B %d\n",
               SCALE_N1, p1_a, p1_b);
        fflush(stdout);
        ck_assert_msg(p1_a > 0 && p1_b > 0,
                      "both instances must process some: A %d, B %d", p1_a,
                      p1_b);
        ck_assert_int_eq(p1_a + p1_b, SCALE_N1); /* together all, once */

        /* phase 2: input flowing; kill A halfway */
        ck_assert(!pthread_create(&thr, NULL, pace, &pc));
        ck_assert_msg(ku_wait_for(half_produced, &pc, 60000),
                      "producer stalled");
        kill(a->pid, SIGKILL);
        t_kill = now_ms();
        ck_assert(proc_wait_exit(a, 10000));
        ck_assert(WIFSIGNALED(a->status) && WTERMSIG(a->status) == SIGKILL);
        ck_assert(!pthread_join(thr, NULL));
        flush_ok(pc.prod, dr, total);
        rd_kafka_destroy(pc.prod);

        ck_assert_msg(reader_until(r, all_distinct, &d, 120000),
                      "after the kill: %d of %d records in the output after "
                      "120 s (log: %s)",
                      d.distinct, total, b->log);
        processed_b = proc_stop_clean(b);
        reader_to_end(r, 30000);

        /* every output is some input, transformed, with where it came from */
        for (i = 0; i < (int)r->n; i++) {
                const rec_t *x = &r->recs[i];
                const hdr_t *who = hdr(x, "x-instance"),
                            *hp  = hdr(x, "x-in-partition"),
                            *ho  = hdr(x, "x-in-offset");
                int s            = key_seq(x, "s-");
                char want_v[64];
                ck_assert_msg(s >= 0 && s < total, "unexpected key %s",
                              x->key ? x->key : "(null)");
                snprintf(want_v, sizeof(want_v), "V-%d-XYZ", s);
                ck_assert_str_eq((char *)x->value, want_v);
                ck_assert(who && hp && ho);
                ck_assert_int_eq(atoi(hp->value), dr[s].partition);
                ck_assert_int_eq(atoll(ho->value), dr[s].offset);
                ck_assert_int_eq(x->partition, dr[s].partition);
                if (!strcmp(who->value, "A")) {
                        cnt_a[s]++;
                        /* A was dead before this record was produced? */
                        ck_assert_msg(t_ms[s] <= t_kill,
                                      "A processed %s, produced %lld ms "
                                      "after A was killed",
                                      x->key, (long long)(t_ms[s] - t_kill));
                        if (s >= SCALE_N1)
                                victim_part[dr[s].partition] = 1;
                } else {
                        ck_assert_str_eq(who->value, "B");
                        cnt_b[s]++;
                }
        }
        for (i = 0; i < 4; i++) {
                victim_parts += victim_part[i];
                dup_lo[i] = INT64_MAX;
                dup_hi[i] = -1;
        }
        ck_assert_msg(victim_parts > 0,
                      "A processed nothing in phase 2 before it was killed");
        for (i = 0; i < total; i++) {
                int32_t pt = dr[i].partition;
                ck_assert_msg(cnt_a[i] + cnt_b[i] >= 1,
                              "input %d (partition %d offset %lld) is not in "
                              "the output",
                              i, (int)pt, (long long)dr[i].offset);
                /* one process never outputs a record twice */
                ck_assert_msg(cnt_a[i] <= 1 && cnt_b[i] <= 1,
                              "input %d: A output it %d times, B %d times", i,
                              cnt_a[i], cnt_b[i]);
                if (cnt_a[i] && cnt_b[i]) {
                        dups++;
                        ck_assert_msg(victim_part[pt],
                                      "duplicate %d in partition %d, which "
                                      "A did not hold",
                                      i, (int)pt);
                        dup_n[pt]++;
                        if (dr[i].offset < dup_lo[pt])
                                dup_lo[pt] = dr[i].offset;
                        if (dr[i].offset > dup_hi[pt])
                                dup_hi[pt] = dr[i].offset;
                }
                /* B took over A's partitions: their newest records */
                if (victim_part[pt] && cnt_b[i] && t_ms[i] > t_kill)
                        taken_over[pt] = 1;
                /* the bound: what reached A's partitions in the last
                 * commit interval (+ slack) before the kill */
                if (victim_part[pt] && t_ms[i] <= t_kill &&
                    t_ms[i] > t_kill - SCALE_COMMIT_MS - SCALE_SLACK_MS)
                        bound++;
        }
        for (i = 0; i < 4; i++) {
                if (!victim_part[i])
                        continue;
                ck_assert_msg(taken_over[i],
                              "partition %d of the killed instance: no record "
                              "produced after the kill was processed by B",
                              i);
                /* the reprocessed records of a partition are one run of
                 * offsets: from the last commit of A on */
                ck_assert_msg(!dup_n[i] || dup_hi[i] - dup_lo[i] + 1 == dup_n[i],
                              "partition %d: duplicates at offsets %lld..%lld "
                              "are not contiguous (%d)",
                              i, (long long)dup_lo[i], (long long)dup_hi[i],
                              dup_n[i]);
        }
        printf("  scale: phase 2, %d records at %d/s, A killed after %d; A "
               "held %d partition(s); duplicates %d (bound %d = records "
               "produced to A's partitions in the %d ms before the kill); "
               "B processed %llu in all\n",
               SCALE_N2, SCALE_RATE, SCALE_N2 / 2, victim_parts, dups, bound,
               SCALE_COMMIT_MS + SCALE_SLACK_MS, processed_b);
        fflush(stdout);
        ck_assert_msg(dups <= bound,
                      "%d duplicates, more than the uncommitted window's %d",
                      dups, bound);
        reader_destroy(r);
        free(dr);
        free(t_ms);
        free(cnt_a);
        free(cnt_b);
        free(cnt1);
        free(cnt);
        kill_all();
}
END_TEST

/* ------------------------------------------------------------------ */
/* c. undecodable input under each deserialization handler */

/* Input (2 partitions) of the int64 topology: partition 0 holds good
 * records g-0..g-49; partition 1 holds g-50..g-99, a bad one (b-1, 3 bytes),
 * g-100..g-149, another (b-2), g-150..g-199. Good values are
 * seq * 1000 + 7, 8 bytes big-endian. */
#define BAD_GOOD 200

typedef struct {
        char in[256], out[256], dlq[256], app[256];
        dr_t dr[BAD_GOOD];
        dr_t bad_dr[2];
} bad_input_t;

static void bad_input_setup(bad_input_t *bi, const char *test, int with_dlq) {
        const char *names[3] = {bi->in, bi->out, bi->dlq};
        const int parts[3]   = {2, 2, 1};
        rd_kafka_t *prod;
        unsigned char val[8];
        char k[32];
        int i;
        memset(bi, 0, sizeof(*bi));
        name_of(bi->in, sizeof(bi->in), test, "in");
        name_of(bi->out, sizeof(bi->out), test, "out");
        name_of(bi->dlq, sizeof(bi->dlq), test, "dlq");
        name_of(bi->app, sizeof(bi->app), test, "app");
        create_topics(names, parts, with_dlq ? 3 : 2);
        prod = producer_new();
        for (i = 0; i < BAD_GOOD; i++) {
                if (i == 100 || i == 150) {
                        int b = i == 100 ? 0 : 1;
                        snprintf(k, sizeof(k), "b-%d", b + 1);
                        send_rec(prod, bi->in, 1, k, strlen(k), "bad", 3,
                                 &bi->bad_dr[b]);
                }
                snprintf(k, sizeof(k), "g-%d", i);
                be64(val, (int64_t)i * 1000 + 7);
                send_rec(prod, bi->in, i < 50 ? 0 : 1, k, strlen(k), val, 8,
                         &bi->dr[i]);
        }
        flush_ok(prod, bi->dr, BAD_GOOD);
        flush_ok(prod, bi->bad_dr, 2);
        rd_kafka_destroy(prod);
        ck_assert_int_eq(bi->bad_dr[0].partition, 1);
        ck_assert_int_eq(bi->bad_dr[0].offset, 50);
        ck_assert_int_eq(bi->bad_dr[1].offset, 101);
}

/* Check one output record of the int64 topology; returns its seq. */
static int check_doubled(const rec_t *x) {
        int s = key_seq(x, "g-");
        ck_assert_msg(s >= 0 && s < BAD_GOOD, "unexpected output key %s",
                      x->key ? x->key : "(null)");
        ck_assert_msg(x->value && x->value_len == 8,
                      "key %s: value of %zu bytes", x->key, x->value_len);
        ck_assert_int_eq(unbe64(x->value), ((int64_t)s * 1000 + 7) * 2);
        return s;
}

/* A failing instance: exit status 2 and an error naming where. */
static void expect_failure_at(proc_t *p, const bad_input_t *bi) {
        const char *l;
        char where[400];
        ck_assert_msg(proc_wait_exit(p, 90000),
                      "%s did not fail within 90 s (log: %s)", p->label,
                      p->log);
        ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 2,
                      "%s: exit status %d, expected 2; output \"%s\"",
                      p->label, p->status, p->out);
        l = proc_line(p, "ERROR: ");
        ck_assert_msg(l != NULL, "%s: no ERROR line in \"%s\"", p->label,
                      p->out);
        snprintf(where, sizeof(where), "topic \"%s\" partition 1 offset 50",
                 bi->in);
        ck_assert_msg(strstr(l, where), "error \"%.*s\" does not name %s",
                      (int)strcspn(l, "\n"), l, where);
        ck_assert_msg(strstr(l, "cannot deserialize value"),
                      "error \"%.*s\" does not give the reason",
                      (int)strcspn(l, "\n"), l);
        printf("  log_and_fail: %.*s\n", (int)strcspn(l, "\n"), l);
        fflush(stdout);
}

/* The output after a failure: partition 1's records before the bad one,
 * none after it. Returns how many outputs were duplicates. */
static int check_prefix_only(reader_t *r) {
        int seen[BAD_GOOD] = {0}, i, dups = 0;
        for (i = 0; i < (int)r->n; i++) {
                int s = check_doubled(&r->recs[i]);
                ck_assert_msg(s < 100,
                              "g-%d (after the bad record) is in the output",
                              s);
                if (seen[s]++)
                        dups++;
        }
        for (i = 50; i < 100; i++)
                ck_assert_msg(seen[i] >= 1,
                              "g-%d (before the bad record) is missing", i);
        return dups;
}

START_TEST(bad_input_log_and_fail) {
        bad_input_t *bi = malloc(sizeof(*bi));
        reader_t *r;
        proc_t *p;
        int64_t committed;
        int dups;
        size_t first_n;
        ck_assert_ptr_nonnull(bi);
        bad_input_setup(bi, "fail", 0);

        p = spawn_app("fail-1", "--int64", "--app-id", bi->app, "--in", bi->in,
                      "--out", bi->out, "--handler", "log_and_fail",
                      "--commit-ms", "200", (char *)NULL);
        expect_failure_at(p, bi);
        r = reader_new(bi->out);
        reader_to_end(r, 30000);
        dups    = check_prefix_only(r);
        first_n = r->n;
        ck_assert_int_eq(dups, 0);
        committed = committed_offset(bi->app, bi->in, 1);
        printf("  log_and_fail: %zu records out, committed offset of "
               "partition 1: %lld\n",
               first_n, (long long)committed);
        fflush(stdout);
        ck_assert_msg(committed <= 50,
                      "committed offset %lld skips the bad record at 50",
                      (long long)committed);

        /* a restart fails again, at the same record */
        p = spawn_app("fail-2", "--int64", "--app-id", bi->app, "--in", bi->in,
                      "--out", bi->out, "--handler", "log_and_fail",
                      "--commit-ms", "200", (char *)NULL);
        expect_failure_at(p, bi);
        reader_to_end(r, 30000);
        dups = check_prefix_only(r);
        printf("  log_and_fail: after the restart %zu records out "
               "(%d duplicate(s))\n",
               r->n, dups);
        fflush(stdout);
        committed = committed_offset(bi->app, bi->in, 1);
        ck_assert_msg(committed <= 50,
                      "committed offset %lld skips the bad record at 50",
                      (long long)committed);
        reader_destroy(r);
        free(bi);
        kill_all();
}
END_TEST

START_TEST(bad_input_log_and_continue) {
        bad_input_t *bi = malloc(sizeof(*bi));
        int seen[BAD_GOOD] = {0}, i;
        size_t want        = BAD_GOOD;
        unsigned long long processed;
        reader_t *r;
        proc_t *p;
        ck_assert_ptr_nonnull(bi);
        bad_input_setup(bi, "cont", 0);
        p = spawn_app("continue", "--int64", "--app-id", bi->app, "--in",
                      bi->in, "--out", bi->out, "--handler",
                      "log_and_continue", (char *)NULL);
        wait_ready(p);
        r = reader_new(bi->out);
        ck_assert_msg(reader_until(r, has_n, &want, 60000),
                      "%zu of %d records out after 60 s (log: %s)", r->n,
                      BAD_GOOD, p->log);
        processed = proc_stop_clean(p);
        reader_to_end(r, 30000);
        ck_assert_msg(r->n == BAD_GOOD, "%zu records out, expected %d", r->n,
                      BAD_GOOD);
        for (i = 0; i < (int)r->n; i++)
                seen[check_doubled(&r->recs[i])]++; /* no b-* keys */
        for (i = 0; i < BAD_GOOD; i++)
                ck_assert_int_eq(seen[i], 1);
        printf("  log_and_continue: %d good records out, 2 bad skipped; "
               "sluice_app_processed %llu\n",
               BAD_GOOD, processed);
        fflush(stdout);
        reader_destroy(r);
        free(bi);
        kill_all();
}
END_TEST

START_TEST(bad_input_dead_letter) {
        bad_input_t *bi = malloc(sizeof(*bi));
        int seen[BAD_GOOD] = {0}, i;
        size_t want = BAD_GOOD, want_dlq = 2;
        reader_t *r, *rd;
        proc_t *p;
        ck_assert_ptr_nonnull(bi);
        bad_input_setup(bi, "dlq", 1);
        p = spawn_app("dead-letter", "--int64", "--app-id", bi->app, "--in",
                      bi->in, "--out", bi->out, "--handler", "dead_letter",
                      "--dlq", bi->dlq, (char *)NULL);
        wait_ready(p);
        r  = reader_new(bi->out);
        rd = reader_new(bi->dlq);
        ck_assert_msg(reader_until(r, has_n, &want, 60000),
                      "%zu of %d records out after 60 s (log: %s)", r->n,
                      BAD_GOOD, p->log);
        ck_assert_msg(reader_until(rd, has_n, &want_dlq, 60000),
                      "%zu of 2 records in the dead-letter topic (log: %s)",
                      rd->n, p->log);
        proc_stop_clean(p);
        reader_to_end(r, 30000);
        reader_to_end(rd, 30000);
        ck_assert_uint_eq(r->n, BAD_GOOD);
        for (i = 0; i < (int)r->n; i++)
                seen[check_doubled(&r->recs[i])]++;
        for (i = 0; i < BAD_GOOD; i++)
                ck_assert_int_eq(seen[i], 1);

        ck_assert_uint_eq(rd->n, 2);
        for (i = 0; i < 2; i++) {
                const rec_t *x = &rd->recs[i]; /* one partition: in order */
                const hdr_t *h;
                char key[16], off[24];
                snprintf(key, sizeof(key), "b-%d", i + 1);
                snprintf(off, sizeof(off), "%lld",
                         (long long)bi->bad_dr[i].offset);
                ck_assert_str_eq(x->key, key);
                /* the original bytes */
                ck_assert_uint_eq(x->value_len, 3);
                ck_assert_mem_eq(x->value, "bad", 3);
                ck_assert_ptr_nonnull(h = hdr(x, "__streams.errors.topic"));
                ck_assert_str_eq(h->value, bi->in);
                ck_assert_ptr_nonnull(h = hdr(x, "__streams.errors.partition"));
                ck_assert_str_eq(h->value, "1");
                ck_assert_ptr_nonnull(h = hdr(x, "__streams.errors.offset"));
                ck_assert_str_eq(h->value, off);
                ck_assert_ptr_nonnull(h = hdr(x, "__streams.errors.message"));
                ck_assert_msg(strstr(h->value, "cannot deserialize value") &&
                                  strstr(h->value, "expected 8 bytes, got 3"),
                              "__streams.errors.message is \"%s\"", h->value);
                if (!i) {
                        printf("  dead_letter: %s at offset %s: "
                               "__streams.errors.message=\"%s\"\n",
                               x->key, off, h->value);
                        fflush(stdout);
                }
        }
        reader_destroy(r);
        reader_destroy(rd);
        free(bi);
        kill_all();
}
END_TEST

/* Issue 8, case 5: an undecodable record as large as the input topic
 * takes (here 1,000,000 bytes; the broker's default max.message.bytes is
 * 1048588) must reach the dead-letter topic whole. Before, the producer's
 * own 1,000,000-byte limit refused it with its headers, and the app failed
 * at every start. Sluice now creates the dead-letter topic with the
 * sources' max.message.bytes + 64 KiB and sends up to that. */
START_TEST(dead_letter_as_large_as_the_input) {
        char in[256], out[256], dlq[256], app[256], err[512], in_max[32],
            dlq_max[32];
        const char *names[2] = {in, out};
        const int parts[2]   = {1, 1};
        size_t big = 1000000, one = 1;
        char *value = malloc(big);
        unsigned char good[8];
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *prod;
        dr_t drs[2];
        reader_t *r, *rd;
        proc_t *p;
        const hdr_t *h;
        ck_assert_ptr_nonnull(value);
        memset(value, 'x', big);
        memset(drs, 0, sizeof(drs));
        name_of(in, sizeof(in), "bigdlq", "in");
        name_of(out, sizeof(out), "bigdlq", "out");
        name_of(dlq, sizeof(dlq), "bigdlq", "dlq");
        name_of(app, sizeof(app), "bigdlq", "app");
        create_topics(names, parts, 2);
        rd_kafka_conf_set(c, "message.max.bytes", "2000000", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        ck_assert_msg(prod != NULL, "producer: %s", err);
        send_rec(prod, in, 0, "big", 3, value, big, &drs[0]);
        be64(good, 7);
        send_rec(prod, in, 0, "g-0", 3, good, 8, &drs[1]);
        flush_ok(prod, drs, 2);
        rd_kafka_destroy(prod);
        p = spawn_app("bigdlq", "--int64", "--app-id", app, "--in", in,
                      "--out", out, "--handler", "dead_letter", "--dlq", dlq,
                      (char *)NULL);
        wait_ready(p);
        r  = reader_new(out);
        rd = reader_new(dlq);
        ck_assert_msg(reader_until(r, has_n, &one, 60000),
                      "the record after the large one never came out (log: "
                      "%s)",
                      p->log);
        ck_assert_msg(reader_until(rd, has_n, &one, 60000),
                      "no dead letter (log: %s)", p->log);
        proc_stop_clean(p);
        ck_assert_uint_eq(rd->recs[0].value_len, big);
        ck_assert_mem_eq(rd->recs[0].value, value, big);
        ck_assert_ptr_null(hdr(&rd->recs[0], "__sluice.errors.truncated"));
        ck_assert_ptr_nonnull(h = hdr(&rd->recs[0], "__streams.errors.offset"));
        ck_assert_int_eq(strtoll(h->value, NULL, 10), drs[0].offset);
        /* the topic Sluice made takes what the source takes, and more */
        ck_assert_int_eq(topic_config(in, "max.message.bytes", in_max,
                                      sizeof(in_max)),
                         1);
        ck_assert_int_eq(topic_config(dlq, "max.message.bytes", dlq_max,
                                      sizeof(dlq_max)),
                         1);
        ck_assert_int_eq(strtoll(dlq_max, NULL, 10),
                         strtoll(in_max, NULL, 10) + 65536);
        printf("  dead letter of %zu bytes sent whole: source "
               "max.message.bytes %s, dead-letter topic %s\n",
               big, in_max, dlq_max);
        fflush(stdout);
        reader_destroy(r);
        reader_destroy(rd);
        free(value);
        kill_all();
}
END_TEST

/* ------------------------------------------------------------------ */
/* in-process apps: the Admin API path of topic creation, and topic checks */

static int last_char_key(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return sluice_record_set_key(
            rec, sluice_strn((const char *)v->u.bytes.data + v->u.bytes.len - 1,
                             1));
}

static sluice_conf_t *app_conf(const char *app_id) {
        char err[512];
        sluice_conf_t *c = sluice_conf_new();
        ck_assert_int_eq(sluice_conf_set(c, "application.id", app_id, err,
                                         sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "bootstrap.servers", g_bootstrap,
                                         err, sizeof(err)),
                         0);
        ck_assert_int_eq(sluice_conf_set(c, "commit.interval.ms", "200", err,
                                         sizeof(err)),
                         0);
        sluice_conf_set_log_cb(c, NULL, SLUICE_LOG_ERR, NULL);
        return c;
}

#define REPART_N 300

START_TEST(repartition_topic_created_through_admin_api) {
        char in[256], out[256], app_id[256], internal[300], err[512];
        const char *names[2] = {in, out};
        const int parts[2]   = {3, 2};
        dr_t drs[REPART_N];
        size_t want = REPART_N, i;
        int per_key[10] = {0};
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s;
        sluice_app_t *app;
        rd_kafka_t *p;
        reader_t *r;

        name_of(in, sizeof(in), "repart", "in");
        name_of(out, sizeof(out), "repart", "out");
        name_of(app_id, sizeof(app_id), "repart", "app");
        snprintf(internal, sizeof(internal), "%s-rekey-repartition", app_id);
        create_topics(names, parts, 2);
        s = sluice_stream_from(t, in, sluice_serde_string(),
                               sluice_serde_string());
        s = sluice_stream_repartition(sluice_stream_select_key(s, last_char_key,
                                                               NULL),
                                      "rekey", 0);
        sluice_stream_to(s, out, NULL, NULL);
        app = sluice_app_new(t, app_conf(app_id), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);

        p = producer_new();
        for (i = 0; i < REPART_N; i++) {
                char k[32], v[32];
                snprintf(k, sizeof(k), "k%zu", i);
                snprintf(v, sizeof(v), "v%zu", i);
                send_rec(p, in, RD_KAFKA_PARTITION_UA, k, strlen(k), v,
                         strlen(v), &drs[i]);
        }
        flush_ok(p, drs, REPART_N);
        /* the internal topic has the source's 3 partitions */
        ck_assert_msg(ku_topic_ready(p, internal, 3),
                      "%s missing or without 3 partitions", internal);
        rd_kafka_destroy(p);

        r = reader_new(out);
        ck_assert_msg(reader_until(r, has_n, &want, 60000),
                      "%zu of %d records reached %s", r->n, REPART_N, out);
        reader_to_end(r, 5000);
        ck_assert_uint_eq(r->n, REPART_N); /* a clean run: no duplicates */
        for (i = 0; i < r->n; i++) {
                const rec_t *x = &r->recs[i];
                ck_assert_uint_eq(strlen(x->key), 1);
                ck_assert_int_eq(x->key[0], x->value[x->value_len - 1]);
                per_key[x->key[0] - '0']++;
        }
        for (i = 0; i < 10; i++)
                ck_assert_int_eq(per_key[i], REPART_N / 10);
        reader_destroy(r);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

/* Records without a timestamp (-1, as an old producer writes them) under
 * default.timestamp.extractor=log_and_skip_on_invalid: skipped, counted in
 * the app's metrics per thread and per task, and their offsets committed
 * with the others'. */
#define TS_N 100

static int metrics_say(sluice_app_t *app, const char *what) {
        char *m = sluice_app_metrics_json(app);
        int r   = m && strstr(m, what);
        free(m);
        return r;
}

START_TEST(records_without_timestamp_skipped_and_counted) {
        char in[256], out[256], app_id[256], err[512];
        const char *names[2] = {in, out};
        const int parts[2]   = {2, 2};
        dr_t drs[TS_N];
        int64_t end[2] = {0, 0};
        size_t want = TS_N - TS_N / 10, i;
        unsigned long long per_task = 0;
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c;
        sluice_app_t *app;
        rd_kafka_t *p;
        reader_t *r;
        char *m;
        const char *q;
        int64_t deadline;

        name_of(in, sizeof(in), "nots", "in");
        name_of(out, sizeof(out), "nots", "out");
        name_of(app_id, sizeof(app_id), "nots", "app");
        create_topics(names, parts, 2);
        sluice_stream_to(sluice_stream_from(t, in, sluice_serde_string(),
                                            sluice_serde_string()),
                         out, NULL, NULL);
        c = app_conf(app_id);
        ck_assert_int_eq(sluice_conf_set(c, "default.timestamp.extractor",
                                         "log_and_skip_on_invalid", err,
                                         sizeof(err)),
                         0);
        app = sluice_app_new(t, c, err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_msg(sluice_app_start(app, err, sizeof(err)) == 0, "%s", err);

        p = producer_new();
        for (i = 0; i < TS_N; i++) {
                char k[32];
                rd_kafka_resp_err_t e;
                int none          = i % 10 == 9; /* no timestamp */
                const char *v     = none ? "none" : "v";
                int64_t ts        = none ? -1 : 1000 + (int64_t)i;
                int32_t partition = (int32_t)(i % 2);
                snprintf(k, sizeof(k), "k%zu", i);
                e = rd_kafka_producev(
                    p, RD_KAFKA_V_TOPIC(in), RD_KAFKA_V_PARTITION(partition),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(k, strlen(k)),
                    RD_KAFKA_V_VALUE((void *)v, strlen(v)),
                    RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_OPAQUE(&drs[i]),
                    RD_KAFKA_V_END);
                ck_assert_msg(!e, "produce: %s", rd_kafka_err2str(e));
                rd_kafka_poll(p, 0);
        }
        flush_ok(p, drs, TS_N);
        rd_kafka_destroy(p);
        for (i = 0; i < TS_N; i++)
                if (drs[i].offset + 1 > end[drs[i].partition])
                        end[drs[i].partition] = drs[i].offset + 1;

        r = reader_new(out);
        ck_assert_msg(reader_until(r, has_n, &want, 60000),
                      "%zu of %zu records reached %s", r->n, want, out);
        reader_to_end(r, 3000);
        ck_assert_uint_eq(r->n, want);
        for (i = 0; i < r->n; i++)
                ck_assert_msg(r->recs[i].value_len == 1 &&
                                  r->recs[i].value[0] == 'v',
                              "a record without timestamp came out");
        /* the metrics are published every 100 ms */
        deadline = now_ms() + 10000;
        while (!metrics_say(app, "\"invalid_timestamp\":10},"
                                 "\"skipped_invalid_timestamp\":10,") &&
               now_ms() < deadline)
                poll(NULL, 0, 20);
        m = sluice_app_metrics_json(app);
        ck_assert_ptr_nonnull(m);
        ck_assert_msg(strstr(m, "\"invalid_timestamp\":10},"
                                "\"skipped_invalid_timestamp\":10,"),
                      "%s", m);
        /* and per task: 5 on each of the two */
        for (q = m; (q = strstr(q, "\"skipped_invalid_timestamp\":")); q++) {
                per_task += strtoull(q + 28, NULL, 10);
                ck_assert(q[28] >= '0' && q[28] <= '9');
        }
        ck_assert_uint_eq(per_task, 20); /* the thread's 10, the tasks' 10 */
        free(m);
        sluice_app_close(app);
        for (i = 0; i < 2; i++)
                ck_assert_int_eq(committed_offset(app_id, in, (int32_t)i),
                                 end[i]);
        printf("  no timestamp: %zu records out, %d skipped and counted, "
               "every offset committed\n",
               want, TS_N / 10);
        fflush(stdout);
        reader_destroy(r);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

START_TEST(missing_source_topic_named_at_start) {
        char in[256], app_id[256], err[512], want[400];
        sluice_topology_t *t = sluice_topology_new();
        sluice_app_t *app;
        name_of(in, sizeof(in), "missing", "in");
        name_of(app_id, sizeof(app_id), "missing", "app");
        sluice_stream_to(sluice_stream_from(t, in, NULL, NULL), "whatever",
                         NULL, NULL);
        app = sluice_app_new(t, app_conf(app_id), err, sizeof(err));
        ck_assert_msg(app != NULL, "%s", err);
        ck_assert_int_eq(sluice_app_start(app, err, sizeof(err)),
                         SLUICE_ERR_STATE);
        snprintf(want, sizeof(want),
                 "source topic \"%s\" does not exist; create it first", in);
        ck_assert_str_eq(err, want);
        ck_assert_int_eq(sluice_app_state(app), SLUICE_APP_ERROR);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* d. state: a running word count (app_wordcount: flat_map -> group_by_key
 * -> count("counts") -> to_stream) over SIGKILL and restarts, and the
 * restore of a persistent store from its checkpoint */

#define WC_VOCAB 200 /* words "w000".."w199" */
#define WC_WORDS 5   /* per line */

/* Word @j of line @line of the input with @seed (seed 0: every word once,
 * line i holding words 5i..5i+4, for lines 0..39). */
static int wc_word(uint64_t seed, int line, int j) {
        uint64_t z;
        if (!seed)
                return (line * WC_WORDS + j) % WC_VOCAB;
        /* splitmix64 of (seed, line, j) */
        z = seed * 0x9e3779b97f4a7c15ULL +
            ((uint64_t)line * WC_WORDS + (uint64_t)j + 1) *
                0xd1b54a32d192ed03ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return (int)(z % WC_VOCAB);
}

/* The text of the line, "w012 w199 w003 w050 w077"; adds its words to
 * @counts unless NULL. */
static void wc_line(uint64_t seed, int line, char *buf, size_t size,
                    int64_t *counts) {
        size_t n = 0;
        int j;
        for (j = 0; j < WC_WORDS; j++) {
                int w = wc_word(seed, line, j);
                n += (size_t)snprintf(buf + n, size - n, "%sw%03d",
                                      j ? " " : "", w);
                if (counts)
                        counts[w]++;
        }
}

/* The vocabulary index of an output key, or -1. */
static int wc_index(const char *key) {
        if (!key || strlen(key) != 4 || key[0] != 'w' ||
            strspn(key + 1, "0123456789") != 3)
                return -1;
        return atoi(key + 1) < WC_VOCAB ? atoi(key + 1) : -1;
}

/* Produce lines @first..@first+@n-1 of @seed (keys l-<seed>-<i>, spread
 * over the partitions by the partitioner) and add their words to @counts. */
static void wc_produce(const char *topic, uint64_t seed, int first, int n,
                       int64_t *counts) {
        rd_kafka_t *p = producer_new();
        dr_t *dr      = calloc((size_t)n, sizeof(*dr));
        char k[48], v[64];
        int i;
        ck_assert_ptr_nonnull(dr);
        for (i = 0; i < n; i++) {
                snprintf(k, sizeof(k), "l-%llu-%d", (unsigned long long)seed,
                         first + i);
                wc_line(seed, first + i, v, sizeof(v), counts);
                send_rec(p, topic, RD_KAFKA_PARTITION_UA, k, strlen(k), v,
                         strlen(v), &dr[i]);
        }
        flush_ok(p, dr, n);
        rd_kafka_destroy(p);
        free(dr);
}

/* The latest count per word in a topic of word counts (the output or the
 * changelog): per word the value of its record with the highest offset, in
 * the one partition where the word lives. */
typedef struct {
        int64_t val[WC_VOCAB], off[WC_VOCAB];
        int32_t part[WC_VOCAB]; /* -1: not seen */
        size_t cursor;          /* records of the reader taken in */
        const int64_t *want;    /* for view_matches */
} wc_view_t;

static void view_init(wc_view_t *v, const int64_t *want) {
        int w;
        memset(v, 0, sizeof(*v));
        for (w = 0; w < WC_VOCAB; w++) {
                v->off[w]  = -1;
                v->part[w] = -1;
        }
        v->want = want;
}

static void view_update(wc_view_t *v, const reader_t *r) {
        for (; v->cursor < r->n; v->cursor++) {
                const rec_t *x = &r->recs[v->cursor];
                int w          = wc_index(x->key);
                ck_assert_msg(w >= 0, "%s: unexpected key \"%s\"", r->topic,
                              x->key ? x->key : "(null)");
                ck_assert_msg(x->value && x->value_len == 8,
                              "%s: key %s: value of %zu bytes (not an int64)",
                              r->topic, x->key, x->value_len);
                if (v->part[w] < 0)
                        v->part[w] = x->partition;
                ck_assert_msg(v->part[w] == x->partition,
                              "%s: word %s in partitions %d and %d", r->topic,
                              x->key, (int)v->part[w], (int)x->partition);
                if (x->offset > v->off[w]) {
                        v->off[w] = x->offset;
                        v->val[w] = unbe64(x->value);
                }
        }
}

/* Every word's latest count is the wanted one (a word never seen counts as
 * 0). */
static int view_matches(reader_t *r, void *arg) {
        wc_view_t *v = arg;
        int w;
        view_update(v, r);
        for (w = 0; w < WC_VOCAB; w++)
                if (v->val[w] != v->want[w])
                        return 0;
        return 1;
}

/* The first word whose latest count differs from the wanted one (for
 * messages), or -1. */
static int view_first_off(const wc_view_t *v) {
        int w;
        for (w = 0; w < WC_VOCAB; w++)
                if (v->val[w] != v->want[w])
                        return w;
        return -1;
}

static void topic_ends(const char *topic, int parts, int64_t *lo,
                       int64_t *hi) {
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err,
                                      sizeof(err));
        int i;
        ck_assert_msg(rk != NULL, "%s", err);
        for (i = 0; i < parts; i++)
                ck_assert_msg(!rd_kafka_query_watermark_offsets(
                                  rk, topic, i, &lo[i], &hi[i], 10000),
                              "watermarks of %s [%d]", topic, i);
        rd_kafka_destroy(rk);
}

/* A client of the app's consumer group that only reads its committed
 * offsets (never subscribes: leaves no group state). */
static rd_kafka_t *group_client(const char *group) {
        char err[512];
        rd_kafka_conf_t *c = base_conf();
        rd_kafka_t *rk;
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        ck_assert_msg(rk != NULL, "%s", err);
        return rk;
}

/* The group's lag on @topic: the sum over its @parts partitions of end -
 * committed offset (the log start where it committed none); -1 if the
 * cluster did not answer. */
static int64_t group_lag(rd_kafka_t *rk, const char *topic, int parts) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(parts);
        int64_t lag = 0, lo, hi;
        int i;
        for (i = 0; i < parts; i++)
                rd_kafka_topic_partition_list_add(l, topic, i);
        if (rd_kafka_committed(rk, l, 10000))
                lag = -1;
        for (i = 0; i < parts && lag >= 0; i++) {
                int64_t c = l->elems[i].offset;
                if (l->elems[i].err ||
                    rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi,
                                                     10000))
                        lag = -1;
                else
                        lag += hi - (c < 0 ? lo : c);
        }
        rd_kafka_topic_partition_list_destroy(l);
        return lag;
}

/* Drained: the group committed the end of the input, and then (so that the
 * repartition topic's end is final: the input's records were flushed
 * before their offsets were committed) the end of the repartition topic;
 * and a commit flushes the record caches to the changelog and the output
 * first. */
typedef struct {
        rd_kafka_t *rk;
        const char *in, *rep;
        int64_t lag_in, lag_rep;
} wc_drain_t;

static int wc_drained(void *arg) {
        wc_drain_t *d = arg;
        d->lag_rep    = -2; /* not asked */
        if ((d->lag_in = group_lag(d->rk, d->in, 4)) != 0)
                return 0;
        return (d->lag_rep = group_lag(d->rk, d->rep, 4)) == 0;
}

/* The last line of the output starting with @prefix (NULL if none). */
static const char *proc_last_line(const proc_t *p, const char *prefix) {
        const char *s = p->out, *last = NULL;
        size_t pl     = strlen(prefix);
        while (s && *s) {
                if (!strncmp(s, prefix, pl))
                        last = s;
                s = strchr(s, '\n');
                if (s)
                        s++;
        }
        return last;
}

/* The tasks of an app_wordcount process, from its last TASKS line
 * ("TASKS t=T 0_1,1_3"): has[sub][partition] (subs 0 and 1, partitions
 * 0..3). Returns how many, or -1 without a TASKS line. */
static int wc_tasks(const proc_t *p, int has[2][4]) {
        const char *l = proc_last_line(p, "TASKS t="), *s;
        int n = 0, sub, part, k;
        memset(has, 0, sizeof(int[2][4]));
        if (!l)
                return -1;
        s = strchr(l + 8, ' ');
        ck_assert_msg(s != NULL, "%s: bad line %.60s", p->label, l);
        s++;
        if (*s == '-')
                return 0;
        while (sscanf(s, "%d_%d%n", &sub, &part, &k) == 2) {
                ck_assert_msg(sub >= 0 && sub < 2 && part >= 0 && part < 4,
                              "%s: unexpected task %d_%d", p->label, sub,
                              part);
                has[sub][part] = 1;
                n++;
                s += k;
                if (*s != ',')
                        break;
                s++;
        }
        return n;
}

/* The two instances' tasks are all 8, each held once: the group has
 * settled. */
static int wc_settled(const proc_t *a, const proc_t *b) {
        int ha[2][4], hb[2][4], s, i;
        if (wc_tasks(a, ha) < 0 || wc_tasks(b, hb) < 0)
                return 0;
        for (s = 0; s < 2; s++)
                for (i = 0; i < 4; i++)
                        if (ha[s][i] + hb[s][i] != 1)
                                return 0;
        return 1;
}

/* The RESTORED lines of a process (from byte @from of its output on), per
 * partition of store "counts": how many, and the figures of the first. Each
 * must have restored = end - start (nothing is compacted here). */
typedef struct {
        int n;
        long long start, end;
        unsigned long long restored;
} wc_rst_t;

static void wc_restored_from(const proc_t *p, size_t from, wc_rst_t rst[4]) {
        const char *s = p->out + from;
        memset(rst, 0, 4 * sizeof(*rst));
        while ((s = strstr(s, "RESTORED "))) {
                int part;
                long long a, e;
                unsigned long long n;
                ck_assert_msg(sscanf(s,
                                     "RESTORED store=counts partition=%d "
                                     "start=%lld end=%lld restored=%llu",
                                     &part, &a, &e, &n) == 4 &&
                                  part >= 0 && part < 4,
                              "%s: bad line \"%.100s\"", p->label, s);
                ck_assert_msg(e >= a && n == (unsigned long long)(e - a),
                              "%s: partition %d restored %llu records of "
                              "offsets %lld..%lld",
                              p->label, part, n, a, e);
                if (!rst[part].n++) {
                        rst[part].start    = a;
                        rst[part].end      = e;
                        rst[part].restored = n;
                }
                s += 9;
        }
}

static void wc_restored(const proc_t *p, wc_rst_t rst[4]) {
        wc_restored_from(p, 0, rst);
}

/* The checkpoint of store "counts" for partition @p:
 * @state/@app/0/<sub>_<p>/.checkpoint (instance 0: one instance runs at a
 * time); -1 if none. *@sub: where it was. */
static int64_t wc_checkpoint(const char *state, const char *app, int p,
                             int *sub) {
        char path[2600], line[512], name[400];
        long long off;
        int64_t r = -1;
        int s;
        *sub = -1;
        for (s = 0; s < 4; s++) {
                FILE *f;
                snprintf(path, sizeof(path), "%s/%s/0/%d_%d/.checkpoint",
                         state, app, s, p);
                if (!(f = fopen(path, "r")))
                        continue;
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "%lld %399s", &off, name) == 2 &&
                            !strcmp(name, "counts")) {
                                ck_assert_msg(r < 0, "two checkpoints of "
                                                     "counts [%d]",
                                              p);
                                r    = off;
                                *sub = s;
                        }
                fclose(f);
        }
        return r;
}

/* Start app_wordcount (commit.interval.ms 500, one stream thread, a short
 * session timeout, Sluice's INFO lines - tasks, rebalances, restores - in
 * its log) and wait for RUNNING. */
static proc_t *wc_start(const char *label, const char *app, const char *in,
                        const char *out, const char *state,
                        const char *store) {
        proc_t *p = spawn_wc(
            label, "--app-id", app, "--in", in, "--out", out, "--state-dir",
            state, "--store", store, "--commit-ms", "500", "--threads", "1",
            "--conf", "consumer.session.timeout.ms=6000", "--conf",
            "consumer.heartbeat.interval.ms=500", "--log-level", "6",
            (char *)NULL);
        if (!proc_wait_line(p, "RUNNING", 60000)) {
                const char *e = proc_line(p, "ERROR: ");
                if (e)
                        ck_abort_msg("%s failed before RUNNING: %.*s (log: %s)",
                                     p->label, (int)strcspn(e, "\n"), e,
                                     p->log);
                ck_abort_msg("%s: not RUNNING within 60 s; output \"%s\" "
                             "(log: %s)",
                             p->label, p->out, p->log);
        }
        return p;
}

/* ---- two instances on one state.dir, one paused ----
 *
 * Issue 8, case 4: two LMDB word counts on one host share a state.dir (the
 * default /tmp/sluice is shared by every app). One is paused (SIGSTOP)
 * past the session timeout: the group gives its tasks to the other. Before,
 * both used the same task directories, the paused one still held their
 * LMDB locks, and the other died for good on "in use by another process".
 * Now each instance has its own directory (<state>/<app>/0 and /1): the
 * other takes every task, restores from the changelogs and counts on. */
START_TEST(two_instances_one_state_dir_one_paused) {
        char in[256], out[256], app[256], state[1200], dir[1800];
        const char *names[2] = {in, out};
        const int parts[2]   = {4, 4};
        int64_t want[WC_VOCAB] = {0};
        wc_view_t *v = malloc(sizeof(*v));
        int has[2][4], s, i;
        int64_t end;
        reader_t *r;
        proc_t *a, *b;
        struct stat st;
        ck_assert_ptr_nonnull(v);
        name_of(in, sizeof(in), "share", "in");
        name_of(out, sizeof(out), "share", "out");
        name_of(app, sizeof(app), "share", "app");
        snprintf(state, sizeof(state), "%s/share-state", g_logdir);
        create_topics(names, parts, 2);
        view_init(v, want);
        r = reader_new(out);
        a = wc_start("share-a", app, in, out, state, "lmdb");
        b = wc_start("share-b", app, in, out, state, "lmdb");
        /* two directories, one per instance */
        snprintf(dir, sizeof(dir), "%s/%s/0/.lock", state, app);
        ck_assert_msg(stat(dir, &st) == 0, "no %s", dir);
        snprintf(dir, sizeof(dir), "%s/%s/1/.lock", state, app);
        ck_assert_msg(stat(dir, &st) == 0, "no %s", dir);
        wc_produce(in, 21, 0, 2000, want);
        ck_assert_msg(reader_until(r, view_matches, v, 60000),
                      "batch 1 not counted (logs: %s, %s)", a->log, b->log);
        {
                /* committed too (input and repartition topic): nothing of
                 * batch 1 is processed again, so counts stay exact */
                char rep[320];
                wc_drain_t d;
                snprintf(rep, sizeof(rep), "%s-counts-repartition", app);
                d.rk  = group_client(app);
                d.in  = in;
                d.rep = rep;
                end   = now_ms() + 60000;
                while (!wc_drained(&d)) {
                        ck_assert_msg(now_ms() < end,
                                      "batch 1 not committed after 60 s "
                                      "(lag %lld, %lld)",
                                      (long long)d.lag_in,
                                      (long long)d.lag_rep);
                        reader_poll(r, 100);
                }
                rd_kafka_destroy(d.rk);
        }
        /* a stops answering; once its session is over b gets its
         * partitions (the stateless tasks are made on their first record)
         * and must count every word once more, from the changelogs */
        proc_signal(a, SIGSTOP);
        wc_produce(in, 21, 2000, WC_VOCAB / WC_WORDS, want);
        end = now_ms() + 90000;
        while (!view_matches(r, v)) {
                proc_pump(b);
                ck_assert_msg(!b->exited && !proc_line(b, "ERROR: "),
                              "the running instance failed: \"%s\" (log: %s)",
                              b->out, b->log);
                ck_assert_msg(now_ms() < end,
                              "after 90 s batch 2 is not counted: w%03d at "
                              "%lld, expected %lld; \"%s\" (log: %s)",
                              view_first_off(v),
                              (long long)v->val[view_first_off(v)],
                              (long long)want[view_first_off(v)], b->out,
                              b->log);
                reader_poll(r, 100);
        }
        /* b holds every task now */
        end = now_ms() + 10000;
        while (proc_pump(b), wc_tasks(b, has) != 8) {
                ck_assert_msg(now_ms() < end, "tasks: \"%s\"", b->out);
                reader_poll(r, 100);
        }
        for (s = 0; s < 2; s++)
                for (i = 0; i < 4; i++)
                        ck_assert(has[s][i]);
        proc_pump(b);
        ck_assert_msg(!proc_line(b, "ERROR: "), "%s", b->out);
        printf("  share: the paused instance's 8 tasks moved to the other "
               "(its own directory %s/%s/1), counts exact\n",
               "<state>", app);
        fflush(stdout);
        proc_signal(a, SIGCONT);
        proc_stop_clean(b);
        reader_destroy(r);
        free(v);
        kill_all();
}
END_TEST

/* ---- (a) two instances; SIGKILL and restart, twice ---- */

#define WC_N 20000   /* input lines */
#define WC_UP 2000   /* produced at once, when both instances run */
#define WC_RATE 1000 /* lines/s after the first WC_UP */
#define WC_COMMIT_MS 500
#define WC_SLACK_MS 1000
#define WC_SEED 7
#define WC_KILLS 2
/* kill k: once wc_kill_at[k] lines were produced; the lines from
 * wc_gate[k] on wait until the victim is back */
static const int wc_kill_at[WC_KILLS] = {5000, 12000};
static const int wc_gate[WC_KILLS]    = {9000, 16000};

/* The bound on the over-count. Under at-least-once a word is counted more
 * than once only through records a killed instance processed after its
 * last completed commit, which another instance then processes again. A
 * commit (lib/thread.c thread_commit) flushes the record caches (changelog
 * + output), flushes the producer (repartition records, changelog,
 * output), writes checkpoints, then commits the consumed offsets of all of
 * the thread's tasks at once. Two ways to re-count:
 *   R0  sub-topology 0 (input -> flat_map -> repartition topic): input
 *       lines the victim consumed after its last commit, and whose words
 *       it already wrote to the repartition topic, are read again, so
 *       their words reach the repartition topic twice: <= WC_WORDS per
 *       such line, on the input partitions the victim held (tasks 0_p).
 *   R1  sub-topology 1 (repartition -> count): if the victim died after a
 *       commit had flushed its caches to the changelog but before the
 *       offsets were committed, the survivor restores counts that include
 *       words whose repartition offsets it then processes again: <= the
 *       words the victim's count tasks (1_p) consumed in that last commit
 *       interval. (Killed between commits, its cached updates never
 *       reached the changelog, and re-processing counts them once: no
 *       over-count at all.)
 * Exact counts are out of reach: under at_least_once the changelog writes,
 * the output and the offset commit are not one atomic step (only
 * exactly_once_v2 would make them one transaction), so the test asserts
 * no loss (every count >= the truth) and the over-count's bound.
 * Both windows are at most one commit interval plus a step, the flushes
 * and a commit's duration before the kill. The input flows at WC_RATE
 * lines/s, far below what the instances process, so there is no backlog:
 * a record processed in that window was produced in it (or within the
 * pipeline's latency before it). Bound, per kill: over the lines produced
 * in the WC_COMMIT_MS + WC_SLACK_MS before it (the slack covers a step,
 * the flushes, the two hops' latency and scheduling on a loaded 2-core
 * machine), WC_WORDS per line on an input partition the victim held, plus
 * each of their words that lives in a partition whose count task the
 * victim held. The victim's tasks are those of its last TASKS line (from
 * its metrics, read every 20 ms and ~100 ms old); the test kills only
 * once both instances' tasks are the 8 tasks, each held once (the group
 * settled), and both have committed.
 *
 * Sluice's cooperative-sticky assignment has (in every run so far) left
 * the first instance the input's tasks and given the second the count
 * tasks, so the first kill (of the instance with more count tasks)
 * exercises the restore of in-memory stores after a crash (R1), the
 * second (of the other instance) the replay of input (R0). The bound is
 * computed from the tasks actually held either way. */

typedef struct {
        rd_kafka_t *prod;
        const char *topic;
        dr_t *dr;
        int64_t *t_ms; /* when each line was handed to the producer */
        atomic_int produced, resume;
} wc_pacer_t;

static void *wc_pace(void *arg) {
        wc_pacer_t *pc = arg;
        char k[32], v[64];
        int64_t start = 0;
        int i, g, base = 0;
        for (i = 0; i < WC_N; i++) {
                int rebase = i == WC_UP;
                for (g = 0; g < WC_KILLS; g++)
                        if (i == wc_gate[g]) {
                                while (atomic_load(&pc->resume) <= g)
                                        rd_kafka_poll(pc->prod, 10);
                                rebase = 1;
                        }
                if (rebase) {
                        start = now_ms();
                        base  = i;
                }
                if (i >= WC_UP) {
                        int64_t due = start + (int64_t)(i - base) * 1000 /
                                                  WC_RATE;
                        while (now_ms() < due)
                                rd_kafka_poll(pc->prod, (int)(due - now_ms()));
                }
                snprintf(k, sizeof(k), "l-%06d", i);
                wc_line(WC_SEED, i, v, sizeof(v), NULL);
                pc->t_ms[i] = now_ms();
                send_rec(pc->prod, pc->topic, RD_KAFKA_PARTITION_UA, k,
                         strlen(k), v, strlen(v), &pc->dr[i]);
                atomic_fetch_add(&pc->produced, 1);
        }
        return NULL;
}

/* What happened at one kill. */
typedef struct {
        int victim;           /* 0 = A, 1 = B */
        int has[2][4];        /* the victim's tasks */
        int at;               /* lines produced when it was killed */
        int64_t t_kill, t_commit, t_takeover;
        unsigned long long commits;
        proc_t *surv;         /* the survivor */
        size_t surv_from;     /* its output before the kill */
        wc_rst_t surv_rst[4]; /* the survivor's restores after it */
        int window;           /* lines produced in the bound's window */
        long long bound0, bound1;
} wc_kill_t;

/* The survivor holds all 8 tasks and finished restoring (a RESTORED line
 * since byte @from of its output) each count task of @victim_has. */
static int wc_took_over(const proc_t *surv, size_t from,
                        const int victim_has[2][4]) {
        int sh[2][4], i;
        wc_rst_t rst[4];
        if (wc_tasks(surv, sh) != 8)
                return 0;
        wc_restored_from(surv, from, rst);
        for (i = 0; i < 4; i++)
                if (victim_has[1][i] && !rst[i].n)
                        return 0;
        return 1;
}

static void wc_print_tasks(const int has[2][4]) {
        int s, i;
        for (s = 0; s < 2; s++)
                for (i = 0; i < 4; i++)
                        if (has[s][i])
                                printf(" %d_%d", s, i);
}

START_TEST(wordcount_two_instances_sigkill_restart) {
        char in[256], out[256], app[256], rep[320], clog[320], st[2][1200],
            label[32];
        const char *names[2] = {in, out}, *nm[2] = {"A", "B"};
        const int parts[2]   = {4, 4};
        dr_t *dr             = calloc(WC_N, sizeof(*dr));
        int64_t *t_ms        = calloc(WC_N, sizeof(int64_t));
        int64_t truth[WC_VOCAB] = {0};
        int64_t t0 = now_ms(), end;
        int has[2][2][4], cnt[2], gen[2] = {1, 1};
        int i, j, k, w, max_over_w = -1;
        long long over = 0, bound = 0, max_over = 0;
        wc_kill_t kl[WC_KILLS];
        wc_view_t *v  = malloc(sizeof(*v)), *cv = malloc(sizeof(*cv));
        wc_drain_t d;
        wc_pacer_t pc;
        pthread_t thr;
        reader_t *r, *rc;
        proc_t *x[2];
        const char *l;

        ck_assert(dr && t_ms && v && cv);
        memset(kl, 0, sizeof(kl));
        name_of(in, sizeof(in), "wc", "in");
        name_of(out, sizeof(out), "wc", "out");
        name_of(app, sizeof(app), "wc", "app");
        snprintf(rep, sizeof(rep), "%s-counts-repartition", app);
        snprintf(clog, sizeof(clog), "%s-counts-changelog", app);
        for (i = 0; i < 2; i++)
                snprintf(st[i], sizeof(st[i]), "%s/wc-state-%s", g_logdir,
                         nm[i]);
        create_topics(names, parts, 2);
        for (i = 0; i < WC_N; i++) {
                char line[64];
                wc_line(WC_SEED, i, line, sizeof(line), truth);
        }

        x[0] = wc_start("wc-A", app, in, out, st[0], "in_memory");
        x[1] = wc_start("wc-B", app, in, out, st[1], "in_memory");

        pc.prod  = producer_new();
        pc.topic = in;
        pc.dr    = dr;
        pc.t_ms  = t_ms;
        atomic_init(&pc.produced, 0);
        atomic_init(&pc.resume, 0);
        ck_assert(!pthread_create(&thr, NULL, wc_pace, &pc));
        r = reader_new(out);

        for (k = 0; k < WC_KILLS; k++) {
                wc_kill_t *K = &kl[k];
                proc_t *victim, *surv;
                int vi, si;
                /* once counts flow, both instances have committed, the
                 * group settled, and enough lines were produced */
                end = now_ms() + 60000;
                for (;;) {
                        reader_poll(r, 50);
                        proc_pump(x[0]);
                        proc_pump(x[1]);
                        ck_assert_msg(!x[0]->exited && !x[1]->exited,
                                      "an instance exited: %s \"%s\", %s "
                                      "\"%s\" (logs: %s, %s)",
                                      x[0]->label, x[0]->out, x[1]->label,
                                      x[1]->out, x[0]->log, x[1]->log);
                        if (atomic_load(&pc.produced) >= wc_kill_at[k] &&
                            r->n >= 100 && proc_line(x[0], "COMMITS ") &&
                            proc_line(x[1], "COMMITS ") &&
                            wc_settled(x[0], x[1]))
                                break;
                        ck_assert_msg(
                            now_ms() < end,
                            "before kill %d, after 60 s: %d lines "
                            "produced, %zu counts out, committed: %s %s, "
                            "%s %s, settled: %d (logs: %s, %s)",
                            k + 1, atomic_load(&pc.produced), r->n,
                            x[0]->label,
                            proc_line(x[0], "COMMITS ") ? "yes" : "no",
                            x[1]->label,
                            proc_line(x[1], "COMMITS ") ? "yes" : "no",
                            wc_settled(x[0], x[1]), x[0]->log, x[1]->log);
                }
                for (i = 0; i < 2; i++) {
                        ck_assert(wc_tasks(x[i], has[i]) >= 0);
                        for (cnt[i] = 0, j = 0; j < 4; j++)
                                cnt[i] += has[i][1][j];
                }
                /* first the instance with more count tasks (A on a tie),
                 * then the other one */
                vi = k == 0 ? (cnt[1] > cnt[0] ? 1 : 0) : 1 - kl[0].victim;
                si = 1 - vi;
                victim    = x[vi];
                surv      = x[si];
                K->victim = vi;
                memcpy(K->has, has[vi], sizeof(K->has));
                K->surv      = surv;
                K->surv_from = surv->out_len;
                kill(victim->pid, SIGKILL);
                K->t_kill = now_ms();
                K->at     = atomic_load(&pc.produced);
                ck_assert(proc_wait_exit(victim, 10000));
                ck_assert(WIFSIGNALED(victim->status) &&
                          WTERMSIG(victim->status) == SIGKILL);
                K->t_commit = -1;
                if ((l = proc_last_line(victim, "COMMITS ")))
                        ck_assert(sscanf(l, "COMMITS %llu t=%" SCNd64,
                                         &K->commits, &K->t_commit) == 2);

                /* the survivor takes over all 8 tasks (after the session
                 * timeout), restoring the victim's stores from their
                 * changelogs; then the victim comes back with its
                 * state.dir (in_memory: it restores what it gets) */
                end = now_ms() + 60000;
                while (!wc_took_over(surv, K->surv_from, K->has)) {
                        ck_assert_msg(!surv->exited,
                                      "%s exited: \"%s\" (log: %s)",
                                      surv->label, surv->out, surv->log);
                        ck_assert_msg(now_ms() < end,
                                      "%s did not take over (and restore) "
                                      "%s's tasks within 60 s of the kill; "
                                      "its output since: \"%.2000s\" (log: "
                                      "%s)",
                                      surv->label, victim->label,
                                      surv->out + K->surv_from, surv->log);
                        reader_poll(r, 50);
                        proc_pump(surv);
                }
                K->t_takeover = now_ms();
                snprintf(label, sizeof(label), "wc-%s%d", nm[vi], ++gen[vi]);
                x[vi] = wc_start(label, app, in, out, st[vi], "in_memory");
                atomic_store(&pc.resume, k + 1);
        }
        ck_assert(!pthread_join(thr, NULL));
        flush_ok(pc.prod, dr, WC_N);
        rd_kafka_destroy(pc.prod);

        /* drain: the group committed every record of both topics */
        d.rk  = group_client(app);
        d.in  = in;
        d.rep = rep;
        ck_assert_msg(ku_wait_for(wc_drained, &d, 90000),
                      "not drained after 90 s: lag %lld on the input, %lld "
                      "on the repartition topic (logs: %s, %s)",
                      (long long)d.lag_in, (long long)d.lag_rep, x[0]->log,
                      x[1]->log);
        rd_kafka_destroy(d.rk);
        proc_signal(x[0], SIGTERM);
        proc_signal(x[1], SIGTERM);
        proc_stop_clean(x[0]);
        proc_stop_clean(x[1]);

        /* the survivor of each kill restored each count task the victim
         * held: in_memory, so all of its changelog partition */
        for (k = 0; k < WC_KILLS; k++) {
                wc_kill_t *K = &kl[k];
                wc_restored_from(K->surv, K->surv_from, K->surv_rst);
                for (i = 0; i < 4; i++)
                        ck_assert_msg(!K->has[1][i] ||
                                          (K->surv_rst[i].n >= 1 &&
                                           K->surv_rst[i].start == 0 &&
                                           K->surv_rst[i].end > 0),
                                      "kill %d: %s did not restore count "
                                      "task 1_%d of %s from the changelog's "
                                      "start (%d restore(s), the first %llu "
                                      "of %lld..%lld)",
                                      k + 1, K->surv->label, i,
                                      nm[K->victim], K->surv_rst[i].n,
                                      K->surv_rst[i].restored,
                                      K->surv_rst[i].start,
                                      K->surv_rst[i].end);
        }
        reader_to_end(r, 30000);
        view_init(v, truth);
        view_update(v, r);
        rc = reader_new(clog);
        reader_to_end(rc, 30000);
        view_init(cv, truth);
        view_update(cv, rc);

        for (w = 0; w < WC_VOCAB; w++) {
                long long o = (long long)(v->val[w] - truth[w]);
                ck_assert_msg(v->part[w] >= 0,
                              "word w%03d (%lld times in the input) is not "
                              "in the output",
                              w, (long long)truth[w]);
                /* the output's partitioner is the repartition topic's: a
                 * word's counts are in the partition of its count task */
                ck_assert_msg(cv->part[w] == v->part[w],
                              "word w%03d: output partition %d, changelog "
                              "partition %d",
                              w, (int)v->part[w], (int)cv->part[w]);
                /* the last update went to both */
                ck_assert_msg(cv->val[w] == v->val[w],
                              "word w%03d: output says %lld, changelog %lld",
                              w, (long long)v->val[w], (long long)cv->val[w]);
                ck_assert_msg(o >= 0,
                              "word w%03d: counted %lld, in the input %lld "
                              "times (lost %lld)",
                              w, (long long)v->val[w], (long long)truth[w],
                              -o);
                over += o;
                if (o > max_over) {
                        max_over   = o;
                        max_over_w = w;
                }
        }
        for (k = 0; k < WC_KILLS; k++) {
                wc_kill_t *K = &kl[k];
                for (i = 0; i < WC_N; i++) {
                        if (t_ms[i] > K->t_kill ||
                            t_ms[i] <= K->t_kill - WC_COMMIT_MS - WC_SLACK_MS)
                                continue;
                        K->window++;
                        if (K->has[0][dr[i].partition])
                                K->bound0 += WC_WORDS;
                        for (j = 0; j < WC_WORDS; j++)
                                if (K->has[1][v->part[wc_word(WC_SEED, i,
                                                              j)]])
                                        K->bound1++;
                }
                bound += K->bound0 + K->bound1;
                printf("  wordcount: kill %d: %s after %d lines, holding "
                       "tasks",
                       k + 1, nm[K->victim], K->at);
                wc_print_tasks(K->has);
                printf(" (its last commit, #%llu, seen %lld ms before); %s "
                       "held all 8 tasks %lld ms later",
                       K->commits,
                       (long long)(K->t_commit >= 0 ? K->t_kill - K->t_commit
                                                    : -1),
                       nm[1 - K->victim],
                       (long long)(K->t_takeover - K->t_kill));
                printf(", restoring");
                for (i = j = 0; i < 4; i++)
                        j += K->has[1][i];
                if (!j)
                        printf(" nothing (no count task)");
                for (i = 0; i < 4; i++)
                        if (K->has[1][i])
                                printf(" 1_%d: %llu of %lld..%lld", i,
                                       K->surv_rst[i].restored,
                                       K->surv_rst[i].start,
                                       K->surv_rst[i].end);
                printf("; bound %lld = %lld (lines on its input partitions) "
                       "+ %lld (words of its count tasks), %d lines in the "
                       "%d ms before\n",
                       K->bound0 + K->bound1, K->bound0, K->bound1, K->window,
                       WC_COMMIT_MS + WC_SLACK_MS);
        }
        printf("  wordcount: %d lines x %d words at %d lines/s; all %d words "
               "present, last counts in the output = in the changelog; "
               "over-count %lld word(s) in all (max %lld, w%03d), bound "
               "%lld; %.1f s\n",
               WC_N, WC_WORDS, WC_RATE, WC_VOCAB, over, max_over,
               max_over_w < 0 ? 0 : max_over_w, bound,
               (double)(now_ms() - t0) / 1000.0);
        fflush(stdout);
        ck_assert_msg(over <= bound,
                      "over-count %lld exceeds the bound %lld (logs in %s)",
                      over, bound, g_logdir);
        reader_destroy(r);
        reader_destroy(rc);
        free(dr);
        free(t_ms);
        free(v);
        free(cv);
        kill_all();
}
END_TEST


/* ---- (b) a persistent store restores only the changelog's tail ----
 *
 * One instance at a time, default.dsl.store=lmdb, a fresh state.dir:
 *   1. batch 1, clean stop: each checkpoint (state.dir/<app.id>/0/1_<p>/
 *      .checkpoint) is its changelog partition's end E1_p = C1_p; the
 *      state dir is copied aside ("stale");
 *   2. batch 2 on that state: restores nothing (start = C1_p = end);
 *      clean stop at changelog ends E2_p;
 *   3. the stale copy back in place: it must restore exactly the
 *      changelog records of batch 2, E2_p - C1_p of C1_p..E2_p (not all
 *      E2_p), and count on correctly from there (one more line per word);
 *   4. for contrast in_memory: it restores the whole changelog, from the
 *      log start 0 (nothing compacted yet) to its end.
 * After each run every word's latest count in the output is the exact
 * total so far (clean stops: no re-processing). */

#define PS_N1 3000 /* lines of batch 1 */
#define PS_N2 3000 /* lines of batch 2 */

/* Run the instance until the output has the wanted counts, then stop it
 * cleanly. */
static proc_t *ps_run(const char *label, const char *app, const char *in,
                      const char *out, const char *state, const char *store,
                      reader_t *r, wc_view_t *v, int produce_all_words,
                      int64_t *want) {
        proc_t *p = wc_start(label, app, in, out, state, store);
        int w;
        if (produce_all_words)
                wc_produce(in, 0, 0, WC_VOCAB / WC_WORDS, want);
        if (!reader_until(r, view_matches, v, 60000)) {
                w = view_first_off(v) < 0 ? 0 : view_first_off(v);
                ck_abort_msg("%s: after 60 s w%03d counts %lld, expected "
                             "%lld (log: %s)",
                             label, w, (long long)v->val[w],
                             (long long)want[w], p->log);
        }
        proc_stop_clean(p);
        return p;
}

START_TEST(persistent_store_restores_only_changelog_tail) {
        char in[256], out[256], app[256], clog[320], state[1200],
            stale[1200], cmd[4096];
        const char *names[2] = {in, out};
        const int parts[2]   = {4, 4};
        int64_t want[WC_VOCAB] = {0};
        int64_t lo[4], e1[4], c1[4], e2[4], c2[4], e3[4], c3[4], e4[4];
        int64_t t0 = now_ms();
        wc_rst_t rst[4];
        wc_view_t *v = malloc(sizeof(*v));
        reader_t *r;
        proc_t *p;
        int i, sub;

        ck_assert_ptr_nonnull(v);
        name_of(in, sizeof(in), "persist", "in");
        name_of(out, sizeof(out), "persist", "out");
        name_of(app, sizeof(app), "persist", "app");
        snprintf(clog, sizeof(clog), "%s-counts-changelog", app);
        snprintf(state, sizeof(state), "%s/persist-state", g_logdir);
        snprintf(stale, sizeof(stale), "%s/persist-stale", g_logdir);
        create_topics(names, parts, 2);
        view_init(v, want);
        r = reader_new(out);

        /* 1: batch 1 from scratch; after a clean stop every checkpoint is
         * its changelog partition's end */
        wc_produce(in, 11, 0, PS_N1, want);
        p = ps_run("persist-1", app, in, out, state, "lmdb", r, v, 0, want);
        wc_restored(p, rst);
        topic_ends(clog, 4, lo, e1);
        for (i = 0; i < 4; i++) {
                ck_assert_msg(rst[i].n == 1 && rst[i].start == 0 &&
                                  rst[i].end == 0 && rst[i].restored == 0,
                              "run 1, partition %d: %d RESTORED line(s), "
                              "the first %llu of %lld..%lld; expected one, "
                              "of an empty changelog",
                              i, rst[i].n, rst[i].restored, rst[i].start,
                              rst[i].end);
                c1[i] = wc_checkpoint(state, app, i, &sub);
                ck_assert_msg(sub == 1,
                              "partition %d: the checkpoint of counts is in "
                              "sub-topology %d's task, expected 1_%d",
                              i, sub, i);
                ck_assert_msg(e1[i] > 0, "changelog partition %d is empty",
                              i);
                ck_assert_msg(c1[i] == e1[i],
                              "partition %d: checkpoint %lld after a clean "
                              "stop, changelog end %lld",
                              i, (long long)c1[i], (long long)e1[i]);
        }
        /* the app created the changelog through the Admin API:
         * compacted, with the source's 4 partitions */
        {
                char policy[64];
                int cparts = topic_config(clog, "cleanup.policy", policy,
                                          sizeof(policy));
                ck_assert_msg(cparts == 4, "changelog %s has %d partitions",
                              clog, cparts);
                ck_assert_msg(!strcmp(policy, "compact"),
                              "changelog %s: cleanup.policy=%s", clog,
                              policy);
        }
        snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", state, stale);
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);

        /* 2: batch 2 on that state: nothing to restore */
        wc_produce(in, 12, 0, PS_N2, want);
        p = ps_run("persist-2", app, in, out, state, "lmdb", r, v, 0, want);
        wc_restored(p, rst);
        topic_ends(clog, 4, lo, e2);
        for (i = 0; i < 4; i++) {
                ck_assert_msg(rst[i].n == 1 && rst[i].start == c1[i] &&
                                  rst[i].end == e1[i] && rst[i].restored == 0,
                              "run 2, partition %d: %d RESTORED line(s), "
                              "the first %llu of %lld..%lld; expected 0 of "
                              "%lld..%lld",
                              i, rst[i].n, rst[i].restored, rst[i].start,
                              rst[i].end, (long long)c1[i], (long long)e1[i]);
                c2[i] = wc_checkpoint(state, app, i, &sub);
                ck_assert_msg(e2[i] > e1[i],
                              "batch 2 wrote nothing to changelog partition "
                              "%d",
                              i);
                ck_assert_msg(c2[i] == e2[i],
                              "partition %d: checkpoint %lld after a clean "
                              "stop, changelog end %lld",
                              i, (long long)c2[i], (long long)e2[i]);
        }

        /* 3: the state of run 1 (checkpoints c1) back in place: it restores
         * exactly what batch 2 wrote to the changelog, then counts on from
         * there (one more line per word) */
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", state,
                 stale, state);
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
        p = ps_run("persist-3", app, in, out, state, "lmdb", r, v, 1, want);
        wc_restored(p, rst);
        topic_ends(clog, 4, lo, e3);
        for (i = 0; i < 4; i++) {
                ck_assert_msg(rst[i].n == 1 && rst[i].start == c1[i] &&
                                  rst[i].end == e2[i] &&
                                  rst[i].restored ==
                                      (unsigned long long)(e2[i] - c1[i]),
                              "run 3 (stale state), partition %d: %d "
                              "RESTORED line(s), the first %llu of "
                              "%lld..%lld; expected %lld of %lld..%lld",
                              i, rst[i].n, rst[i].restored, rst[i].start,
                              rst[i].end, (long long)(e2[i] - c1[i]),
                              (long long)c1[i], (long long)e2[i]);
                ck_assert(rst[i].restored < (unsigned long long)e2[i]);
                c3[i] = wc_checkpoint(state, app, i, &sub);
                ck_assert_msg(c3[i] == e3[i],
                              "partition %d: checkpoint %lld after a clean "
                              "stop, changelog end %lld",
                              i, (long long)c3[i], (long long)e3[i]);
        }

        /* 4: for contrast, in_memory: the whole changelog, from the log
         * start (0: nothing compacted yet) */
        p = ps_run("persist-4", app, in, out, state, "in_memory", r, v, 1,
                   want);
        wc_restored(p, rst);
        topic_ends(clog, 4, lo, e4);
        for (i = 0; i < 4; i++) {
                ck_assert_int_eq(lo[i], 0);
                ck_assert_msg(rst[i].n == 1 && rst[i].start == 0 &&
                                  rst[i].end == e3[i] &&
                                  rst[i].restored == (unsigned long long)e3[i],
                              "run 4 (in_memory), partition %d: %d RESTORED "
                              "line(s), the first %llu of %lld..%lld; "
                              "expected %lld of 0..%lld",
                              i, rst[i].n, rst[i].restored, rst[i].start,
                              rst[i].end, (long long)e3[i], (long long)e3[i]);
        }
        for (i = 0; i < 4; i++)
                printf("  persist: partition %d: checkpoint %lld after batch "
                       "1, changelog end %lld after batch 2; from the stale "
                       "state lmdb restored %lld (%lld..%lld), in_memory "
                       "later %lld (0..%lld)\n",
                       i, (long long)c1[i], (long long)e2[i],
                       (long long)(e2[i] - c1[i]), (long long)c1[i],
                       (long long)e2[i], (long long)e3[i], (long long)e3[i]);
        printf("  persist: 4 runs, final counts = batches 1+2+3+4 for all %d "
               "words; %.1f s\n",
               WC_VOCAB, (double)(now_ms() - t0) / 1000.0);
        fflush(stdout);
        reader_destroy(r);
        free(v);
        kill_all();
}
END_TEST

/* ------------------------------------------------------------------ */
/* g. consumer groups, under the protocol the run was started with
 * ($SLUICE_TEST_GROUP_PROTOCOL: classic, the default, or consumer, KIP-848;
 * tests/integration/run.sh runs the suite under each the broker has): the
 * group really uses it, the revocation commits before partitions move,
 * static membership gives every stream thread an id of its own, the
 * host-driven mode runs on the broker. */

static const char *group_protocol(void) {
        const char *p = getenv("SLUICE_TEST_GROUP_PROTOCOL");
        return p && *p ? p : "classic";
}

typedef struct {
        rd_kafka_consumer_group_type_t type;
        int members, assigned; /* members; partitions assigned in all */
        char ids[8][300];      /* their group.instance.id ("" if none) */
} group_t;

/* The group @group as the broker describes it (Admin API). */
static void describe_group(const char *group, group_t *g) {
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err,
                                      sizeof(err));
        const char *names[1] = {group};
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const rd_kafka_ConsumerGroupDescription_t **gs;
        size_t cnt, i;
        ck_assert_msg(rk != NULL, "admin client: %s", err);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConsumerGroups(rk, names, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        ck_assert_msg(ev && !rd_kafka_event_error(ev),
                      "DescribeConsumerGroups %s: %s", group,
                      ev ? rd_kafka_event_error_string(ev) : "no answer");
        gs = rd_kafka_DescribeConsumerGroups_result_groups(
            rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
        ck_assert_uint_eq(cnt, 1);
        ck_assert_msg(!rd_kafka_ConsumerGroupDescription_error(gs[0]),
                      "group %s: %s", group,
                      rd_kafka_error_string(
                          rd_kafka_ConsumerGroupDescription_error(gs[0])));
        memset(g, 0, sizeof(*g));
        g->type    = rd_kafka_ConsumerGroupDescription_type(gs[0]);
        g->members = (int)rd_kafka_ConsumerGroupDescription_member_count(gs[0]);
        for (i = 0; i < (size_t)g->members; i++) {
                const rd_kafka_MemberDescription_t *m =
                    rd_kafka_ConsumerGroupDescription_member(gs[0], i);
                const char *id = rd_kafka_MemberDescription_group_instance_id(m);
                g->assigned += rd_kafka_MemberAssignment_partitions(
                                   rd_kafka_MemberDescription_assignment(m))
                                   ->cnt;
                if (i < 8)
                        snprintf(g->ids[i], sizeof(g->ids[i]), "%s",
                                 id ? id : "");
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* Describe @group until it has @members members holding @partitions
 * partitions in all (a rebalance settles), or fail after 30 s. */
static void group_settled(const char *group, int members, int partitions,
                          group_t *g) {
        int64_t end = now_ms() + 30000;
        const struct timespec tick = {0, 100 * 1000 * 1000};
        for (;;) {
                describe_group(group, g);
                if (g->members == members && g->assigned == partitions)
                        break;
                ck_assert_msg(now_ms() < end,
                              "group %s: %d member(s) holding %d "
                              "partition(s) after 30 s, expected %d and %d",
                              group, g->members, g->assigned, members,
                              partitions);
                nanosleep(&tick, NULL); /* poll interval for the broker */
        }
        /* the protocol the run asked for, not the other one */
        ck_assert_msg(g->type == (strcmp(group_protocol(), "consumer")
                                      ? RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC
                                      : RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER),
                      "group %s is of type %d under group.protocol=%s", group,
                      (int)g->type, group_protocol());
}

/* Produce records "<prefix><from>".."<prefix><to - 1>" (value "v-<n>-xyz")
 * to @topic, partitioned by key; every one delivered. */
static void produce_seq(const char *topic, const char *prefix, int from,
                        int to) {
        rd_kafka_t *p = producer_new();
        dr_t *dr      = calloc((size_t)(to - from), sizeof(*dr));
        char k[64], v[64];
        int i;
        ck_assert_ptr_nonnull(dr);
        for (i = from; i < to; i++) {
                snprintf(k, sizeof(k), "%s%06d", prefix, i);
                snprintf(v, sizeof(v), "v-%d-xyz", i);
                send_rec(p, topic, RD_KAFKA_PARTITION_UA, k, strlen(k), v,
                         strlen(v), &dr[i - from]);
        }
        flush_ok(p, dr, to - from);
        rd_kafka_destroy(p);
        free(dr);
}

typedef struct {
        const char *prefix;
        int total, distinct, *cnt;
        size_t cursor;
} seq_seen_t;

static int seq_all_seen(reader_t *r, void *arg) {
        seq_seen_t *d = arg;
        for (; d->cursor < r->n; d->cursor++) {
                int s = key_seq(&r->recs[d->cursor], d->prefix);
                if (s >= 0 && s < d->total && d->cnt[s]++ == 0)
                        d->distinct++;
        }
        return d->distinct >= d->total;
}

/* Read @out until each of the first @n records of @d is there. */
static void wait_seq(reader_t *r, seq_seen_t *d, int n, const char *what) {
        d->total = n;
        ck_assert_msg(reader_until(r, seq_all_seen, d, 120000),
                      "%s: %d of %d records in the output after 120 s", what,
                      d->distinct, n);
}

/* The names of test @test's input, output and application (each 256
 * bytes), and its input and output topics made, 4 partitions each. */
static void group_test_topics(const char *test, char *in, char *out,
                              char *app) {
        const char *names[2] = {in, out};
        const int parts[2]   = {4, 4};
        name_of(in, 256, test, "in");
        name_of(out, 256, test, "out");
        name_of(app, 256, test, "app");
        create_topics(names, parts, 2);
}

#define HANDOVER_N 2000

/* One instance processes the input alone, committing never on its own
 * (commit.interval.ms 10 min); a second joins. The partitions that move
 * are revoked from the first, which commits what it processed in the
 * revocation (rebalance callback), so the second starts after it: every
 * record is in the output exactly once. Without that commit the second
 * would start from the beginning of its partitions. */
START_TEST(revocation_commits_before_handover) {
        char in[256], out[256], app[256];
        int cnt[2 * HANDOVER_N] = {0}, by_a = 0, by_b = 0, i;
        seq_seen_t d = {"h-", 0, 0, cnt, 0};
        unsigned long long pa, pb;
        group_t g;
        reader_t *r;
        proc_t *a, *b;

        group_test_topics("handover", in, out, app);
        a = spawn_app("handover-A", "--app-id", app, "--in", in, "--out", out,
                      "--commit-ms", "600000", "--tag", "A", (char *)NULL);
        wait_ready(a);
        produce_seq(in, "h-", 0, HANDOVER_N);
        r = reader_new(out);
        wait_seq(r, &d, HANDOVER_N, "A alone");
        group_settled(app, 1, 4, &g);

        b = spawn_app("handover-B", "--app-id", app, "--in", in, "--out", out,
                      "--commit-ms", "600000", "--tag", "B", (char *)NULL);
        wait_ready(b);
        group_settled(app, 2, 4, &g);
        produce_seq(in, "h-", HANDOVER_N, 2 * HANDOVER_N);
        wait_seq(r, &d, 2 * HANDOVER_N, "A and B");
        pb = proc_stop_clean(b);
        pa = proc_stop_clean(a);
        reader_to_end(r, 30000);

        for (i = 0; i < (int)r->n; i++) {
                const hdr_t *who = hdr(&r->recs[i], "x-instance");
                int s            = key_seq(&r->recs[i], "h-");
                ck_assert(who != NULL && s >= 0);
                if (s >= HANDOVER_N && !strcmp(who->value, "A"))
                        by_a++;
                else if (s >= HANDOVER_N)
                        by_b++;
        }
        printf("  handover (%s): A alone %d, then A %d and B %d; "
               "processed A %llu, B %llu\n",
               group_protocol(), HANDOVER_N, by_a, by_b, pa, pb);
        fflush(stdout);
        for (i = 0; i < 2 * HANDOVER_N; i++)
                ck_assert_msg(cnt[i] == 1, "record h-%06d out %d times", i,
                              cnt[i]);
        ck_assert_uint_eq(r->n, 2 * HANDOVER_N);
        ck_assert_uint_eq(pa + pb, 2 * HANDOVER_N);
        ck_assert_msg(by_a > 0 && by_b > 0,
                      "both must process after the handover: A %d, B %d",
                      by_a, by_b);
        reader_destroy(r);
        kill_all();
}
END_TEST

static int cmp_str(const void *x, const void *y) {
        return strcmp((const char *)x, (const char *)y);
}

/* group.instance.id with two stream threads: two static members,
 * <id>-1 and <id>-2; after a clean restart the same two, and the input
 * goes on where it stopped. */
START_TEST(static_membership_one_id_per_thread) {
        char in[256], out[256], app[256], conf[320], want[2][300];
        int cnt[2 * HANDOVER_N] = {0}, run, i;
        seq_seen_t d = {"m-", 0, 0, cnt, 0};
        group_t g;
        reader_t *r = NULL;
        proc_t *p;

        group_test_topics("static", in, out, app);
        snprintf(conf, sizeof(conf), "group.instance.id=%s-node", app);
        snprintf(want[0], sizeof(want[0]), "%s-node-1", app);
        snprintf(want[1], sizeof(want[1]), "%s-node-2", app);

        for (run = 0; run < 2; run++) {
                p = spawn_app(run ? "static-2" : "static-1", "--app-id", app,
                              "--in", in, "--out", out, "--threads", "2",
                              "--commit-ms", "500", "--conf", conf,
                              (char *)NULL);
                wait_ready(p);
                group_settled(app, 2, 4, &g);
                qsort(g.ids, 2, sizeof(g.ids[0]), cmp_str);
                ck_assert_str_eq(g.ids[0], want[0]);
                ck_assert_str_eq(g.ids[1], want[1]);
                produce_seq(in, "m-", run * HANDOVER_N, (run + 1) * HANDOVER_N);
                if (!r)
                        r = reader_new(out);
                wait_seq(r, &d, (run + 1) * HANDOVER_N,
                         run ? "after the restart" : "first run");
                ck_assert_uint_eq(proc_stop_clean(p), HANDOVER_N);
        }
        reader_to_end(r, 30000);
        printf("  static (%s): members %s and %s, twice; %zu records out\n",
               group_protocol(), want[0], want[1], r->n);
        fflush(stdout);
        for (i = 0; i < 2 * HANDOVER_N; i++)
                ck_assert_msg(cnt[i] == 1, "record m-%06d out %d times", i,
                              cnt[i]);
        ck_assert_uint_eq(r->n, 2 * HANDOVER_N);
        reader_destroy(r);
        kill_all();
}
END_TEST

/* num.stream.threads=0: the program's own poll() loop drives the app
 * (app_upper --threads 0); every record out once, and after the clean
 * close every partition committed to its end. */
START_TEST(host_driven_app_on_the_broker) {
        char in[256], out[256], app[256];
        int cnt[HANDOVER_N] = {0}, i;
        seq_seen_t d = {"o-", 0, 0, cnt, 0};
        int64_t lo, hi;
        group_t g;
        reader_t *r;
        proc_t *p;

        group_test_topics("host", in, out, app);
        p = spawn_app("host", "--app-id", app, "--in", in, "--out", out,
                      "--threads", "0", "--commit-ms", "500", (char *)NULL);
        wait_ready(p);
        group_settled(app, 1, 4, &g);
        produce_seq(in, "o-", 0, HANDOVER_N);
        r = reader_new(out);
        wait_seq(r, &d, HANDOVER_N, "host-driven");
        ck_assert_uint_eq(proc_stop_clean(p), HANDOVER_N);
        reader_to_end(r, 30000);
        for (i = 0; i < HANDOVER_N; i++)
                ck_assert_msg(cnt[i] == 1, "record o-%06d out %d times", i,
                              cnt[i]);
        for (i = 0; i < 4; i++) {
                ck_assert(!rd_kafka_query_watermark_offsets(r->rk, in, i, &lo,
                                                            &hi, 10000));
                ck_assert_int_eq(committed_offset(app, in, i), hi);
        }
        printf("  host (%s): %d records through sluice_app_step, every "
               "partition committed to its end\n",
               group_protocol(), HANDOVER_N);
        fflush(stdout);
        reader_destroy(r);
        kill_all();
}
END_TEST

static Suite *suite_integration(void) {
        Suite *s = suite_create("integration");
        TCase *tc;

        tc = tcase_create("order");
        tcase_add_checked_fixture(tc, NULL, kill_all);
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, ordered_output_4_partitions);
        suite_add_tcase(s, tc);

        tc = tcase_create("scale-out");
        tcase_add_checked_fixture(tc, NULL, kill_all);
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, scale_out_and_sigkill);
        suite_add_tcase(s, tc);

        tc = tcase_create("bad-input");
        tcase_add_checked_fixture(tc, NULL, kill_all);
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, bad_input_log_and_fail);
        tcase_add_test(tc, bad_input_log_and_continue);
        tcase_add_test(tc, bad_input_dead_letter);
        tcase_add_test(tc, dead_letter_as_large_as_the_input);
        tcase_add_test(tc, two_instances_one_state_dir_one_paused);
        suite_add_tcase(s, tc);

        tc = tcase_create("state");
        tcase_add_checked_fixture(tc, NULL, kill_all);
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, wordcount_two_instances_sigkill_restart);
        tcase_add_test(tc, persistent_store_restores_only_changelog_tail);
        suite_add_tcase(s, tc);

        tc = tcase_create("groups");
        tcase_add_checked_fixture(tc, NULL, kill_all);
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, revocation_commits_before_handover);
        tcase_add_test(tc, static_membership_one_id_per_thread);
        tcase_add_test(tc, host_driven_app_on_the_broker);
        suite_add_tcase(s, tc);

        tc = tcase_create("topics");
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, repartition_topic_created_through_admin_api);
        tcase_add_test(tc, missing_source_topic_named_at_start);
        tcase_add_test(tc, records_without_timestamp_skipped_and_counted);
        suite_add_tcase(s, tc);
        return s;
}

static int cluster_reachable(char *why, size_t size) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t e;
        if (rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, err,
                              sizeof(err))) {
                snprintf(why, size, "%s", err);
                rd_kafka_conf_destroy(c);
                return 0;
        }
        rd_kafka_conf_set(c, "log_level", "0", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        if (!rk) {
                snprintf(why, size, "%s", err);
                return 0;
        }
        e = rd_kafka_metadata(rk, 0, NULL, &md, 15000);
        if (!e)
                rd_kafka_metadata_destroy(md);
        else
                snprintf(why, size, "%s", rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return !e;
}

static void remove_logs(void) {
        char cmd[sizeof(g_logdir) + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_logdir);
        if (system(cmd))
                fprintf(stderr, "could not remove %s\n", g_logdir);
}

/* The program @name: $@env, or next to this runner. 0, or -1 (said why). */
static int find_prog(char *buf, size_t size, const char *env,
                     const char *name) {
        const char *set = getenv(env);
        if (set && *set) {
                snprintf(buf, size, "%s", set);
        } else {
                char self[2048];
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                char *slash;
                if (n <= 0) {
                        fprintf(stderr, "test_integration: cannot find my own "
                                        "path; set %s\n",
                                env);
                        return -1;
                }
                self[n] = '\0';
                slash   = strrchr(self, '/');
                *slash  = '\0';
                snprintf(buf, size, "%s/%s", self, name);
        }
        if (access(buf, X_OK)) {
                fprintf(stderr,
                        "test_integration: no %s program at %s (build it, or "
                        "set %s)\n",
                        name, buf, env);
                return -1;
        }
        return 0;
}

int main(void) {
        char why[512];
        SRunner *sr;
        int failed;
        int64_t t0 = now_ms();

        g_bootstrap = getenv("SLUICE_TEST_BOOTSTRAP");
        if (!g_bootstrap || !*g_bootstrap) {
                fprintf(stderr,
                        "test_integration: SLUICE_TEST_BOOTSTRAP is not set.\n"
                        "These tests need a Kafka cluster: set "
                        "SLUICE_TEST_BOOTSTRAP=host:port (e.g. from "
                        "`scripts/kafka start`),\nor run "
                        "tests/integration/run.sh --local-broker.\n");
                return 2;
        }
        if (find_prog(g_app_upper, sizeof(g_app_upper),
                      "SLUICE_TEST_APP_UPPER", "app_upper") ||
            find_prog(g_app_wordcount, sizeof(g_app_wordcount),
                      "SLUICE_TEST_APP_WORDCOUNT", "app_wordcount"))
                return 2;
        if (!cluster_reachable(why, sizeof(why))) {
                fprintf(stderr,
                        "test_integration: the Kafka cluster at "
                        "SLUICE_TEST_BOOTSTRAP=%s does not answer: %s\n",
                        g_bootstrap, why);
                return 2;
        }
        snprintf(g_run, sizeof(g_run), "it-%ld-%lld", (long)getpid(),
                 (long long)time(NULL));
        snprintf(g_logdir, sizeof(g_logdir), "%s/sluice-%s.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", g_run);
        if (!mkdtemp(g_logdir)) {
                perror("mkdtemp");
                return 2;
        }
        printf("integration tests against %s (topics and ids %s-*; process "
               "logs in %s)\n",
               g_bootstrap, g_run, g_logdir);
        fflush(stdout);

        sr = srunner_create(suite_integration());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        /* stderr: Check's summary stays the last line of stdout */
        fprintf(stderr, "integration tests: %.1f s\n",
                (double)(now_ms() - t0) / 1000.0);
        if (failed || getenv("SLUICE_TEST_KEEP_LOGS"))
                fprintf(stderr, "process logs kept in %s\n", g_logdir);
        else
                remove_logs();
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
