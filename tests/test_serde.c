/*
 * test_serde.c - the built-in serdes, called directly through their function
 * pointers: bytes and string (zero copy), int32, int64 and double (Java's
 * big-endian wire format, wrong lengths), JSON through jansson (every kind of
 * value, compact output, malformed input, buffer growth); the serde structs
 * themselves; sluice_buf_reserve(); and the small helpers sluice_type_name(),
 * sluice_err2str() and the version calls.
 */
#include "test_list.h"
#include "helpers.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode @p len bytes with @p serde; the test fails on error. */
static sluice_value_t decode_ok(const sluice_serde_t *serde, const void *data,
                                size_t len) {
        sluice_value_t v = sluice_null();
        char e[512]      = "";
        int r            = serde->deserialize(serde, data, len, &v, e,
                                              sizeof(e));
        ck_assert_msg(r == 0, "%s decode failed: %s", serde->name, e);
        return v;
}

/* Decode and expect failure with exactly @p msg. */
#define ck_assert_decode_err(serde, data, len, msg)                            \
        do {                                                                   \
                sluice_value_t v_ = sluice_null();                             \
                char e_[512]      = "";                                        \
                ck_assert_int_ne((serde)->deserialize(serde, data, len, &v_,   \
                                                      e_, sizeof(e_)),         \
                                 0);                                           \
                ck_assert_str_eq(e_, msg);                                     \
        } while (0)

/* Encode @p in into the fresh @p buf and check the bytes are @p want. */
#define ck_assert_encodes(serde, in, want, want_len)                           \
        do {                                                                   \
                sluice_buf_t b_  = {NULL, 0, 0};                               \
                sluice_value_t in_ = (in);                                     \
                const void *o_   = NULL;                                       \
                size_t ol_       = 0;                                          \
                char e_[512]     = "";                                         \
                int r_ = (serde)->serialize(serde, &in_, &b_, &o_, &ol_, e_,   \
                                            sizeof(e_));                       \
                if (r_ != 0)                                                   \
                        free(b_.data);                                         \
                ck_assert_msg(r_ == 0, "encode failed: %s", e_);               \
                ck_assert_uint_eq(ol_, want_len);                              \
                ck_assert_mem_eq(o_, want, want_len);                          \
                free(b_.data);                                                 \
        } while (0)

/* Encode and expect failure with exactly @p msg. */
#define ck_assert_encode_err(serde, in, msg)                                   \
        do {                                                                   \
                sluice_buf_t b_    = {NULL, 0, 0};                             \
                sluice_value_t in_ = (in);                                     \
                const void *o_     = NULL;                                     \
                size_t ol_         = 0;                                        \
                char e_[512]       = "";                                       \
                int r_ = (serde)->serialize(serde, &in_, &b_, &o_, &ol_, e_,   \
                                            sizeof(e_));                       \
                free(b_.data);                                                 \
                ck_assert_int_ne(r_, 0);                                       \
                ck_assert_str_eq(e_, msg);                                     \
        } while (0)

/* ---- bytes and string ---- */

START_TEST(test_serde_bytes_round_trip_zero_copy) {
        const sluice_serde_t *s         = sluice_serde_bytes();
        static const unsigned char in[] = {0x00, 0xff, 'a', 0x00, 0x7f};
        sluice_buf_t buf                = {NULL, 0, 0};
        const void *out                 = NULL;
        size_t out_len                  = 0;
        char e[512]                     = "";
        sluice_value_t v                = decode_ok(s, in, sizeof(in));

        ck_assert_int_eq(v.type, SLUICE_VALUE_BYTES);
        ck_assert_ptr_eq(v.u.bytes.data, in); /* points into the input */
        ck_assert_uint_eq(v.u.bytes.len, sizeof(in));

        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_ptr_eq(out, in); /* points at the value's data */
        ck_assert_uint_eq(out_len, sizeof(in));
        ck_assert_uint_eq(buf.len, 0);
        free(buf.data);
}
END_TEST

