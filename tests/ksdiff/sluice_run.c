/*
 * sluice_run - the Sluice side of the differential test (tests/ksdiff).
 *
 *   sluice_run CASE_DIR OUT_DIR
 *
 * Runs every CASE_DIR/NAME.case through Sluice's test driver and writes
 * OUT_DIR/NAME.out in the format KsDiff.java writes for Kafka Streams'
 * TopologyTestDriver (tests/ksdiff/README):
 *
 *   input# TAB key-hex TAB value-hex TAB timestamp      (\N: null)
 *
 * The topology is the Java one: source "in" (string keys, int64 values) ->
 * group_by_key -> windowed_by -> count / reduce / aggregate [-> suppress]
 * -> to_stream -> "out"; or, for kind=ss-join / st-join / tt-join /
 * tfilter, a join (or a table filter) of the topics "left" and "right"
 * (string keys and values) into "out". A case that fails writes "!error ..." and the run
 * goes on; the exit status is 2 for a usage or I/O error, else 0 (the
 * comparison decides what passed).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

#define MAX_LINE 4096

typedef struct {
        char kind[16];  /* tumbling hopping sliding session */
        char agg[16];   /* count reduce aggregate */
        char emit[16];  /* update final suppress */
        char cache[8];  /* on off */
        int64_t size;   /* size; sliding: difference; session: gap */
        int64_t advance;
        int64_t grace;
        char join[8];   /* joins: inner left outer */
        char throttle[4]; /* on: the default emit interval of unmatched
                             records (1000 ms), else 0 */
        char rekey[4];    /* on: the left stream through an identity
                             select_key (a repartition) */
        char filter[4];   /* on: the right table through a filter */
        int64_t before, after; /* stream-stream joins' window */
        int64_t history; /* vst-join: the versioned table's history */
} spec_t;

typedef struct {
        char *key; /* NULL: null key */
        int has_value;
        int64_t value;
        int64_t ts;
        char side;  /* joins: 'L' (topic "left") or 'R' ("right"); 0: "in" */
        char *sval; /* joins: the string value (NULL: null) */
} input_t;

static int is_join_kind(const char *kind) {
        size_t n = strlen(kind);
        return (n > 5 && !strcmp(kind + n - 5, "-join")) ||
               !strcmp(kind, "tfilter");
}

typedef struct {
        spec_t spec;
        input_t *in;
        size_t cnt, cap;
} case_t;

/* The aggregate's scratch buffer: the strings the callbacks return are
 * copied by Sluice, so one buffer serves every call. */
typedef struct {
        char *data;
        size_t cap;
} scratch_t;

static int scratch_fit(scratch_t *s, size_t need) {
        char *p;
        size_t cap = s->cap ? s->cap : 256;
        if (need <= s->cap)
                return 0;
        while (cap < need)
                cap *= 2;
        p = realloc(s->data, cap);
        if (!p)
                return -1;
        s->data = p;
        s->cap  = cap;
        return 0;
}

/* ---------------------------------------------------------------- parsing */

static int parse_i64(const char *s, int64_t *out) {
        char *end;
        long long v;
        errno = 0;
        v     = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return -1;
        *out = (int64_t)v;
        return 0;
}

static int copy_field(char *dst, size_t size, const char *v) {
        if (strlen(v) >= size)
                return -1;
        strcpy(dst, v);
        return 0;
}

