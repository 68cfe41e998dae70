/*
 * versioned.c - versioned key-value stores (KIP-889) and the grace buffer
 * of stream records (KIP-923), on the ordinary store interface. See
 * versioned.h for the API and the semantics, and the README's "Versioned
 * tables" for the user's view.
 *
 * Versioned store layout (one ordered key-value store per task, any
 * backend; values carry state.c's 8-byte timestamp prefix, here the
 * version's valid_from, so generic tools still read them):
 *
 *     latest version:  [ff ff ff ff ff ff ff fe][key]
 *                        -> [valid_from][kind][value bytes]
 *     older versions:  [segment][key][valid_from]
 *                        -> [valid_from][valid_to][kind][value bytes]
 *     meta record:     [ff x 8]["vmeta"] -> [stream time][stream time]
 *                                           [live segment]
 *
 * with 8-byte big-endian integers and segment = valid_to / segment
 * interval (Kafka Streams' LogicalKeyValueSegments: history is segmented
 * by valid_to, so expiry drops whole segments from the front as stream
 * time moves, never scanning what stays). kind: 1 a value, 0 a tombstone
 * (a version like any other: it ends the one before it, and a record
 * inserted out of order before it is valid until it), 2 a marker
 * [segment(T)][key][T] left by a latest tombstone at T so that expiry
 * drops that tombstone too once T is past the retention.
 *
 * Changelog: one record per accepted put, (key, value or null, ts), as
 * Kafka Streams' ChangeLoggingVersionedKeyValueBytesStore; restore replays
 * the puts (sl_versioned_restore) rather than copying the layout, so the
 * changelog can be compacted on the key (min.compaction.lag.ms = history
 * retention + 1 day, VersionedChangelogTopicConfig). Expiry and the meta
 * record touch the backend only.
 */
#include "versioned.h"
#include "task.h"

#include <stdlib.h>
#include <string.h>

#define LATEST_TAG "\xff\xff\xff\xff\xff\xff\xff\xfe"
#define VMETA_KEY "\xff\xff\xff\xff\xff\xff\xff\xffvmeta"
#define VMETA_KEY_LEN 13
#define GMETA_KEY "\xff\xff\xff\xff\xff\xff\xff\xffgmeta"
#define GMETA_KEY_LEN 13

enum { KIND_TOMB = 0, KIND_VALUE = 1, KIND_MARKER = 2 };

struct sl_versioned_s {
        int loaded;
        int64_t observed; /* stream time, -1: none */
        int64_t live_seg; /* older segments were dropped */
        int64_t meta_obs, meta_live; /* as the meta record holds them */
        sluice_buf_t k, v; /* composite key, value scratch */
        sluice_buf_t out;  /* the value a get returns */
        sluice_buf_t keep; /* a value moved between keys */
        sluice_buf_t bound; /* the other end of a scan */
};

typedef struct sl_versioned_s ver_t;

/* A version found in the history. */
typedef struct hist_s {
        int found;
        int kind; /* KIND_VALUE or KIND_TOMB */
        int64_t from, to;
} hist_t;

/* ---- small things ---- */

int64_t sl_versioned_segment_ms(int64_t history_ms) {
        int64_t s;
        if (history_ms <= 60000)
                s = history_ms / 3 > 2000 ? history_ms / 3 : 2000;
        else if (history_ms <= 300000)
                s = history_ms / 5 > 20000 ? history_ms / 5 : 20000;
        else if (history_ms <= 3600000)
                s = history_ms / 12 > 60000 ? history_ms / 12 : 60000;
        else
                s = history_ms / 24 > 300000 ? history_ms / 24 : 300000;
        return s;
}

int sl_versioned_is(const sluice_kv_t *kv) {
        return kv && kv->def && kv->def->versioned;
}

static int64_t seg_of(const sluice_kv_t *kv, int64_t t) {
        return t < 0 ? 0 : t / kv->def->segment_ms;
}

/* The oldest time still served: stream time - retention (INT64_MIN when
 * nothing is expired yet). */
static int64_t bound_of(const sluice_kv_t *kv, const ver_t *V) {
        if (V->observed < 0 || kv->def->history_ms > V->observed)
                return INT64_MIN;
        return V->observed - kv->def->history_ms;
}

