#!/bin/sh
# Sluice's joins against a real Kafka cluster, through real processes:
# tests/integration/joins_it.c drives tests/integration/app_enrich.c
# (examples/enrich.c's topology). A runner of its own beside run.sh and
# run_windows.sh, with the same options and conventions (and the same
# broker handling: tests/integration/broker.sh).
#
# Usage:
#   SLUICE_TEST_BOOTSTRAP=host:port tests/integration/run_joins.sh
#       against your cluster (the test creates topics itj-<pid>-<time>-*
#       with the cluster's default replication factor, and consumer groups
#       of the same names; it deletes nothing)
#   tests/integration/run_joins.sh --local-broker
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
#   ${BUILD:-build}/tests/integration/joins_it
# with SLUICE_TEST_APP_ENRICH=${BUILD:-build}/tests/integration/app_enrich;
# `make check-integration` (and `make check-integration-joins` alone)
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
bin=$build/tests/integration/joins_it
app=$build/tests/integration/app_enrich

it_name=run_joins.sh it_tag=itj
it_bins="$bin $app"
it_hint="make $build/tests/integration/joins_it $build/tests/integration/app_enrich"
. "$root/tests/integration/broker.sh"

export SLUICE_TEST_APP_ENRICH="$app"
rc=0
for proto in $protocols; do
  it_protocol_ok "$proto" || { rc=2; break; }
  echo "== joins integration tests: $(it_where), group.protocol=$proto"
  SLUICE_TEST_GROUP_PROTOCOL=$proto "$bin" || rc=$?
done
exit "$rc"
