#!/bin/sh
# Sluice's joins against a real Kafka cluster, through real processes:
# tests/integration/joins_it.c drives tests/integration/app_enrich.c
# (examples/enrich.c's topology). A runner of its own beside run.sh and
# run_windows.sh, with the same options and conventions.
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

for f in "$bin" "$app"; do
  if [ ! -x "$f" ]; then
    echo "run_joins.sh: $f is not built (make $build/tests/integration/joins_it $build/tests/integration/app_enrich)" >&2
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
      echo "run_joins.sh: the broker's logs are in $state" >&2
    fi
  fi
}

kafka_version=${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION=${KAFKA_VERSION:-\(.*\)}$/\1/p' "$root/scripts/kafka")}
protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic}
case ${1:-} in
  --local-broker)
    case $kafka_version in 4.*) protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic consumer} ;; esac
    export KAFKA_VERSION=$kafka_version
    state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-itj.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! SLUICE_TEST_BOOTSTRAP=$("$root/scripts/kafka" start "$state"); then
      echo "run_joins.sh: could not start a broker with scripts/kafka" >&2
      exit 2
    fi
    export SLUICE_TEST_BOOTSTRAP
    ;;
  "")
    if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
      echo "run_joins.sh: SLUICE_TEST_BOOTSTRAP is not set. Point it at a Kafka cluster" >&2
      echo "        (SLUICE_TEST_BOOTSTRAP=host:port $0), or run $0 --local-broker" >&2
      exit 2
    fi
    ;;
  *)
    sed -n '/^# Usage:/,/^# This script/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

export SLUICE_TEST_APP_ENRICH="$app"
rc=0
for proto in $protocols; do
  case $proto in classic|consumer) ;; *)
    echo "run_joins.sh: unknown group protocol \"$proto\" in SLUICE_TEST_GROUP_PROTOCOLS" >&2; rc=2; break ;;
  esac
  if [ -n "$state" ]; then
    echo "== joins integration tests: Kafka $kafka_version, group.protocol=$proto"
  else
    echo "== joins integration tests: $SLUICE_TEST_BOOTSTRAP, group.protocol=$proto"
  fi
  SLUICE_TEST_GROUP_PROTOCOL=$proto "$bin" || rc=$?
done
exit "$rc"
