/*
 * app_upper.c - a small, real Sluice application for the integration tests
 * (one process; tests/integration/test_integration.c runs several of them).
 *
 * Topology: in -> map_values -> out, keys kept.
 *   default   string values, uppercased ("v-1-abc" -> "V-1-ABC")
 *   --int64   int64 values (8 bytes big-endian), doubled
 *
 * Usage:
 *   app_upper --app-id ID --in TOPIC --out TOPIC [options]
 *     --bootstrap HOST:PORT  default: $SLUICE_TEST_BOOTSTRAP
 *     --threads N            num.stream.threads (default 1); 0: the
 *                            program drives the app from its own poll()
 *                            loop (sluice_app_step), as a host would
 *     --commit-ms C          commit.interval.ms (default 1000)
 *     --handler H            log_and_fail (default) | log_and_continue |
 *                            dead_letter (needs --dlq)
 *     --dlq TOPIC            errors.deadletterqueue.topic.name
 *     --int64                the int64 topology
 *     --tag NAME             add headers to each output record:
 *                            x-instance=NAME, x-in-partition, x-in-offset
 *                            (where the record was read from)
 *     --conf KEY=VALUE       any other configuration (repeatable)
 *     --log-level N          Sluice's log level to stderr (default 4)
 *
 * Every option can also come from the environment: APP_UPPER_APP_ID,
 * APP_UPPER_IN, APP_UPPER_OUT, APP_UPPER_THREADS, APP_UPPER_COMMIT_MS,
 * APP_UPPER_HANDLER, APP_UPPER_DLQ, APP_UPPER_TAG, APP_UPPER_LOG_LEVEL
 * (arguments win).
 *
 * stdout, one line each, flushed:
 *   READY                 the state listener saw RUNNING (first time)
 *   PROCESSED <n>         after a clean close on SIGTERM/SIGINT; exit 0
 *   ERROR: <text>         the app went to ERROR (sluice_app_error()) or
 *                         could not start; then exit 2
 * Exit 64 on a usage error. If the parent process dies (a test that failed
 * or timed out), the program exits at once with status 3, so no instance
 * outlives its test.
 */
#include <sluice.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_common.h"

static void on_state(sluice_app_t *app, sluice_app_state_t old_state,
                     sluice_app_state_t new_state, void *opaque) {
        int *ready = opaque;
        (void)app;
        (void)old_state;
        if (new_state == SLUICE_APP_RUNNING && !*ready) {
                *ready = 1;
                say("READY");
        }
}

static void on_log(sluice_log_level_t level, const char *facility,
                   const char *message, void *opaque) {
        const char *tag = opaque;
        fprintf(stderr, "app_upper[%ld%s%s] %d %s: %s\n", (long)getpid(),
                tag ? " " : "", tag ? tag : "", (int)level, facility, message);
}

typedef struct {
        const char *tag;
} map_ctx_t;

static int add_where(sluice_record_t *rec, const map_ctx_t *ctx) {
        char buf[32];
        int n;
        if (!ctx->tag)
                return 0;
        if (sluice_record_header_add(rec, "x-instance", ctx->tag,
                                     strlen(ctx->tag)))
                return -1;
        n = snprintf(buf, sizeof(buf), "%d", (int)sluice_record_partition(rec));
        if (sluice_record_header_add(rec, "x-in-partition", buf, (size_t)n))
                return -1;
        n = snprintf(buf, sizeof(buf), "%lld",
                     (long long)sluice_record_offset(rec));
        return sluice_record_header_add(rec, "x-in-offset", buf, (size_t)n);
}

