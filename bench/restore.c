/*
 * bench/restore.c - how fast a Sluice app restores a store from its
 * changelog on a real broker, and what the restored memory store weighs.
 *
 * Once per invocation: create the changelog "<app>-counts-changelog" (1
 * partition, cleanup.policy=compact, as Sluice creates it), the input
 * "<app>-in" and the output "<app>-out" (1 partition each), and produce
 * --records (default 5M) records straight into the changelog with
 * librdkafka (linger.ms=50, batch.size=1000000, acks=all, no compression):
 * distinct 16-byte keys "key-%012ld", so compaction removes nothing, and
 * 8-byte big-endian int64 values (what a count writes).
 *
 * Then, --runs times (default 3), for each store type (in_memory and lmdb,
 * alternating which goes first), one restore, each in a fresh child process
 * (a clean heap for the memory figure): a Sluice app with the count
 * topology on the input (source -> group_by_key -> count("counts") ->
 * to_stream -> to), application.id matching the changelog,
 * default.dsl.store as given, a fresh state.dir (so LMDB, too, restores
 * the whole changelog from offset 0), num.stream.threads=1 and a restore
 * listener. The listener records the time, the process's CPU time (all
 * threads, librdkafka's included) and the broker's CPU (--broker-pid) at
 * START and at END, and the records restored; once END arrives the child
 * reads its VmRSS, checks a few keys with sluice_app_store_get() and closes
 * the app. Rate = records restored / (END - START), wall clock.
 *
 * The memory figure: VmRSS after END minus VmRSS before sluice_app_new(),
 * per restored key (librdkafka's client buffers included: what a process
 * pays).
 *
 * Usage: bench/restore --bootstrap HOST:PORT [--records N] [--runs R]
 *                      [--stores in_memory,lmdb] [--broker-pid PID]
 *                      [--tmpdir DIR] [--timeout S] [--keep-topics]
 *                      [--rdkafka [consumer.|producer.]K=V]...
 *        (--bootstrap defaults to $SLUICE_BOOTSTRAP; --rdkafka is set on
 *         the app through sluice_conf_set(), e.g.
 *         consumer.max.partition.fetch.bytes=8388608)
 * bench/on-broker.sh restore (make bench-restore) starts a broker, runs this,
 * and stops the broker.
 */
#define _XOPEN_SOURCE 700
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "restore"
#include "bench_util.h"

#define KEY_LEN 16
#define MAX_RUNS 16
#define MAX_STORES 4
#define TARGET_RATE 1e6 /* records/s restored */

static struct {
        const char *bootstrap;
        long records;
        int runs;
        const char *stores[MAX_STORES];
        int store_cnt;
        long broker_pid;
        const char *tmpdir;
        int timeout_s;
        int keep_topics;
        const char *rk_props[64];
        int rk_prop_cnt;
        /* child mode */
        const char *child_store;
        const char *app_id;
} opt = {NULL, 5000000, 3, {NULL}, 0, 0, NULL, 600, 0, {NULL}, 0, NULL, NULL};

static char app_id[128], in_topic[160], out_topic[160], clog_topic[160];

/* ---- keys, values ---- */

static void make_key(char *out, long i) {
        char buf[32];
        snprintf(buf, sizeof(buf), "key-%012ld", i);
        memcpy(out, buf, KEY_LEN);
}

static void put_be64(unsigned char *p, int64_t v) {
        uint64_t u = (uint64_t)v;
        int i;
        for (i = 7; i >= 0; i--) {
                p[i] = (unsigned char)(u & 0xff);
                u >>= 8;
        }
}

/* The count a record of the changelog carries (any value would do). */
static int64_t count_of(long i) {
        return 1 + i % 1000;
}

/* ---- admin (the parent) ---- */

static void topic_create(const char *topic, int compact) {
        rd_kafka_t *rk          = admin_client(opt.bootstrap);
        rd_kafka_queue_t *q     = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        char err[512];
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof(err));
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t n;
        if (!nt)
                die("%s", err);
        if (compact &&
            rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact"))
                die("%s", "cannot set cleanup.policy");
        rd_kafka_AdminOptions_set_operation_timeout(o, 30000, NULL, 0);
        rd_kafka_CreateTopics(rk, &nt, 1, o, q);
        ev = rd_kafka_queue_poll(q, 60000);
        if (!ev || rd_kafka_event_error(ev))
                die("CreateTopics: %s",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
        res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || rd_kafka_topic_result_error(res[0]))
                die("cannot create topic: %s",
                    n ? rd_kafka_topic_result_error_string(res[0]) : "?");
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
}

