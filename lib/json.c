/*
 * json.c - the JSON serde's parser and printer over jansson values: see
 * json.h for what they promise (jansson's own acceptance and output, byte
 * for byte), tests/test_json.c for the differential test against
 * json_loadb() / json_dumpb() that holds them to it, and bench/json.c for
 * what they save.
 *
 * The parser is a recursive descent over the input bytes with one pointer:
 * a string without escapes goes from the input straight into
 * json_stringn_nocheck() (or a key into json_object_setn_new_nocheck())
 * once its UTF-8 is checked, so the common string costs jansson's one copy
 * and nothing more; one with escapes is unescaped into a scratch buffer
 * first. Integers are read here (64-bit, overflow refused as jansson
 * does); reals through strtod() in the C locale's decimal point, as
 * jansson's own conversion.
 *
 * The printer appends to a sluice_buf_t it grows as it goes, and detects a
 * cycle by depth instead of jansson's hashtable of parents: past 2048
 * levels (deeper than any parsed value can be) it hands the value to
 * json_dumpb(), which tells a cycle from a deep value.
 */
#include "json.h"
#include "common.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at @p (before @end), 0 if invalid:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
        unsigned c = p[0];
        size_t n, i;
        uint32_t cp;
        if (c < 0x80)
                return 1;
        if (c < 0xC2)
                return 0;
        if (c < 0xE0) {
                n  = 2;
                cp = c & 0x1F;
        } else if (c < 0xF0) {
                n  = 3;
                cp = c & 0x0F;
        } else if (c < 0xF5) {
                n  = 4;
                cp = c & 0x07;
        } else {
                return 0;
        }
        if ((size_t)(end - p) < n)
                return 0;
        for (i = 1; i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return n;
}

static size_t utf8_put(unsigned char *o, uint32_t cp) {
        if (cp < 0x80) {
                o[0] = (unsigned char)cp;
                return 1;
        }
        if (cp < 0x800) {
                o[0] = (unsigned char)(0xC0 | cp >> 6);
                o[1] = (unsigned char)(0x80 | (cp & 0x3F));
                return 2;
        }
        if (cp < 0x10000) {
                o[0] = (unsigned char)(0xE0 | cp >> 12);
                o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                o[2] = (unsigned char)(0x80 | (cp & 0x3F));
                return 3;
        }
        o[0] = (unsigned char)(0xF0 | cp >> 18);
        o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (cp & 0x3F));
        return 4;
}

/* ---- parser ---- */

typedef struct {
        const unsigned char *p, *start, *end;
        size_t depth;
        char *err;
        size_t errsz;
        int failed;
        unsigned char *tmp; /* unescaped string: stack_tmp or malloc'd */
        size_t tmp_cap;
        unsigned char stack_tmp[512];
} jp_t;

/* the first error only, with where it is */
static void jp_fail(jp_t *j, const char *what) {
        const unsigned char *q;
        int line = 1, col = 0;
        if (j->failed)
                return;
        j->failed = 1;
        for (q = j->start; q < j->p && q < j->end; q++) {
                if (*q == '\n') {
                        line++;
                        col = 0;
                } else {
                        col++;
                }
        }
        sl_errstr(j->err, j->errsz, "%s (line %d, column %d, byte %zu)", what,
                  line, col + 1, (size_t)(j->p - j->start));
}

static void skip_ws(jp_t *j) {
        while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' ||
                                 *j->p == '\r' || *j->p == '\t'))
                j->p++;
}

static int hex4(const unsigned char *p, uint32_t *out) {
        uint32_t v = 0;
        int i;
        for (i = 0; i < 4; i++) {
                unsigned c = p[i];
                v <<= 4;
                if (c >= '0' && c <= '9')
                        v |= c - '0';
                else if (c >= 'a' && c <= 'f')
                        v |= c - 'a' + 10;
                else if (c >= 'A' && c <= 'F')
                        v |= c - 'A' + 10;
                else
                        return -1;
        }
        *out = v;
        return 0;
}

