/*
 * placement_it.c - co-partitioned placement on a real broker: instances of
 * tests/integration/app_copart.c (two source topics, one count) join and
 * leave while input flows, and after each rebalance
 *   - partition p of both topics is on one instance, every partition on
 *     exactly one;
 *   - the cost is measured: how many partitions moved, and the time from
 *     the member joining (or being stopped) until every partition has
 *     been processed past where it was (its final owner's position moved);
 * and at the end every key's last count, read read_committed from the
 * output, is exactly the number of its records (exactly_once_v2: this
 * also proves the followers' offsets go into the transactions).
 * A plain librdkafka program: nothing of Sluice checks Sluice.
 *
 * Environment: SLUICE_TEST_BOOTSTRAP (required), SLUICE_TEST_GROUP_PROTOCOL
 * (classic | consumer; passed on to the apps), SLUICE_TEST_APP_COPART (the
 * app's path). Options:
 *   --partitions P   of each topic (default 6)
 *   --measure-only   report placement and counts, fail on neither (to
 *                    measure an app built without the placement)
 *   --app-conf K=V   one more configuration property for the apps
 *   --second         the apps run a second stateful sub-topology (behind
 *                    a repartition topic): each PHASE line says how many
 *                    tasks of each sub-topology every instance holds, and
 *                    they must be equal (partition p of both together)
 * stdout: a PHASE line per rebalance, a COUNTS line, a RESULT line.
 * Exit 0 iff every check passed (2: setup error).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define MAX_P 16
#define MAX_INST 3
#define KEYS_PER_P 5
#define MAX_OBS 200000

static const char *bootstrap, *app_path, *protocol;
static char left[160], right[160], out[160], app_id[128];
static int P = 6, measure_only;
static const char *app_conf = "sluice.metrics.log.interval.ms=0";
static int second; /* the apps run a second stateful sub-topology */

static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "placement_it: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(2);
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the instances ---- */

typedef struct {
        pid_t pid;
        int fd; /* its stdout */
        char buf[65536];
        size_t len;
        int running;           /* printed RUNNING at least once */
        int alive;
        int set[2 * MAX_P];    /* its last POS line's partitions */
        int again;             /* ... of the repartition topic (--second) */
        long long pos[2 * MAX_P];
        long long pos_ms;      /* when that line was printed, 0: none */
        int processed_line;    /* PROCESSED seen */
} inst_t;

static inst_t inst[MAX_INST];

/* one position report: partition k (topic * P + p) at @pos on @who */
typedef struct {
        long long ms, pos;
        int who, k;
} obs_t;
static obs_t *obs;
static size_t obs_cnt;

static void inst_start(int i) {
        int pfd[2];
        pid_t pid;
        if (pipe(pfd))
                die("pipe: %s", strerror(errno));
        pid = fork();
        if (pid < 0)
                die("fork: %s", strerror(errno));
        if (pid == 0) {
                dup2(pfd[1], 1);
                close(pfd[0]);
                close(pfd[1]);
                execl(app_path, app_path, "--bootstrap", bootstrap, "--app-id",
                      app_id, "--in", left, "--right", right, "--out", out,
                      "--commit-ms", "200", "--conf",
                      "processing.guarantee=exactly_once_v2", "--conf",
                      "consumer.session.timeout.ms=6000", "--conf",
                      "consumer.heartbeat.interval.ms=500", "--conf", app_conf,
                      "--log-level", "3", second ? "--second" : (char *)NULL,
                      (char *)NULL);
                _exit(127);
        }
        close(pfd[1]);
        memset(&inst[i], 0, sizeof(inst[i]));
        inst[i].pid   = pid;
        inst[i].fd    = pfd[0];
        inst[i].alive = 1;
        fcntl(inst[i].fd, F_SETFL, O_NONBLOCK);
}

static int part_index(const char *topic, int p) {
        if (p < 0 || p >= P)
                return -1;
        if (!strcmp(topic, left))
                return p;
        if (!strcmp(topic, right))
                return P + p;
        return -1;
}

static void inst_line(int i, char *line) {
        inst_t *in = &inst[i];
        if (!strcmp(line, "RUNNING"))
                in->running = 1;
        else if (!strncmp(line, "PROCESSED ", 10))
                in->processed_line = 1;
        else if (!strncmp(line, "ERROR", 5))
                fprintf(stderr, "placement_it: instance %d: %s\n", i, line);
        else if (!strncmp(line, "POS ", 4)) {
                char *save = NULL, *tok = strtok_r(line + 4, " ", &save);
                long long ms = tok ? atoll(tok) : 0;
                memset(in->set, 0, sizeof(in->set));
                in->again = 0;
                while ((tok = strtok_r(NULL, " ", &save))) {
                        /* topic:partition:position (topic names have no
                         * colon) */
                        char *c2 = strrchr(tok, ':'), *c1;
                        int k;
                        if (!c2)
                                continue;
                        *c2 = '\0';
                        if (!(c1 = strrchr(tok, ':')))
                                continue;
                        *c1 = '\0';
                        if (strlen(tok) > 18 &&
                            !strcmp(tok + strlen(tok) - 18,
                                    "-again-repartition"))
                                in->again++;
                        if ((k = part_index(tok, atoi(c1 + 1))) < 0)
                                continue;
                        in->set[k] = 1;
                        in->pos[k] = atoll(c2 + 1);
                        if (obs_cnt < MAX_OBS)
                                obs[obs_cnt++] =
                                    (obs_t){ms, in->pos[k], i, k};
                }
                in->pos_ms = ms;
        }
}