START_TEST(test_serde_string_round_trip_zero_copy) {
        const sluice_serde_t *s = sluice_serde_string();
        const char *in          = "h\xc3\xa9llo";
        sluice_buf_t buf        = {NULL, 0, 0};
        const void *out         = NULL;
        size_t out_len          = 0;
        char e[512]             = "";
        sluice_value_t v        = decode_ok(s, in, strlen(in));

        ck_assert_int_eq(v.type, SLUICE_VALUE_STRING);
        ck_assert_ptr_eq(v.u.bytes.data, in);
        ck_assert_uint_eq(v.u.bytes.len, 6);

        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_ptr_eq(out, in);
        ck_assert_uint_eq(out_len, 6);
        free(buf.data);

        /* a string value from sluice_str() */
        {
                const char *lit  = "text";
                sluice_value_t w = sluice_str(lit);
                out              = NULL;
                out_len          = 0;
                ck_assert_int_eq(s->serialize(s, &w, &buf, &out, &out_len, e,
                                              sizeof(e)),
                                 0);
                ck_assert_ptr_eq(out, lit);
                ck_assert_uint_eq(out_len, 4);
        }
        free(buf.data);
}
END_TEST

START_TEST(test_serde_bytes_and_string_cross_types) {
        /* the raw serdes write both BYTES and STRING values */
        static const char data[] = "abc";
        ck_assert_encodes(sluice_serde_bytes(), sluice_strn(data, 3), "abc", 3);
        ck_assert_encodes(sluice_serde_string(), sluice_bytes(data, 3), "abc",
                          3);
}
END_TEST

START_TEST(test_serde_bytes_and_string_empty) {
        static const char empty[1] = "";
        sluice_value_t v = decode_ok(sluice_serde_bytes(), empty, 0);
        ck_assert_int_eq(v.type, SLUICE_VALUE_BYTES);
        ck_assert_uint_eq(v.u.bytes.len, 0);
        ck_assert_ptr_eq(v.u.bytes.data, empty);

        v = decode_ok(sluice_serde_string(), empty, 0);
        ck_assert_int_eq(v.type, SLUICE_VALUE_STRING);
        ck_assert_uint_eq(v.u.bytes.len, 0);
        ck_assert_ptr_eq(v.u.bytes.data, empty);

        ck_assert_encodes(sluice_serde_bytes(), sluice_bytes(empty, 0), "", 0);
        ck_assert_encodes(sluice_serde_string(), sluice_str(""), "", 0);
}
END_TEST

START_TEST(test_serde_raw_refuse_other_types) {
        ck_assert_encode_err(sluice_serde_string(), sluice_int64(7),
                             "serde \"string\" cannot serialize a int64 "
                             "value");
        ck_assert_encode_err(sluice_serde_bytes(), sluice_int32(7),
                             "serde \"bytes\" cannot serialize a int32 value");
        ck_assert_encode_err(sluice_serde_string(), sluice_double(1.0),
                             "serde \"string\" cannot serialize a double "
                             "value");
}
END_TEST

/* ---- int32 ---- */

START_TEST(test_serde_int32_decode) {
        const sluice_serde_t *s = sluice_serde_int32();
        static const unsigned char b256[]  = {0x00, 0x00, 0x01, 0x00};
        static const unsigned char bm1[]   = {0xff, 0xff, 0xff, 0xff};
        static const unsigned char bmix[]  = {0x12, 0x34, 0x56, 0x78};
        static const unsigned char bzero[] = {0, 0, 0, 0};
        sluice_value_t v                   = decode_ok(s, b256, 4);
        ck_assert_int_eq(v.type, SLUICE_VALUE_INT32);
        ck_assert_int_eq(v.u.i32, 256);
        v = decode_ok(s, bm1, 4);
        ck_assert_int_eq(v.type, SLUICE_VALUE_INT32);
        ck_assert_int_eq(v.u.i32, -1);
        v = decode_ok(s, bmix, 4);
        ck_assert_int_eq(v.u.i32, 0x12345678);
        v = decode_ok(s, bzero, 4);
        ck_assert_int_eq(v.u.i32, 0);
}
END_TEST

