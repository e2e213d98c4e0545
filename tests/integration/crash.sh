#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Crash safety: kill -9 nbdkit at random moments while two connections
# write, zero, flush and commit (and the background committer runs every
# second), restart it on the same cache directory, and check the cache's
# contract (see crashio.py): every write acknowledged before the last
# acknowledged flush (or commit), and every acknowledged FUA write, is
# there; every sector holds either that value or one written after it,
# never garbage, never another sector's data.  Every 25 iterations, and
# at the end, the restarted plugin commits what is dirty and a second
# plugin on a fresh cache must read exactly the same bytes.
#
# A crash is told from an error: crash.sh tells the checker just before
# it kills nbdkit, and any other failure (an error reply such as EIO, a
# connection lost before the kill, a commit that fails) fails the test.
# At the end the run's counts must reach lower bounds (see "summary"):
# enough acknowledged writes checked, durable ones among them, flushes
# acknowledged, kills that cut writes short.
#
#   crash.sh [ITERATIONS]   (default: 200 on the directory store, 20 on
#                            S3; S3VOL_CRASH_ITERATIONS overrides both)
# tests/stress/crash.sh runs it with many more.
. "$(dirname "$0")/../support/functions.sh"
on_each_store "$@"

if [ -n "${1:-}" ]; then iters=$1
elif [ -n "${S3VOL_CRASH_ITERATIONS:-}" ]; then iters=$S3VOL_CRASH_ITERATIONS
elif [ "$STORE_KIND" = s3 ]; then iters=20
else iters=200
fi
seed=${S3VOL_TEST_SEED:-$RANDOM}
every=25
echo "store $STORE_KIND, $iters iterations, seed $seed"

make_store
create_volume cr 8M 64K
mkdir -p "$T/state"
# A small clean cache, so eviction runs all the time too.
params=(volume=cr cache-dir="$T/cache" commit-interval=1 cache-size=2M
        threads=4)

# The writer and checker: one nbdsh for the whole run, taking commands on
# its stdin (see crashio.py); its answers go to $T/io.out.
coproc IO { nbdsh_run "$ITDIR/crashio.py" "$T/state" "$seed" 2>&1; }
# Copies of its pipes: bash closes IO's when the checker exits, and its
# last words (a FAIL) are still to be read.
exec {io_in}>&"${IO[1]}" {io_out}<&"${IO[0]}"
on_exit "kill $IO_PID 2>/dev/null"

# io_expect WORD: read answers until one starts with WORD; fail on FAIL.
io_expect () {
  local line
  while :; do
    if ! IFS= read -r -t 120 line <&$io_out; then
      tail -n 20 "$T/io.out"
      die "iteration $k: the checker went away (seed $seed)"
    fi
    echo "$line" >>"$T/io.out"
    case $line in
      FAIL*) # The rest of what it says (it exits after a FAIL).
             while IFS= read -r -t 10 line <&$io_out; do
               echo "$line" >>"$T/io.out"
             done
             grep -A30 -m1 '^FAIL' "$T/io.out" | sed -n '1,25p'
             die "iteration $k (seed $seed)" ;;
      "$1"*) reply=$line; return ;;
    esac
  done
}

# check_committed K: restart, check, commit; then a fresh cache on that
# version must hold exactly what the cache held.
check_committed () {
  local v
  start_plugin p "${params[@]}" || die "restart after crash $1 failed"
  echo "commit $1 $(uri p) $(ctl_sock p)" >&$io_in
  io_expect version
  v=${reply#version }
  stop_plugin p
  [ "$(head_version cr)" = "$v" ] || die "head is not version $v"
  rm -rf "$T/fresh.cache"
  start_plugin fresh volume=cr version="$v" cache-dir="$T/fresh.cache"
  echo "compare $1 $(uri fresh)" >&$io_in
  io_expect ok
  stop_plugin fresh
  rm -rf "$T/fresh.cache"
  commits_checked=$((commits_checked + 1))
}

phase "crash loop"
commits_checked=0 commits_first=0
for ((k = 1; k <= iters; k++)); do
  start_plugin p "${params[@]}" || die "restart after crash $((k - 1)) failed"
  # Every 20th time the writer commits first and the kill waits for that
  # commit's answer: commits made while writing are then checked, on a
  # slow machine too (elsewhere the kill comes before most commits end).
  if ((k % 20 == 10)); then
    echo "write $k $(uri p) $(ctl_sock p) commit" >&$io_in
    io_expect go
    io_expect committed
    commits_first=$((commits_first + 1))
  else
    echo "write $k $(uri p) $(ctl_sock p)" >&$io_in
    io_expect go
  fi
  # Kill at a random moment: half of them in the first 30 ms, the rest
  # up to 0.3 s in.
  if ((RANDOM % 2)); then d=$((RANDOM % 30)); else d=$((RANDOM % 300)); fi
  sleep "$(printf '0.%03d' $d)"
  # Tell the checker first: from now on, and only now, a request may
  # fail because the connection went away.
  echo "$k" >"$T/state/killing"
  kill_plugin p
  io_expect crashed
  if ((k % every == 0 || k == iters)); then
    check_committed "$k"
  fi
  ((k % 50 == 0)) && phase "$k crashes"
done
echo "quit" >&$io_in
io_expect bye
echo "$reply"
# The run's totals (see crashio.py), as n_NAME.
for kv in ${reply#bye: }; do
  printf -v "n_${kv%%=*}" '%s' "${kv#*=}"
done

phase "summary"
# What the run did, against lower bounds that a correct plugin clears
# several times over even on a loaded 2-core machine (seen there, per
# crash: 30-110 writes acknowledged and checked, 75-90% of them durable,
# 6-18 flushes acknowledged; 80-100% of the kills cut writes short), but
# that a plugin whose flushes fail (none is acknowledged), or a writer
# that no longer writes through the kill, does not.  Commits while
# writing: those the kill waited for, and on the directory store another
# 5-75 in 200 crashes.
bad=
# show NAME TEXT: print the run's total NAME.  bound NAME MIN TEXT: the
# same, and it must be at least MIN.
show () {
  local v=n_$1
  printf '%-50s %7d\n' "$2:" "${!v}"
}
bound () {
  local v=n_$1
  v=${!v}
  printf '%-50s %7d  (at least %d)\n' "$3:" "$v" "$2"
  ((v >= $2)) || bad+=" $1=$v<$2"
}
bound crashes "$iters" "crashes"
bound checks "$iters" "  whose writes were checked after the restart"
bound checks_durable $((iters / 2)) "  whose check had durable writes"
bound kills_in_writes $((iters / 5)) "  that cut writes short"
show cut_writes "    writes cut short"
show kills_in_flush "  that cut a flush short"
show kills_in_commit "  that cut a commit short"
show kills_idle "  with nothing in flight"
bound checked_acked $((iters * 10)) "acknowledged writes checked"
bound checked_durable $((n_checked_acked / 5)) \
  "  durable ones (flushed or FUA; a fifth of them)"
bound acked_flushes $((iters / 2)) "flushes acknowledged"
bound ok_commits $commits_first "commits answered ok while writing"
want=$((iters / every + (iters % every > 0)))
printf '%-50s %7d  (exactly %d)\n' \
  "fresh-cache checks of commits after a crash:" "$commits_checked" "$want"
((commits_checked == want)) || bad+=" commits_checked=$commits_checked"
[ -z "$bad" ] || die "too few:$bad (seed $seed)"
