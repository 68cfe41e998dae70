/*
 * bench/peers/sluice_peer.c - Sluice's side of the side-by-side harness
 * (bench/peers/run): the workloads of bench/peers/peer_tool.c as Sluice
 * apps, one stream thread, the memory store, run until SIGTERM or SIGINT,
 * then closed (final commit, leave the group). The Kafka Streams
 * (bench/peers/kafka-streams/) and Quix Streams (bench/peers/quix/) sides
 * do the same work on the same topics with the same serdes.
 *
 *   sluice_peer WORKLOAD --bootstrap B --app-id ID --in TOPIC --out TOPIC
 *               [--table TOPIC] --guarantee at_least_once|exactly_once_v2
 *               --commit-interval-ms MS --state-dir DIR
 *
 *   pipe       source(bytes) -> map_values(flip byte 12's case)
 *              -> filter(drop '#' at byte 11) -> to
 *   wordcount  source(string) -> flat_map(word -> (word, word))
 *              -> group_by_key (repartition topic) -> count (memory store)
 *              -> to_stream -> to(string, int64)
 *   windows    source(bytes) -> group_by_key -> windowed_by(tumbling 1 min,
 *              no grace) -> count -> to_stream -> to(windowed bytes, int64)
 *   json       source(string, json) -> filter("ok" is true)
 *              -> map_values(add "tier") -> to
 *   enrich     not available: Sluice's joins have not landed; exits 3.
 *
 * Prints "started" on stdout once sluice_app_start() returned.
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "sluice.h"

#define BENCH_NAME "sluice_peer"
#include "../bench_util.h"

#define MARK_AT 11
#define FLIP_AT 12

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
        (void)sig;
        stop_flag = 1;
}

/* ---- pipe ---- */

static _Thread_local char map_buf[65536];

static int flip(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        if (v->type != SLUICE_VALUE_BYTES || v->u.bytes.len > sizeof(map_buf))
                return 0;
        memcpy(map_buf, v->u.bytes.data, v->u.bytes.len);
        if (v->u.bytes.len > FLIP_AT)
                map_buf[FLIP_AT] ^= 0x20;
        return sluice_record_set_value(rec,
                                       sluice_bytes(map_buf, v->u.bytes.len));
}

static bool keep(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return !(v->type == SLUICE_VALUE_BYTES && v->u.bytes.len > MARK_AT &&
                 ((const char *)v->u.bytes.data)[MARK_AT] == '#');
}

/* ---- wordcount ---- */

static int words(const sluice_record_t *rec, sluice_emitter_t *out,
                 void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *p, *end;
        int err;
        (void)opaque;
        if (v->type != SLUICE_VALUE_STRING)
                return 0;
        p   = v->u.bytes.data;
        end = p + v->u.bytes.len;
        while (p < end) {
                const char *w;
                while (p < end && *p == ' ')
                        p++;
                w = p;
                while (p < end && *p != ' ')
                        p++;
                if (p > w &&
                    (err = sluice_emit(out, sluice_strn(w, (size_t)(p - w)),
                                       sluice_strn(w, (size_t)(p - w)))))
                        return err;
        }
        return 0;
}

/* ---- json ---- */

static bool json_ok(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return v->type == SLUICE_VALUE_JSON &&
               json_is_true(json_object_get(v->u.json, "ok"));
}

static int add_tier(sluice_record_t *rec, void *opaque) {
        json_t *v = sluice_record_json_edit(rec);
        (void)opaque;
        if (!v)
                return 1;
        return json_object_set_new(
            v, "tier",
            json_string(json_number_value(json_object_get(v, "amount")) >= 500
                            ? "gold"
                            : "std"));
}

static void usage(void) {
        fprintf(stderr,
                "usage: sluice_peer pipe|wordcount|windows|json --bootstrap B "
                "--app-id ID --in TOPIC --out TOPIC\n"
                "       [--table TOPIC] --guarantee G --commit-interval-ms MS "
                "--state-dir DIR\n");
        exit(2);
}

