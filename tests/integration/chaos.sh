#!/usr/bin/env bash
# Exactly-once under crashes: three instances of tests/integration/app_chaos
# (a filtered copy of the input, and a per-key sum through a repartition
# topic into a changelogged LMDB store) on a three-broker KRaft cluster
# (scripts/kafka cluster-start), while instances are SIGKILLed and
# restarted every few seconds and the broker leading the most partitions
# is SIGKILLed and restarted. The input (unique ids, known keys and
# amounts) is produced beforehand; when the app has caught up, the
# instances are stopped and chaos_tool verifies, reading read_committed:
# every input of even amount is in the copy exactly once and nothing else
# is, and every key's last sum is the sum of its inputs.
#
# Usage: tests/integration/chaos.sh [options]
#   --short                100k records, 3 instance kills, 1 broker kill
#                          (what `make test` runs)
#   --records N            input records (default 1000000)
#   --keys K               distinct keys of the sums (default 1000)
#   --instance-kills N     at least this many instance SIGKILLs (default 10;
#                          more while input remains, unless --short)
#   --broker-kills N       at least this many broker SIGKILLs (default 2)
#   --guarantee G          exactly_once_v2 (default) or at_least_once: the
#                          run then reports the duplicates and wrong sums it
#                          finds instead of failing on them
#   --uncommitted          also verify read_uncommitted: what the aborted
#                          transactions wrote (reported, never a failure)
#   --seed S               the input's and the chaos's seed (default: time)
#   --keep                 keep the work directory (logs, cluster data)
# Environment: BUILD (default build), KAFKA_VERSION (scripts/kafka's).
#
# Builds nothing: `make check-chaos` builds app_chaos and chaos_tool and
# runs --short; `make check-chaos-full` the default form. Exit 0 iff the
# verification passed (or the guarantee is not exactly-once), 1 if it
# failed, 2 on a setup error. The last lines are the figures: kills, the
# VERIFY line, the restores after restarts.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
app=$build/tests/integration/app_chaos
tool=$build/tests/integration/chaos_tool
kafka=$root/scripts/kafka

records=1000000 keys=1000 ikills_min=10 bkills_min=2 kill_while_busy=1
guarantee=exactly_once_v2 uncommitted=0 keep=0 seed=$(date +%s)
while [ $# -gt 0 ]; do
  case $1 in
    --short) records=100000 ikills_min=3 bkills_min=1 kill_while_busy=0 ;;
    --records) records=$2; shift ;;
    --keys) keys=$2; shift ;;
    --instance-kills) ikills_min=$2; shift ;;
    --broker-kills) bkills_min=$2; shift ;;
    --guarantee) guarantee=$2; shift ;;
    --uncommitted) uncommitted=1 ;;
    --seed) seed=$2; shift ;;
    --keep) keep=1 ;;
    *) sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
for f in "$app" "$tool"; do
  [ -x "$f" ] || { echo "chaos.sh: $f is not built (make check-chaos builds it)" >&2; exit 2; }
done

RANDOM=$seed
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-chaos.XXXXXX")
cluster=$work/kafka state=$work/state logs=$work/logs
mkdir -p "$state" "$logs"
run=chaos-$$-$seed
in=$run-in copy=$run-copy sums=$run-sums
rc=2
declare -a pid=() life=()

say() { printf 'chaos: %s %s\n' "$(date +%T)" "$*"; }

