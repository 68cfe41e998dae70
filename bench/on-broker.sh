#!/usr/bin/env bash
# bench/on-broker.sh - build bench/NAME.c against the tree's libsluice.a,
# start a throw-away Kafka broker (scripts/kafka), run the benchmark on it,
# stop the broker (also on failure or Ctrl-C). What `make bench-pipe`,
# `make bench-eos` and `make bench-restore` run.
#
#   bench/on-broker.sh NAME [options]   e.g. bench/on-broker.sh pipe --records 5000000 --runs 3
#                                       bench/on-broker.sh eos --commit-intervals 100,1000
#
# A benchmark whose source takes --broker-pid gets the broker's pid, to
# report the broker's CPU beside its own.
#
# Environment:
#   SLUICE_BOOTSTRAP   use this cluster instead of starting a broker
#   BENCH_KAFKA_DIR    broker state dir (default ${TMPDIR:-/tmp}/sluice-bench-NAME)
#   BENCH_LIB          a libsluice.a to link instead of building build/libsluice.a
#                      (e.g. another commit's, to compare two versions)
#   BENCH_BIN          where the binary goes (default build/bench/NAME)
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=${1:?usage: bench/on-broker.sh NAME [options] (bench/NAME.c)}
shift
SRC=bench/$NAME.c
[ -f "$SRC" ] || { echo "bench/on-broker.sh: no $SRC" >&2; exit 2; }
BIN=${BENCH_BIN:-build/bench/$NAME}
LIB=${BENCH_LIB:-}
if [ -z "$LIB" ]; then
  make -s lib >&2
  LIB=build/libsluice.a
fi
RK_PREFIX=$(scripts/deps.sh --print-prefix)
export PKG_CONFIG_PATH=$RK_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
mkdir -p "$(dirname "$BIN")"
# libsluice.a has the LMDB store when pkg-config found LMDB (see Makefile)
LMDB_PKG=$(pkg-config --exists lmdb 2>/dev/null && echo lmdb || true)
cc -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wconversion \
   -Wstrict-prototypes -Wmissing-prototypes -D_POSIX_C_SOURCE=200809L \
   -Iinclude $(pkg-config --cflags rdkafka jansson | sed 's/-I/-isystem /g') "$SRC" -o "$BIN" \
   "$LIB" $(pkg-config --libs rdkafka jansson $LMDB_PKG) -lpthread \
   -Wl,-rpath,"$RK_PREFIX/lib"

if [ -n "${SLUICE_BOOTSTRAP:-}" ]; then
  exec "$BIN" --bootstrap "$SLUICE_BOOTSTRAP" "$@"
fi
DIR=${BENCH_KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-bench-$NAME}
trap 'scripts/kafka stop "$DIR" >&2 || true' EXIT
trap 'exit 130' INT TERM
BOOT=$(scripts/kafka start "$DIR")
PID_ARGS=()
if grep -q -- '--broker-pid' "$SRC"; then
  PID_ARGS=(--broker-pid "$(cat "$DIR/pid")")
fi
"$BIN" --bootstrap "$BOOT" "${PID_ARGS[@]}" "$@"