static int tmp_reserve(jp_t *j, size_t need) {
        unsigned char *n;
        size_t cap;
        if (need <= j->tmp_cap)
                return 0;
        cap = j->tmp_cap * 2 > need ? j->tmp_cap * 2 : need;
        if (j->tmp == j->stack_tmp) {
                if (!(n = malloc(cap)))
                        return -1;
                memcpy(n, j->tmp, j->tmp_cap);
        } else if (!(n = realloc(j->tmp, cap))) {
                return -1;
        }
        j->tmp     = n;
        j->tmp_cap = cap;
        return 0;
}

/* The string at j->p (its opening quote): *s / *n its bytes, in the input
 * when it has no escapes, else in j->tmp. 0, or -1 after jp_fail(). */
static int parse_string(jp_t *j, const unsigned char **s, size_t *n) {
        const unsigned char *p = j->p + 1, *run;
        size_t o = 0;
        int esc  = 0;
        run      = p;
        for (;;) {
                unsigned c;
                /* the plain run: printable ASCII other than " and \ */
                while (p < j->end && *p >= 0x20 && *p < 0x80 && *p != '"' &&
                       *p != '\\')
                        p++;
                if (p >= j->end) {
                        j->p = p;
                        jp_fail(j, "premature end of input in a string");
                        return -1;
                }
                c = *p;
                if (c == '"') {
                        if (!esc) {
                                *s = run;
                                *n = (size_t)(p - run);
                        } else {
                                if (tmp_reserve(j, o + (size_t)(p - run)))
                                        goto oom;
                                memcpy(j->tmp + o, run, (size_t)(p - run));
                                o += (size_t)(p - run);
                                *s = j->tmp;
                                *n = o;
                        }
                        j->p = p + 1;
                        return 0;
                }
                if (c < 0x20) {
                        j->p = p;
                        jp_fail(j, "control character in a string");
                        return -1;
                }
                if (c >= 0x80) {
                        size_t l = utf8_seq(p, j->end);
                        if (!l) {
                                j->p = p;
                                jp_fail(j, "invalid UTF-8");
                                return -1;
                        }
                        p += l;
                        continue;
                }
                /* a backslash: flush the run, then the escape */
                if (tmp_reserve(j, o + (size_t)(p - run) + 4))
                        goto oom;
                memcpy(j->tmp + o, run, (size_t)(p - run));
                o += (size_t)(p - run);
                esc = 1;
                if (p + 1 >= j->end) {
                        j->p = p;
                        jp_fail(j, "premature end of input in a string");
                        return -1;
                }
                switch (p[1]) {
                case '"':
                case '\\':
                case '/':
                        j->tmp[o++] = p[1];
                        p += 2;
                        break;
                case 'b':
                        j->tmp[o++] = '\b';
                        p += 2;
                        break;
                case 'f':
                        j->tmp[o++] = '\f';
                        p += 2;
                        break;
                case 'n':
                        j->tmp[o++] = '\n';
                        p += 2;
                        break;
                case 'r':
                        j->tmp[o++] = '\r';
                        p += 2;
                        break;
                case 't':
                        j->tmp[o++] = '\t';
                        p += 2;
                        break;
                case 'u': {
                        uint32_t cp, lo;
                        if (j->end - p < 6 || hex4(p + 2, &cp)) {
                                j->p = p;
                                jp_fail(j, "invalid \\uXXXX escape");
                                return -1;
                        }
                        p += 6;
                        if (cp >= 0xDC00 && cp <= 0xDFFF) {
                                j->p = p - 6;
                                jp_fail(j, "invalid Unicode (a lone low "
                                           "surrogate)");
                                return -1;
                        }
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                                if (j->end - p < 6 || p[0] != '\\' ||
                                    p[1] != 'u' || hex4(p + 2, &lo) ||
                                    lo < 0xDC00 || lo > 0xDFFF) {
                                        j->p = p - 6;
                                        jp_fail(j, "invalid Unicode (a high "
                                                   "surrogate without its "
                                                   "low one)");
                                        return -1;
                                }
                                p += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) +
                                     (lo - 0xDC00);
                        }
                        if (cp == 0) {
                                j->p = p - 6;
                                jp_fail(j, "\\u0000 is not allowed");
                                return -1;
                        }
                        o += utf8_put(j->tmp + o, cp);
                        break;
                }
                default:
                        j->p = p;
                        jp_fail(j, "invalid escape");
                        return -1;
                }
                run = p;
        }
