/*
 * features.c - per-user features for machine learning over a stream of
 * payments: counts and sums in event-time windows, written as JSON feature
 * records that a model's feature store (or an online model) reads.
 *
 *   payments (key: user id; value: {"user":"u17","amount_cents":1234,
 *             "merchant":"m3","ts":...}; event time: the record timestamp)
 *     -> payment_fields: {"amount_cents":1234,"offset":56}
 *     -> group_by_key (the user: no repartition)
 *          -> 1-minute tumbling windows, final results only  (payments-1m)
 *          -> 5-minute windows every minute, on every update (payments-5m)
 *          -> 30-minute sessions, on every update           (sessions-30m)
 *          each: aggregate {"count","sum_cents","offset"} -> to_feature
 *     -> merge -> features (key: user id; value: a feature record)
 *
 * Feature records (window_end is exclusive for the time windows; for a
 * session window_start/window_end, also first_ts/last_ts, are the times of
 * its first and last payment):
 *
 *   {"user":"u17","feature":"payments_1m","window_start":...,
 *    "window_end":...,"count":3,"sum_cents":4567}
 *   {"user":"u17","feature":"session_30m","window_start":...,
 *    "window_end":...,"count":9,"sum_cents":12345,"first_ts":...,
 *    "last_ts":...}
 *   {"user":"u17","feature":"session_30m","window_start":...,
 *    "window_end":...,"deleted":true}
 *
 * The last kind: a session that grows (or that a payment merges with
 * another) is a new window, and the old one is deleted, as in Kafka
 * Streams. A consumer keeps the last record per (user, feature, window)
 * and drops deleted ones; and, because at-least-once can lose a deletion
 * in a crash (the session reached this topic, its changelog record did
 * not, so the instance that takes over never knew it), it drops a session
 * that overlaps one of the same user written later (features_view_*()
 * below do all three).
 *
 * Event time and lateness: windows accept payments up to 10 s (the grace
 * period) after they end, in stream time (the largest timestamp seen);
 * later ones are dropped and counted. A 1-minute feature is written once,
 * when its window closes (stream time >= end + grace). Stream time moves
 * only with records, per partition: a quiet partition holds its windows
 * open.
 *
 * Bad input does not stop the pipeline: a value that is not JSON, or not a
 * payment (no integer amount_cents >= 0), is undecodable and goes to the
 * deserialization handler; a user id that cannot be a JSON string fails
 * processing and goes to the processing handler. features_configure() sets
 * both to log_and_continue (logged, counted, skipped); dead_letter keeps
 * them in a topic.
 *
 * Replays. Under at-least-once a crash replays the records processed since
 * the last commit, and a window's state restored from its changelog may
 * already hold some of them. Each window's aggregate keeps the offset of
 * the last payment it took ("offset"), so a replayed payment is not
 * counted twice: the features stay exact. (A user's payments are all in
 * one partition, and one task's store sees only that partition, so its
 * offsets only grow. If the payments topic is ever recreated, reset the
 * application: its old offsets would hide the new payments.)
 *
 * Run it:
 *   features --demo        on the embedded cluster: a generator produces a
 *        deterministic stream of payments (with disorder, and a few
 *        malformed ones), the feature records are printed as they arrive,
 *        and when every final 1-minute feature is out the app is closed
 *        and every feature's last value is checked against the same
 *        topology run through the test driver (exit 1 on a difference);
 *        what `make demo-features` runs
 *   features --bootstrap HOST:PORT [--app-id ID]   on a Kafka cluster
 *        (topics payments and features must exist), until SIGINT/SIGTERM
 *
 * tests/integration/test_windows_it.c runs this topology on a broker (two
 * instances, one killed and restarted) through app_features.c, which
 * compiles this file with -DFEATURES_NO_MAIN (features_pipeline.h says
 * what it uses).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice.h>

#include "features_pipeline.h"

#define SECOND 1000
#define MINUTE (60 * SECOND)
#define GRACE (10 * SECOND)

/* ---- payments ---- */

/* The payment serde: JSON that is an object with an integer amount_cents
 * >= 0 (anything else is undecodable: the deserialization handler's). */
static int payment_decode(const sluice_serde_t *serde, const void *data,
                          size_t len, sluice_value_t *out, char *errstr,
                          size_t errstr_size) {
        json_error_t jerr;
        json_t *p = json_loadb(data, len, 0, &jerr), *amount;
        (void)serde;
        if (!p) {
                snprintf(errstr, errstr_size, "not JSON: %s (at %d)",
                         jerr.text, jerr.position);
                return -1;
        }
        amount = json_object_get(p, "amount_cents");
        if (!json_is_integer(amount) || json_integer_value(amount) < 0) {
                json_decref(p);
                snprintf(errstr, errstr_size,
                         "not a payment: no integer amount_cents >= 0");
                return -1;
        }
        *out = sluice_json_new(p);
        return 0;
}