/* read what the instances printed, waiting at most @ms */
static void pump(int ms) {
        struct pollfd pf[MAX_INST];
        int n = 0, i, map[MAX_INST];
        for (i = 0; i < MAX_INST; i++)
                if (inst[i].fd > 0) {
                        pf[n].fd     = inst[i].fd;
                        pf[n].events = POLLIN;
                        map[n++]     = i;
                }
        if (poll(pf, (nfds_t)n, ms) <= 0)
                return;
        for (i = 0; i < n; i++) {
                inst_t *in = &inst[map[i]];
                ssize_t r;
                char *nl;
                if (!(pf[i].revents & (POLLIN | POLLHUP)))
                        continue;
                r = read(in->fd, in->buf + in->len, sizeof(in->buf) - in->len - 1);
                if (r <= 0) {
                        if (r == 0) {
                                close(in->fd);
                                in->fd = -1;
                        }
                        continue;
                }
                in->len += (size_t)r;
                in->buf[in->len] = '\0';
                while ((nl = strchr(in->buf, '\n'))) {
                        *nl = '\0';
                        inst_line(map[i], in->buf);
                        memmove(in->buf, nl + 1, in->len - (size_t)(nl + 1 - in->buf));
                        in->len -= (size_t)(nl + 1 - in->buf);
                        in->buf[in->len] = '\0';
                }
        }
}

/* ---- the input ---- */

static rd_kafka_t *producer;
static long long expected[MAX_P][KEYS_PER_P];
static long long produced_total, next_produce_ms;

/* every 50 ms: one record to each partition of both topics, keyed
 * k<p>-<j> so that a key lives in partition p of both */
static void produce_tick(void) {
        static long long seq;
        int p, t;
        if (now_ms() < next_produce_ms)
                return;
        next_produce_ms = now_ms() + 50;
        for (p = 0; p < P; p++) {
                int j = (int)(seq % KEYS_PER_P);
                char key[32];
                snprintf(key, sizeof(key), "k%d-%d", p, j);
                for (t = 0; t < 2; t++) {
                        rd_kafka_resp_err_t e = rd_kafka_producev(
                            producer, RD_KAFKA_V_TOPIC(t ? right : left),
                            RD_KAFKA_V_PARTITION(p),
                            RD_KAFKA_V_KEY(key, strlen(key)),
                            RD_KAFKA_V_VALUE("x", 1),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_END);
                        if (e)
                                die("produce: %s", rd_kafka_err2str(e));
                        expected[p][j]++;
                        produced_total++;
                }
        }
        seq++;
        rd_kafka_poll(producer, 0);
}

/* wait @ms, producing and reading meanwhile */
static void run_for(int ms) {
        long long until = now_ms() + ms;
        while (now_ms() < until) {
                produce_tick();
                pump(10);
        }
}

/* ---- placement ---- */

/* every partition on exactly one live instance's last report: 1, with
 * owner[] filled; else 0 */
static int owners(int *owner) {
        int k, i;
        for (k = 0; k < 2 * P; k++) {
                owner[k] = -1;
                for (i = 0; i < MAX_INST; i++)
                        if (inst[i].alive && inst[i].pos_ms && inst[i].set[k]) {
                                if (owner[k] >= 0)
                                        return 0;
                                owner[k] = i;
                        }
                if (owner[k] < 0)
                        return 0;
        }
        return 1;
}

static int colocated(const int *owner) {
        int p;
        for (p = 0; p < P; p++)
                if (owner[p] != owner[P + p])
                        return 0;
        return 1;
}

static int failures;

/*
 * One rebalance, begun at @t0 by starting or stopping instances, that ends
 * when the live instances are @want_cnt, every one of them holds some
 * partitions, every partition is on one (co-located, unless measuring),
 * and every partition's final owner has moved its position past
 * @pos0[k] (the position at t0) after t0. Prints its PHASE line.
 */
