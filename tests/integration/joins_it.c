/*
 * joins_it.c - joins on a real Kafka cluster: the enrich example
 * (examples/enrich.c, run as processes through
 * tests/integration/app_enrich.c: a table join, a versioned table join
 * with grace, a repartition and a windowed stream-stream left join) over
 * 4 partitions with three instances, one killed with SIGKILL mid-way and
 * restarted, writes for every order the same last enriched record, byte
 * for byte, as the test driver computes from the same input.
 *
 *   1. the topics (4 partitions each); instances A, B, C started one after
 *      another, each once the one before is RUNNING; all three RUNNING and
 *      every task held by exactly one of them;
 *   2. the tables first: customers (some rows written twice: the last
 *      counts) and customer tiers (three versions each, over the orders'
 *      event time), then a wait until the group has committed both topics
 *      to their ends. The README's known limit - a task reads its
 *      partitions in fetch order - would otherwise let an order be joined
 *      before its customer's row is read; loaded first, the comparison is
 *      deterministic;
 *   3. orders and shipments (keyed by customer id; most orders have one
 *      shipment 1 to 10 minutes after them, some none; some customers
 *      unknown) at RATE records a second; at KILL_AT records the instance
 *      with the most tasks is killed with SIGKILL, and restarted once the
 *      two others hold all its tasks;
 *   4. closing orders (30 minutes after the last: they release the orders
 *      (b) holds for its grace), a wait until the group has committed
 *      every repartition topic to its end, then closing shipments (5 hours
 *      later: they close every window of (c), so the orders without a
 *      shipment come out);
 *   5. once every order has an output, all instances stopped cleanly, the
 *      output topic read to its end: the last record per order id (key,
 *      value, timestamp) equals the test driver's.
 * Throughout, every INPUTS line of every instance (its tasks' inputs from
 * sluice_app_metrics_json()) is checked: the task p of sub-topology 0
 * holds partition p of customers, customer-tiers and orders, the task p
 * of sub-topology 2 partition p of both repartition topics (sub-topology
 * 1 reads shipments alone); the lines are logged (placement.log).
 *
 * Then: the same app over topics of which one (orders) has 3 partitions
 * must fail sluice_app_start() with its co-partitioning message; and a
 * global table is loaded before the first join (global_loaded_first()).
 *
 * Environment: SLUICE_TEST_BOOTSTRAP (required), SLUICE_TEST_GROUP_PROTOCOL
 * (passed on to the apps), SLUICE_TEST_APP_ENRICH (default: app_enrich
 * next to this program), SLUICE_TEST_KEEP_LOGS. `joins_it --driver-only`
 * runs only the test driver over the input (no cluster) and says whether
 * every order came out, shipped as its input says.
 * Exit 0 iff every check passed, 1 on a failed check, 2 on a setup error.
 */
#define _GNU_SOURCE /* memmem */
#include "kafka_util.h"
#include "enrich_pipeline.h"

#include <fcntl.h>
#include <limits.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define P 4            /* partitions of every topic */
/* sub-topologies (enrich --demo describes them): 0 reads customers,
 * customer-tiers and orders (co-partitioned: the two table joins), 1
 * shipments (into the repartition topic of its re-keying), 2 both
 * repartition topics (co-partitioned: the windowed join) */
#define SUBS 3
/* the tasks the settled checks count: those of sub-topologies 0 and 2
 * (the metrics list no task of sub-topology 1 on a broker) */
#define ALL_TASKS (((1 << P) - 1) | (((1 << P) - 1) << (2 * P)))
#define CUSTOMERS 24   /* c0..c23 have rows and tiers; c24, c25 unknown */
#define KEYS 26
#define ORDERS 900
#define SHIP_PCT 80    /* orders with a shipment */
#define STEP_MS 6000   /* event time between orders */
#define RATE 100       /* orders and shipments a second */
#define KILL_AT 700    /* records of step 3 before the kill */
#define MINUTE 60000LL
#define T0 1796115600000LL /* 2026-12-01 09:00:00 UTC, as enrich.c */

static const char *g_bootstrap;
static char g_app[PATH_MAX];
static char g_logdir[1024];
static char g_run[64];
static int g_failed;

static int64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_all(void);

/* A failed check: say it, stop every instance, exit 1. */
static void fail(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        printf("FAILED: ");
        vprintf(fmt, ap);
        printf(" (logs in %s)\n", g_logdir);
        va_end(ap);
        fflush(stdout);
        kill_all();
        exit(1);
}

/* snprintf() that fails the test instead of truncating */
static void fmt(char *buf, size_t size, const char *f, ...) {
        va_list ap;
        int n;
        va_start(ap, f);
        n = vsnprintf(buf, size, f, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= size)
                fail("a name is too long: %.100s", buf);
}

static rd_kafka_conf_t *base_conf(void) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[512];
        if (rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, err,
                              sizeof(err)))
                fail("bootstrap.servers: %s", err);
        rd_kafka_conf_set(c, "log_level", "3", NULL, 0);
        return c;
}

/* ---- topics ---- */

static const char *const suffixes[5] = {"customers", "customer-tiers",
                                        "orders", "shipments",
                                        "orders-enriched"};

/* The five topics <prefix><suffix>, partitions[i] each; waits for their
 * leaders. */
static void create_topics(const char *prefix, const int partitions[5]) {
        char err[512], names[5][256];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err,
                                      sizeof(err));
        rd_kafka_NewTopic_t *nt[5];
        rd_kafka_AdminOptions_t *opt;
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **tr;
        size_t i, cnt;
        int64_t end;
        if (!rk)
                fail("admin client: %s", err);
        for (i = 0; i < 5; i++) {
                snprintf(names[i], sizeof(names[i]), "%s%s", prefix,
                         suffixes[i]);
                if (!(nt[i] = rd_kafka_NewTopic_new(names[i], partitions[i],
                                                    -1, err, sizeof(err))))
                        fail("NewTopic %s: %s", names[i], err);
        }
        opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opt, 30000, err,
                                                    sizeof(err));
        q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, 5, opt, q);
        ev = rd_kafka_queue_poll(q, 40000);
        if (!ev || rd_kafka_event_error(ev))
                fail("CreateTopics: %s",
                     ev ? rd_kafka_event_error_string(ev) : "no answer");
        tr = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (i = 0; i < cnt; i++)
                if (rd_kafka_topic_result_error(tr[i]))
                        fail("cannot create topic %s: %s",
                             rd_kafka_topic_result_name(tr[i]),
                             rd_kafka_topic_result_error_string(tr[i]));
        rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_NewTopic_destroy_array(nt, 5);
        end = now_ms() + 30000;
        for (i = 0; i < 5; i++)
                while (!ku_topic_ready(rk, names[i], partitions[i]))
                        if (now_ms() > end)
                                fail("topic %s: no leaders after 30 s",
                                     names[i]);
        rd_kafka_destroy(rk);
}