static int parse_spec(char *line, spec_t *sp, char *err, size_t errsz) {
        char *save = NULL, *f;
        int seen   = 0;
        memset(sp, 0, sizeof(*sp));
        if (strncmp(line, "ksdiff ", 7)) {
                snprintf(err, errsz, "first line is not a ksdiff spec");
                return -1;
        }
        for (f = strtok_r(line + 7, " ", &save); f;
             f = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(f, '=');
                int bad  = 0;
                if (!eq) {
                        snprintf(err, errsz, "bad spec field %s", f);
                        return -1;
                }
                *eq++ = '\0';
                if (!strcmp(f, "kind"))
                        bad = copy_field(sp->kind, sizeof sp->kind, eq), seen |= 1;
                else if (!strcmp(f, "agg"))
                        bad = copy_field(sp->agg, sizeof sp->agg, eq), seen |= 2;
                else if (!strcmp(f, "emit"))
                        bad = copy_field(sp->emit, sizeof sp->emit, eq), seen |= 4;
                else if (!strcmp(f, "cache"))
                        bad = copy_field(sp->cache, sizeof sp->cache, eq), seen |= 8;
                else if (!strcmp(f, "size"))
                        bad = parse_i64(eq, &sp->size), seen |= 16;
                else if (!strcmp(f, "grace"))
                        bad = parse_i64(eq, &sp->grace), seen |= 32;
                else if (!strcmp(f, "advance"))
                        bad = parse_i64(eq, &sp->advance);
                else if (!strcmp(f, "join"))
                        bad = copy_field(sp->join, sizeof sp->join, eq);
                else if (!strcmp(f, "throttle"))
                        bad = copy_field(sp->throttle, sizeof sp->throttle, eq);
                else if (!strcmp(f, "rekey"))
                        bad = copy_field(sp->rekey, sizeof sp->rekey, eq);
                else if (!strcmp(f, "filter"))
                        bad = copy_field(sp->filter, sizeof sp->filter, eq);
                else if (!strcmp(f, "before"))
                        bad = parse_i64(eq, &sp->before);
                else if (!strcmp(f, "after"))
                        bad = parse_i64(eq, &sp->after);
                else if (!strcmp(f, "history"))
                        bad = parse_i64(eq, &sp->history);
                /* other fields (seed, ...) are for people */
                if (bad) {
                        snprintf(err, errsz, "bad spec value %s=%s", f, eq);
                        return -1;
                }
        }
        if (is_join_kind(sp->kind) && (seen & 9) == 9)
                return 0;
        if (seen != 63) {
                snprintf(err, errsz, "spec lacks one of kind agg emit cache "
                                     "size grace");
                return -1;
        }
        return 0;
}

static void case_free(case_t *c) {
        size_t i;
        for (i = 0; i < c->cnt; i++) {
                free(c->in[i].key);
                free(c->in[i].sval);
        }
        free(c->in);
        memset(c, 0, sizeof(*c));
}

static int case_add(case_t *c, char *line) {
        char *k = line, *v, *t, *side = NULL;
        input_t *r;
        if (!(v = strchr(k, '\t')) || !(t = strchr(v + 1, '\t')))
                return -1;
        if (strchr(t + 1, '\t')) {
                /* side TAB key TAB string value TAB ts */
                side = line;
                k    = v + 1;
                *v   = '\0';
                v    = t;
                if (!(t = strchr(v + 1, '\t')))
                        return -1;
        }
        *v++ = '\0';
        *t++ = '\0';
        if (c->cnt == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                input_t *p = realloc(c->in, cap * sizeof(*p));
                if (!p)
                        return -1;
                c->in  = p;
                c->cap = cap;
        }
        r = &c->in[c->cnt];
        memset(r, 0, sizeof(*r));
        if (strcmp(k, "\\N") && !(r->key = strdup(k)))
                return -1;
        c->cnt++;
        if (side) {
                r->side = side[0] == 'L' ? 'L' : 'R';
                if (strcmp(v, "\\N") && !(r->sval = strdup(v)))
                        return -1;
                return parse_i64(t, &r->ts);
        }
        if (strcmp(v, "\\N")) {
                r->has_value = 1;
                if (parse_i64(v, &r->value))
                        return -1;
        }
        return parse_i64(t, &r->ts);
}

static int case_read(const char *path, case_t *c, char *err, size_t errsz) {
        FILE *f = fopen(path, "r");
        char line[MAX_LINE];
        int lineno = 0, rc = 0;
        memset(c, 0, sizeof(*c));
        if (!f) {
                snprintf(err, errsz, "cannot open it: %s", strerror(errno));
                return -1;
        }
        while (!rc && fgets(line, sizeof line, f)) {
                size_t n = strlen(line);
                lineno++;
                if (n && line[n - 1] == '\n')
                        line[--n] = '\0';
                if (lineno == 1)
                        rc = parse_spec(line, &c->spec, err, errsz);
                else if (n && line[0] != '#' && case_add(c, line)) {
                        snprintf(err, errsz, "line %d: not key TAB value TAB "
                                             "timestamp", lineno);
                        rc = -1;
                }
        }
        if (!rc && lineno == 0) {
                snprintf(err, errsz, "empty case");
                rc = -1;
        }
        fclose(f);
        return rc;
}