static int fail(sluice_kv_t *kv, int err, const char *what, int berr) {
        char why[SL_ERRSTR_SIZE];
        if (err == SLUICE_ERR_NOMEM)
                sl_errstr(kv->task->errstr, sizeof(kv->task->errstr),
                          "out of memory");
        else
                sl_errstr(kv->task->errstr, sizeof(kv->task->errstr),
                          "versioned store \"%s\": %s (type %s): %s",
                          kv->def->name, what, kv->type->name,
                          sl_kv_reason(kv, berr, why, sizeof(why)));
        return err;
}

static int buf_set(sluice_buf_t *b, const void *p, size_t n) {
        b->len = 0;
        if (sluice_buf_reserve(b, n ? n : 1))
                return SLUICE_ERR_NOMEM;
        if (n)
                memcpy(b->data, p, n);
        b->len = n;
        return 0;
}

/* [tag or segment][key]([from]) into V->k. */
static int make_key(ver_t *V, const void *tag8, int64_t seg, const void *key,
                    size_t klen, int with_from, int64_t from) {
        size_t n = 8 + klen + (with_from ? 8u : 0u);
        V->k.len = 0;
        if (sluice_buf_reserve(&V->k, n))
                return SLUICE_ERR_NOMEM;
        if (tag8)
                memcpy(V->k.data, tag8, 8);
        else
                sl_put_be64(V->k.data, (uint64_t)seg);
        if (klen)
                memcpy(V->k.data + 8, key, klen);
        if (with_from)
                sl_put_be64(V->k.data + 8 + klen, (uint64_t)from);
        V->k.len = n;
        return 0;
}

/* Backend put of V->k = [ts]([to])[kind][bytes]. */
static int raw_put(sluice_kv_t *kv, ver_t *V, int64_t ts, int with_to,
                   int64_t to, int kind, const void *value, size_t vlen) {
        size_t n = 8 + (with_to ? 8u : 0u) + 1 + vlen, off = 8;
        int err;
        V->v.len = 0;
        if (sluice_buf_reserve(&V->v, n))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(V->v.data, (uint64_t)ts);
        if (with_to) {
                sl_put_be64(V->v.data + 8, (uint64_t)to);
                off += 8;
        }
        V->v.data[off++] = (unsigned char)kind;
        if (vlen)
                memcpy(V->v.data + off, value, vlen);
        if ((err = kv->type->put(kv->h, V->k.data, V->k.len, V->v.data, n)))
                return fail(kv, SLUICE_ERR_STATE, "write failed", err);
        return 0;
}

static int raw_del(sluice_kv_t *kv, ver_t *V) {
        int err = kv->type->del(kv->h, V->k.data, V->k.len);
        return err ? fail(kv, SLUICE_ERR_STATE, "delete failed", err) : 0;
}

/* The latest version of @key: 1 with its from, kind and value (copied to
 * V->out), 0 if none, < 0. */
static int latest_get(sluice_kv_t *kv, ver_t *V, const void *key,
                      size_t klen, int64_t *from, int *kind) {
        const void *v;
        size_t n;
        int r;
        if ((r = make_key(V, LATEST_TAG, 0, key, klen, 0, 0)))
                return fail(kv, r, "", 0);
        r = kv->type->get(kv->h, V->k.data, V->k.len, &v, &n);
        if (r < 0)
                return fail(kv, SLUICE_ERR_STATE, "read failed", r);
        if (!r)
                return 0;
        if (n < 9)
                return fail(kv, SLUICE_ERR_STATE, "damaged latest version",
                            SLUICE_ERR_CORRUPT);
        *from = (int64_t)sl_get_be64(v);
        *kind = ((const unsigned char *)v)[8];
        if (buf_set(&V->out, (const unsigned char *)v + 9, n - 9))
                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
        return 1;
}