/* ---- the input ---- */

typedef enum { CUSTOMER, TIER, ORDER, SHIPMENT } ev_topic_t;

typedef struct {
        ev_topic_t topic;
        char key[16];
        char value[160];
        int64_t ts;
} event_t;

/* tables[] (step 2), flow[] (step 3), closing_o[], closing_s[] (step 4) */
static event_t tables[CUSTOMERS * 5], flow[ORDERS * 2],
    closing_o[KEYS + 32], closing_s[64];
static size_t n_tables, n_flow, n_closing_o, n_closing_s;
static int has_shipment[ORDERS];

static uint32_t rnd_state = 2026;
static uint32_t rnd(void) {
        rnd_state = rnd_state * 1103515245u + 12345u;
        return rnd_state >> 8;
}

static event_t *add(event_t *arr, size_t *n, ev_topic_t topic,
                    const char *key, int64_t ts) {
        event_t *e = &arr[(*n)++];
        e->topic   = topic;
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->ts = ts;
        return e;
}

static void order_value(event_t *e, const char *id, const char *cust,
                        int cents) {
        snprintf(e->value, sizeof(e->value),
                 "{\"order\":\"%s\",\"customer\":\"%s\",\"amount_cents\":%d,"
                 "\"ts\":%lld}",
                 id, cust, cents, (long long)e->ts);
}

static void ship_value(event_t *e, const char *id, const char *carrier) {
        snprintf(e->value, sizeof(e->value),
                 "{\"order\":\"%s\",\"carrier\":\"%s\",\"ts\":%lld}", id,
                 carrier, (long long)e->ts);
}

static void make_input(void) {
        static const char *const cities[] = {"Berlin", "Lyon", "Oslo",
                                             "Porto", "Riga"};
        static const char *const tiers_v[] = {"bronze", "silver", "gold"};
        static const char *const carriers[] = {"UPS", "DHL", "GLS"};
        /* the shipments, each due at a later position in flow[] */
        static struct {
                int order, due;
        } pending[ORDERS];
        static size_t order_pos[ORDERS]; /* of order i in flow[] */
        size_t np = 0, k;
        char key[16], id[16];
        int i, v;
        int64_t last = 0;

        for (i = 0; i < CUSTOMERS; i++) {
                event_t *e;
                snprintf(key, sizeof(key), "c%d", i);
                e = add(tables, &n_tables, CUSTOMER, key, T0 - 60 * MINUTE);
                snprintf(e->value, sizeof(e->value),
                         "{\"name\":\"N%d\",\"city\":\"%s\"}", i,
                         cities[i % 5]);
                /* versions at -60 min and at two random times within the
                 * orders' event time (90 minutes) */
                for (v = 0; v < 3; v++) {
                        int64_t ts =
                            v == 0 ? T0 - 60 * MINUTE
                                   : T0 + (int64_t)(rnd() % 45) * MINUTE +
                                         (v - 1) * 45 * MINUTE;
                        e = add(tables, &n_tables, TIER, key, ts);
                        snprintf(e->value, sizeof(e->value), "%s",
                                 tiers_v[(i + v) % 3]);
                }
        }
        for (i = 0; i < CUSTOMERS; i += 4) { /* moved: the last row counts */
                event_t *e;
                snprintf(key, sizeof(key), "c%d", i);
                e = add(tables, &n_tables, CUSTOMER, key, T0 - 30 * MINUTE);
                snprintf(e->value, sizeof(e->value),
                         "{\"name\":\"N%d\",\"city\":\"Paris\"}", i);
        }

        for (i = 0; i < ORDERS; i++) {
                int c       = (int)(rnd() % KEYS);
                int64_t ts  = T0 + (int64_t)i * STEP_MS - (int64_t)(rnd() % 20000);
                event_t *e;
                snprintf(key, sizeof(key), "c%d", c);
                snprintf(id, sizeof(id), "o%d", i);
                e = add(flow, &n_flow, ORDER, key, ts);
                order_value(e, id, key, 100 + (int)(rnd() % 9000));
                order_pos[i] = n_flow - 1;
                if (ts > last)
                        last = ts;
                if ((int)(rnd() % 100) < SHIP_PCT) {
                        has_shipment[i]     = 1;
                        pending[np].order   = i;
                        pending[np++].due   = i + (int)(rnd() % 20);
                }
                /* the shipments due now, in order */
                for (k = 0; k < np; k++) {
                        const event_t *o = &flow[order_pos[pending[k].order]];
                        if (pending[k].due != i)
                                continue;
                        snprintf(id, sizeof(id), "o%d", pending[k].order);
                        e = add(flow, &n_flow, SHIPMENT, o->key,
                                o->ts + (1 + (int64_t)(rnd() % 10)) * MINUTE);
                        ship_value(e, id, carriers[rnd() % 3]);
                }
        }
        /* shipments due after the last order: at its end */
        for (k = 0; k < np; k++) {
                const event_t *o = &flow[order_pos[pending[k].order]];
                event_t *e;
                if (pending[k].due < ORDERS)
                        continue;
                snprintf(id, sizeof(id), "o%d", pending[k].order);
                e = add(flow, &n_flow, SHIPMENT, o->key, o->ts + 2 * MINUTE);
                ship_value(e, id, "UPS");
        }

        /* closing orders on every customer key (and 32 more keys): they
         * move each partition's stream time 30 minutes past the last
         * order, so (b) releases the orders it holds */
        for (i = 0; i < KEYS + 32; i++) {
                event_t *e;
                if (i < KEYS)
                        snprintf(key, sizeof(key), "c%d", i);
                else
                        snprintf(key, sizeof(key), "zc%d", i);
                snprintf(id, sizeof(id), "zo%d", i);
                e = add(closing_o, &n_closing_o, ORDER, key,
                        last + 30 * MINUTE);
                order_value(e, id, key, 0);
        }
        /* closing shipments of 64 order ids (so on every partition of the
         * order id): 5 hours later, they close every window of (c) */
        for (i = 0; i < 64; i++) {
                event_t *e;
                snprintf(key, sizeof(key), "zc%d", i);
                snprintf(id, sizeof(id), "zs%d", i);
                e = add(closing_s, &n_closing_s, SHIPMENT, key,
                        last + 300 * MINUTE);
                ship_value(e, id, "-");
        }
}