/* ------------------------------------------------ the aggregation functions
 * As KsDiff.java's: reduce sums (a null operand counts 0), aggregate
 * appends ",value" to "" (a null value appends ",null", as Java's string
 * concatenation does), sessions merge as agg1 "|" agg2. */

static int64_t as_long(const sluice_value_t *v) {
        return v && v->type == SLUICE_VALUE_INT64 ? v->u.i64 : 0;
}

static int sum_cb(const sluice_value_t *agg, const sluice_value_t *value,
                  sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_int64((int64_t)((uint64_t)as_long(agg) +
                                      (uint64_t)as_long(value)));
        return 0;
}

static int init_cb(sluice_value_t *out, void *opaque) {
        (void)opaque;
        *out = sluice_strn("", 0);
        return 0;
}

static const char *str_of(const sluice_value_t *v, size_t *len) {
        if (!v || (v->type != SLUICE_VALUE_STRING &&
                   v->type != SLUICE_VALUE_BYTES)) {
                /* Java would print "null" for a null aggregate */
                *len = 4;
                return "null";
        }
        *len = v->u.bytes.len;
        return v->u.bytes.data ? v->u.bytes.data : "";
}

static int concat_cb(const sluice_value_t *key, const sluice_value_t *value,
                     const sluice_value_t *agg, sluice_value_t *out,
                     void *opaque) {
        scratch_t *s = opaque;
        size_t alen;
        const char *a = str_of(agg, &alen);
        char num[32];
        int nlen;
        (void)key;
        if (value && value->type == SLUICE_VALUE_INT64)
                nlen = snprintf(num, sizeof num, ",%" PRId64, value->u.i64);
        else
                nlen = snprintf(num, sizeof num, ",null");
        if (scratch_fit(s, alen + (size_t)nlen + 1))
                return -1;
        memmove(s->data, a, alen);
        memcpy(s->data + alen, num, (size_t)nlen + 1);
        *out = sluice_strn(s->data, alen + (size_t)nlen);
        return 0;
}

static int merge_cb(const sluice_value_t *key, const sluice_value_t *agg1,
                    const sluice_value_t *agg2, sluice_value_t *out,
                    void *opaque) {
        scratch_t *s = opaque;
        size_t l1, l2;
        const char *a1 = str_of(agg1, &l1), *a2 = str_of(agg2, &l2);
        char *tmp;
        (void)key;
        /* agg1 or agg2 may point into the scratch buffer itself */
        if (!(tmp = malloc(l1 + l2 + 2)))
                return -1;
        memcpy(tmp, a1, l1);
        tmp[l1] = '|';
        memcpy(tmp + l1 + 1, a2, l2);
        tmp[l1 + 1 + l2] = '\0';
        if (scratch_fit(s, l1 + l2 + 2)) {
                free(tmp);
                return -1;
        }
        memcpy(s->data, tmp, l1 + l2 + 2);
        free(tmp);
        *out = sluice_strn(s->data, l1 + 1 + l2);
        return 0;
}

/* ------------------------------------------------------------ the topology */

static sluice_topology_t *build(const spec_t *sp, scratch_t *scratch,
                                char *err, size_t errsz) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_t *s;
        sluice_grouped_t *g;
        sluice_windowed_t *w;
        sluice_windows_t win;
        sluice_table_t *tbl = NULL;
        int session         = !strcmp(sp->kind, "session");
        int is_agg          = !strcmp(sp->agg, "aggregate");

        if (!t) {
                snprintf(err, errsz, "out of memory");
                return NULL;
        }
        if (!strcmp(sp->kind, "tumbling"))
                win = sluice_windows_tumbling(sp->size, sp->grace);
        else if (!strcmp(sp->kind, "hopping"))
                win = sluice_windows_hopping(sp->size, sp->advance, sp->grace);
        else if (!strcmp(sp->kind, "sliding"))
                win = sluice_windows_sliding(sp->size, sp->grace);
        else if (session)
                win = sluice_windows_session(sp->size, sp->grace);
        else {
                snprintf(err, errsz, "kind=%s", sp->kind);
                goto fail;
        }
        if (strcmp(sp->emit, "update") && strcmp(sp->emit, "final") &&
            strcmp(sp->emit, "suppress")) {
                snprintf(err, errsz, "emit=%s", sp->emit);
                goto fail;
        }

        s = sluice_stream_from(t, "in", sluice_serde_string(),
                               sluice_serde_int64());
        g = sluice_stream_group_by_key(s, sluice_serde_string(),
                                       sluice_serde_int64());
        w = sluice_grouped_windowed_by(g, win);
        if (!strcmp(sp->emit, "final"))
                sluice_windowed_set_emit_final(w);
        if (!strcmp(sp->agg, "count"))
                tbl = sluice_windowed_count(w, NULL);
        else if (!strcmp(sp->agg, "reduce"))
                tbl = sluice_windowed_reduce(w, sum_cb, NULL, NULL);
        else if (is_agg)
                tbl = sluice_windowed_aggregate(w, init_cb, concat_cb,
                                                session ? merge_cb : NULL,
                                                scratch, sluice_serde_string(),
                                                NULL);
        else {
                snprintf(err, errsz, "agg=%s", sp->agg);
                goto fail;
        }
        if (!strcmp(sp->emit, "suppress"))
                tbl = sluice_table_suppress_until_window_closes(tbl, NULL);
        sluice_stream_to(sluice_table_to_stream(tbl), "out",
                         sluice_serde_string(),
                         is_agg ? sluice_serde_string() : sluice_serde_int64());
        /* builder mistakes are recorded; validate names the first */
        if (sluice_topology_validate(t, err, errsz))
                goto fail;
        return t;