static int payment_encode(const sluice_serde_t *serde,
                          const sluice_value_t *in, sluice_buf_t *buf,
                          const void **out, size_t *out_len, char *errstr,
                          size_t errstr_size) {
        const sluice_serde_t *json = sluice_serde_json();
        (void)serde;
        return json->serialize(json, in, buf, out, out_len, errstr,
                               errstr_size);
}

static const sluice_serde_t payment_serde = {
    .version     = SLUICE_SERDE_VERSION,
    .name        = "payment",
    .deserialize = payment_decode,
    .serialize   = payment_encode,
};

/* What the features need of a payment, and where it was read from:
 * {"amount_cents":1234,"offset":56}. The user id (the key) goes into every
 * feature record as a JSON string: one that cannot be (not UTF-8, empty)
 * fails here, before any window sees the payment. */
static int payment_fields(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *user = sluice_record_key(rec);
        const sluice_value_t *p    = sluice_record_value(rec);
        json_t *check, *f;
        (void)opaque;
        if (user->type != SLUICE_VALUE_STRING || !user->u.bytes.len ||
            p->type != SLUICE_VALUE_JSON)
                return -1;
        if (!(check = json_stringn(user->u.bytes.data, user->u.bytes.len)))
                return -1;
        json_decref(check);
        f = json_pack("{s:I,s:I}", "amount_cents",
                      json_integer_value(json_object_get(p->u.json,
                                                         "amount_cents")),
                      "offset", (json_int_t)sluice_record_offset(rec));
        if (!f)
                return -1;
        return sluice_record_set_value(rec, sluice_json_new(f));
}

/* ---- the aggregate of a window: {"count","sum_cents","offset"} ---- */

static json_int_t field(const json_t *o, const char *name) {
        return json_integer_value(json_object_get(o, name));
}

static int set_field(json_t *o, const char *name, json_int_t v) {
        return json_object_set_new(o, name, json_integer(v));
}

static int agg_init(sluice_value_t *out, void *opaque) {
        json_t *a = json_pack("{s:I,s:I,s:I}", "count", (json_int_t)0,
                              "sum_cents", (json_int_t)0, "offset",
                              (json_int_t)-1);
        (void)opaque;
        if (!a)
                return -1;
        *out = sluice_json_new(a);
        return 0;
}

/* Add a payment to a window (in place: the aggregate is Sluice's copy),
 * unless the window holds it already (a replay: see the top). */
static int agg_add(const sluice_value_t *user, const sluice_value_t *fields,
                   const sluice_value_t *agg, sluice_value_t *out,
                   void *opaque) {
        features_stats_t *stats = opaque;
        json_t *a = agg->u.json, *f = fields->u.json;
        json_int_t offset = field(f, "offset");
        (void)user;
        *out = *agg;
        if (offset <= field(a, "offset")) {
                if (stats)
                        atomic_fetch_add(&stats->replays, 1);
                return 0;
        }
        return set_field(a, "count", field(a, "count") + 1) ||
                       set_field(a, "sum_cents",
                                 field(a, "sum_cents") +
                                     field(f, "amount_cents")) ||
                       set_field(a, "offset", offset)
                   ? -1
                   : 0;
}

/* Two sessions that a payment bridges become one (a new aggregate). */
static int agg_merge(const sluice_value_t *user, const sluice_value_t *agg1,
                     const sluice_value_t *agg2, sluice_value_t *out,
                     void *opaque) {
        const json_t *a = agg1->u.json, *b = agg2->u.json;
        json_t *m;
        (void)user;
        (void)opaque;
        m = json_pack("{s:I,s:I,s:I}", "count",
                      field(a, "count") + field(b, "count"), "sum_cents",
                      field(a, "sum_cents") + field(b, "sum_cents"), "offset",
                      field(a, "offset") > field(b, "offset")
                          ? field(a, "offset")
                          : field(b, "offset"));
        if (!m)
                return -1;
        *out = sluice_json_new(m);
        return 0;
}

/* ---- feature records ---- */

typedef struct feature_kind_s {
        const char *name;  /* "feature" in the record */
        const char *store; /* the window store (and its changelog) */
        int session;
} feature_kind_t;

static const feature_kind_t kind_1m = {"payments_1m", "payments-1m", 0};
static const feature_kind_t kind_5m = {"payments_5m", "payments-5m", 0};
static const feature_kind_t kind_session = {"session_30m", "sessions-30m", 1};

/* A window's aggregate (or its deletion) -> the feature record, keyed by
 * the user alone (a new key drops the window from the key: the window is
 * in the value). */