/* ---- what the test driver writes: the last record per order ---- */

typedef struct {
        char *value;
        size_t len;
        int64_t ts;
        int count; /* records read for it */
} last_t;

static int order_index(const void *key, size_t len) {
        char buf[16];
        char *end;
        long v;
        if (!key || len < 2 || len >= sizeof(buf) ||
            ((const char *)key)[0] != 'o')
                return -1;
        memcpy(buf, key, len);
        buf[len] = '\0';
        v        = strtol(buf + 1, &end, 10);
        return *end || v < 0 || v >= ORDERS ? -1 : (int)v;
}

static void keep(last_t *l, const void *value, size_t len, int64_t ts) {
        free(l->value);
        l->value = malloc(len + 1);
        if (!l->value)
                fail("out of memory");
        memcpy(l->value, value, len);
        l->value[len] = '\0';
        l->len        = len;
        l->ts         = ts;
        l->count++;
}

static const char *topic_of(const char *prefix, ev_topic_t t, char *buf,
                            size_t size) {
        fmt(buf, size, "%s%s", prefix, suffixes[t]);
        return buf;
}

static void pipe_all(sluice_driver_t *drv, const char *prefix,
                     const event_t *ev, size_t n) {
        char topic[256];
        size_t i;
        for (i = 0; i < n; i++)
                if (sluice_driver_pipe_str(
                        drv, topic_of(prefix, ev[i].topic, topic,
                                      sizeof(topic)),
                        ev[i].key, ev[i].value, ev[i].ts))
                        fail("the test driver: %s",
                             sluice_driver_last_error(drv));
}

static void expected(const char *prefix, last_t *want) {
        char err[512], out[256];
        sluice_topology_t *t = enrich_topology(prefix);
        sluice_driver_t *drv;
        const sluice_output_t *r;
        int i;
        if (!t || !(drv = sluice_driver_new(t, NULL, err, sizeof(err))))
                fail("the test driver: %s", t ? err : "out of memory");
        pipe_all(drv, prefix, tables, n_tables);
        pipe_all(drv, prefix, flow, n_flow);
        pipe_all(drv, prefix, closing_o, n_closing_o);
        pipe_all(drv, prefix, closing_s, n_closing_s);
        fmt(out, sizeof(out), "%sorders-enriched", prefix);
        while ((r = sluice_driver_read(drv, out))) {
                int o = order_index(r->key, r->key_len);
                if (o >= 0 && r->value)
                        keep(&want[o], r->value, r->value_len, r->timestamp);
        }
        for (i = 0; i < ORDERS; i++)
                if (!want[i].value)
                        fail("the test driver wrote nothing for o%d", i);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
}

/* ---- the instances: stdout through a pipe, stderr into a log ---- */

typedef struct {
        char label[32];
        char log[1200];
        pid_t pid;
        int fd;
        char out[1 << 17];
        size_t out_len, checked; /* bytes of out[] whose lines were checked */
        int exited, status;
        int inputs_lines;
        int global; /* app_enrich --global: no co-partitioned inputs */
} proc_t;

#define MAX_PROCS 8
static proc_t *g_procs[MAX_PROCS];
static FILE *g_placement; /* every INPUTS line, with its instance */

