/*
 * test_list.h - every unit-test suite, one per concept (libuv style): a
 * newcomer reads this list to see what is tested. tests/main.c runs them.
 */
#ifndef SLUICE_TEST_LIST_H
#define SLUICE_TEST_LIST_H

#include <check.h>

Suite *suite_conf(void);     /* tests/test_conf.c: keys, values, messages */
Suite *suite_serde(void);    /* tests/test_serde.c: built-in serdes */
Suite *suite_json(void);     /* tests/test_json.c: the JSON parser and printer vs jansson */
Suite *suite_topology(void); /* tests/test_topology.c: builder, describe */
Suite *suite_ops(void);      /* tests/test_ops.c: every stateless operator */
Suite *suite_driver(void);   /* tests/test_driver.c: the test driver */
Suite *suite_app(void);      /* tests/test_app.c: runtime, embedded cluster */
Suite *suite_oset(void);     /* tests/test_oset.c: the ordered map under range scans */
Suite *suite_store(void);    /* tests/test_store.c: the store contract, backends */
Suite *suite_state(void);    /* tests/test_state.c: aggregations, tables, processors */
Suite *suite_faults(void);   /* tests/test_faults.c: failed flushes, handlers, close, config */
Suite *suite_recovery(void); /* tests/test_recovery.c: damaged, missing, locked local state */
Suite *suite_windows(void);  /* tests/test_windows.c: windowed aggregations, suppress */
Suite *suite_timestamps(void); /* tests/test_timestamps.c: extractors, invalid timestamps, stream time */
Suite *suite_joins(void);    /* tests/test_joins.c: stream-table, stream-stream, table-table joins */

Suite *suite_versioned(void); /* tests/test_versioned.c: versioned tables, grace buffer */

Suite *suite_placement(void); /* tests/test_placement.c: co-partitioned tasks, partition counts */

Suite *suite_global(void);   /* tests/test_global.c: global tables, stream-global-table joins */

Suite *suite_eos(void);      /* tests/test_eos.c: transactions, aborts, fencing, identity */

#define SLUICE_TEST_SUITES                                                     \
        suite_conf, suite_serde, suite_json, suite_topology, suite_ops, suite_driver,  \
            suite_app, suite_oset, suite_store, suite_state, suite_faults,    \
            suite_recovery, suite_windows, suite_timestamps, suite_versioned, \
            suite_joins, suite_global, suite_placement, suite_eos

#endif
