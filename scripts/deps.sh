#!/usr/bin/env bash
# Install what Sluice needs to build and test, once per machine.
#
#  1. Debian packages: jansson, Check, LMDB, pkg-config, and librdkafka's build
#     dependencies (installed with apt-get when run as root, otherwise the
#     exact packages are named and the script fails).
#  2. librdkafka, built from Debian's own source package (bookworm's 2.0.2
#     has consumer-group bugs that duplicate records or hang a group) into a
#     cache outside the source tree:
#         ${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}/librdkafka-<version>
#     with the stable name .../librdkafka pointing at the one in use.
#
# Which librdkafka. Debian's unstable and testing suites are rolling: a
# version they carry today is gone when they move on, so no exact version is
# pinned. On a machine without one in its cache, the newest source package
# at or above $RDKAFKA_MIN (2.14.2) that either suite offers is taken; the
# script fails, saying so, when neither offers one. The source comes through
# apt from the mirror this machine already uses (deb-src lines, private
# lists, signatures checked). Once built, the cached one is used until
#     scripts/deps.sh --update
# looks again (and builds a newer one if there is one). To build one exact
# Debian version instead: SLUICE_RDKAFKA_VERSION=2.14.2-1 scripts/deps.sh.
# The version in use is in .../librdkafka/.debian-version and is printed by
# --print-version; Sluice reports it at run time (sluice_rdkafka_version_str).
# Sluice itself refuses anything older than 2.10.1 at run time.
#
# One build at a time per cache directory (flock); a second caller waits,
# then finds it done. Prints nothing and exits 0 quickly when everything is
# already present.
#
# Usage: scripts/deps.sh [--update | --print-prefix | --print-version | --clang]
set -euo pipefail

RDKAFKA_MIN=2.14.2
SUITES=(unstable testing)
DEPS_DIR=${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}
LINK=$DEPS_DIR/librdkafka

say() { echo "deps: $*" >&2; }
die() { say "$*"; exit 1; }

case ${1:-} in
  --print-prefix) echo "$LINK"; exit 0 ;;
  --print-version)
    [ -f "$LINK/.complete" ] || die "no librdkafka in $LINK yet (run scripts/deps.sh)"
    cat "$LINK/.debian-version"; exit 0 ;;
  --update|--clang|"") ;;
  *) sed -n '/^# Usage:/p' "$0" | sed 's/^# //' >&2; exit 2 ;;
esac
update=0; [ "${1:-}" = "--update" ] && update=1

# cmake and librdkafka-dev (bookworm's own 2.0.2) only for `make
# installcheck`: a CMake project, and a program with a librdkafka of its own
# beside the one inside libsluice.
PKGS=(build-essential pkg-config libjansson-dev check liblmdb-dev libssl-dev libsasl2-dev
      zlib1g-dev libzstd-dev liblz4-dev python3 cmake librdkafka-dev)
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
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    say "missing Debian packages; run as root:"
    echo "    apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# The librdkafka in use: the link resolves to a finished build of the
# version asked for (any, when none is asked for).
LICENSES=share/doc/librdkafka/LICENSES.txt # installed beside libsluice, which carries librdkafka
in_use_ok() {
  [ -f "$LINK/.complete" ] && [ -f "$LINK/lib/pkgconfig/rdkafka.pc" ] && [ -f "$LINK/$LICENSES" ] || return 1
  [ -z "${SLUICE_RDKAFKA_VERSION:-}" ] ||
    [ "$(cat "$LINK/.debian-version" 2>/dev/null)" = "$SLUICE_RDKAFKA_VERSION" ]
}

[ "$update" = 0 ] && in_use_ok && exit 0

mkdir -p "$DEPS_DIR"
exec 9>"$DEPS_DIR/.librdkafka.lock"
flock 9
[ "$update" = 0 ] && in_use_ok && exit 0

work=$(mktemp -d -t sluice-rdkafka.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The mirror this machine already uses, never a hard-coded host.
uri=$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p';
        sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
            /etc/apt/sources.list 2>/dev/null; true) | grep -v security | awk 'NR==1{print $1}')
[ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list{,.d}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
mkdir -p "$work/lists/partial" "$work/src"
for s in "${SUITES[@]}"; do
  echo "deb-src [signed-by=$keyring] $uri $s main"
done >"$work/sources.list"
aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
         -o "Dir::State::Lists=$work/lists" -o "Debug::NoLocking=1")
[ "$(id -u)" = 0 ] && aptopts+=(-o "APT::Sandbox::User=root")
apt-get "${aptopts[@]}" update -qq >&2 ||
  die "apt-get update of the deb-src lists for ${SUITES[*]} failed (output above)"

# "librdkafka | 2.14.2-1 | <uri> unstable/main Sources", one line a suite
offered=$(apt-cache "${aptopts[@]}" madison librdkafka 2>/dev/null |
          awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); print $2 }' | sort -u)
upstream_of() { local v=${1#*:}; echo "${v%-*}"; }

if [ -n "${SLUICE_RDKAFKA_VERSION:-}" ]; then
  debver=$SLUICE_RDKAFKA_VERSION
  grep -qxF "$debver" <<<"$offered" ||
    die "librdkafka $debver (SLUICE_RDKAFKA_VERSION) is not offered by Debian's ${SUITES[*]}; they offer: ${offered:-nothing}"
else
  debver=
  for v in $offered; do
    [ -z "$debver" ] || dpkg --compare-versions "$v" gt "$debver" && debver=$v
  done
fi
if [ -z "$debver" ] || dpkg --compare-versions "$(upstream_of "$debver")" lt "$RDKAFKA_MIN"; then
  die "no librdkafka >= $RDKAFKA_MIN in Debian's ${SUITES[*]} (offered: ${offered:-nothing});
      Sluice builds on librdkafka $RDKAFKA_MIN or later, and cannot be built here until
      one of these suites offers one (SLUICE_RDKAFKA_VERSION picks one they offer)"
fi
version=$(upstream_of "$debver")
prefix=$DEPS_DIR/librdkafka-$version

srcdir=$work/src/librdkafka
fetch_source() {
  ( cd "$work/src" && apt-get "${aptopts[@]}" source --download-only -qq "librdkafka=$debver" >&2 ) ||
    die "apt-get source librdkafka=$debver failed (output above)"
  mkdir -p "$srcdir"
  tar -xf "$(ls "$work/src"/librdkafka_"$version".orig.tar.*)" -C "$srcdir" --strip-components=1
}

if ! { [ -f "$prefix/.complete" ] && [ "$(cat "$prefix/.debian-version" 2>/dev/null || echo "$debver")" = "$debver" ]; }; then
  say "building librdkafka $version (Debian source $debver) into $prefix (once per machine, ~2 min)"
  fetch_source
  # Staged, then moved into place: a reader never sees half an install.
  ( cd "$srcdir" &&
    ./configure --prefix="$prefix" --disable-curl >"$work/configure.log" 2>&1 &&
    make -j2 libs >"$work/make.log" 2>&1 &&
    make install-subdirs DESTDIR="$work/stage" >"$work/install.log" 2>&1 ) || {
      say "librdkafka build failed; last lines:"
      tail -n 30 "$work"/*.log >&2; exit 1; }
  install -D -m 644 "$srcdir/LICENSES.txt" "$work/stage$prefix/$LICENSES"
  echo "$debver" >"$work/stage$prefix/.debian-version"
  touch "$work/stage$prefix/.complete"
  rm -rf "$prefix"
  mv "$work/stage$prefix" "$prefix"
  say "librdkafka $version installed in $prefix"
else # a build made before these files were kept
  [ -f "$prefix/.debian-version" ] || echo "$debver" >"$prefix/.debian-version"
  if [ ! -f "$prefix/$LICENSES" ]; then
    fetch_source
    install -D -m 644 "$srcdir/LICENSES.txt" "$prefix/$LICENSES.tmp"
    mv "$prefix/$LICENSES.tmp" "$prefix/$LICENSES"
  fi
fi
ln -sfn "librdkafka-$version" "$LINK.tmp.$$"
mv -Tf "$LINK.tmp.$$" "$LINK"
[ "$update" = 1 ] && say "librdkafka in use: $version (Debian source $debver)"
exit 0
