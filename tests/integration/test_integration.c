/*
 * test_integration.c - Sluice's application runtime against a real Kafka
 * cluster, through real processes (tests/integration/app_upper.c).
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

static int topic_ready(rd_kafka_t *rk, const char *topic, int partitions) {
        const struct rd_kafka_metadata *md;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int ok                = 0, i;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err &&
                    md->topics[0].partition_cnt == partitions) {
                        ok = 1;
                        for (i = 0; i < partitions; i++)
                                if (md->topics[0].partitions[i].err ||
                                    md->topics[0].partitions[i].leader < 0)
                                        ok = 0;
                }
                rd_kafka_metadata_destroy(md);
        }
        rd_kafka_topic_destroy(rkt);
        return ok;
}

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
                while (!topic_ready(rk, names[i], parts[i]))
                        ck_assert_msg(now_ms() < end,
                                      "topic %s: no leaders after 30 s",
                                      names[i]);
        }
        rd_kafka_destroy(rk);
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
        char out[16384];
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

/* Start app_upper with the given arguments (NULL-terminated) after
 * --bootstrap. */
static proc_t *spawn_app(const char *label, ...) {
        const char *argv[48];
        int argc = 0, pfd[2], i;
        va_list ap;
        const char *a;
        posix_spawn_file_actions_t fa;
        proc_t *p = calloc(1, sizeof(*p));
        ck_assert_ptr_nonnull(p);
        snprintf(p->label, sizeof(p->label), "%s", label);
        snprintf(p->log, sizeof(p->log), "%s/%s.log", g_logdir, label);
        argv[argc++] = g_app_upper;
        argv[argc++] = "--bootstrap";
        argv[argc++] = g_bootstrap;
        va_start(ap, label);
        while ((a = va_arg(ap, char *)) && argc < 47)
                argv[argc++] = a;
        va_end(ap);
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
        i = posix_spawn(&p->pid, g_app_upper, &fa, NULL, (char *const *)argv,
                        environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        ck_assert_msg(i == 0, "posix_spawn %s: %s", g_app_upper, strerror(i));
        p->fd = pfd[0];
        for (i = 0; i < MAX_PROCS; i++)
                if (!g_procs[i]) {
                        g_procs[i] = p;
                        break;
                }
        ck_assert(i < MAX_PROCS);
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
#define SCALE_SLACK_MS 1000

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
        ck_assert_msg(topic_ready(p, internal, 3),
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
        suite_add_tcase(s, tc);

        tc = tcase_create("topics");
        tcase_set_timeout(tc, 180);
        tcase_add_test(tc, repartition_topic_created_through_admin_api);
        tcase_add_test(tc, missing_source_topic_named_at_start);
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

int main(void) {
        const char *app = getenv("SLUICE_TEST_APP_UPPER");
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
        if (app && *app) {
                snprintf(g_app_upper, sizeof(g_app_upper), "%s", app);
        } else {
                char self[2048];
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                char *slash;
                if (n <= 0) {
                        fprintf(stderr, "test_integration: cannot find my own "
                                        "path; set SLUICE_TEST_APP_UPPER\n");
                        return 2;
                }
                self[n] = '\0';
                slash   = strrchr(self, '/');
                *slash  = '\0';
                snprintf(g_app_upper, sizeof(g_app_upper), "%s/app_upper",
                         self);
        }
        if (access(g_app_upper, X_OK)) {
                fprintf(stderr,
                        "test_integration: no app_upper program at %s (build "
                        "it, or set SLUICE_TEST_APP_UPPER)\n",
                        g_app_upper);
                return 2;
        }
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