static void rebalance_done(const char *what, long long t0, const int *before,
                           const long long *pos0, int want_cnt) {
        long long deadline = t0 + 120000, resumed = 0;
        int owner[2 * MAX_P], k, i, moved = 0, ok = 0, coloc = 0;
        size_t first_obs = obs_cnt;
        while (now_ms() < deadline) {
                int live = 0, busy = 0;
                run_for(100);
                for (i = 0; i < MAX_INST; i++)
                        if (inst[i].alive) {
                                int any = 0;
                                live++;
                                for (k = 0; k < 2 * P; k++)
                                        any |= inst[i].set[k];
                                busy += any || inst[i].again > 0;
                        }
                if (live != want_cnt || busy != want_cnt || !owners(owner))
                        continue;
                coloc = colocated(owner);
                if (!coloc && !measure_only)
                        continue; /* a cooperative round may be under way */
                /* each partition processed past pos0 by its final owner */
                resumed = 0;
                for (k = 0; k < 2 * P; k++) {
                        size_t j;
                        long long t = 0;
                        for (j = first_obs; j < obs_cnt; j++)
                                if (obs[j].k == k && obs[j].who == owner[k] &&
                                    obs[j].ms > t0 && obs[j].pos > pos0[k]) {
                                        t = obs[j].ms;
                                        break;
                                }
                        if (!t)
                                break;
                        if (t - t0 > resumed)
                                resumed = t - t0;
                }
                if (k == 2 * P) {
                        ok = 1;
                        break;
                }
        }
        for (k = 0; k < 2 * P; k++)
                moved += ok && owner[k] != before[k];
        printf("PHASE %s group.protocol=%s: %s; partitions moved %d/%d; "
               "all processing again after %lld ms; co-located %s\n",
               what, protocol, ok ? "settled" : "DID NOT SETTLE", moved, 2 * P,
               resumed, coloc ? "yes" : "NO");
        if (second)
                for (i = 0; i < MAX_INST; i++)
                        if (inst[i].alive) {
                                int l = 0;
                                for (k = 0; k < P; k++)
                                        l += inst[i].set[k];
                                printf("  instance %d: tasks 0_* %d, "
                                       "tasks 1_* %d\n",
                                       i, l, inst[i].again);
                                /* sluice.task.placement=together: the
                                 * same partitions of both */
                                if (l != inst[i].again && !measure_only)
                                        failures++;
                        }
        fflush(stdout);
        if (!ok || (!coloc && !measure_only))
                failures++;
}

/* owners and positions now (for the next phase's baseline) */
static void snapshot(int *before, long long *pos0) {
        int k, i;
        for (k = 0; k < 2 * P; k++) {
                before[k] = -1;
                pos0[k]   = -1;
                for (i = 0; i < MAX_INST; i++)
                        if (inst[i].alive && inst[i].set[k]) {
                                before[k] = i;
                                if (inst[i].pos[k] > pos0[k])
                                        pos0[k] = inst[i].pos[k];
                        }
        }
}

static void inst_stop(int i) {
        int st = 0;
        long long deadline = now_ms() + 60000;
        kill(inst[i].pid, SIGTERM);
        inst[i].alive = 0;
        while (now_ms() < deadline) {
                pid_t r = waitpid(inst[i].pid, &st, WNOHANG);
                if (r == inst[i].pid)
                        break;
                run_for(20);
        }
        pump(100);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
            !inst[i].processed_line) {
                printf("instance %d did not close cleanly (status %d)\n", i, st);
                failures++;
        }
        if (inst[i].fd > 0)
                close(inst[i].fd);
        inst[i].fd = -1;
}

/* ---- topics and the output ---- */

static void create_topics(void) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_NewTopic_t *nt[3];
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        const char *names[3] = {left, right, out};
        int i;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err))))
                die("%s", err);
        for (i = 0; i < 3; i++)
                nt[i] = rd_kafka_NewTopic_new(names[i], P, -1, err, sizeof(err));
        q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, 3, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        {
                size_t n;
                const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
                    rd_kafka_event_CreateTopics_result(ev), &n);
                for (i = 0; i < (int)n; i++)
                        if (rd_kafka_topic_result_error(res[i]))
                                die("create %s: %s",
                                    rd_kafka_topic_result_name(res[i]),
                                    rd_kafka_topic_result_error_string(res[i]));
        }
        rd_kafka_event_destroy(ev);
        for (i = 0; i < 3; i++)
                rd_kafka_NewTopic_destroy(nt[i]);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* every key's last count in the output (read_committed) matches: 1 / 0
 * after @timeout_ms (a COUNTS line says how many keys matched) */
