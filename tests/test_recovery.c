/*
 * test_recovery.c - local state that was removed, emptied, damaged or is
 * held by another process: restored from the changelog, never trusted
 * silently, never a crash loop.
 */
#include "helpers.h"
#include "test_list.h"

Suite *suite_recovery(void) {
        Suite *s  = suite_create("recovery");
        TCase *tc = tcase_create("recovery");
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
        return s;
}