static int to_feature(sluice_record_t *rec, void *opaque) {
        const feature_kind_t *kind = opaque;
        const sluice_value_t *user = sluice_record_key(rec);
        const sluice_value_t *agg  = sluice_record_value(rec);
        int64_t start, end;
        json_t *f;
        int err;
        if (user->type != SLUICE_VALUE_STRING ||
            !sluice_record_window(rec, &start, &end))
                return -1;
        f = json_pack("{s:s%,s:s,s:I,s:I}", "user", user->u.bytes.data,
                      user->u.bytes.len, "feature", kind->name,
                      "window_start", (json_int_t)start, "window_end",
                      (json_int_t)end);
        if (!f)
                return -1;
        if (agg->type != SLUICE_VALUE_JSON) {
                err = json_object_set_new(f, "deleted", json_true());
        } else {
                err = set_field(f, "count", field(agg->u.json, "count")) ||
                      set_field(f, "sum_cents",
                                field(agg->u.json, "sum_cents"));
                if (!err && kind->session)
                        err = set_field(f, "first_ts", start) ||
                              set_field(f, "last_ts", end);
        }
        if (err) {
                json_decref(f);
                return -1;
        }
        if ((err = sluice_record_set_value(rec, sluice_json_new(f))))
                return err;
        return sluice_record_set_key(
            rec, sluice_strn(user->u.bytes.data, user->u.bytes.len));
}

/* One windowed aggregation and its feature records. */
static sluice_stream_t *feature(sluice_windowed_t *w,
                                const feature_kind_t *kind,
                                features_stats_t *stats) {
        sluice_table_t *agg = sluice_windowed_aggregate(
            w, agg_init, agg_add, kind->session ? agg_merge : NULL, stats,
            sluice_serde_json(), kind->store);
        return sluice_stream_map(sluice_table_to_stream(agg), to_feature,
                                 (void *)kind);
}

sluice_topology_t *features_topology(const char *payments,
                                     const char *features,
                                     features_stats_t *stats) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s =
            sluice_stream_from(t, payments, sluice_serde_string(),
                               &payment_serde);
        sluice_grouped_t *g;
        sluice_windowed_t *w1, *w5, *ws;
        sluice_stream_t *f1, *f5, *fs;

        s = sluice_stream_map_values(s, payment_fields, NULL);
        g = sluice_stream_group_by_key(s, sluice_serde_string(),
                                       sluice_serde_json());

        w1 = sluice_grouped_windowed_by(g, sluice_windows_tumbling(MINUTE,
                                                                   GRACE));
        sluice_windowed_set_emit_final(w1);
        f1 = feature(w1, &kind_1m, stats);

        w5 = sluice_grouped_windowed_by(
            g, sluice_windows_hopping(5 * MINUTE, MINUTE, GRACE));
        f5 = feature(w5, &kind_5m, stats);

        ws = sluice_grouped_windowed_by(
            g, sluice_windows_session(30 * MINUTE, GRACE));
        fs = feature(ws, &kind_session, stats);

        sluice_stream_to(sluice_stream_merge(sluice_stream_merge(f1, f5), fs),
                         features, sluice_serde_string(), sluice_serde_json());
        return t;
}

int features_configure(sluice_conf_t *conf, char *errstr,
                       size_t errstr_size) {
        return sluice_conf_set(conf,
                               "default.deserialization.exception.handler",
                               "log_and_continue", errstr, errstr_size) ||
                       sluice_conf_set(conf, "processing.exception.handler",
                                       "log_and_continue", errstr,
                                       errstr_size)
                   ? -1
                   : 0;
}

/* ---- the payment generator ---- */

#define BURST_S 900   /* a user pays for 15 minutes ... */
#define CYCLE_S 3000  /* ... every 50: 35 minutes apart */
#define JITTER_MS 5000