static int verify_counts(int timeout_ms) {
        char err[512], group[160];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(P);
        long long last[MAX_P][KEYS_PER_P];
        long long deadline = now_ms() + timeout_ms;
        int p, j, good = 0, records = 0;
        memset(last, 0, sizeof(last));
        snprintf(group, sizeof(group), "%s-verify", app_id);
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(c, "group.id", group, err, sizeof(err));
        rd_kafka_conf_set(c, "isolation.level", "read_committed", err,
                          sizeof(err));
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err))))
                die("%s", err);
        for (p = 0; p < P; p++)
                rd_kafka_topic_partition_list_add(tp, out, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, tp);
        rd_kafka_topic_partition_list_destroy(tp);
        while (now_ms() < deadline && good < P * KEYS_PER_P) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                if (!m->err && m->key && m->len == 8 &&
                    sscanf((const char *)m->key, "k%d-%d", &p, &j) == 2 &&
                    p >= 0 && p < P && j >= 0 && j < KEYS_PER_P) {
                        const unsigned char *v = m->payload;
                        long long n = 0;
                        int b;
                        for (b = 0; b < 8; b++)
                                n = n << 8 | v[b];
                        last[p][j] = n;
                        records++;
                        good = 0;
                        for (p = 0; p < P; p++)
                                for (j = 0; j < KEYS_PER_P; j++)
                                        good += last[p][j] == expected[p][j];
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(rk);
        printf("COUNTS %d/%d keys exact (%lld records in, %d counts read)\n",
               good, P * KEYS_PER_P, produced_total, records);
        if (good < P * KEYS_PER_P) {
                for (p = 0; p < P; p++)
                        for (j = 0; j < KEYS_PER_P; j++)
                                if (last[p][j] != expected[p][j])
                                        printf("  k%d-%d: counted %lld, "
                                               "produced %lld\n",
                                               p, j, last[p][j], expected[p][j]);
        }
        fflush(stdout);
        return good == P * KEYS_PER_P;
}

int main(int argc, char **argv) {
        char err[512];
        rd_kafka_conf_t *pc;
        int before[2 * MAX_P], i;
        long long pos0[2 * MAX_P], t0;
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--partitions") && i + 1 < argc)
                        P = atoi(argv[++i]);
                else if (!strcmp(argv[i], "--app-conf") && i + 1 < argc)
                        app_conf = argv[++i];
                else if (!strcmp(argv[i], "--second"))
                        second = 1;
                else if (!strcmp(argv[i], "--measure-only"))
                        measure_only = 1;
                else
                        die("unknown option %s", argv[i]);
        }
        if (P < 1 || P > MAX_P)
                die("--partitions: 1..%d", MAX_P);
        bootstrap = getenv("SLUICE_TEST_BOOTSTRAP");
        app_path  = getenv("SLUICE_TEST_APP_COPART");
        protocol  = getenv("SLUICE_TEST_GROUP_PROTOCOL");
        if (!bootstrap || !app_path)
                die("set SLUICE_TEST_BOOTSTRAP and SLUICE_TEST_APP_COPART");
        if (!protocol || !*protocol)
                protocol = "classic";
        if (!(obs = calloc(MAX_OBS, sizeof(*obs))))
                die("out of memory");
        snprintf(app_id, sizeof(app_id), "it-%ld-%lld-copart", (long)getpid(),
                 now_ms());
        snprintf(left, sizeof(left), "%s-left", app_id);
        snprintf(right, sizeof(right), "%s-right", app_id);
        snprintf(out, sizeof(out), "%s-out", app_id);
        for (i = 0; i < MAX_INST; i++)
                inst[i].fd = -1;
        create_topics();
        pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers", bootstrap, err, sizeof(err));
        rd_kafka_conf_set(pc, "linger.ms", "5", err, sizeof(err));
        if (!(producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err))))
                die("%s", err);

        /* one instance takes everything */
        memset(before, -1, sizeof(before));
        memset(pos0, -1, sizeof(pos0));
        t0 = now_ms();
        inst_start(0);
        rebalance_done("first instance", t0, before, pos0, 1);
        /* a second joins */
        snapshot(before, pos0);
        t0 = now_ms();
        inst_start(1);
        rebalance_done("second instance joins", t0, before, pos0, 2);
        run_for(2000);
        /* it leaves (a clean close: it leaves the group) */
        snapshot(before, pos0);
        t0 = now_ms();
        inst_stop(1);
        rebalance_done("second instance leaves", t0, before, pos0, 1);
        run_for(1000);
        /* and joins again */
        snapshot(before, pos0);
        t0 = now_ms();
        inst_start(1);
        rebalance_done("second instance joins again", t0, before, pos0, 2);
        run_for(2000);

        /* the input stops; the counts must come out exact */
        rd_kafka_flush(producer, 30000);
        if (!verify_counts(60000) && !measure_only)
                failures++;
        inst_stop(1);
        inst_stop(0);
        rd_kafka_destroy(producer);
        free(obs);
        printf("RESULT group.protocol=%s: %s\n", protocol,
               failures ? "FAILED" : "passed");
        return failures ? 1 : 0;
}