static int load(sluice_kv_t *kv, ver_t **out) {
        ver_t *V = kv->ver;
        const void *v;
        size_t n;
        int r;
        if (!kv->def->versioned)
                return SLUICE_ERR_INVALID_ARG;
        if (!V && !(V = kv->ver = calloc(1, sizeof(*V))))
                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
        if (!V->loaded) {
                V->observed = V->meta_obs = -1;
                V->live_seg = V->meta_live = 0;
                r = kv->type->get(kv->h, VMETA_KEY, VMETA_KEY_LEN, &v, &n);
                if (r < 0)
                        return fail(kv, SLUICE_ERR_STATE,
                                    "cannot read its stream time", r);
                if (r && n == 24) {
                        V->observed = V->meta_obs = (int64_t)sl_get_be64(
                            (const unsigned char *)v + 8);
                        V->live_seg = V->meta_live = (int64_t)sl_get_be64(
                            (const unsigned char *)v + 16);
                }
                V->loaded = 1;
        }
        *out = V;
        return 0;
}

/*
 * The older version of @key valid at @as_of (from <= as_of < to): one
 * range per segment that can hold it, from segment(as_of + 1) (its to is
 * past as_of) up to segment(@upper) (no to is past the latest version's
 * from, or the stream time). Its value is copied to V->out.
 */
static int hist_find(sluice_kv_t *kv, ver_t *V, const void *key, size_t klen,
                     int64_t as_of, int64_t upper, hist_t *h) {
        int64_t s, last = seg_of(kv, upper);
        unsigned char *from;
        size_t n = 16 + klen;
        int err = 0;
        h->found = 0;
        if (as_of < 0 || as_of == INT64_MAX)
                return 0;
        V->bound.len = 0;
        if (sluice_buf_reserve(&V->bound, n))
                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
        from = V->bound.data;
        for (s = seg_of(kv, as_of + 1); s <= last && !h->found && !err;
             s++) {
                void *it;
                const void *k, *v;
                size_t kl, vl;
                int r;
                if ((err = make_key(V, NULL, s, key, klen, 1, as_of)))
                        break;
                memcpy(from, V->k.data, n);
                sl_put_be64(from + 8 + klen, 0);
                if ((r = kv->type->iter_open(kv->h, from, n, V->k.data, n,
                                             &it))) {
                        err = fail(kv, SLUICE_ERR_STATE, "cannot scan", r);
                        break;
                }
                while ((r = kv->type->iter_next(it, &k, &kl, &v, &vl)) > 0) {
                        const unsigned char *p = v;
                        int64_t to;
                        if (kl != n || vl < 17 || p[16] == KIND_MARKER)
                                continue;
                        to = (int64_t)sl_get_be64(p + 8);
                        if (to <= as_of)
                                continue;
                        h->found = 1;
                        h->kind  = p[16];
                        h->from  = (int64_t)sl_get_be64(
                            (const unsigned char *)k + 8 + klen);
                        h->to    = to;
                        if (buf_set(&V->out, p + 17, vl - 17))
                                err = SLUICE_ERR_NOMEM;
                        break;
                }
                kv->type->iter_close(it);
                if (r < 0 && !err)
                        err = fail(kv, SLUICE_ERR_STATE, "cannot scan", r);
        }
        if (err == SLUICE_ERR_NOMEM)
                return fail(kv, err, "", 0);
        return err;
}

/* The smallest from > @ts among @key's older versions (0 if none), up to
 * segment(@upper). */
static int hist_next(sluice_kv_t *kv, ver_t *V, const void *key, size_t klen,
                     int64_t ts, int64_t upper, int64_t *next) {
        int64_t s, last = seg_of(kv, upper);
        unsigned char *to;
        size_t n = 16 + klen;
        int err = 0, found = 0;
        V->bound.len = 0;
        if (sluice_buf_reserve(&V->bound, n))
                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
        to = V->bound.data;
        for (s = seg_of(kv, ts + 1); s <= last && !found && !err; s++) {
                void *it;
                const void *k, *v;
                size_t kl, vl;
                int r;
                if ((err = make_key(V, NULL, s, key, klen, 1, ts + 1)))
                        break;
                memcpy(to, V->k.data, n);
                sl_put_be64(to + 8 + klen, (uint64_t)INT64_MAX);
                if ((r = kv->type->iter_open(kv->h, V->k.data, n, to, n,
                                             &it))) {
                        err = fail(kv, SLUICE_ERR_STATE, "cannot scan", r);
                        break;
                }
                while ((r = kv->type->iter_next(it, &k, &kl, &v, &vl)) > 0) {
                        if (kl != n || vl < 17 ||
                            ((const unsigned char *)v)[16] == KIND_MARKER)
                                continue;
                        found = 1;
                        *next = (int64_t)sl_get_be64(
                            (const unsigned char *)k + 8 + klen);
                        break;
                }
                kv->type->iter_close(it);
                if (r < 0 && !err)
                        err = fail(kv, SLUICE_ERR_STATE, "cannot scan", r);
        }
        if (err == SLUICE_ERR_NOMEM)
                return fail(kv, err, "", 0);
        return err ? err : found;
}