static uint64_t mix(uint64_t seed, uint64_t i, uint64_t what) {
        /* splitmix64 of (seed, i, what) */
        uint64_t z = seed * 0x9e3779b97f4a7c15ULL +
                     (i * 8 + what + 1) * 0xd1b54a32d192ed03ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

void features_gen_init(features_gen_t *g, uint64_t seed, int64_t t0,
                       int payments, int users, int64_t step_ms) {
        memset(g, 0, sizeof(*g));
        g->seed     = seed;
        g->t0       = t0;
        g->clock    = t0;
        g->payments = payments;
        g->users    = users < 4 ? 4 : users > 1000 ? 1000 : users;
        g->step_ms  = step_ms < 500 ? 500 : step_ms;
}

int features_gen_count(const features_gen_t *g) {
        return g->payments + g->users;
}

static int active(const features_gen_t *g, int user, int64_t clock) {
        int64_t s = (clock - g->t0) / SECOND +
                    (int64_t)user * CYCLE_S / g->users;
        return s % CYCLE_S < BURST_S;
}

int features_gen_next(features_gen_t *g, features_payment_t *p) {
        uint64_t r;
        int i = g->i, u, cnt = 0;
        memset(p, 0, sizeof(*p));
        if (i >= features_gen_count(g))
                return 0;
        g->i++;
        r = mix(g->seed, (uint64_t)i, 0);
        if (i < g->payments) {
                uint64_t pick;
                g->clock += 200 + (int64_t)(r % (uint64_t)(2 * g->step_ms -
                                                           400));
                for (u = 0; u < g->users; u++)
                        cnt += active(g, u, g->clock);
                pick    = mix(g->seed, (uint64_t)i, 1) % (uint64_t)(cnt ? cnt
                                                                        : 1);
                p->user = 0;
                for (u = 0; u < g->users; u++)
                        if ((cnt == 0 || active(g, u, g->clock)) &&
                            pick-- == 0) {
                                p->user = u;
                                break;
                        }
                p->ts = g->clock;
                if (mix(g->seed, (uint64_t)i, 2) % 4 == 0)
                        p->ts -= (int64_t)(mix(g->seed, (uint64_t)i, 3) %
                                           JITTER_MS);
        } else {
                /* closing payments, an hour after the last one */
                p->user = i - g->payments;
                p->ts   = g->clock + 60 * MINUTE;
        }
        p->amount_cents = 100 + (int64_t)(mix(g->seed, (uint64_t)i, 4) % 19901);
        snprintf(p->key, sizeof(p->key), "u%d", p->user);
        p->valid = !(i < g->payments && i % 97 == 96);
        if (p->valid)
                snprintf(p->value, sizeof(p->value),
                         "{\"user\":\"%s\",\"amount_cents\":%" PRId64
                         ",\"merchant\":\"m%d\",\"ts\":%" PRId64 "}",
                         p->key, p->amount_cents,
                         (int)(mix(g->seed, (uint64_t)i, 5) % 10), p->ts);
        else if ((i / 97) % 2 == 0) /* cut off */
                snprintf(p->value, sizeof(p->value),
                         "{\"user\":\"%s\",\"amount_cents\":%" PRId64,
                         p->key, p->amount_cents);
        else /* JSON, but not a payment */
                snprintf(p->value, sizeof(p->value),
                         "{\"user\":\"%s\",\"amount_cents\":\"%" PRId64
                         ".00\",\"ts\":%" PRId64 "}",
                         p->key, p->amount_cents / 100, p->ts);
        return 1;
}

int64_t features_t0(void) {
        int64_t now = (int64_t)time(NULL) * SECOND;
        return now - now % (60 * MINUTE) - 8 * 60 * MINUTE;
}

/* ---- the view: last record per (user, feature, window) ---- */

typedef struct fv_ent_s {
        char *id; /* "user\tfeature\tstart\tend" */
        char *value;
        size_t value_len, seq;
        size_t group_len; /* of "user\tfeature\t" */
        int64_t start, end;
        int deleted, session;
        int stale; /* a session that overlaps one written later */
        char feature[24];
} fv_ent_t;

struct features_view_s {
        fv_ent_t *e;
        size_t n, cap, seq, refused;
        size_t sorted; /* e[0..sorted) is sorted, one entry per id */
};

features_view_t *features_view_new(void) {
        return calloc(1, sizeof(features_view_t));
}

static void fv_ent_free(fv_ent_t *e) {
        free(e->id);
        free(e->value);
}

void features_view_destroy(features_view_t *v) {
        size_t i;
        if (!v)
                return;
        for (i = 0; i < v->n; i++)
                fv_ent_free(&v->e[i]);
        free(v->e);
        free(v);
}

int features_view_add(features_view_t *v, const void *key, size_t key_len,
                      const void *value, size_t value_len) {
        json_t *j = value ? json_loadb(value, value_len, 0, NULL) : NULL;
        const char *user, *feature;
        json_int_t start, end;
        int deleted = 0, n;
        fv_ent_t *e;
        char id[256];

        v->seq++;
        if (!j || json_unpack(j, "{s:s,s:s,s:I,s:I,s?b}", "user", &user,
                              "feature", &feature, "window_start", &start,
                              "window_end", &end, "deleted", &deleted) ||
            !key || strlen(user) != key_len || memcmp(user, key, key_len) ||
            strlen(feature) >= sizeof(e->feature) ||
            (n = snprintf(id, sizeof(id), "%s\t%s\t%" JSON_INTEGER_FORMAT
                                          "\t%" JSON_INTEGER_FORMAT,
                          user, feature, start, end)) < 0 ||
            (size_t)n >= sizeof(id))
                goto refuse;
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 1024;
                fv_ent_t *ne = realloc(v->e, cap * sizeof(*ne));
                if (!ne)
                        goto refuse;
                v->e   = ne;
                v->cap = cap;
        }
        e = &v->e[v->n];
        memset(e, 0, sizeof(*e));
        e->id    = strdup(id);
        e->value = malloc(value_len + 1);
        if (!e->id || !e->value) {
                fv_ent_free(e);
                goto refuse;
        }
        memcpy(e->value, value, value_len);
        e->value[value_len] = '\0';
        e->value_len        = value_len;
        e->seq              = v->seq;
        e->deleted          = deleted;
        e->session          = !strcmp(feature, kind_session.name);
        e->start            = start;
        e->end              = end;
        e->group_len        = strlen(user) + strlen(feature) + 2;
        snprintf(e->feature, sizeof(e->feature), "%s", feature);
        v->n++;
        json_decref(j);
        return 0;
refuse:
        json_decref(j);
        v->refused++;
        return -1;
}

size_t features_view_records(const features_view_t *v) {
        return v->seq;
}

size_t features_view_refused(const features_view_t *v) {
        return v->refused;
}