START_TEST(test_serde_int32_extremes_round_trip) {
        const sluice_serde_t *s = sluice_serde_int32();
        static const unsigned char bmin[] = {0x80, 0x00, 0x00, 0x00};
        static const unsigned char bmax[] = {0x7f, 0xff, 0xff, 0xff};
        static const unsigned char b256[] = {0x00, 0x00, 0x01, 0x00};
        static const unsigned char bm2[]  = {0xff, 0xff, 0xff, 0xfe};
        sluice_value_t v;

        ck_assert_encodes(s, sluice_int32(INT32_MIN), bmin, 4);
        ck_assert_encodes(s, sluice_int32(INT32_MAX), bmax, 4);
        ck_assert_encodes(s, sluice_int32(256), b256, 4);
        ck_assert_encodes(s, sluice_int32(-2), bm2, 4);
        v = decode_ok(s, bmin, 4);
        ck_assert_int_eq(v.u.i32, INT32_MIN);
        v = decode_ok(s, bmax, 4);
        ck_assert_int_eq(v.u.i32, INT32_MAX);
}
END_TEST

START_TEST(test_serde_int32_serialize_uses_buf) {
        const sluice_serde_t *s = sluice_serde_int32();
        sluice_value_t v        = sluice_int32(1);
        sluice_buf_t buf        = {NULL, 0, 0};
        const void *out         = NULL;
        size_t out_len          = 0;
        char e[512]             = "";
        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_ptr_nonnull(buf.data);
        ck_assert_ptr_eq(out, buf.data);
        ck_assert_uint_eq(out_len, 4);
        ck_assert_uint_eq(buf.len, 4);
        ck_assert_uint_ge(buf.cap, 4);
        ck_assert_mem_eq(out, "\x00\x00\x00\x01", 4);
        free(buf.data);
}
END_TEST

START_TEST(test_serde_int32_wrong_length) {
        const sluice_serde_t *s       = sluice_serde_int32();
        static const unsigned char b[8] = {0};
        ck_assert_decode_err(s, b, 3,
                             "serde \"int32\": expected 4 bytes, got 3");
        ck_assert_decode_err(s, b, 5,
                             "serde \"int32\": expected 4 bytes, got 5");
        ck_assert_decode_err(s, b, 0,
                             "serde \"int32\": expected 4 bytes, got 0");
        ck_assert_encode_err(s, sluice_int64(1),
                             "serde \"int32\" cannot serialize a int64 value");
}
END_TEST

/* ---- int64 ---- */

START_TEST(test_serde_int64_decode_and_encode) {
        const sluice_serde_t *s = sluice_serde_int64();
        static const unsigned char b1[]   = {0, 0, 0, 0, 0, 0, 0x01, 0x00};
        static const unsigned char bm1[]  = {0xff, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff};
        static const unsigned char bseq[] = {0x01, 0x02, 0x03, 0x04,
                                             0x05, 0x06, 0x07, 0x08};
        /* Java: LongSerializer.serialize(t, 1700000000000L) */
        static const unsigned char bts[] = {0x00, 0x00, 0x01, 0x8b,
                                            0xcf, 0xe5, 0x68, 0x00};
        sluice_value_t v                 = decode_ok(s, b1, 8);
        ck_assert_int_eq(v.type, SLUICE_VALUE_INT64);
        ck_assert_int_eq(v.u.i64, 256);
        v = decode_ok(s, bm1, 8);
        ck_assert_int_eq(v.u.i64, -1);
        v = decode_ok(s, bseq, 8);
        ck_assert_int_eq(v.u.i64, INT64_C(0x0102030405060708));
        v = decode_ok(s, bts, 8);
        ck_assert_int_eq(v.u.i64, INT64_C(1700000000000));

        ck_assert_encodes(s, sluice_int64(256), b1, 8);
        ck_assert_encodes(s, sluice_int64(-1), bm1, 8);
        ck_assert_encodes(s, sluice_int64(INT64_C(0x0102030405060708)), bseq,
                          8);
        ck_assert_encodes(s, sluice_int64(INT64_C(1700000000000)), bts, 8);
}
END_TEST