/* ---- get ---- */

int sl_versioned_get(sluice_kv_t *kv, const void *key, size_t klen,
                     int64_t as_of, const void **value, size_t *vlen,
                     int64_t *valid_from, int64_t *valid_to) {
        ver_t *V;
        int64_t lf = 0, from, to;
        int kind = 0, r;
        hist_t h;
        if (!kv || (!key && klen))
                return SLUICE_ERR_INVALID_ARG;
        if ((r = load(kv, &V)))
                return r;
        if (as_of < 0)
                return 0;
        if ((r = latest_get(kv, V, key, klen, &lf, &kind)) < 0)
                return r;
        if (r && lf <= as_of) {
                if (kind != KIND_VALUE)
                        return 0;
                from = lf;
                to   = SLUICE_TS_LATEST;
        } else {
                /* past the retention only the latest version is served
                 * (RocksDBVersionedStore.get) */
                if (as_of < bound_of(kv, V))
                        return 0;
                if ((r = hist_find(kv, V, key, klen, as_of,
                                   r ? lf : V->observed, &h)))
                        return r;
                if (!h.found || h.kind != KIND_VALUE)
                        return 0;
                from = h.from;
                to   = h.to;
        }
        if (value)
                *value = V->out.data;
        if (vlen)
                *vlen = V->out.len;
        if (valid_from)
                *valid_from = from;
        if (valid_to)
                *valid_to = to;
        return 1;
}

int64_t sl_versioned_stream_time(sluice_kv_t *kv) {
        ver_t *V;
        int r = load(kv, &V);
        return r ? (int64_t)r - 1 : V->observed;
}

/* ---- put ---- */

/* Put @key's older version [from, to): @value, or a tombstone if NULL. */
static int hist_put(sluice_kv_t *kv, ver_t *V, const void *key, size_t klen,
                    int64_t from, int64_t to, const void *value,
                    size_t vlen) {
        int err;
        if ((err = make_key(V, NULL, seg_of(kv, to), key, klen, 1, from)))
                return fail(kv, err, "", 0);
        return raw_put(kv, V, from, 1, to, value ? KIND_VALUE : KIND_TOMB,
                       value, value ? vlen : 0);
}

static int hist_del(sluice_kv_t *kv, ver_t *V, const void *key, size_t klen,
                    int64_t from, int64_t to) {
        int err;
        if ((err = make_key(V, NULL, seg_of(kv, to), key, klen, 1, from)))
                return fail(kv, err, "", 0);
        return raw_del(kv, V);
}

static int latest_put(sluice_kv_t *kv, ver_t *V, const void *key,
                      size_t klen, int64_t ts, const void *value,
                      size_t vlen) {
        int err;
        if ((err = make_key(V, LATEST_TAG, 0, key, klen, 0, 0)))
                return fail(kv, err, "", 0);
        if ((err = raw_put(kv, V, ts, 0, 0, value ? KIND_VALUE : KIND_TOMB,
                           value, value ? vlen : 0)))
                return err;
        if (value)
                return 0;
        /* a latest tombstone: its marker, for expiry */
        if ((err = make_key(V, NULL, seg_of(kv, ts), key, klen, 1, ts)))
                return fail(kv, err, "", 0);
        return raw_put(kv, V, ts, 1, ts, KIND_MARKER, NULL, 0);
}