fail:
        sluice_topology_destroy(t);
        return NULL;
}

/* ------------------------------------------------------------ joins */

/* As KsDiff.java's joiner: l + "+" + r, an absent side "null". */
static int join_cb(const sluice_value_t *key, const sluice_value_t *l,
                   const sluice_value_t *r, sluice_value_t *out,
                   void *opaque) {
        scratch_t *s = opaque;
        size_t ll, rl;
        const char *a = str_of(l, &ll), *b = str_of(r, &rl);
        (void)key;
        if (scratch_fit(s, ll + rl + 2))
                return -1;
        memcpy(s->data, a, ll);
        s->data[ll] = '+';
        memcpy(s->data + ll + 1, b, rl);
        *out = sluice_strn(s->data, ll + 1 + rl);
        return 0;
}

/* As KsDiff.java's filter: the value's last digit is even. */
static bool even_cb(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return v->u.bytes.len &&
               (((const char *)v->u.bytes.data)[v->u.bytes.len - 1] - '0') %
                       2 ==
                   0;
}

/* As KsDiff.java's fkOf: a left value "FK:payload" refers to the right
 * row FK (none if that is empty or there is no ':'). */
static int fk_cb(const sluice_value_t *key, const sluice_value_t *v,
                 sluice_value_t *fk, void *opaque) {
        const char *p = v->u.bytes.data, *c;
        (void)key;
        (void)opaque;
        c = memchr(p, ':', v->u.bytes.len);
        if (c && c > p)
                *fk = sluice_strn(p, (size_t)(c - p));
        return 0;
}

/* As KsDiff.java's selectKey((k, v) -> k). */
static int same_key_cb(sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_set_key(rec, *sluice_record_key(rec));
}