/* 5M distinct keys, int64 values, into the changelog's one partition. */
static void load_changelog(void) {
        static const char *const props[][2] = {
            {"linger.ms", "50"},
            {"batch.size", "1000000"},
            {"acks", "all"},
            {"compression.type", "none"},
            {"queue.buffering.max.messages", "2000000"},
            {"queue.buffering.max.kbytes", "1048576"},
        };
        char key[KEY_LEN];
        unsigned char val[8];
        double t0 = wall_now(), c0 = cpu_now(), b0 = proc_cpu(opt.broker_pid),
               secs, b1;
        rd_kafka_t *rk = load_producer(opt.bootstrap, props,
                                       sizeof(props) / sizeof(props[0]));
        rd_kafka_topic_t *rkt;
        int64_t lo = 0, hi = 0;
        long i;
        rkt = rd_kafka_topic_new(rk, clog_topic, NULL);
        for (i = 0; i < opt.records; i++) {
                make_key(key, i);
                put_be64(val, count_of(i));
                produce_copy(rk, rkt, 0, val, sizeof(val), key, KEY_LEN);
                if ((i & 4095) == 0)
                        rd_kafka_poll(rk, 0);
        }
        flush_all(rk);
        secs = wall_now() - t0;
        b1   = proc_cpu(opt.broker_pid);
        if (load_failed)
                die("%s", "some changelog records were not delivered");
        if (rd_kafka_query_watermark_offsets(rk, clog_topic, 0, &lo, &hi,
                                             30000))
                die("%s", "cannot read the changelog's watermarks");
        if (hi - lo != opt.records)
                die("%s", "the changelog does not hold --records records");
        printf("loaded %ld records (16-byte keys, 8-byte values) into %s in "
               "%.1f s: %.0f records/s, producer %.2f CPU-s",
               opt.records, clog_topic, secs, (double)opt.records / secs,
               cpu_now() - c0);
        if (b0 >= 0 && b1 >= 0)
                printf(", broker %.2f CPU-s", b1 - b0);
        printf("\n");
        fflush(stdout);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
}

/* ---- one restore (the child) ---- */

static struct {
        _Atomic int phase; /* 0 none, 1 started, 2 ended */
        double t_start, t_end, cpu_start, cpu_end, b_start, b_end;
        int64_t start_offset, end_offset;
        uint64_t restored;
        int progress; /* PROGRESS reports seen */
} rs;

static void restore_cb(const sluice_restore_info_t *info, void *opaque) {
        (void)opaque;
        if (strcmp(info->store, "counts"))
                return;
        if (info->phase == SLUICE_RESTORE_START) {
                rs.start_offset = info->start_offset;
                rs.end_offset   = info->end_offset;
                rs.b_start      = proc_cpu(opt.broker_pid);
                rs.cpu_start    = cpu_now();
                rs.t_start      = wall_now();
                atomic_store(&rs.phase, 1);
        } else if (info->phase == SLUICE_RESTORE_PROGRESS) {
                rs.progress++;
        } else {
                rs.t_end    = wall_now();
                rs.cpu_end  = cpu_now();
                rs.b_end    = proc_cpu(opt.broker_pid);
                rs.restored = info->restored;
                atomic_store(&rs.phase, 2);
        }
}