static int put(sluice_kv_t *kv, const void *key, size_t klen,
               const void *value, size_t vlen, int64_t ts, int log,
               int64_t *valid_to) {
        sl_task_t *task = kv->task;
        size_t max      = sl_kv_max_key(kv);
        ver_t *V;
        int64_t lf = 0, vt;
        int kind = 0, r, err;
        if (!key && klen)
                return SLUICE_ERR_INVALID_ARG;
        if (ts < 0) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "versioned store \"%s\": negative timestamp %lld",
                          kv->def->name, (long long)ts);
                return SLUICE_ERR_INVALID_ARG;
        }
        if ((err = load(kv, &V)))
                return err;
        if (max && klen + 16 > max) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "versioned store \"%s\": key is %zu bytes, %s "
                          "allows at most %zu (16 for the version)",
                          kv->def->name, klen, kv->type->name,
                          max > 16 ? max - 16 : 0);
                return SLUICE_ERR_TOO_LARGE;
        }
        if (ts < bound_of(kv, V))
                return 0; /* PUT_RETURN_CODE_NOT_PUT */
        if (ts > V->observed)
                V->observed = ts;
        if ((r = latest_get(kv, V, key, klen, &lf, &kind)) < 0)
                return r;
        if (!r || ts >= lf) {
                /* the new latest version; the old one (a tombstone too),
                 * if older, becomes history valid until ts */
                if (r && ts > lf) {
                        if (buf_set(&V->keep, V->out.data, V->out.len))
                                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
                        if ((err = hist_put(kv, V, key, klen, lf, ts,
                                            kind == KIND_VALUE ? V->keep.data
                                                               : NULL,
                                            V->keep.len)))
                                return err;
                }
                if ((err = latest_put(kv, V, key, klen, ts, value, vlen)))
                        return err;
                vt = SLUICE_TS_LATEST;
        } else {
                /* out of order: into the history, splitting the version
                 * (or tombstone) it lands in, replacing the one at ts, or
                 * before the first version */
                hist_t h;
                if ((err = hist_find(kv, V, key, klen, ts, lf, &h)))
                        return err;
                if (h.found) {
                        vt = h.to;
                        if (h.from < ts) {
                                if (buf_set(&V->keep, V->out.data,
                                            V->out.len))
                                        return fail(kv, SLUICE_ERR_NOMEM, "",
                                                    0);
                                if ((err = hist_del(kv, V, key, klen, h.from,
                                                    h.to)) ||
                                    (err = hist_put(
                                         kv, V, key, klen, h.from, ts,
                                         h.kind == KIND_VALUE ? V->keep.data
                                                              : NULL,
                                         V->keep.len)))
                                        return err;
                        }
                } else {
                        int64_t next = lf;
                        if ((r = hist_next(kv, V, key, klen, ts, lf, &next)) <
                            0)
                                return r;
                        vt = next;
                }
                if ((err = hist_put(kv, V, key, klen, ts, vt, value, vlen)))
                        return err;
        }
        if (log && task->clog_write) {
                char why[SL_ERRSTR_SIZE];
                if (task->clog_write(task->io_opaque, kv, key, klen, value,
                                     value ? vlen : 0, ts, why,
                                     sizeof(why))) {
                        sl_errstr(task->errstr, sizeof(task->errstr),
                                  "store \"%s\": cannot write its changelog "
                                  "\"%s\": %s",
                                  kv->def->name, kv->def->changelog, why);
                        return SLUICE_ERR_STATE;
                }
        }
        if (valid_to)
                *valid_to = vt;
        return 1;
}

int sl_versioned_put(sluice_kv_t *kv, const void *key, size_t klen,
                     const void *value, size_t vlen, int64_t ts,
                     int64_t *valid_to) {
        if (!kv)
                return SLUICE_ERR_INVALID_ARG;
        return put(kv, key, klen, value, vlen, ts, 1, valid_to);
}

int sl_versioned_restore(sluice_kv_t *kv, const void *key, size_t klen,
                         const void *value, size_t vlen, int64_t ts) {
        int r = put(kv, key ? key : "", klen, value, vlen, ts, 0, NULL);
        return r < 0 ? r : 0;
}

/* ---- expiry and the meta record ---- */

