/*
 * main.c - runs every suite of tests/test_list.h and prints Check's summary
 * ("100%: Checks: N, Failures: 0, Errors: 0"). Exit status 0 iff all pass.
 * CK_FORK=no runs the tests in-process (for valgrind).
 */
#include "test_list.h"

#include <stdlib.h>

int main(void) {
        Suite *(*suites[])(void) = {SLUICE_TEST_SUITES};
        SRunner *sr              = NULL;
        size_t i;
        int failed;
        for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
                if (!sr)
                        sr = srunner_create(suites[i]());
                else
                        srunner_add_suite(sr, suites[i]());
        }
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
