/*
 * app_common.h - what the integration-test applications (app_upper.c,
 * app_wordcount.c) have in common: the options both take, the
 * configuration, starting the app, the run-until-signalled loop and the
 * final PROCESSED / ERROR line.
 *
 * Each application keeps its own usage text and its own options: the
 * helpers that may reject an argument take the includer's usage(), which
 * prints and exits 64. The Makefile builds each application from its one
 * .c file: this header is found next to it through the quote include.
 */
#ifndef APP_COMMON_H
#define APP_COMMON_H

#include <sluice.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef void (*app_usage_fn)(const char *why);

/* ---- stdout: one line each, flushed ---- */

static void say(const char *line) {
        /* one call: stdio locks the stream, so the line is whole, also
         * from the listener's thread */
        printf("%s\n", line);
        fflush(stdout);
}

static void say_error(const char *text) {
        printf("ERROR: %s\n", text);
        fflush(stdout);
}

/* ---- options ---- */

static const char *env_or(const char *name, const char *dflt) {
        const char *v = getenv(name);
        return v && *v ? v : dflt;
}

/* $<prefix>_<name>, or @dflt if unset or empty */
static const char *app_env(const char *prefix, const char *name,
                           const char *dflt) {
        char var[128];
        snprintf(var, sizeof(var), "%s_%s", prefix, name);
        return env_or(var, dflt);
}

/* The options both applications take. */
typedef struct {
        const char *bootstrap, *app_id, *in, *out, *threads, *commit_ms;
        const char *extra[32]; /* --conf KEY=VALUE, in order */
        int extra_cnt;
        int log_level;
        char group_protocol[64]; /* group.protocol=$SLUICE_TEST_GROUP_PROTOCOL */
} app_opts_t;

/* Defaults, then the environment: $SLUICE_TEST_BOOTSTRAP,
 * $SLUICE_TEST_GROUP_PROTOCOL (classic or consumer: group.protocol, as the
 * first --conf, so that a test's own --conf wins) and
 * $<env_prefix>_APP_ID, _IN, _OUT, _THREADS, _COMMIT_MS, _LOG_LEVEL. */
static void app_opts_init(app_opts_t *o, const char *env_prefix,
                          const char *commit_ms) {
        memset(o, 0, sizeof(*o));
        o->bootstrap = getenv("SLUICE_TEST_BOOTSTRAP");
        o->app_id    = app_env(env_prefix, "APP_ID", NULL);
        o->in        = app_env(env_prefix, "IN", NULL);
        o->out       = app_env(env_prefix, "OUT", NULL);
        o->threads   = app_env(env_prefix, "THREADS", "1");
        o->commit_ms = app_env(env_prefix, "COMMIT_MS", commit_ms);
        o->log_level = atoi(app_env(env_prefix, "LOG_LEVEL", "4"));
        if (getenv("SLUICE_TEST_GROUP_PROTOCOL") &&
            *getenv("SLUICE_TEST_GROUP_PROTOCOL")) {
                snprintf(o->group_protocol, sizeof(o->group_protocol),
                         "group.protocol=%s",
                         getenv("SLUICE_TEST_GROUP_PROTOCOL"));
                o->extra[o->extra_cnt++] = o->group_protocol;
        }
}

/* argv[*i] is one of app_opts_t's options: takes it and its value, moves
 * *i past them, returns 1; else 0 (the includer's own options, then). */
static int app_opt(app_opts_t *o, int argc, char **argv, int *i,
                   app_usage_fn usage) {
        const char *a = argv[*i];
#define ARG(name) (!strcmp(a, name) && (*i + 1 < argc || (usage(a), 0)))
        if (ARG("--bootstrap"))
                o->bootstrap = argv[++*i];
        else if (ARG("--app-id"))
                o->app_id = argv[++*i];
        else if (ARG("--in"))
                o->in = argv[++*i];
        else if (ARG("--out"))
                o->out = argv[++*i];
        else if (ARG("--threads"))
                o->threads = argv[++*i];
        else if (ARG("--commit-ms"))
                o->commit_ms = argv[++*i];
        else if (ARG("--log-level"))
                o->log_level = atoi(argv[++*i]);
        else if (ARG("--conf")) {
                if (o->extra_cnt == (int)(sizeof(o->extra) / sizeof(*o->extra)))
                        usage("too many --conf");
                o->extra[o->extra_cnt++] = argv[++*i];
        } else
                return 0;
#undef ARG
        return 1;
}

static void app_opts_check(const app_opts_t *o, app_usage_fn usage) {
        if (!o->bootstrap || !*o->bootstrap)
                usage("no bootstrap servers: pass --bootstrap or set "
                      "SLUICE_TEST_BOOTSTRAP");
        if (!o->app_id || !o->in || !o->out)
                usage("--app-id, --in and --out are required");
}

/* ---- configuration ---- */

/* @v NULL: left unset (Sluice's default) */
static int conf_set(sluice_conf_t *c, const char *k, const char *v) {
        char err[512];
        if (!v)
                return 0;
        if (sluice_conf_set(c, k, v, err, sizeof(err))) {
                say_error(err);
                return -1;
        }
        return 0;
}