static sluice_topology_t *build_join(const spec_t *sp, scratch_t *scratch,
                                     char *err, size_t errsz) {
        sluice_topology_t *t   = sluice_topology_new();
        const sluice_serde_t *S = sluice_serde_string();
        sluice_stream_t *o      = NULL;
        int inner = !strcmp(sp->join, "inner"), left = !strcmp(sp->join, "left"),
            outer = !strcmp(sp->join, "outer");
        if (!t) {
                snprintf(err, errsz, "out of memory");
                return NULL;
        }
        if (!strcmp(sp->kind, "tfilter")) {
                o = sluice_table_to_stream(sluice_table_filter(
                    sluice_table_from(t, "left", S, S, NULL), even_cb, NULL));
        } else if (!inner && !left && !outer) {
                snprintf(err, errsz, "join=%s", sp->join);
                goto fail;
        } else if (!strcmp(sp->kind, "ss-join")) {
                sluice_stream_t *l = sluice_stream_from(t, "left", S, S);
                if (!strcmp(sp->rekey, "on"))
                        l = sluice_stream_select_key(l, same_key_cb, NULL);
                sluice_stream_t *r = sluice_stream_from(t, "right", S, S);
                sluice_join_windows_t w =
                    sluice_join_windows_asym(sp->before, sp->after, sp->grace);
                o = inner ? sluice_stream_join(l, r, w, join_cb, scratch, S,
                                               NULL)
                    : left ? sluice_stream_left_join(l, r, w, join_cb, scratch,
                                                     S, NULL)
                           : sluice_stream_outer_join(l, r, w, join_cb,
                                                      scratch, S, NULL);
        } else if (!strcmp(sp->kind, "st-join") && !outer) {
                sluice_stream_t *l = sluice_stream_from(t, "left", S, S);
                if (!strcmp(sp->rekey, "on"))
                        l = sluice_stream_select_key(l, same_key_cb, NULL);
                sluice_table_t *r  = sluice_table_from(t, "right", S, S, NULL);
                if (!strcmp(sp->filter, "on"))
                        r = sluice_table_filter(r, even_cb, NULL);
                o = inner ? sluice_stream_join_table(l, r, join_cb, scratch, S)
                          : sluice_stream_left_join_table(l, r, join_cb,
                                                          scratch, S);
        } else if (!strcmp(sp->kind, "vst-join") && !outer) {
                sluice_stream_t *l = sluice_stream_from(t, "left", S, S);
                sluice_table_t *r =
                    sluice_table_from(t, "right", S, S, "right-store");
                sluice_table_set_versioned(r, sp->history);
                o = inner ? sluice_stream_join_table(l, r, join_cb, scratch, S)
                          : sluice_stream_left_join_table(l, r, join_cb,
                                                          scratch, S);
                if (sp->grace > 0)
                        sluice_stream_join_set_grace(o, sp->grace);
        } else if (!strcmp(sp->kind, "fk-join") && !outer) {
                sluice_table_t *l = sluice_table_from(t, "left", S, S, NULL);
                sluice_table_t *r = sluice_table_from(t, "right", S, S, NULL);
                o = sluice_table_to_stream(
                    inner ? sluice_table_fk_join(l, r, fk_cb, join_cb,
                                                 scratch, S)
                          : sluice_table_fk_left_join(l, r, fk_cb, join_cb,
                                                      scratch, S));
        } else if (!strcmp(sp->kind, "tt-join")) {
                sluice_table_t *l = sluice_table_from(t, "left", S, S, NULL);
                sluice_table_t *r = sluice_table_from(t, "right", S, S, NULL);
                if (!strcmp(sp->filter, "on"))
                        r = sluice_table_filter(r, even_cb, NULL);
                o = sluice_table_to_stream(
                    inner ? sluice_table_join(l, r, join_cb, scratch, S)
                    : left ? sluice_table_left_join(l, r, join_cb, scratch, S)
                           : sluice_table_outer_join(l, r, join_cb, scratch,
                                                     S));
        } else {
                snprintf(err, errsz, "kind=%s join=%s", sp->kind, sp->join);
                goto fail;
        }
        sluice_stream_to(o, "out", S, S);
        if (sluice_topology_validate(t, err, errsz))
                goto fail;
        return t;
fail:
        sluice_topology_destroy(t);
        return NULL;
}

/* ----------------------------------------------------------------- running */

static void hex(FILE *out, const void *p, size_t len) {
        const unsigned char *b = p;
        size_t i;
        if (!p) {
                fputs("\\N", out);
                return;
        }
        for (i = 0; i < len; i++)
                fprintf(out, "%02x", b[i]);
}

static void error_line(FILE *out, const char *msg) {
        const char *p;
        fputs("!error ", out);
        for (p = msg; *p; p++)
                fputc(*p == '\n' ? ' ' : *p, out);
        fputc('\n', out);
}

