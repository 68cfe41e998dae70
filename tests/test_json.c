/*
 * test_json.c - the JSON serde's own parser and printer (lib/json.c)
 * against jansson's json_loadb() / json_dumpb(), which they must match:
 *
 *   - random documents (nested objects and arrays, strings with escapes,
 *     surrogate pairs, multi-byte UTF-8 and control characters, integers
 *     at the 64-bit limits, reals of every form), written with random
 *     white space and escapes: both parsers accept, the values are equal,
 *     and both printers write the same bytes;
 *   - the same documents mutated (bytes replaced, inserted, deleted from
 *     an alphabet of JSON's syntax, invalid UTF-8, NUL): both parsers
 *     accept or both refuse, and what they accept is equal;
 *   - values built through jansson's API (reals from random bits,
 *     strings that are not UTF-8 through json_stringn_nocheck()), printed
 *     by both: the same bytes, or both refuse;
 *   - the edges by name: nesting at and past 2048, the integer limits,
 *     \u0000, lone surrogates, duplicate keys, a cycle, a value nested
 *     deeper than the printer's own limit, and the message a bad input
 *     gets.
 */
#include "test_list.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/json.h"

/* xorshift64*: the same "random" cases on every run */
static uint64_t rs;
static uint64_t rnd(void) {
        rs ^= rs >> 12;
        rs ^= rs << 25;
        rs ^= rs >> 27;
        return rs * 2685821657736338717ull;
}
static size_t below(size_t n) { return (size_t)(rnd() % n); }

typedef struct {
        char *s;
        size_t n, cap;
} sb_t;

static void sb_put(sb_t *b, const void *p, size_t n) {
        if (b->n + n + 1 > b->cap) {
                b->cap = (b->n + n + 1) * 2;
                b->s   = realloc(b->s, b->cap);
                ck_assert_ptr_nonnull(b->s);
        }
        memcpy(b->s + b->n, p, n);
        b->n += n;
        b->s[b->n] = '\0';
}
static void sb_str(sb_t *b, const char *s) { sb_put(b, s, strlen(s)); }

static void ws(sb_t *b) {
        static const char *w[] = {"", "", "", " ", "\n", "\t ", "\r\n  "};
        sb_str(b, w[below(sizeof(w) / sizeof(w[0]))]);
}

/* one code point of a string, written raw or escaped */
static void gen_char(sb_t *b) {
        char t[16];
        uint32_t cp;
        switch (below(10)) {
        case 0: /* a control character or one that must be escaped */
                cp = (uint32_t)below(0x20);
                if (below(2))
                        cp = below(2) ? '"' : '\\';
                break;
        case 1:
                cp = 0x80 + (uint32_t)below(0x780); /* 2 bytes */
                break;
        case 2:
                cp = 0x800 + (uint32_t)below(0xF800 - 0x800);
                if (cp >= 0xD800 && cp <= 0xDFFF)
                        cp = 0xE000;
                break;
        case 3:
                cp = 0x10000 + (uint32_t)below(0x100000); /* 4 bytes */
                break;
        default:
                cp = 0x20 + (uint32_t)below(0x5F);
        }
        if (cp == 0)
                cp = 1;
        /* must be escaped: control, quote, backslash */
        if (cp < 0x20 || cp == '"' || cp == '\\' || below(6) == 0) {
                if (cp >= 0x10000) {
                        uint32_t v = cp - 0x10000;
                        snprintf(t, sizeof(t), below(2) ? "\\u%04X\\u%04X"
                                                        : "\\u%04x\\u%04x",
                                 0xD800 | (v >> 10), 0xDC00 | (v & 0x3FF));
                } else if (cp == '\n' && below(2)) {
                        snprintf(t, sizeof(t), "\\n");
                } else if (cp == '"' && below(2)) {
                        snprintf(t, sizeof(t), "\\\"");
                } else if (cp == '/') {
                        snprintf(t, sizeof(t), "\\/");
                } else {
                        snprintf(t, sizeof(t), "\\u%04X", cp);
                }
                sb_str(b, t);
                return;
        }
        {
                unsigned char u[4];
                size_t n;
                if (cp < 0x80) {
                        u[0] = (unsigned char)cp;
                        n    = 1;
                } else if (cp < 0x800) {
                        u[0] = (unsigned char)(0xC0 | cp >> 6);
                        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
                        n    = 2;
                } else if (cp < 0x10000) {
                        u[0] = (unsigned char)(0xE0 | cp >> 12);
                        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
                        n    = 3;
                } else {
                        u[0] = (unsigned char)(0xF0 | cp >> 18);
                        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
                        n    = 4;
                }
                sb_put(b, u, n);
        }
}

