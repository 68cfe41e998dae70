/*
 * app_enrich.c - examples/enrich.c's topology (orders enriched by three
 * joins) as a process for the integration tests
 * (tests/integration/joins_it.c runs several). The topology and its
 * settings are the example's own (compiled in with -DENRICH_NO_MAIN,
 * declared in examples/enrich_pipeline.h); this file adds the options and
 * the lines a test reads.
 *
 * Usage:
 *   app_enrich --app-id ID --in PREFIX --out PREFIXorders-enriched [options]
 *     --in PREFIX            the topics' prefix: PREFIXcustomers,
 *                            PREFIXcustomer-tiers, PREFIXorders,
 *                            PREFIXshipments; --out must be
 *                            PREFIXorders-enriched (the example's names)
 *     --bootstrap HOST:PORT  default: $SLUICE_TEST_BOOTSTRAP
 *     --state-dir DIR        state.dir (default: Sluice's)
 *     --commit-ms C          commit.interval.ms (default 500)
 *     --threads N, --conf KEY=VALUE, --log-level N: as app_features
 *     --global               not the example: PREFIXcustomers as a global
 *                            table (store "customers-global"), PREFIXorders
 *                            left-joined with it by the order's "customer"
 *                            field (+ "name", "city"), to --out
 *
 * stdout, one line each, flushed (t= is CLOCK_MONOTONIC in ms):
 *   RUNNING            every time the app's state becomes RUNNING
 *   INPUTS t=T LIST    the tasks' inputs changed (polled every 20 ms from
 *                      sluice_app_metrics_json()): LIST is, per task in
 *                      task id order, "<task>=<topic>@<partition>+..."
 *                      with the topics without PREFIX, ";" between tasks,
 *                      "-" for none
 *   PROCESSED N        after a clean close on SIGTERM/SIGINT; exit 0
 *   ERROR: TEXT        the app went to ERROR or could not start; exit 2
 * Exit 64 on a usage error; 3 at once if the parent process dies.
 */
#include <sluice.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_common.h"
#include "enrich_pipeline.h"

static long long mono_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        (void)opaque;
        fprintf(stderr, "app_enrich[%ld] %lld %d %s: %s\n", (long)getpid(),
                mono_ms(), (int)level, facility, message);
}

typedef struct {
        const char *prefix;
        char last[8192];
} watch_t;

typedef struct {
        const char *id;
        char text[1024];
} task_text_t;

static int cmp_task(const void *a, const void *b) {
        return strcmp(((const task_text_t *)a)->id,
                      ((const task_text_t *)b)->id);
}

/* Every tick: an INPUTS line if the tasks' inputs changed. */
static void watch(sluice_app_t *app, void *opaque) {
        watch_t *w = opaque;
        char *m    = sluice_app_metrics_json(app), list[8192];
        json_t *j  = m ? json_loads(m, 0, NULL) : NULL, *thr, *task, *in;
        static task_text_t tt[64];
        size_t i, k, q, n = 0, len = 0, pl = strlen(w->prefix);
        free(m);
        if (!j)
                return;
        json_array_foreach(json_object_get(j, "threads"), i, thr)
            json_array_foreach(json_object_get(thr, "tasks"), k, task) {
                size_t tl = 0;
                const char *id =
                    json_string_value(json_object_get(task, "task"));
                if (!id || n == 64)
                        continue;
                tt[n].id      = id;
                tt[n].text[0] = '\0';
                json_array_foreach(json_object_get(task, "inputs"), q, in) {
                        const char *topic =
                            json_string_value(json_object_get(in, "topic"));
                        int c;
                        if (!topic)
                                continue;
                        if (!strncmp(topic, w->prefix, pl))
                                topic += pl;
                        c = snprintf(tt[n].text + tl, sizeof(tt[n].text) - tl,
                                     "%s%s@%d", q ? "+" : "", topic,
                                     (int)json_integer_value(
                                         json_object_get(in, "partition")));
                        if (c > 0 && (size_t)c < sizeof(tt[n].text) - tl)
                                tl += (size_t)c;
                }
                n++;
        }
        qsort(tt, n, sizeof(*tt), cmp_task);
        list[0] = '\0';
        for (i = 0; i < n; i++) {
                int c = snprintf(list + len, sizeof(list) - len, "%s%s=%s",
                                 i ? ";" : "", tt[i].id, tt[i].text);
                if (c > 0 && (size_t)c < sizeof(list) - len)
                        len += (size_t)c;
        }
        if (!n)
                snprintf(list, sizeof(list), "-");
        if (strcmp(list, w->last)) {
                snprintf(w->last, sizeof(w->last), "%s", list);
                printf("INPUTS t=%lld %s\n", mono_ms(), list);
                fflush(stdout);
        }
        json_decref(j);
}