static int run_child(void) {
        char err[512], dir[4096], key[KEY_LEN];
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *c     = sluice_conf_new();
        sluice_app_t *app;
        sluice_grouped_t *g;
        long rss0, rss1, hwm, anon, file, probes[] = {0, 1, opt.records / 2,
                                          opt.records - 1};
        double w_app, w_close, deadline;
        size_t k;
        int bad = 0;

        snprintf(dir, sizeof(dir), "%s/sluice-bench-restore.XXXXXX",
                 tmp_base(opt.tmpdir));
        if (!mkdtemp(dir))
                die("mkdtemp %s failed", dir);
        g = sluice_stream_group_by_key(
            sluice_stream_from(t, in_topic, sluice_serde_bytes(),
                               sluice_serde_bytes()),
            NULL, NULL);
        sluice_stream_to(sluice_table_to_stream(sluice_grouped_count(g, "counts")),
                         out_topic, sluice_serde_bytes(), sluice_serde_int64());
        conf_set(c, "application.id", app_id);
        conf_set(c, "bootstrap.servers", opt.bootstrap);
        conf_set(c, "num.stream.threads", "1");
        conf_set(c, "default.dsl.store", opt.child_store);
        conf_set(c, "state.dir", dir);
        conf_set_props(c, opt.rk_props, opt.rk_prop_cnt);
        sluice_conf_set_log_cb(c, quiet_log, SLUICE_LOG_WARNING, NULL);
        sluice_conf_set_restore_cb(c, restore_cb, NULL);

        rss0 = proc_status_kb("VmRSS");
        if (!(app = sluice_app_new(t, c, err, sizeof(err))))
                die("sluice_app_new: %s", err);
        w_app    = wall_now();
        deadline = w_app + opt.timeout_s;
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        while (atomic_load(&rs.phase) != 2) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        die("app failed: %s", sluice_app_error(app));
                if (wall_now() > deadline)
                        die("%s", "no END of the restore before --timeout");
                sleep_ms(1);
        }
        rss1 = proc_status_kb("VmRSS");
        hwm  = proc_status_kb("VmHWM");
        anon = proc_status_kb("RssAnon");
        file = proc_status_kb("RssFile");
        /* the store holds what the changelog says */
        for (k = 0; k < sizeof(probes) / sizeof(probes[0]); k++) {
                probe_t p = {probes[k], 0, 0};
                int r;
                make_key(key, probes[k]);
                r = sluice_app_store_get(app, "counts", key, KEY_LEN, probe_cb,
                                         &p);
                if (r != 1 || p.count != count_of(probes[k])) {
                        fprintf(stderr,
                                "restore: key %.*s: get returned %d, count "
                                "%lld, expected %lld\n",
                                KEY_LEN, key, r, (long long)p.count,
                                (long long)count_of(probes[k]));
                        bad = 1;
                }
        }
        w_close = wall_now();
        sluice_app_close(app);
        w_close = wall_now() - w_close;
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                die("app failed: %s", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        rm_tree(dir);
        /* one line for the parent */
        printf("RESULT restored=%llu start=%lld end=%lld secs=%.6f cpu=%.6f "
               "broker=%.6f startup=%.6f close=%.6f rss0=%ld rss1=%ld hwm=%ld "
               "anon=%ld file=%ld progress=%d ok=%d\n",
               (unsigned long long)rs.restored, (long long)rs.start_offset,
               (long long)rs.end_offset, rs.t_end - rs.t_start,
               rs.cpu_end - rs.cpu_start,
               rs.b_start >= 0 && rs.b_end >= 0 ? rs.b_end - rs.b_start : -1.0,
               rs.t_start - w_app, w_close, rss0, rss1, hwm, anon, file,
               rs.progress,
               !bad);
        return bad;
}

/* ---- the parent: runs children, prints the figures ---- */

typedef struct {
        unsigned long long restored;
        long long start, end;
        double secs, cpu, broker, startup, close;
        long rss0, rss1, hwm, anon, file;
        int progress, ok;
} result_t;

static result_t spawn_child(const char *store) {
        char recs[32], bpid[32], tmo[32], line[1024];
        const char *args[64 + 2 * 64];
        int fds[2], n = 0, i, st, got = 0;
        result_t r;
        pid_t pid;
        FILE *f;
        const char *exe = self_path();

        memset(&r, 0, sizeof(r));
        snprintf(recs, sizeof(recs), "%ld", opt.records);
        snprintf(bpid, sizeof(bpid), "%ld", opt.broker_pid);
        snprintf(tmo, sizeof(tmo), "%d", opt.timeout_s);
        args[n++] = "restore";
        args[n++] = "--child";
        args[n++] = store;
        args[n++] = "--app-id";
        args[n++] = app_id;
        args[n++] = "--bootstrap";
        args[n++] = opt.bootstrap;
        args[n++] = "--records";
        args[n++] = recs;
        args[n++] = "--broker-pid";
        args[n++] = bpid;
        args[n++] = "--timeout";
        args[n++] = tmo;
        if (opt.tmpdir) {
                args[n++] = "--tmpdir";
                args[n++] = opt.tmpdir;
        }
        for (i = 0; i < opt.rk_prop_cnt; i++) {
                args[n++] = "--rdkafka";
                args[n++] = opt.rk_props[i];
        }
        args[n] = NULL;
        fflush(stdout);
        fflush(stderr);
        if (pipe(fds))
                die("%s", "pipe failed");
        if ((pid = fork()) < 0)
                die("%s", "fork failed");
        if (pid == 0) {
                dup2(fds[1], 1);
                close(fds[0]);
                close(fds[1]);
                execv(exe, (char *const *)args);
                _exit(127);
        }
        close(fds[1]);
        f = fdopen(fds[0], "r");
        while (f && fgets(line, sizeof(line), f)) {
                if (!strncmp(line, "RESULT ", 7)) {
                        got = sscanf(
                                  line,
                                  "RESULT restored=%llu start=%lld end=%lld "
                                  "secs=%lf cpu=%lf broker=%lf startup=%lf "
                                  "close=%lf rss0=%ld rss1=%ld hwm=%ld "
                                  "anon=%ld file=%ld progress=%d ok=%d",
                                  &r.restored, &r.start, &r.end, &r.secs,
                                  &r.cpu, &r.broker, &r.startup, &r.close,
                                  &r.rss0, &r.rss1, &r.hwm, &r.anon, &r.file,
                                  &r.progress, &r.ok) == 15;
                } else {
                        fputs(line, stdout);
                }
        }
        if (f)
                fclose(f);
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) ||
            !got)
                die("the %s restore failed (see above)", store);
        return r;
}