START_TEST(test_serde_int64_extremes_round_trip) {
        const sluice_serde_t *s = sluice_serde_int64();
        static const unsigned char bmin[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
        static const unsigned char bmax[] = {0x7f, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff};
        sluice_value_t v;
        ck_assert_encodes(s, sluice_int64(INT64_MIN), bmin, 8);
        ck_assert_encodes(s, sluice_int64(INT64_MAX), bmax, 8);
        v = decode_ok(s, bmin, 8);
        ck_assert_int_eq(v.u.i64, INT64_MIN);
        v = decode_ok(s, bmax, 8);
        ck_assert_int_eq(v.u.i64, INT64_MAX);
}
END_TEST

START_TEST(test_serde_int64_wrong_length) {
        const sluice_serde_t *s         = sluice_serde_int64();
        static const unsigned char b[9] = {0};
        ck_assert_decode_err(s, b, 7,
                             "serde \"int64\": expected 8 bytes, got 7");
        ck_assert_decode_err(s, b, 9,
                             "serde \"int64\": expected 8 bytes, got 9");
        ck_assert_decode_err(s, b, 4,
                             "serde \"int64\": expected 8 bytes, got 4");
        ck_assert_encode_err(s, sluice_int32(1),
                             "serde \"int64\" cannot serialize a int32 value");
}
END_TEST

/* ---- double ---- */

static uint64_t bits_of(double d) {
        uint64_t u;
        memcpy(&u, &d, sizeof(u));
        return u;
}

static double double_of(uint64_t u) {
        double d;
        memcpy(&d, &u, sizeof(d));
        return d;
}

START_TEST(test_serde_double_encode_exact) {
        const sluice_serde_t *s = sluice_serde_double();
        static const unsigned char b15[]  = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
        static const unsigned char bneg0[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
        static const unsigned char binf[] = {0x7f, 0xf0, 0, 0, 0, 0, 0, 0};
        static const unsigned char bninf[] = {0xff, 0xf0, 0, 0, 0, 0, 0, 0};
        static const unsigned char bpi[] = {0x40, 0x09, 0x21, 0xfb,
                                            0x54, 0x44, 0x2d, 0x18};
        ck_assert_encodes(s, sluice_double(1.5), b15, 8);
        ck_assert_encodes(s, sluice_double(-0.0), bneg0, 8);
        ck_assert_encodes(s, sluice_double(INFINITY), binf, 8);
        ck_assert_encodes(s, sluice_double(-INFINITY), bninf, 8);
        ck_assert_encodes(s, sluice_double(3.141592653589793), bpi, 8);
}
END_TEST

START_TEST(test_serde_double_decode_special_values) {
        const sluice_serde_t *s = sluice_serde_double();
        static const unsigned char b15[]   = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
        static const unsigned char bneg0[] = {0x80, 0, 0, 0, 0, 0, 0, 0};
        static const unsigned char binf[]  = {0x7f, 0xf0, 0, 0, 0, 0, 0, 0};
        /* a NaN with payload: its bits must survive */
        static const unsigned char bnan[] = {0x7f, 0xf8, 0, 0, 0, 0, 0, 0x01};
        sluice_value_t v                  = decode_ok(s, b15, 8);
        ck_assert_int_eq(v.type, SLUICE_VALUE_DOUBLE);
        ck_assert_double_eq(v.u.f64, 1.5);
        v = decode_ok(s, bneg0, 8);
        ck_assert_uint_eq(bits_of(v.u.f64), UINT64_C(0x8000000000000000));
        ck_assert(signbit(v.u.f64));
        v = decode_ok(s, binf, 8);
        ck_assert(isinf(v.u.f64) && v.u.f64 > 0);
        v = decode_ok(s, bnan, 8);
        ck_assert(isnan(v.u.f64));
        ck_assert_uint_eq(bits_of(v.u.f64), UINT64_C(0x7ff8000000000001));
        ck_assert_encodes(s, v, bnan, 8);
}
END_TEST

START_TEST(test_serde_double_nan_round_trip) {
        const sluice_serde_t *s = sluice_serde_double();
        static const uint64_t nans[] = {UINT64_C(0x7ff8000000000000),
                                        UINT64_C(0xfff8000000000000),
                                        UINT64_C(0x7ff0000000000001)};
        size_t i;
        for (i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
                sluice_value_t in = sluice_double(double_of(nans[i]));
                sluice_buf_t buf  = {NULL, 0, 0};
                const void *out   = NULL;
                size_t out_len    = 0;
                char e[512]       = "";
                sluice_value_t back;
                ck_assert_int_eq(s->serialize(s, &in, &buf, &out, &out_len, e,
                                              sizeof(e)),
                                 0);
                ck_assert_uint_eq(out_len, 8);
                back = decode_ok(s, out, out_len);
                free(buf.data);
                ck_assert_uint_eq(bits_of(back.u.f64), nans[i]);
        }
}
END_TEST

START_TEST(test_serde_double_wrong_length) {
        const sluice_serde_t *s         = sluice_serde_double();
        static const unsigned char b[9] = {0};
        ck_assert_decode_err(s, b, 4,
                             "serde \"double\": expected 8 bytes, got 4");
        ck_assert_decode_err(s, b, 9,
                             "serde \"double\": expected 8 bytes, got 9");
        ck_assert_encode_err(s, sluice_int64(1),
                             "serde \"double\" cannot serialize a int64 "
                             "value");
}
END_TEST

/* ---- JSON ---- */

START_TEST(test_serde_json_decode_object_and_array) {
        const sluice_serde_t *s = sluice_serde_json();
        const char *obj         = "{\"a\": 1, \"b\": [true, null]}";
        const char *arr         = "[1, \"x\", 2.5]";
        sluice_value_t v        = decode_ok(s, obj, strlen(obj));
        json_t *j;
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        j = v.u.json;
        ck_assert(json_is_object(j));
        ck_assert_uint_eq(json_object_size(j), 2);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "a")), 1);
        ck_assert(json_is_array(json_object_get(j, "b")));
        ck_assert(json_is_true(json_array_get(json_object_get(j, "b"), 0)));
        ck_assert(json_is_null(json_array_get(json_object_get(j, "b"), 1)));
        json_decref(j);

        v = decode_ok(s, arr, strlen(arr));
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        j = v.u.json;
        ck_assert(json_is_array(j));
        ck_assert_uint_eq(json_array_size(j), 3);
        ck_assert_int_eq(json_integer_value(json_array_get(j, 0)), 1);
        ck_assert_str_eq(json_string_value(json_array_get(j, 1)), "x");
        ck_assert_double_eq(json_real_value(json_array_get(j, 2)), 2.5);
        json_decref(j);
}
END_TEST

