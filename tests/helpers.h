/*
 * helpers.h - small helpers shared by the unit tests.
 */
#ifndef SLUICE_TEST_HELPERS_H
#define SLUICE_TEST_HELPERS_H

#include <check.h>
#include <string.h>

#include "sluice.h"

/* Read the next output on @topic and check it against key/value strings
 * (NULL = Kafka null) and the timestamp. */
#define ck_assert_output(drv, topic, k, v, ts)                                 \
        do {                                                                   \
                const sluice_output_t *o_ = sluice_driver_read(drv, topic);    \
                const char *k_ = (k), *v_ = (v);                               \
                ck_assert_msg(o_ != NULL, "no output on %s", topic);           \
                if (k_) {                                                      \
                        ck_assert_ptr_nonnull(o_->key);                        \
                        ck_assert_uint_eq(o_->key_len, strlen(k_));            \
                        ck_assert_mem_eq(o_->key, k_, o_->key_len);            \
                } else                                                         \
                        ck_assert_ptr_null(o_->key);                           \
                if (v_) {                                                      \
                        ck_assert_ptr_nonnull(o_->value);                      \
                        ck_assert_uint_eq(o_->value_len, strlen(v_));          \
                        ck_assert_mem_eq(o_->value, v_, o_->value_len);        \
                } else                                                         \
                        ck_assert_ptr_null(o_->value);                         \
                ck_assert_int_eq(o_->timestamp, (ts));                         \
        } while (0)

#endif
