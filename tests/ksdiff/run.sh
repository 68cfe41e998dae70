#!/usr/bin/env bash
# The differential test of windowed aggregations (make check-ksdiff): the
# same random cases through Kafka Streams' TopologyTestDriver and Sluice's
# test driver, compared record for record, byte for byte.
#
#   tests/ksdiff/run.sh [--java-only]
#
#   1. builds the Kafka Streams side (tests/ksdiff/build-java.sh: once per
#      source version, from Maven Central through mvn, cached);
#   2. generates the cases (gen.py) and adds the fixed ones (cases/*.case)
#      into $BUILD/ksdiff/cases;
#   3. runs them all through Sluice ($BUILD/tests/ksdiff/sluice_run) and
#      through Kafka Streams (one JVM for every case);
#   4. compares (compare.py, with the deviations of tests/ksdiff/DEVIATIONS).
# Exit status non-zero on any mismatch. --java-only stops after Kafka
# Streams' run (to read its outputs; Sluice is not needed).
#
# Environment:
#   BUILD               build directory (default build)
#   KSDIFF_SEEDS        seeds per combination (default 4: 288 random cases)
#   KSDIFF_FIRST_SEED   the first seed (default 1)
#   KSDIFF_THREADS      Kafka Streams' worker threads (default 2)
#   KSDIFF_JAVA_OPTS    JVM options (default: a small heap, serial GC, C1 only:
#                       the run is short, C2 would cost twice the CPU)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
work=$BUILD/ksdiff
bin=$BUILD/tests/ksdiff/sluice_run
java_only=
[ "${1:-}" = --java-only ] && java_only=1

command -v python3 >/dev/null || { echo "ksdiff: python3 not found" >&2; exit 2; }
cp=$("$here/build-java.sh")

rm -rf "$work/cases" "$work/ks" "$work/sluice"
mkdir -p "$work/cases" "$work/ks" "$work/sluice"
python3 "$here/gen.py" "$work/cases" --seeds "${KSDIFF_SEEDS:-4}" \
    --first "${KSDIFF_FIRST_SEED:-1}"
for f in "$here"/cases/*.case; do
  [ -e "$f" ] && cp "$f" "$work/cases/fixed-$(basename "$f")"
done

start=$(date +%s.%N)
if [ -z "$java_only" ]; then
  "$bin" "$work/cases" "$work/sluice"
fi
mid=$(date +%s.%N)
# shellcheck disable=SC2086 # word splitting of the options is meant
java ${KSDIFF_JAVA_OPTS:--Xms64m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Dksdiff.threads="${KSDIFF_THREADS:-2}" -cp "$cp" sluice.ksdiff.KsDiff \
    "$work/cases" "$work/ks"
end=$(date +%s.%N)
awk -v a="$start" -v b="$mid" -v c="$end" \
    'BEGIN { printf "ksdiff: Sluice %.1f s, Kafka Streams %.1f s\n", b - a, c - b }' >&2
if [ -n "$java_only" ]; then
  echo "ksdiff: Kafka Streams' outputs are in $work/ks" >&2
  exit 0
fi
python3 "$here/compare.py" "$work/cases" "$work/ks" "$work/sluice" "$here/DEVIATIONS"