static void gen_string(sb_t *b) {
        size_t i, n = below(4) ? below(12) : below(300);
        static const char *keys[] = {"id", "user", "a", "b", "ok", "tier"};
        sb_str(b, "\"");
        if (below(3) == 0) /* a repeated key, sometimes */
                sb_str(b, keys[below(sizeof(keys) / sizeof(keys[0]))]);
        else
                for (i = 0; i < n; i++)
                        gen_char(b);
        sb_str(b, "\"");
}

static void gen_number(sb_t *b) {
        char t[64];
        static const char *edge[] = {
            "0",          "-0",          "9223372036854775807",
            "-9223372036854775808",      "9007199254740993",
            "1e308",      "-1e-308",     "4.9e-324",
            "1.7976931348623157e308",    "0.1",
            "1E+2",       "1e-7",        "123.45",
            "-0.0",       "2.5e-05",     "100000000000000000000.0"};
        switch (below(4)) {
        case 0:
                sb_str(b, edge[below(sizeof(edge) / sizeof(edge[0]))]);
                return;
        case 1:
                snprintf(t, sizeof(t), "%lld",
                         (long long)(int64_t)rnd() >> below(64));
                break;
        case 2:
                snprintf(t, sizeof(t), "%s%llu.%llu%s", below(2) ? "-" : "",
                         (unsigned long long)below(100000),
                         (unsigned long long)below(1000000),
                         below(2) ? "" : below(2) ? "e-3" : "E+12");
                break;
        default:
                snprintf(t, sizeof(t), "%de%d", (int)below(10),
                         (int)below(40) - 20);
        }
        sb_str(b, t);
}

static void gen_value(sb_t *b, int depth) {
        size_t i, n;
        switch (depth > 4 ? 2 + below(4) : below(7)) {
        case 0:
                sb_str(b, "{");
                ws(b);
                n = below(6);
                for (i = 0; i < n; i++) {
                        if (i) {
                                sb_str(b, ",");
                                ws(b);
                        }
                        gen_string(b);
                        ws(b);
                        sb_str(b, ":");
                        ws(b);
                        gen_value(b, depth + 1);
                        ws(b);
                }
                sb_str(b, "}");
                return;
        case 1:
                sb_str(b, "[");
                ws(b);
                n = below(6);
                for (i = 0; i < n; i++) {
                        if (i) {
                                sb_str(b, ",");
                                ws(b);
                        }
                        gen_value(b, depth + 1);
                        ws(b);
                }
                sb_str(b, "]");
                return;
        case 2:
        case 3:
                gen_string(b);
                return;
        case 4:
                gen_number(b);
                return;
        default: {
                static const char *lit[] = {"true", "false", "null"};
                sb_str(b, lit[below(3)]);
        }
        }
}

/* jansson's reading of @s, or NULL */
static json_t *jansson_parse(const char *s, size_t n) {
        json_error_t e;
        return json_loadb(s, n, JSON_DECODE_ANY, &e);
}