START_TEST(test_serde_json_decode_scalars) {
        const sluice_serde_t *s = sluice_serde_json();
        sluice_value_t v        = decode_ok(s, "42", 2);
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        ck_assert(json_is_integer(v.u.json));
        ck_assert_int_eq(json_integer_value(v.u.json), 42);
        json_decref(v.u.json);

        v = decode_ok(s, "\"s\"", 3);
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        ck_assert_str_eq(json_string_value(v.u.json), "s");
        json_decref(v.u.json);

        v = decode_ok(s, "true", 4);
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        ck_assert(json_is_true(v.u.json));
        json_decref(v.u.json);

        /* JSON null is a JSON value, not a Kafka null */
        v = decode_ok(s, "null", 4);
        ck_assert_int_eq(v.type, SLUICE_VALUE_JSON);
        ck_assert_ptr_nonnull(v.u.json);
        ck_assert(json_is_null(v.u.json));
        json_decref(v.u.json);
}
END_TEST

START_TEST(test_serde_json_decode_not_nul_terminated) {
        /* the input is a length-delimited buffer, not a C string */
        const sluice_serde_t *s = sluice_serde_json();
        static const char data[] = {'[', '7', ']', 'x', 'x'};
        sluice_value_t v         = decode_ok(s, data, 3);
        ck_assert(json_is_array(v.u.json));
        ck_assert_int_eq(json_integer_value(json_array_get(v.u.json, 0)), 7);
        json_decref(v.u.json);
}
END_TEST