static int fv_cmp(const void *pa, const void *pb) {
        const fv_ent_t *a = pa, *b = pb;
        int c = strcmp(a->id, b->id);
        return c ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sessions of one user never overlap: of two live ones that do, the one
 * written first is stale. Under at-least-once that happens when an
 * instance dies after a session reached the features topic and before its
 * changelog record did: the session that took over never knew that window,
 * so it never deletes it. (Time windows have no such ghosts: their key is
 * (user, start), and the replay writes it again.) */
static void fv_mark_stale(features_view_t *v) {
        size_t i, j, k;
        for (i = 0; i < v->n; i = j) {
                fv_ent_t *g = &v->e[i];
                for (j = i + 1; j < v->n && v->e[j].group_len == g->group_len &&
                                !strncmp(v->e[j].id, g->id, g->group_len);
                     j++)
                        ;
                for (k = i; k < j; k++) {
                        fv_ent_t *a = &v->e[k];
                        size_t m;
                        a->stale = 0;
                        for (m = i; a->session && !a->deleted && m < j; m++) {
                                const fv_ent_t *b = &v->e[m];
                                if (!b->deleted && b->seq > a->seq &&
                                    b->start <= a->end && a->start <= b->end)
                                        a->stale = 1;
                        }
                }
        }
}

/* Sort, and keep the last entry of each id. */
static void fv_compact(features_view_t *v) {
        size_t i, out = 0;
        if (v->sorted == v->n)
                return;
        qsort(v->e, v->n, sizeof(*v->e), fv_cmp);
        for (i = 0; i < v->n; i++) {
                if (i + 1 < v->n && !strcmp(v->e[i].id, v->e[i + 1].id)) {
                        fv_ent_free(&v->e[i]);
                        continue;
                }
                v->e[out++] = v->e[i];
        }
        v->n = v->sorted = out;
        fv_mark_stale(v);
}

static int fv_live(const fv_ent_t *e) {
        return e && !e->deleted && !e->stale;
}

static const fv_ent_t *fv_find(features_view_t *v, const char *id) {
        size_t lo = 0, hi;
        fv_compact(v);
        hi = v->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c      = strcmp(v->e[mid].id, id);
                if (!c)
                        return &v->e[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

size_t features_view_live(features_view_t *v, const char *feature) {
        size_t i, n = 0;
        fv_compact(v);
        for (i = 0; i < v->n; i++)
                if (fv_live(&v->e[i]) &&
                    (!feature || !strcmp(v->e[i].feature, feature)))
                        n++;
        return n;
}

size_t features_view_stale(features_view_t *v) {
        size_t i, n = 0;
        fv_compact(v);
        for (i = 0; i < v->n; i++)
                n += (size_t)v->e[i].stale;
        return n;
}

static int fv_same(const fv_ent_t *a, const fv_ent_t *b) {
        return fv_live(b) && a->value_len == b->value_len &&
               !memcmp(a->value, b->value, a->value_len);
}

size_t features_view_missing(features_view_t *want, features_view_t *got,
                             const char *feature) {
        size_t i, n = 0;
        fv_compact(want);
        fv_compact(got);
        for (i = 0; i < want->n; i++) {
                const fv_ent_t *w = &want->e[i];
                if (fv_live(w) && (!feature || !strcmp(w->feature, feature)) &&
                    !fv_same(w, fv_find(got, w->id)))
                        n++;
        }
        return n;
}

size_t features_view_diff(features_view_t *want, features_view_t *got,
                          char *buf, size_t size) {
        size_t i, n = 0, len = 0;
        features_view_t *side[2] = {want, got};
        int s;
        if (size)
                buf[0] = '\0';
        fv_compact(want);
        fv_compact(got);
        for (s = 0; s < 2; s++)
                for (i = 0; i < side[s]->n; i++) {
                        const fv_ent_t *a = &side[s]->e[i];
                        const fv_ent_t *b = fv_find(side[1 - s], a->id);
                        int k;
                        if (!fv_live(a) || (s == 1 && fv_live(b)) ||
                            fv_same(a, b))
                                continue; /* a difference counts once */
                        if (n++ < 4 && len < size) {
                                k = snprintf(buf + len, size - len,
                                             "  want %s, got %s\n",
                                             s ? "nothing" : a->value,
                                             s ? a->value
                                             : fv_live(b)
                                                 ? b->value
                                                 : "nothing");
                                len += k > 0 ? (size_t)k : 0;
                        }
                }
        return n;
}

/* ---- the features the test driver computes ---- */

static void quiet_log(sluice_log_level_t level, const char *facility,
                      const char *message, void *opaque) {
        (void)opaque;
        fprintf(stderr, "features (driver): %d %s: %s\n", (int)level,
                facility, message);
}

features_view_t *features_expected(const features_gen_t *gen, char *errstr,
                                   size_t errstr_size) {
        features_gen_t g;
        features_payment_t p;
        sluice_topology_t *t = features_topology("payments", "features", NULL);
        sluice_conf_t *conf  = sluice_conf_new();
        features_view_t *v   = features_view_new();
        sluice_driver_t *drv = NULL;
        const sluice_output_t *o;

        /* from the generator's start */
        features_gen_init(&g, gen->seed, gen->t0, gen->payments, gen->users,
                          gen->step_ms);
        if (!t || !conf || !v) {
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        /* the skipped payments are the demo's to report, not the driver's */
        sluice_conf_set_log_cb(conf, quiet_log, SLUICE_LOG_ERR, NULL);
        if (features_configure(conf, errstr, errstr_size))
                goto fail;
        if (!(drv = sluice_driver_new(t, conf, errstr, errstr_size)))
                goto fail;
        conf = NULL; /* the driver's */
        while (features_gen_next(&g, &p)) {
                if (sluice_driver_pipe(drv, "payments", p.key, strlen(p.key),
                                       p.value, strlen(p.value), p.ts, NULL,
                                       0)) {
                        snprintf(errstr, errstr_size, "%s",
                                 sluice_driver_last_error(drv));
                        goto fail;
                }
                while ((o = sluice_driver_read(drv, "features")))
                        if (features_view_add(v, o->key, o->key_len,
                                              o->value, o->value_len)) {
                                snprintf(errstr, errstr_size,
                                         "not a feature record: %.*s",
                                         (int)o->value_len,
                                         (const char *)o->value);
                                goto fail;
                        }
        }
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return v;
fail:
        sluice_driver_destroy(drv);
        sluice_conf_destroy(conf);
        sluice_topology_destroy(t);
        features_view_destroy(v);
        return NULL;
}

#ifndef FEATURES_NO_MAIN

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <threads.h>

#define DEMO_SEED 42
#define DEMO_PAYMENTS 300
#define DEMO_USERS 8
#define DEMO_STEP_MS 12000

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static void hhmmss(int64_t ms, char *buf, size_t size) {
        time_t s = (time_t)(ms / SECOND);
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(buf, size, "%H:%M:%S", &tm);
}

/* The demo's generator: every payment of @arg (a features_gen_t), 100 a
 * second. */
typedef struct demo_gen_s {
        features_gen_t g;
        const char *bootstrap;
} demo_gen_t;

static int produce_payments(void *arg) {
        demo_gen_t *dg = arg;
        features_gen_t g = dg->g;
        features_payment_t p;
        char err[512], t[16];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *prod;
        int n = 0, total = features_gen_count(&g);
        struct timespec gap = {0, 10 * 1000 * 1000};
        rd_kafka_conf_set(c, "bootstrap.servers", dg->bootstrap, NULL, 0);
        /* the partitioner of Kafka's Java clients, and of Sluice's sinks */
        rd_kafka_conf_set(c, "partitioner", "murmur2_random", NULL, 0);
        if (!(prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err)))) {
                fprintf(stderr, "features: %s\n", err);
                return -1;
        }
        while (features_gen_next(&g, &p) && !stop) {
                rd_kafka_producev(prod, RD_KAFKA_V_TOPIC("payments"),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_KEY(p.key, strlen(p.key)),
                                  RD_KAFKA_V_VALUE(p.value, strlen(p.value)),
                                  RD_KAFKA_V_TIMESTAMP(p.ts), RD_KAFKA_V_END);
                rd_kafka_poll(prod, 0);
                if (++n % 50 == 0 || n == total || !p.valid) {
                        hhmmss(p.ts, t, sizeof(t));
                        if (p.valid)
                                printf("  -> payments   %d of %d produced "
                                       "(event time %s)\n",
                                       n, total, t);
                        else
                                printf("  -> payments   %-4s %s   "
                                       "(malformed on purpose)\n",
                                       p.key, p.value);
                        fflush(stdout);
                }
                nanosleep(&gap, NULL); /* a demo pace, for the eye */
        }
        rd_kafka_flush(prod, 10000);
        rd_kafka_destroy(prod);
        return 0;
}

/* Print a feature record the way a person reads it. */
static void print_feature(const rd_kafka_message_t *m) {
        json_t *j = json_loadb(m->payload, m->len, 0, NULL);
        const char *feature = "?";
        json_int_t start = 0, end = 0, count = 0, sum = 0;
        int deleted = 0;
        char a[16], b[16];
        if (!j || json_unpack(j, "{s:s,s:I,s:I,s?I,s?I,s?b}", "feature",
                              &feature, "window_start", &start, "window_end",
                              &end, "count", &count, "sum_cents", &sum,
                              "deleted", &deleted)) {
                printf("  <- features   %.*s\n", (int)m->len,
                       (const char *)m->payload);
                json_decref(j);
                return;
        }
        hhmmss(start, a, sizeof(a));
        hhmmss(end, b, sizeof(b));
        if (deleted)
                printf("  <- features   %-4.*s %-12s %s-%s   (deleted: the "
                       "session grew or merged)\n",
                       (int)m->key_len, (const char *)m->key, feature, a, b);
        else
                printf("  <- features   %-4.*s %-12s %s-%s  count %3lld  sum "
                       "%8.2f%s\n",
                       (int)m->key_len, (const char *)m->key, feature, a, b,
                       (long long)count, (double)sum / 100.0,
                       strcmp(feature, "payments_1m") ? "" : "   (final)");
        json_decref(j);
}

/* Read the features topic (its 4 partitions, no group) into @got, printing
 * each record, until @until(got) or the deadline. */
typedef struct demo_reader_s {
        rd_kafka_t *rk;
        features_view_t *got, *want;
        size_t read;
} demo_reader_t;

static int demo_reader_open(demo_reader_t *r, const char *bootstrap) {
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *parts;
        int i;
        rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(c, "group.id", "features-demo-reader", NULL, 0);
        if (!(r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err)))) {
                fprintf(stderr, "features: %s\n", err);
                return -1;
        }
        rd_kafka_poll_set_consumer(r->rk);
        parts = rd_kafka_topic_partition_list_new(4);
        for (i = 0; i < 4; i++)
                rd_kafka_topic_partition_list_add(parts, "features", i)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(r->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        return 0;
}

static void demo_reader_poll(demo_reader_t *r, int timeout_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, timeout_ms);
        for (; m; m = rd_kafka_consumer_poll(r->rk, 0)) {
                if (!m->err) {
                        print_feature(m);
                        features_view_add(r->got, m->key, m->key_len,
                                          m->payload, m->len);
                        r->read++;
                }
                rd_kafka_message_destroy(m);
        }
        fflush(stdout);
}