/* both printers on @v: the same outcome, the same bytes */
static void check_dump(const json_t *v, const char *what) {
        sluice_buf_t buf = {NULL, 0, 0};
        size_t jn        = json_dumpb(v, NULL, 0,
                               JSON_COMPACT | JSON_ENCODE_ANY);
        int rc           = sl_json_dump(v, &buf);
        if (jn == 0) {
                ck_assert_msg(rc == -1, "%s: jansson refuses to print it, "
                                        "sl_json_dump() returned %d",
                              what, rc);
        } else {
                char *js = malloc(jn);
                ck_assert_ptr_nonnull(js);
                ck_assert_uint_eq(json_dumpb(v, js, jn,
                                             JSON_COMPACT | JSON_ENCODE_ANY),
                                  jn);
                ck_assert_msg(rc == 0, "%s: sl_json_dump() failed (%d)",
                              what, rc);
                ck_assert_msg(buf.len == jn && !memcmp(buf.data, js, jn),
                              "%s: printed\n  %.*s\njansson:\n  %.*s", what,
                              (int)buf.len, (const char *)buf.data, (int)jn,
                              js);
                free(js);
        }
        free(buf.data);
}

/* both parsers on @s: the same outcome, equal values, the same print */
static int check_parse(const char *s, size_t n, const char *what) {
        char err[200] = "";
        json_t *a     = jansson_parse(s, n);
        json_t *b     = sl_json_parse(s, n, err, sizeof(err));
        int ok        = a != NULL;
        if (a && !b && memchr(s, '\0', n)) {
                /* jansson's quirk (json.h): it skips one NUL byte right
                 * after a number or a literal; ours refuses it. Without
                 * those bytes, ours must read jansson's value. */
                char *t = malloc(n);
                size_t i, m = 0;
                ck_assert_ptr_nonnull(t);
                for (i = 0; i < n; i++)
                        if (s[i] || !i ||
                            !((s[i - 1] >= '0' && s[i - 1] <= '9') ||
                              (s[i - 1] >= 'a' && s[i - 1] <= 'z')))
                                t[m++] = s[i];
                b = sl_json_parse(t, m, err, sizeof(err));
                ck_assert_msg(b && json_equal(a, b),
                              "%s: jansson accepts, and without the NUL "
                              "bytes after its tokens ours %s",
                              what, b ? "reads another value" : "refuses");
                free(t);
                json_decref(a);
                json_decref(b);
                return 0;
        }
        ck_assert_msg(!a == !b, "%s: jansson %s, sl_json_parse %s (%s): %.*s",
                      what, a ? "accepts" : "refuses",
                      b ? "accepts" : "refuses", err, (int)(n > 400 ? 400 : n),
                      s);
        if (a) {
                ck_assert_msg(json_equal(a, b), "%s: values differ: %.*s",
                              what, (int)(n > 400 ? 400 : n), s);
                check_dump(b, what);
                check_dump(a, what);
        } else {
                ck_assert_msg(err[0], "%s: refused without a message", what);
        }
        json_decref(a);
        json_decref(b);
        return ok;
}

START_TEST(random_documents_match_jansson) {
        int i;
        rs = 0x15011 + (uint64_t)_i;
        for (i = 0; i < 4000; i++) {
                sb_t b = {0};
                ws(&b);
                gen_value(&b, 0);
                ws(&b);
                ck_assert_msg(check_parse(b.s, b.n, "random document"),
                              "a generated document was refused: %s", b.s);
                free(b.s);
        }
}
END_TEST