cleanup() {
  local k
  for k in "${!pid[@]}"; do
    [ -n "${pid[$k]}" ] && kill -KILL "${pid[$k]}" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  "$kafka" cluster-stop "$cluster" >/dev/null 2>&1 || true
  if [ "$rc" -eq 0 ] && [ "$keep" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "chaos.sh: logs and cluster data are in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "seed $seed, $records records, $keys keys, guarantee $guarantee, work dir $work"
bootstrap=$("$kafka" cluster-start "$cluster" 3 2>"$logs/cluster-start.log") || {
  cat "$logs/cluster-start.log" >&2; echo "chaos.sh: the cluster did not start" >&2; exit 2; }
say "cluster $bootstrap"
"$tool" create --bootstrap "$bootstrap" --topics "$in,$copy,$sums" --partitions 6 --rf 3 --min-isr 2
t0=$SECONDS
"$tool" produce --bootstrap "$bootstrap" --topic "$in" --records "$records" --keys "$keys" --seed "$seed" >/dev/null
say "produced $records records in $((SECONDS - t0)) s"

# instance k (0..2), its life-th start
start_instance() {
  local k=$1
  life[$k]=$(( ${life[$k]:-0} + 1 ))
  "$app" --bootstrap "$bootstrap" --app-id "$run" --in "$in" --out "$copy" --sums "$sums" \
    --guarantee "$guarantee" --state-dir "$state" --store lmdb --commit-ms 100 \
    --conf consumer.session.timeout.ms=6000 --conf consumer.heartbeat.interval.ms=500 \
    --log-level 5 \
    >"$logs/inst$k.${life[$k]}.out" 2>"$logs/inst$k.${life[$k]}.err" &
  pid[$k]=$!
}

alive() { [ -n "${pid[$1]:-}" ] && kill -0 "${pid[$1]}" 2>/dev/null; }

# the input records not committed yet (-1 if the cluster did not say)
input_lag() {
  "$tool" lag --bootstrap "$bootstrap" --group "$run" --topics "$in" 2>/dev/null || echo -1
}

for k in 0 1 2; do start_instance "$k"; done
t_run=$SECONDS
ikills=0 bkills=0 crashes=0 down_node= node_back_at=0 done_checks=0
started=0     # the chaos starts once the app made progress
next_ikill=0
ikills_busy=0 # kills while input remained
while :; do
  sleep 0.5
  for k in 0 1 2; do
    if ! alive "$k" && [ -n "${pid[$k]:-}" ]; then
      wait "${pid[$k]}" && st=0 || st=$?
      crashes=$((crashes + 1))
      say "instance $k (life ${life[$k]}) exited by itself with status $st: $(grep -m1 '^ERROR' "$logs/inst$k.${life[$k]}.out" || echo '-')"
      start_instance "$k"
    fi
  done
  # a broker that was killed comes back (in the background: ~10 s)
  if [ -n "$down_node" ] && [ "$SECONDS" -ge "$node_back_at" ]; then
    say "restarting broker $down_node"
    ( "$kafka" node-start "$cluster" "$down_node" >>"$logs/broker-restarts.log" 2>&1 ) &
    restarter=$!
    down_node=
  fi
  if [ -n "${restarter:-}" ] && ! kill -0 "$restarter" 2>/dev/null; then
    wait "$restarter" || { echo "chaos.sh: a broker did not come back" >&2; exit 2; }
    restarter=
    say "broker back: $("$kafka" cluster-status "$cluster" | tr '\n' ';')"
  fi
  busy=$(input_lag)
  if [ "$started" -eq 0 ]; then
    if [ "$busy" -ge 0 ] && [ "$busy" -lt "$records" ]; then
      started=1
      next_ikill=$((SECONDS + 1 + RANDOM % 3))
      say "processing started (input records left: $busy): the chaos begins"
    elif [ $((SECONDS - t_run)) -gt 300 ]; then
      echo "chaos.sh: no progress in 5 minutes" >&2; exit 2
    else
      continue
    fi
  fi
  # an instance: SIGKILL, restarted a moment later on the same directory
  if [ "$SECONDS" -ge "$next_ikill" ] &&
     { [ "$ikills" -lt "$ikills_min" ] || { [ "$kill_while_busy" -eq 1 ] && [ "$busy" != 0 ]; }; }; then
    k=$((RANDOM % 3))
    if alive "$k"; then
      kill -KILL "${pid[$k]}"; wait "${pid[$k]}" 2>/dev/null || true
      ikills=$((ikills + 1))
      [ "$busy" != 0 ] && ikills_busy=$((ikills_busy + 1))
      say "SIGKILL instance $k (life ${life[$k]}), kill $ikills, input records left: $busy"
      sleep "0.$((RANDOM % 9 + 1))"
      start_instance "$k"
    fi
    next_ikill=$((SECONDS + 2 + RANDOM % 4))
  fi
  # the broker leading the most partitions: at even steps of the kills
  if [ "$bkills" -lt "$bkills_min" ] && [ -z "$down_node" ] && [ -z "${restarter:-}" ] &&
     [ "$ikills" -ge $(( (bkills + 1) * ikills_min / (bkills_min + 1) )) ]; then
    read -r node leads < <("$tool" leader --bootstrap "$bootstrap")
    "$kafka" node-kill "$cluster" "$node" 2>>"$logs/broker-restarts.log"
    bkills=$((bkills + 1))
    say "SIGKILL broker $node (it led $leads partitions), broker kill $bkills, input records left: $busy"
    down_node=$node
    node_back_at=$((SECONDS + 5 + RANDOM % 5))
  fi
  # done: every kill made, every broker back, and the app caught up on
  # the input and the repartition topic (twice in a row)
  if [ "$ikills" -ge "$ikills_min" ] && [ "$bkills" -ge "$bkills_min" ] &&
     [ -z "$down_node" ] && [ -z "${restarter:-}" ] && [ "$busy" = 0 ]; then
    if "$tool" caught-up --bootstrap "$bootstrap" --group "$run" \
         --topics "$in,$run-sums-repartition" >/dev/null 2>&1; then
      done_checks=$((done_checks + 1))
      [ "$done_checks" -ge 2 ] && break
    else
      done_checks=0
    fi
  fi
  if [ $((SECONDS - t_run)) -gt 1800 ]; then
    echo "chaos.sh: not caught up after 30 minutes" >&2; exit 2
  fi
done
t_done=$((SECONDS - t_run))
say "caught up after $t_done s: $ikills instance kills ($ikills_busy while input remained), $bkills broker kills, $crashes exits on their own"
for k in 0 1 2; do
  if alive "$k"; then kill -TERM "${pid[$k]}"; fi
done
for k in 0 1 2; do
  if [ -n "${pid[$k]:-}" ]; then
    wait "${pid[$k]}" && st=0 || st=$?
    [ "$st" -eq 0 ] || say "instance $k did not close cleanly (status $st): $(grep -m1 '^ERROR' "$logs/inst$k.${life[$k]}.out" || echo '-')"
    pid[$k]=
  fi
done

# restores of the restarted lives (life >= 2): how much of the changelog
restores=$(cat "$logs"/inst?.[2-9]*.out "$logs"/inst?.[1-9][0-9]*.out 2>/dev/null | grep '^RESTORED' || true)
if [ -n "$restores" ]; then
  echo "$restores" | awk '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      if (f["start"] > 0) { n++; restored += f["restored"]; size += f["end"] }
      else if (f["end"] > 0) { full++; fullrec += f["restored"] }
    } END {
      printf "chaos: restores after restarts: %d store instances with local state restored %d records of changelogs totalling %d (%.1f%%: the tail past their own offset); %d without local state restored from offset 0 (%d records)\n",
        n, restored, size, size ? 100.0 * restored / size : 0, full, fullrec
    }'
fi
aborts=$(for f in "$logs"/*.out; do awk '/^ABORTS/ { n = $2 } END { print n + 0 }' "$f"; done |
  awk '{ s += $1 } END { print s + 0 }')
hangs=$(cat "$logs"/*.err | grep -c 'did not return within' || true)
renewed=$(cat "$logs"/*.err | grep -c 'starting a new producer' || true)
say "transactions aborted: $aborts; send_offsets_to_transaction() abandoned (librdkafka #5456/#5511): $hangs; producers renewed: $renewed"

set +e
verify=$("$tool" verify --bootstrap "$bootstrap" --copy "$copy" --sums "$sums" \
  --records "$records" --keys "$keys" --seed "$seed" --isolation read_committed)
vrc=$?
set -e
echo "chaos: $verify"
if [ "$uncommitted" -eq 1 ]; then
  echo "chaos: $("$tool" verify --bootstrap "$bootstrap" --copy "$copy" --sums "$sums" \
    --records "$records" --keys "$keys" --seed "$seed" --isolation read_uncommitted || true)"
fi
if [ "$vrc" -eq 0 ]; then
  say "PASS: exactly once ($guarantee)"
  rc=0
elif [ "$guarantee" != exactly_once_v2 ]; then
  say "$guarantee: the run shows what it does not promise (above)"
  rc=0
else
  say "FAIL"
  rc=1
fi
exit $rc
