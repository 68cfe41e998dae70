#!/usr/bin/env bash
# bench/store_engines.sh - build bench/store_engines (LMDB vs RocksDB as the
# persistent state-store engine) and run it. Installs the Debian packages
# liblmdb-dev / librocksdb-dev with apt-get if pkg-config cannot find them
# and we run as root. Scratch stores go to a fresh directory under
# ${TMPDIR:-/tmp}, removed on exit.
#
#   bench/store_engines.sh [store_engines options]   e.g. --runs 5 --dist skewed
#
# Environment:
#   STORE_ENGINES_BIN   where the binary goes (default build/bench/store_engines)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${STORE_ENGINES_BIN:-build/bench/store_engines}
missing=()
pkg-config --exists lmdb || missing+=(liblmdb-dev)
pkg-config --exists rocksdb || missing+=(librocksdb-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "store_engines.sh: missing ${missing[*]}; install as root" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

mkdir -p "$(dirname "$BIN")"
cc -std=c11 -O2 -Wall -Wextra -Werror \
   -DROCKSDB_PKG_VERSION="\"$(pkg-config --modversion rocksdb)\"" \
   bench/store_engines.c -o "$BIN" $(pkg-config --cflags --libs lmdb rocksdb)

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/store_engines.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
trap 'exit 130' INT TERM
"$BIN" --tmpdir "$SCRATCH" "$@"