/* @global: app_enrich --global (the stream-global join) */
static proc_t *spawn_app_as(const char *label, const char *app_id,
                            const char *prefix, int global) {
        char state[1400], out[300];
        const char *argv[] = {
            g_app, "--bootstrap", g_bootstrap, "--app-id", app_id, "--in",
            prefix, "--out", out, "--state-dir", state, "--commit-ms", "500",
            "--conf", "consumer.session.timeout.ms=6000", "--conf",
            "consumer.heartbeat.interval.ms=500", "--log-level", "6",
            global ? "--global" : NULL, NULL};
        posix_spawn_file_actions_t fa;
        proc_t *p = calloc(1, sizeof(*p));
        int pfd[2], i;
        if (!p)
                fail("out of memory");
        snprintf(out, sizeof(out), "%sorders-enriched", prefix);
        snprintf(p->label, sizeof(p->label), "%s", label);
        snprintf(p->log, sizeof(p->log), "%s/%s.log", g_logdir, label);
        snprintf(state, sizeof(state), "%s/state-%s", g_logdir, label);
        if (pipe(pfd))
                fail("pipe");
        fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
        fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
        fcntl(pfd[0], F_SETFL, O_NONBLOCK);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, p->log,
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
        i = posix_spawn(&p->pid, g_app, &fa, NULL, (char *const *)argv,
                        environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (i)
                fail("posix_spawn %s: %s", g_app, strerror(i));
        p->fd     = pfd[0];
        p->global = global;
        for (i = 0; i < MAX_PROCS && g_procs[i]; i++)
                ;
        if (i == MAX_PROCS)
                fail("too many processes");
        g_procs[i] = p;
        return p;
}

static proc_t *spawn_app(const char *label, const char *app_id,
                         const char *prefix) {
        return spawn_app_as(label, app_id, prefix, 0);
}

static void kill_all(void) {
        int i;
        for (i = 0; i < MAX_PROCS; i++) {
                proc_t *p = g_procs[i];
                if (!p)
                        continue;
                if (!p->exited) {
                        kill(p->pid, SIGKILL);
                        waitpid(p->pid, &p->status, 0);
                }
                close(p->fd);
                free(p);
                g_procs[i] = NULL;
        }
}

/* One INPUTS line's list: every task co-located (see the top). */
static void check_inputs(const proc_t *p, const char *line) {
        const char *s = strchr(line + 9, ' ');
        char list[8192], *task, *save = NULL;
        size_t len;
        if (!s)
                fail("%s: bad line %.80s", p->label, line);
        s++;
        len = strcspn(s, "\n");
        if (len >= sizeof(list))
                fail("%s: INPUTS line too long", p->label);
        memcpy(list, s, len);
        list[len] = '\0';
        fprintf(g_placement, "%s %.*s\n", p->label,
                (int)(strcspn(line, "\n")), line);
        if (!strcmp(list, "-") || p->global)
                return;
        for (task = strtok_r(list, ";", &save); task;
             task = strtok_r(NULL, ";", &save)) {
                int sub, part, n_src = 0, n_rep = 0, n_ship = 0, k = 0, tp;
                char *in, *save2 = NULL, *eq = strchr(task, '=');
                if (!eq || sscanf(task, "%d_%d", &sub, &part) != 2)
                        fail("%s: bad task \"%s\"", p->label, task);
                for (in = strtok_r(eq + 1, "+", &save2); in;
                     in = strtok_r(NULL, "+", &save2), k++) {
                        char *at = strrchr(in, '@');
                        size_t i;
                        if (!at)
                                fail("%s: bad input \"%s\"", p->label, in);
                        *at = '\0';
                        tp  = atoi(at + 1);
                        if (tp != part)
                                fail("%s: task %d_%d holds %s partition %d",
                                     p->label, sub, part, in, tp);
                        for (i = 0; i < 3; i++)
                                if (!strcmp(in, suffixes[i]))
                                        n_src++;
                        n_ship += !strcmp(in, suffixes[SHIPMENT]);
                        len = strlen(in);
                        if (len > 12 && !strcmp(in + len - 12, "-repartition"))
                                n_rep++;
                }
                /* the three of the table joins, or both repartition
                 * topics, or shipments; a task whose partitions are not
                 * (yet) assigned has none */
                if (k && !((sub == 0 && n_src == 3 && k == 3) ||
                           (sub == 1 && n_ship == 1 && k == 1) ||
                           (sub == 2 && n_rep == 2 && k == 2)))
                        fail("%s: task %d_%d is not co-located: %d inputs "
                             "(%d of customers, customer-tiers, orders; %d "
                             "repartition topics) in \"%.300s\"",
                             p->label, sub, part, k, n_src, n_rep, line);
        }
}

static void proc_pump(proc_t *p) {
        ssize_t k;
        int st;
        for (;;) {
                char *nl;
                while (p->out_len < sizeof(p->out) - 1 &&
                       (k = read(p->fd, p->out + p->out_len,
                                 sizeof(p->out) - 1 - p->out_len)) > 0)
                        p->out_len += (size_t)k;
                p->out[p->out_len] = '\0';
                while ((nl = strchr(p->out + p->checked, '\n'))) {
                        const char *line = p->out + p->checked;
                        if (!strncmp(line, "INPUTS t=", 9)) {
                                check_inputs(p, line);
                                p->inputs_lines++;
                        }
                        p->checked = (size_t)(nl - p->out) + 1;
                }
                if (p->exited || waitpid(p->pid, &st, WNOHANG) != p->pid)
                        return;
                p->exited = 1;
                p->status = st;
        }
}

static const char *proc_last_line(const proc_t *p, const char *prefix) {
        const char *s = p->out, *last = NULL;
        size_t pl     = strlen(prefix);
        while (s && *s) {
                if (!strncmp(s, prefix, pl))
                        last = s;
                if ((s = strchr(s, '\n')))
                        s++;
        }
        return last;
}

/* The tasks of the last INPUTS line with inputs, as bits: sub-topology
 * s, partition p is bit s * P + p. */
static int proc_tasks(const proc_t *p) {
        const char *l = proc_last_line(p, "INPUTS t="), *s;
        int set = 0, sub, part, k;
        if (!l || !(s = strchr(l + 9, ' ')))
                return 0;
        for (s++; sscanf(s, "%d_%d=%n", &sub, &part, &k) == 2;) {
                const char *end = s + strcspn(s, ";\n");
                if (end > s + k && sub >= 0 && sub < SUBS && part >= 0 &&
                    part < P)
                        set |= 1 << (sub * P + part);
                if (*end != ';')
                        break;
                s = end + 1;
        }
        return set;
}

static int popcount(int v) {
        int n = 0;
        for (; v; v &= v - 1)
                n++;
        return n;
}

/* ---- the run ---- */

typedef struct {
        proc_t *x[3];
        rd_kafka_t *prod, *reader, *admin; /* admin: the group's offsets */
        char prefix[128], app_id[160], out[256];
        last_t got[ORDERS];
        size_t read_n, outputs_of_orders;
        int64_t next[P];
        int dr_failed;
} run_t;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        run_t *rn = opaque;
        (void)rk;
        if (m->err)
                rn->dr_failed++;
}

static void reader_poll(run_t *rn, int timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rn->reader, timeout_ms);
        for (; m; m = rd_kafka_consumer_poll(rn->reader, 0)) {
                if (!m->err && m->partition >= 0 && m->partition < P) {
                        int o = order_index(m->key, m->key_len);
                        rd_kafka_timestamp_type_t tt;
                        int64_t ts = rd_kafka_message_timestamp(m, &tt);
                        rn->next[m->partition] = m->offset + 1;
                        rn->read_n++;
                        if (o >= 0 && m->payload) {
                                if (!rn->got[o].value)
                                        rn->outputs_of_orders++;
                                keep(&rn->got[o], m->payload, m->len, ts);
                        }
                }
                rd_kafka_message_destroy(m);
        }
}

/* Pump every live instance (none may exit on its own) and read. */
static void tick(run_t *rn, int timeout_ms) {
        int i;
        for (i = 0; i < 3; i++) {
                if (!rn->x[i])
                        continue;
                proc_pump(rn->x[i]);
                if (rn->x[i]->exited)
                        fail("%s exited (status %d): \"%.1000s\" (log: %s)",
                             rn->x[i]->label, rn->x[i]->status,
                             rn->x[i]->out, rn->x[i]->log);
        }
        rd_kafka_poll(rn->prod, 0);
        reader_poll(rn, timeout_ms);
}

static void wait_for(run_t *rn, int (*cond)(run_t *), int timeout_ms,
                     const char *what) {
        int64_t end = now_ms() + timeout_ms;
        while (!cond(rn)) {
                if (now_ms() > end)
                        fail("no %s after %d ms (%zu outputs read)", what,
                             timeout_ms, rn->read_n);
                tick(rn, 20);
        }
}

static int all_running(run_t *rn) {
        int i;
        for (i = 0; i < 3; i++)
                if (rn->x[i] && !proc_last_line(rn->x[i], "RUNNING"))
                        return 0;
        return 1;
}

/* every task on exactly one live instance; @each: each instance holds
 * some */
