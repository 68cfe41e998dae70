/*
 * app_wordcount.c - a stateful Sluice application for the integration tests
 * (one process; tests/integration/test_integration.c runs several of them).
 *
 * Topology: the running word count.
 *   in (string key, string line)
 *     -> flat_map: one record per space-separated word (key = value = word)
 *     -> group_by_key (repartitions: <app.id>-counts-repartition)
 *     -> count into the store "counts" (<app.id>-counts-changelog)
 *     -> to_stream -> out (string key, int64 value: 8 bytes big-endian)
 *
 * Usage:
 *   app_wordcount --app-id ID --in TOPIC --out TOPIC [options]
 *     --bootstrap HOST:PORT  default: $SLUICE_TEST_BOOTSTRAP
 *     --state-dir DIR        state.dir (default: Sluice's)
 *     --store TYPE           default.dsl.store: in_memory (default) | lmdb
 *     --commit-ms C          commit.interval.ms (default 500)
 *     --threads N            num.stream.threads (default 1)
 *     --conf KEY=VALUE       any other configuration (repeatable)
 *     --log-level N          Sluice's log level to stderr (default 4)
 *
 * Every option can also come from the environment: APP_WC_APP_ID, APP_WC_IN,
 * APP_WC_OUT, APP_WC_STATE_DIR, APP_WC_STORE, APP_WC_COMMIT_MS,
 * APP_WC_THREADS, APP_WC_LOG_LEVEL (arguments win).
 *
 * stdout, one line each, flushed (t= is CLOCK_MONOTONIC in ms, the same
 * clock as the test runner's):
 *   RUNNING               every time the app's state becomes RUNNING
 *   RESTORED store=S partition=P start=A end=E restored=N
 *                         a store instance is up to date (the restore
 *                         listener's END event; also when nothing needed
 *                         restoring)
 *   TASKS t=T LIST        the app's tasks changed: LIST is the sorted,
 *                         comma-separated task ids (<sub-topology>_<partition>,
 *                         "-" for none), from sluice_app_metrics_json()
 *                         (polled every 20 ms; the figures are ~100 ms old)
 *   COMMITS N t=T         the number of commits (all threads) became N
 *   PROCESSED N           after a clean close on SIGTERM/SIGINT; exit 0
 *   ERROR: TEXT           the app went to ERROR or could not start; exit 2
 * Exit 64 on a usage error. If the parent process dies (a test that failed
 * or timed out), the program exits at once with status 3, so no instance
 * outlives its test.
 */
#include <sluice.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_common.h"

static long long mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        (void)opaque;
        fprintf(stderr, "app_wordcount[%ld] %lld %d %s: %s\n", (long)getpid(),
                mono_ms(), (int)level, facility, message);
}

/* key = value = each space-separated word of the line */
static int split_words(const sluice_record_t *rec, sluice_emitter_t *out,
                       void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p, *end;
        int err;
        (void)opaque;
        if (v->type != SLUICE_VALUE_STRING)
                return 0; /* a null line has no words */
        p   = v->u.bytes.data;
        end = p + v->u.bytes.len;
        while (p < end) {
                const char *w;
                while (p < end && *p == ' ')
                        p++;
                w = p;
                while (p < end && *p != ' ')
                        p++;
                if (p > w && (err = sluice_emit(out,
                                                sluice_strn(w, (size_t)(p - w)),
                                                sluice_strn(w, (size_t)(p - w)))))
                        return err;
        }
        return 0;
}

/* ---- the TASKS / COMMITS lines, from the metrics ---- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* what the last TASKS / COMMITS lines said */
typedef struct {
        char tasks[2048];
        unsigned long long commits;
} seen_t;

/* Sorted task ids and the commits of all threads, from the metrics JSON
 * (its own fields only: librdkafka's statistics are null unless
 * statistics.interval.ms is set, and say neither "task" nor "commits").
 * Every tick of the main loop; @opaque is the seen_t. */
static void watch_metrics(sluice_app_t *app, void *opaque) {
        seen_t *seen = opaque;
        char *json = sluice_app_metrics_json(app), *ids[256], list[2048];
        const char *s;
        size_t n = 0, i, len = 0;
        unsigned long long commits = 0;
        if (!json)
                return;
        for (s = json; (s = strstr(s, "\"commits\":")); s += 10)
                commits += strtoull(s + 10, NULL, 10);
        for (s = json; n < 256 && (s = strstr(s, "\"task\":\"")); s += 8) {
                const char *q = strchr(s + 8, '"');
                if (!q)
                        break;
                ids[n] = strndup(s + 8, (size_t)(q - s - 8));
                if (ids[n])
                        n++;
        }
        free(json);
        qsort(ids, n, sizeof(*ids), cmp_str);
        list[0] = '\0';
        for (i = 0; i < n; i++) {
                int k = snprintf(list + len, sizeof(list) - len, "%s%s",
                                 i ? "," : "", ids[i]);
                if (k > 0 && (size_t)k < sizeof(list) - len)
                        len += (size_t)k;
                free(ids[i]);
        }
        if (!n)
                snprintf(list, sizeof(list), "-");
        if (strcmp(list, seen->tasks)) {
                snprintf(seen->tasks, sizeof(seen->tasks), "%s", list);
                printf("TASKS t=%lld %s\n", mono_ms(), list);
                fflush(stdout);
        }
        if (commits != seen->commits) {
                seen->commits = commits;
                printf("COMMITS %llu t=%lld\n", commits, mono_ms());
                fflush(stdout);
        }
}

static void usage(const char *why) {
        fprintf(stderr,
                "app_wordcount: %s\n"
                "usage: app_wordcount --app-id ID --in TOPIC --out TOPIC "
                "[--bootstrap B] [--state-dir DIR]\n"
                "       [--store in_memory|lmdb] [--commit-ms C] "
                "[--threads N] [--conf KEY=VALUE]... [--log-level N]\n",
                why);
        exit(64);
}

int main(int argc, char **argv) {
        const char *state_dir = env_or("APP_WC_STATE_DIR", NULL);
        const char *store     = env_or("APP_WC_STORE", "in_memory");
        int i;
        seen_t seen = {"", 0};
        app_opts_t o;
        sluice_topology_t *t;
        sluice_stream_t *s;
        sluice_conf_t *conf;
        sluice_app_t *app;
        pid_t parent = getppid();

        app_opts_init(&o, "APP_WC", "500");
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && (i + 1 < argc || (usage(a), 0)))
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (ARG("--state-dir"))
                        state_dir = argv[++i];
                else if (ARG("--store"))
                        store = argv[++i];
                else
                        usage(a);
#undef ARG
        }
        app_opts_check(&o, usage);
        catch_stop_signals();

        t = sluice_topology_new();
        s = sluice_stream_from(t, o.in, sluice_serde_string(),
                               sluice_serde_string());
        s = sluice_stream_flat_map(s, split_words, NULL);
        s = sluice_table_to_stream(sluice_grouped_count(
            sluice_stream_group_by_key(s, sluice_serde_string(),
                                       sluice_serde_string()),
            "counts"));
        sluice_stream_to(s, o.out, sluice_serde_string(), sluice_serde_int64());

        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               NULL);
        sluice_conf_set_restore_cb(conf, app_say_restored, NULL);
        if (app_conf_common(conf, &o) ||
            conf_set(conf, "state.dir", state_dir) ||
            conf_set(conf, "default.dsl.store", store) ||
            app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }

        if (!(app = app_start(t, conf, app_say_running, NULL)))
                return 2;
        run_until_stopped(app, "app_wordcount", parent, watch_metrics, &seen);
        return app_finish(app, t);
}
