#!/usr/bin/env bash
# tests/installcheck.sh - `make installcheck`: install Sluice the way a
# package would be made, then use it the way a user on another machine
# would, with no access to the build tree or the dependency cache.
#
#  1. `make install DESTDIR=<stage> PREFIX=<prefix>`, twice: the default
#     layout, and one with LIBDIR and INCLUDEDIR of their own.
#  2. The staged tree is moved to <prefix> (where the package lands) and the
#     stage deleted.
#  3. Checked as files: no placeholder left and the install's own paths in
#     sluice.pc (tests/installcheck/pc_test.c, a Check unit test), no path
#     into the cache, the source tree or the stage in sluice.pc or the
#     CMake files, no RPATH/RUNPATH in libsluice.so, and only sluice_*
#     symbols exported by libsluice.so and libsluice.a.
#  4. In a private mount namespace where the source tree and the cache are
#     hidden under empty directories (`unshare -m`, as root; otherwise the
#     step runs without hiding them, and says so): examples/hello.c built
#     with `pkg-config --cflags --libs sluice` (shared) and with
#     `pkg-config --static` (libsluice.a), and by a CMake project
#     (find_package(Sluice), Sluice::sluice and Sluice::sluice_static);
#     tests/installcheck/both.c, which also uses a librdkafka of its own
#     (Debian's), shared and static; every program run and its output
#     checked.
#
# Environment: BUILD (default build), SLUICE_DEPS_DIR (as scripts/deps.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
deps=${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}
rk_version=$(PKG_CONFIG_PATH=$("$root/scripts/deps.sh" --print-prefix)/lib/pkgconfig \
             pkg-config --modversion rdkafka)

T=$(mktemp -d "${TMPDIR:-/tmp}/sluice-installcheck.XXXXXX")
cleanup() { rm -rf "$T"; }
trap cleanup EXIT

fail() { echo "installcheck: FAILED: $*" >&2; exit 1; }
say() { echo "installcheck: $*"; }

# name  PREFIX  extra make variables
layouts=("default|$T/usr|"
         "custom|$T/opt/sluice|LIBDIR=$T/opt/sluice/lib/x86_64-linux-gnu INCLUDEDIR=$T/opt/sluice/include/sluice-0")
