/*
 * wordcount.c - split lines of text into words and count them.
 *
 *   lines (string key, string value)
 *     -> flat_map: one record per word, keyed by the lower-cased word
 *     -> group_by_key (the key changed: through the internal topic
 *        wordcount-counts-repartition, so each word lands in one task)
 *     -> count into the store "counts" (changelog: wordcount-counts-changelog)
 *     -> to_stream -> word-counts (string key, int64 value)
 *
 * The counts are running totals kept in a state store: they survive a
 * restart (restored from the changelog) and can be read locally while the
 * app runs (sluice_app_store_get / _range). Two ways to run it:
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
        int err;
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
                if (len && (err = sluice_emit(out, sluice_strn(w, len),
                                              sluice_strn(w, len))))
                        return err;
        }
        return 0;
}

static sluice_topology_t *wordcount_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *lines =
            sluice_stream_from(t, "lines", sluice_serde_string(),
                               sluice_serde_string());
        sluice_stream_t *words = sluice_stream_flat_map(lines, split_words, NULL);
        sluice_table_t *counts = sluice_grouped_count(
            sluice_stream_group_by_key(words, NULL, NULL), "counts");
        sluice_stream_to(sluice_table_to_stream(counts), "word-counts", NULL,
                         NULL);
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
    "words are counted in a store and the counts flow to a topic",
    "a store survives the loss of an instance through its changelog",
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

/* Final count per word, as the test driver computes it from the text:
 * what the demo waits for. */
#define MAX_WORDS 128
typedef struct {
        char word[32];
        long long want, got;
} word_t;
static word_t words[MAX_WORDS];
static int word_cnt;

static word_t *word_find(const void *w, size_t len, int add) {
        int i;
        if (len >= sizeof(words[0].word))
                return NULL;
        for (i = 0; i < word_cnt; i++)
                if (strlen(words[i].word) == len && !memcmp(words[i].word, w, len))
                        return &words[i];
        if (!add || word_cnt == MAX_WORDS)
                return NULL;
        memcpy(words[word_cnt].word, w, len);
        words[word_cnt].word[len] = '\0';
        return &words[word_cnt++];
}

static long long be64(const void *p) {
        const unsigned char *b = p;
        long long v            = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = (v << 8) | b[i];
        return v;
}

static int expect_word(const void *k, size_t klen, const void *v, size_t vlen,
                       int64_t ts, void *opaque) {
        word_t *w = word_find(k, klen, 1);
        (void)ts;
        (void)opaque;
        if (w && vlen == 8)
                w->want = be64(v);
        return 0;
}

static int expected_counts(void) {
        sluice_topology_t *t = wordcount_topology();
        char err[512];
        sluice_driver_t *drv = sluice_driver_new(t, NULL, err, sizeof(err));
        size_t i;
        if (!drv) {
                fprintf(stderr, "wordcount: %s\n", err);
                return -1;
        }
        for (i = 0; i < LINES; i++)
                sluice_driver_pipe_str(drv, "lines", "k", text[i], 0);
        sluice_driver_store_range(drv, "counts", NULL, 0, NULL, 0, expect_word,
                                  NULL);
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return word_cnt;
}

static int all_counted(void) {
        int i;
        for (i = 0; i < word_cnt; i++)
                if (words[i].got != words[i].want)
                        return 0;
        return 1;
}

/* The demo's reader: print word counts as they arrive, until every word
 * reached its final count. */
static int read_counts(const char *bootstrap) {
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
        while (!all_counted() && time(NULL) < deadline && !stop) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err && m->len == 8) {
                        long long cnt = be64(m->payload);
                        word_t *w     = word_find(m->key, m->key_len, 0);
                        printf("  <- word-counts %-14.*s %lld   (partition %d, "
                               "offset %lld)\n",
                               (int)m->key_len, (const char *)m->key, cnt,
                               (int)m->partition, (long long)m->offset);
                        fflush(stdout);
                        if (w)
                                w->got = cnt;
                        got++;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_destroy(rk);
        printf("%d count updates read\n", got);
        return all_counted() ? 0 : -1;
}

/* A local read of the store while the app runs (an interactive query). */
static int print_store(const void *k, size_t klen, const void *v, size_t vlen,
                       int64_t ts, void *opaque) {
        int *n = opaque;
        (void)ts;
        if (vlen == 8 && be64(v) > 1)
                printf("  store counts: %-14.*s %lld\n", (int)klen,
                       (const char *)k, be64(v));
        (*n)++;
        return 0;
}

static int demo(void) {
        char err[512];
        sluice_topology_t *t = wordcount_topology();
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_app_t *app;
        int want = expected_counts(), rc;
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
        printf("app %s; feeding %zu lines, expecting final counts for %d "
               "words\n",
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
                rc = read_counts(sluice_app_bootstrap_servers(app));
                thrd_join(gen, &gen_rc);
                rc = rc || gen_rc;
        }
        {
                int n = 0;
                printf("words seen more than once, read from the running "
                       "app's store:\n");
                sluice_app_store_range(app, "counts", NULL, 0, NULL, 0,
                                       print_store, &n);
                printf("  (%d words in the store)\n", n);
        }
        printf("processed %llu records (lines, then words through the "
               "repartition topic); %s\n",
               (unsigned long long)sluice_app_processed(app),
               rc ? "FAILED: not every count arrived"
                  : "every word reached its final count");
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
