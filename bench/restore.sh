#!/usr/bin/env bash
# bench/restore.sh - run bench/restore (restore rate of a 5M-record
# changelog, in_memory and lmdb) against a throw-away Kafka broker
# (scripts/kafka) that it starts and stops (also on failure or Ctrl-C).
#
#   BUILD=build bench/restore.sh [restore options]   e.g. --runs 5
#   (`make bench-restore` builds build/bench/restore and runs this)
#
# Environment:
#   BUILD                 build directory (default build); the binary is
#                         $BUILD/bench/restore, built with make if missing
#   SLUICE_BOOTSTRAP      use this cluster instead of starting a broker
#   RESTORE_KAFKA_DIR     broker state dir
#                         (default ${TMPDIR:-/tmp}/sluice-bench-restore)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
BIN=$BUILD/bench/restore
[ -x "$BIN" ] || make -s BUILD="$BUILD" "$BIN" >&2

if [ -n "${SLUICE_BOOTSTRAP:-}" ]; then
  exec "$BIN" --bootstrap "$SLUICE_BOOTSTRAP" "$@"
fi
DIR=${RESTORE_KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-bench-restore}
trap 'scripts/kafka stop "$DIR" >&2 || true' EXIT
trap 'exit 130' INT TERM
BOOT=$(scripts/kafka start "$DIR")
"$BIN" --bootstrap "$BOOT" --broker-pid "$(cat "$DIR/pid")" "$@"
