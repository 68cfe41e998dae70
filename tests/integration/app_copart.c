/*
 * app_copart.c - the integration tests' application with two source topics
 * in one sub-topology (tests/integration/placement_it.c runs several):
 *
 *   left + right -> merge -> group_by_key -> count("counts") -> out
 *
 * A key's records in both topics meet in one task only if partition p of
 * both topics is read by one instance: if not, two instances count the
 * same key apart and the key's last count comes out short.
 *
 * With --second, a second stateful sub-topology too: the merged stream
 * through a repartition topic "<app>-again-repartition" into
 * count("counts2") (no output), to see how tasks of two stateful
 * sub-topologies spread over instances.
 *
 * Usage:
 *   app_copart --app-id ID --in LEFT --right RIGHT --out TOPIC [--second]
 *              [options]
 *     --bootstrap, --threads, --commit-ms, --conf KEY=VALUE, --log-level
 *     as app_upper (tests/integration/app_common.h; group.protocol from
 *     $SLUICE_TEST_GROUP_PROTOCOL)
 *
 * stdout, one line each, flushed:
 *   RUNNING               each time the app's state becomes RUNNING
 *   POS <ms> <t>:<p>:<pos> ...
 *                         every 100 ms: the wall-clock time (ms since the
 *                         epoch) and each assigned partition with the
 *                         consumer's position (-1001: none yet), over all
 *                         threads, from sluice_app_metrics_json()
 *   PROCESSED <n>         after a clean close on SIGTERM; exit 0
 *   ERROR: <text>         then exit 2
 */
#include <sluice.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_common.h"

static void usage(const char *why) {
        fprintf(stderr, "app_copart: %s\n"
                        "usage: app_copart --app-id ID --in LEFT --right RIGHT "
                        "--out TOPIC [--bootstrap B] [--threads N] "
                        "[--commit-ms C] [--conf K=V] [--log-level N]\n",
                why);
        exit(64);
}

static long long wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        (void)opaque;
        fprintf(stderr, "app_copart[%ld] %lld %d %s: %s\n", (long)getpid(),
                wall_ms(), (int)level, facility, message);
}

typedef struct {
        long long last_ms;
} tick_t;

/* every 100 ms: a POS line from the metrics' per-thread "lag" arrays */
static void say_positions(sluice_app_t *app, void *opaque) {
        tick_t *tk   = opaque;
        long long now = wall_ms();
        char *json, line[8192];
        json_t *root, *threads;
        size_t i, k, len;
        if (now - tk->last_ms < 100)
                return;
        tk->last_ms = now;
        if (!(json = sluice_app_metrics_json(app)))
                return;
        root = json_loads(json, 0, NULL);
        free(json);
        threads = json_object_get(root, "threads");
        len = (size_t)snprintf(line, sizeof(line), "POS %lld", now);
        for (i = 0; i < json_array_size(threads); i++) {
                json_t *lag = json_object_get(json_array_get(threads, i), "lag");
                for (k = 0; k < json_array_size(lag); k++) {
                        json_t *e = json_array_get(lag, k);
                        int n = snprintf(
                            line + len, sizeof(line) - len, " %s:%d:%lld",
                            json_string_value(json_object_get(e, "topic")),
                            (int)json_integer_value(
                                json_object_get(e, "partition")),
                            (long long)json_integer_value(
                                json_object_get(e, "position")));
                        if (n > 0 && (size_t)n < sizeof(line) - len)
                                len += (size_t)n;
                }
        }
        json_decref(root);
        say(line);
}

int main(int argc, char **argv) {
        app_opts_t o;
        const char *right = NULL;
        int second        = 0;
        sluice_stream_t *merged;
        sluice_conf_t *conf;
        sluice_topology_t *t;
        sluice_app_t *app;
        tick_t tk = {0};
        pid_t parent = getppid();
        int i;

        app_opts_init(&o, "APP_COPART", "200");
        for (i = 1; i < argc; i++) {
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (!strcmp(argv[i], "--right") && i + 1 < argc)
                        right = argv[++i];
                else if (!strcmp(argv[i], "--second"))
                        second = 1;
                else
                        usage(argv[i]);
        }
        app_opts_check(&o, usage);
        if (!right)
                usage("--right is required");

        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               NULL);
        if (app_conf_common(conf, &o) || app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                return 2;
        }
        t      = sluice_topology_new();
        merged = sluice_stream_merge(
            sluice_stream_from(t, o.in, sluice_serde_string(),
                               sluice_serde_string()),
            sluice_stream_from(t, right, sluice_serde_string(),
                               sluice_serde_string()));
        sluice_stream_to(sluice_table_to_stream(sluice_grouped_count(
                             sluice_stream_group_by_key(merged, NULL, NULL),
                             "counts")),
                         o.out, NULL, NULL);
        if (second)
                sluice_grouped_count(
                    sluice_stream_group_by_key(
                        sluice_stream_repartition(merged, "again", 0), NULL,
                        NULL),
                    "counts2");
        catch_stop_signals();
        if (!(app = app_start(t, conf, app_say_running, NULL)))
                return 2;
        run_until_stopped(app, "app_copart", parent, say_positions, &tk);
        return app_finish(app, t);
}