oom:
        jp_fail(j, "out of memory");
        return -1;
}

static int is_digit(unsigned c) { return c >= '0' && c <= '9'; }

static json_t *parse_number(jp_t *j) {
        const unsigned char *s = j->p, *p = j->p;
        int neg                = 0, real = 0;
        json_t *v;
        if (p < j->end && *p == '-') {
                neg = 1;
                p++;
        }
        if (p >= j->end || !is_digit(*p)) {
                jp_fail(j, "invalid token");
                return NULL;
        }
        if (*p == '0') {
                p++;
                if (p < j->end && is_digit(*p)) {
                        jp_fail(j, "invalid token (a number with a leading "
                                   "zero)");
                        return NULL;
                }
        } else {
                while (p < j->end && is_digit(*p))
                        p++;
        }
        if (p < j->end && *p == '.') {
                real = 1;
                p++;
                if (p >= j->end || !is_digit(*p)) {
                        j->p = p;
                        jp_fail(j, "invalid token (no digit after '.')");
                        return NULL;
                }
                while (p < j->end && is_digit(*p))
                        p++;
        }
        if (p < j->end && (*p == 'e' || *p == 'E')) {
                real = 1;
                p++;
                if (p < j->end && (*p == '+' || *p == '-'))
                        p++;
                if (p >= j->end || !is_digit(*p)) {
                        j->p = p;
                        jp_fail(j, "invalid token (no digit in the "
                                   "exponent)");
                        return NULL;
                }
                while (p < j->end && is_digit(*p))
                        p++;
        }
        if (!real) {
                /* |value| accumulated as negative: INT64_MIN fits */
                int64_t acc = 0;
                const unsigned char *q;
                for (q = s + neg; q < p; q++) {
                        int d = *q - '0';
                        if (acc < (INT64_MIN + d) / 10) {
                                jp_fail(j, neg ? "too big negative integer"
                                               : "too big integer");
                                return NULL;
                        }
                        acc = acc * 10 - d;
                }
                if (!neg) {
                        if (acc == INT64_MIN) {
                                jp_fail(j, "too big integer");
                                return NULL;
                        }
                        acc = -acc;
                }
                v = json_integer((json_int_t)acc);
        } else {
                /* strtod() reads the locale's decimal point (one byte
                 * or more: ps_AF's is two): the token is copied with
                 * its '.' spelled so */
                char buf[64], *big = NULL, *t, *endp;
                const char *dot = localeconv()->decimal_point;
                size_t n = (size_t)(p - s), dl, m = 0, k;
                double d;
                int whole;
                if (!dot || !dot[0])
                        dot = ".";
                dl = strlen(dot);
                if (n + dl < sizeof(buf)) {
                        t = buf;
                } else if (!(t = big = malloc(n + dl + 1))) {
                        jp_fail(j, "out of memory");
                        return NULL;
                }
                for (k = 0; k < n; k++) {
                        if (s[k] == '.') {
                                memcpy(t + m, dot, dl);
                                m += dl;
                        } else {
                                t[m++] = (char)s[k];
                        }
                }
                t[m]  = '\0';
                errno = 0;
                d     = strtod(t, &endp);
                whole = endp == t + m;
                free(big);
                if (!whole) {
                        jp_fail(j, "a real number this locale's strtod() "
                                   "does not read");
                        return NULL;
                }
                if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) {
                        jp_fail(j, "real number overflow");
                        return NULL;
                }
                v = json_real(d);
        }
        if (!v) {
                jp_fail(j, "out of memory");
                return NULL;
        }
        j->p = p;
        return v;
}