int sl_versioned_commit(sluice_kv_t *kv) {
        ver_t *V;
        int64_t bound, live;
        unsigned char to[8];
        int err;
        if ((err = load(kv, &V)))
                return err;
        bound = bound_of(kv, V);
        live  = bound == INT64_MIN ? 0 : seg_of(kv, bound);
        while (live > V->live_seg) {
                /* in batches: no writes while an iterator is open */
                void *it;
                const void *k, *v;
                size_t klen, vlen, n = 0, i, off = 0;
                sluice_buf_t keys = {0};
                size_t lens[256];
                int64_t marks[256];
                int r;
                sl_put_be64(to, (uint64_t)live);
                if ((r = kv->type->iter_open(kv->h, NULL, 0, to, sizeof(to),
                                             &it)))
                        return fail(kv, SLUICE_ERR_STATE, "cannot expire", r);
                while (n < 256 &&
                       (r = kv->type->iter_next(it, &k, &klen, &v, &vlen)) >
                           0) {
                        if (sl_key_cmp(k, klen, to, sizeof(to)) >= 0)
                                break;
                        if (sluice_buf_reserve(&keys, klen)) {
                                kv->type->iter_close(it);
                                free(keys.data);
                                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
                        }
                        memcpy(keys.data + keys.len, k, klen);
                        keys.len += klen;
                        marks[n] = vlen >= 17 && klen >= 16 &&
                                           ((const unsigned char *)v)[16] ==
                                               KIND_MARKER
                                       ? (int64_t)sl_get_be64(v)
                                       : -1;
                        lens[n++] = klen;
                }
                kv->type->iter_close(it);
                if (r < 0) {
                        free(keys.data);
                        return fail(kv, SLUICE_ERR_STATE, "cannot expire", r);
                }
                for (i = 0; i < n; off += lens[i++]) {
                        const unsigned char *ck = keys.data + off;
                        if ((r = kv->type->del(kv->h, ck, lens[i]))) {
                                free(keys.data);
                                return fail(kv, SLUICE_ERR_STATE,
                                            "cannot expire", r);
                        }
                        if (marks[i] >= 0) {
                                /* the latest tombstone at that time, if
                                 * still the latest, goes with it */
                                int64_t lf;
                                int kind;
                                r = latest_get(kv, V, ck + 8, lens[i] - 16,
                                               &lf, &kind);
                                if (r > 0 && kind == KIND_TOMB &&
                                    lf == marks[i]) {
                                        r = make_key(V, LATEST_TAG, 0,
                                                     ck + 8, lens[i] - 16, 0,
                                                     0);
                                        if (!r)
                                                r = raw_del(kv, V);
                                }
                                if (r < 0) {
                                        free(keys.data);
                                        return r;
                                }
                        }
                }
                free(keys.data);
                if (n < 256)
                        V->live_seg = live;
        }
        if (V->observed != V->meta_obs || V->live_seg != V->meta_live) {
                unsigned char m[24];
                sl_put_be64(m, (uint64_t)V->observed);
                sl_put_be64(m + 8, (uint64_t)V->observed);
                sl_put_be64(m + 16, (uint64_t)V->live_seg);
                if ((err = kv->type->put(kv->h, VMETA_KEY, VMETA_KEY_LEN, m,
                                         sizeof(m))))
                        return fail(kv, SLUICE_ERR_STATE,
                                    "cannot write its stream time", err);
                V->meta_obs  = V->observed;
                V->meta_live = V->live_seg;
        }
        return 0;
}

void sl_versioned_forget(sluice_kv_t *kv) {
        if (kv && kv->ver)
                kv->ver->loaded = 0;
}

void sl_versioned_free(sluice_kv_t *kv) {
        ver_t *V = kv ? kv->ver : NULL;
        if (!V)
                return;
        free(V->k.data);
        free(V->v.data);
        free(V->out.data);
        free(V->keep.data);
        free(V->bound.data);
        free(V);
        kv->ver = NULL;
}

/* ---- the grace buffer ---- */

struct sl_gbuf_s {
        sluice_kv_t *kv;
        int64_t grace;
        int64_t observed;          /* largest ts added, -1: none */
        uint64_t seq;              /* the next record's */
        uint64_t count;            /* records buffered */
        int64_t meta_obs;          /* as the meta record holds them */
        uint64_t meta_seq;
        sluice_buf_t k, v;
};

/* Value flags (after state.c's timestamp prefix). */
#define GB_KEY_NULL 0x1u
#define GB_VALUE_NULL 0x2u

typedef struct gb_scan_s {
        sl_gbuf_t *b;
        int64_t max_ts;
        uint64_t max_seq;
        int any;
} gb_scan_t;