static int upper(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        char stackbuf[256], *buf = stackbuf;
        size_t i, n;
        int rc;
        if (v->type != SLUICE_VALUE_STRING) /* a null value stays null */
                return add_where(rec, opaque);
        n = v->u.bytes.len;
        if (n > sizeof(stackbuf) && !(buf = malloc(n)))
                return -1;
        for (i = 0; i < n; i++) {
                char c = ((const char *)v->u.bytes.data)[i];
                buf[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        }
        rc = sluice_record_set_value(rec, sluice_strn(buf, n)); /* copied */
        if (buf != stackbuf)
                free(buf);
        return rc ? rc : add_where(rec, opaque);
}

static int twice(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        if (v->type == SLUICE_VALUE_INT64 &&
            sluice_record_set_value(rec, sluice_int64(v->u.i64 * 2)))
                return -1;
        return add_where(rec, opaque);
}

static void usage(const char *why) {
        fprintf(stderr,
                "app_upper: %s\n"
                "usage: app_upper --app-id ID --in TOPIC --out TOPIC "
                "[--bootstrap B] [--threads N] [--commit-ms C]\n"
                "       [--handler log_and_fail|log_and_continue|dead_letter] "
                "[--dlq TOPIC] [--int64] [--tag NAME]\n"
                "       [--conf KEY=VALUE]... [--log-level N]\n",
                why);
        exit(64);
}

/* num.stream.threads=0: the README's host loop. The wait is capped at
 * 100 ms so that a parent gone is noticed; a signal ends poll() at once. */
static void host_loop(sluice_app_t *app, pid_t parent) {
        struct pollfd p = {sluice_app_fd(app), POLLIN, 0};
        while (!stop_requested &&
               sluice_app_state(app) != SLUICE_APP_ERROR) {
                int more = sluice_app_step(app, 500), ms;
                if (more < 0)
                        break;
                if (getppid() != parent) {
                        fprintf(stderr, "app_upper[%ld]: parent exited, "
                                        "exiting\n", (long)getpid());
                        _exit(3);
                }
                if (more)
                        continue;
                ms = sluice_app_timeout_ms(app);
                poll(&p, 1, ms < 0 || ms > 100 ? 100 : ms);
        }
}

int main(int argc, char **argv) {
        const char *handler = env_or("APP_UPPER_HANDLER", "log_and_fail");
        const char *dlq     = env_or("APP_UPPER_DLQ", NULL);
        int int64_mode = 0, ready = 0, i;
        map_ctx_t ctx = {env_or("APP_UPPER_TAG", NULL)};
        app_opts_t o;
        sluice_topology_t *t;
        sluice_stream_t *s;
        sluice_conf_t *conf;
        sluice_app_t *app;
        pid_t parent = getppid();

        app_opts_init(&o, "APP_UPPER", "1000");
        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && (i + 1 < argc || (usage(a), 0)))
                if (app_opt(&o, argc, argv, &i, usage))
                        continue;
                if (ARG("--handler"))
                        handler = argv[++i];
                else if (ARG("--dlq"))
                        dlq = argv[++i];
                else if (ARG("--tag"))
                        ctx.tag = argv[++i];
                else if (!strcmp(a, "--int64"))
                        int64_mode = 1;
                else
                        usage(a);
#undef ARG
        }
        app_opts_check(&o, usage);
        catch_stop_signals();

        t = sluice_topology_new();
        if (int64_mode) {
                s = sluice_stream_from(t, o.in, sluice_serde_string(),
                                       sluice_serde_int64());
                s = sluice_stream_map_values(s, twice, &ctx);
        } else {
                s = sluice_stream_from(t, o.in, sluice_serde_string(),
                                       sluice_serde_string());
                s = sluice_stream_map_values(s, upper, &ctx);
        }
        sluice_stream_to(s, o.out, NULL, NULL);

        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)o.log_level,
                               (void *)ctx.tag);
        if (app_conf_common(conf, &o) ||
            conf_set(conf, "default.deserialization.exception.handler",
                     handler) ||
            conf_set(conf, "errors.deadletterqueue.topic.name", dlq) ||
            app_conf_extra(conf, &o, usage)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }

        if (!(app = app_start(t, conf, on_state, &ready)))
                return 2;
        if (!strcmp(o.threads, "0"))
                host_loop(app, parent);
        else
                run_until_stopped(app, "app_upper", parent, NULL, NULL);
        return app_finish(app, t);
}
