#!/usr/bin/env bash
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
io_in=${IO[1]} io_out=${IO[0]}
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
      FAIL*) grep -A30 -m1 '^FAIL' "$T/io.out" | sed -n '1,25p'
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
commits_checked=0
for ((k = 1; k <= iters; k++)); do
  start_plugin p "${params[@]}" || die "restart after crash $((k - 1)) failed"
  echo "write $k $(uri p) $(ctl_sock p)" >&$io_in
  io_expect go
  # Kill at a random moment: half of them in the first 30 ms, the rest
  # up to 0.3 s in.
  if ((RANDOM % 2)); then d=$((RANDOM % 30)); else d=$((RANDOM % 300)); fi
  sleep "$(printf '0.%03d' $d)"
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

phase "summary"
grep -c '^crashed' "$T/io.out" | sed 's/^/crashes: /'
for what in write zero flush commit; do
  echo "  with a $what in flight: $(grep -c "^crashed.*killed during:.*$what" "$T/io.out")"
done
echo "  with nothing in flight: $(grep -c 'nothing in flight' "$T/io.out")"
awk '/^crashed/ { for (i = 1; i <= NF; i++) {
       if ($i == "durable") d += $(i + 1); if ($i == "acked") a += $(i + 1) } }
     END { print "acknowledged writes checked: " a + 0 ", durable: " d + 0 }' \
  FS='[ ,;]+' "$T/io.out"
echo "fresh-cache checks of commits made after a crash: $commits_checked"