static int gb_scan_visit(const void *key, size_t klen, const void *value,
                         size_t vlen, int64_t ts, void *opaque) {
        gb_scan_t *s = opaque;
        uint64_t seq;
        (void)value;
        (void)vlen;
        (void)ts;
        if (klen < 16 || ((const unsigned char *)key)[0] == 0xff)
                return 0; /* the meta record */
        seq = sl_get_be64((const unsigned char *)key + klen - 8);
        if ((int64_t)sl_get_be64(key) > s->max_ts)
                s->max_ts = (int64_t)sl_get_be64(key);
        if (!s->any || seq > s->max_seq)
                s->max_seq = seq;
        s->any = 1;
        s->b->count++;
        return 0;
}

int sl_gbuf_open(sluice_kv_t *kv, int64_t grace_ms, sl_gbuf_t **out) {
        sl_gbuf_t *b;
        gb_scan_t s;
        const void *v;
        size_t vlen;
        int64_t ts;
        int r;
        if (!kv || grace_ms < 0 || !out)
                return SLUICE_ERR_INVALID_ARG;
        if (!(b = calloc(1, sizeof(*b))))
                return fail(kv, SLUICE_ERR_NOMEM, "", 0);
        b->kv       = kv;
        b->grace    = grace_ms;
        b->observed = b->meta_obs = -1;
        r = sl_kv_get(kv, GMETA_KEY, GMETA_KEY_LEN, &v, &vlen, &ts);
        if (r < 0) {
                free(b);
                return fail(kv, SLUICE_ERR_STATE,
                            "grace buffer: cannot read its meta record", r);
        }
        if (r && vlen == 16) {
                b->observed = b->meta_obs = (int64_t)sl_get_be64(v);
                b->seq = b->meta_seq =
                    sl_get_be64((const unsigned char *)v + 8);
        }
        /* what the restore brought back may be newer than the meta record
         * (written at commits) */
        memset(&s, 0, sizeof(s));
        s.b      = b;
        s.max_ts = -1;
        if (sl_kv_range(kv, NULL, 0, NULL, 0, gb_scan_visit, &s) < 0) {
                free(b);
                return fail(kv, SLUICE_ERR_STATE,
                            "grace buffer: cannot list its records",
                            SLUICE_ERR_STATE);
        }
        if (s.max_ts > b->observed)
                b->observed = s.max_ts;
        if (s.any && s.max_seq + 1 > b->seq)
                b->seq = s.max_seq + 1;
        *out = b;
        return 0;
}

void sl_gbuf_close(sl_gbuf_t *b) {
        if (!b)
                return;
        free(b->k.data);
        free(b->v.data);
        free(b);
}

int64_t sl_gbuf_stream_time(const sl_gbuf_t *b) {
        return b ? b->observed : -1;
}

uint64_t sl_gbuf_count(const sl_gbuf_t *b) {
        return b ? b->count : 0;
}

int sl_gbuf_add(sl_gbuf_t *b, const void *key, size_t klen,
                const void *value, size_t vlen, int64_t ts) {
        size_t n;
        int err;
        if (!b || ts < 0)
                return SLUICE_ERR_INVALID_ARG;
        /* Kafka Streams: observedStreamTime - grace > ts: not put */
        if (b->observed >= 0 && b->observed - b->grace > ts)
                return 0;
        if (!key)
                klen = 0;
        if (!value)
                vlen = 0;
        n        = 16 + klen;
        b->k.len = b->v.len = 0;
        if (sluice_buf_reserve(&b->k, n) || sluice_buf_reserve(&b->v, 1 + vlen))
                return fail(b->kv, SLUICE_ERR_NOMEM, "", 0);
        sl_put_be64(b->k.data, (uint64_t)ts);
        if (klen)
                memcpy(b->k.data + 8, key, klen);
        sl_put_be64(b->k.data + 8 + klen, b->seq);
        b->v.data[0] = (unsigned char)((key ? 0u : GB_KEY_NULL) |
                                       (value ? 0u : GB_VALUE_NULL));
        if (vlen)
                memcpy(b->v.data + 1, value, vlen);
        b->kv->task->errstr[0] = '\0';
        if ((err = sl_kv_write_flushed(b->kv, b->k.data, n, b->v.data,
                                       1 + vlen, ts)))
                return err;
        b->seq++;
        b->count++;
        if (ts > b->observed)
                b->observed = ts;
        return 1;
}