static int settled_as(run_t *rn, int each) {
        int i, all = 0, sum = 0, need = 0;
        for (i = 0; i < 3; i++) {
                int t;
                if (!rn->x[i])
                        continue;
                need++;
                t = proc_tasks(rn->x[i]) & ALL_TASKS;
                if (!t && each)
                        return 0;
                all |= t;
                sum += popcount(t);
        }
        return need && all == ALL_TASKS && sum == 2 * P;
}

static int settled(run_t *rn) {
        return settled_as(rn, 1);
}

/* at the end: the restarted instance may not have been given tasks back */
static int covered(run_t *rn) {
        return settled_as(rn, 0);
}

static void produce(run_t *rn, const event_t *e) {
        char topic[256];
        rd_kafka_resp_err_t err;
        topic_of(rn->prefix, e->topic, topic, sizeof(topic));
        do {
                err = rd_kafka_producev(
                    rn->prod, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(e->key, strlen(e->key)),
                    RD_KAFKA_V_VALUE((char *)e->value, strlen(e->value)),
                    RD_KAFKA_V_TIMESTAMP(e->ts), RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(rn->prod, 10);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err)
                fail("produce to %s: %s", topic, rd_kafka_err2str(err));
}

static void flush(run_t *rn) {
        if (rd_kafka_flush(rn->prod, 30000))
                fail("%d records undelivered after 30 s",
                     rd_kafka_outq_len(rn->prod));
        if (rn->dr_failed)
                fail("%d records not delivered", rn->dr_failed);
}

/* The group's committed offsets of every partition of @topics reach their
 * ends? */
static int committed_to_end(run_t *rn, char topics[][256], int n) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(n * P);
        int i, p, ok = 1;
        for (i = 0; i < n; i++)
                for (p = 0; p < P; p++)
                        rd_kafka_topic_partition_list_add(l, topics[i], p);
        if (rd_kafka_committed(rn->admin, l, 5000))
                ok = 0;
        for (i = 0; ok && i < l->cnt; i++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(
                        rn->admin, l->elems[i].topic, l->elems[i].partition,
                        &lo, &hi, 5000))
                        ok = 0;
                else if (hi > 0 && l->elems[i].offset < hi)
                        ok = 0;
        }
        rd_kafka_topic_partition_list_destroy(l);
        return ok;
}

static void wait_committed(run_t *rn, char topics[][256], int n,
                           int timeout_ms, const char *what) {
        int64_t end = now_ms() + timeout_ms;
        while (!committed_to_end(rn, topics, n)) {
                if (now_ms() > end)
                        fail("%s not committed to its end after %d ms", what,
                             timeout_ms);
                tick(rn, 100);
        }
}

/* The app's repartition topics (two), from the cluster's metadata. */
static int repartition_topics(run_t *rn, char topics[][256]) {
        const struct rd_kafka_metadata *md;
        int i, n = 0;
        size_t al = strlen(rn->app_id);
        if (rd_kafka_metadata(rn->admin, 1, NULL, &md, 10000))
                fail("metadata");
        for (i = 0; i < md->topic_cnt; i++) {
                const char *t = md->topics[i].topic;
                size_t len    = strlen(t);
                if (!strncmp(t, rn->app_id, al) && t[al] == '-' &&
                    len > 12 && !strcmp(t + len - 12, "-repartition") &&
                    n < 4)
                        snprintf(topics[n++], 256, "%s", t);
        }
        rd_kafka_metadata_destroy(md);
        return n;
}

static int all_orders_out(run_t *rn) {
        return rn->outputs_of_orders == ORDERS;
}

static int shipped_out(run_t *rn) {
        int i;
        for (i = 0; i < ORDERS; i++)
                if (has_shipment[i] && !rn->got[i].value)
                        return 0;
        return 1;
}

static int g_victim;
static int others_hold_all(run_t *rn) {
        int i, all = 0, sum = 0;
        for (i = 0; i < 3; i++) {
                int t;
                if (i == g_victim)
                        continue;
                t = proc_tasks(rn->x[i]) & ALL_TASKS;
                all |= t;
                sum += popcount(t);
        }
        return all == ALL_TASKS && sum == 2 * P;
}

/* Who holds which partitions of each input topic, from the last INPUTS
 * lines: "customers, customer-tiers, orders [A B C A]; shipments [...];
 * repartition topics [...]" (the holder of partition 0, 1, 2, 3). */
static void holders(run_t *rn, char *buf, size_t size) {
        static const char *const what[SUBS] = {
            "customers, customer-tiers, orders", "shipments",
            "both repartition topics"};
        size_t n = 0;
        int sub, part, i;
        buf[0] = '\0';
        for (sub = 0; sub < SUBS && n < size; sub++) {
                n += (size_t)snprintf(buf + n, size - n, "%s%s [",
                                      sub ? "; " : "", what[sub]);
                for (part = 0; part < P && n < size; part++) {
                        const char *who = "?";
                        for (i = 0; i < 3; i++)
                                if (rn->x[i] && proc_tasks(rn->x[i]) &
                                                    1 << (sub * P + part))
                                        who = rn->x[i]->label;
                        n += (size_t)snprintf(buf + n, size - n, "%s%s",
                                              part ? " " : "", who);
                }
                if (n < size)
                        n += (size_t)snprintf(buf + n, size - n, "]");
        }
}