for l in "${layouts[@]}"; do
  IFS='|' read -r name prefix extra <<<"$l"
  stage=$T/stage-$name
  # shellcheck disable=SC2086
  make -s -C "$root" install BUILD="$build" DESTDIR="$stage" PREFIX="$prefix" $extra >/dev/null
  libdir=$prefix/lib; incdir=$prefix/include
  for kv in $extra; do
    case $kv in LIBDIR=*) libdir=${kv#LIBDIR=} ;; INCLUDEDIR=*) incdir=${kv#INCLUDEDIR=} ;; esac
  done
  mkdir -p "$(dirname "$prefix")"
  mv "$stage$prefix" "$prefix"
  rm -rf "$stage"
  say "$name layout: installed into a stage, moved to $prefix"

  for f in "$incdir/sluice.h" "$libdir/libsluice.so.0" "$libdir/libsluice.so" "$libdir/libsluice.a" \
           "$libdir/pkgconfig/sluice.pc" "$libdir/cmake/Sluice/SluiceConfig.cmake" \
           "$libdir/cmake/Sluice/SluiceConfigVersion.cmake" \
           "$prefix/share/doc/sluice/LICENSES.librdkafka.txt"; do
    [ -e "$f" ] || fail "$f was not installed"
  done

  # 3. as files
  ${CC:-cc} -std=c11 -Wall -Wextra -Werror "$root/tests/installcheck/pc_test.c" -o "$T/pc_test" \
      $(pkg-config --cflags --libs check)
  CK_FORK=no "$T/pc_test" "$libdir/pkgconfig/sluice.pc" "$prefix" "$libdir" "$incdir" \
      "$rk_version" "$deps" "$root" "$stage" || fail "$libdir/pkgconfig/sluice.pc"
  if grep -n -e '@[A-Za-z_]*@' -e "$deps" -e "$root" -e "$stage" -e '/\.cache/' \
       "$libdir"/cmake/Sluice/*.cmake; then
    fail "a placeholder or a path of the build machine in the CMake files (above)"
  fi
  if readelf -d "$libdir/libsluice.so.0" | grep -E 'RPATH|RUNPATH'; then
    fail "libsluice.so has a run path (above)"
  fi
  if readelf -d "$libdir/libsluice.so.0" | grep NEEDED | grep -i rdkafka; then
    fail "libsluice.so needs a shared librdkafka (above)"
  fi
  bad=$(nm -D --defined-only "$libdir/libsluice.so.0" | awk '$3 !~ /^sluice_/ { print $3 }')
  [ -z "$bad" ] || fail "libsluice.so exports more than sluice_*: $(echo $bad | head -c 300)"
  bad=$(nm -g --defined-only "$libdir/libsluice.a" 2>/dev/null | awk 'NF == 3 && $3 !~ /^sluice_/ { print $3 }')
  [ -z "$bad" ] || fail "libsluice.a defines globals other than sluice_*: $(echo $bad | head -c 300)"
  say "$name layout: sluice.pc and CMake files substituted, no run path, only sluice_* exported"
done

# 4. as a user, with the build tree and the cache out of sight
mkdir -p "$T/user"
cp "$root/examples/hello.c" "$root/tests/installcheck/both.c" \
   "$root/tests/installcheck/CMakeLists.txt" "$T/user/"
cat >"$T/user/build.sh" <<'EOF'
#!/usr/bin/env bash
# Run inside the namespace: $1 layout name, $2 prefix, $3 libdir, $4 librdkafka version
set -euo pipefail
name=$1 prefix=$2 libdir=$3 rkv=$4
cd "$(dirname "$0")"
out=$PWD/out-$name; mkdir -p "$out"
export PKG_CONFIG_PATH=$libdir/pkgconfig
unset LD_LIBRARY_PATH CPATH LIBRARY_PATH C_INCLUDE_PATH
run_ok() { # program, expected substring of its output
  local o; o=$("$@" 2>&1) || { echo "$o" >&2; echo "installcheck: FAILED: $1 exited non-zero" >&2; exit 1; }
  echo "  $o"
}
expect="hello (libsluice 0.1.0, librdkafka $rkv): HELLO, SLUICE"
check_out() { # program [env...]
  local o; o=$("$@" 2>&1) || { echo "$o" >&2; echo "installcheck: FAILED: $* exited non-zero" >&2; exit 1; }
  [ "$o" = "$expect" ] || { echo "installcheck: FAILED: $*: printed \"$o\", expected \"$expect\"" >&2; exit 1; }
  echo "  $*: $o"
}
CFL="-std=c11 -Wall -Wextra -Werror"
# shared, as the README says
cc $CFL hello.c -o "$out/hello" $(pkg-config --cflags --libs sluice)
check_out env LD_LIBRARY_PATH="$libdir" "$out/hello"
# --static as it is (the linker takes libsluice.so when both are there)
cc $CFL hello.c -o "$out/hello_static_flags" $(pkg-config --cflags --libs --static sluice)
check_out env LD_LIBRARY_PATH="$libdir" "$out/hello_static_flags"
# static: the archive by name, and everything --static lists
cc $CFL hello.c -o "$out/hello_static" $(pkg-config --cflags sluice) \
   $(pkg-config --static --libs sluice | sed 's/-lsluice\b/-l:libsluice.a/')
readelf -d "$out/hello_static" | grep -q 'NEEDED.*libsluice' &&
  { echo "installcheck: FAILED: hello_static needs libsluice.so" >&2; exit 1; }
check_out "$out/hello_static"
# a program with a librdkafka of its own (Debian's), shared and static
cc $CFL both.c -o "$out/both" $(pkg-config --cflags --libs sluice rdkafka)
run_ok env LD_LIBRARY_PATH="$libdir" "$out/both" "$rkv"
cc $CFL both.c -o "$out/both_static" $(pkg-config --cflags sluice rdkafka) \
   $(pkg-config --static --libs sluice | sed 's/-lsluice\b/-l:libsluice.a/') $(pkg-config --libs rdkafka)
run_ok "$out/both_static" "$rkv"
# CMake: find_package(Sluice 0.1), Sluice::sluice and Sluice::sluice_static
cmake -S . -B "$out/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; echo "installcheck: FAILED: cmake configure" >&2; exit 1; }
grep -q "Sluice 0.1.0, librdkafka $rkv" "$out/cmake.log" ||
  { cat "$out/cmake.log" >&2; echo "installcheck: FAILED: find_package(Sluice) said otherwise" >&2; exit 1; }
cmake --build "$out/cmake" >>"$out/cmake.log" 2>&1 ||
  { cat "$out/cmake.log" >&2; echo "installcheck: FAILED: cmake build" >&2; exit 1; }
check_out env LD_LIBRARY_PATH="$libdir" "$out/cmake/hello"
check_out "$out/cmake/hello_static"
# a version it is not: find_package(Sluice 0.2) must fail
mkdir -p "$out/v"; sed 's/find_package(Sluice 0.1 REQUIRED)/find_package(Sluice 0.2 REQUIRED)/' \
  CMakeLists.txt >"$out/v/CMakeLists.txt"; cp hello.c "$out/v/"
if cmake -S "$out/v" -B "$out/v/b" -DCMAKE_PREFIX_PATH="$prefix" >"$out/v.log" 2>&1; then
  echo "installcheck: FAILED: find_package(Sluice 0.2) accepted Sluice 0.1.0" >&2; exit 1
fi
echo "  find_package(Sluice 0.2) refused 0.1.0"
EOF
chmod +x "$T/user/build.sh"

hide=
if [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
  hide=yes
else
  say "NOTE: cannot make a mount namespace (needs root and unshare -m): the user builds below"
  say "      run with the source tree and the cache visible; the file checks above still hold"
fi
for l in "${layouts[@]}"; do
  IFS='|' read -r name prefix extra <<<"$l"
  libdir=$prefix/lib
  for kv in $extra; do case $kv in LIBDIR=*) libdir=${kv#LIBDIR=} ;; esac; done
  if [ -n "$hide" ]; then
    say "$name layout: building as a user, with $root and $deps hidden"
    mkdir -p "$deps"
    unshare -m --propagation private bash -c '
      mount -t tmpfs -o size=1m,mode=0555 none "$1" && mount -t tmpfs -o size=1m,mode=0555 none "$2" &&
      [ -z "$(ls -A "$1")" ] && [ -z "$(ls -A "$2")" ] || { echo "installcheck: FAILED: cannot hide $1 and $2" >&2; exit 1; }
      shift 2; exec "$@"' _ "$root" "$deps" "$T/user/build.sh" "$name" "$prefix" "$libdir" "$rk_version"
  else
    say "$name layout: building as a user"
    "$T/user/build.sh" "$name" "$prefix" "$libdir" "$rk_version"
  fi
done
say "every check passed"