/* Read on until every partition's end as it is now. */
static int demo_reader_to_end(demo_reader_t *r) {
        int64_t lo, hi[4];
        time_t deadline = time(NULL) + 30;
        int i, done = 0;
        for (i = 0; i < 4; i++)
                if (rd_kafka_query_watermark_offsets(r->rk, "features", i, &lo,
                                                     &hi[i], 5000))
                        return -1;
        while (!done && time(NULL) < deadline) {
                rd_kafka_topic_partition_list_t *pos =
                    rd_kafka_topic_partition_list_new(4);
                for (i = 0; i < 4; i++)
                        rd_kafka_topic_partition_list_add(pos, "features", i);
                rd_kafka_position(r->rk, pos);
                for (done = 1, i = 0; i < 4; i++)
                        if (hi[i] > 0 && pos->elems[i].offset < hi[i])
                                done = 0;
                rd_kafka_topic_partition_list_destroy(pos);
                if (!done)
                        demo_reader_poll(r, 100);
        }
        return done ? 0 : -1;
}

/* The undecodable records the app skipped, from its metrics. */
static long long skipped_undecodable(const sluice_app_t *app) {
        char *m = sluice_app_metrics_json(app);
        json_t *j = m ? json_loads(m, 0, NULL) : NULL, *thr;
        size_t i;
        long long n = 0;
        json_array_foreach(json_object_get(j, "threads"), i, thr)
                n += (long long)json_integer_value(json_object_get(
                    json_object_get(thr, "skipped"), "deserialization"));
        json_decref(j);
        free(m);
        return n;
}