/* bootstrap.servers, application.id, num.stream.threads and
 * commit.interval.ms from @o; -1 (ERROR printed) if one is refused */
static int app_conf_common(sluice_conf_t *c, const app_opts_t *o) {
        return conf_set(c, "bootstrap.servers", o->bootstrap) ||
                       conf_set(c, "application.id", o->app_id) ||
                       conf_set(c, "num.stream.threads", o->threads) ||
                       conf_set(c, "commit.interval.ms", o->commit_ms)
                   ? -1
                   : 0;
}

/* The --conf KEY=VALUE options, last: they win over the ones above. */
static int app_conf_extra(sluice_conf_t *c, const app_opts_t *o,
                          app_usage_fn usage) {
        int i;
        for (i = 0; i < o->extra_cnt; i++) {
                char kv[512], *eq;
                snprintf(kv, sizeof(kv), "%s", o->extra[i]);
                if (!(eq = strchr(kv, '=')))
                        usage("--conf needs KEY=VALUE");
                *eq = '\0';
                /* The tests ask for a short session and heartbeat; under
                 * group.protocol=consumer these are the broker's settings
                 * (scripts/kafka sets the same for 4.x brokers), and
                 * librdkafka refuses them from a client. */
                if (o->group_protocol[0] &&
                    !strcmp(o->group_protocol, "group.protocol=consumer") &&
                    (!strcmp(kv, "consumer.session.timeout.ms") ||
                     !strcmp(kv, "consumer.heartbeat.interval.ms"))) {
                        fprintf(stderr, "app: %s left to the broker "
                                        "(group.protocol=consumer)\n", kv);
                        continue;
                }
                if (conf_set(c, kv, eq + 1))
                        return -1;
        }
        return 0;
}

/* ---- the RUNNING and RESTORED lines the stateful applications print
 * (inline: app_upper.c has its own listener, and no store) ---- */

/* state listener: RUNNING each time the app's state becomes RUNNING */
static inline void app_say_running(sluice_app_t *app,
                                   sluice_app_state_t old_state,
                                   sluice_app_state_t new_state,
                                   void *opaque) {
        (void)app;
        (void)old_state;
        (void)opaque;
        if (new_state == SLUICE_APP_RUNNING)
                say("RUNNING");
}

/* restore listener: a RESTORED line when a store instance is up to date */
static inline void app_say_restored(const sluice_restore_info_t *info,
                                    void *opaque) {
        (void)opaque;
        if (info->phase != SLUICE_RESTORE_END)
                return;
        printf("RESTORED store=%s partition=%d start=%lld end=%lld "
               "restored=%llu\n",
               info->store, (int)info->partition,
               (long long)info->start_offset, (long long)info->end_offset,
               (unsigned long long)info->restored);
        fflush(stdout);
}

/* ---- running ---- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
        (void)sig;
        stop_requested = 1;
}

/* SIGTERM / SIGINT ask for a clean close (run_until_stopped()) */
static void catch_stop_signals(void) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
}

/* The app on @t and @conf (both owned by it from here), started with
 * @on_state; NULL after ERROR is printed and all is freed. */
static sluice_app_t *app_start(sluice_topology_t *t, sluice_conf_t *conf,
                               sluice_state_cb *on_state, void *opaque) {
        char err[1024];
        sluice_app_t *app = sluice_app_new(t, conf, err, sizeof(err));
        if (!app) {
                say_error(err);
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                return NULL;
        }
        sluice_app_set_state_cb(app, on_state, opaque);
        if (sluice_app_start(app, err, sizeof(err))) {
                say_error(err);
                sluice_app_destroy(app);
                sluice_topology_destroy(t);
                return NULL;
        }
        return app;
}

/* Until a signal or the app's ERROR, every 20 ms: @each_tick (if any).
 * @parent is getppid() at the start: once it is gone (a test that failed
 * or timed out), exit at once with status 3, so that no instance outlives
 * its test. */
static void run_until_stopped(sluice_app_t *app, const char *name,
                              pid_t parent,
                              void (*each_tick)(sluice_app_t *, void *),
                              void *opaque) {
        const struct timespec tick = {0, 20 * 1000 * 1000};
        /* a signal sets the flag; the app may fail on its own */
        while (!stop_requested) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        break;
                if (getppid() != parent) {
                        fprintf(stderr, "%s[%ld]: parent exited, exiting\n",
                                name, (long)getpid());
                        _exit(3);
                }
                if (each_tick)
                        each_tick(app, opaque);
                nanosleep(&tick, NULL);
        }
}

/* Close the app, print PROCESSED <n> or ERROR: <text>, free it all; the
 * exit status (0, or 2 on ERROR). */
static int app_finish(sluice_app_t *app, sluice_topology_t *t) {
        int rc = 0;
        if (sluice_app_state(app) == SLUICE_APP_ERROR) {
                say_error(sluice_app_error(app));
                rc = 2;
        }
        sluice_app_close(app);
        if (!rc && sluice_app_state(app) == SLUICE_APP_ERROR) {
                /* failed while closing (e.g. a final delivery failed) */
                say_error(sluice_app_error(app));
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

#endif /* APP_COMMON_H */
