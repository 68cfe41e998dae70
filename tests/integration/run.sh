#!/bin/sh
# Sluice's integration tests: the application runtime against a real Kafka
# cluster, through real processes (tests/integration/test_integration.c
# drives tests/integration/app_upper.c and tests/integration/app_wordcount.c).
#
# Usage:
#   SLUICE_TEST_BOOTSTRAP=host:port tests/integration/run.sh
#       against your cluster (the tests create topics it-<pid>-<time>-*
#       with the cluster's default replication factor, and consumer groups
#       of the same names; they delete nothing)
#   tests/integration/run.sh --local-broker
#       start a single-node broker with scripts/kafka in a fresh state
#       directory, run against it, and stop it however the run ends
#       (pass, failure, Ctrl-C); KAFKA_VERSION picks the broker
#       (scripts/kafka's default, 4.4.0, when unset)
#
# Group protocols: the whole suite runs once per protocol in
# SLUICE_TEST_GROUP_PROTOCOLS (space-separated, each passed to the apps as
# group.protocol through SLUICE_TEST_GROUP_PROTOCOL). Default: "classic
# consumer" on a 4.x broker started here, "classic" on 3.x (which has no
# KIP-848) and on your own cluster (set it to include consumer if yours is
# 4.0 or later).
#
# This script builds nothing. It runs
#   ${BUILD:-build}/tests/integration/test_integration
# with SLUICE_TEST_APP_UPPER=${BUILD:-build}/tests/integration/app_upper and
# SLUICE_TEST_APP_WORDCOUNT=${BUILD:-build}/tests/integration/app_wordcount,
# then ${BUILD:-build}/tests/integration/placement_it --second with
# SLUICE_TEST_APP_COPART=${BUILD:-build}/tests/integration/app_copart;
# `make check-integration` builds all five and calls it.
#
# Without SLUICE_TEST_BOOTSTRAP (and without --local-broker) it fails with a
# message: a missing cluster is an error, never a silent skip.
#
# Exit status: the runner's (0 iff every test passed), 2 on a setup error.
# The runner prints Check's summary ("100%: Checks: N, Failures: 0,
# Errors: 0"); SLUICE_TEST_KEEP_LOGS=1 keeps the processes' logs.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
bin=$build/tests/integration/test_integration
app=$build/tests/integration/app_upper
app_wc=$build/tests/integration/app_wordcount
place=$build/tests/integration/placement_it
app_cp=$build/tests/integration/app_copart

it_name=run.sh it_tag=it
it_bins="$bin $app $app_wc $place $app_cp"
it_hint="make check-integration builds them all"
. "$root/tests/integration/broker.sh"

export SLUICE_TEST_APP_UPPER="$app"
export SLUICE_TEST_APP_WORDCOUNT="$app_wc"
rc=0
for proto in $protocols; do
  it_protocol_ok "$proto" || { rc=2; break; }
  echo "== integration tests: $(it_where), group.protocol=$proto"
  SLUICE_TEST_GROUP_PROTOCOL=$proto "$bin" || rc=$?
  # co-partitioned placement: instances joining and leaving (~20 s)
  SLUICE_TEST_GROUP_PROTOCOL=$proto SLUICE_TEST_APP_COPART=$app_cp \
      "$place" --second || rc=$?
done
exit "$rc"