START_TEST(mutated_documents_match_jansson) {
        static const char alphabet[] = "{}[]\",:\\/u0123456789abcdefEe+-. \n"
                                       "tfnrl\x01\x1f\x7f";
        static const unsigned char odd[] = {0x00, 0x80, 0xBF, 0xC0, 0xC1,
                                            0xC2, 0xE0, 0xED, 0xF0, 0xF4,
                                            0xF5, 0xFF};
        int i, accepted = 0, refused = 0;
        rs = 0xbad5eed + (uint64_t)_i;
        for (i = 0; i < 20000; i++) {
                sb_t b = {0}, m = {0};
                size_t k, muts = 1 + below(3);
                gen_value(&b, 2);
                sb_put(&m, b.s, b.n);
                for (k = 0; k < muts && m.n; k++) {
                        size_t at = below(m.n);
                        unsigned char c =
                            below(4) ? (unsigned char)alphabet[below(
                                           sizeof(alphabet) - 1)]
                                     : odd[below(sizeof(odd))];
                        switch (below(3)) {
                        case 0:
                                m.s[at] = (char)c;
                                break;
                        case 1:
                                memmove(m.s + at, m.s + at + 1, m.n - at - 1);
                                m.n--;
                                break;
                        default:
                                sb_put(&m, "", 1);
                                memmove(m.s + at + 1, m.s + at,
                                        m.n - at - 1);
                                m.s[at] = (char)c;
                        }
                }
                if (check_parse(m.s, m.n, "mutated document"))
                        accepted++;
                else
                        refused++;
                free(b.s);
                free(m.s);
        }
        /* the mutations reach both sides of the line */
        ck_assert_int_gt(accepted, 1000);
        ck_assert_int_gt(refused, 1000);
}
END_TEST

START_TEST(built_values_print_as_jansson) {
        int i;
        rs = 0xd0e5 + (uint64_t)_i;
        for (i = 0; i < 20000; i++) {
                json_t *o = json_object(), *a = json_array();
                uint64_t bits = rnd();
                double d;
                unsigned char s[8];
                size_t k, sl = below(8);
                memcpy(&d, &bits, sizeof(d));
                if (d != d || d - d != 0) /* NaN, inf: jansson has none */
                        d = (double)(int64_t)bits / 7.0;
                json_array_append_new(a, json_real(d));
                json_array_append_new(a, json_real((double)below(1000000) /
                                                   (double)(1 + below(1000))));
                json_array_append_new(a, json_integer((json_int_t)rnd()));
                for (k = 0; k < sl; k++)
                        s[k] = (unsigned char)rnd();
                /* likely not UTF-8: both printers must refuse, or agree */
                json_object_setn_new_nocheck(
                    o, (const char *)s, below(2) ? sl : 0,
                    json_stringn_nocheck((const char *)s, sl));
                json_object_set_new(o, "r", a);
                check_dump(o, "built value");
                check_dump(a, "built array");
                json_decref(o);
        }
}
END_TEST

static json_t *nested(size_t levels) {
        sb_t b = {0};
        size_t i;
        json_t *v;
        for (i = 0; i < levels; i++)
                sb_str(&b, "[");
        sb_str(&b, "1");
        for (i = 0; i < levels; i++)
                sb_str(&b, "]");
        v = sl_json_parse(b.s, b.n, NULL, 0);
        check_parse(b.s, b.n, "nested arrays");
        free(b.s);
        return v;
}