/* One batch of due records, copied out of the scan. */
typedef struct gb_batch_s {
        int64_t deadline;
        sluice_buf_t data; /* [klen 8][key][vlen 8][value] per record */
        size_t n;
        int oom;
} gb_batch_t;

static int gb_batch_visit(const void *key, size_t klen, const void *value,
                          size_t vlen, int64_t ts, void *opaque) {
        gb_batch_t *bt = opaque;
        unsigned char *p;
        (void)ts;
        if (klen < 16 || ((const unsigned char *)key)[0] == 0xff ||
            (int64_t)sl_get_be64(key) > bt->deadline)
                return 1; /* past the deadline (or the meta record): stop */
        if (sluice_buf_reserve(&bt->data, 16 + klen + vlen)) {
                bt->oom = 1;
                return 1;
        }
        p = bt->data.data + bt->data.len;
        sl_put_be64(p, (uint64_t)klen);
        memcpy(p + 8, key, klen);
        sl_put_be64(p + 8 + klen, (uint64_t)vlen);
        if (vlen)
                memcpy(p + 16 + klen, value, vlen);
        bt->data.len += 16 + klen + vlen;
        return ++bt->n >= 256;
}

int64_t sl_gbuf_release(sl_gbuf_t *b, sl_gbuf_cb *cb, void *opaque) {
        gb_batch_t bt;
        int64_t released = 0;
        if (!b || !cb)
                return SLUICE_ERR_INVALID_ARG;
        if (b->observed < 0 || !b->count)
                return 0;
        memset(&bt, 0, sizeof(bt));
        bt.deadline = b->observed - b->grace;
        for (;;) {
                size_t i, off = 0, n;
                bt.n = bt.data.len = 0;
                if (sl_kv_range(b->kv, NULL, 0, NULL, 0, gb_batch_visit,
                                &bt) < 0) {
                        free(bt.data.data);
                        return fail(b->kv, SLUICE_ERR_STATE,
                                    "grace buffer: cannot scan",
                                    SLUICE_ERR_STATE);
                }
                if (bt.oom) {
                        free(bt.data.data);
                        return fail(b->kv, SLUICE_ERR_NOMEM, "", 0);
                }
                n = bt.n;
                for (i = 0; i < n; i++) {
                        const unsigned char *p = bt.data.data + off;
                        size_t klen = (size_t)sl_get_be64(p);
                        const unsigned char *ck = p + 8;
                        size_t vlen = (size_t)sl_get_be64(p + 8 + klen);
                        const unsigned char *v = p + 16 + klen;
                        int64_t ts = (int64_t)sl_get_be64(ck);
                        unsigned flags = vlen ? v[0] : 0;
                        int err;
                        off += 16 + klen + vlen;
                        err = cb(flags & GB_KEY_NULL ? NULL : ck + 8,
                                 klen - 16,
                                 flags & GB_VALUE_NULL ? NULL : v + 1,
                                 vlen ? vlen - 1 : 0, ts, opaque);
                        if (!err) {
                                b->kv->task->errstr[0] = '\0';
                                err = sl_kv_write_flushed(b->kv, ck, klen,
                                                          NULL, 0, ts);
                        }
                        if (err) {
                                free(bt.data.data);
                                return err;
                        }
                        b->count--;
                        released++;
                }
                if (n < 256)
                        break;
        }
        free(bt.data.data);
        return released;
}

int sl_gbuf_commit(sl_gbuf_t *b) {
        unsigned char m[16];
        int err;
        if (!b)
                return SLUICE_ERR_INVALID_ARG;
        if (b->observed == b->meta_obs && b->seq == b->meta_seq)
                return 0;
        sl_put_be64(m, (uint64_t)b->observed);
        sl_put_be64(m + 8, b->seq);
        b->kv->task->errstr[0] = '\0';
        if ((err = sl_kv_write_flushed(b->kv, GMETA_KEY, GMETA_KEY_LEN, m,
                                       sizeof(m),
                                       b->observed < 0 ? 0 : b->observed)))
                return err;
        b->meta_obs = b->observed;
        b->meta_seq = b->seq;
        return 0;
}