START_TEST(test_serde_json_serialize_compact) {
        const sluice_serde_t *s = sluice_serde_json();
        const char *want        = "{\"a\":1,\"b\":[true,null]}";
        json_t *j = json_pack("{s:i,s:[b,n]}", "a", 1, "b", 1);
        sluice_value_t v;
        sluice_buf_t buf = {NULL, 0, 0};
        const void *out  = NULL;
        size_t out_len   = 0;
        char e[512]      = "";
        ck_assert_ptr_nonnull(j);
        v = sluice_json_new(j);
        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_ptr_eq(out, buf.data);
        ck_assert_uint_eq(buf.len, out_len);
        ck_assert_uint_eq(out_len, strlen(want));
        ck_assert_mem_eq(out, want, out_len);
        free(buf.data);
        json_decref(j);
}
END_TEST

START_TEST(test_serde_json_serialize_scalars) {
        const sluice_serde_t *s = sluice_serde_json();
        json_t *j               = json_integer(42);
        ck_assert_encodes(s, sluice_json_new(j), "42", 2);
        json_decref(j);
        j = json_string("s\"q");
        ck_assert_encodes(s, sluice_json_new(j), "\"s\\\"q\"", 6);
        json_decref(j);
        j = json_null();
        ck_assert_encodes(s, sluice_json_new(j), "null", 4);
        json_decref(j);
        j = json_array();
        ck_assert_encodes(s, sluice_json_new(j), "[]", 2);
        json_decref(j);
}
END_TEST

START_TEST(test_serde_json_round_trip) {
        const sluice_serde_t *s = sluice_serde_json();
        const char *in          = "{\"k\":\"v\",\"n\":[1,2,{\"x\":-3}]}";
        sluice_value_t v        = decode_ok(s, in, strlen(in));
        ck_assert_encodes(s, v, in, strlen(in));
        json_decref(v.u.json);
}
END_TEST

START_TEST(test_serde_json_malformed) {
        const sluice_serde_t *s = sluice_serde_json();
        const char *bad[]       = {"{\"a\":", "", "{a:1}", "[1,]", "1 2"};
        size_t i;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sluice_value_t v = sluice_null();
                char e[512]      = "";
                int r = s->deserialize(s, bad[i], strlen(bad[i]), &v, e,
                                       sizeof(e));
                ck_assert_msg(r != 0, "\"%s\" decoded", bad[i]);
                ck_assert_msg(!strncmp(e, "serde \"json\": ", 14),
                              "\"%s\": unexpected message: %s", bad[i], e);
                ck_assert_msg(strstr(e, "line 1") != NULL,
                              "\"%s\": no line in: %s", bad[i], e);
        }
}
END_TEST

START_TEST(test_serde_json_refuses_other_types) {
        const sluice_serde_t *s = sluice_serde_json();
        ck_assert_encode_err(s, sluice_str("{}"),
                             "serde \"json\" cannot serialize a string value");
        ck_assert_encode_err(s, sluice_int32(1),
                             "serde \"json\" cannot serialize a int32 value");
        {
                static const char raw[] = "{}";
                ck_assert_encode_err(s, sluice_bytes(raw, 2),
                                     "serde \"json\" cannot serialize a bytes "
                                     "value");
        }
}
END_TEST

START_TEST(test_serde_json_large_value_grows_buf) {
        const sluice_serde_t *s = sluice_serde_json();
        json_t *j               = json_object();
        char key[32], *want;
        sluice_value_t v;
        sluice_buf_t buf = {NULL, 0, 0};
        const void *out  = NULL;
        size_t out_len   = 0, want_len;
        char e[512]      = "";
        int i;
        for (i = 0; i < 5000; i++) {
                snprintf(key, sizeof(key), "key%05d", i);
                json_object_set_new(j, key, json_string("0123456789"));
        }
        want = json_dumps(j, JSON_COMPACT);
        ck_assert_ptr_nonnull(want);
        want_len = strlen(want);
        ck_assert_uint_gt(want_len, 64 * 1024);

        v = sluice_json_new(j);
        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_uint_eq(out_len, want_len);
        ck_assert_uint_eq(buf.len, want_len);
        ck_assert_uint_ge(buf.cap, want_len);
        ck_assert_ptr_eq(out, buf.data);
        ck_assert(memcmp(out, want, want_len) == 0);
        free(want);
        free(buf.data);
        json_decref(j);
}
END_TEST

