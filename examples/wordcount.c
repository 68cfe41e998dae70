/*
 * wordcount.c - split lines of text into words and count them.
 *
 *   lines (string key, string value)
 *     -> flat_map: one record per distinct word of the line, keyed by the
 *        lower-cased word, the value its count in that line (int64)
 *     -> word-counts
 *
 * Per-line counts for now; running totals per word arrive with state
 * stores. Two ways to run it:
 *
 *   wordcount --bootstrap HOST:PORT [--app-id ID]   on a Kafka cluster,
 *        until SIGINT/SIGTERM (topic "lines" must exist)
 *   wordcount --demo      on the embedded cluster: a generator feeds it a
 *        text, the output is printed as it arrives, and it exits when every
 *        word has come out (what `make demo` runs)
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <sluice.h>

static int split_words(const sluice_record_t *rec, sluice_emitter_t *out,
                       void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p           = v->u.bytes.data, *end = p + v->u.bytes.len;
        char words[64][32];
        int64_t counts[64];
        int n = 0, i, err;
        (void)opaque;
        if (v->type != SLUICE_VALUE_STRING)
                return 0; /* a null line has no words */
        while (p < end) {
                char w[32];
                size_t len = 0;
                while (p < end && !isalnum((unsigned char)*p))
                        p++;
                while (p < end && isalnum((unsigned char)*p)) {
                        if (len < sizeof(w) - 1)
                                w[len++] = (char)tolower((unsigned char)*p);
                        p++;
                }
                if (!len)
                        continue;
                w[len] = '\0';
                for (i = 0; i < n && strcmp(words[i], w); i++)
                        ;
                if (i < n)
                        counts[i]++;
                else if (n < 64) {
                        memcpy(words[n], w, len + 1);
                        counts[n++] = 1;
                }
        }
        for (i = 0; i < n; i++)
                if ((err = sluice_emit(out, sluice_str(words[i]),
                                       sluice_int64(counts[i]))))
                        return err;
        return 0;
}

static sluice_topology_t *wordcount_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *lines =
            sluice_stream_from(t, "lines", sluice_serde_string(),
                               sluice_serde_string());
        sluice_stream_t *words = sluice_stream_flat_map(lines, split_words, NULL);
        sluice_stream_to(sluice_stream_with_serdes(words, NULL,
                                                   sluice_serde_int64()),
                         "word-counts", NULL, NULL);
        return t;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static const char *const text[] = {
    "Sluice runs stream processing inside your own process",
    "a topology of map filter and flat map over Kafka topics",
    "Kafka is the distributed engine and partitions spread the work",
    "every instance of the same application joins the same group",
    "the same task code runs under the test driver and under Kafka",
    "words in a line are counted and the counts flow to a topic",
};
#define LINES (sizeof(text) / sizeof(text[0]))

/* The demo's generator: one line every 400 ms, keyed by line number. */
static int produce_text(void *arg) {
        const char *bootstrap = arg;
        char err[512], key[16];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *p;
        size_t i;
        struct timespec gap = {0, 400 * 1000 * 1000};
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        if (!(p = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return -1;
        }
        for (i = 0; i < LINES; i++) {
                snprintf(key, sizeof(key), "line-%zu", i + 1);
                rd_kafka_producev(p, RD_KAFKA_V_TOPIC("lines"),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE((void *)text[i],
                                                   strlen(text[i])),
                                  RD_KAFKA_V_END);
                rd_kafka_flush(p, 5000);
                printf("  -> lines      %-8s \"%s\"\n", key, text[i]);
                fflush(stdout);
                nanosleep(&gap, NULL); /* a demo pace, for the eye */
        }
        rd_kafka_destroy(p);
        return 0;
}

/* Distinct words per line, summed: how many records the demo expects. */
static int expected_outputs(void) {
        sluice_topology_t *t = wordcount_topology();
        char err[512];
        sluice_driver_t *drv = sluice_driver_new(t, NULL, err, sizeof(err));
        size_t i;
        int n;
        for (i = 0; i < LINES; i++)
                sluice_driver_pipe_str(drv, "lines", "k", text[i], 0);
        n = (int)sluice_driver_queued(drv, "word-counts");
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return n;
}

/* The demo's reader: print word counts as they arrive. */
static int read_counts(const char *bootstrap, int want) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *topics;
        int got = 0, i;
        time_t deadline = time(NULL) + 60;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "wordcount-demo-reader", NULL, 0);
        rd_kafka_conf_set(c, "auto.offset.reset", "earliest", NULL, 0);
        if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return -1;
        }
        rd_kafka_poll_set_consumer(rk);
        /* the embedded cluster's 4 partitions, read directly (no group) */
        topics = rd_kafka_topic_partition_list_new(4);
        for (i = 0; i < 4; i++)
                rd_kafka_topic_partition_list_add(topics, "word-counts", i)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        while (got < want && time(NULL) < deadline && !stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err && m->len == 8) {
                        const unsigned char *b = m->payload;
                        long long cnt = 0;
                        for (i = 0; i < 8; i++)
                                cnt = (cnt << 8) | b[i];
                        printf("  <- word-counts %-14.*s %lld   (partition %d, "
                               "offset %lld)\n",
                               (int)m->key_len, (const char *)m->key, cnt,
                               (int)m->partition, (long long)m->offset);
                        fflush(stdout);
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(rk);
        return got == want ? 0 : -1;
}