static json_t *parse_value(jp_t *j);

static json_t *parse_array(jp_t *j) {
        json_t *a = json_array();
        if (!a) {
                jp_fail(j, "out of memory");
                return NULL;
        }
        j->p++; /* [ */
        skip_ws(j);
        if (j->p < j->end && *j->p == ']') {
                j->p++;
                return a;
        }
        for (;;) {
                json_t *v = parse_value(j);
                if (!v)
                        goto fail;
                if (json_array_append_new(a, v)) {
                        jp_fail(j, "out of memory");
                        goto fail;
                }
                skip_ws(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        skip_ws(j);
                        continue;
                }
                if (j->p < j->end && *j->p == ']') {
                        j->p++;
                        return a;
                }
                jp_fail(j, "',' or ']' expected");
                goto fail;
        }
fail:
        json_decref(a);
        return NULL;
}

static json_t *parse_object(jp_t *j) {
        json_t *o = json_object();
        if (!o) {
                jp_fail(j, "out of memory");
                return NULL;
        }
        j->p++; /* { */
        skip_ws(j);
        if (j->p < j->end && *j->p == '}') {
                j->p++;
                return o;
        }
        for (;;) {
                const unsigned char *k;
                size_t kl;
                json_t *v;
                unsigned char kbuf[64], *key = kbuf;
                if (j->p >= j->end || *j->p != '"') {
                        jp_fail(j, "string or '}' expected");
                        goto fail;
                }
                if (parse_string(j, &k, &kl))
                        goto fail;
                /* the key may be in j->tmp, which the value's strings
                 * reuse: keep a copy of an unescaped one */
                if (k == j->tmp) {
                        if (kl > sizeof(kbuf) && !(key = malloc(kl))) {
                                jp_fail(j, "out of memory");
                                goto fail;
                        }
                        memcpy(key, k, kl);
                        k = key;
                }
                skip_ws(j);
                if (j->p >= j->end || *j->p != ':') {
                        jp_fail(j, "':' expected");
                        if (key != kbuf)
                                free(key);
                        goto fail;
                }
                j->p++;
                skip_ws(j);
                v = parse_value(j);
                if (!v || json_object_setn_new_nocheck(o, (const char *)k,
                                                       kl, v)) {
                        if (v)
                                jp_fail(j, "out of memory");
                        if (key != kbuf)
                                free(key);
                        goto fail;
                }
                if (key != kbuf)
                        free(key);
                skip_ws(j);
                if (j->p < j->end && *j->p == ',') {
                        j->p++;
                        skip_ws(j);
                        continue;
                }
                if (j->p < j->end && *j->p == '}') {
                        j->p++;
                        return o;
                }
                jp_fail(j, "',' or '}' expected");
                goto fail;
        }
fail:
        json_decref(o);
        return NULL;
}

/* a literal: the letters that follow it must end there (jansson reads a
 * run of letters as one token) */