START_TEST(test_serde_json_reuses_buf) {
        /* a buffer left large by an earlier record is reused as it is */
        const sluice_serde_t *s = sluice_serde_json();
        json_t *j               = json_pack("[i,i]", 1, 2);
        sluice_value_t v        = sluice_json_new(j);
        sluice_buf_t buf        = {NULL, 0, 0};
        unsigned char *data;
        const void *out = NULL;
        size_t out_len  = 0;
        char e[512]     = "";
        ck_assert_int_eq(sluice_buf_reserve(&buf, 1000), 0);
        data = buf.data;
        ck_assert_int_eq(s->serialize(s, &v, &buf, &out, &out_len, e,
                                      sizeof(e)),
                         0);
        ck_assert_ptr_eq(buf.data, data);
        ck_assert_ptr_eq(out, data);
        ck_assert_uint_eq(out_len, 5);
        ck_assert_mem_eq(out, "[1,2]", 5);
        free(buf.data);
        json_decref(j);
}
END_TEST

/* ---- the serde structs ---- */

START_TEST(test_serde_builtins_well_formed) {
        static const struct {
                const sluice_serde_t *(*get)(void);
                const char *name;
        } all[] = {{sluice_serde_bytes, "bytes"},
                   {sluice_serde_string, "string"},
                   {sluice_serde_int32, "int32"},
                   {sluice_serde_int64, "int64"},
                   {sluice_serde_double, "double"},
                   {sluice_serde_json, "json"}};
        size_t i, k;
        for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                const sluice_serde_t *s = all[i].get();
                ck_assert_ptr_nonnull(s);
                ck_assert_ptr_eq(all[i].get(), s);
                ck_assert_int_eq(s->version, SLUICE_SERDE_VERSION);
                ck_assert_pstr_eq(s->name, all[i].name);
                ck_assert_ptr_nonnull((void *)(uintptr_t)s->deserialize);
                ck_assert_ptr_nonnull((void *)(uintptr_t)s->serialize);
                for (k = 0; k < i; k++)
                        ck_assert_ptr_ne(all[k].get(), s);
        }
}
END_TEST

/* ---- sluice_buf_reserve ---- */

START_TEST(test_buf_reserve_grows) {
        sluice_buf_t buf = {NULL, 0, 0};
        unsigned char *p;
        ck_assert_int_eq(sluice_buf_reserve(&buf, 10), 0);
        ck_assert_ptr_nonnull(buf.data);
        ck_assert_uint_ge(buf.cap, 10);
        ck_assert_uint_eq(buf.len, 0);
        memset(buf.data, 'a', 10);
        buf.len = 10;

        /* room already there: nothing moves */
        p = buf.data;
        ck_assert_int_eq(sluice_buf_reserve(&buf, buf.cap - buf.len), 0);
        ck_assert_ptr_eq(buf.data, p);

        /* beyond: grows, keeps the content and len */
        ck_assert_int_eq(sluice_buf_reserve(&buf, 100000), 0);
        ck_assert_uint_ge(buf.cap, 100010);
        ck_assert_uint_eq(buf.len, 10);
        ck_assert_mem_eq(buf.data, "aaaaaaaaaa", 10);
        memset(buf.data + buf.len, 'b', 100000); /* all writable */

        ck_assert_int_eq(sluice_buf_reserve(&buf, 0), 0);
        free(buf.data);
}
END_TEST

START_TEST(test_buf_reserve_null) {
        ck_assert_int_eq(sluice_buf_reserve(NULL, 1), SLUICE_ERR_INVALID_ARG);
        ck_assert_int_eq(sluice_buf_reserve(NULL, 0), SLUICE_ERR_INVALID_ARG);
}
END_TEST

