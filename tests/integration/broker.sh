# tests/integration/broker.sh - what run.sh, run_windows.sh and run_joins.sh
# share, sourced by each after it set:
#   it_name   its name, for messages ("run.sh")
#   it_tag    the broker's state directory's tag (sluice-kafka-<tag>.XXXXXX)
#   it_bins   the programs it runs, space-separated, which must be built
#   it_hint   how to build them, for the message when one is missing
#   root      the source tree
# and with the runner's own arguments still in "$@" (nothing, or
# --local-broker). It leaves:
#   SLUICE_TEST_BOOTSTRAP  exported: the broker started here, or yours
#   protocols              the group protocols to run the suite under
#   state                  the started broker's state directory ("" for
#                          yours), stopped at exit and removed when the
#                          runner's $rc is 0
# and it_where, which prints what the suite runs against, and
# it_protocol_ok PROTO, which refuses (with a message) one it does not know.
# Exits 2 (a setup error) when a program is missing, the broker does not
# start, or there is no cluster to run against.

for f in $it_bins; do
  if [ ! -x "$f" ]; then
    echo "$it_name: $f is not built ($it_hint)" >&2
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
      echo "$it_name: the broker's logs are in $state" >&2
    fi
  fi
}

kafka_version=${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION=${KAFKA_VERSION:-\(.*\)}$/\1/p' "$root/scripts/kafka")}
protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic}
case ${1:-} in
  --local-broker)
    case $kafka_version in 4.*) protocols=${SLUICE_TEST_GROUP_PROTOCOLS:-classic consumer} ;; esac
    export KAFKA_VERSION=$kafka_version
    state=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka-$it_tag.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if ! SLUICE_TEST_BOOTSTRAP=$("$root/scripts/kafka" start "$state"); then
      echo "$it_name: could not start a broker with scripts/kafka" >&2
      exit 2
    fi
    export SLUICE_TEST_BOOTSTRAP
    ;;
  "")
    if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
      echo "$it_name: SLUICE_TEST_BOOTSTRAP is not set. Point it at a Kafka cluster" >&2
      echo "        (SLUICE_TEST_BOOTSTRAP=host:port $0), or run $0 --local-broker" >&2
      exit 2
    fi
    ;;
  *)
    sed -n '/^# Usage:/,/^# This script/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

it_where() {
  if [ -n "$state" ]; then
    echo "Kafka $kafka_version"
  else
    echo "$SLUICE_TEST_BOOTSTRAP"
  fi
}

it_protocol_ok() {
  case $1 in classic|consumer) return 0 ;; esac
  echo "$it_name: unknown group protocol \"$1\" in SLUICE_TEST_GROUP_PROTOCOLS" >&2
  return 1
}