static int literal(jp_t *j, const char *word, size_t n) {
        const unsigned char *q;
        if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
                return 0;
        q = j->p + n;
        if (q < j->end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
                return 0;
        j->p = q;
        return 1;
}

/* the value at j->p (white space skipped before it) */
static json_t *parse_value(jp_t *j) {
        json_t *v = NULL;
        if (++j->depth > MAX_DEPTH) {
                jp_fail(j, "maximum parsing depth reached");
                return NULL;
        }
        if (j->p >= j->end) {
                jp_fail(j, "premature end of input");
                return NULL;
        }
        switch (*j->p) {
        case '{':
                v = parse_object(j);
                break;
        case '[':
                v = parse_array(j);
                break;
        case '"': {
                const unsigned char *s;
                size_t n;
                if (parse_string(j, &s, &n))
                        return NULL;
                if (!(v = json_stringn_nocheck((const char *)s, n)))
                        jp_fail(j, "out of memory");
                break;
        }
        case 't':
                if (literal(j, "true", 4))
                        v = json_true();
                break;
        case 'f':
                if (literal(j, "false", 5))
                        v = json_false();
                break;
        case 'n':
                if (literal(j, "null", 4))
                        v = json_null();
                break;
        default:
                if (*j->p == '-' || is_digit(*j->p))
                        v = parse_number(j);
                break;
        }
        if (!v)
                jp_fail(j, "invalid token");
        j->depth--;
        return v;
}

json_t *sl_json_parse(const void *data, size_t len, char *errstr,
                      size_t errstr_size) {
        jp_t j;
        json_t *v;
        j.start = j.p = data;
        j.end         = j.start + len;
        j.depth       = 0;
        j.err         = errstr;
        j.errsz       = errstr_size;
        j.failed      = 0;
        j.tmp         = j.stack_tmp;
        j.tmp_cap     = sizeof(j.stack_tmp);
        skip_ws(&j);
        v = parse_value(&j);
        if (v) {
                skip_ws(&j);
                if (j.p != j.end) {
                        jp_fail(&j, "end of input expected");
                        json_decref(v);
                        v = NULL;
                }
        }
        if (j.tmp != j.stack_tmp)
                free(j.tmp);
        return v;
}

/* ---- printer ---- */

typedef struct {
        sluice_buf_t *b;
        int nomem;
} jd_t;

static int put(jd_t *d, const void *s, size_t n) {
        if (d->b->cap - d->b->len < n && sluice_buf_reserve(d->b, n)) {
                d->nomem = 1;
                return -1;
        }
        memcpy(d->b->data + d->b->len, s, n);
        d->b->len += n;
        return 0;
}

static int put_string(jd_t *d, const char *str, size_t len) {
        const unsigned char *s = (const unsigned char *)str, *e = s + len,
                            *run;
        /* room for the quotes and the plain bytes; escapes reserve more */
        if (d->b->cap - d->b->len < len + 2 &&
            sluice_buf_reserve(d->b, len + 2)) {
                d->nomem = 1;
                return -1;
        }
        d->b->data[d->b->len++] = '"';
        run                     = s;
        while (s < e) {
                unsigned c = *s;
                char seq[8];
                const char *t;
                size_t tl = 2;
                if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                        s++;
                        continue;
                }
                if (c >= 0x80) {
                        size_t l = utf8_seq(s, e);
                        if (!l)
                                return -1; /* as jansson: not UTF-8 */
                        s += l;
                        continue;
                }
                if (put(d, run, (size_t)(s - run)))
                        return -1;
                switch (c) {
                case '"':
                        t = "\\\"";
                        break;
                case '\\':
                        t = "\\\\";
                        break;
                case '\b':
                        t = "\\b";
                        break;
                case '\f':
                        t = "\\f";
                        break;
                case '\n':
                        t = "\\n";
                        break;
                case '\r':
                        t = "\\r";
                        break;
                case '\t':
                        t = "\\t";
                        break;
                default:
                        snprintf(seq, sizeof(seq), "\\u%04X", c);
                        t  = seq;
                        tl = 6;
                }
                if (put(d, t, tl))
                        return -1;
                run = ++s;
        }
        if (put(d, run, (size_t)(s - run)) || put(d, "\"", 1))
                return -1;
        return 0;
}

