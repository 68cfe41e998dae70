/*
 * app_features.c - examples/features.c's topology as a process for the
 * integration tests (tests/integration/test_windows_it.c runs several):
 * per-user windowed features over JSON payments. The topology and its
 * settings are the example's own (compiled in with -DFEATURES_NO_MAIN,
 * declared in examples/features_pipeline.h); this file adds the options
 * and the lines a test reads.
 *
 * Usage:
 *   app_features --app-id ID --in TOPIC --out TOPIC [options]
 *     --bootstrap HOST:PORT  default: $SLUICE_TEST_BOOTSTRAP
 *     --state-dir DIR        state.dir (default: Sluice's)
 *     --commit-ms C          commit.interval.ms (default 500)
 *     --threads N            num.stream.threads (default 1)
 *     --conf KEY=VALUE       any other configuration (repeatable; after
 *                            the example's, so it wins)
 *     --log-level N          Sluice's log level to stderr (default 4)
 *
 * Every option can also come from the environment: APP_FEAT_APP_ID,
 * APP_FEAT_IN, APP_FEAT_OUT, APP_FEAT_STATE_DIR, APP_FEAT_COMMIT_MS,
 * APP_FEAT_THREADS, APP_FEAT_LOG_LEVEL (arguments win).
 *
 * stdout, one line each, flushed (t= is CLOCK_MONOTONIC in ms):
 *   RUNNING            every time the app's state becomes RUNNING
 *   TASKS t=T LIST     the app's tasks changed: LIST is the sorted,
 *                      comma-separated task ids (<sub-topology>_<partition>,
 *                      "-" for none), from sluice_app_metrics_json() (polled
 *                      every 20 ms; the figures are ~100 ms old)
 *   REPLAYS N t=T      the window updates skipped as replays (payments a
 *                      restored window held already) became N
 *   PROCESSED N        after a clean close on SIGTERM/SIGINT; exit 0
 *   ERROR: TEXT        the app went to ERROR or could not start; exit 2
 * Exit 64 on a usage error; 3 at once if the parent process dies (a test
 * that failed or timed out), so that no instance outlives its test.
 */
#include <sluice.h>

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_common.h"
#include "features_pipeline.h"

static long long mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_state(sluice_app_t *app, sluice_app_state_t old_state,
                     sluice_app_state_t new_state, void *opaque) {
        (void)app;
        (void)old_state;
        (void)opaque;
        if (new_state == SLUICE_APP_RUNNING)
                say("RUNNING");
}

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        (void)opaque;
        fprintf(stderr, "app_features[%ld] %lld %d %s: %s\n", (long)getpid(),
                mono_ms(), (int)level, facility, message);
}

/* ---- the TASKS and REPLAYS lines ---- */

typedef struct {
        features_stats_t stats;
        char tasks[1024];
        unsigned long long replays;
} watch_t;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every tick of the main loop. */
static void watch(sluice_app_t *app, void *opaque) {
        watch_t *w = opaque;
        char *m = sluice_app_metrics_json(app), list[1024];
        json_t *j = m ? json_loads(m, 0, NULL) : NULL, *thr, *task;
        const char *ids[256];
        size_t i, k, n = 0, len = 0;
        unsigned long long replays = atomic_load(&w->stats.replays);
        free(m);
        if (j) {
                json_array_foreach(json_object_get(j, "threads"), i, thr)
                    json_array_foreach(json_object_get(thr, "tasks"), k, task)
                        if (n < 256 && json_string_value(
                                           json_object_get(task, "task")))
                                ids[n++] = json_string_value(
                                    json_object_get(task, "task"));
                qsort(ids, n, sizeof(*ids), cmp_str);
                list[0] = '\0';
                for (i = 0; i < n && len < sizeof(list); i++) {
                        int c = snprintf(list + len, sizeof(list) - len,
                                         "%s%s", i ? "," : "", ids[i]);
                        len += c > 0 ? (size_t)c : 0;
                }
                if (!n)
                        snprintf(list, sizeof(list), "-");
                if (strcmp(list, w->tasks)) {
                        snprintf(w->tasks, sizeof(w->tasks), "%s", list);
                        printf("TASKS t=%lld %s\n", mono_ms(), list);
                        fflush(stdout);
                }
                json_decref(j);
        }
        if (replays != w->replays) {
                w->replays = replays;
                printf("REPLAYS %llu t=%lld\n", replays, mono_ms());
                fflush(stdout);
        }
}

static void usage(const char *why) {
        fprintf(stderr,
                "app_features: %s\n"
                "usage: app_features --app-id ID --in TOPIC --out TOPIC "
                "[--bootstrap B] [--state-dir DIR]\n"
                "       [--commit-ms C] [--threads N] [--conf KEY=VALUE]... "
                "[--log-level N]\n",
                why);
        exit(64);
}

int main(int argc, char **argv) {
        const char *state_dir = env_or("APP_FEAT_STATE_DIR", NULL);
        char err[512];
        int i, bad;
        watch_t w;
        app_opts_t o;
        sluice_topology_t *t;
        sluice_conf_t *conf;
        sluice_app_t *app;
        pid_t parent = getppid();

        memset(&w, 0, sizeof(w));
        atomic_init(&w.stats.replays, 0);
        app_opts_init(&o, "APP_FEAT", "500");
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (!strcmp(a, "--state-dir") && i + 1 < argc)
                        state_dir = argv[++i];
                else
                        usage(a);
        }
        app_opts_check(&o, usage);
        catch_stop_signals();

        t    = features_topology(o.in, o.out, &w.stats);
        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               NULL);
        if ((bad = features_configure(conf, err, sizeof(err))))
                say_error(err);
        if (bad || app_conf_common(conf, &o) ||
            conf_set(conf, "state.dir", state_dir) ||
            app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        if (!(app = app_start(t, conf, on_state, NULL)))
                return 2;
        run_until_stopped(app, "app_features", parent, watch, &w);
        return app_finish(app, t);
}
