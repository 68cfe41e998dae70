#!/usr/bin/env bash
# Build the Kafka Streams side of the differential test (tests/ksdiff/java)
# once per version of its sources, and print its class path.
#
# The jars come from Maven Central through the machine's `mvn` (its default
# configuration, as scripts/kafka); the build goes into
#     ${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}/ksdiff-<hash>/{classes,lib}
# where <hash> covers pom.xml and every source file, so an edit rebuilds and
# an unchanged tree costs nothing. Needs JDK 17 and Maven.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$here/java
DEPS_DIR=${SLUICE_DEPS_DIR:-$HOME/.cache/sluice}

say() { echo "ksdiff: $*" >&2; }
die() { say "$*"; exit 1; }

hash=$(cd "$src" && find pom.xml src -type f | LC_ALL=C sort |
       xargs sha256sum | sha256sum | cut -c1-16)
out=$DEPS_DIR/ksdiff-$hash
cp_of() { printf '%s\n' "$out/classes:$out/lib/*"; }

if [ -f "$out/.complete" ]; then cp_of; exit 0; fi

command -v mvn >/dev/null || die "mvn not found (needs Maven and JDK 17)"
command -v javac >/dev/null || die "javac not found (needs JDK 17)"
mkdir -p "$DEPS_DIR"
# One build at a time per cache; a second caller waits, then finds it done.
exec 9>"$DEPS_DIR/.ksdiff.lock"
flock 9
if [ -f "$out/.complete" ]; then cp_of; exit 0; fi

say "building the Kafka Streams side into $out (once per source version)"
work=$(mktemp -d "$DEPS_DIR/.ksdiff-$hash.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$src/pom.xml" "$src/src" "$work/"
if ! mvn -B -q -Dstyle.color=never -f "$work/pom.xml" compile \
      dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
  tail -n 40 "$work/mvn.log" >&2
  die "mvn could not build tests/ksdiff/java (log above)"
fi
[ -f "$work/target/classes/sluice/ksdiff/KsDiff.class" ] || die "mvn finished but KsDiff.class is missing"
mv "$work/target/classes" "$work/classes"
rm -rf "$work/target" "$work/src" "$work/pom.xml"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
date -u +%Y-%m-%dT%H:%M:%SZ >"$out/.complete"
say "built; $(find "$out/lib" -name '*.jar' | wc -l) jars in $out/lib"
cp_of