static void joins_three_instances(void) {
        static run_t rn_static;
        run_t *rn                = &rn_static;
        static last_t want[ORDERS];
        const int parts[5]       = {P, P, P, P, P};
        char err[512], group[300], h[512], h_take[512], tabs[2][256],
            reps[4][256];
        char label[32], victim_label[32];
        rd_kafka_conf_t *c;
        rd_kafka_topic_partition_list_t *parts_l;
        int64_t t0 = now_ms(), t_flow, t_kill = 0, t_takeover = 0, t_back = 0;
        size_t i;
        int victim_tasks = 0, nrep, diffs = 0, dups = 0;

        snprintf(rn->prefix, sizeof(rn->prefix), "%s-", g_run);
        snprintf(rn->app_id, sizeof(rn->app_id), "%s-app", g_run);
        fmt(rn->out, sizeof(rn->out), "%sorders-enriched", rn->prefix);
        create_topics(rn->prefix, parts);

        make_input();
        expected(rn->prefix, want);

        c = base_conf();
        /* the partitioner of Kafka's Java clients and of Sluice's sinks */
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(c, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        rd_kafka_conf_set_opaque(c, rn);
        if (!(rn->prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err))))
                fail("producer: %s", err);
        c = base_conf();
        snprintf(group, sizeof(group), "%s-reader", g_run);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        if (!(rn->reader = rd_kafka_new(RD_KAFKA_CONSUMER, c, err,
                                        sizeof(err))))
                fail("reader: %s", err);
        parts_l = rd_kafka_topic_partition_list_new(P);
        for (i = 0; i < P; i++)
                rd_kafka_topic_partition_list_add(parts_l, rn->out, (int)i)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (rd_kafka_assign(rn->reader, parts_l))
                fail("assign");
        rd_kafka_topic_partition_list_destroy(parts_l);
        c = base_conf(); /* the app's group: only its committed offsets */
        rd_kafka_conf_set(c, "group.id", rn->app_id, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        if (!(rn->admin = rd_kafka_new(RD_KAFKA_CONSUMER, c, err,
                                       sizeof(err))))
                fail("offsets client: %s", err);

        /* 1. three instances, one after another */
        rn->x[0] = spawn_app("A", rn->app_id, rn->prefix);
        wait_for(rn, all_running, 60000, "RUNNING from A");
        rn->x[1] = spawn_app("B", rn->app_id, rn->prefix);
        wait_for(rn, all_running, 60000, "RUNNING from B");
        rn->x[2] = spawn_app("C", rn->app_id, rn->prefix);
        wait_for(rn, all_running, 60000, "RUNNING from C");
        wait_for(rn, settled, 60000,
                 "settled group (8 tasks on 3 instances, each on one)");
        holders(rn, h, sizeof(h));
        printf("  settled after %.1f s: %s\n",
               (double)(now_ms() - t0) / 1000.0, h);
        fflush(stdout);

        /* 2. the tables, processed and committed before any order */
        for (i = 0; i < n_tables; i++)
                produce(rn, &tables[i]);
        flush(rn);
        topic_of(rn->prefix, CUSTOMER, tabs[0], sizeof(tabs[0]));
        topic_of(rn->prefix, TIER, tabs[1], sizeof(tabs[1]));
        wait_committed(rn, tabs, 2, 30000, "the tables");

        /* 3. orders and shipments at RATE a second; the kill and the
         * restart */
        t_flow = now_ms();
        for (i = 0; i < n_flow; i++) {
                int64_t due = t_flow + (int64_t)i * 1000 / RATE;
                while (now_ms() < due)
                        tick(rn, (int)(due - now_ms() < 20 ? due - now_ms()
                                                          : 20));
                produce(rn, &flow[i]);
                if (i == KILL_AT) {
                        int k, best = -1;
                        for (k = 0; k < 3; k++)
                                if (best < 0 ||
                                    popcount(proc_tasks(rn->x[k])) >
                                        popcount(proc_tasks(rn->x[best])))
                                        best = k;
                        g_victim     = best;
                        victim_tasks = proc_tasks(rn->x[best]);
                        kill(rn->x[best]->pid, SIGKILL);
                        t_kill = now_ms();
                        while (!rn->x[best]->exited)
                                proc_pump(rn->x[best]);
                        if (!WIFSIGNALED(rn->x[best]->status) ||
                            WTERMSIG(rn->x[best]->status) != SIGKILL)
                                fail("%s: not killed", rn->x[best]->label);
                        fmt(label, sizeof(label), "%s-again",
                                 rn->x[best]->label);
                        fmt(victim_label, sizeof(victim_label), "%s",
                            rn->x[best]->label);
                        rn->x[best] = NULL; /* kill_all frees it */
                }
                if (t_kill && !t_takeover && others_hold_all(rn)) {
                        t_takeover      = now_ms();
                        holders(rn, h_take, sizeof(h_take));
                        rn->x[g_victim] =
                            spawn_app(label, rn->app_id, rn->prefix);
                }
                if (t_takeover && !t_back &&
                    proc_last_line(rn->x[g_victim], "RUNNING"))
                        t_back = now_ms();
        }
        flush(rn);
        if (!t_takeover) {
                int64_t end = now_ms() + 60000;
                while (!others_hold_all(rn)) {
                        if (now_ms() > end)
                                fail("no takeover of the killed instance's "
                                     "tasks after 60 s");
                        tick(rn, 20);
                }
                t_takeover      = now_ms();
                holders(rn, h_take, sizeof(h_take));
                rn->x[g_victim] = spawn_app(label, rn->app_id, rn->prefix);
        }
        wait_for(rn, all_running, 60000, "RUNNING from the restarted one");
        if (!t_back)
                t_back = now_ms();

        /* 4. release (b)'s held orders; once every repartitioned record
         * is processed and committed, close (c)'s windows */
        for (i = 0; i < n_closing_o; i++)
                produce(rn, &closing_o[i]);
        flush(rn);
        wait_for(rn, shipped_out, 60000, "output of every shipped order");
        nrep = repartition_topics(rn, reps);
        if (nrep != 2)
                fail("%d repartition topics of %s, expected 2", nrep,
                     rn->app_id);
        wait_committed(rn, reps, 2, 30000, "the repartition topics");
        for (i = 0; i < n_closing_s; i++)
                produce(rn, &closing_s[i]);
        flush(rn);
        wait_for(rn, all_orders_out, 60000, "output of every order");
        wait_for(rn, covered, 60000,
                 "every task on one instance at the end");
        holders(rn, h, sizeof(h));

        /* 5. a clean stop, then all of the topic */
        for (i = 0; i < 3; i++)
                kill(rn->x[i]->pid, SIGTERM);
        for (i = 0; i < 3; i++) {
                int64_t end = now_ms() + 60000;
                while (!rn->x[i]->exited) {
                        if (now_ms() > end)
                                fail("%s did not stop in 60 s",
                                     rn->x[i]->label);
                        proc_pump(rn->x[i]);
                        reader_poll(rn, 20);
                }
                if (!WIFEXITED(rn->x[i]->status) ||
                    WEXITSTATUS(rn->x[i]->status) != 0 ||
                    !proc_last_line(rn->x[i], "PROCESSED "))
                        fail("%s: exit status %d, output \"%.500s\"",
                             rn->x[i]->label, rn->x[i]->status,
                             rn->x[i]->out);
        }
        for (i = 0; i < P; i++) {
                int64_t lo, hi, end = now_ms() + 30000;
                if (rd_kafka_query_watermark_offsets(rn->reader, rn->out,
                                                     (int)i, &lo, &hi, 10000))
                        fail("watermarks of %s", rn->out);
                while (rn->next[i] < hi) {
                        if (now_ms() > end)
                                fail("%s not read to its end", rn->out);
                        reader_poll(rn, 100);
                }
        }

        for (i = 0; i < ORDERS; i++) {
                const last_t *g = &rn->got[i], *w = &want[i];
                dups += g->count > 1;
                if (!g->value || g->len != w->len ||
                    memcmp(g->value, w->value, w->len) || g->ts != w->ts) {
                        if (diffs++ < 5)
                                printf("  o%zu: read %s (ts %lld), the test "
                                       "driver's %s (ts %lld)\n",
                                       i, g->value ? g->value : "nothing",
                                       (long long)g->ts, w->value,
                                       (long long)w->ts);
                }
        }
        {
                char vt[64];
                int b;
                size_t n = 0;
                vt[0] = '\0';
                for (b = 0; b < SUBS * P; b++)
                        if (victim_tasks & 1 << b)
                                n += (size_t)snprintf(vt + n, sizeof(vt) - n,
                                                      "%s%d_%d", n ? "," : "",
                                                      b / P, b % P);
                printf("  joins: %zu table records then %zu orders and "
                       "shipments (%d orders, %d%% shipped, %d customers + "
                       "%d unknown, 4 partitions) at %d/s to 3 instances; "
                       "%s (tasks %s) killed after %d, its tasks taken over "
                       "%.1f s later (%s), back %.1f s after that; end: %s; "
                       "%zu records read, %d orders written more than once; "
                       "orders whose last record differs from the test "
                       "driver's: %d of %d; %.1f s\n",
                       n_tables, n_flow, ORDERS, SHIP_PCT, CUSTOMERS,
                       KEYS - CUSTOMERS, RATE, victim_label, vt, KILL_AT,
                       (double)(t_takeover - t_kill) / 1000.0, h_take,
                       (double)(t_back - t_takeover) / 1000.0, h, rn->read_n,
                       dups, diffs, ORDERS, (double)(now_ms() - t0) / 1000.0);
        }
        for (i = 0; i < 3; i++)
                printf("  %s: %d INPUTS lines, every task co-located\n",
                       rn->x[i]->label, rn->x[i]->inputs_lines);
        fflush(stdout);
        if (diffs)
                fail("%d orders' last records differ from the test driver's",
                     diffs);
        rd_kafka_destroy(rn->prod);
        rd_kafka_consumer_close(rn->reader);
        rd_kafka_destroy(rn->reader);
        rd_kafka_destroy(rn->admin);
        kill_all();
        for (i = 0; i < ORDERS; i++) {
                free(rn->got[i].value);
                free(want[i].value);
        }
}

