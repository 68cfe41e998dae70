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

for f in "$bin" "$app" "$app_wc" "$place" "$app_cp"; do
  if [ ! -x "$f" ]; then
    echo "run.sh: $f is not built (make check-integration builds them all)" >&2
    exit 2
  fi
done

state=
cleanup() {
  if [ -n "$state" ]; then
    "$root/scripts/kafka" stop "$state" >/dev/null 2>&1 || true
    if [ "${rc:-1}" -eq 0 ]; then
      rm -rf "$state"
    else
      echo "run.sh: the broker's logs are in $state" >&2
    fi
  fi
}

kafka_version=${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION=${KAFKA_VERSION:-\(.*\)}$/\1/p' "$root/scripts/kafka")}
protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic}
case ${1:-} in
  --local-broker)
    case $kafka_version in 4.*) protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic consumer} ;; esac
    export KAFKA_VERSION=$kafka_version
    state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-it.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! SLUICE_TEST_BOOTSTRAP=$("$root/scripts/kafka" start "$state"); then
      echo "run.sh: could not start a broker with scripts/kafka" >&2
      exit 2
    fi
    export SLUICE_TEST_BOOTSTRAP
    ;;
  "")
    if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
      echo "run.sh: SLUICE_TEST_BOOTSTRAP is not set. Point it at a Kafka cluster" >&2
      echo "        (SLUICE_TEST_BOOTSTRAP=host:port $0), or run $0 --local-broker" >&2
      exit 2
    fi
    ;;
  *)
    sed -n '/^# Usage:/,/^# This script/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

export SLUICE_TEST_APP_UPPER="$app"
export SLUICE_TEST_APP_WORDCOUNT="$app_wc"
rc=0
for proto in $protocols; do
  case $proto in classic|consumer) ;; *)
    echo "run.sh: unknown group protocol \"$proto\" in SLUICE_TEST_GROUP_PROTOCOLS" >&2; rc=2; break ;;
  esac
  if [ -n "$state" ]; then
    echo "== integration tests: Kafka $kafka_version, group.protocol=$proto"
  else
    echo "== integration tests: $SLUICE_TEST_BOOTSTRAP, group.protocol=$proto"
  fi
  SLUICE_TEST_GROUP_PROTOCOL=$proto "$bin" || rc=$?
  # co-partitioned placement: instances joining and leaving (~20 s)
  SLUICE_TEST_GROUP_PROTOCOL=$proto SLUICE_TEST_APP_COPART=$app_cp \
      "$place" --second || rc=$?
done
exit "$rc"
