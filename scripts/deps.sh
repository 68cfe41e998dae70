#!/usr/bin/env bash
# Install what Sluice needs to build and test, once per machine.
#
#  1. Debian packages: jansson, Check, LMDB, pkg-config, and librdkafka's build
#     dependencies (installed with apt-get when run as root, otherwise the
#     exact packages are named and the script fails).
#  2. librdkafka 2.14.2, built from Debian's own source package (bookworm's
#     2.0.2 has consumer-group bugs that duplicate records or hang a group)
#     into a cache outside the source tree:
#         ${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}/librdkafka-2.14.2
#     The source comes through apt from the mirror this machine already uses
#     (deb-src line for the suite "unstable", private lists, signatures checked).
#
# Prints nothing and exits 0 quickly when everything is already present.
# Usage: scripts/deps.sh [--print-prefix | --clang]
set -euo pipefail

RDKAFKA_VERSION=2.14.2
RDKAFKA_DEB_VERSION=2.14.2-1
DEPS_DIR=${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}
PREFIX=$DEPS_DIR/librdkafka-$RDKAFKA_VERSION

if [ "${1:-}" = "--print-prefix" ]; then echo "$PREFIX"; exit 0; fi

PKGS=(build-essential pkg-config libjansson-dev check liblmdb-dev libssl-dev libsasl2-dev
      zlib1g-dev libzstd-dev liblz4-dev python3)
# --clang: also clang and its sanitizer and libFuzzer runtimes (bookworm's
# clang is 14; without recommends the runtimes are not pulled in), for
# `make check-asan-clang` and `make fuzz`.
if [ "${1:-}" = "--clang" ]; then PKGS+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    echo "deps: missing Debian packages; run as root:" >&2
    echo "    apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ -f "$PREFIX/lib/pkgconfig/rdkafka.pc" ] && [ -f "$PREFIX/.complete" ]; then
  exit 0
fi

echo "deps: building librdkafka $RDKAFKA_VERSION into $PREFIX (once per machine, ~2 min)" >&2
work=$(mktemp -d -t sluice-rdkafka.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The mirror this machine already uses, never a hard-coded host.
uri=$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p';
        sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
            /etc/apt/sources.list 2>/dev/null; true) | grep -v security | awk 'NR==1{print $1}')
if [ -z "$uri" ]; then
  echo "deps: cannot find a Debian mirror in /etc/apt/sources.list{,.d}" >&2; exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$work/lists/partial" "$work/src"
echo "deb-src [signed-by=$keyring] $uri unstable main" > "$work/sources.list"
aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
         -o "Dir::State::Lists=$work/lists" -o "Debug::NoLocking=1")
[ "$(id -u)" = 0 ] && aptopts+=(-o "APT::Sandbox::User=root")
apt-get "${aptopts[@]}" update -qq >&2
( cd "$work/src" && apt-get "${aptopts[@]}" source --download-only -qq "librdkafka=$RDKAFKA_DEB_VERSION" >&2 )
tarball=$(ls "$work/src"/librdkafka_"$RDKAFKA_VERSION".orig.tar.gz)
srcdir=$work/src/librdkafka
mkdir -p "$srcdir"
tar -xzf "$tarball" -C "$srcdir" --strip-components=1
( cd "$srcdir" &&
  ./configure --prefix="$PREFIX" --disable-curl >"$work/configure.log" 2>&1 &&
  make -j2 libs >"$work/make.log" 2>&1 &&
  make install-subdirs >"$work/install.log" 2>&1 ) || {
    echo "deps: librdkafka build failed; last lines:" >&2
    tail -n 30 "$work"/*.log >&2; exit 1; }
touch "$PREFIX/.complete"
echo "deps: librdkafka $RDKAFKA_VERSION installed in $PREFIX" >&2