START_TEST(edges_by_name) {
        static const char *accept[] = {
            "9223372036854775807", "-9223372036854775808", "-0", "0.0e0",
            "\"\\ud83d\\ude00\"", "\"\\u00e9\xc3\xa9\"", "{\"a\":1,\"a\":2}",
            " \t\r\n[ ] ", "1e-400", "\"\x7f\"", "{\"\":[]}"};
        static const char *refuse[] = {
            "9223372036854775808", "-9223372036854775809", "01", "-",
            "1.", ".5", "1e", "1e+", "+1", "\"\\u0000\"", "{\"\\u0000\":1}",
            "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"\xed\xa0\x80\"",
            "\"\xc0\xaf\"", "\"\xf4\x90\x80\x80\"", "\"\x01\"", "tru",
            "truex", "nul", "[1,]", "{\"a\":1,}", "[1 2]", "1e400",
            "\"\\x\"", "\"abc", "", " ", "1 2", "{1:2}", "NaN"};
        size_t i;
        json_t *v, *a;
        for (i = 0; i < sizeof(accept) / sizeof(accept[0]); i++)
                ck_assert_msg(check_parse(accept[i], strlen(accept[i]),
                                          accept[i]),
                              "refused: %s", accept[i]);
        for (i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++)
                ck_assert_msg(!check_parse(refuse[i], strlen(refuse[i]),
                                           refuse[i]),
                              "accepted: %s", refuse[i]);
        /* a NUL byte after the value, or in a string */
        ck_assert(!check_parse("[1]\0", 4, "a NUL after the value"));
        ck_assert(!check_parse("\"a\0b\"", 5, "a NUL in a string"));
        /* duplicate keys: the last value, in the first one's place */
        v = sl_json_parse("{\"a\":1,\"b\":2,\"a\":3}", 19, NULL, 0);
        ck_assert_ptr_nonnull(v);
        {
                sluice_buf_t buf = {NULL, 0, 0};
                ck_assert_int_eq(sl_json_dump(v, &buf), 0);
                ck_assert_uint_eq(buf.len, 13);
                ck_assert(!memcmp(buf.data, "{\"a\":3,\"b\":2}", 13));
                free(buf.data);
        }
        json_decref(v);
        /* nesting: 2048 values deep is jansson's limit, and ours */
        v = nested(2047);
        ck_assert_ptr_nonnull(v);
        json_decref(v);
        ck_assert_ptr_null(nested(2048));
        /* deeper than that only by hand: printed by jansson's printer */
        v = json_array();
        for (i = 0, a = v; i < 3000; i++) {
                json_t *in = json_array();
                json_array_append_new(a, in);
                a = in;
        }
        check_dump(v, "3000 levels built by hand");
        /* a key that is not UTF-8 (only json_object_set_new_nocheck()
         * makes one): refused, where jansson writes what came before the
         * bad byte and goes on ("{\":1}", not JSON): json.h */
        {
                json_t *o        = json_object();
                sluice_buf_t buf = {NULL, 0, 0};
                json_object_set_new_nocheck(o, "\xff", json_integer(1));
                ck_assert_int_eq(sl_json_dump(o, &buf), -1);
                ck_assert_uint_eq(buf.len, 0);
                free(buf.data);
                json_decref(o);
        }
        /* a cycle: both refuse */
        json_array_append(a, v);
        {
                sluice_buf_t buf = {NULL, 0, 0};
                ck_assert_int_eq(sl_json_dump(v, &buf), -1);
                ck_assert_uint_eq(buf.len, 0);
                free(buf.data);
        }
        json_array_clear(a);
        json_decref(v);
}
END_TEST

START_TEST(a_bad_input_gets_its_place) {
        char err[200];
        ck_assert_ptr_null(sl_json_parse("{\"a\":tru}", 10, err, sizeof(err)));
        ck_assert_str_eq(err, "invalid token (line 1, column 6, byte 5)");
        ck_assert_ptr_null(sl_json_parse("[1,\n 2,\n 03]", 12, err,
                                         sizeof(err)));
        ck_assert_str_eq(err, "invalid token (a number with a leading zero) "
                              "(line 3, column 2, byte 9)");
        ck_assert_ptr_null(sl_json_parse("{\"k\":\"\xff\"}", 9, err,
                                         sizeof(err)));
        ck_assert_str_eq(err, "invalid UTF-8 (line 1, column 7, byte 6)");
}
END_TEST

Suite *suite_json(void) {
        Suite *s = suite_create("json");
        TCase *tc = tcase_create("against_jansson");
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, random_documents_match_jansson, 0, 3);
        tcase_add_loop_test(tc, mutated_documents_match_jansson, 0, 3);
        tcase_add_loop_test(tc, built_values_print_as_jansson, 0, 2);
        tcase_add_test(tc, edges_by_name);
        tcase_add_test(tc, a_bad_input_gets_its_place);
        suite_add_tcase(s, tc);
        return s;
}
