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
 *     --threads N            num.stream.threads (default 1)
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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
        (void)sig;
        stop_requested = 1;
}

static void out_line(const char *fmt, const char *a) {
        /* stdio locks the stream: safe from the listener's thread too */
        printf(fmt, a);
        fflush(stdout);
}

static void on_state(sluice_app_t *app, sluice_app_state_t old_state,
                     sluice_app_state_t new_state, void *opaque) {
        int *ready = opaque;
        (void)app;
        (void)old_state;
        if (new_state == SLUICE_APP_RUNNING && !*ready) {
                *ready = 1;
                out_line("%s\n", "READY");
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

static const char *env_or(const char *name, const char *dflt) {
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

static int conf_set(sluice_conf_t *c, const char *k, const char *v) {
        char err[512];
        if (!v)
                return 0;
        if (sluice_conf_set(c, k, v, err, sizeof(err))) {
                printf("ERROR: %s\n", err);
                fflush(stdout);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        const char *bootstrap = getenv("SLUICE_TEST_BOOTSTRAP");
        const char *app_id    = env_or("APP_UPPER_APP_ID", NULL);
        const char *in        = env_or("APP_UPPER_IN", NULL);
        const char *out       = env_or("APP_UPPER_OUT", NULL);
        const char *threads   = env_or("APP_UPPER_THREADS", "1");
        const char *commit_ms = env_or("APP_UPPER_COMMIT_MS", "1000");
        const char *handler   = env_or("APP_UPPER_HANDLER", "log_and_fail");
        const char *dlq       = env_or("APP_UPPER_DLQ", NULL);
        const char *extra[32];
        int extra_cnt = 0, int64_mode = 0;
        int log_level = atoi(env_or("APP_UPPER_LOG_LEVEL", "4"));
        int ready = 0, i, rc = 0;
        map_ctx_t ctx = {env_or("APP_UPPER_TAG", NULL)};
        char err[1024];
        sluice_topology_t *t;
        sluice_stream_t *s;
        sluice_conf_t *conf;
        sluice_app_t *app;
        struct sigaction sa;
        pid_t parent = getppid();
        const struct timespec tick = {0, 20 * 1000 * 1000};

        for (i = 1; i < argc; i++) {
                const char *a = argv[i];
#define ARG(name) (!strcmp(a, name) && (i + 1 < argc || (usage(a), 0)))
                if (ARG("--bootstrap"))
                        bootstrap = argv[++i];
                else if (ARG("--app-id"))
                        app_id = argv[++i];
                else if (ARG("--in"))
                        in = argv[++i];
                else if (ARG("--out"))
                        out = argv[++i];
                else if (ARG("--threads"))
                        threads = argv[++i];
                else if (ARG("--commit-ms"))
                        commit_ms = argv[++i];
                else if (ARG("--handler"))
                        handler = argv[++i];
                else if (ARG("--dlq"))
                        dlq = argv[++i];
                else if (ARG("--tag"))
                        ctx.tag = argv[++i];
                else if (ARG("--log-level"))
                        log_level = atoi(argv[++i]);
                else if (ARG("--conf")) {
                        if (extra_cnt == (int)(sizeof(extra) / sizeof(*extra)))
                                usage("too many --conf");
                        extra[extra_cnt++] = argv[++i];
                } else if (!strcmp(a, "--int64"))
                        int64_mode = 1;
                else
                        usage(a);
#undef ARG
        }
        if (!bootstrap || !*bootstrap)
                usage("no bootstrap servers: pass --bootstrap or set "
                      "SLUICE_TEST_BOOTSTRAP");
        if (!app_id || !in || !out)
                usage("--app-id, --in and --out are required");

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);

        t = sluice_topology_new();
        if (int64_mode) {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_int64());
                s = sluice_stream_map_values(s, twice, &ctx);
        } else {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_string());
                s = sluice_stream_map_values(s, upper, &ctx);
        }
        sluice_stream_to(s, out, NULL, NULL);

        conf = sluice_conf_new();
        sluice_conf_set_log_cb(conf, on_log, (sluice_log_level_t)log_level,
                               (void *)ctx.tag);
        if (conf_set(conf, "bootstrap.servers", bootstrap) ||
            conf_set(conf, "application.id", app_id) ||
            conf_set(conf, "num.stream.threads", threads) ||
            conf_set(conf, "commit.interval.ms", commit_ms) ||
            conf_set(conf, "default.deserialization.exception.handler",
                     handler) ||
            conf_set(conf, "errors.deadletterqueue.topic.name", dlq)) {
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        for (i = 0; i < extra_cnt; i++) {
                char kv[512], *eq;
                snprintf(kv, sizeof(kv), "%s", extra[i]);
                if (!(eq = strchr(kv, '=')))
                        usage("--conf needs KEY=VALUE");
                *eq = '\0';
                if (conf_set(conf, kv, eq + 1)) {
                        sluice_conf_destroy(conf);
                        sluice_topology_destroy(t);
                        return 2;
                }
        }

        app = sluice_app_new(t, conf, err, sizeof(err));
        if (!app) {
                printf("ERROR: %s\n", err);
                fflush(stdout);
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return 2;
        }
        sluice_app_set_state_cb(app, on_state, &ready);
        if (sluice_app_start(app, err, sizeof(err))) {
                printf("ERROR: %s\n", err);
                fflush(stdout);
                sluice_app_destroy(app);
                sluice_topology_destroy(t);
                return 2;
        }

        /* the main loop: a signal sets the flag; the app may fail on its own */
        while (!stop_requested) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        break;
                if (getppid() != parent) {
                        fprintf(stderr, "app_upper[%ld]: parent exited, "
                                        "exiting\n",
                                (long)getpid());
                        _exit(3);
                }
                nanosleep(&tick, NULL);
        }

        if (sluice_app_state(app) == SLUICE_APP_ERROR) {
                printf("ERROR: %s\n", sluice_app_error(app));
                fflush(stdout);
                rc = 2;
        }
        sluice_app_close(app);
        if (!rc && sluice_app_state(app) == SLUICE_APP_ERROR) {
                /* failed while closing (e.g. a final delivery failed) */
                printf("ERROR: %s\n", sluice_app_error(app));
                rc = 2;
        }
        if (!rc)
                printf("PROCESSED %llu\n",
                       (unsigned long long)sluice_app_processed(app));
        fflush(stdout);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return rc;
}
