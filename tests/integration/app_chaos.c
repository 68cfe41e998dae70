/*
 * app_chaos.c - the application tests/integration/chaos.sh runs as several
 * instances while it kills them and the brokers (one process; see
 * chaos.sh for the whole).
 *
 * Topology, over records keyed by a unique id whose value is "<key>
 * <amount>" (tests/integration/chaos_tool.c produces them):
 *   in --filter(amount even)--> out        the filtered copy, as it came
 *   in --map(key := <key>, value := int64 amount)
 *      --group_by_key (repartitions: <app.id>-sums-repartition)
 *      --reduce(+) into the store "sums" (<app.id>-sums-changelog)
 *      --to_stream--> sums (string key, int64 value)
 *
 * Usage:
 *   app_chaos --app-id ID --in TOPIC --out TOPIC --sums TOPIC [options]
 *     --bootstrap HOST:PORT  default: $SLUICE_TEST_BOOTSTRAP
 *     --guarantee G          processing.guarantee (default exactly_once_v2)
 *     --state-dir DIR        state.dir
 *     --store TYPE           default.dsl.store (default lmdb)
 *     --commit-ms C          commit.interval.ms (default: Sluice's)
 *     --threads N            num.stream.threads (default 1)
 *     --conf KEY=VALUE       any other configuration (repeatable)
 *     --log-level N          Sluice's log level to stderr (default 4)
 *
 * stdout, one line each, flushed:
 *   RUNNING               every time the app's state becomes RUNNING
 *   RESTORED store=S partition=P start=A end=E restored=N
 *                         a store instance is up to date (the listener's END)
 *   ABORTS N              the transactions aborted (all threads) became N
 *   PROCESSED N           after a clean close on SIGTERM/SIGINT; exit 0
 *   ERROR: TEXT           the app went to ERROR or could not start; exit 2
 * Exit 64 on a usage error, 3 when the parent died.
 */
#include <sluice.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_common.h"

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        struct timespec ts;
        (void)opaque;
        clock_gettime(CLOCK_REALTIME, &ts);
        fprintf(stderr, "app_chaos[%ld] %lld.%03ld %d %s: %s\n",
                (long)getpid(), (long long)ts.tv_sec, ts.tv_nsec / 1000000,
                (int)level, facility, message);
}

/* "<key> <amount>": the amount, or -1 */
static long long amount_of(const sluice_value_t *v, size_t *key_len) {
        const char *p, *sp;
        if (v->type != SLUICE_VALUE_STRING)
                return -1;
        p  = v->u.bytes.data;
        sp = memchr(p, ' ', v->u.bytes.len);
        if (!sp)
                return -1;
        *key_len = (size_t)(sp - p);
        return strtoll(sp + 1, NULL, 10);
}

static bool even_amount(const sluice_record_t *rec, void *opaque) {
        size_t kl;
        (void)opaque;
        return amount_of(sluice_record_value(rec), &kl) % 2 == 0;
}

static int to_key_amount(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        size_t kl = 0;
        long long a = amount_of(v, &kl);
        int err;
        (void)opaque;
        if (a < 0)
                return SLUICE_ERR_SERDE;
        if ((err = sluice_record_set_key(rec, sluice_strn(v->u.bytes.data,
                                                          kl))))
                return err;
        return sluice_record_set_value(rec, sluice_int64(a));
}

static int add(const sluice_value_t *agg, const sluice_value_t *value,
               sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_int64(agg->u.i64 + value->u.i64);
        return 0;
}

/* The ABORTS line, from the metrics (every tick of the main loop). */
static void watch_aborts(sluice_app_t *app, void *opaque) {
        unsigned long long *seen = opaque, n = 0;
        char *json = sluice_app_metrics_json(app);
        const char *s;
        if (!json)
                return;
        for (s = json; (s = strstr(s, "\"transactions_aborted\":")); s += 23)
                n += strtoull(s + 23, NULL, 10);
        free(json);
        if (n != *seen) {
                *seen = n;
                printf("ABORTS %llu\n", n);
                fflush(stdout);
        }
}

static void usage(const char *why) {
        fprintf(stderr,
                "app_chaos: %s\n"
                "usage: app_chaos --app-id ID --in TOPIC --out TOPIC --sums "
                "TOPIC [--bootstrap B]\n"
                "       [--guarantee G] [--state-dir DIR] [--store TYPE] "
                "[--commit-ms C] [--threads N]\n"
                "       [--conf KEY=VALUE]... [--log-level N]\n",
                why);
        exit(64);
}

int main(int argc, char **argv) {
        const char *state_dir = NULL, *store = "lmdb", *sums = NULL,
                   *guarantee = "exactly_once_v2";
        unsigned long long aborts = 0;
        int i;
        app_opts_t o;
        sluice_topology_t *t;
        sluice_stream_t *in, *s;
        sluice_conf_t *conf;
        sluice_app_t *app;
        pid_t parent = getppid();

        app_opts_init(&o, "APP_CHAOS", NULL);
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && (i + 1 < argc || (usage(a), 0)))
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (ARG("--state-dir"))
                        state_dir = argv[++i];
                else if (ARG("--store"))
                        store = argv[++i];
                else if (ARG("--sums"))
                        sums = argv[++i];
                else if (ARG("--guarantee"))
                        guarantee = argv[++i];
                else
                        usage(a);
#undef ARG
        }
        app_opts_check(&o, usage);
        if (!sums)
                usage("--sums is required");
        catch_stop_signals();

        t  = sluice_topology_new();
        in = sluice_stream_from(t, o.in, sluice_serde_string(),
                                sluice_serde_string());
        sluice_stream_to(sluice_stream_filter(in, even_amount, NULL), o.out,
                         sluice_serde_string(), sluice_serde_string());
        s = sluice_stream_map(in, to_key_amount, NULL);
        s = sluice_table_to_stream(sluice_grouped_reduce(
            sluice_stream_group_by_key(s, sluice_serde_string(),
                                       sluice_serde_int64()),
            add, NULL, NULL, "sums"));
        sluice_stream_to(s, sums, sluice_serde_string(), sluice_serde_int64());

        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               NULL);
        sluice_conf_set_restore_cb(conf, app_say_restored, NULL);
        if (app_conf_common(conf, &o) ||
            conf_set(conf, "processing.guarantee", guarantee) ||
            conf_set(conf, "state.dir", state_dir) ||
            conf_set(conf, "default.dsl.store", store) ||
            app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        if (!(app = app_start(t, conf, app_say_running, NULL)))
                return 2;
        run_until_stopped(app, "app_chaos", parent, watch_aborts, &aborts);
        return app_finish(app, t);
}