/* ---- --global: a stream-global table join ---- */

static int customer_of(const sluice_value_t *key, const sluice_value_t *value,
                       sluice_value_t *out, void *opaque) {
        const char *c = value->type == SLUICE_VALUE_JSON
                            ? json_string_value(
                                  json_object_get(value->u.json, "customer"))
                            : NULL;
        (void)key;
        (void)opaque;
        *out = c ? sluice_str(c) : sluice_null();
        return 0;
}

static json_t *field_or_null(const sluice_value_t *o, const char *name) {
        json_t *f = o && o->type == SLUICE_VALUE_JSON
                        ? json_object_get(o->u.json, name)
                        : NULL;
        return f ? json_incref(f) : json_null();
}

static int add_row(const sluice_value_t *key, const sluice_value_t *order,
                   const sluice_value_t *row, sluice_value_t *out,
                   void *opaque) {
        json_t *o = order->type == SLUICE_VALUE_JSON ? json_copy(order->u.json)
                                                     : NULL;
        (void)key;
        (void)opaque;
        if (!o || json_object_set_new(o, "name", field_or_null(row, "name")) ||
            json_object_set_new(o, "city", field_or_null(row, "city"))) {
                json_decref(o);
                return -1;
        }
        *out = sluice_json_new(o);
        return 0;
}

static sluice_topology_t *global_topology(const char *prefix,
                                          const char *out) {
        sluice_topology_t *t = sluice_topology_new();
        char n_cust[512], n_ord[512];
        sluice_global_table_t *gt;
        sluice_stream_t *s;
        if (!t)
                return NULL;
        snprintf(n_cust, sizeof(n_cust), "%scustomers", prefix);
        snprintf(n_ord, sizeof(n_ord), "%sorders", prefix);
        gt = sluice_global_table_from(t, n_cust, sluice_serde_string(),
                                      sluice_serde_json(), "customers-global");
        s  = sluice_stream_from(t, n_ord, sluice_serde_string(),
                                sluice_serde_json());
        s  = sluice_stream_left_join_global(s, gt, customer_of, add_row, NULL,
                                            sluice_serde_json());
        sluice_stream_to(s, out, sluice_serde_string(), sluice_serde_json());
        return t;
}

static void usage(const char *why) {
        fprintf(stderr,
                "app_enrich: %s\n"
                "usage: app_enrich --app-id ID --in PREFIX --out "
                "PREFIXorders-enriched [--bootstrap B] [--state-dir DIR]\n"
                "       [--commit-ms C] [--threads N] [--conf KEY=VALUE]... "
                "[--log-level N] [--global]\n",
                why);
        exit(64);
}

int main(int argc, char **argv) {
        const char *state_dir = env_or("APP_ENRICH_STATE_DIR", NULL);
        char err[512], want_out[512];
        int i, global = 0;
        static watch_t w;
        app_opts_t o;
        sluice_topology_t *t;
        sluice_conf_t *conf;
        sluice_app_t *app;
        pid_t parent = getppid();

        app_opts_init(&o, "APP_ENRICH", "500");
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (!strcmp(a, "--state-dir") && i + 1 < argc)
                        state_dir = argv[++i];
                else if (!strcmp(a, "--global"))
                        global = 1;
                else
                        usage(a);
        }
        app_opts_check(&o, usage);
        snprintf(want_out, sizeof(want_out), "%sorders-enriched", o.in);
        if (strcmp(o.out, want_out))
                usage("--out must be PREFIXorders-enriched");
        w.prefix = o.in;
        catch_stop_signals();

        t    = global ? global_topology(o.in, o.out) : enrich_topology(o.in);
        conf = sluice_conf_new();
        if (!t || !conf) {
                say_error("out of memory");
                return 2;
        }
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               NULL);
        if (enrich_configure(conf, err, sizeof(err))) {
                say_error(err);
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        if (app_conf_common(conf, &o) ||
            conf_set(conf, "state.dir", state_dir) ||
            app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        if (!(app = app_start(t, conf, app_say_running, NULL)))
                return 2;
        run_until_stopped(app, "app_enrich", parent, watch, &w);
        return app_finish(app, t);
}