static int put_integer(jd_t *d, json_int_t v) {
        char buf[24], *p = buf + sizeof(buf);
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do {
                *--p = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        if (v < 0)
                *--p = '-';
        return put(d, p, (size_t)(buf + sizeof(buf) - p));
}

/* as jansson's: %.17g, the locale's decimal point made a '.', ".0" when
 * there is neither a '.' nor an exponent, the exponent without '+' or
 * leading zeros */
static int put_real(jd_t *d, double v) {
        char buf[48], *e, *q;
        const char *dot = localeconv()->decimal_point;
        int n           = snprintf(buf, sizeof(buf) - 3, "%.17g", v);
        size_t len;
        if (n < 0 || (size_t)n >= sizeof(buf) - 3)
                return -1;
        len = (size_t)n;
        if (dot && dot[0] && strcmp(dot, ".")) {
                /* the locale's decimal point, of one byte or more, made
                 * a '.' */
                char *c = strstr(buf, dot);
                if (c) {
                        size_t dl = strlen(dot);
                        *c        = '.';
                        memmove(c + 1, c + dl, len - (size_t)(c - buf) - dl + 1);
                        len -= dl - 1;
                }
        }
        if (!memchr(buf, '.', len) && !memchr(buf, 'e', len)) {
                buf[len++] = '.';
                buf[len++] = '0';
                buf[len]   = '\0';
        }
        if ((e = memchr(buf, 'e', len))) {
                char *start = e + 1, *end = e + 2;
                if (*start == '-')
                        start++;
                while (*end == '0')
                        end++;
                if (end != start) {
                        memmove(start, end, len - (size_t)(end - buf) + 1);
                        len -= (size_t)(end - start);
                }
        }
        q = buf;
        return put(d, q, len);
}

static int dump_value(jd_t *d, const json_t *j, int depth) {
        if (depth > MAX_DEPTH)
                return 1; /* to json_dumpb() */
        switch (json_typeof(j)) {
        case JSON_NULL:
                return put(d, "null", 4);
        case JSON_TRUE:
                return put(d, "true", 4);
        case JSON_FALSE:
                return put(d, "false", 5);
        case JSON_INTEGER:
                return put_integer(d, json_integer_value(j));
        case JSON_REAL:
                return put_real(d, json_real_value(j));
        case JSON_STRING:
                return put_string(d, json_string_value(j),
                                  json_string_length(j));
        case JSON_ARRAY: {
                size_t i, n = json_array_size(j);
                int rc;
                if (put(d, "[", 1))
                        return -1;
                for (i = 0; i < n; i++) {
                        if (i && put(d, ",", 1))
                                return -1;
                        if ((rc = dump_value(d, json_array_get(j, i),
                                             depth + 1)))
                                return rc;
                }
                return put(d, "]", 1);
        }
        case JSON_OBJECT: {
                void *it = json_object_iter((json_t *)j);
                int rc, first = 1;
                if (put(d, "{", 1))
                        return -1;
                for (; it; it = json_object_iter_next((json_t *)j, it)) {
                        if (!first && put(d, ",", 1))
                                return -1;
                        first = 0;
                        if (put_string(d, json_object_iter_key(it),
                                       json_object_iter_key_len(it)) ||
                            put(d, ":", 1))
                                return -1;
                        if ((rc = dump_value(d, json_object_iter_value(it),
                                             depth + 1)))
                                return rc;
                }
                return put(d, "}", 1);
        }
        }
        return -1;
}

int sl_json_dump(const json_t *j, sluice_buf_t *buf) {
        jd_t d;
        size_t at = buf->len, n;
        int rc;
        if (!j)
                return -1;
        d.b     = buf;
        d.nomem = 0;
        rc      = dump_value(&d, j, 1);
        if (rc == 0)
                return 0;
        buf->len = at;
        if (d.nomem)
                return SLUICE_ERR_NOMEM;
        if (rc < 0)
                return -1;
        /* deeper than MAX_DEPTH: jansson's own printer, which tells a
         * cycle (refused) from a deep value */
        n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0)
                return -1;
        if (buf->cap - buf->len < n && sluice_buf_reserve(buf, n))
                return SLUICE_ERR_NOMEM;
        if (json_dumpb(j, (char *)buf->data + buf->len, n,
                       JSON_COMPACT | JSON_ENCODE_ANY) != n)
                return -1;
        buf->len += n;
        return 0;
}