/* One input with 3 partitions: sluice_app_start() refuses, and says why. */
static void copartition_mismatch(void) {
        char prefix[128], app_id[160];
        const int parts[5] = {P, P, 3, P, P};
        proc_t *p;
        const char *l;
        int64_t end = now_ms() + 60000;
        snprintf(prefix, sizeof(prefix), "%s-m3-", g_run);
        snprintf(app_id, sizeof(app_id), "%s-m3-app", g_run);
        create_topics(prefix, parts);
        p = spawn_app("mismatch", app_id, prefix);
        while (proc_pump(p), !p->exited)
                if (now_ms() > end)
                        fail("mismatch: still running after 60 s: "
                             "\"%.500s\"", p->out);
        l = proc_last_line(p, "ERROR: ");
        if (proc_last_line(p, "RUNNING"))
                fail("mismatch: RUNNING: \"%.500s\"", p->out);
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 2 || !l ||
            !strstr(l, "must be co-partitioned") ||
            !strstr(l, "(3 partitions)") || !strstr(l, "orders\""))
                fail("mismatch: exit status %d, output \"%.500s\"",
                     p->status, p->out);
        printf("  co-partitioning: %.*s\n", (int)strcspn(l, "\n"), l);
        fflush(stdout);
        kill_all();
}

/* A global table is loaded before the first join: customers (4
 * partitions) and orders (2: no co-partitioning needed) are all written
 * before the app starts, so the first order it processes already finds its
 * row, and so does every other. */
