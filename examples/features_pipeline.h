/*
 * features_pipeline.h - what examples/features.c offers the programs that
 * compile it with -DFEATURES_NO_MAIN (tests/integration/app_features.c runs the
 * topology on a broker, tests/integration/test_windows_it.c checks what it
 * wrote): the topology, its configuration, the payment generator, the
 * features the test driver computes from a stream of payments, and a view
 * of feature records (the last one per user, feature and window) to compare
 * two runs with.
 *
 * A program of your own needs none of this: copy features.c, drop the
 * demo, keep features_topology() and features_configure(). (Not named
 * features.h: that is glibc's, and -Iexamples would hide it.)
 */
#ifndef FEATURES_PIPELINE_H
#define FEATURES_PIPELINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice.h>

/* ---- the topology ---- */

/* What the topology's callbacks count (from any stream thread). */
typedef struct features_stats_s {
        /* window updates skipped because the payment was in the window
         * already: records replayed after a crash (see features.c) */
        atomic_ullong replays;
} features_stats_t;

/* payments (string key = user id, JSON payment) -> features (string key =
 * user id, JSON feature record). @stats is borrowed (NULL: not counted);
 * the topic names are copied. A builder mistake is reported when a driver
 * or app is made from it, as always. */
sluice_topology_t *features_topology(const char *payments,
                                     const char *features,
                                     features_stats_t *stats);

/* The settings the pipeline relies on: what is not a payment is logged,
 * counted and skipped (the deserialization and processing handlers). 0, or
 * -1 with the reason in @errstr. */
int features_configure(sluice_conf_t *conf, char *errstr, size_t errstr_size);

/* ---- a deterministic stream of payments ---- */

typedef struct features_payment_s {
        char key[16];    /* the user id, "u7" */
        char value[192]; /* the payment as JSON (or not, when !valid) */
        int64_t ts;      /* its event time: the record's timestamp */
        int user;        /* 7 for "u7" */
        int64_t amount_cents;
        int valid; /* 0: malformed on purpose (skipped by the handler) */
} features_payment_t;

typedef struct features_gen_s {
        uint64_t seed;
        int64_t t0, step_ms, clock;
        int payments, users, i;
} features_gen_t;

/* @payments payments of @users users ("u0".."u<users-1>", 4 to 1000)
 * from @t0 on, one every @step_ms on average (>= 500), about one in 100
 * malformed, about one in 4 up to 5 s older than the one before (event
 * time disorder within the grace period); each user pays in 15-minute
 * bursts 35 minutes apart (so its 30-minute sessions end). Then one
 * closing payment per user an hour after the last: it moves every
 * partition's stream time past the windows before it, so that they
 * close. */
void features_gen_init(features_gen_t *g, uint64_t seed, int64_t t0,
                       int payments, int users, int64_t step_ms);
/* The next payment into @p: 1, or 0 after the last. */
int features_gen_next(features_gen_t *g, features_payment_t *p);
/* How many records features_gen_next() gives in all. */
int features_gen_count(const features_gen_t *g);
/* A good @t0 for now: the hour 8 hours ago (brokers keep records of that
 * age; window changelogs keep a day past the windows' retention). */
int64_t features_t0(void);

/* ---- feature records, compared ---- */

/* The last record per (user, feature, window) of a stream of feature
 * records: records of one user must be added in the order they were
 * written (one partition's order, as a consumer reads it). A window whose
 * last record is a deletion ("deleted":true: a session that grew or merged)
 * is not live: it compares equal to one never seen; so is a stale session,
 * one that overlaps a session of the same user written later (a deletion
 * that at-least-once lost in a crash: see fv_mark_stale()). */
typedef struct features_view_s features_view_t;

features_view_t *features_view_new(void);
void features_view_destroy(features_view_t *v);
/* Add a record as read from the features topic. 0, or -1 if it is not a
 * feature record (the view keeps it out and counts it). */
int features_view_add(features_view_t *v, const void *key, size_t key_len,
                      const void *value, size_t value_len);
/* Records added, and those refused. */
size_t features_view_records(const features_view_t *v);
size_t features_view_refused(const features_view_t *v);
/* Live windows of @feature ("payments_1m", ...; NULL: all). */
size_t features_view_live(features_view_t *v, const char *feature);
/* Stale sessions (not live, see above). */
size_t features_view_stale(features_view_t *v);
/* Live windows of @feature in @want that @got lacks or has another last
 * value for. */
size_t features_view_missing(features_view_t *want, features_view_t *got,
                             const char *feature);
/* Every difference between the live windows of @want and @got (a window
 * missing, extra or with another value); the first few described in
 * @buf. */
size_t features_view_diff(features_view_t *want, features_view_t *got,
                          char *buf, size_t size);

/* Pipe every payment of @g (from its start; @g is not changed) through the
 * topology under the test driver: @returns the view of what it wrote to
 * the features topic, or NULL with the reason in @errstr. */
features_view_t *features_expected(const features_gen_t *g, char *errstr,
                                   size_t errstr_size);

#endif /* FEATURES_PIPELINE_H */