static int demo(void) {
        char err[512];
        features_stats_t stats;
        sluice_topology_t *t;
        sluice_conf_t *conf = sluice_conf_new();
        sluice_app_t *app;
        demo_gen_t dg;
        demo_reader_t r = {0};
        features_view_t *want;
        features_payment_t p;
        features_gen_t g;
        int malformed = 0, gen_rc = -1, rc = 1;
        size_t diffs, finals;
        thrd_t gen;
        time_t deadline;
        char *desc, diff[2048];

        atomic_init(&stats.replays, 0);
        features_gen_init(&dg.g, DEMO_SEED, features_t0(), DEMO_PAYMENTS,
                          DEMO_USERS, DEMO_STEP_MS);
        for (g = dg.g; features_gen_next(&g, &p);)
                malformed += !p.valid;
        if (!(want = features_expected(&dg.g, err, sizeof(err)))) {
                fprintf(stderr, "features: the test driver: %s\n", err);
                return 1;
        }
        finals = features_view_live(want, "payments_1m");
        t      = features_topology("payments", "features", &stats);
        desc   = sluice_topology_describe(t);
        printf("%s", desc);
        free(desc);
        printf("the test driver computed, from %d payments of %d users "
               "(%d malformed): %zu final 1-minute features, %zu 5-minute "
               "windows, %zu sessions\n",
               features_gen_count(&dg.g), DEMO_USERS, malformed, finals,
               features_view_live(want, "payments_5m"),
               features_view_live(want, "session_30m"));
        if (sluice_conf_set(conf, "application.id", "features", err,
                            sizeof(err)) ||
            sluice_conf_set(conf, "sluice.embedded", "true", err,
                            sizeof(err)) ||
            sluice_conf_set(conf, "commit.interval.ms", "200", err,
                            sizeof(err)) ||
            features_configure(conf, err, sizeof(err))) {
                fprintf(stderr, "features: %s\n", err);
                sluice_conf_destroy(conf);
                sluice_topology_destroy(t);
                features_view_destroy(want);
                return 1;
        }
        if (!(app = sluice_app_new(t, conf, err, sizeof(err))))
                sluice_conf_destroy(conf); /* not taken over */
        if (!app || sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "features: %s\n", err);
                sluice_app_destroy(app);
                sluice_topology_destroy(t);
                features_view_destroy(want);
                return 1;
        }
        printf("embedded cluster at %s; waiting for the app to join its "
               "group\n",
               sluice_app_bootstrap_servers(app));
        deadline = time(NULL) + 30;
        while (sluice_app_state(app) != SLUICE_APP_RUNNING &&
               time(NULL) < deadline) {
                struct timespec tick = {0, 20 * 1000 * 1000};
                nanosleep(&tick, NULL);
        }
        printf("app %s; producing payments, printing feature records until "
               "every final 1-minute feature is out\n",
               sluice_app_state_name(sluice_app_state(app)));
        fflush(stdout);

        r.got  = features_view_new();
        r.want = want;
        dg.bootstrap = sluice_app_bootstrap_servers(app);
        if (!r.got || demo_reader_open(&r, dg.bootstrap) ||
            thrd_create(&gen, produce_payments, &dg) != thrd_success) {
                fprintf(stderr, "features: cannot start the demo\n");
                goto out;
        }
        deadline = time(NULL) + 90;
        while (features_view_missing(want, r.got, "payments_1m") &&
               time(NULL) < deadline && !stop &&
               sluice_app_state(app) != SLUICE_APP_ERROR)
                demo_reader_poll(&r, 100);
        thrd_join(gen, &gen_rc);

        /* every payment processed (the last ones may still be on their
         * way when the last window closes), then closing commits what the
         * app holds: the last updates of the 5-minute windows and the
         * sessions; then read to the end */
        deadline = time(NULL) + 30;
        while (sluice_app_processed(app) <
                   (uint64_t)(features_gen_count(&dg.g) - malformed) &&
               time(NULL) < deadline && !stop &&
               sluice_app_state(app) != SLUICE_APP_ERROR)
                demo_reader_poll(&r, 100);
        sluice_app_close(app);
        if (sluice_app_state(app) == SLUICE_APP_ERROR)
                fprintf(stderr, "features: %s\n", sluice_app_error(app));
        else if (demo_reader_to_end(&r))
                fprintf(stderr, "features: could not read features to its "
                                "end\n");
        diffs = features_view_diff(want, r.got, diff, sizeof(diff));
        printf("%zu feature records read; final 1-minute features: %zu of "
               "%zu; skipped undecodable payments: %lld of %d\n",
               r.read, finals - features_view_missing(want, r.got,
                                                      "payments_1m"),
               finals, skipped_undecodable(app), malformed);
        if (!diffs && !gen_rc && skipped_undecodable(app) == malformed &&
            sluice_app_state(app) != SLUICE_APP_ERROR) {
                printf("every feature's last value equals the test "
                       "driver's\n");
                rc = 0;
        } else {
                printf("FAILED: %zu feature(s) differ from the test "
                       "driver's:\n%s",
                       diffs, diff);
        }
