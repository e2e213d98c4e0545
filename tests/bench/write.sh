#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make bench, section "write": 1 GiB of random data written into a file
# of a mounted volume (dd, fsynced) and made durable in S3 (detach
# returns: the last commit is published), against the raw server in the
# same run: rclone putting the same bytes as 1 MiB objects, 16 at once.
# Prints MB/s of each and their ratio, how many chunks write-behind had
# uploaded before the detach, the plugin's CPU seconds per GiB and its
# peak RSS.  BENCH_PERF=1 adds a profile of the plugin during the write
# (perf record -g, the top of perf report).  Every object written is
# deleted at the end.  Figures only; it fails only if a step does.
#
#   BENCH_WRITE_MB=1024 BENCH_PERF=0 BENCH_WRITE_COMPARE=0 \
#     tests/bench/write.sh
# BENCH_WRITE_COMPARE=1 runs s3vol a second time with write-behind off.
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
. "$(dirname "$0")/benchlib.sh"
bench_start
mb=${BENCH_WRITE_MB:-1024}
bytes=$((mb << 20))

raw=raw-$TEST_NAME-$(date +%s)-$$
on_exit "rgw_purge 's3://$S3VOL_TEST_BUCKET/$raw'"

src=$(mktemp -d /dev/shm/s3vol-bench-write.XXXXXX)
on_exit "rm -rf '$src'"
head -c "$bytes" /dev/urandom >"$src/all"
mkdir "$src/parts"
split -b 1M -a 4 "$src/all" "$src/parts/p"

phase "raw: rclone, $mb x 1 MiB objects, 16 at once"
t0=$(date +%s.%N)
raw_put "$src/parts" "$raw" 16 || die "rclone copy"
raw_s=$(_elapsed "$t0")
rm -rf "$src/parts"

# s3vol_write LABEL: dd into a fresh volume, commit, detach; sets
# dd_s commit_s total_s (from dd's start to the detach's return), early,
# cpu (seconds per GiB) and rss (MiB).
s3vol_write () {
  local vol=w$RANDOM pid watch t0 t1 cpu0 cpu1 perf_pid=
  phase "s3vol ($1): dd $mb MiB into a mounted volume, commit, detach"
  # New bytes for each run: the same would be found in the store (dedup).
  [ "$1" = on ] || head -c "$bytes" /dev/urandom >"$src/all"
  s3vol create "$vol" --size $((mb * 4))M --chunk-size 1M >/dev/null ||
    die "create"
  mkdir -p "$T/m"
  s3vol attach "$vol" "$T/m" >/dev/null || die "attach"
  pid=$(nbdkit_pid "$T/m")
  [ -n "$pid" ] || die "no nbdkit for $T/m"
  proc_watch "$pid" "$T/proc" &
  watch=$!
  if [ "${BENCH_PERF:-0}" = 1 ] && [ "$1" = on ]; then
    perf record -q -F 499 -p "$pid" -o "$T/perf.data" 2>/dev/null &
    perf_pid=$!
  fi
  read -r cpu0 _ < <(proc_sample "$pid")
  t0=$(date +%s.%N)
  dd if="$src/all" of="$T/m/f" bs=1M conv=fsync status=none || die "dd"
  dd_s=$(_elapsed "$t0")
  early=$(status_field "$T/m" early_uploads)
  [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
  t1=$(date +%s.%N)
  s3vol commit "$T/m" >/dev/null || die "commit"
  commit_s=$(_elapsed "$t1")
  s3vol detach "$T/m" >/dev/null || die "detach"
  total_s=$(_elapsed "$t0")
  wait "$watch" || true
  read -r cpu1 rss <"$T/proc"
  cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v m="$mb" \
    'BEGIN { printf "%.2f", (b - a) * 1024 / m }')
  rss=$((rss / 1024))
}

row () { printf '  %-44s %7s %7s %7s %8s %6s\n' "$@"; }
raw_mbps=$(mbps "$bytes" "$raw_s")
row "" "dd s" "commit" "total s" "MB/s" "ratio"
row "raw PUT (rclone, 1 MiB objects, 16 at once)" "" "" "$raw_s" "$raw_mbps" "1.00"
modes=on
[ "${BENCH_WRITE_COMPARE:-0}" = 1 ] && modes="on off"
for m in $modes; do
  S3VOL_WRITE_BEHIND=$m s3vol_write "$m"
  v=$(mbps "$bytes" "$total_s")
  row "s3vol, write-behind $m: dd + commit + detach" "$dd_s" "$commit_s" \
    "$total_s" "$v" "$(ratio "$v" "$raw_mbps")"
  echo "    chunks stored during dd: $early of $mb; plugin CPU $cpu s per" \
       "GiB written; peak RSS $rss MiB"
done
echo "  target: s3vol durable >= 0.9x the raw PUT rate"
if [ -s "$T/perf.data" ]; then
  echo "  profile of the plugin during dd (perf, self time, top 20):"
  { perf report -i "$T/perf.data" --no-children --stdio \
      --sort dso,symbol 2>/dev/null | grep -v '^#' | grep '%' |
      head -20 | sed 's/^/    /'; } || true
fi
