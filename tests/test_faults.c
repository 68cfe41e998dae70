/*
 * test_faults.c - what a fault does to offsets, checkpoints and the app's
 * state: a store or changelog write that fails at the commit's flush, a
 * record a store cannot hold, the processing and dead-letter handlers, a
 * close that fails, settings that would weaken the guarantee.
 */
#include "helpers.h"
#include "test_list.h"

Suite *suite_faults(void) {
        Suite *s  = suite_create("faults");
        TCase *tc = tcase_create("faults");
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
        return s;
}