out:
        if (r.rk) {
                rd_kafka_consumer_close(r.rk);
                rd_kafka_destroy(r.rk);
        }
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        features_view_destroy(r.got);
        features_view_destroy(want);
        return rc;
}

int main(int argc, char **argv) {
        const char *bootstrap = NULL, *app_id = "features";
        char err[512];
        features_stats_t stats;
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
                fprintf(stderr, "usage: features --demo | --bootstrap "
                                "HOST:PORT [--app-id ID]\n");
                return 2;
        }
        atomic_init(&stats.replays, 0);
        t    = features_topology("payments", "features", &stats);
        conf = sluice_conf_new();
        if (sluice_conf_set(conf, "application.id", app_id, err, sizeof(err)) ||
            sluice_conf_set(conf, "bootstrap.servers", bootstrap, err,
                            sizeof(err)) ||
            features_configure(conf, err, sizeof(err)) ||
            !(app = sluice_app_new(t, conf, err, sizeof(err)))) {
                fprintf(stderr, "features: %s\n", err);
                sluice_conf_destroy(conf); /* not taken over */
                sluice_topology_destroy(t);
                return 1;
        }
        if (sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "features: %s\n", err);
                sluice_app_destroy(app);
                sluice_topology_destroy(t);
                return 1;
        }
        while (!stop && sluice_app_state(app) != SLUICE_APP_ERROR) {
                struct timespec tick = {0, 100 * 1000 * 1000};
                nanosleep(&tick, NULL);
        }
        rc = sluice_app_state(app) == SLUICE_APP_ERROR;
        if (rc)
                fprintf(stderr, "features: %s\n", sluice_app_error(app));
        sluice_app_close(app);
        fprintf(stderr, "features: processed %llu records; %llu window "
                        "updates skipped as replays\n",
                (unsigned long long)sluice_app_processed(app),
                (unsigned long long)atomic_load(&stats.replays));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return rc;
}

#endif /* FEATURES_NO_MAIN */