static void usage(void) {
        fprintf(stderr,
                "usage: restore --bootstrap HOST:PORT [--records N] "
                "[--runs 1..%d] [--stores in_memory,lmdb]\n"
                "               [--broker-pid PID] [--tmpdir DIR] "
                "[--timeout S] [--keep-topics]\n"
                "               [--rdkafka [consumer.|producer.]KEY=VALUE]...\n",
                MAX_RUNS);
        exit(2);
}

int main(int argc, char **argv) {
        static char stores_buf[256];
        double rate[MAX_STORES][MAX_RUNS], secs[MAX_STORES][MAX_RUNS],
            cpm[MAX_STORES][MAX_RUNS], bpm[MAX_STORES][MAX_RUNS],
            perkey[MAX_STORES][MAX_RUNS], rssmb[MAX_STORES][MAX_RUNS],
            startup[MAX_STORES][MAX_RUNS];
        double t_begin = wall_now();
        int i, r, s, have_broker = 1;

        opt.bootstrap = getenv("SLUICE_BOOTSTRAP");
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
                        opt.bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--records"))
                        opt.records = num_arg(argc, argv, &i, 4, usage);
                else if (!strcmp(argv[i], "--runs"))
                        opt.runs = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--broker-pid"))
                        opt.broker_pid = num_arg(argc, argv, &i, 0, usage);
                else if (!strcmp(argv[i], "--timeout"))
                        opt.timeout_s = (int)num_arg(argc, argv, &i, 1, usage);
                else if (!strcmp(argv[i], "--tmpdir") && i + 1 < argc)
                        opt.tmpdir = argv[++i];
                else if (!strcmp(argv[i], "--keep-topics"))
                        opt.keep_topics = 1;
                else if (!strcmp(argv[i], "--rdkafka") && i + 1 < argc) {
                        if (!strchr(argv[++i], '=') || opt.rk_prop_cnt == 64)
                                usage();
                        opt.rk_props[opt.rk_prop_cnt++] = argv[i];
                } else if (!strcmp(argv[i], "--stores") && i + 1 < argc) {
                        char *tok;
                        snprintf(stores_buf, sizeof(stores_buf), "%s",
                                 argv[++i]);
                        opt.store_cnt = 0;
                        for (tok = strtok(stores_buf, ","); tok;
                             tok = strtok(NULL, ","))
                                if (opt.store_cnt < MAX_STORES)
                                        opt.stores[opt.store_cnt++] = tok;
                } else if (!strcmp(argv[i], "--child") && i + 1 < argc)
                        opt.child_store = argv[++i];
                else if (!strcmp(argv[i], "--app-id") && i + 1 < argc)
                        opt.app_id = argv[++i];
                else
                        usage();
        }
        if (!opt.bootstrap || !*opt.bootstrap || opt.runs > MAX_RUNS)
                usage();
        if (opt.app_id)
                snprintf(app_id, sizeof(app_id), "%s", opt.app_id);
        else
                snprintf(app_id, sizeof(app_id), "bench-restore-%ld",
                         (long)getpid());
        snprintf(in_topic, sizeof(in_topic), "%s-in", app_id);
        snprintf(out_topic, sizeof(out_topic), "%s-out", app_id);
        snprintf(clog_topic, sizeof(clog_topic), "%s-counts-changelog", app_id);
        if (opt.child_store)
                return run_child();
        if (!opt.store_cnt) {
                opt.stores[opt.store_cnt++] = "in_memory";
                opt.stores[opt.store_cnt++] = "lmdb";
        }

        printf("bench/restore: librdkafka %s, sluice %s, broker %s; %ld "
               "changelog records, %d run(s) per store, application.id %s\n",
               rd_kafka_version_str(), sluice_version_str(), opt.bootstrap,
               opt.records, opt.runs, app_id);
        for (i = 0; i < opt.rk_prop_cnt; i++)
                printf("  app property: %s\n", opt.rk_props[i]);
        print_load("start");
        topic_create(clog_topic, 1);
        topic_create(in_topic, 0);
        topic_create(out_topic, 0);
        load_changelog();

        for (r = 0; r < opt.runs; r++) {
                for (i = 0; i < opt.store_cnt; i++) {
                        result_t x;
                        s = (i + r) % opt.store_cnt; /* alternate the first */
                        x = spawn_child(opt.stores[s]);
                        if (x.restored != (unsigned long long)opt.records ||
                            x.start != 0 || x.end != opt.records || !x.ok)
                                die("a %s restore restored the wrong records "
                                    "(or the store disagrees)",
                                    opt.stores[s]);
                        rate[s][r]    = (double)x.restored / x.secs;
                        secs[s][r]    = x.secs;
                        cpm[s][r]     = x.cpu / ((double)x.restored / 1e6);
                        bpm[s][r]     = x.broker / ((double)x.restored / 1e6);
                        perkey[s][r]  = (double)(x.rss1 - x.rss0) * 1024.0 /
                                       (double)x.restored;
                        rssmb[s][r]   = (double)x.rss1 * 1024.0 / 1e6;
                        startup[s][r] = x.startup;
                        if (x.broker < 0)
                                have_broker = 0;
                        printf("run %d %-9s %llu records restored in %.2f s: "
                               "%9.0f records/s, %.3f CPU-s/M",
                               r + 1, opt.stores[s], x.restored, x.secs,
                               rate[s][r], cpm[s][r]);
                        if (x.broker >= 0)
                                printf(", broker %.3f CPU-s/M", bpm[s][r]);
                        printf("  (app start to START %.2f s; VmRSS %.0f -> "
                               "%.0f MB (anon %.0f, file %.0f), peak %.0f MB; "
                               "close %.2f s)\n",
                               x.startup, (double)x.rss0 * 1024.0 / 1e6,
                               rssmb[s][r], (double)x.anon * 1024.0 / 1e6,
                               (double)x.file * 1024.0 / 1e6,
                               (double)x.hwm * 1024.0 / 1e6, x.close);
                        fflush(stdout);
                }
        }
        if (!opt.keep_topics) {
                const char *names[] = {clog_topic, in_topic, out_topic};
                topics_delete(opt.bootstrap, names, 3);
        }

        printf("\nmedian of %d run(s), %ld records restored per run:\n",
               opt.runs, opt.records);
        printf("  %-9s %9s %11s %9s %9s %10s %10s %9s\n", "store", "seconds",
               "records/s", "CPU-s/M", "broker", "VmRSS", "bytes/key",
               "startup");
        printf("  %-9s %9s %11s %9s %9s %10s %10s %9s\n", "", "", "(wall)",
               "(app)", "CPU-s/M", "after, MB", "(RSS)", "s");
        for (s = 0; s < opt.store_cnt; s++) {
                double mr = median(rate[s], opt.runs);
                printf("  %-9s %9.2f %11.0f %9.3f", opt.stores[s],
                       median(secs[s], opt.runs), mr, median(cpm[s], opt.runs));
                if (have_broker)
                        printf(" %9.3f", median(bpm[s], opt.runs));
                else
                        printf(" %9s", "-");
                printf(" %10.0f", median(rssmb[s], opt.runs));
                if (!strcmp(opt.stores[s], "in_memory"))
                        printf(" %10.1f", median(perkey[s], opt.runs));
                else /* its pages are in the data file / page cache */
                        printf(" %10s", "-");
                printf(" %9.2f   %s (target >= %.0f records/s)\n",
                       median(startup[s], opt.runs),
                       mr >= TARGET_RATE ? "MET" : "NOT MET", TARGET_RATE);
        }
        for (s = 0; s < opt.store_cnt; s++)
                if (!strcmp(opt.stores[s], "in_memory"))
                        printf("  memory store after restoring %ld keys: "
                               "%.1f MB resident per 1M keys (VmRSS "
                               "growth, librdkafka's buffers included)\n",
                               opt.records, median(perkey[s], opt.runs));
        for (s = 0; s < opt.store_cnt; s++)
                if (strcmp(opt.stores[s], "in_memory"))
                        break;
        if (s < opt.store_cnt)
                printf("  (lmdb: bytes/key not given, its pages live in the data file "
               "and the page cache, mostly outside VmRSS)\n");
        printf("\n");
        print_load("end");
        printf("bench/restore took %.0f s\n", wall_now() - t_begin);
        return 0;
}
