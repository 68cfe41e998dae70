#!/bin/sh
# Sluice's windowed aggregations against a real Kafka cluster, through real
# processes: tests/integration/test_windows_it.c drives
# tests/integration/app_features.c (examples/features.c's topology).
# A runner of its own beside run.sh (the runtime's suite), with the same
# options and conventions.
#
# Usage:
#   SLUICE_TEST_BOOTSTRAP=host:port tests/integration/run_windows.sh
#       against your cluster (the test creates topics itw-<pid>-<time>-*
#       with the cluster's default replication factor, and consumer groups
#       of the same names; it deletes nothing)
#   tests/integration/run_windows.sh --local-broker
#       start a single-node broker with scripts/kafka in a fresh state
#       directory, run against it, and stop it however the run ends
#       (pass, failure, Ctrl-C); KAFKA_VERSION picks the broker
#       (scripts/kafka's default, 4.4.0, when unset)
#
# Group protocols: the suite runs once per protocol in
# SLUICE_TEST_GROUP_PROTOCOLS (space-separated, each passed to the apps as
# group.protocol through SLUICE_TEST_GROUP_PROTOCOL). Default: "classic
# consumer" on a 4.x broker started here, "classic" on 3.x (which has no
# KIP-848) and on your own cluster.
#
# This script builds nothing. It runs
#   ${BUILD:-build}/tests/integration/test_windows_it
# with SLUICE_TEST_APP_FEATURES=${BUILD:-build}/tests/integration/app_features;
# `make check-integration` (and `make check-integration-windows` alone)
# builds both and calls it.
#
# Without SLUICE_TEST_BOOTSTRAP (and without --local-broker) it fails with a
# message: a missing cluster is an error, never a silent skip.
#
# Exit status: the runner's (0 iff every test passed), 2 on a setup error.
# SLUICE_TEST_KEEP_LOGS=1 keeps the processes' logs.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
bin=$build/tests/integration/test_windows_it
app=$build/tests/integration/app_features

it_name=run_windows.sh it_tag=itw
it_bins="$bin $app"
it_hint="make $build/tests/integration/test_windows_it $build/tests/integration/app_features"
. "$root/tests/integration/broker.sh"

export SLUICE_TEST_APP_FEATURES="$app"
rc=0
for proto in $protocols; do
  it_protocol_ok "$proto" || { rc=2; break; }
  echo "== windows integration tests: $(it_where), group.protocol=$proto"
  SLUICE_TEST_GROUP_PROTOCOL=$proto "$bin" || rc=$?
done
exit "$rc"
