#!/usr/bin/env bash
# bench/eos.sh - build bench/eos against the tree's libsluice.a, start a
# throw-away Kafka broker (scripts/kafka), run the benchmark, stop the broker
# (also on failure or Ctrl-C).
#
#   bench/eos.sh [eos options]     e.g. bench/eos.sh --runs 3 --commit-intervals 100,1000
#
# Environment:
#   SLUICE_BOOTSTRAP   use this cluster instead of starting a broker
#   EOS_KAFKA_DIR      broker state dir (default ${TMPDIR:-/tmp}/sluice-bench-eos)
#   EOS_LIB            a libsluice.a to link instead of building build/libsluice.a
#   EOS_BIN            where the binary goes (default build/bench/eos)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${EOS_BIN:-build/bench/eos}
if [ -z "${EOS_LIB:-}" ]; then
  make -s lib >&2
  EOS_LIB=build/libsluice.a
fi
RK_PREFIX=$(scripts/deps.sh --print-prefix)
export PKG_CONFIG_PATH=$RK_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
mkdir -p "$(dirname "$BIN")"
# libsluice.a has the LMDB store when pkg-config found LMDB (see Makefile)
LMDB_PKG=$(pkg-config --exists lmdb 2>/dev/null && echo lmdb || true)
cc -std=c11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wconversion \
   -Wstrict-prototypes -Wmissing-prototypes -D_POSIX_C_SOURCE=200809L \
   -Iinclude $(pkg-config --cflags rdkafka jansson | sed 's/-I/-isystem /g') bench/eos.c -o "$BIN" \
   "$EOS_LIB" $(pkg-config --libs rdkafka jansson $LMDB_PKG) -lpthread \
   -Wl,-rpath,"$RK_PREFIX/lib"

if [ -n "${SLUICE_BOOTSTRAP:-}" ]; then
  exec "$BIN" --bootstrap "$SLUICE_BOOTSTRAP" "$@"
fi
DIR=${EOS_KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-bench-eos}
trap 'scripts/kafka stop "$DIR" >&2 || true' EXIT INT TERM
BOOT=$(scripts/kafka start "$DIR")
"$BIN" --bootstrap "$BOOT" "$@"