START_TEST(test_buf_reserve_overflow_is_nomem) {
        /* len + extra wraps around SIZE_MAX: there can be no such room */
        sluice_buf_t buf = {NULL, 0, 0};
        int r;
        ck_assert_int_eq(sluice_buf_reserve(&buf, 16), 0);
        buf.len = 16;
        r       = sluice_buf_reserve(&buf, SIZE_MAX - 5);
        free(buf.data);
        ck_assert_int_eq(r, SLUICE_ERR_NOMEM);
}
END_TEST

/* ---- names and versions ---- */

START_TEST(test_type_names) {
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_NULL), "null");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_BYTES), "bytes");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_STRING), "string");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_INT32), "int32");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_INT64), "int64");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_DOUBLE), "double");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_JSON), "json");
        ck_assert_str_eq(sluice_type_name(SLUICE_VALUE_OBJECT), "object");
        ck_assert_str_eq(sluice_type_name((sluice_type_t)99), "unknown");
}
END_TEST

START_TEST(test_err2str) {
        ck_assert_str_eq(sluice_err2str(SLUICE_OK), "Success");
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_INVALID_ARG),
                         "Invalid argument");
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_UNKNOWN_CONF),
                         "Unknown configuration property");
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_INVALID_CONF),
                         "Invalid configuration value");
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_SERDE),
                         "Serialization error");
        ck_assert_str_eq(sluice_err2str(SLUICE_ERR_VERSION),
                         "librdkafka version too old");
        ck_assert_str_eq(sluice_err2str((sluice_resp_t)-1000),
                         "Unknown error");
}
END_TEST

START_TEST(test_version) {
        ck_assert_int_eq(sluice_version(), SLUICE_VERSION);
        ck_assert_str_eq(sluice_version_str(), "0.1.0");
}
END_TEST

Suite *suite_serde(void) {
        Suite *s  = suite_create("serde");
        TCase *tc = tcase_create("serde");
        tcase_add_test(tc, test_serde_bytes_round_trip_zero_copy);
        tcase_add_test(tc, test_serde_string_round_trip_zero_copy);
        tcase_add_test(tc, test_serde_bytes_and_string_cross_types);
        tcase_add_test(tc, test_serde_bytes_and_string_empty);
        tcase_add_test(tc, test_serde_raw_refuse_other_types);
        tcase_add_test(tc, test_serde_int32_decode);
        tcase_add_test(tc, test_serde_int32_extremes_round_trip);
        tcase_add_test(tc, test_serde_int32_serialize_uses_buf);
        tcase_add_test(tc, test_serde_int32_wrong_length);
        tcase_add_test(tc, test_serde_int64_decode_and_encode);
        tcase_add_test(tc, test_serde_int64_extremes_round_trip);
        tcase_add_test(tc, test_serde_int64_wrong_length);
        tcase_add_test(tc, test_serde_double_encode_exact);
        tcase_add_test(tc, test_serde_double_decode_special_values);
        tcase_add_test(tc, test_serde_double_nan_round_trip);
        tcase_add_test(tc, test_serde_double_wrong_length);
        tcase_add_test(tc, test_serde_json_decode_object_and_array);
        tcase_add_test(tc, test_serde_json_decode_scalars);
        tcase_add_test(tc, test_serde_json_decode_not_nul_terminated);
        tcase_add_test(tc, test_serde_json_serialize_compact);
        tcase_add_test(tc, test_serde_json_serialize_scalars);
        tcase_add_test(tc, test_serde_json_round_trip);
        tcase_add_test(tc, test_serde_json_malformed);
        tcase_add_test(tc, test_serde_json_refuses_other_types);
        tcase_add_test(tc, test_serde_json_large_value_grows_buf);
        tcase_add_test(tc, test_serde_json_reuses_buf);
        tcase_add_test(tc, test_serde_builtins_well_formed);
        tcase_add_test(tc, test_buf_reserve_grows);
        tcase_add_test(tc, test_buf_reserve_null);
        tcase_add_test(tc, test_buf_reserve_overflow_is_nomem);
        tcase_add_test(tc, test_type_names);
        tcase_add_test(tc, test_err2str);
        tcase_add_test(tc, test_version);
        suite_add_tcase(s, tc);
        return s;
}