/* @returns 0 if the case ran, -1 if it failed (the reason in @p out) */
static int run_case(const case_t *c, FILE *out) {
        char err[512];
        scratch_t scratch    = {NULL, 0};
        sluice_topology_t *t =
            is_join_kind(c->spec.kind)
                ? build_join(&c->spec, &scratch, err, sizeof err)
                : build(&c->spec, &scratch, err, sizeof err);
        sluice_conf_t *conf;
        sluice_driver_t *drv = NULL;
        size_t i;
        int rc = -1;

        if (!t) {
                error_line(out, err);
                free(scratch.data);
                return -1;
        }
        if (!(conf = sluice_conf_new()) ||
            sluice_conf_set(conf, "application.id", "ksdiff", err,
                            sizeof err) ||
            sluice_conf_set(conf, "statestore.cache.max.bytes",
                            !strcmp(c->spec.cache, "on") ? "10485760" : "0",
                            err, sizeof err) ||
            sluice_conf_set(conf,
                            "__emit.interval.ms.kstreams.outer.join."
                            "spurious.results.fix__",
                            strcmp(c->spec.throttle, "on") ? "0" : "1000",
                            err, sizeof err)) {
                if (!conf)
                        snprintf(err, sizeof err, "out of memory");
                sluice_conf_destroy(conf);
                error_line(out, err);
                goto done;
        }
        if (!(drv = sluice_driver_new(t, conf, err, sizeof err))) {
                sluice_conf_destroy(conf);
                error_line(out, err);
                goto done;
        }
        for (i = 0; i < c->cnt; i++) {
                const input_t *r = &c->in[i];
                unsigned char v[8];
                const sluice_output_t *o;
                int k;
                for (k = 0; k < 8; k++)
                        v[k] = (unsigned char)((uint64_t)r->value >> (56 - 8 * k));
                if (r->side
                        ? sluice_driver_pipe(drv, r->side == 'L' ? "left" : "right",
                                             r->key, r->key ? strlen(r->key) : 0,
                                             r->sval, r->sval ? strlen(r->sval) : 0,
                                             r->ts, NULL, 0)
                        : sluice_driver_pipe(drv, "in", r->key,
                                       r->key ? strlen(r->key) : 0,
                                       r->has_value ? v : NULL,
                                       r->has_value ? 8 : 0, r->ts, NULL, 0)) {
                        snprintf(err, sizeof err, "input %zu: %s", i,
                                 sluice_driver_last_error(drv));
                        error_line(out, err);
                        goto done;
                }
                while ((o = sluice_driver_read(drv, "out"))) {
                        fprintf(out, "%zu\t", i);
                        hex(out, o->key, o->key_len);
                        fputc('\t', out);
                        hex(out, o->value, o->value_len);
                        fprintf(out, "\t%" PRId64 "\n", o->timestamp);
                }
        }
        rc = 0;
done:
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        free(scratch.data);
        return rc;
}

static int by_name(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
        DIR *d;
        struct dirent *e;
        char **names = NULL;
        size_t cnt = 0, cap = 0, i;
        int failed = 0, status = 0;

        if (argc != 3) {
                fprintf(stderr, "usage: sluice_run CASE_DIR OUT_DIR\n");
                return 2;
        }
        if (!(d = opendir(argv[1]))) {
                fprintf(stderr, "sluice_run: %s: %s\n", argv[1],
                        strerror(errno));
                return 2;
        }
        while ((e = readdir(d))) {
                size_t n = strlen(e->d_name);
                if (n < 6 || strcmp(e->d_name + n - 5, ".case"))
                        continue;
                if (cnt == cap) {
                        char **p;
                        cap = cap ? cap * 2 : 256;
                        if (!(p = realloc(names, cap * sizeof(*p))))
                                break;
                        names = p;
                }
                if (!(names[cnt] = strdup(e->d_name)))
                        break;
                cnt++;
        }
        closedir(d);
        if (cnt)
                qsort(names, cnt, sizeof(*names), by_name);

        for (i = 0; i < cnt && !status; i++) {
                char in_path[4096], out_path[4096], err[512];
                size_t n = strlen(names[i]) - 5;
                case_t c;
                FILE *out;
                snprintf(in_path, sizeof in_path, "%s/%s", argv[1], names[i]);
                snprintf(out_path, sizeof out_path, "%s/%.*s.out", argv[2],
                         (int)n, names[i]);
                if (!(out = fopen(out_path, "w"))) {
                        fprintf(stderr, "sluice_run: %s: %s\n", out_path,
                                strerror(errno));
                        status = 2;
                        break;
                }
                if (case_read(in_path, &c, err, sizeof err)) {
                        error_line(out, err);
                        failed++;
                } else if (run_case(&c, out)) {
                        failed++;
                }
                case_free(&c);
                if (fclose(out)) {
                        fprintf(stderr, "sluice_run: %s: write failed\n",
                                out_path);
                        status = 2;
                }
        }
        for (i = 0; i < cnt; i++)
                free(names[i]);
        free(names);
        fprintf(stderr, "sluice_run: Sluice ran %zu cases%s\n", cnt,
                failed ? " (some failed: see their !error lines)" : "");
        return status;
}