#define G_CUSTOMERS 400
#define G_ORDERS 600
static void global_loaded_first(void) {
        char prefix[128], app_id[160], out[256], err[512], group[300];
        const int parts[5] = {P, P, 2, P, 2};
        static event_t cust[G_CUSTOMERS], ord[G_ORDERS];
        static int seen[G_ORDERS];
        size_t n_c = 0, n_o = 0;
        rd_kafka_conf_t *c;
        rd_kafka_topic_partition_list_t *l;
        run_t *rn = calloc(1, sizeof(*rn));
        proc_t *p;
        int i, got = 0, joined = 0, first_joined[2] = {-1, -1};
        int64_t end, t0 = now_ms();
        char key[16], id[16];

        if (!rn)
                fail("out of memory");
        fmt(prefix, sizeof(prefix), "%s-g-", g_run);
        fmt(app_id, sizeof(app_id), "%s-g-app", g_run);
        fmt(out, sizeof(out), "%sorders-enriched", prefix);
        snprintf(rn->prefix, sizeof(rn->prefix), "%s", prefix);
        create_topics(prefix, parts);
        for (i = 0; i < G_CUSTOMERS; i++) {
                event_t *e;
                snprintf(key, sizeof(key), "g%d", i);
                e = add(cust, &n_c, CUSTOMER, key, T0);
                snprintf(e->value, sizeof(e->value),
                         "{\"name\":\"G%d\",\"city\":\"Bern\"}", i);
        }
        for (i = 0; i < G_ORDERS; i++) {
                event_t *e;
                /* keyed by order id: the stream is not keyed by customer */
                snprintf(id, sizeof(id), "o%d", i);
                snprintf(key, sizeof(key), "g%d", (i * 7) % G_CUSTOMERS);
                e = add(ord, &n_o, ORDER, id, T0 + i);
                order_value(e, id, key, 100);
        }
        c = base_conf();
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(c, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        rd_kafka_conf_set_opaque(c, rn);
        if (!(rn->prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err))))
                fail("producer: %s", err);
        for (i = 0; i < G_CUSTOMERS; i++)
                produce(rn, &cust[i]);
        for (i = 0; i < G_ORDERS; i++)
                produce(rn, &ord[i]);
        flush(rn);
        rd_kafka_destroy(rn->prod);

        c = base_conf();
        fmt(group, sizeof(group), "%s-g-reader", g_run);
        rd_kafka_conf_set(c, "group.id", group, NULL, 0);
        rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
        if (!(rn->reader = rd_kafka_new(RD_KAFKA_CONSUMER, c, err,
                                        sizeof(err))))
                fail("reader: %s", err);
        l = rd_kafka_topic_partition_list_new(2);
        for (i = 0; i < 2; i++)
                rd_kafka_topic_partition_list_add(l, out, i)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        if (rd_kafka_assign(rn->reader, l))
                fail("assign");
        rd_kafka_topic_partition_list_destroy(l);

        p   = spawn_app_as("global", app_id, prefix, 1);
        end = now_ms() + 60000;
        while (got < G_ORDERS) {
                rd_kafka_message_t *m;
                proc_pump(p);
                if (p->exited)
                        fail("global: exited (status %d): \"%.500s\"",
                             p->status, p->out);
                if (now_ms() > end)
                        fail("global: %d of %d orders out after 60 s", got,
                             G_ORDERS);
                if (!(m = rd_kafka_consumer_poll(rn->reader, 50)))
                        continue;
                if (!m->err && m->payload) {
                        int o = order_index(m->key, m->key_len);
                        int ok = o >= 0 && o < G_ORDERS &&
                                 m->len < 1000 &&
                                 memmem(m->payload, m->len, "\"name\":\"G",
                                        9) != NULL;
                        if (o >= 0 && o < G_ORDERS && !seen[o]++)
                                got++;
                        joined += ok;
                        if (m->partition >= 0 && m->partition < 2 &&
                            first_joined[m->partition] < 0)
                                first_joined[m->partition] = ok;
                        if (!ok)
                                fail("global: %.*s did not join its "
                                     "customer: %.*s (offset %lld of "
                                     "partition %d)",
                                     (int)m->key_len, (const char *)m->key,
                                     (int)m->len, (const char *)m->payload,
                                     (long long)m->offset, (int)m->partition);
                }
                rd_kafka_message_destroy(m);
        }
        kill(p->pid, SIGTERM);
        end = now_ms() + 30000;
        while (proc_pump(p), !p->exited)
                if (now_ms() > end)
                        fail("global: did not stop in 30 s");
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0)
                fail("global: exit status %d: \"%.500s\"", p->status,
                     p->out);
        printf("  global table: %d customers (4 partitions) and %d orders "
               "(2 partitions) written before the app started; %d orders "
               "out, %d records read, every one joined (the first of each "
               "partition too: %d, %d); %.1f s\n",
               G_CUSTOMERS, G_ORDERS, got, joined, first_joined[0],
               first_joined[1], (double)(now_ms() - t0) / 1000.0);
        fflush(stdout);
        rd_kafka_consumer_close(rn->reader);
        rd_kafka_destroy(rn->reader);
        free(rn);
        kill_all();
}

static int find_app(void) {
        const char *set = getenv("SLUICE_TEST_APP_ENRICH");
        if (set && *set) {
                snprintf(g_app, sizeof(g_app), "%s", set);
        } else {
                char self[PATH_MAX];
                ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n <= 0)
                        return -1;
                self[n]             = '\0';
                *strrchr(self, '/') = '\0';
                snprintf(g_app, sizeof(g_app), "%.*s/app_enrich",
                         (int)(sizeof(g_app) - 12), self);
        }
        if (access(g_app, X_OK)) {
                fprintf(stderr, "joins_it: no app_enrich program at %s "
                                "(build it, or set SLUICE_TEST_APP_ENRICH)\n",
                        g_app);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        char cmd[sizeof(g_logdir) + 16], path[sizeof(g_logdir) + 32];
        int64_t t0 = now_ms();

        if (argc == 2 && !strcmp(argv[1], "--driver-only")) {
                /* what the test driver writes for the input, no cluster */
                static last_t want[ORDERS];
                int i, shipped = 0, o;
                make_input();
                expected("x-", want);
                for (i = 0; i < ORDERS; i++) {
                        shipped += !strstr(want[i].value, "\"carrier\":null");
                        o = has_shipment[i];
                        if (o != !strstr(want[i].value, "\"carrier\":null"))
                                printf("o%d: shipment %d, written %s\n", i,
                                       o, want[i].value);
                }
                printf("%zu table records, %zu orders and shipments; the "
                       "test driver: %d orders, %d of them shipped; o0: "
                       "%s\n",
                       n_tables, n_flow, ORDERS, shipped, want[0].value);
                return 0;
        }
        g_bootstrap = getenv("SLUICE_TEST_BOOTSTRAP");
        if (!g_bootstrap || !*g_bootstrap) {
                fprintf(stderr,
                        "joins_it: SLUICE_TEST_BOOTSTRAP is not set. Set it to "
                        "a Kafka cluster, or run tests/integration/"
                        "run_joins.sh --local-broker.\n");
                return 2;
        }
        if (find_app())
                return 2;
        snprintf(g_run, sizeof(g_run), "itj-%ld-%lld", (long)getpid(),
                 (long long)time(NULL));
        snprintf(g_logdir, sizeof(g_logdir), "%s/sluice-%s.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", g_run);
        if (!mkdtemp(g_logdir)) {
                perror("mkdtemp");
                return 2;
        }
        snprintf(path, sizeof(path), "%s/placement.log", g_logdir);
        if (!(g_placement = fopen(path, "w"))) {
                perror(path);
                return 2;
        }
        setvbuf(g_placement, NULL, _IOLBF, 0);
        printf("joins integration tests against %s (topics and ids %s-*; "
               "process logs and every INPUTS line in %s)\n",
               g_bootstrap, g_run, g_logdir);
        fflush(stdout);

        joins_three_instances();
        copartition_mismatch();
        global_loaded_first();

        fclose(g_placement);
        printf("joins integration tests: passed, %.1f s\n",
               (double)(now_ms() - t0) / 1000.0);
        if (getenv("SLUICE_TEST_KEEP_LOGS")) {
                printf("process logs kept in %s\n", g_logdir);
        } else {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_logdir);
                if (system(cmd))
                        fprintf(stderr, "could not remove %s\n", g_logdir);
        }
        return g_failed;
}