int main(int argc, char **argv) {
        const char *wl, *boot = NULL, *id = NULL, *in = NULL, *out = NULL;
        const char *guarantee = "at_least_once", *interval = NULL,
                   *state = NULL;
        char err[512];
        sluice_topology_t *t;
        sluice_stream_t *s;
        sluice_conf_t *c;
        sluice_app_t *app;
        struct sigaction sa;
        int i;
        if (argc < 2)
                usage();
        wl = argv[1];
        for (i = 2; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--bootstrap"))
                        boot = argv[i + 1];
                else if (!strcmp(argv[i], "--app-id"))
                        id = argv[i + 1];
                else if (!strcmp(argv[i], "--in"))
                        in = argv[i + 1];
                else if (!strcmp(argv[i], "--out"))
                        out = argv[i + 1];
                else if (!strcmp(argv[i], "--table"))
                        (void)argv[i + 1];
                else if (!strcmp(argv[i], "--guarantee"))
                        guarantee = argv[i + 1];
                else if (!strcmp(argv[i], "--commit-interval-ms"))
                        interval = argv[i + 1];
                else if (!strcmp(argv[i], "--state-dir"))
                        state = argv[i + 1];
                else
                        usage();
        }
        if (!strcmp(wl, "enrich")) {
                fprintf(stderr, "sluice_peer: enrich: pending, Sluice's joins "
                                "have not landed\n");
                return 3;
        }
        if (!boot || !id || !in || !out)
                usage();

        t = sluice_topology_new();
        if (!strcmp(wl, "pipe")) {
                s = sluice_stream_from(t, in, sluice_serde_bytes(),
                                       sluice_serde_bytes());
                s = sluice_stream_filter(sluice_stream_map_values(s, flip, NULL),
                                         keep, NULL);
                sluice_stream_to(s, out, NULL, NULL);
        } else if (!strcmp(wl, "wordcount")) {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_string());
                s = sluice_stream_flat_map(s, words, NULL);
                s = sluice_table_to_stream(sluice_grouped_count(
                    sluice_stream_group_by_key(s, sluice_serde_string(),
                                               sluice_serde_string()),
                    "counts"));
                sluice_stream_to(s, out, sluice_serde_string(),
                                 sluice_serde_int64());
        } else if (!strcmp(wl, "windows")) {
                sluice_windowed_t *w;
                s = sluice_stream_from(t, in, sluice_serde_bytes(),
                                       sluice_serde_bytes());
                w = sluice_grouped_windowed_by(
                    sluice_stream_group_by_key(s, NULL, NULL),
                    sluice_windows_tumbling(60000, 0));
                sluice_stream_to(
                    sluice_table_to_stream(sluice_windowed_count(w, "win")),
                    out, sluice_serde_bytes(), sluice_serde_int64());
        } else if (!strcmp(wl, "json")) {
                s = sluice_stream_from(t, in, sluice_serde_string(),
                                       sluice_serde_json());
                s = sluice_stream_map_values(
                    sluice_stream_filter(s, json_ok, NULL), add_tier, NULL);
                sluice_stream_to(s, out, NULL, NULL);
        } else
                usage();
        if (sluice_topology_validate(t, err, sizeof(err)))
                die("topology: %s", err);

        c = sluice_conf_new();
        conf_set(c, "application.id", id);
        conf_set(c, "bootstrap.servers", boot);
        conf_set(c, "processing.guarantee", guarantee);
        conf_set(c, "num.stream.threads", "1");
        if (interval)
                conf_set(c, "commit.interval.ms", interval);
        if (state)
                conf_set(c, "state.dir", state);
        sluice_conf_set_log_cb(c, quiet_log, SLUICE_LOG_WARNING, NULL);
        if (!(app = sluice_app_new(t, c, err, sizeof(err))))
                die("sluice_app_new: %s", err);

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        if (sluice_app_start(app, err, sizeof(err)))
                die("sluice_app_start: %s", err);
        printf("started\n");
        fflush(stdout);
        while (!stop_flag) {
                if (sluice_app_state(app) == SLUICE_APP_ERROR)
                        die("the app failed: %s", sluice_app_error(app));
                sleep_ms(20);
        }
        sluice_app_close(app);
        i = sluice_app_state(app) == SLUICE_APP_ERROR;
        if (i)
                fprintf(stderr, "sluice_peer: %s\n", sluice_app_error(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return i;
}