static int demo(void) {
        char err[512];
        sluice_topology_t *t = wordcount_topology();
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_app_t *app;
        int want = expected_outputs(), rc;
        char *desc = sluice_topology_describe(t);
        printf("%s", desc);
        free(desc);
        if (sluice_conf_set(conf, "application.id", "wordcount", err,
                            sizeof(err)) ||
            sluice_conf_set(conf, "sluice.embedded", "true", err, sizeof(err)) ||
            sluice_conf_set(conf, "commit.interval.ms", "200", err,
                            sizeof(err))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return 1;
        }
        app = sluice_app_new(t, conf, err, sizeof(err));
        if (!app || sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return 1;
        }
        printf("embedded cluster at %s; waiting for the app to join its "
               "group\n",
               sluice_app_bootstrap_servers(app));
        {
                time_t until = time(NULL) + 30;
                struct timespec tick = {0, 20 * 1000 * 1000};
                while (sluice_app_state(app) != SLUICE_APP_RUNNING &&
                       time(NULL) < until)
                        nanosleep(&tick, NULL);
        }
        printf("app %s; feeding %zu lines, expecting %d word counts\n",
               sluice_app_state_name(sluice_app_state(app)), LINES, want);
        {
                /* feed lines on one thread, print counts on this one */
                thrd_t gen;
                int gen_rc = -1;
                if (thrd_create(&gen, produce_text,
                                (void *)sluice_app_bootstrap_servers(app)) !=
                    thrd_success) {
                        fprintf(stderr, "wordcount: cannot start generator\n");
                        return 1;
                }
                rc = read_counts(sluice_app_bootstrap_servers(app), want);
                thrd_join(gen, &gen_rc);
                rc = rc || gen_rc;
        }
        printf("processed %llu lines; %s\n",
               (unsigned long long)sluice_app_processed(app),
               rc ? "FAILED: not every count arrived" : "all counts arrived");
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return rc ? 1 : 0;
}

int main(int argc, char **argv) {
        const char *bootstrap = NULL, *app_id = "wordcount";
        char err[512];
        sluice_topology_t *t;
        sluice_conf_t *conf;
        sluice_app_t *app;
        int i, rc;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--demo"))
                        return demo();
                if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
                        bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--app-id") && i + 1 < argc)
                        app_id = argv[++i];
        }
        if (!bootstrap) {
                fprintf(stderr, "usage: wordcount --demo | --bootstrap "
                                "HOST:PORT [--app-id ID]\n");
                return 2;
        }
        t    = wordcount_topology();
        conf = sluice_conf_new();
        if (sluice_conf_set(conf, "application.id", app_id, err, sizeof(err)) ||
            sluice_conf_set(conf, "bootstrap.servers", bootstrap, err,
                            sizeof(err))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return 1;
        }
        if (!(app = sluice_app_new(t, conf, err, sizeof(err))) ||
            sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "wordcount: %s\n", err);
                return 1;
        }
        while (!stop && sluice_app_state(app) != SLUICE_APP_ERROR) {
                struct timespec tick = {0, 100 * 1000 * 1000};
                nanosleep(&tick, NULL);
        }
        rc = sluice_app_state(app) == SLUICE_APP_ERROR;
        if (rc)
                fprintf(stderr, "wordcount: %s\n", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return rc;
}
